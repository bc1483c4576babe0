/* SPDX-License-Identifier: MIT */
/* Unit tests for amqp/table.c: field tables with RabbitMQ's type letters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "amqp/table.h"

/* ---- helpers ---- */

/* The contents of a table built in b by table_open()/table_close() at offset 0. */
static struct view contents(const struct buf *b)
{
    assert_true(b->len >= 4);
    assert_int_equal(get_be32(b->p), b->len - 4);
    return (struct view){b->p + 4, b->len - 4};
}

/* Copies bytes into an allocation of exactly n bytes, so ASan sees any overread. */
static uint8_t *exact_copy(const void *p, size_t n)
{
    uint8_t *c = malloc(n ? n : 1);
    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    return c;
}

static int check_exact(const void *p, size_t n)
{
    uint8_t *c = exact_copy(p, n);
    int rc = table_check((struct view){c, n});
    free(c);
    return rc;
}

static int check_array_exact(const void *p, size_t n)
{
    uint8_t *c = exact_copy(p, n);
    int rc = table_check_array((struct view){c, n});
    free(c);
    return rc;
}

/*
 * Encodes in under key "k" with table_put_raw, checks the table, decodes the
 * single entry into *out and verifies that re-encoding gives the same bytes.
 * Returns the encoded table for further checks (caller frees).
 */
static struct buf roundtrip(const struct table_value *in, struct table_value *out)
{
    struct buf b = {0}, again = {0};
    struct table_iter it;
    struct view key;
    size_t off = table_open(&b);

    table_put_raw(&b, "k", in);
    table_close(&b, off);
    assert_int_equal(table_check(contents(&b)), 0);

    table_iter_init(&it, contents(&b));
    assert_true(table_next(&it, &key, out));
    assert_true(view_eq_str(key, "k"));
    assert_int_equal(out->type, in->type);
    assert_false(table_next(&it, &key, out));
    table_iter_init(&it, contents(&b));
    assert_true(table_next(&it, &key, out));

    off = table_open(&again);
    table_put_raw(&again, "k", out);
    table_close(&again, off);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.p, b.p, b.len);
    buf_free(&again);
    return b;
}

/* A table holding one entry of every type, hand-encoded (not by our writers). */
/* clang-format off */
static const uint8_t every_type[] = {
    1, 't', 't', 1,                                         /* bool true */
    1, 'b', 'b', 0x80,                                      /* i8 -128 */
    1, 'B', 'B', 0xff,                                      /* u8 255 */
    1, 's', 's', 0x80, 0x00,                                /* i16 -32768 */
    1, 'u', 'u', 0xff, 0xfe,                                /* u16 65534 */
    1, 'I', 'I', 0xff, 0xff, 0xff, 0xfe,                    /* i32 -2 */
    1, 'i', 'i', 0xff, 0xff, 0xff, 0xff,                    /* u32 4294967295 */
    1, 'l', 'l', 0x80, 0, 0, 0, 0, 0, 0, 1,                 /* i64 INT64_MIN + 1 */
    1, 'f', 'f', 0x3f, 0xc0, 0, 0,                          /* float 1.5 */
    1, 'd', 'd', 0xc0, 0x04, 0, 0, 0, 0, 0, 0,              /* double -2.5 */
    1, 'D', 'D', 2, 0xff, 0xff, 0xff, 0x85,                 /* decimal -1.23 */
    1, 'S', 'S', 0, 0, 0, 3, 'a', 'b', 'c',                 /* longstr "abc" */
    1, 'T', 'T', 0, 0, 0, 0, 0x65, 0x53, 0xf1, 0x00,        /* timestamp */
    1, 'V', 'V',                                            /* void */
    1, 'x', 'x', 0, 0, 0, 2, 0x00, 0xff,                    /* bytes */
    1, 'A', 'A', 0, 0, 0, 8, 'I', 0, 0, 0, 7, 'V', 't', 0,  /* array [7, void, false] */
    1, 'F', 'F', 0, 0, 0, 4, 1, 'n', 'b', 0x7f,             /* table {n: 127} */
};
/* clang-format on */

/* ---- decoding ---- */

