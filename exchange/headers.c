/* SPDX-License-Identifier: MIT */
/*
 * headers: bindings match on message headers instead of the routing key
 * (0-9-1 §3.1.3.4), with RabbitMQ 3.13+/4.x semantics
 * (rabbit_exchange_type_headers.erl, mc_amqpl:routing_headers/2):
 *
 * - x-match is the first "x-match" entry of the binding args. longstr "any",
 *   "any-with-x" and "all-with-x" select those modes; anything else, absent
 *   or not a longstr, means "all". Bind refuses a longstr other than the four
 *   names and any non-longstr x-match (406).
 * - Each other binding entry is a test. Keys starting with "x-" are skipped,
 *   except in the -with-x modes, which skip only "x-match" itself. "all" with
 *   no tests matches every message, "any" with none matches nothing.
 * - A void ('V') binding value tests that the header is present, with any
 *   value (void included). Any other value must equal the header's value as
 *   Erlang terms (=:=), so the field type does not matter within a family:
 *   integers of every width compare by value (1 as 'b' equals 1 as 'l'),
 *   longstr and byte array ('S', 'x') compare by bytes, float and double
 *   by value, but an integer never equals a float, and a decimal only a
 *   decimal. Tables and arrays compare entry by entry with exact types (the
 *   decoded form keeps type tags inside); an empty table equals an empty
 *   array, as both decode to [].
 * - Message headers behave as a map: when a key repeats, the last entry wins.
 *   A top-level timestamp header is compared in milliseconds (RabbitMQ
 *   multiplies it by 1000 for routing), while a binding's timestamp is not
 *   converted, so a timestamp binding value T matches header value T/1000.
 *
 * Matching allocates nothing: each test scans the headers table, so a binding
 * costs (tests x headers) per message.
 */
#include "exchange/exchange_int.h"

#include <inttypes.h>
#include <stdarg.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "amqp/spec_gen.h"

/* ---- x-match ---- */

int exch__headers_kind(struct view args)
{
    struct table_value v;

    if (!table_get(args, "x-match", &v) || v.type != TABLE_LONGSTR)
        return EXCH_HM_ALL;
    if (view_eq_str(v.v.str, "any"))
        return EXCH_HM_ANY;
    if (view_eq_str(v.v.str, "all-with-x"))
        return EXCH_HM_ALL_WITH_X;
    if (view_eq_str(v.v.str, "any-with-x"))
        return EXCH_HM_ANY_WITH_X;
    return EXCH_HM_ALL;
}

/* ---- Erlang ~tp formatting, for RabbitMQ's error texts ---- */

struct out {
    char *p;
    size_t cap, len; /* len may pass cap: the text is then truncated */
};

