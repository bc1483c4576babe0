/* SPDX-License-Identifier: MIT */
/*
 * Frame reader and writers (0-9-1 §4.2.3, §2.3.5).
 *
 * The reader is a small state machine: header (7 bytes, buffered inline when
 * a read splits it), then payload + end octet. Storage for a payload is only
 * allocated when a method or header frame really is split across reads, only
 * after its size has been checked against frame_max, and it is freed on the
 * next call, so an idle connection holds nothing but the struct itself.
 * A split body frame is streamed instead: pieces of it are produced as they
 * arrive, always keeping its last payload byte back (in `tail` if a read ends
 * right after it) until the end octet can be checked with it.
 */
#include "amqp/frame.h"

#include <assert.h>
#include <inttypes.h>
#include <stdlib.h>

struct frame_reader {
    uint32_t frame_max;
    uint32_t size; /* payload size of the frame in progress, once hdr is complete */
    uint8_t *buf;  /* payload + end octet of a split frame, or NULL */
    size_t have;   /* bytes of buf filled */
    uint8_t hdr[FRAME_HEADER_SIZE];
    uint8_t hdr_len; /* bytes of hdr filled */
    bool handed_out; /* buf holds the frame last returned; free it on the next call */
    bool failed;
    bool streaming; /* a split body frame: `left` payload bytes not produced yet */
    bool tail_held; /* its last payload byte is in `tail`, the end octet is next */
    uint8_t tail;
    uint32_t left;
};

struct frame_reader *frame_reader_create(uint32_t frame_max)
{
    struct frame_reader *r = xcalloc(1, sizeof(*r));

    frame_reader_set_max(r, frame_max);
    return r;
}

void frame_reader_destroy(struct frame_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    free(r);
}

void frame_reader_set_max(struct frame_reader *r, uint32_t frame_max)
{
    /* connection.tune's "0 = no limit" must be resolved by the caller: an
     * unbounded limit would let a peer make us allocate 4 GiB per frame. */
    assert(frame_max >= FRAME_OVERHEAD);
    r->frame_max = frame_max;
}

size_t frame_reader_buffered(const struct frame_reader *r)
{
    size_t n = r->hdr_len;

    if (r->streaming)
        return r->tail_held;
    if (r->buf && !r->handed_out)
        n += (size_t)r->size + 1;
    return n;
}

/* Validates the complete header in r->hdr before anything is allocated for it. */
static int check_header(struct frame_reader *r, struct proto_err *err)
{
    uint8_t type = r->hdr[0];
    uint64_t total;

    switch (type) {
    case SPEC_FRAME_METHOD:
    case SPEC_FRAME_HEADER:
    case SPEC_FRAME_BODY:
    case SPEC_FRAME_HEARTBEAT:
        break;
    default:
        return err_set(err, SPEC_FRAME_ERROR, "unknown frame type %u", (unsigned)type);
    }
    r->size = get_be32(r->hdr + 3);
    /* 64-bit sum: size may be close to 2^32. frame_max covers the whole frame
     * (§4.2.3 and connection.tune's frame-max), not just the payload. */
    total = (uint64_t)r->size + FRAME_OVERHEAD;
    if (total > r->frame_max)
        return err_set(err, SPEC_FRAME_ERROR, "frame size %" PRIu64 " exceeds frame_max %" PRIu32,
                       total, r->frame_max);
    return 0;
}

/* payload is followed in memory by the end octet. */
static int finish(struct frame_reader *r, const uint8_t *payload, struct frame *f,
                  struct proto_err *err)
{
    uint8_t end = payload[r->size];

    if (end != SPEC_FRAME_END)
        return err_set(err, SPEC_FRAME_ERROR, "bad frame end octet 0x%02x", (unsigned)end);
    f->type = r->hdr[0];
    f->channel = get_be16(r->hdr + 1);
    f->payload = (struct view){payload, r->size};
    f->more = 0;
    r->hdr_len = 0;
    return 1;
}

/* The next piece of a streamed body frame from the n bytes at p. */
static int stream(struct frame_reader *r, const uint8_t *p, size_t n, size_t *consumed,
                  struct frame *f, struct proto_err *err)
{
    const uint8_t *piece = p;
    size_t take;

    *consumed = 0;
    f->type = SPEC_FRAME_BODY;
    f->channel = get_be16(r->hdr + 1);
    if (r->tail_held || n > r->left) { /* the end octet is here: the last piece */
        if (r->tail_held)
            piece = &r->tail;
        if (p[r->tail_held ? 0 : r->left] != SPEC_FRAME_END)
            return err_set(err, SPEC_FRAME_ERROR, "bad frame end octet 0x%02x",
                           (unsigned)p[r->tail_held ? 0 : r->left]);
        f->payload = (struct view){piece, r->tail_held ? 1 : r->left};
        f->more = 0;
        *consumed = r->tail_held ? 1 : (size_t)r->left + 1;
        r->streaming = r->tail_held = false;
        r->hdr_len = 0;
        return 1;
    }
    if (r->left == 1) { /* n == 1: keep the last byte until the end octet comes */
        r->tail = p[0];
        r->tail_held = true;
        *consumed = 1;
        return 0;
    }
    take = n < r->left ? n : r->left - 1;
    r->left -= (uint32_t)take;
    f->payload = (struct view){p, take};
    f->more = r->left;
    *consumed = take;
    return 1;
}

int frame_feed(struct frame_reader *r, const uint8_t *p, size_t n, size_t *consumed,
               struct frame *f, struct proto_err *err)
{
    size_t off = 0;
    size_t want, take;
    int rc;

