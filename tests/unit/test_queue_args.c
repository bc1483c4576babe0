/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for queue/args.c through queue_create and queue_check_equivalent:
 * RabbitMQ's argument validation and redeclare equivalence, with its texts.
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
#include "queue/queue.h"
#include "queue/queue_int.h"

/* ---- helpers ---- */

struct kv {
    const char *key;
    struct table_value v;
};

#define I32(x)                                                                                     \
    {                                                                                              \
        .type = TABLE_I32, .v.i = (x)                                                              \
    }
#define I64(x)                                                                                     \
    {                                                                                              \
        .type = TABLE_I64, .v.i = (x)                                                              \
    }
#define I8(x)                                                                                      \
    {                                                                                              \
        .type = TABLE_I8, .v.i = (x)                                                               \
    }
#define I16(x)                                                                                     \
    {                                                                                              \
        .type = TABLE_I16, .v.i = (x)                                                              \
    }
#define U8(x)                                                                                      \
    {                                                                                              \
        .type = TABLE_U8, .v.u = (x)                                                               \
    }
#define U16(x)                                                                                     \
    {                                                                                              \
        .type = TABLE_U16, .v.u = (x)                                                              \
    }
#define U32(x)                                                                                     \
    {                                                                                              \
        .type = TABLE_U32, .v.u = (x)                                                              \
    }
#define TS(x)                                                                                      \
    {                                                                                              \
        .type = TABLE_TIMESTAMP, .v.u = (x)                                                        \
    }
#define DBL(x)                                                                                     \
    {                                                                                              \
        .type = TABLE_DOUBLE, .v.d = (x)                                                           \
    }
#define BOOL(x)                                                                                    \
    {                                                                                              \
        .type = TABLE_BOOL, .v.b = (x)                                                             \
    }
#define STR(s)                                                                                     \
    {                                                                                              \
        .type = TABLE_LONGSTR, .v.str = VIEW_LIT(s)                                                \
    }
#define BIN(s)                                                                                     \
    {                                                                                              \
        .type = TABLE_BYTES, .v.str = VIEW_LIT(s)                                                  \
    }

#define MAX_KV 3

/* An argument table built from up to MAX_KV entries (key NULL ends). */
struct args {
    struct buf b;
};

static struct args make_args(const struct kv *kv)
{
    struct args a = {{0}};
    size_t off = table_open(&a.b);

    for (size_t i = 0; i < MAX_KV && kv[i].key; i++)
        table_put_raw(&a.b, kv[i].key, &kv[i].v);
    table_close(&a.b, off);
    assert_int_equal(table_check((struct view){a.b.p + 4, a.b.len - 4}), 0);
    return a;
}

static struct view args_view(const struct args *a)
{
    return (struct view){a->b.p + 4, a->b.len - 4};
}

static void args_free(struct args *a)
{
    buf_free(&a->b);
}

/* Creates queue 'q' in vhost '/' with the given entries; NULL on refusal. */
static struct queue *create(const struct kv *kv, unsigned flags, uint64_t owner,
                            struct proto_err *err)
{
    struct args a = make_args(kv);
    struct queue *q = queue_create(VIEW_LIT("/"), VIEW_LIT("q"), flags, args_view(&a), owner, err);

    args_free(&a);
    return q;
}

static void destroy(struct queue *q)
{
    if (!q)
        return;
    queue_delete(q);
    queue_unref(&q);
}

/* ---- validation, table-driven ---- */

struct arg_case {
    struct kv kv[MAX_KV];
    unsigned flags;
    const char *text; /* NULL: accepted */
};

#define DUR QUEUE_F_DURABLE

