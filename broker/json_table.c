/* SPDX-License-Identifier: MIT */
/* json_table: AMQP field tables <-> JSON (see json_table.h). */
#include "broker/json_table.h"

#include <stdio.h>
#include <string.h>

#include "amqp/table.h"

/* A JSON string for arbitrary bytes: valid UTF-8 as is, invalid bytes as U+FFFD. */
json_t *json_table_string_new(struct view s)
{
    json_t *j = json_stringn((const char *)s.p, s.n);
    struct buf b = {0};

    if (j)
        return j;
    for (size_t i = 0; i < s.n;) {
        uint8_t c = s.p[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        json_t *probe = NULL;
        if (len && i + len <= s.n &&
            (len == 1 || (probe = json_stringn((const char *)s.p + i, len)))) {
            buf_append(&b, s.p + i, len);
            i += len;
        } else {
            buf_append(&b, "\xEF\xBF\xBD", 3);
            i++;
        }
        json_decref(probe);
    }
    j = json_stringn(b.len ? (const char *)b.p : "", b.len);
    buf_free(&b);
    return j ? j : json_string("");
}

static json_t *value_new(const struct table_value *v)
{
    switch (v->type) {
    case TABLE_BOOL:
        return json_boolean(v->v.b);
    case TABLE_I8:
    case TABLE_I16:
    case TABLE_I32:
    case TABLE_I64:
        return json_integer((json_int_t)v->v.i);
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
    case TABLE_TIMESTAMP:
        return json_integer((json_int_t)v->v.u);
    case TABLE_FLOAT:
        return json_real((double)v->v.f);
    case TABLE_DOUBLE:
        return json_real(v->v.d);
    case TABLE_DECIMAL: {
        double d = v->v.dec.value;
        for (unsigned i = 0; i < v->v.dec.scale; i++)
            d /= 10;
        return json_real(d);
    }
    case TABLE_LONGSTR:
    case TABLE_BYTES:
        return json_table_string_new(v->v.str);
    case TABLE_TABLE:
        return json_table_new(v->v.table);
    case TABLE_ARRAY:
        return json_table_array_new(v->v.array);
    case TABLE_VOID:
        break;
    }
    return json_null();
}

json_t *json_table_new(struct view t)
{
    json_t *o = json_object();
    struct table_iter it;
    struct table_value v;
    struct view k;

    table_iter_init(&it, t);
    while (table_next(&it, &k, &v)) {
        char key[256];
        memcpy(key, k.p, k.n);
        key[k.n] = '\0';
        /* A key with a NUL byte or invalid UTF-8 cannot be a JSON key: skip it. */
        if (strlen(key) != k.n || json_object_set_new(o, key, value_new(&v)) < 0)
            continue;
    }
    return o;
}

json_t *json_table_array_new(struct view a)
{
    json_t *arr = json_array();
    struct table_iter it;
    struct table_value v;

    table_iter_init(&it, a);
    while (table_array_next(&it, &v))
        json_array_append_new(arr, value_new(&v));
    return arr;
}

static int encode_value(struct buf *out, const char *key, const json_t *j, int depth, char *err,
                        size_t errlen);

static int encode_object(const json_t *obj, struct buf *out, int depth, char *err, size_t errlen)
{
    const char *key;
    json_t *val;

    if (depth > TABLE_MAX_DEPTH) {
        snprintf(err, errlen, "arguments nest too deeply");
        return -1;
    }
    json_object_foreach((json_t *)obj, key, val)
    {
        if (strlen(key) > 255) {
            snprintf(err, errlen, "argument name too long: %.40s...", key);
            return -1;
        }
        if (encode_value(out, key, val, depth, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int encode_value(struct buf *out, const char *key, const json_t *j, int depth, char *err,
                        size_t errlen)
{
    size_t off;

    switch (json_typeof(j)) {
    case JSON_STRING:
        table_put_longstr(
            out, key, (struct view){(const uint8_t *)json_string_value(j), json_string_length(j)});
        return 0;
    case JSON_INTEGER:
        table_put_i64(out, key, (int64_t)json_integer_value(j));
        return 0;
    case JSON_REAL: {
        struct table_value v = {.type = TABLE_DOUBLE, .v.d = json_real_value(j)};
        table_put_raw(out, key, &v);
        return 0;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        table_put_bool(out, key, json_is_true(j));
        return 0;
    case JSON_NULL: {
        struct table_value v = {.type = TABLE_VOID};
        table_put_raw(out, key, &v);
        return 0;
    }
    case JSON_OBJECT:
        if (depth + 1 > TABLE_MAX_DEPTH) {
            snprintf(err, errlen, "arguments nest too deeply");
            return -1;
        }
        off = table_open_table(out, key);
        if (encode_object(j, out, depth + 1, err, errlen) < 0)
            return -1;
        table_close(out, off);
        return 0;
    case JSON_ARRAY: {
        size_t i;
        json_t *e;
        if (depth + 1 > TABLE_MAX_DEPTH) {
            snprintf(err, errlen, "arguments nest too deeply");
            return -1;
        }
        off = table_open_array(out, key);
        json_array_foreach(j, i, e)
        {
            if (encode_value(out, NULL, e, depth + 1, err, errlen) < 0)
                return -1;
        }
        table_close(out, off);
        return 0;
    }
    }
    snprintf(err, errlen, "unsupported JSON value");
    return -1;
}

int json_table_encode(const json_t *obj, struct buf *out, char *err, size_t errlen)
{
    if (!obj)
        return 0;
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "arguments must be an object");
        return -1;
    }
    return encode_object(obj, out, 1, err, errlen);
}
