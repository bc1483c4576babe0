# SPDX-License-Identifier: MIT
"""30 rabbitmq-c: C clients built from tests/blackbox/clients/*.c against
librabbitmq (run.py --clients DIR; make blackbox builds and passes them)."""

import os
import subprocess
import unittest

from harness import SETTINGS, BrokerTestCase, sanitizer_env, sanitizer_report, time_scale


class RabbitmqC(BrokerTestCase):
    def client(self, name, *args):
        d = SETTINGS["clients"]
        if not d:
            raise unittest.SkipTest("no --clients directory given")
        path = os.path.join(d, name)
        self.assertTrue(os.access(path, os.X_OK), "client %s not built" % path)
        p = subprocess.run([path] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           capture_output=True, env=sanitizer_env(),
                           timeout=20 * time_scale())
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        self.assertIsNone(sanitizer_report(err), "sanitizer report in %s:\n%s" % (name, err))
        return p.returncode, out, err

    def test_handshake_channel_and_close(self):
        rc, out, err = self.client("handshake", "127.0.0.1", self.broker.port, "guest", "guest")
        self.assertEqual(rc, 0, out + err)
        self.assertIn("login: ok", out)
        self.assertIn("tuned: channel_max=2047 frame_max=131072 heartbeat=0", out)
        self.assertIn("channel.open: ok", out)
        self.assertIn("channel.close: ok", out)
        self.assertIn("connection.close: ok", out)

    def test_bad_password_is_refused_with_403(self):
        rc, out, err = self.client("handshake", "127.0.0.1", self.broker.port, "guest", "nope")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("login: connection.close 403 ACCESS_REFUSED - ", out)

    def test_unknown_vhost_is_refused_with_530(self):
        rc, out, err = self.client("handshake", "127.0.0.1", self.broker.port, "guest", "guest",
                                   "nowhere")
        self.assertEqual(rc, 2, out + err)
        self.assertIn("login: connection.close 530 NOT_ALLOWED - ", out)
