/* SPDX-License-Identifier: MIT */
/*
 * table: AMQP field tables and arrays with RabbitMQ's type letters.
 *
 * Tables stay as the raw bytes they arrived in (a struct view of the table's
 * contents, i.e. after its 4-byte length prefix). table_check() validates one
 * once, without allocating; lookups and iteration then decode lazily and
 * return values whose strings and nested tables are views into the same bytes.
 * Type letters follow RabbitMQ/Qpid, not the 0-9-1 spec text (REFERENCE.md §2.1):
 * 's' is a signed 16-bit int, 'l' a signed 64-bit int, 'x' a byte array.
 * Writers append to a struct buf; they are for values we build ourselves.
 */
#ifndef AMQP_TABLE_H
#define AMQP_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/buf.h"
#include "broker/util.h"

/** Maximum nesting of tables/arrays inside a table (the top level is depth 1). */
#define TABLE_MAX_DEPTH 64

enum table_type {
    TABLE_BOOL = 't',
    TABLE_I8 = 'b',
    TABLE_U8 = 'B',
    TABLE_I16 = 's',
    TABLE_U16 = 'u',
    TABLE_I32 = 'I',
    TABLE_U32 = 'i',
    TABLE_I64 = 'l',
    TABLE_FLOAT = 'f',
    TABLE_DOUBLE = 'd',
    TABLE_DECIMAL = 'D',
    TABLE_LONGSTR = 'S',
    TABLE_ARRAY = 'A',
    TABLE_TIMESTAMP = 'T',
    TABLE_TABLE = 'F',
    TABLE_VOID = 'V',
    TABLE_BYTES = 'x',
};

/** A decoded value. Views point into the table's bytes (borrowed). */
struct table_value {
    enum table_type type;
    union {
        bool b;
        int64_t i;  /* b s I l (signed) */
        uint64_t u; /* B u i T (unsigned) */
        float f;
        double d;
        struct {
            uint8_t scale;
            int32_t value;
        } dec;
        struct view str;   /* S and x */
        struct view table; /* F: contents after the length prefix */
        struct view array; /* A: contents after the length prefix */
    } v;
};

/**
 * Validates table contents t (borrowed): every key a shortstr, every tag
 * known, every length within the remaining bytes, nesting at most
 * TABLE_MAX_DEPTH. Returns 0 when valid, -1 otherwise (callers answer 502
 * SYNTAX_ERROR). Never allocates, never calls back, and does not recurse.
 *
 * Keys follow RabbitMQ, not the spec's 128-character rule: any shortstr of
 * 0..255 bytes is accepted, including the empty key, with no check of its
 * characters. Besides the letters of enum table_type, 'L' is accepted and
 * decoded as TABLE_I64, as RabbitMQ does; a copy re-encodes it as 'l'.
 */
int table_check(struct view t);
/** As table_check for array contents (values without keys). */
int table_check_array(struct view a);

/** Iterator over a checked table or array; holds views only. Values are valid
 * as long as the table's bytes are. Given unchecked bytes, iteration stops at
 * the first malformed entry instead of reading past the end. */
struct table_iter {
    struct view rest;
};

void table_iter_init(struct table_iter *it, struct view t);
/** Next key/value of a checked table; false at the end. */
bool table_next(struct table_iter *it, struct view *key, struct table_value *val);
/** Next value of a checked array; false at the end. */
bool table_array_next(struct table_iter *it, struct table_value *val);
/** Finds key in a checked table (first match). */
bool table_get(struct view t, const char *key, struct table_value *val);
/** RabbitMQ's name of a type ("longstr", "signedint", ...), for error texts. */
const char *table_type_name(enum table_type t);
/** Integer value of any integer type (b B s u I i l), for arguments like
 * x-priority; false otherwise, including for timestamps, bools and floats. */
bool table_value_as_i64(const struct table_value *val, int64_t *out);

/* ---- writers: start a table or array, append entries, then close it ----
 * table_open() appends a 4-byte length placeholder and returns its offset;
 * table_close() fills it in. For a nested value, pass key (NULL inside an
 * array) to table_open_table / table_open_array, which append key and tag and
 * return the offset for table_close(). Every table_put_* takes key NULL to
 * append an array element. Keys are NUL-terminated, at most 255 bytes
 * (asserted). Appends grow b with xrealloc and cannot fail. */
size_t table_open(struct buf *b);
void table_close(struct buf *b, size_t off);
size_t table_open_table(struct buf *b, const char *key);
size_t table_open_array(struct buf *b, const char *key);
void table_put_bool(struct buf *b, const char *key, bool v);
void table_put_i64(struct buf *b, const char *key, int64_t v);
void table_put_i32(struct buf *b, const char *key, int32_t v);
void table_put_timestamp(struct buf *b, const char *key, uint64_t v);
void table_put_longstr(struct buf *b, const char *key, struct view v);
/** Re-encodes a decoded value (tag + payload) under key, e.g. to copy an entry
 * from another table. Nested tables and arrays are copied as their raw bytes.
 * A key read from the wire is a view and may contain NUL: append it with
 * buf_put_shortstr() and pass key NULL, which writes the tag and payload only. */
void table_put_raw(struct buf *b, const char *key, const struct table_value *v);

#endif
