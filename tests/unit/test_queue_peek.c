/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for queue/queue.c inspection (issue 6): queue_peek walks ready
 * messages in delivery order (priority levels, requeued messages at their
 * place) without changing anything; queue_remove takes one ready message out
 * by sequence number wherever it is (ring head, middle, tail, requeue heap,
 * expiry index); queue_would_accept predicts x-overflow refusals. A
 * randomized run checks peek and remove against a model of the queue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "amqp/spec_gen.h"
#include "amqp/table.h"
#include "broker/buf.h"
#include "broker/msg.h"
#include "queue/queue.h"
#include "queue/queue_int.h"

/* ---- fake clock and sinks ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

static size_t ndead;
static char dead_bodies[64][16];

static void record_dead_letter(void *arg, struct queue *q, struct msg *m,
                               enum queue_dl_reason reason)
{
    struct view b = msg_body(m);

    (void)arg;
    (void)q;
    (void)reason;
    if (ndead < ARRAY_LEN(dead_bodies)) {
        snprintf(dead_bodies[ndead], sizeof(dead_bodies[0]), "%.*s", (int)b.n, (const char *)b.p);
        ndead++;
    }
    msg_unref(&m);
}

static int setup(void **state)
{
    (void)state;
    fake_now = 1000;
    ndead = 0;
    queue_set_clock(fake_clock);
    queue_set_dead_letter_sink(record_dead_letter, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    queue_flush();
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    queue_set_clock(NULL);
    queue_set_dead_letter_sink(NULL, NULL);
    return 0;
}

/* ---- queues and messages ---- */

/* A queue with integer arguments given as key, value pairs (NULL-terminated),
 * plus x-overflow when overflow is not NULL. */
static struct queue *make_queue(const char *overflow, ...)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    struct proto_err err = {0};
    struct queue *q;
    const char *key;
    va_list ap;

    va_start(ap, overflow);
    while ((key = va_arg(ap, const char *)) != NULL)
        table_put_i64(&b, key, va_arg(ap, int64_t));
    va_end(ap);
    if (overflow)
        table_put_longstr(&b, "x-overflow", view_str(overflow));
    /* dead letters reach the sink (recorded), not discarded */
    table_put_longstr(&b, "x-dead-letter-exchange", VIEW_LIT("dlx"));
    table_close(&b, off);
    q = queue_create(VIEW_LIT("/"), VIEW_LIT("dlq"), 0, (struct view){b.p + 4, b.len - 4}, 0, &err);
    buf_free(&b);
    if (!q)
        fail_msg("queue_create: %s", err.text);
    return q;
}

static void destroy(struct queue *q)
{
    queue_delete(q);
    queue_unref(&q);
}

static struct msg *make_msg(const char *s, const char *exp, int prio)
{
    struct spec_basic_props pr = {0};
    uint8_t props[64];
    size_t n;
    struct msg *m;

    if (exp) {
        pr.flags |= SPEC_PROP_EXPIRATION;
        pr.expiration = view_str(exp);
    }
    if (prio >= 0) {
        pr.flags |= SPEC_PROP_PRIORITY;
        pr.priority = (uint8_t)prio;
    }
    n = spec_encode_props(&pr, props);
    m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), (struct view){props, n}, strlen(s));
    assert_non_null(m);
    msg_append_body(m, view_str(s));
    return m;
}

static void publish_ex(struct queue *q, const char *s, const char *exp, int prio)
{
    struct msg *m = make_msg(s, exp, prio);
    struct proto_err err = {0};

    assert_int_equal(queue_publish(q, m, &err), 0);
    msg_unref(&m);
}

static void publish(struct queue *q, const char *s)
{
    publish_ex(q, s, NULL, -1);
}

/* Publishes "1" .. "n". */
static void publish_n(struct queue *q, int n)
{
    char s[16];

    for (int i = 1; i <= n; i++) {
        snprintf(s, sizeof(s), "%d", i);
        publish(q, s);
    }
}

/* ---- peek collector ---- */

