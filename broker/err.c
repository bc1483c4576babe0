/* SPDX-License-Identifier: MIT */
#include "broker/err.h"

#include <stdarg.h>
#include <stdio.h>

int err_set(struct proto_err *err, uint16_t code, const char *fmt, ...)
{
    va_list ap;

    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof(err->text), fmt, ap);
    va_end(ap);
    return -1;
}
