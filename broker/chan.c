/* SPDX-License-Identifier: MIT */
#include "broker/chan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/table.h"
#include "broker/auth.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/deadletter.h"
#include "broker/durable.h"
#include "broker/handlers_gen.h"
#include "broker/loop.h"
#include "broker/map.h"
#include "broker/msg.h"
#include "broker/names.h"
#include "broker/publish.h"
#include "broker/stats.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

/* basic.return's code for an unroutable mandatory message; RabbitMQ's, not in the XML. */
#define REPLY_NO_ROUTE 312

enum chan_state {
    CHAN_OPENING, /* channel.open received, open-ok not yet sent */
    CHAN_OPEN,
    CHAN_CLOSING, /* we sent channel.close; waiting for close-ok */
};

/* A consumer as the channel sees it; the queue keeps its own record. */
struct chan_consumer {
    struct chan *ch;
    struct queue *q; /* a reference */
    struct consumer *qc;
    char *tag;
    bool no_ack;
    uint16_t prefetch; /* 0 = unlimited */
    uint32_t unacked;
};

/* One delivery awaiting ack. Tags only grow, so the ring stays sorted by tag;
 * an acked entry in the middle becomes a tombstone (m == NULL). */
struct unacked {
    uint64_t tag;
    uint64_t seq;
    struct msg *m;
    struct queue *q;            /* a reference */
    struct chan_consumer *cons; /* NULL for basic.get, or once the consumer is gone */
};

/* A reply held until the records it vouches for are durable: a publisher
 * confirm (basic.ack / basic.nack) or a tx.commit-ok. */
enum held_kind { HELD_ACK, HELD_NACK, HELD_COMMIT };
struct held {
    uint64_t seq;    /* publish sequence number (confirms) */
    uint64_t ticket; /* durable_ticket() to wait for; 0: none */
    enum held_kind kind;
};

/* A transaction's buffered work (spec §1.9: applied at tx.commit). */
struct tx_op {
    enum { TX_PUBLISH, TX_ACK, TX_REJECT } kind;
    bool flag; /* publish: mandatory; ack/reject: multiple */
    bool requeue;
    uint64_t tag;
    struct msg *m;
};

struct chan {
    struct conn *conn;
    uint16_t n;
    enum chan_state state;
    bool confirm;
    bool tx;
    bool confirm_dirty;
    bool global_qos_set;

    /* content assembly (spec §4.2.6): method, then header, then body frames */
    bool want_header;
    bool want_body;
    bool pub_mandatory;
    uint8_t pub_exch_len, pub_key_len;
    char pub_exch[256]; /* names of the publish in progress: the exchange is */
    char pub_key[256];  /* looked up again once the body is complete */
    struct msg *pub_msg;
    uint64_t pub_got; /* body bytes received so far */

    /* consumers */
    struct map *consumers;    /* tag -> struct chan_consumer */
    uint16_t prefetch_next;   /* basic.qos global=false: for consumers created later */
    uint16_t prefetch_global; /* basic.qos global=true: shared by the channel */

    /* unacked deliveries */
    struct unacked *ua;
    size_t ua_head, ua_len, ua_cap; /* ring; ua_len counts tombstones too */
    size_t ua_live;
    uint64_t next_tag;

    /* publisher confirms */
    uint64_t pub_seq;    /* sequence number of the last publish */
    uint64_t acked_upto; /* every publish <= this is confirmed, ack not yet sent */
    uint64_t acked_sent; /* ... and <= this was sent */
    /* Replies waiting for the store, in order (a ring). Confirms are
     * cumulative, so once one waits every later one waits behind it. */
    struct held *held;
    size_t held_head, held_len, held_cap;
    bool waiting; /* in the list of channels with held replies */

    /* transactions */
    struct tx_op *txops;
    size_t ntx, captx;

    char *last_queue;

    /* direct reply-to (amq.rabbitmq.reply-to): this channel's reply consumer */
    char *reply_tag;
    char *reply_key; /* "<conn>.<chan>.<nonce>": the suffix of rewritten reply_to */
};

#define REPLY_TO "amq.rabbitmq.reply-to"
#define REPLY_TO_PREFIX REPLY_TO "."

/* Reply keys -> channels with a reply consumer (one loop, so module state). */
static struct map *reply_chans;

/* Channels with held replies (entries are NULLed when a channel goes). */
static struct chan **waiting;
static size_t nwaiting, capwaiting;

/* ---- basics ---- */

struct chan *chan_create(struct conn *c, uint16_t n)
{
    struct chan *ch = xcalloc(1, sizeof(*ch));

    ch->conn = c;
    ch->n = n;
    ch->state = CHAN_OPENING;
    stats.channel_created++;
    return ch;
}

struct conn *chan_conn(struct chan *ch)
{
    return ch->conn;
}

uint16_t chan_number(const struct chan *ch)
{
    return ch->n;
}

struct vhost *chan_vhost(struct chan *ch)
{
    return conn_vh(ch->conn);
}

bool chan_is_open(const struct chan *ch)
{
    return ch->state == CHAN_OPEN;
}

void chan__set_open(struct chan *ch)
{
    ch->state = CHAN_OPEN;
}

void chan_send_method(struct chan *ch, const struct spec_method *m)
{
    conn_send_method(ch->conn, ch->n, m);
}

void chan_reply(struct chan *ch, uint32_t id, bool no_wait)
{
    struct spec_method m;

    if (no_wait)
        return;
    memset(&m, 0, sizeof(m));
    m.id = id;
    chan_send_method(ch, &m);
}

void chan_set_last_queue(struct chan *ch, const char *name)
{
    free(ch->last_queue);
    ch->last_queue = xstrdup(name);
}

const char *chan_last_queue(const struct chan *ch)
{
    return ch->last_queue ? ch->last_queue : "";
}

/* Queues that got messages back and must be offered to consumers again.
 * Dispatching is deferred until the unacked ring is no longer being walked,
 * because a delivery may land on this very channel and grow the ring. */
