/* SPDX-License-Identifier: MIT */
/*
 * map: open-addressing hash tables for byte-string keys and for pointers.
 *
 * Both tables use linear probing over a power-of-two slot array, with
 * tombstones for deletion. Tombstones (rather than backward-shift deletion)
 * keep every live entry in its slot while an iteration removes entries, so an
 * iterator never sees an entry twice or misses one. Tombstones count towards
 * the 0.7 load limit; the next insertion that would cross it rehashes, which
 * drops them (and shrinks the array when most entries are gone).
 */
#include "broker/map.h"

#include <assert.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ---- hashing ---- */

/*
 * SipHash-1-3 (Aumasson & Bernstein) keyed per process: names and routing
 * keys come from peers, and an unkeyed hash would let one client pile every
 * key into one probe run (hash flooding). Redis, Python and Rust use the same
 * construction for the same reason.
 */
static uint64_t sip_k0, sip_k1;
static bool sip_seeded;

static uint64_t rotl64(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

static uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;

    for (unsigned i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void sip_round(uint64_t v[4])
{
    v[0] += v[1];
    v[1] = rotl64(v[1], 13);
    v[1] ^= v[0];
    v[0] = rotl64(v[0], 32);
    v[2] += v[3];
    v[3] = rotl64(v[3], 16);
    v[3] ^= v[2];
    v[0] += v[3];
    v[3] = rotl64(v[3], 21);
    v[3] ^= v[0];
    v[2] += v[1];
    v[1] = rotl64(v[1], 17);
    v[1] ^= v[2];
    v[2] = rotl64(v[2], 32);
}

static void sip_seed(void)
{
    uint64_t k[2];

    if (getrandom(k, sizeof(k), GRND_NONBLOCK) != (ssize_t)sizeof(k)) {
        /* No entropy yet (early boot): fall back to something that at least
         * differs between runs. */
        struct timespec ts;
        uint64_t pid = (uint64_t)(uint32_t)getpid();

        clock_gettime(CLOCK_REALTIME, &ts);
        k[0] = (uint64_t)ts.tv_nsec * UINT64_C(0x9E3779B97F4A7C15) ^ (uint64_t)ts.tv_sec;
        k[1] = pid * UINT64_C(0xC2B2AE3D27D4EB4F) ^ (uint64_t)(uintptr_t)&sip_k0;
    }
    sip_k0 = k[0];
    sip_k1 = k[1];
    sip_seeded = true;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t v[4], m, last = (uint64_t)n << 56;
    size_t whole = n & ~(size_t)7;

    v[0] = 0x736f6d6570736575ull ^ sip_k0;
    v[1] = 0x646f72616e646f6dull ^ sip_k1;
    v[2] = 0x6c7967656e657261ull ^ sip_k0;
    v[3] = 0x7465646279746573ull ^ sip_k1;
    for (size_t i = 0; i < whole; i += 8) {
        m = load_le64(p + i);
        v[3] ^= m;
        sip_round(v);
        v[0] ^= m;
    }
    for (size_t i = whole; i < n; i++)
        last |= (uint64_t)p[i] << (8 * (i - whole));
    v[3] ^= last;
    sip_round(v);
    v[0] ^= last;
    v[2] ^= 0xff;
    sip_round(v);
    sip_round(v);
    sip_round(v);
    return v[0] ^ v[1] ^ v[2] ^ v[3];
}

/* Pointers are not chosen by peers; a multiplicative mix spreads the aligned
 * low bits well enough. */
static uint64_t hash_ptr(const void *p)
{
    uint64_t h = (uint64_t)(uintptr_t)p;

    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

/* Smallest power-of-two capacity (at least 8) that holds n entries at load
 * 0.5 or less, so a rehash is followed by many cheap insertions. */
static size_t cap_for(size_t n)
{
    size_t cap = 8;

    while (cap / 2 < n)
        cap *= 2;
    return cap;
}

/* True when adding one more used slot would pass load 0.7. */
static bool over_limit(size_t used, size_t cap)
{
    return (used + 1) * 10 > cap * 7;
}

/* ---- string-keyed map ---- */

static char map_tomb_mark;
#define MAP_TOMB ((void *)&map_tomb_mark)

/* value NULL: never used; value MAP_TOMB: removed; otherwise live. */
struct slot {
    uint64_t hash;
    uint8_t *key;
    size_t klen;
    void *value;
};

struct map {
    struct slot *slots;
    size_t cap; /* 0 or a power of two */
    size_t count, tombs;
};

static bool slot_live(const struct slot *s)
{
    return s->value != NULL && s->value != MAP_TOMB;
}

struct map *map_create(void)
{
    if (!sip_seeded)
        sip_seed();
    return xcalloc(1, sizeof(struct map));
}

static void free_slots(struct map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (slot_live(&m->slots[i]))
            free(m->slots[i].key);
    free(m->slots);
    m->slots = NULL;
    m->cap = m->count = m->tombs = 0;
}

void map_destroy(struct map *m)
{
    if (!m)
        return;
    free_slots(m);
    free(m);
}

size_t map_count(const struct map *m)
{
    return m->count;
}

static struct slot *find(const struct map *m, struct view key, uint64_t h)
{
    size_t mask = m->cap - 1;

    if (m->cap == 0)
        return NULL;
    /* Terminates: the load limit keeps at least 30% of slots never-used. */
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct slot *s = &m->slots[i];

        if (s->value == NULL)
            return NULL;
        if (s->value != MAP_TOMB && s->hash == h && s->klen == key.n &&
            (key.n == 0 || memcmp(s->key, key.p, key.n) == 0))
            return s;
    }
}

static void rehash(struct map *m, size_t newcap)
{
    struct slot *old = m->slots;
    size_t oldcap = m->cap;

    m->slots = xcalloc(newcap, sizeof(struct slot));
    m->cap = newcap;
    m->tombs = 0;
    for (size_t i = 0; i < oldcap; i++) {
        size_t j;

        if (!slot_live(&old[i]))
            continue;
        for (j = (size_t)old[i].hash & (newcap - 1); m->slots[j].value != NULL;
             j = (j + 1) & (newcap - 1))
            ;
        m->slots[j] = old[i];
    }
    free(old);
}

void *map_get(const struct map *m, struct view key)
{
    struct slot *s;

    if (m->count == 0)
        return NULL;
    s = find(m, key, hash_bytes(key.p, key.n));
    return s ? s->value : NULL;
}

void *map_put(struct map *m, struct view key, void *value)
{
    uint64_t h = hash_bytes(key.p, key.n);
    struct slot *s = find(m, key, h);
    size_t i, mask;

    assert(value != NULL && value != MAP_TOMB);
    if (s) {
        void *prev = s->value;
        s->value = value;
        return prev;
    }
    if (m->cap == 0 || over_limit(m->count + m->tombs, m->cap))
        rehash(m, cap_for(m->count + 1));
    mask = m->cap - 1;
    /* The key is absent, so the first reusable slot on its probe path is
     * where it goes. */
    for (i = (size_t)h & mask; slot_live(&m->slots[i]); i = (i + 1) & mask)
        ;
    s = &m->slots[i];
    if (s->value == MAP_TOMB)
        m->tombs--;
    s->hash = h;
    s->klen = key.n;
    s->key = xmalloc(key.n ? key.n : 1);
    if (key.n)
        memcpy(s->key, key.p, key.n);
    s->value = value;
    m->count++;
    return NULL;
}

static void *remove_slot(struct map *m, struct slot *s)
{
    void *value = s->value;

    free(s->key);
    s->key = NULL;
    s->klen = 0;
    s->value = MAP_TOMB;
    m->count--;
    m->tombs++;
    /* An empty map gives its memory back; an iterator reading cap 0 ends. */
    if (m->count == 0)
        free_slots(m);
    return value;
}

void *map_remove(struct map *m, struct view key)
{
    struct slot *s;

    if (m->count == 0)
        return NULL;
    s = find(m, key, hash_bytes(key.p, key.n));
    return s ? remove_slot(m, s) : NULL;
}

void map_iter_init(struct map_iter *it, const struct map *m)
{
    it->m = m;
    it->i = 0;
}

bool map_next(struct map_iter *it, struct view *key, void **value)
{
    const struct map *m = it->m;

    while (it->i < m->cap) {
        const struct slot *s = &m->slots[it->i++];

        if (slot_live(s)) {
            *key = (struct view){s->key, s->klen};
            *value = s->value;
            return true;
        }
    }
    return false;
}

void *map_iter_remove(struct map *m, struct map_iter *it)
{
    struct slot *s;

    assert(it->m == m && it->i > 0 && it->i <= m->cap);
    s = &m->slots[it->i - 1];
    assert(slot_live(s));
    return remove_slot(m, s);
}

/* ---- pointer set ---- */

static char set_tomb_mark;
#define SET_TOMB ((const void *)&set_tomb_mark)

struct ptrset {
    const void **slots; /* NULL: never used; SET_TOMB: removed */
    size_t cap, count, tombs;
};

struct ptrset *ptrset_create(void)
{
    return xcalloc(1, sizeof(struct ptrset));
}

void ptrset_destroy(struct ptrset *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s);
}

size_t ptrset_count(const struct ptrset *s)
{
    return s->count;
}

static const void **set_find(const struct ptrset *s, const void *p)
{
    size_t mask = s->cap - 1;

    if (s->cap == 0)
        return NULL;
    for (size_t i = (size_t)hash_ptr(p) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] == NULL)
            return NULL;
        if (s->slots[i] == p)
            return &s->slots[i];
    }
}

