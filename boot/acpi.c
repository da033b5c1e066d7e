/* ACPI tables. Debian's cloud kernel (and most distribution kernels) has no MP-table parser and
 * no command-line virtio-mmio devices, so ACPI is how it learns the vCPUs, the IOAPIC and the
 * disks. The FADT declares a hardware-reduced platform: no PM timer, SCI or GPE blocks to emulate.
 * Layout at ACPI_BASE: RSDP, XSDT, FADT, MADT, DSDT, each 16-byte aligned. */
#include "vmrun/acpi.h"

#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <string.h>

#define LAPIC_ADDR 0xfee00000u
#define IOAPIC_ADDR 0xfec00000u
#define FADT_LEN 276
#define FADT_FLAGS_OFF 112
#define FADT_IAPC_BOOT_ARCH_OFF 109
#define FADT_MINOR_OFF 131
#define FADT_X_DSDT_OFF 140
#define FADT_DSDT_OFF 40
#define FADT_HYPERVISOR_ID_OFF 268
#define FADT_HW_REDUCED (1u << 20)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
#define MADT_PCAT_COMPAT 1u
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_LAPIC_NMI 4
#define MAX_CPUS 255

struct __attribute__((packed)) acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision, checksum;
    char oem_id[6], oem_table_id[8];
    uint32_t oem_revision;
    char creator_id[4];
    uint32_t creator_revision;
};

struct __attribute__((packed)) rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt;
    uint32_t length;
    uint64_t xsdt;
    uint8_t ext_checksum, reserved[3];
};

static uint8_t checksum(const void *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ((const uint8_t *)p)[i];
    return (uint8_t)-sum;
}

static void header(struct acpi_header *h, const char *sig, uint32_t len, uint8_t rev)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->signature, sig, 4);
    h->length = len;
    h->revision = rev;
    memcpy(h->oem_id, "VMRUN ", 6);
    memcpy(h->oem_table_id, "VMRUNVM ", 8);
    h->oem_revision = 1;
    memcpy(h->creator_id, "VMRN", 4);
    h->creator_revision = 1;
}

/* Fill in length and checksum of the table at offset start, which ends at offset end. */
static void finish_table(struct acpi_buf *b, size_t start, size_t end)
{
    if (b->err)
        return;
    uint32_t len = (uint32_t)(end - start);
    memcpy(b->data + start + 4, &len, 4);
    b->data[start + 9] = 0;
    b->data[start + 9] = checksum(b->data + start, len);
}

static void align16(struct acpi_buf *b)
{
    static const uint8_t zeros[16];
    acpi_buf_put(b, zeros, (16 - b->len % 16) % 16);
}

static void build_fadt(struct acpi_buf *b, uint64_t dsdt_gpa)
{
    uint8_t t[FADT_LEN] = {0};
    struct acpi_header h;
    header(&h, "FACP", FADT_LEN, 6);
    memcpy(t, &h, sizeof(h));
    uint32_t dsdt32 = (uint32_t)dsdt_gpa, flags = FADT_HW_REDUCED;
    uint16_t boot_arch = BOOT_ARCH_VGA_NOT_PRESENT;
    memcpy(t + FADT_DSDT_OFF, &dsdt32, 4);
    memcpy(t + FADT_IAPC_BOOT_ARCH_OFF, &boot_arch, 2);
    memcpy(t + FADT_FLAGS_OFF, &flags, 4);
    t[FADT_MINOR_OFF] = 3;
    memcpy(t + FADT_X_DSDT_OFF, &dsdt_gpa, 8);
    memcpy(t + FADT_HYPERVISOR_ID_OFF, "VMRUN\0\0\0", 8);
    acpi_buf_put(b, t, sizeof(t));
}

