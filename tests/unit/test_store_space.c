/* SPDX-License-Identifier: MIT */
/*
 * Space reclamation of persist/: settled segments are deleted, sparse old
 * ones are compacted (live records copied to the head), and a steady
 * publish/consume load keeps the files bounded, without losing a live record
 * or bringing back a settled one. Small segments make this quick.
 */
#include "tests/unit/store_helpers.h"

#define SEG 4096u

struct fx {
    char *dir;
    struct store *s;
    struct rec r;
    struct store_options opt;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    hooks_reset();
    f->dir = tmpdir_new();
    f->opt.segment_size = SEG;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store__abandon(f->s);
    rec_reset(&f->r);
    tmpdir_free(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    assert_int_equal(store_close(f->s), 0);
    f->s = open_rec(f->dir, &f->opt, &f->r);
}

/* Lets the store finish its deletions and compactions: every round submits,
 * waits for durability (which allows the next deletion) and collects. */
static void settle(struct store *s)
{
    for (int i = 0; i < 8; i++)
        assert_int_equal(store_flush(s), 0);
}

static void body_for(char *out, size_t n, uint64_t i)
{
    memset(out, 'a' + (int)(i % 26), n - 1);
    snprintf(out, n, "%llu", (unsigned long long)i);
    out[strlen(out)] = '-';
    out[n - 1] = 0;
}

static void test_store_settled_segments_deleted(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    char body[200];
    uint32_t q;

    f->s = open_rec(f->dir, &f->opt, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 200; i++) {
        body_for(body, sizeof(body), i);
        publish(f->s, q, i, body);
    }
    settle(f->s);
    assert_true(count_segments(f->dir) >= 8);
    for (uint64_t i = 1; i <= 200; i++)
        assert_int_equal(store_append_ack(f->s, q, i), 0);
    settle(f->s);
    store_get_stats(f->s, &st);
    assert_true(st.segments_deleted >= 7);
    /* The QUEUE record keeps one segment (or its copy) alive, plus the head. */
    assert_true(count_segments(f->dir) <= 3);
    reopen(f);
    assert_int_equal(f->r.nq, 1);
    assert_int_equal(f->r.ne, 0);
}

static void test_store_compaction_preserves_live_records(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    char body[200], want[200];
    uint32_t q;
    size_t k = 0;

    f->s = open_rec(f->dir, &f->opt, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 200; i++) {
        body_for(body, sizeof(body), i);
        publish(f->s, q, i, body);
    }
    /* Every tenth message stays; a few of those were delivered. */
    for (uint64_t i = 1; i <= 200; i++) {
        if (i % 10 == 0) {
            if (i % 20 == 0)
                store_append_delivered(f->s, q, i);
            continue;
        }
        store_append_ack(f->s, q, i);
    }
    settle(f->s);
    store_get_stats(f->s, &st);
    assert_true(st.compactions >= 3);
    assert_int_equal(st.entries, 20);
    assert_true(count_segments(f->dir) <= 4);
    reopen(f);
    assert_int_equal(f->r.ne, 20);
    for (uint64_t i = 10; i <= 200; i += 10, k++) {
        body_for(want, sizeof(want), i);
        assert_int_equal(f->r.e[k].seq, i);
        assert_int_equal(f->r.e[k].body_n, strlen(want));
        assert_memory_equal(f->r.e[k].body, want, strlen(want));
        assert_int_equal(f->r.e[k].redelivered, i % 20 == 0);
    }
}

static void test_store_compaction_keeps_queue_record(void **state)
{
    struct fx *f = *state;
    char body[200];
    uint32_t idle, busy;

    f->s = open_rec(f->dir, &f->opt, &f->r);
    idle = qopen(f->s, "idle");
    busy = qopen(f->s, "busy");
    for (uint64_t i = 1; i <= 300; i++) {
        body_for(body, sizeof(body), i);
        publish(f->s, busy, i, body);
        store_append_ack(f->s, busy, i);
        if (i % 20 == 0)
            settle(f->s);
    }
    settle(f->s);
    reopen(f);
    assert_int_equal(f->r.nq, 2);
    assert_int_equal(store_queue_find(f->s, VIEW_LIT("/"), VIEW_LIT("idle")), idle);
    assert_int_equal(f->r.ne, 0);
}

static void test_store_read_body_while_record_moves(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    uint8_t buf[256];
    char want[200];
    struct store_err err;
    size_t len;
    uint32_t q;
    uint64_t ids[100];

    f->s = open_rec(f->dir, &f->opt, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 100; i++) {
        body_for(want, sizeof(want), i);
        ids[i - 1] = publish(f->s, q, i, want);
    }
    assert_int_equal(store_flush(f->s), 0);
    for (uint64_t i = 1; i <= 100; i++)
        if (i % 10)
            store_append_ack(f->s, q, i);
    /* This submit plans the copies; they are not written yet. */
    store_submit(f->s);
    store_get_stats(f->s, &st);
    for (uint64_t i = 10; i <= 100; i += 10) {
        body_for(want, sizeof(want), i);
        assert_int_equal(store_read_body(f->s, ids[i - 1], buf, sizeof(buf), &len, &err), 0);
        assert_int_equal(len, strlen(want));
        assert_memory_equal(buf, want, len);
    }
    settle(f->s);
    for (uint64_t i = 10; i <= 100; i += 10) {
        body_for(want, sizeof(want), i);
        assert_int_equal(store_read_body(f->s, ids[i - 1], buf, sizeof(buf), &len, &err), 0);
        assert_memory_equal(buf, want, len);
    }
}

static void test_store_steady_load_keeps_disk_bounded(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    char body[300];
    uint64_t max_disk = 0, seq = 0;
    uint32_t idle, flow;
    char got[512];

    f->s = open_rec(f->dir, &f->opt, &f->r);
    idle = qopen(f->s, "idle");
    flow = qopen(f->s, "flow");
    /* Long-lived messages in the oldest segment pin it unless it is compacted. */
    for (uint64_t i = 1; i <= 3; i++) {
        body_for(body, sizeof(body), i);
        publish(f->s, idle, i, body);
    }
    /* Consumers lag by up to 20 messages; 6,000 x 300 bytes is ~450 segments. */
    for (int round = 0; round < 300; round++) {
        for (int k = 0; k < 20; k++) {
            seq++;
            body_for(body, sizeof(body), seq);
            publish(f->s, flow, seq, body);
            if (seq > 20) {
                store_append_delivered(f->s, flow, seq - 20);
                store_append_ack(f->s, flow, seq - 20);
            }
        }
        assert_int_equal(store_flush(f->s), 0);
        store_get_stats(f->s, &st);
        if (round > 10 && st.disk_bytes > max_disk)
            max_disk = st.disk_bytes;
    }
    store_get_stats(f->s, &st);
    assert_true(st.segments_deleted > 300);
    /* Live data is ~23 x 330 bytes: the bound is a handful of segments. */
    assert_true(max_disk <= 12 * SEG);
    reopen(f);
    rec_dump(&f->r, idle, got, sizeof(got));
    assert_int_equal(strncmp(got, "1:1-", 4), 0);
    /* Exactly the 20 unacked flow messages, none acked comes back. */
    size_t nflow = 0;
    for (size_t i = 0; i < f->r.ne; i++) {
        if (f->r.e[i].qid != flow)
            continue;
        assert_int_equal(f->r.e[i].seq, seq - 19 + nflow);
        assert_false(f->r.e[i].redelivered);
        nflow++;
    }
    assert_int_equal(nflow, 20);
}

static void test_store_queue_delete_frees_segments(void **state)
{
    struct fx *f = *state;
    char body[200];
    uint32_t q;

    f->s = open_rec(f->dir, &f->opt, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 200; i++) {
        body_for(body, sizeof(body), i);
        publish(f->s, q, i, body);
    }
    settle(f->s);
    assert_true(count_segments(f->dir) >= 8);
    assert_int_equal(store_queue_delete(f->s, q), 0);
    settle(f->s);
    assert_true(count_segments(f->dir) <= 2);
    reopen(f);
    assert_int_equal(f->r.nq, 0);
    assert_int_equal(f->r.ne, 0);
}

static void test_store_restart_reclaims_old_segments(void **state)
{
    struct fx *f = *state;
    char body[200];
    uint32_t q;

    f->s = open_rec(f->dir, &f->opt, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 100; i++) {
        body_for(body, sizeof(body), i);
        publish(f->s, q, i, body);
    }
    for (uint64_t i = 1; i <= 99; i++)
        store_append_ack(f->s, q, i);
    assert_int_equal(store_flush(f->s), 0);
    store__abandon(f->s); /* no chance to reclaim before the "crash" */
    f->s = open_rec(f->dir, &f->opt, &f->r);
    assert_int_equal(f->r.ne, 1);
    settle(f->s);
    assert_true(count_segments(f->dir) <= 3);
    reopen(f);
    assert_int_equal(f->r.ne, 1);
    assert_int_equal(f->r.e[0].seq, 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_settled_segments_deleted),
        T(test_store_compaction_preserves_live_records),
        T(test_store_compaction_keeps_queue_record),
        T(test_store_read_body_while_record_moves),
        T(test_store_steady_load_keeps_disk_bounded),
        T(test_store_queue_delete_frees_segments),
        T(test_store_restart_reclaims_old_segments),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
