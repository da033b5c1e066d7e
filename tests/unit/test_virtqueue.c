/* Split virtqueues against a real guest memory: every way a driver can lie about a ring must end
 * in -EINVAL (one bad chain) or -EIO (broken ring), never in an access outside guest RAM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmrun/mem.h"
#include "vmrun/virtqueue.h"

#define RAM_SIZE (16ULL << 20)
#define DESC_GPA 0x10000ULL
#define AVAIL_GPA 0x11000ULL
#define USED_GPA 0x12000ULL
#define ITABLE_GPA 0x20000ULL
#define ITABLE2_GPA 0x21000ULL
#define BUF_GPA 0x100000ULL
#define QSIZE 8

struct fx {
    struct guest_mem *mem;
    struct vq q;
    uint16_t avail_idx; /* the driver's copy of avail->idx */
    struct vq_chain chain;
};

static void queue_setup(struct fx *f, uint16_t size, bool indirect, bool event_idx)
{
    vq_init(&f->q, f->mem, VQ_MAX_SIZE);
    f->q.st.size = size;
    f->q.st.desc_gpa = DESC_GPA;
    f->q.st.avail_gpa = AVAIL_GPA;
    f->q.st.used_gpa = USED_GPA;
    f->q.st.indirect = indirect;
    f->q.st.event_idx = event_idx;
    assert_int_equal(vq_check_layout(&f->q.st, f->mem), 0);
    f->q.st.ready = 1;
    f->avail_idx = 0;
}

static int fx_setup_mem(void **state, uint64_t ram)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f || gm_create(ram, NULL, &f->mem) != 0) {
        free(f);
        return -1;
    }
    queue_setup(f, QSIZE, false, false);
    *state = f;
    return 0;
}

static int fx_setup(void **state)
{
    return fx_setup_mem(state, RAM_SIZE);
}

static int fx_setup_2g(void **state)
{
    return fx_setup_mem(state, 2ULL << 30);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    gm_destroy(f->mem);
    free(f);
    return 0;
}

static void wr16(struct fx *f, uint64_t gpa, uint16_t v)
{
    assert_int_equal(gm_write(f->mem, gpa, &v, sizeof(v), sizeof(v)), 0);
}

static uint16_t rd16(struct fx *f, uint64_t gpa)
{
    uint16_t v;
    assert_int_equal(gm_read(f->mem, gpa, &v, sizeof(v), sizeof(v)), 0);
    return v;
}

static uint32_t rd32(struct fx *f, uint64_t gpa)
{
    uint32_t v;
    assert_int_equal(gm_read(f->mem, gpa, &v, sizeof(v), sizeof(v)), 0);
    return v;
}

static void put_desc(struct fx *f, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
                     uint16_t flags, uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    assert_int_equal(gm_write(f->mem, table + 16ULL * i, d, sizeof(d), sizeof(d)), 0);
}

static void set_avail_idx(struct fx *f, uint16_t idx)
{
    f->avail_idx = idx;
    wr16(f, AVAIL_GPA + 2, idx);
}

/* Publish head in the next avail slot, as a driver would. */
static void offer(struct fx *f, uint16_t head)
{
    wr16(f, AVAIL_GPA + 4 + 2ULL * (f->avail_idx % f->q.st.size), head);
    set_avail_idx(f, (uint16_t)(f->avail_idx + 1));
}

static void start_indices_at(struct fx *f, uint16_t idx)
{
    f->q.st.next_avail = idx;
    f->q.st.next_used = idx;
    set_avail_idx(f, idx);
}

/* A bad chain: -EINVAL, head reported, nothing half-filled. */
static void expect_bad_chain(struct fx *f, uint16_t head)
{
    uint16_t before = f->q.st.next_avail;
    assert_int_equal(vq_pop(&f->q, &f->chain), -EINVAL);
    assert_int_equal(f->chain.head, head);
    assert_int_equal(f->chain.nseg, 0);
    assert_int_equal(f->chain.readable_len, 0);
    assert_int_equal(f->chain.writable_len, 0);
    assert_int_equal(f->q.st.next_avail, (uint16_t)(before + 1));
    assert_false(f->q.st.broken);
    assert_int_equal(vq_push(&f->q, head, 0), 0);
}

/* The canonical good chain: 16-byte readable header at desc 0, 1-byte writable status at 1. */
static void put_good_chain(struct fx *f)
{
    put_desc(f, DESC_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, BUF_GPA + 0x1000, 1, VQ_DESC_F_WRITE, 0);
}

