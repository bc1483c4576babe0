/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for queue/queue.c limits and expiry (issue 4): x-message-ttl and
 * per-message expiration on a fake clock, x-expires and the idle sink,
 * x-max-length / x-max-length-bytes with each x-overflow, x-delivery-limit on
 * quorum-typed queues, rejects, the deferred dead-letter sink and the
 * dead-letter counters. A randomized run compares expiry with a model.
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

/* ---- fake clock ---- */

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

/* ---- sinks ---- */

#define MAX_DL 512

struct dl_rec {
    struct queue *q;
    struct msg *m;
    enum queue_dl_reason reason;
};

static struct dl_rec dls[MAX_DL];
static size_t ndls;

/* Optional behaviour of the dead-letter sink: publish the dead letter into
 * this queue (once per message body listed), as a DLX bound back would. */
static struct queue *republish_to;
static int republish_left;

static void record_dead_letter(void *arg, struct queue *q, struct msg *m,
                               enum queue_dl_reason reason)
{
    (void)arg;
    assert_true(ndls < MAX_DL);
    dls[ndls++] = (struct dl_rec){q, m, reason};
    if (republish_to && republish_left > 0) {
        struct proto_err err = {0};
        republish_left--;
        assert_int_equal(queue_publish(republish_to, m, &err), 0);
        /* a nested flush is a no-op: the outer one runs what we add */
        queue_flush();
    }
}

static struct queue *idled[16];
static size_t nidled;
static bool idle_deletes;

static void record_idle(void *arg, struct queue *q)
{
    (void)arg;
    assert_true(nidled < ARRAY_LEN(idled));
    idled[nidled++] = q;
    if (idle_deletes)
        queue_delete(q);
}

static void release_dead_letters(void)
{
    for (size_t i = 0; i < ndls; i++)
        msg_unref(&dls[i].m);
    ndls = 0;
}

static bool dl_is(size_t i, const char *body, enum queue_dl_reason reason)
{
    return i < ndls && view_eq_str(msg_body(dls[i].m), body) && dls[i].reason == reason;
}

static int setup(void **state)
{
    (void)state;
    fake_now = 1000;
    queue_set_clock(fake_clock);
    queue_set_dead_letter_sink(record_dead_letter, NULL);
    queue_set_idle_sink(record_idle, NULL);
    ndls = nidled = 0;
    republish_to = NULL;
    republish_left = 0;
    idle_deletes = false;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    queue_flush();
    release_dead_letters();
    /* every test destroys its queues: nothing may stay scheduled */
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    queue_set_clock(NULL);
    return 0;
}

/* ---- queues ---- */

enum arg_type { A_INT, A_STR, A_DBL };

struct arg {
    const char *key;
    enum arg_type type;
    int64_t i;
    const char *s;
    double d;
};

/* clang-format off */
#define INT(k, v) {(k), A_INT, (v), NULL, 0}
#define STR(k, v) {(k), A_STR, 0, (v), 0}
#define DBL(k, v) {(k), A_DBL, 0, NULL, (v)}
/* clang-format on */

static struct queue *make_queue_flags(const char *name, unsigned flags, const struct arg *args,
                                      size_t n)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    struct proto_err err = {0};
    struct queue *q;

    for (size_t i = 0; i < n; i++) {
        if (args[i].type == A_INT) {
            table_put_i64(&b, args[i].key, args[i].i);
        } else if (args[i].type == A_STR) {
            table_put_longstr(&b, args[i].key, view_str(args[i].s));
        } else {
            struct table_value v = {.type = TABLE_DOUBLE, .v.d = args[i].d};
            table_put_raw(&b, args[i].key, &v);
        }
    }
    table_close(&b, off);
    q = queue_create(VIEW_LIT("/"), view_str(name), flags, (struct view){b.p + 4, b.len - 4}, 0,
                     &err);
    buf_free(&b);
    if (!q)
        fail_msg("queue_create: %s", err.text);
    return q;
}

#define QUEUE(...)                                                                                 \
    make_queue_flags("q", 0, (const struct arg[]){__VA_ARGS__},                                    \
                     ARRAY_LEN(((const struct arg[]){__VA_ARGS__})))
#define QUORUM(...)                                                                                \
    make_queue_flags(                                                                              \
        "qq", QUEUE_F_DURABLE, (const struct arg[]){STR("x-queue-type", "quorum"), __VA_ARGS__},   \
        ARRAY_LEN(((const struct arg[]){STR("x-queue-type", "quorum"), __VA_ARGS__})))

static struct queue *plain_queue(void)
{
    return make_queue_flags("q", 0, NULL, 0);
}

static void destroy(struct queue *q)
{
    queue_delete(q);
    queue_unref(&q);
}

/* ---- messages ---- */

/* A message with body s, an expiration property when exp is not NULL and a
 * priority when prio >= 0. */
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

static int publish_ex(struct queue *q, const char *s, const char *exp, int prio)
{
    struct msg *m = make_msg(s, exp, prio);
    struct proto_err err = {0};
    int rc = queue_publish(q, m, &err);

    msg_unref(&m);
    return rc;
}

static void publish(struct queue *q, const char *s)
{
    assert_int_equal(publish_ex(q, s, NULL, -1), 0);
}

static void publish_exp(struct queue *q, const char *s, const char *exp)
{
    assert_int_equal(publish_ex(q, s, exp, -1), 0);
}

/* basic.get with ack: the message (owned by the caller) and its seq. */
static struct msg *get_msg(struct queue *q, uint64_t *seq)
{
    return queue_get(q, true, seq, NULL);
}

/* basic.get with ack, checks the body, acks; NULL body: expects empty. */
static void get_expect(struct queue *q, const char *body)
{
    uint64_t seq;
    struct msg *m = get_msg(q, &seq);

    if (!body) {
        if (m)
            fail_msg("got \"%.*s\", want empty", (int)msg_body(m).n, (const char *)msg_body(m).p);
        return;
    }
    if (!m)
        fail_msg("got empty, want \"%s\"", body);
    if (!view_eq_str(msg_body(m), body))
        fail_msg("got \"%.*s\", want \"%s\"", (int)msg_body(m).n, (const char *)msg_body(m).p,
                 body);
    queue_ack(q, seq);
    msg_unref(&m);
}

