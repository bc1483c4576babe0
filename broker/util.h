/* SPDX-License-Identifier: MIT */
/*
 * util: allocation that cannot fail, container_of, byte views and big-endian helpers.
 *
 * xmalloc and friends abort on out-of-memory so callers never handle ENOMEM
 * (STYLE.md §5). Sizes chosen by a peer must go through trymalloc() after a
 * limit check instead. struct view is a borrowed (pointer, length) pair: it
 * owns nothing and is valid only as long as the bytes it points into.
 */
#ifndef BROKER_UTIL_H
#define BROKER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/** A borrowed byte range. Owns nothing; valid while the underlying bytes are. */
struct view {
    const uint8_t *p;
    size_t n;
};

#define VIEW_LIT(s) ((struct view){(const uint8_t *)(s), sizeof(s) - 1})

static inline struct view view_str(const char *s)
{
    return (struct view){(const uint8_t *)s, strlen(s)};
}

static inline bool view_eq(struct view a, struct view b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline bool view_eq_str(struct view a, const char *s)
{
    return view_eq(a, view_str(s));
}

/** Allocators that abort on failure. Results are owned by the caller (free()). */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/** Copies a view into a fresh NUL-terminated string owned by the caller. */
char *xstrndup_view(struct view v);
/** May return NULL: for sizes a peer chose, after a limit check. */
void *trymalloc(size_t n);
/**
 * Doubles a ring of elem-byte items whose capacity is a power of two (0 for
 * none yet: then first_cap): returns the new array, owned by the caller,
 * holding the len items that started at *head, now from index 0; frees old and
 * sets *head = 0 and *cap to the new capacity. For rings indexed with
 * (head + i) & (cap - 1) that are full (len == *cap).
 */
void *xring_grow(void *old, size_t elem, size_t *head, size_t len, size_t *cap, size_t first_cap);

/* ---- big-endian wire helpers (the caller has checked bounds) ---- */

static inline uint16_t get_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

#endif
