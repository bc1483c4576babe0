/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for broker/auth.c: RabbitMQ password hashes, login, reference
 * counting across deletion, and permission pattern semantics.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "broker/auth.h"
#include "broker/config.h"

/*
 * RabbitMQ's documented example: salt 0x908DC60A, password "test12".
 *   python3 -c 'import hashlib,base64; s=bytes.fromhex("908DC60A");
 *     print(base64.b64encode(s+hashlib.sha256(s+b"test12").digest()).decode())'
 * and the same with sha512 and md5.
 */
#define TEST12_SHA256 "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2POR"
#define TEST12_SHA512                                                                              \
    "kI3GChuNuIYf8lRbCCxZjgjKwsY19ns6+uFO0zcXRBGA/XGJPYD8OWMy7EB8TaOmAzjP2azv84GbINYwX2cDWb4DHnc="
#define TEST12_MD5 "kI3GChNpte2FApYFXScl+0dIluk="

/* A registry with vhosts "/" and "dev", user "alice" (password test12, tag
 * management) with permissions on "/" only. */
static int setup(void **state)
{
    struct auth *a = auth_create();
    static const char *const tags[] = {"management"};
    char err[256];

    if (auth_add_vhost(a, "/", err, sizeof(err)) || auth_add_vhost(a, "dev", err, sizeof(err)) ||
        auth_add_user(a, "alice", AUTH_HASH_SHA256, TEST12_SHA256, tags, 1, err, sizeof(err)) ||
        auth_set_permissions(a, "alice", "/", "^alice\\.", "^amq\\.gen", ".*", err, sizeof(err)))
        return -1;
    *state = a;
    return 0;
}

static int teardown(void **state)
{
    auth_destroy(*state);
    return 0;
}

static bool check(struct auth *a, const char *user, const char *vhost, enum auth_op op,
                  const char *res)
{
    const struct auth_user *u = auth_user_find(a, view_str(user));

    assert_non_null(u);
    return auth_check(a, u, view_str(vhost), op, view_str(res));
}

/* ---- hashes ---- */

static void test_auth_hash_known_rabbitmq_sha256_verifies(void **state)
{
    (void)state;
    assert_true(auth_hash_verify(AUTH_HASH_SHA256, TEST12_SHA256, VIEW_LIT("test12")));
}

static void test_auth_hash_known_sha512_verifies(void **state)
{
    (void)state;
    assert_true(auth_hash_verify(AUTH_HASH_SHA512, TEST12_SHA512, VIEW_LIT("test12")));
}

static void test_auth_hash_known_md5_verifies(void **state)
{
    (void)state;
    assert_true(auth_hash_verify(AUTH_HASH_MD5, TEST12_MD5, VIEW_LIT("test12")));
}

static void test_auth_hash_wrong_password_fails(void **state)
{
    (void)state;
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, TEST12_SHA256, VIEW_LIT("test13")));
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, TEST12_SHA256, VIEW_LIT("test12 ")));
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, TEST12_SHA256, VIEW_LIT("")));
}

static void test_auth_hash_wrong_algorithm_fails(void **state)
{
    (void)state;
    assert_false(auth_hash_verify(AUTH_HASH_SHA512, TEST12_SHA256, VIEW_LIT("test12")));
    assert_false(auth_hash_verify(AUTH_HASH_MD5, TEST12_SHA256, VIEW_LIT("test12")));
}

static void test_auth_hash_new_hash_verifies(void **state)
{
    char *h = auth_hash_password("s3cret");

    (void)state;
    assert_non_null(h);
    assert_int_equal(strlen(h), 48); /* base64 of 4 + 32 bytes */
    assert_true(auth_hash_is_valid(AUTH_HASH_SHA256, h));
    assert_true(auth_hash_verify(AUTH_HASH_SHA256, h, VIEW_LIT("s3cret")));
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, h, VIEW_LIT("s3creT")));
    free(h);
}

static void test_auth_hash_new_hashes_use_fresh_salt(void **state)
{
    char *a = auth_hash_password("same"), *b = auth_hash_password("same");

    (void)state;
    assert_string_not_equal(a, b);
    free(a);
    free(b);
}

static void test_auth_hash_each_algorithm_round_trips(void **state)
{
    static const size_t len[AUTH_HASH_COUNT] = {48, 92, 28};

    (void)state;
    for (int alg = 0; alg < AUTH_HASH_COUNT; alg++) {
        char *h = auth_hash_password_alg((enum auth_hash_alg)alg, VIEW_LIT("pw"));

        assert_non_null(h);
        assert_int_equal(strlen(h), len[alg]);
        assert_true(auth_hash_verify((enum auth_hash_alg)alg, h, VIEW_LIT("pw")));
        free(h);
    }
}

