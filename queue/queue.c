/* SPDX-License-Identifier: MIT */
/*
 * queue: ready messages, consumers and counts of one queue, with its limits,
 * expiry and dead-letter hooks.
 *
 * Ready messages. Every message gets a per-queue sequence number when it is
 * enqueued. Fresh messages are appended to a ring buffer, which is therefore
 * always in sequence order; a requeued message goes into a min-heap keyed by
 * its sequence number. The next message is the smaller of ring head and heap
 * top, so a requeued message comes back exactly where it was among the ready
 * ones (RabbitMQ keeps the original order on requeue). An entry is 16 bytes:
 * the message pointer and seq << 1 | redelivered.
 *
 * With x-max-priority there is one ring + heap per priority level 0..max and
 * a bitmap of non-empty levels; the highest non-empty level is served first.
 *
 * Storage comes back when a queue drains: a ring or heap halves once it is a
 * quarter full, down to a small floor that is kept so a queue that is only
 * passed through (publish, dispatch at once) never allocates per message.
 *
 * Consumers are kept twice: in registration order (single active consumer
 * and cancellation on delete) and in groups of equal priority, highest group
 * first, each a circular list with a cursor that advances past the consumer
 * that got the last message (round-robin).
 *
 * Expiry. A queue with x-message-ttl, a quorum-typed queue (which counts
 * returns) and a queue that has received a message with an expiration keep a
 * parallel 16-byte aux record per entry: deadline, return count and a link
 * into the expiry index. Other queues pay nothing.
 *   Call an entry "plain" when its deadline is enqueue time + x-message-ttl
 * (no expiration, or one not below the TTL). Sequence numbers follow enqueue
 * time and a requeued entry keeps both, so within a level plain deadlines
 * ascend with the sequence number; and every entry's deadline is at most its
 * enqueue time + TTL. So a level's head (lowest sequence number) is due no
 * later than any plain entry of the level: checking the heads finds every
 * expired plain entry, at O(1) per message and with no index.
 *   An entry whose expiration is below the TTL (or that has one on a queue
 * without TTL) breaks that order, so it also goes into the expiry index, a
 * per-queue min-heap on deadline. Index and entry link both ways (aux.xi is
 * the index slot + 1; the slot records level, ring or heap, and position, kept
 * current whenever either side moves), so such an entry expiring in the middle
 * of the queue is found in O(log n): a ring entry becomes a tombstone that is
 * skipped when it reaches the head, a heap entry is removed.
 *   Each queue's next due time (its level heads, its index top, its x-expires
 * lease) is its key in a module-level min-heap of queues, the schedule, so
 * queue_expiry_run visits only queues with something due.
 *   The queue keeps nothing per unacked delivery, except for entries with a
 * deadline or a return count: a small hash table keyed by sequence number
 * keeps those two while the delivery is unacked, for queue_requeue.
 *
 * Dead letters and idle notices never call out from inside an operation: they
 * are appended to a module-level list that queue_flush() runs, each event
 * holding a queue reference and (dead letters) the message reference.
 *
 * Paging. A ready entry may hold a stub (broker/msg.h) instead of the
 * message: its bytes are on disk, put there by the pager the broker
 * registers. Counts do not care (a stub knows its sizes and properties); the
 * ready body bytes held in memory (mem_bytes, summed over queues) exclude
 * stubs. Stubs never leave the module: every path that hands a message out
 * (delivery, basic.get, dead-lettering to an exchange, queue_remove, peek)
 * reads it back first, before the entry is settled with the observer (the
 * journal keeps a persistent message's record only while an entry needs
 * it). queue_page_out() pages out the newest entries of the queues with the
 * most bytes in memory, lowest priority level first. Each ring keeps a hint,
 * [pg_lo, pg_hi) in sequence numbers: every stub of the ring lies in that
 * range (resident entries may too). Entries above it were published since
 * the last page-out and are paged out oldest first, extending the range up;
 * entries below it are the head side and are paged out newest first,
 * extending it down. So a backlog is [resident head | stubs | resident
 * tail], each part found by bisection, and the stubs at the head are read
 * back in batches (read-ahead) when the head reaches them. Requeued entries
 * (the heaps) are never paged out.
 */
#include "queue/queue.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/msg.h"
#include "queue/queue_int.h"

/* Smallest ring / heap allocation, kept once allocated (see above). */
#define STORE_MIN_CAP 8u
/* Smallest unacked-record table. */
#define UA_MIN_CAP 16u
#define NO_DEADLINE UINT64_MAX
#define NOT_SCHEDULED SIZE_MAX
/* rabbit_quorum_queue ?DEFAULT_DELIVERY_LIMIT (RabbitMQ 4.0). */
#define QUORUM_DEFAULT_DELIVERY_LIMIT 20

/* ---- allocation, counted for tests ---- */

static size_t nallocs;

static void *qmalloc(size_t n)
{
    nallocs++;
    return xmalloc(n);
}

static void *qcalloc(size_t k, size_t n)
{
    nallocs++;
    return xcalloc(k, n);
}

static void *qrealloc(void *p, size_t n)
{
    nallocs++;
    return xrealloc(p, n);
}

size_t queue__alloc_count(void)
{
    return nallocs;
}

/* ---- data ---- */

struct qent {
    struct msg *m; /* NULL: a ring tombstone (expired in place) */
    uint64_t key;  /* seq << 1 | redelivered */
};

_Static_assert(sizeof(struct qent) == 16, "an entry is the per-message queue overhead");

struct qaux {
    uint64_t deadline; /* NO_DEADLINE: never expires */
    uint32_t count;    /* returns so far (quorum: x-delivery-count) */
    uint32_t xi;       /* expiry index slot + 1, 0 when not indexed */
};

_Static_assert(sizeof(struct qaux) == 16, "the aux record is the per-message expiry overhead");

static const struct qaux AUX_NONE = {NO_DEADLINE, 0, 0};

static inline uint64_t ent_seq(struct qent e)
{
    return e.key >> 1;
}

static inline bool ent_redelivered(struct qent e)
{
    return (e.key & 1u) != 0;
}

/* Fresh messages in sequence order. cap is 0 or a power of two. x is the
 * parallel aux array (NULL unless the queue keeps aux records). */
struct ring {
    struct qent *e;
    struct qaux *x;
    size_t cap, head, len; /* len counts tombstones; the head is never one */
};

/* Requeued messages: a binary min-heap on the sequence number. */
struct heap {
    struct qent *e;
    struct qaux *x;
    size_t cap, len;
};

struct level {
    struct ring ring;
    struct heap heap;
    uint64_t pg_lo, pg_hi; /* every stub of the ring has a seq in [pg_lo, pg_hi) */
};

/* An expiry index slot: where its entry is. */
struct xent {
    uint64_t deadline;
    size_t pos;  /* physical ring index or heap index */
    uint32_t lv; /* priority level */
    bool in_heap;
};

struct xheap {
    struct xent *e;
    size_t cap, len;
};

/* Deadline and return count of an unacked delivery, by sequence number. */
struct urec {
    uint64_t seq; /* 0: free slot */
    uint64_t deadline;
    uint32_t count;
};

/* Open addressing, linear probing, at most half full. */
struct utab {
    struct urec *e;
    size_t cap, len;
};

struct cgroup;

struct consumer {
    const struct consumer_ops *ops;
    void *owner;
    int32_t priority;
    bool exclusive;
    bool no_ack;
    struct consumer *prev, *next;       /* registration order */
    struct consumer *rr_prev, *rr_next; /* circular, within the group */
    struct cgroup *group;
};

/* Consumers of one priority. cursor is the next one to try. */
struct cgroup {
    int32_t priority;
    size_t n;
    struct consumer *cursor;
    struct cgroup *next; /* lower priority */
};

struct queue {
    uint32_t refs;
    bool deleted;
    bool dispatching;
    unsigned flags;
    uint64_t owner;
    char *name;
    char *vhost;
    uint8_t *args; /* own copy; the parsed views point into it */
    size_t args_len;
    struct queue__args a;

    struct level *levels; /* max_priority + 1 of them */
    unsigned nlevels;
    uint64_t nonempty[4]; /* bit i: levels[i] has messages */
    uint64_t next_seq;
    size_t ready;
    uint64_t ready_bytes;
    size_t unacked;

    struct consumer *first, *last; /* registration order */
    size_t nconsumers;
    struct cgroup *groups; /* highest priority first */
    bool exclusive_consumer;
    struct consumer *cancelling; /* consumer whose cancelled() is running */

    /* limits, expiry, dead letters */
    bool ext;                      /* entries carry aux records */
    bool timed;                    /* q->due is kept current */
    bool count_returns;            /* quorum: requeues count toward the delivery limit */
    bool idle_notified;            /* the idle sink has this idle period */
    enum queue__overflow overflow; /* effective: quorum has no reject-publish-dlx */
    int64_t delivery_limit;        /* effective; -1: unlimited */
    uint64_t last_used;            /* start of the x-expires lease */
    uint64_t due;                  /* key in the schedule; NO_DEADLINE: not in it */
    size_t sidx;                   /* index in the schedule */
    struct xheap xh;               /* expiry index */
    struct utab ua;                /* unacked deliveries with a deadline or count */
    uint64_t cur_seq;              /* the delivery being handed out */
    uint32_t cur_count;
    struct queue_dl_counts dl;
    /* message_stats counters; ms.persistent* are filled in by the getter */
    struct queue_msg_stats ms;
    uint64_t ready_pers, ready_pers_bytes;     /* persistent among ready */
    uint64_t unacked_pers, unacked_pers_bytes; /* persistent among unacked */
    uint32_t store_qid; /* non-zero: the observer hears about this queue's entries */
    /* paging */
    uint64_t mem_bytes;   /* body bytes of resident ready entries */
    size_t paged;         /* ready entries that are stubs */
    uint64_t paged_bytes; /* their body bytes */
    uint64_t page_stuck;  /* queue_page_out round that found nothing to page out here */
    struct queue *all_prev, *all_next; /* every queue, for queue_page_out */
};

/* ---- module state ---- */

static uint64_t total_ready_bytes;
static struct queue_dl_counts dl_totals;
static queue_dead_letter_fn *dl_sink;
static void *dl_sink_arg;
static queue_idle_fn *idle_sink;
static void *idle_sink_arg;
static queue_clock_fn *clock_fn;
static const struct queue_observer *observer;
static void *observer_arg;
static uint64_t total_mem_bytes;
static struct queue_paging_totals paging_totals;
static struct queue *all_queues;
static const struct queue_pager *pager;
static void *pager_arg;

/* Observer calls (persistence): only for queues with a store qid, so the
 * transient path pays one branch. */
