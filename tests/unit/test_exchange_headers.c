/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for exchange/headers.c: x-match modes, value comparison as
 * RabbitMQ 4.x does it (Erlang =:= on decoded values, headers folded into a
 * map, top-level timestamps in milliseconds), bind-time validation texts,
 * and routing through a headers exchange.
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
#include "exchange/exchange.h"

/* ---- table builder ---- */

/* Two tables per test: binding args (a) and message headers (h). */
struct tbl {
    struct buf b;
    size_t off;
};

static struct tbl ta, th;

static int setup(void **state)
{
    (void)state;
    memset(&ta, 0, sizeof(ta));
    memset(&th, 0, sizeof(th));
    ta.off = table_open(&ta.b);
    th.off = table_open(&th.b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    buf_free(&ta.b);
    buf_free(&th.b);
    return 0;
}

static struct view done(struct tbl *t)
{
    table_close(&t->b, t->off);
    return (struct view){t->b.p + 4, t->b.len - 4};
}

static void put_str(struct tbl *t, const char *k, const char *v)
{
    table_put_longstr(&t->b, k, view_str(v));
}

static void put_val(struct tbl *t, const char *k, struct table_value v)
{
    table_put_raw(&t->b, k, &v);
}

static struct table_value V_INT(enum table_type type, int64_t i) {
    struct table_value v = {.type = type};

    if (type == TABLE_U8 || type == TABLE_U16 || type == TABLE_U32 || type == TABLE_TIMESTAMP)
        v.v.u = (uint64_t)i;
    else
        v.v.i = i;
    return v;
}

static const struct table_value V_VOID = {.type = TABLE_VOID};

/* Closes both tables and matches. */
static bool match(void)
{
    struct view a = done(&ta), h = done(&th);

    return exch_headers_match(a, h);
}

/* ---- x-match modes ---- */

static void test_headers_all_needs_every_pair(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "all");
    put_str(&ta, "a", "1");
    put_str(&ta, "b", "2");
    put_str(&th, "b", "2");
    put_str(&th, "a", "1");
    put_str(&th, "c", "3");
    assert_true(match());
}

static void test_headers_all_fails_on_missing_pair(void **state)
{
    (void)state;
    put_str(&ta, "a", "1"); /* x-match defaults to all */
    put_str(&ta, "b", "2");
    put_str(&th, "a", "1");
    assert_false(match());
}

static void test_headers_all_fails_on_different_value(void **state)
{
    (void)state;
    put_str(&ta, "a", "1");
    put_str(&th, "a", "2");
    assert_false(match());
}

static void test_headers_any_needs_one_pair(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "any");
    put_str(&ta, "a", "1");
    put_str(&ta, "b", "2");
    put_str(&th, "b", "2");
    assert_true(match());
}

static void test_headers_any_fails_without_hit(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "any");
    put_str(&ta, "a", "1");
    put_str(&th, "a", "2");
    put_str(&th, "b", "1");
    assert_false(match());
}

static void test_headers_all_without_pairs_matches_everything(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "all");
    put_str(&ta, "x-other", "ignored");
    assert_true(match());
}

static void test_headers_any_without_pairs_matches_nothing(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "any");
    put_str(&th, "a", "1");
    assert_false(match());
}

static void test_headers_empty_args_match_everything(void **state)
{
    (void)state;
    assert_true(match());
}

static void test_headers_x_keys_skipped_in_plain_modes(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "all");
    put_str(&ta, "x-tenant", "a");
    put_str(&ta, "k", "v");
    put_str(&th, "k", "v");
    put_str(&th, "x-tenant", "b");
    assert_true(match());
}

static void test_headers_all_with_x_compares_x_keys(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "all-with-x");
    put_str(&ta, "x-tenant", "a");
    put_str(&th, "x-tenant", "b");
    assert_false(match());
}

