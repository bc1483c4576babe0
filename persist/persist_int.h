/* SPDX-License-Identifier: MIT */
/*
 * persist internals: on-disk format, in-memory index, batches, sync thread.
 *
 * ---- on-disk format (version 1) ----
 * data_dir/msgs/NNNNNNNN.seg (8 lower-case hex digits, the segment number),
 * written append-only. Every integer is big-endian, serialized field by field.
 *
 * Segment header, 32 bytes:
 *   magic "LVRTSEG\0" (8) | version u32 (1) | header size u32 (32) |
 *   segment number u64 | reserved u32 (0) | crc32c of the 28 bytes before u32
 *
 * Record: len u32 | type u8 | crc u32 | payload (len bytes)
 *   crc = crc32c over the 5 bytes len|type followed by the payload.
 *   MSG   1: id u64 | flags u8 (0) | exchange (u8 len + bytes) |
 *            routing key (u8 len + bytes) | props (u32 len + bytes) | body (rest)
 *   ENQ   2: qid u32 | seq u64 | id u64 | flags u8 (bit 0: delivered)
 *   DLV   3: qid u32 | seq u64 | count u32   (seq .. seq+count-1 delivered)
 *   ACK   4: qid u32 | seq u64 | count u32   (seq .. seq+count-1 settled)
 *   QUEUE 5: qid u32 | vhost (u8 len + bytes) | name (u8 len + bytes)
 *   QDEL  6: qid u32
 *   PAD   7: any bytes, ignored (stands in for a record that could not be copied)
 *   CLEAN 8: empty; as the very last record, marks a clean shutdown
 *
 * ---- space reclamation invariant ----
 * A tombstone (ACK, QDEL) is needed as long as a segment holding a copy of an
 * ENQ/QUEUE record it cancels exists. Each segment keeps min_dep, the oldest
 * segment any of its tombstones reaches (through the entries' first_seg, the
 * oldest segment still holding a copy of their ENQ). A segment may be deleted
 * once none of its records is live and no existing segment lies in
 * [min_dep, itself). Deletions run on the sync thread, in order, after every
 * record appended before the decision is durable.
 */
#ifndef PERSIST_PERSIST_INT_H
#define PERSIST_PERSIST_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "broker/util.h"
#include "persist/store.h"

#define PERSIST_MAGIC "LVRTSEG"
#define PERSIST_MAGIC_LEN 8
#define PERSIST_VERSION 1u
#define PERSIST_HDR_SIZE 32u
#define PERSIST_REC_HDR 9u

enum persist_type {
    PERSIST_R_MSG = 1,
    PERSIST_R_ENQ = 2,
    PERSIST_R_DLV = 3,
    PERSIST_R_ACK = 4,
    PERSIST_R_QUEUE = 5,
    PERSIST_R_QDEL = 6,
    PERSIST_R_PAD = 7,
    PERSIST_R_CLEAN = 8,
};

#define PERSIST_ENQ_LEN 21u   /* payload bytes */
#define PERSIST_RANGE_LEN 16u /* DLV and ACK payload bytes */
#define PERSIST_ENQ_F_DELIVERED 1u

/* ---- crc32c.c ---- */
/** Extends crc (0 to start) over n bytes. Castagnoli polynomial, reflected,
 * with the usual pre/post inversion: persist__crc32c(0, "123456789", 9) ==
 * 0xE3069283. Uses SSE4.2 when the CPU has it. */
uint32_t persist__crc32c(uint32_t crc, const void *p, size_t n);
/** The same, table-driven only (tests compare the two). */
uint32_t persist__crc32c_sw(uint32_t crc, const void *p, size_t n);

/* ---- format.c: encoding and decoding, no I/O ---- */

enum persist_parse {
    PERSIST_OK = 0,
    PERSIST_END,       /* no bytes left */
    PERSIST_TRUNCATED, /* a record header or payload runs past the end */
    PERSIST_BAD_CRC,
    PERSIST_BAD_TYPE,
    PERSIST_BAD_PAYLOAD, /* checksum fine, but the payload does not parse */
};

struct persist_rec {
    uint8_t type;
    uint32_t len; /* payload length */
    const uint8_t *payload;
};

struct persist_msg_rec {
    uint64_t id;
    struct view exchange, routing_key, props, body;
};

struct persist_ref_rec { /* ENQ, DLV, ACK, QDEL */
    uint32_t qid;
    uint64_t seq;
    uint64_t id;    /* ENQ */
    uint32_t count; /* DLV, ACK */
    uint8_t flags;  /* ENQ */
};

struct persist_queue_rec {
    uint32_t qid;
    struct view vhost, name;
};

enum persist_hdr {
    PERSIST_HDR_OK = 0,
    PERSIST_HDR_SHORT,
    PERSIST_HDR_BAD,    /* wrong magic, size or checksum: a torn or foreign file */
    PERSIST_HDR_FUTURE, /* a newer format version: refuse, change nothing */
};

