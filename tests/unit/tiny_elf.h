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

/* Build an ELF whose entry runs code (at most 16 bytes). */
static inline void tiny_elf_make(struct tiny_elf *t, const uint8_t *code, size_t len)
{
    memset(t, 0, sizeof(*t));
    memcpy(t->eh.e_ident, ELFMAG, SELFMAG);
    t->eh.e_ident[EI_CLASS] = ELFCLASS64;
    t->eh.e_ident[EI_DATA] = ELFDATA2LSB;
    t->eh.e_ident[EI_VERSION] = EV_CURRENT;
    t->eh.e_type = ET_EXEC;
    t->eh.e_machine = EM_X86_64;
    t->eh.e_entry = TINY_ELF_LOAD;
    t->eh.e_phoff = offsetof(struct tiny_elf, ph);
    t->eh.e_phentsize = sizeof(Elf64_Phdr);
    t->eh.e_phnum = 1;
    t->ph.p_type = PT_LOAD;
    t->ph.p_offset = offsetof(struct tiny_elf, code);
    t->ph.p_paddr = TINY_ELF_LOAD;
    t->ph.p_filesz = t->ph.p_memsz = sizeof(t->code);
    memcpy(t->code, code, len < sizeof(t->code) ? len : sizeof(t->code));
}

#endif
