/* Split virtqueues (virtio 1.x, 2.6): the device side. Everything the guest wrote is untrusted. */
#ifndef VMRUN_VIRTQUEUE_H
#define VMRUN_VIRTQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct guest_mem;

#define VQ_MAX_SIZE 256 /* largest queue size any vmrun device offers */

/* VIRTQ_DESC_F_* and ring flags from the spec. */
#define VQ_DESC_F_NEXT 1
#define VQ_DESC_F_WRITE 2
#define VQ_DESC_F_INDIRECT 4
#define VQ_AVAIL_F_NO_INTERRUPT 1
/* Feature bits a transport negotiates for the queue layer. */
#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VIRTIO_RING_F_EVENT_IDX 29

/* Saved state of one queue: plain data, no pointers, stable layout for snapshots. */
struct vq_state {
    uint64_t desc_gpa, avail_gpa, used_gpa;
    uint16_t size;           /* queue size the driver chose (power of 2, <= max_size) */
    uint16_t max_size;       /* what the device offers */
    uint16_t next_avail;     /* next avail ring index the device will consume */
    uint16_t next_used;      /* next used ring index the device will fill */
    uint16_t signalled_used; /* used index at the last interrupt, for EVENT_IDX */
    uint8_t ready;
    uint8_t event_idx; /* VIRTIO_RING_F_EVENT_IDX negotiated */
    uint8_t indirect;  /* VIRTIO_RING_F_INDIRECT_DESC negotiated */
    uint8_t signalled_valid;
    uint8_t broken; /* the driver violated the ring protocol; needs a device reset */
    uint8_t pad[5];
};

/* One guest buffer of a chain, already checked to lie inside guest RAM. */
struct vq_seg {
    uint64_t gpa;
    uint32_t len;
    bool write; /* device-writable */
};

/* A descriptor chain flattened into segments, readable ones first (the spec's order). */
struct vq_chain {
    uint16_t head; /* descriptor index to return in the used ring */
    uint16_t nseg;
    uint32_t readable_len; /* total bytes of device-readable segments */
    uint32_t writable_len; /* total bytes of device-writable segments */
    struct vq_seg seg[VQ_MAX_SIZE];
};

/* A queue at run time: its state plus the guest memory it lives in. */
struct vq {
    struct vq_state st;
    struct guest_mem *mem;
};

/* Reset q to "not ready" with the given maximum size (<= VQ_MAX_SIZE). */
void vq_init(struct vq *q, struct guest_mem *mem, uint16_t max_size);
/* Check a queue's layout before it goes live: size a power of 2 <= max, each ring aligned and
 * wholly inside guest RAM. Used when the driver sets QueueReady and on restore. */
int vq_check_layout(const struct vq_state *st, struct guest_mem *mem);
/* Next available chain: 1 with *chain filled, 0 if none. A chain that breaks the rules (index out
 * of range, loop, longer than the queue, bad indirect table, buffer outside RAM, readable after
 * writable) gives -EINVAL with chain->head set: complete it with vq_push(q, head, 0). A corrupt
 * avail ring (head >= size, idx jumping past size) gives -EIO and marks the queue broken. */
int vq_pop(struct vq *q, struct vq_chain *chain);
/* Return a chain to the driver with len bytes written; marks the used ring dirty. */
int vq_push(struct vq *q, uint16_t head, uint32_t len);
/* Whether the driver wants an interrupt now (NO_INTERRUPT flag or EVENT_IDX used_event). */
bool vq_should_notify(struct vq *q);
/* Copy len bytes starting off bytes into the chain's readable segments into buf. */
int vq_chain_read(struct vq *q, const struct vq_chain *c, uint32_t off, void *buf, size_t len);
/* Copy len bytes from buf into the chain's writable segments starting off bytes into them;
 * marks the written guest pages dirty. */
int vq_chain_write(struct vq *q, const struct vq_chain *c, uint32_t off, const void *buf,
                   size_t len);

#endif
