/* SPDX-License-Identifier: MIT */
/*
 * spill: segment files of paged-out message bytes (see spill.h).
 *
 * A locator is segment number << 32 | offset of the record header. Segment
 * numbers only grow (from 1), so the table of open segments, appended at the
 * end and deleted from anywhere, stays sorted and is searched by bisection.
 * The last segment is the head, the only one written to.
 *
 * Nothing is ever fsync'ed: the content dies with the process anyway, and a
 * crash that loses it loses nothing (transient messages do not survive a
 * restart; persistent ones are paged out only when the journal has them).
 */
#include "persist/spill.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "persist/persist_int.h"

#define SPILL_DIR "spill"
#define SPILL_SUFFIX ".spill"
#define DEFAULT_SEGMENT ((uint64_t)64 << 20)
/* iovecs per preadv / pwritev: two per record (header, payload). */
#define SPILL_IOV 512

struct sseg {
    uint32_t no;
    int fd;
    uint64_t size; /* bytes written (the head appends here) */
    uint64_t live_recs;
    uint64_t live_bytes;
};

struct spill {
    char *dir; /* .../spill */
    uint64_t segment_size;
    struct sseg *segs; /* sorted by no; the last is the head */
    size_t nsegs, capsegs;
    uint32_t next_no;
    struct spill_stats st;
};

static inline uint64_t make_loc(uint32_t no, uint64_t off)
{
    return (uint64_t)no << 32 | off;
}

static void seg_path(const struct spill *sp, uint32_t no, char *out, size_t n)
{
    snprintf(out, n, "%s/%08" PRIx32 SPILL_SUFFIX, sp->dir, no);
}

static bool is_segment_name(const char *name)
{
    size_t n = strlen(name);

    if (n != 8 + strlen(SPILL_SUFFIX) || strcmp(name + 8, SPILL_SUFFIX) != 0)
        return false;
    for (size_t i = 0; i < 8; i++)
        if (!strchr("0123456789abcdef", name[i]))
            return false;
    return true;
}

