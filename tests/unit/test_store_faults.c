/* SPDX-License-Identifier: MIT */
/*
 * Failures of persist/: a full disk (ENOSPC injected through the I/O hooks),
 * free space under the limit, and a crash at every single write, sync and
 * truncate of a workload that also deletes and compacts segments. What was
 * durable before the failure must come back; nothing acknowledged durable
 * may be lost; the store must keep working once space returns.
 */
#include "tests/unit/store_helpers.h"

struct fx {
    char *dir;
    struct store *s;
    struct rec r;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    hooks_reset();
    f->dir = tmpdir_new();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    store__abandon(f->s);
    hooks_reset();
    rec_reset(&f->r);
    tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* Collects until cond(status, durable) holds, for up to 5 s. */
static void wait_for(struct store *s, unsigned bits, bool set, uint64_t durable_at_least)
{
    for (int i = 0; i < 5000; i++) {
        uint64_t d = store_completed(s);
        bool has = (store_status(s) & bits) == bits;
        if (has == set && d >= durable_at_least)
            return;
        usleep(1000);
    }
    fail_msg("status %#x, durable %llu: condition not reached in 5 s", store_status(s),
             (unsigned long long)store_durable(s));
}

static void test_store_enospc_reports_full_then_recovers(void **state)
{
    struct fx *f = *state;
    uint64_t t1, t2;
    uint32_t q;
    char got[512];

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "before");
    assert_int_equal(store_flush(f->s), 0);

    hook_set_enospc(1);
    publish(f->s, q, 2, "during");
    t1 = store_ticket(f->s);
    store_submit(f->s);
    wait_for(f->s, STORE_ST_DISK_FULL, true, 0);
    assert_true(store_durable(f->s) < t1);
    assert_non_null(strstr(store_last_error(f->s), "No space left"));
    /* The loop keeps appending while the disk is full. */
    publish(f->s, q, 3, "queued");
    t2 = store_ticket(f->s);
    store_submit(f->s);
    assert_int_equal(store_flush(f->s), -1);

    hook_set_enospc(0);
    wait_for(f->s, STORE_ST_DISK_FULL, false, t2);
    assert_int_equal(store_status(f->s) & (STORE_ST_DISK_FULL | STORE_ST_IO_ERROR), 0);
    assert_int_equal(store_close(f->s), 0);
    f->s = open_rec(f->dir, NULL, &f->r);
    assert_int_equal(f->r.nwarn, 0);
    rec_dump(&f->r, q, got, sizeof(got));
    assert_string_equal(got, "1:before 2:during 3:queued");
}

static void test_store_crash_while_disk_full_keeps_durable(void **state)
{
    struct fx *f = *state;
    uint32_t q;
    char got[512];

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "confirmed");
    assert_int_equal(store_flush(f->s), 0);
    hook_set_enospc(1);
    publish(f->s, q, 2, "never confirmed");
    store_submit(f->s);
    wait_for(f->s, STORE_ST_DISK_FULL, true, 0);
    store__abandon(f->s);
    hook_set_enospc(0);
    f->s = open_rec(f->dir, NULL, &f->r);
    /* The partial write was cut back: no torn record to truncate. */
    assert_int_equal(f->r.nwarn, 0);
    rec_dump(&f->r, q, got, sizeof(got));
    assert_string_equal(got, "1:confirmed");
}

static void test_store_enospc_on_new_segment_then_recovers(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.segment_size = 4096};
    char body[1000];
    uint32_t q;

    memset(body, 'x', sizeof(body) - 1);
    body[sizeof(body) - 1] = 0;
    f->s = open_rec(f->dir, &opt, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, body);
    assert_int_equal(store_flush(f->s), 0);
    hook_set_enospc(1);
    for (uint64_t i = 2; i <= 12; i++) /* rolls over to new segments */
        publish(f->s, q, i, body);
    assert_int_equal(store_flush(f->s), -1);
    hook_set_enospc(0);
    assert_int_equal(store_flush(f->s), 0);
    assert_int_equal(store_close(f->s), 0);
    f->s = open_rec(f->dir, &opt, &f->r);
    assert_int_equal(f->r.nwarn, 0);
    assert_int_equal(f->r.ne, 12);
}

static void test_store_free_space_below_limit_sets_low(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.disk_free_limit = UINT64_C(1) << 30};
    uint32_t q;

    f->s = open_rec(f->dir, &opt, &f->r);
    assert_int_equal(store_disk_free(f->s), UINT64_MAX);
    hook_set_free(UINT64_C(100) << 20);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "x");
    assert_int_equal(store_flush(f->s), 0); /* writes still succeed */
    assert_true(store_status(f->s) & STORE_ST_DISK_LOW);
    assert_int_equal(store_disk_free(f->s), UINT64_C(100) << 20);
    hook_set_free(UINT64_C(2) << 30);
    publish(f->s, q, 2, "y");
    assert_int_equal(store_flush(f->s), 0);
    assert_false(store_status(f->s) & STORE_ST_DISK_LOW);
    store_set_disk_free_limit(f->s, UINT64_C(3) << 30);
    publish(f->s, q, 3, "z");
    assert_int_equal(store_flush(f->s), 0);
    assert_true(store_status(f->s) & STORE_ST_DISK_LOW);
}

static void test_store_disk_low_tracked_while_idle(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.disk_free_limit = UINT64_C(1) << 30};

    f->s = open_rec(f->dir, &opt, &f->r);
    /* Nothing is written: the sync thread measures on its own. */
    hook_set_free(UINT64_C(10) << 20);
    wait_for(f->s, STORE_ST_DISK_LOW, true, 0);
    assert_int_equal(store_disk_free(f->s), UINT64_C(10) << 20);
    hook_set_free(UINT64_C(5) << 30);
    wait_for(f->s, STORE_ST_DISK_LOW, false, 0);
}

