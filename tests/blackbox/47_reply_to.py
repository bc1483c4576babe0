# SPDX-License-Identifier: MIT
"""47 direct reply-to (pika): the amq.rabbitmq.reply-to pseudo-queue.

A client consumes from amq.rabbitmq.reply-to with no-ack, publishes a request whose
reply_to is amq.rabbitmq.reply-to; the broker rewrites reply_to into
amq.rabbitmq.reply-to.<opaque> and a reply published to the default exchange with
that routing key goes straight to the client's consumer. Texts are RabbitMQ's
(rabbit_channel.erl; checked against RabbitMQ 3.10 with run.py --rabbitmq).
"""

import pika
import pika.exceptions

from pikakit import Collector, PikaTestCase

REPLY_TO = "amq.rabbitmq.reply-to"


class DirectReplyTo(PikaTestCase):
    def start_server(self):
        """An RPC server on queue "rpc" in its own connection; returns its pump."""
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("rpc")
        self.requests = []

        def serve(c, m, p, body):
            self.requests.append(p)
            c.basic_publish("", p.reply_to, b"re:" + body,
                            pika.BasicProperties(correlation_id=p.correlation_id))
        ch.basic_consume("rpc", serve, auto_ack=True)
        return conn

    def test_request_reply_round_trip(self):
        server = self.start_server()
        conn = self.connect()
        ch = conn.channel()
        got = Collector()
        ch.basic_consume(REPLY_TO, got, auto_ack=True)
        for i in range(3):
            ch.basic_publish("", "rpc", b"q%d" % i,
                             pika.BasicProperties(reply_to=REPLY_TO, correlation_id="c%d" % i))
        self.assertTrue(self.pump_until(server, lambda: len(self.requests) == 3))
        self.consume_n(conn, got, 3)
        self.assertEqual(got.bodies, [b"re:q0", b"re:q1", b"re:q2"])
        self.assertEqual([p.correlation_id for _, p, _ in got.items], ["c0", "c1", "c2"])
        for p in self.requests:
            self.assertTrue(p.reply_to.startswith(REPLY_TO + "."), p.reply_to)
            self.assertGreater(len(p.reply_to), len(REPLY_TO) + 1)
        m = got.methods[0]
        self.assertEqual((m.exchange, m.routing_key), ("", self.requests[0].reply_to))

    def test_reply_consumer_must_be_no_ack(self):
        ch = self.channel()
        self.assertChannelError(406, "PRECONDITION_FAILED - reply consumer cannot acknowledge",
                                ch.basic_consume, REPLY_TO, lambda *a: None)

    def test_publish_with_reply_to_without_reply_consumer_is_406(self):
        ch = self.channel()
        ch.queue_declare("rpc")

        def publish():
            ch.basic_publish("", "rpc", b"x", pika.BasicProperties(reply_to=REPLY_TO))
            self.sync(ch)
        self.assertChannelError(406, "PRECONDITION_FAILED - fast reply consumer does not exist",
                                publish)

    def test_reply_to_another_channel_of_the_connection_is_distinct(self):
        # The rewritten address names the consuming channel: replies go there only.
        server = self.start_server()
        conn = self.connect()
        a, b = conn.channel(), conn.channel()
        ga, gb = Collector(), Collector()
        a.basic_consume(REPLY_TO, ga, auto_ack=True)
        b.basic_consume(REPLY_TO, gb, auto_ack=True)
        a.basic_publish("", "rpc", b"from-a", pika.BasicProperties(reply_to=REPLY_TO))
        b.basic_publish("", "rpc", b"from-b", pika.BasicProperties(reply_to=REPLY_TO))
        self.assertTrue(self.pump_until(server, lambda: len(self.requests) == 2))
        self.consume_n(conn, ga, 1)
        self.consume_n(conn, gb, 1)
        self.assertEqual((ga.bodies, gb.bodies), ([b"re:from-a"], [b"re:from-b"]))
        self.assertNotEqual(self.requests[0].reply_to, self.requests[1].reply_to)

    def test_reply_after_the_requester_left_is_dropped(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("rpc")
        ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
        ch.basic_publish("", "rpc", b"x", pika.BasicProperties(reply_to=REPLY_TO))
        addr = self.get_all(ch, "rpc")[0][1].reply_to
        conn.close()
        other = self.channel()
        other.basic_publish("", addr, b"late")
        other.basic_publish("", REPLY_TO + ".bogus", b"garbage")
        self.sync(other)
        self.assertTrue(other.is_open)

    def test_passive_declare_of_the_pseudo_queue_is_ok(self):
        # RabbitMQ answers with message_count 0 and consumer_count 1, consumer or not
        # (rabbit_channel.erl declare_fast_reply_to).
        ch = self.channel()
        ok = ch.queue_declare(REPLY_TO, passive=True).method
        self.assertEqual((ok.queue, ok.message_count, ok.consumer_count), (REPLY_TO, 0, 1))
