/* SPDX-License-Identifier: MIT */
/* views_broker: JSON for queues, exchanges and bindings, in RabbitMQ's field names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "amqp/table.h"
#include "broker/json_table.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

/* A queue's fixed cost in memory, added to its message bytes for "memory". */
#define QUEUE_BASE_MEMORY 1024

const char *mgmt_node_name(void)
{
    static char name[300];

    if (!name[0]) {
        char host[256] = "localhost";
        if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
            strcpy(host, "localhost");
        host[sizeof(host) - 1] = '\0';
        snprintf(name, sizeof(name), "leveret@%s", host);
    }
    return name;
}

json_t *mgmt_details_new(double rate)
{
    return json_pack("{s:f}", "rate", rate);
}

static const char *queue_type(const struct queue *q)
{
    struct table_value v;

    if (table_get(queue_args(q), "x-queue-type", &v) && v.type == TABLE_LONGSTR &&
        view_eq_str(v.v.str, "quorum"))
        return "quorum";
    return "classic";
}

json_t *mgmt_dead_letter_stats_new(const struct queue_dl_counts *c)
{
    json_t *o = json_object();
    uint64_t dropped = c->dl_dropped;

    for (int i = 0; i < QUEUE_DL_NREASONS; i++) {
        json_object_set_new(o, queue_dl_reason_name((enum queue_dl_reason)i),
                            json_integer((json_int_t)c->dead_lettered[i]));
        dropped += c->discarded[i];
    }
    json_object_set_new(o, "dropped_no_dlx", json_integer((json_int_t)dropped));
    json_object_set_new(o, "received", json_integer((json_int_t)c->dl_received));
    return o;
}

json_t *mgmt_queue_new(const struct mgmt_ctx *ctx, struct queue *q, bool full)
{
    unsigned flags = queue_flags(q);
    size_t ready = queue_ready_count(q), unacked = queue_unacked_count(q);
    uint64_t ready_bytes = queue_ready_bytes(q);
    json_t *o = json_object();
    double rates[3];

    json_object_set_new(o, "name", json_string(queue_name(q)));
    json_object_set_new(o, "vhost", json_string(queue_vhost(q)));
    json_object_set_new(o, "type", json_string(queue_type(q)));
    json_object_set_new(o, "node", json_string(mgmt_node_name()));
    json_object_set_new(o, "state", json_string("running"));
    json_object_set_new(o, "arguments", json_table_new(queue_args(q)));
    json_object_set_new(o, "durable", json_boolean(flags & QUEUE_F_DURABLE));
    json_object_set_new(o, "auto_delete", json_boolean(flags & QUEUE_F_AUTO_DELETE));
    json_object_set_new(o, "exclusive", json_boolean(flags & QUEUE_F_EXCLUSIVE));
    json_object_set_new(o, "messages", json_integer((json_int_t)(ready + unacked)));
    json_object_set_new(o, "messages_ready", json_integer((json_int_t)ready));
    json_object_set_new(o, "messages_unacknowledged", json_integer((json_int_t)unacked));
    if (!full)
        return o;
    mgmt_rates_queue(ctx->rates, q, rates);
    json_object_set_new(o, "messages_details", mgmt_details_new(rates[0]));
    json_object_set_new(o, "messages_ready_details", mgmt_details_new(rates[1]));
    json_object_set_new(o, "messages_unacknowledged_details", mgmt_details_new(rates[2]));
    json_object_set_new(o, "messages_ram", json_integer((json_int_t)(ready + unacked)));
    json_object_set_new(o, "messages_ready_ram", json_integer((json_int_t)ready));
    json_object_set_new(o, "messages_unacknowledged_ram", json_integer((json_int_t)unacked));
    json_object_set_new(o, "messages_persistent", json_integer(0));
    json_object_set_new(o, "messages_paged_out", json_integer(0));
    /* The queue module counts ready bytes only; unacked bytes are not tracked yet. */
    json_object_set_new(o, "message_bytes", json_integer((json_int_t)ready_bytes));
    json_object_set_new(o, "message_bytes_ready", json_integer((json_int_t)ready_bytes));
    json_object_set_new(o, "message_bytes_unacknowledged", json_integer(0));
    json_object_set_new(o, "message_bytes_ram", json_integer((json_int_t)ready_bytes));
    json_object_set_new(o, "message_bytes_persistent", json_integer(0));
    json_object_set_new(o, "message_bytes_paged_out", json_integer(0));
    json_object_set_new(o, "consumers", json_integer((json_int_t)queue_consumer_count(q)));
    json_object_set_new(o, "consumer_utilisation", json_null());
    json_object_set_new(o, "consumer_capacity", json_integer(queue_consumer_count(q) ? 1 : 0));
    json_object_set_new(o, "memory", json_integer((json_int_t)(QUEUE_BASE_MEMORY + ready_bytes)));
    json_object_set_new(o, "exclusive_consumer_tag", json_null());
    json_object_set_new(o, "single_active_consumer_tag", json_null());
    json_object_set_new(o, "head_message_timestamp", json_null());
    json_object_set_new(o, "policy", json_null());
    json_object_set_new(o, "operator_policy", json_null());
    json_object_set_new(o, "effective_policy_definition", json_object());
    {
        struct queue_dl_counts c;
        queue_dl_counts(q, &c);
        json_object_set_new(o, "dead_letter_stats", mgmt_dead_letter_stats_new(&c));
    }
    return o;
}

