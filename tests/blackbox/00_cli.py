# SPDX-License-Identifier: MIT
"""00 cli: command line and config file handling.

A bad config makes the broker exit non-zero before listening, with one line on
stderr "FILE:LINE:COLUMN: ..." pointing at the offending key or value (1-based).
"""

import os
import re
import tempfile

from harness import Broker, BrokerTestCase, free_port, run_binary, sanitizer_report


def position(text, needle):
    """1-based (line, column) of the first occurrence of needle in text."""
    i = text.index(needle)
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    return line, col


class CommandLine(BrokerTestCase):
    START = False

    def test_help_exits_0_and_describes_options(self):
        rc, out, err = run_binary(["--help"])
        self.assertEqual(rc, 0, err)
        self.assertIsNone(sanitizer_report(err), err)
        self.assertIn("--config", out + err)

    def test_version_exits_0_and_prints_version(self):
        rc, out, err = run_binary(["--version"])
        self.assertEqual(rc, 0, err)
        self.assertIsNone(sanitizer_report(err), err)
        self.assertRegex(out + err, r"\d+\.\d+\.\d+")


class BadConfig(BrokerTestCase):
    START = False

    def run_config(self, text):
        """Starts the broker on a config file holding text; asserts it exits non-zero
        within 10 s and returns (config path, stderr)."""
        b = Broker(raw_config=text, base=False, name="bad-config broker")
        self.brokers.append(b)
        b.spawn()
        rc = b.wait(10.0)
        if rc is None:
            b.kill()
            self.fail("broker kept running on a bad config")
        self.assertNotEqual(rc, 0, "broker accepted a bad config")
        b.expected_status = rc
        return b.config_path, b.read_stderr()

    def assertErrorAt(self, path, err, line, col, *words):
        # "FILE:LINE:COL: ...", possibly after a "leveret: " program-name prefix.
        prefix = "%s:%d:%d: " % (path, line, col)
        lines = [ln for ln in err.splitlines() if prefix in ln]
        self.assertTrue(lines, "no stderr line has %r:\n%s" % (prefix, err))
        for w in words:
            self.assertIn(w, lines[0])

    def test_unknown_key_is_fatal_with_its_position(self):
        text = ('{\n'
                '  "listeners": {"address": "127.0.0.1"},\n'
                '  "limits": {\n'
                '    "frame_max": 131072,\n'
                '    "bogus": 1\n'
                '  }\n'
                '}\n')
        path, err = self.run_config(text)
        line, col = position(text, '"bogus"')
        self.assertErrorAt(path, err, line, col, "bogus")

    def test_out_of_range_value_is_fatal_with_its_position(self):
        text = ('{\n'
                '  "limits": {\n'
                '    "heartbeat": 60,\n'
                '    "frame_max": 100\n'
                '  }\n'
                '}\n')
        path, err = self.run_config(text)
        line, col = position(text, "100\n")
        self.assertErrorAt(path, err, line, col, "frame_max")

    def test_wrong_type_is_fatal_with_its_position(self):
        text = '{\n  "limits": {"channel_max": "many"}\n}\n'
        path, err = self.run_config(text)
        line, col = position(text, '"many"')
        self.assertErrorAt(path, err, line, col, "channel_max")

    def test_json_syntax_error_is_fatal_with_a_position(self):
        text = '{\n  "limits": {"frame_max": 131072,}\n}\n'
        path, err = self.run_config(text)
        self.assertRegex(err, r"(?m)^(leveret: )?" + re.escape(path) + r":2:\d+: ")

    def test_missing_config_file_is_fatal(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "absent.json")
            rc, out, err = run_binary(["--config", path, "--port", str(free_port()),
                                       "--mgmt-port", str(free_port()),
                                       "--data-dir", os.path.join(d, "data")])
        self.assertNotEqual(rc, 0)
        self.assertIn(path, err)
        self.assertIsNone(sanitizer_report(err), err)


class EmptyConfig(BrokerTestCase):
    START = False

    def test_empty_object_means_guest_on_default_vhost(self):
        b = Broker(raw_config="{}\n", base=False, name="{} broker")
        self.brokers.append(b)
        b.start()
        c = self.raw(b)
        r = c.handshake(user="guest", password="guest", vhost="/")
        self.assertEqual(r["tune"], {"channel_max": 2047, "frame_max": 131072, "heartbeat": 60})
        c.open_channel(1)
