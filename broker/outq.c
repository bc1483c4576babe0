/* SPDX-License-Identifier: MIT */
#include "broker/outq.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "broker/msg.h"

#define OUTQ_IOV_MAX 64

/* m == NULL: bytes [off, off+len) of q->bytes; otherwise a slice of m's body. */
struct outq_seg {
    struct msg *m;
    size_t off;
    size_t len;
};

static struct outq_seg *seg_at(const struct outq *q, size_t i)
{
    return &q->segs[(q->head + i) & (q->cap - 1)];
}

static struct outq_seg *push_seg(struct outq *q)
{
    if (q->nsegs == q->cap)
        q->segs = xring_grow(q->segs, sizeof(*q->segs), &q->head, q->nsegs, &q->cap, 16);
    return seg_at(q, q->nsegs++);
}

struct buf *outq_buf(struct outq *q)
{
    return &q->bytes;
}

void outq_commit(struct outq *q)
{
    size_t n = q->bytes.len - q->committed;
    struct outq_seg *last;

    if (!n)
        return;
    last = q->nsegs ? seg_at(q, q->nsegs - 1) : NULL;
    if (last && !last->m && last->off + last->len == q->committed) {
        last->len += n;
    } else {
        last = push_seg(q);
        last->m = NULL;
        last->off = q->committed;
        last->len = n;
    }
    q->committed = q->bytes.len;
    q->pending += n;
}

void outq_put_slice(struct outq *q, struct msg *m, size_t off, size_t len)
{
    struct outq_seg *s;

    if (!len)
        return;
    outq_commit(q);
    s = push_seg(q);
    s->m = msg_ref(m);
    s->off = off;
    s->len = len;
    q->pending += len;
}

size_t outq_pending(const struct outq *q)
{
    return q->pending;
}

/* Once most of the byte buffer has been written, move the unwritten tail to
 * the front so a connection that never fully drains does not grow forever. */
static void compact(struct outq *q)
{
    size_t first = q->committed; /* lowest offset still referenced */

    for (size_t i = 0; i < q->nsegs; i++) {
        struct outq_seg *s = seg_at(q, i);
        if (!s->m) {
            first = s->off;
            break;
        }
    }
    if (q->nsegs == 0 && q->committed == q->bytes.len) {
        buf_free(&q->bytes);
        q->committed = 0;
        return;
    }
    if (first < 4096 || first < q->bytes.len / 2)
        return;
    memmove(q->bytes.p, q->bytes.p + first, q->bytes.len - first);
    q->bytes.len -= first;
    q->committed -= first;
    for (size_t i = 0; i < q->nsegs; i++) {
        struct outq_seg *s = seg_at(q, i);
        if (!s->m)
            s->off -= first;
    }
}

static void advance(struct outq *q, size_t n)
{
    q->pending -= n;
    while (n) {
        struct outq_seg *s = seg_at(q, 0);
        size_t take = n < s->len ? n : s->len;

        s->off += take;
        s->len -= take;
        n -= take;
        if (s->len)
            break;
        msg_unref(&s->m);
        q->head = (q->head + 1) & (q->cap - 1);
        q->nsegs--;
    }
    compact(q);
}

/* The first segments as iovecs; *want gets their total length. */
static size_t fill_iov(const struct outq *q, struct iovec *iov, size_t max, size_t *want)
{
    size_t n = q->nsegs < max ? q->nsegs : max;

    *want = 0;
    for (size_t i = 0; i < n; i++) {
        const struct outq_seg *s = seg_at(q, i);
        const uint8_t *base = s->m ? msg_body(s->m).p : q->bytes.p;
        iov[i].iov_base = (void *)(uintptr_t)(base + s->off);
        iov[i].iov_len = s->len;
        *want += s->len;
    }
    return n;
}

size_t outq_peek(const struct outq *q, struct iovec *iov, size_t max)
{
    size_t want;

    return fill_iov(q, iov, max, &want);
}

void outq_consume(struct outq *q, size_t n)
{
    assert(n <= q->pending);
    if (n)
        advance(q, n);
}

ssize_t outq_write(struct outq *q, int fd, int *blocked)
{
    ssize_t total = 0;

    *blocked = 0;
    while (q->nsegs) {
        struct iovec iov[OUTQ_IOV_MAX];
        size_t want, n = fill_iov(q, iov, OUTQ_IOV_MAX, &want);
        ssize_t w;

        w = writev(fd, iov, (int)n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                *blocked = 1;
                return total;
            }
            return -1;
        }
        advance(q, (size_t)w);
        total += w;
        if ((size_t)w < want) {
            *blocked = 1;
            return total;
        }
    }
    return total;
}

void outq_free(struct outq *q)
{
    for (size_t i = 0; i < q->nsegs; i++)
        msg_unref(&seg_at(q, i)->m);
    free(q->segs);
    buf_free(&q->bytes);
    memset(q, 0, sizeof(*q));
}
