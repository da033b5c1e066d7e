/* A snapshot directory on disk: vmstate.dtb + memory.lz4, replaced atomically. */
#ifndef VMRUN_SNAPDIR_H
#define VMRUN_SNAPDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmrun/memimg.h"

struct guest_mem;
struct machine_state;

#define SNAPDIR_STATE_FILE "vmstate.dtb"
#define SNAPDIR_MEMORY_FILE "memory.lz4"

struct snapdir_opts {
    struct memimg_write_opts mem; /* chunk size, lz4hc, threads, diff bitmap, progress */
};

/* Write ms (its memory fields are filled here) and mem's RAM to dir. The files go to a fresh
 * temporary directory beside dir, are fsync'd, and the directory is renamed (or atomically
 * exchanged) into place and its parent fsync'd: an interruption at any moment leaves either the
 * old snapshot or the new one at dir, never a mix. When an old snapshot was replaced, old (cap
 * old_cap) receives where it now lies, for snapdir_remove() once time is less precious. */
int snapdir_write(const char *dir, struct machine_state *ms, struct guest_mem *mem,
                  const struct snapdir_opts *opts, struct memimg_summary *sum, char *old,
                  size_t old_cap);
/* Delete the replaced snapshot snapdir_write left in old (no-op for ""). */
void snapdir_remove(const char *old);
/* Read and parse dir/vmstate.dtb into ms (validated; errors name the file and field). */
int snapdir_read_state(const char *dir, struct machine_state *ms);

#endif
