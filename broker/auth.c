/* SPDX-License-Identifier: MIT */
#include "broker/auth.h"

#include <assert.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "broker/config.h"

#define SALT_LEN 4
#define DIGEST_MAX 64 /* SHA-512 */
#define NAME_MAX_LEN 255

const char *const auth_hash_alg_names[AUTH_HASH_COUNT] = {
    [AUTH_HASH_SHA256] = "rabbit_password_hashing_sha256",
    [AUTH_HASH_SHA512] = "rabbit_password_hashing_sha512",
    [AUTH_HASH_MD5] = "rabbit_password_hashing_md5",
};

/* A compiled permission pattern. ".*" and "" are so common (and so cheap to
 * decide) that they skip regexec() entirely. */
enum pattern_kind { PAT_NONE, PAT_ALL, PAT_REGEX };

struct pattern {
    enum pattern_kind kind;
    char *src;
    regex_t re; /* only for PAT_REGEX */
};

struct perm {
    char *vhost;
    struct pattern pat[3]; /* indexed by enum auth_op */
};

struct auth_user {
    unsigned refs;
    bool deleted;
    char *name;
    enum auth_hash_alg alg;
    char *hash_b64;                      /* as given, for export */
    uint8_t hash[SALT_LEN + DIGEST_MAX]; /* decoded salt ‖ digest */
    size_t hash_len;                     /* 0: no password */
    char **tags;
    size_t n_tags;
    struct perm *perms;
    size_t n_perms;
};

struct auth_vhost {
    char *name;
    int64_t limits[AUTH_LIMIT_COUNT]; /* AUTH_LIMIT_UNSET when not set */
};

struct auth {
    struct auth_user **users;
    size_t n_users;
    struct auth_vhost *vhosts;
    size_t n_vhosts;
    auth_change_fn *changed; /* told after every successful change */
    void *changed_arg;
    char **loopback; /* loopback_users */
    size_t n_loopback;
};

static void changed(struct auth *a)
{
    if (a->changed)
        a->changed(a->changed_arg);
}

