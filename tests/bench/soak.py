#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""soak: mixed load against a Leveret it starts, for a long time, watching the
broker's memory and file descriptors (issue 7 item 5). A benchmark, not a test;
not part of make test.

    /usr/bin/python3 tests/bench/soak.py [--minutes 30] [--broker build/plain/leveret]
        [--rate 150] [--sample 10] [--mem-tolerance 10] [--keep]

Load, each part a thread with its own pika connection (reconnecting after an
error, which is counted):
- confirm-pub: persistent messages to the durable queue soak.work, publisher
  confirms, --rate per second;
- plain-pub: transient messages, no confirms, --rate per second, alternating
  between soak.work and soak.ttl (x-message-ttl 300 ms, no consumer, so they
  expire and are dead-lettered);
- worker-1, worker-2: consume soak.work with prefetch 50; worker-1 acks 80%,
  rejects 10% with requeue (a redelivered message is then acked) and 10% without
  (dead-lettered through the fanout exchange soak.dlx into soak.dlq); worker-2
  acks with multiple=true every 10 messages and nacks 5% without requeue;
- dlq-reader: consumes soak.dlq, acks;
- churn: every 200-500 ms opens a connection, a channel, declares an exclusive
  server-named queue, publishes one message to it, fetches it and closes; every
  fifth time it drops the TCP connection without closing instead, and every
  seventh it sends only the protocol header and hangs up;
- mgmt: GET /api/overview and /api/queues once a second each.

Every --sample seconds it records the broker's RSS (VmRSS), its open file
descriptors (/proc/PID/fd), its CPU time, the queue depths and the counters,
and prints a row. At the end: the table, then a verdict:
- memory flat: mean RSS of the last third of the samples within --mem-tolerance
  percent of the middle third's (the first third is warm-up);
- fds not growing: the last third's highest count at most the middle third's
  highest + 3 (a churn connection may be open at a sample);
- no client errors; the broker still running and exiting 0 on SIGTERM.
Exit status 0 when the verdict is PASS, 1 otherwise.
"""

import argparse
import base64
import http.client
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import pika
import pika.exceptions

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()
PERSISTENT = pika.BasicProperties(delivery_mode=2)
TRANSIENT = pika.BasicProperties(delivery_mode=1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Stats:
    """Counters shared by the workers (one lock; updates are rare enough)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.c = {}
        self.errors = []  # (time, worker, text)

    def add(self, key, n=1):
        with self.lock:
            self.c[key] = self.c.get(key, 0) + n

    def error(self, who, text):
        with self.lock:
            self.c["errors"] = self.c.get("errors", 0) + 1
            self.errors.append((time.strftime("%H:%M:%S"), who, text))

    def snapshot(self):
        with self.lock:
            return dict(self.c)


