/* SPDX-License-Identifier: MIT */
/*
 * exchange: exchange records, bindings in both directions, and the routing
 * walk shared by all types (exchange_int.h explains the split).
 *
 * Every binding sits on three lists: its source's outgoing list, its
 * destination's incoming list (a queue's qrec or an exchange's in-list), and
 * its source's by_id map (for idempotent bind and for unbind), plus whatever
 * index its type keeps. Deleting an exchange or forgetting a queue walks the
 * lists, so it costs the number of bindings involved, not the number of
 * bindings in the broker.
 */
#include "exchange/exchange_int.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#include "amqp/spec_gen.h"

/* ---- types ---- */

static const char *const type_names[] = {
    [EXCH_DIRECT] = "direct",
    [EXCH_FANOUT] = "fanout",
    [EXCH_TOPIC] = "topic",
    [EXCH_HEADERS] = "headers",
};

static const struct exch_ops *const type_ops[] = {
    [EXCH_DIRECT] = &exch__direct_ops,
    [EXCH_FANOUT] = &exch__fanout_ops,
    [EXCH_TOPIC] = &exch__topic_ops,
    [EXCH_HEADERS] = &exch__headers_ops,
};

int exch_type_parse(struct view name, enum exch_type *out)
{
    for (size_t i = 0; i < ARRAY_LEN(type_names); i++) {
        if (view_eq_str(name, type_names[i])) {
            *out = (enum exch_type)i;
            return 0;
        }
    }
    return -1;
}

const char *exch_type_name(enum exch_type t)
{
    assert((size_t)t < ARRAY_LEN(type_names));
    return type_names[t];
}

/* ---- binding arrays ---- */

void exch__bvec_add(struct bvec *bv, struct binding *b)
{
    if (bv->n == bv->cap) {
        bv->cap = bv->cap ? bv->cap * 2 : 4;
        bv->v = xrealloc(bv->v, bv->cap * sizeof(*bv->v));
    }
    b->tidx = bv->n;
    bv->v[bv->n++] = b;
}

void exch__bvec_del(struct bvec *bv, struct binding *b)
{
    size_t i = b->tidx;

    assert(i < bv->n && bv->v[i] == b);
    bv->v[i] = bv->v[--bv->n];
    bv->v[i]->tidx = i;
    if (bv->n == 0)
        exch__bvec_free(bv);
}

void exch__bvec_free(struct bvec *bv)
{
    free(bv->v);
    bv->v = NULL;
    bv->n = bv->cap = 0;
}

/* ---- field values: canonical form and Erlang term comparison ---- */

/* Erlang's =:= on floats: 0.0 and -0.0 differ (OTP 27), NaN cannot occur
 * because RabbitMQ's parser rejects it. */
static bool float_exact_eq(double a, double b)
{
    return a == b && signbit(a) == signbit(b);
}

static bool list_eq(struct view a, struct view b, bool is_array)
{
    struct table_iter ia, ib;
    struct table_value va, vb;
    struct view ka, kb;

    table_iter_init(&ia, a);
    table_iter_init(&ib, b);
    for (;;) {
        bool more_a = is_array ? table_array_next(&ia, &va) : table_next(&ia, &ka, &va);
        bool more_b = is_array ? table_array_next(&ib, &vb) : table_next(&ib, &kb, &vb);

        if (more_a != more_b)
            return false;
        if (!more_a)
            return true;
        if (!is_array && !view_eq(ka, kb))
            return false;
        if (!exch__value_eq(&va, &vb))
            return false;
    }
}

bool exch__value_eq(const struct table_value *a, const struct table_value *b)
{
    if (a->type != b->type)
        return false;
    switch (a->type) {
    case TABLE_BOOL:
        return a->v.b == b->v.b;
    case TABLE_I8:
    case TABLE_I16:
    case TABLE_I32:
    case TABLE_I64:
        return a->v.i == b->v.i;
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
    case TABLE_TIMESTAMP:
        return a->v.u == b->v.u;
    case TABLE_FLOAT:
        return float_exact_eq((double)a->v.f, (double)b->v.f);
    case TABLE_DOUBLE:
        return float_exact_eq(a->v.d, b->v.d);
    case TABLE_DECIMAL:
        return a->v.dec.scale == b->v.dec.scale && a->v.dec.value == b->v.dec.value;
    case TABLE_LONGSTR:
    case TABLE_BYTES:
        return view_eq(a->v.str, b->v.str);
    case TABLE_VOID:
        return true;
    case TABLE_TABLE:
        return list_eq(a->v.table, b->v.table, false);
    case TABLE_ARRAY:
        return list_eq(a->v.array, b->v.array, true);
    }
    return false;
}

