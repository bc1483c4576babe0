/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for broker/config.c: defaults, the shipped config.json, every
 * error class with its exact "name:line:col: path: message" text, and the
 * JSON position finder.
 *
 * Bad configs live in tests/data/config/<case>.json with the expected message
 * in <case>.expect; ok-*.json files must load. Run from the repository root
 * (make does), or set LEVERET_TEST_DATA to the data directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>
#include <cmocka.h>

#include "broker/auth.h"
#include "broker/config.h"

/* ---- helpers ---- */

static const char *data_dir(void)
{
    const char *d = getenv("LEVERET_TEST_DATA");
    return d ? d : "tests/data/config";
}

/* Reads a whole file into an allocation of exactly its size (so ASan sees
 * any read past the end: config_parse must not need a NUL). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p;
    long n;

    if (!f)
        fail_msg("cannot open %s", path);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    p = malloc(n ? (size_t)n : 1);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

static struct config *parse_str(const char *text, char *err, size_t errlen)
{
    return config_parse(text, strlen(text), "config.json", err, errlen);
}

static struct config *parse_ok(const char *text)
{
    char err[512] = "";
    struct config *c = parse_str(text, err, sizeof(err));

    if (!c)
        fail_msg("unexpected error: %s", err);
    return c;
}

static void expect_error(const char *text, const char *want)
{
    char err[512] = "";
    struct config *c = parse_str(text, err, sizeof(err));

    assert_null(c);
    assert_string_equal(err, want);
}

/* Runs tests/data/config/<name>.json and returns 0 if the message matches
 * <name>.expect (printing both otherwise). */
static int run_case(const char *name)
{
    char path[512], err[1024] = "", *text, *want;
    size_t len, wlen;
    struct config *c;
    int rc = 0;

    snprintf(path, sizeof(path), "%s/%s.expect", data_dir(), name);
    want = read_file(path, &wlen);
    while (wlen && want[wlen - 1] == '\n')
        wlen--;
    snprintf(path, sizeof(path), "%s/%s.json", data_dir(), name);
    text = read_file(path, &len);
    c = config_parse(text, len, "config.json", err, sizeof(err));
    if (c) {
        print_error("%s: loaded, expected: %.*s\n", name, (int)wlen, want);
        rc = -1;
    } else if (strlen(err) != wlen || memcmp(err, want, wlen) != 0) {
        print_error("%s:\n  got:      %s\n  expected: %.*s\n", name, err, (int)wlen, want);
        rc = -1;
    }
    config_destroy(c);
    free(text);
    free(want);
    return rc;
}