class Soak:
    def __init__(self, args):
        self.args = args
        self.stop = threading.Event()
        self.stats = Stats()
        self.port = free_port()
        self.mgmt_port = free_port()
        self.tmp = tempfile.mkdtemp(prefix="leveret-soak-")
        self.proc = None

    # -- broker --

    def start_broker(self):
        cfg = os.path.join(self.tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump({"listeners": {"address": "127.0.0.1", "mgmt_address": "127.0.0.1",
                                     "prometheus_port": 0}, "log_level": "warning"}, f)
        self.log = open(os.path.join(self.tmp, "broker.log"), "wb")
        self.proc = subprocess.Popen(
            [self.args.broker, "--config", cfg, "--port", str(self.port), "--mgmt-port",
             str(self.mgmt_port), "--data-dir", os.path.join(self.tmp, "data")],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit("soak: the broker exited at start (log: %s)" % self.log.name)
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                socket.create_connection(("127.0.0.1", self.mgmt_port), 0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("soak: the broker did not start within 10 s")

    def stop_broker(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def params(self):
        return pika.ConnectionParameters("127.0.0.1", self.port, heartbeat=0, socket_timeout=10,
                                         blocked_connection_timeout=None, connection_attempts=1)

    def declare(self):
        conn = pika.BlockingConnection(self.params())
        ch = conn.channel()
        ch.exchange_declare("soak.dlx", "fanout", durable=True)
        ch.queue_declare("soak.dlq", durable=True)
        ch.queue_bind("soak.dlq", "soak.dlx")
        ch.queue_declare("soak.work", durable=True,
                         arguments={"x-dead-letter-exchange": "soak.dlx"})
        ch.queue_declare("soak.ttl", durable=True,
                         arguments={"x-message-ttl": 300, "x-dead-letter-exchange": "soak.dlx"})
        conn.close()

    # -- workers --

    def worker(self, name, body):
        """Runs body(name) until stop, counting and surviving its errors."""
        while not self.stop.is_set():
            try:
                body(name)
            except Exception as e:  # noqa: BLE001: every failure is a counted error
                if self.stop.is_set():
                    return
                self.stats.error(name, "%s: %s" % (type(e).__name__, str(e)[:200]))
                self.stop.wait(1.0)

    def paced(self, rate):
        """Yields at `rate` per second until stop (sleeping in between)."""
        interval = 1.0 / rate
        t = time.monotonic()
        while not self.stop.is_set():
            yield
            t += interval
            d = t - time.monotonic()
            if d > 0:
                self.stop.wait(d)
            elif d < -1:
                t = time.monotonic()

    def confirm_pub(self, name):
        conn = pika.BlockingConnection(self.params())
        try:
            ch = conn.channel()
            ch.confirm_delivery()
            i = 0
            for _ in self.paced(self.args.rate):
                i += 1
                # Raises on a nack or a return: both are errors here.
                ch.basic_publish("", "soak.work", b"c%d " % i + b"x" * (i % 2000), PERSISTENT,
                                 mandatory=True)
                self.stats.add("confirmed")
        finally:
            self.close(conn)

    def plain_pub(self, name):
        conn = pika.BlockingConnection(self.params())
        try:
            ch = conn.channel()
            i = 0
            for _ in self.paced(self.args.rate):
                i += 1
                q = "soak.ttl" if i % 2 else "soak.work"
                ch.basic_publish("", q, b"t%d " % i + b"y" * (i % 500), TRANSIENT)
                self.stats.add("published")
                if i % 50 == 0:
                    conn.process_data_events(0)  # surfaces a channel error
        finally:
            self.close(conn)

    def consumer(self, name, queue, on_message):
        conn = pika.BlockingConnection(self.params())
        try:
            ch = conn.channel()
            ch.basic_qos(prefetch_count=50)
            ch.basic_consume(queue, lambda c, m, p, b: on_message(c, m))
            while not self.stop.is_set():
                conn.process_data_events(time_limit=0.2)
        finally:
            self.close(conn)

    def worker1(self, name):
        rng = random.Random(1)

        def on_message(ch, m):
            r = rng.random()
            if m.redelivered or r < 0.8:
                ch.basic_ack(m.delivery_tag)
                self.stats.add("acked")
            elif r < 0.9:
                ch.basic_reject(m.delivery_tag, requeue=True)
                self.stats.add("requeued")
            else:
                ch.basic_reject(m.delivery_tag, requeue=False)
                self.stats.add("rejected")
        self.consumer(name, "soak.work", on_message)

    def worker2(self, name):
        rng = random.Random(2)
        held = [0, 0]  # how many deliveries wait for an ack multiple, the last one's tag

        def on_message(ch, m):
            if rng.random() < 0.05:
                if held[0]:  # settle what is held first: the nack must not cover it
                    ch.basic_ack(held[1], multiple=True)
                    self.stats.add("acked", held[0])
                    held[0] = 0
                ch.basic_nack(m.delivery_tag, requeue=False)
                self.stats.add("rejected")
                return
            held[0] += 1
            held[1] = m.delivery_tag
            if held[0] >= 10:
                ch.basic_ack(m.delivery_tag, multiple=True)
                self.stats.add("acked", held[0])
                held[0] = 0
        # Prefetch 50 and acks every 10: an idle queue leaves at most 9 held
        # until the next message; that is fine for a soak.
        self.consumer(name, "soak.work", on_message)

    def dlq_reader(self, name):
        def on_message(ch, m):
            ch.basic_ack(m.delivery_tag)
            self.stats.add("dead_letters")
        self.consumer(name, "soak.dlq", on_message)

    def churn(self, name):
        rng = random.Random(3)
        n = 0
        while not self.stop.is_set():
            self.stop.wait(rng.uniform(0.2, 0.5))
            n += 1
            if n % 7 == 0:
                s = socket.create_connection(("127.0.0.1", self.port), 5)
                s.sendall(b"AMQP\x00\x00\x09\x01")
                s.close()
                self.stats.add("churn_hangups")
                continue
            conn = pika.BlockingConnection(self.params())
            ch = conn.channel()
            q = ch.queue_declare("", exclusive=True).method.queue
            ch.basic_publish("", q, b"churn")
            m, _, body = ch.basic_get(q, auto_ack=True)
            if body != b"churn":
                raise AssertionError("churn queue returned %r" % (body,))
            if n % 5 == 0:
                # Gone without connection.close, as a crashed client.
                conn._impl._transport._sock.shutdown(socket.SHUT_RDWR)
                try:
                    conn.close()
                except Exception:  # noqa: BLE001: the socket is gone on purpose
                    pass
                self.stats.add("churn_drops")
            else:
                conn.close()
                self.stats.add("churn_conns")

    def mgmt(self, name):
        hc = http.client.HTTPConnection("127.0.0.1", self.mgmt_port, timeout=10)
        try:
            for _ in self.paced(1.0):
                for path in ("/api/overview", "/api/queues"):
                    hc.request("GET", path, headers={"Authorization": AUTH})
                    r = hc.getresponse()
                    body = r.read()
                    if r.status != 200:
                        raise AssertionError("GET %s: %d %s" % (path, r.status, body[:200]))
                    if path == "/api/queues":
                        self.queues = {q["name"]: q.get("messages", 0) for q in json.loads(body)}
                    self.stats.add("mgmt_requests")
        finally:
            hc.close()

    @staticmethod
    def close(conn):
        try:
            if conn.is_open:
                conn.close()
        except Exception:  # noqa: BLE001: closing after an error
            pass

    # -- sampling --

    def sample(self):
        pid = self.proc.pid
        rss = 0
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir("/proc/%d/fd" % pid))
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        return rss, fds, cpu

    def run(self):
        a = self.args
        self.queues = {}
        self.start_broker()
        self.declare()
        parts = [("confirm-pub", self.confirm_pub), ("plain-pub", self.plain_pub),
                 ("worker-1", self.worker1), ("worker-2", self.worker2),
                 ("dlq-reader", self.dlq_reader), ("churn", self.churn), ("mgmt", self.mgmt)]
        threads = [threading.Thread(target=self.worker, args=(n, f), name=n, daemon=True)
                   for n, f in parts]
        for t in threads:
            t.start()
        t0 = time.monotonic()
        end = t0 + a.minutes * 60
        rows = []
        own0 = os.times()
        cpu_prev, t_prev = self.sample()[2], t0
        print("soak: broker pid %d, AMQP %d, management %d, data %s; %g min, a sample every %g s"
              % (self.proc.pid, self.port, self.mgmt_port, self.tmp, a.minutes, a.sample),
              flush=True)
        header = ("%7s %9s %5s %6s %9s %9s %8s %8s %7s %6s %6s %6s" %
                  ("t", "rss_kib", "fds", "cpu%", "confirmed", "published", "acked", "dead_l",
                   "churn", "mgmt", "depth", "errors"))
        print(header, flush=True)
        while not self.stop.is_set():
            now = time.monotonic()
            if now >= end:
                break
            self.stop.wait(min(a.sample, end - now))
            if self.proc.poll() is not None:
                self.stats.error("broker", "exited with status %s" % self.proc.returncode)
                break
            rss, fds, cpu = self.sample()
            t = time.monotonic()
            c = self.stats.snapshot()
            row = {"t": t - t0, "rss": rss, "fds": fds, "cpu": 100 * (cpu - cpu_prev) / (t - t_prev),
                   "depth": sum(self.queues.values()), **c}
            cpu_prev, t_prev = cpu, t
            rows.append(row)
            print(self.fmt(row), flush=True)
        self.stop.set()
        for t in threads:
            t.join(15)
        own = os.times()
        own_cpu = (own.user - own0.user + own.system - own0.system) / max(1e-9, time.monotonic() - t0)
        status = self.stop_broker()
        self.report(rows, header, status, own_cpu)
        return self.verdict_ok

    @staticmethod
    def fmt(r):
        return ("%7.0f %9d %5d %6.1f %9d %9d %8d %8d %7d %6d %6d %6d" %
                (r["t"], r["rss"], r["fds"], r["cpu"], r.get("confirmed", 0),
                 r.get("published", 0), r.get("acked", 0), r.get("dead_letters", 0),
                 r.get("churn_conns", 0) + r.get("churn_drops", 0) + r.get("churn_hangups", 0),
                 r.get("mgmt_requests", 0), r["depth"], r.get("errors", 0)))

    def report(self, rows, header, status, own_cpu):
        a = self.args
        print()
        print("## soak: %g min, %d samples" % (a.minutes, len(rows)))
        print()
        print(header)
        for r in rows:
            print(self.fmt(r))
        c = self.stats.snapshot()
        print()
        print("totals: " + ", ".join("%s %d" % kv for kv in sorted(c.items())))
        print("soak's own CPU: %.0f%% of one core" % (100 * own_cpu))
        problems = []
        if len(rows) >= 6:
            n = len(rows) // 3
            mid, last = rows[n:2 * n], rows[len(rows) - n:]
            mid_rss = statistics.mean(r["rss"] for r in mid)
            last_rss = statistics.mean(r["rss"] for r in last)
            growth = 100 * (last_rss - mid_rss) / mid_rss
            mem_ok = growth <= a.mem_tolerance
            # Least-squares slope over the last two thirds, for the record.
            xs = [r["t"] for r in rows[n:]]
            ys = [r["rss"] for r in rows[n:]]
            mx, my = statistics.mean(xs), statistics.mean(ys)
            den = sum((x - mx) ** 2 for x in xs)
            slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0
            print("memory trend over the last two thirds: %+.0f KiB per hour" % (slope * 3600))
            fd_mid, fd_last = max(r["fds"] for r in mid), max(r["fds"] for r in last)
            fd_ok = fd_last <= fd_mid + 3
            print("memory: middle third mean %.0f KiB, last third mean %.0f KiB: %+.1f%% "
                  "(limit +%g%%): %s" % (mid_rss, last_rss, growth, a.mem_tolerance,
                                         "flat" if mem_ok else "GROWING"))
            print("fds: middle third max %d, last third max %d: %s"
                  % (fd_mid, fd_last, "not growing" if fd_ok else "GROWING"))
            if not mem_ok:
                problems.append("memory grew %.1f%%" % growth)
            if not fd_ok:
                problems.append("fds grew from %d to %d" % (fd_mid, fd_last))
        else:
            problems.append("too few samples (%d) for a verdict" % len(rows))
        errs = self.stats.errors
        print("client errors: %d" % len(errs))
        for e in errs[:20]:
            print("    %s %s: %s" % e)
        if errs:
            problems.append("%d client errors" % len(errs))
        print("broker exit status on SIGTERM: %s" % status)
        if status != 0:
            problems.append("broker exit status %s" % status)
        self.verdict_ok = not problems
        print("verdict: %s" % ("PASS" if not problems else "FAIL (" + "; ".join(problems) + ")"))
        if problems:
            self.args.keep = True  # for a look at the broker's log
        if self.args.keep:
            print("broker log: %s (data dir kept)" % self.log.name)


def main():
    ap = argparse.ArgumentParser(description="Leveret soak: mixed load, memory and fds over time")
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--broker", default=os.path.join(ROOT, "build", "plain", "leveret"))
    ap.add_argument("--rate", type=float, default=150.0,
                    help="messages per second of each publisher (default 150)")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between samples (10)")
    ap.add_argument("--mem-tolerance", type=float, default=10.0,
                    help="percent the last third's mean RSS may exceed the middle third's (10)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data dir and log")
    args = ap.parse_args()
    if not os.access(args.broker, os.X_OK):
        sys.exit("soak: no broker binary %s (make leveret)" % args.broker)
    s = Soak(args)
    try:
        ok = s.run()
    except KeyboardInterrupt:
        s.stop.set()
        ok = False
    finally:
        if s.proc is not None and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        if not args.keep:
            import shutil
            shutil.rmtree(s.tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
