# SPDX-License-Identifier: MIT
"""71 crash under load (issue 5 item 8): kill -9 the broker repeatedly while
several publishers publish persistent messages with confirms and several
consumers consume with manual acks, and check what survives.

Each round starts 3 publishers and 3 consumers (tests/blackbox/clients/crashload.c,
rabbitmq-c, one process each) against the durable direct exchange crash.x, whose
keys route a message to the durable queue crash.a, crash.b or both. After a
random time (seeded) the broker gets SIGKILL; the clients log everything they
saw until their connection died; the broker is restarted on the same data dir.
After the last round the queues are drained with basic.get. What must hold:

- after each restart, every queue holds at least the confirmed messages not
  yet delivered-and-acked, and at most the published ones not known acked;
- every confirmed message, in every queue it was routed to, is finally either
  drained or delivered and acked (an ack is "possibly done" once sent; it is
  "known done" when a persistent message the consumer published on the same
  channel after it was confirmed: the broker handles a connection's frames in
  order and syncs its store in order);
- a message whose ack was known done never comes back; one whose ack was only
  possibly done may come back, flagged redelivered;
- a message is never delivered twice without the redelivered flag on the later
  delivery, and never twice in one round (nothing was requeued in between);
- every delivery is a message some publisher sent, intact, from a queue its key
  routes to, and no publisher is ever nacked;
- each consumer gets each publisher's messages in publish order, and on a queue
  with one consumer the first deliveries stay in publish order across rounds.

The seed is printed with any failure; LEVERET_CRASH_SEED=N repeats its choices
(not the timing of the kills relative to the load, which the machine decides);
LEVERET_CRASH_VERBOSE=1 prints what each round confirmed, delivered and left.
"""

import os
import random
import signal
import subprocess
import time
import unittest

import pika

from harness import SETTINGS, sanitizer_env, sanitizer_report, time_scale
from pikakit import PikaTestCase

ROUNDS = 5
PUBLISHERS = 3
WINDOW = 64    # unconfirmed messages per publisher
RATE = 1500    # messages per second per publisher
# (queue, prefetch, percent of deliveries acked by a later ack multiple=true, deliveries
# per second): slower than the publishers, so that backlogs build up across rounds.
CONSUMERS = [("crash.a", 50, 0, 700), ("crash.a", 20, 100, 700), ("crash.b", 100, 50, 1200)]
QUEUES = ("crash.a", "crash.b")
KEYS = ("a", "b", "a", "b", "ab")


def crash_key(pub, seq):
    """The routing key of message pub:seq (crash_key in crashload.c)."""
    return KEYS[(seq * 7 + pub) % 5]


def routes(key):
    return {"a": ("crash.a",), "b": ("crash.b",), "ab": ("crash.a", "crash.b")}[key]


class Delivery:
    __slots__ = ("round", "who", "redelivered", "acked")

    def __init__(self, rnd, who, redelivered):
        self.round = rnd
        self.who = who
        self.redelivered = redelivered
        self.acked = False  # an ack covering it was (possibly) sent


