# SPDX-License-Identifier: MIT
"""76 tls: AMQP over TLS (listeners.tls, OpenSSL) and the management API over
HTTPS (listeners.mgmt_tls, GnuTLS through libmicrohttpd).

A CA, a server certificate (for localhost and 127.0.0.1), a client certificate
signed by the CA and a self-signed "stranger" client certificate are made with
the openssl command once per run, in a temporary directory removed at exit
(no key is ever committed). Clients: pika and python's ssl module, rabbitmq-c
(clients/tls_client.c) and curl.
"""

import atexit
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest

import pika
import pika.exceptions

import mgmtkit
from harness import (SETTINGS, Broker, BrokerTestCase, free_port, pika_params, run_binary,
                     sanitizer_env, sanitizer_report, time_scale)

CLIENT_SUBJECT = "O=Leveret tests,CN=client"
_certs = None
_certs_lock = threading.Lock()


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True,
                   timeout=30)


def certs():
    """Paths of the test PKI (made on first use): ca, server, server_key, client,
    client_key, stranger, stranger_key, dir."""
    global _certs
    with _certs_lock:
        if _certs is None:
            d = tempfile.mkdtemp(prefix="leveret-tls-")
            atexit.register(shutil.rmtree, d, True)
            ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                    "-subj", "/CN=Leveret test CA", cwd=d)
            with open(os.path.join(d, "server.ext"), "w") as f:
                f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
            for name, subj in (("server", "/CN=localhost"),
                               ("client", "/CN=client/O=Leveret tests")):
                openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr",
                        "-subj", subj, cwd=d)
                extra = ["-extfile", "server.ext"] if name == "server" else []
                openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem", "-CAkey",
                        "ca.key", "-CAcreateserial", "-out", name + ".pem", "-days", "2",
                        *extra, cwd=d)
            openssl("req", "-x509", *ec, "-keyout", "stranger.key", "-out", "stranger.pem",
                    "-days", "2", "-subj", "/CN=stranger", cwd=d)
            p = lambda n: os.path.join(d, n)  # noqa: E731
            _certs = {"dir": d, "ca": p("ca.pem"), "server": p("server.pem"),
                      "server_key": p("server.key"), "client": p("client.pem"),
                      "client_key": p("client.key"), "stranger": p("stranger.pem"),
                      "stranger_key": p("stranger.key")}
        return _certs


def tls_section(verify=None, fail=None, **over):
    c = certs()
    t = {"certfile": c["server"], "keyfile": c["server_key"], "cacertfile": c["ca"]}
    if verify:
        t["verify"] = verify
    if fail is not None:
        t["fail_if_no_peer_cert"] = fail
    t.update(over)
    return t


