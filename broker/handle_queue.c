/* SPDX-License-Identifier: MIT */
/* handle_queue: the queue class. Not built yet: every method answers 540 NOT_IMPLEMENTED. */
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_queue_declare(struct chan *ch, const struct spec_queue_declare *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_QUEUE_DECLARE, err);
}

int handle_queue_bind(struct chan *ch, const struct spec_queue_bind *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_QUEUE_BIND, err);
}

int handle_queue_purge(struct chan *ch, const struct spec_queue_purge *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_QUEUE_PURGE, err);
}

int handle_queue_delete(struct chan *ch, const struct spec_queue_delete *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_QUEUE_DELETE, err);
}

int handle_queue_unbind(struct chan *ch, const struct spec_queue_unbind *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_QUEUE_UNBIND, err);
}
