/* virtio-mmio transport. The driver's register writes are validated as they arrive: features must
 * be a subset of what was offered, queues must fit guest RAM before they go live, and a queue
 * cannot be reconfigured while live. */
#include "vmrun/virtio_mmio.h"

#include "vmrun/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC 0x74726976     /* "virt" */
#define VENDOR_ID 0x4e524d56 /* "VMRN" */

enum {
    R_MAGIC = 0x000,
    R_VERSION = 0x004,
    R_DEVICE_ID = 0x008,
    R_VENDOR_ID = 0x00c,
    R_DEV_FEATURES = 0x010,
    R_DEV_FEATURES_SEL = 0x014,
    R_DRV_FEATURES = 0x020,
    R_DRV_FEATURES_SEL = 0x024,
    R_QUEUE_SEL = 0x030,
    R_QUEUE_NUM_MAX = 0x034,
    R_QUEUE_NUM = 0x038,
    R_QUEUE_READY = 0x044,
    R_QUEUE_NOTIFY = 0x050,
    R_INT_STATUS = 0x060,
    R_INT_ACK = 0x064,
    R_STATUS = 0x070,
    R_DESC_LO = 0x080,
    R_DESC_HI = 0x084,
    R_AVAIL_LO = 0x090,
    R_AVAIL_HI = 0x094,
    R_USED_LO = 0x0a0,
    R_USED_HI = 0x0a4,
    R_SHM_SEL = 0x0ac,
    R_SHM_LEN_LO = 0x0b0,
    R_SHM_LEN_HI = 0x0b4,
    R_SHM_BASE_LO = 0x0b8,
    R_SHM_BASE_HI = 0x0bc,
    R_CONFIG_GEN = 0x0fc,
    R_CONFIG = 0x100,
};

struct virtio_mmio {
    pthread_mutex_t lock;
    struct guest_mem *mem;
    const struct virtio_device_ops *ops;
    void *dev;
    struct virtio_mmio_host host;
    struct virtio_mmio_state st; /* queues[].* mirrors vq[].st on save */
    struct vq vq[VIRTIO_MMIO_MAX_QUEUES];
    struct vlog_ratelimit rl;
};

static void raise_irq(struct virtio_mmio *t, uint32_t why)
{
    t->st.interrupt_status |= why;
    if (t->host.irq)
        t->host.irq(t->host.ctx);
}

static void reset_locked(struct virtio_mmio *t)
{
    memset(&t->st, 0, sizeof(t->st));
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        vq_init(&t->vq[i], t->mem, i < t->ops->num_queues ? t->ops->queue_max : 0);
    if (t->ops->reset)
        t->ops->reset(t->dev);
}

void virtio_mmio_needs_reset(struct virtio_mmio *t)
{
    if (t->st.status & VIRTIO_STATUS_NEEDS_RESET)
        return;
    t->st.status |= VIRTIO_STATUS_NEEDS_RESET;
    if (vlog_ratelimit_ok(&t->rl))
        vlog_msg("%s: driver broke the virtqueue protocol; device needs reset", t->ops->name);
    if (t->st.status & VIRTIO_STATUS_DRIVER_OK)
        raise_irq(t, VIRTIO_INT_CONFIG);
}

void virtio_mmio_used(struct virtio_mmio *t, unsigned q)
{
    if (q < t->ops->num_queues && vq_should_notify(&t->vq[q]))
        raise_irq(t, VIRTIO_INT_USED);
}

struct vq *virtio_mmio_queue(struct virtio_mmio *t, unsigned q)
{
    return q < t->ops->num_queues ? &t->vq[q] : NULL;
}

static struct vq *selected(struct virtio_mmio *t)
{
    return t->st.queue_sel < t->ops->num_queues ? &t->vq[t->st.queue_sel] : NULL;
}

/* FEATURES_OK sticks only for a subset of the offered features that includes VERSION_1. */
static void write_status(struct virtio_mmio *t, uint32_t val)
{
    if (val == 0) {
        reset_locked(t);
        return;
    }
    uint32_t newly = val & ~t->st.status;
    if (newly & VIRTIO_STATUS_FEATURES_OK) {
        uint64_t f = t->st.driver_features;
        if ((f & ~t->ops->features) || !(f & (1ULL << VIRTIO_F_VERSION_1)))
            val &= ~(uint32_t)VIRTIO_STATUS_FEATURES_OK;
        for (unsigned i = 0; i < t->ops->num_queues; i++) {
            t->vq[i].st.indirect = !!(f & (1ULL << VIRTIO_RING_F_INDIRECT_DESC));
            t->vq[i].st.event_idx = !!(f & (1ULL << VIRTIO_RING_F_EVENT_IDX));
        }
    }
    /* DEVICE_NEEDS_RESET is the device's to set; the driver cannot clear it except by reset. */
    t->st.status =
        (val & ~(uint32_t)VIRTIO_STATUS_NEEDS_RESET) | (t->st.status & VIRTIO_STATUS_NEEDS_RESET);
}