static void test_table_decode_every_type_from_golden_bytes(void **state)
{
    struct view t = {every_type, sizeof(every_type)};
    struct table_value v;
    float f;
    double d;

    (void)state;
    assert_int_equal(table_check(t), 0);
    assert_true(table_get(t, "t", &v));
    assert_int_equal(v.type, TABLE_BOOL);
    assert_true(v.v.b);
    assert_true(table_get(t, "b", &v));
    assert_int_equal(v.type, TABLE_I8);
    assert_true(v.v.i == -128);
    assert_true(table_get(t, "B", &v));
    assert_int_equal(v.type, TABLE_U8);
    assert_true(v.v.u == 255);
    assert_true(table_get(t, "s", &v));
    assert_int_equal(v.type, TABLE_I16);
    assert_true(v.v.i == -32768);
    assert_true(table_get(t, "u", &v));
    assert_int_equal(v.type, TABLE_U16);
    assert_true(v.v.u == 65534);
    assert_true(table_get(t, "I", &v));
    assert_int_equal(v.type, TABLE_I32);
    assert_true(v.v.i == -2);
    assert_true(table_get(t, "i", &v));
    assert_int_equal(v.type, TABLE_U32);
    assert_true(v.v.u == UINT32_MAX);
    assert_true(table_get(t, "l", &v));
    assert_int_equal(v.type, TABLE_I64);
    assert_true(v.v.i == INT64_MIN + 1);
    assert_true(table_get(t, "f", &v));
    assert_int_equal(v.type, TABLE_FLOAT);
    f = v.v.f;
    assert_true(f == 1.5f);
    assert_true(table_get(t, "d", &v));
    assert_int_equal(v.type, TABLE_DOUBLE);
    d = v.v.d;
    assert_true(d == -2.5);
    assert_true(table_get(t, "D", &v));
    assert_int_equal(v.type, TABLE_DECIMAL);
    assert_int_equal(v.v.dec.scale, 2);
    assert_true(v.v.dec.value == -123);
    assert_true(table_get(t, "S", &v));
    assert_int_equal(v.type, TABLE_LONGSTR);
    assert_true(view_eq_str(v.v.str, "abc"));
    assert_true(table_get(t, "T", &v));
    assert_int_equal(v.type, TABLE_TIMESTAMP);
    assert_true(v.v.u == 0x6553f100u);
    assert_true(table_get(t, "V", &v));
    assert_int_equal(v.type, TABLE_VOID);
    assert_true(table_get(t, "x", &v));
    assert_int_equal(v.type, TABLE_BYTES);
    assert_int_equal(v.v.str.n, 2);
    assert_int_equal(v.v.str.p[1], 0xff);
    assert_true(table_get(t, "A", &v));
    assert_int_equal(v.type, TABLE_ARRAY);
    assert_int_equal(v.v.array.n, 8);
    assert_true(table_get(t, "F", &v));
    assert_int_equal(v.type, TABLE_TABLE);
    assert_int_equal(v.v.table.n, 4);
    assert_true(table_get(v.v.table, "n", &v));
    assert_true(v.v.i == 127);
}

static void test_table_decode_upper_l_as_i64(void **state)
{
    static const uint8_t t[] = {1, 'k', 'L', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfd};
    struct table_value v;
    int64_t i;

    (void)state;
    assert_int_equal(check_exact(t, sizeof(t)), 0);
    assert_true(table_get((struct view){t, sizeof(t)}, "k", &v));
    assert_int_equal(v.type, TABLE_I64);
    assert_true(table_value_as_i64(&v, &i));
    assert_true(i == -3);
}

static void test_table_decode_bool_nonzero_is_true(void **state)
{
    static const uint8_t t[] = {1, 'a', 't', 2, 1, 'b', 't', 0};
    struct view tv = {t, sizeof(t)};
    struct table_value v;

    (void)state;
    assert_int_equal(table_check(tv), 0);
    assert_true(table_get(tv, "a", &v));
    assert_true(v.v.b);
    assert_true(table_get(tv, "b", &v));
    assert_false(v.v.b);
}

static void test_table_check_empty_table_valid(void **state)
{
    struct table_iter it;
    struct view key;
    struct table_value v;

    (void)state;
    assert_int_equal(table_check((struct view){NULL, 0}), 0);
    assert_int_equal(table_check_array((struct view){NULL, 0}), 0);
    table_iter_init(&it, (struct view){NULL, 0});
    assert_false(table_next(&it, &key, &v));
}

