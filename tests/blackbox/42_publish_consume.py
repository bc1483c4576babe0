# SPDX-License-Identifier: MIT
"""42 publish and consume (pika, raw client where pika cannot express a case):
basic.consume/cancel, consumer tags, exclusive consumers, round-robin, consumer
priorities, mandatory returns, immediate, properties, CC/BCC, large messages.

Texts are RabbitMQ's (rabbit_channel.erl; checked against RabbitMQ 3.10 with
run.py --rabbitmq).
"""

import datetime
import os

import pika
import pika.exceptions

import raw
from pikakit import Collector, PikaTestCase


class Consume(PikaTestCase):
    def raw_channel(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        return c

    def test_server_generates_amq_ctag_tag(self):
        self.channel().queue_declare("q")
        c = self.raw_channel()
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q"))
        tag = c.expect_method(raw.BASIC_CONSUME_OK, channel=1).args().shortstr()
        self.assertRegex(tag, r"^amq\.ctag-[A-Za-z0-9_-]{22}$")
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q"))
        tag2 = c.expect_method(raw.BASIC_CONSUME_OK, channel=1).args().shortstr()
        self.assertNotEqual(tag, tag2)

    def test_duplicate_consumer_tag_on_a_channel_is_530(self):
        self.channel().queue_declare("q")
        c = self.raw_channel()
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q", "dup"))
        c.expect_method(raw.BASIC_CONSUME_OK, channel=1)
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q", "dup"))
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual(text, "NOT_ALLOWED - attempt to reuse consumer tag 'dup'")
        self.assertEqual((cls, mth), raw.BASIC_CONSUME)

    def test_same_consumer_tag_on_two_channels_is_fine(self):
        conn = self.connect()
        a, b = conn.channel(), conn.channel()
        a.queue_declare("q")
        a.basic_consume("q", lambda *x: None, consumer_tag="same")
        b.basic_consume("q", lambda *x: None, consumer_tag="same")

    def test_consume_from_missing_queue_is_404(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no queue 'nope' in vhost '/'",
                                ch.basic_consume, "nope", lambda *a: None)

    def test_exclusive_consumer_keeps_others_out(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.basic_consume("q", lambda *a: None, exclusive=True)
        other = self.channel()
        self.assertChannelError(403, "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use",
                                other.basic_consume, "q", lambda *a: None)

    def test_exclusive_consume_on_queue_with_consumers_is_403(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.basic_consume("q", lambda *a: None)
        other = self.channel()
        self.assertChannelError(403, "ACCESS_REFUSED - queue 'q' in vhost '/' in exclusive use",
                                other.basic_consume, "q", lambda *a: None, exclusive=True)

    def test_deliver_carries_tag_exchange_key_and_increasing_delivery_tags(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        ch.queue_bind("q", "amq.direct", "rk")
        got = Collector()
        tag = ch.basic_consume("q", got, auto_ack=True)
        for i in range(3):
            ch.basic_publish("amq.direct", "rk", b"%d" % i)
        items = self.consume_n(conn, got, 3)
        self.assertEqual([m.delivery_tag for m, _, _ in items], [1, 2, 3])
        for m, _, _ in items:
            self.assertEqual((m.consumer_tag, m.exchange, m.routing_key, m.redelivered),
                             (tag, "amq.direct", "rk", False))
        self.assertEqual(got.bodies, [b"0", b"1", b"2"])

    def test_messages_published_before_consume_are_delivered_in_order(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        for i in range(20):
            ch.basic_publish("", "q", b"%d" % i)
        got = Collector(ack=True)
        ch.basic_consume("q", got)
        self.consume_n(conn, got, 20)
        self.assertEqual(got.bodies, [b"%d" % i for i in range(20)])

    def test_two_consumers_get_messages_round_robin(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        got = []
        ch.basic_consume("q", lambda c, m, p, b: got.append(("a", b)), auto_ack=True)
        ch.basic_consume("q", lambda c, m, p, b: got.append(("b", b)), auto_ack=True)
        for i in range(6):
            ch.basic_publish("", "q", b"%d" % i)
        self.assertTrue(self.pump_until(conn, lambda: len(got) == 6))
        who = [w for w, _ in got]
        self.assertEqual(sorted(b for _, b in got), [b"%d" % i for i in range(6)])
        self.assertEqual(who.count("a"), 3, got)
        self.assertTrue(all(who[i] != who[i + 1] for i in range(5)), got)

    def test_higher_priority_consumer_gets_everything_it_can_take(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        low, high = Collector(), Collector()
        ch.basic_consume("q", low, auto_ack=True, arguments={"x-priority": 1})
        ch.basic_consume("q", high, auto_ack=True, arguments={"x-priority": 10})
        for i in range(10):
            ch.basic_publish("", "q", b"%d" % i)
        self.consume_n(conn, high, 10)
        self.pump(conn, 0.2)
        self.assertEqual(low.bodies, [])

    def test_lower_priority_consumer_gets_messages_when_higher_is_at_prefetch(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        ch.basic_qos(prefetch_count=2)
        low, high = Collector(), Collector()
        ch.basic_consume("q", high, arguments={"x-priority": 5})
        ch.basic_consume("q", low, arguments={"x-priority": -5})
        for i in range(5):
            ch.basic_publish("", "q", b"%d" % i)
        self.consume_n(conn, high, 2)
        self.consume_n(conn, low, 2)
        self.assertEqual(high.bodies, [b"0", b"1"])
        self.assertEqual(low.bodies, [b"2", b"3"])
        ch.basic_ack(high.methods[0].delivery_tag)
        self.consume_n(conn, high, 3)
        self.assertEqual(high.bodies[2], b"4")

    def test_cancel_stops_deliveries(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        got = Collector()
        tag = ch.basic_consume("q", got, auto_ack=True)
        ch.basic_publish("", "q", b"1")
        self.consume_n(conn, got, 1)
        ch.basic_cancel(tag)
        ch.basic_publish("", "q", b"2")
        self.pump(conn, 0.2)
        self.assertEqual(got.bodies, [b"1"])
        self.assertEqual(self.bodies(ch, "q"), [b"2"])

    def test_cancel_of_unknown_tag_gets_cancel_ok(self):
        c = self.raw_channel()
        c.send_method(1, (60, 30), raw.shortstr("never") + raw.bits(False))
        f = c.expect_method((60, 31), channel=1)
        self.assertEqual(f.args().shortstr(), "never")


class Publish(PikaTestCase):
    def test_mandatory_unroutable_is_returned_312_no_route(self):
        conn = self.connect()
        ch = conn.channel()
        ch.exchange_declare("x", "direct")
        returned = []
        ch.add_on_return_callback(lambda c, m, p, b: returned.append((m, p, b)))
        ch.basic_publish("x", "nobody", b"back", pika.BasicProperties(message_id="m1"),
                         mandatory=True)
        self.assertTrue(self.pump_until(conn, lambda: returned))
        m, p, b = returned[0]
        self.assertEqual((m.reply_code, m.reply_text, m.exchange, m.routing_key),
                         (312, "NO_ROUTE", "x", "nobody"))
        self.assertEqual((p.message_id, b), ("m1", b"back"))

    def test_unroutable_without_mandatory_is_dropped_silently(self):
        conn = self.connect()
        ch = conn.channel()
        returned = []
        ch.add_on_return_callback(lambda *a: returned.append(a))
        ch.basic_publish("", "no-such-queue", b"lost")
        ch.basic_publish("amq.direct", "nobody", b"lost")
        self.pump(conn, 0.2)
        self.assertEqual(returned, [])
        self.assertTrue(ch.is_open)

    def test_immediate_is_540(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        c.send(raw.publish_frames(1, "", "q", b"x", immediate=True))
        code, text, cls, mth = c.expect_connection_close(raw.NOT_IMPLEMENTED)
        self.assertEqual(text, "NOT_IMPLEMENTED - immediate=true")
        self.assertEqual((cls, mth), raw.BASIC_PUBLISH)

    def test_all_properties_round_trip(self):
        ch = self.channel()
        ch.queue_declare("q")
        ts = 1700000000
        props = pika.BasicProperties(
            content_type="application/json", content_encoding="gzip",
            headers={"s": "str", "i": 42, "neg": -7, "big": 2 ** 40, "f": True,
                     "list": [1, "two"], "tbl": {"k": "v"}, "none": None,
                     "bytes": b"\x00\xff", "ts": datetime.datetime.utcfromtimestamp(ts)},
            delivery_mode=2, priority=3, correlation_id="corr", reply_to="rq",
            expiration="60000", message_id="mid", timestamp=ts, type="kind",
            user_id="guest", app_id="app", cluster_id="")
        ch.basic_publish("", "q", b"body", props)
        m, p, b = ch.basic_get("q", auto_ack=True)
        self.assertEqual(b, b"body")
        for attr in ("content_type", "content_encoding", "delivery_mode", "priority",
                     "correlation_id", "reply_to", "expiration", "message_id", "timestamp",
                     "type", "user_id", "app_id"):
            self.assertEqual(getattr(p, attr), getattr(props, attr), attr)
        self.assertEqual(p.headers, props.headers)

    def test_no_properties_round_trip_as_none(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"")
        m, p, b = ch.basic_get("q", auto_ack=True)
        self.assertEqual(b, b"")
        self.assertEqual((p.headers, p.content_type, p.delivery_mode), (None, None, None))

    def test_user_id_other_than_the_login_is_406(self):
        ch = self.channel()
        ch.queue_declare("q")

        def publish():
            ch.basic_publish("", "q", b"x", pika.BasicProperties(user_id="mallory"))
            self.sync(ch)
        self.assertChannelError(
            406, "PRECONDITION_FAILED - user_id property set to 'mallory' but authenticated "
                 "user was 'guest'", publish)

    def test_one_mib_body_round_trips_intact(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        body = os.urandom(1 << 20)
        ch.basic_publish("", "q", body)
        m, p, b = ch.basic_get("q", auto_ack=True)
        self.assertEqual(len(b), len(body))
        self.assertEqual(b, body)
        got = Collector()
        ch.basic_consume("q", got, auto_ack=True)
        ch.basic_publish("", "q", body[::-1])
        self.consume_n(conn, got, 1, timeout=10)
        self.assertEqual(got.bodies[0], body[::-1])

    def test_body_split_in_small_frames_round_trips(self):
        # frame_max 4096: a 100 kB body travels as 25 body frames each way.
        conn = self.connect(frame_max=4096)
        ch = conn.channel()
        ch.queue_declare("q")
        body = bytes(range(256)) * 400
        ch.basic_publish("", "q", body)
        self.assertEqual(ch.basic_get("q", auto_ack=True)[2], body)

    def test_cc_header_routes_to_extra_keys_and_stays(self):
        ch = self.channel()
        for q in ("main", "cc1", "cc2", "other"):
            ch.queue_declare(q)
        ch.basic_publish("", "main", b"m",
                         pika.BasicProperties(headers={"CC": ["cc1", "cc2"]}))
        for q in ("main", "cc1", "cc2"):
            with self.subTest(queue=q):
                items = self.get_all(ch, q)
                self.assertEqual([b for _, _, b in items], [b"m"])
                self.assertEqual(items[0][1].headers, {"CC": ["cc1", "cc2"]})
                self.assertEqual(items[0][0].routing_key, "main")
        self.assertEqual(self.bodies(ch, "other"), [])

    def test_bcc_header_routes_to_extra_keys_and_is_removed(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        for q in ("main", "bcc"):
            ch.queue_declare(q)
            ch.queue_bind(q, "x", q)
        ch.basic_publish("x", "main", b"m",
                         pika.BasicProperties(headers={"BCC": ["bcc"], "keep": "me"}))
        for q in ("main", "bcc"):
            with self.subTest(queue=q):
                items = self.get_all(ch, q)
                self.assertEqual([b for _, _, b in items], [b"m"])
                self.assertEqual(items[0][1].headers, {"keep": "me"})

    def test_cc_to_the_same_queue_delivers_once(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"m", pika.BasicProperties(headers={"CC": ["q"]}))
        self.assertEqual(self.bodies(ch, "q"), [b"m"])

    def test_mandatory_routed_only_by_cc_is_not_returned(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("cc")
        ch.confirm_delivery()
        ch.basic_publish("", "nobody", b"m", pika.BasicProperties(headers={"CC": ["cc"]}),
                         mandatory=True)
        self.assertEqual(self.bodies(ch, "cc"), [b"m"])

    def test_basic_get_from_missing_queue_is_404(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no queue 'nope' in vhost '/'",
                                ch.basic_get, "nope")
