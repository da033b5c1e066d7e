/* I/O bus: registration rules, dispatch offsets, unhandled accounting, and concurrent counting. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmrun/bus.h"

struct rec {
    int calls;
    uint64_t off;
    uint32_t len;
    bool is_write;
    uint8_t data[8];
};

/* Records the access; reads return bytes 0xa0 + i so the caller can tell who answered. */
static void rec_handler(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct rec *r = opaque;
    r->calls++;
    r->off = off;
    r->len = len;
    r->is_write = is_write;
    if (is_write) {
        memcpy(r->data, data, len);
    } else {
        for (uint32_t i = 0; i < len; i++)
            data[i] = (uint8_t)(0xa0 + i);
    }
}

static struct bus *new_bus(const char *name)
{
    struct bus *bus = NULL;
    assert_int_equal(bus_create(name, &bus), 0);
    assert_non_null(bus);
    return bus;
}

/* Point stderr at path (or /dev/null) for noisy sections; returns the saved descriptor. */
static int stderr_redirect(const char *path)
{
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    int fd = open(path ? path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, STDERR_FILENO);
    close(fd);
    return saved;
}

static void stderr_restore(int saved)
{
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
}

static void test_create_destroy(void **state)
{
    (void)state;
    struct bus *bus = NULL;
    assert_int_equal(bus_create(NULL, &bus), -EINVAL);
    assert_int_equal(bus_create("pio", NULL), -EINVAL);
    bus = new_bus("pio");
    assert_int_equal(bus_unhandled_count(bus), 0);
    bus_destroy(bus);
    bus_destroy(NULL);
}

static void test_dispatch_offsets_and_data(void **state)
{
    (void)state;
    struct bus *bus = new_bus("pio");
    struct rec uart = {0};
    assert_int_equal(bus_register(bus, 0x3f8, 8, rec_handler, &uart), 0);

    uint8_t w[2] = {0x12, 0x34};
    assert_int_equal(bus_access(bus, 0x3fa, w, 2, true), 0);
    assert_int_equal(uart.calls, 1);
    assert_int_equal(uart.off, 2);
    assert_int_equal(uart.len, 2);
    assert_true(uart.is_write);
    assert_memory_equal(uart.data, w, 2);

    uint8_t r[8] = {0};
    assert_int_equal(bus_access(bus, 0x3f8, r, 8, false), 0); /* whole range in one access */
    assert_int_equal(uart.off, 0);
    assert_int_equal(uart.len, 8);
    assert_false(uart.is_write);
    assert_int_equal(r[0], 0xa0);
    assert_int_equal(r[7], 0xa7);

    assert_int_equal(bus_access(bus, 0x3ff, r, 1, false), 0); /* last byte */
    assert_int_equal(uart.off, 7);
    assert_int_equal(bus_unhandled_count(bus), 0);
    bus_destroy(bus);
}

static void test_access_len_limits(void **state)
{
    (void)state;
    struct bus *bus = new_bus("mmio");
    struct rec dev = {0};
    uint8_t buf[16] = {0};
    assert_int_equal(bus_register(bus, 0x1000, 0x100, rec_handler, &dev), 0);
    assert_int_equal(bus_access(bus, 0x1000, buf, 0, false), -EINVAL);
    assert_int_equal(bus_access(bus, 0x1000, buf, 9, false), -EINVAL);
    assert_int_equal(bus_access(bus, 0x1000, NULL, 4, false), -EINVAL);
    assert_int_equal(bus_access(NULL, 0x1000, buf, 4, false), -EINVAL);
    assert_int_equal(dev.calls, 0);
    /* Invalid calls are VMM bugs, not guest accesses, so they are not counted. */
    assert_int_equal(bus_unhandled_count(bus), 0);
    bus_destroy(bus);
}

static void test_adjacent_ranges(void **state)
{
    (void)state;
    struct bus *bus = new_bus("pio");
    struct rec a = {0}, b = {0}, c = {0};
    uint8_t d = 0;
    assert_int_equal(bus_register(bus, 0x100, 0x10, rec_handler, &a), 0);
    assert_int_equal(bus_register(bus, 0x110, 0x10, rec_handler, &b), 0);
    assert_int_equal(bus_register(bus, 0xf0, 0x10, rec_handler, &c), 0);

    assert_int_equal(bus_access(bus, 0x10f, &d, 1, false), 0);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.off, 0xf);
    assert_int_equal(bus_access(bus, 0x110, &d, 1, false), 0);
    assert_int_equal(b.calls, 1);
    assert_int_equal(b.off, 0);
    assert_int_equal(bus_access(bus, 0xff, &d, 1, false), 0);
    assert_int_equal(c.calls, 1);
    assert_int_equal(c.off, 0xf);
    bus_destroy(bus);
}

