/* SPDX-License-Identifier: MIT */
/*
 * store: the persistent message store (an append-only, segmented journal).
 *
 * What it guarantees: a record whose ticket is durable (store_durable() >=
 * ticket) survives a crash of the process or of the machine (fdatasync'ed, in
 * STORE_SYNC_DATA mode). Recovery replays the segments, detects a torn or
 * corrupt tail by checksum, truncates it and never trusts it, and rebuilds
 * every durable queue's messages in sequence order, delivered-but-unacked ones
 * flagged redelivered. A message routed to several durable queues is written
 * once (one MSG record, one ENQ record per queue).
 *
 * Who owns what: the broker owns queues and messages and assigns per-queue
 * sequence numbers; the store assigns message ids (store ids, never reused)
 * and queue ids (qids, mapped to vhost + name by QUEUE records). Every
 * function here runs on the loop thread, except the notify callback, which
 * the store's one sync thread calls. The store never schedules itself: the
 * broker appends records during a loop iteration (cheap buffer appends, no
 * system calls), calls store_submit() once per iteration (the prepare hook),
 * and calls store_completed() when its notify callback has fired (ev_async).
 * The sync thread touches only the store's own files and queue.
 *
 * Space: segments whose records are all settled are deleted, and sparse old
 * segments are compacted (their live records copied forward to the head), so
 * a steady publish/consume load keeps the disk bounded. When a write fails
 * with ENOSPC, or free space drops below the configured limit, store_status()
 * says so (the broker blocks publishers); nothing already durable is lost and
 * the failed batch is retried until space returns.
 *
 * No function in this header calls back into the caller unless its comment
 * says so. Nothing here includes <ev.h> or touches a socket.
 */
#ifndef PERSIST_STORE_H
#define PERSIST_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/util.h"

struct store;

/** An error: errno-style code (0 when none) and a human-readable text. */
struct store_err {
    int errnum;
    char text[256];
};

enum store_sync_mode {
    /** Default: tickets become durable after write + fdatasync (group commit). */
    STORE_SYNC_DATA = 0,
    /** Relaxed (RabbitMQ classic-queue style): tickets become durable once
     * written to the kernel (survives a broker crash, not a power loss);
     * fdatasync only before segment deletions and at close. */
    STORE_SYNC_WRITE = 1,
};

/** Status bits (store_status). */
enum {
    /** Free space on the store's file system is below disk_free_limit. */
    STORE_ST_DISK_LOW = 1u << 0,
    /** A write failed with ENOSPC/EDQUOT; the batch is retried. */
    STORE_ST_DISK_FULL = 1u << 1,
    /** A write or sync failed for another reason; the batch is retried. */
    STORE_ST_IO_ERROR = 1u << 2,
};

/**
 * Called by the sync thread (not the loop thread) after a group of batches is
 * durable, and whenever the status bits change. `durable` is the highest
 * durable ticket at that time. Must only wake the loop (ev_async_send) and
 * must not call any store_* function.
 */
typedef void store_notify_fn(void *arg, uint64_t durable);
/** Releases a pin passed to store_append_msg. Called on the loop thread. */
typedef void store_release_fn(void *pin);

struct store_options {
    /** Segment file size limit in bytes; 0 = 64 MiB. At least 4096. A record
     * larger than this gets a segment of its own. */
    uint64_t segment_size;
    enum store_sync_mode sync_mode;
    /** Free bytes below which STORE_ST_DISK_LOW is set; 0 = no check. */
    uint64_t disk_free_limit;
    store_notify_fn *notify; /* may be NULL (tests that poll) */
    void *notify_arg;
    store_release_fn *release; /* required when pins are passed */
    /** An old segment whose live bytes are under this percentage of its size
     * is compacted; 0 = 50. */
    unsigned compact_percent;
    /** Bytes of live records copied forward per store_submit; 0 = 4 MiB. */
    uint64_t compact_budget;
};

/**
 * Opens (creating it if missing) the store under dir/msgs/ and locks it
 * (a second opener fails with EWOULDBLOCK). Checks every segment header:
 * a segment written by a newer format version makes this fail with a clear
 * error and nothing on disk is changed. Does not replay anything yet.
 * dir and opt are borrowed (opt may be NULL for defaults). Returns NULL with
 * err filled on failure; the result is owned by the caller (store_close).
 */
struct store *store_open(const char *dir, const struct store_options *opt, struct store_err *err);

/** One recovered message. Views point into the store's mapping and are valid
 * only during the callback. */
struct store_recovered_msg {
    uint64_t id;
    struct view exchange, routing_key, props, body;
};

