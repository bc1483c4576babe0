/* SPDX-License-Identifier: MIT */
/*
 * durable: what makes the broker's state survive a restart or a crash.
 *
 * Two things live in data_dir:
 *  - definitions.json: durable exchanges and queues, bindings between durable
 *    ends, users, vhosts and permissions, in RabbitMQ's definitions layout
 *    (broker/definitions.c). Rewritten whole and atomically (temp file,
 *    fsync, rename, fsync of the directory) from the loop's prepare hook after
 *    any change, at most once per loop iteration and before that iteration's
 *    output is flushed, so a declare-ok or bind-ok is only sent once the change
 *    is on disk. Non-durable objects never cause a write.
 *  - msgs/: the message store (persist/store.h). Persistent messages routed to
 *    durable queues are journalled through the queue module's observer
 *    (queue_set_observer): one MSG record per message, one ENQ per queue,
 *    DLV when delivered for an ack, ACK when the entry leaves for good.
 *
 * Precedence: config.json's users, vhosts and permissions seed a node whose
 * data_dir has no definitions.json yet (its first start, like RabbitMQ's
 * default_user); from then on the file is the truth and those config sections
 * are ignored. On start the definitions are loaded before the store is
 * recovered, so recovered entries find their queues; store queues that no
 * definition names are deleted.
 *
 * Confirms: a publish that appended records takes a ticket (durable_ticket);
 * the channel holds its confirm (or tx.commit-ok) until the store reports the
 * ticket durable, which the loop learns through an ev_async whose callback
 * calls durable_completed(). The disk alarm (free space under
 * limits.disk_free_limit, or ENOSPC) is raised and cleared through
 * broker/alarm.h, which blocks connections that publish while it is raised.
 *
 * Module state (one loop per process). Every function runs on the loop
 * thread except the wake callback given to durable_open, which the store's
 * sync thread calls. Nothing here includes <ev.h>.
 */
#ifndef BROKER_DURABLE_H
#define BROKER_DURABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct auth;
struct queue;
struct store;

/** Wakes the loop (ev_async_send); called from the store's sync thread. */
typedef void durable_wake_fn(void *arg);

/**
 * Opens the store under cfg->data_dir (which must exist), seeds auth from cfg
 * or loads data_dir/definitions.json into auth and the vhost registry,
 * recovers the stored messages into their queues and writes the definitions
 * file. cfg and auth are borrowed and must outlive the module; wake(arg) is
 * called from another thread whenever durable_completed() has work. Returns
 * 0, or -1 with a one-line reason in err (the store is locked by another
 * process, a newer store format, an unreadable definitions file, an I/O
 * error). Logs what recovery found.
 */
int durable_open(const struct config *cfg, struct auth *auth, durable_wake_fn *wake, void *arg,
                 char *err, size_t errlen);
/**
 * Writes pending definitions, flushes the store and closes it with its
 * clean-shutdown marker (blocks). Afterwards every other function here is a
 * no-op, so tearing down queues at exit changes nothing on disk. Safe to call
 * when durable_open failed or was never called.
 */
void durable_close(void);

/* ---- the loop ---- */

/** Prepare hook, every iteration: writes changed definitions, hands the
 * store its batch. */
void durable_submit(void);
/** After the wake callback: collects durable tickets, releases held confirms
 * (chan_release_durable) and raises or clears the disk alarm. */
void durable_completed(void);

/* ---- publishing ---- */

/** Records appended so far (an increasing count): compare before and after
 * routing a message to learn whether it was journalled. */
uint64_t durable_append_count(void);
/** The ticket covering every record appended so far (0 when the store is closed). */
uint64_t durable_ticket(void);
/** Whether ticket (from durable_ticket) is durable; true for 0. */
bool durable_is_durable(uint64_t ticket);
/** Free bytes under data_dir at the store's last measurement (0 when closed). */
uint64_t durable_disk_free(void);

/* ---- definitions ---- */

/** Something that belongs in definitions.json changed: rewrite it in the next
 * prepare hook. Cheap; call it liberally (only durable objects need it). */
void durable_defs_changed(void);
/** q (borrowed) was registered: a durable, non-exclusive queue gets its store
 * queue id and the definitions are rewritten. */
void durable_queue_added(struct queue *q);
/** q (borrowed) is about to be deleted: its stored entries go with it. */
void durable_queue_deleted(struct queue *q);

/** The message store, for reading paged-out messages back (broker/paging.c);
 * NULL when closed. Borrowed. */
struct store *durable_store(void);

#endif
