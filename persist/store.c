/* SPDX-License-Identifier: MIT */
/*
 * store: the loop-thread side of the message store.
 *
 * Appends only touch memory: a record is placed at the head segment's logical
 * end (so its file offset is known at once, which the index and compaction
 * need) and its bytes go into the current batch. store_submit hands the batch
 * to the sync thread (journal.c). Space reclamation is decided here, on the
 * loop thread, because only here is the index; its effects (copies, unlinks)
 * travel in the batches, so they happen in log order on the sync thread.
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

#include "broker/map.h"
#include "persist/persist_int.h"

#define DEFAULT_SEGMENT_SIZE ((uint64_t)64 << 20)
#define MAX_SEGMENT_SIZE ((uint64_t)1 << 31)
#define MIN_SEGMENT_SIZE 4096u
#define DEFAULT_COMPACT_BUDGET ((uint64_t)4 << 20)
/* Bodies at least this large are written from the caller's memory (pinned)
 * rather than copied into the batch buffer. */
#define PIN_MIN_BODY 16384u
/* Batch buffers larger than this are freed instead of kept for reuse. */
#define SPARE_KEEP_BYTES ((size_t)4 << 20)

#define ENQ_TOTAL (PERSIST_REC_HDR + PERSIST_ENQ_LEN)
#define RANGE_TOTAL (PERSIST_REC_HDR + PERSIST_RANGE_LEN)

/* ---- small helpers ---- */

void store__errf(struct store_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;

    if (!err)
        return;
    err->errnum = errnum;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
}

void store__seg_name(char out[32], uint32_t no)
{
    snprintf(out, 32, "%08x.seg", no);
}

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? (cap)*2 : 16;                                                          \
            (arr) = xrealloc((arr), (cap) * sizeof(*(arr)));                                       \
        }                                                                                          \
    } while (0)

static uint32_t min_u32(uint32_t a, uint32_t b)
{
    return a < b ? a : b;
}

/* ---- segments ---- */

static size_t seg_index(const struct store *s, uint32_t no, bool *found)
{
    size_t lo = 0, hi = s->nsegs;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->segs[mid].no < no)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < s->nsegs && s->segs[lo].no == no;
    return lo;
}

struct seg *store__seg_get(const struct store *s, uint32_t no)
{
    bool found;
    size_t i = seg_index(s, no, &found);
    return found ? &s->segs[i] : NULL;
}

struct seg *store__seg_add(struct store *s, uint32_t no, uint64_t size)
{
    bool found;
    size_t i = seg_index(s, no, &found);

    assert(!found);
    GROW(s->segs, s->nsegs, s->capsegs);
    memmove(&s->segs[i + 1], &s->segs[i], (s->nsegs - i) * sizeof(*s->segs));
    s->nsegs++;
    memset(&s->segs[i], 0, sizeof(s->segs[i]));
    s->segs[i].no = no;
    s->segs[i].min_dep = no;
    s->segs[i].size = size;
    s->segs[i].rfd = -1;
    return &s->segs[i];
}

static struct seg *head(struct store *s)
{
    return s->head_open ? &s->segs[s->nsegs - 1] : NULL;
}

static void seg_live(struct store *s, uint32_t no, uint64_t bytes)
{
    struct seg *g = store__seg_get(s, no);
    assert(g);
    g->live_cnt++;
    g->live_bytes += bytes;
}

static void seg_unlive(struct store *s, uint32_t no, uint64_t bytes)
{
    struct seg *g = store__seg_get(s, no);
    assert(g && g->live_cnt > 0);
    g->live_cnt--;
    g->live_bytes = g->live_bytes > bytes ? g->live_bytes - bytes : 0;
    if (g->live_cnt == 0)
        s->gc_dirty = true;
}

/* ---- queues ---- */

struct squeue *store__queue_get(const struct store *s, uint32_t qid)
{
    uint64_t v;
    return persist__u64_get(&s->qbyid, qid, &v) ? (struct squeue *)(uintptr_t)v : NULL;
}

struct squeue *store__queue_new(struct store *s, uint32_t qid)
{
    struct squeue *q = xcalloc(1, sizeof(*q));

    q->qid = qid;
    q->first_seg = UINT32_MAX;
    persist__u64_put(&s->qbyid, qid, (uint64_t)(uintptr_t)q);
    return q;
}

static struct view name_key(uint8_t *buf, struct view vhost, struct view name)
{
    memcpy(buf, vhost.p, vhost.n);
    buf[vhost.n] = 0;
    if (name.n)
        memcpy(buf + vhost.n + 1, name.p, name.n);
    return (struct view){buf, vhost.n + 1 + name.n};
}

void store__queue_name(struct store *s, struct squeue *q, struct view vhost, struct view name)
{
    uint8_t key[512];

    assert(vhost.n <= 255 && name.n <= 255);
    if (q->named)
        map_remove(s->qbyname, name_key(key, (struct view){(uint8_t *)q->vhost, q->vhost_len},
                                        (struct view){(uint8_t *)q->name, q->name_len}));
    q->vhost_len = (uint8_t)vhost.n;
    q->name_len = (uint8_t)name.n;
    if (vhost.n)
        memcpy(q->vhost, vhost.p, vhost.n);
    if (name.n)
        memcpy(q->name, name.p, name.n);
    q->vhost[vhost.n] = q->name[name.n] = 0;
    q->named = true;
    map_put(s->qbyname, name_key(key, vhost, name), q);
}

void store__queue_free(struct squeue *q)
{
    if (!q)
        return;
    persist__ent_free(&q->ents);
    free(q);
}

static void queue_forget(struct store *s, struct squeue *q)
{
    uint8_t key[512];

    if (q->named)
        map_remove(s->qbyname, name_key(key, (struct view){(uint8_t *)q->vhost, q->vhost_len},
                                        (struct view){(uint8_t *)q->name, q->name_len}));
    persist__u64_del(&s->qbyid, q->qid);
    store__queue_free(q);
}

/* ---- batches ---- */

void store__batch_free(struct batch *b)
{
    if (!b)
        return;
    free(b->buf);
    free(b->pieces);
    free(b->chunks);
    free(b->pins);
    free(b->dels);
    free(b->closefds);
    free(b->moved);
    free(b);
}