static void expect_good_chain(struct fx *f)
{
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.head, 0);
    assert_int_equal(f->chain.nseg, 2);
    assert_int_equal(f->chain.readable_len, 16);
    assert_int_equal(f->chain.writable_len, 1);
    assert_int_equal(f->chain.seg[0].gpa, BUF_GPA);
    assert_int_equal(f->chain.seg[0].len, 16);
    assert_false(f->chain.seg[0].write);
    assert_int_equal(f->chain.seg[1].gpa, BUF_GPA + 0x1000);
    assert_int_equal(f->chain.seg[1].len, 1);
    assert_true(f->chain.seg[1].write);
}

static void test_plain_chain(void **state)
{
    struct fx *f = *state;
    put_good_chain(f);
    offer(f, 0);
    expect_good_chain(f);
    assert_int_equal(f->q.st.next_avail, 1);
    assert_int_equal(vq_pop(&f->q, &f->chain), 0);
}

static void test_multi_descriptor_chain(void **state)
{
    struct fx *f = *state;
    put_desc(f, DESC_GPA, 5, BUF_GPA, 100, VQ_DESC_F_NEXT, 2);
    put_desc(f, DESC_GPA, 2, BUF_GPA + 0x1000, 200, VQ_DESC_F_NEXT, 7);
    put_desc(f, DESC_GPA, 7, BUF_GPA + 0x2000, 300, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 3);
    put_desc(f, DESC_GPA, 3, BUF_GPA + 0x3000, 400, VQ_DESC_F_WRITE, 0);
    offer(f, 5);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.head, 5);
    assert_int_equal(f->chain.nseg, 4);
    assert_int_equal(f->chain.readable_len, 300);
    assert_int_equal(f->chain.writable_len, 700);
    const bool dir[] = {false, false, true, true};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(f->chain.seg[i].gpa, BUF_GPA + 0x1000ULL * i);
        assert_int_equal(f->chain.seg[i].len, 100 * (i + 1));
        assert_int_equal(f->chain.seg[i].write, dir[i]);
    }
}

static void test_zero_length_buffers(void **state)
{
    struct fx *f = *state;
    /* Never dereferenced, so even an address outside RAM is harmless. */
    put_desc(f, DESC_GPA, 0, 1ULL << 40, 0, VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, BUF_GPA, 4, VQ_DESC_F_WRITE | VQ_DESC_F_NEXT, 2);
    put_desc(f, DESC_GPA, 2, UINT64_MAX, 0, VQ_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.nseg, 1);
    assert_int_equal(f->chain.readable_len, 0);
    assert_int_equal(f->chain.writable_len, 4);
    assert_true(f->chain.seg[0].write);
}

static void test_indirect_chain(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    /* WRITE on the descriptor naming the table must be ignored. */
    put_desc(f, DESC_GPA, 4, ITABLE_GPA, 48, VQ_DESC_F_INDIRECT | VQ_DESC_F_WRITE, 0);
    put_desc(f, ITABLE_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, 2);
    put_desc(f, ITABLE_GPA, 2, BUF_GPA + 0x1000, 512, VQ_DESC_F_NEXT, 1);
    put_desc(f, ITABLE_GPA, 1, BUF_GPA + 0x2000, 1, VQ_DESC_F_WRITE, 0);
    offer(f, 4);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.head, 4);
    assert_int_equal(f->chain.nseg, 3);
    assert_int_equal(f->chain.readable_len, 528);
    assert_int_equal(f->chain.writable_len, 1);
    assert_int_equal(f->chain.seg[1].gpa, BUF_GPA + 0x1000);
    assert_true(f->chain.seg[2].write);

    /* Direct descriptors followed by an indirect one are valid (spec 2.7.5.3.2). An unaligned
     * table is fine too: nothing requires alignment. */
    put_desc(f, DESC_GPA, 0, BUF_GPA + 0x3000, 8, VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, ITABLE2_GPA + 8, 16, VQ_DESC_F_INDIRECT, 0);
    put_desc(f, ITABLE2_GPA + 8, 0, BUF_GPA + 0x4000, 32, VQ_DESC_F_WRITE, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.head, 0);
    assert_int_equal(f->chain.nseg, 2);
    assert_int_equal(f->chain.readable_len, 8);
    assert_int_equal(f->chain.writable_len, 32);
}

