/* SPDX-License-Identifier: MIT */
#include "broker/conn.h"

#include <errno.h>
#include <ev.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "amqp/frame.h"
#include "amqp/table.h"
#include "broker/alarm.h"
#include "broker/auth.h"
#include "broker/buf.h"
#include "broker/chan.h"
#include "broker/config.h"
#include "broker/handlers_gen.h"
#include "broker/log.h"
#include "broker/loop.h"
#include "broker/msg.h"
#include "broker/outq.h"
#include "broker/paging.h"
#include "broker/stats.h"
#include "broker/tls.h"
#include "broker/vhost.h"
#include "queue/queue.h"
#include "broker/version.h"

/* Output above HIGH stops reading from the peer until it drains below LOW:
 * a client that does not read what we send cannot make us buffer without
 * bound, because we stop taking the requests that produce the output. */
#define OUT_HIGH_WATER (1u << 20)
#define OUT_LOW_WATER (256u << 10)
/* How long we wait for close-ok, or for the last bytes to drain, before dropping. */
#define CLOSE_TIMEOUT_S 5.0

/* Channels live in a two-level table of 64-slot blocks allocated on demand, so
 * a connection with one channel pays for one small block, not channel_max slots. */
#define CHAN_BLOCK_SHIFT 6
#define CHAN_BLOCK_SIZE (1u << CHAN_BLOCK_SHIFT)

enum {
    PAUSE_OUTPUT = 1u << 0,  /* output above high water */
    PAUSE_BLOCKED = 1u << 1, /* resource alarm (connection.blocked) */
    PAUSE_FLOW = 1u << 2,    /* publisher outrunning a queue's consumers, or memory budget */
};

/* Flow control, RabbitMQ-style: a publisher whose messages pile up in a queue
 * that has consumers (or that pushes queued bytes over the memory budget) is
 * not read from until the backlog halves. */
#define FLOW_QUEUE_HIGH 20000
#define FLOW_QUEUE_LOW 10000

struct conn {
    ev_io rio, wio;
    ev_timer timer;
    struct loop *loop;
    int fd;
    enum conn_state state;
    uint8_t paused;
    bool freeing;
    bool flush_queued;
    bool cap_blocked;       /* client understands connection.blocked */
    bool cap_cancel_notify; /* ... and server-sent basic.cancel */
    bool held_deliveries;   /* consumers stopped taking because output was full */
    bool blocked_sent;
    uint8_t hdr_len;
    uint8_t hdr[8];
    uint16_t channel_max;
    uint16_t heartbeat;
    uint16_t nblocks;
    uint16_t nchans; /* channels open (counted against channel_max) */
    uint32_t frame_max;
    uint64_t id;
    ev_tstamp last_rx, last_tx, deadline;
    ev_tstamp last_wprog; /* when the peer last took some of our output */
    int rx_waiting;       /* unread input bytes seen while output-paused (FIONREAD) */
    struct frame_reader *fr;
    struct outq out;
    struct tls_conn *tls;   /* NULL on a plain TCP connection */
    struct auth_user *user; /* a reference, dropped in conn_destroy */
    char *vhost;
    struct vhost *vh;
    struct queue *flow_q;   /* the queue that made us pause for flow (a reference) */
    uint64_t flow_conn;     /* ... or the connection whose output did (its id; 0: none) */
    struct conn *flow_next; /* in the list of flow-paused connections */
    uint8_t *stash;         /* input read but not handled when blocked (owned) */
    size_t stash_len;
    struct chan **confirming; /* channels with confirms to send after this read */
    size_t nconfirming, capconfirming;
    struct chan ***blocks;
    struct conn *prev, *next; /* every live connection (see conn__for_each) */
    uint8_t *client_props;    /* copy of start-ok client-properties (table contents) */
    size_t client_props_len;
    uint64_t recv_oct, send_oct;
    double connected_at; /* wall clock, seconds */
    char peer[48];
};

/* The process has one loop, so the list of live connections is module state. */
static struct conn *all_conns;
static uint64_t next_conn_id = 1;

typedef void io_cb_fn(struct ev_loop *ev, ev_io *w, int revents);
typedef void timer_cb_fn(struct ev_loop *ev, ev_timer *w, int revents);
static io_cb_fn on_read, on_write;
static timer_cb_fn on_timer;

static void arm_timer(struct conn *c);
static void fail_and_hang_up(struct conn *c, const struct proto_err *err);
static void flow_unlink(struct conn *c);
static void resume_deliveries(struct conn *c);

/* ---- accessors ---- */

uint64_t conn_id(const struct conn *c)
{
    return c->id;
}

const char *conn_peer(const struct conn *c)
{
    return c->peer;
}

bool conn_local_addr(const struct conn *c, struct sockaddr_storage *ss)
{
    socklen_t len = sizeof(*ss);

    memset(ss, 0, sizeof(*ss));
    return getsockname(c->fd, (struct sockaddr *)ss, &len) == 0;
}

struct loop *conn_loop(struct conn *c)
{
    return c->loop;
}

const struct auth_user *conn_user(const struct conn *c)
{
    return c->user;
}

const char *conn_vhost(const struct conn *c)
{
    return c->vhost ? c->vhost : "";
}

uint32_t conn_frame_max(const struct conn *c)
{
    return c->frame_max;
}

uint16_t conn_channel_max(const struct conn *c)
{
    return c->channel_max;
}

enum conn_state conn_state(const struct conn *c)
{
    return c->state;
}

bool conn_is_closed(const struct conn *c)
{
    return c->state == CONN_CLOSED;
}

void conn__for_each(struct loop *l, void (*fn)(struct conn *, void *), void *arg);
void conn__for_each(struct loop *l, void (*fn)(struct conn *, void *), void *arg)
{
    struct conn *c = all_conns, *next;
    for (; c; c = next) {
        next = c->next;
        if (c->loop == l)
            fn(c, arg);
    }
}

/* ---- lifecycle ---- */

struct conn *conn_create(struct loop *l, int fd, const char *peer, struct tls_ctx *tls)
{
    struct conn *c = xcalloc(1, sizeof(*c));
    const struct config *cfg = loop_config(l);
    ev_tstamp now = ev_now(loop_ev(l));

