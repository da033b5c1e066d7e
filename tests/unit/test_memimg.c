/* memory.lz4: round trips over real guest memory, zero elision, diff images, and a reader that
 * rejects every corruption, truncation and hostile index it is shown. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <lz4.h>

#include "../../snapshot/memimg_format.h"
#include "vmrun/mem.h"
#include "capture.h"
#include "testdata.h"
#include "tmpdir.h"
#include "vmrun/memimg.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)

enum fill { F_UNTOUCHED, F_ZERO, F_TEXT, F_RANDOM, F_SPARSE };

/* ---- helpers ---- */

struct tdir {
    char dir[64];
    char path[128];
};

static void tdir_init(struct tdir *t)
{
    snprintf(t->dir, sizeof(t->dir), "/tmp/test_memimg.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->path, sizeof(t->path), "%s/memory.lz4", t->dir);
}

static int tdir_count(const struct tdir *t)
{
    return tmpdir_count(t->dir);
}

static void tdir_fini(struct tdir *t)
{
    tmpdir_remove(t->dir);
}

/* Host address of a RAM offset (regions concatenated in GPA order). */
static uint8_t *ram_at(struct guest_mem *mem, uint64_t off)
{
    for (size_t i = 0; i < gm_region_count(mem); i++) {
        struct gm_region r;
        assert_int_equal(gm_region_get(mem, i, &r), 0);
        if (off < r.size)
            return (uint8_t *)r.host + off;
        off -= r.size;
    }
    fail_msg("RAM offset beyond RAM");
    return NULL;
}

static void fill_range(struct guest_mem *mem, uint64_t off, uint64_t n, enum fill f, uint64_t seed)
{
    uint8_t *p = ram_at(mem, off);
    switch (f) {
    case F_UNTOUCHED:
        break;
    case F_ZERO:
        memset(p, 0, n); /* resident zero pages: only a scan can tell */
        break;
    case F_TEXT:
        fill_text(p, n, seed);
        break;
    case F_RANDOM:
        fill_random(p, n, seed);
        break;
    case F_SPARSE:
        p[n - n / 3 - 1] = 0x5a; /* one byte, late in the chunk, in a non-first page */
        break;
    }
}

/* Chunk i of cs bytes gets pattern pat(i); returns the number of non-zero chunks. */
static uint64_t fill_mix(struct guest_mem *mem, uint64_t cs, const enum fill *pat, size_t npat)
{
    uint64_t ram = gm_ram_size(mem), nonzero = 0;
    for (uint64_t i = 0; i * cs < ram; i++) {
        uint64_t n = ram - i * cs < cs ? ram - i * cs : cs;
        enum fill f = pat[i % npat];
        fill_range(mem, i * cs, n, f, i * 7919 + 1);
        nonzero += f >= F_TEXT;
    }
    return nonzero;
}

static const enum fill MIX[] = {F_UNTOUCHED, F_TEXT, F_ZERO, F_RANDOM, F_SPARSE, F_TEXT, F_ZERO};

/* Open with the right hash, read every chunk and compare with RAM; returns the summary. */
static void check_roundtrip(const char *path, uint64_t hash, struct guest_mem *mem,
                            struct memimg_summary *out)
{
    struct memimg *m = NULL;
    assert_int_equal(memimg_open(path, hash, &m), 0);
    memimg_get_summary(m, out);
    uint8_t *buf = malloc(out->chunk_size);
    assert_non_null(buf);
    for (uint64_t i = 0; i < out->chunks_total; i++) {
        uint64_t n = memimg_chunk_bytes(m, i);
        assert_true(n > 0 && n <= out->chunk_size);
        memset(buf, 0xa5, n);
        int rc = memimg_read_chunk(m, i, buf, n);
        if (memimg_chunk_kind(m, i) == MEMIMG_ABSENT) {
            assert_int_equal(rc, -ENOENT);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_memory_equal(buf, ram_at(mem, i * out->chunk_size), n);
    }
    uint64_t bad = 12345;
    assert_int_equal(memimg_verify(m, &bad, NULL, NULL), 0);
    assert_int_equal(bad, 12345);
    free(buf);
    memimg_close(m);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static uint8_t *load(const char *path, uint64_t *len)
{
    *len = file_size(path);
    uint8_t *b = malloc(*len);
    assert_non_null(b);
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, b, *len, 0), (ssize_t)*len);
    close(fd);
    return b;
}

static void store(const char *path, const uint8_t *b, uint64_t len)
{
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, b, len, 0), (ssize_t)len);
    close(fd);
}

static void flip(const char *path, uint64_t off, uint8_t mask)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
    b ^= mask;
    assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

/* A small mixed image shared by the corruption tests: 4 MiB in 64 KiB chunks. */
struct small_img {
    struct tdir t;
    struct guest_mem *mem;
    struct memimg_summary sum;
};

static void small_img_make(struct small_img *s)
{
    tdir_init(&s->t);
    s->mem = mem_new(4 * MiB);
    fill_mix(s->mem, 64 * KiB, MIX, sizeof(MIX) / sizeof(MIX[0]));
    struct memimg_write_opts o = {.chunk_size = 64 * KiB, .ram_is_anonymous = true};
    assert_int_equal(memimg_write(s->t.path, s->mem, &o, &s->sum), 0);
}

static void small_img_free(struct small_img *s)
{
    gm_destroy(s->mem);
    tdir_fini(&s->t);
}

/* ---- tests ---- */

