/* SPDX-License-Identifier: MIT */
/* Unit tests for amqp/frame.c: the push-parser frame reader and the writers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <cmocka.h>

#include "amqp/frame.h"

#define FRAME_MAX 131072u
#define DATA_DIR "tests/data/frames/"

/* ---- helpers ---- */

/* A produced frame, copied out of the reader. */
struct got {
    uint8_t type;
    uint16_t channel;
    uint8_t *payload;
    size_t n;
};

struct got_list {
    struct got v[64];
    size_t n;
    bool open; /* the last entry is a streamed body frame with pieces to come */
};

static void got_free(struct got_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].payload);
    l->n = 0;
    l->open = false;
}

static void got_add(struct got_list *l, const struct frame *f)
{
    struct got *g;

    if (f->more)
        assert_int_equal(f->type, SPEC_FRAME_BODY);
    if (l->open) { /* the next piece of a streamed body frame: append it */
        g = &l->v[l->n - 1];
        assert_int_equal(f->type, g->type);
        assert_int_equal(f->channel, g->channel);
        assert_true(f->payload.n > 0);
        g->payload = realloc(g->payload, g->n + f->payload.n);
        assert_non_null(g->payload);
        memcpy(g->payload + g->n, f->payload.p, f->payload.n);
        g->n += f->payload.n;
        l->open = f->more > 0;
        return;
    }
    l->open = f->more > 0;
    assert_true(l->n < ARRAY_LEN(l->v));
    g = &l->v[l->n++];
    g->type = f->type;
    g->channel = f->channel;
    g->n = f->payload.n;
    g->payload = malloc(f->payload.n ? f->payload.n : 1);
    assert_non_null(g->payload);
    if (f->payload.n)
        memcpy(g->payload, f->payload.p, f->payload.n);
}

/*
 * Feeds one chunk the way broker/conn.c must: copied into an exact-size
 * allocation (so ASan sees overreads), frame_feed in a loop until it returns
 * 0 or -1. Returns the last return code.
 */
static int feed_chunk(struct frame_reader *r, const uint8_t *p, size_t n, struct got_list *out,
                      struct proto_err *err)
{
    uint8_t *c = malloc(n ? n : 1);
    size_t off = 0, used;
    struct frame f;
    int rc;

    assert_non_null(c);
    if (n)
        memcpy(c, p, n);
    for (;;) {
        rc = frame_feed(r, c + off, n - off, &used, &f, err);
        assert_true(used <= n - off);
        off += used;
        if (rc <= 0)
            break;
        got_add(out, &f);
    }
    if (rc == 0)
        assert_int_equal(off, n);
    free(c);
    return rc;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: deterministic per seed, good enough for chunk sizes. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* Builds a stream: method, content header, three body frames (one empty, one
 * large), heartbeat, and another method on a high channel. */
static void build_stream(struct buf *out, struct got_list *want)
{
    static uint8_t big[5000];
    struct spec_method m = {.id = SPEC_BASIC_ACK};
    uint8_t props[] = {0x10, 0x00, 2}; /* delivery-mode = 2 */
    struct view body[3] = {VIEW_LIT("hello "), {NULL, 0}, {big, sizeof(big)}};
    struct frame f;

    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)(i * 7 + 3);
    m.u.basic_ack.delivery_tag = 42;

    want->n = 0;
    want->open = false;
    frame_put_method(out, 1, &m);
    f = (struct frame){SPEC_FRAME_METHOD, 1, {out->p + 7, out->len - 8}, 0};
    got_add(want, &f);

