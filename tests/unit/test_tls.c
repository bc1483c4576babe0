/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for broker/tls.c on a socketpair: the server side is ours
 * (non-blocking, as on the loop), the client side is plain OpenSSL. A key and
 * a self-signed certificate are made in memory for each run and written to a
 * temporary directory (nothing is committed).
 *
 * Covered: the handshake driven by tls_read, what stays buffered inside
 * OpenSSL when the read buffer fills (the loop must come back for it),
 * writes of the output queue that stop on a full socket and resume with the
 * same bytes (small runs coalesced, large slices in place, the queue growing
 * and its byte buffer moving meanwhile), TLS 1.1 refused, and a key that does
 * not match the certificate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "broker/config.h"
#include "broker/msg.h"
#include "broker/outq.h"
#include "broker/tls.h"

static char dir[] = "/tmp/leveret-tls-XXXXXX";
static char cert_path[64], key_path[64], other_key_path[64];

static void write_key(EVP_PKEY *k, const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
}

static int make_pki(void **state)
{
    EVP_PKEY *k = EVP_EC_gen("P-256"), *other = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *name;
    FILE *f;
    (void)state;

    if (!mkdtemp(dir) || !k || !other || !x)
        return -1;
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    snprintf(other_key_path, sizeof(other_key_path), "%s/other.pem", dir);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1,
                               0);
    X509_set_issuer_name(x, name);
    if (!X509_sign(x, k, EVP_sha256()))
        return -1;
    f = fopen(cert_path, "w");
    if (!f)
        return -1;
    PEM_write_X509(f, x);
    fclose(f);
    write_key(k, key_path);
    write_key(other, other_key_path);
    X509_free(x);
    EVP_PKEY_free(k);
    EVP_PKEY_free(other);
    return 0;
}

static int remove_pki(void **state)
{
    (void)state;
    unlink(cert_path);
    unlink(key_path);
    unlink(other_key_path);
    rmdir(dir);
    return 0;
}

/* ---- a connected pair ---- */

struct pair {
    int fd[2]; /* [0] ours, [1] the client's */
    struct tls_ctx *ctx;
    struct tls_conn *server;
    SSL_CTX *client_ctx;
    SSL *client;
};

static struct config_tls server_config(const char *key)
{
    return (struct config_tls){.enabled = true,
                               .port = 5671,
                               .certfile = cert_path,
                               .keyfile = (char *)key,
                               .verify = CONFIG_VERIFY_NONE};
}

/* Runs both handshakes; returns the server's last status. */
static enum tls_status handshake(struct pair *p)
{
    enum tls_status st = TLS_WANT_READ;
    int client_done = 0;

    for (int i = 0; i < 200 && !(client_done && tls_handshake_done(p->server)); i++) {
        uint8_t b[64];

        if (!client_done) {
            int r = SSL_do_handshake(p->client);
            if (r == 1)
                client_done = 1;
            else if (SSL_get_error(p->client, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(p->client, r) != SSL_ERROR_WANT_WRITE)
                break;
        }
        assert_int_equal(tls_read(p->server, b, sizeof(b), &st), 0);
        if (st == TLS_FAILED || st == TLS_EOF)
            break;
    }
    ERR_clear_error();
    return st;
}

static struct pair *open_pair(int client_max_version)
{
    struct pair *p = calloc(1, sizeof(*p));
    struct config_tls t = server_config(key_path);
    char err[256];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, p->fd), 0);
    fcntl(p->fd[0], F_SETFL, O_NONBLOCK);
    fcntl(p->fd[1], F_SETFL, O_NONBLOCK);
    p->ctx = tls_ctx_create(&t, err, sizeof(err));
    if (!p->ctx)
        fail_msg("tls_ctx_create: %s", err);
    p->server = tls_conn_create(p->ctx, p->fd[0]);
    p->client_ctx = SSL_CTX_new(TLS_client_method());
    if (client_max_version) {
        SSL_CTX_set_security_level(p->client_ctx, 0);
        SSL_CTX_set_min_proto_version(p->client_ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(p->client_ctx, client_max_version);
    }
    p->client = SSL_new(p->client_ctx);
    SSL_set_fd(p->client, p->fd[1]);
    SSL_set_connect_state(p->client);
    return p;
}