static void test_headers_all_with_x_matches_x_keys(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "all-with-x");
    put_str(&ta, "x-tenant", "a");
    put_str(&ta, "k", "v");
    put_str(&th, "x-tenant", "a");
    put_str(&th, "k", "v");
    assert_true(match());
}

static void test_headers_any_with_x_hits_on_x_key(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "any-with-x");
    put_str(&ta, "x-tenant", "a");
    put_str(&ta, "k", "nope");
    put_str(&th, "x-tenant", "a");
    assert_true(match());
}

/* In the -with-x modes only x-match itself is skipped; it is not compared
 * against a message header of the same name. */
static void test_headers_with_x_skips_x_match_itself(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "all-with-x");
    put_str(&th, "x-match", "something else");
    assert_true(match());
}

/* rabbit_misc:table_lookup finds the first x-match entry. */
static void test_headers_first_x_match_wins(void **state)
{
    (void)state;
    put_str(&ta, "x-match", "any");
    put_str(&ta, "x-match", "all");
    put_str(&ta, "a", "1");
    put_str(&ta, "b", "2");
    put_str(&th, "a", "1");
    assert_true(match());
}

/* Route-time parsing: an unknown or non-longstr x-match means all. */
static void test_headers_unknown_x_match_means_all(void **state)
{
    (void)state;
    put_val(&ta, "x-match", (struct table_value){.type = TABLE_BYTES, .v.str = VIEW_LIT("any")});
    put_str(&ta, "a", "1");
    put_str(&ta, "b", "2");
    put_str(&th, "a", "1");
    assert_false(match());
}

/* ---- values ---- */

static void test_headers_void_means_present(void **state)
{
    (void)state;
    put_val(&ta, "a", V_VOID);
    put_val(&th, "a", V_INT(TABLE_I32, 5));
    assert_true(match());
}

static void test_headers_void_fails_when_absent(void **state)
{
    (void)state;
    put_val(&ta, "a", V_VOID);
    put_str(&th, "b", "x");
    assert_false(match());
}

static void test_headers_void_header_present_for_void_binding(void **state)
{
    (void)state;
    put_val(&ta, "a", V_VOID);
    put_val(&th, "a", V_VOID);
    assert_true(match());
}

static void test_headers_void_header_never_equals_a_value(void **state)
{
    (void)state;
    put_str(&ta, "a", "");
    put_val(&th, "a", V_VOID);
    assert_false(match());
}

/* Erlang integers carry no width: 1 as byte, short, int, long, unsigned... */
static void test_headers_integer_widths_compare_by_value(void **state)
{
    static const enum table_type types[] = {TABLE_I8,  TABLE_U8,  TABLE_I16, TABLE_U16,
                                            TABLE_I32, TABLE_U32, TABLE_I64};

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        for (size_t j = 0; j < ARRAY_LEN(types); j++) {
            teardown(NULL);
            setup(NULL);
            put_val(&ta, "n", V_INT(types[i], 100));
            put_val(&th, "n", V_INT(types[j], 100));
            assert_true(match());
        }
    }
}

static void test_headers_negative_integers(void **state)
{
    (void)state;
    put_val(&ta, "n", V_INT(TABLE_I8, -1));
    put_val(&th, "n", V_INT(TABLE_I64, -1));
    assert_true(match());
    teardown(NULL);
    setup(NULL);
    put_val(&ta, "n", V_INT(TABLE_I8, -1));
    put_val(&th, "n", V_INT(TABLE_U8, 255));
    assert_false(match());
}

static void test_headers_integer_never_equals_float(void **state)
{
    (void)state;
    put_val(&ta, "n", V_INT(TABLE_I32, 1));
    put_val(&th, "n", (struct table_value){.type = TABLE_DOUBLE, .v.d = 1.0});
    assert_false(match());
}