static const struct arg_case arg_cases[] = {
    /* x-max-priority: 0..255, any integer type */
    {{{"x-max-priority", I32(-1)}},
     0,
     "invalid arg 'x-max-priority' for queue 'q' in vhost '/': {value_negative,-1}"},
    {{{"x-max-priority", I32(256)}},
     0,
     "invalid arg 'x-max-priority' for queue 'q' in vhost '/': {max_value_exceeded,256}"},
    {{{"x-max-priority", U8(255)}}, 0, NULL},
    {{{"x-max-priority", I8(0)}}, 0, NULL},
    {{{"x-max-priority", STR("10")}},
     0,
     "invalid arg 'x-max-priority' for queue 'q' in vhost '/': \"expected integer, got longstr\""},
    {{{"x-max-priority", TS(10)}},
     0,
     "invalid arg 'x-max-priority' for queue 'q' in vhost '/': \"expected integer, got "
     "timestamp\""},
    /* x-message-ttl: 0..10 years */
    {{{"x-message-ttl", I64(-5)}},
     0,
     "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_negative,-5}"},
    {{{"x-message-ttl", I64(315360000001)}},
     0,
     "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': {value_too_large,315360000001}"},
    {{{"x-message-ttl", I64(315360000000)}}, 0, NULL},
    {{{"x-message-ttl", I32(0)}}, 0, NULL},
    {{{"x-message-ttl", DBL(1.5)}},
     0,
     "invalid arg 'x-message-ttl' for queue 'q' in vhost '/': \"expected integer, got double\""},
    /* x-expires: positive */
    {{{"x-expires", I32(0)}},
     0,
     "invalid arg 'x-expires' for queue 'q' in vhost '/': {value_zero,0}"},
    {{{"x-expires", I32(-1)}},
     0,
     "invalid arg 'x-expires' for queue 'q' in vhost '/': {value_negative,-1}"},
    {{{"x-expires", I16(1000)}}, 0, NULL},
    {{{"x-expires", BOOL(true)}},
     0,
     "invalid arg 'x-expires' for queue 'q' in vhost '/': \"expected integer, got bool\""},
    /* x-max-length, x-max-length-bytes: non-negative */
    {{{"x-max-length", I8(-1)}},
     0,
     "invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-1}"},
    {{{"x-max-length", U16(10)}}, 0, NULL},
    {{{"x-max-length-bytes", U32(0)}}, 0, NULL},
    {{{"x-max-length-bytes", STR("1MB")}},
     0,
     "invalid arg 'x-max-length-bytes' for queue 'q' in vhost '/': \"expected integer, got "
     "longstr\""},
    /* x-overflow */
    {{{"x-overflow", STR("drop-head")}}, 0, NULL},
    {{{"x-overflow", STR("reject-publish")}}, 0, NULL},
    {{{"x-overflow", STR("reject-publish-dlx")}}, 0, NULL},
    {{{"x-overflow", STR("drop-tail")}},
     0,
     "invalid arg 'x-overflow' for queue 'q' in vhost '/': invalid_overflow"},
    {{{"x-overflow", I32(1)}},
     0,
     "invalid arg 'x-overflow' for queue 'q' in vhost '/': {unacceptable_type,signedint}"},
    /* dead lettering */
    {{{"x-dead-letter-exchange", STR("dlx")}}, 0, NULL},
    {{{"x-dead-letter-exchange", I32(5)}},
     0,
     "invalid arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': "
     "{unacceptable_type,signedint}"},
    {{{"x-dead-letter-routing-key", STR("rk")}},
     0,
     "invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': "
     "routing_key_but_no_dlx_defined"},
    {{{"x-dead-letter-routing-key", STR("rk")}, {"x-dead-letter-exchange", STR("")}}, 0, NULL},
    {{{"x-dead-letter-exchange", STR("d")}, {"x-dead-letter-routing-key", BOOL(true)}},
     0,
     "invalid arg 'x-dead-letter-routing-key' for queue 'q' in vhost '/': "
     "{unacceptable_type,bool}"},
    {{{"x-dead-letter-exchange", BIN("d")}},
     0,
     "invalid arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': {unacceptable_type,binary}"},
    /* x-single-active-consumer */
    {{{"x-single-active-consumer", BOOL(true)}}, 0, NULL},
    {{{"x-single-active-consumer", I32(1)}},
     0,
     "invalid arg 'x-single-active-consumer' for queue 'q' in vhost '/': "
     "{unacceptable_type,signedint}"},
    {{{"x-single-active-consumer", STR("true")}},
     0,
     "invalid arg 'x-single-active-consumer' for queue 'q' in vhost '/': "
     "{unacceptable_type,longstr}"},
    /* x-queue-type */
    {{{"x-queue-type", STR("classic")}}, 0, NULL},
    {{{"x-queue-type", STR("quorum")}}, DUR, NULL},
    {{{"x-queue-type", STR("foo")}},
     0,
     "invalid arg 'x-queue-type' for queue 'q' in vhost '/': \"unsupported queue type 'foo'\""},
    {{{"x-queue-type", STR("stream")}},
     DUR,
     "invalid arg 'x-queue-type' for queue 'q' in vhost '/': \"unsupported queue type "
     "'stream'\""},
    {{{"x-queue-type", I32(1)}},
     0,
     "invalid arg 'x-queue-type' for queue 'q' in vhost '/': {unacceptable_type,signedint}"},
    /* quorum queues: properties, and the argument set of their type */
    {{{"x-queue-type", STR("quorum")}},
     0,
     "invalid property 'non-durable' for queue 'q' in vhost '/'"},
    {{{"x-queue-type", STR("quorum")}},
     DUR | QUEUE_F_AUTO_DELETE,
     "invalid property 'auto-delete' for queue 'q' in vhost '/'"},
    {{{"x-queue-type", STR("quorum")}},
     DUR | QUEUE_F_EXCLUSIVE,
     "invalid property 'exclusive-owner' for queue 'q' in vhost '/'"},
    {{{"x-queue-type", STR("quorum")}, {"x-delivery-limit", I32(5)}}, DUR, NULL},
    {{{"x-queue-type", STR("quorum")}, {"x-delivery-limit", STR("any")}}, DUR, NULL},
    {{{"x-queue-type", STR("quorum")}, {"x-dead-letter-strategy", STR("at-least-once")}},
     DUR,
     NULL},
    {{{"x-queue-type", STR("quorum")}, {"x-dead-letter-strategy", STR("foo")}},
     DUR,
     "invalid arg 'x-dead-letter-strategy' for queue 'q' in vhost '/': invalid_dlx_strategy"},
    {{{"x-queue-type", STR("quorum")}, {"x-quorum-initial-group-size", I32(0)}},
     DUR,
     "invalid arg 'x-quorum-initial-group-size' for queue 'q' in vhost '/': {value_zero,0}"},
    {{{"x-queue-type", STR("quorum")}, {"x-max-priority", I32(5)}},
     DUR,
     "invalid arg 'x-max-priority' for queue 'q' in vhost '/' of queue type rabbit_quorum_queue"},
    {{{"x-delivery-limit", I32(5)}},
     0,
     "invalid arg 'x-delivery-limit' for queue 'q' in vhost '/' of queue type "
     "rabbit_classic_queue"},
    {{{"x-max-age", STR("1D")}},
     0,
     "invalid arg 'x-max-age' for queue 'q' in vhost '/' of queue type rabbit_classic_queue"},
    /* classic-only extras */
    {{{"x-queue-mode", STR("lazy")}}, 0, NULL},
    {{{"x-queue-mode", STR("fast")}},
     0,
     "invalid arg 'x-queue-mode' for queue 'q' in vhost '/': \"unsupported queue mode 'fast'\""},
    {{{"x-queue-version", I32(2)}}, 0, NULL},
    {{{"x-queue-version", I32(3)}},
     0,
     "invalid arg 'x-queue-version' for queue 'q' in vhost '/': \"unsupported queue version "
     "'3'\""},
    {{{"x-queue-version", I32(-1)}},
     0,
     "invalid arg 'x-queue-version' for queue 'q' in vhost '/': {value_negative,-1}"},
    {{{"x-queue-leader-locator", STR("balanced")}}, 0, NULL},
    {{{"x-queue-leader-locator", STR("random")}},
     0,
     "invalid arg 'x-queue-leader-locator' for queue 'q' in vhost '/': invalid_queue_locator_arg"},
    {{{"x-queue-master-locator", STR("min-masters")}}, 0, NULL},
    /* unknown arguments are kept and ignored */
    {{{"x-foo", STR("bar")}, {"", I32(1)}}, 0, NULL},
    /* validators run in RabbitMQ's order, not the table's */
    {{{"x-max-priority", I32(-1)}, {"x-expires", I32(0)}},
     0,
     "invalid arg 'x-expires' for queue 'q' in vhost '/': {value_zero,0}"},
    /* a bad value is reported before an argument of another queue type */
    {{{"x-delivery-limit", I32(1)}, {"x-max-length", I32(-2)}},
     0,
     "invalid arg 'x-max-length' for queue 'q' in vhost '/': {value_negative,-2}"},
};

