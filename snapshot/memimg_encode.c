/*
 * memory.lz4 worker side: classify each chunk of a job (absent / zero / data), compress and hash
 * it into the job's ring slot. Runs on every core while memimg_write.c writes finished jobs out.
 */
#include <lz4.h>
#include <lz4hc.h>
#include <string.h>
#include <xxhash.h>

#include "memimg_writer.h"

#define MW_PAGE 4096u
/* /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst). */
#define MW_PM_PRESENT (1ULL << 63)
#define MW_PM_SWAPPED (1ULL << 62)

typedef uint64_t __attribute__((may_alias)) mw_word;

/* n is a multiple of 4 KiB and p page aligned. The first block decides for most data chunks. */
static bool mw_zero_range(const uint8_t *p, uint64_t n)
{
    const mw_word *w = (const mw_word *)p;
    for (uint64_t i = 0; i < n / sizeof(mw_word); i += 32) {
        mw_word acc = 0;
        for (unsigned k = 0; k < 32; k++)
            acc |= w[i + k];
        if (acc)
            return false;
    }
    return true;
}

/*
 * Anonymous RAM that was never populated reads as zero, so only pages the kernel reports as
 * present or swapped need a look. pagemap rather than mincore: mincore reports a swapped-out
 * anonymous page as not resident, which would silently turn guest data into zeros.
 */
static bool mw_chunk_is_zero(struct mw_worker *w, const uint8_t *src, uint64_t n)
{
    const struct mw_ctx *c = w->c;
    if (w->pagemap) {
        uint64_t pages = n / MW_PAGE;
        uint64_t off = (uintptr_t)src / MW_PAGE * sizeof(uint64_t);
        if (mi_pread_full(c->pagemap_fd, w->pagemap, pages * sizeof(uint64_t), off) == 0) {
            for (uint64_t p = 0; p < pages; p++) {
                if ((w->pagemap[p] & (MW_PM_PRESENT | MW_PM_SWAPPED)) &&
                    !mw_zero_range(src + p * MW_PAGE, MW_PAGE))
                    return false;
            }
            return true;
        }
        /* An unreadable pagemap only costs speed: fall back to scanning. */
    }
    return mw_zero_range(src, n);
}

static void mw_chunk(struct mw_worker *w, uint64_t i, uint8_t *out)
{
    const struct mw_ctx *c = w->c;
    struct mi_entry *e = &c->entries[i];
    memset(e, 0, sizeof(*e));
    if (c->opts->dirty && !((c->opts->dirty[i / 64] >> (i % 64)) & 1)) {
        e->kind = MEMIMG_ABSENT;
        return;
    }
    const uint8_t *src = mw_chunk_host(c, i);
    uint64_t n = mw_chunk_bytes(c, i);
    if (mw_chunk_is_zero(w, src, n)) {
        e->kind = MEMIMG_ZERO;
        return;
    }
    /* A capacity of n - 1 makes lz4 give up (return 0) as soon as the chunk would not shrink,
     * which is also how incompressible chunks are detected without a second pass. */
    int csize = c->opts->hc
                    ? LZ4_compress_HC_extStateHC(w->lz_state, (const char *)src, (char *)out,
                                                 (int)n, (int)n - 1, LZ4HC_CLEVEL_DEFAULT)
                    : LZ4_compress_fast_extState(w->lz_state, (const char *)src, (char *)out,
                                                 (int)n, (int)n - 1, 1);
    e->kind = MEMIMG_DATA;
    if (csize <= 0) {
        e->flags = MI_ENT_RAW;
        e->size = (uint32_t)n;
    } else {
        e->size = (uint32_t)csize;
    }
    e->hash = XXH3_64bits(src, n);
}

void *mw_worker_main(void *arg)
{
    struct mw_worker *w = arg;
    struct mw_ctx *c = w->c;
    for (;;) {
        pthread_mutex_lock(&c->lock);
        if (c->stop || c->next_job >= c->njobs) {
            pthread_mutex_unlock(&c->lock);
            return NULL;
        }
        uint64_t j = c->next_job++;
        struct mw_slot *s = &c->slots[j % c->nslots];
        /* The writer frees slots in job order, so the lowest claimed job never waits. */
        while (!c->stop && s->job != j)
            pthread_cond_wait(&c->free_cv, &c->lock);
        bool stop = c->stop;
        pthread_mutex_unlock(&c->lock);
        if (stop)
            return NULL;

        uint64_t first = c->jobs[j] * c->group_chunks;
        uint64_t end = first + c->group_chunks < c->nchunks ? first + c->group_chunks : c->nchunks;
        for (uint64_t i = first; i < end; i++)
            mw_chunk(w, i, s->buf + (i - first) * c->cs);

        pthread_mutex_lock(&c->lock);
        s->ready = true;
        pthread_cond_signal(&c->ready_cv);
        pthread_mutex_unlock(&c->lock);
    }
}
