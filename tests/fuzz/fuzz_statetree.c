/* Fuzz target: statetree_parse, the reader of vmstate.dtb (a snapshot's machine state).
 *
 * The blob carries /vmrun/state-hash, the xxh3-64 of the whole blob with that property zeroed,
 * so almost every mutation would stop at the hash check. When the input is a flattened device
 * tree of the right size with an 8-byte state-hash, the harness re-seals the hash in a copy
 * (zero it, hash, store), the way an attacker who controls the file would, so the fuzzer
 * reaches the field checks behind it. Inputs that are not re-sealable are parsed as they are.
 *
 * On success the parsed state must be one statetree_parse promises to deliver: every count in
 * range and every string terminated; anything else aborts (ASan cannot see an overflow from one
 * field into the next inside struct machine_state).
 *
 * Byte-level mutations rarely keep an FDT valid while changing a property's length, so the
 * libFuzzer build adds a structure-aware mutator: resize and rewrite a property, delete a
 * property or node, or clone a node under a new unit address (more vCPUs, more disks). The
 * harness re-seals whatever it produces.
 *
 * corpus/statetree/libfdt-negative-len-msrs: libfdt 1.6 returns a property whose length field
 * is 0xffffffff with length -1 (and a valid pointer); the parser must refuse it, not copy it. */
#include <libfdt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "vmrun/machine_state.h"
#include "vmrun/mem.h"
#include "vmrun/statetree.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Seal copy (size bytes, a checked FDT) the way statetree_build does; quietly leave it as it is
 * when there is no 8-byte /vmrun/state-hash. */
static void reseal(uint8_t *copy, size_t size)
{
    int off = fdt_path_offset(copy, "/vmrun");
    int len;
    if (off < 0 || !fdt_getprop(copy, off, "state-hash", &len) || len != 8)
        return;
    if (fdt_setprop_inplace_u64(copy, off, "state-hash", 0) != 0)
        return;
    fdt_setprop_inplace_u64(copy, off, "state-hash", XXH3_64bits(copy, size));
}

