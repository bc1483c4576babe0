/* SPDX-License-Identifier: MIT */
/*
 * exchange_int: what the exchange module's files share (not for other modules).
 *
 * exchange.c owns exchanges, bindings, the queue -> bindings reverse index
 * and the routing walk; each type file (direct.c, fanout.c, topic.c,
 * headers.c) fills in one struct exch_ops and keeps its own index of the
 * bindings it is given. A type never frees a binding: exchange.c calls
 * ops->unbind and then frees it. Everything runs on the loop thread, so the
 * module-level state (reverse index, routing scratch) needs no locks, but
 * exch_route() is not reentrant.
 */
#ifndef EXCHANGE_EXCHANGE_INT_H
#define EXCHANGE_EXCHANGE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/err.h"
#include "broker/map.h"
#include "exchange/exchange.h"

struct binding;
struct route_ctx;

/** A growable array of bindings; each member remembers its index (tidx), so
 * removal is O(1) (the last member moves into the hole). */
struct bvec {
    struct binding **v;
    size_t n, cap;
};
void exch__bvec_add(struct bvec *bv, struct binding *b);
void exch__bvec_del(struct bvec *bv, struct binding *b);
void exch__bvec_free(struct bvec *bv);

/** The bindings to one queue (one record per bound queue, module state). */
struct qrec {
    struct queue *q;
    struct binding *head, *tail; /* linked through dst_prev/dst_next */
    size_t n;
    uint64_t mark; /* route_set epoch that already holds q (dedupe) */
};

struct binding {
    struct exch *src;
    struct queue *dq; /* exactly one of dq and dx is set */
    struct exch *dx;
    struct qrec *qr;                     /* dq's record */
    struct view key;                     /* owned copy */
    struct view args;                    /* owned canonical copy (exch__canon_args) */
    struct binding *src_prev, *src_next; /* src's outgoing list */
    struct binding *dst_prev, *dst_next; /* qr's list or dx's incoming list */
    void *tnode;                         /* type data: direct bucket, topic trie node */
    size_t tidx;                         /* index in the type's bvec */
    int hmatch;                          /* headers: x-match kind parsed at bind time */
};

/** Per-type policy (STYLE.md §1). Called only from exchange.c. */
struct exch_ops {
    /** Checks args of a new binding; 0, or -1 with err set (406). May be NULL. */
    int (*validate)(struct view args, struct proto_err *err);
    /** Creates the type's state in x->tstate. */
    void (*init)(struct exch *x);
    /** Indexes b (already linked to x). Cannot fail. */
    void (*bind)(struct exch *x, struct binding *b);
    /** Forgets b; the caller frees it afterwards. */
    void (*unbind)(struct exch *x, struct binding *b);
    /** Calls exch__route_to(c, b) for each binding of x matching key/headers
     * (a binding may be passed more than once; exch__route_to dedupes). */
    void (*route)(struct exch *x, struct view key, struct view headers, struct route_ctx *c);
    /** Frees x->tstate; x has no bindings left. */
    void (*destroy)(struct exch *x);
};

extern const struct exch_ops exch__direct_ops;
extern const struct exch_ops exch__fanout_ops;
extern const struct exch_ops exch__topic_ops;
extern const struct exch_ops exch__headers_ops;

struct exch {
    char *name; /* NUL-terminated copy */
    enum exch_type type;
    unsigned flags;
    uint8_t *args_mem; /* owned copy of the declare arguments */
    struct view args;
    struct view alternate; /* into args_mem, or empty */
    const struct exch_ops *ops;
    void *tstate;
    struct map *by_id; /* exch__binding_id -> binding (idempotent bind, unbind) */
    struct binding *out_head, *out_tail;
    size_t nout;
    struct binding *in_head, *in_tail; /* exchange-to-exchange bindings to x */
    uint64_t visit;                    /* routing call that last reached x */
};

/** Routing: adds b's destination (a queue to the route set, an exchange to
 * the walk), each at most once. Never allocates once warmed up. */
void exch__route_to(struct route_ctx *c, struct binding *b);

/* ---- field-table helpers (exchange.c) ---- */
/**
 * Appends to out the canonical form of checked table contents args: the
 * top-level entries stably sorted by key (bytewise, shorter first on a tie),
 * every value re-encoded as RabbitMQ would decode it ('L' as 'l', any
 * non-zero bool as 1; nested tables keep their order). Two argument tables
 * have the same canonical bytes exactly when RabbitMQ's binding records
 * (sorted with rabbit_misc:sort_field_table) compare equal.
 */
void exch__canon_args(struct buf *out, struct view args);
/** Erlang exact equality (=:=) of two decoded field values, types included
 * (as nested table entries compare in RabbitMQ). */
bool exch__value_eq(const struct table_value *a, const struct table_value *b);

/** An integer field (b B s u I i l T) as sign and magnitude, which hold any
 * int64 or uint64 exactly; false for other types. */
bool exch__int_of(const struct table_value *v, bool *neg, uint64_t *mag);

/* ---- headers (headers.c) ---- */
enum { EXCH_HM_ALL, EXCH_HM_ANY, EXCH_HM_ALL_WITH_X, EXCH_HM_ANY_WITH_X };
int exch__headers_kind(struct view args);
bool exch__headers_match_kind(int kind, struct view args, struct view headers);

/* ---- test hooks ---- */
/** Topic trie nodes entered by routing since start (never reset; tests take
 * differences). Lets tests check that cost does not grow with bindings that
 * cannot match, without timing anything. */
extern unsigned long exch__topic_visits;

#endif