void auth_set_change_hook(struct auth *a, auth_change_fn *fn, void *arg)
{
    a->changed = fn;
    a->changed_arg = arg;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- hashing ---- */

static const EVP_MD *alg_md(enum auth_hash_alg alg)
{
    switch (alg) {
    case AUTH_HASH_SHA512:
        return EVP_sha512();
    case AUTH_HASH_MD5:
        return EVP_md5();
    case AUTH_HASH_SHA256:
    default:
        return EVP_sha256();
    }
}

static size_t alg_digest_len(enum auth_hash_alg alg)
{
    return (size_t)EVP_MD_get_size(alg_md(alg));
}

/* H(salt ‖ password) into out (DIGEST_MAX bytes). Returns the digest length,
 * or 0 if OpenSSL fails. */
static size_t digest(enum auth_hash_alg alg, const uint8_t salt[SALT_LEN], struct view pw,
                     uint8_t *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok;

    if (!ctx)
        abort(); /* allocation failure, as with xmalloc */
    ok = EVP_DigestInit_ex(ctx, alg_md(alg), NULL) && EVP_DigestUpdate(ctx, salt, SALT_LEN) &&
         (pw.n == 0 || EVP_DigestUpdate(ctx, pw.p, pw.n)) && EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    return ok ? n : 0;
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void b64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = b64_alphabet[v >> 6 & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18 & 63];
        out[o++] = b64_alphabet[v >> 12 & 63];
        out[o++] = i + 1 < n ? b64_alphabet[v >> 6 & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

static int b64_value(char c)
{
    const char *p = c ? strchr(b64_alphabet, c) : NULL;
    return p ? (int)(p - b64_alphabet) : -1;
}

/* Strict base64: length a multiple of 4, '=' only as trailing padding, unused
 * bits zero. Returns the decoded length, or -1 if malformed or longer than
 * max. (EVP_DecodeBlock skips whitespace and counts padding as data.) */
static long b64_decode(const char *in, uint8_t *out, size_t max)
{
    size_t n = strlen(in), o = 0;

    if (n % 4)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        size_t pad = 0;

        for (size_t k = 0; k < 4; k++) {
            if (in[i + k] == '=' && i + 4 == n && k >= 2) {
                v[k] = 0;
                pad++;
            } else if (pad) {
                return -1; /* data after '=' */
            } else if ((v[k] = b64_value(in[i + k])) < 0) {
                return -1;
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return -1; /* non-canonical: leftover bits set */
        if (o + 3 - pad > max)
            return -1;
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    return (long)o;
}

/* Decodes a hash for alg into out; returns its length (salt + digest), 0 for
 * the empty "no password" hash, or -1 if malformed. */
static long decode_hash(enum auth_hash_alg alg, const char *hash, uint8_t *out)
{
    long n;

    if ((unsigned)alg >= AUTH_HASH_COUNT)
        return -1;
    if (!*hash)
        return 0;
    n = b64_decode(hash, out, SALT_LEN + DIGEST_MAX);
    return n == (long)(SALT_LEN + alg_digest_len(alg)) ? n : -1;
}

char *auth_hash_password_alg(enum auth_hash_alg alg, struct view password)
{
    uint8_t raw[SALT_LEN + DIGEST_MAX];
    size_t n;
    char *out;

    if ((unsigned)alg >= AUTH_HASH_COUNT || RAND_bytes(raw, SALT_LEN) != 1)
        return NULL;
    n = digest(alg, raw, password, raw + SALT_LEN);
    if (!n)
        return NULL;
    out = xmalloc((SALT_LEN + n + 2) / 3 * 4 + 1);
    b64_encode(raw, SALT_LEN + n, out);
    return out;
}

char *auth_hash_password(const char *password)
{
    return auth_hash_password_alg(AUTH_HASH_SHA256, view_str(password));
}

bool auth_hash_is_valid(enum auth_hash_alg alg, const char *hash)
{
    uint8_t raw[SALT_LEN + DIGEST_MAX];
    return decode_hash(alg, hash, raw) >= 0;
}

/* Compares against raw (salt ‖ digest, len bytes). With len 0 (unknown user or
 * no password) a dummy digest is still computed so the caller's timing does
 * not depend on which case failed. */
static bool verify_raw(enum auth_hash_alg alg, const uint8_t *raw, size_t len, struct view pw)
{
    static const uint8_t dummy[SALT_LEN + DIGEST_MAX];
    uint8_t d[DIGEST_MAX];
    size_t n;

    if (len == 0) {
        (void)digest(AUTH_HASH_SHA256, dummy, pw, d);
        (void)CRYPTO_memcmp(d, dummy + SALT_LEN, 32);
        return false;
    }
    n = digest(alg, raw, pw, d);
    return n && n + SALT_LEN == len && CRYPTO_memcmp(d, raw + SALT_LEN, n) == 0;
}

bool auth_hash_verify(enum auth_hash_alg alg, const char *hash, struct view password)
{
    uint8_t raw[SALT_LEN + DIGEST_MAX];
    long n = decode_hash(alg, hash, raw);

    return verify_raw(alg, raw, n > 0 ? (size_t)n : 0, password);
}

bool auth_hash_alg_parse(const char *name, enum auth_hash_alg *alg)
{
    for (size_t i = 0; i < AUTH_HASH_COUNT; i++) {
        if (strcmp(name, auth_hash_alg_names[i]) == 0) {
            *alg = (enum auth_hash_alg)i;
            return true;
        }
    }
    return false;
}

/* ---- patterns ---- */

/* glibc's regcomp() copies the operand of x+ once more and that of x{n,m}
 * max(n, m) times, so stacked or nested repetition grows multiplicatively
 * ("g" followed by 80 "+" takes gigabytes), and its epsilon closures are
 * quadratic in the copies of an optional operand (".{0,7000}" takes 1.7 GB).
 * This walks the pattern with the same copying rules and bounds the tree
 * size, so patterns from a config file or the management API cannot exhaust
 * memory: at 1000 nodes regcomp() stays under about 15 MB. Names are at most
 * 255 bytes, so no sensible pattern comes near. It only has to be
 * pessimistic; regcomp() still has the last word on syntax. */
#define PATTERN_COST_MAX 1000
#define PATTERN_DEPTH_MAX 64

static size_t bounded_add(size_t a, size_t b)
{
    return a + b > PATTERN_COST_MAX ? PATTERN_COST_MAX + 1 : a + b;
}

static size_t bounded_mul(size_t a, size_t b)
{
    return b && a > PATTERN_COST_MAX / b ? PATTERN_COST_MAX + 1 : a * b;
}

/* Parses "{n}", "{n,}" or "{n,m}" at s; returns the copies regcomp() makes,
 * or 0 if s is not a valid interval (regcomp() then rejects it or reads a
 * literal brace, which costs 1 like any atom). */
static size_t interval_copies(const char *s, const char **end)
{
    size_t n = 0, m = 0;
    bool comma = false, has_m = false;

    for (s++; *s >= '0' && *s <= '9'; s++)
        n = bounded_add(bounded_mul(n, 10), (size_t)(*s - '0'));
    if (*s == ',') {
        comma = true;
        for (s++; *s >= '0' && *s <= '9'; s++, has_m = true)
            m = bounded_add(bounded_mul(m, 10), (size_t)(*s - '0'));
    }
    if (*s != '}')
        return 0;
    *end = s + 1;
    if (!comma)
        return n ? n : 1;
    if (!has_m)
        return n + 1;
    return m > n ? m : (n ? n : 1);
}

static const char *pattern_problem(const char *re)
{
    size_t cur[PATTERN_DEPTH_MAX + 1] = {0}, last[PATTERN_DEPTH_MAX + 1] = {0};
    size_t d = 0;

    for (const char *s = re; *s;) {
        size_t copies = 0, piece = 1;

        switch (*s) {
        case '\\':
            if (s[1] >= '1' && s[1] <= '9')
                return "back-references are not supported";
            s += s[1] ? 2 : 1;
            break;
        case '[':
            /* A bracket expression is one node: skip to its closing ']',
             * which may come first ("[]a]", "[^]a]"), and over "[:alpha:]". */
            s++;
            if (*s == '^')
                s++;
            if (*s == ']')
                s++;
            while (*s && *s != ']') {
                if (*s == '[' && (s[1] == ':' || s[1] == '.' || s[1] == '=')) {
                    const char *close = strchr(s + 2, s[1]);
                    s = close && close[1] == ']' ? close + 2 : s + 1;
                } else {
                    s++;
                }
            }
            if (*s)
                s++;
            break;
        case '(':
            if (d == PATTERN_DEPTH_MAX)
                return "groups nested too deeply";
            d++;
            cur[d] = last[d] = 0;
            s++;
            continue;
        case ')':
            s++;
            if (d == 0)
                break; /* a literal ')' to glibc */
            piece = bounded_add(cur[d], 1);
            d--;
            break;
        case '|':
            cur[d] = bounded_add(cur[d], 1);
            last[d] = 0;
            s++;
            continue;
        case '*':
        case '?':
            copies = 1;
            s++;
            break;
        case '+':
            copies = 2;
            s++;
            break;
        case '{':
            copies = interval_copies(s, &s);
            if (!copies)
                s++;
            break;
        default:
            s++;
            break;
        }
        if (copies) {
            /* A repetition scales the piece before it. */
            cur[d] -= last[d];
            last[d] = bounded_add(bounded_mul(last[d], copies), 1);
        } else {
            last[d] = piece;
        }
        cur[d] = bounded_add(cur[d], last[d]);
        if (cur[d] > PATTERN_COST_MAX)
            return "too complex (over 1000 nodes once repetition is expanded)";
    }
    return NULL;
}

static int pattern_compile(struct pattern *p, const char *src, char *err, size_t errlen)
{
    const char *problem;
    int rc;

    p->src = NULL;
    if ((problem = pattern_problem(src))) {
        if (errlen)
            snprintf(err, errlen, "%s", problem);
        return -1;
    }
    if (!*src) {
        p->kind = PAT_NONE;
    } else if (strcmp(src, ".*") == 0) {
        p->kind = PAT_ALL;
    } else {
        /* REG_NOSUB: we only ask whether it matches somewhere (re:run). */
        rc = regcomp(&p->re, src, REG_EXTENDED | REG_NOSUB);
        if (rc) {
            if (errlen)
                regerror(rc, &p->re, err, errlen);
            regfree(&p->re);
            return -1;
        }
        p->kind = PAT_REGEX;
    }
    p->src = xstrdup(src);
    return 0;
}

static void pattern_free(struct pattern *p)
{
    if (p->kind == PAT_REGEX)
        regfree(&p->re);
    free(p->src);
    p->src = NULL;
}

int auth_pattern_check(const char *pattern, char *err, size_t errlen)
{
    struct pattern p;

    if (pattern_compile(&p, pattern, err, errlen))
        return -1;
    pattern_free(&p);
    return 0;
}

static bool pattern_match(const struct pattern *p, struct view res)
{
    char stackbuf[NAME_MAX_LEN + 1];
    char *s;
    bool ok;

    if (p->kind == PAT_ALL)
        return true;
    if (p->kind == PAT_NONE)
        return false;
    /* regexec() stops at a NUL; a name with one inside could otherwise pass
     * a pattern such as "^tmp$" on its prefix. */
    if (res.n && memchr(res.p, '\0', res.n))
        return false;
    s = res.n < sizeof(stackbuf) ? stackbuf : xmalloc(res.n + 1);
    if (res.n)
        memcpy(s, res.p, res.n);
    s[res.n] = '\0';
    ok = regexec(&p->re, s, 0, NULL, 0) == 0;
    if (s != stackbuf)
        free(s);
    return ok;
}

/* ---- users ---- */

static void perm_free(struct perm *p)
{
    free(p->vhost);
    for (size_t i = 0; i < 3; i++)
        pattern_free(&p->pat[i]);
}

static struct perm *user_perm(const struct auth_user *u, struct view vhost)
{
    for (size_t i = 0; i < u->n_perms; i++)
        if (view_eq_str(vhost, u->perms[i].vhost))
            return &u->perms[i];
    return NULL;
}

static void user_drop_perm(struct auth_user *u, struct perm *p)
{
    perm_free(p);
    *p = u->perms[--u->n_perms];
}

/* Marks a user gone from the registry: it keeps its name and tags for logs
 * but loses every permission, so checks through stale references fail. */
static void user_retire(struct auth_user *u)
{
    while (u->n_perms)
        user_drop_perm(u, &u->perms[u->n_perms - 1]);
    u->deleted = true;
}

struct auth_user *auth_user_ref(struct auth_user *u)
{
    assert(u->refs > 0);
    u->refs++;
    return u;
}

void auth_user_unref(struct auth_user **up)
{
    struct auth_user *u = *up;

    if (!u)
        return;
    *up = NULL;
    assert(u->refs > 0);
    if (--u->refs)
        return;
    for (size_t i = 0; i < u->n_perms; i++)
        perm_free(&u->perms[i]);
    free(u->perms);
    for (size_t i = 0; i < u->n_tags; i++)
        free(u->tags[i]);
    free(u->tags);
    free(u->hash_b64);
    free(u->name);
    free(u);
}

static int check_name(const char *what, const char *name, char *err, size_t errlen)
{
    size_t n = strlen(name);

    if (n == 0)
        return fail(err, errlen, "%s name must not be empty", what);
    if (n > NAME_MAX_LEN)
        return fail(err, errlen, "%s name is %zu bytes long, the maximum is %d", what, n,
                    NAME_MAX_LEN);
    return 0;
}

static size_t find_user(const struct auth *a, struct view name)
{
    for (size_t i = 0; i < a->n_users; i++)
        if (view_eq_str(name, a->users[i]->name))
            return i;
    return SIZE_MAX;
}

static size_t find_vhost(const struct auth *a, struct view name)
{
    for (size_t i = 0; i < a->n_vhosts; i++)
        if (view_eq_str(name, a->vhosts[i].name))
            return i;
    return SIZE_MAX;
}

int auth_add_user(struct auth *a, const char *name, enum auth_hash_alg alg,
                  const char *password_hash, const char *const *tags, size_t n_tags, char *err,
                  size_t errlen)
{
    struct auth_user *u;
    long hlen;

    if (check_name("user", name, err, errlen))
        return -1;
    if (find_user(a, view_str(name)) != SIZE_MAX)
        return fail(err, errlen, "user \"%s\" already exists", name);
    if ((unsigned)alg >= AUTH_HASH_COUNT)
        return fail(err, errlen, "user \"%s\": unknown hashing algorithm", name);
    for (size_t i = 0; i < n_tags; i++) {
        size_t n = strlen(tags[i]);
        if (n == 0 || n > NAME_MAX_LEN)
            return fail(err, errlen, "user \"%s\": a tag must be 1..%d bytes long", name,
                        NAME_MAX_LEN);
    }
    u = xcalloc(1, sizeof(*u));
    hlen = decode_hash(alg, password_hash, u->hash);
    if (hlen < 0) {
        free(u);
        return fail(err, errlen, "user \"%s\": password_hash is not a valid %s hash", name,
                    auth_hash_alg_names[alg]);
    }
    u->refs = 1;
    u->name = xstrdup(name);
    u->alg = alg;
    u->hash_b64 = xstrdup(password_hash);
    u->hash_len = (size_t)hlen;
    u->tags = xcalloc(n_tags ? n_tags : 1, sizeof(*u->tags));
    for (size_t i = 0; i < n_tags; i++)
        if (!auth_user_has_tag(u, tags[i]))
            u->tags[u->n_tags++] = xstrdup(tags[i]);
    a->users = xrealloc(a->users, (a->n_users + 1) * sizeof(*a->users));
    a->users[a->n_users++] = u;
    changed(a);
    return 0;
}

int auth_delete_user(struct auth *a, struct view name)
{
    size_t i = find_user(a, name);
    struct auth_user *u;

    if (i == SIZE_MAX)
        return -1;
    u = a->users[i];
    /* Keep insertion order for listings. */
    memmove(&a->users[i], &a->users[i + 1], (a->n_users - i - 1) * sizeof(*a->users));
    a->n_users--;
    user_retire(u);
    auth_user_unref(&u);
    changed(a);
    return 0;
}

/* ---- registry ---- */

struct auth *auth_create(void)
{
    return xcalloc(1, sizeof(struct auth));
}

void auth_destroy(struct auth *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n_users; i++) {
        user_retire(a->users[i]);
        auth_user_unref(&a->users[i]);
    }
    free(a->users);
    for (size_t i = 0; i < a->n_vhosts; i++)
        free(a->vhosts[i].name);
    free(a->vhosts);
    auth_set_loopback_users(a, NULL, 0);
    free(a);
}

int auth_add_vhost(struct auth *a, const char *name, char *err, size_t errlen)
{
    if (check_name("vhost", name, err, errlen))
        return -1;
    if (find_vhost(a, view_str(name)) != SIZE_MAX)
        return fail(err, errlen, "vhost \"%s\" already exists", name);
    a->vhosts = xrealloc(a->vhosts, (a->n_vhosts + 1) * sizeof(*a->vhosts));
    a->vhosts[a->n_vhosts].name = xstrdup(name);
    for (size_t k = 0; k < AUTH_LIMIT_COUNT; k++)
        a->vhosts[a->n_vhosts].limits[k] = AUTH_LIMIT_UNSET;
    a->n_vhosts++;
    changed(a);
    return 0;
}

int auth_delete_vhost(struct auth *a, struct view name)
{
    size_t i = find_vhost(a, name);

    if (i == SIZE_MAX)
        return -1;
    for (size_t k = 0; k < a->n_users; k++) {
        struct perm *p = user_perm(a->users[k], name);
        if (p)
            user_drop_perm(a->users[k], p);
    }
    free(a->vhosts[i].name);
    memmove(&a->vhosts[i], &a->vhosts[i + 1], (a->n_vhosts - i - 1) * sizeof(*a->vhosts));
    a->n_vhosts--;
    changed(a);
    return 0;
}

int auth_set_permissions(struct auth *a, const char *user, const char *vhost, const char *configure,
                         const char *write, const char *read, char *err, size_t errlen)
{
    const char *src[3] = {[AUTH_CONFIGURE] = configure, [AUTH_WRITE] = write, [AUTH_READ] = read};
    static const char *const op_name[3] = {"configure", "write", "read"};
    size_t ui = find_user(a, view_str(user));
    struct perm np = {0}, *old;
    struct auth_user *u;
    char why[200];

    if (ui == SIZE_MAX)
        return fail(err, errlen, "no such user \"%s\"", user);
    if (find_vhost(a, view_str(vhost)) == SIZE_MAX)
        return fail(err, errlen, "no such vhost \"%s\"", vhost);
    for (size_t i = 0; i < 3; i++) {
        if (pattern_compile(&np.pat[i], src[i], why, sizeof(why))) {
            fail(err, errlen, "invalid %s pattern \"%s\": %s", op_name[i], src[i], why);
            for (size_t k = 0; k < i; k++)
                pattern_free(&np.pat[k]);
            return -1;
        }
    }
    u = a->users[ui];
    old = user_perm(u, view_str(vhost));
    if (old) {
        np.vhost = old->vhost;
        old->vhost = NULL;
        perm_free(old);
        *old = np;
    } else {
        np.vhost = xstrdup(vhost);
        u->perms = xrealloc(u->perms, (u->n_perms + 1) * sizeof(*u->perms));
        u->perms[u->n_perms++] = np;
    }
    changed(a);
    return 0;
}

int auth_clear_permissions(struct auth *a, struct view user, struct view vhost)
{
    size_t ui = find_user(a, user);
    struct perm *p;

    if (ui == SIZE_MAX || !(p = user_perm(a->users[ui], vhost)))
        return -1;
    user_drop_perm(a->users[ui], p);
    changed(a);
    return 0;
}

int auth_load_config(struct auth *a, const struct config *c, char *err, size_t errlen)
{
    for (size_t i = 0; i < c->n_vhosts; i++) {
        const struct config_vhost *cv = &c->vhosts[i];
        if (auth_add_vhost(a, cv->name, err, errlen))
            return -1;
        if (cv->max_connections != AUTH_LIMIT_UNSET)
            auth_vhost_set_limit(a, view_str(cv->name), AUTH_LIMIT_MAX_CONNECTIONS,
                                 cv->max_connections);
        if (cv->max_queues != AUTH_LIMIT_UNSET)
            auth_vhost_set_limit(a, view_str(cv->name), AUTH_LIMIT_MAX_QUEUES, cv->max_queues);
    }
    for (size_t i = 0; i < c->n_users; i++) {
        const struct config_user *cu = &c->users[i];
        if (auth_add_user(a, cu->name, cu->hashing_algorithm, cu->password_hash,
                          (const char *const *)cu->tags, cu->n_tags, err, errlen))
            return -1;
    }
    for (size_t i = 0; i < c->n_permissions; i++) {
        const struct config_permission *p = &c->permissions[i];
        if (auth_set_permissions(a, p->user, p->vhost, p->configure, p->write, p->read, err,
                                 errlen))
            return -1;
    }
    return 0;
}

/* ---- login and queries ---- */

struct auth_user *auth_login(struct auth *a, struct view user, struct view password)
{
    size_t i = find_user(a, user);
    struct auth_user *u = i == SIZE_MAX ? NULL : a->users[i];

    /* verify_raw() hashes even when there is nothing to compare against. */
    if (!verify_raw(u ? u->alg : AUTH_HASH_SHA256, u ? u->hash : NULL, u ? u->hash_len : 0,
                    password))
        return NULL;
    return auth_user_ref(u);
}

const struct auth_user *auth_user_find(const struct auth *a, struct view name)
{
    size_t i = find_user(a, name);
    return i == SIZE_MAX ? NULL : a->users[i];
}

size_t auth_user_count(const struct auth *a)
{
    return a->n_users;
}

const struct auth_user *auth_user_at(const struct auth *a, size_t i)
{
    assert(i < a->n_users);
    return a->users[i];
}

const char *auth_user_name(const struct auth_user *u)
{
    return u->name;
}

const char *auth_user_password_hash(const struct auth_user *u)
{
    return u->hash_b64;
}

enum auth_hash_alg auth_user_hash_alg(const struct auth_user *u)
{
    return u->alg;
}

size_t auth_user_tag_count(const struct auth_user *u)
{
    return u->n_tags;
}

const char *auth_user_tag_at(const struct auth_user *u, size_t i)
{
    assert(i < u->n_tags);
    return u->tags[i];
}

bool auth_user_has_tag(const struct auth_user *u, const char *tag)
{
    for (size_t i = 0; i < u->n_tags; i++)
        if (strcmp(u->tags[i], tag) == 0)
            return true;
    return false;
}

bool auth_user_is_deleted(const struct auth_user *u)
{
    return u->deleted;
}

const char *auth_user_permission(const struct auth_user *u, struct view vhost, enum auth_op op)
{
    const struct perm *p = user_perm(u, vhost);

    assert((unsigned)op < 3);
    return p ? p->pat[op].src : NULL;
}

bool auth_vhost_exists(const struct auth *a, struct view vhost)
{
    return find_vhost(a, vhost) != SIZE_MAX;
}

size_t auth_vhost_count(const struct auth *a)
{
    return a->n_vhosts;
}

const char *auth_vhost_at(const struct auth *a, size_t i)
{
    assert(i < a->n_vhosts);
    return a->vhosts[i].name;
}

/* ---- vhost limits ---- */

const char *const auth_limit_names[AUTH_LIMIT_COUNT] = {
    [AUTH_LIMIT_MAX_CONNECTIONS] = "max-connections",
    [AUTH_LIMIT_MAX_QUEUES] = "max-queues",
};

int auth_limit_parse(struct view name, enum auth_vhost_limit *out)
{
    for (size_t k = 0; k < AUTH_LIMIT_COUNT; k++)
        if (view_eq_str(name, auth_limit_names[k])) {
            *out = (enum auth_vhost_limit)k;
            return 0;
        }
    return -1;
}

int auth_vhost_set_limit(struct auth *a, struct view vhost, enum auth_vhost_limit which,
                         int64_t value)
{
    size_t i = find_vhost(a, vhost);

    assert((unsigned)which < AUTH_LIMIT_COUNT);
    if (i == SIZE_MAX)
        return -1;
    if (a->vhosts[i].limits[which] != value) {
        a->vhosts[i].limits[which] = value;
        changed(a);
    }
    return 0;
}

int64_t auth_vhost_limit(const struct auth *a, struct view vhost, enum auth_vhost_limit which)
{
    size_t i = find_vhost(a, vhost);

    assert((unsigned)which < AUTH_LIMIT_COUNT);
    return i == SIZE_MAX ? AUTH_LIMIT_UNSET : a->vhosts[i].limits[which];
}

bool auth_vhost_over_limit(const struct auth *a, struct view vhost, enum auth_vhost_limit which,
                           size_t count, int64_t *limit)
{
    int64_t v = auth_vhost_limit(a, vhost, which);

    /* Unset or negative: no limit; 0 allows nothing (rabbit_vhost_limit). */
    if (v < 0)
        return false;
    *limit = v;
    return (uint64_t)count >= (uint64_t)v;
}

bool auth_vhost_access(const struct auth *a, const struct auth_user *u, struct view vhost)
{
    return !u->deleted && auth_vhost_exists(a, vhost) && user_perm(u, vhost) != NULL;
}

bool auth_check(const struct auth *a, const struct auth_user *u, struct view vhost, enum auth_op op,
                struct view resource)
{
    const struct perm *p;

    if ((unsigned)op >= 3 || u->deleted || !auth_vhost_exists(a, vhost))
        return false;
    p = user_perm(u, vhost);
    return p && pattern_match(&p->pat[op], resource);
}

/* ---- loopback-only users ---- */

void auth_set_loopback_users(struct auth *a, const char *const *names, size_t n)
{
    for (size_t i = 0; i < a->n_loopback; i++)
        free(a->loopback[i]);
    free(a->loopback);
    a->loopback = n ? xcalloc(n, sizeof(*a->loopback)) : NULL;
    for (size_t i = 0; i < n; i++)
        a->loopback[i] = xstrdup(names[i]);
    a->n_loopback = n;
}

bool auth_addr_is_loopback(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)addr;
        return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)addr;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
               (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr) && b[12] == 127);
    }
    return false;
}

bool auth_loopback_allowed(const struct auth *a, const char *user, const struct sockaddr *addr)
{
    for (size_t i = 0; i < a->n_loopback; i++)
        if (strcmp(a->loopback[i], user) == 0)
            return addr && auth_addr_is_loopback(addr);
    return true;
}
