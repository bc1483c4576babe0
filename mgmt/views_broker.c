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
/* A paged-out message: its 16-byte queue entry and its 56-byte stub (64 with malloc's header). */
#define QUEUE_PAGED_MEMORY 80

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

/* The queue object's fields, in the order they are written. The object is
 * written as text (mgmt/jsonw.c) because /api/queues lists 10,000 of them;
 * mgmt_queue_new parses the same text, so there is one definition. */
enum qfield {
    QF_NAME,
    QF_VHOST,
    QF_TYPE,
    QF_NODE,
    QF_STATE,
    QF_ARGUMENTS,
    QF_DURABLE,
    QF_AUTO_DELETE,
    QF_EXCLUSIVE,
    QF_MESSAGES,
    QF_MESSAGES_READY,
    QF_MESSAGES_UNACKED,
    QF_BASIC_END, /* the rest only in the full object */
    QF_MESSAGES_DETAILS = QF_BASIC_END,
    QF_MESSAGES_READY_DETAILS,
    QF_MESSAGES_UNACKED_DETAILS,
    QF_MESSAGES_RAM,
    QF_MESSAGES_READY_RAM,
    QF_MESSAGES_UNACKED_RAM,
    QF_MESSAGES_PERSISTENT,
    QF_MESSAGES_PAGED_OUT,
    QF_MESSAGE_BYTES,
    QF_MESSAGE_BYTES_READY,
    QF_MESSAGE_BYTES_UNACKED,
    QF_MESSAGE_BYTES_RAM,
    QF_MESSAGE_BYTES_PERSISTENT,
    QF_MESSAGE_BYTES_PAGED_OUT,
    QF_CONSUMERS,
    QF_CONSUMER_UTILISATION,
    QF_CONSUMER_CAPACITY,
    QF_MEMORY,
    QF_EXCLUSIVE_CONSUMER_TAG,
    QF_SAC_TAG,
    QF_HEAD_MESSAGE_TIMESTAMP,
    QF_POLICY,
    QF_OPERATOR_POLICY,
    QF_EFFECTIVE_POLICY_DEFINITION,
    QF_DEAD_LETTER_STATS,
    QF_MESSAGE_STATS,
    QF_COUNT
};

/* Each field as written before its value: the key, quoted, and a colon. */
#define KEY(k)                                                                                     \
    {                                                                                              \
        "\"" k "\":", sizeof(k) + 2                                                                \
    }
static const struct {
    const char *lit;
    size_t len;
} qfield_keys[QF_COUNT] = {
    KEY("name"),
    KEY("vhost"),
    KEY("type"),
    KEY("node"),
    KEY("state"),
    KEY("arguments"),
    KEY("durable"),
    KEY("auto_delete"),
    KEY("exclusive"),
    KEY("messages"),
    KEY("messages_ready"),
    KEY("messages_unacknowledged"),
    KEY("messages_details"),
    KEY("messages_ready_details"),
    KEY("messages_unacknowledged_details"),
    KEY("messages_ram"),
    KEY("messages_ready_ram"),
    KEY("messages_unacknowledged_ram"),
    KEY("messages_persistent"),
    KEY("messages_paged_out"),
    KEY("message_bytes"),
    KEY("message_bytes_ready"),
    KEY("message_bytes_unacknowledged"),
    KEY("message_bytes_ram"),
    KEY("message_bytes_persistent"),
    KEY("message_bytes_paged_out"),
    KEY("consumers"),
    KEY("consumer_utilisation"),
    KEY("consumer_capacity"),
    KEY("memory"),
    KEY("exclusive_consumer_tag"),
    KEY("single_active_consumer_tag"),
    KEY("head_message_timestamp"),
    KEY("policy"),
    KEY("operator_policy"),
    KEY("effective_policy_definition"),
    KEY("dead_letter_stats"),
    KEY("message_stats"),
};
#undef KEY

