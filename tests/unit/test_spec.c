/* SPDX-License-Identifier: MIT */
/*
 * test_spec: hand-written checks of the generated codec against bytes written
 * out by hand from the 0-9-1 spec, plus the metadata tables and the policies
 * the generator chose (reserved fields, property flag word). The exhaustive
 * encode/decode round trip of every method is generated: test_spec_roundtrip.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "amqp/spec_gen.h"
#include "broker/util.h"

/* Decodes bytes that must be valid and re-encodes them, expecting the same bytes. */
static void decode_reencode(const uint8_t *p, size_t n, struct spec_method *m)
{
    uint8_t out[256];

    assert_int_equal(spec_decode_method(p, n, m), SPEC_OK);
    assert_int_equal(spec_method_size(m), n);
    assert_true(n <= sizeof(out));
    assert_int_equal(spec_encode_method(m, out), n);
    assert_memory_equal(out, p, n);
}

/* ---- bit packing ---- */

static void test_spec_bits_lsb_first(void **state)
{
    /* queue.declare: reserved-1, queue "q1", passive|exclusive|no-wait, {} */
    static const uint8_t wire[] = {0x00, 0x32, 0x00, 0x0A, 0x00, 0x00, 0x02,
                                   'q',  '1',  0x15, 0x00, 0x00, 0x00, 0x00};
    struct spec_method m;

    (void)state;
    decode_reencode(wire, sizeof(wire), &m);
    assert_int_equal(m.id, SPEC_QUEUE_DECLARE);
    assert_true(view_eq_str(m.u.queue_declare.queue, "q1"));
    assert_true(m.u.queue_declare.passive);
    assert_false(m.u.queue_declare.durable);
    assert_true(m.u.queue_declare.exclusive);
    assert_false(m.u.queue_declare.auto_delete);
    assert_true(m.u.queue_declare.no_wait);
    assert_int_equal(m.u.queue_declare.arguments.n, 0);
}

static void test_spec_bits_each_position(void **state)
{
    struct spec_method m;
    uint8_t out[32];
    size_t n;

    (void)state;
    for (unsigned bit = 0; bit < 5; bit++) {
        memset(&m, 0, sizeof(m));
        m.id = SPEC_QUEUE_DECLARE;
        m.u.queue_declare.queue = VIEW_LIT("q1");
        m.u.queue_declare.passive = bit == 0;
        m.u.queue_declare.durable = bit == 1;
        m.u.queue_declare.exclusive = bit == 2;
        m.u.queue_declare.auto_delete = bit == 3;
        m.u.queue_declare.no_wait = bit == 4;
        n = spec_encode_method(&m, out);
        assert_int_equal(n, 14);
        assert_int_equal(out[9], 1u << bit);
    }
}

static void test_spec_bits_after_longlong(void **state)
{
    /* basic.nack: delivery-tag 0x0102030405060708, multiple=0, requeue=1 */
    static const uint8_t wire[] = {0x00, 0x3C, 0x00, 0x78, 0x01, 0x02, 0x03,
                                   0x04, 0x05, 0x06, 0x07, 0x08, 0x02};
    struct spec_method m;

    (void)state;
    decode_reencode(wire, sizeof(wire), &m);
    assert_int_equal(m.u.basic_nack.delivery_tag, 0x0102030405060708u);
    assert_false(m.u.basic_nack.multiple);
    assert_true(m.u.basic_nack.requeue);
}

static void test_spec_bits_unassigned_ignored(void **state)
{
    /* basic.ack with bits 1..7 set as well as multiple: the spare bits are
     * ignored (as RabbitMQ does) and re-encoded as zero. */
    static const uint8_t wire[] = {0x00, 0x3C, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0x2A, 0xFF};
    struct spec_method m;
    uint8_t out[sizeof(wire)];

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_OK);
    assert_int_equal(m.u.basic_ack.delivery_tag, 42);
    assert_true(m.u.basic_ack.multiple);
    assert_int_equal(spec_encode_method(&m, out), sizeof(wire));
    assert_int_equal(out[12], 0x01);
}

/* ---- reserved fields ---- */

