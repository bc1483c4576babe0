/* SPDX-License-Identifier: MIT */
/* views_node: /api/overview, /api/nodes and the broker-wide message_stats. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "broker/alarm.h"
#include "broker/auth.h"
#include "broker/chan.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/durable.h"
#include "broker/loop.h"
#include "broker/memmon.h"
#include "broker/paging.h"
#include "broker/stats.h"
#include "broker/version.h"
#include "broker/vhost.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

struct stat_key {
    const char *name;
    size_t off;
};

#define K(f)                                                                                       \
    {                                                                                              \
#f, offsetof(struct stats, f)                                                              \
    }
static const struct stat_key stat_keys[] = {
    K(publish), K(confirm),           K(deliver),         K(deliver_no_ack),
    K(get),     K(get_no_ack),        K(get_empty),       K(redeliver),
    K(ack),     K(return_unroutable), K(drop_unroutable),
};
#undef K

static uint64_t stat_at(size_t off)
{
    uint64_t v;
    memcpy(&v, (const char *)&stats + off, sizeof(v));
    return v;
}

json_t *mgmt_message_stats_new(const struct mgmt_ctx *ctx)
{
    json_t *o = json_object();
    uint64_t dg = stats.deliver + stats.deliver_no_ack + stats.get + stats.get_no_ack;
    double dg_rate = 0;
    char key[64];

    for (size_t i = 0; i < ARRAY_LEN(stat_keys); i++) {
        double r = mgmt_rates_global(ctx->rates, stat_keys[i].off);
        json_object_set_new(o, stat_keys[i].name,
                            json_integer((json_int_t)stat_at(stat_keys[i].off)));
        snprintf(key, sizeof(key), "%s_details", stat_keys[i].name);
        json_object_set_new(o, key, mgmt_details_new(r));
        if (stat_keys[i].off == offsetof(struct stats, deliver) ||
            stat_keys[i].off == offsetof(struct stats, deliver_no_ack) ||
            stat_keys[i].off == offsetof(struct stats, get) ||
            stat_keys[i].off == offsetof(struct stats, get_no_ack))
            dg_rate += r;
    }
    json_object_set_new(o, "deliver_get", json_integer((json_int_t)dg));
    json_object_set_new(o, "deliver_get_details", mgmt_details_new(dg_rate));
    return o;
}

struct totals {
    const struct auth *auth;
    const struct auth_user *user;
    bool all;
    size_t queues, exchanges, consumers, connections, channels;
    uint64_t ready, unacked;
};

static bool visible(const struct totals *t, const char *vhost)
{
    return t->all || auth_vhost_access(t->auth, t->user, view_str(vhost));
}

static void count_queue(struct queue *q, void *arg)
{
    struct totals *t = arg;
    t->queues++;
    t->consumers += queue_consumer_count(q);
    t->ready += queue_ready_count(q);
    t->unacked += queue_unacked_count(q);
}

static void count_conn(struct conn *c, void *arg)
{
    struct totals *t = arg;
    if (!conn_user(c) || !visible(t, conn_vhost(c)))
        return;
    t->connections++;
    t->channels += conn_channel_count(c);
}

json_t *mgmt_overview_new(const struct mgmt_ctx *ctx, const struct auth_user *u)
{
    struct totals t = {.auth = ctx->auth, .user = u};
    double qr[3];
    json_t *o, *listeners;

    t.all = auth_user_has_tag(u, "administrator") || auth_user_has_tag(u, "monitoring");
    for (size_t i = 0; i < vhost_count(); i++) {
        struct vhost *v = vhost_at(i);
        if (!visible(&t, vhost_name(v)))
            continue;
        vhost_for_each_queue(v, count_queue, &t);
        t.exchanges += vhost_exch_count(v);
    }
    conn_for_each(count_conn, &t);
    mgmt_rates_totals(ctx->rates, qr);
    listeners = json_array();
    json_array_append_new(listeners, json_pack("{s:s, s:s, s:s, s:i}", "node", mgmt_node_name(),
                                               "protocol", "amqp", "ip_address", ctx->cfg->address,
                                               "port", ctx->cfg->amqp_port));
    if (ctx->cfg->tls.enabled && ctx->cfg->tls.port)
        json_array_append_new(listeners, json_pack("{s:s, s:s, s:s, s:i}", "node", mgmt_node_name(),
                                                   "protocol", "amqp/ssl", "ip_address",
                                                   ctx->cfg->address, "port", ctx->cfg->tls.port));
    if (ctx->cfg->mgmt_tls.enabled && ctx->cfg->mgmt_tls.port)
        json_array_append_new(listeners,
                              json_pack("{s:s, s:s, s:s, s:i}", "node", mgmt_node_name(),
                                        "protocol", "https", "ip_address", ctx->cfg->mgmt_address,
                                        "port", ctx->cfg->mgmt_tls.port));
    if (ctx->cfg->mgmt_port)
        json_array_append_new(listeners,
                              json_pack("{s:s, s:s, s:s, s:i}", "node", mgmt_node_name(),
                                        "protocol", "http", "ip_address", ctx->cfg->mgmt_address,
                                        "port", ctx->cfg->mgmt_port));
    if (ctx->cfg->prometheus_port)
        json_array_append_new(listeners,
                              json_pack("{s:s, s:s, s:s, s:i}", "node", mgmt_node_name(),
                                        "protocol", "http/prometheus", "ip_address",
                                        ctx->cfg->mgmt_address, "port", ctx->cfg->prometheus_port));
    o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:o, s:o, s:{s:I, s:I, s:I, s:o, s:o, "
        "s:o}, s:{s:i, s:i, s:i, s:i, s:i}, s:i, s:s, s:o, s:[]}",
        "management_version", LEVERET_VERSION, "rates_mode", "basic", "product_version",
        LEVERET_VERSION, "product_name", LEVERET_PRODUCT, "rabbitmq_version", LEVERET_VERSION,
        "cluster_name", mgmt_node_name(), "erlang_version", "none", "disable_stats", 0,
        "enable_queue_totals", 0, "exchange_types",
        json_pack("[{s:s, s:s, s:b}, {s:s, s:s, s:b}, {s:s, s:s, s:b}, {s:s, s:s, s:b}]", "name",
                  "direct", "description", "AMQP direct exchange, as per the AMQP specification",
                  "enabled", 1, "name", "fanout", "description",
                  "AMQP fanout exchange, as per the AMQP specification", "enabled", 1, "name",
                  "headers", "description", "AMQP headers exchange, as per the AMQP specification",
                  "enabled", 1, "name", "topic", "description",
                  "AMQP topic exchange, as per the AMQP specification", "enabled", 1),
        "message_stats", mgmt_message_stats_new(ctx), "queue_totals", "messages",
        (json_int_t)(t.ready + t.unacked), "messages_ready", (json_int_t)t.ready,
        "messages_unacknowledged", (json_int_t)t.unacked, "messages_details",
        mgmt_details_new(qr[0]), "messages_ready_details", mgmt_details_new(qr[1]),
        "messages_unacknowledged_details", mgmt_details_new(qr[2]), "object_totals", "channels",
        (int)t.channels, "connections", (int)t.connections, "consumers", (int)t.consumers,
        "exchanges", (int)t.exchanges, "queues", (int)t.queues, "statistics_db_event_queue", 0,
        "node", mgmt_node_name(), "listeners", listeners, "contexts");
    {
        struct queue_dl_counts c;
        queue_dl_totals(&c);
        json_object_set_new(o, "dead_letter_totals", mgmt_dead_letter_stats_new(&c));
    }
    return o;
}

json_t *mgmt_node_new(const struct mgmt_ctx *ctx)
{
    char pid[32];
    unsigned alarms = alarm_active();
    json_t *o;

    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    o = json_pack("{s:s, s:s, s:b, s:s, s:I, s:I, s:b, s:s, s:I, s:I, s:b, s:I, s:I, s:i, s:s, "
                  "s:o, s:[]}",
                  "name", mgmt_node_name(), "type", "disc", "running", 1, "os_pid", pid, "mem_used",
                  (json_int_t)memmon_used(), "mem_limit", (json_int_t)memmon_limit(), "mem_alarm",
                  (alarms & ALARM_MEMORY) != 0, "mem_calculation_strategy", "rss", "disk_free",
                  (json_int_t)durable_disk_free(), "disk_free_limit",
                  (json_int_t)ctx->cfg->disk_free_limit, "disk_free_alarm",
                  (alarms & ALARM_DISK) != 0, "uptime",
                  (json_int_t)((double)time(NULL) - ctx->started_at) * 1000, "connection_created",
                  (json_int_t)stats.connection_created, "processors",
                  (int)sysconf(_SC_NPROCESSORS_ONLN), "rates_mode", "basic", "exchange_types",
                  json_pack("[{s:s}, {s:s}, {s:s}, {s:s}]", "name", "direct", "name", "fanout",
                            "name", "headers", "name", "topic"),
                  "partitions");
    /* Not in RabbitMQ's node object (rabbitmqctl status shows them): the
     * watermark as configured, and the memory it is a fraction of. */
    json_object_set_new(o, "vm_memory_high_watermark",
                        memmon_absolute()
                            ? json_pack("{s:I}", "absolute", (json_int_t)memmon_absolute())
                            : json_pack("{s:f}", "relative", memmon_relative()));
    json_object_set_new(o, "total_memory_available", json_integer((json_int_t)memmon_total()));
    /* Ours: the message memory budget and what paging did (broker/paging.h). */
    {
        struct paging_stats p;
        paging_get_stats(&p);
        json_object_set_new(
            o, "paging",
            json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "memory_budget", (json_int_t)p.budget,
                      "message_bytes_ram", (json_int_t)p.resident_bytes, "spill_bytes",
                      (json_int_t)p.spill_disk_bytes, "spill_messages",
                      (json_int_t)p.spill_live_records, "paged_out_total", (json_int_t)p.paged_out,
                      "paged_in_total", (json_int_t)p.paged_in, "lost_total", (json_int_t)p.lost));
    }
    return o;
}