static struct batch *batch_new(struct store *s, uint64_t id)
{
    struct batch *b = s->spare;

    if (b) {
        s->spare = b->next;
        b->len = b->npieces = b->nchunks = b->npins = b->ndels = b->nclosefds = b->nmoved = 0;
        b->ticketed = b->need_sync = false;
    } else {
        b = xcalloc(1, sizeof(*b));
    }
    b->id = id;
    b->next = NULL;
    b->last_rec = SIZE_MAX;
    return b;
}

static void batch_recycle(struct store *s, struct batch *b)
{
    if (b->cap > SPARE_KEEP_BYTES || (s->spare && s->spare->next)) {
        store__batch_free(b);
        return;
    }
    b->next = s->spare;
    s->spare = b;
}

static void release_pins(struct store *s, struct batch *b)
{
    for (size_t i = 0; i < b->npins; i++)
        if (s->opt.release)
            s->opt.release(b->pins[i]);
    b->npins = 0;
}

static struct chunk *chunk_new(struct batch *b, uint32_t seg, uint64_t file_off, bool create)
{
    struct chunk *c;

    GROW(b->chunks, b->nchunks, b->capchunks);
    c = &b->chunks[b->nchunks++];
    c->seg = seg;
    c->create = create;
    c->file_off = file_off;
    c->len = 0;
    c->first_piece = b->npieces;
    c->npieces = 0;
    return c;
}

static struct piece *piece_new(struct batch *b, uint8_t kind)
{
    struct piece *p;

    GROW(b->pieces, b->npieces, b->cappieces);
    p = &b->pieces[b->npieces++];
    memset(p, 0, sizeof(*p));
    p->kind = kind;
    b->chunks[b->nchunks - 1].npieces++;
    return p;
}

/* Reserves n bytes at the end of the buffer as part of the current chunk. */
static size_t inline_append(struct batch *b, size_t n)
{
    size_t at = b->len;
    struct chunk *c = &b->chunks[b->nchunks - 1];

    if (b->cap - b->len < n) {
        size_t ncap = b->cap ? b->cap : 65536;
        while (ncap - b->len < n)
            ncap *= 2;
        b->buf = xrealloc(b->buf, ncap);
        b->cap = ncap;
    }
    b->len += n;
    if (c->npieces && b->pieces[b->npieces - 1].kind == PIECE_INLINE &&
        b->pieces[b->npieces - 1].off + b->pieces[b->npieces - 1].len == at) {
        b->pieces[b->npieces - 1].len += n;
    } else {
        struct piece *p = piece_new(b, PIECE_INLINE);
        p->off = at;
        p->len = n;
    }
    return at;
}

/* Starts a new head segment: a chunk that creates the file and its header. */
static void roll(struct store *s)
{
    struct batch *b = s->cur;
    uint32_t no = s->next_segno++;
    size_t at;

    store__seg_add(s, no, PERSIST_HDR_SIZE);
    s->head_open = true;
    s->gc_dirty = true; /* the old head may now be reclaimed */
    chunk_new(b, no, 0, true)->len = PERSIST_HDR_SIZE;
    at = inline_append(b, PERSIST_HDR_SIZE);
    persist__put_header(b->buf + at, no);
    b->last_rec = SIZE_MAX;
}

/*
 * Places a record of total bytes at the head, reserving its first inline_len
 * bytes in the buffer (returned as an offset; the caller fills them). A
 * record that does not fit starts a new segment, unless the head holds no
 * record yet (a huge record gets a segment of its own).
 */
static size_t place(struct store *s, uint64_t total, size_t inline_len, uint32_t *seg,
                    uint32_t *off)
{
    struct batch *b = s->cur;
    struct seg *h = head(s);
    size_t at;

    if (!h || (h->size + total > s->opt.segment_size && h->size > PERSIST_HDR_SIZE)) {
        roll(s);
        h = head(s);
    } else if (!b->nchunks || b->chunks[b->nchunks - 1].seg != h->no) {
        chunk_new(b, h->no, h->size, false);
    }
    *seg = h->no;
    *off = (uint32_t)h->size;
    h->size += total;
    b->chunks[b->nchunks - 1].len += total;
    at = inline_len ? inline_append(b, inline_len) : b->len;
    b->last_rec = SIZE_MAX;
    return at;
}

static void put_rec_hdr(uint8_t *p, uint64_t payload_len, uint8_t type)
{
    put_be32(p, (uint32_t)payload_len);
    p[4] = type;
    put_be32(p + 5, 0);
}

/* ---- open ---- */

static bool parse_seg_name(const char *name, uint32_t *no, bool *discarded)
{
    size_t n = strlen(name);
    uint32_t v = 0;

    if (n < 12)
        return false;
    for (int i = 0; i < 8; i++) {
        char c = name[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else
            return false;
        v = v << 4 | d;
    }
    if (strcmp(name + 8, ".seg") == 0)
        *discarded = false;
    else if (strcmp(name + 8, ".seg.discarded") == 0)
        *discarded = true;
    else
        return false;
    *no = v;
    return v != 0;
}

static int fsync_dir_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc;

    if (fd < 0)
        return -1;
    rc = fsync(fd);
    close(fd);
    return rc;
}

/* mkdir that tolerates an existing directory; the parent is fsync'ed after a
 * creation so the new entry survives a crash. */
static int make_dir(const char *path, const char *parent)
{
    if (mkdir(path, 0700) == 0)
        return fsync_dir_path(parent);
    return errno == EEXIST ? 0 : -1;
}

/* Lists the segments and checks each header's version, so a store written by
 * a newer Leveret is refused before anything is touched. */
