/* ELF loading against hostile headers, and the boot_params / page tables vmrun writes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/boot.h"
#include "vmrun/guest_abi.h"
#include "vmrun/mem.h"
#include "tiny_elf.h"

#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define MEM (64ULL << 20)

struct img {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
    uint8_t code[64];
};

static void make_elf(struct img *im)
{
    memset(im, 0, sizeof(*im));
    tiny_elf_header(&im->eh, 0x200010, offsetof(struct img, ph), 2);
    im->ph[0].p_type = PT_LOAD;
    im->ph[0].p_offset = offsetof(struct img, code);
    im->ph[0].p_paddr = 0x200000;
    im->ph[0].p_filesz = sizeof(im->code);
    im->ph[0].p_memsz = 0x3000; /* bss beyond the file part */
    im->ph[1].p_type = PT_NOTE;
    for (size_t i = 0; i < sizeof(im->code); i++)
        im->code[i] = (uint8_t)(0xc0 + i);
}

static int setup(void **state)
{
    struct guest_mem *mem;
    if (gm_create(MEM, NULL, &mem) != 0)
        return -1;
    *state = mem;
    return 0;
}

static int teardown(void **state)
{
    gm_destroy(*state);
    return 0;
}

static void test_elf_loads(void **state)
{
    struct guest_mem *mem = *state;
    struct img im;
    make_elf(&im);
    void *p;
    assert_int_equal(gm_ptr(mem, 0x200000 + sizeof(im.code), 16, &p), 0);
    memset(p, 0xee, 16); /* must be zeroed as bss */
    uint64_t entry, end;
    assert_int_equal(boot_load_elf(mem, &im, sizeof(im), "t", &entry, &end), 0);
    assert_int_equal(entry, 0x200010);
    assert_int_equal(end, 0x203000);
    assert_int_equal(gm_ptr(mem, 0x200000, sizeof(im.code) + 16, &p), 0);
    assert_memory_equal(p, im.code, sizeof(im.code));
    uint8_t zeros[16] = {0};
    assert_memory_equal((uint8_t *)p + sizeof(im.code), zeros, 16);
}

static void expect_reject(struct guest_mem *mem, struct img *im, size_t size)
{
    uint64_t entry = 0x1234;
    assert_int_equal(boot_load_elf(mem, im, size, "hostile", &entry, NULL), -ENOEXEC);
    assert_int_equal(entry, 0x1234);
}

static void test_elf_hostile(void **state)
{
    struct guest_mem *mem = *state;
    struct img im;

    make_elf(&im);
    expect_reject(mem, &im, sizeof(Elf64_Ehdr) - 1); /* truncated header */
    make_elf(&im);
    im.eh.e_ident[1] = 'X';
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_ident[EI_CLASS] = ELFCLASS32;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_machine = EM_AARCH64;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_type = ET_DYN;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_phentsize = 32;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_phnum = 0;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_phnum = 1000;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_phoff = UINT64_MAX - 8; /* overflow */
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    expect_reject(mem, &im, offsetof(struct img, ph) + sizeof(Elf64_Phdr)); /* phdrs cut off */
    make_elf(&im);
    expect_reject(mem, &im, sizeof(im) - 1); /* segment data cut off */
    make_elf(&im);
    im.ph[0].p_offset = UINT64_MAX - 4;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.ph[0].p_filesz = im.ph[0].p_memsz + 1;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.ph[0].p_paddr = MEM - 0x1000; /* runs past the end of RAM */
    im.eh.e_entry = MEM - 0x1000;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.ph[0].p_paddr = UINT64_MAX - 0x1000; /* wraps */
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.ph[0].p_paddr = 0x7000; /* would overwrite the zero page */
    im.eh.e_entry = 0x7000;
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.eh.e_entry = 0x900000; /* not inside a segment */
    expect_reject(mem, &im, sizeof(im));
    make_elf(&im);
    im.ph[0].p_type = PT_NULL; /* nothing to load */
    expect_reject(mem, &im, sizeof(im));
}