/* ---- round trips through the writers ---- */

static void test_table_roundtrip_bool(void **state)
{
    struct table_value in = {.type = TABLE_BOOL, .v.b = true}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.b);
    buf_free(&b);
}

static void test_table_roundtrip_i8(void **state)
{
    struct table_value in = {.type = TABLE_I8, .v.i = -100}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.i == -100);
    buf_free(&b);
}

static void test_table_roundtrip_u8(void **state)
{
    struct table_value in = {.type = TABLE_U8, .v.u = 200}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.u == 200);
    buf_free(&b);
}

static void test_table_roundtrip_i16(void **state)
{
    struct table_value in = {.type = TABLE_I16, .v.i = -30000}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.i == -30000);
    buf_free(&b);
}

static void test_table_roundtrip_u16(void **state)
{
    struct table_value in = {.type = TABLE_U16, .v.u = 60000}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.u == 60000);
    buf_free(&b);
}

static void test_table_roundtrip_i32(void **state)
{
    struct table_value in = {.type = TABLE_I32, .v.i = INT32_MIN}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.i == INT32_MIN);
    buf_free(&b);
}

static void test_table_roundtrip_u32(void **state)
{
    struct table_value in = {.type = TABLE_U32, .v.u = 4000000000u}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.u == 4000000000u);
    buf_free(&b);
}

static void test_table_roundtrip_i64(void **state)
{
    struct table_value in = {.type = TABLE_I64, .v.i = INT64_MIN}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.i == INT64_MIN);
    buf_free(&b);
}

static void test_table_roundtrip_float(void **state)
{
    struct table_value in = {.type = TABLE_FLOAT, .v.f = -0.375f}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.f == -0.375f);
    buf_free(&b);
}

static void test_table_roundtrip_double(void **state)
{
    struct table_value in = {.type = TABLE_DOUBLE, .v.d = 1e300}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.d == 1e300);
    buf_free(&b);
}

static void test_table_roundtrip_decimal(void **state)
{
    struct table_value in = {.type = TABLE_DECIMAL, .v.dec = {.scale = 5, .value = -7}}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_int_equal(out.v.dec.scale, 5);
    assert_true(out.v.dec.value == -7);
    buf_free(&b);
}

static void test_table_roundtrip_longstr(void **state)
{
    struct table_value in = {.type = TABLE_LONGSTR, .v.str = VIEW_LIT("hello\0world")}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(view_eq(out.v.str, VIEW_LIT("hello\0world")));
    buf_free(&b);
}

static void test_table_roundtrip_empty_longstr(void **state)
{
    struct table_value in = {.type = TABLE_LONGSTR, .v.str = {NULL, 0}}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_int_equal(out.v.str.n, 0);
    buf_free(&b);
}

static void test_table_roundtrip_bytes(void **state)
{
    struct table_value in = {.type = TABLE_BYTES, .v.str = VIEW_LIT("\x00\x01\xfe")}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(view_eq(out.v.str, VIEW_LIT("\x00\x01\xfe")));
    buf_free(&b);
}

static void test_table_roundtrip_timestamp(void **state)
{
    struct table_value in = {.type = TABLE_TIMESTAMP, .v.u = UINT64_MAX}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(out.v.u == UINT64_MAX);
    buf_free(&b);
}

static void test_table_roundtrip_void(void **state)
{
    struct table_value in = {.type = TABLE_VOID}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_int_equal(b.len, 4 + 2 + 1);
    buf_free(&b);
}

static void test_table_roundtrip_nested_table(void **state)
{
    static const uint8_t inner[] = {1, 'n', 'I', 0, 0, 0, 42};
    struct table_value in = {.type = TABLE_TABLE, .v.table = {inner, sizeof(inner)}}, out, v;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(view_eq(out.v.table, in.v.table));
    assert_true(table_get(out.v.table, "n", &v));
    assert_true(v.v.i == 42);
    buf_free(&b);
}

