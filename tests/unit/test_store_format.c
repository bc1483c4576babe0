/* SPDX-License-Identifier: MIT */
/*
 * The message store's bytes (persist/format.c, persist/crc32c.c): checksums,
 * the segment header, record framing and payload decoding of hostile input.
 */
#include "tests/unit/store_helpers.h"

static void test_store_crc32c_known_vectors(void **state)
{
    uint8_t zeros[32] = {0}, ones[32];
    (void)state;
    memset(ones, 0xFF, sizeof(ones));
    /* RFC 3720 appendix B.4 and the classic check value. */
    assert_int_equal(persist__crc32c(0, "123456789", 9), 0xE3069283);
    assert_int_equal(persist__crc32c(0, zeros, 32), 0x8A9136AA);
    assert_int_equal(persist__crc32c(0, ones, 32), 0x62A8AB43);
    assert_int_equal(persist__crc32c_sw(0, "123456789", 9), 0xE3069283);
    assert_int_equal(persist__crc32c(0, "", 0), 0);
}

static void test_store_crc32c_hw_matches_sw_and_streams(void **state)
{
    uint8_t buf[4096 + 16];
    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++) {
        for (size_t n = 0; n < 300; n += 13) {
            uint32_t a = persist__crc32c(0, buf + off, n);
            assert_int_equal(a, persist__crc32c_sw(0, buf + off, n));
            /* Split anywhere: the checksum continues. */
            assert_int_equal(a, persist__crc32c(persist__crc32c(0, buf + off, n / 3),
                                                buf + off + n / 3, n - n / 3));
        }
    }
}

static void test_store_header_roundtrip_and_damage(void **state)
{
    uint8_t h[PERSIST_HDR_SIZE];
    uint32_t version;
    uint64_t segno;
    (void)state;

    persist__put_header(h, 0x1234);
    assert_int_equal(persist__check_header(h, sizeof(h), &version, &segno), PERSIST_HDR_OK);
    assert_int_equal(version, PERSIST_VERSION);
    assert_int_equal(segno, 0x1234);
    assert_int_equal(persist__check_header(h, 20, &version, &segno), PERSIST_HDR_SHORT);
    h[20] ^= 1;
    assert_int_equal(persist__check_header(h, sizeof(h), &version, &segno), PERSIST_HDR_BAD);
    h[20] ^= 1;
    put_be32(h + 8, 9);
    assert_int_equal(persist__check_header(h, sizeof(h), &version, &segno), PERSIST_HDR_FUTURE);
    assert_int_equal(version, 9);
    /* Only the version needs to be readable to refuse a future file. */
    assert_int_equal(persist__check_header(h, 12, &version, &segno), PERSIST_HDR_FUTURE);
    h[0] = 'X';
    assert_int_equal(persist__check_header(h, sizeof(h), &version, &segno), PERSIST_HDR_BAD);
}

static size_t make_record(uint8_t *out, uint8_t type, const void *payload, size_t n)
{
    put_be32(out, (uint32_t)n);
    out[4] = type;
    memcpy(out + PERSIST_REC_HDR, payload, n);
    persist__seal_record(out, PERSIST_REC_HDR + n);
    return PERSIST_REC_HDR + n;
}

static void test_store_record_framing_errors(void **state)
{
    uint8_t rec[64], payload[16] = {0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1};
    struct persist_rec r;
    size_t n = make_record(rec, PERSIST_R_ACK, payload, sizeof(payload));
    (void)state;

    assert_int_equal(persist__next_record(rec, n, &r), PERSIST_OK);
    assert_int_equal(r.type, PERSIST_R_ACK);
    assert_int_equal(r.len, 16);
    assert_int_equal(persist__next_record(rec, 0, &r), PERSIST_END);
    assert_int_equal(persist__next_record(rec, 5, &r), PERSIST_TRUNCATED);
    assert_int_equal(persist__next_record(rec, n - 1, &r), PERSIST_TRUNCATED);
    rec[12] ^= 0x40;
    assert_int_equal(persist__next_record(rec, n, &r), PERSIST_BAD_CRC);
    rec[12] ^= 0x40;
    rec[4] = 99; /* the type is covered by the checksum too */
    assert_int_equal(persist__next_record(rec, n, &r), PERSIST_BAD_CRC);
    make_record(rec, 99, payload, sizeof(payload));
    assert_int_equal(persist__next_record(rec, n, &r), PERSIST_BAD_TYPE);
    put_be32(rec, 0xFFFFFFF0u); /* a huge length never reads past the end */
    assert_int_equal(persist__next_record(rec, n, &r), PERSIST_TRUNCATED);
}

