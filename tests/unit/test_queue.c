/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for queue/queue.c: order, requeue position, priorities,
 * consumers (priority, round-robin, credit, single active, exclusive),
 * delete, counts and storage. Fake consumers record what they receive and
 * hold the message references they are given.
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

/* ---- messages ---- */

/* A message whose body is the text s; prio < 0 means no priority property. */
static struct msg *make_msg(const char *s, int prio)
{
    struct spec_basic_props pr = {0};
    uint8_t props[16];
    size_t n;
    struct msg *m;

    if (prio >= 0) {
        pr.flags = SPEC_PROP_PRIORITY;
        pr.priority = (uint8_t)prio;
    }
    n = spec_encode_props(&pr, props);
    m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), (struct view){props, n}, strlen(s));
    assert_non_null(m);
    msg_append_body(m, view_str(s));
    return m;
}

/* Publishes a message and drops the caller's reference. */
static void publish(struct queue *q, const char *s, int prio)
{
    struct msg *m = make_msg(s, prio);
    struct proto_err err = {0};

    assert_int_equal(queue_publish(q, m, &err), 0);
    msg_unref(&m);
}

static void publish_n(struct queue *q, int from, int to)
{
    char s[16];

    for (int i = from; i <= to; i++) {
        snprintf(s, sizeof(s), "%d", i);
        publish(q, s, -1);
    }
}

static bool body_is(const struct msg *m, const char *s)
{
    return view_eq_str(msg_body(m), s);
}

/* basic.get with ack; checks the body and redelivered flag; returns seq. */
static uint64_t get_expect(struct queue *q, const char *s, bool redelivered)
{
    uint64_t seq = 0;
    bool red = !redelivered;
    struct msg *m = queue_get(q, true, &seq, &red);

    assert_non_null(m);
    if (!body_is(m, s))
        fail_msg("got \"%.*s\", want \"%s\"", (int)msg_body(m).n, (const char *)msg_body(m).p, s);
    assert_int_equal(red, redelivered);
    msg_unref(&m);
    return seq;
}

/* ---- queues ---- */

static struct queue *make_queue_args(struct view args)
{
    struct proto_err err = {0};
    struct queue *q = queue_create(VIEW_LIT("/"), VIEW_LIT("q"), 0, args, 0, &err);

    if (!q)
        fail_msg("queue_create: %s", err.text);
    return q;
}

static struct queue *make_queue(void)
{
    return make_queue_args((struct view){NULL, 0});
}

static struct queue *make_queue_i32(const char *key, int32_t v)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    struct queue *q;

    table_put_i32(&b, key, v);
    table_close(&b, off);
    q = make_queue_args((struct view){b.p + 4, b.len - 4});
    buf_free(&b);
    return q;
}

static struct queue *make_sac_queue(void)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    struct queue *q;

    table_put_bool(&b, "x-single-active-consumer", true);
    table_close(&b, off);
    q = make_queue_args((struct view){b.p + 4, b.len - 4});
    buf_free(&b);
    return q;
}

static void destroy(struct queue *q)
{
    queue_delete(q);
    queue_unref(&q);
}

/* ---- fake consumers ---- */

#define MAX_GOT 64

struct delivery {
    struct msg *m;
    uint64_t seq;
    bool redelivered;
};

/* Credit shared by the consumers of one fake channel (basic.qos global). */
struct chan {
    int credit; /* -1: unlimited */
};

struct fake {
    const char *name;
    int credit; /* -1: unlimited */
    struct chan *chan;
    struct queue *q; /* reference held for unacked deliveries */
    size_t n;
    struct delivery got[MAX_GOT];
    int cancelled;
    /* for the cancel-callback test */
    struct queue *cancel_q;
    struct consumer *cancel_other;
    struct consumer *self;
};

/* The order in which fakes were delivered to, by name initial. */
static char order[256];
static size_t norder;

static bool fake_can_take(void *owner)
{
    struct fake *f = owner;

    if (f->chan && f->chan->credit == 0)
        return false;
    return f->credit != 0 && f->n < MAX_GOT;
}

static void fake_deliver(void *owner, struct queue *q, struct msg *m, uint64_t seq,
                         bool redelivered)
{
    struct fake *f = owner;

    assert_true(f->n < MAX_GOT);
    f->got[f->n++] = (struct delivery){m, seq, redelivered};
    if (f->credit > 0)
        f->credit--;
    if (f->chan && f->chan->credit > 0)
        f->chan->credit--;
    if (!f->q)
        f->q = queue_ref(q);
    if (norder + 1 < sizeof(order))
        order[norder++] = f->name[0];
    order[norder] = '\0';
}

