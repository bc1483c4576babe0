/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for exchange/topic.c: the reference matcher exch_topic_match()
 * against RabbitMQ's rules (rabbit_db_topic_exchange.erl), the trie against
 * the reference, and the trie's cost measured by nodes visited (never time).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "exchange/exchange.h"
#include "exchange/exchange_int.h"

/* ---- helpers ---- */

static char qmem[4096];

static struct queue *Q(size_t i)
{
    assert_true(i < sizeof(qmem));
    return (struct queue *)(void *)&qmem[i];
}

static const struct view NOARGS = {NULL, 0};

struct tcase {
    const char *pattern, *key;
    bool match;
};

static void check_cases(const struct tcase *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bool got = exch_topic_match(view_str(c[i].pattern), view_str(c[i].key));

        if (got != c[i].match)
            fail_msg("pattern \"%s\" key \"%s\": expected %d", c[i].pattern, c[i].key, c[i].match);
    }
}

static void bind(struct exch *x, size_t q, const char *pattern)
{
    struct proto_err err = {0};

    assert_int_equal(exch_bind_queue(x, Q(q), view_str(pattern), NOARGS, &err), 0);
}

static struct route_set rs;

static int teardown(void **state)
{
    (void)state;
    route_free(&rs);
    return 0;
}

/* Routes key and returns how many trie nodes the walk entered. */
static unsigned long route_visits(struct exch *x, const char *key)
{
    unsigned long before = exch__topic_visits;

    route_reset(&rs);
    exch_route(x, view_str(key), NOARGS, &rs);
    return exch__topic_visits - before;
}

static bool rs_has(size_t q)
{
    for (size_t i = 0; i < rs.n; i++)
        if (rs.q[i] == Q(q))
            return true;
    return false;
}

/* ---- the reference matcher ---- */

/* split_topic_key(<<>>) is [], so the empty key has no words. */
static void test_topic_match_empty_key_has_no_words(void **state)
{
    static const struct tcase c[] = {
        {"", "", true},   {"#", "", true},      {"#.#", "", true},  {"*", "", false},
        {"a", "", false}, {"#.a", "", false},   {"#.*", "", false}, {"", "a", false},
        {"", ".", false}, {"#.*.#", "", false}, {".", "", false},   {"*.#", "", false},
    };

    (void)state;
    check_cases(c, ARRAY_LEN(c));
}

/* Every '.' splits, so empty words are words. */
static void test_topic_match_empty_words(void **state)
{
    static const struct tcase c[] = {
        {"*", ".", false},      {"*.*", ".", true},      {"#", ".", true},
        {".", ".", true},       {"*.", ".", true},       {".*", ".", true},
        {"a..b", "a..b", true}, {"a.*.b", "a..b", true}, {"a.#.b", "a..b", true},
        {"a.b", "a..b", false}, {"a.", "a", false},      {"a.", "a.", true},
        {"a.*", "a.", true},    {"a.#", "a.", true},     {"*", "a.", false},
        {".a", "a", false},     {".a", ".a", true},      {"#.", "a.", true},
        {"#.", "a", false},     {"..", "..", true},      {"*.*.*", "..", true},
    };

    (void)state;
    check_cases(c, ARRAY_LEN(c));
}

static void test_topic_match_star_is_one_word(void **state)
{
    static const struct tcase c[] = {
        {"*", "a", true},        {"*", "a.b", false},      {"*.*", "a.b", true},
        {"*.*", "a", false},     {"a.*", "a.b", true},     {"a.*", "a", false},
        {"*.b", "a.b", true},    {"*.b", "a.c", false},    {"a.*.c", "a.b.c", true},
        {"a.*.c", "a.c", false}, {"*.*.*", "a.b.c", true}, {"*", "", false},
    };

    (void)state;
    check_cases(c, ARRAY_LEN(c));
}

