/*
 * Lazy restore: guest RAM starts empty and registered with userfaultfd; the first touch of a
 * page (by a vCPU through KVM or by vmrun itself) parks the toucher while one handler thread
 * fills the whole chunk around it from the snapshot chain. The guest starts at once and only
 * pays for the memory it uses.
 *
 * The handler thread never touches guest RAM itself: a fault it raised could only be resolved
 * by itself. It decompresses into its own buffer and lets UFFDIO_COPY place the bytes.
 */
#include "vmrun/restore_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/memchain.h"

#define LZ_PAGE 4096ULL
#define LZ_MSGS 16
#define LZ_EAGAIN_TRIES 1000
/* mincore vector per call: 1 GiB of RAM at a time keeps the check allocation small. */
#define LZ_MINCORE_SPAN (1ULL << 30)

typedef unsigned long long ull;

struct lz_region {
    uint64_t host, size, ram_off;
};

struct lazy_mem {
    struct memchain *chain;
    int uffd, stopfd;
    pthread_t thread;
    uint64_t chunk_size, nchunks;
    size_t nregions;
    struct lz_region *regions;
    uint8_t *buf;     /* handler only: one chunk */
    uint64_t *filled; /* handler only: chunks already resolved, one bit each */
    struct vlog_ratelimit rl;
    uint64_t faults, copied, zeroed; /* atomics, read by lazy_mem_stats */
    int error;                       /* atomic: first failure */
    lazy_fail_fn on_fail;            /* told of the first failure; may be NULL */
    void *fail_ctx;
};

/* Record the first failure and tell the owner, before the fault is resolved with zeros: the VM
 * can then stop its vCPUs before any of them computes on memory that is not the snapshot's. */
static void lz_fail(struct lazy_mem *l, int err)
{
    int none = 0;
    if (__atomic_compare_exchange_n(&l->error, &none, err, false, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED) &&
        l->on_fail)
        l->on_fail(l->fail_ctx, err);
}

/*
 * Copy (src) or zero (src NULL) [dst, dst+len), which may already be partly present (a second
 * fault on a page filled a moment ago is the common case). The kernel stops at the first
 * present page (partial count, then EEXIST on that page), so step over it and go on: a present
 * page may already hold guest writes, newer than the snapshot.
 */
static int lz_place(struct lazy_mem *l, uint64_t dst, const uint8_t *src, uint64_t len)
{
    uint64_t done = 0;
    bool existed = false;
    int tries = 0;
    while (done < len) {
        int rc;
        int64_t progress;
        if (src) {
            struct uffdio_copy cp = {
                .dst = dst + done, .src = (uintptr_t)(src + done), .len = len - done};
            rc = ioctl(l->uffd, UFFDIO_COPY, &cp);
            progress = cp.copy;
        } else {
            struct uffdio_zeropage z = {.range = {.start = dst + done, .len = len - done}};
            rc = ioctl(l->uffd, UFFDIO_ZEROPAGE, &z);
            progress = z.zeropage;
        }
        if (rc == 0)
            break;
        if (progress > 0) {
            done += (uint64_t)progress;
        } else if (errno == EEXIST) {
            existed = true;
            done += LZ_PAGE;
        } else if (errno == EAGAIN && ++tries < LZ_EAGAIN_TRIES) {
            sched_yield(); /* the address space is changing under us; try again */
        } else {
            return -errno;
        }
    }
    /* Copies wake the waiters of what they placed; a waiter on a page that was already there
     * (two faults on one chunk, resolved by the first) needs telling. */
    if (existed) {
        struct uffdio_range r = {.start = dst, .len = len};
        if (ioctl(l->uffd, UFFDIO_WAKE, &r) < 0)
            return -errno;
    }
    return 0;
}

/* Place a chunk's bytes (or zeros) over every region piece of RAM offsets [off, off+len):
 * one piece always, as regions are multiples of the chunk size, but cheap to be general. */
static int lz_place_ram(struct lazy_mem *l, uint64_t off, const uint8_t *src, uint64_t len)
{
    for (size_t i = 0; i < l->nregions; i++) {
        const struct lz_region *r = &l->regions[i];
        uint64_t lo = off > r->ram_off ? off : r->ram_off;
        uint64_t hi = off + len < r->ram_off + r->size ? off + len : r->ram_off + r->size;
        if (lo >= hi)
            continue;
        int err = lz_place(l, r->host + (lo - r->ram_off), src ? src + (lo - off) : NULL, hi - lo);
        if (err)
            return err;
    }
    return 0;
}

/* Record err as the first failure (if it is) and say what happened; idx UINT64_MAX: no chunk. */
static void lz_report(struct lazy_mem *l, int err, uint64_t idx, const char *what)
{
    lz_fail(l, err);
    if (!vlog_ratelimit_ok(&l->rl))
        return;
    if (idx == UINT64_MAX)
        vlog_err(err, "lazy restore: %s", what);
    else
        vlog_err(err, "lazy restore: chunk %llu: %s", (ull)idx, what);
}