static void set_addr_half(struct virtio_mmio *t, uint64_t *field, uint32_t val, bool high)
{
    struct vq *q = selected(t);
    if (!q || q->st.ready)
        return; /* live queues cannot move */
    *field =
        high ? (*field & 0xffffffffULL) | ((uint64_t)val << 32) : (*field & ~0xffffffffULL) | val;
}

static void write_queue_ready(struct virtio_mmio *t, uint32_t val)
{
    struct vq *q = selected(t);
    if (!q)
        return;
    if (!val) {
        q->st.ready = 0;
        return;
    }
    if (vq_check_layout(&q->st, t->mem) != 0) {
        if (vlog_ratelimit_ok(&t->rl))
            vlog_msg("%s: queue %u layout rejected (size %u, rings outside RAM or misaligned)",
                     t->ops->name, t->st.queue_sel, q->st.size);
        virtio_mmio_needs_reset(t);
        return;
    }
    q->st.ready = 1;
}

static void reg_write(struct virtio_mmio *t, uint32_t off, uint32_t val)
{
    struct vq *q = selected(t);
    switch (off) {
    case R_DEV_FEATURES_SEL:
        t->st.device_features_sel = val;
        break;
    case R_DRV_FEATURES_SEL:
        t->st.driver_features_sel = val;
        break;
    case R_DRV_FEATURES:
        /* Only between DRIVER and FEATURES_OK, as the spec's init sequence has it. */
        if ((t->st.status & VIRTIO_STATUS_FEATURES_OK) || t->st.driver_features_sel > 1)
            break;
        if (t->st.driver_features_sel == 0)
            t->st.driver_features = (t->st.driver_features & ~0xffffffffULL) | val;
        else
            t->st.driver_features = (t->st.driver_features & 0xffffffffULL) | ((uint64_t)val << 32);
        break;
    case R_QUEUE_SEL:
        t->st.queue_sel = val;
        break;
    case R_QUEUE_NUM:
        if (q && !q->st.ready)
            q->st.size = val > UINT16_MAX ? 0 : (uint16_t)val; /* checked when made ready */
        break;
    case R_QUEUE_READY:
        write_queue_ready(t, val);
        break;
    case R_QUEUE_NOTIFY:
        if (val < t->ops->num_queues && (t->st.status & VIRTIO_STATUS_DRIVER_OK) &&
            !(t->st.status & VIRTIO_STATUS_NEEDS_RESET) && t->vq[val].st.ready)
            t->ops->queue_notify(t->dev, t, val);
        break;
    case R_INT_ACK:
        t->st.interrupt_status &= ~val;
        break;
    case R_STATUS:
        write_status(t, val);
        break;
    case R_DESC_LO:
    case R_DESC_HI:
        if (q)
            set_addr_half(t, &q->st.desc_gpa, val, off == R_DESC_HI);
        break;
    case R_AVAIL_LO:
    case R_AVAIL_HI:
        if (q)
            set_addr_half(t, &q->st.avail_gpa, val, off == R_AVAIL_HI);
        break;
    case R_USED_LO:
    case R_USED_HI:
        if (q)
            set_addr_half(t, &q->st.used_gpa, val, off == R_USED_HI);
        break;
    default:
        break; /* read-only or reserved: writes are ignored */
    }
}

static uint32_t reg_read(struct virtio_mmio *t, uint32_t off)
{
    struct vq *q = selected(t);
    switch (off) {
    case R_MAGIC:
        return MAGIC;
    case R_VERSION:
        return 2;
    case R_DEVICE_ID:
        return t->ops->device_id;
    case R_VENDOR_ID:
        return VENDOR_ID;
    case R_DEV_FEATURES:
        return t->st.device_features_sel > 1
                   ? 0
                   : (uint32_t)(t->ops->features >> (32 * t->st.device_features_sel));
    case R_QUEUE_NUM_MAX:
        return q ? q->st.max_size : 0;
    case R_QUEUE_READY:
        return q ? q->st.ready : 0;
    case R_INT_STATUS:
        return t->st.interrupt_status;
    case R_STATUS:
        return t->st.status;
    case R_SHM_LEN_LO:
    case R_SHM_LEN_HI:
        return 0xffffffff; /* no shared memory regions */
    case R_CONFIG_GEN:
        return t->st.config_generation;
    default:
        return 0;
    }
}

