/* SPDX-License-Identifier: MIT */
#include "broker/vhost.h"

#include <stdlib.h>

#include "broker/durable.h"
#include "broker/map.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

struct vhost {
    char *name;
    struct map *exchanges; /* name -> struct exch *, owned */
    struct map *queues;    /* name -> struct queue *, one reference each */
};

static struct vhost **vhosts;
static size_t nvhosts;

static const struct {
    const char *name;
    enum exch_type type;
} predeclared[] = {
    {"", EXCH_DIRECT},         {"amq.direct", EXCH_DIRECT},   {"amq.fanout", EXCH_FANOUT},
    {"amq.topic", EXCH_TOPIC}, {"amq.headers", EXCH_HEADERS}, {"amq.match", EXCH_HEADERS},
};

struct vhost *vhost_find(struct view name)
{
    for (size_t i = 0; i < nvhosts; i++)
        if (view_eq_str(name, vhosts[i]->name))
            return vhosts[i];
    return NULL;
}

struct vhost *vhost_add(struct view name)
{
    struct vhost *v = vhost_find(name);

    if (v)
        return v;
    v = xcalloc(1, sizeof(*v));
    v->name = xstrndup_view(name);
    v->exchanges = map_create();
    v->queues = map_create();
    for (size_t i = 0; i < ARRAY_LEN(predeclared); i++) {
        struct exch *x = exch_create(view_str(predeclared[i].name), predeclared[i].type,
                                     EXCH_F_DURABLE, (struct view){NULL, 0});
        map_put(v->exchanges, view_str(predeclared[i].name), x);
    }
    vhosts = xrealloc(vhosts, (nvhosts + 1) * sizeof(*vhosts));
    vhosts[nvhosts++] = v;
    return v;
}

const char *vhost_name(const struct vhost *v)
{
    return v->name;
}

size_t vhost_count(void)
{
    return nvhosts;
}

struct vhost *vhost_at(size_t i)
{
    return i < nvhosts ? vhosts[i] : NULL;
}

static void destroy_vhost(struct vhost *v)
{
    struct map_iter it;
    struct view key;
    void *val;

    /* Queues first: deleting one cancels its consumers and drops its bindings. */
    while (map_count(v->queues)) {
        map_iter_init(&it, v->queues);
        if (!map_next(&it, &key, &val))
            break;
        vhost_delete_queue(v, val);
    }
    map_iter_init(&it, v->exchanges);
    while (map_next(&it, &key, &val))
        exch_destroy(val);
    map_destroy(v->exchanges);
    map_destroy(v->queues);
    free(v->name);
    free(v);
}

void vhost_remove_all(void)
{
    for (size_t i = 0; i < nvhosts; i++)
        destroy_vhost(vhosts[i]);
    free(vhosts);
    vhosts = NULL;
    nvhosts = 0;
}

/* ---- exchanges ---- */

struct exch *vhost_exch(const struct vhost *v, struct view name)
{
    return map_get(v->exchanges, name);
}

void vhost_add_exch(struct vhost *v, struct exch *x)
{
    map_put(v->exchanges, view_str(exch_name(x)), x);
    if (exch_flags(x) & EXCH_F_DURABLE)
        durable_defs_changed();
}

/* Exchanges that x was bound to (as a destination) may lose their last binding. */
struct cascade {
    struct exch **src;
    size_t n, cap;
};

static void collect_sources(void *arg, const struct exch *src, struct queue *dq,
                            const struct exch *dx, struct view key, struct view args)
{
    struct cascade *c = arg;
    (void)dq;
    (void)dx;
    (void)key;
    (void)args;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->src = xrealloc(c->src, c->cap * sizeof(*c->src));
    }
    c->src[c->n++] = (struct exch *)(uintptr_t)src;
}

static void cascade_auto_delete(struct vhost *v, struct cascade *c)
{
    for (size_t i = 0; i < c->n; i++) {
        /* The same source may appear several times: check it is still there. */
        struct exch *x = c->src[i];
        bool live = false;
        struct map_iter it;
        struct view key;
        void *val;

        map_iter_init(&it, v->exchanges);
        while (map_next(&it, &key, &val))
            if (val == x)
                live = true;
        if (live)
            vhost_maybe_auto_delete_exch(v, x);
    }
    free(c->src);
}

