/* SPDX-License-Identifier: MIT */
/*
 * msg: one published message, refcounted and immutable once complete.
 *
 * A message is one allocation: the header, then copies of exchange name,
 * routing key, the raw content-header properties and the body. Every holder
 * owns exactly one reference: each queue entry, each unacked delivery, each
 * output segment still waiting for the socket, and the journal writer while a
 * record is pending (STYLE.md §5). Counts are plain integers (one thread).
 * Deliveries send the stored property bytes and body without copying them.
 */
#ifndef BROKER_MSG_H
#define BROKER_MSG_H

#include <stdbool.h>
#include <stdint.h>

#include "broker/util.h"

struct msg;

/**
 * Creates a message with room for body_size body bytes, copying exchange,
 * routing_key and props (the raw property flags + list of the content header,
 * already validated by the caller with spec_decode_props). Returns NULL when
 * the allocation fails (body_size is peer-chosen: the caller has checked it
 * against max_message_size first). The result holds one reference.
 * exchange and routing_key are shortstrs (at most 255 bytes; longer ones are a
 * caller bug and abort). props are decoded once here: priority, delivery mode,
 * expiration and the headers table position are cached; props that fail to
 * decode read as "no properties" (they are still stored and sent as received).
 */
struct msg *msg_create(struct view exchange, struct view routing_key, struct view props,
                       uint64_t body_size);
/** Appends body bytes; more than the declared size aborts (a caller bug). */
void msg_append_body(struct msg *m, struct view chunk);
/** True once body_size bytes have been appended. */
bool msg_is_complete(const struct msg *m);

/** Takes another reference and returns m; aborts on a zero count (also under NDEBUG). */
struct msg *msg_ref(struct msg *m);
/**
 * Drops the reference *m, frees at zero, and sets *m = NULL. Accepts *m == NULL.
 * Aborts on a zero count (underflow).
 */
void msg_unref(struct msg **m);
uint32_t msg_refs(const struct msg *m);

/* The views below point into the message and live as long as it does. */
struct view msg_exchange(const struct msg *m);
struct view msg_routing_key(const struct msg *m);
/** Raw property bytes (flag word + property list), as received. */
struct view msg_props(const struct msg *m);
/** The body bytes appended so far (all of them once msg_is_complete). */
struct view msg_body(const struct msg *m);
uint64_t msg_body_size(const struct msg *m);
/** Bytes this message costs in memory (for budgets and management). */
size_t msg_mem_size(const struct msg *m);

/* Properties decoded once at creation (the message is immutable). */
/** priority property, 0 when absent. */
uint8_t msg_priority(const struct msg *m);
/** delivery_mode == 2. */
bool msg_is_persistent(const struct msg *m);
/** headers table contents (a view into the stored props), empty when absent. */
struct view msg_headers(const struct msg *m);
/**
 * expiration property in ms, or -1 when absent or invalid. Valid as RabbitMQ
 * reads it: an optional sign and decimal digits only ("+5" and "-0" pass), with
 * a value from 0 to ten years (315360000000 ms).
 */
int64_t msg_expiration_ms(const struct msg *m);

/** Store id (0 = not stored). Set by persist/ when the message is journalled. */
uint64_t msg_store_id(const struct msg *m);
void msg_set_store_id(struct msg *m, uint64_t id);

/* ---- paging: stubs (issue 5 item 6) ----
 *
 * A stub stands for a message whose bytes are on disk: it is a header with
 * the sizes, the decoded properties above, the store id and a locator, and
 * nothing else. msg_body_size, msg_priority, msg_is_persistent,
 * msg_expiration_ms, msg_store_id and msg_mem_size work on it; msg_exchange,
 * msg_routing_key, msg_props, msg_body, msg_headers and msg_data must not be
 * called on it (asserted). Only queue/ holds stubs: whatever hands a message
 * out first turns it back into a resident one (msg_unstub + a read). A stub is
 * immutable and refcounted like any message.
 */

/** Where a message's bytes are. */
enum msg_paged {
    MSG_RESIDENT = 0,    /* in memory: a normal message */
    MSG_PAGED_SPILL = 1, /* in the spill area (persist/spill.h); locator from spill_append */
    MSG_PAGED_STORE = 2, /* in the message store's journal, under msg_store_id */
};

/** MSG_RESIDENT, or where a stub's bytes are. */
enum msg_paged msg_paged(const struct msg *m);
/** A stub's locator (asserts m is one). */
uint64_t msg_page_loc(const struct msg *m);
/** Bytes of exchange, routing key, props and body together (stubs too). */
size_t msg_data_len(const struct msg *m);
/** Those bytes of a complete resident message, contiguous in that order (what
 * a pager writes). Lives as long as m. */
struct view msg_data(const struct msg *m);
/**
 * A new stub (one reference) for the complete resident message m (borrowed):
 * m's header with where and loc. Never fails (aborts on out-of-memory).
 */
struct msg *msg_stub_create(const struct msg *m, enum msg_paged where, uint64_t loc);
/**
 * A new stub (one reference) for a message known only from disk (recovery):
 * exchange and routing_key are shortstrs (longer aborts), props are decoded
 * here as msg_create does; all three are borrowed and not kept.
 */
struct msg *msg_stub_new(struct view exchange, struct view routing_key, struct view props,
                         uint64_t body_size, enum msg_paged where, uint64_t loc);
/**
 * A new resident message (one reference) with stub's header; the caller must
 * fill all msg_data_len(stub) bytes at *data (exchange, routing key, props,
 * body) before anyone reads it. The stub is borrowed and unchanged. Never
 * fails (aborts on out-of-memory: the body was accepted once already).
 */
struct msg *msg_unstub(const struct msg *stub, uint8_t **data);
/** Called with every stub whose last reference goes, just before it is freed. */
typedef void msg_stub_release_fn(const struct msg *stub);
/** Registers that hook (NULL: none). One per process: the pager's. */
void msg_set_stub_release(msg_stub_release_fn *fn);

#endif
