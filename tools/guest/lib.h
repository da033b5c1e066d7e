/* Ring-3 helpers of the vmrun built-in guest: port I/O, the console, formatting, the exit port,
 * the kernel command line, the tick counter. Everything here runs natively in ring 3; the TSS I/O
 * bitmap (kmain.c) opens every port to it. */
#ifndef GUEST_LIB_H
#define GUEST_LIB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "portio.h"
#include "vmrun/guest_abi.h"
#include "sys.h"

/* Exit codes. */
#define EXIT_OK 0
#define EXIT_FAIL 1          /* blk/hostile: the disk or its device failed a check */
#define EXIT_USAGE 2         /* bad option, unknown workload, region does not fit */
#define EXIT_NO_TIMER 3      /* the PIT never ticked */
#define EXIT_WORKLOAD_FAIL 4 /* a workload detected an error */

static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}

static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* Current timer tick count (incremented by ring 0 on every IRQ0). */
static inline uint64_t ticks_now(void)
{
    return guest_ticks;
}

/* Console (COM1, polled). */
void putc_serial(char c);
void puts_serial(const char *s);
void put_n(const char *s, size_t n);
/* printf subset: %s %c %d %u %x with optional 0/width and l/ll/z modifiers, and %%. */
__attribute__((format(printf, 1, 2))) void gprintf(const char *fmt, ...);
/* The same formats into buf (capacity cap, always NUL-terminated when cap > 0; truncates). */
__attribute__((format(printf, 3, 4))) void gsnprintf(char *buf, size_t cap, const char *fmt, ...);
void vgsnprintf(char *buf, size_t cap, const char *fmt, va_list ap);

/* Power the VM off through the exit port; vmrun exits with code. */
__attribute__((noreturn)) void guest_exit(uint32_t code);
/* Print "vmrun guest: <msg>" and exit with code. */
__attribute__((noreturn, format(printf, 2, 3))) void fail(uint32_t code, const char *fmt, ...);

/* Strings and memory (the compiler may also emit calls to these). */
size_t strlen(const char *s);
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
bool str_eq(const char *a, size_t alen, const char *b);

/* Parse a whole decimal or 0x-hex number; false on empty, junk or overflow. */
bool parse_u64(const char *s, size_t len, uint64_t *out);

/* Kernel command line: tokens separated by blanks, "key=value" options, others ignored. */
void cmdline_set(const char *cmdline);
const char *cmdline_get(void);
/* The next token at *cursor (which moves past it), or NULL at the end; *len is its length. */
const char *cmdline_next(const char **cursor, size_t *len);
/* Value of the last "key=" token, or NULL (with *len = 0) if there is none. */
const char *opt_str(const char *key, size_t *len);
/* Numeric option in [min, max], def if absent; prints "bad option" and exits 2 if malformed. */
uint64_t opt_u64(const char *key, uint64_t def, uint64_t min, uint64_t max);

/* Timer (PIT channel 0 on IRQ0). */
void timer_start(unsigned hz);
/* Spin (bounded by the TSC) until the tick count advances twice; false if it never does. */
bool timer_check(void);
/* Sleep n ticks: hlt in ring 0 through SYS_WAIT, or spin with pause if idle=spin. */
void wait_ticks(uint64_t n);
void timer_set_spin(bool spin);
unsigned timer_hz(void);

/* splitmix64 finaliser: a strong 64-bit mixer. */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

#endif
