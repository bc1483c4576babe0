/* SPDX-License-Identifier: MIT */
/* router: the management API's route table and URL helpers (see router.h). */
#include "mgmt/router.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct route {
    unsigned methods;
    const char *pattern;
    enum mgmt_route id;
};

#define G MGMT_GET
#define GPD (MGMT_GET | MGMT_PUT | MGMT_DELETE)

/* RabbitMQ's dispatch table (rabbit_mgmt_dispatcher.erl), for what we serve.
 * Order matters only between a literal and a capture at the same depth, and
 * the matcher tries every row, so rows may come in any order. */
static const struct route routes[] = {
    {G, "/api/overview", MGMT_R_OVERVIEW},
    {G, "/api/nodes", MGMT_R_NODES},
    {G, "/api/nodes/{node}", MGMT_R_NODE},
    /* Not RabbitMQ's (rabbitmqctl set_vm_memory_high_watermark is its way). */
    {G | MGMT_PUT, "/api/nodes/{node}/memory-high-watermark", MGMT_R_NODE_WATERMARK},
    {G, "/api/extensions", MGMT_R_EXTENSIONS},
    {G, "/api/whoami", MGMT_R_WHOAMI},
    {G, "/api/vhosts", MGMT_R_VHOSTS},
    {GPD, "/api/vhosts/{vhost}", MGMT_R_VHOST},
    {G, "/api/vhosts/{vhost}/permissions", MGMT_R_VHOST_PERMISSIONS},
    {G, "/api/vhosts/{vhost}/connections", MGMT_R_VHOST_CONNECTIONS},
    {G, "/api/vhosts/{vhost}/channels", MGMT_R_VHOST_CHANNELS},
    {G, "/api/vhost-limits", MGMT_R_VHOST_LIMITS},
    {G, "/api/vhost-limits/{vhost}", MGMT_R_VHOST_LIMITS_VHOST},
    {MGMT_PUT | MGMT_DELETE, "/api/vhost-limits/{vhost}/{name}", MGMT_R_VHOST_LIMIT},
    {G, "/api/users", MGMT_R_USERS},
    {GPD, "/api/users/{user}", MGMT_R_USER},
    {G, "/api/users/{user}/permissions", MGMT_R_USER_PERMISSIONS},
    {G, "/api/permissions", MGMT_R_PERMISSIONS},
    {GPD, "/api/permissions/{vhost}/{user}", MGMT_R_PERMISSION},
    {G, "/api/connections", MGMT_R_CONNECTIONS},
    {G | MGMT_DELETE, "/api/connections/{connection}", MGMT_R_CONNECTION},
    {G, "/api/connections/{connection}/channels", MGMT_R_CONNECTION_CHANNELS},
    {G, "/api/channels", MGMT_R_CHANNELS},
    {G, "/api/channels/{channel}", MGMT_R_CHANNEL},
    {G, "/api/consumers", MGMT_R_CONSUMERS},
    {G, "/api/consumers/{vhost}", MGMT_R_CONSUMERS_VHOST},
    {G, "/api/exchanges", MGMT_R_EXCHANGES},
    {G, "/api/exchanges/{vhost}", MGMT_R_EXCHANGES_VHOST},
    {GPD, "/api/exchanges/{vhost}/{exchange}", MGMT_R_EXCHANGE},
    {G, "/api/exchanges/{vhost}/{exchange}/bindings/source", MGMT_R_EXCHANGE_BINDINGS_SOURCE},
    {G, "/api/exchanges/{vhost}/{exchange}/bindings/destination",
     MGMT_R_EXCHANGE_BINDINGS_DESTINATION},
    {MGMT_POST, "/api/exchanges/{vhost}/{exchange}/publish", MGMT_R_EXCHANGE_PUBLISH},
    {G, "/api/queues", MGMT_R_QUEUES},
    {G, "/api/queues/{vhost}", MGMT_R_QUEUES_VHOST},
    {GPD, "/api/queues/{vhost}/{queue}", MGMT_R_QUEUE},
    {G, "/api/queues/{vhost}/{queue}/bindings", MGMT_R_QUEUE_BINDINGS},
    {MGMT_DELETE, "/api/queues/{vhost}/{queue}/contents", MGMT_R_QUEUE_CONTENTS},
    {MGMT_POST, "/api/queues/{vhost}/{queue}/get", MGMT_R_QUEUE_GET},
    /* Not RabbitMQ's: non-destructive peek and dead-letter replay (issue 6). */
    {G, "/api/queues/{vhost}/{queue}/messages", MGMT_R_QUEUE_MESSAGES},
    {MGMT_POST, "/api/queues/{vhost}/{queue}/replay", MGMT_R_QUEUE_REPLAY},
    {G, "/api/bindings", MGMT_R_BINDINGS},
    {G, "/api/bindings/{vhost}", MGMT_R_BINDINGS_VHOST},
    {G | MGMT_POST, "/api/bindings/{vhost}/e/{source}/q/{destination}", MGMT_R_BINDINGS_EQ},
    {G | MGMT_DELETE, "/api/bindings/{vhost}/e/{source}/q/{destination}/{props}",
     MGMT_R_BINDING_EQ},
    {G | MGMT_POST, "/api/bindings/{vhost}/e/{source}/e/{destination}", MGMT_R_BINDINGS_EE},
    {G | MGMT_DELETE, "/api/bindings/{vhost}/e/{source}/e/{destination}/{props}",
     MGMT_R_BINDING_EE},
    {G | MGMT_POST, "/api/definitions", MGMT_R_DEFINITIONS},
    {G | MGMT_POST, "/api/definitions/{vhost}", MGMT_R_DEFINITIONS_VHOST},
    {G, "/api/health/checks/alarms", MGMT_R_HEALTH_ALARMS},
    {G, "/api/health/checks/local-alarms", MGMT_R_HEALTH_LOCAL_ALARMS},
    {G, "/api/health/checks/port-listener/{port}", MGMT_R_HEALTH_PORT_LISTENER},
    {G, "/api/health/checks/protocol-listener/{protocols}", MGMT_R_HEALTH_PROTOCOL_LISTENER},
    {G, "/api/health/checks/virtual-hosts", MGMT_R_HEALTH_VIRTUAL_HOSTS},
    {G, "/api/health/checks/is-in-service", MGMT_R_HEALTH_IS_IN_SERVICE},
    {G, "/api/health/checks/ready-to-serve-clients", MGMT_R_HEALTH_READY},
    {G, "/metrics", MGMT_R_METRICS},
    {G, "/metrics/per-object", MGMT_R_METRICS_PER_OBJECT},
};

