/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the queue's message counters (queue_msg_stats): publish,
 * deliver / deliver_no_ack, get / get_no_ack, redeliver, ack, unacked bytes
 * and the persistent count and bytes over ready and unacked messages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "amqp/spec_gen.h"
#include "broker/msg.h"
#include "queue/queue.h"
#include "queue/queue_int.h"

/* A message whose body is s, persistent (delivery_mode 2) or not. */
static struct msg *make_msg(const char *s, bool persistent)
{
    struct spec_basic_props pr = {0};
    uint8_t props[16];
    size_t n;
    struct msg *m;

    if (persistent) {
        pr.flags = SPEC_PROP_DELIVERY_MODE;
        pr.delivery_mode = 2;
    }
    n = spec_encode_props(&pr, props);
    m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), (struct view){props, n}, strlen(s));
    assert_non_null(m);
    msg_append_body(m, view_str(s));
    return m;
}

static void publish(struct queue *q, const char *s, bool persistent)
{
    struct msg *m = make_msg(s, persistent);
    struct proto_err err = {0};

    assert_int_equal(queue_publish(q, m, &err), 0);
    msg_unref(&m);
}

static struct queue *make_queue(void)
{
    struct proto_err err = {0};
    struct queue *q =
        queue_create(VIEW_LIT("/"), VIEW_LIT("q"), 0, (struct view){NULL, 0}, 0, &err);

    assert_non_null(q);
    return q;
}

static void destroy(struct queue *q)
{
    queue_delete(q);
    queue_unref(&q);
}

static struct queue_msg_stats stats_of(const struct queue *q)
{
    struct queue_msg_stats s;

    queue_msg_stats(q, &s);
    return s;
}

/* ---- a consumer that keeps what it gets ---- */

#define MAX_GOT 16

struct fake {
    size_t n;
    struct msg *m[MAX_GOT];
    uint64_t seq[MAX_GOT];
};

static bool fake_can_take(void *owner)
{
    return ((struct fake *)owner)->n < MAX_GOT;
}

static void fake_deliver(void *owner, struct queue *q, struct msg *m, uint64_t seq,
                         bool redelivered)
{
    struct fake *f = owner;

    (void)q;
    (void)redelivered;
    f->m[f->n] = m;
    f->seq[f->n++] = seq;
}

static void fake_cancelled(void *owner, struct queue *q)
{
    (void)owner;
    (void)q;
}

static const struct consumer_ops fake_ops = {fake_can_take, fake_deliver, fake_cancelled};

static void test_queue_stats_start_at_zero(void **state)
{
    struct queue *q = make_queue();
    struct queue_msg_stats s = stats_of(q);
    struct queue_msg_stats zero;

    (void)state;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&s, &zero, sizeof(s));
    destroy(q);
}

static void test_queue_stats_publish_get_ack(void **state)
{
    struct queue *q = make_queue();
    struct queue_msg_stats s;
    struct msg *m1, *m2;
    uint64_t seq1, seq2;
    bool red;

    (void)state;
    publish(q, "aaaa", true); /* 4 bytes, persistent */
    publish(q, "bb", false);  /* 2 bytes */
    publish(q, "c", false);   /* 1 byte */
    s = stats_of(q);
    assert_int_equal(s.publish, 3);
    assert_int_equal(s.persistent, 1);
    assert_int_equal(s.persistent_bytes, 4);
    assert_int_equal(s.unacked_bytes, 0);

    m1 = queue_get(q, true, &seq1, &red);
    m2 = queue_get(q, true, &seq2, &red);
    assert_non_null(m1);
    assert_non_null(m2);
    s = stats_of(q);
    assert_int_equal(s.get, 2);
    assert_int_equal(s.get_no_ack, 0);
    assert_int_equal(s.unacked_bytes, 6);
    /* persistent counts ready and unacked messages */
    assert_int_equal(s.persistent, 1);
    assert_int_equal(s.persistent_bytes, 4);

    queue_ack_msg(q, m1, seq1);
    msg_unref(&m1);
    s = stats_of(q);
    assert_int_equal(s.ack, 1);
    assert_int_equal(s.unacked_bytes, 2);
    assert_int_equal(s.persistent, 0);
    assert_int_equal(s.persistent_bytes, 0);

    /* Plain queue_ack cannot see the size; the totals reset once none is left. */
    queue_ack(q, seq2);
    msg_unref(&m2);
    s = stats_of(q);
    assert_int_equal(s.ack, 2);
    assert_int_equal(s.unacked_bytes, 0);

    m1 = queue_get(q, false, NULL, NULL);
    assert_non_null(m1);
    msg_unref(&m1);
    s = stats_of(q);
    assert_int_equal(s.get_no_ack, 1);
    assert_int_equal(s.get, 2);
    assert_int_equal(s.redeliver, 0);
    assert_int_equal(s.deliver + s.deliver_no_ack, 0);
    assert_null(queue_get(q, true, NULL, NULL));
    assert_int_equal(stats_of(q).get, 2); /* empty gets are not gets */
    destroy(q);
}

