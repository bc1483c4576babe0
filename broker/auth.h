/* SPDX-License-Identifier: MIT */
/*
 * auth: users, virtual hosts and permissions, with RabbitMQ-compatible
 * password hashes.
 *
 * A password hash is RabbitMQ's format: base64(salt ‖ H(salt ‖ password)) with
 * a 4-byte random salt and H one of SHA-256 (rabbit_password_hashing_sha256,
 * the default), SHA-512 or MD5 (accepted for imported definitions). Hashes are
 * compared in constant time, and a login for an unknown user does the same
 * hashing work as one for a known user.
 *
 * Permissions follow RabbitMQ: per (user, vhost) three patterns (configure,
 * write, read). A pattern is a POSIX extended regular expression compiled
 * once and searched unanchored in the resource name (like Erlang's re:run);
 * the empty pattern matches nothing. Unlike Erlang's PCRE, POSIX ERE has no
 * \d, \w, lazy quantifiers or look-around, and "." also matches a newline.
 *
 * Ownership: struct auth owns its vhosts and holds one reference to each
 * user. A struct auth_user is reference counted so that the management API
 * can delete a user while connections still hold it: auth_login() returns a
 * new reference, auth_user_unref() drops one, and the object stays valid
 * (but denies everything: auth_user_is_deleted() turns true) until the last
 * reference goes, even after auth_destroy(). Permission and tag changes are
 * made in place, so they apply to connections already logged in.
 *
 * Nothing here logs or touches the event loop; errors come back as strings.
 * Single-threaded, like the rest of the broker: no locking.
 */
#ifndef BROKER_AUTH_H
#define BROKER_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "broker/util.h"

struct auth;
struct auth_user;
struct config;

/** Password hashing algorithms, in the order of auth_hash_alg_names[]. */
enum auth_hash_alg {
    AUTH_HASH_SHA256, /* rabbit_password_hashing_sha256 (default) */
    AUTH_HASH_SHA512, /* rabbit_password_hashing_sha512 */
    AUTH_HASH_MD5,    /* rabbit_password_hashing_md5 (legacy imports only) */
};
#define AUTH_HASH_COUNT 3

/** RabbitMQ's names of the algorithms ("rabbit_password_hashing_sha256"...). */
extern const char *const auth_hash_alg_names[AUTH_HASH_COUNT];

/** The three permission kinds of RabbitMQ's access control. */
enum auth_op {
    AUTH_CONFIGURE, /* declare/delete queues and exchanges */
    AUTH_WRITE,     /* publish to an exchange, bind to a queue */
    AUTH_READ,      /* consume/get from a queue, bind from an exchange */
};

/** RabbitMQ's vhost limits (rabbitmqctl set_vhost_limits, /api/vhost-limits). */
enum auth_vhost_limit {
    AUTH_LIMIT_MAX_CONNECTIONS, /* "max-connections": open connections to the vhost */
    AUTH_LIMIT_MAX_QUEUES,      /* "max-queues": queues in the vhost */
};
#define AUTH_LIMIT_COUNT 2
/** A limit that is not set (any negative value set means "no limit" too). */
#define AUTH_LIMIT_UNSET INT64_MIN

/** RabbitMQ's names of the limits: "max-connections", "max-queues". */
extern const char *const auth_limit_names[AUTH_LIMIT_COUNT];

/* ---- password hashes ---- */

/**
 * Makes a new rabbit_password_hashing_sha256 hash of a NUL-terminated
 * password with a fresh random salt (RAND_bytes). The result is a
 * NUL-terminated base64 string owned by the caller (free()). Returns NULL only
 * if the random generator fails.
 */
char *auth_hash_password(const char *password);

/**
 * Same as auth_hash_password() with a chosen algorithm and a password given as
 * a view (it may contain any bytes). The result is owned by the caller; NULL
 * when the random generator or the digest fails.
 */
char *auth_hash_password_alg(enum auth_hash_alg alg, struct view password);

/**
 * True when hash is well-formed for alg: strict base64 (no whitespace, correct
 * padding) of 4 salt bytes plus one digest. The empty string is also valid: it
 * means "no password", and such a user can never log in with one (as in
 * RabbitMQ definitions). hash is borrowed.
 */
bool auth_hash_is_valid(enum auth_hash_alg alg, const char *hash);

/**
 * Checks a password against a hash in constant time (for a given hash
 * length). False on mismatch, on a malformed hash and for the empty hash.
 * Both arguments are borrowed.
 */
