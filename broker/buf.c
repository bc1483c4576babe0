/* SPDX-License-Identifier: MIT */
#include "broker/buf.h"

#include <assert.h>
#include <stdlib.h>

uint8_t *buf_reserve(struct buf *b, size_t n)
{
    /* Also allocate for n == 0 on an empty buffer: NULL + 0 is undefined. */
    if (b->cap - b->len < n || !b->p) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->len < n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

void buf_append(struct buf *b, const void *p, size_t n)
{
    if (!n)
        return;
    memcpy(buf_reserve(b, n), p, n);
    b->len += n;
}

void buf_put_u8(struct buf *b, uint8_t v)
{
    buf_append(b, &v, 1);
}

void buf_put_be16(struct buf *b, uint16_t v)
{
    put_be16(buf_reserve(b, 2), v);
    b->len += 2;
}

void buf_put_be32(struct buf *b, uint32_t v)
{
    put_be32(buf_reserve(b, 4), v);
    b->len += 4;
}

void buf_put_be64(struct buf *b, uint64_t v)
{
    put_be64(buf_reserve(b, 8), v);
    b->len += 8;
}

void buf_put_shortstr(struct buf *b, struct view s)
{
    assert(s.n <= 255);
    buf_put_u8(b, (uint8_t)s.n);
    buf_append(b, s.p, s.n);
}

void buf_put_longstr(struct buf *b, struct view s)
{
    assert(s.n <= UINT32_MAX);
    buf_put_be32(b, (uint32_t)s.n);
    buf_append(b, s.p, s.n);
}

void buf_consume(struct buf *b, size_t n)
{
    assert(n <= b->len);
    if (n == b->len) {
        buf_free(b);
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void buf_free(struct buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}
