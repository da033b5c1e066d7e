/* virtio-blk through the virtio-mmio transport, driven like a guest driver would: register
 * writes, descriptors in guest RAM, a temporary image file behind it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/mem.h"
#include "vmrun/virtio_blk.h"
#include "vmrun/virtio_mmio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define QSIZE 16
#define DESC 0x10000ULL
#define AVAIL 0x11000ULL
#define USED 0x12000ULL
#define HDR 0x20000ULL
#define DATA 0x30000ULL
#define STATUS 0x40000ULL
#define DISK_SECTORS 64

struct fx {
    struct guest_mem *mem;
    struct virtio_blk *blk;
    struct virtio_mmio *t;
    char path[64];
    int irqs;
    uint16_t avail_idx;
};

static void on_irq(void *ctx)
{
    ((struct fx *)ctx)->irqs++;
}

static void wr(struct fx *f, uint32_t off, uint32_t v)
{
    virtio_mmio_io(f->t, off, (uint8_t *)&v, 4, true);
}

static uint32_t rd(struct fx *f, uint32_t off)
{
    uint32_t v = 0;
    virtio_mmio_io(f->t, off, (uint8_t *)&v, 4, false);
    return v;
}

static void put(struct fx *f, uint64_t gpa, const void *p, size_t n)
{
    assert_int_equal(gm_write(f->mem, gpa, p, n, n), 0);
}

static void get(struct fx *f, uint64_t gpa, void *p, size_t n)
{
    assert_int_equal(gm_read(f->mem, gpa, p, n, n), 0);
}

static void make(struct fx *f, bool ro)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/vmrun-blk-XXXXXX");
    int fd = mkstemp(f->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, DISK_SECTORS * 512), 0);
    close(fd);
    assert_int_equal(gm_create(16 << 20, NULL, &f->mem), 0);
    assert_int_equal(virtio_blk_create(f->path, ro, &f->blk), 0);
    struct virtio_mmio_host h = {.irq = on_irq, .ctx = f};
    assert_int_equal(virtio_mmio_create(f->mem, virtio_blk_ops(f->blk), f->blk, &h, NULL, &f->t),
                     0);
}

static void drive_init(struct fx *f, uint64_t features)
{
    assert_int_equal(rd(f, 0x000), 0x74726976);
    assert_int_equal(rd(f, 0x004), 2);
    assert_int_equal(rd(f, 0x008), VIRTIO_ID_BLOCK);
    wr(f, 0x070, 0);
    wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(f, 0x024, 0);
    wr(f, 0x020, (uint32_t)features);
    wr(f, 0x024, 1);
    wr(f, 0x020, (uint32_t)(features >> 32));
    wr(f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_true(rd(f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
    wr(f, 0x030, 0);
    assert_int_equal(rd(f, 0x034), 256);
    wr(f, 0x038, QSIZE);
    wr(f, 0x080, (uint32_t)DESC);
    wr(f, 0x084, 0);
    wr(f, 0x090, (uint32_t)AVAIL);
    wr(f, 0x094, 0);
    wr(f, 0x0a0, (uint32_t)USED);
    wr(f, 0x0a4, 0);
    wr(f, 0x044, 1);
    assert_int_equal(rd(f, 0x044), 1);
    wr(f, 0x070,
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
           VIRTIO_STATUS_DRIVER_OK);
}

static void destroy(struct fx *f)
{
    virtio_mmio_destroy(f->t);
    virtio_blk_destroy(f->blk);
    gm_destroy(f->mem);
    unlink(f->path);
}

static void set_desc(struct fx *f, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                     uint16_t next)
{
    uint8_t d[16];
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
    put(f, DESC + 16ULL * i, d, 16);
}

/* Post head, kick, and return the used length of the completion. */
static uint32_t submit(struct fx *f, uint16_t head)
{
    put(f, AVAIL + 4 + 2ULL * (f->avail_idx % QSIZE), &head, 2);
    f->avail_idx++;
    put(f, AVAIL + 2, &f->avail_idx, 2);
    wr(f, 0x050, 0);
    uint16_t used_idx;
    get(f, USED + 2, &used_idx, 2);
    assert_int_equal(used_idx, f->avail_idx);
    uint32_t id, len;
    get(f, USED + 4 + 8ULL * ((used_idx - 1) % QSIZE), &id, 4);
    get(f, USED + 8 + 8ULL * ((used_idx - 1) % QSIZE), &len, 4);
    assert_int_equal(id, head);
    return len;
}