static void fake_cancelled(void *owner, struct queue *q)
{
    struct fake *f = owner;

    (void)q;
    f->cancelled++;
    if (f->cancel_other) {
        queue_cancel(f->cancel_q, f->cancel_other);
        /* cancelling oneself from the callback is harmless too */
        queue_cancel(f->cancel_q, f->self);
    }
}

static const struct consumer_ops fake_ops = {fake_can_take, fake_deliver, fake_cancelled};

static struct consumer *consume(struct queue *q, struct fake *f, int32_t prio)
{
    struct proto_err err = {0};
    struct consumer *c = queue_consume(q, &fake_ops, f, prio, false, false, &err);

    if (!c)
        fail_msg("queue_consume: %s", err.text);
    f->self = c;
    return c;
}

/* Drops every message reference and the queue reference the fake holds. */
static void fake_release(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++)
        msg_unref(&f->got[i].m);
    f->n = 0;
    queue_unref(&f->q);
}

static bool got_is(const struct fake *f, size_t i, const char *s)
{
    return i < f->n && body_is(f->got[i].m, s);
}

static int setup(void **state)
{
    (void)state;
    norder = 0;
    order[0] = '\0';
    return 0;
}

/* ---- order ---- */

static void test_queue_order_preserved(void **state)
{
    struct queue *q = make_queue();
    uint64_t last = 0;

    (void)state;
    publish_n(q, 1, 5);
    for (int i = 1; i <= 5; i++) {
        char s[16];
        uint64_t seq;
        snprintf(s, sizeof(s), "%d", i);
        seq = get_expect(q, s, false);
        assert_true(seq > last);
        last = seq;
        queue_ack(q, seq);
    }
    assert_null(queue_get(q, true, NULL, NULL));
    destroy(q);
}

static void test_queue_requeue_returns_to_original_place(void **state)
{
    struct queue *q = make_queue();
    uint64_t s1, s2, s3;
    struct msg *m;

    (void)state;
    publish_n(q, 1, 5);
    s1 = get_expect(q, "1", false);
    /* keep message 2 to requeue it */
    m = queue_get(q, true, &s2, NULL);
    assert_true(body_is(m, "2"));
    s3 = get_expect(q, "3", false);
    queue_ack(q, s1);
    queue_ack(q, s3);
    queue_requeue(q, m, s2);
    assert_int_equal(queue_unacked_count(q), 0);
    assert_int_equal(queue_ready_count(q), 3);
    queue_ack(q, get_expect(q, "2", true));
    queue_ack(q, get_expect(q, "4", false));
    queue_ack(q, get_expect(q, "5", false));
    destroy(q);
}

static void test_queue_requeue_batch_in_any_order_restores_order(void **state)
{
    struct queue *q = make_queue();
    struct msg *m[4];
    uint64_t seq[4];

    (void)state;
    publish_n(q, 1, 6);
    for (int i = 0; i < 4; i++)
        m[i] = queue_get(q, true, &seq[i], NULL);
    /* requeued out of order, and a fresh message arrives in between */
    queue_requeue(q, m[2], seq[2]);
    publish(q, "7", -1);
    queue_requeue(q, m[0], seq[0]);
    queue_requeue(q, m[3], seq[3]);
    queue_requeue(q, m[1], seq[1]);
    queue_ack(q, get_expect(q, "1", true));
    queue_ack(q, get_expect(q, "2", true));
    queue_ack(q, get_expect(q, "3", true));
    queue_ack(q, get_expect(q, "4", true));
    queue_ack(q, get_expect(q, "5", false));
    queue_ack(q, get_expect(q, "6", false));
    queue_ack(q, get_expect(q, "7", false));
    destroy(q);
}

