/* SPDX-License-Identifier: MIT */
/* ops: exchange and queue operations shared by AMQP and the management API (see ops.h). */
#include "broker/ops.h"

#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/durable.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

static bool is_reserved(struct view name)
{
    return name.n >= 4 && memcmp(name.p, "amq.", 4) == 0;
}

/* A binding is saved when both of its ends are durable (RabbitMQ). */
static void binding_changed(const struct exch *src, const struct exch *dx, const struct queue *dq)
{
    bool durable = (exch_flags(src) & EXCH_F_DURABLE) &&
                   (dq ? (queue_flags(dq) & QUEUE_F_DURABLE) : (exch_flags(dx) & EXCH_F_DURABLE));

    if (durable)
        durable_defs_changed();
}

static const char *yes_no(bool b)
{
    return b ? "true" : "false";
}

int ops_check_access(const struct ops_ctx *c, enum auth_op op, const char *kind, struct view name,
                     struct proto_err *err)
{
    struct view vh = view_str(vhost_name(c->vh));
    struct view res = name.n ? name : VIEW_LIT("amq.default");

    if (!c->user || auth_check(c->auth, c->user, vh, op, res))
        return 0;
    return err_set(err, SPEC_ACCESS_REFUSED,
                   "access to %s '%.*s' in vhost '%s' refused for user '%s'", kind, (int)res.n,
                   (const char *)res.p, vhost_name(c->vh), auth_user_name(c->user));
}

int ops_default_exchange_refused(struct proto_err *err)
{
    return err_set(err, SPEC_ACCESS_REFUSED, "operation not permitted on the default exchange");
}

struct exch *ops_exchange(const struct ops_ctx *c, struct view name, struct proto_err *err)
{
    struct exch *x = vhost_exch(c->vh, name);

    if (!x)
        err_set(err, SPEC_NOT_FOUND, "no exchange '%.*s' in vhost '%s'", (int)name.n,
                (const char *)name.p, vhost_name(c->vh));
    return x;
}

struct queue *ops_queue(const struct ops_ctx *c, struct view name, struct proto_err *err)
{
    struct queue *q = vhost_queue(c->vh, name);

    if (!q)
        err_set(err, SPEC_NOT_FOUND, "no queue '%.*s' in vhost '%s'", (int)name.n,
                (const char *)name.p, vhost_name(c->vh));
    return q;
}

/* ---- exchanges ---- */

/* Names the first property that differs, in RabbitMQ's wording. */
static int inequivalent(const struct ops_ctx *c, const struct exch *x, enum exch_type type,
                        unsigned flags, struct proto_err *err)
{
    const char *vh = vhost_name(c->vh), *name = exch_name(x);
    unsigned have = exch_flags(x);

    if (exch_type(x) != type)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg 'type' for exchange '%s' in vhost '%s': received '%s' "
                       "but current is '%s'",
                       name, vh, exch_type_name(type), exch_type_name(exch_type(x)));
    if ((have ^ flags) & EXCH_F_DURABLE)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg 'durable' for exchange '%s' in vhost '%s': received "
                       "'%s' but current is '%s'",
                       name, vh, yes_no(flags & EXCH_F_DURABLE), yes_no(have & EXCH_F_DURABLE));
    if ((have ^ flags) & EXCH_F_AUTO_DELETE)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg 'auto_delete' for exchange '%s' in vhost '%s': received "
                       "'%s' but current is '%s'",
                       name, vh, yes_no(flags & EXCH_F_AUTO_DELETE),
                       yes_no(have & EXCH_F_AUTO_DELETE));
    if ((have ^ flags) & EXCH_F_INTERNAL)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg 'internal' for exchange '%s' in vhost '%s': received "
                       "'%s' but current is '%s'",
                       name, vh, yes_no(flags & EXCH_F_INTERNAL), yes_no(have & EXCH_F_INTERNAL));
    return err_set(err, SPEC_PRECONDITION_FAILED,
                   "inequivalent arg 'alternate-exchange' for exchange '%s' in vhost '%s'", name,
                   vh);
}

/* The exchange an alternate-exchange or x-dead-letter-exchange argument of a
 * new kind object names must be a string: 406 "invalid type 'signedint' for
 * arg 'alternate-exchange' in exchange 'x' in vhost '/'" (rabbit_misc:r_arg,
 * checked by rabbit_channel before the other arguments). */
static int check_target_type(const struct ops_ctx *c, const char *kind, struct view name,
                             struct view args, const char *key, struct proto_err *err)
{
    struct table_value v;

