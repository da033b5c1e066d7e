/* Taking a snapshot of a running VM: quiesce, collect every component's plain state, write the
 * directory, resume. Any failure leaves the VM as it was before the request. */
#include "vm_internal.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/mem.h"
#include "vmrun/restore_mem.h"
#include "vmrun/snapdir.h"
#include "vmrun/uart.h"
#include "vmrun/virtio_blk.h"
#include "vmrun/virtio_mmio.h"

#include <cpuid.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Below this, a snapshot is over before a progress line would be readable. */
#define PROGRESS_MIN_RAM (2ULL << 30)

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The CPU's brand string: restoring on a different CPU model is allowed but worth a warning. */
static void host_cpu_name(char *out, size_t cap)
{
    unsigned regs[12];
    if (!__get_cpuid(0x80000002, &regs[0], &regs[1], &regs[2], &regs[3]) ||
        !__get_cpuid(0x80000003, &regs[4], &regs[5], &regs[6], &regs[7]) ||
        !__get_cpuid(0x80000004, &regs[8], &regs[9], &regs[10], &regs[11])) {
        snprintf(out, cap, "unknown");
        return;
    }
    char brand[49];
    memcpy(brand, regs, 48);
    brand[48] = '\0';
    const char *s = brand;
    while (*s == ' ')
        s++;
    snprintf(out, cap, "%s", s);
}

static int save_disks(struct vm *vm, struct machine_state *ms)
{
    ms->ndisks = vm->ndisks;
    for (unsigned i = 0; i < vm->ndisks; i++) {
        struct disk_saved *d = &ms->disks[i];
        const char *path;
        bool ro;
        virtio_mmio_save(vm->disks[i].transport, &d->transport);
        int err = virtio_blk_sync(vm->disks[i].blk);
        if (!err)
            err = virtio_blk_identity(vm->disks[i].blk, &path, &d->size, &ro, &d->fingerprint);
        if (err)
            return vlog_err(err, "disk %u: flush and fingerprint", i);
        d->ro = ro;
        snprintf(d->path, sizeof(d->path), "%s", path);
    }
    return 0;
}

/* Collect everything but guest RAM; the vCPUs are paused. */
static int save_machine(struct vm *vm, struct machine_state *ms)
{
    ms->format_version = 1;
    host_cpu_name(ms->host_cpu, sizeof(ms->host_cpu));
    ms->ncpus = vm->ncpus;
    ms->cpuid_passthrough = vm->cpuid_passthrough;
    snprintf(ms->cmdline, sizeof(ms->cmdline), "%s", vm->cmdline);
    int err = 0;
    if (!vm->have_msr_list) {
        err = vcpu_msr_list_probe(vm->kvm_fd, vm->vcpus[0], &vm->msr_list);
        vm->have_msr_list = err == 0;
    }
    /* Per design rule 7, MP state is read first inside vcpu_save, for each vCPU. */
    for (unsigned i = 0; i < vm->ncpus && !err; i++)
        err = vcpu_save(vm->vcpus[i], &vm->msr_list, &ms->vcpus[i]);
    if (!err)
        err = vm_state_save(vm, &ms->vm);
    if (!err) {
        uart_save(vm->uart, &ms->uart);
        err = save_disks(vm, ms);
    }
    return err;
}

/* The chunks to store: a bitmap of those written since the parent, or NULL for a full image. */
static int diff_bitmap(struct vm *vm, const struct vm_snapshot_opts *o, uint32_t chunk_size,
                       uint64_t **bitmap)
{
    *bitmap = NULL;
    uint64_t nchunks = (gm_ram_size(vm->mem) + chunk_size - 1) / chunk_size;
    uint64_t *bits = calloc((size_t)((nchunks + 63) / 64), sizeof(uint64_t));
    if (!bits)
        return -ENOMEM;
    uint64_t ndirty = 0;
    /* Collected even for full snapshots: the logs must restart from this snapshot. */
    int err = vm->dirty_logging ? vm_dirty_collect(vm, chunk_size, bits, &ndirty) : 0;
    if (err || !o->diff || !vm->have_parent) {
        free(bits);
        return err;
    }
    *bitmap = bits;
    return 0;
}

/* A lazily restored VM's RAM is filled on first touch; a chunk that failed to load reads as
 * zeros, and a snapshot holding those zeros must not be published. */
static int lazy_ok(void *ctx)
{
    struct lazy_stats st;
    lazy_mem_stats(ctx, &st);
    return st.error;
}

/* On a terminal, a long snapshot shows how far it is (the writer calls this at most ~10 times a
 * second, and only when it runs long enough to matter). */
struct progress_line {
    const char *dir;
    bool started;
};

static void show_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_line *pl = ctx;
    if (!total)
        return;
    /* The console may be mid-line (--snapshot-on fires before the guest's newline). */
    fprintf(stderr, "%svmrun: snapshot %s: %3u%%", pl->started ? "\r" : "\n", pl->dir,
            (unsigned)(done * 100 / total));
    pl->started = true;
    if (done >= total)
        fputc('\n', stderr);
}

