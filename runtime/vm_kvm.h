/* Private to runtime/: KVM VM-level setup. */
#ifndef VMRUN_RUNTIME_VM_KVM_H
#define VMRUN_RUNTIME_VM_KVM_H

struct vm_config;
struct guest_mem;

/* Open /dev/kvm, check the API and capabilities, create the VM with irqchip and PIT. */
int kvm_open_vm(const struct vm_config *cfg, int *kvm_fd, int *vm_fd);
/* One KVM memory slot per RAM region. */
int kvm_map_memory(int vm_fd, struct guest_mem *mem);

#endif
