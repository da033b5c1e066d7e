/* bzImage parsing and LZ4 payload decompression against synthetic images built here with liblz4
 * in the kernel's format (legacy frame + 32-bit size trailer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/bzimage.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#define SETUP_SECTS 4
#define PM_START ((SETUP_SECTS + 1) * 512)
#define PAYLOAD_OFF 0x100

static uint8_t vmlinux[100000];

struct image {
    uint8_t *data;
    size_t size;
};

static void put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/* Legacy LZ4 frame: magic, then (le32 size, block) pairs, then the decompressed size. */
static size_t make_lz4(uint8_t *out, size_t cap, const uint8_t *src, size_t len, size_t block)
{
    size_t o = 0;
    put32(out, 0x184c2102);
    o += 4;
    for (size_t i = 0; i < len; i += block) {
        size_t n = len - i < block ? len - i : block;
        int c = LZ4_compress_default((const char *)src + i, (char *)out + o + 4, (int)n,
                                     (int)(cap - o - 8));
        assert_true(c > 0);
        put32(out + o, (uint32_t)c);
        o += 4 + (size_t)c;
    }
    put32(out + o, (uint32_t)len);
    return o + 4;
}

static struct image make_bzimage(uint16_t version)
{
    for (size_t i = 0; i < sizeof(vmlinux); i++)
        vmlinux[i] = (uint8_t)((i % 251) ^ (i / 1000));
    memcpy(vmlinux,
           "\x7f"
           "ELF",
           4);
    size_t cap = PM_START + PAYLOAD_OFF + LZ4_compressBound(sizeof(vmlinux)) + 64;
    struct image im = {.data = calloc(1, cap)};
    uint8_t *b = im.data;
    b[0x1f1] = SETUP_SECTS;
    put16(b + 0x1fe, 0xaa55);
    b[0x200] = 0xeb;
    b[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(b + 0x202, "HdrS", 4);
    put16(b + 0x206, version);
    b[0x211] = 0x01;       /* LOADED_HIGH */
    put16(b + 0x236, 0x1); /* XLF_KERNEL_64 */
    size_t plen = make_lz4(b + PM_START + PAYLOAD_OFF, cap - PM_START - PAYLOAD_OFF, vmlinux,
                           sizeof(vmlinux), 32768);
    put32(b + 0x248, PAYLOAD_OFF);
    put32(b + 0x24c, (uint32_t)plen);
    im.size = PM_START + PAYLOAD_OFF + plen;
    return im;
}

static void test_valid(void **state)
{
    (void)state;
    struct image im = make_bzimage(0x020f);
    assert_true(bzimage_detect(im.data, im.size));
    struct bzimage_info bz;
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), 0);
    assert_int_equal(bz.version, 0x020f);
    assert_string_equal(bz.payload_format, "lz4");
    assert_int_equal(bz.setup_header_len, 0x26c - 0x1f1);
    void *out;
    size_t len;
    assert_int_equal(bzimage_decompress_lz4(bz.payload, bz.payload_len, "k", &out, &len), 0);
    assert_int_equal(len, sizeof(vmlinux));
    assert_memory_equal(out, vmlinux, len);
    free(out);
    free(im.data);
}

static void test_truncated(void **state)
{
    (void)state;
    struct image im = make_bzimage(0x020f);
    struct bzimage_info bz;
    /* Cut inside the payload, inside the setup header, before the signature. */
    assert_int_equal(bzimage_parse(im.data, im.size - 1, "k", &bz), -ENOEXEC);
    assert_int_equal(bzimage_parse(im.data, 0x250, "k", &bz), -ENOEXEC);
    assert_int_equal(bzimage_parse(im.data, 0x100, "k", &bz), -ENOEXEC);
    assert_false(bzimage_detect(im.data, 0x100));
    /* A payload whose blocks are cut short fails decompression, never reads past the end. */
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), 0);
    void *out;
    size_t len;
    for (size_t cut = 5; cut < bz.payload_len; cut += bz.payload_len / 7) {
        /* Keep a plausible size trailer at the new end. */
        uint8_t *copy = malloc(cut + 4);
        memcpy(copy, bz.payload, cut);
        put32(copy + cut, sizeof(vmlinux));
        assert_int_equal(bzimage_decompress_lz4(copy, cut + 4, "k", &out, &len), -ENOEXEC);
        free(copy);
    }
    free(im.data);
}

static void test_bad_magic_and_fields(void **state)
{
    (void)state;
    struct bzimage_info bz;
    struct image im = make_bzimage(0x020f);
    memcpy(im.data + 0x202, "HdrX", 4);
    assert_false(bzimage_detect(im.data, im.size));
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    memcpy(im.data + 0x202, "HdrS", 4);
    put16(im.data + 0x1fe, 0x1234);
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    put16(im.data + 0x1fe, 0xaa55);
    put16(im.data + 0x236, 0); /* no 64-bit entry */
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    put16(im.data + 0x236, 1);
    put32(im.data + 0x248, 0xfffffff0); /* payload offset far outside */
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    put32(im.data + 0x248, PAYLOAD_OFF);
    put32(im.data + 0x24c, 0xffffffff); /* payload length overflowing the file */
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    im.data[0x1f1] = 250; /* setup sectors beyond the file */
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    free(im.data);
}

static void test_old_protocol(void **state)
{
    (void)state;
    struct image im = make_bzimage(0x020a);
    struct bzimage_info bz;
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), -ENOEXEC);
    free(im.data);
}

static void test_other_formats_and_corruption(void **state)
{
    (void)state;
    struct image im = make_bzimage(0x020f);
    struct bzimage_info bz;
    uint8_t *payload = im.data + PM_START + PAYLOAD_OFF;
    memcpy(payload, "\x1f\x8b", 2);
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), 0);
    assert_string_equal(bz.payload_format, "gzip");
    memcpy(payload,
           "\xfd"
           "7zXZ",
           5);
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), 0);
    assert_string_equal(bz.payload_format, "xz");
    free(im.data);

    im = make_bzimage(0x020f);
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), 0);
    void *out;
    size_t len;
    uint8_t *p = (uint8_t *)bz.payload;
    /* Corrupt bytes inside the first block, a block size pointing past the end, a lying
     * size trailer: each an error, never a crash (ASan would see one). */
    uint8_t saved = p[40];
    p[40] ^= 0xff;
    int rc = bzimage_decompress_lz4(p, bz.payload_len, "k", &out, &len);
    if (rc == 0) {
        assert_memory_not_equal(out, vmlinux, len);
        free(out);
    }
    p[40] = saved;
    put32(p + 4, 0x7fffffff);
    assert_int_equal(bzimage_decompress_lz4(p, bz.payload_len, "k", &out, &len), -ENOEXEC);
    free(im.data);

    im = make_bzimage(0x020f);
    assert_int_equal(bzimage_parse(im.data, im.size, "k", &bz), 0);
    p = (uint8_t *)bz.payload;
    put32(p + bz.payload_len - 4, sizeof(vmlinux) - 1);
    assert_int_equal(bzimage_decompress_lz4(p, bz.payload_len, "k", &out, &len), -ENOEXEC);
    put32(p + bz.payload_len - 4, 0);
    assert_int_equal(bzimage_decompress_lz4(p, bz.payload_len, "k", &out, &len), -ENOEXEC);
    free(im.data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_magic_and_fields),
        cmocka_unit_test(test_old_protocol),
        cmocka_unit_test(test_other_formats_and_corruption),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
