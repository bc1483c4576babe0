/* SPDX-License-Identifier: MIT */
/* handle_confirm: RabbitMQ's publisher confirms (confirm.select). */
#include "broker/chan.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_confirm_select(struct chan *ch, const struct spec_confirm_select *a,
                          struct proto_err *err)
{
    return chan_confirm_select(ch, a->nowait, err);
}
