/* SPDX-License-Identifier: MIT */
/*
 * definitions: the broker's definitions (users, vhosts, permissions, vhost
 * limits, exchanges, queues, bindings) as JSON in RabbitMQ's definitions layout
 * (rabbit_definitions / GET /api/definitions), for the management API's
 * export and import and for the definitions file in data_dir (broker/durable.c).
 *
 * Import checks the whole document first and applies nothing when any entry
 * is invalid; then it creates what is missing. Entries that already exist are
 * kept when equivalent (a queue or exchange redeclared with other properties
 * is an error, found in the check pass).
 */
#ifndef BROKER_DEFINITIONS_H
#define BROKER_DEFINITIONS_H

#include <jansson.h>
#include <stddef.h>

struct auth;

/**
 * A new JSON object with every definition (vhost NULL) or one vhost's
 * exchanges, queues, bindings and limits (RabbitMQ's per-vhost export
 * layout). Vhost limits are "parameters" entries of component "vhost-limits",
 * name "limits", as RabbitMQ exports them. The
 * caller owns the result; NULL when vhost does not exist. auth is borrowed.
 * Predeclared exchanges, exclusive queues and the default exchange's implicit
 * bindings are left out, as in RabbitMQ.
 */
json_t *definitions_export(const struct auth *auth, const char *vhost);

/**
 * As definitions_export(auth, NULL), restricted to what survives a restart:
 * durable exchanges and queues, and bindings whose source and destination are
 * both durable (users, vhosts and permissions all). For the definitions file.
 */
json_t *definitions_export_durable(const struct auth *auth);

/**
 * The limits set on vhost as a new JSON object of RabbitMQ's names
 * ({"max-queues": N, ...}; owned by the caller), or NULL when none is set.
 */
json_t *definitions_vhost_limits(const struct auth *auth, const char *vhost);

/**
 * Imports defs (borrowed): users, vhosts, permissions, vhost limits
 * ("parameters" of component "vhost-limits"; each replaces the vhost's
 * limits), exchanges, queues, bindings; with vhost non-NULL only exchanges,
 * queues, bindings and limits, all into that vhost. Unknown top-level keys
 * (policies, ...) and other parameter components are ignored. Queue limits
 * are not enforced on import.
 * Returns 0, or -1 with a one-line reason in err when anything is invalid, in
 * which case nothing was changed.
 */
int definitions_import(struct auth *auth, const json_t *defs, const char *vhost, char *err,
                       size_t errlen);

#endif