/* What the fields are computed from, read once per queue. */
struct qview {
    const struct mgmt_ctx *ctx;
    struct queue *q;
    size_t ready, unacked;
    uint64_t ready_bytes;
    struct queue_msg_stats ms;
    double rates[MGMT_QRATES];
    bool have_rates;
};

static double qrate(struct qview *v, int i)
{
    if (!v->have_rates) {
        mgmt_rates_queue(v->ctx->rates, v->q, v->rates);
        v->have_rates = true;
    }
    return v->rates[i];
}

static void jw_bool(struct buf *b, bool v)
{
    if (v)
        mgmt_jw_put(b, "true", 4);
    else
        mgmt_jw_put(b, "false", 5);
}

static void jw_u64(struct buf *b, uint64_t v)
{
    mgmt_jw_int(b, (long long)v);
}

static void jw_details(struct buf *b, double rate)
{
    mgmt_jw_put(b, "{\"rate\":", 8);
    mgmt_jw_real(b, rate);
    mgmt_jw_put(b, "}", 1);
}

static void write_dead_letter_stats(struct buf *b, const struct queue *q)
{
    struct queue_dl_counts c;
    uint64_t dropped;

    queue_dl_counts(q, &c);
    dropped = c.dl_dropped;
    mgmt_jw_put(b, "{", 1);
    for (int i = 0; i < QUEUE_DL_NREASONS; i++) {
        mgmt_jw_str(b, view_str(queue_dl_reason_name((enum queue_dl_reason)i)));
        mgmt_jw_put(b, ":", 1);
        jw_u64(b, c.dead_lettered[i]);
        mgmt_jw_put(b, ",", 1);
        dropped += c.discarded[i];
    }
    mgmt_jw_raw(b, "\"dropped_no_dlx\":");
    jw_u64(b, dropped);
    mgmt_jw_raw(b, ",\"received\":");
    jw_u64(b, c.dl_received);
    mgmt_jw_put(b, "}", 1);
}

/* RabbitMQ's queue message_stats, keys in its (alphabetical) order; each
 * count with its *_details rate. deliver_get sums the four delivery kinds. */
static void write_message_stats(struct buf *b, struct qview *v)
{
    static const struct {
        const char *name;
        int idx; /* MGMT_QR_*, or -1: deliver_get */
    } keys[] = {
        {"ack", MGMT_QR_ACK},         {"deliver", MGMT_QR_DELIVER},
        {"deliver_get", -1},          {"deliver_no_ack", MGMT_QR_DELIVER_NO_ACK},
        {"get", MGMT_QR_GET},         {"get_no_ack", MGMT_QR_GET_NO_ACK},
        {"publish", MGMT_QR_PUBLISH}, {"redeliver", MGMT_QR_REDELIVER},
    };
    const struct queue_msg_stats *ms = &v->ms;
    uint64_t counts[MGMT_QRATES] = {0};

    counts[MGMT_QR_PUBLISH] = ms->publish;
    counts[MGMT_QR_DELIVER] = ms->deliver;
    counts[MGMT_QR_DELIVER_NO_ACK] = ms->deliver_no_ack;
    counts[MGMT_QR_GET] = ms->get;
    counts[MGMT_QR_GET_NO_ACK] = ms->get_no_ack;
    counts[MGMT_QR_REDELIVER] = ms->redeliver;
    counts[MGMT_QR_ACK] = ms->ack;
    mgmt_jw_put(b, "{", 1);
    for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
        uint64_t n;
        double r;

        if (keys[i].idx < 0) {
            n = ms->deliver + ms->deliver_no_ack + ms->get + ms->get_no_ack;
            r = qrate(v, MGMT_QR_DELIVER) + qrate(v, MGMT_QR_DELIVER_NO_ACK) +
                qrate(v, MGMT_QR_GET) + qrate(v, MGMT_QR_GET_NO_ACK);
        } else {
            n = counts[keys[i].idx];
            r = qrate(v, keys[i].idx);
        }
        if (i)
            mgmt_jw_put(b, ",", 1);
        mgmt_jw_str(b, view_str(keys[i].name));
        mgmt_jw_put(b, ":", 1);
        jw_u64(b, n);
        mgmt_jw_put(b, ",", 1);
        mgmt_jw_put(b, "\"", 1);
        mgmt_jw_raw(b, keys[i].name);
        mgmt_jw_raw(b, "_details\":");
        /* Counters only grow; a queue recreated at the same address between
         * samples must not show a negative rate. */
        jw_details(b, r > 0 ? r : 0.0);
    }
    mgmt_jw_put(b, "}", 1);
}

