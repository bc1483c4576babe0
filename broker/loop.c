/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE /* accept4 */
#include "broker/loop.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/config.h"
#include "broker/conn.h"
#include "broker/durable.h"
#include "broker/paging.h"
#include "broker/log.h"
#include "broker/memmon.h"
#include "broker/tls.h"
#include "broker/util.h"
#include "queue/queue.h"

/* Upper bound on how long shutdown waits for clients to answer connection.close. */
#define SHUTDOWN_GRACE_S 5.0
/* One buffer for every connection's reads. 1 MiB lets a read take several
 * large body frames whole, so they are parsed in place instead of being
 * reassembled (size-64k: 38.8 -> 28.2 us of broker CPU per message). */
#define READ_BUF_SIZE (1024 * 1024)

/* A node in one of the loop's intrusive lists of connections. */
struct conn_node {
    struct conn *c;
    struct conn_node *next;
};

/* A listening socket: plain AMQP, or AMQP over TLS (tls != NULL). */
struct listener {
    struct loop *l;
    int fd;
    ev_io accept_w;
    struct tls_ctx *tls; /* owned */
};

struct loop {
    struct ev_loop *ev;
    const struct config *cfg;
    struct auth *auth;

    struct listener amqp, amqps;
    ev_prepare prepare_w;
    ev_signal sigterm_w, sigint_w, sighup_w;
    ev_timer shutdown_w;
    ev_timer expiry_w;     /* the queue module's next message/queue expiry */
    ev_timer memmon_w;     /* samples the broker's memory (high watermark) */
    ev_async store_w;      /* the message store's sync thread finished something */
    uint64_t expiry_armed; /* the deadline expiry_w is set for (UINT64_MAX: none) */
    int stopping;

    /* Connections to flush before sleeping, and connections to free. A
     * connection may sit in the flush list more than once if it was freed and
     * its address reused; entries are (conn, generation) checked below. */
    struct conn **flush;
    size_t nflush, capflush;
    struct conn **dead;
    size_t ndead, capdead;
    size_t nconns;

    uint8_t readbuf[READ_BUF_SIZE];
};

static void push(struct conn ***v, size_t *n, size_t *cap, struct conn *c)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = c;
}

struct ev_loop *loop_ev(struct loop *l)
{
    return l->ev;
}

const struct config *loop_config(const struct loop *l)
{
    return l->cfg;
}

struct auth *loop_auth(struct loop *l)
{
    return l->auth;
}

uint8_t *loop_read_buf(struct loop *l, size_t *size)
{
    *size = sizeof(l->readbuf);
    return l->readbuf;
}

void loop_want_flush(struct loop *l, struct conn *c)
{
    push(&l->flush, &l->nflush, &l->capflush, c);
}

void loop_defer_free(struct loop *l, struct conn *c)
{
    push(&l->dead, &l->ndead, &l->capdead, c);
}

size_t loop_conn_count(const struct loop *l)
{
    return l->nconns;
}

int loop_is_stopping(const struct loop *l)
{
    return l->stopping;
}

/* ---- queue expiry (x-message-ttl, expiration, x-expires) ---- */

static void on_expiry(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct loop *l = container_of(w, struct loop, expiry_w);
    (void)ev;
    (void)revents;
    l->expiry_armed = UINT64_MAX;
    queue_expiry_run(queue_clock_ms());
}

/* One timer for every queue: re-armed before sleeping when the earliest
 * deadline moved. The queue module keeps its own monotonic millisecond clock. */
static void arm_expiry(struct loop *l)
{
    uint64_t next = queue_expiry_next(), now;

    if (next == l->expiry_armed)
        return;
    ev_timer_stop(l->ev, &l->expiry_w);
    l->expiry_armed = next;
    if (next == UINT64_MAX)
        return;
    now = queue_clock_ms();
    ev_timer_set(&l->expiry_w, next > now ? (double)(next - now) / 1000.0 : 0.0, 0.);
    ev_timer_start(l->ev, &l->expiry_w);
}

/* ---- memory high watermark ---- */

static void on_memmon(struct ev_loop *ev, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    memmon_sample(ev_now(ev));
}

/* ---- the message store (STYLE.md §2.3) ---- */