static int scan_dir(struct store *s, struct store_err *err)
{
    int fd = dup(s->dirfd);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *e;
    int rc = 0;

    if (!d) {
        if (fd >= 0)
            close(fd);
        store__errf(err, errno, "%s/msgs: %s", s->dir, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        uint32_t no;
        bool discarded;

        if (!parse_seg_name(e->d_name, &no, &discarded))
            continue;
        if (no >= s->next_segno)
            s->next_segno = no + 1;
        if (!discarded)
            store__seg_add(s, no, 0);
    }
    closedir(d);
    for (size_t i = 0; i < s->nsegs && rc == 0; i++) {
        char name[32];
        uint8_t hdr[PERSIST_HDR_SIZE];
        uint32_t version = 0;
        uint64_t segno;
        ssize_t n;
        int sfd;

        store__seg_name(name, s->segs[i].no);
        sfd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
        if (sfd < 0) {
            store__errf(err, errno, "%s/msgs/%s: %s", s->dir, name, strerror(errno));
            return -1;
        }
        n = pread(sfd, hdr, sizeof(hdr), 0);
        close(sfd);
        if (n < 0) {
            store__errf(err, errno, "%s/msgs/%s: %s", s->dir, name, strerror(errno));
            return -1;
        }
        if (persist__check_header(hdr, (size_t)n, &version, &segno) == PERSIST_HDR_FUTURE) {
            store__errf(err, EPROTONOSUPPORT,
                        "%s/msgs/%s: written by a newer Leveret (store format version %u; this "
                        "build reads version %u); refusing to open the message store",
                        s->dir, name, version, PERSIST_VERSION);
            rc = -1;
        }
    }
    return rc;
}

struct store *store__open_io(const char *dir, const struct store_options *opt,
                             const struct persist_io *io, struct store_err *err)
{
    struct store *s = xcalloc(1, sizeof(*s));
    char *msgs;
    size_t n = strlen(dir) + sizeof("/msgs");

    if (err) {
        err->errnum = 0;
        err->text[0] = 0;
    }
    s->dir = xstrdup(dir);
    s->dirfd = s->lockfd = -1;
    if (opt)
        s->opt = *opt;
    if (!s->opt.segment_size)
        s->opt.segment_size = DEFAULT_SEGMENT_SIZE;
    if (s->opt.segment_size < MIN_SEGMENT_SIZE)
        s->opt.segment_size = MIN_SEGMENT_SIZE;
    if (s->opt.segment_size > MAX_SEGMENT_SIZE)
        s->opt.segment_size = MAX_SEGMENT_SIZE;
    if (!s->opt.compact_percent || s->opt.compact_percent > 100)
        s->opt.compact_percent = 50;
    if (!s->opt.compact_budget)
        s->opt.compact_budget = DEFAULT_COMPACT_BUDGET;
    s->io = persist__default_io;
    if (io) {
        if (io->pwritev)
            s->io.pwritev = io->pwritev;
        if (io->fdatasync)
            s->io.fdatasync = io->fdatasync;
        if (io->fsync)
            s->io.fsync = io->fsync;
        if (io->ftruncate)
            s->io.ftruncate = io->ftruncate;
        if (io->free_space)
            s->io.free_space = io->free_space;
    }
    s->qbyname = map_create();
    s->next_id = 1;
    s->next_qid = 1;
    s->next_segno = 1;
    s->disk_free = s->t_disk_free = UINT64_MAX;
    s->t_mode = s->opt.sync_mode;
    s->t_disk_limit = s->opt.disk_free_limit;
    for (size_t i = 0; i < ARRAY_LEN(s->tfds); i++)
        s->tfds[i].fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    pthread_cond_init(&s->idle_cv, NULL);

    msgs = xmalloc(n);
    snprintf(msgs, n, "%s/msgs", dir);
    if (make_dir(dir, ".") != 0 || make_dir(msgs, dir) != 0) {
        store__errf(err, errno, "%s: %s", msgs, strerror(errno));
        goto out_fail;
    }
    s->dirfd = open(msgs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (s->dirfd < 0) {
        store__errf(err, errno, "%s: %s", msgs, strerror(errno));
        goto out_fail;
    }
    s->lockfd = openat(s->dirfd, "LOCK", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lockfd < 0 || flock(s->lockfd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        store__errf(err, e, "%s/LOCK: %s", msgs,
                    e == EWOULDBLOCK ? "the message store is in use by another process"
                                     : strerror(e));
        goto out_fail;
    }
    if (scan_dir(s, err) != 0)
        goto out_fail;
    free(msgs);
    s->cur = batch_new(s, 1);
    return s;

out_fail:
    free(msgs);
    store_close(s);
    return NULL;
}

struct store *store_open(const char *dir, const struct store_options *opt, struct store_err *err)
{
    return store__open_io(dir, opt, NULL, err);
}

bool store_was_clean(const struct store *s)
{
    return s->clean;
}

/* ---- messages and entries ---- */

static void msg_kill(struct store *s, struct smsg *m)
{
    seg_unlive(s, m->seg, m->len);
    persist__msg_del(&s->msgs, m->id);
}

/* The entry is settled: its records (ENQ copies, DLV marker) are garbage. */
static void entry_kill(struct store *s, struct squeue *q, struct sent *e)
{
    struct smsg *m = persist__msg_get(&s->msgs, e->id);

    seg_unlive(s, e->seg, ENQ_TOTAL);
    if (e->dlv_seg)
        seg_unlive(s, e->dlv_seg, RANGE_TOTAL);
    if (m && --m->refs == 0)
        msg_kill(s, m);
    persist__ent_del(&q->ents, e->seq);
    s->live_entries--;
}

uint64_t store_append_msg(struct store *s, const struct store_msg_data *m, void *pin)
{
    struct batch *b = s->cur;
    size_t meta = persist__msg_meta_len(m);
    bool ext = pin && m->body.n >= PIN_MIN_BODY;
    uint64_t id = s->next_id++, total = PERSIST_REC_HDR + meta + (uint64_t)m->body.n;
    uint32_t seg, off;
    size_t at;
    uint8_t *p;
    struct smsg *sm;

    assert(s->recovered);
    assert(m->exchange.n <= 255 && m->routing_key.n <= 255 && m->props.n <= ((size_t)1 << 20));
    assert(m->body.n <= STORE_MAX_BODY);
    at = place(s, total, PERSIST_REC_HDR + meta + (ext ? 0 : m->body.n), &seg, &off);
    p = b->buf + at;
    put_rec_hdr(p, total - PERSIST_REC_HDR, PERSIST_R_MSG);
    persist__put_msg_meta(p + PERSIST_REC_HDR, id, m);
    if (!ext) {
        if (m->body.n)
            memcpy(p + PERSIST_REC_HDR + meta, m->body.p, m->body.n);
        persist__seal_record(p, (size_t)total);
        if (pin && s->opt.release)
            s->opt.release(pin);
    } else {
        /* The sync thread finishes the checksum over the caller's body. */
        struct piece *pc = piece_new(b, PIECE_EXT);
        uint32_t crc = persist__crc32c(0, p, 5);
        pc->crc = persist__crc32c(crc, p + PERSIST_REC_HDR, meta);
        pc->off = at + 5;
        pc->ptr = m->body.p;
        pc->len = m->body.n;
        GROW(b->pins, b->npins, b->cappins);
        b->pins[b->npins++] = pin;
    }
    sm = persist__msg_add(&s->msgs, id);
    sm->seg = seg;
    sm->off = off;
    sm->len = (uint32_t)total;
    seg_live(s, seg, total);
    GROW(s->newmsgs, s->nnew, s->capnew);
    s->newmsgs[s->nnew++] = id;
    b->need_sync = true;
    return id;
}

static void put_enq(struct store *s, uint32_t qid, uint64_t seq, uint64_t id, bool delivered,
                    uint32_t *seg)
{
    uint32_t off;
    size_t at = place(s, ENQ_TOTAL, ENQ_TOTAL, seg, &off);
    uint8_t *p = s->cur->buf + at;

    put_rec_hdr(p, PERSIST_ENQ_LEN, PERSIST_R_ENQ);
    put_be32(p + 9, qid);
    put_be64(p + 13, seq);
    put_be64(p + 21, id);
    p[29] = delivered ? PERSIST_ENQ_F_DELIVERED : 0;
    persist__seal_record(p, ENQ_TOTAL);
    s->cur->need_sync = true;
}

int store_append_enq(struct store *s, uint32_t qid, uint64_t seq, uint64_t id)
{
    struct squeue *q = store__queue_get(s, qid);
    struct smsg *m = persist__msg_get(&s->msgs, id);
    struct sent *e;
    uint32_t seg;

    assert(s->recovered);
    if (!q || !m || seq == 0 || persist__ent_get(&q->ents, seq))
        return -1;
    put_enq(s, qid, seq, id, false, &seg);
    e = persist__ent_add(&q->ents, seq);
    e->id = id;
    e->seg = e->first_seg = seg;
    m->refs++;
    seg_live(s, seg, ENQ_TOTAL);
    if (seq > q->max_seq)
        q->max_seq = seq;
    s->live_entries++;
    return 0;
}

/*
 * Appends a DLV or ACK for qid/seq, extending the previous record instead
 * when it is the same kind for the same queue and ends right before seq
 * (acks and deliveries mostly come in order, and a purge settles runs).
 * Returns the segment holding the record.
 */
static uint32_t put_range(struct store *s, uint8_t type, uint32_t qid, uint64_t seq)
{
    struct batch *b = s->cur;
    uint32_t seg, off;
    size_t at;
    uint8_t *p;

    if (b->last_rec != SIZE_MAX) {
        p = b->buf + b->last_rec;
        uint64_t rseq = get_be64(p + 13);
        uint32_t count = get_be32(p + 21);
        if (p[4] == type && get_be32(p + 9) == qid && rseq + count == seq && count < UINT32_MAX) {
            put_be32(p + 21, count + 1);
            persist__seal_record(p, RANGE_TOTAL);
            return s->segs[s->nsegs - 1].no;
        }
    }
    at = place(s, RANGE_TOTAL, RANGE_TOTAL, &seg, &off);
    p = b->buf + at;
    put_rec_hdr(p, PERSIST_RANGE_LEN, type);
    put_be32(p + 9, qid);
    put_be64(p + 13, seq);
    put_be32(p + 21, 1);
    persist__seal_record(p, RANGE_TOTAL);
    b->last_rec = at;
    return seg;
}

int store_append_delivered(struct store *s, uint32_t qid, uint64_t seq)
{
    struct squeue *q = store__queue_get(s, qid);
    struct sent *e = q ? persist__ent_get(&q->ents, seq) : NULL;
    uint32_t seg;

    if (!e)
        return -1;
    if (e->delivered)
        return 0;
    seg = put_range(s, PERSIST_R_DLV, qid, seq);
    e = persist__ent_get(&q->ents, seq);
    e->delivered = 1;
    e->dlv_seg = seg;
    seg_live(s, seg, RANGE_TOTAL);
    return 0;
}

int store_append_ack(struct store *s, uint32_t qid, uint64_t seq)
{
    struct squeue *q = store__queue_get(s, qid);
    struct sent *e = q ? persist__ent_get(&q->ents, seq) : NULL;
    struct seg *a;

    if (!e)
        return -1;
    a = store__seg_get(s, put_range(s, PERSIST_R_ACK, qid, seq));
    a->min_dep = min_u32(a->min_dep, e->first_seg);
    entry_kill(s, q, e);
    return 0;
}

/* ---- queues ---- */

static void put_queue(struct store *s, struct squeue *q, uint32_t *seg)
{
    uint64_t len = 6u + q->vhost_len + q->name_len;
    uint32_t off;
    size_t at = place(s, PERSIST_REC_HDR + len, PERSIST_REC_HDR + (size_t)len, seg, &off);
    uint8_t *p = s->cur->buf + at;

    put_rec_hdr(p, len, PERSIST_R_QUEUE);
    put_be32(p + 9, q->qid);
    p[13] = q->vhost_len;
    memcpy(p + 14, q->vhost, q->vhost_len);
    p[14 + q->vhost_len] = q->name_len;
    memcpy(p + 15 + q->vhost_len, q->name, q->name_len);
    persist__seal_record(p, PERSIST_REC_HDR + (size_t)len);
    s->cur->need_sync = true;
}

static uint64_t queue_rec_total(const struct squeue *q)
{
    return PERSIST_REC_HDR + 6u + q->vhost_len + q->name_len;
}

uint32_t store_queue_find(const struct store *s, struct view vhost, struct view name)
{
    uint8_t key[512];
    struct squeue *q;

    if (vhost.n > 255 || name.n > 255)
        return 0;
    q = map_get(s->qbyname, name_key(key, vhost, name));
    return q ? q->qid : 0;
}

uint32_t store_queue_open(struct store *s, struct view vhost, struct view name)
{
    uint32_t qid = store_queue_find(s, vhost, name), seg;
    struct squeue *q;

    assert(s->recovered);
    assert(vhost.n <= 255 && name.n <= 255);
    if (qid)
        return qid;
    q = store__queue_new(s, s->next_qid++);
    store__queue_name(s, q, vhost, name);
    put_queue(s, q, &seg);
    q->seg = q->first_seg = seg;
    seg_live(s, seg, queue_rec_total(q));
    return q->qid;
}

int store_queue_delete(struct store *s, uint32_t qid)
{
    struct squeue *q = store__queue_get(s, qid);
    uint32_t seg, off, dep;
    size_t at;
    uint8_t *p;

    if (!q)
        return -1;
    at = place(s, PERSIST_REC_HDR + 4, PERSIST_REC_HDR + 4, &seg, &off);
    p = s->cur->buf + at;
    put_rec_hdr(p, 4, PERSIST_R_QDEL);
    put_be32(p + 9, qid);
    persist__seal_record(p, PERSIST_REC_HDR + 4);
    s->cur->need_sync = true;
    dep = q->first_seg;
    /* entry_kill shifts slots, so walk from the end of the table and
     * re-examine a slot whenever something moved into it. */
    for (size_t i = q->ents.cap; i-- > 0;) {
        while (q->ents.slots[i].id) {
            dep = min_u32(dep, q->ents.slots[i].first_seg);
            entry_kill(s, q, &q->ents.slots[i]);
        }
    }
    store__seg_get(s, seg)->min_dep = min_u32(store__seg_get(s, seg)->min_dep, dep);
    seg_unlive(s, q->seg, queue_rec_total(q));
    queue_forget(s, q);
    return 0;
}

/* ---- reclamation: deletion and compaction ---- */

static bool is_source(const struct store *s, uint32_t no)
{
    for (size_t i = 0; i < s->ncsrc; i++)
        if (s->csrc[i] == no)
            return true;
    return false;
}

/* Compaction source `no` is being deleted: entries and queues copied out of
 * it now have their oldest copy where the copy went. */
static void compact_source_gone(struct store *s, uint32_t no)
{
    for (size_t i = 0; i < s->ncitems; i++) {
        struct compact_item *it = &s->citems[i];
        struct squeue *q = it->kind ? store__queue_get(s, it->qid) : NULL;
        if (it->kind == 1 && q) {
            struct sent *e = persist__ent_get(&q->ents, it->key);
            if (e && e->first_seg == no)
                e->first_seg = e->seg;
        } else if (it->kind == 2 && q && q->first_seg == no) {
            q->first_seg = q->seg;
        }
    }
    for (size_t i = 0; i < s->ncsrc; i++) {
        if (s->csrc[i] == no) {
            s->csrc[i] = s->csrc[--s->ncsrc];
            break;
        }
    }
    s->compactions++;
    if (s->ncsrc == 0) {
        s->ncitems = s->ccursor = 0;
        s->compact_done = false;
    }
}

static void delete_pass(struct store *s)
{
    struct batch *b = s->cur;
    uint32_t pred = 0;
    size_t i = 0;

    while (i < s->nsegs) {
        struct seg *g = &s->segs[i];
        bool is_head = s->head_open && i == s->nsegs - 1;
        bool src = is_source(s, g->no);
        /* A source stays until its copies are durable (store_read_body may
         * also still read a moving record from it). */
        bool copies_pending = src && s->durable < s->compact_last_batch;

        if (is_head || g->live_cnt || (pred && pred >= g->min_dep) || copies_pending) {
            pred = g->no;
            i++;
            continue;
        }
        GROW(b->dels, b->ndels, b->capdels);
        b->dels[b->ndels++] = g->no;
        if (g->rfd >= 0) {
            GROW(b->closefds, b->nclosefds, b->capclosefds);
            b->closefds[b->nclosefds++] = g->rfd;
        }
        if (src)
            compact_source_gone(s, g->no);
        b->need_sync = true;
        s->segments_deleted++;
        memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof(*s->segs));
        s->nsegs--;
    }
}

static void citem_add(struct store *s, uint8_t kind, uint32_t qid, uint32_t off, uint64_t key)
{
    GROW(s->citems, s->ncitems, s->capcitems);
    s->citems[s->ncitems++] = (struct compact_item){kind, qid, off, key};
}

/* Messages first, in file order so the sync thread reads the sources
 * forward; then entries and queues (in queue and sequence order). */
static int cmp_citem(const void *a, const void *b)
{
    const struct compact_item *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    if (x->qid != y->qid)
        return x->qid < y->qid ? -1 : 1;
    if (x->off != y->off)
        return x->off < y->off ? -1 : 1;
    return x->key < y->key ? -1 : x->key > y->key;
}

/* Lists the live records of the sources (one scan of the index). */
static void compact_begin(struct store *s)
{
    s->ncitems = s->ccursor = 0;
    for (size_t i = 0; i < s->msgs.cap; i++)
        if (s->msgs.slots[i].id && is_source(s, s->msgs.slots[i].seg))
            citem_add(s, 0, s->msgs.slots[i].seg, s->msgs.slots[i].off, s->msgs.slots[i].id);
    for (size_t i = 0; i < s->qbyid.cap; i++) {
        struct squeue *q;
        if (!s->qbyid.keys[i])
            continue;
        q = (struct squeue *)(uintptr_t)s->qbyid.vals[i];
        if (is_source(s, q->seg))
            citem_add(s, 2, q->qid, 0, 0);
        for (size_t j = 0; j < q->ents.cap; j++) {
            const struct sent *e = &q->ents.slots[j];
            if (e->id && (is_source(s, e->seg) || (e->dlv_seg && is_source(s, e->dlv_seg))))
                citem_add(s, 1, q->qid, 0, e->seq);
        }
    }
    qsort(s->citems, s->ncitems, sizeof(*s->citems), cmp_citem);
}

/* Chooses what to compact: old sparse segments that can be deleted once
 * their live records are copied (up to about one budget of live bytes), else
 * (when the files hold more than twice the live bytes plus two segments) the
 * oldest segment, whatever its use: it is what pins the tombstones after it. */
static void compact_pick(struct store *s)
{
    uint64_t disk = 0, live = 0, picked = 0;
    size_t n = s->nsegs - (s->head_open ? 1 : 0);

    for (size_t i = 0; i < n && s->ncsrc < ARRAY_LEN(s->csrc); i++) {
        const struct seg *g = &s->segs[i];
        uint32_t pred = i ? s->segs[i - 1].no : 0;
        if (g->live_cnt && (!pred || pred < g->min_dep) &&
            g->live_bytes * 100 < g->size * s->opt.compact_percent &&
            (s->ncsrc == 0 || picked + g->live_bytes <= s->opt.compact_budget)) {
            s->csrc[s->ncsrc++] = g->no;
            picked += g->live_bytes;
        }
    }
    if (s->ncsrc)
        return;
    for (size_t i = 0; i < s->nsegs; i++) {
        disk += s->segs[i].size;
        live += s->segs[i].live_bytes;
    }
    if (n >= 2 && disk > 2 * live + 2 * s->opt.segment_size && s->segs[0].live_cnt)
        s->csrc[s->ncsrc++] = s->segs[0].no;
}

static void compact_step(struct store *s)
{
    uint64_t budget = s->opt.compact_budget, moved = 0;

    if (!s->ncsrc) {
        compact_pick(s);
        if (!s->ncsrc)
            return;
        compact_begin(s);
    }
    while (s->ccursor < s->ncitems && moved < budget) {
        struct compact_item *it = &s->citems[s->ccursor++];
        uint32_t seg, off;

        if (it->kind == 0) {
            struct smsg *m = persist__msg_get(&s->msgs, it->key);
            struct piece *pc;
            uint32_t src;
            if (!m || !is_source(s, m->seg))
                continue;
            src = m->seg;
            place(s, m->len, 0, &seg, &off);
            pc = piece_new(s->cur, PIECE_COPY);
            pc->src_seg = src;
            pc->src_off = m->off;
            pc->len = m->len;
            persist__u64_put(&s->moving, m->id, (uint64_t)src << 32 | m->off);
            GROW(s->cur->moved, s->cur->nmoved, s->cur->capmoved);
            s->cur->moved[s->cur->nmoved++] = m->id;
            seg_unlive(s, src, m->len);
            seg_live(s, seg, m->len);
            m->seg = seg;
            m->off = off;
            s->cur->need_sync = true;
            moved += m->len;
        } else if (it->kind == 1) {
            struct squeue *q = store__queue_get(s, it->qid);
            struct sent *e = q ? persist__ent_get(&q->ents, it->key) : NULL;
            if (!e)
                continue;
            if (is_source(s, e->seg)) {
                /* The copy carries the delivered flag, so a DLV marker
                 * elsewhere is no longer needed. */
                uint32_t src = e->seg;
                put_enq(s, q->qid, e->seq, e->id, e->delivered, &seg);
                seg_unlive(s, src, ENQ_TOTAL);
                seg_live(s, seg, ENQ_TOTAL);
                e->seg = seg;
                if (e->dlv_seg) {
                    seg_unlive(s, e->dlv_seg, RANGE_TOTAL);
                    e->dlv_seg = 0;
                }
                moved += ENQ_TOTAL;
            } else if (e->dlv_seg && is_source(s, e->dlv_seg)) {
                uint32_t src = e->dlv_seg;
                seg = put_range(s, PERSIST_R_DLV, q->qid, e->seq);
                seg_unlive(s, src, RANGE_TOTAL);
                seg_live(s, seg, RANGE_TOTAL);
                e->dlv_seg = seg;
                s->cur->need_sync = true;
                moved += RANGE_TOTAL;
            }
        } else {
            struct squeue *q = store__queue_get(s, it->qid);
            uint32_t src;
            if (!q || !is_source(s, q->seg))
                continue;
            src = q->seg;
            put_queue(s, q, &seg);
            seg_unlive(s, src, queue_rec_total(q));
            seg_live(s, seg, queue_rec_total(q));
            q->seg = seg;
            moved += queue_rec_total(q);
        }
    }
    if (moved)
        s->compact_last_batch = s->cur->id;
    if (s->ccursor == s->ncitems)
        s->compact_done = true;
}

static void gc(struct store *s)
{
    if (s->gc_dirty) {
        s->gc_dirty = false;
        delete_pass(s);
    }
    if (!s->compact_done)
        compact_step(s);
    if (s->gc_dirty || s->compact_done) {
        s->gc_dirty = false;
        delete_pass(s);
    }
}

/* ---- group commit ---- */

uint64_t store_ticket(struct store *s)
{
    s->cur->ticketed = true;
    return s->cur->id;
}

void store_submit(struct store *s)
{
    struct batch *b;

    assert(s->recovered);
    /* A message appended without any entry is dead on arrival. */
    for (size_t i = 0; i < s->nnew; i++) {
        struct smsg *m = persist__msg_get(&s->msgs, s->newmsgs[i]);
        if (m && m->refs == 0)
            msg_kill(s, m);
    }
    s->nnew = 0;
    gc(s);
    b = s->cur;
    if (!b->npieces && !b->ndels && !b->ticketed)
        return;
    s->cur = batch_new(s, b->id + 1);
    pthread_mutex_lock(&s->mu);
    if (s->q_tail)
        s->q_tail->next = b;
    else
        s->q_head = b;
    s->q_tail = b;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

uint64_t store_completed(struct store *s)
{
    struct batch *done, *next;

    pthread_mutex_lock(&s->mu);
    done = s->done_head;
    s->done_head = s->done_tail = NULL;
    s->durable = s->t_durable;
    s->status = s->t_status;
    s->disk_free = s->t_disk_free;
    memcpy(s->last_error, s->t_error, sizeof(s->last_error));
    pthread_mutex_unlock(&s->mu);
    for (; done; done = next) {
        next = done->next;
        release_pins(s, done);
        for (size_t i = 0; i < done->nmoved; i++)
            persist__u64_del(&s->moving, done->moved[i]);
        for (size_t i = 0; i < done->nclosefds; i++)
            close(done->closefds[i]);
        if (done->nchunks) {
            const struct chunk *c = &done->chunks[done->nchunks - 1];
            s->durable_seg = c->seg;
            s->durable_end = c->file_off + c->len;
        }
        batch_recycle(s, done);
    }
    return s->durable;
}

uint64_t store_durable(const struct store *s)
{
    return s->durable;
}

int store_flush(struct store *s)
{
    uint64_t target, gen;
    bool failed;

    store_ticket(s);
    target = s->cur->id;
    store_submit(s);
    pthread_mutex_lock(&s->mu);
    gen = s->fail_gen;
    while (s->t_durable < target && s->fail_gen == gen && s->thread_started)
        pthread_cond_wait(&s->idle_cv, &s->mu);
    failed = s->t_durable < target;
    pthread_mutex_unlock(&s->mu);
    store_completed(s);
    return failed ? -1 : 0;
}

void store_set_sync_mode(struct store *s, enum store_sync_mode mode)
{
    pthread_mutex_lock(&s->mu);
    s->t_mode = mode;
    pthread_mutex_unlock(&s->mu);
}

/* ---- status ---- */

unsigned store_status(const struct store *s)
{
    return s->status;
}

uint64_t store_disk_free(const struct store *s)
{
    return s->disk_free;
}

void store_set_disk_free_limit(struct store *s, uint64_t bytes)
{
    pthread_mutex_lock(&s->mu);
    s->t_disk_limit = bytes;
    pthread_mutex_unlock(&s->mu);
}

const char *store_last_error(const struct store *s)
{
    return s->last_error;
}

void store_get_stats(const struct store *s, struct store_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->messages = s->msgs.n;
    out->entries = s->live_entries;
    out->queues = s->qbyid.n;
    out->segments = s->nsegs;
    for (size_t i = 0; i < s->nsegs; i++) {
        out->disk_bytes += s->segs[i].size;
        out->live_bytes += s->segs[i].live_bytes;
    }
    pthread_mutex_lock((pthread_mutex_t *)&s->mu);
    out->syncs = s->t_syncs;
    out->groups = s->t_groups;
    pthread_mutex_unlock((pthread_mutex_t *)&s->mu);
    out->segments_deleted = s->segments_deleted;
    out->compactions = s->compactions;
}

/* ---- bodies ---- */

static int seg_rfd(struct store *s, uint32_t no)
{
    struct seg *g = store__seg_get(s, no);
    char name[32];

    if (!g)
        return -1;
    if (g->rfd < 0) {
        store__seg_name(name, no);
        g->rfd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC);
    }
    return g->rfd;
}

static int pread_all(int fd, uint8_t *buf, size_t n, uint64_t off)
{
    while (n) {
        ssize_t r = pread(fd, buf, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        buf += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Where message id's record can be read now (written, possibly at its old
 * place while a compaction copy is not durable yet): 0, or -1 with err
 * (ENOENT: unknown; EAGAIN: not written yet). */
static int locate_msg(const struct store *s, uint64_t id, uint32_t *seg, uint32_t *off,
                      uint32_t *len, struct store_err *err)
{
    const struct smsg *m = persist__msg_get(&s->msgs, id);
    uint64_t loc;

    if (!m) {
        store__errf(err, ENOENT, "message %llu is not in the store", (unsigned long long)id);
        return -1;
    }
    *seg = m->seg;
    *off = m->off;
    *len = m->len;
    if (*seg > s->durable_seg || (*seg == s->durable_seg && *off >= s->durable_end)) {
        if (!persist__u64_get(&s->moving, id, &loc)) {
            store__errf(err, EAGAIN, "message %llu is not written yet", (unsigned long long)id);
            return -1;
        }
        *seg = (uint32_t)(loc >> 32);
        *off = (uint32_t)loc;
    }
    return 0;
}

int store_read_body(struct store *s, uint64_t id, uint8_t *buf, size_t cap, size_t *len,
                    struct store_err *err)
{
    uint8_t head_buf[PERSIST_REC_HDR + 8 + 1 + 256 + 256 + 4];
    uint32_t seg, off, rlen, crc, want;
    uint64_t payload, meta, body;
    size_t hn;
    int fd;

    if (locate_msg(s, id, &seg, &off, &rlen, err) != 0)
        return -1;
    fd = seg_rfd(s, seg);
    hn = rlen < sizeof(head_buf) ? rlen : sizeof(head_buf);
    if (fd < 0 || pread_all(fd, head_buf, hn, off) != 0)
        goto out_io;
    payload = get_be32(head_buf);
    if (head_buf[4] != PERSIST_R_MSG || payload + PERSIST_REC_HDR != rlen || hn < 19)
        goto out_corrupt;
    /* id u64, flags u8, exchange, routing key, props (u32 length) */
    meta = 8 + 1;
    meta += 1 + (uint64_t)head_buf[PERSIST_REC_HDR + meta];
    if (PERSIST_REC_HDR + meta >= hn)
        goto out_corrupt;
    meta += 1 + (uint64_t)head_buf[PERSIST_REC_HDR + meta];
    if (PERSIST_REC_HDR + meta + 4 > hn)
        goto out_corrupt;
    meta += 4 + (uint64_t)get_be32(head_buf + PERSIST_REC_HDR + meta);
    if (meta > payload || get_be64(head_buf + PERSIST_REC_HDR) != id)
        goto out_corrupt;
    body = payload - meta;
    *len = (size_t)body;
    if (cap < body) {
        store__errf(err, ERANGE, "message %llu has a %llu-byte body", (unsigned long long)id,
                    (unsigned long long)body);
        return -1;
    }
    /* Checksum: header bytes, the metadata (read again if it did not fit in
     * head_buf), then the body read straight into the caller's buffer. */
    want = get_be32(head_buf + 5);
    crc = persist__crc32c(0, head_buf, 5);
    if (PERSIST_REC_HDR + meta <= hn) {
        crc = persist__crc32c(crc, head_buf + PERSIST_REC_HDR, (size_t)meta);
    } else {
        uint8_t *tmp = xmalloc((size_t)meta);
        int rc = pread_all(fd, tmp, (size_t)meta, (uint64_t)off + PERSIST_REC_HDR);
        if (rc == 0)
            crc = persist__crc32c(crc, tmp, (size_t)meta);
        free(tmp);
        if (rc != 0)
            goto out_io;
    }
    if (body && pread_all(fd, buf, (size_t)body, (uint64_t)off + PERSIST_REC_HDR + meta) != 0)
        goto out_io;
    crc = persist__crc32c(crc, buf, (size_t)body);
    if (crc != want)
        goto out_corrupt;
    return 0;

out_io:
    store__errf(err, EIO, "message %llu: cannot read segment %08x: %s", (unsigned long long)id, seg,
                strerror(errno));
    return -1;
out_corrupt:
    store__errf(err, EIO, "message %llu: corrupt record in segment %08x at offset %u",
                (unsigned long long)id, seg, off);
    return -1;
}

/* ---- close ---- */

static void free_all(struct store *s)
{
    struct batch *b, *next;

    for (b = s->q_head; b; b = next) {
        next = b->next;
        release_pins(s, b);
        store__batch_free(b);
    }
    for (b = s->done_head; b; b = next) {
        next = b->next;
        release_pins(s, b);
        for (size_t i = 0; i < b->nclosefds; i++)
            close(b->closefds[i]);
        store__batch_free(b);
    }
    if (s->cur) {
        release_pins(s, s->cur);
        for (size_t i = 0; i < s->cur->nclosefds; i++)
            close(s->cur->closefds[i]);
        store__batch_free(s->cur);
    }
    for (b = s->spare; b; b = next) {
        next = b->next;
        store__batch_free(b);
    }
    for (size_t i = 0; i < s->qbyid.cap; i++)
        if (s->qbyid.keys[i])
            store__queue_free((struct squeue *)(uintptr_t)s->qbyid.vals[i]);
    persist__u64_free(&s->qbyid);
    map_destroy(s->qbyname);
    persist__msg_free(&s->msgs);
    persist__u64_free(&s->moving);
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i].rfd >= 0)
            close(s->segs[i].rfd);
    for (size_t i = 0; i < ARRAY_LEN(s->tfds); i++)
        if (s->tfds[i].fd >= 0)
            close(s->tfds[i].fd);
    free(s->segs);
    free(s->newmsgs);
    free(s->citems);
    free(s->scratch);
    free(s->iov);
    if (s->lockfd >= 0)
        close(s->lockfd);
    if (s->dirfd >= 0)
        close(s->dirfd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    pthread_cond_destroy(&s->idle_cv);
    free(s->dir);
    free(s);
}

static void stop_thread(struct store *s, bool abandon)
{
    if (!s->thread_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    s->abandon = abandon;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->thread_started = false;
}

int store_close(struct store *s)
{
    int rc = 0;

    if (!s)
        return 0;
    if (s->thread_started) {
        uint32_t seg, off;
        size_t at = place(s, PERSIST_REC_HDR, PERSIST_REC_HDR, &seg, &off);
        put_rec_hdr(s->cur->buf + at, 0, PERSIST_R_CLEAN);
        persist__seal_record(s->cur->buf + at, PERSIST_REC_HDR);
        s->cur->need_sync = true;
        rc = store_flush(s);
        stop_thread(s, false);
        store_completed(s);
    }
    free_all(s);
    return rc;
}

void store__abandon(struct store *s)
{
    if (!s)
        return;
    stop_thread(s, true);
    store_completed(s);
    free_all(s);
}

bool store_entry_readable(const struct store *s, uint32_t qid, uint64_t seq, uint64_t id)
{
    const struct squeue *q = store__queue_get(s, qid);
    const struct sent *e = q ? persist__ent_get(&q->ents, seq) : NULL;
    uint32_t seg, off, len;
    struct store_err err;

    return e && e->id == id && locate_msg(s, id, &seg, &off, &len, &err) == 0;
}

int store_read_msg(struct store *s, uint64_t id, const struct store_msg_dst *d,
                   struct store_err *err)
{
    /* The MSG record around the caller's four buffers: header, id, flags and
     * the exchange length; the routing key length; the props length. */
    uint8_t a[PERSIST_REC_HDR + 8 + 1 + 1], b[1], c[4];
    struct iovec iov[7] = {
        {a, sizeof(a)},
        {d->exchange, d->exchange_n},
        {b, 1},
        {d->routing_key, d->routing_key_n},
        {c, 4},
        {d->props, d->props_n},
        {d->body, d->body_n},
    };
    uint64_t want = sizeof(a) + d->exchange_n + 1 + d->routing_key_n + 4 + d->props_n + d->body_n;
    uint32_t seg, off, len, crc;
    ssize_t got = -1;
    int fd;

    if (locate_msg(s, id, &seg, &off, &len, err) != 0)
        return -1;
    if (want != len) {
        store__errf(err, EIO, "message %llu: %u bytes on disk, %llu expected",
                    (unsigned long long)id, len, (unsigned long long)want);
        return -1;
    }
    fd = seg_rfd(s, seg);
    if (fd < 0)
        goto out_io;
    do
        got = preadv(fd, iov, 7, (off_t)off);
    while (got < 0 && errno == EINTR);
    if (got != (ssize_t)want)
        goto out_io;
    if (get_be32(a) + (uint64_t)PERSIST_REC_HDR != want || a[4] != PERSIST_R_MSG ||
        get_be64(a + PERSIST_REC_HDR) != id || a[PERSIST_REC_HDR + 9] != d->exchange_n ||
        b[0] != d->routing_key_n || get_be32(c) != d->props_n)
        goto out_corrupt;
    crc = persist__crc32c(0, a, 5);
    crc = persist__crc32c(crc, a + PERSIST_REC_HDR, sizeof(a) - PERSIST_REC_HDR);
    for (int i = 1; i < 7; i++)
        crc = persist__crc32c(crc, iov[i].iov_base, iov[i].iov_len);
    if (crc != get_be32(a + 5))
        goto out_corrupt;
    return 0;

out_io:
    store__errf(err, EIO, "message %llu: cannot read segment %08x: %s", (unsigned long long)id, seg,
                got >= 0 ? "short read" : strerror(errno));
    return -1;
out_corrupt:
    store__errf(err, EIO, "message %llu: corrupt record in segment %08x at offset %u",
                (unsigned long long)id, seg, off);
    return -1;
}
