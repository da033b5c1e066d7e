/* Guest memory: layout around the MMIO hole, bounds checks, and what the host mapping looks like.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>
#include <string.h>

#include <cmocka.h>

#include "vmrun/mem.h"

#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

static struct guest_mem *create_ok(uint64_t size)
{
    struct guest_mem *mem = NULL;
    assert_int_equal(gm_create(size, NULL, &mem), 0);
    assert_non_null(mem);
    return mem;
}

static void test_create_rejects_bad_sizes(void **state)
{
    (void)state;
    struct guest_mem *mem = (struct guest_mem *)&mem; /* must be reset to NULL on failure */
    const uint64_t bad[] = {
        0, 1, 4095, 4097, 64 * MiB + 512, GM_MAX_RAM + 4096, UINT64_MAX, UINT64_MAX - 4095};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(gm_create(bad[i], NULL, &mem), -EINVAL);
        assert_null(mem);
    }
    assert_int_equal(gm_create(64 * MiB, NULL, NULL), -EINVAL);
}

static void test_destroy_null(void **state)
{
    (void)state;
    gm_destroy(NULL);
}

static void test_small_guest_one_region(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(64 * MiB);
    struct gm_region r;
    assert_int_equal(gm_region_count(mem), 1);
    assert_int_equal(gm_ram_size(mem), 64 * MiB);
    assert_int_equal(gm_top(mem), 64 * MiB);
    assert_int_equal(gm_region_get(mem, 0, &r), 0);
    assert_int_equal(r.gpa, 0);
    assert_int_equal(r.size, 64 * MiB);
    assert_non_null(r.host);
    /* Host VA must be 2 MiB aligned for KVM to back guest huge pages with host huge pages. */
    assert_int_equal((uintptr_t)r.host % (2 * MiB), 0);
    assert_int_equal(gm_region_get(mem, 1, &r), -EINVAL);
    assert_int_equal(gm_region_get(mem, 0, NULL), -EINVAL);
    gm_destroy(mem);
}

static void test_single_page_guest(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(4096);
    void *p;
    assert_int_equal(gm_top(mem), 4096);
    assert_int_equal(gm_ptr(mem, 4095, 1, &p), 0);
    assert_int_equal(gm_ptr(mem, 4096, 0, &p), -EFAULT);
    gm_destroy(mem);
}

static void test_exactly_hole_start_is_one_region(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(GM_MMIO_HOLE_START);
    assert_int_equal(gm_region_count(mem), 1);
    assert_int_equal(gm_top(mem), GM_MMIO_HOLE_START);
    gm_destroy(mem);
}

static void test_large_guest_two_regions(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(3 * GiB + 64 * MiB);
    struct gm_region lo, hi;
    assert_int_equal(gm_region_count(mem), 2);
    assert_int_equal(gm_ram_size(mem), 3 * GiB + 64 * MiB);
    assert_int_equal(gm_top(mem), 4 * GiB + 64 * MiB);
    assert_int_equal(gm_region_get(mem, 0, &lo), 0);
    assert_int_equal(gm_region_get(mem, 1, &hi), 0);
    assert_int_equal(lo.gpa, 0);
    assert_int_equal(lo.size, 3 * GiB);
    assert_int_equal(hi.gpa, 4 * GiB);
    assert_int_equal(hi.size, 64 * MiB);
    /* One reservation mirroring GPA space: host offsets equal guest-physical offsets. */
    assert_ptr_equal((uint8_t *)hi.host, (uint8_t *)lo.host + 4 * GiB);
    assert_int_equal(gm_region_get(mem, 2, &hi), -EINVAL);
    gm_destroy(mem);
}

static void test_max_ram_accepted(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(GM_MAX_RAM);
    void *p;
    assert_int_equal(gm_top(mem), GM_MAX_RAM + (GM_MMIO_HOLE_END - GM_MMIO_HOLE_START));
    assert_int_equal(gm_ptr(mem, gm_top(mem) - 1, 1, &p), 0);
    assert_int_equal(gm_ptr(mem, gm_top(mem), 1, &p), -EFAULT);
    gm_destroy(mem);
}

