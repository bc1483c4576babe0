/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the input is one mode byte, then the bytes of segment files.
 * The bytes are split before every later occurrence of the segment magic
 * into segments 1, 2, ... (at most 8) of a store in a temp dir, recovered
 * (every view handed to the callbacks is read, so ASan sees any overrun),
 * then the store runs one submit (space reclamation on whatever state
 * recovery built) and is dropped without a clean close. Syncs are no-ops
 * here: only the logic is under test.
 *
 * Mode bit 0 set: checksums are fixed up first (the header, with the
 * segment number, and every record whose length fits), so mutations reach
 * the payload decoders and the replay logic instead of stopping at the first
 * checksum. Bit 0 clear: the bytes are used as they are (torn and corrupt
 * input).
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persist/persist_int.h"
#include "persist/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char msgs[96];
static volatile uint32_t sink;

static int no_sync(int fd)
{
    (void)fd;
    return 0;
}

static void touch(struct view v)
{
    for (size_t i = 0; i < v.n; i++)
        sink += v.p[i];
}

static void on_queue(void *ctx, uint32_t qid, struct view vhost, struct view name, uint64_t max_seq)
{
    (void)ctx;
    touch(vhost);
    touch(name);
    sink += qid + (uint32_t)max_seq;
}

static void *on_message(void *ctx, const struct store_recovered_msg *m)
{
    (void)ctx;
    touch(m->exchange);
    touch(m->routing_key);
    touch(m->props);
    touch(m->body);
    return (void *)(uintptr_t)(m->id | 1);
}

static void on_entry(void *ctx, uint32_t qid, uint64_t seq, void *handle, bool redelivered)
{
    (void)ctx;
    sink += qid + (uint32_t)seq + (redelivered ? 1u : 0u) + (uint32_t)(uintptr_t)handle;
}

static void on_warn(void *ctx, const char *text)
{
    (void)ctx;
    sink += (uint32_t)strlen(text);
}

static void clean_dir(void)
{
    DIR *d = opendir(msgs);
    struct dirent *e;
    char p[400];

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strcmp(e->d_name, "LOCK") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", msgs, e->d_name);
        unlink(p);
    }
    closedir(d);
}

/* Sets the header's segment number and checksum, and recomputes the
 * checksum of every whole record. */
static void fix_checksums(uint8_t *p, size_t n, unsigned no)
{
    size_t pos = PERSIST_HDR_SIZE;

    if (n < PERSIST_HDR_SIZE)
        return;
    put_be64(p + 16, no);
    put_be32(p + 28, persist__crc32c(0, p, 28));
    while (n - pos >= PERSIST_REC_HDR) {
        uint32_t len = get_be32(p + pos);
        if (len > n - pos - PERSIST_REC_HDR)
            break;
        persist__seal_record(p + pos, PERSIST_REC_HDR + len);
        pos += PERSIST_REC_HDR + len;
    }
}

static void write_seg(unsigned no, uint8_t *p, size_t n, bool fix)
{
    char seg[128];
    int fd;

    if (fix)
        fix_checksums(p, n, no);
    snprintf(seg, sizeof(seg), "%s/%08x.seg", msgs, no);
    fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
        abort();
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct persist_io io = {.fdatasync = no_sync, .fsync = no_sync};
    static const struct store_recover_ops ops = {
        .queue = on_queue, .message = on_message, .entry = on_entry, .warn = on_warn};
    struct store_err err;
    struct store *s;
    uint8_t *copy;
    size_t start, i;
    unsigned no = 1;
    bool fix;

    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/leveret-fuzz-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        snprintf(msgs, sizeof(msgs), "%s/msgs", dir);
        mkdir(msgs, 0700);
    }
    clean_dir();
    if (size == 0)
        return 0;
    fix = data[0] & 1;
    copy = malloc(size);
    memcpy(copy, data + 1, size - 1);
    size--;
    for (start = 0, i = PERSIST_MAGIC_LEN; i + PERSIST_MAGIC_LEN <= size && no < 8; i++) {
        if (memcmp(copy + i, PERSIST_MAGIC, PERSIST_MAGIC_LEN) == 0) {
            write_seg(no++, copy + start, i - start, fix);
            start = i;
        }
    }
    write_seg(no, copy + start, size - start, fix);
    free(copy);
    s = store__open_io(dir, NULL, &io, &err);
    if (!s)
        return 0; /* refused (a future version): nothing to recover */
    if (store_recover(s, &ops, NULL, &err) == 0)
        store_submit(s);
    store__abandon(s);
    return 0;
}
