/* SPDX-License-Identifier: MIT */
/*
 * tls: AMQP over TLS with OpenSSL, for non-blocking sockets on the loop.
 *
 * A tls_ctx is the server side of one TLS listener (listeners.tls): its
 * certificate chain and key, TLS 1.2 and 1.3 only, optional client
 * certificate verification against cacertfile. A tls_conn is one accepted
 * connection's session on its socket. Neither talks to libev: the caller
 * (broker/conn.c) watches the socket and calls tls_read / tls_write_outq
 * when it is ready; these never block and say which readiness they need
 * next (OpenSSL may need to write while reading, and to read while writing).
 *
 * What OpenSSL has already read from the socket is invisible to the loop:
 * after tls_read, tls_has_buffered() tells the caller to come back without
 * waiting for the socket. The only file that includes OpenSSL's ssl.h.
 */
#ifndef BROKER_TLS_H
#define BROKER_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct config_tls;
struct outq;
struct tls_ctx;
struct tls_conn;

/**
 * Builds the server context for t (borrowed; its files were checked by
 * config.c, but are read again here). NULL with a reason in err (naming the
 * file and OpenSSL's error) when OpenSSL refuses them.
 */
struct tls_ctx *tls_ctx_create(const struct config_tls *t, char *err, size_t errlen);
/** Frees the context. Sessions hold their own reference. Accepts NULL. */
void tls_ctx_destroy(struct tls_ctx *ctx);

/** A server session on fd (borrowed, non-blocking; the caller closes it). Never NULL. */
struct tls_conn *tls_conn_create(struct tls_ctx *ctx, int fd);
/**
 * Frees the session. After a completed handshake and no error, sends
 * close_notify first (best effort, never waits). Accepts NULL.
 */
void tls_conn_destroy(struct tls_conn *t);

/** Why a call stopped. */
enum tls_status {
    TLS_WANT_READ,  /* wait until the socket is readable */
    TLS_WANT_WRITE, /* wait until the socket is writable, then call again */
    TLS_EOF,        /* the peer closed (close_notify or TCP EOF) */
    TLS_FAILED,     /* protocol or socket error: tls_error() says which */
    TLS_FULL,       /* tls_read only: the buffer is full, more may be buffered */
};

/**
 * Runs the handshake until it completes, then reads decrypted bytes into
 * buf until it is full or the socket has no more. Returns how many bytes were
 * read (possibly 0) and why it stopped in *st; bytes read before an EOF or a
 * failure are returned with it and are valid.
 */
size_t tls_read(struct tls_conn *t, uint8_t *buf, size_t cap, enum tls_status *st);
/**
 * Writes as much of q as the socket takes, small runs coalesced into full
 * TLS records. Returns bytes consumed from q (>= 0) with *st TLS_WANT_WRITE or
 * TLS_WANT_READ when it stopped early (either way, call again when that
 * readiness comes; q may grow meanwhile), or -1 on failure (tls_error()).
 */
ssize_t tls_write_outq(struct tls_conn *t, struct outq *q, enum tls_status *st);
/** Whether OpenSSL holds received bytes not yet returned by tls_read. */
bool tls_has_buffered(const struct tls_conn *t);
/** Whether the last tls_read stopped for TLS_WANT_WRITE (then watch writability for it). */
bool tls_read_wants_write(const struct tls_conn *t);
/** Whether the last tls_write_outq stopped for TLS_WANT_READ. */
bool tls_write_wants_read(const struct tls_conn *t);
bool tls_handshake_done(const struct tls_conn *t);
/** The reason of the last TLS_FAILED: OpenSSL's error text, or the socket error. */
const char *tls_error(const struct tls_conn *t);

/**
 * The negotiated session, in the forms RabbitMQ's management API shows
 * (ssl_protocol "tlsv1.3", ssl_cipher "aes_256_gcm", ssl_key_exchange
 * "ecdhe_rsa" or "any" for TLS 1.3, ssl_hash "sha384") and the client
 * certificate, if one was sent (RFC 4514 names, validity as
 * "YYYY-MM-DDTHH:MM:SSZ - ..."; empty strings when none). Borrowed from t;
 * all empty before the handshake completes.
 */
struct tls_info {
    char protocol[16];
    char cipher[48];
    char key_exchange[32];
    char hash[16];
    char peer_cert_subject[256];
    char peer_cert_issuer[256];
    char peer_cert_validity[64];
};
const struct tls_info *tls_conn_info(const struct tls_conn *t);

#endif