static struct queue **redispatch;
static size_t nredispatch, capredispatch;

static void note_redispatch(struct queue *q)
{
    for (size_t i = 0; i < nredispatch; i++)
        if (redispatch[i] == q)
            return;
    if (nredispatch == capredispatch) {
        capredispatch = capredispatch ? capredispatch * 2 : 8;
        redispatch = xrealloc(redispatch, capredispatch * sizeof(*redispatch));
    }
    redispatch[nredispatch++] = queue_ref(q);
}

static void run_redispatch(void)
{
    /* A dispatch can requeue nothing, so the list does not grow while we walk it. */
    for (size_t i = 0; i < nredispatch; i++) {
        if (!queue_is_deleted(redispatch[i]))
            queue_dispatch(redispatch[i]);
        queue_unref(&redispatch[i]);
    }
    nredispatch = 0;
}

/* ---- unacked ring ---- */

static struct unacked *ua_at(struct chan *ch, size_t i)
{
    return &ch->ua[(ch->ua_head + i) & (ch->ua_cap - 1)];
}

static void ua_push(struct chan *ch, const struct unacked *u)
{
    if (ch->ua_len == ch->ua_cap)
        ch->ua = xring_grow(ch->ua, sizeof(*ch->ua), &ch->ua_head, ch->ua_len, &ch->ua_cap, 16);
    *ua_at(ch, ch->ua_len++) = *u;
    ch->ua_live++;
}

/* Drops tombstones at the front, and the storage once empty. */
static void ua_trim(struct chan *ch)
{
    while (ch->ua_len && !ua_at(ch, 0)->m) {
        ch->ua_head = (ch->ua_head + 1) & (ch->ua_cap - 1);
        ch->ua_len--;
    }
    if (!ch->ua_len && ch->ua_cap > 64) {
        free(ch->ua);
        ch->ua = NULL;
        ch->ua_cap = ch->ua_head = 0;
    }
}

/* Index of tag in the ring, or -1 (binary search: tags ascend). */
static long ua_find(struct chan *ch, uint64_t tag)
{
    size_t lo = 0, hi = ch->ua_len;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t t = ua_at(ch, mid)->tag;
        if (t == tag)
            return ua_at(ch, mid)->m ? (long)mid : -1;
        if (t < tag)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Settles entry i: ack it (requeue false, drop) or give it back to its queue. */
static void ua_settle(struct chan *ch, size_t i, bool requeue, bool ack)
{
    struct unacked *u = ua_at(ch, i);

    if (u->cons)
        u->cons->unacked--;
    ch->ua_live--;
    if (ack)
        stats.ack++;
    if (ack) {
        queue_ack_msg(u->q, u->m, u->seq);
        msg_unref(&u->m);
    } else if (!requeue) {
        /* Dead-lettered (reason rejected) when the queue has a DLX, else dropped. */
        queue_reject(u->q, u->m, u->seq);
        u->m = NULL;
    } else {
        queue_requeue(u->q, u->m, u->seq);
        u->m = NULL;
        note_redispatch(u->q);
    }
    queue_unref(&u->q);
    u->cons = NULL;
}

/* ---- deliveries ---- */

static bool cons_can_take(void *owner)
{
    struct chan_consumer *cs = owner;
    struct chan *ch = cs->ch;

    if (ch->state != CHAN_OPEN || !conn_can_deliver(ch->conn))
        return false;
    if (cs->no_ack)
        return true;
    if (cs->prefetch && cs->unacked >= cs->prefetch)
        return false;
    if (ch->prefetch_global && ch->ua_live >= ch->prefetch_global)
        return false;
    return true;
}

/* What a consumer is shown of m: the stored message is shared and immutable,
 * so where it must differ a copy is made, and the queue and the unacked entry
 * keep the original. Quorum queues mark redeliveries with x-delivery-count;
 * BCC routes a message but consumers never see it (RabbitMQ). Returns a new
 * reference. */
static struct msg *shown(struct queue *q, struct msg *m, uint64_t seq, bool redelivered)
{
    struct msg *copy = NULL, *bare;
    uint32_t count = redelivered ? queue_delivery_count(q, seq) : 0;

    if (count)
        copy = deadletter_with_delivery_count(m, count);
    if (msg_headers(copy ? copy : m).n && (bare = deadletter_without_bcc(copy ? copy : m))) {
        msg_unref(&copy);
        copy = bare;
    }
    return copy ? copy : msg_ref(m);
}

static void cons_deliver(void *owner, struct queue *q, struct msg *m, uint64_t seq,
                         bool redelivered)
{
    struct chan_consumer *cs = owner;
    struct chan *ch = cs->ch;
    struct spec_method dm;
    uint64_t tag = ++ch->next_tag;

    struct msg *out = shown(q, m, seq, redelivered);

    memset(&dm, 0, sizeof(dm));
    dm.id = SPEC_BASIC_DELIVER;
    dm.u.basic_deliver.consumer_tag = view_str(cs->tag);
    dm.u.basic_deliver.delivery_tag = tag;
    dm.u.basic_deliver.redelivered = redelivered;
    dm.u.basic_deliver.exchange = msg_exchange(m);
    dm.u.basic_deliver.routing_key = msg_routing_key(m);
    conn_send_content(ch->conn, ch->n, &dm, out);
    msg_unref(&out);
    stats.redeliver += redelivered;
    if (cs->no_ack) {
        stats.deliver_no_ack++;
        msg_unref(&m);
        return;
    }
    stats.deliver++;
    struct unacked u = {tag, seq, m, queue_ref(q), cs};
    ua_push(ch, &u);
    cs->unacked++;
}

static void forget_consumer(struct chan *ch, struct chan_consumer *cs)
{
    /* Unacked deliveries of this consumer stay unacked; they just no longer count against it. */
    for (size_t i = 0; i < ch->ua_len; i++)
        if (ua_at(ch, i)->cons == cs)
            ua_at(ch, i)->cons = NULL;
    map_remove(ch->consumers, view_str(cs->tag));
    queue_unref(&cs->q);
    free(cs->tag);
    free(cs);
}

static void cons_cancelled(void *owner, struct queue *q)
{
    struct chan_consumer *cs = owner;
    struct chan *ch = cs->ch;
    (void)q;

    /* Consumer cancel notification (RabbitMQ extension), if the client wants it. */
    if (conn_wants_cancel_notify(ch->conn) && ch->state == CHAN_OPEN) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_BASIC_CANCEL;
        m.u.basic_cancel.consumer_tag = view_str(cs->tag);
        m.u.basic_cancel.no_wait = true;
        chan_send_method(ch, &m);
    }
    forget_consumer(ch, cs);
}

