/* vmstate.dtb, reading side: the file is untrusted, so every node and property is checked
 * before use. Numbers are FDT cells (big-endian, shown as <...> by dtc); KVM's own structs are
 * stored as byte strings in host order, exactly as KVM hands them out, with their length checked
 * on read. /vmrun/state-hash is the xxh3-64 of the whole blob taken with that value zeroed, so a
 * single flipped byte anywhere in the file is caught. */
#include "vmrun/statetree.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"
#include "vmrun/mem.h"

#include <stdio.h>

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* FDT properties are only 4-byte aligned: 64-bit cells are read bytewise. */
static uint64_t be64_at(const void *p)
{
    return fdt64_ld(p);
}

/* Header sane, size right, and the state-hash matches: checked before any field is read. */
static int statetree_check(const void *blob, size_t len, const char *path)
{
    if (len < sizeof(struct fdt_header) || fdt_check_header(blob) != 0)
        return vlog_err(-EINVAL, "%s: not a flattened device tree (bad header)", path);
    if (fdt_totalsize(blob) != len)
        return vlog_err(-EINVAL, "%s: header totalsize %u but the file has %zu bytes", path,
                        fdt_totalsize(blob), len);
    int off = fdt_path_offset(blob, "/vmrun");
    int plen;
    const void *h = off < 0 ? NULL : fdt_getprop(blob, off, "state-hash", &plen);
    if (!h || plen != 8)
        return vlog_err(-EINVAL, "%s: /vmrun/state-hash missing", path);
    uint64_t want = be64_at(h);
    void *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, blob, len);
    int rc = fdt_setprop_inplace_u64(copy, off, "state-hash", 0);
    uint64_t got = XXH3_64bits(copy, len);
    free(copy);
    if (rc != 0 || got != want)
        return vlog_err(-EBADMSG, "%s: state-hash mismatch (file is corrupt)", path);
    return 0;
}

struct parser {
    const void *fdt;
    const char *path;
    int err;
};

static int node_at(struct parser *p, const char *np)
{
    int off = fdt_path_offset(p->fdt, np);
    if (off < 0 && !p->err)
        p->err = vlog_err(-EINVAL, "%s: node %s missing", p->path, np);
    return off;
}

/* A property of exactly len bytes (or, with len 0, any length; *got receives it). */
static const void *get(struct parser *p, int off, const char *np, const char *name, size_t len,
                       int *got)
{
    if (p->err || off < 0)
        return NULL;
    int n;
    const void *v = fdt_getprop(p->fdt, off, name, &n);
    if (!v) {
        p->err = vlog_err(-EINVAL, "%s: %s/%s missing", p->path, np, name);
        return NULL;
    }
    if (len && (size_t)n != len) {
        p->err =
            vlog_err(-EINVAL, "%s: %s/%s is %d bytes, expected %zu", p->path, np, name, n, len);
        return NULL;
    }
    if (got)
        *got = n;
    return v;
}

static void get_blob(struct parser *p, int off, const char *np, const char *name, void *dst,
                     size_t len)
{
    const void *v = get(p, off, np, name, len, NULL);
    if (v)
        memcpy(dst, v, len);
}

static uint64_t get_u64(struct parser *p, int off, const char *np, const char *name)
{
    const void *v = get(p, off, np, name, 8, NULL);
    return v ? be64_at(v) : 0;
}

static uint32_t get_u32(struct parser *p, int off, const char *np, const char *name)
{
    const void *v = get(p, off, np, name, 4, NULL);
    return v ? fdt32_ld(v) : 0;
}

static void get_str(struct parser *p, int off, const char *np, const char *name, char *dst,
                    size_t cap)
{
    int n;
    const char *v = get(p, off, np, name, 0, &n);
    if (!v)
        return;
    if (n < 1 || (size_t)n > cap || v[n - 1] != '\0' || strlen(v) != (size_t)n - 1) {
        p->err = vlog_err(-EINVAL, "%s: %s/%s is not a string of at most %zu bytes", p->path, np,
                          name, cap - 1);
        return;
    }
    memcpy(dst, v, (size_t)n);
}

static void bad(struct parser *p, const char *np, const char *name, const char *why)
{
    if (!p->err)
        p->err = vlog_err(-EINVAL, "%s: %s/%s: %s", p->path, np, name, why);
}

static void parse_vcpu(struct parser *p, unsigned i, struct vcpu_saved *v)
{
    char np[48];
    snprintf(np, sizeof(np), "/vcpus/cpu@%u", i);
    int off = node_at(p, np);
    get_blob(p, off, np, "mp-state", &v->mp, sizeof(v->mp));
    get_blob(p, off, np, "regs", &v->regs, sizeof(v->regs));
    get_blob(p, off, np, "sregs", &v->sregs, sizeof(v->sregs));
    if (off >= 0 && fdt_getprop(p->fdt, off, "xsave", NULL)) {
        v->has_xsave = 1;
        get_blob(p, off, np, "xsave", &v->xsave, sizeof(v->xsave));
    } else {
        get_blob(p, off, np, "fpu", &v->fpu, sizeof(v->fpu));
    }
    if (off >= 0 && fdt_getprop(p->fdt, off, "xcrs", NULL)) {
        v->has_xcrs = 1;
        get_blob(p, off, np, "xcrs", &v->xcrs, sizeof(v->xcrs));
    }
    get_blob(p, off, np, "lapic", &v->lapic, sizeof(v->lapic));
    get_blob(p, off, np, "events", &v->events, sizeof(v->events));
    get_blob(p, off, np, "debugregs", &v->debugregs, sizeof(v->debugregs));
    int n = 0;
    const void *m = get(p, off, np, "msrs", 0, &n);
    if (m) {
        if (n % (int)sizeof(v->msrs[0]) || (size_t)n / sizeof(v->msrs[0]) > VCPU_MAX_MSRS)
            bad(p, np, "msrs", "not a whole number of entries, or too many");
        else {
            v->nmsrs = (uint32_t)((size_t)n / sizeof(v->msrs[0]));
            memcpy(v->msrs, m, (size_t)n);
        }
    }
    v->tsc_khz = get_u32(p, off, np, "tsc-khz");
}