/** Callbacks of store_recover, all on the calling thread, all optional. */
struct store_recover_ops {
    /** A durable queue known to the store, once each, in qid order, before any
     * entry. max_seq is the highest sequence number any record of the
     * queue carries: new sequence numbers must be above it. */
    void (*queue)(void *ctx, uint32_t qid, struct view vhost, struct view name, uint64_t max_seq);
    /** A message needed by at least one entry; called right before its first
     * entry. Returns the caller's handle for it (may be NULL). */
    void *(*message)(void *ctx, const struct store_recovered_msg *m);
    /** One live queue entry; per queue in sequence order, queues in qid order. */
    void (*entry)(void *ctx, uint32_t qid, uint64_t seq, void *handle, bool redelivered);
    /** After the last entry of a message's handle. */
    void (*release)(void *ctx, void *handle);
    /** A recoverable problem (torn tail truncated, segment set aside, entry
     * without message dropped); text is valid during the call. */
    void (*warn)(void *ctx, const char *text);
};

/**
 * Replays the segments in order and rebuilds the index, then calls ops (see
 * store_recover_ops) and starts the sync thread. A torn or corrupt record
 * (truncated, bad CRC, unknown type, malformed payload) ends the replay: its
 * segment is truncated there (fsync'ed), later segments are renamed to
 * NNNNNNNN.seg.discarded (never replayed), and ops->warn says what was
 * dropped. Acked messages and deleted queues are not reported. Must be
 * called exactly once, before any append. Returns 0, or -1 with err on an
 * I/O failure (the store must then be closed).
 */
int store_recover(struct store *s, const struct store_recover_ops *ops, void *ctx,
                  struct store_err *err);

/** Whether the previous run ended with store_close (a clean shutdown). Only
 * meaningful from store_recover's first callback on. After an unclean one, a delivery whose
 * marker had not reached the disk comes back without the redelivered flag. */
bool store_was_clean(const struct store *s);

/**
 * Flushes everything appended (store_submit + wait), writes a clean-shutdown
 * marker, stops the sync thread and frees the store. Blocks. Every pin still
 * held is released. Returns 0, or -1 when some records could not be written
 * (disk full or I/O error at that time). Accepts NULL.
 */
int store_close(struct store *s);

/* ---- queues ---- */

/**
 * The qid of the durable queue vhost/name, appending a QUEUE record when the
 * store does not know it yet. vhost and name are borrowed shortstrs (at most
 * 255 bytes each; longer is a caller bug and aborts). Never fails.
 */
uint32_t store_queue_open(struct store *s, struct view vhost, struct view name);
/** The qid of vhost/name, or 0 when the store does not know the queue. */
uint32_t store_queue_find(const struct store *s, struct view vhost, struct view name);
/**
 * The queue is deleted: appends a QDEL record and settles all its entries.
 * Returns 0, or -1 when qid is unknown (nothing appended).
 */
int store_queue_delete(struct store *s, uint32_t qid);

/* ---- messages and entries (all cheap appends: no system call) ---- */

/** A message's bytes, all borrowed. */
struct store_msg_data {
    struct view exchange;    /* shortstr: at most 255 bytes */
    struct view routing_key; /* shortstr: at most 255 bytes */
    struct view props;       /* raw content-header property flags + list */
    struct view body;        /* at most STORE_MAX_BODY bytes */
};
#define STORE_MAX_BODY ((uint64_t)1 << 31)

/**
 * Appends a MSG record and returns its new store id (never 0). Append one
 * ENQ per durable queue next (store_append_enq), in the same loop iteration:
 * a message without an entry at store_submit is dead (never recovered).
 * pin: NULL, or a reference the caller hands over (e.g. msg_ref(m)) so the
 * store can write a large body from the caller's memory instead of copying it;
 * the store then calls opt->release(pin) exactly once on the loop thread,
 * from this call (small bodies are copied) or from store_completed/
 * store_close once the body is written. Limits above are asserted.
 */
uint64_t store_append_msg(struct store *s, const struct store_msg_data *m, void *pin);
/**
 * Appends an ENQ record: message id is in queue qid with sequence number seq
 * (>= 1, unique per queue). Returns 0, or -1 (nothing appended) when qid or id
 * is unknown (an id is forgotten once all its entries are settled; append the
 * message again then) or qid/seq already exists.
 */
int store_append_enq(struct store *s, uint32_t qid, uint64_t seq, uint64_t id);
/**
 * Marks entry qid/seq delivered (recovery then flags it redelivered).
 * Appends a DLV record the first time only; consecutive sequence numbers
 * share one record. Returns 0, or -1 when the entry is unknown.
 */
