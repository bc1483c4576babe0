/* SPDX-License-Identifier: MIT */
/*
 * api_deadletter: dead-letter inspection beyond RabbitMQ's API (issue 6).
 *
 * GET /api/queues/{vhost}/{queue}/messages is a non-destructive, paginated
 * peek: ready messages in delivery order, nothing removed, reordered or marked
 * redelivered, each with a stable id (the queue's sequence number) and its
 * decoded x-death. Filters: reason= matches when ANY x-death entry has that
 * reason (so a message that expired somewhere and was then rejected matches
 * both); origin_queue= matches x-first-death-queue. offset and count count
 * matching messages.
 *
 * POST /api/queues/{vhost}/{queue}/replay republishes dead letters, by id or
 * the first count (optionally filtered), to where they were first published
 * (the x-death entry of x-first-death-queue: its exchange and routing-keys,
 * CC keys again as a CC header) or to a given exchange / routing key.
 * Exactly once: a message is removed from the queue only after the target
 * queues took it (publish_route: routed > 0, refused == 0). Before anything
 * is published, a dry run over the same route set asks every target whether
 * it would accept (queue_would_accept), so a refusal (no route, reject-publish)
 * leaves the message in place and publishes nothing, not even to the queues
 * that would have taken it. "Taken" means enqueued; the store journals the
 * new copies (persistent, durable queues) before the removal, and the reply
 * does not wait for the fsync.
 *
 * A replayed message keeps every header, x-death included (its counts go on
 * as when a client republishes a dead letter), has CC rebuilt from the
 * routing keys used (none with a given routing_key, which also drops BCC)
 * and gains x-replayed-from (this queue's name) and x-replay-count (1, 2,
 * ...). Its expiration stays removed (x-death keeps original-expiration).
 * Replaying to the origin exchange and keys reaches every queue the original
 * publish reached, not only x-first-death-queue; to reach that queue alone,
 * give exchange "" and its name as routing_key.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/buf.h"
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

/* Largest page a peek returns, and most messages one replay moves. */
#define PEEK_COUNT_DEFAULT 100
#define PEEK_COUNT_MAX 500
#define REPLAY_MAX 10000

/* ---- x-death ---- */

struct dl_filter {
    const char *reason; /* NULL: any */
    const char *origin; /* NULL: any */
};

static bool str_is(const struct table_value *v, const char *s)
{
    return v->type == TABLE_LONGSTR && view_eq_str(v->v.str, s);
}

static bool matches(const struct dl_filter *f, const struct msg *m)
{
    struct view h = msg_headers(m);
    struct table_value v;

    if (f->origin && !(table_get(h, "x-first-death-queue", &v) && str_is(&v, f->origin)))
        return false;
    if (f->reason) {
        struct table_value e, r;
        struct table_iter it;
        bool any = false;

        if (!table_get(h, "x-death", &v) || v.type != TABLE_ARRAY)
            return false;
        table_iter_init(&it, v.v.array);
        while (!any && table_array_next(&it, &e))
            any = e.type == TABLE_TABLE && table_get(e.v.table, "reason", &r) &&
                  str_is(&r, f->reason);
        return any;
    }
    return true;
}

/* Where a dead letter was first published: the x-death entry for
 * x-first-death-queue (and x-first-death-reason when it is there; else the
 * oldest entry of that queue; else the oldest entry). Views into m. */
struct origin {
    struct view exchange;
    struct view keys; /* routing-keys array contents */
};

static bool entry_queue_is(struct view entry, struct view queue)
{
    struct table_value q;
    return table_get(entry, "queue", &q) && q.type == TABLE_LONGSTR && q.v.str.n == queue.n &&
           memcmp(q.v.str.p, queue.p, queue.n) == 0;
}

