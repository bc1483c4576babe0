# SPDX-License-Identifier: MIT
"""55 dead-lettering (pika, the raw client for exact wire types, amqplib and
rabbitmq-c): reason rejected (basic.reject, basic.nack, nack multiple), the
x-death header after repeated dead-lettering (newest first, one entry per
{queue, reason}, count, time, exchange, routing-keys with CC but not BCC,
original-expiration; x-first-death-* set once, x-last-death-* updated), the
dead-letter routing key (x-dead-letter-routing-key; CC removed then), cycle
dropping, a missing dead-letter exchange (and its counter in the management
API) and the argument validation texts.

RabbitMQ facts: docs dlx.md ("Dead-Lettered Effects on Messages", "Routing
Dead-Lettered Messages", "Dead-letter cycle"); rabbit_dead_letter.erl publish/5
and detect_cycles/3 and mc.erl record_death/4 and is_death_cycle/2 (a message is
dropped when it reaches a queue named in its x-death with no rejection among the
deaths up to and including that queue's newest one). Checked against RabbitMQ
3.10.8 with run.py --rabbitmq; the x-last-death-* headers came with 3.13 and are
only asserted against Leveret and RabbitMQ >= 3.13.
"""

import datetime
import os
import shutil
import subprocess
import time
import unittest

import pika

import mgmtkit
import raw
from harness import SETTINGS, sanitizer_env, sanitizer_report, time_scale
from pikakit import Collector, PikaTestCase

HERE = os.path.dirname(os.path.abspath(__file__))


def external_version():
    """(major, minor) of the RabbitMQ under run.py --rabbitmq, else None."""
    if not SETTINGS["external"]:
        return None
    v = mgmtkit.call(SETTINGS["external"][1], "GET", "/api/overview").json["rabbitmq_version"]
    return tuple(int(x) for x in v.split(".")[:2])


def has_last_death_headers():
    v = external_version()
    return v is None or v >= (3, 13)


def xdeath(props):
    return (props.headers or {}).get("x-death")


def entry(d):
    """An x-death entry without its time, for comparisons."""
    return {k: v for k, v in d.items() if k != "time"}


def death(queue, reason, count, exchange, keys, **more):
    d = {"queue": queue, "reason": reason, "count": count, "exchange": exchange,
         "routing-keys": keys}
    d.update(more)
    return d


class DlTestCase(PikaTestCase):
    def fanout_dlx(self, ch, dlx="dlx", queues=("dlq",)):
        ch.exchange_declare(dlx, "fanout")
        for q in queues:
            ch.queue_declare(q)
            ch.queue_bind(q, dlx)
        return {"x-dead-letter-exchange": dlx}

    def direct_dlx(self, ch, bindings, dlx="dlx"):
        """A direct exchange dlx with {queue: binding key}."""
        ch.exchange_declare(dlx, "direct")
        for q, key in bindings.items():
            ch.queue_declare(q)
            ch.queue_bind(q, dlx, key)
        return {"x-dead-letter-exchange": dlx}

    def wait_get(self, ch, queue, timeout=3.0, auto_ack=True):
        deadline = time.monotonic() + timeout
        while True:
            m, p, b = ch.basic_get(queue, auto_ack=auto_ack)
            if m is not None:
                return m, p, b
            if time.monotonic() >= deadline:
                self.fail("no message in %r within %.1fs" % (queue, timeout))
            time.sleep(0.02)

    def reject_one(self, ch, queue, how="reject"):
        """basic.get from queue and reject it without requeue; returns (props, body)
        as the consumer saw them."""
        m, p, b = self.wait_get(ch, queue, auto_ack=False)
        if how == "reject":
            ch.basic_reject(m.delivery_tag, requeue=False)
        else:
            ch.basic_nack(m.delivery_tag, requeue=False)
        return p, b

    def count(self, ch, queue):
        return ch.queue_declare(queue, passive=True).method.message_count

    def assertCountStays(self, ch, queue, n, seconds):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.assertEqual(self.count(ch, queue), n, "message count of %r" % queue)
            time.sleep(0.05)


