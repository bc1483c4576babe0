/* SPDX-License-Identifier: MIT */
/* handle_connection: the connection class (spec §1.4.2): login, tune, open, close. */
#include <inttypes.h>
#include <string.h>
#include <sys/socket.h>

#include "amqp/table.h"
#include "broker/auth.h"
#include "broker/config.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"
#include "broker/log.h"
#include "broker/loop.h"

int handle__not_implemented(uint32_t id, struct proto_err *err)
{
    return err_set(err, SPEC_NOT_IMPLEMENTED, "%s is not implemented", spec_method_name(id));
}

/* PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd. */
static int parse_plain(struct view r, struct view *user, struct view *pass)
{
    const uint8_t *nul1 = memchr(r.p, 0, r.n), *nul2;

    if (!nul1)
        return -1;
    nul2 = memchr(nul1 + 1, 0, r.n - (size_t)(nul1 + 1 - r.p));
    if (!nul2)
        return -1;
    user->p = nul1 + 1;
    user->n = (size_t)(nul2 - user->p);
    pass->p = nul2 + 1;
    pass->n = r.n - (size_t)(pass->p - r.p);
    return 0;
}

/* AMQPLAIN: the response is a field table's contents with LOGIN and PASSWORD. */
static int parse_amqplain(struct view r, struct view *user, struct view *pass)
{
    struct table_value v;

    if (table_check(r) < 0)
        return -1;
    if (!table_get(r, "LOGIN", &v) || v.type != TABLE_LONGSTR)
        return -1;
    *user = v.v.str;
    if (!table_get(r, "PASSWORD", &v) || v.type != TABLE_LONGSTR)
        return -1;
    *pass = v.v.str;
    return 0;
}

static bool wants_auth_failure_close(struct view client_props)
{
    struct table_value caps, v;

    return table_get(client_props, "capabilities", &caps) && caps.type == TABLE_TABLE &&
           table_get(caps.v.table, "authentication_failure_close", &v) && v.type == TABLE_BOOL &&
           v.v.b;
}

/* loopback_users: RabbitMQ judges an AMQP connection by the broker's own end
 * of the socket (rabbit_net:is_loopback on sockname), so a client reaching a
 * wildcard listener through a non-loopback address is refused. */
static bool local_login_allowed(struct conn *c, const struct auth_user *u)
{
    struct sockaddr_storage ss;
    bool known = conn_local_addr(c, &ss);

    return auth_loopback_allowed(loop_auth(conn_loop(c)), auth_user_name(u),
                                 known ? (const struct sockaddr *)&ss : NULL);
}

int handle_connection_start_ok(struct conn *c, const struct spec_connection_start_ok *a,
                               struct proto_err *err)
{
    struct view user = {0}, pass = {0};
    struct auth_user *u;
    char shown[200];
    int r;

    if (view_eq_str(a->mechanism, "PLAIN"))
        r = parse_plain(a->response, &user, &pass);
    else if (view_eq_str(a->mechanism, "AMQPLAIN"))
        r = parse_amqplain(a->response, &user, &pass);
    else
        return err_set(err, SPEC_COMMAND_INVALID, "unknown authentication mechanism '%.*s'",
                       (int)a->mechanism.n, (const char *)a->mechanism.p);
    if (r < 0)
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "Login was refused using authentication mechanism %.*s. "
                       "The response could not be parsed.",
                       (int)a->mechanism.n, (const char *)a->mechanism.p);
    u = auth_login(loop_auth(conn_loop(c)), user, pass);
    if (!u) {
        /* RabbitMQ's log line; the client only learns that it was refused. */
        log_warn("conn %" PRIu64 " (%s): %.*s login refused: user '%s' - invalid credentials",
                 conn_id(c), conn_peer(c), (int)a->mechanism.n, (const char *)a->mechanism.p,
                 log_escape(user, shown, sizeof(shown)));
    } else if (!local_login_allowed(c, u)) {
        log_error("conn %" PRIu64 " (%s): %.*s login refused: user '%s' can only connect via "
                  "localhost",
                  conn_id(c), conn_peer(c), (int)a->mechanism.n, (const char *)a->mechanism.p,
                  log_escape(user, shown, sizeof(shown)));
        auth_user_unref(&u);
    }
    if (!u && !wants_auth_failure_close(a->client_properties)) {
        /* Without authentication_failure_close the spec's rule applies:
         * close the socket without a word (as RabbitMQ does). */
        conn_close_now(c);
        return 0;
    }
    if (!u)
        return err_set(err, SPEC_ACCESS_REFUSED,
                       "Login was refused using authentication mechanism %.*s. "
                       "For details see the broker logfile.",
                       (int)a->mechanism.n, (const char *)a->mechanism.p);
    conn__set_user_take(c, u, a->client_properties);
    conn__send_tune(c);
    return 0;
}