static int terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* What a successful parse guarantees to its callers (restore sizes arrays by these). */
static void check_parsed(const struct machine_state *ms)
{
    if (ms->format_version != STATETREE_FORMAT_VERSION || ms->ncpus == 0 ||
        ms->ncpus > VM_MAX_VCPUS || ms->ndisks > VM_MAX_DISKS || ms->cpuid_passthrough > 1)
        abort();
    if (!terminated(ms->host_cpu, sizeof(ms->host_cpu)) ||
        !terminated(ms->cmdline, sizeof(ms->cmdline)) ||
        !terminated(ms->parent, sizeof(ms->parent)))
        abort();
    for (uint32_t i = 0; i < ms->ncpus; i++)
        if (ms->vcpus[i].nmsrs > VCPU_MAX_MSRS)
            abort();
    for (uint32_t i = 0; i < ms->ndisks; i++)
        if (!terminated(ms->disks[i].path, sizeof(ms->disks[i].path)) || ms->disks[i].ro > 1)
            abort();
    const struct memory_saved *m = &ms->memory;
    if (m->size == 0 || m->size % 4096 || m->size > GM_MAX_RAM || m->chunk_size < 4096 ||
        (m->chunk_size & (m->chunk_size - 1)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Large (every vCPU slot is inline) and fully rewritten by each parse: allocate once. */
    static struct machine_state *ms;
    if (!ms && !(ms = calloc(1, sizeof(*ms))))
        abort();
    /* An exactly-sized copy: reads past the end stay visible to ASan. */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    /* libfdt trusts totalsize, so only a header that describes exactly this buffer is touched
     * here; statetree_parse rejects the others itself. */
    if (size >= sizeof(struct fdt_header) && fdt_check_header(copy) == 0 &&
        fdt_totalsize(copy) == size)
        reseal(copy, size);
    int rc = statetree_parse(copy, size, "fuzz.dtb", ms);
    if (rc > 0)
        abort(); /* 0 or -errno, nothing else */
    if (rc == 0)
        check_parsed(ms);
    free(copy);
    return 0;
}

#ifdef VMRUN_LIBFUZZER
/* The structure-aware mutator; only in the libFuzzer build (the replay driver has no
 * LLVMFuzzerMutate). It rebuilds the input tree with libfdt's sequential-write functions while
 * walking it with the same read-only functions statetree_parse uses: libfdt's read-write and
 * checking functions are not safe on hostile trees (fdt_open_into does a negative memmove and
 * fdt_check_full dereferences NULL on some), and the mutator must not crash on any input. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

#define MUT_SLACK (64u << 10)
#define MUT_MAX_DEPTH 8

enum mut_op { MUT_RESIZE, MUT_DELPROP, MUT_DELNODE, MUT_CLONE };

struct mut {
    void *out;  /* NULL: only count properties and nodes */
    int target; /* the property or node (in walk order) to act on */
    int seen;   /* properties and nodes walked so far */
    enum mut_op op;
    unsigned unit; /* unit address of a clone */
    int err;
};

static void put_prop(struct mut *m, const char *name, const void *v, int len)
{
    if (m->out && !m->err && fdt_property(m->out, name, v, len) < 0)
        m->err = -1;
}

static void walk(const void *in, int node, struct mut *m, int depth)
{
    int p, child;
    fdt_for_each_property_offset(p, in, node)
    {
        const char *name;
        int len;
        /* libfdt 1.6 hands out lengths down to -8 for a length field that wraps. */
        const void *v = fdt_getprop_by_offset(in, p, &name, &len);
        if (!v || !name || len < 0)
            continue;
        if (m->seen++ != m->target || !m->out) {
            put_prop(m, name, v, len);
        } else if (m->op == MUT_RESIZE) {
            uint8_t *val = malloc((size_t)len + 256);
            if (!val) {
                m->err = -1;
                return;
            }
            memcpy(val, v, (size_t)len);
            put_prop(m, name, val, (int)LLVMFuzzerMutate(val, (size_t)len, (size_t)len + 256));
            free(val);
        } else if (m->op != MUT_DELPROP) {
            put_prop(m, name, v, len);
        }
    }
    fdt_for_each_subnode(child, in, node)
    {
        const char *name = fdt_get_name(in, child, NULL);
        if (!name || depth >= MUT_MAX_DEPTH)
            continue;
        int hit = m->seen++ == m->target;
        if (hit && m->op == MUT_DELNODE)
            continue;
        for (int copy = 0; copy <= (hit && m->op == MUT_CLONE); copy++) {
            char nn[256];
            if (copy) /* same base name, another unit address: cpu@N, virtio-blk@N */
                snprintf(nn, sizeof(nn), "%.*s@%u", (int)strcspn(name, "@") % 200, name, m->unit);
            else
                snprintf(nn, sizeof(nn), "%s", name);
            if (m->out && !m->err && fdt_begin_node(m->out, nn) < 0)
                m->err = -1;
            walk(in, child, m, depth + 1);
            if (m->out && !m->err && fdt_end_node(m->out) < 0)
                m->err = -1;
        }
    }
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    uint32_t r = seed * 2654435761u;
    if (r % 3 == 0 || size < sizeof(struct fdt_header) || fdt_check_header(data) != 0 ||
        fdt_totalsize(data) > size)
        return LLVMFuzzerMutate(data, size, max_size);
    struct mut m = {.target = -1};
    walk(data, 0, &m, 0);
    if (m.seen == 0)
        return LLVMFuzzerMutate(data, size, max_size);
    r /= 3;
    m = (struct mut){
        .target = (int)(r % (uint32_t)m.seen), .op = (r >> 12) % 4, .unit = (r >> 14) % 12};
    size_t cap = size + MUT_SLACK, out = 0;
    m.out = malloc(cap);
    if (m.out && fdt_create(m.out, (int)cap) == 0 && fdt_finish_reservemap(m.out) == 0 &&
        fdt_begin_node(m.out, "") == 0) {
        walk(data, 0, &m, 0);
        if (!m.err && fdt_end_node(m.out) == 0 && fdt_finish(m.out) == 0 &&
            fdt_totalsize(m.out) <= max_size) {
            out = fdt_totalsize(m.out);
            memcpy(data, m.out, out);
        }
    }
    free(m.out);
    return out ? out : LLVMFuzzerMutate(data, size, max_size);
}
#endif
