/* SPDX-License-Identifier: MIT */
/*
 * list: RabbitMQ's list query parameters (rabbit_mgmt_util:reply_list and
 * filter_and_paginate): sort, sort_reverse, columns, and page / page_size /
 * name / use_regex pagination.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mgmt/mgmt_int.h"

#define PAGE_SIZE_DEFAULT 100
#define PAGE_SIZE_MAX 500

json_t *mgmt_json_path(json_t *o, const char *path)
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

int mgmt_json_cmp(const json_t *a, const json_t *b)
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
        int c = mgmt_json_cmp(mgmt_json_path(a, sort_keys[i]), mgmt_json_path(b, sort_keys[i]));
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

bool mgmt_list_begin(struct mgmt_req *r, struct mgmt_list *l)
{
    char page_s[32], size_s[32], regex_s[16];
    bool has_size;

    memset(l, 0, sizeof(*l));
    l->page = 1;
    l->page_size = PAGE_SIZE_DEFAULT;
    l->paged = mgmt_query(r, "page", page_s, sizeof(page_s));
    has_size = mgmt_query(r, "page_size", size_s, sizeof(size_s));
    if (l->paged) {
        bool ok = parse_uint(page_s, &l->page) && l->page >= 1;
        char reason[200];
        if (has_size)
            ok = ok && parse_uint(size_s, &l->page_size) && l->page_size >= 1 &&
                 l->page_size <= PAGE_SIZE_MAX;
        if (!ok) {
            snprintf(reason, sizeof(reason),
                     "Invalid pagination parameters: page number %s, page size %s", page_s,
                     has_size ? size_s : "undefined");
            mgmt_reply_error(r, 400, "invalid_pagination_parameters", reason);
            return false;
        }
    }
    l->has_name = l->paged && mgmt_query(r, "name", l->name, sizeof(l->name)) && l->name[0];
    if (l->has_name && mgmt_query(r, "use_regex", regex_s, sizeof(regex_s)) &&
        strcmp(regex_s, "true") == 0) {
        if (regcomp(&l->re, l->name, REG_EXTENDED | REG_NOSUB) != 0) {
            mgmt_reply_bad_request(r, "invalid regular expression in name");
            return false;
        }
        l->use_re = true;
    }
    l->has_sort = mgmt_query(r, "sort", l->sort, sizeof(l->sort)) && l->sort[0];
    l->reverse = mgmt_query_true(r, "sort_reverse");
    l->has_columns = mgmt_query(r, "columns", l->columns, sizeof(l->columns)) && l->columns[0];
    return true;
}

void mgmt_list_end(struct mgmt_list *l)
{
    if (l->use_re)
        regfree(&l->re);
    l->use_re = false;
}

bool mgmt_list_name_matches(const struct mgmt_list *l, const char *name)
{
    if (!l->has_name)
        return true;
    if (!name)
        return false;
    return l->use_re ? regexec(&l->re, name, 0, NULL, 0) == 0 : contains_ci(name, l->name);
}

void mgmt_list_page(const struct mgmt_list *l, size_t kept, size_t *from, size_t *to)
{
    *from = l->paged ? (size_t)(l->page - 1) * (size_t)l->page_size : 0;
    *to = l->paged ? *from + (size_t)l->page_size : kept;
    if (*to > kept)
        *to = kept;
    if (*from > *to)
        *from = *to;
}

void mgmt_reply_list(struct mgmt_req *r, json_t *arr)
{
    static const char *const default_keys[] = {"vhost", "name"};
    const char *one_key[1];
    size_t n = json_array_size(arr), kept = 0, from, to;
    json_t **items;
    struct mgmt_list l;
    json_t *out;

    if (!mgmt_list_begin(r, &l)) {
        json_decref(arr);
        return;
    }
    items = xcalloc(n ? n : 1, sizeof(*items));
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(arr, i);
        if (l.has_name &&
            !mgmt_list_name_matches(&l, json_string_value(json_object_get(it, "name"))))
            continue;
        items[kept++] = it;
    }

    if (l.has_sort) {
        one_key[0] = l.sort;
        sort_keys = one_key;
        n_sort_keys = 1;
        qsort(items, kept, sizeof(*items), cmp_items);
    } else {
        sort_keys = default_keys;
        n_sort_keys = ARRAY_LEN(default_keys);
        qsort(items, kept, sizeof(*items), cmp_items);
    }
    if (l.reverse)
        for (size_t i = 0; i < kept / 2; i++) {
            json_t *t = items[i];
            items[i] = items[kept - 1 - i];
            items[kept - 1 - i] = t;
        }

    out = json_array();
    mgmt_list_page(&l, kept, &from, &to);
    for (size_t i = from; i < to; i++) {
        if (l.has_columns)
            mgmt_columns(items[i], l.columns);
        json_array_append(out, items[i]);
    }
    if (l.paged) {
        size_t pages = (kept + (size_t)l.page_size - 1) / (size_t)l.page_size;
        out = json_pack("{s:I, s:I, s:o, s:I, s:I, s:I, s:I}", "filtered_count", (json_int_t)kept,
                        "item_count", (json_int_t)json_array_size(out), "items", out, "page",
                        (json_int_t)l.page, "page_count", (json_int_t)(pages ? pages : 1),
                        "page_size", (json_int_t)l.page_size, "total_count", (json_int_t)n);
    }
    mgmt_list_end(&l);
    free(items);
    json_decref(arr);
    mgmt_reply(r, 200, out);
}
