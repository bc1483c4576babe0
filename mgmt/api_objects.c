/* SPDX-License-Identifier: MIT */
/*
 * api_objects: queues, exchanges, bindings, connections, channels and
 * consumers. Changes go through broker/ops.h with the HTTP user's
 * permissions, so the rules and texts are the AMQP ones; AMQP reply codes
 * map to statuses as in RabbitMQ's management plugin: 403 -> 401
 * "not_authorised", 404 -> 404, anything else -> 400 with the reply text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/auth.h"
#include "broker/buf.h"
#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/json_table.h"
#include "broker/msg.h"
#include "broker/ops.h"
#include "broker/publish.h"
#include "broker/stats.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "mgmt/api.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

void mgmt__reply_proto_err(struct mgmt_req *r, const struct proto_err *e)
{
    if (e->code == SPEC_ACCESS_REFUSED)
        mgmt_reply_not_authorised(r, "Access refused.");
    else if (e->code == SPEC_NOT_FOUND)
        mgmt_reply_not_found(r);
    else
        mgmt_reply_bad_request(r, e->text);
}

void mgmt__ops_ctx(struct mgmt_req *r, struct vhost *v, struct ops_ctx *o)
{
    o->auth = r->ctx->auth;
    o->user = r->user;
    o->vh = v;
    o->conn_id = 0;
}

/* The URL names the default exchange "amq.default". */
static struct view exchange_arg(struct mgmt_req *r, size_t i)
{
    struct view n = mgmt_arg(r, i);
    return view_eq_str(n, "amq.default") ? (struct view){(const uint8_t *)"", 0} : n;
}

/* ---- connections, channels, consumers ---- */

struct conn_walk {
    struct mgmt_req *r;
    const char *vhost; /* filter, or NULL */
    const char *name;  /* find by name, or NULL */
    struct conn *found;
    json_t *arr;
};

/* rabbit_mgmt_util:is_authorized_user: a user's own connections and channels
 * are theirs to read and close; monitoring users read everyone's and
 * administrators also close them. Lists show what the user may read. */
static bool conn_allowed(const struct mgmt_req *r, struct conn *c, bool to_close)
{
    if (!r->user || strcmp(auth_user_name(conn_user(c)), auth_user_name(r->user)) == 0)
        return true;
    return to_close ? mgmt__is_admin(r) : mgmt__is_monitor(r);
}

/* Open connections only: one still in its handshake has no user yet. */
static bool conn_listed(struct conn *c)
{
    return conn_user(c) && conn_state(c) >= CONN_OPEN;
}

static void walk_conn(struct conn *c, void *arg)
{
    struct conn_walk *w = arg;
    char name[400];

    if (!conn_listed(c) || (w->vhost && strcmp(w->vhost, conn_vhost(c)) != 0))
        return;
    if (w->name) {
        mgmt_conn_name(w->r->ctx, c, name, sizeof(name));
        if (!w->found && strcmp(name, w->name) == 0)
            w->found = c;
        return;
    }
    if (conn_allowed(w->r, c, false))
        json_array_append_new(w->arr, mgmt_connection_new(w->r->ctx, c));
}

/* The connection named name, whoever it belongs to (NULL: none). */
static struct conn *find_conn(struct mgmt_req *r, struct view name)
{
    char *n = xstrndup_view(name);
    struct conn_walk w = {r, NULL, n, NULL, NULL};

    conn_for_each(walk_conn, &w);
    free(n);
    return w.found;
}

/* 404 when there is no such connection, 401 when it is not the user's to
 * read (or to close); else the connection. */
static struct conn *conn_arg(struct mgmt_req *r, bool to_close)
{
    struct conn *c = find_conn(r, mgmt_arg(r, 0));

    if (!c) {
        mgmt_reply_not_found(r);
        return NULL;
    }
    if (!conn_allowed(r, c, to_close)) {
        mgmt_reply_not_authorised(r, "User not authorised to access object");
        return NULL;
    }
    return c;
}

void mgmt__h_connections(struct mgmt_req *r)
{
    struct conn_walk w = {r, NULL, NULL, NULL, json_array()};
    char *vh = NULL;

    if (r->match.id == MGMT_R_VHOST_CONNECTIONS) {
        if (!(w.vhost = vh = mgmt__vhost_name_arg(r, 0))) {
            json_decref(w.arr);
            return;
        }
    }
    conn_for_each(walk_conn, &w);
    free(vh);
    mgmt_reply_list(r, w.arr);
}

void mgmt__h_connection(struct mgmt_req *r)
{
    struct conn *c = conn_arg(r, r->method == MGMT_DELETE);

    if (!c) {
        /* replied */
    } else if (r->method == MGMT_DELETE) {
        /* RabbitMQ closes with 320 CONNECTION_FORCED, reason "Closed via management plugin". */
        conn_force_close(c, "Closed via management plugin");
        mgmt_reply(r, 204, NULL);
    } else {
        mgmt_reply(r, 200, mgmt_connection_new(r->ctx, c));
    }
}

struct chan_walk {
    struct mgmt_req *r;
    json_t *arr;
    const char *find; /* channel name, or NULL */
    json_t *found;
    struct conn *found_conn;
    bool consumers;
    const char *vhost;
};

static void walk_chan(struct chan *ch, void *arg)
{
    struct chan_walk *w = arg;

    if (w->consumers) {
        mgmt_consumers_append(w->r->ctx, ch, w->vhost, w->arr);
        return;
    }
    if (w->find) {
        json_t *o;
        if (w->found)
            return;
        o = mgmt_channel_new(w->r->ctx, ch);
        if (strcmp(json_string_value(json_object_get(o, "name")), w->find) == 0) {
            w->found = o;
            w->found_conn = chan_conn(ch);
        } else
            json_decref(o);
        return;
    }
    json_array_append_new(w->arr, mgmt_channel_new(w->r->ctx, ch));
}

