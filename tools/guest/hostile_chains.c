/* workload=hostile, malformed descriptor chains: buffers outside RAM, loops, overlong or nested
 * indirect tables, wrong direction, bad lengths and sectors, short headers, unknown types. Each
 * must be dropped (used len 0, nothing written) or answered with IOERR/UNSUPP. */
#include "hostile.h"

/* (a) data buffer beyond guest RAM. */
bool case_bad_addr(struct blk *b)
{
    in_chain(b, 0, BAD_GPA, BLK_SECTOR);
    return expect_dropped(b, BLK_SECTOR + 1, NULL, 0);
}

/* Data buffer starting in RAM but running 256 bytes past its end. */
bool case_bad_addr_end(struct blk *b)
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
bool case_addr_wrap(struct blk *b)
{
    in_chain(b, 0, WRAP_GPA, BLK_SECTOR);
    return expect_dropped(b, BLK_SECTOR + 1, NULL, 0);
}

/* (b) hdr -> data -> status -> data -> ...: a loop without any other fault. */
bool case_loop(struct blk *b)
{
    memset(g_data, FILL, BLK_SECTOR);
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 2)->flags = VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT;
    ring_desc(b, 2)->next = 1;
    return expect_dropped(b, BLK_SECTOR + 1, g_data, BLK_SECTOR);
}

/* (c) an indirect table of queue size + 1 entries: hdr, size - 1 data sectors, status. */
bool case_too_long(struct blk *b)
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
bool case_nested_indirect(struct blk *b)
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
bool case_indirect_len(struct blk *b)
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
bool case_order(struct blk *b)
{
    memset(g_data, FILL, BLK_SECTOR);
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_OUT, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), status_addr(b), 1, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
    vq_set_desc(ring_desc(b, 2), (uint64_t)g_data, BLK_SECTOR, 0, 0);
    return expect_dropped(b, 1, NULL, 0);
}

/* A next index >= queue size. */
bool case_bad_next(struct blk *b)
{
    memset(g_data, FILL, BLK_SECTOR);
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 1)->next = b->dev.qsize;
    return expect_dropped(b, BLK_SECTOR + 1, g_data, BLK_SECTOR);
}

/* (d) a read whose data is one sector longer than the whole disk. */
bool case_oversized(struct blk *b)
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
bool case_len_overflow(struct blk *b)
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
bool case_beyond_end(struct blk *b)
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
bool case_sector_overflow(struct blk *b)
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
bool case_short_header(struct blk *b)
{
    in_chain(b, 0, (uint64_t)g_data, BLK_SECTOR);
    ring_desc(b, 0)->len = 8;
    return expect_status(b, BLK_SECTOR + 1, VIRTIO_BLK_S_IOERR);
}

/* (f) request type 0x55. */
bool case_bad_type(struct blk *b)
{
    vq_set_desc(ring_desc(b, 0), hdr(b, 0x55, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), status_addr(b), 1, VIRTQ_DESC_F_WRITE, 0);
    return expect_status(b, 1, VIRTIO_BLK_S_UNSUPP);
}

/* A read of 100 bytes: not a whole number of sectors. */
bool case_unaligned_len(struct blk *b)
{
    in_chain(b, 0, (uint64_t)g_data, 100);
    return expect_status(b, 101, VIRTIO_BLK_S_IOERR);
}

/* A write with no device-writable byte at all. */
bool case_no_status(struct blk *b)
{
    blk_pattern(g_data, 0);
    vq_set_desc(ring_desc(b, 0), hdr(b, VIRTIO_BLK_T_OUT, 0), 16, VIRTQ_DESC_F_NEXT, 1);
    vq_set_desc(ring_desc(b, 1), (uint64_t)g_data, BLK_SECTOR, 0, 0);
    return expect_dropped(b, 0, NULL, 0);
}