static void test_queue_order_preserved_across_ring_wrap_and_growth(void **state)
{
    struct queue *q = make_queue();
    int next_in = 1, next_out = 1;
    char s[16];

    (void)state;
    /* interleave so the ring wraps, then grows while wrapped, then shrinks */
    for (int round = 0; round < 50; round++) {
        int puts = 3 + round % 7, gets = 2 + (round * 5) % 9;
        for (int i = 0; i < puts; i++) {
            snprintf(s, sizeof(s), "%d", next_in++);
            publish(q, s, -1);
        }
        for (int i = 0; i < gets && next_out < next_in; i++) {
            snprintf(s, sizeof(s), "%d", next_out++);
            queue_ack(q, get_expect(q, s, false));
        }
    }
    while (next_out < next_in) {
        snprintf(s, sizeof(s), "%d", next_out++);
        queue_ack(q, get_expect(q, s, false));
    }
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

/* A tiny reference model of the ready list: served by highest level, then
 * lowest sequence number. */
struct model_ent {
    int id;
    unsigned level;
    uint64_t seq;
    bool redelivered;
};

static size_t model_best(const struct model_ent *e, size_t n)
{
    size_t best = 0;

    for (size_t i = 1; i < n; i++)
        if (e[i].level > e[best].level || (e[i].level == e[best].level && e[i].seq < e[best].seq))
            best = i;
    return best;
}

static void test_queue_random_operations_match_model(void **state)
{
    enum { OPS = 6000, MAXP = 3, CAP = 4096 };
    static struct model_ent ready[CAP];
    static struct {
        struct msg *m;
        uint64_t seq;
        int id;
        unsigned level;
    } held[CAP];
    size_t nready = 0, nheld = 0;
    struct queue *q = make_queue_i32("x-max-priority", MAXP);
    uint32_t rng = 12345;
    int next_id = 0;
    uint64_t next_seq = 1;
    char s[16];

    (void)state;
    for (int op = 0; op < OPS; op++) {
        unsigned r;
        rng = rng * 1103515245u + 12345u;
        r = (rng >> 16) % 10;
        if (r < 4 && nready < CAP) {
            int prio = (int)((rng >> 8) % 6) - 1; /* -1 (none) .. 4 (capped) */
            snprintf(s, sizeof(s), "%d", next_id);
            publish(q, s, prio);
            ready[nready++] = (struct model_ent){
                next_id++, prio < 0 ? 0 : (prio > MAXP ? MAXP : (unsigned)prio), next_seq++, false};
        } else if (r < 7 && nready > 0) {
            size_t b = model_best(ready, nready);
            uint64_t seq;
            bool red;
            struct msg *m = queue_get(q, true, &seq, &red);

            assert_non_null(m);
            snprintf(s, sizeof(s), "%d", ready[b].id);
            if (!body_is(m, s))
                fail_msg("op %d: got \"%.*s\", want \"%s\"", op, (int)msg_body(m).n,
                         (const char *)msg_body(m).p, s);
            assert_int_equal(seq, ready[b].seq);
            assert_int_equal(red, ready[b].redelivered);
            held[nheld].m = m;
            held[nheld].seq = seq;
            held[nheld].id = ready[b].id;
            held[nheld].level = ready[b].level;
            nheld++;
            ready[b] = ready[--nready];
        } else if (r < 9 && nheld > 0) {
            size_t i = (rng >> 4) % nheld;
            ready[nready++] = (struct model_ent){held[i].id, held[i].level, held[i].seq, true};
            queue_requeue(q, held[i].m, held[i].seq);
            held[i] = held[--nheld];
        } else if (nheld > 0) {
            size_t i = (rng >> 4) % nheld;
            queue_ack(q, held[i].seq);
            msg_unref(&held[i].m);
            held[i] = held[--nheld];
        }
        assert_int_equal(queue_ready_count(q), nready);
        assert_int_equal(queue_unacked_count(q), nheld);
    }
    while (nheld > 0) {
        nheld--;
        queue_ack(q, held[nheld].seq);
        msg_unref(&held[nheld].m);
    }
    destroy(q);
}

/* ---- priorities ---- */

static void test_queue_priority_highest_first(void **state)
{
    struct queue *q = make_queue_i32("x-max-priority", 5);

    (void)state;
    publish(q, "p1", 1);
    publish(q, "p5a", 5);
    publish(q, "p3", 3);
    publish(q, "none", -1);
    publish(q, "p5b", 5);
    publish(q, "p0", 0);
    queue_ack(q, get_expect(q, "p5a", false));
    queue_ack(q, get_expect(q, "p5b", false));
    queue_ack(q, get_expect(q, "p3", false));
    queue_ack(q, get_expect(q, "p1", false));
    /* no priority counts as 0, in publish order */
    queue_ack(q, get_expect(q, "none", false));
    queue_ack(q, get_expect(q, "p0", false));
    destroy(q);
}

static void test_queue_priority_above_max_is_capped(void **state)
{
    struct queue *q = make_queue_i32("x-max-priority", 2);

    (void)state;
    publish(q, "p1", 1);
    publish(q, "p9", 9);
    publish(q, "p2", 2);
    publish(q, "p255", 255);
    queue_ack(q, get_expect(q, "p9", false));
    queue_ack(q, get_expect(q, "p2", false));
    queue_ack(q, get_expect(q, "p255", false));
    queue_ack(q, get_expect(q, "p1", false));
    destroy(q);
}

static void test_queue_priority_ignored_without_max_priority(void **state)
{
    struct queue *q = make_queue();

    (void)state;
    publish(q, "a", 1);
    publish(q, "b", 9);
    queue_ack(q, get_expect(q, "a", false));
    queue_ack(q, get_expect(q, "b", false));
    destroy(q);
}

static void test_queue_priority_requeue_keeps_level_order(void **state)
{
    struct queue *q = make_queue_i32("x-max-priority", 255);
    struct msg *m;
    uint64_t seq;

    (void)state;
    publish(q, "h1", 200);
    publish(q, "h2", 200);
    publish(q, "low", 0);
    m = queue_get(q, true, &seq, NULL);
    assert_true(body_is(m, "h1"));
    publish(q, "top", 255);
    queue_requeue(q, m, seq);
    queue_ack(q, get_expect(q, "top", false));
    queue_ack(q, get_expect(q, "h1", true));
    queue_ack(q, get_expect(q, "h2", false));
    queue_ack(q, get_expect(q, "low", false));
    destroy(q);
}

/* ---- consumers ---- */

static void test_queue_round_robin_equal_priority(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1}, b = {.name = "b", .credit = -1},
                c = {.name = "c", .credit = -1};

    (void)state;
    consume(q, &a, 0);
    consume(q, &b, 0);
    consume(q, &c, 0);
    publish_n(q, 1, 7);
    assert_string_equal(order, "abcabca");
    assert_true(got_is(&a, 0, "1") && got_is(&b, 0, "2") && got_is(&c, 0, "3"));
    assert_true(got_is(&a, 1, "4") && got_is(&a, 2, "7"));
    destroy(q);
    fake_release(&a);
    fake_release(&b);
    fake_release(&c);
}

