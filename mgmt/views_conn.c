/* SPDX-License-Identifier: MIT */
/* views_conn: JSON for connections, channels and consumers, in RabbitMQ's field names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth.h"
#include "broker/chan.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/json_table.h"
#include "broker/tls.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

/* Splits "1.2.3.4:5" or "[::1]:5" into host and port. */
static void split_peer(const char *peer, char *host, size_t size, long *port)
{
    const char *colon = strrchr(peer, ':');
    size_t n = colon ? (size_t)(colon - peer) : strlen(peer);

    *port = colon ? strtol(colon + 1, NULL, 10) : 0;
    if (n >= 2 && peer[0] == '[' && peer[n - 1] == ']') {
        peer++;
        n -= 2;
    }
    if (n >= size)
        n = size - 1;
    memcpy(host, peer, n);
    host[n] = '\0';
}

/* The address the client connected to. The connection does not expose its
 * socket's local address, so a wildcard listener reports the loopback address
 * for loopback peers and the wildcard otherwise. */
static void local_host(const struct mgmt_ctx *ctx, const char *peer_host, char *out, size_t size)
{
    const char *a = ctx->cfg->address;

    if (strcmp(a, "0.0.0.0") == 0 || strcmp(a, "::") == 0) {
        if (strncmp(peer_host, "127.", 4) == 0)
            a = "127.0.0.1";
        else if (strcmp(peer_host, "::1") == 0)
            a = "::1";
    }
    snprintf(out, size, "%s", a);
}

/* The port the client connected to: the TLS listener's or the plain one's. */
static long local_port(const struct mgmt_ctx *ctx, const struct conn *c)
{
    return conn_tls_info(c) ? (long)ctx->cfg->tls.port : (long)ctx->cfg->amqp_port;
}

static void fmt_endpoint(char *out, size_t size, const char *host, long port)
{
    if (strchr(host, ':'))
        snprintf(out, size, "[%s]:%ld", host, port);
    else
        snprintf(out, size, "%s:%ld", host, port);
}

void mgmt_conn_name(const struct mgmt_ctx *ctx, const struct conn *c, char *out, size_t size)
{
    char host[128], local[128], a[160], b[160];
    long port;

    split_peer(conn_peer(c), host, sizeof(host), &port);
    local_host(ctx, host, local, sizeof(local));
    fmt_endpoint(a, sizeof(a), host, port);
    fmt_endpoint(b, sizeof(b), local, local_port(ctx, c));
    snprintf(out, size, "%s -> %s", a, b);
}

static json_t *string_or_null(const char *s)
{
    return s && *s ? json_string(s) : json_null();
}

/* RabbitMQ's TLS fields: null on a plain connection (and for the peer
 * certificate when the client sent none). */
static void set_tls_fields(json_t *o, const struct conn *c)
{
    const struct tls_info *t = conn_tls_info(c);

    json_object_set_new(o, "ssl", json_boolean(t != NULL));
    json_object_set_new(o, "ssl_protocol", string_or_null(t ? t->protocol : NULL));
    json_object_set_new(o, "ssl_key_exchange", string_or_null(t ? t->key_exchange : NULL));
    json_object_set_new(o, "ssl_cipher", string_or_null(t ? t->cipher : NULL));
    json_object_set_new(o, "ssl_hash", string_or_null(t ? t->hash : NULL));
    json_object_set_new(o, "peer_cert_subject", string_or_null(t ? t->peer_cert_subject : NULL));
    json_object_set_new(o, "peer_cert_issuer", string_or_null(t ? t->peer_cert_issuer : NULL));
    json_object_set_new(o, "peer_cert_validity", string_or_null(t ? t->peer_cert_validity : NULL));
}

static const char *user_name(const struct conn *c)
{
    const struct auth_user *u = conn_user(c);
    return u ? auth_user_name(u) : "";
}