    c->loop = l;
    c->fd = fd;
    c->id = next_conn_id++;
    snprintf(c->peer, sizeof(c->peer), "%s", peer);
    c->state = CONN_AWAIT_HEADER;
    c->frame_max = SPEC_FRAME_MIN_SIZE;
    c->channel_max = cfg->channel_max;
    c->last_rx = c->last_tx = now;
    c->deadline = now + cfg->handshake_timeout;
    c->connected_at = ev_time();
    stats.connection_created++;
    c->next = all_conns;
    if (all_conns)
        all_conns->prev = c;
    all_conns = c;

    if (tls)
        c->tls = tls_conn_create(tls, fd);
    ev_io_init(&c->rio, on_read, fd, EV_READ);
    ev_io_init(&c->wio, on_write, fd, EV_WRITE);
    ev_init(&c->timer, on_timer);
    ev_io_start(loop_ev(l), &c->rio);
    arm_timer(c);
    log_debug("conn %" PRIu64 ": accepted from %s", c->id, c->peer);
    return c;
}

static void destroy_chans(struct conn *c)
{
    for (uint16_t b = 0; b < c->nblocks; b++) {
        if (!c->blocks[b])
            continue;
        for (unsigned i = 0; i < CHAN_BLOCK_SIZE; i++)
            chan_destroy(c->blocks[b][i]);
        free(c->blocks[b]);
    }
    free(c->blocks);
    c->blocks = NULL;
    c->nblocks = 0;
}

void conn_destroy(struct conn *c)
{
    struct ev_loop *ev = loop_ev(c->loop);

    /* Stop every watcher before the fd goes (libev: disappearing fds). */
    ev_io_stop(ev, &c->rio);
    ev_io_stop(ev, &c->wio);
    ev_timer_stop(ev, &c->timer);
    tls_conn_destroy(c->tls);
    close(c->fd);
    destroy_chans(c);
    /* Exclusive queues die with their connection (after its channels have
     * requeued what they held). */
    vhost_delete_exclusive(c->id);
    flow_unlink(c);
    free(c->confirming);
    if (c->prev)
        c->prev->next = c->next;
    else
        all_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    frame_reader_destroy(c->fr);
    free(c->stash);
    outq_free(&c->out);
    free(c->vhost);
    free(c->client_props);
    auth_user_unref(&c->user);
    stats.connection_closed++;
    log_debug("conn %" PRIu64 ": freed", c->id);
    free(c);
}

void conn_close_now(struct conn *c)
{
    struct ev_loop *ev = loop_ev(c->loop);

    if (c->freeing)
        return;
    c->freeing = true;
    c->state = CONN_CLOSED;
    ev_io_stop(ev, &c->rio);
    ev_io_stop(ev, &c->wio);
    ev_timer_stop(ev, &c->timer);
    loop_defer_free(c->loop, c);
}

/* Stop reading, let the output drain, then free (bounded by CLOSE_TIMEOUT_S). */
static void close_after_flush(struct conn *c)
{
    if (c->freeing)
        return;
    c->state = CONN_CLOSED;
    ev_io_stop(loop_ev(c->loop), &c->rio);
    c->deadline = ev_now(loop_ev(c->loop)) + CLOSE_TIMEOUT_S;
    arm_timer(c);
    loop_want_flush(c->loop, c);
    c->flush_queued = true;
}

/* ---- input pausing ---- */

static void update_reading(struct conn *c)
{
    struct ev_loop *ev = loop_ev(c->loop);
    /* Once we sent connection.close only close-ok matters: read it even
     * while paused (a blocked publisher must still be able to go). */
    bool want = (!c->paused || c->state == CONN_CLOSING) && c->state != CONN_CLOSED && !c->freeing;

    /* A TLS write waiting for the peer's bytes needs reading, paused or not. */
    if (c->tls && !want && !c->freeing && tls_write_wants_read(c->tls))
        want = true;
    if (want && !ev_is_active(&c->rio)) {
        /* We were not reading, so the peer's silence meanwhile proves nothing. */
        c->last_rx = ev_now(ev);
        ev_io_start(ev, &c->rio);
        /* Bytes OpenSSL read earlier do not make the socket readable, and
         * input kept back while blocked is handled even if it stays quiet. */
        if ((c->tls && tls_has_buffered(c->tls)) || c->stash)
            ev_feed_event(ev, &c->rio, EV_READ);
    } else if (!want && ev_is_active(&c->rio))
        ev_io_stop(ev, &c->rio);
}

/* Resource alarms, RabbitMQ's way (rabbit_reader control_throttle): a
 * connection is blocked when it publishes while an alarm is raised, not when
 * the alarm is raised, so a connection that only consumes and acknowledges
 * keeps running; once blocked it is not read from (acks included) until
 * every alarm has cleared. connection.blocked is sent once per blocking, even
 * if another alarm joins; connection.unblocked when the last one clears. */
static void block(struct conn *c, unsigned alarms)
{
    struct spec_method m;

    c->paused |= PAUSE_BLOCKED;
    if (c->state == CONN_OPEN && c->cap_blocked && !c->blocked_sent) {
        memset(&m, 0, sizeof(m));
        m.id = SPEC_CONNECTION_BLOCKED;
        m.u.connection_blocked.reason = view_str(alarm_reason(alarms));
        conn_send_method(c, 0, &m);
        c->blocked_sent = true;
    }
    update_reading(c);
}

static void unblock(struct conn *c)
{
    struct spec_method m;

    c->paused &= (uint8_t)~PAUSE_BLOCKED;
    if (c->blocked_sent) {
        if (c->state == CONN_OPEN) {
            memset(&m, 0, sizeof(m));
            m.id = SPEC_CONNECTION_UNBLOCKED;
            conn_send_method(c, 0, &m);
        }
        c->blocked_sent = false;
    }
    update_reading(c);
}

void conn_alarms_changed(unsigned alarms)
{
    if (alarms)
        return; /* nobody is blocked before it publishes again */
    for (struct conn *c = all_conns, *next; c; c = next) {
        next = c->next;
        if (c->paused & PAUSE_BLOCKED)
            unblock(c);
    }
}

/* ---- output ---- */