struct seen {
    char text[512]; /* "body,body*,..." with '*' for redelivered */
    uint64_t seqs[64];
    size_t n;
    size_t stop_after; /* 0: never stop */
};

static bool collect(void *arg, struct msg *m, uint64_t seq, bool redelivered)
{
    struct seen *s = arg;
    struct view b = msg_body(m);
    size_t len = strlen(s->text);

    snprintf(s->text + len, sizeof(s->text) - len, "%s%.*s%s", len ? "," : "", (int)b.n,
             (const char *)b.p, redelivered ? "*" : "");
    if (s->n < ARRAY_LEN(s->seqs))
        s->seqs[s->n] = seq;
    s->n++;
    return s->stop_after == 0 || s->n < s->stop_after;
}

/* The peek of q from offset, count as a string. */
static const char *peek_str(const struct queue *q, size_t offset, size_t count, struct seen *s)
{
    size_t got;

    memset(s, 0, sizeof(*s));
    got = queue_peek(q, offset, count, collect, s);
    assert_int_equal(got, s->n);
    return s->text;
}

/* What consumers get: basic.get until empty, as a string, each acked. */
static const char *drain_str(struct queue *q, char *out, size_t size)
{
    struct msg *m;
    uint64_t seq;
    bool red;
    size_t len = 0;

    out[0] = '\0';
    while ((m = queue_get(q, true, &seq, &red)) != NULL) {
        struct view b = msg_body(m);
        len += (size_t)snprintf(out + len, size - len, "%s%.*s%s", len ? "," : "", (int)b.n,
                                (const char *)b.p, red ? "*" : "");
        assert_true(len < size);
        queue_ack(q, seq);
        msg_unref(&m);
    }
    return out;
}

/* Takes the next message with ack; returns its seq (message in *m). */
static uint64_t get(struct queue *q, struct msg **m)
{
    uint64_t seq = 0;
    bool red;

    *m = queue_get(q, true, &seq, &red);
    assert_non_null(*m);
    return seq;
}

/* ---- peek ---- */

static void test_peek_fifo_with_offset_and_count(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;

    (void)state;
    publish_n(q, 5);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1,2,3,4,5");
    assert_string_equal(peek_str(q, 1, 2, &s), "2,3");
    assert_string_equal(peek_str(q, 3, 10, &s), "4,5");
    assert_string_equal(peek_str(q, 5, 10, &s), "");
    assert_string_equal(peek_str(q, 0, 0, &s), "");
    assert_int_equal(queue_ready_count(q), 5);
    destroy(q);
}

static void test_peek_sequence_numbers_are_stable_ids(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen a, b;
    struct msg *m;
    uint64_t seq;

    (void)state;
    publish_n(q, 3);
    peek_str(q, 0, SIZE_MAX, &a);
    seq = get(q, &m);
    assert_int_equal(seq, a.seqs[0]);
    queue_requeue(q, m, seq);
    peek_str(q, 0, SIZE_MAX, &b);
    assert_memory_equal(a.seqs, b.seqs, 3 * sizeof(a.seqs[0]));
    destroy(q);
}

static void test_peek_changes_nothing(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;
    char out[256];
    size_t bytes;

    (void)state;
    publish_n(q, 4);
    bytes = queue__storage_bytes(q);
    for (int i = 0; i < 3; i++)
        assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1,2,3,4");
    assert_int_equal(queue_ready_count(q), 4);
    assert_int_equal(queue_unacked_count(q), 0);
    assert_int_equal(queue__storage_bytes(q), bytes);
    /* the same order, none redelivered */
    assert_string_equal(drain_str(q, out, sizeof(out)), "1,2,3,4");
    destroy(q);
}

