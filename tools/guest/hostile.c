/* workload=hostile: feed the first disk's virtio-blk device malformed requests, one at a time,
 * and check its reaction against the host's contract (devices/virtio_blk.c): structurally
 * invalid chains complete with used len 0 and nothing written; bad requests get IOERR/UNSUPP; a
 * corrupt avail ring sets DEVICE_NEEDS_RESET until the driver resets the device. Prints one line
 * per case, then HOSTILE OK (exit 0) or HOSTILE FAIL (exit 1). */
#include "blk.h"

#define MIB (1024ul * 1024)
#define BAD_GPA (1ull << 46) /* far beyond any guest RAM vmrun gives */
#define WRAP_GPA 0xffffffffffffff00ull
#define FILL 0xff
#define STALL_MS 50 /* how long a stalled queue must stay silent */
#define NEEDS_RESET_MS 500

static struct blk g_hb;
static unsigned g_fails;
static char g_why[VIRTIO_ERR_LEN + 120];
static uint8_t *g_table;   /* 4 KiB: indirect tables */
static uint8_t *g_data;    /* 64 KiB: data buffers */
static uint8_t *g_batch;   /* 64 KiB: full-ring headers, statuses, tables, buffers */
static uint8_t *g_big;     /* (capacity + 1) sectors, or NULL if RAM is short */
static uint32_t g_ovf_seg; /* len-overflow: bytes per data descriptor */
static uint64_t g_ram_top; /* end of the highest e820 RAM entry */

/* Record why the current case failed; returns false. The arguments may include g_why itself
 * (to add context to a failure reported deeper down). */
__attribute__((format(printf, 1, 2))) static bool why(const char *fmt, ...)
{
    static char tmp[sizeof(g_why)];
    va_list ap;
    va_start(ap, fmt);
    vgsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(g_why, tmp, sizeof(g_why));
    return false;
}

static const char *st_name(uint8_t s)
{
    static char buf[8];
    switch (s) {
    case VIRTIO_BLK_S_OK:
        return "OK";
    case VIRTIO_BLK_S_IOERR:
        return "IOERR";
    case VIRTIO_BLK_S_UNSUPP:
        return "UNSUPP";
    case FILL:
        return "untouched (0xff)";
    default:
        gsnprintf(buf, sizeof(buf), "0x%02x", s);
        return buf;
    }
}

static volatile struct virtq_desc *ring_desc(struct blk *b, unsigned i)
{
    return &b->dev.desc[i];
}

static volatile struct virtq_desc *table_desc(unsigned i)
{
    return (volatile struct virtq_desc *)g_table + i;
}

/* Fresh request header (type, sector) in the scratch page; status byte set to FILL. */
static uint64_t hdr(struct blk *b, uint32_t type, uint64_t sector)
{
    struct virtio_blk_req_hdr *h = (struct virtio_blk_req_hdr *)(b->scratch + BLK_SCR_HDR);
    h->type = type;
    h->reserved = 0;
    h->sector = sector;
    b->scratch[BLK_SCR_STATUS] = FILL;
    return (uint64_t)h;
}

static uint64_t status_addr(struct blk *b)
{
    return (uint64_t)(b->scratch + BLK_SCR_STATUS);
}

static uint8_t status_byte(struct blk *b)
{
    return *(volatile uint8_t *)(b->scratch + BLK_SCR_STATUS);
}

/* Post head 0, wait for its completion. */
static bool submit(struct blk *b, uint32_t max_write, uint32_t *len)
{
    vq_post(&b->dev, 0);
    if (vq_wait(&b->dev, 0, max_write, len, VQ_WAIT_MS))
        return why("%s", b->dev.err);
    return true;
}

static bool untouched(const volatile uint8_t *p, uint64_t n, const char *what)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != FILL)
            return why("device wrote 0x%02x into the %s at offset %lu", p[i], what, i);
    return true;
}

/* The chain at head 0 is structurally invalid: used len 0, status byte and data untouched. */
static bool expect_dropped(struct blk *b, uint32_t max_write, const volatile uint8_t *data,
                           uint64_t data_len)
{
    uint32_t len;
    if (!submit(b, max_write, &len))
        return false;
    if (len != 0)
        return why("used len %u, want 0 (status %s)", len, st_name(status_byte(b)));
    if (status_byte(b) != FILL)
        return why("used len 0 but status byte changed to 0x%02x", status_byte(b));
    return data ? untouched(data, data_len, "data buffer") : true;
}

