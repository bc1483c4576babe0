/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the frame reader (amqp/frame.c).
 *
 * Input layout: byte 0 picks frame_max (low 2 bits) and how many chunk-size
 * bytes follow (high 4 bits); then those chunk sizes (0 = the rest); then the
 * byte stream. The stream is fed once in those chunks and once whole, and
 * both runs must produce the same frames and the same outcome: how a stream
 * is split across reads must never change what it means. Every produced
 * frame is written back and must equal the bytes it came from. Streamed body
 * pieces are joined before that.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct outcome {
    struct buf frames; /* each frame re-encoded, in order */
    struct buf piece;  /* a streamed body frame's payload so far */
    int rc;            /* last frame_feed() result: 0 or -1 */
    struct proto_err err;
};

static void check_frame(const struct frame_reader *r, const struct frame *f, uint32_t frame_max,
                        struct outcome *o)
{
    struct content_header h;
    struct proto_err err;
    uint8_t *w;

    assert(f->type == SPEC_FRAME_METHOD || f->type == SPEC_FRAME_HEADER ||
           f->type == SPEC_FRAME_BODY || f->type == SPEC_FRAME_HEARTBEAT);
    assert((uint64_t)f->payload.n + f->more + FRAME_OVERHEAD <= frame_max);
    assert(frame_reader_buffered(r) == 0);
    assert(f->more == 0 || f->type == SPEC_FRAME_BODY);
    if (f->type == SPEC_FRAME_BODY && (f->more || o->piece.len)) {
        assert(f->payload.n > 0);
        buf_append(&o->piece, f->payload.p, f->payload.n);
        if (f->more)
            return;
        frame_put_body(&o->frames, f->channel, (struct view){o->piece.p, o->piece.len}, frame_max);
        o->piece.len = 0;
        return;
    }
    if (f->type == SPEC_FRAME_HEADER && frame_decode_content_header(f->payload, &h, &err) == 0) {
        assert(h.props.p == f->payload.p + 12);
        assert(h.props.n == f->payload.n - 12);
    }

    /* Writes the frame back out; the reader accepted exactly these bytes. */
    if (f->type == SPEC_FRAME_HEARTBEAT && f->channel == 0 && f->payload.n == 0) {
        frame_put_heartbeat(&o->frames);
        return;
    }
    if (f->type == SPEC_FRAME_BODY && f->payload.n > 0) {
        frame_put_body(&o->frames, f->channel, f->payload, frame_max);
        return;
    }
    w = buf_reserve(&o->frames, f->payload.n + FRAME_OVERHEAD);
    w[0] = f->type;
    put_be16(w + 1, f->channel);
    put_be32(w + 3, (uint32_t)f->payload.n);
    if (f->payload.n)
        memcpy(w + FRAME_HEADER_SIZE, f->payload.p, f->payload.n);
    w[FRAME_HEADER_SIZE + f->payload.n] = SPEC_FRAME_END;
    o->frames.len += f->payload.n + FRAME_OVERHEAD;
}

static void run(const uint8_t *p, size_t n, const uint8_t *sizes, size_t nsizes, uint32_t frame_max,
                struct outcome *o)
{
    struct frame_reader *r = frame_reader_create(frame_max);
    size_t off = 0, k = 0;

    memset(o, 0, sizeof(*o));
    while (off < n && o->rc == 0) {
        size_t len = nsizes ? sizes[k++ % nsizes] : 0;
        size_t pos = 0, used;
        uint8_t *chunk;
        struct frame f;
        int rc;

        if (len == 0 || len > n - off)
            len = n - off;
        /* An exact-size copy, so a read past the caller's bytes is caught. */
        chunk = malloc(len);
        assert(chunk);
        memcpy(chunk, p + off, len);
        for (;;) {
            rc = frame_feed(r, chunk + pos, len - pos, &used, &f, &o->err);
            assert(used <= len - pos);
            pos += used;
            if (rc <= 0)
                break;
            check_frame(r, &f, frame_max, o);
        }
        if (rc == 0)
            assert(pos == len);
        else
            assert(o->err.code == SPEC_FRAME_ERROR || o->err.code == SPEC_INTERNAL_ERROR);
        o->rc = rc;
        free(chunk);
        off += len;
    }
    frame_reader_destroy(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t maxes[4] = {FRAME_OVERHEAD, 64, SPEC_FRAME_MIN_SIZE, 131072};
    struct outcome chunked, whole;
    const uint8_t *sizes;
    size_t nsizes;
    uint32_t frame_max;

    if (size < 1)
        return 0;
    frame_max = maxes[data[0] & 3];
    nsizes = data[0] >> 4;
    if (nsizes > size - 1)
        nsizes = size - 1;
    sizes = data + 1;
    data += 1 + nsizes;
    size -= 1 + nsizes;

    run(data, size, sizes, nsizes, frame_max, &chunked);
    run(data, size, NULL, 0, frame_max, &whole);

    assert(chunked.rc == whole.rc);
    assert(chunked.frames.len == whole.frames.len);
    assert(chunked.frames.len <= size);
    if (chunked.frames.len) {
        assert(memcmp(chunked.frames.p, whole.frames.p, chunked.frames.len) == 0);
        assert(memcmp(chunked.frames.p, data, chunked.frames.len) == 0);
    }
    if (chunked.rc < 0) {
        assert(chunked.err.code == whole.err.code);
        assert(strcmp(chunked.err.text, whole.err.text) == 0);
    }
    buf_free(&chunked.frames);
    buf_free(&whole.frames);
    buf_free(&chunked.piece);
    buf_free(&whole.piece);
    return 0;
}
