/* Booting the built-in guest through the Xen PVH protocol (QEMU's -kernel with an ELF that
 * carries a XEN_ELFNOTE_PHYS32_ENTRY note). Shared by pvh.S and pvh_setup.c; assembler-safe. */
#ifndef GUEST_PVH_H
#define GUEST_PVH_H

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578

/* The identity map the PVH path builds covers [0, PVH_MAX_GIB GiB): 0-4 GiB always (RAM, the
 * MMIO hole, the LAPIC), RAM above 4 GiB as the memory map reports it. vmrun's own boot tables
 * stop at 32 GiB too (boot/tables.c). */
#define PVH_MAX_GIB 32
#define PVH_LOW_GIB 4

/* Page-table entry bits: present, writable, user (U/S=1 on every level, as vmrun provides, so
 * ring 3 runs on the boot map), and PS for 2 MiB pages. */
#define PTE_P 0x1
#define PTE_RW 0x2
#define PTE_US 0x4
#define PTE_PS 0x80
#define PTE_TABLE (PTE_P | PTE_RW | PTE_US)
#define PTE_2M (PTE_P | PTE_RW | PTE_US | PTE_PS)

/* Control registers as vmrun sets them for the 64-bit boot protocol (boot/regs.c). */
#define PVH_CR0 0x80010033 /* PE | MP | ET | NE | WP | PG */
#define PVH_CR4 0x620      /* PAE | OSFXSR | OSXMMEXCPT */
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

#endif
