# SPDX-License-Identifier: MIT
"""raw: a small hand-rolled AMQP 0-9-1 client for black-box tests.

It sends exactly the bytes a test asks for (protocol headers, method frames
with hand-encoded arguments, content header and body frames, heartbeats,
arbitrary garbage) and reads frames back with timeouts, so a test can check
what the broker puts on the wire, including the connection.close that a
protocol error must produce and whether the socket is closed afterwards.

Field tables use RabbitMQ's type letters (rabbit_binary_parser.erl), not the
0-9-1 spec text: s is a signed 16-bit int, l a signed 64-bit int, x a byte
array (REFERENCE.md 2.1).
"""

import socket
import struct
import time

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE

# Reply codes (amqp0-9-1.xml constants) and the names RabbitMQ puts in front
# of every reply-text ("NAME - explanation", rabbit_binary_generator.erl).
REPLY_NAMES = {
    200: "REPLY_SUCCESS", 311: "CONTENT_TOO_LARGE", 312: "NO_ROUTE", 313: "NO_CONSUMERS",
    320: "CONNECTION_FORCED", 402: "INVALID_PATH", 403: "ACCESS_REFUSED", 404: "NOT_FOUND",
    405: "RESOURCE_LOCKED", 406: "PRECONDITION_FAILED", 501: "FRAME_ERROR",
    502: "SYNTAX_ERROR", 503: "COMMAND_INVALID", 504: "CHANNEL_ERROR",
    505: "UNEXPECTED_FRAME", 506: "RESOURCE_ERROR", 530: "NOT_ALLOWED",
    540: "NOT_IMPLEMENTED", 541: "INTERNAL_ERROR",
}
CONNECTION_FORCED = 320
ACCESS_REFUSED = 403
FRAME_ERROR = 501
SYNTAX_ERROR = 502
COMMAND_INVALID = 503
CHANNEL_ERROR = 504
UNEXPECTED_FRAME = 505
NOT_ALLOWED = 530
NOT_IMPLEMENTED = 540

# (class, method) ids used by the tests.
CONNECTION_START = (10, 10)
CONNECTION_START_OK = (10, 11)
CONNECTION_SECURE = (10, 20)
CONNECTION_TUNE = (10, 30)
CONNECTION_TUNE_OK = (10, 31)
CONNECTION_OPEN = (10, 40)
CONNECTION_OPEN_OK = (10, 41)
CONNECTION_CLOSE = (10, 50)
CONNECTION_CLOSE_OK = (10, 51)
CHANNEL_OPEN = (20, 10)
CHANNEL_OPEN_OK = (20, 11)
CHANNEL_FLOW = (20, 20)
CHANNEL_FLOW_OK = (20, 21)
CHANNEL_CLOSE = (20, 40)
CHANNEL_CLOSE_OK = (20, 41)
EXCHANGE_DECLARE = (40, 10)
QUEUE_DECLARE = (50, 10)
QUEUE_DECLARE_OK = (50, 11)
EXCHANGE_DECLARE_OK = (40, 11)
QUEUE_BIND = (50, 20)
QUEUE_BIND_OK = (50, 21)
BASIC_QOS = (60, 10)
BASIC_QOS_OK = (60, 11)
BASIC_CONSUME = (60, 20)
BASIC_CONSUME_OK = (60, 21)
BASIC_PUBLISH = (60, 40)
BASIC_RETURN = (60, 50)
BASIC_DELIVER = (60, 60)
BASIC_GET = (60, 70)
BASIC_GET_OK = (60, 71)
BASIC_GET_EMPTY = (60, 72)
BASIC_ACK = (60, 80)
BASIC_NACK = (60, 120)
TX_SELECT = (90, 10)
TX_SELECT_OK = (90, 11)
CONFIRM_SELECT = (85, 10)
CONFIRM_SELECT_OK = (85, 11)

