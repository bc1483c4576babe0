/* SPDX-License-Identifier: MIT */
/*
 * msg: one allocation per message.
 *
 * Layout: struct msg, then exchange name, routing key, raw properties and the
 * body, back to back. The header is kept at 56 bytes because it is the
 * per-message overhead of a deep queue of small messages: lengths that are
 * shortstrs on the wire are bytes, the headers-table position is an offset
 * into the stored properties instead of a pointer, and the properties the
 * queue needs on every enqueue (priority, persistence, expiration) are decoded
 * once here rather than at each use.
 *
 * A paged-out message (a stub) is the header alone: its bytes (exchange,
 * routing key, properties and body, in that order, the layout of data[]) are
 * on disk, found by `paged` (which store) and `page_loc` (where). The header
 * still answers everything a queue asks on its own (sizes, priority,
 * persistence, expiration), so a queue can hold a stub like any message;
 * anything that needs the bytes gets a resident copy first (msg_unstub).
 */
#include "broker/msg.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"

/* RabbitMQ's upper bound for a TTL, in ms (ten years; rabbit_misc:check_expiry). */
#define MSG_MAX_EXPIRY_MS INT64_C(315360000000)

struct msg {
    uint32_t refs;
    uint32_t props_len;
    uint32_t headers_off; /* into the stored props, valid when headers_len > 0 */
    uint32_t headers_len;
    uint8_t exchange_len;
    uint8_t routing_key_len;
    uint8_t priority;
    bool persistent;
    uint8_t paged;         /* enum msg_paged; MSG_RESIDENT: data[] holds the bytes */
    int64_t expiration_ms; /* -1 when absent or invalid */
    uint64_t body_size;
    union {
        uint64_t body_filled; /* resident */
        uint64_t page_loc;    /* a stub: where its bytes are (the pager's locator) */
    };
    uint64_t store_id;
    uint8_t data[]; /* exchange | routing key | props | body */
};

_Static_assert(sizeof(struct msg) <= 56, "struct msg is the per-message overhead (and a stub)");

static msg_stub_release_fn *stub_release;

static inline const uint8_t *exchange_ptr(const struct msg *m)
{
    return m->data;
}

static inline const uint8_t *routing_key_ptr(const struct msg *m)
{
    return m->data + m->exchange_len;
}

static inline const uint8_t *props_ptr(const struct msg *m)
{
    return routing_key_ptr(m) + m->routing_key_len;
}

static inline uint8_t *body_ptr(struct msg *m)
{
    return m->data + m->exchange_len + m->routing_key_len + m->props_len;
}

static inline const uint8_t *body_cptr(const struct msg *m)
{
    return props_ptr(m) + m->props_len;
}

/*
 * The expiration property as RabbitMQ reads it (rabbit_basic:parse_expiration):
 * string:to_integer/1 must consume the whole string, so an optional sign and
 * at least one digit, nothing else; then rabbit_misc:check_expiry/1 demands
 * 0 <= N <= ten years. Anything else is "invalid" and the channel layer has
 * already refused the publish with 406, so here it only reads as absent.
 */
static int64_t parse_expiration(struct view s)
{
    size_t i = 0;
    bool neg = false;
    int64_t v = 0;

    if (s.n == 0)
        return -1;
    if (s.p[0] == '+' || s.p[0] == '-') {
        neg = s.p[0] == '-';
        i = 1;
    }
    if (i == s.n)
        return -1;
    for (; i < s.n; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return -1;
        /* Past the ten-year bound the value is refused anyway: stop before it
         * can overflow. */
        if (v > MSG_MAX_EXPIRY_MS)
            return -1;
        v = v * 10 + (s.p[i] - '0');
    }
    if (neg && v != 0)
        return -1;
    if (v > MSG_MAX_EXPIRY_MS)
        return -1;
    return v;
}

/* p: the message's props (props_len bytes), in data[] or, for a stub, the
 * caller's copy; headers_off is relative to p either way. */
