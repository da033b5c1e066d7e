/* A one-segment ELF64 guest at 1 MiB for tests that need a real VM running known code. */
#ifndef VMRUN_TESTS_TINY_ELF_H
#define VMRUN_TESTS_TINY_ELF_H

#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TINY_ELF_LOAD 0x100000

struct tiny_elf {
    Elf64_Ehdr eh;
    Elf64_Phdr ph;
    uint8_t code[16];
};

/* A valid x86-64 executable header: entry, and phnum program headers at phoff. Test images
 * (here, test_boot.c, the fuzz seeds) start from it and then spoil what they test. */
static inline void tiny_elf_header(Elf64_Ehdr *eh, uint64_t entry, uint64_t phoff, uint16_t phnum)
{
    memset(eh, 0, sizeof(*eh));
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_EXEC;
    eh->e_machine = EM_X86_64;
    eh->e_entry = entry;
    eh->e_phoff = phoff;
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = phnum;
}

/* Build an ELF whose entry runs code (at most 16 bytes). */
static inline void tiny_elf_make(struct tiny_elf *t, const uint8_t *code, size_t len)
{
    memset(t, 0, sizeof(*t));
    tiny_elf_header(&t->eh, TINY_ELF_LOAD, offsetof(struct tiny_elf, ph), 1);
    t->ph.p_type = PT_LOAD;
    t->ph.p_offset = offsetof(struct tiny_elf, code);
    t->ph.p_paddr = TINY_ELF_LOAD;
    t->ph.p_filesz = t->ph.p_memsz = sizeof(t->code);
    memcpy(t->code, code, len < sizeof(t->code) ? len : sizeof(t->code));
}

#endif