static void test_ptr_bounds(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(3 * GiB + 64 * MiB);
    struct gm_region lo, hi;
    void *p = NULL;
    gm_region_get(mem, 0, &lo);
    gm_region_get(mem, 1, &hi);

    assert_int_equal(gm_ptr(mem, 0, 1, &p), 0);
    assert_ptr_equal(p, lo.host);
    assert_int_equal(gm_ptr(mem, 0, 3 * GiB, &p), 0); /* the whole region at once */
    assert_int_equal(gm_ptr(mem, 3 * GiB - 1, 1, &p), 0);
    assert_ptr_equal(p, (uint8_t *)lo.host + 3 * GiB - 1);
    assert_int_equal(gm_ptr(mem, 3 * GiB - 8, 8, &p), 0);
    assert_int_equal(gm_ptr(mem, 0x1000, 0, &p), 0); /* empty range at a valid address */
    assert_ptr_equal(p, (uint8_t *)lo.host + 0x1000);

    /* One past the end of the low region, inside the hole, and crossing into it. */
    assert_int_equal(gm_ptr(mem, 3 * GiB, 1, &p), -EFAULT);
    assert_null(p);
    assert_int_equal(gm_ptr(mem, 3 * GiB, 0, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, 3 * GiB + 0x1000, 4, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, 4 * GiB - 1, 1, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, 3 * GiB - 4, 8, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, 3 * GiB - 1, 2, &p), -EFAULT);
    /* Spanning the hole from one region to the other is still a crossing. */
    assert_int_equal(gm_ptr(mem, 3 * GiB - 1, 1 * GiB + 2, &p), -EFAULT);

    /* High region: first byte, last byte, one past the end. */
    assert_int_equal(gm_ptr(mem, 4 * GiB, 1, &p), 0);
    assert_ptr_equal(p, hi.host);
    assert_int_equal(gm_ptr(mem, 4 * GiB + 64 * MiB - 1, 1, &p), 0);
    assert_int_equal(gm_ptr(mem, 4 * GiB + 64 * MiB, 1, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, 4 * GiB + 64 * MiB - 2, 4, &p), -EFAULT);

    /* gpa + len wraps around 2^64. */
    assert_int_equal(gm_ptr(mem, UINT64_MAX - 1, 4, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, 0x1000, UINT64_MAX, &p), -EFAULT);
    assert_int_equal(gm_ptr(mem, UINT64_MAX, 0, &p), -EFAULT);

    assert_int_equal(gm_ptr(NULL, 0, 1, &p), -EINVAL);
    assert_int_equal(gm_ptr(mem, 0, 1, NULL), -EINVAL);
    gm_destroy(mem);
}

static void test_read_write_roundtrip(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(3 * GiB + 64 * MiB);
    const char msg[] = "hello, guest";
    char buf[sizeof(msg)] = {0};
    void *p;

    assert_int_equal(gm_write(mem, 0x2000, msg, sizeof(msg), sizeof(msg)), 0);
    assert_int_equal(gm_read(mem, 0x2000, buf, sizeof(buf), sizeof(msg)), 0);
    assert_memory_equal(buf, msg, sizeof(msg));
    assert_int_equal(gm_ptr(mem, 0x2000, sizeof(msg), &p), 0);
    assert_memory_equal(p, msg, sizeof(msg));

    /* The last bytes of each region, and fresh RAM reads as zero. */
    uint64_t ends[] = {3 * GiB - sizeof(msg), 4 * GiB + 64 * MiB - sizeof(msg)};
    for (size_t i = 0; i < 2; i++) {
        memset(buf, 0x55, sizeof(buf));
        assert_int_equal(gm_read(mem, ends[i], buf, sizeof(buf), sizeof(buf)), 0);
        for (size_t j = 0; j < sizeof(buf); j++)
            assert_int_equal(buf[j], 0);
        assert_int_equal(gm_write(mem, ends[i], msg, sizeof(msg), sizeof(msg)), 0);
        assert_int_equal(gm_read(mem, ends[i], buf, sizeof(buf), sizeof(buf)), 0);
        assert_memory_equal(buf, msg, sizeof(msg));
    }
    gm_destroy(mem);
}

static void test_read_write_errors(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(64 * MiB);
    uint8_t buf[16] = {0};

    /* The host buffer is shorter than the copy: the bug class that reads past a stack buffer. */
    assert_int_equal(gm_read(mem, 0, buf, sizeof(buf), sizeof(buf) + 1), -EINVAL);
    assert_int_equal(gm_write(mem, 0, buf, sizeof(buf), sizeof(buf) + 1), -EINVAL);
    assert_int_equal(gm_read(mem, 0, buf, 0, 1), -EINVAL);
    assert_int_equal(gm_read(mem, 0, NULL, 16, 16), -EINVAL);
    assert_int_equal(gm_write(mem, 0, NULL, 16, 16), -EINVAL);

    /* Guest range errors. */
    assert_int_equal(gm_read(mem, 64 * MiB, buf, sizeof(buf), 1), -EFAULT);
    assert_int_equal(gm_write(mem, 64 * MiB - 8, buf, sizeof(buf), 16), -EFAULT);
    assert_int_equal(gm_read(mem, UINT64_MAX - 1, buf, sizeof(buf), 4), -EFAULT);
    assert_int_equal(gm_write(mem, UINT64_MAX - 1, buf, sizeof(buf), 4), -EFAULT);

    /* Zero-length copies succeed at valid addresses, even with NULL buffers. */
    assert_int_equal(gm_read(mem, 0, NULL, 0, 0), 0);
    assert_int_equal(gm_write(mem, 64 * MiB - 1, NULL, 0, 0), 0);
    assert_int_equal(gm_read(mem, 64 * MiB, buf, sizeof(buf), 0), -EFAULT);

    assert_int_equal(gm_read(NULL, 0, buf, sizeof(buf), 1), -EINVAL);
    assert_int_equal(gm_write(NULL, 0, buf, sizeof(buf), 1), -EINVAL);
    gm_destroy(mem);
}

