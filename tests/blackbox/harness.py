# SPDX-License-Identifier: MIT
"""harness: starts and stops a real broker process for each black-box test.

Each Broker gets free ports on 127.0.0.1, a temporary directory holding
config.json and the data dir, and its stderr in a file. stop() sends SIGTERM
and checks that the broker exits 0 within 10 s without sanitizer reports.

run.py fills in SETTINGS (broker binary, sanitized mode, clients dir) before
importing the test files. BrokerTestCase starts one broker per test; the
runner prints every broker's stderr when a test fails.
"""

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

import raw

SETTINGS = {"broker": None, "sanitized": False, "clients": None, "keep": False,
            "external": None}  # (amqp_port, mgmt_port) of a running RabbitMQ, see below

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ERROR: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer")

# Ports handed out by this process, so parallel tests never get the same one twice.
_ports_lock = threading.Lock()
_ports_used = set()

# Every broker process still running, so the runner can kill them on a timeout.
LIVE = set()
_live_lock = threading.Lock()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (bind to port 0)."""
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        with _ports_lock:
            if port not in _ports_used:
                _ports_used.add(port)
                return port
    raise RuntimeError("no free port found")


def deep_merge(base, over):
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def sanitizer_env():
    env = dict(os.environ)
    if SETTINGS["sanitized"]:
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=1"
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1"
    return env


def time_scale():
    """Factor for generous (not behavioural) timeouts: startup, shutdown."""
    return 3.0 if SETTINGS["sanitized"] else 1.0


def sanitizer_report(text):
    for m in SANITIZER_MARKERS:
        if m in text:
            return m
    return None


# The base config every test broker gets; tests pass overrides on top.
BASE_CONFIG = {"listeners": {"address": "127.0.0.1", "mgmt_address": "127.0.0.1",
                             "prometheus_port": 0},
               "log_level": "info"}


class Broker:
    """One broker process. Usage: b = Broker(config); b.start(); ...; b.stop()."""

    def __init__(self, config=None, raw_config=None, name="broker", base=True):
        self.name = name
        self.config = deep_merge(BASE_CONFIG if base else {}, config or {})
        self.raw_config = raw_config  # exact file text, used instead of config
        self.tmp = tempfile.mkdtemp(prefix="leveret-bb-")
        self.config_path = os.path.join(self.tmp, "config.json")
        self.data_dir = os.path.join(self.tmp, "data")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.proc = None
        self.port = None
        self.mgmt_port = None
        self.returncode = None
        self.stderr_text = None
        self.expected_status = 0  # exit status stop() accepts
        self.signalled = False    # the test sent a signal itself
        self.starts = 0           # processes spawned so far (restart appends to the logs)

    # -- lifecycle --

    def write_config(self):
        with open(self.config_path, "w") as f:
            if self.raw_config is not None:
                f.write(self.raw_config)
            else:
                json.dump(self.config, f, indent=2)
                f.write("\n")

    def command(self):
        return [SETTINGS["broker"], "--config", self.config_path, "--port", str(self.port),
                "--mgmt-port", str(self.mgmt_port), "--data-dir", self.data_dir]

    def spawn(self):
        """Starts the process without waiting for the port (for config-error tests)."""
        self.port = free_port()
        self.mgmt_port = free_port()
        self.write_config()
        os.makedirs(self.data_dir, exist_ok=True)
        mode = "ab" if self.starts else "wb"
        self.starts += 1
        self.stderr_file = open(self.stderr_path, mode)
        self.stdout_file = open(self.stdout_path, mode)
        self.proc = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL,
                                     stdout=self.stdout_file, stderr=self.stderr_file,
                                     env=sanitizer_env(), cwd=self.tmp)
        with _live_lock:
            LIVE.add(self.proc)

    def start(self, timeout=10.0):
        """Starts the broker and waits until its AMQP port accepts connections."""
        if SETTINGS["external"]:
            self.port, self.mgmt_port = SETTINGS["external"]
            reset_external(self.mgmt_port)
            return self
        for attempt in range(3):
            self.spawn()
            deadline = time.monotonic() + timeout * time_scale()
            while time.monotonic() < deadline:
                rc = self.proc.poll()
                if rc is not None:
                    break
                try:
                    socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                    if self.mgmt_port:
                        socket.create_connection(("127.0.0.1", self.mgmt_port),
                                                 timeout=0.5).close()
                    return self
                except OSError:
                    time.sleep(0.02)
            rc = self.proc.poll()
            err = self.read_stderr()
            if rc is not None and ("in use" in err or "cannot listen" in err) and attempt < 2:
                self._reap()
                continue  # another process took the port between bind(0) and now
            if rc is None:
                self.kill()
                raise AssertionError("broker did not accept connections on port %d within "
                                     "%.0fs" % (self.port, timeout * time_scale()))
            self._reap()
            raise AssertionError("broker exited with status %s during startup" % rc)
        raise AssertionError("broker could not bind a port")

    def restart(self, sig=signal.SIGTERM, timeout=10.0):
        """Stops the broker with sig and starts it again on the same data dir (new
        ports; stderr is appended to). SIGTERM must give a clean exit (checked as in
        stop()); any other signal is a crash. Returns self."""
        if SETTINGS["external"]:
            raise unittest.SkipTest("restarts the broker: not against an external RabbitMQ")
        if sig == signal.SIGTERM:
            self.stop(check=True)
        else:
            self.signal(sig)
            if self.wait(timeout) is None:
                self.kill()
        self.returncode = None
        self.signalled = False
        return self.start(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig=signal.SIGTERM):
        if SETTINGS["external"]:
            raise unittest.SkipTest("signals the broker: not against an external RabbitMQ")
        self.signalled = True
        self.proc.send_signal(sig)

    def wait(self, timeout=10.0):
        """Waits for the process to exit; returns the exit status or None on timeout."""
        try:
            rc = self.proc.wait(timeout * time_scale())
        except subprocess.TimeoutExpired:
            return None
        self._reap()
        return rc

    def stop(self, check=True):
        """SIGTERM, wait up to 10 s; with check, asserts a clean exit 0 and no sanitizer
        report. Idempotent: a broker that was already stopped is only checked."""
        if self.proc is None or SETTINGS["external"]:
            return None
        problems = []
        if self.returncode is None:
            if self.proc.poll() is not None and not self.signalled:
                problems.append("broker had already exited (status %s) before the test "
                                "stopped it: it crashed or quit" % self.proc.returncode)
            elif self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            rc = self.wait(10.0)
            if rc is None:
                self.kill()
                problems.append("broker did not exit within %.0fs of SIGTERM"
                                % (10.0 * time_scale()))
        rc = self.returncode
        err = self.read_stderr()
        if rc is not None and rc != self.expected_status and not problems:
            problems.append("broker exited with status %s, expected %s"
                            % (rc, self.expected_status))
        marker = sanitizer_report(err)
        if marker:
            problems.append("sanitizer report in broker stderr (%r)" % marker)
        if check and problems:
            raise AssertionError("; ".join(problems))
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reap()

    def _reap(self):
        if self.proc is not None and self.proc.poll() is not None:
            self.returncode = self.proc.returncode
            with _live_lock:
                LIVE.discard(self.proc)
            for f in (getattr(self, "stderr_file", None), getattr(self, "stdout_file", None)):
                if f is not None and not f.closed:
                    f.close()

    def read_stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        self.stderr_text = text
        return text

    def read_stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        if not SETTINGS["keep"]:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- clients --

    def raw(self, timeout=5.0):
        return raw.RawConnection(self.port, timeout=timeout)

    def opened(self, **kw):
        """A RawConnection with the handshake done (see RawConnection.handshake)."""
        c = self.raw()
        c.handshake(**kw)
        return c


def reset_external(mgmt_port):
    """Against an external RabbitMQ (run.py --rabbitmq, a check of the tests
    themselves): closes every connection and deletes every queue and every exchange
    not predeclared in vhost '/', through the management API, so each test starts
    from a fresh broker's state. Tests then run one at a time."""
    import base64
    import urllib.parse
    import urllib.request
    auth = "Basic " + base64.b64encode(b"guest:guest").decode()

    def call(method, path):
        req = urllib.request.Request("http://127.0.0.1:%d/api/%s" % (mgmt_port, path),
                                     method=method, headers={"Authorization": auth})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    q = urllib.parse.quote
    for c in call("GET", "connections"):
        try:
            call("DELETE", "connections/" + q(c["name"], safe=""))
        except Exception:
            pass
    for x in call("GET", "queues/%2F"):
        try:
            call("DELETE", "queues/%2F/" + q(x["name"], safe=""))
        except Exception:
            pass
    for x in call("GET", "exchanges/%2F"):
        if x["name"] and not x["name"].startswith("amq."):
            try:
                call("DELETE", "exchanges/%2F/" + q(x["name"], safe=""))
            except Exception:
                pass
    time.sleep(0.05)