static void test_headers_float_equals_double_of_same_value(void **state)
{
    (void)state;
    put_val(&ta, "n", (struct table_value){.type = TABLE_FLOAT, .v.f = 1.5f});
    put_val(&th, "n", (struct table_value){.type = TABLE_DOUBLE, .v.d = 1.5});
    assert_true(match());
}

static void test_headers_longstr_equals_bytes(void **state)
{
    (void)state;
    put_str(&ta, "s", "abc");
    put_val(&th, "s", (struct table_value){.type = TABLE_BYTES, .v.str = VIEW_LIT("abc")});
    assert_true(match());
}

static void test_headers_bool_and_decimal(void **state)
{
    struct table_value d = {.type = TABLE_DECIMAL, .v.dec = {2, 314}};

    (void)state;
    put_val(&ta, "b", (struct table_value){.type = TABLE_BOOL, .v.b = true});
    put_val(&ta, "d", d);
    put_val(&th, "b", (struct table_value){.type = TABLE_BOOL, .v.b = true});
    put_val(&th, "d", d);
    assert_true(match());
    teardown(NULL);
    setup(NULL);
    put_val(&ta, "b", (struct table_value){.type = TABLE_BOOL, .v.b = true});
    put_val(&th, "b", V_INT(TABLE_I8, 1));
    assert_false(match());
}

/* mc_amqpl:routing_headers/2 turns a top-level timestamp header into
 * milliseconds; binding args are not converted. */
static void test_headers_timestamp_header_is_in_milliseconds(void **state)
{
    (void)state;
    put_val(&ta, "t", V_INT(TABLE_TIMESTAMP, 5));
    put_val(&th, "t", V_INT(TABLE_TIMESTAMP, 5));
    assert_false(match());
    teardown(NULL);
    setup(NULL);
    put_val(&ta, "t", V_INT(TABLE_I64, 5000));
    put_val(&th, "t", V_INT(TABLE_TIMESTAMP, 5));
    assert_true(match());
    teardown(NULL);
    setup(NULL);
    put_val(&ta, "t", V_INT(TABLE_TIMESTAMP, 5000));
    put_val(&th, "t", V_INT(TABLE_TIMESTAMP, 5));
    assert_true(match());
}

static void test_headers_nested_tables_compare_with_types(void **state)
{
    size_t off;

    (void)state;
    off = table_open_table(&ta.b, "t");
    table_put_i32(&ta.b, "n", 1);
    table_close(&ta.b, off);
    off = table_open_table(&th.b, "t");
    table_put_i64(&th.b, "n", 1);
    table_close(&th.b, off);
    assert_false(match());
    teardown(NULL);
    setup(NULL);
    off = table_open_table(&ta.b, "t");
    table_put_i32(&ta.b, "n", 1);
    table_put_longstr(&ta.b, "s", VIEW_LIT("x"));
    table_close(&ta.b, off);
    off = table_open_table(&th.b, "t");
    table_put_i32(&th.b, "n", 1);
    table_put_longstr(&th.b, "s", VIEW_LIT("x"));
    table_close(&th.b, off);
    assert_true(match());
}

/* Both decode to []. */
static void test_headers_empty_table_equals_empty_array(void **state)
{
    size_t off;

    (void)state;
    off = table_open_table(&ta.b, "l");
    table_close(&ta.b, off);
    off = table_open_array(&th.b, "l");
    table_close(&th.b, off);
    assert_true(match());
}

/* Headers are folded into a map: a repeated key takes its last value. */
static void test_headers_last_duplicate_header_wins(void **state)
{
    (void)state;
    put_str(&ta, "k", "first");
    put_str(&th, "k", "first");
    put_str(&th, "k", "second");
    assert_false(match());
    teardown(NULL);
    setup(NULL);
    put_str(&ta, "k", "second");
    put_str(&th, "k", "first");
    put_str(&th, "k", "second");
    assert_true(match());
}

/* ---- bind-time validation ---- */

