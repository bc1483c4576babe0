/* SPDX-License-Identifier: MIT */
/* definitions: export and import in RabbitMQ's definitions layout (see definitions.h). */
#include "broker/definitions.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth.h"
#include "broker/buf.h"
#include "broker/json_table.h"
#include "broker/ops.h"
#include "broker/version.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

/* ---- export ---- */

struct export_walk {
    const char *vhost;
    json_t *queues, *exchanges, *bindings;
    bool durable_only; /* the definitions file: what survives a restart */
};

static void export_queue(struct queue *q, void *arg)
{
    struct export_walk *w = arg;
    unsigned f = queue_flags(q);

    if ((f & QUEUE_F_EXCLUSIVE) || (w->durable_only && !(f & QUEUE_F_DURABLE)))
        return;
    json_array_append_new(w->queues,
                          json_pack("{s:s, s:s, s:b, s:b, s:o}", "name", queue_name(q), "vhost",
                                    w->vhost, "durable", (f & QUEUE_F_DURABLE) != 0, "auto_delete",
                                    (f & QUEUE_F_AUTO_DELETE) != 0, "arguments",
                                    json_table_new(queue_args(q))));
}

static void export_binding(void *arg, const struct exch *src, struct queue *dq,
                           const struct exch *dx, struct view key, struct view args)
{
    struct export_walk *w = arg;

    if (dq && (queue_flags(dq) & QUEUE_F_EXCLUSIVE))
        return;
    /* RabbitMQ keeps a binding when both of its ends are durable. */
    if (w->durable_only &&
        (!(exch_flags(src) & EXCH_F_DURABLE) ||
         (dq ? !(queue_flags(dq) & QUEUE_F_DURABLE) : !(exch_flags(dx) & EXCH_F_DURABLE))))
        return;
    json_array_append_new(
        w->bindings, json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "source", exch_name(src), "vhost",
                               w->vhost, "destination", dq ? queue_name(dq) : exch_name(dx),
                               "destination_type", dq ? "queue" : "exchange", "routing_key",
                               json_table_string_new(key), "arguments", json_table_new(args)));
}

static void export_exch(struct exch *x, void *arg)
{
    struct export_walk *w = arg;
    const char *n = exch_name(x);
    unsigned f = exch_flags(x);

    exch_for_each_binding(x, export_binding, w);
    if (!n[0] || strncmp(n, "amq.", 4) == 0 || (w->durable_only && !(f & EXCH_F_DURABLE)))
        return;
    json_array_append_new(
        w->exchanges,
        json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:o}", "name", n, "vhost", w->vhost, "type",
                  exch_type_name(exch_type(x)), "durable", (f & EXCH_F_DURABLE) != 0, "auto_delete",
                  (f & EXCH_F_AUTO_DELETE) != 0, "internal", (f & EXCH_F_INTERNAL) != 0,
                  "arguments", json_table_new(exch_args(x))));
}

static void export_vhost(struct vhost *v, struct export_walk *w)
{
    w->vhost = vhost_name(v);
    vhost_for_each_queue(v, export_queue, w);
    vhost_for_each_exch(v, export_exch, w);
}

/* Strips "vhost" from per-vhost exports, as RabbitMQ does. */
static void strip_vhost(json_t *arr)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o) json_object_del(o, "vhost");
}

json_t *definitions_vhost_limits(const struct auth *auth, const char *vhost)
{
    json_t *value = json_object();

    for (size_t k = 0; k < AUTH_LIMIT_COUNT; k++) {
        int64_t v = auth_vhost_limit(auth, view_str(vhost), (enum auth_vhost_limit)k);
        if (v != AUTH_LIMIT_UNSET)
            json_object_set_new(value, auth_limit_names[k], json_integer((json_int_t)v));
    }
    if (!json_object_size(value)) {
        json_decref(value);
        return NULL;
    }
    return value;
}

