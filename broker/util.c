/* SPDX-License-Identifier: MIT */
#include "broker/util.h"

#include <stdio.h>
#include <stdlib.h>

static void oom(size_t n)
{
    fprintf(stderr, "leveret: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);
    if (!p)
        oom(nmemb * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

char *xstrndup_view(struct view v)
{
    char *d = xmalloc(v.n + 1);
    if (v.n)
        memcpy(d, v.p, v.n);
    d[v.n] = '\0';
    return d;
}

void *trymalloc(size_t n)
{
    return malloc(n ? n : 1);
}

void *xring_grow(void *old, size_t elem, size_t *head, size_t len, size_t *cap, size_t first_cap)
{
    size_t ncap = *cap ? *cap * 2 : first_cap;
    uint8_t *a = xmalloc(ncap * elem);
    size_t first = len < *cap - *head ? len : *cap - *head; /* items before the wrap */

    if (len) {
        memcpy(a, (uint8_t *)old + *head * elem, first * elem);
        memcpy(a + first * elem, old, (len - first) * elem);
    }
    free(old);
    *head = 0;
    *cap = ncap;
    return a;
}
