/* SPDX-License-Identifier: MIT */
/*
 * crashload: the load of the crash test (tests/blackbox/71_crash.py), a
 * rabbitmq-c client (librabbitmq, not our code, hence the amqp_ names). It runs
 * until the broker goes away (the test kills it with SIGKILL), logging every
 * event the test needs to check what the broker promised, one line each, on
 * stdout (fully buffered, flushed at exit and after "R").
 *
 *   crashload pub HOST PORT PUB FIRST_SEQ WINDOW RATE
 *       Publishes persistent messages PUB:SEQ:KEY:padding, SEQ = FIRST_SEQ,
 *       FIRST_SEQ+1, ..., to the durable direct exchange crash.x with publisher
 *       confirms, at most WINDOW unconfirmed, at most RATE per second. KEY and
 *       the padding follow from PUB and SEQ (crash_key, crash_fill below; the
 *       test has the same functions). Lines:
 *         R                 set up, publishing starts
 *         A TAG MULTIPLE    basic.ack from the broker (TAG 1 = FIRST_SEQ)
 *         N TAG MULTIPLE    basic.nack from the broker
 *         E LAST REASON     exit: LAST is the last SEQ handed to basic_publish
 *
 *   crashload sub HOST PORT QUEUE PREFETCH MULTI_PCT RATE SEED
 *       Consumes QUEUE with manual acks and prefetch PREFETCH, at most RATE
 *       deliveries per second (so that a backlog builds up). Each ack is a
 *       single one, or (MULTI_PCT percent of the time) the delivery waits to
 *       be covered by a later basic.ack multiple=true after 2..8 deliveries
 *       (or 5 ms without one). After every 20 acks the client publishes a
 *       persistent message to the durable queue crash.sync on the same
 *       channel (confirm mode): the broker handles a connection's frames in
 *       order and syncs its store batches in order, so that message's confirm
 *       means every ack sent before it is on disk. Lines:
 *         R                           consuming
 *         D TAG REDELIVERED PUB SEQ KEY   a delivery (its body checked)
 *         X TAG REDELIVERED LEN       a delivery whose body is not one we publish
 *         K TAG MULTIPLE              about to send basic.ack (it may not arrive)
 *         b N                         about to publish sync message N
 *         B N                         sync message N confirmed
 *         E REASON                    exit
 *
 *   crashload drain HOST PORT QUEUE
 *       basic.get with no-ack until get-empty; D lines (TAG 0), then "E empty".
 *
 * Exit status: 0 the broker went away, or the queue was drained; 1 a setup
 * step failed; 64 bad usage.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define EXCHANGE "crash.x"
#define SYNC_QUEUE "crash.sync"
#define SYNC_EVERY 20
#define MAX_BODY 4096

/* ---- what a message looks like (the test has the same two functions) ---- */

/* Routing key of message PUB:SEQ: "a" (queue crash.a), "b" (crash.b) or "ab" (both). */
static const char *crash_key(long pub, long seq)
{
    static const char *keys[] = {"a", "b", "a", "b", "ab"};
    return keys[(seq * 7 + pub) % 5];
}

/* The whole body of PUB:SEQ into buf (at least MAX_BODY bytes); returns its length. */
static size_t crash_fill(long pub, long seq, char *buf)
{
    int n = snprintf(buf, MAX_BODY, "%ld:%ld:%s:", pub, seq, crash_key(pub, seq));
    size_t len = (size_t)n + (size_t)((seq * 37 + pub * 11) % 1500);
    for (size_t i = (size_t)n; i < len; i++)
        buf[i] = (char)('a' + (long)(i + (size_t)seq) % 26);
    return len;
}

