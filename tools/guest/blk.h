/* virtio-blk on top of the polled virtio-mmio driver (virtio.h): device discovery, requests in
 * three descriptor layouts, the test pattern. Used by workload=blk (blk.c) and
 * workload=hostile (hostile.c). */
#ifndef GUEST_BLK_H
#define GUEST_BLK_H

#include "user.h"
#include "virtio.h"

#define VIRTIO_BLK_F_RO 5
#define VIRTIO_BLK_F_FLUSH 9

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8

#define VIRTIO_BLK_S_OK 0
#define VIRTIO_BLK_S_IOERR 1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_ID_BYTES 20
#define BLK_SECTOR 512u
#define BLK_MAX_REQ (64u * 1024)  /* largest request the workloads issue */
#define BLK_MAX_DISK (1ull << 30) /* largest disk the workloads handle: 1 GiB */
#define BLK_CFG_CAPACITY 0        /* le64, in 512-byte sectors */

struct virtio_blk_req_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

/* How a request's buffers are laid out in descriptors. */
enum blk_layout {
    BLK_DIRECT,   /* header, data, status: one descriptor each */
    BLK_SPLIT,    /* the data split over two descriptors at an odd offset */
    BLK_INDIRECT, /* one ring descriptor pointing at a table holding the direct chain */
};

/* Scratch page layout (guest RAM, 4 KiB): request header, status byte, GET_ID buffer, indirect
 * table. */
#define BLK_SCR_HDR 0
#define BLK_SCR_STATUS 64
#define BLK_SCR_ID 128
#define BLK_SCR_TABLE 256

struct blk {
    struct virtio_dev dev;
    unsigned index;    /* which announced virtio-mmio device */
    uint64_t capacity; /* sectors */
    bool ro;
    uint8_t *scratch;
    uint64_t used_len_notes; /* OK completions whose used len differed from the bytes written */
};

/* Features the blk driver accepts (VERSION_1 is always added). */
#define BLK_WANTED_FEATURES                                                                        \
    ((1ull << VIRTIO_BLK_F_RO) | (1ull << VIRTIO_BLK_F_FLUSH) | (1ull << VIRTIO_F_INDIRECT_DESC))

/* Find the first virtio-blk device announced on the command line, initialise it, read its
 * capacity. ring_page and scratch: 4 KiB each of guest RAM. 0 on success; -1 with a reason in
 * why (starting "no disk" if the command line announces none). */
int blk_open(struct blk *b, uint8_t *ring_page, uint8_t *scratch, char *why, size_t n);

/* Re-initialise the device after a reset (same features). 0 or -1 (b->dev.err). */
int blk_reinit(struct blk *b);

/* One request, waited for. buf/len: the data (len 0 for FLUSH); it is device-writable for IN and
 * GET_ID. 0 with *status (the byte the device left; 0xff if it wrote none) and *used_len; -1 on a
 * driver-level failure (timeout, bad used entry: b->dev.err). */
int blk_request(struct blk *b, uint32_t type, uint64_t sector, void *buf, uint32_t len,
                enum blk_layout layout, uint8_t *status, uint32_t *used_len);

/* A status byte for messages: OK, IOERR, UNSUPP, "not written (0xff)", else hex in buf. */
const char *blk_status_name(uint8_t s, char *buf, size_t n);

/* The test pattern: sector s, bytes 0..7 = s (le64), byte i >= 8 = (uint8_t)(s * 7 + i * 13). */
void blk_pattern(uint8_t *p, uint64_t s);

#endif
