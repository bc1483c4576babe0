# SPDX-License-Identifier: MIT
"""63 dead-letter inspection (ours, not RabbitMQ's): the non-destructive peek
GET /api/queues/{vhost}/{queue}/messages (order, pagination, ids, decoded
x-death, filters by reason and origin queue, encoding and truncate, errors) and
POST /api/queues/{vhost}/{queue}/replay (by ids and by count, to the origin
exchange and routing keys from x-death or to a given exchange / key, refused
messages left in place). Every claim about the queue is checked over AMQP
afterwards: same messages, same order, redelivered false."""

import time

import pika

from mgmtkit import MgmtTestCase

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


class DeadLetterCase(MgmtTestCase):
    """Topology: exchange orders (direct) -key new-> queue work, whose dead
    letters go through dlx (fanout) to dlq."""

    def setUp(self):
        super().setUp()
        for x, t in (("orders", "direct"), ("dlx", "fanout")):
            self.assertStatus(self.api("PUT", "exchanges/%2F/" + x, {"type": t}), 201)
        self.declare("work", {"x-dead-letter-exchange": "dlx"})
        self.declare("dlq")
        self.bind("dlx", "dlq", "")
        self.bind("orders", "work", "new")
        self.conn = self.pika()
        self.ch = self.conn.channel()
        self.ch.confirm_delivery()

    def declare(self, name, args=None):
        self.assertStatus(self.api("PUT", "queues/%2F/" + name, {"arguments": args or {}}), 201)

    def bind(self, x, q, key):
        self.assertStatus(self.api("POST", "bindings/%%2F/e/%s/q/%s" % (x, q),
                                   {"routing_key": key}), 201)

    def wait_ready(self, queue, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            got = self.get("queues/%2F/" + queue)["messages_ready"]
            if got == n or time.monotonic() > deadline:
                self.assertEqual(got, n, "messages_ready of %s" % queue)
                return
            time.sleep(0.02)

    def publish(self, body, exchange="orders", key="new", **props):
        self.ch.basic_publish(exchange, key, body, pika.BasicProperties(**props))

    def reject_into_dlq(self, bodies, queue="work", key="new"):
        """Publishes bodies to orders/key, then rejects each from queue: they
        reach dlq with reason rejected, in order."""
        before = self.get("queues/%2F/dlq")["messages_ready"]
        for i, b in enumerate(bodies):
            self.publish(b, key=key, headers={"n": i})
        for _ in bodies:
            m, _, _ = self.ch.basic_get(queue)
            self.ch.basic_reject(m.delivery_tag, requeue=False)
        self.wait_ready("dlq", before + len(bodies))

    def peek(self, query="", queue="dlq", status=200):
        r = self.api("GET", "queues/%%2F/%s/messages%s" % (queue, query))
        self.assertStatus(r, status)
        return r.json

    def replay(self, body, queue="dlq", status=200):
        r = self.api("POST", "queues/%%2F/%s/replay" % queue, body)
        self.assertStatus(r, status)
        return r.json

    def consume_all(self, queue):
        """Every ready message of queue over AMQP (basic.get, acked):
        [(body, redelivered, properties, method)]."""
        ch = self.pika().channel()
        out = []
        while True:
            m, props, body = ch.basic_get(queue, auto_ack=True)
            if m is None:
                return out
            out.append((body, m.redelivered, props, m))


class Peek(DeadLetterCase):
    def test_peek_pages_in_order_and_leaves_the_queue_untouched(self):
        bodies = [b"m%d" % i for i in range(6)]
        self.reject_into_dlq(bodies)
        p = self.peek()
        self.assertEqual([i["payload"] for i in p["items"]], [b.decode() for b in bodies])
        self.assertEqual(p["messages_ready"], 6)
        self.assertIsNone(p["next_offset"])
        ids = [i["id"] for i in p["items"]]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), 6)
        first = p["items"][0]
        self.assertEqual(first["payload_bytes"], 2)
        self.assertEqual(first["payload_encoding"], "string")
        self.assertFalse(first["redelivered"])
        self.assertEqual(first["exchange"], "dlx")
        self.assertEqual(first["routing_key"], "new")
        self.assertEqual(first["properties"]["headers"]["n"], 0)
        self.assertEqual(first["properties"]["headers"]["x-first-death-queue"], "work")
        (death,) = first["x_death"]
        self.assertIsInstance(death.pop("time"), int)
        self.assertEqual(death, {"queue": "work", "reason": "rejected", "count": 1,
                                 "exchange": "orders", "routing-keys": ["new"]})
        # pages
        p = self.peek("?offset=2&count=3")
        self.assertEqual([i["payload"] for i in p["items"]], ["m2", "m3", "m4"])
        self.assertEqual(p["next_offset"], 5)
        self.assertEqual(p["item_count"], 3)
        p = self.peek("?offset=5&count=3")
        self.assertEqual([i["id"] for i in p["items"]], ids[5:])
        self.assertIsNone(p["next_offset"])
        self.assertEqual(self.peek("?offset=6")["items"], [])
        # peeking changed nothing: same ids again, and AMQP sees the same order, not redelivered
        self.assertEqual([i["id"] for i in self.peek()["items"]], ids)
        q = self.get("queues/%2F/dlq")
        self.assertEqual((q["messages_ready"], q["messages_unacknowledged"]), (6, 0))
        got = self.consume_all("dlq")
        self.assertEqual([b for b, _, _, _ in got], bodies)
        self.assertEqual([r for _, r, _, _ in got], [False] * 6)

    def test_peek_shows_a_requeued_message_at_its_place_and_still_leaves_it(self):
        self.reject_into_dlq([b"a", b"b", b"c"])
        ch = self.pika().channel()
        m, _, body = ch.basic_get("dlq")
        self.assertEqual(body, b"a")
        self.assertEqual([i["payload"] for i in self.peek()["items"]], ["b", "c"])  # a is unacked
        ch.basic_nack(m.delivery_tag, requeue=True)
        self.wait_ready("dlq", 3)
        items = self.peek()["items"]
        self.assertEqual([(i["payload"], i["redelivered"]) for i in items],
                         [("a", True), ("b", False), ("c", False)])
        got = self.consume_all("dlq")
        self.assertEqual([(b, r) for b, r, _, _ in got],
                         [(b"a", True), (b"b", False), (b"c", False)])

    def test_peek_filters_by_any_death_reason_and_by_first_death_queue(self):
        # rejected from work
        self.reject_into_dlq([b"rej"])
        # expired in work (expiration 0, no consumer: dead on arrival)
        self.publish(b"exp", expiration="0")
        self.wait_ready("dlq", 2)
        # expired in stage1, dead-lettered to stage2, rejected there, then to dlq:
        # x-death has {stage2, rejected} and {stage1, expired}; first death stage1
        self.assertStatus(self.api("PUT", "exchanges/%2F/dlx2", {"type": "fanout"}), 201)
        self.declare("stage1", {"x-dead-letter-exchange": "dlx2"})
        self.declare("stage2", {"x-dead-letter-exchange": "dlx"})
        self.bind("orders", "stage1", "chain")
        self.bind("dlx2", "stage2", "")
        self.publish(b"both", key="chain", expiration="0")
        self.wait_ready("stage2", 1)
        m, _, _ = self.ch.basic_get("stage2")
        self.ch.basic_reject(m.delivery_tag, requeue=False)
        self.wait_ready("dlq", 3)

        def bodies(query):
            return [i["payload"] for i in self.peek(query)["items"]]

        self.assertEqual(bodies(""), ["rej", "exp", "both"])
        self.assertEqual(bodies("?reason=rejected"), ["rej", "both"])
        self.assertEqual(bodies("?reason=expired"), ["exp", "both"])
        self.assertEqual(bodies("?reason=maxlen"), [])
        self.assertEqual(bodies("?origin_queue=work"), ["rej", "exp"])
        self.assertEqual(bodies("?origin_queue=stage1"), ["both"])
        self.assertEqual(bodies("?origin_queue=stage2"), [])
        self.assertEqual(bodies("?origin_queue=work&reason=expired"), ["exp"])
        # offset and count count matching messages
        p = self.peek("?reason=rejected&offset=1&count=1")
        self.assertEqual([i["payload"] for i in p["items"]], ["both"])
        self.assertIsNone(p["next_offset"])
        p = self.peek("?reason=expired&count=1")
        self.assertEqual(p["next_offset"], 1)
        both = self.peek("?origin_queue=stage1")["items"][0]
        self.assertEqual([(d["queue"], d["reason"]) for d in both["x_death"]],
                         [("stage2", "rejected"), ("stage1", "expired")])
        self.assertEqual(both["x_death"][1]["original-expiration"], "0")
        self.assertEqual(len(self.consume_all("dlq")), 3)

    def test_peek_encoding_and_truncate(self):
        self.declare("raw")
        self.publish(b"\xff\x00abc", exchange="", key="raw")
        self.publish(b"hello world", exchange="", key="raw")
        items = self.peek(queue="raw")["items"]
        self.assertEqual([(i["payload"], i["payload_encoding"]) for i in items],
                         [("/wBhYmM=", "base64"), ("hello world", "string")])
        self.assertEqual(items[0]["x_death"], [])
        items = self.peek("?encoding=base64&truncate=5", queue="raw")["items"]
        self.assertEqual([(i["payload"], i["payload_bytes"]) for i in items],
                         [("/wBhYmM=", 5), ("aGVsbG8=", 11)])

    def test_peek_errors(self):
        for q in ("?count=0", "?count=501", "?count=x", "?offset=-1", "?truncate=-2",
                  "?encoding=utf8", "?reason=" + "r" * 256, "?origin_queue=%zz"):
            r = self.api("GET", "queues/%2F/dlq/messages" + q)
            self.assertStatus(r, 400)
            self.assertEqual(r.json["error"], "bad_request")
        self.assertStatus(self.api("GET", "queues/%2F/nope/messages"), 404, NOT_FOUND)
        self.assertStatus(self.api("GET", "queues/nov/dlq/messages"), 404, NOT_FOUND)
        self.assertStatus(self.api("GET", "queues/%2F/dlq/messages", user=None), 401)
        self.assertStatus(self.api("POST", "queues/%2F/dlq/messages", {}), 405)
        # a user without read permission on the queue
        self.assertStatus(self.api("PUT", "users/mon", {"password": "p", "tags": "management"}),
                          201)
        self.assertStatus(self.api("PUT", "permissions/%2F/mon",
                                   {"configure": "", "write": "", "read": "^work$"}), 201)
        self.assertStatus(self.api("GET", "queues/%2F/dlq/messages", user="mon", password="p"),
                          401)
        self.assertStatus(self.api("GET", "queues/%2F/work/messages", user="mon", password="p"),
                          200)