static void check_case(const char *name)
{
    assert_int_equal(run_case(name), 0);
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static const struct config_user *find_user(const struct config *c, const char *name)
{
    for (size_t i = 0; i < c->n_users; i++)
        if (strcmp(c->users[i].name, name) == 0)
            return &c->users[i];
    return NULL;
}

/* ---- defaults and good files ---- */

static void test_config_defaults_from_empty_object(void **state)
{
    struct config *c = parse_ok("{}");

    (void)state;
    assert_null(c->path);
    assert_string_equal(c->address, "0.0.0.0");
    assert_int_equal(c->amqp_port, 5672);
    assert_string_equal(c->mgmt_address, "127.0.0.1");
    assert_int_equal(c->mgmt_port, 15672);
    assert_string_equal(c->data_dir, "./data");
    assert_int_equal(c->log_level, CONFIG_LOG_INFO);
    assert_int_equal(c->frame_max, 131072);
    assert_int_equal(c->channel_max, 2047);
    assert_int_equal(c->heartbeat, 60);
    assert_int_equal(c->max_message_size, 134217728);
    assert_int_equal(c->max_connections, 0);
    assert_true(c->handshake_timeout == 10.0);
    assert_int_equal(c->disk_free_limit, 50000000);
    assert_true(c->vm_memory_high_watermark == 0.4);
    assert_int_equal(c->vm_memory_high_watermark_absolute, 0);
    assert_int_equal(c->consumer_max_per_channel, 0);
    assert_true(c->vhosts[0].max_connections == AUTH_LIMIT_UNSET);
    assert_true(c->vhosts[0].max_queues == AUTH_LIMIT_UNSET);
    assert_int_equal(c->sync, CONFIG_SYNC_FSYNC);
    assert_null(c->log_file);
    assert_int_equal(c->n_loopback_users, 1);
    assert_string_equal(c->loopback_users[0], "guest");
    config_destroy(c);
}

static void test_config_loopback_users_and_log_file(void **state)
{
    struct config *c = parse_ok("{\"loopback_users\": [], \"log_file\": \"/var/log/l.log\"}");

    (void)state;
    assert_int_equal(c->n_loopback_users, 0);
    assert_string_equal(c->log_file, "/var/log/l.log");
    config_destroy(c);
    c = parse_ok("{\"loopback_users\": [\"guest\", \"ops\", \"guest\"]}");
    assert_int_equal(c->n_loopback_users, 2);
    assert_string_equal(c->loopback_users[0], "guest");
    assert_string_equal(c->loopback_users[1], "ops");
    config_destroy(c);
}

static void test_config_error_loopback_users_must_be_a_list_of_names(void **state)
{
    (void)state;
    /* Unlike tags, no comma-separated string form. */
    expect_error("{\"loopback_users\": \"guest\"}",
                 "config.json:1:20: loopback_users: expected an array of strings, got a string");
    expect_error("{\"loopback_users\": [\"\"]}",
                 "config.json:1:21: loopback_users[0]: must not be empty");
    expect_error("{\"loopback_users\": [1]}",
                 "config.json:1:21: loopback_users[0]: expected a string, got an integer");
    expect_error("{\"log_file\": \"\"}", "config.json:1:14: log_file: must not be empty");
}

static void test_config_memory_watermark_and_consumer_limit(void **state)
{
    struct config *c = parse_ok("{\"limits\": {\"vm_memory_high_watermark\": 0.25,"
                                " \"vm_memory_high_watermark_absolute\": 1073741824,"
                                " \"consumer_max_per_channel\": 8}}");

    (void)state;
    assert_true(c->vm_memory_high_watermark == 0.25);
    assert_int_equal(c->vm_memory_high_watermark_absolute, 1073741824);
    assert_int_equal(c->consumer_max_per_channel, 8);
    config_destroy(c);
    c = parse_ok("{\"limits\": {\"vm_memory_high_watermark\": 0}}");
    assert_true(c->vm_memory_high_watermark == 0.0);
    config_destroy(c);
}

static void test_config_memory_watermark_out_of_range(void **state)
{
    (void)state;
    expect_error("{\"limits\": {\"vm_memory_high_watermark\": 1.5}}",
                 "config.json:1:41: limits.vm_memory_high_watermark: 1.5 is out of range (0..1)");
    expect_error("{\"limits\": {\"vm_memory_high_watermark_absolute\": \"1GB\"}}",
                 "config.json:1:50: limits.vm_memory_high_watermark_absolute: expected an "
                 "integer, got a string");
}

static void test_config_vhost_limits(void **state)
{
    struct config *c = parse_ok("{\"vhosts\": [{\"name\": \"/\", \"limits\": "
                                "{\"max-connections\": 10, \"max-queues\": -1}},"
                                " {\"name\": \"b\", \"limits\": {\"max-queues\": 0}},"
                                " {\"name\": \"c\"}]}");

    (void)state;
    assert_true(c->vhosts[0].max_connections == 10);
    assert_true(c->vhosts[0].max_queues == -1);
    assert_true(c->vhosts[1].max_connections == AUTH_LIMIT_UNSET);
    assert_true(c->vhosts[1].max_queues == 0);
    assert_true(c->vhosts[2].max_connections == AUTH_LIMIT_UNSET);
    assert_true(c->vhosts[2].max_queues == AUTH_LIMIT_UNSET);
    config_destroy(c);
    expect_error("{\"vhosts\": [{\"name\": \"/\", \"limits\": {\"max-channels\": 1}}]}",
                 "config.json:1:38: vhosts[0].limits: unknown key \"max-channels\"");
    expect_error("{\"vhosts\": [{\"name\": \"/\", \"limits\": {\"max-queues\": -2}}]}",
                 "config.json:1:52: vhosts[0].limits.max-queues: -2 is out of range "
                 "(-1..2147483647)");
}

static void test_config_durability_relaxed_sync(void **state)
{
    struct config *c = parse_ok("{\"durability\": {\"sync\": \"write\"}, "
                                "\"limits\": {\"disk_free_limit\": 0}}");

    (void)state;
    assert_int_equal(c->sync, CONFIG_SYNC_WRITE);
    assert_int_equal(c->disk_free_limit, 0);
    config_destroy(c);
}

static void test_config_defaults_give_guest_on_root_vhost(void **state)
{
    struct config *c = parse_ok("{}");

    (void)state;
    assert_int_equal(c->n_users, 1);
    assert_string_equal(c->users[0].name, "guest");
    assert_int_equal(c->users[0].hashing_algorithm, AUTH_HASH_SHA256);
    assert_true(auth_hash_verify(AUTH_HASH_SHA256, c->users[0].password_hash, VIEW_LIT("guest")));
    assert_int_equal(c->users[0].n_tags, 1);
    assert_string_equal(c->users[0].tags[0], "administrator");
    assert_int_equal(c->n_vhosts, 1);
    assert_string_equal(c->vhosts[0].name, "/");
    assert_int_equal(c->n_permissions, 1);
    assert_string_equal(c->permissions[0].user, "guest");
    assert_string_equal(c->permissions[0].vhost, "/");
    assert_string_equal(c->permissions[0].configure, ".*");
    assert_string_equal(c->permissions[0].write, ".*");
    assert_string_equal(c->permissions[0].read, ".*");
    config_destroy(c);
}

static void test_config_default_equals_empty_object(void **state)
{
    struct config *c = config_default();

    (void)state;
    assert_int_equal(c->amqp_port, 5672);
    assert_string_equal(c->data_dir, "./data");
    assert_int_equal(c->n_users, 1);
    assert_int_equal(c->n_permissions, 1);
    config_destroy(c);
}

static void test_config_shipped_file_loads(void **state)
{
    char err[512] = "";
    struct config *c = config_load("config.json", err, sizeof(err));

    (void)state;
    if (!c)
        fail_msg("config.json: %s", err);
    assert_string_equal(c->path, "config.json");
    assert_int_equal(c->amqp_port, 5672);
    assert_int_equal(c->mgmt_port, 15672);
    assert_int_equal(c->frame_max, 131072);
    assert_int_equal(c->n_users, 1);
    assert_string_equal(c->users[0].name, "guest");
    assert_true(auth_hash_verify(AUTH_HASH_SHA256, c->users[0].password_hash, VIEW_LIT("guest")));
    assert_string_equal(c->users[0].tags[0], "administrator");
    assert_string_equal(c->vhosts[0].name, "/");
    assert_string_equal(c->permissions[0].read, ".*");
    config_destroy(c);
}

static void test_config_ok_files_load(void **state)
{
    DIR *d = opendir(data_dir());
    struct dirent *e;
    int n = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[512], err[512] = "";
        struct config *c;

        if (strncmp(e->d_name, "ok-", 3) != 0 || !has_suffix(e->d_name, ".json"))
            continue;
        snprintf(path, sizeof(path), "%s/%s", data_dir(), e->d_name);
        c = config_load(path, err, sizeof(err));
        if (!c)
            fail_msg("%s", err);
        config_destroy(c);
        n++;
    }
    closedir(d);
    assert_true(n > 0);
}

