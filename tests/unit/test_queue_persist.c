/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the queue module's persistence hooks (queue/queue.c, end of
 * file): the observer hears enqueues, deliveries that need an ack and every
 * way an entry leaves for good, only for queues with a store qid; and
 * queue_restore puts recovered entries back in order without calling it.
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
#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/msg.h"
#include "queue/queue.h"

/* ---- an observer that records "E3 D3 S3 ..." ---- */

static char events[1024];

static void note(char kind, uint64_t seq)
{
    size_t n = strlen(events);

    snprintf(events + n, sizeof(events) - n, "%s%c%llu", n ? " " : "", kind,
             (unsigned long long)seq);
}

static void obs_enqueued(void *arg, struct queue *q, struct msg *m, uint64_t seq)
{
    (void)arg;
    (void)q;
    assert_non_null(m);
    note('E', seq);
}

static void obs_delivered(void *arg, struct queue *q, uint64_t seq)
{
    (void)arg;
    (void)q;
    note('D', seq);
}

static void obs_settled(void *arg, struct queue *q, uint64_t seq)
{
    (void)arg;
    (void)q;
    note('S', seq);
}

static const struct queue_observer obs = {obs_enqueued, obs_delivered, obs_settled};

static int setup(void **state)
{
    (void)state;
    events[0] = '\0';
    queue_set_observer(&obs, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    queue_set_observer(NULL, NULL);
    return 0;
}

/* ---- helpers ---- */

static struct msg *make_msg(const char *s)
{
    struct spec_basic_props pr = {0};
    uint8_t props[16];
    size_t n = spec_encode_props(&pr, props);
    struct msg *m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), (struct view){props, n}, strlen(s));

    assert_non_null(m);
    msg_append_body(m, view_str(s));
    return m;
}

static struct queue *make_queue(const char *args_key, int32_t v)
{
    struct proto_err err = {0};
    struct buf b = {0};
    struct queue *q;
    size_t top = table_open(&b);

    if (args_key)
        table_put_i32(&b, args_key, v);
    table_close(&b, top);
    q = queue_create(VIEW_LIT("/"), VIEW_LIT("q"), QUEUE_F_DURABLE,
                     (struct view){b.p + 4, b.len - 4}, 0, &err);
    buf_free(&b);
    if (!q)
        fail_msg("queue_create: %s", err.text);
    return q;
}

static void publish(struct queue *q, const char *s)
{
    struct msg *m = make_msg(s);
    struct proto_err err = {0};

    assert_int_equal(queue_publish(q, m, &err), 0);
    msg_unref(&m);
}

/* basic.get: checks the body and the redelivered flag, returns the message. */
static struct msg *get_expect(struct queue *q, bool ack, const char *s, bool redelivered,
                              uint64_t *seq)
{
    bool red = !redelivered;
    struct msg *m = queue_get(q, ack, seq, &red);

    assert_non_null(m);
    if (!view_eq_str(msg_body(m), s))
        fail_msg("got \"%.*s\", want \"%s\"", (int)msg_body(m).n, (const char *)msg_body(m).p, s);
    assert_int_equal(red, redelivered);
    return m;
}

static void drop(struct queue **q)
{
    queue_delete(*q);
    queue_unref(q);
}

/* ---- a consumer that takes everything without ack ---- */

static struct msg *taken[8];
static size_t ntaken;

static bool take_all(void *owner)
{
    (void)owner;
    return ntaken < 8;
}

static void take(void *owner, struct queue *q, struct msg *m, uint64_t seq, bool redelivered)
{
    (void)owner;
    (void)q;
    (void)seq;
    (void)redelivered;
    taken[ntaken++] = m;
}

static void cancelled(void *owner, struct queue *q)
{
    (void)owner;
    (void)q;
}

static const struct consumer_ops taker = {take_all, take, cancelled};

/* ---- tests ---- */

static void test_queue_observer_silent_without_qid(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    struct msg *m;
    uint64_t seq;
    (void)state;

    publish(q, "a");
    m = get_expect(q, true, "a", false, &seq);
    queue_ack(q, seq);
    msg_unref(&m);
    assert_string_equal(events, "");
    drop(&q);
}

static void test_queue_observer_sees_each_way_out(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    struct msg *m;
    uint64_t seq;
    (void)state;

    queue_set_store_qid(q, 7);
    assert_int_equal(queue_store_qid(q), 7);
    publish(q, "1");
    publish(q, "2");
    publish(q, "3");
    publish(q, "4");
    m = get_expect(q, true, "1", false, &seq); /* delivered, then acked */
    queue_ack(q, seq);
    msg_unref(&m);
    m = get_expect(q, true, "2", false, &seq); /* delivered, requeued: nothing */
    queue_requeue(q, m, seq);
    m = get_expect(q, true, "2", true, &seq); /* delivered again, rejected */
    queue_reject(q, m, seq);
    m = get_expect(q, false, "3", false, &seq); /* no-ack get settles at once */
    msg_unref(&m);
    assert_int_equal(queue_purge(q), 1); /* "4" */
    assert_string_equal(events, "E1 E2 E3 E4 D1 S1 D2 D2 S2 S3 S4");
    drop(&q);
}

