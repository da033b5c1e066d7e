/* Xen PVH entry of the vmrun built-in guest (QEMU: -kernel vmrun-guest.elf). The loader enters
 * pvh_start32 in 32-bit protected mode, paging off, EBX = physical address of the
 * struct hvm_start_info. This file builds the identity map, enters long mode and hands over to
 * pvh_setup() (pvh_setup.c), which turns the start_info into a Linux boot_params; then the normal
 * 64-bit entry _start runs with RSI = boot_params, exactly as under vmrun.
 * Ring 0 under KVM's emulator (~1 us per instruction): the 2048 PDEs for 0-4 GiB are the only
 * loop (~3 instructions each); never int n, int3, xsave/xrstor, cmpxchg16b or sysret. */
#include "sys.h"
#include "pvh.h"

/* The note QEMU (and Xen) look for: name "Xen", type PHYS32_ENTRY, desc = the 32-bit entry.
 * desc is 8 bytes: QEMU 7.2 reads a size_t from it for ELF64 files. */
    .section .note.Xen, "a", @note
    .balign 4
    .long 4f - 3f /* namesz */
    .long 6f - 5f /* descsz */
    .long XEN_ELFNOTE_PHYS32_ENTRY
3:  .asciz "Xen"
4:  .balign 4
5:  .quad pvh_start32
6:  .balign 4

/* 32-bit code lives in its own input section (.text32 -> .text.kernel32, guest.ld) so the
 * ring-0 check can disassemble it as i386 code. */
    .section .text32, "ax", @progbits
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi /* start_info, up to pvh_setup() */
    lgdt pvh_gdt_desc
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    mov %eax, %fs
    mov %eax, %gs

    /* PML4 and PDPT: zero, then PML4[0] -> PDPT, PDPT[0..3] -> the 0-4 GiB page directories.
     * The high halves of these entries are the zeroes just written. */
    mov $pvh_pml4, %edi
    xor %eax, %eax
    mov $(2 * 4096 / 4), %ecx
    rep stosl
    movl $(pvh_pdpt + PTE_TABLE), pvh_pml4
    movl $(pvh_pd + 0 * 4096 + PTE_TABLE), pvh_pdpt + 0
    movl $(pvh_pd + 1 * 4096 + PTE_TABLE), pvh_pdpt + 8
    movl $(pvh_pd + 2 * 4096 + PTE_TABLE), pvh_pdpt + 16
    movl $(pvh_pd + 3 * 4096 + PTE_TABLE), pvh_pdpt + 24

    /* 2048 2 MiB PDEs for 0-4 GiB, 8 per iteration, both halves written (nothing here relies
     * on the loader having zeroed this area). */
    mov $pvh_pd, %edi
    mov $PTE_2M, %eax
    xor %edx, %edx
    mov $0x200000, %ebx
    mov $(PVH_LOW_GIB * 512 / 8), %ecx
1:
    .irp i, 0, 1, 2, 3, 4, 5, 6, 7
    mov %eax, 8 * \i(%edi)
    mov %edx, 8 * \i + 4(%edi)
    add %ebx, %eax
    .endr
    add $64, %edi
    dec %ecx
    jnz 1b

    /* Long mode: PAE, CR3, EFER.LME, then paging. */
    mov $PVH_CR4, %eax
    mov %eax, %cr4
    mov $pvh_pml4, %eax
    mov %eax, %cr3
    mov $MSR_EFER, %ecx
    rdmsr
    or $EFER_LME, %eax
    wrmsr
    mov $PVH_CR0, %eax
    mov %eax, %cr0
    ljmp $SEL_KCODE, $pvh_start64

    .section .text, "ax", @progbits
    .code64
/* Long mode, CS = SEL_KCODE of pvh_gdt, ESI = start_info. */
pvh_start64:
    lea kstack_top(%rip), %rsp
    mov %esi, %edi
    call pvh_setup /* returns the boot_params address, or reports and exits */
    mov %rax, %rsi
    jmp _start

/* Boot GDT: the selectors vmrun enters with (sys.h), 64-bit code 0x10 and data 0x18, accessed
 * bits preset. kmain() installs its own GDT later. */
    .section .rodata
    .balign 8
pvh_gdt:
    .quad 0, 0
    .quad 0x00af9b000000ffff /* SEL_KCODE: 64-bit code, DPL 0 */
    .quad 0x00cf93000000ffff /* SEL_KDATA: flat data, DPL 0 (also valid in 32-bit mode) */
pvh_gdt_end:
    .balign 2
pvh_gdt_desc:
    .word pvh_gdt_end - pvh_gdt - 1
    .long pvh_gdt

/* The PVH path's page tables and boot_params: outside .bss, which _start zeroes while they are
 * in use; guest.ld places this after the stacks (NOLOAD, not part of the file). */
    .section .pvh_area, "aw", @nobits
    .balign 4096
    .globl pvh_pml4, pvh_pdpt, pvh_pd, pvh_boot_params
pvh_pml4:
    .skip 4096
pvh_pdpt:
    .skip 4096
pvh_pd:
    .skip 4096 * PVH_MAX_GIB
pvh_boot_params:
    .skip 4096

    .section .note.GNU-stack, "", @progbits