static void test_peek_shows_requeued_messages_at_their_place(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct msg *m[4];
    uint64_t seq[4];
    struct seen s;
    char out[256];

    (void)state;
    publish_n(q, 8);
    for (int i = 0; i < 4; i++)
        seq[i] = get(q, &m[i]);
    /* 1..4 out; requeue 3, 1, 4 (not 2): they go back to their places */
    queue_requeue(q, m[2], seq[2]);
    queue_requeue(q, m[0], seq[0]);
    queue_requeue(q, m[3], seq[3]);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1*,3*,4*,5,6,7,8");
    assert_string_equal(peek_str(q, 1, 3, &s), "3*,4*,5");
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1*,3*,4*,5,6,7,8");
    queue_ack(q, seq[1]);
    msg_unref(&m[1]);
    assert_string_equal(drain_str(q, out, sizeof(out)), "1*,3*,4*,5,6,7,8");
    destroy(q);
}

static void test_peek_walks_priority_levels_highest_first(void **state)
{
    struct queue *q = make_queue(NULL, "x-max-priority", (int64_t)5, NULL);
    struct seen s;
    char out[256];

    (void)state;
    publish_ex(q, "a0", NULL, 0);
    publish_ex(q, "b3", NULL, 3);
    publish_ex(q, "c9", NULL, 9); /* capped to 5 */
    publish_ex(q, "d3", NULL, 3);
    publish_ex(q, "e", NULL, -1);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "c9,b3,d3,a0,e");
    assert_string_equal(peek_str(q, 2, 2, &s), "d3,a0");
    assert_string_equal(drain_str(q, out, sizeof(out)), "c9,b3,d3,a0,e");
    destroy(q);
}

static void test_peek_stops_when_the_callback_says_so(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;

    (void)state;
    publish_n(q, 5);
    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(queue_peek(q, 1, SIZE_MAX, collect, &s), 2);
    assert_string_equal(s.text, "2,3");
    destroy(q);
}

static void test_peek_skips_messages_past_their_deadline(void **state)
{
    struct queue *q = make_queue(NULL, "x-message-ttl", (int64_t)1000, NULL);
    struct seen s;

    (void)state;
    publish(q, "1");
    fake_now += 500;
    publish(q, "2");
    publish_ex(q, "3", "100", -1); /* expires in the middle, indexed */
    fake_now += 600;               /* 1 and 3 are due, the timer has not run */
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "2");
    assert_int_equal(queue_ready_count(q), 3); /* peek expires nothing */
    assert_int_equal(ndead, 0);
    queue_expiry_run(fake_now);
    assert_int_equal(ndead, 2);
    assert_int_equal(queue_ready_count(q), 1);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "2");
    destroy(q);
}

static void test_peek_of_deleted_or_empty_queue_gives_nothing(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;

    (void)state;
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "");
    publish_n(q, 2);
    queue_delete(q);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "");
    queue_unref(&q);
}

/* ---- remove ---- */

static void test_remove_from_head_middle_and_tail(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;
    uint64_t ids[6];
    struct msg *m;
    bool red = true;
    char out[256];

    (void)state;
    publish_n(q, 6);
    peek_str(q, 0, SIZE_MAX, &s);
    memcpy(ids, s.seqs, sizeof(ids));
    m = queue_remove(q, ids[3], &red); /* middle */
    assert_non_null(m);
    assert_true(view_eq_str(msg_body(m), "4"));
    assert_false(red);
    msg_unref(&m);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1,2,3,5,6");
    assert_int_equal(queue_ready_count(q), 5);
    assert_int_equal(queue_ready_bytes(q), 5);
    m = queue_remove(q, ids[0], NULL); /* head */
    assert_true(view_eq_str(msg_body(m), "1"));
    msg_unref(&m);
    m = queue_remove(q, ids[5], NULL); /* tail */
    assert_true(view_eq_str(msg_body(m), "6"));
    msg_unref(&m);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "2,3,5");
    /* gone already, never existed, 0 */
    assert_null(queue_remove(q, ids[3], NULL));
    assert_null(queue_remove(q, 999, NULL));
    assert_null(queue_remove(q, 0, NULL));
    /* consumers still get the rest in order, and new messages after them */
    publish(q, "7");
    assert_string_equal(drain_str(q, out, sizeof(out)), "2,3,5,7");
    destroy(q);
}

