/* SPDX-License-Identifier: MIT */
/*
 * queue: ready messages, consumers and counts of one queue.
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
 */
#include "queue/queue.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/msg.h"
#include "queue/queue_int.h"

/* Smallest ring / heap allocation, kept once allocated (see above). */
#define STORE_MIN_CAP 8u

/* ---- entries, rings and heaps ---- */

struct qent {
    struct msg *m;
    uint64_t key; /* seq << 1 | redelivered */
};

_Static_assert(sizeof(struct qent) == 16, "an entry is the per-message queue overhead");

static inline uint64_t ent_seq(struct qent e)
{
    return e.key >> 1;
}

static inline bool ent_redelivered(struct qent e)
{
    return (e.key & 1u) != 0;
}

/* Fresh messages in sequence order. cap is 0 or a power of two. */
struct ring {
    struct qent *e;
    size_t cap, head, len;
};

/* Requeued messages: a binary min-heap on the sequence number. */
struct heap {
    struct qent *e;
    size_t cap, len;
};

struct level {
    struct ring ring;
    struct heap heap;
};

static void ring_resize(struct ring *r, size_t cap)
{
    struct qent *e = xmalloc(cap * sizeof(*e));
    size_t first = r->cap - r->head;

    if (r->len) {
        if (first >= r->len) {
            memcpy(e, r->e + r->head, r->len * sizeof(*e));
        } else {
            memcpy(e, r->e + r->head, first * sizeof(*e));
            memcpy(e + first, r->e, (r->len - first) * sizeof(*e));
        }
    }
    free(r->e);
    r->e = e;
    r->cap = cap;
    r->head = 0;
}

static void ring_push(struct ring *r, struct qent x)
{
    if (r->len == r->cap)
        ring_resize(r, r->cap ? r->cap * 2 : STORE_MIN_CAP);
    r->e[(r->head + r->len) & (r->cap - 1)] = x;
    r->len++;
}

static struct qent ring_pop(struct ring *r)
{
    struct qent x = r->e[r->head];

    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    /* Halving at a quarter leaves the new ring half full, so a queue
     * oscillating around a size does not resize back and forth. */
    if (r->cap > STORE_MIN_CAP && r->len <= r->cap / 4)
        ring_resize(r, r->cap / 2);
    return x;
}

static void ring_free(struct ring *r)
{
    free(r->e);
    memset(r, 0, sizeof(*r));
}

static void heap_set_cap(struct heap *h, size_t cap)
{
    h->e = xrealloc(h->e, cap * sizeof(*h->e));
    h->cap = cap;
}

static void heap_push(struct heap *h, struct qent x)
{
    size_t i;

    if (h->len == h->cap)
        heap_set_cap(h, h->cap ? h->cap * 2 : STORE_MIN_CAP);
    i = h->len++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h->e[parent].key <= x.key)
            break;
        h->e[i] = h->e[parent];
        i = parent;
    }
    h->e[i] = x;
}

static struct qent heap_pop(struct heap *h)
{
    struct qent top = h->e[0];
    struct qent last = h->e[--h->len];
    size_t i = 0;

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len)
            break;
        if (c + 1 < h->len && h->e[c + 1].key < h->e[c].key)
            c++;
        if (last.key <= h->e[c].key)
            break;
        h->e[i] = h->e[c];
        i = c;
    }
    if (h->len)
        h->e[i] = last;
    if (h->cap > STORE_MIN_CAP && h->len <= h->cap / 4)
        heap_set_cap(h, h->cap / 2);
    return top;
}

static void heap_free(struct heap *h)
{
    free(h->e);
    memset(h, 0, sizeof(*h));
}

static inline bool level_empty(const struct level *l)
{
    return l->ring.len == 0 && l->heap.len == 0;
}

/* The level's next message: the lower sequence number of ring head and heap
 * top (ring entries are in order, so its head is its minimum). */
static struct qent level_pop(struct level *l)
{
    if (l->heap.len == 0)
        return ring_pop(&l->ring);
    if (l->ring.len == 0 || l->heap.e[0].key < l->ring.e[l->ring.head].key)
        return heap_pop(&l->heap);
    return ring_pop(&l->ring);
}

/* ---- the queue ---- */

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
};

static uint64_t total_ready_bytes;

uint64_t queue_total_ready_bytes(void)
{
    return total_ready_bytes;
}

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
}

static void count_out(struct queue *q, const struct msg *m)
{
    q->ready--;
    q->ready_bytes -= msg_body_size(m);
    total_ready_bytes -= msg_body_size(m);
}

static bool pop_ready(struct queue *q, struct qent *out)
{
    int lv = top_level(q);
    struct level *l;

    if (lv < 0)
        return false;
    l = &q->levels[lv];
    *out = level_pop(l);
    if (level_empty(l))
        mark_level(q, (unsigned)lv, false);
    count_out(q, out->m);
    return true;
}