static void test_codec(void **state)
{
    (void)state;
    struct mi_entry e = {.offset = 0x0102030405060708ULL,
                         .size = 0x11223344,
                         .kind = MEMIMG_DATA,
                         .flags = MI_ENT_RAW,
                         .reserved = 0xbeef,
                         .hash = 0xa1a2a3a4a5a6a7a8ULL},
                    d;
    uint8_t raw[MI_ENTRY_SIZE];
    mi_entry_encode(&e, raw);
    static const uint8_t want[MI_ENTRY_SIZE] = {0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
                                                0x44, 0x33, 0x22, 0x11, 0x02, 0x01, 0xef, 0xbe,
                                                0xa8, 0xa7, 0xa6, 0xa5, 0xa4, 0xa3, 0xa2, 0xa1};
    assert_memory_equal(raw, want, sizeof(want));
    mi_entry_decode(raw, &d);
    assert_memory_equal(&d, &e, sizeof(e));

    struct mi_header h = {.version = 1,
                          .header_size = MI_HEADER_SIZE,
                          .chunk_size = 1u << 18,
                          .flags = MI_HDR_DIFF,
                          .ram_bytes = 5 * GiB,
                          .chunk_count = 20480,
                          .index_offset = 0x1234567890ULL,
                          .index_length = 20480 * MI_ENTRY_SIZE},
                     g;
    uint8_t hr[MI_HEADER_SIZE];
    mi_header_encode(&h, hr);
    assert_memory_equal(hr, "VMRUNMEM", 8);
    assert_int_equal(hr[8], 1);
    assert_int_equal(hr[12], MI_HEADER_SIZE);
    assert_int_equal(hr[18], 4); /* 1 << 18, little-endian */
    mi_header_decode(hr, &g);
    h.header_hash = XXH3_64bits(hr, MI_HEADER_HASHED);
    assert_memory_equal(&g, &h, sizeof(h));
    assert_int_equal(mi_get64(hr + 56), h.header_hash);
}

