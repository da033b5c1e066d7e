/* Minimal virtio-mmio v2 driver with one polled split virtqueue (see virtio.h). Ring 3. */
#include "virtio.h"

#define TSC_BACKSTOP 30000000000ull /* ~10 s at 3 GHz: only if the timer stopped */
#define RESET_WAIT_MS 500
#define MMIO_HOLE_START 0xc0000000ull
#define MMIO_HOLE_END 0x100000000ull

void deadline_start(struct deadline *dl, unsigned ms)
{
    uint64_t hz = timer_hz() ? timer_hz() : 100;
    dl->tick_end = ticks_now() + ((uint64_t)ms * hz + 999) / 1000 + 1;
    dl->tsc_start = rdtsc();
}

bool deadline_passed(const struct deadline *dl)
{
    return ticks_now() >= dl->tick_end || rdtsc() - dl->tsc_start > TSC_BACKSTOP;
}

/* Parse a number with an optional K/M/G suffix (Linux memparse style). */
static bool parse_size(const char *s, size_t len, uint64_t *out)
{
    unsigned shift = 0;
    if (len > 0) {
        char c = s[len - 1];
        if (c == 'k' || c == 'K')
            shift = 10;
        else if (c == 'm' || c == 'M')
            shift = 20;
        else if (c == 'g' || c == 'G')
            shift = 30;
        if (shift)
            len--;
    }
    if (!parse_u64(s, len, out) || (shift && (*out >> (64 - shift))))
        return false;
    *out <<= shift;
    return true;
}

static const char *find_char(const char *s, const char *end, char c)
{
    while (s < end && *s != c)
        s++;
    return s;
}

/* "<size>@<base>:<irq>[:<id>]" */
static const char *parse_slot(const char *v, size_t len, struct virtio_slot *slot)
{
    const char *end = v + len, *at = find_char(v, end, '@'), *colon, *colon2;
    uint64_t irq;
    if (at == end)
        return "no '@'";
    colon = find_char(at + 1, end, ':');
    if (colon == end)
        return "no ':<irq>'";
    colon2 = find_char(colon + 1, end, ':');
    if (!parse_size(v, (size_t)(at - v), &slot->size))
        return "bad size";
    if (!parse_u64(at + 1, (size_t)(colon - at - 1), &slot->base))
        return "bad address";
    if (!parse_u64(colon + 1, (size_t)(colon2 - colon - 1), &irq) || irq > 255)
        return "bad irq";
    slot->irq = (unsigned)irq;
    if (slot->size < 0x200 || slot->size > 0x100000)
        return "size not in 512..1M";
    if (slot->base & 0xfff)
        return "address not page aligned";
    if (slot->base < MMIO_HOLE_START || slot->base >= MMIO_HOLE_END ||
        slot->size > MMIO_HOLE_END - slot->base)
        return "address outside the MMIO hole 0xc0000000-0xffffffff";
    return NULL;
}

unsigned virtio_find_slots(struct virtio_slot *slots, unsigned max)
{
    static const char key[] = "virtio_mmio.device=";
    const size_t klen = sizeof(key) - 1;
    const char *p = cmdline_get(), *tok;
    size_t len;
    unsigned n = 0;
    while ((tok = cmdline_next(&p, &len))) {
        if (len < klen || memcmp(tok, key, klen) != 0)
            continue;
        struct virtio_slot s;
        const char *why = parse_slot(tok + klen, len - klen, &s);
        if (why) {
            puts_serial("vmrun guest: ignoring ");
            put_n(tok, len);
            gprintf(": %s\n", why);
            continue;
        }
        if (n == max) {
            gprintf("vmrun guest: more than %u virtio-mmio devices, ignoring the rest\n", max);
            break;
        }
        slots[n++] = s;
    }
    return n;
}

