/* workload=hostile, whole-ring behaviour: a full ring of valid requests completes exactly once
 * each; corrupt avail ring entries set DEVICE_NEEDS_RESET, stop the queue, and a reset brings the
 * device back. */
#include "hostile.h"

bool case_still_works(struct blk *b)
{
    if (!valid_io(b, 1, BLK_DIRECT) || !valid_io(b, 3, BLK_SPLIT))
        return false;
    if ((b->dev.accepted >> VIRTIO_F_INDIRECT_DESC) & 1)
        return valid_io(b, 5, BLK_INDIRECT);
    return true;
}

/* A full ring: queue-size requests (one indirect descriptor each) published with one avail idx
 * update and one notify. All must complete with OK, each head exactly once. */
bool case_full_ring(struct blk *b)
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
bool case_bad_head(struct blk *b)
{
    uint16_t used_before = b->dev.used->idx;
    vq_post(&b->dev, b->dev.qsize);
    return expect_needs_reset(b, used_before);
}

/* avail->idx jumping queue size + 1 entries ahead. */
bool case_idx_jump(struct blk *b)
{
    struct virtio_dev *d = &b->dev;
    uint16_t used_before = d->used->idx;
    d->avail_idx = (uint16_t)(d->avail_idx + d->qsize + 1);
    d->avail->idx = d->avail_idx;
    vio_mb();
    vio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    return expect_needs_reset(b, used_before);
}
