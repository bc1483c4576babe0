/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the management request router (mgmt/router.c).
 *
 * Byte 0 picks the method; the rest up to the first '?' is the path and what
 * follows is a query string. The router must never read outside the path,
 * must put every captured argument inside the scratch buffer, and a FOUND
 * result must name a route the method is allowed on. The query helpers and
 * the binding properties_key writer get the same bytes.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "mgmt/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned methods[] = {MGMT_GET,  MGMT_HEAD,   MGMT_PUT,
                                       MGMT_POST, MGMT_DELETE, MGMT_OPTIONS};
    struct mgmt_match m;
    enum mgmt_route_result rr;
    const uint8_t *q;
    size_t plen;
    char *path, *scratch, out[64], allow[96], props[128];
    unsigned method;

    if (size < 1)
        return 0;
    method = methods[data[0] % 6];
    data++, size--;
    q = memchr(data, '?', size);
    plen = q ? (size_t)(q - data) : size;
    /* Exact-size copies so ASan catches any read past the end. */
    path = malloc(plen ? plen : 1);
    scratch = malloc(plen ? plen : 1);
    memcpy(path, data, plen);
    rr = mgmt_route(method, path, plen, scratch, plen, &m);
    if (rr == MGMT_ROUTE_FOUND) {
        assert(m.id < MGMT_R_COUNT);
        assert(m.nargs <= MGMT_ROUTE_MAX_ARGS);
        for (size_t i = 0; i < m.nargs; i++)
            assert(m.args[i].n == 0 ||
                   (m.args[i].p >= (const uint8_t *)scratch &&
                    m.args[i].p + m.args[i].n <= (const uint8_t *)scratch + plen));
    } else if (rr == MGMT_ROUTE_BAD_METHOD) {
        assert(m.allowed != 0);
        /* OPTIONS is answered from the Allow list, so it is always "allowed". */
        assert(method == MGMT_OPTIONS || !(m.allowed & (method == MGMT_HEAD ? MGMT_GET : method)));
        mgmt_allow_header(m.allowed, allow, sizeof(allow));
    }
    if (q) {
        struct view query = {q + 1, size - plen - 1};
        int r = mgmt_query_get(query, "page", out, sizeof(out));
        assert(r >= -1 && r <= 1);
        if (r == 1)
            assert(strlen(out) < sizeof(out));
        mgmt_props_key((struct view){data, plen}, query, props, sizeof(props));
        assert(strlen(props) < sizeof(props));
    }
    free(path);
    free(scratch);
    return 0;
}
