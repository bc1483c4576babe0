/* SPDX-License-Identifier: MIT */
/*
 * Field tables (0-9-1 §4.2.5.5) with RabbitMQ's type letters. The grammar is
 * not in the spec XML, so it is written by hand here.
 *
 * Every read of untrusted bytes compares a length with the bytes that REMAIN
 * (`len > rest.n`), never `offset + len > size`, which a 32-bit length near
 * 0xFFFFFFFF could wrap. table_check() walks nested tables with an explicit
 * stack bounded by TABLE_MAX_DEPTH instead of recursing, so a hostile frame
 * cannot exhaust the C stack, and it never allocates.
 */
#include "amqp/table.h"

#include <assert.h>
#include <string.h>

/* ---- decoding ---- */

/* Splits a 32-bit length-prefixed payload off the front of *rest. */
static int take_long(struct view *rest, struct view *out)
{
    uint32_t len;

    if (rest->n < 4)
        return -1;
    len = get_be32(rest->p);
    if (len > rest->n - 4)
        return -1;
    *out = (struct view){rest->p + 4, len};
    rest->p += 4 + (size_t)len;
    rest->n -= 4 + (size_t)len;
    return 0;
}

/*
 * Decodes one value (tag + payload) from the front of *rest and advances it.
 * Returns -1 for an unknown tag or a payload running past the end. Nested
 * tables and arrays come back as views of their contents, not yet checked.
 */
static int take_value(struct view *rest, struct table_value *val)
{
    static const uint8_t fixed[256] = {
        ['t'] = 1, ['b'] = 1, ['B'] = 1, ['s'] = 2, ['u'] = 2, ['I'] = 4, ['i'] = 4,
        ['l'] = 8, ['L'] = 8, ['f'] = 4, ['d'] = 8, ['D'] = 5, ['T'] = 8,
    };
    const uint8_t *p;
    uint8_t tag;
    uint32_t bits32;
    uint64_t bits64;

    if (rest->n < 1)
        return -1;
    tag = rest->p[0];
    rest->p++;
    rest->n--;
    p = rest->p;
    if (fixed[tag] > rest->n)
        return -1;

    val->type = (enum table_type)tag;
    switch (tag) {
    case 't':
        /* Any non-zero octet is true, as in RabbitMQ's parser. */
        val->v.b = p[0] != 0;
        break;
    case 'b':
        val->v.i = (int8_t)p[0];
        break;
    case 'B':
        val->v.u = p[0];
        break;
    case 's':
        val->v.i = (int16_t)get_be16(p);
        break;
    case 'u':
        val->v.u = get_be16(p);
        break;
    case 'I':
        val->v.i = (int32_t)get_be32(p);
        break;
    case 'i':
        val->v.u = get_be32(p);
        break;
    case 'L':
        /* Not in RabbitMQ's errata table, but its parser accepts 'L' and
         * decodes it exactly like 'l' (rabbit_binary_parser.erl, issue #1093);
         * so do we, which means a copy re-encodes it as 'l'. */
        val->type = TABLE_I64;
        /* fall through */
    case 'l':
        val->v.i = (int64_t)get_be64(p);
        break;
    case 'f':
        bits32 = get_be32(p);
        memcpy(&val->v.f, &bits32, sizeof(val->v.f));
        break;
    case 'd':
        bits64 = get_be64(p);
        memcpy(&val->v.d, &bits64, sizeof(val->v.d));
        break;
    case 'D':
        val->v.dec.scale = p[0];
        val->v.dec.value = (int32_t)get_be32(p + 1);
        break;
    case 'T':
        val->v.u = get_be64(p);
        break;
    case 'V':
        break;
    case 'S':
    case 'x':
        return take_long(rest, &val->v.str);
    case 'F':
        return take_long(rest, &val->v.table);
    case 'A':
        return take_long(rest, &val->v.array);
    default:
        return -1;
    }
    rest->p += fixed[tag];
    rest->n -= fixed[tag];
    return 0;
}

