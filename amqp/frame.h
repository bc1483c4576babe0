/* SPDX-License-Identifier: MIT */
/*
 * frame: AMQP 0-9-1 frame reader (push parser) and writer helpers. No I/O.
 *
 * A frame is type(1) channel(2) size(4) payload(size) frame-end(0xCE).
 * The reader takes whatever bytes the socket produced and yields complete
 * frames. When a frame lies entirely inside the caller's bytes its payload is
 * a view into them (zero copy); only frames split across reads are copied,
 * into a buffer the reader allocates after checking the declared size against
 * frame_max. A produced frame is valid until the next frame_feed() call or
 * until the caller's bytes go away, whichever is first.
 */
#ifndef AMQP_FRAME_H
#define AMQP_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "amqp/spec_gen.h"
#include "broker/buf.h"
#include "broker/err.h"
#include "broker/util.h"

#define FRAME_HEADER_SIZE 7
#define FRAME_OVERHEAD 8 /* header + end octet */

struct frame {
    uint8_t type;       /* SPEC_FRAME_METHOD / HEADER / BODY / HEARTBEAT */
    uint16_t channel;
    struct view payload; /* borrowed, see above */
};

struct frame_reader;

/** Creates a reader accepting frames of at most frame_max bytes in total
 * (header + payload + end, as the spec's frame-max). Owned by the caller. */
struct frame_reader *frame_reader_create(uint32_t frame_max);
void frame_reader_destroy(struct frame_reader *r);
/** Changes the limit (after connection.tune-ok). */
void frame_reader_set_max(struct frame_reader *r, uint32_t frame_max);
/** Bytes the reader holds for a partial frame (for memory accounting). */
size_t frame_reader_buffered(const struct frame_reader *r);

/**
 * Feeds n bytes at p. Consumes bytes until one frame is complete or the input
 * is exhausted, and stores the count in *consumed.
 * Returns 1 when *f holds a frame, 0 when more input is needed (all n bytes
 * consumed), -1 on a framing error with err filled in: 501 FRAME_ERROR for a
 * frame larger than frame_max, an unknown frame type, or a missing 0xCE end.
 * After an error the reader must not be fed again.
 */
int frame_feed(struct frame_reader *r, const uint8_t *p, size_t n, size_t *consumed,
               struct frame *f, struct proto_err *err);

/* ---- content header payload: class-id(2) weight(2) body-size(8) props ---- */
struct content_header {
    uint16_t class_id;
    uint64_t body_size;
    struct view props; /* property flags + property list, raw */
};

/** Splits a header frame's payload. Returns 0, or -1 with 502 SYNTAX_ERROR when short. */
int frame_decode_content_header(struct view payload, struct content_header *h,
                                struct proto_err *err);

/* ---- writers: append complete frames to an output buffer ---- */

/** Appends a method frame encoding m on channel ch. */
void frame_put_method(struct buf *out, uint16_t ch, const struct spec_method *m);
/** Appends a content header frame (class basic) whose properties are the raw bytes props. */
void frame_put_content_header(struct buf *out, uint16_t ch, uint64_t body_size, struct view props);
/** Appends body frames carrying body, split so that no frame exceeds frame_max. */
void frame_put_body(struct buf *out, uint16_t ch, struct view body, uint32_t frame_max);
/** Appends a heartbeat frame (channel 0). */
void frame_put_heartbeat(struct buf *out);

#endif
