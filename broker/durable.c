/* SPDX-License-Identifier: MIT */
/* durable: definitions file and message store wiring (see durable.h). */
#include "broker/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "broker/alarm.h"
#include "broker/auth.h"
#include "broker/chan.h"
#include "broker/config.h"
#include "broker/definitions.h"
#include "broker/log.h"
#include "broker/msg.h"
#include "broker/paging.h"
#include "broker/vhost.h"
#include "persist/store.h"
#include "queue/queue.h"

#define DEFS_FILE "definitions.json"
/* A failed definitions write is retried, but not on every loop iteration. */
#define DEFS_RETRY_MS 1000

static struct {
    struct store *st; /* NULL: closed (or never opened): everything is a no-op */
    const struct config *cfg;
    struct auth *auth;
    durable_wake_fn *wake;
    void *wake_arg;
    bool recovered; /* store_recover ran: queue ids may be handed out */
    bool defs_dirty;
    bool alarm;
    unsigned status; /* store_status as last seen */
    uint64_t appends;
    uint64_t defs_retry_at; /* monotonic ms */
    char *defs_path, *defs_tmp;
    char *defs_last; /* the text last written (a rewrite with no change is skipped) */
} D;

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static char *path_join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(n);

    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* ---- the queue observer: the journal side of every entry ---- */

static void obs_enqueued(void *arg, struct queue *q, struct msg *m, uint64_t seq)
{
    uint32_t qid = queue_store_qid(q);
    uint64_t id;

    (void)arg;
    /* Transient messages are not stored, even in durable queues (RabbitMQ). */
    if (!D.st || !msg_is_persistent(m))
        return;
    id = msg_store_id(m);
    /* The message is written once, however many durable queues it reaches; an
     * id the store has forgotten (all its entries settled) is written anew. */
    if (!id || store_append_enq(D.st, qid, seq, id) != 0) {
        struct store_msg_data d = {msg_exchange(m), msg_routing_key(m), msg_props(m), msg_body(m)};

        id = store_append_msg(D.st, &d, msg_ref(m));
        msg_set_store_id(m, id);
        if (store_append_enq(D.st, qid, seq, id) != 0)
            log_error("message store: cannot enqueue message %" PRIu64
                      " in queue '%s' (seq %" PRIu64 ")",
                      id, queue_name(q), seq);
    }
    D.appends++;
}

static void obs_delivered(void *arg, struct queue *q, uint64_t seq)
{
    (void)arg;
    /* -1 for entries the store does not hold (transient messages): nothing to do. */
    if (D.st)
        store_append_delivered(D.st, queue_store_qid(q), seq);
}

static void obs_settled(void *arg, struct queue *q, uint64_t seq)
{
    (void)arg;
    if (D.st)
        store_append_ack(D.st, queue_store_qid(q), seq);
}

static const struct queue_observer observer = {obs_enqueued, obs_delivered, obs_settled};

/* ---- store callbacks ---- */

/* On the sync thread: only wake the loop. */
static void store_notify(void *arg, uint64_t durable)
{
    (void)arg;
    (void)durable;
    if (D.wake)
        D.wake(D.wake_arg);
}

static void release_pin(void *pin)
{
    struct msg *m = pin;

    msg_unref(&m);
}

/* ---- definitions file ---- */

static bool stored_queue(const struct queue *q)
{
    unsigned f = queue_flags(q);

    return (f & QUEUE_F_DURABLE) && !(f & QUEUE_F_EXCLUSIVE);
}

void durable_defs_changed(void)
{
    if (D.st)
        D.defs_dirty = true;
}

static void on_auth_change(void *arg)
{
    (void)arg;
    durable_defs_changed();
}

/* Writes text to path atomically: a stale temp file goes first, then write,
 * fflush, fsync, rename and an fsync of the directory so the rename itself is
 * durable. Returns 0, or -1 with errno set. */