static void test_table_roundtrip_array(void **state)
{
    static const uint8_t arr[] = {'S', 0, 0, 0, 1, 'z', 'b', 0xff};
    struct table_value in = {.type = TABLE_ARRAY, .v.array = {arr, sizeof(arr)}}, out;
    struct buf b = roundtrip(&in, &out);

    (void)state;
    assert_true(view_eq(out.v.array, in.v.array));
    buf_free(&b);
}

static void test_table_writers_produce_expected_bytes(void **state)
{
    static const uint8_t want[] = {
        0, 0,   0,   58,                                             /* table length */
        1, 'a', 't', 1,                                              /* bool */
        1, 'b', 'l', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe, /* i64 -2 */
        1, 'c', 'I', 0x80, 0,    0,    0,                            /* i32 INT32_MIN */
        1, 'd', 'T', 0,    0,    0,    0,    0,    0,    0x01, 0x00, /* timestamp 256 */
        1, 'e', 'S', 0,    0,    0,    2,    'h',  'i',              /* longstr */
        1, 'f', 'F', 0,    0,    0,    0,                            /* empty table */
        1, 'g', 'A', 0,    0,    0,    2,    't',  0,                /* array [false] */
    };
    struct buf b = {0};
    size_t top, sub;

    (void)state;
    top = table_open(&b);
    table_put_bool(&b, "a", true);
    table_put_i64(&b, "b", -2);
    table_put_i32(&b, "c", INT32_MIN);
    table_put_timestamp(&b, "d", 256);
    table_put_longstr(&b, "e", VIEW_LIT("hi"));
    sub = table_open_table(&b, "f");
    table_close(&b, sub);
    sub = table_open_array(&b, "g");
    table_put_bool(&b, NULL, false);
    table_close(&b, sub);
    table_close(&b, top);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));
    assert_int_equal(table_check(contents(&b)), 0);
    buf_free(&b);
}

static void test_table_writer_nested_values_readable(void **state)
{
    struct buf b = {0};
    size_t top, sub, arr;
    struct table_value v, e;
    struct table_iter it;

    (void)state;
    top = table_open(&b);
    sub = table_open_table(&b, "inner");
    table_put_longstr(&b, "name", VIEW_LIT("q1"));
    arr = table_open_array(&b, "keys");
    table_put_longstr(&b, NULL, VIEW_LIT("r1"));
    table_put_i32(&b, NULL, 9);
    table_close(&b, arr);
    table_close(&b, sub);
    table_close(&b, top);

    assert_int_equal(table_check(contents(&b)), 0);
    assert_true(table_get(contents(&b), "inner", &v));
    assert_int_equal(v.type, TABLE_TABLE);
    assert_true(table_get(v.v.table, "name", &e));
    assert_true(view_eq_str(e.v.str, "q1"));
    assert_true(table_get(v.v.table, "keys", &e));
    assert_int_equal(e.type, TABLE_ARRAY);
    assert_int_equal(table_check_array(e.v.array), 0);
    table_iter_init(&it, e.v.array);
    assert_true(table_array_next(&it, &v));
    assert_true(view_eq_str(v.v.str, "r1"));
    assert_true(table_array_next(&it, &v));
    assert_true(v.v.i == 9);
    assert_false(table_array_next(&it, &v));
    buf_free(&b);
}

/* ---- lookup and iteration ---- */

static void test_table_get_returns_first_match(void **state)
{
    static const uint8_t t[] = {1, 'k', 'b', 1, 1, 'j', 'b', 2, 1, 'k', 'b', 3};
    struct table_value v;

    (void)state;
    assert_true(table_get((struct view){t, sizeof(t)}, "k", &v));
    assert_true(v.v.i == 1);
    assert_true(table_get((struct view){t, sizeof(t)}, "j", &v));
    assert_true(v.v.i == 2);
}

static void test_table_get_missing_key_returns_false(void **state)
{
    static const uint8_t t[] = {2, 'k', 'k', 'V', 1, 'k', 'V'};
    struct table_value v;

    (void)state;
    assert_false(table_get((struct view){t, sizeof(t)}, "x", &v));
    assert_false(table_get((struct view){t, sizeof(t)}, "kkk", &v));
    assert_false(table_get((struct view){t, sizeof(t)}, "", &v));
    assert_false(table_get((struct view){NULL, 0}, "k", &v));
}

