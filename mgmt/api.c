/* SPDX-License-Identifier: MIT */
/*
 * api: the route-id -> handler table, reply and access helpers, and the
 * handlers for the node, users, vhosts, permissions, definitions, health
 * checks and metrics. Queue, exchange, binding and connection handlers are
 * in mgmt/api_objects.c.
 *
 * Rights follow RabbitMQ's tags (rabbit_mgmt_util): any of administrator,
 * management, policymaker or monitoring gets in; lists show the vhosts the
 * user has permissions on (monitoring and administrator see all); a path
 * naming a vhost needs permissions on it (administrators pass, their
 * permissions still decide what they may do there); a single vhost, users,
 * permissions and definitions are for administrators; nodes for monitoring;
 * connections and channels of other users for monitoring to read and
 * administrators to close.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth.h"
#include "broker/chan.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/definitions.h"
#include "broker/loop.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "mgmt/api.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

/* ---- replies ---- */

void mgmt_reply(struct mgmt_req *r, unsigned status, json_t *j)
{
    json_decref(r->json);
    r->status = status;
    r->json = j;
}

void mgmt_reply_error(struct mgmt_req *r, unsigned status, const char *error, const char *reason)
{
    mgmt_reply(r, status, json_pack("{s:s, s:s}", "error", error, "reason", reason));
}

void mgmt_reply_not_found(struct mgmt_req *r)
{
    mgmt_reply_error(r, 404, "Object Not Found", "Not Found");
}

void mgmt_reply_bad_request(struct mgmt_req *r, const char *reason)
{
    mgmt_reply_error(r, 400, "bad_request", reason);
}

void mgmt_reply_not_authorised(struct mgmt_req *r, const char *reason)
{
    mgmt_reply_error(r, 401, "not_authorised", reason);
}

/* ---- request helpers ---- */

struct view mgmt_arg(const struct mgmt_req *r, size_t i)
{
    return i < r->match.nargs ? r->match.args[i] : (struct view){(const uint8_t *)"", 0};
}

bool mgmt_query(const struct mgmt_req *r, const char *key, char *out, size_t outlen)
{
    return mgmt_query_get(r->query, key, out, outlen) == 1;
}

bool mgmt_query_true(const struct mgmt_req *r, const char *key)
{
    char v[16];
    return mgmt_query(r, key, v, sizeof(v)) && strcmp(v, "true") == 0;
}

json_t *mgmt_body_object(struct mgmt_req *r)
{
    json_error_t e;
    json_t *j;

    if (r->body_len == 0)
        return json_object();
    j = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(j)) {
        json_decref(j);
        mgmt_reply_bad_request(r, "not_json");
        return NULL;
    }
    return j;
}

/* ---- access ---- */

bool mgmt_user_is_management(const struct auth_user *u)
{
    return auth_user_has_tag(u, "administrator") || auth_user_has_tag(u, "management") ||
           auth_user_has_tag(u, "policymaker") || auth_user_has_tag(u, "monitoring");
}

bool mgmt__is_admin(const struct mgmt_req *r)
{
    return r->user && auth_user_has_tag(r->user, "administrator");
}

bool mgmt__is_monitor(const struct mgmt_req *r)
{
    return r->user && (auth_user_has_tag(r->user, "administrator") ||
                       auth_user_has_tag(r->user, "monitoring"));
}

bool mgmt__require_admin(struct mgmt_req *r)
{
    if (mgmt__is_admin(r))
        return true;
    mgmt_reply_not_authorised(r, "Not administrator user");
    return false;
}

bool mgmt__vhost_visible(const struct mgmt_req *r, const char *vhost)
{
    if (!r->user)
        return true;
    if (!auth_vhost_exists(r->ctx->auth, view_str(vhost)))
        return false;
    return mgmt__is_monitor(r) || auth_vhost_access(r->ctx->auth, r->user, view_str(vhost));
}

struct vhost *mgmt__vhost_arg(struct mgmt_req *r, size_t i)
{
    struct view name = mgmt_arg(r, i);
    struct vhost *v;

