# SPDX-License-Identifier: MIT
"""08 errors: malformed and out-of-place frames, each closing the connection with
the reply code RabbitMQ uses, while a pika connection on the same broker (the
bystander) stays usable.

Reply codes and where RabbitMQ takes them from (rabbit_reader.erl unless noted):
- frame larger than frame_max, bad frame-end octet, unknown frame type: 501;
- truncated or over-long method arguments, a field-table length running past the
  arguments: 501 FRAME_ERROR "cannot decode ..." (rabbit_misc:frame_error/2, which the
  generated decode_method_fields/2 falls back to). Not 502;
- header or body frame with no content-bearing method before it: 505
  (rabbit_command_assembler.erl), also on channel 0;
- heartbeat frame on a non-zero channel: 505 (handle_frame/4);
- a non-connection method on channel 0, or a connection method out of order there:
  504 CHANNEL_ERROR "unexpected method in connection state running" (handle_method0/2);
- a connection method, or a method only servers send, on an open channel: 503
  COMMAND_INVALID "unimplemented method" (rabbit_channel.erl's last handle_method/3).

RabbitMQ does not send any frame for two cases below: an unknown class/method id
(lookup_method_name/1 exits and the connection process dies) and a field table with
an unknown type tag (parse_table/1 has no clause for it; same crash). Leveret sends
540 NOT_IMPLEMENTED and 502 SYNTAX_ERROR there, the spec's codes for them (owner's
decision).

Before connection.open-ok, any error is a connection.close followed at once by the
socket closing; the broker does not wait for close-ok (owner's decision).
"""

import hashlib
import random
import time

import raw
from harness import BrokerTestCase, pika_params



class ErrorTestCase(BrokerTestCase):
    """Opens a pika connection and channel before the test and checks after it that
    they still work: a protocol error on one connection must not disturb another."""

    def setUp(self):
        super().setUp()
        import pika
        self.bystander = pika.BlockingConnection(pika_params(self.broker))
        self.bystander_ch = self.bystander.channel()

    def tearDown(self):
        try:
            self.assertTrue(self.bystander.is_open, "bystander connection was closed")
            self.assertTrue(self.bystander_ch.is_open, "bystander channel was closed")
            ch = self.bystander.channel()
            ch.close()
            self.bystander_ch.close()
            self.bystander.close()
        finally:
            super().tearDown()

    def conn(self, channel=1, **kw):
        """An opened raw connection with channel `channel` open (None: no channel)."""
        c = self.raw()
        c.handshake(heartbeat=0, **kw)
        if channel is not None:
            c.open_channel(channel)
        return c


class FrameErrors(ErrorTestCase):
    def test_frame_larger_than_frame_max_is_501(self):
        c = self.conn()
        # Only the frame header: the broker must refuse on the declared size alone.
        c.send(b"\x01\x00\x01" + raw.long_(131072 + 1))
        c.expect_connection_close(raw.FRAME_ERROR)

    def test_frame_larger_than_negotiated_frame_max_is_501(self):
        c = self.conn(frame_max=8192)
        c.send(b"\x03\x00\x01" + raw.long_(8192 + 1))
        c.expect_connection_close(raw.FRAME_ERROR)

    def test_bad_frame_end_octet_is_501(self):
        c = self.conn(channel=None)
        c.send_frame(raw.FRAME_METHOD, 1, raw.method_payload(raw.CHANNEL_OPEN, b"\x00"),
                     end=0x00)
        c.expect_connection_close(raw.FRAME_ERROR)

    def test_unknown_frame_type_is_501(self):
        c = self.conn()
        c.send_frame(7, 0, b"")
        c.expect_connection_close(raw.FRAME_ERROR)

    def test_heartbeat_with_payload_is_501(self):
        c = self.conn()
        c.send_frame(raw.FRAME_HEARTBEAT, 0, b"\x00")
        c.expect_connection_close(raw.FRAME_ERROR)

    def test_heartbeat_on_nonzero_channel_is_505(self):
        c = self.conn()
        c.send_frame(raw.FRAME_HEARTBEAT, 1, b"")
        c.expect_connection_close(raw.UNEXPECTED_FRAME)


