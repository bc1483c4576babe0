/* SPDX-License-Identifier: MIT */
/*
 * queue_int: declarations shared by the files of the queue module only.
 *
 * args.c parses and validates declare arguments the way RabbitMQ does and
 * compares them on redeclare; queue.c owns the queue itself. The parsed
 * values live in struct queue__args; string values are views into the
 * queue's own copy of the argument table, so they live as long as the queue.
 */
#ifndef QUEUE_QUEUE_INT_H
#define QUEUE_QUEUE_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/err.h"
#include "broker/util.h"

struct queue;

/*
 * The queue type named by x-queue-type. Quorum queues are accepted and run
 * as classic queues here (one node, no replication); what they change is the
 * argument set RabbitMQ accepts and compares, and the property checks
 * (durable, not exclusive, not auto-delete). Streams are refused at declare.
 */
enum queue__type {
    QUEUE__TYPE_CLASSIC,
    QUEUE__TYPE_QUORUM,
};

enum queue__overflow {
    QUEUE__OVERFLOW_DROP_HEAD,
    QUEUE__OVERFLOW_REJECT_PUBLISH,
    QUEUE__OVERFLOW_REJECT_PUBLISH_DLX,
};

/** Parsed declare arguments; a limit of -1 means "not set". */
struct queue__args {
    enum queue__type type;
    enum queue__overflow overflow;
    int64_t message_ttl;       /* x-message-ttl, ms, 0..10 years */
    int64_t expires;           /* x-expires, ms, 1..10 years */
    int64_t max_length;        /* x-max-length, >= 0 */
    int64_t max_length_bytes;  /* x-max-length-bytes, >= 0 */
    int64_t delivery_limit;    /* x-delivery-limit (quorum), any integer */
    bool has_delivery_limit;   /* x-delivery-limit is a number (floats floored) */
    bool delivery_limit_given; /* x-delivery-limit is present, whatever its type */
    bool has_max_priority;
    uint8_t max_priority; /* x-max-priority, 0..255; 0 when unset */
    bool single_active;   /* x-single-active-consumer */
    bool has_dlx;
    bool has_dlrk;
    bool dlx_at_least_once; /* x-dead-letter-strategy (quorum) */
    struct view dlx;        /* x-dead-letter-exchange */
    struct view dlrk;       /* x-dead-letter-routing-key */
};

/**
 * Validates the argument table t (checked contents, borrowed) for a queue
 * declare, in RabbitMQ's order: x-queue-type first, then each argument the
 * queue type accepts (rabbit_amqqueue:declare_args/0 order), then arguments
 * that belong only to other queue types. Fills *a (string views point into t).
 * Returns 0, or -1 with 406 PRECONDITION_FAILED and RabbitMQ's text. vhost and
 * name are only used for the text. Never allocates, never calls back.
 */
int queue__args_parse(struct queue__args *a, struct view t, const char *vhost, const char *name,
                      struct proto_err *err);

/**
 * Compares the arguments of a redeclare (new_args) with the queue's (cur_args)
 * over the keys RabbitMQ compares for the queue's type, in its order
 * (rabbit_misc:assert_args_equivalence/4). Returns 0, or -1 with 406 and
 * "inequivalent arg '<key>' for queue ...". Both tables are checked contents.
 */
int queue__args_check_equivalent(enum queue__type type, struct view cur_args, struct view new_args,
                                 const char *vhost, const char *name, struct proto_err *err);

/**
 * Bytes of ring and heap storage the queue holds for ready messages (entries
 * only, not the messages). For tests and memory accounting.
 */
size_t queue__storage_bytes(const struct queue *q);

/**
 * Allocations the queue module has made so far (rings, heaps, tables, queue
 * records). For tests that check a path allocates nothing per message.
 */
size_t queue__alloc_count(void);

/** RabbitMQ's module name of a queue type ("rabbit_classic_queue"), for texts. */
const char *queue__type_module(enum queue__type type);

#endif
