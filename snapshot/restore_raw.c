/*
 * Copy-on-write restore: the chain expanded once into dir/memory.raw, a sparse file every clone
 * maps MAP_PRIVATE, so clones share its clean pages through the page cache and start without
 * decompressing anything.
 *
 * The file is trusted on reuse (hashing it again would cost what the cache saves), so it must
 * never be reused unless it is known complete and made from this very chain: it is built under
 * a temporary name, fsync'd and renamed, and only then is its identity written beside it
 * (memory.raw.id, also via a temporary name). The identity names the chain and the file's inode
 * and mtime, so a crash at any moment, a file replaced behind our back or an identity left from
 * an older file all mean "rebuild". A published file is never written again: private mappings
 * of it would see such writes in pages they have not copied yet.
 */
#include "vmrun/restore_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/memchain.h"

#define RAW_ID_FILE RESTORE_RAW_FILE ".id"
#define RAW_MAX_THREADS 64
#define RAW_ID_MAX 256

typedef unsigned long long ull;

struct expand_ctx {
    struct memchain *chain;
    int fd;
    uint64_t next; /* atomic: next chunk to claim */
    int err;       /* atomic: first error */
    bool io;       /* the first error came from writing the file, not from the image */
};

static int pwrite_full(int fd, const uint8_t *p, size_t len, uint64_t off)
{
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -EIO;
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Write the runs of pages of buf that are not all zero; zero pages stay holes (the file was
 * created empty and sized with ftruncate), costing neither disk nor page cache, and clones
 * mapping the file read them as zero all the same. */
static int write_nonzero(int fd, const uint8_t *buf, uint64_t len, uint64_t off)
{
    uint64_t run = 0; /* start of the pending run of data pages */
    for (uint64_t p = 0; p <= len; p += GM_PAGE_SIZE) {
        bool data = p < len && !gm_page_is_zero(buf + p);
        if (data)
            continue;
        if (p > run) {
            int err = pwrite_full(fd, buf + run, p - run, off + run);
            if (err)
                return err;
        }
        run = p + GM_PAGE_SIZE;
    }
    return 0;
}

static void expand_fail(struct expand_ctx *x, int err, bool io)
{
    int none = 0;
    if (__atomic_compare_exchange_n(&x->err, &none, err, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
        x->io = io; /* read only after every worker is joined */
}

static void *expand_worker(void *arg)
{
    struct expand_ctx *x = arg;
    uint64_t n = memchain_nchunks(x->chain), cs = memchain_chunk_size(x->chain);
    uint8_t *buf = malloc(cs);
    if (!buf) {
        expand_fail(x, vlog_err(-ENOMEM, "%s: expansion buffer", RESTORE_RAW_FILE), false);
        return NULL;
    }
    while (!__atomic_load_n(&x->err, __ATOMIC_RELAXED)) {
        uint64_t idx = __atomic_fetch_add(&x->next, 1, __ATOMIC_RELAXED);
        if (idx >= n)
            break;
        if (memchain_kind(x->chain, idx) != MEMIMG_DATA)
            continue; /* stays a hole: reads as zero and costs no disk */
        uint64_t len = memchain_chunk_bytes(x->chain, idx);
        int err = memchain_read_chunk(x->chain, idx, buf, len);
        if (err)
            expand_fail(x, err, false);
        else if ((err = write_nonzero(x->fd, buf, len, idx * cs)) < 0)
            expand_fail(x, err, true);
    }
    free(buf);
    return NULL;
}

/* Fill fd (already sized) with the chain on every core; *io says a write failed. */
static int expand(struct memchain *c, int fd, bool *io)
{
    struct expand_ctx x = {.chain = c, .fd = fd};
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    n = n < 1 ? 1 : n > RAW_MAX_THREADS ? RAW_MAX_THREADS : n;
    pthread_t tid[RAW_MAX_THREADS];
    long started = 0;
    for (; started < n - 1; started++)
        if (pthread_create(&tid[started], NULL, expand_worker, &x) != 0)
            break;
    expand_worker(&x);
    for (long i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    *io = x.io;
    return x.err;
}

static int id_text(char *buf, struct memchain *c, const struct stat *st)
{
    return snprintf(buf, RAW_ID_MAX,
                    "vmrun memory.raw 1\nchain %016llx\nram %llu\ninode %llu\n"
                    "mtime %lld.%09ld\n",
                    (ull)memchain_id(c), (ull)memchain_ram_bytes(c), (ull)st->st_ino,
                    (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec);
}

/* An fd of dir/memory.raw when it and its identity match this chain, else -1. */
static int try_reuse(struct memchain *c, int dirfd)
{
    int fd = openat(dirfd, RESTORE_RAW_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int idfd = openat(dirfd, RAW_ID_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    char want[RAW_ID_MAX], got[RAW_ID_MAX + 1];
    struct stat st;
    bool ok = fd >= 0 && idfd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              (uint64_t)st.st_size == memchain_ram_bytes(c);
    if (ok) {
        int len = id_text(want, c, &st);
        ssize_t n = read(idfd, got, sizeof(got));
        ok = n == len && memcmp(got, want, (size_t)len) == 0;
    }
    if (idfd >= 0)
        close(idfd);
    if (!ok && fd >= 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Names unique among live threads, so concurrent restores of one dir never share a temporary;
 * a leftover of a crashed process with a recycled thread id may be overwritten. */
static void tmp_name(char *buf, size_t cap, const char *base)
{
    snprintf(buf, cap, "%s.tmp.%ld", base, (long)syscall(SYS_gettid));
}

static int write_id(struct memchain *c, int dirfd, int fd)
{
    struct stat st;
    char text[RAW_ID_MAX], tmp[64];
    if (fstat(fd, &st) < 0)
        return -errno;
    int len = id_text(text, c, &st);
    tmp_name(tmp, sizeof(tmp), RAW_ID_FILE);
    int idfd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (idfd < 0)
        return -errno;
    int err = pwrite_full(idfd, (const uint8_t *)text, (size_t)len, 0);
    if (!err && fsync(idfd) < 0)
        err = -errno;
    close(idfd);
    if (!err && renameat(dirfd, tmp, dirfd, RAW_ID_FILE) < 0)
        err = -errno;
    if (!err && fsync(dirfd) < 0)
        err = -errno;
    if (err)
        unlinkat(dirfd, tmp, 0);
    return err;
}

/* Write the new file nameless where the filesystem allows it, so a crash leaves no garbage. */
static int create_tmp(int dirfd, char *name, size_t cap, bool *named)
{
    int fd = openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    int err = fd < 0 ? -errno : 0;
    tmp_name(name, cap, RESTORE_RAW_FILE);
    *named = false;
    if (fd >= 0 || (err != -EOPNOTSUPP && err != -EISDIR && err != -EINVAL))
        return fd >= 0 ? fd : err;
    *named = true;
    unlinkat(dirfd, name, 0);
    fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    return fd >= 0 ? fd : -errno;
}

/* Build, publish and identify dir/memory.raw. On failure *step names what failed, or is NULL
 * when the image itself was at fault (already reported). */
static int build_in_dir(struct memchain *c, int dirfd, int *rofd, const char **step)
{
    char tmp[64], proc[64];
    bool named, io = false;
    *step = "remove the old copy";
    /* Invalidate first: from here until the new identity lands, nothing is reusable. */
    if ((unlinkat(dirfd, RAW_ID_FILE, 0) < 0 && errno != ENOENT) ||
        (unlinkat(dirfd, RESTORE_RAW_FILE, 0) < 0 && errno != ENOENT) || fsync(dirfd) < 0)
        return -errno;
    *step = "create";
    int fd = create_tmp(dirfd, tmp, sizeof(tmp), &named);
    if (fd < 0)
        return fd;
    *step = "set size";
    int err = ftruncate(fd, (off_t)memchain_ram_bytes(c)) < 0 ? -errno : 0;
    if (!err) {
        *step = "write";
        err = expand(c, fd, &io);
        if (err && !io)
            *step = NULL;
    }
    if (!err && fsync(fd) < 0) {
        *step = "fsync";
        err = -errno;
    }
    if (!err && !named) {
        *step = "link";
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
        unlinkat(dirfd, tmp, 0);
        if (linkat(AT_FDCWD, proc, dirfd, tmp, AT_SYMLINK_FOLLOW) < 0)
            err = -errno;
        else
            named = true;
    }
    if (!err && (*rofd = openat(dirfd, tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
        *step = "reopen";
        err = -errno;
    }
    if (!err && (renameat(dirfd, tmp, dirfd, RESTORE_RAW_FILE) < 0 || fsync(dirfd) < 0)) {
        *step = "rename";
        err = -errno;
        close(*rofd);
    }
    if (err && named)
        unlinkat(dirfd, tmp, 0);
    if (!err) {
        int e = write_id(c, dirfd, fd);
        if (e)
            vlog_msg("%s: %s (the file will be rebuilt next time)", RAW_ID_FILE, strerror(-e));
    }
    close(fd);
    return err;
}

/* Somewhere to expand when dir cannot hold the cache: an unlinked file in $TMPDIR or /tmp. */
static int build_unlinked(struct memchain *c, int *rofd)
{
    const char *tmpdir = getenv("TMPDIR");
    char path[4096];
    bool io = true;
    snprintf(path, sizeof(path), "%s/vmrun-memory.raw.XXXXXX",
             tmpdir && tmpdir[0] ? tmpdir : "/tmp");
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0)
        return vlog_err(-errno, "%s", path);
    *rofd = open(path, O_RDONLY | O_CLOEXEC);
    int err = *rofd < 0 ? -errno : 0;
    unlink(path);
    if (!err && ftruncate(fd, (off_t)memchain_ram_bytes(c)) < 0)
        err = -errno;
    if (!err)
        err = expand(c, fd, &io);
    close(fd);
    if (err) {
        if (*rofd >= 0)
            close(*rofd);
        if (io)
            vlog_err(err, "%s", path);
    }
    return err;
}

static bool dir_unusable(int err)
{
    return err == -EACCES || err == -EPERM || err == -EROFS || err == -ENOSPC || err == -EDQUOT;
}

int restore_raw_open(struct memchain *c, const char *dir, int *fd_out, bool *reused)
{
    if (!c || !dir || !fd_out)
        return -EINVAL;
    *fd_out = -1;
    if (reused)
        *reused = false;
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dirfd < 0)
        return vlog_err(-errno, "%s", dir);
    int fd = try_reuse(c, dirfd);
    if (fd >= 0) {
        close(dirfd);
        *fd_out = fd;
        if (reused)
            *reused = true;
        return 0;
    }
    const char *step;
    int err = build_in_dir(c, dirfd, &fd, &step);
    close(dirfd);
    if (err && step && dir_unusable(err)) {
        vlog_msg("%s/%s: %s: %s; expanding guest RAM into a temporary file instead (not reusable)",
                 dir, RESTORE_RAW_FILE, step, strerror(-err));
        err = build_unlinked(c, &fd);
    } else if (err && step) {
        vlog_err(err, "%s/%s: %s", dir, RESTORE_RAW_FILE, step);
    }
    if (err)
        return err;
    *fd_out = fd;
    return 0;
}