/* ---- fake consumer ---- */

#define MAX_GOT 64

struct fake {
    int credit; /* -1: unlimited */
    bool no_ack;
    struct queue *q;
    size_t n;
    struct msg *got[MAX_GOT];
    uint64_t seq[MAX_GOT];
    uint32_t count[MAX_GOT]; /* queue_delivery_count inside deliver() */
};

static bool fake_can_take(void *owner)
{
    struct fake *f = owner;

    return f->credit != 0 && f->n < MAX_GOT;
}

static void fake_deliver(void *owner, struct queue *q, struct msg *m, uint64_t seq,
                         bool redelivered)
{
    struct fake *f = owner;

    (void)redelivered;
    f->got[f->n] = m;
    f->seq[f->n] = seq;
    f->count[f->n] = queue_delivery_count(q, seq);
    f->n++;
    if (f->credit > 0)
        f->credit--;
    if (!f->q)
        f->q = queue_ref(q);
}

static void fake_cancelled(void *owner, struct queue *q)
{
    (void)owner;
    (void)q;
}

static const struct consumer_ops fake_ops = {fake_can_take, fake_deliver, fake_cancelled};

static struct consumer *consume(struct queue *q, struct fake *f)
{
    struct proto_err err = {0};
    struct consumer *c = queue_consume(q, &fake_ops, f, 0, false, f->no_ack, &err);

    if (!c)
        fail_msg("queue_consume: %s", err.text);
    return c;
}

static bool got_is(const struct fake *f, size_t i, const char *s)
{
    return i < f->n && view_eq_str(msg_body(f->got[i]), s);
}

/* Acks (unless no_ack) and drops every delivery, and the queue reference. */
static void fake_release(struct fake *f)
{
    for (size_t i = 0; i < f->n; i++) {
        /* NULL: handed back with queue_requeue by the test */
        if (!f->no_ack && f->q && f->got[i])
            queue_ack(f->q, f->seq[i]);
        msg_unref(&f->got[i]);
    }
    f->n = 0;
    queue_unref(&f->q);
}

/* ---- x-message-ttl and expiration ---- */

static void test_limits_ttl_head_expires_at_deadline(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    fake_now = 1010;
    publish(q, "b");
    assert_int_equal(queue_expiry_next(), 1100);
    queue_expiry_run(1099);
    assert_int_equal(ndls, 0);
    assert_int_equal(queue_ready_count(q), 2);
    queue_expiry_run(1100);
    assert_int_equal(ndls, 1);
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    assert_ptr_equal(dls[0].q, q);
    assert_int_equal(queue_ready_count(q), 1);
    assert_int_equal(queue_expiry_next(), 1110);
    queue_expiry_run(1110);
    assert_true(dl_is(1, "b", QUEUE_DL_EXPIRED));
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    destroy(q);
}

static void test_limits_expiration_in_middle_expires_alone(void **state)
{
    struct queue *q = QUEUE(STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    publish_exp(q, "b", "50");
    publish(q, "c");
    assert_int_equal(queue_expiry_next(), 1050);
    queue_expiry_run(1049);
    assert_int_equal(ndls, 0);
    queue_expiry_run(1050);
    assert_int_equal(ndls, 1);
    assert_true(dl_is(0, "b", QUEUE_DL_EXPIRED));
    assert_int_equal(queue_ready_count(q), 2);
    assert_int_equal(queue_ready_bytes(q), 2);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    get_expect(q, "a");
    get_expect(q, "c");
    get_expect(q, NULL);
    destroy(q);
}

static void test_limits_expiration_in_middle_of_requeued_messages(void **state)
{
    struct queue *q = QUEUE(STR("x-dead-letter-exchange", "dlx"));
    struct msg *m[3];
    uint64_t seq[3];

    (void)state;
    publish(q, "a");
    publish_exp(q, "b", "50");
    publish(q, "c");
    for (int i = 0; i < 3; i++)
        m[i] = get_msg(q, &seq[i]);
    queue_requeue(q, m[2], seq[2]);
    queue_requeue(q, m[1], seq[1]);
    queue_requeue(q, m[0], seq[0]);
    assert_int_equal(queue_expiry_next(), 1050);
    queue_expiry_run(1050);
    assert_true(dl_is(0, "b", QUEUE_DL_EXPIRED));
    assert_int_equal(queue_ready_count(q), 2);
    get_expect(q, "a");
    get_expect(q, "c");
    destroy(q);
}

static void test_limits_smaller_of_ttl_and_expiration_wins(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish_exp(q, "long", "500");
    publish_exp(q, "short", "30");
    assert_int_equal(queue_expiry_next(), 1030);
    queue_expiry_run(1030);
    assert_int_equal(ndls, 1);
    assert_true(dl_is(0, "short", QUEUE_DL_EXPIRED));
    assert_int_equal(queue_expiry_next(), 1100);
    queue_expiry_run(1100);
    assert_true(dl_is(1, "long", QUEUE_DL_EXPIRED));
    destroy(q);
}

static void test_limits_ttl_zero_without_consumer_expires_at_once(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 0), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    assert_int_equal(queue_ready_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    destroy(q);
}

static void test_limits_ttl_zero_with_waiting_consumer_is_delivered(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 0), STR("x-dead-letter-exchange", "dlx"));
    struct fake f = {.credit = -1};

    (void)state;
    consume(q, &f);
    publish(q, "a");
    assert_true(got_is(&f, 0, "a"));
    queue_flush();
    assert_int_equal(ndls, 0);
    fake_release(&f);
    destroy(q);
}

