# SPDX-License-Identifier: MIT
"""40 exchanges (pika): exchange.declare/delete/bind/unbind, the predeclared
exchanges, routing by type (direct, fanout, topic, headers), exchange-to-exchange
bindings, alternate exchanges and auto-delete.

Reply texts are RabbitMQ's (rabbit_channel.erl, rabbit_exchange.erl, rabbit_misc.erl;
checked against RabbitMQ 3.10 with run.py --rabbitmq):
- passive declare of a missing exchange: 404 "NOT_FOUND - no exchange 'x' in vhost '/'";
- redeclare with other properties: 406 "PRECONDITION_FAILED - inequivalent arg
  'type' for exchange 'x' in vhost '/': received 'fanout' but current is 'direct'";
- a name starting with "amq.": 403 "ACCESS_REFUSED - exchange name 'amq.x' contains
  reserved prefix 'amq.*'";
- an unknown type: connection error 503 "COMMAND_INVALID - unknown exchange type 'x'";
- the default exchange "": 403 "ACCESS_REFUSED - operation not permitted on the
  default exchange";
- publishing to an internal exchange: 403 "ACCESS_REFUSED - cannot publish to
  internal exchange 'x' in vhost '/'";
- exchange.delete if-unused of a bound exchange: 406 "PRECONDITION_FAILED - exchange
  'x' in vhost '/' in use"; of amq.*: 403 "ACCESS_REFUSED - deletion of system
  exchange 'amq.direct' in vhost '/' not allowed"; of a missing exchange: delete-ok.
"""

import time

import pika
import pika.exceptions

import raw
from pikakit import PikaTestCase

TYPES = ["direct", "fanout", "topic", "headers"]


class Declare(PikaTestCase):
    def test_declare_each_type_then_redeclare_identically(self):
        ch = self.channel()
        for t in TYPES:
            with self.subTest(type=t):
                ch.exchange_declare("x-" + t, t)
                ch.exchange_declare("x-" + t, t)
                ch.exchange_declare("x-" + t, t, passive=True)

    def test_declare_ok_for_durable_auto_delete_internal_exchanges(self):
        ch = self.channel()
        ch.exchange_declare("xd", "direct", durable=True)
        ch.exchange_declare("xa", "fanout", auto_delete=True)
        ch.exchange_declare("xi", "topic", internal=True)
        for x in ("xd", "xa", "xi"):
            ch.exchange_declare(x, passive=True)

    def test_passive_declare_of_missing_exchange_is_404(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no exchange 'nope' in vhost '/'",
                                ch.exchange_declare, "nope", passive=True)

    def test_passive_declare_ignores_type_and_flags(self):
        # RabbitMQ only checks that the exchange exists.
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.exchange_declare("x", "fanout", passive=True, durable=True)

    def test_channel_is_unusable_after_404_but_connection_lives(self):
        conn = self.connect()
        ch = conn.channel()
        self.assertChannelError(404, None, ch.exchange_declare, "nope", passive=True)
        self.assertTrue(conn.is_open)
        conn.channel().exchange_declare("amq.direct", passive=True)

    def assertInequivalent(self, first, second, arg, received, current):
        ch = self.channel()
        ch.exchange_declare("x", **first)
        ch2 = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - inequivalent arg '%s' for exchange 'x' in vhost '/': "
                 "received '%s' but current is '%s'" % (arg, received, current),
            ch2.exchange_declare, "x", **second)

    def test_redeclare_with_other_type_is_406(self):
        self.assertInequivalent({"exchange_type": "direct"}, {"exchange_type": "fanout"},
                                "type", "fanout", "direct")

    def test_redeclare_with_other_durable_is_406(self):
        self.assertInequivalent({"durable": False}, {"durable": True},
                                "durable", "true", "false")

    def test_redeclare_with_other_auto_delete_is_406(self):
        self.assertInequivalent({"auto_delete": True}, {"auto_delete": False},
                                "auto_delete", "false", "true")

    def test_redeclare_with_other_internal_is_406(self):
        self.assertInequivalent({"internal": False}, {"internal": True},
                                "internal", "true", "false")

    def test_amq_prefix_is_403(self):
        ch = self.channel()
        self.assertChannelError(
            403, "ACCESS_REFUSED - exchange name 'amq.mine' contains reserved prefix 'amq.*'",
            ch.exchange_declare, "amq.mine", "direct")

    def test_unknown_type_is_503_connection_error(self):
        conn = self.connect()
        ch = conn.channel()
        self.assertConnectionError(503, "COMMAND_INVALID - unknown exchange type 'x-nope'",
                                   ch.exchange_declare, "x", "x-nope")
        self.assertTrue(conn.is_closed)

    def test_declaring_the_default_exchange_is_403(self):
        ch = self.channel()
        self.assertChannelError(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.exchange_declare, "", "direct")


