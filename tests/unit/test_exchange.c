/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for exchange/exchange.c, direct.c and fanout.c: exchange records,
 * binding bookkeeping in both directions, exchange-to-exchange routing and
 * route-set dedupe. Queues are fake pointers (addresses in qmem) that are
 * never dereferenced.
 *
 * This file also defines the broker/util.c allocators (a link-time fake, so
 * util.o is not pulled from the archive): they count calls, which lets a test
 * check that the routing hot path does not allocate.
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
#include "exchange/exchange_int.h"

/* ---- counting allocators (replace broker/util.c) ---- */

static unsigned long allocs;

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p)
        abort();
    allocs++;
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (!p)
        abort();
    allocs++;
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q)
        abort();
    allocs++;
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);

    memcpy(d, s, n);
    return d;
}

char *xstrndup_view(struct view v)
{
    char *d = xmalloc(v.n + 1);

    if (v.n)
        memcpy(d, v.p, v.n);
    d[v.n] = '\0';
    return d;
}

void *trymalloc(size_t n)
{
    allocs++;
    return malloc(n ? n : 1);
}

/* ---- helpers ---- */

static char qmem[64];

static struct queue *Q(int i)
{
    return (struct queue *)(void *)&qmem[i];
}

static const struct view NOARGS = {NULL, 0};

static struct view contents(const struct buf *b)
{
    assert_true(b->len >= 4);
    return (struct view){b->p + 4, b->len - 4};
}

static bool rs_has(const struct route_set *rs, const struct queue *q)
{
    for (size_t i = 0; i < rs->n; i++)
        if (rs->q[i] == q)
            return true;
    return false;
}

/* Each queue in rs at most once. */
static void assert_rs_unique(const struct route_set *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        for (size_t j = i + 1; j < rs->n; j++)
            assert_ptr_not_equal(rs->q[i], rs->q[j]);
}

static struct route_set rs;

/* Routes key through x into the shared rs (reset first); returns the count. */
static size_t route1(struct exch *x, const char *key)
{
    route_reset(&rs);
    exch_route(x, view_str(key), NOARGS, &rs);
    assert_rs_unique(&rs);
    return rs.n;
}

static struct exch *mk(const char *name, enum exch_type t)
{
    return exch_create(view_str(name), t, 0, NOARGS);
}

static void bindq(struct exch *x, int q, const char *key)
{
    struct proto_err err = {0};

    assert_int_equal(exch_bind_queue(x, Q(q), view_str(key), NOARGS, &err), 0);
}

static void bindx(struct exch *src, struct exch *dst, const char *key)
{
    struct proto_err err = {0};

    assert_int_equal(exch_bind_exch(src, dst, view_str(key), NOARGS, &err), 0);
}

static int teardown(void **state)
{
    (void)state;
    route_free(&rs);
    return 0;
}

/* ---- types and records ---- */

static void test_exch_type_parse_and_name(void **state)
{
    enum exch_type t;

    (void)state;
    assert_int_equal(exch_type_parse(VIEW_LIT("direct"), &t), 0);
    assert_int_equal(t, EXCH_DIRECT);
    assert_int_equal(exch_type_parse(VIEW_LIT("fanout"), &t), 0);
    assert_int_equal(t, EXCH_FANOUT);
    assert_int_equal(exch_type_parse(VIEW_LIT("topic"), &t), 0);
    assert_int_equal(t, EXCH_TOPIC);
    assert_int_equal(exch_type_parse(VIEW_LIT("headers"), &t), 0);
    assert_int_equal(t, EXCH_HEADERS);
    assert_int_equal(exch_type_parse(VIEW_LIT("Direct"), &t), -1);
    assert_int_equal(exch_type_parse(VIEW_LIT("x-consistent-hash"), &t), -1);
    assert_int_equal(exch_type_parse(VIEW_LIT(""), &t), -1);
    assert_string_equal(exch_type_name(EXCH_TOPIC), "topic");
    assert_string_equal(exch_type_name(EXCH_HEADERS), "headers");
}