static void test_auth_hash_password_may_hold_nul_bytes(void **state)
{
    struct view pw = VIEW_LIT("a\0b");
    char *h = auth_hash_password_alg(AUTH_HASH_SHA256, pw);

    (void)state;
    assert_true(auth_hash_verify(AUTH_HASH_SHA256, h, pw));
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, h, VIEW_LIT("a")));
    free(h);
}

static void test_auth_hash_validity_is_strict(void **state)
{
    (void)state;
    assert_true(auth_hash_is_valid(AUTH_HASH_SHA256, TEST12_SHA256));
    assert_true(auth_hash_is_valid(AUTH_HASH_SHA512, TEST12_SHA512));
    assert_true(auth_hash_is_valid(AUTH_HASH_MD5, TEST12_MD5));
    assert_true(auth_hash_is_valid(AUTH_HASH_SHA256, ""));                    /* no password */
    assert_false(auth_hash_is_valid(AUTH_HASH_SHA256, "kI3GCqW5"));           /* too short */
    assert_false(auth_hash_is_valid(AUTH_HASH_SHA256, TEST12_SHA256 "AAAA")); /* too long */
    assert_false(auth_hash_is_valid(AUTH_HASH_SHA256, " " TEST12_SHA256));    /* whitespace */
    assert_false(
        auth_hash_is_valid(AUTH_HASH_SHA256, "kI3GCqW5JLMJa4iX1lo7X4D6XbYqlLgxIs30+P6tENUV2PO!"));
    assert_false(auth_hash_is_valid(AUTH_HASH_MD5, "kI3GChNpte2FApYFXScl+0dIlul=")); /* bits */
    assert_false(
        auth_hash_is_valid(AUTH_HASH_MD5, "kI3GChNpte2FApYFXScl+0dIlu=k"));         /* '=' inside */
    assert_false(auth_hash_is_valid(AUTH_HASH_MD5, "kI3GChNpte2FApYFXScl+0dIluk")); /* no pad */
    assert_false(auth_hash_is_valid((enum auth_hash_alg)7, TEST12_SHA256));
}

static void test_auth_hash_empty_hash_never_verifies(void **state)
{
    (void)state;
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, "", VIEW_LIT("")));
    assert_false(auth_hash_verify(AUTH_HASH_SHA256, "", VIEW_LIT("x")));
}

static void test_auth_hash_alg_parse(void **state)
{
    enum auth_hash_alg alg = AUTH_HASH_SHA256;

    (void)state;
    assert_true(auth_hash_alg_parse("rabbit_password_hashing_md5", &alg));
    assert_int_equal(alg, AUTH_HASH_MD5);
    assert_true(auth_hash_alg_parse("rabbit_password_hashing_sha512", &alg));
    assert_int_equal(alg, AUTH_HASH_SHA512);
    assert_false(auth_hash_alg_parse("bcrypt", &alg));
    assert_int_equal(alg, AUTH_HASH_SHA512);
}

/* ---- login ---- */

static void test_auth_login_succeeds(void **state)
{
    struct auth_user *u = auth_login(*state, VIEW_LIT("alice"), VIEW_LIT("test12"));

    assert_non_null(u);
    assert_string_equal(auth_user_name(u), "alice");
    assert_true(auth_user_has_tag(u, "management"));
    assert_false(auth_user_has_tag(u, "administrator"));
    auth_user_unref(&u);
    assert_null(u);
}

static void test_auth_login_wrong_password_fails(void **state)
{
    assert_null(auth_login(*state, VIEW_LIT("alice"), VIEW_LIT("test1")));
    assert_null(auth_login(*state, VIEW_LIT("alice"), VIEW_LIT("")));
}

static void test_auth_login_unknown_user_fails(void **state)
{
    assert_null(auth_login(*state, VIEW_LIT("bob"), VIEW_LIT("test12")));
    assert_null(auth_login(*state, VIEW_LIT("alic"), VIEW_LIT("test12")));
    assert_null(auth_login(*state, VIEW_LIT(""), VIEW_LIT("")));
}

static void test_auth_login_user_without_password_fails(void **state)
{
    char err[256];

    assert_int_equal(auth_add_user(*state, "svc", AUTH_HASH_SHA256, "", NULL, 0, err, sizeof(err)),
                     0);
    assert_null(auth_login(*state, VIEW_LIT("svc"), VIEW_LIT("")));
}

static void test_auth_login_with_md5_user(void **state)
{
    char err[256];
    struct auth_user *u;

    assert_int_equal(
        auth_add_user(*state, "old", AUTH_HASH_MD5, TEST12_MD5, NULL, 0, err, sizeof(err)), 0);
    u = auth_login(*state, VIEW_LIT("old"), VIEW_LIT("test12"));
    assert_non_null(u);
    auth_user_unref(&u);
}

