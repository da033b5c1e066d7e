/* Restoring guest RAM from real snapshot chains (a full image and a diff on top, written by
 * memimg_write, no VM involved) in every mode, compared byte for byte with the RAM they were
 * taken from; plus the raw cache's reuse rules, lazy faults from several threads, and what
 * each mode does with a corrupt chunk. */
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
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmrun/machine_state.h"
#include "vmrun/mem.h"
#include "vmrun/memchain.h"
#include "vmrun/memimg.h"
#include "capture.h"
#include "testdata.h"
#include "tmpdir.h"
#include "vmrun/restore_mem.h"
#include "vmrun/snapdir.h"
#include "vmrun/statetree.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define PAGE 4096ULL

#define RAM (32 * MiB)
#define CS (64 * KiB)
#define NCHUNKS (RAM / CS)

/* ---- filling RAM ---- */

static uint8_t *ram(struct guest_mem *mem, uint64_t off, uint64_t len)
{
    void *p = NULL;
    assert_int_equal(gm_ram_ptr(mem, off, len, &p), 0);
    return p;
}

/* Chunk i gets one of: never touched, written zeros, text, random, one byte late in it. */
static void fill_chunk(struct guest_mem *mem, uint64_t i, uint64_t cs, uint64_t seed)
{
    uint8_t *p = ram(mem, i * cs, cs);
    switch (i % 6) {
    case 0:
        break;
    case 1:
    case 4:
        fill_text(p, cs, seed + i);
        break;
    case 2:
        memset(p, 0, cs);
        break;
    case 3:
        fill_random(p, cs, seed + i);
        break;
    case 5:
        p[cs - cs / 3 - 1] = 0x5a;
        break;
    }
}

/* Index of the first chunk where a and b differ over [0, len), or -1. */
static int64_t first_diff(struct guest_mem *a, struct guest_mem *b, uint64_t len, uint64_t cs)
{
    for (uint64_t off = 0; off < len; off += cs)
        if (memcmp(ram(a, off, cs), ram(b, off, cs), cs) != 0)
            return (int64_t)(off / cs);
    return -1;
}

/* ---- snapshots on disk ---- */

struct snap {
    char dir[64];
    struct machine_state *ms;
    struct memimg_summary sum;
};

static void path_in(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* memory.lz4 plus a vmstate.dtb (a parent's is read by its child's chain). */
static void snap_write(struct snap *s, struct guest_mem *mem, uint32_t cs, const uint64_t *dirty,
                       const struct snap *parent)
{
    char path[128];
    snprintf(s->dir, sizeof(s->dir), "/tmp/test_restore_mem.XXXXXX");
    assert_non_null(mkdtemp(s->dir));
    assert_int_equal(chmod(s->dir, 0755), 0);
    path_in(path, sizeof(path), s->dir, SNAPDIR_MEMORY_FILE);
    struct memimg_write_opts o = {
        .chunk_size = cs, .dirty = dirty, .ram_is_anonymous = gm_is_anonymous(mem)};
    assert_int_equal(memimg_write(path, mem, &o, &s->sum), 0);
    assert_int_equal(chmod(path, 0644), 0);

    s->ms = calloc(1, sizeof(*s->ms));
    assert_non_null(s->ms);
    s->ms->format_version = STATETREE_FORMAT_VERSION;
    s->ms->ncpus = 1;
    s->ms->memory = (struct memory_saved){.size = s->sum.ram_bytes,
                                          .chunk_size = s->sum.chunk_size,
                                          .index_hash = s->sum.index_hash,
                                          .chunks_total = s->sum.chunks_total,
                                          .chunks_data = s->sum.chunks_data,
                                          .chunks_zero = s->sum.chunks_zero,
                                          .chunks_absent = s->sum.chunks_absent,
                                          .data_bytes = s->sum.data_bytes};
    if (parent) {
        snprintf(s->ms->parent, sizeof(s->ms->parent), "%s", parent->dir);
        s->ms->parent_index_hash = parent->sum.index_hash;
    }
    void *blob;
    size_t len;
    assert_int_equal(statetree_build(s->ms, &blob, &len), 0);
    path_in(path, sizeof(path), s->dir, SNAPDIR_STATE_FILE);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(blob, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    free(blob);
}

static struct memchain *snap_chain(const struct snap *s)
{
    struct memchain *c = NULL;
    assert_int_equal(memchain_open(s->dir, s->ms, &c), 0);
    return c;
}

static void rm_file(const char *dir, const char *name)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
}

static void snap_free(struct snap *s)
{
    tmpdir_remove(s->dir);
    free(s->ms);
}

static bool file_exists(const char *dir, const char *name)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return access(path, F_OK) == 0;
}

