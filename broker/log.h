/* SPDX-License-Identifier: MIT */
/*
 * log: leveled logging, one line per event, to stderr or to the file named by
 * the log_file setting.
 *
 * Each line is written with a single write(2) (O_APPEND for a file), so lines
 * never interleave; a line is cut at LOG_LINE_MAX bytes. log_reopen() (on
 * SIGHUP) opens the file again by name, logrotate style: after the file is
 * renamed, new lines go to a new file at the old path. Only the loop thread
 * logs. Log once, where an error is handled, with the connection id (STYLE.md
 * §6); never log credentials (log_escape() client-supplied names).
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/util.h"

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR };

/** The longest line written, newline included; longer ones end in "...". */
#define LOG_LINE_MAX 4096
/** Room for one escaped reply text (255 bytes, each up to 4 escaped) and the NUL. */
#define LOG_TEXT_MAX 1024

/**
 * Sends the log to the file at path (borrowed; created with mode 0640,
 * appended to) instead of stderr. Returns 0, or -1 with strerror text in err
 * (errlen bytes); the log then stays where it was.
 */
int log_open(const char *path, char *err, size_t errlen);
/**
 * Opens the log file again by its path (SIGHUP). Returns 0, 1 when logging
 * to stderr (nothing to reopen), or -1 after logging why to the old file,
 * which stays in use.
 */
int log_reopen(void);
/** Closes the log file, if any; later lines go to stderr. */
void log_close(void);

void log_set_level(enum log_level level);
/** Parses "debug", "info", "warning", "error"; returns -1 when unknown. */
int log_level_parse(const char *name, enum log_level *out);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/**
 * Writes s (any bytes, borrowed; a user name from a client, say) into out
 * (size bytes, always NUL-terminated) as text safe for one log line: bytes
 * outside printable ASCII, and the backslash, become \xNN, so a name cannot
 * forge lines; what does not fit ends in "...". Returns out.
 */
const char *log_escape(struct view s, char *out, size_t size);

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
