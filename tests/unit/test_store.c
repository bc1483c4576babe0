/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for persist/: appends, group commit, recovery of queues and
 * messages, tickets, pins and read_body. Every test works in its own temp
 * data dir. Golden files: test_store_golden.c; space: test_store_space.c;
 * failures and crashes: test_store_faults.c; bytes: test_store_format.c.
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
    rec_reset(&f->r);
    tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* Closes cleanly and recovers again into f->r. */
static void reopen(struct fx *f, const struct store_options *opt)
{
    assert_int_equal(store_close(f->s), 0);
    f->s = open_rec(f->dir, opt, &f->r);
}

static void test_store_empty_dir_recovers_nothing(void **state)
{
    struct fx *f = *state;
    char p[512];

    f->s = open_rec(f->dir, NULL, &f->r);
    assert_int_equal(f->r.nq, 0);
    assert_int_equal(f->r.ne, 0);
    snprintf(p, sizeof(p), "%s/msgs", f->dir);
    assert_true(file_exists(p));
}

static void test_store_roundtrip_recovers_messages(void **state)
{
    struct fx *f = *state;
    char got[512];
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q1");
    publish(f->s, q, 1, "alpha");
    publish(f->s, q, 2, "beta");
    reopen(f, NULL);
    assert_int_equal(f->r.nq, 1);
    assert_string_equal(f->r.q[0].name, "q1");
    assert_string_equal(f->r.q[0].vhost, "/");
    assert_int_equal(f->r.q[0].max_seq, 2);
    rec_dump(&f->r, f->r.q[0].qid, got, sizeof(got));
    assert_string_equal(got, "1:alpha 2:beta");
    assert_true(store_was_clean(f->s));
}

struct fields {
    char ex[64], rk[64], props[64];
    size_t props_n;
    uint64_t id;
};

static void *fields_message(void *ctx, const struct store_recovered_msg *m)
{
    struct fields *g = ctx;
    snprintf(g->ex, 64, "%.*s", (int)m->exchange.n, (const char *)m->exchange.p);
    snprintf(g->rk, 64, "%.*s", (int)m->routing_key.n, (const char *)m->routing_key.p);
    memcpy(g->props, m->props.p, m->props.n);
    g->props_n = m->props.n;
    g->id = m->id;
    return NULL;
}

static void test_store_recovered_message_keeps_exchange_key_props(void **state)
{
    struct fx *f = *state;
    struct store_msg_data d = {VIEW_LIT("amq.topic"), VIEW_LIT("a.b.c"),
                               VIEW_LIT("\x90\x00\x0atext/plain\x02"), VIEW_LIT("payload")};
    struct store_recover_ops ops = {.message = fields_message};
    struct fields got;
    struct store_err err;
    uint64_t id;
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id = store_append_msg(f->s, &d, NULL);
    assert_int_equal(store_append_enq(f->s, q, 7, id), 0);
    assert_int_equal(store_close(f->s), 0);
    memset(&got, 0, sizeof(got));
    f->s = store_open(f->dir, NULL, &err);
    assert_non_null(f->s);
    assert_int_equal(store_recover(f->s, &ops, &got, &err), 0);
    assert_string_equal(got.ex, "amq.topic");
    assert_string_equal(got.rk, "a.b.c");
    assert_int_equal(got.props_n, d.props.n);
    assert_memory_equal(got.props, d.props.p, d.props.n);
    assert_int_equal(got.id, id);
}

static void test_store_message_in_two_queues_stored_once(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    uint32_t a, b;
    uint64_t id;

    f->s = open_rec(f->dir, NULL, &f->r);
    a = qopen(f->s, "a");
    b = qopen(f->s, "b");
    id = put_msg(f->s, "shared body");
    assert_int_equal(store_append_enq(f->s, a, 1, id), 0);
    assert_int_equal(store_append_enq(f->s, b, 1, id), 0);
    store_get_stats(f->s, &st);
    assert_int_equal(st.messages, 1);
    assert_int_equal(st.entries, 2);
    reopen(f, NULL);
    assert_int_equal(f->r.ne, 2);
    assert_int_equal(f->r.made, 1); /* one message callback for both entries */
    assert_int_equal(f->r.released, 1);
    assert_int_equal(f->r.e[0].id, f->r.e[1].id);
    assert_int_not_equal(f->r.e[0].qid, f->r.e[1].qid);
}

