/* Private to runtime/: KVM VM-level setup. */
#ifndef VMRUN_RUNTIME_VM_KVM_H
#define VMRUN_RUNTIME_VM_KVM_H

#include <stdbool.h>

struct vm_config;
struct guest_mem;

/* Open /dev/kvm, check the API and capabilities, create the VM. */
int kvm_open_vm(const struct vm_config *cfg, int *kvm_fd, int *vm_fd);
/* In-kernel PIC/IOAPIC/LAPIC and PIT. Call after the RAM slots exist: once the PIT thread runs,
 * every memslot change waits for an SRCU grace period (measured here: 6 ms for a 1 GiB slot
 * instead of 0.3 ms), which would dominate restore time. */
int kvm_create_irqchip(int vm_fd);
/* One KVM memory slot per RAM region, dirty-logged from the start when log_dirty. */
int kvm_map_memory(int vm_fd, struct guest_mem *mem, bool log_dirty);

#endif
