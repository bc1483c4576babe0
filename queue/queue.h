/* SPDX-License-Identifier: MIT */
/*
 * queue: a message queue: ready messages in order, consumers, unacked counts.
 *
 * A queue holds one reference to each ready message. Every message gets a
 * per-queue sequence number when it is enqueued; a requeued message goes back
 * to the place its sequence number gives it (RabbitMQ keeps original order),
 * with the redelivered flag set. With x-max-priority the queue keeps one such
 * ordered list per priority and serves the highest non-empty one first.
 *
 * Consumers are registered with a small ops table (the channel layer): the
 * queue asks can_take() before each delivery and hands the message to
 * deliver(). Consumers are served by priority (x-priority, highest first) and
 * round-robin among equal priorities; with x-single-active-consumer only the
 * oldest consumer receives. Callbacks never call back into the same queue.
 *
 * Queues are refcounted: the registry holds one reference and every unacked
 * delivery holds one, so an ack that arrives after queue.delete is harmless.
 * The queue module knows nothing of exchanges, channels or sockets.
 */
#ifndef QUEUE_QUEUE_H
#define QUEUE_QUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/err.h"
#include "broker/util.h"

struct msg;
struct queue;
struct consumer;

enum {
    QUEUE_F_DURABLE = 1u << 0,
    QUEUE_F_EXCLUSIVE = 1u << 1,
    QUEUE_F_AUTO_DELETE = 1u << 2,
};

/** Callbacks into a consumer's owner (the channel). */
struct consumer_ops {
    /** May the consumer take one more message now (prefetch credit)? */
    bool (*can_take)(void *owner);
    /**
     * Delivers m. The callee receives one reference to m and must keep or drop
     * it. seq identifies the message in this queue for queue_ack/queue_requeue.
     * q is borrowed: a consumer that keeps it for a later queue_ack or
     * queue_requeue (every delivery that is not no_ack) takes its own reference
     * with queue_ref. Must not call back into q.
     */
    void (*deliver)(void *owner, struct queue *q, struct msg *m, uint64_t seq, bool redelivered);
    /**
     * The queue is being deleted: the consumer is gone (send basic.cancel).
     * The consumer is already unlinked and is freed when this returns.
     */
    void (*cancelled)(void *owner, struct queue *q);
};

/**
 * Creates a queue. name and vhost are copied; args (field-table contents,
 * already table_check'ed) are copied and validated the way RabbitMQ does:
 * x-max-priority (0..255), x-single-active-consumer (bool), x-message-ttl,
 * x-expires, x-max-length, x-max-length-bytes, x-overflow, x-dead-letter-exchange,
 * x-dead-letter-routing-key, x-queue-type, x-delivery-limit; an invalid value
 * gives NULL and 406 PRECONDITION_FAILED with RabbitMQ's text ("invalid arg
 * 'x-max-priority' for queue 'q' in vhost '/': ..."). Unknown arguments are kept
 * and ignored. x-queue-type "quorum" gives a queue that runs like a classic
 * one but accepts and compares quorum arguments (x-delivery-limit, ...) and
 * must be durable, not exclusive, not auto-delete (406 "invalid property
 * 'non-durable' for queue ..."); "stream" is refused with 406. owner is the
 * exclusive owner's connection id (ignored and stored as 0 when flags lack
 * QUEUE_F_EXCLUSIVE). The result holds one reference.
 */
struct queue *queue_create(struct view vhost, struct view name, unsigned flags, struct view args,
                           uint64_t owner, struct proto_err *err);
struct queue *queue_ref(struct queue *q);
/**
 * Drops a reference and sets *q = NULL; accepts *q == NULL. At zero frees the
 * queue, which must have been deleted or be idle (no consumers, no ready
 * messages; asserted). Ready messages left are dropped.
 */
void queue_unref(struct queue **q);
/**
 * Deletes the queue: every consumer's cancelled() is called, ready messages
 * are dropped, and the queue refuses further publishes. Returns how many
 * ready messages were dropped. Does not drop the caller's reference.
 */
size_t queue_delete(struct queue *q);
bool queue_is_deleted(const struct queue *q);

