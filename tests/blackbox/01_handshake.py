# SPDX-License-Identifier: MIT
"""01 handshake: protocol header, connection.start, login, tune, open, timeouts,
client close and broker shutdown, checked byte by byte with the raw client.

Errors before connection.open-ok (rabbit_reader.erl handle_exception/3):
- a refused tune-ok (channel_max above the server's or 0; frame_max above the
  server's, 0, or below 4096): RabbitMQ sends connection.close 530 NOT_ALLOWED
  "negotiated <field> = <value> is higher than the maximum allowed value (<max>)"
  (fail_negotiation/4; " (no limit)" follows the value only for channel_max 0) and
  then waits for close-ok. Leveret sends the same close and closes the socket right
  after it, without waiting (owner's decision, like every error before open);
- an unknown SASL mechanism: RabbitMQ closes silently after 3 s; Leveret sends
  connection.close 503 COMMAND_INVALID "unknown authentication mechanism 'X'" and
  closes the socket (a deliberate deviation: clearer errors);
- a refused login: with the client capability authentication_failure_close,
  connection.close 403 ACCESS_REFUSED, then the socket closes; without it, a silent
  close exactly like RabbitMQ (which waits 3 s, SILENT_CLOSE_DELAY; the tests accept
  any delay up to SILENT_CLOSE_WITHIN);
- a stalled handshake: the socket is closed without a frame.
"""

import time

import raw
from harness import BrokerTestCase

SILENT_CLOSE_WITHIN = 6.0

# The nine capability flags RabbitMQ sends (rabbit_reader.erl server_capabilities/1).
RABBIT_CAPABILITIES = ["publisher_confirms", "exchange_exchange_bindings", "basic.nack",
                       "consumer_cancel_notify", "connection.blocked", "consumer_priorities",
                       "authentication_failure_close", "per_consumer_qos", "direct_reply_to"]

# RabbitMQ's documented example (docs "Credentials and Passwords", computing a hash):
# salt 908DC60A, password "test12".
TEST12_HASH = "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"


class ProtocolHeader(BrokerTestCase):
    def assertRefusedWith091Header(self, header):
        c = self.raw()
        c.send(header)
        self.assertEqual(c.recv_exactly(8), raw.PROTOCOL_HEADER,
                         "the broker must answer an unsupported header with AMQP 0-9-1's")
        self.assertEqual(c.read_until_eof(5.0), [], "nothing may follow the header")

    def test_valid_header_gets_connection_start_on_channel_0(self):
        c = self.raw()
        c.send_header()
        f = c.recv_frame()
        self.assertEqual((f.type, f.channel, f.method_id),
                         (raw.FRAME_METHOD, 0, raw.CONNECTION_START))

    def test_header_split_across_packets_is_reassembled(self):
        c = self.raw()
        for piece in (b"AM", b"QP\x00", b"\x00\x09", b"\x01"):
            c.send(piece)
            time.sleep(0.05)
        c.expect_method(raw.CONNECTION_START, channel=0)

    def test_amqp_0_8_header_gets_0_9_1_header_and_close(self):
        self.assertRefusedWith091Header(b"AMQP\x00\x00\x08\x00")

    def test_http_header_gets_0_9_1_header_and_close(self):
        self.assertRefusedWith091Header(b"HTTP/1.1")

    def test_garbage_header_gets_0_9_1_header_and_close(self):
        self.assertRefusedWith091Header(b"\x16\x03\x01\x02\x00\x01\x00\xfc")


class ConnectionStart(BrokerTestCase):
    def start(self):
        return self.raw().start()

    def test_version_is_0_9(self):
        s = self.start()
        self.assertEqual((s["version_major"], s["version_minor"]), (0, 9))

    def test_server_properties_identify_leveret(self):
        props = self.start()["server_properties"]
        self.assertEqual(props.get("product"), ("S", b"Leveret"))
        for key in ("version", "platform", "cluster_name", "copyright", "information"):
            self.assertIn(key, props)
            letter, value = props[key]
            self.assertEqual(letter, "S", "%s must be a longstr like RabbitMQ's" % key)
            self.assertTrue(value, "%s is empty" % key)
        self.assertRegex(props["version"][1].decode(), r"^\d+\.\d+\.\d+")

    def test_capabilities_are_rabbitmqs_nine_flags_all_true(self):
        props = self.start()["server_properties"]
        self.assertEqual(props["capabilities"][0], "F")
        caps = props["capabilities"][1]
        self.assertEqual(sorted(caps), sorted(RABBIT_CAPABILITIES))
        for name in RABBIT_CAPABILITIES:
            self.assertEqual(caps[name], ("t", True), name)

    def test_mechanisms_and_locales(self):
        s = self.start()
        self.assertEqual(s["mechanisms"], "PLAIN AMQPLAIN")
        self.assertEqual(s["locales"], "en_US")


