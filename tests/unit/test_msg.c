/* SPDX-License-Identifier: MIT */
/* Unit tests for broker/msg.c: one refcounted allocation per message, props decoded once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/msg.h"

/* ---- helpers ---- */

/* Encoded properties (flag word + fields) in a caller-owned buffer. */
struct props {
    uint8_t p[1024];
    size_t n;
};

static struct props encode(const struct spec_basic_props *pr)
{
    struct props out;

    assert_true(spec_props_size(pr) <= sizeof(out.p));
    out.n = spec_encode_props(pr, out.p);
    return out;
}

static struct view pv(const struct props *p)
{
    return (struct view){p->p, p->n};
}

static struct msg *with_props(const struct spec_basic_props *pr)
{
    struct props p = encode(pr);
    struct msg *m = msg_create(VIEW_LIT("ex"), VIEW_LIT("rk"), pv(&p), 0);

    assert_non_null(m);
    return m;
}

static struct msg *with_expiration(const char *s)
{
    struct spec_basic_props pr = {.flags = SPEC_PROP_EXPIRATION, .expiration = view_str(s)};
    return with_props(&pr);
}

/* Runs fn in a child and reports whether it died of SIGABRT. */
static bool aborts(void (*fn)(void))
{
    pid_t pid;
    int status;

    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* Keep the expected abort quiet. */
        if (!freopen("/dev/null", "w", stderr))
            _exit(2);
        fn();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

/* ---- tests ---- */

static void test_msg_create_copies_names_props_and_body(void **state)
{
    struct spec_basic_props pr = {.flags = SPEC_PROP_CONTENT_TYPE,
                                  .content_type = VIEW_LIT("text/plain")};
    struct props p = encode(&pr);
    char ex[] = "amq.direct", rk[] = "key";
    struct msg *m = msg_create(view_str(ex), view_str(rk), pv(&p), 11);

    (void)state;
    assert_non_null(m);
    /* the message owns copies */
    memset(ex, 'x', sizeof(ex) - 1);
    memset(rk, 'x', sizeof(rk) - 1);
    memset(p.p, 0, p.n);
    assert_true(view_eq_str(msg_exchange(m), "amq.direct"));
    assert_true(view_eq_str(msg_routing_key(m), "key"));
    assert_int_equal(msg_props(m).n, p.n);
    assert_int_equal(get_be16(msg_props(m).p), SPEC_PROP_CONTENT_TYPE);
    assert_int_equal(msg_body_size(m), 11);
    assert_false(msg_is_complete(m));
    msg_append_body(m, VIEW_LIT("hello "));
    assert_false(msg_is_complete(m));
    msg_append_body(m, VIEW_LIT("world"));
    assert_true(msg_is_complete(m));
    assert_true(view_eq_str(msg_body(m), "hello world"));
    msg_unref(&m);
}

static void test_msg_empty_body_is_complete_at_once(void **state)
{
    struct msg *m = msg_create(VIEW_LIT(""), VIEW_LIT(""), VIEW_LIT("\0\0"), 0);

    (void)state;
    assert_non_null(m);
    assert_true(msg_is_complete(m));
    assert_int_equal(msg_body(m).n, 0);
    assert_int_equal(msg_exchange(m).n, 0);
    msg_unref(&m);
}

static void test_msg_create_refuses_impossible_body_size(void **state)
{
    (void)state;
    assert_null(msg_create(VIEW_LIT("e"), VIEW_LIT("r"), VIEW_LIT("\0\0"), UINT64_MAX));
    assert_null(msg_create(VIEW_LIT("e"), VIEW_LIT("r"), VIEW_LIT("\0\0"), UINT64_MAX - 16));
}

static void test_msg_refcount_frees_at_zero_and_clears_pointer(void **state)
{
    struct msg *m = msg_create(VIEW_LIT("e"), VIEW_LIT("r"), VIEW_LIT("\0\0"), 0);
    struct msg *a, *b;

    (void)state;
    assert_int_equal(msg_refs(m), 1);
    a = msg_ref(m);
    b = msg_ref(m);
    assert_ptr_equal(a, m);
    assert_int_equal(msg_refs(m), 3);
    msg_unref(&a);
    assert_null(a);
    assert_int_equal(msg_refs(m), 2);
    msg_unref(&b);
    assert_int_equal(msg_refs(m), 1);
    msg_unref(&m); /* freed here: ASan reports a leak otherwise */
    assert_null(m);
}

static void test_msg_unref_null_is_noop(void **state)
{
    struct msg *m = NULL;

    (void)state;
    msg_unref(&m);
    assert_null(m);
}

static void append_too_much(void)
{
    struct msg *m = msg_create(VIEW_LIT("e"), VIEW_LIT("r"), VIEW_LIT("\0\0"), 2);

    msg_append_body(m, VIEW_LIT("abc"));
}

static void test_msg_append_beyond_declared_size_aborts(void **state)
{
    (void)state;
    assert_true(aborts(append_too_much));
}

static void long_exchange(void)
{
    char name[300];

    memset(name, 'a', sizeof(name));
    msg_create((struct view){(const uint8_t *)name, sizeof(name)}, VIEW_LIT("r"), VIEW_LIT("\0\0"),
               0);
}

static void test_msg_exchange_longer_than_shortstr_aborts(void **state)
{
    (void)state;
    assert_true(aborts(long_exchange));
}

static void test_msg_no_props_defaults(void **state)
{
    struct spec_basic_props pr = {0};
    struct msg *m = with_props(&pr);

    (void)state;
    assert_int_equal(msg_priority(m), 0);
    assert_false(msg_is_persistent(m));
    assert_int_equal(msg_expiration_ms(m), -1);
    assert_int_equal(msg_headers(m).n, 0);
    msg_unref(&m);
}

static void test_msg_priority_and_persistence_decoded(void **state)
{
    struct spec_basic_props pr = {
        .flags = SPEC_PROP_PRIORITY | SPEC_PROP_DELIVERY_MODE, .priority = 7, .delivery_mode = 2};
    struct spec_basic_props transient = {.flags = SPEC_PROP_DELIVERY_MODE, .delivery_mode = 1};
    struct msg *m = with_props(&pr), *t = with_props(&transient);

    (void)state;
    assert_int_equal(msg_priority(m), 7);
    assert_true(msg_is_persistent(m));
    assert_int_equal(msg_priority(t), 0);
    assert_false(msg_is_persistent(t));
    msg_unref(&m);
    msg_unref(&t);
}

static void test_msg_expiration_parsed_like_rabbitmq(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"60000", 60000},
        {"+5", 5},
        {"-0", 0},
        {"007", 7},
        {"315360000000", INT64_C(315360000000)},
        {"315360000001", -1},
        {"99999999999999999999999", -1},
        {"-1", -1},
        {"", -1},
        {"+", -1},
        {"abc", -1},
        {"1.5", -1},
        {" 5", -1},
        {"5 ", -1},
        {"1e3", -1},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct msg *m = with_expiration(cases[i].s);
        if (msg_expiration_ms(m) != cases[i].ms)
            fail_msg("expiration \"%s\": got %lld, want %lld", cases[i].s,
                     (long long)msg_expiration_ms(m), (long long)cases[i].ms);
        msg_unref(&m);
    }
}