static void walk_conn_chans(struct conn *c, void *arg)
{
    struct chan_walk *w = arg;

    if (!conn_listed(c) || (!w->find && !conn_allowed(w->r, c, false)))
        return;
    if (!w->consumers && w->vhost && strcmp(w->vhost, conn_vhost(c)) != 0)
        return;
    conn_for_each_chan(c, walk_chan, w);
}

void mgmt__h_channels(struct mgmt_req *r)
{
    struct chan_walk w = {r, json_array(), NULL, NULL, NULL, false, NULL};
    char *vh = NULL;

    if (r->match.id == MGMT_R_CONNECTION_CHANNELS) {
        struct conn *c = conn_arg(r, false);
        if (!c) {
            json_decref(w.arr);
            return;
        }
        conn_for_each_chan(c, walk_chan, &w);
    } else {
        if (r->match.id == MGMT_R_VHOST_CHANNELS) {
            if (!(w.vhost = vh = mgmt__vhost_name_arg(r, 0))) {
                json_decref(w.arr);
                return;
            }
        }
        conn_for_each(walk_conn_chans, &w);
    }
    free(vh);
    mgmt_reply_list(r, w.arr);
}

void mgmt__h_channel(struct mgmt_req *r)
{
    char *name = xstrndup_view(mgmt_arg(r, 0));
    struct chan_walk w = {r, NULL, name, NULL, NULL, false, NULL};

    conn_for_each(walk_conn_chans, &w);
    free(name);
    if (!w.found) {
        mgmt_reply_not_found(r);
    } else if (!conn_allowed(r, w.found_conn, false)) {
        json_decref(w.found);
        mgmt_reply_not_authorised(r, "User not authorised to access object");
    } else {
        mgmt_reply(r, 200, w.found);
    }
}

void mgmt__h_consumers(struct mgmt_req *r)
{
    struct chan_walk w = {r, json_array(), NULL, NULL, NULL, true, NULL};
    char *vh = NULL;

    if (r->match.id == MGMT_R_CONSUMERS_VHOST) {
        if (!(w.vhost = vh = mgmt__vhost_name_arg(r, 0))) {
            json_decref(w.arr);
            return;
        }
    }
    conn_for_each(walk_conn_chans, &w);
    /* Consumers of vhosts the user cannot see are dropped. */
    if (r->user && !mgmt__is_monitor(r)) {
        size_t i = 0;
        while (i < json_array_size(w.arr)) {
            json_t *q = json_object_get(json_array_get(w.arr, i), "queue");
            if (!mgmt__vhost_visible(r, json_string_value(json_object_get(q, "vhost"))))
                json_array_remove(w.arr, i);
            else
                i++;
        }
    }
    free(vh);
    mgmt_reply_list(r, w.arr);
}

/* ---- exchanges ---- */

struct exch_walk {
    const char *vhost;
    json_t *arr;
};

static void add_exch(struct exch *x, void *arg)
{
    struct exch_walk *w = arg;
    json_array_append_new(w->arr, mgmt_exchange_new(x, w->vhost));
}

void mgmt__h_exchanges(struct mgmt_req *r)
{
    json_t *arr = json_array();

    if (r->match.id == MGMT_R_EXCHANGES_VHOST) {
        struct vhost *v = mgmt__vhost_arg(r, 0);
        struct exch_walk w = {v ? vhost_name(v) : NULL, arr};
        if (!v) {
            json_decref(arr);
            return;
        }
        vhost_for_each_exch(v, add_exch, &w);
    } else {
        for (size_t i = 0; i < vhost_count(); i++) {
            struct vhost *v = vhost_at(i);
            struct exch_walk w = {vhost_name(v), arr};
            if (mgmt__vhost_visible(r, vhost_name(v)))
                vhost_for_each_exch(v, add_exch, &w);
        }
    }
    mgmt_reply_list(r, arr);
}

/* JSON "arguments" -> checked table bytes in b; false after replying 400. */
static bool body_args(struct mgmt_req *r, const json_t *body, struct buf *b)
{
    char err[200];

    if (json_table_encode(json_object_get(body, "arguments"), b, err, sizeof(err)) < 0) {
        mgmt_reply_bad_request(r, err);
        return false;
    }
    return true;
}

static bool body_bool(const json_t *body, const char *key, bool def)
{
    json_t *j = json_object_get(body, key);
    if (json_is_boolean(j))
        return json_is_true(j);
    if (json_is_string(j))
        return strcmp(json_string_value(j), "true") == 0;
    return def;
}

static void put_exchange(struct mgmt_req *r, struct vhost *v, struct view name)
{
    json_t *body = mgmt_body_object(r);
    struct buf args = {0};
    struct proto_err e = {0};
    struct ops_ctx o;
    const char *type;
    unsigned flags;
    bool created;

    if (!body)
        return;
    if (!body_args(r, body, &args))
        goto out;
    type = json_string_value(json_object_get(body, "type"));
    flags = (body_bool(body, "durable", true) ? EXCH_F_DURABLE : 0) |
            (body_bool(body, "auto_delete", false) ? EXCH_F_AUTO_DELETE : 0) |
            (body_bool(body, "internal", false) ? EXCH_F_INTERNAL : 0);
    mgmt__ops_ctx(r, v, &o);
    if (ops_exchange_declare(&o, name, view_str(type ? type : "direct"), flags,
                             (struct view){args.p, args.len}, &created, &e) < 0)
        mgmt__reply_proto_err(r, &e);
    else
        mgmt_reply(r, created ? 201 : 204, NULL);
out:
    buf_free(&args);
    json_decref(body);
}

void mgmt__h_exchange(struct mgmt_req *r)
{
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct view name = exchange_arg(r, 1);
    struct proto_err e = {0};
    struct ops_ctx o;
    struct exch *x;
    bool existed;

    if (!v)
        return;
    if (r->method == MGMT_PUT) {
        put_exchange(r, v, name);
        return;
    }
    x = vhost_exch(v, name);
    if (r->method == MGMT_DELETE) {
        mgmt__ops_ctx(r, v, &o);
        if (!x)
            mgmt_reply_not_found(r);
        else if (ops_exchange_delete(&o, name, mgmt_query_true(r, "if-unused"), &existed, &e) < 0)
            mgmt__reply_proto_err(r, &e);
        else
            mgmt_reply(r, 204, NULL);
        return;
    }
    if (!x)
        mgmt_reply_not_found(r);
    else
        mgmt_reply(r, 200, mgmt_exchange_new(x, vhost_name(v)));
}

