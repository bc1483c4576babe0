/* SPDX-License-Identifier: MIT */
/*
 * vhost: virtual hosts and the exchanges and queues registered in each.
 *
 * The registry owns exchanges (exch_destroy on removal) and holds one
 * reference to each queue. Every vhost is created with RabbitMQ's predeclared
 * exchanges: the default exchange "" (direct; every queue is reachable by its
 * name, handled by vhost_route_default rather than stored bindings),
 * amq.direct, amq.fanout, amq.topic, amq.headers and amq.match. The process
 * has one loop, so the registry is module state.
 */
#ifndef BROKER_VHOST_H
#define BROKER_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/util.h"

struct vhost;
struct exch;
struct queue;

/** Creates vhost name (copied) with its predeclared exchanges; returns the existing one if any. */
struct vhost *vhost_add(struct view name);
struct vhost *vhost_find(struct view name);
/** Deletes every vhost with their exchanges and queues (shutdown). */
void vhost_remove_all(void);
const char *vhost_name(const struct vhost *v);
size_t vhost_count(void);
struct vhost *vhost_at(size_t i);

/* ---- exchanges ---- */
struct exch *vhost_exch(const struct vhost *v, struct view name);
/** Registers x (taking ownership). The name must be free. */
void vhost_add_exch(struct vhost *v, struct exch *x);
/** Unregisters and destroys x (removing its bindings). */
void vhost_delete_exch(struct vhost *v, struct exch *x);
/**
 * Deletes x if it is auto-delete and has no bindings left as a source, then
 * cascades (RabbitMQ deletes an auto-delete exchange when its last binding goes).
 */
void vhost_maybe_auto_delete_exch(struct vhost *v, struct exch *x);
size_t vhost_exch_count(const struct vhost *v);
/** Visits every exchange. */
void vhost_for_each_exch(const struct vhost *v, void (*fn)(struct exch *, void *), void *arg);

/* ---- queues ---- */
/** Borrowed queue pointer (the registry keeps its reference), or NULL. */
struct queue *vhost_queue(const struct vhost *v, struct view name);
/** Registers q, taking over the caller's reference. The name must be free. */
void vhost_add_queue_take(struct vhost *v, struct queue *q);
/**
 * Deletes q: removes its bindings (auto-deleting exchanges left without any),
 * cancels its consumers (their cancelled() callbacks run), drops its ready
 * messages, unregisters it and drops the registry's reference. Returns how
 * many ready messages it held.
 */
size_t vhost_delete_queue(struct vhost *v, struct queue *q);
/** The queue module's idle sink (x-expires): deletes q from its vhost, no dead-lettering. */
void vhost_queue_idle(void *arg, struct queue *q);
/** Deletes every exclusive queue owned by connection conn_id (connection close). */
void vhost_delete_exclusive(uint64_t conn_id);
size_t vhost_queue_count(const struct vhost *v);
void vhost_for_each_queue(const struct vhost *v, void (*fn)(struct queue *, void *), void *arg);

#endif
