/* SPDX-License-Identifier: MIT */
/*
 * exchange: exchanges, bindings and routing.
 *
 * An exchange routes a routing key (and, for headers exchanges, a headers
 * table) to a set of queues. Each type (direct, fanout, topic, headers) fills
 * in one ops table (bind, unbind, route, destroy). Bindings go from an
 * exchange to a queue or to another exchange (RabbitMQ's exchange-to-exchange
 * extension); routing follows exchange bindings transitively, visits each
 * exchange at most once (so diamonds and cycles terminate) and yields each
 * queue at most once. The topic type is a trie over words whose routing cost
 * does not grow with the number of bindings that cannot match.
 *
 * The module borrows queues (it never refs or frees them, and never
 * dereferences a struct queue pointer): whoever deletes a queue must call
 * exch_forget_queue() first. Exchanges are owned by their registry (the
 * vhost); exch_destroy removes every binding to and from it. Auto-delete and
 * the default exchange's implicit bindings are the registry's business.
 *
 * Binding identity follows RabbitMQ's #binding record: source, destination,
 * key (bytes) and args compared as tables, i.e. after a stable sort of the
 * top-level entries by key, with 'L' read as 'l' and any non-zero bool as
 * true. Stored (and reported) args are in that canonical form.
 *
 * Module state (the queue -> bindings index, routing scratch) is global and
 * unlocked: call everything from the loop thread. No function here calls
 * back into the caller except the exch_for_each_* visitors.
 */
#ifndef EXCHANGE_EXCHANGE_H
#define EXCHANGE_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/err.h"
#include "broker/util.h"

struct queue;
struct exch;

enum exch_type { EXCH_DIRECT, EXCH_FANOUT, EXCH_TOPIC, EXCH_HEADERS };

enum {
    EXCH_F_DURABLE = 1u << 0,
    EXCH_F_AUTO_DELETE = 1u << 1,
    EXCH_F_INTERNAL = 1u << 2,
};

/** "direct", "fanout", "topic", "headers" -> type; -1 when unknown. */
int exch_type_parse(struct view name, enum exch_type *out);
const char *exch_type_name(enum exch_type t);

/** Creates an exchange; name and args (table contents, already checked with
 * table_check: asserted) are copied. Never NULL. */
struct exch *exch_create(struct view name, enum exch_type type, unsigned flags, struct view args);
/** Removes every binding from and to x, then frees it. Accepts NULL. */
void exch_destroy(struct exch *x);

const char *exch_name(const struct exch *x);
enum exch_type exch_type(const struct exch *x);
unsigned exch_flags(const struct exch *x);
struct view exch_args(const struct exch *x);
/** The alternate-exchange argument when it is a longstr (view into x's copy
 * of the args), or an empty view. */
struct view exch_alternate(const struct exch *x);
/** Whether a redeclare with these values is equivalent, as RabbitMQ decides
 * (rabbit_exchange:assert_equivalence): same type, same durable, auto-delete
 * and internal flags, and equivalent "alternate-exchange" arguments (both
 * absent, or same value with types of one class: integer widths are one
 * class, float/double another). Other arguments are ignored. */
bool exch_is_equivalent(const struct exch *x, enum exch_type type, unsigned flags,
                        struct view args);
/** Bindings with x as source (to queues and exchanges). */
size_t exch_binding_count(const struct exch *x);
/** Bindings with x as destination (exchange-to-exchange). */
bool exch_has_incoming(const struct exch *x);

/* ---- bindings ---- */
/**
 * Binds x to queue q with key and args (table contents; both copied). key is
 * a shortstr: at most 255 bytes (asserted; it bounds the topic trie's depth).
 * Binding the same (q, key, args) twice is a no-op, as in RabbitMQ. For headers
 * exchanges args holds x-match and the header pairs; a bad x-match gives -1
 * and 406 PRECONDITION_FAILED with RabbitMQ's text ("Invalid x-match field
 * value <<\"foo\">>; expected all, any, all-with-x, or any-with-x", or
 * "Invalid x-match field type ..."). Args that fail table_check give -1 and
 * 502 SYNTAX_ERROR (decoded tables never do). 0 or -1; err is set on -1.
 */
int exch_bind_queue(struct exch *x, struct queue *q, struct view key, struct view args,
                    struct proto_err *err);
/** Removes that binding (args compared as for bind); removing one that does
 * not exist is a no-op. Always returns 0. */
int exch_unbind_queue(struct exch *x, struct queue *q, struct view key, struct view args);
/** Exchange-to-exchange: messages routed by src also go through dst. As above. */
int exch_bind_exch(struct exch *src, struct exch *dst, struct view key, struct view args,
                   struct proto_err *err);
int exch_unbind_exch(struct exch *src, struct exch *dst, struct view key, struct view args);
/** Removes every binding to q, from every exchange (queue deletion). A caller
 * that must auto-delete source exchanges collects them first with
 * exch_for_each_binding_to_queue(). */
void exch_forget_queue(struct queue *q);
/** True if any binding targets q. */
bool exch_queue_is_bound(const struct queue *q);

/** Visits x's bindings in creation order: dest_queue or dest_exch is set (the
 * other NULL); key and args (canonical form) are valid during the call. The
 * callback may unbind the binding it is given, and must not change others. */
typedef void exch_binding_cb(void *arg, const struct exch *src, struct queue *dest_queue,
                             const struct exch *dest_exch, struct view key, struct view args);
void exch_for_each_binding(const struct exch *x, exch_binding_cb *cb, void *arg);
/** Visits every binding whose destination is q, in creation order (same
 * rules as exch_for_each_binding; dest_exch is always NULL). */
void exch_for_each_binding_to_queue(const struct queue *q, exch_binding_cb *cb, void *arg);

/* ---- routing ---- */
/** The set of queues a message reaches; reuse one across calls (route_reset
 * between messages). A zeroed struct is a valid empty set. q is owned by the
 * set (route_free); its queues are borrowed. */
struct route_set {
    struct queue **q;
    size_t n, cap;
    uint64_t epoch; /* internal: dedupe generation */
};
/** Empties rs, keeping its storage. */
void route_reset(struct route_set *rs);
/** Frees rs's storage and leaves it zeroed (so it may be freed again). */
void route_free(struct route_set *rs);
/**
 * Adds to rs every queue that x (and exchanges bound from x, transitively)
 * routes key/headers to. Queues already in rs are not added twice, so calling
 * this once per routing key (CC/BCC) gives the union. headers is the message's
 * headers table contents (used by headers exchanges only). Each exchange is
 * entered at most once per call, so cycles and diamonds terminate. Does not
 * allocate once rs and the internal scratch have grown to size (the hot path
 * of one binding to one queue never does), does not call back, and is not
 * reentrant. Any key length works (CC keys are longstrs).
 */
void exch_route(struct exch *x, struct view key, struct view headers, struct route_set *rs);

/* ---- pure matchers, exposed for unit tests and fuzzing ---- */
/** AMQP topic match as RabbitMQ does it: words split on every '.' (empty
 * words count; the empty string has no words), '*' = exactly one word, '#' =
 * zero or more. So "#" and "" match the key "", "*" does not. */
bool exch_topic_match(struct view pattern, struct view key);
/** Headers-exchange match of binding args against message headers (x-match
 * all/any/all-with-x/any-with-x) with RabbitMQ 4.x's value rules; see the
 * comment at the top of exchange/headers.c. Both are checked table contents. */
bool exch_headers_match(struct view binding_args, struct view headers);

#endif
