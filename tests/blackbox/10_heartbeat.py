# SPDX-License-Identifier: MIT
"""10 heartbeat: heartbeat negotiation, the broker's heartbeat frames, and dropping
clients that fall silent.

RabbitMQ uses the client's tune-ok heartbeat verbatim (0 disables heartbeats), sends
a heartbeat frame when it has sent nothing for half the interval, and drops a client
from which nothing (any byte counts) has arrived for 2 to 3 intervals, closing the
socket without a connection.close (rabbit_heartbeat.erl, rabbit_reader.erl).
"""

import time

import pika

import raw
from harness import BrokerTestCase, pika_params
from mgmtkit import call


def pump(conn, seconds, send_every=None, payload=None):
    """For `seconds`, sends `payload` (default a heartbeat frame) every `send_every`
    seconds and collects everything the broker sends. Returns [(t, frame)] with t
    relative to the start; raises raw.Closed if the broker closes the socket."""
    t0 = time.monotonic()
    next_send = t0
    got = []
    while True:
        now = time.monotonic()
        if now - t0 >= seconds:
            return got
        if send_every is not None and now >= next_send:
            conn.send(payload if payload is not None else raw.heartbeat_frame())
            next_send = now + send_every
        wait = min(t0 + seconds, next_send if send_every is not None else t0 + seconds) - now
        try:
            f = conn.recv_frame(max(0.01, wait))
            got.append((time.monotonic() - t0, f))
        except raw.Timeout:
            pass


class Heartbeats(BrokerTestCase):
    def test_broker_sends_heartbeats_at_the_negotiated_interval(self):
        # The server proposes 60 s; the client's 1 s wins.
        c = self.raw()
        r = c.handshake(heartbeat=1)
        self.assertEqual(r["tune"]["heartbeat"], 60)
        got = pump(c, 3.5, send_every=0.4)
        beats = [t for t, f in got if f.type == raw.FRAME_HEARTBEAT]
        others = [f for t, f in got if f.type != raw.FRAME_HEARTBEAT]
        self.assertEqual(others, [])
        for t, f in got:
            self.assertEqual((f.channel, f.payload), (0, b""))
        self.assertGreaterEqual(len(beats), 2, "heartbeats seen at %r" % beats)
        gaps = [b - a for a, b in zip([0.0] + beats, beats)]
        self.assertLessEqual(max(gaps), 1.5, "heartbeats seen at %r" % beats)

    def test_silent_client_is_dropped_after_two_to_three_intervals(self):
        c = self.raw()
        c.handshake(heartbeat=1)
        t0 = time.monotonic()
        c.expect_eof(6.0)  # heartbeat frames allowed, nothing else
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 1.5, "dropped too early")
        self.assertLessEqual(elapsed, 4.0, "dropped too late")

    def test_client_sending_heartbeats_stays_connected(self):
        c = self.raw()
        c.handshake(heartbeat=1)
        pump(c, 5.0, send_every=0.5)
        c.open_channel(1)

    def test_any_frame_counts_as_liveness(self):
        c = self.raw()
        c.handshake(heartbeat=1)
        c.open_channel(1)
        flow = raw.method_frame(1, raw.CHANNEL_FLOW, raw.flow_args(True))
        got = pump(c, 4.0, send_every=0.5, payload=flow)
        self.assertTrue(any(f.method_id == raw.CHANNEL_FLOW_OK for _, f in got))
        c.close_channel(1)



