# SPDX-License-Identifier: MIT
"""57 resource limits: connections per node and per vhost, channels per
connection, consumers per channel, queues per vhost, message size; the vhost
limits API.

What RabbitMQ does, read in its source and docs with the search tool (the reply
code and text are asserted exactly; "NAME - " is the prefix rabbit_binary_generator
puts in front of every reply text):
- node connection limit (rabbitmq.conf connection_max; ours limits.max_connections):
  rabbit_reader is_over_node_connection_limit at connection.open counts the
  accepted connections including this one (ranch active_connections > limit):
  530 NOT_ALLOWED "connection refused: node connection limit (N) is reached", a
  connection.close answering connection.open (class 10, method 40);
- vhost max-connections (rabbit_vhost_limit, rabbit_reader
  is_over_vhost_connection_limit, checked before access to the vhost): 530
  "access to vhost 'V' refused for user 'U': connection limit (N) is reached";
  0 allows no connection, a negative value means no limit;
- channels per connection (channel_max, negotiated in tune/tune-ok; ours
  limits.channel_max): rabbit_reader create_channel: 530 "number of channels
  opened (N) has reached the negotiated channel_max (N)", a connection error on
  the channel.open (20, 10);
- consumers per channel (rabbitmq.conf consumer_max_per_channel; ours
  limits.consumer_max_per_channel; docs consumers.md "Limiting the number of
  Consumers per channel"): rabbit_channel handle_method basic.consume: 530
  NOT_ALLOWED "reached maximum (N) of consumers per channel", which is a hard
  error, so the connection is closed (class 60, method 20);
- queues per vhost (vhost limit max-queues; rabbit_channel / rabbit_queue_type
  check_vhost_queue_limit, new queues only): 406 PRECONDITION_FAILED "cannot
  declare queue 'Q': queue limit in vhost 'V' (N) is reached", a channel error:
  the connection and its other channels stay open; redeclaring an existing
  queue is not refused;
- message size (max_message_size, default 128 MiB; rabbit_channel check_msg_size):
  406 PRECONDITION_FAILED "message size S is larger than configured max size M",
  a channel error on basic.publish (60, 40);
- vhost limits over HTTP (rabbit_mgmt_wm_limits, rabbit_mgmt_wm_limit): GET
  /api/vhost-limits and /api/vhost-limits/{vhost} list [{"vhost", "value": {name:
  N}}] (vhosts without limits left out); PUT /api/vhost-limits/{vhost}/{name}
  {"value": N} (administrators) and DELETE; the value must be an integer;
  definitions export them as parameters of component "vhost-limits" named "limits".
"""

import pika
import pika.exceptions

import raw
from mgmtkit import call
from pikakit import PikaTestCase


class LimitCase(PikaTestCase):
    def api(self, method, path, body=None, **kw):
        return call(self.broker.mgmt_port, method, "/api/" + path, body, **kw)

    def set_limit(self, vhost, name, value):
        r = self.api("PUT", "vhost-limits/%s/%s" % (vhost, name), {"value": value})
        self.assertEqual(r.status, 204, r.raw)

    def open_raw(self, vhost="/"):
        """A raw connection through tune-ok, with connection.open sent."""
        c = self.raw()
        c.start()
        c.start_ok()
        t = c.tune()
        c.tune_ok(t["channel_max"], t["frame_max"], 0)
        c.open(vhost)
        return c


class NodeConnectionLimit(LimitCase):
    CONFIG = {"limits": {"max_connections": 2}}

    def test_third_connection_is_refused_at_open_and_others_live_on(self):
        a = self.opened(heartbeat=0)
        b = self.opened(heartbeat=0)
        c = self.open_raw()
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual(text, "NOT_ALLOWED - connection refused: node connection limit (2) "
                               "is reached")
        self.assertEqual((cls, mth), raw.CONNECTION_OPEN)
        a.open_channel(1)
        b.open_channel(1)
        # A slot freed by a closing connection can be used again.
        a.send_method(0, raw.CONNECTION_CLOSE, raw.close_args())
        a.expect_method(raw.CONNECTION_CLOSE_OK, channel=0)
        a.expect_eof(3.0)
        d = self.opened(heartbeat=0)
        d.open_channel(1)

    def test_pika_sees_530(self):
        self.connect()
        self.connect()
        with self.assertRaises(pika.exceptions.AMQPConnectionError) as cm:
            self.connect()
        self.assertIn("node connection limit (2) is reached", str(cm.exception))