const char *queue_name(const struct queue *q);
const char *queue_vhost(const struct queue *q);
unsigned queue_flags(const struct queue *q);
struct view queue_args(const struct queue *q);
uint64_t queue_owner(const struct queue *q);
/**
 * Equivalence check of a redeclare, in RabbitMQ's order: the exclusive owner
 * must be the same (owner is the declaring connection's id, used only when
 * flags has QUEUE_F_EXCLUSIVE; a non-exclusive redeclare of an exclusive queue
 * fails too) else 405 RESOURCE_LOCKED "cannot obtain exclusive access to locked
 * queue 'q' in vhost '/'. It could be ..."; then durable, auto_delete and the
 * arguments RabbitMQ compares for the queue's type, else 406 "inequivalent arg
 * 'durable' for queue 'q' in vhost '/': received 'true' but current is 'false'"
 * or "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received the
 * value '10' of type 'signedint' but current is none". args are checked table
 * contents (borrowed). Returns 0 or -1.
 */
int queue_check_equivalent(const struct queue *q, unsigned flags, struct view args, uint64_t owner,
                           struct proto_err *err);
/**
 * Exclusive-queue access for any other use (passive declare, consume, get,
 * bind, purge, delete): 0 when q is not exclusive or owner is its owner, else
 * -1 with 405 RESOURCE_LOCKED and RabbitMQ's "cannot obtain exclusive access
 * to locked queue ..." text.
 */
int queue_check_access(const struct queue *q, uint64_t owner, struct proto_err *err);

/* ---- counts ---- */
size_t queue_ready_count(const struct queue *q);
uint64_t queue_ready_bytes(const struct queue *q);
size_t queue_unacked_count(const struct queue *q);
size_t queue_consumer_count(const struct queue *q);
/** Sum of ready message bytes over all queues (for the memory budget). */
uint64_t queue_total_ready_bytes(void);

/* ---- messages ---- */
/**
 * Enqueues m (borrowed; the queue takes its own reference) and delivers to
 * consumers that can take it (calls their can_take and deliver). Returns 0,
 * or -1 when the queue refuses the message with err set: 404 "no queue 'q' in
 * vhost '/'" once deleted (later: x-overflow reject-publish).
 */
int queue_publish(struct queue *q, struct msg *m, struct proto_err *err);
/**
 * basic.get: removes the head message and returns it (the caller owns the
 * reference), or NULL when empty. When ack is true the message counts as
 * unacked until queue_ack/queue_requeue with *seq (the caller keeps q with
 * queue_ref until then); with ack false it is settled at once.
 */
struct msg *queue_get(struct queue *q, bool ack, uint64_t *seq, bool *redelivered);
/**
 * A delivered message was acknowledged: it is settled for good (the caller
 * drops its own reference to the message). Works on a deleted queue. Does not
 * dispatch: acks change the channel's credit, so the channel calls
 * queue_dispatch on the queues its consumers read.
 */
void queue_ack(struct queue *q, uint64_t seq);
/**
 * Puts an unacked message back at its original place among the ready ones,
 * marked redelivered, taking over the caller's reference to m. On a deleted
 * queue m is dropped. Does not dispatch: requeue a batch (nack multiple,
 * channel close), then call queue_dispatch once, so the batch keeps its order.
 */
void queue_requeue(struct queue *q, struct msg *m, uint64_t seq);
/** Drops every ready message; returns how many. */
size_t queue_purge(struct queue *q);

/* ---- consumers ---- */
/**
 * Adds a consumer. no_ack deliveries are settled at once (not counted as
 * unacked). exclusive fails with 403 ACCESS_REFUSED ("queue 'q' in vhost '/'
 * in exclusive use") when the queue has consumers; any consumer fails that way
 * when an exclusive one exists. The consumer is owned by the queue until
 * queue_cancel or queue_delete. Does not deliver yet: call queue_dispatch.
 * On a deleted queue: NULL with 404 "no queue 'q' in vhost '/'". ops and
 * owner are borrowed and must outlive the consumer.
 */
struct consumer *queue_consume(struct queue *q, const struct consumer_ops *ops, void *owner,
                               int32_t priority, bool exclusive, bool no_ack,
                               struct proto_err *err);
/**
 * Removes and frees the consumer (not calling cancelled()). Returns true if
 * the queue now has none (auto-delete). Does not dispatch: with
 * x-single-active-consumer call queue_dispatch so the next oldest consumer
 * gets the messages.
 */
bool queue_cancel(struct queue *q, struct consumer *c);
/**
 * Delivers ready messages to consumers that can take them, until neither is
 * left: highest x-priority first, round-robin among equal priorities, only
 * the oldest consumer with x-single-active-consumer. can_take() is asked
 * before every message. A no-op on a deleted queue and when called again from
 * inside a callback.
 */
void queue_dispatch(struct queue *q);

#endif
