/* SPDX-License-Identifier: MIT */
/*
 * router: the management API's request router and URL helpers. Pure: no I/O,
 * no allocation, no broker state, so it is unit-tested and fuzzed alone.
 *
 * The route table (router.c) lists {methods, path pattern, route id}; the
 * handlers are looked up by id in mgmt/api.c. Patterns are '/'-separated
 * segments, each a literal or a "{name}" capture. A request path is split on
 * '/' before any percent-decoding, so a vhost "/" travels as "%2F" inside one
 * segment, as in RabbitMQ; each segment is then percent-decoded.
 */
#ifndef MGMT_ROUTER_H
#define MGMT_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/util.h"

/** HTTP methods as bits, so a route can accept several. */
enum {
    MGMT_GET = 1u << 0,
    MGMT_HEAD = 1u << 1,
    MGMT_PUT = 1u << 2,
    MGMT_POST = 1u << 3,
    MGMT_DELETE = 1u << 4,
    MGMT_OPTIONS = 1u << 5,
};

/** Every route; the names follow the URL. */
enum mgmt_route {
    MGMT_R_OVERVIEW,
    MGMT_R_NODES,
    MGMT_R_NODE,
    MGMT_R_NODE_WATERMARK, /* memory high watermark at run time (ours) */
    MGMT_R_EXTENSIONS,
    MGMT_R_WHOAMI,
    MGMT_R_VHOSTS,
    MGMT_R_VHOST,
    MGMT_R_VHOST_PERMISSIONS,
    MGMT_R_VHOST_CONNECTIONS,
    MGMT_R_VHOST_CHANNELS,
    MGMT_R_VHOST_LIMITS,       /* /api/vhost-limits */
    MGMT_R_VHOST_LIMITS_VHOST, /* /api/vhost-limits/{vhost} */
    MGMT_R_VHOST_LIMIT,        /* /api/vhost-limits/{vhost}/{name} */
    MGMT_R_USERS,
    MGMT_R_USER,
    MGMT_R_USER_PERMISSIONS,
    MGMT_R_PERMISSIONS,
    MGMT_R_PERMISSION,
    MGMT_R_CONNECTIONS,
    MGMT_R_CONNECTION,
    MGMT_R_CONNECTION_CHANNELS,
    MGMT_R_CHANNELS,
    MGMT_R_CHANNEL,
    MGMT_R_CONSUMERS,
    MGMT_R_CONSUMERS_VHOST,
    MGMT_R_EXCHANGES,
    MGMT_R_EXCHANGES_VHOST,
    MGMT_R_EXCHANGE,
    MGMT_R_EXCHANGE_BINDINGS_SOURCE,
    MGMT_R_EXCHANGE_BINDINGS_DESTINATION,
    MGMT_R_EXCHANGE_PUBLISH,
    MGMT_R_QUEUES,
    MGMT_R_QUEUES_VHOST,
    MGMT_R_QUEUE,
    MGMT_R_QUEUE_BINDINGS,
    MGMT_R_QUEUE_CONTENTS,
    MGMT_R_QUEUE_GET,
    MGMT_R_QUEUE_MESSAGES, /* peek (ours) */
    MGMT_R_QUEUE_REPLAY,   /* dead-letter replay (ours) */
    MGMT_R_BINDINGS,
    MGMT_R_BINDINGS_VHOST,
    MGMT_R_BINDINGS_EQ, /* /api/bindings/{vhost}/e/{source}/q/{destination} */
    MGMT_R_BINDING_EQ,  /* ... /{props} */
    MGMT_R_BINDINGS_EE, /* /api/bindings/{vhost}/e/{source}/e/{destination} */
    MGMT_R_BINDING_EE,  /* ... /{props} */
    MGMT_R_DEFINITIONS,
    MGMT_R_DEFINITIONS_VHOST,
    MGMT_R_HEALTH_ALARMS,
    MGMT_R_HEALTH_LOCAL_ALARMS,
    MGMT_R_HEALTH_PORT_LISTENER,
    MGMT_R_HEALTH_PROTOCOL_LISTENER,
    MGMT_R_HEALTH_VIRTUAL_HOSTS,
    MGMT_R_HEALTH_IS_IN_SERVICE,
    MGMT_R_HEALTH_READY,
    MGMT_R_METRICS,
    MGMT_R_METRICS_PER_OBJECT,
    MGMT_R_COUNT
};

#define MGMT_ROUTE_MAX_ARGS 4

/** What mgmt_route() found. args are views into the caller's scratch buffer. */
struct mgmt_match {
    enum mgmt_route id;
    unsigned allowed; /* methods the path accepts (for 405's Allow header) */
    size_t nargs;
    struct view args[MGMT_ROUTE_MAX_ARGS];
};

enum mgmt_route_result {
    MGMT_ROUTE_FOUND,
    MGMT_ROUTE_NOT_FOUND,  /* no pattern matches the path: 404 */
    MGMT_ROUTE_BAD_METHOD, /* a pattern matches, not with this method: 405 */
    MGMT_ROUTE_BAD_PATH,   /* malformed percent-encoding: 400 */
};

/** "GET" -> MGMT_GET ...; 0 for anything else. name is borrowed. */
unsigned mgmt_method_parse(const char *name);

/**
 * Routes method (one MGMT_* bit; HEAD is routed as GET) and path (len bytes,
 * any bytes, borrowed; without the query string). Captured segments are
 * percent-decoded into scratch (scratch_len must be at least len; a shorter
 * buffer gives MGMT_ROUTE_NOT_FOUND) and m->args point into it. Never
 * allocates and never calls back.
 */
enum mgmt_route_result mgmt_route(unsigned method, const char *path, size_t len, char *scratch,
                                  size_t scratch_len, struct mgmt_match *m);

/**
 * Writes the Allow header value for a methods mask ("HEAD, GET, PUT, DELETE,
 * OPTIONS", RabbitMQ's order) into out (NUL-terminated, truncated to size).
 */
void mgmt_allow_header(unsigned allowed, char *out, size_t size);

/**
 * Percent-decodes in (borrowed) into out (at least in.n bytes). With plus,
 * '+' decodes to a space (query strings). Returns the decoded length, or -1
 * on a malformed escape.
 */
long mgmt_unescape(struct view in, char *out, bool plus);

/**
 * Looks key up in a raw query string ("a=1&b=x%20y"; borrowed) and decodes its
 * first value into out (NUL-terminated; outlen bytes including the NUL). A key
 * without '=' has the empty value. Returns 1 when found, 0 when absent, -1
 * when the value is malformed or does not fit.
 */
int mgmt_query_get(struct view query, const char *key, char *out, size_t outlen);

/**
 * RabbitMQ's binding "properties_key": the routing key quoted as
 * application/x-www-form-urlencoded with '~' escaped as "%7E", then, when the
 * binding has arguments, "~" and a hash of them (args_hash: 6 base64url
 * characters of a 32-bit hash; ours hashes the canonical table bytes, so the
 * value differs from RabbitMQ's but is stable and unique per binding). An
 * empty key without arguments is "~". Writes into out (NUL-terminated,
 * truncated to size); key and args are borrowed.
 */
void mgmt_props_key(struct view key, struct view args, char *out, size_t size);

#endif