    if (!auth_vhost_exists(r->ctx->auth, name) || !(v = vhost_find(name))) {
        mgmt_reply_not_found(r);
        return NULL;
    }
    /* is_authorized_vhost: administrators reach every vhost here (what they
     * may do in it is still up to their permissions); others need some. */
    if (r->user && !mgmt__is_admin(r) && !auth_vhost_access(r->ctx->auth, r->user, name)) {
        mgmt_reply_not_authorised(r, "User not authorised to access virtual host");
        return NULL;
    }
    return v;
}

char *mgmt__vhost_name_arg(struct mgmt_req *r, size_t i)
{
    return mgmt__vhost_arg(r, i) ? xstrndup_view(mgmt_arg(r, i)) : NULL;
}

/* ---- overview, nodes, whoami, extensions ---- */

static mgmt_handler h_overview, h_nodes, h_node, h_extensions, h_whoami;

static void h_overview(struct mgmt_req *r)
{
    mgmt_reply(r, 200, mgmt_overview_new(r->ctx, r->user));
}

static void h_nodes(struct mgmt_req *r)
{
    if (!mgmt__is_monitor(r)) {
        mgmt_reply_not_authorised(r, "Not monitor user");
        return;
    }
    mgmt_reply_list(r, json_pack("[o]", mgmt_node_new(r->ctx)));
}

static void h_node(struct mgmt_req *r)
{
    if (!mgmt__is_monitor(r)) {
        mgmt_reply_not_authorised(r, "Not monitor user");
        return;
    }
    if (!view_eq_str(mgmt_arg(r, 0), mgmt_node_name())) {
        mgmt_reply_not_found(r);
        return;
    }
    mgmt_reply(r, 200, mgmt_node_new(r->ctx));
}

static void h_extensions(struct mgmt_req *r)
{
    mgmt_reply(r, 200, json_array());
}

static json_t *tags_new(const struct auth_user *u)
{
    json_t *a = json_array();
    for (size_t i = 0; i < auth_user_tag_count(u); i++)
        json_array_append_new(a, json_string(auth_user_tag_at(u, i)));
    return a;
}

static void h_whoami(struct mgmt_req *r)
{
    mgmt_reply(r, 200,
               json_pack("{s:s, s:o}", "name", auth_user_name(r->user), "tags", tags_new(r->user)));
}

/* ---- vhosts ---- */

static mgmt_handler h_vhosts, h_vhost, h_vhost_permissions;

static json_t *vhost_new(const char *name)
{
    return json_pack("{s:s, s:s, s:[], s:s, s:{s:s, s:[]}, s:b, s:{s:s}}", "name", name,
                     "description", "", "tags", "default_queue_type", "classic", "metadata",
                     "description", "", "tags", "tracing", 0, "cluster_state", mgmt_node_name(),
                     "running");
}

struct vh_counts {
    uint64_t ready, unacked;
};

static void count_q(struct queue *q, void *arg)
{
    struct vh_counts *c = arg;
    c->ready += queue_ready_count(q);
    c->unacked += queue_unacked_count(q);
}

static json_t *vhost_full_new(const char *name)
{
    json_t *o = vhost_new(name);
    struct vhost *v = vhost_find(view_str(name));
    struct vh_counts c = {0, 0};

    if (v)
        vhost_for_each_queue(v, count_q, &c);
    json_object_set_new(o, "messages", json_integer((json_int_t)(c.ready + c.unacked)));
    json_object_set_new(o, "messages_ready", json_integer((json_int_t)c.ready));
    json_object_set_new(o, "messages_unacknowledged", json_integer((json_int_t)c.unacked));
    return o;
}

static void h_vhosts(struct mgmt_req *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < auth_vhost_count(r->ctx->auth); i++) {
        const char *name = auth_vhost_at(r->ctx->auth, i);
        if (mgmt__vhost_visible(r, name))
            json_array_append_new(arr, vhost_full_new(name));
    }
    mgmt_reply_list(r, arr);
}

