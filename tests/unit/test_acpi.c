/* ACPI tables: checksums, pointers, MADT contents, and a DSDT that ACPICA's own disassembler
 * (iasl, when installed) reads back as the devices vmrun declared. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/acpi.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += p[i];
    return s;
}

static const uint8_t *table_at(struct guest_mem *mem, uint64_t gpa, const char *sig)
{
    void *p;
    assert_int_equal(gm_ptr(mem, gpa, 36, &p), 0);
    uint32_t len;
    memcpy(&len, (uint8_t *)p + 4, 4);
    assert_int_equal(gm_ptr(mem, gpa, len, &p), 0);
    assert_memory_equal(p, sig, 4);
    assert_int_equal(sum(p, len), 0);
    return p;
}

static const struct acpi_virtio_dev devs[2] = {
    {.base = 0xd0000000, .size = 0x1000, .gsi = 5},
    {.base = 0xd0001000, .size = 0x1000, .gsi = 6},
};

static void test_tables(void **state)
{
    (void)state;
    struct guest_mem *mem;
    assert_int_equal(gm_create(64 << 20, NULL, &mem), 0);
    uint64_t rsdp_gpa = 0;
    assert_int_equal(acpi_write_tables(mem, 3, devs, 2, &rsdp_gpa), 0);
    assert_int_equal(rsdp_gpa, ACPI_BASE);
    assert_int_equal(rsdp_gpa % 16, 0);

    void *p;
    assert_int_equal(gm_ptr(mem, rsdp_gpa, 36, &p), 0);
    const uint8_t *r = p;
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(sum(r, 20), 0);
    assert_int_equal(sum(r, 36), 0);
    assert_int_equal(r[15], 2);
    uint64_t xsdt_gpa;
    memcpy(&xsdt_gpa, r + 24, 8);

    const uint8_t *x = table_at(mem, xsdt_gpa, "XSDT");
    uint32_t xlen;
    memcpy(&xlen, x + 4, 4);
    assert_int_equal(xlen, 36 + 2 * 8); /* exactly two entries: FADT and MADT */
    uint64_t fadt_gpa, madt_gpa;
    memcpy(&fadt_gpa, x + 36, 8);
    memcpy(&madt_gpa, x + 44, 8);
    const uint8_t *f = table_at(mem, fadt_gpa, "FACP");
    uint32_t flen;
    memcpy(&flen, f + 4, 4);
    assert_int_equal(flen, 276);
    uint32_t flags;
    memcpy(&flags, f + 112, 4);
    assert_true(flags & (1u << 20)); /* hardware-reduced */
    uint64_t dsdt_gpa;
    memcpy(&dsdt_gpa, f + 140, 8);
    const uint8_t *d = table_at(mem, dsdt_gpa, "DSDT");
    uint32_t dsdt_len;
    memcpy(&dsdt_len, d + 4, 4);
    assert_non_null(memmem(d, dsdt_len, "LNRO0005", 8));

    const uint8_t *m = table_at(mem, madt_gpa, "APIC");
    uint32_t madt_len;
    memcpy(&madt_len, m + 4, 4);
    unsigned cpus = 0, ioapics = 0;
    for (uint32_t off = 44; off + 2 <= madt_len; off += m[off + 1]) {
        assert_true(m[off + 1] >= 2);
        if (m[off] == 0) {
            assert_int_equal(m[off + 3], cpus); /* APIC id */
            cpus++;
        }
        if (m[off] == 1) {
            ioapics++;
            assert_int_equal(m[off + 2], 3); /* IOAPIC id after the CPUs */
        }
    }
    assert_int_equal(cpus, 3);
    assert_int_equal(ioapics, 1);

    /* Disassemble the DSDT with ACPICA when it is installed: the strongest check of the AML. */
    if (access("/usr/bin/iasl", X_OK) == 0) {
        char dir[] = "/tmp/vmrun-acpi-XXXXXX";
        assert_non_null(mkdtemp(dir));
        char path[128], cmd[512];
        snprintf(path, sizeof(path), "%s/dsdt.dat", dir);
        FILE *fp = fopen(path, "wb");
        assert_int_equal(fwrite(d, 1, dsdt_len, fp), dsdt_len);
        fclose(fp);
        snprintf(cmd, sizeof(cmd),
                 "cd %s && iasl -d dsdt.dat >log 2>&1 && "
                 "grep -q 'Device (VR01)' dsdt.dsl && grep -q 'LNRO0005' dsdt.dsl && "
                 "grep -q '0xD0001000' dsdt.dsl && grep -q 'Edge, ActiveHigh, Exclusive' dsdt.dsl "
                 "&& grep -A2 -q 'Interrupt (ResourceConsumer' dsdt.dsl",
                 dir);
        int rc = system(cmd);
        if (rc != 0) {
            snprintf(cmd, sizeof(cmd), "cat %s/log %s/dsdt.dsl", dir, dir);
            assert_int_equal(system(cmd), 0);
        }
        assert_int_equal(rc, 0);
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    } else {
        print_message("iasl not installed: DSDT disassembly check skipped\n");
    }
    gm_destroy(mem);
}

static void test_long_dsdt_pkglength(void **state)
{
    (void)state;
    /* Eight devices push the scope past 63 bytes: the multi-byte PkgLength form. */
    struct acpi_virtio_dev many[8];
    for (unsigned i = 0; i < 8; i++)
        many[i] =
            (struct acpi_virtio_dev){.base = 0xd0000000 + i * 0x1000, .size = 0x1000, .gsi = 5 + i};
    struct acpi_buf b = {0};
    assert_int_equal(acpi_build_dsdt_aml(many, 8, &b), 0);
    assert_int_equal(b.data[0], 0x10); /* ScopeOp */
    unsigned follow = b.data[1] >> 6;
    assert_true(follow >= 1);
    size_t len = b.data[1] & 0xf;
    for (unsigned i = 0; i < follow; i++)
        len |= (size_t)b.data[2 + i] << (4 + 8 * i);
    assert_int_equal(len, b.len - 1); /* PkgLength covers everything after the opcode */
    acpi_buf_free(&b);
}

static void test_rejects(void **state)
{
    (void)state;
    struct guest_mem *mem;
    assert_int_equal(gm_create(64 << 20, NULL, &mem), 0);
    uint64_t rsdp;
    assert_int_equal(acpi_write_tables(mem, 0, NULL, 0, &rsdp), -EINVAL);
    struct acpi_virtio_dev high = {.base = 1ULL << 33, .size = 0x1000, .gsi = 5};
    assert_int_equal(acpi_write_tables(mem, 1, &high, 1, &rsdp), -EINVAL);
    gm_destroy(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_long_dsdt_pkglength),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
