# SPDX-License-Identifier: MIT
"""20 pika: an unmodified client library (python3-pika 1.2) against the broker."""

import time

import pika
import pika.exceptions

from harness import BrokerTestCase, pika_params

RABBIT_CAPABILITIES = ["publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                       "consumer_cancel_notify", "connection.blocked", "consumer_priorities",
                       "authentication_failure_close", "per_consumer_qos", "direct_reply_to"]


class PikaTestCase(BrokerTestCase):
    def connect(self, **kw):
        # track(): closed in tearDown, before the broker is stopped (an addCleanup
        # would run after it, leaving the broker waiting on a client nobody reads).
        return self.track(pika.BlockingConnection(pika_params(self.broker, **kw)))

    @staticmethod
    def close_quietly(conn):
        try:
            if conn.is_open:
                conn.close()
        except Exception:
            pass


class Pika(PikaTestCase):
    def test_connect_open_channel_close_channel_close_connection(self):
        conn = self.connect()
        ch = conn.channel()
        self.assertTrue(ch.is_open)
        ch.close()
        self.assertTrue(ch.is_closed)
        conn.close()
        self.assertTrue(conn.is_closed)

    def test_server_properties_and_capabilities_seen_by_pika(self):
        conn = self.connect()
        props = conn._impl.server_properties
        self.assertEqual(props["product"], "Leveret")
        caps = conn._impl.server_capabilities
        self.assertEqual(sorted(caps), sorted(RABBIT_CAPABILITIES))
        self.assertTrue(all(caps[c] is True for c in RABBIT_CAPABILITIES), caps)
        self.assertTrue(conn.publisher_confirms_supported)
        self.assertTrue(conn.basic_nack_supported)
        self.assertTrue(conn.consumer_cancel_notify_supported)
        self.assertTrue(conn.exchange_exchange_bindings_supported)

    def test_many_channels_open_and_close(self):
        conn = self.connect()
        chans = [conn.channel() for _ in range(50)]
        self.assertEqual(len({c.channel_number for c in chans}), 50)
        for c in chans:
            c.close()
        conn.channel().close()

    def test_bad_password_raises_probable_authentication_error(self):
        # pika advertises authentication_failure_close, so the broker sends
        # connection.close 403 before closing; pika reports it with the reply.
        with self.assertRaises(pika.exceptions.ProbableAuthenticationError) as cm:
            pika.BlockingConnection(pika_params(self.broker, password="wrong"))
        self.assertIn("403", str(cm.exception))
        self.assertIn("ACCESS_REFUSED", str(cm.exception))

    def test_unknown_vhost_raises_probable_access_denied_error(self):
        with self.assertRaises(pika.exceptions.ProbableAccessDeniedError) as cm:
            pika.BlockingConnection(pika_params(self.broker, virtual_host="nowhere"))
        self.assertIn("530", str(cm.exception))

    def test_heartbeating_pika_connection_stays_open(self):
        conn = self.connect(heartbeat=1)
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.2)
        self.assertTrue(conn.is_open)
        conn.channel().close()

    def test_silent_pika_connection_is_dropped_by_the_broker(self):
        conn = self.connect(heartbeat=1)
        time.sleep(4.5)  # pika sends heartbeats only while processing I/O
        with self.assertRaises(pika.exceptions.AMQPConnectionError):
            conn.process_data_events(time_limit=2.0)
            conn.channel()
        self.assertTrue(conn.is_closed)

    def test_sigterm_closes_pika_connection_with_320(self):
        conn = self.connect()
        conn.channel()
        self.broker.signal()
        with self.assertRaises(pika.exceptions.ConnectionClosedByBroker) as cm:
            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                conn.process_data_events(time_limit=0.5)
        self.assertEqual(cm.exception.reply_code, 320)
        self.assertEqual(self.broker.wait(10.0), 0)


class PikaServerHeartbeat(PikaTestCase):
    CONFIG = {"limits": {"heartbeat": 7}}

    def test_pika_adopts_the_brokers_heartbeat(self):
        conn = self.connect()  # heartbeat=None: take the server's value
        self.assertEqual(conn._impl.params.heartbeat, 7)
