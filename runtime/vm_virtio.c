/* Wiring virtio devices into a VM: a 4 KiB MMIO window each, an irqfd on its own GSI, and the
 * virtio_mmio.device= announcement Linux (and the built-in guest) use to find them. */
#include "vm_internal.h"

#include "vmrun/bus.h"
#include "vmrun/guest_abi.h"
#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/virtio_blk.h"
#include "vmrun/virtio_mmio.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void raise_irq(void *ctx)
{
    struct vm_virtio_dev *d = ctx;
    uint64_t one = 1;
    /* The counter only saturates if the guest never takes the interrupt; nothing is lost then. */
    if (write(d->irq_fd, &one, sizeof(one)) < 0)
        return;
}

static int bind_irqfd(struct vm *vm, struct vm_virtio_dev *d)
{
    d->irq_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (d->irq_fd < 0)
        return -errno;
    struct kvm_irqfd irqfd = {.fd = (uint32_t)d->irq_fd, .gsi = d->gsi};
    if (ioctl(vm->vm_fd, KVM_IRQFD, &irqfd) < 0)
        return -errno;
    return 0;
}

/* A restored guest's driver has cached the disk's size and contents: it must be the same disk
 * (or a copy of it the user vouches for with --disk N=FILE, which still needs the same size). */
static int check_identity(struct virtio_blk *b, const struct vm_disk *disk,
                          const struct disk_saved *saved)
{
    const char *path;
    uint64_t bytes, fp;
    bool ro;
    int err = virtio_blk_identity(b, &path, &bytes, &ro, &fp);
    if (err)
        return vlog_err(err, "--disk %s: fingerprint", disk->path);
    if (bytes != saved->size)
        return vlog_err(-EINVAL, "%s: %llu bytes, but the snapshot's disk had %llu", disk->path,
                        (unsigned long long)bytes, (unsigned long long)saved->size);
    if (!disk->replaced && fp != saved->fingerprint)
        return vlog_err(-EINVAL,
                        "%s: content differs from the disk the snapshot was taken with "
                        "(fingerprint); give a copy with --disk N=FILE",
                        disk->path);
    return 0;
}

static int add_disk(struct vm *vm, unsigned i, const struct vm_disk *disk, char *cmdline,
                    size_t cap, const struct disk_saved *saved)
{
    struct vm_virtio_dev *d = &vm->disks[i];
    d->irq_fd = -1;
    d->mmio_base = ABI_VIRTIO_MMIO_BASE + i * ABI_VIRTIO_MMIO_STRIDE;
    d->gsi = ABI_VIRTIO_IRQ_BASE + i;
    vm->ndisks = i + 1; /* from here on vm_destroy_disks cleans this slot up */
    int err = virtio_blk_create(disk->path, disk->ro, &d->blk);
    if (!err && saved)
        err = check_identity(d->blk, disk, saved);
    if (err)
        return err;
    err = bind_irqfd(vm, d);
    if (err)
        return vlog_err(err, "--disk %s: irqfd for GSI %u", disk->path, d->gsi);
    struct virtio_mmio_host host = {.irq = raise_irq, .ctx = d};
    err = virtio_mmio_create(vm->mem, virtio_blk_ops(d->blk), d->blk, &host,
                             saved ? &saved->transport : NULL, &d->transport);
    if (err && saved)
        return vlog_err(err, "vmstate.dtb: /devices/virtio-blk@%u/transport: refused", i);
    if (!err)
        err = bus_register(vm->mmio, d->mmio_base, ABI_VIRTIO_MMIO_SIZE, virtio_mmio_io,
                           d->transport);
    if (err)
        return vlog_err(err, "--disk %s: virtio-mmio transport", disk->path);
    size_t used = strlen(cmdline);
    int n = snprintf(cmdline + used, cap - used, " virtio_mmio.device=4K@0x%llx:%u",
                     (unsigned long long)d->mmio_base, d->gsi);
    if (n < 0 || (size_t)n >= cap - used)
        return vlog_err(-E2BIG, "command line: no room to announce --disk %s", disk->path);
    return 0;
}

int vm_create_disks(struct vm *vm, const struct vm_config *cfg, char *cmdline, size_t cap,
                    const struct machine_state *ms)
{
    if (cfg->ndisks > VM_MAX_DISKS || cfg->ndisks > ABI_VIRTIO_MAX_DEVICES)
        return vlog_err(-EINVAL, "--disk: at most %d disks", VM_MAX_DISKS);
    for (unsigned i = 0; i < cfg->ndisks; i++) {
        int err = add_disk(vm, i, &cfg->disks[i], cmdline, cap, ms ? &ms->disks[i] : NULL);
        if (err)
            return err;
    }
    return 0;
}

void vm_destroy_disks(struct vm *vm)
{
    for (unsigned i = 0; i < vm->ndisks; i++) {
        struct vm_virtio_dev *d = &vm->disks[i];
        virtio_mmio_destroy(d->transport);
        virtio_blk_destroy(d->blk);
        /* KVM keeps its own reference to a bound eventfd until the VM fd is closed. */
        if (d->irq_fd >= 0)
            close(d->irq_fd);
    }
    vm->ndisks = 0;
}
