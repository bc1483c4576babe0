/* SPDX-License-Identifier: MIT */
#include "broker/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_INFO;
static int log_fd = STDERR_FILENO; /* the file's, once log_open() succeeded */
static char *log_path;             /* NULL: stderr */

static const char *const level_names[] = {"debug", "info", "warning", "error"};

void log_set_level(enum log_level level)
{
    min_level = level;
}

int log_level_parse(const char *name, enum log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    return -1;
}

bool log_enabled(enum log_level level)
{
    return level >= min_level;
}

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

int log_open(const char *path, char *err, size_t errlen)
{
    int fd = open_file(path);

    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    log_close();
    log_fd = fd;
    log_path = xstrdup(path);
    return 0;
}

int log_reopen(void)
{
    int fd;

    if (!log_path)
        return 1;
    fd = open_file(log_path);
    if (fd < 0) {
        log_error("cannot reopen log file %s: %s; still writing to the old one", log_path,
                  strerror(errno));
        return -1;
    }
    close(log_fd);
    log_fd = fd;
    return 0;
}

void log_close(void)
{
    if (!log_path)
        return;
    close(log_fd);
    log_fd = STDERR_FILENO;
    free(log_path);
    log_path = NULL;
}

static void write_all(const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(log_fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to report it */
        p += w;
        n -= (size_t)w;
    }
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[LOG_LINE_MAX];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t n;
    int k;

    if (!log_enabled(level))
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
    k = snprintf(line + n, sizeof(line) - n, ".%03dZ [%s] ", (int)(ts.tv_nsec / 1000000),
                 level_names[level]);
    n += k > 0 ? (size_t)k : 0;
    va_start(ap, fmt);
    k = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (k < 0)
        k = 0;
    if ((size_t)k >= sizeof(line) - n) { /* cut: keep room for "...\n" */
        n = sizeof(line) - 5;
        memcpy(line + n, "...", 3);
        n += 3;
    } else {
        n += (size_t)k;
    }
    line[n++] = '\n';
    write_all(line, n);
}

static size_t escaped_len(uint8_t c)
{
    return (c < 0x20 || c > 0x7e || c == '\\') ? 4 : 1;
}

const char *log_escape(struct view s, char *out, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0, total = 0;
    bool cut;

    if (!size)
        return out;
    for (size_t i = 0; i < s.n; i++)
        total += escaped_len(s.p[i]);
    cut = total + 1 > size; /* then keep room for "..." */
    for (size_t i = 0; i < s.n; i++) {
        uint8_t c = s.p[i];
        size_t need = escaped_len(c);

        if (cut && o + need + 3 + 1 > size) {
            if (o + 4 <= size) {
                memcpy(out + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (need == 4) {
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}
