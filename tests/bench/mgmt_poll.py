#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mgmt_poll: the management load of issue 6's benchmark, next to
../shared/bench/compare.sh: waits for the management port, declares --queues
queues (a definitions import; again whenever the broker was restarted), and
with --interval polls GET /api/queues that often until killed. Prints one line
per minute: requests made, median and max time.

    tests/bench/mgmt_poll.py --mgmt-port 15699 --queues 1000 [--interval 0.1]
"""

import argparse
import base64
import http.client
import json
import statistics
import sys
import time

AUTH = {"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode(),
        "content-type": "application/json"}


def call(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=AUTH)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def ensure_queues(port, n):
    st, body = call(port, "GET", "/api/queues?disable_stats=true&columns=name")
    if st == 200 and len(json.loads(body)) >= n:
        return
    defs = {"queues": [{"name": "poll-%04d" % i, "vhost": "/", "durable": False,
                        "auto_delete": False, "arguments": {}} for i in range(n)]}
    st, body = call(port, "POST", "/api/definitions", json.dumps(defs))
    if st != 204:
        raise RuntimeError("definitions import: %s %s" % (st, body[:200]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mgmt-port", type=int, required=True)
    ap.add_argument("--queues", type=int, default=1000)
    ap.add_argument("--interval", type=float, default=0, help="seconds; 0: declare only")
    args = ap.parse_args()
    times, last_report = [], time.monotonic()
    while True:
        t0 = time.monotonic()
        try:
            if args.interval:
                st, body = call(args.mgmt_port, "GET", "/api/queues")
                times.append((time.monotonic() - t0) * 1000)
                if st != 200 or len(json.loads(body)) < args.queues:
                    ensure_queues(args.mgmt_port, args.queues)
            else:
                ensure_queues(args.mgmt_port, args.queues)
        except (OSError, RuntimeError, http.client.HTTPException, ValueError):
            pass  # the broker is not up (yet, or between restarts)
        if times and time.monotonic() - last_report >= 60:
            print("mgmt_poll: %d requests, median %.1f ms, max %.1f ms"
                  % (len(times), statistics.median(times), max(times)), flush=True)
            times, last_report = [], time.monotonic()
        time.sleep(max(0.0, (args.interval or 1.0) - (time.monotonic() - t0)))


if __name__ == "__main__":
    sys.exit(main())
