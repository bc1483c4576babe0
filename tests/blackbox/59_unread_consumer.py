# SPDX-License-Identifier: MIT
"""59 a consumer that never reads its socket cannot make the broker buffer
without bound: what is delivered to it is limited by its prefetch (manual acks)
or by the socket buffers plus the broker's output high-water mark (1 MiB,
broker/conn.c OUT_HIGH_WATER) for automatic acks; everything else stays ready in
the queue, and the broker keeps serving other clients. The same holds for
direct reply-to, where replies bypass queues: a publisher whose replies pile up
in a requester's unread output is paused (flow control) until it drains.

RabbitMQ bounds this with credit flow between its processes and TCP back
pressure (docs flow-control.md, consumer-prefetch.md); the observable outcome
checked here is the same: messages stay in the queue as ready, the broker's
resident memory does not grow with what the consumer does not read, other
connections are served.

The consumers are raw sockets with a small SO_RCVBUF that read nothing after
basic.consume-ok; the broker's memory is VmRSS from /proc/PID/status (not
checked under ASan, whose allocator keeps freed memory in quarantine).
"""

import time

import raw
from harness import SETTINGS
from mgmtkit import call
from pikakit import Collector, PikaTestCase

MIB = 1 << 20
# Socket buffers (the broker's send buffer grows to tcp_wmem's 4 MiB) plus the
# output high-water mark plus the message being written, in 1 MiB messages.
MAX_IN_FLIGHT = 12


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % pid)