json_t *mgmt_exchange_new(const struct exch *x, const char *vhost)
{
    unsigned flags = exch_flags(x);

    return json_pack(
        "{s:s, s:s, s:s, s:b, s:b, s:b, s:o, s:s}", "name", exch_name(x), "vhost", vhost, "type",
        exch_type_name(exch_type(x)), "durable", (flags & EXCH_F_DURABLE) != 0, "auto_delete",
        (flags & EXCH_F_AUTO_DELETE) != 0, "internal", (flags & EXCH_F_INTERNAL) != 0, "arguments",
        json_table_new(exch_args(x)), "user_who_performed_action", "rmq-internal");
}

json_t *mgmt_binding_new(const char *vhost, const char *source, const char *dest,
                         bool dest_is_queue, struct view key, struct view args)
{
    char props[1024];
    json_t *o = json_object();

    mgmt_props_key(key, args, props, sizeof(props));
    json_object_set_new(o, "source", json_string(source));
    json_object_set_new(o, "vhost", json_string(vhost));
    json_object_set_new(o, "destination", json_string(dest));
    json_object_set_new(o, "destination_type", json_string(dest_is_queue ? "queue" : "exchange"));
    json_object_set_new(o, "routing_key", json_table_string_new(key));
    json_object_set_new(o, "arguments", json_table_new(args));
    json_object_set_new(o, "properties_key", json_string(props));
    return o;
}

struct bind_walk {
    const char *vhost;
    json_t *arr;
};

static void add_binding(void *arg, const struct exch *src, struct queue *dq, const struct exch *dx,
                        struct view key, struct view args)
{
    struct bind_walk *w = arg;

    json_array_append_new(w->arr, mgmt_binding_new(w->vhost, exch_name(src),
                                                   dq ? queue_name(dq) : exch_name(dx), dq != NULL,
                                                   key, args));
}

static void add_exch_bindings(struct exch *x, void *arg)
{
    exch_for_each_binding(x, add_binding, arg);
}

static void add_default_binding(struct queue *q, void *arg)
{
    struct bind_walk *w = arg;

    json_array_append_new(w->arr, mgmt_binding_new(w->vhost, "", queue_name(q), true,
                                                   view_str(queue_name(q)), (struct view){0}));
}

static const char *sget(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* RabbitMQ lists bindings by source, destination type, destination, key, props. */
static int cmp_binding(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    static const char *const keys[] = {"source", "destination_type", "destination", "routing_key",
                                       "properties_key"};
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        int c = strcmp(sget(x, keys[i]), sget(y, keys[i]));
        if (c)
            return c;
    }
    return 0;
}

json_t *mgmt_bindings_new(const struct vhost *v)
{
    struct bind_walk w = {vhost_name(v), json_array()};
    json_t *sorted = json_array();
    json_t **items;
    size_t n;

    vhost_for_each_queue(v, add_default_binding, &w);
    vhost_for_each_exch(v, add_exch_bindings, &w);
    n = json_array_size(w.arr);
    items = xcalloc(n ? n : 1, sizeof(*items));
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(w.arr, i);
    qsort(items, n, sizeof(*items), cmp_binding);
    for (size_t i = 0; i < n; i++)
        json_array_append(sorted, items[i]);
    free(items);
    json_decref(w.arr);
    return sorted;
}