static void test_spec_reserved_skipped_on_decode(void **state)
{
    /* connection.open: virtual-host "/", reserved-1 "abc", reserved-2 bit set */
    static const uint8_t wire[] = {0x00, 0x0A, 0x00, 0x28, 0x01, '/', 0x03, 'a', 'b', 'c', 0x01};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_OK);
    assert_true(view_eq_str(m.u.connection_open.virtual_host, "/"));
}

static void test_spec_reserved_encoded_empty(void **state)
{
    static const uint8_t want[] = {0x00, 0x0A, 0x00, 0x28, 0x01, '/', 0x00, 0x00};
    struct spec_method m;
    uint8_t out[sizeof(want)];

    (void)state;
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_OPEN;
    m.u.connection_open.virtual_host = VIEW_LIT("/");
    assert_int_equal(spec_method_size(&m), sizeof(want));
    assert_int_equal(spec_encode_method(&m, out), sizeof(want));
    assert_memory_equal(out, want, sizeof(want));
}

static void test_spec_reserved_short_encoded_zero(void **state)
{
    /* basic.publish with reserved-1 (ticket) 0xFFFF on the wire */
    static const uint8_t wire[] = {0x00, 0x3C, 0x00, 0x28, 0xFF, 0xFF,
                                   0x01, 'x',  0x02, 'r',  'k',  0x03};
    struct spec_method m;
    uint8_t out[sizeof(wire)];

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_OK);
    assert_true(view_eq_str(m.u.basic_publish.exchange, "x"));
    assert_true(view_eq_str(m.u.basic_publish.routing_key, "rk"));
    assert_true(m.u.basic_publish.mandatory);
    assert_true(m.u.basic_publish.immediate);
    assert_int_equal(spec_encode_method(&m, out), sizeof(wire));
    assert_int_equal(out[4], 0);
    assert_int_equal(out[5], 0);
    assert_memory_equal(out + 6, wire + 6, sizeof(wire) - 6);
}

static void test_spec_reserved_still_bounds_checked(void **state)
{
    /* channel.open-ok: reserved-1 longstr declaring 5 bytes, only 4 present */
    static const uint8_t wire[] = {0x00, 0x14, 0x00, 0x0B, 0, 0, 0, 5, 'a', 'b', 'c', 'd'};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_ERR_SHORT);
}

/* ---- errors ---- */

static void test_spec_unknown_class(void **state)
{
    static const uint8_t wire[] = {0x00, 0x63, 0x00, 0x0A};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_ERR_UNKNOWN);
    /* the id is kept so connection.close can name the failing method */
    assert_int_equal(m.id, 0x0063000Au);
}

static void test_spec_unknown_method(void **state)
{
    static const uint8_t wire[] = {0x00, 0x3C, 0x00, 0x29};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_ERR_UNKNOWN);
    assert_int_equal(SPEC_CLASS_OF(m.id), SPEC_CLASS_BASIC);
    assert_int_equal(SPEC_INDEX_OF(m.id), 41);
}

static void test_spec_short_ids(void **state)
{
    static const uint8_t wire[] = {0x00, 0x5A, 0x00};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, 0, &m), SPEC_ERR_SHORT);
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_ERR_SHORT);
}

static void test_spec_trailing_bytes(void **state)
{
    static const uint8_t tx_select[] = {0x00, 0x5A, 0x00, 0x0A, 0x00};
    /* basic.qos: prefetch-size, prefetch-count, global, then one stray byte */
    static const uint8_t qos[] = {0x00, 0x3C, 0x00, 0x0A, 0, 0, 0, 0, 0, 10, 0x00, 0x00};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(tx_select, 4, &m), SPEC_OK);
    assert_int_equal(spec_decode_method(tx_select, sizeof(tx_select), &m), SPEC_ERR_TRAILING);
    assert_int_equal(spec_decode_method(qos, sizeof(qos) - 1, &m), SPEC_OK);
    assert_int_equal(m.u.basic_qos.prefetch_count, 10);
    assert_int_equal(spec_decode_method(qos, sizeof(qos), &m), SPEC_ERR_TRAILING);
}

static void test_spec_huge_length_no_overflow(void **state)
{
    /* connection.secure-ok: response longstr declaring 0xFFFFFFFF bytes */
    static const uint8_t wire[] = {0x00, 0x0A, 0x00, 0x15, 0xFF, 0xFF, 0xFF, 0xFF, 'x'};
    /* basic.consume-ok: consumer-tag shortstr declaring 255 bytes, 1 present */
    static const uint8_t tag[] = {0x00, 0x3C, 0x00, 0x15, 0xFF, 'x'};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_ERR_SHORT);
    assert_int_equal(spec_decode_method(tag, sizeof(tag), &m), SPEC_ERR_SHORT);
}