static void test_remove_next_to_removed_ones_and_head_catching_up(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;
    uint64_t ids[5];
    struct msg *m;
    char out[256];

    (void)state;
    publish_n(q, 5);
    peek_str(q, 0, SIZE_MAX, &s);
    memcpy(ids, s.seqs, sizeof(ids));
    for (int i = 1; i <= 3; i++) { /* 2, 3, 4: a run of holes */
        m = queue_remove(q, ids[i], NULL);
        assert_non_null(m);
        msg_unref(&m);
    }
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1,5");
    assert_string_equal(peek_str(q, 1, 1, &s), "5");
    /* the head skips the holes */
    assert_string_equal(drain_str(q, out, sizeof(out)), "1,5");
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

static void test_remove_requeued_message(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct msg *m[3], *r;
    uint64_t seq[3];
    bool red = false;
    struct seen s;
    char out[256];

    (void)state;
    publish_n(q, 5);
    for (int i = 0; i < 3; i++)
        seq[i] = get(q, &m[i]);
    for (int i = 0; i < 3; i++)
        queue_requeue(q, m[i], seq[i]);
    r = queue_remove(q, seq[1], &red);
    assert_non_null(r);
    assert_true(view_eq_str(msg_body(r), "2"));
    assert_true(red);
    msg_unref(&r);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1*,3*,4,5");
    assert_string_equal(drain_str(q, out, sizeof(out)), "1*,3*,4,5");
    destroy(q);
}

static void test_remove_refuses_unacked_message(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct msg *m;
    uint64_t seq;

    (void)state;
    publish_n(q, 2);
    seq = get(q, &m);
    assert_null(queue_remove(q, seq, NULL));
    assert_int_equal(queue_unacked_count(q), 1);
    queue_ack(q, seq);
    msg_unref(&m);
    destroy(q);
}

static void test_remove_in_priority_levels(void **state)
{
    struct queue *q = make_queue(NULL, "x-max-priority", (int64_t)3, NULL);
    struct seen s;
    struct msg *m;
    char out[256];

    (void)state;
    publish_ex(q, "a1", NULL, 1);
    publish_ex(q, "b3", NULL, 3);
    publish_ex(q, "c1", NULL, 1);
    publish_ex(q, "d3", NULL, 3);
    peek_str(q, 0, SIZE_MAX, &s); /* b3 d3 a1 c1 */
    m = queue_remove(q, s.seqs[1], NULL);
    assert_true(view_eq_str(msg_body(m), "d3"));
    msg_unref(&m);
    m = queue_remove(q, s.seqs[0], NULL);
    assert_true(view_eq_str(msg_body(m), "b3"));
    msg_unref(&m);
    /* level 3 is empty now */
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "a1,c1");
    publish_ex(q, "e2", NULL, 2);
    assert_string_equal(drain_str(q, out, sizeof(out)), "e2,a1,c1");
    destroy(q);
}

static void test_remove_indexed_message_keeps_expiry_right(void **state)
{
    struct queue *q = make_queue(NULL, "x-message-ttl", (int64_t)1000, NULL);
    struct seen s;
    struct msg *m;

    (void)state;
    publish(q, "1");
    publish_ex(q, "2", "100", -1); /* in the expiry index */
    publish_ex(q, "3", "200", -1);
    publish(q, "4");
    peek_str(q, 0, SIZE_MAX, &s);
    m = queue_remove(q, s.seqs[1], NULL);
    assert_true(view_eq_str(msg_body(m), "2"));
    msg_unref(&m);
    /* the next deadline is 3's */
    assert_int_equal(queue_expiry_next(), 1200);
    fake_now = 1200;
    queue_expiry_run(fake_now);
    assert_int_equal(ndead, 1);
    assert_string_equal(dead_bodies[0], "3");
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "1,4");
    fake_now = 2000;
    queue_expiry_run(fake_now);
    assert_int_equal(ndead, 3);
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