static void test_roundtrip_mixed(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(64 * MiB);
    uint64_t nonzero = fill_mix(mem, MEMIMG_DEFAULT_CHUNK, MIX, sizeof(MIX) / sizeof(MIX[0]));
    struct memimg_summary w, r;
    struct memimg_write_opts o = {.ram_is_anonymous = true};
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    assert_int_equal(w.chunk_size, MEMIMG_DEFAULT_CHUNK);
    assert_int_equal(w.ram_bytes, 64 * MiB);
    assert_int_equal(w.chunks_total, 256);
    assert_int_equal(w.chunks_data, nonzero);
    assert_int_equal(w.chunks_zero, 256 - nonzero);
    assert_int_equal(w.chunks_absent, 0);
    assert_int_equal(w.uncompressed_bytes, nonzero * MEMIMG_DEFAULT_CHUNK);
    assert_int_equal(w.file_bytes, file_size(t.path));
    assert_int_equal(w.file_bytes, MI_HEADER_SIZE + w.data_bytes + 256 * MI_ENTRY_SIZE);
    assert_true(w.data_bytes < w.uncompressed_bytes);
    struct stat st;
    assert_int_equal(stat(t.path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* guest RAM is private */

    check_roundtrip(t.path, w.index_hash, mem, &r);
    assert_memory_equal(&r, &w, sizeof(w));

    /* pagemap skipping, a plain scan and any thread count must give the same bytes. */
    struct tdir t2;
    tdir_init(&t2);
    struct memimg_summary w2;
    struct memimg_write_opts o2 = {.threads = 1};
    assert_int_equal(memimg_write(t2.path, mem, &o2, &w2), 0);
    assert_memory_equal(&w2, &w, sizeof(w));
    uint64_t l1, l2;
    uint8_t *b1 = load(t.path, &l1), *b2 = load(t2.path, &l2);
    assert_int_equal(l1, l2);
    assert_memory_equal(b1, b2, l1);
    free(b1);
    free(b2);
    tdir_fini(&t2);
    tdir_fini(&t);
    gm_destroy(mem);
}

static void test_zero_elision(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(32 * MiB);
    /* Resident zero pages in half the guest, and no pagemap help: the scan must find them. */
    memset(ram_at(mem, 0), 0, 16 * MiB);
    struct memimg_summary w;
    assert_int_equal(memimg_write(t.path, mem, NULL, &w), 0);
    assert_int_equal(w.chunks_zero, 128);
    assert_int_equal(w.chunks_data, 0);
    assert_int_equal(w.data_bytes, 0);
    assert_int_equal(file_size(t.path), MI_HEADER_SIZE + 128 * MI_ENTRY_SIZE);
    struct memimg_summary r;
    check_roundtrip(t.path, w.index_hash, mem, &r);
    assert_int_equal(r.chunks_zero, 128);

    /* One non-zero byte in the very last word of the last chunk is still data. */
    ram_at(mem, 32 * MiB - 1)[0] = 1;
    assert_int_equal(unlink(t.path), 0);
    struct memimg_write_opts o = {.ram_is_anonymous = true};
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    assert_int_equal(w.chunks_zero, 127);
    assert_int_equal(w.chunks_data, 1);
    struct memimg *m;
    assert_int_equal(memimg_open(t.path, w.index_hash, &m), 0);
    assert_int_equal(memimg_chunk_kind(m, 127), MEMIMG_DATA);
    assert_int_equal(memimg_chunk_kind(m, 126), MEMIMG_ZERO);
    memimg_close(m);
    tdir_fini(&t);
    gm_destroy(mem);
}

static void roundtrip_with(uint64_t ram, const struct memimg_write_opts *o,
                           struct memimg_summary *w)
{
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(ram);
    uint32_t cs = o->chunk_size ? o->chunk_size : MEMIMG_DEFAULT_CHUNK;
    uint64_t nonzero = fill_mix(mem, cs, MIX, sizeof(MIX) / sizeof(MIX[0]));
    assert_int_equal(memimg_write(t.path, mem, o, w), 0);
    assert_int_equal(w->chunk_size, cs);
    assert_int_equal(w->chunks_total, (ram + cs - 1) / cs);
    assert_int_equal(w->chunks_data, nonzero);
    struct memimg_summary r;
    check_roundtrip(t.path, w->index_hash, mem, &r);
    assert_memory_equal(&r, w, sizeof(r));
    tdir_fini(&t);
    gm_destroy(mem);
}

static void test_chunk_sizes(void **state)
{
    (void)state;
    struct memimg_summary w;
    struct memimg_write_opts o4k = {.chunk_size = 4 * KiB, .ram_is_anonymous = true};
    roundtrip_with(16 * MiB, &o4k, &w);
    assert_int_equal(w.chunks_total, 4096);
    struct memimg_write_opts o2m = {.chunk_size = 2 * MiB, .threads = 3};
    roundtrip_with(64 * MiB, &o2m, &w);
    assert_int_equal(w.chunks_total, 32);
    /* RAM not a multiple of the chunk size: the last chunk is 12 KiB. */
    roundtrip_with(64 * MiB + 12 * KiB, &o2m, &w);
    assert_int_equal(w.chunks_total, 33);
    struct memimg_write_opts omax = {.chunk_size = MEMIMG_MAX_CHUNK};
    roundtrip_with(64 * MiB + 4 * KiB, &omax, &w);
    assert_int_equal(w.chunks_total, 2);
}

static void test_hc(void **state)
{
    (void)state;
    struct memimg_summary fast, hc;
    struct memimg_write_opts of = {.chunk_size = 64 * KiB};
    struct memimg_write_opts oh = {.chunk_size = 64 * KiB, .hc = true};
    roundtrip_with(4 * MiB, &of, &fast);
    roundtrip_with(4 * MiB, &oh, &hc);
    assert_int_equal(hc.chunks_data, fast.chunks_data);
    assert_true(hc.data_bytes < fast.data_bytes);
}

static void test_two_regions(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    const uint64_t ram = 3 * GiB + 8 * MiB + 12 * KiB; /* last chunk is short, in region 1 */
    struct guest_mem *mem = mem_new(ram);
    assert_int_equal(gm_region_count(mem), 2);
    const uint64_t offs[] = {0, 3 * GiB - 4 * KiB, 3 * GiB, 3 * GiB + 5 * MiB, ram - 4 * KiB};
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
        fill_range(mem, offs[i], 4 * KiB, i % 2 ? F_RANDOM : F_TEXT, i + 1);
    /* The high region really is at 4 GiB in guest-physical space. */
    void *p;
    assert_int_equal(gm_ptr(mem, 4 * GiB, 4096, &p), 0);
    assert_ptr_equal(p, ram_at(mem, 3 * GiB));

    struct memimg_write_opts o = {.ram_is_anonymous = true};
    struct memimg_summary w;
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    uint64_t cs = MEMIMG_DEFAULT_CHUNK;
    assert_int_equal(w.chunks_total, (ram + cs - 1) / cs);
    assert_int_equal(w.chunks_data, 5);

    struct memimg *m;
    assert_int_equal(memimg_open(t.path, w.index_hash, &m), 0);
    uint8_t *buf = malloc(cs);
    assert_non_null(buf);
    for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
        uint64_t idx = offs[i] / cs, n = memimg_chunk_bytes(m, idx);
        assert_int_equal(memimg_chunk_kind(m, idx), MEMIMG_DATA);
        assert_int_equal(memimg_read_chunk(m, idx, buf, n), 0);
        assert_memory_equal(buf, ram_at(mem, idx * cs), n);
    }
    assert_int_equal(memimg_chunk_bytes(m, w.chunks_total - 1), 12 * KiB);
    assert_int_equal(memimg_chunk_kind(m, 1), MEMIMG_ZERO);
    assert_int_equal(memimg_verify(m, NULL, NULL, NULL), 0);
    free(buf);
    memimg_close(m);
    tdir_fini(&t);
    gm_destroy(mem);
}

static void test_diff_absent(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(32 * MiB);
    fill_mix(mem, MEMIMG_DEFAULT_CHUNK, MIX, sizeof(MIX) / sizeof(MIX[0]));
    uint64_t dirty[2] = {0}; /* 128 chunks */
    const uint64_t set[] = {0, 1, 2, 3, 63, 64, 100, 127};
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        dirty[set[i] / 64] |= 1ULL << (set[i] % 64);
    struct memimg_write_opts o = {.dirty = dirty, .ram_is_anonymous = true};
    struct memimg_summary w, r;
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    assert_int_equal(w.chunks_absent, 128 - 8);
    assert_int_equal(w.chunks_data + w.chunks_zero, 8);
    check_roundtrip(t.path, w.index_hash, mem, &r);
    assert_memory_equal(&r, &w, sizeof(w));
    struct memimg *m;
    assert_int_equal(memimg_open(t.path, w.index_hash, &m), 0);
    assert_int_equal(memimg_chunk_kind(m, 0), MEMIMG_ZERO); /* dirty but never written */
    assert_int_equal(memimg_chunk_kind(m, 1), MEMIMG_DATA);
    assert_int_equal(memimg_chunk_kind(m, 5), MEMIMG_ABSENT);
    uint8_t *chunk = malloc(MEMIMG_DEFAULT_CHUNK);
    assert_non_null(chunk);
    assert_int_equal(memimg_read_chunk(m, 5, chunk, MEMIMG_DEFAULT_CHUNK), -ENOENT);
    free(chunk);
    memimg_close(m);
    uint64_t len;
    uint8_t *b = load(t.path, &len);
    struct mi_header h;
    mi_header_decode(b, &h);
    assert_int_equal(h.flags & MI_HDR_DIFF, MI_HDR_DIFF);
    free(b);
    tdir_fini(&t);
    gm_destroy(mem);
}

/* A diff with nothing dirty is a header and an index of ABSENT entries, and still verifies. */
static void test_diff_nothing_dirty(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(32 * MiB);
    fill_mix(mem, MEMIMG_DEFAULT_CHUNK, MIX, sizeof(MIX) / sizeof(MIX[0]));
    uint64_t dirty[2] = {0};
    struct memimg_write_opts o = {.dirty = dirty, .ram_is_anonymous = true};
    struct memimg_summary w, r;
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    assert_int_equal(w.chunks_absent, 128);
    assert_int_equal(w.chunks_data + w.chunks_zero, 0);
    assert_int_equal(w.file_bytes, MI_HEADER_SIZE + 128 * MI_ENTRY_SIZE);
    check_roundtrip(t.path, w.index_hash, mem, &r);
    assert_memory_equal(&r, &w, sizeof(w));
    tdir_fini(&t);
    gm_destroy(mem);
}

static void test_wrong_index_hash(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct memimg *m = (struct memimg *)&m; /* must come back NULL */
    struct capture c;
    char line[512], want[300];
    capture_start(&c);
    int rc = memimg_open(s.t.path, s.sum.index_hash ^ 1, &m);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(rc, -EBADMSG);
    assert_null(m);
    snprintf(want, sizeof(want), "vmrun: %s: index: hash mismatch", s.t.path);
    assert_true(strncmp(line, want, strlen(want)) == 0);
    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, &m), 0);
    memimg_close(m);
    small_img_free(&s);
}