static void test_auth_user_survives_deletion_while_referenced(void **state)
{
    struct auth *a = *state;
    struct auth_user *u = auth_login(a, VIEW_LIT("alice"), VIEW_LIT("test12"));

    assert_non_null(u);
    assert_true(auth_check(a, u, VIEW_LIT("/"), AUTH_READ, VIEW_LIT("q")));
    assert_int_equal(auth_delete_user(a, VIEW_LIT("alice")), 0);
    assert_true(auth_user_is_deleted(u));
    assert_string_equal(auth_user_name(u), "alice");
    assert_false(auth_check(a, u, VIEW_LIT("/"), AUTH_READ, VIEW_LIT("q")));
    assert_false(auth_vhost_access(a, u, VIEW_LIT("/")));
    assert_null(auth_user_find(a, VIEW_LIT("alice")));
    assert_null(auth_login(a, VIEW_LIT("alice"), VIEW_LIT("test12")));
    auth_user_unref(&u);
}

static void test_auth_user_survives_registry_destroy(void **state)
{
    struct auth *a = auth_create();
    struct auth_user *u;
    char err[256];

    (void)state;
    assert_int_equal(
        auth_add_user(a, "bob", AUTH_HASH_SHA256, TEST12_SHA256, NULL, 0, err, sizeof(err)), 0);
    u = auth_login(a, VIEW_LIT("bob"), VIEW_LIT("test12"));
    assert_non_null(u);
    auth_destroy(a);
    assert_true(auth_user_is_deleted(u));
    assert_string_equal(auth_user_name(u), "bob");
    auth_user_unref(&u);
}

static void test_auth_user_ref_counts(void **state)
{
    struct auth_user *u = auth_login(*state, VIEW_LIT("alice"), VIEW_LIT("test12"));
    struct auth_user *v = auth_user_ref(u);

    assert_ptr_equal(u, v);
    auth_user_unref(&u);
    assert_string_equal(auth_user_name(v), "alice");
    auth_user_unref(&v);
    auth_user_unref(&v); /* NULL: no-op */
}

/* ---- users and vhosts ---- */