    if (table_get(args, key, &v) && v.type != TABLE_LONGSTR)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "invalid type '%s' for arg '%s' in %s '%.*s' in vhost '%s'",
                       table_type_name(v.type), key, kind, (int)name.n, (const char *)name.p,
                       vhost_name(c->vh));
    return 0;
}

/* An alternate-exchange or x-dead-letter-exchange argument naming exchange
 * target: RabbitMQ asks for read permission on the object being created and
 * write permission on the target, as routing to it is a publish. */
static int check_target_access(const struct ops_ctx *c, const char *kind, struct view name,
                               struct view args, const char *key, struct proto_err *err)
{
    struct table_value v;

    if (!table_get(args, key, &v) || v.type != TABLE_LONGSTR)
        return 0;
    if (ops_check_access(c, AUTH_READ, kind, name, err) < 0 ||
        ops_check_access(c, AUTH_WRITE, "exchange", v.v.str, err) < 0)
        return -1;
    return 0;
}

int ops_exchange_declare(const struct ops_ctx *c, struct view name, struct view type_name,
                         unsigned flags, struct view args, bool *created, struct proto_err *err)
{
    enum exch_type type;
    struct exch *x;

    if (created)
        *created = false;
    /* RabbitMQ's order: type, default exchange, configure permission, then
     * the checks that only apply to a new exchange. */
    if (exch_type_parse(type_name, &type) < 0)
        return err_set(err, SPEC_COMMAND_INVALID, "unknown exchange type '%.*s'", (int)type_name.n,
                       (const char *)type_name.p);
    if (!name.n)
        return ops_default_exchange_refused(err);
    if (ops_check_access(c, AUTH_CONFIGURE, "exchange", name, err) < 0)
        return -1;
    x = vhost_exch(c->vh, name);
    /* The reserved prefix is checked only when creating, so redeclaring
     * amq.direct with its own properties is fine. */
    if (!x && is_reserved(name))
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "exchange name '%.*s' contains reserved prefix 'amq.*'", (int)name.n,
                       (const char *)name.p);
    if (x && !exch_is_equivalent(x, type, flags, args))
        return inequivalent(c, x, type, flags, err);
    if (!x) {
        if (check_target_type(c, "exchange", name, args, "alternate-exchange", err) < 0 ||
            check_target_access(c, "exchange", name, args, "alternate-exchange", err) < 0)
            return -1;
        vhost_add_exch(c->vh, exch_create(name, type, flags, args));
        if (created)
            *created = true;
    }
    return 0;
}

int ops_exchange_delete(const struct ops_ctx *c, struct view name, bool if_unused, bool *existed,
                        struct proto_err *err)
{
    struct exch *x;

    if (existed)
        *existed = false;
    if (!name.n)
        return ops_default_exchange_refused(err);
    if (is_reserved(name))
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "deletion of system exchange '%.*s' in vhost '%s' not allowed", (int)name.n,
                       (const char *)name.p, vhost_name(c->vh));
    if (ops_check_access(c, AUTH_CONFIGURE, "exchange", name, err) < 0)
        return -1;
    x = vhost_exch(c->vh, name);
    if (!x)
        return 0;
    if (if_unused && exch_binding_count(x) > 0)
        return err_set(err, SPEC_PRECONDITION_FAILED, "exchange '%s' in vhost '%s' in use",
                       exch_name(x), vhost_name(c->vh));
    vhost_delete_exch(c->vh, x);
    if (existed)
        *existed = true;
    return 0;
}

int ops_exchange_bind(const struct ops_ctx *c, struct view dst_name, struct view src_name,
                      struct view key, struct view args, bool bind, struct proto_err *err)
{
    struct exch *src, *dst;

    /* RabbitMQ's order (binding_action_with_checks): write on the destination,
     * the default exchange at either end, read on the source, then existence,
     * source first. */
    if (ops_check_access(c, AUTH_WRITE, "exchange", dst_name, err) < 0)
        return -1;
    if (!dst_name.n || !src_name.n)
        return ops_default_exchange_refused(err);
    if (ops_check_access(c, AUTH_READ, "exchange", src_name, err) < 0)
        return -1;
    if (!(src = ops_exchange(c, src_name, err)) || !(dst = ops_exchange(c, dst_name, err)))
        return -1;
    if (bind) {
        if (exch_bind_exch(src, dst, key, args, err) < 0)
            return -1;
        binding_changed(src, dst, NULL);
        return 0;
    }
    exch_unbind_exch(src, dst, key, args);
    binding_changed(src, dst, NULL);
    vhost_maybe_auto_delete_exch(c->vh, src);
    return 0;
}

/* ---- queues ---- */