bool auth_hash_verify(enum auth_hash_alg alg, const char *hash, struct view password);

/**
 * Looks up an algorithm by its RabbitMQ name. Returns false (and leaves *alg
 * alone) for an unknown name.
 */
bool auth_hash_alg_parse(const char *name, enum auth_hash_alg *alg);

/**
 * Checks that a permission pattern compiles as a POSIX extended regex (the
 * empty pattern is valid and matches nothing). Returns 0, or -1 with the
 * regerror() text in err (truncated to errlen).
 */
int auth_pattern_check(const char *pattern, char *err, size_t errlen);

/* ---- the registry ---- */

/** Creates an empty registry (no users, no vhosts). Never NULL. */
struct auth *auth_create(void);

/**
 * Drops the registry's vhosts and its references to users. Users still
 * referenced elsewhere stay valid (and deleted). Accepts NULL.
 */
void auth_destroy(struct auth *a);

/** Called after every successful change of users, vhosts or permissions. */
typedef void auth_change_fn(void *arg);
/**
 * Registers fn (NULL: none) to be told of every change made through this
 * registry's functions (for saving definitions). arg is borrowed. fn runs
 * synchronously from inside the changing call and must not change the registry.
 */
void auth_set_change_hook(struct auth *a, auth_change_fn *fn, void *arg);

/**
 * Adds the vhosts, users and permissions of a loaded config (borrowed; the
 * registry copies what it keeps). Returns 0, or -1 with a message in err when
 * an entry clashes with what the registry already holds; entries added before
 * the failing one stay. A config from config_load()/config_parse() always
 * loads into an empty registry.
 */
int auth_load_config(struct auth *a, const struct config *c, char *err, size_t errlen);

/**
 * Adds a vhost (name copied; 1..255 bytes). Returns -1 with a message in err
 * if the name is empty, too long or already present.
 */
int auth_add_vhost(struct auth *a, const char *name, char *err, size_t errlen);

/**
 * Deletes a vhost and every user's permissions on it. Returns -1 if there is
 * no such vhost. Closing connections to it is the caller's job.
 */
int auth_delete_vhost(struct auth *a, struct view name);

/**
 * Adds a user. name (1..255 bytes), password_hash (see auth_hash_is_valid())
 * and the n_tags tags (each 1..255 bytes; duplicates are dropped) are copied.
 * Returns -1 with a message in err on a bad argument or an existing name.
 */
int auth_add_user(struct auth *a, const char *name, enum auth_hash_alg alg,
                  const char *password_hash, const char *const *tags, size_t n_tags, char *err,
                  size_t errlen);

/**
 * Removes a user from the registry, drops its permissions and marks it
 * deleted; references held elsewhere stay valid but every check on them
 * fails. Returns -1 if there is no such user.
 */
int auth_delete_user(struct auth *a, struct view name);

/**
 * Sets (or replaces) the permissions of user on vhost. The three patterns are
 * copied and compiled once (see auth_pattern_check()). Returns -1 with a
 * message in err if the user or vhost does not exist or a pattern does not
 * compile; the old permissions then stay.
 */
int auth_set_permissions(struct auth *a, const char *user, const char *vhost, const char *configure,
                         const char *write, const char *read, char *err, size_t errlen);

/** Removes user's permissions on vhost. Returns -1 if it had none. */
int auth_clear_permissions(struct auth *a, struct view user, struct view vhost);

/* ---- login and checks ---- */

/**
 * Checks a user name and password (views, borrowed, any bytes). Returns a new
 * reference to the user, owned by the caller (release with
 * auth_user_unref()), or NULL for an unknown user, a wrong password or a user
 * without a password. Unknown users cost the same hashing work, and digests
 * are compared in constant time, so timing does not tell which failed.
 */
struct auth_user *auth_login(struct auth *a, struct view user, struct view password);

/** Takes another reference to u and returns it. */
struct auth_user *auth_user_ref(struct auth_user *u);

/** Drops the reference *u (which may be NULL), frees at zero, sets *u = NULL. */
void auth_user_unref(struct auth_user **u);

/**
 * Borrowed pointer to a user in the registry, or NULL. Valid until the user
 * is deleted or the registry destroyed; take a reference to keep it longer.
 */
const struct auth_user *auth_user_find(const struct auth *a, struct view name);