METHOD_NAMES = {
    (10, 10): "connection.start", (10, 11): "connection.start-ok",
    (10, 20): "connection.secure", (10, 21): "connection.secure-ok",
    (10, 30): "connection.tune", (10, 31): "connection.tune-ok",
    (10, 40): "connection.open", (10, 41): "connection.open-ok",
    (10, 50): "connection.close", (10, 51): "connection.close-ok",
    (10, 60): "connection.blocked", (10, 61): "connection.unblocked",
    (20, 10): "channel.open", (20, 11): "channel.open-ok", (20, 20): "channel.flow",
    (20, 21): "channel.flow-ok", (20, 40): "channel.close", (20, 41): "channel.close-ok",
    (40, 10): "exchange.declare", (40, 11): "exchange.declare-ok",
    (50, 10): "queue.declare", (50, 11): "queue.declare-ok",
    (50, 20): "queue.bind", (50, 21): "queue.bind-ok",
    (60, 10): "basic.qos", (60, 11): "basic.qos-ok", (60, 20): "basic.consume",
    (60, 21): "basic.consume-ok", (60, 40): "basic.publish", (60, 50): "basic.return",
    (60, 60): "basic.deliver", (60, 70): "basic.get", (60, 71): "basic.get-ok",
    (60, 72): "basic.get-empty", (60, 80): "basic.ack", (60, 120): "basic.nack",
    (85, 10): "confirm.select", (85, 11): "confirm.select-ok",
    (90, 10): "tx.select", (90, 11): "tx.select-ok",
}


class ProtocolError(AssertionError):
    """The broker sent something the test did not expect (an assertion failure)."""


class Closed(ProtocolError):
    """The broker closed the socket while a frame or bytes were expected."""

    def __init__(self, msg, received=b""):
        super().__init__(msg)
        self.received = received


class Timeout(ProtocolError):
    """Nothing (or not enough) arrived before the deadline."""


# ---- encoding ----

def octet(v):
    return struct.pack(">B", v)


def short(v):
    return struct.pack(">H", v)


def long_(v):
    return struct.pack(">I", v)


def longlong(v):
    return struct.pack(">Q", v)


def shortstr(s):
    if isinstance(s, str):
        s = s.encode()
    if len(s) > 255:
        raise ValueError("shortstr longer than 255 bytes")
    return octet(len(s)) + s


def longstr(s):
    if isinstance(s, str):
        s = s.encode()
    return long_(len(s)) + s


def bits(*flags):
    """Consecutive bit fields packed into one octet, least significant bit first."""
    v = 0
    for i, f in enumerate(flags):
        if f:
            v |= 1 << i
    return octet(v)


class Typed:
    """A field-table value with an explicit RabbitMQ type letter."""

    def __init__(self, letter, value):
        self.letter = letter
        self.value = value


def field_value(v):
    """Encodes one field value (type letter + value); Python types map to S t l d F A V x."""
    if isinstance(v, Typed):
        letter, val = v.letter, v.value
    elif isinstance(v, bool):
        letter, val = "t", v
    elif isinstance(v, int):
        letter, val = "l", v
    elif isinstance(v, float):
        letter, val = "d", v
    elif isinstance(v, (str, bytes)):
        letter, val = "S", v
    elif isinstance(v, dict):
        letter, val = "F", v
    elif isinstance(v, (list, tuple)):
        letter, val = "A", v
    elif v is None:
        letter, val = "V", None
    else:
        raise TypeError("cannot encode %r in a field table" % (v,))
    packers = {"t": lambda x: octet(1 if x else 0), "b": lambda x: struct.pack(">b", x),
               "B": lambda x: struct.pack(">B", x), "s": lambda x: struct.pack(">h", x),
               "u": lambda x: struct.pack(">H", x), "I": lambda x: struct.pack(">i", x),
               "i": lambda x: struct.pack(">I", x), "l": lambda x: struct.pack(">q", x),
               "f": lambda x: struct.pack(">f", x), "d": lambda x: struct.pack(">d", x),
               "T": lambda x: struct.pack(">Q", x), "S": longstr, "x": longstr,
               "F": table, "A": array, "V": lambda x: b"",
               "D": lambda x: struct.pack(">Bi", x[0], x[1])}
    return letter.encode() + packers[letter](val)