static void test_limits_ttl_zero_with_busy_consumer_expires(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 0), STR("x-dead-letter-exchange", "dlx"));
    struct fake f = {.credit = 0};

    (void)state;
    consume(q, &f);
    publish(q, "a");
    assert_int_equal(f.n, 0);
    f.credit = -1;
    queue_dispatch(q);
    assert_int_equal(f.n, 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    fake_release(&f);
    destroy(q);
}

static void test_limits_expiration_zero_is_expired_on_arrival(void **state)
{
    struct queue *q = QUEUE(STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "keep");
    publish_exp(q, "gone", "0");
    assert_int_equal(queue_ready_count(q), 1);
    queue_flush();
    assert_true(dl_is(0, "gone", QUEUE_DL_EXPIRED));
    get_expect(q, "keep");
    destroy(q);
}

static void test_limits_requeued_message_keeps_deadline(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q, "a");
    fake_now = 1050;
    m = get_msg(q, &seq);
    assert_non_null(m);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    fake_now = 1080;
    queue_requeue(q, m, seq);
    assert_int_equal(queue_expiry_next(), 1100);
    queue_expiry_run(1099);
    assert_int_equal(queue_ready_count(q), 1);
    queue_expiry_run(1100);
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    destroy(q);
}

static void test_limits_requeue_after_deadline_dead_letters(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q, "a");
    m = get_msg(q, &seq);
    fake_now = 1200;
    queue_requeue(q, m, seq);
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue_unacked_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    destroy(q);
}

static void test_limits_expired_message_never_returned_by_get(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    fake_now = 1050;
    publish(q, "b");
    fake_now = 1120; /* a expired, the timer has not run */
    get_expect(q, "b");
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    destroy(q);
}

static void test_limits_expired_expiration_never_returned_by_get(void **state)
{
    struct queue *q = plain_queue();

    (void)state;
    publish_exp(q, "a", "10");
    fake_now = 1010;
    get_expect(q, NULL);
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

static void test_limits_expired_message_never_delivered_to_consumer(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100));
    struct fake f = {.credit = 0};

    (void)state;
    consume(q, &f);
    publish(q, "a");
    fake_now = 1050;
    publish(q, "b");
    fake_now = 1100;
    f.credit = -1;
    queue_dispatch(q);
    assert_int_equal(f.n, 1);
    assert_true(got_is(&f, 0, "b"));
    fake_release(&f);
    destroy(q);
}

static void test_limits_expiry_next_is_earliest_over_queues(void **state)
{
    struct queue *q1 = QUEUE(INT("x-message-ttl", 300));
    struct queue *q2 = QUEUE(INT("x-message-ttl", 100));

    (void)state;
    publish(q1, "a");
    publish(q2, "b");
    assert_int_equal(queue_expiry_next(), 1100);
    queue_expiry_run(1100);
    assert_int_equal(queue_ready_count(q2), 0);
    assert_int_equal(queue_ready_count(q1), 1);
    assert_int_equal(queue_expiry_next(), 1300);
    destroy(q2);
    destroy(q1);
}

static void test_limits_deleted_queue_leaves_schedule_without_dead_letters(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    assert_int_equal(queue_expiry_next(), 1100);
    queue_delete(q);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    queue_expiry_run(2000);
    assert_int_equal(ndls, 0);
    queue_unref(&q);
}

static void test_limits_purge_does_not_dead_letter(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    publish_exp(q, "b", "10");
    assert_int_equal(queue_purge(q), 2);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    queue_expiry_run(2000);
    assert_int_equal(ndls, 0);
    destroy(q);
}

static void test_limits_priority_levels_expire_independently(void **state)
{
    struct queue *q = QUEUE(INT("x-max-priority", 3), INT("x-message-ttl", 100),
                            STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    assert_int_equal(publish_ex(q, "low", NULL, 0), 0);
    fake_now = 1050;
    assert_int_equal(publish_ex(q, "high", NULL, 3), 0);
    assert_int_equal(queue_expiry_next(), 1100);
    queue_expiry_run(1100);
    assert_true(dl_is(0, "low", QUEUE_DL_EXPIRED));
    assert_int_equal(queue_expiry_next(), 1150);
    get_expect(q, "high");
    destroy(q);
}

/* ---- x-expires ---- */

static void test_limits_expires_calls_idle_sink_once(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500));

    (void)state;
    assert_int_equal(queue_expiry_next(), 1500);
    queue_expiry_run(1499);
    assert_int_equal(nidled, 0);
    queue_expiry_run(1500);
    assert_int_equal(nidled, 1);
    assert_ptr_equal(idled[0], q);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    queue_expiry_run(5000);
    assert_int_equal(nidled, 1);
    destroy(q);
}

static void test_limits_expires_postponed_by_touch(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500));

    (void)state;
    fake_now = 1400;
    queue_touch(q);
    assert_int_equal(queue_expiry_next(), 1900);
    queue_expiry_run(1500);
    assert_int_equal(nidled, 0);
    queue_expiry_run(1900);
    assert_int_equal(nidled, 1);
    destroy(q);
}

static void test_limits_expires_renewed_after_idle_notice_by_touch(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500));

    (void)state;
    queue_expiry_run(1500);
    assert_int_equal(nidled, 1);
    fake_now = 1600;
    queue_touch(q);
    assert_int_equal(queue_expiry_next(), 2100);
    queue_expiry_run(2100);
    assert_int_equal(nidled, 2);
    destroy(q);
}

static void test_limits_expires_postponed_by_get(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500));

    (void)state;
    fake_now = 1300;
    get_expect(q, NULL);
    assert_int_equal(queue_expiry_next(), 1800);
    destroy(q);
}

static void test_limits_expires_suspended_while_consumers(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500));
    struct fake f = {.credit = -1};
    struct consumer *c;

    (void)state;
    fake_now = 1100;
    c = consume(q, &f);
    assert_int_equal(queue_expiry_next(), UINT64_MAX);
    queue_expiry_run(9000);
    assert_int_equal(nidled, 0);
    fake_now = 9000;
    queue_cancel(q, c);
    assert_int_equal(queue_expiry_next(), 9500);
    queue_expiry_run(9500);
    assert_int_equal(nidled, 1);
    fake_release(&f);
    destroy(q);
}

