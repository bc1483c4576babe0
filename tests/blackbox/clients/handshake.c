/* SPDX-License-Identifier: MIT */
/*
 * handshake: a rabbitmq-c client for the black-box tests (librabbitmq, not our
 * code, hence the amqp_ names). Logs in with PLAIN, opens channel 1, closes it,
 * closes the connection, printing one line per step.
 *
 *   handshake HOST PORT USER PASSWORD [VHOST]
 *
 * Exit status: 0 all steps succeeded; 2 the server refused the login with
 * connection.close (its code and text are printed); 3 the login failed
 * otherwise; 1 a later step failed; 64 bad usage.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>

static int print_reply(const char *step, amqp_rpc_reply_t r)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        printf("%s: ok\n", step);
        return 0;
    case AMQP_RESPONSE_NONE:
        printf("%s: missing reply\n", step);
        return -1;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        printf("%s: library error: %s\n", step, amqp_error_string2(r.library_error));
        return -1;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            const amqp_connection_close_t *m = r.reply.decoded;
            printf("%s: connection.close %u %.*s\n", step, (unsigned)m->reply_code,
                   (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            const amqp_channel_close_t *m = r.reply.decoded;
            printf("%s: channel.close %u %.*s\n", step, (unsigned)m->reply_code,
                   (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            printf("%s: unexpected server method 0x%08x\n", step, (unsigned)r.reply.id);
        }
        return -1;
    }
    printf("%s: unknown reply type\n", step);
    return -1;
}

int main(int argc, char **argv)
{
    if (argc < 5 || argc > 6) {
        fprintf(stderr, "usage: %s HOST PORT USER PASSWORD [VHOST]\n", argv[0]);
        return 64;
    }
    const char *host = argv[1];
    int port = atoi(argv[2]);
    const char *vhost = argc == 6 ? argv[5] : "/";

    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    if (sock == NULL) {
        printf("socket: cannot create\n");
        amqp_destroy_connection(conn);
        return 1;
    }
    struct timeval tv = {.tv_sec = 5, .tv_usec = 0};
    int rc = amqp_socket_open_noblock(sock, host, port, &tv);
    if (rc != AMQP_STATUS_OK) {
        printf("socket: %s\n", amqp_error_string2(rc));
        amqp_destroy_connection(conn);
        return 1;
    }
    printf("socket: ok\n");

    /* channel_max 0 and frame_max 131072 take the server's values (or lower);
       heartbeat 0 disables heartbeats. */
    amqp_rpc_reply_t r =
        amqp_login(conn, vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, argv[3], argv[4]);
    if (print_reply("login", r) != 0) {
        int status = 3;
        if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
            r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_ok_t ok = {0};
            amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
            status = 2;
        }
        amqp_destroy_connection(conn);
        return status;
    }
    printf("tuned: channel_max=%d frame_max=%d heartbeat=%d\n", amqp_get_channel_max(conn),
           amqp_get_frame_max(conn), amqp_get_heartbeat(conn));

    int status = 0;
    amqp_channel_open(conn, 1);
    if (print_reply("channel.open", amqp_get_rpc_reply(conn)) != 0)
        status = 1;
    if (status == 0 &&
        print_reply("channel.close", amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS)) != 0)
        status = 1;
    if (print_reply("connection.close", amqp_connection_close(conn, AMQP_REPLY_SUCCESS)) != 0)
        status = 1;
    rc = amqp_destroy_connection(conn);
    if (rc != AMQP_STATUS_OK) {
        printf("destroy: %s\n", amqp_error_string2(rc));
        status = 1;
    }
    return status;
}
