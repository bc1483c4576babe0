/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the paging side of queue/queue.c (issue 5 item 6), with a
 * fake pager that keeps "disk" in a table: what is paged out first (the
 * newest entries of the biggest queue, lowest priority first, never a
 * consumer's next ones), that every way out of a queue reads stubs back
 * first and in order (delivery with read-ahead, basic.get, peek, remove,
 * dead letters, requeue), that unreadable stubs are dropped and settled, and
 * that counts and the observer see stubs like any message.
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

/* ---- the fake pager: "disk" is a table of resident copies ---- */

#define DISK 4096

static struct msg *disk[DISK]; /* by locator - 1 */
static size_t ndisk;           /* slots used so far (never reused) */
static size_t live;            /* stubs alive */
static bool fail_out, fail_in;
static uint64_t fail_in_seq; /* 0: every read fails when fail_in */
static size_t out_calls, in_calls, in_msgs;
static uint64_t out_seqs[DISK];
static size_t nout;

/* Event log: 'R' seq read back, 'S' seq settled, 'D' seq delivered. */
static char evs[DISK * 4];
static uint64_t ev_seq[DISK * 4];
static size_t nevs;

static void log_ev(char c, uint64_t seq)
{
    if (nevs < ARRAY_LEN(evs)) {
        evs[nevs] = c;
        ev_seq[nevs++] = seq;
    }
}

static void fake_out(void *arg, struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n)
{
    (void)arg;
    (void)q;
    out_calls++;
    if (fail_out)
        return;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(msg_paged(ms[i]), MSG_RESIDENT);
        assert_true(ndisk < DISK);
        disk[ndisk] = ms[i]; /* takes over the reference */
        ms[i] = msg_stub_create(disk[ndisk], MSG_PAGED_SPILL, ndisk + 1);
        ndisk++;
        live++;
        out_seqs[nout++] = seqs[i];
    }
}

static void fake_in(void *arg, struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n)
{
    (void)arg;
    (void)q;
    in_calls++;
    for (size_t i = 0; i < n; i++) {
        struct msg *src;
        struct view d;
        uint8_t *data;
        struct msg *back;

        assert_true(msg_paged(ms[i]) != MSG_RESIDENT);
        if (fail_in && (fail_in_seq == 0 || fail_in_seq == seqs[i]))
            continue;
        src = disk[msg_page_loc(ms[i]) - 1];
        assert_non_null(src);
        d = msg_data(src);
        back = msg_unstub(ms[i], &data);
        memcpy(data, d.p, d.n);
        msg_unref(&ms[i]);
        ms[i] = back;
        in_msgs++;
        log_ev('R', seqs[i]);
    }
}

static void fake_release(const struct msg *stub)
{
    uint64_t loc = msg_page_loc(stub);

    assert_true(loc >= 1 && loc <= ndisk && disk[loc - 1]);
    msg_unref(&disk[loc - 1]);
    live--;
}

static const struct queue_pager pager = {fake_out, fake_in};

/* ---- the observer ---- */

static void obs_enq(void *arg, struct queue *q, struct msg *m, uint64_t seq)
{
    (void)arg;
    (void)q;
    (void)m;
    (void)seq;
}

static void obs_dlv(void *arg, struct queue *q, uint64_t seq)
{
    (void)arg;
    (void)q;
    log_ev('D', seq);
}

static void obs_settled(void *arg, struct queue *q, uint64_t seq)
{
    (void)arg;
    (void)q;
    log_ev('S', seq);
}

static const struct queue_observer observer = {obs_enq, obs_dlv, obs_settled};

/* ---- dead letters ---- */

static struct msg *dls[256];
static size_t ndls;

static void record_dl(void *arg, struct queue *q, struct msg *m, enum queue_dl_reason reason)
{
    (void)arg;
    (void)q;
    (void)reason;
    assert_int_equal(msg_paged(m), MSG_RESIDENT);
    assert_true(ndls < ARRAY_LEN(dls));
    dls[ndls++] = m;
}