static const struct consumer_ops chan_consumer_ops = {
    .can_take = cons_can_take,
    .deliver = cons_deliver,
    .cancelled = cons_cancelled,
};

/* Gives every queue this channel consumes from a chance to deliver. */
static void dispatch_all(struct chan *ch)
{
    struct map_iter it;
    struct view key;
    void *val;

    if (!ch->consumers)
        return;
    map_iter_init(&it, ch->consumers);
    while (map_next(&it, &key, &val)) {
        struct chan_consumer *cs = val;
        queue_dispatch(cs->q);
    }
}

void chan__resume_deliveries(struct chan *ch)
{
    dispatch_all(ch);
}

void chan_set_qos(struct chan *ch, uint16_t prefetch_count, bool global)
{
    if (global)
        ch->prefetch_global = prefetch_count;
    else
        ch->prefetch_next = prefetch_count;
    dispatch_all(ch);
}

/* ---- direct reply-to ---- */

bool chan_is_reply_to(struct view queue)
{
    return view_eq_str(queue, REPLY_TO);
}

/* RabbitMQ's consumer_max_per_channel: 530 NOT_ALLOWED, a connection error
 * (rabbit_channel handle_method basic.consume). */
static int check_consumer_max(struct chan *ch, struct proto_err *err)
{
    uint32_t max = loop_config(conn_loop(ch->conn))->consumer_max_per_channel;

    if (max && chan_consumer_count(ch) >= max)
        return err_set(err, SPEC_NOT_ALLOWED, "reached maximum (%u) of consumers per channel",
                       (unsigned)max);
    return 0;
}

int chan_consume_reply_to(struct chan *ch, struct view tag, bool no_ack, bool nowait,
                          struct proto_err *err)
{
    char gen[64], key[96];
    struct spec_method m;

    if (check_consumer_max(ch, err) < 0)
        return -1;
    if (!no_ack)
        return err_set(err, SPEC_PRECONDITION_FAILED, "reply consumer cannot acknowledge");
    if (ch->reply_tag)
        return err_set(err, SPEC_PRECONDITION_FAILED, "reply consumer already set");
    if (!tag.n) {
        names_generate("amq.ctag-", gen, sizeof(gen));
        tag = view_str(gen);
    }
    names_generate("", gen + 32, sizeof(gen) - 32);
    snprintf(key, sizeof(key), "%llu.%u.%s", (unsigned long long)conn_id(ch->conn), (unsigned)ch->n,
             gen + 32);
    ch->reply_tag = xstrndup_view(tag);
    ch->reply_key = xstrdup(key);
    if (!reply_chans)
        reply_chans = map_create();
    map_put(reply_chans, view_str(key), ch);
    if (!nowait) {
        memset(&m, 0, sizeof(m));
        m.id = SPEC_BASIC_CONSUME_OK;
        m.u.basic_consume_ok.consumer_tag = view_str(ch->reply_tag);
        chan_send_method(ch, &m);
    }
    return 0;
}

static void drop_reply_consumer(struct chan *ch)
{
    if (!ch->reply_tag)
        return;
    map_remove(reply_chans, view_str(ch->reply_key));
    free(ch->reply_tag);
    free(ch->reply_key);
    ch->reply_tag = ch->reply_key = NULL;
}

/* Delivers a reply straight to the requesting channel (no queue involved).
 * Returns the requester's connection, or NULL when the key names no live
 * reply consumer. */
static struct conn *deliver_reply(struct msg *m)
{
    struct view rk = msg_routing_key(m), key;
    struct chan *to;
    struct spec_method dm;

    if (rk.n <= sizeof(REPLY_TO_PREFIX) - 1 ||
        memcmp(rk.p, REPLY_TO_PREFIX, sizeof(REPLY_TO_PREFIX) - 1) != 0 || !reply_chans)
        return NULL;
    key = (struct view){rk.p + sizeof(REPLY_TO_PREFIX) - 1, rk.n - (sizeof(REPLY_TO_PREFIX) - 1)};
    to = map_get(reply_chans, key);
    if (!to || to->state != CHAN_OPEN)
        return NULL;
    memset(&dm, 0, sizeof(dm));
    dm.id = SPEC_BASIC_DELIVER;
    dm.u.basic_deliver.consumer_tag = view_str(to->reply_tag);
    dm.u.basic_deliver.delivery_tag = ++to->next_tag;
    dm.u.basic_deliver.exchange = msg_exchange(m);
    dm.u.basic_deliver.routing_key = rk;
    conn_send_content(to->conn, to->n, &dm, m);
    return to->conn;
}

int chan_consume(struct chan *ch, struct queue *q, struct view tag, bool no_ack, bool exclusive,
                 int32_t priority, bool nowait, struct proto_err *err)
{
    struct chan_consumer *cs;
    char gen[64];

    if (!ch->consumers)
        ch->consumers = map_create();
    if (!tag.n) {
        names_generate("amq.ctag-", gen, sizeof(gen));
        tag = view_str(gen);
    }
    if (map_get(ch->consumers, tag))
        return err_set(err, SPEC_NOT_ALLOWED, "attempt to reuse consumer tag '%.*s'", (int)tag.n,
                       (const char *)tag.p);
    if (check_consumer_max(ch, err) < 0)
        return -1;
    cs = xcalloc(1, sizeof(*cs));
    cs->ch = ch;
    cs->tag = xstrndup_view(tag);
    cs->no_ack = no_ack;
    cs->prefetch = ch->prefetch_next;
    cs->qc = queue_consume(q, &chan_consumer_ops, cs, priority, exclusive, no_ack, err);
    if (!cs->qc) {
        free(cs->tag);
        free(cs);
        return -1;
    }
    cs->q = queue_ref(q);
    map_put(ch->consumers, view_str(cs->tag), cs);
    if (!nowait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_BASIC_CONSUME_OK;
        m.u.basic_consume_ok.consumer_tag = view_str(cs->tag);
        chan_send_method(ch, &m);
    }
    queue_dispatch(q);
    return 0;
}

