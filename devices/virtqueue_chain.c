/* Byte-stream access to a popped chain: devices see "the readable bytes" and "the writable
 * bytes" as two flat buffers, whatever the guest's scatter-gather layout. */
#include "vmrun/virtqueue.h"

#include <errno.h>

#include "vmrun/mem.h"

/*
 * Copy len bytes at offset off of the chain's readable bytes into dst (write == false) or from
 * src into its writable bytes (write == true).
 * Segments are re-checked by gm_read/gm_write, so a chain the caller damaged after vq_pop
 * cannot reach outside guest RAM.
 */
static int vq_chain_copy(struct vq *q, const struct vq_chain *c, bool write, uint32_t off,
                         uint8_t *dst, const uint8_t *src, size_t len)
{
    uint64_t end;

    if (!q || !c || (len > 0 && !(write ? src : dst)) || c->nseg > VQ_MAX_SIZE)
        return -EINVAL;
    uint32_t total = write ? c->writable_len : c->readable_len;
    if (__builtin_add_overflow(off, len, &end) || end > total)
        return -EINVAL;

    for (uint32_t i = 0; i < c->nseg && len > 0; i++) {
        const struct vq_seg *s = &c->seg[i];
        uint64_t gpa;
        if (s->write != write)
            continue;
        if (off >= s->len) {
            off -= s->len;
            continue;
        }
        size_t n = s->len - off;
        if (n > len)
            n = len;
        if (__builtin_add_overflow(s->gpa, off, &gpa))
            return -EINVAL;
        int rc = write ? gm_write(q->mem, gpa, src, n, n) : gm_read(q->mem, gpa, dst, n, n);
        if (rc < 0)
            return rc;
        if (write)
            src += n;
        else
            dst += n;
        len -= n;
        off = 0;
    }
    /* Only reachable when the totals disagree with the segments, i.e. not a vq_pop result. */
    return len > 0 ? -EINVAL : 0;
}

int vq_chain_read(struct vq *q, const struct vq_chain *c, uint32_t off, void *buf, size_t len)
{
    return vq_chain_copy(q, c, false, off, buf, NULL, len);
}

int vq_chain_write(struct vq *q, const struct vq_chain *c, uint32_t off, const void *buf,
                   size_t len)
{
    return vq_chain_copy(q, c, true, off, NULL, buf, len);
}