/*
 * A key is a shortstr of 0..255 bytes with no further rule: RabbitMQ's
 * parse_table matches <<NLen:8, Name:NLen/binary, ...>> and nothing else, so
 * it accepts the empty key and keys longer than the spec's 128, and does not
 * check their characters. We accept the same so that any table a RabbitMQ
 * client can send is accepted here too.
 */
static int take_key(struct view *rest, struct view *key)
{
    size_t len;

    if (rest->n < 1)
        return -1;
    len = rest->p[0];
    if (len > rest->n - 1)
        return -1;
    *key = (struct view){rest->p + 1, len};
    rest->p += 1 + len;
    rest->n -= 1 + len;
    return 0;
}

/* Walks contents t (a table, or an array when is_array) and everything nested in it. */
static int check(struct view t, bool is_array)
{
    struct {
        struct view rest;
        bool is_array;
    } stack[TABLE_MAX_DEPTH];
    size_t top = 0;

    stack[0].rest = t;
    stack[0].is_array = is_array;
    for (;;) {
        struct view key;
        struct table_value v;

        if (stack[top].rest.n == 0) {
            if (top == 0)
                return 0;
            top--;
            continue;
        }
        if (!stack[top].is_array && take_key(&stack[top].rest, &key) < 0)
            return -1;
        if (take_value(&stack[top].rest, &v) < 0)
            return -1;
        if (v.type != TABLE_TABLE && v.type != TABLE_ARRAY)
            continue;
        /* The top level is depth 1, so stack[TABLE_MAX_DEPTH - 1] is the deepest. */
        if (top + 1 >= TABLE_MAX_DEPTH)
            return -1;
        top++;
        stack[top].is_array = v.type == TABLE_ARRAY;
        stack[top].rest = stack[top].is_array ? v.v.array : v.v.table;
    }
}

int table_check(struct view t)
{
    return check(t, false);
}

int table_check_array(struct view a)
{
    return check(a, true);
}

void table_iter_init(struct table_iter *it, struct view t)
{
    it->rest = t;
}

/* The iterators stop (rather than misread) if handed bytes that were never checked. */
bool table_next(struct table_iter *it, struct view *key, struct table_value *val)
{
    if (it->rest.n == 0)
        return false;
    if (take_key(&it->rest, key) < 0 || take_value(&it->rest, val) < 0) {
        it->rest.n = 0;
        return false;
    }
    return true;
}

bool table_array_next(struct table_iter *it, struct table_value *val)
{
    if (it->rest.n == 0)
        return false;
    if (take_value(&it->rest, val) < 0) {
        it->rest.n = 0;
        return false;
    }
    return true;
}

bool table_get(struct view t, const char *key, struct table_value *val)
{
    struct table_iter it;
    struct view k;
    struct view want = view_str(key);

    table_iter_init(&it, t);
    while (table_next(&it, &k, val))
        if (view_eq(k, want))
            return true;
    return false;
}

bool table_value_as_i64(const struct table_value *val, int64_t *out)
{
    switch (val->type) {
    case TABLE_I8:
    case TABLE_I16:
    case TABLE_I32:
    case TABLE_I64:
        *out = val->v.i;
        return true;
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
        /* At most 32 bits wide, so always representable. */
        *out = (int64_t)val->v.u;
        return true;
    default:
        /* Timestamps, booleans, floats and decimals are not integer arguments
         * (RabbitMQ's ?INTEGER_ARG_TYPES excludes them too). */
        return false;
    }
}

/* ---- writers ---- */

/* A NULL key means "inside an array": values there have no key. */
static void put_key_tag(struct buf *b, const char *key, enum table_type type)
{
    if (key)
        buf_put_shortstr(b, view_str(key));
    buf_put_u8(b, (uint8_t)type);
}

size_t table_open(struct buf *b)
{
    size_t off = b->len;

    buf_put_be32(b, 0);
    return off;
}

void table_close(struct buf *b, size_t off)
{
    size_t n;

    assert(off <= b->len && b->len - off >= 4);
    n = b->len - off - 4;
    assert(n <= UINT32_MAX);
    put_be32(b->p + off, (uint32_t)n);
}

size_t table_open_table(struct buf *b, const char *key)
{
    put_key_tag(b, key, TABLE_TABLE);
    return table_open(b);
}

