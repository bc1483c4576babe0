/* SPDX-License-Identifier: MIT */
/*
 * format: the journal's bytes (see the layout in persist_int.h). Pure
 * functions, no I/O, no allocation: recovery and the fuzz target run every
 * untrusted byte through here. Lengths are compared with the bytes that
 * remain, never as offset + len, so no sum can overflow.
 */
#include <string.h>

#include "persist/persist_int.h"

void persist__put_header(uint8_t out[PERSIST_HDR_SIZE], uint64_t segno)
{
    memset(out, 0, PERSIST_HDR_SIZE);
    memcpy(out, PERSIST_MAGIC, PERSIST_MAGIC_LEN); /* includes the NUL */
    put_be32(out + 8, PERSIST_VERSION);
    put_be32(out + 12, PERSIST_HDR_SIZE);
    put_be64(out + 16, segno);
    put_be32(out + 24, 0);
    put_be32(out + 28, persist__crc32c(0, out, 28));
}

enum persist_hdr persist__check_header(const uint8_t *p, size_t n, uint32_t *version,
                                       uint64_t *segno)
{
    if (n < PERSIST_MAGIC_LEN)
        return PERSIST_HDR_SHORT;
    if (memcmp(p, PERSIST_MAGIC, PERSIST_MAGIC_LEN) != 0)
        return PERSIST_HDR_BAD;
    if (n < 12)
        return PERSIST_HDR_SHORT;
    *version = get_be32(p + 8);
    /* A newer writer may have changed everything after the version field, so
     * the version is judged before the rest of the header. */
    if (*version > PERSIST_VERSION)
        return PERSIST_HDR_FUTURE;
    if (n < PERSIST_HDR_SIZE)
        return PERSIST_HDR_SHORT;
    if (*version == 0 || get_be32(p + 12) != PERSIST_HDR_SIZE ||
        get_be32(p + 28) != persist__crc32c(0, p, 28))
        return PERSIST_HDR_BAD;
    *segno = get_be64(p + 16);
    return PERSIST_HDR_OK;
}

static uint32_t record_crc(const uint8_t *rec, size_t payload_len)
{
    uint32_t c = persist__crc32c(0, rec, 5);
    return persist__crc32c(c, rec + PERSIST_REC_HDR, payload_len);
}

void persist__seal_record(uint8_t *rec, size_t total)
{
    put_be32(rec + 5, record_crc(rec, total - PERSIST_REC_HDR));
}

enum persist_parse persist__next_record(const uint8_t *p, size_t n, struct persist_rec *out)
{
    uint32_t len;

    if (n == 0)
        return PERSIST_END;
    if (n < PERSIST_REC_HDR)
        return PERSIST_TRUNCATED;
    len = get_be32(p);
    if (len > n - PERSIST_REC_HDR)
        return PERSIST_TRUNCATED;
    if (get_be32(p + 5) != record_crc(p, len))
        return PERSIST_BAD_CRC;
    out->type = p[4];
    out->len = len;
    out->payload = p + PERSIST_REC_HDR;
    if (out->type < PERSIST_R_MSG || out->type > PERSIST_R_CLEAN)
        return PERSIST_BAD_TYPE;
    return PERSIST_OK;
}

const char *persist__parse_str(enum persist_parse p)
{
    switch (p) {
    case PERSIST_OK:
        return "ok";
    case PERSIST_END:
        return "end";
    case PERSIST_TRUNCATED:
        return "truncated record";
    case PERSIST_BAD_CRC:
        return "checksum mismatch";
    case PERSIST_BAD_TYPE:
        return "unknown record type";
    case PERSIST_BAD_PAYLOAD:
        return "malformed record payload";
    }
    return "?";
}

/* A cursor over a payload; every read checks the bytes left. */
struct rd {
    const uint8_t *p;
    size_t n;
    bool bad;
};

static const uint8_t *rd_take(struct rd *r, size_t k)
{
    const uint8_t *at = r->p;
    if (r->bad || k > r->n) {
        r->bad = true;
        return NULL;
    }
    r->p += k;
    r->n -= k;
    return at;
}

static uint8_t rd_u8(struct rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? p[0] : 0;
}

static uint32_t rd_u32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    return p ? get_be32(p) : 0;
}

static uint64_t rd_u64(struct rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    return p ? get_be64(p) : 0;
}

static struct view rd_bytes(struct rd *r, size_t k)
{
    const uint8_t *p = rd_take(r, k);
    return p ? (struct view){p, k} : (struct view){NULL, 0};
}

static struct view rd_short(struct rd *r)
{
    uint8_t k = rd_u8(r);
    return rd_bytes(r, k);
}

int persist__decode_msg(const struct persist_rec *rec, struct persist_msg_rec *out)
{
    struct rd r = {rec->payload, rec->len, false};

    if (rec->type != PERSIST_R_MSG)
        return -1;
    out->id = rd_u64(&r);
    if (rd_u8(&r) != 0) /* flags: none defined in version 1 */
        return -1;
    out->exchange = rd_short(&r);
    out->routing_key = rd_short(&r);
    out->props = rd_bytes(&r, rd_u32(&r));
    if (r.bad || out->id == 0)
        return -1;
    out->body = (struct view){r.p, r.n};
    return 0;
}

int persist__decode_ref(const struct persist_rec *rec, struct persist_ref_rec *out)
{
    struct rd r = {rec->payload, rec->len, false};

    memset(out, 0, sizeof(*out));
    out->qid = rd_u32(&r);
    switch (rec->type) {
    case PERSIST_R_ENQ:
        out->seq = rd_u64(&r);
        out->id = rd_u64(&r);
        out->flags = rd_u8(&r);
        if (out->id == 0 || out->seq == 0 || (out->flags & ~PERSIST_ENQ_F_DELIVERED))
            return -1;
        break;
    case PERSIST_R_DLV:
    case PERSIST_R_ACK:
        out->seq = rd_u64(&r);
        out->count = rd_u32(&r);
        if (out->seq == 0 || out->count == 0 || out->seq + out->count < out->seq)
            return -1;
        break;
    case PERSIST_R_QDEL:
        break;
    default:
        return -1;
    }
    return r.bad || r.n != 0 || out->qid == 0 ? -1 : 0;
}

int persist__decode_queue(const struct persist_rec *rec, struct persist_queue_rec *out)
{
    struct rd r = {rec->payload, rec->len, false};

    if (rec->type != PERSIST_R_QUEUE)
        return -1;
    out->qid = rd_u32(&r);
    out->vhost = rd_short(&r);
    out->name = rd_short(&r);
    return r.bad || r.n != 0 || out->qid == 0 ? -1 : 0;
}

size_t persist__msg_meta_len(const struct store_msg_data *m)
{
    return 8 + 1 + 1 + m->exchange.n + 1 + m->routing_key.n + 4 + m->props.n;
}

void persist__put_msg_meta(uint8_t *out, uint64_t id, const struct store_msg_data *m)
{
    uint8_t *p = out;

    put_be64(p, id);
    p += 8;
    *p++ = 0;
    *p++ = (uint8_t)m->exchange.n;
    if (m->exchange.n)
        memcpy(p, m->exchange.p, m->exchange.n);
    p += m->exchange.n;
    *p++ = (uint8_t)m->routing_key.n;
    if (m->routing_key.n)
        memcpy(p, m->routing_key.p, m->routing_key.n);
    p += m->routing_key.n;
    put_be32(p, (uint32_t)m->props.n);
    p += 4;
    if (m->props.n)
        memcpy(p, m->props.p, m->props.n);
}
