# SPDX-License-Identifier: MIT
"""44 publisher confirms: confirm.select, basic.ack for every publish (delivery tags
counting from 1 per channel, "multiple" coalescing allowed), basic.return before the
ack of an unroutable mandatory message, and confirm/tx exclusion.

The raw client checks the wire (tags, multiple, the order of return and ack); pika
checks what an application sees. Texts are RabbitMQ's (rabbit_channel.erl).
"""

import pika
import pika.exceptions

import raw
from pikakit import PikaTestCase


class RawConfirms(PikaTestCase):
    def confirm_channel(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.CONFIRM_SELECT, raw.bits(False))
        c.expect_method(raw.CONFIRM_SELECT_OK, channel=1)
        return c

    def collect_acks(self, c, n, timeout=10.0):
        """Reads basic.ack frames until tags 1..n are all confirmed; returns the
        (tag, multiple) pairs and asserts each tag is confirmed exactly once."""
        confirmed = []
        frames = []
        while len(confirmed) < n:
            f = c.recv_method(timeout)
            if f.method_id == raw.BASIC_NACK:
                self.fail("broker nacked %r" % (raw.decode_ack(f),))
            if f.method_id != raw.BASIC_ACK:
                continue
            tag, multiple = raw.decode_ack(f)
            frames.append((tag, multiple))
            low = confirmed[-1] + 1 if confirmed else 1
            new = list(range(low, tag + 1)) if multiple else [tag]
            self.assertTrue(new and new[0] == low and new[-1] == tag,
                            "ack %r does not continue the confirmed tags %r"
                            % ((tag, multiple), confirmed[-3:]))
            confirmed.extend(new)
        self.assertEqual(confirmed, list(range(1, n + 1)))
        return frames

    def test_every_publish_is_confirmed_once_in_order(self):
        self.channel().queue_declare("q")
        c = self.confirm_channel()
        n = 500
        c.send(b"".join(raw.publish_frames(1, "", "q", b"%d" % i) for i in range(n)))
        self.collect_acks(c, n)
        self.assertEqual(self.message_count("q"), n)

    def test_publishes_routed_nowhere_are_confirmed_too(self):
        c = self.confirm_channel()
        c.send(raw.publish_frames(1, "amq.direct", "nobody", b"a")
               + raw.publish_frames(1, "", "no-such-queue", b"b"))
        self.collect_acks(c, 2)

    def test_unroutable_mandatory_gets_return_then_ack(self):
        c = self.confirm_channel()
        c.send(raw.publish_frames(1, "amq.direct", "nobody", b"x", mandatory=True))
        f = c.recv_method()
        self.assertEqual(f.method_id, raw.BASIC_RETURN, "basic.return must come first: %r" % f)
        self.assertEqual(raw.decode_return(f), (312, "NO_ROUTE", "amq.direct", "nobody"))
        header = c.recv_frame()
        self.assertEqual(header.type, raw.FRAME_HEADER)
        body = c.recv_frame()
        self.assertEqual((body.type, body.payload), (raw.FRAME_BODY, b"x"))
        f = c.expect_method(raw.BASIC_ACK, channel=1)
        self.assertEqual(raw.decode_ack(f), (1, False))

    def test_confirm_select_twice_is_fine(self):
        c = self.confirm_channel()
        c.send_method(1, raw.CONFIRM_SELECT, raw.bits(False))
        c.expect_method(raw.CONFIRM_SELECT_OK, channel=1)

    def test_confirm_select_nowait_sends_no_reply(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.CONFIRM_SELECT, raw.bits(True))
        c.send(raw.publish_frames(1, "", "nowhere", b"x"))
        f = c.recv_method()
        self.assertEqual((f.method_id, raw.decode_ack(f)), (raw.BASIC_ACK, (1, False)))

    def test_tags_count_per_channel(self):
        c = self.confirm_channel()
        c.open_channel(2)
        c.send_method(2, raw.CONFIRM_SELECT, raw.bits(False))
        c.expect_method(raw.CONFIRM_SELECT_OK, channel=2)
        c.send(raw.publish_frames(1, "", "x", b"1") + raw.publish_frames(2, "", "x", b"2")
               + raw.publish_frames(1, "", "x", b"3"))
        acks = {}
        while sum(len(v) for v in acks.values()) < 3:
            f = c.expect_method(raw.BASIC_ACK)
            tag, multiple = raw.decode_ack(f)
            acks.setdefault(f.channel, []).extend(
                range(len(acks.get(f.channel, [])) + 1, tag + 1) if multiple else [tag])
        self.assertEqual(acks, {1: [1, 2], 2: [1]})

    def test_confirm_select_on_tx_channel_is_406(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.TX_SELECT)
        c.expect_method(raw.TX_SELECT_OK, channel=1)
        c.send_method(1, raw.CONFIRM_SELECT, raw.bits(False))
        f = c.expect_method(raw.CHANNEL_CLOSE, channel=1)
        self.assertEqual(raw.decode_close(f), (
            406, "PRECONDITION_FAILED - cannot switch from tx to confirm mode", 85, 10))


class PikaConfirms(PikaTestCase):
    def test_confirmed_publish_reaches_the_queue(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.confirm_delivery()
        for i in range(50):
            ch.basic_publish("", "q", b"%d" % i)
        self.assertEqual(self.message_count("q"), 50)

    def test_unroutable_mandatory_raises_unroutable_error(self):
        ch = self.channel()
        ch.confirm_delivery()
        with self.assertRaises(pika.exceptions.UnroutableError) as cm:
            ch.basic_publish("amq.direct", "nobody", b"x", mandatory=True)
        msg = cm.exception.messages[0]
        self.assertEqual((msg.method.reply_code, msg.body), (312, b"x"))
        self.assertTrue(ch.is_open)

    def test_tx_select_on_confirm_channel_is_406(self):
        ch = self.channel()
        ch.confirm_delivery()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - cannot switch from confirm to tx mode", ch.tx_select)

    def test_persistent_message_to_durable_queue_is_confirmed(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        ch.confirm_delivery()
        ch.basic_publish("", "dq", b"p", pika.BasicProperties(delivery_mode=2))
        self.assertEqual(self.bodies(ch, "dq"), [b"p"])