/* ---- the shared chain: full image of src1, diff image of src2 on top ---- */

struct fx {
    struct guest_mem *src1, *src2;
    struct snap s1, s2;
};

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->src1 = mem_new(RAM);
    for (uint64_t i = 0; i < NCHUNKS; i++)
        fill_chunk(f->src1, i, CS, 1000);
    snap_write(&f->s1, f->src1, CS, NULL, NULL);

    /* The child changes data to other data, data to zeros and zeros to data. */
    f->src2 = mem_new(RAM);
    memcpy(ram(f->src2, 0, RAM), ram(f->src1, 0, RAM), RAM);
    uint64_t dirty[(NCHUNKS + 63) / 64] = {0};
    for (uint64_t i = 0; i < NCHUNKS; i++) {
        uint8_t *p = ram(f->src2, i * CS, CS);
        bool d = true;
        if (i % 11 == 3)
            fill_random(p, CS, 77 + i);
        else if (i % 13 == 1)
            memset(p, 0, CS);
        else if (i % 6 == 0 && i % 5 == 0)
            fill_text(p, CS, 99 + i);
        else
            d = i % 17 == 0; /* dirty but unchanged: stored again, same bytes */
        if (d)
            dirty[i / 64] |= 1ULL << (i % 64);
    }
    snap_write(&f->s2, f->src2, CS, dirty, &f->s1);
    assert_true(f->s2.sum.chunks_absent > 0);
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    snap_free(&f->s2);
    snap_free(&f->s1);
    gm_destroy(f->src1);
    gm_destroy(f->src2);
    free(f);
    return 0;
}

/* ---- eager ---- */

static void test_eager_full(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    assert_int_equal(memchain_depth(c), 1);
    unsigned threads[] = {0, 1, 7};
    for (size_t t = 0; t < 3; t++) {
        struct guest_mem *dst = mem_new(RAM);
        assert_int_equal(restore_eager(c, dst, threads[t]), 0);
        /* ZERO chunks were left alone: untouched anonymous memory, nothing resident (checked
         * before comparing, as reading maps the zero page). */
        unsigned char vec[CS / PAGE];
        uint64_t zero_chunks = 0;
        for (uint64_t i = 0; i < NCHUNKS; i++) {
            if (memchain_kind(c, i) != MEMIMG_ZERO)
                continue;
            zero_chunks++;
            assert_int_equal(mincore(ram(dst, i * CS, CS), CS, vec), 0);
            for (size_t p = 0; p < sizeof(vec); p++)
                assert_int_equal(vec[p] & 1, 0);
        }
        assert_true(zero_chunks > NCHUNKS / 4);
        assert_int_equal(first_diff(f->src1, dst, RAM, CS), -1);
        /* Nothing is marked VMM-dirty: this is a fresh VM, not a change to one. */
        for (uint64_t g = 0; g < RAM; g += PAGE)
            assert_false(gm_test_dirty(dst, g));
        gm_destroy(dst);
    }
    memchain_close(c);
}

static void test_eager_diff_chain(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s2);
    assert_int_equal(memchain_depth(c), 2);
    struct guest_mem *dst = mem_new(RAM);
    assert_int_equal(restore_eager(c, dst, 0), 0);
    assert_int_equal(first_diff(f->src2, dst, RAM, CS), -1);
    assert_int_not_equal(first_diff(f->src1, dst, RAM, CS), -1);
    gm_destroy(dst);
    memchain_close(c);
}