static void test_indirect_not_negotiated(void **state)
{
    struct fx *f = *state;
    put_desc(f, DESC_GPA, 3, ITABLE_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    put_desc(f, ITABLE_GPA, 0, BUF_GPA, 16, 0, 0);
    offer(f, 3);
    expect_bad_chain(f, 3);
}

static void test_indirect_nested(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    put_desc(f, DESC_GPA, 0, ITABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    put_desc(f, ITABLE_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, 1);
    put_desc(f, ITABLE_GPA, 1, ITABLE2_GPA, 16, VQ_DESC_F_INDIRECT, 0);
    put_desc(f, ITABLE2_GPA, 0, BUF_GPA, 16, 0, 0);
    offer(f, 0);
    expect_bad_chain(f, 0);
}

static void test_indirect_with_next(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    put_desc(f, DESC_GPA, 0, ITABLE_GPA, 16, VQ_DESC_F_INDIRECT | VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, BUF_GPA, 16, VQ_DESC_F_WRITE, 0);
    put_desc(f, ITABLE_GPA, 0, BUF_GPA, 16, 0, 0);
    offer(f, 0);
    expect_bad_chain(f, 0);
}

static void test_indirect_bad_len(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    const uint32_t bad[] = {0, 8, 20, 16 * VQ_MAX_SIZE + 16, UINT32_MAX & ~15u};
    for (uint16_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_desc(f, DESC_GPA, i, ITABLE_GPA, bad[i], VQ_DESC_F_INDIRECT, 0);
        offer(f, i);
        expect_bad_chain(f, i);
    }
}

static void test_indirect_outside_ram(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    const uint64_t bad[] = {RAM_SIZE - 16, RAM_SIZE, 1ULL << 40, UINT64_MAX - 15};
    for (uint16_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_desc(f, DESC_GPA, i, bad[i], 32, VQ_DESC_F_INDIRECT, 0);
        offer(f, i);
        expect_bad_chain(f, i);
    }
}

static void test_indirect_next_out_of_table(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    /* next is checked against the table's 2 entries, not the queue size of 8. */
    put_desc(f, DESC_GPA, 0, ITABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    put_desc(f, ITABLE_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, 2);
    offer(f, 0);
    expect_bad_chain(f, 0);
}

static void test_indirect_length_bound(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, true, false);
    /* A table of exactly the queue size is fine... */
    for (uint16_t i = 0; i < QSIZE + 1; i++)
        put_desc(f, ITABLE_GPA, i, BUF_GPA + i, 1, i < QSIZE - 1 ? VQ_DESC_F_NEXT : 0, i + 1);
    put_desc(f, DESC_GPA, 0, ITABLE_GPA, 16 * QSIZE, VQ_DESC_F_INDIRECT, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.nseg, QSIZE);
    assert_int_equal(f->chain.readable_len, QSIZE);
    assert_int_equal(vq_push(&f->q, 0, 0), 0);

    /* ...one more entry is longer than the queue... */
    put_desc(f, ITABLE_GPA, QSIZE - 1, BUF_GPA, 1, VQ_DESC_F_NEXT, QSIZE);
    put_desc(f, DESC_GPA, 1, ITABLE_GPA, 16 * (QSIZE + 1), VQ_DESC_F_INDIRECT, 0);
    offer(f, 1);
    expect_bad_chain(f, 1);

    /* ...and so is a direct descriptor plus a full table: the bound covers the whole chain. */
    put_desc(f, ITABLE_GPA, QSIZE - 1, BUF_GPA, 1, 0, 0);
    put_desc(f, DESC_GPA, 2, BUF_GPA, 1, VQ_DESC_F_NEXT, 3);
    put_desc(f, DESC_GPA, 3, ITABLE_GPA, 16 * QSIZE, VQ_DESC_F_INDIRECT, 0);
    offer(f, 2);
    expect_bad_chain(f, 2);

    /* A loop inside the table is caught the same way. */
    put_desc(f, ITABLE_GPA, 1, BUF_GPA, 1, VQ_DESC_F_NEXT, 0);
    put_desc(f, DESC_GPA, 4, ITABLE_GPA, 32, VQ_DESC_F_INDIRECT, 0);
    offer(f, 4);
    expect_bad_chain(f, 4);
}

static void test_loop_then_queue_continues(void **state)
{
    struct fx *f = *state;
    put_desc(f, DESC_GPA, 2, BUF_GPA, 16, VQ_DESC_F_NEXT, 3);
    put_desc(f, DESC_GPA, 3, BUF_GPA, 16, VQ_DESC_F_NEXT, 2);
    put_desc(f, DESC_GPA, 4, BUF_GPA, 16, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 4);
    offer(f, 2);
    offer(f, 4);
    put_good_chain(f);
    offer(f, 0);
    expect_bad_chain(f, 2);
    expect_bad_chain(f, 4);
    expect_good_chain(f);
    assert_int_equal(vq_push(&f->q, 0, 1), 0);
    /* The used ring holds all three completions, bad ones with len 0. */
    assert_int_equal(rd16(f, USED_GPA + 2), 3);
    assert_int_equal(rd32(f, USED_GPA + 4), 2);
    assert_int_equal(rd32(f, USED_GPA + 8), 0);
    assert_int_equal(rd32(f, USED_GPA + 12), 4);
    assert_int_equal(rd32(f, USED_GPA + 20), 0);
    assert_int_equal(rd32(f, USED_GPA + 24), 1);
}

static void test_chain_longer_than_queue(void **state)
{
    struct fx *f = *state;
    queue_setup(f, 4, false, false);
    /* Every index visited once, but the last one links back: 5 buffers in a 4-entry queue. */
    put_desc(f, DESC_GPA, 0, BUF_GPA, 1, VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, BUF_GPA, 1, VQ_DESC_F_NEXT, 2);
    put_desc(f, DESC_GPA, 2, BUF_GPA, 1, VQ_DESC_F_NEXT, 3);
    put_desc(f, DESC_GPA, 3, BUF_GPA, 1, VQ_DESC_F_NEXT, 0);
    offer(f, 0);
    expect_bad_chain(f, 0);
    /* The same four descriptors without the back link are a legal full-length chain. */
    put_desc(f, DESC_GPA, 3, BUF_GPA, 1, 0, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.nseg, 4);
}

static void test_next_out_of_range(void **state)
{
    struct fx *f = *state;
    put_desc(f, DESC_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, QSIZE);
    put_desc(f, DESC_GPA, 1, BUF_GPA, 16, VQ_DESC_F_NEXT, UINT16_MAX);
    offer(f, 0);
    offer(f, 1);
    expect_bad_chain(f, 0);
    expect_bad_chain(f, 1);
}

static void test_buffer_outside_ram(void **state)
{
    struct fx *f = *state;
    const struct {
        uint64_t addr;
        uint32_t len;
    } bad[] = {
        {1ULL << 40, 16},     /* nowhere near RAM */
        {RAM_SIZE, 1},        /* first byte past RAM */
        {RAM_SIZE - 8, 16},   /* crosses the end of RAM */
        {UINT64_MAX - 4, 16}, /* addr + len overflows */
        {0, UINT32_MAX},      /* longer than RAM */
    };
    for (uint16_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        put_desc(f, DESC_GPA, i, bad[i].addr, bad[i].len, VQ_DESC_F_WRITE, 0);
        offer(f, i);
        expect_bad_chain(f, i);
    }
    /* The last byte of RAM is still RAM. */
    put_desc(f, DESC_GPA, 7, RAM_SIZE - 1, 1, VQ_DESC_F_WRITE, 0);
    offer(f, 7);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.writable_len, 1);
}

static void test_readable_after_writable(void **state)
{
    struct fx *f = *state;
    put_desc(f, DESC_GPA, 0, BUF_GPA, 16, VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, BUF_GPA, 16, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2);
    put_desc(f, DESC_GPA, 2, BUF_GPA, 16, 0, 0);
    offer(f, 0);
    expect_bad_chain(f, 0);
}

static void test_length_sum_overflow(void **state)
{
    struct fx *f = *state; /* 2 GiB of RAM so two buffers can total 4 GiB */
    put_desc(f, DESC_GPA, 0, 0, 0x80000000u, VQ_DESC_F_NEXT, 1);
    put_desc(f, DESC_GPA, 1, 0, 0x80000000u, 0, 0);
    offer(f, 0);
    expect_bad_chain(f, 0);
    put_desc(f, DESC_GPA, 1, 0, 0x7fffffffu, 0, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.readable_len, UINT32_MAX);
}

static void test_head_out_of_range_breaks(void **state)
{
    struct fx *f = *state;
    put_good_chain(f);
    offer(f, QSIZE);
    assert_int_equal(vq_pop(&f->q, &f->chain), -EIO);
    assert_true(f->q.st.broken);
    /* Fixing the ring does not help: only a reset does. */
    wr16(f, AVAIL_GPA + 4, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), -EIO);
    assert_int_equal(vq_push(&f->q, 0, 0), -EIO);
    assert_true(f->q.st.broken);
    queue_setup(f, QSIZE, false, false);
    offer(f, 0);
    expect_good_chain(f);
}