class Ledger:
    """What the clients logged, and the checks on it. A key is (pub, seq)."""

    def __init__(self):
        self.sent_upto = [0] * PUBLISHERS      # last seq handed to basic_publish
        self.confirmed = set()                 # keys
        self.deliveries = {}                   # (queue, key) -> [Delivery]
        self.durable_acked = set()             # (queue, key) acked before a confirmed sync
        self.first_max = {}                    # (queue, pub) -> highest seq first delivered
        self.errors = []

    def fail(self, text):
        if len(self.errors) < 30:
            self.errors.append(text)

    # -- publishers --

    def publisher(self, rnd, pub, first, lines):
        n_conf = 0
        if not lines or lines[0] != "R":
            self.fail("round %d publisher %d did not start: %r" % (rnd, pub, lines[:3]))
        end = [ln for ln in lines if ln.startswith("E ")]
        if not end:
            self.fail("round %d publisher %d has no exit line" % (rnd, pub))
            return 0
        last = int(end[-1].split()[1])
        self.sent_upto[pub] = max(self.sent_upto[pub], last)
        count = last - first + 1
        done = bytearray(count + 1)  # by delivery tag
        low = 1
        for ln in lines:
            kind = ln[0]
            if kind not in "AN":
                continue
            _, tag, multiple = ln.split()
            tag = int(tag)
            if kind == "N":
                self.fail("round %d publisher %d: basic.nack %s" % (rnd, pub, ln))
                continue
            if tag > count:
                self.fail("round %d publisher %d: ack of tag %d, only %d published"
                          % (rnd, pub, tag, count))
                continue
            tags = range(low, tag + 1) if multiple == "1" else (tag,)
            for t in tags:
                if not done[t]:
                    done[t] = 1
                    self.confirmed.add((pub, first + t - 1))
                    n_conf += 1
            while low <= count and done[low]:
                low += 1
        return n_conf

    # -- consumers (and the final drain) --

    def consumer(self, rnd, who, queue, lines, drain=False):
        """Returns the number of deliveries."""
        if not drain and (not lines or lines[0] != "R"):
            self.fail("round %d consumer %s did not start: %r" % (rnd, who, lines[:3]))
        unacked = {}          # delivery tag -> (queue, key), in delivery order
        acked_order = []      # (queue, key) in the order acks were sent
        sync_at = {}          # sync message number -> len(acked_order) when published
        last_seq = {}         # pub -> last seq delivered to this consumer
        n = 0
        for ln in lines:
            kind = ln[0]
            if kind == "D":
                _, tag, red, pub, seq, key = ln.split()
                tag, red, pub, seq = int(tag), red == "1", int(pub), int(seq)
                k = (pub, seq)
                n += 1
                self.delivered(rnd, who, queue, k, key, red)
                if last_seq.get(pub, -1) >= seq:
                    self.fail("%s round %d: %s got %d:%d after %d:%d (publish order broken)"
                              % (queue, rnd, who, pub, seq, pub, last_seq[pub]))
                last_seq[pub] = seq
                if drain:
                    self.deliveries[(queue, k)][-1].acked = True  # basic.get no-ack
                else:
                    unacked[tag] = (queue, k)
            elif kind == "X":
                self.fail("%s round %d: %s got a body nobody published: %s"
                          % (queue, rnd, who, ln))
            elif kind == "K":
                _, tag, multiple = ln.split()
                tag = int(tag)
                covered = [t for t in unacked if t <= tag] if multiple == "1" else [tag]
                for t in covered:
                    qk = unacked.pop(t, None)
                    if qk is None:
                        self.fail("%s round %d: %s acked unknown tag %d" % (queue, rnd, who, t))
                        continue
                    self.deliveries[qk][-1].acked = True
                    acked_order.append(qk)
            elif kind == "b":
                sync_at[int(ln.split()[1])] = len(acked_order)
            elif kind == "B":
                for qk in acked_order[:sync_at[int(ln.split()[1])]]:
                    self.durable_acked.add(qk)
        return n

    def delivered(self, rnd, who, queue, k, key, red):
        pub, seq = k
        if not (0 <= pub < PUBLISHERS) or seq < 1 or seq > self.sent_upto[pub]:
            self.fail("%s round %d: %s got %d:%d, never published" % (queue, rnd, who, pub, seq))
            return
        if key != crash_key(pub, seq) or queue not in routes(key):
            self.fail("%s round %d: %s got %d:%d (key %s) from the wrong queue"
                      % (queue, rnd, who, pub, seq, key))
        qk = (queue, k)
        prev = self.deliveries.setdefault(qk, [])
        if prev:
            p = prev[-1]
            if p.round == rnd:
                self.fail("%s round %d: %d:%d delivered twice in one round (%s, then %s)"
                          % (queue, rnd, pub, seq, p.who, who))
            if not red:
                self.fail("%s round %d: %d:%d delivered again (first in round %d) without "
                          "the redelivered flag" % (queue, rnd, pub, seq, prev[0].round))
            if qk in self.durable_acked:
                self.fail("%s round %d: %d:%d came back although its ack was on disk "
                          "(acked in round %d)" % (queue, rnd, pub, seq, p.round))
        prev.append(Delivery(rnd, who, red))

    def first_order(self, rnd, queue, lines):
        """On a queue with a single consumer: first deliveries of round rnd come after
        every first delivery of earlier rounds, per publisher."""
        seen = {}
        for ln in lines:
            if ln[0] != "D":
                continue
            _, _, _, pub, seq, _ = ln.split()
            pub, seq = int(pub), int(seq)
            d = self.deliveries.get((queue, (pub, seq)))
            if not d or d[0].round != rnd:
                continue  # not its first delivery (or not a message at all: reported)
            lo = self.first_max.get((queue, pub), 0)
            if seq <= lo:
                self.fail("%s round %d: first delivery of %d:%d after %d:%d was first delivered"
                          " in an earlier round" % (queue, rnd, pub, seq, pub, lo))
            seen[pub] = max(seen.get(pub, 0), seq)
        for pub, seq in seen.items():
            self.first_max[(queue, pub)] = max(self.first_max.get((queue, pub), 0), seq)

    # -- queue contents --

    def bounds(self, queue):
        """(must, may): how many messages queue must and may hold now."""
        must = may = 0
        for pub in range(PUBLISHERS):
            for seq in range(1, self.sent_upto[pub] + 1):
                k = (pub, seq)
                if queue not in routes(crash_key(pub, seq)):
                    continue
                qk = (queue, k)
                if qk in self.durable_acked:
                    continue
                may += 1
                d = self.deliveries.get(qk)
                if k in self.confirmed and (not d or not d[-1].acked):
                    must += 1
        return must, may

    def final(self):
        """After the drain: every confirmed message was drained or delivered and acked."""
        lost = []
        for k in sorted(self.confirmed):
            for queue in routes(crash_key(*k)):
                d = self.deliveries.get((queue, k))
                if not d:
                    lost.append("%s: confirmed %d:%d never delivered nor drained" % ((queue,) + k))
                elif not d[-1].acked:
                    lost.append("%s: confirmed %d:%d last delivered in round %d to %s, not acked, "
                                "and never seen again" % ((queue,) + k + (d[-1].round, d[-1].who)))
        for text in lost[:20]:
            self.fail(text)
        if len(lost) > 20:
            self.fail("... %d lost in all" % len(lost))


