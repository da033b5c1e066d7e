/*
 * snapmut: make one hostile snapshot for the restore tests. A flipped byte only ever reaches the
 * hash checks; these mutations change one field and then re-seal every hash that covers it
 * (memory.lz4 header hash, index hash in vmstate.dtb, the dtb's own state-hash), so restore's
 * field checks are what has to catch them.
 *
 *   snapmut DIR CASE     CASE: dtb-version | dtb-vcpus | dtb-queue-size | mem-version |
 *                              mem-chunk-offset | mem-chunk-size
 */
#include <errno.h>
#include <fcntl.h>
#include <libfdt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../snapshot/memimg_format.h"
#include "vmrun/memimg.h"
#include "vmrun/virtio_mmio.h"

struct file {
    char path[4096];
    uint8_t *buf;
    size_t len;
};

static int load(struct file *f, const char *dir, const char *name)
{
    snprintf(f->path, sizeof(f->path), "%s/%s", dir, name);
    int fd = open(f->path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(f->path);
        return -1;
    }
    f->len = (size_t)st.st_size;
    f->buf = malloc(f->len + 1);
    int rc = f->buf && mi_pread_full(fd, f->buf, f->len, 0) == 0 ? 0 : -1;
    close(fd);
    if (rc)
        fprintf(stderr, "%s: read failed\n", f->path);
    return rc;
}

static int store(const struct file *f)
{
    FILE *o = fopen(f->path, "wb");
    int rc = o && fwrite(f->buf, 1, f->len, o) == f->len ? 0 : -1;
    if (o && fclose(o) != 0)
        rc = -1;
    if (rc)
        perror(f->path);
    return rc;
}

/* The rule statetree_build follows: xxh3 of the whole blob with state-hash zeroed. */
static int dtb_reseal(struct file *dtb)
{
    int off = fdt_path_offset(dtb->buf, "/vmrun");
    if (off < 0 || fdt_setprop_inplace_u64(dtb->buf, off, "state-hash", 0) != 0)
        return -1;
    uint64_t h = XXH3_64bits(dtb->buf, dtb->len);
    return fdt_setprop_inplace_u64(dtb->buf, off, "state-hash", h) == 0 ? store(dtb) : -1;
}

static int dtb_set_u32(struct file *dtb, const char *node, const char *prop, uint32_t v)
{
    int off = fdt_path_offset(dtb->buf, node);
    if (off < 0 || fdt_setprop_inplace_u32(dtb->buf, off, prop, v) != 0) {
        fprintf(stderr, "%s: no 32-bit %s/%s\n", dtb->path, node, prop);
        return -1;
    }
    return dtb_reseal(dtb);
}

static int dtb_queue_size(struct file *dtb, uint16_t size)
{
    int off = fdt_path_offset(dtb->buf, "/devices/virtio-blk@0");
    int len;
    const void *p = off < 0 ? NULL : fdt_getprop(dtb->buf, off, "transport", &len);
    if (!p || len != (int)sizeof(struct virtio_mmio_state)) {
        fprintf(stderr, "%s: no /devices/virtio-blk@0/transport\n", dtb->path);
        return -1;
    }
    struct virtio_mmio_state st;
    memcpy(&st, p, sizeof(st));
    st.queues[0].size = size;
    if (fdt_setprop_inplace(dtb->buf, off, "transport", &st, sizeof(st)) != 0)
        return -1;
    return dtb_reseal(dtb);
}

/* Change memory.lz4 (header and/or index) and re-seal the header, index and dtb hashes. */
static int mem_mutate(struct file *mem, struct file *dtb, const char *what)
{
    struct mi_header h;
    if (mem->len < MI_HEADER_SIZE)
        return -1;
    mi_header_decode(mem->buf, &h);
    if (h.index_offset > mem->len || h.index_length != mem->len - h.index_offset)
        return -1;
    uint8_t *index = mem->buf + h.index_offset;
    if (!strcmp(what, "mem-version")) {
        h.version = MEMIMG_VERSION + 1;
    } else if (!strcmp(what, "mem-chunk-size")) {
        h.chunk_size = 3000; /* not a power of 2 */
    } else {
        uint64_t i;
        struct mi_entry e;
        for (i = 0; i < h.chunk_count; i++) {
            mi_entry_decode(index + i * MI_ENTRY_SIZE, &e);
            if (e.kind == MEMIMG_DATA)
                break;
        }
        if (i == h.chunk_count)
            return -1;
        e.offset = mem->len + (1ULL << 30); /* past the end of the file */
        mi_entry_encode(&e, index + i * MI_ENTRY_SIZE);
    }
    mi_header_encode(&h, mem->buf);
    int off = fdt_path_offset(dtb->buf, "/memory");
    uint64_t ih = XXH3_64bits(index, h.index_length);
    if (off < 0 || fdt_setprop_inplace_u64(dtb->buf, off, "index-hash", ih) != 0)
        return -1;
    return store(mem) == 0 ? dtb_reseal(dtb) : -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: snapmut DIR CASE\n");
        return 2;
    }
    const char *dir = argv[1], *what = argv[2];
    struct file dtb = {0}, mem = {0};
    if (load(&dtb, dir, "vmstate.dtb") != 0 || fdt_check_header(dtb.buf) != 0)
        return 1;
    int rc;
    if (!strcmp(what, "dtb-version"))
        rc = dtb_set_u32(&dtb, "/vmrun", "format-version", 99);
    else if (!strcmp(what, "dtb-vcpus"))
        rc = dtb_set_u32(&dtb, "/vm", "vcpus", 100000);
    else if (!strcmp(what, "dtb-queue-size"))
        rc = dtb_queue_size(&dtb, 1024);
    else if (!strncmp(what, "mem-", 4))
        rc = load(&mem, dir, "memory.lz4") == 0 ? mem_mutate(&mem, &dtb, what) : -1;
    else
        return fprintf(stderr, "snapmut: unknown case %s\n", what), 2;
    free(dtb.buf);
    free(mem.buf);
    if (rc)
        fprintf(stderr, "snapmut %s %s: failed\n", dir, what);
    return rc ? 1 : 0;
}