static void test_size_mismatch(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    struct guest_mem *small = mem_new(RAM / 2);
    struct lazy_mem *l = NULL;
    struct capture cap;
    char text[1024];
    capture_start(&cap);
    int e1 = restore_eager(c, small, 0);
    int e2 = lazy_mem_start(c, small, NULL, NULL, &l);
    capture_end(&cap, text, sizeof(text));
    assert_int_equal(e1, -EINVAL);
    assert_int_equal(e2, -EINVAL);
    assert_null(l);
    assert_non_null(strstr(text, "RAM"));
    gm_destroy(small);
    memchain_close(c);
}

/* ---- cow raw cache ---- */

static struct guest_mem *map_raw(int fd)
{
    struct guest_mem *mem = NULL;
    assert_int_equal(gm_create_from_file(RAM, fd, NULL, &mem), 0);
    return mem;
}

/* Open dir's raw cache, check *reused is as expected and the mapped RAM equals src. */
static int raw_check(struct memchain *c, const struct snap *s, struct guest_mem *src, bool reuse)
{
    int fd = -1;
    bool reused = !reuse;
    assert_int_equal(restore_raw_open(c, s->dir, &fd, &reused), 0);
    assert_true(fd >= 0);
    assert_int_equal(reused, reuse);
    assert_int_equal(fcntl(fd, F_GETFL) & O_ACCMODE, O_RDONLY);
    assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    struct guest_mem *m = map_raw(fd);
    assert_int_equal(first_diff(src, m, RAM, CS), -1);
    gm_destroy(m);
    /* Only the image, the state, the cache and its identity: no temporaries left behind. */
    assert_int_equal(tmpdir_count(s->dir), 4);
    return fd;
}

static void test_raw_build_and_reuse(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    int fd = raw_check(c, &f->s1, f->src1, false);

    /* Sparse: every all-zero page is a hole (ZERO chunks and zero pages inside DATA chunks),
     * every other page is data. */
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, RAM);
    uint64_t zero_in_data = 0;
    for (uint64_t p = 0; p < RAM; p += GM_PAGE_SIZE) {
        off_t data = lseek(fd, (off_t)p, SEEK_DATA);
        if (gm_page_is_zero(ram(f->src1, p, GM_PAGE_SIZE))) {
            assert_true(data != (off_t)p);
            zero_in_data += memchain_kind(c, p / CS) == MEMIMG_DATA;
        } else {
            assert_int_equal(data, (off_t)p);
        }
    }
    print_message("    %llu zero pages inside data chunks left as holes\n",
                  (unsigned long long)zero_in_data);
    assert_true((uint64_t)st.st_blocks * 512 <= f->s1.sum.uncompressed_bytes + 64 * KiB);

    /* Guest writes go to private copies: neither the file nor a second mapping sees them. */
    struct guest_mem *a = map_raw(fd), *b = map_raw(fd);
    for (uint64_t i = 0; i < NCHUNKS; i += 3)
        memset(ram(a, i * CS, CS), 0xab, CS);
    assert_int_equal(first_diff(f->src1, b, RAM, CS), -1);
    gm_destroy(a);
    gm_destroy(b);
    uint8_t *buf = malloc(CS);
    assert_non_null(buf);
    for (uint64_t i = 0; i < NCHUNKS; i++) {
        assert_int_equal(pread(fd, buf, CS, (off_t)(i * CS)), CS);
        assert_memory_equal(buf, ram(f->src1, i * CS, CS), CS);
    }
    free(buf);
    close(fd);

    close(raw_check(c, &f->s1, f->src1, true));
    memchain_close(c);
    rm_file(f->s1.dir, RESTORE_RAW_FILE);
    rm_file(f->s1.dir, RESTORE_RAW_FILE ".id");
}