static void test_topic_match_hash_is_any_words(void **state)
{
    static const struct tcase c[] = {
        {"#", "a", true},           {"#", "a.b.c", true},        {"a.#", "a", true},
        {"a.#", "a.b.c", true},     {"a.#", "b.a", false},       {"#.a", "a", true},
        {"#.a", "b.a", true},       {"#.a", "a.b", false},       {"a.#.b", "a.b", true},
        {"a.#.b", "a.x.y.b", true}, {"a.#.b", "a.b.b", true},    {"a.#.b", "a.b.c", false},
        {"#.#", "a.b", true},       {"#.#.#", "a", true},        {"#.b.#.d", "a.b.c.d", true},
        {"#.b.#.d", "b.d", true},   {"#.b.#.d", "a.b.c", false}, {"#.a.#", "b.b.a.b", true},
        {"#.a.#", "b.b.b", false},
    };

    (void)state;
    check_cases(c, ARRAY_LEN(c));
}

static void test_topic_match_star_and_hash_together(void **state)
{
    static const struct tcase c[] = {
        {"a.*.#", "a", false},      {"a.*.#", "a.b", true},   {"a.*.#", "a.b.c.d", true},
        {"#.*", "a", true},         {"*.#", "a", true},       {"#.*", "a.b.c", true},
        {"#.*.#", "a", true},       {"*.#.*", "a", false},    {"*.#.*", "a.b", true},
        {"#.*.b", "a.b", true},     {"#.*.b", "b", false},    {"*.*.#.*", "a.b", false},
        {"*.*.#.*", "a.b.c", true}, {"#.#.*.#.#", "x", true},
    };

    (void)state;
    check_cases(c, ARRAY_LEN(c));
}

/* Only whole words "*" and "#" are wildcards; the key's own "*" and "#" are
 * plain words, and matching is bytewise. */
static void test_topic_match_partial_wildcards_are_literal(void **state)
{
    static const struct tcase c[] = {
        {"a*", "a*", true}, {"a*", "ab", false},  {"#a", "a", false},   {"#a", "#a", true},
        {"*", "*", true},   {"#", "#", true},     {"a.#", "a.#", true}, {"a.b", "a.*", false},
        {"a", "a", true},   {"a", "b", false},    {"a.b", "a", false},  {"a", "a.b", false},
        {"A", "a", false},  {"ab", "a.b", false}, {"**", "a", false},   {"##", "a", false},
    };

    (void)state;
    check_cases(c, ARRAY_LEN(c));
}

/* ---- the trie against the reference ---- */

static const char *const patterns[] = {
    "",      "#",     "#.#",     "*",     "*.*",   "a",     "a.b", "a.*",
    "a.#",   "#.a",   "a.*.#",   "a.#.b", "#.b.#", "*.#",   "#.*", ".",
    "a.",    ".a",    "a..b",    "a.*.b", "*.*.*", "#.a.#", "b.#", "a.b.c",
    "#.#.#", "*.#.*", "a.#.#.b", "#.*.#", "*.",    "#.",    "a*",  "#a",
};

static const char *const keys[] = {
    "",      ".",    "..", "a",  "b",       "a.b", "a.a",       "b.a",
    "a.b.c", "a..b", "a.", ".a", "a.x.b",   "x.y", "a.b.b",     "b.b.a.b",
    "a*",    "#a",   "*",  "#",  "a.b.c.d", "c.b", "a.x.y.z.b",
};

static void test_topic_trie_agrees_with_reference_per_pattern(void **state)
{
    (void)state;
    for (size_t p = 0; p < ARRAY_LEN(patterns); p++) {
        struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);

        bind(x, 0, patterns[p]);
        for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
            bool want = exch_topic_match(view_str(patterns[p]), view_str(keys[k]));

            route_visits(x, keys[k]);
            if ((rs.n == 1) != want)
                fail_msg("pattern \"%s\" key \"%s\": trie %zu, reference %d", patterns[p], keys[k],
                         rs.n, want);
        }
        exch_destroy(x);
    }
}