    *consumed = 0;
    if (r->failed)
        return err_set(err, SPEC_FRAME_ERROR, "frame reader fed after an error");
    if (r->handed_out) {
        free(r->buf);
        r->buf = NULL;
        r->handed_out = false;
    }

    if (r->hdr_len < FRAME_HEADER_SIZE) {
        take = FRAME_HEADER_SIZE - r->hdr_len;
        if (take > n)
            take = n;
        if (take)
            memcpy(r->hdr + r->hdr_len, p, take);
        r->hdr_len = (uint8_t)(r->hdr_len + take);
        off = take;
        if (r->hdr_len < FRAME_HEADER_SIZE) {
            *consumed = off;
            return 0;
        }
        if (check_header(r, err) < 0)
            goto fail;
    }

    want = (size_t)r->size + 1;
    if (!r->buf && !r->streaming) {
        /* Zero copy whenever payload and end octet are all in the caller's
         * bytes, even if the header itself arrived in an earlier read. */
        if (n - off >= want) {
            rc = finish(r, p + off, f, err);
            if (rc < 0)
                goto fail;
            *consumed = off + want;
            return rc;
        }
        /* Allocate (or start streaming) only once payload bytes are here. */
        if (n - off == 0) {
            *consumed = off;
            return 0;
        }
        if (r->hdr[0] == SPEC_FRAME_BODY) {
            r->streaming = true;
            r->left = r->size; /* >= 1: an empty frame's end octet was not here */
        }
    }
    if (r->streaming) {
        if (n - off == 0) {
            *consumed = off;
            return 0;
        }
        rc = stream(r, p + off, n - off, &take, f, err);
        off += take;
        if (rc < 0)
            goto fail;
        *consumed = off;
        return rc;
    }
    if (!r->buf) {
        r->buf = trymalloc(want);
        if (!r->buf) {
            err_set(err, SPEC_INTERNAL_ERROR, "cannot allocate %zu bytes for a frame", want);
            goto fail;
        }
        r->have = 0;
    }

    take = want - r->have;
    if (take > n - off)
        take = n - off;
    if (take) { /* p may be NULL when n == 0 */
        memcpy(r->buf + r->have, p + off, take);
        r->have += take;
        off += take;
    }
    *consumed = off;
    if (r->have < want)
        return 0;
    rc = finish(r, r->buf, f, err);
    if (rc < 0)
        goto fail;
    r->handed_out = true;
    return rc;

fail:
    r->failed = true;
    *consumed = off;
    return -1;
}

int frame_decode_content_header(struct view payload, struct content_header *h,
                                struct proto_err *err)
{
    /* class-id, weight, body-size (§4.2.6.1). The property flags that follow
     * are left to the properties decoder, so an empty property part (which
     * some peers send for "no properties") is its call, not ours. */
    if (payload.n < 12)
        return err_set(err, SPEC_SYNTAX_ERROR, "content header too short (%zu bytes)", payload.n);
    h->class_id = get_be16(payload.p);
    h->body_size = get_be64(payload.p + 4);
    h->props = (struct view){payload.p + 12, payload.n - 12};
    return 0;
}

/* ---- writers ---- */

/* Reserves a whole frame of payload size n and writes its header and end
 * octet; returns where the payload goes. The caller adds n + 8 to out->len. */
static uint8_t *put_frame(struct buf *out, uint8_t type, uint16_t ch, size_t n)
{
    uint8_t *w;

    assert(n <= UINT32_MAX - FRAME_OVERHEAD);
    w = buf_reserve(out, n + FRAME_OVERHEAD);
    w[0] = type;
    put_be16(w + 1, ch);
    put_be32(w + 3, (uint32_t)n);
    w[FRAME_HEADER_SIZE + n] = SPEC_FRAME_END;
    return w + FRAME_HEADER_SIZE;
}

void frame_put_method(struct buf *out, uint16_t ch, const struct spec_method *m)
{
    size_t n = spec_method_size(m);
    uint8_t *w = put_frame(out, SPEC_FRAME_METHOD, ch, n);
    size_t wrote = spec_encode_method(m, w);

    assert(wrote == n);
    (void)wrote;
    out->len += n + FRAME_OVERHEAD;
}

void frame_put_content_header(struct buf *out, uint16_t ch, uint64_t body_size, struct view props)
{
    uint8_t *w = put_frame(out, SPEC_FRAME_HEADER, ch, 12 + props.n);

    put_be16(w, SPEC_CLASS_BASIC);
    put_be16(w + 2, 0); /* weight, unused (§4.2.6.1) */
    put_be64(w + 4, body_size);
    if (props.n)
        memcpy(w + 12, props.p, props.n);
    out->len += 12 + props.n + FRAME_OVERHEAD;
}

void frame_put_body(struct buf *out, uint16_t ch, struct view body, uint32_t frame_max)
{
    size_t chunk, frames;

    assert(frame_max > FRAME_OVERHEAD);
    /* An empty body has no body frames at all (§4.2.6.2). */
    if (body.n == 0)
        return;
    chunk = frame_max - FRAME_OVERHEAD;
    frames = body.n / chunk + (body.n % chunk != 0);
    buf_reserve(out, body.n + frames * FRAME_OVERHEAD);
    while (body.n) {
        size_t n = body.n < chunk ? body.n : chunk;
        uint8_t *w = put_frame(out, SPEC_FRAME_BODY, ch, n);

        memcpy(w, body.p, n);
        out->len += n + FRAME_OVERHEAD;
        body.p += n;
        body.n -= n;
    }
}

void frame_put_heartbeat(struct buf *out)
{
    put_frame(out, SPEC_FRAME_HEARTBEAT, 0, 0);
    out->len += FRAME_OVERHEAD;
}
