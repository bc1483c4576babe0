# SPDX-License-Identifier: MIT
"""43 acknowledgements (pika): basic.get, ack/reject/nack (single and multiple),
requeue in place with the redelivered flag, basic.recover, requeue of the unacked
messages of a closed channel or connection, and basic.qos prefetch (per consumer
and global).

Texts are RabbitMQ's (rabbit_channel.erl; checked against RabbitMQ 3.10 with
run.py --rabbitmq): an unknown or repeated delivery tag is channel error 406
"PRECONDITION_FAILED - unknown delivery tag N".
"""

import time


from pikakit import Collector, PikaTestCase


class AckTestCase(PikaTestCase):
    def fill(self, ch, q, n, start=1):
        ch.queue_declare(q)
        for i in range(start, start + n):
            ch.basic_publish("", q, b"%d" % i)


class Get(AckTestCase):
    def test_get_ok_message_count_counts_the_rest_and_get_empty_ends(self):
        ch = self.channel()
        self.fill(ch, "q", 3)
        counts = []
        for _ in range(3):
            m, p, b = ch.basic_get("q", auto_ack=True)
            counts.append((b, m.message_count, m.redelivered, m.exchange, m.routing_key))
        self.assertEqual(counts, [(b"1", 2, False, "", "q"), (b"2", 1, False, "", "q"),
                                  (b"3", 0, False, "", "q")])
        self.assertEqual(ch.basic_get("q"), (None, None, None))

    def test_get_delivery_tags_count_up_per_channel(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 4)
        self.assertEqual([ch.basic_get("q")[0].delivery_tag for _ in range(2)], [1, 2])
        other = conn.channel()
        self.assertEqual(other.basic_get("q")[0].delivery_tag, 1)
        self.assertEqual(ch.basic_get("q")[0].delivery_tag, 3)


class Ack(AckTestCase):
    def test_acked_messages_are_gone(self):
        ch = self.channel()
        self.fill(ch, "q", 2)
        m, _, _ = ch.basic_get("q")
        ch.basic_ack(m.delivery_tag)
        ch.close()
        self.assertEqual(self.message_count("q"), 1)

    def test_ack_multiple_acks_up_to_the_tag(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 5)
        tags = [ch.basic_get("q")[0].delivery_tag for _ in range(5)]
        ch.basic_ack(tags[2], multiple=True)
        ch.close()
        ch = conn.channel()
        rest = self.get_all(ch, "q")
        self.assertEqual([(b, m.redelivered) for m, _, b in rest], [(b"4", True), (b"5", True)])

    def test_ack_zero_multiple_acks_everything(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 3)
        for _ in range(3):
            ch.basic_get("q")
        ch.basic_ack(0, multiple=True)
        ch.close()
        self.assertEqual(self.message_count("q", conn), 0)

    def test_unknown_delivery_tag_is_406(self):
        ch = self.channel()
        self.fill(ch, "q", 1)
        ch.basic_get("q")

        def ack():
            ch.basic_ack(99)
            self.sync(ch)
        self.assertChannelError(406, "PRECONDITION_FAILED - unknown delivery tag 99", ack)

    def test_acking_twice_is_406(self):
        ch = self.channel()
        self.fill(ch, "q", 1)
        m, _, _ = ch.basic_get("q")
        ch.basic_ack(m.delivery_tag)

        def again():
            ch.basic_ack(m.delivery_tag)
            self.sync(ch)
        self.assertChannelError(406, "PRECONDITION_FAILED - unknown delivery tag 1", again)

    def test_ack_of_auto_acked_delivery_is_406(self):
        ch = self.channel()
        self.fill(ch, "q", 1)
        m, _, _ = ch.basic_get("q", auto_ack=True)

        def ack():
            ch.basic_ack(m.delivery_tag)
            self.sync(ch)
        self.assertChannelError(406, "PRECONDITION_FAILED - unknown delivery tag 1", ack)

    def test_delivery_tag_of_another_channel_is_406(self):
        conn = self.connect()
        a = conn.channel()
        self.fill(a, "q", 2)
        a.basic_get("q")
        b = conn.channel()

        def ack():
            b.basic_ack(1)
            self.sync(b)
        self.assertChannelError(406, "PRECONDITION_FAILED - unknown delivery tag 1", ack)
        self.assertTrue(a.is_open)

    def test_channel_error_requeues_the_channels_unacked_messages(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 2)
        ch.basic_get("q")
        ch.basic_get("q")

        def ack():
            ch.basic_ack(42)
            self.sync(ch)
        self.assertChannelError(406, None, ack)
        self.assertEqual(self.message_count("q", conn), 2)


