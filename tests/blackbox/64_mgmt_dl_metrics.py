# SPDX-License-Identifier: MIT
"""64 dead-letter counters in Prometheus (ours: RabbitMQ has global ones only):
rabbitmq_queue_messages_dead_lettered_total{vhost,queue,reason},
rabbitmq_queue_messages_dead_letter_dropped_total{vhost,queue} and
rabbitmq_queue_messages_dead_letter_received_total{vhost,queue} on
/metrics/per-object, summed on /metrics (deleted queues included), on the
management port and the Prometheus port, parsed by python3-prometheus-client,
and equal to dead_letter_stats in the queue JSON."""

import time
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import free_port
from mgmtkit import MgmtTestCase, call

LETTERED = "rabbitmq_queue_messages_dead_lettered"
DROPPED = "rabbitmq_queue_messages_dead_letter_dropped"
RECEIVED = "rabbitmq_queue_messages_dead_letter_received"
REASONS = ("rejected", "expired", "maxlen", "delivery_limit")


def samples(text, family):
    """{labels as a sorted tuple: value} of one family (the parser drops _total)."""
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    f = fams[family]
    assert f.type == "counter", f.type
    return {tuple(sorted(s.labels.items())): s.value for s in f.samples
            if s.name == family + "_total"}


def q(name, **more):
    return tuple(sorted(dict(vhost="/", queue=name, **more).items()))


class DeadLetterMetrics(MgmtTestCase):
    def setUp(self):
        self.prom_port = free_port()
        self.CONFIG = {"listeners": {"prometheus_port": self.prom_port}}
        super().setUp()

    def metrics(self, path):
        r = call(self.broker.mgmt_port, "GET", path)
        self.assertEqual(r.status, 200, r.raw)
        return r.raw.decode()

    def declare(self, name, args=None, durable=False):
        self.assertStatus(self.api("PUT", "queues/%2F/" + urllib.parse.quote(name, safe=""),
                                   {"durable": durable, "arguments": args or {}}), 201)

    def publish(self, key, body="x", **props):
        r = self.api("POST", "exchanges/%2F/amq.default/publish",
                     {"routing_key": key, "payload": body, "payload_encoding": "string",
                      "properties": props})
        self.assertStatus(r, 200)

    def wait_ready(self, queue, n):
        deadline = time.monotonic() + 5
        while self.get("queues/%2F/" + queue)["messages_ready"] != n:
            self.assertLess(time.monotonic(), deadline, "messages_ready of " + queue)
            time.sleep(0.02)

    def make_dead_letters(self):
        """rej: 2 rejected; exp: 1 expired; max: 2 maxlen; lim: 1 delivery_limit (all
        into dlq); nodlx: 1 rejected without a DLX (dropped); gone: 1 rejected to a
        missing DLX (dead-lettered, then dropped)."""
        self.assertStatus(self.api("PUT", "exchanges/%2F/dlx", {"type": "fanout"}), 201)
        self.declare("dlq")
        self.assertStatus(self.api("POST", "bindings/%2F/e/dlx/q/dlq", {}), 201)
        dl = {"x-dead-letter-exchange": "dlx"}
        self.declare("rej", dl)
        self.declare("exp", dl)
        self.declare("max", dict(dl, **{"x-max-length": 1}))
        self.declare("lim", dict(dl, **{"x-queue-type": "quorum", "x-delivery-limit": 0}),
                     durable=True)
        self.declare("nodlx")
        self.declare("gone", {"x-dead-letter-exchange": "missing"})
        for key in ("rej", "rej", "lim", "nodlx", "gone"):
            self.publish(key)
        self.publish("exp", expiration="0")
        for _ in range(3):
            self.publish("max")
        ch = self.pika().channel()
        for key in ("rej", "rej", "nodlx", "gone"):
            m, _, _ = ch.basic_get(key)
            ch.basic_reject(m.delivery_tag, requeue=False)
        m, _, _ = ch.basic_get("lim")
        ch.basic_nack(m.delivery_tag, requeue=True)  # past x-delivery-limit 0
        self.wait_ready("dlq", 6)

    def test_per_queue_counters_by_reason_match_the_queue_json(self):
        self.make_dead_letters()
        text = self.metrics("/metrics/per-object")
        lettered = samples(text, LETTERED)
        # gone hands its dead letter to its dead-letter exchange (counted), which
        # does not exist (counted as dropped too)
        want = {"rej": {"rejected": 2}, "exp": {"expired": 1}, "max": {"maxlen": 2},
                "lim": {"delivery_limit": 1}, "gone": {"rejected": 1}}
        for name in ("rej", "exp", "max", "lim", "nodlx", "gone", "dlq"):
            for reason in REASONS:
                self.assertEqual(lettered[q(name, reason=reason)],
                                 want.get(name, {}).get(reason, 0), (name, reason))
        dropped = samples(text, DROPPED)
        self.assertEqual(dropped[q("nodlx")], 1)
        self.assertEqual(dropped[q("gone")], 1)
        self.assertEqual(dropped[q("rej")], 0)
        received = samples(text, RECEIVED)
        self.assertEqual(received[q("dlq")], 6)
        self.assertEqual(received[q("rej")], 0)
        # the same numbers as dead_letter_stats
        for name in ("rej", "exp", "max", "lim", "nodlx", "gone", "dlq"):
            st = self.get("queues/%2F/" + name)["dead_letter_stats"]
            for reason in REASONS:
                self.assertEqual(st[reason], lettered[q(name, reason=reason)])
            self.assertEqual(st["dropped_no_dlx"], dropped[q(name)])
            self.assertEqual(st["received"], received[q(name)])

    def test_aggregated_counters_keep_deleted_queues(self):
        self.make_dead_letters()
        self.assertStatus(self.api("DELETE", "queues/%2F/rej"), 204)
        text = self.metrics("/metrics")
        self.assertEqual(samples(text, LETTERED),
                         {(("reason", "rejected"),): 3, (("reason", "expired"),): 1,
                          (("reason", "maxlen"),): 2, (("reason", "delivery_limit"),): 1})
        self.assertEqual(samples(text, DROPPED), {(): 2})
        self.assertEqual(samples(text, RECEIVED), {(): 6})
        per = samples(self.metrics("/metrics/per-object"), LETTERED)
        self.assertNotIn(q("rej", reason="rejected"), per)
        totals = self.get("overview")["dead_letter_totals"]
        self.assertEqual((totals["rejected"], totals["dropped_no_dlx"], totals["received"]),
                         (3, 2, 6))

    def test_prometheus_port_serves_them_without_auth(self):
        self.make_dead_letters()
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics/per-object" % self.prom_port,
                                    timeout=5) as r:
            text = r.read().decode()
        self.assertEqual(samples(text, LETTERED)[q("max", reason="maxlen")], 2)
        self.assertEqual(samples(text, RECEIVED)[q("dlq")], 6)

    def test_label_values_are_escaped(self):
        self.declare('we"ird\\q', {"x-dead-letter-exchange": ""})
        text = self.metrics("/metrics/per-object")
        self.assertEqual(samples(text, LETTERED)[q('we"ird\\q', reason="expired")], 0)