static int bind_with(struct exch *x, struct proto_err *err)
{
    struct view a = done(&ta);
    static char q;

    return exch_bind_queue(x, (struct queue *)(void *)&q, VIEW_LIT(""), a, err);
}

static void test_headers_bind_rejects_unknown_x_match(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("h"), EXCH_HEADERS, 0, (struct view){NULL, 0});
    struct proto_err err = {0};

    (void)state;
    put_str(&ta, "x-match", "foo");
    assert_int_equal(bind_with(x, &err), -1);
    assert_int_equal(err.code, SPEC_PRECONDITION_FAILED);
    assert_string_equal(err.text, "Invalid x-match field value <<\"foo\">>; expected all, any, "
                                  "all-with-x, or any-with-x");
    assert_int_equal(exch_binding_count(x), 0);
    exch_destroy(x);
}

static void test_headers_bind_error_escapes_binary(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("h"), EXCH_HEADERS, 0, (struct view){NULL, 0});
    struct proto_err err = {0};
    static const uint8_t raw[] = {'a', 0xff};

    (void)state;
    put_str(&ta, "x-match", "say \"hi\"\n");
    assert_int_equal(bind_with(x, &err), -1);
    assert_string_equal(err.text, "Invalid x-match field value <<\"say \\\"hi\\\"\\n\">>; expected "
                                  "all, any, all-with-x, or any-with-x");
    teardown(NULL);
    setup(NULL);
    put_val(&ta, "x-match",
            (struct table_value){.type = TABLE_LONGSTR, .v.str = {raw, sizeof(raw)}});
    assert_int_equal(bind_with(x, &err), -1);
    assert_string_equal(err.text, "Invalid x-match field value <<97,255>>; expected all, any, "
                                  "all-with-x, or any-with-x");
    exch_destroy(x);
}

static void test_headers_bind_rejects_non_longstr_x_match(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("h"), EXCH_HEADERS, 0, (struct view){NULL, 0});
    struct proto_err err = {0};

    (void)state;
    put_val(&ta, "x-match", V_INT(TABLE_I32, 1));
    assert_int_equal(bind_with(x, &err), -1);
    assert_int_equal(err.code, SPEC_PRECONDITION_FAILED);
    assert_string_equal(err.text,
                        "Invalid x-match field type signedint (value 1); expected longstr");
    teardown(NULL);
    setup(NULL);
    put_val(&ta, "x-match", (struct table_value){.type = TABLE_BYTES, .v.str = VIEW_LIT("all")});
    assert_int_equal(bind_with(x, &err), -1);
    assert_string_equal(err.text,
                        "Invalid x-match field type binary (value <<\"all\">>); expected longstr");
    exch_destroy(x);
}

static void test_headers_bind_accepts_valid_x_match(void **state)
{
    static const char *const ok[] = {"all", "any", "all-with-x", "any-with-x", NULL};
    struct exch *x = exch_create(VIEW_LIT("h"), EXCH_HEADERS, 0, (struct view){NULL, 0});
    struct proto_err err = {0};

    (void)state;
    for (size_t i = 0; ok[i]; i++) {
        teardown(NULL);
        setup(NULL);
        put_str(&ta, "x-match", ok[i]);
        assert_int_equal(bind_with(x, &err), 0);
    }
    teardown(NULL);
    setup(NULL);
    put_str(&ta, "k", "v"); /* x-match may be omitted */
    assert_int_equal(bind_with(x, &err), 0);
    assert_int_equal(exch_binding_count(x), 5);
    exch_destroy(x);
}

/* Other exchange types do not look at x-match. */
static void test_headers_x_match_not_checked_by_other_types(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("d"), EXCH_DIRECT, 0, (struct view){NULL, 0});
    struct proto_err err = {0};

    (void)state;
    put_str(&ta, "x-match", "foo");
    assert_int_equal(bind_with(x, &err), 0);
    exch_destroy(x);
}

/* ---- routing through a headers exchange ---- */

