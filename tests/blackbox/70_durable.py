# SPDX-License-Identifier: MIT
"""70 durability (issue 5): what survives a restart (SIGTERM) and a crash (SIGKILL).

Durable exchanges, queues and bindings come back, transient ones do not; users,
vhosts and permissions made through the management API come back and win over
the config file; persistent messages on durable queues come back in order
(delivered-but-unacked ones flagged redelivered, all of them after a crash),
acked and transient ones do not; a message routed to two durable queues is in
both; every confirmed message survives kill -9 right after its confirm; a
committed transaction survives; a corrupt segment tail is truncated and logged;
a disk alarm (limits.disk_free_limit above the free space) blocks publishers
with connection.blocked while consumers keep draining.
"""

import glob
import json
import os
import signal
import time
import urllib.parse

import pika
import pika.exceptions

import mgmtkit
import raw
from pikakit import PikaTestCase

PERSISTENT = pika.BasicProperties(delivery_mode=2)


class DurableCase(PikaTestCase):
    def close_clients(self):
        for c in self.clients:
            try:
                c.close()
            except Exception:
                pass
        self.clients = []

    def restart(self, sig=signal.SIGTERM):
        """Closes this test's clients, restarts the broker on the same data dir."""
        self.close_clients()
        self.broker.restart(sig)

    def stop(self):
        """Closes the clients and stops the broker (clean exit checked); start() again
        with start_again()."""
        self.close_clients()
        self.broker.stop()

    def start_again(self):
        self.broker.returncode = None
        self.broker.signalled = False
        self.broker.start()

    def drain(self, queue, limit=100000):
        """(body, redelivered) of every message in queue, consumed with basic.get."""
        ch = self.channel()
        out = []
        while len(out) < limit:
            m, p, b = ch.basic_get(queue, auto_ack=True)
            if m is None:
                return out
            out.append((b, m.redelivered))
        return out

    def publish_confirmed(self, ch, exchange, key, bodies, props=PERSISTENT):
        ch.confirm_delivery()
        for b in bodies:
            ch.basic_publish(exchange, key, b, props)


class Definitions(DurableCase):
    def test_durable_objects_survive_transient_ones_do_not(self):
        ch = self.channel()
        ch.exchange_declare("dx", "direct", durable=True)
        ch.exchange_declare("tx", "fanout", durable=False)
        ch.queue_declare("dq", durable=True, arguments={"x-max-length": 10})
        ch.queue_declare("tq", durable=False)
        ch.queue_bind("dq", "dx", "k")
        ch.queue_bind("dq", "amq.topic", "a.#")
        ch.queue_bind("dq", "tx")      # a transient end: not kept
        ch.queue_bind("tq", "dx", "k")
        ch.exchange_declare("dx2", "topic", durable=True)
        ch.exchange_bind("dx2", "dx", "k")
        self.restart()
        ch = self.channel()
        ch.exchange_declare("dx", "direct", passive=True)
        ch.exchange_declare("dx2", "topic", passive=True)
        # Redeclared with the same properties and arguments: still equivalent.
        ch.queue_declare("dq", durable=True, arguments={"x-max-length": 10})
        self.assertExchangeMissing("tx")
        self.assertQueueMissing("tq")
        ch = self.channel()
        ch.confirm_delivery()
        ch.basic_publish("dx", "k", b"via dx")
        ch.basic_publish("amq.topic", "a.b", b"via amq.topic")
        self.assertEqual([b for b, _ in self.drain("dq")], [b"via dx", b"via amq.topic"])

    def test_deleted_objects_stay_deleted(self):
        ch = self.channel()
        ch.exchange_declare("dx", "direct", durable=True)
        ch.queue_declare("dq", durable=True)
        ch.queue_declare("gone", durable=True)
        ch.queue_bind("dq", "dx", "k")
        ch.basic_publish("", "gone", b"m", PERSISTENT)
        ch.queue_unbind("dq", "dx", "k")
        ch.queue_delete("gone")
        self.restart()
        self.assertQueueMissing("gone")
        ch = self.channel()
        ch.confirm_delivery()
        with self.assertRaises(pika.exceptions.UnroutableError):
            ch.basic_publish("dx", "k", b"x", mandatory=True)
        # A queue of the same name starts empty.
        ch.queue_declare("gone", durable=True)
        self.assertEqual(self.message_count("gone"), 0)

    def test_definitions_file_uses_rabbitmq_layout(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True, arguments={"x-message-ttl": 60000})
        ch.queue_declare("tq")
        with open(os.path.join(self.broker.data_dir, "definitions.json")) as f:
            d = json.load(f)
        for key in ("users", "vhosts", "permissions", "queues", "exchanges", "bindings"):
            self.assertIn(key, d)
        self.assertEqual([(q["name"], q["vhost"], q["durable"], q["arguments"])
                          for q in d["queues"]], [("dq", "/", True, {"x-message-ttl": 60000})])
        self.assertEqual([u["name"] for u in d["users"]], ["guest"])
        self.assertFalse(os.path.exists(os.path.join(self.broker.data_dir,
                                                     "definitions.json.new")))

    def test_unreadable_definitions_file_stops_the_broker(self):
        self.stop()
        with open(os.path.join(self.broker.data_dir, "definitions.json"), "w") as f:
            f.write("{not json")
        self.broker.returncode = None
        self.broker.spawn()
        self.assertEqual(self.broker.wait(10.0), 1)
        self.assertIn("definitions.json:1:", self.broker.read_stderr())
        self.broker.expected_status = 1