static void test_limits_expires_not_renewed_by_publish(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500));

    (void)state;
    fake_now = 1400;
    publish(q, "a");
    assert_int_equal(queue_expiry_next(), 1500);
    destroy(q);
}

static void test_limits_quorum_expires_not_renewed_by_touch(void **state)
{
    struct queue *q = QUORUM(INT("x-expires", 500));

    (void)state;
    fake_now = 1400;
    queue_touch(q);
    assert_int_equal(queue_expiry_next(), 1500);
    destroy(q);
}

static void test_limits_expired_queue_messages_not_dead_lettered(void **state)
{
    struct queue *q = QUEUE(INT("x-expires", 500), STR("x-dead-letter-exchange", "dlx"));
    struct queue_dl_counts c;

    (void)state;
    publish(q, "a");
    publish(q, "b");
    idle_deletes = true;
    queue_expiry_run(1500);
    assert_int_equal(nidled, 1);
    assert_true(queue_is_deleted(q));
    assert_int_equal(ndls, 0);
    queue_dl_counts(q, &c);
    assert_int_equal(c.dead_lettered[QUEUE_DL_EXPIRED] + c.discarded[QUEUE_DL_EXPIRED], 0);
    destroy(q);
}

/* ---- length limits ---- */

static void test_limits_drop_head_by_count_dead_letters_heads(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 2), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "1");
    publish(q, "2");
    publish(q, "3");
    publish(q, "4");
    assert_int_equal(queue_ready_count(q), 2);
    queue_flush();
    assert_int_equal(ndls, 2);
    assert_true(dl_is(0, "1", QUEUE_DL_MAXLEN));
    assert_true(dl_is(1, "2", QUEUE_DL_MAXLEN));
    get_expect(q, "3");
    get_expect(q, "4");
    destroy(q);
}

static void test_limits_drop_head_by_bytes(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length-bytes", 10), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "aaaa");
    publish(q, "bbbb");
    publish(q, "cccc");
    assert_int_equal(queue_ready_count(q), 2);
    assert_int_equal(queue_ready_bytes(q), 8);
    queue_flush();
    assert_true(dl_is(0, "aaaa", QUEUE_DL_MAXLEN));
    destroy(q);
}

static void test_limits_max_length_zero_delivers_to_waiting_consumer(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 0), STR("x-dead-letter-exchange", "dlx"));
    struct fake f = {.credit = -1};

    (void)state;
    consume(q, &f);
    publish(q, "a");
    assert_true(got_is(&f, 0, "a"));
    queue_flush();
    assert_int_equal(ndls, 0);
    fake_release(&f);
    destroy(q);
}

static void test_limits_max_length_zero_without_consumer_dead_letters(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 0), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    assert_int_equal(queue_ready_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_MAXLEN));
    destroy(q);
}

static void test_limits_reject_publish_refuses_over_limit(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 2), STR("x-overflow", "reject-publish"),
                            STR("x-dead-letter-exchange", "dlx"));
    struct msg *m = make_msg("3", NULL, -1);
    struct proto_err err = {0};

    (void)state;
    publish(q, "1");
    publish(q, "2");
    assert_int_equal(queue_publish(q, m, &err), QUEUE_E_OVERFLOW);
    assert_int_equal(err.code, 0);
    assert_non_null(strstr(err.text, "reject-publish"));
    assert_int_equal(msg_refs(m), 1); /* the queue kept nothing */
    msg_unref(&m);
    queue_flush();
    assert_int_equal(ndls, 0);
    get_expect(q, "1");
    get_expect(q, "2");
    destroy(q);
}

static void test_limits_reject_publish_refuses_even_with_waiting_consumer(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 0), STR("x-overflow", "reject-publish"));
    struct fake f = {.credit = -1};

    (void)state;
    consume(q, &f);
    assert_int_equal(publish_ex(q, "a", NULL, -1), QUEUE_E_OVERFLOW);
    assert_int_equal(f.n, 0);
    fake_release(&f);
    destroy(q);
}

static void test_limits_reject_publish_by_bytes(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length-bytes", 6), STR("x-overflow", "reject-publish"));

    (void)state;
    publish(q, "aaaa");
    assert_int_equal(publish_ex(q, "bbb", NULL, -1), QUEUE_E_OVERFLOW);
    publish(q, "cc");
    assert_int_equal(queue_ready_bytes(q), 6);
    destroy(q);
}

static void test_limits_reject_publish_dlx_dead_letters_refused(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 1), STR("x-overflow", "reject-publish-dlx"),
                            STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "1");
    assert_int_equal(publish_ex(q, "2", NULL, -1), QUEUE_E_OVERFLOW);
    assert_int_equal(queue_ready_count(q), 1);
    queue_flush();
    assert_int_equal(ndls, 1);
    assert_true(dl_is(0, "2", QUEUE_DL_MAXLEN));
    get_expect(q, "1");
    destroy(q);
}

static void test_limits_quorum_reject_publish_dlx_drops_head(void **state)
{
    struct queue *q = QUORUM(INT("x-max-length", 1), STR("x-overflow", "reject-publish-dlx"),
                             STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "1");
    assert_int_equal(publish_ex(q, "2", NULL, -1), 0);
    queue_flush();
    assert_true(dl_is(0, "1", QUEUE_DL_MAXLEN));
    get_expect(q, "2");
    destroy(q);
}

