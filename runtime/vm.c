/* struct vm: creation in dependency order, the main loop, and teardown in reverse. */
#include "vmrun/vm.h"

#include "vmrun/boot.h"
#include "vmrun/bus.h"
#include "vmrun/console.h"
#include "vmrun/cpuid.h"
#include "vmrun/guest_abi.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/machine_state.h"
#include "vmrun/restore_mem.h"
#include "vmrun/memchain.h"
#include "vmrun/sysdev.h"
#include "vmrun/uart.h"
#include "vmrun/vcpu.h"
#include "vmrun/watch.h"
#include "vmrun/api.h"
#include "vm_internal.h"
#include "vm_kvm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <unistd.h>

int vm_fd(const struct vm *vm)
{
    return vm->vm_fd;
}

int vm_kvm_fd(const struct vm *vm)
{
    return vm->kvm_fd;
}

struct guest_mem *vm_mem(struct vm *vm)
{
    return vm->mem;
}

struct bus *vm_pio_bus(struct vm *vm)
{
    return vm->pio;
}

struct bus *vm_mmio_bus(struct vm *vm)
{
    return vm->mmio;
}

int vm_irq_line(struct vm *vm, unsigned gsi, int level)
{
    struct kvm_irq_level irq = {.irq = gsi, .level = level ? 1 : 0};
    if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
        return -errno;
    return 0;
}

void vm_wake_main(struct vm *vm)
{
    uint64_t one = 1;
    /* A full counter still wakes the loop, so a failed write loses nothing. */
    if (write(vm->wake_fd, &one, sizeof(one)) < 0)
        return;
}

