/*
 * memory.lz4 reader. The file is untrusted: the header and the whole index are validated in
 * memimg_open, so later reads only ever touch ranges already proven to lie inside the file, and
 * every chunk is checked against its hash after decompression.
 */
#include "vmrun/memimg.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memimg_format.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"

#define MR_PROGRESS_NS 100000000ULL

struct memimg {
    int fd;
    char *path;
    uint32_t flags;
    struct memimg_summary sum;
    struct mi_entry *entries; /* validated: payloads packed inside the file */
};

typedef unsigned long long ull;

/* Print "vmrun: <path>: <what>: <why>" for a format violation and return err. */
static int mr_bad(int err, const char *path, const char *what, const char *why)
{
    vlog_msg("%s: %s: %s", path, what, why);
    return err;
}

static int mr_check_header(const char *path, const uint8_t *raw, uint64_t file_size,
                           struct mi_header *h)
{
    char why[128];
    if (memcmp(raw, MI_MAGIC, MI_MAGIC_LEN) != 0)
        return mr_bad(-EINVAL, path, "magic", "not a vmrun memory image");
    mi_header_decode(raw, h);
    /* Version first: a future layout may move every other field. */
    if (h->version != MEMIMG_VERSION) {
        snprintf(why, sizeof(why), "%u unsupported (this build reads %u)", h->version,
                 MEMIMG_VERSION);
        return mr_bad(-ENOTSUP, path, "version", why);
    }
    if (h->header_size != MI_HEADER_SIZE) {
        snprintf(why, sizeof(why), "%u, expected %u", h->header_size, MI_HEADER_SIZE);
        return mr_bad(-EINVAL, path, "header size", why);
    }
    if (XXH3_64bits(raw, MI_HEADER_HASHED) != h->header_hash)
        return mr_bad(-EBADMSG, path, "header", "hash mismatch");
    uint32_t cs = h->chunk_size;
    if (cs < MEMIMG_MIN_CHUNK || cs > MEMIMG_MAX_CHUNK || (cs & (cs - 1))) {
        snprintf(why, sizeof(why), "%u is not a power of 2 in [%u, %u]", cs, MEMIMG_MIN_CHUNK,
                 MEMIMG_MAX_CHUNK);
        return mr_bad(-EINVAL, path, "chunk size", why);
    }
    if (h->flags & ~MI_HDR_KNOWN) {
        snprintf(why, sizeof(why), "unknown bits 0x%x", h->flags & ~MI_HDR_KNOWN);
        return mr_bad(-EINVAL, path, "flags", why);
    }
    if (h->ram_bytes == 0 || h->ram_bytes % 4096 || h->ram_bytes > GM_MAX_RAM) {
        snprintf(why, sizeof(why), "%llu is not a multiple of 4096 in (0, %llu]", (ull)h->ram_bytes,
                 (ull)GM_MAX_RAM);
        return mr_bad(-EINVAL, path, "RAM size", why);
    }
    uint64_t chunks = (h->ram_bytes + cs - 1) / cs, len, end;
    if (h->chunk_count != chunks) {
        snprintf(why, sizeof(why), "%llu, expected %llu", (ull)h->chunk_count, (ull)chunks);
        return mr_bad(-EINVAL, path, "chunk count", why);
    }
    if (__builtin_mul_overflow(chunks, (uint64_t)MI_ENTRY_SIZE, &len) || h->index_length != len) {
        snprintf(why, sizeof(why), "%llu, expected %llu", (ull)h->index_length, (ull)len);
        return mr_bad(-EINVAL, path, "index length", why);
    }
    if (h->index_offset < MI_HEADER_SIZE ||
        __builtin_add_overflow(h->index_offset, h->index_length, &end) || end != file_size) {
        snprintf(why, sizeof(why), "offset %llu + length %llu does not end the %llu-byte file",
                 (ull)h->index_offset, (ull)h->index_length, (ull)file_size);
        return mr_bad(-EINVAL, path, "index", why);
    }
    return 0;
}

static uint64_t mr_chunk_bytes(const struct memimg_summary *s, uint64_t i)
{
    uint64_t start = i * s->chunk_size;
    return s->ram_bytes - start < s->chunk_size ? s->ram_bytes - start : s->chunk_size;
}

/* What is wrong with entry i (NULL: nothing), given where the previous payload ended (*pos,
 * advanced past a DATA payload). Formats only on failure: the index can hold millions. */
