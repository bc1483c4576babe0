/* SPDX-License-Identifier: MIT */
/*
 * prom: the Prometheus text exposition format (version 0.0.4) with
 * RabbitMQ's metric names (rabbitmq_prometheus collectors). /metrics gives
 * aggregated values as RabbitMQ's default does; /metrics/per-object adds the
 * per-queue series labelled {vhost, queue}. Global counters carry RabbitMQ's
 * protocol="amqp091" label.
 *
 * Dead-letter counters are ours (RabbitMQ counts dead letters globally
 * only): rabbitmq_queue_messages_dead_lettered_total{reason},
 * rabbitmq_queue_messages_dead_letter_dropped_total and
 * rabbitmq_queue_messages_dead_letter_received_total, labelled {vhost, queue}
 * on /metrics/per-object and summed over every queue ever created on
 * /metrics. They match dead_letter_stats in the queue JSON (dropped =
 * dropped_no_dlx).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/alarm.h"
#include "broker/buf.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/durable.h"
#include "broker/memmon.h"
#include "broker/stats.h"
#include "broker/version.h"
#include "broker/vhost.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

static void outf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void outf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char tmp[1024];
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(tmp)) {
        buf_append(b, tmp, (size_t)n);
        return;
    }
    {
        char *big = xmalloc((size_t)n + 1);
        va_start(ap, fmt);
        vsnprintf(big, (size_t)n + 1, fmt, ap);
        va_end(ap);
        buf_append(b, big, (size_t)n);
        free(big);
    }
}

static void head(struct buf *b, const char *name, const char *type, const char *help)
{
    outf(b, "# TYPE %s %s\n# HELP %s %s\n", name, type, name, help);
}

/* Label values escape backslash, double quote and newline. */
static void label_value(struct buf *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            outf(b, "\\%c", *s);
        else if (*s == '\n')
            buf_append(b, "\\n", 2);
        else
            buf_append(b, s, 1);
    }
}

static void counter(struct buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "counter", help);
    outf(b, "%s{protocol=\"amqp091\"} %llu\n", name, (unsigned long long)v);
}

static void gauge(struct buf *b, const char *name, const char *help, uint64_t v)
{
    head(b, name, "gauge", help);
    outf(b, "%s %llu\n", name, (unsigned long long)v);
}

struct qtot {
    uint64_t queues, ready, unacked, consumers, ready_bytes;
};

static void sum_queue(struct queue *q, void *arg)
{
    struct qtot *t = arg;
    t->queues++;
    t->ready += queue_ready_count(q);
    t->unacked += queue_unacked_count(q);
    t->consumers += queue_consumer_count(q);
    t->ready_bytes += queue_ready_bytes(q);
}

struct ctot {
    uint64_t conns, chans;
};

static void sum_conn(struct conn *c, void *arg)
{
    struct ctot *t = arg;
    if (!conn_user(c))
        return;
    t->conns++;
    t->chans += conn_channel_count(c);
}

static void queue_labels(struct buf *b, const char *name, const struct queue *q)
{
    outf(b, "%s{vhost=\"", name);
    label_value(b, queue_vhost(q));
    buf_append(b, "\",queue=\"", 9);
    label_value(b, queue_name(q));
    buf_append(b, "\"", 1);
}

/* One per-queue family: "name{vhost,queue} value" for every queue. */
struct qseries {
    struct buf *b;
    const char *name;
    int field;
};

static uint64_t qfield(const struct queue *q, int field)
{
    switch (field) {
    case 0:
        return queue_ready_count(q);
    case 1:
        return queue_unacked_count(q);
    case 2:
        return queue_ready_count(q) + queue_unacked_count(q);
    case 3:
        return queue_consumer_count(q);
    default:
        return queue_ready_bytes(q);
    }
}

static void emit_queue(struct queue *q, void *arg)
{
    struct qseries *s = arg;

    queue_labels(s->b, s->name, q);
    outf(s->b, "} %llu\n", (unsigned long long)qfield(q, s->field));
}

/* ---- dead-letter counters (ours: RabbitMQ has global ones only) ---- */

#define DL_LETTERED "rabbitmq_queue_messages_dead_lettered_total"
#define DL_DROPPED "rabbitmq_queue_messages_dead_letter_dropped_total"
#define DL_RECEIVED "rabbitmq_queue_messages_dead_letter_received_total"

/* Which counter of a queue's struct queue_dl_counts a series shows. */
enum dl_series { DLS_LETTERED, DLS_DROPPED, DLS_RECEIVED };

struct dl_walk {
    struct buf *b;
    enum dl_series which;
};

static uint64_t dl_dropped(const struct queue_dl_counts *c)
{
    uint64_t n = c->dl_dropped;

    for (int i = 0; i < QUEUE_DL_NREASONS; i++)
        n += c->discarded[i];
    return n;
}

