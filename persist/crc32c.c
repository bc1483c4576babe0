/* SPDX-License-Identifier: MIT */
/*
 * crc32c (Castagnoli, iSCSI, RFC 3720 appendix B.4), the journal's checksum.
 *
 * zlib's crc32 is a different polynomial, and CRC-32C has better error
 * detection for the record sizes we write and a CPU instruction on x86-64
 * (SSE4.2 crc32), so the hot path costs about 0.1 us per KiB. The portable
 * path is slicing-by-8 over tables built once. Both give identical results
 * (tests/unit/test_store_format.c compares them).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "persist/persist_int.h"

#define POLY 0x82F63B78u /* reflected 0x1EDC6F41 */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void table_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

uint32_t persist__crc32c_sw(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint32_t c = ~crc;

    pthread_once(&table_once, table_init);
    while (n && ((uintptr_t)b & 7)) {
        c = (c >> 8) ^ table[0][(c ^ *b++) & 0xFF];
        n--;
    }
    while (n >= 8) {
        /* Little-endian load spelled out so the code is endian-neutral. */
        uint32_t lo = c ^ ((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                           (uint32_t)b[3] << 24);
        uint32_t hi =
            (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
        c = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
            table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
            table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
        b += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ table[0][(c ^ *b++) & 0xFF];
    return ~c;
}

/* ---- SSE4.2 ---- */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t c = ~crc;

    while (n && ((uintptr_t)b & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *b++);
        n--;
    }
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, b, 8);
        c = _mm_crc32_u64(c, v);
        b += 8;
        n -= 8;
    }
    while (n--)
        c = _mm_crc32_u8((uint32_t)c, *b++);
    return ~(uint32_t)c;
}

static pthread_once_t hw_once = PTHREAD_ONCE_INIT;
static bool hw;

static void hw_init(void)
{
    __builtin_cpu_init();
    hw = __builtin_cpu_supports("sse4.2") != 0;
}

static bool have_hw(void)
{
    pthread_once(&hw_once, hw_init);
    return hw;
}
#else
static uint32_t crc_hw(uint32_t crc, const void *p, size_t n)
{
    return persist__crc32c_sw(crc, p, n);
}

static bool have_hw(void)
{
    return false;
}
#endif

uint32_t persist__crc32c(uint32_t crc, const void *p, size_t n)
{
    return have_hw() ? crc_hw(crc, p, n) : persist__crc32c_sw(crc, p, n);
}
