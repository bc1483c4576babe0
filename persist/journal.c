/* SPDX-License-Identifier: MIT */
/*
 * journal: the sync thread. It takes every batch submitted so far as one
 * group, writes it (pwritev at the offsets the loop thread chose), makes it
 * durable with one fdatasync per touched segment (group commit), performs
 * the segment deletions the batches carry, and tells the loop through the
 * notify callback. It touches only the store's files and the queue under mu.
 *
 * Ordering: groups are written strictly in submission order and a failed
 * group blocks the ones after it, so durability is a prefix of the log and a
 * deletion never runs before the records that justified it are durable.
 *
 * Failure: a failed write or sync truncates every touched segment back to
 * where the group started (so no half-written record stays behind a good
 * one), reports DISK_FULL or IO_ERROR, and retries the same group later: the
 * bytes are still in memory, and rewriting them at the same offsets is
 * idempotent. Retrying an fsync that failed is not trusted (the kernel may
 * have dropped the dirty pages), which is why the whole group is rewritten.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "persist/persist_int.h"

#define RETRY_MS 200
#define MAX_IOV 1024 /* IOV_MAX on Linux */
#define DISK_POLL_MS 1000

static int free_space_default(int dirfd, uint64_t *out)
{
    struct statvfs st;

    if (fstatvfs(dirfd, &st) != 0)
        return -1;
    *out = (uint64_t)st.f_bavail * (uint64_t)st.f_frsize;
    return 0;
}

const struct persist_io persist__default_io = {
    .pwritev = pwritev,
    .fdatasync = fdatasync,
    .fsync = fsync,
    .ftruncate = ftruncate,
    .free_space = free_space_default,
};

/* ---- descriptors (thread-owned) ---- */

/* Syncs every segment written since the last sync, and the directory when a
 * file was created. Durability must stay a prefix of the log: recovery drops
 * everything after the first torn record, so a sync never covers a later
 * segment without the earlier ones. */
static int sync_all(struct store *s)
{
    for (size_t i = 0; i < ARRAY_LEN(s->tfds); i++) {
        if (s->tfds[i].fd < 0 || !s->tfds[i].dirty)
            continue;
        if (s->io.fdatasync(s->tfds[i].fd) != 0)
            return -1;
        s->tfds[i].dirty = false;
        pthread_mutex_lock(&s->mu);
        s->t_syncs++;
        pthread_mutex_unlock(&s->mu);
    }
    if (s->dir_dirty) {
        if (s->io.fsync(s->dirfd) != 0)
            return -1;
        s->dir_dirty = false;
    }
    return 0;
}

/* The descriptor of seg, opened (or created, truncating) as needed. A dirty
 * descriptor is synced before it is evicted: syncing a reopened descriptor
 * might not report a write-back error that happened before it was opened. */
static struct tfd *tfd_get(struct store *s, uint32_t seg, bool create)
{
    char name[32];
    size_t victim = ARRAY_LEN(s->tfds);
    int fd;