/* Removes a consumer from its queue; an auto-delete queue left without consumers goes. */
static void cancel_consumer(struct chan *ch, struct chan_consumer *cs)
{
    struct queue *q = queue_ref(cs->q);
    bool last = queue_cancel(q, cs->qc);

    forget_consumer(ch, cs);
    if (last && (queue_flags(q) & QUEUE_F_AUTO_DELETE) && !queue_is_deleted(q)) {
        struct vhost *v = chan_vhost(ch);
        if (v && vhost_queue(v, view_str(queue_name(q))) == q)
            vhost_delete_queue(v, q);
    } else if (!queue_is_deleted(q)) {
        note_redispatch(q); /* e.g. hand over to the next single active consumer */
    }
    queue_unref(&q);
}

void chan_cancel(struct chan *ch, struct view tag, bool nowait)
{
    struct chan_consumer *cs = ch->consumers ? map_get(ch->consumers, tag) : NULL;
    char keep[256];

    /* The tag view may point into the frame; keep a copy for the reply. */
    snprintf(keep, sizeof(keep), "%.*s", (int)tag.n, (const char *)tag.p);
    if (cs)
        cancel_consumer(ch, cs);
    else if (ch->reply_tag && view_eq_str(tag, ch->reply_tag))
        drop_reply_consumer(ch);
    if (!nowait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_BASIC_CANCEL_OK;
        m.u.basic_cancel_ok.consumer_tag = view_str(keep);
        chan_send_method(ch, &m);
    }
}

void chan_get(struct chan *ch, struct queue *q, bool no_ack)
{
    struct spec_method m;
    uint64_t seq;
    bool redelivered;
    struct msg *msg = queue_get(q, !no_ack, &seq, &redelivered);

    queue_flush(); /* basic.get may have expired messages on the way */

    memset(&m, 0, sizeof(m));
    if (!msg) {
        stats.get_empty++;
        m.id = SPEC_BASIC_GET_EMPTY;
        chan_send_method(ch, &m);
        return;
    }
    struct msg *out = shown(q, msg, seq, redelivered);

    m.id = SPEC_BASIC_GET_OK;
    m.u.basic_get_ok.delivery_tag = ++ch->next_tag;
    m.u.basic_get_ok.redelivered = redelivered;
    m.u.basic_get_ok.exchange = msg_exchange(msg);
    m.u.basic_get_ok.routing_key = msg_routing_key(msg);
    m.u.basic_get_ok.message_count = (uint32_t)queue_ready_count(q);
    conn_send_content(ch->conn, ch->n, &m, out);
    msg_unref(&out);
    stats.redeliver += redelivered;
    if (no_ack) {
        stats.get_no_ack++;
        msg_unref(&msg);
        return;
    }
    stats.get++;
    struct unacked u = {ch->next_tag, seq, msg, queue_ref(q), NULL};
    ua_push(ch, &u);
}

/* ---- acks ---- */

/* Applies an ack or reject to tag (or everything up to it with multiple). */
static int settle(struct chan *ch, uint64_t tag, bool multiple, bool requeue, bool ack,
                  struct proto_err *err)
{
    long idx;

    if (multiple && tag == 0) {
        /* Spec: multiple with tag 0 means "everything outstanding". */
        for (size_t i = 0; i < ch->ua_len; i++)
            if (ua_at(ch, i)->m)
                ua_settle(ch, i, requeue, ack);
    } else {
        idx = ua_find(ch, tag);
        if (idx < 0)
            return err_set(err, SPEC_PRECONDITION_FAILED, "unknown delivery tag %llu",
                           (unsigned long long)tag);
        if (multiple) {
            for (size_t i = 0; i <= (size_t)idx; i++)
                if (ua_at(ch, i)->m)
                    ua_settle(ch, i, requeue, ack);
        } else {
            ua_settle(ch, (size_t)idx, requeue, ack);
        }
    }
    ua_trim(ch);
    run_redispatch();
    queue_flush();
    dispatch_all(ch);
    return 0;
}

static void tx_push(struct chan *ch, const struct tx_op *op)
{
    if (ch->ntx == ch->captx) {
        ch->captx = ch->captx ? ch->captx * 2 : 16;
        ch->txops = xrealloc(ch->txops, ch->captx * sizeof(*ch->txops));
    }
    ch->txops[ch->ntx++] = *op;
}

/* Spec: a tag is known if it is outstanding; checked at ack time even in a tx. */
static int check_tag(struct chan *ch, uint64_t tag, bool multiple, struct proto_err *err)
{
    if ((multiple && tag == 0) || ua_find(ch, tag) >= 0)
        return 0;
    return err_set(err, SPEC_PRECONDITION_FAILED, "unknown delivery tag %llu",
                   (unsigned long long)tag);
}

int chan_ack(struct chan *ch, uint64_t tag, bool multiple, struct proto_err *err)
{
    if (ch->tx) {
        if (check_tag(ch, tag, multiple, err) < 0)
            return -1;
        tx_push(ch, &(struct tx_op){.kind = TX_ACK, .flag = multiple, .tag = tag});
        return 0;
    }
    return settle(ch, tag, multiple, false, true, err);
}

