/* CPUID as the guest sees it: KVM's supported table adjusted per vCPU. */
#ifndef VMRUN_CPUID_H
#define VMRUN_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>

struct cpuid_options {
    unsigned vcpu_index; /* becomes the (x2)APIC id */
    unsigned ncpus;      /* vCPUs in the VM, for topology leaves */
    bool passthrough;    /* keep the host's table unchanged apart from ids */
};

/* Fetch KVM_GET_SUPPORTED_CPUID into a new table (free with free()). */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);
/* Rewrite table in place for one vCPU: APIC ids, topology, hypervisor bit, hidden features. */
int cpuid_adjust(struct kvm_cpuid2 *table, const struct cpuid_options *opts);

#endif
