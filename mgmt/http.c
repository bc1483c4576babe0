/* SPDX-License-Identifier: MIT */
/*
 * http: libmicrohttpd driven by the broker's libev loop (STYLE.md §9), basic
 * authentication, and the bridge from MHD requests to mgmt_req handlers.
 * The only mgmt file that includes <ev.h> or <microhttpd.h>, and the only
 * file of the broker that uses GnuTLS: libmicrohttpd's HTTPS is built on it
 * (Debian's libmicrohttpd has no OpenSSL backend), so the HTTPS listener
 * (listeners.mgmt_tls) is GnuTLS while AMQP over TLS is OpenSSL.
 */
#include "mgmt/mgmt.h"

#include <arpa/inet.h>
#include <ev.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "broker/auth.h"
#include "broker/buf.h"
#include "broker/config.h"
#include "broker/log.h"
#include "broker/loop.h"
#include "broker/pem.h"
#include "mgmt/mgmt_int.h"

/* Request bodies larger than this get 413 (definitions files can be big). */
#define MAX_BODY (64u * 1024 * 1024)

/* GnuTLS priorities of the HTTPS listener: its defaults, TLS 1.2 and 1.3 only. */
#define HTTPS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct listener {
    struct mgmt *m;
    struct MHD_Daemon *d;
    bool prom_only;               /* the Prometheus port: /metrics only, no authentication */
    const struct config_tls *tls; /* HTTPS (borrowed from the config), or NULL */
    char *pem[3];                 /* HTTPS: certificate, key and trust files (MHD borrows them) */
    ev_io io;                     /* MHD's epoll fd */
    ev_timer tm;                  /* MHD_get_timeout */
};

struct mgmt {
    struct mgmt_ctx ctx;
    struct ev_loop *ev;
    struct listener api, api_tls, prom;
    ev_timer sample_w;
};

/* Per-HTTP-request state kept by MHD between calls of on_access. */
struct pending {
    struct buf body;
    bool too_big;
};

static void rearm(struct listener *li)
{
    MHD_UNSIGNED_LONG_LONG to;

    ev_timer_stop(li->m->ev, &li->tm);
    if (MHD_get_timeout(li->d, &to) == MHD_YES) {
        ev_timer_set(&li->tm, (double)to / 1000.0, 0.);
        ev_timer_start(li->m->ev, &li->tm);
    }
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
    struct listener *li = container_of(w, struct listener, io);
    (void)ev;
    (void)revents;
    MHD_run(li->d);
    rearm(li);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct listener *li = container_of(w, struct listener, tm);
    (void)ev;
    (void)revents;
    MHD_run(li->d);
    rearm(li);
}

static void on_sample(struct ev_loop *ev, ev_timer *w, int revents)
{
    struct mgmt *m = container_of(w, struct mgmt, sample_w);
    (void)revents;
    mgmt_rates_sample(m->ctx.rates, ev_now(ev));
}

/* The path keeps its percent-escapes (so "%2F" stays inside one segment):
 * the router decodes segments itself. Query arguments stay raw too, and
 * collect_query() re-joins them for mgmt_query_get(). */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    struct buf *q = cls;
    (void)kind;
    if (q->len)
        buf_append(q, "&", 1);
    buf_append(q, key, strlen(key));
    if (value) {
        buf_append(q, "=", 1);
        buf_append(q, value, strlen(value));
    }
    return MHD_YES;
}

