/* SPDX-License-Identifier: MIT */
/*
 * rates: the last two samples of the broker-wide counters (broker/stats.h)
 * and of every queue's counts and message counters (queue_msg_stats), taken
 * every MGMT_RATES_INTERVAL seconds like
 * RabbitMQ's collect_statistics_interval. A rate is the change between the
 * two samples divided by the time between them (RabbitMQ's "basic" rates
 * mode reports the same instantaneous rate).
 */
#include <stdlib.h>
#include <string.h>

#include "broker/map.h"
#include "broker/stats.h"
#include "broker/vhost.h"
#include "mgmt/mgmt_int.h"
#include "queue/queue.h"

struct qsample {
    uint64_t gen;
    const struct queue *q; /* a queue recreated under the same name starts afresh */
    bool have_prev;
    double t_prev, t_cur;
    uint64_t prev[MGMT_QRATES], cur[MGMT_QRATES];
};

struct mgmt_rates {
    bool have_prev, have_cur;
    double t_prev, t_cur;
    struct stats prev, cur;
    uint64_t tot_prev[3], tot_cur[3];
    struct map *queues; /* "vhost\0name" -> struct qsample */
    uint64_t gen;
};

struct mgmt_rates *mgmt_rates_create(void)
{
    struct mgmt_rates *r = xcalloc(1, sizeof(*r));

    r->queues = map_create();
    return r;
}

void mgmt_rates_destroy(struct mgmt_rates *r)
{
    struct map_iter it;
    struct view k;
    void *v;

    if (!r)
        return;
    map_iter_init(&it, r->queues);
    while (map_next(&it, &k, &v))
        free(v);
    map_destroy(r->queues);
    free(r);
}

/* Writes "vhost\0name" into buf (sized by the caller) and returns its view. */
static struct view queue_key(const struct queue *q, char *buf, size_t size)
{
    size_t a = strlen(queue_vhost(q)), b = strlen(queue_name(q));

    if (a + 1 + b > size)
        return (struct view){NULL, 0};
    memcpy(buf, queue_vhost(q), a);
    buf[a] = '\0';
    memcpy(buf + a + 1, queue_name(q), b);
    return (struct view){(const uint8_t *)buf, a + 1 + b};
}

struct sample_walk {
    struct mgmt_rates *r;
    double now;
};

static void sample_queue(struct queue *q, void *arg)
{
    struct sample_walk *w = arg;
    struct mgmt_rates *r = w->r;
    char buf[600];
    struct view k = queue_key(q, buf, sizeof(buf));
    struct qsample *s;
    uint64_t ready = queue_ready_count(q), unacked = queue_unacked_count(q);
    struct queue_msg_stats ms;

    if (!k.p)
        return;
    s = map_get(r->queues, k);
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        map_put(r->queues, k, s);
    }
    if (s->q != q) {
        /* New since the last sample (or recreated under the same name): it
         * had nothing then, so its first interval has rates too. */
        memset(s->prev, 0, sizeof(s->prev));
        s->t_prev = r->t_prev;
        s->have_prev = r->have_prev;
    } else {
        memcpy(s->prev, s->cur, sizeof(s->prev));
        s->t_prev = s->t_cur;
        s->have_prev = true;
    }
    s->gen = r->gen;
    s->t_cur = w->now;
    s->cur[0] = ready + unacked;
    s->cur[1] = ready;
    s->cur[2] = unacked;
    s->q = q;
    queue_msg_stats(q, &ms);
    s->cur[MGMT_QR_PUBLISH] = ms.publish;
    s->cur[MGMT_QR_DELIVER] = ms.deliver;
    s->cur[MGMT_QR_DELIVER_NO_ACK] = ms.deliver_no_ack;
    s->cur[MGMT_QR_GET] = ms.get;
    s->cur[MGMT_QR_GET_NO_ACK] = ms.get_no_ack;
    s->cur[MGMT_QR_REDELIVER] = ms.redeliver;
    s->cur[MGMT_QR_ACK] = ms.ack;
    r->tot_cur[0] += ready + unacked;
    r->tot_cur[1] += ready;
    r->tot_cur[2] += unacked;
}

void mgmt_rates_sample(struct mgmt_rates *r, double now)
{
    struct sample_walk w = {r, now};
    struct map_iter it;
    struct view k;
    void *v;

    r->gen++;
    if (r->have_cur) {
        r->prev = r->cur;
        r->t_prev = r->t_cur;
        memcpy(r->tot_prev, r->tot_cur, sizeof(r->tot_prev));
        r->have_prev = true;
    }
    r->cur = stats;
    r->t_cur = now;
    r->have_cur = true;
    memset(r->tot_cur, 0, sizeof(r->tot_cur));
    for (size_t i = 0; i < vhost_count(); i++)
        vhost_for_each_queue(vhost_at(i), sample_queue, &w);
    /* Forget queues that are gone. */
    map_iter_init(&it, r->queues);
    while (map_next(&it, &k, &v)) {
        struct qsample *s = v;
        if (s->gen != r->gen)
            free(map_iter_remove(r->queues, &it));
    }
}

static double rate(uint64_t a, uint64_t b, double ta, double tb)
{
    double dt = tb - ta;

    if (dt <= 0)
        return 0.0;
    return ((double)b - (double)a) / dt;
}

double mgmt_rates_global(const struct mgmt_rates *r, size_t off)
{
    uint64_t a, b;

    if (!r->have_prev)
        return 0.0;
    memcpy(&a, (const char *)&r->prev + off, sizeof(a));
    memcpy(&b, (const char *)&r->cur + off, sizeof(b));
    return rate(a, b, r->t_prev, r->t_cur);
}

void mgmt_rates_queue(const struct mgmt_rates *r, const struct queue *q, double out[MGMT_QRATES])
{
    char buf[600];
    struct view k = queue_key(q, buf, sizeof(buf));
    const struct qsample *s = k.p ? map_get(r->queues, k) : NULL;

    if (s && s->q != q)
        s = NULL;
    for (int i = 0; i < MGMT_QRATES; i++)
        out[i] = s && s->have_prev ? rate(s->prev[i], s->cur[i], s->t_prev, s->t_cur) : 0.0;
}

void mgmt_rates_totals(const struct mgmt_rates *r, double out[3])
{
    for (int i = 0; i < 3; i++)
        out[i] = r->have_prev ? rate(r->tot_prev[i], r->tot_cur[i], r->t_prev, r->t_cur) : 0.0;
}
