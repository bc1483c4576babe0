/* SPDX-License-Identifier: MIT */
/*
 * fuzz_props: basic content-header properties (from the flag word on) through
 * decode -> encode -> decode, as fuzz_method does for methods. Property
 * encoding is canonical, so a decoded input re-encodes to identical bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spec_basic_props pr, again;
    uint8_t *buf;
    size_t n;
    int rc;

    rc = spec_decode_props(data, size, &pr);
    if (rc < 0) {
        uint16_t code = spec_status_reply_code(rc);
        if (code != SPEC_SYNTAX_ERROR && code != SPEC_FRAME_ERROR)
            abort();
        return 0;
    }
    if (pr.flags & SPEC_PROP_RESERVED_BITS)
        abort();

    n = spec_props_size(&pr);
    if (n != size)
        abort();
    buf = malloc(n);
    if (!buf)
        abort();
    if (spec_encode_props(&pr, buf) != n || memcmp(buf, data, n) != 0)
        abort();
    if (spec_decode_props(buf, n, &again) != SPEC_OK || again.flags != pr.flags)
        abort();
    if (spec_props_size(&again) != n)
        abort();
    free(buf);
    return 0;
}