static void test_msg_headers_is_view_into_stored_props(void **state)
{
    struct buf hb = {0};
    size_t off = table_open(&hb);
    struct spec_basic_props pr = {.flags = SPEC_PROP_HEADERS | SPEC_PROP_PRIORITY, .priority = 3};
    struct msg *m;
    struct view h, props;
    struct table_value v;
    size_t hn;

    (void)state;
    table_put_longstr(&hb, "x-trace", VIEW_LIT("abc"));
    table_put_i32(&hb, "n", 42);
    table_close(&hb, off);
    hn = hb.len - 4;
    pr.headers = (struct view){hb.p + 4, hn};
    m = with_props(&pr);
    buf_free(&hb); /* the message must not point into the caller's bytes */

    h = msg_headers(m);
    props = msg_props(m);
    assert_int_equal(h.n, hn);
    assert_true(h.p > props.p && h.p + h.n <= props.p + props.n);
    assert_true(table_get(h, "x-trace", &v));
    assert_true(view_eq_str(v.v.str, "abc"));
    assert_true(table_get(h, "n", &v));
    assert_int_equal(v.v.i, 42);
    assert_int_equal(msg_priority(m), 3);
    msg_unref(&m);
}

static void test_msg_undecodable_props_read_as_none(void **state)
{
    /* Flag word announces a priority octet that is missing. */
    static const uint8_t bad[] = {0x08, 0x00};
    struct msg *m = msg_create(VIEW_LIT("e"), VIEW_LIT("r"), (struct view){bad, sizeof(bad)}, 0);

    (void)state;
    assert_non_null(m);
    assert_int_equal(msg_priority(m), 0);
    assert_int_equal(msg_expiration_ms(m), -1);
    assert_int_equal(msg_headers(m).n, 0);
    /* kept as received */
    assert_int_equal(msg_props(m).n, 2);
    msg_unref(&m);
}

