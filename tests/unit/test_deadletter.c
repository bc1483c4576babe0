/* SPDX-License-Identifier: MIT */
/* Unit tests for broker/deadletter.c: RabbitMQ's x-death bookkeeping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/deadletter.h"
#include "broker/msg.h"

/* A message published to exchange "ex" with key "rk", optional CC/BCC and expiration. */
static struct msg *make(bool cc_bcc, const char *expiration)
{
    struct spec_basic_props p;
    struct buf hb = {0}, pb = {0};
    struct msg *m;

    memset(&p, 0, sizeof(p));
    if (cc_bcc) {
        size_t top = table_open(&hb), a;
        table_put_longstr(&hb, "app", VIEW_LIT("keep"));
        a = table_open_array(&hb, "CC");
        table_put_longstr(&hb, NULL, VIEW_LIT("cc1"));
        table_close(&hb, a);
        a = table_open_array(&hb, "BCC");
        table_put_longstr(&hb, NULL, VIEW_LIT("bcc1"));
        table_close(&hb, a);
        table_close(&hb, top);
        p.flags |= SPEC_PROP_HEADERS;
        p.headers = (struct view){hb.p + 4, hb.len - 4};
    }
    if (expiration) {
        p.flags |= SPEC_PROP_EXPIRATION;
        p.expiration = view_str(expiration);
    }
    buf_reserve(&pb, spec_props_size(&p));
    pb.len = spec_encode_props(&p, pb.p);
    m = msg_create(VIEW_LIT("ex"), VIEW_LIT("rk"), (struct view){pb.p, pb.len}, 3);
    msg_append_body(m, VIEW_LIT("abc"));
    buf_free(&hb);
    buf_free(&pb);
    return m;
}

static struct view death(const struct msg *m, int i)
{
    struct table_value d, v;
    struct table_iter it;

    assert_true(table_get(msg_headers(m), "x-death", &d));
    assert_int_equal(d.type, TABLE_ARRAY);
    table_iter_init(&it, d.v.array);
    for (int k = 0; k <= i; k++)
        assert_true(table_array_next(&it, &v));
    assert_int_equal(v.type, TABLE_TABLE);
    return v.v.table;
}

static int death_count(const struct msg *m)
{
    struct table_value d, v;
    struct table_iter it;
    int n = 0;

    if (!table_get(msg_headers(m), "x-death", &d))
        return 0;
    table_iter_init(&it, d.v.array);
    while (table_array_next(&it, &v))
        n++;
    return n;
}

static void assert_str(struct view t, const char *key, const char *want)
{
    struct table_value v;

    assert_true(table_get(t, key, &v));
    assert_int_equal(v.type, TABLE_LONGSTR);
    assert_int_equal(v.v.str.n, strlen(want));
    assert_memory_equal(v.v.str.p, want, strlen(want));
}

static int64_t get_i64(struct view t, const char *key)
{
    struct table_value v;
    int64_t i;

    assert_true(table_get(t, key, &v));
    assert_true(table_value_as_i64(&v, &i));
    return i;
}

static void test_deadletter_first_death_sets_every_field(void **state)
{
    struct msg *m = make(true, "60000");
    struct msg *d = deadletter_make(m, "q1", "expired", VIEW_LIT("dlx"), VIEW_LIT(""), false, 1000);
    struct view e, h;
    struct table_value v;
    struct spec_basic_props p;

    (void)state;
    assert_non_null(d);
    h = msg_headers(d);
    assert_true(view_eq_str(msg_exchange(d), "dlx"));
    assert_true(view_eq_str(msg_routing_key(d), "rk"));
    assert_true(view_eq_str(msg_body(d), "abc"));
    e = death(d, 0);
    assert_int_equal(get_i64(e, "count"), 1);
    assert_str(e, "reason", "expired");
    assert_str(e, "queue", "q1");
    assert_str(e, "exchange", "ex");
    assert_str(e, "original-expiration", "60000");
    assert_true(table_get(e, "time", &v));
    assert_int_equal(v.type, TABLE_TIMESTAMP);
    assert_int_equal(v.v.u, 1000);
    assert_true(table_get(e, "routing-keys", &v));
    assert_int_equal(v.type, TABLE_ARRAY);
    assert_str(h, "x-first-death-queue", "q1");
    assert_str(h, "x-first-death-reason", "expired");
    assert_str(h, "x-first-death-exchange", "ex");
    assert_str(h, "x-last-death-queue", "q1");
    assert_str(h, "app", "keep");
    /* Without a dead-letter routing key CC and BCC keep routing the dead
     * letter (BCC stays hidden from consumers at delivery). */
    assert_true(table_get(h, "BCC", &v));
    assert_true(table_get(h, "CC", &v));
    /* The expiration property is removed. */
    assert_int_equal(spec_decode_props(msg_props(d).p, msg_props(d).n, &p), SPEC_OK);
    assert_false(p.flags & SPEC_PROP_EXPIRATION);
    msg_unref(&d);
    msg_unref(&m);
}

static void test_deadletter_routing_keys_include_cc_not_bcc(void **state)
{
    struct msg *m = make(true, NULL);
    struct msg *d = deadletter_make(m, "q1", "rejected", VIEW_LIT("dlx"), VIEW_LIT(""), false, 1);
    struct table_value v, k;
    struct table_iter it;
    int n = 0;

    (void)state;
    assert_true(table_get(death(d, 0), "routing-keys", &v));
    table_iter_init(&it, v.v.array);
    while (table_array_next(&it, &k)) {
        assert_int_equal(k.type, TABLE_LONGSTR);
        assert_true(view_eq_str(k.v.str, n == 0 ? "rk" : "cc1"));
        n++;
    }
    assert_int_equal(n, 2);
    assert_false(table_get(death(d, 0), "original-expiration", &v));
    msg_unref(&d);
    msg_unref(&m);
}