static void build_madt(struct acpi_buf *b, unsigned ncpus)
{
    struct acpi_header h;
    header(&h, "APIC", 0, 5);
    acpi_buf_put(b, &h, sizeof(h));
    uint32_t lapic = LAPIC_ADDR, flags = MADT_PCAT_COMPAT;
    acpi_buf_put(b, &lapic, 4);
    acpi_buf_put(b, &flags, 4);
    for (unsigned i = 0; i < ncpus; i++) {
        uint8_t e[8] = {MADT_LAPIC, 8, (uint8_t)i, (uint8_t)i, 1, 0, 0, 0}; /* enabled */
        acpi_buf_put(b, e, sizeof(e));
    }
    uint8_t io[12] = {MADT_IOAPIC, 12, (uint8_t)ncpus, 0};
    uint32_t ioaddr = IOAPIC_ADDR, gsi_base = 0;
    memcpy(io + 4, &ioaddr, 4);
    memcpy(io + 8, &gsi_base, 4);
    acpi_buf_put(b, io, sizeof(io));
    /* NMIs arrive on LINT1 of every processor. */
    uint8_t nmi[6] = {MADT_LAPIC_NMI, 6, 0xff, 0, 0, 1};
    acpi_buf_put(b, nmi, sizeof(nmi));
}

int acpi_write_tables(struct guest_mem *mem, unsigned ncpus, const struct acpi_virtio_dev *devs,
                      unsigned ndevs, uint64_t *rsdp_gpa)
{
    if (ncpus == 0 || ncpus >= MAX_CPUS)
        return vlog_err(-EINVAL, "ACPI: %u vCPUs", ncpus);
    struct acpi_buf b = {0};
    struct rsdp r;
    memset(&r, 0, sizeof(r));
    acpi_buf_put(&b, &r, sizeof(r)); /* filled in last */
    align16(&b);

    size_t xsdt_off = b.len;
    struct acpi_header h;
    header(&h, "XSDT", 0, 1);
    acpi_buf_put(&b, &h, sizeof(h));
    size_t xsdt_entries = b.len;
    uint64_t zero64 = 0;
    acpi_buf_put(&b, &zero64, 8); /* FADT */
    acpi_buf_put(&b, &zero64, 8); /* MADT */
    size_t xsdt_end = b.len;
    align16(&b);

    size_t fadt_off = b.len;
    build_fadt(&b, 0); /* DSDT address patched below */
    size_t fadt_end = b.len;
    align16(&b);
    size_t madt_off = b.len;
    build_madt(&b, ncpus);
    finish_table(&b, madt_off, b.len);
    align16(&b);

    size_t dsdt_off = b.len;
    header(&h, "DSDT", 0, 2);
    acpi_buf_put(&b, &h, sizeof(h));
    int err = acpi_build_dsdt_aml(devs, ndevs, &b);
    finish_table(&b, dsdt_off, b.len);
    if (!err)
        err = b.err;
    if (!err && b.len > ACPI_AREA_SIZE)
        err = -E2BIG;
    if (err) {
        acpi_buf_free(&b);
        return vlog_err(err, "ACPI tables");
    }

    uint64_t fadt = ACPI_BASE + fadt_off, madt = ACPI_BASE + madt_off, dsdt = ACPI_BASE + dsdt_off;
    uint32_t dsdt32 = (uint32_t)dsdt;
    memcpy(b.data + fadt_off + FADT_DSDT_OFF, &dsdt32, 4);
    memcpy(b.data + fadt_off + FADT_X_DSDT_OFF, &dsdt, 8);
    finish_table(&b, fadt_off, fadt_end);
    memcpy(b.data + xsdt_entries, &fadt, 8);
    memcpy(b.data + xsdt_entries + 8, &madt, 8);
    finish_table(&b, xsdt_off, xsdt_end);

    memcpy(r.signature, "RSD PTR ", 8);
    memcpy(r.oem_id, "VMRUN ", 6);
    r.revision = 2;
    r.length = sizeof(r);
    r.xsdt = ACPI_BASE + xsdt_off;
    r.checksum = checksum(&r, 20);
    r.ext_checksum = checksum(&r, sizeof(r));
    memcpy(b.data, &r, sizeof(r));

    err = gm_write(mem, ACPI_BASE, b.data, b.len, b.len);
    acpi_buf_free(&b);
    if (err)
        return vlog_err(err, "ACPI tables at 0x%llx", ACPI_BASE);
    *rsdp_gpa = ACPI_BASE;
    return 0;
}