class Login(BrokerTestCase):
    CONFIG = {"users": [{"name": "guest", "password": "guest", "tags": ["administrator"]},
                        {"name": "hashed", "password_hash": TEST12_HASH, "tags": []}],
              "permissions": [{"user": "guest", "vhost": "/", "configure": ".*",
                               "write": ".*", "read": ".*"},
                              {"user": "hashed", "vhost": "/", "configure": ".*",
                               "write": ".*", "read": ".*"}]}

    def assertLoginRefused(self, user, password, mechanism):
        # The raw client advertises authentication_failure_close, so the broker
        # sends connection.close 403 and then closes the socket without waiting.
        c = self.raw()
        c.start()
        c.start_ok(user, password, mechanism)
        code, text, cls, mth = c.expect_close_then_eof(raw.ACCESS_REFUSED)
        self.assertEqual(text, "ACCESS_REFUSED - Login was refused using authentication "
                         "mechanism %s. For details see the broker logfile." % mechanism)
        return text

    def test_plain_login_reaches_open_ok(self):
        c = self.raw()
        r = c.handshake(mechanism="PLAIN")
        self.assertEqual(r["tuned"]["frame_max"], 131072)

    def test_amqplain_login_reaches_open_ok(self):
        self.raw().handshake(mechanism="AMQPLAIN")

    def test_user_with_rabbitmq_password_hash_logs_in(self):
        self.raw().handshake(user="hashed", password="test12")

    def test_user_with_rabbitmq_password_hash_wrong_password_is_403(self):
        self.assertLoginRefused("hashed", "test13", "PLAIN")

    def test_plain_wrong_password_is_403(self):
        text = self.assertLoginRefused("guest", "wrong", "PLAIN")
        # RabbitMQ: "ACCESS_REFUSED - Login was refused using authentication mechanism
        # PLAIN. For details see the broker logfile." (rabbit_reader.erl auth_fail/5)
        self.assertNotIn("wrong", text, "the reply must not echo the password")

    def test_plain_unknown_user_is_403(self):
        self.assertLoginRefused("nobody", "guest", "PLAIN")

    def test_amqplain_wrong_password_is_403(self):
        self.assertLoginRefused("guest", "wrong", "AMQPLAIN")

    def test_refused_login_without_failure_close_capability_closes_silently(self):
        # Without authentication_failure_close in client-properties, RabbitMQ sends no
        # connection.close: it closes the socket (after 3 s).
        c = self.raw()
        c.start()
        c.start_ok("guest", "wrong", client_properties=raw.default_client_properties(False))
        c.expect_eof(SILENT_CLOSE_WITHIN)

    def test_unknown_mechanism_is_503_then_socket_closed(self):
        # RabbitMQ raises 503 COMMAND_INVALID "unknown authentication mechanism 'X'"
        # (auth_mechanism_to_module/2) and closes silently after 3 s; Leveret sends the
        # close frame and closes the socket at once.
        c = self.raw()
        c.start()
        c.start_ok(mechanism="CRAM-MD5", response=b"guest")
        code, text, cls, mth = c.expect_close_then_eof(raw.COMMAND_INVALID)
        self.assertEqual(text, "COMMAND_INVALID - unknown authentication mechanism 'CRAM-MD5'")


