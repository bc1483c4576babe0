/* SPDX-License-Identifier: MIT */
#include "broker/names.h"

#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void names_generate(const char *prefix, char *out, size_t size)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint8_t rnd[22];
    char tail[23];

    /* Names must not collide; they need not be secret, but the CSPRNG is cheap enough. */
    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        static uint64_t counter;
        for (size_t i = 0; i < sizeof(rnd); i++)
            rnd[i] = (uint8_t)((++counter * 0x9E3779B97F4A7C15ull) >> 56);
    }
    for (size_t i = 0; i < sizeof(rnd); i++)
        tail[i] = alphabet[rnd[i] & 63];
    tail[22] = '\0';
    snprintf(out, size, "%s%s", prefix, tail);
}
