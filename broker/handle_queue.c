/* SPDX-License-Identifier: MIT */
/* handle_queue: the queue class (spec §1.7.2). */
#include <string.h>

#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"
#include "broker/loop.h"
#include "broker/ops.h"
#include "broker/names.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

/* The acting connection, for the shared rules in broker/ops.c. */
static void ops_ctx_of(struct chan *ch, struct ops_ctx *o)
{
    struct conn *c = chan_conn(ch);

    o->auth = loop_auth(conn_loop(c));
    o->user = conn_user(c);
    o->vh = chan_vhost(ch);
    o->conn_id = conn_id(c);
}

static void send_declare_ok(struct chan *ch, const struct queue *q)
{
    struct spec_method m;

    memset(&m, 0, sizeof(m));
    m.id = SPEC_QUEUE_DECLARE_OK;
    m.u.queue_declare_ok.queue = view_str(queue_name(q));
    m.u.queue_declare_ok.message_count = (uint32_t)queue_ready_count(q);
    m.u.queue_declare_ok.consumer_count = (uint32_t)queue_consumer_count(q);
    chan_send_method(ch, &m);
}

int handle_queue_declare(struct chan *ch, const struct spec_queue_declare *a, struct proto_err *err)
{
    unsigned flags = (a->durable ? QUEUE_F_DURABLE : 0) | (a->exclusive ? QUEUE_F_EXCLUSIVE : 0) |
                     (a->auto_delete ? QUEUE_F_AUTO_DELETE : 0);
    struct view name = a->queue;
    char gen[64];
    struct queue *q;

    if (a->passive && chan_is_reply_to(name)) {
        /* The direct reply-to pseudo-queue always exists (RabbitMQ answers it too). */
        struct spec_method m;
        if (!a->no_wait) {
            memset(&m, 0, sizeof(m));
            m.id = SPEC_QUEUE_DECLARE_OK;
            m.u.queue_declare_ok.queue = name;
            /* RabbitMQ (declare_fast_reply_to) always reports one consumer. */
            m.u.queue_declare_ok.consumer_count = 1;
            chan_send_method(ch, &m);
        }
        return 0;
    }
    if (a->passive) {
        if (!(q = handle__queue(ch, name, NULL, err)) || handle__check_exclusive(ch, q, err) < 0)
            return -1;
    } else {
        struct ops_ctx o;
        if (!name.n) {
            names_generate("amq.gen-", gen, sizeof(gen));
            name = view_str(gen);
        } else if (ops_queue_name_check(name, err) < 0) {
            return -1;
        }
        ops_ctx_of(ch, &o);
        if (!(q = ops_queue_declare(&o, name, flags, a->arguments, NULL, err)))
            return -1;
    }
    queue_touch(q); /* a declare counts as use for x-expires */
    chan_set_last_queue(ch, queue_name(q));
    if (!a->no_wait)
        send_declare_ok(ch, q);
    return 0;
}

/* queue.bind / unbind: the shortcuts of the spec, then the shared rules. */
static int bind(struct chan *ch, struct view qname, struct view xname, struct view key,
                struct view args, bool is_bind, struct proto_err *err)
{
    struct ops_ctx o;
    struct view name = qname;

    /* An empty queue name means the channel's last declared queue; an empty
     * key with an empty queue name binds with that queue's name. */
    if (!name.n && !(name = view_str(chan_last_queue(ch))).n)
        return err_set(err, SPEC_NOT_FOUND, "no previously declared queue");
    if (!key.n && !qname.n)
        key = name;
    ops_ctx_of(ch, &o);
    return ops_queue_bind(&o, name, xname, key, args, is_bind, err);
}

int handle_queue_bind(struct chan *ch, const struct spec_queue_bind *a, struct proto_err *err)
{
    if (bind(ch, a->queue, a->exchange, a->routing_key, a->arguments, true, err) < 0)
        return -1;
    chan_reply(ch, SPEC_QUEUE_BIND_OK, a->no_wait);
    return 0;
}

int handle_queue_unbind(struct chan *ch, const struct spec_queue_unbind *a, struct proto_err *err)
{
    struct spec_method m;

    if (!a->queue.n && !chan_last_queue(ch)[0])
        return err_set(err, SPEC_NOT_FOUND, "no previously declared queue");
    /* RabbitMQ answers unbind-ok when the queue or exchange is missing:
     * the binding cannot exist, which is what the client asked for. */
    if (bind(ch, a->queue, a->exchange, a->routing_key, a->arguments, false, err) < 0 &&
        err->code != SPEC_NOT_FOUND)
        return -1;
    memset(&m, 0, sizeof(m));
    m.id = SPEC_QUEUE_UNBIND_OK;
    chan_send_method(ch, &m);
    return 0;
}

/* Looks up the queue a purge or delete names (the last declared one for "")
 * after the permission check RabbitMQ makes first. Returns -1 with err set
 * (403, or 404 for "" without a previous declare), else 0 with *q the queue
 * or NULL when it does not exist (*name gets the expanded name). */
static int checked_queue(struct chan *ch, struct ops_ctx *o, struct view *name, enum auth_op op,
                         struct queue **q, struct proto_err *err)
{
    if (!name->n && !(*name = view_str(chan_last_queue(ch))).n)
        return err_set(err, SPEC_NOT_FOUND, "no previously declared queue");
    if (ops_check_access(o, op, "queue", *name, err) < 0)
        return -1;
    *q = vhost_queue(o->vh, *name);
    return 0;
}

int handle_queue_purge(struct chan *ch, const struct spec_queue_purge *a, struct proto_err *err)
{
    struct view name = a->queue;
    struct ops_ctx o;
    struct queue *q;
    size_t n;

    ops_ctx_of(ch, &o);
    if (checked_queue(ch, &o, &name, AUTH_READ, &q, err) < 0 || (!q && !ops_queue(&o, name, err)) ||
        ops_queue_purge(&o, q, &n, err) < 0)
        return -1;
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_QUEUE_PURGE_OK;
        m.u.queue_purge_ok.message_count = (uint32_t)n;
        chan_send_method(ch, &m);
    }
    return 0;
}

int handle_queue_delete(struct chan *ch, const struct spec_queue_delete *a, struct proto_err *err)
{
    struct view name = a->queue;
    struct ops_ctx o;
    struct queue *q;
    size_t n = 0;

    ops_ctx_of(ch, &o);
    if (checked_queue(ch, &o, &name, AUTH_CONFIGURE, &q, err) < 0)
        return -1;
    /* Deleting a queue that does not exist succeeds with a count of 0, as in RabbitMQ. */
    if (q && ops_queue_delete(&o, q, a->if_unused, a->if_empty, &n, err) < 0)
        return -1;
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_QUEUE_DELETE_OK;
        m.u.queue_delete_ok.message_count = (uint32_t)n;
        chan_send_method(ch, &m);
    }
    return 0;
}