static enum MHD_Result send_reply(struct MHD_Connection *conn, struct mgmt_req *r,
                                  const char *www_auth, const char *allow)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    char *body = NULL;
    size_t len = 0;

    if (r->text) {
        body = r->text;
        len = r->text_len;
        r->text = NULL;
    } else if (r->json) {
        body = json_dumps(r->json, JSON_COMPACT);
        len = body ? strlen(body) : 0;
    }
    resp = MHD_create_response_from_buffer(len, body ? body : (void *)"",
                                           body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    if (body)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                                r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "accept, accept-encoding, origin");
    if (www_auth)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www_auth);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    if (r->location[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    ret = MHD_queue_response(conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static const char realm[] = "Basic realm=\"RabbitMQ Management\"";

/* Basic auth against the broker's users, with RabbitMQ's checks in its
 * order (rabbit_web_dispatch_access_control:is_authorized): credentials,
 * loopback_users (judged by the client's address, as cowboy_req:peer), then
 * a management tag. Returns a new reference, or NULL after filling the 401
 * reply; only missing or wrong credentials ask for new ones. */
static struct auth_user *authenticate(struct mgmt *m, struct MHD_Connection *conn,
                                      struct mgmt_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char *pass = NULL;
    char *name = MHD_basic_auth_get_username_password(conn, &pass);
    struct auth_user *u = NULL;
    char shown[200];

    if (!name) {
        r->status = 401; /* no credentials: RabbitMQ sends an empty body */
        r->challenge = true;
        goto out;
    }
    log_escape(view_str(name), shown, sizeof(shown));
    u = auth_login(m->ctx.auth, view_str(name), view_str(pass ? pass : ""));
    if (!u) {
        /* RabbitMQ spells it "not_authorized" here and "not_authorised" elsewhere. */
        mgmt_reply_error(r, 401, "not_authorized", "Login failed");
        r->challenge = true;
        log_warn("management: HTTP access denied: user '%s' - invalid credentials", shown);
    } else if (!auth_loopback_allowed(m->ctx.auth, auth_user_name(u),
                                      ci ? ci->client_addr : NULL)) {
        mgmt_reply_not_authorised(r, "User can only log in via localhost");
        log_warn("management: HTTP access denied: user '%s' - User can only log in via "
                 "localhost",
                 shown);
        auth_user_unref(&u);
    } else if (!mgmt_user_is_management(u)) {
        mgmt_reply_not_authorised(r, "Not management user");
        log_warn("management: HTTP access denied: user '%s' - Not management user", shown);
        auth_user_unref(&u);
    }
out:
    if (name)
        MHD_free(name);
    if (pass)
        MHD_free(pass);
    return u;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct listener *li = cls;
    struct mgmt *m = li->m;
    struct pending *p = *con_cls;
    struct mgmt_req r;
    struct auth_user *u = NULL;
    struct buf query = {0};
    enum mgmt_route_result rr;
    char *scratch;
    char allow[96];
    enum MHD_Result ret;
    size_t ulen = strlen(url);
    (void)version;

    if (!p) {
        *con_cls = xcalloc(1, sizeof(*p));
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (p->body.len + *upload_data_size > MAX_BODY)
            p->too_big = true;
        else
            buf_append(&p->body, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    memset(&r, 0, sizeof(r));
    r.ctx = &m->ctx;
    r.method = mgmt_method_parse(method);
    r.body = (const char *)p->body.p;
    r.body_len = p->body.len;
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, &query);
    r.query = (struct view){query.p, query.len};
    scratch = xmalloc(ulen + 1);
    rr = mgmt_route(r.method, url, ulen, scratch, ulen + 1, &r.match);
    allow[0] = '\0';
    if (rr == MGMT_ROUTE_FOUND && li->prom_only && r.match.id != MGMT_R_METRICS &&
        r.match.id != MGMT_R_METRICS_PER_OBJECT)
        rr = MGMT_ROUTE_NOT_FOUND;
    if (rr == MGMT_ROUTE_NOT_FOUND) {
        mgmt_reply_not_found(&r);
    } else if (rr == MGMT_ROUTE_BAD_PATH) {
        mgmt_reply_bad_request(&r, "bad percent-encoding in the path");
    } else if (rr == MGMT_ROUTE_BAD_METHOD) {
        /* OPTIONS lists the methods (as cowboy does); any other is 405. */
        r.status = r.method == MGMT_OPTIONS ? 200 : 405;
        mgmt_allow_header(r.match.allowed, allow, sizeof(allow));
    } else if (p->too_big) {
        mgmt_reply_error(&r, 413, "bad_request", "request body too large");
    } else if (li->prom_only) {
        mgmt_dispatch(&r);
    } else if ((u = authenticate(m, conn, &r)) != NULL) {
        r.user = u;
        mgmt_dispatch(&r);
    }
    if (!r.status)
        r.status = 500;
    if (log_enabled(LOG_DEBUG)) {
        char shown[300];
        log_debug("management: %s %s -> %u", method,
                  log_escape(view_str(url), shown, sizeof(shown)), r.status);
    }
    ret = send_reply(conn, &r, r.challenge ? realm : NULL, allow[0] ? allow : NULL);
    json_decref(r.json);
    free(r.text);
    free(scratch);
    buf_free(&query);
    auth_user_unref(&u);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct pending *p = *con_cls;
    (void)cls;
    (void)conn;
    (void)toe;
    if (p) {
        buf_free(&p->body);
        free(p);
        *con_cls = NULL;
    }
}

/* verify_peer on the HTTPS listener. libmicrohttpd only asks for a client
 * certificate (when given a trust list) and never checks it, so each new
 * session is told here, before its handshake, to require one (or just ask)
 * and to verify it against the trust list: a bad or (with
 * fail_if_no_peer_cert) missing certificate fails the handshake, as with
 * RabbitMQ. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct listener *li = cls;
    const union MHD_ConnectionInfo *info;
    (void)socket_context;

    if (toe != MHD_CONNECTION_NOTIFY_STARTED || !li->tls || li->tls->verify != CONFIG_VERIFY_PEER)
        return;
    info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!info || !info->tls_session)
        return;
    gnutls_certificate_server_set_request(info->tls_session, li->tls->fail_if_no_peer_cert
                                                                 ? GNUTLS_CERT_REQUIRE
                                                                 : GNUTLS_CERT_REQUEST);
    gnutls_session_set_verify_cert(info->tls_session, NULL, 0);
}

/* The HTTPS options for MHD (certificate, key, trust list, priorities) into
 * ops, which ends with MHD_OPTION_END. 0, or -1 after logging. */
static int https_options(struct listener *li, struct MHD_OptionItem *ops)
{
    const char *files[3] = {li->tls->certfile, li->tls->keyfile,
                            li->tls->verify == CONFIG_VERIFY_PEER ? li->tls->cacertfile : NULL};
    static const char *const keys[3] = {"certfile", "keyfile", "cacertfile"};
    static const enum MHD_OPTION opts[3] = {MHD_OPTION_HTTPS_MEM_CERT, MHD_OPTION_HTTPS_MEM_KEY,
                                            MHD_OPTION_HTTPS_MEM_TRUST};
    size_t n = 0;

    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        log_error("listeners.mgmt_tls: this libmicrohttpd was built without HTTPS support");
        return -1;
    }
    for (size_t i = 0; i < 3; i++) {
        char why[256];

        if (!files[i])
            continue;
        li->pem[i] = pem_read_file(files[i], NULL, why, sizeof(why));
        if (!li->pem[i]) {
            log_error("listeners.mgmt_tls.%s \"%s\": %s", keys[i], files[i], why);
            return -1;
        }
        ops[n++] = (struct MHD_OptionItem){opts[i], 0, li->pem[i]};
    }
    ops[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTPS_PRIORITIES};
    ops[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return 0;
}

static int start(struct mgmt *m, struct listener *li, const char *addr, uint16_t port,
                 bool prom_only, const struct config_tls *tls)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_EPOLL;
    const union MHD_DaemonInfo *info;
    struct MHD_OptionItem ops[8] = {{MHD_OPTION_END, 0, NULL}};
    const char *what = prom_only ? "Prometheus" : tls ? "management HTTPS" : "management HTTP";

    li->m = m;
    li->prom_only = prom_only;
    li->tls = tls;
    if (tls) {
        flags |= MHD_USE_TLS;
        if (https_options(li, ops) < 0)
            return -1;
    }
    memset(&ss, 0, sizeof(ss));
    if (inet_pton(AF_INET, addr, &((struct sockaddr_in *)&ss)->sin_addr) == 1) {
        ((struct sockaddr_in *)&ss)->sin_family = AF_INET;
        ((struct sockaddr_in *)&ss)->sin_port = htons(port);
    } else if (inet_pton(AF_INET6, addr, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1) {
        ((struct sockaddr_in6 *)&ss)->sin6_family = AF_INET6;
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(port);
        flags |= MHD_USE_IPv6;
    } else {
        log_error("listeners.mgmt_address: '%s' is not an IPv4 or IPv6 address", addr);
        return -1;
    }
    li->d = MHD_start_daemon(
        flags, port, NULL, NULL, on_access, li, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, li, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        li, MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL, MHD_OPTION_CONNECTION_TIMEOUT, 120u,
        MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
    if (!li->d) {
        log_error("cannot listen for %s on %s:%u%s", what, addr, (unsigned)port,
                  tls ? " (or GnuTLS refused the certificate or key)" : "");
        return -1;
    }
    info = MHD_get_daemon_info(li->d, MHD_DAEMON_INFO_EPOLL_FD);
    ev_io_init(&li->io, on_io, info->epoll_fd, EV_READ);
    ev_io_start(m->ev, &li->io);
    ev_init(&li->tm, on_timer);
    rearm(li);
    log_info("%s listener on %s:%u", what, addr, (unsigned)port);
    return 0;
}

static void stop(struct mgmt *m, struct listener *li)
{
    if (li->d) {
        ev_io_stop(m->ev, &li->io);
        ev_timer_stop(m->ev, &li->tm);
        MHD_stop_daemon(li->d);
        li->d = NULL;
    }
    for (size_t i = 0; i < ARRAY_LEN(li->pem); i++) {
        free(li->pem[i]);
        li->pem[i] = NULL;
    }
}

struct mgmt *mgmt_create(struct loop *l, const struct config *cfg, struct auth *auth)
{
    struct mgmt *m = xcalloc(1, sizeof(*m));

    m->ev = loop_ev(l);
    m->ctx.loop = l;
    m->ctx.cfg = cfg;
    m->ctx.auth = auth;
    m->ctx.rates = mgmt_rates_create();
    m->ctx.started_at = (double)time(NULL);
    /* HTTPS first: once the plain port accepts, both do. */
    if (cfg->mgmt_tls.enabled && cfg->mgmt_tls.port &&
        start(m, &m->api_tls, cfg->mgmt_address, cfg->mgmt_tls.port, false, &cfg->mgmt_tls) < 0) {
        mgmt_destroy(m);
        return NULL;
    }
    if (cfg->mgmt_port && start(m, &m->api, cfg->mgmt_address, cfg->mgmt_port, false, NULL) < 0) {
        mgmt_destroy(m);
        return NULL;
    }
    /* The Prometheus port is an extra: a clash is logged, not fatal (many
     * brokers may share a test machine; the management port has /metrics too). */
    if (cfg->prometheus_port &&
        start(m, &m->prom, cfg->mgmt_address, cfg->prometheus_port, true, NULL) < 0)
        log_warn("Prometheus metrics stay available on the management port only");
    mgmt_rates_sample(m->ctx.rates, ev_now(m->ev));
    ev_timer_init(&m->sample_w, on_sample, MGMT_RATES_INTERVAL, MGMT_RATES_INTERVAL);
    ev_timer_start(m->ev, &m->sample_w);
    return m;
}

void mgmt_destroy(struct mgmt *m)
{
    if (!m)
        return;
    stop(m, &m->api);
    stop(m, &m->api_tls);
    stop(m, &m->prom);
    ev_timer_stop(m->ev, &m->sample_w);
    mgmt_rates_destroy(m->ctx.rates);
    free(m);
}