static void test_avail_idx_jump_breaks(void **state)
{
    struct fx *f = *state;
    put_good_chain(f);
    /* Exactly a full ring is legal. */
    for (int i = 0; i < QSIZE; i++)
        offer(f, 0);
    for (int i = 0; i < QSIZE; i++)
        expect_good_chain(f);
    assert_int_equal(vq_pop(&f->q, &f->chain), 0);
    set_avail_idx(f, (uint16_t)(f->avail_idx + QSIZE + 1));
    assert_int_equal(vq_pop(&f->q, &f->chain), -EIO);
    assert_true(f->q.st.broken);
    /* An index that went backwards is the same corruption seen modulo 2^16. */
    queue_setup(f, QSIZE, false, false);
    start_indices_at(f, 100);
    set_avail_idx(f, 99);
    assert_int_equal(vq_pop(&f->q, &f->chain), -EIO);
}

static void test_empty_and_not_ready(void **state)
{
    struct fx *f = *state;
    assert_int_equal(vq_pop(&f->q, &f->chain), 0);
    put_good_chain(f);
    offer(f, 0);
    f->q.st.ready = 0;
    assert_int_equal(vq_pop(&f->q, &f->chain), 0);
    assert_int_equal(vq_push(&f->q, 0, 0), -EINVAL);
    assert_false(vq_should_notify(&f->q));
    assert_int_equal(f->q.st.next_avail, 0);
    f->q.st.ready = 1;
    expect_good_chain(f);
    assert_int_equal(vq_pop(NULL, &f->chain), -EINVAL);
    assert_int_equal(vq_pop(&f->q, NULL), -EINVAL);
}