static void write_field(struct buf *b, struct qview *v, enum qfield f)
{
    unsigned flags = queue_flags(v->q);
    size_t total = v->ready + v->unacked;

    switch (f) {
    case QF_NAME:
        mgmt_jw_str(b, view_str(queue_name(v->q)));
        break;
    case QF_VHOST:
        mgmt_jw_str(b, view_str(queue_vhost(v->q)));
        break;
    case QF_TYPE:
        mgmt_jw_str(b, view_str(queue_type(v->q)));
        break;
    case QF_NODE:
        mgmt_jw_str(b, view_str(mgmt_node_name()));
        break;
    case QF_STATE:
        mgmt_jw_put(b, "\"running\"", 9);
        break;
    case QF_ARGUMENTS:
        if (queue_args(v->q).n == 0) {
            mgmt_jw_put(b, "{}", 2);
        } else {
            json_t *a = json_table_new(queue_args(v->q));
            mgmt_jw_json(b, a);
            json_decref(a);
        }
        break;
    case QF_DURABLE:
        jw_bool(b, flags & QUEUE_F_DURABLE);
        break;
    case QF_AUTO_DELETE:
        jw_bool(b, flags & QUEUE_F_AUTO_DELETE);
        break;
    case QF_EXCLUSIVE:
        jw_bool(b, flags & QUEUE_F_EXCLUSIVE);
        break;
    case QF_MESSAGES:
        jw_u64(b, total);
        break;
    case QF_MESSAGES_RAM:
        jw_u64(b, total - v->ms.paged_out);
        break;
    case QF_MESSAGES_READY:
        jw_u64(b, v->ready);
        break;
    case QF_MESSAGES_READY_RAM:
        jw_u64(b, v->ready - v->ms.paged_out);
        break;
    case QF_MESSAGES_UNACKED:
    case QF_MESSAGES_UNACKED_RAM:
        jw_u64(b, v->unacked);
        break;
    case QF_MESSAGES_DETAILS:
        jw_details(b, qrate(v, 0));
        break;
    case QF_MESSAGES_READY_DETAILS:
        jw_details(b, qrate(v, 1));
        break;
    case QF_MESSAGES_UNACKED_DETAILS:
        jw_details(b, qrate(v, 2));
        break;
    case QF_MESSAGES_PERSISTENT:
        jw_u64(b, v->ms.persistent);
        break;
    case QF_MESSAGE_BYTES_PERSISTENT:
        jw_u64(b, v->ms.persistent_bytes);
        break;
    case QF_MESSAGES_PAGED_OUT:
        jw_u64(b, v->ms.paged_out);
        break;
    case QF_MESSAGE_BYTES_PAGED_OUT:
        jw_u64(b, v->ms.paged_out_bytes);
        break;
    case QF_MESSAGE_BYTES_UNACKED:
        jw_u64(b, v->ms.unacked_bytes);
        break;
    case QF_MESSAGE_BYTES_READY:
        jw_u64(b, v->ready_bytes);
        break;
    case QF_MESSAGE_BYTES:
        /* RabbitMQ: message_bytes = ready + unacknowledged. */
        jw_u64(b, v->ready_bytes + v->ms.unacked_bytes);
        break;
    case QF_MESSAGE_BYTES_RAM:
        /* Paged-out messages keep only a stub in memory (broker/paging.h). */
        jw_u64(b, v->ready_bytes - v->ms.paged_out_bytes + v->ms.unacked_bytes);
        break;
    case QF_CONSUMERS:
        jw_u64(b, queue_consumer_count(v->q));
        break;
    case QF_CONSUMER_CAPACITY:
        mgmt_jw_raw(b, queue_consumer_count(v->q) ? "1" : "0");
        break;
    case QF_MEMORY:
        jw_u64(b, mgmt_queue_memory(v->q));
        break;
    case QF_CONSUMER_UTILISATION:
    case QF_EXCLUSIVE_CONSUMER_TAG:
    case QF_SAC_TAG:
    case QF_HEAD_MESSAGE_TIMESTAMP:
    case QF_POLICY:
    case QF_OPERATOR_POLICY:
        mgmt_jw_put(b, "null", 4);
        break;
    case QF_EFFECTIVE_POLICY_DEFINITION:
        mgmt_jw_put(b, "{}", 2);
        break;
    case QF_DEAD_LETTER_STATS:
        write_dead_letter_stats(b, v->q);
        break;
    case QF_MESSAGE_STATS:
        write_message_stats(b, v);
        break;
    case QF_COUNT:
        break;
    }
}