static void close_pair(struct pair *p)
{
    tls_conn_destroy(p->server);
    tls_ctx_destroy(p->ctx);
    SSL_free(p->client);
    SSL_CTX_free(p->client_ctx);
    close(p->fd[0]);
    close(p->fd[1]);
    free(p);
}

/* Reads everything the client can get now, appending to out at *len. */
static void client_drain(struct pair *p, uint8_t *out, size_t cap, size_t *len)
{
    for (;;) {
        int r = SSL_read(p->client, out + *len, (int)(cap - *len));
        if (r <= 0) {
            assert_int_equal(SSL_get_error(p->client, r), SSL_ERROR_WANT_READ);
            ERR_clear_error();
            return;
        }
        *len += (size_t)r;
        assert_true(*len < cap);
    }
}

/* ---- tests ---- */

static void test_tls_handshake_then_data_and_info(void **state)
{
    struct pair *p = open_pair(0);
    uint8_t buf[64];
    enum tls_status st;
    (void)state;

    assert_int_equal(handshake(p), TLS_WANT_READ);
    assert_true(tls_handshake_done(p->server));
    assert_string_equal(tls_conn_info(p->server)->protocol, "tlsv1.3");
    assert_string_equal(tls_conn_info(p->server)->key_exchange, "any");
    assert_string_equal(tls_conn_info(p->server)->hash, "aead");
    assert_string_equal(tls_conn_info(p->server)->peer_cert_subject, "");
    assert_int_equal(SSL_write(p->client, "AMQP\0\0\x09\x01", 8), 8);
    assert_int_equal(tls_read(p->server, buf, sizeof(buf), &st), 8);
    assert_int_equal(st, TLS_WANT_READ);
    assert_memory_equal(buf, "AMQP\0\0\x09\x01", 8);
    assert_false(tls_has_buffered(p->server));
    /* The client goes: close_notify is an EOF, not an error. */
    SSL_shutdown(p->client);
    assert_int_equal(tls_read(p->server, buf, sizeof(buf), &st), 0);
    assert_int_equal(st, TLS_EOF);
    close_pair(p);
}

static void test_tls_read_stops_at_a_full_buffer_and_says_more_is_buffered(void **state)
{
    struct pair *p = open_pair(0);
    static uint8_t sent[30000], got[40000];
    enum tls_status st;
    size_t n;
    (void)state;

    assert_int_equal(handshake(p), TLS_WANT_READ);
    for (size_t i = 0; i < sizeof(sent); i++)
        sent[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 3; i++) /* three records */
        assert_int_equal(SSL_write(p->client, sent + i * 10000, 10000), 10000);
    n = tls_read(p->server, got, 15000, &st);
    assert_int_equal(n, 15000);
    assert_int_equal(st, TLS_FULL);
    /* The socket is empty now: only OpenSSL knows the rest is there. */
    assert_true(tls_has_buffered(p->server));
    n = tls_read(p->server, got + 15000, sizeof(got) - 15000, &st);
    assert_int_equal(n, 15000);
    assert_int_equal(st, TLS_WANT_READ);
    assert_false(tls_has_buffered(p->server));
    assert_memory_equal(got, sent, sizeof(sent));
    close_pair(p);
}

static struct msg *make_msg(size_t n, uint8_t seed)
{
    struct msg *m = msg_create(VIEW_LIT("x"), VIEW_LIT("k"), (struct view){NULL, 0}, n);
    uint8_t *b = malloc(n);

    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 13);
    msg_append_body(m, (struct view){b, n});
    free(b);
    return m;
}

/* Appends to the queue and to the expected stream. */
static void put_bytes(struct outq *q, uint8_t *exp, size_t *elen, const void *p, size_t n)
{
    buf_append(outq_buf(q), p, n);
    outq_commit(q);
    memcpy(exp + *elen, p, n);
    *elen += n;
}