static bool find_origin(const struct msg *m, struct origin *o)
{
    struct view h = msg_headers(m), best = {NULL, 0}, same_queue = {NULL, 0}, last = {NULL, 0};
    struct table_value deaths, fq, fr, e, x, keys;
    struct table_iter it;
    bool has_fq, has_fr;

    if (!table_get(h, "x-death", &deaths) || deaths.type != TABLE_ARRAY)
        return false;
    has_fq = table_get(h, "x-first-death-queue", &fq) && fq.type == TABLE_LONGSTR;
    has_fr = table_get(h, "x-first-death-reason", &fr) && fr.type == TABLE_LONGSTR;
    table_iter_init(&it, deaths.v.array);
    /* Newest first: the last match is the oldest. */
    while (table_array_next(&it, &e)) {
        struct table_value r;
        if (e.type != TABLE_TABLE)
            continue;
        last = e.v.table;
        if (!has_fq || !entry_queue_is(e.v.table, fq.v.str))
            continue;
        same_queue = e.v.table;
        if (has_fr && table_get(e.v.table, "reason", &r) && r.type == TABLE_LONGSTR &&
            r.v.str.n == fr.v.str.n && memcmp(r.v.str.p, fr.v.str.p, r.v.str.n) == 0)
            best = e.v.table;
    }
    if (!best.p)
        best = same_queue.p ? same_queue : last;
    if (!best.p || !table_get(best, "exchange", &x) || x.type != TABLE_LONGSTR || x.v.str.n > 255 ||
        !table_get(best, "routing-keys", &keys) || keys.type != TABLE_ARRAY)
        return false;
    o->exchange = x.v.str;
    o->keys = keys.v.array;
    return true;
}

/* ---- peek ---- */

struct peek_walk {
    const struct dl_filter *f;
    size_t skip, want; /* matching messages to skip, then to take */
    size_t taken;
    bool base64;
    long long truncate; /* -1: none */
    json_t *items;
};

static json_t *item_new(const struct peek_walk *w, struct msg *m, uint64_t seq, bool redelivered)
{
    struct view body = msg_body(m);
    struct table_value deaths;
    json_t *item = json_object();

    if (w->truncate >= 0 && body.n > (unsigned long long)w->truncate)
        body.n = (size_t)w->truncate;
    json_object_set_new(item, "id", json_integer((json_int_t)seq));
    json_object_set_new(item, "payload_bytes", json_integer((json_int_t)msg_body_size(m)));
    json_object_set_new(item, "redelivered", json_boolean(redelivered));
    json_object_set_new(item, "exchange", json_table_string_new(msg_exchange(m)));
    json_object_set_new(item, "routing_key", json_table_string_new(msg_routing_key(m)));
    json_object_set_new(item, "properties", mgmt__props_new(msg_props(m)));
    if (table_get(msg_headers(m), "x-death", &deaths) && deaths.type == TABLE_ARRAY)
        json_object_set_new(item, "x_death", json_table_array_new(deaths.v.array));
    else
        json_object_set_new(item, "x_death", json_array());
    mgmt__payload_set(item, body, w->base64);
    return item;
}

static bool peek_one(void *arg, struct msg *m, uint64_t seq, bool redelivered)
{
    struct peek_walk *w = arg;

    if (!matches(w->f, m))
        return true;
    if (w->skip) {
        w->skip--;
        return true;
    }
    if (w->taken < w->want - 1) /* the last one only says whether there is more */
        json_array_append_new(w->items, item_new(w, m, seq, redelivered));
    return ++w->taken < w->want;
}

