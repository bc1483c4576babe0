# SPDX-License-Identifier: MIT
"""61 management API objects: queues (PUT/DELETE/purge/get with the four
ackmodes, checked over AMQP), exchanges (PUT/DELETE/publish), bindings (the
/e/{x}/q/{q} and /e/{x}/e/{y} forms, properties_key), connections (DELETE
closes a pika connection with 320), channels, consumers and definitions
export/import."""

import json
import time

import pika

from mgmtkit import MgmtTestCase

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


class Queues(MgmtTestCase):
    def test_put_get_delete(self):
        self.assertStatus(self.api("PUT", "queues/%2F/q1",
                                   {"durable": True, "arguments": {"x-max-length": 5}}), 201)
        self.assertStatus(self.api("PUT", "queues/%2F/q1",
                                   {"durable": True, "arguments": {"x-max-length": 5}}), 204)
        q = self.get("queues/%2F/q1")
        for k in ("messages", "messages_ready", "messages_unacknowledged", "message_bytes",
                  "message_bytes_ready", "message_bytes_unacknowledged", "consumers", "memory",
                  "arguments", "durable", "auto_delete", "exclusive", "state", "type", "node",
                  "messages_details"):
            self.assertIn(k, q)
        self.assertEqual(q["arguments"], {"x-max-length": 5})
        self.assertEqual((q["durable"], q["type"], q["state"]), (True, "classic", "running"))
        # The queue is real: AMQP sees it.
        ch = self.pika().channel()
        ok = ch.queue_declare("q1", passive=True)
        self.assertEqual(ok.method.message_count, 0)
        self.assertStatus(self.api("DELETE", "queues/%2F/q1"), 204)
        self.assertStatus(self.api("GET", "queues/%2F/q1"), 404, NOT_FOUND)

    def test_put_errors_use_rabbitmq_texts(self):
        self.api("PUT", "queues/%2F/q2", {"durable": True})
        r = self.api("PUT", "queues/%2F/q2", {"durable": False})
        self.assertStatus(r, 400, {"error": "bad_request",
                                   "reason": "inequivalent arg 'durable' for queue 'q2' in vhost "
                                             "'/': received 'false' but current is 'true'"})
        r = self.api("PUT", "queues/%2F/amq.foo", {})
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Access refused."})
        r = self.api("PUT", "queues/%2F/q3", {"arguments": {"x-max-priority": "x"}})
        self.assertStatus(r, 400)
        self.assertTrue(r.json["reason"].startswith("invalid arg 'x-max-priority' for queue 'q3'"))
        self.assertStatus(self.api("PUT", "queues/nov/q3", {}), 404)

    def test_delete_if_empty_if_unused_and_purge(self):
        self.api("PUT", "queues/%2F/q4", {})
        self.api("POST", "exchanges/%2F/amq.default/publish",
                 {"routing_key": "q4", "payload": "x", "payload_encoding": "string",
                  "properties": {}})
        r = self.api("DELETE", "queues/%2F/q4?if-empty=true")
        self.assertStatus(r, 400, {"error": "bad_request",
                                   "reason": "queue 'q4' in vhost '/' not empty"})
        ch = self.pika().channel()
        ch.basic_consume("q4", lambda *a: None, auto_ack=True)
        r = self.api("DELETE", "queues/%2F/q4?if-unused=true")
        self.assertStatus(r, 400, {"error": "bad_request",
                                   "reason": "queue 'q4' in vhost '/' in use"})
        self.api("PUT", "queues/%2F/q5", {})
        for _ in range(3):
            self.api("POST", "exchanges/%2F/amq.default/publish",
                     {"routing_key": "q5", "payload": "x", "payload_encoding": "string",
                      "properties": {}})
        self.assertEqual(self.get("queues/%2F/q5")["messages"], 3)
        self.assertStatus(self.api("DELETE", "queues/%2F/q5/contents"), 204)
        self.assertEqual(self.get("queues/%2F/q5")["messages"], 0)
        self.assertEqual(ch.queue_declare("q5", passive=True).method.message_count, 0)

    def publish(self, q, payload, props=None, enc="string"):
        r = self.api("POST", "exchanges/%2F/amq.default/publish",
                     {"routing_key": q, "payload": payload, "payload_encoding": enc,
                      "properties": props or {}})
        self.assertStatus(r, 200)
        return r.json

    def get_msgs(self, q, ackmode, count=5, **kw):
        body = {"count": count, "ackmode": ackmode, "encoding": "auto"}
        body.update(kw)
        r = self.api("POST", "queues/%2F/" + q + "/get", body)
        self.assertStatus(r, 200)
        return r.json

    def test_get_ack_requeue_true_keeps_messages_marked_redelivered(self):
        self.api("PUT", "queues/%2F/g1", {})
        self.publish("g1", "hello", {"headers": {"a": 1}, "delivery_mode": 2, "priority": 3})
        self.publish("g1", "aGk=", enc="base64")
        msgs = self.get_msgs("g1", "ack_requeue_true", truncate=1)
        self.assertEqual(msgs[0], {"payload_bytes": 5, "redelivered": False, "exchange": "",
                                   "routing_key": "g1", "message_count": 1,
                                   "properties": {"headers": {"a": 1}, "delivery_mode": 2,
                                                  "priority": 3},
                                   "payload": "h", "payload_encoding": "string"})
        self.assertEqual(msgs[1]["payload_bytes"], 2)
        ch = self.pika().channel()
        m, props, body = ch.basic_get("g1", auto_ack=True)
        self.assertEqual(body, b"hello")
        self.assertTrue(m.redelivered)
        self.assertEqual(props.headers, {"a": 1})
        m, _, body = ch.basic_get("g1", auto_ack=True)
        self.assertEqual(body, b"hi")

    def test_get_reject_requeue_true_keeps_messages(self):
        self.api("PUT", "queues/%2F/g2", {})
        self.publish("g2", "x")
        self.assertEqual(len(self.get_msgs("g2", "reject_requeue_true")), 1)
        self.assertEqual(len(self.get_msgs("g2", "reject_requeue_true")), 1)
        ch = self.pika().channel()
        self.assertEqual(ch.queue_declare("g2", passive=True).method.message_count, 1)

    def test_get_ack_requeue_false_and_reject_requeue_false_remove(self):
        self.api("PUT", "queues/%2F/g3", {})
        for i in range(3):
            self.publish("g3", "m%d" % i)
        self.assertEqual([m["payload"] for m in self.get_msgs("g3", "ack_requeue_false", 1)],
                         ["m0"])
        self.assertEqual([m["payload"] for m in self.get_msgs("g3", "reject_requeue_false", 1)],
                         ["m1"])
        ch = self.pika().channel()
        self.assertEqual(ch.queue_declare("g3", passive=True).method.message_count, 1)
        self.assertEqual(ch.basic_get("g3", auto_ack=True)[2], b"m2")

    def test_get_encoding_and_errors(self):
        self.api("PUT", "queues/%2F/g4", {})
        self.publish("g4", "/w==", enc="base64")  # one byte 0xff: not UTF-8
        m = self.get_msgs("g4", "ack_requeue_true")[0]
        self.assertEqual((m["payload"], m["payload_encoding"]), ("/w==", "base64"))
        m = self.get_msgs("g4", "ack_requeue_true", encoding="base64")[0]
        self.assertEqual(m["payload_encoding"], "base64")
        r = self.api("POST", "queues/%2F/g4/get", {"count": 1, "ackmode": "ack_requeue_true",
                                                   "encoding": "x"})
        self.assertStatus(r, 400, {"error": "bad_request",
                                   "reason": "Unsupported encoding. Please use auto or base64."})
        r = self.api("POST", "queues/%2F/g4/get", {"ackmode": "ack_requeue_true",
                                                   "encoding": "auto"})
        self.assertStatus(r, 400, {"error": "bad_request", "reason": "[{key_missing,count}]"})
        self.assertStatus(self.api("POST", "queues/%2F/nope/get",
                                   {"count": 1, "ackmode": "ack_requeue_true",
                                    "encoding": "auto"}), 404)