struct doomed {
    struct queue **q;
    size_t nq;
    struct exch **x;
    size_t nx;
};

static void collect_q(struct queue *q, void *arg)
{
    struct doomed *d = arg;
    d->q = xrealloc(d->q, (d->nq + 1) * sizeof(*d->q));
    d->q[d->nq++] = queue_ref(q);
}

static void collect_x(struct exch *x, void *arg)
{
    struct doomed *d = arg;
    const char *n = exch_name(x);
    if (!n[0] || strncmp(n, "amq.", 4) == 0)
        return;
    d->x = xrealloc(d->x, (d->nx + 1) * sizeof(*d->x));
    d->x[d->nx++] = x;
}

static void close_vhost_conn(struct conn *c, void *arg)
{
    if (conn_user(c) && strcmp(conn_vhost(c), arg) == 0)
        conn_force_close(c, "vhost deleted");
}

/* Empties a vhost the registry keeps: its queues and declared exchanges go.
 * The vhost registry has no removal; the auth registry is what makes a vhost
 * exist, so a deleted vhost is unreachable and comes back empty if re-created. */
static void empty_vhost(struct vhost *v)
{
    struct doomed d = {0};

    vhost_for_each_queue(v, collect_q, &d);
    for (size_t i = 0; i < d.nq; i++) {
        if (!queue_is_deleted(d.q[i]))
            vhost_delete_queue(v, d.q[i]);
        queue_unref(&d.q[i]);
    }
    /* Deleting an exchange can auto-delete others: collect names again each time. */
    for (;;) {
        d.nx = 0;
        vhost_for_each_exch(v, collect_x, &d);
        if (!d.nx)
            break;
        vhost_delete_exch(v, d.x[0]);
    }
    free(d.q);
    free(d.x);
}

static void h_vhost(struct mgmt_req *r)
{
    struct view name = mgmt_arg(r, 0);
    char *vname = xstrndup_view(name);
    bool exists = auth_vhost_exists(r->ctx->auth, name);

    /* One vhost, to read or to change, is for administrators (RabbitMQ 3.10's
     * rabbit_mgmt_wm_vhost); others list the vhosts they may see. */
    if (!mgmt__require_admin(r)) {
        /* replied */
    } else if (r->method == MGMT_GET || r->method == MGMT_HEAD) {
        if (!exists)
            mgmt_reply_not_found(r);
        else
            mgmt_reply(r, 200, vhost_full_new(vname));
    } else if (r->method == MGMT_PUT) {
        json_t *body = mgmt_body_object(r);
        char err[256];
        if (body) {
            if (exists) {
                mgmt_reply(r, 204, NULL);
            } else if (auth_add_vhost(r->ctx->auth, vname, err, sizeof(err)) < 0) {
                mgmt_reply_bad_request(r, err);
            } else {
                /* RabbitMQ grants the creating user full permissions on the new vhost. */
                vhost_add(name);
                auth_set_permissions(r->ctx->auth, auth_user_name(r->user), vname, ".*", ".*", ".*",
                                     err, sizeof(err));
                mgmt_reply(r, 201, NULL);
            }
            json_decref(body);
        }
    } else if (!exists) {
        mgmt_reply_not_found(r);
    } else {
        struct vhost *v = vhost_find(name);
        conn_for_each(close_vhost_conn, vname);
        if (v)
            empty_vhost(v);
        auth_delete_vhost(r->ctx->auth, name);
        mgmt_reply(r, 204, NULL);
    }
    free(vname);
}

/* ---- users ---- */

static mgmt_handler h_users, h_user, h_user_permissions;

static json_t *user_new(const struct auth_user *u)
{
    /* password_hash is shown only by the definitions export. */
    return json_pack("{s:s, s:s, s:o, s:{}}", "name", auth_user_name(u), "hashing_algorithm",
                     auth_hash_alg_names[auth_user_hash_alg(u)], "tags", tags_new(u), "limits");
}