static void test_spec_bad_table(void **state)
{
    /* queue.declare whose arguments hold a value with the unknown tag 'Z' */
    static const uint8_t wire[] = {0x00, 0x32, 0x00, 0x0A, 0x00, 0x00, 0x01, 'q', 0x00, 0x00,
                                   0x00, 0x00, 0x06, 0x03, 'k',  'e',  'y',  'Z', 0x00};
    struct spec_method m;

    (void)state;
    assert_int_equal(spec_decode_method(wire, sizeof(wire), &m), SPEC_ERR_TABLE);
}

static void test_spec_good_table_is_view(void **state)
{
    /* exchange.declare with arguments {"key": S "v"} */
    static const uint8_t wire[] = {0x00, 0x28, 0x00, 0x0A, 0x00, 0x00, 0x01, 'x',  0x06, 'd',
                                   'i',  'r',  'e',  'c',  't',  0x02, 0x00, 0x00, 0x00, 0x0A,
                                   0x03, 'k',  'e',  'y',  'S',  0x00, 0x00, 0x00, 0x01, 'v'};
    struct spec_method m;

    (void)state;
    decode_reencode(wire, sizeof(wire), &m);
    assert_true(view_eq_str(m.u.exchange_declare.type, "direct"));
    assert_true(m.u.exchange_declare.durable);
    assert_ptr_equal(m.u.exchange_declare.arguments.p, wire + 20);
    assert_int_equal(m.u.exchange_declare.arguments.n, 10);
}

static void test_spec_long_longstr(void **state)
{
    enum { LEN = 70000 };
    struct spec_method m, out;
    uint8_t *challenge = malloc(LEN);
    uint8_t *buf = malloc(LEN + 8);

    (void)state;
    assert_non_null(challenge);
    assert_non_null(buf);
    for (size_t i = 0; i < LEN; i++)
        challenge[i] = (uint8_t)(i * 7u);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_SECURE;
    m.u.connection_secure.challenge = (struct view){challenge, LEN};
    assert_int_equal(spec_method_size(&m), LEN + 8);
    assert_int_equal(spec_encode_method(&m, buf), LEN + 8);
    assert_int_equal(get_be32(buf + 4), LEN);
    assert_int_equal(spec_decode_method(buf, LEN + 8, &out), SPEC_OK);
    assert_true(view_eq(out.u.connection_secure.challenge, m.u.connection_secure.challenge));
    free(buf);
    free(challenge);
}

static void test_spec_shortstr_255(void **state)
{
    uint8_t tag[255], buf[4 + 256];
    struct spec_method m, out;

    (void)state;
    memset(tag, 't', sizeof(tag));
    memset(&m, 0, sizeof(m));
    m.id = SPEC_BASIC_CONSUME_OK;
    m.u.basic_consume_ok.consumer_tag = (struct view){tag, sizeof(tag)};
    assert_int_equal(spec_encode_method(&m, buf), sizeof(buf));
    assert_int_equal(buf[4], 255);
    assert_int_equal(spec_decode_method(buf, sizeof(buf), &out), SPEC_OK);
    assert_int_equal(out.u.basic_consume_ok.consumer_tag.n, 255);
}

static void test_spec_status_mapping(void **state)
{
    (void)state;
    assert_int_equal(spec_status_reply_code(SPEC_ERR_SHORT), SPEC_FRAME_ERROR);
    assert_int_equal(spec_status_reply_code(SPEC_ERR_TRAILING), 501);
    assert_int_equal(spec_status_reply_code(SPEC_ERR_TABLE), 502);
    assert_int_equal(spec_status_reply_code(SPEC_ERR_FLAGS), 502);
    assert_int_equal(spec_status_reply_code(SPEC_ERR_UNKNOWN), SPEC_NOT_IMPLEMENTED);
    assert_int_equal(spec_status_reply_code(SPEC_ERR_UNKNOWN), 540);
    assert_int_equal(spec_status_reply_code(SPEC_OK), 200);
    assert_string_equal(spec_status_text(SPEC_ERR_SHORT), "truncated arguments");
    assert_non_null(spec_status_text(-99));
}