json_t *mgmt_connection_new(const struct mgmt_ctx *ctx, struct conn *c)
{
    char name[400], host[128], local[128];
    long port;
    json_t *o = json_object();
    const char *state = conn_state_name(c);

    mgmt_conn_name(ctx, c, name, sizeof(name));
    split_peer(conn_peer(c), host, sizeof(host), &port);
    local_host(ctx, host, local, sizeof(local));
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "node", json_string(mgmt_node_name()));
    json_object_set_new(o, "vhost", json_string(conn_vhost(c)));
    json_object_set_new(o, "user", json_string(user_name(c)));
    json_object_set_new(o, "user_who_performed_action", json_string(user_name(c)));
    json_object_set_new(o, "state", json_string(state));
    json_object_set_new(o, "type", json_string("network"));
    json_object_set_new(o, "protocol", json_string("AMQP 0-9-1"));
    json_object_set_new(o, "auth_mechanism", json_string("PLAIN"));
    set_tls_fields(o, c);
    json_object_set_new(o, "peer_host", json_string(host));
    json_object_set_new(o, "peer_port", json_integer(port));
    json_object_set_new(o, "host", json_string(local));
    json_object_set_new(o, "port", json_integer(local_port(ctx, c)));
    json_object_set_new(o, "channels", json_integer(conn_channel_count(c)));
    json_object_set_new(o, "channel_max", json_integer(conn_channel_max(c)));
    json_object_set_new(o, "frame_max", json_integer(conn_frame_max(c)));
    json_object_set_new(o, "timeout", json_integer(conn_heartbeat(c)));
    json_object_set_new(o, "connected_at",
                        json_integer((json_int_t)(conn_connected_at(c) * 1000.0)));
    json_object_set_new(o, "recv_oct", json_integer((json_int_t)conn_recv_oct(c)));
    json_object_set_new(o, "send_oct", json_integer((json_int_t)conn_send_oct(c)));
    json_object_set_new(o, "recv_oct_details", mgmt_details_new(0.0));
    json_object_set_new(o, "send_oct_details", mgmt_details_new(0.0));
    json_object_set_new(o, "send_pend", json_integer((json_int_t)conn_send_pending(c)));
    json_object_set_new(o, "client_properties", json_table_new(conn_client_properties(c)));
    return o;
}

static void chan_name(const struct mgmt_ctx *ctx, struct chan *ch, char *out, size_t size)
{
    char cname[400];

    mgmt_conn_name(ctx, chan_conn(ch), cname, sizeof(cname));
    snprintf(out, size, "%s (%u)", cname, (unsigned)chan_number(ch));
}

json_t *mgmt_channel_new(const struct mgmt_ctx *ctx, struct chan *ch)
{
    struct conn *c = chan_conn(ch);
    char name[420], cname[400], host[128];
    long port;

    chan_name(ctx, ch, name, sizeof(name));
    mgmt_conn_name(ctx, c, cname, sizeof(cname));
    split_peer(conn_peer(c), host, sizeof(host), &port);
    return json_pack(
        "{s:s, s:s, s:i, s:s, s:s, s:s, s:{s:s, s:s, s:i}, s:i, s:i, s:i, s:i, s:b, s:b, s:i, "
        "s:i, s:i}",
        "name", name, "node", mgmt_node_name(), "number", (int)chan_number(ch), "vhost",
        conn_vhost(c), "user", user_name(c), "state", chan_is_open(ch) ? "running" : "closing",
        "connection_details", "name", cname, "peer_host", host, "peer_port", (int)port,
        "consumer_count", (int)chan_consumer_count(ch), "messages_unacknowledged",
        (int)chan_unacked_count(ch), "prefetch_count", (int)chan_prefetch(ch),
        "global_prefetch_count", (int)chan_global_prefetch(ch), "confirm", chan_in_confirm_mode(ch),
        "transactional", chan_in_tx(ch), "messages_unconfirmed", 0, "messages_uncommitted", 0,
        "acks_uncommitted", 0);
}

struct consumer_walk {
    const struct mgmt_ctx *ctx;
    const char *vhost;
    json_t *arr;
};

static void add_consumer(void *arg, struct chan *ch, const char *tag, struct queue *q, bool no_ack,
                         uint16_t prefetch)
{
    struct consumer_walk *w = arg;
    struct conn *c = chan_conn(ch);
    char name[420], cname[400], host[128];
    long port;

    if (w->vhost && strcmp(w->vhost, queue_vhost(q)) != 0)
        return;
    chan_name(w->ctx, ch, name, sizeof(name));
    mgmt_conn_name(w->ctx, c, cname, sizeof(cname));
    split_peer(conn_peer(c), host, sizeof(host), &port);
    json_array_append_new(
        w->arr,
        json_pack("{s:s, s:{s:s, s:s}, s:{s:s, s:i, s:s, s:s, s:s, s:i, s:s}, s:b, s:b, s:i, "
                  "s:{}, s:b, s:s}",
                  "consumer_tag", tag, "queue", "name", queue_name(q), "vhost", queue_vhost(q),
                  "channel_details", "name", name, "number", (int)chan_number(ch),
                  "connection_name", cname, "node", mgmt_node_name(), "peer_host", host,
                  "peer_port", (int)port, "user", user_name(c), "ack_required", !no_ack,
                  "exclusive", 0, "prefetch_count", (int)prefetch, "arguments", "active", 1,
                  "activity_status", "up"));
}

void mgmt_consumers_append(const struct mgmt_ctx *ctx, struct chan *ch, const char *vhost,
                           json_t *arr)
{
    struct consumer_walk w = {ctx, vhost, arr};

    chan_for_each_consumer(ch, add_consumer, &w);
}