static void test_store_acked_not_recovered(void **state)
{
    struct fx *f = *state;
    char got[512];
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "one");
    publish(f->s, q, 2, "two");
    publish(f->s, q, 3, "three");
    assert_int_equal(store_append_ack(f->s, q, 2), 0);
    reopen(f, NULL);
    rec_dump(&f->r, q, got, sizeof(got));
    assert_string_equal(got, "1:one 3:three");
}

static void test_store_fully_acked_message_not_recovered(void **state)
{
    struct fx *f = *state;
    uint32_t a, b;
    uint64_t id;

    f->s = open_rec(f->dir, NULL, &f->r);
    a = qopen(f->s, "a");
    b = qopen(f->s, "b");
    id = put_msg(f->s, "x");
    store_append_enq(f->s, a, 1, id);
    store_append_enq(f->s, b, 1, id);
    store_append_ack(f->s, a, 1);
    store_append_ack(f->s, b, 1);
    /* The id is forgotten: a new entry for it is refused. */
    assert_int_equal(store_append_enq(f->s, a, 2, id), -1);
    reopen(f, NULL);
    assert_int_equal(f->r.ne, 0);
    assert_int_equal(f->r.made, 0);
}

static void test_store_delivered_unacked_recovered_redelivered(void **state)
{
    struct fx *f = *state;
    char got[512];
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "a");
    publish(f->s, q, 2, "b");
    publish(f->s, q, 3, "c");
    assert_int_equal(store_append_delivered(f->s, q, 1), 0);
    assert_int_equal(store_append_delivered(f->s, q, 2), 0);
    assert_int_equal(store_append_ack(f->s, q, 1), 0);
    reopen(f, NULL);
    rec_dump(&f->r, q, got, sizeof(got));
    assert_string_equal(got, "2:b:R 3:c");
}

static void test_store_order_preserved_by_sequence(void **state)
{
    struct fx *f = *state;
    char got[512];
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    /* Appended out of order (as after requeues or priorities): recovery
     * hands entries over in sequence order. */
    publish(f->s, q, 5, "e");
    publish(f->s, q, 2, "b");
    publish(f->s, q, 9, "i");
    publish(f->s, q, 1, "a");
    reopen(f, NULL);
    rec_dump(&f->r, q, got, sizeof(got));
    assert_string_equal(got, "1:a 2:b 5:e 9:i");
}

static void test_store_many_messages_order_preserved(void **state)
{
    struct fx *f = *state;
    char body[32];
    uint32_t q;
    struct store_options opt = {.segment_size = 8192};

    f->s = open_rec(f->dir, &opt, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 2000; i++) {
        snprintf(body, sizeof(body), "m%llu", (unsigned long long)i);
        publish(f->s, q, i, body);
        if (i % 100 == 0)
            store_submit(f->s);
    }
    reopen(f, &opt);
    assert_int_equal(f->r.ne, 2000);
    for (size_t i = 0; i < 2000; i++) {
        snprintf(body, sizeof(body), "m%zu", i + 1);
        assert_int_equal(f->r.e[i].seq, i + 1);
        assert_int_equal(f->r.e[i].body_n, strlen(body));
        assert_memory_equal(f->r.e[i].body, body, strlen(body));
    }
    assert_true(count_segments(f->dir) > 2);
}

static void test_store_queue_delete_not_recovered(void **state)
{
    struct fx *f = *state;
    uint32_t a, b;

    f->s = open_rec(f->dir, NULL, &f->r);
    a = qopen(f->s, "a");
    b = qopen(f->s, "b");
    publish(f->s, a, 1, "x");
    publish(f->s, b, 1, "y");
    assert_int_equal(store_queue_delete(f->s, a), 0);
    assert_int_equal(store_queue_delete(f->s, a), -1);
    assert_int_equal(store_queue_find(f->s, VIEW_LIT("/"), VIEW_LIT("a")), 0);
    reopen(f, NULL);
    assert_int_equal(f->r.nq, 1);
    assert_string_equal(f->r.q[0].name, "b");
    assert_int_equal(f->r.ne, 1);
}

