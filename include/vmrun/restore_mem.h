/* Filling guest RAM from a snapshot chain: eagerly, copy-on-write from a raw cache file, or
 * lazily on first touch through userfaultfd. */
#ifndef VMRUN_RESTORE_MEM_H
#define VMRUN_RESTORE_MEM_H

#include <stdbool.h>
#include <stdint.h>

struct guest_mem;
struct memchain;
struct lazy_mem;

#define RESTORE_RAW_FILE "memory.raw"

/* eager: decompress every chunk straight into mem (anonymous RAM) on `threads` threads
 * (0: one per online CPU); ZERO chunks are skipped (fresh anonymous memory is zero). */
int restore_eager(struct memchain *c, struct guest_mem *mem, unsigned threads);

/* cow: return a read-only fd of dir/memory.raw, the chain expanded into a sparse page-cache file
 * (ZERO chunks stay holes; every chunk hash-checked while expanding). An existing memory.raw is
 * reused when its recorded identity matches memchain_id() and its size is right; otherwise it is
 * rebuilt (written to a temporary name, fsync'd, renamed). *reused tells which. The caller maps
 * it with gm_create_from_file(); clones of one snapshot share its clean pages. */
int restore_raw_open(struct memchain *c, const char *dir, int *fd_out, bool *reused);

/* lazy: register mem's RAM (anonymous, untouched) with userfaultfd and start a handler thread
 * that resolves each first touch from the chain: UFFDIO_COPY of the whole chunk containing the
 * fault, UFFDIO_ZEROPAGE for ZERO chunks. Guest accesses (through KVM) and vmrun's own accesses
 * are both served. on_fail(fail_ctx, -errno) runs once, in the handler thread, on the first
 * failure (a corrupt chunk), before the fault is released with zeros. */
typedef void (*lazy_fail_fn)(void *ctx, int err);
int lazy_mem_start(struct memchain *c, struct guest_mem *mem, lazy_fail_fn on_fail, void *fail_ctx,
                   struct lazy_mem **out);
/* Stop the handler thread and close the userfaultfd (after the vCPUs are stopped; pages never
 * touched by then read as zeros afterwards). The chain must stay open until here. NULL ok. */
void lazy_mem_stop(struct lazy_mem *l);

struct lazy_stats {
    uint64_t faults, chunks_copied, chunks_zeroed;
    int error; /* first failure (-errno, e.g. -EBADMSG for a corrupt chunk); 0: none. A chunk
                * that could not be read was resolved with zeros after on_fail ran. */
};
/* Counters so far. */
void lazy_mem_stats(const struct lazy_mem *l, struct lazy_stats *out);

#endif
