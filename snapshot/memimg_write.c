/*
 * memory.lz4 writer. Worker threads (memimg_encode.c) claim jobs, each a group of chunks, from a
 * shared counter and compress them into a slot of a small ring; the calling thread drains the
 * ring strictly in job order with one pwritev per job, so the file is written sequentially while
 * memory stays bounded by the ring.
 */
#include "vmrun/memimg.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <lz4.h>
#include <lz4hc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "memimg_writer.h"
#include "vmrun/log.h"
#include "vmrun/mem.h"

#define MW_PAGE 4096u
/* Big enough that a group costs one syscall and two lock round trips per ~2 MiB, small enough
 * that two cores still share a 64 MiB guest evenly. */
#define MW_GROUP_BYTES (2u << 20)
#define MW_MAX_THREADS 64u
#define MW_RING_BUDGET (64u << 20)
#define MW_PROGRESS_NS 100000000ULL
/* Start writeback every this many bytes so the disk works while we still compress, instead of
 * all of it waiting for the final fdatasync. */
#define MW_WRITEBACK_BYTES (8u << 20)

static int mw_pwritev_full(int fd, struct iovec *iov, int cnt, off_t off)
{
    while (cnt > 0) {
        ssize_t r = pwritev(fd, iov, cnt < IOV_MAX ? cnt : IOV_MAX, off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO;
        off += r;
        for (size_t done = (size_t)r; done > 0;) {
            size_t step = done < iov->iov_len ? done : iov->iov_len;
            iov->iov_base = (uint8_t *)iov->iov_base + step;
            iov->iov_len -= step;
            done -= step;
            if (iov->iov_len == 0) {
                iov++;
                cnt--;
            }
        }
        while (cnt > 0 && iov->iov_len == 0) {
            iov++;
            cnt--;
        }
    }
    return 0;
}

/* Drain the ring in order; returns the file offset where the index goes, or -errno. */
static int64_t mw_drain(struct mw_ctx *c, int fd, const char *path, struct memimg_summary *sum)
{
    struct iovec *iov = calloc(c->group_chunks, sizeof(*iov));
    if (!iov)
        return vlog_err(-ENOMEM, "%s: write buffers", path);
    uint64_t pos = MI_HEADER_SIZE, flushed = 0, last_progress = mi_now_ns();
    int64_t rc = 0;
    for (uint64_t j = 0; j < c->njobs; j++) {
        struct mw_slot *s = &c->slots[j % c->nslots];
        pthread_mutex_lock(&c->lock);
        while (!s->ready)
            pthread_cond_wait(&c->ready_cv, &c->lock);
        pthread_mutex_unlock(&c->lock);

        uint64_t first = c->jobs[j] * c->group_chunks, start = pos;
        uint64_t end = first + c->group_chunks < c->nchunks ? first + c->group_chunks : c->nchunks;
        int cnt = 0;
        for (uint64_t i = first; i < end; i++) {
            struct mi_entry *e = &c->entries[i];
            if (e->kind == MEMIMG_ABSENT)
                continue;
            if (e->kind == MEMIMG_ZERO) {
                sum->chunks_zero++;
                continue;
            }
            /* Raw chunks go straight from guest RAM: the VM is paused while we snapshot. */
            void *src = e->flags & MI_ENT_RAW ? (void *)mw_chunk_host(c, i)
                                              : (void *)(s->buf + (i - first) * c->cs);
            iov[cnt++] = (struct iovec){.iov_base = src, .iov_len = e->size};
            e->offset = pos;
            pos += e->size;
            sum->chunks_data++;
            sum->data_bytes += e->size;
            sum->uncompressed_bytes += mw_chunk_bytes(c, i);
        }
        int wrc = mw_pwritev_full(fd, iov, cnt, (off_t)start);
        if (wrc < 0) {
            rc = vlog_err(wrc, "%s: write", path);
            break;
        }
        if (c->opts->check && (rc = c->opts->check(c->opts->check_ctx)) < 0) {
            vlog_err((int)rc, "%s: guest memory could not be read in full", path);
            break;
        }
        if (pos - flushed >= MW_WRITEBACK_BYTES) {
            /* Only a hint: fdatasync still reports any error, so failure here is ignored. */
            (void)sync_file_range(fd, (off_t)flushed, (off_t)(pos - flushed),
                                  SYNC_FILE_RANGE_WRITE);
            flushed = pos;
        }

        pthread_mutex_lock(&c->lock);
        s->ready = false;
        s->job = j + c->nslots;
        pthread_cond_broadcast(&c->free_cv);
        pthread_mutex_unlock(&c->lock);

        uint64_t now = mi_now_ns();
        if (c->opts->progress && now - last_progress >= MW_PROGRESS_NS) {
            last_progress = now;
            c->opts->progress(c->opts->progress_ctx, end * c->cs < c->ram ? end * c->cs : c->ram,
                              c->ram);
        }
    }
    free(iov);
    if (rc == 0 && c->opts->progress)
        c->opts->progress(c->opts->progress_ctx, c->ram, c->ram);
    return rc < 0 ? rc : (int64_t)pos;
}

/* Write the index after the payloads, then the header that points at it. */
static int mw_finish(struct mw_ctx *c, int fd, const char *path, uint64_t index_off,
                     struct memimg_summary *sum)
{
    uint64_t len = c->nchunks * MI_ENTRY_SIZE;
    uint8_t *index = malloc(len);
    if (!index)
        return vlog_err(-ENOMEM, "%s: index", path);
    for (uint64_t i = 0; i < c->nchunks; i++) {
        /* Counted here: chunks outside every job never pass through the drain. */
        sum->chunks_absent += c->entries[i].kind == MEMIMG_ABSENT;
        mi_entry_encode(&c->entries[i], index + i * MI_ENTRY_SIZE);
    }
    sum->index_hash = XXH3_64bits(index, len);

    struct mi_header h = {
        .version = MEMIMG_VERSION,
        .header_size = MI_HEADER_SIZE,
        .chunk_size = c->cs,
        .flags = (c->opts->hc ? MI_HDR_HC : 0) | (c->opts->dirty ? MI_HDR_DIFF : 0),
        .ram_bytes = c->ram,
        .chunk_count = c->nchunks,
        .index_offset = index_off,
        .index_length = len,
    };
    uint8_t hdr[MI_HEADER_SIZE];
    mi_header_encode(&h, hdr);
    struct iovec iov_index = {.iov_base = index, .iov_len = len};
    struct iovec iov_hdr = {.iov_base = hdr, .iov_len = sizeof(hdr)};
    int rc = mw_pwritev_full(fd, &iov_index, 1, (off_t)index_off);
    if (rc == 0)
        rc = mw_pwritev_full(fd, &iov_hdr, 1, 0);
    free(index);
    if (rc < 0)
        return vlog_err(rc, "%s: write", path);
    sum->file_bytes = index_off + len;
    return 0;
}

static unsigned mw_thread_count(const struct memimg_write_opts *opts, uint64_t njobs)
{
    long n = opts->threads ? (long)opts->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if ((unsigned long)n > MW_MAX_THREADS)
        n = MW_MAX_THREADS;
    return (uint64_t)n > njobs ? (unsigned)njobs : (unsigned)n;
}

/* A full image stores every group; a diff only those with a dirty chunk. */
static bool mw_group_wanted(const struct mw_ctx *c, uint64_t g)
{
    const uint64_t *dirty = c->opts->dirty;
    if (!dirty)
        return true;
    uint64_t first = g * c->group_chunks;
    uint64_t end = first + c->group_chunks < c->nchunks ? first + c->group_chunks : c->nchunks;
    for (uint64_t i = first; i < end; i++)
        if ((dirty[i / 64] >> (i % 64)) & 1)
            return true;
    return false;
}

/* Everything the run needs that can fail, allocated before any thread starts. */
static int mw_setup(struct mw_ctx *c, struct guest_mem *mem, const char *path)
{
    c->nregions = gm_region_count(mem);
    c->ram = gm_ram_size(mem);
    if (c->nregions == 0 || c->ram == 0) {
        vlog_msg("%s: guest memory: no RAM", path);
        return -EINVAL;
    }
    c->regions = calloc(c->nregions, sizeof(*c->regions));
    if (!c->regions)
        return vlog_err(-ENOMEM, "%s: chunk table", path);
    uint64_t off = 0;
    for (size_t r = 0; r < c->nregions; r++) {
        struct gm_region g;
        int rc = gm_region_get(mem, r, &g);
        if (rc < 0)
            return rc;
        if (r + 1 < c->nregions && g.size % c->cs) {
            vlog_msg("%s: chunk size %u: does not divide RAM region %zu (%llu bytes)", path, c->cs,
                     r, (unsigned long long)g.size);
            return -EINVAL;
        }
        c->regions[r] = (struct mw_region){.host = g.host, .ram_off = off, .size = g.size};
        off += g.size;
    }
    c->nchunks = (c->ram + c->cs - 1) / c->cs;
    c->group_chunks = c->cs >= MW_GROUP_BYTES ? 1 : MW_GROUP_BYTES / c->cs;
    c->ngroups = (c->nchunks + c->group_chunks - 1) / c->group_chunks;
    c->entries = calloc(c->nchunks, sizeof(*c->entries)); /* all MEMIMG_ABSENT */
    c->jobs = calloc(c->ngroups, sizeof(*c->jobs));
    if (!c->entries || !c->jobs)
        return vlog_err(-ENOMEM, "%s: chunk table", path);
    for (uint64_t g = 0; g < c->ngroups; g++)
        if (mw_group_wanted(c, g))
            c->jobs[c->njobs++] = g;
    return 0;
}

static int mw_alloc_ring(struct mw_ctx *c, unsigned nthreads)
{
    uint64_t slot_bytes = c->group_chunks * c->cs;
    uint64_t n = 4ULL * nthreads;
    if (n * slot_bytes > MW_RING_BUDGET)
        n = MW_RING_BUDGET / slot_bytes;
    /* Every worker busy plus one slot being written, whatever the budget says. */
    if (n < nthreads + 1ULL)
        n = nthreads + 1ULL;
    if (n > c->njobs)
        n = c->njobs;
    c->nslots = (unsigned)n;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    if (!c->slots)
        return -ENOMEM;
    for (unsigned s = 0; s < c->nslots; s++) {
        c->slots[s].job = s;
        c->slots[s].buf = malloc(slot_bytes);
        if (!c->slots[s].buf)
            return -ENOMEM;
    }
    return 0;
}

static int mw_run(struct mw_ctx *c, int fd, const char *path, struct memimg_summary *sum)
{
    if (c->njobs == 0) /* a diff with nothing dirty: header and index only */
        return mw_finish(c, fd, path, MI_HEADER_SIZE, sum);
    unsigned nthreads = mw_thread_count(c->opts, c->njobs);
    int rc = mw_alloc_ring(c, nthreads);
    struct mw_worker *w = calloc(nthreads, sizeof(*w));
    if (rc == 0 && !w)
        rc = -ENOMEM;
    int lz_size = c->opts->hc ? LZ4_sizeofStateHC() : LZ4_sizeofState();
    for (unsigned t = 0; rc == 0 && t < nthreads; t++) {
        w[t].c = c;
        w[t].lz_state = malloc((size_t)lz_size);
        if (c->pagemap_fd >= 0)
            w[t].pagemap = malloc(c->cs / MW_PAGE * sizeof(uint64_t));
        if (!w[t].lz_state || (c->pagemap_fd >= 0 && !w[t].pagemap))
            rc = -ENOMEM;
    }
    if (rc < 0)
        vlog_err(rc, "%s: compression buffers", path);
    unsigned started = 0;
    while (rc == 0 && started < nthreads) {
        int e = pthread_create(&w[started].tid, NULL, mw_worker_main, &w[started]);
        if (e)
            rc = vlog_err(-e, "%s: starting compression threads", path);
        else
            started++;
    }
    int64_t index_off = rc == 0 ? mw_drain(c, fd, path, sum) : rc;

    pthread_mutex_lock(&c->lock);
    c->stop = true;
    pthread_cond_broadcast(&c->free_cv);
    pthread_mutex_unlock(&c->lock);
    for (unsigned t = 0; t < started; t++)
        pthread_join(w[t].tid, NULL);
    for (unsigned t = 0; w && t < nthreads; t++) {
        free(w[t].lz_state);
        free(w[t].pagemap);
    }
    free(w);

    if (index_off < 0)
        return (int)index_off;
    return mw_finish(c, fd, path, (uint64_t)index_off, sum);
}

int memimg_write(const char *path, struct guest_mem *mem, const struct memimg_write_opts *opts,
                 struct memimg_summary *out)
{
    static const struct memimg_write_opts defaults;
    struct memimg_summary sum = {0};
    if (!path || !mem)
        return -EINVAL;
    if (!opts)
        opts = &defaults;
    if (out)
        memset(out, 0, sizeof(*out));

    uint32_t cs = opts->chunk_size ? opts->chunk_size : MEMIMG_DEFAULT_CHUNK;
    if (cs < MEMIMG_MIN_CHUNK || cs > MEMIMG_MAX_CHUNK || (cs & (cs - 1))) {
        vlog_msg("%s: chunk size %u: not a power of 2 in [%u, %u]", path, cs, MEMIMG_MIN_CHUNK,
                 MEMIMG_MAX_CHUNK);
        return -EINVAL;
    }
    struct mw_ctx c = {.opts = opts, .cs = cs, .pagemap_fd = -1};
    int rc = mw_setup(&c, mem, path);
    if (rc == 0) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = vlog_err(-errno, "%s: create", path);
        } else {
            if (opts->ram_is_anonymous && sysconf(_SC_PAGESIZE) == MW_PAGE)
                c.pagemap_fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
            pthread_mutex_init(&c.lock, NULL);
            pthread_cond_init(&c.ready_cv, NULL);
            pthread_cond_init(&c.free_cv, NULL);
            rc = mw_run(&c, fd, path, &sum);
            pthread_cond_destroy(&c.free_cv);
            pthread_cond_destroy(&c.ready_cv);
            pthread_mutex_destroy(&c.lock);
            if (c.pagemap_fd >= 0)
                close(c.pagemap_fd);
            if (rc == 0 && fdatasync(fd) < 0)
                rc = vlog_err(-errno, "%s: fdatasync", path);
            if (close(fd) < 0 && rc == 0)
                rc = vlog_err(-errno, "%s: close", path);
            /* We created it (O_EXCL), so removing a half-written image cannot hit anyone else's
             * file. */
            if (rc < 0)
                unlink(path);
        }
    }
    for (unsigned s = 0; c.slots && s < c.nslots; s++)
        free(c.slots[s].buf);
    free(c.slots);
    free(c.entries);
    free(c.jobs);
    free(c.regions);
    if (rc < 0)
        return rc;

    sum.chunk_size = cs;
    sum.ram_bytes = c.ram;
    sum.chunks_total = c.nchunks;
    if (out)
        *out = sum;
    return 0;
}