static inline void note_enqueued(struct queue *q, struct msg *m, uint64_t seq)
{
    if (q->store_qid && observer && observer->enqueued)
        observer->enqueued(observer_arg, q, m, seq);
}

static inline void note_delivered(struct queue *q, uint64_t seq)
{
    if (q->store_qid && observer && observer->delivered)
        observer->delivered(observer_arg, q, seq);
}

static inline void note_settled(struct queue *q, uint64_t seq)
{
    if (q->store_qid && observer && observer->settled)
        observer->settled(observer_arg, q, seq);
}

uint64_t queue_total_ready_bytes(void)
{
    return total_ready_bytes;
}

/* ---- time ---- */

static uint64_t monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void queue_set_clock(queue_clock_fn *fn)
{
    clock_fn = fn;
}

uint64_t queue_clock_ms(void)
{
    return clock_fn ? clock_fn() : monotonic_ms();
}

/* The clock read at most once per operation, and only when needed. */
struct tick {
    uint64_t now;
    bool valid;
};

static uint64_t tick_now(struct tick *t)
{
    if (!t->valid) {
        t->now = queue_clock_ms();
        t->valid = true;
    }
    return t->now;
}

/* ---- the expiry index ---- */

static struct qaux *aux_at(struct queue *q, const struct xent *xe)
{
    struct level *l = &q->levels[xe->lv];

    return xe->in_heap ? &l->heap.x[xe->pos] : &l->ring.x[xe->pos];
}

/* The entry whose aux is x now sits at pos: point its index slot there. */
static inline void relink(struct queue *q, const struct qaux *x, size_t pos)
{
    if (x->xi)
        q->xh.e[x->xi - 1].pos = pos;
}

static void xh_place(struct queue *q, size_t j, struct xent xe)
{
    q->xh.e[j] = xe;
    aux_at(q, &xe)->xi = (uint32_t)(j + 1);
}

static void xh_up(struct queue *q, size_t j, struct xent xe)
{
    while (j > 0) {
        size_t p = (j - 1) / 2;
        if (q->xh.e[p].deadline <= xe.deadline)
            break;
        xh_place(q, j, q->xh.e[p]);
        j = p;
    }
    xh_place(q, j, xe);
}

static void xh_down(struct queue *q, size_t j, struct xent xe)
{
    struct xheap *h = &q->xh;

    for (;;) {
        size_t c = 2 * j + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->e[c + 1].deadline < h->e[c].deadline)
            c++;
        if (xe.deadline <= h->e[c].deadline)
            break;
        xh_place(q, j, h->e[c]);
        j = c;
    }
    xh_place(q, j, xe);
}

static void xh_push(struct queue *q, struct xent xe)
{
    struct xheap *h = &q->xh;

    if (h->len == h->cap) {
        h->cap = h->cap ? h->cap * 2 : STORE_MIN_CAP;
        h->e = qrealloc(h->e, h->cap * sizeof(*h->e));
    }
    h->len++;
    xh_up(q, h->len - 1, xe);
}

/* Removes index slot j and unlinks its entry. */
static void xh_remove(struct queue *q, size_t j)
{
    struct xheap *h = &q->xh;
    struct xent last;

    aux_at(q, &h->e[j])->xi = 0;
    last = h->e[--h->len];
    if (j < h->len) {
        if (j > 0 && last.deadline < h->e[(j - 1) / 2].deadline)
            xh_up(q, j, last);
        else
            xh_down(q, j, last);
    }
    if (h->cap > STORE_MIN_CAP && h->len <= h->cap / 4) {
        h->cap /= 2;
        h->e = qrealloc(h->e, h->cap * sizeof(*h->e));
    }
}

/* ---- rings ---- */

static void ring_resize(struct queue *q, struct ring *r, size_t cap)
{
    struct qent *e = qmalloc(cap * sizeof(*e));
    struct qaux *x = q->ext ? qmalloc(cap * sizeof(*x)) : NULL;

    for (size_t i = 0; i < r->len; i++) {
        size_t from = (r->head + i) & (r->cap - 1);
        e[i] = r->e[from];
        if (x) {
            x[i] = r->x[from];
            relink(q, &x[i], i);
        }
    }
    free(r->e);
    free(r->x);
    r->e = e;
    r->x = x;
    r->cap = cap;
    r->head = 0;
}

/* Appends; returns the physical index. */
static size_t ring_push(struct queue *q, struct ring *r, struct qent e, const struct qaux *x)
{
    size_t pos;

    if (r->len == r->cap)
        ring_resize(q, r, r->cap ? r->cap * 2 : STORE_MIN_CAP);
    pos = (r->head + r->len) & (r->cap - 1);
    r->e[pos] = e;
    if (r->x)
        r->x[pos] = *x;
    r->len++;
    return pos;
}

/* Skips tombstones at the front, and gives storage back: halving at a
 * quarter leaves the new ring half full, so a queue oscillating around a size
 * does not resize back and forth. */
static void ring_settle(struct queue *q, struct ring *r)
{
    size_t cap = r->cap;

    while (r->len && !r->e[r->head].m) {
        r->head = (r->head + 1) & (r->cap - 1);
        r->len--;
    }
    /* Skipping a run of tombstones (queue_remove) can empty most of the ring
     * at once: shrink as far as the rule allows, in one copy. */
    while (cap > STORE_MIN_CAP && r->len <= cap / 4)
        cap /= 2;
    if (cap != r->cap)
        ring_resize(q, r, cap);
}

static struct qent ring_pop(struct queue *q, struct ring *r, struct qaux *x)
{
    struct qent e = r->e[r->head];

    if (r->x) {
        *x = r->x[r->head];
        if (x->xi)
            xh_remove(q, x->xi - 1);
        x->xi = 0;
    } else {
        *x = AUX_NONE;
    }
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    ring_settle(q, r);
    return e;
}

static void ring_free(struct ring *r)
{
    free(r->e);
    free(r->x);
    memset(r, 0, sizeof(*r));
}

/* ---- requeue heaps ---- */

static void heap_set_cap(struct queue *q, struct heap *h, size_t cap)
{
    h->e = qrealloc(h->e, cap * sizeof(*h->e));
    if (q->ext)
        h->x = qrealloc(h->x, cap * sizeof(*h->x));
    h->cap = cap;
}

static inline const struct qaux *heap_aux(const struct heap *h, size_t i)
{
    return h->x ? &h->x[i] : &AUX_NONE;
}

static void heap_place(struct queue *q, struct heap *h, size_t i, struct qent e,
                       const struct qaux *x)
{
    h->e[i] = e;
    if (h->x) {
        h->x[i] = *x;
        relink(q, &h->x[i], i);
    }
}

/* Sifts (e, x) up from hole i; returns where it lands. x must not point
 * into h. */
static size_t heap_up(struct queue *q, struct heap *h, size_t i, struct qent e,
                      const struct qaux *x)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->e[parent].key <= e.key)
            break;
        heap_place(q, h, i, h->e[parent], heap_aux(h, parent));
        i = parent;
    }
    heap_place(q, h, i, e, x);
    return i;
}

static void heap_down(struct queue *q, struct heap *h, size_t i, struct qent e,
                      const struct qaux *x)
{
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->e[c + 1].key < h->e[c].key)
            c++;
        if (e.key <= h->e[c].key)
            break;
        heap_place(q, h, i, h->e[c], heap_aux(h, c));
        i = c;
    }
    heap_place(q, h, i, e, x);
}

/* Inserts; returns the index the entry lands at. */
static size_t heap_push(struct queue *q, struct heap *h, struct qent e, const struct qaux *x)
{
    if (h->len == h->cap)
        heap_set_cap(q, h, h->cap ? h->cap * 2 : STORE_MIN_CAP);
    h->len++;
    return heap_up(q, h, h->len - 1, e, x);
}

/* Removes the entry at index i (unlinking it from the expiry index). */
static struct qent heap_remove(struct queue *q, struct heap *h, size_t i, struct qaux *x)
{
    struct qent out = h->e[i];

    if (h->x) {
        *x = h->x[i];
        if (x->xi)
            xh_remove(q, x->xi - 1);
        x->xi = 0;
    } else {
        *x = AUX_NONE;
    }
    h->len--;
    if (i < h->len) {
        struct qent last = h->e[h->len];
        struct qaux lx = *heap_aux(h, h->len);

        if (i > 0 && last.key < h->e[(i - 1) / 2].key)
            heap_up(q, h, i, last, &lx);
        else
            heap_down(q, h, i, last, &lx);
    }
    if (h->cap > STORE_MIN_CAP && h->len <= h->cap / 4)
        heap_set_cap(q, h, h->cap / 2);
    return out;
}

static void heap_free(struct heap *h)
{
    free(h->e);
    free(h->x);
    memset(h, 0, sizeof(*h));
}

/* ---- levels ---- */

static inline bool level_empty(const struct level *l)
{
    return l->ring.len == 0 && l->heap.len == 0;
}

/* Whether the level's next entry is the heap top: the lower sequence number
 * of ring head and heap top (ring entries are in order, so its head is its
 * minimum; the head is never a tombstone). */
static inline bool head_in_heap(const struct level *l)
{
    return l->heap.len != 0 && (l->ring.len == 0 || l->heap.e[0].key < l->ring.e[l->ring.head].key);
}

/* The aux record of a non-empty level's next entry (queues with aux only). */
static const struct qaux *level_head_aux(const struct level *l)
{
    return head_in_heap(l) ? &l->heap.x[0] : &l->ring.x[l->ring.head];
}

static struct qent level_pop(struct queue *q, struct level *l, struct qaux *x)
{
    if (head_in_heap(l))
        return heap_remove(q, &l->heap, 0, x);
    return ring_pop(q, &l->ring, x);
}

/* ---- ready messages ---- */

static inline void mark_level(struct queue *q, unsigned lv, bool nonempty)
{
    uint64_t bit = UINT64_C(1) << (lv & 63);

    if (nonempty)
        q->nonempty[lv >> 6] |= bit;
    else
        q->nonempty[lv >> 6] &= ~bit;
}

/* Highest non-empty level, or -1. */
static int top_level(const struct queue *q)
{
    if (q->nlevels == 1)
        return q->nonempty[0] ? 0 : -1;
    for (int w = 3; w >= 0; w--)
        if (q->nonempty[w])
            return w * 64 + 63 - __builtin_clzll(q->nonempty[w]);
    return -1;
}

static unsigned level_of(const struct queue *q, const struct msg *m)
{
    unsigned p = msg_priority(m);

    /* RabbitMQ caps a message priority above x-max-priority to the maximum;
     * without x-max-priority there is a single level. */
    return p < q->nlevels ? p : q->nlevels - 1;
}

