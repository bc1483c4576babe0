# SPDX-License-Identifier: MIT
"""58 memory alarm: the memory high watermark (limits.vm_memory_high_watermark,
limits.vm_memory_high_watermark_absolute) blocks publishers with
connection.blocked and lets consumers drain; pika's blocked and unblocked callbacks.

RabbitMQ facts this follows (rabbit_reader.erl, rabbit_alarm.erl, docs alarms.md,
connection-blocked.md, memory.md; checked with the search tool):
- a connection is blocked when it publishes while an alarm is raised
  (publish_received/control_throttle), not when the alarm is raised: one that
  only consumes and acks keeps being read ("blocking" state in the management
  API), one that publishes is no longer read at all ("blocked"), acks included;
- connection.blocked goes only to clients whose client-properties capabilities
  have connection.blocked = true, with reason "low on memory" ("low on disk",
  "low on memory & disk" when both; blocked_by_message); a second alarm raised
  while blocked sends no second connection.blocked; connection.unblocked follows
  when every alarm has cleared;
- the alarm is raised when used memory exceeds the watermark (0.4 of RAM by
  default until RabbitMQ 4.0, which moved to 0.6); vm_memory_calculation_strategy
  rss measures the resident set;
- /api/nodes reports mem_used, mem_limit, mem_alarm, disk_free_alarm;
  /api/health/checks/alarms answers 503 {"status":"failed","reason":"There are
  alarms in effect in the cluster","alarms":[{"resource":"memory","node":..}]}.

PUT /api/nodes/{node}/memory-high-watermark is ours (rabbitmqctl
set_vm_memory_high_watermark is RabbitMQ's way): with {"absolute": 1} the alarm
goes off at once and {"relative": 0.4} clears it, which makes these tests
deterministic; one test also raises the alarm with real memory growth.
"""

import base64
import time

import pika
import pika.exceptions

import raw
from harness import SETTINGS
from mgmtkit import call
from pikakit import PikaTestCase

MEMORY_ALARM_WITHIN = 2.0  # the monitor samples every 0.25 s


class AlarmCase(PikaTestCase):
    def tearDown(self):
        # A blocked connection is not read from, so its connection.close would
        # wait for the alarm to clear (as on RabbitMQ): clear it first.
        try:
            self.set_watermark(relative=0.4)
        except Exception:
            pass
        super().tearDown()

    def api(self, method, path, body=None):
        return call(self.broker.mgmt_port, method, "/api/" + path, body)

    def node(self):
        r = self.api("GET", "nodes")
        self.assertEqual(r.status, 200, r.raw)
        return r.json[0]

    def set_watermark(self, **body):
        r = self.api("PUT", "nodes/%s/memory-high-watermark" % self.node()["name"], body)
        self.assertEqual(r.status, 204, r.raw)

    def raise_alarm(self):
        self.set_watermark(absolute=1)
        self.assertTrue(self.node()["mem_alarm"])

    def clear_alarm(self):
        self.set_watermark(relative=0.4)
        self.assertFalse(self.node()["mem_alarm"])

    def watched(self, **kw):
        """A pika connection whose blocked/unblocked notifications land in lists."""
        conn = self.connect(**kw)
        conn.blocked, conn.unblocked = [], []
        conn.add_on_connection_blocked_callback(
            lambda c, m: conn.blocked.append(m.method.reason))
        conn.add_on_connection_unblocked_callback(lambda c, m: conn.unblocked.append(True))
        return conn

    def conn_states(self):
        return {c["client_properties"].get("connection_name", c["name"]): c["state"]
                for c in self.api("GET", "connections").json}