static void on_store(struct ev_loop *ev, ev_async *w, int revents)
{
    (void)ev;
    (void)w;
    (void)revents;
    durable_completed();
}

void loop_wake(void *arg)
{
    struct loop *l = arg;

    ev_async_send(l->ev, &l->store_w);
}

/* ---- before sleep: batched writes, then deferred frees ---- */

static void on_prepare(struct ev_loop *ev, ev_prepare *w, int revents)
{
    struct loop *l = container_of(w, struct loop, prepare_w);
    (void)ev;
    (void)revents;

    /* A connection in the dead list is flushed one last time by conn_destroy's
     * caller below, so skip dead ones here: conn_flush on a closed connection
     * is harmless, but the dead list is processed after this loop anyway. */
    queue_flush();
    arm_expiry(l);
    /* Over the memory budget: page out before flow control looks. */
    paging_run();
    conn__flow_poll(l->cfg);
    /* Before the output goes: a declare-ok must not leave before the
     * definitions file has the queue; and this iteration's records go to the
     * sync thread as one batch (group commit). */
    durable_submit();
    for (size_t i = 0; i < l->nflush; i++)
        conn_flush(l->flush[i]);
    l->nflush = 0;

    for (size_t i = 0; i < l->ndead; i++) {
        conn_destroy(l->dead[i]);
        l->nconns--;
    }
    l->ndead = 0;

    if (l->stopping && l->nconns == 0)
        ev_break(l->ev, EVBREAK_ALL);
}

/* ---- accepting ---- */