int chan_reject(struct chan *ch, uint64_t tag, bool multiple, bool requeue, struct proto_err *err)
{
    if (ch->tx) {
        if (check_tag(ch, tag, multiple, err) < 0)
            return -1;
        tx_push(ch, &(struct tx_op){
                        .kind = TX_REJECT, .flag = multiple, .tag = tag, .requeue = requeue});
        return 0;
    }
    return settle(ch, tag, multiple, requeue, false, err);
}

void chan_recover(struct chan *ch)
{
    for (size_t i = 0; i < ch->ua_len; i++)
        if (ua_at(ch, i)->m)
            ua_settle(ch, i, true, false);
    ua_trim(ch);
    run_redispatch();
    queue_flush();
    dispatch_all(ch);
}

/* ---- publishing ---- */

int chan_begin_publish(struct chan *ch, struct exch *x, struct view routing_key, bool mandatory,
                       struct proto_err *err)
{
    const char *name = exch_name(x);

    (void)err;
    ch->pub_exch_len = (uint8_t)strlen(name);
    memcpy(ch->pub_exch, name, ch->pub_exch_len);
    ch->pub_key_len = (uint8_t)routing_key.n;
    memcpy(ch->pub_key, routing_key.p, routing_key.n);
    ch->pub_mandatory = mandatory;
    ch->want_header = true;
    return 0;
}

/* Confirms: publishes are confirmed in order once routed, so one counter
 * suffices; the acks of one read are coalesced into one basic.ack multiple. */
static void confirm_ok(struct chan *ch, uint64_t seq)
{
    ch->acked_upto = seq;
    stats.confirm++;
    if (!ch->confirm_dirty) {
        ch->confirm_dirty = true;
        conn__confirms_pending(ch->conn, ch);
    }
}

void chan__flush_confirms(struct chan *ch)
{
    struct spec_method m;

    ch->confirm_dirty = false;
    if (ch->acked_upto <= ch->acked_sent || ch->state != CHAN_OPEN)
        return;
    memset(&m, 0, sizeof(m));
    m.id = SPEC_BASIC_ACK;
    m.u.basic_ack.delivery_tag = ch->acked_upto;
    m.u.basic_ack.multiple = ch->acked_upto - ch->acked_sent > 1;
    chan_send_method(ch, &m);
    ch->acked_sent = ch->acked_upto;
}

static void confirm_nack(struct chan *ch, uint64_t seq)
{
    struct spec_method m;

    /* Keep order: what was confirmed before goes out first. */
    if (ch->acked_upto > ch->acked_sent)
        chan__flush_confirms(ch);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_BASIC_NACK;
    m.u.basic_nack.delivery_tag = seq;
    chan_send_method(ch, &m);
    ch->acked_upto = ch->acked_sent = seq;
}

static void send_commit_ok(struct chan *ch)
{
    struct spec_method m;

    if (ch->state != CHAN_OPEN)
        return;
    memset(&m, 0, sizeof(m));
    m.id = SPEC_TX_COMMIT_OK;
    chan_send_method(ch, &m);
}

/* ---- replies held for durability (STYLE.md §2.3) ---- */

static struct held *held_at(struct chan *ch, size_t i)
{
    return &ch->held[(ch->held_head + i) & (ch->held_cap - 1)];
}

static void hold(struct chan *ch, uint64_t seq, uint64_t ticket, enum held_kind kind)
{
    if (ch->held_len) {
        struct held *last = held_at(ch, ch->held_len - 1);

        /* An ack that waits for nothing more than the last held ack joins it
         * (the ack that releases them is a multiple one): with one ticket per
         * loop iteration the ring stays short. */
        if (kind == HELD_ACK && last->kind == HELD_ACK && ticket <= last->ticket) {
            last->seq = seq;
            return;
        }
        if (ticket < last->ticket)
            ticket = last->ticket;
    }
    if (ch->held_len == ch->held_cap)
        ch->held =
            xring_grow(ch->held, sizeof(*ch->held), &ch->held_head, ch->held_len, &ch->held_cap, 8);
    *held_at(ch, ch->held_len++) = (struct held){seq, ticket, kind};
    if (!ch->waiting) {
        if (nwaiting == capwaiting) {
            capwaiting = capwaiting ? capwaiting * 2 : 16;
            waiting = xrealloc(waiting, capwaiting * sizeof(*waiting));
        }
        waiting[nwaiting++] = ch;
        ch->waiting = true;
    }
}

/* Sends the held replies whose records are durable, in order. */
static void release_held(struct chan *ch, uint64_t durable)
{
    bool acked = false;

    while (ch->held_len && held_at(ch, 0)->ticket <= durable) {
        struct held h = *held_at(ch, 0);

        ch->held_head = (ch->held_head + 1) & (ch->held_cap - 1);
        ch->held_len--;
        switch (h.kind) {
        case HELD_ACK:
            ch->acked_upto = h.seq;
            acked = true;
            break;
        case HELD_NACK:
            confirm_nack(ch, h.seq);
            acked = false;
            break;
        case HELD_COMMIT:
            send_commit_ok(ch);
            break;
        }
    }
    if (acked)
        chan__flush_confirms(ch);
}

void chan_release_durable(uint64_t durable)
{
    size_t j = 0;

    for (size_t i = 0; i < nwaiting; i++) {
        struct chan *ch = waiting[i];

        if (!ch)
            continue;
        release_held(ch, durable);
        if (ch->held_len)
            waiting[j++] = ch;
        else
            ch->waiting = false;
    }
    nwaiting = j;
}

static void forget_held(struct chan *ch)
{
    if (ch->waiting)
        for (size_t i = 0; i < nwaiting; i++)
            if (waiting[i] == ch)
                waiting[i] = NULL;
    ch->waiting = false;
    free(ch->held);
    ch->held = NULL;
    ch->held_len = ch->held_cap = ch->held_head = 0;
}

/* Confirms publish seq: at once when nothing it needs is pending, else once
 * ticket is durable and every earlier reply has gone. */
