/* Guest RAM for fuzz targets, with a PROT_NONE guard page right after its end.
 *
 * Guest RAM is mmap'd, not heap, so ASan does not see an access past its end: the bytes after
 * the reservation may belong to any other mapping. The guard turns such an access into a SEGV
 * the fuzzer reports. Accesses inside guest RAM are the guest's business and are not flagged. */
#ifndef VMRUN_FUZZ_GUEST_H
#define VMRUN_FUZZ_GUEST_H

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmrun/mem.h"

struct fuzz_guest {
    struct guest_mem *mem;
    uint8_t *ram; /* host address of GPA 0 */
    uint64_t size;
    void *guard; /* NULL when the page after RAM was already taken */
};

/* RAM of size bytes (page multiple, below the MMIO hole: a single region). */
static inline void fuzz_guest_create(struct fuzz_guest *g, uint64_t size)
{
    struct gm_region r;
    if (gm_create(size, NULL, &g->mem) != 0 || gm_region_get(g->mem, 0, &r) != 0)
        abort();
    g->ram = r.host;
    g->size = size;
    /* gm_create trimmed its reservation to the RAM's end, so this page is normally free. */
    g->guard = mmap(g->ram + size, 4096, PROT_NONE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (g->guard == MAP_FAILED || g->guard != g->ram + size) {
        if (g->guard != MAP_FAILED)
            munmap(g->guard, 4096); /* an old kernel treated the flag as a hint */
        g->guard = NULL;
    }
}

static inline void fuzz_guest_destroy(struct fuzz_guest *g)
{
    if (g->guard)
        munmap(g->guard, 4096);
    gm_destroy(g->mem);
    g->mem = NULL;
}

#endif