static void test_store_queue_ids_stable_across_restart(void **state)
{
    struct fx *f = *state;
    uint32_t a, b, c;

    f->s = open_rec(f->dir, NULL, &f->r);
    a = qopen(f->s, "a");
    b = qopen(f->s, "b");
    assert_int_equal(qopen(f->s, "a"), a);
    reopen(f, NULL);
    assert_int_equal(qopen(f->s, "a"), a);
    assert_int_equal(qopen(f->s, "b"), b);
    c = qopen(f->s, "c");
    assert_true(c > b && c > a);
    /* Same name in another vhost is another queue. */
    assert_int_not_equal(store_queue_open(f->s, VIEW_LIT("other"), VIEW_LIT("a")), a);
}

static void test_store_message_ids_not_reused_after_restart(void **state)
{
    struct fx *f = *state;
    uint32_t q;
    uint64_t id1, id2;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id1 = publish(f->s, q, 1, "x");
    reopen(f, NULL);
    id2 = publish(f->s, q, 2, "y");
    assert_true(id2 > id1);
}

static void test_store_unknown_references_refused(void **state)
{
    struct fx *f = *state;
    uint32_t q;
    uint64_t id;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id = publish(f->s, q, 1, "x");
    assert_int_equal(store_append_enq(f->s, q + 100, 1, id), -1);
    assert_int_equal(store_append_enq(f->s, q, 2, id + 100), -1);
    assert_int_equal(store_append_enq(f->s, q, 1, id), -1); /* duplicate seq */
    assert_int_equal(store_append_enq(f->s, q, 0, id), -1);
    assert_int_equal(store_append_ack(f->s, q, 42), -1);
    assert_int_equal(store_append_delivered(f->s, q, 42), -1);
}

static void test_store_message_without_entry_is_dead(void **state)
{
    struct fx *f = *state;
    struct store_stats st;

    f->s = open_rec(f->dir, NULL, &f->r);
    put_msg(f->s, "orphan");
    store_submit(f->s);
    store_get_stats(f->s, &st);
    assert_int_equal(st.messages, 0);
    reopen(f, NULL);
    assert_int_equal(f->r.made, 0);
}

/* ---- group commit ---- */

struct notify_state {
    pthread_mutex_t mu;
    int calls;
    uint64_t last;
};

static void on_notify(void *arg, uint64_t durable)
{
    struct notify_state *n = arg;
    pthread_mutex_lock(&n->mu);
    n->calls++;
    n->last = durable;
    pthread_mutex_unlock(&n->mu);
}

static void wait_notify(struct notify_state *n, int calls)
{
    for (int i = 0; i < 5000; i++) {
        pthread_mutex_lock(&n->mu);
        int c = n->calls;
        pthread_mutex_unlock(&n->mu);
        if (c >= calls)
            return;
        usleep(1000);
    }
    fail_msg("no notify after 5 s");
}

static void test_store_group_commit_one_fsync_per_submit(void **state)
{
    struct fx *f = *state;
    struct notify_state n = {PTHREAD_MUTEX_INITIALIZER, 0, 0};
    struct store_options opt = {.notify = on_notify, .notify_arg = &n};
    uint64_t ticket;
    uint32_t q;
    int before;

    f->s = open_rec(f->dir, &opt, &f->r);
    q = qopen(f->s, "q");
    store_submit(f->s);
    wait_notify(&n, 1);
    store_completed(f->s);
    before = hook_syncs();
    for (uint64_t i = 1; i <= 500; i++)
        publish(f->s, q, i, "confirm me");
    ticket = store_ticket(f->s);
    assert_true(store_durable(f->s) < ticket);
    store_submit(f->s);
    wait_notify(&n, 2);
    assert_int_equal(store_completed(f->s), ticket);
    assert_true(store_durable(f->s) >= ticket);
    assert_int_equal(hook_syncs() - before, 1);
    pthread_mutex_lock(&n.mu);
    assert_int_equal(n.calls, 2);
    assert_int_equal(n.last, ticket);
    pthread_mutex_unlock(&n.mu);
}

