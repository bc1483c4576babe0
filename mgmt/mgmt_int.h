/* SPDX-License-Identifier: MIT */
/*
 * mgmt_int: what the management files share: the request record handed to
 * handlers, reply helpers, access rules, list handling, the rate sampler and
 * the JSON views. Everything runs on the loop thread.
 */
#ifndef MGMT_MGMT_INT_H
#define MGMT_MGMT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <regex.h>

#include "broker/buf.h"
#include "broker/util.h"
#include "mgmt/router.h"

struct auth;
struct auth_user;
struct config;
struct loop;
struct queue;
struct exch;
struct conn;
struct chan;
struct vhost;
struct mgmt_rates;

/** State shared by every request. */
struct mgmt_ctx {
    struct loop *loop;
    const struct config *cfg;
    struct auth *auth;
    struct mgmt_rates *rates;
    double started_at; /* seconds since the epoch */
};

/** One request, as the handlers see it, and the reply they build. */
struct mgmt_req {
    struct mgmt_ctx *ctx;
    unsigned method;
    struct mgmt_match match;
    struct view query; /* raw query string, without '?' */
    const char *body;  /* request body (not NUL-terminated); may be NULL */
    size_t body_len;
    const struct auth_user *user; /* NULL on the Prometheus listener */
    bool challenge;               /* a 401 that asks for credentials (WWW-Authenticate) */

    /* reply */
    unsigned status;
    json_t *json; /* owned; NULL for an empty body */
    char *text;   /* owned non-JSON body (metrics), or NULL */
    size_t text_len;
    const char *content_type;
    char location[1200]; /* Location header when non-empty */
};

typedef void mgmt_handler(struct mgmt_req *r);

/* ---- dispatch (mgmt/api.c) ---- */
/** Runs the handler for r->match.id (after authentication). */
void mgmt_dispatch(struct mgmt_req *r);
/** Whether a user may use the management API at all (one of RabbitMQ's tags). */
bool mgmt_user_is_management(const struct auth_user *u);

/* ---- replies (mgmt/api.c) ---- */
/** Replies status with body j (taking it; may be NULL). */
void mgmt_reply(struct mgmt_req *r, unsigned status, json_t *j);
/** {"error": error, "reason": reason} with status. */
void mgmt_reply_error(struct mgmt_req *r, unsigned status, const char *error, const char *reason);
/** 404 {"error":"Object Not Found","reason":"Not Found"}. */
void mgmt_reply_not_found(struct mgmt_req *r);
/** 400 {"error":"bad_request","reason": reason}. */
void mgmt_reply_bad_request(struct mgmt_req *r, const char *reason);
/** 401 {"error":"not_authorised","reason": reason}. */
void mgmt_reply_not_authorised(struct mgmt_req *r, const char *reason);

/* ---- request helpers (mgmt/api.c) ---- */
/** The i-th captured path segment (decoded, borrowed). */
struct view mgmt_arg(const struct mgmt_req *r, size_t i);
/** Query parameter key as a NUL-terminated string in out; false when absent or malformed. */
bool mgmt_query(const struct mgmt_req *r, const char *key, char *out, size_t outlen);
/** Query parameter "true" (RabbitMQ reads these flags as the literal true). */
bool mgmt_query_true(const struct mgmt_req *r, const char *key);
/**
 * Parses the body as a JSON object; on failure replies 400 "not_json" (as
 * RabbitMQ) and returns NULL. An empty body is an empty object. Owned by the caller.
 */
json_t *mgmt_body_object(struct mgmt_req *r);

/* ---- lists (mgmt/list.c) ---- */
/**
 * Replies with a list, applying RabbitMQ's list parameters: sort (a dotted
 * key; default vhost then name), sort_reverse, columns (comma-separated
 * dotted keys), and pagination (page, page_size up to 500, name,
 * use_regex), which wraps the items in {items, page, page_count, page_size,
 * filtered_count, item_count, total_count}. Takes arr.
 */
void mgmt_reply_list(struct mgmt_req *r, json_t *arr);
/** The value at a dotted key ("message_stats.publish") of o (borrowed), or NULL. */
json_t *mgmt_json_path(json_t *o, const char *path);
/**
 * Compares two values (either may be NULL: missing) the way the list sort
 * does, in Erlang term order: missing < numbers < atoms (null, booleans) <
 * strings; numbers by value, strings by bytes.
 */
int mgmt_json_cmp(const json_t *a, const json_t *b);
/** Keeps only the columns (comma-separated dotted keys) of obj, in place. */
void mgmt_columns(json_t *obj, const char *columns);

/** The list parameters of a request, parsed once (see mgmt_reply_list). */
struct mgmt_list {
    bool paged;
    long page, page_size;
    bool has_name, use_re; /* name filtering applies only to paged lists (RabbitMQ) */
    regex_t re;
    char name[512];
    bool has_sort, reverse;
    char sort[256];
    bool has_columns;
    char columns[2048];
};
/**
 * Parses r's list parameters into *l. Returns false after replying 400 (bad
 * pagination, bad regex); then *l needs no mgmt_list_end.
 */
bool mgmt_list_begin(struct mgmt_req *r, struct mgmt_list *l);
void mgmt_list_end(struct mgmt_list *l);
/** Whether an item named name passes the name / use_regex filter. */
bool mgmt_list_name_matches(const struct mgmt_list *l, const char *name);
/** Which of kept filtered items [*from, *to) the requested page holds. */
void mgmt_list_page(const struct mgmt_list *l, size_t kept, size_t *from, size_t *to);