static void h_users(struct mgmt_req *r)
{
    json_t *arr;

    if (!mgmt__require_admin(r))
        return;
    arr = json_array();
    for (size_t i = 0; i < auth_user_count(r->ctx->auth); i++)
        json_array_append_new(arr, user_new(auth_user_at(r->ctx->auth, i)));
    mgmt_reply_list(r, arr);
}

/* Splits tags given as "a,b" or ["a","b"] into an array of strings (borrowed
 * from j or from *store, which the caller frees). -1 on a bad type. */
static int parse_tags(const json_t *j, char **store, const char **tags, size_t max, size_t *n)
{
    *n = 0;
    *store = NULL;
    if (!j)
        return 0;
    if (json_is_array(j)) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e)
        {
            if (!json_is_string(e))
                return -1;
            if (json_string_length(e) && *n < max)
                tags[(*n)++] = json_string_value(e);
        }
        return 0;
    }
    if (!json_is_string(j))
        return -1;
    *store = xstrdup(json_string_value(j));
    for (char *save = NULL, *t = strtok_r(*store, ", ", &save); t && *n < max;
         t = strtok_r(NULL, ", ", &save))
        tags[(*n)++] = t;
    return 0;
}

/* Replaces (or creates) a user, keeping its permissions. The auth registry
 * has no in-place update: connections logged in as the old user object keep
 * it, and it now denies everything, so they should reconnect. */
int mgmt__put_user(struct auth *a, const char *name, enum auth_hash_alg alg, const char *hash,
                   const char *const *tags, size_t ntags, char *err, size_t errlen)
{
    const struct auth_user *old = auth_user_find(a, view_str(name));
    size_t nv = auth_vhost_count(a);
    char **perms = xcalloc(nv * 3 + 1, sizeof(*perms));
    int rc;

    if (old) {
        for (size_t i = 0; i < nv; i++)
            for (int op = 0; op < 3; op++) {
                const char *p =
                    auth_user_permission(old, view_str(auth_vhost_at(a, i)), (enum auth_op)op);
                perms[i * 3 + (size_t)op] = p ? xstrdup(p) : NULL;
            }
        auth_delete_user(a, view_str(name));
    }
    rc = auth_add_user(a, name, alg, hash, tags, ntags, err, errlen);
    for (size_t i = 0; i < nv; i++) {
        if (rc == 0 && perms[i * 3])
            auth_set_permissions(a, name, auth_vhost_at(a, i), perms[i * 3], perms[i * 3 + 1],
                                 perms[i * 3 + 2], err, errlen);
        for (int op = 0; op < 3; op++)
            free(perms[i * 3 + (size_t)op]);
    }
    free(perms);
    return rc;
}

static void put_user(struct mgmt_req *r, const char *name, bool exists)
{
    json_t *body = mgmt_body_object(r);
    const char *tags[32];
    char *store = NULL, err[256];
    char *hash = NULL;
    enum auth_hash_alg alg = AUTH_HASH_SHA256;
    json_t *pw, *ph, *ha;
    size_t ntags;

    if (!body)
        return;
    pw = json_object_get(body, "password");
    ph = json_object_get(body, "password_hash");
    ha = json_object_get(body, "hashing_algorithm");
    if (parse_tags(json_object_get(body, "tags"), &store, tags, ARRAY_LEN(tags), &ntags) < 0) {
        mgmt_reply_bad_request(r, "tags must be a string or a list of strings");
        goto out;
    }
    if (ha && (!json_is_string(ha) || !auth_hash_alg_parse(json_string_value(ha), &alg))) {
        mgmt_reply_bad_request(r, "unknown hashing_algorithm");
        goto out;
    }
    if (pw) {
        if (!json_is_string(pw)) {
            mgmt_reply_bad_request(r, "password must be a string");
            goto out;
        }
        hash = auth_hash_password_alg(
            alg, (struct view){(const uint8_t *)json_string_value(pw), json_string_length(pw)});
    } else if (ph) {
        if (!json_is_string(ph) || !auth_hash_is_valid(alg, json_string_value(ph))) {
            mgmt_reply_bad_request(r, "password_hash is not a valid hash for hashing_algorithm");
            goto out;
        }
        hash = xstrdup(json_string_value(ph));
    } else if (exists) {
        hash = xstrdup(auth_user_password_hash(auth_user_find(r->ctx->auth, view_str(name))));
        alg = auth_user_hash_alg(auth_user_find(r->ctx->auth, view_str(name)));
    } else {
        hash = xstrdup(""); /* no password: cannot log in with one, as in RabbitMQ */
    }
    if (!hash || mgmt__put_user(r->ctx->auth, name, alg, hash, tags, ntags, err, sizeof(err)) < 0)
        mgmt_reply_bad_request(r, hash ? err : "cannot hash the password");
    else
        mgmt_reply(r, exists ? 204 : 201, NULL);
out:
    free(hash);
    free(store);
    json_decref(body);
}

