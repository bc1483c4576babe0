/* SPDX-License-Identifier: MIT */
/* handle_exchange: the exchange class. Not built yet: every method answers 540 NOT_IMPLEMENTED. */
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_exchange_declare(struct chan *ch, const struct spec_exchange_declare *a,
                            struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_EXCHANGE_DECLARE, err);
}

int handle_exchange_delete(struct chan *ch, const struct spec_exchange_delete *a,
                           struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_EXCHANGE_DELETE, err);
}

int handle_exchange_bind(struct chan *ch, const struct spec_exchange_bind *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_EXCHANGE_BIND, err);
}

int handle_exchange_unbind(struct chan *ch, const struct spec_exchange_unbind *a,
                           struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_EXCHANGE_UNBIND, err);
}