static void test_msg_store_id(void **state)
{
    struct msg *m = msg_create(VIEW_LIT("e"), VIEW_LIT("r"), VIEW_LIT("\0\0"), 0);

    (void)state;
    assert_int_equal(msg_store_id(m), 0);
    msg_set_store_id(m, 99);
    assert_int_equal(msg_store_id(m), 99);
    msg_unref(&m);
}

static void test_msg_mem_size_counts_header_and_data(void **state)
{
    struct msg *m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), VIEW_LIT("\0\0"), 16);
    size_t header;

    (void)state;
    header = msg_mem_size(m) - 1 - 2 - 16;
    /* the per-message overhead of a deep queue of small messages */
    assert_true(header <= 64);
    print_message("msg header %zu bytes; a 16-byte message costs %zu bytes\n", header,
                  msg_mem_size(m));
    msg_unref(&m);
}

/* ---- stubs (paging) ---- */

static struct msg *full_message(void)
{
    struct spec_basic_props pr = {.flags = SPEC_PROP_PRIORITY | SPEC_PROP_DELIVERY_MODE |
                                           SPEC_PROP_EXPIRATION | SPEC_PROP_HEADERS,
                                  .priority = 7,
                                  .delivery_mode = 2,
                                  .expiration = VIEW_LIT("5000")};
    struct buf hb = {0};
    struct props p;
    struct msg *m;

    table_put_longstr(&hb, "k", VIEW_LIT("v"));
    pr.headers = (struct view){hb.p, hb.len};
    p = encode(&pr);
    buf_free(&hb);
    m = msg_create(VIEW_LIT("amq.topic"), VIEW_LIT("a.b"), pv(&p), 5);
    assert_non_null(m);
    msg_append_body(m, VIEW_LIT("hello"));
    msg_set_store_id(m, 42);
    return m;
}

static const struct msg *released[4];
static size_t nreleased;

static void on_release(const struct msg *stub)
{
    released[nreleased++] = stub;
}

static void test_msg_stub_keeps_the_header(void **state)
{
    struct msg *m = full_message(), *s;

    (void)state;
    s = msg_stub_create(m, MSG_PAGED_SPILL, 0x123456789);
    assert_int_equal(msg_paged(m), MSG_RESIDENT);
    assert_int_equal(msg_paged(s), MSG_PAGED_SPILL);
    assert_int_equal(msg_page_loc(s), 0x123456789);
    assert_int_equal(msg_body_size(s), 5);
    assert_int_equal(msg_priority(s), 7);
    assert_true(msg_is_persistent(s));
    assert_int_equal(msg_expiration_ms(s), 5000);
    assert_int_equal(msg_store_id(s), 42);
    assert_true(msg_is_complete(s));
    assert_int_equal(msg_refs(s), 1);
    assert_int_equal(msg_data_len(s), msg_data_len(m));
    /* A stub is the header alone. */
    assert_true(msg_mem_size(s) < msg_mem_size(m));
    assert_true(msg_mem_size(s) <= 56);
    msg_unref(&s);
    msg_unref(&m);
}