static void lz_fault(struct lazy_mem *l, uint64_t addr)
{
    __atomic_fetch_add(&l->faults, 1, __ATOMIC_RELAXED);
    const struct lz_region *r = NULL;
    for (size_t i = 0; i < l->nregions && !r; i++)
        if (addr - l->regions[i].host < l->regions[i].size)
            r = &l->regions[i];
    if (!r) {
        lz_report(l, -EFAULT, UINT64_MAX, "fault outside guest RAM");
        return;
    }
    uint64_t idx = (r->ram_off + (addr - r->host)) / l->chunk_size;
    int err;
    if (l->filled[idx / 64] & (1ULL << (idx % 64))) {
        /* Filled before, yet missing again: either a duplicate fault (the page is there, only
         * a wake is due) or the page was discarded since (MADV_DONTNEED), after which anonymous
         * memory reads as zero. One zero page covers both. */
        err = lz_place(l, addr & ~(LZ_PAGE - 1), NULL, LZ_PAGE);
        if (err)
            lz_report(l, err, idx, "cannot resolve a fault");
        return;
    }
    l->filled[idx / 64] |= 1ULL << (idx % 64);
    uint64_t off = idx * l->chunk_size, len = memchain_chunk_bytes(l->chain, idx);
    bool data = memchain_kind(l->chain, idx) == MEMIMG_DATA;
    if (data && (err = memchain_read_chunk(l->chain, idx, l->buf, len)) != 0) {
        /* The owner stops the VM (lz_fail); zeros only release the faulting thread, which
         * would otherwise stay parked on a page nobody will ever fill. */
        lz_report(l, err, idx, "unreadable; stopping the VM");
        if ((err = lz_place_ram(l, off, NULL, len)) != 0)
            lz_report(l, err, idx, "UFFDIO_ZEROPAGE");
        return;
    }
    /* Counted before placing: the copy wakes the toucher, who may read the stats at once. */
    uint64_t *count = data ? &l->copied : &l->zeroed;
    __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
    err = lz_place_ram(l, off, data ? l->buf : NULL, len);
    if (err) {
        __atomic_fetch_sub(count, 1, __ATOMIC_RELAXED);
        lz_report(l, err, idx, data ? "UFFDIO_COPY" : "UFFDIO_ZEROPAGE");
    }
}

static void *lz_handler(void *arg)
{
    struct lazy_mem *l = arg;
    struct uffd_msg msgs[LZ_MSGS];
    for (;;) {
        struct pollfd p[2] = {{.fd = l->uffd, .events = POLLIN},
                              {.fd = l->stopfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR || errno == ENOMEM)
                continue;
            lz_report(l, -errno, UINT64_MAX, "poll");
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        ssize_t n = read(l->uffd, msgs, sizeof(msgs));
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue; /* another wakeup consumed it, or none was pending after all */
            lz_report(l, -errno, UINT64_MAX, "read userfaultfd");
            break;
        }
        for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++)
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
                lz_fault(l, msgs[i].arg.pagefault.address);
    }
    return NULL;
}

static int lz_open_uffd(void)
{
    /* No UFFD_USER_MODE_ONLY: KVM takes guest faults in kernel mode. Debian 12's libc has no
     * wrapper, hence syscall(). */
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 || errno != EPERM)
        return fd >= 0 ? fd : vlog_err(-errno, "lazy restore: userfaultfd");
    /* Since Linux 6.1 access can also be granted by the permissions of /dev/userfaultfd. */
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
        close(dev);
        if (fd >= 0)
            return fd;
    }
    return vlog_err(-EPERM, "lazy restore: userfaultfd (kernel-mode faults need "
                            "sysctl vm.unprivileged_userfaultfd=1, CAP_SYS_PTRACE or access "
                            "to /dev/userfaultfd)");
}

/* Pages already present would silently win over the snapshot's (UFFDIO_COPY keeps them). */
static int lz_check_untouched(const struct lz_region *r)
{
    unsigned char *vec = malloc(LZ_MINCORE_SPAN / LZ_PAGE);
    if (!vec)
        return -ENOMEM;
    int err = 0;
    for (uint64_t o = 0; !err && o < r->size; o += LZ_MINCORE_SPAN) {
        uint64_t n = r->size - o < LZ_MINCORE_SPAN ? r->size - o : LZ_MINCORE_SPAN;
        if (mincore((void *)(uintptr_t)(r->host + o), n, vec) < 0)
            err = -errno;
        for (uint64_t p = 0; !err && p < n / LZ_PAGE; p++)
            if (vec[p] & 1)
                err = vlog_err(-EBUSY,
                               "lazy restore: guest RAM at offset %llu is already "
                               "populated; it must be untouched anonymous memory",
                               (ull)(r->ram_off + o + p * LZ_PAGE));
    }
    free(vec);
    return err;
}