static uint64_t fake_now;

static uint64_t fake_clock(void)
{
    return fake_now;
}

static int setup(void **state)
{
    (void)state;
    memset(disk, 0, sizeof(disk));
    ndisk = live = nout = nevs = ndls = 0;
    out_calls = in_calls = in_msgs = 0;
    fail_out = fail_in = false;
    fail_in_seq = 0;
    fake_now = 1000;
    queue_set_clock(fake_clock);
    queue_set_pager(&pager, NULL);
    queue_set_observer(&observer, NULL);
    queue_set_dead_letter_sink(record_dl, NULL);
    msg_set_stub_release(fake_release);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    queue_flush();
    for (size_t i = 0; i < ndls; i++)
        msg_unref(&dls[i]);
    /* Every stub is gone with its queue: nothing left on "disk". */
    assert_int_equal(live, 0);
    for (size_t i = 0; i < ndisk; i++)
        assert_null(disk[i]);
    assert_int_equal(queue_total_resident_bytes(), 0);
    queue_set_pager(NULL, NULL);
    queue_set_observer(NULL, NULL);
    queue_set_dead_letter_sink(NULL, NULL);
    queue_set_clock(NULL);
    msg_set_stub_release(NULL);
    return 0;
}

/* ---- helpers ---- */

static struct queue *make_queue(const char *name, const char *key, int64_t v, const char *skey,
                                const char *sval)
{
    struct buf b = {0};
    size_t off = table_open(&b);
    struct proto_err err = {0};
    struct queue *q;

    if (key)
        table_put_i64(&b, key, v);
    if (skey)
        table_put_longstr(&b, skey, view_str(sval));
    table_close(&b, off);
    q = queue_create(VIEW_LIT("/"), view_str(name), 0, (struct view){b.p + 4, b.len - 4}, 0, &err);
    buf_free(&b);
    if (!q)
        fail_msg("queue_create: %s", err.text);
    queue_set_store_qid(q, 1); /* the observer hears about it */
    return q;
}

static void destroy(struct queue *q)
{
    queue_delete(q);
    queue_unref(&q);
}

/* Body "NNNNN" padded with 'x' to len bytes. */
static void publish_n(struct queue *q, unsigned i, size_t len, int prio)
{
    struct spec_basic_props pr = {0};
    uint8_t props[64], body[256];
    struct proto_err err = {0};
    struct msg *m;
    size_t np;

    assert_true(len >= 5 && len <= sizeof(body));
    if (prio >= 0) {
        pr.flags = SPEC_PROP_PRIORITY;
        pr.priority = (uint8_t)prio;
    }
    np = spec_encode_props(&pr, props);
    memset(body, 'x', len);
    snprintf((char *)body, 6, "%05u", i);
    body[5] = 'x';
    m = msg_create(VIEW_LIT(""), VIEW_LIT("q"), (struct view){props, np}, len);
    assert_non_null(m);
    msg_append_body(m, (struct view){body, len});
    assert_int_equal(queue_publish(q, m, &err), 0);
    msg_unref(&m);
}

static unsigned body_no(const struct msg *m)
{
    char s[6];

    assert_int_equal(msg_paged(m), MSG_RESIDENT);
    memcpy(s, msg_body(m).p, 5);
    s[5] = 0;
    return (unsigned)atoi(s);
}

/* basic.get without ack: the body number, or -1 when empty. */
static int get_no(struct queue *q)
{
    struct msg *m = queue_get(q, false, NULL, NULL);
    int n;

    if (!m)
        return -1;
    n = (int)body_no(m);
    msg_unref(&m);
    return n;
}

static struct queue_msg_stats stats(const struct queue *q)
{
    struct queue_msg_stats s;

    queue_msg_stats(q, &s);
    return s;
}

/* ---- a consumer with credit ---- */