    frame_put_content_header(out, 1, 5006, (struct view){props, sizeof(props)});
    {
        uint8_t hdr[15] = {0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0x13, 0x8e, 0x10, 0x00, 2};
        f = (struct frame){SPEC_FRAME_HEADER, 1, {hdr, sizeof(hdr)}, 0};
        got_add(want, &f);
    }
    for (size_t i = 0; i < 3; i++) {
        /* frame_put_body writes nothing for an empty body, so hand-write that one. */
        if (body[i].n == 0) {
            static const uint8_t empty[] = {3, 0, 1, 0, 0, 0, 0, 0xce};
            buf_append(out, empty, sizeof(empty));
        } else {
            frame_put_body(out, 1, body[i], FRAME_MAX);
        }
        f = (struct frame){SPEC_FRAME_BODY, 1, body[i], 0};
        got_add(want, &f);
    }
    frame_put_heartbeat(out);
    f = (struct frame){SPEC_FRAME_HEARTBEAT, 0, {NULL, 0}, 0};
    got_add(want, &f);
    m.u.basic_ack.delivery_tag = 43;
    frame_put_method(out, 65535, &m);
    f = (struct frame){SPEC_FRAME_METHOD, 65535, {out->p + out->len - 14, 13}, 0};
    got_add(want, &f);
}

static void assert_same_frames(const struct got_list *a, const struct got_list *b)
{
    assert_false(a->open || b->open);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        assert_int_equal(a->v[i].type, b->v[i].type);
        assert_int_equal(a->v[i].channel, b->v[i].channel);
        assert_int_equal(a->v[i].n, b->v[i].n);
        if (a->v[i].n)
            assert_memory_equal(a->v[i].payload, b->v[i].payload, a->v[i].n);
    }
}

/* Heap bytes in use, from glibc (unchanged under ASan, which bypasses it). */
static size_t heap_in_use(void)
{
    struct mallinfo2 mi = mallinfo2();

    return mi.uordblks + mi.hblkhd;
}

/* ---- reading ---- */

static void test_frame_stream_in_random_chunks_yields_same_frames(void **state)
{
    struct buf s = {0};
    struct got_list want, got = {.n = 0};
    struct proto_err err;

    (void)state;
    build_stream(&s, &want);
    for (uint64_t seed = 1; seed <= 500; seed++) {
        struct frame_reader *r = frame_reader_create(FRAME_MAX);
        uint64_t rng = seed * 0x9e3779b97f4a7c15ull;
        /* Vary the scale: tiny chunks, header-sized, frame-sized, whole stream. */
        static const size_t scale[] = {3, 9, 40, 700, 6000, 20000};
        size_t max = scale[seed % ARRAY_LEN(scale)];

        for (size_t off = 0; off < s.len;) {
            size_t n = 1 + (size_t)(rng_next(&rng) % max);
            if (n > s.len - off)
                n = s.len - off;
            assert_int_equal(feed_chunk(r, s.p + off, n, &got, &err), 0);
            off += n;
        }
        assert_same_frames(&got, &want);
        assert_int_equal(frame_reader_buffered(r), 0);
        got_free(&got);
        frame_reader_destroy(r);
    }
    got_free(&want);
    buf_free(&s);
}

static void test_frame_stream_in_one_byte_chunks_yields_same_frames(void **state)
{
    struct buf s = {0};
    struct got_list want, got = {.n = 0};
    struct proto_err err;
    struct frame_reader *r = frame_reader_create(FRAME_MAX);

    (void)state;
    build_stream(&s, &want);
    for (size_t off = 0; off < s.len; off++)
        assert_int_equal(feed_chunk(r, s.p + off, 1, &got, &err), 0);
    assert_same_frames(&got, &want);
    got_free(&got);
    got_free(&want);
    frame_reader_destroy(r);
    buf_free(&s);
}

static void test_frame_stream_in_one_chunk_yields_same_frames(void **state)
{
    struct buf s = {0};
    struct got_list want, got = {.n = 0};
    struct proto_err err;
    struct frame_reader *r = frame_reader_create(FRAME_MAX);

    (void)state;
    build_stream(&s, &want);
    assert_int_equal(feed_chunk(r, s.p, s.len, &got, &err), 0);
    assert_same_frames(&got, &want);
    got_free(&got);
    got_free(&want);
    frame_reader_destroy(r);
    buf_free(&s);
}

