/* SPDX-License-Identifier: MIT */
#include "broker/chan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/conn.h"
#include "broker/handlers_gen.h"

enum chan_state {
    CHAN_OPENING, /* channel.open received, open-ok not yet sent */
    CHAN_OPEN,
    CHAN_CLOSING, /* we sent channel.close; waiting for close-ok */
};

struct chan {
    struct conn *conn;
    uint16_t n;
    enum chan_state state;
    /* Content assembly (spec §4.2.6): after a content-carrying method the
     * next frames on this channel must be its header and then its body. */
    bool want_header;
    bool want_body;
    uint64_t body_size;
    uint64_t body_got;
};

struct chan *chan_create(struct conn *c, uint16_t n)
{
    struct chan *ch = xcalloc(1, sizeof(*ch));

    ch->conn = c;
    ch->n = n;
    ch->state = CHAN_OPENING;
    return ch;
}

void chan_destroy(struct chan *ch)
{
    free(ch);
}

struct conn *chan_conn(struct chan *ch)
{
    return ch->conn;
}

uint16_t chan_number(const struct chan *ch)
{
    return ch->n;
}

bool chan_is_open(const struct chan *ch)
{
    return ch->state == CHAN_OPEN;
}

void chan__set_open(struct chan *ch)
{
    ch->state = CHAN_OPEN;
}

void chan_send_method(struct chan *ch, const struct spec_method *m)
{
    conn_send_method(ch->conn, ch->n, m);
}

static void forget(struct chan *ch)
{
    conn__chan_gone(ch->conn, ch->n);
    chan_destroy(ch);
}

void chan_fail(struct chan *ch, const struct proto_err *err)
{
    struct spec_method m;
    char text[256];

    if (ch->state == CHAN_CLOSING)
        return;
    conn__reply_text(err, text);
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CHANNEL_CLOSE;
    m.u.channel_close.reply_code = err->code;
    m.u.channel_close.reply_text = view_str(text);
    m.u.channel_close.class_id = err->class_id;
    m.u.channel_close.method_id = err->method_id;
    chan_send_method(ch, &m);
    ch->state = CHAN_CLOSING;
    ch->want_header = ch->want_body = false;
}

void chan__peer_closed(struct chan *ch)
{
    struct spec_method m;

    memset(&m, 0, sizeof(m));
    m.id = SPEC_CHANNEL_CLOSE_OK;
    chan_send_method(ch, &m);
    forget(ch);
}

void chan__close_ok(struct chan *ch)
{
    forget(ch);
}

/* Routes a failed method's error: soft codes close the channel, hard ones the connection. */
static int fail(struct chan *ch, uint32_t id, struct proto_err *err)
{
    err->class_id = (uint16_t)(id >> 16);
    err->method_id = (uint16_t)id;
    if (spec_reply_is_hard(err->code)) {
        conn_fail(ch->conn, err);
        return -1;
    }
    chan_fail(ch, err);
    return 0;
}

static int hard(struct chan *ch, uint16_t code, const char *text)
{
    struct proto_err err = {0};

    err_set(&err, code, "%s", text);
    conn_fail(ch->conn, &err);
    return -1;
}

/* While closing, only channel.close-ok (or a crossing channel.close) matters. */
static int closing_frame(struct chan *ch, const struct frame *f)
{
    uint32_t id;

    if (f->type != SPEC_FRAME_METHOD || f->payload.n < 4)
        return 0;
    id = get_be32(f->payload.p);
    if (id == SPEC_CHANNEL_CLOSE_OK)
        chan__close_ok(ch);
    else if (id == SPEC_CHANNEL_CLOSE)
        chan__peer_closed(ch);
    return 0;
}

static int method_frame(struct chan *ch, const struct frame *f)
{
    struct proto_err err = {0};
    struct spec_method m;
    int st;

    if (ch->want_header || ch->want_body)
        return hard(ch, SPEC_UNEXPECTED_FRAME,
                    "expected content frame for class 60, got non content frame instead");
    st = spec_decode_method(f->payload.p, f->payload.n, &m);
    if (st != SPEC_OK) {
        err_set(&err, spec_status_reply_code(st), "%s", spec_status_text(st));
        if (f->payload.n >= 4) {
            err.class_id = get_be16(f->payload.p);
            err.method_id = get_be16(f->payload.p + 2);
        }
        conn_fail(ch->conn, &err);
        return -1;
    }
    if (ch->state == CHAN_OPENING && m.id != SPEC_CHANNEL_OPEN) {
        err_set(&err, SPEC_CHANNEL_ERROR, "expected 'channel.open'");
        return fail(ch, m.id, &err);
    }
    if (ch->state == CHAN_OPEN && m.id == SPEC_CHANNEL_OPEN) {
        err_set(&err, SPEC_CHANNEL_ERROR, "second 'channel.open' seen");
        return fail(ch, m.id, &err);
    }
    if (dispatch_channel(ch, &m, &err) < 0)
        return fail(ch, m.id, &err);
    return 0;
}

int chan_handle_frame(struct chan *ch, const struct frame *f)
{
    if (ch->state == CHAN_CLOSING)
        return closing_frame(ch, f);
    switch (f->type) {
    case SPEC_FRAME_METHOD:
        return method_frame(ch, f);
    case SPEC_FRAME_HEADER:
        if (!ch->want_header)
            return hard(ch, SPEC_UNEXPECTED_FRAME,
                        "expected method frame, got content header frame instead");
        return 0;
    case SPEC_FRAME_BODY:
        if (!ch->want_body)
            return hard(ch, SPEC_UNEXPECTED_FRAME,
                        "expected method frame, got content body frame instead");
        return 0;
    default:
        return hard(ch, SPEC_FRAME_ERROR, "unexpected frame type");
    }
}
