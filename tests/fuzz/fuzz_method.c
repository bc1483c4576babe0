/* SPDX-License-Identifier: MIT */
/*
 * fuzz_method: method frame payloads through decode -> encode -> decode.
 *
 * Any input must decode to SPEC_OK or a negative status without reading past
 * size. A method that decodes must re-encode to exactly spec_method_size()
 * bytes, and that encoding must decode again to the same id and re-encode to
 * the same bytes (the encoding is canonical: reserved fields become 0/empty,
 * spare bits become 0). Public API only.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "amqp/spec_gen.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spec_method m, again;
    const struct spec_method_info *info;
    uint8_t *buf, *buf2;
    size_t n;
    int rc;

    rc = spec_decode_method(data, size, &m);
    if (spec_status_reply_code(rc) == 0 || spec_status_text(rc) == NULL)
        abort();
    if (rc < 0)
        return 0;
    info = spec_method_info(m.id);
    if (!info || info->id != m.id || strcmp(spec_method_name(m.id), info->name) != 0)
        abort();

    n = spec_method_size(&m);
    if (n < 4 || n > size)
        abort(); /* re-encoding can only shrink (reserved fields) */
    buf = malloc(n);
    if (!buf)
        abort();
    if (spec_encode_method(&m, buf) != n)
        abort();

    if (spec_decode_method(buf, n, &again) != SPEC_OK || again.id != m.id)
        abort();
    if (spec_method_size(&again) != n)
        abort();
    buf2 = malloc(n);
    if (!buf2)
        abort();
    if (spec_encode_method(&again, buf2) != n || memcmp(buf, buf2, n) != 0)
        abort();
    free(buf2);
    free(buf);
    return 0;
}