static void test_exch_create_copies_name_and_args(void **state)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    char name[] = "logs";
    struct exch *x;

    (void)state;
    table_put_longstr(&b, "alternate-exchange", VIEW_LIT("ae"));
    table_put_i64(&b, "x-other", 5);
    table_close(&b, off);
    x = exch_create(view_str(name), EXCH_TOPIC, EXCH_F_DURABLE | EXCH_F_INTERNAL, contents(&b));
    name[0] = 'X';
    memset(b.p, 0, b.len);
    assert_string_equal(exch_name(x), "logs");
    assert_int_equal(exch_type(x), EXCH_TOPIC);
    assert_int_equal(exch_flags(x), EXCH_F_DURABLE | EXCH_F_INTERNAL);
    assert_int_equal(exch_args(x).n, b.len - 4);
    assert_true(view_eq_str(exch_alternate(x), "ae"));
    assert_int_equal(exch_binding_count(x), 0);
    assert_false(exch_has_incoming(x));
    buf_free(&b);
    exch_destroy(x);
    exch_destroy(NULL);
}

static void test_exch_alternate_must_be_longstr(void **state)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    struct exch *x;

    (void)state;
    table_put_i64(&b, "alternate-exchange", 1);
    table_close(&b, off);
    x = exch_create(VIEW_LIT("x"), EXCH_DIRECT, 0, contents(&b));
    assert_int_equal(exch_alternate(x).n, 0);
    exch_destroy(x);
    buf_free(&b);
}

/* Table with one "alternate-exchange" entry of the given value (NULL: none). */
static struct buf ae_args(const struct table_value *v)
{
    struct buf b = {0};
    size_t off = table_open(&b);

    if (v)
        table_put_raw(&b, "alternate-exchange", v);
    table_put_longstr(&b, "x-ignored", VIEW_LIT("whatever"));
    table_close(&b, off);
    return b;
}

static void test_exch_equivalence_checks_type_and_flags(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("x"), EXCH_DIRECT, EXCH_F_DURABLE, NOARGS);

    (void)state;
    assert_true(exch_is_equivalent(x, EXCH_DIRECT, EXCH_F_DURABLE, NOARGS));
    assert_false(exch_is_equivalent(x, EXCH_FANOUT, EXCH_F_DURABLE, NOARGS));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, 0, NOARGS));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, EXCH_F_DURABLE | EXCH_F_AUTO_DELETE, NOARGS));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, EXCH_F_DURABLE | EXCH_F_INTERNAL, NOARGS));
    exch_destroy(x);
}

/* Only alternate-exchange counts (rabbit_exchange:assert_args_equivalence/2),
 * compared by type class: integers of any width (and decimal) are one class,
 * float/double another, everything else its own. */
static void test_exch_equivalence_compares_only_alternate(void **state)
{
    struct table_value s_ae = {.type = TABLE_LONGSTR, .v.str = VIEW_LIT("ae")};
    struct table_value x_ae = {.type = TABLE_BYTES, .v.str = VIEW_LIT("ae")};
    struct table_value s_other = {.type = TABLE_LONGSTR, .v.str = VIEW_LIT("other")};
    struct table_value i32 = {.type = TABLE_I32, .v.i = 7};
    struct table_value u8 = {.type = TABLE_U8, .v.u = 7};
    struct table_value ts = {.type = TABLE_TIMESTAMP, .v.u = 7};
    struct table_value f = {.type = TABLE_FLOAT, .v.f = 2.5f};
    struct table_value d = {.type = TABLE_DOUBLE, .v.d = 2.5};
    struct buf b_s = ae_args(&s_ae), b_x = ae_args(&x_ae), b_other = ae_args(&s_other);
    struct buf b_none = ae_args(NULL), b_i32 = ae_args(&i32), b_u8 = ae_args(&u8);
    struct buf b_ts = ae_args(&ts), b_f = ae_args(&f), b_d = ae_args(&d);
    struct exch *x = exch_create(VIEW_LIT("x"), EXCH_DIRECT, 0, contents(&b_s));
    struct exch *xi = exch_create(VIEW_LIT("xi"), EXCH_DIRECT, 0, contents(&b_i32));
    struct exch *xf = exch_create(VIEW_LIT("xf"), EXCH_DIRECT, 0, contents(&b_f));
    struct exch *xn = exch_create(VIEW_LIT("xn"), EXCH_DIRECT, 0, NOARGS);

    (void)state;
    assert_true(exch_is_equivalent(x, EXCH_DIRECT, 0, contents(&b_s)));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, 0, contents(&b_x)));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, 0, contents(&b_other)));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, 0, contents(&b_none)));
    assert_false(exch_is_equivalent(x, EXCH_DIRECT, 0, NOARGS));
    assert_true(exch_is_equivalent(xi, EXCH_DIRECT, 0, contents(&b_u8)));
    assert_false(exch_is_equivalent(xi, EXCH_DIRECT, 0, contents(&b_ts)));
    assert_true(exch_is_equivalent(xf, EXCH_DIRECT, 0, contents(&b_d)));
    assert_true(exch_is_equivalent(xn, EXCH_DIRECT, 0, contents(&b_none)));
    assert_false(exch_is_equivalent(xn, EXCH_DIRECT, 0, contents(&b_s)));
    exch_destroy(x);
    exch_destroy(xi);
    exch_destroy(xf);
    exch_destroy(xn);
    buf_free(&b_s);
    buf_free(&b_x);
    buf_free(&b_other);
    buf_free(&b_none);
    buf_free(&b_i32);
    buf_free(&b_u8);
    buf_free(&b_ts);
    buf_free(&b_f);
    buf_free(&b_d);
}