/* Find the /proc/self/maps line covering addr; returns 0 and copies the line and its bounds. */
static int maps_line(uintptr_t addr, char *out, size_t out_size, uintptr_t *lo, uintptr_t *hi)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[512];
    int rc = -ENOENT;
    if (!f)
        return -errno;
    while (fgets(line, sizeof(line), f)) {
        uintptr_t start, end;
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &start, &end) == 2 && start <= addr &&
            addr < end) {
            snprintf(out, out_size, "%s", line);
            *lo = start;
            *hi = end;
            rc = 0;
            break;
        }
    }
    fclose(f);
    return rc;
}

static void test_host_mappings(void **state)
{
    (void)state;
    struct guest_mem *mem = create_ok(3 * GiB + 64 * MiB);
    struct gm_region lo, hi;
    char line[512];
    uintptr_t start, end;
    gm_region_get(mem, 0, &lo);
    gm_region_get(mem, 1, &hi);

    /*
     * The whole hole is one reserved but inaccessible mapping, so a stray host access faults
     * instead of aliasing. Its neighbours are rw-, so the kernel cannot have merged it with them.
     */
    uintptr_t hole = (uintptr_t)lo.host + GM_MMIO_HOLE_START;
    assert_int_equal(maps_line(hole + 0x1000, line, sizeof(line), &start, &end), 0);
    assert_non_null(strstr(line, " ---p "));
    assert_int_equal(start, hole);
    assert_int_equal(end, (uintptr_t)lo.host + GM_MMIO_HOLE_END);

    assert_int_equal(maps_line((uintptr_t)lo.host, line, sizeof(line), &start, &end), 0);
    assert_non_null(strstr(line, " rw-p "));
    assert_int_equal(maps_line((uintptr_t)hi.host + 64 * MiB - 1, line, sizeof(line), &start, &end),
                     0);
    assert_non_null(strstr(line, " rw-p "));
    if (strstr(line, "[anon:"))
        assert_non_null(strstr(line, "[anon:vmrun-guest-ram]"));
    else
        print_message("kernel lacks CONFIG_ANON_VMA_NAME; mapping name not checked\n");
    gm_destroy(mem);
}

static void test_hugepages_option(void **state)
{
    (void)state;
    struct gm_options opts = {.hugepages = true};
    struct guest_mem *mem = NULL;
    /* Advice only: it must succeed whether or not the kernel has THP. */
    assert_int_equal(gm_create(64 * MiB, &opts, &mem), 0);
    assert_int_equal(gm_write(mem, 2 * MiB, "x", 1, 1), 0);
    /* With THP the region is flagged for huge pages (smaps "THPeligible" or VmFlags "hg"). */
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    bool found = false, hg = false;
    void *p;
    assert_int_equal(gm_ptr(mem, 0, 1, &p), 0);
    unsigned long want = (unsigned long)(uintptr_t)p;
    while (f && fgets(line, sizeof(line), f)) {
        unsigned long a, b;
        if (sscanf(line, "%lx-%lx", &a, &b) == 2)
            found = a <= want && want < b;
        else if (found && !strncmp(line, "VmFlags:", 8))
            hg = strstr(line, " hg") != NULL;
    }
    if (f)
        fclose(f);
    if (access("/sys/kernel/mm/transparent_hugepage/enabled", R_OK) == 0)
        assert_true(hg);
    gm_destroy(mem);
}

/* Any single non-zero byte, at either end or in between, makes a page non-zero. */
static void test_page_is_zero(void **state)
{
    (void)state;
    static uint8_t page[GM_PAGE_SIZE] __attribute__((aligned(64)));
    memset(page, 0, sizeof(page));
    assert_true(gm_page_is_zero(page));
    const size_t at[] = {0, 1, 63, 64, 2047, GM_PAGE_SIZE - 1};
    for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
        page[at[i]] = 0x80;
        assert_false(gm_page_is_zero(page));
        page[at[i]] = 0;
    }
    assert_true(gm_page_is_zero(page));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_rejects_bad_sizes),
        cmocka_unit_test(test_destroy_null),
        cmocka_unit_test(test_small_guest_one_region),
        cmocka_unit_test(test_single_page_guest),
        cmocka_unit_test(test_exactly_hole_start_is_one_region),
        cmocka_unit_test(test_large_guest_two_regions),
        cmocka_unit_test(test_max_ram_accepted),
        cmocka_unit_test(test_ptr_bounds),
        cmocka_unit_test(test_read_write_roundtrip),
        cmocka_unit_test(test_read_write_errors),
        cmocka_unit_test(test_host_mappings),
        cmocka_unit_test(test_hugepages_option),
        cmocka_unit_test(test_page_is_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
