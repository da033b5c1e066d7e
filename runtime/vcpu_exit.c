/* KVM exit handling for vCPU threads: I/O goes to the buses, everything fatal is reported with
 * enough guest context (RIP, CPL, instruction bytes) to debug it, then the VM is stopped. */
#include "vcpu_exit.h"

#include "vmrun/bus.h"
#include "vmrun/insn_fixup.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/vm.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

static int handle_io(struct vm *vm, struct kvm_run *run, size_t run_size)
{
    uint32_t size = run->io.size, count = run->io.count;
    uint64_t span, end;
    /* The data area comes from KVM, but checking it costs nothing and protects the host. */
    if (size == 0 || size > 4 || __builtin_mul_overflow((uint64_t)size, count, &span) ||
        __builtin_add_overflow(run->io.data_offset, span, &end) || end > run_size)
        return -EINVAL;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    for (uint32_t i = 0; i < count; i++)
        bus_access(vm_pio_bus(vm), run->io.port, data + (size_t)i * size, size, is_write);
    return 0;
}

static int handle_mmio(struct vm *vm, struct kvm_run *run)
{
    if (run->mmio.len == 0 || run->mmio.len > sizeof(run->mmio.data))
        return -EINVAL;
    bus_access(vm_mmio_bus(vm), run->mmio.phys_addr, run->mmio.data, run->mmio.len,
               run->mmio.is_write);
    return 0;
}

/* Guest-virtual to guest-physical through KVM, falling back to identity (the boot mapping). */
static uint64_t translate(int fd, uint64_t gva)
{
    struct kvm_translation tr = {.linear_address = gva};
    if (ioctl(fd, KVM_TRANSLATE, &tr) == 0 && tr.valid)
        return tr.physical_address;
    return gva;
}

/* Copy up to 16 instruction bytes at the guest's RIP; returns how many were readable. */
static size_t fetch_insn(struct vm *vm, int fd, uint64_t rip, uint8_t insn[16], uint64_t *gpa)
{
    *gpa = translate(fd, rip);
    size_t n = 16;
    void *p;
    /* Near the end of a region fewer bytes are readable; take what is there. */
    while (n > 0 && gm_ptr(vm_mem(vm), *gpa, n, &p) != 0)
        n--;
    if (n)
        memcpy(insn, p, n);
    return n;
}

/* Instructions this host's KVM cannot emulate in ring 0, with what the user can do about it. */
static const char *emulation_hint(const uint8_t *insn, size_t n)
{
    size_t i = 0;
    while (i < n && (insn[i] & 0xf0) == 0x40)
        i++; /* REX prefixes */
    if (i + 2 < n && insn[i] == 0x0f && insn[i + 1] == 0xae) {
        unsigned reg = (insn[i + 2] >> 3) & 7;
        if (reg == 4 || reg == 5)
            return "xsave/xrstor cannot run in guest ring 0 on this host: add noxsave to the "
                   "kernel command line";
    }
    if (i + 2 < n && insn[i] == 0x0f && insn[i + 1] == 0xc7 && ((insn[i + 2] >> 3) & 7) == 1)
        return "cmpxchg16b cannot run in guest ring 0 on this host";
    return NULL;
}

static void report_guest_context(struct vm *vm, unsigned index, int fd, const char *what)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_REGS, &regs) < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0) {
        vlog_msg("vcpu %u: %s (registers unavailable)", index, what);
        return;
    }
    char bytes[16 * 3 + 1] = "(not in RAM)";
    uint8_t insn[16];
    uint64_t gpa;
    size_t n = fetch_insn(vm, fd, regs.rip, insn, &gpa);
    for (size_t i = 0; i < n; i++)
        snprintf(bytes + i * 3, sizeof(bytes) - i * 3, "%02x ", insn[i]);
    vlog_msg("vcpu %u: %s: rip=0x%llx (gpa 0x%llx) cpl=%u rsp=0x%llx rflags=0x%llx cr0=0x%llx "
             "cr3=0x%llx cr4=0x%llx efer=0x%llx insn: %s",
             index, what, (unsigned long long)regs.rip, (unsigned long long)gpa,
             (unsigned)(sregs.cs.selector & 3), (unsigned long long)regs.rsp,
             (unsigned long long)regs.rflags, (unsigned long long)sregs.cr0,
             (unsigned long long)sregs.cr3, (unsigned long long)sregs.cr4,
             (unsigned long long)sregs.efer, bytes);
    const char *hint = emulation_hint(insn, n);
    if (hint)
        vlog_msg("vcpu %u: hint: %s", index, hint);
}