class Exchanges(MgmtTestCase):
    def test_put_get_delete(self):
        self.assertStatus(self.api("PUT", "exchanges/%2F/e1", {"type": "fanout",
                                                              "durable": False}), 201)
        self.assertStatus(self.api("PUT", "exchanges/%2F/e1", {"type": "fanout",
                                                              "durable": False}), 204)
        x = self.get("exchanges/%2F/e1")
        self.assertEqual((x["name"], x["type"], x["durable"], x["auto_delete"], x["internal"]),
                         ("e1", "fanout", False, False, False))
        r = self.api("PUT", "exchanges/%2F/e1", {"type": "direct", "durable": False})
        self.assertStatus(r, 400, {"error": "bad_request",
                                   "reason": "inequivalent arg 'type' for exchange 'e1' in vhost "
                                             "'/': received 'direct' but current is 'fanout'"})
        r = self.api("PUT", "exchanges/%2F/e2", {"type": "nope"})
        self.assertStatus(r, 400, {"error": "bad_request",
                                   "reason": "unknown exchange type 'nope'"})
        self.assertStatus(self.api("PUT", "exchanges/%2F/amq.x", {"type": "direct"}), 401)
        self.assertStatus(self.api("DELETE", "exchanges/%2F/amq.direct"), 401)
        names = [x["name"] for x in self.get("exchanges/%2F")]
        self.assertIn("", names)
        self.assertIn("amq.topic", names)
        self.assertEqual(self.get("exchanges/%2F/amq.default")["name"], "")
        self.assertStatus(self.api("DELETE", "exchanges/%2F/e1"), 204)
        self.assertStatus(self.api("DELETE", "exchanges/%2F/e1"), 404, NOT_FOUND)

    def test_publish_routed(self):
        self.api("PUT", "exchanges/%2F/pf", {"type": "fanout"})
        r = self.api("POST", "exchanges/%2F/pf/publish",
                     {"routing_key": "", "payload": "x", "payload_encoding": "string",
                      "properties": {}})
        self.assertStatus(r, 200, {"routed": False})
        self.api("PUT", "queues/%2F/pq", {})
        self.assertStatus(self.api("POST", "bindings/%2F/e/pf/q/pq", {}), 201)
        r = self.api("POST", "exchanges/%2F/pf/publish",
                     {"routing_key": "", "payload": "x", "payload_encoding": "string",
                      "properties": {"content_type": "text/plain"}})
        self.assertStatus(r, 200, {"routed": True})
        r = self.api("POST", "exchanges/%2F/pf/publish", {"routing_key": "x"})
        self.assertStatus(r, 400)
        self.assertIn("key_missing", r.json["reason"])
        _, props, body = self.pika().channel().basic_get("pq", auto_ack=True)
        self.assertEqual((body, props.content_type), (b"x", "text/plain"))


