/* An address bus: a sorted table of disjoint ranges, dispatched by binary search. */
#include "vmrun/bus.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "vmrun/log.h"

#define BUS_ACCESS_MAX 8
#define BUS_INITIAL_CAP 8

struct bus_range {
    uint64_t base;
    uint64_t len;
    bus_handler_fn fn;
    void *opaque;
};

/*
 * The range table is written only before vCPUs start and read-only afterwards, so dispatch takes
 * no lock. Only the unhandled-access bookkeeping is shared mutable state between vCPU threads.
 */
struct bus {
    char *name;
    struct bus_range *ranges; /* sorted by base, disjoint */
    size_t count;
    size_t cap;
    _Atomic uint64_t unhandled;
    pthread_mutex_t rl_lock; /* guards rl: the slow path, so a mutex is cheap enough */
    struct vlog_ratelimit rl;
};

int bus_create(const char *name, struct bus **out)
{
    if (!name || !out)
        return -EINVAL;
    *out = NULL;
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return -ENOMEM;
    bus->name = strdup(name);
    if (!bus->name) {
        free(bus);
        return -ENOMEM;
    }
    int rc = pthread_mutex_init(&bus->rl_lock, NULL);
    if (rc) {
        free(bus->name);
        free(bus);
        return -rc;
    }
    atomic_init(&bus->unhandled, 0);
    *out = bus;
    return 0;
}

void bus_destroy(struct bus *bus)
{
    if (!bus)
        return;
    pthread_mutex_destroy(&bus->rl_lock);
    free(bus->ranges);
    free(bus->name);
    free(bus);
}

/* Index of the first range whose base is above addr; the only candidate is the one before it. */
static size_t bus_upper_bound(const struct bus *bus, uint64_t addr)
{
    size_t lo = 0, hi = bus->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (bus->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int bus_grow(struct bus *bus)
{
    size_t cap = bus->cap ? bus->cap : BUS_INITIAL_CAP / 2;
    size_t bytes;
    if (__builtin_mul_overflow(cap, (size_t)2, &cap) ||
        __builtin_mul_overflow(cap, sizeof(struct bus_range), &bytes))
        return -ENOMEM;
    struct bus_range *r = realloc(bus->ranges, bytes);
    if (!r)
        return -ENOMEM;
    bus->ranges = r;
    bus->cap = cap;
    return 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque)
{
    uint64_t end;
    if (!bus || !fn || len == 0)
        return -EINVAL;
    /* A range ending exactly at 2^64 also overflows here; nothing real lives there. */
    if (__builtin_add_overflow(base, len, &end))
        return -EINVAL;

    /* Neighbours in sorted order are the only ranges that can overlap a new disjoint entry. */
    size_t i = bus_upper_bound(bus, base);
    if (i > 0 && base - bus->ranges[i - 1].base < bus->ranges[i - 1].len)
        return -EEXIST;
    if (i < bus->count && bus->ranges[i].base < end)
        return -EEXIST;

    if (bus->count == bus->cap) {
        int rc = bus_grow(bus);
        if (rc < 0)
            return rc;
    }
    memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->count - i) * sizeof(bus->ranges[0]));
    bus->ranges[i] = (struct bus_range){.base = base, .len = len, .fn = fn, .opaque = opaque};
    bus->count++;
    return 0;
}

static void bus_unhandled(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len,
                          bool is_write)
{
    /* An empty ISA bus floats high; guests probing for absent devices expect all-ones. */
    if (!is_write)
        memset(data, 0xff, len);
    atomic_fetch_add_explicit(&bus->unhandled, 1, memory_order_relaxed);

    pthread_mutex_lock(&bus->rl_lock);
    int ok = vlog_ratelimit_ok(&bus->rl);
    pthread_mutex_unlock(&bus->rl_lock);
    if (ok)
        vlog_msg("%s: unhandled %s of %" PRIu32 " bytes at 0x%" PRIx64, bus->name,
                 is_write ? "write" : "read", len, addr);
}

int bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write)
{
    if (!bus || !data || len == 0 || len > BUS_ACCESS_MAX)
        return -EINVAL;

    size_t i = bus_upper_bound(bus, addr);
    if (i > 0) {
        const struct bus_range *r = &bus->ranges[i - 1];
        uint64_t off = addr - r->base;
        /* Written as a subtraction so an access near 2^64 cannot wrap past the check. */
        if (off < r->len && len <= r->len - off) {
            r->fn(r->opaque, off, data, len, is_write);
            return 0;
        }
    }
    bus_unhandled(bus, addr, data, len, is_write);
    return -ENOENT;
}

uint64_t bus_unhandled_count(const struct bus *bus)
{
    if (!bus)
        return 0;
    /* C11 atomic_load wants a non-const pointer; reading does not modify the counter. */
    return atomic_load_explicit((_Atomic uint64_t *)&bus->unhandled, memory_order_relaxed);
}
