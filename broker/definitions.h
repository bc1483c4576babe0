/* SPDX-License-Identifier: MIT */
/*
 * definitions: the broker's definitions (users, vhosts, permissions,
 * exchanges, queues, bindings) as JSON in RabbitMQ's definitions layout
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
 * exchanges, queues and bindings (RabbitMQ's per-vhost export layout). The
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
 * Imports defs (borrowed): users, vhosts, permissions, exchanges, queues,
 * bindings; with vhost non-NULL only exchanges, queues and bindings, all into
 * that vhost. Unknown top-level keys (policies, parameters, ...) are ignored.
 * Returns 0, or -1 with a one-line reason in err when anything is invalid, in
 * which case nothing was changed.
 */
int definitions_import(struct auth *auth, const json_t *defs, const char *vhost, char *err,
                       size_t errlen);

#endif