/* Open must fail, cleanly, and hand back no image. */
static void expect_open_fails(const char *path, uint64_t hash)
{
    struct memimg *m = (struct memimg *)&m;
    int rc = memimg_open(path, hash, &m);
    if (rc == 0)
        memimg_close(m);
    assert_true(rc < 0);
    assert_null(m);
}

static void test_flip_header_bytes(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct capture c;
    char line[512];
    capture_start(&c);
    for (uint64_t off = 0; off < MI_HEADER_SIZE; off++) {
        for (unsigned bit = 0; bit < 8; bit += 7) {
            flip(s.t.path, off, (uint8_t)(1u << bit));
            expect_open_fails(s.t.path, s.sum.index_hash);
            flip(s.t.path, off, (uint8_t)(1u << bit));
        }
    }
    capture_end_last_line(&c, line, sizeof(line));
    struct memimg *m;
    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, &m), 0);
    memimg_close(m);
    small_img_free(&s);
}

/* The decoded index of a file, for tests that need to know where payloads lie. */
static struct mi_entry *index_of(const char *path, struct mi_header *h)
{
    uint64_t len;
    uint8_t *b = load(path, &len);
    mi_header_decode(b, h);
    struct mi_entry *e = calloc(h->chunk_count, sizeof(*e));
    assert_non_null(e);
    for (uint64_t i = 0; i < h->chunk_count; i++)
        mi_entry_decode(b + h->index_offset + i * MI_ENTRY_SIZE, &e[i]);
    free(b);
    return e;
}

static uint64_t first_of(const struct mi_entry *e, uint64_t n, unsigned kind, int raw)
{
    for (uint64_t i = 0; i < n; i++)
        if (e[i].kind == kind && (raw < 0 || !!(e[i].flags & MI_ENT_RAW) == raw))
            return i;
    fail_msg("no chunk of kind %u raw %d", kind, raw);
    return 0;
}

static void test_flip_index_bytes(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct mi_header h;
    struct mi_entry *e = index_of(s.t.path, &h);
    const uint64_t pick[] = {0, first_of(e, h.chunk_count, MEMIMG_DATA, 0),
                             first_of(e, h.chunk_count, MEMIMG_DATA, 1),
                             first_of(e, h.chunk_count, MEMIMG_ZERO, -1), h.chunk_count - 1};
    struct capture c;
    char line[512];
    capture_start(&c);
    for (size_t p = 0; p < sizeof(pick) / sizeof(pick[0]); p++) {
        for (uint64_t b = 0; b < MI_ENTRY_SIZE; b++) {
            uint64_t off = h.index_offset + pick[p] * MI_ENTRY_SIZE + b;
            flip(s.t.path, off, 0x10);
            expect_open_fails(s.t.path, s.sum.index_hash);
            flip(s.t.path, off, 0x10);
        }
    }
    capture_end_last_line(&c, line, sizeof(line));
    assert_non_null(strstr(line, "index: hash mismatch"));
    free(e);
    small_img_free(&s);
}

static void test_flip_payload_bytes(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct mi_header h;
    struct mi_entry *e = index_of(s.t.path, &h);
    uint8_t *buf = malloc(h.chunk_size);
    assert_non_null(buf);
    unsigned tried = 0, raw_seen = 0, lz_seen = 0;
    for (uint64_t i = 0; i < h.chunk_count; i++) {
        if (e[i].kind != MEMIMG_DATA)
            continue;
        raw_seen += !!(e[i].flags & MI_ENT_RAW);
        lz_seen += !(e[i].flags & MI_ENT_RAW);
        const uint64_t at[] = {0, e[i].size / 3, e[i].size / 2, e[i].size - 1};
        for (size_t k = 0; k < sizeof(at) / sizeof(at[0]); k++) {
            uint64_t off = e[i].offset + at[k];
            flip(s.t.path, off, 0x04);
            struct memimg *m;
            struct capture c;
            char line[512], want[300];
            capture_start(&c);
            /* The index is intact, so open succeeds; the chunk itself must not. */
            int orc = memimg_open(s.t.path, s.sum.index_hash, &m);
            uint64_t bad = UINT64_MAX;
            int vrc = orc ? orc : memimg_verify(m, &bad, NULL, NULL);
            int rrc = orc ? orc : memimg_read_chunk(m, i, buf, memimg_chunk_bytes(m, i));
            capture_end_last_line(&c, line, sizeof(line));
            assert_int_equal(orc, 0);
            assert_int_equal(vrc, -EBADMSG);
            assert_int_equal(bad, i);
            assert_int_equal(rrc, -EBADMSG);
            snprintf(want, sizeof(want), "vmrun: %s: chunk %" PRIu64 ": ", s.t.path, i);
            assert_true(strncmp(line, want, strlen(want)) == 0);
            assert_true(strstr(line, "hash mismatch") || strstr(line, "corrupt lz4 data"));
            memimg_close(m);
            flip(s.t.path, off, 0x04);
            tried++;
        }
    }
    assert_true(raw_seen > 0 && lz_seen > 0 && tried > 40);
    free(buf);
    free(e);
    small_img_free(&s);
}

