/* One address bus for port I/O or MMIO: ranges dispatched to device handlers. */
#ifndef VMRUN_BUS_H
#define VMRUN_BUS_H

#include <stdbool.h>
#include <stdint.h>

struct bus;

/* Handler for an access at offset off from the range base; data is len bytes (1..8). */
typedef void (*bus_handler_fn)(void *opaque, uint64_t off, uint8_t *data, uint32_t len,
                               bool is_write);

/* Create an empty bus; name appears in log messages ("pio", "mmio"). */
int bus_create(const char *name, struct bus **out);
/* Free the bus; NULL is allowed. */
void bus_destroy(struct bus *bus);
/* Register [base, base+len); -EEXIST on overlap, -EINVAL on zero length or overflow. */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque);
/* Dispatch an access; -ENOENT (counted, rate-limited log) when nothing claims addr..addr+len. */
int bus_access(struct bus *bus, uint64_t addr, uint8_t *data, uint32_t len, bool is_write);
/* Number of accesses no device claimed so far. */
uint64_t bus_unhandled_count(const struct bus *bus);

#endif
