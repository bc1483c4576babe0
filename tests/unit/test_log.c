/* SPDX-License-Identifier: MIT */
/* test_log: escaping client-supplied text, and the log file's open/reopen. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "broker/log.h"

static void check_escape(const char *in, size_t n, size_t size, const char *want)
{
    char out[64];

    assert_true(size <= sizeof(out));
    memset(out, 'Z', sizeof(out));
    assert_ptr_equal(log_escape((struct view){(const uint8_t *)in, n}, out, size), out);
    assert_string_equal(out, want);
}

static void test_log_escape_printable_text_unchanged(void **state)
{
    (void)state;
    check_escape("guest", 5, 64, "guest");
    check_escape("", 0, 64, "");
    check_escape("a b'c", 5, 64, "a b'c");
}

static void test_log_escape_control_bytes_and_backslash(void **state)
{
    (void)state;
    /* A newline cannot start a forged line. */
    check_escape("u\n2026 [error] x", 16, 64, "u\\x0a2026 [error] x");
    check_escape("a\0b", 3, 64, "a\\x00b");
    check_escape("\\", 1, 64, "\\x5c");
    check_escape("\xc3\xa9", 2, 64, "\\xc3\\xa9");
    check_escape("\x7f", 1, 64, "\\x7f");
}

static void test_log_escape_cuts_with_dots(void **state)
{
    (void)state;
    check_escape("abcdefgh", 8, 9, "abcdefgh"); /* exactly fits */
    check_escape("abcdefghi", 9, 9, "abcde...");
    check_escape("\n\n\n", 3, 9, "\\x0a...");
    check_escape("abc", 3, 1, "");
    check_escape("abc", 3, 3, "");
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = calloc(1, 65536);
    size_t n;

    assert_non_null(f);
    assert_non_null(buf);
    n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_log_file_reopen_after_rename(void **state)
{
    char dir[] = "/tmp/leveret-test-log-XXXXXX", path[128], moved[128], err[128];
    char *a, *b;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/broker.log", dir);
    snprintf(moved, sizeof(moved), "%s/broker.log.1", dir);
    assert_int_equal(log_reopen(), 1); /* stderr: nothing to reopen */
    assert_int_equal(log_open(path, err, sizeof(err)), 0);
    log_msg(LOG_INFO, "before %d", 1);
    assert_int_equal(rename(path, moved), 0);
    log_msg(LOG_INFO, "still old");
    assert_int_equal(log_reopen(), 0);
    log_msg(LOG_WARNING, "after");
    log_close();
    a = slurp(moved);
    b = slurp(path);
    assert_non_null(strstr(a, "[info] before 1\n"));
    assert_non_null(strstr(a, "[info] still old\n"));
    assert_null(strstr(a, "after"));
    assert_non_null(strstr(b, "[warning] after\n"));
    assert_null(strstr(b, "before"));
    free(a);
    free(b);
    unlink(path);
    unlink(moved);
    rmdir(dir);
}

static void test_log_open_failure_keeps_stderr(void **state)
{
    char err[128] = "";

    (void)state;
    assert_int_equal(log_open("/nonexistent-dir/x.log", err, sizeof(err)), -1);
    assert_string_equal(err, "No such file or directory");
    assert_int_equal(log_reopen(), 1);
}

static void test_log_long_line_is_cut(void **state)
{
    char dir[] = "/tmp/leveret-test-log-XXXXXX", path[128], err[128];
    char *big = malloc(LOG_LINE_MAX * 2), *text;
    size_t n;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/l.log", dir);
    memset(big, 'x', LOG_LINE_MAX * 2 - 1);
    big[LOG_LINE_MAX * 2 - 1] = '\0';
    assert_int_equal(log_open(path, err, sizeof(err)), 0);
    log_msg(LOG_ERROR, "%s", big);
    log_msg(LOG_ERROR, "next");
    log_close();
    text = slurp(path);
    n = strcspn(text, "\n");
    assert_int_equal(n, LOG_LINE_MAX - 2);
    assert_memory_equal(text + n - 3, "...", 3);
    assert_non_null(strstr(text + n + 1, "[error] next\n"));
    free(text);
    free(big);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_escape_printable_text_unchanged),
        cmocka_unit_test(test_log_escape_control_bytes_and_backslash),
        cmocka_unit_test(test_log_escape_cuts_with_dots),
        cmocka_unit_test(test_log_file_reopen_after_rename),
        cmocka_unit_test(test_log_open_failure_keeps_stderr),
        cmocka_unit_test(test_log_long_line_is_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
