/* SPDX-License-Identifier: MIT */
/*
 * topic: pattern bindings over '.'-separated words (0-9-1 §3.1.3.3), as
 * RabbitMQ implements them (rabbit_db_topic_exchange.erl):
 *
 * - A key splits on every '.', so empty words are words: "a..b" has three,
 *   "a." two ("a" and ""), and "." two empty ones. The empty key has no words
 *   at all (split_topic_key(<<>>) -> []), so "#" and "" match it and "*" does
 *   not.
 * - In a binding key, a whole word "*" matches exactly one word and a whole
 *   word "#" zero or more; "a*" or "#b" are plain words.
 *
 * Bindings live in a trie: each node has a map of literal word -> child, a
 * '*' child, a '#' child and the bindings whose key ends there. Routing walks
 * only the branches the key can take, so bindings that cannot match cost
 * nothing: with literal keys a message touches one node per word whatever the
 * number of bindings. A '#' child is tried at every later position, which is
 * exponential for patterns like "#.#.#.#" unless positions are memoised: below
 * a '#' each (node, word index) pair is entered at most once per message,
 * which bounds a walk by (trie nodes) x (key words).
 */
#include "exchange/exchange_int.h"

#include <stdlib.h>

unsigned long exch__topic_visits;

enum tkind { T_ROOT, T_LIT, T_STAR, T_HASH };

struct tnode {
    struct tnode *parent;
    enum tkind kind;
    struct view word; /* owned copy, T_LIT only: our key in parent->kids */
    struct map *kids; /* literal word -> struct tnode; NULL when none */
    struct tnode *star, *hash;
    struct bvec bindings;
    uint64_t memo_gen; /* routing call that owns memo_off */
    size_t memo_off;   /* this node's memo bits in the arena */
};

/* ---- words ---- */

/* A position is the offset of the next word's start; s.n + 1 means no more
 * words. The empty key starts there: it has no words. */
static size_t words_begin(struct view s)
{
    return s.n == 0 ? 1 : 0;
}

static bool word_next(struct view s, size_t *pos, struct view *w)
{
    size_t start = *pos, end;
    const uint8_t *dot;

    if (start > s.n)
        return false;
    dot = start < s.n ? memchr(s.p + start, '.', s.n - start) : NULL;
    end = dot ? (size_t)(dot - s.p) : s.n;
    *w = (struct view){s.p + start, end - start};
    *pos = dot ? end + 1 : s.n + 1;
    return true;
}

static bool is_star(struct view w)
{
    return w.n == 1 && w.p[0] == '*';
}

static bool is_hash(struct view w)
{
    return w.n == 1 && w.p[0] == '#';
}

/*
 * The reference matcher: wildcard matching with one backtrack point, as for
 * glob '*' and '?'. When a word fails, the most recent '#' swallows one more
 * key word and matching resumes after it; earlier '#'s never need to be
 * revisited because the later one can absorb anything they could. O(words^2)
 * worst case, no allocation.
 */
bool exch_topic_match(struct view pattern, struct view key)
{
    size_t pp = words_begin(pattern), kp = words_begin(key);
    size_t back_pp = 0, back_kp = 0;
    bool have_back = false;
    struct view pw, kw;

    for (;;) {
        size_t kp_next = kp, pp_next = pp;
        bool pmore;

        if (!word_next(key, &kp_next, &kw))
            break;
        pmore = word_next(pattern, &pp_next, &pw);
        if (pmore && is_hash(pw)) {
            have_back = true;
            back_pp = pp_next;
            back_kp = kp;
            pp = pp_next;
        } else if (pmore && (is_star(pw) || view_eq(pw, kw))) {
            pp = pp_next;
            kp = kp_next;
        } else if (have_back) {
            word_next(key, &back_kp, &kw);
            kp = back_kp;
            pp = back_pp;
        } else {
            return false;
        }
    }
    /* Key used up: what is left of the pattern must be '#'s. */
    while (word_next(pattern, &pp, &pw))
        if (!is_hash(pw))
            return false;
    return true;
}

