/* Eager restore: every chunk decompressed straight into guest RAM before the guest runs. The
 * slowest start but no runtime cost afterwards, and the RAM is ordinary anonymous memory. */
#include "vmrun/restore_mem.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmrun/log.h"
#include "vmrun/mem.h"
#include "vmrun/memchain.h"

#define EAGER_MAX_THREADS 64
#define EAGER_PAGE GM_PAGE_SIZE

struct eager_ctx {
    struct memchain *chain;
    struct guest_mem *mem;
    uint64_t next; /* atomic: next chunk to claim */
    int err;       /* atomic: first error, 0 while none */
};

/* Copy buf to RAM offsets [off, off+len) region by region. Only reached when a chunk straddles
 * two regions, which memimg_write refuses today; kept so a future memory layout cannot turn into
 * silent corruption. */
static int scatter(struct guest_mem *mem, uint64_t off, const uint8_t *buf, uint64_t len)
{
    uint64_t base = 0;
    for (size_t i = 0; i < gm_region_count(mem) && len; i++) {
        struct gm_region r;
        gm_region_get(mem, i, &r);
        if (off < base + r.size) {
            uint64_t n = base + r.size - off < len ? base + r.size - off : len;
            memcpy((uint8_t *)r.host + (off - base), buf, n);
            off += n;
            buf += n;
            len -= n;
        }
        base += r.size;
    }
    return len ? -EFAULT : 0;
}

/*
 * Decompress into the thread's bounce buffer, then copy only the pages that are not all zero.
 * Writing a zero page would fault it in for nothing: each first touch of fresh anonymous memory
 * costs the kernel a page allocation and clear (about 1.5 us here, far more than the copy), and
 * the pages stay unpopulated, so the restored guest's RSS is only what holds data.
 */
static int restore_chunk(struct eager_ctx *x, uint64_t idx, uint8_t **bounce)
{
    uint64_t cs = memchain_chunk_size(x->chain), len = memchain_chunk_bytes(x->chain, idx);
    if (!*bounce && !(*bounce = malloc(cs)))
        return vlog_err(-ENOMEM, "eager restore: chunk %llu", (unsigned long long)idx);
    int err = memchain_read_chunk(x->chain, idx, *bounce, len);
    if (err)
        return err;
    void *dst;
    int rerr = gm_ram_ptr(x->mem, idx * cs, len, &dst);
    if (rerr != 0 && rerr != -EFAULT)
        return vlog_err(rerr, "eager restore: chunk %llu", (unsigned long long)idx);
    /* RAM offsets are multiples of 4 KiB, so is every chunk's length. */
    for (uint64_t p = 0; p < len && !err; p += EAGER_PAGE) {
        if (gm_page_is_zero(*bounce + p))
            continue;
        if (rerr == 0)
            memcpy((uint8_t *)dst + p, *bounce + p, EAGER_PAGE);
        else
            err = scatter(x->mem, idx * cs + p, *bounce + p, EAGER_PAGE);
    }
    if (err)
        vlog_err(err, "eager restore: chunk %llu: outside guest RAM", (unsigned long long)idx);
    return err;
}

static void *eager_worker(void *arg)
{
    struct eager_ctx *x = arg;
    uint64_t n = memchain_nchunks(x->chain);
    uint8_t *bounce = NULL;
    while (!__atomic_load_n(&x->err, __ATOMIC_RELAXED)) {
        uint64_t idx = __atomic_fetch_add(&x->next, 1, __ATOMIC_RELAXED);
        if (idx >= n)
            break;
        /* Fresh anonymous memory already reads as zero; touching it would only cost RSS. */
        if (memchain_kind(x->chain, idx) != MEMIMG_DATA)
            continue;
        int err = restore_chunk(x, idx, &bounce);
        if (err) {
            int none = 0;
            __atomic_compare_exchange_n(&x->err, &none, err, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
        }
    }
    free(bounce);
    return NULL;
}

int restore_eager(struct memchain *c, struct guest_mem *mem, unsigned threads)
{
    if (!c || !mem)
        return -EINVAL;
    if (memchain_ram_bytes(c) != gm_ram_size(mem))
        return vlog_err(-EINVAL, "eager restore: the snapshot holds %llu bytes of RAM, the VM %llu",
                        (unsigned long long)memchain_ram_bytes(c),
                        (unsigned long long)gm_ram_size(mem));
    long n = threads ? (long)threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    if (n > EAGER_MAX_THREADS)
        n = EAGER_MAX_THREADS;
    if ((uint64_t)n > memchain_nchunks(c))
        n = (long)(memchain_nchunks(c) ? memchain_nchunks(c) : 1);

    struct eager_ctx x = {.chain = c, .mem = mem};
    pthread_t tid[EAGER_MAX_THREADS];
    long started = 0;
    /* The calling thread is worker 0, so a failed pthread_create only costs parallelism. */
    for (; started < n - 1; started++)
        if (pthread_create(&tid[started], NULL, eager_worker, &x) != 0)
            break;
    eager_worker(&x);
    for (long i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    return x.err;
}
