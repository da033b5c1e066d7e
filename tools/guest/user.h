/* Ring-3 workloads of the vmrun built-in guest. */
#ifndef GUEST_USER_H
#define GUEST_USER_H

#include "lib.h"

#define E820_MAX 128
#define E820_RAM 1

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

/* What every workload gets: the boot information, already validated. */
struct guest_env {
    uint64_t boot_params;
    const char *cmdline;
    unsigned n_e820;
    struct e820_entry e820[E820_MAX];
    uint64_t ram_bytes;
    uint64_t image_end; /* end of the guest image, page aligned */
};

/* Find len bytes of RAM at or above the image end rounded up to 2 MiB, 2 MiB aligned;
 * 0 if none fits. */
uint64_t ram_region_find(const struct guest_env *env, uint64_t len);

/* Workloads: each reads its own options, prints its results and exits through the exit port. */
__attribute__((noreturn)) void workload_heartbeat(const struct guest_env *env);
__attribute__((noreturn)) void workload_fill(const struct guest_env *env);
__attribute__((noreturn)) void workload_blk(const struct guest_env *env);
__attribute__((noreturn)) void workload_hostile(const struct guest_env *env);

#endif