static void test_store_decode_rejects_malformed_payloads(void **state)
{
    struct persist_rec r;
    struct persist_msg_rec m;
    struct persist_ref_rec x;
    struct persist_queue_rec q;
    uint8_t p[64];
    (void)state;

    memset(p, 0, sizeof(p));
    /* MSG: props length past the end. */
    put_be64(p, 1);
    p[9] = 0;
    p[10] = 0;
    put_be32(p + 11, 1000);
    r = (struct persist_rec){PERSIST_R_MSG, 15, p};
    assert_int_equal(persist__decode_msg(&r, &m), -1);
    put_be32(p + 11, 0);
    assert_int_equal(persist__decode_msg(&r, &m), 0);
    assert_int_equal(m.body.n, 0);
    put_be64(p, 0); /* id 0 */
    assert_int_equal(persist__decode_msg(&r, &m), -1);
    /* ENQ: wrong length, zero seq, unknown flags. */
    memset(p, 0, sizeof(p));
    put_be32(p, 1);
    put_be64(p + 4, 1);
    put_be64(p + 12, 1);
    r = (struct persist_rec){PERSIST_R_ENQ, PERSIST_ENQ_LEN, p};
    assert_int_equal(persist__decode_ref(&r, &x), 0);
    r.len = PERSIST_ENQ_LEN + 1;
    assert_int_equal(persist__decode_ref(&r, &x), -1);
    r.len = PERSIST_ENQ_LEN;
    p[20] = 0x80;
    assert_int_equal(persist__decode_ref(&r, &x), -1);
    p[20] = 0;
    put_be64(p + 4, 0);
    assert_int_equal(persist__decode_ref(&r, &x), -1);
    /* ACK: a range that wraps around. */
    put_be32(p, 1);
    put_be64(p + 4, UINT64_MAX - 1);
    put_be32(p + 12, 5);
    r = (struct persist_rec){PERSIST_R_ACK, PERSIST_RANGE_LEN, p};
    assert_int_equal(persist__decode_ref(&r, &x), -1);
    put_be32(p + 12, 0);
    assert_int_equal(persist__decode_ref(&r, &x), -1);
    /* QUEUE: name past the end, qid 0. */
    put_be32(p, 1);
    p[4] = 1;
    p[5] = '/';
    p[6] = 10;
    r = (struct persist_rec){PERSIST_R_QUEUE, 8, p};
    assert_int_equal(persist__decode_queue(&r, &q), -1);
    p[6] = 1;
    assert_int_equal(persist__decode_queue(&r, &q), 0);
    put_be32(p, 0);
    assert_int_equal(persist__decode_queue(&r, &q), -1);
}

static void test_store_msg_meta_roundtrip(void **state)
{
    struct store_msg_data d = {VIEW_LIT("ex"), VIEW_LIT("key"), VIEW_LIT("\x80\x00\x05hello"),
                               VIEW_LIT("")};
    size_t n = persist__msg_meta_len(&d);
    uint8_t buf[128];
    struct persist_rec r = {PERSIST_R_MSG, (uint32_t)(n + 4), buf};
    struct persist_msg_rec m;
    (void)state;

    persist__put_msg_meta(buf, 77, &d);
    memcpy(buf + n, "BODY", 4);
    assert_int_equal(persist__decode_msg(&r, &m), 0);
    assert_int_equal(m.id, 77);
    assert_true(view_eq(m.exchange, d.exchange));
    assert_true(view_eq(m.routing_key, d.routing_key));
    assert_true(view_eq(m.props, d.props));
    assert_true(view_eq(m.body, VIEW_LIT("BODY")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store_crc32c_known_vectors),
        cmocka_unit_test(test_store_crc32c_hw_matches_sw_and_streams),
        cmocka_unit_test(test_store_header_roundtrip_and_damage),
        cmocka_unit_test(test_store_record_framing_errors),
        cmocka_unit_test(test_store_decode_rejects_malformed_payloads),
        cmocka_unit_test(test_store_msg_meta_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
