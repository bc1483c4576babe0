/* SPDX-License-Identifier: MIT */
/*
 * args: queue.declare arguments, validated and compared as RabbitMQ 4.x does.
 *
 * Sources (rabbitmq-server): rabbit_amqqueue.erl check_declare_arguments/2,
 * declare_args/0 and the check_* validators; rabbit_misc.erl check_expiry/1,
 * assert_args_equivalence/4, val/1; the queue_arguments lists of
 * rabbit_classic_queue:capabilities/0 and rabbit_quorum_queue:capabilities/0;
 * rabbit_binary_parser.erl for the type names.
 *
 * RabbitMQ formats a validation error as
 *     "invalid arg '~ts' for ~ts: ~255p"
 * so the reason is an Erlang term printed with ~p: tuples such as
 * {value_negative,-1}, atoms such as invalid_overflow, and strings, which ~p
 * prints in double quotes ("\"expected integer, got longstr\""). The helpers
 * below reproduce those prints for the terms that can occur.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "queue/queue_int.h"

/* rabbit_misc:check_expiry/1: ten years in milliseconds. */
#define MAX_EXPIRY_MS INT64_C(315360000000)
/* rabbit.hrl ?MAX_SUPPORTED_PRIORITY. */
#define MAX_SUPPORTED_PRIORITY 255

/* ---- a truncating string builder (texts end up in a 256-byte reply-text) ---- */

struct sb {
    char *p;
    size_t cap; /* including the NUL */
    size_t len;
};

static void sb_init(struct sb *s, char *p, size_t cap)
{
    s->p = p;
    s->cap = cap;
    s->len = 0;
    p[0] = '\0';
}