static void test_table_iter_visits_entries_in_order(void **state)
{
    struct view t = {every_type, sizeof(every_type)};
    static const char order[] = "tbBsuIilfdDSTVxAF";
    struct table_iter it;
    struct view key;
    struct table_value v;
    size_t i = 0;

    (void)state;
    table_iter_init(&it, t);
    while (table_next(&it, &key, &v)) {
        assert_true(i < strlen(order));
        assert_int_equal(key.n, 1);
        assert_int_equal(key.p[0], order[i]);
        assert_int_equal(v.type, order[i]);
        i++;
    }
    assert_int_equal(i, strlen(order));
}

static void test_table_iter_stops_on_unchecked_garbage(void **state)
{
    static const uint8_t t[] = {1, 'a', 'V', 9, 'b'};
    struct table_iter it;
    struct view key;
    struct table_value v;

    (void)state;
    table_iter_init(&it, (struct view){t, sizeof(t)});
    assert_true(table_next(&it, &key, &v));
    assert_false(table_next(&it, &key, &v));
    assert_false(table_next(&it, &key, &v));
}

static void test_table_array_iteration(void **state)
{
    static const uint8_t a[] = {'I', 0, 0, 0, 7, 'V', 't', 0, 'S', 0, 0, 0, 0};
    struct table_iter it;
    struct table_value v;

    (void)state;
    assert_int_equal(check_array_exact(a, sizeof(a)), 0);
    table_iter_init(&it, (struct view){a, sizeof(a)});
    assert_true(table_array_next(&it, &v));
    assert_int_equal(v.type, TABLE_I32);
    assert_true(v.v.i == 7);
    assert_true(table_array_next(&it, &v));
    assert_int_equal(v.type, TABLE_VOID);
    assert_true(table_array_next(&it, &v));
    assert_int_equal(v.type, TABLE_BOOL);
    assert_false(v.v.b);
    assert_true(table_array_next(&it, &v));
    assert_int_equal(v.type, TABLE_LONGSTR);
    assert_int_equal(v.v.str.n, 0);
    assert_false(table_array_next(&it, &v));
}

static void test_table_array_of_tables_checked(void **state)
{
    /* [ {a: V}, {b: <unknown tag>} ]: the nested error must be found. */
    static const uint8_t good[] = {'F', 0, 0, 0, 3, 1, 'a', 'V'};
    static const uint8_t bad[] = {'F', 0, 0, 0, 3, 1, 'a', 'V', 'F', 0, 0, 0, 3, 1, 'b', 'Q'};

    (void)state;
    assert_int_equal(check_array_exact(good, sizeof(good)), 0);
    assert_int_equal(check_array_exact(bad, sizeof(bad)), -1);
}

/* ---- keys ---- */

static void test_table_empty_key_accepted(void **state)
{
    static const uint8_t t[] = {0, 'b', 5};
    struct table_value v;

    (void)state;
    assert_int_equal(check_exact(t, sizeof(t)), 0);
    assert_true(table_get((struct view){t, sizeof(t)}, "", &v));
    assert_true(v.v.i == 5);
}

static void test_table_key_of_255_bytes_accepted(void **state)
{
    char key[256];
    struct buf b = {0};
    size_t off;
    struct table_value v;

    (void)state;
    memset(key, 'k', 255);
    key[255] = '\0';
    off = table_open(&b);
    table_put_i32(&b, key, 1);
    table_close(&b, off);
    assert_int_equal(b.p[4], 255);
    assert_int_equal(check_exact(b.p + 4, b.len - 4), 0);
    assert_true(table_get(contents(&b), key, &v));
    key[254] = '\0';
    assert_false(table_get(contents(&b), key, &v));
    buf_free(&b);
}

static void test_table_key_length_beyond_end_rejected(void **state)
{
    static const uint8_t t1[] = {5, 'a', 'b'};
    static const uint8_t t2[] = {1, 'a', 'V', 255};
    static const uint8_t t3[] = {1};

    (void)state;
    assert_int_equal(check_exact(t1, sizeof(t1)), -1);
    assert_int_equal(check_exact(t2, sizeof(t2)), -1);
    assert_int_equal(check_exact(t3, sizeof(t3)), -1);
}

static void test_table_key_without_value_rejected(void **state)
{
    static const uint8_t t[] = {1, 'a', 'V', 1, 'b'};

    (void)state;
    assert_int_equal(check_exact(t, sizeof(t)), -1);
}

