# SPDX-License-Identifier: MIT
"""84 lifecycle (issue 7): SIGTERM and SIGHUP.

- SIGTERM stops accepting at once (the AMQP port refuses connections while
  clients are being closed), closes every open connection with 320
  CONNECTION_FORCED "broker forced connection closure with reason 'shutdown'"
  (RabbitMQ's text), flushes and syncs the message store, writes the
  clean-shutdown marker and exits 0. The next start takes the clean path: a
  persistent message that was never delivered comes back with
  redelivered=false, one delivered but unacknowledged with redelivered=true.
  After SIGKILL there is no marker and every recovered message is flagged.
- SIGHUP reopens log_file by name (logrotate: rename, then signal); without a
  log file it changes nothing; if the file cannot be reopened the old one is
  kept and says why. SIGHUP never stops the broker.
"""

import os
import shutil
import signal
import socket
import time

import pika

import raw
from pikakit import PikaTestCase

PERSISTENT = pika.BasicProperties(delivery_mode=2)
SHUTDOWN_TEXT = "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Sigterm(PikaTestCase):
    def test_stops_accepting_closes_clients_with_320_and_exits_0(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        self.broker.signal(signal.SIGTERM)
        f = c.expect_method(raw.CONNECTION_CLOSE, channel=0, timeout=5.0)
        code, text, _, _ = raw.decode_close(f)
        self.assertEqual((code, text), (raw.CONNECTION_FORCED, SHUTDOWN_TEXT))
        # The client has not answered yet, so the broker is still up: and no longer
        # accepting.
        self.assertTrue(self.broker.running())
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", self.broker.port), timeout=2).close()
        c.send_method(0, raw.CONNECTION_CLOSE_OK)
        self.assertEqual(self.broker.wait(10.0), 0)
        self.assertIn("stopped", self.broker.read_stderr())


class Restart(PikaTestCase):
    CONFIG = {"durability": {"sync": "write"}}  # confirms do not fsync: shutdown must

    def fill(self, confirm):
        """5 persistent messages in durable queue dq, the first 2 delivered and left
        unacknowledged. Returns when the broker has handled all of it; with
        confirm, once the messages are written (sync "write": not synced)."""
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        if confirm:
            ch.confirm_delivery()
        for i in range(5):
            ch.basic_publish("", "dq", b"m%d" % i, PERSISTENT)
        for i in range(2):
            m, _, b = ch.basic_get("dq", auto_ack=False)
            self.assertEqual(b, b"m%d" % i)
        ch.queue_declare("dq", passive=True)  # a round trip: everything was handled

    def restart(self, sig):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        self.clients = []
        self.broker.restart(sig)

    def drain(self):
        ch = self.channel()
        out = []
        while True:
            m, _, b = ch.basic_get("dq", auto_ack=True)
            if m is None:
                return out
            out.append((b, m.redelivered))

    def test_after_sigterm_recovery_takes_the_clean_path(self):
        self.fill(confirm=False)  # what was not confirmed yet is flushed at shutdown
        self.restart(signal.SIGTERM)
        self.assertIn("(after a clean shutdown)", self.broker.read_stderr())
        self.assertEqual(self.drain(), [(b"m0", True), (b"m1", True), (b"m2", False),
                                        (b"m3", False), (b"m4", False)])

    def test_after_sigkill_recovery_takes_the_crash_path(self):
        self.fill(confirm=True)  # a kill loses what was not confirmed
        self.restart(signal.SIGKILL)
        self.assertIn("after an unclean shutdown", self.broker.read_stderr())
        self.assertEqual(self.drain(), [(b"m%d" % i, True) for i in range(5)])


class Sighup(PikaTestCase):
    CONFIG = {"log_file": "broker.log"}  # relative to the broker's working directory

    def path(self, name="broker.log"):
        return os.path.join(self.broker.tmp, name)

    def read(self, name="broker.log"):
        with open(self.path(name)) as f:
            return f.read()

    def test_reopens_the_log_file_after_logrotate_renamed_it(self):
        self.assertIn("started", self.read())
        os.rename(self.path(), self.path("broker.log.1"))
        self.broker.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: os.path.exists(self.path())),
                        "no new broker.log after SIGHUP")
        self.connect().channel()  # logs "user 'guest' opened vhost '/'"
        self.assertTrue(wait_for(lambda: "opened vhost" in self.read()))
        new, old = self.read(), self.read("broker.log.1")
        self.assertIn("SIGHUP: log file reopened", new)
        self.assertNotIn("started", new)
        self.assertIn("started", old)
        self.assertNotIn("opened vhost", old)
        self.assertEqual(self.broker.read_stderr(), "", "nothing goes to stderr")
        self.assertEqual(os.stat(self.path()).st_mode & 0o777, 0o640)

    def test_keeps_the_old_file_when_it_cannot_reopen(self):
        os.rename(self.path(), self.path("broker.log.1"))
        os.mkdir(self.path())  # a directory where the file should be: open() fails
        self.broker.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "cannot reopen" in self.read("broker.log.1")))
        self.assertIn("still writing to the old one", self.read("broker.log.1"))
        self.connect().channel()
        self.assertTrue(wait_for(lambda: "opened vhost" in self.read("broker.log.1")))
        shutil.rmtree(self.path())


class SighupWithoutLogFile(PikaTestCase):
    def test_changes_nothing_and_does_not_stop_the_broker(self):
        conn = self.connect()
        self.broker.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "SIGHUP: logging to stderr, nothing to reopen"
                                 in self.broker.read_stderr()))
        self.assertTrue(self.broker.running())
        conn.channel().queue_declare("still-here")