/* The vhost's limits as RabbitMQ exports them: a runtime parameter of
 * component "vhost-limits" named "limits" (rabbit_vhost_limit); NULL when none
 * is set. */
static json_t *vhost_limits_param(const struct auth *auth, const char *vhost)
{
    json_t *value = definitions_vhost_limits(auth, vhost);

    if (!value)
        return NULL;
    return json_pack("{s:s, s:s, s:s, s:o}", "vhost", vhost, "component", "vhost-limits", "name",
                     "limits", "value", value);
}

static json_t *export_all(const struct auth *auth, const char *vhost, bool durable_only)
{
    struct export_walk w = {NULL, json_array(), json_array(), json_array(), durable_only};
    json_t *d;

    if (vhost) {
        struct vhost *v = vhost_find(view_str(vhost));
        if (!v || !auth_vhost_exists(auth, view_str(vhost))) {
            json_decref(w.queues);
            json_decref(w.exchanges);
            json_decref(w.bindings);
            return NULL;
        }
        json_t *params = json_array(), *lim = vhost_limits_param(auth, vhost);
        export_vhost(v, &w);
        if (lim)
            json_array_append_new(params, lim);
        strip_vhost(w.queues);
        strip_vhost(w.exchanges);
        strip_vhost(w.bindings);
        strip_vhost(params);
        return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:[], s:o}", "rabbit_version",
                         LEVERET_VERSION, "rabbitmq_version", LEVERET_VERSION, "product_name",
                         LEVERET_PRODUCT, "product_version", LEVERET_VERSION, "queues", w.queues,
                         "exchanges", w.exchanges, "bindings", w.bindings, "policies", "parameters",
                         params);
    }
    for (size_t i = 0; i < vhost_count(); i++) {
        struct vhost *v = vhost_at(i);
        if (auth_vhost_exists(auth, view_str(vhost_name(v))))
            export_vhost(v, &w);
    }
    d = json_pack("{s:s, s:s, s:s, s:s, s:[], s:[], s:[], s:[], s:[], s:[], s:[], s:o, s:o, s:o}",
                  "rabbit_version", LEVERET_VERSION, "rabbitmq_version", LEVERET_VERSION,
                  "product_name", LEVERET_PRODUCT, "product_version", LEVERET_VERSION, "users",
                  "vhosts", "permissions", "topic_permissions", "parameters", "global_parameters",
                  "policies", "queues", w.queues, "exchanges", w.exchanges, "bindings", w.bindings);
    for (size_t i = 0; i < auth_user_count(auth); i++) {
        const struct auth_user *u = auth_user_at(auth, i);
        json_t *tags = json_array();
        for (size_t t = 0; t < auth_user_tag_count(u); t++)
            json_array_append_new(tags, json_string(auth_user_tag_at(u, t)));
        json_array_append_new(
            json_object_get(d, "users"),
            json_pack("{s:s, s:s, s:s, s:o, s:{}}", "name", auth_user_name(u), "password_hash",
                      auth_user_password_hash(u), "hashing_algorithm",
                      auth_hash_alg_names[auth_user_hash_alg(u)], "tags", tags, "limits"));
        for (size_t j = 0; j < auth_vhost_count(auth); j++) {
            struct view vh = view_str(auth_vhost_at(auth, j));
            if (!auth_user_permission(u, vh, AUTH_CONFIGURE))
                continue;
            json_array_append_new(json_object_get(d, "permissions"),
                                  json_pack("{s:s, s:s, s:s, s:s, s:s}", "user", auth_user_name(u),
                                            "vhost", auth_vhost_at(auth, j), "configure",
                                            auth_user_permission(u, vh, AUTH_CONFIGURE), "write",
                                            auth_user_permission(u, vh, AUTH_WRITE), "read",
                                            auth_user_permission(u, vh, AUTH_READ)));
        }
    }
    for (size_t j = 0; j < auth_vhost_count(auth); j++) {
        json_t *lim = vhost_limits_param(auth, auth_vhost_at(auth, j));
        json_array_append_new(json_object_get(d, "vhosts"),
                              json_pack("{s:s}", "name", auth_vhost_at(auth, j)));
        if (lim)
            json_array_append_new(json_object_get(d, "parameters"), lim);
    }
    return d;
}