static void test_truncated_or_extended(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    uint64_t len;
    uint8_t *orig = load(s.t.path, &len);
    struct mi_header h;
    mi_header_decode(orig, &h);
    const uint64_t cut[] = {0,
                            1,
                            8,
                            MI_HEADER_SIZE - 1,
                            MI_HEADER_SIZE,
                            MI_HEADER_SIZE + 1,
                            h.index_offset / 2,
                            h.index_offset - 1,
                            h.index_offset,
                            h.index_offset + MI_ENTRY_SIZE,
                            len - MI_ENTRY_SIZE,
                            len - 1};
    struct capture c;
    char line[512];
    capture_start(&c);
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        assert_int_equal(truncate(s.t.path, (off_t)cut[i]), 0);
        expect_open_fails(s.t.path, s.sum.index_hash);
    }
    store(s.t.path, orig, len);
    assert_int_equal(truncate(s.t.path, (off_t)len + 1), 0); /* trailing garbage */
    expect_open_fails(s.t.path, s.sum.index_hash);
    capture_end_last_line(&c, line, sizeof(line));
    store(s.t.path, orig, len);
    assert_int_equal(truncate(s.t.path, (off_t)len), 0);
    struct memimg *m;
    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, &m), 0);

    /* Shrunk under an open image: reads fail with EIO rather than decode stale buffers. */
    struct mi_entry *e = calloc(h.chunk_count, sizeof(*e));
    assert_non_null(e);
    for (uint64_t i = 0; i < h.chunk_count; i++)
        mi_entry_decode(orig + h.index_offset + i * MI_ENTRY_SIZE, &e[i]);
    uint64_t lz = first_of(e, h.chunk_count, MEMIMG_DATA, 0);
    uint64_t raw = first_of(e, h.chunk_count, MEMIMG_DATA, 1);
    uint64_t cut_at = e[lz].offset < e[raw].offset ? e[lz].offset : e[raw].offset;
    assert_int_equal(truncate(s.t.path, (off_t)cut_at), 0);
    uint8_t *buf = malloc(h.chunk_size);
    assert_non_null(buf);
    uint64_t bad = UINT64_MAX;
    capture_start(&c);
    int rl = memimg_read_chunk(m, lz, buf, h.chunk_size);
    int rr = memimg_read_chunk(m, raw, buf, h.chunk_size);
    int rv = memimg_verify(m, &bad, NULL, NULL);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(rl, -EIO);
    assert_int_equal(rr, -EIO);
    assert_int_equal(rv, -EIO);
    assert_int_equal(bad, lz < raw ? lz : raw);
    memimg_close(m);
    free(buf);
    free(e);
    free(orig);
    small_img_free(&s);
}

/* Rewrite entry idx as e, re-hash the index (as a forger would), open, restore the file. */
static int open_with_entry(struct small_img *s, uint64_t idx, const struct mi_entry *e, char *line,
                           size_t line_size)
{
    uint64_t len;
    uint8_t *orig = load(s->t.path, &len), *b = malloc(len);
    assert_non_null(b);
    memcpy(b, orig, len);
    struct mi_header h;
    mi_header_decode(b, &h);
    mi_entry_encode(e, b + h.index_offset + idx * MI_ENTRY_SIZE);
    store(s->t.path, b, len);
    struct memimg *m = (struct memimg *)&m;
    struct capture c;
    capture_start(&c);
    int rc = memimg_open(s->t.path, XXH3_64bits(b + h.index_offset, h.index_length), &m);
    capture_end_last_line(&c, line, line_size);
    if (rc == 0)
        memimg_close(m);
    else
        assert_null(m);
    store(s->t.path, orig, len);
    free(orig);
    free(b);
    return rc;
}

