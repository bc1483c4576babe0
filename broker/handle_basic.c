/* SPDX-License-Identifier: MIT */
/* handle_basic: the basic class. Not built yet: every method answers 540 NOT_IMPLEMENTED. */
#include "broker/handle.h"
#include "broker/handlers_gen.h"

int handle_basic_qos(struct chan *ch, const struct spec_basic_qos *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_QOS, err);
}

int handle_basic_consume(struct chan *ch, const struct spec_basic_consume *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_CONSUME, err);
}

int handle_basic_cancel(struct chan *ch, const struct spec_basic_cancel *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_CANCEL, err);
}

int handle_basic_publish(struct chan *ch, const struct spec_basic_publish *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_PUBLISH, err);
}

int handle_basic_get(struct chan *ch, const struct spec_basic_get *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_GET, err);
}

int handle_basic_ack(struct chan *ch, const struct spec_basic_ack *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_ACK, err);
}

int handle_basic_reject(struct chan *ch, const struct spec_basic_reject *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_REJECT, err);
}

int handle_basic_recover_async(struct chan *ch, const struct spec_basic_recover_async *a,
                               struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_RECOVER_ASYNC, err);
}

int handle_basic_recover(struct chan *ch, const struct spec_basic_recover *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_RECOVER, err);
}

int handle_basic_nack(struct chan *ch, const struct spec_basic_nack *a, struct proto_err *err)
{
    (void)ch;
    (void)a;
    return handle__not_implemented(SPEC_BASIC_NACK, err);
}

int handle_basic_cancel_ok(struct chan *ch, const struct spec_basic_cancel_ok *a,
                           struct proto_err *err)
{
    /* The client's answer to a server-sent basic.cancel (consumer cancel notify). */
    (void)ch;
    (void)a;
    (void)err;
    return 0;
}