    for (size_t i = 0; i < ARRAY_LEN(s->tfds); i++) {
        if (s->tfds[i].fd < 0 || s->tfds[i].seg != seg)
            continue;
        if (!create)
            return &s->tfds[i];
        close(s->tfds[i].fd);
        s->tfds[i].fd = -1;
    }
    store__seg_name(name, seg);
    fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
    if (fd < 0)
        return NULL;
    if (create)
        s->dir_dirty = true;
    for (size_t i = 0; i < ARRAY_LEN(s->tfds); i++) {
        if (s->tfds[i].fd < 0) {
            victim = i;
            break;
        }
        if (victim == ARRAY_LEN(s->tfds) || s->tfds[i].seg < s->tfds[victim].seg)
            victim = i;
    }
    if (s->tfds[victim].dirty && s->io.fdatasync(s->tfds[victim].fd) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (s->tfds[victim].fd >= 0)
        close(s->tfds[victim].fd);
    s->tfds[victim] = (struct tfd){seg, fd, false};
    return &s->tfds[victim];
}

static void tfd_drop(struct store *s, uint32_t seg)
{
    for (size_t i = 0; i < ARRAY_LEN(s->tfds); i++) {
        if (s->tfds[i].fd >= 0 && s->tfds[i].seg == seg) {
            close(s->tfds[i].fd);
            s->tfds[i].fd = -1;
            s->tfds[i].dirty = false;
        }
    }
}

/* ---- writing ---- */

struct touched {
    uint32_t seg;
    bool created;
    uint64_t start;
};

struct group_state {
    struct touched *t;
    size_t nt, capt;
    int err;
    char text[256];
};

static void touch(struct group_state *g, uint32_t seg, uint64_t start, bool created)
{
    for (size_t i = 0; i < g->nt; i++) {
        if (g->t[i].seg == seg) {
            if (start < g->t[i].start)
                g->t[i].start = start;
            g->t[i].created |= created;
            return;
        }
    }
    if (g->nt == g->capt) {
        g->capt = g->capt ? g->capt * 2 : 8;
        g->t = xrealloc(g->t, g->capt * sizeof(*g->t));
    }
    g->t[g->nt++] = (struct touched){seg, created, start};
}

static void fail(struct group_state *g, const char *what, uint32_t seg)
{
    if (g->err)
        return;
    g->err = errno ? errno : EIO;
    snprintf(g->text, sizeof(g->text), "%s segment %08x: %s", what, seg, strerror(g->err));
}

static int write_iov(struct store *s, int fd, struct iovec *iov, size_t n, uint64_t off)
{
    while (n) {
        int cnt = n > MAX_IOV ? MAX_IOV : (int)n;
        ssize_t w = s->io.pwritev(fd, iov, cnt, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        off += (uint64_t)w;
        while (w > 0 && n) {
            if ((size_t)w >= iov->iov_len) {
                w -= (ssize_t)iov->iov_len;
                iov++;
                n--;
            } else {
                iov->iov_base = (uint8_t *)iov->iov_base + w;
                iov->iov_len -= (size_t)w;
                w = 0;
            }
        }
        while (n && iov->iov_len == 0) {
            iov++;
            n--;
        }
    }
    return 0;
}

static int pread_full(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO;
            return -1;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/*
 * Reads a record copied forward by compaction and checks it. A record that
 * no longer checks out is replaced by a PAD of the same size, so the offsets
 * the loop thread assigned stay right; the message is then lost, and said so.
 */
static int read_copy(struct store *s, const struct piece *p, uint8_t *out, struct group_state *g)
{
    struct tfd *t = tfd_get(s, p->src_seg, false);
    struct persist_rec r;

    if (!t || pread_full(t->fd, out, p->len, p->src_off) != 0) {
        fail(g, "reading", p->src_seg);
        return -1;
    }
    if (persist__next_record(out, p->len, &r) != PERSIST_OK || r.type != PERSIST_R_MSG ||
        r.len + PERSIST_REC_HDR != p->len) {
        memset(out, 0, p->len);
        put_be32(out, (uint32_t)(p->len - PERSIST_REC_HDR));
        out[4] = PERSIST_R_PAD;
        persist__seal_record(out, p->len);
        pthread_mutex_lock(&s->mu);
        snprintf(s->t_error, sizeof(s->t_error),
                 "compaction: corrupt message record in segment %08x at offset %llu dropped",
                 p->src_seg, (unsigned long long)p->src_off);
        pthread_mutex_unlock(&s->mu);
    }
    return 0;
}

static int write_chunk(struct store *s, struct batch *b, const struct chunk *c,
                       struct group_state *g)
{
    size_t ncopy = 0, used = 0;
    struct tfd *t;

    for (size_t i = 0; i < c->npieces; i++)
        if (b->pieces[c->first_piece + i].kind == PIECE_COPY)
            ncopy += b->pieces[c->first_piece + i].len;
    if (ncopy > s->scratch_cap) {
        free(s->scratch);
        s->scratch = xmalloc(ncopy);
        s->scratch_cap = ncopy;
    }
    if (c->npieces > s->iov_cap) {
        free(s->iov);
        s->iov = xmalloc(c->npieces * sizeof(*s->iov));
        s->iov_cap = c->npieces;
    }
    touch(g, c->seg, c->file_off, c->create);
    if (!tfd_get(s, c->seg, c->create)) {
        fail(g, "opening", c->seg);
        return -1;
    }
    for (size_t i = 0; i < c->npieces; i++) {
        struct piece *p = &b->pieces[c->first_piece + i];
        switch (p->kind) {
        case PIECE_INLINE:
            s->iov[i] = (struct iovec){b->buf + p->off, p->len};
            break;
        case PIECE_EXT:
            /* The record's checksum ends over the caller's body. */
            put_be32(b->buf + p->off, persist__crc32c(p->crc, p->ptr, p->len));
            s->iov[i] = (struct iovec){(void *)(uintptr_t)p->ptr, p->len};
            break;
        case PIECE_COPY:
            if (read_copy(s, p, s->scratch + used, g) != 0)
                return -1;
            s->iov[i] = (struct iovec){s->scratch + used, p->len};
            used += p->len;
            break;
        }
    }
    /* Copies may have evicted the descriptor: look it up again. */
    t = tfd_get(s, c->seg, false);
    if (!t) {
        fail(g, "opening", c->seg);
        return -1;
    }
    t->dirty = true;
    if (write_iov(s, t->fd, s->iov, c->npieces, c->file_off) != 0) {
        fail(g, "writing", c->seg);
        return -1;
    }
    return 0;
}

static int write_group(struct store *s, struct batch *first, struct batch *last,
                       enum store_sync_mode mode, struct group_state *g)
{
    bool dels = false, sync = false;

    for (struct batch *b = first;; b = b->next) {
        for (size_t i = 0; i < b->nchunks; i++)
            if (write_chunk(s, b, &b->chunks[i], g) != 0)
                return -1;
        dels |= b->ndels > 0;
        sync |= b->need_sync || b->ticketed;
        if (b == last)
            break;
    }
    /* Settlements and delivery markers alone are not worth a sync (the next
     * sync covers them). Relaxed mode still syncs before deleting anything:
     * a compaction's copies must be on disk before their source goes. */
    if (((mode == STORE_SYNC_DATA && sync) || dels) && sync_all(s) != 0) {
        fail(g, "syncing", 0);
        return -1;
    }
    for (struct batch *b = first;; b = b->next) {
        for (size_t i = 0; i < b->ndels; i++) {
            char name[32];
            tfd_drop(s, b->dels[i]);
            store__seg_name(name, b->dels[i]);
            if (unlinkat(s->dirfd, name, 0) != 0 && errno != ENOENT) {
                fail(g, "deleting", b->dels[i]);
                return -1;
            }
            /* Each unlink is made durable before the next: a later segment's
             * tombstones may only go once this one's records are gone. */
            if (s->io.fsync(s->dirfd) != 0) {
                fail(g, "syncing the directory after deleting", b->dels[i]);
                return -1;
            }
        }
        if (b == last)
            break;
    }
    return 0;
}

static void undo_group(struct store *s, struct group_state *g)
{
    for (size_t i = 0; i < g->nt; i++) {
        struct tfd *t = tfd_get(s, g->t[i].seg, false);
        if (t)
            (void)s->io.ftruncate(t->fd, (off_t)g->t[i].start);
    }
}

static void deadline_after(struct timespec *ts, long ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Measures free space and updates DISK_LOW, notifying on a change. Called
 * and returns with mu held. */
static void poll_free_space(struct store *s)
{
    uint64_t free_bytes, limit = s->t_disk_limit;
    unsigned old = s->t_status;
    int rc;

    pthread_mutex_unlock(&s->mu);
    rc = s->io.free_space(s->dirfd, &free_bytes);
    pthread_mutex_lock(&s->mu);
    if (rc != 0)
        return;
    s->t_disk_free = free_bytes;
    if (limit && free_bytes < limit)
        s->t_status |= STORE_ST_DISK_LOW;
    else
        s->t_status &= ~(unsigned)STORE_ST_DISK_LOW;
    if (s->t_status != old && s->opt.notify) {
        uint64_t durable = s->t_durable;
        pthread_mutex_unlock(&s->mu);
        s->opt.notify(s->opt.notify_arg, durable);
        pthread_mutex_lock(&s->mu);
    }
}

void *persist__thread_main(void *arg)
{
    struct store *s = arg;
    bool abandon;

    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct batch *first, *last;
        enum store_sync_mode mode;
        uint64_t limit, free_bytes = UINT64_MAX;
        unsigned old_status = s->t_status;
        struct group_state g;
        bool have_free;
        int rc;

        while (!s->stop && !s->q_head) {
            if (!s->t_disk_limit) {
                pthread_cond_wait(&s->cv, &s->mu);
                continue;
            }
            /* While a limit is set, free space is measured at least once a
             * second even when nothing is written: blocked publishers write
             * nothing, yet must learn when space returns. */
            struct timespec ts;
            deadline_after(&ts, DISK_POLL_MS);
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) == ETIMEDOUT && !s->q_head)
                poll_free_space(s);
        }
        if (s->stop)
            break;
        first = s->q_head;
        last = s->q_tail;
        mode = s->t_mode;
        limit = s->t_disk_limit;
        s->busy = true;
        pthread_mutex_unlock(&s->mu);

        memset(&g, 0, sizeof(g));
        have_free = s->io.free_space(s->dirfd, &free_bytes) == 0;
        errno = 0;
        rc = write_group(s, first, last, mode, &g);
        if (rc != 0)
            undo_group(s, &g);
        free(g.t);

        pthread_mutex_lock(&s->mu);
        s->busy = false;
        if (have_free)
            s->t_disk_free = free_bytes;
        if (limit && have_free && free_bytes < limit)
            s->t_status |= STORE_ST_DISK_LOW;
        else
            s->t_status &= ~(unsigned)STORE_ST_DISK_LOW;
        if (rc == 0) {
            s->q_head = last->next;
            if (!s->q_head)
                s->q_tail = NULL;
            last->next = NULL;
            if (s->done_tail)
                s->done_tail->next = first;
            else
                s->done_head = first;
            s->done_tail = last;
            s->t_durable = last->id;
            s->t_groups++;
            s->t_status &= ~(unsigned)(STORE_ST_DISK_FULL | STORE_ST_IO_ERROR);
        } else {
            bool full = g.err == ENOSPC || g.err == EDQUOT;
            s->t_status |= full ? STORE_ST_DISK_FULL : STORE_ST_IO_ERROR;
            memcpy(s->t_error, g.text, sizeof(s->t_error));
            s->fail_gen++;
        }
        pthread_cond_broadcast(&s->idle_cv);
        if (s->opt.notify && (rc == 0 || s->t_status != old_status)) {
            uint64_t durable = s->t_durable;
            pthread_mutex_unlock(&s->mu);
            s->opt.notify(s->opt.notify_arg, durable);
            pthread_mutex_lock(&s->mu);
        }
        if (rc != 0) {
            /* Back off; only stopping cuts the wait short (new batches
             * would only retry the same failing group sooner). */
            struct timespec ts;
            deadline_after(&ts, RETRY_MS);
            while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &ts) != ETIMEDOUT)
                ;
        }
    }
    abandon = s->abandon;
    pthread_mutex_unlock(&s->mu);
    /* Relaxed mode leaves written data unsynced; a clean stop syncs it. */
    if (!abandon)
        (void)sync_all(s);
    return NULL;
}

int persist__thread_start(struct store *s, struct store_err *err)
{
    sigset_t all, old;
    int rc;

    /* The loop thread handles signals (ev_signal); keep them off this one. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&s->thread, NULL, persist__thread_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        store__errf(err, rc, "cannot start the store's sync thread: %s", strerror(rc));
        return -1;
    }
    s->thread_started = true;
    return 0;
}
