/* SPDX-License-Identifier: MIT */
/*
 * Benchmark (not a test): publish-to-confirm latency of persistent messages.
 * A rabbitmq-c client (librabbitmq, not our code, hence the amqp_ names) that
 * works against any AMQP 0-9-1 broker: tests/bench/confirm_latency.sh runs it
 * against RabbitMQ and Leveret side by side.
 *
 * One publisher connection publishes persistent --size byte messages to a
 * durable queue through the default exchange, with publisher confirms:
 *   --rate R    at R messages per second (an open-loop schedule; a message
 *               whose slot comes while --window are unconfirmed waits and is
 *               counted as late), or
 *   --rate 0    flat out, at most --window unconfirmed (the confirm-persistent
 *               scenario of ../shared/bench/compare.sh: window 256).
 * A consumer connection (its own thread; --no-consumer turns it off) drains
 * the queue with prefetch 100, acking every message with multiple=true, as
 * that scenario does. The publisher records when each message was handed to
 * the socket and when the basic.ack covering it was read (multiple=true acks
 * cover every earlier unconfirmed tag); messages published during the first
 * --warmup seconds are not counted. Prints one JSON line on stdout:
 * p50/p90/p99/p99.9/max publish-to-confirm latency in microseconds, confirmed
 * messages per second over the measured window, and counts; a summary on stderr.
 *
 *   confirm_latency --port P [--host 127.0.0.1] [--queue confirm-latency]
 *       [--size 1024] [--rate 0] [--window 256] [--duration 10] [--warmup 1]
 *       [--no-consumer] [--label TEXT]
 *
 * Build: make bench-confirm (build/plain/bench/confirm_latency).
 * Exit status: 0 ok; 1 the broker refused something or went away; 64 bad usage.
 */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

struct cfg {
    const char *host, *queue, *label;
    int port;
    size_t size;
    double rate, duration, warmup;
    long window;
    int consumer;
};
static struct cfg C = {"127.0.0.1", "confirm-latency", "", 0, 1024, 0, 10, 1, 256, 1};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "confirm_latency: %s: %s\n", what, detail);
    printf("{\"label\":\"%s\",\"status\":\"error\",\"error\":\"%s: %s\"}\n", C.label, what, detail);
    exit(1);
}

static void check_reply(const char *what, amqp_rpc_reply_t r)
{
    char buf[160];
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return;
    if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION && r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const amqp_channel_close_t *m = r.reply.decoded;
        snprintf(buf, sizeof(buf), "channel.close %u", (unsigned)m->reply_code);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const amqp_connection_close_t *m = r.reply.decoded;
        snprintf(buf, sizeof(buf), "connection.close %u", (unsigned)m->reply_code);
    } else if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(buf, sizeof(buf), "%s", amqp_error_string2(r.library_error));
    } else {
        snprintf(buf, sizeof(buf), "reply type %d", (int)r.reply_type);
    }
    die(what, buf);
}

static amqp_connection_state_t connect_broker(void)
{
    amqp_connection_state_t conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    int one = 1;

    if (sock == NULL || amqp_socket_open(sock, C.host, C.port) != AMQP_STATUS_OK)
        die("connect", strerror(errno));
    /* Latency is the point: no Nagle on our side either. */
    setsockopt(amqp_socket_get_sockfd(sock), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    check_reply("login",
                amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest"));
    amqp_channel_open(conn, 1);
    check_reply("channel.open", amqp_get_rpc_reply(conn));
    return conn;
}

/* ---- consumer thread ---- */

static atomic_int stop_consumer;
static atomic_uint_fast64_t consumed;

static void *consumer_main(void *arg)
{
    amqp_connection_state_t conn = arg;

    while (!atomic_load(&stop_consumer)) {
        amqp_envelope_t env;
        struct timeval tv = {0, 100000};
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT)
            continue;
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            if (!atomic_load(&stop_consumer))
                fprintf(stderr, "confirm_latency: consumer stopped (reply type %d)\n",
                        (int)r.reply_type);
            break;
        }
        amqp_basic_ack(conn, 1, env.delivery_tag, 1);
        amqp_destroy_envelope(&env);
        atomic_fetch_add(&consumed, 1);
    }
    return NULL;
}