json_t *definitions_export(const struct auth *auth, const char *vhost)
{
    return export_all(auth, vhost, false);
}

json_t *definitions_export_durable(const struct auth *auth)
{
    return export_all(auth, NULL, true);
}

/* ---- import ---- */

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static const char *sfield(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool bfield(const json_t *o, const char *k, bool def)
{
    json_t *j = json_object_get(o, k);
    return json_is_boolean(j) ? json_is_true(j) : def;
}

/* An array member of the document (absent = empty); -1 when not an array. */
static int section(const json_t *defs, const char *key, json_t **out, char *err, size_t errlen)
{
    json_t *j = json_object_get(defs, key);

    *out = j;
    if (j && !json_is_array(j))
        return fail(err, errlen, "%s must be a list", key);
    return 0;
}

/* Whether a vhost exists now or is created by this document. */
static bool vhost_known(const struct auth *a, const json_t *vhosts, const char *name)
{
    size_t i;
    json_t *v;

    if (auth_vhost_exists(a, view_str(name)))
        return true;
    json_array_foreach(vhosts, i,
                       v) if (sfield(v, "name") && !strcmp(sfield(v, "name"), name)) return true;
    return false;
}

static bool user_known(const struct auth *a, const json_t *users, const char *name)
{
    size_t i;
    json_t *u;

    if (auth_user_find(a, view_str(name)))
        return true;
    json_array_foreach(users, i,
                       u) if (sfield(u, "name") && !strcmp(sfield(u, "name"), name)) return true;
    return false;
}

static const json_t *find_named(const json_t *arr, const char *vhost, const char *name)
{
    size_t i;
    json_t *o;

    json_array_foreach(arr, i, o)
    {
        const char *n = sfield(o, "name"), *v = sfield(o, "vhost");
        if (n && v && !strcmp(n, name) && !strcmp(v, vhost))
            return o;
    }
    return NULL;
}

/* Entries of a per-vhost import get the target vhost. */
static json_t *with_vhost(const json_t *arr, const char *vhost)
{
    json_t *out = json_array(), *o;
    size_t i;

    json_array_foreach(arr, i, o)
    {
        json_t *c = json_is_object(o) ? json_copy(o) : json_object();
        if (vhost)
            json_object_set_new(c, "vhost", json_string(vhost));
        json_array_append_new(out, c);
    }
    return out;
}

struct import {
    json_t *users, *vhosts, *perms, *queues, *exchanges, *bindings, *params;
};

static int check_users(const struct import *im, char *err, size_t errlen)
{
    size_t i;
    json_t *u;

    json_array_foreach(im->users, i, u)
    {
        const char *name = sfield(u, "name"), *hash = sfield(u, "password_hash");
        const char *alg_name = sfield(u, "hashing_algorithm");
        enum auth_hash_alg alg = AUTH_HASH_SHA256;
        json_t *tags = json_object_get(u, "tags");

        if (!name || !*name)
            return fail(err, errlen, "users[%zu]: name is required", i);
        if (alg_name && !auth_hash_alg_parse(alg_name, &alg))
            return fail(err, errlen, "user '%s': unknown hashing_algorithm '%s'", name, alg_name);
        if (hash && !auth_hash_is_valid(alg, hash))
            return fail(err, errlen, "user '%s': password_hash is not valid", name);
        if (!hash && !json_is_string(json_object_get(u, "password")))
            return fail(err, errlen, "user '%s': password_hash or password is required", name);
        if (tags && !json_is_string(tags) && !json_is_array(tags))
            return fail(err, errlen, "user '%s': tags must be a string or a list", name);
    }
    return 0;
}

static int check_vhosts_perms(const struct auth *a, const struct import *im, char *err,
                              size_t errlen)
{
    size_t i;
    json_t *o;

    json_array_foreach(im->vhosts, i, o)
    {
        const char *n = sfield(o, "name");
        if (!n || !*n || strlen(n) > 255)
            return fail(err, errlen, "vhosts[%zu]: name must be 1..255 bytes", i);
    }
    json_array_foreach(im->perms, i, o)
    {
        const char *u = sfield(o, "user"), *v = sfield(o, "vhost");
        const char *keys[] = {"configure", "write", "read"};
        if (!u || !v)
            return fail(err, errlen, "permissions[%zu]: user and vhost are required", i);
        if (!user_known(a, im->users, u))
            return fail(err, errlen, "permissions[%zu]: no_such_user '%s'", i, u);
        if (!vhost_known(a, im->vhosts, v))
            return fail(err, errlen, "permissions[%zu]: no_such_vhost '%s'", i, v);
        for (size_t k = 0; k < 3; k++) {
            const char *p = sfield(o, keys[k]);
            char rerr[128];
            if (!p)
                return fail(err, errlen, "permissions[%zu]: %s is required", i, keys[k]);
            if (auth_pattern_check(p, rerr, sizeof(rerr)) < 0)
                return fail(err, errlen, "permissions[%zu]: invalid_regexp '%s': %s", i, p, rerr);
        }
    }
    return 0;
}

/* Runtime parameters: only vhost-limits is known; other components are
 * ignored, as the rest of what we do not implement (policies). */
static int check_params(const struct auth *a, const struct import *im, char *err, size_t errlen)
{
    size_t i;
    json_t *o;

    json_array_foreach(im->params, i, o)
    {
        const char *comp = sfield(o, "component"), *v = sfield(o, "vhost"), *key;
        json_t *value = json_object_get(o, "value"), *lv;

        if (!comp || strcmp(comp, "vhost-limits") != 0)
            continue;
        if (!v || !vhost_known(a, im->vhosts, v))
            return fail(err, errlen, "parameters[%zu]: no_such_vhost '%s'", i, v ? v : "");
        if (!json_is_object(value))
            return fail(err, errlen, "parameters[%zu]: value must be an object", i);
        json_object_foreach(value, key, lv)
        {
            enum auth_vhost_limit which;
            if (auth_limit_parse(view_str(key), &which) < 0)
                return fail(err, errlen, "parameters[%zu]: Unrecognised terms [{<<\"%s\">>,...}]",
                            i, key);
            if (!json_is_integer(lv))
                return fail(err, errlen, "parameters[%zu]: %s should be a number", i, key);
        }
    }
    return 0;
}

static int check_queues(const struct auth *a, const struct import *im, char *err, size_t errlen)
{
    size_t i;
    json_t *o;

    json_array_foreach(im->queues, i, o)
    {
        const char *n = sfield(o, "name"), *v = sfield(o, "vhost");
        unsigned flags = (bfield(o, "durable", true) ? QUEUE_F_DURABLE : 0) |
                         (bfield(o, "auto_delete", false) ? QUEUE_F_AUTO_DELETE : 0);
        struct buf args = {0};
        struct proto_err pe = {0};
        struct vhost *vh;
        struct queue *q;
        int rc = 0;

        if (!n || !*n || strlen(n) > 255 || !v)
            return fail(err, errlen, "queues[%zu]: name and vhost are required", i);
        if (!vhost_known(a, im->vhosts, v))
            return fail(err, errlen, "queue '%s': no_such_vhost '%s'", n, v);
        if (json_table_encode(json_object_get(o, "arguments"), &args, err, errlen) < 0) {
            buf_free(&args);
            return -1;
        }
        vh = auth_vhost_exists(a, view_str(v)) ? vhost_find(view_str(v)) : NULL;
        q = vh ? vhost_queue(vh, view_str(n)) : NULL;
        if (q) {
            rc = queue_check_equivalent(q, flags, (struct view){args.p, args.len}, 0, &pe);
        } else {
            /* Validate the arguments the way a declare would, then drop the probe. */
            struct queue *probe = queue_create(view_str(v), view_str(n), flags,
                                               (struct view){args.p, args.len}, 0, &pe);
            rc = probe ? 0 : -1;
            if (probe) {
                queue_delete(probe);
                queue_unref(&probe);
            }
        }
        buf_free(&args);
        if (rc < 0)
            return fail(err, errlen, "%s", pe.text);
    }
    return 0;
}

static int check_exchanges(const struct auth *a, const struct import *im, char *err, size_t errlen)
{
    size_t i;
    json_t *o;

    json_array_foreach(im->exchanges, i, o)
    {
        const char *n = sfield(o, "name"), *v = sfield(o, "vhost"), *t = sfield(o, "type");
        enum exch_type type;
        struct buf args = {0};
        int rc;

        if (!n || !*n || strlen(n) > 255 || !v)
            return fail(err, errlen, "exchanges[%zu]: name and vhost are required", i);
        if (!vhost_known(a, im->vhosts, v))
            return fail(err, errlen, "exchange '%s': no_such_vhost '%s'", n, v);
        if (!t || exch_type_parse(view_str(t), &type) < 0)
            return fail(err, errlen, "exchange '%s': unknown exchange type '%s'", n, t ? t : "");
        if (strncmp(n, "amq.", 4) == 0)
            return fail(err, errlen, "exchange name '%s' contains reserved prefix 'amq.*'", n);
        rc = json_table_encode(json_object_get(o, "arguments"), &args, err, errlen);
        buf_free(&args);
        if (rc < 0)
            return -1;
    }
    return 0;
}

static bool exch_known(const struct auth *a, const struct import *im, const char *vhost,
                       const char *name)
{
    struct vhost *vh = auth_vhost_exists(a, view_str(vhost)) ? vhost_find(view_str(vhost)) : NULL;

    if (find_named(im->exchanges, vhost, name))
        return true;
    if (vh && vhost_exch(vh, view_str(name)))
        return true;
    /* Predeclared exchanges exist in every vhost, new ones included. */
    return !strcmp(name, "amq.direct") || !strcmp(name, "amq.fanout") ||
           !strcmp(name, "amq.topic") || !strcmp(name, "amq.headers") || !strcmp(name, "amq.match");
}

static int check_bindings(const struct auth *a, const struct import *im, char *err, size_t errlen)
{
    size_t i;
    json_t *o;

    json_array_foreach(im->bindings, i, o)
    {
        const char *s = sfield(o, "source"), *d = sfield(o, "destination");
        const char *t = sfield(o, "destination_type"), *v = sfield(o, "vhost");
        const char *k = sfield(o, "routing_key");
        struct buf args = {0};
        int rc;

        if (!s || !d || !t || !v)
            return fail(err, errlen,
                        "bindings[%zu]: source, destination, destination_type and vhost are "
                        "required",
                        i);
        if (!vhost_known(a, im->vhosts, v))
            return fail(err, errlen, "binding: no_such_vhost '%s'", v);
        if (!*s)
            return fail(err, errlen, "binding: operation not permitted on the default exchange");
        if (k && strlen(k) > 255)
            return fail(err, errlen, "binding: routing_key longer than 255 bytes");
        if (!exch_known(a, im, v, s))
            return fail(err, errlen, "binding: no exchange '%s' in vhost '%s'", s, v);
        if (!strcmp(t, "queue")) {
            struct vhost *vh = auth_vhost_exists(a, view_str(v)) ? vhost_find(view_str(v)) : NULL;
            if (!find_named(im->queues, v, d) && !(vh && vhost_queue(vh, view_str(d))))
                return fail(err, errlen, "binding: no queue '%s' in vhost '%s'", d, v);
        } else if (!strcmp(t, "exchange")) {
            if (!exch_known(a, im, v, d))
                return fail(err, errlen, "binding: no exchange '%s' in vhost '%s'", d, v);
        } else {
            return fail(err, errlen, "binding: destination_type must be queue or exchange");
        }
        rc = json_table_encode(json_object_get(o, "arguments"), &args, err, errlen);
        buf_free(&args);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Applying cannot fail after the checks, except for clashes between entries of
 * the document itself (two exchanges with one name and different types); those
 * are reported and the rest still applies. */
static void apply(struct auth *a, const struct import *im, char *err, size_t errlen)
{
    size_t i;
    json_t *o;

    json_array_foreach(im->vhosts, i, o)
    {
        const char *n = sfield(o, "name");
        if (!auth_vhost_exists(a, view_str(n)))
            auth_add_vhost(a, n, err, errlen);
        vhost_add(view_str(n));
    }
    json_array_foreach(im->users, i, o)
    {
        const char *n = sfield(o, "name"), *alg_name = sfield(o, "hashing_algorithm");
        enum auth_hash_alg alg = AUTH_HASH_SHA256;
        json_t *tj = json_object_get(o, "tags");
        const char *tags[32];
        size_t nt = 0;
        char *store = NULL, *hash;

        if (alg_name)
            auth_hash_alg_parse(alg_name, &alg);
        if (sfield(o, "password_hash"))
            hash = xstrdup(sfield(o, "password_hash"));
        else
            hash = auth_hash_password_alg(alg, view_str(sfield(o, "password")));
        if (json_is_array(tj)) {
            size_t t;
            json_t *e;
            json_array_foreach(tj, t, e) if (json_is_string(e) && json_string_length(e) && nt < 32)
                tags[nt++] = json_string_value(e);
        } else if (json_is_string(tj)) {
            store = xstrdup(json_string_value(tj));
            for (char *save = NULL, *t = strtok_r(store, ", ", &save); t && nt < 32;
                 t = strtok_r(NULL, ", ", &save))
                tags[nt++] = t;
        }
        if (hash) {
            if (auth_user_find(a, view_str(n)))
                auth_delete_user(a, view_str(n));
            auth_add_user(a, n, alg, hash, tags, nt, err, errlen);
        }
        free(hash);
        free(store);
    }
    json_array_foreach(im->perms, i, o)
        auth_set_permissions(a, sfield(o, "user"), sfield(o, "vhost"), sfield(o, "configure"),
                             sfield(o, "write"), sfield(o, "read"), err, errlen);
    json_array_foreach(im->params, i, o)
    {
        const char *comp = sfield(o, "component");
        json_t *value = json_object_get(o, "value");
        struct view v = view_str(sfield(o, "vhost"));

        if (!comp || strcmp(comp, "vhost-limits") != 0)
            continue;
        /* The parameter's value replaces the vhost's limits as a whole. */
        for (size_t k = 0; k < AUTH_LIMIT_COUNT; k++) {
            json_t *lv = json_object_get(value, auth_limit_names[k]);
            auth_vhost_set_limit(a, v, (enum auth_vhost_limit)k,
                                 lv ? (int64_t)json_integer_value(lv) : AUTH_LIMIT_UNSET);
        }
    }
    json_array_foreach(im->exchanges, i, o)
    {
        struct ops_ctx c = {a, NULL, vhost_find(view_str(sfield(o, "vhost"))), 0};
        unsigned flags = (bfield(o, "durable", true) ? EXCH_F_DURABLE : 0) |
                         (bfield(o, "auto_delete", false) ? EXCH_F_AUTO_DELETE : 0) |
                         (bfield(o, "internal", false) ? EXCH_F_INTERNAL : 0);
        struct buf args = {0};
        struct proto_err pe = {0};
        json_table_encode(json_object_get(o, "arguments"), &args, err, errlen);
        if (ops_exchange_declare(&c, view_str(sfield(o, "name")), view_str(sfield(o, "type")),
                                 flags, (struct view){args.p, args.len}, NULL, &pe) < 0)
            snprintf(err, errlen, "%s", pe.text);
        buf_free(&args);
    }
    json_array_foreach(im->queues, i, o)
    {
        struct ops_ctx c = {a, NULL, vhost_find(view_str(sfield(o, "vhost"))), 0};
        unsigned flags = (bfield(o, "durable", true) ? QUEUE_F_DURABLE : 0) |
                         (bfield(o, "auto_delete", false) ? QUEUE_F_AUTO_DELETE : 0);
        struct buf args = {0};
        struct proto_err pe = {0};
        json_table_encode(json_object_get(o, "arguments"), &args, err, errlen);
        if (!ops_queue_declare(&c, view_str(sfield(o, "name")), flags,
                               (struct view){args.p, args.len}, NULL, &pe))
            snprintf(err, errlen, "%s", pe.text);
        buf_free(&args);
    }
    json_array_foreach(im->bindings, i, o)
    {
        struct ops_ctx c = {a, NULL, vhost_find(view_str(sfield(o, "vhost"))), 0};
        const char *k = sfield(o, "routing_key");
        struct buf args = {0};
        struct proto_err pe = {0};
        struct view key = view_str(k ? k : "");
        struct view av;
        json_table_encode(json_object_get(o, "arguments"), &args, err, errlen);
        av = (struct view){args.p, args.len};
        if (!strcmp(sfield(o, "destination_type"), "queue")) {
            ops_queue_bind(&c, view_str(sfield(o, "destination")), view_str(sfield(o, "source")),
                           key, av, true, &pe);
        } else {
            ops_exchange_bind(&c, view_str(sfield(o, "destination")), view_str(sfield(o, "source")),
                              key, av, true, &pe);
        }
        buf_free(&args);
    }
}

int definitions_import(struct auth *auth, const json_t *defs, const char *vhost, char *err,
                       size_t errlen)
{
    struct import im = {0};
    json_t *q, *x, *b, *p;
    int rc = -1;

    if (!json_is_object(defs))
        return fail(err, errlen, "definitions must be a JSON object");
    if (section(defs, "queues", &q, err, errlen) < 0 ||
        section(defs, "exchanges", &x, err, errlen) < 0 ||
        section(defs, "bindings", &b, err, errlen) < 0 ||
        section(defs, "parameters", &p, err, errlen) < 0)
        return -1;
    if (!vhost && (section(defs, "users", &im.users, err, errlen) < 0 ||
                   section(defs, "vhosts", &im.vhosts, err, errlen) < 0 ||
                   section(defs, "permissions", &im.perms, err, errlen) < 0))
        return -1;
    im.users = with_vhost(im.users, NULL);
    im.vhosts = with_vhost(im.vhosts, NULL);
    im.perms = with_vhost(im.perms, NULL);
    im.queues = with_vhost(q, vhost);
    im.exchanges = with_vhost(x, vhost);
    im.bindings = with_vhost(b, vhost);
    im.params = with_vhost(p, vhost);
    if (check_users(&im, err, errlen) < 0 || check_vhosts_perms(auth, &im, err, errlen) < 0 ||
        check_params(auth, &im, err, errlen) < 0 || check_exchanges(auth, &im, err, errlen) < 0 ||
        check_queues(auth, &im, err, errlen) < 0 || check_bindings(auth, &im, err, errlen) < 0)
        goto out;
    err[0] = '\0';
    apply(auth, &im, err, errlen);
    rc = 0;
out:
    json_decref(im.users);
    json_decref(im.vhosts);
    json_decref(im.perms);
    json_decref(im.queues);
    json_decref(im.exchanges);
    json_decref(im.bindings);
    json_decref(im.params);
    return rc;
}
