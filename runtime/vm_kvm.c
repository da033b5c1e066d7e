/* KVM VM-level setup: what must exist before the first vCPU is created. */
#include "vm_kvm.h"

#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Inside the MMIO hole, away from the IOAPIC/LAPIC pages: where VMX keeps its real-mode TSS and
 * identity page (harmless on hosts that do not need them). */
#define KVM_TSS_ADDR 0xfffbd000ULL
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ULL

static const struct {
    int cap;
    const char *name;
} required_caps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

static int check_kvm(int kvm_fd, unsigned ncpus)
{
    int v = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
    if (v != KVM_API_VERSION)
        return vlog_err(-ENOTSUP, "/dev/kvm: API version %d, need %d", v, KVM_API_VERSION);
    for (size_t i = 0; i < sizeof(required_caps) / sizeof(required_caps[0]); i++) {
        if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, required_caps[i].cap) <= 0)
            return vlog_err(-ENOTSUP, "/dev/kvm: missing %s", required_caps[i].name);
    }
    int max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max <= 0)
        max = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max > 0 && ncpus > (unsigned)max)
        return vlog_err(-EINVAL, "--cpus %u: this host's KVM allows at most %d", ncpus, max);
    return 0;
}

int kvm_open_vm(const struct vm_config *cfg, int *kvm_fd_out, int *vm_fd_out)
{
    int kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm_fd < 0)
        return vlog_err(-errno, "/dev/kvm");
    int err = check_kvm(kvm_fd, cfg->ncpus);
    if (err) {
        close(kvm_fd);
        return err;
    }
    int vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
    if (vm_fd < 0) {
        err = vlog_err(-errno, "KVM_CREATE_VM");
        close(kvm_fd);
        return err;
    }
    *kvm_fd_out = kvm_fd;
    *vm_fd_out = vm_fd;
    return 0;
}

int kvm_create_irqchip(int vm_fd)
{
    /* Both are needed by VMX hosts only; others may refuse them, which is fine. */
    ioctl(vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR);
    uint64_t idmap = KVM_IDENTITY_MAP_ADDR;
    ioctl(vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (ioctl(vm_fd, KVM_CREATE_IRQCHIP, 0) < 0)
        return vlog_err(-errno, "KVM_CREATE_IRQCHIP");
    if (ioctl(vm_fd, KVM_CREATE_PIT2, &pit) < 0)
        return vlog_err(-errno, "KVM_CREATE_PIT2");
    return 0;
}

int kvm_map_memory(int vm_fd, struct guest_mem *mem, bool log_dirty)
{
    for (size_t i = 0; i < gm_region_count(mem); i++) {
        struct gm_region r;
        gm_region_get(mem, i, &r);
        struct kvm_userspace_memory_region slot = {
            .slot = (uint32_t)i,
            .flags = log_dirty ? KVM_MEM_LOG_DIRTY_PAGES : 0,
            .guest_phys_addr = r.gpa,
            .memory_size = r.size,
            .userspace_addr = (uint64_t)(uintptr_t)r.host,
        };
        if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
            return vlog_err(-errno, "KVM_SET_USER_MEMORY_REGION slot %zu", i);
    }
    return 0;
}