static void test_queue_higher_priority_consumer_preferred(void **state)
{
    struct queue *q = make_queue();
    struct fake lo = {.name = "lo", .credit = -1}, hi = {.name = "hi", .credit = 2};

    (void)state;
    consume(q, &lo, 0);
    consume(q, &hi, 10);
    publish_n(q, 1, 3);
    /* hi takes what it can; lo gets the rest */
    assert_string_equal(order, "hhl");
    assert_int_equal(hi.n, 2);
    assert_int_equal(lo.n, 1);
    destroy(q);
    fake_release(&lo);
    fake_release(&hi);
}

static void test_queue_negative_priority_consumer_served_last(void **state)
{
    struct queue *q = make_queue();
    struct fake neg = {.name = "n", .credit = -1}, zero = {.name = "z", .credit = 1};

    (void)state;
    consume(q, &neg, -5);
    consume(q, &zero, 0);
    publish_n(q, 1, 2);
    assert_string_equal(order, "zn");
    destroy(q);
    fake_release(&neg);
    fake_release(&zero);
}

static void test_queue_can_take_false_skips_consumer(void **state)
{
    struct queue *q = make_queue();
    struct fake full = {.name = "f", .credit = 0}, free_ = {.name = "g", .credit = -1};

    (void)state;
    consume(q, &full, 0);
    consume(q, &free_, 0);
    publish_n(q, 1, 3);
    assert_string_equal(order, "ggg");
    assert_int_equal(full.n, 0);
    destroy(q);
    fake_release(&full);
    fake_release(&free_);
}

static void test_queue_dispatch_stops_when_no_consumer_can_take(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = 1}, b = {.name = "b", .credit = 1};

    (void)state;
    consume(q, &a, 0);
    consume(q, &b, 0);
    publish_n(q, 1, 5);
    assert_int_equal(a.n + b.n, 2);
    assert_int_equal(queue_ready_count(q), 3);
    assert_int_equal(queue_unacked_count(q), 2);
    /* credit comes back (acks): the channel asks the queue to dispatch */
    a.credit = 2;
    queue_dispatch(q);
    assert_int_equal(a.n, 3);
    assert_true(got_is(&a, 1, "3") && got_is(&a, 2, "4"));
    assert_int_equal(queue_ready_count(q), 1);
    destroy(q);
    fake_release(&a);
    fake_release(&b);
}

static void test_queue_dispatch_rechecks_can_take_after_each_delivery(void **state)
{
    struct queue *q = make_queue();
    struct chan ch = {.credit = 3};
    struct fake a = {.name = "a", .credit = -1, .chan = &ch},
                b = {.name = "b", .credit = -1, .chan = &ch};
    struct fake other = {.name = "o", .credit = -1};

    (void)state;
    consume(q, &a, 0);
    consume(q, &b, 0);
    consume(q, &other, 0);
    publish_n(q, 1, 6);
    /* a and b share three credits: once they are used up only o takes */
    assert_string_equal(order, "aboaoo");
    assert_int_equal(a.n + b.n, 3);
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
    fake_release(&a);
    fake_release(&b);
    fake_release(&other);
}

