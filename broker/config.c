/* SPDX-License-Identifier: MIT */
#include "broker/config.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "broker/pem.h"
#include "broker/util.h"

#define CONFIG_FILE_MAX (16u << 20)
#define PATH_DEPTH_MAX 8
#define NAME_MAX_LEN 255
#define QUOTE_MAX 80

/* The built-in guest account, hashed like RabbitMQ (salt b14d42a6):
 *   python3 -c 'import hashlib,base64; s=bytes.fromhex("b14d42a6");
 *     print(base64.b64encode(s+hashlib.sha256(s+b"guest").digest()).decode())'
 * A constant, so that config_default() needs no random numbers. */
#define GUEST_HASH "sU1CpiC7wUYpZ4zZ1DzxIUVIg7q8RPiUY9Y/XyC9xDJZQrCG"

/* The schema stores enums through an int. */
_Static_assert(sizeof(enum config_log_level) == sizeof(int), "enum size");
_Static_assert(sizeof(enum auth_hash_alg) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_verify) == sizeof(int), "enum size");

struct loader {
    const char *text;
    size_t len;
    const char *name;
    char *err;
    size_t errlen;
    struct config *cfg;
    bool default_users; /* "users" was absent, so guest was added */
    struct config_path_step path[PATH_DEPTH_MAX];
    size_t depth;
};

/* ---- the schema ---- */

enum ftype {
    T_END,
    T_OBJECT, /* nested object whose members live in the record at offset `off` */
    T_ARRAY,  /* array of objects: an xcalloc'd array of item records plus a count */
    T_STRING, /* char *, length bounds in min..max */
    T_UINT,   /* unsigned integer member of `size` bytes, range min..max */
    T_NUMBER, /* integer or real into a double, range min..max */
    T_ENUM,   /* one of names[0..max) into an int-sized enum */
    T_TAGS,   /* array of strings, or one comma-separated string: char ** plus a count;
                 def_str (if any) is the one-element default list */
    T_CHECK,  /* a string that is validated but not stored (users[].password) */
    T_BOOL,   /* true or false into a bool */
};

#define F_REQUIRED 1u
#define F_ARRAY_ONLY 2u /* T_TAGS: an array of strings only, no comma-separated string */

/* Cross-checks of item i of an array, once its fields are loaded; for an
 * object that is present in the file, of the object (items is its record, i 0). */
typedef int item_check_fn(struct loader *ld, json_t *item, void *items, size_t i);
/* Fills in a list whose key is absent. */
typedef void list_default_fn(struct loader *ld);

struct field {
    const char *key;
    enum ftype type;
    unsigned flags;
    size_t off;               /* member offset in the record */
    size_t size;              /* T_UINT: member size; T_ARRAY: item size */
    size_t count_off;         /* T_ARRAY, T_TAGS: offset of the size_t count */
    long long min, max;       /* value range, or length range for strings */
    long long def;            /* default of T_UINT, T_ENUM (an index) */
    double def_num;           /* default of T_NUMBER */
    const char *def_str;      /* default of T_STRING; NULL leaves it NULL */
    const struct field *sub;  /* T_OBJECT, T_ARRAY: member table */
    const char *const *names; /* T_ENUM */
    item_check_fn *check;     /* T_ARRAY, T_OBJECT */
    list_default_fn *def_fn;  /* T_ARRAY */
};

#define MSIZE(rec, m) sizeof(((rec *)0)->m)
#define STRING(rec, m, lo, hi, d)                                                                  \
    {                                                                                              \
        .key = #m, .type = T_STRING, .off = offsetof(rec, m), .min = lo, .max = hi, .def_str = d   \
    }
#define REQ_STRING(rec, m, lo, hi)                                                                 \
    {                                                                                              \
        .key = #m, .type = T_STRING, .flags = F_REQUIRED, .off = offsetof(rec, m), .min = lo,      \
        .max = hi                                                                                  \
    }
#define UINT(rec, m, lo, hi, d)                                                                    \
    {                                                                                              \
        .key = #m, .type = T_UINT, .off = offsetof(rec, m), .size = MSIZE(rec, m), .min = lo,      \
        .max = hi, .def = d                                                                        \
    }
#define NUMBER(rec, m, lo, hi, d)                                                                  \
    {                                                                                              \
        .key = #m, .type = T_NUMBER, .off = offsetof(rec, m), .min = lo, .max = hi, .def_num = d   \
    }
#define ENUM(rec, m, nm, d)                                                                        \
    {                                                                                              \
        .key = #m, .type = T_ENUM, .off = offsetof(rec, m), .names = nm,                           \
        .max = (long long)ARRAY_LEN(nm), .def = d                                                  \
    }
#define TAGS(rec, m)                                                                               \
    {                                                                                              \
        .key = #m, .type = T_TAGS, .off = offsetof(rec, m), .count_off = offsetof(rec, n_##m),     \
        .min = 1, .max = NAME_MAX_LEN                                                              \
    }