static void test_raw_rebuild(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    char raw[128], id[128];
    path_in(raw, sizeof(raw), f->s1.dir, RESTORE_RAW_FILE);
    path_in(id, sizeof(id), f->s1.dir, RESTORE_RAW_FILE ".id");
    close(raw_check(c, &f->s1, f->src1, false));
    close(raw_check(c, &f->s1, f->src1, true));

    /* A damaged identity. */
    int fd = open(id, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "X", 1, 20), 1);
    close(fd);
    close(raw_check(c, &f->s1, f->src1, false));

    /* A truncated cache (crash in the middle of someone else's copy). */
    assert_int_equal(truncate(raw, RAM / 2), 0);
    close(raw_check(c, &f->s1, f->src1, false));

    /* A different file of the right size put in its place, identity kept. */
    assert_int_equal(unlink(raw), 0);
    fd = open(raw, O_WRONLY | O_CREAT | O_EXCL, 0644);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, RAM), 0);
    close(fd);
    close(raw_check(c, &f->s1, f->src1, false));

    /* A cache without identity: the crash came after the rename, before the identity. */
    assert_int_equal(unlink(id), 0);
    assert_int_equal(tmpdir_count(f->s1.dir), 3);
    close(raw_check(c, &f->s1, f->src1, false));
    close(raw_check(c, &f->s1, f->src1, true));
    memchain_close(c);
    rm_file(f->s1.dir, RESTORE_RAW_FILE);
    rm_file(f->s1.dir, RESTORE_RAW_FILE ".id");
}

/* The identity names the chain: another snapshot's valid cache (same inode, same mtime,
 * linked in) is not taken, and rebuilding never writes into the file it replaces. */
static void test_raw_diff_chain_identity(void **state)
{
    struct fx *f = *state;
    struct memchain *c1 = snap_chain(&f->s1), *c2 = snap_chain(&f->s2);
    assert_int_not_equal(memchain_id(c1), memchain_id(c2));
    close(raw_check(c1, &f->s1, f->src1, false));
    char from[128], to[128];
    static const char *const names[] = {RESTORE_RAW_FILE, RESTORE_RAW_FILE ".id"};
    for (int i = 0; i < 2; i++) {
        path_in(from, sizeof(from), f->s1.dir, names[i]);
        path_in(to, sizeof(to), f->s2.dir, names[i]);
        assert_int_equal(link(from, to), 0);
    }
    close(raw_check(c2, &f->s2, f->src2, false));
    close(raw_check(c2, &f->s2, f->src2, true));
    close(raw_check(c1, &f->s1, f->src1, true));
    for (int i = 0; i < 2; i++) {
        rm_file(f->s1.dir, names[i]);
        rm_file(f->s2.dir, names[i]);
    }
    memchain_close(c1);
    memchain_close(c2);
}

/* Child side of the read-only test; returns an exit code naming the first failed check. */
static int readonly_child(struct fx *f, struct memchain *c)
{
    if (setgid(65534) < 0 || setuid(65534) < 0)
        return 10;
    struct capture cap;
    char text[2048];
    capture_start(&cap);
    int fd = -1;
    bool reused = true;
    int err = restore_raw_open(c, f->s1.dir, &fd, &reused);
    capture_end(&cap, text, sizeof(text));
    if (err || fd < 0)
        return 11;
    if (reused)
        return 12;
    if (!strstr(text, "temporary file"))
        return 13;
    struct guest_mem *m = NULL;
    if (gm_create_from_file(RAM, fd, NULL, &m) < 0)
        return 14;
    for (uint64_t off = 0; off < RAM; off += CS) {
        void *a, *b;
        if (gm_ram_ptr(f->src1, off, CS, &a) || gm_ram_ptr(m, off, CS, &b) || memcmp(a, b, CS))
            return 15;
    }
    gm_destroy(m);
    close(fd);
    return 0;
}