class VhostConnectionLimit(LimitCase):
    CONFIG = {"vhosts": [{"name": "/"}, {"name": "v2", "limits": {"max-connections": 1}}],
              "permissions": [{"user": "guest", "vhost": "/", "configure": ".*",
                               "write": ".*", "read": ".*"},
                              {"user": "guest", "vhost": "v2", "configure": ".*",
                               "write": ".*", "read": ".*"}]}

    def test_configured_limit_refuses_the_second_connection_to_that_vhost_only(self):
        self.opened(heartbeat=0, vhost="v2").open_channel(1)
        c = self.open_raw("v2")
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual(text, "NOT_ALLOWED - access to vhost 'v2' refused for user 'guest': "
                               "connection limit (1) is reached")
        self.assertEqual((cls, mth), raw.CONNECTION_OPEN)
        for _ in range(3):
            self.opened(heartbeat=0, vhost="/").open_channel(1)
        self.assertEqual(self.api("GET", "vhost-limits").json,
                         [{"vhost": "v2", "value": {"max-connections": 1}}])

    def test_limit_set_over_http_applies_to_new_connections(self):
        self.opened(heartbeat=0)
        self.opened(heartbeat=0)
        self.set_limit("%2F", "max-connections", 2)
        c = self.open_raw("/")
        c.expect_connection_close(raw.NOT_ALLOWED)
        # The two open ones are untouched; raising the limit lets a third in.
        self.set_limit("%2F", "max-connections", 3)
        self.opened(heartbeat=0).open_channel(1)

    def test_zero_allows_none_and_negative_means_no_limit(self):
        self.set_limit("%2F", "max-connections", 0)
        c = self.open_raw("/")
        _, text, _, _ = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertIn("connection limit (0) is reached", text)
        self.set_limit("%2F", "max-connections", -1)
        for _ in range(3):
            self.opened(heartbeat=0)
        self.assertEqual(self.api("GET", "vhost-limits/%2F").json,
                         [{"vhost": "/", "value": {"max-connections": -1}}])


class ChannelLimit(LimitCase):
    CONFIG = {"limits": {"channel_max": 3}}

    def test_fourth_channel_closes_the_connection_with_530(self):
        c = self.raw()
        r = c.handshake(heartbeat=0)
        self.assertEqual(r["tune"]["channel_max"], 3)
        for n in (1, 2, 3):
            c.open_channel(n)
        c.send_method(4, raw.CHANNEL_OPEN, raw.channel_open_args())
        # A method on a channel that was open is ignored once the close is sent.
        c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual(text, "NOT_ALLOWED - number of channels opened (3) has reached the "
                               "negotiated channel_max (3)")
        self.assertEqual((cls, mth), raw.CHANNEL_OPEN)
        self.assertEqual(self.api("GET", "queues").json, [], "the declare was discarded")


class ConsumerLimit(LimitCase):
    CONFIG = {"limits": {"consumer_max_per_channel": 2}}

    def test_third_consumer_on_a_channel_closes_the_connection_with_530(self):
        conn = self.connect()
        ch = conn.channel()
        for q in ("a", "b", "c"):
            ch.queue_declare(q)
        ch.basic_consume("a", lambda *a: None)
        ch.basic_consume("b", lambda *a: None)
        other = conn.channel()
        other.basic_consume("a", lambda *a: None)  # each channel has its own count
        self.assertConnectionError(530, "NOT_ALLOWED - reached maximum (2) of consumers per "
                                        "channel",
                                   ch.basic_consume, "c", lambda *a: None)
        self.assertTrue(conn.is_closed)

    def test_close_names_basic_consume_and_cancel_frees_a_slot(self):
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        for tag in ("t1", "t2"):
            c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q", tag))
            c.expect_method(raw.BASIC_CONSUME_OK, channel=1)
        c.send_method(1, (60, 30), raw.shortstr("t1") + raw.bits(False))  # basic.cancel
        c.expect_method((60, 31), channel=1)
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q", "t3"))
        c.expect_method(raw.BASIC_CONSUME_OK, channel=1)
        c.send_method(1, raw.BASIC_CONSUME, raw.basic_consume_args("q", "t4"))
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual(text, "NOT_ALLOWED - reached maximum (2) of consumers per channel")
        self.assertEqual((cls, mth), raw.BASIC_CONSUME)

    def test_direct_reply_to_consumer_counts_too(self):
        ch = self.channel()
        ch.queue_declare("a")
        ch.basic_consume("a", lambda *a: None)
        ch.basic_consume("a", lambda *a: None)
        self.assertConnectionError(530, "NOT_ALLOWED - reached maximum (2) of consumers per "
                                        "channel",
                                   ch.basic_consume, "amq.rabbitmq.reply-to", lambda *a: None,
                                   auto_ack=True)


