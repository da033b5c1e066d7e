/* Intel MultiProcessor table (spec 1.4): how Linux learns the vCPUs' APIC ids, the IOAPIC and
 * which ISA IRQ goes to which IOAPIC pin, without ACPI. It lives in the reserved BIOS area at
 * 0xf0000, one of the places Linux scans for the floating pointer. */
#include "vmrun/boot.h"

#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MP_ADDR 0xf0000ULL
#define MP_AREA_SIZE 0x10000ULL
#define LAPIC_ADDR 0xfee00000u
#define IOAPIC_ADDR 0xfec00000u
#define IOAPIC_PINS 24
#define MAX_CPUS 255

struct __attribute__((packed)) mpf {
    char signature[4];
    uint32_t physptr;
    uint8_t length, spec_rev, checksum, feature1;
    uint8_t feature2, feature3, feature4, feature5;
};

struct __attribute__((packed)) mpc_table {
    char signature[4];
    uint16_t length;
    uint8_t spec_rev, checksum;
    char oem[8], product[12];
    uint32_t oem_ptr;
    uint16_t oem_size, count;
    uint32_t lapic;
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
};

struct __attribute__((packed)) mpc_cpu {
    uint8_t type, apic_id, apic_ver, flags;
    uint32_t signature, features;
    uint32_t reserved[2];
};

struct __attribute__((packed)) mpc_bus {
    uint8_t type, bus_id;
    char bus_type[6];
};

struct __attribute__((packed)) mpc_ioapic {
    uint8_t type, apic_id, apic_ver, flags;
    uint32_t addr;
};

struct __attribute__((packed)) mpc_intsrc {
    uint8_t type, irq_type;
    uint16_t irq_flag;
    uint8_t src_bus, src_irq, dst_apic, dst_irq;
};

enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };
#define CPU_ENABLED 1
#define CPU_BSP 2
#define CPU_SIGNATURE 0x600 /* family 6 */
#define CPU_FEATURES 0x201  /* FPU, APIC */
#define LAPIC_VERSION 0x14
#define IOAPIC_VERSION 0x11

static uint8_t checksum(const void *p, size_t n)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += ((const uint8_t *)p)[i];
    return (uint8_t)-sum;
}

int boot_write_mptable(struct guest_mem *mem, unsigned ncpus)
{
    if (ncpus == 0 || ncpus > MAX_CPUS - 1)
        return vlog_err(-EINVAL, "MP table: %u vCPUs", ncpus);
    size_t entries = ncpus + 2 + IOAPIC_PINS + 2;
    size_t size = sizeof(struct mpf) + sizeof(struct mpc_table) + ncpus * sizeof(struct mpc_cpu) +
                  sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
                  (IOAPIC_PINS + 2) * sizeof(struct mpc_intsrc);
    if (size > MP_AREA_SIZE)
        return vlog_err(-E2BIG, "MP table: %zu bytes", size);
    uint8_t *buf = calloc(1, size);
    if (!buf)
        return -ENOMEM;

    struct mpf *fp = (struct mpf *)buf;
    struct mpc_table *t = (struct mpc_table *)(fp + 1);
    uint8_t *p = (uint8_t *)(t + 1);
    uint8_t ioapic_id = (uint8_t)ncpus;
    for (unsigned i = 0; i < ncpus; i++, p += sizeof(struct mpc_cpu)) {
        struct mpc_cpu c = {.type = MP_PROCESSOR,
                            .apic_id = (uint8_t)i,
                            .apic_ver = LAPIC_VERSION,
                            .flags = CPU_ENABLED | (i == 0 ? CPU_BSP : 0),
                            .signature = CPU_SIGNATURE,
                            .features = CPU_FEATURES};
        memcpy(p, &c, sizeof(c));
    }
    struct mpc_bus bus = {.type = MP_BUS, .bus_id = 0, .bus_type = {'I', 'S', 'A', ' ', ' ', ' '}};
    memcpy(p, &bus, sizeof(bus));
    p += sizeof(bus);
    struct mpc_ioapic io = {.type = MP_IOAPIC,
                            .apic_id = ioapic_id,
                            .apic_ver = IOAPIC_VERSION,
                            .flags = 1,
                            .addr = IOAPIC_ADDR};
    memcpy(p, &io, sizeof(io));
    p += sizeof(io);
    /* Every ISA IRQ (and the pins above 15 the virtio devices may use) straight to its pin,
     * with the bus's default polarity and trigger. */
    for (unsigned i = 0; i < IOAPIC_PINS; i++, p += sizeof(struct mpc_intsrc)) {
        struct mpc_intsrc s = {.type = MP_INTSRC,
                               .irq_type = MP_INT,
                               .src_bus = 0,
                               .src_irq = (uint8_t)i,
                               .dst_apic = ioapic_id,
                               .dst_irq = (uint8_t)i};
        memcpy(p, &s, sizeof(s));
    }
    /* The BSP's LINT0 takes the PIC (ExtINT); NMIs reach every LINT1. */
    struct mpc_intsrc lint0 = {
        .type = MP_LINTSRC, .irq_type = MP_EXTINT, .dst_apic = 0, .dst_irq = 0};
    struct mpc_intsrc lint1 = {
        .type = MP_LINTSRC, .irq_type = MP_NMI, .dst_apic = 0xff, .dst_irq = 1};
    memcpy(p, &lint0, sizeof(lint0));
    p += sizeof(lint0);
    memcpy(p, &lint1, sizeof(lint1));
    p += sizeof(lint1);

    memcpy(t->signature, "PCMP", 4);
    t->length = (uint16_t)(p - (uint8_t *)t);
    t->spec_rev = 4;
    memcpy(t->oem, "VMRUN   ", 8);
    memcpy(t->product, "MICROVM     ", 12);
    t->count = (uint16_t)entries;
    t->lapic = LAPIC_ADDR;
    t->checksum = checksum(t, t->length);

    memcpy(fp->signature, "_MP_", 4);
    fp->physptr = (uint32_t)(MP_ADDR + sizeof(*fp));
    fp->length = 1; /* in 16-byte units */
    fp->spec_rev = 4;
    fp->checksum = checksum(fp, sizeof(*fp));

    int err = gm_write(mem, MP_ADDR, buf, size, size);
    free(buf);
    if (err)
        return vlog_err(err, "MP table at 0x%llx", MP_ADDR);
    return 0;
}