static void test_bad_layout_at_pop_breaks(void **state)
{
    struct fx *f = *state;
    /* A transport that forgot vq_check_layout must not get out-of-RAM accesses. */
    f->q.st.used_gpa = RAM_SIZE - 8;
    assert_int_equal(vq_pop(&f->q, &f->chain), -EIO);
    assert_true(f->q.st.broken);
    queue_setup(f, QSIZE, false, false);
    f->q.st.size = 2 * VQ_MAX_SIZE;
    assert_int_equal(vq_pop(&f->q, &f->chain), -EIO);
}

static void test_index_wraparound(void **state)
{
    struct fx *f = *state;
    start_indices_at(f, 65534);
    for (uint16_t i = 0; i < 4; i++)
        put_desc(f, DESC_GPA, i, BUF_GPA + 0x1000ULL * i, 8, VQ_DESC_F_WRITE, 0);
    for (uint16_t i = 0; i < 4; i++)
        offer(f, i);
    assert_int_equal(f->avail_idx, 2);
    for (uint16_t i = 0; i < 4; i++) {
        assert_int_equal(vq_pop(&f->q, &f->chain), 1);
        assert_int_equal(f->chain.head, i);
        assert_int_equal(f->chain.seg[0].gpa, BUF_GPA + 0x1000ULL * i);
        assert_int_equal(vq_push(&f->q, i, 8 + i), 0);
    }
    assert_int_equal(vq_pop(&f->q, &f->chain), 0);
    assert_int_equal(f->q.st.next_avail, 2);
    assert_int_equal(f->q.st.next_used, 2);
    assert_int_equal(rd16(f, USED_GPA + 2), 2);
    /* Ring slots are index % size: 65534 -> 6, 65535 -> 7, 0 -> 0, 1 -> 1. */
    const unsigned slot[] = {6, 7, 0, 1};
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(rd32(f, USED_GPA + 4 + 8 * slot[i]), i);
        assert_int_equal(rd32(f, USED_GPA + 8 + 8 * slot[i]), 8 + i);
    }
}

static void test_push(void **state)
{
    struct fx *f = *state;
    put_good_chain(f);
    offer(f, 0);
    assert_false(gm_test_dirty(f->mem, USED_GPA));
    /* Nothing popped yet: a completion now would be for a chain the driver never offered. */
    assert_int_equal(vq_push(&f->q, 0, 1), -EINVAL);
    expect_good_chain(f);
    assert_int_equal(vq_push(&f->q, QSIZE, 1), -EINVAL);
    assert_int_equal(vq_push(&f->q, UINT16_MAX, 1), -EINVAL);
    assert_false(gm_test_dirty(f->mem, USED_GPA));
    assert_int_equal(vq_push(&f->q, 0, 0xdeadbeef), 0);
    assert_int_equal(rd16(f, USED_GPA + 2), 1);
    assert_int_equal(rd32(f, USED_GPA + 4), 0);
    assert_int_equal(rd32(f, USED_GPA + 8), 0xdeadbeef);
    assert_true(gm_test_dirty(f->mem, USED_GPA));
    assert_int_equal(vq_push(&f->q, 0, 0), -EINVAL);
    assert_int_equal(vq_push(NULL, 0, 0), -EINVAL);
}

static void test_used_ring_dirty_on_other_page(void **state)
{
    struct fx *f = *state;
    /* A used ring starting late in a page: idx on the first page, ring[200] on the next. */
    const uint64_t used = USED_GPA + 0xf00;
    queue_setup(f, VQ_MAX_SIZE, false, false);
    f->q.st.used_gpa = used;
    assert_int_equal(vq_check_layout(&f->q.st, f->mem), 0);
    put_good_chain(f);
    start_indices_at(f, 200);
    offer(f, 0);
    expect_good_chain(f);
    assert_false(gm_test_dirty(f->mem, used + 4 + 8 * 200));
    assert_int_equal(vq_push(&f->q, 0, 1), 0);
    assert_int_equal(rd32(f, used + 4 + 8 * 200), 0);
    assert_int_equal(rd32(f, used + 8 + 8 * 200), 1);
    assert_int_equal(rd16(f, used + 2), 201);
    assert_true(gm_test_dirty(f->mem, used + 4 + 8 * 200));
    assert_true(gm_test_dirty(f->mem, used));
    assert_false(gm_test_dirty(f->mem, USED_GPA + 0x2000));
}