/* ---- malformed input ---- */

static void test_table_truncated_at_every_length_rejected(void **state)
{
    struct view t = {every_type, sizeof(every_type)};
    bool boundary[sizeof(every_type) + 1] = {false};
    struct table_iter it;
    struct view key;
    struct table_value v;

    (void)state;
    /* A prefix ending exactly between entries is itself a valid table; every
     * other prefix must be refused. */
    boundary[0] = true;
    table_iter_init(&it, t);
    while (table_next(&it, &key, &v))
        boundary[t.n - it.rest.n] = true;
    for (size_t len = 0; len <= t.n; len++)
        assert_int_equal(check_exact(t.p, len), boundary[len] ? 0 : -1);
}

static void test_table_truncated_nested_table_rejected(void **state)
{
    /* An outer entry declaring the full inner length: every shorter input is short. */
    struct view inner = {every_type, sizeof(every_type)};
    struct table_value tv = {.type = TABLE_TABLE, .v.table = inner};
    struct buf b = {0};
    size_t off = table_open(&b);

    (void)state;
    table_put_raw(&b, "outer", &tv);
    table_close(&b, off);
    assert_int_equal(check_exact(b.p + 4, b.len - 4), 0);
    for (size_t len = 1; len < b.len - 4; len++)
        assert_int_equal(check_exact(b.p + 4, len), -1);
    buf_free(&b);
}

static void test_table_unknown_tag_rejected(void **state)
{
    static const uint8_t tags[] = {0, 'U', 'c', 'z', 'Q', 'a', 0xff, 0xce};
    uint8_t t[] = {1, 'k', 0, 0, 0, 0, 0, 0, 0, 0, 0};

    (void)state;
    for (size_t i = 0; i < sizeof(tags); i++) {
        t[2] = tags[i];
        assert_int_equal(check_exact(t, sizeof(t)), -1);
        assert_int_equal(check_array_exact(t + 2, sizeof(t) - 2), -1);
    }
}

static void test_table_unknown_tag_in_nested_table_rejected(void **state)
{
    /* {o: {n: 127, k: <tag 'Q'>}} and {o: {n: 127, <key length past the end>}} */
    static const uint8_t bad_tag[] = {1, 'o', 'F', 0, 0, 0, 7, 1, 'n', 'b', 0x7f, 1, 'k', 'Q'};
    static const uint8_t bad_key[] = {1, 'o', 'F', 0, 0, 0, 5, 1, 'n', 'b', 0x7f, 'V'};

    (void)state;
    assert_int_equal(check_exact(bad_tag, sizeof(bad_tag)), -1);
    assert_int_equal(check_exact(bad_key, sizeof(bad_key)), -1);
}

static void test_table_length_ffffffff_rejected(void **state)
{
    static const uint8_t tags[] = {'S', 'x', 'F', 'A'};
    uint8_t t[] = {1, 'k', 0, 0xff, 0xff, 0xff, 0xff, 'a', 'b', 'c', 'd'};

    (void)state;
    for (size_t i = 0; i < sizeof(tags); i++) {
        t[2] = tags[i];
        assert_int_equal(check_exact(t, sizeof(t)), -1);
        assert_int_equal(check_array_exact(t + 2, sizeof(t) - 2), -1);
    }
}

static void test_table_length_one_past_end_rejected(void **state)
{
    uint8_t t[] = {1, 'k', 'S', 0, 0, 0, 3, 'a', 'b'};

    (void)state;
    assert_int_equal(check_exact(t, sizeof(t)), -1);
    t[6] = 2;
    assert_int_equal(check_exact(t, sizeof(t)), 0);
}

/* ---- depth ---- */

/* Builds `levels` tables nested inside each other (the outermost is level 1),
 * alternating tables and arrays when mixed. Returns the outermost contents in b. */