struct cons {
    int credit;
    unsigned got[DISK];
    size_t n;
    struct msg *held[DISK];
    uint64_t seqs[DISK];
    bool keep; /* keep the messages (unacked) */
};

static bool c_can_take(void *owner)
{
    struct cons *c = owner;
    return c->credit != 0;
}

static void c_deliver(void *owner, struct queue *q, struct msg *m, uint64_t seq, bool redelivered)
{
    struct cons *c = owner;

    (void)q;
    (void)redelivered;
    if (c->credit > 0)
        c->credit--;
    c->got[c->n] = body_no(m);
    c->seqs[c->n] = seq;
    if (c->keep)
        c->held[c->n] = m;
    else
        msg_unref(&m);
    c->n++;
}

static void c_cancelled(void *owner, struct queue *q)
{
    (void)owner;
    (void)q;
}

static const struct consumer_ops cops = {c_can_take, c_deliver, c_cancelled};

/* ---- tests ---- */

static void test_paging_newest_go_first_and_all_come_back_in_order(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    struct queue_msg_stats s;

    (void)state;
    for (unsigned i = 0; i < 100; i++)
        publish_n(q, i, 100, -1);
    assert_int_equal(queue_total_resident_bytes(), 100 * 100);
    assert_int_equal(queue_page_out(30 * 100), 70 * 100);
    assert_int_equal(queue_total_resident_bytes(), 30 * 100);
    s = stats(q);
    assert_int_equal(s.paged_out, 70);
    assert_int_equal(s.paged_out_bytes, 70 * 100);
    assert_int_equal(queue_ready_count(q), 100);
    assert_int_equal(queue_ready_bytes(q), 100 * 100);
    /* The 70 newest: seqs 31..100 (messages 30..99). */
    for (size_t i = 0; i < nout; i++)
        assert_true(out_seqs[i] >= 31);
    /* Written oldest first within a batch, for sequential reads. */
    for (size_t i = 1; i < nout; i++)
        assert_true(out_seqs[i] == out_seqs[i - 1] + 1 || out_seqs[i] < out_seqs[i - 1]);
    for (int i = 0; i < 100; i++)
        assert_int_equal(get_no(q), i);
    assert_int_equal(get_no(q), -1);
    assert_int_equal(live, 0);
    assert_int_equal(stats(q).paged_out, 0);
    destroy(q);
}

static void test_paging_later_publishes_extend_the_range_upwards(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 20; i++)
        publish_n(q, i, 100, -1);
    queue_page_out(10 * 100); /* 11..20 out */
    for (unsigned i = 20; i < 40; i++)
        publish_n(q, i, 100, -1);
    nout = 0;
    queue_page_out(10 * 100 + 5 * 100);
    /* The 15 paged now are the oldest of the new ones: seqs 21..35,
     * next to those already out; the head stays in memory. */
    assert_int_equal(nout, 15);
    for (size_t i = 0; i < nout; i++)
        assert_int_equal(out_seqs[i], 21 + i);
    for (int i = 0; i < 40; i++)
        assert_int_equal(get_no(q), i);
    destroy(q);
}

static void test_paging_biggest_queue_first(void **state)
{
    struct queue *small = make_queue("small", NULL, 0, NULL, NULL);
    struct queue *big = make_queue("big", NULL, 0, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 10; i++)
        publish_n(small, i, 100, -1);
    for (unsigned i = 0; i < 50; i++)
        publish_n(big, i, 100, -1);
    queue_page_out(30 * 100);
    assert_int_equal(stats(small).paged_out, 0);
    assert_int_equal(stats(big).paged_out, 30);
    destroy(small);
    destroy(big);
}