static void test_queue_args_validation_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(arg_cases); i++) {
        const struct arg_case *c = &arg_cases[i];
        struct proto_err err = {0};
        struct queue *q = create(c->kv, c->flags, 1, &err);

        if (!c->text) {
            if (!q)
                fail_msg("case %zu (%s) refused: %s", i, c->kv[0].key, err.text);
            destroy(q);
            continue;
        }
        if (q)
            fail_msg("case %zu (%s) accepted, wanted: %s", i, c->kv[0].key, c->text);
        assert_int_equal(err.code, SPEC_PRECONDITION_FAILED);
        assert_string_equal(err.text, c->text);
    }
}

static void test_queue_args_parsed_values(void **state)
{
    struct queue__args a;
    struct proto_err err = {0};
    struct kv kv[MAX_KV] = {{"x-max-priority", U8(9)},
                            {"x-dead-letter-exchange", STR("dlx")},
                            {"x-dead-letter-routing-key", STR("rk")}};
    struct args t = make_args(kv);

    (void)state;
    assert_int_equal(queue__args_parse(&a, args_view(&t), "/", "q", &err), 0);
    assert_int_equal(a.type, QUEUE__TYPE_CLASSIC);
    assert_true(a.has_max_priority);
    assert_int_equal(a.max_priority, 9);
    assert_true(a.has_dlx && view_eq_str(a.dlx, "dlx"));
    assert_true(a.has_dlrk && view_eq_str(a.dlrk, "rk"));
    assert_int_equal(a.message_ttl, -1);
    assert_int_equal(a.expires, -1);
    assert_int_equal(a.max_length, -1);
    assert_int_equal(a.max_length_bytes, -1);
    assert_int_equal(a.overflow, QUEUE__OVERFLOW_DROP_HEAD);
    assert_false(a.single_active);
    args_free(&t);
}