static void canon_list(struct buf *out, struct view t, bool is_array);

static void canon_value(struct buf *out, const struct table_value *v)
{
    size_t off;

    switch (v->type) {
    case TABLE_TABLE:
        off = table_open_table(out, NULL);
        canon_list(out, v->v.table, false);
        table_close(out, off);
        break;
    case TABLE_ARRAY:
        off = table_open_array(out, NULL);
        canon_list(out, v->v.array, true);
        table_close(out, off);
        break;
    default:
        table_put_raw(out, NULL, v); /* writes 'L' as 'l' and bools as 0/1 */
        break;
    }
}

/* Nested tables keep their order: RabbitMQ sorts only the top level. */
static void canon_list(struct buf *out, struct view t, bool is_array)
{
    struct table_iter it;
    struct table_value v;
    struct view key;

    table_iter_init(&it, t);
    if (is_array) {
        while (table_array_next(&it, &v))
            canon_value(out, &v);
    } else {
        while (table_next(&it, &key, &v)) {
            buf_put_shortstr(out, key);
            canon_value(out, &v);
        }
    }
}

struct centry {
    struct view key;
    struct table_value v;
    size_t idx;
};

/* Erlang orders binaries bytewise with a proper prefix first; the index
 * makes qsort stable, as lists:keysort is. */
static int centry_cmp(const void *pa, const void *pb)
{
    const struct centry *a = pa, *b = pb;
    size_t n = a->key.n < b->key.n ? a->key.n : b->key.n;
    int c = n ? memcmp(a->key.p, b->key.p, n) : 0;

    if (c)
        return c;
    if (a->key.n != b->key.n)
        return a->key.n < b->key.n ? -1 : 1;
    return a->idx < b->idx ? -1 : a->idx > b->idx;
}

void exch__canon_args(struct buf *out, struct view args)
{
    struct table_iter it;
    struct table_value v;
    struct view key;
    struct centry *e;
    size_t n = 0, i = 0;

    table_iter_init(&it, args);
    while (table_next(&it, &key, &v))
        n++;
    if (n == 0)
        return;
    e = xmalloc(n * sizeof(*e));
    table_iter_init(&it, args);
    while (i < n && table_next(&it, &e[i].key, &e[i].v)) {
        e[i].idx = i;
        i++;
    }
    qsort(e, n, sizeof(*e), centry_cmp);
    for (i = 0; i < n; i++) {
        buf_put_shortstr(out, e[i].key);
        canon_value(out, &e[i].v);
    }
    free(e);
}

/* ---- exchanges ---- */

struct exch *exch_create(struct view name, enum exch_type type, unsigned flags, struct view args)
{
    struct exch *x = xcalloc(1, sizeof(*x));
    struct table_value ae;

    assert((size_t)type < ARRAY_LEN(type_ops));
    assert(table_check(args) == 0);
    x->name = xstrndup_view(name);
    x->type = type;
    x->flags = flags;
    x->args_mem = xmalloc(args.n ? args.n : 1);
    if (args.n)
        memcpy(x->args_mem, args.p, args.n);
    x->args = (struct view){x->args_mem, args.n};
    if (table_get(x->args, "alternate-exchange", &ae) && ae.type == TABLE_LONGSTR)
        x->alternate = ae.v.str;
    x->ops = type_ops[type];
    x->by_id = map_create();
    x->ops->init(x);
    return x;
}

const char *exch_name(const struct exch *x)
{
    return x->name;
}

enum exch_type exch_type(const struct exch *x)
{
    return x->type;
}

unsigned exch_flags(const struct exch *x)
{
    return x->flags;
}

struct view exch_args(const struct exch *x)
{
    return x->args;
}

struct view exch_alternate(const struct exch *x)
{
    return x->alternate;
}

size_t exch_binding_count(const struct exch *x)
{
    return x->nout;
}

bool exch_has_incoming(const struct exch *x)
{
    return x->in_head != NULL;
}

bool exch__int_of(const struct table_value *v, bool *neg, uint64_t *mag)
{
    switch (v->type) {
    case TABLE_I8:
    case TABLE_I16:
    case TABLE_I32:
    case TABLE_I64:
        *neg = v->v.i < 0;
        *mag = *neg ? (uint64_t)(-(v->v.i + 1)) + 1 : (uint64_t)v->v.i;
        return true;
    case TABLE_U8:
    case TABLE_U16:
    case TABLE_U32:
    case TABLE_TIMESTAMP:
        *neg = false;
        *mag = v->v.u;
        return true;
    default:
        return false;
    }
}