class MethodErrors(ErrorTestCase):
    def test_unknown_class_is_540(self):
        c = self.conn()
        c.send_method(1, (99, 10), b"")
        c.expect_connection_close(raw.NOT_IMPLEMENTED)

    def test_unknown_method_of_known_class_is_540(self):
        c = self.conn()
        c.send_method(1, (20, 99), b"")
        c.expect_connection_close(raw.NOT_IMPLEMENTED)

    def test_truncated_arguments_are_501(self):
        c = self.conn(channel=None)
        # channel.open without its reserved shortstr
        c.send_method(1, raw.CHANNEL_OPEN, b"")
        code, text, cls, mth = c.expect_connection_close(raw.FRAME_ERROR)
        self.assertEqual((cls, mth), raw.CHANNEL_OPEN)

    def test_trailing_bytes_after_arguments_are_501(self):
        c = self.conn()
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(True) + b"\x00\x00")
        code, text, cls, mth = c.expect_connection_close(raw.FRAME_ERROR)
        self.assertEqual((cls, mth), raw.CHANNEL_FLOW)

    def test_table_length_past_end_of_arguments_is_501(self):
        c = self.conn()
        c.send_method(1, raw.QUEUE_DECLARE,
                      raw.queue_declare_args("q", raw_arguments=raw.long_(100) + b"\x01a"))
        c.expect_connection_close(raw.FRAME_ERROR)

    def test_table_with_unknown_field_type_is_502(self):
        c = self.conn()
        bad = raw.shortstr("x-bad") + b"Z\x00\x00\x00\x01"
        c.send_method(1, raw.QUEUE_DECLARE,
                      raw.queue_declare_args("q", raw_arguments=raw.long_(len(bad)) + bad))
        c.expect_connection_close(raw.SYNTAX_ERROR)

    def test_malformed_client_properties_are_501_then_socket_closed(self):
        # RabbitMQ closes silently after 3 s here; Leveret sends connection.close
        # 501 (a table length past the end of the arguments) and closes at once.
        c = self.raw()
        c.start()
        props = raw.long_(4096) + raw.shortstr("product") + b"S" + raw.longstr("x")
        c.send_method(0, raw.CONNECTION_START_OK,
                      raw.start_ok_args(raw_client_properties=props))
        c.expect_close_then_eof(raw.FRAME_ERROR)


class FramesOutOfPlace(ErrorTestCase):
    def test_content_header_without_publish_is_505(self):
        c = self.conn()
        c.send(raw.header_frame(1, 5))
        c.expect_connection_close(raw.UNEXPECTED_FRAME)

    def test_content_body_without_publish_is_505(self):
        c = self.conn()
        c.send(raw.body_frame(1, b"hello"))
        c.expect_connection_close(raw.UNEXPECTED_FRAME)

    def test_content_header_on_channel_0_is_505(self):
        c = self.conn()
        c.send(raw.header_frame(0, 5))
        c.expect_connection_close(raw.UNEXPECTED_FRAME)

    def test_channel_method_on_channel_0_is_504(self):
        c = self.conn(channel=None)
        c.send_method(0, raw.CHANNEL_OPEN, raw.channel_open_args())
        code, text, cls, mth = c.expect_connection_close(raw.CHANNEL_ERROR)
        self.assertEqual((cls, mth), raw.CHANNEL_OPEN)

    def test_connection_method_out_of_order_on_channel_0_is_504(self):
        c = self.conn()
        c.send_method(0, raw.CONNECTION_TUNE_OK, raw.tune_ok_args(2047, 131072, 0))
        code, text, cls, mth = c.expect_connection_close(raw.CHANNEL_ERROR)
        self.assertEqual((cls, mth), raw.CONNECTION_TUNE_OK)

    def test_connection_method_on_open_channel_is_503(self):
        c = self.conn()
        c.send_method(1, raw.CONNECTION_OPEN, raw.open_args("/"))
        code, text, cls, mth = c.expect_connection_close(raw.COMMAND_INVALID)
        self.assertEqual((cls, mth), raw.CONNECTION_OPEN)

    def test_server_only_method_from_client_is_503(self):
        c = self.conn()
        c.send_method(1, raw.CHANNEL_OPEN_OK, raw.longstr(""))
        code, text, cls, mth = c.expect_connection_close(raw.COMMAND_INVALID)
        self.assertEqual((cls, mth), raw.CHANNEL_OPEN_OK)

    def test_basic_deliver_from_client_is_503(self):
        c = self.conn()
        c.send(raw.method_frame(1, raw.BASIC_DELIVER, raw.basic_deliver_args())
               + raw.header_frame(1, 2) + raw.body_frame(1, b"hi"))
        code, text, cls, mth = c.expect_connection_close(raw.COMMAND_INVALID)
        self.assertEqual((cls, mth), raw.BASIC_DELIVER)


