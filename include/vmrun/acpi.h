/* ACPI tables for Linux guests: RSDP, XSDT, FADT (hardware-reduced), MADT and a DSDT that
 * declares the virtio-mmio devices. */
#ifndef VMRUN_ACPI_H
#define VMRUN_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;

/* Guest-physical placement: inside the reserved BIOS area, where Linux also scans for the RSDP. */
#define ACPI_BASE 0xe0000ULL
#define ACPI_AREA_SIZE 0x10000ULL

/* One virtio-mmio device to declare in the DSDT. */
struct acpi_virtio_dev {
    uint64_t base;
    uint32_t size;
    uint32_t gsi;
};

/* A growable byte buffer for building tables and AML. */
struct acpi_buf {
    uint8_t *data;
    size_t len, cap;
    int err; /* sticky: the first allocation failure */
};

/* Write all tables at ACPI_BASE; *rsdp_gpa receives the RSDP address for boot_params. */
int acpi_write_tables(struct guest_mem *mem, unsigned ncpus, const struct acpi_virtio_dev *devs,
                      unsigned ndevs, uint64_t *rsdp_gpa);
/* Build the DSDT's AML body (without the table header) for the given devices. */
int acpi_build_dsdt_aml(const struct acpi_virtio_dev *devs, unsigned ndevs, struct acpi_buf *out);
/* Append n bytes to b (sets b->err on allocation failure). */
void acpi_buf_put(struct acpi_buf *b, const void *p, size_t n);
/* Free b's storage. */
void acpi_buf_free(struct acpi_buf *b);

#endif
