/* SPDX-License-Identifier: MIT */
/* handle_tx: the tx class (spec §1.9.2): publishes and acks held until commit. */
#include "broker/chan.h"
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_tx_select(struct chan *ch, const struct spec_tx_select *a, struct proto_err *err)
{
    (void)a;
    return chan_tx_select(ch, err);
}

int handle_tx_commit(struct chan *ch, const struct spec_tx_commit *a, struct proto_err *err)
{
    (void)a;
    return chan_tx_commit(ch, err);
}

int handle_tx_rollback(struct chan *ch, const struct spec_tx_rollback *a, struct proto_err *err)
{
    (void)a;
    return chan_tx_rollback(ch, err);
}
