# SPDX-License-Identifier: MIT
"""recover_broker.py: end-to-end recovery time of the real broker (a benchmark,
not a test; not part of make test).

Starts leveret on a fresh data dir, publishes --count persistent messages of
--size bytes into one durable queue with publisher confirms (pipelined, at most
--window unconfirmed), stops the broker with --signal (KILL: a crash; TERM: a
clean shutdown), starts it again and measures the time from spawning the
process until a passive queue.declare reports all the messages. Prints the
publish rate, the store's size on disk, the broker's own recovery log line,
the wall time to serving and the broker's RSS after recovery.

    /usr/bin/python3 tests/bench/recover_broker.py [--broker build/plain/leveret]
        [--count 1000000] [--size 1024] [--signal KILL|TERM] [--dir /var/tmp/x]
        [--window 20000] [--keep] [--cold]

--cold drops the page cache before the restart (root only), so the segments are
read from the disk rather than from memory.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "blackbox"))

import raw  # noqa: E402

QUEUE = "bench-recover"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(args, data_dir, port, log):
    cfg = os.path.join(data_dir, "..", "config.json")
    with open(cfg, "w") as f:
        f.write('{"listeners": {"address": "127.0.0.1", "mgmt_port": 0, "prometheus_port": 0},'
                ' "log_level": "info"}\n')
    return subprocess.Popen([args.broker, "--config", cfg, "--port", str(port), "--mgmt-port",
                             "0", "--data-dir", data_dir], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log)


def connect(port, deadline):
    while True:
        try:
            c = raw.RawConnection(port, timeout=60.0)
            c.handshake()
            c.open_channel(1)
            return c
        except (OSError, raw.ProtocolError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def declare(c, passive):
    c.send_method(1, raw.QUEUE_DECLARE, raw.queue_declare_args(QUEUE, passive=passive,
                                                               durable=True))
    f = c.expect_method(raw.QUEUE_DECLARE_OK, channel=1, timeout=60.0)
    d = f.args()
    d.shortstr()
    return d.long()


def publish(c, count, size, window):
    body = b"x" * size
    one = b"".join([raw.method_frame(1, raw.BASIC_PUBLISH, raw.basic_publish_args("", QUEUE)),
                    raw.header_frame(1, size, flags=0x1000, props=b"\x02"),  # delivery_mode 2
                    raw.body_frame(1, body)])
    c.send_method(1, raw.CONFIRM_SELECT, raw.bits(False))
    c.expect_method(raw.CONFIRM_SELECT_OK, channel=1)
    sent = confirmed = 0
    batch = 500
    while confirmed < count:
        while sent < count and sent - confirmed < window:
            n = min(batch, count - sent, window - (sent - confirmed))
            c.send(one * n)
            sent += n
        f = c.recv_method(timeout=60.0)
        if f.method_id == raw.BASIC_ACK:
            tag, _ = raw.decode_ack(f)
            confirmed = max(confirmed, tag)
        elif f.method_id == raw.BASIC_NACK:
            raise SystemExit("message nacked: %r" % (raw.decode_ack(f),))
    return confirmed


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for n in files:
            total += os.path.getsize(os.path.join(root, n))
    return total


def main():
    ap = argparse.ArgumentParser(description="leveret end-to-end recovery benchmark")
    ap.add_argument("--broker", default=os.path.join(HERE, "..", "..", "build", "plain",
                                                     "leveret"))
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--signal", choices=("KILL", "TERM"), default="KILL")
    ap.add_argument("--window", type=int, default=20000)
    ap.add_argument("--dir", help="work dir (default: a new one under /var/tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the work dir")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before restart")
    args = ap.parse_args()
    args.broker = os.path.abspath(args.broker)

    work = args.dir or tempfile.mkdtemp(prefix="leveret-recover-", dir="/var/tmp")
    data = os.path.join(work, "data")
    os.makedirs(data, exist_ok=True)
    log_path = os.path.join(work, "broker.log")
    log = open(log_path, "ab")
    port = free_port()
    p = start(args, data, port, log)
    try:
        c = connect(port, time.monotonic() + 10)
        declare(c, passive=False)
        t0 = time.monotonic()
        n = publish(c, args.count, args.size, args.window)
        t_pub = time.monotonic() - t0
        print("published and confirmed %d x %d B in %.1f s (%.0f msg/s)"
              % (n, args.size, t_pub, n / t_pub))
        got = declare(c, passive=True)
        assert got == args.count, got
        p.send_signal(getattr(signal, "SIG" + args.signal))
        p.wait(60)
        c.sock.close()
        print("stopped with SIG%s; store on disk: %.0f MiB"
              % (args.signal, du(os.path.join(data, "msgs")) / 1048576.0))
        if args.cold:
            os.sync()
            with open("/proc/sys/vm/drop_caches", "w") as f:
                f.write("3\n")
        port = free_port()
        t0 = time.monotonic()
        p = start(args, data, port, log)
        c = connect(port, t0 + 120)
        got = declare(c, passive=True)
        t_serve = time.monotonic() - t0
        print("restarted: first passive queue.declare reports %d messages %.2f s after spawn"
              % (got, t_serve))
        if got != args.count:
            print("MISSING %d messages" % (args.count - got))
        print("broker RSS after recovery: %.0f MiB" % (rss_kib(p.pid) / 1024.0))
        c.sock.close()
        p.send_signal(signal.SIGTERM)
        p.wait(60)
        log.flush()
        with open(log_path, errors="replace") as f:
            for line in f:
                if "recovered" in line:
                    last = line.strip()
        print("broker log: " + last)
        return 0 if got == args.count and t_serve < 10.0 else 1
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        if not args.keep and not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