static uint8_t request(struct fx *f, uint32_t type, uint64_t sector, uint32_t data_len,
                       bool data_write, uint32_t *used_len)
{
    uint8_t hdr[16] = {0};
    memcpy(hdr, &type, 4);
    memcpy(hdr + 8, &sector, 8);
    put(f, HDR, hdr, 16);
    uint8_t status = 0xee;
    put(f, STATUS, &status, 1);
    set_desc(f, 0, HDR, 16, VQ_DESC_F_NEXT, 1);
    if (data_len) {
        set_desc(f, 1, DATA, data_len, VQ_DESC_F_NEXT | (data_write ? VQ_DESC_F_WRITE : 0), 2);
        set_desc(f, 2, STATUS, 1, VQ_DESC_F_WRITE, 0);
    } else {
        set_desc(f, 1, STATUS, 1, VQ_DESC_F_WRITE, 0);
    }
    *used_len = submit(f, 0);
    get(f, STATUS, &status, 1);
    return status;
}

#define FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << VIRTIO_BLK_F_FLUSH))

static void test_write_read_flush(void **state)
{
    (void)state;
    struct fx f;
    make(&f, false);
    drive_init(&f, FEATURES);
    uint64_t cap;
    uint8_t cfg[8];
    for (int i = 0; i < 8; i++)
        virtio_mmio_io(f.t, 0x100 + i, &cfg[i], 1, false);
    memcpy(&cap, cfg, 8);
    assert_int_equal(cap, DISK_SECTORS);

    uint8_t buf[1024];
    for (int i = 0; i < 1024; i++)
        buf[i] = (uint8_t)(i * 7 + 3);
    put(&f, DATA, buf, sizeof(buf));
    uint32_t len;
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 5, 1024, false, &len), VIRTIO_BLK_S_OK);
    assert_int_equal(len, 1);
    assert_int_equal(request(&f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), VIRTIO_BLK_S_OK);

    FILE *fp = fopen(f.path, "rb");
    uint8_t file[1024];
    fseek(fp, 5 * 512, SEEK_SET);
    assert_int_equal(fread(file, 1, 1024, fp), 1024);
    fclose(fp);
    assert_memory_equal(file, buf, 1024);

    uint8_t zero[1024] = {0};
    put(&f, DATA, zero, sizeof(zero));
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 5, 1024, true, &len), VIRTIO_BLK_S_OK);
    assert_int_equal(len, 1025);
    uint8_t back[1024];
    get(&f, DATA, back, sizeof(back));
    assert_memory_equal(back, buf, 1024);
    assert_true(gm_test_dirty(f.mem, DATA)); /* device writes are dirty-tracked */
    assert_true(gm_test_dirty(f.mem, USED));
    assert_true(f.irqs > 0);

    char id[20];
    assert_int_equal(request(&f, VIRTIO_BLK_T_GET_ID, 0, 20, true, &len), VIRTIO_BLK_S_OK);
    get(&f, DATA, id, sizeof(id));
    assert_memory_equal(id, "vmrun-blk-", 10);
    destroy(&f);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct fx f;
    make(&f, false);
    drive_init(&f, FEATURES);
    uint32_t len;
    /* Beyond capacity, partial sector, unknown type, short header. */
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, DISK_SECTORS - 1, 1024, true, &len),
                     VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, UINT64_MAX, 512, true, &len), VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 0, 100, false, &len), VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, 0x55, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
    set_desc(&f, 0, HDR, 8, VQ_DESC_F_NEXT, 1);
    set_desc(&f, 1, STATUS, 1, VQ_DESC_F_WRITE, 0);
    assert_int_equal(submit(&f, 0), 1);
    uint8_t status;
    get(&f, STATUS, &status, 1);
    assert_int_equal(status, VIRTIO_BLK_S_IOERR);

    /* A data buffer outside RAM: rejected chain, length 0, status untouched. */
    status = 0xee;
    put(&f, STATUS, &status, 1);
    set_desc(&f, 0, HDR, 16, VQ_DESC_F_NEXT, 1);
    set_desc(&f, 1, 1ULL << 40, 512, VQ_DESC_F_NEXT | VQ_DESC_F_WRITE, 2);
    set_desc(&f, 2, STATUS, 1, VQ_DESC_F_WRITE, 0);
    assert_int_equal(submit(&f, 0), 0);
    get(&f, STATUS, &status, 1);
    assert_int_equal(status, 0xee);

    /* A looping chain: length 0, and the queue keeps working afterwards. */
    set_desc(&f, 0, HDR, 16, VQ_DESC_F_NEXT, 1);
    set_desc(&f, 1, DATA, 512, VQ_DESC_F_NEXT, 0);
    assert_int_equal(submit(&f, 0), 0);
    assert_int_equal(request(&f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), VIRTIO_BLK_S_OK);
    struct virtio_blk_stats st;
    virtio_blk_get_stats(f.blk, &st);
    assert_int_equal(st.bad_chains, 2);

    /* A corrupt avail ring (head >= size): DEVICE_NEEDS_RESET and a config interrupt. */
    uint16_t bad = QSIZE + 3;
    put(&f, AVAIL + 4 + 2ULL * (f.avail_idx % QSIZE), &bad, 2);
    f.avail_idx++;
    put(&f, AVAIL + 2, &f.avail_idx, 2);
    wr(&f, 0x050, 0);
    assert_true(rd(&f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
    assert_true(rd(&f, 0x060) & VIRTIO_INT_CONFIG);
    /* Reset brings it back. */
    f.avail_idx = 0;
    uint16_t zero = 0;
    put(&f, AVAIL + 2, &zero, 2);
    put(&f, USED + 2, &zero, 2);
    drive_init(&f, FEATURES);
    assert_false(rd(&f, 0x070) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(request(&f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), VIRTIO_BLK_S_OK);
    destroy(&f);
}

static void test_read_only(void **state)
{
    (void)state;
    struct fx f;
    make(&f, true);
    uint32_t feat;
    wr(&f, 0x014, 0);
    feat = rd(&f, 0x010);
    assert_true(feat & (1u << VIRTIO_BLK_F_RO));
    drive_init(&f, FEATURES | (1ULL << VIRTIO_BLK_F_RO));
    uint32_t len;
    assert_int_equal(request(&f, VIRTIO_BLK_T_OUT, 0, 512, false, &len), VIRTIO_BLK_S_IOERR);
    assert_int_equal(request(&f, VIRTIO_BLK_T_IN, 0, 512, true, &len), VIRTIO_BLK_S_OK);
    destroy(&f);
}

static void test_feature_negotiation(void **state)
{
    (void)state;
    struct fx f;
    make(&f, false);
    /* Without VERSION_1, or with a bit never offered, FEATURES_OK does not stick. */
    wr(&f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(&f, 0x024, 0);
    wr(&f, 0x020, 1u << VIRTIO_BLK_F_FLUSH);
    wr(&f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_false(rd(&f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
    wr(&f, 0x070, 0);
    wr(&f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    wr(&f, 0x024, 1);
    wr(&f, 0x020, 1u | (1u << 8)); /* VERSION_1 and an unoffered bit 40 */
    wr(&f, 0x070, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
    assert_false(rd(&f, 0x070) & VIRTIO_STATUS_FEATURES_OK);
    /* Queue size above the maximum or rings outside RAM are refused at QueueReady. */
    wr(&f, 0x070, 0);
    wr(&f, 0x030, 0);
    wr(&f, 0x038, 512);
    wr(&f, 0x044, 1);
    assert_int_equal(rd(&f, 0x044), 0);
    wr(&f, 0x070, 0);
    wr(&f, 0x038, QSIZE);
    wr(&f, 0x080, 0);
    wr(&f, 0x084, 0x100); /* 1 TiB */
    wr(&f, 0x044, 1);
    assert_int_equal(rd(&f, 0x044), 0);
    /* Non-32-bit register access is ignored; reading a register byte-wise yields 0. */
    uint8_t b = 0xaa;
    virtio_mmio_io(f.t, 0x000, &b, 1, false);
    assert_int_equal(b, 0);
    destroy(&f);
}

static void test_state_roundtrip(void **state)
{
    (void)state;
    struct fx f;
    make(&f, false);
    drive_init(&f, FEATURES);
    uint32_t len;
    assert_int_equal(request(&f, VIRTIO_BLK_T_FLUSH, 0, 0, false, &len), VIRTIO_BLK_S_OK);
    struct virtio_mmio_state s1, s2;
    virtio_mmio_save(f.t, &s1);
    struct virtio_mmio *t2;
    assert_int_equal(virtio_mmio_create(f.mem, virtio_blk_ops(f.blk), f.blk, NULL, &s1, &t2), 0);
    virtio_mmio_save(t2, &s2);
    assert_memory_equal(&s1, &s2, sizeof(s1));
    virtio_mmio_destroy(t2);
    /* Hostile saved state: a queue larger than the device allows, features never offered. */
    s2 = s1;
    s2.queues[0].size = 1024;
    assert_int_equal(virtio_mmio_create(f.mem, virtio_blk_ops(f.blk), f.blk, NULL, &s2, &t2),
                     -EINVAL);
    s2 = s1;
    s2.driver_features |= 1ULL << 50;
    assert_int_equal(virtio_mmio_create(f.mem, virtio_blk_ops(f.blk), f.blk, NULL, &s2, &t2),
                     -EINVAL);
    destroy(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_read_flush), cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_read_only),        cmocka_unit_test(test_feature_negotiation),
        cmocka_unit_test(test_state_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