static void write_member(struct buf *b, struct qview *v, enum qfield f, bool *first)
{
    if (!*first)
        mgmt_jw_put(b, ",", 1);
    *first = false;
    mgmt_jw_put(b, qfield_keys[f].lit, qfield_keys[f].len);
    write_field(b, v, f);
}

uint64_t mgmt_queue_memory(const struct queue *q)
{
    struct queue_msg_stats ms;

    queue_msg_stats(q, &ms);
    /* The bodies in memory, and for a paged-out message its entry and stub. */
    return QUEUE_BASE_MEMORY + queue_ready_bytes(q) - ms.paged_out_bytes +
           ms.paged_out * QUEUE_PAGED_MEMORY;
}

void mgmt_queue_write(struct buf *b, const struct mgmt_ctx *ctx, struct queue *q, bool full,
                      const char *columns)
{
    struct qview v = {0};
    enum qfield end = full ? QF_COUNT : QF_BASIC_END;
    bool first = true;

    v.ctx = ctx;
    v.q = q;
    v.ready = queue_ready_count(q);
    v.unacked = queue_unacked_count(q);
    v.ready_bytes = queue_ready_bytes(q);
    if (full)
        queue_msg_stats(q, &v.ms);
    /* Room for a whole object with its names, so the pieces rarely grow b. */
    buf_reserve(b, 1800 + 6 * (strlen(queue_name(q)) + strlen(queue_vhost(q))));
    mgmt_jw_put(b, "{", 1);
    if (!columns) {
        for (int f = 0; f < (int)end; f++)
            write_member(b, &v, (enum qfield)f, &first);
    } else {
        /* Column order, each key once (mgmt_columns sets keys in that order). */
        bool done[QF_COUNT] = {false};
        for (const char *c = columns; *c;) {
            size_t n = strcspn(c, ",");
            for (int f = 0; f < (int)end; f++)
                if (!done[f] && qfield_keys[f].len == n + 3 &&
                    memcmp(qfield_keys[f].lit + 1, c, n) == 0) {
                    done[f] = true;
                    write_member(b, &v, (enum qfield)f, &first);
                    break;
                }
            c += n + (c[n] == ',');
        }
    }
    mgmt_jw_put(b, "}", 1);
}

json_t *mgmt_queue_new(const struct mgmt_ctx *ctx, struct queue *q, bool full)
{
    struct buf b = {0};
    json_t *o;

    mgmt_queue_write(&b, ctx, q, full, NULL);
    o = json_loadb((const char *)b.p, b.len, JSON_ALLOW_NUL, NULL);
    buf_free(&b);
    /* Our own writer's output always parses; abort rather than reply nonsense. */
    if (!o)
        abort();
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
