/* SPDX-License-Identifier: MIT */
/*
 * map: a hash map from byte-string keys to pointers (open addressing).
 *
 * The map copies keys (it owns its copies) and borrows values. Iteration order
 * is unspecified. Removing during iteration is allowed only through
 * map_iter_remove(); adding during iteration is not allowed (it may rehash).
 * Used for the name registries (exchanges, queues), direct-exchange binding
 * keys and topic-trie children.
 *
 * Keys are hashed with SipHash-1-3 under a per-process random key, so peers
 * that choose names (queues, routing keys) cannot force collisions. Open
 * addressing with linear probing, load factor at most 0.7 counting tombstones.
 * No function here calls back into the caller.
 */
#ifndef BROKER_MAP_H
#define BROKER_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/util.h"

struct map;

/** Creates an empty map (allocates no slots until the first put). Owned by
 * the caller; never NULL. */
struct map *map_create(void);
/** Frees the map and its key copies (not the values). Accepts NULL. */
void map_destroy(struct map *m);
size_t map_count(const struct map *m);
/** The value for key (borrowed view, any bytes, any length), or NULL. */
void *map_get(const struct map *m, struct view key);
/** Sets key to value (value must not be NULL, asserted); returns the previous
 * value or NULL. A new key is copied; an existing one keeps its copy. */
void *map_put(struct map *m, struct view key, void *value);
/** Removes key and frees its copy; returns its value or NULL when absent. */
void *map_remove(struct map *m, struct view key);

struct map_iter {
    const struct map *m;
    size_t i;
};
void map_iter_init(struct map_iter *it, const struct map *m);
/** Next entry; false at the end. The key view is valid until the entry is removed. */
bool map_next(struct map_iter *it, struct view *key, void **value);
/** Removes the entry map_next() last returned (m must be the iterated map)
 * and returns its value. The iteration then continues with the next entry;
 * every other entry is still seen exactly once. */
void *map_iter_remove(struct map *m, struct map_iter *it);

/* ---- pointer sets (keys are pointers, used for dedupe and reverse indexes) ----
 * The set stores the pointer values only (it never dereferences them). NULL
 * is not a valid member (asserted). */
struct ptrset;
/** Creates an empty set. Owned by the caller; never NULL. */
struct ptrset *ptrset_create(void);
/** Frees the set. Accepts NULL. */
void ptrset_destroy(struct ptrset *s);
/** Adds p; returns true when it was not there. */
bool ptrset_add(struct ptrset *s, const void *p);
bool ptrset_has(const struct ptrset *s, const void *p);
/** Removes p; returns true when it was there. */
bool ptrset_remove(struct ptrset *s, const void *p);
size_t ptrset_count(const struct ptrset *s);
/** Empties the set, keeping its capacity (no allocation on refill). */
void ptrset_clear(struct ptrset *s);

#endif
