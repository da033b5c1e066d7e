/* The contract between vmrun and its built-in guest: fixed ports and numbers.
 * Plain #defines only: the freestanding guest includes this header too. */
#ifndef VMRUN_GUEST_ABI_H
#define VMRUN_GUEST_ABI_H

/* COM1 16550A UART, IRQ 4. */
#define ABI_COM1_PORT 0x3f8
#define ABI_COM1_IRQ 4

/* vmrun exit port: a 32-bit write ends the VM; vmrun exits with (value & 0xff). */
#define ABI_EXIT_PORT 0x510

/* i8042 command port; writing 0xfe resets the machine (Linux reboot=k); vmrun treats it as exit 0.
 */
#define ABI_I8042_CMD_PORT 0x64
#define ABI_I8042_RESET 0xfe

/* PIT (i8254) and master PIC (i8259), both in-kernel. The guest maps IRQ0 to this vector. */
#define ABI_TIMER_VECTOR 0x20

/* virtio-mmio devices (register layout version 2): device i at BASE + i * STRIDE, IRQ (GSI)
 * IRQ_BASE + i. vmrun announces each on the kernel command line as
 * " virtio_mmio.device=4K@0x<addr>:<irq>", the form Linux's virtio_mmio driver parses. */
#define ABI_VIRTIO_MMIO_BASE 0xd0000000ULL
#define ABI_VIRTIO_MMIO_STRIDE 0x1000ULL
#define ABI_VIRTIO_MMIO_SIZE 0x1000ULL
#define ABI_VIRTIO_IRQ_BASE 5
#define ABI_VIRTIO_MAX_DEVICES 8

/* Guest-physical layout vmrun uses when entering a kernel through the 64-bit boot protocol. */
#define ABI_BOOT_GDT 0x500
#define ABI_BOOT_IDT 0x520
#define ABI_ZERO_PAGE 0x7000
#define ABI_PML4 0x9000
#define ABI_PDPT 0xa000
#define ABI_PD_BASE 0xb000  /* one 4 KiB page directory per GiB, up to 32 */
#define ABI_CMDLINE 0x30000 /* up to ABI_CMDLINE_MAX bytes including the NUL */
#define ABI_CMDLINE_MAX 4096
#define ABI_EBDA_START 0x9fc00
#define ABI_HIMEM_START 0x100000

/* Boot segment selectors (Linux __BOOT_CS / __BOOT_DS). */
#define ABI_BOOT_CS 0x10
#define ABI_BOOT_DS 0x18

#endif
