# SPDX-License-Identifier: MIT
"""72 bounded memory (issue 5 item 6): message bytes past limits.memory_budget are
paged out to disk, so a backlog far larger than the budget is accepted without
throttling the publisher and delivered in order, byte for byte.

With a 1 MB budget: tens of MB of persistent and transient messages in durable and
non-durable queues, no consumer, every publish confirmed while the broker's
resident memory stays far below the backlog; then everything consumed in order
with its content intact; after a restart persistent messages come back (their
bytes read from the journal), transient ones do not, and the spill area is empty;
priority order, requeue after a channel close, basic.get, peek, TTL expiry into a
dead-letter queue, and the management fields (messages_paged_out, ...).
"""

import base64
import os
import random
import signal
import time
import urllib.parse

import pika

import mgmtkit
import raw
from harness import SETTINGS, Broker
from pikakit import PikaTestCase

BUDGET = 1000000
PERSISTENT_FLAGS = 0x1000  # delivery-mode (basic properties flag word)
PRIORITY_FLAGS = 0x0800


def body_of(i, size):
    """Message i's body: its number, then bytes that depend on it."""
    return b"%08d" % i + random.Random(i).randbytes(size - 8)


def size_of(i):
    """Sizes from 1 KiB to 64 KiB, deterministic per message."""
    return 1024 << (i % 7)


def props(persistent=False, priority=None):
    flags, data = 0, b""
    if persistent:
        flags |= PERSISTENT_FLAGS
        data += raw.octet(2)
    if priority is not None:
        flags |= PRIORITY_FLAGS
        data += raw.octet(priority)
    return flags, data


def publish_confirmed(port, items, window=256, timeout=60.0):
    """Publishes (queue, body, (flags, props)) items on one connection with
    publisher confirms and at most `window` unconfirmed; returns the seconds it
    took once every one is acked. Fails on a nack, a connection.blocked, or a
    publisher the broker stops reading (socket timeout)."""
    c = raw.RawConnection(port, timeout=timeout)
    try:
        fmax = c.handshake()["tuned"]["frame_max"]
        c.open_channel(1)
        c.send_method(1, raw.CONFIRM_SELECT, raw.bits(False))
        c.expect_method(raw.CONFIRM_SELECT_OK, channel=1)
        t0 = time.monotonic()
        sent = acked = 0

        def read_one():
            f = c.recv_method(timeout=timeout)
            if f.method_id == raw.BASIC_ACK:
                tag, _ = raw.decode_ack(f)
                return max(acked, tag)
            raise AssertionError("publisher got %r instead of basic.ack" % (f,))

        for q, body, (flags, pdata) in items:
            while sent - acked >= window:
                acked = read_one()
            out = [raw.method_frame(1, raw.BASIC_PUBLISH, raw.basic_publish_args("", q)),
                   raw.header_frame(1, len(body), flags=flags, props=pdata)]
            step = fmax - 8
            for k in range(0, len(body), step):
                out.append(raw.body_frame(1, body[k:k + step]))
            c.send(b"".join(out))
            sent += 1
        while acked < sent:
            acked = read_one()
        return time.monotonic() - t0
    finally:
        c.sock.close()