/* ---- JSON written directly (mgmt/jsonw.c), as json_dumps(JSON_COMPACT) would ---- */
/** buf_append for the many small pieces of a list: the copy inlined. */
static inline void mgmt_jw_put(struct buf *b, const void *p, size_t n)
{
    if (b->cap - b->len < n || !b->p)
        buf_reserve(b, n);
    memcpy(b->p + b->len, p, n);
    b->len += n;
}
void mgmt_jw_raw(struct buf *b, const char *s);
/** A JSON string of any bytes: escapes as jansson, invalid UTF-8 as U+FFFD. */
void mgmt_jw_str(struct buf *b, struct view s);
void mgmt_jw_int(struct buf *b, long long v);
void mgmt_jw_real(struct buf *b, double d);
/** Any JSON value (borrowed), through json_dumps. */
void mgmt_jw_json(struct buf *b, const json_t *j);

/* ---- rates (mgmt/rates.c) ---- */
/** Samples every SAMPLE interval; owned by the ctx. */
struct mgmt_rates *mgmt_rates_create(void);
void mgmt_rates_destroy(struct mgmt_rates *r);
/** Takes a sample of the global counters and every queue's counts (called every 5 s). */
void mgmt_rates_sample(struct mgmt_rates *r, double now);
/** Per-second rate of a global counter (offset into struct stats) over the last interval. */
double mgmt_rates_global(const struct mgmt_rates *r, size_t stats_offset);
/** Indexes of mgmt_rates_queue's rates: the counts, then the queue's message_stats. */
enum {
    MGMT_QR_MESSAGES,
    MGMT_QR_READY,
    MGMT_QR_UNACKED,
    MGMT_QR_PUBLISH,
    MGMT_QR_DELIVER,
    MGMT_QR_DELIVER_NO_ACK,
    MGMT_QR_GET,
    MGMT_QR_GET_NO_ACK,
    MGMT_QR_REDELIVER,
    MGMT_QR_ACK,
    MGMT_QRATES
};
/**
 * Rates of a queue's messages, messages_ready and messages_unacknowledged and
 * of its message_stats counters (queue_msg_stats), indexed by MGMT_QR_*; zeros
 * until the queue has two samples. One lookup, no allocation.
 */
void mgmt_rates_queue(const struct mgmt_rates *r, const struct queue *q, double out[MGMT_QRATES]);
/** Rates of the totals of messages, ready and unacknowledged over all queues. */
void mgmt_rates_totals(const struct mgmt_rates *r, double out[3]);
/** The sampling interval in seconds (RabbitMQ's collect_statistics_interval: 5 s). */
#define MGMT_RATES_INTERVAL 5.0

/* ---- views (mgmt/views_*.c): new JSON values for broker objects ---- */
/** The node name we report ("leveret@<hostname>"). */
const char *mgmt_node_name(void);
/** {"rate": r} */
json_t *mgmt_details_new(double rate);
struct queue_dl_counts;
/** {"rejected","expired","maxlen","delivery_limit","dropped_no_dlx","received"} counts. */
json_t *mgmt_dead_letter_stats_new(const struct queue_dl_counts *c);
/**
 * Writes queue q as its management JSON object to b: the 12 basic fields, and
 * with full the counters, rates, dead_letter_stats and message_stats. columns (may be NULL:
 * every field) is a comma-separated list of top-level keys, written in that
 * order as mgmt_columns would keep them; unknown keys are skipped.
 */
void mgmt_queue_write(struct buf *b, const struct mgmt_ctx *ctx, struct queue *q, bool full,
                      const char *columns);
/** The same object as a new jansson value. */
json_t *mgmt_queue_new(const struct mgmt_ctx *ctx, struct queue *q, bool full);
/** The queue object's "memory": a base, the ready bodies held in memory and
 * the entries and stubs of paged-out ones. */
uint64_t mgmt_queue_memory(const struct queue *q);
json_t *mgmt_exchange_new(const struct exch *x, const char *vhost);
/** Every binding of vhost v as a JSON array (the default exchange's implicit ones first). */
json_t *mgmt_bindings_new(const struct vhost *v);
/** One binding object. */
json_t *mgmt_binding_new(const char *vhost, const char *source, const char *dest,
                         bool dest_is_queue, struct view key, struct view args);
/** Connection name as RabbitMQ shows it: "peer -> local". Writes into out. */
void mgmt_conn_name(const struct mgmt_ctx *ctx, const struct conn *c, char *out, size_t size);
json_t *mgmt_connection_new(const struct mgmt_ctx *ctx, struct conn *c);
json_t *mgmt_channel_new(const struct mgmt_ctx *ctx, struct chan *ch);
/** Appends the consumer objects of channel ch to arr. vhost NULL: any. */
void mgmt_consumers_append(const struct mgmt_ctx *ctx, struct chan *ch, const char *vhost,
                           json_t *arr);
json_t *mgmt_overview_new(const struct mgmt_ctx *ctx, const struct auth_user *u);
json_t *mgmt_node_new(const struct mgmt_ctx *ctx);
json_t *mgmt_message_stats_new(const struct mgmt_ctx *ctx);

/* ---- Prometheus (mgmt/prom.c) ---- */
/** The text exposition body; per_object adds per-queue series. Owned by the caller (free). */
char *mgmt_prom_render(const struct mgmt_ctx *ctx, bool per_object, size_t *len);

#endif
