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
 *
 * Limits and expiry (issue 4). The queue enforces x-message-ttl and the
 * per-message expiration (the smaller wins), x-max-length and
 * x-max-length-bytes with x-overflow, x-expires and, on quorum-typed queues,
 * x-delivery-limit. It never routes: a message it dead-letters goes to the
 * dead-letter sink the broker registers, and a queue unused for x-expires goes
 * to the idle sink (the broker deletes it). Both sinks run from a deferred
 * list, never while a queue is mid-update, so they may publish into any queue,
 * this one included: queue_flush() runs them (queue_expiry_run does too).
 * Time comes from a clock the broker may replace (queue_set_clock), in
 * milliseconds; the broker arms one timer at queue_expiry_next() and calls
 * queue_expiry_run() when it fires. The module never touches libev.
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
    /* deliver() may call queue_delivery_count(q, seq) (read-only) for the
     * x-delivery-count header of quorum-typed queues. */
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
/** queue_publish's result when x-overflow refused the message (see there). */
#define QUEUE_E_OVERFLOW (-2)

/**
 * Enqueues m (borrowed; the queue takes its own reference) and delivers to
 * consumers that can take it (calls their can_take and deliver). When the
 * queue holds no ready message and a consumer can take one, m goes straight
 * to it (so x-message-ttl 0 still reaches a waiting consumer, as RabbitMQ).
 * Returns 0, or:
 *  - -1 with err 404 "no queue 'q' in vhost '/'" once deleted;
 *  - QUEUE_E_OVERFLOW when x-overflow is reject-publish or reject-publish-dlx
 *    and m would take the ready messages past x-max-length or
 *    x-max-length-bytes (checked before any delivery, as RabbitMQ). err gets
 *    code 0 and a text for logs: it is not a protocol error. The broker nacks
 *    the publish under confirms and otherwise drops it silently; with
 *    reject-publish-dlx the queue has dead-lettered m (reason maxlen) too.
 * Drop-head overflow and expiry may dead-letter messages: those sink calls
 * wait for queue_flush(). Never calls the sinks itself.
 */
int queue_publish(struct queue *q, struct msg *m, struct proto_err *err);
/**
 * basic.get: removes the head message and returns it (the caller owns the
 * reference), or NULL when empty. When ack is true the message counts as
 * unacked until queue_ack/queue_requeue/queue_reject with *seq (the caller
 * keeps q with queue_ref until then); with ack false it is settled at once.
 * Expired messages met on the way are dead-lettered (sink calls wait for
 * queue_flush), never returned. Renews the x-expires lease.
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
 * queue_ack when the caller holds the message (the channel and the management
 * get do): also takes m's bytes (and persistent count) out of the unacked
 * totals queue_msg_stats reports. m is borrowed; NULL is queue_ack. Plain
 * queue_ack cannot adjust those byte totals; they return to 0 whenever the
 * queue has no unacked message left.
 */
void queue_ack_msg(struct queue *q, const struct msg *m, uint64_t seq);
/**
 * Puts an unacked message back at its original place among the ready ones,
 * marked redelivered, taking over the caller's reference to m. On a deleted
 * queue m is dropped. Does not dispatch: requeue a batch (nack multiple,
 * channel close), then call queue_dispatch once, so the batch keeps its order.
 * The message keeps its original expiry deadline (RabbitMQ); one already
 * expired is dead-lettered (reason expired). On a quorum-typed queue every
 * requeue counts as a return: past x-delivery-limit the message is
 * dead-lettered (reason delivery_limit) instead. Drop-head overflow applies
 * after the requeue, as RabbitMQ. Sink calls wait for queue_flush().
 */
void queue_requeue(struct queue *q, struct msg *m, uint64_t seq);
/**
 * basic.reject / basic.nack with requeue=false: the unacked message seq is
 * settled and dead-lettered with reason rejected (discarded when the queue
 * has no x-dead-letter-exchange), taking over the caller's reference to m.
 * On a deleted queue m is just dropped. The sink call waits for queue_flush(),
 * so this is safe while the caller walks its own unacked list.
 */
void queue_reject(struct queue *q, struct msg *m, uint64_t seq);
/**
 * The number of times the message seq was returned to q (requeued) before
 * its current delivery: the value of the x-delivery-count header RabbitMQ 4.0
 * adds on quorum queues (add it when the result is > 0). Valid inside
 * deliver() and right after queue_get for that delivery, and while it stays
 * unacked. Always 0 on classic queues. Never calls back.
 */
uint32_t queue_delivery_count(const struct queue *q, uint64_t seq);
/** Drops every ready message (not dead-lettered, as RabbitMQ); returns how many. */
size_t queue_purge(struct queue *q);

/* ---- inspection (management: peek and replay) ---- */

