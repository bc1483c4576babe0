/* SPDX-License-Identifier: MIT */
/* handle_common: lookups and checks shared by the class handlers. */
#include "broker/chan.h"
#include "broker/conn.h"
#include "broker/handle.h"
#include "broker/loop.h"
#include "broker/vhost.h"
#include "exchange/exchange.h"
#include "queue/queue.h"

int handle__check_access(struct chan *ch, enum auth_op op, const char *kind, struct view name,
                         struct proto_err *err)
{
    struct conn *c = chan_conn(ch);
    struct view vh = view_str(conn_vhost(c));
    struct view res = name.n ? name : VIEW_LIT("amq.default");

    if (auth_check(loop_auth(conn_loop(c)), conn_user(c), vh, op, res))
        return 0;
    return err_set(err, SPEC_ACCESS_REFUSED,
                   "access to %s '%.*s' in vhost '%s' refused for user '%s'", kind, (int)res.n,
                   (const char *)res.p, conn_vhost(c), auth_user_name(conn_user(c)));
}

struct queue *handle__queue(struct chan *ch, struct view name, struct view *name_out,
                            struct proto_err *err)
{
    struct queue *q;

    if (!name.n) {
        name = view_str(chan_last_queue(ch));
        if (!name.n) {
            err_set(err, SPEC_NOT_FOUND, "no previously declared queue");
            return NULL;
        }
    }
    if (name_out)
        *name_out = name;
    q = vhost_queue(chan_vhost(ch), name);
    if (!q)
        err_set(err, SPEC_NOT_FOUND, "no queue '%.*s' in vhost '%s'", (int)name.n,
                (const char *)name.p, conn_vhost(chan_conn(ch)));
    return q;
}

struct queue *handle__readable_queue(struct chan *ch, struct view name, struct proto_err *err)
{
    struct queue *q;

    if (!name.n && !(name = view_str(chan_last_queue(ch))).n) {
        err_set(err, SPEC_NOT_FOUND, "no previously declared queue");
        return NULL;
    }
    if (handle__check_access(ch, AUTH_READ, "queue", name, err) < 0 ||
        !(q = handle__queue(ch, name, NULL, err)) || handle__check_exclusive(ch, q, err) < 0)
        return NULL;
    return q;
}

int handle__check_exclusive(struct chan *ch, const struct queue *q, struct proto_err *err)
{
    return queue_check_access(q, conn_id(chan_conn(ch)), err);
}

struct exch *handle__exch(struct chan *ch, struct view name, struct proto_err *err)
{
    struct exch *x = vhost_exch(chan_vhost(ch), name);

    if (!x)
        err_set(err, SPEC_NOT_FOUND, "no exchange '%.*s' in vhost '%s'", (int)name.n,
                (const char *)name.p, conn_vhost(chan_conn(ch)));
    return x;
}