def run_binary(args, timeout=10.0):
    """Runs the broker binary with args (no config written); returns (rc, out, err)."""
    p = subprocess.run([SETTINGS["broker"]] + list(args), stdin=subprocess.DEVNULL,
                       capture_output=True, env=sanitizer_env(),
                       timeout=timeout * time_scale())
    return (p.returncode, p.stdout.decode("utf-8", "replace"),
            p.stderr.decode("utf-8", "replace"))


def pika_params(broker, **kw):
    import pika
    args = dict(host="127.0.0.1", port=broker.port, connection_attempts=1,
                socket_timeout=5, stack_timeout=10, blocked_connection_timeout=None,
                credentials=pika.PlainCredentials(kw.pop("user", "guest"),
                                                  kw.pop("password", "guest")))
    args.update(kw)
    return pika.ConnectionParameters(**args)


class BrokerTestCase(unittest.TestCase):
    """Starts a broker (with CONFIG overrides) before each test and stops it after,
    asserting a clean exit. self.broker is the broker; self.brokers lists every
    broker the test started (the runner prints their stderr on failure)."""

    CONFIG = {}
    START = True

    def setUp(self):
        self.brokers = []
        self.clients = []
        if SETTINGS["external"] and (self.CONFIG or not self.START):
            raise unittest.SkipTest("needs its own broker: not against an external RabbitMQ")
        if self.START:
            self.broker = self.start_broker(self.CONFIG)

    def start_broker(self, config=None, **kw):
        b = Broker(config, **kw)
        self.brokers.append(b)
        b.start()
        return b

    def track(self, conn):
        """Registers a client connection to be closed at teardown; returns it."""
        self.clients.append(conn)
        return conn

    def raw(self, broker=None, timeout=5.0):
        return self.track((broker or self.broker).raw(timeout))

    def opened(self, broker=None, **kw):
        c = self.raw(broker)
        c.handshake(**kw)
        return c

    def tearDown(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        errors = []
        for b in self.brokers:
            try:
                b.stop(check=True)
            except AssertionError as e:
                errors.append("%s: %s" % (b.name, e))
        if errors:
            raise AssertionError("; ".join(errors))

    def broker_logs(self):
        """(name, stderr) of every broker the test started, for failure reports."""
        out = []
        for b in getattr(self, "brokers", []):
            out.append((b.name, b.stderr_text if b.stderr_text is not None else b.read_stderr()))
        return out

    def cleanup_brokers(self):
        for b in getattr(self, "brokers", []):
            b.kill()
            b.cleanup()

    # -- assertions shared by the test files --

    def assertClosesWithin(self, conn, seconds, allow_heartbeats=True):
        """The broker closes conn without sending a frame within seconds."""
        return conn.expect_eof(seconds, allow_heartbeats)


def rabbit_password_hash(password, salt=b"\x90\x8d\xc6\x0a"):
    """RabbitMQ's rabbit_password_hashing_sha256 format:
    base64(salt(4) ++ sha256(salt(4) ++ utf8 password))."""
    import base64
    import hashlib
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()
