/* SPDX-License-Identifier: MIT */
/*
 * tls_client: a rabbitmq-c client over TLS for the black-box tests
 * (librabbitmq's OpenSSL socket, not our code, hence the amqp_ names).
 * Verifies the server's certificate and host name against CACERT, offers
 * TLS 1.2 and later, optionally presents a client certificate, logs in, then
 * publishes COUNT messages of mixed sizes (up to 300 kB, so bodies span
 * frames and TLS records) to a server-named exclusive queue and consumes
 * them back, checking every byte. One line per step.
 *
 *   tls_client HOST PORT CACERT COUNT [CERT KEY]
 *
 * Exit status: 0 every step succeeded; 3 the TLS connection or the login
 * failed; 1 a later step failed; 64 bad usage.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

static const size_t sizes[] = {0, 1, 700, 5000, 16384, 40000, 300 * 1024};

static int ok(const char *step, amqp_rpc_reply_t r)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        printf("%s: ok\n", step);
        return 0;
    }
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION)
        printf("%s: library error: %s\n", step, amqp_error_string2(r.library_error));
    else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION)
        printf("%s: server method 0x%08x\n", step, (unsigned)r.reply.id);
    else
        printf("%s: failed (reply type %d)\n", step, (int)r.reply_type);
    return -1;
}

static void fill(char *p, size_t n, int seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (char)((i * 31 + (size_t)seed * 7) & 0xff);
}

static int run(amqp_connection_state_t conn, int count)
{
    amqp_channel_t ch = 1;
    size_t max = sizes[sizeof(sizes) / sizeof(sizes[0]) - 1];
    char *want = malloc(max), *body = malloc(max);
    int intact = 1, got = 0, rc = -1;

    if (!want || !body)
        goto out;
    amqp_channel_open(conn, ch);
    if (ok("channel.open", amqp_get_rpc_reply(conn)))
        goto out;
    amqp_queue_declare_ok_t *q =
        amqp_queue_declare(conn, ch, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
    if (ok("queue.declare", amqp_get_rpc_reply(conn)))
        goto out;
    amqp_bytes_t qname = amqp_bytes_malloc_dup(q->queue);
    for (int i = 0; i < count; i++) {
        amqp_bytes_t b = {sizes[(size_t)i % (sizeof(sizes) / sizeof(sizes[0]))], body};
        fill(body, b.len, i);
        if (amqp_basic_publish(conn, ch, amqp_empty_bytes, qname, 0, 0, NULL, b) !=
            AMQP_STATUS_OK) {
            printf("basic.publish: failed\n");
            amqp_bytes_free(qname);
            goto out;
        }
    }
    printf("published: %d\n", count);
    amqp_basic_consume(conn, ch, qname, amqp_empty_bytes, 0, 1, 0, amqp_empty_table);
    amqp_bytes_free(qname);
    if (ok("basic.consume", amqp_get_rpc_reply(conn)))
        goto out;
    while (got < count) {
        amqp_envelope_t env;
        struct timeval tv = {10, 0};
        size_t n = sizes[(size_t)got % (sizeof(sizes) / sizeof(sizes[0]))];

        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            ok("consume", r);
            goto out;
        }
        fill(want, n, got);
        if (env.message.body.len != n || (n && memcmp(env.message.body.bytes, want, n) != 0))
            intact = 0;
        amqp_destroy_envelope(&env);
        got++;
    }
    printf("consumed: %d intact=%d\n", got, intact);
    rc = intact ? 0 : -1;
out:
    free(want);
    free(body);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 7) {
        fprintf(stderr, "usage: tls_client HOST PORT CACERT COUNT [CERT KEY]\n");
        return 64;
    }
    int count = atoi(argv[4]);
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_ssl_socket_new(conn);
    struct timeval tv = {5, 0};
    int rc;

    if (count < 1 || sock == NULL) {
        amqp_destroy_connection(conn);
        return 64;
    }
    amqp_ssl_socket_set_verify_peer(sock, 1);
    amqp_ssl_socket_set_verify_hostname(sock, 1);
    if (amqp_ssl_socket_set_ssl_versions(sock, AMQP_TLSv1_2, AMQP_TLSvLATEST) != AMQP_STATUS_OK ||
        amqp_ssl_socket_set_cacert(sock, argv[3]) != AMQP_STATUS_OK ||
        (argc == 7 && amqp_ssl_socket_set_key(sock, argv[5], argv[6]) != AMQP_STATUS_OK)) {
        printf("tls setup: failed\n");
        amqp_destroy_connection(conn);
        return 1;
    }
    rc = amqp_socket_open_noblock(sock, argv[1], atoi(argv[2]), &tv);
    if (rc != AMQP_STATUS_OK) {
        printf("socket: %s\n", amqp_error_string2(rc));
        amqp_destroy_connection(conn);
        return 3;
    }
    printf("socket: ok\n");
    if (ok("login",
           amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"))) {
        amqp_destroy_connection(conn);
        return 3;
    }
    rc = run(conn, count);
    if (ok("connection.close", amqp_connection_close(conn, AMQP_REPLY_SUCCESS)))
        rc = -1;
    amqp_destroy_connection(conn);
    return rc == 0 ? 0 : 1;
}
