# SPDX-License-Identifier: MIT
"""56 delivery limit (pika): x-delivery-limit on x-queue-type=quorum queues.
A message returned more times than the limit is dead-lettered with reason
delivery_limit (dropped without a dead-letter exchange); redeliveries carry the
x-delivery-count header; -1 is unlimited and 20 the default (RabbitMQ 4.0);
a classic queue refuses the argument.

RabbitMQ facts: docs quorum-queues.md "Poison Message Handling"; rabbit_fifo.erl
return_one (dead-letter when delivery_count > delivery_limit). Requeues here use
basic.reject(requeue=true): every RabbitMQ version counts it (4.3 stopped
counting basic.nack requeues, rabbitmq-server#15387). Checked against RabbitMQ
3.10.8 with run.py --rabbitmq; the 4.0 defaults are skipped against older ones.
"""

import time
import unittest

import mgmtkit
from harness import SETTINGS
from pikakit import PikaTestCase


def external_version():
    if not SETTINGS["external"]:
        return None
    v = mgmtkit.call(SETTINGS["external"][1], "GET", "/api/overview").json["rabbitmq_version"]
    return tuple(int(x) for x in v.split(".")[:2])


def xdeath(props):
    return (props.headers or {}).get("x-death")


class DeliveryLimitTestCase(PikaTestCase):
    def quorum(self, ch, limit=None, dlx=True, name="qq"):
        args = {"x-queue-type": "quorum"}
        if limit is not None:
            args["x-delivery-limit"] = limit
        if dlx:
            ch.exchange_declare("dlx", "fanout")
            ch.queue_declare("dlq")
            ch.queue_bind("dlq", "dlx")
            args["x-dead-letter-exchange"] = "dlx"
        ch.queue_declare(name, durable=True, arguments=args)

    def requeue_loop(self, conn, ch, queue, rejects, timeout=5.0):
        """Consumes queue and rejects with requeue the first `rejects` deliveries
        (acking any later one). Returns [(redelivered, x-delivery-count)] of the
        deliveries seen once no more come for 0.3 s."""
        seen = []

        def on_message(c, m, p, b):
            seen.append((m.redelivered, (p.headers or {}).get("x-delivery-count")))
            if len(seen) <= rejects:
                c.basic_reject(m.delivery_tag, requeue=True)
            else:
                c.basic_ack(m.delivery_tag)
        ch.basic_qos(prefetch_count=10)
        ch.basic_consume(queue, on_message)
        deadline = time.monotonic() + timeout
        last = -1
        while time.monotonic() < deadline:
            if len(seen) == last:
                break
            last = len(seen)
            self.pump(conn, 0.3)
        return seen

    def wait_get(self, ch, queue, timeout=3.0):
        deadline = time.monotonic() + timeout
        while True:
            m, p, b = ch.basic_get(queue, auto_ack=True)
            if m is not None:
                return m, p, b
            if time.monotonic() >= deadline:
                self.fail("no message in %r within %.1fs" % (queue, timeout))
            time.sleep(0.02)


class DeliveryLimit(DeliveryLimitTestCase):
    def test_limit_1_dead_letters_on_the_second_return(self):
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch, limit=1)
        ch.basic_publish("", "qq", b"poison")
        seen = self.requeue_loop(conn, ch, "qq", rejects=5)
        self.assertEqual(seen, [(False, None), (True, 1)],
                         "one requeue is allowed; the second return dead-letters")
        m, p, b = self.wait_get(ch, "dlq")
        self.assertEqual(b, b"poison")
        [d] = xdeath(p)
        self.assertEqual({k: d[k] for k in ("queue", "reason", "count", "exchange",
                                            "routing-keys")},
                         {"queue": "qq", "reason": "delivery_limit", "count": 1,
                          "exchange": "", "routing-keys": ["qq"]})
        self.assertEqual(p.headers["x-first-death-reason"], "delivery_limit")
        self.assertEqual(self.message_count("qq"), 0)

    def test_limit_2_allows_two_requeues_with_x_delivery_count(self):
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch, limit=2)
        ch.basic_publish("", "qq", b"poison")
        seen = self.requeue_loop(conn, ch, "qq", rejects=5)
        self.assertEqual(seen, [(False, None), (True, 1), (True, 2)])
        m, p, b = self.wait_get(ch, "dlq")
        self.assertEqual((b, xdeath(p)[0]["reason"]), (b"poison", "delivery_limit"))

    def test_message_acked_within_the_limit_is_not_dead_lettered(self):
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch, limit=2)
        ch.basic_publish("", "qq", b"fine")
        seen = self.requeue_loop(conn, ch, "qq", rejects=2)
        self.assertEqual(seen, [(False, None), (True, 1), (True, 2)])
        time.sleep(0.2)
        self.assertEqual((self.message_count("qq"), self.message_count("dlq")), (0, 0))

    def test_limit_without_dlx_drops_the_message(self):
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch, limit=1, dlx=False)
        ch.basic_publish("", "qq", b"poison")
        seen = self.requeue_loop(conn, ch, "qq", rejects=5)
        self.assertEqual(len(seen), 2)
        self.assertEqual(self.message_count("qq"), 0)

    def test_x_delivery_count_counts_a_return_by_channel_close(self):
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch, dlx=False)
        ch.basic_publish("", "qq", b"m")
        first = []
        ch.basic_consume("qq", lambda c, m, p, b: first.append((m.redelivered, p.headers)))
        self.pump_until(conn, lambda: first, timeout=3.0)
        self.assertEqual(first, [(False, None)])
        ch.close()
        ch2 = conn.channel()
        m, p, b = self.wait_get(ch2, "qq")
        self.assertTrue(m.redelivered)
        self.assertEqual(p.headers["x-delivery-count"], 1)

    def test_minus_one_is_unlimited(self):
        v = external_version()
        if v is not None and v < (4, 0):
            raise unittest.SkipTest("-1 = unlimited came with RabbitMQ 4.0")
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch, limit=-1)
        ch.basic_publish("", "qq", b"m")
        seen = self.requeue_loop(conn, ch, "qq", rejects=25)
        self.assertEqual(len(seen), 26)
        self.assertEqual(seen[-1], (True, 25))
        self.assertEqual(self.message_count("dlq"), 0)

    def test_default_limit_is_20(self):
        v = external_version()
        if v is not None and v < (4, 0):
            raise unittest.SkipTest("the default delivery limit of 20 came with RabbitMQ 4.0")
        conn = self.connect()
        ch = conn.channel()
        self.quorum(ch)
        ch.basic_publish("", "qq", b"m")
        seen = self.requeue_loop(conn, ch, "qq", rejects=30)
        self.assertEqual(len(seen), 21, "20 requeues allowed, the 21st return dead-letters")
        self.assertEqual(seen[-1], (True, 20))
        m, p, b = self.wait_get(ch, "dlq")
        self.assertEqual(xdeath(p)[0]["reason"], "delivery_limit")


class Validation(PikaTestCase):
    def test_delivery_limit_on_a_classic_queue_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-delivery-limit' for queue 'q' in vhost "
                 "'/' of queue type rabbit_classic_queue",
            ch.queue_declare, "q", arguments={"x-delivery-limit": 1})
        self.assertQueueMissing("q")