class UnreadConsumer(PikaTestCase):
    def api(self, method, path, body=None):
        r = call(self.broker.mgmt_port, method, "/api/" + path, body)
        self.assertIn(r.status, (200, 201, 204), r.raw)
        return r.json

    def stalled_consumer(self, queue, no_ack, prefetch=0):
        """A raw consumer on queue that reads nothing after consume-ok."""
        c = self.track(raw.RawConnection(self.broker.port, rcvbuf=16384))
        c.handshake(heartbeat=0)
        c.open_channel(1)
        if prefetch:
            c.send_method(1, raw.BASIC_QOS, raw.basic_qos_args(prefetch_count=prefetch))
            c.expect_method(raw.BASIC_QOS_OK, channel=1)
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args(queue, "stalled",
                                                                    no_ack=no_ack))
        c.expect_method(raw.BASIC_CONSUME_OK, channel=1)
        return c

    def publish(self, queue, n, size=MIB):
        conn = self.connect()
        ch = conn.channel()
        body = b"m" * size
        for _ in range(n):
            ch.basic_publish("", queue, body)
        # Wait until the broker has taken them all.
        deadline = time.monotonic() + 30
        while self.queue(queue).get("message_stats", {}).get("publish", 0) < n:
            self.assertLess(time.monotonic(), deadline, self.queue(queue))
            time.sleep(0.1)
        conn.close()

    def queue(self, name):
        return self.api("GET", "queues/%2F/" + name)

    def settle(self, seconds=1.0):
        time.sleep(seconds)

    def stalled_conn(self):
        conns = [c for c in self.api("GET", "connections")
                 if c["channels"] and c["recv_oct"] and c["client_properties"].get("product")
                 == "leveret-blackbox"]
        self.assertEqual(len(conns), 1, conns)
        return conns[0]

    def assertStillServing(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("other")
        for i in range(100):
            ch.basic_publish("", "other", b"o%d" % i)
        got = Collector(ack=True)
        ch.basic_consume("other", got)
        self.consume_n(conn, got, 100, timeout=10.0)
        self.assertEqual(got.bodies, [b"o%d" % i for i in range(100)])
        conn.close()

    def test_auto_ack_consumer_gets_only_what_the_buffers_hold(self):
        # x-max-length keeps the queue itself small (drop-head), so the only
        # thing that could grow with the 150 MiB published is what the broker
        # holds for the consumer.
        self.channel().queue_declare("q", arguments={"x-max-length": 16})
        self.stalled_consumer("q", no_ack=True)
        base = rss(self.broker.proc.pid)
        self.publish("q", 150)
        self.settle()
        q = self.queue("q")
        delivered = q["message_stats"].get("deliver_no_ack", 0)
        self.assertLessEqual(delivered, MAX_IN_FLIGHT, q["message_stats"])
        self.assertEqual(q["messages_ready"], 16)
        self.assertLessEqual(self.stalled_conn()["send_pend"], 2 * MIB + 4096)
        if not SETTINGS["sanitized"]:
            grown = rss(self.broker.proc.pid) - base
            self.assertLess(grown, (16 + MAX_IN_FLIGHT + 24) * MIB,
                            "the broker grew by %.1f MiB" % (grown / MIB))
        self.assertStillServing()

    def test_manual_ack_consumer_gets_at_most_its_prefetch(self):
        self.channel().queue_declare("q")
        self.stalled_consumer("q", no_ack=False, prefetch=10)
        base = rss(self.broker.proc.pid)
        self.publish("q", 100)
        self.settle()
        q = self.queue("q")
        self.assertLessEqual(q["messages_unacknowledged"], 10)
        self.assertEqual(q["messages_ready"] + q["messages_unacknowledged"], 100)
        self.assertLessEqual(self.stalled_conn()["send_pend"], 2 * MIB + 4096)
        if not SETTINGS["sanitized"]:
            grown = rss(self.broker.proc.pid) - base
            # The 100 MiB queued, and no second copy for the consumer.
            self.assertLess(grown, (100 + 24) * MIB, "grew by %.1f MiB" % (grown / MIB))
        self.assertStillServing()

    def test_manual_ack_without_prefetch_is_bounded_by_the_output(self):
        # No prefetch: only the output high-water mark stops deliveries.
        self.channel().queue_declare("q")
        self.stalled_consumer("q", no_ack=False)
        self.publish("q", 100)
        self.settle()
        q = self.queue("q")
        self.assertLessEqual(q["messages_unacknowledged"], MAX_IN_FLIGHT)
        self.assertGreaterEqual(q["messages_ready"], 100 - MAX_IN_FLIGHT)
        self.assertStillServing()

    def test_direct_reply_to_publisher_is_paused_by_an_unread_requester(self):
        requester = self.track(raw.RawConnection(self.broker.port, rcvbuf=16384))
        requester.handshake(heartbeat=0)
        requester.open_channel(1)
        requester.send_method(1, raw.BASIC_CONSUME,
                              raw.basic_consume_args("amq.rabbitmq.reply-to", "r", no_ack=True))
        requester.expect_method(raw.BASIC_CONSUME_OK, channel=1)
        # Learn the reply address: publish a request with reply_to to a queue.
        ch = self.channel()
        ch.queue_declare("requests")
        requester.send(raw.method_frame(1, raw.BASIC_PUBLISH,
                                        raw.basic_publish_args("", "requests"))
                       + raw.header_frame(1, 3, flags=1 << 9,
                                          props=raw.shortstr("amq.rabbitmq.reply-to"))
                       + raw.body_frame(1, b"req"))
        deadline = time.monotonic() + 5
        while True:
            m, props, body = ch.basic_get("requests", auto_ack=True)
            if m:
                break
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        base = rss(self.broker.proc.pid)
        # The replier floods 150 MiB of replies; it is paused once the
        # requester's output is full, so its publishes stop being read.
        import socket
        rep = self.track(raw.RawConnection(self.broker.port))
        rep.handshake(heartbeat=0)
        rep.open_channel(1)
        rep.sock.setblocking(False)
        frames = raw.publish_frames(1, "", props.reply_to, b"r" * MIB)
        sent = 0
        buf = frames * 150
        stalled_since = None
        # Send until the broker has taken nothing for 1.5 s.
        while sent < len(buf):
            try:
                sent += rep.sock.send(buf[sent:sent + (1 << 16)])
                stalled_since = None
            except (BlockingIOError, socket.timeout):
                stalled_since = stalled_since or time.monotonic()
                if time.monotonic() - stalled_since > 1.5:
                    break
                time.sleep(0.05)
        self.assertLess(sent, len(buf) // 2, "the broker kept reading the replier")
        if not SETTINGS["sanitized"]:
            grown = rss(self.broker.proc.pid) - base
            self.assertLess(grown, (MAX_IN_FLIGHT + 24) * MIB, "grew by %.1f MiB" % (grown / MIB))
        states = {c["state"] for c in self.api("GET", "connections")}
        self.assertIn("flow", states)
        self.assertStillServing()
