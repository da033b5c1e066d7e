/* Test data shared by the snapshot-image and restore tests: reproducible text-like and random
 * bytes (a xorshift generator), fresh guest memory, and a monotonic clock for timing prints. */
#ifndef VMRUN_TESTS_TESTDATA_H
#define VMRUN_TESTS_TESTDATA_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#include "vmrun/mem.h"

static inline uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static inline void fill_text(uint8_t *p, uint64_t n, uint64_t seed)
{
    static const char *const words[] = {"the ",  "guest ",    "memory ", "snapshot ", "kernel ",
                                        "page ", "restore\n", "vcpu ",   "of ",       "and ",
                                        "a ",    "chunk ",    "lz4 ",    "index ",    "zero "};
    uint64_t s = seed | 1, i = 0;
    while (i < n) {
        const char *w = words[rng_next(&s) % (sizeof(words) / sizeof(words[0]))];
        for (; *w && i < n; w++)
            p[i++] = (uint8_t)*w;
    }
}

static inline void fill_random(uint8_t *p, uint64_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (uint64_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(p + i, &v, 8);
    }
}

static inline struct guest_mem *mem_new(uint64_t size)
{
    struct guest_mem *mem = NULL;
    assert_int_equal(gm_create(size, NULL, &mem), 0);
    return mem;
}

static inline double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
