/* SPDX-License-Identifier: MIT */
/*
 * index: the store's in-memory tables, keyed by 64-bit numbers the store
 * itself assigns (message ids, per-queue sequence numbers, qids), so a
 * multiplicative hash is enough (no peer chooses these keys). Open addressing
 * with linear probing, load factor at most 3/4, and backward-shift deletion,
 * so there are no tombstones and a deep queue costs one slot per entry:
 * struct sent is 32 bytes, struct smsg 24.
 */
#include <stdlib.h>
#include <string.h>

#include "persist/persist_int.h"

static inline size_t slot_of(uint64_t key, size_t cap)
{
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> 17) & (cap - 1);
}

static bool needs_grow(size_t n, size_t cap)
{
    return cap == 0 || (n + 1) * 4 > cap * 3;
}

/* ---- messages ---- */

struct smsg *persist__msg_get(const struct msgtab *t, uint64_t id)
{
    if (!t->cap || id == 0)
        return NULL;
    for (size_t i = slot_of(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].id == id)
            return &t->slots[i];
        if (t->slots[i].id == 0)
            return NULL;
    }
}

static void msg_grow(struct msgtab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 1024;
    struct smsg *old = t->slots, *ns = xcalloc(ncap, sizeof(*ns));

    for (size_t j = 0; j < t->cap; j++) {
        if (!old[j].id)
            continue;
        size_t i = slot_of(old[j].id, ncap);
        while (ns[i].id)
            i = (i + 1) & (ncap - 1);
        ns[i] = old[j];
    }
    free(old);
    t->slots = ns;
    t->cap = ncap;
}

struct smsg *persist__msg_add(struct msgtab *t, uint64_t id)
{
    size_t i;

    if (needs_grow(t->n, t->cap))
        msg_grow(t);
    for (i = slot_of(id, t->cap); t->slots[i].id; i = (i + 1) & (t->cap - 1))
        ;
    memset(&t->slots[i], 0, sizeof(t->slots[i]));
    t->slots[i].id = id;
    t->n++;
    return &t->slots[i];
}

void persist__msg_del(struct msgtab *t, uint64_t id)
{
    struct smsg *m = persist__msg_get(t, id);
    size_t i, j, mask = t->cap - 1;

    if (!m)
        return;
    i = (size_t)(m - t->slots);
    /* Backward shift: pull later members of the probe run into the hole when
     * their home slot does not lie cyclically in (i, j]. */
    for (j = (i + 1) & mask; t->slots[j].id; j = (j + 1) & mask) {
        size_t home = slot_of(t->slots[j].id, t->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].id = 0;
    t->n--;
}

void persist__msg_free(struct msgtab *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---- entries ---- */

struct sent *persist__ent_get(const struct enttab *t, uint64_t seq)
{
    if (!t->cap)
        return NULL;
    for (size_t i = slot_of(seq, t->cap);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].id == 0)
            return NULL;
        if (t->slots[i].seq == seq)
            return &t->slots[i];
    }
}

static void ent_grow(struct enttab *t)
{
    size_t ncap = t->cap ? t->cap * 2 : 64;
    struct sent *old = t->slots, *ns = xcalloc(ncap, sizeof(*ns));

    for (size_t j = 0; j < t->cap; j++) {
        if (!old[j].id)
            continue;
        size_t i = slot_of(old[j].seq, ncap);
        while (ns[i].id)
            i = (i + 1) & (ncap - 1);
        ns[i] = old[j];
    }
    free(old);
    t->slots = ns;
    t->cap = ncap;
}

struct sent *persist__ent_add(struct enttab *t, uint64_t seq)
{
    size_t i;

    if (needs_grow(t->n, t->cap))
        ent_grow(t);
    for (i = slot_of(seq, t->cap); t->slots[i].id; i = (i + 1) & (t->cap - 1))
        ;
    memset(&t->slots[i], 0, sizeof(t->slots[i]));
    t->slots[i].seq = seq;
    t->n++;
    return &t->slots[i]; /* the caller sets id (non-zero) */
}

void persist__ent_del(struct enttab *t, uint64_t seq)
{
    struct sent *e = persist__ent_get(t, seq);
    size_t i, j, mask = t->cap - 1;

    if (!e)
        return;
    i = (size_t)(e - t->slots);
    for (j = (i + 1) & mask; t->slots[j].id; j = (j + 1) & mask) {
        size_t home = slot_of(t->slots[j].seq, t->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i].id = 0;
    t->n--;
}

void persist__ent_free(struct enttab *t)
{
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

/* ---- u64 -> u64 ---- */

bool persist__u64_get(const struct u64map *m, uint64_t key, uint64_t *val)
{
    if (!m->cap || key == 0)
        return false;
    for (size_t i = slot_of(key, m->cap);; i = (i + 1) & (m->cap - 1)) {
        if (m->keys[i] == key) {
            *val = m->vals[i];
            return true;
        }
        if (m->keys[i] == 0)
            return false;
    }
}

void persist__u64_put(struct u64map *m, uint64_t key, uint64_t val)
{
    size_t i;

    if (needs_grow(m->n, m->cap)) {
        size_t ncap = m->cap ? m->cap * 2 : 16;
        uint64_t *nk = xcalloc(ncap, sizeof(*nk)), *nv = xcalloc(ncap, sizeof(*nv));
        for (size_t j = 0; j < m->cap; j++) {
            if (!m->keys[j])
                continue;
            for (i = slot_of(m->keys[j], ncap); nk[i]; i = (i + 1) & (ncap - 1))
                ;
            nk[i] = m->keys[j];
            nv[i] = m->vals[j];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nk;
        m->vals = nv;
        m->cap = ncap;
    }
    for (i = slot_of(key, m->cap); m->keys[i] && m->keys[i] != key; i = (i + 1) & (m->cap - 1))
        ;
    if (!m->keys[i])
        m->n++;
    m->keys[i] = key;
    m->vals[i] = val;
}

void persist__u64_del(struct u64map *m, uint64_t key)
{
    size_t i, j, mask;

    if (!m->cap || key == 0)
        return;
    mask = m->cap - 1;
    for (i = slot_of(key, m->cap); m->keys[i] != key; i = (i + 1) & mask)
        if (!m->keys[i])
            return;
    for (j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
        size_t home = slot_of(m->keys[j], m->cap);
        if (((j - home) & mask) >= ((j - i) & mask)) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->n--;
}

void persist__u64_free(struct u64map *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}
