/* Kernel loading and the Linux x86-64 64-bit boot protocol. */
#ifndef VMRUN_BOOT_H
#define VMRUN_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmrun/acpi.h"

struct guest_mem;

/* Where the loaded kernel wants to start. */
struct boot_entry {
    uint64_t rip;       /* 64-bit entry point (guest-physical, identity mapped) */
    uint64_t zero_page; /* boot_params address, passed in RSI */
};

/* Load an ELF64 x86-64 executable's PT_LOAD segments into guest RAM; *entry_out = e_entry. */
int boot_load_elf(struct guest_mem *mem, const void *image, size_t size, const char *name,
                  uint64_t *entry_out, uint64_t *end_out);

/* A bzImage's setup header (from offset 0x1f1), copied into boot_params.hdr. */
struct boot_setup_header {
    uint8_t bytes[128];
    size_t len; /* 0: none (plain vmlinux) */
};

/* What goes into boot_params besides the e820 map. */
struct boot_params_input {
    const char *cmdline;
    uint64_t initrd_gpa, initrd_size;    /* size 0: no initrd */
    const struct boot_setup_header *hdr; /* NULL or len 0: vmrun's own minimal header */
    uint64_t acpi_rsdp;                  /* 0: none */
};

/* Build boot_params (e820, command line, initrd) at ABI_ZERO_PAGE. */
int boot_write_zero_page(struct guest_mem *mem, const struct boot_params_input *in);
/* Write the boot GDT and the identity page tables covering all RAM (U/S set). */
int boot_write_tables(struct guest_mem *mem);
/* Put a vCPU into 64-bit mode at entry: segments, CR0/CR3/CR4/EFER, RIP, RSI, FPU. */
int boot_setup_vcpu_regs(int vcpu_fd, const struct boot_entry *entry);

/* Write the MP floating pointer and configuration table for ncpus vCPUs and the IOAPIC. */
int boot_write_mptable(struct guest_mem *mem, unsigned ncpus);

/* Firmware-like per-vCPU state for cold boot: boot MSRs and LAPIC LINT0/LINT1 wiring. */
int boot_setup_vcpu_platform(int vcpu_fd);

/* What to boot: a kernel file, or an in-memory image when kernel_path is NULL. */
struct boot_source {
    const char *kernel_path;
    const void *image; /* used when kernel_path is NULL (the built-in guest) */
    size_t image_size;
    const char *initrd_path;              /* NULL: none */
    const char *cmdline;                  /* NULL: empty */
    unsigned ncpus;                       /* for the MP and ACPI tables */
    const struct acpi_virtio_dev *virtio; /* devices to declare in the DSDT */
    unsigned nvirtio;
};

/* Load kernel, initrd, command line, boot_params and boot tables into mem. */
int boot_prepare(struct guest_mem *mem, const struct boot_source *src, struct boot_entry *entry);

#endif
