# SPDX-License-Identifier: MIT
"""run.py: the black-box test runner.

    python3 tests/blackbox/run.py --broker build/plain/leveret [--sanitized]
        [--clients build/plain/clients] [-k SUBSTRING]... [-j N] [--list] [--keep]
    python3 tests/blackbox/run.py --rabbitmq 5672:15672 [-k SUBSTRING]...

The second form checks the tests themselves against a real RabbitMQ.

Loads tests/blackbox/[0-9][0-9]_*.py, runs every unittest test in them (and any
module-level test_* function), each with its own broker, N at a time. Prints
one line per test, the traceback and the broker's stderr for each failure, and
finally exactly "blackbox: P passed, F failed". Exits 1 if anything failed,
2 on a usage problem or when no test was selected.
"""

import argparse
import concurrent.futures
import glob
import importlib.util
import logging
import os
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

MAX_LOG_LINES = 150


def load_modules():
    mods = []
    for path in sorted(glob.glob(os.path.join(HERE, "[0-9][0-9]_*.py"))):
        stem = os.path.splitext(os.path.basename(path))[0]
        spec = importlib.util.spec_from_file_location(stem, path)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[stem] = mod
        spec.loader.exec_module(mod)
        mods.append((stem, mod))
    return mods


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


def collect(mods):
    """[(test_id, TestCase)] in file order."""
    loader = unittest.TestLoader()
    out = []
    for stem, mod in mods:
        for t in flatten(loader.loadTestsFromModule(mod)):
            if isinstance(t, unittest.loader._FailedTest):
                out.append(("%s.%s" % (stem, t.id()), t))
                continue
            cls = type(t).__name__
            out.append(("%s.%s.%s" % (stem, cls, t._testMethodName), t))
        for name in sorted(dir(mod)):
            fn = getattr(mod, name)
            if name.startswith("test_") and callable(fn) and not isinstance(fn, type):
                out.append(("%s.%s" % (stem, name), unittest.FunctionTestCase(fn)))
    return out


def tail(text, n=MAX_LOG_LINES):
    lines = text.rstrip("\n").split("\n")
    if len(lines) > n:
        return "[... %d earlier lines ...]\n" % (len(lines) - n) + "\n".join(lines[-n:])
    return "\n".join(lines)


class Outcome:
    def __init__(self, test_id):
        self.test_id = test_id
        self.status = "PASS"
        self.details = []
        self.seconds = 0.0
        self.logs = []


def run_one(test_id, test, started, verbose):
    out = Outcome(test_id)
    started[test_id] = (time.monotonic(), test)
    result = unittest.TestResult()
    t0 = time.monotonic()
    try:
        test.run(result)
    except Exception:
        result.errors.append((test, traceback.format_exc()))
    out.seconds = time.monotonic() - t0
    problems = result.errors + result.failures
    if problems or result.unexpectedSuccesses:
        out.status = "FAIL"
        for _, tb in problems:
            out.details.append(tb)
        for _ in result.unexpectedSuccesses:
            out.details.append("unexpected success\n")
    elif result.skipped:
        out.status = "SKIP"
        out.details = [reason for _, reason in result.skipped]
    if hasattr(test, "broker_logs") and (out.status == "FAIL" or verbose):
        try:
            out.logs = test.broker_logs()
        except Exception:
            out.logs = [("broker", "(could not read stderr: %s)" % traceback.format_exc())]
    if hasattr(test, "cleanup_brokers"):
        test.cleanup_brokers()
    started.pop(test_id, None)
    return out


def report(o, lock):
    with lock:
        if o.status == "SKIP":
            print("SKIP  %s  (%s)" % (o.test_id, "; ".join(o.details)), flush=True)
            return
        print("%s  %s  %.2fs" % (o.status, o.test_id, o.seconds), flush=True)
        for d in o.details:
            print("    " + d.rstrip("\n").replace("\n", "\n    "))
        for name, text in o.logs:
            print("    ---- %s stderr ----" % name)
            body = tail(text) if text.strip() else "(empty)"
            print("    " + body.replace("\n", "\n    "))
            print("    ---- end of %s stderr ----" % name, flush=True)


