#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""client_cpu.py: how much CPU the load generator itself used, per broker port.

Run it beside ../shared/bench/compare.sh (not a test). It polls /proc every
0.1 s for amqpbench processes, keeps the last CPU time (user + system) seen for
each, and on SIGINT/SIGTERM (or after --seconds) prints, per --port the
processes were given, the client CPU seconds, the wall time they ran, and the
cores they used on average. With compare.sh's consumed counts this tells
whether a scenario is bound by the generator: on a 2-core machine, broker
cores + client cores near 2.0 means the machine, not the broker, is the limit.

    tests/bench/client_cpu.py --seconds 600 > /tmp/client_cpu.txt &
    ../shared/bench/compare.sh --scenarios size-64k ...
"""

import argparse
import os
import signal
import time

TICK = os.sysconf("SC_CLK_TCK")


def scan(seen):
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
            if not argv or not argv[0].endswith(b"amqpbench"):
                continue
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        port = "?"
        for i, a in enumerate(argv[:-1]):
            if a == b"--port":
                port = argv[i + 1].decode()
        now = time.monotonic()
        rec = seen.setdefault(int(pid), {"port": port, "first": now, "cpu": 0.0})
        rec["cpu"] = max(rec["cpu"], cpu)
        rec["last"] = now


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3600)
    args = ap.parse_args()
    seen, stop = {}, []
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, lambda *_: stop.append(1))
    end = time.monotonic() + args.seconds
    while not stop and time.monotonic() < end:
        scan(seen)
        time.sleep(0.1)
    per = {}
    for pid, r in sorted(seen.items()):
        wall = r.get("last", r["first"]) - r["first"]
        print("pid %d port %s cpu %.2f s wall %.1f s cores %.2f"
              % (pid, r["port"], r["cpu"], wall, r["cpu"] / wall if wall > 0 else 0))
        p = per.setdefault(r["port"], [0.0, 0.0])
        p[0] += r["cpu"]
        p[1] += wall
    for port, (cpu, wall) in per.items():
        print("port %s: client cpu %.1f s over %.1f s of runs = %.2f cores"
              % (port, cpu, wall, cpu / wall if wall else 0))


if __name__ == "__main__":
    main()