static void count_in(struct queue *q, const struct msg *m)
{
    q->ready++;
    q->ready_bytes += msg_body_size(m);
    total_ready_bytes += msg_body_size(m);
    if (msg_paged(m) == MSG_RESIDENT) {
        q->mem_bytes += msg_body_size(m);
        total_mem_bytes += msg_body_size(m);
    } else {
        q->paged++;
        q->paged_bytes += msg_body_size(m);
    }
    if (msg_is_persistent(m)) {
        q->ready_pers++;
        q->ready_pers_bytes += msg_body_size(m);
    }
}

static void count_out(struct queue *q, const struct msg *m)
{
    q->ready--;
    q->ready_bytes -= msg_body_size(m);
    total_ready_bytes -= msg_body_size(m);
    if (msg_paged(m) == MSG_RESIDENT) {
        q->mem_bytes -= msg_body_size(m);
        total_mem_bytes -= msg_body_size(m);
    } else {
        q->paged--;
        q->paged_bytes -= msg_body_size(m);
    }
    if (msg_is_persistent(m)) {
        q->ready_pers--;
        q->ready_pers_bytes -= msg_body_size(m);
    }
}

/* m became an unacked delivery of q (counted in q->unacked by the caller). */
static void unacked_in(struct queue *q, const struct msg *m)
{
    q->ms.unacked_bytes += msg_body_size(m);
    if (msg_is_persistent(m)) {
        q->unacked_pers++;
        q->unacked_pers_bytes += msg_body_size(m);
    }
}

/* An unacked delivery was settled (q->unacked already lowered); m may be
 * NULL (plain queue_ack): then the totals are only reset once none is left. */
static void unacked_out(struct queue *q, const struct msg *m)
{
    uint64_t n;

    if (q->unacked == 0) {
        q->ms.unacked_bytes = 0;
        q->unacked_pers = q->unacked_pers_bytes = 0;
        return;
    }
    if (!m)
        return;
    n = msg_body_size(m);
    q->ms.unacked_bytes -= n < q->ms.unacked_bytes ? n : q->ms.unacked_bytes;
    if (msg_is_persistent(m)) {
        if (q->unacked_pers > 0)
            q->unacked_pers--;
        q->unacked_pers_bytes -= n < q->unacked_pers_bytes ? n : q->unacked_pers_bytes;
    }
}

/* ---- paging: reading stubs back ---- */

/* Read-ahead when the head of a ring is a stub: this many entries (fewer
 * without consumers, where basic.get takes one at a time), up to this many
 * bytes. */
#define READ_AHEAD_MSGS 128u
#define READ_AHEAD_IDLE 16u
#define READ_AHEAD_BYTES ((uint64_t)1 << 20)
/* Entries handed to the pager per call. */
#define PAGE_BATCH 128u

static inline void paged_out_moved(struct queue *q, uint64_t n, bool out)
{
    if (out) {
        q->mem_bytes -= n;
        total_mem_bytes -= n;
        q->paged++;
        q->paged_bytes += n;
        paging_totals.paged_out++;
    } else {
        q->mem_bytes += n;
        total_mem_bytes += n;
        q->paged--;
        q->paged_bytes -= n;
        paging_totals.paged_in++;
    }
}

/* A stub that could not be read back (the pager logged why): its entry is
 * settled and the message is gone. */
static void lose(struct queue *q, uint64_t seq, struct msg **m)
{
    note_settled(q, seq);
    msg_unref(m);
    paging_totals.lost++;
}

/* Reads back the stub of entry e, already taken out of q and counted out.
 * False when it cannot be read: then the entry is settled and dropped. */
static bool page_in_taken(struct queue *q, struct qent *e)
{
    uint64_t seq = ent_seq(*e);

    if (pager)
        pager->page_in(pager_arg, q, &e->m, &seq, 1);
    if (msg_paged(e->m) == MSG_RESIDENT) {
        paging_totals.paged_in++;
        return true;
    }
    lose(q, seq, &e->m);
    return false;
}

/* Reads back the stubs at the head of level lv's ring (whose head is one),
 * in place: a batch of consecutive stubs, so the next deliveries find them in
 * memory. Unreadable ones are dropped (tombstones, then the ring is tidied). */
static void page_in_head(struct queue *q, unsigned lv)
{
    struct level *l = &q->levels[lv];
    struct ring *r = &l->ring;
    struct msg *ms[PAGE_BATCH];
    uint64_t seqs[PAGE_BATCH], bytes = 0;
    size_t pos[PAGE_BATCH], n = 0, max = q->nconsumers ? READ_AHEAD_MSGS : READ_AHEAD_IDLE;
    bool lost = false;

    _Static_assert(READ_AHEAD_MSGS <= PAGE_BATCH, "one pager call per read-ahead");
    for (size_t k = 0; k < r->len && n < max && bytes < READ_AHEAD_BYTES; k++) {
        size_t p = (r->head + k) & (r->cap - 1);
        struct msg *m = r->e[p].m;

        if (!m)
            continue;
        if (msg_paged(m) == MSG_RESIDENT)
            break;
        ms[n] = m;
        seqs[n] = ent_seq(r->e[p]);
        pos[n++] = p;
        bytes += msg_body_size(m);
    }
    assert(n > 0);
    if (pager)
        pager->page_in(pager_arg, q, ms, seqs, n);
    for (size_t i = 0; i < n; i++) {
        struct qent *e = &r->e[pos[i]];

        if (msg_paged(ms[i]) != MSG_RESIDENT) {
            /* Not read: the entry still holds the stub. A tombstone, unlinked
             * from the expiry index like an expired one. */
            if (r->x && r->x[pos[i]].xi) {
                xh_remove(q, r->x[pos[i]].xi - 1);
                r->x[pos[i]].xi = 0;
            }
            count_out(q, e->m);
            lose(q, ent_seq(*e), &e->m);
            lost = true;
            continue;
        }
        e->m = ms[i];
        paged_out_moved(q, msg_body_size(ms[i]), false);
    }
    /* The range now starts after what was read. */
    l->pg_lo = seqs[n - 1] + 1;
    if (l->pg_lo >= l->pg_hi)
        l->pg_lo = l->pg_hi = 0;
    if (lost) {
        while (r->len && !r->e[(r->head + r->len - 1) & (r->cap - 1)].m)
            r->len--;
        ring_settle(q, r);
        if (level_empty(l))
            mark_level(q, lv, false);
    }
}

/* Takes out the next ready entry: highest level, lowest sequence number.
 * With need_body the message is resident (stubs are read back first; one that
 * cannot be read is dropped and the next one taken). */
static bool pop_ready(struct queue *q, struct qent *e, struct qaux *x, bool need_body)
{
    for (;;) {
        int lv = top_level(q);
        struct level *l;

        if (lv < 0)
            return false;
        l = &q->levels[lv];
        if (need_body && !head_in_heap(l) && msg_paged(l->ring.e[l->ring.head].m)) {
            page_in_head(q, (unsigned)lv);
            continue;
        }
        *e = level_pop(q, l, x);
        if (level_empty(l))
            mark_level(q, (unsigned)lv, false);
        count_out(q, e->m);
        if (need_body && msg_paged(e->m) && !page_in_taken(q, e))
            continue;
        return true;
    }
}

/* Drops every ready message and frees the level storage and the index. */
static size_t drop_ready(struct queue *q)
{
    size_t n = q->ready;

    for (unsigned i = 0; i < q->nlevels; i++) {
        struct level *l = &q->levels[i];

        for (size_t k = 0; k < l->ring.len; k++) {
            struct qent *e = &l->ring.e[(l->ring.head + k) & (l->ring.cap - 1)];
            if (!e->m)
                continue;
            note_settled(q, ent_seq(*e));
            count_out(q, e->m);
            msg_unref(&e->m);
        }
        for (size_t j = 0; j < l->heap.len; j++) {
            note_settled(q, ent_seq(l->heap.e[j]));
            count_out(q, l->heap.e[j].m);
            msg_unref(&l->heap.e[j].m);
        }
        ring_free(&l->ring);
        heap_free(&l->heap);
        l->pg_lo = l->pg_hi = 0;
    }
    memset(q->nonempty, 0, sizeof(q->nonempty));
    free(q->xh.e);
    memset(&q->xh, 0, sizeof(q->xh));
    assert(q->ready == 0 && q->ready_bytes == 0);
    return n;
}

/* From now on entries carry aux records: the first message with an
 * expiration arrived at a queue that had none. */
static void make_ext(struct queue *q)
{
    if (q->ext)
        return;
    q->ext = q->timed = true;
    for (unsigned i = 0; i < q->nlevels; i++) {
        struct level *l = &q->levels[i];

        if (l->ring.cap) {
            l->ring.x = qmalloc(l->ring.cap * sizeof(struct qaux));
            for (size_t k = 0; k < l->ring.cap; k++)
                l->ring.x[k] = AUX_NONE;
        }
        if (l->heap.cap) {
            l->heap.x = qmalloc(l->heap.cap * sizeof(struct qaux));
            for (size_t k = 0; k < l->heap.cap; k++)
                l->heap.x[k] = AUX_NONE;
        }
    }
}

/* The deadline of m enqueued at now: x-message-ttl or the expiration,
 * whichever is smaller (RabbitMQ calculate_msg_expiry). */
static uint64_t deadline_of(const struct queue *q, const struct msg *m, uint64_t now)
{
    int64_t ttl = q->a.message_ttl, exp = msg_expiration_ms(m);

    if (exp >= 0 && (ttl < 0 || exp < ttl))
        ttl = exp;
    return ttl < 0 ? NO_DEADLINE : now + (uint64_t)ttl;
}

/* Whether m's deadline can come before that of plain entries enqueued
 * earlier, so that it needs the expiry index. */
static bool needs_index(const struct queue *q, const struct msg *m)
{
    int64_t exp = msg_expiration_ms(m);

    return exp >= 0 && (q->a.message_ttl < 0 || exp < q->a.message_ttl);
}

static void enqueue(struct queue *q, struct msg *m, uint64_t seq, bool requeue,
                    const struct qaux *x)
{
    unsigned lv = level_of(q, m);
    struct level *l = &q->levels[lv];
    struct qent e = {m, seq << 1 | (requeue ? 1u : 0u)};
    size_t pos;

    if (requeue)
        pos = heap_push(q, &l->heap, e, x);
    else
        pos = ring_push(q, &l->ring, e, x);
    if (q->ext && x->deadline != NO_DEADLINE && needs_index(q, m))
        xh_push(q, (struct xent){x->deadline, pos, lv, requeue});
    mark_level(q, lv, true);
    count_in(q, m);
}