void virtio_mmio_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct virtio_mmio *t = opaque;
    pthread_mutex_lock(&t->lock);
    if (off >= R_CONFIG) {
        uint64_t coff = off - R_CONFIG;
        if (coff + len <= t->ops->config_size) {
            if (is_write && t->ops->config_write)
                t->ops->config_write(t->dev, (uint32_t)coff, data, len);
            else if (!is_write)
                t->ops->config_read(t->dev, (uint32_t)coff, data, len);
        } else if (!is_write) {
            memset(data, 0, len);
        }
    } else if (len != 4 || (off & 3)) {
        /* The spec allows only aligned 32-bit register accesses. */
        if (!is_write)
            memset(data, 0, len);
        if (vlog_ratelimit_ok(&t->rl))
            vlog_msg("%s: ignored %u-byte access at register 0x%llx", t->ops->name, len,
                     (unsigned long long)off);
    } else if (is_write) {
        uint32_t v;
        memcpy(&v, data, 4);
        reg_write(t, (uint32_t)off, v);
    } else {
        uint32_t v = reg_read(t, (uint32_t)off);
        memcpy(data, &v, 4);
    }
    pthread_mutex_unlock(&t->lock);
}

/* Saved state comes from a file: refuse anything the live device could never have been in,
 * naming the field, so restore fails before the guest runs. */
static int restore_state(struct virtio_mmio *t, const struct virtio_mmio_state *st)
{
    if (st->driver_features & ~t->ops->features)
        return vlog_err(-EINVAL, "driver-features 0x%llx: bits 0x%llx were never offered",
                        (unsigned long long)st->driver_features,
                        (unsigned long long)(st->driver_features & ~t->ops->features));
    if (st->queue_sel > UINT16_MAX)
        return vlog_err(-EINVAL, "queue-sel %u: above 65535", st->queue_sel);
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
        const struct vq_state *qs = &st->queues[i];
        if (i >= t->ops->num_queues) {
            if (qs->ready)
                return vlog_err(-EINVAL, "queue %u: ready, but the device has %u queue(s)", i,
                                t->ops->num_queues);
            continue;
        }
        if (qs->max_size != t->ops->queue_max)
            return vlog_err(-EINVAL, "queue %u: max-size %u, but the device offers %u", i,
                            qs->max_size, t->ops->queue_max);
        if (qs->size > qs->max_size)
            return vlog_err(-EINVAL, "queue %u: size %u above the maximum %u", i, qs->size,
                            qs->max_size);
        if (qs->ready && vq_check_layout(qs, t->mem) != 0)
            return vlog_err(-EINVAL,
                            "queue %u: size %u with rings at 0x%llx/0x%llx/0x%llx: not a "
                            "power of 2, misaligned or outside guest RAM",
                            i, qs->size, (unsigned long long)qs->desc_gpa,
                            (unsigned long long)qs->avail_gpa, (unsigned long long)qs->used_gpa);
        t->vq[i].st = *qs;
    }
    t->st = *st;
    return 0;
}

int virtio_mmio_create(struct guest_mem *mem, const struct virtio_device_ops *ops, void *dev,
                       const struct virtio_mmio_host *host, const struct virtio_mmio_state *st,
                       struct virtio_mmio **out)
{
    if (!ops || ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES ||
        ops->queue_max == 0 || ops->queue_max > VQ_MAX_SIZE || !ops->queue_notify ||
        !ops->config_read)
        return -EINVAL;
    struct virtio_mmio *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    t->mem = mem;
    t->ops = ops;
    t->dev = dev;
    if (host)
        t->host = *host;
    memset(&t->st, 0, sizeof(t->st));
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        vq_init(&t->vq[i], mem, i < ops->num_queues ? ops->queue_max : 0);
    if (st) {
        int err = restore_state(t, st);
        if (err) {
            virtio_mmio_destroy(t);
            return err;
        }
    }
    *out = t;
    return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_mmio_state *st)
{
    pthread_mutex_lock(&t->lock);
    *st = t->st;
    for (unsigned i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
        st->queues[i] = t->vq[i].st;
    pthread_mutex_unlock(&t->lock);
}
