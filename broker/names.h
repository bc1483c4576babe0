/* SPDX-License-Identifier: MIT */
/* names: server-generated names ("amq.gen-…" queues, "amq.ctag-…" consumer tags). */
#ifndef BROKER_NAMES_H
#define BROKER_NAMES_H

#include <stddef.h>

/**
 * Writes prefix followed by 22 URL-safe base64 characters of fresh randomness
 * (128 bits, as RabbitMQ's names) into out (size bytes, NUL-terminated).
 */
void names_generate(const char *prefix, char *out, size_t size);

#endif