class AfterConnectionClose(ErrorTestCase):
    def test_frames_after_connection_close_are_ignored_until_close_ok(self):
        # rabbit_reader.erl: once closing, only connection.close/close-ok on channel 0
        # are handled; everything else is dropped.
        c = self.conn()
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(False))
        f = c.expect_method(raw.CONNECTION_CLOSE, channel=0)
        self.assertEqual(raw.decode_close(f)[0], raw.NOT_IMPLEMENTED)
        c.send(raw.method_frame(2, raw.CHANNEL_OPEN, raw.channel_open_args())
               + raw.method_frame(1, raw.CHANNEL_FLOW, raw.flow_args(True))
               + raw.heartbeat_frame())
        try:
            extra = c.recv_frame(0.5)
            self.fail("broker answered a frame after connection.close: %r" % (extra,))
        except raw.Timeout:
            pass
        c.send_method(0, raw.CONNECTION_CLOSE_OK)
        c.expect_eof(5.0)

    def test_client_close_crossing_broker_close_gets_close_ok(self):
        # Both sides closing at once: rabbit_reader.erl answers a connection.close
        # received while closing with close-ok.
        c = self.conn()
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(False))
        c.expect_method(raw.CONNECTION_CLOSE, channel=0)
        c.send_method(0, raw.CONNECTION_CLOSE, raw.close_args(200, "bye"))
        c.expect_method(raw.CONNECTION_CLOSE_OK, channel=0)


class StreamedBodies(ErrorTestCase):
    """Body frames split across reads are streamed into the message piece by
    piece; the checks of a whole frame still apply."""

    def test_body_frame_longer_than_declared_is_refused_before_publishing(self):
        # Declared body 70000 bytes, but one 90000-byte body frame, sent in two
        # writes so the broker sees its first part alone. RabbitMQ checks the
        # frame whole; so do we: 501 and nothing reaches the queue.
        self.bystander_ch.queue_declare("streamed")
        c = self.conn()
        frames = (raw.method_frame(1, raw.BASIC_PUBLISH, raw.basic_publish_args("", "streamed"))
                  + raw.header_frame(1, 70000) + raw.body_frame(1, b"x" * 90000))
        c.send(frames[:30000])
        time.sleep(0.2)
        c.send(frames[30000:])
        c.expect_connection_close(raw.FRAME_ERROR)
        self.assertEqual(self.bystander_ch.queue_declare("streamed", passive=True)
                         .method.message_count, 0)

    def test_bad_end_octet_of_a_streamed_body_is_501_and_nothing_published(self):
        self.bystander_ch.queue_declare("streamed")
        c = self.conn()
        frames = (raw.method_frame(1, raw.BASIC_PUBLISH, raw.basic_publish_args("", "streamed"))
                  + raw.header_frame(1, 50000) + raw.frame(raw.FRAME_BODY, 1, b"y" * 50000,
                                                           end=0x00))
        c.send(frames[:20000])
        time.sleep(0.2)
        c.send(frames[20000:])
        c.expect_connection_close(raw.FRAME_ERROR)
        self.assertEqual(self.bystander_ch.queue_declare("streamed", passive=True)
                         .method.message_count, 0)

    def test_pipelined_large_bodies_in_odd_writes_arrive_intact(self):
        # 40 messages of varied sizes up to 300 kB (several frames each at
        # frame_max 131072), on two channels, written in chunks of odd sizes with
        # pauses, so frame and read boundaries fall everywhere.
        rng = random.Random(7)
        self.bystander_ch.queue_declare("big1")
        self.bystander_ch.queue_declare("big2")
        c = self.conn()
        c.open_channel(2)
        stream, sent = b"", {1: [], 2: []}
        for i in range(40):
            size = rng.choice([5000, 65536, 131064, 131065, 200000, 300001])
            body = hashlib.sha256(str(i).encode()).digest() * (size // 32 + 1)
            body = body[:size]
            chan = 1 + i % 2
            sent[chan].append(body)
            stream += raw.publish_frames(chan, "", "big%d" % chan, body)
        off = 0
        while off < len(stream):
            n = rng.choice([1, 7, 100, 4093, 65536, 70001, 262144])
            c.send(stream[off:off + n])
            off += n
            if rng.random() < 0.2:
                time.sleep(0.01)
        deadline = time.monotonic() + 20
        for chan in (1, 2):
            while (self.bystander_ch.queue_declare("big%d" % chan, passive=True)
                   .method.message_count < len(sent[chan]) and time.monotonic() < deadline):
                time.sleep(0.05)
            got = []
            for _ in sent[chan]:
                m, p, b = self.bystander_ch.basic_get("big%d" % chan, auto_ack=True)
                got.append(b)
            self.assertEqual([hashlib.sha256(b).hexdigest() for b in got],
                             [hashlib.sha256(b).hexdigest() for b in sent[chan]])
