# SPDX-License-Identifier: MIT
"""30 rabbitmq-c: C clients built from tests/blackbox/clients/*.c against
librabbitmq (run.py --clients DIR; make blackbox builds and passes them), and the
amqp-tools command-line programs (amqp-declare-queue, amqp-publish, amqp-get,
amqp-consume, amqp-delete-queue) built on the same library."""

import os
import shutil
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

    def test_pubsub_declare_bind_publish_consume_ack(self):
        rc, out, err = self.client("pubsub", "127.0.0.1", self.broker.port, 20)
        self.assertEqual(rc, 0, out + err)
        for line in ("exchange.declare: ok", "queue.declare: ok", "queue.bind: ok",
                     "published: 20", "basic.consume: ok",
                     "consumed: 20 in_order=1 big_intact=1", "basic.get: empty",
                     "connection.close: ok"):
            self.assertIn(line, out)
        self.assertRegex(out, r"queue: amq\.gen-[A-Za-z0-9_-]{22}\n")


class AmqpTools(BrokerTestCase):
    def tool(self, name, *args, stdin=None):
        if shutil.which(name) is None:
            raise unittest.SkipTest("%s not installed (amqp-tools)" % name)
        url = "amqp://guest:guest@127.0.0.1:%d" % self.broker.port
        p = subprocess.run([name, "--url", url] + list(args), input=stdin,
                           capture_output=True, timeout=20)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")

    def test_declare_publish_get_consume_delete(self):
        self.assertEqual(self.tool("amqp-declare-queue", "-q", "tools.q"), (0, "tools.q\n", ""))
        self.assertEqual(self.tool("amqp-publish", "-r", "tools.q", "-b", "one")[0], 0)
        self.assertEqual(self.tool("amqp-publish", "-r", "tools.q", "-p", "-C", "text/plain",
                                   stdin=b"two")[0], 0)
        self.assertEqual(self.tool("amqp-publish", "-r", "tools.q", "-b", "three")[0], 0)
        rc, out, err = self.tool("amqp-get", "-q", "tools.q")
        self.assertEqual((rc, out), (0, "one"), err)
        rc, out, err = self.tool("amqp-consume", "-q", "tools.q", "-c", "2", "cat")
        self.assertEqual((rc, out), (0, "twothree"), err)
        rc, out, err = self.tool("amqp-get", "-q", "tools.q")
        self.assertEqual(rc, 2, "amqp-get exits 2 on basic.get-empty: %r" % ((rc, out, err),))
        self.assertEqual(self.tool("amqp-delete-queue", "-q", "tools.q"), (0, "0\n", ""))

    def test_declare_with_reserved_name_reports_403(self):
        rc, out, err = self.tool("amqp-declare-queue", "-q", "amq.bad")
        self.assertEqual(rc, 1)
        self.assertIn("server channel error 403, message: ACCESS_REFUSED - queue name "
                      "'amq.bad' contains reserved prefix 'amq.*'", err)