static void test_raw_readonly_dir(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    assert_int_equal(chmod(f->s1.dir, 0555), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(readonly_child(f, c));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(chmod(f->s1.dir, 0755), 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(tmpdir_count(f->s1.dir), 2);
    memchain_close(c);
}

/* ---- lazy ---- */

static void test_lazy_serves_every_page(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    struct guest_mem *dst = mem_new(RAM);
    struct lazy_mem *l = NULL;
    assert_int_equal(lazy_mem_start(c, dst, NULL, NULL, &l), 0);
    assert_non_null(l);
    assert_false(gm_is_anonymous(dst));
    struct lazy_stats st;
    lazy_mem_stats(l, &st);
    assert_int_equal(st.faults, 0);

    /* A write as the first touch: the chunk arrives, then the write lands on top. */
    uint64_t data_chunk = 3, off = data_chunk * CS + 5 * PAGE + 17;
    assert_int_equal(memchain_kind(c, data_chunk), MEMIMG_DATA);
    *ram(dst, off, 1) = (uint8_t) ~*ram(f->src1, off, 1);
    assert_int_equal(*ram(dst, off, 1), (uint8_t) ~*ram(f->src1, off, 1));
    *ram(dst, off, 1) = *ram(f->src1, off, 1);

    assert_int_equal(first_diff(f->src1, dst, RAM, CS), -1);
    uint64_t data = 0;
    for (uint64_t i = 0; i < NCHUNKS; i++)
        data += memchain_kind(c, i) == MEMIMG_DATA;
    lazy_mem_stats(l, &st);
    assert_int_equal(st.error, 0);
    assert_true(st.faults >= NCHUNKS);
    assert_int_equal(st.chunks_copied, data);
    assert_int_equal(st.chunks_zeroed, NCHUNKS - data);
    assert_true(st.chunks_zeroed > 0);

    /* A page discarded after it was filled reads as zero, as anonymous memory would. */
    uint8_t *p = ram(dst, data_chunk * CS + PAGE, PAGE);
    assert_int_equal(madvise(p, PAGE, MADV_DONTNEED), 0);
    for (uint64_t i = 0; i < PAGE; i++)
        assert_int_equal(p[i], 0);
    assert_memory_equal(ram(dst, data_chunk * CS, PAGE), ram(f->src1, data_chunk * CS, PAGE), PAGE);

    lazy_mem_stop(l);
    lazy_mem_stop(NULL);
    lazy_mem_stats(NULL, &st);
    assert_int_equal(st.faults, 0);
    gm_destroy(dst);
    memchain_close(c);
}

struct toucher {
    struct guest_mem *src, *dst;
    bool backwards;
    uint64_t mismatches;
};

static void *touch_all(void *arg)
{
    struct toucher *t = arg;
    for (uint64_t k = 0; k < RAM / PAGE; k++) {
        /* Different orders, so the threads meet inside chunks the other is faulting on. */
        uint64_t pg = t->backwards ? RAM / PAGE - 1 - k : (k * 7) % (RAM / PAGE);
        void *a, *b;
        if (gm_ram_ptr(t->src, pg * PAGE, PAGE, &a) || gm_ram_ptr(t->dst, pg * PAGE, PAGE, &b) ||
            memcmp(a, b, PAGE) != 0)
            t->mismatches++;
    }
    return NULL;
}

static void test_lazy_concurrent_diff_chain(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s2);
    for (int round = 0; round < 3; round++) {
        struct guest_mem *dst = mem_new(RAM);
        struct lazy_mem *l = NULL;
        assert_int_equal(lazy_mem_start(c, dst, NULL, NULL, &l), 0);
        struct toucher t[3] = {
            {f->src2, dst, false, 0}, {f->src2, dst, true, 0}, {f->src2, dst, round & 1, 0}};
        pthread_t tid[2];
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_create(&tid[i], NULL, touch_all, &t[i]), 0);
        touch_all(&t[2]);
        for (int i = 0; i < 2; i++)
            assert_int_equal(pthread_join(tid[i], NULL), 0);
        for (int i = 0; i < 3; i++)
            assert_int_equal(t[i].mismatches, 0);
        struct lazy_stats st;
        lazy_mem_stats(l, &st);
        assert_int_equal(st.error, 0);
        /* Each chunk filled once, however many threads waited on it. */
        assert_int_equal(st.chunks_copied + st.chunks_zeroed, NCHUNKS);
        assert_true(st.faults >= NCHUNKS);
        lazy_mem_stop(l);
        assert_int_equal(first_diff(f->src2, dst, RAM, CS), -1);
        gm_destroy(dst);
    }
    memchain_close(c);
}