static void test_config_rabbitmq_style_tags_and_hashes(void **state)
{
    char path[512], err[512] = "";
    struct config *c;
    const struct config_user *u;

    (void)state;
    snprintf(path, sizeof(path), "%s/ok-rabbitmq-definitions-style.json", data_dir());
    c = config_load(path, err, sizeof(err));
    if (!c)
        fail_msg("%s", err);
    u = find_user(c, "admin");
    assert_non_null(u);
    assert_int_equal(u->n_tags, 2);
    assert_string_equal(u->tags[0], "administrator");
    assert_string_equal(u->tags[1], "monitoring");
    u = find_user(c, "legacy");
    assert_non_null(u);
    assert_int_equal(u->hashing_algorithm, AUTH_HASH_MD5);
    assert_int_equal(u->n_tags, 0);
    assert_true(auth_hash_verify(u->hashing_algorithm, u->password_hash, VIEW_LIT("test12")));
    u = find_user(c, "nologin");
    assert_non_null(u);
    assert_string_equal(u->password_hash, "");
    assert_string_equal(c->permissions[1].write, "^amq\\.gen");
    config_destroy(c);
}

static void test_config_plain_password_is_hashed(void **state)
{
    struct config *c = parse_ok("{\"users\": [{\"name\": \"bob\", \"password\": \"s3cret\"}]}");

    (void)state;
    assert_int_equal(c->n_users, 1);
    assert_int_equal(strlen(c->users[0].password_hash), 48);
    assert_true(auth_hash_verify(AUTH_HASH_SHA256, c->users[0].password_hash, VIEW_LIT("s3cret")));
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, c->users[0].password_hash, VIEW_LIT("s3cre")));
    config_destroy(c);
}

static void test_config_plain_password_uses_given_algorithm(void **state)
{
    struct config *c = parse_ok("{\"users\": [{\"name\": \"bob\", \"password\": \"pw\","
                                " \"hashing_algorithm\": \"rabbit_password_hashing_sha512\"}]}");

    (void)state;
    assert_int_equal(c->users[0].hashing_algorithm, AUTH_HASH_SHA512);
    assert_true(auth_hash_verify(AUTH_HASH_SHA512, c->users[0].password_hash, VIEW_LIT("pw")));
    config_destroy(c);
}

static void test_config_duplicate_tags_dropped(void **state)
{
    struct config *c = parse_ok("{\"users\": [{\"name\": \"bob\", \"password\": \"pw\","
                                " \"tags\": [\"a\", \"b\", \"a\"]}]}");

    (void)state;
    assert_int_equal(c->users[0].n_tags, 2);
    assert_string_equal(c->users[0].tags[0], "a");
    assert_string_equal(c->users[0].tags[1], "b");
    config_destroy(c);
}

static void test_config_own_users_get_no_default_permissions(void **state)
{
    struct config *c = parse_ok("{\"users\": [{\"name\": \"bob\", \"password\": \"pw\"}]}");

    (void)state;
    assert_int_equal(c->n_users, 1);
    assert_int_equal(c->n_vhosts, 1);
    assert_int_equal(c->n_permissions, 0);
    config_destroy(c);
}

static void test_config_default_guest_without_root_vhost_has_no_permissions(void **state)
{
    struct config *c = parse_ok("{\"vhosts\": [{\"name\": \"prod\"}]}");

    (void)state;
    assert_int_equal(c->n_users, 1);
    assert_string_equal(c->users[0].name, "guest");
    assert_int_equal(c->n_permissions, 0);
    config_destroy(c);
}