static void test_frame_whole_frame_is_zero_copy(void **state)
{
    static const uint8_t in[] = {1, 0, 7, 0, 0, 0, 3, 'a', 'b', 'c', 0xce, 8};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used;

    (void)state;
    assert_int_equal(frame_feed(r, in, sizeof(in), &used, &f, &err), 1);
    assert_int_equal(used, 11);
    assert_int_equal(f.type, SPEC_FRAME_METHOD);
    assert_int_equal(f.channel, 7);
    assert_ptr_equal(f.payload.p, in + 7);
    assert_int_equal(f.payload.n, 3);
    /* The trailing byte starts the next frame's header. */
    assert_int_equal(frame_feed(r, in + used, sizeof(in) - used, &used, &f, &err), 0);
    assert_int_equal(used, 1);
    assert_int_equal(frame_reader_buffered(r), 1);
    frame_reader_destroy(r);
}

static void test_frame_split_header_then_whole_payload_is_zero_copy(void **state)
{
    static const uint8_t in[] = {3, 0, 1, 0, 0, 0, 2, 'x', 'y', 0xce};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used;

    (void)state;
    assert_int_equal(frame_feed(r, in, 7, &used, &f, &err), 0);
    assert_int_equal(frame_reader_buffered(r), 7);
    assert_int_equal(frame_feed(r, in + 7, 3, &used, &f, &err), 1);
    assert_ptr_equal(f.payload.p, in + 7);
    assert_int_equal(f.payload.n, 2);
    assert_int_equal(frame_reader_buffered(r), 0);
    frame_reader_destroy(r);
}

static void test_frame_split_payload_is_copied(void **state)
{
    static const uint8_t in[] = {1, 0, 1, 0, 0, 0, 4, 'w', 'x', 'y', 'z', 0xce};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used;

    (void)state;
    assert_int_equal(frame_feed(r, in, 9, &used, &f, &err), 0);
    assert_int_equal(used, 9);
    /* The whole frame's buffer (payload + end) is held once copying starts. */
    assert_int_equal(frame_reader_buffered(r), 7 + 5);
    assert_int_equal(frame_feed(r, in + 9, 3, &used, &f, &err), 1);
    assert_int_equal(used, 3);
    assert_true(f.payload.p < in || f.payload.p >= in + sizeof(in));
    assert_memory_equal(f.payload.p, "wxyz", 4);
    frame_reader_destroy(r);
}

static void test_frame_split_body_is_streamed_without_copies(void **state)
{
    static const uint8_t in[] = {3, 0, 5, 0, 0, 0, 6, 'a', 'b', 'c', 'd', 'e', 'f', 0xce};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used, before = heap_in_use();

    (void)state;
    /* First piece: a view into the caller's bytes, with the rest announced. */
    assert_int_equal(frame_feed(r, in, 9, &used, &f, &err), 1);
    assert_int_equal(used, 9);
    assert_int_equal(f.type, SPEC_FRAME_BODY);
    assert_int_equal(f.channel, 5);
    assert_ptr_equal(f.payload.p, in + 7);
    assert_int_equal(f.payload.n, 2);
    assert_int_equal(f.more, 4);
    /* All remaining payload but the last byte, which waits for the end octet. */
    assert_int_equal(frame_feed(r, in + 9, 4, &used, &f, &err), 1);
    assert_int_equal(used, 3);
    assert_ptr_equal(f.payload.p, in + 9);
    assert_int_equal(f.payload.n, 3);
    assert_int_equal(f.more, 1);
    /* The last byte alone is kept; it comes out once the end octet is checked. */
    assert_int_equal(frame_feed(r, in + 12, 1, &used, &f, &err), 0);
    assert_int_equal(frame_reader_buffered(r), 1);
    assert_int_equal(frame_feed(r, in + 13, 1, &used, &f, &err), 1);
    assert_int_equal(used, 1);
    assert_int_equal(f.payload.n, 1);
    assert_int_equal(f.payload.p[0], 'f');
    assert_int_equal(f.more, 0);
    assert_int_equal(frame_reader_buffered(r), 0);
    assert_int_equal(heap_in_use(), before);
    frame_reader_destroy(r);
}