class QueueLimit(LimitCase):
    CONFIG = {"vhosts": [{"name": "/", "limits": {"max-queues": 2}}, {"name": "v2"}],
              "permissions": [{"user": "guest", "vhost": "/", "configure": ".*",
                               "write": ".*", "read": ".*"},
                              {"user": "guest", "vhost": "v2", "configure": ".*",
                               "write": ".*", "read": ".*"}]}

    def test_third_queue_is_406_and_only_the_channel_closes(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q1")
        ch.queue_declare("")  # server-named queues count too
        self.assertChannelError(406, "PRECONDITION_FAILED - cannot declare queue 'q3': queue "
                                     "limit in vhost '/' (2) is reached",
                                ch.queue_declare, "q3")
        self.assertTrue(conn.is_open)
        ch2 = conn.channel()
        # Existing queues can still be declared (also passively) and used.
        ch2.queue_declare("q1")
        ch2.queue_declare("q1", passive=True)
        ch2.basic_publish("", "q1", b"m")
        self.assertEqual(ch2.basic_get("q1", auto_ack=True)[2], b"m")
        # Deleting one makes room.
        ch2.queue_delete("q1")
        ch2.queue_declare("q3")
        self.assertChannelError(406, None, ch2.queue_declare, "q4")

    def test_other_vhosts_are_not_limited(self):
        ch = self.channel(self.connect(virtual_host="v2"))
        for i in range(5):
            ch.queue_declare("q%d" % i)

    def test_raw_close_names_queue_declare(self):
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        for q in ("a", "b", "c"):
            c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args(q))
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        f = c.expect_method(raw.CHANNEL_CLOSE, channel=1)
        code, text, cls, mth = raw.decode_close(f)
        self.assertEqual((code, cls, mth), (406,) + raw.QUEUE_DECLARE)
        c.send_method(1, raw.CHANNEL_CLOSE_OK)
        c.open_channel(2)

    def test_management_put_is_refused_with_400(self):
        self.channel().queue_declare("q1")
        self.assertEqual(self.api("PUT", "queues/%2F/q2", {}).status, 201)
        r = self.api("PUT", "queues/%2F/q3", {})
        self.assertEqual(r.status, 400, r.raw)
        self.assertIn("queue limit in vhost '/' (2) is reached", r.json["reason"])

    def test_limit_lowered_below_the_count_keeps_existing_queues(self):
        ch = self.channel()
        ch.queue_declare("q1")
        ch.queue_declare("q2")
        self.set_limit("%2F", "max-queues", 1)
        self.assertEqual(sorted(q["name"] for q in self.api("GET", "queues").json), ["q1", "q2"])
        self.assertChannelError(406, None, ch.queue_declare, "q3")
        self.assertEqual(self.api("DELETE", "vhost-limits/%2F/max-queues").status, 204)
        self.channel().queue_declare("q3")


class MessageSize(LimitCase):
    CONFIG = {"limits": {"max_message_size": 1024}}

    def test_message_over_max_message_size_is_406_on_the_channel(self):
        conn = self.connect()
        ch = conn.channel()
        ch.queue_declare("q")
        ch.basic_publish("", "q", b"x" * 1024)
        ch.basic_publish("", "q", b"y" * 1025)
        self.assertChannelError(406, "PRECONDITION_FAILED - message size 1025 is larger than "
                                     "configured max size 1024",
                                self.sync, ch)
        self.assertTrue(conn.is_open)
        self.assertEqual(self.bodies(conn.channel(), "q"), [b"x" * 1024])

    def test_raw_close_names_basic_publish(self):
        c = self.opened(heartbeat=0)
        c.open_channel(1)
        c.send(raw.publish_frames(1, "", "q", b"z" * 2000))
        f = c.expect_method(raw.CHANNEL_CLOSE, channel=1)
        self.assertEqual(raw.decode_close(f),
                         (406, "PRECONDITION_FAILED - message size 2000 is larger than "
                               "configured max size 1024") + raw.BASIC_PUBLISH)