class RejectNack(AckTestCase):
    def test_reject_without_requeue_drops(self):
        ch = self.channel()
        self.fill(ch, "q", 1)
        m, _, _ = ch.basic_get("q")
        ch.basic_reject(m.delivery_tag, requeue=False)
        self.assertEqual(self.bodies(ch, "q"), [])

    def test_reject_with_requeue_redelivers(self):
        ch = self.channel()
        self.fill(ch, "q", 1)
        m, _, _ = ch.basic_get("q")
        ch.basic_reject(m.delivery_tag, requeue=True)
        m2, _, b = ch.basic_get("q", auto_ack=True)
        self.assertEqual((b, m2.redelivered), (b"1", True))

    def test_nack_multiple_requeues_all_up_to_the_tag(self):
        ch = self.channel()
        self.fill(ch, "q", 4)
        tags = [ch.basic_get("q")[0].delivery_tag for _ in range(4)]
        ch.basic_nack(tags[2], multiple=True, requeue=True)
        got = [(b, m.redelivered) for m, _, b in self.get_all(ch, "q")]
        self.assertEqual(got, [(b"1", True), (b"2", True), (b"3", True)])
        ch.basic_ack(tags[3])

    def test_nack_multiple_without_requeue_drops(self):
        ch = self.channel()
        self.fill(ch, "q", 3)
        tags = [ch.basic_get("q")[0].delivery_tag for _ in range(3)]
        ch.basic_nack(tags[-1], multiple=True, requeue=False)
        self.assertEqual(self.bodies(ch, "q"), [])

    def test_nack_unknown_tag_is_406(self):
        ch = self.channel()
        self.fill(ch, "q", 1)

        def nack():
            ch.basic_nack(7)
            self.sync(ch)
        self.assertChannelError(406, "PRECONDITION_FAILED - unknown delivery tag 7", nack)

    def test_requeued_message_goes_back_to_its_original_position(self):
        ch = self.channel()
        self.fill(ch, "q", 5)
        tags = {}
        for _ in range(3):
            m, _, b = ch.basic_get("q")
            tags[b] = m.delivery_tag
        ch.basic_nack(tags[b"2"], requeue=True)
        order = [(b, m.redelivered) for m, _, b in self.get_all(ch, "q")]
        self.assertEqual(order, [(b"2", True), (b"4", False), (b"5", False)])

    def test_requeued_messages_keep_their_relative_order(self):
        ch = self.channel()
        self.fill(ch, "q", 6)
        tags = {}
        for _ in range(6):
            m, _, b = ch.basic_get("q")
            tags[b] = m.delivery_tag
        for b in (b"5", b"1", b"3"):
            ch.basic_reject(tags[b], requeue=True)
        self.assertEqual(self.bodies(ch, "q"), [b"1", b"3", b"5"])

    def test_consumer_sees_redelivered_after_nack_requeue(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 1)
        got = Collector()
        ch.basic_consume("q", got)
        self.consume_n(conn, got, 1)
        ch.basic_nack(got.methods[0].delivery_tag, requeue=True)
        self.consume_n(conn, got, 2)
        self.assertEqual([(m.redelivered, b) for m, _, b in got.items],
                         [(False, b"1"), (True, b"1")])
        self.assertGreater(got.methods[1].delivery_tag, got.methods[0].delivery_tag)