/* ---- unacked records ---- */

static inline size_t ua_home(const struct utab *t, uint64_t seq)
{
    return (size_t)((seq * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & (t->cap - 1);
}

static void ua_rehash(struct utab *t, size_t cap)
{
    struct urec *old = t->e;
    size_t oldcap = t->cap;

    t->e = qcalloc(cap, sizeof(*t->e));
    t->cap = cap;
    for (size_t i = 0; i < oldcap; i++) {
        size_t s;
        if (!old[i].seq)
            continue;
        for (s = ua_home(t, old[i].seq); t->e[s].seq; s = (s + 1) & (cap - 1))
            ;
        t->e[s] = old[i];
    }
    free(old);
}

static void ua_put(struct utab *t, uint64_t seq, uint64_t deadline, uint32_t count)
{
    size_t s;

    if ((t->len + 1) * 2 > t->cap)
        ua_rehash(t, t->cap ? t->cap * 2 : UA_MIN_CAP);
    for (s = ua_home(t, seq); t->e[s].seq && t->e[s].seq != seq; s = (s + 1) & (t->cap - 1))
        ;
    if (!t->e[s].seq)
        t->len++;
    t->e[s] = (struct urec){seq, deadline, count};
}

static const struct urec *ua_find(const struct utab *t, uint64_t seq)
{
    if (!t->len)
        return NULL;
    for (size_t s = ua_home(t, seq); t->e[s].seq; s = (s + 1) & (t->cap - 1))
        if (t->e[s].seq == seq)
            return &t->e[s];
    return NULL;
}

/* Removes seq's record into *out; false when there is none. */
static bool ua_take(struct utab *t, uint64_t seq, struct urec *out)
{
    const struct urec *r = ua_find(t, seq);
    size_t hole, mask = t->cap - 1;

    if (!r)
        return false;
    *out = *r;
    hole = (size_t)(r - t->e);
    /* Backward-shift deletion: pull later members of the probe run into the
     * hole when their home does not lie between the hole and them. */
    for (size_t j = (hole + 1) & mask; t->e[j].seq; j = (j + 1) & mask) {
        size_t home = ua_home(t, t->e[j].seq);
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            t->e[hole] = t->e[j];
            hole = j;
        }
    }
    t->e[hole].seq = 0;
    t->len--;
    if (t->cap > UA_MIN_CAP && t->len * 8 < t->cap)
        ua_rehash(t, t->cap / 2);
    return true;
}

/* ---- deferred sink calls ---- */

#define EV_IDLE (-1)

struct dl_event {
    struct queue *q; /* a reference */
    struct msg *m;   /* a reference; NULL for EV_IDLE */
    int reason;      /* enum queue_dl_reason or EV_IDLE */
};

static struct dl_event *events;
static size_t events_head, events_len, events_cap;
static bool flushing;

static void defer(struct queue *q, struct msg *m, int reason)
{
    if (events_len == events_cap) {
        events_cap = events_cap ? events_cap * 2 : 16;
        events = qrealloc(events, events_cap * sizeof(*events));
    }
    events[events_len++] = (struct dl_event){queue_ref(q), m, reason};
}

/* m (a reference, taken over) leaves q for reason: to the dead-letter sink
 * when q has a dead-letter exchange, else dropped (RabbitMQ counts those as
 * dead-lettered with strategy "disabled"). */
static void dead_letter(struct queue *q, struct msg *m, enum queue_dl_reason reason)
{
    if (q->a.has_dlx) {
        q->dl.dead_lettered[reason]++;
        dl_totals.dead_lettered[reason]++;
        defer(q, m, (int)reason);
    } else {
        q->dl.discarded[reason]++;
        dl_totals.discarded[reason]++;
        msg_unref(&m);
    }
}

/* Entry e, taken out of q and counted out, dies for reason: settled, then to
 * the dead-letter exchange (read back first when a stub) or dropped. */
static void settle_dead(struct queue *q, struct qent e, enum queue_dl_reason reason)
{
    if (q->a.has_dlx && msg_paged(e.m) != MSG_RESIDENT && !page_in_taken(q, &e))
        return;
    note_settled(q, ent_seq(e));
    dead_letter(q, e.m, reason);
}

void queue_flush(void)
{
    if (flushing)
        return;
    flushing = true;
    /* The sinks may append (a dead letter published into a full queue drops
     * its head): read by index, the array may move. */
    while (events_head < events_len) {
        struct dl_event ev = events[events_head++];

        if (ev.reason == EV_IDLE) {
            /* Still unused: nothing renewed the lease since it ran out. */
            if (idle_sink && !ev.q->deleted && ev.q->idle_notified && ev.q->nconsumers == 0)
                idle_sink(idle_sink_arg, ev.q);
        } else if (dl_sink) {
            dl_sink(dl_sink_arg, ev.q, ev.m, (enum queue_dl_reason)ev.reason);
        } else {
            msg_unref(&ev.m);
        }
        queue_unref(&ev.q);
    }
    events_head = events_len = 0;
    flushing = false;
}

void queue_set_dead_letter_sink(queue_dead_letter_fn *fn, void *arg)
{
    dl_sink = fn;
    dl_sink_arg = arg;
}

void queue_set_idle_sink(queue_idle_fn *fn, void *arg)
{
    idle_sink = fn;
    idle_sink_arg = arg;
}

const char *queue_dl_reason_name(enum queue_dl_reason reason)
{
    switch (reason) {
    case QUEUE_DL_REJECTED:
        return "rejected";
    case QUEUE_DL_EXPIRED:
        return "expired";
    case QUEUE_DL_MAXLEN:
        return "maxlen";
    case QUEUE_DL_DELIVERY_LIMIT:
        return "delivery_limit";
    }
    return "unknown";
}

/* ---- the schedule: queues by next due time ---- */

static struct queue **sched;
static size_t sched_len, sched_cap;

static inline void sched_place(size_t i, struct queue *q)
{
    sched[i] = q;
    q->sidx = i;
}

static void sched_up(size_t i)
{
    struct queue *q = sched[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (sched[p]->due <= q->due)
            break;
        sched_place(i, sched[p]);
        i = p;
    }
    sched_place(i, q);
}

static void sched_down(size_t i)
{
    struct queue *q = sched[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= sched_len)
            break;
        if (c + 1 < sched_len && sched[c + 1]->due < sched[c]->due)
            c++;
        if (q->due <= sched[c]->due)
            break;
        sched_place(i, sched[c]);
        i = c;
    }
    sched_place(i, q);
}

static void sched_set(struct queue *q, uint64_t due)
{
    size_t i;

    if (due == q->due)
        return;
    if (q->sidx == NOT_SCHEDULED) {
        if (sched_len == sched_cap) {
            sched_cap = sched_cap ? sched_cap * 2 : 16;
            sched = qrealloc(sched, sched_cap * sizeof(*sched));
        }
        q->due = due;
        sched_place(sched_len++, q);
        sched_up(q->sidx);
        return;
    }
    if (due == NO_DEADLINE) {
        struct queue *last = sched[--sched_len];

        i = q->sidx;
        q->due = NO_DEADLINE;
        q->sidx = NOT_SCHEDULED;
        if (i < sched_len) {
            sched_place(i, last);
            sched_up(i);
            sched_down(last->sidx);
        }
        return;
    }
    i = q->sidx;
    if (due < q->due) {
        q->due = due;
        sched_up(i);
    } else {
        q->due = due;
        sched_down(i);
    }
}

static bool idle_armed(const struct queue *q)
{
    return q->a.expires >= 0 && q->nconsumers == 0 && !q->idle_notified && !q->deleted;
}

/* The earliest time something in q is due. */
static uint64_t compute_due(const struct queue *q)
{
    uint64_t due = NO_DEADLINE;

    if (q->deleted)
        return NO_DEADLINE;
    if (idle_armed(q))
        due = q->last_used + (uint64_t)q->a.expires;
    if (!q->ext)
        return due;
    if (q->xh.len && q->xh.e[0].deadline < due)
        due = q->xh.e[0].deadline;
    if (q->a.message_ttl < 0)
        return due;
    if (q->nlevels == 1) {
        if (q->nonempty[0] && level_head_aux(&q->levels[0])->deadline < due)
            due = level_head_aux(&q->levels[0])->deadline;
        return due;
    }
    for (unsigned w = 0; w < 4; w++) {
        for (uint64_t bits = q->nonempty[w]; bits; bits &= bits - 1) {
            unsigned lv = w * 64 + (unsigned)__builtin_ctzll(bits);
            uint64_t d = level_head_aux(&q->levels[lv])->deadline;
            if (d < due)
                due = d;
        }
    }
    return due;
}

static void reschedule(struct queue *q)
{
    if (q->timed)
        sched_set(q, compute_due(q));
}

/* ---- expiry ---- */

/* Expires the entry at the top of the expiry index, wherever it is. */
static void expire_indexed(struct queue *q)
{
    struct xent xe = q->xh.e[0];
    struct level *l = &q->levels[xe.lv];
    struct qent e;
    struct qaux x;

    xh_remove(q, 0);
    if (xe.in_heap) {
        e = heap_remove(q, &l->heap, xe.pos, &x);
    } else {
        /* The middle of a ring cannot close up: leave a tombstone. */
        e = l->ring.e[xe.pos];
        l->ring.e[xe.pos].m = NULL;
        if (xe.pos == l->ring.head)
            ring_settle(q, &l->ring);
    }
    if (level_empty(l))
        mark_level(q, xe.lv, false);
    count_out(q, e.m);
    settle_dead(q, e, QUEUE_DL_EXPIRED);
}

/* Expires every entry of q due at now (see the banner for why the index top
 * and the level heads are enough). */
static void expire_due(struct queue *q, uint64_t now)
{
    if (!q->ext)
        return;
    while (q->xh.len && q->xh.e[0].deadline <= now)
        expire_indexed(q);
    if (q->a.message_ttl < 0)
        return;
    for (unsigned w = 0; w < 4; w++) {
        for (uint64_t bits = q->nonempty[w]; bits; bits &= bits - 1) {
            unsigned lv = w * 64 + (unsigned)__builtin_ctzll(bits);
            struct level *l = &q->levels[lv];

            while (!level_empty(l) && level_head_aux(l)->deadline <= now) {
                struct qaux x;
                struct qent e;

                /* Dead letters need their bytes: read the head back in a
                 * batch rather than one by one. */
                if (q->a.has_dlx && !head_in_heap(l) &&
                    msg_paged(l->ring.e[l->ring.head].m) != MSG_RESIDENT) {
                    page_in_head(q, lv);
                    continue;
                }
                e = level_pop(q, l, &x);
                count_out(q, e.m);
                settle_dead(q, e, QUEUE_DL_EXPIRED);
            }
            if (level_empty(l))
                mark_level(q, lv, false);
        }
    }
}