static void parse_disk(struct parser *p, unsigned i, struct disk_saved *d)
{
    char np[48];
    snprintf(np, sizeof(np), "/devices/virtio-blk@%u", i);
    int off = node_at(p, np);
    get_blob(p, off, np, "transport", &d->transport, sizeof(d->transport));
    get_str(p, off, np, "path", d->path, sizeof(d->path));
    d->size = get_u64(p, off, np, "size");
    d->fingerprint = get_u64(p, off, np, "fingerprint");
    d->ro = get_u32(p, off, np, "read-only");
    if (!p->err && d->ro > 1)
        bad(p, np, "read-only", "must be 0 or 1");
}

/* Disks are numbered virtio-blk@0.. without gaps; count them. */
static unsigned count_disks(struct parser *p)
{
    int devs = node_at(p, "/devices");
    unsigned n = 0;
    int child;
    if (devs < 0)
        return 0;
    fdt_for_each_subnode(child, p->fdt, devs)
    {
        const char *name = fdt_get_name(p->fdt, child, NULL);
        if (name && strncmp(name, "virtio-blk@", 11) == 0)
            n++;
    }
    return n;
}

int statetree_parse(const void *blob, size_t len, const char *path, struct machine_state *ms)
{
    int err = statetree_check(blob, len, path);
    if (err)
        return err;
    memset(ms, 0, sizeof(*ms));
    struct parser p = {.fdt = blob, .path = path};
    int off = node_at(&p, "/vmrun");
    ms->format_version = get_u32(&p, off, "/vmrun", "format-version");
    if (!p.err && ms->format_version != STATETREE_FORMAT_VERSION)
        bad(&p, "/vmrun", "format-version", "not a version this vmrun reads");
    get_str(&p, off, "/vmrun", "host-cpu", ms->host_cpu, sizeof(ms->host_cpu));
    if (off >= 0 && fdt_getprop(blob, off, "parent", NULL)) {
        get_str(&p, off, "/vmrun", "parent", ms->parent, sizeof(ms->parent));
        ms->parent_index_hash = get_u64(&p, off, "/vmrun", "parent-index-hash");
    }

    off = node_at(&p, "/vm");
    ms->ncpus = get_u32(&p, off, "/vm", "vcpus");
    if (!p.err && (ms->ncpus == 0 || ms->ncpus > VM_MAX_VCPUS))
        bad(&p, "/vm", "vcpus", "outside 1..64");
    ms->cpuid_passthrough = get_u32(&p, off, "/vm", "host-cpuid");
    if (!p.err && ms->cpuid_passthrough > 1)
        bad(&p, "/vm", "host-cpuid", "must be 0 or 1");
    get_str(&p, off, "/vm", "cmdline", ms->cmdline, sizeof(ms->cmdline));
    get_blob(&p, off, "/vm", "pic-master", &ms->vm.pic_master, sizeof(ms->vm.pic_master));
    get_blob(&p, off, "/vm", "pic-slave", &ms->vm.pic_slave, sizeof(ms->vm.pic_slave));
    get_blob(&p, off, "/vm", "ioapic", &ms->vm.ioapic, sizeof(ms->vm.ioapic));
    get_blob(&p, off, "/vm", "pit", &ms->vm.pit, sizeof(ms->vm.pit));
    get_blob(&p, off, "/vm", "clock", &ms->vm.clock, sizeof(ms->vm.clock));
    for (unsigned i = 0; !p.err && i < ms->ncpus; i++)
        parse_vcpu(&p, i, &ms->vcpus[i]);

    off = node_at(&p, "/devices/serial@3f8");
    get_blob(&p, off, "/devices/serial@3f8", "state", &ms->uart, sizeof(ms->uart));
    ms->ndisks = p.err ? 0 : count_disks(&p);
    if (!p.err && ms->ndisks > VM_MAX_DISKS)
        bad(&p, "/devices", "virtio-blk", "more disks than vmrun supports");
    for (unsigned i = 0; !p.err && i < ms->ndisks; i++)
        parse_disk(&p, i, &ms->disks[i]);

    off = node_at(&p, "/memory");
    struct memory_saved *m = &ms->memory;
    m->size = get_u64(&p, off, "/memory", "size");
    m->chunk_size = get_u32(&p, off, "/memory", "chunk-size");
    m->index_hash = get_u64(&p, off, "/memory", "index-hash");
    m->chunks_total = get_u64(&p, off, "/memory", "chunks-total");
    m->chunks_data = get_u64(&p, off, "/memory", "chunks-data");
    m->chunks_zero = get_u64(&p, off, "/memory", "chunks-zero");
    m->chunks_absent = get_u64(&p, off, "/memory", "chunks-absent");
    m->data_bytes = get_u64(&p, off, "/memory", "data-bytes");
    if (!p.err && (m->size == 0 || m->size % 4096 || m->size > GM_MAX_RAM))
        bad(&p, "/memory", "size", "not a page-aligned RAM size vmrun supports");
    if (!p.err && (m->chunk_size < 4096 || (m->chunk_size & (m->chunk_size - 1))))
        bad(&p, "/memory", "chunk-size", "not a power of 2 of at least 4 KiB");
    return p.err;
}