static void request_stop(struct vm *vm, int code, int err)
{
    pthread_mutex_lock(&vm->lock);
    if (!vm->stopping) {
        /* Code and error first; the release store makes them visible with the flag. */
        vm->exit_code = code;
        vm->fail_err = err;
        __atomic_store_n(&vm->stopping, true, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&vm->lock);
    vm_wake_main(vm);
}

void vm_request_exit(struct vm *vm, int code)
{
    request_stop(vm, code, 0);
}

void vm_request_fail(struct vm *vm, int err)
{
    request_stop(vm, 1, err ? err : -EIO);
}

static void uart_tx(void *ctx, uint8_t byte)
{
    struct vm *vm = ctx;
    console_write(vm->console, byte);
    /* Runs in a vCPU thread: only flag the match; the main loop takes the snapshot. */
    if (vm->watch && watch_feed(vm->watch, byte) &&
        !__atomic_exchange_n(&vm->snapshot_pending, 1, __ATOMIC_SEQ_CST)) {
        /* This vCPU parks as soon as this output exit completes, so the snapshot shows the
         * guest at the moment it printed the string, not wherever it got to meanwhile. */
        __atomic_store_n(&vm->hold_vcpus, 1, __ATOMIC_SEQ_CST);
        vm_wake_main(vm);
    }
}

static void uart_irq(void *ctx, int level)
{
    struct vm *vm = ctx;
    int err = vm_irq_line(vm, ABI_COM1_IRQ, level);
    if (err)
        vlog_err(err, "uart: KVM_IRQ_LINE");
}

static void power_off(void *ctx, int code)
{
    vm_request_exit(ctx, code);
}

static int create_control(struct vm *vm, const struct vm_config *cfg)
{
    vm->snapshot_chunk_size = cfg->chunk_size;
    vm->snapshot_hc = cfg->lz4hc;
    if (cfg->snapshot_on) {
        if (!cfg->snapshot_dir)
            return vlog_err(-EINVAL, "--snapshot-on: needs --snapshot-dir");
        int err = watch_create(cfg->snapshot_on, &vm->watch);
        if (err)
            return vlog_err(err, "--snapshot-on: must be 1..255 bytes");
        vm->snapshot_on_dir = cfg->snapshot_dir;
        vm->exit_after_snapshot = cfg->exit_after_snapshot;
    }
    if (cfg->api_sock) {
        struct api_ops ops;
        vm_api_ops(vm, &ops);
        int err = api_server_create(cfg->api_sock, &ops, &vm->api);
        if (err)
            return err;
    }
    return 0;
}

static int create_devices(struct vm *vm, const struct vm_config *cfg,
                          const struct uart_state *uart_st)
{
    int err = console_create(cfg->console_input ? STDIN_FILENO : -1, STDOUT_FILENO,
                             cfg->console_input, &vm->console);
    if (err)
        return err;
    struct uart_host uh = {.tx = uart_tx, .irq = uart_irq, .ctx = vm};
    err = uart_create(&uh, uart_st, &vm->uart);
    if (!err)
        err = bus_register(vm->pio, ABI_COM1_PORT, 8, uart_io, vm->uart);
    struct sysdev_host sh = {.power_off = power_off, .ctx = vm};
    if (!err)
        err = sysdev_create(vm->pio, &sh, &vm->sysdev);
    if (err)
        return vlog_err(err, "devices");
    return 0;
}

/* Cold boot (entry set): firmware-like platform state and the boot CPU at the kernel entry.
 * Restore (entry NULL): the caller loads each vCPU's saved state next. CPUID is computed the
 * same way in both, so a restored guest sees the CPU it was snapshotted on. */
static int create_vcpus(struct vm *vm, const struct vm_config *cfg, const struct boot_entry *entry)
{
    struct kvm_cpuid2 *supported = NULL, *cpuid = NULL;
    int err = cpuid_get_supported(vm->kvm_fd, &supported);
    if (err)
        return vlog_err(err, "KVM_GET_SUPPORTED_CPUID");
    size_t bytes = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
    uint32_t capacity = supported->nent + 1; /* room for the TSC leaf */
    cpuid = malloc(bytes + sizeof(supported->entries[0]));
    if (!cpuid)
        err = -ENOMEM;
    /* KVM's TSC rate for new vCPUs; a host without the VM-wide ioctl just gets no TSC leaf. */
    int khz = ioctl(vm->vm_fd, KVM_GET_TSC_KHZ, 0);
    for (unsigned i = 0; i < vm->ncpus && !err; i++) {
        memcpy(cpuid, supported, bytes);
        struct cpuid_options co = {.vcpu_index = i,
                                   .ncpus = vm->ncpus,
                                   .passthrough = cfg->cpuid_passthrough,
                                   .tsc_khz = khz > 0 ? (uint32_t)khz : 0};
        err = cpuid_adjust(cpuid, capacity, &co);
        if (!err)
            err = vcpu_create(vm, i, cpuid, &vm->vcpus[i]);
        if (!err && entry)
            err = boot_setup_vcpu_platform(vcpu_fd(vm->vcpus[i]));
    }
    free(cpuid);
    free(supported);
    /* Only the boot CPU starts at the kernel entry; the others wait for INIT/SIPI. */
    if (!err && entry)
        err = boot_setup_vcpu_regs(vcpu_fd(vm->vcpus[0]), entry);
    return err;
}

/* The user's command line (or the default for a Linux kernel), then what the devices announce. */
static int build_cmdline(struct vm *vm, const struct vm_config *cfg, char *buf, size_t cap)
{
    const char *base = cfg->cmdline ? cfg->cmdline : cfg->kernel_path ? VM_DEFAULT_CMDLINE : "";
    size_t len = strlen(base);
    if (len >= cap)
        return vlog_err(-E2BIG, "command line: %zu bytes, at most %zu allowed", len, cap - 1);
    memcpy(buf, base, len + 1);
    return vm_create_disks(vm, cfg, buf, cap, NULL);
}

/* Cold boot: load the kernel (or built-in guest) and firmware tables, then the vCPUs. */
static int boot_fresh(struct vm *vm, const struct vm_config *cfg)
{
    char *cmdline = vm->cmdline;
    int err = build_cmdline(vm, cfg, cmdline, sizeof(vm->cmdline));
    if (err)
        return err;
    struct acpi_virtio_dev virtio[VM_MAX_DISKS];
    for (unsigned i = 0; i < vm->ndisks; i++)
        virtio[i] = (struct acpi_virtio_dev){
            .base = vm->disks[i].mmio_base, .size = ABI_VIRTIO_MMIO_SIZE, .gsi = vm->disks[i].gsi};
    struct boot_source src = {
        .kernel_path = cfg->kernel_path,
        .image = cfg->builtin_image,
        .image_size = cfg->builtin_size,
        .initrd_path = cfg->initrd_path,
        .cmdline = cmdline,
        .ncpus = cfg->ncpus,
        .virtio = virtio,
        .nvirtio = vm->ndisks,
    };
    struct boot_entry entry;
    err = boot_prepare(vm->mem, &src, &entry);
    if (!err)
        err = create_vcpus(vm, cfg, &entry);
    return err;
}

/* Restore: the same devices and vCPUs as at snapshot time, loaded with their saved state. The
 * guest's memory already holds its kernel, tables and command line. */
static int boot_restored(struct vm *vm, const struct vm_config *cfg, const struct machine_state *ms)
{
    snprintf(vm->cmdline, sizeof(vm->cmdline), "%s", ms->cmdline);
    char scratch[ABI_CMDLINE_MAX] = "";
    int err = vm_create_disks(vm, cfg, scratch, sizeof(scratch), ms);
    if (!err)
        err = create_vcpus(vm, cfg, NULL);
    /* VM-wide state first (PIT, clock, PICs, IOAPIC), then each vCPU: vcpu_state.c orders the
     * per-vCPU pieces. */
    if (!err)
        err = vm_state_restore(vm, &ms->vm);
    for (unsigned i = 0; i < vm->ncpus && !err; i++)
        err = vcpu_restore(vm->vcpus[i], &ms->vcpus[i]);
    return err;
}

/* A lazily restored chunk was unreadable (corrupt): its page is about to read as zeros, so stop
 * every vCPU first (the kick lands before the faulting vCPU re-enters the guest) and end the VM
 * with an error rather than let the guest run on memory that is not the snapshot's. Runs in
 * the userfaultfd handler thread. */
static void lazy_failed(void *ctx, int err)
{
    struct vm *vm = ctx;
    for (unsigned i = 0; i < vm->ncpus; i++)
        if (vm->vcpus[i])
            vcpu_request_pause(vm->vcpus[i]);
    vm_request_fail(vm, err);
}

/* Guest RAM: fresh anonymous memory, or filled from a snapshot chain in the chosen mode. */
static int create_memory(struct vm *vm, const struct vm_config *cfg, struct vm_restore_src *src)
{
    struct gm_options mo = {.hugepages = cfg->hugepages};
    int err = 0;
    if (src && src->mode == VM_MEMORY_COW) {
        int fd;
        err = restore_raw_open(src->chain, src->dir, &fd, &src->raw_reused);
        if (!err) {
            err = gm_create_from_file(cfg->mem_size, fd, &mo, &vm->mem);
            close(fd); /* the mapping keeps the file */
        }
    } else {
        /* Huge pages speed up a fresh guest's first touches, but restored RAM is written in
         * full by vmrun (eager: each 2 MiB page would be zeroed, then overwritten; measured
         * 446 ms instead of 176 ms for 1 GiB) or page by page by userfaultfd (lazy). */
        if (src)
            mo.hugepages = false;
        err = gm_create(cfg->mem_size, &mo, &vm->mem);
        if (!err && src && src->mode == VM_MEMORY_EAGER)
            err = restore_eager(src->chain, vm->mem, 0);
        if (!err && src && src->mode == VM_MEMORY_LAZY) {
            err = lazy_mem_start(src->chain, vm->mem, lazy_failed, vm, &vm->lazy);
            gm_set_not_anonymous(vm->mem);
        }
    }
    if (err)
        return vlog_err(err, "guest memory (%llu bytes)", (unsigned long long)cfg->mem_size);
    return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out)
{
    return vm_build(cfg, NULL, out);
}

int vm_build(const struct vm_config *cfg, struct vm_restore_src *src, struct vm **out)
{
    if (!cfg || cfg->ncpus == 0 || cfg->ncpus > VM_MAX_VCPUS)
        return vlog_err(-EINVAL, "vcpus: must be 1..%d", VM_MAX_VCPUS);
    int err = vcpu_install_kick_handler();
    if (err)
        return vlog_err(err, "vcpu kick signal");
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return -ENOMEM;
    vm->kvm_fd = vm->vm_fd = vm->wake_fd = -1;
    vm->ncpus = cfg->ncpus;
    vm->cpuid_passthrough = cfg->cpuid_passthrough;
    pthread_mutex_init(&vm->lock, NULL);

    vm->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (vm->wake_fd < 0) {
        err = vlog_err(-errno, "eventfd");
        goto fail;
    }
    err = kvm_open_vm(cfg, &vm->kvm_fd, &vm->vm_fd);
    if (err)
        goto fail;
    err = create_memory(vm, cfg, src);
    if (err)
        goto fail;
    /* A restored VM logs dirty pages from its first instruction, so its first snapshot can be
     * a diff against the one it came from. Set here, with the slots: turning logging on later
     * changes live slots, which waits for an SRCU grace period (~6 ms here). */
    err = kvm_map_memory(vm->vm_fd, vm->mem, src != NULL);
    vm->dirty_logging = !err && src != NULL;
    if (!err)
        err = kvm_create_irqchip(vm->vm_fd);
    if (err)
        goto fail;
    err = bus_create("pio", &vm->pio);
    if (!err)
        err = bus_create("mmio", &vm->mmio);
    if (!err)
        err = create_devices(vm, cfg, src ? &src->ms->uart : NULL);
    if (!err)
        err = create_control(vm, cfg);
    if (!err)
        err = src ? boot_restored(vm, cfg, src->ms) : boot_fresh(vm, cfg);
    if (err)
        goto fail;
    *out = vm;
    return 0;
fail:
    vm_destroy(vm);
    return err;
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    for (unsigned i = 0; i < vm->ncpus; i++)
        vcpu_destroy(vm->vcpus[i]);
    lazy_mem_stop(vm->lazy); /* only once no vCPU can fault any more */
    memchain_close(vm->chain);
    api_server_destroy(vm->api);
    watch_destroy(vm->watch);
    vm_destroy_disks(vm);
    sysdev_destroy(vm->sysdev);
    uart_destroy(vm->uart);
    console_destroy(vm->console);
    bus_destroy(vm->mmio);
    bus_destroy(vm->pio);
    if (vm->vm_fd >= 0)
        close(vm->vm_fd);
    gm_destroy(vm->mem);
    if (vm->kvm_fd >= 0)
        close(vm->kvm_fd);
    if (vm->wake_fd >= 0)
        close(vm->wake_fd);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}
