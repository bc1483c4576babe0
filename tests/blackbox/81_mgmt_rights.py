# SPDX-License-Identifier: MIT
"""81 management API rights (issue 7), as RabbitMQ 3.10's management plugin
(rabbit_web_dispatch_access_control; each case was run against RabbitMQ 3.10
with the same users):

- a user needs a tag (administrator, monitoring, policymaker or management):
  without one, 401 "Not management user", and no WWW-Authenticate (the
  credentials were right);
- users, permissions, definitions and single vhosts are for administrators;
- a path naming a vhost needs permissions on it, except for administrators,
  who may look but still need permissions to change anything ("Access
  refused.");
- connections and channels: a user's own are theirs to read and close;
  monitoring users read everyone's, only administrators close them; anyone
  else gets 401 "User not authorised to access object" and lists show only
  their own (consumers too);
- refusals of /get and /publish carry the AMQP text, as RabbitMQ's internal
  channel reports them.
"""

import time
import urllib.parse

import pika.exceptions

from mgmtkit import MgmtTestCase

ALL = {"configure": ".*", "write": ".*", "read": ".*"}
NOT_ADMIN = {"error": "not_authorised", "reason": "Not administrator user"}
NOT_OBJECT = {"error": "not_authorised", "reason": "User not authorised to access object"}


def user(name, *tags):
    return {"name": name, "password": "p", "tags": list(tags)}


class RightsCase(MgmtTestCase):
    CONFIG = {
        "users": [{"name": "guest", "password": "guest", "tags": ["administrator"]},
                  user("mgr", "management"), user("mon", "monitoring"),
                  user("adm", "administrator"), user("plain"), user("lim", "management")],
        "vhosts": [{"name": "/"}, {"name": "v2"}],
        "permissions": [dict(ALL, user=u, vhost="/") for u in ("guest", "mgr", "mon", "plain")]
        + [dict(ALL, user="guest", vhost="v2"),
           {"user": "lim", "vhost": "/", "configure": r"^lim\.", "write": r"^lim\.",
            "read": r"^lim\."}],
    }

    def as_(self, who, method, path, body=None):
        return self.api(method, path, body, user=who, password="p")

    def connection_of(self, who):
        """Opens a pika connection (with a channel) as who; returns its API name."""
        conn = self.pika(user=who, password="p" if who != "guest" else "guest", heartbeat=0)
        conn.channel()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            for c in self.get("connections"):
                if c["user"] == who:
                    return conn, c["name"]
            time.sleep(0.05)
        self.fail("no connection of %s listed" % who)


class Tags(RightsCase):
    def test_user_without_a_tag_is_not_a_management_user(self):
        r = self.as_("plain", "GET", "whoami")
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Not management user"})
        self.assertNotIn("WWW-Authenticate", r.headers)
        self.assertIn("HTTP access denied: user 'plain' - Not management user",
                      self.broker.read_stderr())

    def test_each_tag_gets_in(self):
        for who, tags in (("mgr", ["management"]), ("mon", ["monitoring"]),
                          ("adm", ["administrator"])):
            self.assertEqual(self.as_(who, "GET", "whoami").json, {"name": who, "tags": tags})

    def test_users_permissions_definitions_and_single_vhosts_are_for_administrators(self):
        for who in ("mgr", "mon"):
            for method, path, body in (("GET", "users", None), ("GET", "users/mgr", None),
                                       ("PUT", "users/x", {"password": "p", "tags": ""}),
                                       ("GET", "permissions", None),
                                       ("PUT", "permissions/%2F/" + who, ALL),
                                       ("GET", "definitions", None),
                                       ("GET", "definitions/%2F", None),
                                       ("GET", "vhosts/%2F", None), ("PUT", "vhosts/v3", {}),
                                       ("DELETE", "vhosts/v2", None)):
                self.assertStatus(self.as_(who, method, path, body), 401, NOT_ADMIN)
        self.assertEqual(self.as_("adm", "GET", "vhosts/v2").json["name"], "v2")
        self.assertEqual([v["name"] for v in self.as_("mgr", "GET", "vhosts").json], ["/"])