struct buf *conn_output(struct conn *c)
{
    return outq_buf(&c->out);
}

void conn_output_done(struct conn *c)
{
    outq_commit(&c->out);
    if (!c->flush_queued && !c->freeing) {
        c->flush_queued = true;
        loop_want_flush(c->loop, c);
    }
    if (outq_pending(&c->out) > OUT_HIGH_WATER && !(c->paused & PAUSE_OUTPUT)) {
        c->paused |= PAUSE_OUTPUT;
        update_reading(c);
    }
}

void conn_send_method(struct conn *c, uint16_t ch, const struct spec_method *m)
{
    if (c->freeing)
        return;
    frame_put_method(outq_buf(&c->out), ch, m);
    conn_output_done(c);
}

/* Bodies up to this size are copied into the output buffer: for small
 * messages one memcpy is cheaper than an extra iovec and a reference. */
#define COPY_BODY_MAX 512

void conn_send_content(struct conn *c, uint16_t ch, const struct spec_method *m, struct msg *msg)
{
    struct buf *b = outq_buf(&c->out);
    struct view body = msg_body(msg), props = msg_props(msg);
    uint32_t max = c->frame_max - FRAME_OVERHEAD;

    if (c->freeing)
        return;
    frame_put_method(b, ch, m);
    frame_put_content_header(b, ch, body.n, props);
    if (body.n <= COPY_BODY_MAX) {
        frame_put_body(b, ch, body, c->frame_max);
    } else {
        /* Re-framed to this connection's frame_max: only the 7-byte frame
         * headers and the end octets are new; the body is referenced. */
        for (size_t off = 0; off < body.n; off += max) {
            size_t len = body.n - off < max ? body.n - off : max;
            uint8_t *h = buf_reserve(b, FRAME_HEADER_SIZE);
            h[0] = SPEC_FRAME_BODY;
            put_be16(h + 1, ch);
            put_be32(h + 3, (uint32_t)len);
            b->len += FRAME_HEADER_SIZE;
            outq_put_slice(&c->out, msg, off, len);
            buf_put_u8(b, SPEC_FRAME_END);
        }
    }
    conn_output_done(c);
}

/* conn_flush's write for TLS; *blocked: 1 wait for writability, 2 for
 * readability (update_reading then keeps the read watcher on). */
static ssize_t tls_flush(struct conn *c, int *blocked)
{
    enum tls_status st;
    ssize_t n = tls_write_outq(c->tls, &c->out, &st);

    *blocked = 0;
    if (n >= 0 && outq_pending(&c->out)) {
        *blocked = st == TLS_WANT_READ ? 2 : 1;
        if (*blocked == 2)
            update_reading(c);
    }
    return n;
}

void conn_flush(struct conn *c)
{
    struct ev_loop *ev = loop_ev(c->loop);

    c->flush_queued = false;
    if (c->freeing)
        return;
    if (outq_pending(&c->out)) {
        int blocked;
        ssize_t n = c->tls ? tls_flush(c, &blocked) : outq_write(&c->out, c->fd, &blocked);

        if (n < 0) {
            log_debug("conn %" PRIu64 ": write: %s", c->id,
                      c->tls ? tls_error(c->tls) : strerror(errno));
            conn_close_now(c);
            return;
        }
        if (n > 0) {
            c->last_tx = c->last_wprog = ev_now(ev);
            c->send_oct += (uint64_t)n;
        }
        if ((c->paused & PAUSE_OUTPUT) && outq_pending(&c->out) < OUT_LOW_WATER) {
            c->paused &= (uint8_t)~PAUSE_OUTPUT;
            update_reading(c);
        }
        if (c->held_deliveries && outq_pending(&c->out) < OUT_LOW_WATER)
            resume_deliveries(c);
        if (blocked) {
            if (blocked == 1 && !ev_is_active(&c->wio))
                ev_io_start(ev, &c->wio);
            return;
        }
    }
    /* (A TLS handshake or read may be waiting for writability.) */
    if (ev_is_active(&c->wio) && !(c->tls && tls_read_wants_write(c->tls)))
        ev_io_stop(ev, &c->wio);
    if (c->state == CONN_CLOSED) {
        conn_close_now(c);
        return;
    }
}

static void on_write(struct ev_loop *ev, ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, wio);
    (void)revents;
    if (c->tls && tls_read_wants_write(c->tls) && ev_is_active(&c->rio))
        ev_feed_event(ev, &c->rio, EV_READ); /* the handshake (or a read) can go on */
    conn_flush(c);
}

/* ---- errors and closing ---- */

void conn__reply_text(const struct proto_err *err, char text[256])
{
    const char *name = spec_reply_name(err->code);

    /* RabbitMQ prefixes every reply text with the code's name; a shortstr
     * holds 255 bytes, so a longer text ends in "..." after 252 of them
     * (rabbit_binary_generator). */
    if (snprintf(text, 256, "%s - %s", name ? name : "ERROR", err->text) > 255)
        memcpy(text + 252, "...", 4);
}

static void send_close(struct conn *c, const struct proto_err *err)
{
    struct spec_method m;
    char text[256];

    conn__reply_text(err, text);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_CLOSE;
    m.u.connection_close.reply_code = err->code;
    m.u.connection_close.reply_text = view_str(text);
    m.u.connection_close.class_id = err->class_id;
    m.u.connection_close.method_id = err->method_id;
    conn_send_method(c, 0, &m);
}

void conn_fail(struct conn *c, const struct proto_err *err)
{
    if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
        return;
    if (c->state != CONN_OPEN) {
        /* Before connection.open there is nothing to wind down: say why, and
         * hang up once it is written (RabbitMQ closes without waiting too). */
        fail_and_hang_up(c, err);
        return;
    }
    {
        /* Reply texts quote client-chosen names: escaped, they cannot forge lines. */
        char shown[LOG_TEXT_MAX];
        log_warn("conn %" PRIu64 " (%s): closing: %u %s (class %u method %u)", c->id, c->peer,
                 (unsigned)err->code, log_escape(view_str(err->text), shown, sizeof(shown)),
                 (unsigned)err->class_id, (unsigned)err->method_id);
    }
    send_close(c, err);
    c->state = CONN_CLOSING;
    c->deadline = ev_now(loop_ev(c->loop)) + CLOSE_TIMEOUT_S;
    arm_timer(c);
    update_reading(c);
}