static void test_limits_length_counts_ready_messages_only(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 1), STR("x-overflow", "reject-publish"));
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q, "1");
    m = get_msg(q, &seq);
    assert_int_equal(queue_unacked_count(q), 1);
    publish(q, "2");
    assert_int_equal(publish_ex(q, "3", NULL, -1), QUEUE_E_OVERFLOW);
    /* a requeue may exceed a reject-publish limit (RabbitMQ) */
    queue_requeue(q, m, seq);
    assert_int_equal(queue_ready_count(q), 2);
    get_expect(q, "1");
    get_expect(q, "2");
    destroy(q);
}

static void test_limits_requeue_over_limit_drops_head(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 1), STR("x-dead-letter-exchange", "dlx"));
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q, "a");
    m = get_msg(q, &seq);
    publish(q, "b");
    queue_requeue(q, m, seq); /* back at the head, then dropped from it */
    assert_int_equal(queue_ready_count(q), 1);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_MAXLEN));
    get_expect(q, "b");
    destroy(q);
}

/* ---- x-delivery-limit ---- */

/* get, requeue, n times, checking the message had been returned `from`,
 * from + 1, ... times before; returns how many gets found it. */
static int requeue_cycles(struct queue *q, int from, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t seq;
        struct msg *m = get_msg(q, &seq);

        if (!m)
            return i;
        assert_int_equal(queue_delivery_count(q, seq), (uint32_t)(from + i));
        queue_requeue(q, m, seq);
    }
    return n;
}

static void test_limits_delivery_limit_dead_letters_past_limit(void **state)
{
    struct queue *q = QUORUM(INT("x-delivery-limit", 2), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    assert_int_equal(requeue_cycles(q, 0, 2), 2);
    assert_int_equal(queue_ready_count(q), 1);
    assert_int_equal(requeue_cycles(q, 2, 1), 1); /* the third return */
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue_unacked_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_DELIVERY_LIMIT));
    destroy(q);
}

static void test_limits_delivery_limit_defaults_to_20_on_quorum(void **state)
{
    struct queue *q = QUORUM(STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    assert_int_equal(requeue_cycles(q, 0, 20), 20);
    assert_int_equal(queue_ready_count(q), 1);
    requeue_cycles(q, 20, 1);
    assert_int_equal(queue_ready_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_DELIVERY_LIMIT));
    destroy(q);
}

static void test_limits_delivery_limit_negative_is_unlimited(void **state)
{
    struct queue *q = QUORUM(INT("x-delivery-limit", -1));

    (void)state;
    publish(q, "a");
    assert_int_equal(requeue_cycles(q, 0, 100), 100);
    assert_int_equal(queue_ready_count(q), 1);
    destroy(q);
}

static void test_limits_delivery_limit_not_a_number_is_unlimited(void **state)
{
    struct queue *q = QUORUM(STR("x-delivery-limit", "5"));

    (void)state;
    publish(q, "a");
    assert_int_equal(requeue_cycles(q, 0, 30), 30);
    assert_int_equal(queue_ready_count(q), 1);
    destroy(q);
}

static void test_limits_delivery_limit_float_is_floored(void **state)
{
    struct queue *q = QUORUM(DBL("x-delivery-limit", 1.5), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    assert_int_equal(requeue_cycles(q, 0, 1), 1);
    assert_int_equal(queue_ready_count(q), 1);
    requeue_cycles(q, 1, 1);
    assert_int_equal(queue_ready_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_DELIVERY_LIMIT));
    destroy(q);
}

static void test_limits_quorum_requeue_keeps_deadline_and_count(void **state)
{
    struct queue *q = QUORUM(INT("x-message-ttl", 100), INT("x-delivery-limit", 5),
                             STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    fake_now = 1050;
    assert_int_equal(requeue_cycles(q, 0, 2), 2);
    assert_int_equal(queue_expiry_next(), 1100);
    {
        uint64_t seq;
        struct msg *m = get_msg(q, &seq);
        assert_int_equal(queue_delivery_count(q, seq), 2);
        queue_requeue(q, m, seq);
    }
    queue_expiry_run(1100);
    assert_true(dl_is(0, "a", QUEUE_DL_EXPIRED));
    destroy(q);
}

static void test_limits_delivery_limit_zero_dead_letters_first_return(void **state)
{
    struct queue *q = QUORUM(INT("x-delivery-limit", 0), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    requeue_cycles(q, 0, 1);
    assert_int_equal(queue_ready_count(q), 0);
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_DELIVERY_LIMIT));
    destroy(q);
}

static void test_limits_delivery_count_visible_in_deliver(void **state)
{
    struct queue *q = QUORUM(INT("x-delivery-limit", 5));
    struct fake f = {.credit = -1};

    (void)state;
    consume(q, &f);
    publish(q, "a");
    assert_int_equal(f.n, 1);
    assert_int_equal(f.count[0], 0);
    queue_requeue(q, f.got[0], f.seq[0]);
    f.got[0] = NULL;
    queue_dispatch(q);
    assert_int_equal(f.n, 2);
    assert_int_equal(f.count[1], 1);
    /* still answered while the delivery is unacked */
    publish(q, "b");
    assert_int_equal(queue_delivery_count(q, f.seq[1]), 1);
    fake_release(&f);
    destroy(q);
}

static void test_limits_classic_queue_has_no_delivery_count(void **state)
{
    struct queue *q = plain_queue();

    (void)state;
    publish(q, "a");
    assert_int_equal(requeue_cycles(q, 0, 1), 1);
    {
        uint64_t seq;
        struct msg *m = get_msg(q, &seq);
        assert_int_equal(queue_delivery_count(q, seq), 0);
        queue_ack(q, seq);
        msg_unref(&m);
    }
    destroy(q);
}

/* ---- rejects, sinks and counters ---- */

static void test_limits_reject_dead_letters_with_reason_rejected(void **state)
{
    struct queue *q = QUEUE(STR("x-dead-letter-exchange", "dlx"));
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q, "a");
    m = get_msg(q, &seq);
    queue_reject(q, m, seq);
    assert_int_equal(queue_unacked_count(q), 0);
    assert_int_equal(ndls, 0); /* deferred */
    queue_flush();
    assert_true(dl_is(0, "a", QUEUE_DL_REJECTED));
    destroy(q);
}