static const char *mr_entry_problem(const struct memimg *m, uint64_t i, const struct mi_entry *e,
                                    uint64_t *pos, uint64_t payload_end, char *why, size_t room)
{
    if (e->kind > MEMIMG_DATA) {
        snprintf(why, room, "kind %u is invalid", e->kind);
        return why;
    }
    if (e->reserved != 0 || (e->flags & ~MI_ENT_KNOWN))
        return "unknown flags or reserved bits set";
    if (e->kind != MEMIMG_DATA) {
        if (e->offset || e->size || e->flags || e->hash)
            return "zero or absent chunk with payload fields";
        if (e->kind == MEMIMG_ABSENT && !(m->flags & MI_HDR_DIFF))
            return "absent chunk in a full image";
        return NULL;
    }
    uint64_t n = mr_chunk_bytes(&m->sum, i), end;
    bool raw = e->flags & MI_ENT_RAW;
    if (raw ? e->size != n : (e->size == 0 || e->size >= n)) {
        snprintf(why, room, "stored size %u invalid for a %s %llu-byte chunk", e->size,
                 raw ? "raw" : "compressed", (ull)n);
        return why;
    }
    /* Dense packing: each payload byte belongs to exactly one chunk, so a corrupt byte is
     * always charged to the right chunk and no byte of the file goes unchecked. */
    if (e->offset != *pos || __builtin_add_overflow(e->offset, (uint64_t)e->size, &end) ||
        end > payload_end) {
        snprintf(why, room, "payload at %llu+%u, expected at %llu within %llu", (ull)e->offset,
                 e->size, (ull)*pos, (ull)payload_end);
        return why;
    }
    *pos = end;
    return NULL;
}

static int mr_load_index(struct memimg *m, const struct mi_header *h, uint64_t expect)
{
    char why[128];
    /* The length is bounded by the file's real size (checked in the header), not just claimed. */
    uint8_t *raw = malloc(h->index_length);
    if (!raw)
        return vlog_err(-ENOMEM, "%s: index", m->path);
    int rc = mi_pread_full(m->fd, raw, h->index_length, h->index_offset);
    if (rc < 0) {
        free(raw);
        return vlog_err(rc, "%s: index: read", m->path);
    }
    m->sum.index_hash = XXH3_64bits(raw, h->index_length);
    if (m->sum.index_hash != expect) {
        snprintf(why, sizeof(why), "hash mismatch: %016llx, expected %016llx",
                 (ull)m->sum.index_hash, (ull)expect);
        free(raw);
        return mr_bad(-EBADMSG, m->path, "index", why);
    }
    m->entries = calloc(h->chunk_count, sizeof(*m->entries));
    if (!m->entries) {
        free(raw);
        return vlog_err(-ENOMEM, "%s: index", m->path);
    }
    uint64_t pos = MI_HEADER_SIZE;
    for (uint64_t i = 0; rc == 0 && i < h->chunk_count; i++) {
        struct mi_entry *e = &m->entries[i];
        mi_entry_decode(raw + i * MI_ENTRY_SIZE, e);
        const char *problem = mr_entry_problem(m, i, e, &pos, h->index_offset, why, sizeof(why));
        if (problem) {
            vlog_msg("%s: chunk %llu: %s", m->path, (ull)i, problem);
            rc = -EINVAL;
        } else if (e->kind == MEMIMG_DATA) {
            m->sum.chunks_data++;
            m->sum.data_bytes += e->size;
            m->sum.uncompressed_bytes += mr_chunk_bytes(&m->sum, i);
        } else {
            m->sum.chunks_zero += e->kind == MEMIMG_ZERO;
            m->sum.chunks_absent += e->kind == MEMIMG_ABSENT;
        }
    }
    free(raw);
    if (rc == 0 && pos != h->index_offset) {
        snprintf(why, sizeof(why), "payloads end at %llu but the index starts at %llu", (ull)pos,
                 (ull)h->index_offset);
        rc = mr_bad(-EINVAL, m->path, "index", why);
    }
    return rc;
}

