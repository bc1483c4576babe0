/* SPDX-License-Identifier: MIT */
/*
 * log: leveled logging to stderr, one line per event.
 *
 * Log once, where an error is handled, with the connection id (STYLE.md §6).
 */
#ifndef BROKER_LOG_H
#define BROKER_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERROR };

void log_set_level(enum log_level level);
/** Parses "debug", "info", "warning", "error"; returns -1 when unknown. */
int log_level_parse(const char *name, enum log_level *out);
bool log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
