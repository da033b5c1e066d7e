/* Ring-0 entry, interrupt stubs and the system call gate of the vmrun built-in guest.
 * Everything here runs under KVM's instruction emulator on this host (~1 us per instruction):
 * keep it short, and never use int n, int3, xsave/xrstor, cmpxchg16b or sysret. */
#include "sys.h"

    .section .text, "ax", @progbits
    .code64

/* Entered in long mode, paging on, interrupts off, RSI = boot_params. */
    .globl _start
_start:
    cli
    cld
    lea kstack_top(%rip), %rsp
    mov %rsi, %rbx
    /* Zero .bss (stacks live outside it). */
    lea __bss_start(%rip), %rdi
    lea __bss_end(%rip), %rcx
    sub %rdi, %rcx
    shr $3, %rcx
    xor %eax, %eax
    rep stosq
    mov %rbx, %rdi
    call kmain
1:  hlt
    jmp 1b

/* void load_segments(void): reload every segment register after lgdt. */
    .globl load_segments
load_segments:
    mov $SEL_KDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss
    xor %eax, %eax
    mov %eax, %fs
    mov %eax, %gs
    pop %rax
    pushq $SEL_KCODE
    push %rax
    lretq

/* void enter_user(uint64_t rip, uint64_t rsp, uint64_t arg): iretq to ring 3 with
 * IF=1 and IOPL=3 (see sys.h); arg arrives in RDI. */
    .globl enter_user
enter_user:
    mov $SEL_UDATA, %eax
    mov %eax, %ds
    mov %eax, %es
    pushq $SEL_UDATA
    push %rsi
    pushq $USER_RFLAGS
    pushq $SEL_UCODE
    push %rdi
    mov %rdx, %rdi
    xor %esi, %esi
    xor %edx, %edx
    iretq

/* IRQ0 (PIT): count the tick, EOI the master PIC. */
    .globl timer_isr
timer_isr:
    incq guest_ticks(%rip)
    push %rax
    mov $0x20, %al
    outb %al, $0x20
    pop %rax
    iretq

/* Other PIC vectors: only spurious IRQ7/IRQ15 can arrive (everything else is masked);
 * a spurious interrupt must not be acknowledged. */
    .globl irq_ignore
irq_ignore:
    iretq

/* Exception stubs, 16 bytes each: exc_stubs + 16 * vector. Push a 0 error code where the CPU
 * does not, then the vector, and build a struct trap_frame for exception_handler(). */
    .balign 16
    .globl exc_stubs
exc_stubs:
    .set vec, 0
    .rept 32
    .balign 16
    .if (vec == 8) || (vec >= 10 && vec <= 14) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)
    .else
    pushq $0
    .endif
    pushq $vec
    jmp exc_common
    .set vec, vec + 1
    .endr

exc_common:
    cld
    mov %rsp, %rdi
    and $-16, %rsp
    call exception_handler
2:  cli
    hlt
    jmp 2b

/* Vector 6 (#UD). A ud2 at sys_gate (usys.S) is the guest's system call: on this host,
 * `syscall` from ring 3 reaches LSTAR without leaving ring 3, and `int n` in ring 3 cannot be
 * emulated, but exceptions from ring 3 are delivered through the IDT into ring 0. RAX holds the
 * call number and receives the result; no other register is touched. */
    .globl exc_ud
exc_ud:
    cmpq $sys_gate, (%rsp)
    jne 4f
    addq $2, (%rsp) /* resume after the ud2 */
    cmp $SYS_WAIT, %rax
    jne 3f
    sti
    hlt
    cli
    mov guest_ticks(%rip), %rax
    iretq
3:  mov $-1, %rax
    iretq
4:  pushq $0
    pushq $6
    jmp exc_common

    .section .stack, "aw", @nobits
    .balign 16
    .globl kstack_top, ustack_top
kstack:
    .skip KSTACK_SIZE
kstack_top:
ustack:
    .skip USTACK_SIZE
ustack_top:

    .section .note.GNU-stack, "", @progbits