class VhostPaths(RightsCase):
    def test_vhost_path_needs_permissions_on_it(self):
        for who in ("mgr", "mon"):
            self.assertStatus(self.as_(who, "GET", "queues/v2"), 401,
                              {"error": "not_authorised",
                               "reason": "User not authorised to access virtual host"})
        self.assertEqual(self.as_("mgr", "GET", "queues/%2F").status, 200)

    def test_administrator_without_permissions_may_look_but_not_change(self):
        self.assertStatus(self.api("PUT", "queues/v2/q2", {}), 201)  # guest has permissions
        self.assertEqual([q["name"] for q in self.as_("adm", "GET", "queues/v2").json], ["q2"])
        self.assertEqual(self.as_("adm", "GET", "exchanges/v2").status, 200)
        self.assertEqual(self.as_("adm", "GET", "vhosts/v2/connections").json, [])
        r = self.as_("adm", "PUT", "queues/v2/mine", {})
        self.assertStatus(r, 401, {"error": "not_authorised", "reason": "Access refused."})
        self.assertStatus(self.as_("adm", "DELETE", "queues/v2/q2"), 401)
        self.assertEqual(self.get("queues/v2/q2")["name"], "q2")

    def test_get_and_publish_refusals_carry_the_amqp_text(self):
        self.api("PUT", "queues/%2F/other.q", {})
        r = self.as_("lim", "POST", "queues/%2F/other.q/get",
                     {"count": 1, "ackmode": "ack_requeue_true", "encoding": "auto"})
        self.assertStatus(r, 401, {"error": "not_authorised", "reason":
                                   "ACCESS_REFUSED - access to queue 'other.q' in vhost '/' "
                                   "refused for user 'lim'"})
        r = self.as_("lim", "POST", "exchanges/%2F/amq.default/publish",
                     {"routing_key": "other.q", "payload": "x", "payload_encoding": "string",
                      "properties": {}})
        self.assertStatus(r, 400, {"error": "bad_request", "reason":
                                   "403 ACCESS_REFUSED - access to exchange 'amq.default' in "
                                   "vhost '/' refused for user 'lim'"})
        self.assertEqual(self.get("queues/%2F/other.q")["messages"], 0)


class Connections(RightsCase):
    def test_management_user_lists_only_its_own(self):
        mgr_conn, mgr_name = self.connection_of("mgr")
        mon_conn, mon_name = self.connection_of("mon")
        mon_conn.channel().basic_consume("amq.rabbitmq.reply-to", lambda *a: None,
                                         auto_ack=True)
        ch = mon_conn.channel()
        ch.queue_declare("cq")
        ch.basic_consume("cq", lambda *a: None)
        self.assertEqual([c["name"] for c in self.as_("mgr", "GET", "connections").json],
                         [mgr_name])
        self.assertEqual({c["connection_details"]["name"]
                          for c in self.as_("mgr", "GET", "channels").json}, {mgr_name})
        self.assertEqual(self.as_("mgr", "GET", "consumers").json, [])
        self.assertEqual(len(self.as_("mon", "GET", "consumers").json), 1)

    def test_management_user_may_not_read_or_close_another_users_connection(self):
        _, mon_name = self.connection_of("mon")
        _, mgr_name = self.connection_of("mgr")
        q = urllib.parse.quote(mon_name, safe="")
        self.assertStatus(self.as_("mgr", "GET", "connections/" + q), 401, NOT_OBJECT)
        self.assertStatus(self.as_("mgr", "GET", "connections/%s/channels" % q), 401,
                          NOT_OBJECT)
        self.assertStatus(self.as_("mgr", "GET", "channels/" + urllib.parse.quote(
            mon_name + " (1)", safe="")), 401, NOT_OBJECT)
        self.assertStatus(self.as_("mgr", "DELETE", "connections/" + q), 401, NOT_OBJECT)
        own = urllib.parse.quote(mgr_name, safe="")
        self.assertEqual(self.as_("mgr", "GET", "connections/" + own).json["user"], "mgr")
        self.assertStatus(self.as_("mgr", "GET", "connections/nosuch"), 404)

    def test_monitoring_user_reads_every_connection_but_closes_only_its_own(self):
        mgr_conn, mgr_name = self.connection_of("mgr")
        mon_conn, mon_name = self.connection_of("mon")
        self.assertEqual(sorted(c["user"] for c in self.as_("mon", "GET", "connections").json),
                         ["mgr", "mon"])
        q = urllib.parse.quote(mgr_name, safe="")
        self.assertEqual(self.as_("mon", "GET", "connections/" + q).json["user"], "mgr")
        self.assertStatus(self.as_("mon", "DELETE", "connections/" + q), 401, NOT_OBJECT)
        mgr_conn.process_data_events(0.2)
        self.assertTrue(mgr_conn.is_open)
        self.assertStatus(self.as_("mon", "DELETE",
                                   "connections/" + urllib.parse.quote(mon_name, safe="")), 204)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            for _ in range(50):
                mon_conn.process_data_events(0.1)
        self.assertEqual(cm.exception.reply_code, 320)

    def test_administrator_closes_anyones_connection(self):
        mgr_conn, mgr_name = self.connection_of("mgr")
        self.assertStatus(self.as_("adm", "DELETE",
                                   "connections/" + urllib.parse.quote(mgr_name, safe="")), 204)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            for _ in range(50):
                mgr_conn.process_data_events(0.1)
        self.assertEqual(cm.exception.reply_code, 320)