/* ---- plumbing ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_state;
static uint32_t rnd(uint32_t n)
{
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((rng_state >> 33) % n);
}

static int reply_ok(const char *step, amqp_rpc_reply_t r)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        printf("E %s:channel.close:%u\n", step, (unsigned)m->reply_code);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        printf("E %s:connection.close:%u\n", step, (unsigned)m->reply_code);
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        printf("E %s:library:%s\n", step, amqp_error_string2(r.library_error));
    } else {
        printf("E %s:failed\n", step);
    }
    return -1;
}

static amqp_connection_state_t open_conn(const char *host, int port)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    if (sock == NULL || amqp_socket_open(sock, host, port) != AMQP_STATUS_OK) {
        printf("E connect\n");
        amqp_destroy_connection(conn);
        return NULL;
    }
    if (reply_ok("login", amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest",
                                     "guest")) != 0) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    amqp_channel_open(conn, 1);
    if (reply_ok("channel.open", amqp_get_rpc_reply(conn)) != 0) {
        amqp_destroy_connection(conn);
        return NULL;
    }
    return conn;
}

static int confirm_mode(amqp_connection_state_t conn)
{
    amqp_confirm_select(conn, 1);
    return reply_ok("confirm.select", amqp_get_rpc_reply(conn));
}

static amqp_basic_properties_t persistent_props(void)
{
    amqp_basic_properties_t p;
    memset(&p, 0, sizeof(p));
    p._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    p.delivery_mode = 2;
    return p;
}

/* Waits up to `seconds` for a frame; 1 got one, 0 timeout, -1 the connection is gone. */
static int wait_frame(amqp_connection_state_t conn, amqp_frame_t *f, double seconds)
{
    struct timeval tv;
    if (seconds < 0)
        seconds = 0;
    tv.tv_sec = (time_t)seconds;
    tv.tv_usec = (suseconds_t)((seconds - (double)tv.tv_sec) * 1e6);
    int rc = amqp_simple_wait_frame_noblock(conn, f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return 0;
    if (rc != AMQP_STATUS_OK) {
        printf("E wait:%s\n", amqp_error_string2(rc));
        return -1;
    }
    return 1;
}

/* A method frame that ends the session (channel or connection closed by the broker). */
static int is_close(const amqp_frame_t *f)
{
    if (f->frame_type != AMQP_FRAME_METHOD)
        return 0;
    if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = f->payload.method.decoded;
        printf("E channel.close:%u\n", (unsigned)m->reply_code);
        return 1;
    }
    if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = f->payload.method.decoded;
        printf("E connection.close:%u\n", (unsigned)m->reply_code);
        return 1;
    }
    return 0;
}

/* ---- publisher ---- */

static int run_pub(amqp_connection_state_t conn, long pub, long first, long window, double rate)
{
    char body[MAX_BODY];
    amqp_basic_properties_t props = persistent_props();
    long next = first, confirmed_upto = 0, published = 0;
    double interval = 1.0 / rate, next_at = now_s();

    if (confirm_mode(conn) != 0)
        return 1;
    printf("R\n");
    fflush(stdout);
    for (;;) {
        double t = now_s();
        if (next_at < t - 0.05)
            next_at = t - 0.05; /* no burst after a stall */
        while (published - confirmed_upto < window && next_at <= t) {
            size_t len = crash_fill(pub, next, body);
            amqp_bytes_t b = {len, body};
            long seq = next++;
            published++;
            next_at += interval;
            if (amqp_basic_publish(conn, 1, amqp_cstring_bytes(EXCHANGE),
                                   amqp_cstring_bytes(crash_key(pub, seq)), 0, 0, &props,
                                   b) != AMQP_STATUS_OK) {
                printf("E %ld publish\n", seq);
                return 0;
            }
        }
        amqp_frame_t f;
        double wait = published - confirmed_upto < window ? next_at - now_s() : 0.2;
        int rc = wait_frame(conn, &f, wait);
        if (rc < 0 || (rc > 0 && is_close(&f))) {
            printf("E %ld gone\n", next - 1);
            return 0;
        }
        if (rc == 0 || f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            const amqp_basic_ack_t *a = f.payload.method.decoded;
            printf("A %llu %d\n", (unsigned long long)a->delivery_tag, (int)a->multiple);
            /* Leveret and RabbitMQ confirm in order on a channel. */
            if ((long)a->delivery_tag > confirmed_upto)
                confirmed_upto = (long)a->delivery_tag;
        } else if (f.payload.method.id == AMQP_BASIC_NACK_METHOD) {
            const amqp_basic_nack_t *a = f.payload.method.decoded;
            printf("N %llu %d\n", (unsigned long long)a->delivery_tag, (int)a->multiple);
            if ((long)a->delivery_tag > confirmed_upto)
                confirmed_upto = (long)a->delivery_tag;
        }
        amqp_maybe_release_buffers(conn);
    }
}

