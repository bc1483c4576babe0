/* SPDX-License-Identifier: MIT */
/*
 * chan: one AMQP channel: its state machine and content assembly.
 *
 * A channel belongs to its connection (conn.c creates it on channel.open and
 * destroys it on close-ok or when the connection goes). Soft errors close the
 * channel (chan_fail sends channel.close and discards the channel's frames
 * until close-ok); hard errors are passed up to conn_fail.
 */
#ifndef BROKER_CHAN_H
#define BROKER_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp/frame.h"
#include "broker/err.h"

struct conn;
struct chan;

/** Creates channel n of c (state opening). Owned by c. */
struct chan *chan_create(struct conn *c, uint16_t n);
/** Frees the channel and whatever it holds (partial content). Accepts NULL. */
void chan_destroy(struct chan *ch);

/**
 * Handles one frame for this channel. Protocol errors are turned into
 * channel.close (soft) or connection.close (hard) inside; the return value is
 * -1 only when the connection failed and the caller must stop feeding frames.
 */
int chan_handle_frame(struct chan *ch, const struct frame *f);

/** Soft error: channel.close with err, then discard frames until close-ok. */
void chan_fail(struct chan *ch, const struct proto_err *err);

struct conn *chan_conn(struct chan *ch);
uint16_t chan_number(const struct chan *ch);
void chan_send_method(struct chan *ch, const struct spec_method *m);
/** Marks the channel open (after channel.open-ok was sent). */
void chan__set_open(struct chan *ch);
bool chan_is_open(const struct chan *ch);
/** The peer sent channel.close: reply close-ok and destroy the channel. */
void chan__peer_closed(struct chan *ch);
/** The peer sent close-ok to our channel.close: destroy the channel. */
void chan__close_ok(struct chan *ch);

#endif
