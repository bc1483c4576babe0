/* SPDX-License-Identifier: MIT */
/*
 * err: the one error record every layer fills in.
 *
 * Functions return 0 on success or -1 on failure and fill a caller-supplied
 * struct proto_err. Domain modules set only code and text; broker/chan.c adds
 * the class and method ids of the failing method. Reply codes become frames in
 * exactly one place: chan_fail()/conn_fail() (STYLE.md §6).
 */
#ifndef BROKER_ERR_H
#define BROKER_ERR_H

#include <stdint.h>

struct proto_err {
    uint16_t code;      /* AMQP reply code (SPEC_* constant), 0 when unset */
    uint16_t class_id;  /* failing method's class, 0 when not tied to a method */
    uint16_t method_id; /* failing method's id within the class */
    char text[256];     /* reply-text: a shortstr, at most 255 bytes plus NUL */
};

/**
 * Sets code and a printf-style reply text (truncated to 255 bytes) and
 * returns -1 so callers can write `return err_set(err, 404, "...")`.
 */
int err_set(struct proto_err *err, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
