/* Split virtqueues, device side: ring layout checks, chain walking, used ring and notifications.
 * The guest can rewrite any ring byte at any moment, so every value is read once into a local,
 * checked, and only the checked copy is used. */
#include "vmrun/virtqueue.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "vmrun/mem.h"

/* struct virtq_desc from the spec; all fields little-endian in guest memory. */
struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
_Static_assert(sizeof(struct vq_desc) == 16, "virtq_desc is 16 bytes");

/* Byte offsets inside the avail and used rings (the spec's layout). */
#define AVAIL_FLAGS 0
#define AVAIL_IDX 2
#define AVAIL_RING 4
#define USED_IDX 2
#define USED_RING 4
#define USED_ELEM_SIZE 8

/* Host views of the three rings, valid only while the memory map is fixed (it is, after boot). */
struct vq_rings {
    uint8_t *desc;
    uint8_t *avail;
    uint8_t *used;
};

void vq_init(struct vq *q, struct guest_mem *mem, uint16_t max_size)
{
    if (!q)
        return;
    memset(q, 0, sizeof(*q));
    q->mem = mem;
    /* vq_chain has room for VQ_MAX_SIZE segments; a larger queue could overflow it. */
    q->st.max_size = max_size > VQ_MAX_SIZE ? VQ_MAX_SIZE : max_size;
    /* virtio-mmio's QueueNum defaults to the maximum until the driver writes a smaller one. */
    q->st.size = q->st.max_size;
}

/* Host pointer to a whole ring of len bytes at gpa, which must be aligned to align. */
static int vq_map_ring(struct guest_mem *mem, uint64_t gpa, uint64_t align, uint64_t len,
                       uint8_t **out)
{
    void *p;
    if (gpa % align)
        return -EINVAL;
    if (gm_ptr(mem, gpa, len, &p) < 0)
        return -EINVAL;
    *out = p;
    return 0;
}

/* Validate the layout and map the rings; every later access stays inside these three ranges. */
static int vq_map_rings(const struct vq_state *st, struct guest_mem *mem, struct vq_rings *r)
{
    uint64_t desc_len, avail_len, used_len;
    if (!st || !mem)
        return -EINVAL;
    if (st->max_size > VQ_MAX_SIZE || st->size == 0 || st->size > st->max_size ||
        (st->size & (st->size - 1)))
        return -EINVAL;
    if (__builtin_mul_overflow((uint64_t)st->size, sizeof(struct vq_desc), &desc_len) ||
        __builtin_mul_overflow((uint64_t)st->size, 2, &avail_len) ||
        __builtin_add_overflow(avail_len, 6, &avail_len) ||
        __builtin_mul_overflow((uint64_t)st->size, USED_ELEM_SIZE, &used_len) ||
        __builtin_add_overflow(used_len, 6, &used_len))
        return -EINVAL;
    /* Event fields are counted even without EVENT_IDX: the driver lays the rings out that way
     * and it keeps the layout independent of feature negotiation order. */
    if (vq_map_ring(mem, st->desc_gpa, 16, desc_len, &r->desc) < 0 ||
        vq_map_ring(mem, st->avail_gpa, 2, avail_len, &r->avail) < 0 ||
        vq_map_ring(mem, st->used_gpa, 4, used_len, &r->used) < 0)
        return -EINVAL;
    return 0;
}

int vq_check_layout(const struct vq_state *st, struct guest_mem *mem)
{
    struct vq_rings r;
    return vq_map_rings(st, mem, &r);
}

/* 16-bit ring fields are 2-aligned in guest memory (checked) and the reservation is page
 * aligned, so the host address is aligned too and atomic access is well-defined. */
static uint16_t ring_load16(const uint8_t *p, int order)
{
    return le16toh(__atomic_load_n((const uint16_t *)(const void *)p, order));
}

static void ring_store16(uint8_t *p, uint16_t v, int order)
{
    __atomic_store_n((uint16_t *)(void *)p, htole16(v), order);
}

/* Copy descriptor i of table into d. The compiler barrier keeps the compiler from re-reading
 * guest memory later instead of using the checked copy (a double fetch the guest could race). */