static void test_frame_streamed_body_bad_end_octet_rejected(void **state)
{
    static const uint8_t in[] = {3, 0, 1, 0, 0, 0, 3, 'x', 'y', 'z', 0x00};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct got_list got = {.n = 0};
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(feed_chunk(r, in, 8, &got, &err), 0);
    assert_true(got.open);
    assert_int_equal(feed_chunk(r, in + 8, 3, &got, &err), -1);
    assert_true(got.open); /* the last piece never came */
    assert_int_equal(err.code, SPEC_FRAME_ERROR);
    assert_string_equal(err.text, "bad frame end octet 0x00");
    got_free(&got);
    frame_reader_destroy(r);
}

static void test_frame_buffered_is_zero_after_frame_completes(void **state)
{
    static const uint8_t in[] = {2, 0, 1, 0, 0, 0, 1, 'q', 0xce};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used;

    (void)state;
    assert_int_equal(frame_reader_buffered(r), 0);
    for (size_t i = 0; i < sizeof(in) - 1; i++) {
        assert_int_equal(frame_feed(r, in + i, 1, &used, &f, &err), 0);
        assert_true(frame_reader_buffered(r) > 0);
    }
    assert_int_equal(frame_feed(r, in + sizeof(in) - 1, 1, &used, &f, &err), 1);
    assert_int_equal(frame_reader_buffered(r), 0);
    assert_int_equal(frame_feed(r, in, 0, &used, &f, &err), 0);
    assert_int_equal(frame_reader_buffered(r), 0);
    frame_reader_destroy(r);
}

static void test_frame_idle_reader_holds_no_buffer(void **state)
{
    /* Larger than glibc's tcache sizes, whose cached chunks mallinfo2 counts as in use. */
    uint8_t in[4000 + 8] = {1, 0, 1, 0, 0, 0x0f, 0xa0};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used, before, during;

    (void)state;
    in[sizeof(in) - 1] = 0xce;
    before = heap_in_use();
    assert_int_equal(frame_feed(r, in, 2000, &used, &f, &err), 0);
    assert_int_equal(frame_feed(r, in + 2000, sizeof(in) - 2000, &used, &f, &err), 1);
    during = heap_in_use();
    /* The loop's final call, with no bytes left, releases the copy. */
    assert_int_equal(frame_feed(r, in + sizeof(in), 0, &used, &f, &err), 0);
    assert_int_equal(heap_in_use(), before);
    assert_true(during >= before);
    frame_reader_destroy(r);
}

static void test_frame_oversized_declared_size_rejected_without_allocating(void **state)
{
    uint8_t in[64] = {3, 0, 1, 0xff, 0xff, 0xff, 0xf0};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err = {0};
    struct frame f;
    size_t used, before;

    (void)state;
    /* Header split from some payload: a reader that allocated before checking
     * would allocate 4 GiB here, on the second call. */
    before = heap_in_use();
    assert_int_equal(frame_feed(r, in, 5, &used, &f, &err), 0);
    assert_int_equal(frame_feed(r, in + 5, sizeof(in) - 5, &used, &f, &err), -1);
    assert_int_equal(heap_in_use(), before);
    assert_int_equal(err.code, SPEC_FRAME_ERROR);
    assert_string_equal(err.text, "frame size 4294967288 exceeds frame_max 131072");
    assert_int_equal(frame_reader_buffered(r), 7);
    frame_reader_destroy(r);
}

static void test_frame_exactly_frame_max_accepted(void **state)
{
    const uint32_t max = 4096;
    uint8_t *in = calloc(1, max);
    struct frame_reader *r = frame_reader_create(max);
    struct got_list got = {.n = 0};
    struct proto_err err;

    (void)state;
    in[0] = SPEC_FRAME_BODY;
    put_be32(in + 3, max - 8);
    in[max - 1] = 0xce;
    assert_int_equal(feed_chunk(r, in, max, &got, &err), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.v[0].n, max - 8);
    /* Split across reads too, which takes the copying path. */
    assert_int_equal(feed_chunk(r, in, 100, &got, &err), 0);
    assert_int_equal(feed_chunk(r, in + 100, max - 100, &got, &err), 0);
    assert_int_equal(got.n, 2);
    got_free(&got);
    frame_reader_destroy(r);
    free(in);
}

