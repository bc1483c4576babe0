/* SPDX-License-Identifier: MIT */
/*
 * pubsub: a rabbitmq-c client for the black-box tests (librabbitmq, not our
 * code, hence the amqp_ names). Declares a direct exchange and a server-named
 * exclusive queue, binds them, publishes COUNT messages (the last one 300 kB, so
 * its body spans several frames), consumes them with prefetch 2 and acks each,
 * then checks that basic.get finds the queue empty. One line per step.
 *
 *   pubsub HOST PORT COUNT
 *
 * Exit status: 0 every step succeeded; 1 a step failed; 64 bad usage.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define BIG_SIZE (300 * 1024)

static int ok(const char *step, amqp_rpc_reply_t r)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL) {
        printf("%s: ok\n", step);
        return 0;
    }
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        printf("%s: channel.close %u %.*s\n", step, (unsigned)m->reply_code, (int)m->reply_text.len,
               (const char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        printf("%s: connection.close %u %.*s\n", step, (unsigned)m->reply_code,
               (int)m->reply_text.len, (const char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        printf("%s: library error: %s\n", step, amqp_error_string2(r.library_error));
    } else {
        printf("%s: failed (reply type %d)\n", step, (int)r.reply_type);
    }
    return -1;
}

static int run(amqp_connection_state_t conn, int count)
{
    amqp_channel_t ch = 1;
    amqp_channel_open(conn, ch);
    if (ok("channel.open", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_exchange_declare(conn, ch, amqp_cstring_bytes("c.pubsub"), amqp_cstring_bytes("direct"), 0,
                          0, 0, 0, amqp_empty_table);
    if (ok("exchange.declare", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_queue_declare_ok_t *q =
        amqp_queue_declare(conn, ch, amqp_empty_bytes, 0, 0, 1, 0, amqp_empty_table);
    if (ok("queue.declare", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_bytes_t qname = amqp_bytes_malloc_dup(q->queue);
    printf("queue: %.*s\n", (int)qname.len, (const char *)qname.bytes);
    amqp_queue_bind(conn, ch, qname, amqp_cstring_bytes("c.pubsub"), amqp_cstring_bytes("key"),
                    amqp_empty_table);
    if (ok("queue.bind", amqp_get_rpc_reply(conn)))
        return -1;

    char *big = malloc(BIG_SIZE);
    if (big == NULL)
        return -1;
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (char)('a' + i % 26);
    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("text/plain");
    props.delivery_mode = 1;
    for (int i = 0; i < count; i++) {
        char small[32];
        amqp_bytes_t body;
        if (i == count - 1) {
            body.bytes = big;
            body.len = BIG_SIZE;
        } else {
            snprintf(small, sizeof(small), "msg-%d", i);
            body = amqp_cstring_bytes(small);
        }
        if (amqp_basic_publish(conn, ch, amqp_cstring_bytes("c.pubsub"), amqp_cstring_bytes("key"),
                               0, 0, &props, body) != AMQP_STATUS_OK) {
            printf("basic.publish: failed\n");
            free(big);
            return -1;
        }
    }
    printf("published: %d\n", count);

    amqp_basic_qos(conn, ch, 0, 2, 0);
    if (ok("basic.qos", amqp_get_rpc_reply(conn))) {
        free(big);
        return -1;
    }
    amqp_basic_consume(conn, ch, qname, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (ok("basic.consume", amqp_get_rpc_reply(conn))) {
        free(big);
        return -1;
    }
    int in_order = 1;
    int big_ok = 0;
    int got = 0;
    while (got < count) {
        amqp_envelope_t env;
        struct timeval tv = {5, 0};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            ok("consume", r);
            free(big);
            return -1;
        }
        if (got == count - 1) {
            big_ok = env.message.body.len == BIG_SIZE &&
                     memcmp(env.message.body.bytes, big, BIG_SIZE) == 0;
        } else {
            char want[32];
            snprintf(want, sizeof(want), "msg-%d", got);
            if (env.message.body.len != strlen(want) ||
                memcmp(env.message.body.bytes, want, strlen(want)) != 0)
                in_order = 0;
        }
        if (env.message.properties.content_type.len != 10)
            in_order = 0;
        if (amqp_basic_ack(conn, ch, env.delivery_tag, 0) != AMQP_STATUS_OK) {
            printf("basic.ack: failed\n");
            amqp_destroy_envelope(&env);
            free(big);
            return -1;
        }
        amqp_destroy_envelope(&env);
        got++;
    }
    free(big);
    printf("consumed: %d in_order=%d big_intact=%d\n", got, in_order, big_ok);

    amqp_channel_open(conn, 2);
    if (ok("channel.open 2", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_rpc_reply_t r = amqp_basic_get(conn, 2, qname, 1);
    if (ok("basic.get", r))
        return -1;
    printf("basic.get: %s\n", r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD ? "empty" : "message");
    amqp_bytes_free(qname);
    if (ok("channel.close", amqp_channel_close(conn, ch, AMQP_REPLY_SUCCESS)))
        return -1;
    return in_order && big_ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: pubsub HOST PORT COUNT\n");
        return 64;
    }
    int count = atoi(argv[3]);
    if (count < 1)
        return 64;
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {5, 0};
    if (sock == NULL || amqp_socket_open_noblock(sock, argv[1], atoi(argv[2]), &tv)) {
        printf("connect: failed\n");
        return 1;
    }
    if (ok("login", amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")))
        return 1;
    int rc = run(conn, count);
    if (ok("connection.close", amqp_connection_close(conn, AMQP_REPLY_SUCCESS)))
        rc = -1;
    amqp_destroy_connection(conn);
    return rc == 0 ? 0 : 1;
}