static int atomic_write(const char *dir, const char *tmp, const char *path, const char *text)
{
    size_t n = strlen(text);
    int fd, dfd, saved;
    FILE *f;

    if (unlink(tmp) != 0 && errno != ENOENT)
        return -1;
    /* The file holds password hashes. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    f = fdopen(fd, "w");
    if (!f) {
        saved = errno;
        close(fd);
        goto out_unlink;
    }
    if (fwrite(text, 1, n, f) != n || fflush(f) != 0 || fsync(fileno(f)) != 0) {
        saved = errno;
        fclose(f);
        goto out_unlink;
    }
    if (fclose(f) != 0) {
        saved = errno;
        goto out_unlink;
    }
    if (rename(tmp, path) != 0) {
        saved = errno;
        goto out_unlink;
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -1;
    if (fsync(dfd) != 0) {
        saved = errno;
        close(dfd);
        errno = saved;
        return -1;
    }
    close(dfd);
    return 0;

out_unlink:
    unlink(tmp);
    errno = saved;
    return -1;
}

static void write_defs(void)
{
    json_t *d = definitions_export_durable(D.auth);
    char *text = json_dumps(d, JSON_INDENT(2));

    json_decref(d);
    if (!text) {
        log_error("%s: cannot serialize the definitions", D.defs_path);
        D.defs_retry_at = now_ms() + DEFS_RETRY_MS;
        return;
    }
    if (D.defs_last && strcmp(text, D.defs_last) == 0) {
        free(text);
        D.defs_dirty = false;
        return;
    }
    if (atomic_write(D.cfg->data_dir, D.defs_tmp, D.defs_path, text) != 0) {
        log_error("%s: cannot write definitions: %s (retrying)", D.defs_path, strerror(errno));
        D.defs_retry_at = now_ms() + DEFS_RETRY_MS;
        free(text);
        return;
    }
    free(D.defs_last);
    D.defs_last = text;
    D.defs_dirty = false;
}

/* Loads the definitions file into auth and the registries; 1 when there is
 * none (first start), 0 when loaded, -1 with err. */
static int load_defs(char *err, size_t errlen)
{
    json_error_t je;
    json_t *defs;
    char why[512];
    int rc;

    if (access(D.defs_path, F_OK) != 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "%s: %s", D.defs_path, strerror(errno));
        return -1;
    }
    defs = json_load_file(D.defs_path, JSON_REJECT_DUPLICATES, &je);
    if (!defs) {
        snprintf(err, errlen, "%s:%d:%d: %s", D.defs_path, je.line, je.column, je.text);
        return -1;
    }
    rc = definitions_import(D.auth, defs, NULL, why, sizeof(why));
    json_decref(defs);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s", D.defs_path, why);
        return -1;
    }
    if (why[0])
        log_warn("%s: %s", D.defs_path, why);
    return 0;
}

/* ---- recovery ---- */

struct recovery {
    struct queue **byqid; /* store qid -> queue, NULL when no definition names it */
    size_t cap;
    uint32_t *orphans; /* store queues without a definition */
    size_t norphans, caporphans;
    uint64_t entries, messages, stubs;
    size_t queues;
};

static void rec_queue(void *ctx, uint32_t qid, struct view vh, struct view name, uint64_t max_seq)
{
    struct recovery *r = ctx;
    struct vhost *v = vhost_find(vh);
    struct queue *q = v ? vhost_queue(v, name) : NULL;

    if (qid >= r->cap) {
        size_t cap = r->cap ? r->cap : 16;
        while (cap <= qid)
            cap *= 2;
        r->byqid = xrealloc(r->byqid, cap * sizeof(*r->byqid));
        memset(r->byqid + r->cap, 0, (cap - r->cap) * sizeof(*r->byqid));
        r->cap = cap;
    }
    if (!q || !stored_queue(q) || queue_store_qid(q)) {
        if (r->norphans == r->caporphans) {
            r->caporphans = r->caporphans ? r->caporphans * 2 : 8;
            r->orphans = xrealloc(r->orphans, r->caporphans * sizeof(*r->orphans));
        }
        r->orphans[r->norphans++] = qid;
        return;
    }
    r->byqid[qid] = q;
    r->queues++;
    queue_set_store_qid(q, qid);
    queue_reserve_seq(q, max_seq);
}

static void *rec_message(void *ctx, const struct store_recovered_msg *rm)
{
    struct recovery *r = ctx;
    struct msg *m;

    /* Past the memory budget the bytes stay in the journal: the queue gets a
     * stub, read back when delivered (broker/paging.h). */
    if (paging_recover_as_stub(rm->body.n)) {
        m = msg_stub_new(rm->exchange, rm->routing_key, rm->props, rm->body.n, MSG_PAGED_STORE, 0);
        msg_set_store_id(m, rm->id);
        r->messages++;
        r->stubs++;
        return m;
    }
    m = msg_create(rm->exchange, rm->routing_key, rm->props, rm->body.n);
    if (!m) {
        log_error("message store: no memory for message %" PRIu64 " (%zu bytes)", rm->id,
                  rm->body.n);
        return NULL;
    }
    msg_append_body(m, rm->body);
    msg_set_store_id(m, rm->id);
    r->messages++;
    return m;
}

