/* workload=hostile: feed the first disk's virtio-blk device malformed requests, one at a time,
 * and check its reaction against the host's contract (devices/virtio_blk.c): structurally
 * invalid chains complete with used len 0 and nothing written; bad requests get IOERR/UNSUPP; a
 * corrupt avail ring sets DEVICE_NEEDS_RESET until the driver resets the device. Prints one line
 * per case, then HOSTILE OK (exit 0) or HOSTILE FAIL (exit 1). */
#include "hostile.h"

static struct blk g_hb;
static unsigned g_fails;
char g_why[VIRTIO_ERR_LEN + 120];
uint8_t *g_table;
uint8_t *g_data;
uint8_t *g_batch;
uint8_t *g_big;
uint32_t g_ovf_seg;
uint64_t g_ram_top;

/* Record why the current case failed; returns false. The arguments may include g_why itself
 * (to add context to a failure reported deeper down). */
__attribute__((format(printf, 1, 2))) bool why(const char *fmt, ...)
{
    static char tmp[sizeof(g_why)];
    va_list ap;
    va_start(ap, fmt);
    vgsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    memcpy(g_why, tmp, sizeof(g_why));
    return false;
}

const char *st_name(uint8_t s)
{
    static char buf[8];
    return blk_status_name(s, buf, sizeof(buf));
}

volatile struct virtq_desc *ring_desc(struct blk *b, unsigned i)
{
    return &b->dev.desc[i];
}

volatile struct virtq_desc *table_desc(unsigned i)
{
    return (volatile struct virtq_desc *)g_table + i;
}

/* Fresh request header (type, sector) in the scratch page; status byte set to FILL. */
uint64_t hdr(struct blk *b, uint32_t type, uint64_t sector)
{
    struct virtio_blk_req_hdr *h = (struct virtio_blk_req_hdr *)(b->scratch + BLK_SCR_HDR);
    h->type = type;
    h->reserved = 0;
    h->sector = sector;
    b->scratch[BLK_SCR_STATUS] = FILL;
    return (uint64_t)h;
}

uint64_t status_addr(struct blk *b)
{
    return (uint64_t)(b->scratch + BLK_SCR_STATUS);
}

uint8_t status_byte(struct blk *b)
{
    return *(volatile uint8_t *)(b->scratch + BLK_SCR_STATUS);
}

/* Post head 0, wait for its completion. */
bool submit(struct blk *b, uint32_t max_write, uint32_t *len)
{
    vq_post(&b->dev, 0);
    if (vq_wait(&b->dev, 0, max_write, len, VQ_WAIT_MS))
        return why("%s", b->dev.err);
    return true;
}

bool untouched(const volatile uint8_t *p, uint64_t n, const char *what)
{
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != FILL)
            return why("device wrote 0x%02x into the %s at offset %lu", p[i], what, i);
    return true;
}

/* The chain at head 0 is structurally invalid: used len 0, status byte and data untouched. */
bool expect_dropped(struct blk *b, uint32_t max_write, const volatile uint8_t *data,
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
bool expect_status(struct blk *b, uint32_t max_write, uint8_t want)
{
    uint32_t len;
    if (!submit(b, max_write, &len))
        return false;
    if (status_byte(b) != want)
        return why("status %s, want %s (used len %u)", st_name(status_byte(b)), st_name(want), len);
    return true;
}

/* hdr -> data (len bytes at addr, device-writable) -> status: an IN request. */
void in_chain(struct blk *b, uint64_t sector, uint64_t addr, uint32_t len)
{
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_IN, sector), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), addr, len, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    vq_set_desc(ring_desc(b, 2), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
}

bool need_indirect(struct blk *b)
{
    if (!((b->dev.accepted >> VIRTIO_F_INDIRECT_DESC) & 1))
        return why("VIRTIO_RING_F_INDIRECT_DESC not offered (features 0x%lx)", b->dev.offered);
    return true;
}

/* Write sector s with the pattern and read it back; the device must work normally. */
bool valid_io(struct blk *b, uint64_t s, enum blk_layout lay)
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