static void test_lazy_refuses_unfit_ram(void **state)
{
    struct fx *f = *state;
    struct memchain *c = snap_chain(&f->s1);
    struct lazy_mem *l = NULL;
    struct capture cap;
    char text[1024];

    struct guest_mem *touched = mem_new(RAM);
    *ram(touched, 5 * CS, 1) = 1;
    capture_start(&cap);
    int err = lazy_mem_start(c, touched, NULL, NULL, &l);
    capture_end(&cap, text, sizeof(text));
    assert_int_equal(err, -EBUSY);
    assert_null(l);
    assert_non_null(strstr(text, "populated"));
    gm_destroy(touched);

    int fd = open("/dev/zero", O_RDONLY);
    assert_true(fd >= 0);
    struct guest_mem *filemem = NULL;
    assert_int_equal(gm_create_from_file(RAM, fd, NULL, &filemem), 0);
    close(fd);
    capture_start(&cap);
    err = lazy_mem_start(c, filemem, NULL, NULL, &l);
    capture_end(&cap, text, sizeof(text));
    assert_int_equal(err, -EINVAL);
    assert_null(l);
    gm_destroy(filemem);

    /* After stop, pages never touched are plain anonymous memory again. */
    struct guest_mem *dst = mem_new(RAM);
    assert_int_equal(lazy_mem_start(c, dst, NULL, NULL, &l), 0);
    assert_memory_equal(ram(dst, 1 * CS, CS), ram(f->src1, 1 * CS, CS), CS);
    lazy_mem_stop(l);
    assert_int_equal(*ram(dst, 1 * CS + 100, 1), *ram(f->src1, 1 * CS + 100, 1));
    assert_int_equal(memchain_kind(c, 4), MEMIMG_DATA); /* yet never touched while lazy */
    for (uint64_t i = 0; i < CS; i++)
        assert_int_equal(ram(dst, 4 * CS, CS)[i], 0);
    gm_destroy(dst);
    memchain_close(c);
}

/* ---- corruption ---- */

struct fail_seen {
    int calls, err;
};

static void note_fail(void *ctx, int err)
{
    struct fail_seen *s = ctx;
    s->calls++;
    s->err = err;
}

