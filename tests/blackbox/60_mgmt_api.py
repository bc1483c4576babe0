# SPDX-License-Identifier: MIT
"""60 management API: authentication and rights, errors (401/404/400/405),
overview, vhosts, users, permissions, whoami, nodes, health checks, list
parameters (columns, sort, pagination). Bodies and texts are RabbitMQ's
(checked against RabbitMQ 3.10's management plugin)."""

import json
import time

from mgmtkit import MgmtTestCase, call

NOT_FOUND = {"error": "Object Not Found", "reason": "Not Found"}


class Auth(MgmtTestCase):
    def test_no_credentials_is_401_with_realm(self):
        r = self.api("GET", "overview", user=None)
        self.assertStatus(r, 401)
        self.assertEqual(r.headers["WWW-Authenticate"], 'Basic realm="RabbitMQ Management"')
        self.assertEqual(r.raw, b"")

    def test_bad_password_is_401_login_failed(self):
        r = self.api("GET", "overview", password="nope")
        self.assertStatus(r, 401, {"error": "not_authorized", "reason": "Login failed"})
        self.assertEqual(r.headers["WWW-Authenticate"], 'Basic realm="RabbitMQ Management"')

    def test_unknown_user_is_401(self):
        self.assertStatus(self.api("GET", "overview", user="ghost"), 401)

    def test_user_without_tags_is_not_management(self):
        self.assertStatus(self.api("PUT", "users/plain", {"password": "p", "tags": ""}), 201)
        r = self.api("GET", "overview", user="plain", password="p")
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Not management user"})

    def test_management_user_rights(self):
        self.assertStatus(self.api("PUT", "users/mu", {"password": "p", "tags": "management"}),
                          201)
        self.assertStatus(self.api("PUT", "vhosts/v2", {}), 201)
        r = self.api("GET", "users", user="mu", password="p")
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Not administrator user"})
        r = self.api("GET", "nodes", user="mu", password="p")
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Not monitor user"})
        r = self.api("GET", "queues/v2", user="mu", password="p")
        self.assertStatus(r, 401, {"error": "not_authorised",
                                   "reason": "User not authorised to access virtual host"})
        self.assertEqual(self.get("vhosts", user="mu", password="p"), [])
        self.assertEqual(self.get("whoami", user="mu", password="p"),
                         {"name": "mu", "tags": ["management"]})
        self.assertStatus(self.api("PUT", "permissions/v2/mu",
                                   {"configure": ".*", "write": ".*", "read": ".*"}), 201)
        self.assertEqual([v["name"] for v in self.get("vhosts", user="mu", password="p")], ["v2"])
        self.assertStatus(self.api("PUT", "queues/v2/mq", {}, user="mu", password="p"), 201)
        self.assertStatus(self.api("PUT", "vhosts/v3", {}, user="mu", password="p"), 401)

    def test_monitoring_user_reads_everything_writes_nothing(self):
        self.assertStatus(self.api("PUT", "users/mon", {"password": "p", "tags": ["monitoring"]}),
                          201)
        self.assertEqual(len(self.get("nodes", user="mon", password="p")), 1)
        self.assertEqual([v["name"] for v in self.get("vhosts", user="mon", password="p")], ["/"])
        r = self.api("PUT", "vhosts/x", {}, user="mon", password="p")
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Not administrator user"})

    def test_permission_patterns_apply_to_http_declare(self):
        self.api("PUT", "users/lim", {"password": "p", "tags": "management"})
        self.api("PUT", "permissions/%2F/lim", {"configure": "^mine", "write": ".*", "read": ".*"})
        self.assertStatus(self.api("PUT", "queues/%2F/mine.q", {}, user="lim", password="p"), 201)
        r = self.api("PUT", "queues/%2F/other", {}, user="lim", password="p")
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Access refused."})


class Errors(MgmtTestCase):
    def test_unknown_path_is_404_json(self):
        self.assertStatus(self.api("GET", "nope"), 404, NOT_FOUND)

    def test_unknown_vhost_and_queue_are_404(self):
        self.assertStatus(self.api("GET", "queues/nov"), 404, NOT_FOUND)
        self.assertStatus(self.api("GET", "queues/%2F/nope"), 404, NOT_FOUND)
        self.assertStatus(self.api("DELETE", "queues/%2F/nope"), 404, NOT_FOUND)
        self.assertStatus(self.api("GET", "exchanges/%2F/nope"), 404, NOT_FOUND)
        self.assertStatus(self.api("DELETE", "vhosts/nov"), 404, NOT_FOUND)

    def test_wrong_method_is_405_with_allow(self):
        r = self.api("POST", "overview")
        self.assertStatus(r, 405)
        self.assertEqual(r.headers["Allow"], "HEAD, GET, OPTIONS")
        r = self.api("POST", "queues/%2F/q")
        self.assertStatus(r, 405)
        self.assertEqual(r.headers["Allow"], "HEAD, GET, PUT, DELETE, OPTIONS")

    def test_malformed_json_is_400_not_json(self):
        r = self.api("PUT", "queues/%2F/q1", raw=b"{bad")
        self.assertStatus(r, 400, {"error": "bad_request", "reason": "not_json"})
        r = self.api("PUT", "queues/%2F/q1", raw=b"[1,2]")
        self.assertStatus(r, 400, {"error": "bad_request", "reason": "not_json"})

    def test_bad_percent_escape_is_400(self):
        self.assertStatus(self.api("GET", "queues/%zz"), 400)