def main():
    ap = argparse.ArgumentParser(description="Leveret black-box tests")
    ap.add_argument("--broker", help="path of the leveret binary")
    ap.add_argument("--sanitized", action="store_true",
                    help="the broker is an ASan/UBSan build: set *SAN_OPTIONS, longer timeouts")
    ap.add_argument("--clients", help="directory of the built C test clients")
    ap.add_argument("--rabbitmq", metavar="PORT:MGMT_PORT",
                    help="check the tests themselves against a RabbitMQ already running on "
                         "127.0.0.1 (guest/guest, management plugin on MGMT_PORT) instead "
                         "of starting the broker; implies -j 1 and skips the tests that need "
                         "their own broker config or signal the broker")
    ap.add_argument("-k", action="append", default=[], metavar="SUBSTRING",
                    help="run only tests whose id contains SUBSTRING (repeatable: any)")
    ap.add_argument("-j", type=int, default=4, metavar="N", help="tests run at once (4)")
    ap.add_argument("--timeout", type=float, default=90.0,
                    help="seconds after which one test is reported as hung (90)")
    ap.add_argument("--list", action="store_true", help="list the selected tests and exit")
    ap.add_argument("--keep", action="store_true", help="keep the brokers' temp dirs")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="print broker stderr for passing tests too")
    args = ap.parse_args()

    broker = os.path.abspath(args.broker or "")
    if args.rabbitmq:
        amqp_port, mgmt_port = (int(x) for x in args.rabbitmq.split(":"))
        harness.SETTINGS["external"] = (amqp_port, mgmt_port)
        args.j = 1
    elif not (os.path.isfile(broker) and os.access(broker, os.X_OK)):
        print("run.py: broker binary %s not found or not executable" % broker, file=sys.stderr)
        return 2
    harness.SETTINGS["broker"] = broker
    harness.SETTINGS["sanitized"] = args.sanitized
    harness.SETTINGS["clients"] = os.path.abspath(args.clients) if args.clients else None
    harness.SETTINGS["keep"] = args.keep
    logging.getLogger("pika").setLevel(logging.CRITICAL + 1)

    tests = collect(load_modules())
    if args.k:
        tests = [(i, t) for i, t in tests if any(k in i for k in args.k)]
    if args.list:
        for i, _ in tests:
            print(i)
        return 0
    if not tests:
        print("run.py: no test selected", file=sys.stderr)
        return 2

    lock = threading.Lock()
    started = {}
    outcomes = []
    timeout = args.timeout * harness.time_scale()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.j))
    futures = {pool.submit(run_one, i, t, started, args.verbose): i for i, t in tests}
    pending = set(futures)
    hung = []
    t0 = time.monotonic()
    while pending:
        done, pending = concurrent.futures.wait(
            pending, timeout=1.0, return_when=concurrent.futures.FIRST_COMPLETED)
        for f in done:
            if futures[f] in hung:
                continue  # already reported as hung
            o = f.result()
            outcomes.append(o)
            report(o, lock)
        now = time.monotonic()
        for tid, (since, test) in list(started.items()):
            if now - since > timeout:
                started.pop(tid, None)
                o = Outcome(tid)
                o.status = "FAIL"
                o.seconds = now - since
                o.details = ["test still running after %.0fs: reported as hung" % timeout]
                if hasattr(test, "broker_logs"):
                    o.logs = test.broker_logs()
                outcomes.append(o)
                hung.append(tid)
                report(o, lock)
                for b in getattr(test, "brokers", []):
                    b.kill()
        if hung and all(futures[f] in hung for f in pending):
            break

    failed = [o for o in outcomes if o.status == "FAIL"]
    passed = [o for o in outcomes if o.status == "PASS"]
    skipped = [o for o in outcomes if o.status == "SKIP"]
    if failed:
        print("failed tests:")
        for o in sorted(failed, key=lambda o: o.test_id):
            print("    " + o.test_id)
    if skipped:
        print("blackbox: %d skipped" % len(skipped))
    print("blackbox: wall time %.1fs" % (time.monotonic() - t0))
    print("blackbox: %d passed, %d failed" % (len(passed), len(failed)), flush=True)
    rc = 1 if failed else 0
    if hung:
        with harness._live_lock:
            for p in list(harness.LIVE):
                if p.poll() is None:
                    p.kill()
        os._exit(rc)  # hung worker threads cannot be joined
    pool.shutdown(wait=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