static void emit_queue_dl(struct queue *q, void *arg)
{
    struct dl_walk *w = arg;
    struct queue_dl_counts c;

    queue_dl_counts(q, &c);
    if (w->which == DLS_LETTERED) {
        for (int i = 0; i < QUEUE_DL_NREASONS; i++) {
            queue_labels(w->b, DL_LETTERED, q);
            outf(w->b, ",reason=\"%s\"} %llu\n", queue_dl_reason_name((enum queue_dl_reason)i),
                 (unsigned long long)c.dead_lettered[i]);
        }
        return;
    }
    queue_labels(w->b, w->which == DLS_DROPPED ? DL_DROPPED : DL_RECEIVED, q);
    outf(w->b, "} %llu\n",
         (unsigned long long)(w->which == DLS_DROPPED ? dl_dropped(&c) : c.dl_received));
}

/* Per queue with per_object; otherwise totals over every queue ever created
 * (a counter must not go down when a queue is deleted). */
static void dead_letter_families(struct buf *b, bool per_object)
{
    static const struct {
        const char *name, *help;
    } fams[] = {
        {DL_LETTERED, "Messages dead-lettered out of a queue to its dead-letter exchange, by "
                      "reason (rejected, expired, maxlen, delivery_limit)"},
        {DL_DROPPED, "Messages a queue dead-lettered that were dropped: the queue has no "
                     "dead-letter exchange, or it does not exist"},
        {DL_RECEIVED, "Dead-lettered messages routed into a queue (as a dead-letter queue)"},
    };
    struct queue_dl_counts t;

    queue_dl_totals(&t);
    for (int f = 0; f < (int)ARRAY_LEN(fams); f++) {
        head(b, fams[f].name, "counter", fams[f].help);
        if (per_object) {
            struct dl_walk w = {b, (enum dl_series)f};
            for (size_t v = 0; v < vhost_count(); v++)
                vhost_for_each_queue(vhost_at(v), emit_queue_dl, &w);
        } else if (f == DLS_LETTERED) {
            for (int i = 0; i < QUEUE_DL_NREASONS; i++)
                outf(b, "%s{reason=\"%s\"} %llu\n", DL_LETTERED,
                     queue_dl_reason_name((enum queue_dl_reason)i),
                     (unsigned long long)t.dead_lettered[i]);
        } else {
            outf(b, "%s %llu\n", fams[f].name,
                 (unsigned long long)(f == DLS_DROPPED ? dl_dropped(&t) : t.dl_received));
        }
    }
}