/* ---- direct and fanout ---- */

static void test_exch_direct_routes_by_exact_key(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);

    (void)state;
    bindq(x, 1, "a");
    bindq(x, 2, "b");
    bindq(x, 3, "a");
    bindq(x, 4, "");
    assert_int_equal(route1(x, "a"), 2);
    assert_true(rs_has(&rs, Q(1)) && rs_has(&rs, Q(3)));
    assert_int_equal(route1(x, "b"), 1);
    assert_true(rs_has(&rs, Q(2)));
    assert_int_equal(route1(x, ""), 1);
    assert_true(rs_has(&rs, Q(4)));
    assert_int_equal(route1(x, "A"), 0);
    assert_int_equal(route1(x, "a.b"), 0);
    exch_destroy(x);
}

static void test_exch_direct_queue_bound_twice_routed_once(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);
    struct buf b = {0};
    size_t off = table_open(&b);
    struct proto_err err = {0};

    (void)state;
    table_put_i64(&b, "k", 1);
    table_close(&b, off);
    bindq(x, 1, "a");
    assert_int_equal(exch_bind_queue(x, Q(1), VIEW_LIT("a"), contents(&b), &err), 0);
    assert_int_equal(exch_binding_count(x), 2);
    assert_int_equal(route1(x, "a"), 1);
    buf_free(&b);
    exch_destroy(x);
}

static void test_exch_fanout_ignores_key(void **state)
{
    struct exch *x = mk("f", EXCH_FANOUT);

    (void)state;
    assert_int_equal(route1(x, "any"), 0);
    bindq(x, 1, "a");
    bindq(x, 2, "zzz");
    bindq(x, 3, "");
    assert_int_equal(route1(x, "whatever"), 3);
    assert_int_equal(route1(x, ""), 3);
    exch_unbind_queue(x, Q(2), VIEW_LIT("zzz"), NOARGS);
    assert_int_equal(route1(x, "x"), 2);
    assert_false(rs_has(&rs, Q(2)));
    exch_destroy(x);
}

/* ---- binding identity ---- */

static void test_exch_bind_is_idempotent(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);

    (void)state;
    bindq(x, 1, "a");
    bindq(x, 1, "a");
    assert_int_equal(exch_binding_count(x), 1);
    bindq(x, 1, "b");
    bindq(x, 2, "a");
    assert_int_equal(exch_binding_count(x), 3);
    exch_destroy(x);
}

static void test_exch_unbind_missing_is_noop(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);

    (void)state;
    bindq(x, 1, "a");
    assert_int_equal(exch_unbind_queue(x, Q(1), VIEW_LIT("b"), NOARGS), 0);
    assert_int_equal(exch_unbind_queue(x, Q(2), VIEW_LIT("a"), NOARGS), 0);
    assert_int_equal(exch_binding_count(x), 1);
    assert_int_equal(exch_unbind_queue(x, Q(1), VIEW_LIT("a"), NOARGS), 0);
    assert_int_equal(exch_binding_count(x), 0);
    assert_int_equal(exch_unbind_queue(x, Q(1), VIEW_LIT("a"), NOARGS), 0);
    assert_false(exch_queue_is_bound(Q(1)));
    exch_destroy(x);
}

/* RabbitMQ sorts binding args by key, and decodes 'L' like 'l' and any
 * non-zero bool as true, so those spellings name the same binding. */
