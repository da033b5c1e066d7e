/* CPUID as the guest sees it: KVM's supported table adjusted per vCPU. */
#ifndef VMRUN_CPUID_H
#define VMRUN_CPUID_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

struct cpuid_options {
    unsigned vcpu_index; /* becomes the (x2)APIC id */
    unsigned ncpus;      /* vCPUs in the VM, for topology leaves */
    bool passthrough;    /* keep the host's table unchanged apart from ids */
    uint32_t tsc_khz;    /* non-zero: publish in hypervisor leaf 0x40000010 */
};

/* Fetch KVM_GET_SUPPORTED_CPUID into a new table (free with free()). */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);
/* Rewrite table in place for one vCPU: APIC ids, topology, hypervisor bit, hidden features, TSC
 * leaf (appended if missing, so table must have room for capacity entries). */
int cpuid_adjust(struct kvm_cpuid2 *table, uint32_t capacity, const struct cpuid_options *opts);

#endif