/**
 * Called by queue_peek for one ready message. m is borrowed for the call (take
 * a reference with msg_ref to keep it); seq is its sequence number in q, the
 * stable id queue_remove takes, and redelivered its flag. Must not change any
 * queue (no publish, get, remove or requeue). Returns true to go on, false to
 * stop the walk.
 */
typedef bool queue_peek_fn(void *arg, struct msg *m, uint64_t seq, bool redelivered);
/**
 * Walks the ready messages of q in the order consumers would receive them
 * (highest priority level first; within a level by sequence number, so a
 * requeued message shows at its original place), skips the first offset and
 * passes at most count (SIZE_MAX: all) to fn, stopping early when fn returns
 * false. Changes nothing: no message moves, none is marked redelivered, the
 * x-expires lease is not renewed, nothing is expired. Messages already past
 * their deadline (the expiry timer dead-letters them, they are never
 * delivered) are skipped and not counted. Returns how many fn received.
 * Cost: O(offset + count) for fresh messages; requeued ones cost a log factor
 * and a scratch array (freed before returning) as long as the walk. Never
 * calls the dead-letter or idle sinks.
 */
size_t queue_peek(const struct queue *q, size_t offset, size_t count, queue_peek_fn *fn, void *arg);
/**
 * Takes the ready message seq (from queue_peek, deliver() or queue_get) out of
 * q wherever it is, and returns it: the caller owns the reference. The rest
 * keep their order. The message is not dead-lettered, not counted as
 * delivered, and the x-expires lease is not renewed. NULL when q has no ready
 * message seq (unknown, delivered and unacked, already removed, past its
 * deadline, or q deleted). *redelivered (may be NULL) gets its flag. Does not
 * dispatch and never calls back. Cost: O(log n) per priority level for a
 * fresh message plus O(r) over the level's requeued messages.
 */
struct msg *queue_remove(struct queue *q, uint64_t seq, bool *redelivered);
/**
 * Whether queue_publish(q, m) would accept m now: false when q is deleted or
 * its x-overflow is reject-publish / reject-publish-dlx and m would take it
 * past x-max-length or x-max-length-bytes. m is borrowed. Changes nothing.
 */
bool queue_would_accept(const struct queue *q, const struct msg *m);

/* ---- consumers ---- */
/**
 * Adds a consumer. no_ack deliveries are settled at once (not counted as
 * unacked). exclusive fails with 403 ACCESS_REFUSED ("queue 'q' in vhost '/'
 * in exclusive use") when the queue has consumers; any consumer fails that way
 * when an exclusive one exists. The consumer is owned by the queue until
 * queue_cancel or queue_delete. Does not deliver yet: call queue_dispatch.
 * On a deleted queue: NULL with 404 "no queue 'q' in vhost '/'". ops and
 * owner are borrowed and must outlive the consumer. A queue with consumers is
 * in use: its x-expires lease does not run.
 */
struct consumer *queue_consume(struct queue *q, const struct consumer_ops *ops, void *owner,
                               int32_t priority, bool exclusive, bool no_ack,
                               struct proto_err *err);
/**
 * Removes and frees the consumer (not calling cancelled()). Returns true if
 * the queue now has none (auto-delete); then a full x-expires period starts.
 * Does not dispatch: with x-single-active-consumer call queue_dispatch so the
 * next oldest consumer gets the messages.
 */
bool queue_cancel(struct queue *q, struct consumer *c);
/**
 * Delivers ready messages to consumers that can take them, until neither is
 * left: highest x-priority first, round-robin among equal priorities, only
 * the oldest consumer with x-single-active-consumer. can_take() is asked
 * before every message. Expired messages met on the way are dead-lettered
 * (sink calls wait for queue_flush), never delivered. A no-op on a deleted
 * queue and when called again from inside a callback.
 */
void queue_dispatch(struct queue *q);

/* ---- dead letters ---- */

/** Why a message left a queue for its dead-letter exchange (x-death reason). */
enum queue_dl_reason {
    QUEUE_DL_REJECTED,
    QUEUE_DL_EXPIRED,
    QUEUE_DL_MAXLEN,
    QUEUE_DL_DELIVERY_LIMIT,
};
#define QUEUE_DL_NREASONS 4

/** RabbitMQ's reason text: "rejected", "expired", "maxlen", "delivery_limit". */
const char *queue_dl_reason_name(enum queue_dl_reason reason);

/**
 * The dead-letter sink. Receives one reference to m (the message as it was in
 * the queue; the sink makes the dead-lettered copy and routes it) and borrows
 * q, which may have been deleted meanwhile (its name and dead-letter target
 * stay readable). Called only for queues with x-dead-letter-exchange, from
 * queue_flush() or queue_expiry_run(), never while a queue is mid-update: it
 * may publish into any queue, this one included, and call queue_flush()
 * (which then returns at once; the outer flush runs what the sink adds).
 */