/* Bindings of a vhost that pass a filter on source / destination. */
static json_t *filter_bindings(struct vhost *v, const char *source, const char *dest,
                               const char *dest_type)
{
    json_t *all = mgmt_bindings_new(v), *out = json_array(), *b;
    size_t i;

    json_array_foreach(all, i, b)
    {
        const char *s = json_string_value(json_object_get(b, "source"));
        const char *d = json_string_value(json_object_get(b, "destination"));
        const char *t = json_string_value(json_object_get(b, "destination_type"));
        if ((source && strcmp(s, source)) || (dest && strcmp(d, dest)) ||
            (dest_type && strcmp(t, dest_type)))
            continue;
        json_array_append(out, b);
    }
    json_decref(all);
    return out;
}

void mgmt__h_exchange_bindings(struct mgmt_req *r)
{
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct view name = exchange_arg(r, 1);
    char *n;

    if (!v)
        return;
    if (!vhost_exch(v, name)) {
        mgmt_reply_not_found(r);
        return;
    }
    n = xstrndup_view(name);
    if (r->match.id == MGMT_R_EXCHANGE_BINDINGS_SOURCE)
        mgmt_reply(r, 200, filter_bindings(v, n, NULL, NULL));
    else
        mgmt_reply(r, 200, filter_bindings(v, NULL, n, "exchange"));
    free(n);
}

/* ---- publish and get ---- */

/* RabbitMQ lists every missing key: "[{key_missing,a},\n {key_missing,b}]". */
static bool require_keys(struct mgmt_req *r, const json_t *body, const char *const *keys, size_t n)
{
    char reason[512];
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        if (json_object_get(body, keys[i]))
            continue;
        o += (size_t)snprintf(reason + o, sizeof(reason) - o, "%s{key_missing,%s}",
                              o ? ",\n " : "[", keys[i]);
        if (o >= sizeof(reason))
            o = sizeof(reason) - 1;
    }
    if (!o)
        return true;
    snprintf(reason + o, sizeof(reason) - o, "]");
    mgmt_reply_bad_request(r, reason);
    return false;
}

static struct view jview(const json_t *j)
{
    return (struct view){(const uint8_t *)json_string_value(j), json_string_length(j)};
}

/* The string properties, by their management-API names (both directions). */
static const struct {
    const char *key;
    uint16_t flag;
    size_t off;
} string_props[] = {
    {"content_type", SPEC_PROP_CONTENT_TYPE, offsetof(struct spec_basic_props, content_type)},
    {"content_encoding", SPEC_PROP_CONTENT_ENCODING,
     offsetof(struct spec_basic_props, content_encoding)},
    {"correlation_id", SPEC_PROP_CORRELATION_ID, offsetof(struct spec_basic_props, correlation_id)},
    {"reply_to", SPEC_PROP_REPLY_TO, offsetof(struct spec_basic_props, reply_to)},
    {"expiration", SPEC_PROP_EXPIRATION, offsetof(struct spec_basic_props, expiration)},
    {"message_id", SPEC_PROP_MESSAGE_ID, offsetof(struct spec_basic_props, message_id)},
    {"type", SPEC_PROP_TYPE, offsetof(struct spec_basic_props, type)},
    {"user_id", SPEC_PROP_USER_ID, offsetof(struct spec_basic_props, user_id)},
    {"app_id", SPEC_PROP_APP_ID, offsetof(struct spec_basic_props, app_id)},
    {"cluster_id", SPEC_PROP_CLUSTER_ID, offsetof(struct spec_basic_props, cluster_id)},
};

/* Builds the content-header properties from the JSON "properties" object. */
static int encode_props(const json_t *p, struct buf *out, char *err, size_t errlen)
{
    struct spec_basic_props pr;
    struct buf headers = {0};
    json_t *j;
    int rc = -1;

    memset(&pr, 0, sizeof(pr));
    if (!json_is_object(p)) {
        snprintf(err, errlen, "properties must be an object");
        return -1;
    }
    for (size_t i = 0; i < ARRAY_LEN(string_props); i++) {
        j = json_object_get(p, string_props[i].key);
        if (!j)
            continue;
        if (!json_is_string(j) || json_string_length(j) > 255) {
            snprintf(err, errlen, "property %s must be a string of at most 255 bytes",
                     string_props[i].key);
            goto out;
        }
        pr.flags |= string_props[i].flag;
        memcpy((char *)&pr + string_props[i].off, &(struct view){jview(j).p, jview(j).n},
               sizeof(struct view));
    }
    if ((j = json_object_get(p, "delivery_mode"))) {
        if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > 255) {
            snprintf(err, errlen, "delivery_mode must be an integer");
            goto out;
        }
        pr.flags |= SPEC_PROP_DELIVERY_MODE;
        pr.delivery_mode = (uint8_t)json_integer_value(j);
    }
    if ((j = json_object_get(p, "priority"))) {
        if (!json_is_integer(j) || json_integer_value(j) < 0 || json_integer_value(j) > 255) {
            snprintf(err, errlen, "priority must be an integer");
            goto out;
        }
        pr.flags |= SPEC_PROP_PRIORITY;
        pr.priority = (uint8_t)json_integer_value(j);
    }
    if ((j = json_object_get(p, "timestamp"))) {
        if (!json_is_integer(j)) {
            snprintf(err, errlen, "timestamp must be an integer");
            goto out;
        }
        pr.flags |= SPEC_PROP_TIMESTAMP;
        pr.timestamp = (uint64_t)json_integer_value(j);
    }
    if ((j = json_object_get(p, "headers"))) {
        if (json_table_encode(j, &headers, err, errlen) < 0)
            goto out;
        pr.flags |= SPEC_PROP_HEADERS;
        pr.headers = (struct view){headers.p, headers.len};
    }
    spec_encode_props(&pr, buf_reserve(out, spec_props_size(&pr)));
    out->len += spec_props_size(&pr);
    rc = 0;
