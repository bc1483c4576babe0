/* SPDX-License-Identifier: MIT */
/*
 * fuzz_config: arbitrary bytes through config_parse(). A config that parses
 * must load into an empty auth registry (validation and auth agree), and a
 * rejected one must carry a position ("fuzz:LINE:COL: "), which checks that
 * the position finder locates every path the loader can complain about. The
 * finder is also run on the raw bytes, which need not be valid JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker/auth.h"
#include "broker/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct config_path_step probe[] = {
    {.key = "users"}, {.key = NULL, .index = 1}, {.key = "tags"}, {.key = NULL, .index = 0}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[1024];
    struct config_pos pos;
    struct config *c;
    int line, col, n = 0;

    for (size_t depth = 0; depth <= sizeof(probe) / sizeof(probe[0]); depth++) {
        if (config_json_pos(text, size, probe, depth, depth % 2 == 1, &pos) == 0 &&
            (pos.line < 1 || pos.column < 1))
            abort();
    }

    err[0] = '\0';
    c = config_parse(text, size, "fuzz", err, sizeof(err));
    if (!c) {
        /* jansson reports column 0 at the very start of an empty input. */
        if (sscanf(err, "fuzz:%d:%d: %n", &line, &col, &n) != 2 || n == 0 || line < 1 || col < 0)
            abort();
        return 0;
    }
    if (c->amqp_port == 0 || c->frame_max < 4096 || c->channel_max == 0 ||
        c->max_message_size == 0 || !(c->handshake_timeout >= 1.0))
        abort();
    struct auth *a = auth_create();
    if (auth_load_config(a, c, err, sizeof(err)) != 0)
        abort();
    /* Run every pattern once on a name taken from the input, so a pattern
     * that is cheap to compile but slow to match shows up as a timeout. */
    struct view name = {data, size < 255 ? size : 255};
    for (size_t i = 0; i < c->n_permissions && i < 16; i++) {
        const struct auth_user *u = auth_user_find(a, view_str(c->permissions[i].user));
        if (!u)
            abort();
        for (int op = AUTH_CONFIGURE; op <= AUTH_READ; op++)
            (void)auth_check(a, u, view_str(c->permissions[i].vhost), (enum auth_op)op, name);
    }
    auth_destroy(a);
    config_destroy(c);
    return 0;
}