static void test_queue_stats_requeue_counts_redeliver(void **state)
{
    struct queue *q = make_queue();
    struct queue_msg_stats s;
    struct msg *m;
    uint64_t seq;
    bool red = true;

    (void)state;
    publish(q, "xyz", true);
    m = queue_get(q, true, &seq, &red);
    assert_false(red);
    queue_requeue(q, m, seq);
    s = stats_of(q);
    assert_int_equal(s.unacked_bytes, 0);
    assert_int_equal(s.persistent, 1); /* back among the ready */
    assert_int_equal(s.persistent_bytes, 3);
    assert_int_equal(s.redeliver, 0);

    m = queue_get(q, true, &seq, &red);
    assert_true(red);
    s = stats_of(q);
    assert_int_equal(s.redeliver, 1);
    assert_int_equal(s.get, 2);
    assert_int_equal(s.unacked_bytes, 3);

    queue_reject(q, m, seq); /* no DLX: dropped */
    queue_flush();
    s = stats_of(q);
    assert_int_equal(s.unacked_bytes, 0);
    assert_int_equal(s.persistent, 0);
    assert_int_equal(s.ack, 0);
    destroy(q);
}

static void test_queue_stats_consumer_deliveries(void **state)
{
    struct queue *q = make_queue();
    struct proto_err err = {0};
    struct fake acker = {0}, noack = {0};
    struct consumer *c1, *c2;
    struct queue_msg_stats s;

    (void)state;
    c1 = queue_consume(q, &fake_ops, &acker, 0, false, false, &err);
    assert_non_null(c1);
    publish(q, "one", false);
    publish(q, "two!", true);
    s = stats_of(q);
    assert_int_equal(s.publish, 2);
    assert_int_equal(s.deliver, 2);
    assert_int_equal(s.deliver_no_ack, 0);
    assert_int_equal(s.unacked_bytes, 7);
    assert_int_equal(s.persistent, 1);
    assert_int_equal(s.persistent_bytes, 4);
    assert_int_equal(queue_unacked_count(q), 2);

    /* Requeue both; a no-ack consumer takes them as redeliveries. */
    queue_cancel(q, c1);
    c2 = queue_consume(q, &fake_ops, &noack, 0, false, true, &err);
    assert_non_null(c2);
    for (size_t i = 0; i < acker.n; i++)
        queue_requeue(q, acker.m[i], acker.seq[i]);
    queue_dispatch(q);
    s = stats_of(q);
    assert_int_equal(s.deliver, 2);
    assert_int_equal(s.deliver_no_ack, 2);
    assert_int_equal(s.redeliver, 2);
    assert_int_equal(s.unacked_bytes, 0);
    assert_int_equal(s.persistent, 0);
    assert_int_equal(s.persistent_bytes, 0);
    assert_int_equal(noack.n, 2);
    for (size_t i = 0; i < noack.n; i++)
        msg_unref(&noack.m[i]);
    queue_cancel(q, c2);
    destroy(q);
}

static void test_queue_stats_purge_and_delete(void **state)
{
    struct queue *q = make_queue();
    struct queue_msg_stats s;

    (void)state;
    publish(q, "p1", true);
    publish(q, "p2", true);
    assert_int_equal(stats_of(q).persistent, 2);
    assert_int_equal(queue_purge(q), 2);
    s = stats_of(q);
    assert_int_equal(s.persistent, 0);
    assert_int_equal(s.persistent_bytes, 0);
    assert_int_equal(s.publish, 2);
    destroy(q);
}

static void test_queue_stats_no_allocation(void **state)
{
    struct queue *q = make_queue();
    struct queue_msg_stats s;
    size_t before;

    (void)state;
    publish(q, "warm", true);
    before = queue__alloc_count();
    for (int i = 0; i < 100; i++)
        queue_msg_stats(q, &s);
    assert_int_equal(queue__alloc_count(), before);
    destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_stats_start_at_zero),
        cmocka_unit_test(test_queue_stats_publish_get_ack),
        cmocka_unit_test(test_queue_stats_requeue_counts_redeliver),
        cmocka_unit_test(test_queue_stats_consumer_deliveries),
        cmocka_unit_test(test_queue_stats_purge_and_delete),
        cmocka_unit_test(test_queue_stats_no_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
