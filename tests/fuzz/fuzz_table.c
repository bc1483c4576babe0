/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for field tables (amqp/table.c).
 *
 * The input is the contents of a table (byte 0 even) or of an array (odd),
 * starting at byte 1. When table_check accepts it, every value is visited
 * recursively and the whole thing is re-encoded with the writers. The copy
 * must have the same length, pass table_check, decode to the same values,
 * and re-encode to itself: only 'L' (read as 'l') and a non-zero bool octet
 * other than 1 may change bytes, and neither changes a size or a value.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/table.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void copy_contents(struct buf *b, struct view t, bool is_array, int depth);

/* Appends key (a view that may hold NUL bytes) and v, re-encoding nested values. */
static void copy_entry(struct buf *b, const struct view *key, const struct table_value *v,
                       int depth)
{
    size_t off;
    char *ckey = NULL;

    assert(depth <= TABLE_MAX_DEPTH);
    if (key && !memchr(key->p, 0, key->n))
        ckey = xstrndup_view(*key); /* exercise the NUL-terminated key path */
    else if (key)
        buf_put_shortstr(b, *key);

    if (v->type == TABLE_TABLE || v->type == TABLE_ARRAY) {
        bool arr = v->type == TABLE_ARRAY;
        off = arr ? table_open_array(b, ckey) : table_open_table(b, ckey);
        copy_contents(b, arr ? v->v.array : v->v.table, arr, depth + 1);
        table_close(b, off);
    } else {
        int64_t i;
        bool is_int = table_value_as_i64(v, &i);

        assert(is_int == (v->type == TABLE_I8 || v->type == TABLE_U8 || v->type == TABLE_I16 ||
                          v->type == TABLE_U16 || v->type == TABLE_I32 || v->type == TABLE_U32 ||
                          v->type == TABLE_I64));
        table_put_raw(b, ckey, v);
    }
    free(ckey);
}

static void copy_contents(struct buf *b, struct view t, bool is_array, int depth)
{
    struct table_iter it;
    struct table_value v;
    struct view key;

    table_iter_init(&it, t);
    if (is_array) {
        while (table_array_next(&it, &v))
            copy_entry(b, NULL, &v, depth);
    } else {
        while (table_next(&it, &key, &v))
            copy_entry(b, &key, &v, depth);
    }
    assert(it.rest.n == 0);
}

static bool same_value(const struct table_value *a, const struct table_value *b, int depth);

/* Decodes both in step and compares every value, recursively. */
static bool same_contents(struct view x, struct view y, bool is_array, int depth)
{
    struct table_iter ix, iy;
    struct table_value a, b;
    struct view ka, kb;
    bool more;

    table_iter_init(&ix, x);
    table_iter_init(&iy, y);
    for (;;) {
        if (is_array) {
            more = table_array_next(&ix, &a);
            if (more != table_array_next(&iy, &b))
                return false;
        } else {
            more = table_next(&ix, &ka, &a);
            if (more != table_next(&iy, &kb, &b))
                return false;
            if (more && !view_eq(ka, kb))
                return false;
        }
        if (!more)
            return true;
        if (!same_value(&a, &b, depth))
            return false;
    }
}

static bool same_value(const struct table_value *a, const struct table_value *b, int depth)
{
    assert(depth <= TABLE_MAX_DEPTH);
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TABLE_BOOL:
        return a->v.b == b->v.b;
    case TABLE_I8:
    case TABLE_I16:
    case TABLE_I32:
    case TABLE_I64:
        return a->v.i == b->v.i;
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
    case TABLE_TIMESTAMP:
        return a->v.u == b->v.u;
    case TABLE_FLOAT:
        return memcmp(&a->v.f, &b->v.f, sizeof(a->v.f)) == 0;
    case TABLE_DOUBLE:
        return memcmp(&a->v.d, &b->v.d, sizeof(a->v.d)) == 0;
    case TABLE_DECIMAL:
        return a->v.dec.scale == b->v.dec.scale && a->v.dec.value == b->v.dec.value;
    case TABLE_LONGSTR:
    case TABLE_BYTES:
        return view_eq(a->v.str, b->v.str);
    case TABLE_VOID:
        return true;
    case TABLE_TABLE:
        return same_contents(a->v.table, b->v.table, false, depth + 1);
    case TABLE_ARRAY:
        return same_contents(a->v.array, b->v.array, true, depth + 1);
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf once = {0}, twice = {0};
    struct view t, copy;
    bool is_array;
    uint8_t *exact;

    if (size < 1)
        return 0;
    is_array = data[0] & 1;
    /* An exact-size copy, so a read past the end is caught. */
    exact = malloc(size - 1 ? size - 1 : 1);
    assert(exact);
    memcpy(exact, data + 1, size - 1);
    t = (struct view){exact, size - 1};

    if ((is_array ? table_check_array(t) : table_check(t)) != 0)
        goto out;

    copy_contents(&once, t, is_array, 1);
    assert(once.len == t.n);
    copy = (struct view){once.p, once.len};
    assert((is_array ? table_check_array(copy) : table_check(copy)) == 0);
    assert(same_contents(t, copy, is_array, 1));

    /* Canonical form is a fixed point. */
    copy_contents(&twice, copy, is_array, 1);
    assert(twice.len == once.len);
    assert(once.len == 0 || memcmp(twice.p, once.p, once.len) == 0);

    /* table_get finds each of the first keys, with the first entry's value. */
    if (!is_array) {
        struct table_iter it;
        struct view key;
        struct table_value v, got, first;
        int n = 0;

        table_iter_init(&it, t);
        while (n++ < 16 && table_next(&it, &key, &v)) {
            char *ckey;
            struct table_iter it2;
            struct view k2;

            if (memchr(key.p, 0, key.n))
                continue;
            ckey = xstrndup_view(key);
            assert(table_get(t, ckey, &got));
            table_iter_init(&it2, t);
            while (table_next(&it2, &k2, &first) && !view_eq(k2, key))
                ;
            assert(same_value(&got, &first, 1));
            free(ckey);
        }
    }

out:
    buf_free(&once);
    buf_free(&twice);
    free(exact);
    return 0;
}