/* Parses a query number: *out stays as is when the key is absent. */
static bool query_num(struct mgmt_req *r, const char *key, long long min, long long max,
                      long long *out)
{
    char s[32], *end;
    long long v;

    if (!mgmt_query(r, key, s, sizeof(s)))
        return mgmt_query_get(r->query, key, s, sizeof(s)) == 0;
    v = strtoll(s, &end, 10);
    if (!s[0] || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* A query string filter: *out is NULL when absent or empty, else out. False
 * when it is malformed or longer than a queue name or reason can be. */
static bool query_str(struct mgmt_req *r, const char *key, char *out, size_t size, const char **res)
{
    int rc = mgmt_query_get(r->query, key, out, size);

    *res = rc == 1 && out[0] ? out : NULL;
    return rc >= 0;
}

/* The queue named by the path, after the checks /get makes: read permission,
 * not another connection's exclusive queue. NULL after replying. */
static struct queue *queue_arg(struct mgmt_req *r, struct vhost **vp)
{
    struct vhost *v = mgmt__vhost_arg(r, 0);
    struct proto_err e = {0};
    struct ops_ctx o;
    struct queue *q;

    if (!v)
        return NULL;
    mgmt__ops_ctx(r, v, &o);
    if (!(q = ops_queue(&o, mgmt_arg(r, 1), &e)) || queue_check_access(q, 0, &e) < 0 ||
        ops_check_access(&o, AUTH_READ, "queue", mgmt_arg(r, 1), &e) < 0) {
        mgmt__reply_proto_err(r, &e);
        return NULL;
    }
    *vp = v;
    return q;
}

void mgmt__h_queue_messages(struct mgmt_req *r)
{
    char enc[16] = "auto", reason[256], origin[256], reason_msg[128];
    long long offset = 0, count = PEEK_COUNT_DEFAULT, truncate = -1;
    struct dl_filter f = {NULL, NULL};
    struct peek_walk w;
    struct vhost *v;
    struct queue *q = queue_arg(r, &v);
    json_t *o;

    if (!q)
        return;
    if (!query_num(r, "offset", 0, (long long)1 << 40, &offset) ||
        !query_num(r, "count", 1, PEEK_COUNT_MAX, &count) ||
        !query_num(r, "truncate", 0, (long long)1 << 40, &truncate)) {
        snprintf(reason_msg, sizeof(reason_msg),
                 "offset and truncate must be integers >= 0, count from 1 to %d", PEEK_COUNT_MAX);
        mgmt_reply_bad_request(r, reason_msg);
        return;
    }
    if (mgmt_query_get(r->query, "encoding", enc, sizeof(enc)) < 0 ||
        (strcmp(enc, "auto") && strcmp(enc, "base64"))) {
        mgmt_reply_bad_request(r, "Unsupported encoding. Please use auto or base64.");
        return;
    }
    if (!query_str(r, "reason", reason, sizeof(reason), &f.reason) ||
        !query_str(r, "origin_queue", origin, sizeof(origin), &f.origin)) {
        mgmt_reply_bad_request(r, "reason and origin_queue must be at most 255 bytes");
        return;
    }
    w = (struct peek_walk){
        &f,       (size_t)offset, (size_t)count + 1, 0, strcmp(enc, "base64") == 0,
        truncate, json_array()};
    if (!f.reason && !f.origin) {
        /* Every message matches: let the queue skip the offset. */
        w.skip = 0;
        queue_peek(q, (size_t)offset, (size_t)count + 1, peek_one, &w);
    } else {
        queue_peek(q, 0, SIZE_MAX, peek_one, &w);
    }
    o = json_object();
    json_object_set_new(o, "vhost", json_string(queue_vhost(q)));
    json_object_set_new(o, "queue", json_string(queue_name(q)));
    json_object_set_new(o, "offset", json_integer(offset));
    json_object_set_new(o, "count", json_integer(count));
    json_object_set_new(o, "messages_ready", json_integer((json_int_t)queue_ready_count(q)));
    json_object_set_new(o, "item_count", json_integer((json_int_t)json_array_size(w.items)));
    json_object_set_new(o, "next_offset",
                        w.taken > (size_t)count ? json_integer(offset + count) : json_null());
    json_object_set_new(o, "items", w.items);
    mgmt_reply(r, 200, o);
}

/* ---- replay ---- */

struct pick {
    struct msg *m; /* a reference */
    uint64_t seq;
};

struct pick_walk {
    const struct dl_filter *f;
    uint64_t *ids; /* sorted, unique; NULL: the first want matching */
    size_t nids;
    size_t want;
    struct pick *picks;
    size_t n;
};

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool pick_one(void *arg, struct msg *m, uint64_t seq, bool redelivered)
{
    struct pick_walk *w = arg;

    (void)redelivered;
    if (w->ids ? !bsearch(&seq, w->ids, w->nids, sizeof(*w->ids), cmp_u64) : !matches(w->f, m))
        return true;
    w->picks[w->n].m = msg_ref(m);
    w->picks[w->n++].seq = seq;
    return w->n < w->want;
}

/* The target of one replay: exchange and routing keys (the first is the key,
 * the others become CC). */
struct target {
    struct view exchange;
    struct view key; /* used when keys is empty */
    struct view keys;
};

/* m's properties with CC replaced by the extra routing keys (if any), and
 * x-replayed-from / x-replay-count set. NULL when the properties do not
 * decode or the keys are unusable. */
static struct msg *replay_copy(const struct msg *m, const struct target *t, const char *from)
{
    struct view raw = msg_props(m), body = msg_body(m), key = t->key, k;
    struct spec_basic_props props;
    struct table_iter it;
    struct table_value v;
    struct buf hb = {0}, pb = {0};
    int64_t replays = 0;
    struct msg *out = NULL;
    size_t top, extra = 0;

    if (spec_decode_props(raw.p, raw.n, &props) != SPEC_OK)
        return NULL;
    if (t->keys.p) {
        table_iter_init(&it, t->keys);
        if (!table_array_next(&it, &v) || v.type != TABLE_LONGSTR || v.v.str.n > 255)
            return NULL;
        key = v.v.str;
    }
    top = table_open(&hb);
    table_iter_init(&it, (props.flags & SPEC_PROP_HEADERS) ? props.headers : (struct view){0});
    while (table_next(&it, &k, &v)) {
        if (view_eq_str(k, "x-replay-count")) {
            if (!table_value_as_i64(&v, &replays))
                replays = 0;
            continue;
        }
        /* CC is rebuilt from the keys used; a given routing key also drops
         * BCC (as a dead-letter routing key does), the origin's keeps it. */
        if (view_eq_str(k, "CC") || view_eq_str(k, "x-replayed-from") ||
            (!t->keys.p && view_eq_str(k, "BCC")))
            continue;
        buf_put_shortstr(&hb, k);
        table_put_raw(&hb, NULL, &v);
    }
    if (t->keys.p) {
        /* The routing key comes first; the others were CC keys. */
        table_iter_init(&it, t->keys);
        table_array_next(&it, &v);
        while (table_array_next(&it, &v))
            extra += v.type == TABLE_LONGSTR;
    }
    if (extra) {
        size_t arr = table_open_array(&hb, "CC");
        table_iter_init(&it, t->keys);
        table_array_next(&it, &v);
        while (table_array_next(&it, &v))
            if (v.type == TABLE_LONGSTR)
                table_put_longstr(&hb, NULL, v.v.str);
        table_close(&hb, arr);
    }
    table_put_longstr(&hb, "x-replayed-from", view_str(from));
    table_put_i64(&hb, "x-replay-count", replays + 1);
    table_close(&hb, top);
    props.flags |= SPEC_PROP_HEADERS;
    props.headers = (struct view){hb.p + 4, hb.len - 4};
    buf_reserve(&pb, spec_props_size(&props));
    pb.len = spec_encode_props(&props, pb.p);
    out = msg_create(t->exchange, key, (struct view){pb.p, pb.len}, body.n);
    if (out)
        msg_append_body(out, body);
    buf_free(&hb);
    buf_free(&pb);
    return out;
}

/* The dry run: counts the queues a publish would reach and those that would
 * refuse; publishes nothing. */
struct probe {
    size_t targets, refusing;
};

static bool probe_queue(void *arg, struct queue *q, struct msg *m)
{
    struct probe *p = arg;

    p->targets++;
    if (!queue_would_accept(q, m))
        p->refusing++;
    return false;
}

static void fail(json_t *failed, uint64_t id, const char *reason)
{
    json_array_append_new(failed, json_pack("{s:I, s:s}", "id", (json_int_t)id, "reason", reason));
}

struct replay_req {
    struct mgmt_req *r;
    struct vhost *v;
    struct queue *q;
    bool has_exchange, has_key;
    struct view exchange, key;
};

/* Replays one picked message; returns NULL on success or the failure reason. */
static const char *replay_one(struct replay_req *rq, const struct pick *p)
{
    struct target t = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    struct publish_result res;
    struct proto_err e = {0};
    struct probe pr = {0, 0};
    struct ops_ctx o;
    struct origin org;
    struct exch *x;
    struct msg *copy, *removed;
    const char *why = NULL;

    if (!rq->has_exchange || !rq->has_key) {
        if (!find_origin(p->m, &org))
            return "no_x_death";
        t.exchange = org.exchange;
        t.keys = org.keys;
    }
    if (rq->has_exchange)
        t.exchange = rq->exchange;
    if (rq->has_key) {
        t.key = rq->key;
        t.keys = (struct view){NULL, 0};
    }
    if (!(x = vhost_exch(rq->v, t.exchange)))
        return "no_exchange";
    mgmt__ops_ctx(rq->r, rq->v, &o);
    if ((exch_flags(x) & EXCH_F_INTERNAL) ||
        ops_check_access(&o, AUTH_WRITE, "exchange", t.exchange, &e) < 0)
        return "access_refused";
    if (!(copy = replay_copy(p->m, &t, queue_name(rq->q))))
        return "no_x_death";
    publish_route_filtered(rq->v, x, copy, probe_queue, &pr, &res);
    if (!pr.targets) {
        why = "no_route";
    } else if (pr.refusing) {
        why = "refused";
    } else {
        publish_route(rq->v, x, copy, &res);
        stats.publish++;
        /* Cannot differ from the dry run (one thread, same route set); if it
         * ever did, keep the dead letter: a duplicate beats a loss. */
        if (res.routed == 0 || res.refused > 0) {
            why = res.routed ? "partially_refused" : "refused";
        } else {
            /* NULL only if publishing into this very queue pushed it out
             * (drop-head): it is gone either way. */
            removed = queue_remove(rq->q, p->seq, NULL);
            msg_unref(&removed);
        }
    }
    msg_unref(&copy);
    return why;
}

/* Reads the optional exchange / routing_key; false after replying 400 or 404. */
static bool replay_target(struct replay_req *rq, const json_t *body)
{
    const json_t *x = json_object_get(body, "exchange"), *k = json_object_get(body, "routing_key");
    struct proto_err e = {0};
    struct ops_ctx o;

    if ((x && (!json_is_string(x) || json_string_length(x) > 255)) ||
        (k && (!json_is_string(k) || json_string_length(k) > 255))) {
        mgmt_reply_bad_request(rq->r, "exchange and routing_key must be strings of at most 255 "
                                      "bytes");
        return false;
    }
    if (x) {
        rq->has_exchange = true;
        rq->exchange = (struct view){(const uint8_t *)json_string_value(x), json_string_length(x)};
        if (view_eq_str(rq->exchange, "amq.default"))
            rq->exchange = (struct view){(const uint8_t *)"", 0};
        mgmt__ops_ctx(rq->r, rq->v, &o);
        if (!ops_exchange(&o, rq->exchange, &e)) {
            mgmt__reply_proto_err(rq->r, &e);
            return false;
        }
    }
    if (k) {
        rq->has_key = true;
        rq->key = (struct view){(const uint8_t *)json_string_value(k), json_string_length(k)};
    }
    return true;
}

/* Reads ids (sorted, unique, into *ids) or count; false after replying 400. */
static bool replay_selection(struct mgmt_req *r, const json_t *body, uint64_t **ids, size_t *nids,
                             size_t *count)
{
    const json_t *c = json_object_get(body, "count"), *a = json_object_get(body, "ids"), *e;
    size_t i, n = 0;

    *ids = NULL;
    *nids = *count = 0;
    if ((c != NULL) == (a != NULL)) {
        mgmt_reply_bad_request(r, "give either count or ids");
        return false;
    }
    if (c) {
        if (!json_is_integer(c) || json_integer_value(c) < 1 ||
            json_integer_value(c) > REPLAY_MAX) {
            mgmt_reply_bad_request(r, "count must be an integer from 1 to 10000");
            return false;
        }
        *count = (size_t)json_integer_value(c);
        return true;
    }
    if (!json_is_array(a) || json_array_size(a) < 1 || json_array_size(a) > REPLAY_MAX) {
        mgmt_reply_bad_request(r, "ids must be a list of 1 to 10000 message ids");
        return false;
    }
    *ids = xcalloc(json_array_size(a), sizeof(**ids));
    json_array_foreach(a, i, e)
    {
        if (!json_is_integer(e) || json_integer_value(e) < 0) {
            free(*ids);
            *ids = NULL;
            mgmt_reply_bad_request(r, "ids must be a list of 1 to 10000 message ids");
            return false;
        }
        (*ids)[i] = (uint64_t)json_integer_value(e);
    }
    qsort(*ids, json_array_size(a), sizeof(**ids), cmp_u64);
    for (i = 0; i < json_array_size(a); i++)
        if (i == 0 || (*ids)[i] != (*ids)[n - 1])
            (*ids)[n++] = (*ids)[i];
    *nids = n;
    return true;
}

void mgmt__h_queue_replay(struct mgmt_req *r)
{
    struct replay_req rq = {r, NULL, NULL, false, false, {NULL, 0}, {NULL, 0}};
    struct dl_filter f = {NULL, NULL};
    struct pick_walk w = {&f, NULL, 0, 0, NULL, 0};
    json_t *body = NULL, *failed, *done;
    size_t replayed = 0;

    if (!(rq.q = queue_arg(r, &rq.v)) || !(body = mgmt_body_object(r)))
        return;
    if (!replay_target(&rq, body) || !replay_selection(r, body, &w.ids, &w.nids, &w.want))
        goto out;
    if (json_object_get(body, "reason") || json_object_get(body, "origin_queue")) {
        const json_t *jr = json_object_get(body, "reason");
        const json_t *jo = json_object_get(body, "origin_queue");
        if ((jr && !json_is_string(jr)) || (jo && !json_is_string(jo)) || w.ids) {
            mgmt_reply_bad_request(r, "reason and origin_queue are strings, used with count");
            goto out;
        }
        f.reason = jr ? json_string_value(jr) : NULL;
        f.origin = jo ? json_string_value(jo) : NULL;
    }
    if (w.ids)
        w.want = w.nids;
    w.picks = xcalloc(w.want, sizeof(*w.picks));
    /* Pick first, then publish: publishing may add to this queue (a target
     * bound back to it) and the walk must not see those. */
    queue_peek(rq.q, 0, SIZE_MAX, pick_one, &w);
    failed = json_array();
    done = json_array();
    for (size_t i = 0; i < w.n; i++) {
        const char *why = replay_one(&rq, &w.picks[i]);
        if (why) {
            fail(failed, w.picks[i].seq, why);
        } else {
            replayed++;
            json_array_append_new(done, json_integer((json_int_t)w.picks[i].seq));
        }
        msg_unref(&w.picks[i].m);
    }
    /* Ids that are not ready messages here: unknown, replayed already, or
     * delivered and unacknowledged. */
    if (w.ids) {
        bool *picked = xcalloc(w.nids, sizeof(*picked));
        for (size_t i = 0; i < w.n; i++) {
            const uint64_t *at = bsearch(&w.picks[i].seq, w.ids, w.nids, sizeof(*w.ids), cmp_u64);
            picked[at - w.ids] = true;
        }
        for (size_t i = 0; i < w.nids; i++)
            if (!picked[i])
                fail(failed, w.ids[i], "not_found");
        free(picked);
    }
    /* Dead letters the targets produced (drop-head) go out now. */
    queue_flush();
    mgmt_reply(r, 200,
               json_pack("{s:I, s:o, s:o}", "replayed", (json_int_t)replayed, "replayed_ids", done,
                         "failed", failed));
    free(w.picks);
out:
    free(w.ids);
    json_decref(body);
}
