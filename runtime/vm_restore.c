/* Restoring a VM: everything in the snapshot is checked (state tree, chain of images, disk
 * identity, device and queue state) before a vCPU runs; the VM is then built by vm_build, the
 * constructor cold boot uses, with saved state instead of fresh state. */
#include "vm_internal.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/memchain.h"
#include "vmrun/snapdir.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The machine comes from the snapshot; only host-side choices come from the command line. */
static int complete_config(struct vm_restore_opts *ro, struct vm_config *cfg,
                           const struct machine_state *ms)
{
    cfg->ncpus = ms->ncpus;
    cfg->mem_size = ms->memory.size;
    cfg->cpuid_passthrough = ms->cpuid_passthrough;
    cfg->kernel_path = NULL;
    cfg->ndisks = ms->ndisks;
    for (unsigned i = 0; i < VM_MAX_DISKS; i++) {
        if (ro->disk_override[i] && i >= ms->ndisks)
            return vlog_err(-EINVAL, "--disk %u=%s: the snapshot has %u disk(s)", i,
                            ro->disk_override[i], ms->ndisks);
        if (i >= ms->ndisks)
            continue;
        cfg->disks[i] = (struct vm_disk){
            .path = ro->disk_override[i] ? ro->disk_override[i] : ms->disks[i].path,
            .ro = ms->disks[i].ro,
            .replaced = ro->disk_override[i] != NULL,
        };
    }
    return 0;
}

/* The snapshot a VM came from is the parent of its first diff: its memory is what the guest
 * started from, and the slots have logged every write since (vm_build). */
static void set_parent(struct vm *vm, const char *dir, const struct machine_state *ms)
{
    char abs[PATH_MAX];
    if (!vm->dirty_logging || !realpath(dir, abs) || strlen(abs) >= sizeof(vm->parent_dir))
        return; /* the first snapshot is then full, as for a booted VM */
    memcpy(vm->parent_dir, abs, strlen(abs) + 1); /* length checked above */
    vm->parent_index_hash = ms->memory.index_hash;
    vm->parent_chunk_size = ms->memory.chunk_size;
    vm->have_parent = true;
}

int vm_restore(struct vm_restore_opts *ro, struct vm_config *cfg, struct vm **out)
{
    double t0 = now_ms();
    ro->bad_snapshot = false;
    struct machine_state *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return -ENOMEM;
    struct memchain *chain = NULL;
    int err = snapdir_read_state(ro->dir, ms);
    if (!err)
        err = memchain_open(ro->dir, ms, &chain);
    if (err) {
        ro->bad_snapshot = true;
        goto out;
    }
    err = complete_config(ro, cfg, ms);
    if (err)
        goto out;
    struct vm_restore_src src = {.ms = ms, .chain = chain, .mode = ro->memory, .dir = ro->dir};
    err = vm_build(cfg, &src, out);
    /* State KVM or a device refuses (queue sizes, register values, MSRs) is the snapshot's
     * fault as much as a bad hash is. */
    if (err == -EINVAL || err == -EBADMSG || err == -ENOTSUP || err == -ERANGE) {
        ro->bad_snapshot = true;
        vlog_msg("%s: snapshot refused before the guest ran", ro->dir);
    }
    if (!err && ro->memory == VM_MEMORY_LAZY) {
        (*out)->chain = chain; /* the fault handler reads from it for the VM's lifetime */
        chain = NULL;
    }
    if (!err) {
        (*out)->restored = true;
        set_parent(*out, ro->dir, ms);
        vlog_msg("restored %s: %u vCPU(s), %llu MiB (%s%s)", ro->dir, ms->ncpus,
                 (unsigned long long)(ms->memory.size >> 20),
                 ro->memory == VM_MEMORY_COW     ? "cow"
                 : ro->memory == VM_MEMORY_EAGER ? "eager"
                                                 : "lazy",
                 ro->memory == VM_MEMORY_COW
                     ? (src.raw_reused ? ", raw cache reused" : ", raw cache built")
                     : "");
    }
out:
    memchain_close(chain);
    free(ms);
    ro->restore_ms = now_ms() - t0;
    return err;
}