static void test_overlap_rejected(void **state)
{
    (void)state;
    struct bus *bus = new_bus("pio");
    struct rec a = {0};
    assert_int_equal(bus_register(bus, 0x100, 0x10, rec_handler, &a), 0);
    assert_int_equal(bus_register(bus, 0x200, 0x10, rec_handler, &a), 0);

    assert_int_equal(bus_register(bus, 0x100, 0x10, rec_handler, &a), -EEXIST); /* identical */
    assert_int_equal(bus_register(bus, 0x104, 0x4, rec_handler, &a), -EEXIST);  /* inside */
    assert_int_equal(bus_register(bus, 0xfc, 0x8, rec_handler, &a), -EEXIST);   /* start */
    assert_int_equal(bus_register(bus, 0x10c, 0x8, rec_handler, &a), -EEXIST);  /* end */
    assert_int_equal(bus_register(bus, 0x0, 0x1000, rec_handler, &a), -EEXIST); /* covering */
    assert_int_equal(bus_register(bus, 0xff, 0x2, rec_handler, &a), -EEXIST);   /* one byte in */
    assert_int_equal(bus_register(bus, 0x10f, 0xf2, rec_handler, &a), -EEXIST); /* both */
    /* The gap between them is still free, up to both edges. */
    assert_int_equal(bus_register(bus, 0x110, 0xf0, rec_handler, &a), 0);
    bus_destroy(bus);
}

static void test_bad_ranges_rejected(void **state)
{
    (void)state;
    struct bus *bus = new_bus("mmio");
    struct rec a = {0};
    assert_int_equal(bus_register(bus, 0x100, 0, rec_handler, &a), -EINVAL);
    assert_int_equal(bus_register(bus, UINT64_MAX, 2, rec_handler, &a), -EINVAL);
    assert_int_equal(bus_register(bus, 0x1000, UINT64_MAX, rec_handler, &a), -EINVAL);
    /* Ending exactly at 2^64 wraps base + len to 0. */
    assert_int_equal(bus_register(bus, UINT64_MAX - 0xf, 0x10, rec_handler, &a), -EINVAL);
    assert_int_equal(bus_register(bus, 0x100, 0x10, NULL, &a), -EINVAL);
    assert_int_equal(bus_register(NULL, 0x100, 0x10, rec_handler, &a), -EINVAL);

    /* The highest legal range ends at UINT64_MAX; accesses near the top must not wrap. */
    uint8_t buf[8] = {0};
    assert_int_equal(bus_register(bus, UINT64_MAX - 0x10, 0x10, rec_handler, &a), 0);
    assert_int_equal(bus_access(bus, UINT64_MAX - 8, buf, 8, false), 0);
    assert_int_equal(a.off, 8);
    int saved = stderr_redirect(NULL);
    int rc1 = bus_access(bus, UINT64_MAX - 4, buf, 8, false);
    int rc2 = bus_access(bus, UINT64_MAX, buf, 1, false);
    stderr_restore(saved);
    assert_int_equal(rc1, -ENOENT);
    assert_int_equal(rc2, -ENOENT);
    assert_int_equal(bus_unhandled_count(bus), 2);
    bus_destroy(bus);
}

static void test_straddling_access_unhandled(void **state)
{
    (void)state;
    struct bus *bus = new_bus("pio");
    struct rec a = {0};
    uint8_t buf[4] = {1, 2, 3, 4};
    assert_int_equal(bus_register(bus, 0x100, 0x10, rec_handler, &a), 0);

    int saved = stderr_redirect(NULL);
    int past_end = bus_access(bus, 0x10e, buf, 4, true);
    int before_start = bus_access(bus, 0xfe, buf, 4, true);
    int one_past = bus_access(bus, 0x110, buf, 1, true);
    stderr_restore(saved);
    assert_int_equal(past_end, -ENOENT);
    assert_int_equal(before_start, -ENOENT);
    assert_int_equal(one_past, -ENOENT);
    assert_int_equal(a.calls, 0);
    assert_int_equal(bus_unhandled_count(bus), 3);
    /* Unhandled writes leave the caller's data alone. */
    assert_int_equal(buf[0], 1);
    assert_int_equal(buf[3], 4);
    bus_destroy(bus);
}

