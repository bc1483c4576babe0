/* SPDX-License-Identifier: MIT */
#include "broker/deadletter.h"

#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/msg.h"

/* Appends the routing keys the message was published with: its key plus CC. */
static void put_routing_keys(struct buf *b, const struct msg *m, struct view headers)
{
    size_t arr = table_open_array(b, "routing-keys");
    struct table_value cc, v;
    struct table_iter it;

    table_put_longstr(b, NULL, msg_routing_key(m));
    if (table_get(headers, "CC", &cc) && cc.type == TABLE_ARRAY) {
        table_iter_init(&it, cc.v.array);
        while (table_array_next(&it, &v))
            if (v.type == TABLE_LONGSTR)
                table_put_longstr(b, NULL, v.v.str);
    }
    table_close(b, arr);
}

static bool entry_is(struct view entry, const char *queue, const char *reason)
{
    struct table_value q, r;

    return table_get(entry, "queue", &q) && q.type == TABLE_LONGSTR &&
           view_eq_str(q.v.str, queue) && table_get(entry, "reason", &r) &&
           r.type == TABLE_LONGSTR && view_eq_str(r.v.str, reason);
}

/* Copies an x-death entry with its count incremented (the other fields keep
 * their first-death values, as RabbitMQ does). */
static void put_bumped_entry(struct buf *b, struct view entry)
{
    size_t t = table_open_table(b, NULL);
    struct table_iter it;
    struct table_value v;
    struct view key;
    int64_t count;

    table_iter_init(&it, entry);
    while (table_next(&it, &key, &v)) {
        if (view_eq_str(key, "count") && table_value_as_i64(&v, &count)) {
            table_put_i64(b, "count", count + 1);
            continue;
        }
        buf_put_shortstr(b, key);
        table_put_raw(b, NULL, &v);
    }
    table_close(b, t);
}

static void put_new_entry(struct buf *b, const struct msg *m, struct view headers,
                          const struct spec_basic_props *props, const char *queue,
                          const char *reason, uint64_t now)
{
    size_t t = table_open_table(b, NULL);

    table_put_i64(b, "count", 1);
    table_put_longstr(b, "reason", view_str(reason));
    table_put_longstr(b, "queue", view_str(queue));
    table_put_timestamp(b, "time", now);
    table_put_longstr(b, "exchange", msg_exchange(m));
    put_routing_keys(b, m, headers);
    if (props->flags & SPEC_PROP_EXPIRATION)
        table_put_longstr(b, "original-expiration", props->expiration);
    table_close(b, t);
}

static bool is_death_key(struct view key)
{
    return view_eq_str(key, "x-death") || view_eq_str(key, "x-last-death-queue") ||
           view_eq_str(key, "x-last-death-reason") || view_eq_str(key, "x-last-death-exchange");
}

struct msg *deadletter_make(const struct msg *m, const char *queue, const char *reason,
                            struct view dlx, struct view dlrk, bool has_dlrk, uint64_t now)
{
    struct view raw = msg_props(m), headers = msg_headers(m), body = msg_body(m), key;
    struct spec_basic_props props;
    struct table_value v, deaths;
    struct table_iter it;
    struct buf hb = {0}, pb = {0};
    struct msg *out = NULL;
    size_t top, arr;

    if (spec_decode_props(raw.p, raw.n, &props) != SPEC_OK)
        return NULL;
    top = table_open(&hb);
    /* Everything the message carried, minus what is rewritten below. */
    table_iter_init(&it, headers);
    while (table_next(&it, &key, &v)) {
        /* With a dead-letter routing key, CC and BCC no longer apply; without
         * one, the dead letter is routed by every original key, BCC included
         * (still hidden from consumers at delivery). */
        if (is_death_key(key) || (has_dlrk && (view_eq_str(key, "CC") || view_eq_str(key, "BCC"))))
            continue;
        buf_put_shortstr(&hb, key);
        table_put_raw(&hb, NULL, &v);
    }
    if (!table_get(headers, "x-first-death-queue", &v)) {
        table_put_longstr(&hb, "x-first-death-queue", view_str(queue));
        table_put_longstr(&hb, "x-first-death-reason", view_str(reason));
        table_put_longstr(&hb, "x-first-death-exchange", msg_exchange(m));
    }
    table_put_longstr(&hb, "x-last-death-queue", view_str(queue));
    table_put_longstr(&hb, "x-last-death-reason", view_str(reason));
    table_put_longstr(&hb, "x-last-death-exchange", msg_exchange(m));