static void test_corrupt_chunk(void **state)
{
    struct fx *f = *state;
    struct snap s;
    snap_write(&s, f->src1, CS, NULL, NULL);
    /* Payloads start right after the 64-byte header, so this byte is the first DATA chunk's. */
    char path[128];
    path_in(path, sizeof(path), s.dir, SNAPDIR_MEMORY_FILE);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    uint8_t b;
    assert_int_equal(pread(fd, &b, 1, 64 + 200), 1);
    b ^= 0x40;
    assert_int_equal(pwrite(fd, &b, 1, 64 + 200), 1);
    close(fd);

    struct memchain *c = snap_chain(&s); /* the index is intact: opening succeeds */
    uint64_t bad = 0;
    while (memchain_kind(c, bad) != MEMIMG_DATA)
        bad++;
    char want[64];
    snprintf(want, sizeof(want), "chunk %llu", (unsigned long long)bad);
    struct capture cap;
    char text[4096];

    struct guest_mem *dst = mem_new(RAM);
    capture_start(&cap);
    int err = restore_eager(c, dst, 0);
    capture_end(&cap, text, sizeof(text));
    assert_int_equal(err, -EBADMSG);
    assert_non_null(strstr(text, want));
    gm_destroy(dst);

    fd = -1;
    capture_start(&cap);
    err = restore_raw_open(c, s.dir, &fd, NULL);
    capture_end(&cap, text, sizeof(text));
    assert_int_equal(err, -EBADMSG);
    assert_int_equal(fd, -1);
    assert_non_null(strstr(text, want));
    assert_false(file_exists(s.dir, RESTORE_RAW_FILE));
    assert_false(file_exists(s.dir, RESTORE_RAW_FILE ".id"));
    assert_int_equal(tmpdir_count(s.dir), 2);

    /* Lazy: the owner is told once, before the toucher is released (with zeros, so it does not
     * hang), and the error is reported. */
    dst = mem_new(RAM);
    struct lazy_mem *l = NULL;
    struct fail_seen seen = {0};
    assert_int_equal(lazy_mem_start(c, dst, note_fail, &seen, &l), 0);
    capture_start(&cap);
    int64_t diff = first_diff(f->src1, dst, RAM, CS);
    for (uint64_t i = 0; i < CS; i++)
        assert_int_equal(ram(dst, bad * CS, CS)[i], 0);
    uint64_t other_diffs = 0;
    for (uint64_t i = 0; i < NCHUNKS; i++)
        other_diffs += i != bad && memcmp(ram(dst, i * CS, CS), ram(f->src1, i * CS, CS), CS);
    struct lazy_stats st;
    lazy_mem_stats(l, &st);
    lazy_mem_stop(l);
    capture_end(&cap, text, sizeof(text));
    assert_int_equal(diff, (int64_t)bad);
    assert_int_equal(other_diffs, 0);
    assert_int_equal(st.error, -EBADMSG);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.err, -EBADMSG);
    assert_non_null(strstr(text, want));
    gm_destroy(dst);
    memchain_close(c);
    snap_free(&s);
}

/* ---- RAM above the MMIO hole: a second region, RAM offsets != GPAs ---- */

static void test_two_regions(void **state)
{
    (void)state;
    const uint64_t size = 3 * GiB + 8 * MiB, cs = 256 * KiB;
    struct guest_mem *src = mem_new(size);
    assert_int_equal(gm_region_count(src), 2);
    /* Data at the start, at both sides of the hole and at the very end. */
    const uint64_t chunks[] = {
        0, 1, 3 * GiB / cs - 2, 3 * GiB / cs - 1, 3 * GiB / cs, 3 * GiB / cs + 1, size / cs - 1};
    const size_t n = sizeof(chunks) / sizeof(chunks[0]);
    for (size_t i = 0; i < n; i++)
        fill_random(ram(src, chunks[i] * cs, cs), cs, 5 + i);
    fill_text(ram(src, 3 * GiB + cs + 100, 3 * PAGE), 3 * PAGE, 9);
    struct snap s;
    snap_write(&s, src, (uint32_t)cs, NULL, NULL);
    assert_int_equal(s.sum.chunks_data, n);
    struct memchain *c = snap_chain(&s);

    /* Each mode, compared on the data chunks and their neighbours (the rest is zero). */
    struct guest_mem *dst[3];
    dst[0] = mem_new(size);
    assert_int_equal(restore_eager(c, dst[0], 0), 0);
    int fd = -1;
    bool reused = true;
    assert_int_equal(restore_raw_open(c, s.dir, &fd, &reused), 0);
    assert_false(reused);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, (off_t)size);
    assert_true((uint64_t)st.st_blocks * 512 <= n * cs + 64 * KiB);
    assert_int_equal(gm_create_from_file(size, fd, NULL, &dst[1]), 0);
    close(fd);
    dst[2] = mem_new(size);
    struct lazy_mem *l = NULL;
    double t0 = now_s();
    assert_int_equal(lazy_mem_start(c, dst[2], NULL, NULL, &l), 0);
    printf("    lazy_mem_start, %.0f MiB in two regions: %.6f s\n", (double)size / MiB,
           now_s() - t0);
    for (int m = 0; m < 3; m++) {
        for (size_t i = 0; i < n; i++) {
            uint64_t lo = chunks[i] ? chunks[i] - 1 : 0;
            uint64_t hi = chunks[i] + 1 < size / cs ? chunks[i] + 1 : chunks[i];
            for (uint64_t k = lo; k <= hi; k++)
                assert_memory_equal(ram(dst[m], k * cs, cs), ram(src, k * cs, cs), cs);
        }
    }
    struct lazy_stats ls;
    lazy_mem_stats(l, &ls);
    assert_int_equal(ls.error, 0);
    assert_int_equal(ls.chunks_copied, n);
    assert_true(ls.chunks_zeroed > 0);
    lazy_mem_stop(l);
    for (int m = 0; m < 3; m++)
        gm_destroy(dst[m]);
    memchain_close(c);
    snap_free(&s);
    gm_destroy(src);
}

