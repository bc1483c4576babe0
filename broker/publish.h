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

struct vhost;
struct exch;
struct msg;
struct queue;

struct publish_result {
    size_t routed;         /* queues that accepted the message */
    size_t refused;        /* queues that refused it (overflow, deleted) */
    struct queue *busiest; /* the accepting queue with the longest backlog (borrowed) */
};

/**
 * Routes m (borrowed; each accepting queue takes its own reference) through x.
 * When m carries a BCC header, the queues get a copy without it (RabbitMQ
 * hides BCC from consumers); r->routed and r->refused count queues.
 */
void publish_route(struct vhost *v, struct exch *x, struct msg *m, struct publish_result *r);

#endif