static void test_queue_args_parsed_limits(void **state)
{
    struct queue__args a;
    struct proto_err err = {0};
    struct kv kv[MAX_KV] = {{"x-message-ttl", I32(60000)},
                            {"x-max-length", I64(100)},
                            {"x-overflow", STR("reject-publish")}};
    struct kv kv2[MAX_KV] = {{"x-expires", U32(5000)},
                             {"x-max-length-bytes", I16(4096)},
                             {"x-single-active-consumer", BOOL(true)}};
    struct args t = make_args(kv), t2 = make_args(kv2);

    (void)state;
    assert_int_equal(queue__args_parse(&a, args_view(&t), "/", "q", &err), 0);
    assert_int_equal(a.message_ttl, 60000);
    assert_int_equal(a.max_length, 100);
    assert_int_equal(a.overflow, QUEUE__OVERFLOW_REJECT_PUBLISH);
    assert_int_equal(queue__args_parse(&a, args_view(&t2), "/", "q", &err), 0);
    assert_int_equal(a.expires, 5000);
    assert_int_equal(a.max_length_bytes, 4096);
    assert_true(a.single_active);
    args_free(&t);
    args_free(&t2);
}

static void test_queue_args_quorum_parsed(void **state)
{
    struct queue__args a;
    struct proto_err err = {0};
    struct kv kv[MAX_KV] = {{"x-queue-type", STR("quorum")},
                            {"x-delivery-limit", I32(-1)},
                            {"x-dead-letter-strategy", STR("at-least-once")}};
    struct args t = make_args(kv);

    (void)state;
    assert_int_equal(queue__args_parse(&a, args_view(&t), "/", "q", &err), 0);
    assert_int_equal(a.type, QUEUE__TYPE_QUORUM);
    assert_true(a.has_delivery_limit);
    assert_int_equal(a.delivery_limit, -1);
    assert_true(a.dlx_at_least_once);
    args_free(&t);
}

