/* Ring-0 part of the PVH boot path (see pvh.S): translate the loader's struct hvm_start_info into
 * the Linux boot_params the rest of the guest reads (command line pointer, e820 map), map RAM
 * above 4 GiB, and make sure PIC interrupts reach the CPU. Runs once, emulated instruction by
 * instruction: no loops over memory beyond the page directories of RAM above 4 GiB. */
#include <stdint.h>
#include "vmrun/guest_abi.h"
#include "kern.h"
#include "pvh.h"
#include "sys.h"

/* xen/include/public/arch-x86/hvm/start_info.h */
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    /* version >= 1 */
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

/* Linux boot_params (zero page) offsets the guest reads (user.c). */
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define BP_E820_MAX 128
#define E820_ENTRY_SIZE 20
#define E820_RAM 1

#define GIB (1ull << 30)
#define MIB2 (2ull << 20)
#define MAPPED_TOP ((uint64_t)PVH_MAX_GIB * GIB)

/* pvh.S */
extern uint64_t pvh_pdpt[512];
extern uint64_t pvh_pd[PVH_MAX_GIB][512];
extern uint8_t pvh_boot_params[4096];

/* The LAPIC, identity mapped like the rest of the MMIO hole. */
#define LAPIC_BASE 0xfee00000ull
#define LAPIC_SVR 0xf0
#define LAPIC_LVT0 0x350
#define LAPIC_SVR_ENABLE 0x100
#define LAPIC_LVT_EXTINT 0x700 /* delivery mode ExtINT, unmasked */

static void put32(uint64_t off, uint32_t v)
{
    *(volatile uint32_t *)(pvh_boot_params + off) = v;
}

static void put64(uint64_t off, uint64_t v)
{
    *(volatile uint64_t *)(pvh_boot_params + off) = v;
}

__attribute__((noreturn)) static void pvh_fail(const char *msg, uint64_t val)
{
    kputs("vmrun guest: PVH boot: ");
    kputs(msg);
    kputc(' ');
    kputhex(val);
    kputc('\n');
    kexit(2);
}

/* Map [4 GiB, top) with 2 MiB pages; the 0-4 GiB directories are pvh.S's. */
static void map_high(uint64_t top)
{
    for (uint64_t g = PVH_LOW_GIB; g * GIB < top; g++) {
        volatile uint64_t *pd = pvh_pd[g];
        for (uint64_t i = 0; i < 512; i++)
            pd[i] = (g * GIB + i * MIB2) | PTE_2M;
        pvh_pdpt[g] = (uint64_t)pd | PTE_TABLE;
    }
}

/* Called from pvh_start64 in long mode on the kernel stack; returns the boot_params address for
 * _start. Exits with code 2 (after a line on COM1) if the start_info is unusable. */
uint64_t pvh_setup(uint64_t start_info)
{
    const volatile struct hvm_start_info *si = (const volatile struct hvm_start_info *)start_info;
    uint64_t ram_top = 0;
    uint32_t n;

    guest_pvh_boot = 1; /* from now on, exits also go to QEMU's port (sys.h) */
    if (si->magic != HVM_START_MAGIC)
        pvh_fail("bad hvm_start_info magic", si->magic);
    if (si->version < 1)
        pvh_fail("hvm_start_info has no memory map: version", si->version);
    n = si->memmap_entries;
    if (!si->memmap_paddr || n == 0)
        pvh_fail("hvm_start_info memory map is empty: entries", n);
    if (n > BP_E820_MAX)
        pvh_fail("memory map has more than 128 entries:", n);
    if (si->memmap_paddr > PVH_LOW_GIB * GIB - (uint64_t)n * sizeof(struct hvm_memmap_table_entry))
        pvh_fail("memory map not below 4 GiB: at", si->memmap_paddr);
    if (si->cmdline_paddr >= PVH_LOW_GIB * GIB)
        pvh_fail("command line not below 4 GiB: at", si->cmdline_paddr);

    /* boot_params: zero, then the command line pointer and the e820 map. */
    {
        void *d = pvh_boot_params;
        uint64_t c = sizeof(pvh_boot_params) / 8;
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(c) : "a"(0ull) : "memory");
    }
    put32(BP_CMD_LINE_PTR, (uint32_t)si->cmdline_paddr);

    const volatile struct hvm_memmap_table_entry *mm =
        (const volatile struct hvm_memmap_table_entry *)si->memmap_paddr;
    uint32_t out = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t addr = mm[i].addr, size = mm[i].size, end;
        uint32_t type = mm[i].type;
        if (__builtin_add_overflow(addr, size, &end) || size == 0)
            continue;
        if (type == E820_RAM) {
            /* RAM beyond the identity map would fault: leave it out of the map. */
            if (addr >= MAPPED_TOP)
                continue;
            if (end > MAPPED_TOP) {
                end = MAPPED_TOP;
                size = end - addr;
            }
            if (end > ram_top)
                ram_top = end;
        }
        uint64_t e = BP_E820_TABLE + (uint64_t)out * E820_ENTRY_SIZE;
        put64(e, addr);
        put64(e + 8, size);
        put32(e + 16, type);
        out++;
    }
    pvh_boot_params[BP_E820_ENTRIES] = (uint8_t)out;

    if (ram_top > PVH_LOW_GIB * GIB)
        map_high(ram_top);

    /* Route the 8259 to the CPU as vmrun does from the host: software-enable the LAPIC and make
     * LINT0 ExtINT, unmasked. Needed under QEMU microvm: without it IRQ0 never arrives (tested:
     * "timer not ticking"). */
    volatile uint32_t *lapic = (volatile uint32_t *)LAPIC_BASE;
    lapic[LAPIC_SVR / 4] |= LAPIC_SVR_ENABLE;
    lapic[LAPIC_LVT0 / 4] = LAPIC_LVT_EXTINT;

    return (uint64_t)pvh_boot_params;
}
