# SPDX-License-Identifier: MIT
"""pikakit: helpers shared by the black-box tests that drive python3-pika 1.2.

PikaTestCase opens BlockingConnections registered for closing at teardown (before
the broker is stopped, so the broker never waits on a client that no longer
reads), and adds assertions for RabbitMQ's channel and connection errors: the
reply code and the exact reply text ("NAME - explanation").
"""

import time

import pika
import pika.exceptions

from harness import BrokerTestCase, pika_params

class Collector:
    """A basic_consume callback that keeps (method, properties, body) and can ack."""

    def __init__(self, ack=False):
        self.items = []
        self.ack = ack

    def __call__(self, ch, method, props, body):
        self.items.append((method, props, body))
        if self.ack:
            ch.basic_ack(method.delivery_tag)

    @property
    def bodies(self):
        return [b for _, _, b in self.items]

    @property
    def methods(self):
        return [m for m, _, _ in self.items]


class PikaTestCase(BrokerTestCase):
    def connect(self, **kw):
        """A BlockingConnection to the test broker, closed at teardown."""
        kw.setdefault("heartbeat", 0)
        return self.track(pika.BlockingConnection(pika_params(self.broker, **kw)))

    def channel(self, conn=None):
        return (conn or self.connect()).channel()

    # -- pumping --

    @staticmethod
    def pump(conn, seconds):
        """Processes I/O and dispatches callbacks for `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            conn.process_data_events(time_limit=min(left, 0.05))

    @staticmethod
    def pump_until(conn, pred, timeout=5.0):
        """Processes I/O until pred() is true or timeout seconds passed; returns pred()."""
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() >= deadline:
                return pred()
            conn.process_data_events(time_limit=0.02)
        return True

    def consume_n(self, conn, collector, n, timeout=5.0):
        """Pumps until the collector holds n deliveries; fails after timeout."""
        ok = self.pump_until(conn, lambda: len(collector.items) >= n, timeout)
        self.assertTrue(ok, "expected %d deliveries within %.1fs, got %d: %r"
                        % (n, timeout, len(collector.items), collector.bodies))
        return collector.items

    @staticmethod
    def get_all(ch, queue, auto_ack=True, limit=100000):
        """basic_get until get-empty; returns [(method, props, body)]."""
        out = []
        while len(out) < limit:
            m, p, b = ch.basic_get(queue, auto_ack=auto_ack)
            if m is None:
                return out
            out.append((m, p, b))
        return out

    def bodies(self, ch, queue):
        return [b for _, _, b in self.get_all(ch, queue)]

    def message_count(self, queue, conn=None):
        ch = (conn or self.connect()).channel()
        n = ch.queue_declare(queue, passive=True).method.message_count
        ch.close()
        return n

    # -- errors --

    def assertChannelError(self, code, text, fn, *args, **kw):
        """fn(*args, **kw) must end with the broker closing the channel with `code`
        and exactly `text` (None: only its "NAME - " prefix is checked)."""
        with self.assertRaises(pika.exceptions.ChannelClosedByBroker) as cm:
            fn(*args, **kw)
        self.assertReply(cm.exception, code, text)
        return cm.exception.reply_text

    def assertConnectionError(self, code, text, fn, *args, **kw):
        """fn must end with connection.close `code` (exact `text` unless None)."""
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            fn(*args, **kw)
        self.assertReply(cm.exception, code, text)
        return cm.exception.reply_text

    def assertReply(self, exc, code, text):
        import raw
        self.assertEqual(exc.reply_code, code, "reply %r" % (exc,))
        if text is None:
            self.assertTrue(exc.reply_text.startswith(raw.REPLY_NAMES[code] + " - "),
                            exc.reply_text)
        else:
            self.assertEqual(exc.reply_text, text)

    def assertQueueMissing(self, queue):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no queue '%s' in vhost '/'" % queue,
                                ch.queue_declare, queue, passive=True)

    def assertExchangeMissing(self, exchange):
        ch = self.channel()
        self.assertChannelError(404, "NOT_FOUND - no exchange '%s' in vhost '/'" % exchange,
                                ch.exchange_declare, exchange, passive=True)

    def assertExchangeExists(self, exchange):
        ch = self.channel()
        ch.exchange_declare(exchange, passive=True)
        ch.close()

    def sync(self, ch):
        """A round trip on ch, so that an asynchronous error (after basic.publish,
        basic.ack...) surfaces as an exception here."""
        ch.exchange_declare("amq.direct", passive=True)
