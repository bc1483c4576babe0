/* SPDX-License-Identifier: MIT */
/*
 * conn: one AMQP connection: socket, handshake, frames in, frames out.
 *
 * A connection owns its socket, its watchers (embedded: the owner is found
 * with container_of), its frame reader, its output buffer and its channels.
 * Input is read into the loop's shared buffer and parsed in place; only frames
 * split across reads are copied. Output is appended to an output buffer and
 * written in batches from the loop's prepare hook (STYLE.md §2.2). A failing
 * connection is never freed on its own stack: conn_close_now() marks it and the
 * loop frees it later (§2.6).
 */
#ifndef BROKER_CONN_H
#define BROKER_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "amqp/spec_gen.h"
#include "broker/err.h"
#include "broker/util.h"

struct loop;
struct conn;
struct chan;
struct buf;
struct auth_user;
struct msg;

struct tls_ctx;
struct tls_info;

/**
 * Accepts ownership of fd (a connected, non-blocking socket). With tls (the
 * TLS listener's context, borrowed: it outlives every connection) the
 * connection speaks TLS, its handshake counted in the handshake timeout.
 * Never fails.
 */
struct conn *conn_create(struct loop *l, int fd, const char *peer, struct tls_ctx *tls);
/** Frees the connection and its channels. Only the loop calls this (prepare hook). */
void conn_destroy(struct conn *c);

/** Appends a method frame for channel ch to the output. */
void conn_send_method(struct conn *c, uint16_t ch, const struct spec_method *m);
/**
 * Appends a content-carrying method (basic.deliver, basic.get-ok,
 * basic.return) with msg's stored properties and body, split to this
 * connection's frame_max. Large bodies are referenced, not copied (the output
 * holds a reference to msg until written). msg is borrowed.
 */
void conn_send_content(struct conn *c, uint16_t ch, const struct spec_method *m, struct msg *msg);
/** Output buffer, for writers that append frames themselves; call conn_output_done() after. */
struct buf *conn_output(struct conn *c);
void conn_output_done(struct conn *c);

/**
 * Hard error: sends connection.close with err (its code must be a hard one, or
 * any code for a close the broker initiates), then ignores everything but
 * close/close-ok until a timeout closes the socket. Reply text gets RabbitMQ's
 * "NAME - " prefix here.
 */
void conn_fail(struct conn *c, const struct proto_err *err);
/** Formats err's reply text the RabbitMQ way: "NOT_FOUND - no queue 'x'...". */
void conn__reply_text(const struct proto_err *err, char text[256]);
/** Closes with 320 CONNECTION_FORCED and reply text why (shutdown, management). */
void conn_force_close(struct conn *c, const char *why);
/** Flushes what it can and frees the connection soon; no close handshake. */
void conn_close_now(struct conn *c);

/** Writes as much pending output as the socket takes. Called by the loop. */
void conn_flush(struct conn *c);
bool conn_is_closed(const struct conn *c);

/**
 * The set of raised resource alarms changed (broker/alarm.c calls this).
 * A connection is blocked only when it publishes during an alarm
 * (conn__note_publish); when the set becomes empty every blocked connection
 * is read from again and, if it announced the connection.blocked capability,
 * gets connection.unblocked.
 */
void conn_alarms_changed(unsigned alarms);

/* ---- accessors used by the handlers ---- */
uint64_t conn_id(const struct conn *c);
const char *conn_peer(const struct conn *c);
struct sockaddr_storage;
/** The broker's end of the socket (getsockname) into *ss; false if unknown. */
bool conn_local_addr(const struct conn *c, struct sockaddr_storage *ss);
struct loop *conn_loop(struct conn *c);
const struct auth_user *conn_user(const struct conn *c);
/** The vhost opened by connection.open; empty before. Borrowed. */
const char *conn_vhost(const struct conn *c);
uint32_t conn_frame_max(const struct conn *c);
uint16_t conn_channel_max(const struct conn *c);