def table_body(d):
    """The fields of a table without the 32-bit length (AMQPLAIN's response is this)."""
    out = b""
    for k, v in d.items():
        out += shortstr(k) + field_value(v)
    return out


def table(d):
    body = table_body(d)
    return long_(len(body)) + body


def array(items):
    body = b"".join(field_value(v) for v in items)
    return long_(len(body)) + body


def frame(ftype, channel, payload, end=FRAME_END):
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + octet(end)


def method_payload(ids, args=b""):
    return struct.pack(">HH", ids[0], ids[1]) + args


def method_frame(channel, ids, args=b""):
    return frame(FRAME_METHOD, channel, method_payload(ids, args))


def header_frame(channel, body_size, class_id=60, flags=0, props=b""):
    return frame(FRAME_HEADER, channel, struct.pack(">HHQH", class_id, 0, body_size, flags) + props)


def body_frame(channel, data):
    return frame(FRAME_BODY, channel, data)


def heartbeat_frame():
    return frame(FRAME_HEARTBEAT, 0, b"")


# Argument encoders for the methods the tests send.

def start_ok_args(mechanism="PLAIN", response=b"\x00guest\x00guest", client_properties=None,
                  locale="en_US", raw_client_properties=None):
    props = raw_client_properties if raw_client_properties is not None else table(
        client_properties if client_properties is not None else default_client_properties())
    return props + shortstr(mechanism) + longstr(response) + shortstr(locale)


def tune_ok_args(channel_max, frame_max, heartbeat):
    return short(channel_max) + long_(frame_max) + short(heartbeat)


def open_args(vhost="/"):
    return shortstr(vhost) + shortstr("") + bits(False)


def close_args(code=200, text="", class_id=0, method_id=0):
    return short(code) + shortstr(text) + short(class_id) + short(method_id)


def channel_open_args():
    return shortstr("")


def flow_args(active):
    return bits(active)


def queue_declare_args(name="", passive=False, durable=False, exclusive=False,
                       auto_delete=False, nowait=False, arguments=None, raw_arguments=None):
    args = raw_arguments if raw_arguments is not None else table(arguments or {})
    return (short(0) + shortstr(name) + bits(passive, durable, exclusive, auto_delete, nowait)
            + args)


def exchange_declare_args(name, etype="direct", passive=False, durable=False,
                          auto_delete=False, internal=False, nowait=False, arguments=None):
    return (short(0) + shortstr(name) + shortstr(etype)
            + bits(passive, durable, auto_delete, internal, nowait) + table(arguments or {}))


def queue_bind_args(queue, exchange, routing_key="", nowait=False, arguments=None):
    return (short(0) + shortstr(queue) + shortstr(exchange) + shortstr(routing_key)
            + bits(nowait) + table(arguments or {}))


def basic_consume_args(queue, consumer_tag="", no_local=False, no_ack=False,
                       exclusive=False, nowait=False, arguments=None):
    return (short(0) + shortstr(queue) + shortstr(consumer_tag)
            + bits(no_local, no_ack, exclusive, nowait) + table(arguments or {}))


def basic_get_args(queue, no_ack=False):
    return short(0) + shortstr(queue) + bits(no_ack)


def basic_ack_args(delivery_tag, multiple=False):
    return longlong(delivery_tag) + bits(multiple)


def publish_frames(channel, exchange, routing_key, body, mandatory=False, immediate=False,
                   frame_max=131072):
    """basic.publish with a content header (no properties) and the body split into
    frames of at most frame_max - 8 bytes."""
    out = [method_frame(channel, BASIC_PUBLISH,
                        basic_publish_args(exchange, routing_key, mandatory, immediate)),
           header_frame(channel, len(body))]
    step = frame_max - 8
    for i in range(0, len(body), step):
        out.append(body_frame(channel, body[i:i + step]))
    return b"".join(out)