/* ---- constants and metadata ---- */

static void test_spec_constants(void **state)
{
    (void)state;
    assert_int_equal(SPEC_FRAME_METHOD, 1);
    assert_int_equal(SPEC_FRAME_HEADER, 2);
    assert_int_equal(SPEC_FRAME_BODY, 3);
    assert_int_equal(SPEC_FRAME_HEARTBEAT, 8);
    assert_int_equal(SPEC_FRAME_MIN_SIZE, 4096);
    assert_int_equal(SPEC_FRAME_END, 0xCE);
    assert_int_equal(SPEC_PORT, 5672);
    assert_int_equal(SPEC_REPLY_SUCCESS, 200);
    assert_int_equal(SPEC_CONNECTION_FORCED, 320);
    assert_int_equal(SPEC_NOT_FOUND, 404);
    assert_int_equal(SPEC_FRAME_ERROR, 501);
    assert_int_equal(SPEC_NOT_IMPLEMENTED, 540);
    assert_int_equal(SPEC_CLASS_CONNECTION, 10);
    assert_int_equal(SPEC_CLASS_CONFIRM, 85);
    assert_int_equal(SPEC_CLASS_TX, 90);
    assert_int_equal(SPEC_BASIC_PUBLISH, 0x003C0028u);
    assert_int_equal(SPEC_CONNECTION_BLOCKED, 0x000A003Cu);
    assert_int_equal(SPEC_CONNECTION_UPDATE_SECRET_OK, 0x000A0047u);
}

static void test_spec_reply_is_hard(void **state)
{
    (void)state;
    assert_false(spec_reply_is_hard(404));
    assert_false(spec_reply_is_hard(SPEC_ACCESS_REFUSED));
    assert_false(spec_reply_is_hard(SPEC_PRECONDITION_FAILED));
    assert_false(spec_reply_is_hard(SPEC_REPLY_SUCCESS));
    assert_true(spec_reply_is_hard(504));
    assert_true(spec_reply_is_hard(SPEC_CONNECTION_FORCED));
    assert_true(spec_reply_is_hard(SPEC_FRAME_ERROR));
    assert_true(spec_reply_is_hard(999));
}

static void test_spec_reply_names(void **state)
{
    (void)state;
    assert_string_equal(spec_reply_name(404), "NOT_FOUND");
    assert_string_equal(spec_reply_name(403), "ACCESS_REFUSED");
    assert_string_equal(spec_reply_name(200), "REPLY_SUCCESS");
    assert_string_equal(spec_reply_name(501), "FRAME_ERROR");
    assert_string_equal(spec_reply_name(540), "NOT_IMPLEMENTED");
    assert_null(spec_reply_name(0));
    assert_null(spec_reply_name(999));
}

static void test_spec_method_info_basic_publish(void **state)
{
    const struct spec_method_info *info = spec_method_info(SPEC_BASIC_PUBLISH);

    (void)state;
    assert_non_null(info);
    assert_int_equal(info->id, SPEC_BASIC_PUBLISH);
    assert_string_equal(info->name, "basic.publish");
    assert_true(info->content);
    assert_false(info->synchronous);
    assert_int_equal(info->response, 0);
    assert_true(info->server_receives);
    assert_false(info->client_receives);
}

static void test_spec_method_info_connection_start(void **state)
{
    const struct spec_method_info *info = spec_method_info(SPEC_CONNECTION_START);

    (void)state;
    assert_non_null(info);
    assert_string_equal(info->name, "connection.start");
    assert_true(info->synchronous);
    assert_false(info->content);
    assert_int_equal(info->response, SPEC_CONNECTION_START_OK);
    assert_false(info->server_receives);
    assert_true(info->client_receives);
}