/* ---- publisher ---- */

/* Send time of each delivery tag (index = tag), 0 once confirmed. */
static uint64_t *sent_at;
static size_t sent_cap;
static uint64_t *lat; /* latencies (ns) of measured messages */
static size_t nlat, lat_cap;
static uint64_t published, confirmed, nacked, late, measured_from_tag;

static void push_lat(uint64_t v)
{
    if (nlat == lat_cap) {
        lat_cap = lat_cap ? lat_cap * 2 : 65536;
        lat = realloc(lat, lat_cap * sizeof(*lat));
        if (!lat)
            die("memory", "latency array");
    }
    lat[nlat++] = v;
}

static uint64_t low_tag = 1; /* lowest tag that may still be unconfirmed */

static void settle(uint64_t tag, int multiple, int nack, uint64_t t)
{
    uint64_t from = multiple ? low_tag : tag;
    if (tag > published)
        die("protocol", "confirm of a tag never published");
    for (uint64_t i = from; i <= tag; i++) {
        if (!sent_at[i])
            continue;
        if (nack)
            nacked++;
        else if (i >= measured_from_tag)
            push_lat(t - sent_at[i]);
        confirmed++;
        sent_at[i] = 0;
    }
    while (low_tag <= published && !sent_at[low_tag])
        low_tag++;
}

/* Handles one frame; returns 0, or dies. */
static void handle_frame(const amqp_frame_t *f, uint64_t t)
{
    if (f->frame_type != AMQP_FRAME_METHOD)
        return;
    switch (f->payload.method.id) {
    case AMQP_BASIC_ACK_METHOD: {
        const amqp_basic_ack_t *a = f->payload.method.decoded;
        settle(a->delivery_tag, a->multiple, 0, t);
        break;
    }
    case AMQP_BASIC_NACK_METHOD: {
        const amqp_basic_nack_t *a = f->payload.method.decoded;
        settle(a->delivery_tag, a->multiple, 1, t);
        break;
    }
    case AMQP_CHANNEL_CLOSE_METHOD:
        die("publish", "channel closed by the broker");
        break;
    case AMQP_CONNECTION_CLOSE_METHOD:
        die("publish", "connection closed by the broker");
        break;
    default:
        break;
    }
}

/* Reads frames for up to wait_ns (then everything already buffered). */
static void pump(amqp_connection_state_t conn, uint64_t wait_ns)
{
    amqp_frame_t f;
    struct timeval tv = {(time_t)(wait_ns / 1000000000u),
                         (suseconds_t)((wait_ns % 1000000000u) / 1000u)};
    int rc = amqp_simple_wait_frame_noblock(conn, &f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT)
        return;
    if (rc != AMQP_STATUS_OK)
        die("publisher connection", amqp_error_string2(rc));
    handle_frame(&f, now_ns());
    while (amqp_frames_enqueued(conn) || amqp_data_in_buffer(conn)) {
        struct timeval zero = {0, 0};
        rc = amqp_simple_wait_frame_noblock(conn, &f, &zero);
        if (rc == AMQP_STATUS_TIMEOUT)
            break;
        if (rc != AMQP_STATUS_OK)
            die("publisher connection", amqp_error_string2(rc));
        handle_frame(&f, now_ns());
    }
}

