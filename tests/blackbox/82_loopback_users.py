# SPDX-License-Identifier: MIT
"""82 loopback_users (issue 7): guest may only log in over a loopback interface.

RabbitMQ's loopback_users (default ["guest"]; [] lifts the rule), checked as
rabbit_access_control:check_user_loopback does, after the password:
- AMQP judges the broker's own end of the socket (rabbit_net:is_loopback on
  sockname) and refuses through the authentication-failure path: with the
  authentication_failure_close capability, connection.close 403 "ACCESS_REFUSED
  - Login was refused using authentication mechanism PLAIN. For details see the
  broker logfile.", without it a silent close; the log says "PLAIN login
  refused: user 'guest' can only connect via localhost".
- The management API judges the client's address and answers 401
  {"error":"not_authorised","reason":"User can only log in via localhost"}
  (no WWW-Authenticate: the credentials were right); the log says "HTTP access
  denied: user 'guest' - User can only log in via localhost".
All of it as RabbitMQ 3.10 does with the same setup.

The broker listens on 0.0.0.0 and the tests connect to a non-loopback address
of this machine (from `ip -4 -o addr`, else the address the kernel would use
for an outside route); without one they are skipped, saying so.
"""

import socket
import subprocess
import unittest

import pika
import pika.exceptions

import raw
from harness import pika_params
from mgmtkit import MgmtTestCase, call

LOGIN_REFUSED = ("ACCESS_REFUSED - Login was refused using authentication mechanism %s. "
                 "For details see the broker logfile.")
VIA_LOCALHOST = {"error": "not_authorised", "reason": "User can only log in via localhost"}


def _bindable(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((addr, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def non_loopback_ipv4():
    """An IPv4 address of this machine outside 127.0.0.0/8, or None."""
    candidates = []
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "up"], capture_output=True,
                             text=True, timeout=5).stdout
        for line in out.splitlines():
            words = line.split()
            if "inet" in words:
                candidates.append(words[words.index("inet") + 1].split("/")[0])
    except (OSError, subprocess.SubprocessError):
        pass
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent; the kernel picks a source
        candidates.append(s.getsockname()[0])
    except OSError:
        pass
    finally:
        s.close()
    for a in candidates:
        if not a.startswith("127.") and a != "0.0.0.0" and _bindable(a):
            return a
    return None


HOST = non_loopback_ipv4()
WILDCARD = {"listeners": {"address": "0.0.0.0", "mgmt_address": "0.0.0.0"}}
USERS = {
    "users": [{"name": "guest", "password": "guest", "tags": ["administrator"]},
              {"name": "app", "password": "p", "tags": ["management"]}],
    "permissions": [{"user": u, "vhost": "/", "configure": ".*", "write": ".*", "read": ".*"}
                    for u in ("guest", "app")],
}


class LoopbackCase(MgmtTestCase):
    CONFIG = dict(WILDCARD, **USERS)

    def setUp(self):
        if HOST is None:
            raise unittest.SkipTest("this machine has no non-loopback IPv4 address to "
                                    "connect from")
        super().setUp()

    def amqp(self, user="guest", password="guest", host=None):
        """A pika connection to host (the non-loopback address by default)."""
        return self.track(pika.BlockingConnection(pika_params(
            self.broker, host=host or HOST, heartbeat=0,
            credentials=pika.PlainCredentials(user, password))))

    def http(self, path, user="guest", password="guest", host=None):
        return call(self.broker.mgmt_port, "GET", "/api/" + path, user=user,
                    password=password, host=host or HOST)

    def assertAmqpRefused(self, user, password="guest"):
        with self.assertRaises(pika.exceptions.ProbableAuthenticationError) as cm:
            self.amqp(user, password)
        self.assertIn(LOGIN_REFUSED % "PLAIN", str(cm.exception))


class GuestOnlyFromLoopback(LoopbackCase):
    def test_guest_may_log_in_over_loopback(self):
        self.amqp(host="127.0.0.1").channel()
        self.assertEqual(self.http("whoami", host="127.0.0.1").json["name"], "guest")

    def test_amqp_guest_via_a_non_loopback_address_is_refused_at_login(self):
        self.assertAmqpRefused("guest")
        self.assertIn("PLAIN login refused: user 'guest' can only connect via localhost",
                      self.broker.read_stderr())

    def test_amqplain_is_refused_the_same_way(self):
        c = self.track(raw.RawConnection(self.broker.port, host=HOST))
        c.start()
        c.start_ok("guest", "guest", mechanism="AMQPLAIN")
        code, text, _, _ = c.expect_close_then_eof(raw.ACCESS_REFUSED)
        self.assertEqual(text, LOGIN_REFUSED % "AMQPLAIN")

    def test_refusal_without_failure_close_capability_is_a_silent_close(self):
        c = self.track(raw.RawConnection(self.broker.port, host=HOST))
        c.start()
        c.start_ok("guest", "guest", client_properties=raw.default_client_properties(False))
        c.expect_eof(5.0)

    def test_the_password_is_checked_first(self):
        self.assertAmqpRefused("guest", "wrong")
        log = self.broker.read_stderr()
        self.assertIn("PLAIN login refused: user 'guest' - invalid credentials", log)
        self.assertNotIn("can only connect via localhost", log)

    def test_other_users_may_log_in_from_anywhere(self):
        self.amqp("app", "p").channel()
        self.assertEqual(self.http("whoami", "app", "p").json["name"], "app")

    def test_management_refuses_guest_via_a_non_loopback_address(self):
        r = self.http("overview")
        self.assertStatus(r, 401, VIA_LOCALHOST)
        self.assertNotIn("WWW-Authenticate", r.headers)
        self.assertIn("HTTP access denied: user 'guest' - User can only log in via localhost",
                      self.broker.read_stderr())
        # A wrong password is still a login failure that asks for credentials.
        r = self.http("overview", password="wrong")
        self.assertStatus(r, 401, {"error": "not_authorized", "reason": "Login failed"})
        self.assertIn("WWW-Authenticate", r.headers)


class NoLoopbackUsers(LoopbackCase):
    CONFIG = dict(WILDCARD, loopback_users=[], **USERS)

    def test_empty_list_lets_guest_in_from_anywhere(self):
        self.amqp().channel()
        self.assertEqual(self.http("whoami").json["name"], "guest")


class OtherLoopbackUsers(LoopbackCase):
    CONFIG = dict(WILDCARD, loopback_users=["app"], **USERS)

    def test_the_listed_users_are_restricted_and_only_they(self):
        self.amqp().channel()
        self.assertAmqpRefused("app", "p")
        self.assertStatus(self.http("whoami", "app", "p"), 401, VIA_LOCALHOST)
        self.amqp("app", "p", host="127.0.0.1").channel()