/* ---- consumer ---- */

/* Prints the D (or X) line of one delivered message. */
static void log_delivery(uint64_t tag, int redelivered, const amqp_bytes_t *body)
{
    char want[MAX_BODY];
    long pub, seq;
    int n = 0;
    if (body->len < MAX_BODY) {
        char head[64];
        size_t hl = body->len < sizeof(head) - 1 ? body->len : sizeof(head) - 1;
        memcpy(head, body->bytes, hl);
        head[hl] = 0;
        if (sscanf(head, "%ld:%ld:%n", &pub, &seq, &n) == 2 && n > 0 && pub >= 0 && seq >= 0) {
            size_t len = crash_fill(pub, seq, want);
            if (len == body->len && memcmp(want, body->bytes, len) == 0) {
                printf("D %llu %d %ld %ld %s\n", (unsigned long long)tag, redelivered, pub, seq,
                       crash_key(pub, seq));
                return;
            }
        }
    }
    printf("X %llu %d %zu\n", (unsigned long long)tag, redelivered, body->len);
}

static int send_ack(amqp_connection_state_t conn, uint64_t tag, int multiple)
{
    printf("K %llu %d\n", (unsigned long long)tag, multiple);
    return amqp_basic_ack(conn, 1, tag, multiple) == AMQP_STATUS_OK ? 0 : -1;
}

static void nap(double seconds)
{
    struct timespec ts = {0, (long)(seconds * 1e9)};
    nanosleep(&ts, NULL);
}