static void test_limits_without_dlx_messages_are_discarded(void **state)
{
    struct queue *q = plain_queue();
    struct msg *keep = make_msg("a", NULL, -1), *m;
    struct proto_err err = {0};
    struct queue_dl_counts c;
    uint64_t seq;

    (void)state;
    assert_int_equal(queue_publish(q, keep, &err), 0);
    m = get_msg(q, &seq);
    queue_reject(q, m, seq);
    queue_flush();
    assert_int_equal(ndls, 0);
    assert_int_equal(msg_refs(keep), 1); /* the queue dropped its reference */
    queue_dl_counts(q, &c);
    assert_int_equal(c.discarded[QUEUE_DL_REJECTED], 1);
    assert_int_equal(c.dead_lettered[QUEUE_DL_REJECTED], 0);
    msg_unref(&keep);
    destroy(q);
}

static void test_limits_reject_on_deleted_queue_drops(void **state)
{
    struct queue *q = QUEUE(STR("x-dead-letter-exchange", "dlx"));
    uint64_t seq;
    struct msg *m;

    (void)state;
    publish(q, "a");
    m = get_msg(q, &seq);
    queue_delete(q);
    queue_reject(q, m, seq);
    queue_flush();
    assert_int_equal(ndls, 0);
    queue_unref(&q);
}

static void test_limits_sink_runs_only_on_flush(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 1), STR("x-dead-letter-exchange", "dlx"));
    struct queue_dl_counts c;

    (void)state;
    publish(q, "1");
    publish(q, "2");
    queue_dl_counts(q, &c);
    assert_int_equal(c.dead_lettered[QUEUE_DL_MAXLEN], 1);
    assert_int_equal(ndls, 0);
    queue_flush();
    assert_int_equal(ndls, 1);
    queue_flush();
    assert_int_equal(ndls, 1);
    destroy(q);
}

static void test_limits_without_sink_dead_letters_are_dropped(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 1), STR("x-dead-letter-exchange", "dlx"));
    struct msg *m = make_msg("1", NULL, -1);
    struct proto_err err = {0};
    struct queue_dl_counts c;

    (void)state;
    queue_set_dead_letter_sink(NULL, NULL);
    assert_int_equal(queue_publish(q, m, &err), 0);
    publish(q, "2");
    queue_flush();
    assert_int_equal(msg_refs(m), 1);
    queue_dl_counts(q, &c);
    assert_int_equal(c.dead_lettered[QUEUE_DL_MAXLEN], 1);
    msg_unref(&m);
    destroy(q);
}

static void test_limits_sink_may_publish_into_same_queue(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 100), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "a");
    republish_to = q;
    republish_left = 1;
    fake_now = 1100;
    queue_expiry_run(1100);
    assert_int_equal(ndls, 1);
    assert_int_equal(queue_ready_count(q), 1);
    assert_int_equal(queue_expiry_next(), 1200);
    queue_expiry_run(1200);
    assert_int_equal(ndls, 2);
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

static void test_limits_sink_republish_into_full_queue_cascades(void **state)
{
    struct queue *q = QUEUE(INT("x-max-length", 1), STR("x-dead-letter-exchange", "dlx"));

    (void)state;
    publish(q, "1");
    publish(q, "2"); /* drops 1 */
    republish_to = q;
    republish_left = 1;
    queue_flush(); /* 1 comes back and drops 2, whose dead letter runs in the same flush */
    assert_int_equal(ndls, 2);
    assert_true(dl_is(0, "1", QUEUE_DL_MAXLEN));
    assert_true(dl_is(1, "2", QUEUE_DL_MAXLEN));
    get_expect(q, "1");
    destroy(q);
}

static void test_limits_counters_per_reason_and_totals(void **state)
{
    struct queue *q = QUORUM(INT("x-max-length", 1), INT("x-message-ttl", 100),
                             INT("x-delivery-limit", 0), STR("x-dead-letter-exchange", "dlx"));
    struct queue_dl_counts before, after, c;
    uint64_t seq;
    struct msg *m;

    (void)state;
    queue_dl_totals(&before);
    publish(q, "r");
    m = get_msg(q, &seq);
    queue_reject(q, m, seq); /* rejected */
    publish(q, "d");
    m = get_msg(q, &seq);
    queue_requeue(q, m, seq); /* delivery_limit */
    publish(q, "1");
    publish(q, "2");        /* maxlen */
    queue_expiry_run(1100); /* expired */
    queue_dl_counts(q, &c);
    for (int r = 0; r < QUEUE_DL_NREASONS; r++) {
        assert_int_equal(c.dead_lettered[r], 1);
        assert_int_equal(c.discarded[r], 0);
    }
    queue_dl_totals(&after);
    for (int r = 0; r < QUEUE_DL_NREASONS; r++)
        assert_int_equal(after.dead_lettered[r] - before.dead_lettered[r], 1);
    assert_int_equal(ndls, 4);
    assert_true(dl_is(0, "r", QUEUE_DL_REJECTED));
    assert_true(dl_is(1, "d", QUEUE_DL_DELIVERY_LIMIT));
    assert_true(dl_is(2, "1", QUEUE_DL_MAXLEN));
    assert_true(dl_is(3, "2", QUEUE_DL_EXPIRED));
    assert_string_equal(queue_dl_reason_name(QUEUE_DL_DELIVERY_LIMIT), "delivery_limit");
    destroy(q);
}

static void test_limits_broker_reported_counters(void **state)
{
    struct queue *src = QUEUE(STR("x-dead-letter-exchange", "missing"));
    struct queue *dlq = plain_queue();
    struct queue_dl_counts before, after, c;

    (void)state;
    queue_dl_totals(&before);
    queue_count_dl_dropped(src);
    queue_count_dl_received(dlq);
    queue_count_dl_received(dlq);
    queue_dl_counts(src, &c);
    assert_int_equal(c.dl_dropped, 1);
    assert_int_equal(c.dl_received, 0);
    queue_dl_counts(dlq, &c);
    assert_int_equal(c.dl_received, 2);
    queue_dl_totals(&after);
    assert_int_equal(after.dl_dropped - before.dl_dropped, 1);
    assert_int_equal(after.dl_received - before.dl_received, 2);
    destroy(src);
    destroy(dlq);
}