static void test_queue_observer_enqueue_comes_before_direct_delivery(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    struct proto_err err = {0};
    struct consumer *c;
    (void)state;

    queue_set_store_qid(q, 1);
    ntaken = 0;
    c = queue_consume(q, &taker, NULL, 0, false, true, &err);
    assert_non_null(c);
    publish(q, "x");
    assert_int_equal(ntaken, 1);
    assert_string_equal(events, "E1 S1");
    msg_unref(&taken[0]);
    queue_cancel(q, c);
    drop(&q);
}

static void test_queue_observer_length_limit_drop_settles(void **state)
{
    struct queue *q = make_queue("x-max-length", 1);
    struct msg *m;
    uint64_t seq;
    (void)state;

    queue_set_store_qid(q, 1);
    publish(q, "a");
    publish(q, "b"); /* drop-head: "a" goes */
    m = get_expect(q, false, "b", false, &seq);
    msg_unref(&m);
    assert_string_equal(events, "E1 E2 S1 S2");
    drop(&q);
}

static void test_queue_observer_ttl_expiry_settles(void **state)
{
    struct queue *q = make_queue("x-message-ttl", 0);
    (void)state;

    queue_set_store_qid(q, 1);
    publish(q, "a"); /* TTL 0 and nobody waiting: expires at once */
    assert_int_equal(queue_ready_count(q), 0);
    assert_string_equal(events, "E1 S1");
    queue_flush();
    drop(&q);
}

static void test_queue_observer_remove_settles(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    struct msg *m;
    uint64_t seq;
    (void)state;

    queue_set_store_qid(q, 1);
    publish(q, "a");
    publish(q, "b");
    m = queue_remove(q, 2, NULL);
    assert_non_null(m);
    msg_unref(&m);
    m = get_expect(q, false, "a", false, &seq);
    msg_unref(&m);
    assert_string_equal(events, "E1 E2 S2 S1");
    drop(&q);
}

static void test_queue_observer_silent_after_qid_cleared(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    (void)state;

    queue_set_store_qid(q, 3);
    publish(q, "a");
    queue_set_store_qid(q, 0);
    drop(&q); /* deleting with the qid cleared says nothing */
    assert_string_equal(events, "E1");
}

static void test_queue_restore_keeps_order_flags_and_sequence(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    struct msg *a = make_msg("a"), *b = make_msg("b"), *c = make_msg("c"), *m;
    uint64_t seq;
    (void)state;

    queue_set_store_qid(q, 2);
    queue_restore(q, a, 5, false);
    queue_restore(q, b, 7, true);
    queue_restore(q, c, 9, false);
    msg_unref(&a);
    msg_unref(&b);
    msg_unref(&c);
    assert_string_equal(events, ""); /* restoring writes nothing */
    assert_int_equal(queue_ready_count(q), 3);
    queue_reserve_seq(q, 20);
    publish(q, "d");
    assert_string_equal(events, "E21");
    m = get_expect(q, false, "a", false, &seq);
    assert_int_equal(seq, 5);
    msg_unref(&m);
    m = get_expect(q, false, "b", true, &seq);
    assert_int_equal(seq, 7);
    msg_unref(&m);
    m = get_expect(q, false, "c", false, &seq);
    msg_unref(&m);
    m = get_expect(q, false, "d", false, &seq);
    assert_int_equal(seq, 21);
    msg_unref(&m);
    drop(&q);
}

static void test_queue_restore_out_of_order_is_sorted(void **state)
{
    struct queue *q = make_queue(NULL, 0);
    struct msg *a = make_msg("a"), *b = make_msg("b"), *m;
    uint64_t seq;
    (void)state;

    queue_restore(q, b, 9, false);
    queue_restore(q, a, 4, true);
    msg_unref(&a);
    msg_unref(&b);
    m = get_expect(q, true, "a", true, &seq);
    assert_int_equal(seq, 4);
    queue_ack(q, seq);
    msg_unref(&m);
    m = get_expect(q, true, "b", false, &seq);
    queue_ack(q, seq);
    msg_unref(&m);
    publish(q, "c");
    m = get_expect(q, false, "c", false, &seq);
    assert_int_equal(seq, 10);
    msg_unref(&m);
    drop(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_observer_silent_without_qid, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_observer_sees_each_way_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_observer_enqueue_comes_before_direct_delivery,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_observer_length_limit_drop_settles, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_observer_ttl_expiry_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_observer_remove_settles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_observer_silent_after_qid_cleared, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_restore_keeps_order_flags_and_sequence, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_queue_restore_out_of_order_is_sorted, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