class HalfOpen(BrokerTestCase):
    """A peer that vanished without a FIN (simulated: a client that stops reading
    and sending after negotiating heartbeats) is dropped by the heartbeat
    timeout, also when the broker has stopped reading it because its output is
    full (RabbitMQ keeps reading while its writer is stuck, so it sees the
    missing heartbeats; Leveret counts output taken or input waiting as
    liveness then). A connection blocked by a resource alarm is not dropped:
    RabbitMQ pauses its heartbeat monitor while blocked."""

    def connections(self):
        r = call(self.broker.mgmt_port, "GET", "/api/connections")
        return r.json

    def wait_gone(self, name, timeout):
        t0 = time.monotonic()
        while any(c["name"] == name for c in self.connections()):
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(0.1)
        return time.monotonic() - t0

    def test_partial_frame_then_silence_is_dropped(self):
        c = self.raw()
        c.handshake(heartbeat=1)
        c.open_channel(1)
        frame = raw.method_frame(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.send(frame[:5])
        t0 = time.monotonic()
        c.expect_eof(6.0)
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)

    def test_half_open_consumer_with_deliveries_pending_is_dropped(self):
        c = self.track(raw.RawConnection(self.broker.port, rcvbuf=16384))
        c.handshake(heartbeat=1)
        c.open_channel(1)
        c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q", "gone"))
        c.expect_method(raw.BASIC_CONSUME_OK, channel=1)
        [name] = [x["name"] for x in self.connections()]
        # From here on the client neither reads nor sends. 20 MiB of deliveries
        # fill its socket and the broker's output above the high-water mark.
        pub = pika.BlockingConnection(pika_params(self.broker, heartbeat=0))
        self.track(pub)
        ch = pub.channel()
        for _ in range(20):
            ch.basic_publish("", "q", b"x" * (1 << 20))
        elapsed = self.wait_gone(name, 8.0)
        self.assertIsNotNone(elapsed, "the half-open consumer was not dropped")
        # Its unacknowledged deliveries went back to the queue.
        deadline = time.monotonic() + 5
        while ch.queue_declare("q", passive=True).method.message_count != 20:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.1)
        self.assertIn("missed heartbeats", self.broker.read_stderr())

    def test_connection_blocked_by_an_alarm_is_not_dropped(self):
        c = self.raw()
        c.handshake(heartbeat=1)
        c.open_channel(1)
        node = call(self.broker.mgmt_port, "GET", "/api/nodes").json[0]["name"]
        path = "/api/nodes/%s/memory-high-watermark" % node
        self.assertEqual(call(self.broker.mgmt_port, "PUT", path, {"absolute": 1}).status, 204)
        c.send(raw.publish_frames(1, "", "nowhere", b"x"))
        c.expect_method((10, 60), channel=0)
        # Silent for 4 heartbeat intervals while blocked: still there.
        time.sleep(4.0)
        self.assertEqual(len(self.connections()), 1)
        self.assertEqual(call(self.broker.mgmt_port, "PUT", path, {"relative": 0.4}).status,
                         204)
        c.expect_method((10, 61), channel=0)
        c.send_heartbeat()
        c.open_channel(2)

    def test_blocked_connection_past_its_heartbeat_deadline_does_not_spin(self):
        # Past two silent intervals the heartbeat check is suspended while
        # blocked; the timer must then wait, not fire again at once (the
        # event loop's thread would wake ~1000 times a second).
        c = self.raw()
        c.handshake(heartbeat=1)
        c.open_channel(1)
        node = call(self.broker.mgmt_port, "GET", "/api/nodes").json[0]["name"]
        path = "/api/nodes/%s/memory-high-watermark" % node
        self.assertEqual(call(self.broker.mgmt_port, "PUT", path, {"absolute": 1}).status, 204)
        c.send(raw.publish_frames(1, "", "nowhere", b"x"))
        c.expect_method((10, 60), channel=0)
        time.sleep(3.0)  # past last_rx + 2 heartbeats

        def switches():
            # /proc/PID/status describes the main thread, which runs the loop.
            with open("/proc/%d/status" % self.broker.proc.pid) as f:
                return sum(int(line.split()[1]) for line in f
                           if line.startswith(("voluntary_ctxt", "nonvoluntary_ctxt")))

        before = switches()
        time.sleep(2.0)
        woke = switches() - before
        # Idle, the loop wakes for the memory monitor (4/s), heartbeats and
        # the management API's polls: a few dozen times in 2 s.
        self.assertLess(woke, 200, "the event loop woke %d times in 2 s" % woke)
        self.assertEqual(call(self.broker.mgmt_port, "PUT", path, {"relative": 0.4}).status,
                         204)
        c.expect_method((10, 61), channel=0)


class ServerHeartbeatOneSecond(BrokerTestCase):
    CONFIG = {"limits": {"heartbeat": 1}}

    def test_client_heartbeat_larger_than_servers_is_used(self):
        # The client's value wins even when it is larger than the server's: with 1 s the
        # client would be dropped within 3 s, with 3 s it survives 4 s of silence.
        c = self.raw()
        r = c.handshake(heartbeat=3)
        self.assertEqual(r["tune"]["heartbeat"], 1)
        got = pump(c, 4.0)
        self.assertEqual([f for _, f in got if f.type != raw.FRAME_HEARTBEAT], [])
        c.open_channel(1)

    def test_heartbeat_zero_disables_heartbeats(self):
        c = self.raw()
        r = c.handshake(heartbeat=0)
        self.assertEqual(r["tune"]["heartbeat"], 1)
        got = pump(c, 3.5)
        self.assertEqual(got, [], "no heartbeat may arrive once the client chose 0")
        c.open_channel(1)
