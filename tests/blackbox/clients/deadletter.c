/* SPDX-License-Identifier: MIT */
/*
 * deadletter: a rabbitmq-c client for the black-box tests (librabbitmq, not our
 * code, hence the amqp_ names). Declares the fanout exchange c.dlx bound to the
 * queue c.dlq and the queue c.work dead-lettering into c.dlx; publishes c-msg
 * to c.work, fetches it with basic.get and nacks it with requeue=false, then
 * fetches the dead letter from c.dlq and prints its headers, one line each:
 *
 *   x-death: array of N
 *   x-death[I].KEY: T VALUE      T is the field type letter on the wire
 *   x-first-death-queue: T VALUE
 *
 * Strings print as themselves, arrays of strings as [a,b], timestamps as
 * "recent" when within a minute of now (else the number).
 *
 *   deadletter HOST PORT
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
#include <time.h>
#include <unistd.h>

static int ok(const char *step, amqp_rpc_reply_t r)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
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

static void print_value(const amqp_field_value_t *v)
{
    switch (v->kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        printf("%.*s", (int)v->value.bytes.len, (const char *)v->value.bytes.bytes);
        break;
    case AMQP_FIELD_KIND_I64:
        printf("%lld", (long long)v->value.i64);
        break;
    case AMQP_FIELD_KIND_I32:
        printf("%d", (int)v->value.i32);
        break;
    case AMQP_FIELD_KIND_TIMESTAMP: {
        long long d = (long long)v->value.u64 - (long long)time(NULL);
        if (d > -60 && d < 60)
            printf("recent");
        else
            printf("%llu", (unsigned long long)v->value.u64);
        break;
    }
    case AMQP_FIELD_KIND_ARRAY:
        printf("[");
        for (int i = 0; i < v->value.array.num_entries; i++) {
            if (i)
                printf(",");
            print_value(&v->value.array.entries[i]);
        }
        printf("]");
        break;
    default:
        printf("(kind %c)", (char)v->kind);
    }
}

static void print_headers(const amqp_table_t *h)
{
    for (int i = 0; i < h->num_entries; i++) {
        const amqp_table_entry_t *e = &h->entries[i];
        const amqp_field_value_t *v = &e->value;
        if (e->key.len == 7 && memcmp(e->key.bytes, "x-death", 7) == 0) {
            if (v->kind != AMQP_FIELD_KIND_ARRAY) {
                printf("x-death: kind %c\n", (char)v->kind);
                continue;
            }
            printf("x-death: array of %d\n", v->value.array.num_entries);
            for (int j = 0; j < v->value.array.num_entries; j++) {
                const amqp_field_value_t *t = &v->value.array.entries[j];
                if (t->kind != AMQP_FIELD_KIND_TABLE) {
                    printf("x-death[%d]: kind %c\n", j, (char)t->kind);
                    continue;
                }
                for (int k = 0; k < t->value.table.num_entries; k++) {
                    const amqp_table_entry_t *f = &t->value.table.entries[k];
                    printf("x-death[%d].%.*s: %c ", j, (int)f->key.len, (const char *)f->key.bytes,
                           (char)f->value.kind);
                    print_value(&f->value);
                    printf("\n");
                }
            }
            continue;
        }
        printf("%.*s: %c ", (int)e->key.len, (const char *)e->key.bytes, (char)v->kind);
        print_value(v);
        printf("\n");
    }
}

/* basic.get on queue until a message arrives (at most ~3 s); fills *msg and
 * the get-ok fields. Returns 0, or -1 after printing why. */