typedef void queue_dead_letter_fn(void *arg, struct queue *q, struct msg *m,
                                  enum queue_dl_reason reason);
/** Registers the dead-letter sink (NULL: dead letters are dropped). arg is borrowed. */
void queue_set_dead_letter_sink(queue_dead_letter_fn *fn, void *arg);

/**
 * The idle sink: q (borrowed) has x-expires and has been unused (no consumer,
 * no basic.get, no redeclare) that long. The broker deletes it; its messages
 * are not dead-lettered (RabbitMQ). Called from queue_expiry_run() /
 * queue_flush() like the dead-letter sink, at most once per idle period.
 */
typedef void queue_idle_fn(void *arg, struct queue *q);
/** Registers the idle sink (NULL: idle queues are kept). arg is borrowed. */
void queue_set_idle_sink(queue_idle_fn *fn, void *arg);

/**
 * Runs the sink calls that queue operations deferred (dead letters and idle
 * queues), in the order they happened, including those the sinks add, until
 * none is left. The broker calls it where a sink may safely publish: after
 * publish_route returns, after a batch of acks/rejects/requeues, after
 * basic.get, and once per loop iteration (prepare hook) as a catch-all. A
 * no-op when called from inside a sink.
 */
void queue_flush(void);

/**
 * The queue's x-dead-letter-exchange: true and *dlx set when it has one; then
 * *has_dlrk says whether x-dead-letter-routing-key is set, and *dlrk is it.
 * Views live as long as q. Any out pointer may be NULL.
 */
bool queue_dead_letter_target(const struct queue *q, struct view *dlx, struct view *dlrk,
                              bool *has_dlrk);

/* ---- dead-letter counters ---- */

struct queue_dl_counts {
    /** Handed to the dead-letter sink (queue has x-dead-letter-exchange). */
    uint64_t dead_lettered[QUEUE_DL_NREASONS];
    /** The same events on a queue without x-dead-letter-exchange: dropped. */
    uint64_t discarded[QUEUE_DL_NREASONS];
    /** Dead letters the broker dropped for want of the exchange (queue_count_dl_dropped). */
    uint64_t dl_dropped;
    /** Dead letters routed into this queue (queue_count_dl_received). */
    uint64_t dl_received;
};

/** Copies q's counters into *out. */
void queue_dl_counts(const struct queue *q, struct queue_dl_counts *out);
/** Counters summed over every queue ever created (deleted ones included). */
void queue_dl_totals(struct queue_dl_counts *out);
/** The broker dropped a dead letter of q: its x-dead-letter-exchange does not exist. */
void queue_count_dl_dropped(struct queue *q);
/** The broker delivered a dead letter into q (q is the dead-letter queue). */
void queue_count_dl_received(struct queue *q);

/* ---- message counters (management message_stats) ---- */

/**
 * Per-queue message counters, as RabbitMQ's queue message_stats, and the byte
 * and persistent totals of its queue objects. The event counters only grow
 * (deliver_get is deliver + deliver_no_ack + get + get_no_ack); the totals are
 * current values over the queue's ready and unacked messages.
 */
struct queue_msg_stats {
    uint64_t publish;        /* messages accepted by queue_publish */
    uint64_t deliver;        /* to consumers that must acknowledge */
    uint64_t deliver_no_ack; /* to no-ack consumers */
    uint64_t get;            /* queue_get with ack */
    uint64_t get_no_ack;     /* queue_get without ack */
    uint64_t redeliver;      /* deliveries and gets with the redelivered flag */
    uint64_t ack;            /* queue_ack / queue_ack_msg */
    uint64_t unacked_bytes;  /* body bytes of unacked messages */
    uint64_t persistent;     /* persistent messages, ready or unacked */
    uint64_t persistent_bytes;
    uint64_t paged_out;       /* ready messages whose bytes are on disk (paging) */
    uint64_t paged_out_bytes; /* their body bytes */
};
/** Copies q's counters into *out. O(1), never allocates. */
void queue_msg_stats(const struct queue *q, struct queue_msg_stats *out);

/* ---- time ---- */

/** A monotonic clock in milliseconds. */
typedef uint64_t queue_clock_fn(void);
/** Replaces the clock (NULL: CLOCK_MONOTONIC, the default). For the broker and tests. */
void queue_set_clock(queue_clock_fn *fn);
/** The module's clock now, in ms: the time base of queue_expiry_next(). */
uint64_t queue_clock_ms(void);
/**
 * The earliest deadline over all queues (a message expiry or an x-expires
 * lease), in queue_clock_ms() time, or UINT64_MAX when none. It moves as
 * queues change: the broker re-arms its timer when this differs from what the
 * timer was armed for (checking it in the prepare hook is enough).
 */
