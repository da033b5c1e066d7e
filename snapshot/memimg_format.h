/*
 * On-disk layout of memory.lz4, shared by the writer, the reader and the unit tests.
 *
 * Every integer is little-endian. The file is three areas, back to back, with no gaps:
 *
 *   [0, 64)                     header (MI_HEADER_SIZE bytes)
 *   [64, index_offset)          chunk payloads, in chunk order, densely packed
 *   [index_offset, file end)    index: chunk_count entries of MI_ENTRY_SIZE bytes
 *
 * Header (version 1):
 *    0  char[8] magic "VMRUNMEM"
 *    8  u32     version (MEMIMG_VERSION); the only version number in the file
 *   12  u32     header size (64 for version 1)
 *   16  u32     chunk size: power of 2 in [MEMIMG_MIN_CHUNK, MEMIMG_MAX_CHUNK]
 *   20  u32     flags: MI_HDR_HC (payloads made by lz4hc; informational),
 *               MI_HDR_DIFF (diff image: ABSENT entries allowed); other bits must be 0
 *   24  u64     RAM bytes: > 0, multiple of 4 KiB, <= GM_MAX_RAM
 *   32  u64     chunk count == ceil(RAM bytes / chunk size)
 *   40  u64     index offset == 64 + sum of stored sizes
 *   48  u64     index length == chunk count * MI_ENTRY_SIZE; index end == file size
 *   56  u64     header hash: XXH3_64bits over bytes [0, 56), so any flipped header byte shows
 *
 * Chunk i covers RAM offsets [i * chunk, min((i + 1) * chunk, RAM bytes)): only the very last
 * chunk can be short. RAM offsets are the guest's RAM regions concatenated in GPA order; the
 * writer refuses guests where a region other than the last is not a multiple of the chunk size,
 * so a chunk never straddles two regions (always true for gm_create guests, whose low region
 * is either all of RAM or exactly 3 GiB).
 *
 * Index entry (MI_ENTRY_SIZE = 24 bytes):
 *    0  u64     payload offset in the file
 *    8  u32     stored size
 *   12  u8      kind (enum memimg_kind)
 *   13  u8      flags: MI_ENT_RAW (payload is the chunk verbatim); other bits must be 0
 *   14  u16     reserved, 0
 *   16  u64     XXH3_64bits of the uncompressed chunk bytes
 *
 *   DATA:   offset == end of the previous DATA payload (the first starts at 64), and either
 *           RAW with stored size == chunk bytes, or lz4 block with 0 < stored size < chunk bytes
 *           (the writer stores raw whenever lz4 does not shrink a chunk).
 *   ZERO:   offset, stored size, flags and hash all 0. The content is implied, so no hash is
 *           recorded; the index hash already protects the kind.
 *   ABSENT: like ZERO, and only in images whose header has MI_HDR_DIFF.
 *
 * The index hash (kept by the caller in vmstate.dtb) is XXH3_64bits over the index bytes as
 * stored. Dense packing means every payload byte belongs to exactly one chunk, so a corrupt
 * byte anywhere in the file is caught by the header hash, the index hash or one chunk's hash.
 */
#ifndef VMRUN_MEMIMG_FORMAT_H
#define VMRUN_MEMIMG_FORMAT_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#define MI_MAGIC "VMRUNMEM"
#define MI_MAGIC_LEN 8
#define MI_HEADER_SIZE 64
#define MI_HEADER_HASHED 56
#define MI_ENTRY_SIZE 24

#define MI_HDR_HC 0x1u
#define MI_HDR_DIFF 0x2u
#define MI_HDR_KNOWN (MI_HDR_HC | MI_HDR_DIFF)

#define MI_ENT_RAW 0x1u
#define MI_ENT_KNOWN MI_ENT_RAW

struct mi_header {
    uint32_t version;
    uint32_t header_size;
    uint32_t chunk_size;
    uint32_t flags;
    uint64_t ram_bytes;
    uint64_t chunk_count;
    uint64_t index_offset;
    uint64_t index_length;
    uint64_t header_hash; /* as stored; mi_header_encode computes it */
};

struct mi_entry {
    uint64_t offset;
    uint32_t size;
    uint8_t kind;
    uint8_t flags;
    uint16_t reserved;
    uint64_t hash;
};

static inline void mi_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void mi_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void mi_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t mi_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t mi_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static inline uint64_t mi_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Serialize h and seal it with the header hash (h->header_hash is ignored). */
static inline void mi_header_encode(const struct mi_header *h, uint8_t out[MI_HEADER_SIZE])
{
    memset(out, 0, MI_HEADER_SIZE);
    memcpy(out, MI_MAGIC, MI_MAGIC_LEN);
    mi_put32(out + 8, h->version);
    mi_put32(out + 12, h->header_size);
    mi_put32(out + 16, h->chunk_size);
    mi_put32(out + 20, h->flags);
    mi_put64(out + 24, h->ram_bytes);
    mi_put64(out + 32, h->chunk_count);
    mi_put64(out + 40, h->index_offset);
    mi_put64(out + 48, h->index_length);
    mi_put64(out + 56, XXH3_64bits(out, MI_HEADER_HASHED));
}

/* Parse without judging: the reader validates every field afterwards. */
static inline void mi_header_decode(const uint8_t in[MI_HEADER_SIZE], struct mi_header *h)
{
    h->version = mi_get32(in + 8);
    h->header_size = mi_get32(in + 12);
    h->chunk_size = mi_get32(in + 16);
    h->flags = mi_get32(in + 20);
    h->ram_bytes = mi_get64(in + 24);
    h->chunk_count = mi_get64(in + 32);
    h->index_offset = mi_get64(in + 40);
    h->index_length = mi_get64(in + 48);
    h->header_hash = mi_get64(in + 56);
}

static inline void mi_entry_encode(const struct mi_entry *e, uint8_t out[MI_ENTRY_SIZE])
{
    mi_put64(out, e->offset);
    mi_put32(out + 8, e->size);
    out[12] = e->kind;
    out[13] = e->flags;
    mi_put16(out + 14, e->reserved);
    mi_put64(out + 16, e->hash);
}

static inline void mi_entry_decode(const uint8_t in[MI_ENTRY_SIZE], struct mi_entry *e)
{
    e->offset = mi_get64(in);
    e->size = mi_get32(in + 8);
    e->kind = in[12];
    e->flags = in[13];
    e->reserved = mi_get16(in + 14);
    e->hash = mi_get64(in + 16);
}

/* Small helpers both sides need. */

/* Read exactly len bytes at off; a short file is -EIO, never a silently partial buffer. */
static inline int mi_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t r = pread(fd, p, len, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r < 0 ? -errno : -EIO;
        p += r;
        len -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

static inline uint64_t mi_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

#endif