static void publish_one(amqp_connection_state_t conn, amqp_bytes_t body,
                        const amqp_basic_properties_t *props)
{
    if (published + 2 > sent_cap) {
        sent_cap = sent_cap ? sent_cap * 2 : 1 << 20;
        sent_at = realloc(sent_at, sent_cap * sizeof(*sent_at));
        if (!sent_at)
            die("memory", "send times");
    }
    published++;
    sent_at[published] = now_ns();
    if (amqp_basic_publish(conn, 1, amqp_empty_bytes, amqp_cstring_bytes(C.queue), 0, 0, props,
                           body) != AMQP_STATUS_OK)
        die("publish", "basic.publish failed");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile in microseconds. */
static double pct_us(double p)
{
    if (!nlat)
        return 0;
    size_t k = (size_t)(p / 100.0 * (double)nlat + 0.999999);
    if (k < 1)
        k = 1;
    if (k > nlat)
        k = nlat;
    return (double)lat[k - 1] / 1000.0;
}

static void usage(void)
{
    fprintf(stderr, "usage: confirm_latency --port P [--host H] [--queue Q] [--size N]\n"
                    "         [--rate R (0 = flat out)] [--window W] [--duration S]\n"
                    "         [--warmup S] [--no-consumer] [--label TEXT]\n");
    exit(64);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--no-consumer") == 0) {
            C.consumer = 0;
            continue;
        }
        if (v == NULL)
            usage();
        i++;
        if (strcmp(a, "--port") == 0)
            C.port = atoi(v);
        else if (strcmp(a, "--host") == 0)
            C.host = v;
        else if (strcmp(a, "--queue") == 0)
            C.queue = v;
        else if (strcmp(a, "--label") == 0)
            C.label = v;
        else if (strcmp(a, "--size") == 0)
            C.size = (size_t)atol(v);
        else if (strcmp(a, "--rate") == 0)
            C.rate = atof(v);
        else if (strcmp(a, "--window") == 0)
            C.window = atol(v);
        else if (strcmp(a, "--duration") == 0)
            C.duration = atof(v);
        else if (strcmp(a, "--warmup") == 0)
            C.warmup = atof(v);
        else
            usage();
    }
    if (C.port <= 0 || C.window < 1 || C.duration <= 0 || C.warmup < 0 || C.rate < 0)
        usage();

    amqp_connection_state_t pub = connect_broker();
    amqp_queue_declare(pub, 1, amqp_cstring_bytes(C.queue), 0, 1, 0, 0, amqp_empty_table);
    check_reply("queue.declare", amqp_get_rpc_reply(pub));
    amqp_queue_purge(pub, 1, amqp_cstring_bytes(C.queue));
    check_reply("queue.purge", amqp_get_rpc_reply(pub));
    amqp_confirm_select(pub, 1);
    check_reply("confirm.select", amqp_get_rpc_reply(pub));

    pthread_t th;
    amqp_connection_state_t sub = NULL;
    if (C.consumer) {
        sub = connect_broker();
        amqp_basic_qos(sub, 1, 0, 100, 0);
        check_reply("basic.qos", amqp_get_rpc_reply(sub));
        amqp_basic_consume(sub, 1, amqp_cstring_bytes(C.queue), amqp_empty_bytes, 0, 0, 0,
                           amqp_empty_table);
        check_reply("basic.consume", amqp_get_rpc_reply(sub));
        if (pthread_create(&th, NULL, consumer_main, sub) != 0)
            die("thread", "pthread_create");
    }

    char *buf = malloc(C.size ? C.size : 1);
    if (!buf)
        die("memory", "body");
    memset(buf, 'x', C.size);
    amqp_bytes_t body = {C.size, buf};
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.delivery_mode = 2;

    uint64_t t0 = now_ns();
    uint64_t t_measure = t0 + (uint64_t)(C.warmup * 1e9);
    uint64_t t_end = t_measure + (uint64_t)(C.duration * 1e9);
    uint64_t interval = C.rate > 0 ? (uint64_t)(1e9 / C.rate) : 0;
    uint64_t next_at = t0;
    measured_from_tag = UINT64_MAX;
    for (;;) {
        uint64_t t = now_ns();
        if (t >= t_end)
            break;
        if (measured_from_tag == UINT64_MAX && t >= t_measure)
            measured_from_tag = published + 1;
        uint64_t outstanding = published - confirmed;
        uint64_t wait = 100000000u; /* 100 ms */
        if (interval) {
            while (next_at <= t && outstanding < (uint64_t)C.window) {
                if (t - next_at > interval)
                    late++;
                publish_one(pub, body, &props);
                outstanding++;
                next_at += interval;
            }
            if (outstanding < (uint64_t)C.window)
                wait = next_at > t ? next_at - t : 0;
        } else {
            while (outstanding < (uint64_t)C.window) {
                publish_one(pub, body, &props);
                outstanding++;
            }
        }
        pump(pub, wait);
    }
    /* Collect the confirms still due (at most 10 s). */
    uint64_t deadline = now_ns() + 10000000000u;
    while (published > confirmed && now_ns() < deadline)
        pump(pub, 100000000u);
    uint64_t t_done = now_ns();

    /* The measured window: from t_measure to t_end; its throughput counts the
     * measured messages, which may have been confirmed a little after t_end. */
    double window_s = (double)(t_end - t_measure) / 1e9;
    uint64_t measured = measured_from_tag <= published ? published - measured_from_tag + 1 : 0;
    qsort(lat, nlat, sizeof(*lat), cmp_u64);
    double sum = 0;
    for (size_t i = 0; i < nlat; i++)
        sum += (double)lat[i];

    if (C.consumer) {
        atomic_store(&stop_consumer, 1);
        pthread_join(th, NULL);
        amqp_channel_close(sub, 1, AMQP_REPLY_SUCCESS);
        amqp_connection_close(sub, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(sub);
    }
    amqp_queue_delete(pub, 1, amqp_cstring_bytes(C.queue), 0, 0);
    amqp_get_rpc_reply(pub);
    amqp_channel_close(pub, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(pub, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(pub);

    const char *status = published > confirmed ? "unconfirmed" : "ok";
    printf("{\"label\":\"%s\",\"mode\":\"%s\",\"rate\":%g,\"window\":%ld,\"size\":%zu,"
           "\"duration_s\":%.3f,\"published\":%" PRIu64 ",\"measured\":%" PRIu64
           ",\"confirmed\":%" PRIu64 ",\"nacked\":%" PRIu64 ",\"late\":%" PRIu64
           ",\"consumed\":%" PRIu64 ",\"confirmed_per_s\":%.1f,\"latency_p50_us\":%.1f,"
           "\"latency_p90_us\":%.1f,\"latency_p99_us\":%.1f,\"latency_p999_us\":%.1f,"
           "\"latency_max_us\":%.1f,\"latency_mean_us\":%.1f,\"status\":\"%s\"}\n",
           C.label, C.rate > 0 ? "rate" : "flat", C.rate, C.window, C.size, window_s, published,
           measured, confirmed, nacked, late, (uint64_t)atomic_load(&consumed),
           (double)nlat / window_s, pct_us(50), pct_us(90), pct_us(99), pct_us(99.9),
           nlat ? (double)lat[nlat - 1] / 1000.0 : 0, nlat ? sum / (double)nlat / 1000.0 : 0,
           status);
    fprintf(stderr,
            "%s%s%s: %" PRIu64 " measured, %.0f confirmed/s, p50 %.0f us, p99 %.0f us, "
            "p99.9 %.0f us, max %.0f us, late %" PRIu64 ", tail %.2f s\n",
            C.label, *C.label ? " " : "", C.rate > 0 ? "rate" : "flat", (uint64_t)nlat,
            (double)nlat / window_s, pct_us(50), pct_us(99), pct_us(99.9),
            nlat ? (double)lat[nlat - 1] / 1000.0 : 0, late, (double)(t_done - t_end) / 1e9);
    free(buf);
    free(sent_at);
    free(lat);
    return published > confirmed ? 1 : 0;
}
