/* Private to runtime/: what a vCPU thread does with each KVM exit. */
#ifndef VMRUN_RUNTIME_VCPU_EXIT_H
#define VMRUN_RUNTIME_VCPU_EXIT_H

#include <stddef.h>

struct vm;
struct kvm_run;

/* Handle the exit in run; returns 0 to keep running, 1 when this vCPU must stop. */
int vcpu_handle_exit(struct vm *vm, unsigned index, int fd, struct kvm_run *run, size_t run_size);

#endif