static void cache_props(struct msg *m, const uint8_t *p)
{
    struct spec_basic_props pr;

    m->priority = 0;
    m->persistent = false;
    m->expiration_ms = -1;
    m->headers_off = 0;
    m->headers_len = 0;
    /* The caller validated the bytes; if they fail anyway the message simply
     * has no properties we act on (it is still delivered as received). */
    if (spec_decode_props(p, m->props_len, &pr) != SPEC_OK)
        return;
    if (pr.flags & SPEC_PROP_PRIORITY)
        m->priority = pr.priority;
    if (pr.flags & SPEC_PROP_DELIVERY_MODE)
        m->persistent = pr.delivery_mode == 2;
    if (pr.flags & SPEC_PROP_EXPIRATION)
        m->expiration_ms = parse_expiration(pr.expiration);
    if ((pr.flags & SPEC_PROP_HEADERS) && pr.headers.n > 0) {
        m->headers_off = (uint32_t)(pr.headers.p - p);
        m->headers_len = (uint32_t)pr.headers.n;
    }
}

struct msg *msg_create(struct view exchange, struct view routing_key, struct view props,
                       uint64_t body_size)
{
    struct msg *m;
    size_t fixed;

    /* Exchange and routing key are shortstrs (basic.publish, 0-9-1 §1.8.3.7);
     * props come from one content-header frame. Anything larger is a caller
     * bug that would corrupt the layout, so it stops the broker. */
    if (exchange.n > UINT8_MAX || routing_key.n > UINT8_MAX || props.n > UINT32_MAX)
        abort();
    fixed = sizeof(*m) + exchange.n + routing_key.n + props.n;
    if (body_size > SIZE_MAX - fixed)
        return NULL;
    m = trymalloc(fixed + (size_t)body_size);
    if (!m)
        return NULL;
    m->refs = 1;
    m->paged = MSG_RESIDENT;
    m->exchange_len = (uint8_t)exchange.n;
    m->routing_key_len = (uint8_t)routing_key.n;
    m->props_len = (uint32_t)props.n;
    m->body_size = body_size;
    m->body_filled = 0;
    m->store_id = 0;
    if (exchange.n)
        memcpy(m->data, exchange.p, exchange.n);
    if (routing_key.n)
        memcpy(m->data + exchange.n, routing_key.p, routing_key.n);
    if (props.n)
        memcpy(m->data + exchange.n + routing_key.n, props.p, props.n);
    cache_props(m, props_ptr(m));
    return m;
}

void msg_append_body(struct msg *m, struct view chunk)
{
    assert(m->paged == MSG_RESIDENT);
    assert(chunk.n <= m->body_size - m->body_filled);
    if (chunk.n > m->body_size - m->body_filled)
        abort();
    if (chunk.n) {
        memcpy(body_ptr(m) + m->body_filled, chunk.p, chunk.n);
        m->body_filled += chunk.n;
    }
}

bool msg_is_complete(const struct msg *m)
{
    return m->paged != MSG_RESIDENT || m->body_filled == m->body_size;
}

struct msg *msg_ref(struct msg *m)
{
    /* A zero count means the message was already freed (or is being): taking
     * a reference would resurrect freed memory, so stop here, also under
     * NDEBUG. */
    if (m->refs == 0 || m->refs == UINT32_MAX)
        abort();
    m->refs++;
    return m;
}

void msg_unref(struct msg **mp)
{
    struct msg *m = *mp;

    if (!m)
        return;
    *mp = NULL;
    if (m->refs == 0)
        abort();
    if (--m->refs == 0) {
        /* A stub's bytes on disk are needed as long as the stub is. */
        if (m->paged != MSG_RESIDENT && stub_release)
            stub_release(m);
        free(m);
    }
}

uint32_t msg_refs(const struct msg *m)
{
    return m->refs;
}

struct view msg_exchange(const struct msg *m)
{
    assert(m->paged == MSG_RESIDENT);
    return (struct view){exchange_ptr(m), m->exchange_len};
}