static void on_accept(struct ev_loop *ev, ev_io *w, int revents)
{
    struct listener *li = container_of(w, struct listener, accept_w);
    struct loop *l = li->l;
    (void)ev;
    (void)revents;

    /* Bounded: take what is queued now, then return to the loop. */
    for (int i = 0; i < 64; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        int fd = accept4(li->fd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        char peer[INET6_ADDRSTRLEN + 8] = "?";

        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
                log_warn("accept: %s", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if (ss.ss_family == AF_INET) {
            struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
            snprintf(peer, sizeof(peer), "%s:%u", a, (unsigned)ntohs(sin->sin_port));
        } else if (ss.ss_family == AF_INET6) {
            struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
            char a[INET6_ADDRSTRLEN];
            inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
            snprintf(peer, sizeof(peer), "[%s]:%u", a, (unsigned)ntohs(sin6->sin6_port));
        }
        conn_create(l, fd, peer, li->tls);
        l->nconns++;
    }
}

static int listen_on(struct loop *l, struct listener *li, uint16_t port)
{
    const struct config *cfg = l->cfg;
    struct sockaddr_storage ss;
    socklen_t sl;
    int fd, one = 1;

    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, cfg->address, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sl = sizeof(*sin);
    } else if (inet_pton(AF_INET6, cfg->address, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        sl = sizeof(*sin6);
    } else {
        log_error("listeners.address: '%s' is not an IPv4 or IPv6 address", cfg->address);
        return -1;
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_error("socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
        log_error("cannot listen on %s:%u: %s", cfg->address, (unsigned)port, strerror(errno));
        close(fd);
        return -1;
    }
    li->l = l;
    li->fd = fd;
    ev_io_init(&li->accept_w, on_accept, fd, EV_READ);
    ev_io_start(l->ev, &li->accept_w);
    log_info("%s listener on %s:%u", li->tls ? "AMQP over TLS" : "AMQP", cfg->address,
             (unsigned)port);
    return 0;
}

int loop_listen(struct loop *l)
{
    const struct config *cfg = l->cfg;

    /* The TLS listener first: once the plain port accepts, both do. */
    if (cfg->tls.enabled && cfg->tls.port) {
        char err[512];

        l->amqps.tls = tls_ctx_create(&cfg->tls, err, sizeof(err));
        if (!l->amqps.tls) {
            log_error("listeners.tls: %s", err);
            return -1;
        }
        if (listen_on(l, &l->amqps, cfg->tls.port) < 0)
            return -1;
    }
    return listen_on(l, &l->amqp, cfg->amqp_port);
}

static void stop_listener(struct loop *l, struct listener *li)
{
    if (li->fd < 0)
        return;
    ev_io_stop(l->ev, &li->accept_w);
    close(li->fd);
    li->fd = -1;
}

/* ---- shutdown ---- */

static void on_shutdown_timeout(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct loop *l = container_of(w, struct loop, shutdown_w);
    (void)revents;
    log_warn("shutdown: %zu connection(s) did not close in time; dropping them", l->nconns);
    ev_break(ev, EVBREAK_ALL);
}

/* conn.c keeps every live connection in a list we cannot see; it exposes a
 * walker so the loop can close them all. */
void conn__for_each(struct loop *l, void (*fn)(struct conn *, void *), void *arg);

static void force_close_one(struct conn *c, void *arg)
{
    (void)arg;
    conn_force_close(c, "broker forced connection closure with reason 'shutdown'");
}

static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
    struct loop *l = w->signum == SIGTERM ? container_of(w, struct loop, sigterm_w)
                                          : container_of(w, struct loop, sigint_w);
    (void)revents;
    if (l->stopping)
        return;
    log_info("signal %d: closing %zu connection(s) and stopping", w->signum, l->nconns);
    l->stopping = 1;
    stop_listener(l, &l->amqp);
    stop_listener(l, &l->amqps);
    conn__for_each(l, force_close_one, NULL);
    ev_timer_init(&l->shutdown_w, on_shutdown_timeout, SHUTDOWN_GRACE_S, 0.);
    ev_timer_start(ev, &l->shutdown_w);
    /* The prepare hook breaks the loop once every connection is gone. */
}

/* SIGHUP: reopen the log file (logrotate renames it, then signals us). */
static void on_sighup(struct ev_loop *ev, ev_signal *w, int revents)
{
    int rc = log_reopen();

    (void)ev;
    (void)w;
    (void)revents;
    if (rc == 0)
        log_info("SIGHUP: log file reopened");
    else if (rc > 0)
        log_info("SIGHUP: logging to stderr, nothing to reopen");
}

struct loop *loop_create(const struct config *cfg, struct auth *auth)
{
    struct loop *l = xcalloc(1, sizeof(*l));

    l->ev = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
    if (!l->ev) {
        fprintf(stderr, "leveret: cannot initialise libev\n");
        free(l);
        return NULL;
    }
    l->cfg = cfg;
    l->auth = auth;
    l->amqp.fd = l->amqps.fd = -1;
    ev_init(&l->expiry_w, on_expiry);
    l->expiry_armed = UINT64_MAX;
    ev_async_init(&l->store_w, on_store);
    ev_async_start(l->ev, &l->store_w);
    ev_prepare_init(&l->prepare_w, on_prepare);
    ev_prepare_start(l->ev, &l->prepare_w);
    memmon_init(cfg);
    ev_timer_init(&l->memmon_w, on_memmon, MEMMON_INTERVAL_S, MEMMON_INTERVAL_S);
    ev_timer_start(l->ev, &l->memmon_w);
    ev_signal_init(&l->sigterm_w, on_signal, SIGTERM);
    ev_signal_start(l->ev, &l->sigterm_w);
    ev_signal_init(&l->sigint_w, on_signal, SIGINT);
    ev_signal_start(l->ev, &l->sigint_w);
    ev_signal_init(&l->sighup_w, on_sighup, SIGHUP);
    ev_signal_start(l->ev, &l->sighup_w);
    signal(SIGPIPE, SIG_IGN);
    return l;
}

int loop_run(struct loop *l)
{
    ev_run(l->ev, 0);
    return 0;
}

static void destroy_one(struct conn *c, void *arg)
{
    struct loop *l = arg;
    conn_close_now(c);
    (void)l;
}

void loop_destroy(struct loop *l)
{
    if (!l)
        return;
    /* Free what is already dead, then close and free the rest. */
    conn__for_each(l, destroy_one, l);
    for (size_t i = 0; i < l->nflush; i++)
        conn_flush(l->flush[i]);
    for (size_t i = 0; i < l->ndead; i++)
        conn_destroy(l->dead[i]);
    stop_listener(l, &l->amqp);
    stop_listener(l, &l->amqps);
    tls_ctx_destroy(l->amqps.tls); /* after the connections, which use it */
    memmon_close();
    ev_loop_destroy(l->ev);
    free(l->flush);
    free(l->dead);
    free(l);
}
