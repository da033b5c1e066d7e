/* ELF64 loader. The image is untrusted: every header field is checked against the file size and
 * every segment against guest RAM before a byte is copied. */
#include "vmrun/boot.h"

#include "vmrun/guest_abi.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <elf.h>
#include <errno.h>
#include <string.h>

#define ELF_MAX_PHDRS 64

static int check_ehdr(const Elf64_Ehdr *eh, size_t size, const char *name)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
        return vlog_err(-ENOEXEC, "%s: not an ELF file", name);
    if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
        return vlog_err(-ENOEXEC, "%s: not a little-endian ELF64 file", name);
    if (eh->e_machine != EM_X86_64)
        return vlog_err(-ENOEXEC, "%s: e_machine %u is not x86-64", name, eh->e_machine);
    if (eh->e_type != ET_EXEC)
        return vlog_err(-ENOEXEC, "%s: e_type %u is not an executable", name, eh->e_type);
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return vlog_err(-ENOEXEC, "%s: e_phentsize %u is not %zu", name, eh->e_phentsize,
                        sizeof(Elf64_Phdr));
    if (eh->e_phnum == 0 || eh->e_phnum > ELF_MAX_PHDRS)
        return vlog_err(-ENOEXEC, "%s: e_phnum %u outside 1..%d", name, eh->e_phnum, ELF_MAX_PHDRS);
    uint64_t end;
    if (__builtin_add_overflow(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), &end) ||
        end > size)
        return vlog_err(-ENOEXEC,
                        "%s: program headers (e_phoff 0x%llx) run past the end of the file", name,
                        (unsigned long long)eh->e_phoff);
    return 0;
}

static int load_segment(struct guest_mem *mem, const uint8_t *image, size_t size,
                        const Elf64_Phdr *ph, unsigned idx, const char *name)
{
    uint64_t fend;
    if (ph->p_filesz > ph->p_memsz)
        return vlog_err(-ENOEXEC, "%s: segment %u: p_filesz exceeds p_memsz", name, idx);
    if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &fend) || fend > size)
        return vlog_err(-ENOEXEC, "%s: segment %u: file range runs past the end of the file", name,
                        idx);
    /* Below 1 MiB live the zero page, page tables and command line. */
    if (ph->p_paddr < ABI_HIMEM_START)
        return vlog_err(-ENOEXEC, "%s: segment %u: p_paddr 0x%llx is below 1 MiB", name, idx,
                        (unsigned long long)ph->p_paddr);
    void *dst;
    if (gm_ptr(mem, ph->p_paddr, ph->p_memsz, &dst) != 0)
        return vlog_err(-ENOEXEC, "%s: segment %u: [0x%llx, +0x%llx) is not inside guest RAM", name,
                        idx, (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz);
    memcpy(dst, image + ph->p_offset, ph->p_filesz);
    memset((uint8_t *)dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
    return 0;
}

int boot_load_elf(struct guest_mem *mem, const void *image, size_t size, const char *name,
                  uint64_t *entry_out, uint64_t *end_out)
{
    const uint8_t *img = image;
    if (size < sizeof(Elf64_Ehdr))
        return vlog_err(-ENOEXEC, "%s: too short for an ELF header (%zu bytes)", name, size);
    Elf64_Ehdr eh;
    memcpy(&eh, img, sizeof(eh));
    int err = check_ehdr(&eh, size, name);
    if (err)
        return err;

    uint64_t top = 0;
    bool entry_ok = false;
    unsigned loaded = 0;
    for (unsigned i = 0; i < eh.e_phnum; i++) {
        Elf64_Phdr ph;
        memcpy(&ph, img + eh.e_phoff + (uint64_t)i * sizeof(ph), sizeof(ph));
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
            continue;
        err = load_segment(mem, img, size, &ph, i, name);
        if (err)
            return err;
        loaded++;
        uint64_t seg_end = ph.p_paddr + ph.p_memsz; /* no overflow: checked inside RAM */
        if (seg_end > top)
            top = seg_end;
        if (eh.e_entry >= ph.p_paddr && eh.e_entry < seg_end)
            entry_ok = true;
    }
    if (!loaded)
        return vlog_err(-ENOEXEC, "%s: no loadable segments", name);
    if (!entry_ok)
        return vlog_err(-ENOEXEC, "%s: entry point 0x%llx is outside every loaded segment", name,
                        (unsigned long long)eh.e_entry);
    *entry_out = eh.e_entry;
    if (end_out)
        *end_out = top;
    return 0;
}