static void test_queue_args_error_text_names_queue_and_vhost(void **state)
{
    struct proto_err err = {0};
    struct kv kv[MAX_KV] = {{"x-max-priority", I32(-1)}};
    struct args t = make_args(kv);
    struct queue *q = queue_create(VIEW_LIT("prod"), VIEW_LIT("jobs"), 0, args_view(&t), 0, &err);

    (void)state;
    assert_null(q);
    assert_string_equal(err.text, "invalid arg 'x-max-priority' for queue 'jobs' in vhost 'prod': "
                                  "{value_negative,-1}");
    args_free(&t);
}

/* ---- equivalence ---- */

struct eq_case {
    struct kv cur[MAX_KV];
    struct kv now[MAX_KV];
    const char *text; /* NULL: equivalent */
};

static const struct eq_case eq_cases[] = {
    {{{"x-max-length", I32(10)}}, {{"x-max-length", I32(10)}}, NULL},
    /* same type class, same value */
    {{{"x-max-length", I32(10)}}, {{"x-max-length", I64(10)}}, NULL},
    {{{"x-max-length", U8(10)}}, {{"x-max-length", I16(10)}}, NULL},
    {{{0}},
     {{"x-max-length", I32(10)}},
     "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received the value '10' of "
     "type 'signedint' but current is none"},
    {{{"x-max-length", I32(10)}},
     {{0}},
     "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received none but current is "
     "the value '10' of type 'signedint'"},
    {{{"x-max-length", I32(10)}},
     {{"x-max-length", I32(20)}},
     "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '20' but current is "
     "'10'"},
    {{{"x-max-length", I32(10)}},
     {{"x-max-length", STR("10")}},
     "inequivalent arg 'x-max-length' for queue 'q' in vhost '/': received '10' but current is "
     "'10'"},
    {{{"x-dead-letter-exchange", STR("a")}},
     {{"x-dead-letter-exchange", STR("b")}},
     "inequivalent arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': received 'b' but "
     "current is 'a'"},
    {{{0}},
     {{"x-dead-letter-exchange", STR("dlx")}},
     "inequivalent arg 'x-dead-letter-exchange' for queue 'q' in vhost '/': received the value "
     "'dlx' of type 'longstr' but current is none"},
    {{{"x-single-active-consumer", BOOL(true)}},
     {{"x-single-active-consumer", BOOL(false)}},
     "inequivalent arg 'x-single-active-consumer' for queue 'q' in vhost '/': received 'false' "
     "but current is 'true'"},
    {{{"x-message-ttl", I32(1000)}},
     {{"x-message-ttl", DBL(1.5)}},
     "inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '1.5' but current "
     "is '1000'"},
    /* the bare values are the same Erlang integer */
    {{{"x-message-ttl", I32(1000)}}, {{"x-message-ttl", TS(1000)}}, NULL},
    /* classic with and without x-queue-type=classic */
    {{{0}}, {{"x-queue-type", STR("classic")}}, NULL},
    {{{"x-queue-type", STR("classic")}}, {{0}}, NULL},
    /* arguments RabbitMQ does not compare */
    {{{"x-foo", I32(1)}}, {{"x-foo", I32(2)}}, NULL},
    {{{0}}, {{"x-delivery-limit", I32(2)}}, NULL},
    /* the first differing key in the type's order */
    {{{"x-max-length", I32(1)}, {"x-expires", I32(5)}},
     {{"x-max-length", I32(2)}, {"x-expires", I32(6)}},
     "inequivalent arg 'x-expires' for queue 'q' in vhost '/': received '6' but current is '5'"},
};

