# SPDX-License-Identifier: MIT
"""65 management queue message_stats: per-queue publish, deliver,
deliver_no_ack, get, get_no_ack, deliver_get, redeliver and ack counts with
*_details rates (sampled every 5 s), left out with disable_stats=true; and
message_bytes_unacknowledged, messages_persistent, message_bytes_persistent
over ready and unacknowledged messages, message_bytes = ready + unacked."""

import time

import pika

from mgmtkit import MgmtTestCase

STAT_KEYS = ("publish", "deliver", "deliver_no_ack", "get", "get_no_ack", "deliver_get",
             "redeliver", "ack")

PERSISTENT = pika.BasicProperties(delivery_mode=2)


class QueueStats(MgmtTestCase):
    def setUp(self):
        super().setUp()
        self.ch = self.pika().channel()

    def queue(self, name):
        return self.get("queues/%2F/" + name)

    def counts(self, name):
        ms = self.queue(name)["message_stats"]
        return {k: ms[k] for k in STAT_KEYS}

    def test_keys_and_zero_counts(self):
        self.ch.queue_declare("s0")
        q = self.queue("s0")
        ms = q["message_stats"]
        for k in STAT_KEYS:
            self.assertEqual(ms[k], 0, k)
            self.assertEqual(ms[k + "_details"], {"rate": 0.0}, k)
        for k in ("message_bytes", "message_bytes_unacknowledged", "messages_persistent",
                  "message_bytes_persistent"):
            self.assertEqual(q[k], 0, k)
        # disable_stats leaves message_stats out, as RabbitMQ.
        lst = self.get("queues?disable_stats=true")
        self.assertEqual([x["name"] for x in lst], ["s0"])
        self.assertNotIn("message_stats", lst[0])
        self.assertIn("message_stats", self.get("queues")[0])
        cols = self.get("queues?columns=name,message_stats")
        self.assertEqual(sorted(cols[0]), ["message_stats", "name"])

    def test_get_ack_requeue_and_bytes(self):
        self.ch.queue_declare("s1")
        self.ch.basic_publish("", "s1", b"aaaa", PERSISTENT)  # 4 bytes, persistent
        self.ch.basic_publish("", "s1", b"bb")                # 2 bytes
        self.ch.basic_publish("", "s1", b"ccc", PERSISTENT)   # 3 bytes, persistent
        self.ch.basic_publish("", "s1", b"d")                 # 1 byte
        q = self.queue("s1")
        self.assertEqual(q["message_stats"]["publish"], 4)
        self.assertEqual((q["messages_persistent"], q["message_bytes_persistent"]), (2, 7))
        self.assertEqual((q["message_bytes"], q["message_bytes_unacknowledged"]), (10, 0))

        m1, _, _ = self.ch.basic_get("s1", auto_ack=False)
        m2, _, _ = self.ch.basic_get("s1", auto_ack=False)
        q = self.queue("s1")
        self.assertEqual(q["message_bytes_unacknowledged"], 6)
        self.assertEqual(q["message_bytes_ready"], 4)
        self.assertEqual(q["message_bytes"], 10)
        self.assertEqual(q["messages_persistent"], 2)  # ready and unacked both count
        self.ch.basic_ack(m1.delivery_tag)
        self.ch.basic_nack(m2.delivery_tag, requeue=True)
        q = self.queue("s1")
        self.assertEqual(q["message_bytes_unacknowledged"], 0)
        self.assertEqual((q["messages_persistent"], q["message_bytes_persistent"]), (1, 3))
        self.assertEqual(q["message_bytes"], 6)

        m, _, body = self.ch.basic_get("s1", auto_ack=True)  # the requeued "bb"
        self.assertEqual((body, m.redelivered), (b"bb", True))
        self.assertEqual(self.counts("s1"),
                         {"publish": 4, "deliver": 0, "deliver_no_ack": 0, "get": 2,
                          "get_no_ack": 1, "deliver_get": 3, "redeliver": 1, "ack": 1})

    def test_consume_with_and_without_ack(self):
        self.ch.queue_declare("s2")
        for i in range(5):
            self.ch.basic_publish("", "s2", b"x" * 10, PERSISTENT if i % 2 else None)
        got = []
        tag = self.ch.basic_consume("s2", lambda ch, m, p, b: got.append(m.delivery_tag))
        deadline = time.time() + 5
        while len(got) < 5 and time.time() < deadline:
            self.ch.connection.process_data_events(time_limit=0.1)
        self.assertEqual(len(got), 5)
        q = self.queue("s2")
        self.assertEqual(q["message_stats"]["deliver"], 5)
        self.assertEqual(q["message_bytes_unacknowledged"], 50)
        self.assertEqual((q["messages_persistent"], q["message_bytes_persistent"]), (2, 20))
        for t in got[:3]:
            self.ch.basic_ack(t)
        # Cancel first so the requeued pair goes to the next consumer.
        self.ch.basic_cancel(tag)
        self.ch.basic_nack(got[4], multiple=True, requeue=True)  # two go back, redelivered

        ch2 = self.pika().channel()
        got2 = []
        ch2.basic_consume("s2", lambda ch, m, p, b: got2.append(m.redelivered), auto_ack=True)
        deadline = time.time() + 5
        while len(got2) < 2 and time.time() < deadline:
            ch2.connection.process_data_events(time_limit=0.1)
        self.assertEqual(got2, [True, True])
        q = self.queue("s2")
        self.assertEqual(self.counts("s2"),
                         {"publish": 5, "deliver": 5, "deliver_no_ack": 2, "get": 0,
                          "get_no_ack": 0, "deliver_get": 7, "redeliver": 2, "ack": 3})
        self.assertEqual((q["message_bytes"], q["message_bytes_unacknowledged"]), (0, 0))
        self.assertEqual((q["messages_persistent"], q["message_bytes_persistent"]), (0, 0))

    def test_rates_after_a_sample(self):
        # The broker samples at start and every 5 s: publish now, and the
        # next sample shows a publish rate above 0.
        self.ch.queue_declare("s3")
        for _ in range(20):
            self.ch.basic_publish("", "s3", b"r")
        for _ in range(5):
            self.ch.basic_get("s3", auto_ack=True)
        deadline = time.time() + 12
        while True:
            ms = self.queue("s3")["message_stats"]
            if ms["publish_details"]["rate"] > 0 or time.time() > deadline:
                break
            time.sleep(0.5)
        self.assertGreater(ms["publish_details"]["rate"], 0)
        self.assertGreater(ms["get_no_ack_details"]["rate"], 0)
        self.assertEqual(ms["deliver_get_details"]["rate"], ms["get_no_ack_details"]["rate"])
        self.assertEqual(ms["ack_details"]["rate"], 0.0)
        self.assertEqual((ms["publish"], ms["get_no_ack"]), (20, 5))
