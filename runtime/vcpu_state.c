/* vCPU save and restore. KVM is particular about order, and getting it wrong fails silently
 * (a lost timer, an exception injected into the wrong context), so every rule lives here:
 * - save: MP_STATE first, since reading it lets KVM fold pending INIT/SIPI events into it;
 *   everything else afterwards, in any order.
 * - restore: REGS before SREGS is harmless, but SREGS (CR0/CR4/EFER) must precede XSAVE-dependent
 *   and mode-dependent state; LAPIC before MSRs (setting the LAPIC resets its timer, and the
 *   TSC-deadline MSR must come after); VCPU_EVENTS after REGS (a pending exception refers to the
 *   restored RIP) and last, so nothing later clears what it injects; MP_STATE after LAPIC
 *   (KVM checks it against the LAPIC's INIT state). */
#include "vmrun/vcpu.h"

#include "vmrun/log.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC_DEADLINE 0x6e0

static int get_one(int fd, unsigned long req, void *p, const char *what)
{
    if (ioctl(fd, req, p) < 0)
        return vlog_err(-errno, "vcpu save: %s", what);
    return 0;
}

static int set_one(int fd, unsigned long req, const void *p, const char *what)
{
    if (ioctl(fd, req, p) < 0)
        return vlog_err(-errno, "vcpu restore: %s", what);
    return 0;
}

int vcpu_msr_list_probe(int kvm_fd, struct vcpu *probe, struct vcpu_msr_list *out)
{
    struct kvm_msr_list *list = calloc(1, sizeof(*list) + VCPU_MAX_MSRS * sizeof(uint32_t));
    if (!list)
        return -ENOMEM;
    list->nmsrs = VCPU_MAX_MSRS;
    if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
        int err = -errno;
        free(list);
        return vlog_err(err, "KVM_GET_MSR_INDEX_LIST");
    }
    out->n = 0;
    /* KVM_GET_MSRS stops at the first MSR it cannot read, so each is tried alone once. */
    for (uint32_t i = 0; i < list->nmsrs && i < VCPU_MAX_MSRS; i++) {
        struct {
            struct kvm_msrs hdr;
            struct kvm_msr_entry e;
        } one = {.hdr.nmsrs = 1, .e.index = list->indices[i]};
        if (ioctl(vcpu_fd(probe), KVM_GET_MSRS, &one) == 1)
            out->index[out->n++] = list->indices[i];
    }
    free(list);
    return 0;
}

static int save_msrs(int fd, const struct vcpu_msr_list *l, struct vcpu_saved *st)
{
    struct kvm_msrs *m = calloc(1, sizeof(*m) + l->n * sizeof(struct kvm_msr_entry));
    if (!m)
        return -ENOMEM;
    m->nmsrs = l->n;
    for (uint32_t i = 0; i < l->n; i++)
        m->entries[i].index = l->index[i];
    int n = ioctl(fd, KVM_GET_MSRS, m);
    int err = 0;
    if (n < 0)
        err = vlog_err(-errno, "vcpu save: KVM_GET_MSRS");
    else if ((uint32_t)n != l->n)
        err = vlog_err(-EIO, "vcpu save: MSR 0x%x could not be read", m->entries[n].index);
    else {
        st->nmsrs = l->n;
        memcpy(st->msrs, m->entries, l->n * sizeof(struct kvm_msr_entry));
    }
    free(m);
    return err;
}