static void test_topic_trie_agrees_with_reference_all_patterns(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);

    (void)state;
    for (size_t p = 0; p < ARRAY_LEN(patterns); p++)
        bind(x, p, patterns[p]);
    for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
        size_t want = 0;

        route_visits(x, keys[k]);
        for (size_t p = 0; p < ARRAY_LEN(patterns); p++) {
            bool m = exch_topic_match(view_str(patterns[p]), view_str(keys[k]));

            want += m;
            if (rs_has(p) != m)
                fail_msg("pattern \"%s\" key \"%s\": trie %d", patterns[p], keys[k], !m);
        }
        assert_int_equal(rs.n, want);
    }
    exch_destroy(x);
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Up to 5 words from a small alphabet (so keys and patterns collide often). */
static void random_words(char *out, size_t cap, bool wildcards)
{
    static const char *const lit[] = {"a", "b", "", "ab"};
    size_t n = (size_t)(rng() % 6), len = 0;

    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        uint64_t r = rng() % (wildcards ? 7 : 4);
        const char *w = r < 4 ? lit[r] : (r < 6 ? "#" : "*");
        int k = snprintf(out + len, cap - len, "%s%s", i ? "." : "", w);

        assert_true(k >= 0 && (size_t)k < cap - len);
        len += (size_t)k;
    }
}

static void check_random_keys(struct exch *x, char (*pat)[32], const bool *bound, size_t np)
{
    char key[32];

    for (int k = 0; k < 2000; k++) {
        random_words(key, sizeof(key), false);
        route_visits(x, key);
        for (size_t p = 0; p < np; p++) {
            bool m = bound[p] && exch_topic_match(view_str(pat[p]), view_str(key));

            if (rs_has(p) != m)
                fail_msg("pattern \"%s\" key \"%s\": trie %d", pat[p], key, !m);
        }
    }
}

static void test_topic_trie_random_differential(void **state)
{
    enum { NP = 300 };
    static char pat[NP][32];
    static bool bound[NP];
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);

    (void)state;
    for (size_t p = 0; p < NP; p++) {
        random_words(pat[p], sizeof(pat[p]), true);
        bind(x, p, pat[p]);
        bound[p] = true;
    }
    check_random_keys(x, pat, bound, NP);
    for (size_t p = 0; p < NP; p += 2) {
        exch_unbind_queue(x, Q(p), view_str(pat[p]), NOARGS);
        bound[p] = false;
    }
    check_random_keys(x, pat, bound, NP);
    exch_destroy(x);
}

static void test_topic_queue_routed_once_for_many_matches(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);

    (void)state;
    bind(x, 1, "#");
    bind(x, 1, "a.*");
    bind(x, 1, "a.b");
    bind(x, 1, "#.#.b");
    bind(x, 2, "a.b");
    route_visits(x, "a.b");
    assert_int_equal(rs.n, 2);
    assert_true(rs_has(1) && rs_has(2));
    exch_destroy(x);
}

/* ---- cost, counted in trie nodes entered ---- */

static void bind_literals(struct exch *x, size_t n)
{
    char key[32];

    for (size_t i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "stock.nyse.k%zu", i);
        bind(x, i % 64, key);
    }
}

static void test_topic_cost_independent_of_binding_count(void **state)
{
    struct exch *few = exch_create(VIEW_LIT("few"), EXCH_TOPIC, 0, NOARGS);
    struct exch *many = exch_create(VIEW_LIT("many"), EXCH_TOPIC, 0, NOARGS);
    unsigned long v_few, v_many;

    (void)state;
    bind_literals(few, 10);
    bind_literals(many, 10000);
    v_few = route_visits(few, "stock.nyse.k5");
    assert_int_equal(rs.n, 1);
    v_many = route_visits(many, "stock.nyse.k5");
    assert_int_equal(rs.n, 1);
    assert_int_equal(v_few, v_many);
    assert_int_equal(v_few, 4); /* root and one node per word */
    assert_int_equal(route_visits(few, "stock.lse.k5"), route_visits(many, "stock.lse.k5"));
    assert_int_equal(rs.n, 0);
    exch_destroy(few);
    exch_destroy(many);
}

/* "#.#.#..." would be exponential in the key length without the memo; the
 * walk must stay within (nodes) x (words) up to a small constant. */