class LimitsApi(LimitCase):
    def test_list_set_clear_and_definitions(self):
        self.assertEqual(self.api("GET", "vhost-limits").json, [])
        self.assertEqual(self.api("GET", "vhost-limits/%2F").json, [])
        self.set_limit("%2F", "max-queues", 10)
        self.set_limit("%2F", "max-connections", 5)
        self.assertEqual(self.api("GET", "vhost-limits").json,
                         [{"vhost": "/", "value": {"max-connections": 5, "max-queues": 10}}])
        defs = self.api("GET", "definitions").json
        self.assertEqual(defs["parameters"],
                         [{"vhost": "/", "component": "vhost-limits", "name": "limits",
                           "value": {"max-connections": 5, "max-queues": 10}}])
        self.assertEqual(self.api("GET", "definitions/%2F").json["parameters"],
                         [{"component": "vhost-limits", "name": "limits",
                           "value": {"max-connections": 5, "max-queues": 10}}])
        self.assertEqual(self.api("DELETE", "vhost-limits/%2F/max-queues").status, 204)
        self.assertEqual(self.api("GET", "vhost-limits/%2F").json,
                         [{"vhost": "/", "value": {"max-connections": 5}}])

    def test_validation_and_errors(self):
        self.assertEqual(self.api("PUT", "vhost-limits/%2F/max-queues", {}).status, 400)
        self.assertEqual(self.api("PUT", "vhost-limits/%2F/max-queues", {"value": "5"}).status,
                         400)
        self.assertEqual(self.api("PUT", "vhost-limits/%2F/max-queues", {"value": 1.5}).status,
                         400)
        self.assertEqual(self.api("PUT", "vhost-limits/%2F/max-channels", {"value": 1}).status,
                         400)
        self.assertEqual(self.api("PUT", "vhost-limits/nope/max-queues", {"value": 1}).status,
                         404)
        self.assertEqual(self.api("GET", "vhost-limits/nope").status, 404)
        self.assertEqual(self.api("GET", "vhost-limits").json, [])

    def test_only_administrators_set_limits(self):
        r = self.api("PUT", "users/mgr", {"password": "p", "tags": "management"})
        self.assertIn(r.status, (201, 204))
        r = call(self.broker.mgmt_port, "PUT", "/api/vhost-limits/%2F/max-queues",
                 {"value": 1}, user="mgr", password="p")
        self.assertEqual(r.status, 401)
        self.assertEqual(self.api("GET", "vhost-limits").json, [])

    def test_import_sets_limits_and_deleting_the_vhost_drops_them(self):
        r = self.api("PUT", "vhosts/v3", {})
        self.assertEqual(r.status, 201)
        r = self.api("POST", "definitions", {"parameters": [
            {"vhost": "v3", "component": "vhost-limits", "name": "limits",
             "value": {"max-queues": 1}}]})
        self.assertEqual(r.status, 204, r.raw)
        self.assertEqual(self.api("GET", "vhost-limits/v3").json,
                         [{"vhost": "v3", "value": {"max-queues": 1}}])
        r = self.api("POST", "definitions", {"parameters": [
            {"vhost": "v3", "component": "vhost-limits", "name": "limits",
             "value": {"max-bananas": 1}}]})
        self.assertEqual(r.status, 400, r.raw)
        self.assertEqual(self.api("DELETE", "vhosts/v3").status, 204)
        self.assertEqual(self.api("PUT", "vhosts/v3", {}).status, 201)
        self.assertEqual(self.api("GET", "vhost-limits").json, [])


class LimitsSurviveRestart(LimitCase):
    def test_limits_are_saved_with_the_definitions(self):
        self.set_limit("%2F", "max-queues", 1)
        self.broker.restart()
        self.assertEqual(self.api("GET", "vhost-limits").json,
                         [{"vhost": "/", "value": {"max-queues": 1}}])
        ch = self.channel()
        ch.queue_declare("q1")
        self.assertChannelError(406, None, ch.queue_declare, "q2")
