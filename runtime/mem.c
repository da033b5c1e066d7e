/* Guest memory: one PROT_NONE reservation mirroring guest-physical [0, top), RAM mapped over it. */
#include "vmrun/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/types.h>

/* Older libc headers lack these; the values are kernel ABI (linux/prctl.h). */
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#endif
#ifndef PR_SET_VMA_ANON_NAME
#define PR_SET_VMA_ANON_NAME 0
#endif

/* KVM maps a guest huge page only when GPA and host VA agree modulo its size. */
#define GM_HOST_ALIGN (2ULL << 20)
/* Boot needs at most two; the headroom is for regions added later (e.g. device memory). */
#define GM_MAX_REGIONS 8

_Static_assert(sizeof(size_t) >= sizeof(uint64_t), "guest sizes must fit in size_t");

struct guest_mem {
    uint8_t *base; /* host address of guest-physical 0 */
    uint64_t top;  /* reservation length == highest RAM GPA + 1 */
    uint64_t ram_size;
    size_t nregions;
    struct gm_region regions[GM_MAX_REGIONS]; /* sorted by gpa, non-overlapping */
    bool anonymous; /* RAM is plain anonymous memory: unpopulated pages read as zero */
    /* One bit per 4 KiB page of [0, top) the VMM itself wrote: KVM's dirty log only sees guest
     * writes, and a snapshot needs both. */
    uint64_t *vmm_dirty;
    size_t vmm_dirty_words;
};

/*
 * Reserve len bytes of address space aligned to GM_HOST_ALIGN. Over-reserving and trimming is
 * the only portable way to get alignment from mmap.
 */
static int gm_reserve(uint64_t len, uint8_t **out)
{
    uint64_t padded;
    if (__builtin_add_overflow(len, GM_HOST_ALIGN, &padded))
        return -EINVAL;
    void *raw = mmap(NULL, padded, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED)
        return -errno;
    uintptr_t start = (uintptr_t)raw;
    uintptr_t aligned = (start + GM_HOST_ALIGN - 1) & ~(uintptr_t)(GM_HOST_ALIGN - 1);
    uintptr_t head = aligned - start;
    uintptr_t tail = padded - head - len;
    /* Trimming cannot fail for ranges we just mapped; ignoring errors only leaks address space. */
    if (head)
        munmap(raw, head);
    if (tail)
        munmap((void *)(aligned + len), tail);
    *out = (uint8_t *)aligned;
    return 0;
}

/* Record a region in sorted order; regions must lie inside the reservation and not overlap. */
static int gm_add_region(struct guest_mem *mem, uint64_t gpa, uint64_t size)
{
    uint64_t end;
    if (size == 0 || gpa % GM_PAGE_SIZE || size % GM_PAGE_SIZE)
        return -EINVAL;
    if (__builtin_add_overflow(gpa, size, &end) || end > mem->top)
        return -EINVAL;
    if (mem->nregions == GM_MAX_REGIONS)
        return -ENOSPC;

    size_t i = mem->nregions;
    while (i > 0 && mem->regions[i - 1].gpa > gpa)
        i--;
    if (i > 0 && mem->regions[i - 1].gpa + mem->regions[i - 1].size > gpa)
        return -EEXIST;
    if (i < mem->nregions && mem->regions[i].gpa < end)
        return -EEXIST;

    memmove(&mem->regions[i + 1], &mem->regions[i], (mem->nregions - i) * sizeof(mem->regions[0]));
    mem->regions[i] = (struct gm_region){.gpa = gpa, .size = size, .host = mem->base + gpa};
    mem->nregions++;
    mem->ram_size += size;
    return 0;
}

/*
 * Map one region over its slot in the reservation. fd < 0 gives fresh anonymous RAM; otherwise a
 * private copy-on-write view of fd at offset, which is what restore will use.
 */