static void test_frame_one_byte_over_frame_max_refused(void **state)
{
    const uint32_t max = 4096;
    uint8_t *in = calloc(1, max + 1);
    struct frame_reader *r = frame_reader_create(max);
    struct got_list got = {.n = 0};
    struct proto_err err = {0};

    (void)state;
    in[0] = SPEC_FRAME_BODY;
    put_be32(in + 3, max - 7);
    in[max] = 0xce;
    assert_int_equal(feed_chunk(r, in, max + 1, &got, &err), -1);
    assert_int_equal(got.n, 0);
    assert_int_equal(err.code, SPEC_FRAME_ERROR);
    assert_string_equal(err.text, "frame size 4097 exceeds frame_max 4096");
    frame_reader_destroy(r);
    free(in);
}

static void test_frame_set_max_applies_to_next_frame(void **state)
{
    static const uint8_t in[] = {3, 0, 1, 0, 0, 0, 3, 'a', 'b', 'c', 0xce};
    struct frame_reader *r = frame_reader_create(10);
    struct got_list got = {.n = 0};
    struct proto_err err = {0};

    (void)state;
    frame_reader_set_max(r, 11);
    assert_int_equal(feed_chunk(r, in, sizeof(in), &got, &err), 0);
    frame_reader_set_max(r, 10);
    assert_int_equal(feed_chunk(r, in, sizeof(in), &got, &err), -1);
    assert_string_equal(err.text, "frame size 11 exceeds frame_max 10");
    got_free(&got);
    frame_reader_destroy(r);
}

static void test_frame_bad_end_octet_rejected(void **state)
{
    uint8_t in[] = {1, 0, 1, 0, 0, 0, 2, 'h', 'i', 0xcd};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct got_list got = {.n = 0};
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(feed_chunk(r, in, sizeof(in), &got, &err), -1);
    assert_int_equal(got.n, 0);
    assert_int_equal(err.code, SPEC_FRAME_ERROR);
    assert_string_equal(err.text, "bad frame end octet 0xcd");
    frame_reader_destroy(r);
}

static void test_frame_bad_end_octet_rejected_when_split(void **state)
{
    uint8_t in[] = {1, 0, 1, 0, 0, 0, 2, 'h', 'i', 0x00};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct got_list got = {.n = 0};
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(feed_chunk(r, in, 8, &got, &err), 0);
    assert_int_equal(feed_chunk(r, in + 8, 2, &got, &err), -1);
    assert_int_equal(got.n, 0);
    assert_int_equal(err.code, SPEC_FRAME_ERROR);
    assert_string_equal(err.text, "bad frame end octet 0x00");
    frame_reader_destroy(r);
}

static void test_frame_unknown_type_rejected(void **state)
{
    static const uint8_t bad[] = {0, 4, 5, 7, 9, 'A', 0xce, 0xff};
    struct proto_err err = {0};
    char want[64];

    (void)state;
    for (size_t i = 0; i < sizeof(bad); i++) {
        uint8_t in[] = {bad[i], 0, 0, 0, 0, 0, 0, 0xce};
        struct frame_reader *r = frame_reader_create(FRAME_MAX);
        struct got_list got = {.n = 0};

        assert_int_equal(feed_chunk(r, in, sizeof(in), &got, &err), -1);
        assert_int_equal(err.code, SPEC_FRAME_ERROR);
        snprintf(want, sizeof(want), "unknown frame type %u", (unsigned)bad[i]);
        assert_string_equal(err.text, want);
        frame_reader_destroy(r);
    }
}

static void test_frame_feed_after_error_keeps_failing(void **state)
{
    static const uint8_t bad[] = {4, 0, 0, 0, 0, 0, 0, 0xce};
    static const uint8_t good[] = {8, 0, 0, 0, 0, 0, 0, 0xce};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct got_list got = {.n = 0};
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(feed_chunk(r, bad, sizeof(bad), &got, &err), -1);
    err.code = 0;
    assert_int_equal(feed_chunk(r, good, sizeof(good), &got, &err), -1);
    assert_int_equal(err.code, SPEC_FRAME_ERROR);
    assert_int_equal(got.n, 0);
    frame_reader_destroy(r);
}

