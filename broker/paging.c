/* SPDX-License-Identifier: MIT */
/* paging: the memory budget, the pager, the spill area's wiring (see paging.h). */
#include "broker/paging.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "broker/config.h"
#include "broker/durable.h"
#include "broker/log.h"
#include "broker/memmon.h"
#include "broker/msg.h"
#include "persist/spill.h"
#include "persist/store.h"
#include "queue/queue.h"

/* Messages per spill call (the queue hands over at most 128 at a time). */
#define CHUNK 128u

static struct {
    const struct config *cfg;
    struct spill *sp;  /* NULL: closed */
    bool tried;        /* a page-out this iteration did not get under the budget */
    bool write_failed; /* the last spill write failed (logged once per streak) */
} P;

/* ---- the pager ---- */

/* Persistent messages of a durable queue are in the journal already: the
 * stub names the record, nothing is written (while the entry lives, the
 * store keeps the record readable). */
static bool in_journal(struct store *st, struct queue *q, const struct msg *m, uint64_t seq)
{
    uint32_t qid = queue_store_qid(q);

    return st && qid && msg_is_persistent(m) && msg_store_id(m) &&
           store_entry_readable(st, qid, seq, msg_store_id(m));
}

static void replace(struct msg **slot, struct msg *with)
{
    msg_unref(slot);
    *slot = with;
}

static void page_out_chunk(struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n)
{
    struct store *st = durable_store();
    struct view recs[CHUNK];
    uint64_t locs[CHUNK];
    size_t idx[CHUNK], k = 0;
    struct store_err err;

    for (size_t i = 0; i < n; i++) {
        if (in_journal(st, q, ms[i], seqs[i])) {
            replace(&ms[i], msg_stub_create(ms[i], MSG_PAGED_STORE, 0));
            continue;
        }
        recs[k] = msg_data(ms[i]);
        idx[k++] = i;
    }
    if (!k)
        return;
    if (spill_append(P.sp, recs, k, locs, &err) != 0) {
        if (!P.write_failed)
            log_error("spill area: %s (message bytes stay in memory)", err.text);
        P.write_failed = true;
        return;
    }
    if (P.write_failed)
        log_info("spill area: writing again");
    P.write_failed = false;
    for (size_t j = 0; j < k; j++)
        replace(&ms[idx[j]], msg_stub_create(ms[idx[j]], MSG_PAGED_SPILL, locs[j]));
}

static void pager_out(void *arg, struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n)
{
    (void)arg;
    if (!P.sp)
        return;
    for (size_t i = 0; i < n; i += CHUNK)
        page_out_chunk(q, ms + i, seqs + i, n - i < CHUNK ? n - i : CHUNK);
}

static void lost(struct queue *q, uint64_t seq, const char *why)
{
    log_error("queue '%s' in vhost '%s': message %" PRIu64 " cannot be read back (%s): dropped",
              queue_name(q), queue_vhost(q), seq, why);
}

static void read_journal(struct queue *q, struct msg **slot, uint64_t seq)
{
    struct store *st = durable_store();
    const struct msg *s = *slot;
    struct store_err err;
    struct store_msg_dst d;
    uint8_t *data;
    struct msg *m;

    if (!st) {
        lost(q, seq, "the message store is closed");
        return;
    }
    m = msg_unstub(s, &data);
    /* data is exchange | routing key | props | body; the (not yet filled)
     * resident message knows where each part goes. */
    d.exchange = data;
    d.exchange_n = msg_exchange(m).n;
    d.routing_key = data + d.exchange_n;
    d.routing_key_n = msg_routing_key(m).n;
    d.props = d.routing_key + d.routing_key_n;
    d.props_n = msg_props(m).n;
    d.body = d.props + d.props_n;
    d.body_n = (size_t)msg_body_size(m);
    if (store_read_msg(st, msg_store_id(s), &d, &err) != 0) {
        lost(q, seq, err.text);
        msg_unref(&m);
        return;
    }
    replace(slot, m);
}