static void test_deadletter_same_queue_and_reason_increments_count(void **state)
{
    struct msg *m = make(false, NULL);
    struct msg *d1 = deadletter_make(m, "q1", "rejected", VIEW_LIT("dlx"), VIEW_LIT(""), false, 5);
    struct msg *d2 = deadletter_make(d1, "q1", "rejected", VIEW_LIT("dlx"), VIEW_LIT(""), false, 9);
    struct table_value v;

    (void)state;
    assert_int_equal(death_count(d2), 1);
    assert_int_equal(get_i64(death(d2, 0), "count"), 2);
    /* time and exchange keep their first-death values */
    assert_true(table_get(death(d2, 0), "time", &v));
    assert_int_equal(v.v.u, 5);
    assert_str(death(d2, 0), "exchange", "ex");
    msg_unref(&d2);
    msg_unref(&d1);
    msg_unref(&m);
}

static void test_deadletter_newest_death_comes_first(void **state)
{
    struct msg *m = make(false, NULL);
    struct msg *d1 = deadletter_make(m, "q1", "rejected", VIEW_LIT("dlx"), VIEW_LIT(""), false, 1);
    struct msg *d2 = deadletter_make(d1, "q2", "expired", VIEW_LIT("dlx2"), VIEW_LIT(""), false, 2);
    struct msg *d3 = deadletter_make(d2, "q1", "rejected", VIEW_LIT("dlx"), VIEW_LIT(""), false, 3);
    struct view h = msg_headers(d3);

    (void)state;
    assert_int_equal(death_count(d2), 2);
    assert_str(death(d2, 0), "queue", "q2");
    assert_str(death(d2, 1), "queue", "q1");
    /* q1/rejected again: bumped and moved to the front */
    assert_int_equal(death_count(d3), 2);
    assert_str(death(d3, 0), "queue", "q1");
    assert_int_equal(get_i64(death(d3, 0), "count"), 2);
    assert_str(death(d3, 1), "queue", "q2");
    /* first-death fields never change; last-death follows the latest event */
    assert_str(h, "x-first-death-queue", "q1");
    assert_str(h, "x-first-death-reason", "rejected");
    assert_str(h, "x-last-death-queue", "q1");
    assert_str(msg_headers(d2), "x-last-death-queue", "q2");
    assert_str(msg_headers(d2), "x-last-death-exchange", "dlx");
    msg_unref(&d3);
    msg_unref(&d2);
    msg_unref(&d1);
    msg_unref(&m);
}

static void test_deadletter_routing_key_override_drops_cc(void **state)
{
    struct msg *m = make(true, NULL);
    struct msg *d = deadletter_make(m, "q1", "maxlen", VIEW_LIT("dlx"), VIEW_LIT("other"), true, 1);
    struct table_value v;

    (void)state;
    assert_true(view_eq_str(msg_routing_key(d), "other"));
    assert_false(table_get(msg_headers(d), "CC", &v));
    assert_false(table_get(msg_headers(d), "BCC", &v));
    /* the recorded routing keys are still the original ones */
    assert_true(table_get(death(d, 0), "routing-keys", &v));
    msg_unref(&d);
    msg_unref(&m);
}

static void test_deadletter_rejection_older_than_the_target_does_not_break_a_cycle(void **state)
{
    struct msg *m = make(false, NULL);
    struct msg *a = deadletter_make(m, "q0", "rejected", VIEW_LIT(""), VIEW_LIT(""), false, 1);
    struct msg *b = deadletter_make(a, "q1", "expired", VIEW_LIT(""), VIEW_LIT(""), false, 2);
    struct msg *c = deadletter_make(b, "q2", "expired", VIEW_LIT(""), VIEW_LIT(""), false, 3);

    (void)state;
    /* q0's rejection is older than q1's death: back to q1 is an automatic cycle */
    assert_true(deadletter_is_cycle(msg_headers(c), "q1"));
    /* ...but going back to q0 passes through the rejection */
    assert_false(deadletter_is_cycle(msg_headers(c), "q0"));
    msg_unref(&c);
    msg_unref(&b);
    msg_unref(&a);
    msg_unref(&m);
}

static void test_deadletter_cycle_without_rejection_is_detected(void **state)
{
    struct msg *m = make(false, NULL);
    struct msg *e = deadletter_make(m, "q1", "expired", VIEW_LIT(""), VIEW_LIT(""), false, 1);
    struct msg *r = deadletter_make(m, "q1", "rejected", VIEW_LIT(""), VIEW_LIT(""), false, 1);

    (void)state;
    assert_true(deadletter_is_cycle(msg_headers(e), "q1"));
    assert_false(deadletter_is_cycle(msg_headers(e), "q2"));
    assert_false(deadletter_is_cycle(msg_headers(r), "q1"));
    assert_false(deadletter_is_cycle(msg_headers(m), "q1"));
    msg_unref(&r);
    msg_unref(&e);
    msg_unref(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deadletter_first_death_sets_every_field),
        cmocka_unit_test(test_deadletter_routing_keys_include_cc_not_bcc),
        cmocka_unit_test(test_deadletter_same_queue_and_reason_increments_count),
        cmocka_unit_test(test_deadletter_newest_death_comes_first),
        cmocka_unit_test(test_deadletter_routing_key_override_drops_cc),
        cmocka_unit_test(test_deadletter_cycle_without_rejection_is_detected),
        cmocka_unit_test(test_deadletter_rejection_older_than_the_target_does_not_break_a_cycle),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
