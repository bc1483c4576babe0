/* SPDX-License-Identifier: MIT */
/*
 * handle: helpers shared by the per-class handlers (broker/handle_*.c).
 * The handlers themselves are declared in the generated broker/handlers_gen.h.
 */
#ifndef BROKER_HANDLE_H
#define BROKER_HANDLE_H

#include <stdint.h>

#include "broker/err.h"

/** Fills err with 540 NOT_IMPLEMENTED naming method id and returns -1. */
int handle__not_implemented(uint32_t id, struct proto_err *err);

#endif