static void put_slice(struct outq *q, uint8_t *exp, size_t *elen, struct msg *m, size_t off,
                      size_t n)
{
    outq_put_slice(q, m, off, n);
    memcpy(exp + *elen, msg_body(m).p + off, n);
    *elen += n;
}

static void test_tls_write_outq_resumes_after_a_full_socket(void **state)
{
    enum { CAP = 4 << 20 };
    struct pair *p = open_pair(0);
    uint8_t *exp = malloc(CAP), *got = malloc(CAP), run[40000];
    size_t elen = 0, glen = 0;
    struct outq q = {0};
    struct msg *big = make_msg(300000, 1), *mid = make_msg(6000, 2);
    int small = 4096, stops = 0, moved = 0;
    (void)state;

    assert_int_equal(handshake(p), TLS_WANT_READ);
    setsockopt(p->fd[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
    for (size_t i = 0; i < sizeof(run); i++)
        run[i] = (uint8_t)(i * 3 + 1);
    /* A long run of bytes first (written in place), then many small runs
     * (coalesced), body slices, and small runs between them. */
    put_bytes(&q, exp, &elen, run, sizeof(run));
    for (int i = 0; i < 300; i++)
        put_bytes(&q, exp, &elen, run + i, 37);
    put_slice(&q, exp, &elen, big, 0, 300000);
    put_bytes(&q, exp, &elen, "\xce", 1);
    put_slice(&q, exp, &elen, mid, 100, 5000);
    for (int i = 0; i < 50; i++) {
        put_bytes(&q, exp, &elen, run + 7 * i, 11);
        put_slice(&q, exp, &elen, mid, (size_t)i, 600);
    }
    for (int round = 0; outq_pending(&q) && round < 10000; round++) {
        enum tls_status st;
        ssize_t n = tls_write_outq(p->server, &q, &st);

        assert_true(n >= 0);
        if (outq_pending(&q)) {
            assert_int_equal(st, TLS_WANT_WRITE);
            stops++;
            /* The queue grows while a record waits: its byte buffer moves
             * (OpenSSL must accept the same bytes from a new address). */
            const uint8_t *before = outq_buf(&q)->p;
            if (round == 0)
                for (int i = 0; i < 25; i++)
                    put_bytes(&q, exp, &elen, run, sizeof(run));
            else if (round % 3 == 0)
                put_bytes(&q, exp, &elen, run + round % 1000, 5000 + (size_t)round % 7);
            moved += outq_buf(&q)->p != before;
        }
        client_drain(p, got, CAP, &glen);
    }
    assert_int_equal(outq_pending(&q), 0);
    client_drain(p, got, CAP, &glen);
    assert_true(stops > 10); /* the socket really was full, many times */
    assert_true(moved > 0);
    assert_int_equal(glen, elen);
    assert_memory_equal(got, exp, elen);
    outq_free(&q);
    msg_unref(&big);
    msg_unref(&mid);
    free(exp);
    free(got);
    close_pair(p);
}

static void test_tls_1_1_is_refused(void **state)
{
    struct pair *p = open_pair(TLS1_1_VERSION);
    (void)state;

    assert_int_equal(handshake(p), TLS_FAILED);
    assert_false(tls_handshake_done(p->server));
    assert_string_equal(tls_error(p->server), "unsupported protocol");
    close_pair(p);
}

static void test_tls_ctx_refuses_a_key_of_another_certificate(void **state)
{
    struct config_tls t = server_config(other_key_path);
    char err[256] = "";
    (void)state;

    assert_null(tls_ctx_create(&t, err, sizeof(err)));
    assert_non_null(strstr(err, "keyfile"));
    assert_non_null(strstr(err, other_key_path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_handshake_then_data_and_info),
        cmocka_unit_test(test_tls_read_stops_at_a_full_buffer_and_says_more_is_buffered),
        cmocka_unit_test(test_tls_write_outq_resumes_after_a_full_socket),
        cmocka_unit_test(test_tls_1_1_is_refused),
        cmocka_unit_test(test_tls_ctx_refuses_a_key_of_another_certificate),
    };

    return cmocka_run_group_tests(tests, make_pki, remove_pki);
}
