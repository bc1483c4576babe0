# SPDX-License-Identifier: MIT
"""51 Java: the RabbitMQ Java client 5.0 (Debian librabbitmq-client-java, with
libslf4j-java) runs one case of java/LeveretCases.java per test. The first test to
need it compiles the file with javac into build/java (under a lock: tests run in
parallel). Skipped when javac or the client jar is missing.
"""

import glob
import os
import shutil
import subprocess
import threading
import unittest

from harness import BrokerTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "java", "LeveretCases.java")
OUT = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "java")
JARS = ["/usr/share/java/amqp-client.jar", "/usr/share/java/slf4j-api.jar",
        "/usr/share/java/slf4j-nop.jar"]
_lock = threading.Lock()
_failed = []


def classpath():
    if shutil.which("javac") is None or shutil.which("java") is None:
        raise unittest.SkipTest("javac/java not installed (default-jdk-headless)")
    missing = [j for j in JARS if not os.path.exists(j)]
    if missing:
        raise unittest.SkipTest("missing %s (librabbitmq-client-java, libslf4j-java)"
                                % ", ".join(missing))
    with _lock:
        if _failed:
            raise AssertionError(_failed[0])
        cls = os.path.join(OUT, "LeveretCases.class")
        if not os.path.exists(cls) or os.path.getmtime(cls) < os.path.getmtime(SRC):
            os.makedirs(OUT, exist_ok=True)
            for old in glob.glob(os.path.join(OUT, "LeveretCases*.class")):
                os.remove(old)
            p = subprocess.run(["javac", "-d", OUT, "-cp", JARS[0], SRC],
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
            if p.returncode != 0:
                _failed.append("javac failed:\n" + p.stderr.decode(errors="replace"))
                raise AssertionError(_failed[0])
    return ":".join([OUT] + JARS)


class JavaClient(BrokerTestCase):
    def run_case(self, case):
        cp = classpath()
        p = subprocess.run(["java", "-cp", cp, "LeveretCases", str(self.broker.port), case],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("ok " + case, out)

    def test_connect_declare_bind_publish_get_and_404(self):
        self.run_case("declare")

    def test_publish_with_confirms_wait_for_confirms_or_die(self):
        self.run_case("confirms")

    def test_basic_consume_ack_and_cancel_notification(self):
        self.run_case("consume")

    def test_exchange_to_exchange_binding(self):
        self.run_case("e2e")

    def test_headers_exchange_x_match_any(self):
        self.run_case("headers")