void persist__put_header(uint8_t out[PERSIST_HDR_SIZE], uint64_t segno);
/** Checks a header; *version and *segno are set when the magic matches. */
enum persist_hdr persist__check_header(const uint8_t *p, size_t n, uint32_t *version,
                                       uint64_t *segno);
/** Parses the record at p (n bytes available): type, length and checksum. */
enum persist_parse persist__next_record(const uint8_t *p, size_t n, struct persist_rec *out);
/** Fills the crc field of a complete record at rec (header + payload). */
void persist__seal_record(uint8_t *rec, size_t total);
int persist__decode_msg(const struct persist_rec *r, struct persist_msg_rec *out);
int persist__decode_ref(const struct persist_rec *r, struct persist_ref_rec *out);
int persist__decode_queue(const struct persist_rec *r, struct persist_queue_rec *out);
/** Bytes of a MSG payload before the body. */
size_t persist__msg_meta_len(const struct store_msg_data *m);
/** Writes the MSG payload before the body into out (persist__msg_meta_len bytes). */
void persist__put_msg_meta(uint8_t *out, uint64_t id, const struct store_msg_data *m);
const char *persist__parse_str(enum persist_parse p);

/* ---- index.c: hash tables (open addressing, linear probing) ---- */

/** A live message: where its MSG record is and how many live entries use it. */
struct smsg {
    uint64_t id; /* 0 = empty slot */
    uint32_t seg, off, len;
    uint32_t refs;
};

struct msgtab {
    struct smsg *slots;
    size_t cap, n; /* cap is 0 or a power of two */
};

/** A live queue entry. */
struct sent {
    uint64_t seq;
    uint64_t id;        /* message id; 0 = empty slot */
    uint32_t seg;       /* segment of its newest ENQ copy */
    uint32_t first_seg; /* oldest segment that may still hold an ENQ copy */
    uint32_t dlv_seg;   /* segment of its DLV marker, 0 when none is needed */
    uint32_t delivered;
};

struct enttab {
    struct sent *slots;
    size_t cap, n;
};

struct smsg *persist__msg_get(const struct msgtab *t, uint64_t id);
/** Inserts id (must be absent) zero-filled; the pointer lives until the next insert. */
struct smsg *persist__msg_add(struct msgtab *t, uint64_t id);
void persist__msg_del(struct msgtab *t, uint64_t id);
void persist__msg_free(struct msgtab *t);

struct sent *persist__ent_get(const struct enttab *t, uint64_t seq);
struct sent *persist__ent_add(struct enttab *t, uint64_t seq);
void persist__ent_del(struct enttab *t, uint64_t seq);
void persist__ent_free(struct enttab *t);

/** u64 -> u64 map, key 0 reserved. */
struct u64map {
    uint64_t *keys, *vals;
    size_t cap, n;
};
bool persist__u64_get(const struct u64map *m, uint64_t key, uint64_t *val);
void persist__u64_put(struct u64map *m, uint64_t key, uint64_t val);
void persist__u64_del(struct u64map *m, uint64_t key);
void persist__u64_free(struct u64map *m);

struct squeue {
    uint32_t qid;
    bool named; /* its QUEUE record was seen (recovery) */
    uint8_t vhost_len, name_len;
    char vhost[256], name[256];
    uint32_t seg, first_seg; /* of its QUEUE record copies */
    uint64_t max_seq;
    struct enttab ents;
};

/* ---- segments ---- */

struct seg {
    uint32_t no;
    uint32_t min_dep;    /* oldest segment this one's tombstones reach */
    uint64_t size;       /* bytes, including appends not yet written */
    uint64_t live_bytes; /* approximate, for compaction choices */
    uint64_t live_cnt;   /* live records; 0 = only garbage and tombstones */
    int rfd;             /* loop-thread read descriptor, -1 until needed */
};

/* ---- batches ---- */

enum piece_kind {
    PIECE_INLINE, /* buf[off, off+len) */
    PIECE_EXT,    /* caller memory ptr[0, len); crc patched at buf[off] */
    PIECE_COPY,   /* a whole record of len bytes at src_seg/src_off */
};

struct piece {
    uint8_t kind;
    uint32_t crc; /* EXT: the checksum so far */
    uint32_t src_seg;
    size_t off, len;
    const uint8_t *ptr;
    uint64_t src_off;
};

struct chunk {
    uint32_t seg;
    bool create;
    uint64_t file_off, len;
    size_t first_piece, npieces;
};