static void build_nested(struct buf *b, int levels, bool mixed)
{
    size_t offs[TABLE_MAX_DEPTH + 2];
    bool arr[TABLE_MAX_DEPTH + 2];

    assert_true(levels <= TABLE_MAX_DEPTH + 1);
    offs[0] = table_open(b);
    arr[0] = false;
    for (int i = 1; i < levels; i++) {
        const char *key = arr[i - 1] ? NULL : "n";
        arr[i] = mixed && (i % 2 == 1);
        offs[i] = arr[i] ? table_open_array(b, key) : table_open_table(b, key);
    }
    /* Something to read at the deepest level. */
    table_put_i32(b, arr[levels - 1] ? NULL : "leaf", 1);
    for (int i = levels - 1; i >= 0; i--)
        table_close(b, offs[i]);
}

static void test_table_nested_to_max_depth_accepted(void **state)
{
    struct buf b = {0};

    (void)state;
    build_nested(&b, TABLE_MAX_DEPTH, false);
    assert_int_equal(table_check(contents(&b)), 0);
    buf_free(&b);
    build_nested(&b, TABLE_MAX_DEPTH, true);
    assert_int_equal(table_check(contents(&b)), 0);
    buf_free(&b);
}

static void test_table_nested_beyond_max_depth_rejected(void **state)
{
    struct buf b = {0};

    (void)state;
    build_nested(&b, TABLE_MAX_DEPTH + 1, false);
    assert_int_equal(table_check(contents(&b)), -1);
    buf_free(&b);
    build_nested(&b, TABLE_MAX_DEPTH + 1, true);
    assert_int_equal(table_check(contents(&b)), -1);
    buf_free(&b);
}

static void test_table_array_depth_counts_from_one(void **state)
{
    uint8_t a[5 * TABLE_MAX_DEPTH];
    size_t n = 0;

    (void)state;
    /* TABLE_MAX_DEPTH - 1 nested empty arrays inside the top-level array. */
    for (int i = 0; i < TABLE_MAX_DEPTH - 1; i++) {
        uint32_t len = (uint32_t)(5 * (TABLE_MAX_DEPTH - 2 - i));
        a[n] = 'A';
        put_be32(a + n + 1, len);
        n += 5;
    }
    assert_int_equal(check_array_exact(a, n), 0);
    /* One more level is too deep. */
    memmove(a + 5, a, n);
    a[0] = 'A';
    put_be32(a + 1, (uint32_t)n);
    assert_int_equal(check_array_exact(a, n + 5), -1);
}

/* ---- integer arguments ---- */

static void expect_i64(enum table_type type, int64_t i, uint64_t u, int64_t want)
{
    struct table_value v = {.type = type};
    int64_t got = 0;

    if (type == TABLE_U8 || type == TABLE_U16 || type == TABLE_U32)
        v.v.u = u;
    else
        v.v.i = i;
    assert_true(table_value_as_i64(&v, &got));
    assert_true(got == want);
}

static void test_table_value_as_i64_i8(void **state)
{
    (void)state;
    expect_i64(TABLE_I8, -128, 0, -128);
}

static void test_table_value_as_i64_u8(void **state)
{
    (void)state;
    expect_i64(TABLE_U8, 0, 255, 255);
}

static void test_table_value_as_i64_i16(void **state)
{
    (void)state;
    expect_i64(TABLE_I16, -32768, 0, -32768);
}

static void test_table_value_as_i64_u16(void **state)
{
    (void)state;
    expect_i64(TABLE_U16, 0, 65535, 65535);
}

static void test_table_value_as_i64_i32(void **state)
{
    (void)state;
    expect_i64(TABLE_I32, INT32_MIN, 0, INT32_MIN);
}

static void test_table_value_as_i64_u32(void **state)
{
    (void)state;
    expect_i64(TABLE_U32, 0, UINT32_MAX, (int64_t)UINT32_MAX);
}

static void test_table_value_as_i64_i64(void **state)
{
    (void)state;
    expect_i64(TABLE_I64, INT64_MAX, 0, INT64_MAX);
}

static void test_table_value_as_i64_decoded_from_wire(void **state)
{
    /* x-priority as clients really send it: pika 'b'/'l', Java 'I', .NET 's'. */
    struct view t = {every_type, sizeof(every_type)};
    static const struct {
        const char *key;
        int64_t want;
    } cases[] = {{"b", -128}, {"B", 255},        {"s", -32768},       {"u", 65534},
                 {"I", -2},   {"i", 4294967295}, {"l", INT64_MIN + 1}};
    struct table_value v;
    int64_t got;

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        assert_true(table_get(t, cases[i].key, &v));
        assert_true(table_value_as_i64(&v, &got));
        assert_true(got == cases[i].want);
    }
}