__attribute__((format(printf, 2, 3))) static void sb_printf(struct sb *s, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (s->len + 1 >= s->cap)
        return;
    va_start(ap, fmt);
    n = vsnprintf(s->p + s->len, s->cap - s->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    s->len += (size_t)n;
    if (s->len >= s->cap)
        s->len = s->cap - 1;
}

static void sb_bytes(struct sb *s, struct view v)
{
    size_t room;

    if (s->len + 1 >= s->cap)
        return;
    room = s->cap - 1 - s->len;
    if (v.n < room)
        room = v.n;
    if (room)
        memcpy(s->p + s->len, v.p, room);
    s->len += room;
    s->p[s->len] = '\0';
}

static bool printable(struct view v)
{
    for (size_t i = 0; i < v.n; i++)
        if (v.p[i] < 0x20 || v.p[i] > 0x7e)
            return false;
    return true;
}

/* Characters of v inside an Erlang "..." string or <<"...">> binary. Strings
 * with bytes outside printable ASCII are written as they are, where Erlang's
 * ~p would fall back to a list of integers. */
static void sb_escaped(struct sb *s, struct view v)
{
    for (size_t i = 0; i < v.n; i++) {
        if (v.p[i] == '"' || v.p[i] == '\\')
            sb_printf(s, "\\%c", v.p[i]);
        else
            sb_printf(s, "%c", v.p[i]);
    }
}

/* ---- RabbitMQ's view of table values ---- */

/* How the decoded Erlang term looks, which decides equality (=:=). */
enum erl_kind { ERL_INT, ERL_FLOAT, ERL_BIN, ERL_BOOL, ERL_DEC, ERL_TABLE, ERL_ARRAY, ERL_VOID };

static enum erl_kind erl_kind(enum table_type t)
{
    switch (t) {
    case TABLE_I8:
    case TABLE_U8:
    case TABLE_I16:
    case TABLE_U16:
    case TABLE_I32:
    case TABLE_U32:
    case TABLE_I64:
    case TABLE_TIMESTAMP:
        return ERL_INT;
    case TABLE_FLOAT:
    case TABLE_DOUBLE:
        return ERL_FLOAT;
    case TABLE_LONGSTR:
    case TABLE_BYTES:
        return ERL_BIN;
    case TABLE_BOOL:
        return ERL_BOOL;
    case TABLE_DECIMAL:
        return ERL_DEC;
    case TABLE_TABLE:
        return ERL_TABLE;
    case TABLE_ARRAY:
        return ERL_ARRAY;
    case TABLE_VOID:
        return ERL_VOID;
    }
    return ERL_VOID;
}

/* An integer of any width and signedness as sign + magnitude. */
static void int_parts(const struct table_value *v, bool *neg, uint64_t *mag)
{
    switch (v->type) {
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
    case TABLE_TIMESTAMP:
        *neg = false;
        *mag = v->v.u;
        return;
    default:
        *neg = v->v.i < 0;
        *mag = *neg ? (uint64_t)0 - (uint64_t)v->v.i : (uint64_t)v->v.i;
        return;
    }
}

static double float_value(const struct table_value *v)
{
    return v->type == TABLE_FLOAT ? (double)v->v.f : v->v.d;
}

/*
 * Erlang term identity of two decoded values. RabbitMQ accepts a redeclare
 * argument when {Type, Value} is identical, or the type classes match and the
 * values are ==, or the bare values are =:= (rabbit_misc:assert_args_equivalence1
 * then assert_field_equivalence). All three reduce to: same term kind and the
 * same value (timestamp 5 and long 5 are both the integer 5; float and double
 * are both floats; longstr and binary are both binaries). Nested tables and
 * arrays are compared by their bytes.
 */
static bool erl_identical(const struct table_value *a, const struct table_value *b)
{
    enum erl_kind k = erl_kind(a->type);
    bool na, nb;
    uint64_t ma, mb;

    if (k != erl_kind(b->type))
        return false;
    switch (k) {
    case ERL_INT:
        int_parts(a, &na, &ma);
        int_parts(b, &nb, &mb);
        return na == nb && ma == mb;
    case ERL_FLOAT:
        return float_value(a) == float_value(b);
    case ERL_BIN:
        return view_eq(a->v.str, b->v.str);
    case ERL_BOOL:
        return a->v.b == b->v.b;
    case ERL_DEC:
        return a->v.dec.scale == b->v.dec.scale && a->v.dec.value == b->v.dec.value;
    case ERL_TABLE:
        return view_eq(a->v.table, b->v.table);
    case ERL_ARRAY:
        return view_eq(a->v.array, b->v.array);
    case ERL_VOID:
        return true;
    }
    return false;
}

/* ~p of a float: Erlang prints the shortest digits that read back, always
 * with a fraction (1.0, 0.1, 1.0e-5). Approximated with %g. */
static void sb_erl_float(struct sb *s, double d)
{
    char tmp[64], out[72];
    size_t j = 0;
    bool dot = false, exp = false;

    if (isnan(d) || isinf(d)) {
        sb_printf(s, "%s", isnan(d) ? "nan" : (d < 0 ? "-inf" : "inf"));
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    for (size_t i = 0; tmp[i] && j + 3 < sizeof(out); i++) {
        char c = tmp[i];
        if (c == '.')
            dot = true;
        if (c == 'e') {
            if (!dot) {
                out[j++] = '.';
                out[j++] = '0';
            }
            exp = true;
            out[j++] = 'e';
            if (tmp[i + 1] == '+')
                i++;
            /* Erlang writes e-5, not e-05. */
            if (tmp[i + 1] == '-') {
                out[j++] = '-';
                i++;
            }
            while (tmp[i + 1] == '0' && tmp[i + 2])
                i++;
            continue;
        }
        out[j++] = c;
    }
    if (!dot && !exp) {
        out[j++] = '.';
        out[j++] = '0';
    }
    out[j] = '\0';
    sb_printf(s, "%s", out);
}

static void sb_erl_binary(struct sb *s, struct view v)
{
    if (printable(v)) {
        sb_printf(s, "<<\"");
        sb_escaped(s, v);
        sb_printf(s, "\">>");
        return;
    }
    sb_printf(s, "<<");
    for (size_t i = 0; i < v.n; i++)
        sb_printf(s, "%s%u", i ? "," : "", v.p[i]);
    sb_printf(s, ">>");
}

static void sb_erl_value(struct sb *s, const struct table_value *v, unsigned depth);

static void sb_erl_table(struct sb *s, struct view t, bool array, unsigned depth)
{
    struct table_iter it;
    struct table_value v;
    struct view key;
    bool first = true;

    sb_printf(s, "[");
    table_iter_init(&it, t);
    while (array ? table_array_next(&it, &v) : table_next(&it, &key, &v)) {
        sb_printf(s, "%s{", first ? "" : ",");
        first = false;
        if (!array) {
            sb_erl_binary(s, key);
            sb_printf(s, ",");
        }
        sb_printf(s, "%s,", table_type_name(v.type));
        sb_erl_value(s, &v, depth + 1);
        sb_printf(s, "}");
    }
    sb_printf(s, "]");
}

/* ~tp of a decoded value as an Erlang term (on one line; Erlang would wrap
 * terms longer than 80 columns). */
static void sb_erl_value(struct sb *s, const struct table_value *v, unsigned depth)
{
    bool neg;
    uint64_t mag;

    if (depth > TABLE_MAX_DEPTH) {
        sb_printf(s, "...");
        return;
    }
    switch (erl_kind(v->type)) {
    case ERL_INT:
        int_parts(v, &neg, &mag);
        sb_printf(s, "%s%" PRIu64, neg ? "-" : "", mag);
        return;
    case ERL_FLOAT:
        sb_erl_float(s, float_value(v));
        return;
    case ERL_BIN:
        sb_erl_binary(s, v->v.str);
        return;
    case ERL_BOOL:
        sb_printf(s, "%s", v->v.b ? "true" : "false");
        return;
    case ERL_DEC:
        /* rabbit_binary_parser reads the value as 32-bit unsigned. */
        sb_printf(s, "{%u,%" PRIu32 "}", v->v.dec.scale, (uint32_t)v->v.dec.value);
        return;
    case ERL_TABLE:
        sb_erl_table(s, v->v.table, false, depth);
        return;
    case ERL_ARRAY:
        sb_erl_table(s, v->v.array, true, depth);
        return;
    case ERL_VOID:
        sb_printf(s, "undefined");
        return;
    }
}

/* ---- validation ---- */

enum arg_id {
    ARG_EXPIRES,
    ARG_MESSAGE_TTL,
    ARG_DLX,
    ARG_DLRK,
    ARG_DLX_STRATEGY,
    ARG_MAX_LENGTH,
    ARG_MAX_LENGTH_BYTES,
    ARG_MAX_IN_MEMORY_LENGTH,
    ARG_MAX_IN_MEMORY_BYTES,
    ARG_MAX_PRIORITY,
    ARG_OVERFLOW,
    ARG_QUEUE_MODE,
    ARG_QUEUE_VERSION,
    ARG_SINGLE_ACTIVE,
    ARG_QUEUE_TYPE,
    ARG_QUORUM_INITIAL_GROUP_SIZE,
    ARG_MAX_AGE,
    ARG_STREAM_MAX_SEGMENT_SIZE,
    ARG_INITIAL_CLUSTER_SIZE,
    ARG_LEADER_LOCATOR,
    ARG_MASTER_LOCATOR,
    ARG_DELIVERY_LIMIT,
};

/* Which queue types list an argument in their capabilities' queue_arguments. */
#define T_CLASSIC (1u << 0)
#define T_QUORUM (1u << 1)
#define T_STREAM (1u << 2)

struct arg_spec {
    const char *key;
    enum arg_id id;
    unsigned types;
    bool validated; /* has a validator in declare_args/0 */
};

/*
 * Every argument some queue type accepts, with validators in the order of
 * rabbit_amqqueue:declare_args/0 (the first failing one is reported), then
 * the arguments that have no validator. Stream-only validators are never run
 * because stream queues are refused before.
 */
static const struct arg_spec arg_specs[] = {
    {"x-expires", ARG_EXPIRES, T_CLASSIC | T_QUORUM, true},
    {"x-message-ttl", ARG_MESSAGE_TTL, T_CLASSIC | T_QUORUM, true},
    {"x-dead-letter-exchange", ARG_DLX, T_CLASSIC | T_QUORUM, true},
    {"x-dead-letter-routing-key", ARG_DLRK, T_CLASSIC | T_QUORUM, true},
    {"x-dead-letter-strategy", ARG_DLX_STRATEGY, T_QUORUM, true},
    {"x-max-length", ARG_MAX_LENGTH, T_CLASSIC | T_QUORUM, true},
    {"x-max-length-bytes", ARG_MAX_LENGTH_BYTES, T_CLASSIC | T_QUORUM | T_STREAM, true},
    {"x-max-in-memory-length", ARG_MAX_IN_MEMORY_LENGTH, T_QUORUM, true},
    {"x-max-in-memory-bytes", ARG_MAX_IN_MEMORY_BYTES, T_QUORUM, true},
    {"x-max-priority", ARG_MAX_PRIORITY, T_CLASSIC, true},
    {"x-overflow", ARG_OVERFLOW, T_CLASSIC | T_QUORUM, true},
    {"x-queue-mode", ARG_QUEUE_MODE, T_CLASSIC, true},
    {"x-queue-version", ARG_QUEUE_VERSION, T_CLASSIC, true},
    {"x-single-active-consumer", ARG_SINGLE_ACTIVE, T_CLASSIC | T_QUORUM | T_STREAM, true},
    {"x-queue-type", ARG_QUEUE_TYPE, T_CLASSIC | T_QUORUM | T_STREAM, true},
    {"x-quorum-initial-group-size", ARG_QUORUM_INITIAL_GROUP_SIZE, T_QUORUM, true},
    {"x-max-age", ARG_MAX_AGE, T_STREAM, true},
    {"x-stream-max-segment-size-bytes", ARG_STREAM_MAX_SEGMENT_SIZE, T_STREAM, true},
    {"x-initial-cluster-size", ARG_INITIAL_CLUSTER_SIZE, T_STREAM, true},
    {"x-queue-leader-locator", ARG_LEADER_LOCATOR, T_CLASSIC | T_QUORUM | T_STREAM, true},
    {"x-queue-master-locator", ARG_MASTER_LOCATOR, T_CLASSIC, false},
    {"x-delivery-limit", ARG_DELIVERY_LIMIT, T_QUORUM, false},
};

/* The keys assert_args_equivalence compares: each type's queue_arguments, in
 * its order. */
static const char *const classic_equiv_keys[] = {
    "x-expires",
    "x-message-ttl",
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-priority",
    "x-overflow",
    "x-queue-mode",
    "x-queue-version",
    "x-single-active-consumer",
    "x-queue-type",
    "x-queue-master-locator",
    "x-queue-leader-locator",
};

static const char *const quorum_equiv_keys[] = {
    "x-dead-letter-exchange",
    "x-dead-letter-routing-key",
    "x-dead-letter-strategy",
    "x-expires",
    "x-max-length",
    "x-max-length-bytes",
    "x-max-in-memory-length",
    "x-max-in-memory-bytes",
    "x-overflow",
    "x-single-active-consumer",
    "x-queue-type",
    "x-quorum-initial-group-size",
    "x-delivery-limit",
    "x-message-ttl",
    "x-queue-leader-locator",
};

const char *queue__type_module(enum queue__type type)
{
    return type == QUEUE__TYPE_QUORUM ? "rabbit_quorum_queue" : "rabbit_classic_queue";
}

static const struct arg_spec *find_spec(struct view key)
{
    for (size_t i = 0; i < ARRAY_LEN(arg_specs); i++)
        if (view_eq_str(key, arg_specs[i].key))
            return &arg_specs[i];
    return NULL;
}

static bool str_in(struct view v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (view_eq_str(v, set[i]))
            return true;
    return false;
}

/* check_int_arg/2: any integer type; the error is a string, hence quoted. */
static bool want_int(const struct table_value *v, int64_t *out, struct sb *r)
{
    if (table_value_as_i64(v, out))
        return true;
    sb_printf(r, "\"expected integer, got %s\"", table_type_name(v->type));
    return false;
}

/* check_non_neg_int_arg/2. */
static bool want_non_neg(const struct table_value *v, int64_t *out, struct sb *r)
{
    if (!want_int(v, out, r))
        return false;
    if (*out >= 0)
        return true;
    sb_printf(r, "{value_negative,%" PRId64 "}", *out);
    return false;
}

/* rabbit_misc:check_expiry/1. */
static bool want_expiry(int64_t i, struct sb *r)
{
    if (i < 0) {
        sb_printf(r, "{value_negative,%" PRId64 "}", i);
        return false;
    }
    if (i > MAX_EXPIRY_MS) {
        sb_printf(r, "{value_too_large,%" PRId64 "}", i);
        return false;
    }
    return true;
}

/* Validators of string-valued arguments refuse other types with this. */
static bool want_longstr(const struct table_value *v, struct sb *r)
{
    if (v->type == TABLE_LONGSTR)
        return true;
    sb_printf(r, "{unacceptable_type,%s}", table_type_name(v->type));
    return false;
}

static bool want_positive_size(const struct table_value *v, struct sb *r)
{
    int64_t i;

    if (!want_non_neg(v, &i, r))
        return false;
    if (i != 0)
        return true;
    sb_printf(r, "{value_zero,0}");
    return false;
}

static const char *const overflow_modes[] = {"drop-head", "reject-publish", "reject-publish-dlx"};
static const char *const queue_modes[] = {"default", "lazy"};
static const char *const dlx_strategies[] = {"at-most-once", "at-least-once"};
static const char *const leader_locators[] = {"client-local", "balanced"};
static const char *const known_queue_types[] = {"classic", "quorum", "stream"};

/* One argument's validator (rabbit_amqqueue check_*_arg); on success stores
 * the parsed value in *a. t is the whole table (for x-dead-letter-routing-key,
 * which needs x-dead-letter-exchange). */
static bool validate(enum arg_id id, const struct table_value *v, struct view t,
                     struct queue__args *a, struct sb *r)
{
    struct table_value other;
    int64_t i;

    switch (id) {
    case ARG_EXPIRES:
        if (!want_int(v, &i, r))
            return false;
        if (i == 0) {
            sb_printf(r, "{value_zero,0}");
            return false;
        }
        if (!want_expiry(i, r))
            return false;
        a->expires = i;
        return true;
    case ARG_MESSAGE_TTL:
        if (!want_int(v, &i, r) || !want_expiry(i, r))
            return false;
        a->message_ttl = i;
        return true;
    case ARG_DLX:
        if (!want_longstr(v, r))
            return false;
        a->has_dlx = true;
        a->dlx = v->v.str;
        return true;
    case ARG_DLRK:
        if (!want_longstr(v, r))
            return false;
        if (!table_get(t, "x-dead-letter-exchange", &other)) {
            sb_printf(r, "routing_key_but_no_dlx_defined");
            return false;
        }
        a->has_dlrk = true;
        a->dlrk = v->v.str;
        return true;
    case ARG_DLX_STRATEGY:
        if (!want_longstr(v, r))
            return false;
        if (!str_in(v->v.str, dlx_strategies, ARRAY_LEN(dlx_strategies))) {
            sb_printf(r, "invalid_dlx_strategy");
            return false;
        }
        a->dlx_at_least_once = view_eq_str(v->v.str, "at-least-once");
        return true;
    case ARG_MAX_LENGTH:
        if (!want_non_neg(v, &i, r))
            return false;
        a->max_length = i;
        return true;
    case ARG_MAX_LENGTH_BYTES:
        if (!want_non_neg(v, &i, r))
            return false;
        a->max_length_bytes = i;
        return true;
    case ARG_MAX_IN_MEMORY_LENGTH:
    case ARG_MAX_IN_MEMORY_BYTES:
    case ARG_STREAM_MAX_SEGMENT_SIZE:
        return want_non_neg(v, &i, r);
    case ARG_MAX_PRIORITY:
        if (!want_non_neg(v, &i, r))
            return false;
        if (i > MAX_SUPPORTED_PRIORITY) {
            sb_printf(r, "{max_value_exceeded,%" PRId64 "}", i);
            return false;
        }
        a->has_max_priority = true;
        a->max_priority = (uint8_t)i;
        return true;
    case ARG_OVERFLOW:
        if (!want_longstr(v, r))
            return false;
        if (view_eq_str(v->v.str, overflow_modes[0]))
            a->overflow = QUEUE__OVERFLOW_DROP_HEAD;
        else if (view_eq_str(v->v.str, overflow_modes[1]))
            a->overflow = QUEUE__OVERFLOW_REJECT_PUBLISH;
        else if (view_eq_str(v->v.str, overflow_modes[2]))
            a->overflow = QUEUE__OVERFLOW_REJECT_PUBLISH_DLX;
        else {
            sb_printf(r, "invalid_overflow");
            return false;
        }
        return true;
    case ARG_QUEUE_MODE:
        if (!want_longstr(v, r))
            return false;
        if (!str_in(v->v.str, queue_modes, ARRAY_LEN(queue_modes))) {
            sb_printf(r, "\"unsupported queue mode '");
            sb_escaped(r, v->v.str);
            sb_printf(r, "'\"");
            return false;
        }
        return true;
    case ARG_QUEUE_VERSION:
        if (!want_non_neg(v, &i, r))
            return false;
        if (i != 1 && i != 2) {
            sb_printf(r, "\"unsupported queue version '%" PRId64 "'\"", i);
            return false;
        }
        return true;
    case ARG_SINGLE_ACTIVE:
        if (v->type != TABLE_BOOL) {
            sb_printf(r, "{unacceptable_type,%s}", table_type_name(v->type));
            return false;
        }
        a->single_active = v->v.b;
        return true;
    case ARG_QUEUE_TYPE:
        if (!want_longstr(v, r))
            return false;
        if (!str_in(v->v.str, known_queue_types, ARRAY_LEN(known_queue_types))) {
            sb_printf(r, "\"unsupported queue type '");
            sb_escaped(r, v->v.str);
            sb_printf(r, "'\"");
            return false;
        }
        return true;
    case ARG_QUORUM_INITIAL_GROUP_SIZE:
    case ARG_INITIAL_CLUSTER_SIZE:
        return want_positive_size(v, r);
    case ARG_LEADER_LOCATOR:
        if (!want_longstr(v, r))
            return false;
        if (!str_in(v->v.str, leader_locators, ARRAY_LEN(leader_locators))) {
            sb_printf(r, "invalid_queue_locator_arg");
            return false;
        }
        return true;
    case ARG_MAX_AGE:
        /* Stream only; streams are refused before validators run. */
        return true;
    case ARG_MASTER_LOCATOR:
        return true;
    case ARG_DELIVERY_LIMIT:
        /* No validator in RabbitMQ: any value is accepted. rabbit_fifo
         * compares the return count with it as an Erlang term: a number is a
         * limit (a float f acts as floor(f): counts are integers), anything
         * else sorts above every number and never limits. */
        a->delivery_limit_given = true;
        if (table_value_as_i64(v, &i)) {
            a->has_delivery_limit = true;
            a->delivery_limit = i;
        } else if (v->type == TABLE_FLOAT || v->type == TABLE_DOUBLE) {
            double d = float_value(v);
            if (d >= -9.2e18 && d <= 9.2e18) {
                a->has_delivery_limit = true;
                a->delivery_limit = (int64_t)floor(d);
            }
        }
        return true;
    }
    return true;
}

static int invalid_arg(struct proto_err *err, const char *key, const char *vhost, const char *name,
                       const char *reason)
{
    return err_set(err, SPEC_PRECONDITION_FAILED,
                   "invalid arg '%s' for queue '%s' in vhost '%s': %s", key, name, vhost, reason);
}

int queue__args_parse(struct queue__args *a, struct view t, const char *vhost, const char *name,
                      struct proto_err *err)
{
    char reason[256];
    struct sb r;
    struct table_value v;
    struct table_iter it;
    struct view key;
    unsigned type_bit = T_CLASSIC;

    memset(a, 0, sizeof(*a));
    a->type = QUEUE__TYPE_CLASSIC;
    a->overflow = QUEUE__OVERFLOW_DROP_HEAD;
    a->message_ttl = -1;
    a->expires = -1;
    a->max_length = -1;
    a->max_length_bytes = -1;
    a->delivery_limit = -1;
    sb_init(&r, reason, sizeof(reason));

    /* x-queue-type is checked first: it selects the rest. */
    if (table_get(t, "x-queue-type", &v)) {
        if (!validate(ARG_QUEUE_TYPE, &v, t, a, &r))
            return invalid_arg(err, "x-queue-type", vhost, name, reason);
        if (view_eq_str(v.v.str, "quorum")) {
            a->type = QUEUE__TYPE_QUORUM;
            type_bit = T_QUORUM;
        } else if (view_eq_str(v.v.str, "stream")) {
            /* Streams (append-only logs read by offset) are not implemented.
             * Refusing with RabbitMQ's text for an unknown type tells the
             * client plainly, where a silent classic queue would not. */
            sb_printf(&r, "\"unsupported queue type 'stream'\"");
            return invalid_arg(err, "x-queue-type", vhost, name, reason);
        }
    }

    for (size_t i = 0; i < ARRAY_LEN(arg_specs); i++) {
        const struct arg_spec *s = &arg_specs[i];

        if (!(s->types & type_bit) || !table_get(t, s->key, &v))
            continue;
        if (!validate(s->id, &v, t, a, &r))
            return invalid_arg(err, s->key, vhost, name, reason);
    }

    /* Arguments of other queue types (check_arguments_key/4), in table order. */
    table_iter_init(&it, t);
    while (table_next(&it, &key, &v)) {
        const struct arg_spec *s = find_spec(key);

        if (s && !(s->types & type_bit))
            return err_set(err, SPEC_PRECONDITION_FAILED,
                           "invalid arg '%s' for queue '%s' in vhost '%s' of queue type %s", s->key,
                           name, vhost, queue__type_module(a->type));
    }
    return 0;
}

/* ---- equivalence ---- */

/* rabbit_misc:val/1 for a {Type, Value} pair or for none. */
static void sb_val_typed(struct sb *s, const struct table_value *v)
{
    if (!v) {
        sb_printf(s, "none");
        return;
    }
    sb_printf(s, "the value '");
    if (erl_kind(v->type) == ERL_BIN)
        sb_bytes(s, v->v.str);
    else
        sb_erl_value(s, v, 0);
    sb_printf(s, "' of type '%s'", table_type_name(v->type));
}

/* rabbit_misc:val/1 for a bare value. */
static void sb_val_bare(struct sb *s, const struct table_value *v)
{
    sb_printf(s, "'");
    if (erl_kind(v->type) == ERL_BIN)
        sb_bytes(s, v->v.str);
    else
        sb_erl_value(s, v, 0);
    sb_printf(s, "'");
}

int queue__args_check_equivalent(enum queue__type type, struct view cur_args, struct view new_args,
                                 const char *vhost, const char *name, struct proto_err *err)
{
    const char *const *keys = classic_equiv_keys;
    size_t n = ARRAY_LEN(classic_equiv_keys);
    char recv[256], cur[256];
    struct sb rs, cs;

    if (type == QUEUE__TYPE_QUORUM) {
        keys = quorum_equiv_keys;
        n = ARRAY_LEN(quorum_equiv_keys);
    }
    for (size_t i = 0; i < n; i++) {
        struct table_value ov, nv;
        bool has_o = table_get(cur_args, keys[i], &ov);
        bool has_n = table_get(new_args, keys[i], &nv);

        if (!has_o && !has_n)
            continue;
        sb_init(&rs, recv, sizeof(recv));
        sb_init(&cs, cur, sizeof(cur));
        if (has_o && has_n) {
            if (erl_identical(&ov, &nv))
                continue;
            sb_val_bare(&rs, &nv);
            sb_val_bare(&cs, &ov);
        } else {
            /* A classic queue may be declared with or without
             * x-queue-type=classic (rabbitmq-common#341). */
            const struct table_value *one = has_o ? &ov : &nv;
            if (strcmp(keys[i], "x-queue-type") == 0 && one->type == TABLE_LONGSTR &&
                view_eq_str(one->v.str, "classic"))
                continue;
            sb_val_typed(&rs, has_n ? &nv : NULL);
            sb_val_typed(&cs, has_o ? &ov : NULL);
        }
        return err_set(err, SPEC_PRECONDITION_FAILED,
                       "inequivalent arg '%s' for queue '%s' in vhost '%s': received %s but "
                       "current is %s",
                       keys[i], name, vhost, recv, cur);
    }
    return 0;
}