class Tune(BrokerTestCase):
    def tune(self):
        c = self.raw()
        c.start()
        c.start_ok()
        return c, c.tune()

    def assertTuneOkRefused(self, channel_max, frame_max, text, heartbeat=0):
        # rabbit_reader.erl validate_negotiated_integer_value/3: a client value above the
        # server's, 0 when the server has a limit, or below the minimum is refused with
        # 530 NOT_ALLOWED; Leveret closes the socket right after the close frame.
        c, tune = self.tune()
        c.tune_ok(channel_max, frame_max, heartbeat)
        c.open("/")
        code, got, cls, mth = c.expect_close_then_eof(raw.NOT_ALLOWED)
        self.assertEqual(got, "NOT_ALLOWED - " + text)

    def test_defaults_are_2047_channels_131072_bytes_60_seconds(self):
        _, tune = self.tune()
        self.assertEqual(tune, {"channel_max": 2047, "frame_max": 131072, "heartbeat": 60})

    def test_client_may_lower_every_value(self):
        c, tune = self.tune()
        c.tune_ok(10, 8192, 0)
        c.open("/")
        c.expect_method(raw.CONNECTION_OPEN_OK, channel=0)

    def test_client_channel_max_above_server_is_refused(self):
        self.assertTuneOkRefused(2048, 131072, "negotiated channel_max = 2048 is higher "
                                 "than the maximum allowed value (2047)")

    def test_client_channel_max_zero_is_refused(self):
        self.assertTuneOkRefused(0, 131072, "negotiated channel_max = 0 (no limit) is "
                                 "higher than the maximum allowed value (2047)")

    def test_client_frame_max_above_server_is_refused(self):
        self.assertTuneOkRefused(2047, 131073, "negotiated frame_max = 131073 is higher "
                                 "than the maximum allowed value (131072)")

    def test_client_frame_max_zero_is_refused(self):
        # get_client_value_detail/2 adds " (no limit)" for channel_max only.
        self.assertTuneOkRefused(2047, 0, "negotiated frame_max = 0 is higher than the "
                                 "maximum allowed value (131072)")

    def test_client_frame_max_below_4096_is_refused(self):
        self.assertTuneOkRefused(2047, 4095, "negotiated frame_max = 4095 is lower than "
                                 "the minimum allowed value (4096)")


class Pipelining(BrokerTestCase):
    def test_tune_ok_open_and_channel_open_in_one_write(self):
        # Clients such as amqp091-go write tune-ok and open without waiting.
        c = self.raw()
        c.start()
        c.start_ok()
        c.tune()
        c.send(raw.method_frame(0, raw.CONNECTION_TUNE_OK, raw.tune_ok_args(2047, 131072, 0))
               + raw.method_frame(0, raw.CONNECTION_OPEN, raw.open_args("/"))
               + raw.method_frame(1, raw.CHANNEL_OPEN, raw.channel_open_args()))
        c.expect_method(raw.CONNECTION_OPEN_OK, channel=0)
        c.expect_method(raw.CHANNEL_OPEN_OK, channel=1)


class TuneFromConfig(BrokerTestCase):
    CONFIG = {"limits": {"frame_max": 65536, "channel_max": 64, "heartbeat": 7}}

    def test_tune_proposes_configured_limits(self):
        c = self.raw()
        c.start()
        c.start_ok()
        self.assertEqual(c.tune(), {"channel_max": 64, "frame_max": 65536, "heartbeat": 7})


class VirtualHosts(BrokerTestCase):
    CONFIG = {"users": [{"name": "guest", "password": "guest", "tags": ["administrator"]},
                        {"name": "alice", "password": "secret", "tags": []}],
              "vhosts": [{"name": "/"}, {"name": "other"}],
              "permissions": [{"user": "guest", "vhost": "/", "configure": ".*",
                               "write": ".*", "read": ".*"},
                              {"user": "alice", "vhost": "other", "configure": ".*",
                               "write": ".*", "read": ".*"}]}

    def assertOpenRefused(self, user, password, vhost):
        c = self.raw()
        c.start()
        c.start_ok(user, password)
        tune = c.tune()
        c.tune_ok(tune["channel_max"], tune["frame_max"], 0)
        c.open(vhost)
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual((cls, mth), raw.CONNECTION_OPEN)
        return text

    def test_unknown_vhost_is_530(self):
        # RabbitMQ: "NOT_ALLOWED - vhost nowhere not found"
        text = self.assertOpenRefused("guest", "guest", "nowhere")
        self.assertIn("nowhere", text)

    def test_vhost_without_permission_is_530(self):
        # RabbitMQ: "NOT_ALLOWED - access to vhost 'other' refused for user 'guest'"
        text = self.assertOpenRefused("guest", "guest", "other")
        self.assertIn("'other'", text)
        self.assertIn("'guest'", text)

    def test_user_without_permission_on_default_vhost_is_530(self):
        text = self.assertOpenRefused("alice", "secret", "/")
        self.assertIn("'alice'", text)

    def test_user_opens_the_vhost_it_has_permissions_on(self):
        self.raw().handshake(user="alice", password="secret", vhost="other")


class ConnectionLimit(BrokerTestCase):
    CONFIG = {"limits": {"max_connections": 1}}

    def test_connection_over_max_connections_is_530_at_open(self):
        # rabbit_reader.erl is_over_node_connection_limit/1, checked at connection.open:
        # "NOT_ALLOWED - connection refused: node connection limit (1) is reached"
        first = self.raw()
        first.handshake(heartbeat=0)
        second = self.raw()
        second.start()
        second.start_ok()
        second.tune()
        second.tune_ok(2047, 131072, 0)
        second.open("/")
        code, text, cls, mth = second.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual((cls, mth), raw.CONNECTION_OPEN)
        self.assertIn("limit", text)
        first.open_channel(1)