class Blocking(AlarmCase):
    def test_pika_blocked_callback_fires_and_unblocked_after(self):
        pub = self.watched()
        ch = pub.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"before")
        self.raise_alarm()
        # Nothing is sent before the connection publishes again.
        self.pump(pub, 0.3)
        self.assertEqual(pub.blocked, [])
        ch.basic_publish("", "q", b"first")
        self.assertTrue(self.pump_until(pub, lambda: pub.blocked, 5.0), "no connection.blocked")
        self.assertEqual(pub.blocked, ["low on memory"])
        # The publish that blocked the connection was taken; the next is not read.
        ch.basic_publish("", "q", b"second")
        self.pump(pub, 0.5)
        self.assertEqual(self.message_count("q"), 2)
        self.assertEqual(pub.unblocked, [])
        self.clear_alarm()
        self.assertTrue(self.pump_until(pub, lambda: pub.unblocked, 5.0),
                        "no connection.unblocked")
        self.assertEqual(pub.blocked, ["low on memory"], "blocked is sent once")
        self.pump(pub, 0.2)
        self.assertEqual(self.bodies(self.channel(), "q"), [b"before", b"first", b"second"])

    def test_blocked_publisher_is_blocked_then_running_in_the_api(self):
        pub = self.watched(client_properties={"connection_name": "pub"})
        other = self.connect(client_properties={"connection_name": "other"})
        other.channel()
        ch = pub.channel()
        self.raise_alarm()
        self.assertEqual(self.conn_states(), {"pub": "blocking", "other": "blocking"})
        ch.basic_publish("", "nowhere", b"x")
        self.assertTrue(self.pump_until(pub, lambda: pub.blocked, 5.0))
        self.assertEqual(self.conn_states(), {"pub": "blocked", "other": "blocking"})
        self.clear_alarm()
        self.assertTrue(self.pump_until(pub, lambda: pub.unblocked, 5.0))
        self.assertEqual(self.conn_states(), {"pub": "running", "other": "running"})

    def test_consumers_keep_draining_while_publishers_are_blocked(self):
        pub = self.watched()
        pch = pub.channel()
        pch.queue_declare("q")
        for i in range(100):
            pch.basic_publish("", "q", b"m%d" % i)
        self.assertEqual(self.message_count("q"), 100)
        self.raise_alarm()
        pch.basic_publish("", "q", b"late")
        self.assertTrue(self.pump_until(pub, lambda: pub.blocked, 5.0))
        # A connection that does not publish consumes and acknowledges everything.
        cons = self.connect()
        cch = cons.channel()
        cch.basic_qos(prefetch_count=10)
        got = []

        def on_msg(ch, method, props, body):
            got.append(body)
            ch.basic_ack(method.delivery_tag)
        cch.basic_consume("q", on_msg)
        self.assertTrue(self.pump_until(cons, lambda: len(got) >= 101, 10.0), len(got))
        self.assertEqual(got, [b"m%d" % i for i in range(100)] + [b"late"])
        self.assertEqual(self.message_count("q"), 0)
        self.assertEqual(pub.unblocked, [])

    def test_a_connection_that_published_before_the_alarm_still_acks(self):
        # RabbitMQ blocks a connection when it publishes during the alarm, so
        # a connection that published earlier and now only consumes keeps going.
        conn = self.watched()
        ch = conn.channel()
        ch.queue_declare("q")
        for i in range(5):
            ch.basic_publish("", "q", b"m%d" % i)
        self.raise_alarm()
        got = []
        ch.basic_consume("q", lambda c, m, p, b: (got.append(b), c.basic_ack(m.delivery_tag)))
        self.assertTrue(self.pump_until(conn, lambda: len(got) == 5, 5.0), got)
        self.pump(conn, 0.3)
        self.assertEqual(self.message_count("q"), 0, "the acks were read")
        self.assertEqual(conn.blocked, [])
        # Publishing again blocks it: then not even its acks are read.
        ch.basic_publish("", "q", b"again")
        self.assertTrue(self.pump_until(conn, lambda: conn.blocked, 5.0))
        self.assertTrue(self.pump_until(conn, lambda: len(got) == 6, 5.0))
        self.pump(conn, 0.3)
        q = self.api("GET", "queues/%2F/q").json
        self.assertEqual(q["messages_unacknowledged"], 1, "the ack was not read while blocked")
        self.clear_alarm()
        self.assertTrue(self.pump_until(conn, lambda: conn.unblocked, 5.0))
        self.pump(conn, 0.3)
        self.assertEqual(self.api("GET", "queues/%2F/q").json["messages"], 0)

    def test_new_connections_open_and_declare_during_the_alarm(self):
        self.raise_alarm()
        ch = self.channel()
        ch.queue_declare("q")
        ch.exchange_declare("x", "fanout")
        ch.queue_bind("q", "x")
        self.assertEqual(ch.basic_get("q", auto_ack=True), (None, None, None))