def client_context(cert=None, minimum=None, maximum=None, legacy=False):
    """A client SSLContext that verifies the broker's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs()["ca"])
    if cert:
        ctx.load_cert_chain(certs()[cert], certs()[cert + "_key"])
    if legacy:
        # Debian's OpenSSL will not even offer TLS 1.0/1.1 at its default
        # security level: lower it, so the refusal really is the broker's.
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


class TlsBroker(Broker):
    """A broker with --tls-port (and --mgmt-tls-port when mgmt_tls) on free ports."""

    def __init__(self, config=None, mgmt_tls=False, tls=True, **kw):
        super().__init__(config, **kw)
        self.want_tls = tls
        self.want_mgmt_tls = mgmt_tls
        self.tls_port = None
        self.mgmt_tls_port = None

    def spawn(self):
        self.tls_port = free_port() if self.want_tls else 0
        self.mgmt_tls_port = free_port() if self.want_mgmt_tls else 0
        super().spawn()

    def command(self):
        return super().command() + ["--tls-port", str(self.tls_port),
                                    "--mgmt-tls-port", str(self.mgmt_tls_port)]

    def start(self, timeout=10.0):
        super().start(timeout)
        # The TLS listeners start before the plain ones; make sure anyway.
        deadline = time.monotonic() + timeout * time_scale()
        for port in (self.tls_port, self.mgmt_tls_port):
            while port:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.02)
        return self


class TlsTestCase(BrokerTestCase):
    TLS = {}         # listeners.tls overrides (verify, fail_if_no_peer_cert)
    MGMT_TLS = None  # listeners.mgmt_tls overrides, or None for no HTTPS listener
    EXTRA = {}

    def setUp(self):
        if SETTINGS["external"]:
            raise unittest.SkipTest("needs its own broker: not against an external RabbitMQ")
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("no openssl command")
        self.CONFIG = dict(self.EXTRA)
        listeners = {"tls": tls_section(**self.TLS)}
        if self.MGMT_TLS is not None:
            listeners["mgmt_tls"] = tls_section(**self.MGMT_TLS)
        self.CONFIG["listeners"] = listeners
        super().setUp()

    def start_broker(self, config=None, **kw):
        b = TlsBroker(config, mgmt_tls=self.MGMT_TLS is not None, **kw)
        self.brokers.append(b)
        b.start()
        return b

    # -- clients --

    def pika_tls(self, cert=None, **kw):
        ctx = client_context(cert)
        params = pika_params(self.broker, port=self.broker.tls_port, heartbeat=0,
                             ssl_options=pika.SSLOptions(ctx, "localhost"), **kw)
        return self.track(pika.BlockingConnection(params))

    def tls_socket(self, ctx, timeout=5.0):
        """A TLS socket to the AMQP TLS port (handshake done), closed at teardown."""
        s = socket.create_connection(("127.0.0.1", self.broker.tls_port), timeout=timeout)
        try:
            ts = ctx.wrap_socket(s, server_hostname="localhost")
        except BaseException:
            s.close()
            raise
        self.track(ts)
        return ts

    def assertAmqpRefused(self, ctx):
        """The TLS handshake, or (TLS 1.3: the server checks the client's
        certificate after the client finished) the first read, fails: the
        broker never sends connection.start."""
        try:
            ts = self.tls_socket(ctx)
            ts.sendall(b"AMQP\x00\x00\x09\x01")
            data = ts.recv(4096)
        except (ssl.SSLError, ConnectionError) as e:
            return str(e)
        self.assertEqual(data, b"", "the broker answered a client it should refuse")
        return "eof"

    def assertAmqpServes(self, ctx):
        ts = self.tls_socket(ctx)
        ts.sendall(b"AMQP\x00\x00\x09\x01")
        data = ts.recv(7)
        self.assertEqual(data[:3], b"\x01\x00\x00", "expected connection.start, got %r" % data)
        return ts

    def assertBrokerLogged(self, text, timeout=5.0):
        """The broker's stderr has text within timeout (the client may see the
        refusal before the broker has written its line)."""
        deadline = time.monotonic() + timeout * time_scale()
        while text not in self.broker.read_stderr():
            if time.monotonic() > deadline:
                self.fail("%r not in the broker's log" % text)
            time.sleep(0.02)

    def mgmt(self, path):
        return mgmtkit.call(self.broker.mgmt_port, "GET", "/api/" + path)

    def run_client(self, *args):
        d = SETTINGS["clients"]
        if not d:
            raise unittest.SkipTest("no --clients directory given")
        path = os.path.join(d, "tls_client")
        self.assertTrue(os.access(path, os.X_OK), "client %s not built" % path)
        p = subprocess.run([path] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                           capture_output=True, env=sanitizer_env(), timeout=30 * time_scale())
        out, err = p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
        self.assertIsNone(sanitizer_report(err), err)
        return p.returncode, out + err

    def curl(self, url, *args):
        if shutil.which("curl") is None:
            raise unittest.SkipTest("no curl")
        p = subprocess.run(["curl", "-sS", "--max-time", "10", "-u", "guest:guest",
                            "-o", "-", "-w", "\n%{http_code}"] + list(args) + [url],
                           capture_output=True, timeout=20)
        out = p.stdout.decode(errors="replace")
        body, _, code = out.rpartition("\n")
        return p.returncode, body, code, p.stderr.decode(errors="replace")


class AmqpOverTls(TlsTestCase):
    EXTRA = {"limits": {"handshake_timeout": 1}}

    def test_pika_publishes_and_consumes_over_tls(self):
        conn = self.pika_tls()
        ch = conn.channel()
        ch.queue_declare("tls.q")
        bodies = [os.urandom(n) for n in (0, 1, 200, 513, 4095, 4096, 16384, 16385, 70000,
                                          1 << 20)]
        for b in bodies:
            ch.basic_publish("", "tls.q", b)
        got = []
        for method, _, body in ch.consume("tls.q", auto_ack=True, inactivity_timeout=10):
            self.assertIsNotNone(method, "delivery did not arrive over TLS")
            got.append(body)
            if len(got) == len(bodies):
                break
        self.assertEqual([hashlib.sha256(b).hexdigest() for b in got],
                         [hashlib.sha256(b).hexdigest() for b in bodies])
        # The management API says which connection is TLS, as RabbitMQ does.
        plain = self.track(pika.BlockingConnection(pika_params(self.broker, heartbeat=0)))
        plain.channel()
        conns = {c["port"]: c for c in self.mgmt("connections").json}
        tls, tcp = conns[self.broker.tls_port], conns[self.broker.port]
        self.assertIs(tls["ssl"], True)
        self.assertIn(tls["ssl_protocol"], ("tlsv1.2", "tlsv1.3"))
        self.assertTrue(tls["ssl_cipher"])
        self.assertTrue(tls["ssl_key_exchange"])
        self.assertIsNone(tls["peer_cert_subject"])  # no client certificate
        self.assertTrue(tls["name"].endswith(":%d" % self.broker.tls_port), tls["name"])
        self.assertIs(tcp["ssl"], False)
        self.assertIsNone(tcp["ssl_protocol"])

    def test_deliveries_to_a_client_that_reads_late_arrive_whole(self):
        # 12 MiB pushed at a consumer that does not read for a while: the
        # socket fills, TLS writes stop half way and resume, and every byte
        # arrives in order.
        bodies = [hashlib.sha256(b"%d" % i).digest() * (i * 1000 + 1) for i in range(16)]
        pub = self.track(pika.BlockingConnection(pika_params(self.broker, heartbeat=0)))
        pch = pub.channel()
        pch.queue_declare("late.q")
        for b in bodies:
            pch.basic_publish("", "late.q", b)
        conn = self.pika_tls()
        ch = conn.channel()
        got = []
        ch.basic_consume("late.q", lambda c, m, p, body: got.append(body), auto_ack=True)
        time.sleep(0.5)  # not reading: the broker's writes hit a full socket
        deadline = time.monotonic() + 20 * time_scale()
        while len(got) < len(bodies) and time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.1)
        self.assertEqual(len(got), len(bodies))
        self.assertTrue(got == bodies, "bodies differ")

    def test_rabbitmq_c_client_over_tls(self):
        rc, out = self.run_client("localhost", self.broker.tls_port, certs()["ca"], 21)
        self.assertEqual(rc, 0, out)
        for line in ("socket: ok", "login: ok", "published: 21", "consumed: 21 intact=1",
                     "connection.close: ok"):
            self.assertIn(line, out)

    def test_tls_1_1_and_older_are_refused_1_2_and_1_3_accepted(self):
        V = ssl.TLSVersion
        for maximum in (V.TLSv1_1, V.TLSv1):
            with self.assertRaises(ssl.SSLError) as cm:
                self.tls_socket(client_context(minimum=V.TLSv1, maximum=maximum, legacy=True))
            self.assertRegex(str(cm.exception), "PROTOCOL_VERSION|protocol version")
        # The same kind of client, allowed TLS 1.2 or 1.3, gets through.
        for maximum, name in ((V.TLSv1_2, "TLSv1.2"), (V.TLSv1_3, "TLSv1.3")):
            ctx = client_context(minimum=V.TLSv1, maximum=maximum, legacy=True)
            ts = self.assertAmqpServes(ctx)
            self.assertEqual(ts.version(), name)

    def test_plain_amqp_on_the_tls_port_fails_and_the_broker_goes_on(self):
        s = socket.create_connection(("127.0.0.1", self.broker.tls_port), timeout=5)
        self.track(s)
        s.sendall(b"AMQP\x00\x00\x09\x01")
        data = b""
        while True:  # at most a TLS alert, then EOF; never connection.start
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        self.assertFalse(data.startswith(b"\x01\x00\x00"), data)
        self.assertNotIn(b"PLAIN", data)
        self.assertBrokerLogged("TLS handshake failed")
        # Both ports still serve.
        self.assertAmqpServes(client_context())
        c = self.opened(heartbeat=0)
        c.open_channel(1)

    def test_stalled_tls_handshake_is_dropped_after_handshake_timeout(self):
        s = socket.create_connection(("127.0.0.1", self.broker.tls_port), timeout=5)
        self.track(s)
        t0 = time.monotonic()
        # The first bytes of a ClientHello record, then nothing.
        s.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        s.settimeout(5 * time_scale())
        self.assertEqual(s.recv(4096), b"")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8, "closed before handshake_timeout elapsed")
        self.assertLessEqual(elapsed, 3.5 * time_scale())
        self.assertBrokerLogged("handshake timed out")

    def test_tls_client_that_never_sends_the_protocol_header_is_dropped(self):
        ts = self.tls_socket(client_context())
        t0 = time.monotonic()
        ts.settimeout(5 * time_scale())
        self.assertEqual(ts.recv(4096), b"")
        self.assertGreaterEqual(time.monotonic() - t0, 0.5)

    def test_management_closes_a_tls_connection_by_name(self):
        from urllib.parse import quote
        conn = self.pika_tls()
        conn.channel()
        [c] = self.mgmt("connections").json
        path = "/api/connections/" + quote(c["name"], safe="")
        self.assertEqual(mgmtkit.call(self.broker.mgmt_port, "GET", path).json["ssl"], True)
        self.assertEqual(mgmtkit.call(self.broker.mgmt_port, "DELETE", path).status, 204)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 5 * time_scale()
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        self.assertEqual(cm.exception.reply_code, 320)

    def test_input_after_a_blocking_publish_waits_and_goes_on_over_tls(self):
        # The kept-back input (and the records still inside OpenSSL, which do
        # not make the socket readable) is handled once the alarm clears.
        import raw
        c = raw.RawConnection.__new__(raw.RawConnection)
        c.default_timeout, c.buf, c.eof, c.tuned = 5.0, b"", False, None
        c.sock = self.tls_socket(client_context())
        c.handshake(heartbeat=0)
        c.open_channel(1)
        c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.expect_method(raw.QUEUE_DECLARE_OK, channel=1)
        node = self.mgmt("nodes").json[0]["name"]
        path = "/api/nodes/%s/memory-high-watermark" % node
        self.assertEqual(mgmtkit.call(self.broker.mgmt_port, "PUT", path, {"absolute": 1}).status,
                         204)
        data = b"".join(raw.publish_frames(1, "", "q", b"m%d" % i + b"x" * 3000)
                        for i in range(100))
        c.send(data + raw.method_frame(1, raw.CHANNEL_FLOW, raw.flow_args(True)))
        c.expect_method((10, 60), channel=0)
        self.assertEqual(self.mgmt("queues/%2F/q").json["messages"], 1)
        self.assertEqual(mgmtkit.call(self.broker.mgmt_port, "PUT", path,
                                      {"relative": 0.4}).status, 204)
        c.expect_method((10, 61), channel=0)
        c.expect_method(raw.CHANNEL_FLOW_OK, channel=1)
        self.assertEqual(self.mgmt("queues/%2F/q").json["messages"], 100)

    def test_sigterm_closes_tls_clients_with_320_and_exits_0(self):
        conn = self.pika_tls()
        conn.channel()
        self.broker.signal(signal.SIGTERM)
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 10 * time_scale()
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.1)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertEqual(self.broker.wait(10.0), 0)

    def test_overview_and_health_checks_list_the_tls_listener(self):
        listeners = self.mgmt("overview").json["listeners"]
        self.assertIn({"protocol": "amqp/ssl", "port": self.broker.tls_port},
                      [{"protocol": x["protocol"], "port": x["port"]} for x in listeners])
        r = self.mgmt("health/checks/port-listener/%d" % self.broker.tls_port)
        self.assertEqual(r.status, 200, r.raw)
        r = self.mgmt("health/checks/protocol-listener/amqps")
        self.assertEqual(r.status, 200, r.raw)

    def test_tls_port_0_on_the_command_line_turns_it_off(self):
        b = TlsBroker(self.CONFIG, tls=False, name="no-tls broker")
        self.brokers.append(b)
        b.start()
        listeners = mgmtkit.call(b.mgmt_port, "GET", "/api/overview").json["listeners"]
        self.assertNotIn("amqp/ssl", [x["protocol"] for x in listeners])
        self.assertNotIn("AMQP over TLS listener", b.read_stderr())


class ClientCertificateRequired(TlsTestCase):
    TLS = {"verify": "verify_peer", "fail": True}

    def test_client_without_certificate_is_refused(self):
        self.assertAmqpRefused(client_context())
        self.assertBrokerLogged("peer did not return a certificate")

    def test_client_with_a_certificate_from_the_ca_is_accepted(self):
        conn = self.pika_tls(cert="client")
        ch = conn.channel()
        ch.queue_declare("cert.q")
        ch.basic_publish("", "cert.q", b"signed")
        self.assertEqual(ch.basic_get("cert.q", auto_ack=True)[2], b"signed")
        [c] = self.mgmt("connections").json
        self.assertEqual(c["peer_cert_subject"], CLIENT_SUBJECT)
        self.assertEqual(c["peer_cert_issuer"], "CN=Leveret test CA")
        self.assertRegex(c["peer_cert_validity"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ - \d{4}-")

    def test_client_with_an_unknown_certificate_is_refused(self):
        self.assertAmqpRefused(client_context(cert="stranger"))
        self.assertBrokerLogged("certificate verify failed")

    def test_rabbitmq_c_with_and_without_a_certificate(self):
        c = certs()
        rc, out = self.run_client("localhost", self.broker.tls_port, c["ca"], 3, c["client"],
                                  c["client_key"])
        self.assertEqual(rc, 0, out)
        self.assertIn("consumed: 3 intact=1", out)
        rc, out = self.run_client("localhost", self.broker.tls_port, c["ca"], 3)
        self.assertEqual(rc, 3, out)
        self.assertNotIn("login: ok", out)


class ClientCertificateOptional(TlsTestCase):
    TLS = {"verify": "verify_peer", "fail": False}

    def test_no_certificate_is_accepted_a_bad_one_is_not(self):
        self.assertAmqpServes(client_context())
        self.assertAmqpServes(client_context(cert="client"))
        self.assertAmqpRefused(client_context(cert="stranger"))


class ManagementOverHttps(TlsTestCase):
    MGMT_TLS = {}

    def test_curl_gets_the_overview_over_https(self):
        url = "https://127.0.0.1:%d/api/overview" % self.broker.mgmt_tls_port
        rc, body, code, err = self.curl(url, "--cacert", certs()["ca"])
        self.assertEqual((rc, code), (0, "200"), err)
        import json
        protocols = [x["protocol"] for x in json.loads(body)["listeners"]]
        self.assertIn("https", protocols)
        self.assertIn("amqp/ssl", protocols)
        # Certificate checked by the client: the name is the server's.
        rc, body, code, err = self.curl(url.replace("127.0.0.1", "localhost"),
                                        "--cacert", certs()["ca"])
        self.assertEqual((rc, code), (0, "200"), err)

    def test_plain_http_to_the_https_port_fails(self):
        rc, body, code, err = self.curl("http://127.0.0.1:%d/api/overview"
                                        % self.broker.mgmt_tls_port)
        self.assertNotEqual(rc, 0)
        self.assertEqual(code, "000")
        # The plain management port is unaffected.
        self.assertEqual(self.mgmt("overview").status, 200)

    def test_tls_1_1_is_refused(self):
        rc, body, code, err = self.curl("https://127.0.0.1:%d/api/overview"
                                        % self.broker.mgmt_tls_port, "--cacert", certs()["ca"],
                                        "--tlsv1.0", "--tls-max", "1.1", "--ciphers",
                                        "DEFAULT:@SECLEVEL=0")
        self.assertNotEqual(rc, 0, body)
        self.assertEqual(code, "000")


class ManagementClientCertificate(TlsTestCase):
    MGMT_TLS = {"verify": "verify_peer", "fail": True}

    def test_https_needs_a_client_certificate_from_the_ca(self):
        c = certs()
        url = "https://127.0.0.1:%d/api/whoami" % self.broker.mgmt_tls_port
        rc, body, code, err = self.curl(url, "--cacert", c["ca"], "--cert", c["client"],
                                        "--key", c["client_key"])
        self.assertEqual((rc, code), (0, "200"), err)
        for cert in (None, "stranger"):
            args = ["--cacert", c["ca"]]
            if cert:
                args += ["--cert", c[cert], "--key", c[cert + "_key"]]
            rc, body, code, err = self.curl(url, *args)
            self.assertNotEqual(rc, 0, (cert, body))
            self.assertEqual(code, "000", cert)


class TlsConfigErrors(BrokerTestCase):
    START = False

    def bad(self, tls, key="tls"):
        """Starts a broker whose listeners.<key> is tls; asserts it exits non-zero
        and returns (config text, stderr)."""
        import json
        text = json.dumps({"listeners": {"address": "127.0.0.1", "prometheus_port": 0,
                                         key: tls}}, indent=2) + "\n"
        b = Broker(raw_config=text, base=False, name="bad-tls broker")
        self.brokers.append(b)
        b.spawn()
        rc = b.wait(10.0)
        if rc is None:
            b.kill()
            self.fail("broker kept running on a bad TLS config")
        self.assertNotEqual(rc, 0)
        b.expected_status = rc
        return b.config_path, text, b.read_stderr()

    def assertAt(self, path, text, needle, err, *words):
        i = text.index(needle)
        line = text.count("\n", 0, i) + 1
        col = i - (text.rfind("\n", 0, i) + 1) + 1
        prefix = "%s:%d:%d: " % (path, line, col)
        lines = [ln for ln in err.splitlines() if prefix in ln]
        self.assertTrue(lines, "no stderr line has %r:\n%s" % (prefix, err))
        for w in words:
            self.assertIn(w, lines[0])

    def setUp(self):
        super().setUp()
        if shutil.which("openssl") is None:
            raise unittest.SkipTest("no openssl command")

    def test_missing_certificate_file(self):
        missing = os.path.join(certs()["dir"], "absent.pem")
        path, text, err = self.bad(tls_section(certfile=missing))
        self.assertAt(path, text, '"%s"' % missing, err, "listeners.tls.certfile", missing,
                      "No such file or directory")

    def test_missing_key_file_of_the_management_listener(self):
        missing = os.path.join(certs()["dir"], "absent.key")
        path, text, err = self.bad(tls_section(keyfile=missing), key="mgmt_tls")
        self.assertAt(path, text, '"%s"' % missing, err, "listeners.mgmt_tls.keyfile",
                      "No such file or directory")

    def test_key_that_does_not_match_the_certificate(self):
        path, text, err = self.bad(tls_section(keyfile=certs()["client_key"]))
        self.assertAt(path, text, '"%s"' % certs()["client_key"], err, "listeners.tls.keyfile",
                      "does not match")

    def test_a_key_is_not_a_certificate(self):
        path, text, err = self.bad(tls_section(certfile=certs()["server_key"]))
        self.assertAt(path, text, '"%s"' % certs()["server_key"], err,
                      "listeners.tls.certfile", "no PEM certificate")

    def test_certfile_is_required(self):
        t = tls_section()
        del t["certfile"]
        path, text, err = self.bad(t)
        self.assertAt(path, text, '{\n      "keyfile"', err, "listeners.tls",
                      'missing required key "certfile"')

    def test_verify_peer_needs_cacertfile_and_fail_needs_verify_peer(self):
        t = tls_section(verify="verify_peer")
        del t["cacertfile"]
        path, text, err = self.bad(t)
        self.assertAt(path, text, '"verify_peer"', err, "cacertfile")
        path, text, err = self.bad(tls_section(fail=True))
        self.assertAt(path, text, "true", err, "listeners.tls.fail_if_no_peer_cert",
                      "verify_peer")

    def test_tls_port_without_a_tls_section(self):
        d = tempfile.mkdtemp(prefix="leveret-bb-")
        try:
            cfg = os.path.join(d, "config.json")
            with open(cfg, "w") as f:
                f.write('{"listeners": {"address": "127.0.0.1"}}\n')
            rc, out, err = run_binary(["--config", cfg, "--port", str(free_port()),
                                       "--tls-port", str(free_port()),
                                       "--data-dir", os.path.join(d, "data")])
        finally:
            shutil.rmtree(d, ignore_errors=True)
        self.assertEqual(rc, 2, err)
        self.assertIn("--tls-port", err)
        self.assertIn("listeners.tls", err)
        self.assertIsNone(sanitizer_report(err), err)