class Bindings(MgmtTestCase):
    def test_queue_binding_lifecycle(self):
        self.api("PUT", "exchanges/%2F/bx", {"type": "direct"})
        self.api("PUT", "queues/%2F/bq", {})
        r = self.api("POST", "bindings/%2F/e/bx/q/bq", {"routing_key": "k", "arguments": {"a": 1}})
        self.assertStatus(r, 201)
        loc = r.headers["Location"]
        self.assertTrue(loc.startswith("bq/k~"), loc)
        self.assertStatus(self.api("POST", "bindings/%2F/e/bx/q/bq", {}), 201)
        bs = self.get("bindings/%2F/e/bx/q/bq")
        self.assertEqual([(b["routing_key"], b["properties_key"]) for b in bs],
                         [("", "~"), ("k", loc.split("/", 1)[1])])
        self.assertEqual(bs[1]["arguments"], {"a": 1})
        self.assertEqual(self.get("bindings/%2F/e/bx/q/bq/~")["routing_key"], "")
        self.assertStatus(self.api("DELETE", "bindings/%2F/e/bx/q/bq/~"), 204)
        self.assertStatus(self.api("DELETE", "bindings/%2F/e/bx/q/bq/~"), 404, NOT_FOUND)
        self.assertEqual(len(self.get("queues/%2F/bq/bindings")), 2)  # default + k
        self.assertEqual(len(self.get("exchanges/%2F/bx/bindings/source")), 1)
        all_b = self.get("bindings/%2F")
        self.assertEqual(all_b[0], {"source": "", "vhost": "/", "destination": "bq",
                                    "destination_type": "queue", "routing_key": "bq",
                                    "arguments": {}, "properties_key": "bq"})
        self.assertStatus(self.api("POST", "bindings/%2F/e/nope/q/bq", {}), 404)

    def test_exchange_binding_props_key_quotes(self):
        self.api("PUT", "exchanges/%2F/s1", {"type": "direct"})
        r = self.api("POST", "bindings/%2F/e/s1/e/amq.direct", {"routing_key": "k k~x"})
        self.assertStatus(r, 201)
        b = self.get("bindings/%2F/e/s1/e/amq.direct")
        self.assertEqual(b[0]["properties_key"], "k+k%7Ex")
        self.assertEqual(b[0]["destination_type"], "exchange")
        self.assertEqual(len(self.get("exchanges/%2F/amq.direct/bindings/destination")), 1)
        self.assertStatus(self.api("DELETE", "bindings/%2F/e/s1/e/amq.direct/k%2Bk%257Ex"), 204)
        self.assertEqual(self.get("bindings/%2F/e/s1/e/amq.direct"), [])