static void test_queue_requeued_message_is_redelivered_to_consumer(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = 1};
    struct delivery d;

    (void)state;
    consume(q, &a, 0);
    publish_n(q, 1, 2);
    assert_int_equal(a.n, 1);
    d = a.got[0];
    a.n = 0;
    queue_requeue(q, d.m, d.seq);
    a.credit = 2;
    queue_dispatch(q);
    assert_int_equal(a.n, 2);
    assert_true(got_is(&a, 0, "1") && a.got[0].redelivered);
    assert_int_equal(a.got[0].seq, d.seq);
    assert_true(got_is(&a, 1, "2") && !a.got[1].redelivered);
    destroy(q);
    fake_release(&a);
}

static void test_queue_single_active_consumer_fails_over_to_next_oldest(void **state)
{
    struct queue *q = make_sac_queue();
    struct fake a = {.name = "a", .credit = -1}, b = {.name = "b", .credit = -1},
                c = {.name = "c", .credit = -1};
    struct consumer *ca;

    (void)state;
    ca = consume(q, &a, 0);
    consume(q, &b, 10); /* priority does not matter with a single active consumer */
    consume(q, &c, 0);
    publish_n(q, 1, 3);
    assert_string_equal(order, "aaa");
    assert_false(queue_cancel(q, ca));
    queue_dispatch(q);
    publish_n(q, 4, 5);
    assert_string_equal(order, "aaabb");
    assert_int_equal(c.n, 0);
    destroy(q);
    fake_release(&a);
    fake_release(&b);
    fake_release(&c);
}

static void test_queue_single_active_consumer_blocked_holds_messages(void **state)
{
    struct queue *q = make_sac_queue();
    struct fake a = {.name = "a", .credit = 0}, b = {.name = "b", .credit = -1};

    (void)state;
    consume(q, &a, 0);
    consume(q, &b, 0);
    publish_n(q, 1, 2);
    assert_int_equal(a.n + b.n, 0);
    assert_int_equal(queue_ready_count(q), 2);
    destroy(q);
    fake_release(&a);
    fake_release(&b);
}

static void test_queue_exclusive_consume_refused_when_queue_has_consumers(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1}, b = {.name = "b", .credit = -1};
    struct proto_err err = {0};

    (void)state;
    consume(q, &a, 0);
    assert_null(queue_consume(q, &fake_ops, &b, 0, true, false, &err));
    assert_int_equal(err.code, SPEC_ACCESS_REFUSED);
    assert_string_equal(err.text, "queue 'q' in vhost '/' in exclusive use");
    assert_int_equal(queue_consumer_count(q), 1);
    destroy(q);
}

static void test_queue_consume_refused_when_exclusive_consumer_exists(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1}, b = {.name = "b", .credit = -1};
    struct proto_err err = {0};
    struct consumer *ca = queue_consume(q, &fake_ops, &a, 0, true, false, &err);

    (void)state;
    assert_non_null(ca);
    assert_null(queue_consume(q, &fake_ops, &b, 0, false, false, &err));
    assert_int_equal(err.code, SPEC_ACCESS_REFUSED);
    assert_string_equal(err.text, "queue 'q' in vhost '/' in exclusive use");
    assert_null(queue_consume(q, &fake_ops, &b, 0, true, false, &err));
    /* once the exclusive consumer is gone the queue is free again */
    assert_true(queue_cancel(q, ca));
    assert_non_null(queue_consume(q, &fake_ops, &b, 0, true, false, &err));
    destroy(q);
}

static void test_queue_consume_on_deleted_queue_is_not_found(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1};
    struct proto_err err = {0};

    (void)state;
    queue_delete(q);
    assert_null(queue_consume(q, &fake_ops, &a, 0, false, false, &err));
    assert_int_equal(err.code, SPEC_NOT_FOUND);
    assert_string_equal(err.text, "no queue 'q' in vhost '/'");
    queue_unref(&q);
}

static void test_queue_cancel_reports_last_consumer(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1}, b = {.name = "b", .credit = -1};
    struct consumer *ca = consume(q, &a, 0), *cb = consume(q, &b, 5);

    (void)state;
    assert_int_equal(queue_consumer_count(q), 2);
    assert_false(queue_cancel(q, cb));
    assert_true(queue_cancel(q, ca));
    assert_int_equal(queue_consumer_count(q), 0);
    /* no consumer: messages stay ready, and cancelled() is never called */
    publish_n(q, 1, 1);
    assert_int_equal(queue_ready_count(q), 1);
    assert_int_equal(a.cancelled + b.cancelled, 0);
    destroy(q);
}