static void test_config_empty_lists_stay_empty(void **state)
{
    struct config *c = parse_ok("{\"users\": [], \"vhosts\": [], \"permissions\": []}");

    (void)state;
    assert_int_equal(c->n_users, 0);
    assert_int_equal(c->n_vhosts, 0);
    assert_int_equal(c->n_permissions, 0);
    config_destroy(c);
}

static void test_config_range_bounds_accepted(void **state)
{
    struct config *c =
        parse_ok("{\"listeners\": {\"amqp_port\": 65535, \"mgmt_port\": 0},"
                 " \"log_level\": \"debug\","
                 " \"limits\": {\"frame_max\": 1048576, \"channel_max\": 1, \"heartbeat\": 0,"
                 " \"max_message_size\": 536870912, \"max_connections\": 10000000,"
                 " \"handshake_timeout\": 2.5}}");

    (void)state;
    assert_int_equal(c->amqp_port, 65535);
    assert_int_equal(c->mgmt_port, 0);
    assert_int_equal(c->log_level, CONFIG_LOG_DEBUG);
    assert_int_equal(c->frame_max, 1048576);
    assert_int_equal(c->channel_max, 1);
    assert_int_equal(c->heartbeat, 0);
    assert_int_equal(c->max_message_size, 536870912);
    assert_int_equal(c->max_connections, 10000000);
    assert_true(c->handshake_timeout == 2.5);
    config_destroy(c);
}

static void test_config_lower_bounds_accepted(void **state)
{
    struct config *c = parse_ok("{\"listeners\": {\"amqp_port\": 1},"
                                " \"limits\": {\"frame_max\": 4096, \"handshake_timeout\": 1}}");

    (void)state;
    assert_int_equal(c->amqp_port, 1);
    assert_int_equal(c->frame_max, 4096);
    assert_true(c->handshake_timeout == 1.0);
    config_destroy(c);
}

/* ---- errors ---- */

static void test_config_every_bad_case_matches_its_expect_file(void **state)
{
    DIR *d = opendir(data_dir());
    struct dirent *e;
    int n = 0, failed = 0;

    (void)state;
    assert_non_null(d);
    while ((e = readdir(d))) {
        char name[256];
        size_t len = strlen(e->d_name);

        if (!has_suffix(e->d_name, ".json") || strncmp(e->d_name, "ok-", 3) == 0)
            continue;
        assert_true(len - 5 < sizeof(name));
        memcpy(name, e->d_name, len - 5);
        name[len - 5] = '\0';
        failed += run_case(name) != 0;
        n++;
    }
    closedir(d);
    assert_true(n >= 30);
    assert_int_equal(failed, 0);
}

static void test_config_error_unknown_key_top(void **state)
{
    (void)state;
    check_case("unknown-key-top");
}

static void test_config_error_unknown_key_nested(void **state)
{
    (void)state;
    check_case("unknown-key-nested");
}

static void test_config_error_unknown_key_in_array_item(void **state)
{
    (void)state;
    check_case("unknown-key-in-user");
}

static void test_config_error_unknown_key_is_escaped(void **state)
{
    (void)state;
    check_case("unknown-key-escaped");
}

static void test_config_error_wrong_type(void **state)
{
    (void)state;
    check_case("wrong-type-string-for-port");
}

static void test_config_error_real_for_integer(void **state)
{
    (void)state;
    check_case("wrong-type-real-for-integer");
}

static void test_config_error_root_not_object(void **state)
{
    (void)state;
    check_case("wrong-type-root-array");
}

static void test_config_error_out_of_range(void **state)
{
    (void)state;
    check_case("out-of-range-frame-max");
}

static void test_config_error_out_of_range_fractional(void **state)
{
    (void)state;
    check_case("out-of-range-handshake-timeout");
}

static void test_config_error_bad_enum(void **state)
{
    (void)state;
    check_case("bad-log-level");
}

static void test_config_error_json_syntax(void **state)
{
    (void)state;
    check_case("syntax-missing-comma");
}

static void test_config_error_json_duplicate_key(void **state)
{
    (void)state;
    check_case("syntax-duplicate-key");
}

static void test_config_error_duplicate_user(void **state)
{
    (void)state;
    check_case("duplicate-user");
}

static void test_config_error_duplicate_vhost(void **state)
{
    (void)state;
    check_case("duplicate-vhost");
}

static void test_config_error_permission_unknown_vhost(void **state)
{
    (void)state;
    check_case("permission-unknown-vhost");
}

static void test_config_error_permission_unknown_user(void **state)
{
    (void)state;
    check_case("permission-unknown-user");
}

static void test_config_error_bad_regex(void **state)
{
    (void)state;
    check_case("permission-bad-regex");
}

static void test_config_error_password_and_hash(void **state)
{
    (void)state;
    check_case("password-and-hash");
}

static void test_config_error_missing_required_key(void **state)
{
    (void)state;
    check_case("user-name-missing");
}