class Connections(MgmtTestCase):
    def test_connections_channels_consumers(self):
        c = self.pika(client_properties={"connection_name": "mine"})
        ch = c.channel()
        ch.queue_declare("cq")
        ch.basic_qos(prefetch_count=7)
        ch.basic_consume("cq", lambda *a: None, consumer_tag="ctag1")
        conns = self.get("connections")
        self.assertEqual(len(conns), 1)
        cn = conns[0]
        self.assertRegex(cn["name"], r"^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:%d$" % self.broker.port)
        self.assertEqual((cn["user"], cn["vhost"], cn["protocol"], cn["channels"]),
                         ("guest", "/", "AMQP 0-9-1", 1))
        self.assertEqual(cn["client_properties"]["connection_name"], "mine")
        q = json.dumps  # noqa: F841
        from urllib.parse import quote
        self.assertEqual(self.get("connections/" + quote(cn["name"], safe=""))["name"],
                         cn["name"])
        chans = self.get("connections/%s/channels" % quote(cn["name"], safe=""))
        self.assertEqual(chans[0]["name"], cn["name"] + " (1)")
        self.assertEqual(chans[0]["consumer_count"], 1)
        self.assertEqual(self.get("channels")[0]["number"], 1)
        self.assertEqual(self.get("channels/" + quote(chans[0]["name"], safe=""))["number"], 1)
        cons = self.get("consumers")
        self.assertEqual(len(cons), 1)
        self.assertEqual((cons[0]["consumer_tag"], cons[0]["queue"], cons[0]["ack_required"],
                          cons[0]["prefetch_count"]),
                         ("ctag1", {"name": "cq", "vhost": "/"}, True, 7))
        self.assertEqual(self.get("consumers/%2F")[0]["consumer_tag"], "ctag1")
        self.assertEqual(self.get("queues/%2F/cq")["consumers"], 1)

    def test_delete_connection_closes_it_with_320(self):
        c = self.pika()
        from urllib.parse import quote
        name = self.get("connections")[0]["name"]
        self.assertStatus(self.api("DELETE", "connections/" + quote(name, safe="")), 204)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                c.process_data_events(0.1)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertStatus(self.api("GET", "connections/nope"), 404)


