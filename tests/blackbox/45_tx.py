# SPDX-License-Identifier: MIT
"""45 transactions (pika): tx.select/commit/rollback. Publishes and acks made in a
transaction take effect at commit; rollback discards publishes and acks. Texts are
RabbitMQ's (rabbit_channel.erl).
"""

import time

from pikakit import PikaTestCase


class Tx(PikaTestCase):
    def setUp(self):
        super().setUp()
        self.conn = self.connect()
        self.tx = self.conn.channel()
        self.tx.queue_declare("q")
        self.tx.tx_select()
        self.observer = self.connect().channel()
        self.observer.confirm_delivery()  # its publishes are enqueued once they return

    def count(self):
        return self.observer.queue_declare("q", passive=True).method.message_count

    def test_publishes_are_invisible_until_commit(self):
        for i in range(3):
            self.tx.basic_publish("", "q", b"%d" % i)
        time.sleep(0.1)
        self.assertEqual(self.count(), 0)
        self.assertEqual(self.observer.basic_get("q"), (None, None, None))
        self.tx.tx_commit()
        self.assertEqual(self.bodies(self.observer, "q"), [b"0", b"1", b"2"])

    def test_rollback_discards_publishes(self):
        self.tx.basic_publish("", "q", b"gone")
        self.tx.tx_rollback()
        self.tx.basic_publish("", "q", b"kept")
        self.tx.tx_commit()
        self.assertEqual(self.bodies(self.observer, "q"), [b"kept"])

    def test_channel_stays_transactional_after_commit(self):
        self.tx.basic_publish("", "q", b"1")
        self.tx.tx_commit()
        self.tx.basic_publish("", "q", b"2")
        time.sleep(0.1)
        self.assertEqual(self.count(), 1)
        self.tx.tx_commit()
        self.assertEqual(self.count(), 2)

    def test_uncommitted_publishes_are_dropped_when_the_channel_closes(self):
        self.tx.basic_publish("", "q", b"x")
        self.tx.close()
        time.sleep(0.1)
        self.assertEqual(self.count(), 0)

    def test_acks_take_effect_at_commit(self):
        self.observer.basic_publish("", "q", b"m")
        m, _, _ = self.tx.basic_get("q")
        self.tx.basic_ack(m.delivery_tag)
        self.tx.tx_commit()
        self.tx.close()
        time.sleep(0.1)
        self.assertEqual(self.count(), 0)

    def test_uncommitted_ack_leaves_the_message_unacked(self):
        self.observer.basic_publish("", "q", b"m")
        m, _, _ = self.tx.basic_get("q")
        self.tx.basic_ack(m.delivery_tag)
        self.tx.close()  # no commit: the ack never happened, the message comes back
        time.sleep(0.1)
        got = self.get_all(self.observer, "q")
        self.assertEqual([(b, mm.redelivered) for mm, _, b in got], [(b"m", True)])

    def test_rolled_back_ack_can_be_sent_again(self):
        self.observer.basic_publish("", "q", b"m")
        m, _, _ = self.tx.basic_get("q")
        self.tx.basic_ack(m.delivery_tag)
        self.tx.tx_rollback()
        self.tx.basic_ack(m.delivery_tag)
        self.tx.tx_commit()
        self.tx.close()
        time.sleep(0.1)
        self.assertEqual(self.count(), 0)

    def test_reject_with_requeue_takes_effect_at_commit(self):
        self.observer.basic_publish("", "q", b"m")
        m, _, _ = self.tx.basic_get("q")
        self.tx.basic_reject(m.delivery_tag, requeue=True)
        time.sleep(0.1)
        self.assertEqual(self.count(), 0)
        self.tx.tx_commit()
        self.assertEqual(self.count(), 1)

    def test_tx_select_twice_is_fine(self):
        self.tx.tx_select()

    def test_confirm_select_on_tx_channel_is_406(self):
        self.assertChannelError(
            406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode",
            self.tx.confirm_delivery)


class NotTransactional(PikaTestCase):
    def test_commit_without_select_is_406(self):
        ch = self.channel()
        self.assertChannelError(406, "PRECONDITION_FAILED - channel is not transactional",
                                ch.tx_commit)

    def test_rollback_without_select_is_406(self):
        ch = self.channel()
        self.assertChannelError(406, "PRECONDITION_FAILED - channel is not transactional",
                                ch.tx_rollback)
