/* SPDX-License-Identifier: MIT */
/*
 * list: RabbitMQ's list query parameters (rabbit_mgmt_util:reply_list and
 * filter_and_paginate): sort, sort_reverse, columns, and page / page_size /
 * name / use_regex pagination.
 */
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgmt/mgmt_int.h"

#define PAGE_SIZE_DEFAULT 100
#define PAGE_SIZE_MAX 500

/* Looks up a dotted key ("message_stats.publish"). */
static json_t *get_path(json_t *o, const char *path)
{
    char part[256];

    while (o && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        o = json_object_get(o, part);
        path += n + (dot ? 1 : 0);
    }
    return o;
}

/* qsort has no context argument; everything runs on the loop thread. */
static const char *const *sort_keys;
static size_t n_sort_keys;

/* Erlang term order as RabbitMQ compares values: numbers < atoms (null,
 * booleans) < strings; missing values sort first. */
static int rank(const json_t *v)
{
    if (!v)
        return 0;
    if (json_is_number(v))
        return 1;
    if (json_is_string(v))
        return 3;
    return 2;
}

static int cmp_values(const json_t *a, const json_t *b)
{
    int ra = rank(a), rb = rank(b);

    if (ra != rb)
        return ra < rb ? -1 : 1;
    if (ra == 1) {
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y;
    }
    if (ra == 3)
        return strcmp(json_string_value(a), json_string_value(b));
    return 0;
}

static int cmp_items(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;

    for (size_t i = 0; i < n_sort_keys; i++) {
        int c = cmp_values(get_path(a, sort_keys[i]), get_path(b, sort_keys[i]));
        if (c)
            return c;
    }
    return 0;
}

void mgmt_columns(json_t *obj, const char *columns)
{
    json_t *out = json_object();
    char *copy = xstrdup(columns), *save = NULL;

    for (char *col = strtok_r(copy, ",", &save); col; col = strtok_r(NULL, ",", &save)) {
        /* Rebuild the nested path in out (RabbitMQ keeps the nesting). */
        json_t *src = obj, *dst = out;
        char *dsave = NULL, *part = strtok_r(col, ".", &dsave);
        while (part && src) {
            char *next = strtok_r(NULL, ".", &dsave);
            json_t *v = json_object_get(src, part);
            if (!v)
                break;
            if (!next) {
                json_object_set(dst, part, v);
            } else {
                json_t *sub = json_object_get(dst, part);
                if (!json_is_object(sub)) {
                    sub = json_object();
                    json_object_set_new(dst, part, sub);
                }
                dst = sub;
            }
            src = v;
            part = next;
        }
    }
    free(copy);
    json_object_clear(obj);
    json_object_update(obj, out);
    json_decref(out);
}

static bool parse_uint(const char *s, long *out)
{
    char *end;
    long v;

    if (!*s)
        return false;
    v = strtol(s, &end, 10);
    if (*end || v < 0)
        return false;
    *out = v;
    return true;
}

/* Case-insensitive substring, as RabbitMQ's non-regex name filter. */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return true;
    return n == 0;
}

void mgmt_reply_list(struct mgmt_req *r, json_t *arr)
{
    static const char *const default_keys[] = {"vhost", "name"};
    char sort[256], columns[2048], page_s[32], size_s[32], name[512], regex_s[16];
    bool paged = mgmt_query(r, "page", page_s, sizeof(page_s));
    bool has_size = mgmt_query(r, "page_size", size_s, sizeof(size_s));
    const char *one_key[1];
    size_t n = json_array_size(arr), kept = 0;
    json_t **items = xcalloc(n ? n : 1, sizeof(*items));
    long page = 1, page_size = PAGE_SIZE_DEFAULT;
    regex_t re;
    bool use_re = false, has_name;
    json_t *out;

    if (paged) {
        bool ok = parse_uint(page_s, &page) && page >= 1;
        char reason[200];
        if (has_size)
            ok = ok && parse_uint(size_s, &page_size) && page_size >= 1 &&
                 page_size <= PAGE_SIZE_MAX;
        if (!ok) {
            snprintf(reason, sizeof(reason),
                     "Invalid pagination parameters: page number %s, page size %s", page_s,
                     has_size ? size_s : "undefined");
            mgmt_reply_error(r, 400, "invalid_pagination_parameters", reason);
            free(items);
            json_decref(arr);
            return;
        }
    }
    has_name = paged && mgmt_query(r, "name", name, sizeof(name)) && name[0];
    if (has_name && mgmt_query(r, "use_regex", regex_s, sizeof(regex_s)) &&
        strcmp(regex_s, "true") == 0) {
        if (regcomp(&re, name, REG_EXTENDED | REG_NOSUB) != 0) {
            mgmt_reply_bad_request(r, "invalid regular expression in name");
            free(items);
            json_decref(arr);
            return;
        }
        use_re = true;
    }

    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(arr, i);
        if (has_name) {
            const char *nm = json_string_value(json_object_get(it, "name"));
            if (!nm || (use_re ? regexec(&re, nm, 0, NULL, 0) != 0 : !contains_ci(nm, name)))
                continue;
        }
        items[kept++] = it;
    }
    if (use_re)
        regfree(&re);

    if (mgmt_query(r, "sort", sort, sizeof(sort)) && sort[0]) {
        one_key[0] = sort;
        sort_keys = one_key;
        n_sort_keys = 1;
        qsort(items, kept, sizeof(*items), cmp_items);
    } else if (!r->presorted) {
        sort_keys = default_keys;
        n_sort_keys = ARRAY_LEN(default_keys);
        qsort(items, kept, sizeof(*items), cmp_items);
    }
    if (mgmt_query_true(r, "sort_reverse"))
        for (size_t i = 0; i < kept / 2; i++) {
            json_t *t = items[i];
            items[i] = items[kept - 1 - i];
            items[kept - 1 - i] = t;
        }

    out = json_array();
    {
        size_t from = paged ? (size_t)(page - 1) * (size_t)page_size : 0;
        size_t to = paged ? from + (size_t)page_size : kept;
        bool cols = mgmt_query(r, "columns", columns, sizeof(columns)) && columns[0];
        if (to > kept)
            to = kept;
        for (size_t i = from; i < to; i++) {
            if (cols)
                mgmt_columns(items[i], columns);
            json_array_append(out, items[i]);
        }
    }
    if (paged) {
        size_t pages = (kept + (size_t)page_size - 1) / (size_t)page_size;
        out = json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "filtered_count", (json_int_t)kept,
                        "item_count", (json_int_t)json_array_size(out), "items", out, "page",
                        (json_int_t)page, "page_count", (json_int_t)(pages ? pages : 1),
                        "page_size", (json_int_t)page_size, "total_count", (json_int_t)n);
    }
    free(items);
    json_decref(arr);
    mgmt_reply(r, 200, out);
}