class RawNotifications(AlarmCase):
    def test_connection_blocked_frame_carries_rabbitmqs_reason(self):
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        self.raise_alarm()
        c.send(raw.publish_frames(1, "", "nowhere", b"x"))
        f = c.expect_method((10, 60), channel=0)
        self.assertEqual(f.args().shortstr(), "low on memory")
        # Not read while blocked: a channel.flow gets no answer.
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(True))
        with self.assertRaises(raw.Timeout):
            c.recv_method(timeout=0.5)
        self.clear_alarm()
        c.expect_method((10, 61), channel=0)
        c.expect_method(raw.CHANNEL_FLOW_OK, channel=1)

    def test_no_notification_without_the_capability(self):
        c = self.opened(heartbeat=0, client_properties=raw.default_client_properties(False))
        c.open_channel(1)
        self.raise_alarm()
        c.send(raw.publish_frames(1, "", "nowhere", b"x"))
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(True))
        # Blocked all the same: nothing comes back, not even flow-ok.
        with self.assertRaises(raw.Timeout):
            c.recv_method(timeout=0.5)
        self.clear_alarm()
        f = c.recv_method(timeout=5.0)
        self.assertEqual(f.method_id, raw.CHANNEL_FLOW_OK, "no connection.unblocked either")

    def test_frames_after_the_blocking_publish_wait_even_in_the_same_read(self):
        # RabbitMQ stops handling a connection's input at the publish that
        # blocks it; what followed in the same TCP segment waits for the clear.
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        self.raise_alarm()
        c.send(raw.publish_frames(1, "", "q", b"one") + raw.publish_frames(1, "", "q", b"two")
               + raw.method_frame(1, raw.CHANNEL_FLOW, raw.flow_args(True)))
        c.expect_method((10, 60), channel=0)
        with self.assertRaises(raw.Timeout):
            c.recv_method(timeout=0.5)
        self.assertEqual(self.api("GET", "queues/%2F/q").json["messages"], 1)
        self.clear_alarm()
        c.expect_method((10, 61), channel=0)
        c.expect_method(raw.CHANNEL_FLOW_OK, channel=1)
        self.assertEqual(self.api("GET", "queues/%2F/q").json["messages"], 2)

    def test_input_kept_back_ending_inside_a_body_frame_goes_on_after_the_clear(self):
        # The kept-back input ends inside the next message's body frame; the
        # rest of that frame arrives while blocked (and waits in the socket),
        # its last byte and end octet separately. After the clear the message
        # is whole.
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        self.raise_alarm()
        body = bytes(range(256)) * 20
        second = raw.publish_frames(1, "", "q", body)
        cut = len(second) - 3000
        c.send(raw.publish_frames(1, "", "q", b"one") + second[:cut])
        c.expect_method((10, 60), channel=0)
        time.sleep(0.2)
        c.send(second[cut:-2])
        time.sleep(0.2)
        c.send(second[-2:-1])
        time.sleep(0.2)
        c.send(second[-1:])
        self.assertEqual(self.api("GET", "queues/%2F/q").json["messages"], 1)
        self.clear_alarm()
        c.expect_method((10, 61), channel=0)
        deadline = time.monotonic() + 5
        while self.api("GET", "queues/%2F/q").json["messages"] != 2:
            self.assertLess(time.monotonic(), deadline)
            time.sleep(0.05)
        r = self.api("POST", "queues/%2F/q/get",
                     {"count": 2, "ackmode": "ack_requeue_false", "encoding": "base64"})
        self.assertEqual(r.status, 200, r.raw)
        self.assertEqual([base64.b64decode(m["payload"]) for m in r.json], [b"one", body])


