# SPDX-License-Identifier: MIT
"""41 queues (pika): queue.declare/bind/unbind/purge/delete, server-named,
exclusive and auto-delete queues, argument validation, and the basic.cancel a
consumer gets when its queue goes away.

Reply texts are RabbitMQ's (rabbit_channel.erl, rabbit_amqqueue.erl; checked
against RabbitMQ 3.10 with run.py --rabbitmq).
"""

import time

import pika

from pikakit import PikaTestCase

LOCKED = ("RESOURCE_LOCKED - cannot obtain exclusive access to locked queue '%s' in vhost "
          "'/'. It could be originally declared on another connection or the exclusive "
          "property value does not match that of the original declaration.")


class Declare(PikaTestCase):
    def test_server_named_queue_is_amq_gen(self):
        ch = self.channel()
        names = {ch.queue_declare("", exclusive=True).method.queue for _ in range(5)}
        self.assertEqual(len(names), 5)
        for n in names:
            # rabbit_guid:binary(_, "amq.gen"): 16 random bytes, base64url, no padding.
            self.assertRegex(n, r"^amq\.gen-[A-Za-z0-9_-]{22}$")

    def test_declare_ok_echoes_name_and_counts(self):
        ch = self.channel()
        ok = ch.queue_declare("q").method
        self.assertEqual((ok.queue, ok.message_count, ok.consumer_count), ("q", 0, 0))
        ch.confirm_delivery()  # so the count is checked once the queue has the messages
        for i in range(3):
            ch.basic_publish("", "q", b"%d" % i)
        ok = ch.queue_declare("q", passive=True).method
        self.assertEqual((ok.message_count, ok.consumer_count), (3, 0))
        ch.basic_consume("q", lambda *a: None)
        ch.basic_consume("q", lambda *a: None)
        self.pump(ch.connection, 0.2)
        other = self.channel()
        ok = other.queue_declare("q").method  # non-passive redeclare reports counts too
        self.assertEqual((ok.message_count, ok.consumer_count), (0, 2),
                         "delivered messages awaiting ack are not counted")

    def test_passive_declare_of_missing_queue_is_404(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no queue 'nope' in vhost '/'",
                                ch.queue_declare, "nope", passive=True)

    def test_amq_prefix_is_403(self):
        ch = self.channel()
        self.assertChannelError(
            403, "ACCESS_REFUSED - queue name 'amq.mine' contains reserved prefix 'amq.*'",
            ch.queue_declare, "amq.mine")

    def test_passive_declare_of_amq_name_is_404_not_403(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no queue 'amq.mine' in vhost '/'",
                                ch.queue_declare, "amq.mine", passive=True)

    def assertInequivalent(self, first, second, text):
        ch = self.channel()
        ch.queue_declare("q", **first)
        ch2 = self.channel()
        self.assertChannelError(406, "PRECONDITION_FAILED - " + text,
                                ch2.queue_declare, "q", **second)

    def test_redeclare_with_other_durable_is_406(self):
        self.assertInequivalent({"durable": True}, {"durable": False},
                                "inequivalent arg 'durable' for queue 'q' in vhost '/': "
                                "received 'false' but current is 'true'")

    def test_redeclare_with_other_auto_delete_is_406(self):
        self.assertInequivalent({}, {"auto_delete": True},
                                "inequivalent arg 'auto_delete' for queue 'q' in vhost '/': "
                                "received 'true' but current is 'false'")

    def test_redeclare_with_an_added_argument_is_406(self):
        self.assertInequivalent({}, {"arguments": {"x-max-priority": 5}},
                                "inequivalent arg 'x-max-priority' for queue 'q' in vhost "
                                "'/': received the value '5' of type 'signedint' but current "
                                "is none")

    def test_redeclare_with_another_argument_value_is_406(self):
        self.assertInequivalent({"arguments": {"x-max-priority": 5}},
                                {"arguments": {"x-max-priority": 6}},
                                "inequivalent arg 'x-max-priority' for queue 'q' in vhost "
                                "'/': received '6' but current is '5'")

    def test_redeclare_with_an_argument_left_out_is_406(self):
        self.assertInequivalent({"arguments": {"x-max-priority": 5}}, {},
                                "inequivalent arg 'x-max-priority' for queue 'q' in vhost "
                                "'/': received none but current is the value '5' of type "
                                "'signedint'")

    def test_redeclare_with_same_arguments_is_ok(self):
        ch = self.channel()
        args = {"x-max-priority": 5, "x-message-ttl": 60000}
        ch.queue_declare("q", durable=True, arguments=args)
        ch.queue_declare("q", durable=True, arguments=dict(args))

    def test_passive_declare_ignores_flags_and_arguments(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.queue_declare("q", passive=True, durable=True, auto_delete=True,
                         arguments={"x-max-priority": 9})

    def test_max_priority_above_255_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'q' in vhost "
                 "'/': {max_value_exceeded,300}",
            ch.queue_declare, "q", arguments={"x-max-priority": 300})
        self.assertQueueMissing("q")

    def test_negative_message_ttl_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-message-ttl' for queue 'q' in vhost "
                 "'/': {value_negative,-1}",
            ch.queue_declare, "q", arguments={"x-message-ttl": -1})

    def test_string_max_length_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-max-length' for queue 'q' in vhost "
                 "'/': \"expected integer, got longstr\"",
            ch.queue_declare, "q", arguments={"x-max-length": "10"})

    def test_zero_expires_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-expires' for queue 'q' in vhost "
                 "'/': {value_zero,0}",
            ch.queue_declare, "q", arguments={"x-expires": 0})

    def test_unknown_overflow_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-overflow' for queue 'q' in vhost "
                 "'/': invalid_overflow",
            ch.queue_declare, "q", arguments={"x-overflow": "nope"})

    def test_string_single_active_consumer_is_406(self):
        ch = self.channel()
        self.assertChannelError(
            406, "PRECONDITION_FAILED - invalid arg 'x-single-active-consumer' for queue 'q' "
                 "in vhost '/': {unacceptable_type,longstr}",
            ch.queue_declare, "q", arguments={"x-single-active-consumer": "yes"})

    def test_unknown_x_argument_is_accepted(self):
        ch = self.channel()
        ch.queue_declare("q", arguments={"x-made-up": "yes", "plain": 1})