/* Drops every ready message and frees the level storage. */
static size_t drop_ready(struct queue *q)
{
    size_t n = q->ready;

    for (unsigned i = 0; i < q->nlevels; i++) {
        struct level *l = &q->levels[i];

        while (l->ring.len) {
            struct qent e = l->ring.e[l->ring.head];
            l->ring.head = (l->ring.head + 1) & (l->ring.cap - 1);
            l->ring.len--;
            count_out(q, e.m);
            msg_unref(&e.m);
        }
        for (size_t j = 0; j < l->heap.len; j++) {
            count_out(q, l->heap.e[j].m);
            msg_unref(&l->heap.e[j].m);
        }
        l->heap.len = 0;
        ring_free(&l->ring);
        heap_free(&l->heap);
    }
    memset(q->nonempty, 0, sizeof(q->nonempty));
    assert(q->ready == 0 && q->ready_bytes == 0);
    return n;
}

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

struct queue *queue_create(struct view vhost, struct view name, unsigned flags, struct view args,
                           uint64_t owner, struct proto_err *err)
{
    struct queue *q = xcalloc(1, sizeof(*q));

    q->refs = 1;
    q->flags = flags;
    q->owner = (flags & QUEUE_F_EXCLUSIVE) ? owner : 0;
    q->name = xstrndup_view(name);
    q->vhost = xstrndup_view(vhost);
    q->args_len = args.n;
    q->args = xmalloc(args.n);
    if (args.n)
        memcpy(q->args, args.p, args.n);
    if (queue__args_parse(&q->a, (struct view){q->args, q->args_len}, q->vhost, q->name, err) < 0)
        goto out_free;
    if (q->a.type == QUEUE__TYPE_QUORUM && check_quorum_props(flags, q->vhost, q->name, err) < 0)
        goto out_free;
    q->nlevels = q->a.has_max_priority ? (unsigned)q->a.max_priority + 1 : 1;
    q->levels = xcalloc(q->nlevels, sizeof(*q->levels));
    q->next_seq = 1;
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
    drop_ready(q);
    free_consumers(q);
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
    c = xcalloc(1, sizeof(*c));
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

void queue_dispatch(struct queue *q)
{
    /* A callback that publishes back into this queue would land here again;
     * the outer loop picks its message up. */
    if (q->dispatching || q->deleted)
        return;
    q->dispatching = true;
    while (q->ready > 0) {
        struct consumer *c = pick_consumer(q);
        struct qent e;

        if (!c)
            break;
        pop_ready(q, &e);
        if (!c->no_ack)
            q->unacked++;
        /* Advance before the callback: every queue field is final when
         * deliver() runs, and whatever it changes in other consumers'
         * can_take() is asked afresh for the next message. */
        c->group->cursor = c->rr_next;
        c->ops->deliver(c->owner, q, e.m, ent_seq(e), ent_redelivered(e));
    }
    q->dispatching = false;
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
    dropped = drop_ready(q);
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

static void enqueue(struct queue *q, struct msg *m, uint64_t seq, bool redelivered, bool requeue)
{
    unsigned lv = level_of(q, m);
    struct level *l = &q->levels[lv];
    struct qent e = {m, seq << 1 | (redelivered ? 1u : 0u)};

    if (requeue)
        heap_push(&l->heap, e);
    else
        ring_push(&l->ring, e);
    mark_level(q, lv, true);
    count_in(q, m);
}

int queue_publish(struct queue *q, struct msg *m, struct proto_err *err)
{
    if (q->deleted)
        return no_queue(q, err);
    enqueue(q, msg_ref(m), q->next_seq++, false, false);
    queue_dispatch(q);
    return 0;
}

struct msg *queue_get(struct queue *q, bool ack, uint64_t *seq, bool *redelivered)
{
    struct qent e;

    if (!pop_ready(q, &e))
        return NULL;
    if (ack)
        q->unacked++;
    if (seq)
        *seq = ent_seq(e);
    if (redelivered)
        *redelivered = ent_redelivered(e);
    return e.m;
}

static void settle_one(struct queue *q)
{
    /* A settle the queue did not count (a duplicate from a buggy caller)
     * must not wrap the count around. */
    if (q->unacked > 0)
        q->unacked--;
}

void queue_ack(struct queue *q, uint64_t seq)
{
    (void)seq;
    settle_one(q);
}

void queue_requeue(struct queue *q, struct msg *m, uint64_t seq)
{
    settle_one(q);
    if (q->deleted) {
        msg_unref(&m);
        return;
    }
    /* Sequence numbers are handed out from 1 and only ever come back here;
     * one from elsewhere would still be ordered, just not by publish. */
    assert(seq > 0 && seq < q->next_seq);
    enqueue(q, m, seq, true, true);
}

size_t queue_purge(struct queue *q)
{
    return drop_ready(q);
}

size_t queue__storage_bytes(const struct queue *q)
{
    size_t n = 0;

    for (unsigned i = 0; i < q->nlevels; i++)
        n += (q->levels[i].ring.cap + q->levels[i].heap.cap) * sizeof(struct qent);
    return n;
}