static void set_rehash(struct ptrset *s, size_t newcap)
{
    const void **old = s->slots;
    size_t oldcap = s->cap;

    s->slots = xcalloc(newcap, sizeof(*s->slots));
    s->cap = newcap;
    s->tombs = 0;
    for (size_t i = 0; i < oldcap; i++) {
        size_t j;

        if (old[i] == NULL || old[i] == SET_TOMB)
            continue;
        for (j = (size_t)hash_ptr(old[i]) & (newcap - 1); s->slots[j] != NULL;
             j = (j + 1) & (newcap - 1))
            ;
        s->slots[j] = old[i];
    }
    free(old);
}

bool ptrset_add(struct ptrset *s, const void *p)
{
    size_t i, mask;

    assert(p != NULL && p != SET_TOMB);
    if (set_find(s, p))
        return false;
    if (s->cap == 0 || over_limit(s->count + s->tombs, s->cap))
        set_rehash(s, cap_for(s->count + 1));
    mask = s->cap - 1;
    for (i = (size_t)hash_ptr(p) & mask; s->slots[i] != NULL && s->slots[i] != SET_TOMB;
         i = (i + 1) & mask)
        ;
    if (s->slots[i] == SET_TOMB)
        s->tombs--;
    s->slots[i] = p;
    s->count++;
    return true;
}

bool ptrset_has(const struct ptrset *s, const void *p)
{
    return s->count > 0 && set_find(s, p) != NULL;
}

bool ptrset_remove(struct ptrset *s, const void *p)
{
    const void **slot;

    if (s->count == 0)
        return false;
    slot = set_find(s, p);
    if (!slot)
        return false;
    *slot = SET_TOMB;
    s->count--;
    s->tombs++;
    if (s->count == 0)
        ptrset_clear(s);
    return true;
}

void ptrset_clear(struct ptrset *s)
{
    if (s->count == 0 && s->tombs == 0)
        return;
    memset(s->slots, 0, s->cap * sizeof(*s->slots));
    s->count = s->tombs = 0;
}