class Recover(AckTestCase):
    def test_recover_requeue_redelivers_unacked_messages(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 2)
        got = Collector()
        ch.basic_consume("q", got)
        self.consume_n(conn, got, 2)
        ch.basic_recover(requeue=True)
        self.consume_n(conn, got, 4)
        self.assertEqual([(m.redelivered, b) for m, _, b in got.items[2:]],
                         [(True, b"1"), (True, b"2")])

    def test_unacked_messages_of_a_closed_channel_are_requeued_redelivered(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 3)
        ch.basic_get("q")
        ch.basic_get("q")
        ch.close()
        got = [(b, m.redelivered) for m, _, b in self.get_all(conn.channel(), "q")]
        self.assertEqual(got, [(b"1", True), (b"2", True), (b"3", False)])

    def test_unacked_messages_of_a_closed_connection_are_requeued_redelivered(self):
        self.fill(self.channel(), "q", 2)
        conn = self.connect()
        ch = conn.channel()
        got = Collector()
        ch.basic_consume("q", got)
        self.consume_n(conn, got, 2)
        conn.close()
        time.sleep(0.1)
        got = [(b, m.redelivered) for m, _, b in self.get_all(self.channel(), "q")]
        self.assertEqual(got, [(b"1", True), (b"2", True)])

    def test_unacked_messages_of_a_cancelled_consumer_stay_unacked(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 1)
        got = Collector()
        tag = ch.basic_consume("q", got)
        self.consume_n(conn, got, 1)
        ch.basic_cancel(tag)
        self.assertEqual(self.message_count("q"), 0)
        ch.basic_ack(got.methods[0].delivery_tag)
        ch.close()
        self.assertEqual(self.message_count("q"), 0)


class Qos(AckTestCase):
    def outstanding(self, conn, collectors, settle=0.3):
        self.pump(conn, settle)
        return [len(c.items) for c in collectors]

    def test_prefetch_limits_unacked_deliveries_per_consumer(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "a", 10)
        self.fill(ch, "b", 10)
        ch.basic_qos(prefetch_count=2)
        ca, cb = Collector(), Collector()
        ch.basic_consume("a", ca)
        ch.basic_consume("b", cb)
        self.assertEqual(self.outstanding(conn, [ca, cb]), [2, 2])
        ch.basic_ack(ca.methods[0].delivery_tag)
        self.assertEqual(self.outstanding(conn, [ca, cb]), [3, 2])

    def test_global_prefetch_limits_the_whole_channel(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "a", 10)
        self.fill(ch, "b", 10)
        ch.basic_qos(prefetch_count=3, global_qos=True)
        ca, cb = Collector(), Collector()
        ch.basic_consume("a", ca)
        ch.basic_consume("b", cb)
        counts = self.outstanding(conn, [ca, cb])
        self.assertEqual(sum(counts), 3, counts)
        first = (ca if ca.items else cb).methods[0]
        ch.basic_ack(first.delivery_tag)
        self.assertEqual(sum(self.outstanding(conn, [ca, cb])), 4)

    def test_ack_multiple_frees_that_many_slots(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 10)
        ch.basic_qos(prefetch_count=3)
        got = Collector()
        ch.basic_consume("q", got)
        self.assertEqual(self.outstanding(conn, [got]), [3])
        ch.basic_ack(got.methods[2].delivery_tag, multiple=True)
        self.assertEqual(self.outstanding(conn, [got]), [6])

    def test_prefetch_does_not_limit_auto_ack_consumers(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 20)
        ch.basic_qos(prefetch_count=1)
        got = Collector()
        ch.basic_consume("q", got, auto_ack=True)
        self.consume_n(conn, got, 20)

    def test_prefetch_zero_means_unlimited(self):
        conn = self.connect()
        ch = conn.channel()
        self.fill(ch, "q", 50)
        ch.basic_qos(prefetch_count=0)
        got = Collector()
        ch.basic_consume("q", got)
        self.consume_n(conn, got, 50)

    def test_prefetch_does_not_limit_basic_get(self):
        ch = self.channel()
        self.fill(ch, "q", 3)
        ch.basic_qos(prefetch_count=1)
        self.assertEqual(len(self.get_all(ch, "q", auto_ack=False)), 3)
