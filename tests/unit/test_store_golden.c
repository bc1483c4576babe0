/* SPDX-License-Identifier: MIT */
/*
 * Golden segment files (tests/data/persist/, written by gen_golden.py, an
 * independent implementation of the format): each is installed as segment 1
 * of a fresh store and recovered; the test checks what comes back and what
 * is left on disk. LEVERET_TEST_DATA overrides the directory.
 */
#include "tests/unit/store_helpers.h"

struct fx {
    char *dir;
    char seg[512];
    struct store *s;
    struct rec r;
};

static const char *data_dir(void)
{
    const char *d = getenv("LEVERET_TEST_DATA");
    return d ? d : "tests/data/persist";
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    char p[512];

    hooks_reset();
    f->dir = tmpdir_new();
    snprintf(p, sizeof(p), "%s/msgs", f->dir);
    assert_int_equal(mkdir(p, 0700), 0);
    seg_path(f->seg, sizeof(f->seg), f->dir, 1, "");
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

static void install(struct fx *f, const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", data_dir(), name);
    copy_file(p, f->seg);
}

static long golden_size(const char *name)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", data_dir(), name);
    return file_size(p);
}

static void expect_valid_content(struct fx *f)
{
    char got[512];

    assert_int_equal(f->r.nq, 1);
    assert_string_equal(f->r.q[0].name, "q1");
    assert_string_equal(f->r.q[0].vhost, "/");
    assert_int_equal(f->r.q[0].max_seq, 3);
    rec_dump(&f->r, f->r.q[0].qid, got, sizeof(got));
    assert_string_equal(got, "2:two:R 3:three");
}

static void test_store_golden_valid_recovers(void **state)
{
    struct fx *f = *state;

    install(f, "valid.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    expect_valid_content(f);
    assert_int_equal(f->r.nwarn, 0);
    assert_int_equal(file_size(f->seg), golden_size("valid.seg"));
    assert_false(store_was_clean(f->s));
    /* New ids and queue ids continue after the recovered ones. */
    assert_true(qopen(f->s, "q2") > 1);
    assert_true(put_msg(f->s, "new") > 3);
}

static void test_store_golden_empty_removed(void **state)
{
    struct fx *f = *state;

    install(f, "empty.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    assert_int_equal(f->r.nq, 0);
    assert_int_equal(f->r.ne, 0);
    assert_true(rec_warned(&f->r, "is empty"));
    assert_false(file_exists(f->seg));
}

static void test_store_golden_truncated_record_truncated(void **state)
{
    struct fx *f = *state;

    install(f, "truncated_record.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    expect_valid_content(f);
    assert_true(rec_warned(&f->r, "truncated record"));
    assert_int_equal(file_size(f->seg), golden_size("valid.seg"));
}

static void test_store_golden_corrupt_crc_truncated(void **state)
{
    struct fx *f = *state;
    char got[512];

    install(f, "corrupt_crc.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    /* The ACK of seq 1 is never trusted: seq 1 comes back. */
    rec_dump(&f->r, 1, got, sizeof(got));
    assert_string_equal(got, "1:one 2:two:R 3:three");
    assert_true(rec_warned(&f->r, "checksum mismatch"));
    assert_int_equal(file_size(f->seg),
                     golden_size("valid.seg") - (long)(PERSIST_REC_HDR + PERSIST_RANGE_LEN));
}

static void test_store_golden_garbage_tail_truncated(void **state)
{
    struct fx *f = *state;

    install(f, "garbage_tail.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    expect_valid_content(f);
    assert_int_equal(f->r.nwarn, 1);
    assert_int_equal(file_size(f->seg), golden_size("valid.seg"));
}

static void test_store_golden_future_version_refused(void **state)
{
    struct fx *f = *state;
    struct store_err err;

    install(f, "future_version.seg");
    assert_null(store_open(f->dir, NULL, &err));
    assert_int_equal(err.errnum, EPROTONOSUPPORT);
    assert_non_null(strstr(err.text, "newer Leveret"));
    assert_non_null(strstr(err.text, "version 2"));
    /* Nothing was changed. */
    assert_int_equal(file_size(f->seg), golden_size("future_version.seg"));
}

static void test_store_golden_bad_magic_set_aside(void **state)
{
    struct fx *f = *state;
    char aside[512];

    install(f, "bad_magic.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    assert_int_equal(f->r.ne, 0);
    assert_true(rec_warned(&f->r, "corrupt header"));
    assert_false(file_exists(f->seg));
    seg_path(aside, sizeof(aside), f->dir, 1, ".discarded");
    assert_int_equal(file_size(aside), golden_size("bad_magic.seg"));
    /* A new segment does not reuse the number of the one set aside. */
    qopen(f->s, "q");
    assert_int_equal(store_flush(f->s), 0);
    seg_path(aside, sizeof(aside), f->dir, 2, "");
    assert_true(file_exists(aside));
}

static void test_store_golden_truncated_store_keeps_working(void **state)
{
    struct fx *f = *state;
    char got[512];

    install(f, "garbage_tail.seg");
    f->s = open_rec(f->dir, NULL, &f->r);
    publish(f->s, 1, 4, "four");
    assert_int_equal(store_close(f->s), 0);
    f->s = open_rec(f->dir, NULL, &f->r);
    assert_int_equal(f->r.nwarn, 0);
    rec_dump(&f->r, 1, got, sizeof(got));
    assert_string_equal(got, "2:two:R 3:three 4:four");
}

static void test_store_corrupt_middle_segment_sets_later_aside(void **state)
{
    struct fx *f = *state;
    struct store_options opt = {.segment_size = 4096};
    char p[512], got[512];
    int fd;

    /* Build a real multi-segment store, then damage segment 2. */
    rmdir(f->seg);
    f->s = open_rec(f->dir, &opt, &f->r);
    uint32_t q = qopen(f->s, "q");
    for (uint64_t i = 1; i <= 40; i++) {
        char body[300];
        memset(body, 'a' + (int)(i % 26), sizeof(body) - 1);
        body[sizeof(body) - 1] = 0;
        publish(f->s, q, i, body);
    }
    assert_int_equal(store_close(f->s), 0);
    f->s = NULL;
    assert_true(count_segments(f->dir) >= 3);
    seg_path(p, sizeof(p), f->dir, 2, "");
    fd = open(p, O_WRONLY);
    assert_int_equal(pwrite(fd, "\xff\xff", 2, PERSIST_HDR_SIZE + 20), 2);
    close(fd);
    f->s = open_rec(f->dir, &opt, &f->r);
    assert_true(rec_warned(&f->r, "checksum mismatch"));
    assert_true(rec_warned(&f->r, "follows a bad record"));
    assert_int_equal(file_size(p), PERSIST_HDR_SIZE);
    seg_path(p, sizeof(p), f->dir, 3, ".discarded");
    assert_true(file_exists(p));
    /* Only what segment 1 holds comes back, in order. */
    rec_dump(&f->r, q, got, sizeof(got));
    assert_true(f->r.ne > 0 && f->r.ne < 40);
    for (size_t i = 0; i < f->r.ne; i++)
        assert_int_equal(f->r.e[i].seq, i + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_store_golden_valid_recovers),
        T(test_store_golden_empty_removed),
        T(test_store_golden_truncated_record_truncated),
        T(test_store_golden_corrupt_crc_truncated),
        T(test_store_golden_garbage_tail_truncated),
        T(test_store_golden_future_version_refused),
        T(test_store_golden_bad_magic_set_aside),
        T(test_store_golden_truncated_store_keeps_working),
        T(test_store_corrupt_middle_segment_sets_later_aside),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
