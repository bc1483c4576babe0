/* SPDX-License-Identifier: MIT */
/*
 * persist/spill.c: the spill area. Records come back as written, neighbours
 * in one read, corrupt ones are refused by checksum, segments go once nothing
 * in them is live (the head is reused), and a new process starts empty.
 */
#include "tests/unit/store_helpers.h"

#include <dirent.h>

#include "persist/spill.h"

#define SEG 4096u

struct fx {
    char *dir;
    struct spill *sp;
    struct store_err err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct spill_options opt = {.segment_size = SEG};

    f->dir = tmpdir_new();
    f->sp = spill_open(f->dir, &opt, &f->err);
    assert_non_null(f->sp);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;

    spill_close(f->sp);
    tmpdir_free(f->dir);
    free(f);
    return 0;
}

/* Files in dir/spill. */
static size_t count_files(const char *dir)
{
    char p[512];
    DIR *d;
    struct dirent *de;
    size_t n = 0;

    snprintf(p, sizeof(p), "%s/spill", dir);
    d = opendir(p);
    assert_non_null(d);
    while ((de = readdir(d)))
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u);
}

static uint64_t append1(struct fx *f, const uint8_t *p, size_t n)
{
    struct view v = {p, n};
    uint64_t loc = 0;

    assert_int_equal(spill_append(f->sp, &v, 1, &loc, &f->err), 0);
    assert_true(loc != 0);
    return loc;
}

static bool read1(struct fx *f, uint64_t loc, uint8_t *dst, size_t n)
{
    bool ok = false;

    return spill_read(f->sp, 1, &loc, &dst, &n, &ok, &f->err) == 0 && ok;
}

static void test_spill_records_read_back_as_written(void **state)
{
    struct fx *f = *state;
    uint8_t a[100], b[1], back[100];
    uint64_t la, lb, l0;

    fill(a, sizeof(a), 1);
    b[0] = 0x5a;
    la = append1(f, a, sizeof(a));
    l0 = append1(f, a, 0);
    lb = append1(f, b, sizeof(b));
    assert_true(read1(f, la, back, sizeof(a)));
    assert_memory_equal(back, a, sizeof(a));
    assert_true(read1(f, l0, back, 0));
    assert_true(read1(f, lb, back, 1));
    assert_int_equal(back[0], 0x5a);
}

static void test_spill_batch_is_read_with_one_call(void **state)
{
    struct fx *f = *state;
    enum { N = 20 };
    uint8_t data[N][50], back[N][50];
    struct view recs[N];
    uint64_t locs[N];
    uint8_t *dsts[N];
    size_t lens[N];
    bool ok[N];
    struct spill_stats st;

    for (int i = 0; i < N; i++) {
        fill(data[i], 50, (unsigned)i);
        recs[i] = (struct view){data[i], 50};
        dsts[i] = back[i];
        lens[i] = 50;
    }
    assert_int_equal(spill_append(f->sp, recs, N, locs, &f->err), 0);
    assert_int_equal(spill_read(f->sp, N, locs, dsts, lens, ok, &f->err), 0);
    for (int i = 0; i < N; i++) {
        assert_true(ok[i]);
        assert_memory_equal(back[i], data[i], 50);
    }
    spill_get_stats(f->sp, &st);
    assert_int_equal(st.read_calls, 1);
    assert_int_equal(st.read, N);
    assert_int_equal(st.live_records, N);
    assert_int_equal(st.live_bytes, N * (50 + SPILL_REC_HDR));
}

static void test_spill_corrupt_record_is_refused(void **state)
{
    struct fx *f = *state;
    uint8_t a[64], b[64], back[2][64];
    uint64_t locs[2];
    uint8_t *dsts[2] = {back[0], back[1]};
    size_t lens[2] = {64, 64};
    bool ok[2];
    char path[512];
    int fd;

    fill(a, 64, 3);
    fill(b, 64, 4);
    locs[0] = append1(f, a, 64);
    locs[1] = append1(f, b, 64);
    /* Flip one payload byte of the second record. */
    snprintf(path, sizeof(path), "%s/spill/%08x.spill", f->dir, (unsigned)(locs[1] >> 32));
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\xff", 1, (off_t)(uint32_t)locs[1] + SPILL_REC_HDR + 10), 1);
    close(fd);
    assert_int_equal(spill_read(f->sp, 2, locs, dsts, lens, ok, &f->err), 1);
    assert_true(ok[0]);
    assert_false(ok[1]);
    assert_memory_equal(back[0], a, 64);
    assert_non_null(strstr(f->err.text, "corrupt"));
}