static int get_one(amqp_connection_state_t conn, amqp_channel_t ch, const char *queue, int no_ack,
                   amqp_message_t *msg, uint64_t *tag, char *exchange, char *key)
{
    for (int tries = 0; tries < 150; tries++) {
        amqp_rpc_reply_t r = amqp_basic_get(conn, ch, amqp_cstring_bytes(queue), no_ack);
        if (ok("basic.get", r))
            return -1;
        if (r.reply.id == AMQP_BASIC_GET_OK_METHOD) {
            const amqp_basic_get_ok_t *g = r.reply.decoded;
            *tag = g->delivery_tag;
            snprintf(exchange, 256, "%.*s", (int)g->exchange.len, (const char *)g->exchange.bytes);
            snprintf(key, 256, "%.*s", (int)g->routing_key.len, (const char *)g->routing_key.bytes);
            return ok("read message", amqp_read_message(conn, ch, msg, 0));
        }
        usleep(20000);
    }
    printf("basic.get: %s stayed empty\n", queue);
    return -1;
}

static int run(amqp_connection_state_t conn)
{
    amqp_channel_t ch = 1;
    amqp_message_t msg;
    uint64_t tag;
    char exchange[256], key[256];

    amqp_channel_open(conn, ch);
    if (ok("channel.open", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_exchange_declare(conn, ch, amqp_cstring_bytes("c.dlx"), amqp_cstring_bytes("fanout"), 0, 0,
                          0, 0, amqp_empty_table);
    if (ok("exchange.declare", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_queue_declare(conn, ch, amqp_cstring_bytes("c.dlq"), 0, 0, 0, 0, amqp_empty_table);
    if (ok("queue.declare c.dlq", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_queue_bind(conn, ch, amqp_cstring_bytes("c.dlq"), amqp_cstring_bytes("c.dlx"),
                    amqp_empty_bytes, amqp_empty_table);
    if (ok("queue.bind", amqp_get_rpc_reply(conn)))
        return -1;
    amqp_table_entry_t arg;
    arg.key = amqp_cstring_bytes("x-dead-letter-exchange");
    arg.value.kind = AMQP_FIELD_KIND_UTF8;
    arg.value.value.bytes = amqp_cstring_bytes("c.dlx");
    amqp_table_t args = {1, &arg};
    amqp_queue_declare(conn, ch, amqp_cstring_bytes("c.work"), 0, 0, 0, 0, args);
    if (ok("queue.declare c.work", amqp_get_rpc_reply(conn)))
        return -1;

    amqp_basic_properties_t props;
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG;
    props.content_type = amqp_cstring_bytes("text/plain");
    if (amqp_basic_publish(conn, ch, amqp_empty_bytes, amqp_cstring_bytes("c.work"), 0, 0, &props,
                           amqp_cstring_bytes("c-msg")) != AMQP_STATUS_OK) {
        printf("basic.publish: failed\n");
        return -1;
    }

    if (get_one(conn, ch, "c.work", 0, &msg, &tag, exchange, key))
        return -1;
    amqp_destroy_message(&msg);
    if (amqp_basic_nack(conn, ch, tag, 0, 0) != AMQP_STATUS_OK) {
        printf("basic.nack: failed\n");
        return -1;
    }
    printf("basic.nack: requeue=0\n");

    if (get_one(conn, ch, "c.dlq", 1, &msg, &tag, exchange, key))
        return -1;
    printf("dlq: body=%.*s exchange=%s routing_key=%s\n", (int)msg.body.len,
           (const char *)msg.body.bytes, exchange, key);
    if (msg.properties._flags & AMQP_BASIC_HEADERS_FLAG)
        print_headers(&msg.properties.headers);
    else
        printf("headers: none\n");
    amqp_destroy_message(&msg);
    return ok("channel.close", amqp_channel_close(conn, ch, AMQP_REPLY_SUCCESS));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: deadletter HOST PORT\n");
        return 64;
    }
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    struct timeval tv = {5, 0};
    if (sock == NULL || amqp_socket_open_noblock(sock, argv[1], atoi(argv[2]), &tv)) {
        printf("connect: failed\n");
        return 1;
    }
    if (ok("login", amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest")))
        return 1;
    int rc = run(conn);
    if (ok("connection.close", amqp_connection_close(conn, AMQP_REPLY_SUCCESS)))
        rc = -1;
    amqp_destroy_connection(conn);
    return rc == 0 ? 0 : 1;
}
