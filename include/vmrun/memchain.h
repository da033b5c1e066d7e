/* Guest RAM as a snapshot chain describes it: a full image and the diffs on top of it, each
 * chunk taken from the newest image that holds it. What every restore mode reads from. */
#ifndef VMRUN_MEMCHAIN_H
#define VMRUN_MEMCHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "vmrun/memimg.h"

struct machine_state;
struct memchain;

#define MEMCHAIN_MAX_DEPTH 64

/* Open dir's memory image and its parents' (ms is dir's parsed state). Each parent must be the
 * one recorded (index hash), with the same RAM and chunk sizes; the oldest must be full. */
int memchain_open(const char *dir, const struct machine_state *ms, struct memchain **out);
/* Close every image; NULL is allowed. */
void memchain_close(struct memchain *c);
/* Bytes of guest RAM described. */
uint64_t memchain_ram_bytes(const struct memchain *c);
/* Chunk size shared by the whole chain. */
uint32_t memchain_chunk_size(const struct memchain *c);
/* Number of chunks. */
uint64_t memchain_nchunks(const struct memchain *c);
/* Bytes in chunk idx (the last may be short). */
uint64_t memchain_chunk_bytes(const struct memchain *c, uint64_t idx);
/* MEMIMG_ZERO or MEMIMG_DATA after resolving the chain; -EINVAL when idx is out of range. */
int memchain_kind(const struct memchain *c, uint64_t idx);
/* Read chunk idx from the image that owns it (hash-checked); ZERO chunks give zeros.
 * Safe from several threads at once. */
int memchain_read_chunk(struct memchain *c, uint64_t idx, void *dst, size_t len);
/* An identity of the chain's contents (xxh3 over every index hash, newest first). */
uint64_t memchain_id(const struct memchain *c);
/* Images in the chain (1 for a full snapshot). */
unsigned memchain_depth(const struct memchain *c);

#endif