static void test_frame_empty_input_needs_more(void **state)
{
    static const uint8_t in[] = {1, 0, 1, 0, 0, 0, 3, 'a', 'b', 'c', 0xce};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct proto_err err;
    struct frame f;
    size_t used = 99;

    (void)state;
    assert_int_equal(frame_feed(r, NULL, 0, &used, &f, &err), 0);
    assert_int_equal(used, 0);
    /* Also in the middle of a header and of a copied payload. */
    assert_int_equal(frame_feed(r, in, 3, &used, &f, &err), 0);
    assert_int_equal(frame_feed(r, NULL, 0, &used, &f, &err), 0);
    assert_int_equal(frame_reader_buffered(r), 3);
    assert_int_equal(frame_feed(r, in + 3, 6, &used, &f, &err), 0);
    assert_int_equal(frame_feed(r, NULL, 0, &used, &f, &err), 0);
    assert_int_equal(frame_reader_buffered(r), 7 + 4);
    assert_int_equal(frame_feed(r, in + 9, 2, &used, &f, &err), 1);
    assert_memory_equal(f.payload.p, "abc", 3);
    frame_reader_destroy(r);
    frame_reader_destroy(NULL);
}

/* Golden bad inputs: each file fed whole and byte by byte must fail the same way. */
static void test_frame_golden_bad_inputs_rejected(void **state)
{
    static const struct {
        const char *file;
        size_t frames_before;
        const char *text;
    } cases[] = {
        {"declared-size-fffffff0.bin", 0, "frame size 4294967288 exceeds frame_max 131072"},
        {"size-one-over-frame-max-131072.bin", 0, "frame size 131073 exceeds frame_max 131072"},
        {"bad-end-octet-heartbeat.bin", 0, "bad frame end octet 0x00"},
        {"bad-end-octet-method.bin", 0, "bad frame end octet 0xcd"},
        {"unknown-frame-type-4.bin", 0, "unknown frame type 4"},
        {"protocol-header-as-frame.bin", 0, "unknown frame type 65"},
        {"heartbeat-then-unknown-frame-type-0.bin", 1, "unknown frame type 0"},
        {"body-then-payload-longer-than-declared.bin", 1, "bad frame end octet 0x21"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        char path[256];
        uint8_t data[512];
        size_t n;
        FILE *fp;

        snprintf(path, sizeof(path), DATA_DIR "%s", cases[i].file);
        fp = fopen(path, "rb");
        if (!fp)
            fail_msg("cannot open %s (run from the repository root)", path);
        n = fread(data, 1, sizeof(data), fp);
        fclose(fp);
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct frame_reader *r = frame_reader_create(FRAME_MAX);
            struct got_list got = {.n = 0};
            struct proto_err err = {0};
            int rc = 0;

            for (size_t off = 0; off < n && rc == 0; off += bytewise ? 1 : n)
                rc = feed_chunk(r, data + off, bytewise ? 1 : n, &got, &err);
            assert_int_equal(rc, -1);
            assert_int_equal(err.code, SPEC_FRAME_ERROR);
            assert_string_equal(err.text, cases[i].text);
            /* Complete frames only: a streamed body's pieces may precede its bad end. */
            assert_int_equal(got.n - got.open, cases[i].frames_before);
            got_free(&got);
            frame_reader_destroy(r);
        }
    }
}

/* ---- content header ---- */

static void test_frame_content_header_decodes_fields(void **state)
{
    static const uint8_t p[] = {0, 60, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0x90, 0x00, 'x'};
    struct content_header h;
    struct proto_err err;

    (void)state;
    assert_int_equal(frame_decode_content_header((struct view){p, sizeof(p)}, &h, &err), 0);
    assert_int_equal(h.class_id, 60);
    assert_true(h.body_size == 0x100000002ull);
    assert_ptr_equal(h.props.p, p + 12);
    assert_int_equal(h.props.n, 3);
}