/* A framing error leaves the byte stream unusable: report it and hang up. */
static void fail_and_hang_up(struct conn *c, const struct proto_err *err)
{
    if (c->state != CONN_CLOSING && c->state != CONN_CLOSED) {
        char shown[LOG_TEXT_MAX];
        log_warn("conn %" PRIu64 " (%s): closing: %u %s", c->id, c->peer, (unsigned)err->code,
                 log_escape(view_str(err->text), shown, sizeof(shown)));
        send_close(c, err);
    }
    close_after_flush(c);
}

void conn_force_close(struct conn *c, const char *why)
{
    struct proto_err err = {0};

    if (c->state != CONN_OPEN) {
        /* Still in the handshake: just hang up, as RabbitMQ does. */
        if (c->state != CONN_CLOSING && c->state != CONN_CLOSED)
            conn_close_now(c);
        return;
    }
    err_set(&err, SPEC_CONNECTION_FORCED, "%s", why);
    conn_fail(c, &err);
}

void conn__peer_closed(struct conn *c)
{
    struct spec_method m;

    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_CLOSE_OK;
    conn_send_method(c, 0, &m);
    log_debug("conn %" PRIu64 ": closed by client", c->id);
    close_after_flush(c);
}

void conn__close_ok(struct conn *c)
{
    close_after_flush(c);
}

/* ---- timers: handshake deadline, heartbeats, close timeout ---- */

static void arm_timer(struct conn *c)
{
    struct ev_loop *ev = loop_ev(c->loop);
    ev_tstamp now = ev_now(ev), next = 0;
    bool armed = false;

    if (c->state != CONN_OPEN) {
        next = c->deadline;
        armed = true;
    }
    if (c->heartbeat && c->state != CONN_CLOSED && c->state >= CONN_AWAIT_OPEN) {
        ev_tstamp hb = c->last_rx + 2.0 * c->heartbeat; /* silent peer deadline */
        ev_tstamp tx = c->last_tx + c->heartbeat / 2.0; /* when we owe a heartbeat */
        if (tx < hb)
            hb = tx;
        if (!armed || hb < next)
            next = hb;
        armed = true;
    }
    ev_timer_stop(ev, &c->timer);
    if (!armed)
        return;
    ev_timer_set(&c->timer, next > now ? next - now : 0.001, 0.);
    ev_timer_start(ev, &c->timer);
}

/* Called once nothing has been read for two heartbeat intervals. */
static bool peer_is_silent(struct conn *c, ev_tstamp now)
{
    int waiting = 0;

    /* Not reading because of flow control or an alarm: the silence proves
     * nothing (RabbitMQ pauses its heartbeat monitor while blocked). The
     * window restarts, so the timer waits a full one instead of firing at
     * once again (update_reading restarts it too when reading resumes). */
    if (c->paused & (PAUSE_BLOCKED | PAUSE_FLOW)) {
        c->last_rx = now;
        return false;
    }
    if (!(c->paused & PAUSE_OUTPUT))
        return true;
    /* Not reading because the peer does not take what we send. A live peer
     * still makes progress one way or the other: it takes some output, or
     * more of its input (its heartbeats) waits in our socket. A peer that
     * vanished without a FIN (half-open) does neither and is dropped like a
     * silent one; otherwise it would hold its output buffer for ever. */
    if (ioctl(c->fd, FIONREAD, &waiting) == 0 && waiting != c->rx_waiting) {
        c->rx_waiting = waiting;
        c->last_rx = now;
        return false;
    }
    if (c->last_wprog > c->last_rx)
        c->last_rx = c->last_wprog;
    return now >= c->last_rx + 2.0 * c->heartbeat;
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct conn *c = container_of(w, struct conn, timer);
    ev_tstamp now = ev_now(ev);
    (void)revents;

    if (c->state != CONN_OPEN && now >= c->deadline) {
        if (c->state == CONN_CLOSING || c->state == CONN_CLOSED)
            log_info("conn %" PRIu64 " (%s): close timed out", c->id, c->peer);
        else
            log_warn("conn %" PRIu64 " (%s): handshake timed out", c->id, c->peer);
        conn_close_now(c);
        return;
    }
    if (c->heartbeat && c->state >= CONN_AWAIT_OPEN && c->state != CONN_CLOSED) {
        if (now >= c->last_rx + 2.0 * c->heartbeat && peer_is_silent(c, now)) {
            log_warn("conn %" PRIu64 " (%s): missed heartbeats from client, timeout: %us", c->id,
                     c->peer, (unsigned)c->heartbeat);
            conn_close_now(c);
            return;
        }
        if (now >= c->last_tx + c->heartbeat / 2.0) {
            frame_put_heartbeat(outq_buf(&c->out));
            conn_output_done(c);
            /* last_tx moves when the bytes are written; assume soon. */
            c->last_tx = now;
        }
    }
    arm_timer(c);
}

/* ---- handshake ---- */

/* connection.start's server-properties are the same for every connection:
 * encode them once. */
static struct view server_properties(void)
{
    static struct buf props;
    static size_t start;

    if (!props.len) {
        char host[128] = "localhost", cluster[160];
        size_t top, caps;

        gethostname(host, sizeof(host) - 1);
        snprintf(cluster, sizeof(cluster), "leveret@%s", host);
        top = table_open(&props);
        start = props.len;
        caps = table_open_table(&props, "capabilities");
        table_put_bool(&props, "publisher_confirms", true);
        table_put_bool(&props, "exchange_exchange_bindings", true);
        table_put_bool(&props, "basic.nack", true);
        table_put_bool(&props, "consumer_cancel_notify", true);
        table_put_bool(&props, "connection.blocked", true);
        table_put_bool(&props, "consumer_priorities", true);
        table_put_bool(&props, "authentication_failure_close", true);
        table_put_bool(&props, "per_consumer_qos", true);
        table_put_bool(&props, "direct_reply_to", true);
        table_close(&props, caps);
        table_put_longstr(&props, "cluster_name", view_str(cluster));
        table_put_longstr(&props, "copyright", VIEW_LIT(LEVERET_COPYRIGHT));
        table_put_longstr(&props, "information", VIEW_LIT(LEVERET_INFORMATION));
        table_put_longstr(&props, "platform", VIEW_LIT(LEVERET_PLATFORM));
        table_put_longstr(&props, "product", VIEW_LIT(LEVERET_PRODUCT));
        table_put_longstr(&props, "version", VIEW_LIT(LEVERET_VERSION));
        table_close(&props, top);
    }
    return (struct view){props.p + start, props.len - start};
}

