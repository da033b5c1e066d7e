/* Fuzz target: the kernel image loaders, everything `--kernel FILE` feeds: bzimage_parse, the
 * LZ4 payload decompressor bzimage_decompress_lz4, and the ELF64 loader boot_load_elf, run
 * against plain guest memory from gm_create (no /dev/kvm needed).
 *
 * An input starting with the ELF magic goes straight to boot_load_elf; anything else is parsed
 * as a bzImage and, when its payload is LZ4, decompressed and the result loaded as the vmlinux
 * ELF it should be, as boot_prepare does. No hashes guard these files, so nothing is re-sealed.
 * The decompressor allocates what the payload's size trailer claims (up to 1 GiB); the harness
 * skips payloads claiming more than FUZZ_MAX_VMLINUX to keep runs fast. */
#include <elf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmrun/boot.h"
#include "vmrun/bzimage.h"
#include "vmrun/guest_abi.h"
#include "vmrun/mem.h"
#include "fuzz_guest.h"

#define FUZZ_RAM (8ULL << 20)
#define FUZZ_MAX_VMLINUX (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Loading only writes guest RAM, so one guest serves every run; a guard page follows it. */
static struct guest_mem *guest(void)
{
    static struct fuzz_guest g;
    if (!g.mem)
        fuzz_guest_create(&g, FUZZ_RAM);
    return g.mem;
}

/* A successful load promises an entry inside RAM above 1 MiB and an end no lower than it. */
static void load_elf(const uint8_t *img, size_t size)
{
    uint64_t entry = 0, end = 0;
    int rc = boot_load_elf(guest(), img, size, "fuzz.elf", &entry, &end);
    if (rc > 0)
        abort();
    if (rc == 0 && (entry < ABI_HIMEM_START || entry >= end || end > FUZZ_RAM))
        abort();
}

static void load_bzimage(const uint8_t *img, size_t size)
{
    struct bzimage_info bz;
    int rc = bzimage_parse(img, size, "fuzz.bzImage", &bz);
    if (rc > 0)
        abort();
    if (rc < 0)
        return;
    /* Everything the parser hands out must point inside the image. */
    const uint8_t *end = img + size;
    if (bz.setup_header < img || bz.setup_header_len > (size_t)(end - bz.setup_header) ||
        bz.payload < img || bz.payload_len > (size_t)(end - bz.payload) || !bz.payload_format)
        abort();
    if (strcmp(bz.payload_format, "lz4") != 0 || bz.payload_len < 4)
        return;
    const uint8_t *t = bz.payload + bz.payload_len - 4;
    uint32_t claimed =
        (uint32_t)t[0] | (uint32_t)t[1] << 8 | (uint32_t)t[2] << 16 | (uint32_t)t[3] << 24;
    if (claimed > FUZZ_MAX_VMLINUX)
        return;
    void *elf = NULL;
    size_t elf_len = 0;
    rc = bzimage_decompress_lz4(bz.payload, bz.payload_len, "fuzz.bzImage", &elf, &elf_len);
    if (rc > 0 || (rc == 0 && (!elf || elf_len != claimed)))
        abort();
    if (rc == 0) {
        load_elf(elf, elf_len);
        free(elf);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0)
        load_elf(data, size);
    else if (bzimage_detect(data, size))
        load_bzimage(data, size);
    else if (bzimage_parse(data, size, "fuzz.bzImage", &(struct bzimage_info){0}) == 0)
        abort(); /* parse must not accept what detect refuses */
    return 0;
}