static void test_frame_content_header_short_is_502(void **state)
{
    static const uint8_t p[12] = {0, 60};
    struct content_header h;
    struct proto_err err = {0};

    (void)state;
    for (size_t n = 0; n < sizeof(p); n++) {
        uint8_t *c = malloc(n ? n : 1);
        memcpy(c, p, n);
        err.code = 0;
        assert_int_equal(frame_decode_content_header((struct view){c, n}, &h, &err), -1);
        assert_int_equal(err.code, SPEC_SYNTAX_ERROR);
        free(c);
    }
    /* The fixed part alone is accepted; the empty property list is for the
     * properties decoder to judge. */
    assert_int_equal(frame_decode_content_header((struct view){p, 12}, &h, &err), 0);
    assert_int_equal(h.props.n, 0);
}

/* ---- writers ---- */

static void test_frame_put_heartbeat_bytes(void **state)
{
    static const uint8_t want[] = {8, 0, 0, 0, 0, 0, 0, 0xce};
    struct buf b = {0};

    (void)state;
    frame_put_heartbeat(&b);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.p, want, sizeof(want));
    buf_free(&b);
}

static void test_frame_put_method_bytes(void **state)
{
    /* clang-format off */
    static const uint8_t want[] = {
        1, 0, 5, 0, 0, 0, 13,   /* method frame, channel 5, 13 bytes */
        0, 60, 0, 80,           /* basic.ack */
        0, 0, 0, 0, 1, 2, 3, 4, /* delivery-tag */
        1,                      /* multiple */
        0xce,
    };
    /* clang-format on */
    struct spec_method m = {.id = SPEC_BASIC_ACK};
    struct buf b = {0};

    (void)state;
    m.u.basic_ack.delivery_tag = 0x01020304;
    m.u.basic_ack.multiple = true;
    buf_put_u8(&b, 0x77); /* appends after existing bytes */
    frame_put_method(&b, 5, &m);
    assert_int_equal(b.len, 1 + sizeof(want));
    assert_memory_equal(b.p + 1, want, sizeof(want));
    buf_free(&b);
}

static void test_frame_put_content_header_round_trips(void **state)
{
    static const uint8_t props[] = {0x80, 0x00, 4, 't', 'e', 'x', 't'};
    struct frame_reader *r = frame_reader_create(FRAME_MAX);
    struct got_list got = {.n = 0};
    struct content_header h;
    struct proto_err err;
    struct buf b = {0};

    (void)state;
    frame_put_content_header(&b, 9, 123456789012ull, (struct view){props, sizeof(props)});
    assert_int_equal(feed_chunk(r, b.p, b.len, &got, &err), 0);
    assert_int_equal(got.n, 1);
    assert_int_equal(got.v[0].type, SPEC_FRAME_HEADER);
    assert_int_equal(got.v[0].channel, 9);
    assert_int_equal(
        frame_decode_content_header((struct view){got.v[0].payload, got.v[0].n}, &h, &err), 0);
    assert_int_equal(h.class_id, SPEC_CLASS_BASIC);
    assert_true(h.body_size == 123456789012ull);
    assert_true(view_eq(h.props, (struct view){props, sizeof(props)}));
    assert_int_equal(get_be16(got.v[0].payload + 2), 0); /* weight */
    got_free(&got);
    frame_reader_destroy(r);
    buf_free(&b);
}

static void test_frame_put_body_empty_appends_nothing(void **state)
{
    struct buf b = {0};

    (void)state;
    frame_put_body(&b, 1, (struct view){NULL, 0}, FRAME_MAX);
    assert_int_equal(b.len, 0);
}