/* The chain at head 0 is a bad request: the status byte must read want. */
static bool expect_status(struct blk *b, uint32_t max_write, uint8_t want)
{
    uint32_t len;
    if (!submit(b, max_write, &len))
        return false;
    if (status_byte(b) != want)
        return why("status %s, want %s (used len %u)", st_name(status_byte(b)), st_name(want), len);
    return true;
}

/* hdr -> data (len bytes at addr, device-writable) -> status: an IN request. */
static void in_chain(struct blk *b, uint64_t sector, uint64_t addr, uint32_t len)
{
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_IN, sector), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), addr, len, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    vq_set_desc(ring_desc(b, 2), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
}

/* (a) data buffer beyond guest RAM. */
static bool case_bad_addr(struct blk *b)
{
    in_chain(b, 0, BAD_GPA, BLK_SECTOR);
    return expect_dropped(b, BLK_SECTOR + 1, NULL, 0);
}

/* Data buffer starting in RAM but running 256 bytes past its end. */
static bool case_bad_addr_end(struct blk *b)
{
    volatile uint8_t *tail = (volatile uint8_t *)(g_ram_top - 256);
    for (int i = 0; i < 256; i++)
        tail[i] = FILL;
    in_chain(b, 0, g_ram_top - 256, BLK_SECTOR);
    if (!expect_dropped(b, BLK_SECTOR + 1, tail, 256))
        return false;
    return true;
}

/* Data buffer whose address + length wraps around 2^64. */
static bool case_addr_wrap(struct blk *b)
{
    in_chain(b, 0, WRAP_GPA, BLK_SECTOR);
    return expect_dropped(b, BLK_SECTOR + 1, NULL, 0);
}

/* (b) hdr -> data -> status -> data -> ...: a loop without any other fault. */
static bool case_loop(struct blk *b)
{
    memset(g_data, FILL, BLK_SECTOR);
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 2)->flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
    ring_desc(b, 2)->next = 1;
    return expect_dropped(b, BLK_SECTOR + 1, g_data, BLK_SECTOR);
}

static bool need_indirect(struct blk *b)
{
    if (!((b->dev.accepted >> VIRTIO_F_INDIRECT_DESC) & 1))
        return why("VIRTIO_RING_F_INDIRECT_DESC not offered (features 0x%lx)", b->dev.offered);
    return true;
}