static void test_hostile_entries(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct mi_header h;
    struct mi_entry *e = index_of(s.t.path, &h);
    uint64_t len = file_size(s.t.path);
    uint64_t lz = first_of(e, h.chunk_count, MEMIMG_DATA, 0);
    uint64_t raw = first_of(e, h.chunk_count, MEMIMG_DATA, 1);
    uint64_t zero = first_of(e, h.chunk_count, MEMIMG_ZERO, -1);
    char line[512], want[64];
    struct mi_entry x;

#define HOSTILE(idx, mutation)                                                                     \
    do {                                                                                           \
        x = e[idx];                                                                                \
        mutation;                                                                                  \
        assert_int_equal(open_with_entry(&s, idx, &x, line, sizeof(line)), -EINVAL);               \
        snprintf(want, sizeof(want), ": chunk %" PRIu64 ": ", (uint64_t)(idx));                    \
        assert_non_null(strstr(line, want));                                                       \
    } while (0)

    HOSTILE(lz, x.offset = len);
    HOSTILE(lz, x.offset = UINT64_MAX - 8);
    HOSTILE(lz, x.offset += 1);
    HOSTILE(lz, x.offset -= 1);
    HOSTILE(lz, x.size = 0);
    HOSTILE(lz, x.size = h.chunk_size);
    HOSTILE(lz, x.size = (uint32_t)LZ4_compressBound((int)h.chunk_size) + 1);
    HOSTILE(lz, x.size = UINT32_MAX);
    HOSTILE(raw, x.size -= 1);
    HOSTILE(raw, x.flags = 0);
    HOSTILE(lz, x.flags = MI_ENT_RAW);
    HOSTILE(lz, x.flags = 0x80);
    HOSTILE(lz, x.reserved = 1);
    HOSTILE(lz, x.kind = 3);
    HOSTILE(zero, x.kind = 0xff);
    HOSTILE(zero, x.kind = MEMIMG_ABSENT); /* ABSENT in a full image */
    HOSTILE(zero, x.hash = 1);
    HOSTILE(zero, x.size = 1);
    HOSTILE(zero, x.offset = MI_HEADER_SIZE);
    HOSTILE(zero, x.kind = MEMIMG_DATA); /* no payload where packing needs one */
    HOSTILE(h.chunk_count - 1, x.offset = UINT64_MAX);
#undef HOSTILE
    /* A payload-less DATA->ZERO swap leaves its payload orphaned: the packing check sees it. */
    x = (struct mi_entry){.kind = MEMIMG_ZERO};
    assert_int_equal(open_with_entry(&s, lz, &x, line, sizeof(line)), -EINVAL);
    /* The same for the last payload, where only the end-of-payloads check can notice. */
    uint64_t last = h.chunk_count;
    while (e[--last].kind != MEMIMG_DATA)
        ;
    assert_int_equal(open_with_entry(&s, last, &x, line, sizeof(line)), -EINVAL);
    assert_non_null(strstr(line, ": index: payloads end at"));

    /* Structurally perfect but with the wrong content hash: open passes, the chunk does not. */
    x = e[lz];
    x.hash ^= 1;
    uint64_t flen;
    uint8_t *orig = load(s.t.path, &flen), *b = malloc(flen);
    assert_non_null(b);
    memcpy(b, orig, flen);
    mi_entry_encode(&x, b + h.index_offset + lz * MI_ENTRY_SIZE);
    store(s.t.path, b, flen);
    struct memimg *m;
    struct capture c;
    capture_start(&c);
    int orc = memimg_open(s.t.path, XXH3_64bits(b + h.index_offset, h.index_length), &m);
    uint64_t bad = UINT64_MAX;
    int vrc = orc ? orc : memimg_verify(m, &bad, NULL, NULL);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(orc, 0);
    assert_int_equal(vrc, -EBADMSG);
    assert_int_equal(bad, lz);
    assert_non_null(strstr(line, "hash mismatch"));
    memimg_close(m);
    store(s.t.path, orig, flen);
    free(orig);
    free(b);
    free(e);
    small_img_free(&s);
}

/* Headers that are sealed with a correct header hash but describe an impossible file. */
static void test_hostile_headers(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    uint64_t len;
    uint8_t *orig = load(s.t.path, &len), *b = malloc(len);
    assert_non_null(b);
    struct mi_header h0, h;
    mi_header_decode(orig, &h0);
    struct capture c;
    char line[512];

#define HOSTILE(err, mutation)                                                                     \
    do {                                                                                           \
        h = h0;                                                                                    \
        mutation;                                                                                  \
        memcpy(b, orig, len);                                                                      \
        mi_header_encode(&h, b);                                                                   \
        store(s.t.path, b, len);                                                                   \
        struct memimg *m = (struct memimg *)&m;                                                    \
        capture_start(&c);                                                                         \
        int rc = memimg_open(s.t.path, s.sum.index_hash, &m);                                      \
        capture_end_last_line(&c, line, sizeof(line));                                             \
        assert_int_equal(rc, err);                                                                 \
        assert_null(m);                                                                            \
        assert_non_null(strstr(line, s.t.path));                                                   \
    } while (0)

    HOSTILE(-ENOTSUP, h.version = 2);
    HOSTILE(-ENOTSUP, h.version = 0);
    HOSTILE(-EINVAL, h.header_size = 128);
    HOSTILE(-EINVAL, h.chunk_size = 3000);
    HOSTILE(-EINVAL, h.chunk_size = 2048);
    HOSTILE(-EINVAL, h.chunk_size = 128u << 20);
    HOSTILE(-EINVAL, h.chunk_size *= 2);
    HOSTILE(-EINVAL, h.flags = 0x4);
    HOSTILE(-EINVAL, h.ram_bytes = 0);
    HOSTILE(-EINVAL, h.ram_bytes += 1);
    HOSTILE(-EINVAL, h.ram_bytes += 4096);
    HOSTILE(-EINVAL, h.ram_bytes = UINT64_MAX - 4095);
    HOSTILE(-EINVAL, h.chunk_count += 1);
    HOSTILE(-EINVAL, h.chunk_count = UINT64_MAX / 2);
    HOSTILE(-EINVAL, h.index_length += MI_ENTRY_SIZE);
    HOSTILE(-EINVAL, h.index_offset = UINT64_MAX - 10);
    HOSTILE(-EINVAL, h.index_offset = 10);
    HOSTILE(-EINVAL, h.index_offset -= 1);
    HOSTILE(-EINVAL, h.index_offset += 1);
#undef HOSTILE
    /* Re-sealed flags alone are harmless: hc is informational and a diff flag merely permits
     * ABSENT entries, which the index (under the caller's hash) would have to contain. */
    h = h0;
    h.flags |= MI_HDR_DIFF | MI_HDR_HC;
    memcpy(b, orig, len);
    mi_header_encode(&h, b);
    store(s.t.path, b, len);
    struct memimg *m;
    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, &m), 0);
    memimg_close(m);
    free(b);
    free(orig);
    small_img_free(&s);
}

