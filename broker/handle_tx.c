/* SPDX-License-Identifier: MIT */
/* handle_tx: the tx class. Not built yet: every method answers 540 NOT_IMPLEMENTED. */
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_tx_select(struct chan *ch, const struct spec_tx_select *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_TX_SELECT, err);
}

int handle_tx_commit(struct chan *ch, const struct spec_tx_commit *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_TX_COMMIT, err);
}

int handle_tx_rollback(struct chan *ch, const struct spec_tx_rollback *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_TX_ROLLBACK, err);
}
