/* SPDX-License-Identifier: MIT */
/*
 * stats: broker-wide message counters, as RabbitMQ's management API and
 * Prometheus global counters report them (message_stats: publish, deliver,
 * ack, ...). Plain integers: one thread. Rates are derived by the reader.
 */
#ifndef BROKER_STATS_H
#define BROKER_STATS_H

#include <stdint.h>

struct stats {
    uint64_t publish;           /* messages received from publishers */
    uint64_t confirm;           /* publisher confirms sent (basic.ack, counted per message) */
    uint64_t deliver;           /* basic.deliver needing an ack */
    uint64_t deliver_no_ack;    /* basic.deliver to no-ack consumers */
    uint64_t get;               /* basic.get-ok needing an ack */
    uint64_t get_no_ack;        /* basic.get-ok with no-ack */
    uint64_t get_empty;         /* basic.get-empty */
    uint64_t redeliver;         /* deliveries or gets with redelivered set */
    uint64_t ack;               /* messages acknowledged by consumers */
    uint64_t return_unroutable; /* mandatory messages returned */
    uint64_t drop_unroutable;   /* unroutable messages dropped */
    uint64_t connection_created, connection_closed;
    uint64_t channel_created, channel_closed;
};

/** The process-wide counters (module state; one loop). */
extern struct stats stats;

#endif
