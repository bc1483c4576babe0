/* SPDX-License-Identifier: MIT */
#include "broker/tls.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "broker/config.h"
#include "broker/outq.h"
#include "broker/util.h"

/* The largest plaintext of one TLS record. Runs shorter than TLS_DIRECT_MIN
 * are copied together into one record (frame headers, methods, small
 * bodies); longer ones are encrypted where they are. */
#define TLS_RECORD 16384
#define TLS_DIRECT_MIN 4096
#define TLS_STAGE_IOV 64

struct tls_ctx {
    SSL_CTX *ssl;
};

struct tls_conn {
    SSL *ssl;
    bool done;             /* handshake completed */
    bool fatal;            /* an error or EOF: no close_notify, no more I/O */
    bool read_wants_write; /* the last tls_read stopped for TLS_WANT_WRITE */
    bool write_wants_read; /* the last tls_write_outq stopped for TLS_WANT_READ */
    uint8_t *stage;        /* coalesced small runs: the first `staged` bytes of the output */
    size_t staged;         /* > 0: handed to SSL_write, which must see them again */
    char error[160];
    struct tls_info info;
};

/* ---- errors ---- */

/* OpenSSL's earliest queued error as text (its reason alone when known), then clears the queue. */
static void take_ssl_error(char *out, size_t size)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;

    if (reason)
        snprintf(out, size, "%s", reason);
    else if (e)
        ERR_error_string_n(e, out, size);
    else
        snprintf(out, size, "unknown TLS error");
    ERR_clear_error();
}

/* ---- the context ---- */

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static struct tls_ctx *ctx_fail(SSL_CTX *ssl, const char *key, const char *path, char *err,
                                size_t errlen)
{
    char why[160];

    take_ssl_error(why, sizeof(why));
    snprintf(err, errlen, "%s \"%s\": %s", key, path, why);
    SSL_CTX_free(ssl);
    return NULL;
}

struct tls_ctx *tls_ctx_create(const struct config_tls *t, char *err, size_t errlen)
{
    static const unsigned char sid_ctx[] = "leveret";
    SSL_CTX *ssl;
    struct tls_ctx *ctx;

