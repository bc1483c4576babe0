/* SPDX-License-Identifier: MIT */
/*
 * Benchmark (not a test): how long the message store takes to recover a
 * backlog. Writes --count persistent messages of --size bytes into one
 * durable queue (group commit: one submit per --batch messages, as a busy
 * loop iteration would), marks every tenth delivered, closes the store, then
 * times store_open + store_recover with callbacks that copy each message the
 * way the broker will (one allocation per message, one per entry).
 *
 *   make bench-recover BENCH_ARGS="--count 1000000 --size 1024"
 *   options: --dir D (default: a new dir under /var/tmp), --keep, --cold (drop
 *   the page cache before recovering: needs root), --batch N (default 1000)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "persist/store.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, res = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &res) != 2)
            res = 0;
        fclose(f);
    }
    return res * (sysconf(_SC_PAGESIZE) / 1024);
}

struct held {
    size_t n;
    uint8_t bytes[];
};

struct bench {
    uint64_t msgs, entries, redelivered, body_bytes;
    struct held **keep;
    size_t nkeep, capkeep;
};

static void *on_message(void *ctx, const struct store_recovered_msg *m)
{
    struct bench *b = ctx;
    size_t n = m->exchange.n + m->routing_key.n + m->props.n + m->body.n;
    struct held *h = malloc(sizeof(*h) + n);
    uint8_t *p = h->bytes;

    /* What msg_create does: one allocation holding names, props and body. */
    h->n = n;
    memcpy(p, m->exchange.p, m->exchange.n);
    p += m->exchange.n;
    memcpy(p, m->routing_key.p, m->routing_key.n);
    p += m->routing_key.n;
    memcpy(p, m->props.p, m->props.n);
    p += m->props.n;
    memcpy(p, m->body.p, m->body.n);
    b->msgs++;
    b->body_bytes += m->body.n;
    if (b->nkeep == b->capkeep) {
        b->capkeep = b->capkeep ? b->capkeep * 2 : 1024;
        b->keep = realloc(b->keep, b->capkeep * sizeof(*b->keep));
    }
    b->keep[b->nkeep++] = h;
    return h;
}

static void on_entry(void *ctx, uint32_t qid, uint64_t seq, void *handle, bool redelivered)
{
    struct bench *b = ctx;
    (void)qid;
    (void)seq;
    (void)handle;
    b->entries++;
    b->redelivered += redelivered;
}

static void on_warn(void *ctx, const char *text)
{
    (void)ctx;
    fprintf(stderr, "warn: %s\n", text);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    uint64_t count = 1000000, size = 1024, batch = 1000;
    const char *dir = NULL;
    char tmp[] = "/var/tmp/leveret-bench-XXXXXX";
    bool keep = false, cold = false;
    struct store_err err;
    struct store *s;
    uint8_t *body;
    double t0, t1, t2;
    long rss0, rss1;
    struct bench b = {0};
    struct store_recover_ops ops = {.message = on_message, .entry = on_entry, .warn = on_warn};

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--count") && i + 1 < argc)
            count = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--size") && i + 1 < argc)
            size = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            dir = argv[++i];
        else if (!strcmp(argv[i], "--keep"))
            keep = true;
        else if (!strcmp(argv[i], "--cold"))
            cold = true;
        else {
            fprintf(stderr,
                    "usage: %s [--count N] [--size B] [--batch N] [--dir D] [--keep] "
                    "[--cold]\n",
                    argv[0]);
            return 2;
        }
    }
    if (!dir) {
        if (!mkdtemp(tmp)) {
            perror(tmp);
            return 1;
        }
        dir = tmp;
    }
    body = malloc(size ? size : 1);
    for (uint64_t i = 0; i < size; i++)
        body[i] = (uint8_t)(i * 31 + 1);

    s = store_open(dir, NULL, &err);
    if (!s || store_recover(s, NULL, NULL, &err) != 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    uint32_t q = store_queue_open(s, (struct view){(const uint8_t *)"/", 1},
                                  (struct view){(const uint8_t *)"backlog", 7});
    t0 = now_s();
    for (uint64_t i = 1; i <= count; i++) {
        struct store_msg_data d = {{(const uint8_t *)"amq.direct", 10},
                                   {(const uint8_t *)"backlog", 7},
                                   {(const uint8_t *)"\x10\x00\x02", 3},
                                   {body, size}};
        uint64_t id = store_append_msg(s, &d, NULL);
        store_append_enq(s, q, i, id);
        if (i % 10 == 0)
            store_append_delivered(s, q, i);
        if (i % batch == 0) {
            store_submit(s);
            store_completed(s);
        }
    }
    if (store_close(s) != 0) {
        fprintf(stderr, "close failed\n");
        return 1;
    }
    t1 = now_s();
    printf("wrote %llu x %llu B in %.2f s (%.0f msg/s, group commit every %llu)\n",
           (unsigned long long)count, (unsigned long long)size, t1 - t0, (double)count / (t1 - t0),
           (unsigned long long)batch);

    if (cold) {
        int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
        sync();
        if (fd < 0 || write(fd, "3\n", 2) != 2)
            fprintf(stderr, "warn: cannot drop the page cache (need root); result is warm\n");
        if (fd >= 0)
            close(fd);
    }
    rss0 = rss_kib();
    t0 = now_s();
    s = store_open(dir, NULL, &err);
    if (!s || store_recover(s, &ops, &b, &err) != 0) {
        fprintf(stderr, "%s\n", err.text);
        return 1;
    }
    t2 = now_s();
    rss1 = rss_kib();
    {
        struct store_stats st;
        store_get_stats(s, &st);
        printf("recovered %llu messages (%llu entries, %llu redelivered, %.0f MiB of bodies) "
               "from %llu segments (%.0f MiB) in %.3f s%s\n",
               (unsigned long long)b.msgs, (unsigned long long)b.entries,
               (unsigned long long)b.redelivered, (double)b.body_bytes / 1048576.0,
               (unsigned long long)st.segments, (double)st.disk_bytes / 1048576.0, t2 - t0,
               cold ? " (page cache dropped)" : " (page cache warm)");
        printf("resident memory grew by %ld MiB (store index + the copied messages); "
               "%.0f bytes per message beyond its body\n",
               (rss1 - rss0) / 1024,
               ((double)(rss1 - rss0) * 1024.0 - (double)b.body_bytes) /
                   (double)(b.msgs ? b.msgs : 1));
    }
    store_close(s);
    for (size_t i = 0; i < b.nkeep; i++)
        free(b.keep[i]);
    free(b.keep);
    free(body);
    if (!keep)
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return b.entries == count ? 0 : 1;
}