static void page_in_chunk(struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n)
{
    struct msg *back[CHUNK];
    uint8_t *dsts[CHUNK];
    uint64_t locs[CHUNK];
    size_t lens[CHUNK], idx[CHUNK], k = 0;
    bool ok[CHUNK];
    struct store_err err;

    for (size_t i = 0; i < n; i++) {
        if (msg_paged(ms[i]) == MSG_PAGED_STORE) {
            read_journal(q, &ms[i], seqs[i]);
            continue;
        }
        back[k] = msg_unstub(ms[i], &dsts[k]);
        locs[k] = msg_page_loc(ms[i]);
        lens[k] = msg_data_len(ms[i]);
        idx[k++] = i;
    }
    if (!k)
        return;
    spill_read(P.sp, k, locs, dsts, lens, ok, &err);
    for (size_t j = 0; j < k; j++) {
        if (ok[j]) {
            replace(&ms[idx[j]], back[j]);
        } else {
            lost(q, seqs[idx[j]], err.text);
            msg_unref(&back[j]);
        }
    }
}

static void pager_in(void *arg, struct queue *q, struct msg **ms, const uint64_t *seqs, size_t n)
{
    (void)arg;
    if (!P.sp) {
        for (size_t i = 0; i < n; i++)
            lost(q, seqs[i], "paging is closed");
        return;
    }
    for (size_t i = 0; i < n; i += CHUNK)
        page_in_chunk(q, ms + i, seqs + i, n - i < CHUNK ? n - i : CHUNK);
}

static const struct queue_pager pager = {pager_out, pager_in};

/* The last reference to a stub went: its spill record is free. */
static void stub_release(const struct msg *stub)
{
    if (P.sp && msg_paged(stub) == MSG_PAGED_SPILL)
        spill_release(P.sp, msg_page_loc(stub), msg_data_len(stub));
}

/* ---- open and close ---- */

void paging_init(const struct config *cfg)
{
    memset(&P, 0, sizeof(P));
    P.cfg = cfg;
}

int paging_open(char *err, size_t errlen)
{
    struct store_err serr;

    P.sp = spill_open(P.cfg->data_dir, NULL, &serr);
    if (!P.sp) {
        snprintf(err, errlen, "spill area in '%s': %s", P.cfg->data_dir, serr.text);
        return -1;
    }
    queue_set_pager(&pager, NULL);
    msg_set_stub_release(stub_release);
    return 0;
}

void paging_close(void)
{
    if (!P.sp)
        return;
    queue_set_pager(NULL, NULL);
    msg_set_stub_release(NULL);
    spill_close(P.sp);
    P.sp = NULL;
}

/* limits.memory_budget, or half the memory high watermark (RabbitMQ's
 * vm_memory_high_watermark_paging_ratio, 0.5), which may change at run time:
 * paging starts well before the memory alarm would block publishers. */
uint64_t paging_budget(void)
{
    return P.cfg && P.cfg->memory_budget ? P.cfg->memory_budget : memmon_limit() / 2;
}

/* Paging goes down to three quarters of the budget, so that each page-out
 * is a batch rather than a message. */
static uint64_t target(void)
{
    uint64_t b = paging_budget();

    return b - b / 4;
}

/* ---- the budget ---- */

static void page_out_now(void)
{
    if (!P.sp || P.tried)
        return;
    queue_page_out(target());
    /* What is left cannot be paged out now (requeued messages, a failing
     * disk): do not walk the queues again at every publish. */
    if (queue_total_resident_bytes() > paging_budget())
        P.tried = true;
}

void paging_run(void)
{
    P.tried = false;
    if (queue_total_resident_bytes() > paging_budget())
        page_out_now();
}

bool paging_memory_high(void)
{
    if (queue_total_resident_bytes() <= paging_budget())
        return false;
    page_out_now();
    return queue_total_resident_bytes() > paging_budget();
}

bool paging_memory_ok(void)
{
    if (queue_total_resident_bytes() > target())
        page_out_now();
    return queue_total_resident_bytes() <= target();
}

bool paging_recover_as_stub(uint64_t body_size)
{
    return body_size > 0 && queue_total_resident_bytes() + body_size > target();
}

void paging_get_stats(struct paging_stats *out)
{
    struct queue_paging_totals t;
    struct spill_stats ss = {0};

    queue_paging_totals(&t);
    if (P.sp)
        spill_get_stats(P.sp, &ss);
    *out = (struct paging_stats){paging_budget(), queue_total_resident_bytes(),
                                 ss.disk_bytes,   ss.live_records,
                                 t.paged_out,     t.paged_in,
                                 t.lost};
}