#define BP_VECTOR 3

/* This host's KVM fails to emulate some ring-0 instructions (platform.md); insn_fixup knows the
 * ones whose effect is simple and certain (int3, clac/stac, fwait, popcnt). Returns 0 when handled.
 */
static int finish_failed_insn(struct vm *vm, int fd)
{
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_REGS, &regs) < 0 || ioctl(fd, KVM_GET_SREGS, &sregs) < 0)
        return -errno;
    uint8_t insn[16];
    uint64_t gpa;
    size_t n = fetch_insn(vm, fd, regs.rip, insn, &gpa);
    enum insn_fixup_action action;
    if (insn_fixup(&regs, sregs.cr0, insn, n, &action) != 0)
        return -ENOENT;
    struct kvm_vcpu_events ev;
    if (action == INSN_FIXUP_INJECT_BP) {
        if (ioctl(fd, KVM_GET_VCPU_EVENTS, &ev) < 0)
            return -errno;
        if (ev.exception.injected || ev.exception.pending)
            return -EBUSY; /* an exception is already on its way: do not stack another */
    }
    if (ioctl(fd, KVM_SET_REGS, &regs) < 0)
        return -errno;
    if (action == INSN_FIXUP_INJECT_BP) {
        ev.exception.injected = 1;
        ev.exception.nr = BP_VECTOR;
        ev.exception.has_error_code = 0;
        ev.exception.error_code = 0;
        ev.flags = 0; /* leave NMI, SIPI and shadow state as they are */
        if (ioctl(fd, KVM_SET_VCPU_EVENTS, &ev) < 0)
            return -errno;
    }
    return 0;
}

static int fatal(struct vm *vm, unsigned index, int fd, int err, const char *what)
{
    report_guest_context(vm, index, fd, what);
    vm_request_fail(vm, err);
    return 1;
}

int vcpu_handle_exit(struct vm *vm, unsigned index, int fd, struct kvm_run *run, size_t run_size)
{
    char what[128];
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        if (handle_io(vm, run, run_size))
            return fatal(vm, index, fd, -EINVAL, "malformed port I/O exit");
        /* A write to the exit port ends the VM, and a console match awaits its snapshot: in
         * both cases the guest must not run past this instruction. */
        return vm_stopping(vm) || vm_hold_vcpus(vm) ? 1 : 0;
    case KVM_EXIT_MMIO:
        if (handle_mmio(vm, run))
            return fatal(vm, index, fd, -EINVAL, "malformed MMIO exit");
        return 0;
    case KVM_EXIT_INTR:
        return 0;
    case KVM_EXIT_HLT:
        /* Only reachable without an in-kernel irqchip: nothing could ever wake the vCPU. */
        return fatal(vm, index, fd, -EIO, "guest halted with no way to wake up");
    case KVM_EXIT_SHUTDOWN:
        return fatal(vm, index, fd, -EIO, "guest triple fault (shutdown)");
    case KVM_EXIT_SYSTEM_EVENT:
        vm_request_exit(vm, 0);
        return 1;
    case KVM_EXIT_FAIL_ENTRY:
        snprintf(what, sizeof(what), "VM entry failed, hardware reason 0x%llx",
                 (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        return fatal(vm, index, fd, -EIO, what);
    case KVM_EXIT_INTERNAL_ERROR:
        if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION &&
            finish_failed_insn(vm, fd) == 0)
            return 0;
        snprintf(what, sizeof(what), "KVM internal error, suberror %u%s", run->internal.suberror,
                 run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION
                     ? " (instruction emulation failed)"
                     : "");
        return fatal(vm, index, fd, -EIO, what);
    default:
        snprintf(what, sizeof(what), "unexpected KVM exit reason %u", run->exit_reason);
        return fatal(vm, index, fd, -EIO, what);
    }
}
