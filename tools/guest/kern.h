/* Ring-0-only helpers of the vmrun built-in guest, shared by kmain.c and pvh.c (both compiled
 * into .text.kernel). Ring-3 code has its own (lib.h); neither may call the other's. */
#ifndef GUEST_KERN_H
#define GUEST_KERN_H

#include <stdint.h>

#include "portio.h"

/* Polled COM1 output from ring 0 (kmain.c). */
void kputc(char c);
void kputs(const char *s);
void kputhex(uint64_t v);
void kputdec(uint64_t v);
/* Power off with code through the exit ports (sys.h); does not return. */
__attribute__((noreturn)) void kexit(uint32_t code);

#endif
