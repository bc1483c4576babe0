/* SPDX-License-Identifier: MIT */
/*
 * handle: helpers shared by the per-class handlers (broker/handle_*.c).
 * The handlers themselves are declared in the generated broker/handlers_gen.h.
 */
#ifndef BROKER_HANDLE_H
#define BROKER_HANDLE_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/auth.h"
#include "broker/err.h"
#include "broker/util.h"

struct chan;
struct queue;
struct exch;

/** Fills err with 540 NOT_IMPLEMENTED naming method id and returns -1. */
int handle__not_implemented(uint32_t id, struct proto_err *err);
/**
 * RabbitMQ's access check: 0, or -1 with 403 ACCESS_REFUSED "access to
 * <kind> '<name>' in vhost '<v>' refused for user '<u>'". The default
 * exchange is checked as "amq.default".
 */
int handle__check_access(struct chan *ch, enum auth_op op, const char *kind, struct view name,
                         struct proto_err *err);
/**
 * Resolves a queue name the way RabbitMQ does: an empty name means the last
 * queue declared on the channel. Returns the queue or NULL with 404
 * ("no queue 'q' in vhost '/'", or "no previously declared queue"). When
 * name_out is given it receives the expanded name (borrowed).
 */
struct queue *handle__queue(struct chan *ch, struct view name, struct view *name_out,
                            struct proto_err *err);
/**
 * The queue basic.get or basic.consume reads from, with RabbitMQ's checks in
 * its order: "" means the last declared queue (404 "no previously declared
 * queue"), then 403 without read permission, 404 when missing, 405 when
 * exclusive to another connection. NULL with err set on failure.
 */
struct queue *handle__readable_queue(struct chan *ch, struct view name, struct proto_err *err);
/** 405 RESOURCE_LOCKED unless q is usable from this channel's connection. */
int handle__check_exclusive(struct chan *ch, const struct queue *q, struct proto_err *err);
/** The exchange or NULL with 404 "no exchange 'x' in vhost '/'". */
struct exch *handle__exch(struct chan *ch, struct view name, struct proto_err *err);

#endif