static int gm_map_region(const struct gm_region *r, int fd, off_t offset,
                         const struct gm_options *opts)
{
    int flags = MAP_FIXED | MAP_PRIVATE | MAP_NORESERVE | (fd < 0 ? MAP_ANONYMOUS : 0);
    void *p = mmap(r->host, r->size, PROT_READ | PROT_WRITE, flags, fd, fd < 0 ? 0 : offset);
    if (p == MAP_FAILED)
        return -errno;
    /* Advice, on by default: a kernel built without THP (EINVAL) simply runs with small pages.
     * Only anonymous RAM: file-backed private mappings cannot take huge pages. */
    if (opts->hugepages && fd < 0 && madvise(r->host, r->size, MADV_HUGEPAGE) < 0 &&
        errno != EINVAL)
        return -errno;
    /* Naming is cosmetic (smaps accounting); kernels without CONFIG_ANON_VMA_NAME say EINVAL. */
    if (fd < 0 && prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)(uintptr_t)r->host,
                        (unsigned long)r->size, "vmrun-guest-ram") < 0) {
        if (errno != EINVAL && errno != ENOSYS)
            return -errno;
    }
    return 0;
}

/* fd < 0: anonymous RAM; else each region maps fd at its RAM offset, MAP_PRIVATE. */
static int gm_create_mapped(uint64_t ram_size, int fd, const struct gm_options *opts,
                            struct guest_mem **out)
{
    static const struct gm_options defaults;
    int rc;

    if (!out)
        return -EINVAL;
    *out = NULL;
    if (ram_size == 0 || ram_size % GM_PAGE_SIZE || ram_size > GM_MAX_RAM)
        return -EINVAL;
    if (!opts)
        opts = &defaults;

    uint64_t low = ram_size < GM_MMIO_HOLE_START ? ram_size : GM_MMIO_HOLE_START;
    uint64_t high = ram_size - low;

    struct guest_mem *mem = calloc(1, sizeof(*mem));
    if (!mem)
        return -ENOMEM;
    mem->top = high ? GM_MMIO_HOLE_END + high : low;
    rc = gm_reserve(mem->top, &mem->base);
    if (rc < 0) {
        free(mem);
        return rc;
    }

    mem->vmm_dirty_words = (size_t)((mem->top / GM_PAGE_SIZE + 63) / 64);
    mem->vmm_dirty = calloc(mem->vmm_dirty_words, sizeof(uint64_t));
    rc = mem->vmm_dirty ? gm_add_region(mem, 0, low) : -ENOMEM;
    if (rc == 0 && high)
        rc = gm_add_region(mem, GM_MMIO_HOLE_END, high);
    mem->anonymous = fd < 0;
    uint64_t ram_off = 0;
    for (size_t i = 0; rc == 0 && i < mem->nregions; i++) {
        rc = gm_map_region(&mem->regions[i], fd, (off_t)ram_off, opts);
        ram_off += mem->regions[i].size;
    }
    if (rc < 0) {
        /* Regions live inside the reservation, so unmapping it undoes every partial step. */
        gm_destroy(mem);
        return rc;
    }
    *out = mem;
    return 0;
}

int gm_create(uint64_t ram_size, const struct gm_options *opts, struct guest_mem **out)
{
    return gm_create_mapped(ram_size, -1, opts, out);
}

int gm_create_from_file(uint64_t ram_size, int fd, const struct gm_options *opts,
                        struct guest_mem **out)
{
    if (fd < 0)
        return -EBADF;
    return gm_create_mapped(ram_size, fd, opts, out);
}

bool gm_is_anonymous(const struct guest_mem *mem)
{
    return mem->anonymous;
}

void gm_set_not_anonymous(struct guest_mem *mem)
{
    mem->anonymous = false;
}

int gm_ram_ptr(const struct guest_mem *mem, uint64_t ram_off, uint64_t len, void **out)
{
    uint64_t base = 0;
    for (size_t i = 0; i < mem->nregions; i++) {
        const struct gm_region *r = &mem->regions[i];
        if (ram_off >= base && ram_off - base < r->size)
            return gm_ptr(mem, r->gpa + (ram_off - base), len, out);
        base += r->size;
    }
    return -EFAULT;
}

void gm_destroy(struct guest_mem *mem)
{
    if (!mem)
        return;
    if (mem->base)
        munmap(mem->base, mem->top);
    free(mem->vmm_dirty);
    free(mem);
}

void gm_mark_dirty(struct guest_mem *mem, uint64_t gpa, uint64_t len)
{
    uint64_t end;
    if (len == 0 || __builtin_add_overflow(gpa, len, &end) || end > mem->top)
        return; /* only ranges gm_ptr accepted reach here; anything else wrote nothing */
    for (uint64_t pfn = gpa / GM_PAGE_SIZE; pfn <= (end - 1) / GM_PAGE_SIZE; pfn++)
        __atomic_fetch_or(&mem->vmm_dirty[pfn / 64], 1ULL << (pfn % 64), __ATOMIC_RELAXED);
}

