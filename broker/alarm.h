/* SPDX-License-Identifier: MIT */
/*
 * alarm: the node's resource alarms (RabbitMQ's rabbit_alarm), the set of
 * resources the broker is low on: memory (broker/memmon.c, the high
 * watermark) and disk (broker/durable.c, disk_free_limit). Both may be raised
 * at once.
 *
 * While any alarm is raised, a connection that publishes is blocked: it is no
 * longer read from, and a client that announced the connection.blocked
 * capability gets connection.blocked with RabbitMQ's reason text ("low on
 * memory", "low on disk", "low on memory & disk"). Connections that do not
 * publish (consumers) keep running, so queues drain. When the last alarm
 * clears, every blocked connection is resumed and gets connection.unblocked.
 * The per-connection half lives in broker/conn.c (conn_alarms_changed,
 * conn__note_publish).
 *
 * Module state (one loop per process); nothing here touches the event loop.
 */
#ifndef BROKER_ALARM_H
#define BROKER_ALARM_H

#include <stdbool.h>

/** The resources an alarm is about (bits of a set). */
enum alarm_resource {
    ALARM_MEMORY = 1u << 0, /* resident memory above the high watermark */
    ALARM_DISK = 1u << 1,   /* free disk space under data_dir below disk_free_limit */
};

/**
 * Raises (raised true) or clears one resource's alarm. When the set of raised
 * alarms changes, every connection is told (conn_alarms_changed: a clear of
 * the last alarm unblocks them). Idempotent; never fails.
 */
void alarm_set(enum alarm_resource r, bool raised);

/** The raised alarms, a set of enum alarm_resource bits (0: none). */
unsigned alarm_active(void);

/**
 * RabbitMQ's connection.blocked reason for a non-empty set: "low on memory",
 * "low on disk" or "low on memory & disk" (rabbit_reader blocked_by_message).
 * A static string; "" for the empty set.
 */
const char *alarm_reason(unsigned set);

/** RabbitMQ's name of a resource in /api/health/checks/alarms: "memory", "disk space". */
const char *alarm_resource_name(enum alarm_resource r);

#endif
