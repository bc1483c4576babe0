/* SPDX-License-Identifier: MIT */
/*
 * jsonw: JSON written straight into a buffer, for the lists that are too big
 * to go through jansson objects (10,000 queues: one object per field would be
 * half a million allocations). The output is what json_dumps(JSON_COMPACT)
 * writes for the same values: no spaces, the same escapes, reals with 17
 * significant digits and a ".0" when they would read as integers.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/mgmt_int.h"

void mgmt_jw_raw(struct buf *b, const char *s)
{
    mgmt_jw_put(b, s, strlen(s));
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0: RFC 3629,
 * no overlong forms, no surrogates, nothing above U+10FFFF (as jansson). */
static size_t utf8_len(const uint8_t *p, size_t n)
{
    uint32_t cp;
    size_t len;

    if (p[0] < 0x80)
        return 1;
    if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2, cp = p[0] & 0x1Fu;
    else if ((p[0] & 0xF0) == 0xE0)
        len = 3, cp = p[0] & 0x0Fu;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4, cp = p[0] & 0x07u;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

void mgmt_jw_str(struct buf *b, struct view s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t run = 0; /* start of the bytes not yet copied */

    mgmt_jw_put(b, "\"", 1);
    for (size_t i = 0; i < s.n;) {
        uint8_t c = s.p[i];
        size_t len;
        char esc[8];
        size_t elen = 0;

        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0x80 && (len = utf8_len(s.p + i, s.n - i)) != 0) {
            i += len;
            continue;
        }
        mgmt_jw_put(b, s.p + run, i - run);
        if (c == '"' || c == '\\') {
            esc[elen++] = '\\';
            esc[elen++] = (char)c;
        } else if (c < 0x20) {
            const char *named = c == '\b'   ? "\\b"
                                : c == '\f' ? "\\f"
                                : c == '\n' ? "\\n"
                                : c == '\r' ? "\\r"
                                : c == '\t' ? "\\t"
                                            : NULL;
            if (named) {
                memcpy(esc, named, 2);
                elen = 2;
            } else {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                elen = 6;
            }
        } else {
            /* Not UTF-8: U+FFFD, as json_table_string_new does. */
            memcpy(esc, "\xEF\xBF\xBD", 3);
            elen = 3;
        }
        mgmt_jw_put(b, esc, elen);
        run = ++i;
    }
    mgmt_jw_put(b, s.p + run, s.n - run);
    mgmt_jw_put(b, "\"", 1);
}

void mgmt_jw_int(struct buf *b, long long v)
{
    char s[24], *p = s + sizeof(s);
    /* Negate as unsigned: -LLONG_MIN does not fit a long long. */
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    mgmt_jw_put(b, p, (size_t)(s + sizeof(s) - p));
}

void mgmt_jw_real(struct buf *b, double d)
{
    char s[40], *e;
    size_t n;

    if (d == 0.0 && !signbit(d)) { /* most rates */
        mgmt_jw_put(b, "0.0", 3);
        return;
    }
    n = (size_t)snprintf(s, sizeof(s), "%.17g", d);

    /* jansson's jsonp_dtostr: no '+' and no leading zeros in the exponent
     * ("1e+05" -> "1e5", "1e-07" -> "1e-7"), and ".0" on a real that would
     * read back as an integer. */
    if ((e = strchr(s, 'e')) != NULL) {
        char *from = e + 1, *to = e + 1;
        if (*from == '-')
            from++, to++;
        else if (*from == '+')
            from++;
        while (*from == '0' && from[1])
            from++;
        memmove(to, from, strlen(from) + 1);
        n = strlen(s);
    }
    mgmt_jw_put(b, s, n);
    if (strspn(s, "0123456789-") == n)
        mgmt_jw_put(b, ".0", 2);
}

void mgmt_jw_json(struct buf *b, const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);

    if (s) {
        buf_append(b, s, strlen(s));
        free(s);
    } else {
        buf_append(b, "null", 4);
    }
}
