# SPDX-License-Identifier: MIT
"""52 kombu (Debian python3-kombu over python3-amqp), used the way Celery uses it:
a direct exchange, a queue with x-max-priority, Producer/Consumer with JSON
payloads and priorities, and kombu's SimpleQueue.
"""

import unittest

from harness import BrokerTestCase

try:
    import kombu
except ImportError:  # pragma: no cover - reported as a skip, see the report
    kombu = None


@unittest.skipIf(kombu is None, "python3-kombu is not installed")
class Kombu(BrokerTestCase):
    def connection(self):
        conn = kombu.Connection("amqp://guest:guest@127.0.0.1:%d//" % self.broker.port,
                                connect_timeout=5, heartbeat=0)
        conn.connect()
        self.track(conn)
        return conn

    def test_producer_consumer_round_trip_on_priority_queue(self):
        exchange = kombu.Exchange("celery", type="direct", durable=True)
        queue = kombu.Queue("celery", exchange, routing_key="celery", max_priority=10,
                            durable=True)
        with self.connection() as conn:
            producer = kombu.Producer(conn.channel(), exchange=exchange)
            producer.publish({"task": "warmup"}, routing_key="celery", declare=[queue],
                             serializer="json", priority=0)
            received = []

            def on_message(body, message):
                received.append((body, message.properties.get("priority")))
                message.ack()

            with kombu.Consumer(conn, [queue], callbacks=[on_message], prefetch_count=1):
                conn.drain_events(timeout=5)
                self.assertEqual(received, [({"task": "warmup"}, 0)])
            # With nobody consuming, a backlog is served by priority.
            for name, prio in [("low", 1), ("high", 9), ("mid", 5)]:
                producer.publish({"task": name}, routing_key="celery", serializer="json",
                                 priority=prio, delivery_mode=2)
            received.clear()
            with kombu.Consumer(conn, [queue], callbacks=[on_message], prefetch_count=1):
                while len(received) < 3:
                    conn.drain_events(timeout=5)
            self.assertEqual([b["task"] for b, _ in received], ["high", "mid", "low"])
            self.assertEqual([p for _, p in received], [9, 5, 1])
            # Celery's worker redeclares the queue with the same arguments at start-up.
            queue(conn.channel()).declare()

    def test_simple_queue_put_get_ack(self):
        with self.connection() as conn:
            q = conn.SimpleQueue("simple")
            for i in range(3):
                q.put({"n": i})
            msg = q.get(block=True, timeout=5)
            self.assertEqual(msg.payload, {"n": 0})
            msg.ack()
            msg = q.get(block=True, timeout=5)
            self.assertEqual(msg.payload, {"n": 1})
            msg.requeue()
            # The consumer may already hold {"n": 2}: the requeued one comes after it.
            rest = [q.get(block=True, timeout=5) for _ in range(2)]
            for m in rest:
                m.ack()
            self.assertEqual(sorted((m.payload["n"], m.delivery_info["redelivered"])
                                    for m in rest), [(1, True), (2, False)])
            with self.assertRaises(q.Empty):
                q.get(block=True, timeout=0.5)
            q.close()