struct incoming {
    const struct exch *target;
    struct cascade *c;
};

static void collect_if_to_target(void *arg, const struct exch *src, struct queue *dq,
                                 const struct exch *dx, struct view key, struct view args)
{
    struct incoming *in = arg;

    if (dx == in->target)
        collect_sources(in->c, src, dq, dx, key, args);
}

/* Sources with a binding to x may become empty when x goes: walk every
 * exchange's bindings (exchange deletion is rare). */
static void note_incoming(struct vhost *v, struct exch *x, struct cascade *c)
{
    struct incoming in = {x, c};
    struct map_iter it;
    struct view key;
    void *val;

    if (!exch_has_incoming(x))
        return;
    map_iter_init(&it, v->exchanges);
    while (map_next(&it, &key, &val))
        if (val != x)
            exch_for_each_binding(val, collect_if_to_target, &in);
}

void vhost_delete_exch(struct vhost *v, struct exch *x)
{
    struct cascade c = {0};

    note_incoming(v, x, &c);
    if (exch_flags(x) & EXCH_F_DURABLE)
        durable_defs_changed();
    map_remove(v->exchanges, view_str(exch_name(x)));
    exch_destroy(x);
    cascade_auto_delete(v, &c);
}

void vhost_maybe_auto_delete_exch(struct vhost *v, struct exch *x)
{
    if (!(exch_flags(x) & EXCH_F_AUTO_DELETE) || exch_binding_count(x) > 0)
        return;
    vhost_delete_exch(v, x);
}

size_t vhost_exch_count(const struct vhost *v)
{
    return map_count(v->exchanges);
}

void vhost_for_each_exch(const struct vhost *v, void (*fn)(struct exch *, void *), void *arg)
{
    struct map_iter it;
    struct view key;
    void *val;

    map_iter_init(&it, v->exchanges);
    while (map_next(&it, &key, &val))
        fn(val, arg);
}

/* ---- queues ---- */

struct queue *vhost_queue(const struct vhost *v, struct view name)
{
    return map_get(v->queues, name);
}

void vhost_add_queue_take(struct vhost *v, struct queue *q)
{
    map_put(v->queues, view_str(queue_name(q)), q);
    durable_queue_added(q);
}

size_t vhost_delete_queue(struct vhost *v, struct queue *q)
{
    struct cascade c = {0};
    size_t n;

    durable_queue_deleted(q);
    exch_for_each_binding_to_queue(q, collect_sources, &c);
    exch_forget_queue(q);
    n = queue_delete(q);
    map_remove(v->queues, view_str(queue_name(q)));
    queue_unref(&q);
    cascade_auto_delete(v, &c);
    return n;
}

void vhost_queue_idle(void *arg, struct queue *q)
{
    struct vhost *v = vhost_find(view_str(queue_vhost(q)));

    (void)arg;
    if (v && vhost_queue(v, view_str(queue_name(q))) == q)
        vhost_delete_queue(v, q);
}

void vhost_delete_exclusive(uint64_t conn_id)
{
    for (size_t i = 0; i < nvhosts; i++) {
        struct vhost *v = vhosts[i];
        struct queue **doomed = NULL;
        size_t n = 0, cap = 0;
        struct map_iter it;
        struct view key;
        void *val;

        /* Collect first: deleting changes the map under an iterator. */
        map_iter_init(&it, v->queues);
        while (map_next(&it, &key, &val)) {
            struct queue *q = val;
            if (!(queue_flags(q) & QUEUE_F_EXCLUSIVE) || queue_owner(q) != conn_id)
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                doomed = xrealloc(doomed, cap * sizeof(*doomed));
            }
            doomed[n++] = q;
        }
        for (size_t j = 0; j < n; j++)
            vhost_delete_queue(v, doomed[j]);
        free(doomed);
    }
}

size_t vhost_queue_count(const struct vhost *v)
{
    return map_count(v->queues);
}

void vhost_for_each_queue(const struct vhost *v, void (*fn)(struct queue *, void *), void *arg)
{
    struct map_iter it;
    struct view key;
    void *val;

    map_iter_init(&it, v->queues);
    while (map_next(&it, &key, &val))
        fn(val, arg);
}
