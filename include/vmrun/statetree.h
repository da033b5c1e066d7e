/* vmstate.dtb: the machine state as a flattened device tree (libfdt), readable with
 * `dtc -I dtb -O dts`. Untrusted on read: every node and property is checked. */
#ifndef VMRUN_STATETREE_H
#define VMRUN_STATETREE_H

#include <stddef.h>
#include <stdint.h>

struct machine_state;

#define STATETREE_FORMAT_VERSION 1

/* Serialise ms into a malloc'd blob, with /vmrun/state-hash covering the whole blob. */
int statetree_build(const struct machine_state *ms, void **blob, size_t *len);
/* Check, then parse into ms (zeroed first); every field bounded; errors name path and field. */
int statetree_parse(const void *blob, size_t len, const char *path, struct machine_state *ms);

#endif