uint64_t queue_expiry_next(void);
/**
 * Expires everything due at now_ms (normally queue_clock_ms()) across all
 * queues: expired messages anywhere in a queue are removed and dead-lettered
 * (reason expired), idle queues go to the idle sink; then runs queue_flush().
 * Cost is proportional to what is due, not to queue lengths.
 */
void queue_expiry_run(uint64_t now_ms);
/**
 * queue.declare (also passive) of an existing queue: renews the x-expires
 * lease of a classic queue. Quorum queues do not renew on redeclare
 * (RabbitMQ). Consumers and basic.get renew by themselves.
 */
void queue_touch(struct queue *q);

/* ---- persistence hooks (issue 5) ---- */

/**
 * What a message store needs to hear about a queue's entries. Called only for
 * queues with a non-zero store qid (queue_set_store_qid), on the caller's
 * thread, from inside queue operations: a callback must not call back into
 * any queue. q and m are borrowed.
 */
struct queue_observer {
    /** m got sequence number seq in q (queue_publish), before any delivery
     * or drop of it. */
    void (*enqueued)(void *arg, struct queue *q, struct msg *m, uint64_t seq);
    /** Entry seq went to a consumer or basic.get that must acknowledge it. */
    void (*delivered)(void *arg, struct queue *q, uint64_t seq);
    /** Entry seq left q for good: acked, delivered or fetched without ack,
     * rejected, dead-lettered, expired, dropped by a length limit, purged,
     * taken out by queue_remove, or dropped with the queue (clear the qid
     * first to skip those). A requeue is not a settlement. */
    void (*settled)(void *arg, struct queue *q, uint64_t seq);
};
/** Registers the observer (NULL: none). ops and arg are borrowed and must outlive its use. */
void queue_set_observer(const struct queue_observer *ops, void *arg);
/** Tags q with the message store's queue id (0: not stored, no observer calls). */
void queue_set_store_qid(struct queue *q, uint32_t qid);
uint32_t queue_store_qid(const struct queue *q);
/** Makes every sequence number handed out from now on greater than max_seq. */
void queue_reserve_seq(struct queue *q, uint64_t max_seq);
/**
 * Recovery: puts m (borrowed; the queue takes its own reference) back as a
 * ready entry with sequence number seq (> 0, not in the queue) and the
 * redelivered flag, without calling the observer, consumers or limits. Entries
 * restored in increasing seq order keep that order. TTL deadlines start
 * afresh from now. Raises the next sequence number above seq.
 */
void queue_restore(struct queue *q, struct msg *m, uint64_t seq, bool redelivered);

/* ---- paging: message bytes on disk (issue 5 item 6) ---- */

/**
 * Moves message bytes between memory and disk; the broker registers one.
 * Ready entries may hold stubs (broker/msg.h): the queue reads them back with
 * page_in before anything takes their bytes (delivery, basic.get, dead
 * letters, queue_remove, queue_peek), and before the entry is settled with
 * the observer. Both callbacks run inside queue operations on the caller's
 * thread and must not call into any queue. q is borrowed; seqs[i] is the
 * sequence number of entry i in q.
 */
struct queue_pager {
    /**
     * For each i, ms[i] is a reference to a complete resident message of an
     * entry of q: replace it with a reference to a stub (dropping the
     * resident one), or leave it as it is when its bytes cannot be written
     * (the queue then stops paging q for this round).
     */
    void (*page_out)(void *arg, struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n);
    /**
     * For each i, ms[i] is a reference to a stub: replace it with a reference
     * to the resident message read back (dropping the stub), or leave it when
     * it cannot be read (logged by the pager): the queue then drops that
     * entry (settled, counted in queue_paging_totals.lost).
     */
    void (*page_in)(void *arg, struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n);
};
/** Registers the pager (NULL: none; no stub may exist then). ops and arg are borrowed. */
void queue_set_pager(const struct queue_pager *ops, void *arg);
/** Body bytes of ready messages held in memory, over all queues (stubs excluded). */
uint64_t queue_total_resident_bytes(void);
/**
 * Pages out the newest ready messages of the queues with the most bytes in
 * memory (lowest priority level first; a queue with consumers keeps its
 * first 128 entries) until queue_total_resident_bytes() <= target, or nothing
 * more can be paged out: requeued messages, messages with an empty body, a
 * queue in the middle of a dispatch, or a pager that cannot write. Returns
 * the body bytes paged out. Calls the pager; never the sinks or consumers.
 * Cost: a pass over the queue list per queue paged, plus the entries paged.
 */
uint64_t queue_page_out(uint64_t target);

struct queue_paging_totals {
    uint64_t paged_out; /* entries paged out so far */
    uint64_t paged_in;  /* entries read back so far (peek copies not counted) */
    uint64_t lost;      /* entries dropped because their bytes could not be read */
};
void queue_paging_totals(struct queue_paging_totals *out);

#endif