out:
    buf_free(&headers);
    return rc;
}

static int b64_decode(const char *in, size_t n, struct buf *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    uint32_t acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        const char *p;
        if (in[i] == '=' || in[i] == '\n' || in[i] == '\r')
            continue;
        p = memchr(tbl, in[i], 64);
        if (!p || !in[i])
            return -1;
        acc = acc << 6 | (uint32_t)(p - tbl);
        bits += 6;
        if (bits >= 8) {
            uint8_t c = (uint8_t)(acc >> (bits - 8));
            buf_append(out, &c, 1);
            bits -= 8;
        }
    }
    return 0;
}

json_t *mgmt__b64_new(struct view v)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = (v.n + 2) / 3 * 4;
    char *s = xmalloc(n + 1);
    size_t o = 0;
    json_t *j;

    for (size_t i = 0; i < v.n; i += 3) {
        uint32_t x = (uint32_t)v.p[i] << 16 | (i + 1 < v.n ? (uint32_t)v.p[i + 1] << 8 : 0) |
                     (i + 2 < v.n ? v.p[i + 2] : 0);
        s[o++] = tbl[x >> 18 & 63];
        s[o++] = tbl[x >> 12 & 63];
        s[o++] = i + 1 < v.n ? tbl[x >> 6 & 63] : '=';
        s[o++] = i + 2 < v.n ? tbl[x & 63] : '=';
    }
    s[o] = '\0';
    j = json_string(s);
    free(s);
    return j;
}

void mgmt__h_exchange_publish(struct mgmt_req *r)
{
    static const char *const keys[] = {"routing_key", "properties", "payload", "payload_encoding"};
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct view name = exchange_arg(r, 1), key, payload;
    struct buf props = {0}, decoded = {0};
    struct publish_result res = {0};
    struct proto_err e = {0};
    struct ops_ctx o;
    const char *enc;
    char err[200];
    struct exch *x;
    struct msg *m;
    json_t *body;

    if (!v || !(body = mgmt_body_object(r)))
        return;
    if (!require_keys(r, body, keys, ARRAY_LEN(keys)))
        goto out;
    mgmt__ops_ctx(r, v, &o);
    if (!(x = ops_exchange(&o, name, &e))) {
        mgmt__reply_proto_err(r, &e);
        goto out;
    }
    if (ops_check_access(&o, AUTH_WRITE, "exchange", name, &e) < 0) {
        /* RabbitMQ 3.10 publishes over an internal channel and reports its
         * close as 400 "403 ACCESS_REFUSED - access to exchange ...". */
        char text[300];
        snprintf(text, sizeof(text), "403 ACCESS_REFUSED - %s", e.text);
        mgmt_reply_bad_request(r, text);
        goto out;
    }
    if (!json_is_string(json_object_get(body, "routing_key")) ||
        json_string_length(json_object_get(body, "routing_key")) > 255 ||
        !json_is_string(json_object_get(body, "payload"))) {
        mgmt_reply_bad_request(r, "routing_key and payload must be strings");
        goto out;
    }
    key = jview(json_object_get(body, "routing_key"));
    payload = jview(json_object_get(body, "payload"));
    enc = json_string_value(json_object_get(body, "payload_encoding"));
    if (enc && strcmp(enc, "base64") == 0) {
        if (b64_decode((const char *)payload.p, payload.n, &decoded) < 0) {
            mgmt_reply_bad_request(r, "payload is not base64");
            goto out;
        }
        payload = (struct view){decoded.p, decoded.len};
    } else if (!enc || strcmp(enc, "string") != 0) {
        mgmt_reply_bad_request(r, "payload_encoding must be string or base64");
        goto out;
    }
    if (encode_props(json_object_get(body, "properties"), &props, err, sizeof(err)) < 0) {
        mgmt_reply_bad_request(r, err);
        goto out;
    }
    if (exch_flags(x) & EXCH_F_INTERNAL) {
        mgmt_reply_bad_request(r, "cannot publish to internal exchange");
        goto out;
    }
    m = msg_create(name, key, (struct view){props.p, props.len}, payload.n);
    if (!m) {
        mgmt_reply_bad_request(r, "message too large");
        goto out;
    }
    msg_append_body(m, payload);
    publish_route(v, x, m, &res);
    msg_unref(&m);
    stats.publish++;
    if (!res.routed)
        stats.drop_unroutable++;
    mgmt_reply(r, 200, json_pack("{s:b}", "routed", res.routed > 0));
out:
    buf_free(&props);
    buf_free(&decoded);
    json_decref(body);
}

json_t *mgmt__props_new(struct view raw)
{
    struct spec_basic_props pr;
    json_t *o = json_object();

    if (spec_decode_props(raw.p, raw.n, &pr) != 0)
        return o;
    for (size_t i = 0; i < ARRAY_LEN(string_props); i++)
        if (pr.flags & string_props[i].flag) {
            struct view v;
            memcpy(&v, (const char *)&pr + string_props[i].off, sizeof(v));
            json_object_set_new(o, string_props[i].key, json_table_string_new(v));
        }
    if (pr.flags & SPEC_PROP_HEADERS)
        json_object_set_new(o, "headers", json_table_new(pr.headers));
    if (pr.flags & SPEC_PROP_DELIVERY_MODE)
        json_object_set_new(o, "delivery_mode", json_integer(pr.delivery_mode));
    if (pr.flags & SPEC_PROP_PRIORITY)
        json_object_set_new(o, "priority", json_integer(pr.priority));
    if (pr.flags & SPEC_PROP_TIMESTAMP)
        json_object_set_new(o, "timestamp", json_integer((json_int_t)pr.timestamp));
    return o;
}

