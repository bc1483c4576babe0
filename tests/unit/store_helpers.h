/* SPDX-License-Identifier: MIT */
/*
 * Shared helpers of the message store's unit tests (test_store*.c): a temp
 * data dir, a recorder for store_recover's callbacks, I/O hooks that count
 * syncs and inject failures, and one-line publish helpers. Header-only
 * (static inline) so each test binary links the store's objects alone.
 */
#ifndef TESTS_UNIT_STORE_HELPERS_H
#define TESTS_UNIT_STORE_HELPERS_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cmocka.h>

#include "persist/persist_int.h"
#include "persist/store.h"

/* ---- temp dir ---- */

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline char *tmpdir_new(void)
{
    char *d = strdup("/tmp/leveret-store-XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static inline void tmpdir_free(char *d)
{
    if (d)
        nftw(d, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(d);
}

static inline void seg_path(char *out, size_t n, const char *dir, uint32_t no, const char *suffix)
{
    snprintf(out, n, "%s/msgs/%08x.seg%s", dir, no, suffix);
}

static inline bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static inline long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static inline size_t count_segments(const char *dir)
{
    size_t n = 0;
    char p[512];
    for (uint32_t no = 1; no < 4096; no++) {
        seg_path(p, sizeof(p), dir, no, "");
        if (file_exists(p))
            n++;
    }
    return n;
}

static inline void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out;
    char buf[4096];
    size_t n;

    assert_non_null(in);
    out = fopen(to, "wb");
    assert_non_null(out);
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
        assert_int_equal(fwrite(buf, 1, n, out), n);
    fclose(in);
    assert_int_equal(fclose(out), 0);
}

/* ---- recorder ---- */

struct rec_entry {
    uint32_t qid;
    uint64_t seq, id;
    bool redelivered;
    char body[256];
    size_t body_n;
};

struct rec_handle {
    uint64_t id;
    char body[256];
    size_t body_n;
};

struct rec {
    struct {
        uint32_t qid;
        char vhost[256], name[256];
        uint64_t max_seq;
    } q[64];
    size_t nq;
    struct rec_entry *e;
    size_t ne, cape;
    size_t made, released;
    char warn[32][512];
    size_t nwarn;
};

static inline void rec_queue(void *ctx, uint32_t qid, struct view vhost, struct view name,
                             uint64_t max_seq)
{
    struct rec *r = ctx;
    assert_true(r->nq < 64);
    r->q[r->nq].qid = qid;
    snprintf(r->q[r->nq].vhost, 256, "%.*s", (int)vhost.n, (const char *)vhost.p);
    snprintf(r->q[r->nq].name, 256, "%.*s", (int)name.n, (const char *)name.p);
    r->q[r->nq].max_seq = max_seq;
    r->nq++;
}

static inline void *rec_message(void *ctx, const struct store_recovered_msg *m)
{
    struct rec *r = ctx;
    struct rec_handle *h = calloc(1, sizeof(*h));
    h->id = m->id;
    h->body_n = m->body.n;
    memcpy(h->body, m->body.p, m->body.n < sizeof(h->body) ? m->body.n : sizeof(h->body));
    r->made++;
    return h;
}

static inline void rec_entry(void *ctx, uint32_t qid, uint64_t seq, void *handle, bool redelivered)
{
    struct rec *r = ctx;
    struct rec_handle *h = handle;
    struct rec_entry *e;

    if (r->ne == r->cape) {
        r->cape = r->cape ? r->cape * 2 : 64;
        r->e = realloc(r->e, r->cape * sizeof(*r->e));
    }
    e = &r->e[r->ne++];
    memset(e, 0, sizeof(*e));
    e->qid = qid;
    e->seq = seq;
    e->id = h->id;
    e->redelivered = redelivered;
    e->body_n = h->body_n;
    memcpy(e->body, h->body, sizeof(e->body));
}

static inline void rec_release(void *ctx, void *handle)
{
    struct rec *r = ctx;
    free(handle);
    r->released++;
}

static inline void rec_warn(void *ctx, const char *text)
{
    struct rec *r = ctx;
    if (r->nwarn < 32)
        snprintf(r->warn[r->nwarn++], 512, "%s", text);
}

static const struct store_recover_ops rec_ops = {
    .queue = rec_queue,
    .message = rec_message,
    .entry = rec_entry,
    .release = rec_release,
    .warn = rec_warn,
};

static inline void rec_reset(struct rec *r)
{
    free(r->e);
    memset(r, 0, sizeof(*r));
}

static inline bool rec_warned(const struct rec *r, const char *needle)
{
    for (size_t i = 0; i < r->nwarn; i++)
        if (strstr(r->warn[i], needle))
            return true;
    return false;
}

/* The recovered entries of qid, in callback order, as "seq:body[:R]" joined by spaces. */
static inline void rec_dump(const struct rec *r, uint32_t qid, char *out, size_t n)
{
    size_t k = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->ne && k < n; i++) {
        if (r->e[i].qid != qid)
            continue;
        k += (size_t)snprintf(out + k, n - k, "%s%llu:%.*s%s", k ? " " : "",
                              (unsigned long long)r->e[i].seq, (int)r->e[i].body_n, r->e[i].body,
                              r->e[i].redelivered ? ":R" : "");
    }
}

/* ---- I/O hooks ---- */

struct hook_state {
    pthread_mutex_t mu;
    int fdatasyncs;
    int enospc;        /* pwritev fails with ENOSPC while set */
    uint64_t free_now; /* reported free space; 0 = real */
    long crash_after;  /* ops left before the simulated crash; -1 = never */
    bool crashed;
    long ops; /* write, sync and truncate calls so far */
};

static struct hook_state hooks = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, -1, false, 0};