class BothAlarms(AlarmCase):
    # Far above any real free space: the disk alarm goes off at the first measurement.
    CONFIG = {"limits": {"disk_free_limit": 1 << 50}}

    def wait_disk_alarm(self):
        deadline = time.monotonic() + 5.0
        while not self.node()["disk_free_alarm"]:
            self.assertLess(time.monotonic(), deadline, "no disk alarm within 5 s")
            time.sleep(0.05)

    def test_reason_names_both_and_clearing_one_does_not_unblock(self):
        self.wait_disk_alarm()
        self.raise_alarm()
        r = self.api("GET", "health/checks/alarms")
        self.assertEqual(r.status, 503)
        self.assertEqual(sorted(a["resource"] for a in r.json["alarms"]), ["disk space", "memory"])
        # pika drops a connection blocked this long: the disk alarm never clears here.
        pub = self.watched(blocked_connection_timeout=3)
        ch = pub.channel()
        ch.basic_publish("", "nowhere", b"x")
        self.assertTrue(self.pump_until(pub, lambda: pub.blocked, 5.0))
        self.assertEqual(pub.blocked, ["low on memory & disk"])
        self.clear_alarm()
        self.pump(pub, 1.0)
        self.assertEqual(pub.unblocked, [], "the disk alarm still holds")
        self.assertEqual(list(self.conn_states().values()), ["blocked"])
        with self.assertRaises(pika.exceptions.AMQPConnectionError):
            self.pump(pub, 5.0)


class Management(AlarmCase):
    def test_nodes_report_mem_used_limit_and_alarm(self):
        n = self.node()
        self.assertGreater(n["mem_used"], 1 << 20)
        self.assertEqual(n["mem_calculation_strategy"], "rss")
        self.assertFalse(n["mem_alarm"])
        self.assertFalse(n["disk_free_alarm"])
        # The default: 0.4 of the memory available.
        total = n["total_memory_available"]
        self.assertAlmostEqual(n["mem_limit"], int(total * 0.4), delta=1)
        self.assertEqual(n["vm_memory_high_watermark"], {"relative": 0.4})
        self.assertEqual(self.api("GET", "health/checks/alarms").json, {"status": "ok"})
        self.raise_alarm()
        n = self.node()
        self.assertEqual((n["mem_limit"], n["mem_alarm"]), (1, True))
        r = self.api("GET", "health/checks/alarms")
        self.assertEqual(r.status, 503)
        self.assertEqual(r.json, {"status": "failed",
                                  "reason": "There are alarms in effect in the cluster",
                                  "alarms": [{"resource": "memory", "node": n["name"]}]})
        r = self.api("GET", "health/checks/local-alarms")
        self.assertEqual((r.status, r.json["reason"]),
                         (503, "There are alarms in effect on the node"))
        self.clear_alarm()
        self.assertEqual(self.api("GET", "health/checks/alarms").status, 200)

    def test_prometheus_reports_the_watermark_and_alarms(self):
        from prometheus_client.parser import text_string_to_metric_families

        def metrics():
            r = call(self.broker.mgmt_port, "GET", "/metrics")
            self.assertEqual(r.status, 200)
            return {f.name: f.samples[0].value
                    for f in text_string_to_metric_families(r.raw.decode()) if f.samples}
        m = metrics()
        self.assertEqual(m["rabbitmq_resident_memory_limit_bytes"], self.node()["mem_limit"])
        self.assertEqual(m["rabbitmq_alarms_memory_used_watermark"], 0)
        self.assertEqual(m["rabbitmq_alarms_free_disk_space_watermark"], 0)
        self.assertEqual(m["rabbitmq_disk_space_available_limit_bytes"], 50000000)
        self.assertGreater(m["rabbitmq_disk_space_available_bytes"], 0)
        self.raise_alarm()
        m = metrics()
        self.assertEqual((m["rabbitmq_alarms_memory_used_watermark"],
                          m["rabbitmq_resident_memory_limit_bytes"]), (1, 1))

    def test_watermark_endpoint_validates_and_needs_an_administrator(self):
        name = self.node()["name"]
        path = "nodes/%s/memory-high-watermark" % name
        w = self.api("GET", path).json
        self.assertEqual(w["relative"], 0.4)
        for body in ({}, {"relative": 1.5}, {"relative": -0.1}, {"absolute": 0},
                     {"absolute": "1GB"}, {"relative": 0.5, "absolute": 100}):
            self.assertEqual(self.api("PUT", path, body).status, 400, body)
        self.assertEqual(self.api("PUT", "nodes/nope/memory-high-watermark",
                                  {"relative": 0.5}).status, 404)
        r = self.api("PUT", "users/mon", {"password": "p", "tags": "monitoring"})
        self.assertIn(r.status, (201, 204))
        r = call(self.broker.mgmt_port, "PUT", "/api/" + path, {"relative": 0.1},
                 user="mon", password="p")
        self.assertEqual(r.status, 401)
        self.set_watermark(absolute=123456789)
        self.assertEqual(self.api("GET", path).json["absolute"], 123456789)
        self.assertEqual(self.node()["mem_limit"], 123456789)