static void send_start(struct conn *c)
{
    struct spec_method m;

    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_START;
    m.u.connection_start.version_major = 0;
    m.u.connection_start.version_minor = 9;
    m.u.connection_start.server_properties = server_properties();
    m.u.connection_start.mechanisms = VIEW_LIT("PLAIN AMQPLAIN");
    m.u.connection_start.locales = VIEW_LIT("en_US");
    conn_send_method(c, 0, &m);
}

void conn__set_user_take(struct conn *c, struct auth_user *u, struct view client_props)
{
    struct table_value caps, v;

    c->user = u;
    c->client_props = xmalloc(client_props.n);
    if (client_props.n)
        memcpy(c->client_props, client_props.p, client_props.n);
    c->client_props_len = client_props.n;
    if (table_get(client_props, "capabilities", &caps) && caps.type == TABLE_TABLE) {
        if (table_get(caps.v.table, "connection.blocked", &v) && v.type == TABLE_BOOL)
            c->cap_blocked = v.v.b;
        if (table_get(caps.v.table, "consumer_cancel_notify", &v) && v.type == TABLE_BOOL)
            c->cap_cancel_notify = v.v.b;
    }
}

void conn__send_tune(struct conn *c)
{
    const struct config *cfg = loop_config(c->loop);
    struct spec_method m;

    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_TUNE;
    m.u.connection_tune.channel_max = cfg->channel_max;
    m.u.connection_tune.frame_max = cfg->frame_max;
    m.u.connection_tune.heartbeat = cfg->heartbeat;
    conn_send_method(c, 0, &m);
    c->state = CONN_AWAIT_TUNE_OK;
}

/* RabbitMQ's rule (rabbit_reader validate_negotiated_integer_value): a client
 * value below the minimum, or above the server's (0 counting as unlimited,
 * hence above), is refused with 530 NOT_ALLOWED. */
static int check_negotiated(const char *field, uint32_t client, uint32_t min, uint32_t server,
                            struct proto_err *err)
{
    if (client != 0 && client < min)
        return err_set(err, SPEC_NOT_ALLOWED,
                       "negotiated %s = %u is lower than the minimum allowed value (%u)", field,
                       (unsigned)client, (unsigned)min);
    if (server != 0 && (client == 0 || client > server))
        return err_set(err, SPEC_NOT_ALLOWED,
                       "negotiated %s = %u%s is higher than the maximum allowed value (%u)", field,
                       (unsigned)client,
                       /* RabbitMQ words a 0 channel_max (only that one) this way */
                       client == 0 && strcmp(field, "channel_max") == 0 ? " (no limit)" : "",
                       (unsigned)server);
    return 0;
}

int conn__tune(struct conn *c, uint16_t channel_max, uint32_t frame_max, uint16_t heartbeat,
               struct proto_err *err)
{
    const struct config *cfg = loop_config(c->loop);

    if (check_negotiated("frame_max", frame_max, SPEC_FRAME_MIN_SIZE, cfg->frame_max, err) < 0 ||
        check_negotiated("channel_max", channel_max, 1, cfg->channel_max, err) < 0)
        return -1;
    c->frame_max = frame_max;
    c->channel_max = channel_max;
    c->heartbeat = heartbeat;
    frame_reader_set_max(c->fr, frame_max);
    c->state = CONN_AWAIT_OPEN;
    arm_timer(c);
    return 0;
}

void conn__open(struct conn *c, struct view vhost)
{
    struct spec_method m;

    free(c->vhost);
    c->vhost = xstrndup_view(vhost);
    c->vh = vhost_find(vhost);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CONNECTION_OPEN_OK;
    conn_send_method(c, 0, &m);
    c->state = CONN_OPEN;
    arm_timer(c);
    log_info("conn %" PRIu64 " (%s): user '%s' opened vhost '%s'", c->id, c->peer,
             auth_user_name(c->user), c->vhost);
}

/* ---- delivery, confirms and flow control, for broker/chan.c ---- */

struct vhost *conn_vh(const struct conn *c)
{
    return c->vh;
}

bool conn_wants_cancel_notify(const struct conn *c)
{
    return c->cap_cancel_notify;
}

bool conn_can_deliver(struct conn *c)
{
    if (c->freeing || c->state != CONN_OPEN)
        return false;
    if (outq_pending(&c->out) < OUT_HIGH_WATER)
        return true;
    /* Remember to wake the consumers once the socket drains. */
    c->held_deliveries = true;
    return false;
}

void conn__confirms_pending(struct conn *c, struct chan *ch)
{
    if (c->nconfirming == c->capconfirming) {
        c->capconfirming = c->capconfirming ? c->capconfirming * 2 : 4;
        c->confirming = xrealloc(c->confirming, c->capconfirming * sizeof(*c->confirming));
    }
    c->confirming[c->nconfirming++] = ch;
}

void conn__confirms_forget(struct conn *c, struct chan *ch)
{
    for (size_t i = 0; i < c->nconfirming; i++)
        if (c->confirming[i] == ch)
            c->confirming[i] = NULL;
}

static void flush_confirms(struct conn *c)
{
    for (size_t i = 0; i < c->nconfirming; i++)
        if (c->confirming[i])
            chan__flush_confirms(c->confirming[i]);
    c->nconfirming = 0;
}

static struct conn *flow_paused; /* connections paused by PAUSE_FLOW */

static void flow_unlink(struct conn *c)
{
    for (struct conn **pp = &flow_paused; *pp; pp = &(*pp)->flow_next) {
        if (*pp == c) {
            *pp = c->flow_next;
            break;
        }
    }
    c->flow_next = NULL;
    queue_unref(&c->flow_q);
}