/* RabbitMQ's "auto" encoding: the payload as a string when it is UTF-8. */
void mgmt__payload_set(json_t *item, struct view body, bool base64)
{
    json_t *j = base64 ? NULL : json_stringn((const char *)body.p, body.n);

    if (j) {
        json_object_set_new(item, "payload", j);
        json_object_set_new(item, "payload_encoding", json_string("string"));
    } else {
        json_object_set_new(item, "payload", mgmt__b64_new(body));
        json_object_set_new(item, "payload_encoding", json_string("base64"));
    }
}

void mgmt__h_queue_get(struct mgmt_req *r)
{
    static const char *const keys[] = {"count", "ackmode", "encoding"};
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct proto_err e = {0};
    struct ops_ctx o;
    struct queue *q;
    json_t *body, *out;
    const char *ackmode, *enc;
    bool requeue, base64;
    json_int_t count, truncate = -1;
    struct held {
        struct msg *m;
        uint64_t seq;
    } *held = NULL;
    size_t nheld = 0;

    if (!v || !(body = mgmt_body_object(r)))
        return;
    if (!require_keys(r, body, keys, ARRAY_LEN(keys)))
        goto out_body;
    mgmt__ops_ctx(r, v, &o);
    if (!(q = ops_queue(&o, mgmt_arg(r, 1), &e))) {
        mgmt__reply_proto_err(r, &e);
        goto out_body;
    }
    if (ops_check_access(&o, AUTH_READ, "queue", mgmt_arg(r, 1), &e) < 0) {
        /* RabbitMQ 3.10 gets over an internal channel: 401 with the AMQP text. */
        char text[300];
        snprintf(text, sizeof(text), "ACCESS_REFUSED - %s", e.text);
        mgmt_reply_not_authorised(r, text);
        goto out_body;
    }
    if (queue_check_access(q, 0, &e) < 0) {
        mgmt__reply_proto_err(r, &e);
        goto out_body;
    }
    ackmode = json_string_value(json_object_get(body, "ackmode"));
    enc = json_string_value(json_object_get(body, "encoding"));
    count = json_integer_value(json_object_get(body, "count"));
    if (json_is_integer(json_object_get(body, "truncate")))
        truncate = json_integer_value(json_object_get(body, "truncate"));
    if (!enc || (strcmp(enc, "auto") && strcmp(enc, "base64"))) {
        mgmt_reply_bad_request(r, "Unsupported encoding. Please use auto or base64.");
        goto out_body;
    }
    base64 = strcmp(enc, "base64") == 0;
    if (!ackmode ||
        (strcmp(ackmode, "ack_requeue_true") && strcmp(ackmode, "reject_requeue_true") &&
         strcmp(ackmode, "ack_requeue_false") && strcmp(ackmode, "reject_requeue_false"))) {
        mgmt_reply_bad_request(r, "Unsupported ackmode.");
        goto out_body;
    }
    requeue = strstr(ackmode, "requeue_true") != NULL;
    out = json_array();
    held = xcalloc(count > 0 ? (size_t)count : 1, sizeof(*held));
    for (json_int_t i = 0; i < count; i++) {
        uint64_t seq;
        bool redelivered;
        struct msg *m = queue_get(q, true, &seq, &redelivered);
        struct view body_v;
        json_t *item;

        if (!m)
            break;
        stats.get++;
        if (redelivered)
            stats.redeliver++;
        body_v = msg_body(m);
        if (truncate >= 0 && body_v.n > (size_t)truncate)
            body_v.n = (size_t)truncate;
        item = json_object();
        json_object_set_new(item, "payload_bytes", json_integer((json_int_t)msg_body_size(m)));
        json_object_set_new(item, "redelivered", json_boolean(redelivered));
        json_object_set_new(item, "exchange", json_table_string_new(msg_exchange(m)));
        json_object_set_new(item, "routing_key", json_table_string_new(msg_routing_key(m)));
        json_object_set_new(item, "message_count", json_integer((json_int_t)queue_ready_count(q)));
        json_object_set_new(item, "properties", mgmt__props_new(msg_props(m)));
        mgmt__payload_set(item, body_v, base64);
        json_array_append_new(out, item);
        held[nheld].m = m;
        held[nheld++].seq = seq;
    }
    /* Settle at the end, as RabbitMQ does (one nack/ack for the batch), so a
     * requeued message is not fetched twice. */
    for (size_t i = 0; i < nheld; i++) {
        if (requeue) {
            queue_requeue(q, held[i].m, held[i].seq);
        } else {
            queue_ack_msg(q, held[i].m, held[i].seq);
            msg_unref(&held[i].m);
        }
    }
    if (requeue && nheld)
        queue_dispatch(q);
    mgmt_reply(r, 200, out);
    free(held);
out_body:
    json_decref(body);
}

/* ---- queues ---- */

/* Sort keys the list orders queue pointers by directly; any other key is
 * read from each queue's JSON for that one field (QS_JSON). */
enum qsort_key {
    QS_VHOST, /* the default: vhost, then name */
    QS_NAME,
    QS_MESSAGES,
    QS_READY,
    QS_UNACKED,
    QS_CONSUMERS,
    QS_BYTES,
    QS_ALL_BYTES,
    QS_MEMORY,
    QS_JSON,
};

struct qsort_item {
    struct queue *q;
    const char *vhost; /* the registry's name: one pointer per vhost */
    const char *name;
    json_t *obj;       /* QS_JSON: {"<top-level key>": value} (owned) */
    const json_t *key; /* QS_JSON: the sort value in obj, NULL when missing */
};

struct queue_walk {
    struct qsort_item *it;
    size_t n, cap;
    const char *vhost;
};

static void add_queue(struct queue *q, void *arg)
{
    struct queue_walk *w = arg;

    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 256;
        w->it = xrealloc(w->it, w->cap * sizeof(*w->it));
    }
    w->it[w->n++] = (struct qsort_item){q, w->vhost, queue_name(q), NULL, NULL};
}

