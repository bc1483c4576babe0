/* SPDX-License-Identifier: MIT */
/*
 * loop: the broker's single event loop (libev) and what hangs off it.
 *
 * One thread, one loop: broker state needs no locks. The loop owns the
 * listening socket, the list of connections, a read buffer shared by every
 * connection (reads are handled to completion before the next one, so one
 * buffer suffices and an idle connection holds none), and the "before sleep"
 * prepare hook that flushes pending output in batches and frees connections
 * that finished closing (STYLE.md §2.2, §2.6).
 */
#ifndef BROKER_LOOP_H
#define BROKER_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct ev_loop;
struct config;
struct auth;
struct conn;

struct loop;

/**
 * Creates the loop. cfg and auth are borrowed and must outlive the loop.
 * Returns NULL (with a message on stderr) when libev cannot start.
 */
struct loop *loop_create(const struct config *cfg, struct auth *auth);
/** Stops and frees everything the loop owns, including open connections. Accepts NULL. */
void loop_destroy(struct loop *l);
/** Binds and listens on the configured AMQP address and port. 0, or -1 after logging why. */
int loop_listen(struct loop *l);
/**
 * Wakes the loop to collect the message store's completions (durable_wake_fn;
 * arg is the struct loop). Safe from any thread.
 */
void loop_wake(void *arg);
/**
 * Runs until SIGTERM/SIGINT: then stops accepting, closes every client with
 * 320 CONNECTION_FORCED, waits (bounded) for them to go, and returns 0.
 */
int loop_run(struct loop *l);

/* ---- used by broker/conn.c ---- */
struct ev_loop *loop_ev(struct loop *l);
const struct config *loop_config(const struct loop *l);
struct auth *loop_auth(struct loop *l);
/** The shared read buffer: valid until the current callback returns. */
uint8_t *loop_read_buf(struct loop *l, size_t *size);
/** Queues c for a flush in the prepare hook (idempotent). */
void loop_want_flush(struct loop *l, struct conn *c);
/** Queues c to be freed in the prepare hook, after the current callback unwinds. */
void loop_defer_free(struct loop *l, struct conn *c);
/** Number of connections accepted and not yet freed. */
size_t loop_conn_count(const struct loop *l);
/** Whether the loop is shutting down (new connections are refused). */
int loop_is_stopping(const struct loop *l);

#endif
