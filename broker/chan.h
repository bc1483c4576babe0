/* SPDX-License-Identifier: MIT */
/*
 * chan: one AMQP channel: state machine, content assembly, consumers,
 * unacknowledged deliveries, publisher confirms and transactions.
 *
 * A channel belongs to its connection (conn.c creates it on channel.open and
 * destroys it on close-ok or when the connection goes). Soft errors close the
 * channel (chan_fail sends channel.close and discards the channel's frames
 * until close-ok); hard errors are passed up to conn_fail. Destroying a
 * channel requeues its unacked messages (marked redelivered) and cancels its
 * consumers, as RabbitMQ does.
 *
 * Ownership: each unacked delivery holds a reference to its message and to
 * its queue; each consumer holds a reference to its queue.
 */
#ifndef BROKER_CHAN_H
#define BROKER_CHAN_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp/frame.h"
#include "broker/err.h"

struct conn;
struct chan;
struct queue;
struct exch;
struct vhost;

/** Creates channel n of c (state opening). Owned by c. */
struct chan *chan_create(struct conn *c, uint16_t n);
/** Requeues unacked messages, cancels consumers and frees the channel. Accepts NULL. */
void chan_destroy(struct chan *ch);

/**
 * Handles one frame for this channel. Protocol errors are turned into
 * channel.close (soft) or connection.close (hard) inside; the return value is
 * -1 only when the connection failed.
 */
int chan_handle_frame(struct chan *ch, const struct frame *f);

/** Soft error: channel.close with err, then discard frames until close-ok. */
void chan_fail(struct chan *ch, const struct proto_err *err);

struct conn *chan_conn(struct chan *ch);
uint16_t chan_number(const struct chan *ch);
struct vhost *chan_vhost(struct chan *ch);
void chan_send_method(struct chan *ch, const struct spec_method *m);
/** Sends the field-less reply id (declare-ok, bind-ok, ...) unless the client asked for no-wait. */
void chan_reply(struct chan *ch, uint32_t id, bool no_wait);
/** Marks the channel open (after channel.open-ok was sent). */
void chan__set_open(struct chan *ch);
bool chan_is_open(const struct chan *ch);
/** The peer sent channel.close: reply close-ok and destroy the channel. */
void chan__peer_closed(struct chan *ch);
/** The peer sent close-ok to our channel.close: destroy the channel. */
void chan__close_ok(struct chan *ch);

/* ---- the last queue declared on this channel (spec: empty queue names mean it) ---- */
void chan_set_last_queue(struct chan *ch, const char *name);
/** The last declared queue's name (borrowed), or "" when none. */
const char *chan_last_queue(const struct chan *ch);

/* ---- basic ---- */
/** basic.qos: prefetch_count per new consumer (global false) or for the whole channel. */
void chan_set_qos(struct chan *ch, uint16_t prefetch_count, bool global);
/**
 * basic.consume on q (borrowed; the consumer takes a reference). An empty tag
 * gets a generated "amq.ctag-..." one. Sends consume-ok (unless nowait) and
 * then starts deliveries. 530 NOT_ALLOWED on a reused tag; 403 for exclusive
 * conflicts (from the queue).
 */
int chan_consume(struct chan *ch, struct queue *q, struct view tag, bool no_ack, bool exclusive,
                 int32_t priority, bool nowait, struct proto_err *err);
/** Whether a queue name is the direct reply-to pseudo-queue "amq.rabbitmq.reply-to". */
bool chan_is_reply_to(struct view queue);
/** basic.consume on amq.rabbitmq.reply-to: must be no-ack (406 otherwise). */
int chan_consume_reply_to(struct chan *ch, struct view tag, bool no_ack, bool nowait,
                          struct proto_err *err);
/** basic.cancel: an unknown tag is not an error (RabbitMQ answers cancel-ok). */
void chan_cancel(struct chan *ch, struct view tag, bool nowait);
/** basic.get on q: get-ok with the message, or get-empty. */
void chan_get(struct chan *ch, struct queue *q, bool no_ack);
/** basic.ack / basic.nack / basic.reject: 406 PRECONDITION_FAILED on an unknown tag. */
int chan_ack(struct chan *ch, uint64_t tag, bool multiple, struct proto_err *err);
int chan_reject(struct chan *ch, uint64_t tag, bool multiple, bool requeue, struct proto_err *err);
/** basic.recover(-async) with requeue: every unacked message goes back, redelivered. */
void chan_recover(struct chan *ch);
/**
 * basic.publish: checks the exchange and arms content assembly; the message
 * is routed when its last body frame arrives. x is the resolved exchange.
 */
int chan_begin_publish(struct chan *ch, struct exch *x, struct view routing_key, bool mandatory,
                       struct proto_err *err);

/* ---- confirms and transactions ---- */
int chan_confirm_select(struct chan *ch, bool nowait, struct proto_err *err);
int chan_tx_select(struct chan *ch, struct proto_err *err);
int chan_tx_commit(struct chan *ch, struct proto_err *err);
int chan_tx_rollback(struct chan *ch, struct proto_err *err);

/**
 * The store reports every ticket up to durable as durable: sends the
 * confirms and tx.commit-oks that waited for them, in order, on every channel.
 * Called by broker/durable.c on the loop thread.
 */
void chan_release_durable(uint64_t durable);

/* ---- called by conn.c ---- */
/** Sends the coalesced basic.ack for confirms accumulated during this read. */
void chan__flush_confirms(struct chan *ch);
/** Output drained: let this channel's consumers take messages again. */
void chan__resume_deliveries(struct chan *ch);

/* ---- introspection (management API); all results borrowed ---- */
size_t chan_consumer_count(const struct chan *ch);
size_t chan_unacked_count(const struct chan *ch);
/** basic.qos prefetch for new consumers (global=false) and for the channel (global=true). */
uint16_t chan_prefetch(const struct chan *ch);
uint16_t chan_global_prefetch(const struct chan *ch);
bool chan_in_confirm_mode(const struct chan *ch);
bool chan_in_tx(const struct chan *ch);
typedef void chan_consumer_cb(void *arg, struct chan *ch, const char *tag, struct queue *q,
                              bool no_ack, uint16_t prefetch);
/** Visits the channel's consumers; fn must not cancel them. */
void chan_for_each_consumer(struct chan *ch, chan_consumer_cb *fn, void *arg);

#endif