static void test_frame_put_body_splits_at_frame_max(void **state)
{
    const uint32_t max = 4096;
    const size_t chunk = max - 8;
    const size_t sizes[] = {1, chunk - 1, chunk, chunk + 1, 2 * chunk, 3 * chunk + 17};
    uint8_t *body = malloc(3 * chunk + 17);

    (void)state;
    for (size_t i = 0; i < 3 * chunk + 17; i++)
        body[i] = (uint8_t)(i ^ (i >> 8));
    for (size_t k = 0; k < ARRAY_LEN(sizes); k++) {
        struct frame_reader *r = frame_reader_create(max);
        struct got_list got = {.n = 0};
        struct proto_err err;
        struct buf b = {0};
        size_t frames = (sizes[k] + chunk - 1) / chunk, off = 0;

        frame_put_body(&b, 3, (struct view){body, sizes[k]}, max);
        assert_int_equal(b.len, sizes[k] + 8 * frames);
        /* Read back with the same limit: every frame fits, all but the last are full. */
        assert_int_equal(feed_chunk(r, b.p, b.len, &got, &err), 0);
        assert_int_equal(got.n, frames);
        for (size_t i = 0; i < got.n; i++) {
            assert_int_equal(got.v[i].type, SPEC_FRAME_BODY);
            assert_int_equal(got.v[i].channel, 3);
            assert_int_equal(got.v[i].n, i + 1 < got.n ? chunk : sizes[k] - off);
            assert_memory_equal(got.v[i].payload, body + off, got.v[i].n);
            off += got.v[i].n;
        }
        assert_int_equal(off, sizes[k]);
        got_free(&got);
        frame_reader_destroy(r);
        buf_free(&b);
    }
    free(body);
}

static void test_frame_put_body_smallest_frame_max(void **state)
{
    struct buf b = {0};

    (void)state;
    /* frame_max 9 leaves one payload byte per frame. */
    frame_put_body(&b, 0, VIEW_LIT("abc"), 9);
    assert_int_equal(b.len, 27);
    assert_int_equal(b.p[7], 'a');
    assert_int_equal(b.p[16], 'b');
    assert_int_equal(b.p[25], 'c');
    assert_int_equal(b.p[26], 0xce);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_stream_in_random_chunks_yields_same_frames),
        cmocka_unit_test(test_frame_stream_in_one_byte_chunks_yields_same_frames),
        cmocka_unit_test(test_frame_stream_in_one_chunk_yields_same_frames),
        cmocka_unit_test(test_frame_whole_frame_is_zero_copy),
        cmocka_unit_test(test_frame_split_header_then_whole_payload_is_zero_copy),
        cmocka_unit_test(test_frame_split_payload_is_copied),
        cmocka_unit_test(test_frame_split_body_is_streamed_without_copies),
        cmocka_unit_test(test_frame_streamed_body_bad_end_octet_rejected),
        cmocka_unit_test(test_frame_buffered_is_zero_after_frame_completes),
        cmocka_unit_test(test_frame_idle_reader_holds_no_buffer),
        cmocka_unit_test(test_frame_oversized_declared_size_rejected_without_allocating),
        cmocka_unit_test(test_frame_exactly_frame_max_accepted),
        cmocka_unit_test(test_frame_one_byte_over_frame_max_refused),
        cmocka_unit_test(test_frame_set_max_applies_to_next_frame),
        cmocka_unit_test(test_frame_bad_end_octet_rejected),
        cmocka_unit_test(test_frame_bad_end_octet_rejected_when_split),
        cmocka_unit_test(test_frame_unknown_type_rejected),
        cmocka_unit_test(test_frame_feed_after_error_keeps_failing),
        cmocka_unit_test(test_frame_empty_input_needs_more),
        cmocka_unit_test(test_frame_golden_bad_inputs_rejected),
        cmocka_unit_test(test_frame_content_header_decodes_fields),
        cmocka_unit_test(test_frame_content_header_short_is_502),
        cmocka_unit_test(test_frame_put_heartbeat_bytes),
        cmocka_unit_test(test_frame_put_method_bytes),
        cmocka_unit_test(test_frame_put_content_header_round_trips),
        cmocka_unit_test(test_frame_put_body_empty_appends_nothing),
        cmocka_unit_test(test_frame_put_body_splits_at_frame_max),
        cmocka_unit_test(test_frame_put_body_smallest_frame_max),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