static void test_queue_no_ack_deliveries_are_not_unacked(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1};
    struct proto_err err = {0};

    (void)state;
    assert_non_null(queue_consume(q, &fake_ops, &a, 0, false, true, &err));
    publish_n(q, 1, 3);
    assert_int_equal(a.n, 3);
    assert_int_equal(queue_unacked_count(q), 0);
    destroy(q);
    fake_release(&a);
}

/* ---- delete ---- */

static void test_queue_delete_cancels_consumers_and_drops_messages(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = 1}, b = {.name = "b", .credit = 0};
    struct proto_err err = {0};
    struct msg *m;

    (void)state;
    consume(q, &a, 0);
    consume(q, &b, 0);
    publish_n(q, 1, 4);
    assert_int_equal(queue_ready_count(q), 3);
    assert_int_equal(queue_delete(q), 3);
    assert_true(queue_is_deleted(q));
    assert_int_equal(a.cancelled, 1);
    assert_int_equal(b.cancelled, 1);
    assert_int_equal(queue_consumer_count(q), 0);
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue_ready_bytes(q), 0);
    assert_int_equal(queue__storage_bytes(q), 0);
    /* a second delete is a no-op */
    assert_int_equal(queue_delete(q), 0);
    assert_int_equal(a.cancelled, 1);
    /* publishing now fails like RabbitMQ's missing queue */
    m = make_msg("late", -1);
    assert_int_equal(queue_publish(q, m, &err), -1);
    assert_int_equal(err.code, SPEC_NOT_FOUND);
    assert_string_equal(err.text, "no queue 'q' in vhost '/'");
    assert_int_equal(msg_refs(m), 1);
    msg_unref(&m);
    assert_null(queue_get(q, true, NULL, NULL));
    queue_unref(&q);
    /* the delivered message is still a's; its queue reference keeps q alive */
    assert_int_equal(a.n, 1);
    fake_release(&a);
}

static void test_queue_delete_survives_callback_cancelling_consumers(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1}, b = {.name = "b", .credit = -1},
                c = {.name = "c", .credit = -1};

    (void)state;
    consume(q, &a, 0);
    consume(q, &b, 0);
    consume(q, &c, 0);
    /* a's callback cancels c (not yet notified) and itself */
    a.cancel_q = q;
    a.cancel_other = c.self;
    queue_delete(q);
    assert_int_equal(a.cancelled, 1);
    assert_int_equal(b.cancelled, 1);
    assert_int_equal(c.cancelled, 0);
    assert_int_equal(queue_consumer_count(q), 0);
    queue_unref(&q);
}

static void test_queue_ack_and_requeue_after_delete_are_harmless(void **state)
{
    struct queue *q = make_queue();
    struct queue *r1, *r2;
    uint64_t s1, s2;
    struct msg *m1, *m2;

    (void)state;
    publish_n(q, 1, 3);
    m1 = queue_get(q, true, &s1, NULL);
    m2 = queue_get(q, true, &s2, NULL);
    /* each unacked delivery keeps the queue alive */
    r1 = queue_ref(q);
    r2 = queue_ref(q);
    assert_int_equal(queue_unacked_count(q), 2);
    destroy(q); /* delete + the registry's reference */
    queue_ack(r1, s1);
    msg_unref(&m1);
    queue_unref(&r1);
    queue_requeue(r2, m2, s2); /* dropped: the queue is gone */
    assert_int_equal(queue_ready_count(r2), 0);
    assert_int_equal(queue_unacked_count(r2), 0);
    queue_ack(r2, s2); /* a duplicate settle does not wrap the count */
    assert_int_equal(queue_unacked_count(r2), 0);
    queue_unref(&r2);
    assert_null(r2);
}

static void test_queue_unref_idle_undeleted_queue_frees_it(void **state)
{
    struct queue *q = make_queue();
    struct queue *r = queue_ref(q);

    (void)state;
    assert_ptr_equal(r, q);
    queue_unref(&r);
    assert_null(r);
    /* the last reference: an idle queue may be freed without delete */
    queue_unref(&q);
    assert_null(q);
    queue_unref(&q); /* NULL: no-op */
}

/* ---- counts and storage ---- */