static void test_queue_args_equivalence_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(eq_cases); i++) {
        const struct eq_case *c = &eq_cases[i];
        struct proto_err err = {0};
        struct queue *q = create(c->cur, 0, 0, &err);
        struct args now = make_args(c->now);
        int rc;

        if (!q)
            fail_msg("case %zu: create failed: %s", i, err.text);
        rc = queue_check_equivalent(q, 0, args_view(&now), 0, &err);
        if (!c->text) {
            if (rc != 0)
                fail_msg("case %zu refused: %s", i, err.text);
        } else {
            if (rc == 0)
                fail_msg("case %zu accepted, wanted: %s", i, c->text);
            assert_int_equal(err.code, SPEC_PRECONDITION_FAILED);
            assert_string_equal(err.text, c->text);
        }
        args_free(&now);
        destroy(q);
    }
}

static void test_queue_args_equivalence_durable(void **state)
{
    struct proto_err err = {0};
    struct kv none[MAX_KV] = {{0}};
    struct queue *q = create(none, 0, 0, &err);

    (void)state;
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_DURABLE, (struct view){0}, 0, &err), -1);
    assert_int_equal(err.code, SPEC_PRECONDITION_FAILED);
    assert_string_equal(err.text, "inequivalent arg 'durable' for queue 'q' in vhost '/': "
                                  "received 'true' but current is 'false'");
    destroy(q);
}

static void test_queue_args_equivalence_auto_delete(void **state)
{
    struct proto_err err = {0};
    struct kv none[MAX_KV] = {{0}};
    struct queue *q = create(none, QUEUE_F_DURABLE | QUEUE_F_AUTO_DELETE, 0, &err);

    (void)state;
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_DURABLE, (struct view){0}, 0, &err), -1);
    assert_string_equal(err.text, "inequivalent arg 'auto_delete' for queue 'q' in vhost '/': "
                                  "received 'false' but current is 'true'");
    assert_int_equal(
        queue_check_equivalent(q, QUEUE_F_DURABLE | QUEUE_F_AUTO_DELETE, (struct view){0}, 0, &err),
        0);
    destroy(q);
}

static void test_queue_args_equivalence_durable_checked_before_args(void **state)
{
    struct proto_err err = {0};
    struct kv none[MAX_KV] = {{0}};
    struct kv now[MAX_KV] = {{"x-max-length", I32(1)}};
    struct queue *q = create(none, QUEUE_F_DURABLE, 0, &err);
    struct args t = make_args(now);

    (void)state;
    assert_int_equal(queue_check_equivalent(q, 0, args_view(&t), 0, &err), -1);
    assert_string_equal(err.text, "inequivalent arg 'durable' for queue 'q' in vhost '/': "
                                  "received 'false' but current is 'true'");
    args_free(&t);
    destroy(q);
}

static const char locked_text[] =
    "cannot obtain exclusive access to locked queue 'q' in vhost '/'. It could be originally "
    "declared on another connection or the exclusive property value does not match that of the "
    "original declaration.";

static void test_queue_args_equivalence_exclusive_owner(void **state)
{
    struct proto_err err = {0};
    struct kv none[MAX_KV] = {{0}};
    struct queue *q = create(none, QUEUE_F_EXCLUSIVE, 7, &err);

    (void)state;
    assert_int_equal(queue_owner(q), 7);
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_EXCLUSIVE, (struct view){0}, 7, &err), 0);
    /* another connection */
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_EXCLUSIVE, (struct view){0}, 8, &err), -1);
    assert_int_equal(err.code, SPEC_RESOURCE_LOCKED);
    assert_string_equal(err.text, locked_text);
    /* same connection, but not exclusive this time (strict check) */
    err = (struct proto_err){0};
    assert_int_equal(queue_check_equivalent(q, 0, (struct view){0}, 7, &err), -1);
    assert_int_equal(err.code, SPEC_RESOURCE_LOCKED);
    destroy(q);
}

