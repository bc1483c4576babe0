/* SPDX-License-Identifier: MIT */
/*
 * fanout: every binding matches; the routing key is ignored (0-9-1 §3.1.3.2).
 */
#include "exchange/exchange_int.h"

#include <stdlib.h>

static void fanout_init(struct exch *x)
{
    x->tstate = xcalloc(1, sizeof(struct bvec));
}

static void fanout_bind(struct exch *x, struct binding *b)
{
    exch__bvec_add(x->tstate, b);
}

static void fanout_unbind(struct exch *x, struct binding *b)
{
    exch__bvec_del(x->tstate, b);
}

static void fanout_route(struct exch *x, struct view key, struct view headers, struct route_ctx *c)
{
    const struct bvec *bv = x->tstate;

    (void)key;
    (void)headers;
    for (size_t i = 0; i < bv->n; i++)
        exch__route_to(c, bv->v[i]);
}

static void fanout_destroy(struct exch *x)
{
    exch__bvec_free(x->tstate);
    free(x->tstate);
    x->tstate = NULL;
}

const struct exch_ops exch__fanout_ops = {
    .init = fanout_init,
    .bind = fanout_bind,
    .unbind = fanout_unbind,
    .route = fanout_route,
    .destroy = fanout_destroy,
};