int gm_dirty_take(struct guest_mem *mem, uint64_t gpa, uint64_t npages, uint64_t *bits)
{
    uint64_t end;
    if (gpa % GM_PAGE_SIZE || __builtin_mul_overflow(npages, GM_PAGE_SIZE, &end) ||
        __builtin_add_overflow(end, gpa, &end) || end > mem->top)
        return -EINVAL;
    uint64_t first = gpa / GM_PAGE_SIZE;
    for (uint64_t i = 0; i < npages; i++) {
        uint64_t pfn = first + i;
        uint64_t bit = 1ULL << (pfn % 64);
        /* Clear only what was read, so a concurrent mark is never lost. */
        if (__atomic_load_n(&mem->vmm_dirty[pfn / 64], __ATOMIC_RELAXED) & bit &&
            (__atomic_fetch_and(&mem->vmm_dirty[pfn / 64], ~bit, __ATOMIC_RELAXED) & bit))
            bits[i / 64] |= 1ULL << (i % 64);
    }
    return 0;
}

bool gm_test_dirty(const struct guest_mem *mem, uint64_t gpa)
{
    if (gpa >= mem->top)
        return false;
    uint64_t pfn = gpa / GM_PAGE_SIZE;
    return (__atomic_load_n(&mem->vmm_dirty[pfn / 64], __ATOMIC_RELAXED) >> (pfn % 64)) & 1;
}

uint64_t gm_ram_size(const struct guest_mem *mem)
{
    return mem ? mem->ram_size : 0;
}

size_t gm_region_count(const struct guest_mem *mem)
{
    return mem ? mem->nregions : 0;
}

int gm_region_get(const struct guest_mem *mem, size_t i, struct gm_region *out)
{
    if (!mem || !out || i >= mem->nregions)
        return -EINVAL;
    *out = mem->regions[i];
    return 0;
}

uint64_t gm_top(const struct guest_mem *mem)
{
    return mem ? mem->top : 0;
}

/* The region containing gpa, or NULL; O(log n) since the table is sorted and disjoint. */
static const struct gm_region *gm_find(const struct guest_mem *mem, uint64_t gpa)
{
    size_t lo = 0, hi = mem->nregions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (mem->regions[mid].gpa <= gpa)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return NULL;
    const struct gm_region *r = &mem->regions[lo - 1];
    return gpa - r->gpa < r->size ? r : NULL;
}

int gm_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len, void **out)
{
    uint64_t end;
    if (!mem || !out)
        return -EINVAL;
    *out = NULL;
    if (__builtin_add_overflow(gpa, len, &end))
        return -EFAULT;
    const struct gm_region *r = gm_find(mem, gpa);
    if (!r)
        return -EFAULT;
    /*
     * Crossing into a neighbour is refused even when it is adjacent: each region is its own KVM
     * slot and backing (anonymous, snapshot file, userfaultfd), so callers must split the copy.
     */
    if (len > r->size - (gpa - r->gpa))
        return -EFAULT;
    *out = (uint8_t *)r->host + (gpa - r->gpa);
    return 0;
}

int gm_read(const struct guest_mem *mem, uint64_t gpa, void *dst, size_t dst_size, size_t len)
{
    void *src;
    if (len > dst_size || (len > 0 && !dst))
        return -EINVAL;
    int rc = gm_ptr(mem, gpa, len, &src);
    if (rc < 0)
        return rc;
    /* dst may itself point into guest RAM (device-to-guest copies), so ranges can overlap. */
    if (len > 0)
        memmove(dst, src, len);
    return 0;
}

int gm_write(struct guest_mem *mem, uint64_t gpa, const void *src, size_t src_size, size_t len)
{
    void *dst;
    if (len > src_size || (len > 0 && !src))
        return -EINVAL;
    int rc = gm_ptr(mem, gpa, len, &dst);
    if (rc < 0)
        return rc;
    if (len > 0) {
        memmove(dst, src, len);
        gm_mark_dirty(mem, gpa, len);
    }
    return 0;
}

bool gm_page_is_zero(const void *page)
{
    const uint8_t *p = page;
    uint64_t w[8];
    for (size_t i = 0; i < GM_PAGE_SIZE; i += sizeof(w)) {
        memcpy(w, p + i, sizeof(w));
        if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7])
            return false;
    }
    return true;
}