/* The next ready entry that has not expired; expired ones met on the way are
 * dead-lettered, so an expired message is never handed out. */
static bool pop_live(struct queue *q, struct tick *t, struct qent *e, struct qaux *x)
{
    while (pop_ready(q, e, x, true)) {
        if (!q->ext || x->deadline == NO_DEADLINE || x->deadline > tick_now(t))
            return true;
        note_settled(q, ent_seq(*e));
        dead_letter(q, e->m, QUEUE_DL_EXPIRED);
    }
    return false;
}

/* ---- length limits ---- */

static bool over_limit(const struct queue *q)
{
    return (q->a.max_length >= 0 && q->ready > (uint64_t)q->a.max_length) ||
           (q->a.max_length_bytes >= 0 && q->ready_bytes > (uint64_t)q->a.max_length_bytes);
}

/* rabbit_amqqueue_process will_overflow/2: would m take the ready messages
 * past a limit? */
static bool would_overflow(const struct queue *q, const struct msg *m)
{
    return (q->a.max_length >= 0 && q->ready + 1 > (uint64_t)q->a.max_length) ||
           (q->a.max_length_bytes >= 0 &&
            q->ready_bytes + msg_body_size(m) > (uint64_t)q->a.max_length_bytes);
}

/* drop-head: dead-letters heads (reason maxlen) until within the limits. */
static void drop_over_limit(struct queue *q)
{
    struct qent e;
    struct qaux x;

    if (q->overflow != QUEUE__OVERFLOW_DROP_HEAD)
        return;
    while (over_limit(q) && pop_ready(q, &e, &x, false))
        settle_dead(q, e, QUEUE_DL_MAXLEN);
}

/* ---- the queue ---- */

static int no_queue(const struct queue *q, struct proto_err *err)
{
    return err_set(err, SPEC_NOT_FOUND, "no queue '%s' in vhost '%s'", q->name, q->vhost);
}

/* Quorum queues must be durable, not exclusive and not auto-delete
 * (rabbit_quorum_queue:declare/2 via rabbit_queue_type_util, in that order). */
static int check_quorum_props(unsigned flags, const char *vhost, const char *name,
                              struct proto_err *err)
{
    const char *bad = NULL;

    if (flags & QUEUE_F_AUTO_DELETE)
        bad = "auto-delete";
    else if (flags & QUEUE_F_EXCLUSIVE)
        bad = "exclusive-owner";
    else if (!(flags & QUEUE_F_DURABLE))
        bad = "non-durable";
    if (!bad)
        return 0;
    return err_set(err, SPEC_PRECONDITION_FAILED,
                   "invalid property '%s' for queue '%s' in vhost '%s'", bad, name, vhost);
}

/* The limits as RabbitMQ applies them to the queue's type. */
static void init_limits(struct queue *q)
{
    q->overflow = q->a.overflow;
    q->delivery_limit = -1;
    if (q->a.type == QUEUE__TYPE_QUORUM) {
        /* rabbit_quorum_queue:overflow/3 warns about reject-publish-dlx and
         * falls back to the default, drop-head. */
        if (q->overflow == QUEUE__OVERFLOW_REJECT_PUBLISH_DLX)
            q->overflow = QUEUE__OVERFLOW_DROP_HEAD;
        /* RabbitMQ 4.0: 20 when unset; a negative number is unlimited
         * (rabbit_fifo update_config); a value that is not a number never
         * limits (an Erlang number sorts below any other term). */
        q->count_returns = true;
        if (!q->a.delivery_limit_given)
            q->delivery_limit = QUORUM_DEFAULT_DELIVERY_LIMIT;
        else if (q->a.has_delivery_limit && q->a.delivery_limit >= 0)
            q->delivery_limit = q->a.delivery_limit;
    }
    q->ext = q->a.message_ttl >= 0 || q->count_returns;
    q->timed = q->ext || q->a.expires >= 0;
    q->due = NO_DEADLINE;
    q->sidx = NOT_SCHEDULED;
}

struct queue *queue_create(struct view vhost, struct view name, unsigned flags, struct view args,
                           uint64_t owner, struct proto_err *err)
{
    struct queue *q = qcalloc(1, sizeof(*q));

    q->refs = 1;
    q->flags = flags;
    q->owner = (flags & QUEUE_F_EXCLUSIVE) ? owner : 0;
    q->name = xstrndup_view(name);
    q->vhost = xstrndup_view(vhost);
    q->args_len = args.n;
    q->args = qmalloc(args.n);
    if (args.n)
        memcpy(q->args, args.p, args.n);
    if (queue__args_parse(&q->a, (struct view){q->args, q->args_len}, q->vhost, q->name, err) < 0)
        goto out_free;
    if (q->a.type == QUEUE__TYPE_QUORUM && check_quorum_props(flags, q->vhost, q->name, err) < 0)
        goto out_free;
    q->nlevels = q->a.has_max_priority ? (unsigned)q->a.max_priority + 1 : 1;
    q->levels = qcalloc(q->nlevels, sizeof(*q->levels));
    q->next_seq = 1;
    init_limits(q);
    q->all_next = all_queues;
    if (all_queues)
        all_queues->all_prev = q;
    all_queues = q;
    if (q->a.expires >= 0) {
        q->last_used = queue_clock_ms();
        reschedule(q);
    }
    return q;

out_free:
    free(q->args);
    free(q->vhost);
    free(q->name);
    free(q);
    return NULL;
}

struct queue *queue_ref(struct queue *q)
{
    if (q->refs == 0 || q->refs == UINT32_MAX)
        abort();
    q->refs++;
    return q;
}

static void free_consumers(struct queue *q)
{
    struct consumer *c = q->first;

    while (c) {
        struct consumer *next = c->next;
        free(c);
        c = next;
    }
    while (q->groups) {
        struct cgroup *g = q->groups;
        q->groups = g->next;
        free(g);
    }
    q->first = q->last = NULL;
    q->nconsumers = 0;
}

void queue_unref(struct queue **qp)
{
    struct queue *q = *qp;

    if (!q)
        return;
    *qp = NULL;
    if (q->refs == 0)
        abort();
    if (--q->refs > 0)
        return;
    /* The last reference goes with the registry's, after queue_delete. A
     * queue that was never deleted must be idle: no consumer could still be
     * called and no ready message would be lost silently. */
    assert(q->deleted || (q->ready == 0 && q->nconsumers == 0));
    sched_set(q, NO_DEADLINE);
    drop_ready(q);
    if (q->all_prev)
        q->all_prev->all_next = q->all_next;
    else
        all_queues = q->all_next;
    if (q->all_next)
        q->all_next->all_prev = q->all_prev;
    free_consumers(q);
    free(q->ua.e);
    free(q->levels);
    free(q->args);
    free(q->vhost);
    free(q->name);
    free(q);
}

/* ---- consumers ---- */

static void group_insert(struct queue *q, struct consumer *c)
{
    struct cgroup **pp = &q->groups, *g;

    while (*pp && (*pp)->priority > c->priority)
        pp = &(*pp)->next;
    g = *pp;
    if (!g || g->priority != c->priority) {
        g = xcalloc(1, sizeof(*g));
        g->priority = c->priority;
        g->next = *pp;
        *pp = g;
    }
    c->group = g;
    g->n++;
    if (!g->cursor) {
        c->rr_prev = c->rr_next = c;
        g->cursor = c;
        return;
    }
    /* Insert just before the cursor: the newcomer is served last in the
     * current round. */
    c->rr_next = g->cursor;
    c->rr_prev = g->cursor->rr_prev;
    c->rr_prev->rr_next = c;
    g->cursor->rr_prev = c;
}

static void group_remove(struct queue *q, struct consumer *c)
{
    struct cgroup *g = c->group, **pp;

    if (--g->n > 0) {
        c->rr_prev->rr_next = c->rr_next;
        c->rr_next->rr_prev = c->rr_prev;
        if (g->cursor == c)
            g->cursor = c->rr_next;
        return;
    }
    for (pp = &q->groups; *pp != g; pp = &(*pp)->next)
        ;
    *pp = g->next;
    free(g);
}

static void consumer_unlink(struct queue *q, struct consumer *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        q->first = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        q->last = c->prev;
    group_remove(q, c);
    q->nconsumers--;
    if (c->exclusive)
        q->exclusive_consumer = false;
}

struct consumer *queue_consume(struct queue *q, const struct consumer_ops *ops, void *owner,
                               int32_t priority, bool exclusive, bool no_ack, struct proto_err *err)
{
    struct consumer *c;

    if (q->deleted) {
        no_queue(q, err);
        return NULL;
    }
    /* rabbit_amqqueue_process check_exclusive_access/3: an exclusive consumer
     * needs an unused queue, and nobody joins one. */
    if (q->exclusive_consumer || (exclusive && q->nconsumers > 0)) {
        err_set(err, SPEC_ACCESS_REFUSED, "queue '%s' in vhost '%s' in exclusive use", q->name,
                q->vhost);
        return NULL;
    }
    c = qcalloc(1, sizeof(*c));
    c->ops = ops;
    c->owner = owner;
    c->priority = priority;
    c->exclusive = exclusive;
    c->no_ack = no_ack;
    c->prev = q->last;
    if (q->last)
        q->last->next = c;
    else
        q->first = c;
    q->last = c;
    group_insert(q, c);
    q->nconsumers++;
    if (exclusive)
        q->exclusive_consumer = true;
    reschedule(q); /* a queue with a consumer is in use: no x-expires */
    return c;
}

bool queue_cancel(struct queue *q, struct consumer *c)
{
    /* Called from that consumer's own cancelled() during queue_delete: it is
     * already unlinked and is freed when the callback returns. */
    if (c == q->cancelling)
        return q->nconsumers == 0;
    consumer_unlink(q, c);
    free(c);
    if (q->nconsumers == 0 && q->a.expires >= 0 && !q->deleted) {
        /* rabbit_amqqueue_process: the last consumer leaving starts a full
         * x-expires period (ensure_expiry_timer). */
        q->last_used = queue_clock_ms();
        q->idle_notified = false;
        reschedule(q);
    }
    return q->nconsumers == 0;
}

/* The consumer to receive the next message, or NULL when none can take one. */
static struct consumer *pick_consumer(struct queue *q)
{
    if (q->a.single_active) {
        /* Only the oldest consumer is active; others wait for it to go. */
        struct consumer *c = q->first;
        return c && c->ops->can_take(c->owner) ? c : NULL;
    }
    for (struct cgroup *g = q->groups; g; g = g->next) {
        struct consumer *c = g->cursor;
        for (size_t i = 0; i < g->n; i++, c = c->rr_next)
            if (c->ops->can_take(c->owner))
                return c;
    }
    return NULL;
}