/* ---- crash points ---- */

#define ROUNDS 10
#define PER_ROUND 12
#define NMSG (ROUNDS * PER_ROUND)

struct model {
    int pub[2][NMSG + 1]; /* round it was appended in, 0 = never */
    int ack[2][NMSG + 1];
    int dlv[2][NMSG + 1];
    int last_ok; /* last round whose flush succeeded */
};

static void model_body(char *out, size_t n, uint64_t seq)
{
    snprintf(out, n, "message-%03llu-%0120d", (unsigned long long)seq, 7);
}

/* Publishes, delivers, acks (some messages in two queues, some never acked)
 * and flushes once a round, with 4 KiB segments so that segments roll, get
 * deleted and get compacted. Stops at the first failed flush. */
static void run_workload(struct store *s, struct model *m)
{
    uint32_t q[2] = {qopen(s, "a"), qopen(s, "b")};
    char body[200];
    uint64_t seq = 0;

    memset(m, 0, sizeof(*m));
    for (int round = 1; round <= ROUNDS; round++) {
        for (int k = 0; k < PER_ROUND; k++) {
            uint64_t id;
            seq++;
            model_body(body, sizeof(body), seq);
            id = put_msg(s, body);
            assert_int_equal(store_append_enq(s, q[0], seq, id), 0);
            m->pub[0][seq] = round;
            if (seq % 3 == 0) {
                assert_int_equal(store_append_enq(s, q[1], seq, id), 0);
                m->pub[1][seq] = round;
            }
        }
        for (uint64_t i = 1; i <= seq; i++) {
            for (int w = 0; w < 2; w++) {
                if (!m->pub[w][i] || m->ack[w][i] || i % 11 == 0)
                    continue;
                if (!m->dlv[w][i] && i + 8 > seq) {
                    store_append_delivered(s, q[w], i);
                    m->dlv[w][i] = round;
                } else if (i + 8 <= seq) {
                    store_append_ack(s, q[w], i);
                    m->ack[w][i] = round;
                }
            }
        }
        if (store_flush(s) != 0)
            return;
        m->last_ok = round;
    }
}

/* What came back must be the state at the last durable round, plus possibly
 * part of what followed: confirmed entries are all there, settled ones stay
 * settled, bodies are intact, redelivered flags are not lost. */
static void check_recovered(const struct rec *r, const struct model *m, long k)
{
    bool seen[2][NMSG + 1];
    char body[200];

    memset(seen, 0, sizeof(seen));
    for (size_t i = 0; i < r->ne; i++) {
        const struct rec_entry *e = &r->e[i];
        int w = e->qid == 1 ? 0 : 1;
        if (e->seq < 1 || e->seq > NMSG || !m->pub[w][e->seq])
            fail_msg("crash at op %ld: unknown entry %u/%llu", k, e->qid,
                     (unsigned long long)e->seq);
        if (m->ack[w][e->seq] && m->ack[w][e->seq] <= m->last_ok)
            fail_msg("crash at op %ld: settled entry %u/%llu came back", k, e->qid,
                     (unsigned long long)e->seq);
        model_body(body, sizeof(body), e->seq);
        if (e->body_n != strlen(body) || memcmp(e->body, body, e->body_n) != 0)
            fail_msg("crash at op %ld: entry %llu has a wrong body", k, (unsigned long long)e->seq);
        if (m->dlv[w][e->seq] && m->dlv[w][e->seq] <= m->last_ok && !e->redelivered)
            fail_msg("crash at op %ld: entry %llu lost its redelivered flag", k,
                     (unsigned long long)e->seq);
        seen[w][e->seq] = true;
    }
    for (int w = 0; w < 2; w++)
        for (int i = 1; i <= NMSG; i++)
            if (m->pub[w][i] && m->pub[w][i] <= m->last_ok &&
                !(m->ack[w][i] && m->ack[w][i] <= m->last_ok + 1) && !seen[w][i])
                fail_msg("crash at op %ld: confirmed entry %d/%d lost (last ok round %d)", k, w + 1,
                         i, m->last_ok);
}

static void test_store_crash_at_every_io_step_keeps_confirmed(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.segment_size = 4096};
    struct store_stats st;
    struct model m;
    long total;

    /* A clean run counts the I/O operations and proves the workload deletes
     * and compacts segments. */
    f->s = open_rec(f->dir, &opt, &f->r);
    run_workload(f->s, &m);
    assert_int_equal(m.last_ok, ROUNDS);
    store_get_stats(f->s, &st);
    assert_true(st.segments_deleted > 0);
    assert_true(st.compactions > 0);
    total = hook_ops();
    print_message("crash points: %ld I/O operations\n", total);
    store__abandon(f->s);
    f->s = NULL;

    for (long k = 0; k < total; k++) {
        char *dir = tmpdir_new();
        struct rec r = {0};
        struct store *s;

        hooks_reset();
        s = open_rec(dir, &opt, &r);
        hook_crash_after(k);
        run_workload(s, &m);
        assert_true(hook_crashed());
        store__abandon(s);
        hooks_reset();
        s = open_rec(dir, &opt, &r);
        check_recovered(&r, &m, k);
        store__abandon(s);
        rec_reset(&r);
        tmpdir_free(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_enospc_reports_full_then_recovers),
        T(test_store_crash_while_disk_full_keeps_durable),
        T(test_store_enospc_on_new_segment_then_recovers),
        T(test_store_free_space_below_limit_sets_low),
        T(test_store_disk_low_tracked_while_idle),
        T(test_store_crash_at_every_io_step_keeps_confirmed),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
