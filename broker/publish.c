/* SPDX-License-Identifier: MIT */
#include "broker/publish.h"

#include "amqp/table.h"
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
        if (queue_publish(rs.q[i], m, &err) == 0) {
            r->routed++;
            if (!r->busiest || queue_ready_count(rs.q[i]) > queue_ready_count(r->busiest))
                r->busiest = rs.q[i];
        } else {
            r->refused++;
        }
    }
}