class PagingCase(PikaTestCase, mgmtkit.MgmtTestCase):
    CONFIG = {"limits": {"memory_budget": BUDGET}, "durability": {"sync": "write"}}

    def setUp(self):
        super().setUp()
        self.base_rss = self.rss()[0]

    def assertRssGrowthBelow(self, limit, what):
        """The broker's RSS grew by less than limit since the test started;
        returns the peak RSS (None when not checked). Not under ASan, whose
        quarantine keeps freed memory resident on purpose."""
        if SETTINGS["sanitized"]:
            return
        rss, peak = self.rss()
        self.assertLess(rss - self.base_rss, limit,
                        "RSS %d (%d at start) %s" % (rss, self.base_rss, what))
        return peak

    def rss(self):
        """Resident and peak resident set of the broker, in bytes."""
        out = {}
        with open("/proc/%d/status" % self.broker.proc.pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
        return out["VmRSS"], out["VmHWM"]

    def spill_files(self):
        d = os.path.join(self.broker.data_dir, "spill")
        return {n: os.path.getsize(os.path.join(d, n)) for n in os.listdir(d)}

    def queue_info(self, name):
        return self.get("queues/%2F/" + urllib.parse.quote(name, safe=""))

    def consume_all(self, queue, n, prefetch=200, timeout=60.0):
        """Consumes n messages with manual acks; returns their bodies in order."""
        conn = self.connect()
        ch = conn.channel()
        ch.basic_qos(prefetch_count=prefetch)
        got = []

        def on(c, m, p, b):
            got.append(b)
            c.basic_ack(m.delivery_tag)

        tag = ch.basic_consume(queue, on)
        self.assertTrue(self.pump_until(conn, lambda: len(got) >= n, timeout),
                        "got %d of %d from %s" % (len(got), n, queue))
        ch.basic_cancel(tag)
        conn.close()
        return got

    def assertBodies(self, got, numbers):
        self.assertEqual(len(got), len(numbers))
        for b, i in zip(got, numbers):
            want = body_of(i, size_of(i))
            if b != want:
                self.fail("message %d: got %d bytes starting %r, want %d bytes" %
                          (i, len(b), b[:8], len(want)))


class Backlog(PagingCase):
    def test_backlog_far_over_the_budget_is_accepted_and_delivered_intact(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        ch.queue_declare("tq", durable=False)
        # ~50 MB: persistent and transient messages in both queues, 50x the budget.
        n = 2800
        items = []
        for i in range(n):
            q = "dq" if i % 2 == 0 else "tq"
            items.append((q, body_of(i, size_of(i)), props(persistent=(i % 4) < 2)))
        total = sum(len(b) for _, b, _ in items)
        self.assertGreater(total, 40 * BUDGET)
        publish_confirmed(self.broker.port, items)
        # Everything is queued, nothing is in memory past the budget: the
        # broker grew by a fraction of the backlog, at its peak too.
        self.assertEqual(self.message_count("dq") + self.message_count("tq"), n)
        peak = self.assertRssGrowthBelow(total / 5, "for a %d-byte backlog" % total)
        if peak is not None:
            self.assertLess(peak - self.base_rss, total / 4,
                            "peak RSS %d (%d at start) for a %d-byte backlog" %
                            (peak, self.base_rss, total))
        info = self.queue_info("tq")
        self.assertGreater(info["messages_paged_out"], n // 4)
        self.assertLessEqual(info["message_bytes_ram"], BUDGET)
        # Transient bytes went to the spill area.
        self.assertGreater(sum(self.spill_files().values()), 0)
        self.assertBodies(self.consume_all("dq", n // 2), list(range(0, n, 2)))
        self.assertBodies(self.consume_all("tq", n // 2), list(range(1, n, 2)))
        # Everything read back and settled: the spill area is empty again.
        self.assertEqual(sum(self.spill_files().values()), 0)
        info = self.queue_info("tq")
        self.assertEqual(info["messages_paged_out"], 0)
        self.assertEqual(info["message_bytes_paged_out"], 0)

    def test_basic_get_reads_paged_out_messages_back_in_order(self):
        ch = self.channel()
        ch.queue_declare("q")
        n = 600
        publish_confirmed(self.broker.port,
                          [("q", body_of(i, size_of(i)), props()) for i in range(n)])
        self.assertGreater(self.queue_info("q")["messages_paged_out"], 0)
        got = []
        for _ in range(n):
            m, _, b = ch.basic_get("q", auto_ack=False)
            self.assertIsNotNone(m)
            got.append(b)
            ch.basic_ack(m.delivery_tag)
        self.assertIsNone(ch.basic_get("q")[0])
        self.assertBodies(got, list(range(n)))


class DefaultBudget(PagingCase):
    # No memory_budget: half the memory high watermark, here 64 MiB absolute.
    CONFIG = {"limits": {"vm_memory_high_watermark_absolute": 64 << 20}}

    def test_default_budget_keeps_a_backlog_under_the_memory_watermark(self):
        """Twice the watermark queued: paged out at half of it, so the memory
        alarm is never raised and the publisher never blocked."""
        if SETTINGS["sanitized"]:
            self.skipTest("ASan's quarantine keeps freed memory resident")
        node = self.get("nodes")[0]
        self.assertEqual(node["mem_limit"], 64 << 20)
        self.assertFalse(node["mem_alarm"])
        ch = self.channel()
        ch.queue_declare("q")
        n = 8192  # 16 KiB each: 128 MiB
        items = [("q", body_of(i, 16384), props()) for i in range(n)]
        publish_confirmed(self.broker.port, items, timeout=30.0)
        time.sleep(0.6)  # two samples of the memory monitor
        node = self.get("nodes")[0]
        self.assertFalse(node["mem_alarm"], "mem_used %d" % node["mem_used"])
        self.assertLess(node["mem_used"], 64 << 20)
        self.assertGreater(self.queue_info("q")["messages_paged_out"], n // 2)
        got = self.consume_all("q", n)
        for i, b in enumerate(got):
            self.assertEqual(b, body_of(i, 16384), "message %d" % i)


class Journal(PagingCase):
    def test_persistent_messages_of_durable_queues_are_read_from_the_journal(self):
        """Once its journal record is written, a persistent message of a durable
        queue is paged out without being written again: the spill area gets only
        the few paged out before their record was written (the newest of each
        page-out), not the backlog."""
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        n = 300
        # One at a time: each record is written before the next publish, so
        # what gets paged out is in the journal already.
        publish_confirmed(self.broker.port,
                          [("dq", body_of(i, 32768), props(persistent=True)) for i in range(n)],
                          window=1)
        info = self.queue_info("dq")
        self.assertGreater(info["messages_paged_out"], n // 2)
        spilled = sum(self.spill_files().values())
        self.assertLess(spilled, info["message_bytes_paged_out"] / 4,
                        "%d bytes in the spill area" % spilled)
        got = self.consume_all("dq", n)
        for i, b in enumerate(got):
            self.assertEqual(b, body_of(i, 32768), "message %d" % i)


class Restart(PagingCase):
    def test_restart_brings_back_persistent_messages_only(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        n = 2400
        items = [("dq", body_of(i, size_of(i)), props(persistent=i % 3 != 0)) for i in range(n)]
        publish_confirmed(self.broker.port, items)
        self.assertGreater(self.queue_info("dq")["messages_paged_out"], 0)
        self.assertGreater(sum(self.spill_files().values()), 0)
        self.close_clients()
        self.broker.restart()
        # The spill area holds transient bytes: emptied at the start.
        self.assertEqual(self.spill_files(), {})
        kept = [i for i in range(n) if i % 3 != 0]
        self.assertEqual(self.message_count("dq"), len(kept))
        # Recovery left the bytes past the budget in the journal.
        info = self.queue_info("dq")
        self.assertGreater(info["messages_paged_out"], len(kept) // 2)
        total = sum(size_of(i) for i in kept)
        self.assertRssGrowthBelow(total / 4, "after recovering %d bytes" % total)
        self.assertBodies(self.consume_all("dq", len(kept)), kept)

    def test_crash_leaves_spill_files_that_the_next_start_removes(self):
        ch = self.channel()
        ch.queue_declare("tq")
        publish_confirmed(self.broker.port,
                          [("tq", body_of(i, size_of(i)), props()) for i in range(400)])
        self.assertNotEqual(self.spill_files(), {})
        self.close_clients()
        self.broker.restart(signal.SIGKILL)
        self.assertEqual(self.spill_files(), {})

    def test_a_second_broker_on_the_data_dir_leaves_the_spill_area_alone(self):
        ch = self.channel()
        ch.queue_declare("tq")
        n = 400
        publish_confirmed(self.broker.port,
                          [("tq", body_of(i, size_of(i)), props()) for i in range(n)])
        files = self.spill_files()
        self.assertNotEqual(files, {})
        second = Broker(self.CONFIG, name="second broker")
        second.data_dir = self.broker.data_dir
        self.brokers.append(second)
        second.spawn()
        rc = second.wait(10.0)
        if rc is None:
            second.kill()
            self.fail("a second broker ran on the same data_dir")
        second.expected_status = rc
        self.assertNotEqual(rc, 0)
        self.assertIn("in use by another process", second.read_stderr())
        # It stopped at the store's lock, before touching the spill area.
        self.assertEqual(self.spill_files(), files)
        self.assertBodies(self.consume_all("tq", n), list(range(n)))

    def close_clients(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        self.clients = []


class Paths(PagingCase):
    def test_priorities_are_kept_with_paged_out_messages(self):
        ch = self.channel()
        ch.queue_declare("pq", arguments={"x-max-priority": 5})
        n = 900
        items = [("pq", body_of(i, size_of(i)), props(priority=i % 6)) for i in range(n)]
        publish_confirmed(self.broker.port, items)
        self.assertGreater(self.queue_info("pq")["messages_paged_out"], 0)
        want = sorted(range(n), key=lambda i: (-(i % 6), i))
        self.assertBodies(self.consume_all("pq", n), want)

    def test_requeue_after_channel_close_keeps_order(self):
        ch = self.channel()
        ch.queue_declare("q")
        n = 600
        publish_confirmed(self.broker.port,
                          [("q", body_of(i, size_of(i)), props()) for i in range(n)])
        conn = self.connect()
        cch = conn.channel()
        cch.basic_qos(prefetch_count=50)
        held = []
        cch.basic_consume("q", lambda c, m, p, b: held.append(b))
        self.assertTrue(self.pump_until(conn, lambda: len(held) >= 50, 10.0))
        self.assertBodies(held[:50], list(range(50)))
        cch.close()  # 50 unacked messages go back to their places
        got = []
        redelivered = []
        for _ in range(n):
            m, _, b = ch.basic_get("q", auto_ack=True)
            self.assertIsNotNone(m)
            got.append(b)
            redelivered.append(m.redelivered)
        self.assertBodies(got, list(range(n)))
        self.assertEqual(redelivered, [True] * 50 + [False] * (n - 50))

    def test_expired_paged_out_messages_are_dead_lettered_intact(self):
        ch = self.channel()
        ch.queue_declare("dlq")
        ch.queue_declare("q", arguments={"x-message-ttl": 1500,
                                         "x-dead-letter-exchange": "",
                                         "x-dead-letter-routing-key": "dlq"})
        n = 500
        publish_confirmed(self.broker.port,
                          [("q", body_of(i, size_of(i)), props()) for i in range(n)])
        self.assertGreater(self.queue_info("q")["messages_paged_out"], 0)
        self.assertTrue(self.pump_until(ch.connection, lambda: self.message_count("dlq") == n,
                                        15.0), "dlq has %d" % self.message_count("dlq"))
        self.assertEqual(self.message_count("q"), 0)
        conn = self.connect()
        c2 = conn.channel()
        m, p, b = c2.basic_get("dlq", auto_ack=False)
        self.assertEqual(p.headers["x-death"][0]["reason"], "expired")
        c2.basic_nack(m.delivery_tag, requeue=True)
        conn.close()
        self.assertBodies(self.consume_all("dlq", n), list(range(n)))

    def test_peek_shows_paged_out_messages(self):
        ch = self.channel()
        ch.queue_declare("q")
        n = 400
        publish_confirmed(self.broker.port,
                          [("q", body_of(i, size_of(i)), props()) for i in range(n)])
        before = self.queue_info("q")["messages_paged_out"]
        self.assertGreater(before, 0)
        items = self.get("queues/%2F/q/messages?offset=390&count=10&encoding=base64")["items"]
        self.assertEqual([it["id"] for it in items], list(range(391, 401)))
        for it in items:
            i = it["id"] - 1
            self.assertEqual(base64.b64decode(it["payload"]), body_of(i, size_of(i)))
            self.assertEqual(it["payload_bytes"], size_of(i))
        # Peeking changes nothing: still paged out, still all there.
        self.assertEqual(self.queue_info("q")["messages_paged_out"], before)
        self.assertBodies(self.consume_all("q", n), list(range(n)))

    def test_management_reports_what_is_paged_out(self):
        ch = self.channel()
        ch.queue_declare("q")
        n = 700
        publish_confirmed(self.broker.port,
                          [("q", body_of(i, size_of(i)), props()) for i in range(n)])
        info = self.queue_info("q")
        total = sum(size_of(i) for i in range(n))
        self.assertEqual(info["messages"], n)
        self.assertEqual(info["message_bytes"], total)
        self.assertGreater(info["messages_paged_out"], 0)
        self.assertEqual(info["messages_ram"], n - info["messages_paged_out"])
        self.assertEqual(info["messages_ready_ram"], n - info["messages_paged_out"])
        self.assertEqual(info["message_bytes_ram"] + info["message_bytes_paged_out"], total)
        self.assertLessEqual(info["message_bytes_ram"], BUDGET)
        self.assertLess(info["memory"], total / 10)
        # The node's paging object (ours): the budget, the spill area.
        paging = self.get("nodes")[0]["paging"]
        self.assertEqual(paging["memory_budget"], BUDGET)
        self.assertLessEqual(paging["message_bytes_ram"], BUDGET)
        self.assertEqual(paging["spill_messages"], info["messages_paged_out"])
        self.assertGreater(paging["spill_bytes"], info["message_bytes_paged_out"])
        self.assertGreaterEqual(paging["paged_out_total"], info["messages_paged_out"])
        self.assertEqual(paging["lost_total"], 0)