static inline void hooks_reset(void)
{
    pthread_mutex_lock(&hooks.mu);
    hooks.fdatasyncs = 0;
    hooks.enospc = 0;
    hooks.free_now = 0;
    hooks.crash_after = -1;
    hooks.crashed = false;
    hooks.ops = 0;
    pthread_mutex_unlock(&hooks.mu);
}

static inline long hook_ops(void)
{
    long n;
    pthread_mutex_lock(&hooks.mu);
    n = hooks.ops;
    pthread_mutex_unlock(&hooks.mu);
    return n;
}

/* Counts an operation toward the simulated crash; true once it has happened
 * (the operation must then not take effect, or only partly). */
static inline bool hook_crash_step(void)
{
    bool crashed;
    pthread_mutex_lock(&hooks.mu);
    hooks.ops++;
    if (!hooks.crashed && hooks.crash_after >= 0 && hooks.crash_after-- == 0)
        hooks.crashed = true;
    crashed = hooks.crashed;
    pthread_mutex_unlock(&hooks.mu);
    return crashed;
}

static inline ssize_t hook_pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    int full;
    if (hook_crash_step()) {
        /* A torn write: half of the first buffer reaches the file. */
        if (n > 0 && iov[0].iov_len > 1)
            (void)pwrite(fd, iov[0].iov_base, iov[0].iov_len / 2, off);
        errno = EIO;
        return -1;
    }
    pthread_mutex_lock(&hooks.mu);
    full = hooks.enospc;
    pthread_mutex_unlock(&hooks.mu);
    if (full) {
        /* Like a real full disk: part of the data may land first. */
        if (n > 0 && iov[0].iov_len > 3)
            (void)pwrite(fd, iov[0].iov_base, 3, off);
        errno = ENOSPC;
        return -1;
    }
    return pwritev(fd, iov, n, off);
}

static inline int hook_fdatasync(int fd)
{
    if (hook_crash_step()) {
        errno = EIO;
        return -1;
    }
    pthread_mutex_lock(&hooks.mu);
    hooks.fdatasyncs++;
    pthread_mutex_unlock(&hooks.mu);
    return fdatasync(fd);
}

static inline int hook_fsync(int fd)
{
    if (hook_crash_step()) {
        errno = EIO;
        return -1;
    }
    return fsync(fd);
}

static inline int hook_ftruncate(int fd, off_t len)
{
    if (hook_crash_step()) {
        errno = EIO;
        return -1;
    }
    return ftruncate(fd, len);
}

static inline int hook_free_space(int dirfd, uint64_t *out)
{
    uint64_t f;
    (void)dirfd;
    pthread_mutex_lock(&hooks.mu);
    f = hooks.free_now;
    pthread_mutex_unlock(&hooks.mu);
    *out = f ? f : UINT64_C(1) << 40;
    return 0;
}

static const struct persist_io hook_io = {
    .pwritev = hook_pwritev,
    .fdatasync = hook_fdatasync,
    .fsync = hook_fsync,
    .ftruncate = hook_ftruncate,
    .free_space = hook_free_space,
};

static inline int hook_syncs(void)
{
    int n;
    pthread_mutex_lock(&hooks.mu);
    n = hooks.fdatasyncs;
    pthread_mutex_unlock(&hooks.mu);
    return n;
}

static inline void hook_set_enospc(int on)
{
    pthread_mutex_lock(&hooks.mu);
    hooks.enospc = on;
    pthread_mutex_unlock(&hooks.mu);
}

static inline void hook_set_free(uint64_t bytes)
{
    pthread_mutex_lock(&hooks.mu);
    hooks.free_now = bytes;
    pthread_mutex_unlock(&hooks.mu);
}

static inline void hook_crash_after(long ops)
{
    pthread_mutex_lock(&hooks.mu);
    hooks.crash_after = ops;
    hooks.crashed = false;
    pthread_mutex_unlock(&hooks.mu);
}

static inline bool hook_crashed(void)
{
    bool c;
    pthread_mutex_lock(&hooks.mu);
    c = hooks.crashed;
    pthread_mutex_unlock(&hooks.mu);
    return c;
}

/* ---- store helpers ---- */

/* Opens and recovers dir with the hooks, recording into r (reset first). */
static inline struct store *open_rec(const char *dir, const struct store_options *opt,
                                     struct rec *r)
{
    struct store_err err;
    struct store *s;

    rec_reset(r);
    s = store__open_io(dir, opt, &hook_io, &err);
    if (!s)
        fail_msg("store_open: %s", err.text);
    if (store_recover(s, &rec_ops, r, &err) != 0)
        fail_msg("store_recover: %s", err.text);
    assert_int_equal(r->made, r->released);
    return s;
}

static inline uint64_t put_msg(struct store *s, const char *body)
{
    struct store_msg_data d = {VIEW_LIT("ex"), VIEW_LIT("rk"), VIEW_LIT("\x10\x00\x02"),
                               view_str(body)};
    return store_append_msg(s, &d, NULL);
}

/* Publishes body to qid with sequence seq (message + entry). */
static inline uint64_t publish(struct store *s, uint32_t qid, uint64_t seq, const char *body)
{
    uint64_t id = put_msg(s, body);
    assert_int_equal(store_append_enq(s, qid, seq, id), 0);
    return id;
}

static inline uint32_t qopen(struct store *s, const char *name)
{
    return store_queue_open(s, VIEW_LIT("/"), view_str(name));
}

#endif