    /* x-death: this {queue, reason} first (new or bumped), then the others in order. */
    arr = table_open_array(&hb, "x-death");
    bool found = false;
    if (table_get(headers, "x-death", &deaths) && deaths.type == TABLE_ARRAY) {
        table_iter_init(&it, deaths.v.array);
        while (table_array_next(&it, &v))
            if (v.type == TABLE_TABLE && entry_is(v.v.table, queue, reason)) {
                put_bumped_entry(&hb, v.v.table);
                found = true;
                break;
            }
    }
    if (!found)
        put_new_entry(&hb, m, headers, &props, queue, reason, now);
    if (table_get(headers, "x-death", &deaths) && deaths.type == TABLE_ARRAY) {
        table_iter_init(&it, deaths.v.array);
        while (table_array_next(&it, &v))
            if (!(v.type == TABLE_TABLE && entry_is(v.v.table, queue, reason)))
                table_put_raw(&hb, NULL, &v);
    }
    table_close(&hb, arr);
    table_close(&hb, top);

    props.flags |= SPEC_PROP_HEADERS;
    props.headers = (struct view){hb.p + 4, hb.len - 4};
    props.flags &= (uint16_t)~SPEC_PROP_EXPIRATION;
    props.expiration = (struct view){NULL, 0};
    if (hb.len - 4 > UINT32_MAX)
        goto out;
    buf_reserve(&pb, spec_props_size(&props));
    pb.len = spec_encode_props(&props, pb.p);
    out =
        msg_create(dlx, has_dlrk ? dlrk : msg_routing_key(m), (struct view){pb.p, pb.len}, body.n);
    if (out)
        msg_append_body(out, body);
out:
    buf_free(&hb);
    buf_free(&pb);
    return out;
}

bool deadletter_is_cycle(struct view headers, const char *target_queue)
{
    struct table_value deaths, v, r, q;
    struct table_iter it;

    if (!table_get(headers, "x-death", &deaths) || deaths.type != TABLE_ARRAY)
        return false;
    /* RabbitMQ 4.x (rabbit_dead_letter detect_cycles): walk the deaths newest
     * first up to the target's newest one; a rejection on the way means a
     * client was involved, so it is not an automatic cycle. */
    table_iter_init(&it, deaths.v.array);
    while (table_array_next(&it, &v)) {
        if (v.type != TABLE_TABLE)
            continue;
        if (table_get(v.v.table, "reason", &r) && r.type == TABLE_LONGSTR &&
            view_eq_str(r.v.str, "rejected"))
            return false;
        if (table_get(v.v.table, "queue", &q) && q.type == TABLE_LONGSTR &&
            view_eq_str(q.v.str, target_queue))
            return true;
    }
    return false;
}

/* A copy of m with header drop removed and, when set is not NULL, header set
 * replaced by the long value. */
static struct msg *edit_headers(const struct msg *m, const char *drop, const char *set,
                                int64_t value)
{
    struct view raw = msg_props(m), body = msg_body(m), key;
    struct spec_basic_props props;
    struct table_value v;
    struct table_iter it;
    struct buf hb = {0}, pb = {0};
    struct msg *out;
    size_t top;

    if (spec_decode_props(raw.p, raw.n, &props) != SPEC_OK)
        return NULL;
    top = table_open(&hb);
    table_iter_init(&it, msg_headers(m));
    while (table_next(&it, &key, &v)) {
        if ((drop && view_eq_str(key, drop)) || (set && view_eq_str(key, set)))
            continue;
        buf_put_shortstr(&hb, key);
        table_put_raw(&hb, NULL, &v);
    }
    if (set)
        table_put_i64(&hb, set, value);
    table_close(&hb, top);
    props.flags |= SPEC_PROP_HEADERS;
    props.headers = (struct view){hb.p + 4, hb.len - 4};
    buf_reserve(&pb, spec_props_size(&props));
    pb.len = spec_encode_props(&props, pb.p);
    out = msg_create(msg_exchange(m), msg_routing_key(m), (struct view){pb.p, pb.len}, body.n);
    if (out)
        msg_append_body(out, body);
    buf_free(&hb);
    buf_free(&pb);
    return out;
}

struct msg *deadletter_with_delivery_count(const struct msg *m, uint32_t count)
{
    return edit_headers(m, NULL, "x-delivery-count", count);
}

struct msg *deadletter_without_bcc(const struct msg *m)
{
    struct table_value v;

    if (!msg_headers(m).n || !table_get(msg_headers(m), "BCC", &v))
        return NULL;
    return edit_headers(m, "BCC", NULL, 0);
}