static void test_spec_method_info_misc(void **state)
{
    (void)state;
    assert_int_equal(spec_method_info(SPEC_BASIC_GET)->response, SPEC_BASIC_GET_OK);
    assert_true(spec_method_info(SPEC_BASIC_ACK)->server_receives);
    assert_true(spec_method_info(SPEC_BASIC_ACK)->client_receives);
    assert_false(spec_method_info(SPEC_BASIC_DELIVER)->server_receives);
    assert_true(spec_method_info(SPEC_BASIC_DELIVER)->content);
    assert_false(spec_method_info(SPEC_CONNECTION_BLOCKED)->server_receives);
    assert_true(spec_method_info(SPEC_CONNECTION_UPDATE_SECRET)->server_receives);
    assert_int_equal(spec_method_info(SPEC_CONNECTION_UPDATE_SECRET)->response,
                     SPEC_CONNECTION_UPDATE_SECRET_OK);
    assert_null(spec_method_info(0));
    assert_null(spec_method_info(0x003C0029u));
    assert_null(spec_method_info(0xFFFFFFFFu));
}

static void test_spec_method_names(void **state)
{
    (void)state;
    assert_string_equal(spec_method_name(SPEC_BASIC_PUBLISH), "basic.publish");
    assert_string_equal(spec_method_name(SPEC_CONNECTION_START_OK), "connection.start-ok");
    assert_string_equal(spec_method_name(SPEC_BASIC_RECOVER_ASYNC), "basic.recover-async");
    assert_string_equal(spec_method_name(SPEC_TX_ROLLBACK_OK), "tx.rollback-ok");
    assert_string_equal(spec_method_name(0x00630001u), "unknown");
}

static void test_spec_rabbit_extensions(void **state)
{
    static const uint8_t blocked[] = {0x00, 0x0A, 0x00, 0x3C, 0x03, 'l', 'o', 'w'};
    static const uint8_t unblocked[] = {0x00, 0x0A, 0x00, 0x3D};
    static const uint8_t update[] = {0x00, 0x0A, 0x00, 0x46, 0x00, 0x00, 0x00,
                                     0x02, 't',  'k',  0x03, 'e',  'x',  'p'};
    struct spec_method m;

    (void)state;
    decode_reencode(blocked, sizeof(blocked), &m);
    assert_true(view_eq_str(m.u.connection_blocked.reason, "low"));
    decode_reencode(unblocked, sizeof(unblocked), &m);
    assert_int_equal(m.id, SPEC_CONNECTION_UNBLOCKED);
    decode_reencode(update, sizeof(update), &m);
    assert_true(view_eq_str(m.u.connection_update_secret.new_secret, "tk"));
    assert_true(view_eq_str(m.u.connection_update_secret.reason, "exp"));
}

static void test_spec_confirm_select_nowait(void **state)
{
    /* confirm.select's nowait uses type= but is not reserved: it is a field */
    static const uint8_t wire[] = {0x00, 0x55, 0x00, 0x0A, 0x01};
    struct spec_method m;

    (void)state;
    decode_reencode(wire, sizeof(wire), &m);
    assert_true(m.u.confirm_select.nowait);
}

/* ---- basic properties ---- */

static void test_spec_props_hand_bytes(void **state)
{
    /* content-type "text/plain", delivery-mode 2, timestamp 1 */
    static const uint8_t wire[] = {0x90, 0x40, 0x0A, 't', 'e', 'x', 't', '/', 'p', 'l', 'a',
                                   'i',  'n',  0x02, 0,   0,   0,   0,   0,   0,   0,   1};
    struct spec_basic_props pr;
    uint8_t out[sizeof(wire)];

    (void)state;
    assert_int_equal(spec_decode_props(wire, sizeof(wire), &pr), SPEC_OK);
    assert_int_equal(pr.flags,
                     SPEC_PROP_CONTENT_TYPE | SPEC_PROP_DELIVERY_MODE | SPEC_PROP_TIMESTAMP);
    assert_true(view_eq_str(pr.content_type, "text/plain"));
    assert_int_equal(pr.delivery_mode, 2);
    assert_int_equal(pr.timestamp, 1);
    assert_int_equal(pr.headers.n, 0);
    assert_int_equal(spec_props_size(&pr), sizeof(wire));
    assert_int_equal(spec_encode_props(&pr, out), sizeof(wire));
    assert_memory_equal(out, wire, sizeof(wire));
}

static void test_spec_props_flag_values(void **state)
{
    (void)state;
    assert_int_equal(SPEC_PROP_CONTENT_TYPE, 0x8000);
    assert_int_equal(SPEC_PROP_HEADERS, 0x2000);
    assert_int_equal(SPEC_PROP_TIMESTAMP, 0x0040);
    assert_int_equal(SPEC_PROP_CLUSTER_ID, 0x0004);
    assert_int_equal(SPEC_PROP_ALL, 0xFFFC);
    assert_int_equal(SPEC_PROP_RESERVED_BITS, 0x0003);
}

