/* Resolving a diff chain once, up front: for each chunk, which image holds it. Reads then go
 * straight to that image, so a deep chain costs nothing per access. */
#include "vmrun/memchain.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/snapdir.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

struct memchain {
    unsigned depth;
    struct memimg *img[MEMCHAIN_MAX_DEPTH]; /* [0] newest */
    uint64_t index_hash[MEMCHAIN_MAX_DEPTH];
    uint64_t ram_bytes, nchunks;
    uint32_t chunk_size;
    uint8_t *owner; /* per chunk: image index */
    uint8_t *kind;  /* per chunk: MEMIMG_ZERO or MEMIMG_DATA */
};

static int open_image(struct memchain *c, const char *dir, uint64_t hash)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/%s", dir, SNAPDIR_MEMORY_FILE);
    int err = memimg_open(path, hash, &c->img[c->depth]);
    if (err)
        return err;
    struct memimg_summary s;
    memimg_get_summary(c->img[c->depth], &s);
    if (c->depth == 0) {
        c->ram_bytes = s.ram_bytes;
        c->chunk_size = s.chunk_size;
        c->nchunks = s.chunks_total;
    } else if (s.ram_bytes != c->ram_bytes || s.chunk_size != c->chunk_size ||
               s.chunks_total != c->nchunks) {
        memimg_close(c->img[c->depth]);
        return vlog_err(-EINVAL, "%s: RAM or chunk size differ from its child's", path);
    }
    c->index_hash[c->depth++] = hash;
    return 0;
}

/* Walk parents: each must be the snapshot its child recorded. */
static int open_parents(struct memchain *c, const struct machine_state *child)
{
    struct machine_state *ms = calloc(1, sizeof(*ms));
    if (!ms)
        return -ENOMEM;
    char parent[MS_PATH_MAX];
    uint64_t want = child->parent_index_hash;
    snprintf(parent, sizeof(parent), "%s", child->parent);
    int err = 0;
    while (!err && parent[0]) {
        if (c->depth == MEMCHAIN_MAX_DEPTH) {
            err = vlog_err(-ELOOP, "%s: snapshot chain deeper than %d", parent, MEMCHAIN_MAX_DEPTH);
            break;
        }
        err = snapdir_read_state(parent, ms);
        if (!err && ms->memory.index_hash != want)
            err = vlog_err(-EINVAL,
                           "%s: parent-index-hash: the snapshot there is not the "
                           "parent its child was taken from",
                           parent);
        if (!err)
            err = open_image(c, parent, ms->memory.index_hash);
        want = ms->parent_index_hash;
        snprintf(parent, sizeof(parent), "%s", ms->parent);
    }
    free(ms);
    return err;
}

static int resolve(struct memchain *c, const char *dir)
{
    c->owner = calloc(c->nchunks ? c->nchunks : 1, 1);
    c->kind = calloc(c->nchunks ? c->nchunks : 1, 1);
    if (!c->owner || !c->kind)
        return -ENOMEM;
    for (uint64_t i = 0; i < c->nchunks; i++) {
        unsigned d = 0;
        int k = MEMIMG_ABSENT;
        for (; d < c->depth; d++) {
            k = memimg_chunk_kind(c->img[d], i);
            if (k != MEMIMG_ABSENT)
                break;
        }
        if (k < 0 || k == MEMIMG_ABSENT)
            return vlog_err(-EINVAL,
                            "%s: chunk %llu is in no image of the chain (the oldest "
                            "snapshot must be full)",
                            dir, (unsigned long long)i);
        c->owner[i] = (uint8_t)d;
        c->kind[i] = (uint8_t)k;
    }
    return 0;
}

int memchain_open(const char *dir, const struct machine_state *ms, struct memchain **out)
{
    struct memchain *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    int err = open_image(c, dir, ms->memory.index_hash);
    if (!err && (c->ram_bytes != ms->memory.size || c->chunk_size != ms->memory.chunk_size))
        err = vlog_err(-EINVAL, "%s/%s: RAM or chunk size differ from %s", dir, SNAPDIR_MEMORY_FILE,
                       SNAPDIR_STATE_FILE);
    if (!err && ms->parent[0])
        err = open_parents(c, ms);
    if (!err)
        err = resolve(c, dir);
    if (err) {
        memchain_close(c);
        return err;
    }
    *out = c;
    return 0;
}

void memchain_close(struct memchain *c)
{
    if (!c)
        return;
    for (unsigned i = 0; i < c->depth; i++)
        memimg_close(c->img[i]);
    free(c->owner);
    free(c->kind);
    free(c);
}

uint64_t memchain_ram_bytes(const struct memchain *c)
{
    return c->ram_bytes;
}

uint32_t memchain_chunk_size(const struct memchain *c)
{
    return c->chunk_size;
}

uint64_t memchain_nchunks(const struct memchain *c)
{
    return c->nchunks;
}

uint64_t memchain_chunk_bytes(const struct memchain *c, uint64_t idx)
{
    return memimg_chunk_bytes(c->img[0], idx);
}

int memchain_kind(const struct memchain *c, uint64_t idx)
{
    return idx < c->nchunks ? c->kind[idx] : -EINVAL;
}

int memchain_read_chunk(struct memchain *c, uint64_t idx, void *dst, size_t len)
{
    if (idx >= c->nchunks)
        return -EINVAL;
    return memimg_read_chunk(c->img[c->owner[idx]], idx, dst, len);
}

uint64_t memchain_id(const struct memchain *c)
{
    return XXH3_64bits(c->index_hash, c->depth * sizeof(c->index_hash[0]));
}

unsigned memchain_depth(const struct memchain *c)
{
    return c->depth;
}
