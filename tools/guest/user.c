/* Ring-3 main of the vmrun built-in guest: reads the boot information, starts the timer and
 * runs the workload named on the command line. Runs natively (ring 0 is emulated here). */
#include "user.h"

/* Linux boot_params (zero page) offsets. */
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE 0x2d0
#define E820_ENTRY_SIZE 20

#define MIB (1024ul * 1024)
#define HUGE_2M (2 * MIB)

struct workload {
    const char *name;
    void (*run)(const struct guest_env *env);
};

/* Add new workloads (one ring-3 file each) here. */
static const struct workload workloads[] = {
    {"fill", workload_fill},
    {"blk", workload_blk},
    {"hostile", workload_hostile},
};

static struct guest_env g_env;
static char g_cmdline[ABI_CMDLINE_MAX];

static void read_boot_params(struct guest_env *env, uint64_t bp)
{
    const volatile uint8_t *p = (const volatile uint8_t *)bp;
    uint32_t cmd_ptr;
    unsigned n;

    env->boot_params = bp;
    memcpy(&cmd_ptr, (const void *)(bp + BP_CMD_LINE_PTR), sizeof(cmd_ptr));
    if (cmd_ptr) {
        const volatile char *src = (const volatile char *)(uint64_t)cmd_ptr;
        size_t i;
        for (i = 0; i < sizeof(g_cmdline) - 1 && src[i]; i++)
            g_cmdline[i] = src[i];
        g_cmdline[i] = '\0';
    }
    env->cmdline = g_cmdline;

    n = p[BP_E820_ENTRIES];
    if (n > E820_MAX) {
        gprintf("vmrun guest: e820 claims %u entries, using %u\n", n, E820_MAX);
        n = E820_MAX;
    }
    env->n_e820 = n;
    env->ram_bytes = 0;
    for (unsigned i = 0; i < n; i++) {
        const void *e = (const void *)(bp + BP_E820_TABLE + (uint64_t)i * E820_ENTRY_SIZE);
        memcpy(&env->e820[i].addr, e, 8);
        memcpy(&env->e820[i].size, (const char *)e + 8, 8);
        memcpy(&env->e820[i].type, (const char *)e + 16, 4);
        if (env->e820[i].type == E820_RAM)
            env->ram_bytes += env->e820[i].size;
    }
    env->image_end = (uint64_t)_end;
}

uint64_t ram_region_find(const struct guest_env *env, uint64_t len)
{
    uint64_t start = (env->image_end + HUGE_2M - 1) & ~(HUGE_2M - 1);
    for (unsigned i = 0; i < env->n_e820; i++) {
        const struct e820_entry *e = &env->e820[i];
        uint64_t lo, hi, end;
        if (e->type != E820_RAM || __builtin_add_overflow(e->addr, e->size, &hi))
            continue;
        lo = e->addr > start ? e->addr : start;
        if (__builtin_add_overflow(lo, HUGE_2M - 1, &lo))
            continue;
        lo &= ~(HUGE_2M - 1);
        if (!__builtin_add_overflow(lo, len, &end) && end <= hi)
            return lo;
    }
    return 0;
}

void workload_heartbeat(const struct guest_env *env)
{
    uint64_t n = opt_u64("heartbeats", 3, 1, 1000000);
    uint64_t interval = timer_hz() / 10 ? timer_hz() / 10 : 1;
    (void)env;
    for (uint64_t i = 1; i <= n; i++) {
        wait_ticks(interval);
        gprintf("heartbeat %lu ticks=%lu\n", i, ticks_now());
    }
    guest_exit(EXIT_OK);
}

__attribute__((noreturn)) void umain(uint64_t boot_params)
{
    struct guest_env *env = &g_env;
    const char *name;
    size_t len;

    puts_serial("vmrun guest: up\n");
    read_boot_params(env, boot_params);
    cmdline_set(env->cmdline);
    gprintf("vmrun guest: ram %lu MiB, cmdline \"%s\"\n", env->ram_bytes / MIB, env->cmdline);

    unsigned hz = (unsigned)opt_u64("hz", 100, 19, 1000);
    name = opt_str("idle", &len);
    if (name && str_eq(name, len, "spin"))
        timer_set_spin(true);
    else if (name && !str_eq(name, len, "hlt")) {
        puts_serial("vmrun guest: bad option idle=");
        put_n(name, len);
        putc_serial('\n');
        guest_exit(EXIT_USAGE);
    }
    timer_start(hz);
    if (!timer_check())
        fail(EXIT_NO_TIMER, "timer not ticking");

    name = opt_str("workload", &len);
    if (!name)
        workload_heartbeat(env);
    for (size_t i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
        if (str_eq(name, len, workloads[i].name))
            workloads[i].run(env);
    puts_serial("vmrun guest: unknown workload ");
    put_n(name, len);
    putc_serial('\n');
    guest_exit(EXIT_USAGE);
}
