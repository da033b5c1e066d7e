/* Private to the memory.lz4 writer: the state its worker threads (memimg_encode.c) and its
 * in-order file writer (memimg_write.c) share. */
#ifndef VMRUN_SNAPSHOT_MEMIMG_WRITER_H
#define VMRUN_SNAPSHOT_MEMIMG_WRITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "memimg_format.h"
#include "vmrun/memimg.h"

struct mw_region {
    const uint8_t *host;
    uint64_t ram_off, size;
};

struct mw_slot {
    uint64_t job; /* the job (index into mw_ctx.jobs) this slot holds, or may hold next */
    bool ready;   /* a worker finished that job */
    uint8_t *buf; /* group_chunks * chunk_size bytes of lz4 output */
};

struct mw_ctx {
    /* Fixed before the workers start. */
    const struct memimg_write_opts *opts;
    struct mw_region *regions;
    size_t nregions;
    uint32_t cs;
    uint64_t ram, nchunks, group_chunks, ngroups;
    /* The groups that hold a chunk to store, in file order: every group for a full image, only
     * those with a dirty chunk for a diff, so a 1% diff does not hand 512 empty groups through
     * the ring (each a lock round trip between threads). */
    uint64_t *jobs, njobs;
    unsigned nslots;
    int pagemap_fd;           /* -1: scan every chunk */
    struct mi_entry *entries; /* kind/flags/size/hash from workers, offset from the writer */
    struct mw_slot *slots;
    /* Shared, under lock. */
    pthread_mutex_t lock;
    pthread_cond_t ready_cv, free_cv;
    uint64_t next_job;
    bool stop;
};

struct mw_worker {
    struct mw_ctx *c;
    pthread_t tid;
    void *lz_state;
    uint64_t *pagemap; /* one entry per page of a chunk, or NULL */
};

static inline uint64_t mw_chunk_bytes(const struct mw_ctx *c, uint64_t i)
{
    uint64_t start = i * c->cs;
    return c->ram - start < c->cs ? c->ram - start : c->cs;
}

/* Chunks never straddle regions (checked when the writer sets up), so a chunk is one host
 * range. */
static inline const uint8_t *mw_chunk_host(const struct mw_ctx *c, uint64_t i)
{
    uint64_t off = i * c->cs;
    size_t r = 0;
    while (r + 1 < c->nregions && off >= c->regions[r + 1].ram_off)
        r++;
    return c->regions[r].host + (off - c->regions[r].ram_off);
}

/* Worker thread: claims jobs in order, fills their slot and entries, until none is left. */
void *mw_worker_main(void *arg);

#endif
