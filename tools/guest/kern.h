/* Ring-0-only helpers of the vmrun built-in guest, shared by kmain.c and pvh.c (both compiled
 * into .text.kernel). Ring-3 code has its own (lib.h); neither may call the other's. */
#ifndef GUEST_KERN_H
#define GUEST_KERN_H

#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

/* Polled COM1 output from ring 0 (kmain.c). */
void kputc(char c);
void kputs(const char *s);
void kputhex(uint64_t v);
void kputdec(uint64_t v);
/* Power off with code through the exit ports (sys.h); does not return. */
__attribute__((noreturn)) void kexit(uint32_t code);

#endif
