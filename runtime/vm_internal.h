/* Private to runtime/: the layout of struct vm, shared by the files that build it. */
#ifndef VMRUN_RUNTIME_VM_INTERNAL_H
#define VMRUN_RUNTIME_VM_INTERNAL_H

#include "vmrun/vcpu.h"
#include "vmrun/vm.h"

#include <pthread.h>
#include <stdbool.h>

struct bus;
struct console;
struct guest_mem;
struct sysdev;
struct uart;
struct vcpu;
struct virtio_blk;
struct virtio_mmio;

/* A virtio device on the MMIO bus with its interrupt eventfd. */
struct vm_virtio_dev {
    struct virtio_blk *blk;
    struct virtio_mmio *transport;
    int irq_fd; /* eventfd bound to the GSI with KVM_IRQFD */
    uint64_t mmio_base;
    unsigned gsi;
};

struct vm {
    int kvm_fd, vm_fd;
    struct guest_mem *mem;
    struct bus *pio, *mmio;
    unsigned ncpus;
    struct vcpu *vcpus[VM_MAX_VCPUS];
    struct uart *uart;
    struct sysdev *sysdev;
    unsigned ndisks;
    struct vm_virtio_dev disks[VM_MAX_DISKS];
    struct console *console;
    int wake_fd; /* eventfd: vCPU threads wake the main loop */
    bool threads_up; /* vCPU threads exist (parked or running) */
    bool started;    /* let run at least once */
    bool dirty_logging; /* KVM_MEM_LOG_DIRTY_PAGES set on every slot */
    bool paused;        /* paused by request (API), not just for an operation */
    char cmdline[4096]; /* as given to the guest, recorded in snapshots */
    /* The last snapshot of this VM: the parent of the next diff. Invalid after a failure, since
     * the dirty logs were consumed. */
    bool have_parent;
    char parent_dir[1024];
    uint64_t parent_index_hash;
    uint32_t parent_chunk_size;
    uint32_t snapshot_chunk_size; /* --chunk-size, 0 = default */
    bool snapshot_hc;             /* --lz4hc */
    struct api_server *api;
    struct watch *watch;         /* --snapshot-on */
    const char *snapshot_on_dir; /* --snapshot-dir */
    bool exit_after_snapshot;
    bool snapshot_on_done;
    int snapshot_pending;   /* set by the vCPU thread that saw the string (atomic) */
    int hold_vcpus;         /* atomic: vCPUs park at their next exit until the snapshot ran */
    struct lazy_mem *lazy;  /* lazy restore's userfaultfd handler */
    struct memchain *chain; /* lazy restore: where the handler reads chunks */
    bool restored;          /* built from a snapshot */
    bool cpuid_passthrough; /* recorded in snapshots so a restore sees the same CPUID */
    bool have_msr_list;
    struct vcpu_msr_list msr_list;

    pthread_mutex_t lock; /* serialises writers of the three fields below; stopping is also
                           * read without it (atomically) on every port-I/O exit */
    bool stopping;
    int exit_code;
    int fail_err;
};

struct vm_saved;
struct machine_state;
struct memchain;
struct lazy_mem;

/* Where a restored VM's memory and state come from (NULL for a cold boot). */
struct vm_restore_src {
    const struct machine_state *ms;
    struct memchain *chain;
    enum vm_memory_mode mode;
    const char *dir;
    bool raw_reused; /* out: cow mode found a valid memory.raw */
};

/* Wake the main loop (safe from any thread). */
void vm_wake_main(struct vm *vm);

/* The one constructor behind vm_create (src NULL) and vm_restore. */
int vm_build(const struct vm_config *cfg, struct vm_restore_src *src, struct vm **out);

/* Read PICs, IOAPIC, PIT and kvmclock (vCPUs paused). */
int vm_state_save(struct vm *vm, struct vm_saved *st);
/* Load them back, in KVM's order. */
int vm_state_restore(struct vm *vm, const struct vm_saved *st);

/* Turn on KVM dirty logging for every RAM slot (idempotent). */
int vm_dirty_enable(struct vm *vm);
/* Set a bit per chunk (RAM-offset chunks of chunk_size) written since the last collect, by the
 * guest or the VMM; clears the logs. -ENODATA when logging is not on yet. */
int vm_dirty_collect(struct vm *vm, uint32_t chunk_size, uint64_t *chunks, uint64_t *ndirty);

struct api_ops;
/* Fill ops with the VM's control-socket handlers. */
void vm_api_ops(struct vm *vm, struct api_ops *ops);

/* Create the --disk devices, wire them to the MMIO bus and irqfds, and append their
 * virtio_mmio.device= announcements to cmdline (capacity cap). With ms (restore), each transport
 * resumes from its saved state and the image must match the saved identity. */
int vm_create_disks(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t cap,
                    const struct machine_state *ms);
/* Tear down what vm_create_disks built. */
void vm_destroy_disks(struct vm *vm);

#endif