class Rejected(DlTestCase):
    def test_basic_reject_dead_letters_with_reason_rejected(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q", "reject")
        m, p, b = self.wait_get(ch, "dlq")
        self.assertEqual((b, m.exchange, m.routing_key), (b"m", "dlx", "q"))
        self.assertEqual([entry(d) for d in xdeath(p)], [death("q", "rejected", 1, "", ["q"])])
        self.assertEqual({k: v for k, v in p.headers.items() if k.startswith("x-first-death")},
                         {"x-first-death-queue": "q", "x-first-death-reason": "rejected",
                          "x-first-death-exchange": ""})
        self.assertEqual(self.count(ch, "q"), 0)

    def test_basic_nack_dead_letters_with_reason_rejected(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q", "nack")
        m, p, b = self.wait_get(ch, "dlq")
        self.assertEqual(b, b"m")
        self.assertEqual([entry(d) for d in xdeath(p)], [death("q", "rejected", 1, "", ["q"])])

    def test_nack_multiple_dead_letters_each_message_in_order(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        for b in (b"1", b"2", b"3"):
            ch.basic_publish("", "q", b)
        tags = [self.wait_get(ch, "q", auto_ack=False)[0].delivery_tag for _ in range(3)]
        ch.basic_nack(tags[-1], multiple=True, requeue=False)
        got = [self.wait_get(ch, "dlq") for _ in range(3)]
        self.assertEqual([b for _, _, b in got], [b"1", b"2", b"3"])
        for _, p, _ in got:
            self.assertEqual([entry(d) for d in xdeath(p)],
                             [death("q", "rejected", 1, "", ["q"])])

    def test_consumer_reject_dead_letters_too(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        ch.basic_consume("q", lambda c, m, p, b: c.basic_reject(m.delivery_tag, requeue=False))
        ch.basic_publish("", "q", b"m")
        self.pump_until(conn, lambda: self.count(ch, "dlq") == 1, timeout=3.0)
        self.assertEqual(xdeath(self.wait_get(ch, "dlq")[1])[0]["reason"], "rejected")

    def test_reject_with_requeue_does_not_dead_letter(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        ch.basic_publish("", "q", b"m")
        m, _, _ = self.wait_get(ch, "q", auto_ack=False)
        ch.basic_reject(m.delivery_tag, requeue=True)
        m, p, b = self.wait_get(ch, "q")
        self.assertTrue(m.redelivered)
        self.assertIsNone(p.headers)
        self.assertEqual(self.count(ch, "dlq"), 0)

    def test_reject_without_dlx_discards_the_message(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q")
        self.assertCountStays(ch, "q", 0, 0.2)


class XDeathLayout(DlTestCase):
    def test_x_death_field_types_on_the_wire(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        ch.basic_publish("", "q", b"m", pika.BasicProperties(expiration="60000"))
        self.reject_one(ch, "q")
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        props, body = raw_get(c, "dlq")
        now = time.time()
        h = props["headers"]
        self.assertEqual(body, b"m")
        self.assertNotIn("expiration", props)
        letter, deaths = h["x-death"]
        self.assertEqual(letter, "A")
        self.assertEqual([d[0] for d in deaths], ["F"])
        d = deaths[0][1]
        self.assertEqual(set(d), {"count", "reason", "queue", "time", "exchange",
                                  "routing-keys", "original-expiration"})
        self.assertEqual(d["count"], ("l", 1), "count is a long (signed 64-bit, 'l')")
        self.assertEqual(d["reason"], ("S", b"rejected"))
        self.assertEqual(d["queue"], ("S", b"q"))
        self.assertEqual(d["exchange"], ("S", b""))
        self.assertEqual(d["routing-keys"], ("A", [("S", b"q")]))
        self.assertEqual(d["original-expiration"], ("S", b"60000"))
        self.assertEqual(d["time"][0], "T")
        self.assertLessEqual(abs(d["time"][1] - now), 5, "time is seconds since the epoch")
        first = {"x-first-death-queue": ("S", b"q"), "x-first-death-reason": ("S", b"rejected"),
                 "x-first-death-exchange": ("S", b"")}
        self.assertEqual({k: h[k] for k in first if k in h}, first)
        if has_last_death_headers():
            last = {"x-last-death-queue": ("S", b"q"), "x-last-death-reason": ("S", b"rejected"),
                    "x-last-death-exchange": ("S", b"")}
            self.assertEqual({k: h[k] for k in last if k in h}, last)

    def test_expiration_is_removed_and_recorded_as_original_expiration(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        ch.basic_publish("", "q", b"m", pika.BasicProperties(expiration="60000"))
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "dlq")
        self.assertIsNone(p.expiration)
        self.assertEqual(xdeath(p)[0]["original-expiration"], "60000")

    def test_other_properties_and_headers_are_kept(self):
        ch = self.channel()
        ch.queue_declare("q", arguments=self.fanout_dlx(ch))
        props = pika.BasicProperties(content_type="text/plain", content_encoding="utf-8",
                                     delivery_mode=2, priority=3, correlation_id="c1",
                                     reply_to="r", message_id="id1", timestamp=1700000000,
                                     type="t", app_id="app", headers={"mine": "kept", "n": 7})
        ch.basic_publish("", "q", b"m", props)
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "dlq")
        for f in ("content_type", "content_encoding", "delivery_mode", "priority",
                  "correlation_id", "reply_to", "message_id", "timestamp", "type", "app_id"):
            self.assertEqual(getattr(p, f), getattr(props, f), f)
        self.assertEqual((p.headers["mine"], p.headers["n"]), ("kept", 7))

    def test_repeated_rejection_from_one_queue_counts_up_in_one_entry(self):
        # q1 dead-letters into the fanout dlx, which routes back to q1:
        # rejection cycles are allowed. Three rejections: one x-death entry.
        ch = self.channel()
        ch.exchange_declare("dlx", "fanout")
        ch.queue_declare("q1", arguments={"x-dead-letter-exchange": "dlx"})
        ch.queue_bind("q1", "dlx")
        ch.basic_publish("", "q1", b"m")
        self.reject_one(ch, "q1")
        m, p, _ = self.wait_get(ch, "q1", auto_ack=False)
        self.assertEqual((m.exchange, m.routing_key), ("dlx", "q1"))
        first_time = xdeath(p)[0]["time"]
        self.assertIsInstance(first_time, datetime.datetime)
        time.sleep(1.1)  # 'time' has one-second resolution: make a later death visible
        ch.basic_reject(m.delivery_tag, requeue=False)
        self.reject_one(ch, "q1")
        m, p, b = self.wait_get(ch, "q1")
        deaths = xdeath(p)
        self.assertEqual([entry(d) for d in deaths],
                         [death("q1", "rejected", 3, "", ["q1"])],
                         "exchange and routing-keys keep the first death's values")
        self.assertEqual(deaths[0]["time"], first_time, "time is the first death's")
        self.assertEqual((p.headers["x-first-death-queue"], p.headers["x-first-death-reason"],
                          p.headers["x-first-death-exchange"]), ("q1", "rejected", ""))
        if has_last_death_headers():
            self.assertEqual((p.headers["x-last-death-queue"], p.headers["x-last-death-reason"],
                              p.headers["x-last-death-exchange"]), ("q1", "rejected", "dlx"))

    def two_queue_cycle(self, ch):
        """q1 dead-letters to q2 (through the direct dlx), q2 expires its messages
        after 50 ms back to q1. Publishes m to q1 through the default exchange."""
        ch.exchange_declare("dlx", "direct")
        ch.queue_declare("q1", arguments={"x-dead-letter-exchange": "dlx",
                                          "x-dead-letter-routing-key": "to-q2"})
        ch.queue_declare("q2", arguments={"x-dead-letter-exchange": "dlx",
                                          "x-dead-letter-routing-key": "to-q1",
                                          "x-message-ttl": 50})
        ch.queue_bind("q1", "dlx", "to-q1")
        ch.queue_bind("q2", "dlx", "to-q2")
        ch.basic_publish("", "q1", b"m")

    def test_x_death_is_newest_first_with_one_entry_per_queue_and_reason(self):
        ch = self.channel()
        self.two_queue_cycle(ch)
        rej1 = death("q1", "rejected", 1, "", ["q1"])
        exp1 = death("q2", "expired", 1, "dlx", ["to-q2"])
        self.reject_one(ch, "q1")                       # q1 -> q2, expires -> q1
        m, p, _ = self.wait_get(ch, "q1", auto_ack=False)
        self.assertEqual([entry(d) for d in xdeath(p)], [exp1, rej1])
        ch.basic_reject(m.delivery_tag, requeue=False)  # q1 -> q2 again
        m, p, _ = self.wait_get(ch, "q1")
        self.assertEqual([entry(d) for d in xdeath(p)],
                         [dict(exp1, count=2), dict(rej1, count=2)],
                         "the newest death's entry moves to the front; counts go up")
        self.assertEqual(self.count(ch, "q2"), 0)

    def test_x_first_death_is_set_once_and_x_last_death_follows(self):
        ch = self.channel()
        self.two_queue_cycle(ch)
        self.reject_one(ch, "q1")
        m, p, _ = self.wait_get(ch, "q1")
        h = p.headers
        self.assertEqual((h["x-first-death-queue"], h["x-first-death-reason"],
                          h["x-first-death-exchange"]), ("q1", "rejected", ""))
        if not has_last_death_headers():
            raise unittest.SkipTest("x-last-death-* came with RabbitMQ 3.13")
        self.assertEqual((h["x-last-death-queue"], h["x-last-death-reason"],
                          h["x-last-death-exchange"]), ("q2", "expired", "dlx"))


class Routing(DlTestCase):
    def source(self, ch, queue_args):
        """A direct exchange src with q bound by k only."""
        ch.exchange_declare("src", "direct")
        ch.queue_declare("q", arguments=queue_args)
        ch.queue_bind("q", "src", "k")

    def publish(self, ch, **headers):
        ch.basic_publish("src", "k", b"m", pika.BasicProperties(headers=headers))

    def test_x_death_routing_keys_include_cc_but_not_bcc(self):
        ch = self.channel()
        self.source(ch, self.fanout_dlx(ch))
        self.publish(ch, CC=["c1"], BCC=["b1"])
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "dlq")
        [d] = xdeath(p)
        self.assertEqual((d["exchange"], d["routing-keys"]), ("src", ["k", "c1"]))
        self.assertEqual(p.headers["CC"], ["c1"], "CC is kept without a dead-letter key")
        self.assertNotIn("BCC", p.headers)

    def test_without_dlrk_the_dead_letter_keeps_its_key_and_cc_routes_it(self):
        ch = self.channel()
        self.source(ch, self.direct_dlx(ch, {"dl-k": "k", "dl-c": "c1", "dl-x": "x"}))
        self.publish(ch, CC=["c1"])
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "dl-k")
        self.assertEqual((m.exchange, m.routing_key), ("dlx", "k"))
        m, p, b = self.wait_get(ch, "dl-c")
        self.assertEqual((m.routing_key, p.headers["CC"]), ("k", ["c1"]))
        self.assertEqual(self.count(ch, "dl-x"), 0)

    def test_without_dlrk_bcc_keys_route_the_dead_letter_too(self):
        # dlx.md: without a dead-letter routing key a message is dead-lettered
        # with all its original routing keys, "This includes routing keys added
        # by the CC and BCC headers" (rabbit_dead_letter: mc:routing_keys/1).
        ch = self.channel()
        self.source(ch, self.direct_dlx(ch, {"dl-k": "k", "dl-b": "b1"}))
        self.publish(ch, BCC=["b1"])
        self.reject_one(ch, "q")
        self.wait_get(ch, "dl-k")
        m, p, b = self.wait_get(ch, "dl-b", timeout=1.0)
        self.assertEqual(b, b"m")
        self.assertNotIn("BCC", p.headers or {})

    def test_dlrk_replaces_the_routing_key_and_removes_cc(self):
        ch = self.channel()
        args = self.direct_dlx(ch, {"dl-dead": "dead", "dl-k": "k", "dl-c": "c1"})
        args["x-dead-letter-routing-key"] = "dead"
        self.source(ch, args)
        self.publish(ch, CC=["c1"], other="kept")
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "dl-dead")
        self.assertEqual((m.exchange, m.routing_key), ("dlx", "dead"))
        self.assertNotIn("CC", p.headers)
        self.assertEqual(p.headers["other"], "kept")
        self.assertEqual(xdeath(p)[0]["routing-keys"], ["k", "c1"],
                         "x-death records the keys the message was published with")
        self.assertCountStays(ch, "dl-k", 0, 0.1)
        self.assertEqual(self.count(ch, "dl-c"), 0)

    def test_default_exchange_as_dlx_with_dlrk(self):
        ch = self.channel()
        ch.queue_declare("dlq")
        ch.queue_declare("q", arguments={"x-dead-letter-exchange": "",
                                         "x-dead-letter-routing-key": "dlq"})
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "dlq")
        self.assertEqual((m.exchange, m.routing_key, b), ("", "dlq", b"m"))

    def test_dlx_declared_after_the_queue_is_used(self):
        ch = self.channel()
        ch.queue_declare("q", arguments={"x-dead-letter-exchange": "late"})
        ch.basic_publish("", "q", b"m")
        self.fanout_dlx(ch, dlx="late")
        self.reject_one(ch, "q")
        self.assertEqual(self.wait_get(ch, "dlq")[2], b"m")


class Cycles(DlTestCase):
    def test_expired_message_cycling_back_to_its_queue_is_dropped(self):
        # The fanout dlx routes q's dead letters to q itself and to a witness w.
        # The copy for q would close a cycle without any rejection: dropped.
        ch = self.channel()
        args = self.fanout_dlx(ch, queues=("w",))
        args["x-message-ttl"] = 50
        ch.queue_declare("q", arguments=args)
        ch.queue_bind("q", "dlx")
        ch.basic_publish("", "q", b"m")
        m, p, b = self.wait_get(ch, "w")
        self.assertEqual([entry(d) for d in xdeath(p)], [death("q", "expired", 1, "", ["q"])])
        self.assertCountStays(ch, "q", 0, 0.4)
        self.assertEqual(self.count(ch, "w"), 0, "only one dead letter: q never got it back")

    def test_dlx_default_exchange_without_dlrk_cycle_is_dropped(self):
        # dlx.md's example: dead-lettering to the default exchange without a
        # dead-letter routing key routes the message back to its own queue.
        ch = self.channel()
        ch.queue_declare("q", arguments={"x-dead-letter-exchange": "", "x-message-ttl": 50})
        ch.basic_publish("", "q", b"m")
        time.sleep(0.2)
        self.assertCountStays(ch, "q", 0, 0.3)

    def test_rejected_message_may_come_back_to_its_queue(self):
        ch = self.channel()
        args = self.fanout_dlx(ch, queues=())
        ch.queue_declare("q", arguments=args)
        ch.queue_bind("q", "dlx")
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q")
        m, p, b = self.wait_get(ch, "q")
        self.assertEqual((b, m.exchange), (b"m", "dlx"))

    def test_expiry_cycle_with_a_rejection_in_it_is_not_dropped(self):
        # q1 --rejected--> q2 --expired--> q1: the cycle has a rejection.
        ch = self.channel()
        XDeathLayout.two_queue_cycle(self, ch)
        self.reject_one(ch, "q1")
        m, p, b = self.wait_get(ch, "q1")
        self.assertEqual([(d["queue"], d["reason"]) for d in xdeath(p)],
                         [("q2", "expired"), ("q1", "rejected")])

    def test_rejection_before_the_cycle_does_not_keep_it_alive(self):
        # q0 --rejected--> q1 --expired--> q2 --expired--> q1: the deaths back
        # to q1's newest one are [q2 expired, q1 expired]: no rejection, so the
        # copy for q1 is dropped. The witness w is bound like q1 and gets every
        # dead letter addressed to q1: two, not an endless stream.
        v = external_version()
        if v is not None and v < (3, 13):
            raise unittest.SkipTest("RabbitMQ before 3.13 reorders x-death entries (its v1 "
                                    "deaths) and so loops here; mc.erl is_cycle_v2 is the rule")
        ch = self.channel()
        ch.exchange_declare("dlx", "direct")
        ch.queue_declare("q0", arguments={"x-dead-letter-exchange": "dlx",
                                          "x-dead-letter-routing-key": "to-q1"})
        ch.queue_declare("q1", arguments={"x-dead-letter-exchange": "dlx",
                                          "x-dead-letter-routing-key": "to-q2",
                                          "x-message-ttl": 50})
        ch.queue_declare("q2", arguments={"x-dead-letter-exchange": "dlx",
                                          "x-dead-letter-routing-key": "to-q1",
                                          "x-message-ttl": 50})
        ch.queue_declare("w")
        ch.queue_bind("q1", "dlx", "to-q1")
        ch.queue_bind("w", "dlx", "to-q1")
        ch.queue_bind("q2", "dlx", "to-q2")
        ch.basic_publish("", "q0", b"m")
        self.reject_one(ch, "q0")
        time.sleep(0.6)
        got = self.get_all(ch, "w")
        self.assertEqual(len(got), 2, "dead letters addressed to q1: %r"
                         % [[(d["queue"], d["reason"], d["count"]) for d in xdeath(p)]
                            for _, p, _ in got])
        for q in ("q0", "q1", "q2"):
            self.assertEqual(self.count(ch, q), 0, q)
        self.assertEqual([(d["queue"], d["reason"]) for d in xdeath(got[1][1])],
                         [("q2", "expired"), ("q1", "expired"), ("q0", "rejected")])


class MissingDlx(DlTestCase):
    def test_missing_dead_letter_exchange_drops_the_message(self):
        ch = self.channel()
        ch.queue_declare("q", arguments={"x-dead-letter-exchange": "nowhere"})
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q")
        self.assertCountStays(ch, "q", 0, 0.2)
        self.assertTrue(ch.is_open)
        self.assertExchangeMissing("nowhere")

    def test_missing_dead_letter_exchange_drop_is_counted(self):
        if SETTINGS["external"]:
            raise unittest.SkipTest("Leveret's dead_letter_stats: not in RabbitMQ's API")
        ch = self.channel()
        ch.queue_declare("q", arguments={"x-dead-letter-exchange": "nowhere"})
        ch.basic_publish("", "q", b"m")
        self.reject_one(ch, "q")
        self.count(ch, "q")  # a round trip: the reject is processed
        r = mgmtkit.call(self.broker.mgmt_port, "GET", "/api/queues/%2F/q")
        self.assertEqual(r.status, 200, r.raw)
        st = r.json.get("dead_letter_stats")
        if st is None:
            raise unittest.SkipTest("/api/queues/%2F/q has no dead_letter_stats yet")
        self.assertEqual(st["dropped_no_dlx"], 1, st)
        self.assertEqual(st["received"], 0, st)


class Validation(PikaTestCase):
    def assertInvalidArg(self, args, key, reason):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg '%s' for queue 'q' in vhost '/': %s"
                 % (key, reason),
            ch.queue_declare, "q", arguments=args)
        self.assertQueueMissing("q")

    def test_dlrk_without_dlx_is_406(self):
        self.assertInvalidArg({"x-dead-letter-routing-key": "k"}, "x-dead-letter-routing-key",
                              "routing_key_but_no_dlx_defined")

    def test_numeric_dlrk_is_406(self):
        self.assertInvalidArg({"x-dead-letter-exchange": "dlx", "x-dead-letter-routing-key": 5},
                              "x-dead-letter-routing-key", "{unacceptable_type,signedint}")


# ---- the raw client: exact field types ----

PROPS = [("content_type", 15, "shortstr"), ("content_encoding", 14, "shortstr"),
         ("headers", 13, "table"), ("delivery_mode", 12, "octet"), ("priority", 11, "octet"),
         ("correlation_id", 10, "shortstr"), ("reply_to", 9, "shortstr"),
         ("expiration", 8, "shortstr"), ("message_id", 7, "shortstr"),
         ("timestamp", 6, "longlong"), ("type", 5, "shortstr"), ("user_id", 4, "shortstr"),
         ("app_id", 3, "shortstr"), ("cluster_id", 2, "shortstr")]


def raw_get(c, queue, timeout=3.0):
    """basic.get (no-ack) on channel 1 of the opened raw connection c until a
    message comes; returns ({property: value}, body) with typed header tables."""
    deadline = time.monotonic() + timeout
    while True:
        c.send_method(1, raw.BASIC_GET, raw.basic_get_args(queue, no_ack=True))
        f = c.recv_method()
        if f.method_id == raw.BASIC_GET_OK:
            break
        if f.method_id != raw.BASIC_GET_EMPTY or time.monotonic() > deadline:
            raise raw.ProtocolError("basic.get on %r: %r" % (queue, f))
        time.sleep(0.02)
    h = c.recv_frame()
    d = raw.Decoder(h.payload)
    d.short(), d.short()
    size = d.longlong()
    flags = d.short()
    props = {}
    for name, bit, kind in PROPS:
        if flags & (1 << bit):
            props[name] = getattr(d, kind)()
    body = b""
    while len(body) < size:
        body += c.recv_frame().payload
    return props, body


# ---- other clients ----

class OtherClients(DlTestCase):
    def test_amqplib_nack_lands_in_dlq_with_x_death(self):
        if shutil.which("node") is None:
            raise unittest.SkipTest("node not installed")
        if not os.path.isdir(os.path.join(HERE, "node", "node_modules", "amqplib")):
            import importlib
            importlib.import_module("50_amqplib").ensure_node_modules()
        p = subprocess.run(["node", os.path.join(HERE, "node", "dead_letter.js"),
                            str(self.broker.port), "nack_to_dlq"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("ok nack_to_dlq", out)

    def test_rabbitmq_c_nack_lands_in_dlq_with_x_death(self):
        d = SETTINGS["clients"]
        if not d:
            raise unittest.SkipTest("no --clients directory given")
        path = os.path.join(d, "deadletter")
        self.assertTrue(os.access(path, os.X_OK), "client %s not built" % path)
        p = subprocess.run([path, "127.0.0.1", str(self.broker.port)], stdin=subprocess.DEVNULL,
                           capture_output=True, env=sanitizer_env(), timeout=20 * time_scale())
        out = p.stdout.decode(errors="replace")
        err = p.stderr.decode(errors="replace")
        self.assertIsNone(sanitizer_report(err), err)
        self.assertEqual(p.returncode, 0, out + err)
        lines = out.splitlines()
        self.assertIn("basic.nack: requeue=0", lines)
        self.assertIn("dlq: body=c-msg exchange=c.dlx routing_key=c.work", lines)
        self.assertIn("x-death: array of 1", lines)
        for want in ("x-death[0].count: l 1", "x-death[0].reason: S rejected",
                     "x-death[0].queue: S c.work", "x-death[0].exchange: S ",
                     "x-death[0].routing-keys: A [c.work]", "x-death[0].time: T recent",
                     "x-first-death-queue: S c.work", "x-first-death-reason: S rejected",
                     "x-first-death-exchange: S "):
            self.assertIn(want, lines)
        self.assertNotIn("x-death[0].original-expiration", out)
