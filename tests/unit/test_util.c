/* SPDX-License-Identifier: MIT */
/* Unit tests for broker/util.c: xring_grow, the ring doubling shared by the
 * unacked and confirm rings of a channel and the output queue. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/util.h"

/* A full ring of cap ints holding 100, 101, ... from head, wrapped. */
static int *full_ring(size_t cap, size_t head)
{
    int *a = xmalloc(cap * sizeof(*a));

    for (size_t i = 0; i < cap; i++)
        a[(head + i) & (cap - 1)] = 100 + (int)i;
    return a;
}

static void test_xring_grow_unwraps_in_order(void **state)
{
    (void)state;
    for (size_t head = 0; head < 8; head++) {
        size_t h = head, cap = 8;
        int *a = xring_grow(full_ring(8, head), sizeof(int), &h, 8, &cap, 4);

        assert_int_equal(cap, 16);
        assert_int_equal(h, 0);
        for (size_t i = 0; i < 8; i++)
            assert_int_equal(a[i], 100 + (int)i);
        free(a);
    }
}

static void test_xring_grow_from_nothing_takes_first_cap(void **state)
{
    size_t h = 0, cap = 0;
    int *a;

    (void)state;
    a = xring_grow(NULL, sizeof(int), &h, 0, &cap, 4);
    assert_non_null(a);
    assert_int_equal(cap, 4);
    assert_int_equal(h, 0);
    free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xring_grow_unwraps_in_order),
        cmocka_unit_test(test_xring_grow_from_nothing_takes_first_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