char *mgmt_prom_render(const struct mgmt_ctx *ctx, bool per_object, size_t *len)
{
    static const struct {
        const char *name, *help;
        int field;
    } qfams[] = {
        {"rabbitmq_queue_messages_ready", "Messages ready to be delivered to consumers", 0},
        {"rabbitmq_queue_messages_unacked",
         "Messages delivered to consumers but not yet acknowledged", 1},
        {"rabbitmq_queue_messages", "Sum of ready and unacknowledged messages - total queue depth",
         2},
        {"rabbitmq_queue_consumers", "Consumers on a queue", 3},
        {"rabbitmq_queue_messages_ready_bytes", "Size in bytes of ready messages", 4},
    };
    struct buf b = {0};
    struct qtot qt = {0};
    struct ctot ct = {0};
    long rss = 0, psize = sysconf(_SC_PAGE_SIZE);
    FILE *f = fopen("/proc/self/statm", "r");
    (void)ctx;

    if (f) {
        long size;
        if (fscanf(f, "%ld %ld", &size, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    for (size_t i = 0; i < vhost_count(); i++)
        vhost_for_each_queue(vhost_at(i), sum_queue, &qt);
    conn_for_each(sum_conn, &ct);

    head(&b, "rabbitmq_identity_info", "untyped", "RabbitMQ node & cluster identity info");
    outf(&b,
         "rabbitmq_identity_info{rabbitmq_node=\"%s\",rabbitmq_cluster=\"%s\","
         "rabbitmq_cluster_permanent_id=\"%s\"} 1\n",
         mgmt_node_name(), mgmt_node_name(), mgmt_node_name());
    head(&b, "rabbitmq_build_info", "untyped", "RabbitMQ & Erlang/OTP version info");
    outf(&b,
         "rabbitmq_build_info{rabbitmq_version=\"%s\",product_name=\"%s\",product_version=\"%s\"} "
         "1\n",
         LEVERET_VERSION, LEVERET_PRODUCT, LEVERET_VERSION);
    gauge(&b, "rabbitmq_connections", "Connections currently open", ct.conns);
    gauge(&b, "rabbitmq_channels", "Channels currently open", ct.chans);
    gauge(&b, "rabbitmq_consumers", "Consumers currently connected", qt.consumers);
    gauge(&b, "rabbitmq_queues", "Queues available", qt.queues);
    head(&b, "rabbitmq_connections_opened_total", "counter", "Total number of connections opened");
    outf(&b, "rabbitmq_connections_opened_total %llu\n",
         (unsigned long long)stats.connection_created);
    head(&b, "rabbitmq_connections_closed_total", "counter",
         "Total number of connections closed or terminated");
    outf(&b, "rabbitmq_connections_closed_total %llu\n",
         (unsigned long long)stats.connection_closed);
    head(&b, "rabbitmq_channels_opened_total", "counter", "Total number of channels opened");
    outf(&b, "rabbitmq_channels_opened_total %llu\n", (unsigned long long)stats.channel_created);
    head(&b, "rabbitmq_channels_closed_total", "counter", "Total number of channels closed");
    outf(&b, "rabbitmq_channels_closed_total %llu\n", (unsigned long long)stats.channel_closed);
    gauge(&b, "rabbitmq_process_resident_memory_bytes", "Memory used in bytes",
          (uint64_t)rss * (uint64_t)(psize > 0 ? psize : 4096));
    /* RabbitMQ's rabbitmq_prometheus names for the watermarks and alarms. */
    gauge(&b, "rabbitmq_resident_memory_limit_bytes", "Memory high watermark in bytes",
          memmon_limit());
    gauge(&b, "rabbitmq_alarms_memory_used_watermark",
          "is 1 if VM memory watermark alarm is in effect",
          (alarm_active() & ALARM_MEMORY) ? 1 : 0);
    gauge(&b, "rabbitmq_alarms_free_disk_space_watermark",
          "is 1 if free disk space watermark alarm is in effect",
          (alarm_active() & ALARM_DISK) ? 1 : 0);
    gauge(&b, "rabbitmq_disk_space_available_limit_bytes", "Free disk space low watermark in bytes",
          ctx->cfg->disk_free_limit);
    gauge(&b, "rabbitmq_disk_space_available_bytes", "Disk space available in bytes",
          durable_disk_free());

    counter(&b, "rabbitmq_global_messages_received_total",
            "Total number of messages received from publishers", stats.publish);
    counter(&b, "rabbitmq_global_messages_routed_total",
            "Total number of messages routed to queues or streams",
            stats.publish - stats.drop_unroutable - stats.return_unroutable);
    counter(&b, "rabbitmq_global_messages_unroutable_dropped_total",
            "Total number of messages published as non-mandatory into an exchange and dropped as "
            "unroutable",
            stats.drop_unroutable);
    counter(&b, "rabbitmq_global_messages_unroutable_returned_total",
            "Total number of messages published as mandatory into an exchange and returned to the "
            "publisher as unroutable",
            stats.return_unroutable);
    counter(&b, "rabbitmq_global_messages_confirmed_total",
            "Total number of messages confirmed to publishers", stats.confirm);
    counter(&b, "rabbitmq_global_messages_delivered_total",
            "Total number of messages delivered to consumers",
            stats.deliver + stats.deliver_no_ack + stats.get + stats.get_no_ack);
    counter(&b, "rabbitmq_global_messages_delivered_consume_manual_ack_total",
            "Total number of messages delivered to consumers using basic.consume with manual "
            "acknowledgment",
            stats.deliver);
    counter(&b, "rabbitmq_global_messages_delivered_consume_auto_ack_total",
            "Total number of messages delivered to consumers using basic.consume with automatic "
            "acknowledgment",
            stats.deliver_no_ack);
    counter(&b, "rabbitmq_global_messages_delivered_get_manual_ack_total",
            "Total number of messages delivered to consumers using basic.get with manual "
            "acknowledgment",
            stats.get);
    counter(&b, "rabbitmq_global_messages_delivered_get_auto_ack_total",
            "Total number of messages delivered to consumers using basic.get with automatic "
            "acknowledgment",
            stats.get_no_ack);
    counter(&b, "rabbitmq_global_messages_get_empty_total",
            "Total number of times basic.get operations fetched no message", stats.get_empty);
    counter(&b, "rabbitmq_global_messages_redelivered_total",
            "Total number of messages redelivered to consumers", stats.redeliver);
    counter(&b, "rabbitmq_global_messages_acknowledged_total",
            "Total number of messages acknowledged by consumers", stats.ack);

    for (size_t i = 0; i < ARRAY_LEN(qfams); i++) {
        head(&b, qfams[i].name, "gauge", qfams[i].help);
        if (per_object) {
            struct qseries s = {&b, qfams[i].name, qfams[i].field};
            for (size_t v = 0; v < vhost_count(); v++)
                vhost_for_each_queue(vhost_at(v), emit_queue, &s);
        } else {
            uint64_t tot = qfams[i].field == 0   ? qt.ready
                           : qfams[i].field == 1 ? qt.unacked
                           : qfams[i].field == 2 ? qt.ready + qt.unacked
                           : qfams[i].field == 3 ? qt.consumers
                                                 : qt.ready_bytes;
            outf(&b, "%s %llu\n", qfams[i].name, (unsigned long long)tot);
        }
    }
    dead_letter_families(&b, per_object);
    *len = b.len;
    buf_append(&b, "", 1);
    return (char *)b.p;
}