static void h_user(struct mgmt_req *r)
{
    struct view name = mgmt_arg(r, 0);
    const struct auth_user *u;
    char *uname;

    if (!mgmt__require_admin(r))
        return;
    u = auth_user_find(r->ctx->auth, name);
    uname = xstrndup_view(name);
    if (r->method == MGMT_PUT)
        put_user(r, uname, u != NULL);
    else if (!u)
        mgmt_reply_not_found(r);
    else if (r->method == MGMT_DELETE) {
        auth_delete_user(r->ctx->auth, name);
        mgmt_reply(r, 204, NULL);
    } else
        mgmt_reply(r, 200, user_new(u));
    free(uname);
}

/* ---- permissions ---- */

static mgmt_handler h_permissions, h_permission;

static json_t *permission_new(const struct auth_user *u, const char *vhost)
{
    struct view v = view_str(vhost);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", auth_user_name(u), "vhost", vhost,
                     "configure", auth_user_permission(u, v, AUTH_CONFIGURE), "write",
                     auth_user_permission(u, v, AUTH_WRITE), "read",
                     auth_user_permission(u, v, AUTH_READ));
}

/* Every permission entry, optionally of one user or one vhost. */
static json_t *permissions_new(struct auth *a, const char *user, const char *vhost)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < auth_user_count(a); i++) {
        const struct auth_user *u = auth_user_at(a, i);
        if (user && strcmp(user, auth_user_name(u)) != 0)
            continue;
        for (size_t j = 0; j < auth_vhost_count(a); j++) {
            const char *v = auth_vhost_at(a, j);
            if (vhost && strcmp(vhost, v) != 0)
                continue;
            if (auth_user_permission(u, view_str(v), AUTH_CONFIGURE))
                json_array_append_new(arr, permission_new(u, v));
        }
    }
    return arr;
}

static void h_permissions(struct mgmt_req *r)
{
    if (mgmt__require_admin(r))
        mgmt_reply_list(r, permissions_new(r->ctx->auth, NULL, NULL));
}

static void h_user_permissions(struct mgmt_req *r)
{
    char *u;

    if (!mgmt__require_admin(r))
        return;
    if (!auth_user_find(r->ctx->auth, mgmt_arg(r, 0))) {
        mgmt_reply_not_found(r);
        return;
    }
    u = xstrndup_view(mgmt_arg(r, 0));
    mgmt_reply_list(r, permissions_new(r->ctx->auth, u, NULL));
    free(u);
}

static void h_vhost_permissions(struct mgmt_req *r)
{
    char *v;

    if (!mgmt__require_admin(r))
        return;
    if (!auth_vhost_exists(r->ctx->auth, mgmt_arg(r, 0))) {
        mgmt_reply_not_found(r);
        return;
    }
    v = xstrndup_view(mgmt_arg(r, 0));
    mgmt_reply_list(r, permissions_new(r->ctx->auth, NULL, v));
    free(v);
}