class HandshakeTimeout(BrokerTestCase):
    CONFIG = {"limits": {"handshake_timeout": 1}}

    def assertClosedAfterTimeout(self, c, t0):
        c.expect_eof(4.0)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8, "closed before handshake_timeout elapsed")
        self.assertLessEqual(elapsed, 3.5)

    def test_silent_socket_is_closed(self):
        t0 = time.monotonic()
        c = self.raw()
        self.assertClosedAfterTimeout(c, t0)

    def test_client_stalled_after_start_is_closed(self):
        t0 = time.monotonic()
        c = self.raw()
        c.start()
        self.assertClosedAfterTimeout(c, t0)

    def test_client_stalled_before_open_is_closed(self):
        t0 = time.monotonic()
        c = self.raw()
        c.start()
        c.start_ok()
        tune = c.tune()
        c.tune_ok(tune["channel_max"], tune["frame_max"], 0)
        self.assertClosedAfterTimeout(c, t0)

    def test_partial_protocol_header_then_nothing_is_closed(self):
        t0 = time.monotonic()
        c = self.raw()
        c.send(b"AMQP")
        self.assertClosedAfterTimeout(c, t0)

    def test_protocol_header_then_nothing_is_closed(self):
        # The header alone, connection.start left unread and unanswered.
        t0 = time.monotonic()
        c = self.raw()
        c.send(raw.PROTOCOL_HEADER)
        frames = c.read_until_eof(4.0)
        self.assertEqual([f.method_id for f in frames], [raw.CONNECTION_START])
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8, "closed before handshake_timeout elapsed")
        self.assertLessEqual(elapsed, 3.5)

    def test_partial_frame_then_stall_is_closed(self):
        t0 = time.monotonic()
        c = self.raw()
        c.start()
        start_ok = raw.method_frame(0, raw.CONNECTION_START_OK, raw.start_ok_args(
            "PLAIN", raw.plain_response("guest", "guest")))
        c.send(start_ok[:len(start_ok) // 2])
        self.assertClosedAfterTimeout(c, t0)

    def test_slow_drip_does_not_extend_the_deadline(self):
        # handshake_timeout counts from accept (RabbitMQ's handshake_timeout
        # timer is started once), so bytes trickling in do not keep a
        # connection alive: one byte of start-ok every 0.2 s.
        t0 = time.monotonic()
        c = self.raw()
        c.start()
        start_ok = raw.method_frame(0, raw.CONNECTION_START_OK, raw.start_ok_args(
            "PLAIN", raw.plain_response("guest", "guest")))
        for b in start_ok:
            if not c.try_send(bytes([b])) or time.monotonic() - t0 > 4.0:
                break
            time.sleep(0.2)
        self.assertClosedAfterTimeout(c, t0)

    def test_open_connection_outlives_handshake_timeout(self):
        c = self.raw()
        c.handshake(heartbeat=0)
        time.sleep(1.8)
        c.open_channel(1)


class ClientClose(BrokerTestCase):
    def test_close_gets_close_ok_then_socket_closed(self):
        # RabbitMQ waits for the client to close the socket, or closes it after
        # min(heartbeat, 30) s; Leveret closes it right after close-ok.
        c = self.raw()
        c.handshake(heartbeat=0)
        c.open_channel(1)
        c.send_method(0, raw.CONNECTION_CLOSE, raw.close_args(200, "Goodbye"))
        c.expect_method(raw.CONNECTION_CLOSE_OK, channel=0)
        c.expect_eof(3.0)


class Shutdown(BrokerTestCase):
    def test_sigterm_sends_320_to_every_open_connection_and_exits_0(self):
        a = self.raw()
        a.handshake(heartbeat=0)
        a.open_channel(1)
        b = self.raw()
        b.handshake(heartbeat=0)
        self.broker.signal()
        for c in (a, b):
            # RabbitMQ: "CONNECTION_FORCED - broker forced connection closure with
            # reason 'shutdown'"
            c.expect_connection_close(raw.CONNECTION_FORCED, timeout=10.0)
        self.assertEqual(self.broker.wait(10.0), 0)

    def test_sigterm_closes_unopened_connection_without_a_frame(self):
        # Only open connections get 320; one still in the handshake is just closed
        # (rabbit_reader.erl sends connection.close only once the connection runs).
        c = self.raw()
        c.start()
        self.broker.signal()
        c.expect_eof(10.0)
        self.assertEqual(self.broker.wait(10.0), 0)