/* Removes the segment files an earlier process left behind. */
static int empty_dir(struct spill *sp, struct store_err *err)
{
    DIR *d = opendir(sp->dir);
    struct dirent *de;
    int rc = 0;

    if (!d) {
        store__errf(err, errno, "%s: %s", sp->dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d))) {
        char path[PATH_MAX];

        if (!is_segment_name(de->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s", sp->dir, de->d_name);
        if (unlink(path) != 0 && errno != ENOENT) {
            store__errf(err, errno, "%s: %s", path, strerror(errno));
            rc = -1;
            break;
        }
    }
    closedir(d);
    return rc;
}

struct spill *spill_open(const char *dir, const struct spill_options *opt, struct store_err *err)
{
    struct spill *sp = xcalloc(1, sizeof(*sp));
    size_t n = strlen(dir) + sizeof(SPILL_DIR) + 1;

    sp->dir = xmalloc(n);
    snprintf(sp->dir, n, "%s/" SPILL_DIR, dir);
    sp->segment_size = opt && opt->segment_size ? opt->segment_size : DEFAULT_SEGMENT;
    if (sp->segment_size < 4096)
        sp->segment_size = 4096;
    sp->next_no = 1;
    if (mkdir(sp->dir, 0700) != 0 && errno != EEXIST) {
        store__errf(err, errno, "%s: %s", sp->dir, strerror(errno));
        goto out_free;
    }
    if (empty_dir(sp, err) != 0)
        goto out_free;
    return sp;

out_free:
    free(sp->dir);
    free(sp);
    return NULL;
}

static void seg_remove(struct spill *sp, size_t i)
{
    char path[PATH_MAX];
    struct sseg *s = &sp->segs[i];

    close(s->fd);
    seg_path(sp, s->no, path, sizeof(path));
    unlink(path);
    sp->st.disk_bytes -= s->size;
    sp->st.segments--;
    memmove(&sp->segs[i], &sp->segs[i + 1], (sp->nsegs - i - 1) * sizeof(*sp->segs));
    sp->nsegs--;
}

void spill_close(struct spill *sp)
{
    if (!sp)
        return;
    while (sp->nsegs)
        seg_remove(sp, sp->nsegs - 1);
    free(sp->segs);
    free(sp->dir);
    free(sp);
}

/* A new head segment; -1 with err when the file cannot be created. */
static int seg_new(struct spill *sp, struct store_err *err)
{
    char path[PATH_MAX];
    struct sseg *s;
    int fd;

    if (sp->next_no == UINT32_MAX) /* 2^32 segments: never in practice */
        abort();
    seg_path(sp, sp->next_no, path, sizeof(path));
    fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        store__errf(err, errno, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (sp->nsegs == sp->capsegs) {
        sp->capsegs = sp->capsegs ? sp->capsegs * 2 : 8;
        sp->segs = xrealloc(sp->segs, sp->capsegs * sizeof(*sp->segs));
    }
    s = &sp->segs[sp->nsegs++];
    *s = (struct sseg){sp->next_no++, fd, 0, 0, 0};
    sp->st.segments++;
    return 0;
}

static struct sseg *seg_find(struct spill *sp, uint32_t no, size_t *at)
{
    size_t lo = 0, hi = sp->nsegs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sp->segs[mid].no == no) {
            if (at)
                *at = mid;
            return &sp->segs[mid];
        }
        if (sp->segs[mid].no < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

/* The head segment, with room for a record of total bytes: a new segment
 * when the head is full (an empty head is reused, never left behind). */
static struct sseg *head_for(struct spill *sp, uint64_t total, struct store_err *err)
{
    struct sseg *h = sp->nsegs ? &sp->segs[sp->nsegs - 1] : NULL;

    if (h && h->size > 0 && h->size + total > sp->segment_size) {
        if (h->live_recs == 0) {
            /* Nothing in it is needed: start it over. */
            if (ftruncate(h->fd, 0) == 0) {
                sp->st.disk_bytes -= h->size;
                h->size = 0;
                return h;
            }
        }
        h = NULL;
    }
    if (!h && seg_new(sp, err) != 0)
        return NULL;
    return &sp->segs[sp->nsegs - 1];
}

/* Writes iov[0..cnt) at off, all of it; 0 or -1 with errno. */
static int pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
    while (cnt > 0) {
        ssize_t w = pwritev(fd, iov, cnt, (off_t)off);

        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        off += (uint64_t)w;
        while (cnt > 0 && (size_t)w >= iov->iov_len) {
            w -= (ssize_t)iov->iov_len;
            iov++;
            cnt--;
        }
        if (cnt > 0) {
            iov->iov_base = (uint8_t *)iov->iov_base + w;
            iov->iov_len -= (size_t)w;
        }
    }
    return 0;
}

int spill_append(struct spill *sp, const struct view *recs, size_t n, uint64_t *locs,
                 struct store_err *err)
{
    uint8_t hdr[SPILL_IOV / 2][SPILL_REC_HDR];
    struct iovec iov[SPILL_IOV];
    size_t i = 0, done = 0;

    while (i < n) {
        uint64_t total = SPILL_REC_HDR + (uint64_t)recs[i].n;
        struct sseg *h = head_for(sp, total, err);
        uint64_t start, off;
        int cnt = 0;
        size_t first = i;

        if (!h)
            goto out_fail;
        start = off = h->size;
        /* As many records as fit in this segment and in one call (at least
         * one: a record larger than a segment fills a fresh one alone). */
        while (i < n && cnt < SPILL_IOV) {
            total = SPILL_REC_HDR + (uint64_t)recs[i].n;
            assert(recs[i].n <= SPILL_MAX_RECORD);
            if (i > first && off + total > sp->segment_size)
                break;
            put_be32(hdr[i - first], (uint32_t)recs[i].n);
            put_be32(hdr[i - first] + 4, persist__crc32c(0, recs[i].p, recs[i].n));
            iov[cnt++] = (struct iovec){hdr[i - first], SPILL_REC_HDR};
            iov[cnt++] = (struct iovec){(void *)(uintptr_t)recs[i].p, recs[i].n};
            locs[i] = make_loc(h->no, off);
            off += total;
            i++;
        }
        if (pwritev_all(h->fd, iov, cnt, start) != 0) {
            store__errf(err, errno, "%s: write of %" PRIu64 " bytes: %s", sp->dir, off - start,
                        strerror(errno));
            /* The file may hold part of it: dead space past the old end. */
            h = &sp->segs[sp->nsegs - 1];
            sp->st.disk_bytes += off - start;
            h->size = off;
            goto out_fail;
        }
        h->size = off;
        h->live_recs += i - first;
        h->live_bytes += off - start;
        sp->st.disk_bytes += off - start;
        sp->st.live_records += i - first;
        sp->st.live_bytes += off - start;
        done = i;
    }
    sp->st.appended += n;
    return 0;

out_fail:
    /* All or nothing: what this call already wrote is released again. */
    for (size_t k = 0; k < done; k++)
        spill_release(sp, locs[k], recs[k].n);
    return -1;
}

/* Reads a run of records that lie back to back in one segment. */
static void read_run(struct spill *sp, const struct sseg *s, size_t n, const uint64_t *locs,
                     uint8_t *const *dsts, const size_t *lens, bool *ok)
{
    uint8_t hdr[SPILL_IOV / 2][SPILL_REC_HDR];
    struct iovec iov[SPILL_IOV];
    uint64_t off = (uint32_t)locs[0], want = 0;
    ssize_t got;
    int cnt = 0;

    for (size_t i = 0; i < n; i++) {
        iov[cnt++] = (struct iovec){hdr[i], SPILL_REC_HDR};
        iov[cnt++] = (struct iovec){dsts[i], lens[i]};
        want += SPILL_REC_HDR + lens[i];
    }
    sp->st.read_calls++;
    do
        got = preadv(s->fd, iov, cnt, (off_t)off);
    while (got < 0 && errno == EINTR);
    /* A short read (a record beyond the end) or an error: read one by one
     * so that only the bad records fail. */
    if (got != (ssize_t)want) {
        if (n == 1) {
            ok[0] = false;
            return;
        }
        for (size_t i = 0; i < n; i++)
            read_run(sp, s, 1, locs + i, dsts + i, lens + i, ok + i);
        return;
    }
    for (size_t i = 0; i < n; i++)
        ok[i] = get_be32(hdr[i]) == lens[i] &&
                get_be32(hdr[i] + 4) == persist__crc32c(0, dsts[i], lens[i]);
}

size_t spill_read(struct spill *sp, size_t n, const uint64_t *locs, uint8_t *const *dsts,
                  const size_t *lens, bool *ok, struct store_err *err)
{
    size_t failed = 0, i = 0;

    while (i < n) {
        uint32_t no = (uint32_t)(locs[i] >> 32);
        const struct sseg *s = seg_find(sp, no, NULL);
        size_t run = 1;

        if (!s || (uint32_t)locs[i] + SPILL_REC_HDR + (uint64_t)lens[i] > s->size) {
            ok[i++] = false;
            continue;
        }
        while (i + run < n && run < SPILL_IOV / 2 && locs[i + run] >> 32 == no &&
               locs[i + run] == locs[i + run - 1] + SPILL_REC_HDR + lens[i + run - 1])
            run++;
        read_run(sp, s, run, locs + i, dsts + i, lens + i, ok + i);
        i += run;
    }
    for (i = 0; i < n; i++) {
        if (ok[i]) {
            sp->st.read++;
            continue;
        }
        if (!failed++)
            store__errf(err, EIO,
                        "%s: record %08" PRIx32 ":%" PRIu32 " (%zu bytes) is missing or corrupt",
                        sp->dir, (uint32_t)(locs[i] >> 32), (uint32_t)locs[i], lens[i]);
    }
    return failed;
}

void spill_release(struct spill *sp, uint64_t loc, size_t len)
{
    size_t at;
    struct sseg *s = seg_find(sp, (uint32_t)(loc >> 32), &at);
    uint64_t total = SPILL_REC_HDR + (uint64_t)len;

    assert(s && s->live_recs > 0 && s->live_bytes >= total);
    if (!s || s->live_recs == 0)
        return;
    s->live_recs--;
    s->live_bytes -= total < s->live_bytes ? total : s->live_bytes;
    sp->st.live_records--;
    sp->st.live_bytes -= total < sp->st.live_bytes ? total : sp->st.live_bytes;
    if (s->live_recs > 0)
        return;
    if (at + 1 < sp->nsegs) {
        seg_remove(sp, at);
        sp->st.deleted++;
    } else if (ftruncate(s->fd, 0) == 0) {
        /* The head: written from its start again. */
        sp->st.disk_bytes -= s->size;
        s->size = 0;
    }
}

void spill_get_stats(const struct spill *sp, struct spill_stats *out)
{
    *out = sp->st;
}
