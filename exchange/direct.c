/* SPDX-License-Identifier: MIT */
/*
 * direct: a binding matches when its key equals the routing key byte for byte
 * (0-9-1 §3.1.3.1). One hash lookup per message, whatever the number of
 * bindings; the bucket holds every binding with that key.
 */
#include "exchange/exchange_int.h"

#include <stdlib.h>

static void direct_init(struct exch *x)
{
    x->tstate = map_create();
}

static void direct_bind(struct exch *x, struct binding *b)
{
    struct map *keys = x->tstate;
    struct bvec *bucket = map_get(keys, b->key);

    if (!bucket) {
        bucket = xcalloc(1, sizeof(*bucket));
        map_put(keys, b->key, bucket);
    }
    exch__bvec_add(bucket, b);
    b->tnode = bucket;
}

static void direct_unbind(struct exch *x, struct binding *b)
{
    struct bvec *bucket = b->tnode;

    exch__bvec_del(bucket, b);
    if (bucket->n == 0) {
        map_remove(x->tstate, b->key);
        free(bucket);
    }
    b->tnode = NULL;
}

static void direct_route(struct exch *x, struct view key, struct view headers, struct route_ctx *c)
{
    const struct bvec *bucket = map_get(x->tstate, key);

    (void)headers;
    for (size_t i = 0; bucket && i < bucket->n; i++)
        exch__route_to(c, bucket->v[i]);
}

static void direct_destroy(struct exch *x)
{
    struct map_iter it;
    struct view key;
    void *bucket;

    /* Empty unless bindings leaked; freed anyway so nothing is lost. */
    map_iter_init(&it, x->tstate);
    while (map_next(&it, &key, &bucket)) {
        exch__bvec_free(bucket);
        free(bucket);
    }
    map_destroy(x->tstate);
    x->tstate = NULL;
}

const struct exch_ops exch__direct_ops = {
    .init = direct_init,
    .bind = direct_bind,
    .unbind = direct_unbind,
    .route = direct_route,
    .destroy = direct_destroy,
};
