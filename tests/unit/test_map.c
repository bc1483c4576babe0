/* SPDX-License-Identifier: MIT */
/* Unit tests for broker/map.c: the string-keyed map and the pointer set,
 * checked against simple reference models over 100k keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/map.h"

#define NKEYS 100000

/* ---- helpers ---- */

/* Deterministic xorshift, so failures reproduce. */
static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Key i as text; distinct for distinct i. Returns its length. */
static size_t key_of(char *buf, size_t cap, size_t i)
{
    int n = snprintf(buf, cap, "key-%zu", i);

    assert_true(n > 0 && (size_t)n < cap);
    return (size_t)n;
}

static struct view kv(const char *s, size_t n)
{
    return (struct view){(const uint8_t *)s, n};
}

/* Value for key i: any non-NULL pointer that encodes i. */
static void *val_of(size_t i)
{
    return (void *)(uintptr_t)(i * 2 + 1);
}

/* ---- map ---- */

static void test_map_empty(void **state)
{
    struct map *m = map_create();
    struct map_iter it;
    struct view k;
    void *v;

    (void)state;
    assert_int_equal(map_count(m), 0);
    assert_null(map_get(m, VIEW_LIT("a")));
    assert_null(map_remove(m, VIEW_LIT("a")));
    map_iter_init(&it, m);
    assert_false(map_next(&it, &k, &v));
    map_destroy(m);
    map_destroy(NULL);
}

static void test_map_put_returns_previous(void **state)
{
    struct map *m = map_create();
    int a, b;

    (void)state;
    assert_null(map_put(m, VIEW_LIT("x"), &a));
    assert_ptr_equal(map_put(m, VIEW_LIT("x"), &b), &a);
    assert_int_equal(map_count(m), 1);
    assert_ptr_equal(map_get(m, VIEW_LIT("x")), &b);
    assert_ptr_equal(map_remove(m, VIEW_LIT("x")), &b);
    assert_int_equal(map_count(m), 0);
    map_destroy(m);
}

static void test_map_copies_keys(void **state)
{
    struct map *m = map_create();
    char key[8] = "abc";
    int a;

    (void)state;
    map_put(m, kv(key, 3), &a);
    key[0] = 'z';
    assert_null(map_get(m, kv(key, 3)));
    assert_ptr_equal(map_get(m, VIEW_LIT("abc")), &a);
    map_destroy(m);
}

static void test_map_binary_and_empty_keys(void **state)
{
    struct map *m = map_create();
    static const char k1[] = {'a', 0, 'b'}, k2[] = {'a', 0, 'c'}, k3[] = {'a'};
    int a, b, c, e;

    (void)state;
    map_put(m, kv(k1, 3), &a);
    map_put(m, kv(k2, 3), &b);
    map_put(m, kv(k3, 1), &c);
    map_put(m, (struct view){NULL, 0}, &e);
    assert_int_equal(map_count(m), 4);
    assert_ptr_equal(map_get(m, kv(k1, 3)), &a);
    assert_ptr_equal(map_get(m, kv(k2, 3)), &b);
    assert_ptr_equal(map_get(m, kv(k3, 1)), &c);
    assert_ptr_equal(map_get(m, VIEW_LIT("")), &e);
    assert_null(map_get(m, kv(k1, 2)));
    map_destroy(m);
}

static void test_map_insert_remove_reinsert_100k(void **state)
{
    struct map *m = map_create();
    char buf[32];

    (void)state;
    for (size_t i = 0; i < NKEYS; i++)
        assert_null(map_put(m, kv(buf, key_of(buf, sizeof(buf), i)), val_of(i)));
    assert_int_equal(map_count(m), NKEYS);
    for (size_t i = 0; i < NKEYS; i += 2)
        assert_ptr_equal(map_remove(m, kv(buf, key_of(buf, sizeof(buf), i))), val_of(i));
    assert_int_equal(map_count(m), NKEYS / 2);
    for (size_t i = 0; i < NKEYS; i++) {
        void *v = map_get(m, kv(buf, key_of(buf, sizeof(buf), i)));

        if (i % 2)
            assert_ptr_equal(v, val_of(i));
        else
            assert_null(v);
    }
    for (size_t i = 0; i < NKEYS; i += 2)
        assert_null(map_put(m, kv(buf, key_of(buf, sizeof(buf), i)), val_of(i)));
    assert_int_equal(map_count(m), NKEYS);
    for (size_t i = 0; i < NKEYS; i++)
        assert_ptr_equal(map_get(m, kv(buf, key_of(buf, sizeof(buf), i))), val_of(i));
    map_destroy(m);
}

