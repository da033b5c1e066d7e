/* The paravirtual KVM on these hosts runs guest ring 0 through KVM's instruction emulator, which
 * has no implementation of some instructions a stock kernel uses (../shared/docs/platform.md).
 * For those whose effect on architectural state is small and certain, vmrun applies the effect
 * itself and the guest carries on; everything else still stops the VM with a report. */
#include "vmrun/insn_fixup.h"

#include <errno.h>
#include <stdbool.h>

#define RFLAGS_CF (1ULL << 0)
#define RFLAGS_PF (1ULL << 2)
#define RFLAGS_AF (1ULL << 4)
#define RFLAGS_ZF (1ULL << 6)
#define RFLAGS_SF (1ULL << 7)
#define RFLAGS_OF (1ULL << 11)
#define RFLAGS_AC (1ULL << 18)
#define CR0_MP (1ULL << 1)
#define CR0_TS (1ULL << 3)
#define CR0_MP (1ULL << 1)
#define CR0_TS (1ULL << 3)

/* GPR by its x86 encoding number (rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8..r15). */
static __u64 *gpr(struct kvm_regs *r, unsigned n)
{
    __u64 *map[16] = {&r->rax, &r->rcx, &r->rdx, &r->rbx, &r->rsp, &r->rbp, &r->rsi, &r->rdi,
                      &r->r8,  &r->r9,  &r->r10, &r->r11, &r->r12, &r->r13, &r->r14, &r->r15};
    return map[n & 15];
}

/* popcnt r, r/m in its register form: [66|f3 ...] f3 [rex] 0f b8 modrm(mod=3). */
static int popcnt(struct kvm_regs *r, const uint8_t *insn, size_t n)
{
    size_t i = 0;
    bool rep = false, opsize16 = false;
    for (; i < n && i < 4; i++) {
        if (insn[i] == 0xf3)
            rep = true;
        else if (insn[i] == 0x66)
            opsize16 = true;
        else
            break;
    }
    uint8_t rex = 0;
    if (i < n && (insn[i] & 0xf0) == 0x40)
        rex = insn[i++];
    if (!rep || i + 3 > n || insn[i] != 0x0f || insn[i + 1] != 0xb8)
        return -ENOENT;
    uint8_t modrm = insn[i + 2];
    if ((modrm >> 6) != 3)
        return -ENOENT; /* memory operands would need a guest page walk: not needed so far */
    unsigned reg = ((modrm >> 3) & 7) | ((rex & 4) ? 8 : 0);
    unsigned rm = (modrm & 7) | ((rex & 1) ? 8 : 0);
    uint64_t src = *gpr(r, rm);
    __u64 *dst = gpr(r, reg);
    if (rex & 8) {
        *dst = (uint64_t)__builtin_popcountll(src);
    } else if (opsize16) {
        *dst = (*dst & ~0xffffULL) | (uint64_t)__builtin_popcount((uint32_t)(src & 0xffff));
    } else {
        *dst = (uint64_t)__builtin_popcount((uint32_t)src); /* 32-bit writes zero-extend */
    }
    uint64_t width_mask = (rex & 8) ? ~0ULL : opsize16 ? 0xffffULL : 0xffffffffULL;
    r->rflags &= ~(RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF);
    if ((src & width_mask) == 0)
        r->rflags |= RFLAGS_ZF;
    r->rip += i + 3;
    return 0;
}

int insn_fixup(struct kvm_regs *regs, uint64_t cr0, const uint8_t *insn, size_t n,
               enum insn_fixup_action *action)
{
    *action = INSN_FIXUP_DONE;
    /* fwait only faults with CR0.TS|MP set (#NM) or an unmasked x87 exception pending; kernels
     * issue it right after fninit or an FPU restore, when neither holds. */
    if (n >= 1 && insn[0] == 0x9b) {
        if ((cr0 & CR0_TS) && (cr0 & CR0_MP))
            return -ENOENT;
        regs->rip += 1;
        return 0;
    }
    if (n >= 1 && insn[0] == 0xcc) {
        regs->rip += 1;
        *action = INSN_FIXUP_INJECT_BP;
        return 0;
    }
    if (n >= 3 && insn[0] == 0x0f && insn[1] == 0x01 && (insn[2] == 0xca || insn[2] == 0xcb)) {
        if (insn[2] == 0xca)
            regs->rflags &= ~RFLAGS_AC; /* clac */
        else
            regs->rflags |= RFLAGS_AC; /* stac */
        regs->rip += 3;
        return 0;
    }
    return popcnt(regs, insn, n);
}
