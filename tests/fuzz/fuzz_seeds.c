/* Writes the valid seed inputs of tests/fuzz/corpus/: vmstate.dtb blobs from statetree_build,
 * memory.lz4 images from memimg_write, a bzImage wrapping an LZ4 vmlinux plus a bare ELF, and
 * virtqueue scenarios in fuzz_virtqueue.c's input layout. The fuzzers start from these so they
 * begin past the magic numbers and hashes. Run by hand when a format changes:
 *
 *   fuzz_seeds tests/fuzz/corpus      (files are named seed-*; crash reproducers are kept)
 */
#include <elf.h>
#include <errno.h>
#include <lz4.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmrun/machine_state.h"
#include "vmrun/mem.h"
#include "vmrun/memimg.h"
#include "vmrun/statetree.h"
#include "vmrun/virtqueue.h"

#include "../unit/tiny_elf.h"

static const char *root;

static void put(const char *target, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static void le16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void le32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void le64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

/* ---- vmstate.dtb ---- */

static void state_seed(const char *name, unsigned ncpus, unsigned ndisks, int xsave, int parent)
{
    struct machine_state *ms = calloc(1, sizeof(*ms));
    if (!ms)
        exit(1);
    ms->format_version = STATETREE_FORMAT_VERSION;
    strcpy(ms->host_cpu, "Fuzz CPU");
    strcpy(ms->cmdline, "console=ttyS0");
    ms->ncpus = ncpus;
    for (unsigned i = 0; i < ncpus; i++) {
        struct vcpu_saved *v = &ms->vcpus[i];
        v->regs.rip = 0x100000;
        v->has_xsave = v->has_xcrs = (uint32_t)xsave;
        v->tsc_khz = 2000000;
        v->nmsrs = 2;
        v->msrs[0] = (struct kvm_msr_entry){.index = 0x10, .data = 1};
        v->msrs[1] = (struct kvm_msr_entry){.index = 0xc0000080, .data = 0x500};
    }
    ms->ndisks = ndisks;
    for (unsigned i = 0; i < ndisks; i++) {
        snprintf(ms->disks[i].path, sizeof(ms->disks[i].path), "/var/lib/disk%u.img", i);
        ms->disks[i].size = 1 << 20;
        ms->disks[i].ro = i & 1;
    }
    ms->memory =
        (struct memory_saved){.size = 64 << 20, .chunk_size = 1 << 18, .chunks_total = 256};
    if (parent) {
        strcpy(ms->parent, "/snap/parent");
        ms->parent_index_hash = 42;
    }
    void *blob;
    size_t len;
    if (statetree_build(ms, &blob, &len) != 0)
        exit(1);
    put("statetree", name, blob, len);
    free(blob);
    free(ms);
}

/* ---- memory.lz4 ---- */

static void mem_seed(const char *name, uint64_t ram, uint32_t chunk, int hc, int diff)
{
    struct guest_mem *mem;
    if (gm_create(ram, NULL, &mem) != 0)
        exit(1);
    uint8_t *p;
    if (gm_ptr(mem, 0, ram, (void **)&p) != 0)
        exit(1);
    static const char text[16] = "vmrun fuzz seed ";
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    /* Chunk by chunk: zero, text-like (compresses), random (stored raw). */
    for (uint64_t k = 0; k < ram; k++) {
        if ((k / chunk + 1) % 3 == 1)
            p[k] = (uint8_t)text[k % 16];
        else if ((k / chunk + 1) % 3 == 2) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            p[k] = (uint8_t)s;
        }
    }
    uint64_t dirty[4] = {0x5555555555555555ULL, 0, 0, 0};
    struct memimg_write_opts o = {.chunk_size = chunk,
                                  .hc = hc,
                                  .threads = 1,
                                  .dirty = diff ? dirty : NULL,
                                  .ram_is_anonymous = true};
    char path[4096];
    snprintf(path, sizeof(path), "%s/memimg/%s", root, name);
    unlink(path);
    struct memimg_summary sum;
    if (memimg_write(path, mem, &o, &sum) != 0)
        exit(1);
    gm_destroy(mem);
}

/* ---- kernels ---- */

struct elf1 {
    Elf64_Ehdr eh;
    Elf64_Phdr ph[2];
    uint8_t code[32];
};

static void elf_make(struct elf1 *e)
{
    memset(e, 0, sizeof(*e));
    tiny_elf_header(&e->eh, 0x100000, offsetof(struct elf1, ph), 2);
    e->ph[0] = (Elf64_Phdr){.p_type = PT_LOAD,
                            .p_offset = offsetof(struct elf1, code),
                            .p_paddr = 0x100000,
                            .p_filesz = 16,
                            .p_memsz = 0x1000};
    e->ph[1] = (Elf64_Phdr){.p_type = PT_LOAD,
                            .p_offset = offsetof(struct elf1, code) + 16,
                            .p_paddr = 0x200000,
                            .p_filesz = 16,
                            .p_memsz = 16};
    memset(e->code, 0xf4, sizeof(e->code)); /* hlt */
}

/* A bzImage (protocol 2.15, 4 setup sectors) around the ELF, LZ4 legacy frames of block bytes;
 * two frames back to back when split. */