static void desc_load(const uint8_t *table, uint32_t i, struct vq_desc *d)
{
    memcpy(d, table + (size_t)i * sizeof(*d), sizeof(*d));
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    d->addr = le64toh(d->addr);
    d->len = le32toh(d->len);
    d->flags = le16toh(d->flags);
    d->next = le16toh(d->next);
}

/* Tell an EVENT_IDX driver how far we consumed: it notifies when it publishes that entry. */
static void vq_set_avail_event(struct vq *q, const struct vq_rings *r)
{
    uint64_t off = USED_RING + (uint64_t)q->st.size * USED_ELEM_SIZE;
    ring_store16(r->used + off, q->st.next_avail, __ATOMIC_RELAXED);
    gm_mark_dirty(q->mem, q->st.used_gpa + off, 2);
}

/* Add one buffer descriptor to the chain. Zero-length buffers are legal and carry no bytes, so
 * they are not checked against RAM and produce no segment; they still obey the order rule. */
static int vq_add_seg(struct vq *q, struct vq_chain *c, const struct vq_desc *d, bool *seen_write)
{
    bool write = d->flags & VQ_DESC_F_WRITE;
    void *p;

    if (!write && *seen_write)
        return -EINVAL;
    *seen_write |= write;
    if (d->len == 0)
        return 0;
    if (gm_ptr(q->mem, d->addr, d->len, &p) < 0)
        return -EINVAL;
    uint32_t *sum = write ? &c->writable_len : &c->readable_len;
    if (__builtin_add_overflow(*sum, d->len, sum))
        return -EINVAL;
    c->seg[c->nseg++] = (struct vq_seg){.gpa = d->addr, .len = d->len, .write = write};
    return 0;
}

/*
 * Flatten the chain starting at head (already < size). Only buffer descriptors count against the
 * queue size: an indirect descriptor ends the main chain (INDIRECT|NEXT and nesting are refused),
 * so it can occur at most once and the bound still guarantees termination, loops included. It
 * also keeps nseg <= size <= VQ_MAX_SIZE, the capacity of c->seg.
 */
static int vq_walk(struct vq *q, const struct vq_rings *r, uint16_t head, struct vq_chain *c)
{
    const uint8_t *table = r->desc;
    uint32_t table_entries = q->st.size;
    uint32_t budget = q->st.size;
    uint32_t i = head;
    bool in_indirect = false, seen_write = false;

    for (;;) {
        struct vq_desc d;
        desc_load(table, i, &d);
        if (d.flags & VQ_DESC_F_INDIRECT) {
            void *p;
            if (in_indirect || !q->st.indirect || (d.flags & VQ_DESC_F_NEXT))
                return -EINVAL;
            if (d.len == 0 || d.len % sizeof(struct vq_desc) ||
                d.len > VQ_MAX_SIZE * sizeof(struct vq_desc))
                return -EINVAL;
            if (gm_ptr(q->mem, d.addr, d.len, &p) < 0)
                return -EINVAL;
            /* The WRITE flag of this descriptor is meaningless and ignored (spec 2.7.5.3.2). */
            table = p;
            table_entries = d.len / sizeof(struct vq_desc);
            i = 0;
            in_indirect = true;
            continue;
        }
        /* A loop never ends on its own; running out of budget is how it shows up. */
        if (budget == 0)
            return -EINVAL;
        budget--;
        int rc = vq_add_seg(q, c, &d, &seen_write);
        if (rc < 0)
            return rc;
        if (!(d.flags & VQ_DESC_F_NEXT))
            return 0;
        if (d.next >= table_entries)
            return -EINVAL;
        i = d.next;
    }
}

/* Ring corruption cannot be answered per chain: stop the queue until the driver resets it. */
static int vq_break(struct vq *q)
{
    q->st.broken = 1;
    return -EIO;
}