static int cmp_vhost_name(const struct qsort_item *a, const struct qsort_item *b)
{
    int c = a->vhost == b->vhost ? 0 : strcmp(a->vhost, b->vhost);
    return c ? c : strcmp(a->name, b->name);
}

/* qsort has no context argument; everything runs on the loop thread. */
static enum qsort_key qs_key;

static uint64_t qs_num(const struct queue *q)
{
    switch (qs_key) {
    case QS_MESSAGES:
        return queue_ready_count(q) + queue_unacked_count(q);
    case QS_READY:
        return queue_ready_count(q);
    case QS_UNACKED:
        return queue_unacked_count(q);
    case QS_CONSUMERS:
        return queue_consumer_count(q);
    case QS_BYTES:
        return queue_ready_bytes(q);
    case QS_MEMORY:
        return mgmt_queue_memory(q);
    case QS_ALL_BYTES: {
        struct queue_msg_stats ms;
        queue_msg_stats(q, &ms);
        return queue_ready_bytes(q) + ms.unacked_bytes;
    }
    case QS_VHOST:
    case QS_NAME:
    case QS_JSON:
        break;
    }
    return 0;
}

/* By the key, then vhost and name, so equal keys keep the default order. */
static int cmp_queue(const void *a, const void *b)
{
    const struct qsort_item *ia = a, *ib = b;
    int c;

    if (qs_key == QS_NAME) {
        c = strcmp(ia->name, ib->name);
        return c ? c : strcmp(ia->vhost, ib->vhost);
    }
    if (qs_key == QS_JSON) {
        if ((c = mgmt_json_cmp(ia->key, ib->key)) != 0)
            return c;
    } else if (qs_key != QS_VHOST) {
        uint64_t nx = qs_num(ia->q), ny = qs_num(ib->q);
        if (nx != ny)
            return nx < ny ? -1 : 1;
    }
    return cmp_vhost_name(ia, ib);
}

/* The sort key for l (numeric keys a disable_stats object lacks sort as
 * missing, i.e. through QS_JSON). */
static enum qsort_key sort_key(const struct mgmt_list *l, bool full)
{
    static const struct {
        const char *name;
        enum qsort_key key;
        bool full_only;
    } keys[] = {
        {"vhost", QS_VHOST, false},
        {"name", QS_NAME, false},
        {"messages", QS_MESSAGES, false},
        {"messages_ready", QS_READY, false},
        {"messages_unacknowledged", QS_UNACKED, false},
        {"consumers", QS_CONSUMERS, true},
        {"message_bytes", QS_ALL_BYTES, true},
        {"message_bytes_ready", QS_BYTES, true},
        {"memory", QS_MEMORY, true},
    };

    if (!l->has_sort)
        return QS_VHOST;
    for (size_t i = 0; i < ARRAY_LEN(keys); i++)
        if (strcmp(l->sort, keys[i].name) == 0 && (full || !keys[i].full_only))
            return keys[i].key;
    return QS_JSON;
}

/* QS_JSON: reads each queue's value at the (dotted) sort key from the JSON
 * of its top-level field only. */
static void load_json_keys(const struct mgmt_req *r, const char *sort, struct qsort_item *it,
                           size_t n, bool full)
{
    char top[256];
    struct buf b = {0};

    snprintf(top, sizeof(top), "%.*s", (int)strcspn(sort, "."), sort);
    for (size_t i = 0; i < n; i++) {
        b.len = 0;
        mgmt_queue_write(&b, r->ctx, it[i].q, full, top);
        it[i].obj = json_loadb((const char *)b.p, b.len, JSON_ALLOW_NUL, NULL);
        it[i].key = it[i].obj ? mgmt_json_path(it[i].obj, sort) : NULL;
    }
    buf_free(&b);
}

/* The top-level keys of dotted columns ("a.b,c" -> "a,c"), or NULL when no
 * column is dotted. Owned by the caller. */
static char *column_tops(const struct mgmt_list *l)
{
    struct buf b = {0};

    if (!l->has_columns || !strchr(l->columns, '.'))
        return NULL;
    for (const char *c = l->columns; *c;) {
        size_t n = strcspn(c, ","), top = strcspn(c, ".,");
        if (b.len)
            buf_append(&b, ",", 1);
        buf_append(&b, c, top);
        c += n + (c[n] == ',');
    }
    buf_append(&b, "", 1);
    return (char *)b.p;
}

/* One item of the page: written directly, or, with dotted columns (tops
 * not NULL), as the fields they start from, cut by mgmt_columns. */
static void write_queue_item(struct buf *b, const struct mgmt_req *r, const struct mgmt_list *l,
                             const char *tops, struct queue *q, bool full)
{
    size_t start = b->len;
    json_t *o;

    mgmt_queue_write(b, r->ctx, q, full, tops ? tops : l->has_columns ? l->columns : NULL);
    if (!tops)
        return;
    o = json_loadb((const char *)b->p + start, b->len - start, JSON_ALLOW_NUL, NULL);
    b->len = start;
    if (o)
        mgmt_columns(o, l->columns);
    mgmt_jw_json(b, o ? o : json_object());
    json_decref(o);
}

/* mgmt_reply_list for queues, without building 10,000 jansson objects:
 * filter and sort pointers, then write only the requested page as text. */
