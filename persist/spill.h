/* SPDX-License-Identifier: MIT */
/*
 * spill: the spill area, where message bytes paged out of memory wait.
 *
 * An append-only store of opaque records under data_dir/spill/, in segment
 * files NNNNNNNN.spill (8 hex digits). Its content is transient: nothing
 * survives the process (spill_open empties the directory, spill_close removes
 * every segment), so nothing is ever synced and there is no recovery. A
 * record is `len u32 | crc32c u32 | payload` (big-endian), written with
 * pwritev straight from the caller's memory; a read checks length and
 * checksum. Records are counted live until spill_release; a segment with no
 * live record is deleted (the segment being written is truncated and reused
 * instead), so the area holds what is paged out, plus at most the unused
 * part of the segments that still hold a live record.
 *
 * Who owns what: the spill owns its files and segment table; record bytes
 * are the caller's (borrowed for the duration of a call). Everything runs on
 * the caller's thread with blocking system calls (page cache writes and
 * reads); nothing here calls back.
 */
#ifndef PERSIST_SPILL_H
#define PERSIST_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/util.h"
#include "persist/store.h"

struct spill;

struct spill_options {
    /** Segment file size in bytes; 0 = 64 MiB; at least 4096. A record larger
     * than a segment gets a segment of its own. */
    uint64_t segment_size;
};

/** Bytes a record takes in its segment beyond its payload. */
#define SPILL_REC_HDR 8u
/** Largest payload of one record. */
#define SPILL_MAX_RECORD ((uint64_t)UINT32_MAX - SPILL_REC_HDR)

/**
 * Opens the spill area dir/spill/ (creating it, mode 0700) and removes every
 * segment file left in it by an earlier process. dir and opt are borrowed
 * (opt may be NULL). Returns NULL with err filled when the directory cannot
 * be created, read or emptied. The result is owned by the caller.
 */
struct spill *spill_open(const char *dir, const struct spill_options *opt, struct store_err *err);
/** Closes and removes every segment. Accepts NULL. */
void spill_close(struct spill *sp);

/**
 * Appends n records (recs[i] is the whole payload of record i, at most
 * SPILL_MAX_RECORD bytes) in order, and sets locs[i] to each one's locator
 * (never 0). Either all n are written and live (0), or none is (-1 with err:
 * the write failed, e.g. ENOSPC; the bytes already written are dead space).
 */
int spill_append(struct spill *sp, const struct view *recs, size_t n, uint64_t *locs,
                 struct store_err *err);

/**
 * Reads n records back: record locs[i], whose payload is lens[i] bytes, into
 * dsts[i] (lens[i] bytes of room). Neighbouring records of one segment are
 * read with one preadv. ok[i] tells whether record i was read with the right
 * length and checksum. Returns how many failed (0: all read); the first
 * failure's text is in err. Reading does not release.
 */
size_t spill_read(struct spill *sp, size_t n, const uint64_t *locs, uint8_t *const *dsts,
                  const size_t *lens, bool *ok, struct store_err *err);

/**
 * Record loc (payload len bytes) is no longer needed. Its segment is deleted
 * once it holds no live record (the segment being written is truncated and
 * reused instead). An unknown locator is a caller bug (asserted; ignored
 * under NDEBUG).
 */
void spill_release(struct spill *sp, uint64_t loc, size_t len);

struct spill_stats {
    uint64_t segments;     /* segment files */
    uint64_t disk_bytes;   /* their total size */
    uint64_t live_records; /* appended and not released */
    uint64_t live_bytes;   /* their bytes, headers included */
    uint64_t appended;     /* records appended so far */
    uint64_t read;         /* records read so far */
    uint64_t read_calls;   /* preadv calls for them */
    uint64_t deleted;      /* segments deleted so far */
};
void spill_get_stats(const struct spill *sp, struct spill_stats *out);

#endif