static void test_paging_lowest_priority_first(void **state)
{
    struct queue *q = make_queue("pq", "x-max-priority", 5, NULL, NULL);
    int want[] = {100, 101, 102, 103, 104, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9};

    (void)state;
    for (unsigned i = 0; i < 10; i++)
        publish_n(q, i, 100, 0);
    for (unsigned i = 100; i < 105; i++)
        publish_n(q, i, 100, 5);
    queue_page_out(5 * 100);
    /* The ten priority-0 messages went; the high ones stayed. */
    for (size_t i = 0; i < nout; i++)
        assert_true(out_seqs[i] <= 10);
    for (size_t i = 0; i < ARRAY_LEN(want); i++)
        assert_int_equal(get_no(q), want[i]);
    destroy(q);
}

static void test_paging_consumer_reads_ahead_in_batches(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    struct cons *c = calloc(1, sizeof(*c));
    struct proto_err err = {0};
    struct consumer *k;

    (void)state;
    for (unsigned i = 0; i < 1000; i++)
        publish_n(q, i, 100, -1);
    queue_page_out(0);
    assert_int_equal(stats(q).paged_out, 1000);
    c->credit = -1;
    k = queue_consume(q, &cops, c, 0, false, true, &err);
    assert_non_null(k);
    queue_dispatch(q);
    assert_int_equal(c->n, 1000);
    for (unsigned i = 0; i < 1000; i++)
        assert_int_equal(c->got[i], i);
    /* 128 per read, not one by one. */
    assert_int_equal(in_msgs, 1000);
    assert_true(in_calls <= 8);
    queue_cancel(q, k);
    free(c);
    destroy(q);
}

static void test_paging_keeps_a_consumers_next_messages(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    struct cons *c = calloc(1, sizeof(*c));
    struct proto_err err = {0};
    struct consumer *k;

    (void)state;
    c->credit = 0; /* subscribed, but no credit */
    k = queue_consume(q, &cops, c, 0, false, true, &err);
    for (unsigned i = 0; i < 300; i++)
        publish_n(q, i, 100, -1);
    queue_page_out(0);
    /* The first 128 stay for the consumer; the rest is on disk. */
    assert_int_equal(stats(q).paged_out, 300 - 128);
    for (size_t i = 0; i < nout; i++)
        assert_true(out_seqs[i] > 128);
    c->credit = -1;
    queue_dispatch(q);
    assert_int_equal(c->n, 300);
    for (unsigned i = 0; i < 300; i++)
        assert_int_equal(c->got[i], i);
    queue_cancel(q, k);
    free(c);
    destroy(q);
}

static void test_paging_read_back_before_settling(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 3; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    nevs = 0;
    assert_int_equal(get_no(q), 0);
    /* The store may forget a message once its entry is settled: the bytes
     * are read first. */
    assert_true(nevs >= 2);
    assert_int_equal(evs[0], 'R');
    assert_int_equal(ev_seq[0], 1);
    for (size_t i = 0; i < nevs; i++)
        if (evs[i] == 'S')
            assert_int_equal(ev_seq[i], 1);
    destroy(q);
}