class CrashUnderLoad(PikaTestCase):
    def setUp(self):
        if not SETTINGS["clients"]:
            raise unittest.SkipTest("no --clients directory given")
        self.load = os.path.join(SETTINGS["clients"], "crashload")
        if not os.access(self.load, os.X_OK):
            self.fail("client %s not built" % self.load)
        super().setUp()

    def spawn(self, tag, args):
        out = os.path.join(self.broker.tmp, tag + ".out")
        err = os.path.join(self.broker.tmp, tag + ".err")
        with open(out, "wb") as fo, open(err, "wb") as fe:
            p = subprocess.Popen([self.load] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                                 stdout=fo, stderr=fe, env=sanitizer_env())
        p.out, p.err, p.tag = out, err, tag
        return p

    @staticmethod
    def lines(p):
        with open(p.out, "rb") as f:
            return f.read().decode("ascii", "replace").splitlines()

    def finish(self, procs, timeout):
        """Waits for every client; returns {tag: lines}."""
        out = {}
        deadline = time.monotonic() + timeout * time_scale()
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.fail("client %s still running after the broker died" % p.tag)
            with open(p.err, "rb") as f:
                err = f.read().decode("utf-8", "replace")
            self.assertIsNone(sanitizer_report(err), "sanitizer report in %s:\n%s" % (p.tag, err))
            self.assertIn(p.returncode, (0,), "%s exited %s: %s" % (p.tag, p.returncode, err))
            out[p.tag] = self.lines(p)
        return out

    def wait_ready(self, procs):
        deadline = time.monotonic() + 10 * time_scale()
        for p in procs:
            while True:
                ls = self.lines(p)
                if ls and ls[0] == "R":
                    break
                if p.poll() is not None or time.monotonic() > deadline:
                    self.fail("client %s did not start: %r" % (p.tag, ls[:3]))
                time.sleep(0.01)

    def declare(self):
        ch = self.channel()
        ch.exchange_declare("crash.x", "direct", durable=True)
        for q in QUEUES:
            ch.queue_declare(q, durable=True)
        ch.queue_bind("crash.a", "crash.x", "a")
        ch.queue_bind("crash.b", "crash.x", "b")
        ch.queue_bind("crash.a", "crash.x", "ab")
        ch.queue_bind("crash.b", "crash.x", "ab")
        ch.queue_declare("crash.sync", durable=True, arguments={"x-max-length": 100})
        ch.connection.close()

    def counts(self):
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            "127.0.0.1", self.broker.port, heartbeat=0, socket_timeout=10,
            blocked_connection_timeout=None))
        try:
            ch = conn.channel()
            return {q: ch.queue_declare(q, passive=True).method.message_count for q in QUEUES}
        finally:
            conn.close()

    def test_sigkill_under_load_loses_no_confirmed_message(self):
        seed = int(os.environ.get("LEVERET_CRASH_SEED") or random.SystemRandom().randrange(1 << 31))
        try:
            self.run_rounds(seed)
        except AssertionError as e:
            raise AssertionError("seed %d (LEVERET_CRASH_SEED=%d repeats its choices):\n%s"
                                 % (seed, seed, e)) from None

    def run_rounds(self, seed):
        rng = random.Random(seed)
        led = Ledger()
        self.declare()
        host = "127.0.0.1"
        summary = []
        for rnd in range(1, ROUNDS + 1):
            port = self.broker.port
            pubs = []
            for pub in range(PUBLISHERS):
                first = led.sent_upto[pub] + 1
                pubs.append((pub, first, self.spawn("r%d-pub%d" % (rnd, pub),
                                                    ["pub", host, port, pub, first, WINDOW, RATE])))
            subs = []
            for i, (queue, prefetch, multi, rate) in enumerate(CONSUMERS):
                subs.append((queue, self.spawn("r%d-sub%d" % (rnd, i),
                                               ["sub", host, port, queue, prefetch, multi, rate,
                                                rng.randrange(1 << 30)])))
            procs = [p for _, _, p in pubs] + [p for _, p in subs]
            try:
                self.wait_ready(procs)
                time.sleep(rng.uniform(0.3, 2.0))
                self.broker.restart(signal.SIGKILL)
                out = self.finish(procs, 10.0)
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            n_conf = sum(led.publisher(rnd, pub, first, out[p.tag]) for pub, first, p in pubs)
            n_dlv = 0
            for queue, p in subs:
                n_dlv += led.consumer(rnd, p.tag, queue, out[p.tag])
            for queue in QUEUES:
                mine = [out[p.tag] for q, p in subs if q == queue]
                if len(mine) == 1:
                    led.first_order(rnd, queue, mine[0])
            # What the restarted broker holds.
            got = self.counts()
            for queue in QUEUES:
                must, may = led.bounds(queue)
                if not must <= got[queue] <= may:
                    led.fail("after restart %d, %s holds %d messages; it must hold at least %d "
                             "(confirmed, not acked) and at most %d (published, not known acked)"
                             % (rnd, queue, got[queue], must, may))
            summary.append("round %d: %d confirmed, %d delivered, queues %r"
                           % (rnd, n_conf, n_dlv, got))
            if led.errors:
                self.fail("\n".join(summary + led.errors))
        # Drain what is left.
        drained = 0
        for queue in QUEUES:
            p = self.spawn("drain-" + queue, ["drain", host, self.broker.port, queue])
            lines = self.finish([p], 60.0)[p.tag]
            self.assertEqual(lines[-1:], ["E empty"], lines[-3:])
            drained += led.consumer(ROUNDS + 1, p.tag, queue, lines, drain=True)
            if queue == "crash.b":
                led.first_order(ROUNDS + 1, queue, lines)
        self.assertEqual(self.counts(), {q: 0 for q in QUEUES})
        led.final()
        summary.append("drained %d; %d messages confirmed in all" % (drained, len(led.confirmed)))
        if led.errors:
            self.fail("\n".join(summary + led.errors))
        if os.environ.get("LEVERET_CRASH_VERBOSE"):
            print("\n".join(summary + ["durable acks: %d" % len(led.durable_acked)]))
        # Sanity: the load did what it is for.
        self.assertGreater(len(led.confirmed), 1000, "\n".join(summary))
        self.assertTrue(led.durable_acked, "no ack was ever known to be on disk")