static void test_store_submit_without_records_does_nothing(void **state)
{
    struct fx *f = *state;
    struct store_stats st;

    f->s = open_rec(f->dir, NULL, &f->r);
    for (int i = 0; i < 10; i++)
        store_submit(f->s);
    usleep(20000);
    store_get_stats(f->s, &st);
    assert_int_equal(st.groups, 0);
    assert_int_equal(hook_syncs(), 0);
}

static void test_store_ticket_without_records_completes(void **state)
{
    struct fx *f = *state;
    uint64_t t;

    f->s = open_rec(f->dir, NULL, &f->r);
    t = store_ticket(f->s);
    assert_int_equal(store_flush(f->s), 0);
    assert_true(store_durable(f->s) >= t);
    assert_int_equal(hook_syncs(), 0);
}

static void test_store_acks_alone_are_not_synced(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    uint32_t q;
    int before;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "x");
    publish(f->s, q, 2, "y");
    assert_int_equal(store_flush(f->s), 0);
    before = hook_syncs();
    store_append_delivered(f->s, q, 1);
    store_append_ack(f->s, q, 1);
    store_submit(f->s);
    for (int i = 0; i < 1000; i++) {
        store_get_stats(f->s, &st);
        if (st.groups >= 2)
            break;
        usleep(1000);
    }
    assert_int_equal(st.groups, 2);
    assert_int_equal(hook_syncs(), before);
}

static void test_store_sync_write_mode_skips_fdatasync(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.sync_mode = STORE_SYNC_WRITE};
    uint32_t q;

    f->s = open_rec(f->dir, &opt, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "fast");
    assert_int_equal(store_flush(f->s), 0);
    assert_int_equal(hook_syncs(), 0);
    store_set_sync_mode(f->s, STORE_SYNC_DATA);
    publish(f->s, q, 2, "safe");
    assert_int_equal(store_flush(f->s), 0);
    assert_int_equal(hook_syncs(), 1);
}

static void test_store_consecutive_acks_share_a_record(void **state)
{
    struct fx *f = *state;
    struct store_stats a, b;
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 100; i++)
        publish(f->s, q, i, "x");
    store_submit(f->s);
    store_get_stats(f->s, &a);
    for (uint64_t i = 1; i <= 100; i++)
        assert_int_equal(store_append_ack(f->s, q, i), 0);
    store_get_stats(f->s, &b);
    assert_int_equal(b.disk_bytes - a.disk_bytes, PERSIST_REC_HDR + PERSIST_RANGE_LEN);
    reopen(f, NULL);
    assert_int_equal(f->r.ne, 0);
}

/* ---- pins ---- */

static int pins_released;
static void release_pin(void *pin)
{
    (void)pin;
    pins_released++;
}

static void test_store_large_body_pinned_until_written(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.release = release_pin};
    size_t n = 100000;
    uint8_t *body = malloc(n);
    struct store_msg_data d = {VIEW_LIT("e"), VIEW_LIT("k"), {NULL, 0}, {body, n}};
    uint8_t *back = malloc(n);
    struct store_err err;
    size_t len;
    uint32_t q;
    uint64_t id;
    int pin;

    for (size_t i = 0; i < n; i++)
        body[i] = (uint8_t)(i * 7);
    pins_released = 0;
    f->s = open_rec(f->dir, &opt, &f->r);
    q = qopen(f->s, "q");
    id = store_append_msg(f->s, &d, &pin);
    store_append_enq(f->s, q, 1, id);
    assert_int_equal(pins_released, 0); /* the body is still to be written */
    assert_int_equal(store_flush(f->s), 0);
    assert_int_equal(pins_released, 1);
    assert_int_equal(store_read_body(f->s, id, back, n, &len, &err), 0);
    assert_int_equal(len, n);
    assert_memory_equal(back, body, n);
    /* A small body is copied: the pin goes back at once. */
    id = store_append_msg(
        f->s, &(struct store_msg_data){VIEW_LIT("e"), VIEW_LIT("k"), {NULL, 0}, VIEW_LIT("small")},
        &pin);
    assert_int_equal(pins_released, 2);
    store_append_enq(f->s, q, 2, id);
    reopen(f, &opt);
    assert_int_equal(f->r.ne, 2);
    assert_int_equal(f->r.e[0].body_n, n);
    free(body);
    free(back);
}