static void reply_queue_list(struct mgmt_req *r, const struct mgmt_list *l, struct qsort_item *it,
                             size_t n, bool full)
{
    char *tops = column_tops(l);
    struct buf b = {0};
    size_t kept = 0, from, to;

    for (size_t i = 0; i < n; i++)
        if (mgmt_list_name_matches(l, it[i].name))
            it[kept++] = it[i];
    qs_key = sort_key(l, full);
    if (qs_key == QS_JSON)
        load_json_keys(r, l->sort, it, kept, full);
    if (kept > 1)
        qsort(it, kept, sizeof(*it), cmp_queue);
    if (l->reverse)
        for (size_t i = 0; i < kept / 2; i++) {
            struct qsort_item t = it[i];
            it[i] = it[kept - 1 - i];
            it[kept - 1 - i] = t;
        }
    mgmt_list_page(l, kept, &from, &to);
    if (l->paged) {
        mgmt_jw_raw(&b, "{\"filtered_count\":");
        mgmt_jw_int(&b, (long long)kept);
        mgmt_jw_raw(&b, ",\"item_count\":");
        mgmt_jw_int(&b, (long long)(to - from));
        mgmt_jw_raw(&b, ",\"items\":");
    }
    buf_append(&b, "[", 1);
    for (size_t i = from; i < to; i++) {
        if (i > from)
            buf_append(&b, ",", 1);
        write_queue_item(&b, r, l, tops, it[i].q, full);
    }
    buf_append(&b, "]", 1);
    if (l->paged) {
        size_t pages = (kept + (size_t)l->page_size - 1) / (size_t)l->page_size;
        mgmt_jw_raw(&b, ",\"page\":");
        mgmt_jw_int(&b, l->page);
        mgmt_jw_raw(&b, ",\"page_count\":");
        mgmt_jw_int(&b, (long long)(pages ? pages : 1));
        mgmt_jw_raw(&b, ",\"page_size\":");
        mgmt_jw_int(&b, l->page_size);
        mgmt_jw_raw(&b, ",\"total_count\":");
        mgmt_jw_int(&b, (long long)n);
        buf_append(&b, "}", 1);
    }
    for (size_t i = 0; i < kept; i++)
        json_decref(it[i].obj);
    free(tops);
    mgmt_reply(r, 200, NULL);
    r->text = (char *)b.p;
    r->text_len = b.len;
}

/* Queues are gathered as pointers (with their vhost's registry name, so
 * comparing vhosts is mostly a pointer comparison) and the list is written
 * as text; the parameters are mgmt_reply_list's. */
void mgmt__h_queues(struct mgmt_req *r)
{
    struct queue_walk w = {NULL, 0, 0, NULL};
    bool full = !mgmt_query_true(r, "disable_stats");
    struct mgmt_list l;

    if (r->match.id == MGMT_R_QUEUES_VHOST) {
        struct vhost *v = mgmt__vhost_arg(r, 0);
        if (!v)
            return;
        w.vhost = vhost_name(v);
        vhost_for_each_queue(v, add_queue, &w);
    } else {
        for (size_t i = 0; i < vhost_count(); i++) {
            struct vhost *v = vhost_at(i);
            w.vhost = vhost_name(v);
            if (mgmt__vhost_visible(r, w.vhost))
                vhost_for_each_queue(v, add_queue, &w);
        }
    }
    if (mgmt_list_begin(r, &l)) {
        reply_queue_list(r, &l, w.it, w.n, full);
        mgmt_list_end(&l);
    }
    free(w.it);
}

static void put_queue(struct mgmt_req *r, struct vhost *v, struct view name)
{
    json_t *body = mgmt_body_object(r);
    struct buf args = {0};
    struct proto_err e = {0};
    struct ops_ctx o;
    unsigned flags;
    bool created;

    if (!body)
        return;
    if (!body_args(r, body, &args))
        goto out;
    /* Exclusive queues need a connection to own them; HTTP declares none. */
    flags = (body_bool(body, "durable", true) ? QUEUE_F_DURABLE : 0) |
            (body_bool(body, "auto_delete", false) ? QUEUE_F_AUTO_DELETE : 0);
    mgmt__ops_ctx(r, v, &o);
    if (!name.n)
        mgmt_reply_bad_request(r, "queue name must not be empty");
    else if (ops_queue_name_check(name, &e) < 0 ||
             !ops_queue_declare(&o, name, flags, (struct view){args.p, args.len}, &created, &e))
        mgmt__reply_proto_err(r, &e);
    else
        mgmt_reply(r, created ? 201 : 204, NULL);
out:
    buf_free(&args);
    json_decref(body);
}

void mgmt__h_queue(struct mgmt_req *r)
{
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct proto_err e = {0};
    struct ops_ctx o;
    struct queue *q;

    if (!v)
        return;
    if (r->method == MGMT_PUT) {
        put_queue(r, v, mgmt_arg(r, 1));
        return;
    }
    q = vhost_queue(v, mgmt_arg(r, 1));
    if (!q) {
        mgmt_reply_not_found(r);
        return;
    }
    if (r->method == MGMT_DELETE) {
        mgmt__ops_ctx(r, v, &o);
        if (ops_queue_delete(&o, q, mgmt_query_true(r, "if-unused"), mgmt_query_true(r, "if-empty"),
                             NULL, &e) < 0)
            mgmt__reply_proto_err(r, &e);
        else
            mgmt_reply(r, 204, NULL);
        return;
    }
    mgmt_reply(r, 200, mgmt_queue_new(r->ctx, q, true));
}

void mgmt__h_queue_bindings(struct mgmt_req *r)
{
    struct vhost *v = mgmt__vhost_arg(r, 0);
    char *n;

    if (!v)
        return;
    if (!vhost_queue(v, mgmt_arg(r, 1))) {
        mgmt_reply_not_found(r);
        return;
    }
    n = xstrndup_view(mgmt_arg(r, 1));
    mgmt_reply(r, 200, filter_bindings(v, NULL, n, "queue"));
    free(n);
}

void mgmt__h_queue_contents(struct mgmt_req *r)
{
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct proto_err e = {0};
    struct ops_ctx o;
    struct queue *q;

    if (!v)
        return;
    if (!(q = vhost_queue(v, mgmt_arg(r, 1)))) {
        mgmt_reply_not_found(r);
        return;
    }
    mgmt__ops_ctx(r, v, &o);
    if (ops_queue_purge(&o, q, NULL, &e) < 0)
        mgmt__reply_proto_err(r, &e);
    else
        mgmt_reply(r, 204, NULL);
}

/* ---- bindings ---- */