static void test_queue_counts_and_bytes(void **state)
{
    struct queue *q1 = make_queue(), *q2 = make_queue();
    uint64_t base = queue_total_ready_bytes();
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q1, "aaaa", -1);
    publish(q1, "bb", -1);
    publish(q2, "ccccccccc", -1);
    assert_int_equal(queue_ready_count(q1), 2);
    assert_int_equal(queue_ready_bytes(q1), 6);
    assert_int_equal(queue_ready_bytes(q2), 9);
    assert_int_equal(queue_total_ready_bytes(), base + 15);
    m = queue_get(q1, true, &seq, NULL);
    assert_int_equal(queue_ready_count(q1), 1);
    assert_int_equal(queue_ready_bytes(q1), 2);
    assert_int_equal(queue_unacked_count(q1), 1);
    assert_int_equal(queue_total_ready_bytes(), base + 11);
    queue_requeue(q1, m, seq);
    assert_int_equal(queue_ready_bytes(q1), 6);
    assert_int_equal(queue_unacked_count(q1), 0);
    assert_int_equal(queue_purge(q2), 1);
    assert_int_equal(queue_ready_bytes(q2), 0);
    assert_int_equal(queue_total_ready_bytes(), base + 6);
    destroy(q1);
    destroy(q2);
    assert_int_equal(queue_total_ready_bytes(), base);
}

static void test_queue_get_without_ack_settles_at_once(void **state)
{
    struct queue *q = make_queue();
    bool red = true;
    struct msg *m;

    (void)state;
    publish_n(q, 1, 1);
    m = queue_get(q, false, NULL, &red);
    assert_non_null(m);
    assert_false(red);
    assert_int_equal(queue_unacked_count(q), 0);
    assert_int_equal(queue_ready_count(q), 0);
    msg_unref(&m);
    assert_null(queue_get(q, false, NULL, NULL));
    destroy(q);
}

static void test_queue_holds_one_reference_per_ready_message(void **state)
{
    struct queue *q = make_queue();
    struct msg *m = make_msg("x", -1), *got;
    struct proto_err err = {0};

    (void)state;
    assert_int_equal(queue_publish(q, m, &err), 0);
    assert_int_equal(msg_refs(m), 2);
    got = queue_get(q, false, NULL, NULL);
    assert_ptr_equal(got, m);
    assert_int_equal(msg_refs(m), 2); /* the queue's reference went to the caller */
    msg_unref(&got);
    msg_unref(&m);
    destroy(q);
}

static void test_queue_purge_drops_ready_and_frees_storage(void **state)
{
    struct queue *q = make_queue();

    (void)state;
    publish_n(q, 1, 100);
    assert_int_equal(queue_purge(q), 100);
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue__storage_bytes(q), 0);
    publish_n(q, 1, 1);
    assert_int_equal(queue_ready_count(q), 1);
    destroy(q);
}

static void test_queue_ring_shrinks_when_drained(void **state)
{
    struct queue *q = make_queue();
    const int n = 10000;
    size_t peak;

    (void)state;
    publish_n(q, 1, n);
    peak = queue__storage_bytes(q);
    assert_true(peak >= (size_t)n * 16);
    assert_true(peak <= (size_t)n * 16 * 2);
    for (int i = 1; i <= n; i++) {
        struct msg *m = queue_get(q, false, NULL, NULL);
        assert_non_null(m);
        msg_unref(&m);
    }
    /* back to the small floor kept for pass-through traffic */
    assert_true(queue__storage_bytes(q) <= 8 * 16);
    destroy(q);
}

static void test_queue_pass_through_does_not_grow_storage(void **state)
{
    struct queue *q = make_queue();
    struct fake a = {.name = "a", .credit = -1};

    (void)state;
    consume(q, &a, 0);
    for (int i = 0; i < 1000; i++) {
        publish(q, "m", -1);
        assert_int_equal(a.n, 1);
        msg_unref(&a.got[0].m);
        a.n = 0;
        queue_ack(q, a.got[0].seq);
    }
    assert_true(queue__storage_bytes(q) <= 8 * 16);
    assert_int_equal(queue_unacked_count(q), 0);
    destroy(q);
    fake_release(&a);
}

static void test_queue_requeue_heap_shrinks_when_drained(void **state)
{
    struct queue *q = make_queue();
    enum { N = 2000 };
    static struct msg *m[N];
    static uint64_t seq[N];

    (void)state;
    publish_n(q, 1, N);
    for (int i = 0; i < N; i++)
        m[i] = queue_get(q, true, &seq[i], NULL);
    for (int i = N - 1; i >= 0; i--)
        queue_requeue(q, m[i], seq[i]);
    assert_true(queue__storage_bytes(q) >= N * 16);
    for (int i = 1; i <= N; i++) {
        char s[16];
        snprintf(s, sizeof(s), "%d", i);
        queue_ack(q, get_expect(q, s, true));
    }
    assert_true(queue__storage_bytes(q) <= 2 * 8 * 16);
    destroy(q);
}

