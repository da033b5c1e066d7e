/* bzImage: validate the setup header, find the compressed payload and, when it is LZ4 (as in
 * Debian's kernels), decompress it on the host into the vmlinux ELF it wraps. Decompressing here
 * is far faster than letting the guest's ring-0 decompressor run under emulation. */
#include "vmrun/bzimage.h"

#include "vmrun/log.h"

#include <errno.h>
#include <lz4.h>
#include <stdlib.h>
#include <string.h>

#define HDR_OFFSET 0x1f1
#define OFF_SETUP_SECTS 0x1f1
#define OFF_BOOT_FLAG 0x1fe
#define OFF_JUMP 0x200
#define OFF_HEADER 0x202
#define OFF_VERSION 0x206
#define OFF_LOADFLAGS 0x211
#define OFF_XLOADFLAGS 0x236
#define OFF_PAYLOAD_OFFSET 0x248
#define OFF_PAYLOAD_LENGTH 0x24c
#define MIN_VERSION 0x020c
#define XLF_KERNEL_64 0x1
#define LOADED_HIGH_FLAG 0x1
#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20)
#define VMLINUX_MAX (1u << 30)

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

bool bzimage_detect(const void *img, size_t size)
{
    return size >= OFF_HEADER + 4 && memcmp((const uint8_t *)img + OFF_HEADER, "HdrS", 4) == 0;
}

static const char *payload_format(const uint8_t *p, size_t len)
{
    static const struct {
        const char *name;
        const char *magic;
        size_t n;
    } formats[] = {
        {"gzip", "\x1f\x8b", 2},
        {"bzip2", "BZh", 3},
        {"lzma", "\x5d\x00\x00", 3},
        {"xz",
         "\xfd"
         "7zXZ",
         5},
        {"lzo", "\x89LZO", 4},
        {"zstd", "\x28\xb5\x2f\xfd", 4},
        {"lz4", "\x02\x21\x4c\x18", 4},
    };
    for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
        if (len >= formats[i].n && memcmp(p, formats[i].magic, formats[i].n) == 0)
            return formats[i].name;
    return "unknown";
}

int bzimage_parse(const void *img, size_t size, const char *name, struct bzimage_info *out)
{
    const uint8_t *b = img;
    if (!bzimage_detect(img, size) || size < OFF_PAYLOAD_LENGTH + 4)
        return vlog_err(-ENOEXEC, "%s: no bzImage setup header (\"HdrS\" at 0x202)", name);
    if (le16(b + OFF_BOOT_FLAG) != 0xaa55)
        return vlog_err(-ENOEXEC, "%s: setup header boot_flag is not 0xaa55", name);
    uint16_t version = le16(b + OFF_VERSION);
    if (version < MIN_VERSION)
        return vlog_err(-ENOEXEC, "%s: boot protocol %u.%02u is too old (need 2.12 or later)", name,
                        version >> 8, version & 0xff);
    if (!(b[OFF_LOADFLAGS] & LOADED_HIGH_FLAG))
        return vlog_err(-ENOEXEC, "%s: loadflags lack LOADED_HIGH (not a bzImage)", name);
    if (!(le16(b + OFF_XLOADFLAGS) & XLF_KERNEL_64))
        return vlog_err(-ENOEXEC, "%s: xloadflags lack XLF_KERNEL_64 (no 64-bit entry)", name);

    /* The header's own length is given by the jump at 0x200: it ends at 0x202 + that byte. */
    size_t hdr_end = OFF_HEADER + b[OFF_JUMP + 1];
    if (hdr_end > size || hdr_end <= OFF_PAYLOAD_LENGTH + 4)
        return vlog_err(-ENOEXEC, "%s: setup header length 0x%zx is invalid", name, hdr_end);
    unsigned setup_sects = b[OFF_SETUP_SECTS] ? b[OFF_SETUP_SECTS] : 4;
    uint64_t pm_start = (uint64_t)(setup_sects + 1) * 512;
    uint64_t poff = le32(b + OFF_PAYLOAD_OFFSET), plen = le32(b + OFF_PAYLOAD_LENGTH);
    uint64_t pstart, pend;
    if (pm_start > size || __builtin_add_overflow(pm_start, poff, &pstart) ||
        __builtin_add_overflow(pstart, plen, &pend) || pend > size || plen < 8)
        return vlog_err(-ENOEXEC,
                        "%s: payload (offset 0x%llx, length 0x%llx) lies outside the file "
                        "(%zu bytes)",
                        name, (unsigned long long)poff, (unsigned long long)plen, size);
    memset(out, 0, sizeof(*out));
    out->version = version;
    out->setup_header = b + HDR_OFFSET;
    out->setup_header_len = hdr_end - HDR_OFFSET;
    out->payload = b + pstart;
    out->payload_len = (size_t)plen;
    out->payload_format = payload_format(out->payload, out->payload_len);
    return 0;
}

/* Linux's LZ4 payload is the legacy frame format (lz4 -l) followed by the 32-bit little-endian
 * size of the decompressed data. */
int bzimage_decompress_lz4(const uint8_t *p, size_t len, const char *name, void **out,
                           size_t *out_len)
{
    if (len < 8 || le32(p) != LZ4_LEGACY_MAGIC)
        return vlog_err(-ENOEXEC, "%s: payload is not LZ4 legacy format", name);
    uint32_t total = le32(p + len - 4);
    if (total == 0 || total > VMLINUX_MAX)
        return vlog_err(-ENOEXEC, "%s: LZ4 payload claims %u decompressed bytes", name, total);
    uint8_t *dst = malloc(total);
    if (!dst)
        return -ENOMEM;
    size_t in = 4, done = 0, end = len - 4;
    int err = 0;
    while (in < end && !err) {
        if (end - in < 4) {
            err = vlog_err(-ENOEXEC, "%s: LZ4 payload: truncated block header at 0x%zx", name, in);
            break;
        }
        uint32_t chunk = le32(p + in);
        in += 4;
        if (chunk == LZ4_LEGACY_MAGIC)
            continue; /* concatenated frames */
        if (chunk == 0 || chunk > end - in ||
            chunk > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK)) {
            err = vlog_err(-ENOEXEC,
                           "%s: LZ4 payload: block of %u bytes at 0x%zx overruns the "
                           "payload",
                           name, chunk, in - 4);
            break;
        }
        size_t room = total - done;
        int n = LZ4_decompress_safe((const char *)p + in, (char *)dst + done, (int)chunk,
                                    room > INT32_MAX ? INT32_MAX : (int)room);
        if (n < 0) {
            err = vlog_err(-ENOEXEC, "%s: LZ4 payload: corrupt block at 0x%zx", name, in - 4);
            break;
        }
        done += (size_t)n;
        in += chunk;
    }
    if (!err && done != total)
        err = vlog_err(-ENOEXEC, "%s: LZ4 payload decompressed to %zu bytes, header says %u", name,
                       done, total);
    if (err) {
        free(dst);
        return err;
    }
    *out = dst;
    *out_len = done;
    return 0;
}
