/* virtio-blk driver (polled, ring 3) and workload=blk: write the test pattern over the whole
 * first disk, flush, read it back and compare, GET_ID; or, for a read-only disk, read it all and
 * check that a write is refused. */
#include "blk.h"

#define MIB (1024ul * 1024)
/* Length of the first data descriptor of a BLK_SPLIT request: deliberately not 512-aligned. */
#define SPLIT_AT 1000u

void blk_pattern(uint8_t *p, uint64_t s)
{
    memcpy(p, &s, 8);
    for (unsigned i = 8; i < BLK_SECTOR; i++)
        p[i] = (uint8_t)(s * 7 + i * 13);
}

int blk_open(struct blk *b, uint8_t *ring_page, uint8_t *scratch, char *why, size_t n)
{
    struct virtio_slot slots[ABI_VIRTIO_MAX_DEVICES];
    unsigned count = virtio_find_slots(slots, ABI_VIRTIO_MAX_DEVICES);
    unsigned i;

    memset(b, 0, sizeof(*b));
    b->scratch = scratch;
    if (!count) {
        gsnprintf(why, n, "no disk");
        return -1;
    }
    for (i = 0; i < count; i++) {
        if (virtio_probe(&b->dev, &slots[i], ring_page)) {
            gsnprintf(why, n, "%s", b->dev.err);
            return -1;
        }
        if (b->dev.device_id == VIRTIO_ID_BLOCK)
            break;
        gprintf("vmrun guest: virtio-mmio at 0x%lx: device id %u, not a block device\n",
                slots[i].base, b->dev.device_id);
    }
    if (i == count) {
        gsnprintf(why, n, "no disk (none of the %u virtio-mmio devices is a block device)", count);
        return -1;
    }
    b->index = i;
    if (blk_reinit(b)) {
        gsnprintf(why, n, "init of the device at 0x%lx: %s", b->dev.base, b->dev.err);
        return -1;
    }
    return 0;
}

int blk_reinit(struct blk *b)
{
    if (virtio_init(&b->dev, BLK_WANTED_FEATURES))
        return -1;
    if (virtio_config64(&b->dev, BLK_CFG_CAPACITY, &b->capacity))
        return -1;
    b->ro = (b->dev.accepted >> VIRTIO_BLK_F_RO) & 1;
    return 0;
}

/* Build the chain for one request into descs (ring or indirect table); returns the count. */
static unsigned build_chain(volatile struct virtq_desc *descs, uint64_t hdr, uint64_t data,
                            uint32_t len, bool data_write, uint64_t status, bool split)
{
    uint16_t wflag = data_write ? VIRTQ_DESC_F_WRITE : 0;
    unsigned n = 0;
    vq_set_desc(&descs[n], hdr, sizeof(struct virtio_blk_req_hdr), VIRTQ_DESC_F_NEXT, n + 1);
    n++;
    if (len && split && len > 1) {
        uint32_t first = len > SPLIT_AT ? SPLIT_AT : len / 2;
        vq_set_desc(&descs[n], data, first, wflag | VIRTQ_DESC_F_NEXT, n + 1);
        n++;
        vq_set_desc(&descs[n], data + first, len - first, wflag | VIRTQ_DESC_F_NEXT, n + 1);
        n++;
    } else if (len) {
        vq_set_desc(&descs[n], data, len, wflag | VIRTQ_DESC_F_NEXT, n + 1);
        n++;
    }
    vq_set_desc(&descs[n], status, 1, VIRTQ_DESC_F_WRITE, 0);
    return n + 1;
}

int blk_request(struct blk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                enum blk_layout layout, uint8_t *status, uint32_t *used_len)
{
    struct virtio_dev *d = &b->dev;
    struct virtio_blk_req_hdr *hdr = (struct virtio_blk_req_hdr *)(b->scratch + BLK_SCR_HDR);
    volatile uint8_t *st = b->scratch + BLK_SCR_STATUS;
    bool data_write = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
    uint32_t max_write = (data_write ? len : 0) + 1;

    hdr->type = type;
    hdr->reserved = 0;
    hdr->sector = sector;
    *st = 0xff;
    if (layout == BLK_INDIRECT) {
        volatile struct virtq_desc *table =
            (volatile struct virtq_desc *)(b->scratch + BLK_SCR_TABLE);
        unsigned n =
            build_chain(table, (uint64_t)hdr, (uint64_t)buf, len, data_write, (uint64_t)st, false);
        vq_set_desc(&d->desc[0], (uint64_t)table, n * sizeof(struct virtq_desc),
                    VIRTQ_DESC_F_INDIRECT, 0);
    } else {
        build_chain(d->desc, (uint64_t)hdr, (uint64_t)buf, len, data_write, (uint64_t)st,
                    layout == BLK_SPLIT);
    }
    if (vq_run(d, 0, max_write, used_len))
        return -1;
    *status = *st;
    if (*status == VIRTIO_BLK_S_OK && type != VIRTIO_BLK_T_GET_ID &&
        *used_len != (type == VIRTIO_BLK_T_IN ? len + 1 : 1))
        b->used_len_notes++;
    return 0;
}