static int lz_setup(struct lazy_mem *l, struct guest_mem *mem)
{
    uint64_t off = 0;
    for (size_t i = 0; i < l->nregions; i++) {
        struct gm_region g;
        int err = gm_region_get(mem, i, &g);
        if (err)
            return err;
        l->regions[i] =
            (struct lz_region){.host = (uintptr_t)g.host, .size = g.size, .ram_off = off};
        off += g.size;
        if ((err = lz_check_untouched(&l->regions[i])) != 0)
            return err;
    }
    if ((l->uffd = lz_open_uffd()) < 0)
        return l->uffd;
    struct uffdio_api api = {.api = UFFD_API};
    if (ioctl(l->uffd, UFFDIO_API, &api) < 0)
        return vlog_err(-errno, "lazy restore: UFFDIO_API");
    for (size_t i = 0; i < l->nregions; i++) {
        struct uffdio_register reg = {
            .range = {.start = l->regions[i].host, .len = l->regions[i].size},
            .mode = UFFDIO_REGISTER_MODE_MISSING};
        if (ioctl(l->uffd, UFFDIO_REGISTER, &reg) < 0)
            return vlog_err(-errno, "lazy restore: UFFDIO_REGISTER (guest RAM must be anonymous)");
        uint64_t need =
            (1ULL << _UFFDIO_COPY) | (1ULL << _UFFDIO_ZEROPAGE) | (1ULL << _UFFDIO_WAKE);
        if ((reg.ioctls & need) != need)
            return vlog_err(-ENOTSUP, "lazy restore: userfaultfd cannot copy into guest RAM");
    }
    if ((l->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
        return vlog_err(-errno, "lazy restore: eventfd");
    /* Signals meant for vCPU threads (kicks) must never land on the handler. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&l->thread, NULL, lz_handler, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return err ? vlog_err(-err, "lazy restore: handler thread") : 0;
}

static void lz_free(struct lazy_mem *l)
{
    if (l->uffd >= 0)
        close(l->uffd);
    if (l->stopfd >= 0)
        close(l->stopfd);
    free(l->regions);
    free(l->filled);
    free(l->buf);
    free(l);
}

int lazy_mem_start(struct memchain *c, struct guest_mem *mem, lazy_fail_fn on_fail, void *fail_ctx,
                   struct lazy_mem **out)
{
    if (!c || !mem || !out)
        return -EINVAL;
    *out = NULL;
    if (memchain_ram_bytes(c) != gm_ram_size(mem))
        return vlog_err(-EINVAL, "lazy restore: the snapshot holds %llu bytes of RAM, the VM %llu",
                        (ull)memchain_ram_bytes(c), (ull)gm_ram_size(mem));
    if (!gm_is_anonymous(mem))
        return vlog_err(-EINVAL, "lazy restore: guest RAM must be fresh anonymous memory");
    struct lazy_mem *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    l->uffd = l->stopfd = -1;
    l->chain = c;
    l->on_fail = on_fail;
    l->fail_ctx = fail_ctx;
    l->chunk_size = memchain_chunk_size(c);
    l->nchunks = memchain_nchunks(c);
    l->nregions = gm_region_count(mem);
    l->regions = calloc(l->nregions ? l->nregions : 1, sizeof(*l->regions));
    l->filled = calloc((l->nchunks + 63) / 64 + 1, sizeof(uint64_t));
    l->buf = malloc(l->chunk_size);
    int err = l->regions && l->filled && l->buf ? lz_setup(l, mem) : -ENOMEM;
    if (err) {
        lz_free(l); /* the thread is the last step, so it never runs here */
        return err;
    }
    /* Unpopulated pages now hold snapshot data: a snapshot writer must not skip them. */
    gm_set_not_anonymous(mem);
    *out = l;
    return 0;
}

void lazy_mem_stop(struct lazy_mem *l)
{
    if (!l)
        return;
    uint64_t one = 1;
    /* A full eventfd counter (impossible after one write) would only mean it is already set. */
    if (write(l->stopfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        vlog_err(-errno, "lazy restore: stop");
    pthread_join(l->thread, NULL);
    lz_free(l); /* closing the userfaultfd unregisters guest RAM */
}

void lazy_mem_stats(const struct lazy_mem *l, struct lazy_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof(*out));
    if (!l)
        return;
    out->faults = __atomic_load_n(&l->faults, __ATOMIC_RELAXED);
    out->chunks_copied = __atomic_load_n(&l->copied, __ATOMIC_RELAXED);
    out->chunks_zeroed = __atomic_load_n(&l->zeroed, __ATOMIC_RELAXED);
    out->error = __atomic_load_n(&l->error, __ATOMIC_RELAXED);
}