class ManagementDefinitions(DurableCase):
    def api(self, method, path, body=None, **kw):
        r = mgmtkit.call(self.broker.mgmt_port, method, "/api/" + path, body, **kw)
        self.assertIn(r.status, (200, 201, 204), r.raw)
        return r

    def test_users_vhosts_permissions_survive_and_win_over_the_config(self):
        perms = {"configure": ".*", "write": ".*", "read": ".*"}
        self.api("PUT", "users/admin2", {"password": "pw2", "tags": "administrator"})
        self.api("PUT", "vhosts/v2")
        self.api("PUT", "permissions/v2/admin2", perms)
        self.api("PUT", "queues/v2/hq", {"durable": True})
        self.api("DELETE", "users/guest", user="admin2", password="pw2")
        self.restart()
        conn = self.connect(user="admin2", password="pw2", virtual_host="v2")
        conn.channel().queue_declare("hq", passive=True)
        # guest is in the config file, but the node's definitions no longer have it.
        with self.assertRaises(pika.exceptions.ProbableAuthenticationError):
            self.connect()
        self.broker.expected_status = 0


class Messages(DurableCase):
    def test_persistent_messages_survive_sigterm_in_order_transient_do_not(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        ch.confirm_delivery()
        for i in range(50):
            ch.basic_publish("", "dq", b"p%d" % i, PERSISTENT)
            if i % 10 == 0:
                ch.basic_publish("", "dq", b"t%d" % i)  # transient: gone after restart
        ch.queue_declare("tq")
        ch.basic_publish("", "tq", b"x", PERSISTENT)  # non-durable queue: gone
        self.restart()
        self.assertEqual(self.drain("dq"), [(b"p%d" % i, False) for i in range(50)])
        self.assertQueueMissing("tq")

    def test_persistent_messages_survive_sigkill_flagged_redelivered(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        self.publish_confirmed(ch, "", "dq", [b"p%d" % i for i in range(50)])
        self.restart(signal.SIGKILL)
        self.assertIn("unclean", self.broker.read_stderr())
        # Delivery markers are not synced, so after a crash all come back flagged.
        self.assertEqual(self.drain("dq"), [(b"p%d" % i, True) for i in range(50)])

    def test_acked_do_not_come_back_unacked_come_back_redelivered(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        self.publish_confirmed(ch, "", "dq", [b"%d" % i for i in range(10)])
        tags = []
        for i in range(7):
            m, p, b = ch.basic_get("dq", auto_ack=False)
            self.assertEqual(b, b"%d" % i)
            tags.append(m.delivery_tag)
        for t in tags[:5]:
            ch.basic_ack(t)           # 0..4 acked; 5 and 6 stay unacked
        m, p, b = ch.basic_get("dq", auto_ack=True)  # 7: settled at once
        self.assertEqual(b, b"7")
        ch.basic_qos(prefetch_count=1)  # a round trip: the acks were handled
        self.restart()
        self.assertEqual(self.drain("dq"),
                         [(b"5", True), (b"6", True), (b"8", False), (b"9", False)])

    def test_requeued_and_rejected_messages(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        self.publish_confirmed(ch, "", "dq", [b"a", b"b", b"c"])
        m, _, _ = ch.basic_get("dq")
        ch.basic_nack(m.delivery_tag, requeue=True)      # a: back, redelivered
        m, _, _ = ch.basic_get("dq")
        m2, _, _ = ch.basic_get("dq")
        ch.basic_reject(m2.delivery_tag, requeue=False)  # b: gone
        ch.basic_ack(m.delivery_tag)                     # a (redelivered): gone
        ch.basic_qos(prefetch_count=1)
        self.restart()
        self.assertEqual(self.drain("dq"), [(b"c", False)])

    def test_message_routed_to_two_durable_queues_comes_back_in_both(self):
        ch = self.channel()
        ch.exchange_declare("fan", "fanout", durable=True)
        for q in ("q1", "q2"):
            ch.queue_declare(q, durable=True)
            ch.queue_bind(q, "fan")
        self.publish_confirmed(ch, "fan", "", [b"one", b"two"])
        self.assertEqual(self.drain("q1", limit=1), [(b"one", False)])
        ch.basic_qos(prefetch_count=1)
        self.restart(signal.SIGKILL)
        self.assertEqual([b for b, _ in self.drain("q1")], [b"two"])
        self.assertEqual([b for b, _ in self.drain("q2")], [b"one", b"two"])

    def test_tx_commit_with_persistent_messages_survives_a_crash(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        ch.tx_select()
        for i in range(5):
            ch.basic_publish("", "dq", b"c%d" % i, PERSISTENT)
        ch.tx_commit()
        ch.basic_publish("", "dq", b"uncommitted", PERSISTENT)
        self.restart(signal.SIGKILL)
        self.assertEqual([b for b, _ in self.drain("dq")], [b"c%d" % i for i in range(5)])

    def test_corrupt_tail_is_truncated_logged_and_the_broker_starts(self):
        ch = self.channel()
        ch.queue_declare("dq", durable=True)
        self.publish_confirmed(ch, "", "dq", [b"m%d" % i for i in range(10)])
        self.stop()
        segs = sorted(glob.glob(os.path.join(self.broker.data_dir, "msgs", "*.seg")))
        self.assertTrue(segs)
        with open(segs[-1], "ab") as f:
            f.write(b"\x00\x00\x01\x00garbage that is no record" * 4)
        self.start_again()
        log = self.broker.read_stderr()
        self.assertRegex(log, r"\[warn[a-z]*\] message store")
        self.assertEqual([b for b, _ in self.drain("dq")], [b"m%d" % i for i in range(10)])


def persistent_publish_frames(body):
    return b"".join([raw.method_frame(1, raw.BASIC_PUBLISH, raw.basic_publish_args("", "dq")),
                     raw.header_frame(1, len(body), flags=0x1000, props=b"\x02"),
                     raw.body_frame(1, body)])


class ConfirmsMeanDurable(DurableCase):
    """kill -9 right after confirms arrive: every confirmed message is there."""

    def publish_and_kill(self, round_no, n):
        """Pipelines n persistent publishes, reads confirms until at least 3/4 of them
        are confirmed, then kills the broker at once; returns how many were confirmed."""
        c = self.opened()
        c.open_channel(1)
        c.send_method(1, raw.CONFIRM_SELECT, raw.bits(False))
        c.expect_method(raw.CONFIRM_SELECT_OK, channel=1)
        c.send(b"".join(persistent_publish_frames(b"%d-%d" % (round_no, i))
                        for i in range(n)))
        confirmed = 0
        while confirmed < n * 3 // 4:
            f = c.recv_method(timeout=10.0)
            self.assertEqual(f.method_id, raw.BASIC_ACK, f)
            tag, multiple = raw.decode_ack(f)
            confirmed = max(confirmed, tag)
        self.broker.signal(signal.SIGKILL)
        return confirmed

    def test_confirmed_messages_survive_kill_9_three_times(self):
        self.channel().queue_declare("dq", durable=True)
        n = 1000
        for r in range(3):
            confirmed = self.publish_and_kill(r, n)
            self.restart(signal.SIGKILL)
            got = [b for b, _ in self.drain("dq")]
            self.assertGreaterEqual(len(got), confirmed, "round %d" % r)
            self.assertEqual(got, [b"%d-%d" % (r, i) for i in range(len(got))], "round %d" % r)


class DiskAlarm(DurableCase):
    # Far above any real free space: the alarm is raised at the first measurement.
    CONFIG = {"limits": {"disk_free_limit": 1 << 50}}

    def test_publishers_are_blocked_consumers_keep_draining(self):
        # A connection is blocked when it publishes while the alarm is raised
        # (RabbitMQ), so wait for the first measurement to raise it.
        deadline = time.monotonic() + 5.0
        while not mgmtkit.call(self.broker.mgmt_port, "GET", "/api/nodes").json[0][
                "disk_free_alarm"]:
            self.assertLess(time.monotonic(), deadline, "no disk alarm within 5 s")
            time.sleep(0.05)
        blocked = []
        # pika drops a connection blocked this long (RabbitMQ does not read
        # from it either, so a close would wait for the alarm to clear).
        pub = self.connect(blocked_connection_timeout=2)
        pub.add_on_connection_blocked_callback(lambda c, m: blocked.append(m.method.reason))
        pch = pub.channel()
        pch.queue_declare("dq", durable=True)
        for i in range(3):
            pch.basic_publish("", "dq", b"m%d" % i, PERSISTENT)
        self.assertTrue(self.pump_until(pub, lambda: blocked, 5.0),
                        "no connection.blocked within 5 s")
        self.assertEqual(blocked, ["low on disk"])
        # A connection that only consumes is not blocked and drains the queue
        # (what the publisher sent until it was blocked: the first message, and
        # any that arrived in the same read).
        got = [b for b, _ in self.drain("dq")]
        self.assertTrue(got)
        self.assertEqual(got, [b"m0", b"m1", b"m2"][:len(got)])
        # The blocked publisher's next message is not read.
        pch.basic_publish("", "dq", b"late", PERSISTENT)
        time.sleep(0.3)
        self.assertEqual(self.message_count("dq"), 0)
        self.assertIn("disk alarm set", self.broker.read_stderr())
        with self.assertRaises(pika.exceptions.AMQPConnectionError):
            self.pump(pub, 5.0)