/* ---- trie maintenance ---- */

static struct tnode *node_new(struct tnode *parent, enum tkind kind, struct view w)
{
    struct tnode *n = xcalloc(1, sizeof(*n));
    uint8_t *p;

    n->parent = parent;
    n->kind = kind;
    if (kind == T_LIT) {
        p = xmalloc(w.n ? w.n : 1);
        if (w.n)
            memcpy(p, w.p, w.n);
        n->word = (struct view){p, w.n};
    }
    return n;
}

static struct tnode *child_for(struct tnode *n, struct view w)
{
    struct tnode *c;

    if (is_star(w)) {
        if (!n->star)
            n->star = node_new(n, T_STAR, w);
        return n->star;
    }
    if (is_hash(w)) {
        if (!n->hash)
            n->hash = node_new(n, T_HASH, w);
        return n->hash;
    }
    if (!n->kids)
        n->kids = map_create();
    c = map_get(n->kids, w);
    if (!c) {
        c = node_new(n, T_LIT, w);
        map_put(n->kids, w, c);
    }
    return c;
}

static bool node_is_empty(const struct tnode *n)
{
    return n->bindings.n == 0 && !n->star && !n->hash && !n->kids;
}

static void node_free(struct tnode *n)
{
    exch__bvec_free(&n->bindings);
    free((void *)n->word.p);
    free(n);
}

/* Frees a subtree. Depth is bounded by the words of the longest binding key. */
static void subtree_free(struct tnode *n)
{
    if (n->kids) {
        struct map_iter it;
        struct view w;
        void *c;

        map_iter_init(&it, n->kids);
        while (map_next(&it, &w, &c))
            subtree_free(c);
        map_destroy(n->kids);
    }
    if (n->star)
        subtree_free(n->star);
    if (n->hash)
        subtree_free(n->hash);
    node_free(n);
}

/* Removes n and its ancestors while they hold nothing, so the trie only ever
 * contains paths that lead to bindings. */
static void prune(struct tnode *n)
{
    while (n->kind != T_ROOT && node_is_empty(n)) {
        struct tnode *p = n->parent;

        switch (n->kind) {
        case T_STAR:
            p->star = NULL;
            break;
        case T_HASH:
            p->hash = NULL;
            break;
        case T_LIT:
            map_remove(p->kids, n->word);
            if (map_count(p->kids) == 0) {
                map_destroy(p->kids);
                p->kids = NULL;
            }
            break;
        case T_ROOT:
            break;
        }
        node_free(n);
        n = p;
    }
}

static void topic_init(struct exch *x)
{
    x->tstate = node_new(NULL, T_ROOT, (struct view){NULL, 0});
}

static void topic_bind(struct exch *x, struct binding *b)
{
    struct tnode *n = x->tstate;
    size_t pos = words_begin(b->key);
    struct view w;

    while (word_next(b->key, &pos, &w))
        n = child_for(n, w);
    exch__bvec_add(&n->bindings, b);
    b->tnode = n;
}

static void topic_unbind(struct exch *x, struct binding *b)
{
    struct tnode *n = b->tnode;

    (void)x;
    exch__bvec_del(&n->bindings, b);
    prune(n);
    b->tnode = NULL;
}

static void topic_destroy(struct exch *x)
{
    subtree_free(x->tstate);
    x->tstate = NULL;
}

/* ---- routing ---- */

/* Scratch reused by every routing call (one thread; exch_route is not
 * reentrant): the key's words, and the memo. A node below a '#' gets a
 * zeroed bitset of 2 * (words + 1) bits from the arena the first time a call
 * enters it (tnode.memo_gen tells whether its slice belongs to this call);
 * bit 2i records "entered at word i", bit 2j+1 "a '#' loop got to j". So the
 * memo costs a few bytes per node touched, and a new call clears it all by
 * bumping memo_gen. */
