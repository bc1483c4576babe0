/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for mgmt/jsonw.c (JSON written straight into a buffer must be
 * what json_dumps(JSON_COMPACT) writes), the queue object writer
 * (mgmt_queue_write: every field, columns in their order, the same object as
 * mgmt_queue_new) and the routes of the dead-letter endpoints.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/msg.h"
#include "mgmt/mgmt_int.h"
#include "mgmt/router.h"
#include "queue/queue.h"

/* What jansson writes for j, compact. */
static char *dumps(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    assert_non_null(s);
    json_decref(j);
    return s;
}

static void assert_buf_is(struct buf *b, const char *want)
{
    buf_append(b, "", 1);
    assert_string_equal((const char *)b->p, want);
    b->len = 0;
}

/* ---- jsonw ---- */

static void test_jw_strings_escape_like_jansson(void **state)
{
    static const char *const cases[] = {
        "",           "plain",        "quote\" backslash\\ slash/",
        "\b\f\n\r\t", "\x01\x1f\x7f", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x87",
    };
    struct buf b = {0};
    (void)state;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char *want = dumps(json_string(cases[i]));
        mgmt_jw_str(&b, view_str(cases[i]));
        assert_buf_is(&b, want);
        free(want);
    }
    /* NUL inside a string */
    {
        char *want = dumps(json_stringn("a\0b", 3));
        mgmt_jw_str(&b, (struct view){(const uint8_t *)"a\0b", 3});
        assert_buf_is(&b, want);
        free(want);
    }
    buf_free(&b);
}

static void test_jw_invalid_utf8_becomes_replacement_character(void **state)
{
    static const char *const cases[] = {
        "\xff",             /* never valid */
        "\xc0\xaf",         /* overlong '/' */
        "\xed\xa0\x80",     /* surrogate */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xe2\x82",         /* truncated */
    };
    struct buf b = {0};
    (void)state;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        json_t *check = json_string(cases[i]);
        assert_null(check); /* jansson refuses them too */
        mgmt_jw_str(&b, view_str(cases[i]));
        buf_append(&b, "", 1);
        /* only replacement characters and the quotes */
        assert_true(b.p[0] == '"');
        for (size_t k = 1; b.p[k + 1]; k += 3)
            assert_memory_equal(b.p + k, "\xEF\xBF\xBD", 3);
        b.len = 0;
    }
    mgmt_jw_str(&b, VIEW_LIT("a\xff"
                             "b"));
    assert_buf_is(&b, "\"a\xEF\xBF\xBD"
                      "b\"");
    buf_free(&b);
}

static void test_jw_numbers_like_jansson(void **state)
{
    static const double reals[] = {0.0,  1.0,       -2.0, 0.2,   1.5e300, 123456789.0,
                                   1e-7, -1.5e-300, 1e5,  1e100, 1e21,    -0.5};
    static const long long ints[] = {0, 1, -1, 9007199254740993LL, -9223372036854775807LL};
    struct buf b = {0};
    (void)state;

    for (size_t i = 0; i < ARRAY_LEN(reals); i++) {
        char *want = dumps(json_real(reals[i]));
        mgmt_jw_real(&b, reals[i]);
        assert_buf_is(&b, want);
        free(want);
    }
    for (size_t i = 0; i < ARRAY_LEN(ints); i++) {
        char *want = dumps(json_integer(ints[i]));
        mgmt_jw_int(&b, ints[i]);
        assert_buf_is(&b, want);
        free(want);
    }
    buf_free(&b);
}

/* ---- the queue writer ---- */

struct fixture {
    struct mgmt_ctx ctx;
    struct queue *q;
};

static int setup(void **state)
{
    static struct fixture f;
    struct proto_err err = {0};
    struct buf args = {0};
    size_t off = table_open(&args);
    struct msg *m;

    table_put_i64(&args, "x-max-length", 7);
    table_put_longstr(&args, "x-dead-letter-exchange", VIEW_LIT("dl\"x"));
    table_close(&args, off);
    memset(&f, 0, sizeof(f));
    f.ctx.rates = mgmt_rates_create();
    f.q = queue_create(VIEW_LIT("/"), VIEW_LIT("caf\xc3\xa9\"q"), QUEUE_F_DURABLE,
                       (struct view){args.p + 4, args.len - 4}, 0, &err);
    assert_non_null(f.q);
    buf_free(&args);
    m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), (struct view){(const uint8_t *)"\0\0", 2}, 3);
    msg_append_body(m, VIEW_LIT("abc"));
    assert_int_equal(queue_publish(f.q, m, &err), 0);
    msg_unref(&m);
    mgmt_rates_sample(f.ctx.rates, 1.0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    mgmt_rates_destroy(f->ctx.rates);
    queue_delete(f->q);
    queue_unref(&f->q);
    return 0;
}