static void test_store_close_releases_unwritten_pins(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.release = release_pin};
    size_t n = 50000;
    uint8_t *body = calloc(1, n);
    int pin;
    uint32_t q;

    pins_released = 0;
    f->s = open_rec(f->dir, &opt, &f->r);
    q = qopen(f->s, "q");
    store_append_enq(
        f->s, q, 1,
        store_append_msg(
            f->s, &(struct store_msg_data){VIEW_LIT("e"), VIEW_LIT("k"), {NULL, 0}, {body, n}},
            &pin));
    assert_int_equal(store_close(f->s), 0);
    f->s = NULL;
    assert_int_equal(pins_released, 1);
    free(body);
}

/* ---- read_body ---- */

static void test_store_read_body_returns_stored_bytes(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64];
    struct store_err err;
    size_t len;
    uint32_t q;
    uint64_t id;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id = publish(f->s, q, 1, "the body bytes");
    assert_int_equal(store_read_body(f->s, id, buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(err.errnum, EAGAIN);
    assert_int_equal(store_flush(f->s), 0);
    assert_int_equal(store_read_body(f->s, id, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(len, 14);
    assert_memory_equal(buf, "the body bytes", 14);
    assert_int_equal(store_read_body(f->s, id, buf, 4, &len, &err), -1);
    assert_int_equal(err.errnum, ERANGE);
    assert_int_equal(len, 14);
    assert_int_equal(store_read_body(f->s, id + 1, buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(err.errnum, ENOENT);
}

static void test_store_read_body_after_restart(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64];
    struct store_err err;
    size_t len;
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "persisted");
    reopen(f, NULL);
    assert_int_equal(store_read_body(f->s, f->r.e[0].id, buf, sizeof(buf), &len, &err), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(buf, "persisted", 9);
}

static void test_store_read_body_detects_corruption(void **state)
{
    struct fx *f = *state;
    uint8_t buf[64];
    struct store_err err;
    char p[512];
    size_t len;
    uint32_t q;
    uint64_t id;
    int fd;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id = publish(f->s, q, 1, "ZZZZZZZZZZZZZZZZ");
    assert_int_equal(store_flush(f->s), 0);
    seg_path(p, sizeof(p), f->dir, 1, "");
    fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    /* Flip a byte of the body (after header, QUEUE record and MSG metadata). */
    assert_int_equal(pwrite(fd, "Y", 1, file_size(p) - PERSIST_REC_HDR - PERSIST_ENQ_LEN - 3), 1);
    close(fd);
    assert_int_equal(store_read_body(f->s, id, buf, sizeof(buf), &len, &err), -1);
    assert_int_equal(err.errnum, EIO);
}

/* ---- read_msg and entry_readable (paging) ---- */

/* Reads id with the part sizes put_msg uses: ex, rk, 3 bytes of props. */
static int read_msg(struct store *s, uint64_t id, char *body, size_t n, struct store_err *err)
{
    uint8_t ex[2], rk[2], props[3];
    struct store_msg_dst d = {ex, rk, props, (uint8_t *)body, 2, 2, 3, n};
    int rc = store_read_msg(s, id, &d, err);

    if (rc == 0) {
        assert_memory_equal(ex, "ex", 2);
        assert_memory_equal(rk, "rk", 2);
        assert_memory_equal(props, "\x10\x00\x02", 3);
    }
    return rc;
}

static void test_store_read_msg_returns_every_part(void **state)
{
    struct fx *f = *state;
    struct store_err err;
    char body[32];
    uint32_t q;
    uint64_t id;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id = publish(f->s, q, 1, "message bytes");
    assert_int_equal(read_msg(f->s, id, body, 13, &err), -1);
    assert_int_equal(err.errnum, EAGAIN);
    assert_int_equal(store_flush(f->s), 0);
    assert_int_equal(read_msg(f->s, id, body, 13, &err), 0);
    assert_memory_equal(body, "message bytes", 13);
    /* Sizes that do not add up to the record are refused. */
    assert_int_equal(read_msg(f->s, id, body, 12, &err), -1);
    assert_int_equal(err.errnum, EIO);
    assert_int_equal(read_msg(f->s, id + 7, body, 13, &err), -1);
    assert_int_equal(err.errnum, ENOENT);
}

static void test_store_read_msg_detects_corruption(void **state)
{
    struct fx *f = *state;
    struct store_err err;
    char body[32], p[512];
    uint32_t q;
    uint64_t id;
    int fd;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    id = publish(f->s, q, 1, "ZZZZZZZZZZZZZZZZ");
    assert_int_equal(store_flush(f->s), 0);
    seg_path(p, sizeof(p), f->dir, 1, "");
    fd = open(p, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "Y", 1, file_size(p) - PERSIST_REC_HDR - PERSIST_ENQ_LEN - 3), 1);
    close(fd);
    assert_int_equal(read_msg(f->s, id, body, 16, &err), -1);
    assert_int_equal(err.errnum, EIO);
    assert_non_null(strstr(err.text, "corrupt"));
}

static void test_store_entry_readable_follows_the_entry(void **state)
{
    struct fx *f = *state;
    uint32_t q, q2;
    uint64_t id;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    q2 = qopen(f->s, "q2");
    id = publish(f->s, q, 1, "x");
    /* Not written yet. */
    assert_false(store_entry_readable(f->s, q, 1, id));
    assert_int_equal(store_flush(f->s), 0);
    assert_true(store_entry_readable(f->s, q, 1, id));
    /* Another entry, another id, another queue: no. */
    assert_false(store_entry_readable(f->s, q, 2, id));
    assert_false(store_entry_readable(f->s, q, 1, id + 1));
    assert_false(store_entry_readable(f->s, q2, 1, id));
    /* Settled: the message is forgotten. */
    assert_int_equal(store_append_ack(f->s, q, 1), 0);
    assert_false(store_entry_readable(f->s, q, 1, id));
}

/* ---- open ---- */

static void test_store_second_open_is_refused(void **state)
{
    struct fx *f = *state;
    struct store_err err;

    f->s = open_rec(f->dir, NULL, &f->r);
    assert_null(store_open(f->dir, NULL, &err));
    assert_non_null(strstr(err.text, "in use by another process"));
}

static void test_store_unclean_shutdown_reported(void **state)
{
    struct fx *f = *state;
    uint32_t q;

    f->s = open_rec(f->dir, NULL, &f->r);
    q = qopen(f->s, "q");
    publish(f->s, q, 1, "x");
    assert_int_equal(store_flush(f->s), 0);
    store__abandon(f->s);
    f->s = open_rec(f->dir, NULL, &f->r);
    assert_false(store_was_clean(f->s));
    assert_int_equal(f->r.ne, 1);
    reopen(f, NULL);
    assert_true(store_was_clean(f->s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_empty_dir_recovers_nothing),
        T(test_store_roundtrip_recovers_messages),
        T(test_store_recovered_message_keeps_exchange_key_props),
        T(test_store_message_in_two_queues_stored_once),
        T(test_store_acked_not_recovered),
        T(test_store_fully_acked_message_not_recovered),
        T(test_store_delivered_unacked_recovered_redelivered),
        T(test_store_order_preserved_by_sequence),
        T(test_store_many_messages_order_preserved),
        T(test_store_queue_delete_not_recovered),
        T(test_store_queue_ids_stable_across_restart),
        T(test_store_message_ids_not_reused_after_restart),
        T(test_store_unknown_references_refused),
        T(test_store_message_without_entry_is_dead),
        T(test_store_group_commit_one_fsync_per_submit),
        T(test_store_submit_without_records_does_nothing),
        T(test_store_ticket_without_records_completes),
        T(test_store_acks_alone_are_not_synced),
        T(test_store_sync_write_mode_skips_fdatasync),
        T(test_store_consecutive_acks_share_a_record),
        T(test_store_large_body_pinned_until_written),
        T(test_store_close_releases_unwritten_pins),
        T(test_store_read_body_returns_stored_bytes),
        T(test_store_read_body_after_restart),
        T(test_store_read_body_detects_corruption),
        T(test_store_read_msg_returns_every_part),
        T(test_store_read_msg_detects_corruption),
        T(test_store_entry_readable_follows_the_entry),
        T(test_store_second_open_is_refused),
        T(test_store_unclean_shutdown_reported),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
