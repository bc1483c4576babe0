# SPDX-License-Identifier: MIT
"""48 message flow (pika): volumes that exercise buffering and write batching:
ten thousand messages through one queue in order, a fanout to many queues, a
publisher running ahead of a slow consumer, channel.flow active=true, and flow
control when memory over the budget cannot be paged out. Every test is bounded
in count and time.
"""

import pika

from pikakit import Collector, PikaTestCase


class Flow(PikaTestCase):
    def test_ten_thousand_messages_arrive_in_order(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        n = 10000
        for i in range(n):
            ch.basic_publish("", "q", b"%d" % i)
        got = []

        def on_msg(c, m, p, b):
            got.append(b)
            if len(got) % 50 == 0:
                c.basic_ack(m.delivery_tag, multiple=True)
        ch.basic_qos(prefetch_count=100)
        ch.basic_consume("q", on_msg)
        self.assertTrue(self.pump_until(conn, lambda: len(got) >= n, 30.0),
                        "got %d of %d" % (len(got), n))
        self.assertEqual(got, [b"%d" % i for i in range(n)])

    def test_fanout_to_fifty_queues(self):
        ch = self.channel()
        ch.exchange_declare("fan", "fanout")
        for i in range(50):
            ch.queue_declare("q%d" % i)
            ch.queue_bind("q%d" % i, "fan")
        ch.confirm_delivery()
        for j in range(100):
            ch.basic_publish("fan", "", b"%d" % j)
        for i in (0, 17, 49):
            self.assertEqual(self.message_count("q%d" % i), 100)
        self.assertEqual(self.bodies(ch, "q33"), [b"%d" % j for j in range(100)])

    def test_publisher_ahead_of_a_slow_consumer_loses_nothing(self):
        pub_conn = self.connect()
        pub = pub_conn.channel()
        pub.queue_declare("q")
        cons_conn = self.connect()
        cons = cons_conn.channel()
        cons.basic_qos(prefetch_count=5)
        got = Collector(ack=True)
        cons.basic_consume("q", got)
        body = b"x" * 10000
        pub.confirm_delivery()
        n = 2000
        for i in range(n):
            pub.basic_publish("", "q", b"%05d" % i + body)
            if i % 200 == 0:
                cons_conn.process_data_events(time_limit=0)
        self.consume_n(cons_conn, got, n, timeout=30.0)
        self.assertEqual([b[:5] for b in got.bodies], [b"%05d" % i for i in range(n)])

    def test_channel_flow_active_true_is_acknowledged(self):
        ch = self.channel()
        self.assertTrue(ch.flow(True))
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"m", pika.BasicProperties())
        self.assertEqual(self.bodies(ch, "q"), [b"m"])


class MemoryBudget(PikaTestCase):
    """limits.memory_budget: message bytes past it are paged out to disk (72_paging);
    bytes that cannot be (requeued messages) pause publishers instead (flow control),
    until consumers bring them down."""

    CONFIG = {"limits": {"memory_budget": 1000000}}

    def test_publisher_pauses_while_memory_cannot_be_paged_out(self):
        import threading
        ch = self.channel()
        ch.queue_declare("q")
        # 5 MB delivered to a consumer that does not ack, then requeued by its
        # channel closing: ready again, in memory, and never paged out.
        held = self.connect()
        hch = held.channel()
        got_held = []
        hch.basic_consume("q", lambda c, m, p, b: got_held.append(b))
        for i in range(50):
            ch.basic_publish("", "q", b"r%03d" % i + b"x" * 100000)
        self.assertTrue(self.pump_until(held, lambda: len(got_held) == 50, 10.0))
        hch.close()
        self.assertEqual(self.message_count("q"), 50)
        n = 50
        published = threading.Event()
        errors = []

        def publish():
            try:
                conn = self.connect()
                pch = conn.channel()
                for i in range(n):
                    pch.basic_publish("", "q", b"%03d" % i + b"y" * 100000)
                conn.process_data_events(0)
                published.set()
            except Exception as e:  # reported by the main thread
                errors.append(e)
                published.set()

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        self.assertFalse(published.wait(2.0), "the publisher was never paused")
        got = []
        ch.basic_consume("q", lambda c, m, p, b: got.append(b[:4]), auto_ack=True)
        self.assertTrue(self.pump_until(ch.connection, lambda: len(got) >= 50 + n, 30.0),
                        "got %d of %d" % (len(got), 50 + n))
        self.assertTrue(published.wait(10.0))
        t.join(5.0)
        self.assertEqual(errors, [])
        self.assertEqual(got, [b"r%03d" % i for i in range(50)] + [b"%03dy" % i for i in range(n)])
