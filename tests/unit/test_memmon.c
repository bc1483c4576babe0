/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for broker/memmon.c's pure parts: the watermark's limit, and
 * parsing /proc/PID/statm and cgroup memory limit files; and for
 * broker/alarm.c's reason texts.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "broker/alarm.h"
#include "broker/memmon.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_memmon_limit_relative_and_absolute(void **state)
{
    (void)state;
    assert_true(memmon__limit_for(0.4, 0, 1000) == 400);
    assert_true(memmon__limit_for(0.4, 0, UINT64_C(8) << 30) == UINT64_C(3435973836));
    /* An absolute watermark wins; 0 disables publishing (RabbitMQ); 1 is all. */
    assert_true(memmon__limit_for(0.4, 12345, 1000) == 12345);
    assert_true(memmon__limit_for(0, 0, 1000) == 0);
    assert_true(memmon__limit_for(1, 0, 1000) == 1000);
}

static void test_memmon_parse_statm(void **state)
{
    uint64_t rss = 0;

    (void)state;
    assert_int_equal(memmon__parse_statm(S("6037 1765 1320 217 0 1111 0\n"), 4096, &rss), 0);
    assert_true(rss == UINT64_C(1765) * 4096);
    assert_int_equal(memmon__parse_statm(S("6037 0"), 4096, &rss), 0);
    assert_true(rss == 0);
    assert_int_equal(memmon__parse_statm(S(""), 4096, &rss), -1);
    assert_int_equal(memmon__parse_statm(S("6037"), 4096, &rss), -1);
    assert_int_equal(memmon__parse_statm(S("6037 x"), 4096, &rss), -1);
    assert_int_equal(memmon__parse_statm(S("x 1"), 4096, &rss), -1);
    assert_int_equal(memmon__parse_statm(S("1 99999999999999999999999"), 4096, &rss), -1);
    assert_int_equal(memmon__parse_statm(S("1 18446744073709551"), 4096, &rss), -1);
}

static void test_memmon_parse_cgroup_limit(void **state)
{
    (void)state;
    assert_true(memmon__parse_cgroup_limit(S("max\n")) == 0);
    assert_true(memmon__parse_cgroup_limit(S("536870912\n")) == 536870912);
    assert_true(memmon__parse_cgroup_limit(S("536870912")) == 536870912);
    /* cgroup v1 says "no limit" with a huge page-rounded number. */
    assert_true(memmon__parse_cgroup_limit(S("9223372036854771712\n")) == 0);
    assert_true(memmon__parse_cgroup_limit(S("12abc")) == 0);
    assert_true(memmon__parse_cgroup_limit(S("")) == 0);
}

static void test_alarm_reasons_are_rabbitmqs(void **state)
{
    (void)state;
    assert_string_equal(alarm_reason(ALARM_MEMORY), "low on memory");
    assert_string_equal(alarm_reason(ALARM_DISK), "low on disk");
    assert_string_equal(alarm_reason(ALARM_MEMORY | ALARM_DISK), "low on memory & disk");
    assert_string_equal(alarm_reason(0), "");
    assert_string_equal(alarm_resource_name(ALARM_MEMORY), "memory");
    assert_string_equal(alarm_resource_name(ALARM_DISK), "disk space");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memmon_limit_relative_and_absolute),
        cmocka_unit_test(test_memmon_parse_statm),
        cmocka_unit_test(test_memmon_parse_cgroup_limit),
        cmocka_unit_test(test_alarm_reasons_are_rabbitmqs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
