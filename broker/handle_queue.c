/* SPDX-License-Identifier: MIT */
/* handle_queue: the queue class (spec §1.7.2). */
#include <string.h>

#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"
#include "broker/names.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

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
    struct vhost *v = chan_vhost(ch);
    struct conn *c = chan_conn(ch);
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
        if (!name.n) {
            names_generate("amq.gen-", gen, sizeof(gen));
            name = view_str(gen);
        } else if (name.n >= 4 && memcmp(name.p, "amq.", 4) == 0) {
            return err_set(err, SPEC_ACCESS_REFUSED,
                           "queue name '%.*s' contains reserved prefix 'amq.*'", (int)name.n,
                           (const char *)name.p);
        }
        if (handle__check_access(ch, AUTH_CONFIGURE, "queue", name, err) < 0)
            return -1;
        q = vhost_queue(v, name);
        if (q) {
            if (handle__check_exclusive(ch, q, err) < 0 ||
                queue_check_equivalent(q, flags, a->arguments, conn_id(c), err) < 0)
                return -1;
        } else {
            q = queue_create(view_str(conn_vhost(c)), name, flags, a->arguments,
                             a->exclusive ? conn_id(c) : 0, err);
            if (!q)
                return -1;
            vhost_add_queue_take(v, q);
        }
    }
    chan_set_last_queue(ch, queue_name(q));
    if (!a->no_wait)
        send_declare_ok(ch, q);
    return 0;
}

/* queue.bind / unbind: shared lookups and checks. */
static int binding_target(struct chan *ch, struct view qname, struct view xname, struct queue **q,
                          struct exch **x, struct proto_err *err)
{
    if (!xname.n)
        return err_set(err, SPEC_ACCESS_REFUSED, "operation not permitted on the default exchange");
    if (!(*q = handle__queue(ch, qname, NULL, err)) || !(*x = handle__exch(ch, xname, err)))
        return -1;
    if (handle__check_exclusive(ch, *q, err) < 0 ||
        handle__check_access(ch, AUTH_WRITE, "queue", view_str(queue_name(*q)), err) < 0 ||
        handle__check_access(ch, AUTH_READ, "exchange", xname, err) < 0)
        return -1;
    return 0;
}

int handle_queue_bind(struct chan *ch, const struct spec_queue_bind *a, struct proto_err *err)
{
    struct view key = a->routing_key;
    struct queue *q;
    struct exch *x;

    if (binding_target(ch, a->queue, a->exchange, &q, &x, err) < 0)
        return -1;
    /* Spec: an empty key with an empty queue name binds with the queue's name. */
    if (!key.n && !a->queue.n)
        key = view_str(queue_name(q));
    if (exch_bind_queue(x, q, key, a->arguments, err) < 0)
        return -1;
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_QUEUE_BIND_OK;
        chan_send_method(ch, &m);
    }
    return 0;
}

int handle_queue_unbind(struct chan *ch, const struct spec_queue_unbind *a, struct proto_err *err)
{
    struct view key = a->routing_key;
    struct spec_method m;
    struct queue *q;
    struct exch *x;

    if (binding_target(ch, a->queue, a->exchange, &q, &x, err) < 0) {
        /* RabbitMQ answers unbind-ok when the queue or exchange is missing:
         * the binding cannot exist, which is what the client asked for. */
        if (err->code != SPEC_NOT_FOUND)
            return -1;
        q = NULL;
    }
    if (q) {
        if (!key.n && !a->queue.n)
            key = view_str(queue_name(q));
        exch_unbind_queue(x, q, key, a->arguments);
        vhost_maybe_auto_delete_exch(chan_vhost(ch), x);
    }
    memset(&m, 0, sizeof(m));
    m.id = SPEC_QUEUE_UNBIND_OK;
    chan_send_method(ch, &m);
    return 0;
}

int handle_queue_purge(struct chan *ch, const struct spec_queue_purge *a, struct proto_err *err)
{
    struct queue *q = handle__queue(ch, a->queue, NULL, err);
    size_t n;

    if (!q || handle__check_exclusive(ch, q, err) < 0 ||
        handle__check_access(ch, AUTH_READ, "queue", view_str(queue_name(q)), err) < 0)
        return -1;
    n = queue_purge(q);
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
    struct proto_err miss = {0};
    struct queue *q = handle__queue(ch, a->queue, NULL, &miss);
    size_t n = 0;

    /* Deleting a queue that does not exist succeeds with a count of 0, as in RabbitMQ. */
    if (q) {
        if (handle__check_exclusive(ch, q, err) < 0 ||
            handle__check_access(ch, AUTH_CONFIGURE, "queue", view_str(queue_name(q)), err) < 0)
            return -1;
        if (a->if_unused && queue_consumer_count(q) > 0)
            return err_set(err, SPEC_PRECONDITION_FAILED, "queue '%s' in vhost '%s' in use",
                           queue_name(q), queue_vhost(q));
        if (a->if_empty && queue_ready_count(q) > 0)
            return err_set(err, SPEC_PRECONDITION_FAILED, "queue '%s' in vhost '%s' not empty",
                           queue_name(q), queue_vhost(q));
        n = vhost_delete_queue(chan_vhost(ch), q);
    }
    if (!a->no_wait) {
        struct spec_method m;
        memset(&m, 0, sizeof(m));
        m.id = SPEC_QUEUE_DELETE_OK;
        m.u.queue_delete_ok.message_count = (uint32_t)n;
        chan_send_method(ch, &m);
    }
    return 0;
}
