/* SPDX-License-Identifier: MIT */
/*
 * recover: replays the segments at startup and rebuilds the index.
 *
 * Pass 1 maps each segment and applies its records in log order (a later
 * ENQ/MSG copy, written by compaction, moves the entry or message; an ACK
 * removes only what came before it). The first record that does not check
 * out ends the replay: its segment is truncated there and later segments are
 * set aside, because durability is a prefix of the log (journal.c) and so
 * anything after a torn record was never confirmed. Pass 2 resolves entries
 * to messages, rebuilds the live counts that drive space reclamation, and
 * hands queues, messages and entries to the broker in sequence order,
 * straight from the mappings (no copy).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker/map.h"
#include "persist/persist_int.h"

struct rmap {
    uint32_t no;
    const uint8_t *p;
    size_t maplen; /* as mapped (the file may since have been truncated) */
};

struct rctx {
    struct store *s;
    const struct store_recover_ops *ops;
    void *ctx;
    struct rmap *maps; /* parallel to s->segs once replay is over */
    size_t nmaps;
    uint32_t cur; /* segment being replayed */
    uint64_t max_id;
    uint32_t max_qid;
    bool last_clean;
    uint64_t *tmp; /* scratch for range records */
    size_t ntmp, captmp;
};

static void warn(struct rctx *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct rctx *r, const char *fmt, ...)
{
    char text[512];
    va_list ap;

    if (!r->ops || !r->ops->warn)
        return;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    r->ops->warn(r->ctx, text);
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

static struct squeue *queue_or_placeholder(struct rctx *r, uint32_t qid)
{
    struct squeue *q = store__queue_get(r->s, qid);
    if (qid > r->max_qid)
        r->max_qid = qid;
    return q ? q : store__queue_new(r->s, qid);
}

/* ---- pass 1: apply one record ---- */

static void apply_msg(struct rctx *r, const struct persist_msg_rec *m, uint32_t off, uint32_t len)
{
    struct smsg *sm = persist__msg_get(&r->s->msgs, m->id);

    if (!sm)
        sm = persist__msg_add(&r->s->msgs, m->id);
    sm->seg = r->cur; /* a later copy wins */
    sm->off = off;
    sm->len = len;
    if (m->id > r->max_id)
        r->max_id = m->id;
}

static void apply_enq(struct rctx *r, const struct persist_ref_rec *x)
{
    struct squeue *q = queue_or_placeholder(r, x->qid);
    struct sent *e = persist__ent_get(&q->ents, x->seq);

    if (!e) {
        e = persist__ent_add(&q->ents, x->seq);
        e->first_seg = r->cur;
    }
    e->id = x->id;
    e->seg = r->cur;
    if (x->flags & PERSIST_ENQ_F_DELIVERED) {
        e->delivered = 1;
        e->dlv_seg = 0; /* the copy carries the flag */
    }
    if (x->seq > q->max_seq)
        q->max_seq = x->seq;
}

/* Collects the sequence numbers of q's entries in [seq, seq+count), walking
 * whichever is smaller: the range or the table (count is up to 2^32). */
static void range_collect(struct rctx *r, const struct squeue *q, uint64_t seq, uint32_t count)
{
    r->ntmp = 0;
    if (count <= q->ents.n) {
        for (uint64_t k = seq; k < seq + count; k++) {
            if (!persist__ent_get(&q->ents, k))
                continue;
            if (r->ntmp == r->captmp) {
                r->captmp = r->captmp ? r->captmp * 2 : 64;
                r->tmp = xrealloc(r->tmp, r->captmp * sizeof(*r->tmp));
            }
            r->tmp[r->ntmp++] = k;
        }
        return;
    }
    for (size_t i = 0; i < q->ents.cap; i++) {
        const struct sent *e = &q->ents.slots[i];
        if (!e->id || e->seq < seq || e->seq - seq >= count)
            continue;
        if (r->ntmp == r->captmp) {
            r->captmp = r->captmp ? r->captmp * 2 : 64;
            r->tmp = xrealloc(r->tmp, r->captmp * sizeof(*r->tmp));
        }
        r->tmp[r->ntmp++] = e->seq;
    }
}

static void apply_range(struct rctx *r, uint8_t type, const struct persist_ref_rec *x)
{
    struct squeue *q = queue_or_placeholder(r, x->qid);
    struct seg *g = store__seg_get(r->s, r->cur);
    uint64_t top = x->seq + x->count - 1;

    if (top > q->max_seq)
        q->max_seq = top;
    range_collect(r, q, x->seq, x->count);
    for (size_t i = 0; i < r->ntmp; i++) {
        struct sent *e = persist__ent_get(&q->ents, r->tmp[i]);
        if (type == PERSIST_R_DLV) {
            e->delivered = 1;
            e->dlv_seg = r->cur;
        } else {
            g->min_dep = min_u32(g->min_dep, e->first_seg);
            persist__ent_del(&q->ents, r->tmp[i]);
        }
    }
}

static void apply_queue(struct rctx *r, const struct persist_queue_rec *x)
{
    struct squeue *q = queue_or_placeholder(r, x->qid);
    uint32_t other = store_queue_find(r->s, x->vhost, x->name);

    if (other && other != x->qid) {
        /* Two live queue ids for one name cannot come from this writer. */
        warn(r, "message store: segment %08x: queue '%.*s' has two ids (%u, %u); keeping the later",
             r->cur, (int)x->name.n, (const char *)x->name.p, other, x->qid);
        store__queue_get(r->s, other)->named = false;
    }
    store__queue_name(r->s, q, x->vhost, x->name);
    q->seg = r->cur;
    q->first_seg = min_u32(q->first_seg, r->cur);
}

static void apply_qdel(struct rctx *r, uint32_t qid)
{
    struct squeue *q = store__queue_get(r->s, qid);
    struct seg *g = store__seg_get(r->s, r->cur);
    uint32_t dep;
    uint8_t key[512];

    if (qid > r->max_qid)
        r->max_qid = qid;
    if (!q)
        return;
    dep = q->first_seg;
    for (size_t i = 0; i < q->ents.cap; i++)
        if (q->ents.slots[i].id)
            dep = min_u32(dep, q->ents.slots[i].first_seg);
    g->min_dep = min_u32(g->min_dep, dep);
    if (q->named) {
        memcpy(key, q->vhost, q->vhost_len);
        key[q->vhost_len] = 0;
        memcpy(key + q->vhost_len + 1, q->name, q->name_len);
        if (map_get(r->s->qbyname, (struct view){key, q->vhost_len + 1u + q->name_len}) == q)
            map_remove(r->s->qbyname, (struct view){key, q->vhost_len + 1u + q->name_len});
    }
    persist__u64_del(&r->s->qbyid, qid);
    store__queue_free(q);
}

/* Applies one checked record; -1 when its payload does not parse. */
static int apply(struct rctx *r, const struct persist_rec *rec, uint32_t off)
{
    struct persist_msg_rec m;
    struct persist_ref_rec x;
    struct persist_queue_rec qr;

    r->last_clean = false;
    switch (rec->type) {
    case PERSIST_R_MSG:
        if (persist__decode_msg(rec, &m) != 0)
            return -1;
        apply_msg(r, &m, off, rec->len + PERSIST_REC_HDR);
        return 0;
    case PERSIST_R_ENQ:
        if (persist__decode_ref(rec, &x) != 0)
            return -1;
        apply_enq(r, &x);
        return 0;
    case PERSIST_R_DLV:
    case PERSIST_R_ACK:
        if (persist__decode_ref(rec, &x) != 0)
            return -1;
        apply_range(r, rec->type, &x);
        return 0;
    case PERSIST_R_QUEUE:
        if (persist__decode_queue(rec, &qr) != 0)
            return -1;
        apply_queue(r, &qr);
        return 0;
    case PERSIST_R_QDEL:
        if (persist__decode_ref(rec, &x) != 0)
            return -1;
        apply_qdel(r, x.qid);
        return 0;
    case PERSIST_R_PAD:
        return 0;
    case PERSIST_R_CLEAN:
        if (rec->len != 0)
            return -1;
        r->last_clean = true;
        return 0;
    }
    return -1;
}

/* ---- pass 1: segments ---- */

static int set_aside(struct rctx *r, uint32_t no, struct store_err *err)
{
    char name[32], aside[48];

    store__seg_name(name, no);
    snprintf(aside, sizeof(aside), "%s.discarded", name);
    if (renameat(r->s->dirfd, name, r->s->dirfd, aside) != 0 || r->s->io.fsync(r->s->dirfd) != 0) {
        store__errf(err, errno, "%s/msgs/%s: cannot set aside: %s", r->s->dir, name,
                    strerror(errno));
        return -1;
    }
    return 0;
}

static int drop_seg(struct rctx *r, size_t i)
{
    memmove(&r->s->segs[i], &r->s->segs[i + 1], (r->s->nsegs - i - 1) * sizeof(*r->s->segs));
    r->s->nsegs--;
    return 0;
}

/*
 * Replays segment index i. Returns 1 when the replay must stop after it (a
 * bad record: the segment was truncated or set aside), 0 to go on, -1 on an
 * I/O error. On 1 with the segment set aside or removed, *removed is true.
 */
static int replay_seg(struct rctx *r, size_t i, bool *removed, struct store_err *err)
{
    struct store *s = r->s;
    uint32_t no = s->segs[i].no, version = 0;
    uint64_t segno = 0;
    char name[32];
    struct stat st;
    const uint8_t *p = NULL;
    size_t len, pos;
    enum persist_hdr h;
    int fd;

    *removed = false;
    store__seg_name(name, no);
    fd = openat(s->dirfd, name, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        store__errf(err, errno, "%s/msgs/%s: %s", s->dir, name, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    len = (size_t)st.st_size;
    if (len == 0) {
        /* Created, never written: the crash came before its first write. */
        close(fd);
        warn(r, "message store: segment %s is empty; removed", name);
        if (unlinkat(s->dirfd, name, 0) != 0 || s->io.fsync(s->dirfd) != 0) {
            store__errf(err, errno, "%s/msgs/%s: %s", s->dir, name, strerror(errno));
            return -1;
        }
        *removed = true;
        return 1;
    }
    p = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p == MAP_FAILED) {
        store__errf(err, errno, "%s/msgs/%s: mmap: %s", s->dir, name, strerror(errno));
        close(fd);
        return -1;
    }
    (void)madvise((void *)(uintptr_t)p, len, MADV_SEQUENTIAL);
    h = persist__check_header(p, len, &version, &segno);
    if (h == PERSIST_HDR_FUTURE) {
        store__errf(err, EPROTONOSUPPORT, "%s/msgs/%s: store format version %u is newer than %u",
                    s->dir, name, version, PERSIST_VERSION);
        munmap((void *)(uintptr_t)p, len);
        close(fd);
        return -1;
    }
    if (h != PERSIST_HDR_OK || segno != no) {
        munmap((void *)(uintptr_t)p, len);
        close(fd);
        warn(r,
             "message store: segment %s has a %s header; set aside as %s.discarded, and "
             "every later segment with it",
             name, h == PERSIST_HDR_SHORT ? "truncated" : "corrupt", name);
        if (set_aside(r, no, err) != 0)
            return -1;
        *removed = true;
        return 1;
    }
    r->cur = no;
    pos = PERSIST_HDR_SIZE;
    for (;;) {
        struct persist_rec rec;
        enum persist_parse pr = persist__next_record(p + pos, len - pos, &rec);

        if (pr == PERSIST_END)
            break;
        /* This writer keeps record offsets and sizes within 32 bits (segments
         * are at most 2 GiB); anything else is not ours. */
        if (pr == PERSIST_OK && (pos > UINT32_MAX || rec.len > UINT32_MAX - PERSIST_REC_HDR ||
                                 apply(r, &rec, (uint32_t)pos) != 0))
            pr = PERSIST_BAD_PAYLOAD;
        if (pr != PERSIST_OK) {
            warn(r,
                 "message store: segment %s: %s at offset %zu; truncated there (%zu bytes "
                 "dropped, never trusted)",
                 name, persist__parse_str(pr), pos, len - pos);
            r->last_clean = false;
            if (s->io.ftruncate(fd, (off_t)pos) != 0 || s->io.fdatasync(fd) != 0) {
                store__errf(err, errno, "%s/msgs/%s: truncate: %s", s->dir, name, strerror(errno));
                munmap((void *)(uintptr_t)p, len);
                close(fd);
                return -1;
            }
            s->segs[i].size = pos;
            close(fd);
            r->maps[r->nmaps++] = (struct rmap){no, p, len};
            return 1;
        }
        pos += PERSIST_REC_HDR + rec.len;
    }
    s->segs[i].size = len;
    close(fd);
    r->maps[r->nmaps++] = (struct rmap){no, p, len};
    return 0;
}

/* ---- pass 2 ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_queue(const void *a, const void *b)
{
    const struct squeue *x = *(struct squeue *const *)a, *y = *(struct squeue *const *)b;
    return x->qid < y->qid ? -1 : x->qid > y->qid;
}

/* The mapping of segment no (maps are in ascending segment order). */
static const struct rmap *map_of(const struct rctx *r, uint32_t no)
{
    size_t lo = 0, hi = r->nmaps;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->maps[mid].no < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &r->maps[lo];
}

static struct squeue **sorted_queues(struct store *s, size_t *n)
{
    struct squeue **qs = xmalloc((s->qbyid.n + 1) * sizeof(*qs));

    *n = 0;
    for (size_t i = 0; i < s->qbyid.cap; i++)
        if (s->qbyid.keys[i])
            qs[(*n)++] = (struct squeue *)(uintptr_t)s->qbyid.vals[i];
    qsort(qs, *n, sizeof(*qs), cmp_queue);
    return qs;
}

/* Drops queues without a QUEUE record and entries without a message, counts
 * message references, drops unreferenced messages and rebuilds live counts. */
static void resolve(struct rctx *r)
{
    struct store *s = r->s;
    size_t nq;
    struct squeue **qs = sorted_queues(s, &nq);

    for (size_t i = 0; i < nq; i++) {
        struct squeue *q = qs[i];
        if (!q->named) {
            if (q->ents.n)
                warn(r, "message store: queue id %u has %zu entries but no queue record; dropped",
                     q->qid, q->ents.n);
            persist__u64_del(&s->qbyid, q->qid);
            store__queue_free(q);
            qs[i] = NULL;
            continue;
        }
        r->ntmp = 0;
        for (size_t j = 0; j < q->ents.cap; j++) {
            struct sent *e = &q->ents.slots[j];
            struct smsg *m;
            if (!e->id)
                continue;
            m = persist__msg_get(&s->msgs, e->id);
            if (m) {
                m->refs++;
                continue;
            }
            warn(r, "message store: queue '%s': entry %llu refers to missing message %llu; dropped",
                 q->name, (unsigned long long)e->seq, (unsigned long long)e->id);
            if (r->ntmp == r->captmp) {
                r->captmp = r->captmp ? r->captmp * 2 : 64;
                r->tmp = xrealloc(r->tmp, r->captmp * sizeof(*r->tmp));
            }
            r->tmp[r->ntmp++] = e->seq;
        }
        for (size_t j = 0; j < r->ntmp; j++)
            persist__ent_del(&q->ents, r->tmp[j]);
    }
    /* Unreferenced messages: collect ids first (deletion shifts slots). */
    r->ntmp = 0;
    for (size_t i = 0; i < s->msgs.cap; i++) {
        if (!s->msgs.slots[i].id || s->msgs.slots[i].refs)
            continue;
        if (r->ntmp == r->captmp) {
            r->captmp = r->captmp ? r->captmp * 2 : 64;
            r->tmp = xrealloc(r->tmp, r->captmp * sizeof(*r->tmp));
        }
        r->tmp[r->ntmp++] = s->msgs.slots[i].id;
    }
    for (size_t i = 0; i < r->ntmp; i++)
        persist__msg_del(&s->msgs, r->tmp[i]);
    /* Live counts. */
    for (size_t i = 0; i < s->msgs.cap; i++) {
        const struct smsg *m = &s->msgs.slots[i];
        if (m->id) {
            struct seg *g = store__seg_get(s, m->seg);
            g->live_cnt++;
            g->live_bytes += m->len;
        }
    }
    s->live_entries = 0;
    for (size_t i = 0; i < nq; i++) {
        struct squeue *q = qs[i];
        if (!q)
            continue;
        struct seg *g = store__seg_get(s, q->seg);
        g->live_cnt++;
        g->live_bytes += PERSIST_REC_HDR + 6u + q->vhost_len + q->name_len;
        for (size_t j = 0; j < q->ents.cap; j++) {
            const struct sent *e = &q->ents.slots[j];
            if (!e->id)
                continue;
            s->live_entries++;
            g = store__seg_get(s, e->seg);
            g->live_cnt++;
            g->live_bytes += PERSIST_REC_HDR + PERSIST_ENQ_LEN;
            if (e->dlv_seg) {
                g = store__seg_get(s, e->dlv_seg);
                g->live_cnt++;
                g->live_bytes += PERSIST_REC_HDR + PERSIST_RANGE_LEN;
            }
        }
    }
    free(qs);
}

static void emit(struct rctx *r)
{
    struct store *s = r->s;
    const struct store_recover_ops *ops = r->ops;
    size_t nq;
    struct squeue **qs = sorted_queues(s, &nq);
    void **handles = xcalloc(s->msgs.cap ? s->msgs.cap : 1, sizeof(*handles));
    uint32_t *left = xcalloc(s->msgs.cap ? s->msgs.cap : 1, sizeof(*left));
    bool *made = xcalloc(s->msgs.cap ? s->msgs.cap : 1, sizeof(*made));

    for (size_t i = 0; i < nq; i++)
        if (ops->queue)
            ops->queue(
                r->ctx, qs[i]->qid, (struct view){(const uint8_t *)qs[i]->vhost, qs[i]->vhost_len},
                (struct view){(const uint8_t *)qs[i]->name, qs[i]->name_len}, qs[i]->max_seq);
    for (size_t i = 0; i < nq; i++) {
        struct squeue *q = qs[i];
        size_t n = 0;
        uint64_t *seqs = xmalloc((q->ents.n + 1) * sizeof(*seqs));

        for (size_t j = 0; j < q->ents.cap; j++)
            if (q->ents.slots[j].id)
                seqs[n++] = q->ents.slots[j].seq;
        qsort(seqs, n, sizeof(*seqs), cmp_u64);
        for (size_t j = 0; j < n; j++) {
            const struct sent *e = persist__ent_get(&q->ents, seqs[j]);
            struct smsg *m = persist__msg_get(&s->msgs, e->id);
            size_t slot = (size_t)(m - s->msgs.slots);

            if (!made[slot]) {
                const struct rmap *mp = map_of(r, m->seg);
                struct persist_rec rec;
                struct persist_msg_rec mr;
                struct store_recovered_msg out;

                made[slot] = true;
                left[slot] = m->refs;
                /* Checked in pass 1; decoded again from the same bytes. */
                rec.type = PERSIST_R_MSG;
                rec.len = m->len - PERSIST_REC_HDR;
                rec.payload = mp->p + m->off + PERSIST_REC_HDR;
                if (persist__decode_msg(&rec, &mr) != 0)
                    abort();
                out.id = m->id;
                out.exchange = mr.exchange;
                out.routing_key = mr.routing_key;
                out.props = mr.props;
                out.body = mr.body;
                handles[slot] = ops->message ? ops->message(r->ctx, &out) : NULL;
            }
            if (ops->entry)
                ops->entry(r->ctx, q->qid, e->seq, handles[slot], e->delivered != 0);
            if (--left[slot] == 0 && ops->release)
                ops->release(r->ctx, handles[slot]);
        }
        free(seqs);
    }
    free(made);
    free(left);
    free(handles);
    free(qs);
}

int store_recover(struct store *s, const struct store_recover_ops *ops, void *ctx,
                  struct store_err *err)
{
    static const struct store_recover_ops none;
    struct rctx r = {.s = s, .ops = ops ? ops : &none, .ctx = ctx};
    bool stopped = false;
    int rc = 0;

    if (err) {
        err->errnum = 0;
        err->text[0] = 0;
    }
    if (s->recovered) {
        store__errf(err, EINVAL, "store_recover called twice");
        return -1;
    }
    r.maps = xcalloc(s->nsegs + 1, sizeof(*r.maps));
    for (size_t i = 0; i < s->nsegs;) {
        bool removed;
        int k;

        if (stopped) {
            char name[32];
            store__seg_name(name, s->segs[i].no);
            warn(&r,
                 "message store: segment %s follows a bad record; set aside as "
                 "%s.discarded, not replayed",
                 name, name);
            if (set_aside(&r, s->segs[i].no, err) != 0) {
                rc = -1;
                break;
            }
            drop_seg(&r, i);
            continue;
        }
        k = replay_seg(&r, i, &removed, err);
        if (k < 0) {
            rc = -1;
            break;
        }
        if (k > 0)
            stopped = true;
        if (removed)
            drop_seg(&r, i);
        else
            i++;
    }
    if (rc == 0) {
        /* Known before the callbacks run, so they can act on it. */
        s->clean = r.last_clean && !stopped;
        resolve(&r);
        emit(&r);
        if (r.max_id >= s->next_id)
            s->next_id = r.max_id + 1;
        if (r.max_qid >= s->next_qid)
            s->next_qid = r.max_qid + 1;
        if (s->nsegs) {
            s->durable_seg = s->segs[s->nsegs - 1].no;
            s->durable_end = s->segs[s->nsegs - 1].size;
        }
        s->recovered = true;
        s->gc_dirty = true;
    }
    for (size_t i = 0; i < r.nmaps; i++)
        munmap((void *)(uintptr_t)r.maps[i].p, r.maps[i].maplen);
    free(r.maps);
    free(r.tmp);
    if (rc == 0)
        rc = persist__thread_start(s, err);
    return rc;
}
