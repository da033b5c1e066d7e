/* workload=fill: fill N MiB of RAM with a seed-determined mix of zero, text-like and random
 * pages, print READY, then run R read-hash-rewrite rounds over it and print RESULT.
 * Everything runs in ring 3 at native speed. */
#include "user.h"

#define PAGE_SIZE 4096
#define PAGE_WORDS (PAGE_SIZE / 8)
#define GOLDEN 0x9e3779b97f4a7c15ull

enum page_kind { PAGE_ZERO, PAGE_TEXT, PAGE_RANDOM };

/* Phrases and words for text-like pages: lz4 (fast level) finds the phrases again, so such pages
 * compress about 4.2x in 16 KiB blocks and 4.7x in 64 KiB or larger ones (measured with the lz4
 * CLI). 64 entries: 6 PRNG bits each. */
static const char *const phrases[64] = {
    "the guest writes a page of memory ",
    "and the snapshot keeps it ",
    "while the timer keeps ticking. ",
    "a virtual machine is a process ",
    "that owns some memory and a few threads; ",
    "each vcpu runs until it exits. ",
    "restore maps the image back ",
    "copy on write, ",
    "so clones share the same pages ",
    "until one of them writes. ",
    "the queue holds descriptors ",
    "pointing at buffers in guest memory. ",
    "an interrupt tells the driver ",
    "that the device has finished. ",
    "zero pages cost nothing to store ",
    "and random pages do not compress, ",
    "but text like this shrinks well. ",
    "Lorem ipsum dolor sit amet, ",
    "consectetur adipiscing elit, ",
    "sed do eiusmod tempor incididunt ",
    "ut labore et dolore magna aliqua. ",
    "The quick brown fox ",
    "jumps over the lazy dog. ",
    "Pack my box with five dozen liquor jugs. ",
    "How vexingly quick daft zebras jump! ",
    "kernel ",
    "page ",
    "block ",
    "vector ",
    "register ",
    "buffer ",
    "\n",
    "memory ",
    "device ",
    "timer ",
    "queue ",
    "guest ",
    "state ",
    "value ",
    "image ",
    "after ",
    "before ",
    "again ",
    "never ",
    "always ",
    "under ",
    "over ",
    "through ",
    "one ",
    "two ",
    "three ",
    "four ",
    "five ",
    "six ",
    "seven ",
    "eight ",
    "red ",
    "green ",
    "blue ",
    "black ",
    "white ",
    "north ",
    "south ",
    "east ",
};

/* Half the pages zero, a quarter text, a quarter random; which is which depends on the seed. */
static enum page_kind page_kind(uint64_t key, uint64_t idx)
{
    uint64_t r = mix64(key ^ (idx * GOLDEN)) >> 62;
    return r < 2 ? PAGE_ZERO : r == 2 ? PAGE_TEXT : PAGE_RANDOM;
}

static void fill_random(uint64_t *w, uint64_t state)
{
    for (int i = 0; i < PAGE_WORDS; i++) {
        state += GOLDEN;
        w[i] = mix64(state);
    }
}

static void fill_text(char *p, uint64_t state)
{
    uint64_t r = 0;
    int bits = 0;
    size_t pos = 0;
    while (pos < PAGE_SIZE) {
        if (bits < 6) {
            state += GOLDEN;
            r = mix64(state);
            bits = 64;
        }
        const char *s = phrases[r & 63];
        r >>= 6;
        bits -= 6;
        while (*s && pos < PAGE_SIZE)
            p[pos++] = *s++;
    }
}

/* One round: fold every word into h, and rewrite every non-zero word as a function of itself
 * and h, so the next round depends on this one. Zero words stay zero (zero pages stay clean). */
static uint64_t round_pass(uint64_t *w, uint64_t nwords, uint64_t h)
{
    for (uint64_t i = 0; i < nwords; i++) {
        uint64_t v = w[i];
        h = (h ^ v) * GOLDEN;
        h ^= h >> 29;
        if (v)
            w[i] = v ^ h;
    }
    return h;
}

void workload_fill(const struct guest_env *env)
{
    uint64_t mb = opt_u64("mb", 64, 1, 1ul << 20);
    uint64_t seed = opt_u64("seed", 1, 0, UINT64_MAX);
    uint64_t rounds = opt_u64("rounds", 1, 1, 1000000);
    uint64_t hold = opt_u64("hold", 0, 0, 1ul << 32);
    uint64_t touch_mb = opt_u64("touch_mb", 0, 0, 1ul << 20);
    uint64_t hold2 = opt_u64("hold2", 0, 0, 1ul << 32);
    uint64_t len = mb << 20, npages = len / PAGE_SIZE;
    uint64_t base = ram_region_find(env, len);
    uint64_t key = mix64(seed ^ 0x66696c6c5f6b6579ull);
    uint64_t counts[3] = {0, 0, 0};
    uint64_t h;

    if (!base)
        fail(EXIT_USAGE, "mb=%lu does not fit in RAM", mb);
    if (touch_mb > mb)
        fail(EXIT_USAGE, "touch_mb=%lu is larger than mb=%lu", touch_mb, mb);

    for (uint64_t i = 0; i < npages; i++) {
        char *page = (char *)(base + i * PAGE_SIZE);
        enum page_kind kind = page_kind(key, i);
        uint64_t state = mix64(key + i * 0xd1b54a32d192ed03ull); /* per-page stream */
        counts[kind]++;
        if (kind == PAGE_ZERO)
            memset(page, 0, PAGE_SIZE);
        else if (kind == PAGE_TEXT)
            fill_text(page, state);
        else
            fill_random((uint64_t *)page, state);
    }
    gprintf("vmrun guest: fill %lu MiB at 0x%lx seed=%lu: %lu zero, %lu text, %lu random pages, "
            "ticks %lu\n",
            mb, base, seed, counts[PAGE_ZERO], counts[PAGE_TEXT], counts[PAGE_RANDOM], ticks_now());
    puts_serial("READY\n");
    if (hold)
        wait_ticks(hold);
    /* A controlled amount of dirtying for diff-snapshot benchmarks: one word in every page of
     * the first touch_mb MiB, so exactly those pages change. */
    if (touch_mb) {
        for (uint64_t off = 0; off < touch_mb << 20; off += PAGE_SIZE)
            ((volatile uint64_t *)(base + off))[0] ^= 0x5a5a5a5a5a5a5a5aULL;
        puts_serial("TOUCHED\n");
        if (hold2)
            wait_ticks(hold2);
    }

    h = mix64(key ^ len);
    for (uint64_t r = 0; r < rounds; r++)
        h = round_pass((uint64_t *)base, len / 8, h);
    gprintf("ticks %lu\n", ticks_now());
    gprintf("RESULT %016lx\n", mix64(h));
    guest_exit(EXIT_OK);
}