class Definitions(MgmtTestCase):
    def test_export_layout_and_round_trip(self):
        self.api("PUT", "vhosts/dv", {})
        self.api("PUT", "users/du", {"password": "p", "tags": "management"})
        self.api("PUT", "permissions/dv/du", {"configure": ".*", "write": "", "read": ".*"})
        self.api("PUT", "exchanges/dv/dx", {"type": "topic", "durable": True})
        self.api("PUT", "queues/dv/dq", {"durable": True, "arguments": {"x-max-length": 9}})
        self.api("POST", "bindings/dv/e/dx/q/dq", {"routing_key": "a.*", "arguments": {"k": "v"}})
        d = self.get("definitions")
        for k in ("rabbit_version", "rabbitmq_version", "product_name", "product_version",
                  "users", "vhosts", "permissions", "topic_permissions", "parameters",
                  "global_parameters", "policies", "queues", "exchanges", "bindings"):
            self.assertIn(k, d)
        du = [u for u in d["users"] if u["name"] == "du"][0]
        self.assertEqual(set(du), {"name", "password_hash", "hashing_algorithm", "tags",
                                   "limits"})
        self.assertIn({"name": "dq", "vhost": "dv", "durable": True, "auto_delete": False,
                       "arguments": {"x-max-length": 9}}, d["queues"])
        self.assertIn({"source": "dx", "vhost": "dv", "destination": "dq",
                       "destination_type": "queue", "routing_key": "a.*",
                       "arguments": {"k": "v"}}, d["bindings"])
        self.assertEqual([x["name"] for x in d["exchanges"]], ["dx"])
        # Import into a fresh broker and export again: the same definitions.
        other = self.start_broker(name="second")
        from mgmtkit import call
        r = call(other.mgmt_port, "POST", "/api/definitions", d)
        self.assertEqual(r.status, 204, r.raw)
        d2 = call(other.mgmt_port, "GET", "/api/definitions").json
        for k in ("users", "vhosts", "permissions", "queues", "exchanges", "bindings"):
            key = lambda o: json.dumps(o, sort_keys=True)  # noqa: E731
            self.assertEqual(sorted(map(key, d[k])), sorted(map(key, d2[k])), k)
        self.assertEqual(call(other.mgmt_port, "GET", "/api/whoami", user="du",
                              password="p").json["name"], "du")

    def test_import_is_all_or_nothing(self):
        bad = {"queues": [{"name": "ok1", "vhost": "/", "durable": True, "auto_delete": False,
                           "arguments": {}},
                          {"name": "bad", "vhost": "nov", "durable": True, "auto_delete": False,
                           "arguments": {}}]}
        r = self.api("POST", "definitions", bad)
        self.assertStatus(r, 400)
        self.assertIn("nov", r.json["reason"])
        self.assertStatus(self.api("GET", "queues/%2F/ok1"), 404)
        bad = {"queues": [{"name": "q", "vhost": "/", "arguments": {"x-max-priority": "z"}}]}
        self.assertStatus(self.api("POST", "definitions", bad), 400)
        self.assertStatus(self.api("POST", "definitions", raw=b"{nope"), 400)

    def test_per_vhost_export_and_import(self):
        self.api("PUT", "queues/%2F/vq", {"durable": True})
        d = self.get("definitions/%2F")
        self.assertEqual(d["queues"], [{"name": "vq", "durable": True, "auto_delete": False,
                                        "arguments": {}}])
        self.api("PUT", "vhosts/v2", {})
        self.assertStatus(self.api("POST", "definitions/v2", d), 204)
        self.assertEqual(self.get("queues/v2/vq")["durable"], True)


class DeadLetterCounters(MgmtTestCase):
    def test_rejects_are_counted_per_queue_and_in_overview(self):
        self.api("PUT", "queues/%2F/dlq", {})
        self.api("PUT", "queues/%2F/src", {"arguments": {"x-dead-letter-exchange": "",
                                                        "x-dead-letter-routing-key": "dlq"}})
        self.api("POST", "exchanges/%2F/amq.default/publish",
                 {"routing_key": "src", "payload": "x", "payload_encoding": "string",
                  "properties": {}})
        ch = self.pika().channel()
        m, _, _ = ch.basic_get("src")
        ch.basic_reject(m.delivery_tag, requeue=False)
        ch.queue_declare("dlq", passive=True)  # a round trip: the reject is processed
        st = self.get("queues/%2F/src")["dead_letter_stats"]
        self.assertEqual(set(st), {"rejected", "expired", "maxlen", "delivery_limit",
                                   "dropped_no_dlx", "received"})
        self.assertEqual(st["rejected"], 1)
        self.assertEqual(self.get("queues/%2F/dlq")["messages"], 1)
        self.assertEqual(self.get("overview")["dead_letter_totals"]["rejected"], 1)
