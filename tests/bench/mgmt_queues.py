#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""mgmt_queues: times GET /api/queues (issue 6: under 200 ms with 10,000 queues).

    tests/bench/mgmt_queues.py --broker build/plain/leveret [--queues 10000] [--runs 10]
        [--path '/api/queues'] [--path '/api/queues?page=1&page_size=100'] ...
    tests/bench/mgmt_queues.py --mgmt-port 15672 ...   (a broker already running)

Starts the broker (unless --mgmt-port names a running one), declares the
queues in one definitions import, optionally publishes a message to each,
then for each path sends one warm-up request and --runs timed ones over a
keep-alive connection and prints the median, min and max in ms, and the body
size. Not a test: numbers depend on the machine."""

import argparse
import base64
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

AUTH = "Basic " + base64.b64encode(b"guest:guest").decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def request(conn, method, path, body=None):
    h = {"Authorization": AUTH, "content-type": "application/json"}
    conn.request(method, path, body=body, headers=h)
    r = conn.getresponse()
    data = r.read()
    return r.status, data


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker")
    ap.add_argument("--mgmt-port", type=int)
    ap.add_argument("--queues", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--publish", action="store_true", help="one message in each queue")
    ap.add_argument("--path", action="append")
    args = ap.parse_args()
    paths = args.path or ["/api/queues"]

    proc = None
    port = args.mgmt_port
    if port is None:
        tmp = tempfile.mkdtemp(prefix="mgmt-bench-")
        port = free_port()
        cfg = os.path.join(tmp, "config.json")
        with open(cfg, "w") as f:
            json.dump({"listeners": {"address": "127.0.0.1", "mgmt_address": "127.0.0.1",
                                     "prometheus_port": 0}, "log_level": "warning"}, f)
        proc = subprocess.Popen([os.path.abspath(args.broker), "--config", cfg, "--port", str(free_port()),
                                 "--mgmt-port", str(port), "--data-dir",
                                 os.path.join(tmp, "data")], cwd=tmp)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        defs = {"queues": [{"name": "q%05d" % i, "vhost": "/", "durable": True,
                            "auto_delete": False, "arguments": {}}
                           for i in range(args.queues)]}
        st, body = request(conn, "POST", "/api/definitions", json.dumps(defs))
        assert st == 204, (st, body)
        if args.publish:
            for i in range(args.queues):
                st, _ = request(conn, "POST", "/api/exchanges/%2F/amq.default/publish",
                                json.dumps({"routing_key": "q%05d" % i, "payload": "x",
                                            "payload_encoding": "string", "properties": {}}))
        for path in paths:
            st, body = request(conn, "GET", path)  # warm-up
            assert st == 200, (st, body[:200])
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                st, body = request(conn, "GET", path)
                times.append((time.perf_counter() - t0) * 1000)
                assert st == 200
            print("%-60s median %7.1f ms  min %7.1f  max %7.1f  body %d bytes" % (
                path, statistics.median(times), min(times), max(times), len(body)))
    finally:
        if proc:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