static void confirm(struct chan *ch, uint64_t seq, uint64_t ticket, bool nack)
{
    if (!ch->held_len && durable_is_durable(ticket)) {
        if (nack)
            confirm_nack(ch, seq);
        else
            confirm_ok(ch, seq);
        return;
    }
    if (!nack)
        stats.confirm++;
    hold(ch, seq, ticket, nack ? HELD_NACK : HELD_ACK);
}

/* Routes one complete message; sends basic.return if mandatory and unroutable. */
static void route_now(struct chan *ch, struct msg *m, struct exch *x, bool mandatory, uint64_t seq)
{
    struct publish_result r = {0};
    uint64_t appends = durable_append_count();
    struct conn *reply_to = exch_name(x)[0] == '\0' ? deliver_reply(m) : NULL;

    if (reply_to)
        r.routed = 1;
    else
        publish_route(chan_vhost(ch), x, m, &r);
    /* Dead letters and overflow drops caused by this publish, after routing. */
    queue_flush();
    if (r.routed == 0 && r.refused == 0 && !mandatory)
        stats.drop_unroutable++;
    if (r.routed == 0 && r.refused == 0 && mandatory) {
        stats.return_unroutable++;
        struct spec_method rm;
        memset(&rm, 0, sizeof(rm));
        rm.id = SPEC_BASIC_RETURN;
        rm.u.basic_return.reply_code = REPLY_NO_ROUTE;
        rm.u.basic_return.reply_text = VIEW_LIT("NO_ROUTE");
        rm.u.basic_return.exchange = msg_exchange(m);
        rm.u.basic_return.routing_key = msg_routing_key(m);
        conn_send_content(ch->conn, ch->n, &rm, m);
    }
    conn__note_publish(ch->conn, r.busiest);
    if (reply_to)
        conn__note_reply(ch->conn, reply_to);
    if (!seq)
        return;
    /* Records appended while routing (dead letters included) must be durable
     * before the confirm goes out. */
    confirm(ch, seq, durable_append_count() != appends ? durable_ticket() : 0, r.refused != 0);
}

static void publish_complete(struct chan *ch)
{
    struct msg *m = ch->pub_msg;
    uint64_t seq = ch->confirm ? ++ch->pub_seq : 0;

    ch->pub_msg = NULL;
    ch->want_body = false;
    stats.publish++;
    if (ch->tx) {
        /* Held until commit; the exchange is looked up again then. */
        tx_push(ch, &(struct tx_op){.kind = TX_PUBLISH, .flag = ch->pub_mandatory, .m = m});
        return;
    }
    /* The exchange may have been deleted while the body was arriving. */
    struct exch *x = vhost_exch(chan_vhost(ch), msg_exchange(m));
    if (x)
        route_now(ch, m, x, ch->pub_mandatory, seq);
    else if (seq)
        confirm(ch, seq, 0, false);
    msg_unref(&m);
}

/* ---- confirm and tx selection ---- */

int chan_confirm_select(struct chan *ch, bool nowait, struct proto_err *err)
{
    if (ch->tx)
        return err_set(err, SPEC_PRECONDITION_FAILED, "cannot switch from tx to confirm mode");
    ch->confirm = true;
    if (!nowait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_CONFIRM_SELECT_OK;
        chan_send_method(ch, &m);
    }
    return 0;
}

int chan_tx_select(struct chan *ch, struct proto_err *err)
{
    struct spec_method m;

    if (ch->confirm)
        return err_set(err, SPEC_PRECONDITION_FAILED, "cannot switch from confirm to tx mode");
    ch->tx = true;
    memset(&m, 0, sizeof(m));
    m.id = SPEC_TX_SELECT_OK;
    chan_send_method(ch, &m);
    return 0;
}

static void tx_clear(struct chan *ch)
{
    for (size_t i = 0; i < ch->ntx; i++)
        msg_unref(&ch->txops[i].m);
    ch->ntx = 0;
    if (ch->captx > 64) {
        free(ch->txops);
        ch->txops = NULL;
        ch->captx = 0;
    }
}

int chan_tx_commit(struct chan *ch, struct proto_err *err)
{
    uint64_t appends = durable_append_count(), ticket;
    int rc = 0;

    if (!ch->tx)
        return err_set(err, SPEC_PRECONDITION_FAILED, "channel is not transactional");
    for (size_t i = 0; i < ch->ntx && rc == 0; i++) {
        struct tx_op *op = &ch->txops[i];
        if (op->kind == TX_PUBLISH) {
            struct exch *x = vhost_exch(chan_vhost(ch), msg_exchange(op->m));
            if (x)
                route_now(ch, op->m, x, op->flag, 0);
        } else {
            rc = settle(ch, op->tag, op->flag, op->requeue, op->kind == TX_ACK, err);
        }
    }
    tx_clear(ch);
    if (rc < 0)
        return rc;
    /* commit-ok vouches for the transaction's persistent messages. */
    ticket = durable_append_count() != appends ? durable_ticket() : 0;
    if (ch->held_len || !durable_is_durable(ticket))
        hold(ch, 0, ticket, HELD_COMMIT);
    else
        send_commit_ok(ch);
    return 0;
}

int chan_tx_rollback(struct chan *ch, struct proto_err *err)
{
    struct spec_method m;

    if (!ch->tx)
        return err_set(err, SPEC_PRECONDITION_FAILED, "channel is not transactional");
    tx_clear(ch);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_TX_ROLLBACK_OK;
    chan_send_method(ch, &m);
    return 0;
}

/* ---- teardown ---- */

static void release_all(struct chan *ch)
{
    /* Stop deliveries to this channel first, so requeued messages go elsewhere. */
    ch->state = CHAN_CLOSING;
    drop_reply_consumer(ch);
    if (ch->consumers) {
        struct map_iter it;
        struct view key;
        void *val;
        /* cancel_consumer removes from the map: restart the walk each time. */
        for (;;) {
            map_iter_init(&it, ch->consumers);
            if (!map_next(&it, &key, &val))
                break;
            cancel_consumer(ch, val);
        }
        map_destroy(ch->consumers);
        ch->consumers = NULL;
    }
    /* Unacked messages go back to their queues, marked redelivered (spec §1.8.3.13). */
    for (size_t i = 0; i < ch->ua_len; i++)
        if (ua_at(ch, i)->m)
            ua_settle(ch, i, true, false);
    ch->ua_len = 0;
    free(ch->ua);
    ch->ua = NULL;
    ch->ua_cap = ch->ua_head = 0;
    run_redispatch();
    queue_flush();
    tx_clear(ch);
    free(ch->txops);
    ch->txops = NULL;
    msg_unref(&ch->pub_msg);
    ch->want_header = ch->want_body = false;
}

