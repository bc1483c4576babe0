# SPDX-License-Identifier: MIT
"""50 amqplib: the Node.js client (tests/blackbox/node, amqplib pinned by
package-lock.json) runs one case of node/cases.js per test against the broker.

node_modules is installed with `npm ci` the first time (under a lock, since tests
run in parallel); the tests are skipped when node or npm is missing.
"""

import os
import shutil
import subprocess
import threading
import unittest

from harness import BrokerTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
_install_lock = threading.Lock()
_install_error = []


def ensure_node_modules():
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise unittest.SkipTest("node/npm not installed")
    with _install_lock:
        if _install_error:
            raise AssertionError(_install_error[0])
        if os.path.isdir(os.path.join(NODE_DIR, "node_modules", "amqplib")):
            return
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", NODE_DIR],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=300)
        if p.returncode != 0:
            _install_error.append("npm ci failed:\n%s%s" % (p.stdout.decode(errors="replace"),
                                                            p.stderr.decode(errors="replace")))
            raise AssertionError(_install_error[0])


class Amqplib(BrokerTestCase):
    def run_case(self, case):
        ensure_node_modules()
        p = subprocess.run(["node", os.path.join(NODE_DIR, "cases.js"), str(self.broker.port),
                            case], stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("ok " + case, out)

    def test_declare_bind_publish_get(self):
        self.run_case("declare")

    def test_confirm_channel_publish_and_wait_for_confirms(self):
        self.run_case("confirm")

    def test_consume_and_ack(self):
        self.run_case("consume_ack")

    def test_nack_requeue_redelivers_and_reject_drops(self):
        self.run_case("nack_requeue")

    def test_prefetch_limits_unacked_deliveries(self):
        self.run_case("prefetch")

    def test_channel_error_rejects_and_connection_lives(self):
        self.run_case("channel_error")