/* check() failing part-way (lazy RAM that could not be filled) abandons the image: an error
 * naming the file, and no file left behind. */
static int fail_on_third(void *ctx)
{
    int *calls = ctx;
    return ++*calls == 3 ? -EBADMSG : 0;
}

static void test_check_abandons(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(32 * MiB);
    fill_mix(mem, MEMIMG_DEFAULT_CHUNK, MIX, sizeof(MIX) / sizeof(MIX[0]));
    int calls = 0;
    struct memimg_write_opts o = {.check = fail_on_third, .check_ctx = &calls};
    struct memimg_summary w;
    struct capture c;
    char line[512];
    capture_start(&c);
    int rc = memimg_write(t.path, mem, &o, &w);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(rc, -EBADMSG);
    assert_int_equal(calls, 3);
    assert_non_null(strstr(line, t.path));
    assert_int_equal(tdir_count(&t), 0);
    tdir_fini(&t);
    gm_destroy(mem);
}

static void test_write_failures_leave_nothing(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(4 * MiB);
    const enum fill rnd[] = {F_RANDOM};
    fill_mix(mem, 64 * KiB, rnd, 1);
    char p[200];
    struct memimg_summary w;
    struct capture c;
    char line[512];

    snprintf(p, sizeof(p), "%s/missing/memory.lz4", t.dir);
    capture_start(&c);
    int rc = memimg_write(p, mem, NULL, &w);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(line, p));
    assert_int_equal(tdir_count(&t), 0);

    /* An existing file is neither overwritten nor removed. */
    int fd = open(t.path, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "keep", 4), 4);
    close(fd);
    capture_start(&c);
    rc = memimg_write(t.path, mem, NULL, &w);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(rc, -EEXIST);
    uint64_t len;
    uint8_t *b = load(t.path, &len);
    assert_int_equal(len, 4);
    assert_memory_equal(b, "keep", 4);
    free(b);
    assert_int_equal(unlink(t.path), 0);

    const uint32_t bad_cs[] = {3000, 2048, 128u << 20, (64u << 10) + 4096};
    for (size_t i = 0; i < sizeof(bad_cs) / sizeof(bad_cs[0]); i++) {
        struct memimg_write_opts o = {.chunk_size = bad_cs[i]};
        capture_start(&c);
        rc = memimg_write(t.path, mem, &o, &w);
        capture_end_last_line(&c, line, sizeof(line));
        assert_int_equal(rc, -EINVAL);
        assert_non_null(strstr(line, "chunk size"));
    }
    assert_int_equal(memimg_write(NULL, mem, NULL, &w), -EINVAL);
    assert_int_equal(memimg_write(t.path, NULL, NULL, &w), -EINVAL);
    assert_int_equal(tdir_count(&t), 0);

    /* Out of space half way through the payloads: the partial file must disappear. */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 1 * MiB;
    void (*old_sig)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    capture_start(&c);
    rc = memimg_write(t.path, mem, NULL, &w);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, old_sig);
    assert_int_equal(rc, -EFBIG);
    assert_non_null(strstr(line, "write"));
    assert_int_equal(tdir_count(&t), 0);

    /* And the same call succeeds once there is room. */
    assert_int_equal(memimg_write(t.path, mem, NULL, &w), 0);
    assert_int_equal(w.chunks_data, 16);
    tdir_fini(&t);
    gm_destroy(mem);
}

struct progress_log {
    unsigned calls;
    uint64_t last, total;
    bool backwards, wrong_thread;
    pthread_t caller;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    struct progress_log *p = ctx;
    p->backwards |= done < p->last || done > total;
    p->wrong_thread |= !pthread_equal(pthread_self(), p->caller);
    p->last = done;
    p->total = total;
    p->calls++;
}

static void test_progress(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    struct guest_mem *mem = mem_new(64 * MiB);
    fill_mix(mem, MEMIMG_DEFAULT_CHUNK, MIX, sizeof(MIX) / sizeof(MIX[0]));
    struct progress_log pl = {.caller = pthread_self()};
    struct memimg_write_opts o = {.progress = on_progress, .progress_ctx = &pl, .hc = true};
    double t0 = now_s();
    struct memimg_summary w;
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    double dt = now_s() - t0;
    assert_true(pl.calls >= 1);
    assert_true(pl.calls <= (unsigned)(dt * 10) + 2);
    assert_false(pl.backwards);
    assert_false(pl.wrong_thread);
    assert_int_equal(pl.last, 64 * MiB);
    assert_int_equal(pl.total, 64 * MiB);

    struct progress_log vl = {.caller = pthread_self()};
    struct memimg *m;
    assert_int_equal(memimg_open(t.path, w.index_hash, &m), 0);
    assert_int_equal(memimg_verify(m, NULL, on_progress, &vl), 0);
    assert_true(vl.calls >= 1);
    assert_false(vl.backwards);
    assert_int_equal(vl.last, 64 * MiB);
    memimg_close(m);
    tdir_fini(&t);
    gm_destroy(mem);
}

struct reader_arg {
    struct memimg *m;
    struct guest_mem *mem;
    unsigned id, nthreads;
    unsigned errors;
};

static void *reader_main(void *p)
{
    struct reader_arg *a = p;
    struct memimg_summary s;
    memimg_get_summary(a->m, &s);
    uint8_t *buf = malloc(s.chunk_size);
    if (!buf) {
        a->errors++;
        return NULL;
    }
    for (unsigned round = 0; round < 4; round++) {
        for (uint64_t i = a->id; i < s.chunks_total; i += a->nthreads) {
            uint64_t n = memimg_chunk_bytes(a->m, i);
            if (memimg_read_chunk(a->m, i, buf, n) != 0 ||
                memcmp(buf, ram_at(a->mem, i * s.chunk_size), n) != 0)
                a->errors++;
        }
    }
    free(buf);
    return NULL;
}