class Replay(DeadLetterCase):
    def test_replay_by_ids_moves_exactly_those_back_to_origin(self):
        bodies = [b"r%d" % i for i in range(5)]
        self.reject_into_dlq(bodies)
        ids = [i["id"] for i in self.peek()["items"]]
        res = self.replay({"ids": [ids[3], ids[1]]})
        self.assertEqual(res, {"replayed": 2, "replayed_ids": [ids[1], ids[3]], "failed": []})
        # the dlq keeps the others, in order, untouched
        self.assertEqual([i["id"] for i in self.peek()["items"]], [ids[0], ids[2], ids[4]])
        # work got exactly the two, in queue order, marked and with x-death kept
        got = self.consume_all("work")
        self.assertEqual([b for b, _, _, _ in got], [b"r1", b"r3"])
        for body, redelivered, props, method in got:
            self.assertFalse(redelivered)
            self.assertEqual((method.exchange, method.routing_key), ("orders", "new"))
            h = props.headers
            self.assertEqual(h["x-replayed-from"], "dlq")
            self.assertEqual(h["x-replay-count"], 1)
            self.assertEqual(h["x-first-death-queue"], "work")
            self.assertEqual([(d["queue"], d["reason"], d["count"]) for d in h["x-death"]],
                             [("work", "rejected", 1)])
            self.assertNotIn("CC", h)
        # exactly once: the same ids again move nothing
        res = self.replay({"ids": [ids[1], ids[3]]})
        self.assertEqual(res["replayed"], 0)
        self.assertEqual(res["failed"], [{"id": ids[1], "reason": "not_found"},
                                         {"id": ids[3], "reason": "not_found"}])
        self.assertEqual(self.consume_all("work"), [])
        got = self.consume_all("dlq")
        self.assertEqual([(b, r) for b, r, _, _ in got],
                         [(b"r0", False), (b"r2", False), (b"r4", False)])

    def test_replay_to_origin_uses_every_original_routing_key(self):
        # published to orders with key new and CC cc1: work and work_cc got it;
        # only work rejected it. Replaying to the origin reaches both again
        # (documented); a given routing key reaches only its queue, without CC.
        self.declare("work_cc")
        self.bind("orders", "work_cc", "cc1")
        self.publish(b"cc", headers={"CC": ["cc1"]})
        m, _, _ = self.ch.basic_get("work")
        self.ch.basic_reject(m.delivery_tag, requeue=False)
        self.wait_ready("dlq", 1)
        (item,) = self.peek()["items"]
        self.assertEqual(item["x_death"][0]["routing-keys"], ["new", "cc1"])
        self.assertEqual(self.replay({"count": 1})["replayed"], 1)
        (got,) = self.consume_all("work")
        self.assertEqual(got[3].routing_key, "new")
        self.assertEqual(got[2].headers["CC"], ["cc1"])
        self.assertEqual([b for b, _, _, _ in self.consume_all("work_cc")], [b"cc", b"cc"])
        # again, to work alone
        self.publish(b"cc2", headers={"CC": ["cc1"]})
        m, _, _ = self.ch.basic_get("work")
        self.ch.basic_reject(m.delivery_tag, requeue=False)
        self.wait_ready("dlq", 1)
        res = self.replay({"count": 1, "exchange": "", "routing_key": "work"})
        self.assertEqual(res["replayed"], 1)
        (got,) = self.consume_all("work")
        self.assertNotIn("CC", got[2].headers)
        self.assertEqual([b for b, _, _, _ in self.consume_all("work_cc")], [b"cc2"])

    def test_a_replayed_message_that_dies_again_counts_on_in_x_death(self):
        self.reject_into_dlq([b"again"])
        self.assertEqual(self.replay({"count": 1})["replayed"], 1)
        m, _, _ = self.ch.basic_get("work")
        self.ch.basic_reject(m.delivery_tag, requeue=False)
        self.wait_ready("dlq", 1)
        item = self.peek()["items"][0]
        self.assertEqual([(d["queue"], d["reason"], d["count"]) for d in item["x_death"]],
                         [("work", "rejected", 2)])
        self.assertEqual(item["properties"]["headers"]["x-replay-count"], 1)
        self.assertEqual(self.replay({"count": 1})["replayed"], 1)
        _, _, props, _ = self.consume_all("work")[0]
        self.assertEqual(props.headers["x-replay-count"], 2)

    def test_replay_by_count_to_a_given_exchange_and_key(self):
        self.reject_into_dlq([b"c0", b"c1", b"c2"])
        self.declare("other")
        res = self.replay({"count": 2, "exchange": "amq.default", "routing_key": "other"})
        self.assertEqual(res["replayed"], 2)
        got = self.consume_all("other")
        self.assertEqual([b for b, _, _, _ in got], [b"c0", b"c1"])
        self.assertEqual((got[0][3].exchange, got[0][3].routing_key), ("", "other"))
        self.assertEqual(self.consume_all("work"), [])
        # more than there is: what is there
        res = self.replay({"count": 50, "exchange": "", "routing_key": "other"})
        self.assertEqual((res["replayed"], res["failed"]), (1, []))
        self.assertEqual(self.get("queues/%2F/dlq")["messages"], 0)
        self.assertEqual([b for b, _, _, _ in self.consume_all("other")], [b"c2"])

    def test_replay_by_count_with_filters(self):
        self.reject_into_dlq([b"rej0"])
        self.publish(b"exp", expiration="0")
        self.wait_ready("dlq", 2)
        self.reject_into_dlq([b"rej1"])
        res = self.replay({"count": 5, "reason": "expired"})
        self.assertEqual(res["replayed"], 1)
        self.assertEqual([b for b, _, _, _ in self.consume_all("work")], [b"exp"])
        self.assertEqual([b for b, _, _, _ in self.consume_all("dlq")], [b"rej0", b"rej1"])

    def test_refused_by_a_full_reject_publish_queue_stays_in_place(self):
        self.reject_into_dlq([b"f0", b"f1"])
        self.declare("full", {"x-max-length": 0, "x-overflow": "reject-publish"})
        ids = [i["id"] for i in self.peek()["items"]]
        res = self.replay({"ids": ids, "exchange": "", "routing_key": "full"})
        self.assertEqual(res, {"replayed": 0, "replayed_ids": [],
                               "failed": [{"id": ids[0], "reason": "refused"},
                                          {"id": ids[1], "reason": "refused"}]})
        # a route that reaches a taker and a refuser publishes to neither
        self.assertStatus(self.api("PUT", "exchanges/%2F/both", {"type": "fanout"}), 201)
        self.declare("taker")
        self.bind("both", "taker", "")
        self.bind("both", "full", "")
        res = self.replay({"count": 2, "exchange": "both", "routing_key": ""})
        self.assertEqual([f["reason"] for f in res["failed"]], ["refused", "refused"])
        self.assertEqual(self.get("queues/%2F/taker")["messages"], 0)
        self.assertEqual([i["id"] for i in self.peek()["items"]], ids)
        got = self.consume_all("dlq")
        self.assertEqual([(b, r) for b, r, _, _ in got], [(b"f0", False), (b"f1", False)])

    def test_origin_without_route_or_exchange_and_messages_without_x_death_stay(self):
        self.reject_into_dlq([b"n0", b"n1"])
        self.publish(b"plain", exchange="", key="dlq")  # never dead-lettered
        self.wait_ready("dlq", 3)
        ids = [i["id"] for i in self.peek()["items"]]
        # the binding is gone: no route
        self.assertStatus(self.api("DELETE", "bindings/%2F/e/orders/q/work/new"), 204)
        res = self.replay({"count": 3})
        self.assertEqual(res["failed"], [{"id": ids[0], "reason": "no_route"},
                                         {"id": ids[1], "reason": "no_route"},
                                         {"id": ids[2], "reason": "no_x_death"}])
        # the exchange is gone
        self.assertStatus(self.api("DELETE", "exchanges/%2F/orders"), 204)
        res = self.replay({"ids": ids[:2]})
        self.assertEqual([f["reason"] for f in res["failed"]], ["no_exchange", "no_exchange"])
        self.assertEqual(res["replayed"], 0)
        got = self.consume_all("dlq")
        self.assertEqual([(b, r) for b, r, _, _ in got],
                         [(b"n0", False), (b"n1", False), (b"plain", False)])

    def test_replay_to_an_alternate_exchange_route_counts_as_routed(self):
        self.reject_into_dlq([b"ae"])
        self.declare("caught")
        self.assertStatus(self.api("PUT", "exchanges/%2F/catchall", {"type": "fanout"}), 201)
        self.bind("catchall", "caught", "")
        self.assertStatus(self.api("PUT", "exchanges/%2F/withae",
                                   {"type": "direct",
                                    "arguments": {"alternate-exchange": "catchall"}}), 201)
        res = self.replay({"count": 1, "exchange": "withae", "routing_key": "nobody"})
        self.assertEqual(res["replayed"], 1)
        self.assertEqual([b for b, _, _, _ in self.consume_all("caught")], [b"ae"])

    def test_replay_errors(self):
        self.reject_into_dlq([b"e"])
        for body, reason in (({}, "give either count or ids"),
                             ({"count": 1, "ids": [1]}, "give either count or ids"),
                             ({"count": 0}, "count must be an integer from 1 to 10000"),
                             ({"count": "1"}, "count must be an integer from 1 to 10000"),
                             ({"ids": []}, "ids must be a list of 1 to 10000 message ids"),
                             ({"ids": ["x"]}, "ids must be a list of 1 to 10000 message ids"),
                             ({"count": 1, "exchange": 5},
                              "exchange and routing_key must be strings of at most 255 bytes"),
                             ({"ids": [1], "reason": "expired"},
                              "reason and origin_queue are strings, used with count")):
            r = self.api("POST", "queues/%2F/dlq/replay", body)
            self.assertStatus(r, 400, {"error": "bad_request", "reason": reason})
        r = self.api("POST", "queues/%2F/dlq/replay", raw=b"{nope")
        self.assertStatus(r, 400, {"error": "bad_request", "reason": "not_json"})
        self.assertStatus(self.api("POST", "queues/%2F/dlq/replay",
                                   {"count": 1, "exchange": "missing"}), 404, NOT_FOUND)
        self.assertStatus(self.api("POST", "queues/%2F/nope/replay", {"count": 1}), 404)
        self.assertStatus(self.api("POST", "queues/%2F/dlq/replay", {"count": 1}, user=None), 401)
        self.assertStatus(self.api("GET", "queues/%2F/dlq/replay"), 405)
        # write permission on the target exchange is needed, per message
        self.assertStatus(self.api("PUT", "users/ro", {"password": "p", "tags": "management"}),
                          201)
        self.assertStatus(self.api("PUT", "permissions/%2F/ro",
                                   {"configure": "", "write": "^dlx$", "read": ".*"}), 201)
        res = self.replay_as("ro", {"count": 1})
        self.assertEqual([f["reason"] for f in res["failed"]], ["access_refused"])
        self.assertEqual(len(self.consume_all("dlq")), 1)

    def replay_as(self, user, body):
        r = self.api("POST", "queues/%2F/dlq/replay", body, user=user, password="p")
        self.assertStatus(r, 200)
        return r.json