static void flow_pause(struct conn *c)
{
    c->paused |= PAUSE_FLOW;
    c->flow_next = flow_paused;
    flow_paused = c;
    update_reading(c);
}

void conn__note_publish(struct conn *c, struct queue *q)
{
    /* A publish during a resource alarm blocks the connection (RabbitMQ:
     * publish_received). The message itself has been taken already. */
    if (alarm_active() && !(c->paused & PAUSE_BLOCKED))
        block(c, alarm_active());
    if (c->paused & PAUSE_FLOW)
        return;
    if (q && !(queue_ready_count(q) > FLOW_QUEUE_HIGH && queue_consumer_count(q) > 0))
        q = NULL;
    /* Past limits.memory_budget messages are paged out; pause only when
     * that cannot keep up (broker/paging.h). */
    if (!q && !paging_memory_high())
        return;
    c->flow_q = q ? queue_ref(q) : NULL;
    flow_pause(c);
}

void conn__note_reply(struct conn *c, struct conn *target)
{
    if (c == target || (c->paused & PAUSE_FLOW) || outq_pending(&target->out) <= OUT_HIGH_WATER)
        return;
    c->flow_conn = target->id;
    flow_pause(c);
}

/* Whether the connection c is paused for is still above its low-water mark. */
static bool flow_target_full(uint64_t id)
{
    struct conn *t = id ? conn_find(id) : NULL;

    return t && !t->freeing && t->state == CONN_OPEN && outq_pending(&t->out) > OUT_LOW_WATER;
}

void conn__flow_poll(const struct config *cfg)
{
    struct conn **pp = &flow_paused;

    (void)cfg; /* the budget is paging's (broker/paging.h) */
    while (*pp) {
        struct conn *c = *pp;
        struct queue *q = c->flow_q;
        bool go = paging_memory_ok();
        if (q && !queue_is_deleted(q) && queue_consumer_count(q) > 0 &&
            queue_ready_count(q) > FLOW_QUEUE_LOW)
            go = false;
        if (flow_target_full(c->flow_conn))
            go = false;
        if (!go) {
            pp = &c->flow_next;
            continue;
        }
        *pp = c->flow_next;
        c->flow_next = NULL;
        queue_unref(&c->flow_q);
        c->flow_conn = 0;
        c->paused &= (uint8_t)~PAUSE_FLOW;
        update_reading(c);
    }
}

static void resume_deliveries(struct conn *c)
{
    c->held_deliveries = false;
    for (uint16_t b = 0; b < c->nblocks; b++) {
        if (!c->blocks[b])
            continue;
        for (unsigned i = 0; i < CHAN_BLOCK_SIZE && !c->held_deliveries; i++)
            if (c->blocks[b][i])
                chan__resume_deliveries(c->blocks[b][i]);
    }
}

/* ---- channels ---- */

struct chan *conn_chan(struct conn *c, uint16_t n)
{
    unsigned b = (unsigned)n >> CHAN_BLOCK_SHIFT;

    if (b >= c->nblocks || !c->blocks[b])
        return NULL;
    return c->blocks[b][n & (CHAN_BLOCK_SIZE - 1)];
}

static struct chan *add_chan(struct conn *c, uint16_t n)
{
    unsigned b = (unsigned)n >> CHAN_BLOCK_SHIFT;
    struct chan *ch;

    if (b >= c->nblocks) {
        uint16_t nb = (uint16_t)(b + 1);
        c->blocks = xrealloc(c->blocks, nb * sizeof(*c->blocks));
        memset(c->blocks + c->nblocks, 0, (nb - c->nblocks) * sizeof(*c->blocks));
        c->nblocks = nb;
    }
    if (!c->blocks[b])
        c->blocks[b] = xcalloc(CHAN_BLOCK_SIZE, sizeof(**c->blocks));
    ch = chan_create(c, n);
    c->blocks[b][n & (CHAN_BLOCK_SIZE - 1)] = ch;
    c->nchans++;
    return ch;
}

void conn__chan_gone(struct conn *c, uint16_t n)
{
    unsigned b = (unsigned)n >> CHAN_BLOCK_SHIFT;

    if (b < c->nblocks && c->blocks[b] && c->blocks[b][n & (CHAN_BLOCK_SIZE - 1)]) {
        c->blocks[b][n & (CHAN_BLOCK_SIZE - 1)] = NULL;
        c->nchans--;
    }
}

/* ---- frames in ---- */

static void fail_method(struct conn *c, uint32_t id, struct proto_err *err)
{
    err->class_id = (uint16_t)(id >> 16);
    err->method_id = (uint16_t)id;
    conn_fail(c, err);
}

/* The method each handshake state waits for. */
static uint32_t expected_method(enum conn_state s)
{
    switch (s) {
    case CONN_AWAIT_START_OK:
        return SPEC_CONNECTION_START_OK;
    case CONN_AWAIT_TUNE_OK:
        return SPEC_CONNECTION_TUNE_OK;
    case CONN_AWAIT_OPEN:
        return SPEC_CONNECTION_OPEN;
    default:
        return 0;
    }
}