static void test_concurrent_reads(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct memimg *m;
    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, &m), 0);
    struct reader_arg a[3];
    pthread_t tid[3];
    for (unsigned i = 0; i < 3; i++) {
        a[i] = (struct reader_arg){.m = m, .mem = s.mem, .id = i, .nthreads = 3};
        assert_int_equal(pthread_create(&tid[i], NULL, reader_main, &a[i]), 0);
    }
    for (unsigned i = 0; i < 3; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(a[i].errors, 0);
    }
    memimg_close(m);
    small_img_free(&s);
}

static void test_api_misuse(void **state)
{
    (void)state;
    struct small_img s;
    small_img_make(&s);
    struct memimg *m = (struct memimg *)&m;
    struct capture c;
    char line[512];
    assert_int_equal(memimg_open(NULL, 0, &m), -EINVAL);
    assert_null(m);
    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, NULL), -EINVAL);
    capture_start(&c);
    int rc_missing = memimg_open("/nonexistent/memory.lz4", 0, &m);
    int rc_dir = memimg_open(s.t.dir, 0, &m);
    capture_end_last_line(&c, line, sizeof(line));
    assert_int_equal(rc_missing, -ENOENT);
    assert_int_equal(rc_dir, -EINVAL);
    assert_null(m);

    assert_int_equal(memimg_open(s.t.path, s.sum.index_hash, &m), 0);
    uint8_t *buf = malloc(64 * KiB + 1);
    assert_non_null(buf);
    uint64_t n = s.sum.chunks_total;
    assert_int_equal(memimg_chunk_bytes(m, n - 1), 64 * KiB);
    assert_int_equal(memimg_chunk_bytes(m, n), 0);
    assert_int_equal(memimg_chunk_kind(m, n), -EINVAL);
    assert_int_equal(memimg_chunk_kind(NULL, 0), -EINVAL);
    assert_int_equal(memimg_read_chunk(m, n, buf, 64 * KiB), -EINVAL);
    assert_int_equal(memimg_read_chunk(m, 1, buf, 64 * KiB - 1), -EINVAL);
    assert_int_equal(memimg_read_chunk(m, 1, buf, 64 * KiB + 1), -EINVAL);
    assert_int_equal(memimg_read_chunk(m, 1, NULL, 64 * KiB), -EINVAL);
    assert_int_equal(memimg_verify(NULL, NULL, NULL, NULL), -EINVAL);
    struct memimg_summary z;
    memset(&z, 0xff, sizeof(z));
    memimg_get_summary(NULL, &z);
    assert_int_equal(z.chunks_total, 0);
    memimg_close(m);
    memimg_close(NULL);
    free(buf);
    small_img_free(&s);
}

/* Informational: MB/s for a 256 MiB guest, half zero pages, a quarter text, a quarter random. */
static void test_throughput(void **state)
{
    (void)state;
    struct tdir t;
    tdir_init(&t);
    const uint64_t ram = 256 * MiB;
    struct guest_mem *mem = mem_new(ram);
    const enum fill mix[] = {F_ZERO, F_ZERO, F_TEXT, F_RANDOM};
    fill_mix(mem, MEMIMG_DEFAULT_CHUNK, mix, 4);
    struct memimg_write_opts o = {.ram_is_anonymous = true};
    struct memimg_summary w;
    double t0 = now_s();
    assert_int_equal(memimg_write(t.path, mem, &o, &w), 0);
    double tw = now_s() - t0;

    struct memimg *m;
    uint8_t *buf = malloc(MEMIMG_DEFAULT_CHUNK);
    assert_non_null(buf);
    t0 = now_s();
    assert_int_equal(memimg_open(t.path, w.index_hash, &m), 0);
    for (uint64_t i = 0; i < w.chunks_total; i++)
        assert_int_equal(memimg_read_chunk(m, i, buf, MEMIMG_DEFAULT_CHUNK), 0);
    double tr = now_s() - t0;
    memimg_close(m);
    free(buf);
    print_message("memimg 256 MiB mixed: write %.0f MB/s (%.3f s incl. fdatasync, %.1f MB file), "
                  "read 1 thread %.0f MB/s (%.3f s)\n",
                  ram / 1e6 / tw, tw, w.file_bytes / 1e6, ram / 1e6 / tr, tr);
    assert_int_equal(w.chunks_data, 512);
    tdir_fini(&t);
    gm_destroy(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec),
        cmocka_unit_test(test_roundtrip_mixed),
        cmocka_unit_test(test_zero_elision),
        cmocka_unit_test(test_chunk_sizes),
        cmocka_unit_test(test_hc),
        cmocka_unit_test(test_two_regions),
        cmocka_unit_test(test_diff_absent),
        cmocka_unit_test(test_diff_nothing_dirty),
        cmocka_unit_test(test_check_abandons),
        cmocka_unit_test(test_wrong_index_hash),
        cmocka_unit_test(test_flip_header_bytes),
        cmocka_unit_test(test_flip_index_bytes),
        cmocka_unit_test(test_flip_payload_bytes),
        cmocka_unit_test(test_truncated_or_extended),
        cmocka_unit_test(test_hostile_entries),
        cmocka_unit_test(test_hostile_headers),
        cmocka_unit_test(test_write_failures_leave_nothing),
        cmocka_unit_test(test_progress),
        cmocka_unit_test(test_concurrent_reads),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_throughput),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