int vcpu_save(struct vcpu *v, const struct vcpu_msr_list *msrs, struct vcpu_saved *st)
{
    if (vcpu_state(v) != VCPU_PAUSED && vcpu_state(v) != VCPU_STARTING)
        return vlog_err(-EBUSY, "vcpu save: vCPU is %s, not paused",
                        vcpu_state_name(vcpu_state(v)));
    int fd = vcpu_fd(v);
    memset(st, 0, sizeof(*st));
    int err = get_one(fd, KVM_GET_MP_STATE, &st->mp, "KVM_GET_MP_STATE");
    if (!err)
        err = get_one(fd, KVM_GET_REGS, &st->regs, "KVM_GET_REGS");
    if (!err)
        err = get_one(fd, KVM_GET_SREGS, &st->sregs, "KVM_GET_SREGS");
    if (!err) {
        if (ioctl(fd, KVM_GET_XSAVE, &st->xsave) == 0)
            st->has_xsave = 1;
        else
            err = get_one(fd, KVM_GET_FPU, &st->fpu, "KVM_GET_FPU");
    }
    if (!err && ioctl(fd, KVM_GET_XCRS, &st->xcrs) == 0)
        st->has_xcrs = 1;
    if (!err)
        err = get_one(fd, KVM_GET_LAPIC, &st->lapic, "KVM_GET_LAPIC");
    if (!err)
        err = save_msrs(fd, msrs, st);
    if (!err)
        err = get_one(fd, KVM_GET_VCPU_EVENTS, &st->events, "KVM_GET_VCPU_EVENTS");
    if (!err)
        err = get_one(fd, KVM_GET_DEBUGREGS, &st->debugregs, "KVM_GET_DEBUGREGS");
    if (!err) {
        int khz = ioctl(fd, KVM_GET_TSC_KHZ, 0);
        st->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
    }
    return err;
}

/* All MSRs but the TSC deadline, which must follow the LAPIC. */
static int restore_msrs(int fd, const struct vcpu_saved *st, bool deadline_only)
{
    if (st->nmsrs > VCPU_MAX_MSRS)
        return vlog_err(-EINVAL, "vcpu restore: %u MSRs (at most %d)", st->nmsrs, VCPU_MAX_MSRS);
    struct kvm_msrs *m = calloc(1, sizeof(*m) + st->nmsrs * sizeof(struct kvm_msr_entry));
    if (!m)
        return -ENOMEM;
    uint32_t n = 0;
    for (uint32_t i = 0; i < st->nmsrs; i++) {
        bool is_deadline = st->msrs[i].index == MSR_IA32_TSC_DEADLINE;
        if (is_deadline == deadline_only)
            m->entries[n++] = st->msrs[i];
    }
    m->nmsrs = n;
    int err = 0;
    int done = n ? ioctl(fd, KVM_SET_MSRS, m) : 0;
    if (done < 0)
        err = vlog_err(-errno, "vcpu restore: KVM_SET_MSRS");
    else if ((uint32_t)done != n)
        err = vlog_err(-EINVAL, "vcpu restore: KVM refused MSR 0x%x = 0x%llx",
                       m->entries[done].index, (unsigned long long)m->entries[done].data);
    free(m);
    return err;
}

int vcpu_restore(struct vcpu *v, const struct vcpu_saved *st)
{
    if (vcpu_state(v) != VCPU_PAUSED && vcpu_state(v) != VCPU_STARTING)
        return vlog_err(-EBUSY, "vcpu restore: vCPU is not paused");
    int fd = vcpu_fd(v);
    int err = set_one(fd, KVM_SET_SREGS, &st->sregs, "KVM_SET_SREGS");
    if (!err)
        err = set_one(fd, KVM_SET_REGS, &st->regs, "KVM_SET_REGS");
    if (!err && st->has_xcrs)
        err = set_one(fd, KVM_SET_XCRS, &st->xcrs, "KVM_SET_XCRS");
    if (!err)
        err = st->has_xsave ? set_one(fd, KVM_SET_XSAVE, &st->xsave, "KVM_SET_XSAVE")
                            : set_one(fd, KVM_SET_FPU, &st->fpu, "KVM_SET_FPU");
    if (!err)
        err = set_one(fd, KVM_SET_DEBUGREGS, &st->debugregs, "KVM_SET_DEBUGREGS");
    if (!err)
        err = set_one(fd, KVM_SET_LAPIC, &st->lapic, "KVM_SET_LAPIC");
    if (!err)
        err = restore_msrs(fd, st, false);
    if (!err)
        err = restore_msrs(fd, st, true);
    if (!err)
        err = set_one(fd, KVM_SET_MP_STATE, &st->mp, "KVM_SET_MP_STATE");
    if (!err)
        err = set_one(fd, KVM_SET_VCPU_EVENTS, &st->events, "KVM_SET_VCPU_EVENTS");
    return err;
}