/* ---- workload=blk ---- */

#define BLK_FAIL(...)                                                                              \
    do {                                                                                           \
        puts_serial("BLK FAIL ");                                                                  \
        gprintf(__VA_ARGS__);                                                                      \
        putc_serial('\n');                                                                         \
        guest_exit(EXIT_FAIL);                                                                     \
    } while (0)

#define FIRST_REQ_SECTORS 8u /* the indirect and split requests are small */
#define MAX_REQ_SECTORS (BLK_MAX_REQ / BLK_SECTOR)
#define POISON 0x5a

static struct blk g_blk;

static const char *layout_name(enum blk_layout l)
{
    return l == BLK_INDIRECT ? "indirect" : l == BLK_SPLIT ? "split" : "direct";
}

const char *blk_status_name(uint8_t s, char *buf, size_t n)
{
    switch (s) {
    case VIRTIO_BLK_S_OK:
        return "OK";
    case VIRTIO_BLK_S_IOERR:
        return "IOERR";
    case VIRTIO_BLK_S_UNSUPP:
        return "UNSUPP";
    case 0xff:
        return "not written (0xff)";
    default:
        gsnprintf(buf, n, "0x%x", s);
        return buf;
    }
}

/* One request that must succeed. */
static void must_ok(struct blk *b, uint32_t type, const char *what, uint64_t sector, void *buf,
                    uint32_t len, enum blk_layout layout)
{
    uint8_t st;
    uint32_t used;
    char tmp[8];
    if (blk_request(b, type, sector, buf, len, layout, &st, &used))
        BLK_FAIL("%s of sectors %lu+%u (%s): %s", what, sector, len / BLK_SECTOR,
                 layout_name(layout), b->dev.err);
    if (st != VIRTIO_BLK_S_OK)
        BLK_FAIL("%s of sectors %lu+%u (%s): status %s, used len %u", what, sector,
                 len / BLK_SECTOR, layout_name(layout), blk_status_name(st, tmp, sizeof(tmp)),
                 used);
}

static void check_sectors(const uint8_t *buf, uint64_t first, uint32_t nsec)
{
    uint8_t want[BLK_SECTOR];
    for (uint32_t k = 0; k < nsec; k++) {
        const uint8_t *got = buf + (uint64_t)k * BLK_SECTOR;
        blk_pattern(want, first + k);
        if (memcmp(got, want, BLK_SECTOR) == 0)
            continue;
        for (unsigned i = 0; i < BLK_SECTOR; i++)
            if (got[i] != want[i])
                BLK_FAIL("data mismatch at sector %lu byte %u: got 0x%02x, want 0x%02x", first + k,
                         i, got[i], want[i]);
    }
}

static void pass_req(struct blk *b, bool write, bool verify, uint8_t *buf, uint64_t first,
                     uint32_t nsec, enum blk_layout lay)
{
    uint32_t len = nsec * BLK_SECTOR;
    if (write) {
        for (uint32_t k = 0; k < nsec; k++)
            blk_pattern(buf + (uint64_t)k * BLK_SECTOR, first + k);
        must_ok(b, VIRTIO_BLK_T_OUT, "write", first, buf, len, lay);
    } else {
        memset(buf, POISON, len);
        must_ok(b, VIRTIO_BLK_T_IN, "read", first, buf, len, lay);
        if (verify)
            check_sectors(buf, first, nsec);
    }
}

/* One pass over the whole disk: write the pattern (write), or read and, if verify, compare.
 * Request 0 uses an indirect table (when negotiated), the next one splits its data over two
 * descriptors, the rest are up to 64 KiB with one data descriptor. A disk too small for a second
 * request gets its first sectors done again with the split layout. Returns the request count. */
static uint64_t disk_pass(struct blk *b, bool write, bool verify, uint8_t *buf)
{
    bool indirect = (b->dev.accepted >> VIRTIO_F_INDIRECT_DESC) & 1;
    bool did_split = false;
    uint64_t s = 0, r = 0;
    while (s < b->capacity) {
        uint64_t left = b->capacity - s;
        uint32_t nsec = r < 2 ? FIRST_REQ_SECTORS : MAX_REQ_SECTORS;
        enum blk_layout lay = BLK_DIRECT;
        if (nsec > left)
            nsec = (uint32_t)left;
        if (r == 0 && indirect)
            lay = BLK_INDIRECT;
        else if (!did_split)
            lay = BLK_SPLIT, did_split = true;
        pass_req(b, write, verify, buf, s, nsec, lay);
        s += nsec;
        r++;
    }
    if (!did_split) {
        uint32_t nsec = b->capacity < FIRST_REQ_SECTORS ? (uint32_t)b->capacity : FIRST_REQ_SECTORS;
        pass_req(b, write, verify, buf, 0, nsec, BLK_SPLIT);
        r++;
    }
    return r;
}

static void print_notes(const struct blk *b)
{
    if (b->used_len_notes)
        gprintf("blk: note: %lu successful requests reported a used len other than the bytes "
                "written (data + status)\n",
                b->used_len_notes);
}

