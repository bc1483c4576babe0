# SPDX-License-Identifier: MIT
"""54 length limits (pika): x-max-length and x-max-length-bytes with x-overflow
drop-head (the default: the oldest message is dead-lettered with reason maxlen),
reject-publish (basic.nack under confirms, a silent drop otherwise, never
dead-lettered) and reject-publish-dlx (refused and dead-lettered), and the
argument validation texts.

RabbitMQ facts (docs maxlength.md, dlx.md; rabbit_amqqueue_process.erl
will_overflow/2: a publish is refused when the ready count + 1 exceeds
x-max-length or the ready body bytes + its body size exceed x-max-length-bytes)
were checked against RabbitMQ 3.10.8 with run.py --rabbitmq.
"""

import time

import pika
import pika.exceptions

from pikakit import PikaTestCase


def xdeath(props):
    return (props.headers or {}).get("x-death")


class LimitTestCase(PikaTestCase):
    def limited(self, ch, dlx=True, **limits):
        """Declares the queue q with the given x- limits (keyword names with _ for
        -), dead-lettering into dlq through the fanout dlx when dlx is true."""
        args = {"x-" + k.replace("_", "-"): v for k, v in limits.items()}
        if dlx:
            ch.exchange_declare("dlx", "fanout")
            ch.queue_declare("dlq")
            ch.queue_bind("dlq", "dlx")
            args["x-dead-letter-exchange"] = "dlx"
        ch.queue_declare("q", arguments=args)

    def wait_count(self, ch, queue, n, timeout=2.0):
        """Polls queue's message count until it is n; returns the last count."""
        deadline = time.monotonic() + timeout
        while True:
            c = ch.queue_declare(queue, passive=True).method.message_count
            if c == n or time.monotonic() >= deadline:
                return c
            time.sleep(0.02)

    def dead(self, ch, n):
        """Waits for n dead letters in dlq and returns [(body, x-death)]."""
        self.assertEqual(self.wait_count(ch, "dlq", n), n)
        return [(b, xdeath(p)) for _, p, b in self.get_all(ch, "dlq")]


class DropHead(LimitTestCase):
    def test_max_length_dead_letters_the_oldest_with_reason_maxlen(self):
        ch = self.channel()
        self.limited(ch, max_length=2)
        for b in (b"1", b"2", b"3"):
            ch.basic_publish("", "q", b)
        [(body, deaths)] = self.dead(ch, 1)
        self.assertEqual(body, b"1")
        self.assertEqual([(d["queue"], d["reason"], d["count"]) for d in deaths],
                         [("q", "maxlen", 1)])
        self.assertEqual(self.bodies(ch, "q"), [b"2", b"3"])

    def test_max_length_bytes_dead_letters_the_oldest_with_reason_maxlen(self):
        ch = self.channel()
        self.limited(ch, max_length_bytes=10)
        ch.basic_publish("", "q", b"aaaaaa")
        ch.basic_publish("", "q", b"bbbbbb")
        [(body, deaths)] = self.dead(ch, 1)
        self.assertEqual((body, deaths[0]["reason"]), (b"aaaaaa", "maxlen"))
        self.assertEqual(self.bodies(ch, "q"), [b"bbbbbb"])

    def test_max_length_bytes_counts_bodies_only(self):
        # 5 + 5 = 10 bytes fits x-max-length-bytes 10 whatever the headers weigh.
        ch = self.channel()
        self.limited(ch, max_length_bytes=10)
        big = pika.BasicProperties(headers={"pad": "x" * 500})
        ch.basic_publish("", "q", b"aaaaa", big)
        ch.basic_publish("", "q", b"bbbbb", big)
        self.assertEqual(self.wait_count(ch, "q", 2), 2)
        self.assertEqual(self.message_count("dlq"), 0)

    def test_drop_head_several_at_once_for_a_big_message(self):
        ch = self.channel()
        self.limited(ch, max_length_bytes=10)
        for b in (b"aaa", b"bbb", b"ccc"):
            ch.basic_publish("", "q", b)
        ch.basic_publish("", "q", b"dddddddd")
        self.assertEqual([b for b, _ in self.dead(ch, 3)], [b"aaa", b"bbb", b"ccc"])
        self.assertEqual(self.bodies(ch, "q"), [b"dddddddd"])

    def test_drop_head_without_dlx_drops_the_oldest(self):
        ch = self.channel()
        self.limited(ch, dlx=False, max_length=1)
        ch.basic_publish("", "q", b"1")
        ch.basic_publish("", "q", b"2")
        self.assertEqual(self.bodies(ch, "q"), [b"2"])

    def test_max_length_zero_dead_letters_every_message(self):
        ch = self.channel()
        self.limited(ch, max_length=0)
        ch.basic_publish("", "q", b"1")
        [(body, deaths)] = self.dead(ch, 1)
        self.assertEqual((body, deaths[0]["reason"]), (b"1", "maxlen"))
        self.assertEqual(self.message_count("q"), 0)


