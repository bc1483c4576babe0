# SPDX-License-Identifier: MIT
"""paging_mem.py: memory per queued message and drain rate with paging (a
benchmark, not a test; not part of make test).

Starts leveret on a fresh data dir with limits.memory_budget = --budget, fills
one queue with --count messages of --size bytes using amqpbench (no consumer),
reads the broker's VmRSS before and after, then drains the queue with one
autoack consumer. Prints the RSS growth per queued message, what the spill
area and the journal hold, the publish and drain rates. Run it once with a
small budget (everything past it paged out) and once with --budget 0 (half the
memory watermark: nothing paged out for these sizes) to compare.

    /usr/bin/python3 tests/bench/paging_mem.py [--broker build/plain/leveret]
        [--count 1000000] [--size 16] [--budget 1000000] [--persistent]
        [--amqpbench ~/.cache/amqpbench/amqpbench]

--persistent publishes delivery-mode 2 messages into a durable queue (paged
out to the journal records once they are written).
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from recover_broker import connect, du, free_port, rss_kib  # noqa: E402

QUEUE = "bench-paging"


def start(args, work, port, log):
    cfg = os.path.join(work, "config.json")
    with open(cfg, "w") as f:
        json.dump({"listeners": {"address": "127.0.0.1", "mgmt_port": 0, "prometheus_port": 0},
                   "log_level": "info", "limits": {"memory_budget": args.budget},
                   "durability": {"sync": "write"}}, f)
    return subprocess.Popen([args.broker, "--config", cfg, "--port", str(port), "--data-dir",
                             os.path.join(work, "data")], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=log)


def bench(args, port, *extra):
    cmd = [args.amqpbench, "--port", str(port), "--queue", QUEUE, "--size", str(args.size),
           "--duration", "600"]
    if args.persistent:
        cmd += ["--persistent", "--durable-queue"]
    out = subprocess.run(cmd + list(extra), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         check=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description="leveret paging memory benchmark")
    ap.add_argument("--broker", default=os.path.join(HERE, "..", "..", "build", "plain",
                                                     "leveret"))
    ap.add_argument("--amqpbench", default=os.path.expanduser("~/.cache/amqpbench/amqpbench"))
    ap.add_argument("--count", type=int, default=1000000)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--budget", type=int, default=1000000)
    ap.add_argument("--persistent", action="store_true")
    args = ap.parse_args()
    args.broker = os.path.abspath(args.broker)

    work = tempfile.mkdtemp(prefix="leveret-paging-", dir="/var/tmp")
    log = open(os.path.join(work, "broker.log"), "ab")
    port = free_port()
    p = start(args, work, port, log)
    try:
        c = connect(port, time.monotonic() + 10)
        c.sock.close()
        rss0 = rss_kib(p.pid)
        pub = bench(args, port, "--publishers", "1", "--consumers", "0", "--pmessages",
                    str(args.count), "--keep-queues", "--confirm", "1000")
        time.sleep(0.5)
        rss1 = rss_kib(p.pid)
        spill = du(os.path.join(work, "data", "spill"))
        journal = du(os.path.join(work, "data", "msgs"))
        drain = bench(args, port, "--publishers", "0", "--consumers", "1", "--autoack",
                      "--drain")
        rss2 = rss_kib(p.pid)
        per = (rss1 - rss0) * 1024.0 / args.count
        print("budget %d B, %d x %d B %s messages" % (args.budget, args.count, args.size,
                                                      "persistent" if args.persistent
                                                      else "transient"))
        print("RSS %.1f MiB at start, %.1f MiB holding them (%.1f bytes per queued message), "
              "%.1f MiB after draining" % (rss0 / 1024.0, rss1 / 1024.0, per, rss2 / 1024.0))
        print("spill area %.1f MiB, journal %.1f MiB" % (spill / 1048576.0, journal / 1048576.0))
        print("publish %.0f msg/s (%d confirmed), drain %.0f msg/s (%d consumed)"
              % (pub["published_per_s"], pub["confirmed"], drain["consumed_per_s"],
                 drain["consumed"]))
        return 0
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
