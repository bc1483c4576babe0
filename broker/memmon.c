/* SPDX-License-Identifier: MIT */
#include "broker/memmon.h"

#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker/alarm.h"
#include "broker/config.h"
#include "broker/log.h"

/* Between two malloc_trim calls while above the watermark: trimming walks the
 * heap, too slow to do every sample when the heap is large. */
#define TRIM_INTERVAL_S 1.0
/* A cgroup limit at or above this means "no limit" (cgroup v1 reports a huge
 * number rather than "max"). */
#define CGROUP_NO_LIMIT (UINT64_C(1) << 60)

static struct {
    int statm_fd;
    uint64_t page;
    uint64_t total;
    double relative;
    uint64_t absolute;
    uint64_t limit;
    uint64_t used;
    double last_trim;
    double last_now; /* the time of the last sample */
    bool alarm;
} M = {.statm_fd = -1, .relative = 0.4};

/* ---- pure helpers ---- */

uint64_t memmon__limit_for(double relative, uint64_t absolute, uint64_t total)
{
    if (absolute)
        return absolute;
    if (!(relative > 0))
        return 0;
    if (relative >= 1)
        return total;
    return (uint64_t)((double)total * relative);
}

/* Reads an unsigned decimal at *p (skipping spaces); false when there is none. */
static bool read_u64(const char **p, const char *end, uint64_t *out)
{
    uint64_t v = 0;
    bool any = false;

    while (*p < end && **p == ' ')
        (*p)++;
    while (*p < end && **p >= '0' && **p <= '9') {
        unsigned d = (unsigned)(**p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        any = true;
        (*p)++;
    }
    *out = v;
    return any;
}

int memmon__parse_statm(const char *text, size_t len, uint64_t page_size, uint64_t *rss)
{
    const char *p = text, *end = text + len;
    uint64_t size, resident;

    if (!read_u64(&p, end, &size) || p == end || *p != ' ' || !read_u64(&p, end, &resident))
        return -1;
    if (page_size && resident > UINT64_MAX / page_size)
        return -1;
    *rss = resident * page_size;
    return 0;
}

uint64_t memmon__parse_cgroup_limit(const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    uint64_t v;

    if (!read_u64(&p, end, &v) || v >= CGROUP_NO_LIMIT)
        return 0;
    while (p < end && (*p == '\n' || *p == ' '))
        p++;
    return p == end ? v : 0;
}

/* ---- measuring ---- */

static ssize_t read_small(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    if (n >= 0)
        buf[n] = '\0';
    return n;
}

static uint64_t cgroup_limit(void)
{
    /* v2 first, then v1; the first readable one decides. */
    static const char *const files[] = {"/sys/fs/cgroup/memory.max",
                                        "/sys/fs/cgroup/memory/memory.limit_in_bytes"};

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char buf[64];
        int fd = open(files[i], O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
            continue;
        n = read_small(fd, buf, sizeof(buf));
        close(fd);
        if (n > 0)
            return memmon__parse_cgroup_limit(buf, (size_t)n);
    }
    return 0;
}

static uint64_t available_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    uint64_t total = pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : UINT64_C(1) << 31;
    uint64_t cg = cgroup_limit();

    return cg && cg < total ? cg : total;
}

static uint64_t read_rss(void)
{
    char buf[256];
    ssize_t n;
    uint64_t rss;

    if (M.statm_fd < 0)
        return 0;
    n = read_small(M.statm_fd, buf, sizeof(buf));
    if (n <= 0 || memmon__parse_statm(buf, (size_t)n, M.page, &rss) < 0)
        return M.used; /* keep the last value rather than invent one */
    return rss;
}

static double mib(uint64_t b)
{
    return (double)b / (1024.0 * 1024.0);
}

/* ---- the module ---- */

void memmon_init(const struct config *cfg)
{
    long ps = sysconf(_SC_PAGESIZE);

    memmon_close();
    M.page = ps > 0 ? (uint64_t)ps : 4096;
    M.total = available_memory();
    M.relative = cfg->vm_memory_high_watermark;
    M.absolute = cfg->vm_memory_high_watermark_absolute;
    M.limit = memmon__limit_for(M.relative, M.absolute, M.total);
    M.last_trim = -TRIM_INTERVAL_S;
    M.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (M.statm_fd < 0)
        log_warn("memory monitor: cannot open /proc/self/statm; the memory alarm is off");
    if (M.absolute)
        log_info("memory high watermark: %.1f MiB (absolute; %.1f MiB available)", mib(M.limit),
                 mib(M.total));
    else
        log_info("memory high watermark: %.1f MiB (%.2f of %.1f MiB available)", mib(M.limit),
                 M.relative, mib(M.total));
    if (M.absolute > M.total)
        log_warn("memory high watermark %.1f MiB is above the %.1f MiB available", mib(M.limit),
                 mib(M.total));
    memmon_sample(0);
}

void memmon_close(void)
{
    if (M.statm_fd >= 0)
        close(M.statm_fd);
    M.statm_fd = -1;
}

void memmon_sample(double now)
{
    bool over;

    if (M.statm_fd < 0)
        return;
    M.last_now = now;
    M.used = read_rss();
    if (M.used > M.limit && now - M.last_trim >= TRIM_INTERVAL_S) {
        M.last_trim = now;
        malloc_trim(0);
        M.used = read_rss();
    }
    over = M.used > M.limit;
    if (over == M.alarm)
        return;
    M.alarm = over;
    if (over)
        log_warn("memory resource limit alarm set: %.1f MiB used, watermark %.1f MiB; "
                 "publishers will be blocked until this alarm clears",
                 mib(M.used), mib(M.limit));
    else
        log_info("memory resource limit alarm cleared: %.1f MiB used, watermark %.1f MiB",
                 mib(M.used), mib(M.limit));
    alarm_set(ALARM_MEMORY, over);
}

int memmon_set_watermark(double relative, uint64_t absolute)
{
    if (!absolute && !(relative >= 0 && relative <= 1))
        return -1;
    M.relative = absolute ? M.relative : relative;
    M.absolute = absolute;
    M.limit = memmon__limit_for(M.relative, M.absolute, M.total);
    log_info("memory high watermark set to %.1f MiB", mib(M.limit));
    /* A new watermark is worth a fresh trim. */
    M.last_trim = M.last_now - TRIM_INTERVAL_S;
    memmon_sample(M.last_now);
    return 0;
}

uint64_t memmon_used(void)
{
    return M.used;
}

uint64_t memmon_limit(void)
{
    return M.limit;
}

uint64_t memmon_total(void)
{
    return M.total;
}

uint64_t memmon_absolute(void)
{
    return M.absolute;
}

double memmon_relative(void)
{
    return M.relative;
}