static void test_limits_dead_letter_target(void **state)
{
    struct queue *q1 =
        QUEUE(STR("x-dead-letter-exchange", "dlx"), STR("x-dead-letter-routing-key", "rk"));
    struct queue *q2 = QUEUE(STR("x-dead-letter-exchange", ""));
    struct queue *q3 = plain_queue();
    struct view x, rk;
    bool has_rk;

    (void)state;
    assert_true(queue_dead_letter_target(q1, &x, &rk, &has_rk));
    assert_true(view_eq_str(x, "dlx") && has_rk && view_eq_str(rk, "rk"));
    assert_true(queue_dead_letter_target(q2, &x, &rk, &has_rk));
    assert_true(x.n == 0 && !has_rk);
    assert_false(queue_dead_letter_target(q3, NULL, NULL, NULL));
    destroy(q1);
    destroy(q2);
    destroy(q3);
}

/* ---- cost ---- */

static void test_limits_plain_ttl_path_allocates_nothing_per_message(void **state)
{
    struct queue *q = QUEUE(INT("x-message-ttl", 60000), INT("x-max-length", 1000000));
    struct fake acked = {.credit = 0};
    size_t before;

    (void)state;
    consume(q, &acked);
    /* warm up: let the ring reach the size the loop below needs */
    for (int i = 0; i < 4; i++)
        publish(q, "w");
    while (queue_ready_count(q))
        get_expect(q, "w");
    before = queue__alloc_count();
    for (int i = 0; i < 10000; i++) {
        /* a small backlog, drained by basic.get and by an acking consumer */
        publish(q, "x");
        publish(q, "x");
        fake_now++;
        get_expect(q, "x");
        acked.credit = 1;
        queue_dispatch(q);
        assert_int_equal(acked.n, 1);
        queue_ack(q, acked.seq[0]);
        msg_unref(&acked.got[0]);
        acked.n = 0;
    }
    assert_int_equal(queue__alloc_count(), before);
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue_unacked_count(q), 0);
    fake_release(&acked);
    destroy(q);
}

/* ---- randomized comparison with a model ---- */

struct model_ent {
    int id;
    unsigned level;
    uint64_t seq;
    uint64_t deadline; /* UINT64_MAX: none */
};

enum { MODEL_CAP = 2048 };

struct model {
    struct model_ent ready[MODEL_CAP];
    size_t nready;
    size_t expired;
};

static size_t model_best(const struct model *md)
{
    size_t best = 0;

    for (size_t i = 1; i < md->nready; i++) {
        const struct model_ent *a = &md->ready[i], *b = &md->ready[best];
        if (a->level > b->level || (a->level == b->level && a->seq < b->seq))
            best = i;
    }
    return best;
}

static void model_remove(struct model *md, size_t i)
{
    md->ready[i] = md->ready[--md->nready];
}

/* Everything due at now goes (the timer, or an arrival that is due). */
static void model_expire_all(struct model *md, uint64_t now)
{
    for (size_t i = 0; i < md->nready;) {
        if (md->ready[i].deadline <= now) {
            model_remove(md, i);
            md->expired++;
        } else {
            i++;
        }
    }
}

static void run_model(int64_t ttl, unsigned seed)
{
    static struct model md;
    static struct {
        struct msg *m;
        uint64_t seq;
        struct model_ent ent;
    } held[MODEL_CAP];
    size_t nheld = 0;
    struct queue *q = ttl >= 0
                          ? QUEUE(INT("x-max-priority", 2), INT("x-message-ttl", ttl),
                                  STR("x-dead-letter-exchange", "dlx"))
                          : QUEUE(INT("x-max-priority", 2), STR("x-dead-letter-exchange", "dlx"));
    uint32_t rng = seed;
    int next_id = 0;
    uint64_t next_seq = 1;
    char body[16], exp[16];

    memset(&md, 0, sizeof(md));
    for (int op = 0; op < 20000; op++) {
        unsigned r;

        rng = rng * 1103515245u + 12345u;
        r = (rng >> 16) % 16;
        if (r < 6 && md.nready + nheld < MODEL_CAP - 1) {
            int prio = (int)((rng >> 8) % 4) - 1;
            int e = (int)((rng >> 3) % 240) - 40; /* <0: no expiration */
            struct model_ent me = {next_id, prio < 0 ? 0 : (prio > 2 ? 2 : (unsigned)prio),
                                   next_seq++, UINT64_MAX};
            int64_t t = ttl;

            snprintf(body, sizeof(body), "%d", next_id++);
            snprintf(exp, sizeof(exp), "%d", e);
            if (e >= 0 && (t < 0 || e < t))
                t = e;
            if (t >= 0)
                me.deadline = fake_now + (uint64_t)t;
            assert_int_equal(publish_ex(q, body, e >= 0 ? exp : NULL, prio), 0);
            md.ready[md.nready++] = me;
            if (me.deadline <= fake_now)
                model_expire_all(&md, fake_now);
        } else if (r < 9 && md.nready > 0) {
            uint64_t seq;
            struct msg *m;
            size_t b;

            /* get skips (and dead-letters) expired heads */
            for (;;) {
                b = model_best(&md);
                if (md.ready[b].deadline > fake_now)
                    break;
                model_remove(&md, b);
                md.expired++;
                if (!md.nready)
                    break;
            }
            m = get_msg(q, &seq);
            if (!md.nready) {
                assert_null(m);
                continue;
            }
            assert_non_null(m);
            snprintf(body, sizeof(body), "%d", md.ready[b].id);
            if (!view_eq_str(msg_body(m), body))
                fail_msg("op %d: got \"%.*s\", want \"%s\"", op, (int)msg_body(m).n,
                         (const char *)msg_body(m).p, body);
            assert_int_equal(seq, md.ready[b].seq);
            held[nheld].m = m;
            held[nheld].seq = seq;
            held[nheld].ent = md.ready[b];
            nheld++;
            model_remove(&md, b);
        } else if (r < 12 && nheld > 0) {
            size_t i = (rng >> 4) % nheld;

            md.ready[md.nready++] = held[i].ent;
            queue_requeue(q, held[i].m, held[i].seq);
            held[i] = held[--nheld];
            if (md.ready[md.nready - 1].deadline <= fake_now)
                model_expire_all(&md, fake_now);
        } else if (r < 13 && nheld > 0) {
            size_t i = (rng >> 4) % nheld;

            queue_ack(q, held[i].seq);
            msg_unref(&held[i].m);
            held[i] = held[--nheld];
        } else if (r < 15) {
            fake_now += (rng >> 5) % 13;
        } else {
            queue_expiry_run(fake_now);
            model_expire_all(&md, fake_now);
            /* the next due time is exact: the earliest remaining deadline */
            {
                uint64_t want = UINT64_MAX;
                for (size_t i = 0; i < md.nready; i++)
                    if (md.ready[i].deadline < want)
                        want = md.ready[i].deadline;
                assert_int_equal(queue_expiry_next(), want);
            }
        }
        if (queue_ready_count(q) != md.nready)
            fail_msg("op %d: %zu ready, model has %zu", op, queue_ready_count(q), md.nready);
        queue_flush();
        if (ndls != md.expired)
            fail_msg("op %d: %zu dead letters, model has %zu", op, ndls, md.expired);
        release_dead_letters();
        md.expired = 0;
    }
    for (size_t i = 0; i < nheld; i++) {
        queue_ack(q, held[i].seq);
        msg_unref(&held[i].m);
    }
    destroy(q);
}

