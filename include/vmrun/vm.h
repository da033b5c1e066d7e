/* A KVM virtual machine: memory, vCPUs, irqchip, buses and devices, all owned by struct vm. */
#ifndef VMRUN_VM_H
#define VMRUN_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vm;
struct bus;
struct guest_mem;

#define VM_MAX_VCPUS 64
#define VM_MAX_DISKS 8
/* Command line for a --kernel given without --cmdline. */
#define VM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=1"

/* One --disk. */
struct vm_disk {
    const char *path;
    bool ro;
    bool replaced; /* restore: --disk N=FILE given, skip the identity check */
};

/* How restore fills guest RAM. */
enum vm_memory_mode {
    VM_MEMORY_COW,   /* map a raw cache of the image copy-on-write (clones share pages) */
    VM_MEMORY_EAGER, /* decompress everything before the guest runs */
    VM_MEMORY_LAZY,  /* fill each chunk on first touch (userfaultfd) */
};

/* What `vmrun restore` asks for. */
struct vm_restore_opts {
    const char *dir;
    enum vm_memory_mode memory;
    const char *disk_override[VM_MAX_DISKS]; /* --disk N=FILE */
    bool bad_snapshot; /* out: the failure was the snapshot's content (exit code 2) */
    double restore_ms; /* out: from the start of vm_restore until the VM is ready to run */
};

/* Everything the CLI decides; vm_create() turns it into a VM. */
struct vm_config {
    uint64_t mem_size;         /* bytes of guest RAM */
    unsigned ncpus;            /* 1..VM_MAX_VCPUS, capped by KVM_CAP_MAX_VCPUS */
    const char *kernel_path;   /* NULL: boot builtin_image */
    const void *builtin_image; /* the built-in guest ELF, used when kernel_path is NULL */
    size_t builtin_size;
    const char *initrd_path; /* NULL: none */
    const char *cmdline;     /* kernel command line; NULL: built-in default */
    bool hugepages;          /* advise transparent huge pages for RAM */
    bool console_input;      /* forward stdin to the UART (raw mode on a TTY) */
    bool cpuid_passthrough;  /* give the guest KVM's supported CPUID unchanged */
    unsigned ndisks;
    struct vm_disk disks[VM_MAX_DISKS];
    const char *api_sock;     /* control socket path, NULL: none */
    const char *snapshot_on;  /* snapshot when the console prints this, NULL: never */
    const char *snapshot_dir; /* where --snapshot-on writes */
    bool exit_after_snapshot; /* end the VM (exit 0) once that snapshot is written */
    uint32_t chunk_size;      /* snapshot chunk size, 0 = default */
    bool lz4hc;               /* snapshots compressed with lz4hc */
};

/* Build a VM from cfg: KVM VM, memory, irqchip, PIT, devices, loaded kernel, vCPUs (paused). */
int vm_create(const struct vm_config *cfg, struct vm **out);
/* Rebuild a VM from ro->dir through the same constructors as vm_create; cfg carries the host
 * side (console, control socket, --snapshot-on) and is completed from the snapshot. */
int vm_restore(struct vm_restore_opts *ro, struct vm_config *cfg, struct vm **out);
/* Start the vCPU threads parked, so the caller can report before the guest prints (idempotent). */
int vm_prepare(struct vm *vm);
/* Start the vCPU threads (idempotent) and let them run. */
int vm_start(struct vm *vm);
/* Park every vCPU outside KVM_RUN within a bounded time; -ETIMEDOUT names the laggard. */
int vm_pause(struct vm *vm);
/* Let every paused vCPU run again. */
int vm_resume(struct vm *vm);
/* Start (if needed) and serve the console until the guest powers off or fails. */
int vm_run(struct vm *vm, int *exit_code);
/* Stop vCPU threads and free everything; NULL is allowed. */
void vm_destroy(struct vm *vm);

/* What `vmrun snapshot` asks for. */
struct vm_snapshot_opts {
    const char *dir;
    bool diff;           /* only chunks dirtied since the previous snapshot of this VM */
    uint32_t chunk_size; /* 0: the VM's --chunk-size (a diff always uses its parent's) */
    bool hc;             /* lz4hc (also when the VM was started with --lz4hc) */
};

/* What a snapshot did, for replies and benchmarks. */
struct vm_snapshot_result {
    bool diff;        /* false when a diff was asked for but no parent existed */
    double paused_ms; /* vCPUs stopped: from pause request to files durable */
    uint64_t chunks_total, chunks_data, chunks_zero, chunks_absent;
    uint64_t bytes_on_disk; /* memory image + state tree */
    uint64_t ram_bytes;
};

/* Pause, quiesce disks, save every component and guest RAM to opts->dir, resume (unless the VM
 * was paused before). On failure the VM is left running as it was and -errno returned. */
int vm_snapshot(struct vm *vm, const struct vm_snapshot_opts *opts, struct vm_snapshot_result *r);

/* The KVM VM file descriptor. */
int vm_fd(const struct vm *vm);
/* The /dev/kvm file descriptor (system ioctls). */
int vm_kvm_fd(const struct vm *vm);
/* Guest RAM. */
struct guest_mem *vm_mem(struct vm *vm);
/* The port-I/O bus. */
struct bus *vm_pio_bus(struct vm *vm);
/* The MMIO bus. */
struct bus *vm_mmio_bus(struct vm *vm);

/* Drive a GSI of the in-kernel irqchip (level 1 asserts, 0 deasserts). */
int vm_irq_line(struct vm *vm, unsigned gsi, int level);
/* Ask the main loop to end the VM with the guest's exit code (safe from vCPU threads). */
void vm_request_exit(struct vm *vm, int code);
/* Ask the main loop to end the VM because of a VMM-side error err (-errno). */
void vm_request_fail(struct vm *vm, int err);
/* True once the VM is ending (power-off or failure): vCPUs park at their next exit. */
bool vm_stopping(struct vm *vm);
/* True while a --snapshot-on match waits for its snapshot: vCPUs park at their next exit. */
bool vm_hold_vcpus(struct vm *vm);

#endif
