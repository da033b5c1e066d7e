/* The interface between the guest's ring-0 part (entry.S, kmain.c) and its ring-3 part.
 * Included by C and by assembly (__ASSEMBLER__). */
#ifndef GUEST_SYS_H
#define GUEST_SYS_H

/* GDT layout. 0x10/0x18 match the boot selectors the VMM enters with (Linux __BOOT_CS/__BOOT_DS);
 * user data/code follow in the order Linux uses (SYSRET's, though the guest never uses it). */
#define SEL_KCODE 0x10
#define SEL_KDATA 0x18
#define SEL_UDATA (0x20 | 3)
#define SEL_UCODE (0x28 | 3)
#define SEL_TSS 0x30
#define GDT_ENTRIES 8

/* IDT: exceptions 0-31, PIC vectors 0x20-0x2f; anything above is out of the IDT limit (#GP). */
#define IDT_ENTRIES 48
#define VEC_PIC_MASTER 0x20
#define VEC_PIC_SLAVE 0x28

/* RFLAGS of ring-3 code: IF=1, IOPL=3, reserved bit 1. This host drops IOPL in ring 3, so port
 * access from ring 3 rests on the TSS I/O bitmap (kmain.c); IOPL=3 covers hosts that keep it. */
#define USER_RFLAGS 0x3202
/* System calls: ring 3 calls sys_call(nr), which executes the ud2 at sys_gate; the #UD handler
 * (exc_ud in entry.S) recognises that address, serves the call in ring 0 and returns past the
 * ud2. Number in RAX, result in RAX, nothing else clobbered. */
#define SYS_WAIT 0 /* sti; hlt until the next interrupt. Returns the tick count. */

/* Second exit port, for QEMU: vmrun's exit port ABI_EXIT_PORT (0x510) is where QEMU has its
 * fw_cfg device, which its firmware needs, so an isa-debug-exit cannot sit there. A guest booted
 * through PVH (guest_pvh_boot != 0) powers off by writing the code to ABI_EXIT_PORT and then, if
 * it is still running, to this port (QEMU: -device isa-debug-exit,iobase=0xf4,iosize=0x04, exit
 * status (code << 1) | 1); under QEMU the first write only selects a fw_cfg entry. Booted by
 * vmrun, the guest writes ABI_EXIT_PORT only, as before. */
#define QEMU_EXIT_PORT 0xf4

/* Exit code when ring 0 takes an exception. */
#define EXIT_EXCEPTION 70

#define KSTACK_SIZE 16384
#define USTACK_SIZE 65536

#ifndef __ASSEMBLER__
#include <stdint.h>

/* Ring-3 system call (usys.S): RAX = nr; returns RAX. */
uint64_t sys_call(uint64_t nr);
extern char sys_gate[];

/* Timer ticks, incremented by the IRQ0 handler (ring 0); ring 3 reads it directly. */
extern volatile uint64_t guest_ticks;
/* Non-zero when the guest came in through the PVH entry (pvh_setup.c sets it before _start; it
 * lives in .data, which _start does not zero). Ring 3 reads it directly. */
extern volatile uint32_t guest_pvh_boot;
/* End of the guest image (linker script), 4 KiB aligned. */
extern char _end[];
#endif

#endif
