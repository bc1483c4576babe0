/* SPDX-License-Identifier: MIT */
/* handle_confirm: the confirm class. Not built yet: every method answers 540 NOT_IMPLEMENTED. */
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_confirm_select(struct chan *ch, const struct spec_confirm_select *a,
                          struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_CONFIRM_SELECT, err);
}