void chan_destroy(struct chan *ch)
{
    if (!ch)
        return;
    release_all(ch);
    stats.channel_closed++;
    conn__confirms_forget(ch->conn, ch);
    forget_held(ch);
    free(ch->last_queue);
    free(ch);
}

static void forget(struct chan *ch)
{
    conn__chan_gone(ch->conn, ch->n);
    chan_destroy(ch);
}

void chan_fail(struct chan *ch, const struct proto_err *err)
{
    struct spec_method m;
    char text[256];

    if (ch->state == CHAN_CLOSING)
        return;
    conn__reply_text(err, text);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CHANNEL_CLOSE;
    m.u.channel_close.reply_code = err->code;
    m.u.channel_close.reply_text = view_str(text);
    m.u.channel_close.class_id = err->class_id;
    m.u.channel_close.method_id = err->method_id;
    chan_send_method(ch, &m);
    ch->state = CHAN_CLOSING;
    /* Deliveries stop now; unacked messages are requeued right away, as
     * RabbitMQ does when a channel errors. */
    release_all(ch);
}

void chan__peer_closed(struct chan *ch)
{
    struct spec_method m;

    memset(&m, 0, sizeof(m));
    m.id = SPEC_CHANNEL_CLOSE_OK;
    chan_send_method(ch, &m);
    forget(ch);
}

void chan__close_ok(struct chan *ch)
{
    forget(ch);
}

/* ---- frames ---- */

/* Routes a failed method's error: soft codes close the channel, hard ones the connection. */
static int fail(struct chan *ch, uint32_t id, struct proto_err *err)
{
    err->class_id = (uint16_t)(id >> 16);
    err->method_id = (uint16_t)id;
    if (spec_reply_is_hard(err->code)) {
        conn_fail(ch->conn, err);
        return -1;
    }
    chan_fail(ch, err);
    return 0;
}

static int hard(struct chan *ch, uint16_t code, const char *text)
{
    struct proto_err err = {0};

    err_set(&err, code, "%s", text);
    conn_fail(ch->conn, &err);
    return -1;
}

/* While closing, only channel.close-ok (or a crossing channel.close) matters. */
static int closing_frame(struct chan *ch, const struct frame *f)
{
    uint32_t id;

    if (f->type != SPEC_FRAME_METHOD || f->payload.n < 4)
        return 0;
    id = get_be32(f->payload.p);
    if (id == SPEC_CHANNEL_CLOSE_OK)
        chan__close_ok(ch);
    else if (id == SPEC_CHANNEL_CLOSE)
        chan__peer_closed(ch);
    return 0;
}

static int method_frame(struct chan *ch, const struct frame *f)
{
    struct proto_err err = {0};
    struct spec_method m;
    int st;

    if (ch->want_header || ch->want_body)
        return hard(ch, SPEC_UNEXPECTED_FRAME,
                    "expected content frame for class 60, got non content frame instead");
    st = spec_decode_method(f->payload.p, f->payload.n, &m);
    if (st != SPEC_OK) {
        err_set(&err, spec_status_reply_code(st), "%s", spec_status_text(st));
        if (f->payload.n >= 4) {
            err.class_id = get_be16(f->payload.p);
            err.method_id = get_be16(f->payload.p + 2);
        }
        conn_fail(ch->conn, &err);
        return -1;
    }
    if (ch->state == CHAN_OPENING && m.id != SPEC_CHANNEL_OPEN) {
        err_set(&err, SPEC_CHANNEL_ERROR, "expected 'channel.open'");
        return fail(ch, m.id, &err);
    }
    if (ch->state == CHAN_OPEN && m.id == SPEC_CHANNEL_OPEN) {
        err_set(&err, SPEC_CHANNEL_ERROR, "second 'channel.open' seen");
        return fail(ch, m.id, &err);
    }
    if (dispatch_channel(ch, &m, &err) < 0)
        return fail(ch, m.id, &err);
    return 0;
}

/* RabbitMQ (rabbit_basic:parse_expiration): the expiration property must be a
 * decimal integer of milliseconds, not negative, at most ten years. */
static int check_expiration(struct view e, struct proto_err *err)
{
    const uint64_t max_ms = 315360000000ull;
    uint64_t v = 0;
    size_t i = 0;
    bool neg = false, big = false;

    if (e.n && (e.p[0] == '-' || e.p[0] == '+'))
        neg = e.p[i++] == '-';
    if (i == e.n)
        goto no_integer;
    for (; i < e.n; i++) {
        if (e.p[i] < '0' || e.p[i] > '9')
            goto no_integer;
        if (v > UINT64_MAX / 10 - 9)
            big = true;
        else
            v = v * 10 + (uint64_t)(e.p[i] - '0');
    }
    if (neg && v)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "invalid expiration '%.*s': {value_negative,-%llu}", (int)e.n,
                       (const char *)e.p, (unsigned long long)v);
    if (big || v > max_ms)
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "invalid expiration '%.*s': "
                       "{value_too_large,%.*s}",
                       (int)e.n, (const char *)e.p, (int)e.n, (const char *)e.p);
    return 0;
no_integer:
    return err_set(err, SPEC_PRECONDITION_FAILED, "invalid expiration '%.*s': no_integer", (int)e.n,
                   (const char *)e.p);
}

