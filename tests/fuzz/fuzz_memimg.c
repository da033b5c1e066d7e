/* Fuzz target: the memory.lz4 reader (memimg_open, memimg_read_chunk, memimg_verify).
 *
 * Two hashes guard an image before its fields are trusted: the header hash over bytes [0, 56)
 * stored at 56, and the index hash the caller passes in (kept in vmstate.dtb). A mutated input
 * would almost never match either, so the harness re-seals the header hash in its copy and
 * computes the expected index hash over the region the header declares, as an attacker who
 * writes both files would. The index validation and the chunk reads are then what is tested.
 *
 * The image goes through a memfd opened by its /proc/self/fd path: a regular file, no disk. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../snapshot/memimg_format.h"
#include "vmrun/memimg.h"

/* Chunks are decompressed only for images of at most this much RAM, to keep runs fast. */
#define FUZZ_MAX_READ_RAM (16ULL << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int image_fd = -1;
static char image_path[64];

static void image_init(void)
{
    if (image_fd >= 0)
        return;
    image_fd = memfd_create("fuzz-memimg", MFD_CLOEXEC);
    if (image_fd < 0) {
        perror("memfd_create");
        abort();
    }
    snprintf(image_path, sizeof(image_path), "/proc/self/fd/%d", image_fd);
}

static void image_store(const uint8_t *buf, size_t len)
{
    if (ftruncate(image_fd, 0) < 0 || (len && pwrite(image_fd, buf, len, 0) != (ssize_t)len) ||
        ftruncate(image_fd, (off_t)len) < 0) {
        perror("memfd write");
        abort();
    }
}

/* What a caller may rely on after a successful open; the last line is the format's dense
 * packing: header, payloads and index cover the file exactly. */
static void check_summary(const struct memimg_summary *s, size_t size)
{
    if (s->file_bytes != size || s->chunk_size < MEMIMG_MIN_CHUNK ||
        s->chunk_size > MEMIMG_MAX_CHUNK || s->ram_bytes == 0 ||
        s->chunks_total != (s->ram_bytes + s->chunk_size - 1) / s->chunk_size ||
        s->chunks_data + s->chunks_zero + s->chunks_absent != s->chunks_total ||
        s->uncompressed_bytes > s->ram_bytes ||
        MI_HEADER_SIZE + s->data_bytes + s->chunks_total * MI_ENTRY_SIZE != size)
        abort();
}

static void read_all(struct memimg *m, const struct memimg_summary *s)
{
    if (s->ram_bytes > FUZZ_MAX_READ_RAM)
        return;
    uint8_t *buf = malloc(s->chunk_size);
    if (!buf)
        abort();
    for (uint64_t i = 0; i < s->chunks_total; i++) {
        uint64_t n = memimg_chunk_bytes(m, i);
        int kind = memimg_chunk_kind(m, i);
        if (n == 0 || n > s->chunk_size || kind < 0)
            abort();
        int rc = memimg_read_chunk(m, i, buf, n);
        if (rc > 0 || (kind == MEMIMG_ABSENT && rc != -ENOENT))
            abort();
    }
    /* Out of range must be refused, not read. */
    if (memimg_chunk_kind(m, s->chunks_total) != -EINVAL ||
        memimg_read_chunk(m, s->chunks_total, buf, s->chunk_size) != -EINVAL)
        abort();
    free(buf);
    uint64_t bad = UINT64_MAX;
    int rc = memimg_verify(m, &bad, NULL, NULL);
    if (rc > 0 || (rc < 0 && bad >= s->chunks_total))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    image_init();
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    uint64_t index_hash = 0;
    if (size >= MI_HEADER_SIZE) {
        struct mi_header h;
        mi_header_decode(copy, &h);
        /* mi_header_encode rewrites the magic too: keep a wrong one wrong. */
        int magic_ok = memcmp(copy, MI_MAGIC, MI_MAGIC_LEN) == 0;
        mi_header_encode(&h, copy);
        if (!magic_ok)
            memcpy(copy, data, MI_MAGIC_LEN);
        if (h.index_offset <= size && h.index_length <= size - h.index_offset)
            index_hash = XXH3_64bits(copy + h.index_offset, h.index_length);
    }
    image_store(copy, size);
    free(copy);

    struct memimg *m = NULL;
    int rc = memimg_open(image_path, index_hash, &m);
    if (rc > 0 || (rc == 0) != (m != NULL))
        abort();
    if (rc == 0) {
        struct memimg_summary s;
        memimg_get_summary(m, &s);
        check_summary(&s, size);
        read_all(m, &s);
    }
    memimg_close(m);
    return 0;
}