    ERR_clear_error();
    ssl = SSL_CTX_new(TLS_server_method());
    if (!ssl) {
        char why[160];
        take_ssl_error(why, sizeof(why));
        snprintf(err, errlen, "cannot create a TLS context: %s", why);
        return NULL;
    }
    /* TLS 1.2 and 1.3 only; no renegotiation (a client could otherwise make
     * a write wait for a read at any time), no compression. */
    SSL_CTX_set_min_proto_version(ssl, TLS1_2_VERSION);
    SSL_CTX_set_options(ssl, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* SSL_write returns after each record (the output queue is consumed
     * record by record), and a retried write may come from a moved buffer
     * (the output's byte runs are reallocated as they grow). */
    SSL_CTX_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* Read whole socket buffers, not a record header then a record. */
    SSL_CTX_set_read_ahead(ssl, 1);
    SSL_CTX_set_default_passwd_cb(ssl, no_passphrase);
    SSL_CTX_set_session_id_context(ssl, sid_ctx, sizeof(sid_ctx) - 1);
    if (SSL_CTX_use_certificate_chain_file(ssl, t->certfile) != 1)
        return ctx_fail(ssl, "certfile", t->certfile, err, errlen);
    if (SSL_CTX_use_PrivateKey_file(ssl, t->keyfile, SSL_FILETYPE_PEM) != 1)
        return ctx_fail(ssl, "keyfile", t->keyfile, err, errlen);
    if (SSL_CTX_check_private_key(ssl) != 1)
        return ctx_fail(ssl, "keyfile", t->keyfile, err, errlen);
    if (t->cacertfile) {
        /* Trust anchors for client certificates; also completes the
         * server's chain when certfile holds the leaf alone. */
        if (SSL_CTX_load_verify_locations(ssl, t->cacertfile, NULL) != 1)
            return ctx_fail(ssl, "cacertfile", t->cacertfile, err, errlen);
    }
    if (t->verify == CONFIG_VERIFY_PEER) {
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->cacertfile);

        if (!names)
            return ctx_fail(ssl, "cacertfile", t->cacertfile, err, errlen);
        SSL_CTX_set_client_CA_list(ssl, names); /* takes names */
        SSL_CTX_set_verify(
            ssl, SSL_VERIFY_PEER | (t->fail_if_no_peer_cert ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
            NULL);
    } else {
        SSL_CTX_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    }
    ERR_clear_error();
    ctx = xcalloc(1, sizeof(*ctx));
    ctx->ssl = ssl;
    return ctx;
}

void tls_ctx_destroy(struct tls_ctx *ctx)
{
    if (!ctx)
        return;
    SSL_CTX_free(ctx->ssl);
    free(ctx);
}

/* ---- sessions ---- */

struct tls_conn *tls_conn_create(struct tls_ctx *ctx, int fd)
{
    struct tls_conn *t = xcalloc(1, sizeof(*t));

    t->ssl = SSL_new(ctx->ssl);
    if (!t->ssl || SSL_set_fd(t->ssl, fd) != 1)
        abort(); /* allocation failure: as xmalloc */
    SSL_set_accept_state(t->ssl);
    return t;
}

void tls_conn_destroy(struct tls_conn *t)
{
    if (!t)
        return;
    if (t->done && !t->fatal) {
        /* close_notify, if the socket takes it now; we do not wait for the reply. */
        ERR_clear_error();
        SSL_shutdown(t->ssl);
    }
    ERR_clear_error();
    SSL_free(t->ssl);
    free(t->stage);
    free(t);
}

/* What an SSL_* call returning r <= 0 means for the caller. */
static enum tls_status status_of(struct tls_conn *t, int r)
{
    int e = SSL_get_error(t->ssl, r), saved = errno;

    switch (e) {
    case SSL_ERROR_WANT_READ:
        return TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN: /* close_notify: we may answer it */
        ERR_clear_error();
        return TLS_EOF;
    case SSL_ERROR_SYSCALL:
        t->fatal = true;
        if (ERR_peek_error()) {
            take_ssl_error(t->error, sizeof(t->error));
            return TLS_FAILED;
        }
        if (saved == 0 || saved == ECONNRESET || saved == EPIPE) {
            snprintf(t->error, sizeof(t->error), "%s",
                     saved ? strerror(saved) : "connection closed");
            return TLS_EOF;
        }
        snprintf(t->error, sizeof(t->error), "%s", strerror(saved));
        return TLS_FAILED;
    case SSL_ERROR_SSL:
    default: {
        unsigned long err = ERR_peek_error();

        t->fatal = true;
        if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
            ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            ERR_clear_error();
            snprintf(t->error, sizeof(t->error), "connection closed");
            return TLS_EOF;
        }
        take_ssl_error(t->error, sizeof(t->error));
        if (ERR_GET_LIB(err) == ERR_LIB_SSL &&
            ERR_GET_REASON(err) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            size_t n = strlen(t->error);
            snprintf(t->error + n, sizeof(t->error) - n, " (%s)",
                     X509_verify_cert_error_string(SSL_get_verify_result(t->ssl)));
        }
        return TLS_FAILED;
    }
    }
}

/* ---- session description (management API) ---- */

static void lower_copy(char *out, size_t size, const char *s, bool dashes_to_underscores)
{
    size_t i = 0;

    for (; s && s[i] && i + 1 < size; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (dashes_to_underscores && c == '-')
            c = '_';
        out[i] = c;
    }
    out[i] = '\0';
}

static void name_text(const X509_NAME *name, char *out, size_t size)
{
    BIO *b = BIO_new(BIO_s_mem());
    int n;

    out[0] = '\0';
    if (!b)
        return;
    if (X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        n = BIO_read(b, out, (int)size - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

static size_t time_text(const ASN1_TIME *t, char *out, size_t size)
{
    struct tm tm;

    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return (size_t)snprintf(out, size, "?");
    return strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void fill_info(struct tls_conn *t)
{
    struct tls_info *in = &t->info;
    const SSL_CIPHER *c = SSL_get_current_cipher(t->ssl);
    X509 *peer = SSL_get0_peer_certificate(t->ssl);

    lower_copy(in->protocol, sizeof(in->protocol), SSL_get_version(t->ssl), false);
    if (c) {
        int kx = SSL_CIPHER_get_kx_nid(c), au = SSL_CIPHER_get_auth_nid(c);
        const char *kxs = kx == NID_kx_any     ? "any"
                          : kx == NID_kx_ecdhe ? "ecdhe"
                          : kx == NID_kx_dhe   ? "dhe"
                          : kx == NID_kx_rsa   ? "rsa"
                                               : OBJ_nid2sn(kx);
        const char *aus = au == NID_auth_rsa ? "rsa" : au == NID_auth_ecdsa ? "ecdsa" : NULL;

        /* Erlang's names, which RabbitMQ shows: aes_256_gcm, ecdhe_rsa, aead. */
        lower_copy(in->cipher, sizeof(in->cipher), OBJ_nid2ln(SSL_CIPHER_get_cipher_nid(c)), true);
        if (kx == NID_kx_any || kx == NID_kx_rsa || !aus)
            snprintf(in->key_exchange, sizeof(in->key_exchange), "%s", kxs ? kxs : "");
        else
            snprintf(in->key_exchange, sizeof(in->key_exchange), "%s_%s", kxs ? kxs : "", aus);
        if (SSL_CIPHER_is_aead(c))
            snprintf(in->hash, sizeof(in->hash), "aead");
        else
            lower_copy(in->hash, sizeof(in->hash), OBJ_nid2ln(SSL_CIPHER_get_digest_nid(c)), true);
    }
    if (peer) {
        size_t n;

        name_text(X509_get_subject_name(peer), in->peer_cert_subject,
                  sizeof(in->peer_cert_subject));
        name_text(X509_get_issuer_name(peer), in->peer_cert_issuer, sizeof(in->peer_cert_issuer));
        n = time_text(X509_get0_notBefore(peer), in->peer_cert_validity,
                      sizeof(in->peer_cert_validity));
        if (n < sizeof(in->peer_cert_validity)) {
            n += (size_t)snprintf(in->peer_cert_validity + n, sizeof(in->peer_cert_validity) - n,
                                  " - ");
            if (n < sizeof(in->peer_cert_validity))
                time_text(X509_get0_notAfter(peer), in->peer_cert_validity + n,
                          sizeof(in->peer_cert_validity) - n);
        }
    }
    ERR_clear_error();
}

const struct tls_info *tls_conn_info(const struct tls_conn *t)
{
    return &t->info;
}

/* ---- I/O ---- */

size_t tls_read(struct tls_conn *t, uint8_t *buf, size_t cap, enum tls_status *st)
{
    size_t got = 0;

    t->read_wants_write = false;
    if (t->fatal) {
        *st = TLS_FAILED;
        return 0;
    }
    if (!t->done) {
        int r;

        ERR_clear_error();
        r = SSL_do_handshake(t->ssl);
        if (r != 1) {
            *st = status_of(t, r);
            t->read_wants_write = *st == TLS_WANT_WRITE;
            return 0;
        }
        t->done = true;
        fill_info(t);
    }
    while (got < cap) {
        size_t want = cap - got < INT_MAX ? cap - got : INT_MAX;
        int r;

        ERR_clear_error();
        r = SSL_read(t->ssl, buf + got, (int)want);
        if (r <= 0) {
            *st = status_of(t, r);
            t->read_wants_write = *st == TLS_WANT_WRITE;
            return got;
        }
        /* On until the socket is empty (one record per SSL_read, so
         * stopping earlier would cost a loop iteration per 16 KiB). */
        got += (size_t)r;
    }
    *st = TLS_FULL;
    return got;
}

ssize_t tls_write_outq(struct tls_conn *t, struct outq *q, enum tls_status *st)
{
    ssize_t total = 0;

    t->write_wants_read = false;
    *st = TLS_WANT_WRITE;
    if (t->fatal) {
        *st = TLS_FAILED;
        errno = EPIPE;
        return -1;
    }
    if (!t->done) {
        /* Nothing is queued before the handshake; the read side drives it. */
        *st = TLS_WANT_READ;
        return 0;
    }
    while (outq_pending(q)) {
        const uint8_t *p;
        size_t len;
        int r;

        if (t->staged) {
            /* A retry: OpenSSL has these bytes in a record already. */
            p = t->stage;
            len = t->staged;
        } else {
            struct iovec iov[TLS_STAGE_IOV];
            size_t n = outq_peek(q, iov, TLS_STAGE_IOV);

            if (iov[0].iov_len >= TLS_DIRECT_MIN) {
                /* In place (a body slice, or a long run of encoded bytes).
                 * After a TLS_WANT_WRITE the same run is still first, no
                 * shorter, so the retry passes what OpenSSL expects. */
                p = iov[0].iov_base;
                len = iov[0].iov_len < INT_MAX ? iov[0].iov_len : INT_MAX;
            } else {
                if (!t->stage)
                    t->stage = xmalloc(TLS_RECORD);
                for (size_t i = 0; i < n && t->staged < TLS_RECORD; i++) {
                    size_t take = iov[i].iov_len < TLS_RECORD - t->staged ? iov[i].iov_len
                                                                          : TLS_RECORD - t->staged;
                    memcpy(t->stage + t->staged, iov[i].iov_base, take);
                    t->staged += take;
                }
                p = t->stage;
                len = t->staged;
            }
        }
        ERR_clear_error();
        r = SSL_write(t->ssl, p, (int)len);
        if (r > 0) {
            size_t w = (size_t)r;

            outq_consume(q, w);
            total += r;
            if (t->staged) {
                if (w < t->staged)
                    memmove(t->stage, t->stage + w, t->staged - w);
                t->staged -= w;
            }
            continue;
        }
        *st = status_of(t, r);
        if (*st == TLS_WANT_READ) {
            t->write_wants_read = true;
            return total;
        }
        if (*st == TLS_WANT_WRITE)
            return total;
        t->fatal = true;
        errno = EPIPE;
        return -1;
    }
    return total;
}

bool tls_has_buffered(const struct tls_conn *t)
{
    return !t->fatal && t->done && (SSL_pending(t->ssl) > 0 || SSL_has_pending(t->ssl));
}

bool tls_read_wants_write(const struct tls_conn *t)
{
    return t->read_wants_write;
}

bool tls_write_wants_read(const struct tls_conn *t)
{
    return t->write_wants_read;
}

bool tls_handshake_done(const struct tls_conn *t)
{
    return t->done;
}

const char *tls_error(const struct tls_conn *t)
{
    return t->error[0] ? t->error : "unknown TLS error";
}
