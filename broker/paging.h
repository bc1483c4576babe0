/* SPDX-License-Identifier: MIT */
/*
 * paging: bounded memory for queued messages (issue 5 item 6).
 *
 * limits.memory_budget is the number of body bytes that ready messages may
 * keep in memory over all queues (queue_total_resident_bytes); 0, the
 * default, means half the memory high watermark (RabbitMQ's
 * vm_memory_high_watermark_paging_ratio), so paging starts well before the
 * memory alarm blocks publishers. Past it, the
 * newest messages of the queues with the most bytes in memory are paged out
 * down to three quarters of the budget: each becomes a stub (broker/msg.h,
 * 56 bytes) in its queue and its bytes go to disk,
 *  - persistent messages in durable queues whose journal record is written:
 *    nowhere new, the stub names the journal record (persist/store.h);
 *  - everything else: the spill area data_dir/spill/ (persist/spill.h),
 *    emptied at every start since its content is transient.
 * Queues read stubs back (in batches at a queue's head) before anything
 * takes the bytes. Publishers are not paused by the budget as long as paging
 * keeps memory under it; flow control (conn.c) only steps in when it cannot
 * (requeued messages are not paged out, a spill write failed).
 *
 * Recovery leaves the bytes of recovered messages in the journal once the
 * recovered ones in memory reach three quarters of the budget, so a backlog
 * larger than memory also survives a restart.
 *
 * Module state (one per process); everything runs on the loop thread.
 */
#ifndef BROKER_PAGING_H
#define BROKER_PAGING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/**
 * Sets the module up: the budget is limits.memory_budget, or when that is 0
 * half the memory high watermark (broker/memmon.h, initialised first; it may
 * change at run time). No I/O; call it before recovery
 * (paging_recover_as_stub). cfg is borrowed and must outlive the module.
 */
void paging_init(const struct config *cfg);
/**
 * Opens the spill area under data_dir (emptying it) and registers the pager
 * with the queue module and the stub hook with msg. Call it once the message
 * store holds data_dir's lock (durable_open), so a second broker on the same
 * data_dir never empties a running one's spill area. Returns 0, or -1 with a
 * one-line reason in err (the spill directory cannot be made or emptied).
 */
int paging_open(char *err, size_t errlen);
/** Unregisters and removes the spill area. Call after the last queue is gone. */
void paging_close(void);

/** The budget in bytes, now. */
uint64_t paging_budget(void);

/** Once per loop iteration (prepare hook): pages out when over the budget. */
void paging_run(void);

/**
 * For flow control: true when the bytes in memory are over the budget even
 * after paging out what can be (tried at most once per loop iteration while
 * that fails to get under it).
 */
bool paging_memory_high(void);
/** For flow control: paused publishers may resume (under 3/4 of the budget,
 * after paging out what can be). */
bool paging_memory_ok(void);

/** Whether recovery should leave a message of body_size bytes on disk. */
bool paging_recover_as_stub(uint64_t body_size);

struct paging_stats {
    uint64_t budget;
    uint64_t resident_bytes;            /* queue_total_resident_bytes */
    uint64_t spill_disk_bytes;          /* size of the spill segments */
    uint64_t spill_live_records;        /* messages whose bytes are in the spill area */
    uint64_t paged_out, paged_in, lost; /* queue_paging_totals */
};
void paging_get_stats(struct paging_stats *out);

#endif
