/* virtio-mmio transport, register layout version 2 (virtio 1.x, 4.2.2). */
#ifndef VMRUN_VIRTIO_MMIO_H
#define VMRUN_VIRTIO_MMIO_H

#include <stdbool.h>
#include <stdint.h>

#include "vmrun/virtqueue.h"

struct guest_mem;
struct virtio_mmio;

#define VIRTIO_MMIO_MAX_QUEUES 4
#define VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER 2
#define VIRTIO_STATUS_DRIVER_OK 4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

#define VIRTIO_INT_USED 1
#define VIRTIO_INT_CONFIG 2

/* What a device plugs into the transport. */
struct virtio_device_ops {
    const char *name;
    uint32_t device_id;
    uint64_t features; /* offered, transport bits included */
    uint16_t num_queues;
    uint16_t queue_max;
    /* Config space access at off (already bounds-checked against config_size). */
    void (*config_read)(void *dev, uint32_t off, uint8_t *data, uint32_t len);
    void (*config_write)(void *dev, uint32_t off, const uint8_t *data, uint32_t len);
    uint32_t config_size;
    /* The driver kicked queue q; called with the transport lock held. */
    void (*queue_notify)(void *dev, struct virtio_mmio *t, unsigned q);
    /* The driver reset the device (Status = 0). */
    void (*reset)(void *dev);
};

/* Host side of the interrupt line (irqfd in a VM, a counter in tests). */
struct virtio_mmio_host {
    void (*irq)(void *ctx); /* raise an edge on the device's interrupt */
    void *ctx;
};

/* Saved transport state: plain data for snapshots (queues included). */
struct virtio_mmio_state {
    uint64_t driver_features;
    uint32_t device_features_sel, driver_features_sel, queue_sel;
    uint32_t interrupt_status, status, config_generation;
    struct vq_state queues[VIRTIO_MMIO_MAX_QUEUES];
};

/* Create a transport for dev; st NULL means reset state, otherwise validated and restored. */
int virtio_mmio_create(struct guest_mem *mem, const struct virtio_device_ops *ops, void *dev,
                       const struct virtio_mmio_host *host, const struct virtio_mmio_state *st,
                       struct virtio_mmio **out);
/* Free the transport; NULL is allowed. */
void virtio_mmio_destroy(struct virtio_mmio *t);
/* Bus handler for the 4 KiB register window. */
void virtio_mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Queue q of the transport (for the device's notify handler). */
struct vq *virtio_mmio_queue(struct virtio_mmio *t, unsigned q);
/* After pushing used buffers: interrupt the driver if the queue asks for it. */
void virtio_mmio_used(struct virtio_mmio *t, unsigned q);
/* The driver broke the protocol: set DEVICE_NEEDS_RESET and raise a config interrupt. */
void virtio_mmio_needs_reset(struct virtio_mmio *t);
/* Copy the transport state out (takes the lock). */
void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *st);

#endif