#undef G
#undef GPD

unsigned mgmt_method_parse(const char *name)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"GET", MGMT_GET},   {"HEAD", MGMT_HEAD},     {"PUT", MGMT_PUT},
                 {"POST", MGMT_POST}, {"DELETE", MGMT_DELETE}, {"OPTIONS", MGMT_OPTIONS}};

    for (size_t i = 0; i < ARRAY_LEN(names); i++)
        if (strcmp(names[i].name, name) == 0)
            return names[i].bit;
    return 0;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

long mgmt_unescape(struct view in, char *out, bool plus)
{
    size_t o = 0;

    for (size_t i = 0; i < in.n; i++) {
        uint8_t c = in.p[i];
        if (c == '%') {
            int hi, lo;
            if (in.n - i < 3 || (hi = hexval(in.p[i + 1])) < 0 || (lo = hexval(in.p[i + 2])) < 0)
                return -1;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus) {
            out[o++] = ' ';
        } else {
            out[o++] = (char)c;
        }
    }
    return (long)o;
}

/* Splits the next '/'-separated segment off *rest; false at the end. */
static bool next_segment(struct view *rest, struct view *seg)
{
    const uint8_t *slash;

    if (rest->p == NULL)
        return false;
    slash = rest->n ? memchr(rest->p, '/', rest->n) : NULL;
    seg->p = rest->p;
    if (slash) {
        seg->n = (size_t)(slash - rest->p);
        rest->n -= seg->n + 1;
        rest->p = slash + 1;
    } else {
        seg->n = rest->n;
        rest->p = NULL;
        rest->n = 0;
    }
    return true;
}

/* Matches one pattern; on success fills args (decoded into scratch). 0 match,
 * 1 no match, -1 malformed escape in a captured segment. */
static int match_one(const char *pattern, struct view path, char *scratch, struct mgmt_match *m)
{
    struct view prest = view_str(pattern), rest = path, pseg, seg;
    size_t used = 0, nargs = 0;

    /* Both start with '/': skip it so the first segment is "api". */
    prest.p++, prest.n--;
    rest.p++, rest.n--;
    for (;;) {
        bool more_p = next_segment(&prest, &pseg), more = next_segment(&rest, &seg);
        if (!more_p || !more)
            return more_p == more ? (m->nargs = nargs, 0) : 1;
        if (pseg.n >= 2 && pseg.p[0] == '{') {
            long n;
            if (nargs == MGMT_ROUTE_MAX_ARGS)
                return 1;
            n = mgmt_unescape(seg, scratch + used, false);
            if (n < 0)
                return -1;
            m->args[nargs].p = (const uint8_t *)scratch + used;
            m->args[nargs].n = (size_t)n;
            nargs++;
            used += (size_t)n;
        } else if (!view_eq(pseg, seg)) {
            return 1;
        }
    }
}

