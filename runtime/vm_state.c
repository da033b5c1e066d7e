/* VM-wide KVM state for snapshots. Restore order (design rule 7): PIT, clock, PIC master, PIC
 * slave, IOAPIC: the PIT's channel 0 output feeds the PICs and IOAPIC, so it is settled first,
 * and the clock must be right before anything arms a timer against it. */
#include "vm_internal.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

static int get_chip(int fd, unsigned id, struct kvm_irqchip *c, const char *what)
{
    memset(c, 0, sizeof(*c));
    c->chip_id = id;
    if (ioctl(fd, KVM_GET_IRQCHIP, c) < 0)
        return vlog_err(-errno, "save %s: KVM_GET_IRQCHIP", what);
    return 0;
}

int vm_state_save(struct vm *vm, struct vm_saved *st)
{
    memset(st, 0, sizeof(*st));
    int err = get_chip(vm->vm_fd, KVM_IRQCHIP_PIC_MASTER, &st->pic_master, "PIC master");
    if (!err)
        err = get_chip(vm->vm_fd, KVM_IRQCHIP_PIC_SLAVE, &st->pic_slave, "PIC slave");
    if (!err)
        err = get_chip(vm->vm_fd, KVM_IRQCHIP_IOAPIC, &st->ioapic, "IOAPIC");
    if (!err && ioctl(vm->vm_fd, KVM_GET_PIT2, &st->pit) < 0)
        err = vlog_err(-errno, "save PIT: KVM_GET_PIT2");
    if (!err && ioctl(vm->vm_fd, KVM_GET_CLOCK, &st->clock) < 0)
        err = vlog_err(-errno, "save kvmclock: KVM_GET_CLOCK");
    return err;
}

int vm_state_restore(struct vm *vm, const struct vm_saved *st)
{
    if (st->pic_master.chip_id != KVM_IRQCHIP_PIC_MASTER ||
        st->pic_slave.chip_id != KVM_IRQCHIP_PIC_SLAVE || st->ioapic.chip_id != KVM_IRQCHIP_IOAPIC)
        return vlog_err(-EINVAL, "restore: irqchip ids do not match PIC master/slave/IOAPIC");
    if (ioctl(vm->vm_fd, KVM_SET_PIT2, &st->pit) < 0)
        return vlog_err(-errno, "restore PIT: KVM_SET_PIT2");
    /* Only the clock value is meaningful to set; flags describe how KVM read it. */
    struct kvm_clock_data clock = {.clock = st->clock.clock};
    if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
        return vlog_err(-errno, "restore kvmclock: KVM_SET_CLOCK");
    const struct kvm_irqchip *chips[] = {&st->pic_master, &st->pic_slave, &st->ioapic};
    for (size_t i = 0; i < 3; i++)
        if (ioctl(vm->vm_fd, KVM_SET_IRQCHIP, chips[i]) < 0)
            return vlog_err(-errno, "restore irqchip %u: KVM_SET_IRQCHIP", chips[i]->chip_id);
    return 0;
}