/** Number of users, and the i-th (borrowed, i < count) in insertion order. */
size_t auth_user_count(const struct auth *a);
const struct auth_user *auth_user_at(const struct auth *a, size_t i);

/** The user's name, NUL-terminated, owned by the user object. */
const char *auth_user_name(const struct auth_user *u);

/** The stored hash (base64, "" for none) and its algorithm, for export. */
const char *auth_user_password_hash(const struct auth_user *u);
enum auth_hash_alg auth_user_hash_alg(const struct auth_user *u);

/** The user's tags: count, and the i-th (owned by the user object). */
size_t auth_user_tag_count(const struct auth_user *u);
const char *auth_user_tag_at(const struct auth_user *u, size_t i);

/** True if the user carries tag (exact, case-sensitive match). */
bool auth_user_has_tag(const struct auth_user *u, const char *tag);

/** True once auth_delete_user() (or auth_destroy()) removed the user. */
bool auth_user_is_deleted(const struct auth_user *u);

/**
 * The pattern source of a permission of u on vhost (owned by the user
 * object, valid until the permissions change), or NULL if u has none there.
 */
const char *auth_user_permission(const struct auth_user *u, struct view vhost, enum auth_op op);

/** True if the vhost exists. */
bool auth_vhost_exists(const struct auth *a, struct view vhost);

/** Number of vhosts, and the i-th name (owned by the registry, i < count). */
size_t auth_vhost_count(const struct auth *a);
const char *auth_vhost_at(const struct auth *a, size_t i);

/* ---- vhost limits (kept with the vhost; deleted with it; saved in definitions) ---- */

/** The limit named name (borrowed): 0 and *out, or -1 for an unknown name. */
int auth_limit_parse(struct view name, enum auth_vhost_limit *out);
/**
 * Sets a limit of vhost to value: any integer, as RabbitMQ (negative means no
 * limit, 0 allows nothing); AUTH_LIMIT_UNSET clears it. Existing connections
 * and queues are not touched. Returns -1 when the vhost does not exist.
 */
int auth_vhost_set_limit(struct auth *a, struct view vhost, enum auth_vhost_limit which,
                         int64_t value);
/** The limit's value as set, or AUTH_LIMIT_UNSET (also for a missing vhost). */
int64_t auth_vhost_limit(const struct auth *a, struct view vhost, enum auth_vhost_limit which);
/**
 * Whether one more connection / queue would exceed the limit, given count
 * existing ones: true (with the limit in *limit) when the limit is set,
 * non-negative and count >= limit.
 */
bool auth_vhost_over_limit(const struct auth *a, struct view vhost, enum auth_vhost_limit which,
                           size_t count, int64_t *limit);

/**
 * True if the vhost exists, u is not deleted and u has a permission entry on
 * the vhost (even one with three empty patterns, as in RabbitMQ).
 */
bool auth_vhost_access(const struct auth *a, const struct auth_user *u, struct view vhost);

/**
 * True if u may perform op on the resource (a queue or exchange name) in
 * vhost: the vhost exists, u is not deleted, has permissions there, and the
 * op's pattern matches somewhere in the name. As in RabbitMQ, callers pass
 * "amq.default" for the default exchange "". A resource containing a NUL byte
 * only matches the ".*" pattern. Costs a regexec() unless the pattern is ".*"
 * or empty; callers on a hot path (basic.publish) may cache the answer per
 * channel and exchange.
 */
bool auth_check(const struct auth *a, const struct auth_user *u, struct view vhost, enum auth_op op,
                struct view resource);

/* ---- loopback-only users ---- */

struct sockaddr;

/**
 * Sets the users who may only log in over a loopback interface (RabbitMQ's
 * loopback_users; the config's list, ["guest"] by default). The n names are
 * copied and replace the previous list; n 0 lifts the restriction.
 */
void auth_set_loopback_users(struct auth *a, const char *const *names, size_t n);

/** True if addr (borrowed; any family) is 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool auth_addr_is_loopback(const struct sockaddr *addr);

/**
 * Whether user (a name) may log in through a connection with address addr,
 * as rabbit_access_control:check_user_loopback: true unless the user is a
 * loopback user and addr is not a loopback address. RabbitMQ checks the
 * broker's own end of an AMQP socket and the client's end of an HTTP one;
 * callers pass the address to judge.
 */
bool auth_loopback_allowed(const struct auth *a, const char *user, const struct sockaddr *addr);

#endif