class Overview(MgmtTestCase):
    def test_overview_totals_and_versions(self):
        c = self.pika()
        ch = c.channel()
        ch.queue_declare("ov1")
        ch.confirm_delivery()
        for _ in range(3):
            ch.basic_publish("", "ov1", b"x")
        o = self.get("overview")
        for k in ("management_version", "rabbitmq_version", "product_name", "node", "listeners",
                  "exchange_types", "message_stats", "rates_mode", "contexts"):
            self.assertIn(k, o)
        self.assertEqual(o["queue_totals"]["messages"], 3)
        self.assertEqual(o["queue_totals"]["messages_ready"], 3)
        self.assertEqual(o["queue_totals"]["messages_unacknowledged"], 0)
        self.assertIn("rate", o["queue_totals"]["messages_details"])
        self.assertEqual(o["object_totals"]["queues"], 1)
        self.assertEqual(o["object_totals"]["connections"], 1)
        self.assertEqual(o["object_totals"]["channels"], 1)
        self.assertEqual(o["object_totals"]["exchanges"], len(self.get("exchanges")))
        self.assertGreaterEqual(o["message_stats"]["publish"], 3)
        self.assertIn("rate", o["message_stats"]["publish_details"])
        protos = {l["protocol"]: l["port"] for l in o["listeners"]}
        self.assertEqual(protos["amqp"], self.broker.port)
        self.assertEqual(protos["http"], self.broker.mgmt_port)

    def test_nodes_and_extensions_and_whoami(self):
        nodes = self.get("nodes")
        self.assertEqual(len(nodes), 1)
        self.assertTrue(nodes[0]["running"])
        self.assertEqual(self.get("nodes/" + nodes[0]["name"])["name"], nodes[0]["name"])
        self.assertEqual(self.get("extensions"), [])
        self.assertEqual(self.get("whoami"), {"name": "guest", "tags": ["administrator"]})

    def test_head_is_get_without_body(self):
        r = self.api("HEAD", "overview")
        self.assertStatus(r, 200)
        self.assertEqual(r.raw, b"")


class VhostsUsersPermissions(MgmtTestCase):
    def test_vhost_lifecycle(self):
        self.assertStatus(self.api("PUT", "vhosts/v1", {}), 201)
        self.assertStatus(self.api("PUT", "vhosts/v1", {}), 204)
        self.assertEqual(self.get("vhosts/v1")["name"], "v1")
        self.assertEqual(sorted(v["name"] for v in self.get("vhosts")), ["/", "v1"])
        self.assertStatus(self.api("PUT", "queues/v1/q", {}), 201)
        # The creating user gets full permissions on the new vhost, as in RabbitMQ.
        self.assertEqual([p["user"] for p in self.get("vhosts/v1/permissions")], ["guest"])
        self.assertStatus(self.api("DELETE", "vhosts/v1"), 204)
        self.assertStatus(self.api("GET", "vhosts/v1"), 404)
        self.assertStatus(self.api("PUT", "vhosts/v1", {}), 201)
        self.assertEqual(self.get("queues/v1"), [], "a re-created vhost starts empty")

    def test_vhost_delete_closes_its_connections(self):
        import pika
        self.api("PUT", "vhosts/vc", {})
        self.api("PUT", "permissions/vc/guest", {"configure": ".*", "write": ".*", "read": ".*"})
        c = self.pika(virtual_host="vc")
        self.assertStatus(self.api("DELETE", "vhosts/vc"), 204)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                c.process_data_events(0.1)
        self.assertEqual(cm.exception.reply_code, 320)

    def test_user_lifecycle_hides_password_hash(self):
        self.assertStatus(self.api("PUT", "users/u1", {"password": "p", "tags": "management"}),
                          201)
        self.assertStatus(self.api("PUT", "users/u1", {"password": "p2", "tags": ["monitoring"]}),
                          204)
        u = self.get("users/u1")
        self.assertEqual(u["name"], "u1")
        self.assertEqual(u["tags"], ["monitoring"])
        self.assertEqual(u["hashing_algorithm"], "rabbit_password_hashing_sha256")
        self.assertNotIn("password_hash", u)
        for u in self.get("users"):
            self.assertNotIn("password_hash", u)
        self.assertEqual(self.get("whoami", user="u1", password="p2")["name"], "u1")
        self.assertStatus(self.api("GET", "whoami", user="u1", password="p"), 401)
        self.assertStatus(self.api("DELETE", "users/u1"), 204)
        self.assertStatus(self.api("GET", "users/u1"), 404)

    def test_user_with_password_hash(self):
        from harness import rabbit_password_hash
        h = rabbit_password_hash("secret")
        self.assertStatus(self.api("PUT", "users/hu", {"password_hash": h,
                                                      "tags": "administrator"}), 201)
        self.assertEqual(self.get("whoami", user="hu", password="secret")["name"], "hu")
        r = self.api("PUT", "users/bad", {"password_hash": "xx", "tags": ""})
        self.assertStatus(r, 400)

    def test_user_update_keeps_permissions(self):
        self.api("PUT", "users/u2", {"password": "p", "tags": "management"})
        self.api("PUT", "permissions/%2F/u2", {"configure": "a", "write": "b", "read": "c"})
        self.api("PUT", "users/u2", {"password": "q", "tags": "management"})
        self.assertEqual(self.get("permissions/%2F/u2"),
                         {"user": "u2", "vhost": "/", "configure": "a", "write": "b", "read": "c"})

    def test_permissions(self):
        self.api("PUT", "vhosts/pv", {})
        self.api("PUT", "users/pu", {"password": "p", "tags": ""})
        self.assertStatus(self.api("PUT", "permissions/pv/pu",
                                   {"configure": ".*", "write": ".*", "read": ".*"}), 201)
        self.assertStatus(self.api("PUT", "permissions/pv/pu",
                                   {"configure": "", "write": ".*", "read": ".*"}), 204)
        self.assertEqual(self.get("permissions/pv/pu")["configure"], "")
        self.assertIn({"user": "pu", "vhost": "pv", "configure": "", "write": ".*", "read": ".*"},
                      self.get("permissions"))
        self.assertEqual([p["user"] for p in self.get("vhosts/pv/permissions")], ["guest", "pu"])
        self.assertEqual([p["vhost"] for p in self.get("users/pu/permissions")], ["pv"])
        r = self.api("PUT", "permissions/pv/pu", {"configure": "(", "write": "", "read": ""})
        self.assertStatus(r, 400)
        self.assertStatus(self.api("DELETE", "permissions/pv/pu"), 204)
        self.assertStatus(self.api("GET", "permissions/pv/pu"), 404)
        self.assertStatus(self.api("PUT", "permissions/nov/pu", {"configure": "", "write": "",
                                                                "read": ""}), 404)


