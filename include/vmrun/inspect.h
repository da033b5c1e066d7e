/* `vmrun inspect`: describe a snapshot directory and, optionally, recheck every hash. */
#ifndef VMRUN_INSPECT_H
#define VMRUN_INSPECT_H

#include <stdbool.h>
#include <stdio.h>

/* Print dir's description (text or JSON) to out, following the parent chain. With verify,
 * every file of every snapshot in the chain is checked; the first mismatch is reported as
 * "vmrun: <file>: chunk N: ..." and -EBADMSG returned. */
int snapshot_inspect(const char *dir, bool verify, bool json, FILE *out);

#endif
