/* boot_params ("zero page") for the 64-bit boot protocol: e820 map from the RAM regions,
 * command line, initrd. */
#include "vmrun/boot.h"

#include "vmrun/guest_abi.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <asm/bootparam.h>
#include <errno.h>
#include <string.h>

#define E820_RAM 1
#define E820_RESERVED 2
#define BIOS_AREA_START 0xe0000 /* ACPI tables, then the MP table at 0xf0000 */

static int add_e820(struct boot_params *bp, uint64_t addr, uint64_t size, uint32_t type)
{
    if (bp->e820_entries >= E820_MAX_ENTRIES_ZEROPAGE)
        return -E2BIG;
    struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
    e->addr = addr;
    e->size = size;
    e->type = type;
    return 0;
}

/* Low memory keeps the PC layout Linux expects: RAM up to the EBDA, a reserved EBDA and BIOS
 * area (where an MP table can live), then RAM from 1 MiB. */
static int build_e820(struct boot_params *bp, const struct guest_mem *mem)
{
    int err = 0;
    for (size_t i = 0; i < gm_region_count(mem) && !err; i++) {
        struct gm_region r;
        gm_region_get(mem, i, &r);
        if (r.gpa == 0) {
            if (r.size <= ABI_HIMEM_START)
                return -EINVAL;
            err = add_e820(bp, 0, ABI_EBDA_START, E820_RAM);
            if (!err)
                err = add_e820(bp, ABI_EBDA_START, 0xa0000 - ABI_EBDA_START, E820_RESERVED);
            if (!err)
                err =
                    add_e820(bp, BIOS_AREA_START, ABI_HIMEM_START - BIOS_AREA_START, E820_RESERVED);
            if (!err)
                err = add_e820(bp, ABI_HIMEM_START, r.size - ABI_HIMEM_START, E820_RAM);
        } else {
            err = add_e820(bp, r.gpa, r.size, E820_RAM);
        }
    }
    return err;
}

int boot_write_zero_page(struct guest_mem *mem, const struct boot_params_input *in)
{
    struct boot_params bp;
    memset(&bp, 0, sizeof(bp));
    const char *cmdline = in->cmdline;
    uint64_t initrd_gpa = in->initrd_gpa, initrd_size = in->initrd_size;
    /* The kernel's own header first (protocol version, alignment, init_size), then the fields
     * a boot loader owns are overwritten below. */
    if (in->hdr && in->hdr->len) {
        size_t n = in->hdr->len < sizeof(bp.hdr) ? in->hdr->len : sizeof(bp.hdr);
        memcpy(&bp.hdr, in->hdr->bytes, n);
    }
    bp.hdr.boot_flag = 0xaa55;
    bp.hdr.header = 0x53726448; /* "HdrS" */
    if (!bp.hdr.version)
        bp.hdr.version = 0x020f;
    if (!bp.hdr.kernel_alignment)
        bp.hdr.kernel_alignment = 0x1000000;
    bp.hdr.type_of_loader = 0xff; /* undefined loader */
    bp.hdr.loadflags |= LOADED_HIGH;

    size_t len = strlen(cmdline);
    if (len + 1 > ABI_CMDLINE_MAX)
        return vlog_err(-E2BIG, "command line: %zu bytes, at most %d allowed", len,
                        ABI_CMDLINE_MAX - 1);
    int err = gm_write(mem, ABI_CMDLINE, cmdline, len + 1, len + 1);
    if (err)
        return vlog_err(err, "command line: cannot write at 0x%x", ABI_CMDLINE);
    bp.hdr.cmd_line_ptr = ABI_CMDLINE;
    bp.hdr.cmdline_size = (uint32_t)len;

    if (initrd_size) {
        if (initrd_gpa + initrd_size > GM_MMIO_HOLE_START)
            return vlog_err(-EINVAL, "initrd: must lie below 4 GiB");
        bp.hdr.ramdisk_image = (uint32_t)initrd_gpa;
        bp.hdr.ramdisk_size = (uint32_t)initrd_size;
    }
    bp.acpi_rsdp_addr = in->acpi_rsdp; /* protocol 2.14: saves the kernel a scan */
    err = build_e820(&bp, mem);
    if (err)
        return vlog_err(err, "e820 map");
    err = gm_write(mem, ABI_ZERO_PAGE, &bp, sizeof(bp), sizeof(bp));
    if (err)
        return vlog_err(err, "boot_params: cannot write at 0x%x", ABI_ZERO_PAGE);
    return 0;
}