struct view msg_routing_key(const struct msg *m)
{
    assert(m->paged == MSG_RESIDENT);
    return (struct view){routing_key_ptr(m), m->routing_key_len};
}

struct view msg_props(const struct msg *m)
{
    assert(m->paged == MSG_RESIDENT);
    return (struct view){props_ptr(m), m->props_len};
}

struct view msg_body(const struct msg *m)
{
    assert(m->paged == MSG_RESIDENT);
    return (struct view){body_cptr(m), (size_t)m->body_filled};
}

uint64_t msg_body_size(const struct msg *m)
{
    return m->body_size;
}

size_t msg_mem_size(const struct msg *m)
{
    if (m->paged != MSG_RESIDENT)
        return sizeof(*m);
    return sizeof(*m) + m->exchange_len + m->routing_key_len + m->props_len + (size_t)m->body_size;
}

uint8_t msg_priority(const struct msg *m)
{
    return m->priority;
}

bool msg_is_persistent(const struct msg *m)
{
    return m->persistent;
}

struct view msg_headers(const struct msg *m)
{
    assert(m->paged == MSG_RESIDENT);
    if (m->headers_len == 0)
        return (struct view){NULL, 0};
    return (struct view){props_ptr(m) + m->headers_off, m->headers_len};
}

int64_t msg_expiration_ms(const struct msg *m)
{
    return m->expiration_ms;
}

uint64_t msg_store_id(const struct msg *m)
{
    return m->store_id;
}

void msg_set_store_id(struct msg *m, uint64_t id)
{
    m->store_id = id;
}

/* ---- paging ---- */

enum msg_paged msg_paged(const struct msg *m)
{
    return (enum msg_paged)m->paged;
}

uint64_t msg_page_loc(const struct msg *m)
{
    assert(m->paged != MSG_RESIDENT);
    return m->page_loc;
}

size_t msg_data_len(const struct msg *m)
{
    return (size_t)m->exchange_len + m->routing_key_len + m->props_len + (size_t)m->body_size;
}

struct view msg_data(const struct msg *m)
{
    assert(m->paged == MSG_RESIDENT && m->body_filled == m->body_size);
    return (struct view){m->data, msg_data_len(m)};
}

struct msg *msg_stub_create(const struct msg *m, enum msg_paged where, uint64_t loc)
{
    struct msg *s = xmalloc(sizeof(*s));

    assert(where != MSG_RESIDENT && m->paged == MSG_RESIDENT && msg_is_complete(m));
    *s = *m;
    s->refs = 1;
    s->paged = (uint8_t)where;
    s->page_loc = loc;
    return s;
}

struct msg *msg_stub_new(struct view exchange, struct view routing_key, struct view props,
                         uint64_t body_size, enum msg_paged where, uint64_t loc)
{
    struct msg *s;

    assert(where != MSG_RESIDENT);
    if (exchange.n > UINT8_MAX || routing_key.n > UINT8_MAX || props.n > UINT32_MAX ||
        body_size > SIZE_MAX - sizeof(*s) - 2 * UINT8_MAX - props.n)
        abort();
    s = xcalloc(1, sizeof(*s));
    s->refs = 1;
    s->exchange_len = (uint8_t)exchange.n;
    s->routing_key_len = (uint8_t)routing_key.n;
    s->props_len = (uint32_t)props.n;
    s->body_size = body_size;
    cache_props(s, props.p);
    s->paged = (uint8_t)where;
    s->page_loc = loc;
    return s;
}

struct msg *msg_unstub(const struct msg *stub, uint8_t **data)
{
    struct msg *m;

    assert(stub->paged != MSG_RESIDENT);
    m = xmalloc(sizeof(*m) + msg_data_len(stub));
    *m = *stub;
    m->refs = 1;
    m->paged = MSG_RESIDENT;
    m->body_filled = m->body_size;
    *data = m->data;
    return m;
}

void msg_set_stub_release(msg_stub_release_fn *fn)
{
    stub_release = fn;
}