#define NAME_LIST(rec, m, d)                                                                       \
    {                                                                                              \
        .key = #m, .type = T_TAGS, .flags = F_ARRAY_ONLY, .off = offsetof(rec, m),                 \
        .count_off = offsetof(rec, n_##m), .min = 1, .max = NAME_MAX_LEN, .def_str = d             \
    }
#define BOOL(rec, m, d)                                                                            \
    {                                                                                              \
        .key = #m, .type = T_BOOL, .off = offsetof(rec, m), .def = d                               \
    }
#define OBJECT(k, t)                                                                               \
    {                                                                                              \
        .key = k, .type = T_OBJECT, .sub = t                                                       \
    }
/* An object whose members live in the sub-record `m` of rec, checked by chk when present. */
#define SUB_OBJECT(rec, m, t, chk)                                                                 \
    {                                                                                              \
        .key = #m, .type = T_OBJECT, .off = offsetof(rec, m), .sub = t, .check = chk               \
    }
#define ARRAY(rec, m, item, t, chk, dfn)                                                           \
    {                                                                                              \
        .key = #m, .type = T_ARRAY, .off = offsetof(rec, m), .count_off = offsetof(rec, n_##m),    \
        .size = sizeof(item), .sub = t, .check = chk, .def_fn = dfn                                \
    }

static const char *const log_level_names[] = {
    [CONFIG_LOG_DEBUG] = "debug",
    [CONFIG_LOG_INFO] = "info",
    [CONFIG_LOG_WARNING] = "warning",
    [CONFIG_LOG_ERROR] = "error",
};

static const char *const verify_names[] = {
    [CONFIG_VERIFY_NONE] = "verify_none",
    [CONFIG_VERIFY_PEER] = "verify_peer",
};

static item_check_fn check_user, check_vhost, check_permission, check_tls;
static list_default_fn default_users, default_vhosts, default_permissions;

/* RabbitMQ's ssl_options names; the two listeners differ in their default port
 * (RabbitMQ's 5671 for amqps, 15671 for the management plugin over HTTPS). */
#define TLS_FIELDS(default_port)                                                                   \
    UINT(struct config_tls, port, 0, 65535, default_port),                                         \
        STRING(struct config_tls, certfile, 1, 4096, NULL),                                        \
        STRING(struct config_tls, keyfile, 1, 4096, NULL),                                         \
        STRING(struct config_tls, cacertfile, 1, 4096, NULL),                                      \
        ENUM(struct config_tls, verify, verify_names, CONFIG_VERIFY_NONE),                         \
        BOOL(struct config_tls, fail_if_no_peer_cert, false),                                      \
    {                                                                                              \
        0                                                                                          \
    }

static const struct field tls_fields[] = {TLS_FIELDS(5671)};
static const struct field mgmt_tls_fields[] = {TLS_FIELDS(15671)};

static const struct field listener_fields[] = {
    STRING(struct config, address, 1, NAME_MAX_LEN, "0.0.0.0"),
    UINT(struct config, amqp_port, 1, 65535, 5672),
    SUB_OBJECT(struct config, tls, tls_fields, check_tls),
    STRING(struct config, mgmt_address, 1, NAME_MAX_LEN, "127.0.0.1"),
    UINT(struct config, mgmt_port, 0, 65535, 15672),
    SUB_OBJECT(struct config, mgmt_tls, mgmt_tls_fields, check_tls),
    UINT(struct config, prometheus_port, 0, 65535, 15692),
    {0},
};

/* frame_max and max_message_size bounds are RabbitMQ's (frame_max 4096 is
 * the spec's frame-min-size, 0-9-1 §4.2.3). */
static const struct field limit_fields[] = {
    UINT(struct config, frame_max, 4096, 1048576, 131072),
    UINT(struct config, channel_max, 1, 65535, 2047),
    UINT(struct config, heartbeat, 0, 65535, 60),
    UINT(struct config, max_message_size, 1, 536870912, 134217728),
    UINT(struct config, max_connections, 0, 10000000, 0),
    NUMBER(struct config, handshake_timeout, 1, 3600, 10),
    /* Bytes of queued message data before publishers are throttled; 0 means
     * 40% of physical memory, RabbitMQ's default high watermark. */
    UINT(struct config, memory_budget, 0, 1125899906842624LL, 0),
    /* RabbitMQ's default disk_free_limit: 50 MB. */
    UINT(struct config, disk_free_limit, 0, 1125899906842624LL, 50000000),
    /* RabbitMQ's vm_memory_high_watermark.relative (0.4 until RabbitMQ 4.0)
     * and .absolute (bytes; 0 here means "use the relative one"). */
    NUMBER(struct config, vm_memory_high_watermark, 0, 1, 0.4),
    UINT(struct config, vm_memory_high_watermark_absolute, 0, 1125899906842624LL, 0),
    /* RabbitMQ's consumer_max_per_channel (0 here: no limit, RabbitMQ's infinity). */
    UINT(struct config, consumer_max_per_channel, 0, 10000000, 0),
    {0},
};

static const char *const sync_names[] = {
    [CONFIG_SYNC_FSYNC] = "fsync",
    [CONFIG_SYNC_WRITE] = "write",
};

static const struct field durability_fields[] = {
    ENUM(struct config, sync, sync_names, CONFIG_SYNC_FSYNC),
    {0},
};

static const struct field user_fields[] = {
    REQ_STRING(struct config_user, name, 1, NAME_MAX_LEN),
    {.key = "password", .type = T_CHECK, .min = 1, .max = 4096},
    STRING(struct config_user, password_hash, 0, 4096, NULL),
    ENUM(struct config_user, hashing_algorithm, auth_hash_alg_names, AUTH_HASH_SHA256),
    TAGS(struct config_user, tags),
    {0},
};

/* RabbitMQ's vhost limits. Signed values go through T_UINT's 8-byte store,
 * which copies the two's complement bits; absent means not set. */
#define VHOST_LIMIT(k, m)                                                                          \
    {                                                                                              \
        .key = k, .type = T_UINT, .off = offsetof(struct config_vhost, m),                         \
        .size = MSIZE(struct config_vhost, m), .min = -1, .max = 2147483647LL,                     \
        .def = AUTH_LIMIT_UNSET                                                                    \
    }
static const struct field vhost_limit_fields[] = {
    VHOST_LIMIT("max-connections", max_connections),
    VHOST_LIMIT("max-queues", max_queues),
    {0},
};

static const struct field vhost_fields[] = {
    REQ_STRING(struct config_vhost, name, 1, NAME_MAX_LEN),
    OBJECT("limits", vhost_limit_fields),
    {0},
};

static const struct field permission_fields[] = {
    REQ_STRING(struct config_permission, user, 1, NAME_MAX_LEN),
    REQ_STRING(struct config_permission, vhost, 1, NAME_MAX_LEN),
    REQ_STRING(struct config_permission, configure, 0, 4096),
    REQ_STRING(struct config_permission, write, 0, 4096),
    REQ_STRING(struct config_permission, read, 0, 4096),
    {0},
};

/* The order matters: permissions are checked against users and vhosts, so
 * those load (or default) first whatever the order in the file. */
static const struct field config_fields[] = {
    OBJECT("listeners", listener_fields),
    STRING(struct config, data_dir, 1, 4096, "./data"),
    ENUM(struct config, log_level, log_level_names, CONFIG_LOG_INFO),
    STRING(struct config, log_file, 1, 4096, NULL),
    NAME_LIST(struct config, loopback_users, "guest"),
    OBJECT("limits", limit_fields),
    OBJECT("durability", durability_fields),
    ARRAY(struct config, users, struct config_user, user_fields, check_user, default_users),
    ARRAY(struct config, vhosts, struct config_vhost, vhost_fields, check_vhost, default_vhosts),
    ARRAY(struct config, permissions, struct config_permission, permission_fields, check_permission,
          default_permissions),
    {0},
};

/* ---- record access (memcpy: the schema knows only offsets) ---- */

static void *get_ptr(const char *rec, size_t off)
{
    void *p;
    memcpy(&p, rec + off, sizeof(p));
    return p;
}

static void set_ptr(char *rec, size_t off, void *p)
{
    memcpy(rec + off, &p, sizeof(p));
}

static size_t get_count(const char *rec, size_t off)
{
    size_t n;
    memcpy(&n, rec + off, sizeof(n));
    return n;
}

static void set_count(char *rec, size_t off, size_t n)
{
    memcpy(rec + off, &n, sizeof(n));
}

static void set_uint(char *rec, const struct field *f, long long v)
{
    switch (f->size) {
    case 1: {
        uint8_t x = (uint8_t)v;
        memcpy(rec + f->off, &x, sizeof(x));
        break;
    }
    case 2: {
        uint16_t x = (uint16_t)v;
        memcpy(rec + f->off, &x, sizeof(x));
        break;
    }
    case 4: {
        uint32_t x = (uint32_t)v;
        memcpy(rec + f->off, &x, sizeof(x));
        break;
    }
    default: {
        uint64_t x = (uint64_t)v;
        assert(f->size == 8);
        memcpy(rec + f->off, &x, sizeof(x));
        break;
    }
    }
}

static void set_int(char *rec, size_t off, int v)
{
    memcpy(rec + off, &v, sizeof(v));
}

static void set_double(char *rec, size_t off, double v)
{
    memcpy(rec + off, &v, sizeof(v));
}

static void set_bool(char *rec, size_t off, bool v)
{
    memcpy(rec + off, &v, sizeof(v));
}

/* ---- error messages ---- */

enum at {
    AT_VALUE,  /* the value at the current path */
    AT_KEY,    /* the key of the current path (message names the parent) */
    AT_PARENT, /* the object holding the current key (missing keys) */
};

static void path_push_key(struct loader *ld, const char *key)
{
    assert(ld->depth < PATH_DEPTH_MAX);
    ld->path[ld->depth++] = (struct config_path_step){.key = key};
}

static void path_push_index(struct loader *ld, size_t i)
{
    assert(ld->depth < PATH_DEPTH_MAX);
    ld->path[ld->depth++] = (struct config_path_step){.key = NULL, .index = i};
}

static void path_pop(struct loader *ld)
{
    assert(ld->depth > 0);
    ld->depth--;
}

static void format_path(const struct config_path_step *path, size_t depth, char *out, size_t size)
{
    size_t o = 0;

    out[0] = '\0';
    for (size_t i = 0; i < depth && o < size; i++) {
        int n;
        if (path[i].key)
            n = snprintf(out + o, size - o, "%s%s", i ? "." : "", path[i].key);
        else
            n = snprintf(out + o, size - o, "[%zu]", path[i].index);
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* Quotes a string from the file for a message: JSON escapes for quotes,
 * backslashes and control bytes (so a name cannot forge log lines), cut
 * after about QUOTE_MAX bytes on a UTF-8 character boundary. */
static const char *quote(char out[QUOTE_MAX], const char *s)
{
    size_t o = 0;

    out[o++] = '"';
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;

        if (o + 6 + 5 > QUOTE_MAX) {
            if ((c & 0xc0) == 0x80) {
                /* Mid-character: drop its continuation bytes and lead byte. */
                while (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0x80)
                    o--;
                if (o > 1 && ((unsigned char)out[o - 1] & 0xc0) == 0xc0)
                    o--;
            }
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            static const char hex[] = "0123456789abcdef";
            memcpy(out + o, "\\u00", 4);
            out[o + 4] = hex[c >> 4];
            out[o + 5] = hex[c & 15];
            o += 6;
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
    return out;
}

static int vfail(struct loader *ld, enum at at, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static int vfail(struct loader *ld, enum at at, const char *fmt, va_list ap)
{
    char msg[512], path[256];
    size_t name_depth = at == AT_VALUE ? ld->depth : ld->depth - 1;
    size_t pos_depth = at == AT_PARENT ? ld->depth - 1 : ld->depth;
    struct config_pos pos;

    assert(at == AT_VALUE || ld->depth > 0);
    if (!ld->errlen)
        return -1;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    format_path(ld->path, name_depth, path, sizeof(path));
    if (config_json_pos(ld->text, ld->len, ld->path, pos_depth, at == AT_KEY, &pos) == 0)
        snprintf(ld->err, ld->errlen, "%s:%d:%d: %s%s%s", ld->name, pos.line, pos.column, path,
                 *path ? ": " : "", msg);
    else /* not expected: jansson accepted the text we scan */
        snprintf(ld->err, ld->errlen, "%s: %s%s%s", ld->name, path, *path ? ": " : "", msg);
    return -1;
}

static int fail(struct loader *ld, enum at at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *ld, enum at at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vfail(ld, at, fmt, ap);
    va_end(ap);
    return -1;
}

/* Fails at member `key` of the object at the current path. */
static int fail_member(struct loader *ld, const char *key, enum at at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_member(struct loader *ld, const char *key, enum at at, const char *fmt, ...)
{
    va_list ap;

    path_push_key(ld, key);
    va_start(ap, fmt);
    vfail(ld, at, fmt, ap);
    va_end(ap);
    path_pop(ld);
    return -1;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
    default:
        return "null";
    }
}

static int wrong_type(struct loader *ld, const json_t *v, const char *want)
{
    return fail(ld, AT_VALUE, "expected %s, got %s", want, type_name(v));
}

/* ---- the table walker ---- */

static int load_object(struct loader *ld, json_t *obj, const struct field *fields, char *rec);

static const struct field *find_field(const struct field *fields, const char *key)
{
    for (const struct field *f = fields; f->type != T_END; f++)
        if (strcmp(f->key, key) == 0)
            return f;
    return NULL;
}

static int check_length(struct loader *ld, const struct field *f, size_t n)
{
    if (n < (size_t)f->min)
        return fail(ld, AT_VALUE, "must not be empty");
    if (n > (size_t)f->max)
        return fail(ld, AT_VALUE, "is %zu bytes long, the maximum is %lld", n, f->max);
    return 0;
}

static bool has_tag(char **tags, size_t n, const char *tag, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(tags[i]) == len && memcmp(tags[i], tag, len) == 0)
            return true;
    return false;
}

/* Tags as RabbitMQ writes them: an array of strings (3.9+ definitions) or one
 * comma-separated string (older ones), where "" means none. */
static int load_tags(struct loader *ld, json_t *v, const struct field *f, char *rec)
{
    char **tags;
    size_t n = 0, cap;

    if (json_is_string(v) && !(f->flags & F_ARRAY_ONLY)) {
        const char *s = json_string_value(v);

        cap = 1;
        for (const char *p = s; *p; p++)
            cap += *p == ',';
        tags = xcalloc(cap, sizeof(*tags));
        set_ptr(rec, f->off, tags);
        for (const char *p = s;;) {
            const char *e = strchr(p, ',');
            size_t len = e ? (size_t)(e - p) : strlen(p);
            const char *t = p;

            while (len && *t == ' ') {
                t++;
                len--;
            }
            while (len && t[len - 1] == ' ')
                len--;
            if (len > (size_t)f->max)
                return fail(ld, AT_VALUE, "a tag is %zu bytes long, the maximum is %lld", len,
                            f->max);
            if (len && !has_tag(tags, n, t, len)) {
                tags[n++] = xstrndup_view((struct view){(const uint8_t *)t, len});
                set_count(rec, f->count_off, n);
            }
            if (!e)
                break;
            p = e + 1;
        }
        return 0;
    }
    if (!json_is_array(v))
        return wrong_type(ld, v, "an array of strings");
    cap = json_array_size(v);
    tags = xcalloc(cap ? cap : 1, sizeof(*tags));
    set_ptr(rec, f->off, tags);
    for (size_t i = 0; i < cap; i++) {
        json_t *t = json_array_get(v, i);
        int rc = 0;

        path_push_index(ld, i);
        if (!json_is_string(t))
            rc = wrong_type(ld, t, "a string");
        else
            rc = check_length(ld, f, json_string_length(t));
        path_pop(ld);
        if (rc)
            return -1;
        if (!has_tag(tags, n, json_string_value(t), json_string_length(t))) {
            tags[n++] = xstrdup(json_string_value(t));
            set_count(rec, f->count_off, n);
        }
    }
    return 0;
}

static int load_array(struct loader *ld, json_t *v, const struct field *f, char *rec)
{
    size_t n;
    char *items;

    if (!json_is_array(v))
        return wrong_type(ld, v, "an array");
    n = json_array_size(v);
    /* Attach before filling, so config_destroy() frees a partial load. */
    items = xcalloc(n ? n : 1, f->size);
    set_ptr(rec, f->off, items);
    set_count(rec, f->count_off, n);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(v, i);
        int rc;

        path_push_index(ld, i);
        rc = load_object(ld, item, f->sub, items + i * f->size);
        if (!rc && f->check)
            rc = f->check(ld, item, items, i);
        path_pop(ld);
        if (rc)
            return -1;
    }
    return 0;
}

static int load_value(struct loader *ld, json_t *v, const struct field *f, char *rec)
{
    switch (f->type) {
    case T_OBJECT:
        if (load_object(ld, v, f->sub, rec + f->off))
            return -1;
        return f->check ? f->check(ld, v, rec + f->off, 0) : 0;
    case T_ARRAY:
        return load_array(ld, v, f, rec);
    case T_TAGS:
        return load_tags(ld, v, f, rec);
    case T_STRING:
    case T_CHECK:
        if (!json_is_string(v))
            return wrong_type(ld, v, "a string");
        if (check_length(ld, f, json_string_length(v)))
            return -1;
        if (f->type == T_STRING)
            set_ptr(rec, f->off, xstrdup(json_string_value(v)));
        return 0;
    case T_UINT: {
        long long x;

        if (!json_is_integer(v))
            return wrong_type(ld, v, "an integer");
        x = json_integer_value(v);
        if (x < f->min || x > f->max)
            return fail(ld, AT_VALUE, "%lld is out of range (%lld..%lld)", x, f->min, f->max);
        set_uint(rec, f, x);
        return 0;
    }
    case T_NUMBER: {
        double x;

        if (!json_is_number(v))
            return wrong_type(ld, v, "a number");
        x = json_number_value(v);
        if (!(x >= (double)f->min && x <= (double)f->max))
            return fail(ld, AT_VALUE, "%g is out of range (%lld..%lld)", x, f->min, f->max);
        set_double(rec, f->off, x);
        return 0;
    }
    case T_BOOL:
        if (!json_is_boolean(v))
            return wrong_type(ld, v, "a boolean");
        set_bool(rec, f->off, json_is_true(v));
        return 0;
    case T_ENUM: {
        char q[QUOTE_MAX], list[256];
        size_t o = 0;

        if (!json_is_string(v))
            return wrong_type(ld, v, "a string");
        for (long long i = 0; i < f->max; i++) {
            if (strcmp(json_string_value(v), f->names[i]) == 0) {
                set_int(rec, f->off, (int)i);
                return 0;
            }
        }
        list[0] = '\0';
        for (long long i = 0; i < f->max && o < sizeof(list); i++) {
            int n = snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", f->names[i]);
            o += n > 0 ? (size_t)n : 0;
        }
        return fail(ld, AT_VALUE, "%s is not one of %s", quote(q, json_string_value(v)), list);
    }
    case T_END:
    default:
        abort(); /* a schema table bug */
    }
}

static int load_default(struct loader *ld, const struct field *f, char *rec)
{
    switch (f->type) {
    case T_OBJECT:
        for (const struct field *s = f->sub; s->type != T_END; s++) {
            int rc;

            path_push_key(ld, s->key);
            rc = load_default(ld, s, rec + f->off);
            path_pop(ld);
            if (rc)
                return -1;
        }
        return 0;
    case T_ARRAY:
        if (f->def_fn)
            f->def_fn(ld);
        return 0;
    case T_STRING:
        if (f->flags & F_REQUIRED)
            return fail(ld, AT_PARENT, "missing required key \"%s\"", f->key);
        if (f->def_str)
            set_ptr(rec, f->off, xstrdup(f->def_str));
        return 0;
    case T_UINT:
        set_uint(rec, f, f->def);
        return 0;
    case T_NUMBER:
        set_double(rec, f->off, f->def_num);
        return 0;
    case T_ENUM:
        set_int(rec, f->off, (int)f->def);
        return 0;
    case T_BOOL:
        set_bool(rec, f->off, f->def != 0);
        return 0;
    case T_TAGS:
        if (f->def_str) {
            char **list = xcalloc(1, sizeof(*list));
            list[0] = xstrdup(f->def_str);
            set_ptr(rec, f->off, list);
            set_count(rec, f->count_off, 1);
        }
        return 0;
    case T_CHECK:
    case T_END:
    default:
        return 0;
    }
}

static int load_object(struct loader *ld, json_t *obj, const struct field *fields, char *rec)
{
    const char *key;
    json_t *v;

    if (!json_is_object(obj))
        return wrong_type(ld, obj, "an object");
    json_object_foreach(obj, key, v)
    {
        if (!find_field(fields, key)) {
            char q[QUOTE_MAX];
            return fail_member(ld, key, AT_KEY, "unknown key %s", quote(q, key));
        }
    }
    for (const struct field *f = fields; f->type != T_END; f++) {
        int rc;

        v = json_object_get(obj, f->key);
        path_push_key(ld, f->key);
        rc = v ? load_value(ld, v, f, rec) : load_default(ld, f, rec);
        path_pop(ld);
        if (rc)
            return -1;
    }
    return 0;
}

static void free_object(const struct field *fields, char *rec)
{
    for (const struct field *f = fields; f->type != T_END; f++) {
        switch (f->type) {
        case T_OBJECT:
            free_object(f->sub, rec + f->off);
            break;
        case T_STRING:
            free(get_ptr(rec, f->off));
            break;
        case T_TAGS: {
            char **tags = get_ptr(rec, f->off);
            size_t n = get_count(rec, f->count_off);

            for (size_t i = 0; i < n; i++)
                free(tags[i]);
            free(tags);
            break;
        }
        case T_ARRAY: {
            char *items = get_ptr(rec, f->off);
            size_t n = get_count(rec, f->count_off);

            for (size_t i = 0; i < n; i++)
                free_object(f->sub, items + i * f->size);
            free(items);
            break;
        }
        case T_UINT:
        case T_NUMBER:
        case T_ENUM:
        case T_CHECK:
        case T_BOOL:
        case T_END:
        default:
            break;
        }
    }
}

/* ---- cross-checks and list defaults ---- */

static bool has_user(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_users; i++)
        if (strcmp(c->users[i].name, name) == 0)
            return true;
    return false;
}

static bool has_vhost(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_vhosts; i++)
        if (strcmp(c->vhosts[i].name, name) == 0)
            return true;
    return false;
}

static int check_user(struct loader *ld, json_t *item, void *items, size_t i)
{
    struct config_user *users = items, *u = &users[i];
    json_t *pw = json_object_get(item, "password");
    char q[QUOTE_MAX];

    for (size_t k = 0; k < i; k++)
        if (strcmp(users[k].name, u->name) == 0)
            return fail_member(ld, "name", AT_VALUE, "duplicate user %s", quote(q, u->name));
    if (pw && u->password_hash)
        return fail_member(ld, "password", AT_KEY,
                           "give either \"password\" or \"password_hash\", not both");
    if (!pw && !u->password_hash)
        return fail(ld, AT_VALUE, "missing \"password\" or \"password_hash\"");
    if (pw) {
        /* Hash now so the plain text is not kept in the record. */
        u->password_hash = auth_hash_password_alg(
            u->hashing_algorithm,
            (struct view){(const uint8_t *)json_string_value(pw), json_string_length(pw)});
        if (!u->password_hash)
            return fail_member(ld, "password", AT_VALUE,
                               "cannot hash the password (random generator failed)");
    } else if (!auth_hash_is_valid(u->hashing_algorithm, u->password_hash)) {
        return fail_member(ld, "password_hash", AT_VALUE, "not a valid %s hash",
                           auth_hash_alg_names[u->hashing_algorithm]);
    }
    return 0;
}

static int check_vhost(struct loader *ld, json_t *item, void *items, size_t i)
{
    struct config_vhost *vhosts = items;
    char q[QUOTE_MAX];

    (void)item;
    for (size_t k = 0; k < i; k++)
        if (strcmp(vhosts[k].name, vhosts[i].name) == 0)
            return fail_member(ld, "name", AT_VALUE, "duplicate vhost %s",
                               quote(q, vhosts[i].name));
    return 0;
}

static int check_permission(struct loader *ld, json_t *item, void *items, size_t i)
{
    struct config_permission *perms = items, *p = &perms[i];
    const char *keys[3] = {"configure", "write", "read"};
    const char *pats[3] = {p->configure, p->write, p->read};
    char q[QUOTE_MAX], q2[QUOTE_MAX];

    (void)item;
    if (!has_user(ld->cfg, p->user))
        return fail_member(ld, "user", AT_VALUE, "unknown user %s", quote(q, p->user));
    if (!has_vhost(ld->cfg, p->vhost))
        return fail_member(ld, "vhost", AT_VALUE, "unknown vhost %s", quote(q, p->vhost));
    for (size_t k = 0; k < i; k++)
        if (strcmp(perms[k].user, p->user) == 0 && strcmp(perms[k].vhost, p->vhost) == 0)
            return fail(ld, AT_VALUE, "duplicate permissions for user %s on vhost %s",
                        quote(q, p->user), quote(q2, p->vhost));
    for (size_t k = 0; k < 3; k++) {
        char why[128];

        if (auth_pattern_check(pats[k], why, sizeof(why)))
            return fail_member(ld, keys[k], AT_VALUE, "invalid regular expression %s: %s",
                               quote(q, pats[k]), why);
    }
    return 0;
}

/* A TLS listener that is in the file: its files exist and fit together, so a
 * mistake is reported here with its position rather than at startup. */
static int check_tls(struct loader *ld, json_t *obj, void *rec, size_t i)
{
    struct config_tls *t = rec;
    char why[256], q[QUOTE_MAX];

    (void)obj;
    (void)i;
    t->enabled = true;
    if (!t->certfile)
        return fail(ld, AT_VALUE, "missing required key \"certfile\"");
    if (!t->keyfile)
        return fail(ld, AT_VALUE, "missing required key \"keyfile\"");
    if (t->verify == CONFIG_VERIFY_PEER && !t->cacertfile)
        return fail_member(ld, "verify", AT_VALUE,
                           "verify_peer needs \"cacertfile\" (the CA certificates client "
                           "certificates are checked against)");
    if (t->fail_if_no_peer_cert && t->verify != CONFIG_VERIFY_PEER)
        return fail_member(ld, "fail_if_no_peer_cert", AT_VALUE,
                           "needs \"verify\": \"verify_peer\" (no client certificate is asked "
                           "for otherwise)");
    if (pem_check_certs(t->certfile, why, sizeof(why)))
        return fail_member(ld, "certfile", AT_VALUE, "%s: %s", quote(q, t->certfile), why);
    if (pem_check_key(t->keyfile, t->certfile, why, sizeof(why)))
        return fail_member(ld, "keyfile", AT_VALUE, "%s: %s", quote(q, t->keyfile), why);
    if (t->cacertfile && pem_check_certs(t->cacertfile, why, sizeof(why)))
        return fail_member(ld, "cacertfile", AT_VALUE, "%s: %s", quote(q, t->cacertfile), why);
    return 0;
}

static void default_users(struct loader *ld)
{
    struct config *c = ld->cfg;
    struct config_user *u = xcalloc(1, sizeof(*u));

    u->name = xstrdup("guest");
    u->password_hash = xstrdup(GUEST_HASH);
    u->hashing_algorithm = AUTH_HASH_SHA256;
    u->tags = xcalloc(1, sizeof(*u->tags));
    u->tags[0] = xstrdup("administrator");
    u->n_tags = 1;
    c->users = u;
    c->n_users = 1;
    ld->default_users = true;
}

static void default_vhosts(struct loader *ld)
{
    struct config *c = ld->cfg;

    c->vhosts = xcalloc(1, sizeof(*c->vhosts));
    c->vhosts[0].name = xstrdup("/");
    c->vhosts[0].max_connections = c->vhosts[0].max_queues = AUTH_LIMIT_UNSET;
    c->n_vhosts = 1;
}

/* The built-in guest comes with full access to "/". Whoever lists their own
 * users lists their permissions too. */
static void default_permissions(struct loader *ld)
{
    struct config *c = ld->cfg;
    struct config_permission *p;

    if (!ld->default_users || !has_vhost(c, "/"))
        return;
    p = xcalloc(1, sizeof(*p));
    p->user = xstrdup("guest");
    p->vhost = xstrdup("/");
    p->configure = xstrdup(".*");
    p->write = xstrdup(".*");
    p->read = xstrdup(".*");
    c->permissions = p;
    c->n_permissions = 1;
}

/* ---- public API ---- */

/* Line and column of byte off, counted like jansson: '\n' starts a line and
 * every byte but a UTF-8 continuation byte is one column. */
static struct config_pos offset_pos(const char *text, size_t off)
{
    size_t line = 1, col = 1;

    for (size_t i = 0; i < off; i++) {
        if (text[i] == '\n') {
            line++;
            col = 1;
        } else if (((unsigned char)text[i] & 0xc0) != 0x80) {
            col++;
        }
    }
    return (struct config_pos){
        .line = line > INT_MAX ? INT_MAX : (int)line,
        .column = col > INT_MAX ? INT_MAX : (int)col,
    };
}

struct config *config_parse(const char *text, size_t len, const char *name, char *errbuf,
                            size_t errlen)
{
    struct loader ld = {
        .text = text ? text : "",
        .len = text ? len : 0,
        .name = name ? name : "(config)",
        .err = errbuf,
        .errlen = errlen,
    };
    json_error_t je;
    json_t *root;
    struct config *c;
    const char *nul;

    /* jansson silently skips raw NUL bytes between tokens, where the
     * position finder would stop; no valid config holds one anyway. */
    nul = memchr(ld.text, '\0', ld.len);
    if (nul) {
        struct config_pos pos = offset_pos(ld.text, (size_t)(nul - ld.text));

        if (errlen)
            snprintf(errbuf, errlen, "%s:%d:%d: NUL byte in the file", ld.name, pos.line,
                     pos.column);
        return NULL;
    }
    /* Duplicate keys would make the position finder point at the wrong one,
     * and are a mistake anyway. */
    root = json_loadb(ld.text, ld.len, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        if (errlen && je.line >= 0)
            snprintf(errbuf, errlen, "%s:%d:%d: %s", ld.name, je.line, je.column, je.text);
        else if (errlen)
            snprintf(errbuf, errlen, "%s: %s", ld.name, je.text);
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    ld.cfg = c;
    if (load_object(&ld, root, config_fields, (char *)c)) {
        config_destroy(c);
        c = NULL;
    }
    json_decref(root);
    return c;
}

struct config *config_load(const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0, cap = 0;
    struct config *c = NULL;

    if (!f) {
        if (errlen)
            snprintf(errbuf, errlen, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t n;

        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            text = xrealloc(text, cap);
        }
        n = fread(text + len, 1, cap - len, f);
        len += n;
        if (len > CONFIG_FILE_MAX) {
            if (errlen)
                snprintf(errbuf, errlen, "%s: larger than %u MiB", path, CONFIG_FILE_MAX >> 20);
            goto out_close;
        }
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        if (errlen)
            snprintf(errbuf, errlen, "%s: cannot read: %s", path, strerror(errno));
        goto out_close;
    }
    c = config_parse(text, len, path, errbuf, errlen);
    if (c)
        c->path = xstrdup(path);
out_close:
    fclose(f);
    free(text);
    return c;
}

struct config *config_default(void)
{
    char err[256];
    struct config *c = config_parse("{}", 2, "(defaults)", err, sizeof(err));

    if (!c)
        abort(); /* the schema's own defaults failed validation: a bug */
    return c;
}

void config_destroy(struct config *c)
{
    if (!c)
        return;
    free_object(config_fields, (char *)c);
    free(c->path);
    free(c);
}

void config_set_data_dir(struct config *c, const char *dir)
{
    free(c->data_dir);
    c->data_dir = xstrdup(dir);
}

const char *config_log_level_name(enum config_log_level level)
{
    return (unsigned)level < ARRAY_LEN(log_level_names) ? log_level_names[level] : "?";
}

/* ---- position finder ---- */

/* A forgiving scanner over text jansson has normally already accepted. It
 * checks bounds on every byte and gives up (-1) on anything unexpected. */
struct scan {
    const unsigned char *s;
    size_t n, i;
};

static void skip_ws(struct scan *sc)
{
    while (sc->i < sc->n && (sc->s[sc->i] == ' ' || sc->s[sc->i] == '\t' || sc->s[sc->i] == '\n' ||
                             sc->s[sc->i] == '\r'))
        sc->i++;
}

static bool at(const struct scan *sc, unsigned char c)
{
    return sc->i < sc->n && sc->s[sc->i] == c;
}

static int hex4(struct scan *sc, unsigned long *out)
{
    unsigned long v = 0;

    if (sc->n - sc->i < 4)
        return -1;
    for (size_t k = 0; k < 4; k++) {
        unsigned char c = sc->s[sc->i++];
        unsigned d;

        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (unsigned)((c | 0x20) - 'a' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static size_t utf8_encode(unsigned long cp, unsigned char *b)
{
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    b[0] = (unsigned char)(0xf0 | cp >> 18);
    b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    b[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

/* Scans the string at sc->i (its opening quote) and, if want is not NULL,
 * compares its unescaped bytes with want. */
static int scan_string(struct scan *sc, const char *want, bool *match)
{
    const unsigned char *w = (const unsigned char *)(want ? want : "");
    bool eq = want != NULL;

    sc->i++;
    for (;;) {
        unsigned char b[4];
        size_t bl = 1;

        if (sc->i >= sc->n)
            return -1;
        b[0] = sc->s[sc->i++];
        if (b[0] == '"')
            break;
        if (b[0] == '\\') {
            unsigned long cp, lo;

            if (sc->i >= sc->n)
                return -1;
            switch (sc->s[sc->i++]) {
            case '"':
            case '\\':
            case '/':
                b[0] = sc->s[sc->i - 1];
                break;
            case 'b':
                b[0] = '\b';
                break;
            case 'f':
                b[0] = '\f';
                break;
            case 'n':
                b[0] = '\n';
                break;
            case 'r':
                b[0] = '\r';
                break;
            case 't':
                b[0] = '\t';
                break;
            case 'u':
                if (hex4(sc, &cp))
                    return -1;
                if (cp >= 0xd800 && cp <= 0xdbff && sc->n - sc->i >= 6 && sc->s[sc->i] == '\\' &&
                    sc->s[sc->i + 1] == 'u') {
                    size_t save = sc->i;

                    sc->i += 2;
                    if (hex4(sc, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff)
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                    else
                        sc->i = save;
                }
                bl = utf8_encode(cp, b);
                break;
            default:
                return -1;
            }
        }
        for (size_t k = 0; k < bl; k++) {
            if (eq && *w && *w == b[k])
                w++;
            else
                eq = false;
        }
    }
    if (match)
        *match = eq && *w == '\0';
    return 0;
}

static int skip_value(struct scan *sc)
{
    size_t depth = 0, start = sc->i;

    if (sc->i >= sc->n)
        return -1;
    if (at(sc, '"'))
        return scan_string(sc, NULL, NULL);
    if (at(sc, '{') || at(sc, '[')) {
        while (sc->i < sc->n) {
            unsigned char c = sc->s[sc->i];

            if (c == '"') {
                if (scan_string(sc, NULL, NULL))
                    return -1;
                continue;
            }
            sc->i++;
            if (c == '{' || c == '[') {
                depth++;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return 0;
            }
        }
        return -1;
    }
    /* number, true, false, null (a NUL byte also ends it: strchr finds the terminator) */
    while (sc->i < sc->n && !strchr(",]} \t\r\n", sc->s[sc->i]))
        sc->i++;
    return sc->i > start ? 0 : -1;
}

/* Moves to the value of key in the object at sc->i; with at_key stops on the
 * key's opening quote instead. */
static int enter_key(struct scan *sc, const char *key, bool at_key)
{
    if (!at(sc, '{'))
        return -1;
    sc->i++;
    for (;;) {
        size_t key_at;
        bool match;

        skip_ws(sc);
        if (!at(sc, '"'))
            return -1; /* '}' (not found) or malformed */
        key_at = sc->i;
        if (scan_string(sc, key, &match))
            return -1;
        skip_ws(sc);
        if (!at(sc, ':'))
            return -1;
        sc->i++;
        skip_ws(sc);
        if (match) {
            if (at_key)
                sc->i = key_at;
            return 0;
        }
        if (skip_value(sc))
            return -1;
        skip_ws(sc);
        if (!at(sc, ','))
            return -1;
        sc->i++;
    }
}

static int enter_index(struct scan *sc, size_t index)
{
    if (!at(sc, '['))
        return -1;
    sc->i++;
    for (size_t k = 0;; k++) {
        skip_ws(sc);
        if (sc->i >= sc->n || at(sc, ']'))
            return -1;
        if (k == index)
            return 0;
        if (skip_value(sc))
            return -1;
        skip_ws(sc);
        if (!at(sc, ','))
            return -1;
        sc->i++;
    }
}

int config_json_pos(const char *text, size_t len, const struct config_path_step *path, size_t depth,
                    bool at_key, struct config_pos *pos)
{
    struct scan sc = {(const unsigned char *)text, len, 0};

    skip_ws(&sc);
    for (size_t d = 0; d < depth; d++) {
        int rc = path[d].key ? enter_key(&sc, path[d].key, at_key && d + 1 == depth)
                             : enter_index(&sc, path[d].index);
        if (rc)
            return -1;
    }
    if (sc.i >= sc.n)
        return -1;
    *pos = offset_pos(text, sc.i);
    return 0;
}