/* Hands the entry just taken out (e, x) to c. */
static void deliver_to(struct queue *q, struct consumer *c, struct qent e, const struct qaux *x)
{
    uint64_t seq = ent_seq(e);

    if (ent_redelivered(e))
        q->ms.redeliver++;
    if (!c->no_ack) {
        q->unacked++;
        q->ms.deliver++;
        unacked_in(q, e.m);
        /* A requeue must get the deadline and return count back. */
        if (x->deadline != NO_DEADLINE || x->count)
            ua_put(&q->ua, seq, x->deadline, x->count);
        note_delivered(q, seq);
    } else {
        q->ms.deliver_no_ack++;
        note_settled(q, seq);
    }
    /* Advance before the callback: every queue field is final when
     * deliver() runs, and whatever it changes in other consumers'
     * can_take() is asked afresh for the next message. */
    c->group->cursor = c->rr_next;
    q->cur_seq = seq;
    q->cur_count = x->count;
    c->ops->deliver(c->owner, q, e.m, seq, ent_redelivered(e));
}

/* queue_dispatch without the rescheduling, for callers that reschedule. */
static void dispatch(struct queue *q)
{
    struct tick t = {0, false};

    /* A callback that publishes back into this queue would land here again;
     * the outer loop picks its message up. */
    if (q->dispatching || q->deleted)
        return;
    q->dispatching = true;
    while (q->ready > 0) {
        struct consumer *c = pick_consumer(q);
        struct qent e;
        struct qaux x;

        if (!c || !pop_live(q, &t, &e, &x))
            break;
        deliver_to(q, c, e, &x);
    }
    q->dispatching = false;
}

void queue_dispatch(struct queue *q)
{
    dispatch(q);
    reschedule(q);
}

size_t queue_delete(struct queue *q)
{
    size_t dropped;

    if (q->deleted)
        return 0;
    q->deleted = true;
    /* Unlink each consumer before its callback, so a callback that cancels
     * other consumers (or this one) finds a consistent list. */
    while (q->first) {
        struct consumer *c = q->first;

        consumer_unlink(q, c);
        q->cancelling = c;
        c->ops->cancelled(c->owner, q);
        q->cancelling = NULL;
        free(c);
    }
    /* Deleting does not dead-letter (RabbitMQ, x-expires included). */
    dropped = drop_ready(q);
    sched_set(q, NO_DEADLINE);
    return dropped;
}

bool queue_is_deleted(const struct queue *q)
{
    return q->deleted;
}

const char *queue_name(const struct queue *q)
{
    return q->name;
}

const char *queue_vhost(const struct queue *q)
{
    return q->vhost;
}

unsigned queue_flags(const struct queue *q)
{
    return q->flags;
}

struct view queue_args(const struct queue *q)
{
    return (struct view){q->args, q->args_len};
}

uint64_t queue_owner(const struct queue *q)
{
    return q->owner;
}

static int locked(const struct queue *q, struct proto_err *err)
{
    return err_set(err, SPEC_RESOURCE_LOCKED,
                   "cannot obtain exclusive access to locked queue '%s' in vhost '%s'. It could be "
                   "originally declared on another connection or the exclusive property value does "
                   "not match that of the original declaration.",
                   q->name, q->vhost);
}

int queue_check_access(const struct queue *q, uint64_t owner, struct proto_err *err)
{
    if (q->owner == 0 || q->owner == owner)
        return 0;
    return locked(q, err);
}

static const char *bool_str(bool b)
{
    return b ? "true" : "false";
}

int queue_check_equivalent(const struct queue *q, unsigned flags, struct view args, uint64_t owner,
                           struct proto_err *err)
{
    bool durable = (flags & QUEUE_F_DURABLE) != 0, auto_delete = (flags & QUEUE_F_AUTO_DELETE) != 0;
    bool cur_durable = (q->flags & QUEUE_F_DURABLE) != 0;
    bool cur_auto_delete = (q->flags & QUEUE_F_AUTO_DELETE) != 0;

    /* rabbit_amqqueue:perform_full_equivalence_checks/5: strict exclusive
     * access first (the owner must be the same, none included), then durable,
     * auto_delete and the type's arguments. */
    if (q->owner != ((flags & QUEUE_F_EXCLUSIVE) ? owner : 0))
        return locked(q, err);
    if (durable != cur_durable)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg 'durable' for queue '%s' in vhost '%s': received '%s' but "
                       "current is '%s'",
                       q->name, q->vhost, bool_str(durable), bool_str(cur_durable));
    if (auto_delete != cur_auto_delete)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg 'auto_delete' for queue '%s' in vhost '%s': received '%s' "
                       "but current is '%s'",
                       q->name, q->vhost, bool_str(auto_delete), bool_str(cur_auto_delete));
    return queue__args_check_equivalent(q->a.type, queue_args(q), args, q->vhost, q->name, err);
}

/* ---- counts ---- */

size_t queue_ready_count(const struct queue *q)
{
    return q->ready;
}

uint64_t queue_ready_bytes(const struct queue *q)
{
    return q->ready_bytes;
}

size_t queue_unacked_count(const struct queue *q)
{
    return q->unacked;
}

size_t queue_consumer_count(const struct queue *q)
{
    return q->nconsumers;
}

/* ---- messages ---- */

static const char *overflow_name(enum queue__overflow o)
{
    return o == QUEUE__OVERFLOW_REJECT_PUBLISH_DLX ? "reject-publish-dlx" : "reject-publish";
}

int queue_publish(struct queue *q, struct msg *m, struct proto_err *err)
{
    struct tick t = {0, false};
    struct qaux x = AUX_NONE;
    struct consumer *c = NULL;
    bool tried = false;
    uint64_t seq;

    if (q->deleted)
        return no_queue(q, err);
    /* reject-publish is decided before any delivery attempt, so even a
     * waiting consumer does not get a message the queue would not hold
     * (rabbit_amqqueue_process maybe_deliver_or_enqueue/3). */
    if (q->overflow != QUEUE__OVERFLOW_DROP_HEAD && would_overflow(q, m)) {
        if (q->overflow == QUEUE__OVERFLOW_REJECT_PUBLISH_DLX)
            dead_letter(q, msg_ref(m), QUEUE_DL_MAXLEN);
        err->code = 0;
        snprintf(err->text, sizeof(err->text), "queue '%s' in vhost '%s' is full (x-overflow %s)",
                 q->name, q->vhost, overflow_name(q->overflow));
        return QUEUE_E_OVERFLOW;
    }
    if (msg_expiration_ms(m) >= 0)
        make_ext(q);
    seq = q->next_seq++;
    q->ms.publish++;
    /* The observer records the entry before anything can deliver or drop it. */
    note_enqueued(q, m, seq);
    /* Nothing ready: a consumer that can take it gets it at once, whatever
     * its TTL (RabbitMQ attempt_delivery; TTL 0 means "deliver now or
     * expire"). An unacked delivery keeps its deadline for a requeue. */
    if (q->ready == 0 && !q->dispatching) {
        tried = true;
        c = pick_consumer(q);
    }
    if (c) {
        if (q->ext && !c->no_ack)
            x.deadline = deadline_of(q, m, tick_now(&t));
        deliver_to(q, c, (struct qent){msg_ref(m), seq << 1}, &x);
        return 0;
    }
    if (q->ext)
        x.deadline = deadline_of(q, m, tick_now(&t));
    enqueue(q, msg_ref(m), seq, false, &x);
    drop_over_limit(q);
    /* Only a message that arrives expired (TTL or expiration 0) can be due
     * now; the rest is the timer's. */
    if (x.deadline != NO_DEADLINE && x.deadline <= tick_now(&t))
        expire_due(q, tick_now(&t));
    if (!tried)
        dispatch(q);
    reschedule(q);
    return 0;
}

struct msg *queue_get(struct queue *q, bool ack, uint64_t *seq, bool *redelivered)
{
    struct tick t = {0, false};
    struct qent e;
    struct qaux x;

    /* basic.get renews the x-expires lease (ensure_expiry_timer; quorum:
     * dequeue updates last_active). */
    if (q->a.expires >= 0 && !q->deleted) {
        q->last_used = tick_now(&t);
        q->idle_notified = false;
    }
    if (!pop_live(q, &t, &e, &x)) {
        reschedule(q);
        return NULL;
    }
    if (ent_redelivered(e))
        q->ms.redeliver++;
    if (ack) {
        q->unacked++;
        q->ms.get++;
        unacked_in(q, e.m);
        if (x.deadline != NO_DEADLINE || x.count)
            ua_put(&q->ua, ent_seq(e), x.deadline, x.count);
        note_delivered(q, ent_seq(e));
    } else {
        q->ms.get_no_ack++;
        note_settled(q, ent_seq(e));
    }
    q->cur_seq = ent_seq(e);
    q->cur_count = x.count;
    if (seq)
        *seq = ent_seq(e);
    if (redelivered)
        *redelivered = ent_redelivered(e);
    reschedule(q);
    return e.m;
}

/* Settles one unacked delivery and takes back its record, if any. */
static void settle_one(struct queue *q, const struct msg *m, uint64_t seq, struct qaux *x)
{
    struct urec r;

    /* A settle the queue did not count (a duplicate from a buggy caller)
     * must not wrap the count around. */
    if (q->unacked > 0)
        q->unacked--;
    unacked_out(q, m);
    *x = AUX_NONE;
    if (ua_take(&q->ua, seq, &r)) {
        x->deadline = r.deadline;
        x->count = r.count;
    }
}

void queue_ack_msg(struct queue *q, const struct msg *m, uint64_t seq)
{
    struct qaux x;

    settle_one(q, m, seq, &x);
    q->ms.ack++;
    note_settled(q, seq);
}

void queue_ack(struct queue *q, uint64_t seq)
{
    queue_ack_msg(q, NULL, seq);
}

void queue_msg_stats(const struct queue *q, struct queue_msg_stats *out)
{
    *out = q->ms;
    out->persistent = q->ready_pers + q->unacked_pers;
    out->persistent_bytes = q->ready_pers_bytes + q->unacked_pers_bytes;
    out->paged_out = q->paged;
    out->paged_out_bytes = q->paged_bytes;
}

