/* SPDX-License-Identifier: MIT */
/* handle_exchange: the exchange class (spec §1.6.2 plus RabbitMQ's exchange.bind/unbind). */
#include <string.h>

#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"
#include "broker/loop.h"
#include "broker/ops.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"

/* The acting connection, for the shared rules in broker/ops.c. */
static void ops_ctx_of(struct chan *ch, struct ops_ctx *o)
{
    struct conn *c = chan_conn(ch);

    o->auth = loop_auth(conn_loop(c));
    o->user = conn_user(c);
    o->vh = chan_vhost(ch);
    o->conn_id = conn_id(c);
}

int handle_exchange_declare(struct chan *ch, const struct spec_exchange_declare *a,
                            struct proto_err *err)
{
    unsigned flags = (a->durable ? EXCH_F_DURABLE : 0) | (a->auto_delete ? EXCH_F_AUTO_DELETE : 0) |
                     (a->internal ? EXCH_F_INTERNAL : 0);
    struct ops_ctx o;

    ops_ctx_of(ch, &o);
    if (a->passive) {
        if (!a->exchange.n)
            return ops_default_exchange_refused(err);
        if (!ops_exchange(&o, a->exchange, err))
            return -1;
    } else if (ops_exchange_declare(&o, a->exchange, a->type, flags, a->arguments, NULL, err) < 0) {
        return -1;
    }
    chan_reply(ch, SPEC_EXCHANGE_DECLARE_OK, a->no_wait);
    return 0;
}

int handle_exchange_delete(struct chan *ch, const struct spec_exchange_delete *a,
                           struct proto_err *err)
{
    struct ops_ctx o;

    ops_ctx_of(ch, &o);
    /* Deleting an exchange that does not exist succeeds, as in RabbitMQ. */
    if (ops_exchange_delete(&o, a->exchange, a->if_unused, NULL, err) < 0)
        return -1;
    chan_reply(ch, SPEC_EXCHANGE_DELETE_OK, a->no_wait);
    return 0;
}

/* exchange.bind / unbind: messages flow from source to destination. */
static int e2e(struct chan *ch, struct view dst_name, struct view src_name, struct view key,
               struct view args, bool bind, struct proto_err *err)
{
    struct ops_ctx o;

    ops_ctx_of(ch, &o);
    return ops_exchange_bind(&o, dst_name, src_name, key, args, bind, err);
}

int handle_exchange_bind(struct chan *ch, const struct spec_exchange_bind *a, struct proto_err *err)
{
    if (e2e(ch, a->destination, a->source, a->routing_key, a->arguments, true, err) < 0)
        return -1;
    chan_reply(ch, SPEC_EXCHANGE_BIND_OK, a->no_wait);
    return 0;
}

int handle_exchange_unbind(struct chan *ch, const struct spec_exchange_unbind *a,
                           struct proto_err *err)
{
    /* As for queue.unbind, RabbitMQ answers unbind-ok when an end is missing. */
    if (e2e(ch, a->destination, a->source, a->routing_key, a->arguments, false, err) < 0 &&
        err->code != SPEC_NOT_FOUND)
        return -1;
    chan_reply(ch, SPEC_EXCHANGE_UNBIND_OK, a->no_wait);
    return 0;
}
