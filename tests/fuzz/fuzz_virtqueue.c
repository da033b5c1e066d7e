/* Fuzz target: split virtqueues, device side (vq_pop, vq_chain_read/write, vq_push,
 * vq_should_notify), against rings and a queue state that both come from the input: the guest
 * writes every ring byte, and a snapshot's vmstate.dtb supplies the vq_state on restore.
 *
 * Input: a 36-byte header (vq_state fields, little-endian), nops 4-byte operations, then the
 * guest RAM from GPA 0 (rounded up to whole pages, at most 1 MiB; a guard page follows it, see
 * fuzz_guest.h). The state is admitted the way virtio_mmio's restore_state admits it (max size
 * a device could offer, size <= max, a ready queue's layout checked by vq_check_layout) and the
 * operations then play the device and a driver that rewrites ring fields between calls. No
 * hashes are involved here, so nothing is re-sealed.
 *
 *   0 u64 desc_gpa   8 u64 avail_gpa   16 u64 used_gpa
 *  24 u16 size  26 u16 max_size  28 u16 next_avail  30 u16 next_used  32 u16 signalled_used
 *  34 u8 flags: 1 ready, 2 event_idx, 4 indirect, 8 signalled_valid, 16 broken
 *  35 u8 nops (at most FUZZ_MAX_OPS are run)
 *  op: u8 code, u8 a, u16 b */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmrun/mem.h"
#include "vmrun/virtqueue.h"
#include "fuzz_guest.h"

#define FUZZ_MAX_RAM (1u << 20)
#define FUZZ_HDR 36
#define FUZZ_MAX_OPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint16_t ld16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t ld64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* What vq_pop promises about a chain it returns. */
static void check_chain(struct vq *q, const struct vq_chain *c)
{
    uint64_t rd = 0, wr = 0;
    int seen_write = 0;
    if (c->head >= q->st.size || c->nseg > q->st.size)
        abort();
    for (unsigned i = 0; i < c->nseg; i++) {
        void *p;
        const struct vq_seg *s = &c->seg[i];
        if (s->len == 0 || gm_ptr(q->mem, s->gpa, s->len, &p) != 0 || (seen_write && !s->write))
            abort();
        seen_write |= s->write;
        *(s->write ? &wr : &rd) += s->len;
    }
    if (rd != c->readable_len || wr != c->writable_len)
        abort();
}

/* Read, then write, up to sizeof(buf) bytes from offset off; the totals bound both. */
static uint32_t consume(struct vq *q, const struct vq_chain *c, uint16_t off)
{
    static uint8_t buf[64 << 10];
    uint32_t r_off = c->readable_len ? off % (c->readable_len + 1) : 0;
    uint32_t n = c->readable_len - r_off;
    if (vq_chain_read(q, c, r_off, buf, n < sizeof(buf) ? n : sizeof(buf)) != 0)
        abort();
    if (vq_chain_read(q, c, c->readable_len, buf, 1) != -EINVAL)
        abort();
    uint32_t w_off = c->writable_len ? off % (c->writable_len + 1) : 0;
    n = c->writable_len - w_off;
    n = n < sizeof(buf) ? n : sizeof(buf);
    if (vq_chain_write(q, c, w_off, buf, n) != 0)
        abort();
    if (vq_chain_write(q, c, c->writable_len, buf, 1) != -EINVAL)
        abort();
    return n;
}

/* The driver rewriting a ring field between two device calls; out-of-RAM targets are ignored. */
static void poke16(struct vq *q, uint64_t gpa, uint16_t v)
{
    gm_write(q->mem, gpa, &v, sizeof(v), sizeof(v));
}

static void run_op(struct vq *q, const uint8_t *op, uint16_t *held, unsigned *nheld)
{
    static struct vq_chain chain;
    uint8_t a = op[1];
    uint16_t b = ld16(op + 2);
    int rc;
    switch (op[0] % 6) {
    case 0: /* pop; complete now, or hold the head when a is odd */
        rc = vq_pop(q, &chain);
        if (rc > 1 || (rc < 0 && rc != -EINVAL && rc != -EIO))
            abort();
        if (rc == 1) {
            check_chain(q, &chain);
            uint32_t n = consume(q, &chain, b);
            if (a & 1 && *nheld < 16)
                held[(*nheld)++] = chain.head;
            else
                vq_push(q, chain.head, n);
        } else if (rc == -EINVAL) {
            if (chain.nseg || chain.readable_len || chain.writable_len)
                abort();
            vq_push(q, chain.head, 0);
        }
        break;
    case 1: /* complete a held head, or try an arbitrary one */
        vq_push(q, *nheld ? held[--(*nheld)] : b, a);
        break;
    case 2:
        vq_should_notify(q);
        break;
    case 3: /* avail->idx */
        poke16(q, q->st.avail_gpa + 2, b);
        break;
    case 4: /* an avail ring slot, or used_event just past the ring */
        poke16(q, q->st.avail_gpa + 4 + 2ULL * (a % (q->st.size + 1u)), b);
        break;
    case 5: /* a descriptor's flags or next field */
        poke16(q, q->st.desc_gpa + 16ULL * (a % q->st.size) + 12 + 2 * (b & 1), b >> 1);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FUZZ_HDR)
        return 0;
    struct vq_state st = {
        .desc_gpa = ld64(data),
        .avail_gpa = ld64(data + 8),
        .used_gpa = ld64(data + 16),
        .size = ld16(data + 24),
        .max_size = ld16(data + 26),
        .next_avail = ld16(data + 28),
        .next_used = ld16(data + 30),
        .signalled_used = ld16(data + 32),
        .ready = data[34] & 1,
        .event_idx = !!(data[34] & 2),
        .indirect = !!(data[34] & 4),
        .signalled_valid = !!(data[34] & 8),
        .broken = !!(data[34] & 16),
    };
    unsigned nops = data[35] < FUZZ_MAX_OPS ? data[35] : FUZZ_MAX_OPS;
    const uint8_t *ops = data + FUZZ_HDR;
    if ((size - FUZZ_HDR) / 4 < nops)
        nops = (unsigned)((size - FUZZ_HDR) / 4);
    size_t fill = size - FUZZ_HDR - 4 * (size_t)nops;
    if (fill > FUZZ_MAX_RAM)
        fill = FUZZ_MAX_RAM;
    /* RAM just big enough for the input, so rings and tables near its end meet the guard. */
    struct fuzz_guest g;
    fuzz_guest_create(&g, fill ? (fill + 4095) & ~(uint64_t)4095 : 4096);
    memcpy(g.ram, ops + 4 * nops, fill);
    /* Restore's admission rules (devices/virtio_mmio.c restore_state). */
    if (st.max_size != 0 && st.max_size <= VQ_MAX_SIZE && st.size <= st.max_size &&
        (!st.ready || vq_check_layout(&st, g.mem) == 0)) {
        struct vq q;
        vq_init(&q, g.mem, st.max_size);
        q.st = st;
        uint16_t held[16];
        unsigned nheld = 0;
        for (unsigned i = 0; i < nops && q.st.size; i++)
            run_op(&q, ops + 4 * i, held, &nheld);
    }
    fuzz_guest_destroy(&g);
    return 0;
}