static struct view *words;
static size_t words_cap;
static uint64_t *arena;
static size_t arena_cap, arena_used, memo_words;
static uint64_t memo_gen;

/* Scratch sizes kept between calls; beyond them a call frees what it grew. */
#define ARENA_KEEP 65536 /* uint64_t words: 512 KiB */
#define WORDS_KEEP 1024

/* True when bit was already set for n in this call; sets it otherwise. */
static bool memo_seen(struct tnode *n, size_t bit)
{
    uint64_t *w, mask = UINT64_C(1) << (bit % 64);

    if (n->memo_gen != memo_gen) {
        if (arena_cap - arena_used < memo_words) {
            arena_cap =
                arena_cap * 2 > arena_used + memo_words ? arena_cap * 2 : arena_used + memo_words;
            arena = xrealloc(arena, arena_cap * sizeof(*arena));
        }
        memset(arena + arena_used, 0, memo_words * sizeof(*arena));
        n->memo_off = arena_used;
        arena_used += memo_words;
        n->memo_gen = memo_gen;
    }
    w = &arena[n->memo_off + bit / 64];
    if (*w & mask)
        return true;
    *w |= mask;
    return false;
}

struct walk {
    struct route_ctx *rc;
    size_t nwords;
};

/*
 * Matches words[i..] against the patterns below n. Without a '#' on the path
 * a node's depth fixes i, so only nodes below a '#' (below_hash) can be
 * reached twice and need the memo, keyed (node, 2i). A '#' child is entered
 * at i, i+1, ... (it swallows 0, 1, ... words); the memo also records, keyed
 * (child, 2j+1), that the loop got to j, and a later loop that reaches an
 * already recorded j stops there, because everything from j on was covered.
 * So each (node, i) costs O(1) amortised. Recursion only descends the trie:
 * its depth is at most the number of words in the longest binding key.
 */
static void walk(const struct walk *wk, struct tnode *n, size_t i, bool below_hash)
{
    exch__topic_visits++;
    if (below_hash && memo_seen(n, 2 * i))
        return;
    if (i == wk->nwords) {
        for (size_t k = 0; k < n->bindings.n; k++)
            exch__route_to(wk->rc, n->bindings.v[k]);
    } else {
        if (n->kids) {
            struct tnode *c = map_get(n->kids, words[i]);

            if (c)
                walk(wk, c, i + 1, below_hash);
        }
        if (n->star)
            walk(wk, n->star, i + 1, below_hash);
    }
    if (n->hash) {
        for (size_t j = i; j <= wk->nwords; j++) {
            if (memo_seen(n->hash, 2 * j + 1))
                break;
            walk(wk, n->hash, j, true);
        }
    }
}

static void topic_route(struct exch *x, struct view key, struct view headers, struct route_ctx *c)
{
    struct walk wk = {c, 0};
    size_t pos = words_begin(key);
    struct view w;

    (void)headers;
    while (word_next(key, &pos, &w)) {
        if (wk.nwords == words_cap) {
            words_cap = words_cap ? words_cap * 2 : 32;
            words = xrealloc(words, words_cap * sizeof(*words));
        }
        words[wk.nwords++] = w;
    }
    memo_gen++;
    memo_words = (2 * (wk.nwords + 1) + 63) / 64;
    arena_used = 0;
    walk(&wk, x->tstate, 0, false);
    /* A pathological call (many '#' patterns, a very long CC key) may have
     * grown the scratch a lot; give that back rather than keep it forever. */
    if (arena_cap > ARENA_KEEP) {
        free(arena);
        arena = NULL;
        arena_cap = 0;
    }
    if (words_cap > WORDS_KEEP) {
        free(words);
        words = NULL;
        words_cap = 0;
    }
}

const struct exch_ops exch__topic_ops = {
    .init = topic_init,
    .bind = topic_bind,
    .unbind = topic_unbind,
    .route = topic_route,
    .destroy = topic_destroy,
};