static void test_exch_binding_args_compare_as_tables(void **state)
{
    static const uint8_t ab[] = {1, 'a', 'l', 0, 0, 0, 0, 0, 0, 0, 1, 1, 'b', 't', 1};
    static const uint8_t ba[] = {1, 'b', 't', 7, 1, 'a', 'L', 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t other[] = {1, 'a', 'l', 0, 0, 0, 0, 0, 0, 0, 2, 1, 'b', 't', 1};
    struct exch *x = mk("d", EXCH_DIRECT);
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(exch_bind_queue(x, Q(1), VIEW_LIT("k"), (struct view){ab, sizeof(ab)}, &err),
                     0);
    assert_int_equal(exch_bind_queue(x, Q(1), VIEW_LIT("k"), (struct view){ba, sizeof(ba)}, &err),
                     0);
    assert_int_equal(exch_binding_count(x), 1);
    assert_int_equal(
        exch_bind_queue(x, Q(1), VIEW_LIT("k"), (struct view){other, sizeof(other)}, &err), 0);
    assert_int_equal(exch_binding_count(x), 2);
    exch_unbind_queue(x, Q(1), VIEW_LIT("k"), (struct view){ba, sizeof(ba)});
    assert_int_equal(exch_binding_count(x), 1);
    exch_unbind_queue(x, Q(1), VIEW_LIT("k"), NOARGS);
    assert_int_equal(exch_binding_count(x), 1);
    exch_destroy(x);
}

/* Entries with the same key keep their order (lists:keysort is stable). */
static void test_exch_binding_args_duplicate_keys_keep_order(void **state)
{
    static const uint8_t k12[] = {1, 'k', 'b', 1, 1, 'k', 'b', 2};
    static const uint8_t k21[] = {1, 'k', 'b', 2, 1, 'k', 'b', 1};
    struct exch *x = mk("d", EXCH_DIRECT);
    struct proto_err err = {0};

    (void)state;
    exch_bind_queue(x, Q(1), VIEW_LIT("k"), (struct view){k12, sizeof(k12)}, &err);
    exch_bind_queue(x, Q(1), VIEW_LIT("k"), (struct view){k21, sizeof(k21)}, &err);
    assert_int_equal(exch_binding_count(x), 2);
    exch_destroy(x);
}

static void test_exch_bind_rejects_malformed_args(void **state)
{
    static const uint8_t bad[] = {1, 'k', 'S', 0, 0, 0, 9, 'x'};
    struct exch *x = mk("d", EXCH_DIRECT);
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(exch_bind_queue(x, Q(1), VIEW_LIT("k"), (struct view){bad, sizeof(bad)}, &err),
                     -1);
    assert_int_equal(err.code, SPEC_SYNTAX_ERROR);
    assert_int_equal(exch_binding_count(x), 0);
    assert_int_equal(exch_unbind_queue(x, Q(1), VIEW_LIT("k"), (struct view){bad, sizeof(bad)}), 0);
    exch_destroy(x);
}

/* ---- visiting bindings ---- */

struct seen {
    int n;
    const struct exch *src[8];
    struct queue *dq[8];
    const struct exch *dx[8];
    char key[8][16];
    size_t args_n[8];
};

static void record(void *arg, const struct exch *src, struct queue *dest_queue,
                   const struct exch *dest_exch, struct view key, struct view args)
{
    struct seen *s = arg;

    assert_true(s->n < 8);
    assert_true((dest_queue == NULL) != (dest_exch == NULL));
    s->src[s->n] = src;
    s->dq[s->n] = dest_queue;
    s->dx[s->n] = dest_exch;
    assert_true(key.n < 16);
    memcpy(s->key[s->n], key.p, key.n);
    s->key[s->n][key.n] = '\0';
    s->args_n[s->n] = args.n;
    s->n++;
}

static void test_exch_for_each_binding_reports_all(void **state)
{
    struct exch *x = mk("x", EXCH_TOPIC), *y = mk("y", EXCH_FANOUT);
    struct seen s = {0};

    (void)state;
    bindq(x, 1, "a.*");
    bindx(x, y, "b.#");
    bindq(x, 2, "c");
    exch_for_each_binding(x, record, &s);
    assert_int_equal(s.n, 3);
    for (int i = 0; i < 3; i++)
        assert_ptr_equal(s.src[i], x);
    assert_ptr_equal(s.dq[0], Q(1));
    assert_string_equal(s.key[0], "a.*");
    assert_ptr_equal(s.dx[1], y);
    assert_string_equal(s.key[1], "b.#");
    assert_ptr_equal(s.dq[2], Q(2));
    memset(&s, 0, sizeof(s));
    exch_for_each_binding(y, record, &s);
    assert_int_equal(s.n, 0);
    exch_destroy(x);
    exch_destroy(y);
}

static void test_exch_for_each_binding_to_queue(void **state)
{
    struct exch *x = mk("x", EXCH_DIRECT), *y = mk("y", EXCH_FANOUT);
    struct seen s = {0};

    (void)state;
    bindq(x, 1, "a");
    bindq(x, 2, "a");
    bindq(y, 1, "");
    exch_for_each_binding_to_queue(Q(1), record, &s);
    assert_int_equal(s.n, 2);
    assert_ptr_equal(s.src[0], x);
    assert_ptr_equal(s.src[1], y);
    assert_ptr_equal(s.dq[0], Q(1));
    assert_ptr_equal(s.dq[1], Q(1));
    memset(&s, 0, sizeof(s));
    exch_for_each_binding_to_queue(Q(9), record, &s);
    assert_int_equal(s.n, 0);
    exch_destroy(x);
    exch_destroy(y);
}

/* The visitors tolerate the callback removing the binding it is given. */
static void unbind_it(void *arg, const struct exch *src, struct queue *dest_queue,
                      const struct exch *dest_exch, struct view key, struct view args)
{
    struct exch *x = arg;

    assert_ptr_equal(src, x);
    if (dest_queue)
        exch_unbind_queue(x, dest_queue, key, args);
    else
        exch_unbind_exch(x, (struct exch *)(uintptr_t)dest_exch, key, args);
}

static void test_exch_for_each_binding_callback_may_unbind(void **state)
{
    struct exch *x = mk("x", EXCH_TOPIC), *y = mk("y", EXCH_FANOUT);
    static const uint8_t args[] = {1, 'k', 'b', 1};
    struct proto_err err = {0};

    (void)state;
    bindq(x, 1, "a");
    bindx(x, y, "b");
    assert_int_equal(
        exch_bind_queue(x, Q(2), VIEW_LIT("c"), (struct view){args, sizeof(args)}, &err), 0);
    bindq(x, 1, "d");
    exch_for_each_binding(x, unbind_it, x);
    assert_int_equal(exch_binding_count(x), 0);
    assert_false(exch_has_incoming(y));
    assert_false(exch_queue_is_bound(Q(1)));
    assert_false(exch_queue_is_bound(Q(2)));
    bindq(x, 1, "a");
    bindq(x, 1, "b");
    exch_for_each_binding_to_queue(Q(1), unbind_it, x);
    assert_false(exch_queue_is_bound(Q(1)));
    exch_destroy(x);
    exch_destroy(y);
}

/* ---- queue reverse index ---- */

static void test_exch_forget_queue_removes_all_its_bindings(void **state)
{
    struct exch *x = mk("x", EXCH_DIRECT), *y = mk("y", EXCH_TOPIC);

    (void)state;
    bindq(x, 1, "a");
    bindq(x, 1, "b");
    bindq(x, 2, "a");
    bindq(y, 1, "#");
    assert_true(exch_queue_is_bound(Q(1)));
    exch_forget_queue(Q(1));
    assert_false(exch_queue_is_bound(Q(1)));
    assert_true(exch_queue_is_bound(Q(2)));
    assert_int_equal(exch_binding_count(x), 1);
    assert_int_equal(exch_binding_count(y), 0);
    assert_int_equal(route1(x, "a"), 1);
    assert_true(rs_has(&rs, Q(2)));
    assert_int_equal(route1(y, "a"), 0);
    exch_forget_queue(Q(1));
    exch_forget_queue(Q(3));
    exch_destroy(x);
    exch_destroy(y);
    assert_false(exch_queue_is_bound(Q(2)));
}

static void test_exch_queue_unbound_after_last_unbind(void **state)
{
    struct exch *x = mk("x", EXCH_DIRECT);

    (void)state;
    assert_false(exch_queue_is_bound(Q(1)));
    bindq(x, 1, "a");
    bindq(x, 1, "b");
    exch_unbind_queue(x, Q(1), VIEW_LIT("a"), NOARGS);
    assert_true(exch_queue_is_bound(Q(1)));
    exch_unbind_queue(x, Q(1), VIEW_LIT("b"), NOARGS);
    assert_false(exch_queue_is_bound(Q(1)));
    exch_destroy(x);
}

/* ---- exchange-to-exchange ---- */

static void test_exch_e2e_chain_routes_through(void **state)
{
    struct exch *a = mk("a", EXCH_FANOUT), *b = mk("b", EXCH_FANOUT), *c = mk("c", EXCH_DIRECT);

    (void)state;
    bindx(a, b, "");
    bindx(b, c, "");
    bindq(c, 1, "k");
    bindq(c, 2, "other");
    assert_true(exch_has_incoming(b));
    assert_true(exch_has_incoming(c));
    assert_false(exch_has_incoming(a));
    assert_int_equal(route1(a, "k"), 1);
    assert_true(rs_has(&rs, Q(1)));
    exch_destroy(a);
    exch_destroy(b);
    exch_destroy(c);
}

/* Each hop matches with the source's type: a topic binding a -> b with key
 * "a.*" passes "a.x" on, and b (direct) then needs an exact "a.x". */
static void test_exch_e2e_each_hop_uses_source_type(void **state)
{
    struct exch *a = mk("a", EXCH_TOPIC), *b = mk("b", EXCH_DIRECT);

    (void)state;
    bindx(a, b, "a.*");
    bindq(b, 1, "a.x");
    bindq(b, 2, "a.*");
    assert_int_equal(route1(a, "a.x"), 1);
    assert_true(rs_has(&rs, Q(1)));
    assert_int_equal(route1(a, "a.*"), 1);
    assert_true(rs_has(&rs, Q(2)));
    assert_int_equal(route1(a, "b.x"), 0);
    exch_destroy(a);
    exch_destroy(b);
}

static void test_exch_e2e_diamond_yields_queue_once(void **state)
{
    struct exch *a = mk("a", EXCH_FANOUT), *b = mk("b", EXCH_FANOUT), *c = mk("c", EXCH_FANOUT);
    struct exch *d = mk("d", EXCH_FANOUT);

    (void)state;
    bindx(a, b, "");
    bindx(a, c, "");
    bindx(b, d, "");
    bindx(c, d, "");
    bindq(d, 1, "");
    bindq(b, 1, "");
    bindq(c, 2, "");
    assert_int_equal(route1(a, "k"), 2);
    assert_true(rs_has(&rs, Q(1)) && rs_has(&rs, Q(2)));
    exch_destroy(a);
    exch_destroy(b);
    exch_destroy(c);
    exch_destroy(d);
}

static void test_exch_e2e_cycle_terminates(void **state)
{
    struct exch *a = mk("a", EXCH_FANOUT), *b = mk("b", EXCH_FANOUT);

    (void)state;
    bindx(a, b, "");
    bindx(b, a, "");
    bindx(a, a, "");
    bindq(a, 1, "");
    bindq(b, 2, "");
    assert_int_equal(route1(a, "k"), 2);
    assert_int_equal(route1(b, "k"), 2);
    exch_destroy(a);
    assert_false(exch_has_incoming(b));
    assert_int_equal(exch_binding_count(b), 1);
    exch_destroy(b);
}

static void test_exch_destroy_removes_bindings_both_ways(void **state)
{
    struct exch *a = mk("a", EXCH_DIRECT), *b = mk("b", EXCH_FANOUT), *c = mk("c", EXCH_FANOUT);

    (void)state;
    bindx(a, b, "k");
    bindx(b, c, "");
    bindq(b, 1, "");
    bindq(a, 2, "k");
    assert_int_equal(exch_binding_count(a), 2);
    exch_destroy(b);
    assert_int_equal(exch_binding_count(a), 1);
    assert_false(exch_has_incoming(c));
    assert_false(exch_queue_is_bound(Q(1)));
    assert_true(exch_queue_is_bound(Q(2)));
    assert_int_equal(route1(a, "k"), 1);
    assert_true(rs_has(&rs, Q(2)));
    exch_destroy(a);
    exch_destroy(c);
}

static void test_exch_unbind_exch(void **state)
{
    struct exch *a = mk("a", EXCH_DIRECT), *b = mk("b", EXCH_FANOUT);

    (void)state;
    bindx(a, b, "k");
    bindq(b, 1, "");
    assert_int_equal(route1(a, "k"), 1);
    assert_int_equal(exch_unbind_exch(a, b, VIEW_LIT("other"), NOARGS), 0);
    assert_int_equal(route1(a, "k"), 1);
    assert_int_equal(exch_unbind_exch(a, b, VIEW_LIT("k"), NOARGS), 0);
    assert_int_equal(route1(a, "k"), 0);
    assert_false(exch_has_incoming(b));
    exch_destroy(a);
    exch_destroy(b);
}

/* A queue binding and an exchange binding with the same key are different. */
static void test_exch_queue_and_exchange_bindings_distinct(void **state)
{
    struct exch *a = mk("a", EXCH_DIRECT), *b = mk("b", EXCH_FANOUT);

    (void)state;
    bindx(a, b, "k");
    bindq(a, 1, "k");
    assert_int_equal(exch_binding_count(a), 2);
    exch_unbind_queue(a, Q(1), VIEW_LIT("k"), NOARGS);
    assert_int_equal(exch_binding_count(a), 1);
    assert_true(exch_has_incoming(b));
    exch_destroy(a);
    exch_destroy(b);
}

/* ---- route sets ---- */

static void test_route_union_over_calls(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);

    (void)state;
    bindq(x, 1, "a");
    bindq(x, 2, "b");
    bindq(x, 3, "a");
    bindq(x, 3, "b");
    route_reset(&rs);
    exch_route(x, VIEW_LIT("a"), NOARGS, &rs);
    exch_route(x, VIEW_LIT("b"), NOARGS, &rs);
    exch_route(x, VIEW_LIT("a"), NOARGS, &rs);
    assert_int_equal(rs.n, 3);
    assert_rs_unique(&rs);
    route_reset(&rs);
    assert_int_equal(rs.n, 0);
    exch_route(x, VIEW_LIT("b"), NOARGS, &rs);
    assert_int_equal(rs.n, 2);
    exch_destroy(x);
}