static void test_config_error_bad_password_hash(void **state)
{
    (void)state;
    check_case("password-hash-not-base64");
}

static void test_config_error_position_after_tricky_strings(void **state)
{
    (void)state;
    check_case("tricky-strings-before-error");
}

static void test_config_error_on_second_line_of_array_item(void **state)
{
    (void)state;
    expect_error("{\"vhosts\": [\n  {\"name\": \"a\"},\n  {\"name\": 5}\n]}",
                 "config.json:3:12: vhosts[1].name: expected a string, got an integer");
}

static void test_config_error_unicode_columns_count_characters(void **state)
{
    (void)state;
    /* "é" is two bytes but one column, as jansson counts. */
    expect_error("{\"data_dir\": \"é\", \"log_level\": 1}",
                 "config.json:1:32: log_level: expected a string, got an integer");
}

static void test_config_error_jansson_position_counts_characters_too(void **state)
{
    (void)state;
    expect_error("{\"data_dir\": \"é\", \"log_level\" 1}",
                 "config.json:1:31: ':' expected near '1'");
}

static void test_config_error_message_is_truncated_safely(void **state)
{
    char err[16];
    struct config *c;

    (void)state;
    memset(err, 'x', sizeof(err));
    c = parse_str("{\"listner\": 1}", err, sizeof(err));
    assert_null(c);
    assert_string_equal(err, "config.json:1:2");
}

static void test_config_error_with_zero_errlen(void **state)
{
    (void)state;
    assert_null(config_parse("{\"a\": 1}", 8, "x", NULL, 0));
    assert_null(config_parse("{", 1, "x", NULL, 0));
}

static void test_config_parse_without_nul_terminator(void **state)
{
    static const char text[] = "{\"data_dir\": \"/d\"}";
    char *copy = malloc(sizeof(text) - 1);
    struct config *c;
    char err[256];

    (void)state;
    assert_non_null(copy);
    memcpy(copy, text, sizeof(text) - 1);
    c = config_parse(copy, sizeof(text) - 1, "mem", err, sizeof(err));
    assert_non_null(c);
    assert_string_equal(c->data_dir, "/d");
    config_destroy(c);
    free(copy);
}

static void test_config_parse_rejects_embedded_nul(void **state)
{
    char err[256] = "";

    (void)state;
    /* jansson alone would skip it between tokens. */
    assert_null(config_parse("{\"data_dir\": \"x\"\0}", 18, "mem", err, sizeof(err)));
    assert_string_equal(err, "mem:1:17: NUL byte in the file");
}

/* ---- TLS listeners (valid certificates are covered by test_tls and the black-box tests) ---- */

static void test_config_tls_absent_by_default(void **state)
{
    struct config *c = parse_ok("{}");
    (void)state;
    assert_false(c->tls.enabled);
    assert_false(c->mgmt_tls.enabled);
    assert_int_equal(c->tls.port, 5671);
    assert_int_equal(c->mgmt_tls.port, 15671);
    assert_null(c->tls.certfile);
    config_destroy(c);
}

static void test_config_tls_errors(void **state)
{
    (void)state;
    expect_error("{\"listeners\": {\"tls\": {\"keyfile\": \"k\"}}}",
                 "config.json:1:23: listeners.tls: missing required key \"certfile\"");
    expect_error("{\"listeners\": {\"mgmt_tls\": {\"certfile\": \"c\"}}}",
                 "config.json:1:28: listeners.mgmt_tls: missing required key \"keyfile\"");
    expect_error("{\"listeners\": {\"tls\": {\"verify\": \"peer\"}}}",
                 "config.json:1:34: listeners.tls.verify: \"peer\" is not one of verify_none, "
                 "verify_peer");
    expect_error("{\"listeners\": {\"tls\": {\"fail_if_no_peer_cert\": \"yes\"}}}",
                 "config.json:1:48: listeners.tls.fail_if_no_peer_cert: expected a boolean, got "
                 "a string");
    expect_error("{\"listeners\": {\"tls\": {\"port\": 65536}}}",
                 "config.json:1:32: listeners.tls.port: 65536 is out of range (0..65535)");
    expect_error("{\"listeners\": {\"tls\": {\"certfile\": \"c\", \"keyfile\": \"k\", "
                 "\"verify\": \"verify_peer\"}}}",
                 "config.json:1:67: listeners.tls.verify: verify_peer needs \"cacertfile\" (the CA "
                 "certificates client certificates are checked against)");
    expect_error("{\"listeners\": {\"tls\": {\"certfile\": \"c\", \"keyfile\": \"k\", "
                 "\"fail_if_no_peer_cert\": true}}}",
                 "config.json:1:81: listeners.tls.fail_if_no_peer_cert: needs \"verify\": "
                 "\"verify_peer\" (no client certificate is asked for otherwise)");
    expect_error("{\"listeners\": {\"tls\": {\"certfile\": \"/nonexistent/c.pem\", "
                 "\"keyfile\": \"k\"}}}",
                 "config.json:1:36: listeners.tls.certfile: \"/nonexistent/c.pem\": cannot open: "
                 "No such file or directory");
    expect_error("{\"listeners\": {\"tls\": {\"certfile\": \"/\", \"keyfile\": \"k\"}}}",
                 "config.json:1:36: listeners.tls.certfile: \"/\": not a regular file");
}