static void handle_channel0(struct conn *c, const struct frame *f)
{
    struct proto_err err = {0};
    struct spec_method m;
    int st;

    if (f->type != SPEC_FRAME_METHOD) {
        err_set(&err, SPEC_UNEXPECTED_FRAME, "frame type %u is not allowed on channel 0",
                (unsigned)f->type);
        conn_fail(c, &err);
        return;
    }
    st = spec_decode_method(f->payload.p, f->payload.n, &m);
    if (st != SPEC_OK) {
        err_set(&err, spec_status_reply_code(st), "%s", spec_status_text(st));
        if (f->payload.n >= 4)
            fail_method(c, get_be32(f->payload.p), &err);
        else
            conn_fail(c, &err);
        return;
    }
    if (c->state == CONN_CLOSING) {
        /* After our connection.close only close and close-ok matter. */
        if (m.id == SPEC_CONNECTION_CLOSE_OK)
            conn__close_ok(c);
        else if (m.id == SPEC_CONNECTION_CLOSE)
            conn__peer_closed(c);
        return;
    }
    if ((m.id >> 16) != SPEC_CLASS_CONNECTION) {
        err_set(&err, SPEC_CHANNEL_ERROR, "%s is not allowed on channel 0", spec_method_name(m.id));
        fail_method(c, m.id, &err);
        return;
    }
    if (c->state != CONN_OPEN && m.id != expected_method(c->state) &&
        m.id != SPEC_CONNECTION_CLOSE) {
        err_set(&err, SPEC_COMMAND_INVALID, "expected %s, got %s",
                spec_method_name(expected_method(c->state)), spec_method_name(m.id));
        fail_method(c, m.id, &err);
        return;
    }
    if (c->state == CONN_OPEN && m.id != SPEC_CONNECTION_CLOSE &&
        m.id != SPEC_CONNECTION_CLOSE_OK && m.id != SPEC_CONNECTION_UPDATE_SECRET) {
        /* The handshake methods are over once the connection is open. */
        err_set(&err, SPEC_CHANNEL_ERROR, "unexpected method in connection state running: %s",
                spec_method_name(m.id));
        fail_method(c, m.id, &err);
        return;
    }
    if (dispatch_connection(c, &m, &err) < 0)
        fail_method(c, m.id, &err);
}

static void handle_new_channel(struct conn *c, const struct frame *f)
{
    struct proto_err err = {0};
    uint32_t id = f->type == SPEC_FRAME_METHOD && f->payload.n >= 4 ? get_be32(f->payload.p) : 0;
    struct chan *ch;

    if (id != SPEC_CHANNEL_OPEN) {
        err_set(&err, SPEC_CHANNEL_ERROR, "expected 'channel.open' on channel %u",
                (unsigned)f->channel);
        if (id)
            fail_method(c, id, &err);
        else
            conn_fail(c, &err);
        return;
    }
    /* Like RabbitMQ, channel_max limits how many channels are open at once. */
    if (c->nchans >= c->channel_max) {
        err_set(&err, SPEC_NOT_ALLOWED,
                "number of channels opened (%u) has reached the negotiated channel_max (%u)",
                (unsigned)c->nchans, (unsigned)c->channel_max);
        fail_method(c, id, &err);
        return;
    }
    ch = add_chan(c, f->channel);
    chan_handle_frame(ch, f);
}

static void handle_frame(struct conn *c, const struct frame *f)
{
    struct proto_err err = {0};
    struct chan *ch;

    if (f->type == SPEC_FRAME_HEARTBEAT) {
        /* RabbitMQ: a heartbeat belongs on channel 0 (else 505) and is empty (else 501). */
        if (f->channel != 0) {
            err_set(&err, SPEC_UNEXPECTED_FRAME, "heartbeat frame on channel %u",
                    (unsigned)f->channel);
            conn_fail(c, &err);
        } else if (f->payload.n) {
            err_set(&err, SPEC_FRAME_ERROR, "heartbeat frame with a %zu-byte payload",
                    f->payload.n);
            fail_and_hang_up(c, &err);
        }
        return;
    }
    if (f->channel == 0) {
        handle_channel0(c, f);
        return;
    }
    if (c->state == CONN_CLOSING)
        return; /* discarded until close-ok */
    if (c->state != CONN_OPEN) {
        err_set(&err, SPEC_COMMAND_INVALID, "frame on channel %u before connection.open",
                (unsigned)f->channel);
        conn_fail(c, &err);
        return;
    }
    ch = conn_chan(c, f->channel);
    if (!ch)
        handle_new_channel(c, f);
    else
        chan_handle_frame(ch, f);
}

static const uint8_t protocol_header[8] = {'A', 'M', 'Q', 'P', 0, 0, 9, 1};

/* Returns how many bytes of p the protocol header took, or -1 when it was wrong. */
static int take_header(struct conn *c, const uint8_t *p, size_t n)
{
    size_t want = sizeof(c->hdr) - c->hdr_len, take = n < want ? n : want;
    struct buf *out = outq_buf(&c->out);

    memcpy(c->hdr + c->hdr_len, p, take);
    c->hdr_len = (uint8_t)(c->hdr_len + take);
    if (c->hdr_len < sizeof(c->hdr))
        return (int)take;
    if (memcmp(c->hdr, protocol_header, sizeof(protocol_header)) != 0) {
        /* Spec §4.2.2: answer with the protocol we support, then close. */
        log_info("conn %" PRIu64 " (%s): bad protocol header, closing", c->id, c->peer);
        buf_append(out, protocol_header, sizeof(protocol_header));
        outq_commit(&c->out);
        close_after_flush(c);
        return -1;
    }
    c->fr = frame_reader_create(SPEC_FRAME_MIN_SIZE);
    c->state = CONN_AWAIT_START_OK;
    send_start(c);
    return (int)take;
}

/* Parses and handles n bytes at p, from off. Everything read is processed
 * even if input gets paused meanwhile (the bytes are already out of the
 * socket, and pausing only stops new reads), except after a publish has
 * blocked the connection for a resource alarm: RabbitMQ stops there, so the
 * rest is kept in c->stash and handled once the alarm clears. frame_feed is
 * called until it asks for more input (returns 0), which also lets it release
 * the copy of a frame that was split across reads. */
static void process_input(struct conn *c, const uint8_t *p, size_t n, size_t off)
{
    while (c->state != CONN_CLOSED) {
        struct proto_err err = {0};
        struct frame f;
        size_t used = 0;
        int r = frame_feed(c->fr, p + off, n - off, &used, &f, &err);

        off += used;
        if (r < 0) {
            fail_and_hang_up(c, &err);
            return;
        }
        if (r == 0)
            break;
        handle_frame(c, &f);
        if ((c->paused & PAUSE_BLOCKED) && c->state == CONN_OPEN && off < n) {
            c->stash = xmalloc(n - off);
            memcpy(c->stash, p + off, n - off);
            c->stash_len = n - off;
            break;
        }
    }
    if (c->nconfirming)
        flush_confirms(c);
}

/* Bytes read (from the socket, or decrypted): frames in, handled in order. */
static void take_input(struct conn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;

    c->last_rx = ev_now(loop_ev(c->loop));
    c->recv_oct += (uint64_t)n;
    if (c->state == CONN_AWAIT_HEADER) {
        int took = take_header(c, p, n);
        if (took < 0 || c->state == CONN_AWAIT_HEADER)
            return;
        off = (size_t)took;
    }
    process_input(c, p, n, off);
}