int virtio_probe(struct virtio_dev *d, const struct virtio_slot *slot, uint8_t *ring_page)
{
    uint32_t magic, version;
    memset(d, 0, sizeof(*d));
    d->base = slot->base;
    d->irq = slot->irq;
    d->ring_page = ring_page;
    magic = vio_read(d, VIRTIO_MMIO_MAGIC);
    if (magic != VIRTIO_MMIO_MAGIC_VALUE) {
        gsnprintf(d->err, sizeof(d->err), "no virtio-mmio device at 0x%lx (magic 0x%x)", d->base,
                  magic);
        return -1;
    }
    version = vio_read(d, VIRTIO_MMIO_VERSION);
    if (version != 2) {
        gsnprintf(d->err, sizeof(d->err), "virtio-mmio at 0x%lx: version %u, want 2", d->base,
                  version);
        return -1;
    }
    d->device_id = vio_read(d, VIRTIO_MMIO_DEVICE_ID);
    d->vendor_id = vio_read(d, VIRTIO_MMIO_VENDOR_ID);
    return 0;
}

static void set_status(struct virtio_dev *d, uint32_t bits)
{
    vio_write(d, VIRTIO_MMIO_STATUS, bits);
}

int virtio_reset(struct virtio_dev *d)
{
    struct deadline dl;
    uint32_t st;
    vio_write(d, VIRTIO_MMIO_STATUS, 0);
    deadline_start(&dl, RESET_WAIT_MS);
    while ((st = vio_read(d, VIRTIO_MMIO_STATUS)) != 0) {
        if (deadline_passed(&dl)) {
            gsnprintf(d->err, sizeof(d->err), "reset: Status still 0x%x after %u ms", st,
                      RESET_WAIT_MS);
            return -1;
        }
        cpu_relax();
    }
    return 0;
}

static int init_fail(struct virtio_dev *d)
{
    set_status(d, vio_read(d, VIRTIO_MMIO_STATUS) | VIRTIO_STATUS_FAILED);
    return -1;
}

int virtio_init(struct virtio_dev *d, uint64_t wanted)
{
    uint32_t status, lo, hi, ready;
    uint64_t ring = (uint64_t)d->ring_page;

    if (virtio_reset(d))
        return -1;
    status = VIRTIO_STATUS_ACKNOWLEDGE;
    set_status(d, status);
    status |= VIRTIO_STATUS_DRIVER;
    set_status(d, status);

    vio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    lo = vio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
    vio_write(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    hi = vio_read(d, VIRTIO_MMIO_DEVICE_FEATURES);
    d->offered = ((uint64_t)hi << 32) | lo;
    if (!(d->offered & (1ull << VIRTIO_F_VERSION_1))) {
        gsnprintf(d->err, sizeof(d->err), "device does not offer VIRTIO_F_VERSION_1 (0x%lx)",
                  d->offered);
        return init_fail(d);
    }
    d->accepted = d->offered & (wanted | (1ull << VIRTIO_F_VERSION_1));
    vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
    vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)d->accepted);
    vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    vio_write(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(d->accepted >> 32));
    status |= VIRTIO_STATUS_FEATURES_OK;
    set_status(d, status);
    if (!(vio_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK)) {
        gsnprintf(d->err, sizeof(d->err), "device refused features 0x%lx (offered 0x%lx)",
                  d->accepted, d->offered);
        return init_fail(d);
    }

    vio_write(d, VIRTIO_MMIO_QUEUE_SEL, 0);
    ready = vio_read(d, VIRTIO_MMIO_QUEUE_READY);
    if (ready) {
        gsnprintf(d->err, sizeof(d->err), "queue 0 reads ready (%u) right after reset", ready);
        return init_fail(d);
    }
    uint32_t qmax = vio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
    if (qmax < 2) {
        gsnprintf(d->err, sizeof(d->err), "queue 0: QueueNumMax %u", qmax);
        return init_fail(d);
    }
    d->qmax = qmax > 32768 ? 32768 : (uint16_t)qmax;
    d->qsize = VQ_SIZE;
    while (d->qsize > d->qmax)
        d->qsize >>= 1;

    memset(d->ring_page, 0, 4096);
    d->desc = (volatile struct virtq_desc *)(ring + VQ_DESC_OFF);
    d->avail = (volatile struct virtq_avail *)(ring + VQ_AVAIL_OFF);
    d->used = (volatile struct virtq_used *)(ring + VQ_USED_OFF);
    d->avail->flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
    d->avail_idx = 0;
    d->used_idx = 0;
    vio_mb();

    vio_write(d, VIRTIO_MMIO_QUEUE_NUM, d->qsize);
    vio_write(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)(ring + VQ_DESC_OFF));
    vio_write(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)((ring + VQ_DESC_OFF) >> 32));
    vio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LOW, (uint32_t)(ring + VQ_AVAIL_OFF));
    vio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HIGH, (uint32_t)((ring + VQ_AVAIL_OFF) >> 32));
    vio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LOW, (uint32_t)(ring + VQ_USED_OFF));
    vio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HIGH, (uint32_t)((ring + VQ_USED_OFF) >> 32));
    vio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
    ready = vio_read(d, VIRTIO_MMIO_QUEUE_READY);
    if (ready != 1) {
        gsnprintf(d->err, sizeof(d->err), "queue 0 not ready after QueueReady=1 (reads %u)", ready);
        return init_fail(d);
    }

    status |= VIRTIO_STATUS_DRIVER_OK;
    set_status(d, status);
    uint32_t st = vio_read(d, VIRTIO_MMIO_STATUS);
    if (st != status) {
        gsnprintf(d->err, sizeof(d->err), "Status reads 0x%x after DRIVER_OK, want 0x%x", st,
                  status);
        return init_fail(d);
    }
    return 0;
}

