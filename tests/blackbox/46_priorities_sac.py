# SPDX-License-Identifier: MIT
"""46 priority queues (x-max-priority) and single active consumer
(x-single-active-consumer), with pika.
"""

import pika

from pikakit import Collector, PikaTestCase


def prio(p):
    return pika.BasicProperties(priority=p)


class Priorities(PikaTestCase):
    def test_higher_priority_messages_come_first(self):
        ch = self.channel()
        ch.queue_declare("pq", arguments={"x-max-priority": 10})
        for body, p in [(b"p1", 1), (b"p5", 5), (b"p3", 3), (b"p9", 9), (b"p0", 0),
                        (b"none", None), (b"p5b", 5)]:
            ch.basic_publish("", "pq", body, prio(p))
        self.assertEqual(self.bodies(ch, "pq"),
                         [b"p9", b"p5", b"p5b", b"p3", b"p1", b"p0", b"none"])

    def test_priority_above_the_maximum_counts_as_the_maximum(self):
        ch = self.channel()
        ch.queue_declare("pq", arguments={"x-max-priority": 5})
        ch.basic_publish("", "pq", b"p4", prio(4))
        ch.basic_publish("", "pq", b"p200", prio(200))
        ch.basic_publish("", "pq", b"p5", prio(5))
        self.assertEqual(self.bodies(ch, "pq"), [b"p200", b"p5", b"p4"])

    def test_queue_without_max_priority_ignores_priorities(self):
        ch = self.channel()
        ch.queue_declare("fifo")
        for i, p in enumerate([1, 9, 5]):
            ch.basic_publish("", "fifo", b"%d" % i, prio(p))
        self.assertEqual(self.bodies(ch, "fifo"), [b"0", b"1", b"2"])

    def test_consumer_receives_backlog_in_priority_order(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("pq", arguments={"x-max-priority": 3})
        for body, p in [(b"low", 0), (b"high", 3), (b"mid", 2)]:
            ch.basic_publish("", "pq", body, prio(p))
        ch.queue_declare("pq", passive=True)
        got = Collector(ack=True)
        ch.basic_qos(prefetch_count=1)
        ch.basic_consume("pq", got)
        self.consume_n(conn, got, 3)
        self.assertEqual(got.bodies, [b"high", b"mid", b"low"])

    def test_requeued_message_keeps_its_priority_place(self):
        ch = self.channel()
        ch.queue_declare("pq", arguments={"x-max-priority": 5})
        ch.basic_publish("", "pq", b"hi", prio(5))
        ch.basic_publish("", "pq", b"lo", prio(1))
        m, _, b = ch.basic_get("pq")
        self.assertEqual(b, b"hi")
        ch.basic_nack(m.delivery_tag, requeue=True)
        self.assertEqual(self.bodies(ch, "pq"), [b"hi", b"lo"])


class SingleActiveConsumer(PikaTestCase):
    ARGS = {"x-single-active-consumer": True}

    def test_only_the_first_consumer_receives(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("sac", arguments=self.ARGS)
        a, b = Collector(), Collector()
        ch.basic_consume("sac", a, auto_ack=True)
        ch.basic_consume("sac", b, auto_ack=True)
        for i in range(6):
            ch.basic_publish("", "sac", b"%d" % i)
        self.consume_n(conn, a, 6)
        self.pump(conn, 0.2)
        self.assertEqual(b.bodies, [])
        self.assertEqual(ch.queue_declare("sac", passive=True).method.consumer_count, 2)

    def test_next_consumer_takes_over_after_cancel(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("sac", arguments=self.ARGS)
        a, b = Collector(), Collector()
        ta = ch.basic_consume("sac", a, auto_ack=True)
        ch.basic_consume("sac", b, auto_ack=True)
        ch.basic_publish("", "sac", b"1")
        self.consume_n(conn, a, 1)
        ch.basic_cancel(ta)
        ch.basic_publish("", "sac", b"2")
        self.consume_n(conn, b, 1)
        self.assertEqual((a.bodies, b.bodies), ([b"1"], [b"2"]))

    def test_next_consumer_takes_over_when_the_active_ones_channel_closes(self):
        conn = self.connect()
        first = conn.channel()
        first.queue_declare("sac", arguments=self.ARGS)
        a, b = Collector(), Collector()
        first.basic_qos(prefetch_count=10)
        first.basic_consume("sac", a)
        second = conn.channel()
        second.basic_consume("sac", b, auto_ack=True)
        for i in range(3):
            second.basic_publish("", "sac", b"%d" % i)
        self.consume_n(conn, a, 3)
        first.close()  # its 3 unacked messages go back and on to the new active consumer
        self.consume_n(conn, b, 3)
        self.assertEqual(b.bodies, [b"0", b"1", b"2"])
        self.assertTrue(all(m.redelivered for m in b.methods))

    def test_sac_queue_still_serves_basic_get(self):
        ch = self.channel()
        ch.queue_declare("sac", arguments=self.ARGS)
        ch.basic_publish("", "sac", b"m")
        self.assertEqual(self.bodies(ch, "sac"), [b"m"])
