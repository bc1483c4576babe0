/* SPDX-License-Identifier: MIT */
/*
 * json_table: AMQP field tables <-> JSON, the way RabbitMQ's management API
 * and definitions files show them (rabbit_mgmt_format:amqp_table and
 * to_amqp_table): integers are JSON integers, strings strings, tables
 * objects, arrays arrays; JSON integers become signed 64-bit ('l'), strings
 * longstrs, reals doubles, null void.
 */
#ifndef BROKER_JSON_TABLE_H
#define BROKER_JSON_TABLE_H

#include <jansson.h>

#include "broker/buf.h"
#include "broker/util.h"

/**
 * A new JSON object for checked table contents t (borrowed). Strings that are
 * not UTF-8 have their invalid bytes replaced with U+FFFD. Never NULL.
 */
json_t *json_table_new(struct view t);
/** A JSON string for any bytes: valid UTF-8 as is, invalid bytes as U+FFFD. Never NULL. */
json_t *json_table_string_new(struct view s);
/** As json_table_new for checked array contents. Never NULL. */
json_t *json_table_array_new(struct view a);

/**
 * Appends the table contents (without the length prefix) for a JSON object
 * (borrowed; NULL gives an empty table) to out. Returns 0, or -1 with a reason
 * in err when obj is not an object or a key is longer than 255 bytes, or it
 * nests deeper than the table limit.
 */
int json_table_encode(const json_t *obj, struct buf *out, char *err, size_t errlen);

#endif