/* on_read for a TLS connection: the handshake first (bounded by the
 * handshake timeout like the rest of the opening), then decrypted input. */
static void on_read_tls(struct conn *c, uint8_t *p, size_t cap)
{
    struct ev_loop *ev = loop_ev(c->loop);
    enum tls_status st;
    bool was_done = tls_handshake_done(c->tls);
    size_t n;

    if (tls_write_wants_read(c->tls)) {
        /* A write was waiting for the peer (SSL_write reads what it needs). */
        conn_flush(c);
        if (c->freeing || tls_write_wants_read(c->tls))
            return;
        update_reading(c);
        if (!ev_is_active(&c->rio))
            return; /* input is paused */
    }
    n = tls_read(c->tls, p, cap, &st);
    if (!was_done && tls_handshake_done(c->tls) && log_enabled(LOG_DEBUG)) {
        const struct tls_info *in = tls_conn_info(c->tls);
        char shown[300]; /* the client's certificate says what it likes */

        log_debug("conn %" PRIu64 " (%s): TLS handshake done: %s %s%s%s", c->id, c->peer,
                  in->protocol, in->cipher, in->peer_cert_subject[0] ? ", client " : "",
                  log_escape(view_str(in->peer_cert_subject), shown, sizeof(shown)));
    }
    if (st == TLS_WANT_WRITE && !ev_is_active(&c->wio))
        ev_io_start(ev, &c->wio);
    if (n)
        take_input(c, p, n);
    if (st == TLS_EOF || st == TLS_FAILED) {
        if (c->freeing)
            return;
        if (!tls_handshake_done(c->tls)) {
            if (st == TLS_FAILED)
                log_warn("conn %" PRIu64 " (%s): TLS handshake failed: %s", c->id, c->peer,
                         tls_error(c->tls));
        } else if (c->state == CONN_OPEN) {
            log_warn("conn %" PRIu64 " (%s): client unexpectedly closed TLS connection: %s", c->id,
                     c->peer, tls_error(c->tls));
        }
        conn_close_now(c);
        return;
    }
    /* libev sees the socket, not the records OpenSSL already holds. */
    if (n && ev_is_active(&c->rio) && tls_has_buffered(c->tls))
        ev_feed_event(ev, &c->rio, EV_READ);
}

static void on_read(struct ev_loop *ev, ev_io *w, int revents)
{
    struct conn *c = container_of(w, struct conn, rio);
    size_t cap;
    uint8_t *p = loop_read_buf(c->loop, &cap);
    ssize_t n;
    (void)ev;
    (void)revents;

    if (c->stash) {
        /* What was left when the connection was blocked comes before
         * anything still in the socket (or inside OpenSSL). */
        uint8_t *stash = c->stash;
        size_t len = c->stash_len;

        c->stash = NULL;
        c->stash_len = 0;
        process_input(c, stash, len, 0);
        free(stash);
        if (!c->freeing && ev_is_active(&c->rio) && c->tls && tls_has_buffered(c->tls))
            ev_feed_event(ev, &c->rio, EV_READ);
        return;
    }
    if (c->tls) {
        on_read_tls(c, p, cap);
        return;
    }
    n = read(c->fd, p, cap);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        if (c->state == CONN_OPEN)
            log_warn("conn %" PRIu64 " (%s): client unexpectedly closed TCP connection", c->id,
                     c->peer);
        conn_close_now(c);
        return;
    }
    take_input(c, p, (size_t)n);
}

/* ---- introspection (management API) ---- */

void conn_for_each(void (*fn)(struct conn *, void *), void *arg)
{
    for (struct conn *c = all_conns, *next; c; c = next) {
        next = c->next;
        fn(c, arg);
    }
}

struct conn *conn_find(uint64_t id)
{
    for (struct conn *c = all_conns; c; c = c->next)
        if (c->id == id)
            return c;
    return NULL;
}

size_t conn_count_in_vhost(struct view vhost)
{
    size_t n = 0;

    /* Closing connections still count until they are gone, as RabbitMQ's
     * connection tracking does. */
    for (struct conn *c = all_conns; c; c = c->next)
        if (c->vhost && c->state >= CONN_OPEN && c->state != CONN_CLOSED &&
            view_eq_str(vhost, c->vhost))
            n++;
    return n;
}

uint16_t conn_heartbeat(const struct conn *c)
{
    return c->heartbeat;
}

uint16_t conn_channel_count(const struct conn *c)
{
    return c->nchans;
}

double conn_connected_at(const struct conn *c)
{
    return c->connected_at;
}

uint64_t conn_recv_oct(const struct conn *c)
{
    return c->recv_oct;
}

uint64_t conn_send_oct(const struct conn *c)
{
    return c->send_oct;
}

size_t conn_send_pending(const struct conn *c)
{
    return outq_pending(&c->out);
}

const struct tls_info *conn_tls_info(const struct conn *c)
{
    return c->tls ? tls_conn_info(c->tls) : NULL;
}

const char *conn_state_name(const struct conn *c)
{
    if (c->state < CONN_OPEN)
        return "starting";
    if (c->state != CONN_OPEN)
        return "closing";
    if (c->paused & PAUSE_BLOCKED)
        return "blocked";
    if (alarm_active())
        return "blocking";
    if (c->paused & PAUSE_FLOW)
        return "flow";
    return "running";
}

bool conn_is_blocked(const struct conn *c)
{
    return (c->paused & (PAUSE_BLOCKED | PAUSE_FLOW)) != 0;
}

struct view conn_client_properties(const struct conn *c)
{
    return (struct view){c->client_props, c->client_props_len};
}

void conn_for_each_chan(struct conn *c, void (*fn)(struct chan *, void *), void *arg)
{
    for (uint16_t b = 0; b < c->nblocks; b++) {
        if (!c->blocks[b])
            continue;
        for (unsigned i = 0; i < CHAN_BLOCK_SIZE; i++)
            if (c->blocks[b][i])
                fn(c->blocks[b][i], arg);
    }
}