static void get_id(struct blk *b)
{
    char *id = (char *)b->scratch + BLK_SCR_ID;
    char shown[VIRTIO_BLK_ID_BYTES + 1];
    memset(id, 0, VIRTIO_BLK_ID_BYTES);
    must_ok(b, VIRTIO_BLK_T_GET_ID, "GET_ID", 0, id, VIRTIO_BLK_ID_BYTES, BLK_DIRECT);
    unsigned n;
    for (n = 0; n < VIRTIO_BLK_ID_BYTES && id[n]; n++)
        shown[n] = id[n] >= 0x20 && id[n] < 0x7f ? id[n] : '.';
    shown[n] = '\0';
    gprintf("blk: id \"%s\"\n", shown);
}

__attribute__((noreturn)) static void run_ro(struct blk *b, uint8_t *buf, uint8_t *sector0)
{
    uint8_t st;
    uint32_t used;
    char tmp[8];
    uint64_t t0 = ticks_now();
    uint64_t reqs = disk_pass(b, false, false, buf);
    gprintf("blk: read %lu sectors in %lu requests, %lu ticks\n", b->capacity, reqs,
            ticks_now() - t0);

    memset(sector0, POISON, BLK_SECTOR);
    must_ok(b, VIRTIO_BLK_T_IN, "read", 0, sector0, BLK_SECTOR, BLK_DIRECT);
    blk_pattern(buf, 0);
    if (memcmp(buf, sector0, BLK_SECTOR) == 0)
        buf[BLK_SECTOR - 1] ^= 0xff; /* make sure the write would change the disk */
    if (blk_request(b, VIRTIO_BLK_T_OUT, 0, buf, BLK_SECTOR, BLK_DIRECT, &st, &used))
        BLK_FAIL("write to the read-only disk: %s", b->dev.err);
    if (st != VIRTIO_BLK_S_IOERR)
        BLK_FAIL("write to the read-only disk: status %s, want IOERR",
                 blk_status_name(st, tmp, sizeof(tmp)));
    memset(buf, POISON, BLK_SECTOR);
    must_ok(b, VIRTIO_BLK_T_IN, "re-read", 0, buf, BLK_SECTOR, BLK_DIRECT);
    if (memcmp(buf, sector0, BLK_SECTOR) != 0)
        BLK_FAIL("sector 0 of the read-only disk changed after a refused write");
    gprintf("blk: write to the read-only disk refused with IOERR\n");
    get_id(b);
    print_notes(b);
    gprintf("BLK RO %lu\n", b->capacity);
    guest_exit(EXIT_OK);
}

__attribute__((noreturn)) static void run_rw(struct blk *b, uint8_t *buf)
{
    uint64_t t0 = ticks_now(), reqs;
    reqs = disk_pass(b, true, false, buf);
    gprintf("blk: wrote %lu sectors in %lu requests, %lu ticks\n", b->capacity, reqs,
            ticks_now() - t0);
    if ((b->dev.accepted >> VIRTIO_BLK_F_FLUSH) & 1) {
        must_ok(b, VIRTIO_BLK_T_FLUSH, "flush", 0, NULL, 0, BLK_DIRECT);
        gprintf("blk: flush OK\n");
    } else {
        gprintf("blk: VIRTIO_BLK_F_FLUSH not offered, no flush\n");
    }
    t0 = ticks_now();
    reqs = disk_pass(b, false, true, buf);
    gprintf("blk: read and checked %lu sectors in %lu requests, %lu ticks\n", b->capacity, reqs,
            ticks_now() - t0);
    get_id(b);
    print_notes(b);
    gprintf("BLK OK %lu\n", b->capacity);
    guest_exit(EXIT_OK);
}

void workload_blk(const struct guest_env *env)
{
    struct blk *b = &g_blk;
    char why[VIRTIO_ERR_LEN + 80];
    uint64_t base = ram_region_find(env, 2 * MIB);
    if (!base)
        BLK_FAIL("no 2 MiB of RAM for buffers");
    uint8_t *buf = (uint8_t *)base;                  /* 64 KiB data buffer */
    uint8_t *ring = (uint8_t *)(base + BLK_MAX_REQ); /* 4 KiB: the virtqueue */
    uint8_t *scratch = ring + 4096;                  /* 4 KiB: headers, status, table */
    uint8_t *sector0 = scratch + 4096;               /* 512 bytes */

    if (blk_open(b, ring, scratch, why, sizeof(why)))
        BLK_FAIL("%s", why);
    gprintf("blk: disk %u at 0x%lx irq %u: %lu sectors%s, features offered 0x%lx accepted 0x%lx, "
            "queue size %u (max %u)\n",
            b->index, b->dev.base, b->dev.irq, b->capacity, b->ro ? " read-only" : "",
            b->dev.offered, b->dev.accepted, b->dev.qsize, b->dev.qmax);
    if (b->capacity == 0)
        BLK_FAIL("disk is empty (capacity 0)");
    if (b->capacity > BLK_MAX_DISK / BLK_SECTOR)
        BLK_FAIL("capacity %lu sectors is more than the 1 GiB this workload handles", b->capacity);
    if (b->ro)
        run_ro(b, buf, sector0);
    run_rw(b, buf);
}