enum mgmt_route_result mgmt_route(unsigned method, const char *path, size_t len, char *scratch,
                                  size_t scratch_len, struct mgmt_match *m)
{
    struct view p = {(const uint8_t *)path, len};
    unsigned want = method == MGMT_HEAD ? MGMT_GET : method;
    bool bad_escape = false;

    memset(m, 0, sizeof(*m));
    if (len == 0 || path[0] != '/' || scratch_len < len)
        return MGMT_ROUTE_NOT_FOUND;
    for (size_t i = 0; i < ARRAY_LEN(routes); i++) {
        struct mgmt_match t;
        int r;

        memset(&t, 0, sizeof(t));
        r = match_one(routes[i].pattern, p, scratch, &t);
        if (r < 0)
            bad_escape = true;
        if (r != 0)
            continue;
        m->allowed |= routes[i].methods;
        if (routes[i].methods & want) {
            t.id = routes[i].id;
            t.allowed = m->allowed;
            *m = t;
            return MGMT_ROUTE_FOUND;
        }
    }
    if (m->allowed) {
        m->allowed |= MGMT_OPTIONS | ((m->allowed & MGMT_GET) ? MGMT_HEAD : 0);
        return MGMT_ROUTE_BAD_METHOD;
    }
    return bad_escape ? MGMT_ROUTE_BAD_PATH : MGMT_ROUTE_NOT_FOUND;
}

void mgmt_allow_header(unsigned allowed, char *out, size_t size)
{
    static const struct {
        unsigned bit;
        const char *name;
    } order[] = {{MGMT_HEAD, "HEAD"}, {MGMT_GET, "GET"},       {MGMT_PUT, "PUT"},
                 {MGMT_POST, "POST"}, {MGMT_DELETE, "DELETE"}, {MGMT_OPTIONS, "OPTIONS"}};
    size_t o = 0;

    if (size == 0)
        return;
    out[0] = '\0';
    for (size_t i = 0; i < ARRAY_LEN(order); i++) {
        int n;
        if (!(allowed & order[i].bit))
            continue;
        n = snprintf(out + o, size - o, "%s%s", o ? ", " : "", order[i].name);
        if (n < 0 || (size_t)n >= size - o)
            return;
        o += (size_t)n;
    }
}

int mgmt_query_get(struct view query, const char *key, char *out, size_t outlen)
{
    struct view rest = query, kv;
    size_t klen = strlen(key);

    while (rest.p && rest.n) {
        const uint8_t *amp = memchr(rest.p, '&', rest.n);
        const uint8_t *eq;
        struct view k, v;
        long n;

        kv.p = rest.p;
        kv.n = amp ? (size_t)(amp - rest.p) : rest.n;
        rest.p = amp ? amp + 1 : NULL;
        rest.n = amp ? rest.n - kv.n - 1 : 0;
        eq = kv.n ? memchr(kv.p, '=', kv.n) : NULL;
        k.p = kv.p;
        k.n = eq ? (size_t)(eq - kv.p) : kv.n;
        v.p = eq ? eq + 1 : kv.p + kv.n;
        v.n = eq ? kv.n - k.n - 1 : 0;
        /* Keys are compared raw: ours are plain ASCII words. */
        if (k.n != klen || memcmp(k.p, key, klen) != 0)
            continue;
        if (v.n >= outlen)
            return -1;
        n = mgmt_unescape(v, out, true);
        if (n < 0)
            return -1;
        out[n] = '\0';
        return 1;
    }
    return 0;
}

/* FNV-1a, 32 bits: stable across runs and builds (no per-process key). */
static uint32_t fnv1a(struct view v)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < v.n; i++) {
        h ^= v.p[i];
        h *= 16777619u;
    }
    return h;
}

void mgmt_props_key(struct view key, struct view args, char *out, size_t size)
{
    static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if (size == 0)
        return;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (o + 1 < size)                                                                          \
            out[o++] = (c);                                                                        \
    } while (0)
    if (key.n == 0 && args.n == 0) {
        PUT('~');
        out[o] = '\0';
        return;
    }
    for (size_t i = 0; i < key.n; i++) {
        uint8_t c = key.p[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '-' || c == '_') {
            PUT((char)c);
        } else if (c == ' ') {
            PUT('+');
        } else {
            PUT('%');
            PUT(hex[c >> 4]);
            PUT(hex[c & 15]);
        }
    }
    if (args.n) {
        uint32_t h = fnv1a(args);
        uint8_t b[4] = {(uint8_t)(h >> 24), (uint8_t)(h >> 16), (uint8_t)(h >> 8), (uint8_t)h};
        PUT('~');
        /* 4 bytes -> 6 base64url characters, no padding (rabbit_misc:base64url). */
        PUT(b64url[b[0] >> 2]);
        PUT(b64url[(b[0] & 3) << 4 | b[1] >> 4]);
        PUT(b64url[(b[1] & 15) << 2 | b[2] >> 6]);
        PUT(b64url[b[2] & 63]);
        PUT(b64url[b[3] >> 2]);
        PUT(b64url[(b[3] & 3) << 4]);
    }
#undef PUT
    out[o] = '\0';
}
