/* SPDX-License-Identifier: MIT */
/*
 * frame: AMQP 0-9-1 frame reader (push parser) and writer helpers. No I/O.
 *
 * A frame is type(1) channel(2) size(4) payload(size) frame-end(0xCE).
 * The reader takes whatever bytes the socket produced and yields frames.
 * When a frame's payload and end octet lie inside the caller's bytes its
 * payload is a view into them (zero copy, even if the 7-byte header came in
 * an earlier read). A method or header frame split across reads is copied,
 * into a buffer the reader allocates at the frame's exact size after checking
 * the declared size against frame_max. A body frame split across reads is
 * never copied: it is produced in pieces, each a view into the caller's bytes
 * (see struct frame's `more`), so the consumer appends them straight to the
 * message, and a connection in the middle of a large body frame holds no
 * buffer for it. A produced frame is valid until the next
 * frame_feed() call or until the caller's bytes go away, whichever is first.
 *
 * Memory: the reader itself is a few dozen bytes. A copied frame's buffer is
 * freed by the next frame_feed() call, so feed until it returns 0 (see below)
 * and an idle connection holds no frame buffer.
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
    uint8_t type; /* SPEC_FRAME_METHOD / HEADER / BODY / HEARTBEAT */
    uint16_t channel;
    struct view payload; /* borrowed, see above */
    /* Body frames only: payload bytes of this frame still to come in later
     * pieces. 0 for every other frame and for a body frame's last piece, which
     * is only produced once the frame's end octet has been checked, so a
     * complete body never rests on a malformed frame. */
    uint32_t more;
};

struct frame_reader;

/** Creates a reader accepting frames of at most frame_max bytes in total
 * (header + payload + end, as the spec's frame-max). Owned by the caller;
 * free with frame_reader_destroy() (which accepts NULL). frame_max must be at
 * least FRAME_OVERHEAD (asserted): connection.tune's 0 ("no limit") must be
 * turned into a real limit by the caller. */
struct frame_reader *frame_reader_create(uint32_t frame_max);
void frame_reader_destroy(struct frame_reader *r);
/** Changes the limit (after connection.tune-ok). It applies from the next
 * frame header; a frame already in progress was checked against the old one. */
void frame_reader_set_max(struct frame_reader *r, uint32_t frame_max);
/** Bytes the reader holds for a partial frame (for memory accounting): the
 * header bytes so far plus, once a split frame's payload is being copied, its
 * whole buffer. 0 between frames and right after a frame is produced. */
size_t frame_reader_buffered(const struct frame_reader *r);

/**
 * Feeds n bytes at p (borrowed). Consumes bytes until one frame is complete
 * or the input is exhausted, and stores the count in *consumed.
 * Returns 1 when *f holds a frame, 0 when more input is needed (all n bytes
 * consumed), -1 on a framing error with err filled in: 501 FRAME_ERROR for a
 * frame larger than frame_max ("frame size N exceeds frame_max M"), an
 * unknown frame type, or a missing 0xCE end; 541 INTERNAL_ERROR if the buffer
 * for a split frame cannot be allocated. The size and type are checked as
 * soon as the header is complete, before anything is allocated.
 * After an error the reader must not be fed again (it keeps failing).
 * Never calls back. Call it in a loop until it returns 0 or -1, even when
 * no bytes are left (n == 0): that last call frees a copied frame's buffer.
 *
 *     for (;;) {
 *         rc = frame_feed(r, p + off, n - off, &used, &f, &err);
 *         off += used;
 *         if (rc <= 0) break;
 *         handle(&f);
 *     }
 */
int frame_feed(struct frame_reader *r, const uint8_t *p, size_t n, size_t *consumed,
               struct frame *f, struct proto_err *err);

/* ---- content header payload: class-id(2) weight(2) body-size(8) props ---- */
struct content_header {
    uint16_t class_id;
    uint64_t body_size;
    struct view props; /* property flags + property list, raw */
};

/** Splits a header frame's payload; h's props view borrows payload. Returns 0,
 * or -1 with 502 SYNTAX_ERROR when shorter than the 12 fixed bytes. props may
 * be empty; the flag word is left to spec_decode_props(). The weight is
 * ignored. class_id is not checked here. */
int frame_decode_content_header(struct view payload, struct content_header *h,
                                struct proto_err *err);

/* ---- writers: append complete frames to an output buffer ---- */

/* Writers append with xrealloc and cannot fail; they borrow their arguments. */

/** Appends a method frame encoding m on channel ch. The frame is not checked
 * against frame_max: the methods a server sends are small. */
void frame_put_method(struct buf *out, uint16_t ch, const struct spec_method *m);
/** Appends a content header frame (class basic, weight 0) whose properties are
 * the raw bytes props (flag word + property list, as received or encoded by
 * spec_encode_props()). */
void frame_put_content_header(struct buf *out, uint16_t ch, uint64_t body_size, struct view props);
/** Appends body frames carrying body, split so that no frame exceeds frame_max
 * (payload at most frame_max - 8; frame_max > 8 asserted). An empty body
 * appends nothing. */
void frame_put_body(struct buf *out, uint16_t ch, struct view body, uint32_t frame_max);
/** Appends a heartbeat frame (channel 0). */
void frame_put_heartbeat(struct buf *out);

#endif