static void test_notify_without_event_idx(void **state)
{
    struct fx *f = *state;
    put_good_chain(f);
    offer(f, 0);
    expect_good_chain(f);
    assert_int_equal(vq_push(&f->q, 0, 1), 0);
    assert_true(vq_should_notify(&f->q));
    wr16(f, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT);
    assert_false(vq_should_notify(&f->q));
    /* used_event means nothing without the feature. */
    wr16(f, AVAIL_GPA, 0);
    wr16(f, AVAIL_GPA + 4 + 2 * QSIZE, 100);
    assert_true(vq_should_notify(&f->q));
    assert_false(vq_should_notify(NULL));
}

static void pop_push(struct fx *f)
{
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(vq_push(&f->q, f->chain.head, 1), 0);
}

static void test_notify_event_idx(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, false, true);
    const uint64_t used_event = AVAIL_GPA + 4 + 2 * QSIZE;
    put_good_chain(f);
    /* The flag is ignored with EVENT_IDX, and the first decision always notifies. */
    wr16(f, AVAIL_GPA, VQ_AVAIL_F_NO_INTERRUPT);
    wr16(f, used_event, 5);
    pop_push(f);
    assert_true(vq_should_notify(&f->q));
    assert_true(f->q.st.signalled_valid);
    assert_int_equal(f->q.st.signalled_used, 1);
    /* Nothing new since the last interrupt. */
    assert_false(vq_should_notify(&f->q));
    /* used_event 1: notify once the entry at index 1 is written (idx goes 1 -> 2). */
    wr16(f, used_event, 1);
    pop_push(f);
    assert_true(vq_should_notify(&f->q));
    pop_push(f);
    assert_false(vq_should_notify(&f->q));
    /* Several completions at once that step over used_event still notify. */
    wr16(f, used_event, 4);
    pop_push(f);
    pop_push(f);
    pop_push(f);
    assert_true(vq_should_notify(&f->q));
    assert_int_equal(f->q.st.signalled_used, 6);
}

static void test_notify_event_idx_wraparound(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, false, true);
    put_good_chain(f);
    start_indices_at(f, 65535);
    f->q.st.signalled_used = 65535;
    f->q.st.signalled_valid = 1;
    wr16(f, AVAIL_GPA + 4 + 2 * QSIZE, 0);
    pop_push(f);
    pop_push(f);
    assert_int_equal(f->q.st.next_used, 1);
    assert_true(vq_should_notify(&f->q));
    wr16(f, AVAIL_GPA + 4 + 2 * QSIZE, 65000);
    pop_push(f);
    assert_false(vq_should_notify(&f->q));
}

static void test_avail_event_written(void **state)
{
    struct fx *f = *state;
    queue_setup(f, QSIZE, false, true);
    const uint64_t avail_event = USED_GPA + 4 + 8 * QSIZE;
    put_good_chain(f);
    start_indices_at(f, 41);
    offer(f, 0);
    offer(f, 0);
    expect_good_chain(f);
    assert_int_equal(rd16(f, avail_event), 42);
    assert_true(gm_test_dirty(f->mem, avail_event));
    expect_good_chain(f);
    assert_int_equal(rd16(f, avail_event), 43);
    assert_int_equal(vq_pop(&f->q, &f->chain), 0);
    assert_int_equal(rd16(f, avail_event), 43);
    /* Bad chains are consumed too, so avail_event moves past them. */
    put_desc(f, DESC_GPA, 2, BUF_GPA, 1, VQ_DESC_F_NEXT, 2);
    offer(f, 2);
    expect_bad_chain(f, 2);
    assert_int_equal(rd16(f, avail_event), 44);
}

/* Readable 3 + 5 + 8 bytes, then writable 4 + 6, each segment on its own page. */
static void put_sg_chain(struct fx *f)
{
    const uint32_t len[] = {3, 5, 8, 4, 6};
    for (uint16_t i = 0; i < 5; i++)
        put_desc(f, DESC_GPA, i, BUF_GPA + 0x1000ULL * i, len[i],
                 (i < 4 ? VQ_DESC_F_NEXT : 0) | (i >= 3 ? VQ_DESC_F_WRITE : 0), i + 1);
    uint8_t pattern[16];
    for (int i = 0; i < 16; i++)
        pattern[i] = (uint8_t)(0xa0 + i);
    assert_int_equal(gm_write(f->mem, BUF_GPA, pattern, 16, 3), 0);
    assert_int_equal(gm_write(f->mem, BUF_GPA + 0x1000, pattern + 3, 13, 5), 0);
    assert_int_equal(gm_write(f->mem, BUF_GPA + 0x2000, pattern + 8, 8, 8), 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.readable_len, 16);
    assert_int_equal(f->chain.writable_len, 10);
}