def basic_qos_args(prefetch_size=0, prefetch_count=0, global_=False):
    return long_(prefetch_size) + short(prefetch_count) + bits(global_)


def basic_publish_args(exchange="", routing_key="", mandatory=False, immediate=False):
    return short(0) + shortstr(exchange) + shortstr(routing_key) + bits(mandatory, immediate)


def basic_deliver_args(consumer_tag="ctag", delivery_tag=1, redelivered=False, exchange="",
                       routing_key="rk"):
    return (shortstr(consumer_tag) + longlong(delivery_tag) + bits(redelivered)
            + shortstr(exchange) + shortstr(routing_key))


def default_client_properties(capabilities=True):
    """Client properties like pika's; authentication_failure_close makes a refused
    login produce connection.close 403 instead of a silent close (rabbit_reader.erl)."""
    props = {"product": "leveret-blackbox", "platform": "Python", "version": "1"}
    if capabilities:
        props["capabilities"] = {"authentication_failure_close": True, "basic.nack": True,
                                 "connection.blocked": True, "consumer_cancel_notify": True,
                                 "publisher_confirms": True}
    return props


def plain_response(user, password):
    return b"\x00" + user.encode() + b"\x00" + password.encode()


def amqplain_response(user, password):
    return table_body({"LOGIN": user, "PASSWORD": password})


# ---- decoding ----