/* Random puts and removes over a key space, mirrored in an array. */
static void test_map_random_ops_match_reference(void **state)
{
    enum { SPACE = 20000, OPS = 400000 };
    struct map *m = map_create();
    void **ref = calloc(SPACE, sizeof(*ref));
    size_t live = 0;
    char buf[32];

    (void)state;
    assert_non_null(ref);
    for (size_t op = 0; op < OPS; op++) {
        size_t i = (size_t)(rng() % SPACE);
        struct view k = kv(buf, key_of(buf, sizeof(buf), i));
        uint64_t r = rng() % 10;

        if (r < 5) {
            void *v = val_of(op);

            assert_ptr_equal(map_put(m, k, v), ref[i]);
            live += ref[i] == NULL;
            ref[i] = v;
        } else if (r < 9) {
            assert_ptr_equal(map_remove(m, k), ref[i]);
            live -= ref[i] != NULL;
            ref[i] = NULL;
        } else {
            assert_ptr_equal(map_get(m, k), ref[i]);
        }
        assert_int_equal(map_count(m), live);
    }
    for (size_t i = 0; i < SPACE; i++)
        assert_ptr_equal(map_get(m, kv(buf, key_of(buf, sizeof(buf), i))), ref[i]);
    free(ref);
    map_destroy(m);
}

/* Many cycles of a small live set: tombstones must not pile up into an
 * endless probe (the test would hang) or lose entries. */
static void test_map_churn_keeps_working(void **state)
{
    struct map *m = map_create();
    char buf[32];

    (void)state;
    for (size_t round = 0; round < 2000; round++) {
        for (size_t j = 0; j < 50; j++) {
            size_t i = round * 50 + j;
            map_put(m, kv(buf, key_of(buf, sizeof(buf), i)), val_of(i));
        }
        for (size_t j = 0; j < 50; j++) {
            size_t i = round * 50 + j;
            assert_ptr_equal(map_remove(m, kv(buf, key_of(buf, sizeof(buf), i))), val_of(i));
        }
        assert_int_equal(map_count(m), 0);
    }
    map_destroy(m);
}

/* Decodes "key-N" back to N. */
static size_t index_of(struct view k)
{
    char buf[32];

    assert_true(k.n < sizeof(buf) && k.n > 4);
    memcpy(buf, k.p, k.n);
    buf[k.n] = '\0';
    return (size_t)strtoul(buf + 4, NULL, 10);
}

static void test_map_iter_sees_each_entry_once(void **state)
{
    struct map *m = map_create();
    unsigned char *seen = calloc(NKEYS, 1);
    struct map_iter it;
    struct view k;
    void *v;
    char buf[32];
    size_t n = 0;

    (void)state;
    assert_non_null(seen);
    for (size_t i = 0; i < NKEYS; i++)
        map_put(m, kv(buf, key_of(buf, sizeof(buf), i)), val_of(i));
    for (size_t i = 0; i < NKEYS; i += 3) /* leave tombstones around */
        map_remove(m, kv(buf, key_of(buf, sizeof(buf), i)));
    map_iter_init(&it, m);
    while (map_next(&it, &k, &v)) {
        size_t i = index_of(k);

        assert_true(i < NKEYS && i % 3 != 0);
        assert_ptr_equal(v, val_of(i));
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        n++;
    }
    assert_int_equal(n, map_count(m));
    free(seen);
    map_destroy(m);
}

static void test_map_iter_remove_keeps_iteration_exact(void **state)
{
    struct map *m = map_create();
    unsigned char *seen = calloc(NKEYS, 1);
    struct map_iter it;
    struct view k;
    void *v;
    char buf[32];

    (void)state;
    assert_non_null(seen);
    for (size_t i = 0; i < NKEYS; i++)
        map_put(m, kv(buf, key_of(buf, sizeof(buf), i)), val_of(i));
    map_iter_init(&it, m);
    while (map_next(&it, &k, &v)) {
        size_t i = index_of(k);

        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        if (i % 2 == 0)
            assert_ptr_equal(map_iter_remove(m, &it), val_of(i));
    }
    for (size_t i = 0; i < NKEYS; i++) {
        assert_int_equal(seen[i], 1);
        if (i % 2)
            assert_ptr_equal(map_get(m, kv(buf, key_of(buf, sizeof(buf), i))), val_of(i));
        else
            assert_null(map_get(m, kv(buf, key_of(buf, sizeof(buf), i))));
    }
    assert_int_equal(map_count(m), NKEYS / 2);
    free(seen);
    map_destroy(m);
}

