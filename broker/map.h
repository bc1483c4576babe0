/* SPDX-License-Identifier: MIT */
/*
 * map: a hash map from byte-string keys to pointers (open addressing).
 *
 * The map copies keys (it owns its copies) and borrows values. Iteration order
 * is unspecified. Removing during iteration is allowed only through
 * map_iter_remove(). Used for the name registries (exchanges, queues),
 * direct-exchange binding keys and topic-trie children.
 */
#ifndef BROKER_MAP_H
#define BROKER_MAP_H

#include <stdbool.h>
#include <stddef.h>

#include "broker/util.h"

struct map;

/** Creates an empty map. Owned by the caller; never NULL. */
struct map *map_create(void);
/** Frees the map and its key copies (not the values). Accepts NULL. */
void map_destroy(struct map *m);
size_t map_count(const struct map *m);
/** The value for key, or NULL. */
void *map_get(const struct map *m, struct view key);
/** Sets key to value (value must not be NULL); returns the previous value or NULL. */
void *map_put(struct map *m, struct view key, void *value);
/** Removes key; returns its value or NULL when absent. */
void *map_remove(struct map *m, struct view key);

struct map_iter {
    const struct map *m;
    size_t i;
};
void map_iter_init(struct map_iter *it, const struct map *m);
/** Next entry; false at the end. The key view is valid until the entry is removed. */
bool map_next(struct map_iter *it, struct view *key, void **value);

/* ---- pointer sets (keys are pointers, used for dedupe and reverse indexes) ---- */
struct ptrset;
struct ptrset *ptrset_create(void);
void ptrset_destroy(struct ptrset *s);
/** Adds p; returns true when it was not there. */
bool ptrset_add(struct ptrset *s, const void *p);
bool ptrset_has(const struct ptrset *s, const void *p);
bool ptrset_remove(struct ptrset *s, const void *p);
size_t ptrset_count(const struct ptrset *s);
void ptrset_clear(struct ptrset *s);

#endif