static void test_config_tls_file_without_a_certificate(void **state)
{
    char dir[] = "/tmp/leveret-cfg-XXXXXX", path[64], text[256], want[256], err[512] = "";
    FILE *f;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/c.pem", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("not a certificate\n", f);
    fclose(f);
    snprintf(text, sizeof(text),
             "{\"listeners\": {\"tls\": {\"certfile\": \"%s\", \"keyfile\": \"%s\"}}}", path, path);
    snprintf(want, sizeof(want),
             "config.json:1:36: listeners.tls.certfile: \"%s\": no PEM certificate in it "
             "(expected -----BEGIN CERTIFICATE-----)",
             path);
    assert_null(parse_str(text, err, sizeof(err)));
    assert_string_equal(err, want);
    unlink(path);
    rmdir(dir);
}

static void test_config_load_missing_file(void **state)
{
    char err[256] = "";

    (void)state;
    assert_null(config_load("tests/data/config/no-such-file.json", err, sizeof(err)));
    assert_string_equal(
        err, "tests/data/config/no-such-file.json: cannot open: No such file or directory");
}

static void test_config_load_directory_fails(void **state)
{
    char err[256] = "";

    (void)state;
    assert_null(config_load(data_dir(), err, sizeof(err)));
    assert_non_null(strstr(err, "cannot read: Is a directory"));
}

static void test_config_load_rejects_huge_file(void **state)
{
    char path[] = "/tmp/leveret-test-config-XXXXXX", err[256] = "", want[300];
    size_t size = (16u << 20) + 1;
    char *blob = malloc(size);
    int fd = mkstemp(path);
    FILE *f;

    (void)state;
    assert_non_null(blob);
    assert_true(fd >= 0);
    f = fdopen(fd, "wb");
    assert_non_null(f);
    memset(blob, ' ', size);
    blob[0] = '{';
    blob[size - 1] = '}';
    assert_int_equal(fwrite(blob, 1, size, f), size);
    fclose(f);
    assert_null(config_load(path, err, sizeof(err)));
    snprintf(want, sizeof(want), "%s: larger than 16 MiB", path);
    assert_string_equal(err, want);
    /* One byte less loads (it is only whitespace). */
    assert_int_equal(truncate(path, (off_t)size - 2), 0);
    f = fopen(path, "ab");
    assert_non_null(f);
    fputc('}', f);
    fclose(f);
    config_destroy(config_load(path, err, sizeof(err)));
    unlink(path);
    free(blob);
}

static void test_config_load_error_names_the_path(void **state)
{
    char path[512], want[600], err[600] = "";

    (void)state;
    snprintf(path, sizeof(path), "%s/bad-log-level.json", data_dir());
    assert_null(config_load(path, err, sizeof(err)));
    snprintf(want, sizeof(want),
             "%s:2:16: log_level: \"verbose\" is not one of debug, info, warning, error", path);
    assert_string_equal(err, want);
}

/* ---- small API pieces ---- */

static void test_config_set_data_dir_replaces_string(void **state)
{
    struct config *c = config_default();

    (void)state;
    config_set_data_dir(c, "/var/lib/leveret");
    assert_string_equal(c->data_dir, "/var/lib/leveret");
    config_destroy(c);
}

static void test_config_destroy_accepts_null(void **state)
{
    (void)state;
    config_destroy(NULL);
}

static void test_config_log_level_names(void **state)
{
    (void)state;
    assert_string_equal(config_log_level_name(CONFIG_LOG_DEBUG), "debug");
    assert_string_equal(config_log_level_name(CONFIG_LOG_INFO), "info");
    assert_string_equal(config_log_level_name(CONFIG_LOG_WARNING), "warning");
    assert_string_equal(config_log_level_name(CONFIG_LOG_ERROR), "error");
    assert_string_equal(config_log_level_name((enum config_log_level)42), "?");
}

/* ---- position finder ---- */

static int pos_of(const char *text, const struct config_path_step *path, size_t depth, bool at_key,
                  struct config_pos *pos)
{
    /* An exact-size copy: the finder must not read past len. */
    size_t n = strlen(text);
    char *copy = malloc(n ? n : 1);
    int rc;

    assert_non_null(copy);
    memcpy(copy, text, n);
    rc = config_json_pos(copy, n, path, depth, at_key, pos);
    free(copy);
    return rc;
}

#define K(k)                                                                                       \
    {                                                                                              \
        .key = (k)                                                                                 \
    }
#define I(i)                                                                                       \
    {                                                                                              \
        .key = NULL, .index = (i)                                                                  \
    }

