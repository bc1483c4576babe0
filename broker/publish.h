/* SPDX-License-Identifier: MIT */
/*
 * publish: from a complete message to the queues it reaches.
 *
 * Resolves the destinations the way RabbitMQ does: the default exchange
 * delivers to the queue named by the routing key; other exchanges route
 * through their bindings (and exchange-to-exchange bindings), for the routing
 * key plus the CC and BCC header keys; when nothing matches, the
 * alternate-exchange argument is followed. Every queue reached gets the
 * message once.
 */
#ifndef BROKER_PUBLISH_H
#define BROKER_PUBLISH_H

#include <stdbool.h>
#include <stddef.h>

#include "queue/queue.h"

struct vhost;
struct exch;
struct msg;
struct queue;

struct publish_result {
    size_t routed;         /* queues that accepted the message */
    size_t refused;        /* queues that refused it (overflow, deleted) */
    struct queue *busiest; /* the accepting queue with the longest backlog (borrowed) */
};

/** Decides whether queue q may receive m (true): the dead-letter cycle rule. */
typedef bool publish_accept_fn(void *arg, struct queue *q, struct msg *m);

/**
 * Routes m (borrowed; each accepting queue takes its own reference) through x.
 * Queues keep m as published, BCC header included: it is hidden from
 * consumers at delivery (chan.c) but still routes dead letters, as in
 * RabbitMQ. r->routed and r->refused count queues.
 */
void publish_route(struct vhost *v, struct exch *x, struct msg *m, struct publish_result *r);
/** As publish_route, skipping queues for which accept (when not NULL) says no. */
void publish_route_filtered(struct vhost *v, struct exch *x, struct msg *m,
                            publish_accept_fn *accept, void *arg, struct publish_result *r);

/**
 * The queue module's dead-letter sink (see queue_set_dead_letter_sink): turns
 * m (a reference, consumed) dead-lettered out of q into RabbitMQ's
 * dead-lettered form and routes it through q's dead-letter exchange, skipping
 * queues that would close an automatic cycle. A missing DLX counts as dropped
 * on q; each accepting queue counts a received dead letter. Must not be called
 * from inside publish_route (the queue module defers it to queue_flush).
 */
queue_dead_letter_fn publish_dead_letter;

#endif