class ConfiguredAbsolute(AlarmCase):
    # A watermark below any real RSS: the alarm is raised at start.
    CONFIG = {"limits": {"vm_memory_high_watermark_absolute": 1048576}}

    def test_tiny_absolute_watermark_blocks_the_first_publish(self):
        n = self.node()
        self.assertEqual((n["mem_limit"], n["mem_alarm"]), (1048576, True))
        self.assertEqual(n["vm_memory_high_watermark"], {"absolute": 1048576})
        pub = self.watched()
        pub.channel().basic_publish("", "nowhere", b"x")
        self.assertTrue(self.pump_until(pub, lambda: pub.blocked, 5.0))
        self.assertEqual(pub.blocked, ["low on memory"])
        self.assertIn("memory resource limit alarm set", self.broker.read_stderr())


class ConfiguredRelative(AlarmCase):
    CONFIG = {"limits": {"vm_memory_high_watermark": 0.25}}

    def test_relative_watermark_is_a_fraction_of_available_memory(self):
        n = self.node()
        self.assertAlmostEqual(n["mem_limit"], int(n["total_memory_available"] * 0.25), delta=1)
        self.assertFalse(n["mem_alarm"])


class RealGrowth(AlarmCase):
    # Paging would keep the queued bodies out of memory (72_paging): a budget
    # far above the watermark lets them grow the broker as this test needs.
    CONFIG = {"limits": {"memory_budget": 1 << 40}}

    def test_queued_messages_raise_the_alarm_and_purging_clears_it(self):
        # The watermark 48 MiB above what the broker uses now; 96 MiB of
        # messages held in a queue must cross it.
        base = self.node()["mem_used"]
        self.set_watermark(absolute=base + (48 << 20))
        self.assertFalse(self.node()["mem_alarm"])
        pub = self.watched()
        ch = pub.channel()
        ch.queue_declare("q")
        # 16 KiB bodies come from the heap, not from mmap (glibc's threshold is
        # 128 KiB), so what purging frees is handed back by malloc_trim.
        body = b"x" * (16 << 10)
        # pika's basic_publish waits until its bytes are in the socket, so a
        # large message sent to a broker that stopped reading would hang: look
        # at the alarm between publishes, and once it is raised publish a small
        # message (the one that gets the connection blocked).
        for i in range(96 * 64):
            if i % 64 == 0 and self.node()["mem_alarm"]:
                break
            ch.basic_publish("", "q", body)
        deadline = time.monotonic() + 5.0
        while not self.node()["mem_alarm"] and time.monotonic() < deadline:
            time.sleep(0.05)
        ch.basic_publish("", "q", b"small")
        self.assertTrue(self.pump_until(pub, lambda: pub.blocked, 10.0),
                        "no connection.blocked: %r" % self.node())
        self.assertTrue(self.node()["mem_alarm"])
        self.assertIn("memory resource limit alarm set", self.broker.read_stderr())
        if SETTINGS["sanitized"]:
            return  # ASan's allocator keeps freed memory in quarantine: RSS stays up
        # Purging frees the bodies; the monitor trims the heap and the alarm clears.
        r = self.api("DELETE", "queues/%2F/q/contents")
        self.assertEqual(r.status, 204, r.raw)
        self.assertTrue(self.pump_until(pub, lambda: pub.unblocked, 10.0),
                        "alarm not cleared: %r" % self.node())
        self.assertFalse(self.node()["mem_alarm"])