int vq_pop(struct vq *q, struct vq_chain *chain)
{
    struct vq_rings r;

    if (!q || !chain)
        return -EINVAL;
    if (q->st.broken)
        return -EIO;
    if (!q->st.ready)
        return 0;
    /* Re-checked on every call so a transport or restore path that skipped vq_check_layout
     * cannot make us index outside guest RAM or past chain->seg. */
    if (vq_map_rings(&q->st, q->mem, &r) < 0)
        return vq_break(q);

    const uint16_t size = q->st.size;
    uint16_t avail_idx = ring_load16(r.avail + AVAIL_IDX, __ATOMIC_ACQUIRE);
    if (avail_idx == q->st.next_avail && q->st.event_idx) {
        /* Publish avail_event before the final look at idx; without the full fence our store
         * could sit in the store buffer while the driver reads a stale avail_event, skips the
         * notification, and the new buffer is never seen. */
        vq_set_avail_event(q, &r);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        avail_idx = ring_load16(r.avail + AVAIL_IDX, __ATOMIC_ACQUIRE);
    }
    uint16_t pending = (uint16_t)(avail_idx - q->st.next_avail);
    if (pending > size)
        return vq_break(q);
    if (pending == 0)
        return 0;

    uint16_t head =
        ring_load16(r.avail + AVAIL_RING + 2u * (q->st.next_avail % size), __ATOMIC_RELAXED);
    if (head >= size)
        return vq_break(q);
    /* Consumed even if the chain turns out bad: the caller completes it with len 0. */
    q->st.next_avail++;
    if (q->st.event_idx)
        vq_set_avail_event(q, &r);

    chain->head = head;
    chain->nseg = 0;
    chain->readable_len = 0;
    chain->writable_len = 0;
    int rc = vq_walk(q, &r, head, chain);
    if (rc < 0) {
        /* Leave nothing half-filled for a caller that ignores the return code. */
        chain->nseg = 0;
        chain->readable_len = 0;
        chain->writable_len = 0;
        return rc;
    }
    return 1;
}

int vq_push(struct vq *q, uint16_t head, uint32_t len)
{
    struct vq_rings r;

    if (!q)
        return -EINVAL;
    if (q->st.broken)
        return -EIO;
    if (!q->st.ready)
        return -EINVAL;
    if (vq_map_rings(&q->st, q->mem, &r) < 0)
        return vq_break(q);
    if (head >= q->st.size)
        return -EINVAL;
    /* More completions than chains popped would show the driver heads it never offered. */
    if (q->st.next_avail == q->st.next_used)
        return -EINVAL;

    uint64_t off = USED_RING + (uint64_t)(q->st.next_used % q->st.size) * USED_ELEM_SIZE;
    uint32_t *elem = (uint32_t *)(void *)(r.used + off);
    __atomic_store_n(&elem[0], htole32((uint32_t)head), __ATOMIC_RELAXED);
    __atomic_store_n(&elem[1], htole32(len), __ATOMIC_RELAXED);
    gm_mark_dirty(q->mem, q->st.used_gpa + off, USED_ELEM_SIZE);
    /* The driver reads the element once it sees idx move, so the element must be visible first. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    q->st.next_used++;
    ring_store16(r.used + USED_IDX, q->st.next_used, __ATOMIC_RELEASE);
    gm_mark_dirty(q->mem, q->st.used_gpa + USED_IDX, 2);
    return 0;
}

/* vring_need_event from the spec: did new_idx pass event_idx since old_idx? */
static bool vring_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
    return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

bool vq_should_notify(struct vq *q)
{
    struct vq_rings r;

    if (!q || !q->st.ready)
        return false;
    if (vq_map_rings(&q->st, q->mem, &r) < 0)
        return false;
    /* Our used idx store must be visible before we read the driver's suppression state, or we
     * could both decide the other side will act (the classic lost-interrupt race). */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    if (!q->st.event_idx)
        return !(ring_load16(r.avail + AVAIL_FLAGS, __ATOMIC_RELAXED) & VQ_AVAIL_F_NO_INTERRUPT);

    uint16_t used_event =
        ring_load16(r.avail + AVAIL_RING + 2u * (uint32_t)q->st.size, __ATOMIC_RELAXED);
    bool valid = q->st.signalled_valid;
    uint16_t old = q->st.signalled_used;
    q->st.signalled_used = q->st.next_used;
    q->st.signalled_valid = 1;
    return !valid || vring_need_event(used_event, q->st.next_used, old);
}