static void test_table_value_as_i64_rejects_non_integers(void **state)
{
    static const enum table_type types[] = {
        TABLE_BOOL,  TABLE_FLOAT,     TABLE_DOUBLE, TABLE_DECIMAL, TABLE_LONGSTR,
        TABLE_ARRAY, TABLE_TIMESTAMP, TABLE_TABLE,  TABLE_VOID,    TABLE_BYTES};
    int64_t got;

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(types); i++) {
        struct table_value v = {.type = types[i]};
        assert_false(table_value_as_i64(&v, &got));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_decode_every_type_from_golden_bytes),
        cmocka_unit_test(test_table_decode_upper_l_as_i64),
        cmocka_unit_test(test_table_decode_bool_nonzero_is_true),
        cmocka_unit_test(test_table_check_empty_table_valid),
        cmocka_unit_test(test_table_roundtrip_bool),
        cmocka_unit_test(test_table_roundtrip_i8),
        cmocka_unit_test(test_table_roundtrip_u8),
        cmocka_unit_test(test_table_roundtrip_i16),
        cmocka_unit_test(test_table_roundtrip_u16),
        cmocka_unit_test(test_table_roundtrip_i32),
        cmocka_unit_test(test_table_roundtrip_u32),
        cmocka_unit_test(test_table_roundtrip_i64),
        cmocka_unit_test(test_table_roundtrip_float),
        cmocka_unit_test(test_table_roundtrip_double),
        cmocka_unit_test(test_table_roundtrip_decimal),
        cmocka_unit_test(test_table_roundtrip_longstr),
        cmocka_unit_test(test_table_roundtrip_empty_longstr),
        cmocka_unit_test(test_table_roundtrip_bytes),
        cmocka_unit_test(test_table_roundtrip_timestamp),
        cmocka_unit_test(test_table_roundtrip_void),
        cmocka_unit_test(test_table_roundtrip_nested_table),
        cmocka_unit_test(test_table_roundtrip_array),
        cmocka_unit_test(test_table_writers_produce_expected_bytes),
        cmocka_unit_test(test_table_writer_nested_values_readable),
        cmocka_unit_test(test_table_get_returns_first_match),
        cmocka_unit_test(test_table_get_missing_key_returns_false),
        cmocka_unit_test(test_table_iter_visits_entries_in_order),
        cmocka_unit_test(test_table_iter_stops_on_unchecked_garbage),
        cmocka_unit_test(test_table_array_iteration),
        cmocka_unit_test(test_table_array_of_tables_checked),
        cmocka_unit_test(test_table_empty_key_accepted),
        cmocka_unit_test(test_table_key_of_255_bytes_accepted),
        cmocka_unit_test(test_table_key_length_beyond_end_rejected),
        cmocka_unit_test(test_table_key_without_value_rejected),
        cmocka_unit_test(test_table_truncated_at_every_length_rejected),
        cmocka_unit_test(test_table_truncated_nested_table_rejected),
        cmocka_unit_test(test_table_unknown_tag_rejected),
        cmocka_unit_test(test_table_unknown_tag_in_nested_table_rejected),
        cmocka_unit_test(test_table_length_ffffffff_rejected),
        cmocka_unit_test(test_table_length_one_past_end_rejected),
        cmocka_unit_test(test_table_nested_to_max_depth_accepted),
        cmocka_unit_test(test_table_nested_beyond_max_depth_rejected),
        cmocka_unit_test(test_table_array_depth_counts_from_one),
        cmocka_unit_test(test_table_value_as_i64_i8),
        cmocka_unit_test(test_table_value_as_i64_u8),
        cmocka_unit_test(test_table_value_as_i64_i16),
        cmocka_unit_test(test_table_value_as_i64_u16),
        cmocka_unit_test(test_table_value_as_i64_i32),
        cmocka_unit_test(test_table_value_as_i64_u32),
        cmocka_unit_test(test_table_value_as_i64_i64),
        cmocka_unit_test(test_table_value_as_i64_decoded_from_wire),
        cmocka_unit_test(test_table_value_as_i64_rejects_non_integers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