/* ---- throughput (informational) ---- */

static void test_throughput(void **state)
{
    (void)state;
    const uint64_t size = 256 * MiB, cs = MEMIMG_DEFAULT_CHUNK;
    struct guest_mem *src = mem_new(size);
    for (uint64_t i = 0; i < size / cs; i++)
        fill_chunk(src, i, cs, 3);
    struct snap s;
    snap_write(&s, src, 0, NULL, NULL);
    struct memchain *c = snap_chain(&s);
    double mib = (double)size / MiB, mb = (double)size / 1e6,
           data_mb = (double)s.sum.uncompressed_bytes / 1e6;

    struct guest_mem *dst = mem_new(size);
    double t0 = now_s();
    assert_int_equal(restore_eager(c, dst, 0), 0);
    double t_eager = now_s() - t0;
    assert_int_equal(first_diff(src, dst, size, cs), -1);
    gm_destroy(dst);

    int fd = -1;
    bool reused;
    t0 = now_s();
    assert_int_equal(restore_raw_open(c, s.dir, &fd, &reused), 0);
    double t_raw = now_s() - t0;
    close(fd);
    t0 = now_s();
    assert_int_equal(restore_raw_open(c, s.dir, &fd, &reused), 0);
    double t_reuse = now_s() - t0;
    assert_true(reused);
    close(fd);

    dst = mem_new(size);
    struct lazy_mem *l = NULL;
    t0 = now_s();
    assert_int_equal(lazy_mem_start(c, dst, NULL, NULL, &l), 0);
    double t_start = now_s() - t0;
    t0 = now_s();
    assert_int_equal(first_diff(src, dst, size, cs), -1);
    double t_touch = now_s() - t0;
    lazy_mem_stop(l);
    gm_destroy(dst);

    printf("    %.0f MiB image, %.0f MB non-zero, %llu-byte chunks, %ld cores\n", mib, data_mb,
           (unsigned long long)cs, sysconf(_SC_NPROCESSORS_ONLN));
    printf("    eager restore:   %.3f s  %.0f MB/s of RAM, %.0f MB/s of data\n", t_eager,
           mb / t_eager, data_mb / t_eager);
    printf("    raw expansion:   %.3f s  %.0f MB/s of RAM, %.0f MB/s of data (with fsync)\n", t_raw,
           mb / t_raw, data_mb / t_raw);
    printf("    raw reuse:       %.6f s\n", t_reuse);
    printf("    lazy_mem_start:  %.6f s\n", t_start);
    printf("    lazy touch all:  %.3f s  %.0f MB/s of RAM\n", t_touch, mb / t_touch);
    memchain_close(c);
    snap_free(&s);
    gm_destroy(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eager_full),
        cmocka_unit_test(test_eager_diff_chain),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_raw_build_and_reuse),
        cmocka_unit_test(test_raw_rebuild),
        cmocka_unit_test(test_raw_diff_chain_identity),
        cmocka_unit_test(test_raw_readonly_dir),
        cmocka_unit_test(test_lazy_serves_every_page),
        cmocka_unit_test(test_lazy_concurrent_diff_chain),
        cmocka_unit_test(test_lazy_refuses_unfit_ram),
        cmocka_unit_test(test_corrupt_chunk),
        cmocka_unit_test(test_two_regions),
        cmocka_unit_test(test_throughput),
    };
    /* A lazy-restore bug shows as a thread parked forever on a fault: die instead of hanging. */
    alarm(100);
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
