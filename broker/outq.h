/* SPDX-License-Identifier: MIT */
/*
 * outq: a connection's pending output, written with writev.
 *
 * Output is a sequence of segments: runs of bytes we encoded ourselves (frame
 * headers, methods, properties), kept in one growable buffer, and slices of
 * message bodies, which are referenced, not copied (zero-copy delivery). Each
 * body slice holds one reference to its message until the slice has been
 * written, so the body stays alive while the socket is slow.
 *
 * Usage: append bytes to outq_buf() (e.g. with the frame_put_* writers), then
 * outq_commit(); outq_put_slice() commits pending bytes itself.
 */
#ifndef BROKER_OUTQ_H
#define BROKER_OUTQ_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "broker/buf.h"

struct msg;
struct outq_seg;

struct outq {
    struct buf bytes;      /* encoded bytes; byte segments refer to offsets in it */
    size_t committed;      /* bytes.len at the last commit */
    struct outq_seg *segs; /* ring of segments */
    size_t head, nsegs, cap;
    size_t pending; /* bytes queued and not yet written */
};

/** The buffer to append encoded bytes to; call outq_commit() afterwards. */
struct buf *outq_buf(struct outq *q);
/** Queues everything appended to outq_buf() since the last commit. */
void outq_commit(struct outq *q);
/** Queues len bytes of m's body from off; takes its own reference to m. */
void outq_put_slice(struct outq *q, struct msg *m, size_t off, size_t len);
/** Bytes queued (committed) and not yet written. */
size_t outq_pending(const struct outq *q);
/**
 * Writes as much as fd takes (one writev of up to 64 segments per call, looping
 * while the kernel accepts everything). Returns bytes written (>= 0), or -1
 * with errno set on a real error; EAGAIN is reported as 0 with *blocked = 1.
 */
ssize_t outq_write(struct outq *q, int fd, int *blocked);
/**
 * For writers other than outq_write (TLS): fills up to max iovecs with the
 * queued output from its start, without consuming it; returns how many. The
 * bytes stay valid and unchanged until consumed (a byte run's address may
 * move when more output is appended; its contents do not change).
 */
size_t outq_peek(const struct outq *q, struct iovec *iov, size_t max);
/** Marks the first n queued bytes (n <= outq_pending) as written. */
void outq_consume(struct outq *q, size_t n);
/** Drops everything queued (and the references held). Leaves q empty and reusable. */
void outq_free(struct outq *q);

#endif