int handle_connection_secure_ok(struct conn *c, const struct spec_connection_secure_ok *a,
                                struct proto_err *err)
{
    (void)c;
    (void)a;
    return err_set(err, SPEC_COMMAND_INVALID, "connection.secure-ok without connection.secure");
}

int handle_connection_tune_ok(struct conn *c, const struct spec_connection_tune_ok *a,
                              struct proto_err *err)
{
    return conn__tune(c, a->channel_max, a->frame_max, a->heartbeat, err);
}

int handle_connection_open(struct conn *c, const struct spec_connection_open *a,
                           struct proto_err *err)
{
    struct auth *auth = loop_auth(conn_loop(c));
    const struct config *cfg = loop_config(conn_loop(c));
    const struct auth_user *u = conn_user(c);
    int vn = (int)a->virtual_host.n;
    const char *vp = (const char *)a->virtual_host.p;
    int64_t limit;

    /* RabbitMQ's order (rabbit_reader handle_method0 connection.open): the
     * node's connection limit, the vhost's, then access to the vhost. The
     * node count includes this connection (ranch's active connections). */
    if (cfg->max_connections && loop_conn_count(conn_loop(c)) > cfg->max_connections)
        return err_set(err, SPEC_NOT_ALLOWED,
                       "connection refused: node connection limit (%u) is reached",
                       (unsigned)cfg->max_connections);
    if (!auth_vhost_exists(auth, a->virtual_host))
        return err_set(err, SPEC_NOT_ALLOWED, "vhost %.*s not found", vn, vp);
    if (auth_vhost_over_limit(auth, a->virtual_host, AUTH_LIMIT_MAX_CONNECTIONS,
                              conn_count_in_vhost(a->virtual_host), &limit))
        return err_set(err, SPEC_NOT_ALLOWED,
                       "access to vhost '%.*s' refused for user '%s': connection limit (%lld) is "
                       "reached",
                       vn, vp, auth_user_name(u), (long long)limit);
    if (!auth_vhost_access(auth, u, a->virtual_host))
        return err_set(err, SPEC_NOT_ALLOWED, "access to vhost '%.*s' refused for user '%s'", vn,
                       vp, auth_user_name(u));
    conn__open(c, a->virtual_host);
    return 0;
}

int handle_connection_close(struct conn *c, const struct spec_connection_close *a,
                            struct proto_err *err)
{
    (void)a;
    (void)err;
    conn__peer_closed(c);
    return 0;
}

int handle_connection_close_ok(struct conn *c, const struct spec_connection_close_ok *a,
                               struct proto_err *err)
{
    (void)a;
    (void)err;
    /* Our own close is handled before dispatch; an unsolicited close-ok ends the connection. */
    conn__close_ok(c);
    return 0;
}

int handle_connection_update_secret(struct conn *c, const struct spec_connection_update_secret *a,
                                    struct proto_err *err)
{
    (void)c;
    (void)a;
    return handle__not_implemented(SPEC_CONNECTION_UPDATE_SECRET, err);
}
