/* SPDX-License-Identifier: MIT */
/* handle_channel: the channel class (spec §1.5.2): open, flow, close. */
#include <string.h>

#include "broker/chan.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_channel_open(struct chan *ch, const struct spec_channel_open *a, struct proto_err *err)
{
    struct spec_method m;

    (void)a;
    (void)err;
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CHANNEL_OPEN_OK;
    chan_send_method(ch, &m);
    chan__set_open(ch);
    return 0;
}

int handle_channel_flow(struct chan *ch, const struct spec_channel_flow *a, struct proto_err *err)
{
    struct spec_method m;

    /* Like RabbitMQ, the server does not let a client stop its deliveries this way. */
    if (!a->active)
        return err_set(err, SPEC_NOT_IMPLEMENTED, "active=false");
    memset(&m, 0, sizeof(m));
    m.id = SPEC_CHANNEL_FLOW_OK;
    m.u.channel_flow_ok.active = true;
    chan_send_method(ch, &m);
    return 0;
}

int handle_channel_flow_ok(struct chan *ch, const struct spec_channel_flow_ok *a,
                           struct proto_err *err)
{
    /* We never send channel.flow, so there is nothing to acknowledge. */
    (void)ch;
    (void)a;
    (void)err;
    return 0;
}

int handle_channel_close(struct chan *ch, const struct spec_channel_close *a, struct proto_err *err)
{
    (void)a;
    (void)err;
    chan__peer_closed(ch);
    return 0;
}

int handle_channel_close_ok(struct chan *ch, const struct spec_channel_close_ok *a,
                            struct proto_err *err)
{
    (void)ch;
    (void)a;
    (void)err;
    return 0;
}