static void test_route_interleaved_sets_stay_deduped(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);
    struct route_set other = {0};

    (void)state;
    bindq(x, 1, "a");
    bindq(x, 2, "b");
    route_reset(&rs);
    exch_route(x, VIEW_LIT("a"), NOARGS, &rs);
    exch_route(x, VIEW_LIT("a"), NOARGS, &other);
    exch_route(x, VIEW_LIT("b"), NOARGS, &other);
    exch_route(x, VIEW_LIT("a"), NOARGS, &rs);
    exch_route(x, VIEW_LIT("b"), NOARGS, &rs);
    exch_route(x, VIEW_LIT("a"), NOARGS, &other);
    assert_int_equal(rs.n, 2);
    assert_rs_unique(&rs);
    assert_int_equal(other.n, 2);
    assert_rs_unique(&other);
    route_free(&other);
    exch_destroy(x);
}

/* A queue in a route set that is unbound and bound again between two calls
 * must still appear once. */
static void test_route_rebound_queue_not_duplicated(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);

    (void)state;
    bindq(x, 1, "a");
    route_reset(&rs);
    exch_route(x, VIEW_LIT("a"), NOARGS, &rs);
    exch_forget_queue(Q(1));
    bindq(x, 1, "a");
    exch_route(x, VIEW_LIT("a"), NOARGS, &rs);
    assert_int_equal(rs.n, 1);
    exch_destroy(x);
}