static void test_chain_read(void **state)
{
    struct fx *f = *state;
    put_sg_chain(f);
    uint8_t buf[32];
    memset(buf, 0, sizeof(buf));
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 2, buf, 10), 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(buf[i], 0xa0 + 2 + i);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 0, buf, 16), 0);
    for (int i = 0; i < 16; i++)
        assert_int_equal(buf[i], 0xa0 + i);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 16, buf, 0), 0);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 1, buf, 16), -EINVAL);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 17, buf, 0), -EINVAL);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 0, buf, 17), -EINVAL);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, UINT32_MAX, buf, SIZE_MAX), -EINVAL);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 1, buf, SIZE_MAX), -EINVAL);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 0, NULL, 1), -EINVAL);
    assert_int_equal(vq_chain_read(NULL, &f->chain, 0, buf, 1), -EINVAL);
}

static void test_chain_write(void **state)
{
    struct fx *f = *state;
    put_sg_chain(f);
    const uint8_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    uint8_t got[16];

    assert_false(gm_test_dirty(f->mem, BUF_GPA + 0x4000));
    assert_int_equal(vq_chain_write(&f->q, &f->chain, 2, data, 7), 0);
    assert_int_equal(gm_read(f->mem, BUF_GPA + 0x3000, got, sizeof(got), 4), 0);
    assert_int_equal(got[0], 0);
    assert_int_equal(got[1], 0);
    assert_int_equal(got[2], 1);
    assert_int_equal(got[3], 2);
    assert_int_equal(gm_read(f->mem, BUF_GPA + 0x4000, got, sizeof(got), 6), 0);
    const uint8_t want[6] = {3, 4, 5, 6, 7, 0};
    assert_memory_equal(got, want, 6);
    assert_true(gm_test_dirty(f->mem, BUF_GPA + 0x4000));

    /* Readable segments are never written, whatever the offset. */
    uint8_t before[16], after[16];
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 0, before, 16), 0);
    assert_int_equal(vq_chain_write(&f->q, &f->chain, 0, data, 10), 0);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 0, after, 16), 0);
    assert_memory_equal(before, after, 16);

    assert_int_equal(vq_chain_write(&f->q, &f->chain, 1, data, 10), -EINVAL);
    assert_int_equal(vq_chain_write(&f->q, &f->chain, 11, data, 0), -EINVAL);
    assert_int_equal(vq_chain_write(&f->q, &f->chain, UINT32_MAX, data, SIZE_MAX), -EINVAL);
    assert_int_equal(vq_chain_write(&f->q, &f->chain, 0, NULL, 1), -EINVAL);
}

static void test_chain_write_readonly_chain(void **state)
{
    struct fx *f = *state;
    put_desc(f, DESC_GPA, 0, BUF_GPA, 64, 0, 0);
    offer(f, 0);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(f->chain.writable_len, 0);
    uint8_t b = 0x55;
    assert_int_equal(vq_chain_write(&f->q, &f->chain, 0, &b, 1), -EINVAL);
    assert_int_equal(vq_chain_write(&f->q, &f->chain, 0, &b, 0), 0);
    /* Likewise nothing to read from a write-only chain. */
    put_desc(f, DESC_GPA, 1, BUF_GPA, 64, VQ_DESC_F_WRITE, 0);
    offer(f, 1);
    assert_int_equal(vq_pop(&f->q, &f->chain), 1);
    assert_int_equal(vq_chain_read(&f->q, &f->chain, 0, &b, 1), -EINVAL);
}

static void test_chain_damaged_by_caller(void **state)
{
    struct fx *f = *state;
    put_sg_chain(f);
    uint8_t buf[16];
    struct vq_chain *c = &f->chain;
    /* Totals larger than the segments: copy runs out of segments. */
    c->readable_len = 20;
    assert_int_equal(vq_chain_read(&f->q, c, 0, buf, 16), 0);
    assert_int_equal(vq_chain_read(&f->q, c, 0, buf, 17), -EINVAL);
    c->seg[0].gpa = RAM_SIZE;
    assert_int_equal(vq_chain_read(&f->q, c, 0, buf, 1), -EFAULT);
    c->seg[0].gpa = UINT64_MAX;
    assert_int_equal(vq_chain_read(&f->q, c, 1, buf, 1), -EINVAL);
    c->nseg = VQ_MAX_SIZE + 1;
    assert_int_equal(vq_chain_read(&f->q, c, 0, buf, 1), -EINVAL);
}