static int header_frame(struct chan *ch, const struct frame *f)
{
    const struct config *cfg = loop_config(conn_loop(ch->conn));
    struct proto_err err = {0};
    struct content_header h;
    struct spec_basic_props props;
    int st;

    if (!ch->want_header)
        return hard(ch, SPEC_UNEXPECTED_FRAME,
                    "expected method frame, got content header frame instead");
    if (frame_decode_content_header(f->payload, &h, &err) < 0) {
        conn_fail(ch->conn, &err);
        return -1;
    }
    if (h.class_id != SPEC_CLASS_BASIC)
        return hard(ch, SPEC_UNEXPECTED_FRAME, "content header for a class other than basic");
    st = spec_decode_props(h.props.p, h.props.n, &props);
    if (st != SPEC_OK) {
        err_set(&err, spec_status_reply_code(st), "content header: %s", spec_status_text(st));
        err.class_id = SPEC_CLASS_BASIC;
        err.method_id = (uint16_t)SPEC_BASIC_PUBLISH;
        conn_fail(ch->conn, &err);
        return -1;
    }
    ch->want_header = false;
    if ((props.flags & SPEC_PROP_USER_ID) &&
        !view_eq_str(props.user_id, auth_user_name(conn_user(ch->conn))) &&
        !auth_user_has_tag(conn_user(ch->conn), "impersonator")) {
        /* RabbitMQ validates user-id against the login (spec: MAY); users
         * tagged impersonator may claim any (rabbit_access_control). */
        err_set(&err, SPEC_PRECONDITION_FAILED,
                "user_id property set to '%.*s' but authenticated user was '%s'",
                (int)props.user_id.n, (const char *)props.user_id.p,
                auth_user_name(conn_user(ch->conn)));
        return fail(ch, SPEC_BASIC_PUBLISH, &err);
    }
    if ((props.flags & SPEC_PROP_EXPIRATION) && check_expiration(props.expiration, &err) < 0)
        return fail(ch, SPEC_BASIC_PUBLISH, &err);
    if (h.body_size > cfg->max_message_size) {
        /* RabbitMQ drops "configured" for its hard maximum (?MAX_MSG_SIZE). */
        err_set(&err, SPEC_PRECONDITION_FAILED, "message size %llu is larger than %smax size %llu",
                (unsigned long long)h.body_size,
                cfg->max_message_size == 536870912 ? "" : "configured ",
                (unsigned long long)cfg->max_message_size);
        /* The body frames that follow are discarded with the closing channel. */
        return fail(ch, SPEC_BASIC_PUBLISH, &err);
    }
    struct view raw = h.props;
    uint8_t rewritten[1024];
    char reply_to[160];
    if ((props.flags & SPEC_PROP_REPLY_TO) && view_eq_str(props.reply_to, REPLY_TO)) {
        /* Direct reply-to: point replies at this channel's reply consumer. */
        if (!ch->reply_tag) {
            err_set(&err, SPEC_PRECONDITION_FAILED, "fast reply consumer does not exist");
            return fail(ch, SPEC_BASIC_PUBLISH, &err);
        }
        snprintf(reply_to, sizeof(reply_to), "%s%s", REPLY_TO_PREFIX, ch->reply_key);
        props.reply_to = view_str(reply_to);
        if (spec_props_size(&props) <= sizeof(rewritten))
            raw = (struct view){rewritten, spec_encode_props(&props, rewritten)};
    }
    ch->pub_msg =
        msg_create((struct view){(const uint8_t *)ch->pub_exch, ch->pub_exch_len},
                   (struct view){(const uint8_t *)ch->pub_key, ch->pub_key_len}, raw, h.body_size);
    ch->pub_got = 0;
    if (!ch->pub_msg)
        return hard(ch, SPEC_INTERNAL_ERROR, "cannot allocate message body");
    if (h.body_size == 0) {
        publish_complete(ch);
        return 0;
    }
    ch->want_body = true;
    return 0;
}

static int body_frame(struct chan *ch, const struct frame *f)
{
    struct msg *m = ch->pub_msg;

    if (!ch->want_body)
        return hard(ch, SPEC_UNEXPECTED_FRAME,
                    "expected method frame, got content body frame instead");
    /* A streamed frame is checked whole at its first piece. */
    if ((uint64_t)f->payload.n + f->more > msg_body_size(m) - ch->pub_got)
        return hard(ch, SPEC_FRAME_ERROR, "content body exceeds the size in its header");
    msg_append_body(m, f->payload);
    ch->pub_got += f->payload.n;
    if (ch->pub_got == msg_body_size(m))
        publish_complete(ch);
    return 0;
}

int chan_handle_frame(struct chan *ch, const struct frame *f)
{
    if (ch->state == CHAN_CLOSING)
        return closing_frame(ch, f);
    switch (f->type) {
    case SPEC_FRAME_METHOD:
        return method_frame(ch, f);
    case SPEC_FRAME_HEADER:
        return header_frame(ch, f);
    case SPEC_FRAME_BODY:
        return body_frame(ch, f);
    default:
        return hard(ch, SPEC_FRAME_ERROR, "unexpected frame type");
    }
}

/* ---- introspection (management API) ---- */

size_t chan_consumer_count(const struct chan *ch)
{
    return ch->consumers ? map_count(ch->consumers) : 0;
}

size_t chan_unacked_count(const struct chan *ch)
{
    return ch->ua_live;
}

uint16_t chan_prefetch(const struct chan *ch)
{
    return ch->prefetch_next;
}

uint16_t chan_global_prefetch(const struct chan *ch)
{
    return ch->prefetch_global;
}

bool chan_in_confirm_mode(const struct chan *ch)
{
    return ch->confirm;
}

bool chan_in_tx(const struct chan *ch)
{
    return ch->tx;
}

void chan_for_each_consumer(struct chan *ch, chan_consumer_cb *fn, void *arg)
{
    struct map_iter it;
    struct view key;
    void *val;

    if (!ch->consumers)
        return;
    map_iter_init(&it, ch->consumers);
    while (map_next(&it, &key, &val)) {
        struct chan_consumer *cs = val;
        fn(arg, ch, cs->tag, cs->q, cs->no_ack, cs->prefetch);
    }
}