static void test_auth_add_user_rejects_duplicate(void **state)
{
    char err[256];

    assert_int_equal(
        auth_add_user(*state, "alice", AUTH_HASH_SHA256, "", NULL, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "user \"alice\" already exists");
}

static void test_auth_add_user_rejects_bad_hash(void **state)
{
    char err[256];

    assert_int_equal(
        auth_add_user(*state, "bob", AUTH_HASH_SHA512, TEST12_SHA256, NULL, 0, err, sizeof(err)),
        -1);
    assert_string_equal(
        err, "user \"bob\": password_hash is not a valid rabbit_password_hashing_sha512 hash");
    assert_null(auth_user_find(*state, VIEW_LIT("bob")));
}

static void test_auth_add_user_rejects_bad_names(void **state)
{
    char err[256], longname[300];

    memset(longname, 'x', 256);
    longname[256] = '\0';
    assert_int_equal(auth_add_user(*state, "", AUTH_HASH_SHA256, "", NULL, 0, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "user name must not be empty");
    assert_int_equal(
        auth_add_user(*state, longname, AUTH_HASH_SHA256, "", NULL, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "user name is 256 bytes long, the maximum is 255");
}

static void test_auth_user_tags_deduplicated(void **state)
{
    static const char *const tags[] = {"a", "b", "a"};
    const struct auth_user *u;
    char err[256];

    assert_int_equal(auth_add_user(*state, "t", AUTH_HASH_SHA256, "", tags, 3, err, sizeof(err)),
                     0);
    u = auth_user_find(*state, VIEW_LIT("t"));
    assert_int_equal(auth_user_tag_count(u), 2);
    assert_string_equal(auth_user_tag_at(u, 0), "a");
    assert_string_equal(auth_user_tag_at(u, 1), "b");
}

static void test_auth_user_export_fields(void **state)
{
    const struct auth_user *u = auth_user_find(*state, VIEW_LIT("alice"));

    assert_string_equal(auth_user_password_hash(u), TEST12_SHA256);
    assert_int_equal(auth_user_hash_alg(u), AUTH_HASH_SHA256);
    assert_string_equal(auth_user_permission(u, VIEW_LIT("/"), AUTH_CONFIGURE), "^alice\\.");
    assert_string_equal(auth_user_permission(u, VIEW_LIT("/"), AUTH_WRITE), "^amq\\.gen");
    assert_string_equal(auth_user_permission(u, VIEW_LIT("/"), AUTH_READ), ".*");
    assert_null(auth_user_permission(u, VIEW_LIT("dev"), AUTH_READ));
}

static void test_auth_listing_keeps_insertion_order(void **state)
{
    struct auth *a = *state;
    char err[256];

    assert_int_equal(auth_add_user(a, "b", AUTH_HASH_SHA256, "", NULL, 0, err, sizeof(err)), 0);
    assert_int_equal(auth_add_user(a, "c", AUTH_HASH_SHA256, "", NULL, 0, err, sizeof(err)), 0);
    assert_int_equal(auth_delete_user(a, VIEW_LIT("b")), 0);
    assert_int_equal(auth_user_count(a), 2);
    assert_string_equal(auth_user_name(auth_user_at(a, 0)), "alice");
    assert_string_equal(auth_user_name(auth_user_at(a, 1)), "c");
    assert_int_equal(auth_vhost_count(a), 2);
    assert_string_equal(auth_vhost_at(a, 0), "/");
    assert_string_equal(auth_vhost_at(a, 1), "dev");
    assert_int_equal(auth_delete_user(a, VIEW_LIT("b")), -1);
}

static void test_auth_add_vhost_rejects_duplicate(void **state)
{
    char err[256];

    assert_int_equal(auth_add_vhost(*state, "dev", err, sizeof(err)), -1);
    assert_string_equal(err, "vhost \"dev\" already exists");
    assert_int_equal(auth_add_vhost(*state, "", err, sizeof(err)), -1);
    assert_string_equal(err, "vhost name must not be empty");
}

static void test_auth_vhost_exists(void **state)
{
    assert_true(auth_vhost_exists(*state, VIEW_LIT("/")));
    assert_true(auth_vhost_exists(*state, VIEW_LIT("dev")));
    assert_false(auth_vhost_exists(*state, VIEW_LIT("de")));
    assert_false(auth_vhost_exists(*state, VIEW_LIT("")));
}

static void test_auth_vhost_access_needs_permission_entry(void **state)
{
    struct auth *a = *state;
    const struct auth_user *u = auth_user_find(a, VIEW_LIT("alice"));
    char err[256];

    assert_true(auth_vhost_access(a, u, VIEW_LIT("/")));
    assert_false(auth_vhost_access(a, u, VIEW_LIT("dev")));
    assert_false(auth_vhost_access(a, u, VIEW_LIT("nope")));
    /* Three empty patterns still grant access to the vhost, as in RabbitMQ. */
    assert_int_equal(auth_set_permissions(a, "alice", "dev", "", "", "", err, sizeof(err)), 0);
    assert_true(auth_vhost_access(a, u, VIEW_LIT("dev")));
    assert_false(check(a, "alice", "dev", AUTH_READ, "q"));
}

static void test_auth_delete_vhost_drops_permissions(void **state)
{
    struct auth *a = *state;
    const struct auth_user *u = auth_user_find(a, VIEW_LIT("alice"));
    char err[256];

    assert_int_equal(auth_delete_vhost(a, VIEW_LIT("/")), 0);
    assert_false(auth_vhost_exists(a, VIEW_LIT("/")));
    assert_null(auth_user_permission(u, VIEW_LIT("/"), AUTH_READ));
    assert_int_equal(auth_add_vhost(a, "/", err, sizeof(err)), 0);
    assert_false(auth_vhost_access(a, u, VIEW_LIT("/")));
    assert_int_equal(auth_delete_vhost(a, VIEW_LIT("/")), 0);
    assert_int_equal(auth_delete_vhost(a, VIEW_LIT("/")), -1);
}

/* ---- permissions ---- */

static void test_auth_check_match_all(void **state)
{
    assert_true(check(*state, "alice", "/", AUTH_READ, "anything"));
    assert_true(check(*state, "alice", "/", AUTH_READ, ""));
}

static void test_auth_check_anchored_prefix(void **state)
{
    assert_true(check(*state, "alice", "/", AUTH_WRITE, "amq.gen-JzTY20BRgKO"));
    assert_false(check(*state, "alice", "/", AUTH_WRITE, "xamq.gen-1"));
    assert_false(check(*state, "alice", "/", AUTH_WRITE, "amqXgen-1")); /* "\." is a dot */
    assert_true(check(*state, "alice", "/", AUTH_CONFIGURE, "alice.q1"));
    assert_false(check(*state, "alice", "/", AUTH_CONFIGURE, "bob.q1"));
}

static void test_auth_check_unanchored_search(void **state)
{
    struct auth *a = *state;
    char err[256];

    assert_int_equal(
        auth_set_permissions(a, "alice", "dev", "gen", "^(a|b)$", "x+y", err, sizeof(err)), 0);
    assert_true(check(a, "alice", "dev", AUTH_CONFIGURE, "amq.gen-1"));
    assert_true(check(a, "alice", "dev", AUTH_WRITE, "b"));
    assert_false(check(a, "alice", "dev", AUTH_WRITE, "ab"));
    assert_true(check(a, "alice", "dev", AUTH_READ, "--xxy--"));
}

static void test_auth_check_empty_pattern_matches_nothing(void **state)
{
    struct auth *a = *state;
    char err[256];

    assert_int_equal(auth_set_permissions(a, "alice", "dev", "", "", "", err, sizeof(err)), 0);
    assert_false(check(a, "alice", "dev", AUTH_CONFIGURE, ""));
    assert_false(check(a, "alice", "dev", AUTH_WRITE, "amq.default"));
    assert_false(check(a, "alice", "dev", AUTH_READ, "q"));
}

static void test_auth_check_resource_with_nul_only_matches_all(void **state)
{
    struct auth *a = *state;
    const struct auth_user *u = auth_user_find(a, VIEW_LIT("alice"));

    assert_false(auth_check(a, u, VIEW_LIT("/"), AUTH_CONFIGURE, VIEW_LIT("alice.q\0x")));
    assert_true(auth_check(a, u, VIEW_LIT("/"), AUTH_READ, VIEW_LIT("alice.q\0x")));
}

static void test_auth_check_long_resource(void **state)
{
    char name[1000];

    memset(name, 'z', sizeof(name) - 1);
    memcpy(name, "alice.", 6);
    name[sizeof(name) - 1] = '\0';
    assert_true(check(*state, "alice", "/", AUTH_CONFIGURE, name));
}

static void test_auth_check_unknown_vhost_denied(void **state)
{
    assert_false(check(*state, "alice", "prod", AUTH_READ, "q"));
    assert_false(check(*state, "alice", "dev", AUTH_READ, "q"));
}

static void test_auth_set_permissions_replaces_old(void **state)
{
    struct auth *a = *state;
    char err[256];

    assert_int_equal(auth_set_permissions(a, "alice", "/", "", "", "^only$", err, sizeof(err)), 0);
    assert_false(check(a, "alice", "/", AUTH_READ, "other"));
    assert_true(check(a, "alice", "/", AUTH_READ, "only"));
    assert_false(check(a, "alice", "/", AUTH_WRITE, "amq.gen-1"));
}

static void test_auth_set_permissions_bad_regex_keeps_old(void **state)
{
    struct auth *a = *state;
    char err[256];

    assert_int_equal(auth_set_permissions(a, "alice", "/", ".*", "a(", ".*", err, sizeof(err)), -1);
    assert_string_equal(err, "invalid write pattern \"a(\": Unmatched ( or \\(");
    assert_true(check(a, "alice", "/", AUTH_WRITE, "amq.gen-1"));
    assert_false(check(a, "alice", "/", AUTH_WRITE, "other"));
}

static void test_auth_set_permissions_needs_user_and_vhost(void **state)
{
    char err[256];

    assert_int_equal(auth_set_permissions(*state, "bob", "/", ".*", ".*", ".*", err, sizeof(err)),
                     -1);
    assert_string_equal(err, "no such user \"bob\"");
    assert_int_equal(
        auth_set_permissions(*state, "alice", "prod", ".*", ".*", ".*", err, sizeof(err)), -1);
    assert_string_equal(err, "no such vhost \"prod\"");
}

static void test_auth_clear_permissions(void **state)
{
    struct auth *a = *state;
    const struct auth_user *u = auth_user_find(a, VIEW_LIT("alice"));

    assert_int_equal(auth_clear_permissions(a, VIEW_LIT("alice"), VIEW_LIT("/")), 0);
    assert_false(auth_vhost_access(a, u, VIEW_LIT("/")));
    assert_int_equal(auth_clear_permissions(a, VIEW_LIT("alice"), VIEW_LIT("/")), -1);
}

static void test_auth_pattern_check(void **state)
{
    char err[128];

    (void)state;
    assert_int_equal(auth_pattern_check("", err, sizeof(err)), 0);
    assert_int_equal(auth_pattern_check("^amq\\.gen", err, sizeof(err)), 0);
    assert_int_equal(auth_pattern_check("a{2,1}", err, sizeof(err)), -1);
    assert_int_equal(auth_pattern_check("(", err, sizeof(err)), -1);
    assert_string_equal(err, "Unmatched ( or \\(");
}

static void test_auth_pattern_rejects_repetition_bomb(void **state)
{
    char pat[100], err[128];

    (void)state;
    /* glibc's regcomp() would need gigabytes for this (found by fuzz_config). */
    memset(pat, '+', sizeof(pat) - 1);
    pat[0] = 'g';
    pat[sizeof(pat) - 1] = '\0';
    assert_int_equal(auth_pattern_check(pat, err, sizeof(err)), -1);
    assert_string_equal(err, "too complex (over 1000 nodes once repetition is expanded)");
    assert_int_equal(auth_pattern_check("((a{100}){100}){100}", err, sizeof(err)), -1);
    assert_int_equal(auth_pattern_check("a{30000}", err, sizeof(err)), -1);
    assert_int_equal(auth_pattern_check("(a{100}){100}", err, sizeof(err)), -1);
    /* Quadratic in glibc even without nesting (found by fuzz_config). */
    assert_int_equal(auth_pattern_check("&*{0000000,0000007000}0i", err, sizeof(err)), -1);
}

static void test_auth_pattern_accepts_moderate_repetition(void **state)
{
    char err[128];

    (void)state;
    assert_int_equal(auth_pattern_check("(a{10}){10}", err, sizeof(err)), 0);
    assert_int_equal(auth_pattern_check(".{0,255}x", err, sizeof(err)), 0);
    assert_int_equal(auth_pattern_check("^(tmp|amq\\.gen)-[a-z0-9]{1,64}$", err, sizeof(err)), 0);
    assert_int_equal(auth_pattern_check("[]{}+*]+x{2,}", err, sizeof(err)), 0);
    assert_int_equal(auth_pattern_check("[[:alpha:]]+", err, sizeof(err)), 0);
}

static void test_auth_pattern_rejects_back_references(void **state)
{
    char err[128];

    (void)state;
    assert_int_equal(auth_pattern_check("(a)\\1", err, sizeof(err)), -1);
    assert_string_equal(err, "back-references are not supported");
}

/* ---- config ---- */

static void test_auth_load_default_config(void **state)
{
    struct auth *a = auth_create();
    struct config *c = config_default();
    struct auth_user *u;
    char err[256];

    (void)state;
    assert_int_equal(auth_load_config(a, c, err, sizeof(err)), 0);
    u = auth_login(a, VIEW_LIT("guest"), VIEW_LIT("guest"));
    assert_non_null(u);
    assert_true(auth_user_has_tag(u, "administrator"));
    assert_true(auth_vhost_access(a, u, VIEW_LIT("/")));
    assert_true(auth_check(a, u, VIEW_LIT("/"), AUTH_CONFIGURE, VIEW_LIT("any")));
    auth_user_unref(&u);
    config_destroy(c);
    auth_destroy(a);
}

static void test_auth_load_config_twice_clashes(void **state)
{
    struct auth *a = auth_create();
    struct config *c = config_default();
    char err[256];

    (void)state;
    assert_int_equal(auth_load_config(a, c, err, sizeof(err)), 0);
    assert_int_equal(auth_load_config(a, c, err, sizeof(err)), -1);
    assert_string_equal(err, "vhost \"/\" already exists");
    config_destroy(c);
    auth_destroy(a);
}

static void test_auth_destroy_accepts_null(void **state)
{
    (void)state;
    auth_destroy(NULL);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- change hook ---- */

static int changes;

static void count_change(void *arg)
{
    (void)arg;
    changes++;
}

static void test_auth_change_hook_hears_every_successful_change(void **state)
{
    struct auth *a = auth_create();
    char err[256];
    char *h = auth_hash_password("pw");
    const char *tags[] = {"administrator"};

    (void)state;
    changes = 0;
    auth_set_change_hook(a, count_change, NULL);
    assert_int_equal(auth_add_vhost(a, "v", err, sizeof(err)), 0);
    assert_int_equal(auth_add_vhost(a, "v", err, sizeof(err)), -1); /* no change */
    assert_int_equal(auth_add_user(a, "u", AUTH_HASH_SHA256, h, tags, 1, err, sizeof(err)), 0);
    assert_int_equal(auth_set_permissions(a, "u", "v", ".*", ".*", ".*", err, sizeof(err)), 0);
    assert_int_equal(auth_set_permissions(a, "u", "nope", ".*", ".*", ".*", err, sizeof(err)), -1);
    assert_int_equal(auth_clear_permissions(a, VIEW_LIT("u"), VIEW_LIT("v")), 0);
    assert_int_equal(auth_delete_user(a, VIEW_LIT("u")), 0);
    assert_int_equal(auth_delete_vhost(a, VIEW_LIT("v")), 0);
    assert_int_equal(changes, 6);
    auth_set_change_hook(a, NULL, NULL);
    assert_int_equal(auth_add_vhost(a, "w", err, sizeof(err)), 0);
    assert_int_equal(changes, 6);
    free(h);
    auth_destroy(a);
}

/* ---- loopback_users ---- */

static struct sockaddr_storage v4(const char *a)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    in->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, a, &in->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    in6->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, a, &in6->sin6_addr), 1);
    return ss;
}

static bool loopback(struct sockaddr_storage ss)
{
    return auth_addr_is_loopback((const struct sockaddr *)&ss);
}

static void test_auth_loopback_addresses_as_rabbit_net(void **state)
{
    (void)state;
    assert_true(loopback(v4("127.0.0.1")));
    assert_true(loopback(v4("127.255.3.4")));
    assert_true(loopback(v6("::1")));
    assert_true(loopback(v6("::ffff:127.0.0.1")));
    assert_false(loopback(v4("192.0.2.2")));
    assert_false(loopback(v4("10.0.0.1")));
    assert_false(loopback(v4("0.0.0.0")));
    assert_false(loopback(v4("128.0.0.1")));
    assert_false(loopback(v6("::")));
    assert_false(loopback(v6("::2")));
    assert_false(loopback(v6("::ffff:192.0.2.2")));
    assert_false(loopback(v6("fe80::1")));
}

static void test_auth_loopback_users_only_from_loopback(void **state)
{
    struct auth *a = auth_create();
    const char *only_guest[] = {"guest"};
    struct sockaddr_storage lo = v4("127.0.0.1"), out = v4("192.0.2.2");

    (void)state;
    /* No list: everyone from anywhere. */
    assert_true(auth_loopback_allowed(a, "guest", (struct sockaddr *)&out));
    auth_set_loopback_users(a, only_guest, 1);
    assert_true(auth_loopback_allowed(a, "guest", (struct sockaddr *)&lo));
    assert_false(auth_loopback_allowed(a, "guest", (struct sockaddr *)&out));
    assert_false(auth_loopback_allowed(a, "guest", NULL)); /* unknown address: refused */
    assert_true(auth_loopback_allowed(a, "app", (struct sockaddr *)&out));
    assert_true(auth_loopback_allowed(a, "app", NULL));
    assert_false(auth_loopback_allowed(a, "Guest", (struct sockaddr *)&lo) &&
                 !auth_loopback_allowed(a, "Guest", (struct sockaddr *)&out)); /* exact names */
    auth_set_loopback_users(a, NULL, 0); /* loopback_users: [] */
    assert_true(auth_loopback_allowed(a, "guest", (struct sockaddr *)&out));
    auth_set_loopback_users(a, only_guest, 1); /* freed by destroy */
    auth_destroy(a);
}

/* ---- vhost limits ---- */

static void test_auth_vhost_limits_set_query_and_clear(void **state)
{
    struct auth *a = *state;
    enum auth_vhost_limit which;
    int64_t limit = 0;

    assert_int_equal(auth_limit_parse(VIEW_LIT("max-queues"), &which), 0);
    assert_int_equal(which, AUTH_LIMIT_MAX_QUEUES);
    assert_int_equal(auth_limit_parse(VIEW_LIT("max-connections"), &which), 0);
    assert_int_equal(which, AUTH_LIMIT_MAX_CONNECTIONS);
    assert_int_equal(auth_limit_parse(VIEW_LIT("max-channels"), &which), -1);

    assert_true(auth_vhost_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES) == AUTH_LIMIT_UNSET);
    assert_false(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 1000, &limit));
    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 2), 0);
    assert_true(auth_vhost_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES) == 2);
    assert_false(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 1, &limit));
    assert_true(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 2, &limit));
    assert_true(limit == 2);
    /* Each vhost and each limit on its own. */
    assert_false(auth_vhost_over_limit(a, VIEW_LIT("dev"), AUTH_LIMIT_MAX_QUEUES, 5, &limit));
    assert_false(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS, 5, &limit));
    /* 0 allows nothing; a negative value means no limit (RabbitMQ). */
    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS, 0), 0);
    assert_true(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS, 0, &limit));
    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS, -1), 0);
    assert_false(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS, 9, &limit));
    assert_true(auth_vhost_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS) == -1);
    assert_int_equal(
        auth_vhost_set_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, AUTH_LIMIT_UNSET), 0);
    assert_false(auth_vhost_over_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 1000, &limit));
    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("nope"), AUTH_LIMIT_MAX_QUEUES, 1), -1);
}