static void test_limits_random_expiry_without_ttl_matches_model(void **state)
{
    (void)state;
    run_model(-1, 4242);
}

static void test_limits_random_expiry_with_ttl_matches_model(void **state)
{
    (void)state;
    run_model(90, 777);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_limits_ttl_head_expires_at_deadline),
        T(test_limits_expiration_in_middle_expires_alone),
        T(test_limits_expiration_in_middle_of_requeued_messages),
        T(test_limits_smaller_of_ttl_and_expiration_wins),
        T(test_limits_ttl_zero_without_consumer_expires_at_once),
        T(test_limits_ttl_zero_with_waiting_consumer_is_delivered),
        T(test_limits_ttl_zero_with_busy_consumer_expires),
        T(test_limits_expiration_zero_is_expired_on_arrival),
        T(test_limits_requeued_message_keeps_deadline),
        T(test_limits_requeue_after_deadline_dead_letters),
        T(test_limits_expired_message_never_returned_by_get),
        T(test_limits_expired_expiration_never_returned_by_get),
        T(test_limits_expired_message_never_delivered_to_consumer),
        T(test_limits_expiry_next_is_earliest_over_queues),
        T(test_limits_deleted_queue_leaves_schedule_without_dead_letters),
        T(test_limits_purge_does_not_dead_letter),
        T(test_limits_priority_levels_expire_independently),
        T(test_limits_expires_calls_idle_sink_once),
        T(test_limits_expires_postponed_by_touch),
        T(test_limits_expires_renewed_after_idle_notice_by_touch),
        T(test_limits_expires_postponed_by_get),
        T(test_limits_expires_suspended_while_consumers),
        T(test_limits_expires_not_renewed_by_publish),
        T(test_limits_quorum_expires_not_renewed_by_touch),
        T(test_limits_expired_queue_messages_not_dead_lettered),
        T(test_limits_drop_head_by_count_dead_letters_heads),
        T(test_limits_drop_head_by_bytes),
        T(test_limits_max_length_zero_delivers_to_waiting_consumer),
        T(test_limits_max_length_zero_without_consumer_dead_letters),
        T(test_limits_reject_publish_refuses_over_limit),
        T(test_limits_reject_publish_refuses_even_with_waiting_consumer),
        T(test_limits_reject_publish_by_bytes),
        T(test_limits_reject_publish_dlx_dead_letters_refused),
        T(test_limits_quorum_reject_publish_dlx_drops_head),
        T(test_limits_length_counts_ready_messages_only),
        T(test_limits_requeue_over_limit_drops_head),
        T(test_limits_delivery_limit_dead_letters_past_limit),
        T(test_limits_delivery_limit_defaults_to_20_on_quorum),
        T(test_limits_delivery_limit_negative_is_unlimited),
        T(test_limits_delivery_limit_not_a_number_is_unlimited),
        T(test_limits_delivery_limit_float_is_floored),
        T(test_limits_quorum_requeue_keeps_deadline_and_count),
        T(test_limits_delivery_limit_zero_dead_letters_first_return),
        T(test_limits_delivery_count_visible_in_deliver),
        T(test_limits_classic_queue_has_no_delivery_count),
        T(test_limits_reject_dead_letters_with_reason_rejected),
        T(test_limits_without_dlx_messages_are_discarded),
        T(test_limits_reject_on_deleted_queue_drops),
        T(test_limits_sink_runs_only_on_flush),
        T(test_limits_without_sink_dead_letters_are_dropped),
        T(test_limits_sink_may_publish_into_same_queue),
        T(test_limits_sink_republish_into_full_queue_cascades),
        T(test_limits_counters_per_reason_and_totals),
        T(test_limits_broker_reported_counters),
        T(test_limits_dead_letter_target),
        T(test_limits_plain_ttl_path_allocates_nothing_per_message),
        T(test_limits_random_expiry_without_ttl_matches_model),
        T(test_limits_random_expiry_with_ttl_matches_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