/* rabbit_misc:type_class/1: the integer types (and, oddly, decimal) form one
 * class, float and double another; every other type is its own class. */
static int type_class(enum table_type t)
{
    switch (t) {
    case TABLE_I8:
    case TABLE_U8:
    case TABLE_I16:
    case TABLE_U16:
    case TABLE_I32:
    case TABLE_U32:
    case TABLE_I64:
    case TABLE_DECIMAL:
        return 'i';
    case TABLE_FLOAT:
    case TABLE_DOUBLE:
        return 'f';
    default:
        return (int)t;
    }
}

/* Erlang == between values of the same class. */
static bool arith_eq(const struct table_value *a, const struct table_value *b)
{
    bool na, nb;
    uint64_t ma, mb;

    switch (type_class(a->type)) {
    case 'i':
        if (a->type == TABLE_DECIMAL || b->type == TABLE_DECIMAL)
            return a->type == b->type && exch__value_eq(a, b);
        exch__int_of(a, &na, &ma);
        exch__int_of(b, &nb, &mb);
        return na == nb && ma == mb;
    case 'f':
        return (a->type == TABLE_FLOAT ? (double)a->v.f : a->v.d) ==
               (b->type == TABLE_FLOAT ? (double)b->v.f : b->v.d);
    default:
        return exch__value_eq(a, b);
    }
}

/*
 * rabbit_exchange:assert_args_equivalence/2 compares only
 * "alternate-exchange", through rabbit_misc:assert_args_equivalence/4: equal
 * when both are absent, or both are present with the same type and value, or
 * with types of one class and arithmetically equal values.
 */
static bool alternate_equivalent(struct view a, struct view b)
{
    struct table_value va, vb;
    bool has_a = table_get(a, "alternate-exchange", &va);
    bool has_b = table_get(b, "alternate-exchange", &vb);

    if (!has_a || !has_b)
        return has_a == has_b;
    if (exch__value_eq(&va, &vb))
        return true;
    return type_class(va.type) == type_class(vb.type) && arith_eq(&va, &vb);
}

#define EXCH_F_COMPARED (EXCH_F_DURABLE | EXCH_F_AUTO_DELETE | EXCH_F_INTERNAL)

bool exch_is_equivalent(const struct exch *x, enum exch_type type, unsigned flags, struct view args)
{
    return x->type == type && (x->flags & EXCH_F_COMPARED) == (flags & EXCH_F_COMPARED) &&
           alternate_equivalent(x->args, args);
}

/* ---- the queue -> bindings reverse index (module state) ---- */

static struct map *qindex; /* pointer bytes of a queue -> struct qrec */

/* Route sets whose epoch is marks_owner may trust qrec marks; anything that
 * can make a mark stale resets marks_owner (see exch_route). */
static uint64_t rs_epochs, marks_owner;

static struct view ptr_key(const struct queue *const *q)
{
    return (struct view){(const uint8_t *)q, sizeof(*q)};
}

static struct qrec *qrec_find(const struct queue *q)
{
    return qindex ? map_get(qindex, ptr_key(&q)) : NULL;
}

static struct qrec *qrec_get(struct queue *q)
{
    const struct queue *cq = q;
    struct qrec *r = qrec_find(q);

    if (r)
        return r;
    if (!qindex)
        qindex = map_create();
    r = xcalloc(1, sizeof(*r));
    r->q = q;
    map_put(qindex, ptr_key(&cq), r);
    /* A queue already in a route set may come back with a fresh record
     * (unbound, then bound again): its old mark is lost. */
    marks_owner = 0;
    return r;
}

static void qrec_drop(struct qrec *r)
{
    const struct queue *q = r->q;

    map_remove(qindex, ptr_key(&q));
    free(r);
    if (map_count(qindex) == 0) {
        map_destroy(qindex);
        qindex = NULL;
    }
}

/* ---- binding lists ---- */

static void src_link(struct exch *x, struct binding *b)
{
    b->src_prev = x->out_tail;
    b->src_next = NULL;
    if (x->out_tail)
        x->out_tail->src_next = b;
    else
        x->out_head = b;
    x->out_tail = b;
    x->nout++;
}