static void test_unhandled_read_floats_high_and_logs(void **state)
{
    (void)state;
    struct bus *bus = new_bus("pio");
    uint8_t buf[8] = {0};
    char path[] = "/tmp/test_bus_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);

    int saved = stderr_redirect(path);
    assert_int_equal(bus_access(bus, 0x1234, buf, 2, false), -ENOENT);
    stderr_restore(saved);

    assert_int_equal(buf[0], 0xff);
    assert_int_equal(buf[1], 0xff);
    assert_int_equal(buf[2], 0); /* only len bytes are touched */
    assert_int_equal(bus_unhandled_count(bus), 1);

    char out[256] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, sizeof(out) - 1, f);
    fclose(f);
    unlink(path);
    assert_true(n > 0);
    assert_string_equal(out, "vmrun: pio: unhandled read of 2 bytes at 0x1234\n");
    bus_destroy(bus);
}

/* xorshift64: deterministic shuffles, so a failure reproduces. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

#define MANY 1000
static void test_many_ranges_random_order(void **state)
{
    (void)state;
    struct bus *bus = new_bus("mmio");
    static struct rec recs[MANY];
    size_t order[MANY];
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    memset(recs, 0, sizeof(recs));
    for (size_t i = 0; i < MANY; i++)
        order[i] = i;
    for (size_t i = MANY - 1; i > 0; i--) {
        size_t j = (size_t)(next_rand(&seed) % (i + 1));
        size_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    /* Range i is [0x10000 + 32i, +16); the 16-byte gaps between them stay unclaimed. */
    for (size_t k = 0; k < MANY; k++) {
        size_t i = order[k];
        assert_int_equal(bus_register(bus, 0x10000 + 32 * i, 16, rec_handler, &recs[i]), 0);
    }
    for (size_t k = 0; k < MANY; k++) {
        size_t i = order[k];
        assert_int_equal(bus_register(bus, 0x10000 + 32 * i + 8, 16, rec_handler, &recs[i]),
                         -EEXIST);
    }

    uint8_t buf[4];
    static int hit[MANY], gap[MANY];
    int saved = stderr_redirect(NULL);
    for (size_t i = 0; i < MANY; i++) {
        hit[i] = bus_access(bus, 0x10000 + 32 * i + i % 13, buf, 1, false);
        gap[i] = bus_access(bus, 0x10000 + 32 * i + 16, buf, 4, false);
    }
    int below = bus_access(bus, 0xffff, buf, 1, false);
    int above = bus_access(bus, 0x10000 + 32 * MANY, buf, 1, false);
    stderr_restore(saved);
    for (size_t i = 0; i < MANY; i++) {
        assert_int_equal(hit[i], 0);
        assert_int_equal(recs[i].calls, 1);
        assert_int_equal(recs[i].off, i % 13);
        assert_int_equal(gap[i], -ENOENT);
    }
    assert_int_equal(below, -ENOENT);
    assert_int_equal(above, -ENOENT);
    assert_int_equal(bus_unhandled_count(bus), MANY + 2);
    bus_destroy(bus);
}

#define PER_THREAD 100000
static void *hammer(void *arg)
{
    struct bus *bus = arg;
    uint8_t buf[4];
    for (int i = 0; i < PER_THREAD; i++) {
        if (bus_access(bus, 0x5000 + (uint64_t)(i % 64), buf, 4, i & 1) != -ENOENT)
            return (void *)1;
    }
    return NULL;
}

static void test_concurrent_unhandled_count(void **state)
{
    (void)state;
    struct bus *bus = new_bus("mmio");
    struct rec a = {0};
    pthread_t t[2];
    void *ret[2];
    assert_int_equal(bus_register(bus, 0x1000, 0x10, rec_handler, &a), 0);

    int saved = stderr_redirect(NULL);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, bus), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_join(t[i], &ret[i]), 0);
    stderr_restore(saved);
    assert_null(ret[0]);
    assert_null(ret[1]);
    assert_int_equal(bus_unhandled_count(bus), 2 * PER_THREAD);
    bus_destroy(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_destroy),
        cmocka_unit_test(test_dispatch_offsets_and_data),
        cmocka_unit_test(test_access_len_limits),
        cmocka_unit_test(test_adjacent_ranges),
        cmocka_unit_test(test_overlap_rejected),
        cmocka_unit_test(test_bad_ranges_rejected),
        cmocka_unit_test(test_straddling_access_unhandled),
        cmocka_unit_test(test_unhandled_read_floats_high_and_logs),
        cmocka_unit_test(test_many_ranges_random_order),
        cmocka_unit_test(test_concurrent_unhandled_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