static int run_sub(amqp_connection_state_t conn, const char *queue, int prefetch,
                   uint32_t multi_pct, double rate)
{
    double next_at = now_s();
    amqp_basic_properties_t props = persistent_props();
    uint64_t held = 0; /* highest delivery tag waiting for an ack multiple (0: none) */
    uint32_t held_n = 0, batch = 0;
    double held_since = 0;
    unsigned acks = 0, sync_no = 0;
    int sync_out = 0;

    amqp_basic_qos(conn, 1, 0, (uint16_t)prefetch, 0);
    if (reply_ok("basic.qos", amqp_get_rpc_reply(conn)) != 0 || confirm_mode(conn) != 0)
        return 1;
    amqp_basic_consume(conn, 1, amqp_cstring_bytes(queue), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    if (reply_ok("basic.consume", amqp_get_rpc_reply(conn)) != 0)
        return 1;
    printf("R\n");
    fflush(stdout);
    for (;;) {
        if (held && (held_n >= batch || now_s() - held_since > 0.005)) {
            if (send_ack(conn, held, 1) != 0)
                break;
            held = 0;
            held_n = 0;
            acks++;
        }
        if (!sync_out && acks >= SYNC_EVERY) {
            amqp_bytes_t b = amqp_cstring_bytes("sync");
            printf("b %u\n", ++sync_no);
            if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(SYNC_QUEUE), 0, 0,
                                   &props, b) != AMQP_STATUS_OK)
                break;
            sync_out = 1;
            acks = 0;
        }
        double ahead = next_at - now_s();
        if (ahead > 0) {
            nap(ahead < 0.005 ? ahead : 0.005);
            continue;
        }
        amqp_frame_t f;
        int rc = wait_frame(conn, &f, held ? 0.005 : 0.2);
        if (rc < 0 || (rc > 0 && is_close(&f)))
            return 0;
        if (rc == 0 || f.frame_type != AMQP_FRAME_METHOD)
            continue;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            /* Only sync messages are published here, one at a time. */
            printf("B %u\n", sync_no);
            sync_out = 0;
        } else if (f.payload.method.id == AMQP_BASIC_DELIVER_METHOD) {
            const amqp_basic_deliver_t *d = f.payload.method.decoded;
            uint64_t tag = d->delivery_tag;
            int redelivered = d->redelivered;
            amqp_message_t msg;
            amqp_rpc_reply_t r = amqp_read_message(conn, 1, &msg, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                printf("E read_message\n");
                return 0;
            }
            log_delivery(tag, redelivered, &msg.body);
            amqp_destroy_message(&msg);
            next_at += 1.0 / rate;
            if (next_at < now_s() - 0.05)
                next_at = now_s() - 0.05;
            if (rnd(100) < multi_pct) {
                if (!held) {
                    held_since = now_s();
                    batch = 2 + rnd(7);
                }
                held = tag;
                held_n++;
            } else {
                if (held) { /* a single ack never overtakes a held multiple one */
                    if (send_ack(conn, held, 1) != 0)
                        break;
                    held = 0;
                    held_n = 0;
                    acks++;
                }
                if (send_ack(conn, tag, 0) != 0)
                    break;
                acks++;
            }
        }
        amqp_maybe_release_buffers(conn);
    }
    printf("E ack-or-publish-failed\n");
    return 0;
}

/* ---- drain ---- */

static int run_drain(amqp_connection_state_t conn, const char *queue)
{
    for (;;) {
        amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue), 1);
        if (reply_ok("basic.get", r) != 0)
            return 1;
        if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) {
            printf("E empty\n");
            return 0;
        }
        const amqp_basic_get_ok_t *g = r.reply.decoded;
        int redelivered = g->redelivered;
        amqp_message_t msg;
        if (reply_ok("read_message", amqp_read_message(conn, 1, &msg, 0)) != 0)
            return 1;
        log_delivery(0, redelivered, &msg.body);
        amqp_destroy_message(&msg);
        amqp_maybe_release_buffers(conn);
    }
}

int main(int argc, char **argv)
{
    static char outbuf[1 << 16];
    int rc;

    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    if (argc < 5 || (strcmp(argv[1], "pub") == 0 && argc != 8) ||
        (strcmp(argv[1], "sub") == 0 && argc != 9) ||
        (strcmp(argv[1], "drain") == 0 && argc != 5)) {
        fprintf(stderr, "usage: crashload pub HOST PORT PUB FIRST_SEQ WINDOW RATE\n"
                        "       crashload sub HOST PORT QUEUE PREFETCH MULTI_PCT RATE SEED\n"
                        "       crashload drain HOST PORT QUEUE\n");
        return 64;
    }
    amqp_connection_state_t conn = open_conn(argv[2], atoi(argv[3]));
    if (conn == NULL) {
        fflush(stdout);
        return 1;
    }
    if (strcmp(argv[1], "pub") == 0) {
        rc = run_pub(conn, atol(argv[4]), atol(argv[5]), atol(argv[6]), atof(argv[7]));
    } else if (strcmp(argv[1], "sub") == 0) {
        rng_state = strtoull(argv[8], NULL, 10) * 2654435761ULL + 1;
        rc = run_sub(conn, argv[4], atoi(argv[5]), (uint32_t)atoi(argv[6]), atof(argv[7]));
    } else {
        rc = run_drain(conn, argv[4]);
        if (rc == 0) {
            amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
            amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
        }
    }
    amqp_destroy_connection(conn);
    fflush(stdout);
    return rc;
}
