/* vmstate.dtb, writing side. Numbers are FDT cells (big-endian, shown as <...> by dtc); KVM's own
 * structs are stored as byte strings in host order, exactly as KVM hands them out, with their
 * length checked on read. /vmrun/state-hash is the xxh3-64 of the whole blob taken with that value
 * zeroed, so a single flipped byte anywhere in the file is caught. */
#include "vmrun/statetree.h"

#include "vmrun/log.h"
#include "vmrun/machine_state.h"

#include <stdio.h>

#include <errno.h>
#include <libfdt.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define BLOB_SLACK (256u << 10)

struct builder {
    void *fdt;
    int err;
};

static void check(struct builder *b, int rc)
{
    if (rc < 0 && !b->err)
        b->err = rc;
}

static void node(struct builder *b, const char *name)
{
    if (!b->err)
        check(b, fdt_begin_node(b->fdt, name));
}

static void end(struct builder *b)
{
    if (!b->err)
        check(b, fdt_end_node(b->fdt));
}

static void prop(struct builder *b, const char *name, const void *p, size_t len)
{
    if (!b->err)
        check(b, fdt_property(b->fdt, name, p, (int)len));
}

static void prop_u32(struct builder *b, const char *name, uint32_t v)
{
    if (!b->err)
        check(b, fdt_property_u32(b->fdt, name, v));
}

static void prop_u64(struct builder *b, const char *name, uint64_t v)
{
    if (!b->err)
        check(b, fdt_property_u64(b->fdt, name, v));
}

static void prop_str(struct builder *b, const char *name, const char *s)
{
    if (!b->err)
        check(b, fdt_property_string(b->fdt, name, s));
}

static void build_vcpu(struct builder *b, const struct vcpu_saved *v, unsigned i)
{
    char name[32];
    snprintf(name, sizeof(name), "cpu@%u", i);
    node(b, name);
    prop_u32(b, "reg", i);
    prop_u64(b, "rip", v->regs.rip); /* for people reading the dts */
    prop(b, "mp-state", &v->mp, sizeof(v->mp));
    prop(b, "regs", &v->regs, sizeof(v->regs));
    prop(b, "sregs", &v->sregs, sizeof(v->sregs));
    if (v->has_xsave)
        prop(b, "xsave", &v->xsave, sizeof(v->xsave));
    else
        prop(b, "fpu", &v->fpu, sizeof(v->fpu));
    if (v->has_xcrs)
        prop(b, "xcrs", &v->xcrs, sizeof(v->xcrs));
    prop(b, "lapic", &v->lapic, sizeof(v->lapic));
    prop(b, "events", &v->events, sizeof(v->events));
    prop(b, "debugregs", &v->debugregs, sizeof(v->debugregs));
    prop(b, "msrs", v->msrs, v->nmsrs * sizeof(v->msrs[0]));
    prop_u32(b, "tsc-khz", v->tsc_khz);
    end(b);
}

static void build_disk(struct builder *b, const struct disk_saved *d, unsigned i)
{
    char name[48];
    snprintf(name, sizeof(name), "virtio-blk@%u", i);
    node(b, name);
    prop_u32(b, "reg", i);
    prop(b, "transport", &d->transport, sizeof(d->transport));
    prop_str(b, "path", d->path);
    prop_u64(b, "size", d->size);
    prop_u64(b, "fingerprint", d->fingerprint);
    prop_u32(b, "read-only", d->ro);
    end(b);
}

static void build_tree(struct builder *b, const struct machine_state *ms)
{
    check(b, fdt_finish_reservemap(b->fdt));
    node(b, "");
    prop_str(b, "compatible", "vmrun,snapshot");
    node(b, "vmrun");
    prop_u32(b, "format-version", STATETREE_FORMAT_VERSION);
    prop_str(b, "host-cpu", ms->host_cpu);
    prop_u64(b, "state-hash", 0);
    if (ms->parent[0]) {
        prop_str(b, "parent", ms->parent);
        prop_u64(b, "parent-index-hash", ms->parent_index_hash);
    }
    end(b);
    node(b, "vm");
    prop_u32(b, "vcpus", ms->ncpus);
    prop_u32(b, "host-cpuid", ms->cpuid_passthrough);
    prop_str(b, "cmdline", ms->cmdline);
    prop(b, "pic-master", &ms->vm.pic_master, sizeof(ms->vm.pic_master));
    prop(b, "pic-slave", &ms->vm.pic_slave, sizeof(ms->vm.pic_slave));
    prop(b, "ioapic", &ms->vm.ioapic, sizeof(ms->vm.ioapic));
    prop(b, "pit", &ms->vm.pit, sizeof(ms->vm.pit));
    prop(b, "clock", &ms->vm.clock, sizeof(ms->vm.clock));
    end(b);
    node(b, "vcpus");
    prop_u32(b, "#address-cells", 1);
    prop_u32(b, "#size-cells", 0);
    for (unsigned i = 0; i < ms->ncpus && i < VM_MAX_VCPUS; i++)
        build_vcpu(b, &ms->vcpus[i], i);
    end(b);
    node(b, "devices");
    prop_u32(b, "#address-cells", 1);
    prop_u32(b, "#size-cells", 0);
    node(b, "serial@3f8");
    prop_u32(b, "reg", 0x3f8);
    prop(b, "state", &ms->uart, sizeof(ms->uart));
    end(b);
    for (unsigned i = 0; i < ms->ndisks && i < VM_MAX_DISKS; i++)
        build_disk(b, &ms->disks[i], i);
    end(b);
    node(b, "memory");
    prop_str(b, "file", "memory.lz4");
    prop_u64(b, "size", ms->memory.size);
    prop_u32(b, "chunk-size", ms->memory.chunk_size);
    prop_u64(b, "index-hash", ms->memory.index_hash);
    prop_u64(b, "chunks-total", ms->memory.chunks_total);
    prop_u64(b, "chunks-data", ms->memory.chunks_data);
    prop_u64(b, "chunks-zero", ms->memory.chunks_zero);
    prop_u64(b, "chunks-absent", ms->memory.chunks_absent);
    prop_u64(b, "data-bytes", ms->memory.data_bytes);
    end(b);
    end(b);
    check(b, fdt_finish(b->fdt));
}

int statetree_build(const struct machine_state *ms, void **blob, size_t *len)
{
    size_t cap = sizeof(*ms) + BLOB_SLACK;
    struct builder b = {.fdt = calloc(1, cap)};
    if (!b.fdt)
        return -ENOMEM;
    check(&b, fdt_create(b.fdt, (int)cap));
    build_tree(&b, ms);
    int off = b.err ? -1 : fdt_path_offset(b.fdt, "/vmrun");
    if (!b.err && off >= 0) {
        size_t n = fdt_totalsize(b.fdt);
        uint64_t h = XXH3_64bits(b.fdt, n);
        check(&b, fdt_setprop_inplace_u64(b.fdt, off, "state-hash", h));
    }
    if (b.err) {
        free(b.fdt);
        return vlog_err(-EINVAL, "vmstate.dtb: building the tree: %s", fdt_strerror(b.err));
    }
    *blob = b.fdt;
    *len = fdt_totalsize(b.fdt);
    return 0;
}