static json_t *write_parse(struct fixture *f, bool full, const char *columns)
{
    struct buf b = {0};
    json_t *o;

    mgmt_queue_write(&b, &f->ctx, f->q, full, columns);
    o = json_loadb((const char *)b.p, b.len, 0, NULL);
    assert_non_null(o);
    buf_free(&b);
    return o;
}

static void test_queue_write_full_object(void **state)
{
    struct fixture *f = *state;
    json_t *o = write_parse(f, true, NULL), *s = write_parse(f, false, NULL);

    assert_int_equal(json_object_size(s), 12);
    assert_int_equal(json_object_size(o), 38);
    assert_string_equal(json_string_value(json_object_get(o, "name")), "caf\xc3\xa9\"q");
    assert_int_equal(json_integer_value(json_object_get(o, "messages_ready")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "message_bytes")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "memory")), 1024 + 3);
    assert_true(json_is_real(json_object_get(json_object_get(o, "messages_details"), "rate")));
    assert_true(json_is_null(json_object_get(o, "policy")));
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(o, "arguments"), "x-max-length")), 7);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "arguments"),
                                                          "x-dead-letter-exchange")),
                        "dl\"x");
    assert_int_equal(json_object_size(json_object_get(o, "dead_letter_stats")), 6);
    /* 8 counts, each with its *_details */
    assert_int_equal(json_object_size(json_object_get(o, "message_stats")), 16);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(o, "message_stats"), "publish")), 1);
    assert_true(json_is_real(json_object_get(
        json_object_get(json_object_get(o, "message_stats"), "deliver_get_details"), "rate")));
    /* the short object is the start of the full one */
    {
        const char *k;
        json_t *v;
        json_object_foreach(s, k, v) assert_true(json_equal(v, json_object_get(o, k)));
    }
    json_decref(o);
    json_decref(s);
}

static void test_queue_write_columns_in_their_order(void **state)
{
    struct fixture *f = *state;
    struct buf b = {0};

    mgmt_queue_write(&b, &f->ctx, f->q, true, "messages,name,nope,,messages,state");
    assert_buf_is(&b, "{\"messages\":1,\"name\":\"caf\xc3\xa9\\\"q\",\"state\":\"running\"}");
    /* full-only fields are not in the short object */
    mgmt_queue_write(&b, &f->ctx, f->q, false, "consumers,durable");
    assert_buf_is(&b, "{\"durable\":true}");
    mgmt_queue_write(&b, &f->ctx, f->q, true, "");
    assert_buf_is(&b, "{}");
    buf_free(&b);
}

static void test_queue_new_is_the_written_object(void **state)
{
    struct fixture *f = *state;
    struct buf b = {0};
    json_t *o = mgmt_queue_new(&f->ctx, f->q, true);
    char *s = json_dumps(o, JSON_COMPACT);

    mgmt_queue_write(&b, &f->ctx, f->q, true, NULL);
    assert_buf_is(&b, s);
    free(s);
    json_decref(o);
    buf_free(&b);
}

/* ---- routes ---- */

static void test_routes_of_peek_and_replay(void **state)
{
    char scratch[256];
    struct mgmt_match m;
    const char *p = "/api/queues/%2F/dlq/messages";
    (void)state;

    assert_int_equal(mgmt_route(MGMT_GET, p, strlen(p), scratch, sizeof(scratch), &m),
                     MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_QUEUE_MESSAGES);
    assert_int_equal(m.nargs, 2);
    assert_true(view_eq_str(m.args[0], "/"));
    assert_true(view_eq_str(m.args[1], "dlq"));
    assert_int_equal(mgmt_route(MGMT_POST, p, strlen(p), scratch, sizeof(scratch), &m),
                     MGMT_ROUTE_BAD_METHOD);
    p = "/api/queues/v/q/replay";
    assert_int_equal(mgmt_route(MGMT_POST, p, strlen(p), scratch, sizeof(scratch), &m),
                     MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_QUEUE_REPLAY);
    assert_int_equal(mgmt_route(MGMT_GET, p, strlen(p), scratch, sizeof(scratch), &m),
                     MGMT_ROUTE_BAD_METHOD);
    /* a queue named "messages" is still a queue */
    p = "/api/queues/v/messages";
    assert_int_equal(mgmt_route(MGMT_GET, p, strlen(p), scratch, sizeof(scratch), &m),
                     MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_QUEUE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jw_strings_escape_like_jansson),
        cmocka_unit_test(test_jw_invalid_utf8_becomes_replacement_character),
        cmocka_unit_test(test_jw_numbers_like_jansson),
        cmocka_unit_test_setup_teardown(test_queue_write_full_object, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_write_columns_in_their_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_new_is_the_written_object, setup, teardown),
        cmocka_unit_test(test_routes_of_peek_and_replay),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
