/* SPDX-License-Identifier: MIT */
/* handle_basic: the basic class (spec §1.8.2 plus RabbitMQ's basic.nack). */
#include <string.h>

#include "amqp/table.h"
#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

int handle_basic_qos(struct chan *ch, const struct spec_basic_qos *a, struct proto_err *err)
{
    struct spec_method m;

    /* RabbitMQ does not implement prefetch-size either. */
    if (a->prefetch_size != 0)
        return err_set(err, SPEC_NOT_IMPLEMENTED, "prefetch_size!=0 (%u)",
                       (unsigned)a->prefetch_size);
    chan_set_qos(ch, a->prefetch_count, a->global);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_BASIC_QOS_OK;
    chan_send_method(ch, &m);
    return 0;
}

int handle_basic_consume(struct chan *ch, const struct spec_basic_consume *a, struct proto_err *err)
{
    struct queue *q;
    struct table_value v;
    int64_t prio = 0;

    if (chan_is_reply_to(a->queue))
        return chan_consume_reply_to(ch, a->consumer_tag, a->no_ack, a->no_wait, err);
    q = handle__readable_queue(ch, a->queue, err);
    if (!q)
        return -1;
    if (table_get(a->arguments, "x-priority", &v)) {
        if (!table_value_as_i64(&v, &prio) || prio < INT32_MIN || prio > INT32_MAX)
            return err_set(err, SPEC_PRECONDITION_FAILED,
                           "invalid arg 'x-priority' for queue '%s' in vhost '%s'", queue_name(q),
                           queue_vhost(q));
    }
    return chan_consume(ch, q, a->consumer_tag, a->no_ack, a->exclusive, (int32_t)prio, a->no_wait,
                        err);
}

int handle_basic_cancel(struct chan *ch, const struct spec_basic_cancel *a, struct proto_err *err)
{
    (void)err;
    chan_cancel(ch, a->consumer_tag, a->no_wait);
    return 0;
}

int handle_basic_cancel_ok(struct chan *ch, const struct spec_basic_cancel_ok *a,
                           struct proto_err *err)
{
    /* The client's answer to a server-sent basic.cancel (consumer cancel notify). */
    (void)ch;
    (void)a;
    (void)err;
    return 0;
}

int handle_basic_publish(struct chan *ch, const struct spec_basic_publish *a, struct proto_err *err)
{
    struct exch *x;

    /* RabbitMQ's order: immediate, write permission (so a refused user
     * cannot probe which exchanges exist), existence, internal. */
    if (a->immediate)
        return err_set(err, SPEC_NOT_IMPLEMENTED, "immediate=true");
    if (handle__check_access(ch, AUTH_WRITE, "exchange", a->exchange, err) < 0 ||
        !(x = handle__exch(ch, a->exchange, err)))
        return -1;
    if (exch_flags(x) & EXCH_F_INTERNAL)
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "cannot publish to internal exchange '%s' in vhost '%s'", exch_name(x),
                       conn_vhost(chan_conn(ch)));
    return chan_begin_publish(ch, x, a->routing_key, a->mandatory, err);
}

int handle_basic_get(struct chan *ch, const struct spec_basic_get *a, struct proto_err *err)
{
    struct queue *q = handle__readable_queue(ch, a->queue, err);

    if (!q)
        return -1;
    chan_get(ch, q, a->no_ack);
    return 0;
}

int handle_basic_ack(struct chan *ch, const struct spec_basic_ack *a, struct proto_err *err)
{
    return chan_ack(ch, a->delivery_tag, a->multiple, err);
}

int handle_basic_reject(struct chan *ch, const struct spec_basic_reject *a, struct proto_err *err)
{
    return chan_reject(ch, a->delivery_tag, false, a->requeue, err);
}

int handle_basic_nack(struct chan *ch, const struct spec_basic_nack *a, struct proto_err *err)
{
    return chan_reject(ch, a->delivery_tag, a->multiple, a->requeue, err);
}

int handle_basic_recover_async(struct chan *ch, const struct spec_basic_recover_async *a,
                               struct proto_err *err)
{
    if (!a->requeue)
        return err_set(err, SPEC_NOT_IMPLEMENTED, "requeue=false");
    chan_recover(ch);
    return 0;
}

int handle_basic_recover(struct chan *ch, const struct spec_basic_recover *a, struct proto_err *err)
{
    struct spec_method m;

    if (!a->requeue)
        return err_set(err, SPEC_NOT_IMPLEMENTED, "requeue=false");
    chan_recover(ch);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_BASIC_RECOVER_OK;
    chan_send_method(ch, &m);
    return 0;
}