class Predeclared(PikaTestCase):
    PREDECLARED = [("amq.direct", "direct"), ("amq.fanout", "fanout"),
                   ("amq.topic", "topic"), ("amq.headers", "headers"),
                   ("amq.match", "headers")]

    def test_amq_exchanges_exist(self):
        ch = self.channel()
        for name, _ in self.PREDECLARED:
            with self.subTest(exchange=name):
                ch.exchange_declare(name, passive=True)

    def test_amq_exchanges_are_durable_and_of_their_type(self):
        # Redeclaring with the same properties is allowed even under amq.
        ch = self.channel()
        for name, t in self.PREDECLARED:
            with self.subTest(exchange=name):
                ch.exchange_declare(name, t, durable=True)

    def test_amq_direct_routes_by_key(self):
        ch = self.channel()
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, "amq.direct", "k")
        ch.basic_publish("amq.direct", "k", b"hit")
        ch.basic_publish("amq.direct", "other", b"miss")
        self.assertEqual(self.bodies(ch, q), [b"hit"])

    def test_default_exchange_routes_to_queue_by_name(self):
        ch = self.channel()
        ch.queue_declare("dq")
        ch.basic_publish("", "dq", b"m")
        self.assertEqual(self.bodies(ch, "dq"), [b"m"])

    def test_binding_to_the_default_exchange_is_403(self):
        ch = self.channel()
        ch.queue_declare("dq")
        self.assertChannelError(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.queue_bind, "dq", "", "k")


