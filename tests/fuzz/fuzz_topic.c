/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for topic routing (exchange/topic.c).
 *
 * The input after byte 0 is split on '\n': every segment but the last is a
 * binding pattern (at most 48, each cut to 255 bytes, as a shortstr), the
 * last is the routing key. Each pattern i is bound to fake queue i of one
 * topic exchange; the key is routed, and the queues reached must be exactly
 * the patterns that exch_topic_match() accepts. For short inputs a third,
 * table-driven matcher written here checks exch_topic_match() itself. The
 * walk's cost must stay within (trie nodes) x (key words) up to a constant.
 * When bit 0 of byte 0 is set, the odd bindings are then removed and the
 * check repeats; bit 1 routes through a fanout exchange bound to the topic
 * exchange (e2e) instead of routing directly.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "exchange/exchange.h"
#include "exchange/exchange_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_PATTERNS 48
#define DP_MAX 40

static char qmem[MAX_PATTERNS];

static struct queue *Q(size_t i)
{
    return (struct queue *)(void *)&qmem[i];
}

/* Splits s into words as RabbitMQ does: none for "", else split on every
 * '.'. Returns the count, or DP_MAX + 1 when there are more than DP_MAX. */
static size_t split(struct view s, struct view *w)
{
    size_t n = 0, start = 0;

    if (s.n == 0)
        return 0;
    for (size_t i = 0; i <= s.n; i++) {
        if (i == s.n || s.p[i] == '.') {
            if (n == DP_MAX)
                return DP_MAX + 1;
            w[n++] = (struct view){s.p + start, i - start};
            start = i + 1;
        }
    }
    return n;
}

/* m[i][j]: pattern words i.. match key words j.. (the textbook recurrence). */
static bool dp_match(struct view pattern, struct view key, bool *ok)
{
    static struct view pw[DP_MAX + 1], kw[DP_MAX + 1];
    static bool m[DP_MAX + 2][DP_MAX + 2];
    size_t np = split(pattern, pw), nk = split(key, kw);

    *ok = np <= DP_MAX && nk <= DP_MAX;
    if (!*ok)
        return false;
    for (size_t i = np + 1; i-- > 0;) {
        for (size_t j = nk + 1; j-- > 0;) {
            bool r;

            if (i == np) {
                r = j == nk;
            } else if (pw[i].n == 1 && pw[i].p[0] == '#') {
                r = m[i + 1][j] || (j < nk && m[i][j + 1]);
            } else {
                bool one = pw[i].n == 1 && pw[i].p[0] == '*';

                r = j < nk && (one || view_eq(pw[i], kw[j])) && m[i + 1][j + 1];
            }
            m[i][j] = r;
        }
    }
    return m[0][0];
}

static size_t count_words(struct view s)
{
    size_t n = s.n ? 1 : 0;

    for (size_t i = 0; i < s.n; i++)
        n += s.p[i] == '.';
    return n;
}

static void check(struct exch *entry, const struct view *pat, const bool *bound, size_t np,
                  struct view key, size_t nodes, struct route_set *rs)
{
    unsigned long before = exch__topic_visits, visits;
    size_t want = 0;

    route_reset(rs);
    exch_route(entry, key, (struct view){NULL, 0}, rs);
    visits = exch__topic_visits - before;
    assert(visits <= 4 * nodes * (count_words(key) + 2));
    for (size_t i = 0; i < np; i++) {
        bool ref = exch_topic_match(pat[i], key), ok, dp = dp_match(pat[i], key, &ok), hit = false;

        assert(!ok || dp == ref);
        for (size_t j = 0; j < rs->n; j++)
            hit |= rs->q[j] == Q(i);
        assert(hit == (bound[i] && ref));
        want += bound[i] && ref;
    }
    assert(rs->n == want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct view seg[MAX_PATTERNS + 1], key;
    bool bound[MAX_PATTERNS];
    size_t nseg = 0, start = 1, nodes = 1;
    struct exch *x, *front = NULL;
    struct route_set rs = {0};
    struct proto_err err;
    uint8_t flags;

    if (size < 1)
        return 0;
    flags = data[0];
    for (size_t i = 1; i <= size && nseg <= MAX_PATTERNS; i++) {
        if (i == size || data[i] == '\n') {
            seg[nseg++] = (struct view){data + start, i - start};
            start = i + 1;
        }
    }
    key = seg[--nseg]; /* the last segment (possibly after the 48th pattern) */

    x = exch_create(VIEW_LIT("t"), EXCH_TOPIC, 0, (struct view){NULL, 0});
    for (size_t i = 0; i < nseg; i++) {
        if (seg[i].n > 255)
            seg[i].n = 255;
        assert(exch_bind_queue(x, Q(i), seg[i], (struct view){NULL, 0}, &err) == 0);
        bound[i] = true;
        nodes += count_words(seg[i]);
    }
    if (flags & 2) {
        front = exch_create(VIEW_LIT("f"), EXCH_FANOUT, 0, (struct view){NULL, 0});
        assert(exch_bind_exch(front, x, VIEW_LIT(""), (struct view){NULL, 0}, &err) == 0);
    }
    check(front ? front : x, seg, bound, nseg, key, nodes, &rs);
    if (flags & 1) {
        for (size_t i = 1; i < nseg; i += 2) {
            assert(exch_unbind_queue(x, Q(i), seg[i], (struct view){NULL, 0}) == 0);
            bound[i] = false;
        }
        check(front ? front : x, seg, bound, nseg, key, nodes, &rs);
    }
    exch_destroy(front);
    exch_destroy(x);
    for (size_t i = 0; i < nseg; i++)
        assert(!exch_queue_is_bound(Q(i)));
    route_free(&rs);
    return 0;
}
