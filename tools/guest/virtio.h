/* A minimal virtio-mmio (register layout version 2) driver with one split virtqueue, for the
 * ring-3 workloads of the built-in guest. Polled: the device's interrupt lines stay masked in the
 * PIC, and every wait is bounded. Everything the device returns is checked before use. */
#ifndef GUEST_VIRTIO_H
#define GUEST_VIRTIO_H

#include "lib.h"

/* virtio-mmio registers (virtio 1.x, 4.2.2). 32-bit accesses only. */
#define VIRTIO_MMIO_MAGIC 0x000
#define VIRTIO_MMIO_VERSION 0x004
#define VIRTIO_MMIO_DEVICE_ID 0x008
#define VIRTIO_MMIO_VENDOR_ID 0x00c
#define VIRTIO_MMIO_DEVICE_FEATURES 0x010
#define VIRTIO_MMIO_DEVICE_FEATURES_SEL 0x014
#define VIRTIO_MMIO_DRIVER_FEATURES 0x020
#define VIRTIO_MMIO_DRIVER_FEATURES_SEL 0x024
#define VIRTIO_MMIO_QUEUE_SEL 0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX 0x034
#define VIRTIO_MMIO_QUEUE_NUM 0x038
#define VIRTIO_MMIO_QUEUE_READY 0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY 0x050
#define VIRTIO_MMIO_INTERRUPT_STATUS 0x060
#define VIRTIO_MMIO_INTERRUPT_ACK 0x064
#define VIRTIO_MMIO_STATUS 0x070
#define VIRTIO_MMIO_QUEUE_DESC_LOW 0x080
#define VIRTIO_MMIO_QUEUE_DESC_HIGH 0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LOW 0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HIGH 0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LOW 0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HIGH 0x0a4
#define VIRTIO_MMIO_CONFIG_GENERATION 0x0fc
#define VIRTIO_MMIO_CONFIG 0x100

#define VIRTIO_MMIO_MAGIC_VALUE 0x74726976 /* "virt" */

/* Device status bits. */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* InterruptStatus bits. */
#define VIRTIO_INT_USED 0x1
#define VIRTIO_INT_CONFIG 0x2

/* Transport / ring feature bits. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_ID_BLOCK 2

/* Split virtqueue layout (virtio 1.x, 2.6). */
#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct virtq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[];
};

struct virtq_used_elem {
    uint32_t id;
    uint32_t len;
};

struct virtq_used {
    uint16_t flags;
    uint16_t idx;
    struct virtq_used_elem ring[];
};

/* Queue size the driver asks for (power of 2, at most 64: the rings share one 4 KiB page). */
#define VQ_SIZE 64
#define VQ_DESC_OFF 0x000
#define VQ_AVAIL_OFF 0x400
#define VQ_USED_OFF 0x800

/* A device announced on the command line ("virtio_mmio.device=<size>@<addr>:<irq>"). */
struct virtio_slot {
    uint64_t base;
    uint64_t size;
    unsigned irq;
};

#define VIRTIO_ERR_LEN 200

struct virtio_dev {
    uint64_t base;
    unsigned irq;
    uint32_t device_id;
    uint32_t vendor_id;
    uint64_t offered;   /* device features */
    uint64_t accepted;  /* what the driver acked */
    uint16_t qmax;      /* QueueNumMax */
    uint16_t qsize;     /* queue size in use */
    uint8_t *ring_page; /* 4 KiB, page aligned, guest RAM */
    volatile struct virtq_desc *desc;
    volatile struct virtq_avail *avail;
    volatile struct virtq_used *used;
    uint16_t avail_idx;       /* next avail->idx the driver will publish */
    uint16_t used_idx;        /* used entries consumed so far */
    char err[VIRTIO_ERR_LEN]; /* why the last call failed */
};

static inline uint32_t mmio_read32(uint64_t addr)
{
    uint32_t v;
    __asm__ volatile("movl (%1), %0" : "=r"(v) : "r"(addr) : "memory");
    return v;
}

static inline void mmio_write32(uint64_t addr, uint32_t v)
{
    __asm__ volatile("movl %0, (%1)" : : "r"(v), "r"(addr) : "memory");
}

static inline uint32_t vio_read(const struct virtio_dev *d, uint32_t reg)
{
    return mmio_read32(d->base + reg);
}

static inline void vio_write(const struct virtio_dev *d, uint32_t reg, uint32_t v)
{
    mmio_write32(d->base + reg, v);
}

/* Full barrier between ring updates and the device (x86: orders stores before the notify). */
static inline void vio_mb(void)
{
    __asm__ volatile("mfence" ::: "memory");
}

static inline void vq_set_desc(volatile struct virtq_desc *d, uint64_t addr, uint32_t len,
                               uint16_t flags, uint16_t next)
{
    d->addr = addr;
    d->len = len;
    d->flags = flags;
    d->next = next;
}

/* Parse every "virtio_mmio.device=" token of the command line, in order, into slots (at most
 * max). Malformed tokens are reported on the console and skipped. Returns the count. */
unsigned virtio_find_slots(struct virtio_slot *slots, unsigned max);

/* Check the transport (magic, version 2) and read the IDs; no state change. 0 or -1 (d->err). */
int virtio_probe(struct virtio_dev *d, const struct virtio_slot *slot, uint8_t *ring_page);

/* Reset the device and wait (bounded) until Status reads 0. 0 or -1 (d->err). */
int virtio_reset(struct virtio_dev *d);

/* Reset, negotiate features (must include VERSION_1; accepts offered & wanted), set up queue 0
 * with VQ_SIZE entries (or QueueNumMax if smaller) on zeroed rings, DRIVER_OK. The avail ring
 * asks for no interrupts. 0 or -1 (d->err). */
int virtio_init(struct virtio_dev *d, uint64_t wanted);

/* Config space, 32 bits at off (relative to 0x100), and a 64-bit field read consistently under
 * ConfigGeneration. */
uint32_t virtio_config32(const struct virtio_dev *d, uint32_t off);
int virtio_config64(struct virtio_dev *d, uint32_t off, uint64_t *out);

/* Publish head in the avail ring and notify queue 0. Does not wait. */
void vq_post(struct virtio_dev *d, uint16_t head);

/* Wait (bounded, about budget_ms) for the next used entry; checks id == head (and < size) and
 * len <= max_len. 0 with *len, 1 on timeout (nothing consumed), -1 on a bad entry (d->err). */
int vq_wait(struct virtio_dev *d, uint16_t head, uint32_t max_len, uint32_t *len,
            unsigned budget_ms);

/* vq_post + vq_wait with the default budget; a timeout is an error (-1, d->err). */
int vq_run(struct virtio_dev *d, uint16_t head, uint32_t max_len, uint32_t *len);

/* Default wait budget. The device completes requests while handling the notify write, so this
 * only bounds a broken device. */
#define VQ_WAIT_MS 2000

/* Deadline helpers for bounded polls: measured in timer ticks, with a TSC backstop (about 10 s
 * at 3 GHz) in case the timer stops. */
struct deadline {
    uint64_t tick_end;
    uint64_t tsc_start;
};
void deadline_start(struct deadline *dl, unsigned ms);
bool deadline_passed(const struct deadline *dl);

#endif