class Decoder:
    """Reads AMQP fields from a byte string; raises ProtocolError when bytes run out."""

    def __init__(self, data):
        self.data = bytes(data)
        self.pos = 0

    def _take(self, n):
        if self.pos + n > len(self.data):
            raise ProtocolError("truncated: need %d bytes at offset %d of %d"
                                % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def remaining(self):
        return len(self.data) - self.pos

    def octet(self):
        return self._take(1)[0]

    def short(self):
        return struct.unpack(">H", self._take(2))[0]

    def long(self):
        return struct.unpack(">I", self._take(4))[0]

    def longlong(self):
        return struct.unpack(">Q", self._take(8))[0]

    def shortstr(self):
        return self._take(self.octet()).decode("utf-8", "replace")

    def longstr_bytes(self):
        return self._take(self.long())

    def longstr(self):
        return self.longstr_bytes().decode("utf-8", "replace")

    def bits(self, n):
        v = self.octet()
        return [bool(v & (1 << i)) for i in range(n)]

    def table(self):
        """A field table as {name: (type_letter, value)}; nested tables likewise."""
        sub = Decoder(self._take(self.long()))
        out = {}
        while sub.remaining():
            name = sub.shortstr()
            out[name] = sub.field_value()
        return out

    def array(self):
        sub = Decoder(self._take(self.long()))
        out = []
        while sub.remaining():
            out.append(sub.field_value())
        return out

    def field_value(self):
        letter = chr(self.octet())
        simple = {"t": (1, ">B"), "b": (1, ">b"), "B": (1, ">B"), "s": (2, ">h"),
                  "u": (2, ">H"), "I": (4, ">i"), "i": (4, ">I"), "l": (8, ">q"),
                  "L": (8, ">q"), "f": (4, ">f"), "d": (8, ">d"), "T": (8, ">Q")}
        if letter in simple:
            size, fmt = simple[letter]
            v = struct.unpack(fmt, self._take(size))[0]
            return (letter, bool(v) if letter == "t" else v)
        if letter == "S":
            return (letter, self.longstr_bytes())
        if letter == "x":
            return (letter, self.longstr_bytes())
        if letter == "F":
            return (letter, self.table())
        if letter == "A":
            return (letter, self.array())
        if letter == "D":
            return (letter, (self.octet(), struct.unpack(">i", self._take(4))[0]))
        if letter == "V":
            return (letter, None)
        raise ProtocolError("unknown field type %r" % letter)


class Frame:
    def __init__(self, ftype, channel, payload):
        self.type = ftype
        self.channel = channel
        self.payload = payload

    @property
    def method_id(self):
        if self.type != FRAME_METHOD or len(self.payload) < 4:
            return None
        return struct.unpack(">HH", self.payload[:4])

    def args(self):
        return Decoder(self.payload[4:])

    def __repr__(self):
        if self.type == FRAME_METHOD:
            mid = self.method_id
            name = METHOD_NAMES.get(mid, "method %r" % (mid,))
            extra = ""
            if mid in (CONNECTION_CLOSE, CHANNEL_CLOSE):
                try:
                    extra = " %r" % (decode_close(self),)
                except ProtocolError:
                    pass
            return "<%s on channel %d%s>" % (name, self.channel, extra)
        kind = {FRAME_HEADER: "header", FRAME_BODY: "body", FRAME_HEARTBEAT: "heartbeat"}
        return "<%s frame on channel %d, %d bytes>" % (
            kind.get(self.type, "type-%d" % self.type), self.channel, len(self.payload))


def decode_start(f):
    d = f.args()
    return {"version_major": d.octet(), "version_minor": d.octet(),
            "server_properties": d.table(), "mechanisms": d.longstr(), "locales": d.longstr()}


def decode_tune(f):
    d = f.args()
    return {"channel_max": d.short(), "frame_max": d.long(), "heartbeat": d.short()}


def decode_close(f):
    """connection.close or channel.close: (reply_code, reply_text, class_id, method_id)."""
    d = f.args()
    return (d.short(), d.shortstr(), d.short(), d.short())


def decode_ack(f):
    """basic.ack or basic.nack from the broker: (delivery_tag, multiple)."""
    d = f.args()
    return (d.longlong(), d.bits(1)[0])


def decode_return(f):
    """basic.return: (reply_code, reply_text, exchange, routing_key)."""
    d = f.args()
    return (d.short(), d.shortstr(), d.shortstr(), d.shortstr())


def decode_flow_ok(f):
    return f.args().bits(1)[0]


def unwrap(table_dict):
    """Strips the type letters from a decoded table, recursively (bytes stay bytes)."""
    out = {}
    for k, (letter, v) in table_dict.items():
        out[k] = unwrap(v) if letter == "F" else v
    return out


# ---- the connection ----

class RawConnection:
    """One TCP connection to the broker, driven by hand."""

    def __init__(self, port, host="127.0.0.1", timeout=5.0, rcvbuf=None):
        """rcvbuf: SO_RCVBUF set before connecting (a small window for a client
        that stops reading)."""
        self.default_timeout = timeout
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=timeout)
        else:
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False
        self.tuned = None

    # -- sending --

    def send(self, data):
        self.sock.sendall(data)

    def send_header(self, header=PROTOCOL_HEADER):
        self.send(header)

    def send_frame(self, ftype, channel, payload, end=FRAME_END):
        self.send(frame(ftype, channel, payload, end))

    def send_method(self, channel, ids, args=b""):
        self.send(method_frame(channel, ids, args))

    def send_heartbeat(self):
        self.send(heartbeat_frame())

    def try_send(self, data):
        """Sends, ignoring a socket the broker has already closed or reset."""
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            return False

    # -- receiving --

    def _fill(self, deadline):
        """Reads more bytes into the buffer; False on EOF, Timeout past the deadline."""
        if self.eof:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            raise Timeout("timed out waiting for data from the broker")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise Timeout("timed out waiting for data from the broker") from None
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    def recv_exactly(self, n, timeout=None):
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        while len(self.buf) < n:
            if not self._fill(deadline):
                got, self.buf = self.buf, b""
                raise Closed("broker closed the socket after %d of %d expected bytes: %r"
                             % (len(got), n, got), got)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self, timeout=None):
        """The next frame; raises Closed on EOF, Timeout, or ProtocolError on a bad frame."""
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        while len(self.buf) < 7:
            if not self._fill(deadline):
                got, self.buf = self.buf, b""
                raise Closed("broker closed the socket (%d stray bytes: %r)" % (len(got), got),
                             got)
        ftype, channel, size = struct.unpack(">BHI", self.buf[:7])
        if size > 64 * 1024 * 1024:
            raise ProtocolError("broker sent a frame header with size %d" % size)
        while len(self.buf) < 8 + size:
            if not self._fill(deadline):
                raise Closed("broker closed the socket in the middle of a frame")
        payload = self.buf[7:7 + size]
        end = self.buf[7 + size]
        self.buf = self.buf[8 + size:]
        if end != FRAME_END:
            raise ProtocolError("broker sent frame-end octet 0x%02x" % end)
        return Frame(ftype, channel, payload)

    def recv_method(self, timeout=None, skip_heartbeats=True):
        deadline = time.monotonic() + (self.default_timeout if timeout is None else timeout)
        while True:
            f = self.recv_frame(max(0.0, deadline - time.monotonic()))
            if f.type == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            if f.type != FRAME_METHOD:
                raise ProtocolError("expected a method frame, got %r" % (f,))
            return f

    def expect_method(self, ids, channel=None, timeout=None):
        f = self.recv_method(timeout)
        if f.method_id != ids or (channel is not None and f.channel != channel):
            raise ProtocolError("expected %s on channel %s, got %r"
                                % (METHOD_NAMES.get(ids, ids),
                                   "any" if channel is None else channel, f))
        return f

    # -- handshake --

    def start(self, header=PROTOCOL_HEADER, timeout=None):
        self.send_header(header)
        return decode_start(self.expect_method(CONNECTION_START, channel=0, timeout=timeout))

    def start_ok(self, user="guest", password="guest", mechanism="PLAIN", response=None,
                 client_properties=None):
        if response is None:
            response = (amqplain_response(user, password) if mechanism == "AMQPLAIN"
                        else plain_response(user, password))
        self.send_method(0, CONNECTION_START_OK,
                         start_ok_args(mechanism, response, client_properties))

    def tune(self, timeout=None):
        return decode_tune(self.expect_method(CONNECTION_TUNE, channel=0, timeout=timeout))

    def tune_ok(self, channel_max, frame_max, heartbeat):
        self.tuned = {"channel_max": channel_max, "frame_max": frame_max,
                      "heartbeat": heartbeat}
        self.send_method(0, CONNECTION_TUNE_OK, tune_ok_args(channel_max, frame_max, heartbeat))

    def open(self, vhost="/"):
        self.send_method(0, CONNECTION_OPEN, open_args(vhost))

    def handshake(self, user="guest", password="guest", vhost="/", mechanism="PLAIN",
                  channel_max=None, frame_max=None, heartbeat=None, client_properties=None):
        """Runs the handshake up to connection.open-ok. Tune-ok echoes the server's
        values unless overridden. Returns {"start":..., "tune":..., "tuned":...}."""
        start = self.start()
        self.start_ok(user, password, mechanism, client_properties=client_properties)
        tune = self.tune()
        self.tune_ok(tune["channel_max"] if channel_max is None else channel_max,
                     tune["frame_max"] if frame_max is None else frame_max,
                     tune["heartbeat"] if heartbeat is None else heartbeat)
        self.open(vhost)
        self.expect_method(CONNECTION_OPEN_OK, channel=0)
        return {"start": start, "tune": tune, "tuned": dict(self.tuned)}

    def open_channel(self, channel):
        self.send_method(channel, CHANNEL_OPEN, channel_open_args())
        return self.expect_method(CHANNEL_OPEN_OK, channel=channel)

    def close_channel(self, channel):
        self.send_method(channel, CHANNEL_CLOSE, close_args(200, "bye"))
        return self.expect_method(CHANNEL_CLOSE_OK, channel=channel)

    # -- endings --

    def read_until_eof(self, timeout):
        """Reads frames until the broker closes the socket; returns them.
        Raises Timeout if the socket is still open at the deadline."""
        deadline = time.monotonic() + timeout
        frames = []
        while True:
            try:
                frames.append(self.recv_frame(max(0.0, deadline - time.monotonic())))
            except Closed as e:
                if e.received:
                    frames.append(e.received)
                return frames
            except Timeout:
                raise Timeout("socket still open %.1fs later; received %r"
                              % (timeout, frames)) from None

    def expect_eof(self, timeout=5.0, allow_heartbeats=True):
        """Asserts that the broker closes the socket without sending anything more
        (heartbeat frames aside), within timeout seconds; returns elapsed seconds."""
        t0 = time.monotonic()
        frames = self.read_until_eof(timeout)
        unexpected = [f for f in frames
                      if not (allow_heartbeats and isinstance(f, Frame)
                              and f.type == FRAME_HEARTBEAT)]
        if unexpected:
            raise ProtocolError("expected the broker to close the socket without a frame, "
                                "got %r" % (unexpected,))
        return time.monotonic() - t0

    def expect_connection_close(self, code, timeout=5.0, eof_timeout=5.0):
        """Waits for connection.close on channel 0 (heartbeats skipped), checks the
        reply code and RabbitMQ's "NAME - " text prefix, answers close-ok and checks
        that the broker then closes the socket. Returns (code, text, class, method)."""
        try:
            f = self.recv_method(timeout)
        except Closed as e:
            raise ProtocolError("expected connection.close %d, but the broker closed the "
                                "socket without it (stray bytes: %r)" % (code, e.received))
        except Timeout:
            raise Timeout("expected connection.close %d within %.1fs, got nothing"
                          % (code, timeout)) from None
        if f.method_id != CONNECTION_CLOSE or f.channel != 0:
            raise ProtocolError("expected connection.close %d on channel 0, got %r" % (code, f))
        reply = decode_close(f)
        if reply[0] != code:
            raise ProtocolError("expected connection.close %d, got %r" % (code, reply))
        name = REPLY_NAMES.get(code)
        if name and not reply[1].startswith(name + " - "):
            raise ProtocolError("reply-text %r does not start with %r"
                                % (reply[1], name + " - "))
        self.try_send(method_frame(0, CONNECTION_CLOSE_OK))
        frames = self.read_until_eof(eof_timeout)
        stray = [x for x in frames if not (isinstance(x, Frame) and x.type == FRAME_HEARTBEAT)]
        if stray:
            raise ProtocolError("after connection.close/close-ok the broker sent %r" % (stray,))
        self.close()
        return reply

    def expect_close_then_eof(self, code, timeout=5.0, eof_within=2.0):
        """Waits for connection.close `code` on channel 0 and then, without answering
        close-ok, for the broker to close the socket within eof_within seconds (what
        Leveret does for any error before connection.open-ok). Returns the reply."""
        try:
            f = self.recv_method(timeout)
        except Closed as e:
            raise ProtocolError("expected connection.close %d, but the broker closed the "
                                "socket without it (stray bytes: %r)" % (code, e.received))
        except Timeout:
            raise Timeout("expected connection.close %d within %.1fs, got nothing"
                          % (code, timeout)) from None
        if f.method_id != CONNECTION_CLOSE or f.channel != 0:
            raise ProtocolError("expected connection.close %d on channel 0, got %r" % (code, f))
        reply = decode_close(f)
        if reply[0] != code:
            raise ProtocolError("expected connection.close %d, got %r" % (code, reply))
        name = REPLY_NAMES.get(code)
        if name and not reply[1].startswith(name + " - "):
            raise ProtocolError("reply-text %r does not start with %r"
                                % (reply[1], name + " - "))
        try:
            frames = self.read_until_eof(eof_within)
        except Timeout:
            raise Timeout("after connection.close %d the broker kept the socket open for "
                          "%.1fs without close-ok: it must close it at once" % (code, eof_within)
                          ) from None
        stray = [x for x in frames if not (isinstance(x, Frame) and x.type == FRAME_HEARTBEAT)]
        if stray:
            raise ProtocolError("after connection.close the broker sent %r" % (stray,))
        self.close()
        return reply

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
