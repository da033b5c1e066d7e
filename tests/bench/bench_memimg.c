/*
 * memory.lz4 micro-benchmark (not a test): the platform.md reference workload, a guest with
 * half its RAM untouched and the other half filled with zero pages, text-like and random data
 * (2:1:1), written to DIR and read back.
 *
 *   bench_memimg [DIR [RAM_MiB [THREADS [CHUNK_KiB]]]]     defaults: /tmp 1024 0 256
 *
 * Use a tmpfs DIR (/dev/shm) to see the CPU cost without the disk.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "vmrun/mem.h"
#include "vmrun/memimg.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill_text(uint8_t *p, uint64_t n, uint64_t seed)
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

static void fill_random(uint8_t *p, uint64_t n, uint64_t seed)
{
    uint64_t s = seed | 1;
    for (uint64_t i = 0; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(&s);
        memcpy(p + i, &v, 8);
    }
}

/* Parallel restore as vmrun would do it: chunks striped over threads. */
struct reader {
    struct memimg *m;
    unsigned id, n;
    int rc;
    pthread_t tid;
};

static void *read_main(void *arg)
{
    struct reader *r = arg;
    struct memimg_summary s;
    memimg_get_summary(r->m, &s);
    uint8_t *buf = malloc(s.chunk_size);
    if (!buf) {
        r->rc = -ENOMEM;
        return NULL;
    }
    for (uint64_t i = r->id; i < s.chunks_total && r->rc == 0; i += r->n) {
        int k = memimg_chunk_kind(r->m, i);
        if (k == MEMIMG_DATA)
            r->rc = memimg_read_chunk(r->m, i, buf, memimg_chunk_bytes(r->m, i));
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp";
    uint64_t ram = (argc > 2 ? strtoull(argv[2], NULL, 0) : 1024) << 20;
    unsigned threads = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 0;
    uint32_t cs = (argc > 4 ? (uint32_t)strtoul(argv[4], NULL, 0) : 256) << 10;
    struct guest_mem *mem;
    int rc = gm_create(ram, NULL, &mem);
    if (rc < 0) {
        fprintf(stderr, "gm_create: %s\n", strerror(-rc));
        return 1;
    }
    struct gm_region r0;
    gm_region_get(mem, 0, &r0);
    uint8_t *base = r0.host;
    uint64_t filled = ram / 2 < r0.size ? ram / 2 : r0.size;
    /* Per 1 MiB: zero, zero, text, random; the upper half of RAM is never touched. */
    for (uint64_t off = 0; off < filled; off += 1 << 20) {
        switch ((off >> 20) % 4) {
        case 0:
        case 1:
            memset(base + off, 0, 1 << 20);
            break;
        case 2:
            fill_text(base + off, 1 << 20, off + 1);
            break;
        default:
            fill_random(base + off, 1 << 20, off + 1);
        }
    }

    char path[4096];
    snprintf(path, sizeof(path), "%s/bench_memimg.%d.lz4", dir, (int)getpid());
    struct memimg_write_opts o = {.chunk_size = cs, .threads = threads, .ram_is_anonymous = true};
    struct memimg_summary w;
    double t0 = now_s();
    rc = memimg_write(path, mem, &o, &w);
    double tw = now_s() - t0;
    if (rc < 0) {
        gm_destroy(mem);
        return 1;
    }
    printf("write: %" PRIu64 " MiB RAM in %.3f s (%.0f MB/s of RAM), file %.1f MB "
           "(%" PRIu64 " data, %" PRIu64 " zero chunks)\n",
           ram >> 20, tw, ram / 1e6 / tw, w.file_bytes / 1e6, w.chunks_data, w.chunks_zero);

    struct memimg *m;
    unsigned nr = threads ? threads : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
    struct reader rd[64];
    if (nr > 64)
        nr = 64;
    t0 = now_s();
    rc = memimg_open(path, w.index_hash, &m);
    for (unsigned i = 0; rc == 0 && i < nr; i++) {
        rd[i] = (struct reader){.m = m, .id = i, .n = nr};
        pthread_create(&rd[i].tid, NULL, read_main, &rd[i]);
    }
    for (unsigned i = 0; rc == 0 && i < nr; i++) {
        pthread_join(rd[i].tid, NULL);
        if (rd[i].rc)
            rc = rd[i].rc;
    }
    double tr = now_s() - t0;
    if (rc == 0)
        printf("read:  %.3f s on %u threads (%.0f MB/s of stored RAM, page cache warm)\n", tr, nr,
               w.uncompressed_bytes / 1e6 / tr);
    memimg_close(m);
    unlink(path);
    gm_destroy(mem);
    return rc == 0 ? 0 : 1;
}