/* ---- handshake steps, for broker/handle_connection.c ---- */
enum conn_state {
    CONN_AWAIT_HEADER, /* protocol header not yet complete */
    CONN_AWAIT_START_OK,
    CONN_AWAIT_TUNE_OK,
    CONN_AWAIT_OPEN,
    CONN_OPEN,
    CONN_CLOSING, /* sent connection.close, waiting for close-ok */
    CONN_CLOSED,  /* socket done: flush what is left, then free */
};
enum conn_state conn_state(const struct conn *c);
/** Records the logged-in user, taking over the caller's reference to u. */
void conn__set_user_take(struct conn *c, struct auth_user *u, struct view client_props);
void conn__send_tune(struct conn *c);
int conn__tune(struct conn *c, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat,
               struct proto_err *err);
void conn__open(struct conn *c, struct view vhost);
/** Client sent connection.close: answer close-ok and close. */
void conn__peer_closed(struct conn *c);
/** Client sent close-ok to our close. */
void conn__close_ok(struct conn *c);

/* ---- for broker/chan.c: deliveries, confirms, flow control ---- */
struct vhost;
struct queue;
struct config;
/** The vhost opened by connection.open (NULL before). */
struct vhost *conn_vh(const struct conn *c);
/** Whether the client advertised consumer_cancel_notify. */
bool conn_wants_cancel_notify(const struct conn *c);
/**
 * Whether deliveries may be appended now: false while the output is above the
 * high-water mark (then the channels' consumers are resumed when it drains).
 */
bool conn_can_deliver(struct conn *c);
/** ch has confirms to send at the end of this read (coalesced basic.ack). */
void conn__confirms_pending(struct conn *c, struct chan *ch);
void conn__confirms_forget(struct conn *c, struct chan *ch);
/**
 * A message was published to q (borrowed; may be NULL): block c if a
 * resource alarm is raised (connection.blocked), and pause reading from c if
 * q's backlog outruns its consumers or the memory budget is exceeded.
 */
void conn__note_publish(struct conn *c, struct queue *q);
/**
 * c published a direct reply-to message straight into target's output
 * (borrowed): if that output is above the high-water mark (the requester does
 * not read), reading from c pauses until it drains, so a reader that never
 * reads cannot make the broker buffer replies without bound.
 */
void conn__note_reply(struct conn *c, struct conn *target);
/** Resumes flow-paused publishers whose reason went away (from the prepare hook). */
void conn__flow_poll(const struct config *cfg);

/* ---- channels ---- */
/** Channel n, or NULL when not open. */
struct chan *conn_chan(struct conn *c, uint16_t n);
/** Forgets channel n (it has been destroyed by chan.c). */
void conn__chan_gone(struct conn *c, uint16_t n);

/* ---- introspection (management API); all results borrowed ---- */
/** Visits every live connection. fn must not free or close c synchronously
 * other than through conn_force_close (which only queues frames). */
void conn_for_each(void (*fn)(struct conn *, void *), void *arg);
/** The live connection with this id, or NULL. */
struct conn *conn_find(uint64_t id);
/** Open connections (past connection.open-ok) to vhost (borrowed). */
size_t conn_count_in_vhost(struct view vhost);
uint16_t conn_heartbeat(const struct conn *c);
uint16_t conn_channel_count(const struct conn *c);
/** When the TCP connection was accepted (seconds since the epoch). */
double conn_connected_at(const struct conn *c);
uint64_t conn_recv_oct(const struct conn *c);
uint64_t conn_send_oct(const struct conn *c);
size_t conn_send_pending(const struct conn *c);
/** Input paused by an alarm (connection.blocked) or flow control. */
bool conn_is_blocked(const struct conn *c);
/** The TLS session (see broker/tls.h), or NULL on a plain TCP connection. */
const struct tls_info *conn_tls_info(const struct conn *c);
/**
 * RabbitMQ's connection state name: "starting" (handshake), "running",
 * "blocking" (an alarm is raised, the connection has not published since),
 * "blocked" (published during an alarm: not read from), "flow" (paused by
 * flow control) or "closing". Static string.
 */
const char *conn_state_name(const struct conn *c);
/** The client-properties table contents from connection.start-ok (empty before login). */
struct view conn_client_properties(const struct conn *c);
void conn_for_each_chan(struct conn *c, void (*fn)(struct chan *, void *), void *arg);

#endif
