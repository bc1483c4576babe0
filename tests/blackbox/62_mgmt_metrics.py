# SPDX-License-Identifier: MIT
"""62 Prometheus metrics: /metrics and /metrics/per-object on the management
port (authenticated) and on the Prometheus port (not), parsed by
python3-prometheus-client's text parser, with RabbitMQ's metric names."""

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness import free_port
from mgmtkit import MgmtTestCase, call


def families(text):
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(fams, name, labels=None):
    for s in fams[name].samples:
        if labels is None or all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError((name, labels))


class Metrics(MgmtTestCase):
    PROM_PORT = None

    def setUp(self):
        self.PROM_PORT = free_port()
        self.CONFIG = {"listeners": {"prometheus_port": self.PROM_PORT}}
        super().setUp()

    def metrics(self, path="/metrics"):
        r = call(self.broker.mgmt_port, "GET", path)
        self.assertEqual(r.status, 200, r.raw)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        return r.raw.decode()

    def test_aggregated_metrics_parse_with_rabbitmq_names(self):
        self.api("PUT", "queues/%2F/m1", {})
        for _ in range(2):
            self.api("POST", "exchanges/%2F/amq.default/publish",
                     {"routing_key": "m1", "payload": "x", "payload_encoding": "string",
                      "properties": {}})
        fams = families(self.metrics())
        for name in ("rabbitmq_queue_messages", "rabbitmq_queue_messages_ready",
                     "rabbitmq_queue_messages_unacked", "rabbitmq_connections",
                     "rabbitmq_channels", "rabbitmq_queues", "rabbitmq_consumers",
                     "rabbitmq_process_resident_memory_bytes", "rabbitmq_identity_info"):
            self.assertIn(name, fams)
        # The parser strips _total from counter family names.
        self.assertEqual(fams["rabbitmq_global_messages_received"].type, "counter")
        self.assertEqual(value(fams, "rabbitmq_global_messages_received",
                               {"protocol": "amqp091"}), 2)
        self.assertEqual(value(fams, "rabbitmq_queue_messages"), 2)
        self.assertEqual(value(fams, "rabbitmq_queues"), 1)
        self.assertGreater(value(fams, "rabbitmq_process_resident_memory_bytes"), 0)

    def test_per_object_metrics_label_queues(self):
        self.api("PUT", "queues/%2F/p1", {})
        self.api("PUT", "queues/%2F/p%22q", {})  # a quote in the name is escaped
        self.api("POST", "exchanges/%2F/amq.default/publish",
                 {"routing_key": "p1", "payload": "x", "payload_encoding": "string",
                  "properties": {}})
        fams = families(self.metrics("/metrics/per-object"))
        self.assertEqual(value(fams, "rabbitmq_queue_messages_ready",
                               {"vhost": "/", "queue": "p1"}), 1)
        self.assertEqual(value(fams, "rabbitmq_queue_messages_ready",
                               {"vhost": "/", "queue": 'p"q'}), 0)

    def test_prometheus_port_needs_no_auth_and_serves_only_metrics(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.PROM_PORT,
                                    timeout=5) as r:
            fams = families(r.read().decode())
        self.assertIn("rabbitmq_queue_messages", fams)
        r = call(self.PROM_PORT, "GET", "/api/overview")
        self.assertEqual(r.status, 404)

    def test_management_port_metrics_need_auth(self):
        self.assertEqual(call(self.broker.mgmt_port, "GET", "/metrics", user=None).status, 401)
