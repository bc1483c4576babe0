/* SPDX-License-Identifier: MIT */
#include "broker/publish.h"

#include <time.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/deadletter.h"
#include "broker/msg.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

/* Alternate exchanges can chain (and loop); RabbitMQ follows each once. */
#define MAX_AE_HOPS 8

/* The default exchange's destinations, added without the exchange module
 * (queues are not bound to it explicitly). Linear dedupe: CC/BCC lists are short. */
static void route_add(struct route_set *rs, struct queue *q)
{
    for (size_t i = 0; i < rs->n; i++)
        if (rs->q[i] == q)
            return;
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 8;
        rs->q = xrealloc(rs->q, rs->cap * sizeof(*rs->q));
    }
    rs->q[rs->n++] = q;
}

/* Adds the queues reached through x for the routing key and any CC/BCC keys. */
static void route_keys(struct vhost *v, struct exch *x, struct msg *m, struct route_set *rs)
{
    struct view headers = msg_headers(m);
    static const char *const extra[] = {"CC", "BCC"};

    if (exch_name(x)[0] == '\0') {
        /* The default exchange: every queue is bound by its own name. */
        struct queue *q = vhost_queue(v, msg_routing_key(m));
        if (q)
            route_add(rs, q);
    } else {
        exch_route(x, msg_routing_key(m), headers, rs);
    }
    if (!headers.n)
        return;
    for (size_t i = 0; i < ARRAY_LEN(extra); i++) {
        struct table_value arr, key;
        struct table_iter it;

        if (!table_get(headers, extra[i], &arr) || arr.type != TABLE_ARRAY)
            continue;
        table_iter_init(&it, arr.v.array);
        while (table_array_next(&it, &key)) {
            if (key.type != TABLE_LONGSTR)
                continue;
            if (exch_name(x)[0] == '\0') {
                struct queue *q = vhost_queue(v, key.v.str);
                if (q)
                    route_add(rs, q);
            } else {
                exch_route(x, key.v.str, headers, rs);
            }
        }
    }
}

void publish_route(struct vhost *v, struct exch *x, struct msg *m, struct publish_result *r)
{
    publish_route_filtered(v, x, m, NULL, NULL, r);
}

void publish_route_filtered(struct vhost *v, struct exch *x, struct msg *m,
                            publish_accept_fn *accept, void *arg, struct publish_result *r)
{
    static struct route_set rs;
    struct proto_err err;

    r->routed = r->refused = 0;
    r->busiest = NULL;
    route_reset(&rs);
    route_keys(v, x, m, &rs);
    for (int hop = 0; rs.n == 0 && hop < MAX_AE_HOPS; hop++) {
        struct view ae = exch_alternate(x);
        if (!ae.n || !(x = vhost_exch(v, ae)))
            break;
        route_keys(v, x, m, &rs);
    }
    for (size_t i = 0; i < rs.n; i++) {
        if (accept && !accept(arg, rs.q[i], m))
            continue;
        if (queue_publish(rs.q[i], m, &err) == 0) {
            r->routed++;
            if (!r->busiest || queue_ready_count(rs.q[i]) > queue_ready_count(r->busiest))
                r->busiest = rs.q[i];
        } else {
            r->refused++;
        }
    }
}

/* ---- dead-lettering ---- */

static bool not_a_cycle(void *arg, struct queue *target, struct msg *m)
{
    (void)arg;
    if (deadletter_is_cycle(msg_headers(m), queue_name(target)))
        return false;
    queue_count_dl_received(target);
    return true;
}

void publish_dead_letter(void *arg, struct queue *q, struct msg *m, enum queue_dl_reason reason)
{
    struct vhost *v = vhost_find(view_str(queue_vhost(q)));
    struct view dlx, dlrk;
    bool has_dlrk;
    struct exch *x;
    struct msg *d;
    struct publish_result r;

    (void)arg;
    if (!v || !queue_dead_letter_target(q, &dlx, &dlrk, &has_dlrk) || !(x = vhost_exch(v, dlx))) {
        /* RabbitMQ drops a dead letter whose exchange does not exist. */
        queue_count_dl_dropped(q);
        msg_unref(&m);
        return;
    }
    d = deadletter_make(m, queue_name(q), queue_dl_reason_name(reason), dlx, dlrk, has_dlrk,
                        (uint64_t)time(NULL));
    msg_unref(&m);
    if (!d) {
        queue_count_dl_dropped(q);
        return;
    }
    publish_route_filtered(v, x, d, not_a_cycle, NULL, &r);
    msg_unref(&d);
}
