/* SPDX-License-Identifier: MIT */
/* Unit tests for broker/outq.c: byte runs and referenced body slices, written with writev. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <fcntl.h>

#include <cmocka.h>

#include "broker/msg.h"
#include "broker/outq.h"

struct fixture {
    int fd[2];
    struct outq q;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    int small = 4096;

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f->fd), 0);
    fcntl(f->fd[0], F_SETFL, O_NONBLOCK);
    setsockopt(f->fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    outq_free(&f->q);
    close(f->fd[0]);
    close(f->fd[1]);
    free(f);
    return 0;
}

static struct msg *make_msg(size_t n, uint8_t fill)
{
    struct msg *m = msg_create(VIEW_LIT("x"), VIEW_LIT("k"), (struct view){NULL, 0}, n);
    uint8_t *b = malloc(n);
    memset(b, fill, n);
    msg_append_body(m, (struct view){b, n});
    free(b);
    return m;
}

/* Reads exactly n bytes from fd (blocking side). */
static void read_all(int fd, uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, out + got, n - got);
        assert_true(r > 0);
        got += (size_t)r;
    }
}

static void test_outq_bytes_and_slices_arrive_in_order(void **state)
{
    struct fixture *f = *state;
    struct msg *m = make_msg(100, 0xAB);
    uint8_t out[3 + 40 + 2];
    int blocked;

    buf_append(outq_buf(&f->q), "abc", 3);
    outq_put_slice(&f->q, m, 10, 40);
    buf_append(outq_buf(&f->q), "de", 2);
    outq_commit(&f->q);
    assert_int_equal(outq_pending(&f->q), 45);
    assert_int_equal(msg_refs(m), 2);
    assert_int_equal(outq_write(&f->q, f->fd[0], &blocked), 45);
    assert_int_equal(blocked, 0);
    read_all(f->fd[1], out, sizeof(out));
    assert_memory_equal(out, "abc", 3);
    for (size_t i = 3; i < 43; i++)
        assert_int_equal(out[i], 0xAB);
    assert_memory_equal(out + 43, "de", 2);
    /* Written slices drop their reference; an empty queue holds no memory. */
    assert_int_equal(msg_refs(m), 1);
    assert_int_equal(outq_pending(&f->q), 0);
    assert_null(f->q.bytes.p);
    msg_unref(&m);
}

static void test_outq_uncommitted_bytes_are_not_written(void **state)
{
    struct fixture *f = *state;
    int blocked;

    buf_append(outq_buf(&f->q), "xyz", 3);
    assert_int_equal(outq_pending(&f->q), 0);
    assert_int_equal(outq_write(&f->q, f->fd[0], &blocked), 0);
    outq_commit(&f->q);
    assert_int_equal(outq_pending(&f->q), 3);
}

static void test_outq_partial_writes_resume_exactly(void **state)
{
    struct fixture *f = *state;
    struct msg *m = make_msg(1 << 20, 0x5A);
    size_t total = 0, want = (1 << 20) + 6000;
    uint8_t *out = malloc(want);
    int blocked = 0;
    uint8_t hdr[3000];

    memset(hdr, 'h', sizeof(hdr));
    buf_append(outq_buf(&f->q), hdr, sizeof(hdr));
    outq_put_slice(&f->q, m, 0, 1 << 20);
    buf_append(outq_buf(&f->q), hdr, sizeof(hdr));
    outq_commit(&f->q);
    /* The peer reads in small steps, so the writer sees EAGAIN many times. */
    while (total < want) {
        ssize_t w = outq_write(&f->q, f->fd[0], &blocked);
        assert_true(w >= 0);
        ssize_t r = read(f->fd[1], out + total, want - total < 7000 ? want - total : 7000);
        if (r > 0)
            total += (size_t)r;
    }
    assert_int_equal(outq_pending(&f->q), 0);
    for (size_t i = 0; i < 3000; i++)
        assert_int_equal(out[i], 'h');
    for (size_t i = 3000; i < 3000 + (1 << 20); i++)
        if (out[i] != 0x5A)
            fail_msg("body byte %zu differs", i);
    assert_int_equal(msg_refs(m), 1);
    msg_unref(&m);
    free(out);
}

static void test_outq_free_drops_references(void **state)
{
    struct fixture *f = *state;
    struct msg *m = make_msg(10, 1);

    outq_put_slice(&f->q, m, 0, 10);
    outq_put_slice(&f->q, m, 2, 3);
    assert_int_equal(msg_refs(m), 3);
    outq_free(&f->q);
    assert_int_equal(msg_refs(m), 1);
    msg_unref(&m);
}

static void test_outq_many_segments_exceed_one_writev(void **state)
{
    struct fixture *f = *state;
    struct msg *m = make_msg(8, 7);
    uint8_t out[300 * 9];
    int blocked;
    size_t got = 0;

    for (int i = 0; i < 300; i++) {
        buf_put_u8(outq_buf(&f->q), (uint8_t)i);
        outq_put_slice(&f->q, m, 0, 8);
    }
    outq_commit(&f->q);
    while (got < sizeof(out)) {
        assert_true(outq_write(&f->q, f->fd[0], &blocked) >= 0);
        ssize_t r = read(f->fd[1], out + got, sizeof(out) - got);
        if (r > 0)
            got += (size_t)r;
    }
    for (int i = 0; i < 300; i++) {
        assert_int_equal(out[i * 9], (uint8_t)i);
        assert_int_equal(out[i * 9 + 1], 7);
    }
    assert_int_equal(msg_refs(m), 1);
    msg_unref(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outq_bytes_and_slices_arrive_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outq_uncommitted_bytes_are_not_written, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outq_partial_writes_resume_exactly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outq_free_drops_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outq_many_segments_exceed_one_writev, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
