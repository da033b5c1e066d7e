/* memory.lz4: guest RAM cut into fixed-size chunks; all-zero chunks elided, the rest
 * lz4-compressed on all cores, each with an xxh3-64 hash of its uncompressed bytes in an index
 * whose own hash the caller keeps elsewhere (vmstate.dtb). A file is untrusted on read. */
#ifndef VMRUN_MEMIMG_H
#define VMRUN_MEMIMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;
struct memimg;

#define MEMIMG_VERSION 1
#define MEMIMG_DEFAULT_CHUNK (256u << 10)
#define MEMIMG_MIN_CHUNK (4u << 10)
#define MEMIMG_MAX_CHUNK (64u << 20)

/* Chunks address "RAM offsets": the guest's RAM regions concatenated in GPA order. */
enum memimg_kind {
    MEMIMG_ABSENT = 0, /* diff image: unchanged since the parent, read it there */
    MEMIMG_ZERO = 1,   /* all zero bytes, nothing stored */
    MEMIMG_DATA = 2,   /* stored, lz4 (or raw when incompressible) */
};

struct memimg_write_opts {
    uint32_t chunk_size;   /* power of 2 in [MIN, MAX]; 0: MEMIMG_DEFAULT_CHUNK */
    bool hc;               /* lz4hc instead of the fast level */
    unsigned threads;      /* compression threads; 0: one per online CPU */
    const uint64_t *dirty; /* diff: bitmap over chunks to store (others ABSENT); NULL: all */
    bool ram_is_anonymous; /* non-resident pages are zero (mincore can skip them) */
    void (*progress)(void *ctx, uint64_t done, uint64_t total); /* may be NULL */
    void *progress_ctx;
    /* Asked after each group is written and once all are: non-zero (-errno) abandons the image.
     * For RAM filled on demand (lazy restore), where a chunk that could not be read reads as
     * zeros: such an image must not be published. May be NULL. */
    int (*check)(void *ctx);
    void *check_ctx;
};

/* What was written (also what memimg_open reports). */
struct memimg_summary {
    uint32_t chunk_size;
    uint64_t ram_bytes;
    uint64_t chunks_total, chunks_data, chunks_zero, chunks_absent;
    uint64_t file_bytes;         /* size of the image file */
    uint64_t data_bytes;         /* sum of stored (compressed) chunk sizes */
    uint64_t uncompressed_bytes; /* chunks_data * their sizes */
    uint64_t index_hash;         /* xxh3-64 of the on-disk index */
};

/* Write the image of mem's RAM to path (created, fsync'd before returning). */
int memimg_write(const char *path, struct guest_mem *mem, const struct memimg_write_opts *opts,
                 struct memimg_summary *out);
/* Open and validate path: magic, version, sizes, every index entry inside the file, and the
 * index hash equal to expect_index_hash (pass the value recorded in vmstate.dtb). Errors are
 * printed as "vmrun: <path>: <field>: <why>" and returned as -errno (-EINVAL, -EBADMSG...). */
int memimg_open(const char *path, uint64_t expect_index_hash, struct memimg **out);
/* Close; NULL is allowed. */
void memimg_close(struct memimg *m);
/* Summary of an open image. */
void memimg_get_summary(const struct memimg *m, struct memimg_summary *out);
/* Kind of chunk idx (-EINVAL when out of range). */
int memimg_chunk_kind(const struct memimg *m, uint64_t idx);
/* Decompress chunk idx into dst (len must equal its size) and check its hash; -EBADMSG on
 * a hash mismatch or corrupt data, -ENOENT for ABSENT chunks. ZERO chunks give zeros. */
int memimg_read_chunk(struct memimg *m, uint64_t idx, void *dst, size_t len);
/* Byte size of chunk idx (the last one may be shorter). */
uint64_t memimg_chunk_bytes(const struct memimg *m, uint64_t idx);
/* Check every stored chunk; on the first failure *bad_chunk names it and -EBADMSG returns. */
int memimg_verify(struct memimg *m, uint64_t *bad_chunk,
                  void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx);

#endif
