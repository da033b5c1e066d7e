/* Boot GDT and identity page tables. Every paging level has U/S set so the built-in guest can run
 * its ring-3 workloads on the boot mapping; Linux builds its own tables early and never notices. */
#include "vmrun/boot.h"

#include "vmrun/guest_abi.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <string.h>

#define PTE_P 0x1ULL
#define PTE_RW 0x2ULL
#define PTE_US 0x4ULL
#define PTE_PS 0x80ULL
#define GIB (1ULL << 30)
#define MIB2 (2ULL << 20)
#define MAX_PDS 32

/* GDT: null, null, 64-bit code (0x10), data (0x18), 64-bit TSS (0x20, two slots). The TSS only
 * satisfies VM-entry checks; guests install their own. */
static const uint64_t boot_gdt[6] = {
    0, 0, 0x00af9b000000ffffULL, 0x00cf93000000ffffULL, 0x00008b0000000067ULL, 0,
};

int boot_write_tables(struct guest_mem *mem)
{
    int err = gm_write(mem, ABI_BOOT_GDT, boot_gdt, sizeof(boot_gdt), sizeof(boot_gdt));
    uint64_t idt = 0;
    if (!err)
        err = gm_write(mem, ABI_BOOT_IDT, &idt, sizeof(idt), sizeof(idt));
    if (err)
        return vlog_err(err, "boot GDT/IDT");

    uint64_t top = gm_top(mem) > GM_MMIO_HOLE_END ? gm_top(mem) : GM_MMIO_HOLE_END;
    uint64_t npds = (top + GIB - 1) / GIB;
    if (npds > MAX_PDS || ABI_PD_BASE + npds * 4096 > ABI_CMDLINE)
        return vlog_err(-E2BIG, "identity map: %llu GiB exceeds the boot page-table area",
                        (unsigned long long)npds);

    const uint64_t flags = PTE_P | PTE_RW | PTE_US;
    uint64_t pml4[512] = {0}, pdpt[512] = {0}, pd[512];
    pml4[0] = ABI_PDPT | flags;
    for (uint64_t g = 0; g < npds; g++) {
        pdpt[g] = (ABI_PD_BASE + g * 4096) | flags;
        for (uint64_t i = 0; i < 512; i++)
            pd[i] = (g * GIB + i * MIB2) | flags | PTE_PS;
        err = gm_write(mem, ABI_PD_BASE + g * 4096, pd, sizeof(pd), sizeof(pd));
        if (err)
            return vlog_err(err, "identity map: page directory %llu", (unsigned long long)g);
    }
    err = gm_write(mem, ABI_PML4, pml4, sizeof(pml4), sizeof(pml4));
    if (!err)
        err = gm_write(mem, ABI_PDPT, pdpt, sizeof(pdpt), sizeof(pdpt));
    if (err)
        return vlog_err(err, "identity map: top-level tables");
    return 0;
}
