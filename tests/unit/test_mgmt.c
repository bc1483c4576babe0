/* SPDX-License-Identifier: MIT */
/* Unit tests for mgmt/router.c (routes, escapes, query strings, properties_key)
 * and the JSON views of mgmt/ and broker/json_table.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/json_table.h"
#include "mgmt/mgmt_int.h"
#include "mgmt/router.h"
#include "queue/queue.h"

static enum mgmt_route_result route(unsigned method, const char *path, struct mgmt_match *m,
                                    char *scratch)
{
    return mgmt_route(method, path, strlen(path), scratch, 512, m);
}

static void test_router_literal_route(void **state)
{
    struct mgmt_match m;
    char s[512];
    (void)state;
    assert_int_equal(route(MGMT_GET, "/api/overview", &m, s), MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_OVERVIEW);
    assert_int_equal(m.nargs, 0);
}

static void test_router_vhost_slash_stays_in_one_segment(void **state)
{
    struct mgmt_match m;
    char s[512];
    (void)state;
    assert_int_equal(route(MGMT_PUT, "/api/queues/%2F/my%20q", &m, s), MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_QUEUE);
    assert_int_equal(m.nargs, 2);
    assert_true(view_eq_str(m.args[0], "/"));
    assert_true(view_eq_str(m.args[1], "my q"));
}

static void test_router_binding_props(void **state)
{
    struct mgmt_match m;
    char s[512];
    (void)state;
    assert_int_equal(route(MGMT_DELETE, "/api/bindings/v/e/x/q/q1/k~AbCd_-", &m, s),
                     MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_BINDING_EQ);
    assert_int_equal(m.nargs, 4);
    assert_true(view_eq_str(m.args[3], "k~AbCd_-"));
    assert_int_equal(route(MGMT_GET, "/api/bindings/v/e/x/e/y", &m, s), MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_BINDINGS_EE);
}

static void test_router_unknown_path_is_not_found(void **state)
{
    struct mgmt_match m;
    char s[512];
    (void)state;
    assert_int_equal(route(MGMT_GET, "/api/nope", &m, s), MGMT_ROUTE_NOT_FOUND);
    assert_int_equal(route(MGMT_GET, "/api/queues/a/b/c/d", &m, s), MGMT_ROUTE_NOT_FOUND);
    assert_int_equal(route(MGMT_GET, "", &m, s), MGMT_ROUTE_NOT_FOUND);
    assert_int_equal(route(MGMT_GET, "api/overview", &m, s), MGMT_ROUTE_NOT_FOUND);
}

static void test_router_wrong_method_lists_allowed(void **state)
{
    struct mgmt_match m;
    char s[512], allow[96];
    (void)state;
    assert_int_equal(route(MGMT_POST, "/api/queues/%2F/q", &m, s), MGMT_ROUTE_BAD_METHOD);
    mgmt_allow_header(m.allowed, allow, sizeof(allow));
    assert_string_equal(allow, "HEAD, GET, PUT, DELETE, OPTIONS");
    assert_int_equal(route(MGMT_DELETE, "/api/overview", &m, s), MGMT_ROUTE_BAD_METHOD);
    mgmt_allow_header(m.allowed, allow, sizeof(allow));
    assert_string_equal(allow, "HEAD, GET, OPTIONS");
}

static void test_router_head_routes_as_get(void **state)
{
    struct mgmt_match m;
    char s[512];
    (void)state;
    assert_int_equal(route(MGMT_HEAD, "/api/vhosts", &m, s), MGMT_ROUTE_FOUND);
    assert_int_equal(m.id, MGMT_R_VHOSTS);
}

static void test_router_bad_escape(void **state)
{
    struct mgmt_match m;
    char s[512];
    (void)state;
    assert_int_equal(route(MGMT_GET, "/api/queues/%2", &m, s), MGMT_ROUTE_BAD_PATH);
    assert_int_equal(route(MGMT_GET, "/api/queues/%g1/q", &m, s), MGMT_ROUTE_BAD_PATH);
}

static void test_router_small_scratch_is_not_found(void **state)
{
    struct mgmt_match m;
    char s[4];
    (void)state;
    assert_int_equal(mgmt_route(MGMT_GET, "/api/overview", 13, s, sizeof(s), &m),
                     MGMT_ROUTE_NOT_FOUND);
}

static void test_query_get(void **state)
{
    char out[32];
    struct view q = view_str("page=2&name=a+b%2Fc&flag&x=");
    (void)state;
    assert_int_equal(mgmt_query_get(q, "page", out, sizeof(out)), 1);
    assert_string_equal(out, "2");
    assert_int_equal(mgmt_query_get(q, "name", out, sizeof(out)), 1);
    assert_string_equal(out, "a b/c");
    assert_int_equal(mgmt_query_get(q, "flag", out, sizeof(out)), 1);
    assert_string_equal(out, "");
    assert_int_equal(mgmt_query_get(q, "missing", out, sizeof(out)), 0);
    assert_int_equal(mgmt_query_get(view_str("a=%zz"), "a", out, sizeof(out)), -1);
    assert_int_equal(mgmt_query_get(view_str("a=0123456789"), "a", out, 4), -1);
}

static void test_props_key_quotes_like_rabbitmq(void **state)
{
    char out[128];
    uint8_t args[] = {1, 'k', 'S', 0, 0, 0, 1, 'v'};
    (void)state;
    mgmt_props_key(view_str(""), (struct view){NULL, 0}, out, sizeof(out));
    assert_string_equal(out, "~");
    mgmt_props_key(view_str("a.b"), (struct view){NULL, 0}, out, sizeof(out));
    assert_string_equal(out, "a.b");
    mgmt_props_key(view_str("k k~x/"), (struct view){NULL, 0}, out, sizeof(out));
    assert_string_equal(out, "k+k%7Ex%2F");
    mgmt_props_key(view_str("a.b"), (struct view){args, sizeof(args)}, out, sizeof(out));
    assert_int_equal(strlen(out), 3 + 1 + 6);
    assert_memory_equal(out, "a.b~", 4);
}

static void test_json_table_round_trip(void **state)
{
    json_error_t e;
    json_t *in = json_loads("{\"s\":\"x\",\"i\":-5,\"b\":true,\"d\":1.5,\"n\":null,"
                            "\"t\":{\"a\":[1,\"two\",false]}}",
                            0, &e);
    struct buf b = {0};
    char err[100];
    json_t *out;
    (void)state;

    assert_int_equal(json_table_encode(in, &b, err, sizeof(err)), 0);
    assert_int_equal(table_check((struct view){b.p, b.len}), 0);
    out = json_table_new((struct view){b.p, b.len});
    assert_true(json_equal(in, out));
    json_decref(in);
    json_decref(out);
    buf_free(&b);
}

static void test_json_table_rejects_non_object(void **state)
{
    json_t *a = json_array();
    struct buf b = {0};
    char err[100];
    (void)state;
    assert_int_equal(json_table_encode(a, &b, err, sizeof(err)), -1);
    assert_string_equal(err, "arguments must be an object");
    json_decref(a);
    buf_free(&b);
}

static void test_json_table_invalid_utf8_is_replaced(void **state)
{
    json_t *s = json_table_string_new((struct view){(const uint8_t *)"a\xff"
                                                                     "b",
                                                    3});
    (void)state;
    assert_string_equal(json_string_value(s), "a\xEF\xBF\xBD"
                                              "b");
    json_decref(s);
}

static void test_view_binding_shape(void **state)
{
    json_t *b = mgmt_binding_new("/", "x", "q", true, view_str("k"), (struct view){NULL, 0});
    (void)state;
    assert_string_equal(json_string_value(json_object_get(b, "source")), "x");
    assert_string_equal(json_string_value(json_object_get(b, "destination_type")), "queue");
    assert_string_equal(json_string_value(json_object_get(b, "properties_key")), "k");
    assert_int_equal(json_object_size(json_object_get(b, "arguments")), 0);
    json_decref(b);
}

static void test_view_queue_short_and_full(void **state)
{
    struct proto_err err = {0};
    struct queue *q = queue_create(view_str("/"), view_str("vq"), QUEUE_F_DURABLE,
                                   (struct view){NULL, 0}, 0, &err);
    struct mgmt_ctx ctx = {0};
    json_t *s, *f;
    (void)state;

    ctx.rates = mgmt_rates_create();
    s = mgmt_queue_new(&ctx, q, false);
    f = mgmt_queue_new(&ctx, q, true);
    assert_int_equal(json_object_size(s), 12);
    assert_true(json_is_true(json_object_get(s, "durable")));
    assert_string_equal(json_string_value(json_object_get(s, "type")), "classic");
    assert_non_null(json_object_get(f, "messages_details"));
    assert_non_null(json_object_get(f, "memory"));
    json_decref(s);
    json_decref(f);
    mgmt_rates_destroy(ctx.rates);
    queue_delete(q);
    queue_unref(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router_literal_route),
        cmocka_unit_test(test_router_vhost_slash_stays_in_one_segment),
        cmocka_unit_test(test_router_binding_props),
        cmocka_unit_test(test_router_unknown_path_is_not_found),
        cmocka_unit_test(test_router_wrong_method_lists_allowed),
        cmocka_unit_test(test_router_head_routes_as_get),
        cmocka_unit_test(test_router_bad_escape),
        cmocka_unit_test(test_router_small_scratch_is_not_found),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_props_key_quotes_like_rabbitmq),
        cmocka_unit_test(test_json_table_round_trip),
        cmocka_unit_test(test_json_table_rejects_non_object),
        cmocka_unit_test(test_json_table_invalid_utf8_is_replaced),
        cmocka_unit_test(test_view_binding_shape),
        cmocka_unit_test(test_view_queue_short_and_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