static const char *str_field(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void h_permission(struct mgmt_req *r)
{
    struct view vname = mgmt_arg(r, 0), uname = mgmt_arg(r, 1);
    const struct auth_user *u;
    bool vexists;

    if (!mgmt__require_admin(r))
        return;
    u = auth_user_find(r->ctx->auth, uname);
    vexists = auth_vhost_exists(r->ctx->auth, vname);
    if (!u || !vexists) {
        mgmt_reply_not_found(r);
        return;
    }
    if (r->method == MGMT_PUT) {
        json_t *body = mgmt_body_object(r);
        const char *c, *w, *rd;
        char *v, err[256];
        bool had;
        if (!body)
            return;
        c = str_field(body, "configure");
        w = str_field(body, "write");
        rd = str_field(body, "read");
        v = xstrndup_view(vname);
        had = auth_user_permission(u, vname, AUTH_CONFIGURE) != NULL;
        if (!c || !w || !rd)
            mgmt_reply_bad_request(r, "configure, write and read are required strings");
        else if (auth_set_permissions(r->ctx->auth, auth_user_name(u), v, c, w, rd, err,
                                      sizeof(err)) < 0)
            mgmt_reply_bad_request(r, err);
        else
            mgmt_reply(r, had ? 204 : 201, NULL);
        free(v);
        json_decref(body);
        return;
    }
    if (!auth_user_permission(u, vname, AUTH_CONFIGURE)) {
        mgmt_reply_not_found(r);
    } else if (r->method == MGMT_DELETE) {
        auth_clear_permissions(r->ctx->auth, uname, vname);
        mgmt_reply(r, 204, NULL);
    } else {
        char *v = xstrndup_view(vname);
        mgmt_reply(r, 200, permission_new(u, v));
        free(v);
    }
}

/* ---- definitions ---- */

static mgmt_handler h_definitions;

static void h_definitions(struct mgmt_req *r)
{
    char *vhost = NULL, err[512];

    if (!mgmt__require_admin(r))
        return;
    if (r->match.id == MGMT_R_DEFINITIONS_VHOST) {
        if (!(vhost = mgmt__vhost_name_arg(r, 0)))
            return;
    }
    if (r->method == MGMT_POST) {
        json_t *body = mgmt_body_object(r);
        if (body) {
            if (definitions_import(r->ctx->auth, body, vhost, err, sizeof(err)) < 0)
                mgmt_reply_bad_request(r, err);
            else
                mgmt_reply(r, 204, NULL);
            json_decref(body);
        }
    } else {
        json_t *d = definitions_export(r->ctx->auth, vhost);
        if (d)
            mgmt_reply(r, 200, d);
        else
            mgmt_reply_not_found(r);
    }
    free(vhost);
}

/* ---- health checks ---- */

static mgmt_handler h_health_ok, h_health_port, h_health_protocol, h_health_service;

static void h_health_ok(struct mgmt_req *r)
{
    mgmt_reply(r, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_health_port(struct mgmt_req *r)
{
    const struct config *cfg = r->ctx->cfg;
    long want, ports[5];
    size_t n = 0;
    char *s = xstrndup_view(mgmt_arg(r, 0)), *end;
    json_t *list;

    want = strtol(s, &end, 10);
    if (!*s || *end) {
        mgmt_reply_bad_request(r, "port must be an integer");
        free(s);
        return;
    }
    free(s);
    ports[n++] = cfg->amqp_port;
    if (cfg->tls.enabled && cfg->tls.port)
        ports[n++] = cfg->tls.port;
    if (cfg->mgmt_tls.enabled && cfg->mgmt_tls.port)
        ports[n++] = cfg->mgmt_tls.port;
    if (cfg->mgmt_port)
        ports[n++] = cfg->mgmt_port;
    if (cfg->prometheus_port)
        ports[n++] = cfg->prometheus_port;
    for (size_t i = 0; i < n; i++)
        if (ports[i] == want) {
            mgmt_reply(r, 200, json_pack("{s:s, s:I}", "status", "ok", "port", (json_int_t)want));
            return;
        }
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_integer(ports[i]));
    mgmt_reply(r, 503,
               json_pack("{s:s, s:s, s:I, s:o}", "status", "failed", "reason", "No active listener",
                         "missing", (json_int_t)want, "ports", list));
}

/* RabbitMQ's protocol names and the aliases it accepts (rabbit_health_check). */
static const char *normalize_protocol(const char *p)
{
    if (!strcmp(p, "amqp091") || !strcmp(p, "amqp0-9-1") || !strcmp(p, "amqp"))
        return "amqp";
    if (!strcmp(p, "amqps") || !strcmp(p, "amqp/ssl"))
        return "amqp/ssl";
    if (!strcmp(p, "http") || !strcmp(p, "management"))
        return "http";
    if (!strcmp(p, "http/prometheus") || !strcmp(p, "prometheus"))
        return "http/prometheus";
    return p;
}

static void h_health_protocol(struct mgmt_req *r)
{
    const struct config *cfg = r->ctx->cfg;
    char *list = xstrndup_view(mgmt_arg(r, 0)), *save = NULL;
    const char *have[5];
    size_t n = 0;
    json_t *missing = NULL;

    have[n++] = "amqp";
    if (cfg->tls.enabled && cfg->tls.port)
        have[n++] = "amqp/ssl";
    if (cfg->mgmt_tls.enabled && cfg->mgmt_tls.port)
        have[n++] = "https";
    if (cfg->mgmt_port)
        have[n++] = "http";
    if (cfg->prometheus_port)
        have[n++] = "http/prometheus";
    for (char *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
        const char *want = normalize_protocol(p);
        bool found = false;
        for (size_t i = 0; i < n; i++)
            found = found || strcmp(have[i], want) == 0;
        if (!found && !missing)
            missing = json_string(p);
    }
    if (!missing) {
        json_t *o = json_pack("{s:s, s:s%}", "status", "ok", "protocol", r->match.args[0].p,
                              r->match.args[0].n);
        mgmt_reply(r, 200, o);
    } else {
        json_t *protos = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(protos, json_string(have[i]));
        mgmt_reply(r, 503,
                   json_pack("{s:s, s:s, s:o, s:o}", "status", "failed", "reason",
                             "No active listener", "missing", missing, "protocols", protos));
    }
    free(list);
}

static void h_health_service(struct mgmt_req *r)
{
    if (loop_is_stopping(r->ctx->loop))
        mgmt_reply(r, 503,
                   json_pack("{s:s, s:s}", "status", "failed", "reason", "the node is stopping"));
    else
        mgmt_reply(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- metrics ---- */

static mgmt_handler h_metrics;

static void h_metrics(struct mgmt_req *r)
{
    r->text = mgmt_prom_render(r->ctx, r->match.id == MGMT_R_METRICS_PER_OBJECT, &r->text_len);
    r->content_type = "text/plain; version=0.0.4";
    r->status = 200;
}

/* ---- dispatch ---- */

static mgmt_handler *const handlers[MGMT_R_COUNT] = {
    [MGMT_R_OVERVIEW] = h_overview,
    [MGMT_R_NODES] = h_nodes,
    [MGMT_R_NODE] = h_node,
    [MGMT_R_NODE_WATERMARK] = mgmt__h_node_watermark,
    [MGMT_R_EXTENSIONS] = h_extensions,
    [MGMT_R_WHOAMI] = h_whoami,
    [MGMT_R_VHOSTS] = h_vhosts,
    [MGMT_R_VHOST] = h_vhost,
    [MGMT_R_VHOST_PERMISSIONS] = h_vhost_permissions,
    [MGMT_R_VHOST_CONNECTIONS] = mgmt__h_connections,
    [MGMT_R_VHOST_CHANNELS] = mgmt__h_channels,
    [MGMT_R_VHOST_LIMITS] = mgmt__h_vhost_limits,
    [MGMT_R_VHOST_LIMITS_VHOST] = mgmt__h_vhost_limits,
    [MGMT_R_VHOST_LIMIT] = mgmt__h_vhost_limit,
    [MGMT_R_USERS] = h_users,
    [MGMT_R_USER] = h_user,
    [MGMT_R_USER_PERMISSIONS] = h_user_permissions,
    [MGMT_R_PERMISSIONS] = h_permissions,
    [MGMT_R_PERMISSION] = h_permission,
    [MGMT_R_CONNECTIONS] = mgmt__h_connections,
    [MGMT_R_CONNECTION] = mgmt__h_connection,
    [MGMT_R_CONNECTION_CHANNELS] = mgmt__h_channels,
    [MGMT_R_CHANNELS] = mgmt__h_channels,
    [MGMT_R_CHANNEL] = mgmt__h_channel,
    [MGMT_R_CONSUMERS] = mgmt__h_consumers,
    [MGMT_R_CONSUMERS_VHOST] = mgmt__h_consumers,
    [MGMT_R_EXCHANGES] = mgmt__h_exchanges,
    [MGMT_R_EXCHANGES_VHOST] = mgmt__h_exchanges,
    [MGMT_R_EXCHANGE] = mgmt__h_exchange,
    [MGMT_R_EXCHANGE_BINDINGS_SOURCE] = mgmt__h_exchange_bindings,
    [MGMT_R_EXCHANGE_BINDINGS_DESTINATION] = mgmt__h_exchange_bindings,
    [MGMT_R_EXCHANGE_PUBLISH] = mgmt__h_exchange_publish,
    [MGMT_R_QUEUES] = mgmt__h_queues,
    [MGMT_R_QUEUES_VHOST] = mgmt__h_queues,
    [MGMT_R_QUEUE] = mgmt__h_queue,
    [MGMT_R_QUEUE_BINDINGS] = mgmt__h_queue_bindings,
    [MGMT_R_QUEUE_CONTENTS] = mgmt__h_queue_contents,
    [MGMT_R_QUEUE_GET] = mgmt__h_queue_get,
    [MGMT_R_QUEUE_MESSAGES] = mgmt__h_queue_messages,
    [MGMT_R_QUEUE_REPLAY] = mgmt__h_queue_replay,
    [MGMT_R_BINDINGS] = mgmt__h_bindings,
    [MGMT_R_BINDINGS_VHOST] = mgmt__h_bindings,
    [MGMT_R_BINDINGS_EQ] = mgmt__h_bindings_between,
    [MGMT_R_BINDING_EQ] = mgmt__h_binding,
    [MGMT_R_BINDINGS_EE] = mgmt__h_bindings_between,
    [MGMT_R_BINDING_EE] = mgmt__h_binding,
    [MGMT_R_DEFINITIONS] = h_definitions,
    [MGMT_R_DEFINITIONS_VHOST] = h_definitions,
    [MGMT_R_HEALTH_ALARMS] = mgmt__h_health_alarms,
    [MGMT_R_HEALTH_LOCAL_ALARMS] = mgmt__h_health_alarms,
    [MGMT_R_HEALTH_PORT_LISTENER] = h_health_port,
    [MGMT_R_HEALTH_PROTOCOL_LISTENER] = h_health_protocol,
    [MGMT_R_HEALTH_VIRTUAL_HOSTS] = h_health_ok,
    [MGMT_R_HEALTH_IS_IN_SERVICE] = h_health_service,
    [MGMT_R_HEALTH_READY] = h_health_service,
    [MGMT_R_METRICS] = h_metrics,
    [MGMT_R_METRICS_PER_OBJECT] = h_metrics,
};

void mgmt_dispatch(struct mgmt_req *r)
{
    mgmt_handler *h = r->match.id < MGMT_R_COUNT ? handlers[r->match.id] : NULL;

    if (!h) {
        mgmt_reply_not_found(r);
        return;
    }
    h(r);
}