static void test_queue_args_equivalence_exclusive_redeclare_of_shared_queue(void **state)
{
    struct proto_err err = {0};
    struct kv none[MAX_KV] = {{0}};
    struct queue *q = create(none, 0, 7, &err);

    (void)state;
    assert_int_equal(queue_owner(q), 0); /* owner ignored without QUEUE_F_EXCLUSIVE */
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_EXCLUSIVE, (struct view){0}, 7, &err), -1);
    assert_int_equal(err.code, SPEC_RESOURCE_LOCKED);
    assert_string_equal(err.text, locked_text);
    destroy(q);
}

static void test_queue_args_check_access(void **state)
{
    struct proto_err err = {0};
    struct kv none[MAX_KV] = {{0}};
    struct queue *ex = create(none, QUEUE_F_EXCLUSIVE, 7, &err);
    struct queue *shared = create(none, 0, 0, &err);

    (void)state;
    assert_int_equal(queue_check_access(ex, 7, &err), 0);
    assert_int_equal(queue_check_access(shared, 9, &err), 0);
    assert_int_equal(queue_check_access(ex, 8, &err), -1);
    assert_int_equal(err.code, SPEC_RESOURCE_LOCKED);
    assert_string_equal(err.text, locked_text);
    destroy(ex);
    destroy(shared);
}

static void test_queue_args_equivalence_quorum_compares_delivery_limit(void **state)
{
    struct proto_err err = {0};
    struct kv cur[MAX_KV] = {{"x-queue-type", STR("quorum")}, {"x-delivery-limit", I32(5)}};
    struct kv now[MAX_KV] = {{"x-queue-type", STR("quorum")}, {"x-delivery-limit", I32(6)}};
    struct kv untyped[MAX_KV] = {{"x-delivery-limit", I32(5)}};
    struct queue *q = create(cur, QUEUE_F_DURABLE, 0, &err);
    struct args t = make_args(now), t2 = make_args(untyped);

    (void)state;
    assert_non_null(q);
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_DURABLE, args_view(&t), 0, &err), -1);
    assert_string_equal(err.text, "inequivalent arg 'x-delivery-limit' for queue 'q' in vhost "
                                  "'/': received '6' but current is '5'");
    /* a quorum queue redeclared without x-queue-type is not equivalent */
    assert_int_equal(queue_check_equivalent(q, QUEUE_F_DURABLE, args_view(&t2), 0, &err), -1);
    assert_string_equal(err.text, "inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': "
                                  "received none but current is the value 'quorum' of type "
                                  "'longstr'");
    args_free(&t);
    args_free(&t2);
    destroy(q);
}

static void test_queue_args_stored_copy(void **state)
{
    struct proto_err err = {0};
    struct kv kv[MAX_KV] = {{"x-foo", STR("bar")}};
    struct args t = make_args(kv);
    struct queue *q = queue_create(VIEW_LIT("/"), VIEW_LIT("q"), 0, args_view(&t), 0, &err);
    struct table_value v;

    (void)state;
    assert_true(view_eq(queue_args(q), args_view(&t)));
    assert_ptr_not_equal(queue_args(q).p, args_view(&t).p);
    args_free(&t);
    assert_true(table_get(queue_args(q), "x-foo", &v));
    assert_true(view_eq_str(v.v.str, "bar"));
    destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queue_args_validation_table),
        cmocka_unit_test(test_queue_args_parsed_values),
        cmocka_unit_test(test_queue_args_parsed_limits),
        cmocka_unit_test(test_queue_args_quorum_parsed),
        cmocka_unit_test(test_queue_args_error_text_names_queue_and_vhost),
        cmocka_unit_test(test_queue_args_equivalence_table),
        cmocka_unit_test(test_queue_args_equivalence_durable),
        cmocka_unit_test(test_queue_args_equivalence_auto_delete),
        cmocka_unit_test(test_queue_args_equivalence_durable_checked_before_args),
        cmocka_unit_test(test_queue_args_equivalence_exclusive_owner),
        cmocka_unit_test(test_queue_args_equivalence_exclusive_redeclare_of_shared_queue),
        cmocka_unit_test(test_queue_args_check_access),
        cmocka_unit_test(test_queue_args_equivalence_quorum_compares_delivery_limit),
        cmocka_unit_test(test_queue_args_stored_copy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