static void out_add(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_add(struct out *o, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(o->len < o->cap ? o->p + o->len : NULL, o->len < o->cap ? o->cap - o->len : 0,
                  fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

/* A binary as Erlang prints it: <<"text">> when every byte is printable
 * ASCII or has a string escape, otherwise as a list of byte values. Non-ASCII
 * text (which Erlang may print as latin-1 or /utf8) gets the byte form. */
static void fmt_binary(struct out *o, struct view v)
{
    static const char esc_from[] = "\"\\\n\r\t\v\b\f\033";
    static const char esc_to[] = "\"\\nrtvbfe";
    bool text = true;

    for (size_t i = 0; i < v.n && text; i++)
        text = (v.p[i] >= 32 && v.p[i] < 127) || (v.p[i] && strchr(esc_from, v.p[i]));
    if (!text) {
        out_add(o, "<<");
        for (size_t i = 0; i < v.n; i++)
            out_add(o, i ? ",%u" : "%u", (unsigned)v.p[i]);
        out_add(o, ">>");
        return;
    }
    out_add(o, "<<\"");
    for (size_t i = 0; i < v.n; i++) {
        const char *e = strchr(esc_from, v.p[i]);

        if (e)
            out_add(o, "\\%c", esc_to[e - esc_from]);
        else
            out_add(o, "%c", v.p[i]);
    }
    out_add(o, "\">>");
}

/* Shortest round-trip digits, written the way Erlang writes floats ("1.0",
 * "1.5e20"). */
static void fmt_float(struct out *o, double d)
{
    char tmp[40], *e;
    int prec;

    for (prec = 1; prec < 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d)
            break;
    }
    snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
    e = strchr(tmp, 'e');
    if (e) {
        int exp = atoi(e + 1);

        *e = '\0';
        out_add(o, strchr(tmp, '.') ? "%se%d" : "%s.0e%d", tmp, exp);
    } else {
        out_add(o, strchr(tmp, '.') ? "%s" : "%s.0", tmp);
    }
}

static void fmt_value(struct out *o, const struct table_value *v);

static void fmt_list(struct out *o, struct view t, bool is_array)
{
    struct table_iter it;
    struct table_value v;
    struct view key;
    bool first = true;

    out_add(o, "[");
    table_iter_init(&it, t);
    while (is_array ? table_array_next(&it, &v) : table_next(&it, &key, &v)) {
        out_add(o, first ? "{" : ",{");
        first = false;
        if (!is_array) {
            fmt_binary(o, key);
            out_add(o, ",");
        }
        out_add(o, "%s,", table_type_name(v.type));
        fmt_value(o, &v);
        out_add(o, "}");
    }
    out_add(o, "]");
}

/* A decoded value as rabbit_binary_parser represents it, printed with ~tp. */
static void fmt_value(struct out *o, const struct table_value *v)
{
    switch (v->type) {
    case TABLE_BOOL:
        out_add(o, "%s", v->v.b ? "true" : "false");
        break;
    case TABLE_I8:
    case TABLE_I16:
    case TABLE_I32:
    case TABLE_I64:
        out_add(o, "%" PRId64, v->v.i);
        break;
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
    case TABLE_TIMESTAMP:
        out_add(o, "%" PRIu64, v->v.u);
        break;
    case TABLE_FLOAT:
        fmt_float(o, (double)v->v.f);
        break;
    case TABLE_DOUBLE:
        fmt_float(o, v->v.d);
        break;
    case TABLE_DECIMAL:
        out_add(o, "{%u,%" PRIu32 "}", (unsigned)v->v.dec.scale, (uint32_t)v->v.dec.value);
        break;
    case TABLE_LONGSTR:
    case TABLE_BYTES:
        fmt_binary(o, v->v.str);
        break;
    case TABLE_VOID:
        out_add(o, "undefined");
        break;
    case TABLE_TABLE:
        fmt_list(o, v->v.table, false);
        break;
    case TABLE_ARRAY:
        fmt_list(o, v->v.array, true);
        break;
    }
}

/* rabbit_exchange_type_headers:validate_binding/2; rabbit_channel turns
 * binding_invalid into precondition_failed with the same text. */
static int headers_validate(struct view args, struct proto_err *err)
{
    struct table_value v;
    char text[sizeof(err->text)];
    struct out o = {text, sizeof(text), 0};

    if (!table_get(args, "x-match", &v))
        return 0;
    if (v.type == TABLE_LONGSTR) {
        if (view_eq_str(v.v.str, "all") || view_eq_str(v.v.str, "any") ||
            view_eq_str(v.v.str, "all-with-x") || view_eq_str(v.v.str, "any-with-x"))
            return 0;
        out_add(&o, "Invalid x-match field value ");
        fmt_binary(&o, v.v.str);
        out_add(&o, "; expected all, any, all-with-x, or any-with-x");
    } else {
        out_add(&o, "Invalid x-match field type %s (value ", table_type_name(v.type));
        fmt_value(&o, &v);
        out_add(&o, "); expected longstr");
    }
    return err_set(err, SPEC_PRECONDITION_FAILED, "%s", text);
}

/* ---- matching ---- */

/* The last entry for key: RabbitMQ folds the headers into a map. */
static bool header_find(struct view headers, struct view key, struct table_value *out)
{
    struct table_iter it;
    struct table_value v;
    struct view k;
    bool found = false;

    table_iter_init(&it, headers);
    while (table_next(&it, &k, &v)) {
        if (view_eq(k, key)) {
            *out = v;
            found = true;
        }
    }
    return found;
}

static double as_double(const struct table_value *v)
{
    return v->type == TABLE_FLOAT ? (double)v->v.f : v->v.d;
}

static bool is_float(const struct table_value *v)
{
    return v->type == TABLE_FLOAT || v->type == TABLE_DOUBLE;
}

static bool is_bin(const struct table_value *v)
{
    return v->type == TABLE_LONGSTR || v->type == TABLE_BYTES;
}

static bool is_list(const struct table_value *v)
{
    return v->type == TABLE_TABLE || v->type == TABLE_ARRAY;
}

/* Erlang =:= between a binding value bv (not void) and header value hv as
 * mc_amqpl:routing_headers/2 gives it (timestamps in milliseconds). */
static bool value_matches(const struct table_value *bv, const struct table_value *hv)
{
    bool nb, nh;
    uint64_t mb, mh;

    if (exch__int_of(bv, &nb, &mb)) {
        if (!exch__int_of(hv, &nh, &mh))
            return false;
        if (hv->type == TABLE_TIMESTAMP) {
            if (mh > UINT64_MAX / 1000)
                return false; /* beyond every 64-bit binding value */
            mh *= 1000;
        }
        return nb == nh && mb == mh;
    }
    if (is_bin(bv))
        return is_bin(hv) && view_eq(bv->v.str, hv->v.str);
    if (is_float(bv)) {
        double a = as_double(bv), b;

        if (!is_float(hv))
            return false;
        b = as_double(hv);
        return a == b && signbit(a) == signbit(b);
    }
    if (is_list(bv)) {
        if (!is_list(hv))
            return false;
        if (bv->type != hv->type) /* [] =:= [] only */
            return bv->v.table.n == 0 && hv->v.table.n == 0;
        return exch__value_eq(bv, hv);
    }
    /* bool, decimal: same type and value */
    return exch__value_eq(bv, hv);
}

bool exch__headers_match_kind(int kind, struct view args, struct view headers)
{
    bool any = kind == EXCH_HM_ANY || kind == EXCH_HM_ANY_WITH_X;
    bool with_x = kind == EXCH_HM_ALL_WITH_X || kind == EXCH_HM_ANY_WITH_X;
    struct table_iter it;
    struct table_value bv, hv;
    struct view key;

    table_iter_init(&it, args);
    while (table_next(&it, &key, &bv)) {
        bool ok;

        if (with_x ? view_eq_str(key, "x-match") : key.n >= 2 && memcmp(key.p, "x-", 2) == 0)
            continue;
        if (!header_find(headers, key, &hv))
            ok = false;
        else
            ok = bv.type == TABLE_VOID || value_matches(&bv, &hv);
        if (ok == any)
            return any; /* any: first hit wins; all: first miss loses */
    }
    return !any;
}

bool exch_headers_match(struct view binding_args, struct view headers)
{
    return exch__headers_match_kind(exch__headers_kind(binding_args), binding_args, headers);
}

/* ---- ops ---- */

static void headers_init(struct exch *x)
{
    x->tstate = xcalloc(1, sizeof(struct bvec));
}

static void headers_bind(struct exch *x, struct binding *b)
{
    b->hmatch = exch__headers_kind(b->args);
    exch__bvec_add(x->tstate, b);
}

static void headers_unbind(struct exch *x, struct binding *b)
{
    exch__bvec_del(x->tstate, b);
}

static void headers_route(struct exch *x, struct view key, struct view headers, struct route_ctx *c)
{
    const struct bvec *bv = x->tstate;

    (void)key;
    for (size_t i = 0; i < bv->n; i++)
        if (exch__headers_match_kind(bv->v[i]->hmatch, bv->v[i]->args, headers))
            exch__route_to(c, bv->v[i]);
}

static void headers_destroy(struct exch *x)
{
    exch__bvec_free(x->tstate);
    free(x->tstate);
    x->tstate = NULL;
}

const struct exch_ops exch__headers_ops = {
    .validate = headers_validate,
    .init = headers_init,
    .bind = headers_bind,
    .unbind = headers_unbind,
    .route = headers_route,
    .destroy = headers_destroy,
};
