/* bzImage parsing and host-side decompression of its LZ4 payload. */
#ifndef VMRUN_BZIMAGE_H
#define VMRUN_BZIMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a validated bzImage holds; pointers point into the caller's image. */
struct bzimage_info {
    uint16_t version;            /* boot protocol version, e.g. 0x020f */
    const uint8_t *setup_header; /* from offset 0x1f1, to copy into boot_params.hdr */
    size_t setup_header_len;
    const uint8_t *payload; /* compressed vmlinux */
    size_t payload_len;
    const char *payload_format; /* "lz4", "gzip", ... or "unknown" */
};

/* True when img carries the "HdrS" signature of a Linux setup header. */
bool bzimage_detect(const void *img, size_t size);
/* Validate magic, protocol (>= 2.12), 64-bit entry and that every offset lies inside the file. */
int bzimage_parse(const void *img, size_t size, const char *name, struct bzimage_info *out);
/* Decompress a Linux LZ4 (legacy frame + size trailer) payload into a malloc'd buffer. */
int bzimage_decompress_lz4(const uint8_t *payload, size_t len, const char *name, void **out,
                           size_t *out_len);

#endif