static void test_spill_wrong_length_is_refused(void **state)
{
    struct fx *f = *state;
    uint8_t a[64], back[64];
    uint64_t loc;

    fill(a, 64, 5);
    loc = append1(f, a, 64);
    assert_false(read1(f, loc, back, 63));
    assert_false(read1(f, loc + 1, back, 64));
    assert_false(read1(f, (uint64_t)99 << 32, back, 64));
}

static void test_spill_released_segments_are_deleted(void **state)
{
    struct fx *f = *state;
    enum { N = 40 };
    uint8_t body[500];
    uint64_t locs[N];
    struct spill_stats st;

    fill(body, sizeof(body), 6);
    for (int i = 0; i < N; i++)
        locs[i] = append1(f, body, sizeof(body));
    /* 40 x 508 bytes in 4 KiB segments: at least 5 files. */
    assert_true(count_files(f->dir) >= 5);
    for (int i = 0; i < N - 1; i++)
        spill_release(f->sp, locs[i], sizeof(body));
    /* Only the segment of the last record is left. */
    assert_int_equal(count_files(f->dir), 1);
    spill_get_stats(f->sp, &st);
    assert_int_equal(st.segments, 1);
    assert_int_equal(st.live_records, 1);
    assert_true(st.deleted >= 4);
    assert_true(read1(f, locs[N - 1], body, sizeof(body)));
}

static void test_spill_empty_head_is_reused(void **state)
{
    struct fx *f = *state;
    uint8_t body[1000];
    uint64_t a, b;
    struct spill_stats st;

    fill(body, sizeof(body), 7);
    a = append1(f, body, sizeof(body));
    spill_release(f->sp, a, sizeof(body));
    spill_get_stats(f->sp, &st);
    assert_int_equal(st.disk_bytes, 0);
    b = append1(f, body, sizeof(body));
    /* Same segment, from its start again. */
    assert_int_equal(b, a);
    assert_true(read1(f, b, body, sizeof(body)));
    assert_int_equal(count_files(f->dir), 1);
}

static void test_spill_large_record_gets_its_own_segment(void **state)
{
    struct fx *f = *state;
    size_t n = 3 * SEG;
    uint8_t *big = malloc(n), *back = malloc(n), small[10] = {1};
    uint64_t ls, lb, ls2;

    fill(big, n, 8);
    ls = append1(f, small, sizeof(small));
    lb = append1(f, big, n);
    ls2 = append1(f, small, sizeof(small));
    assert_true(lb >> 32 != ls >> 32);
    assert_true(ls2 >> 32 != lb >> 32);
    assert_true(read1(f, lb, back, n));
    assert_memory_equal(back, big, n);
    free(big);
    free(back);
}

static void test_spill_open_empties_the_directory(void **state)
{
    struct fx *f = *state;
    uint8_t body[100];
    char other[512];
    FILE *o;

    fill(body, sizeof(body), 9);
    append1(f, body, sizeof(body));
    /* A crash leaves the segment behind; a file that is not ours stays. */
    snprintf(other, sizeof(other), "%s/spill/README", f->dir);
    o = fopen(other, "w");
    assert_non_null(o);
    fclose(o);
    {
        struct spill *again = spill_open(f->dir, NULL, &f->err);
        assert_non_null(again);
        assert_int_equal(count_files(f->dir), 1); /* README only */
        spill_close(again);
    }
    /* The first instance's file is gone under it: its reads fail cleanly. */
}

static void test_spill_close_removes_segments(void **state)
{
    struct fx *f = *state;
    uint8_t body[100];

    fill(body, sizeof(body), 10);
    append1(f, body, sizeof(body));
    assert_int_equal(count_files(f->dir), 1);
    spill_close(f->sp);
    f->sp = NULL;
    assert_int_equal(count_files(f->dir), 0);
}

static void test_spill_open_fails_on_unusable_dir(void **state)
{
    struct fx *f = *state;
    char path[512];
    struct spill *sp;
    FILE *o;

    /* data_dir is a file: no spill directory can be made under it. */
    snprintf(path, sizeof(path), "%s/plainfile", f->dir);
    o = fopen(path, "w");
    assert_non_null(o);
    fclose(o);
    sp = spill_open(path, NULL, &f->err);
    assert_null(sp);
    assert_true(f->err.errnum != 0);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_spill_records_read_back_as_written),
        T(test_spill_batch_is_read_with_one_call),
        T(test_spill_corrupt_record_is_refused),
        T(test_spill_wrong_length_is_refused),
        T(test_spill_released_segments_are_deleted),
        T(test_spill_empty_head_is_reused),
        T(test_spill_large_record_gets_its_own_segment),
        T(test_spill_open_empties_the_directory),
        T(test_spill_close_removes_segments),
        T(test_spill_open_fails_on_unusable_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
#undef T
}
