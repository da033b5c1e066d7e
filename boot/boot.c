/* Putting a kernel, its initrd and command line into guest RAM, whatever the kernel's format. */
#include "vmrun/boot.h"

#include "vmrun/bzimage.h"
#include "vmrun/file.h"
#include "vmrun/guest_abi.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KERNEL_MAX_BYTES (512u << 20)
#define INITRD_ALIGN 0x1000ULL
/* Linux's default initrd_addr_max for kernels that do not state theirs. */
#define INITRD_ADDR_MAX 0x7fffffffULL

/* A bzImage is unwrapped to the vmlinux inside and entered at its 64-bit entry, like a plain
 * vmlinux; its setup header is kept for boot_params. */
static int load_bzimage(struct guest_mem *mem, const void *img, size_t size, const char *name,
                        uint64_t *entry, uint64_t *end, struct boot_setup_header *hdr)
{
    struct bzimage_info bz;
    int err = bzimage_parse(img, size, name, &bz);
    if (err)
        return err;
    if (strcmp(bz.payload_format, "lz4") != 0)
        return vlog_err(-ENOTSUP,
                        "%s: %s-compressed payload; vmrun decompresses only LZ4 payloads. "
                        "Extract a vmlinux (linux/scripts/extract-vmlinux) and pass that",
                        name, bz.payload_format);
    void *elf;
    size_t elf_len;
    err = bzimage_decompress_lz4(bz.payload, bz.payload_len, name, &elf, &elf_len);
    if (err)
        return err;
    err = boot_load_elf(mem, elf, elf_len, name, entry, end);
    free(elf);
    if (err)
        return err;
    hdr->len = bz.setup_header_len < sizeof(hdr->bytes) ? bz.setup_header_len : sizeof(hdr->bytes);
    memcpy(hdr->bytes, bz.setup_header, hdr->len);
    return 0;
}

static int load_kernel_image(struct guest_mem *mem, const void *img, size_t size, const char *name,
                             uint64_t *entry, uint64_t *end, struct boot_setup_header *hdr)
{
    static const unsigned char elf_magic[4] = {0x7f, 'E', 'L', 'F'};
    if (size >= 4 && memcmp(img, elf_magic, 4) == 0)
        return boot_load_elf(mem, img, size, name, entry, end);
    if (bzimage_detect(img, size))
        return load_bzimage(mem, img, size, name, entry, end, hdr);
    return vlog_err(-ENOEXEC, "%s: neither an ELF64 vmlinux nor a bzImage", name);
}

/* The initrd goes as high as possible below the lower of the RAM end and initrd_addr_max,
 * above the kernel, read straight from the file into guest RAM. */
static int load_initrd(struct guest_mem *mem, const char *path, uint64_t kernel_end,
                       uint64_t *gpa_out, uint64_t *size_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vlog_err(-errno, "%s", path);
    struct stat st;
    int err = 0;
    struct gm_region low;
    gm_region_get(mem, 0, &low);
    uint64_t limit = low.gpa + low.size;
    if (limit > INITRD_ADDR_MAX + 1)
        limit = INITRD_ADDR_MAX + 1;
    if (fstat(fd, &st) < 0) {
        err = vlog_err(-errno, "%s", path);
    } else if (!S_ISREG(st.st_mode) || st.st_size <= 0) {
        err = vlog_err(-EINVAL, "%s: not a non-empty regular file", path);
    } else if ((uint64_t)st.st_size > limit ||
               ((limit - (uint64_t)st.st_size) & ~(INITRD_ALIGN - 1)) < kernel_end) {
        err = vlog_err(-EFBIG, "%s: %lld bytes do not fit in guest RAM above the kernel", path,
                       (long long)st.st_size);
    } else {
        uint64_t gpa = (limit - (uint64_t)st.st_size) & ~(INITRD_ALIGN - 1);
        void *dst;
        err = gm_ptr(mem, gpa, (uint64_t)st.st_size, &dst);
        if (!err)
            err = file_pread_full(fd, dst, (size_t)st.st_size, 0);
        if (err)
            vlog_err(err, "%s: read", path);
        *gpa_out = gpa;
        *size_out = (uint64_t)st.st_size;
    }
    close(fd);
    return err;
}

int boot_prepare(struct guest_mem *mem, const struct boot_source *src, struct boot_entry *entry)
{
    void *file = NULL;
    size_t size = src->image_size;
    const void *img = src->image;
    const char *name = src->kernel_path ? src->kernel_path : "built-in guest";
    int err = 0;
    if (src->kernel_path) {
        err = file_read_all(src->kernel_path, KERNEL_MAX_BYTES, &file, &size);
        if (err)
            return err;
        img = file;
    }
    if (!img || !size)
        return vlog_err(-EINVAL, "no kernel image");

    uint64_t kernel_end = 0;
    struct boot_setup_header hdr = {.len = 0};
    struct boot_params_input bpi = {.cmdline = src->cmdline ? src->cmdline : "", .hdr = &hdr};
    err = load_kernel_image(mem, img, size, name, &entry->rip, &kernel_end, &hdr);
    free(file);
    unsigned ncpus = src->ncpus ? src->ncpus : 1;
    if (!err)
        err = acpi_write_tables(mem, ncpus, src->virtio, src->nvirtio, &bpi.acpi_rsdp);
    if (!err && src->initrd_path)
        err = load_initrd(mem, src->initrd_path, kernel_end, &bpi.initrd_gpa, &bpi.initrd_size);
    if (!err)
        err = boot_write_zero_page(mem, &bpi);
    if (!err)
        err = boot_write_tables(mem);
    if (!err)
        err = boot_write_mptable(mem, ncpus);
    entry->zero_page = ABI_ZERO_PAGE;
    return err;
}