static void test_auth_vhost_limits_go_with_the_vhost(void **state)
{
    struct auth *a = *state;
    char err[256];

    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("dev"), AUTH_LIMIT_MAX_QUEUES, 3), 0);
    assert_int_equal(auth_delete_vhost(a, VIEW_LIT("dev")), 0);
    assert_int_equal(auth_add_vhost(a, "dev", err, sizeof(err)), 0);
    assert_true(auth_vhost_limit(a, VIEW_LIT("dev"), AUTH_LIMIT_MAX_QUEUES) == AUTH_LIMIT_UNSET);
}

static void test_auth_vhost_limit_changes_are_heard(void **state)
{
    struct auth *a = *state;

    changes = 0;
    auth_set_change_hook(a, count_change, NULL);
    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 3), 0);
    assert_int_equal(auth_vhost_set_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES, 3), 0);
    assert_int_equal(changes, 1); /* the same value again changes nothing */
    auth_set_change_hook(a, NULL, NULL);
}

static void test_auth_load_config_applies_vhost_limits(void **state)
{
    char err[256];
    const char *text = "{\"vhosts\": [{\"name\": \"/\", \"limits\": {\"max-queues\": 4}}]}";
    struct config *c = config_parse(text, strlen(text), "t", err, sizeof(err));
    struct auth *a = auth_create();

    (void)state;
    assert_non_null(c);
    assert_int_equal(auth_load_config(a, c, err, sizeof(err)), 0);
    assert_true(auth_vhost_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_QUEUES) == 4);
    assert_true(auth_vhost_limit(a, VIEW_LIT("/"), AUTH_LIMIT_MAX_CONNECTIONS) == AUTH_LIMIT_UNSET);
    auth_destroy(a);
    config_destroy(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_auth_hash_known_rabbitmq_sha256_verifies),
        cmocka_unit_test(test_auth_hash_known_sha512_verifies),
        cmocka_unit_test(test_auth_hash_known_md5_verifies),
        cmocka_unit_test(test_auth_hash_wrong_password_fails),
        cmocka_unit_test(test_auth_hash_wrong_algorithm_fails),
        cmocka_unit_test(test_auth_hash_new_hash_verifies),
        cmocka_unit_test(test_auth_hash_new_hashes_use_fresh_salt),
        cmocka_unit_test(test_auth_hash_each_algorithm_round_trips),
        cmocka_unit_test(test_auth_hash_password_may_hold_nul_bytes),
        cmocka_unit_test(test_auth_hash_validity_is_strict),
        cmocka_unit_test(test_auth_hash_empty_hash_never_verifies),
        cmocka_unit_test(test_auth_hash_alg_parse),
        T(test_auth_login_succeeds),
        T(test_auth_login_wrong_password_fails),
        T(test_auth_login_unknown_user_fails),
        T(test_auth_login_user_without_password_fails),
        T(test_auth_login_with_md5_user),
        T(test_auth_user_survives_deletion_while_referenced),
        cmocka_unit_test(test_auth_user_survives_registry_destroy),
        T(test_auth_user_ref_counts),
        T(test_auth_add_user_rejects_duplicate),
        T(test_auth_add_user_rejects_bad_hash),
        T(test_auth_add_user_rejects_bad_names),
        T(test_auth_user_tags_deduplicated),
        T(test_auth_user_export_fields),
        T(test_auth_listing_keeps_insertion_order),
        T(test_auth_add_vhost_rejects_duplicate),
        T(test_auth_vhost_exists),
        T(test_auth_vhost_access_needs_permission_entry),
        T(test_auth_delete_vhost_drops_permissions),
        T(test_auth_check_match_all),
        T(test_auth_check_anchored_prefix),
        T(test_auth_check_unanchored_search),
        T(test_auth_check_empty_pattern_matches_nothing),
        T(test_auth_check_resource_with_nul_only_matches_all),
        T(test_auth_check_long_resource),
        T(test_auth_check_unknown_vhost_denied),
        T(test_auth_set_permissions_replaces_old),
        T(test_auth_set_permissions_bad_regex_keeps_old),
        T(test_auth_set_permissions_needs_user_and_vhost),
        T(test_auth_clear_permissions),
        cmocka_unit_test(test_auth_pattern_check),
        cmocka_unit_test(test_auth_pattern_rejects_repetition_bomb),
        cmocka_unit_test(test_auth_pattern_accepts_moderate_repetition),
        cmocka_unit_test(test_auth_pattern_rejects_back_references),
        cmocka_unit_test(test_auth_load_default_config),
        cmocka_unit_test(test_auth_load_config_twice_clashes),
        cmocka_unit_test(test_auth_destroy_accepts_null),
        cmocka_unit_test(test_auth_change_hook_hears_every_successful_change),
        cmocka_unit_test(test_auth_loopback_addresses_as_rabbit_net),
        cmocka_unit_test(test_auth_loopback_users_only_from_loopback),
        T(test_auth_vhost_limits_set_query_and_clear),
        T(test_auth_vhost_limits_go_with_the_vhost),
        T(test_auth_vhost_limit_changes_are_heard),
        cmocka_unit_test(test_auth_load_config_applies_vhost_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