static void test_spec_props_continuation_bit_rejected(void **state)
{
    /* delivery-mode 1 with the continuation bit and a second (empty) flag word */
    static const uint8_t wire[] = {0x10, 0x01, 0x01, 0x00, 0x00};
    struct spec_basic_props pr;

    (void)state;
    assert_int_equal(spec_decode_props(wire, sizeof(wire), &pr), SPEC_ERR_FLAGS);
    assert_int_equal(spec_status_reply_code(SPEC_ERR_FLAGS), SPEC_SYNTAX_ERROR);
    assert_int_equal(pr.flags, 0);
}

static void test_spec_props_bit1_rejected(void **state)
{
    static const uint8_t wire[] = {0x00, 0x02};
    struct spec_basic_props pr;

    (void)state;
    assert_int_equal(spec_decode_props(wire, sizeof(wire), &pr), SPEC_ERR_FLAGS);
}

static void test_spec_props_bad_headers(void **state)
{
    /* headers table {"k": <unknown tag 'Z'>} */
    static const uint8_t wire[] = {0x20, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 'k', 'Z'};
    struct spec_basic_props pr;

    (void)state;
    assert_int_equal(spec_decode_props(wire, sizeof(wire), &pr), SPEC_ERR_TABLE);
}

static void test_spec_props_short_and_trailing(void **state)
{
    static const uint8_t wire[] = {0x00, 0x80, 0x05, 'a', 'b', 'c', 'd', 'e', 0x00};
    struct spec_basic_props pr;

    (void)state;
    assert_int_equal(spec_decode_props(wire, 1, &pr), SPEC_ERR_SHORT);
    assert_int_equal(spec_decode_props(wire, 7, &pr), SPEC_ERR_SHORT);
    assert_int_equal(spec_decode_props(wire, 8, &pr), SPEC_OK);
    assert_true(view_eq_str(pr.message_id, "abcde"));
    assert_int_equal(spec_decode_props(wire, sizeof(wire), &pr), SPEC_ERR_TRAILING);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_bits_lsb_first),
        cmocka_unit_test(test_spec_bits_each_position),
        cmocka_unit_test(test_spec_bits_after_longlong),
        cmocka_unit_test(test_spec_bits_unassigned_ignored),
        cmocka_unit_test(test_spec_reserved_skipped_on_decode),
        cmocka_unit_test(test_spec_reserved_encoded_empty),
        cmocka_unit_test(test_spec_reserved_short_encoded_zero),
        cmocka_unit_test(test_spec_reserved_still_bounds_checked),
        cmocka_unit_test(test_spec_unknown_class),
        cmocka_unit_test(test_spec_unknown_method),
        cmocka_unit_test(test_spec_short_ids),
        cmocka_unit_test(test_spec_trailing_bytes),
        cmocka_unit_test(test_spec_huge_length_no_overflow),
        cmocka_unit_test(test_spec_bad_table),
        cmocka_unit_test(test_spec_good_table_is_view),
        cmocka_unit_test(test_spec_long_longstr),
        cmocka_unit_test(test_spec_shortstr_255),
        cmocka_unit_test(test_spec_status_mapping),
        cmocka_unit_test(test_spec_constants),
        cmocka_unit_test(test_spec_reply_is_hard),
        cmocka_unit_test(test_spec_reply_names),
        cmocka_unit_test(test_spec_method_info_basic_publish),
        cmocka_unit_test(test_spec_method_info_connection_start),
        cmocka_unit_test(test_spec_method_info_misc),
        cmocka_unit_test(test_spec_method_names),
        cmocka_unit_test(test_spec_rabbit_extensions),
        cmocka_unit_test(test_spec_confirm_select_nowait),
        cmocka_unit_test(test_spec_props_hand_bytes),
        cmocka_unit_test(test_spec_props_flag_values),
        cmocka_unit_test(test_spec_props_continuation_bit_rejected),
        cmocka_unit_test(test_spec_props_bit1_rejected),
        cmocka_unit_test(test_spec_props_bad_headers),
        cmocka_unit_test(test_spec_props_short_and_trailing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