size_t table_open_array(struct buf *b, const char *key)
{
    put_key_tag(b, key, TABLE_ARRAY);
    return table_open(b);
}

void table_put_bool(struct buf *b, const char *key, bool v)
{
    put_key_tag(b, key, TABLE_BOOL);
    buf_put_u8(b, v ? 1 : 0);
}

void table_put_i64(struct buf *b, const char *key, int64_t v)
{
    put_key_tag(b, key, TABLE_I64);
    buf_put_be64(b, (uint64_t)v);
}

void table_put_i32(struct buf *b, const char *key, int32_t v)
{
    put_key_tag(b, key, TABLE_I32);
    buf_put_be32(b, (uint32_t)v);
}

void table_put_timestamp(struct buf *b, const char *key, uint64_t v)
{
    put_key_tag(b, key, TABLE_TIMESTAMP);
    buf_put_be64(b, v);
}

void table_put_longstr(struct buf *b, const char *key, struct view v)
{
    put_key_tag(b, key, TABLE_LONGSTR);
    buf_put_longstr(b, v);
}

void table_put_raw(struct buf *b, const char *key, const struct table_value *v)
{
    uint32_t bits32;
    uint64_t bits64;

    put_key_tag(b, key, v->type);
    switch (v->type) {
    case TABLE_BOOL:
        buf_put_u8(b, v->v.b ? 1 : 0);
        break;
    case TABLE_I8:
        buf_put_u8(b, (uint8_t)v->v.i);
        break;
    case TABLE_U8:
        buf_put_u8(b, (uint8_t)v->v.u);
        break;
    case TABLE_I16:
        buf_put_be16(b, (uint16_t)v->v.i);
        break;
    case TABLE_U16:
        buf_put_be16(b, (uint16_t)v->v.u);
        break;
    case TABLE_I32:
        buf_put_be32(b, (uint32_t)v->v.i);
        break;
    case TABLE_U32:
        buf_put_be32(b, (uint32_t)v->v.u);
        break;
    case TABLE_I64:
        buf_put_be64(b, (uint64_t)v->v.i);
        break;
    case TABLE_FLOAT:
        memcpy(&bits32, &v->v.f, sizeof(bits32));
        buf_put_be32(b, bits32);
        break;
    case TABLE_DOUBLE:
        memcpy(&bits64, &v->v.d, sizeof(bits64));
        buf_put_be64(b, bits64);
        break;
    case TABLE_DECIMAL:
        buf_put_u8(b, v->v.dec.scale);
        buf_put_be32(b, (uint32_t)v->v.dec.value);
        break;
    case TABLE_TIMESTAMP:
        buf_put_be64(b, v->v.u);
        break;
    case TABLE_VOID:
        break;
    case TABLE_LONGSTR:
    case TABLE_BYTES:
        buf_put_longstr(b, v->v.str);
        break;
    case TABLE_TABLE:
        buf_put_longstr(b, v->v.table);
        break;
    case TABLE_ARRAY:
        buf_put_longstr(b, v->v.array);
        break;
    default:
        assert(0 && "table_put_raw: not a table type");
    }
}

/* Type names as RabbitMQ prints them (rabbit_binary_parser:parse_table/1). */
const char *table_type_name(enum table_type t)
{
    switch (t) {
    case TABLE_BOOL:
        return "bool";
    case TABLE_I8:
        return "byte";
    case TABLE_U8:
        return "unsignedbyte";
    case TABLE_I16:
        return "short";
    case TABLE_U16:
        return "unsignedshort";
    case TABLE_I32:
        return "signedint";
    case TABLE_U32:
        return "unsignedint";
    case TABLE_I64:
        return "long";
    case TABLE_FLOAT:
        return "float";
    case TABLE_DOUBLE:
        return "double";
    case TABLE_DECIMAL:
        return "decimal";
    case TABLE_LONGSTR:
        return "longstr";
    case TABLE_ARRAY:
        return "array";
    case TABLE_TIMESTAMP:
        return "timestamp";
    case TABLE_TABLE:
        return "table";
    case TABLE_VOID:
        return "void";
    case TABLE_BYTES:
        return "binary";
    }
    return "unknown";
}