void queue_requeue(struct queue *q, struct msg *m, uint64_t seq)
{
    struct tick t = {0, false};
    struct qaux x;

    settle_one(q, m, seq, &x);
    if (q->deleted) {
        msg_unref(&m);
        return;
    }
    /* Sequence numbers are handed out from 1 and only ever come back here;
     * one from elsewhere would still be ordered, just not by publish. */
    assert(seq > 0 && seq < q->next_seq);
    if (q->count_returns) {
        /* rabbit_fifo return_one/8: every return counts (acquired_count),
         * and past the limit the message is dead-lettered instead. */
        if (x.count < UINT32_MAX)
            x.count++;
        if (q->delivery_limit >= 0 && (int64_t)x.count > q->delivery_limit) {
            note_settled(q, seq);
            dead_letter(q, m, QUEUE_DL_DELIVERY_LIMIT);
            return;
        }
    }
    if (msg_expiration_ms(m) >= 0)
        make_ext(q);
    /* Every delivery of a message with a deadline left a record; without one
     * (a seq this queue never handed out) the TTL starts again. */
    if (q->ext && x.deadline == NO_DEADLINE)
        x.deadline = deadline_of(q, m, tick_now(&t));
    enqueue(q, m, seq, true, &x);
    /* rabbit_amqqueue_process requeue_and_run/3: drop-head, then expiry. */
    drop_over_limit(q);
    if (x.deadline != NO_DEADLINE && x.deadline <= tick_now(&t))
        expire_due(q, tick_now(&t));
    reschedule(q);
}

void queue_reject(struct queue *q, struct msg *m, uint64_t seq)
{
    struct qaux x;

    settle_one(q, m, seq, &x);
    if (q->deleted) {
        msg_unref(&m);
        return;
    }
    note_settled(q, seq);
    dead_letter(q, m, QUEUE_DL_REJECTED);
}

uint32_t queue_delivery_count(const struct queue *q, uint64_t seq)
{
    const struct urec *r;

    if (!q->count_returns)
        return 0;
    if (seq == q->cur_seq)
        return q->cur_count;
    r = ua_find(&q->ua, seq);
    return r ? r->count : 0;
}

size_t queue_purge(struct queue *q)
{
    size_t n = drop_ready(q);

    reschedule(q);
    return n;
}

/* ---- inspection: peek and remove by sequence number ---- */

/*
 * A requeue heap is walked in key order without touching it: a scratch
 * min-heap holds the indices of the frontier (an entry whose parent was
 * visited), starting with the root; taking the smallest and adding its two
 * children yields the heap's entries in order, k of them in O(k log k).
 */
struct hwalk {
    const struct heap *h;
    size_t *idx;
    size_t len, cap;
};

static inline uint64_t hw_key(const struct hwalk *w, size_t i)
{
    return w->h->e[w->idx[i]].key;
}

static void hw_push(struct hwalk *w, size_t hi)
{
    size_t i;

    if (w->len == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->idx = xrealloc(w->idx, w->cap * sizeof(*w->idx));
    }
    i = w->len++;
    w->idx[i] = hi;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        size_t t;
        if (hw_key(w, p) <= hw_key(w, i))
            break;
        t = w->idx[p];
        w->idx[p] = w->idx[i];
        w->idx[i] = t;
        i = p;
    }
}

/* Takes the smallest frontier entry (the walk must not be empty) and adds
 * its children; returns its index in the heap. */
static size_t hw_pop(struct hwalk *w)
{
    size_t top = w->idx[0], i = 0;

    w->idx[0] = w->idx[--w->len];
    for (;;) {
        size_t c = 2 * i + 1, t;
        if (c >= w->len)
            break;
        if (c + 1 < w->len && hw_key(w, c + 1) < hw_key(w, c))
            c++;
        if (hw_key(w, i) <= hw_key(w, c))
            break;
        t = w->idx[c];
        w->idx[c] = w->idx[i];
        w->idx[i] = t;
        i = c;
    }
    if (2 * top + 1 < w->h->len)
        hw_push(w, 2 * top + 1);
    if (2 * top + 2 < w->h->len)
        hw_push(w, 2 * top + 2);
    return top;
}

/* Whether an entry with aux x is past its deadline (never delivered again). */
static bool is_due(const struct queue *q, const struct qaux *x, struct tick *t)
{
    return q->ext && x->deadline != NO_DEADLINE && x->deadline <= tick_now(t);
}

size_t queue_peek(const struct queue *q, size_t offset, size_t count, queue_peek_fn *fn, void *arg)
{
    struct tick t = {0, false};
    struct hwalk w = {NULL, NULL, 0, 0};
    size_t given = 0;
    bool stop = false;

    if (q->deleted)
        return 0;
    for (int lv = (int)q->nlevels - 1; lv >= 0 && !stop && given < count; lv--) {
        const struct level *l = &q->levels[lv];
        const struct ring *r = &l->ring;
        size_t k = 0;

        if (level_empty(l))
            continue;
        w.h = &l->heap;
        w.len = 0;
        if (l->heap.len)
            hw_push(&w, 0);
        while (!stop && given < count) {
            const struct qent *e;
            const struct qaux *x;
            size_t pos = 0;

            /* Tombstones (expired or removed in place) are not messages. */
            while (k < r->len && !r->e[(r->head + k) & (r->cap - 1)].m)
                k++;
            if (k < r->len)
                pos = (r->head + k) & (r->cap - 1);
            if (w.len && (k == r->len || hw_key(&w, 0) < r->e[pos].key)) {
                size_t hi = hw_pop(&w);
                e = &l->heap.e[hi];
                x = heap_aux(&l->heap, hi);
            } else if (k < r->len) {
                e = &r->e[pos];
                x = r->x ? &r->x[pos] : &AUX_NONE;
                k++;
            } else {
                break;
            }
            if (is_due(q, x, &t))
                continue;
            if (offset) {
                offset--;
                continue;
            }
            if (msg_paged(e->m) == MSG_RESIDENT) {
                given++;
                stop = !fn(arg, e->m, ent_seq(*e), ent_redelivered(*e));
            } else {
                /* A temporary copy read back: the entry keeps its stub. */
                struct msg *m = msg_ref(e->m);
                uint64_t seq = ent_seq(*e);

                if (pager)
                    pager->page_in(pager_arg, (struct queue *)q, &m, &seq, 1);
                if (msg_paged(m) == MSG_RESIDENT) {
                    given++;
                    stop = !fn(arg, m, seq, ent_redelivered(*e));
                }
                msg_unref(&m);
            }
        }
    }
    free(w.idx);
    return given;
}

/* Takes the entry at logical index k out of ring r (k > 0: not the head),
 * leaving a tombstone that the head skips when it gets there; tombstones at
 * the tail are dropped at once. */
static struct qent ring_take(struct queue *q, struct ring *r, size_t k, struct qaux *x)
{
    size_t mask = r->cap - 1, pos = (r->head + k) & mask;
    struct qent e = r->e[pos];

    if (r->x) {
        *x = r->x[pos];
        if (x->xi)
            xh_remove(q, x->xi - 1);
        x->xi = 0;
    } else {
        *x = AUX_NONE;
    }
    r->e[pos].m = NULL;
    /* The head is live and k > 0, so this stops before the head. */
    while (r->len && !r->e[(r->head + r->len - 1) & mask].m)
        r->len--;
    ring_settle(q, r);
    return e;
}

/* Finds seq in level l: *in_heap and *at (heap index or ring logical index).
 * Ring entries (tombstones too) are in sequence order: binary search. */
static bool level_find(const struct level *l, uint64_t seq, bool *in_heap, size_t *at)
{
    const struct ring *r = &l->ring;
    size_t lo = 0, hi = r->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t s = ent_seq(r->e[(r->head + mid) & (r->cap - 1)]);
        if (s == seq) {
            if (!r->e[(r->head + mid) & (r->cap - 1)].m)
                break;
            *in_heap = false;
            *at = mid;
            return true;
        }
        if (s < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = 0; i < l->heap.len; i++)
        if (ent_seq(l->heap.e[i]) == seq) {
            *in_heap = true;
            *at = i;
            return true;
        }
    return false;
}

struct msg *queue_remove(struct queue *q, uint64_t seq, bool *redelivered)
{
    struct tick t = {0, false};

    if (q->deleted || seq == 0 || seq >= q->next_seq)
        return NULL;
    for (unsigned lv = 0; lv < q->nlevels; lv++) {
        struct level *l = &q->levels[lv];
        const struct qaux *cur;
        struct qent e;
        struct qaux x;
        bool in_heap;
        size_t at;

        if (level_empty(l) || !level_find(l, seq, &in_heap, &at))
            continue;
        cur = in_heap
                  ? heap_aux(&l->heap, at)
                  : (l->ring.x ? &l->ring.x[(l->ring.head + at) & (l->ring.cap - 1)] : &AUX_NONE);
        /* Due: it belongs to the expiry timer, which dead-letters it. */
        if (is_due(q, cur, &t))
            return NULL;
        if (in_heap)
            e = heap_remove(q, &l->heap, at, &x);
        else if (at == 0)
            e = ring_pop(q, &l->ring, &x);
        else
            e = ring_take(q, &l->ring, at, &x);
        if (level_empty(l))
            mark_level(q, lv, false);
        count_out(q, e.m);
        if (msg_paged(e.m) != MSG_RESIDENT && !page_in_taken(q, &e)) {
            reschedule(q);
            return NULL;
        }
        note_settled(q, ent_seq(e));
        reschedule(q);
        if (redelivered)
            *redelivered = ent_redelivered(e);
        return e.m;
    }
    return NULL;
}

bool queue_would_accept(const struct queue *q, const struct msg *m)
{
    if (q->deleted)
        return false;
    return q->overflow == QUEUE__OVERFLOW_DROP_HEAD || !would_overflow(q, m);
}

/* ---- dead letters and counters ---- */

bool queue_dead_letter_target(const struct queue *q, struct view *dlx, struct view *dlrk,
                              bool *has_dlrk)
{
    if (dlx)
        *dlx = q->a.dlx;
    if (dlrk)
        *dlrk = q->a.dlrk;
    if (has_dlrk)
        *has_dlrk = q->a.has_dlrk;
    return q->a.has_dlx;
}

void queue_dl_counts(const struct queue *q, struct queue_dl_counts *out)
{
    *out = q->dl;
}

void queue_dl_totals(struct queue_dl_counts *out)
{
    *out = dl_totals;
}

void queue_count_dl_dropped(struct queue *q)
{
    q->dl.dl_dropped++;
    dl_totals.dl_dropped++;
}

void queue_count_dl_received(struct queue *q)
{
    q->dl.dl_received++;
    dl_totals.dl_received++;
}

/* ---- expiry across queues ---- */

uint64_t queue_expiry_next(void)
{
    return sched_len ? sched[0]->due : NO_DEADLINE;
}

