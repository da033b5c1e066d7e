/* The whole machine as plain data: what a snapshot records and a restore rebuilds from. */
#ifndef VMRUN_MACHINE_STATE_H
#define VMRUN_MACHINE_STATE_H

#include <linux/kvm.h>
#include <stdint.h>

#include "vmrun/uart.h"
#include "vmrun/vcpu.h"
#include "vmrun/virtio_mmio.h"
#include "vmrun/vm.h"

#define MS_PATH_MAX 1024

/* VM-wide KVM state: interrupt controllers, PIT and kvmclock. */
struct vm_saved {
    struct kvm_irqchip pic_master, pic_slave, ioapic;
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
};

/* A disk as the snapshot knows it: transport state plus identity of the backing image. */
struct disk_saved {
    struct virtio_mmio_state transport;
    char path[MS_PATH_MAX];
    uint64_t size;        /* bytes */
    uint64_t fingerprint; /* xxh3 over size and sampled blocks: detects the wrong disk */
    uint32_t ro;
};

/* Where guest RAM went. */
struct memory_saved {
    uint64_t size;
    uint32_t chunk_size;
    uint64_t index_hash;
    uint64_t chunks_total, chunks_data, chunks_zero, chunks_absent, data_bytes;
};

struct machine_state {
    uint32_t format_version;
    char host_cpu[64];
    uint32_t ncpus;
    uint32_t cpuid_passthrough; /* --host-cpuid at boot: restore must present the same CPUID */
    char cmdline[4096];
    struct vm_saved vm;
    struct vcpu_saved vcpus[VM_MAX_VCPUS];
    struct uart_state uart;
    uint32_t ndisks;
    struct disk_saved disks[VM_MAX_DISKS];
    struct memory_saved memory;
    char parent[MS_PATH_MAX]; /* diff snapshots: the parent directory; "" for full ones */
    uint64_t parent_index_hash;
};

#endif
