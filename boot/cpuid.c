/* Guest CPUID. This host's KVM emulates guest ring-0 code and cannot emulate cmpxchg16b or
 * xsave/xrstor there (../shared/docs/platform.md), so by default the guest is told it has neither,
 * nor anything that needs XSAVE-managed state (AVX and up). Passthrough keeps the host's view.
 * Measured here: of these bits the paravirtual KVM honours only CMPXCHG16B; the others reach the
 * guest anyway, so Linux also needs "noxsave" on this host (README). */
#include "vmrun/cpuid.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define BIT(n) (1u << (n))

#define L1_ECX_FMA BIT(12)
#define L1_ECX_CX16 BIT(13)
#define L1_ECX_XSAVE BIT(26)
#define L1_ECX_OSXSAVE BIT(27)
#define L1_ECX_AVX BIT(28)
#define L1_ECX_F16C BIT(29)
#define L1_ECX_HYPERVISOR BIT(31)
#define L1_EDX_HTT BIT(28)

/* Leaf 7 bits that name AVX2/AVX-512/AMX features, all of which need XSAVE-enabled state. */
#define L7_EBX_XSAVE_DEPS                                                                          \
    (BIT(5) | BIT(16) | BIT(17) | BIT(21) | BIT(26) | BIT(27) | BIT(28) | BIT(30) | BIT(31))
#define L7_ECX_XSAVE_DEPS (BIT(1) | BIT(6) | BIT(9) | BIT(10) | BIT(11) | BIT(12) | BIT(14))
#define L7_EDX_XSAVE_DEPS (BIT(2) | BIT(3) | BIT(8) | BIT(22) | BIT(23) | BIT(24) | BIT(25))
#define L7_1_EAX_XSAVE_DEPS (BIT(4) | BIT(5))

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
    for (uint32_t nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *t = calloc(1, sizeof(*t) + nent * sizeof(t->entries[0]));
        if (!t)
            return -ENOMEM;
        t->nent = nent;
        if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, t) == 0) {
            *out = t;
            return 0;
        }
        int err = -errno;
        free(t);
        if (err != -E2BIG)
            return err;
    }
    return -E2BIG;
}

/* Bits needed to number n things (shift width for topology ids). */
static uint32_t id_bits(unsigned n)
{
    uint32_t bits = 0;
    while ((1u << bits) < n)
        bits++;
    return bits;
}

static void set_topology_leaf(struct kvm_cpuid_entry2 *e, const struct cpuid_options *o)
{
    /* One package with ncpus cores, one thread per core. */
    e->edx = o->vcpu_index;
    switch (e->index) {
    case 0: /* SMT level */
        e->eax = 0;
        e->ebx = 1;
        e->ecx = 0 | (1u << 8);
        break;
    case 1: /* core level */
        e->eax = id_bits(o->ncpus);
        e->ebx = o->ncpus;
        e->ecx = 1 | (2u << 8);
        break;
    default:
        e->eax = 0;
        e->ebx = 0;
        e->ecx = e->index;
        break;
    }
}

static void hide_unrunnable(struct kvm_cpuid_entry2 *e)
{
    switch (e->function) {
    case 1:
        e->ecx &=
            ~(L1_ECX_CX16 | L1_ECX_XSAVE | L1_ECX_OSXSAVE | L1_ECX_AVX | L1_ECX_FMA | L1_ECX_F16C);
        break;
    case 7:
        if (e->index == 0) {
            e->ebx &= ~(L7_EBX_XSAVE_DEPS);
            e->ecx &= ~L7_ECX_XSAVE_DEPS;
            e->edx &= ~L7_EDX_XSAVE_DEPS;
        } else if (e->index == 1) {
            e->eax &= ~L7_1_EAX_XSAVE_DEPS;
        }
        break;
    case 0xd:
        e->eax = e->ebx = e->ecx = e->edx = 0;
        break;
    default:
        break;
    }
}

#define HV_LEAF_BASE 0x40000000u
#define HV_LEAF_TIMING 0x40000010u
#define APIC_BUS_KHZ 1000000u /* KVM's LAPIC timer counts at 1 GHz */

/* The timing leaf used by several hypervisors: EAX = TSC kHz, EBX = APIC bus kHz. It lets a guest
 * skip calibrating the TSC against the PIT, which is slow and noisy under emulation. */
static int set_tsc_leaf(struct kvm_cpuid2 *t, uint32_t capacity, uint32_t tsc_khz)
{
    struct kvm_cpuid_entry2 *base = NULL, *timing = NULL;
    for (uint32_t i = 0; i < t->nent; i++) {
        if (t->entries[i].function == HV_LEAF_BASE)
            base = &t->entries[i];
        else if (t->entries[i].function == HV_LEAF_TIMING)
            timing = &t->entries[i];
    }
    if (!base)
        return 0; /* no hypervisor leaves to extend */
    if (!timing) {
        if (t->nent >= capacity)
            return -ENOSPC;
        timing = &t->entries[t->nent++];
        memset(timing, 0, sizeof(*timing));
        timing->function = HV_LEAF_TIMING;
    }
    if (base->eax < HV_LEAF_TIMING)
        base->eax = HV_LEAF_TIMING;
    timing->eax = tsc_khz;
    timing->ebx = APIC_BUS_KHZ;
    return 0;
}

int cpuid_adjust(struct kvm_cpuid2 *table, uint32_t capacity, const struct cpuid_options *o)
{
    if (!table || !o || o->ncpus == 0 || o->vcpu_index >= o->ncpus || o->ncpus > 255 ||
        table->nent > capacity)
        return -EINVAL;
    for (uint32_t i = 0; i < table->nent; i++) {
        struct kvm_cpuid_entry2 *e = &table->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000ffffu) | (o->vcpu_index << 24) | (o->ncpus << 16);
            if (o->ncpus > 1)
                e->edx |= L1_EDX_HTT;
            e->ecx |= L1_ECX_HYPERVISOR;
            break;
        case 4: {
            uint32_t level = (e->eax >> 5) & 7;
            uint32_t sharing = level >= 3 ? o->ncpus - 1 : 0;
            e->eax = (e->eax & 0x3fffu) | (sharing << 14) | ((o->ncpus - 1) << 26);
            break;
        }
        case 0xb:
        case 0x1f:
            set_topology_leaf(e, o);
            break;
        case 0x80000008: /* AMD: cores per package and APIC id width */
            e->ecx = (e->ecx & ~0xf0ffu) | (o->ncpus - 1) | (id_bits(o->ncpus) << 12);
            break;
        case 0x8000001e: /* AMD: extended APIC id, one thread per compute unit */
            e->eax = o->vcpu_index;
            e->ebx = (e->ebx & ~0xffffu) | o->vcpu_index;
            e->ecx &= ~0xffu;
            break;
        default:
            break;
        }
        if (!o->passthrough)
            hide_unrunnable(e);
    }
    return o->tsc_khz ? set_tsc_leaf(table, capacity, o->tsc_khz) : 0;
}