static void test_map_iter_remove_all_then_reuse(void **state)
{
    struct map *m = map_create();
    struct map_iter it;
    struct view k;
    void *v;
    char buf[32];
    size_t n = 0;

    (void)state;
    for (size_t i = 0; i < 1000; i++)
        map_put(m, kv(buf, key_of(buf, sizeof(buf), i)), val_of(i));
    map_iter_init(&it, m);
    while (map_next(&it, &k, &v)) {
        map_iter_remove(m, &it);
        n++;
    }
    assert_int_equal(n, 1000);
    assert_int_equal(map_count(m), 0);
    map_put(m, VIEW_LIT("again"), val_of(7));
    assert_ptr_equal(map_get(m, VIEW_LIT("again")), val_of(7));
    map_destroy(m);
}

/* ---- ptrset ---- */

static void test_ptrset_add_has_remove(void **state)
{
    struct ptrset *s = ptrset_create();
    int a, b;

    (void)state;
    assert_false(ptrset_has(s, &a));
    assert_true(ptrset_add(s, &a));
    assert_false(ptrset_add(s, &a));
    assert_true(ptrset_has(s, &a));
    assert_false(ptrset_has(s, &b));
    assert_int_equal(ptrset_count(s), 1);
    assert_false(ptrset_remove(s, &b));
    assert_true(ptrset_remove(s, &a));
    assert_false(ptrset_remove(s, &a));
    assert_int_equal(ptrset_count(s), 0);
    ptrset_destroy(s);
    ptrset_destroy(NULL);
}

static void test_ptrset_random_ops_match_reference(void **state)
{
    enum { SPACE = NKEYS, OPS = 400000 };
    struct ptrset *s = ptrset_create();
    char *objs = malloc(SPACE);
    unsigned char *ref = calloc(SPACE, 1);
    size_t live = 0;

    (void)state;
    assert_non_null(objs);
    assert_non_null(ref);
    for (size_t op = 0; op < OPS; op++) {
        size_t i = (size_t)(rng() % SPACE);
        uint64_t r = rng() % 3;

        if (r == 0) {
            assert_int_equal(ptrset_add(s, &objs[i]), !ref[i]);
            live += !ref[i];
            ref[i] = 1;
        } else if (r == 1) {
            assert_int_equal(ptrset_remove(s, &objs[i]), ref[i]);
            live -= ref[i];
            ref[i] = 0;
        } else {
            assert_int_equal(ptrset_has(s, &objs[i]), ref[i]);
        }
        assert_int_equal(ptrset_count(s), live);
    }
    for (size_t i = 0; i < SPACE; i++)
        assert_int_equal(ptrset_has(s, &objs[i]), ref[i]);
    free(objs);
    free(ref);
    ptrset_destroy(s);
}

static void test_ptrset_clear_then_reuse(void **state)
{
    struct ptrset *s = ptrset_create();
    char objs[5000];

    (void)state;
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(objs); i++)
            assert_true(ptrset_add(s, &objs[i]));
        assert_int_equal(ptrset_count(s), sizeof(objs));
        ptrset_clear(s);
        assert_int_equal(ptrset_count(s), 0);
        for (size_t i = 0; i < sizeof(objs); i++)
            assert_false(ptrset_has(s, &objs[i]));
    }
    ptrset_clear(s);
    ptrset_destroy(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_empty),
        cmocka_unit_test(test_map_put_returns_previous),
        cmocka_unit_test(test_map_copies_keys),
        cmocka_unit_test(test_map_binary_and_empty_keys),
        cmocka_unit_test(test_map_insert_remove_reinsert_100k),
        cmocka_unit_test(test_map_random_ops_match_reference),
        cmocka_unit_test(test_map_churn_keeps_working),
        cmocka_unit_test(test_map_iter_sees_each_entry_once),
        cmocka_unit_test(test_map_iter_remove_keeps_iteration_exact),
        cmocka_unit_test(test_map_iter_remove_all_then_reuse),
        cmocka_unit_test(test_ptrset_add_has_remove),
        cmocka_unit_test(test_ptrset_random_ops_match_reference),
        cmocka_unit_test(test_ptrset_clear_then_reuse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
