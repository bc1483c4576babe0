/* SPDX-License-Identifier: MIT */
/*
 * ops: declaring, deleting and binding exchanges and queues, with RabbitMQ's
 * rules, permission checks and reply texts, shared by the AMQP handlers
 * (broker/handle_exchange.c, broker/handle_queue.c), the management API
 * (mgmt/) and definitions import (broker/definitions.c), so each rule and
 * each text exists once.
 *
 * Errors come back in a struct proto_err with an AMQP reply code (the HTTP
 * layer maps codes to statuses). Nothing here sends frames or calls back into
 * the caller; auto-delete cascades happen in the vhost registry.
 */
#ifndef BROKER_OPS_H
#define BROKER_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/auth.h"
#include "broker/err.h"
#include "broker/util.h"

struct vhost;
struct queue;
struct exch;

/** Who acts, and where. All pointers are borrowed for the duration of a call. */
struct ops_ctx {
    struct auth *auth;
    const struct auth_user *user; /* NULL: trusted caller, no permission checks */
    struct vhost *vh;
    uint64_t conn_id; /* the acting connection (exclusive ownership); 0 for HTTP */
};

/**
 * RabbitMQ's access check: 0, or -1 with 403 ACCESS_REFUSED "access to
 * <kind> '<name>' in vhost '<v>' refused for user '<u>'". The default
 * exchange "" is checked as "amq.default".
 */
int ops_check_access(const struct ops_ctx *c, enum auth_op op, const char *kind, struct view name,
                     struct proto_err *err);
/** 403 "operation not permitted on the default exchange"; always -1. */
int ops_default_exchange_refused(struct proto_err *err);
/** The exchange or NULL with 404 "no exchange 'x' in vhost '/'". */
struct exch *ops_exchange(const struct ops_ctx *c, struct view name, struct proto_err *err);
/** The queue or NULL with 404 "no queue 'q' in vhost '/'". */
struct queue *ops_queue(const struct ops_ctx *c, struct view name, struct proto_err *err);

/**
 * Declares (creates, or checks the equivalence of) exchange name of type
 * (a type name, checked here: 503 "unknown exchange type 'x'"). In
 * RabbitMQ's order: refuses the default exchange (403), checks configure
 * permission (403), refuses new "amq." names (403), checks a redeclare's
 * equivalence (406 "inequivalent arg 'type' for exchange ..."); a new
 * exchange's alternate-exchange must be a string (406 "invalid type ...")
 * and needs read permission on the new exchange and write permission on the
 * alternate (403). args are checked table contents, copied. *created (may be
 * NULL) tells whether it was new.
 */
int ops_exchange_declare(const struct ops_ctx *c, struct view name, struct view type,
                         unsigned flags, struct view args, bool *created, struct proto_err *err);
/**
 * Deletes exchange name: 403 for "" and "amq.*" names and without configure
 * permission; 406 "exchange 'x' in vhost '/' in use" with if_unused and
 * bindings. A missing exchange is not an error (*existed, which may be NULL,
 * is set false), as in AMQP.
 */
int ops_exchange_delete(const struct ops_ctx *c, struct view name, bool if_unused, bool *existed,
                        struct proto_err *err);
/**
 * exchange.bind / unbind (bind false): messages flow from src to dst.
 * In RabbitMQ's order: 403 without write permission on dst, for the default
 * exchange at either end, without read permission on src; then 404 when src
 * or dst is missing. Permissions come first, so a refused user learns
 * nothing about what exists. Unbinding a missing binding is a no-op; an
 * auto-delete source left without bindings goes.
 */
int ops_exchange_bind(const struct ops_ctx *c, struct view dst, struct view src, struct view key,
                      struct view args, bool bind, struct proto_err *err);

/** A queue name chosen by a client: 403 "queue name 'amq.x' contains reserved prefix 'amq.*'". */
int ops_queue_name_check(struct view name, struct proto_err *err);
/**
 * Declares queue name (non-empty; generating a name, and checking a client's
 * name with ops_queue_name_check first, are the caller's business): 403
 * without configure permission (a server-named queue is checked under its
 * generated name, as in RabbitMQ); an existing queue must be usable by
 * c->conn_id (405) and equivalent (406); a new one's x-dead-letter-exchange
 * must be a string (406 "invalid type ...") and needs read permission on the
 * queue and write permission on that exchange (403); then it is created (argument errors 406)
 * with c->conn_id as exclusive owner when flags has QUEUE_F_EXCLUSIVE.
 * Returns the queue (borrowed from the registry) or NULL. *created (may be
 * NULL) tells whether it was new.
 */
struct queue *ops_queue_declare(const struct ops_ctx *c, struct view name, unsigned flags,
                                struct view args, bool *created, struct proto_err *err);
/**
 * Deletes q (borrowed; it must belong to c->vh): 403 without configure
 * permission, 405 when exclusive to another connection, 406 "queue 'q' in
 * vhost '/' in use" (if_unused, consumers) or "... not empty" (if_empty,
 * ready messages). *count (may be NULL) gets the ready messages dropped.
 * AMQP callers check the permission by name before looking the queue up
 * (RabbitMQ refuses a missing queue the user may not configure).
 */
int ops_queue_delete(const struct ops_ctx *c, struct queue *q, bool if_unused, bool if_empty,
                     size_t *count, struct proto_err *err);
/** Purges q: 403 without read permission, 405 when exclusive to another connection. */
int ops_queue_purge(const struct ops_ctx *c, struct queue *q, size_t *count, struct proto_err *err);
/**
 * queue.bind / unbind (bind false) of queue qname to exchange xname, in
 * RabbitMQ's order: 403 without write permission on the queue, for the
 * default exchange, without read permission on the exchange; 404 when the
 * exchange, then the queue, is missing; 405 when the queue is exclusive to
 * another connection; bind errors of the exchange module (406 x-match).
 */
int ops_queue_bind(const struct ops_ctx *c, struct view qname, struct view xname, struct view key,
                   struct view args, bool bind, struct proto_err *err);

#endif