static void src_unlink(struct exch *x, struct binding *b)
{
    if (b->src_prev)
        b->src_prev->src_next = b->src_next;
    else
        x->out_head = b->src_next;
    if (b->src_next)
        b->src_next->src_prev = b->src_prev;
    else
        x->out_tail = b->src_prev;
    x->nout--;
}

static void dst_link(struct binding **head, struct binding **tail, struct binding *b)
{
    b->dst_prev = *tail;
    b->dst_next = NULL;
    if (*tail)
        (*tail)->dst_next = b;
    else
        *head = b;
    *tail = b;
}

static void dst_unlink(struct binding **head, struct binding **tail, struct binding *b)
{
    if (b->dst_prev)
        b->dst_prev->dst_next = b->dst_next;
    else
        *head = b->dst_next;
    if (b->dst_next)
        b->dst_next->dst_prev = b->dst_prev;
    else
        *tail = b->dst_prev;
}

/* ---- bindings ---- */

static struct buf id_buf;    /* scratch for binding ids */
static struct buf canon_buf; /* scratch for canonical args */

/*
 * A binding's identity within its source, as RabbitMQ's #binding record:
 * destination (kind and pointer), key, and canonical args. Built in id_buf,
 * valid until the next call.
 */
static struct view binding_id(const struct queue *dq, const struct exch *dx, struct view key,
                              struct view canon)
{
    const void *dest = dq ? (const void *)dq : (const void *)dx;

    id_buf.len = 0;
    buf_put_u8(&id_buf, dq ? 'q' : 'x');
    buf_append(&id_buf, &dest, sizeof(dest));
    assert(key.n <= UINT32_MAX);
    buf_put_be32(&id_buf, (uint32_t)key.n);
    buf_append(&id_buf, key.p, key.n);
    buf_append(&id_buf, canon.p, canon.n);
    return (struct view){id_buf.p, id_buf.len};
}

static struct view copy_view(struct view v)
{
    uint8_t *p = xmalloc(v.n ? v.n : 1);

    if (v.n)
        memcpy(p, v.p, v.n);
    return (struct view){p, v.n};
}

static struct view canon_of(struct view args)
{
    canon_buf.len = 0;
    exch__canon_args(&canon_buf, args);
    return (struct view){canon_buf.p, canon_buf.len};
}

static int bind_any(struct exch *src, struct queue *dq, struct exch *dx, struct view key,
                    struct view args, struct proto_err *err)
{
    struct binding *b;
    struct view canon;

    assert(key.n <= 255); /* a shortstr; bounds the topic walk's recursion */
    if (table_check(args) != 0)
        return err_set(err, SPEC_SYNTAX_ERROR, "malformed binding arguments");
    /* RabbitMQ validates before looking for an existing binding. */
    if (src->ops->validate && src->ops->validate(args, err) != 0)
        return -1;
    canon = canon_of(args);
    if (map_get(src->by_id, binding_id(dq, dx, key, canon)))
        return 0;

    b = xcalloc(1, sizeof(*b));
    b->src = src;
    b->dq = dq;
    b->dx = dx;
    b->key = copy_view(key);
    b->args = copy_view(canon);
    map_put(src->by_id, binding_id(dq, dx, key, canon), b);
    src_link(src, b);
    if (dq) {
        b->qr = qrec_get(dq);
        dst_link(&b->qr->head, &b->qr->tail, b);
        b->qr->n++;
    } else {
        dst_link(&dx->in_head, &dx->in_tail, b);
    }
    src->ops->bind(src, b);
    return 0;
}

static void binding_free(struct binding *b)
{
    struct exch *src = b->src;
    void *found = map_remove(src->by_id, binding_id(b->dq, b->dx, b->key, b->args));

    assert(found == b);
    (void)found;
    src->ops->unbind(src, b);
    src_unlink(src, b);
    if (b->dq) {
        struct qrec *r = b->qr;

        dst_unlink(&r->head, &r->tail, b);
        if (--r->n == 0)
            qrec_drop(r);
    } else {
        dst_unlink(&b->dx->in_head, &b->dx->in_tail, b);
    }
    free((void *)b->key.p);
    free((void *)b->args.p);
    free(b);
}

static int unbind_any(struct exch *src, struct queue *dq, struct exch *dx, struct view key,
                      struct view args)
{
    struct binding *b;

    if (table_check(args) != 0)
        return 0; /* no binding can have these args */
    b = map_get(src->by_id, binding_id(dq, dx, key, canon_of(args)));
    if (b)
        binding_free(b);
    return 0;
}

