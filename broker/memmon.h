/* SPDX-License-Identifier: MIT */
/*
 * memmon: the memory high watermark (RabbitMQ's vm_memory_high_watermark).
 *
 * What is measured is the process's resident set size, read from
 * /proc/self/statm: what the kernel (and its OOM killer) charges the broker
 * for, whatever holds it (message bodies, output buffers, allocator
 * fragmentation), and what RabbitMQ measures by default
 * (vm_memory_calculation_strategy = rss). glibc keeps freed heap memory
 * mapped, so before the alarm is raised, and about once a second while it
 * is, malloc_trim(0) hands free pages back and RSS is read again: otherwise
 * an alarm could outlive the messages that raised it.
 *
 * The limit is limits.vm_memory_high_watermark_absolute bytes when set, else
 * limits.vm_memory_high_watermark (default 0.4) times the memory available:
 * physical RAM, or the cgroup's memory limit when that is lower. Above the
 * limit (used > limit, as RabbitMQ) the memory alarm is raised (broker/alarm.h:
 * publishers are blocked); at or below it, it clears. The loop samples every
 * MEMMON_INTERVAL_S seconds (not per message).
 *
 * Module state (one loop per process). Nothing here includes <ev.h>; the
 * caller passes the time.
 */
#ifndef BROKER_MEMMON_H
#define BROKER_MEMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;

/** How often the loop calls memmon_sample(). */
#define MEMMON_INTERVAL_S 0.25

/**
 * Reads the watermark from cfg (borrowed, read once), finds the memory
 * available, opens /proc/self/statm and takes a first sample (which may raise
 * the alarm). Logs the limit. Calling it again re-initialises.
 */
void memmon_init(const struct config *cfg);
/** Closes /proc/self/statm. Safe without memmon_init. */
void memmon_close(void);

/** Measures, and raises or clears the memory alarm. now: monotonic seconds. */
void memmon_sample(double now);

/** Resident bytes at the last sample. */
uint64_t memmon_used(void);
/** The watermark in bytes. */
uint64_t memmon_limit(void);
/** The memory the relative watermark is a fraction of, in bytes. */
uint64_t memmon_total(void);
/** The configured watermark: absolute bytes (0 when relative) and the fraction. */
uint64_t memmon_absolute(void);
double memmon_relative(void);

/**
 * Replaces the watermark at run time (like rabbitmqctl
 * set_vm_memory_high_watermark; not saved): absolute bytes when absolute > 0,
 * else relative (0..1) of memmon_total(). Samples at once, so the alarm
 * follows immediately. Returns -1 when relative is outside 0..1 (nothing
 * changes).
 */
int memmon_set_watermark(double relative, uint64_t absolute);

/* ---- pure helpers, exposed for unit tests ---- */

/** The limit for a watermark: absolute if non-zero, else relative * total (rounded down). */
uint64_t memmon__limit_for(double relative, uint64_t absolute, uint64_t total);
/**
 * Parses the text of /proc/PID/statm (len bytes, borrowed; "size resident
 * ..." in pages) into resident bytes. Returns 0, or -1 when malformed.
 */
int memmon__parse_statm(const char *text, size_t len, uint64_t page_size, uint64_t *rss);
/**
 * Parses a cgroup memory limit file's text ("max\n" or a byte count); returns
 * the limit, or 0 for "max", an absurdly large value or malformed text.
 */
uint64_t memmon__parse_cgroup_limit(const char *text, size_t len);

#endif