static void assert_pos(const char *text, const struct config_path_step *path, size_t depth,
                       bool at_key, int line, int column)
{
    struct config_pos pos = {0, 0};

    assert_int_equal(pos_of(text, path, depth, at_key, &pos), 0);
    assert_int_equal(pos.line, line);
    assert_int_equal(pos.column, column);
}

static void test_json_pos_root(void **state)
{
    (void)state;
    assert_pos("\n\n  {}", NULL, 0, false, 3, 3);
}

static void test_json_pos_nested_value(void **state)
{
    static const struct config_path_step p[] = {K("limits"), K("heartbeat")};

    (void)state;
    assert_pos("{\"a\": 1,\n \"limits\": {\"frame_max\": 1, \"heartbeat\":\t 30}}", p, 2, false, 2,
               43);
}

static void test_json_pos_key(void **state)
{
    static const struct config_path_step p[] = {K("limits"), K("heartbeat")};

    (void)state;
    assert_pos("{\"limits\": {\"x\": [1, {\"heartbeat\": 2}], \"heartbeat\": 3}}", p, 2, true, 1,
               41);
}

static void test_json_pos_array_of_objects(void **state)
{
    static const struct config_path_step p[] = {K("users"), I(2), K("name")};

    (void)state;
    assert_pos("{\"users\": [\n"
               "  {\"name\": \"a\", \"tags\": [\"x\", {\"name\": 0}]},\n"
               "  {\"name\": \"b\"},\n"
               "  {\"tags\": [], \"name\": \"c\"}\n"
               "]}",
               p, 3, false, 4, 24);
}

static void test_json_pos_skips_strings_with_brackets_quotes_escapes(void **state)
{
    static const struct config_path_step p[] = {K("target")};

    (void)state;
    /* Each skipped value holds something that would fool a naive scanner. */
    assert_pos("{\"a\": \"}\", \"b\": \"]\\\"{[\", \"c\": [\"\\\\\", \"\\\"]\"],"
               " \"d\": {\"e\": \"{\\\"target\\\": 0}\"}, \"target\": true}",
               p, 1, false, 1, 87);
}

static void test_json_pos_key_with_escapes_matches_unescaped(void **state)
{
    static const struct config_path_step p[] = {K("ab\"c")};

    (void)state;
    assert_pos("{\"ab\\\"d\": 1, \"a\\u0062\\\"c\": 2}", p, 1, false, 1, 28);
}

static void test_json_pos_key_with_surrogate_pair(void **state)
{
    static const struct config_path_step p[] = {K("\xf0\x9f\x98\x80")}; /* U+1F600 */

    (void)state;
    assert_pos("{\"\\ud83d\\ude00\": 7}", p, 1, false, 1, 18);
}

static void test_json_pos_key_prefix_does_not_match(void **state)
{
    static const struct config_path_step p[] = {K("data")};
    struct config_pos pos;

    (void)state;
    assert_int_equal(pos_of("{\"data_dir\": 1, \"dat\": 2}", p, 1, false, &pos), -1);
    assert_pos("{\"data_dir\": 1, \"dat\": 2, \"data\": 3}", p, 1, false, 1, 35);
}

static void test_json_pos_counts_utf8_characters(void **state)
{
    static const struct config_path_step p[] = {K("b")};

    (void)state;
    assert_pos("{\"a\": \"h\xc3\xa9\xe2\x82\xac\", \"b\": 1}", p, 1, false, 1, 19);
}

static void test_json_pos_missing_path(void **state)
{
    static const struct config_path_step p[] = {K("users"), I(1)};
    static const struct config_path_step q[] = {K("users"), K("name")};
    struct config_pos pos;

    (void)state;
    assert_int_equal(pos_of("{\"users\": [{}]}", p, 2, false, &pos), -1);
    assert_int_equal(pos_of("{\"users\": []}", p, 2, false, &pos), -1);
    assert_int_equal(pos_of("{\"users\": [{}]}", q, 2, false, &pos), -1);
    assert_int_equal(pos_of("{}", q, 1, false, &pos), -1);
}

static void test_json_pos_malformed_text(void **state)
{
    static const struct config_path_step p[] = {K("a"), K("b")};
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "{\"a",
        "{\"a\"",
        "{\"a\":",
        "{\"a\": {",
        "{\"a\": {\"b\"",
        "{\"x\": \"\\",
        "{\"x\": \"\\u12",
        "{\"x\": [1, 2",
        "{\"x\" 1, \"a\": {\"b\": 1}}",
        "[\"a\"]",
        "{\"x\": 1 \"a\": 2}",
    };
    struct config_pos pos;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pos_of(bad[i], p, 2, false, &pos), -1);
}