static void test_route_zeroed_set_needs_no_reset(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT);
    struct route_set fresh = {0};

    (void)state;
    bindq(x, 1, "a");
    exch_route(x, VIEW_LIT("a"), NOARGS, &fresh);
    exch_route(x, VIEW_LIT("a"), NOARGS, &fresh);
    assert_int_equal(fresh.n, 1);
    route_free(&fresh);
    route_free(&fresh);
    exch_destroy(x);
}

/* The hot path (direct exchange, one binding, one queue) allocates nothing
 * once the route set and the walk stack have grown. */
static void test_route_direct_hot_path_does_not_allocate(void **state)
{
    struct exch *x = mk("d", EXCH_DIRECT), *f = mk("f", EXCH_FANOUT);
    unsigned long before;

    (void)state;
    before = allocs;
    bindq(x, 1, "key");
    assert_true(allocs > before); /* the counting allocators are the ones in use */
    bindx(f, x, "");
    route1(x, "key");
    route1(f, "key");
    before = allocs;
    for (int i = 0; i < 1000; i++) {
        route_reset(&rs);
        exch_route(x, VIEW_LIT("key"), NOARGS, &rs);
        assert_int_equal(rs.n, 1);
        route_reset(&rs);
        exch_route(f, VIEW_LIT("key"), NOARGS, &rs);
        assert_int_equal(rs.n, 1);
    }
    assert_int_equal(allocs, before);
    exch_destroy(x);
    exch_destroy(f);
}

