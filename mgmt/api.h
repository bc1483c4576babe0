/* SPDX-License-Identifier: MIT */
/* api: access helpers and handlers shared between mgmt/api.c and mgmt/api_objects.c. */
#ifndef MGMT_API_H
#define MGMT_API_H

#include <stdbool.h>

#include "broker/auth.h"
#include "mgmt/mgmt_int.h"

bool mgmt__is_admin(const struct mgmt_req *r);
/** administrator or monitoring: sees every vhost and connection. */
bool mgmt__is_monitor(const struct mgmt_req *r);
/** Replies 401 "Not administrator user" and returns false unless an administrator. */
bool mgmt__require_admin(struct mgmt_req *r);
/** Whether vhost shows in lists for this user. */
bool mgmt__vhost_visible(const struct mgmt_req *r, const char *vhost);
/**
 * The vhost named by path argument i, or NULL after replying 404 (no such
 * vhost) or 401 (no permissions on it).
 */
struct vhost *mgmt__vhost_arg(struct mgmt_req *r, size_t i);
/** As mgmt__vhost_arg, but returns the vhost's name as a new string (owned by
 * the caller) for filtering lists; NULL after replying. */
char *mgmt__vhost_name_arg(struct mgmt_req *r, size_t i);
/** Creates or replaces a user, keeping its permissions (see api.c). */
int mgmt__put_user(struct auth *a, const char *name, enum auth_hash_alg alg, const char *hash,
                   const char *const *tags, size_t ntags, char *err, size_t errlen);

struct proto_err;
struct ops_ctx;
/** Maps an AMQP error to RabbitMQ's status: 403 -> 401, 404 -> 404, else 400 with the text. */
void mgmt__reply_proto_err(struct mgmt_req *r, const struct proto_err *e);
/** The ops context of an HTTP request: its user's permissions in vhost v (borrowed). */
void mgmt__ops_ctx(struct mgmt_req *r, struct vhost *v, struct ops_ctx *o);
/** A JSON string of v (borrowed) in base64. Never NULL. */
json_t *mgmt__b64_new(struct view v);
/** RabbitMQ's message "properties" object for raw content-header properties (borrowed). */
json_t *mgmt__props_new(struct view raw);
/**
 * Sets "payload" and "payload_encoding" of item for body (borrowed): a string
 * when body is UTF-8 and base64 is false (RabbitMQ's "auto"), else base64.
 */
void mgmt__payload_set(json_t *item, struct view body, bool base64);

mgmt_handler mgmt__h_connections, mgmt__h_connection, mgmt__h_channels, mgmt__h_channel,
    mgmt__h_consumers, mgmt__h_exchanges, mgmt__h_exchange, mgmt__h_exchange_bindings,
    mgmt__h_exchange_publish, mgmt__h_queues, mgmt__h_queue, mgmt__h_queue_bindings,
    mgmt__h_queue_contents, mgmt__h_queue_get, mgmt__h_bindings, mgmt__h_bindings_between,
    mgmt__h_binding, mgmt__h_queue_messages, mgmt__h_queue_replay, mgmt__h_vhost_limits,
    mgmt__h_vhost_limit, mgmt__h_health_alarms, mgmt__h_node_watermark;

#endif