static void test_queue_deep_queue_memory_per_message(void **state)
{
    struct queue *q = make_queue();
    enum { N = 200000 };
    struct msg *m = make_msg("0123456789abcdef", -1);
    size_t per_msg;

    (void)state;
    for (int i = 0; i < N; i++) {
        struct msg *c = make_msg("0123456789abcdef", -1);
        struct proto_err err;
        assert_int_equal(queue_publish(q, c, &err), 0);
        msg_unref(&c);
    }
    assert_int_equal(queue_ready_count(q), N);
    assert_int_equal(queue_ready_bytes(q), (uint64_t)N * 16);
    /* entry storage stays within 2x of 16 bytes per message */
    assert_true(queue__storage_bytes(q) <= (size_t)N * 16 * 2);
    per_msg = 16 + msg_mem_size(m);
    print_message("per queued 16-byte message: entry 16 + msg %zu = %zu bytes (before malloc "
                  "rounding)\n",
                  msg_mem_size(m), per_msg);
    msg_unref(&m);
    assert_int_equal(queue_purge(q), N);
    destroy(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_queue_order_preserved, setup),
        cmocka_unit_test_setup(test_queue_requeue_returns_to_original_place, setup),
        cmocka_unit_test_setup(test_queue_requeue_batch_in_any_order_restores_order, setup),
        cmocka_unit_test_setup(test_queue_order_preserved_across_ring_wrap_and_growth, setup),
        cmocka_unit_test_setup(test_queue_random_operations_match_model, setup),
        cmocka_unit_test_setup(test_queue_priority_highest_first, setup),
        cmocka_unit_test_setup(test_queue_priority_above_max_is_capped, setup),
        cmocka_unit_test_setup(test_queue_priority_ignored_without_max_priority, setup),
        cmocka_unit_test_setup(test_queue_priority_requeue_keeps_level_order, setup),
        cmocka_unit_test_setup(test_queue_round_robin_equal_priority, setup),
        cmocka_unit_test_setup(test_queue_higher_priority_consumer_preferred, setup),
        cmocka_unit_test_setup(test_queue_negative_priority_consumer_served_last, setup),
        cmocka_unit_test_setup(test_queue_can_take_false_skips_consumer, setup),
        cmocka_unit_test_setup(test_queue_dispatch_stops_when_no_consumer_can_take, setup),
        cmocka_unit_test_setup(test_queue_dispatch_rechecks_can_take_after_each_delivery, setup),
        cmocka_unit_test_setup(test_queue_requeued_message_is_redelivered_to_consumer, setup),
        cmocka_unit_test_setup(test_queue_single_active_consumer_fails_over_to_next_oldest, setup),
        cmocka_unit_test_setup(test_queue_single_active_consumer_blocked_holds_messages, setup),
        cmocka_unit_test_setup(test_queue_exclusive_consume_refused_when_queue_has_consumers,
                               setup),
        cmocka_unit_test_setup(test_queue_consume_refused_when_exclusive_consumer_exists, setup),
        cmocka_unit_test_setup(test_queue_consume_on_deleted_queue_is_not_found, setup),
        cmocka_unit_test_setup(test_queue_cancel_reports_last_consumer, setup),
        cmocka_unit_test_setup(test_queue_no_ack_deliveries_are_not_unacked, setup),
        cmocka_unit_test_setup(test_queue_delete_cancels_consumers_and_drops_messages, setup),
        cmocka_unit_test_setup(test_queue_delete_survives_callback_cancelling_consumers, setup),
        cmocka_unit_test_setup(test_queue_ack_and_requeue_after_delete_are_harmless, setup),
        cmocka_unit_test_setup(test_queue_unref_idle_undeleted_queue_frees_it, setup),
        cmocka_unit_test_setup(test_queue_counts_and_bytes, setup),
        cmocka_unit_test_setup(test_queue_get_without_ack_settles_at_once, setup),
        cmocka_unit_test_setup(test_queue_holds_one_reference_per_ready_message, setup),
        cmocka_unit_test_setup(test_queue_purge_drops_ready_and_frees_storage, setup),
        cmocka_unit_test_setup(test_queue_ring_shrinks_when_drained, setup),
        cmocka_unit_test_setup(test_queue_pass_through_does_not_grow_storage, setup),
        cmocka_unit_test_setup(test_queue_requeue_heap_shrinks_when_drained, setup),
        cmocka_unit_test_setup(test_queue_deep_queue_memory_per_message, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
