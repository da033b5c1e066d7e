/* Ring-3 side of the timer: program PIT channel 0, unmask IRQ0, wait for ticks. Ring 0 only
 * counts the ticks (timer_isr in entry.S) and halts on behalf of ring 3 (SYS_WAIT). */
#include "lib.h"

#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIC1_DATA 0x21

/* Budget for timer_check(): about 2 s at 3 GHz, 3 s at 2 GHz. */
#define TIMER_CHECK_TSC_BUDGET 6000000000ull

static unsigned g_hz;
static bool g_spin;

void timer_start(unsigned hz)
{
    unsigned div = (PIT_HZ + hz / 2) / hz;
    if (div > 0xffff)
        div = 0; /* 0 means 65536 */
    g_hz = hz;
    outb(PIT_CMD, 0x34); /* channel 0, lobyte/hibyte, mode 2 (rate generator), binary */
    outb(PIT_CH0, (uint8_t)div);
    outb(PIT_CH0, (uint8_t)(div >> 8));
    outb(PIC1_DATA, 0xfe); /* unmask IRQ0 only */
}

unsigned timer_hz(void)
{
    return g_hz;
}

void timer_set_spin(bool spin)
{
    g_spin = spin;
}

bool timer_check(void)
{
    uint64_t start = ticks_now();
    uint64_t t0 = rdtsc();
    while (ticks_now() < start + 2) {
        if (rdtsc() - t0 > TIMER_CHECK_TSC_BUDGET)
            return false;
        cpu_relax();
    }
    return true;
}

void wait_ticks(uint64_t n)
{
    uint64_t target = ticks_now() + n;
    while (ticks_now() < target) {
        if (g_spin)
            cpu_relax();
        else
            sys_call(SYS_WAIT);
    }
}