class Exclusive(PikaTestCase):
    def test_exclusive_queue_is_405_from_another_connection(self):
        owner = self.channel()
        owner.queue_declare("ex", exclusive=True)
        for op in ("declare", "passive", "consume", "get", "bind", "delete", "purge"):
            with self.subTest(op=op):
                ch = self.channel()
                calls = {"declare": lambda: ch.queue_declare("ex"),
                         "passive": lambda: ch.queue_declare("ex", passive=True),
                         "consume": lambda: ch.basic_consume("ex", lambda *a: None),
                         "get": lambda: ch.basic_get("ex"),
                         "bind": lambda: ch.queue_bind("ex", "amq.fanout"),
                         "delete": lambda: ch.queue_delete("ex"),
                         "purge": lambda: ch.queue_purge("ex")}
                self.assertChannelError(405, LOCKED % "ex", calls[op])

    def test_exclusive_queue_is_usable_from_another_channel_of_its_connection(self):
        conn = self.connect()
        conn.channel().queue_declare("ex", exclusive=True)
        ch = conn.channel()
        ch.queue_declare("ex", exclusive=True)
        ch.basic_publish("", "ex", b"m")
        self.assertEqual(self.bodies(ch, "ex"), [b"m"])

    def test_exclusive_queue_is_deleted_when_its_connection_closes(self):
        conn = self.connect()
        conn.channel().queue_declare("ex", exclusive=True)
        conn.close()
        time.sleep(0.1)
        self.assertQueueMissing("ex")

    def test_exclusive_queue_outlives_its_channel(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("ex", exclusive=True)
        ch.close()
        conn.channel().queue_declare("ex", passive=True)

    def test_publishing_to_another_connections_exclusive_queue_works(self):
        owner = self.channel()
        owner.queue_declare("ex", exclusive=True)
        other = self.channel()
        other.confirm_delivery()
        other.basic_publish("", "ex", b"from-outside")
        self.assertEqual(self.bodies(owner, "ex"), [b"from-outside"])


class AutoDelete(PikaTestCase):
    def test_auto_delete_queue_goes_after_its_last_consumer_cancels(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("ad", auto_delete=True)
        t1 = ch.basic_consume("ad", lambda *a: None)
        t2 = ch.basic_consume("ad", lambda *a: None)
        ch.basic_cancel(t1)
        ch.queue_declare("ad", passive=True)
        ch.basic_cancel(t2)
        time.sleep(0.1)
        self.assertQueueMissing("ad")

    def test_auto_delete_queue_goes_when_its_consumer_channel_closes(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("ad", auto_delete=True)
        ch.basic_consume("ad", lambda *a: None)
        ch.close()
        time.sleep(0.1)
        self.assertQueueMissing("ad")

    def test_auto_delete_queue_without_consumers_stays(self):
        ch = self.channel()
        ch.queue_declare("ad", auto_delete=True)
        ch.basic_publish("", "ad", b"m")
        self.assertEqual(len(self.get_all(ch, "ad", auto_ack=False)), 1)
        time.sleep(0.1)
        self.channel().queue_declare("ad", passive=True)


class Bind(PikaTestCase):
    def test_bind_to_missing_queue_is_404(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        self.assertChannelError(404, "NOT_FOUND - no queue 'nope' in vhost '/'",
                                ch.queue_bind, "nope", "x", "k")

    def test_bind_to_missing_exchange_is_404(self):
        ch = self.channel()
        ch.queue_declare("q")
        self.assertChannelError(404, "NOT_FOUND - no exchange 'nope' in vhost '/'",
                                ch.queue_bind, "q", "nope", "k")

    def test_unbind_with_missing_queue_or_exchange_is_ok(self):
        # RabbitMQ answers unbind-ok when the binding cannot exist (checked on 3.10).
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.queue_declare("q")
        ch.queue_unbind("nope", "x", "k")
        ch.queue_unbind("q", "nope", "k")

    def test_unbind_of_a_binding_that_does_not_exist_is_ok(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.queue_declare("q")
        ch.queue_unbind("q", "x", "never-bound")

    def test_binding_twice_is_idempotent(self):
        ch = self.channel()
        ch.exchange_declare("x", "direct")
        ch.queue_declare("q")
        ch.queue_bind("q", "x", "k")
        ch.queue_bind("q", "x", "k")
        ch.queue_unbind("q", "x", "k")
        ch.basic_publish("x", "k", b"m")
        self.assertEqual(self.bodies(ch, "q"), [], "one unbind removes the binding")

    def test_bindings_with_different_arguments_are_distinct(self):
        ch = self.channel()
        ch.exchange_declare("x", "headers")
        ch.queue_declare("q")
        ch.queue_bind("q", "x", arguments={"a": 1})
        ch.queue_bind("q", "x", arguments={"b": 1})
        ch.queue_unbind("q", "x", arguments={"a": 1})
        ch.basic_publish("x", "", b"b", pika.BasicProperties(headers={"b": 1}))
        ch.basic_publish("x", "", b"a", pika.BasicProperties(headers={"a": 1}))
        self.assertEqual(self.bodies(ch, "q"), [b"b"])

    def test_empty_queue_name_means_the_channels_last_declared_queue(self):
        ch = self.channel()
        name = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind("", "amq.fanout")
        ch.basic_publish("amq.fanout", "", b"m")
        self.assertEqual(self.bodies(ch, name), [b"m"])

    def test_empty_queue_name_with_no_queue_declared_is_404(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no previously declared queue",
                                ch.queue_bind, "", "amq.fanout")


class PurgeDelete(PikaTestCase):
    def fill(self, ch, q, n):
        ch.queue_declare(q)
        for i in range(n):
            ch.basic_publish("", q, b"%d" % i)

    def test_purge_returns_the_count_and_empties_the_queue(self):
        ch = self.channel()
        self.fill(ch, "q", 7)
        self.assertEqual(ch.queue_purge("q").method.message_count, 7)
        self.assertEqual(ch.queue_purge("q").method.message_count, 0)
        self.assertEqual(self.bodies(ch, "q"), [])

    def test_purge_leaves_unacked_messages(self):
        ch = self.channel()
        self.fill(ch, "q", 3)
        m, _, _ = ch.basic_get("q", auto_ack=False)
        self.assertEqual(ch.queue_purge("q").method.message_count, 2)
        ch.basic_reject(m.delivery_tag, requeue=True)
        self.assertEqual(self.bodies(ch, "q"), [b"0"])

    def test_purge_of_missing_queue_is_404(self):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no queue 'nope' in vhost '/'",
                                ch.queue_purge, "nope")

    def test_delete_returns_the_count(self):
        ch = self.channel()
        self.fill(ch, "q", 4)
        self.assertEqual(ch.queue_delete("q").method.message_count, 4)
        self.assertQueueMissing("q")

    def test_delete_of_missing_queue_is_ok_with_count_0(self):
        ch = self.channel()
        self.assertEqual(ch.queue_delete("nope").method.message_count, 0)

    def test_delete_if_empty_of_non_empty_queue_is_406(self):
        ch = self.channel()
        self.fill(ch, "q", 1)
        self.assertChannelError(406, "PRECONDITION_FAILED - queue 'q' in vhost '/' not empty",
                                ch.queue_delete, "q", if_empty=True)
        self.assertEqual(self.message_count("q"), 1)

    def test_delete_if_unused_of_consumed_queue_is_406(self):
        ch = self.channel()
        ch.queue_declare("q")
        ch.basic_consume("q", lambda *a: None)
        ch2 = self.channel()
        self.assertChannelError(406, "PRECONDITION_FAILED - queue 'q' in vhost '/' in use",
                                ch2.queue_delete, "q", if_unused=True)

    def test_delete_if_empty_and_if_unused_succeed_when_true(self):
        ch = self.channel()
        ch.queue_declare("q")
        self.assertEqual(ch.queue_delete("q", if_unused=True, if_empty=True)
                         .method.message_count, 0)
        self.assertQueueMissing("q")

    def test_delete_removes_bindings(self):
        ch = self.channel()
        ch.exchange_declare("x", "fanout")
        ch.queue_declare("q")
        ch.queue_bind("q", "x")
        ch.queue_delete("q")
        ch.queue_declare("q")
        ch.basic_publish("x", "", b"m")
        self.assertEqual(self.bodies(ch, "q"), [])

    def test_consumer_gets_basic_cancel_when_its_queue_is_deleted(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        cancelled = []
        ch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method.consumer_tag))
        tag = ch.basic_consume("q", lambda *a: None)
        self.channel().queue_delete("q")
        self.assertTrue(self.pump_until(conn, lambda: cancelled, 5.0),
                        "no basic.cancel from the broker")
        self.assertEqual(cancelled, [tag])
        self.assertTrue(ch.is_open, "the channel stays open")
        self.assertNotIn(tag, ch.consumer_tags)
