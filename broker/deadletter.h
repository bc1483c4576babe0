/* SPDX-License-Identifier: MIT */
/*
 * deadletter: the dead-lettered form of a message, exactly as RabbitMQ makes it.
 *
 * RabbitMQ's rules (docs: dlx.md, "Dead-Lettered Messages"):
 *  - the x-death header is an array of tables, most recent first, one per
 *    {queue, reason}: queue, reason, count, time (first), exchange and
 *    routing-keys (as first published, CC included, BCC never), and
 *    original-expiration when the message had an expiration;
 *  - x-first-death-{queue,reason,exchange} are set once; x-last-death-* on
 *    every event;
 *  - the expiration property is removed; the message is republished to the
 *    dead-letter exchange with the dead-letter routing key when one is set
 *    (then CC is dropped), otherwise with its own routing key; BCC is dropped.
 * Pure functions of their inputs: no routing, no I/O.
 */
#ifndef BROKER_DEADLETTER_H
#define BROKER_DEADLETTER_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/util.h"

struct msg;

/**
 * Returns a new message (one reference, owned by the caller) that is m
 * dead-lettered from queue for reason ("rejected", "expired", "maxlen",
 * "delivery_limit") at now (seconds since the epoch), addressed to dlx with
 * dlrk when has_dlrk. m is borrowed. Returns NULL if m's properties cannot be
 * decoded or the result would not fit a shortstr/table limit.
 */
struct msg *deadletter_make(const struct msg *m, const char *queue, const char *reason,
                            struct view dlx, struct view dlrk, bool has_dlrk, uint64_t now);

/**
 * Returns a copy of m (one reference, caller-owned; m borrowed) whose headers
 * carry x-delivery-count = count (replacing any earlier one), as quorum
 * queues mark redeliveries. NULL if m's properties cannot be decoded.
 */
struct msg *deadletter_with_delivery_count(const struct msg *m, uint32_t count);

/**
 * A copy of m without its BCC header (caller-owned), or NULL when m has none:
 * what consumers see of a sender-selected distribution (RabbitMQ).
 */
struct msg *deadletter_without_bcc(const struct msg *m);

/**
 * RabbitMQ's cycle rule: delivering a dead letter to target_queue is a cycle
 * to drop when the message's x-death already names that queue and none of its
 * deaths was a rejection (a client is then not involved, so it would loop
 * forever). headers is the dead letter's headers table (borrowed).
 */
bool deadletter_is_cycle(struct view headers, const char *target_queue);

#endif
