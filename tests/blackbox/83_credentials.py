# SPDX-License-Identifier: MIT
"""83 credentials (issue 7): passwords and password hashes stay out of logs and
API replies.

- Failed and successful logins (AMQP PLAIN and AMQPLAIN, HTTP basic auth),
  with the log at debug level, leave neither the password nor any hash in the
  broker's log; a user name with control characters is escaped, so it cannot
  forge a log line.
- GET /api/users and /api/users/NAME leave out password_hash. RabbitMQ shows it
  there; the issue asks for it to appear only in the definitions export, which
  keeps it (GET /api/definitions), as does data_dir/definitions.json (mode
  0600).
"""

import json
import os
import stat

import raw
from harness import rabbit_password_hash
from mgmtkit import MgmtTestCase

HASHED_PW = "Hashed-Pw-2f7c1e"
CONFIG_PW = "Config-Pw-9a41bd"
WRONG_PW = "Wrong-Pw-77e0c3"
NEW_PW = "New-User-Pw-51d2aa"
HASH = rabbit_password_hash(HASHED_PW)


class CredentialCase(MgmtTestCase):
    CONFIG = {
        "log_level": "debug",
        "users": [{"name": "guest", "password": "guest", "tags": ["administrator"]},
                  {"name": "hashed", "password_hash": HASH, "tags": ["management"]},
                  {"name": "cfg", "password": CONFIG_PW, "tags": []}],
        "permissions": [{"user": u, "vhost": "/", "configure": ".*", "write": ".*",
                         "read": ".*"} for u in ("guest", "hashed", "cfg")],
    }

    def secrets(self):
        """Every password of this test and every stored hash (from the export)."""
        users = self.get("definitions")["users"]
        hashes = [u["password_hash"] for u in users if u["password_hash"]]
        self.assertIn(HASH, hashes)
        return [HASHED_PW, CONFIG_PW, WRONG_PW, NEW_PW] + hashes

    def log_text(self):
        return self.broker.read_stderr()

    def assertNoSecretsLogged(self, text):
        for s in self.secrets():
            self.assertNotIn(s, text)

    def amqp_login(self, user, password, mechanism="PLAIN", ok=True):
        c = self.raw()
        if ok:
            c.handshake(user=user, password=password, mechanism=mechanism)
        else:
            c.start()
            c.start_ok(user, password, mechanism)
            c.expect_close_then_eof(raw.ACCESS_REFUSED)


class Logs(CredentialCase):
    def test_logins_do_not_log_passwords_or_hashes(self):
        self.amqp_login("guest", WRONG_PW, ok=False)
        self.amqp_login("guest", WRONG_PW, "AMQPLAIN", ok=False)
        self.amqp_login("nobody", WRONG_PW, ok=False)
        self.amqp_login("hashed", HASHED_PW)
        self.amqp_login("cfg", CONFIG_PW, "AMQPLAIN")
        self.assertStatus(self.api("GET", "overview", user="hashed", password=WRONG_PW), 401)
        self.assertStatus(self.api("GET", "overview", user="nobody", password=WRONG_PW), 401)
        self.assertEqual(self.api("GET", "whoami", user="hashed", password=HASHED_PW).status,
                         200)
        self.assertStatus(self.api("PUT", "users/newu", {"password": NEW_PW, "tags": ""}), 201)
        self.amqp_login("newu", WRONG_PW, ok=False)
        log = self.log_text()
        self.assertIn("PLAIN login refused: user 'guest' - invalid credentials", log)
        self.assertIn("AMQPLAIN login refused: user 'guest' - invalid credentials", log)
        self.assertIn("HTTP access denied: user 'hashed' - invalid credentials", log)
        self.assertIn("[debug] management: PUT /api/users/newu -> 201", log)
        self.assertNoSecretsLogged(log)

    def test_user_names_are_escaped_in_the_log(self):
        self.amqp_login("evil\n2030-01-01T00:00:00.000Z [error] forged", WRONG_PW, ok=False)
        self.assertStatus(self.api("GET", "overview", user="ev\til", password=WRONG_PW), 401)
        log = self.log_text()
        self.assertIn("user 'evil\\x0a2030-01-01T00:00:00.000Z [error] forged' - invalid "
                      "credentials", log)
        self.assertIn("HTTP access denied: user 'ev\\x09il' - invalid credentials", log)
        self.assertFalse(any(line.startswith("2030-") for line in log.splitlines()))

    def test_client_text_in_connection_errors_is_escaped_in_the_log(self):
        c = self.raw()
        c.start()
        c.start_ok(mechanism="X\n2030-01-01T00:00:00.000Z [error] forged", response=b"x")
        c.expect_close_then_eof(raw.COMMAND_INVALID)
        log = self.log_text()
        self.assertIn("unknown authentication mechanism 'X\\x0a2030-01-01T00:00:00.000Z "
                      "[error] forged'", log)
        self.assertFalse(any(line.startswith("2030-") for line in log.splitlines()))


class LogFile(CredentialCase):
    # Relative to the broker's working directory, its temporary directory.
    CONFIG = dict(CredentialCase.CONFIG, log_file="broker.log")

    def log_text(self):
        with open(os.path.join(self.broker.tmp, "broker.log")) as f:
            return f.read()

    def test_log_file_gets_the_lines_without_secrets(self):
        self.amqp_login("guest", WRONG_PW, ok=False)
        log = self.log_text()
        self.assertIn("PLAIN login refused: user 'guest' - invalid credentials", log)
        self.assertNotIn("invalid credentials", self.broker.read_stderr())
        self.assertNoSecretsLogged(log)


class ApiReplies(CredentialCase):
    def test_users_list_and_user_leave_out_the_hash(self):
        for u in self.get("users"):
            self.assertNotIn("password_hash", u)
            self.assertEqual(set(u), {"name", "hashing_algorithm", "tags", "limits"})
        u = self.get("users/hashed")
        self.assertNotIn("password_hash", u)
        self.assertEqual(u["hashing_algorithm"], "rabbit_password_hashing_sha256")
        for path in ("users", "users/hashed", "users/cfg", "whoami", "overview",
                     "permissions"):
            self.assertNotIn(HASH, self.api("GET", path).raw.decode())

    def test_definitions_export_keeps_the_hash(self):
        users = {u["name"]: u for u in self.get("definitions")["users"]}
        self.assertEqual(users["hashed"]["password_hash"], HASH)
        self.assertEqual(users["hashed"]["hashing_algorithm"], "rabbit_password_hashing_sha256")
        self.assertTrue(users["cfg"]["password_hash"])  # the config's password, hashed
        self.assertNotIn(CONFIG_PW, json.dumps(users))

    def test_definitions_file_is_private(self):
        path = os.path.join(self.broker.data_dir, "definitions.json")
        self.api("PUT", "users/newu", {"password": NEW_PW, "tags": ""})
        mode = stat.S_IMODE(os.stat(path).st_mode)
        self.assertEqual(mode & 0o077, 0, "definitions.json is mode %o" % mode)
        with open(path) as f:
            self.assertNotIn(NEW_PW, f.read())
