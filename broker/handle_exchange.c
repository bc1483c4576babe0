/* SPDX-License-Identifier: MIT */
/* handle_exchange: the exchange class (spec §1.6.2 plus RabbitMQ's exchange.bind/unbind). */
#include <string.h>

#include "amqp/table.h"
#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"

static bool is_reserved(struct view name)
{
    return name.n >= 4 && memcmp(name.p, "amq.", 4) == 0;
}

static int default_exchange_refused(struct proto_err *err)
{
    return err_set(err, SPEC_ACCESS_REFUSED, "operation not permitted on the default exchange");
}

static const char *yes_no(bool b)
{
    return b ? "true" : "false";
}

/* Names the first property that differs, in RabbitMQ's wording. */
static int inequivalent(struct chan *ch, const struct exch *x, enum exch_type type, unsigned flags,
                        struct proto_err *err)
{
    const char *vh = conn_vhost(chan_conn(ch)), *name = exch_name(x);
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

static int check_args(struct chan *ch, struct view name, struct view args, struct proto_err *err)
{
    struct table_value v;

    if (table_get(args, "alternate-exchange", &v) && v.type != TABLE_LONGSTR)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "invalid arg 'alternate-exchange' for exchange '%.*s' in vhost '%s': "
                       "{unacceptable_type,%s}",
                       (int)name.n, (const char *)name.p, conn_vhost(chan_conn(ch)),
                       table_type_name(v.type));
    return 0;
}

int handle_exchange_declare(struct chan *ch, const struct spec_exchange_declare *a,
                            struct proto_err *err)
{
    struct vhost *v = chan_vhost(ch);
    unsigned flags = (a->durable ? EXCH_F_DURABLE : 0) | (a->auto_delete ? EXCH_F_AUTO_DELETE : 0) |
                     (a->internal ? EXCH_F_INTERNAL : 0);
    enum exch_type type = EXCH_DIRECT;
    struct exch *x;

    if (!a->exchange.n)
        return default_exchange_refused(err);
    x = vhost_exch(v, a->exchange);
    if (a->passive) {
        if (!x)
            return err_set(err, SPEC_NOT_FOUND, "no exchange '%.*s' in vhost '%s'",
                           (int)a->exchange.n, (const char *)a->exchange.p,
                           conn_vhost(chan_conn(ch)));
    } else {
        if (exch_type_parse(a->type, &type) < 0)
            return err_set(err, SPEC_COMMAND_INVALID, "unknown exchange type '%.*s'",
                           (int)a->type.n, (const char *)a->type.p);
        /* RabbitMQ checks the reserved prefix only when creating, so
         * redeclaring amq.direct with its own properties is fine. */
        if (!x && is_reserved(a->exchange))
            return err_set(err, SPEC_ACCESS_REFUSED,
                           "exchange name '%.*s' contains reserved prefix 'amq.*'",
                           (int)a->exchange.n, (const char *)a->exchange.p);
        if (handle__check_access(ch, AUTH_CONFIGURE, "exchange", a->exchange, err) < 0 ||
            check_args(ch, a->exchange, a->arguments, err) < 0)
            return -1;
        if (x && !exch_is_equivalent(x, type, flags, a->arguments))
            return inequivalent(ch, x, type, flags, err);
        if (!x)
            vhost_add_exch(v, exch_create(a->exchange, type, flags, a->arguments));
    }
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_EXCHANGE_DECLARE_OK;
        chan_send_method(ch, &m);
    }
    return 0;
}

int handle_exchange_delete(struct chan *ch, const struct spec_exchange_delete *a,
                           struct proto_err *err)
{
    struct vhost *v = chan_vhost(ch);
    struct exch *x;

    if (!a->exchange.n)
        return default_exchange_refused(err);
    if (is_reserved(a->exchange))
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "deletion of system exchange '%.*s' in vhost '%s' not allowed",
                       (int)a->exchange.n, (const char *)a->exchange.p, conn_vhost(chan_conn(ch)));
    if (handle__check_access(ch, AUTH_CONFIGURE, "exchange", a->exchange, err) < 0)
        return -1;
    x = vhost_exch(v, a->exchange);
    /* Deleting an exchange that does not exist succeeds, as in RabbitMQ. */
    if (x) {
        if (a->if_unused && exch_binding_count(x) > 0)
            return err_set(err, SPEC_PRECONDITION_FAILED, "exchange '%s' in vhost '%s' in use",
                           exch_name(x), conn_vhost(chan_conn(ch)));
        vhost_delete_exch(v, x);
    }
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_EXCHANGE_DELETE_OK;
        chan_send_method(ch, &m);
    }
    return 0;
}

/* exchange.bind / unbind: messages flow from source to destination. */
static int e2e(struct chan *ch, struct view dst_name, struct view src_name, struct view key,
               struct view args, bool bind, struct proto_err *err)
{
    struct exch *src, *dst;

    if (!dst_name.n || !src_name.n)
        return default_exchange_refused(err);
    if (!(dst = handle__exch(ch, dst_name, err)) || !(src = handle__exch(ch, src_name, err)))
        return -1;
    if (handle__check_access(ch, AUTH_WRITE, "exchange", dst_name, err) < 0 ||
        handle__check_access(ch, AUTH_READ, "exchange", src_name, err) < 0)
        return -1;
    if (bind)
        return exch_bind_exch(src, dst, key, args, err);
    exch_unbind_exch(src, dst, key, args);
    vhost_maybe_auto_delete_exch(chan_vhost(ch), src);
    return 0;
}

int handle_exchange_bind(struct chan *ch, const struct spec_exchange_bind *a, struct proto_err *err)
{
    if (e2e(ch, a->destination, a->source, a->routing_key, a->arguments, true, err) < 0)
        return -1;
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_EXCHANGE_BIND_OK;
        chan_send_method(ch, &m);
    }
    return 0;
}

int handle_exchange_unbind(struct chan *ch, const struct spec_exchange_unbind *a,
                           struct proto_err *err)
{
    if (e2e(ch, a->destination, a->source, a->routing_key, a->arguments, false, err) < 0)
        return -1;
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_EXCHANGE_UNBIND_OK;
        chan_send_method(ch, &m);
    }
    return 0;
}