static void bz_seed(const char *name, size_t block, int split)
{
    struct elf1 e;
    elf_make(&e);
    static uint8_t b[8192];
    memset(b, 0, sizeof(b));
    b[0x1f1] = 4;
    le16(b + 0x1fe, 0xaa55);
    b[0x200] = 0xeb;
    b[0x201] = 0x6a;
    memcpy(b + 0x202, "HdrS", 4);
    le16(b + 0x206, 0x020f);
    b[0x211] = 0x01;
    le16(b + 0x236, 0x1);
    size_t start = 5 * 512 + 0x40, o = start;
    for (size_t i = 0; i < sizeof(e); i += block) {
        size_t n = sizeof(e) - i < block ? sizeof(e) - i : block;
        if (i == 0 || split)
            le32(b + o, 0x184c2102), o += 4;
        int c = LZ4_compress_default((const char *)&e + i, (char *)b + o + 4, (int)n, 2048);
        le32(b + o, (uint32_t)c);
        o += 4 + (size_t)c;
    }
    le32(b + o, sizeof(e));
    o += 4;
    le32(b + 0x248, 0x40);
    le32(b + 0x24c, (uint32_t)(o - start));
    put("bzimage", name, b, o);
}

/* ---- virtqueues: avail ring at 0x80, used ring at 0x100, buffers from 0x200; the descriptor
 * table and the indirect table where the caller says. RAM is filled from the input after the
 * ops: the "end" seeds fill exactly one page and put a table against its end, where the
 * harness's guard page catches any read past it ---- */

#define VQ_IN_HDR 36

static void desc(uint8_t *m, uint64_t at, uint64_t addr, uint32_t len, uint16_t fl, uint16_t nx)
{
    le64(m + at, addr);
    le32(m + at + 8, len);
    le16(m + at + 12, fl);
    le16(m + at + 14, nx);
}

struct vq_layout {
    uint64_t desc, itable;
    size_t ram; /* bytes of RAM in the input */
};

static void vq_seed(const char *name, const struct vq_layout *l, int indirect, int event_idx,
                    const uint8_t *ops, unsigned nops)
{
    static uint8_t in[VQ_IN_HDR + 4 * 16 + 4096];
    memset(in, 0, sizeof(in));
    le64(in, l->desc);
    le64(in + 8, 0x80);
    le64(in + 16, 0x100);
    le16(in + 24, 8);
    le16(in + 26, VQ_MAX_SIZE);
    in[34] = (uint8_t)(1 | (event_idx ? 2 : 0) | (indirect ? 4 : 0));
    in[35] = (uint8_t)nops;
    memcpy(in + VQ_IN_HDR, ops, 4 * nops);
    uint8_t *m = in + VQ_IN_HDR + 4 * nops;
    uint64_t d = l->desc, t = l->itable;
    if (indirect) {
        desc(m, d, t, 48, VQ_DESC_F_INDIRECT, 0);
        desc(m, t, 0x200, 16, VQ_DESC_F_NEXT, 1);
        desc(m, t + 16, 0x210, 32, VQ_DESC_F_NEXT, 2);
        desc(m, t + 32, 0x240, 64, VQ_DESC_F_WRITE, 0);
    } else {
        desc(m, d, 0x200, 16, VQ_DESC_F_NEXT, 1);
        desc(m, d + 16, 0x210, 0, VQ_DESC_F_NEXT, 2);
        desc(m, d + 32, 0x240, 64, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 7);
        desc(m, d + 48, 0x280, 8, 0, 0); /* a second chain: one readable buffer */
        desc(m, d + 112, 0x2c0, 16, VQ_DESC_F_WRITE, 0);
    }
    le16(m + 0x80 + 2, indirect ? 1 : 2); /* avail->idx */
    le16(m + 0x80 + 4, 0);                /* ring[0] */
    le16(m + 0x80 + 6, 3);                /* ring[1] */
    memset(m + 0x200, 'x', 0x80);
    put("virtqueue", name, in, (size_t)(m + l->ram - in));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds CORPUS_ROOT\n");
        return 2;
    }
    root = argv[1];
    state_seed("seed-minimal", 1, 0, 0, 0);
    state_seed("seed-xsave-disk-parent", 1, 1, 1, 1);
    state_seed("seed-2cpu-3disk", 2, 3, 0, 0);

    mem_seed("seed-full-4k", 48 << 10, 4 << 10, 0, 0);
    mem_seed("seed-full-8k-hc", 40 << 10, 8 << 10, 1, 0);
    mem_seed("seed-diff-4k", 32 << 10, 4 << 10, 0, 1);
    mem_seed("seed-one-chunk", 12 << 10, 16 << 10, 0, 0);

    struct elf1 e;
    elf_make(&e);
    put("bzimage", "seed-vmlinux", &e, sizeof(e));
    bz_seed("seed-bzimage-lz4", 1u << 20, 0);
    bz_seed("seed-bzimage-lz4-2frames", 64, 1);

    static const uint8_t pop3[] = {0, 0, 0, 0, 0, 1, 4, 0, 2, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t poke[] = {0, 1, 0, 0, 3, 0, 5, 0, 4, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    const struct vq_layout low = {.desc = 0, .itable = 0x180, .ram = 0x300};
    const struct vq_layout end = {.desc = 4096 - 128, .itable = 4096 - 48, .ram = 4096};
    vq_seed("seed-direct", &low, 0, 0, pop3, 4);
    vq_seed("seed-direct-event-idx", &low, 0, 1, pop3, 4);
    vq_seed("seed-indirect", &low, 1, 0, pop3, 4);
    vq_seed("seed-indirect-pokes", &low, 1, 1, poke, 5);
    vq_seed("seed-end-direct", &end, 0, 1, pop3, 4);
    vq_seed("seed-end-indirect", &end, 1, 0, poke, 5);
    return 0;
}