uint32_t virtio_config32(const struct virtio_dev *d, uint32_t off)
{
    return vio_read(d, VIRTIO_MMIO_CONFIG + off);
}

int virtio_config64(struct virtio_dev *d, uint32_t off, uint64_t *out)
{
    for (int tries = 0; tries < 16; tries++) {
        uint32_t g1 = vio_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
        uint32_t lo = virtio_config32(d, off);
        uint32_t hi = virtio_config32(d, off + 4);
        uint32_t g2 = vio_read(d, VIRTIO_MMIO_CONFIG_GENERATION);
        if (g1 == g2) {
            *out = ((uint64_t)hi << 32) | lo;
            return 0;
        }
    }
    gsnprintf(d->err, sizeof(d->err), "config space keeps changing (ConfigGeneration)");
    return -1;
}

void vq_post(struct virtio_dev *d, uint16_t head)
{
    d->avail->ring[d->avail_idx & (d->qsize - 1)] = head;
    vio_mb();
    d->avail_idx++;
    d->avail->idx = d->avail_idx;
    vio_mb();
    vio_write(d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
}

int vq_wait(struct virtio_dev *d, uint16_t head, uint32_t max_len, uint32_t *len,
            unsigned budget_ms)
{
    struct deadline dl;
    uint16_t idx;
    deadline_start(&dl, budget_ms);
    while ((idx = d->used->idx) == d->used_idx) {
        if (deadline_passed(&dl)) {
            gsnprintf(d->err, sizeof(d->err),
                      "no completion within %u ms (used idx %u, avail idx %u, Status 0x%x)",
                      budget_ms, idx, d->avail_idx, vio_read(d, VIRTIO_MMIO_STATUS));
            return 1;
        }
        cpu_relax();
    }
    vio_mb();
    uint16_t pending = (uint16_t)(idx - d->used_idx);
    uint16_t posted = (uint16_t)(d->avail_idx - d->used_idx);
    if (pending > posted) {
        gsnprintf(d->err, sizeof(d->err), "used idx %u ran ahead: %u entries, %u posted", idx,
                  pending, posted);
        return -1;
    }
    volatile struct virtq_used_elem *e = &d->used->ring[d->used_idx & (d->qsize - 1)];
    uint32_t id = e->id, l = e->len;
    d->used_idx++;
    if (id >= d->qsize) {
        gsnprintf(d->err, sizeof(d->err), "used id %u >= queue size %u", id, d->qsize);
        return -1;
    }
    if (id != head) {
        gsnprintf(d->err, sizeof(d->err), "used id %u, posted head %u", id, head);
        return -1;
    }
    if (l > max_len) {
        gsnprintf(d->err, sizeof(d->err), "used len %u exceeds the %u writable bytes", l, max_len);
        return -1;
    }
    *len = l;
    return 0;
}

int vq_run(struct virtio_dev *d, uint16_t head, uint32_t max_len, uint32_t *len)
{
    vq_post(d, head);
    return vq_wait(d, head, max_len, len, VQ_WAIT_MS) ? -1 : 0;
}