int store_append_delivered(struct store *s, uint32_t qid, uint64_t seq);
/**
 * Settles entry qid/seq (acked, rejected, dead-lettered, expired, purged):
 * appends an ACK record (consecutive sequence numbers share one record).
 * Returns 0, or -1 when the entry is unknown (nothing appended).
 */
int store_append_ack(struct store *s, uint32_t qid, uint64_t seq);

/* ---- group commit ---- */

/**
 * The ticket of everything appended so far in this iteration: it is durable
 * once store_durable() >= ticket. Taking a ticket makes the next
 * store_submit hand over the batch even when it holds no record.
 */
uint64_t store_ticket(struct store *s);
/**
 * Hands the current batch to the sync thread (once per loop iteration, from
 * the prepare hook). Also runs space reclamation: decides segment deletions
 * and copies up to compact_budget bytes of live records forward. Never
 * blocks on I/O (may read nothing; copies are read by the sync thread).
 */
void store_submit(struct store *s);
/**
 * Collects what the sync thread finished: releases pins, applies moves and
 * refreshes the status. Call it on the loop thread after the notify callback
 * fired (and whenever convenient). May call opt->release. Returns
 * store_durable().
 */
uint64_t store_completed(struct store *s);
/** The highest durable ticket as of the last store_completed. */
uint64_t store_durable(const struct store *s);
/**
 * Blocks until everything appended so far is durable (submits first), or the
 * sync thread reports a failure. For shutdown and tools, never the hot path.
 * Calls store_completed. Returns 0, or -1 on failure.
 */
int store_flush(struct store *s);
/** Changes the sync mode; takes effect from the next group the thread writes. */
void store_set_sync_mode(struct store *s, enum store_sync_mode mode);

/* ---- status and space ---- */

/** STORE_ST_* bits as of the last store_completed. */
unsigned store_status(const struct store *s);
/** Free bytes on the store's file system as last measured by the sync
 * thread (UINT64_MAX before the first measurement). */
uint64_t store_disk_free(const struct store *s);
/** Sets the free-space limit under which STORE_ST_DISK_LOW is reported. */
void store_set_disk_free_limit(struct store *s, uint64_t bytes);
/** The text of the last failure the sync thread saw ("" when none). */
const char *store_last_error(const struct store *s);

struct store_stats {
    uint64_t messages;   /* live messages (with at least one live entry) */
    uint64_t entries;    /* live queue entries */
    uint64_t queues;     /* known durable queues */
    uint64_t segments;   /* segment files (including the head) */
    uint64_t disk_bytes; /* their total size, including pending appends */
    uint64_t live_bytes; /* bytes of records still needed */
    uint64_t syncs;      /* fdatasync calls of the sync thread */
    uint64_t groups;     /* groups of batches written */
    uint64_t segments_deleted;
    uint64_t compactions; /* segments compacted */
};
void store_get_stats(const struct store *s, struct store_stats *out);

/* ---- bodies (for a broker that drops bodies from memory) ---- */

/**
 * Reads the body of message id into buf (cap bytes) and sets *len to the body
 * size. The record's checksum is verified. Returns 0; -1 with err: ENOENT
 * (unknown id), ERANGE (cap too small; *len says how much is needed), EAGAIN
 * (not written yet: a body must stay in memory until its ticket is durable),
 * EIO (unreadable or corrupt). Blocking pread on the loop thread (page cache
 * in the common case).
 */
int store_read_body(struct store *s, uint64_t id, uint8_t *buf, size_t cap, size_t *len,
                    struct store_err *err);

/**
 * Whether queue entry qid/seq is live with message id and that message's
 * record is written (store_read_msg can read it). While the entry stays
 * live, the record stays readable (compaction moves keep it readable). For a
 * broker that drops message bytes from memory and reads them back later.
 */
bool store_entry_readable(const struct store *s, uint32_t qid, uint64_t seq, uint64_t id);

/** Where store_read_msg puts a message's four parts; the sizes must be exact. */
struct store_msg_dst {
    uint8_t *exchange, *routing_key, *props, *body;
    size_t exchange_n, routing_key_n, props_n, body_n;
};
/**
 * Reads the whole MSG record of id into d's buffers with one preadv and
 * checks its checksum and every length. Returns 0; -1 with err: ENOENT
 * (unknown id), EAGAIN (not written yet), EIO (unreadable, corrupt, or not
 * the sizes given). Blocking, on the loop thread (page cache in the common
 * case).
 */
int store_read_msg(struct store *s, uint64_t id, const struct store_msg_dst *d,
                   struct store_err *err);

#endif