int exch_bind_queue(struct exch *x, struct queue *q, struct view key, struct view args,
                    struct proto_err *err)
{
    assert(q);
    return bind_any(x, q, NULL, key, args, err);
}

int exch_unbind_queue(struct exch *x, struct queue *q, struct view key, struct view args)
{
    return unbind_any(x, q, NULL, key, args);
}

int exch_bind_exch(struct exch *src, struct exch *dst, struct view key, struct view args,
                   struct proto_err *err)
{
    assert(dst);
    return bind_any(src, NULL, dst, key, args, err);
}

int exch_unbind_exch(struct exch *src, struct exch *dst, struct view key, struct view args)
{
    return unbind_any(src, NULL, dst, key, args);
}

void exch_forget_queue(struct queue *q)
{
    struct qrec *r;

    /* The record goes away with its last binding. */
    while ((r = qrec_find(q)) != NULL)
        binding_free(r->head);
}

bool exch_queue_is_bound(const struct queue *q)
{
    return qrec_find(q) != NULL;
}

void exch_for_each_binding(const struct exch *x, exch_binding_cb *cb, void *arg)
{
    for (struct binding *b = x->out_head, *next; b; b = next) {
        next = b->src_next;
        cb(arg, x, b->dq, b->dx, b->key, b->args);
    }
}

void exch_for_each_binding_to_queue(const struct queue *q, exch_binding_cb *cb, void *arg)
{
    struct qrec *r = qrec_find(q);

    for (struct binding *b = r ? r->head : NULL, *next; b; b = next) {
        next = b->dst_next;
        cb(arg, b->src, b->dq, NULL, b->key, b->args);
    }
}

void exch_destroy(struct exch *x)
{
    if (!x)
        return;
    while (x->out_head)
        binding_free(x->out_head);
    while (x->in_head)
        binding_free(x->in_head);
    x->ops->destroy(x);
    map_destroy(x->by_id);
    free(x->args_mem);
    free(x->name);
    free(x);
}

/* ---- routing ---- */

struct route_ctx {
    struct route_set *rs;
    uint64_t visit;
};

/* Exchanges still to route through in this call: a stack, reused across
 * calls, so routing allocates only while it grows. */
static struct exch **work;
static size_t work_n, work_cap;
static uint64_t visits;

void route_reset(struct route_set *rs)
{
    rs->n = 0;
    rs->epoch = 0; /* the next exch_route takes a fresh epoch */
}

void route_free(struct route_set *rs)
{
    free(rs->q);
    rs->q = NULL;
    rs->n = rs->cap = 0;
    rs->epoch = 0;
}

/*
 * Queue dedupe marks each reached queue's qrec with the route set's epoch.
 * Marks are valid for one route set at a time (marks_owner): when a caller
 * interleaves two route sets, or reuses one after a queue was re-bound, the
 * set takes a fresh epoch and re-marks the queues it already holds. The
 * usual publish path (reset, then one or more exch_route calls on the same
 * set) never re-marks.
 */
static void adopt_marks(struct route_set *rs)
{
    rs->epoch = ++rs_epochs;
    for (size_t i = 0; i < rs->n; i++) {
        struct qrec *r = qrec_find(rs->q[i]);

        if (r)
            r->mark = rs->epoch;
    }
    marks_owner = rs->epoch;
}

void exch__route_to(struct route_ctx *c, struct binding *b)
{
    if (b->dq) {
        struct route_set *rs = c->rs;

        if (b->qr->mark == rs->epoch)
            return;
        b->qr->mark = rs->epoch;
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? rs->cap * 2 : 8;
            rs->q = xrealloc(rs->q, rs->cap * sizeof(*rs->q));
        }
        rs->q[rs->n++] = b->dq;
    } else if (b->dx->visit != c->visit) {
        b->dx->visit = c->visit;
        if (work_n == work_cap) {
            work_cap = work_cap ? work_cap * 2 : 16;
            work = xrealloc(work, work_cap * sizeof(*work));
        }
        work[work_n++] = b->dx;
    }
}

void exch_route(struct exch *x, struct view key, struct view headers, struct route_set *rs)
{
    struct route_ctx c = {rs, ++visits};
    struct binding seed = {.dx = x};

    if (rs->epoch == 0 || rs->epoch != marks_owner)
        adopt_marks(rs);
    work_n = 0;
    exch__route_to(&c, &seed);
    while (work_n > 0) {
        struct exch *e = work[--work_n];

        e->ops->route(e, key, headers, &c);
    }
}