class RejectPublish(LimitTestCase):
    def test_refused_publish_is_nacked_under_confirms(self):
        ch = self.channel()
        self.limited(ch, dlx=False, max_length=1, overflow="reject-publish")
        ch.confirm_delivery()
        ch.basic_publish("", "q", b"1")
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", "q", b"2")
        self.assertTrue(ch.is_open)
        self.assertEqual(self.bodies(ch, "q"), [b"1"])

    def test_refused_publish_is_dropped_silently_without_confirms(self):
        ch = self.channel()
        self.limited(ch, max_length=1, overflow="reject-publish")
        ch.basic_publish("", "q", b"1")
        ch.basic_publish("", "q", b"2")
        self.sync(ch)
        self.assertTrue(ch.is_open)
        self.assertEqual(self.bodies(ch, "q"), [b"1"])
        time.sleep(0.1)
        self.assertEqual(self.message_count("dlq"), 0, "reject-publish never dead-letters")

    def test_max_length_bytes_refuses_what_would_not_fit(self):
        ch = self.channel()
        self.limited(ch, dlx=False, max_length_bytes=5, overflow="reject-publish")
        ch.confirm_delivery()
        ch.basic_publish("", "q", b"abc")
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", "q", b"def")
        ch.basic_publish("", "q", b"de")
        self.assertEqual(self.bodies(ch, "q"), [b"abc", b"de"])

    def test_room_made_by_a_consumer_is_used_again(self):
        ch = self.channel()
        self.limited(ch, dlx=False, max_length=1, overflow="reject-publish")
        ch.confirm_delivery()
        ch.basic_publish("", "q", b"1")
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", "q", b"2")
        self.assertEqual(ch.basic_get("q", auto_ack=True)[2], b"1")
        ch.basic_publish("", "q", b"3")
        self.assertEqual(self.bodies(ch, "q"), [b"3"])

    def test_mixed_routing_nacks_when_one_queue_refuses(self):
        # RabbitMQ confirms a message only when every queue it was routed to
        # accepted it: one refusing queue turns the confirm into a nack, while
        # the other queue still gets the message.
        ch = self.channel()
        ch.exchange_declare("fan", "fanout")
        ch.queue_declare("full", arguments={"x-max-length": 0, "x-overflow": "reject-publish"})
        ch.queue_declare("open")
        ch.queue_bind("full", "fan")
        ch.queue_bind("open", "fan")
        ch.confirm_delivery()
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("fan", "", b"m")
        self.assertEqual(self.bodies(ch, "open"), [b"m"])
        self.assertEqual(self.message_count("full"), 0)


class RejectPublishDlx(LimitTestCase):
    def test_refused_message_is_dead_lettered_with_reason_maxlen(self):
        ch = self.channel()
        self.limited(ch, max_length=1, overflow="reject-publish-dlx")
        ch.basic_publish("", "q", b"1")
        ch.basic_publish("", "q", b"2")
        [(body, deaths)] = self.dead(ch, 1)
        self.assertEqual(body, b"2", "the new message is refused, the head stays")
        self.assertEqual([(d["queue"], d["reason"], d["count"], d["exchange"],
                           d["routing-keys"]) for d in deaths],
                         [("q", "maxlen", 1, "", ["q"])])
        self.assertEqual(self.bodies(ch, "q"), [b"1"])

    def test_refused_message_is_nacked_under_confirms_and_dead_lettered(self):
        ch = self.channel()
        self.limited(ch, max_length=1, overflow="reject-publish-dlx")
        ch.confirm_delivery()
        ch.basic_publish("", "q", b"1")
        with self.assertRaises(pika.exceptions.NackError):
            ch.basic_publish("", "q", b"2")
        self.assertEqual([b for b, _ in self.dead(ch, 1)], [b"2"])
        self.assertEqual(self.bodies(ch, "q"), [b"1"])


class Validation(PikaTestCase):
    def assertInvalidArg(self, args, key, reason):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg '%s' for queue 'q' in vhost '/': %s"
                 % (key, reason),
            ch.queue_declare, "q", arguments=args)
        self.assertQueueMissing("q")

    def test_unknown_overflow_is_406(self):
        self.assertInvalidArg({"x-overflow": "foo"}, "x-overflow", "invalid_overflow")

    def test_numeric_overflow_is_406(self):
        self.assertInvalidArg({"x-overflow": 1}, "x-overflow", "{unacceptable_type,signedint}")

    def test_negative_max_length_is_406(self):
        self.assertInvalidArg({"x-max-length": -1}, "x-max-length", "{value_negative,-1}")

    def test_string_max_length_bytes_is_406(self):
        self.assertInvalidArg({"x-max-length-bytes": "10"}, "x-max-length-bytes",
                              '"expected integer, got longstr"')
