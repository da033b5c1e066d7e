/* Guest physical memory: one host VA reservation holding every RAM region. */
#ifndef VMRUN_MEM_H
#define VMRUN_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Start of the MMIO hole below 4 GiB; RAM beyond it continues at 4 GiB. */
#define GM_MMIO_HOLE_START 0xC0000000ULL
#define GM_MMIO_HOLE_END 0x100000000ULL
/* Largest guest RAM we accept: with the 1 GiB MMIO hole it ends at 32 GiB, what the boot
 * identity map covers. */
#define GM_MAX_RAM (31ULL << 30)
#define GM_PAGE_SIZE 4096ULL /* regions, dirty bits and zero-page checks work in these */

struct guest_mem;

/* One RAM region as seen by KVM and by snapshot code. */
struct gm_region {
    uint64_t gpa;  /* guest-physical start, page aligned */
    uint64_t size; /* bytes, page aligned */
    void *host;    /* host address inside the reservation */
};

struct gm_options {
    bool hugepages; /* madvise(MADV_HUGEPAGE) on RAM regions */
};

/* Reserve the guest-physical span for ram_size bytes of RAM and map anonymous RAM into it. */
int gm_create(uint64_t ram_size, const struct gm_options *opts, struct guest_mem **out);
/* Like gm_create, but RAM is fd mapped MAP_PRIVATE (copy-on-write): region i maps the file at
 * its RAM offset (regions concatenated in GPA order). Restore maps snapshot images this way. */
int gm_create_from_file(uint64_t ram_size, int fd, const struct gm_options *opts,
                        struct guest_mem **out);
/* True when RAM is plain anonymous memory whose never-populated pages read as zero. */
bool gm_is_anonymous(const struct guest_mem *mem);
/* Declare that unpopulated pages may hold data after all (RAM filled lazily by userfaultfd). */
void gm_set_not_anonymous(struct guest_mem *mem);
/* Host pointer for [ram_off, ram_off+len) of the RAM-offset space, inside one region. */
int gm_ram_ptr(const struct guest_mem *mem, uint64_t ram_off, uint64_t len, void **out);
/* Unmap everything; NULL is allowed. */
void gm_destroy(struct guest_mem *mem);

/* Total bytes of RAM (sum of all regions). */
uint64_t gm_ram_size(const struct guest_mem *mem);
/* Number of RAM regions, sorted by GPA. */
size_t gm_region_count(const struct guest_mem *mem);
/* Region i (0 <= i < count); -EINVAL when out of range. */
int gm_region_get(const struct guest_mem *mem, size_t i, struct gm_region *out);
/* Highest guest-physical address + 1 covered by RAM. */
uint64_t gm_top(const struct guest_mem *mem);

/* Host pointer for [gpa, gpa+len) if it lies inside one region; -EFAULT otherwise. */
int gm_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len, void **out);
/* Copy len bytes of guest memory into dst (capacity dst_size); -EFAULT/-EINVAL on bad ranges. */
int gm_read(const struct guest_mem *mem, uint64_t gpa, void *dst, size_t dst_size, size_t len);
/* Copy len bytes from src (src_size bytes long) into guest memory; -EFAULT/-EINVAL on bad ranges.
 */
int gm_write(struct guest_mem *mem, uint64_t gpa, const void *src, size_t src_size, size_t len);

/* Record that the VMM wrote [gpa, gpa+len) (KVM's dirty log only sees guest writes). gm_write
 * does this itself; callers writing through gm_ptr pointers must call it. */
void gm_mark_dirty(struct guest_mem *mem, uint64_t gpa, uint64_t len);
/* OR the VMM-dirty bits of npages pages from gpa into bits (bit i = page i) and clear them. */
int gm_dirty_take(struct guest_mem *mem, uint64_t gpa, uint64_t npages, uint64_t *bits);
/* Whether the VMM marked the page holding gpa dirty. */
bool gm_test_dirty(const struct guest_mem *mem, uint64_t gpa);
/* Whether the GM_PAGE_SIZE bytes at page are all zero: such pages need not be written where
 * fresh anonymous memory or a file hole already reads as zero. */
bool gm_page_is_zero(const void *page);

#endif