static void test_remove_refuses_message_past_its_deadline(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;
    uint64_t id;

    (void)state;
    publish_ex(q, "1", "50", -1);
    peek_str(q, 0, SIZE_MAX, &s);
    id = s.seqs[0];
    fake_now += 50;
    assert_null(queue_remove(q, id, NULL));
    queue_expiry_run(fake_now);
    assert_int_equal(ndead, 1); /* the timer dead-letters it */
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

static void test_remove_everything_from_the_middle_gives_storage_back(void **state)
{
    struct queue *q = make_queue(NULL, NULL);
    struct seen s;
    size_t floor_bytes;
    uint64_t first, last;
    char out[64];

    (void)state;
    publish(q, "x");
    floor_bytes = queue__storage_bytes(q);
    publish_n(q, 998);
    publish(q, "y");
    peek_str(q, 0, 1, &s);
    first = s.seqs[0];
    peek_str(q, 999, 1, &s);
    last = s.seqs[0];
    /* remove every message but the first and the last, back to front */
    for (uint64_t id = last - 1; id > first; id--) {
        struct msg *m = queue_remove(q, id, NULL);
        assert_non_null(m);
        msg_unref(&m);
    }
    assert_int_equal(queue_ready_count(q), 2);
    assert_string_equal(peek_str(q, 0, SIZE_MAX, &s), "x,y");
    assert_string_equal(drain_str(q, out, sizeof(out)), "x,y");
    assert_int_equal(queue__storage_bytes(q), floor_bytes);
    destroy(q);
}

/* ---- would_accept ---- */

static void test_would_accept_follows_overflow(void **state)
{
    struct queue *rp = make_queue("reject-publish", "x-max-length", (int64_t)1, NULL);
    struct queue *zero = make_queue("reject-publish", "x-max-length", (int64_t)0, NULL);
    struct queue *bytes = make_queue("reject-publish-dlx", "x-max-length-bytes", (int64_t)3, NULL);
    struct queue *dh = make_queue(NULL, "x-max-length", (int64_t)1, NULL);
    struct msg *m = make_msg("ab", NULL, -1);

    (void)state;
    assert_true(queue_would_accept(rp, m));
    publish(rp, "1");
    assert_false(queue_would_accept(rp, m));
    assert_false(queue_would_accept(zero, m));
    assert_true(queue_would_accept(bytes, m));
    publish(bytes, "x");
    assert_true(queue_would_accept(bytes, m)); /* 1 + 2 bytes fit */
    publish(bytes, "y");
    assert_false(queue_would_accept(bytes, m)); /* 2 + 2 do not */
    publish(dh, "1");
    assert_true(queue_would_accept(dh, m)); /* drop-head always accepts */
    queue_delete(dh);
    assert_false(queue_would_accept(dh, m));
    msg_unref(&m);
    queue_unref(&dh);
    destroy(rp);
    destroy(zero);
    destroy(bytes);
    queue_flush();
}

/* ---- a randomized run against a model ---- */

struct model_msg {
    uint64_t seq;
    int prio; /* level */
    bool red;
    int body;
};

static int model_cmp(const void *a, const void *b)
{
    const struct model_msg *x = a, *y = b;

    if (x->prio != y->prio)
        return x->prio > y->prio ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

struct check {
    const struct model_msg *want;
    size_t n, i;
};

static bool check_one(void *arg, struct msg *m, uint64_t seq, bool red)
{
    struct check *c = arg;
    char b[16];

    assert_true(c->i < c->n);
    snprintf(b, sizeof(b), "%d", c->want[c->i].body);
    assert_true(view_eq_str(msg_body(m), b));
    assert_int_equal(seq, c->want[c->i].seq);
    assert_int_equal(red, c->want[c->i].red);
    c->i++;
    return true;
}

static void test_peek_and_remove_match_a_model(void **state)
{
    struct queue *q = make_queue(NULL, "x-max-priority", (int64_t)2, NULL);
    struct model_msg model[400], held[400];
    struct msg *held_m[400];
    size_t n = 0, nheld = 0;
    uint32_t rng = 12345;
    int next_body = 0;

    (void)state;
    for (int step = 0; step < 20000; step++) {
        unsigned op;

        rng = rng * 1103515245u + 12345u;
        op = (rng >> 16) % 10;
        if (op < 4 && n + nheld < ARRAY_LEN(model)) {
            char b[16];
            int prio = (int)((rng >> 8) % 4); /* 3 is capped to 2 */
            struct msg *m;
            struct proto_err err = {0};
            snprintf(b, sizeof(b), "%d", next_body);
            m = make_msg(b, NULL, prio);
            assert_int_equal(queue_publish(q, m, &err), 0);
            msg_unref(&m);
            /* peek the tail to learn the new message's sequence number */
            model[n] = (struct model_msg){0, prio > 2 ? 2 : prio, false, next_body++};
            {
                struct seen s;
                size_t k = 0;
                qsort(model, n, sizeof(model[0]), model_cmp);
                /* position of the new one: after every higher or equal level */
                while (k < n && model[k].prio >= model[n].prio)
                    k++;
                memset(&s, 0, sizeof(s));
                assert_int_equal(queue_peek(q, k, 1, collect, &s), 1);
                model[n].seq = s.seqs[0];
            }
            n++;
        } else if (op < 6 && n > 0) {
            struct msg *m;
            uint64_t seq;
            bool red;
            qsort(model, n, sizeof(model[0]), model_cmp);
            m = queue_get(q, true, &seq, &red);
            assert_non_null(m);
            assert_int_equal(seq, model[0].seq);
            held[nheld] = model[0];
            held_m[nheld++] = m;
            memmove(model, model + 1, (n - 1) * sizeof(model[0]));
            n--;
        } else if (op < 7 && nheld > 0) {
            size_t i = (rng >> 4) % nheld;
            queue_requeue(q, held_m[i], held[i].seq);
            held[i].red = true;
            model[n++] = held[i];
            held[i] = held[nheld - 1];
            held_m[i] = held_m[--nheld];
        } else if (op < 8 && nheld > 0) {
            size_t i = (rng >> 4) % nheld;
            queue_ack(q, held[i].seq);
            msg_unref(&held_m[i]);
            held[i] = held[nheld - 1];
            held_m[i] = held_m[--nheld];
        } else if (op < 9 && n > 0) {
            size_t i = (rng >> 4) % n;
            bool red;
            struct msg *m = queue_remove(q, model[i].seq, &red);
            assert_non_null(m);
            assert_int_equal(red, model[i].red);
            msg_unref(&m);
            model[i] = model[--n];
        } else {
            struct check c;
            size_t off = n ? (rng >> 4) % n : 0;
            qsort(model, n, sizeof(model[0]), model_cmp);
            c = (struct check){model + off, n - off, 0};
            assert_int_equal(queue_peek(q, off, SIZE_MAX, check_one, &c), n - off);
        }
        assert_int_equal(queue_ready_count(q), n);
        assert_int_equal(queue_unacked_count(q), nheld);
    }
    for (size_t i = 0; i < nheld; i++) {
        queue_ack(q, held[i].seq);
        msg_unref(&held_m[i]);
    }
    destroy(q);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_peek_fifo_with_offset_and_count),
        T(test_peek_sequence_numbers_are_stable_ids),
        T(test_peek_changes_nothing),
        T(test_peek_shows_requeued_messages_at_their_place),
        T(test_peek_walks_priority_levels_highest_first),
        T(test_peek_stops_when_the_callback_says_so),
        T(test_peek_skips_messages_past_their_deadline),
        T(test_peek_of_deleted_or_empty_queue_gives_nothing),
        T(test_remove_from_head_middle_and_tail),
        T(test_remove_next_to_removed_ones_and_head_catching_up),
        T(test_remove_requeued_message),
        T(test_remove_refuses_unacked_message),
        T(test_remove_in_priority_levels),
        T(test_remove_indexed_message_keeps_expiry_right),
        T(test_remove_refuses_message_past_its_deadline),
        T(test_remove_everything_from_the_middle_gives_storage_back),
        T(test_would_accept_follows_overflow),
        T(test_peek_and_remove_match_a_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
