/* SPDX-License-Identifier: MIT */
/*
 * buf: a growable byte buffer (a small value type, so its fields are public).
 *
 * The buffer owns p. Appends grow it with xrealloc (abort on OOM), so callers
 * must bound what a peer can make them append before appending it.
 */
#ifndef BROKER_BUF_H
#define BROKER_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "broker/util.h"

struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
};

/** Ensures room for n more bytes and returns a pointer to the end (len unchanged). */
uint8_t *buf_reserve(struct buf *b, size_t n);
void buf_append(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_be16(struct buf *b, uint16_t v);
void buf_put_be32(struct buf *b, uint32_t v);
void buf_put_be64(struct buf *b, uint64_t v);
/** Appends a length-prefixed shortstr; asserts n <= 255 (callers validate first). */
void buf_put_shortstr(struct buf *b, struct view s);
/** Appends a 32-bit length-prefixed longstr. */
void buf_put_longstr(struct buf *b, struct view s);
/** Drops the first n bytes (memmove); frees the storage when it empties. */
void buf_consume(struct buf *b, size_t n);
/** Frees the storage and resets to empty. Safe on a zeroed buf. */
void buf_free(struct buf *b);

#endif
