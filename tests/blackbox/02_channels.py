# SPDX-License-Identifier: MIT
"""02 channels: channel.open/close/flow and the channel_max limit.

RabbitMQ behaviours checked here (rabbit_channel.erl, rabbit_reader.erl):
- a second channel.open on an open channel: 504 CHANNEL_ERROR "second 'channel.open' seen";
- any other method on a channel that was never opened: 504 "expected 'channel.open'";
- channel_max limits how many channels are open at once, not the channel number
  (create_channel/2 compares the channel count with the negotiated channel_max):
  opening one channel too many is 530 NOT_ALLOWED "number of channels opened (N) has
  reached the negotiated channel_max (N)";
- channel.flow active=false: 540 NOT_IMPLEMENTED "active=false".
"""

import raw
from harness import BrokerTestCase


class Channels(BrokerTestCase):
    def conn(self, **kw):
        c = self.raw()
        c.handshake(heartbeat=0, **kw)
        return c

    def test_channel_open_gets_open_ok(self):
        c = self.conn()
        f = c.open_channel(1)
        self.assertEqual(f.args().longstr_bytes(), b"", "open-ok's reserved longstr")

    def test_open_twice_on_same_number_is_504(self):
        c = self.conn()
        c.open_channel(1)
        c.send_method(1, raw.CHANNEL_OPEN, raw.channel_open_args())
        code, text, cls, mth = c.expect_connection_close(raw.CHANNEL_ERROR)
        self.assertEqual((cls, mth), raw.CHANNEL_OPEN)

    def test_method_on_channel_never_opened_is_504(self):
        c = self.conn()
        c.send_method(5, raw.CHANNEL_FLOW, raw.flow_args(True))
        code, text, cls, mth = c.expect_connection_close(raw.CHANNEL_ERROR)
        self.assertEqual((cls, mth), raw.CHANNEL_FLOW)

    def test_close_on_channel_never_opened_is_504(self):
        # rabbit_channel.erl checks for "starting" before it looks at channel.close.
        c = self.conn()
        c.send_method(4, raw.CHANNEL_CLOSE, raw.close_args(200, "bye"))
        code, text, cls, mth = c.expect_connection_close(raw.CHANNEL_ERROR)
        self.assertEqual((cls, mth), raw.CHANNEL_CLOSE)

    def test_unsupported_method_on_channel_never_opened_is_504_not_540(self):
        # The channel state is checked before the method is looked at.
        c = self.conn()
        c.send_method(3, raw.QUEUE_DECLARE, raw.queue_declare_args("q"))
        c.expect_connection_close(raw.CHANNEL_ERROR)

    def test_frame_sent_one_byte_at_a_time_is_reassembled(self):
        c = self.conn()
        for b in raw.method_frame(7, raw.CHANNEL_OPEN, raw.channel_open_args()):
            c.send(bytes([b]))
        c.expect_method(raw.CHANNEL_OPEN_OK, channel=7)

    def test_close_gets_close_ok_and_number_can_be_reopened(self):
        c = self.conn()
        c.open_channel(1)
        c.close_channel(1)
        c.open_channel(1)
        c.close_channel(1)

    def test_channels_are_independent(self):
        c = self.conn()
        for ch in (1, 2, 300):
            c.open_channel(ch)
        c.close_channel(2)
        c.send_method(300, raw.CHANNEL_FLOW, raw.flow_args(True))
        c.expect_method(raw.CHANNEL_FLOW_OK, channel=300)
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(True))
        c.expect_method(raw.CHANNEL_FLOW_OK, channel=1)

    def test_flow_active_true_gets_flow_ok_active_true(self):
        c = self.conn()
        c.open_channel(1)
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(True))
        f = c.expect_method(raw.CHANNEL_FLOW_OK, channel=1)
        self.assertTrue(raw.decode_flow_ok(f))

    def test_flow_active_false_is_540(self):
        c = self.conn()
        c.open_channel(1)
        c.send_method(1, raw.CHANNEL_FLOW, raw.flow_args(False))
        code, text, cls, mth = c.expect_connection_close(raw.NOT_IMPLEMENTED)
        self.assertEqual((cls, mth), raw.CHANNEL_FLOW)

    def test_channel_count_above_channel_max_is_530(self):
        c = self.conn(channel_max=10)
        for ch in range(1, 11):
            c.open_channel(ch)
        c.send_method(11, raw.CHANNEL_OPEN, raw.channel_open_args())
        code, text, cls, mth = c.expect_connection_close(raw.NOT_ALLOWED)
        self.assertEqual(text, "NOT_ALLOWED - number of channels opened (10) has reached "
                         "the negotiated channel_max (10)")

    def test_closed_channels_do_not_count_toward_channel_max(self):
        c = self.conn(channel_max=2)
        c.open_channel(1)
        c.open_channel(2)
        c.close_channel(1)
        c.open_channel(3)

    def test_channel_number_above_channel_max_is_allowed_while_under_the_count(self):
        # RabbitMQ counts open channels; it does not compare the number itself.
        c = self.conn(channel_max=10)
        c.open_channel(11)
        c.open_channel(65535)

    def test_default_channel_max_allows_2047_channels_and_refuses_the_2048th(self):
        c = self.conn()
        batch = b"".join(raw.method_frame(ch, raw.CHANNEL_OPEN, raw.channel_open_args())
                         for ch in range(1, 2048))
        c.send(batch)
        # Open-oks of different channels may come in any order (RabbitMQ runs each
        # channel in its own process and does reorder them).
        opened = set()
        for _ in range(1, 2048):
            opened.add(c.expect_method(raw.CHANNEL_OPEN_OK).channel)
        self.assertEqual(opened, set(range(1, 2048)))
        c.send_method(2048, raw.CHANNEL_OPEN, raw.channel_open_args())
        c.expect_connection_close(raw.NOT_ALLOWED)