void queue_expiry_run(uint64_t now_ms)
{
    while (sched_len && sched[0]->due <= now_ms) {
        struct queue *q = sched[0];

        expire_due(q, now_ms);
        if (idle_armed(q) && q->last_used + (uint64_t)q->a.expires <= now_ms) {
            /* Notified once per idle period: use renews the lease. */
            q->idle_notified = true;
            defer(q, NULL, EV_IDLE);
        }
        reschedule(q);
        /* Everything due at now_ms is gone, so q moved past it. Should an
         * invariant break, do not spin: look again in a millisecond. */
        assert(q->due > now_ms);
        if (q->due <= now_ms)
            sched_set(q, now_ms + 1);
    }
    queue_flush();
}

void queue_touch(struct queue *q)
{
    /* Quorum queues do not renew the lease on redeclare (RabbitMQ docs,
     * quorum-queues "Queue TTL: partially"). */
    if (q->deleted || q->a.expires < 0 || q->a.type == QUEUE__TYPE_QUORUM)
        return;
    q->last_used = queue_clock_ms();
    q->idle_notified = false;
    reschedule(q);
}

size_t queue__storage_bytes(const struct queue *q)
{
    size_t n = 0, per = sizeof(struct qent) + (q->ext ? sizeof(struct qaux) : 0);

    for (unsigned i = 0; i < q->nlevels; i++)
        n += (q->levels[i].ring.cap + q->levels[i].heap.cap) * per;
    return n + q->xh.cap * sizeof(struct xent) + q->ua.cap * sizeof(struct urec);
}

/* ---- paging out ---- */

void queue_set_pager(const struct queue_pager *ops, void *arg)
{
    pager = ops;
    pager_arg = arg;
}

uint64_t queue_total_resident_bytes(void)
{
    return total_mem_bytes;
}

void queue_paging_totals(struct queue_paging_totals *out)
{
    *out = paging_totals;
}

/* First logical index of ring r whose sequence number is >= seq (ring
 * entries, tombstones included, are in sequence order). */
static size_t ring_lower_bound(const struct ring *r, uint64_t seq)
{
    size_t lo = 0, hi = r->len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ent_seq(r->e[(r->head + mid) & (r->cap - 1)]) < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Hands ms[0..n) (resident messages of ring positions pos[] of level l) to
 * the pager and puts the stubs it returns in their place, widening the paged
 * range over them. Returns the bytes paged out; *ok turns false when the
 * pager left one resident (it could not write). */
static uint64_t page_out_batch(struct queue *q, struct level *l, struct msg **ms,
                               const uint64_t *seqs, const size_t *pos, size_t n, bool *ok)
{
    uint64_t done = 0;

    pager->page_out(pager_arg, q, ms, seqs, n);
    for (size_t i = 0; i < n; i++) {
        if (msg_paged(ms[i]) == MSG_RESIDENT) {
            *ok = false;
            continue;
        }
        l->ring.e[pos[i]].m = ms[i];
        paged_out_moved(q, msg_body_size(ms[i]), true);
        done += msg_body_size(ms[i]);
        if (l->pg_lo >= l->pg_hi) {
            l->pg_lo = seqs[i];
            l->pg_hi = seqs[i] + 1;
        } else if (seqs[i] < l->pg_lo) {
            l->pg_lo = seqs[i];
        } else if (seqs[i] >= l->pg_hi) {
            l->pg_hi = seqs[i] + 1;
        }
    }
    return done;
}

static void reverse_batch(struct msg **ms, uint64_t *seqs, size_t *pos, size_t n)
{
    for (size_t i = 0, j = n - 1; i < j; i++, j--) {
        struct msg *tm = ms[i];
        uint64_t ts = seqs[i];
        size_t tp = pos[i];

        ms[i] = ms[j];
        ms[j] = tm;
        seqs[i] = seqs[j];
        seqs[j] = ts;
        pos[i] = pos[j];
        pos[j] = tp;
    }
}

/* Pages out resident entries of level l's ring between logical indices
 * from (inclusive) and to (exclusive), walking forward (from < to) or
 * backward (from > to: from the entry before `from` down to `to`), until
 * want bytes are out. The walk starts next to the paged range (or at the
 * tail when there is none), so the range stays one span. */
static uint64_t page_out_run(struct queue *q, struct level *l, size_t from, size_t to,
                             uint64_t want, bool *ok)
{
    struct ring *r = &l->ring;
    struct msg *ms[PAGE_BATCH];
    uint64_t seqs[PAGE_BATCH], done = 0, got = 0;
    size_t pos[PAGE_BATCH], n = 0;
    bool fwd = from < to;

    while (*ok && (fwd ? from < to : from > to) && done + got < want) {
        size_t k = fwd ? from++ : --from;
        size_t p = (r->head + k) & (r->cap - 1);
        struct msg *m = r->e[p].m;
        uint64_t seq = ent_seq(r->e[p]);

        if (!m || msg_paged(m) != MSG_RESIDENT || msg_body_size(m) == 0)
            continue;
        ms[n] = m;
        seqs[n] = seq;
        pos[n++] = p;
        got += msg_body_size(m);
        if (n == PAGE_BATCH) {
            if (!fwd)
                reverse_batch(ms, seqs, pos, n);
            done += page_out_batch(q, l, ms, seqs, pos, n, ok);
            n = 0;
            got = 0;
        }
    }
    if (n) {
        if (!fwd)
            reverse_batch(ms, seqs, pos, n);
        done += page_out_batch(q, l, ms, seqs, pos, n, ok);
    }
    return done;
}

/* Pages out up to want bytes of level lv: first what came after the paged
 * range (oldest first), then the head side (newest first), keeping the first
 * `keep` entries of the ring (what consumers take next). */
static uint64_t page_out_level(struct queue *q, unsigned lv, uint64_t want, size_t keep, bool *ok)
{
    struct level *l = &q->levels[lv];
    struct ring *r = &l->ring;
    uint64_t done = 0;
    size_t lo;

    if (r->len == 0)
        return 0;
    /* A range with no entry left in it (they were taken) says nothing: the
     * whole ring is the head side again. */
    if (l->pg_lo < l->pg_hi && ring_lower_bound(r, l->pg_lo) == ring_lower_bound(r, l->pg_hi))
        l->pg_lo = l->pg_hi = 0;
    if (l->pg_lo < l->pg_hi)
        done += page_out_run(q, l, ring_lower_bound(r, l->pg_hi), r->len, want, ok);
    if (done >= want || !*ok)
        return done;
    lo = l->pg_lo < l->pg_hi ? ring_lower_bound(r, l->pg_lo) : r->len;
    if (lo > keep)
        done += page_out_run(q, l, lo, keep, want - done, ok);
    return done;
}

/* Up to want bytes of q, lowest priority level first (delivered last). */
static uint64_t page_out_queue(struct queue *q, uint64_t want, bool *ok)
{
    uint64_t done = 0;
    size_t keep = q->nconsumers ? READ_AHEAD_MSGS : 0;

    for (unsigned lv = 0; lv < q->nlevels && done < want && *ok; lv++)
        done += page_out_level(q, lv, want - done, keep, ok);
    return done;
}

uint64_t queue_page_out(uint64_t target)
{
    static uint64_t round;
    static bool running;
    uint64_t done = 0;
    bool ok = true;

    if (!pager || running)
        return 0;
    running = true;
    round++;
    while (ok && total_mem_bytes > target) {
        struct queue *best = NULL;
        uint64_t second = 0, want;

        /* The queue with the most bytes in memory, down to the next one's
         * level (or at least a batch), so the biggest shrink first. */
        for (struct queue *q = all_queues; q; q = q->all_next) {
            if (q->deleted || q->dispatching || q->page_stuck == round || q->mem_bytes == 0)
                continue;
            if (!best || q->mem_bytes > best->mem_bytes) {
                if (best)
                    second = best->mem_bytes;
                best = q;
            } else if (q->mem_bytes > second) {
                second = q->mem_bytes;
            }
        }
        if (!best)
            break;
        want = best->mem_bytes - second;
        if (want < ((uint64_t)64 << 10))
            want = (uint64_t)64 << 10;
        if (want > total_mem_bytes - target)
            want = total_mem_bytes - target;
        want = page_out_queue(best, want, &ok);
        if (want == 0)
            best->page_stuck = round;
        done += want;
    }
    running = false;
    return done;
}

/* ---- persistence hooks ---- */

void queue_set_observer(const struct queue_observer *ops, void *arg)
{
    observer = ops;
    observer_arg = arg;
}

void queue_set_store_qid(struct queue *q, uint32_t qid)
{
    q->store_qid = qid;
}

uint32_t queue_store_qid(const struct queue *q)
{
    return q->store_qid;
}

void queue_reserve_seq(struct queue *q, uint64_t max_seq)
{
    if (max_seq >= q->next_seq)
        q->next_seq = max_seq + 1;
}

void queue_restore(struct queue *q, struct msg *m, uint64_t seq, bool redelivered)
{
    struct tick t = {0, false};
    struct qaux x = AUX_NONE;
    unsigned lv = level_of(q, m);
    struct level *l = &q->levels[lv];
    struct qent e = {msg_ref(m), seq << 1 | (redelivered ? 1u : 0u)};
    bool in_heap;
    size_t pos;

    assert(!q->deleted && seq > 0);
    if (msg_expiration_ms(m) >= 0)
        make_ext(q);
    /* The TTL starts again: deadlines are kept on a monotonic clock, which
     * does not survive the process. */
    if (q->ext)
        x.deadline = deadline_of(q, m, tick_now(&t));
    queue_reserve_seq(q, seq);
    /* Recovery hands entries over in sequence order, so they belong at the
     * ring's tail; one out of order goes to the heap, which sorts it in. */
    in_heap = l->ring.len != 0 &&
              ent_seq(l->ring.e[(l->ring.head + l->ring.len - 1) & (l->ring.cap - 1)]) > seq;
    if (in_heap)
        pos = heap_push(q, &l->heap, e, &x);
    else
        pos = ring_push(q, &l->ring, e, &x);
    /* A stub (recovery leaves bytes on disk past the memory budget) widens
     * the ring's paged range up to it. */
    if (!in_heap && msg_paged(m) != MSG_RESIDENT) {
        if (l->pg_lo >= l->pg_hi)
            l->pg_lo = seq;
        l->pg_hi = seq + 1;
    }
    if (q->ext && x.deadline != NO_DEADLINE && needs_index(q, m))
        xh_push(q, (struct xent){x.deadline, pos, lv, in_heap});
    mark_level(q, lv, true);
    count_in(q, m);
    reschedule(q);
}