class Health(MgmtTestCase):
    def test_health_checks(self):
        ok = {"status": "ok"}
        for p in ("alarms", "local-alarms", "virtual-hosts", "is-in-service",
                  "ready-to-serve-clients"):
            self.assertEqual(self.get("health/checks/" + p), ok, p)
        self.assertEqual(self.get("health/checks/port-listener/%d" % self.broker.port),
                         {"status": "ok", "port": self.broker.port})
        r = self.api("GET", "health/checks/port-listener/1")
        self.assertStatus(r, 503)
        self.assertEqual(r.json["status"], "failed")
        self.assertEqual(r.json["reason"], "No active listener")
        self.assertEqual(r.json["missing"], 1)
        self.assertEqual(self.get("health/checks/protocol-listener/amqp"),
                         {"status": "ok", "protocol": "amqp"})
        r = self.api("GET", "health/checks/protocol-listener/mqtt")
        self.assertStatus(r, 503)
        self.assertEqual(r.json["missing"], "mqtt")


class Lists(MgmtTestCase):
    def setUp(self):
        super().setUp()
        for n in ("b", "a", "c", "ab"):
            self.assertStatus(self.api("PUT", "queues/%2F/" + n, {"durable": False}), 201)

    def test_sorted_by_name_by_default(self):
        self.assertEqual([q["name"] for q in self.get("queues")], ["a", "ab", "b", "c"])

    def test_sort_reverse_and_columns(self):
        qs = self.get("queues/%2F?sort=name&sort_reverse=true&columns=name,messages")
        self.assertEqual(qs, [{"name": n, "messages": 0} for n in ("c", "b", "ab", "a")])

    def test_pagination(self):
        p = self.get("queues?page=2&page_size=3&columns=name")
        self.assertEqual(p, {"filtered_count": 4, "item_count": 1, "items": [{"name": "c"}],
                             "page": 2, "page_count": 2, "page_size": 3, "total_count": 4})
        p = self.get("queues?page=1&name=A&columns=name")
        self.assertEqual([q["name"] for q in p["items"]], ["a", "ab"])
        self.assertEqual((p["filtered_count"], p["total_count"]), (2, 4))
        p = self.get("queues?page=1&name=%5Ea%24&use_regex=true&columns=name")
        self.assertEqual(p["items"], [{"name": "a"}])

    def test_bad_pagination_is_400(self):
        r = self.api("GET", "queues?page=0")
        self.assertStatus(r, 400, {"error": "invalid_pagination_parameters",
                                   "reason": "Invalid pagination parameters: page number 0, "
                                             "page size undefined"})
        self.assertStatus(self.api("GET", "queues?page=1&page_size=501"), 400)

    def test_disable_stats_gives_the_short_form(self):
        q = self.get("queues?disable_stats=true")[0]
        self.assertEqual(set(q), {"name", "vhost", "type", "node", "state", "arguments",
                                  "auto_delete", "durable", "exclusive", "messages",
                                  "messages_ready", "messages_unacknowledged"})