static void rec_entry(void *ctx, uint32_t qid, uint64_t seq, void *handle, bool redelivered)
{
    struct recovery *r = ctx;
    struct queue *q = qid < r->cap ? r->byqid[qid] : NULL;

    if (!q || !handle)
        return;
    /* Delivery markers are not synced: after a crash any entry may have been
     * delivered, so all of them come back flagged. */
    queue_restore(q, handle, seq, redelivered || !store_was_clean(D.st));
    r->entries++;
}

static void rec_release(void *ctx, void *handle)
{
    struct msg *m = handle;

    (void)ctx;
    msg_unref(&m);
}

static void rec_warn(void *ctx, const char *text)
{
    (void)ctx;
    log_warn("%s", text);
}

static const struct store_recover_ops recover_ops = {
    .queue = rec_queue,
    .message = rec_message,
    .entry = rec_entry,
    .release = rec_release,
    .warn = rec_warn,
};

static void open_missing(struct queue *q, void *arg)
{
    (void)arg;
    if (stored_queue(q) && !queue_store_qid(q))
        queue_set_store_qid(
            q, store_queue_open(D.st, view_str(queue_vhost(q)), view_str(queue_name(q))));
}

/* ---- open and close ---- */

int durable_open(const struct config *cfg, struct auth *auth, durable_wake_fn *wake, void *arg,
                 char *err, size_t errlen)
{
    struct store_options opt = {0};
    struct store_err serr;
    struct recovery r = {0};
    uint64_t t0 = now_ms();
    int first;

    memset(&D, 0, sizeof(D));
    D.cfg = cfg;
    D.auth = auth;
    D.wake = wake;
    D.wake_arg = arg;
    D.defs_path = path_join(cfg->data_dir, DEFS_FILE);
    D.defs_tmp = path_join(cfg->data_dir, DEFS_FILE ".new");
    opt.sync_mode = cfg->sync == CONFIG_SYNC_WRITE ? STORE_SYNC_WRITE : STORE_SYNC_DATA;
    opt.disk_free_limit = cfg->disk_free_limit;
    opt.notify = store_notify;
    opt.release = release_pin;
    D.st = store_open(cfg->data_dir, &opt, &serr);
    if (!D.st) {
        snprintf(err, errlen, "message store in '%s': %s", cfg->data_dir, serr.text);
        goto out_free;
    }
    first = load_defs(err, errlen);
    if (first < 0)
        goto out_close;
    if (first) {
        /* A fresh node: config.json seeds users, vhosts and permissions. */
        if (auth_load_config(auth, cfg, err, errlen) < 0)
            goto out_close;
    } else {
        log_info("definitions loaded from %s (users, vhosts and permissions in the config file "
                 "apply only to a fresh data_dir)",
                 D.defs_path);
    }
    for (size_t i = 0; i < auth_vhost_count(auth); i++)
        vhost_add(view_str(auth_vhost_at(auth, i)));

    queue_set_observer(&observer, NULL);
    if (store_recover(D.st, &recover_ops, &r, &serr) != 0) {
        snprintf(err, errlen, "message store recovery: %s", serr.text);
        queue_set_observer(NULL, NULL);
        free(r.byqid);
        free(r.orphans);
        goto out_close;
    }
    D.recovered = true;
    for (size_t i = 0; i < r.norphans; i++)
        store_queue_delete(D.st, r.orphans[i]);
    if (r.norphans)
        log_info("message store: %zu queue(s) without a definition deleted", r.norphans);
    for (size_t i = 0; i < vhost_count(); i++)
        vhost_for_each_queue(vhost_at(i), open_missing, NULL);
    free(r.byqid);
    free(r.orphans);
    log_info("message store: recovered %" PRIu64 " message(s) (%" PRIu64
             " left on disk past the memory budget), %" PRIu64
             " queue entr%s in %zu queue(s) in %" PRIu64 " ms%s",
             r.messages, r.stubs, r.entries, r.entries == 1 ? "y" : "ies", r.queues, now_ms() - t0,
             !r.queues               ? ""
             : store_was_clean(D.st) ? " (after a clean shutdown)"
                                     : " (after an unclean shutdown: all flagged redelivered)");

    auth_set_change_hook(auth, on_auth_change, NULL);
    write_defs();
    D.status = 0;
    durable_completed();
    return 0;

out_close:
    store_close(D.st);
    D.st = NULL;
out_free:
    free(D.defs_path);
    free(D.defs_tmp);
    D.defs_path = D.defs_tmp = NULL;
    return -1;
}

