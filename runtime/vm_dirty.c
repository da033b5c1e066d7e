/* Dirty tracking for diff snapshots: KVM's per-slot dirty log (guest writes) merged with the
 * VMM's own bitmap (device writes into guest RAM), folded into one bit per snapshot chunk.
 * Logging starts at the first snapshot: before that every snapshot is full anyway. */
#include "vm_internal.h"

#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define PAGE 4096ULL

int vm_dirty_enable(struct vm *vm)
{
    if (vm->dirty_logging)
        return 0;
    for (size_t i = 0; i < gm_region_count(vm->mem); i++) {
        struct gm_region r;
        gm_region_get(vm->mem, i, &r);
        struct kvm_userspace_memory_region slot = {
            .slot = (uint32_t)i,
            .flags = KVM_MEM_LOG_DIRTY_PAGES,
            .guest_phys_addr = r.gpa,
            .memory_size = r.size,
            .userspace_addr = (uint64_t)(uintptr_t)r.host,
        };
        if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
            return vlog_err(-errno, "dirty logging on slot %zu", i);
    }
    vm->dirty_logging = true;
    return 0;
}

/* Pages dirtied in region i since the last call, guest and VMM writes together; clears both. */
static int region_dirty_pages(struct vm *vm, size_t i, const struct gm_region *r, uint64_t *bits)
{
    uint64_t npages = r->size / PAGE;
    size_t words = (size_t)((npages + 63) / 64);
    memset(bits, 0, words * sizeof(uint64_t));
    struct kvm_dirty_log log = {.slot = (uint32_t)i, .dirty_bitmap = bits};
    if (ioctl(vm->vm_fd, KVM_GET_DIRTY_LOG, &log) < 0)
        return vlog_err(-errno, "KVM_GET_DIRTY_LOG slot %zu", i);
    return gm_dirty_take(vm->mem, r->gpa, npages, bits);
}

int vm_dirty_collect(struct vm *vm, uint32_t chunk_size, uint64_t *chunks, uint64_t *ndirty)
{
    if (!vm->dirty_logging)
        return -ENODATA;
    uint64_t pages_per_chunk = chunk_size / PAGE, ram_off = 0;
    *ndirty = 0;
    int err = 0;
    for (size_t i = 0; i < gm_region_count(vm->mem) && !err; i++) {
        struct gm_region r;
        gm_region_get(vm->mem, i, &r);
        uint64_t npages = r.size / PAGE;
        uint64_t *bits = calloc((size_t)((npages + 63) / 64), sizeof(uint64_t));
        if (!bits)
            return -ENOMEM;
        err = region_dirty_pages(vm, i, &r, bits);
        for (uint64_t w = 0; !err && w < (npages + 63) / 64; w++) {
            for (uint64_t word = bits[w]; word; word &= word - 1) {
                uint64_t page = w * 64 + (uint64_t)__builtin_ctzll(word);
                uint64_t chunk = (ram_off / PAGE + page) / pages_per_chunk;
                if (!(chunks[chunk / 64] & (1ULL << (chunk % 64)))) {
                    chunks[chunk / 64] |= 1ULL << (chunk % 64);
                    (*ndirty)++;
                }
            }
        }
        free(bits);
        ram_off += r.size;
    }
    return err;
}