/* (c) an indirect table of queue size + 1 entries: hdr, size - 1 data sectors, status. */
static bool case_too_long(struct blk *b)
{
    unsigned q = b->dev.qsize, i;
    uint32_t data_len = (q - 1) * BLK_SECTOR;
    if (!need_indirect(b))
        return false;
    memset(g_data, FILL, data_len);
    vq_set_desc(table_desc(0), hdr(b, VIRTIO_BLK_T_IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    for (i = 1; i < q; i++)
        vq_set_desc(table_desc(i), (uint64_t)g_data + (i - 1) * BLK_SECTOR, BLK_SECTOR,
                    VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    vq_set_desc(table_desc(q), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
    vq_set_desc(ring_desc(b, 0), (uint64_t)g_table, (q + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
    return expect_dropped(b, data_len + 1, g_data, data_len);
}

/* An indirect table that itself holds an indirect descriptor. */
static bool case_nested_indirect(struct blk *b)
{
    if (!need_indirect(b))
        return false;
    memset(g_data, FILL, BLK_SECTOR);
    vq_set_desc(table_desc(0), hdr(b, VIRTIO_BLK_T_IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(table_desc(1), (uint64_t)(table_desc(4)), 32, VIRTQ_DESC_F_INDIRECT, 0);
    vq_set_desc(table_desc(4), (uint64_t)g_data, BLK_SECTOR, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
                1);
    vq_set_desc(table_desc(5), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
    vq_set_desc(ring_desc(b, 0), (uint64_t)g_table, 32, VIRTQ_DESC_F_INDIRECT, 0);
    return expect_dropped(b, BLK_SECTOR + 1, g_data, BLK_SECTOR);
}

/* An indirect table whose length is not a multiple of 16. */
static bool case_indirect_len(struct blk *b)
{
    if (!need_indirect(b))
        return false;
    memset(g_data, FILL, BLK_SECTOR);
    vq_set_desc(table_desc(0), hdr(b, VIRTIO_BLK_T_IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(table_desc(1), (uint64_t)g_data, BLK_SECTOR, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT,
                2);
    vq_set_desc(table_desc(2), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
    vq_set_desc(ring_desc(b, 0), (uint64_t)g_table, 3 * 16 - 8, VIRTQ_DESC_F_INDIRECT, 0);
    return expect_dropped(b, BLK_SECTOR + 1, g_data, BLK_SECTOR);
}

/* A readable descriptor after a writable one: hdr -> status (W) -> data (R). */
static bool case_order(struct blk *b)
{
    memset(g_data, FILL, BLK_SECTOR);
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_OUT, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), status_addr(b), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    vq_set_desc(ring_desc(b, 2), (uint64_t)g_data, BLK_SECTOR, 0, 0);
    return expect_dropped(b, 1, NULL, 0);
}

/* A next index >= queue size. */
static bool case_bad_next(struct blk *b)
{
    memset(g_data, FILL, BLK_SECTOR);
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 1)->next = b->dev.qsize;
    return expect_dropped(b, BLK_SECTOR + 1, g_data, BLK_SECTOR);
}

/* (d) a read whose data is one sector longer than the whole disk. */
static bool case_oversized(struct blk *b)
{
    uint64_t len = (b->capacity + 1) * BLK_SECTOR;
    if (!g_big)
        return why("no RAM for a %lu-byte buffer (give the guest more --mem)", len);
    in_chain(b, 0, (uint64_t)g_big, (uint32_t)len);
    return expect_status(b, (uint32_t)len + 1, VIRTIO_BLK_S_IOERR);
}

/* Data descriptors (queue size - 2 of them, all over the same RAM) whose lengths add up to more
 * than 4 GiB, so a 32-bit total would wrap to a small number. Either refusal is safe: the chain
 * dropped (used len 0, nothing written) or IOERR (beyond capacity). */
static bool case_len_overflow(struct blk *b)
{
    unsigned q = b->dev.qsize, i;
    uint32_t len;
    if (!g_big)
        return why("no RAM for a %u-byte buffer (give the guest more --mem)", g_ovf_seg);
    memset(g_big, FILL, MIB);
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_IN, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    for (i = 1; i < q - 1; i++)
        vq_set_desc(ring_desc(b, i), (uint64_t)g_big, g_ovf_seg,
                    VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, (uint16_t)(i + 1));
    vq_set_desc(ring_desc(b, q - 1), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
    if (!submit(b, UINT32_MAX, &len))
        return false;
    if (status_byte(b) == FILL && len != 0)
        return why("used len %u without a status byte", len);
    if (status_byte(b) != FILL && status_byte(b) != VIRTIO_BLK_S_IOERR)
        return why("status %s (used len %u), want IOERR or a dropped chain",
                   st_name(status_byte(b)), len);
    if (!untouched(g_big, MIB, "data buffer"))
        return false;
    gprintf("hostile: len-overflow: %u x %u bytes: %s\n", q - 2, g_ovf_seg,
            status_byte(b) == FILL ? "dropped, used len 0" : "IOERR");
    return true;
}

/* Ranges crossing the end of the disk: a read of the last sector and the one after it, a write
 * of the sector after the last. */
static bool case_beyond_end(struct blk *b)
{
    in_chain(b, b->capacity - 1, (uint64_t)g_data, 2 * BLK_SECTOR);
    if (!expect_status(b, 2 * BLK_SECTOR + 1, VIRTIO_BLK_S_IOERR))
        return why("read of sectors %lu+2: %s", b->capacity - 1, g_why);
    in_chain(b, b->capacity, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 0)->addr = hdr(b, VIRTIO_BLK_T_OUT, b->capacity);
    ring_desc(b, 1)->flags = VIRTQ_DESC_F_NEXT;
    if (!expect_status(b, 1, VIRTIO_BLK_S_IOERR))
        return why("write of sector %lu: %s", b->capacity, g_why);
    return true;
}

/* Sector numbers whose byte offset or end overflows 64 bits. */
static bool case_sector_overflow(struct blk *b)
{
    static const uint64_t sectors[] = {1ull << 55, UINT64_MAX, UINT64_MAX - 1, (1ull << 55) - 1};
    for (unsigned i = 0; i < sizeof(sectors) / sizeof(sectors[0]); i++) {
        in_chain(b, sectors[i], (uint64_t)g_data, 2 * BLK_SECTOR);
        if (!expect_status(b, 2 * BLK_SECTOR + 1, VIRTIO_BLK_S_IOERR))
            return why("read of sectors 0x%lx+2: %s", sectors[i], g_why);
    }
    return true;
}

/* (e) a header of 8 bytes. */
static bool case_short_header(struct blk *b)
{
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 0)->len = 8;
    return expect_status(b, BLK_SECTOR + 1, VIRTIO_BLK_S_IOERR);
}

/* (f) request type 0x55. */
static bool case_bad_type(struct blk *b)
{
    vq_set_desc(ring_desc(b, 0), hdr(b, 0x55, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
    return expect_status(b, 1, VIRTIO_BLK_S_UNSUPP);
}

/* A read of 100 bytes: not a whole number of sectors. */
static bool case_unaligned_len(struct blk *b)
{
    in_chain(b, 0, (uint64_t)g_data, 100);
    return expect_status(b, 101, VIRTIO_BLK_S_IOERR);
}

/* A write with no device-writable byte at all. */
static bool case_no_status(struct blk *b)
{
    blk_pattern(g_data, 0);
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_OUT, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), (uint64_t)g_data, BLK_SECTOR, 0, 0);
    return expect_dropped(b, 0, NULL, 0);
}

/* Write sector s with the pattern and read it back; the device must work normally. */
static bool valid_io(struct blk *b, uint64_t s, enum blk_layout lay)
{
    uint8_t st;
    uint32_t len;
    blk_pattern(g_data, s);
    if (blk_request(b, VIRTIO_BLK_T_OUT, s, g_data, BLK_SECTOR, lay, &st, &len))
        return why("valid write of sector %lu: %s", s, b->dev.err);
    if (st != VIRTIO_BLK_S_OK)
        return why("valid write of sector %lu: status %s", s, st_name(st));
    memset(g_data + BLK_SECTOR, 0x5a, BLK_SECTOR);
    if (blk_request(b, VIRTIO_BLK_T_IN, s, g_data + BLK_SECTOR, BLK_SECTOR, lay, &st, &len))
        return why("valid read of sector %lu: %s", s, b->dev.err);
    if (st != VIRTIO_BLK_S_OK)
        return why("valid read of sector %lu: status %s", s, st_name(st));
    if (memcmp(g_data, g_data + BLK_SECTOR, BLK_SECTOR) != 0)
        return why("sector %lu read back differs from what was written", s);
    return true;
}

static bool case_still_works(struct blk *b)
{
    if (!valid_io(b, 1, BLK_DIRECT) || !valid_io(b, 3, BLK_SPLIT))
        return false;
    if ((b->dev.accepted >> VIRTIO_F_INDIRECT_DESC) & 1)
        return valid_io(b, 5, BLK_INDIRECT);
    return true;
}

/* A full ring: queue-size requests (one indirect descriptor each) published with one avail idx
 * update and one notify. All must complete with OK, each head exactly once. */
static bool case_full_ring(struct blk *b)
{
    struct virtio_dev *d = &b->dev;
    unsigned q = d->qsize;
    uint8_t *status = g_batch;                                     /* q bytes */
    struct virtio_blk_req_hdr *hdrs = (void *)(g_batch + 256);     /* q * 16 */
    volatile struct virtq_desc *tables = (void *)(g_batch + 4096); /* q * 3 entries */
    uint8_t *bufs = g_batch + 8192;                                /* q sectors */
    uint64_t seen = 0;
    struct deadline dl;

    if (!need_indirect(b))
        return false;
    for (unsigned k = 0; k < q; k++) {
        hdrs[k] = (struct virtio_blk_req_hdr){VIRTIO_BLK_T_IN, 0, k};
        status[k] = FILL;
        vq_set_desc(&tables[3 * k], (uint64_t)&hdrs[k], 16, VIRTQ_DESC_F_NEXT, 1);
        vq_set_desc(&tables[3 * k + 1], (uint64_t)(bufs + k * BLK_SECTOR), BLK_SECTOR,
                    VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
        vq_set_desc(&tables[3 * k + 2], (uint64_t)&status[k], 1, VIRTQ_DESC_F_WRITE, 0);
        vq_set_desc(&d->desc[k], (uint64_t)&tables[3 * k], 48, VIRTQ_DESC_F_INDIRECT, 0);
        d->avail->ring[(uint16_t)(d->avail_idx + k) & (q - 1)] = (uint16_t)k;
    }
    vio_mb();
    d->avail_idx = (uint16_t)(d->avail_idx + q);
    d->avail->idx = d->avail_idx;
    vio_mb();
    vio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);

    deadline_start(&dl, VQ_WAIT_MS);
    for (unsigned n = 0; n < q; n++) {
        while (d->used->idx == d->used_idx) {
            if (deadline_passed(&dl))
                return why("%u of %u completions after %u ms (used idx %u)", n, q, VQ_WAIT_MS,
                           d->used->idx);
            cpu_relax();
        }
        vio_mb();
        if ((uint16_t)(d->used->idx - d->used_idx) > (uint16_t)(q - n))
            return why("used idx %u ran ahead of the %u outstanding requests", d->used->idx, q - n);
        volatile struct virtq_used_elem *e = &d->used->ring[d->used_idx & (q - 1)];
        uint32_t id = e->id, len = e->len;
        d->used_idx++;
        if (id >= q || (seen >> id) & 1)
            return why("used id %u out of range or completed twice", id);
        seen |= 1ull << id;
        if (len > BLK_SECTOR + 1)
            return why("used len %u for a 513-byte writable request", len);
        if (status[id] != VIRTIO_BLK_S_OK)
            return why("request %u: status %s", id, st_name(status[id]));
    }
    return true;
}

/* After an avail-ring corruption: NEEDS_RESET within a bounded poll, the config interrupt,
 * nothing completed, a valid request ignored; then reset, re-initialise, and do valid I/O. */
static bool expect_needs_reset(struct blk *b, uint16_t used_before)
{
    struct virtio_dev *d = &b->dev;
    struct deadline dl;
    uint32_t st, isr, len;

    deadline_start(&dl, NEEDS_RESET_MS);
    while (!((st = vio_read(d, VIRTIO_MMIO_STATUS)) & VIRTIO_STATUS_NEEDS_RESET)) {
        if (deadline_passed(&dl))
            return why("Status 0x%x after %u ms, no DEVICE_NEEDS_RESET (used idx %u)", st,
                       NEEDS_RESET_MS, d->used->idx);
        cpu_relax();
    }
    isr = vio_read(d, VIRTIO_MMIO_INTERRUPT_STATUS);
    if (!(isr & VIRTIO_INT_CONFIG))
        return why("Status 0x%x but InterruptStatus 0x%x lacks the config-change bit", st, isr);
    if (d->used->idx != used_before)
        return why("used idx moved from %u to %u", used_before, d->used->idx);

    /* The queue must stay stopped: a valid read is not processed. */
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    vq_post(d, 0);
    int r = vq_wait(d, 0, BLK_SECTOR + 1, &len, STALL_MS);
    if (r == 0)
        return why("device completed a request while needing reset (used len %u, status %s)", len,
                   st_name(status_byte(b)));
    if (r < 0)
        return why("while needing reset: %s", d->err);
    if (status_byte(b) != FILL)
        return why("status byte written (0x%02x) while needing reset", status_byte(b));

    vio_write(d, VIRTIO_MMIO_INTERRUPT_ACK, isr);
    if (blk_reinit(b))
        return why("re-initialisation after reset: %s", d->err);
    st = vio_read(d, VIRTIO_MMIO_STATUS);
    if (st & VIRTIO_STATUS_NEEDS_RESET)
        return why("Status 0x%x still has DEVICE_NEEDS_RESET after reset + init", st);
    return valid_io(b, 2, BLK_DIRECT);
}

/* (g) an avail ring entry naming head = queue size. */
static bool case_bad_head(struct blk *b)
{
    uint16_t used_before = b->dev.used->idx;
    vq_post(&b->dev, b->dev.qsize);
    return expect_needs_reset(b, used_before);
}

/* avail->idx jumping queue size + 1 entries ahead. */
static bool case_idx_jump(struct blk *b)
{
    struct virtio_dev *d = &b->dev;
    uint16_t used_before = d->used->idx;
    d->avail_idx = (uint16_t)(d->avail_idx + d->qsize + 1);
    d->avail->idx = d->avail_idx;
    vio_mb();
    vio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    return expect_needs_reset(b, used_before);
}

struct hcase {
    const char *name;
    bool (*run)(struct blk *b);
};

static const struct hcase cases[] = {
    {"bad-addr", case_bad_addr},
    {"bad-addr-end", case_bad_addr_end},
    {"addr-wrap", case_addr_wrap},
    {"loop", case_loop},
    {"too-long", case_too_long},
    {"nested-indirect", case_nested_indirect},
    {"indirect-len", case_indirect_len},
    {"order", case_order},
    {"bad-next", case_bad_next},
    {"oversized", case_oversized},
    {"len-overflow", case_len_overflow},
    {"beyond-end", case_beyond_end},
    {"sector-overflow", case_sector_overflow},
    {"short-header", case_short_header},
    {"bad-type", case_bad_type},
    {"unaligned-len", case_unaligned_len},
    {"no-status", case_no_status},
    {"full-ring", case_full_ring},
    {"still-works", case_still_works},
    {"bad-head", case_bad_head},
    {"idx-jump", case_idx_jump},
};

__attribute__((noreturn)) static void finish(void)
{
    if (g_fails) {
        gprintf("HOSTILE FAIL\n");
        guest_exit(EXIT_FAIL);
    }
    gprintf("HOSTILE OK\n");
    guest_exit(EXIT_OK);
}

static void run_case(struct blk *b, const struct hcase *c)
{
    bool ok;
    uint32_t st;
    g_why[0] = '\0';
    ok = c->run(b);
    st = vio_read(&b->dev, VIRTIO_MMIO_STATUS);
    if (ok && (st & (VIRTIO_STATUS_NEEDS_RESET | VIRTIO_STATUS_FAILED)))
        ok = why("afterwards Status reads 0x%x", st);
    if (ok) {
        gprintf("hostile %s: ok\n", c->name);
        return;
    }
    gprintf("hostile %s: FAIL %s\n", c->name, g_why);
    g_fails++;
    /* Start the next case from a clean device. */
    vio_write(&b->dev, VIRTIO_MMIO_INTERRUPT_ACK, vio_read(&b->dev, VIRTIO_MMIO_INTERRUPT_STATUS));
    if (blk_reinit(b)) {
        gprintf("hostile recover: FAIL %s\n", b->dev.err);
        g_fails++;
        finish();
    }
}

void workload_hostile(const struct guest_env *env)
{
    struct blk *b = &g_hb;
    char whyopen[VIRTIO_ERR_LEN + 80];
    uint64_t base, big_len = 0;

    for (unsigned i = 0; i < env->n_e820; i++)
        if (env->e820[i].type == E820_RAM && env->e820[i].addr + env->e820[i].size > g_ram_top)
            g_ram_top = env->e820[i].addr + env->e820[i].size;

    base = ram_region_find(env, 2 * MIB);
    if (!base) {
        gprintf("HOSTILE FAIL no 2 MiB of RAM for buffers\n");
        guest_exit(EXIT_FAIL);
    }
    uint8_t *ring = (uint8_t *)base;
    uint8_t *scratch = ring + 4096;
    g_table = ring + 8192;
    g_data = (uint8_t *)base + 64 * 1024;
    g_batch = (uint8_t *)base + 128 * 1024;

    if (blk_open(b, ring, scratch, whyopen, sizeof(whyopen))) {
        gprintf("HOSTILE FAIL %s\n", whyopen);
        guest_exit(EXIT_FAIL);
    }
    gprintf("hostile: disk %u at 0x%lx: %lu sectors%s, features offered 0x%lx accepted 0x%lx, "
            "queue size %u (max %u), RAM top 0x%lx\n",
            b->index, b->dev.base, b->capacity, b->ro ? " read-only" : "", b->dev.offered,
            b->dev.accepted, b->dev.qsize, b->dev.qmax, g_ram_top);
    if (b->capacity < b->dev.qsize || b->capacity > BLK_MAX_DISK / BLK_SECTOR) {
        gprintf("HOSTILE FAIL capacity %lu sectors: this workload needs %u sectors to 1 GiB\n",
                b->capacity, b->dev.qsize);
        guest_exit(EXIT_FAIL);
    }
    if (b->ro)
        gprintf("hostile: the disk is read-only, the checks that write will fail\n");

    /* The oversized read needs a buffer of the whole disk plus a sector, the length overflow
     * one of 4 GiB / (queue size - 2); both use the RAM after the first 2 MiB. */
    big_len = (b->capacity + 1) * BLK_SECTOR;
    g_ovf_seg = (uint32_t)((((1ull << 32) + MIB) / (b->dev.qsize - 2) + MIB - 1) & ~(MIB - 1));
    if (g_ovf_seg > big_len)
        big_len = g_ovf_seg;
    big_len = (big_len + 2 * MIB - 1) & ~(2 * MIB - 1);
    if (ram_region_find(env, 2 * MIB + big_len) == base)
        g_big = (uint8_t *)base + 2 * MIB;

    for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_case(b, &cases[i]);
    finish();
}