static void test_zero_page(void **state)
{
    struct guest_mem *mem = *state;
    struct boot_params_input in = {
        .cmdline = "console=ttyS0 hello", .initrd_gpa = 0x3000000, .initrd_size = 0x1000};
    assert_int_equal(boot_write_zero_page(mem, &in), 0);
    struct boot_params bp;
    assert_int_equal(gm_read(mem, ABI_ZERO_PAGE, &bp, sizeof(bp), sizeof(bp)), 0);
    assert_int_equal(bp.hdr.header, 0x53726448);
    assert_int_equal(bp.hdr.cmd_line_ptr, ABI_CMDLINE);
    char cmd[64];
    assert_int_equal(gm_read(mem, ABI_CMDLINE, cmd, sizeof(cmd), 20), 0);
    assert_string_equal(cmd, "console=ttyS0 hello");
    assert_int_equal(bp.hdr.ramdisk_image, 0x3000000);
    assert_int_equal(bp.hdr.ramdisk_size, 0x1000);
    /* RAM below the EBDA, reserved EBDA and BIOS area, RAM from 1 MiB to the end. */
    assert_int_equal(bp.e820_entries, 4);
    assert_int_equal(bp.e820_table[0].addr, 0);
    assert_int_equal(bp.e820_table[0].size, ABI_EBDA_START);
    assert_int_equal(bp.e820_table[0].type, 1);
    assert_int_equal(bp.e820_table[1].type, 2);
    assert_int_equal(bp.e820_table[3].addr, ABI_HIMEM_START);
    assert_int_equal(bp.e820_table[3].addr + bp.e820_table[3].size, MEM);
    assert_int_equal(bp.e820_table[3].type, 1);

    char *huge = malloc(ABI_CMDLINE_MAX + 1);
    memset(huge, 'a', ABI_CMDLINE_MAX);
    huge[ABI_CMDLINE_MAX] = 0;
    struct boot_params_input big = {.cmdline = huge};
    assert_int_equal(boot_write_zero_page(mem, &big), -E2BIG);
    free(huge);
}

static void test_e820_above_4g(void **state)
{
    (void)state;
    struct guest_mem *mem;
    uint64_t size = (3ULL << 30) + (64ULL << 20);
    assert_int_equal(gm_create(size, NULL, &mem), 0);
    struct boot_params_input in = {.cmdline = ""};
    assert_int_equal(boot_write_zero_page(mem, &in), 0);
    struct boot_params bp;
    assert_int_equal(gm_read(mem, ABI_ZERO_PAGE, &bp, sizeof(bp), sizeof(bp)), 0);
    assert_int_equal(bp.e820_entries, 5);
    assert_int_equal(bp.e820_table[3].addr + bp.e820_table[3].size, GM_MMIO_HOLE_START);
    assert_int_equal(bp.e820_table[4].addr, GM_MMIO_HOLE_END);
    assert_int_equal(bp.e820_table[4].size, 64ULL << 20);
    gm_destroy(mem);
}

static void test_page_tables(void **state)
{
    struct guest_mem *mem = *state;
    assert_int_equal(boot_write_tables(mem), 0);
    uint64_t e;
    assert_int_equal(gm_read(mem, ABI_PML4, &e, sizeof(e), sizeof(e)), 0);
    assert_int_equal(e, ABI_PDPT | 0x7);
    /* 4 GiB identity-mapped with 2 MiB user-accessible pages; the entry for 3 GiB + 2 MiB. */
    assert_int_equal(gm_read(mem, ABI_PDPT + 3 * 8, &e, sizeof(e), sizeof(e)), 0);
    assert_int_equal(e, (ABI_PD_BASE + 3 * 4096) | 0x7);
    assert_int_equal(gm_read(mem, ABI_PD_BASE + 3 * 4096 + 8, &e, sizeof(e), sizeof(e)), 0);
    assert_int_equal(e, ((3ULL << 30) + (2ULL << 20)) | 0x87);
    assert_int_equal(gm_read(mem, ABI_PDPT + 4 * 8, &e, sizeof(e), sizeof(e)), 0);
    assert_int_equal(e, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_elf_loads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_elf_hostile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_page, setup, teardown),
        cmocka_unit_test(test_e820_above_4g),
        cmocka_unit_test_setup_teardown(test_page_tables, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
