/* vCPU register state at the 64-bit entry of the Linux boot protocol, plus the platform state
 * firmware would leave behind (MSRs, LAPIC LINT pins) on every vCPU. */
#include "vmrun/boot.h"

#include "vmrun/guest_abi.h"
#include "vmrun/log.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define CR0_PE 0x1ULL
#define CR0_MP 0x2ULL
#define CR0_ET 0x10ULL
#define CR0_NE 0x20ULL
#define CR0_WP 0x10000ULL
#define CR0_PG 0x80000000ULL
#define CR4_PAE 0x20ULL
#define CR4_OSFXSR 0x200ULL
#define CR4_OSXMMEXCPT 0x400ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL
#define BOOT_STACK 0x8ff0ULL

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type, uint8_t l, uint8_t db)
{
    struct kvm_segment s = {
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = 0,
        .db = db,
        .s = 1,
        .l = l,
        .g = 1,
    };
    return s;
}

int boot_setup_vcpu_regs(int fd, const struct boot_entry *entry)
{
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
        return vlog_err(-errno, "KVM_GET_SREGS");
    sregs.cs = flat_segment(ABI_BOOT_CS, 0xb, 1, 0);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(ABI_BOOT_DS, 0x3, 0, 1);
    sregs.tr = (struct kvm_segment){.selector = 0x20, .limit = 0x67, .type = 0xb, .present = 1};
    sregs.gdt.base = ABI_BOOT_GDT;
    sregs.gdt.limit = 6 * 8 - 1;
    sregs.idt.base = ABI_BOOT_IDT;
    sregs.idt.limit = 7;
    /* Cache-disable bits from reset are cleared: a guest that never touches CR0 must not run
     * with caches off. */
    sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.cr3 = ABI_PML4;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR | CR4_OSXMMEXCPT;
    sregs.efer = EFER_LME | EFER_LMA;
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0)
        return vlog_err(-errno, "KVM_SET_SREGS");

    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;
    regs.rip = entry->rip;
    regs.rsi = entry->zero_page;
    regs.rsp = regs.rbp = BOOT_STACK;
    if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
        return vlog_err(-errno, "KVM_SET_REGS");

    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    if (ioctl(fd, KVM_SET_FPU, &fpu) < 0)
        return vlog_err(-errno, "KVM_SET_FPU");
    return 0;
}

#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MISC_ENABLE_FAST_STRING 0x1ULL
#define MTRR_ENABLE_WB ((1ULL << 11) | 6)

/* What firmware leaves: syscall MSRs cleared, fast strings on, MTRRs enabled with write-back
 * as the default type (otherwise Linux maps all RAM uncached). */
static const struct {
    uint32_t index;
    uint64_t value;
} boot_msrs[] = {
    {MSR_IA32_SYSENTER_CS, 0},
    {MSR_IA32_SYSENTER_ESP, 0},
    {MSR_IA32_SYSENTER_EIP, 0},
    {MSR_STAR, 0},
    {MSR_LSTAR, 0},
    {MSR_CSTAR, 0},
    {MSR_SYSCALL_MASK, 0},
    {MSR_KERNEL_GS_BASE, 0},
    {MSR_IA32_MISC_ENABLE, MISC_ENABLE_FAST_STRING},
    {MSR_MTRR_DEF_TYPE, MTRR_ENABLE_WB},
};

#define NBOOT_MSRS (sizeof(boot_msrs) / sizeof(boot_msrs[0]))

static int set_boot_msrs(int fd)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[NBOOT_MSRS];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = NBOOT_MSRS;
    for (size_t i = 0; i < NBOOT_MSRS; i++) {
        m.e[i].index = boot_msrs[i].index;
        m.e[i].data = boot_msrs[i].value;
    }
    int n = ioctl(fd, KVM_SET_MSRS, &m);
    if (n < 0)
        return vlog_err(-errno, "KVM_SET_MSRS");
    if ((size_t)n < NBOOT_MSRS)
        return vlog_err(-EINVAL, "KVM_SET_MSRS: KVM refused MSR 0x%x", m.e[n].index);
    return 0;
}

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_MASK 0x700u
#define APIC_MODE_EXTINT 0x700u
#define APIC_MODE_NMI 0x400u

/* LINT0 as ExtINT and LINT1 as NMI, as the BIOS wires them: without ExtINT the in-kernel PIC's
 * interrupts (the PIT timer) never reach a vCPU whose LAPIC is enabled. The mask bits stay as KVM
 * reset them (LINT0 open on the BSP only), so PIC interrupts go to one CPU. */
static int set_lapic_lints(int fd)
{
    struct kvm_lapic_state lapic;
    if (ioctl(fd, KVM_GET_LAPIC, &lapic) < 0)
        return vlog_err(-errno, "KVM_GET_LAPIC");
    uint32_t v0, v1;
    memcpy(&v0, &lapic.regs[APIC_LVT0], 4);
    memcpy(&v1, &lapic.regs[APIC_LVT1], 4);
    v0 = (v0 & ~APIC_MODE_MASK) | APIC_MODE_EXTINT;
    v1 = (v1 & ~APIC_MODE_MASK) | APIC_MODE_NMI;
    memcpy(&lapic.regs[APIC_LVT0], &v0, 4);
    memcpy(&lapic.regs[APIC_LVT1], &v1, 4);
    if (ioctl(fd, KVM_SET_LAPIC, &lapic) < 0)
        return vlog_err(-errno, "KVM_SET_LAPIC");
    return 0;
}

int boot_setup_vcpu_platform(int fd)
{
    int err = set_boot_msrs(fd);
    if (!err)
        err = set_lapic_lints(fd);
    return err;
}