class Delete(PikaTestCase):
    def test_delete_then_passive_is_404(self):
        ch = self.channel()
        ch.exchange_declare("x", "fanout")
        ch.exchange_delete("x")
        self.assertExchangeMissing("x")

    def test_delete_missing_exchange_is_ok(self):
        self.channel().exchange_delete("never-declared")

    def test_delete_if_unused_of_bound_exchange_is_406(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.queue_declare("q")
        ch.queue_bind("q", "x", "k")
        self.assertChannelError(406, "PRECONDITION_FAILED - exchange 'x' in vhost '/' in use",
                                ch.exchange_delete, "x", if_unused=True)
        self.assertExchangeExists("x")

    def test_delete_if_unused_of_unbound_exchange_is_ok(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.exchange_delete("x", if_unused=True)
        self.assertExchangeMissing("x")

    def test_delete_removes_its_bindings(self):
        ch = self.channel()
        ch.exchange_declare("x", "fanout")
        ch.queue_declare("q")
        ch.queue_bind("q", "x")
        ch.exchange_delete("x")
        ch.exchange_declare("x", "fanout")
        ch.basic_publish("x", "", b"m")
        self.assertEqual(self.bodies(ch, "q"), [], "the old binding must be gone")

    def test_delete_amq_exchange_is_403(self):
        ch = self.channel()
        self.assertChannelError(
            403, "ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' "
                 "not allowed",
            ch.exchange_delete, "amq.direct")
        self.assertExchangeExists("amq.direct")

    def test_delete_default_exchange_is_403(self):
        ch = self.channel()
        self.assertChannelError(
            403, "ACCESS_REFUSED - operation not permitted on the default exchange",
            ch.exchange_delete, "")


class Internal(PikaTestCase):
    def test_publish_to_internal_exchange_is_403(self):
        ch = self.channel()
        ch.exchange_declare("xi", "fanout", internal=True)

        def publish():
            ch.basic_publish("xi", "", b"m")
            self.sync(ch)
        self.assertChannelError(
            403, "ACCESS_REFUSED - cannot publish to internal exchange 'xi' in vhost '/'",
            publish)

    def test_internal_exchange_routes_from_another_exchange(self):
        ch = self.channel()
        ch.exchange_declare("front", "fanout")
        ch.exchange_declare("xi", "fanout", internal=True)
        ch.exchange_bind("xi", "front")
        ch.queue_declare("q")
        ch.queue_bind("q", "xi")
        ch.basic_publish("front", "", b"via")
        self.assertEqual(self.bodies(ch, "q"), [b"via"])

    def test_publish_to_missing_exchange_is_404(self):
        ch = self.channel()

        def publish():
            ch.basic_publish("nope", "k", b"m")
            self.sync(ch)
        self.assertChannelError(404, "NOT_FOUND - no exchange 'nope' in vhost '/'", publish)


class Routing(PikaTestCase):
    def queues(self, ch, *names):
        for n in names:
            ch.queue_declare(n)

    def test_direct_routes_on_exact_key_only(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        self.queues(ch, "a", "b")
        ch.queue_bind("a", "x", "red")
        ch.queue_bind("b", "x", "red")
        ch.queue_bind("b", "x", "green")
        for k in ("red", "green", "blue", "Red", "red."):
            ch.basic_publish("x", k, k.encode())
        self.assertEqual(self.bodies(ch, "a"), [b"red"])
        self.assertEqual(self.bodies(ch, "b"), [b"red", b"green"])

    def test_fanout_ignores_the_key(self):
        ch = self.channel()
        ch.exchange_declare("x", "fanout")
        self.queues(ch, "a", "b")
        ch.queue_bind("a", "x", "whatever")
        ch.queue_bind("b", "x")
        ch.basic_publish("x", "anything", b"m")
        self.assertEqual(self.bodies(ch, "a"), [b"m"])
        self.assertEqual(self.bodies(ch, "b"), [b"m"])

    def test_two_bindings_of_one_queue_deliver_once(self):
        ch = self.channel()
        ch.exchange_declare("x", "topic")
        ch.queue_declare("a")
        ch.queue_bind("a", "x", "a.*")
        ch.queue_bind("a", "x", "*.b")
        ch.queue_bind("a", "x", "#")
        ch.basic_publish("x", "a.b", b"m")
        self.assertEqual(self.bodies(ch, "a"), [b"m"])

    def test_topic_star_and_hash(self):
        ch = self.channel()
        ch.exchange_declare("x", "topic")
        patterns = {"star": "*.orange.*", "hash_end": "lazy.#", "star_end": "*.*.rabbit",
                    "all": "#", "exact": "quick.orange.rabbit", "hash_mid": "a.#.z",
                    "empty": ""}
        for q, pat in patterns.items():
            ch.queue_declare(q)
            ch.queue_bind(q, "x", pat)
        keys = ["quick.orange.rabbit", "lazy.orange.elephant", "quick.orange.fox",
                "lazy.brown.fox", "lazy", "quick.brown.fox", "orange",
                "quick.orange.new.rabbit", "a.z", "a.b.c.z", "a.b", ""]
        for k in keys:
            ch.basic_publish("x", k, k.encode())
        want = {
            "star": [b"quick.orange.rabbit", b"lazy.orange.elephant", b"quick.orange.fox"],
            "hash_end": [b"lazy.orange.elephant", b"lazy.brown.fox", b"lazy"],
            "star_end": [b"quick.orange.rabbit"],
            "all": [k.encode() for k in keys],
            "exact": [b"quick.orange.rabbit"],
            "hash_mid": [b"a.z", b"a.b.c.z"],
            "empty": [b""],
        }
        for q, bodies in want.items():
            with self.subTest(queue=q, pattern=patterns[q]):
                self.assertEqual(self.bodies(ch, q), bodies)

    def test_headers_x_match_all_and_any(self):
        ch = self.channel()
        ch.exchange_declare("x", "headers")
        self.queues(ch, "all", "any", "default", "exists")
        ch.queue_bind("all", "x", arguments={"x-match": "all", "format": "pdf", "type": "report"})
        ch.queue_bind("any", "x", arguments={"x-match": "any", "format": "pdf", "type": "log"})
        ch.queue_bind("default", "x", arguments={"format": "zip", "type": "report"})
        msgs = [("m1", {"format": "pdf", "type": "report"}),
                ("m2", {"format": "pdf", "type": "log"}),
                ("m3", {"format": "zip", "type": "report", "extra": 1}),
                ("m4", {"type": "log"}),
                ("m5", {"format": "zip"}),
                ("m6", None)]
        for body, headers in msgs:
            ch.basic_publish("x", "", body.encode(),
                             pika.BasicProperties(headers=headers))
        self.assertEqual(self.bodies(ch, "all"), [b"m1"])
        self.assertEqual(self.bodies(ch, "any"), [b"m1", b"m2", b"m4"])
        self.assertEqual(self.bodies(ch, "default"), [b"m3"], "x-match defaults to all")

    def test_headers_matching_compares_values_and_types(self):
        ch = self.channel()
        ch.exchange_declare("x", "headers")
        ch.queue_declare("q")
        ch.queue_bind("q", "x", arguments={"x-match": "all", "n": 1})
        ch.basic_publish("x", "", b"int", pika.BasicProperties(headers={"n": 1}))
        ch.basic_publish("x", "", b"two", pika.BasicProperties(headers={"n": 2}))
        ch.basic_publish("x", "", b"str", pika.BasicProperties(headers={"n": "1"}))
        self.assertEqual(self.bodies(ch, "q"), [b"int"])

    def test_unbind_stops_routing(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.queue_declare("q")
        ch.queue_bind("q", "x", "k")
        ch.basic_publish("x", "k", b"1")
        ch.queue_unbind("q", "x", "k")
        ch.basic_publish("x", "k", b"2")
        self.assertEqual(self.bodies(ch, "q"), [b"1"])

    def test_ten_thousand_topic_bindings_route_correctly(self):
        # Bindings go out pipelined on a raw connection (10,000 round trips with pika
        # would dominate the test); routing is then checked with pika.
        ch = self.channel()
        ch.exchange_declare("big", "topic")
        for i in range(10):
            ch.queue_declare("q%d" % i)
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        n = 10000
        frames = []
        for i in range(n):
            frames.append(raw.method_frame(1, raw.QUEUE_BIND, raw.queue_bind_args(
                "q%d" % (i % 10), "big", "k.%d.*" % i)))
        c.send(b"".join(frames))
        for _ in range(n):
            c.expect_method(raw.QUEUE_BIND_OK, channel=1, timeout=30)
        c.close_channel(1)
        ch.queue_declare("wild")
        ch.queue_bind("wild", "big", "k.#")
        probes = [0, 1, 9, 10, 4321, 9999]
        for i in probes:
            ch.basic_publish("big", "k.%d.x" % i, str(i).encode())
        ch.basic_publish("big", "k.10000.x", b"none")
        ch.basic_publish("big", "k.5.x.y", b"deep")
        for qi in range(10):
            with self.subTest(queue=qi):
                self.assertEqual(self.bodies(ch, "q%d" % qi),
                                 [str(i).encode() for i in probes if i % 10 == qi])
        self.assertEqual(len(self.bodies(ch, "wild")), len(probes) + 2)


class ExchangeToExchange(PikaTestCase):
    def test_e2e_binding_routes_through(self):
        ch = self.channel()
        ch.exchange_declare("src", "topic")
        ch.exchange_declare("dst", "direct")
        ch.exchange_bind("dst", "src", "a.*")
        ch.queue_declare("q")
        ch.queue_bind("q", "dst", "a.b")
        ch.basic_publish("src", "a.b", b"yes")
        ch.basic_publish("src", "a.c", b"no-queue-binding")
        ch.basic_publish("src", "b.b", b"no-e2e-binding")
        self.assertEqual(self.bodies(ch, "q"), [b"yes"])

    def test_diamond_delivers_once(self):
        ch = self.channel()
        for x in ("top", "left", "right", "bottom"):
            ch.exchange_declare(x, "fanout")
        ch.exchange_bind("left", "top")
        ch.exchange_bind("right", "top")
        ch.exchange_bind("bottom", "left")
        ch.exchange_bind("bottom", "right")
        ch.queue_declare("q")
        ch.queue_bind("q", "bottom")
        ch.queue_bind("q", "left")
        ch.basic_publish("top", "", b"once")
        self.assertEqual(self.bodies(ch, "q"), [b"once"])

    def test_cycle_terminates_and_delivers_once(self):
        ch = self.channel()
        ch.exchange_declare("x1", "fanout")
        ch.exchange_declare("x2", "fanout")
        ch.exchange_bind("x2", "x1")
        ch.exchange_bind("x1", "x2")
        ch.exchange_bind("x1", "x1")
        ch.queue_declare("q")
        ch.queue_bind("q", "x2")
        ch.basic_publish("x1", "", b"a")
        ch.basic_publish("x2", "", b"b")
        self.assertEqual(self.bodies(ch, "q"), [b"a", b"b"])

    def test_e2e_unbind_stops_routing(self):
        ch = self.channel()
        ch.exchange_declare("src", "fanout")
        ch.exchange_declare("dst", "fanout")
        ch.exchange_bind("dst", "src")
        ch.queue_declare("q")
        ch.queue_bind("q", "dst")
        ch.basic_publish("src", "", b"1")
        ch.exchange_unbind("dst", "src")
        ch.basic_publish("src", "", b"2")
        self.assertEqual(self.bodies(ch, "q"), [b"1"])

    def test_e2e_bind_to_missing_source_or_destination_is_404(self):
        ch = self.channel()
        ch.exchange_declare("dst", "fanout")
        self.assertChannelError(404, "NOT_FOUND - no exchange 'nope' in vhost '/'",
                                ch.exchange_bind, "dst", "nope")
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no exchange 'nope' in vhost '/'",
                                ch.exchange_bind, "nope", "dst")

    def test_mandatory_through_e2e_is_routed_not_returned(self):
        conn = self.connect()
        ch = conn.channel()
        ch.exchange_declare("src", "fanout")
        ch.exchange_declare("dst", "fanout")
        ch.exchange_bind("dst", "src")
        ch.queue_declare("q")
        ch.queue_bind("q", "dst")
        ch.confirm_delivery()
        ch.basic_publish("src", "", b"m", mandatory=True)  # no UnroutableError
        self.assertEqual(self.bodies(ch, "q"), [b"m"])


class AlternateExchange(PikaTestCase):
    def setup_ae(self, ch):
        ch.exchange_declare("ae", "fanout")
        ch.queue_declare("unrouted")
        ch.queue_bind("unrouted", "ae")
        ch.exchange_declare("main", "direct", arguments={"alternate-exchange": "ae"})
        ch.queue_declare("routed")
        ch.queue_bind("routed", "main", "k")

    def test_unroutable_message_goes_to_the_alternate_exchange(self):
        ch = self.channel()
        self.setup_ae(ch)
        ch.basic_publish("main", "k", b"routed")
        ch.basic_publish("main", "other", b"unrouted")
        self.assertEqual(self.bodies(ch, "routed"), [b"routed"])
        self.assertEqual(self.bodies(ch, "unrouted"), [b"unrouted"])

    def test_mandatory_message_taken_by_alternate_exchange_is_not_returned(self):
        conn = self.connect()
        ch = conn.channel()
        self.setup_ae(ch)
        ch.confirm_delivery()
        ch.basic_publish("main", "other", b"m", mandatory=True)  # no UnroutableError
        self.assertEqual(self.bodies(ch, "unrouted"), [b"m"])

    def test_missing_alternate_exchange_means_unroutable(self):
        conn = self.connect()
        ch = conn.channel()
        ch.exchange_declare("main", "direct", arguments={"alternate-exchange": "nowhere"})
        ch.confirm_delivery()
        with self.assertRaises(pika.exceptions.UnroutableError):
            ch.basic_publish("main", "k", b"m", mandatory=True)


class AutoDelete(PikaTestCase):
    def test_auto_delete_exchange_goes_with_its_last_queue_binding(self):
        ch = self.channel()
        ch.exchange_declare("ad", "direct", auto_delete=True)
        ch.queue_declare("q1")
        ch.queue_declare("q2")
        ch.queue_bind("q1", "ad", "a")
        ch.queue_bind("q2", "ad", "b")
        ch.queue_unbind("q1", "ad", "a")
        self.assertExchangeExists("ad")
        ch.queue_unbind("q2", "ad", "b")
        self.assertExchangeMissing("ad")

    def test_auto_delete_exchange_goes_when_its_last_bound_queue_is_deleted(self):
        ch = self.channel()
        ch.exchange_declare("ad", "fanout", auto_delete=True)
        ch.queue_declare("q")
        ch.queue_bind("q", "ad")
        ch.queue_delete("q")
        self.assertExchangeMissing("ad")

    def test_auto_delete_exchange_without_bindings_stays(self):
        ch = self.channel()
        ch.exchange_declare("ad", "fanout", auto_delete=True)
        time.sleep(0.2)
        self.assertExchangeExists("ad")

    def test_auto_delete_source_goes_with_its_last_e2e_binding(self):
        ch = self.channel()
        ch.exchange_declare("ad", "fanout", auto_delete=True)
        ch.exchange_declare("dst", "fanout")
        ch.exchange_bind("dst", "ad")
        ch.exchange_unbind("dst", "ad")
        self.assertExchangeMissing("ad")
        self.assertExchangeExists("dst")
