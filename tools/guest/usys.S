/* Ring-3 system call stub: the ud2 at sys_gate traps into ring 0 (exc_ud in entry.S), which
 * serves the call and resumes after it. See sys.h. */
#include "sys.h"

    .section .text, "ax", @progbits
    .code64

/* uint64_t sys_call(uint64_t nr) */
    .globl sys_call
sys_call:
    mov %rdi, %rax
    .globl sys_gate
sys_gate:
    ud2
    ret

    .section .note.GNU-stack, "", @progbits
