/* virtio-blk. Requests run synchronously in the notifying vCPU thread, straight between the image
 * file and guest RAM (no bounce buffer). What the guest gets back for bad input:
 * - a chain the queue layer rejects (outside RAM, loop, too long, bad indirect table, readable
 *   after writable): completed with length 0, nothing written;
 * - a well-formed chain with a bad request (short header, no status byte, data not whole
 *   sectors, beyond capacity, write to a read-only disk, host I/O error): VIRTIO_BLK_S_IOERR;
 * - an unknown request type: VIRTIO_BLK_S_UNSUPP;
 * - a corrupt avail ring: DEVICE_NEEDS_RESET. */
#include "vmrun/virtio_blk.h"

#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define SECTOR 512ULL
#define QUEUE_MAX 256
#define HDR_BYTES 16

struct virtio_blk {
    int fd;
    bool ro;
    uint64_t sectors;
    char id[VIRTIO_BLK_ID_BYTES];
    struct virtio_device_ops ops;
    struct virtio_blk_stats stats;
    struct vlog_ratelimit rl;
    char path[1024];
    uint64_t bytes;
};

struct blk_hdr {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static void config_read(void *dev, uint32_t off, uint8_t *data, uint32_t len)
{
    struct virtio_blk *b = dev;
    /* capacity (le64), size_max (le32), seg_max (le32), geometry (4 bytes), blk_size (le32) */
    uint8_t cfg[24] = {0};
    uint32_t seg_max = QUEUE_MAX - 2, blk_size = SECTOR;
    memcpy(cfg, &b->sectors, 8);
    memcpy(cfg + 12, &seg_max, 4);
    memcpy(cfg + 20, &blk_size, 4);
    memcpy(data, cfg + off, len); /* off + len <= config_size, checked by the transport */
}

/* Move len bytes between the image at file_off and the chain's segments from byte skip onward,
 * in the given direction, segment by segment directly into or out of guest RAM. */
static int transfer(struct virtio_blk *b, struct vq *q, const struct vq_chain *c, bool to_guest,
                    uint32_t skip, uint64_t len, uint64_t file_off)
{
    for (uint16_t i = 0; i < c->nseg && len; i++) {
        const struct vq_seg *s = &c->seg[i];
        if (s->write != to_guest)
            continue;
        if (skip >= s->len) {
            skip -= s->len;
            continue;
        }
        uint64_t n = s->len - skip < len ? s->len - skip : len;
        void *p;
        if (gm_ptr(q->mem, s->gpa + skip, n, &p) != 0)
            return -EFAULT;
        ssize_t r =
            to_guest ? pread(b->fd, p, n, (off_t)file_off) : pwrite(b->fd, p, n, (off_t)file_off);
        if (r < 0 || (uint64_t)r != n)
            return r < 0 ? -errno : -EIO;
        if (to_guest)
            gm_mark_dirty(q->mem, s->gpa + skip, n);
        skip = 0;
        len -= n;
        file_off += n;
    }
    return len ? -EINVAL : 0;
}

static bool range_ok(const struct virtio_blk *b, uint64_t sector, uint64_t bytes)
{
    uint64_t end;
    return bytes % SECTOR == 0 && !__builtin_add_overflow(sector, bytes / SECTOR, &end) &&
           end <= b->sectors;
}

/* Handle one well-formed chain; returns the bytes written into the guest's buffers. */
static uint32_t handle_request(struct virtio_blk *b, struct vq *q, const struct vq_chain *c)
{
    if (c->writable_len < 1)
        return 0; /* no status byte: nothing can be reported */
    uint32_t status_off = c->writable_len - 1;
    uint8_t status = VIRTIO_BLK_S_IOERR;
    uint32_t written = 0;
    struct blk_hdr h;
    if (c->readable_len >= HDR_BYTES && vq_chain_read(q, c, 0, &h, sizeof(h)) == 0) {
        uint64_t in_len = status_off, out_len = c->readable_len - HDR_BYTES;
        switch (h.type) {
        case VIRTIO_BLK_T_IN:
            if (range_ok(b, h.sector, in_len) &&
                transfer(b, q, c, true, 0, in_len, h.sector * SECTOR) == 0) {
                status = VIRTIO_BLK_S_OK;
                written = (uint32_t)in_len;
            }
            break;
        case VIRTIO_BLK_T_OUT:
            if (!b->ro && range_ok(b, h.sector, out_len) &&
                transfer(b, q, c, false, HDR_BYTES, out_len, h.sector * SECTOR) == 0)
                status = VIRTIO_BLK_S_OK;
            break;
        case VIRTIO_BLK_T_FLUSH:
            if (b->ro || fdatasync(b->fd) == 0)
                status = VIRTIO_BLK_S_OK;
            break;
        case VIRTIO_BLK_T_GET_ID: {
            uint32_t n = status_off < VIRTIO_BLK_ID_BYTES ? status_off : VIRTIO_BLK_ID_BYTES;
            if (vq_chain_write(q, c, 0, b->id, n) == 0) {
                status = VIRTIO_BLK_S_OK;
                written = n;
            }
            break;
        }
        default:
            status = VIRTIO_BLK_S_UNSUPP;
            b->stats.unsupported++;
            break;
        }
    }
    if (status == VIRTIO_BLK_S_IOERR)
        b->stats.io_errors++;
    if (vq_chain_write(q, c, status_off, &status, 1) != 0)
        return 0;
    return written + 1;
}

static void queue_notify(void *dev, struct virtio_mmio *t, unsigned qi)
{
    struct virtio_blk *b = dev;
    struct vq *q = virtio_mmio_queue(t, qi);
    struct vq_chain chain;
    bool pushed = false;
    for (;;) {
        int r = vq_pop(q, &chain);
        if (r == 0)
            break;
        if (r == -EIO) {
            virtio_mmio_needs_reset(t);
            break;
        }
        b->stats.requests++;
        uint32_t len = 0;
        if (r < 0) {
            b->stats.bad_chains++;
            if (vlog_ratelimit_ok(&b->rl))
                vlog_msg("virtio-blk %s: rejected a malformed descriptor chain (head %u)", b->path,
                         chain.head);
        } else {
            len = handle_request(b, q, &chain);
        }
        if (vq_push(q, chain.head, len) != 0) {
            virtio_mmio_needs_reset(t);
            break;
        }
        pushed = true;
    }
    if (pushed)
        virtio_mmio_used(t, qi);
}

int virtio_blk_create(const char *path, bool ro, struct virtio_blk **out)
{
    struct virtio_blk *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->ro = ro;
    snprintf(b->path, sizeof(b->path), "%s", path);
    b->fd = open(path, (ro ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    struct stat st;
    int err = 0;
    if (b->fd < 0)
        err = vlog_err(-errno, "--disk %s", path);
    else if (fstat(b->fd, &st) < 0)
        err = vlog_err(-errno, "--disk %s", path);
    else if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
        err = vlog_err(-EINVAL, "--disk %s: not a regular file or block device", path);
    else if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < SECTOR)
        err = vlog_err(-EINVAL, "--disk %s: smaller than one 512-byte sector", path);
    if (err) {
        virtio_blk_destroy(b);
        return err;
    }
    off_t size = S_ISREG(st.st_mode) ? st.st_size : lseek(b->fd, 0, SEEK_END);
    b->sectors = size > 0 ? (uint64_t)size / SECTOR : 0;
    b->bytes = size > 0 ? (uint64_t)size : 0;
    /* The serial the guest sees (GET_ID): the image's base name, cut to 20 bytes. */
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t idlen = strlen(base);
    memcpy(b->id, base, idlen < sizeof(b->id) ? idlen : sizeof(b->id)); /* NUL-padded by calloc */
    b->ops = (struct virtio_device_ops){
        .name = "virtio-blk",
        .device_id = VIRTIO_ID_BLOCK,
        .features = (1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_RING_F_INDIRECT_DESC) |
                    (1ULL << VIRTIO_RING_F_EVENT_IDX) | (1ULL << VIRTIO_BLK_F_SEG_MAX) |
                    (1ULL << VIRTIO_BLK_F_BLK_SIZE) | (1ULL << VIRTIO_BLK_F_FLUSH) |
                    (ro ? 1ULL << VIRTIO_BLK_F_RO : 0),
        .num_queues = 1,
        .queue_max = QUEUE_MAX,
        .config_read = config_read,
        .config_size = 24,
        .queue_notify = queue_notify,
    };
    *out = b;
    return 0;
}

void virtio_blk_destroy(struct virtio_blk *b)
{
    if (!b)
        return;
    if (b->fd >= 0)
        close(b->fd);
    free(b);
}

const struct virtio_device_ops *virtio_blk_ops(const struct virtio_blk *b)
{
    return &b->ops;
}

uint64_t virtio_blk_sectors(const struct virtio_blk *b)
{
    return b->sectors;
}

int virtio_blk_sync(struct virtio_blk *b)
{
    if (!b->ro && fdatasync(b->fd) < 0)
        return -errno;
    return 0;
}

#define FP_SAMPLES 16
#define FP_BLOCK 4096

int virtio_blk_identity(const struct virtio_blk *b, const char **path, uint64_t *bytes, bool *ro,
                        uint64_t *fingerprint)
{
    XXH3_state_t *h = XXH3_createState();
    if (!h)
        return -ENOMEM;
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &b->bytes, sizeof(b->bytes));
    uint8_t block[FP_BLOCK];
    int err = 0;
    for (unsigned i = 0; i < FP_SAMPLES && !err; i++) {
        uint64_t off = b->bytes / FP_SAMPLES * i;
        ssize_t n = pread(b->fd, block, sizeof(block), (off_t)off);
        if (n < 0)
            err = -errno;
        else
            XXH3_64bits_update(h, block, (size_t)n);
    }
    *fingerprint = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    *path = b->path;
    *bytes = b->bytes;
    *ro = b->ro;
    return err;
}

void virtio_blk_get_stats(const struct virtio_blk *b, struct virtio_blk_stats *out)
{
    *out = b->stats;
}
