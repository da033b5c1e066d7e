/* Finishing guest instructions that this host's KVM emulator cannot run in ring 0. */
#ifndef VMRUN_INSN_FIXUP_H
#define VMRUN_INSN_FIXUP_H

#include <linux/kvm.h>
#include <stddef.h>
#include <stdint.h>

/* What the caller must do after a successful fixup. */
enum insn_fixup_action {
    INSN_FIXUP_DONE,      /* regs now hold the state after the instruction: set them */
    INSN_FIXUP_INJECT_BP, /* set regs, then inject #BP (int3 is a trap: RIP is already past it) */
};

/* Decode insn (n bytes at regs->rip) and, for int3, clac, stac, fwait and register-form popcnt,
 * apply the instruction's effect to regs (cr0 decides whether fwait would fault). -ENOENT for
 * anything else (regs untouched). */
int insn_fixup(struct kvm_regs *regs, uint64_t cr0, const uint8_t *insn, size_t n,
               enum insn_fixup_action *action);

#endif