/* Many bindings, exchanges and queues; removing in every order leaves the
 * module with nothing bound (checked through the public API, and by ASan's
 * leak check in the sanitizer build). */
static void test_exch_mass_bind_unbind(void **state)
{
    enum { NX = 6 };
    struct exch *x[NX];
    char key[16];

    (void)state;
    for (int i = 0; i < NX; i++)
        x[i] = mk("x", (enum exch_type)(i % 4));
    for (int i = 0; i < NX; i++)
        for (int j = 0; j < NX; j++)
            if (i != j)
                bindx(x[i], x[j], "#");
    for (int k = 0; k < 2000; k++) {
        snprintf(key, sizeof(key), "k%d", k % 97);
        bindq(x[k % NX], k % 64, key);
    }
    route_reset(&rs);
    exch_route(x[0], VIEW_LIT("k5"), NOARGS, &rs);
    assert_rs_unique(&rs);
    for (int q = 0; q < 64; q += 2)
        exch_forget_queue(Q(q));
    for (int q = 0; q < 64; q += 2)
        assert_false(exch_queue_is_bound(Q(q)));
    for (int i = 0; i < NX; i++)
        exch_destroy(x[i]);
    for (int q = 0; q < 64; q++)
        assert_false(exch_queue_is_bound(Q(q)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_exch_type_parse_and_name, teardown),
        cmocka_unit_test_teardown(test_exch_create_copies_name_and_args, teardown),
        cmocka_unit_test_teardown(test_exch_alternate_must_be_longstr, teardown),
        cmocka_unit_test_teardown(test_exch_equivalence_checks_type_and_flags, teardown),
        cmocka_unit_test_teardown(test_exch_equivalence_compares_only_alternate, teardown),
        cmocka_unit_test_teardown(test_exch_direct_routes_by_exact_key, teardown),
        cmocka_unit_test_teardown(test_exch_direct_queue_bound_twice_routed_once, teardown),
        cmocka_unit_test_teardown(test_exch_fanout_ignores_key, teardown),
        cmocka_unit_test_teardown(test_exch_bind_is_idempotent, teardown),
        cmocka_unit_test_teardown(test_exch_unbind_missing_is_noop, teardown),
        cmocka_unit_test_teardown(test_exch_binding_args_compare_as_tables, teardown),
        cmocka_unit_test_teardown(test_exch_binding_args_duplicate_keys_keep_order, teardown),
        cmocka_unit_test_teardown(test_exch_bind_rejects_malformed_args, teardown),
        cmocka_unit_test_teardown(test_exch_for_each_binding_reports_all, teardown),
        cmocka_unit_test_teardown(test_exch_for_each_binding_to_queue, teardown),
        cmocka_unit_test_teardown(test_exch_for_each_binding_callback_may_unbind, teardown),
        cmocka_unit_test_teardown(test_exch_forget_queue_removes_all_its_bindings, teardown),
        cmocka_unit_test_teardown(test_exch_queue_unbound_after_last_unbind, teardown),
        cmocka_unit_test_teardown(test_exch_e2e_chain_routes_through, teardown),
        cmocka_unit_test_teardown(test_exch_e2e_each_hop_uses_source_type, teardown),
        cmocka_unit_test_teardown(test_exch_e2e_diamond_yields_queue_once, teardown),
        cmocka_unit_test_teardown(test_exch_e2e_cycle_terminates, teardown),
        cmocka_unit_test_teardown(test_exch_destroy_removes_bindings_both_ways, teardown),
        cmocka_unit_test_teardown(test_exch_unbind_exch, teardown),
        cmocka_unit_test_teardown(test_exch_queue_and_exchange_bindings_distinct, teardown),
        cmocka_unit_test_teardown(test_route_union_over_calls, teardown),
        cmocka_unit_test_teardown(test_route_interleaved_sets_stay_deduped, teardown),
        cmocka_unit_test_teardown(test_route_rebound_queue_not_duplicated, teardown),
        cmocka_unit_test_teardown(test_route_zeroed_set_needs_no_reset, teardown),
        cmocka_unit_test_teardown(test_route_direct_hot_path_does_not_allocate, teardown),
        cmocka_unit_test_teardown(test_exch_mass_bind_unbind, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
