/* Private to runtime/: the layout of struct vm, shared by the files that build it. */
#ifndef VMRUN_RUNTIME_VM_INTERNAL_H
#define VMRUN_RUNTIME_VM_INTERNAL_H

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
    bool started;

    pthread_mutex_t lock; /* guards the three fields below */
    bool stopping;
    int exit_code;
    int fail_err;
};

/* Create the --disk devices, wire them to the MMIO bus and irqfds, and append their
 * virtio_mmio.device= announcements to cmdline (capacity cap). */
int vm_create_disks(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t cap);
/* Tear down what vm_create_disks built. */
void vm_destroy_disks(struct vm *vm);

#endif