static void test_paging_unreadable_message_is_dropped_and_settled(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    struct queue_paging_totals t0, t1;

    (void)state;
    for (unsigned i = 0; i < 5; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    queue_paging_totals(&t0);
    fail_in = true;
    fail_in_seq = 2; /* message 1 */
    nevs = 0;
    assert_int_equal(get_no(q), 0);
    assert_int_equal(get_no(q), 2);
    queue_paging_totals(&t1);
    assert_int_equal(t1.lost - t0.lost, 1);
    /* seq 2 was settled (the journal forgets it) without a delivery. */
    {
        bool settled = false;
        for (size_t i = 0; i < nevs; i++)
            settled |= evs[i] == 'S' && ev_seq[i] == 2;
        assert_true(settled);
    }
    assert_int_equal(queue_ready_count(q), 2);
    fail_in = false;
    assert_int_equal(get_no(q), 3);
    assert_int_equal(get_no(q), 4);
    assert_int_equal(get_no(q), -1);
    destroy(q);
}

static void test_paging_whole_batch_unreadable(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 5; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    fail_in = true;
    assert_int_equal(get_no(q), -1);
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(queue_ready_bytes(q), 0);
    destroy(q);
}

static bool peek_collect(void *arg, struct msg *m, uint64_t seq, bool redelivered)
{
    unsigned *out = arg;

    (void)redelivered;
    out[seq - 1] = body_no(m) + 1;
    return true;
}

static void test_paging_peek_and_remove_read_back(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    unsigned seen[10] = {0};
    struct msg *m;

    (void)state;
    for (unsigned i = 0; i < 10; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    assert_int_equal(queue_peek(q, 0, SIZE_MAX, peek_collect, seen), 10);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(seen[i], i + 1);
    /* Peeking leaves the entries paged out. */
    assert_int_equal(stats(q).paged_out, 10);
    m = queue_remove(q, 6, NULL);
    assert_non_null(m);
    assert_int_equal(body_no(m), 5);
    msg_unref(&m);
    assert_int_equal(stats(q).paged_out, 9);
    for (int i = 0; i < 10; i++)
        if (i != 5)
            assert_int_equal(get_no(q), i);
    destroy(q);
}

static void test_paging_expired_go_to_the_dlx_read_back(void **state)
{
    struct queue *q = make_queue("q", "x-message-ttl", 1000, "x-dead-letter-exchange", "dlx");

    (void)state;
    for (unsigned i = 0; i < 20; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    fake_now += 1000;
    queue_expiry_run(fake_now);
    assert_int_equal(ndls, 20);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(body_no(dls[i]), i);
    assert_int_equal(queue_ready_count(q), 0);
    destroy(q);
}

static void test_paging_expired_without_dlx_are_not_read(void **state)
{
    struct queue *q = make_queue("q", "x-message-ttl", 1000, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 20; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    fake_now += 1000;
    queue_expiry_run(fake_now);
    assert_int_equal(queue_ready_count(q), 0);
    assert_int_equal(in_calls, 0);
    assert_int_equal(live, 0);
    destroy(q);
}

static void test_paging_drop_head_dead_letters_read_back(void **state)
{
    struct queue *q = make_queue("q", "x-max-length", 5, "x-dead-letter-exchange", "dlx");

    (void)state;
    for (unsigned i = 0; i < 5; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    publish_n(q, 5, 50, -1);
    publish_n(q, 6, 50, -1);
    queue_flush();
    assert_int_equal(ndls, 2);
    assert_int_equal(body_no(dls[0]), 0);
    assert_int_equal(body_no(dls[1]), 1);
    for (int i = 2; i < 7; i++)
        assert_int_equal(get_no(q), i);
    destroy(q);
}

static void test_paging_requeued_messages_keep_their_place(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    struct cons *c = calloc(1, sizeof(*c));
    struct proto_err err = {0};
    struct consumer *k;

    (void)state;
    for (unsigned i = 0; i < 300; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    c->credit = 10;
    c->keep = true;
    k = queue_consume(q, &cops, c, 0, false, false, &err);
    queue_dispatch(q);
    assert_int_equal(c->n, 10);
    queue_cancel(q, k);
    /* Channel close: the ten go back in front, in order. */
    for (int i = 9; i >= 0; i--)
        queue_requeue(q, c->held[i], c->seqs[i]);
    /* Requeued messages are resident and stay so. */
    queue_page_out(0);
    for (int i = 0; i < 300; i++)
        assert_int_equal(get_no(q), i);
    free(c);
    destroy(q);
}

static void test_paging_pager_that_cannot_write_stops_the_round(void **state)
{
    struct queue *a = make_queue("a", NULL, 0, NULL, NULL);
    struct queue *b = make_queue("b", NULL, 0, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 10; i++) {
        publish_n(a, i, 100, -1);
        publish_n(b, i, 100, -1);
    }
    fail_out = true;
    assert_int_equal(queue_page_out(0), 0);
    assert_int_equal(out_calls, 1);
    assert_int_equal(queue_total_resident_bytes(), 2000);
    fail_out = false;
    assert_int_equal(queue_page_out(0), 2000);
    destroy(a);
    destroy(b);
}

static void test_paging_restored_stubs_are_read_back(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    struct msg *full[6];

    (void)state;
    /* Recovery: the first two resident, the rest stubs of a "journal". */
    for (unsigned i = 0; i < 6; i++) {
        char body[8];
        snprintf(body, sizeof(body), "%05u", i);
        full[i] = msg_create(VIEW_LIT(""), VIEW_LIT("q"), VIEW_LIT("\0\0"), 5);
        msg_append_body(full[i], view_str(body));
    }
    for (unsigned i = 0; i < 6; i++) {
        if (i < 2) {
            queue_restore(q, full[i], 10 + i, false);
        } else {
            disk[ndisk] = msg_ref(full[i]);
            struct msg *s = msg_stub_create(full[i], MSG_PAGED_SPILL, ++ndisk);
            live++;
            queue_restore(q, s, 10 + i, false);
            msg_unref(&s);
        }
        msg_unref(&full[i]);
    }
    assert_int_equal(stats(q).paged_out, 4);
    assert_int_equal(queue_total_resident_bytes(), 10);
    for (int i = 0; i < 6; i++)
        assert_int_equal(get_no(q), i);
    destroy(q);
}

static void test_paging_deleting_a_queue_drops_its_stubs_unread(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);

    (void)state;
    for (unsigned i = 0; i < 50; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    assert_int_equal(live, 50);
    assert_int_equal(queue_purge(q), 50);
    assert_int_equal(live, 0);
    assert_int_equal(in_calls, 0);
    for (unsigned i = 0; i < 50; i++)
        publish_n(q, i, 50, -1);
    queue_page_out(0);
    destroy(q);
    assert_int_equal(in_calls, 0);
}

static void test_paging_random_ops_keep_order(void **state)
{
    struct queue *q = make_queue("q", NULL, 0, NULL, NULL);
    unsigned next_pub = 0, next_get = 0;

    (void)state;
    srand(7);
    for (int round = 0; round < 2000; round++) {
        int r = rand() % 10;
        if (r < 5) {
            publish_n(q, next_pub++, 20 + (size_t)(rand() % 100), -1);
        } else if (r < 8) {
            int got = get_no(q);
            if (next_get < next_pub)
                assert_int_equal(got, (int)next_get++);
            else
                assert_int_equal(got, -1);
        } else {
            queue_page_out((uint64_t)(rand() % 2000));
        }
        assert_true(queue_total_resident_bytes() <= queue_ready_bytes(q));
    }
    while (next_get < next_pub)
        assert_int_equal(get_no(q), (int)next_get++);
    assert_int_equal(get_no(q), -1);
    destroy(q);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_paging_newest_go_first_and_all_come_back_in_order),
        T(test_paging_later_publishes_extend_the_range_upwards),
        T(test_paging_biggest_queue_first),
        T(test_paging_lowest_priority_first),
        T(test_paging_consumer_reads_ahead_in_batches),
        T(test_paging_keeps_a_consumers_next_messages),
        T(test_paging_read_back_before_settling),
        T(test_paging_unreadable_message_is_dropped_and_settled),
        T(test_paging_whole_batch_unreadable),
        T(test_paging_peek_and_remove_read_back),
        T(test_paging_expired_go_to_the_dlx_read_back),
        T(test_paging_expired_without_dlx_are_not_read),
        T(test_paging_drop_head_dead_letters_read_back),
        T(test_paging_requeued_messages_keep_their_place),
        T(test_paging_pager_that_cannot_write_stops_the_round),
        T(test_paging_restored_stubs_are_read_back),
        T(test_paging_deleting_a_queue_drops_its_stubs_unread),
        T(test_paging_random_ops_keep_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#undef T
}