static void test_topic_cost_polynomial_for_hash_chains(void **state)
{
    static const char *const pats[] = {
        "#.#.#.#.#.#.#.#.#.#.#.#",
        "#.a.#.a.#.a.#.a.#.b",
        "*.#.*.#.*.#.*.#",
        "#.a.#.#.a.#.c",
    };
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);
    char key[512];
    size_t nodes = 1, words = 200, len = 0;
    unsigned long v;

    (void)state;
    for (size_t p = 0; p < ARRAY_LEN(pats); p++) {
        bind(x, p, pats[p]);
        for (const char *s = pats[p]; *s; s++)
            nodes += *s == '.';
        nodes++;
    }
    for (size_t i = 0; i < words; i++)
        len += (size_t)snprintf(key + len, sizeof(key) - len, i ? ".a" : "a");
    v = route_visits(x, key);
    assert_true(v <= 4 * nodes * (words + 2));
    for (size_t p = 0; p < ARRAY_LEN(pats); p++)
        assert_int_equal(rs_has(p), exch_topic_match(view_str(pats[p]), view_str(key)));
    exch_destroy(x);
}

/* Unbinding prunes: once every binding is gone the walk enters the root only. */
static void test_topic_unbind_prunes_trie(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);

    (void)state;
    for (size_t p = 0; p < ARRAY_LEN(patterns); p++)
        bind(x, p, patterns[p]);
    assert_true(route_visits(x, "a.b.c") > 1);
    for (size_t p = 0; p < ARRAY_LEN(patterns); p++)
        exch_unbind_queue(x, Q(p), view_str(patterns[p]), NOARGS);
    assert_int_equal(exch_binding_count(x), 0);
    assert_int_equal(route_visits(x, "a.b.c"), 1);
    assert_int_equal(route_visits(x, ""), 1);
    bind(x, 1, "a.b");
    assert_int_equal(route_visits(x, "a.b"), 3);
    assert_true(rs_has(1));
    exch_destroy(x);
}

/* A key far longer than any shortstr (CC values are longstr) still routes. */
static void test_topic_long_key(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);
    size_t n = 100000;
    char *key = malloc(2 * n);

    (void)state;
    assert_non_null(key);
    for (size_t i = 0; i < n; i++) {
        key[2 * i] = 'w';
        key[2 * i + 1] = '.';
    }
    key[2 * n - 1] = '\0';
    bind(x, 1, "#.w");
    bind(x, 2, "w.#");
    bind(x, 3, "w.*");
    bind(x, 4, "*.#.*.w");
    route_visits(x, key);
    assert_int_equal(rs.n, 3);
    assert_true(rs_has(1) && rs_has(2) && rs_has(4));
    free(key);
    exch_destroy(x);
}

static void test_topic_destroy_with_bindings(void **state)
{
    struct exch *x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, NOARGS);

    (void)state;
    for (size_t p = 0; p < ARRAY_LEN(patterns); p++)
        bind(x, p, patterns[p]);
    exch_destroy(x);
    for (size_t p = 0; p < ARRAY_LEN(patterns); p++)
        assert_false(exch_queue_is_bound(Q(p)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_match_empty_key_has_no_words),
        cmocka_unit_test(test_topic_match_empty_words),
        cmocka_unit_test(test_topic_match_star_is_one_word),
        cmocka_unit_test(test_topic_match_hash_is_any_words),
        cmocka_unit_test(test_topic_match_star_and_hash_together),
        cmocka_unit_test(test_topic_match_partial_wildcards_are_literal),
        cmocka_unit_test_teardown(test_topic_trie_agrees_with_reference_per_pattern, teardown),
        cmocka_unit_test_teardown(test_topic_trie_agrees_with_reference_all_patterns, teardown),
        cmocka_unit_test_teardown(test_topic_trie_random_differential, teardown),
        cmocka_unit_test_teardown(test_topic_queue_routed_once_for_many_matches, teardown),
        cmocka_unit_test_teardown(test_topic_cost_independent_of_binding_count, teardown),
        cmocka_unit_test_teardown(test_topic_cost_polynomial_for_hash_chains, teardown),
        cmocka_unit_test_teardown(test_topic_unbind_prunes_trie, teardown),
        cmocka_unit_test_teardown(test_topic_long_key, teardown),
        cmocka_unit_test_teardown(test_topic_destroy_with_bindings, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
