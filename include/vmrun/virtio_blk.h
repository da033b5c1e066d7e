/* virtio-blk over a raw image file. */
#ifndef VMRUN_VIRTIO_BLK_H
#define VMRUN_VIRTIO_BLK_H

#include <stdbool.h>
#include <stdint.h>

#include "vmrun/virtio_mmio.h"

struct virtio_blk;

#define VIRTIO_ID_BLOCK 2
#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2
#define VIRTIO_BLK_F_SEG_MAX 2
#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_BLK_SIZE 6
#define VIRTIO_BLK_F_FLUSH 9
#define VIRTIO_BLK_ID_BYTES 20

/* Counters for status reports and tests. */
struct virtio_blk_stats {
    uint64_t requests, bad_chains, io_errors, unsupported;
};

/* Open path (read-only when ro) as a disk; size rounded down to whole 512-byte sectors. */
int virtio_blk_create(const char *path, bool ro, struct virtio_blk **out);
/* Close the image; NULL is allowed. */
void virtio_blk_destroy(struct virtio_blk *b);
/* The device operations to hand to virtio_mmio_create(), with b as the device pointer. */
const struct virtio_device_ops *virtio_blk_ops(const struct virtio_blk *b);
/* Capacity in 512-byte sectors. */
uint64_t virtio_blk_sectors(const struct virtio_blk *b);
/* Make every completed write durable (fdatasync); used before snapshots. */
int virtio_blk_sync(struct virtio_blk *b);
/* Identity of the backing image for snapshots: path, bytes, read-only flag, and a fingerprint
 * (xxh3 over the size and 16 sampled 4 KiB blocks) that tells a different image apart. */
int virtio_blk_identity(const struct virtio_blk *b, const char **path, uint64_t *bytes, bool *ro,
                        uint64_t *fingerprint);
/* Request counters. */
void virtio_blk_get_stats(const struct virtio_blk *b, struct virtio_blk_stats *out);

#endif