/* VMRUN_TRACE=1 prints where a snapshot's pause goes, for benchmarking and diagnosis. */
struct phase_clock {
    bool on;
    double last;
};

static void phase(struct phase_clock *pc, const char *what)
{
    if (!pc->on)
        return;
    double t = now_ms();
    vlog_msg("snapshot trace: %-22s %8.2f ms", what, t - pc->last);
    pc->last = t;
}

static int snapshot_paused(struct vm *vm, const struct vm_snapshot_opts *o,
                           struct vm_snapshot_result *r, char *old, size_t old_cap,
                           struct phase_clock *pc)
{
    struct machine_state *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return -ENOMEM;
    int err = save_machine(vm, ms);
    phase(pc, "save components");
    /* A diff must use its parent's chunking; otherwise the request, else the VM's --chunk-size. */
    uint32_t chunk = vm->have_parent && o->diff ? vm->parent_chunk_size
                     : o->chunk_size            ? o->chunk_size
                                                : vm->snapshot_chunk_size;
    if (!chunk)
        chunk = MEMIMG_DEFAULT_CHUNK;
    uint64_t *dirty = NULL;
    if (!err)
        err = diff_bitmap(vm, o, chunk, &dirty);
    phase(pc, "collect dirty log");
    r->diff = dirty != NULL;
    if (r->diff) {
        snprintf(ms->parent, sizeof(ms->parent), "%s", vm->parent_dir);
        ms->parent_index_hash = vm->parent_index_hash;
    }
    bool tty = isatty(STDERR_FILENO) && gm_ram_size(vm->mem) >= PROGRESS_MIN_RAM;
    struct progress_line pl = {.dir = o->dir};
    struct snapdir_opts so = {.mem = {.chunk_size = chunk,
                                      .hc = o->hc || vm->snapshot_hc,
                                      .dirty = dirty,
                                      .ram_is_anonymous = gm_is_anonymous(vm->mem),
                                      .progress = tty ? show_progress : NULL,
                                      .progress_ctx = &pl,
                                      .check = vm->lazy ? lazy_ok : NULL,
                                      .check_ctx = vm->lazy}};
    struct memimg_summary sum;
    if (!err)
        err = snapdir_write(o->dir, ms, vm->mem, &so, &sum, old, old_cap);
    phase(pc, "write directory");
    free(dirty);
    free(ms);
    /* Dirty logs were consumed above: without this snapshot on disk a diff has no parent. */
    vm->have_parent = false;
    if (err)
        return err;
    char abs[PATH_MAX];
    if (!realpath(o->dir, abs) || strlen(abs) >= sizeof(vm->parent_dir))
        return vlog_err(-ENAMETOOLONG, "%s", o->dir);
    memcpy(vm->parent_dir, abs, strlen(abs) + 1); /* length checked above */
    vm->parent_index_hash = sum.index_hash;
    vm->parent_chunk_size = sum.chunk_size;
    vm->have_parent = true;
    r->chunks_total = sum.chunks_total;
    r->chunks_data = sum.chunks_data;
    r->chunks_zero = sum.chunks_zero;
    r->chunks_absent = sum.chunks_absent;
    r->bytes_on_disk = sum.file_bytes;
    r->ram_bytes = sum.ram_bytes;
    err = vm_dirty_enable(vm);
    phase(pc, "enable dirty logging");
    return err;
}

int vm_snapshot(struct vm *vm, const struct vm_snapshot_opts *o, struct vm_snapshot_result *r)
{
    memset(r, 0, sizeof(*r));
    if (!o->dir || !*o->dir)
        return vlog_err(-EINVAL, "snapshot: no directory given");
    char abs[PATH_MAX];
    if (o->diff && vm->have_parent && realpath(o->dir, abs) && !strcmp(abs, vm->parent_dir))
        return vlog_err(-EINVAL,
                        "snapshot %s: a diff snapshot needs a directory other than its "
                        "parent",
                        o->dir);
    double t0 = now_ms();
    const char *trace = getenv("VMRUN_TRACE");
    struct phase_clock pc = {.on = trace && *trace && *trace != '0', .last = t0};
    bool was_paused = vm->paused;
    int err = was_paused ? 0 : vm_pause(vm);
    phase(&pc, "pause vCPUs");
    if (err) {
        vm_resume(vm);
        return err;
    }
    char old[PATH_MAX] = "";
    err = snapshot_paused(vm, o, r, old, sizeof(old), &pc);
    if (!was_paused) {
        int rerr = vm_resume(vm);
        if (!err)
            err = rerr;
    }
    r->paused_ms = now_ms() - t0;
    phase(&pc, "resume");
    snapdir_remove(old);
    return err;
}