struct batch {
    uint64_t id;
    uint8_t *buf;
    size_t len, cap;
    struct piece *pieces;
    size_t npieces, cappieces;
    struct chunk *chunks;
    size_t nchunks, capchunks;
    void **pins;
    size_t npins, cappins;
    uint32_t *dels; /* segments to delete once everything before is durable */
    size_t ndels, capdels;
    int *closefds; /* loop read descriptors of deleted segments, closed on completion */
    size_t nclosefds, capclosefds;
    uint64_t *moved; /* ids whose MSG record this batch copies forward */
    size_t nmoved, capmoved;
    bool ticketed, need_sync;
    size_t last_rec; /* offset in buf of a coalescable DLV/ACK, SIZE_MAX if none */
    struct batch *next;
};

/* ---- test hooks: every system call of the sync thread goes through these ---- */
struct persist_io {
    ssize_t (*pwritev)(int fd, const struct iovec *iov, int iovcnt, off_t off);
    int (*fdatasync)(int fd);
    int (*fsync)(int fd); /* directories */
    int (*ftruncate)(int fd, off_t len);
    /** Free bytes of the file system holding dirfd; 0 or -1 (errno). */
    int (*free_space)(int dirfd, uint64_t *out);
};

/* ---- the store ---- */

struct compact_item {
    uint8_t kind; /* 0 msg, 1 entry, 2 queue */
    uint32_t qid;
    uint32_t off; /* msg: record offset in the source */
    uint64_t key; /* msg id or seq */
};

struct store {
    char *dir;
    int dirfd;  /* dir/msgs */
    int lockfd; /* dir/msgs/LOCK, flock'ed */
    struct store_options opt;
    struct persist_io io;

    /* loop-thread state */
    bool recovered, clean;
    uint64_t next_id;
    uint32_t next_qid;
    uint32_t next_segno;
    struct seg *segs; /* ascending by number; the head is the last when head_open */
    size_t nsegs, capsegs;
    bool head_open;
    struct msgtab msgs;
    struct u64map qbyid;  /* qid -> struct squeue * */
    struct map *qbyname;  /* vhost '\0' name -> struct squeue * */
    struct u64map moving; /* msg id -> old seg << 32 | off while a copy is in flight */
    uint64_t *newmsgs;    /* ids appended in the current batch */
    size_t nnew, capnew;
    struct batch *cur, *spare;
    uint64_t durable;
    uint32_t durable_seg; /* everything before (durable_seg, durable_end) is written */
    uint64_t durable_end;
    unsigned status;
    uint64_t disk_free;
    char last_error[256];
    bool gc_dirty;
    uint64_t live_entries;
    uint64_t segments_deleted, compactions;
    /* compaction in progress */
    uint32_t csrc[16]; /* segments being compacted (sources) */
    size_t ncsrc;
    struct compact_item *citems;
    size_t ncitems, capcitems, ccursor;
    bool compact_done;
    uint64_t compact_last_batch; /* the source stays until this batch is durable */

    /* shared with the sync thread, under mu */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* work arrived / stop */
    pthread_cond_t idle_cv; /* a group finished or failed */
    struct batch *q_head, *q_tail;
    struct batch *done_head, *done_tail;
    bool stop, abandon, busy;
    uint64_t t_durable;
    unsigned t_status;
    uint64_t t_disk_free;
    uint64_t t_disk_limit;
    enum store_sync_mode t_mode;
    char t_error[256];
    uint64_t t_syncs, t_groups;
    uint64_t fail_gen; /* bumped at every failed attempt */

    /* sync-thread only */
    struct tfd {
        uint32_t seg;
        int fd;
        bool dirty; /* written since its last fdatasync */
    } tfds[8];
    bool dir_dirty; /* a segment was created since the last directory fsync */
    uint8_t *scratch;
    size_t scratch_cap;
    struct iovec *iov;
    size_t iov_cap;
};

/* journal.c: the sync thread */
int persist__thread_start(struct store *s, struct store_err *err);
void *persist__thread_main(void *arg);
extern const struct persist_io persist__default_io;

/* store.c */
struct squeue *store__queue_get(const struct store *s, uint32_t qid);
struct squeue *store__queue_new(struct store *s, uint32_t qid);
void store__queue_name(struct store *s, struct squeue *q, struct view vhost, struct view name);
void store__queue_free(struct squeue *q);
struct seg *store__seg_get(const struct store *s, uint32_t no);
struct seg *store__seg_add(struct store *s, uint32_t no, uint64_t size);
void store__batch_free(struct batch *b);
void store__errf(struct store_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void store__seg_name(char out[32], uint32_t no);

/* ---- test and fuzz hooks (not for the broker) ---- */

/** store_open with replaced system calls (any NULL member keeps the default). */
struct store *store__open_io(const char *dir, const struct store_options *opt,
                             const struct persist_io *io, struct store_err *err);
/** Simulates a crash: stops the sync thread where it is (no flush, no clean
 * marker), releases pins and frees. Files are left as they are. */
void store__abandon(struct store *s);

#endif