static void test_msg_unstub_restores_every_part(void **state)
{
    struct msg *m = full_message(), *s, *back;
    struct view d = msg_data(m);
    uint8_t *data;
    struct table_value v;

    (void)state;
    assert_int_equal(d.n, 9 + 3 + msg_props(m).n + 5);
    s = msg_stub_create(m, MSG_PAGED_STORE, 0);
    back = msg_unstub(s, &data);
    memcpy(data, d.p, d.n);
    assert_int_equal(msg_paged(back), MSG_RESIDENT);
    assert_true(msg_is_complete(back));
    assert_int_equal(msg_refs(back), 1);
    assert_true(view_eq_str(msg_exchange(back), "amq.topic"));
    assert_true(view_eq_str(msg_routing_key(back), "a.b"));
    assert_true(view_eq(msg_props(back), msg_props(m)));
    assert_true(view_eq_str(msg_body(back), "hello"));
    assert_true(table_get(msg_headers(back), "k", &v));
    assert_int_equal(msg_priority(back), 7);
    assert_int_equal(msg_store_id(back), 42);
    msg_unref(&back);
    msg_unref(&s);
    msg_unref(&m);
}

static void test_msg_stub_new_decodes_props(void **state)
{
    struct msg *m = full_message(), *s;

    (void)state;
    s = msg_stub_new(msg_exchange(m), msg_routing_key(m), msg_props(m), 5, MSG_PAGED_STORE, 0);
    assert_int_equal(msg_priority(s), 7);
    assert_true(msg_is_persistent(s));
    assert_int_equal(msg_expiration_ms(s), 5000);
    assert_int_equal(msg_data_len(s), msg_data_len(m));
    msg_unref(&s);
    msg_unref(&m);
}

static void test_msg_release_hook_sees_the_last_stub_reference(void **state)
{
    struct msg *m = full_message(), *s, *s2;

    (void)state;
    nreleased = 0;
    msg_set_stub_release(on_release);
    s = msg_stub_create(m, MSG_PAGED_SPILL, 9);
    s2 = msg_ref(s);
    msg_unref(&s);
    assert_int_equal(nreleased, 0);
    msg_unref(&s2);
    assert_int_equal(nreleased, 1);
    /* Resident messages never reach the hook. */
    msg_unref(&m);
    assert_int_equal(nreleased, 1);
    msg_set_stub_release(NULL);
}

static struct msg *abort_stub;

static void body_of_stub(void)
{
    (void)msg_body(abort_stub);
}

static void test_msg_body_of_a_stub_aborts(void **state)
{
    struct msg *m = full_message();

    (void)state;
    abort_stub = msg_stub_create(m, MSG_PAGED_SPILL, 1);
    assert_true(aborts(body_of_stub));
    msg_unref(&abort_stub);
    msg_unref(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_msg_create_copies_names_props_and_body),
        cmocka_unit_test(test_msg_empty_body_is_complete_at_once),
        cmocka_unit_test(test_msg_create_refuses_impossible_body_size),
        cmocka_unit_test(test_msg_refcount_frees_at_zero_and_clears_pointer),
        cmocka_unit_test(test_msg_unref_null_is_noop),
        cmocka_unit_test(test_msg_append_beyond_declared_size_aborts),
        cmocka_unit_test(test_msg_exchange_longer_than_shortstr_aborts),
        cmocka_unit_test(test_msg_no_props_defaults),
        cmocka_unit_test(test_msg_priority_and_persistence_decoded),
        cmocka_unit_test(test_msg_expiration_parsed_like_rabbitmq),
        cmocka_unit_test(test_msg_headers_is_view_into_stored_props),
        cmocka_unit_test(test_msg_undecodable_props_read_as_none),
        cmocka_unit_test(test_msg_store_id),
        cmocka_unit_test(test_msg_mem_size_counts_header_and_data),
        cmocka_unit_test(test_msg_stub_keeps_the_header),
        cmocka_unit_test(test_msg_unstub_restores_every_part),
        cmocka_unit_test(test_msg_stub_new_decodes_props),
        cmocka_unit_test(test_msg_release_hook_sees_the_last_stub_reference),
        cmocka_unit_test(test_msg_body_of_a_stub_aborts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