static void test_headers_exchange_routes_by_headers(void **state)
{
    static char qmem[4];
    struct queue *q1 = (struct queue *)(void *)&qmem[1], *q2 = (struct queue *)(void *)&qmem[2];
    struct exch *x = exch_create(VIEW_LIT("h"), EXCH_HEADERS, 0, (struct view){NULL, 0});
    struct buf any = {0}, all = {0}, hdr = {0};
    size_t o1 = table_open(&any), o2 = table_open(&all), o3 = table_open(&hdr);
    struct route_set rs = {0};
    struct proto_err err = {0};

    (void)state;
    table_put_longstr(&any, "x-match", VIEW_LIT("any"));
    table_put_longstr(&any, "format", VIEW_LIT("pdf"));
    table_put_longstr(&any, "type", VIEW_LIT("report"));
    table_close(&any, o1);
    table_put_longstr(&all, "format", VIEW_LIT("pdf"));
    table_put_longstr(&all, "type", VIEW_LIT("report"));
    table_close(&all, o2);
    table_put_longstr(&hdr, "format", VIEW_LIT("pdf"));
    table_close(&hdr, o3);
    assert_int_equal(
        exch_bind_queue(x, q1, VIEW_LIT("ignored"), (struct view){any.p + 4, any.len - 4}, &err),
        0);
    assert_int_equal(
        exch_bind_queue(x, q2, VIEW_LIT(""), (struct view){all.p + 4, all.len - 4}, &err), 0);
    exch_route(x, VIEW_LIT("whatever"), (struct view){hdr.p + 4, hdr.len - 4}, &rs);
    assert_int_equal(rs.n, 1);
    assert_ptr_equal(rs.q[0], q1);
    route_reset(&rs);
    exch_route(x, VIEW_LIT(""), (struct view){NULL, 0}, &rs);
    assert_int_equal(rs.n, 0);
    route_free(&rs);
    buf_free(&any);
    buf_free(&all);
    buf_free(&hdr);
    exch_destroy(x);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_headers_all_needs_every_pair),
        T(test_headers_all_fails_on_missing_pair),
        T(test_headers_all_fails_on_different_value),
        T(test_headers_any_needs_one_pair),
        T(test_headers_any_fails_without_hit),
        T(test_headers_all_without_pairs_matches_everything),
        T(test_headers_any_without_pairs_matches_nothing),
        T(test_headers_empty_args_match_everything),
        T(test_headers_x_keys_skipped_in_plain_modes),
        T(test_headers_all_with_x_compares_x_keys),
        T(test_headers_all_with_x_matches_x_keys),
        T(test_headers_any_with_x_hits_on_x_key),
        T(test_headers_with_x_skips_x_match_itself),
        T(test_headers_first_x_match_wins),
        T(test_headers_unknown_x_match_means_all),
        T(test_headers_void_means_present),
        T(test_headers_void_fails_when_absent),
        T(test_headers_void_header_present_for_void_binding),
        T(test_headers_void_header_never_equals_a_value),
        T(test_headers_integer_widths_compare_by_value),
        T(test_headers_negative_integers),
        T(test_headers_integer_never_equals_float),
        T(test_headers_float_equals_double_of_same_value),
        T(test_headers_longstr_equals_bytes),
        T(test_headers_bool_and_decimal),
        T(test_headers_timestamp_header_is_in_milliseconds),
        T(test_headers_nested_tables_compare_with_types),
        T(test_headers_empty_table_equals_empty_array),
        T(test_headers_last_duplicate_header_wins),
        T(test_headers_bind_rejects_unknown_x_match),
        T(test_headers_bind_error_escapes_binary),
        T(test_headers_bind_rejects_non_longstr_x_match),
        T(test_headers_bind_accepts_valid_x_match),
        T(test_headers_x_match_not_checked_by_other_types),
        T(test_headers_exchange_routes_by_headers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