void durable_close(void)
{
    if (!D.st)
        return;
    if (D.defs_dirty)
        write_defs();
    auth_set_change_hook(D.auth, NULL, NULL);
    queue_set_observer(NULL, NULL);
    if (store_close(D.st) != 0)
        log_error("message store: some records could not be written at shutdown");
    D.st = NULL;
    free(D.defs_path);
    free(D.defs_tmp);
    free(D.defs_last);
    D.defs_path = D.defs_tmp = D.defs_last = NULL;
}

/* ---- the loop ---- */

void durable_submit(void)
{
    if (!D.st)
        return;
    if (D.defs_dirty && now_ms() >= D.defs_retry_at)
        write_defs();
    store_submit(D.st);
}

static void update_status(void)
{
    unsigned st = store_status(D.st), was = D.status;
    bool alarm = (st & (STORE_ST_DISK_LOW | STORE_ST_DISK_FULL)) != 0;

    D.status = st;
    if ((st & STORE_ST_IO_ERROR) && !(was & STORE_ST_IO_ERROR))
        log_error("message store: %s (retrying)", store_last_error(D.st));
    if ((st & STORE_ST_DISK_FULL) && !(was & STORE_ST_DISK_FULL))
        log_error("message store: disk full: %s (retrying)", store_last_error(D.st));
    if (alarm == D.alarm)
        return;
    D.alarm = alarm;
    if (alarm)
        log_warn("disk alarm set: %" PRIu64 " bytes free under %s, limit %" PRIu64
                 "; blocking publishers",
                 store_disk_free(D.st), D.cfg->data_dir, D.cfg->disk_free_limit);
    else
        log_info("disk alarm cleared: %" PRIu64 " bytes free; unblocking publishers",
                 store_disk_free(D.st));
    /* Publishers are blocked, consumers keep draining (broker/alarm.h). */
    alarm_set(ALARM_DISK, alarm);
}

void durable_completed(void)
{
    if (!D.st)
        return;
    chan_release_durable(store_completed(D.st));
    update_status();
}

/* ---- publishing ---- */

uint64_t durable_append_count(void)
{
    return D.appends;
}

uint64_t durable_ticket(void)
{
    return D.st ? store_ticket(D.st) : 0;
}

bool durable_is_durable(uint64_t ticket)
{
    return !D.st || ticket == 0 || store_durable(D.st) >= ticket;
}

uint64_t durable_disk_free(void)
{
    uint64_t free_bytes = D.st ? store_disk_free(D.st) : 0;
    struct statvfs sv;

    /* The sync thread measures when it writes or polls; before that, ask. */
    if (free_bytes == UINT64_MAX)
        free_bytes = statvfs(D.cfg->data_dir, &sv) == 0 ? (uint64_t)sv.f_bavail * sv.f_frsize : 0;
    return free_bytes;
}

struct store *durable_store(void)
{
    return D.st;
}

/* ---- queues ---- */

void durable_queue_added(struct queue *q)
{
    if (!D.st || !stored_queue(q))
        return;
    D.defs_dirty = true;
    /* Before recovery the store takes no record: the queue gets its id from
     * recovery, or right after it. */
    if (D.recovered)
        queue_set_store_qid(
            q, store_queue_open(D.st, view_str(queue_vhost(q)), view_str(queue_name(q))));
}

void durable_queue_deleted(struct queue *q)
{
    uint32_t qid = queue_store_qid(q);

    if (!D.st)
        return;
    if (qid) {
        /* One QDEL settles every entry, so dropping the ready ones says
         * nothing more (the qid is cleared first). */
        store_queue_delete(D.st, qid);
        queue_set_store_qid(q, 0);
    }
    if (stored_queue(q))
        D.defs_dirty = true;
}