void mgmt__h_bindings(struct mgmt_req *r)
{
    json_t *arr;

    if (r->match.id == MGMT_R_BINDINGS_VHOST) {
        struct vhost *v = mgmt__vhost_arg(r, 0);
        if (v)
            mgmt_reply(r, 200, mgmt_bindings_new(v));
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < vhost_count(); i++) {
        struct vhost *v = vhost_at(i);
        if (mgmt__vhost_visible(r, vhost_name(v))) {
            json_t *b = mgmt_bindings_new(v);
            json_array_extend(arr, b);
            json_decref(b);
        }
    }
    mgmt_reply(r, 200, arr);
}

/* Resolves /e/{source}/q|e/{destination}: 404 when either is missing. */
static bool binding_ends(struct mgmt_req *r, struct vhost **v, struct exch **src, struct queue **dq,
                         struct exch **dx)
{
    bool to_queue = r->match.id == MGMT_R_BINDINGS_EQ || r->match.id == MGMT_R_BINDING_EQ;

    if (!(*v = mgmt__vhost_arg(r, 0)))
        return false;
    *src = vhost_exch(*v, exchange_arg(r, 1));
    *dq = to_queue ? vhost_queue(*v, mgmt_arg(r, 2)) : NULL;
    *dx = to_queue ? NULL : vhost_exch(*v, exchange_arg(r, 2));
    if (!*src || (to_queue ? !*dq : !*dx)) {
        mgmt_reply_not_found(r);
        return false;
    }
    return true;
}

void mgmt__h_bindings_between(struct mgmt_req *r)
{
    struct vhost *v;
    struct exch *src, *dx;
    struct queue *dq;
    struct proto_err e = {0};
    struct ops_ctx o;
    struct buf args = {0};
    json_t *body, *key;
    char *s, *d;

    if (!binding_ends(r, &v, &src, &dq, &dx))
        return;
    s = xstrdup(exch_name(src));
    d = xstrdup(dq ? queue_name(dq) : exch_name(dx));
    if (r->method != MGMT_POST) {
        mgmt_reply(r, 200, filter_bindings(v, s, d, dq ? "queue" : "exchange"));
        goto out_names;
    }
    if (!(body = mgmt_body_object(r)))
        goto out_names;
    key = json_object_get(body, "routing_key");
    if ((key && (!json_is_string(key) || json_string_length(key) > 255)) ||
        !body_args(r, body, &args)) {
        if (!r->status)
            mgmt_reply_bad_request(r, "routing_key must be a string of at most 255 bytes");
        goto out_body;
    }
    mgmt__ops_ctx(r, v, &o);
    {
        struct view k = key ? jview(key) : (struct view){(const uint8_t *)"", 0};
        struct view a = {args.p, args.len};
        int rc;
        if (!src || !exch_name(src)[0])
            rc = ops_default_exchange_refused(&e);
        else if (dq)
            rc = ops_queue_bind(&o, view_str(d), view_str(s), k, a, true, &e);
        else
            rc = ops_exchange_bind(&o, view_str(d), view_str(s), k, a, true, &e);
        if (rc < 0) {
            mgmt__reply_proto_err(r, &e);
        } else {
            char props[600];
            mgmt_props_key(k, a, props, sizeof(props));
            snprintf(r->location, sizeof(r->location), "%s/%s", d, props);
            mgmt_reply(r, 201, NULL);
        }
    }
out_body:
    buf_free(&args);
    json_decref(body);
out_names:
    free(s);
    free(d);
}

struct props_find {
    const char *props;
    struct queue *dq;
    const struct exch *dx;
    bool found;
    struct buf key, args;
};

static void find_props(void *arg, const struct exch *src, struct queue *dq, const struct exch *dx,
                       struct view key, struct view args)
{
    struct props_find *f = arg;
    char props[1024];
    (void)src;

    if (f->found || dq != f->dq || dx != f->dx)
        return;
    mgmt_props_key(key, args, props, sizeof(props));
    if (strcmp(props, f->props) != 0)
        return;
    f->found = true;
    buf_append(&f->key, key.p, key.n);
    buf_append(&f->args, args.p, args.n);
}

void mgmt__h_binding(struct mgmt_req *r)
{
    struct vhost *v;
    struct exch *src, *dx;
    struct queue *dq;
    struct props_find f = {0};
    struct proto_err e = {0};
    struct ops_ctx o;
    char *props;

    if (!binding_ends(r, &v, &src, &dq, &dx))
        return;
    props = xstrndup_view(mgmt_arg(r, 3));
    f.props = props;
    f.dq = dq;
    f.dx = dx;
    exch_for_each_binding(src, find_props, &f);
    if (!exch_name(src)[0] && dq && strcmp(props, queue_name(dq)) == 0 && !dx) {
        /* The default exchange's implicit binding: readable, never deletable. */
        f.found = true;
        buf_append(&f.key, queue_name(dq), strlen(queue_name(dq)));
    }
    if (!f.found) {
        mgmt_reply_not_found(r);
    } else if (r->method == MGMT_DELETE) {
        struct view k = {f.key.p, f.key.len}, a = {f.args.p, f.args.len};
        int rc;
        mgmt__ops_ctx(r, v, &o);
        if (!exch_name(src)[0])
            rc = ops_default_exchange_refused(&e);
        else if (dq)
            rc = ops_queue_bind(&o, view_str(queue_name(dq)), view_str(exch_name(src)), k, a, false,
                                &e);
        else
            rc = ops_exchange_bind(&o, view_str(exch_name(dx)), view_str(exch_name(src)), k, a,
                                   false, &e);
        if (rc < 0)
            mgmt__reply_proto_err(r, &e);
        else
            mgmt_reply(r, 204, NULL);
    } else {
        mgmt_reply(r, 200,
                   mgmt_binding_new(vhost_name(v), exch_name(src),
                                    dq ? queue_name(dq) : exch_name(dx), dq != NULL,
                                    (struct view){f.key.p, f.key.len},
                                    (struct view){f.args.p, f.args.len}));
    }
    buf_free(&f.key);
    buf_free(&f.args);
    free(props);
}