int ops_queue_name_check(struct view name, struct proto_err *err)
{
    if (is_reserved(name))
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "queue name '%.*s' contains reserved prefix 'amq.*'", (int)name.n,
                       (const char *)name.p);
    return 0;
}

struct queue *ops_queue_declare(const struct ops_ctx *c, struct view name, unsigned flags,
                                struct view args, bool *created, struct proto_err *err)
{
    struct queue *q;

    if (created)
        *created = false;
    if (ops_check_access(c, AUTH_CONFIGURE, "queue", name, err) < 0)
        return NULL;
    q = vhost_queue(c->vh, name);
    if (q) {
        if (queue_check_access(q, c->conn_id, err) < 0 ||
            queue_check_equivalent(q, flags, args, c->conn_id, err) < 0)
            return NULL;
        return q;
    }
    if (c->user && c->auth) {
        /* RabbitMQ's vhost limit max-queues, enforced for new queues only
         * (rabbit_channel check_vhost_queue_limit). */
        int64_t limit;
        if (auth_vhost_over_limit(c->auth, view_str(vhost_name(c->vh)), AUTH_LIMIT_MAX_QUEUES,
                                  vhost_queue_count(c->vh), &limit)) {
            err_set(err, SPEC_PRECONDITION_FAILED,
                    "cannot declare queue '%.*s': queue limit in vhost '%s' (%lld) is reached",
                    (int)name.n, (const char *)name.p, vhost_name(c->vh), (long long)limit);
            return NULL;
        }
    }
    if (check_target_type(c, "queue", name, args, "x-dead-letter-exchange", err) < 0 ||
        check_target_access(c, "queue", name, args, "x-dead-letter-exchange", err) < 0)
        return NULL;
    q = queue_create(view_str(vhost_name(c->vh)), name, flags, args,
                     (flags & QUEUE_F_EXCLUSIVE) ? c->conn_id : 0, err);
    if (!q)
        return NULL;
    vhost_add_queue_take(c->vh, q);
    if (created)
        *created = true;
    return q;
}

int ops_queue_delete(const struct ops_ctx *c, struct queue *q, bool if_unused, bool if_empty,
                     size_t *count, struct proto_err *err)
{
    if (count)
        *count = 0;
    if (ops_check_access(c, AUTH_CONFIGURE, "queue", view_str(queue_name(q)), err) < 0 ||
        queue_check_access(q, c->conn_id, err) < 0)
        return -1;
    if (if_unused && queue_consumer_count(q) > 0)
        return err_set(err, SPEC_PRECONDITION_FAILED, "queue '%s' in vhost '%s' in use",
                       queue_name(q), queue_vhost(q));
    if (if_empty && queue_ready_count(q) > 0)
        return err_set(err, SPEC_PRECONDITION_FAILED, "queue '%s' in vhost '%s' not empty",
                       queue_name(q), queue_vhost(q));
    {
        size_t n = vhost_delete_queue(c->vh, q);
        if (count)
            *count = n;
    }
    return 0;
}

int ops_queue_purge(const struct ops_ctx *c, struct queue *q, size_t *count, struct proto_err *err)
{
    size_t n;

    if (ops_check_access(c, AUTH_READ, "queue", view_str(queue_name(q)), err) < 0 ||
        queue_check_access(q, c->conn_id, err) < 0)
        return -1;
    n = queue_purge(q);
    if (count)
        *count = n;
    return 0;
}

int ops_queue_bind(const struct ops_ctx *c, struct view qname, struct view xname, struct view key,
                   struct view args, bool bind, struct proto_err *err)
{
    struct queue *q;
    struct exch *x;

    /* RabbitMQ's order (binding_action_with_checks): write on the queue, the
     * default exchange, read on the exchange, then existence (exchange
     * first) and exclusive ownership. */
    if (ops_check_access(c, AUTH_WRITE, "queue", qname, err) < 0)
        return -1;
    if (!xname.n)
        return ops_default_exchange_refused(err);
    if (ops_check_access(c, AUTH_READ, "exchange", xname, err) < 0 ||
        !(x = ops_exchange(c, xname, err)) || !(q = ops_queue(c, qname, err)) ||
        queue_check_access(q, c->conn_id, err) < 0)
        return -1;
    if (bind) {
        if (exch_bind_queue(x, q, key, args, err) < 0)
            return -1;
        binding_changed(x, NULL, q);
        return 0;
    }
    exch_unbind_queue(x, q, key, args);
    binding_changed(x, NULL, q);
    vhost_maybe_auto_delete_exch(c->vh, x);
    return 0;
}