static void test_check_layout(void **state)
{
    struct fx *f = *state;
    const struct vq_state good = {.desc_gpa = DESC_GPA,
                                  .avail_gpa = AVAIL_GPA,
                                  .used_gpa = USED_GPA,
                                  .size = 64,
                                  .max_size = 128};
    struct vq_state st = good;
    assert_int_equal(vq_check_layout(&st, f->mem), 0);
    assert_int_equal(vq_check_layout(NULL, f->mem), -EINVAL);
    assert_int_equal(vq_check_layout(&st, NULL), -EINVAL);

    const uint16_t bad_size[] = {0, 3, 96, 256};
    for (size_t i = 0; i < sizeof(bad_size) / sizeof(bad_size[0]); i++) {
        st = good;
        st.size = bad_size[i];
        assert_int_equal(vq_check_layout(&st, f->mem), -EINVAL);
    }
    st = good;
    st.size = 512;
    st.max_size = 512; /* beyond what any device may offer */
    assert_int_equal(vq_check_layout(&st, f->mem), -EINVAL);
    st.size = 128;
    assert_int_equal(vq_check_layout(&st, f->mem), -EINVAL);

    const uint64_t bad_desc[] = {DESC_GPA + 8, DESC_GPA + 1, RAM_SIZE - 16 * 32, RAM_SIZE,
                                 UINT64_MAX - 15};
    for (size_t i = 0; i < sizeof(bad_desc) / sizeof(bad_desc[0]); i++) {
        st = good;
        st.desc_gpa = bad_desc[i];
        assert_int_equal(vq_check_layout(&st, f->mem), -EINVAL);
    }
    st = good;
    st.desc_gpa = RAM_SIZE - 16 * 64; /* ends exactly at the end of RAM */
    assert_int_equal(vq_check_layout(&st, f->mem), 0);

    const uint64_t bad_avail[] = {AVAIL_GPA + 1, RAM_SIZE - (6 + 2 * 64) + 2, UINT64_MAX - 1};
    for (size_t i = 0; i < sizeof(bad_avail) / sizeof(bad_avail[0]); i++) {
        st = good;
        st.avail_gpa = bad_avail[i];
        assert_int_equal(vq_check_layout(&st, f->mem), -EINVAL);
    }
    st = good;
    st.avail_gpa = RAM_SIZE - (6 + 2 * 64); /* 2-aligned, used_event is the last byte */
    assert_int_equal(vq_check_layout(&st, f->mem), 0);

    const uint64_t bad_used[] = {USED_GPA + 2, USED_GPA + 1, RAM_SIZE - 516, 1ULL << 40};
    for (size_t i = 0; i < sizeof(bad_used) / sizeof(bad_used[0]); i++) {
        st = good;
        st.used_gpa = bad_used[i];
        assert_int_equal(vq_check_layout(&st, f->mem), -EINVAL);
    }
    st = good;
    st.used_gpa = RAM_SIZE - 520; /* 4-aligned, 6 + 8 * 64 = 518 bytes fit */
    assert_int_equal(vq_check_layout(&st, f->mem), 0);
}

static void test_init_clamps_max_size(void **state)
{
    struct fx *f = *state;
    struct vq q;
    vq_init(&q, f->mem, 1024);
    assert_int_equal(q.st.max_size, VQ_MAX_SIZE);
    assert_int_equal(q.st.size, VQ_MAX_SIZE);
    assert_false(q.st.ready);
    vq_init(&q, f->mem, 16);
    assert_int_equal(q.st.max_size, 16);
    vq_init(NULL, f->mem, 16);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_plain_chain),
        T(test_multi_descriptor_chain),
        T(test_zero_length_buffers),
        T(test_indirect_chain),
        T(test_indirect_not_negotiated),
        T(test_indirect_nested),
        T(test_indirect_with_next),
        T(test_indirect_bad_len),
        T(test_indirect_outside_ram),
        T(test_indirect_next_out_of_table),
        T(test_indirect_length_bound),
        T(test_loop_then_queue_continues),
        T(test_chain_longer_than_queue),
        T(test_next_out_of_range),
        T(test_buffer_outside_ram),
        T(test_readable_after_writable),
        cmocka_unit_test_setup_teardown(test_length_sum_overflow, fx_setup_2g, fx_teardown),
        T(test_head_out_of_range_breaks),
        T(test_avail_idx_jump_breaks),
        T(test_empty_and_not_ready),
        T(test_bad_layout_at_pop_breaks),
        T(test_index_wraparound),
        T(test_push),
        T(test_used_ring_dirty_on_other_page),
        T(test_notify_without_event_idx),
        T(test_notify_event_idx),
        T(test_notify_event_idx_wraparound),
        T(test_avail_event_written),
        T(test_chain_read),
        T(test_chain_write),
        T(test_chain_write_readonly_chain),
        T(test_chain_damaged_by_caller),
        T(test_check_layout),
        T(test_init_clamps_max_size),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