int memimg_open(const char *path, uint64_t expect_index_hash, struct memimg **out)
{
    if (!out)
        return -EINVAL;
    *out = NULL;
    if (!path)
        return -EINVAL;
    struct memimg *m = calloc(1, sizeof(*m));
    if (!m || !(m->path = strdup(path))) {
        free(m);
        return vlog_err(-ENOMEM, "%s", path);
    }
    int rc = 0;
    struct stat st;
    uint8_t raw[MI_HEADER_SIZE];
    struct mi_header h;
    m->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (m->fd < 0)
        rc = vlog_err(-errno, "%s: open", path);
    else if (fstat(m->fd, &st) < 0)
        rc = vlog_err(-errno, "%s: stat", path);
    else if (!S_ISREG(st.st_mode))
        rc = mr_bad(-EINVAL, path, "file", "not a regular file");
    else if ((uint64_t)st.st_size < MI_HEADER_SIZE)
        rc = mr_bad(-EINVAL, path, "header", "file shorter than the header");
    else if ((rc = mi_pread_full(m->fd, raw, sizeof(raw), 0)) < 0)
        rc = vlog_err(rc, "%s: header: read", path);
    else if ((rc = mr_check_header(path, raw, (uint64_t)st.st_size, &h)) == 0) {
        m->flags = h.flags;
        m->sum.chunk_size = h.chunk_size;
        m->sum.ram_bytes = h.ram_bytes;
        m->sum.chunks_total = h.chunk_count;
        m->sum.file_bytes = (uint64_t)st.st_size;
        rc = mr_load_index(m, &h, expect_index_hash);
    }
    if (rc < 0) {
        memimg_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

void memimg_close(struct memimg *m)
{
    if (!m)
        return;
    if (m->fd >= 0)
        close(m->fd);
    free(m->entries);
    free(m->path);
    free(m);
}

void memimg_get_summary(const struct memimg *m, struct memimg_summary *out)
{
    if (!out)
        return;
    if (!m) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = m->sum;
}

int memimg_chunk_kind(const struct memimg *m, uint64_t idx)
{
    if (!m || idx >= m->sum.chunks_total)
        return -EINVAL;
    return m->entries[idx].kind;
}

uint64_t memimg_chunk_bytes(const struct memimg *m, uint64_t idx)
{
    if (!m || idx >= m->sum.chunks_total)
        return 0;
    return mr_chunk_bytes(&m->sum, idx);
}

int memimg_read_chunk(struct memimg *m, uint64_t idx, void *dst, size_t len)
{
    if (!m || !dst || idx >= m->sum.chunks_total || len != mr_chunk_bytes(&m->sum, idx))
        return -EINVAL;
    const struct mi_entry *e = &m->entries[idx];
    if (e->kind == MEMIMG_ABSENT)
        return -ENOENT;
    if (e->kind == MEMIMG_ZERO) {
        memset(dst, 0, len);
        return 0;
    }
    int rc;
    if (e->flags & MI_ENT_RAW) {
        rc = mi_pread_full(m->fd, dst, len, e->offset);
        if (rc < 0)
            return vlog_err(rc, "%s: chunk %llu: read", m->path, (ull)idx);
    } else {
        /* Per call, not per image: concurrent readers must not share a buffer. size < len. */
        char *buf = malloc(e->size);
        if (!buf)
            return vlog_err(-ENOMEM, "%s: chunk %llu", m->path, (ull)idx);
        rc = mi_pread_full(m->fd, buf, e->size, e->offset);
        int got = rc < 0 ? 0 : LZ4_decompress_safe(buf, dst, (int)e->size, (int)len);
        free(buf);
        if (rc < 0)
            return vlog_err(rc, "%s: chunk %llu: read", m->path, (ull)idx);
        if (got != (int)len) {
            vlog_msg("%s: chunk %llu: corrupt lz4 data", m->path, (ull)idx);
            return -EBADMSG;
        }
    }
    if (XXH3_64bits(dst, len) != e->hash) {
        vlog_msg("%s: chunk %llu: hash mismatch", m->path, (ull)idx);
        return -EBADMSG;
    }
    return 0;
}

int memimg_verify(struct memimg *m, uint64_t *bad_chunk,
                  void (*progress)(void *ctx, uint64_t done, uint64_t total), void *ctx)
{
    if (!m)
        return -EINVAL;
    /* ZERO and ABSENT entries were fully checked by memimg_open: they carry no payload. */
    uint8_t *buf = malloc(m->sum.chunk_size);
    if (!buf)
        return vlog_err(-ENOMEM, "%s: verify", m->path);
    uint64_t last = mi_now_ns();
    int rc = 0;
    for (uint64_t i = 0; i < m->sum.chunks_total; i++) {
        if (m->entries[i].kind == MEMIMG_DATA) {
            rc = memimg_read_chunk(m, i, buf, mr_chunk_bytes(&m->sum, i));
            if (rc < 0) {
                if (bad_chunk)
                    *bad_chunk = i;
                break;
            }
        }
        uint64_t now = mi_now_ns();
        if (progress && now - last >= MR_PROGRESS_NS) {
            last = now;
            progress(ctx, i * m->sum.chunk_size + mr_chunk_bytes(&m->sum, i), m->sum.ram_bytes);
        }
    }
    if (rc == 0 && progress)
        progress(ctx, m->sum.ram_bytes, m->sum.ram_bytes);
    free(buf);
    return rc;
}