static void test_json_pos_deep_nesting_does_not_recurse(void **state)
{
    static const struct config_path_step p[] = {K("b")};
    size_t depth = 200000, n = 0;
    char *text = malloc(2 * depth + 32);
    struct config_pos pos;

    (void)state;
    assert_non_null(text);
    n += (size_t)sprintf(text, "{\"a\": ");
    memset(text + n, '[', depth);
    n += depth;
    memset(text + n, ']', depth);
    n += depth;
    n += (size_t)sprintf(text + n, ", \"b\": 1}");
    assert_int_equal(config_json_pos(text, n, p, 1, false, &pos), 0);
    assert_int_equal(pos.column, (int)n - 1);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_from_empty_object),
        cmocka_unit_test(test_config_durability_relaxed_sync),
        cmocka_unit_test(test_config_loopback_users_and_log_file),
        cmocka_unit_test(test_config_error_loopback_users_must_be_a_list_of_names),
        cmocka_unit_test(test_config_memory_watermark_and_consumer_limit),
        cmocka_unit_test(test_config_memory_watermark_out_of_range),
        cmocka_unit_test(test_config_vhost_limits),
        cmocka_unit_test(test_config_defaults_give_guest_on_root_vhost),
        cmocka_unit_test(test_config_default_equals_empty_object),
        cmocka_unit_test(test_config_shipped_file_loads),
        cmocka_unit_test(test_config_ok_files_load),
        cmocka_unit_test(test_config_rabbitmq_style_tags_and_hashes),
        cmocka_unit_test(test_config_plain_password_is_hashed),
        cmocka_unit_test(test_config_plain_password_uses_given_algorithm),
        cmocka_unit_test(test_config_duplicate_tags_dropped),
        cmocka_unit_test(test_config_own_users_get_no_default_permissions),
        cmocka_unit_test(test_config_default_guest_without_root_vhost_has_no_permissions),
        cmocka_unit_test(test_config_empty_lists_stay_empty),
        cmocka_unit_test(test_config_range_bounds_accepted),
        cmocka_unit_test(test_config_lower_bounds_accepted),
        cmocka_unit_test(test_config_every_bad_case_matches_its_expect_file),
        cmocka_unit_test(test_config_error_unknown_key_top),
        cmocka_unit_test(test_config_error_unknown_key_nested),
        cmocka_unit_test(test_config_error_unknown_key_in_array_item),
        cmocka_unit_test(test_config_error_unknown_key_is_escaped),
        cmocka_unit_test(test_config_error_wrong_type),
        cmocka_unit_test(test_config_error_real_for_integer),
        cmocka_unit_test(test_config_error_root_not_object),
        cmocka_unit_test(test_config_error_out_of_range),
        cmocka_unit_test(test_config_error_out_of_range_fractional),
        cmocka_unit_test(test_config_error_bad_enum),
        cmocka_unit_test(test_config_error_json_syntax),
        cmocka_unit_test(test_config_error_json_duplicate_key),
        cmocka_unit_test(test_config_error_duplicate_user),
        cmocka_unit_test(test_config_error_duplicate_vhost),
        cmocka_unit_test(test_config_error_permission_unknown_vhost),
        cmocka_unit_test(test_config_error_permission_unknown_user),
        cmocka_unit_test(test_config_error_bad_regex),
        cmocka_unit_test(test_config_error_password_and_hash),
        cmocka_unit_test(test_config_error_missing_required_key),
        cmocka_unit_test(test_config_error_bad_password_hash),
        cmocka_unit_test(test_config_error_position_after_tricky_strings),
        cmocka_unit_test(test_config_error_on_second_line_of_array_item),
        cmocka_unit_test(test_config_error_unicode_columns_count_characters),
        cmocka_unit_test(test_config_error_jansson_position_counts_characters_too),
        cmocka_unit_test(test_config_error_message_is_truncated_safely),
        cmocka_unit_test(test_config_error_with_zero_errlen),
        cmocka_unit_test(test_config_parse_without_nul_terminator),
        cmocka_unit_test(test_config_parse_rejects_embedded_nul),
        cmocka_unit_test(test_config_tls_absent_by_default),
        cmocka_unit_test(test_config_tls_errors),
        cmocka_unit_test(test_config_tls_file_without_a_certificate),
        cmocka_unit_test(test_config_load_missing_file),
        cmocka_unit_test(test_config_load_directory_fails),
        cmocka_unit_test(test_config_load_rejects_huge_file),
        cmocka_unit_test(test_config_load_error_names_the_path),
        cmocka_unit_test(test_config_set_data_dir_replaces_string),
        cmocka_unit_test(test_config_destroy_accepts_null),
        cmocka_unit_test(test_config_log_level_names),
        cmocka_unit_test(test_json_pos_root),
        cmocka_unit_test(test_json_pos_nested_value),
        cmocka_unit_test(test_json_pos_key),
        cmocka_unit_test(test_json_pos_array_of_objects),
        cmocka_unit_test(test_json_pos_skips_strings_with_brackets_quotes_escapes),
        cmocka_unit_test(test_json_pos_key_with_escapes_matches_unescaped),
        cmocka_unit_test(test_json_pos_key_with_surrogate_pair),
        cmocka_unit_test(test_json_pos_key_prefix_does_not_match),
        cmocka_unit_test(test_json_pos_counts_utf8_characters),
        cmocka_unit_test(test_json_pos_missing_path),
        cmocka_unit_test(test_json_pos_malformed_text),
        cmocka_unit_test(test_json_pos_deep_nesting_does_not_recurse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
