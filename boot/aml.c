/* Just enough AML (ACPI Machine Language, ACPI 6.x section 20) to declare virtio-mmio devices:
 *   Scope (\_SB) { Device (VRnn) { Name (_HID, "LNRO0005"); Name (_UID, n);
 *       Name (_CRS, ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
 *                                         Interrupt (ResourceConsumer, Edge, ActiveHigh,
 *                                                    Exclusive) { gsi } }) } }
 * "LNRO0005" is the id Linux's virtio_mmio driver matches in ACPI; kernels without
 * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES (Debian's) find devices only this way. */
#include "vmrun/acpi.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define AML_SCOPE_OP 0x10
#define AML_NAME_OP 0x08
#define AML_BUFFER_OP 0x11
#define AML_STRING_PREFIX 0x0d
#define AML_DWORD_PREFIX 0x0c
#define AML_BYTE_PREFIX 0x0a
#define AML_EXT_OP 0x5b
#define AML_DEVICE_OP 0x82
#define RES_MEMORY32_FIXED 0x86
#define RES_EXT_INTERRUPT 0x89
#define RES_END_TAG 0x79
#define INT_CONSUMER_EDGE_HIGH_EXCLUSIVE 0x03

void acpi_buf_put(struct acpi_buf *b, const void *p, size_t n)
{
    if (b->err)
        return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->len + n)
            cap *= 2;
        uint8_t *d = realloc(b->data, cap);
        if (!d) {
            b->err = -ENOMEM;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void acpi_buf_free(struct acpi_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

static void put8(struct acpi_buf *b, uint8_t v)
{
    acpi_buf_put(b, &v, 1);
}

static void put32(struct acpi_buf *b, uint32_t v)
{
    acpi_buf_put(b, &v, 4); /* AML and resource descriptors are little-endian, as is x86 */
}

/* PkgLength counts itself: 1 byte up to 63, else a lead byte with the count of follow bytes. */
static void put_pkg(struct acpi_buf *out, const struct acpi_buf *body)
{
    size_t n = body->len;
    if (n + 1 < 64) {
        put8(out, (uint8_t)(n + 1));
    } else if (n + 2 < (1u << 12)) {
        size_t t = n + 2;
        put8(out, (uint8_t)(0x40 | (t & 0xf)));
        put8(out, (uint8_t)(t >> 4));
    } else {
        size_t t = n + 3; /* the DSDT never needs the 4-byte form */
        put8(out, (uint8_t)(0x80 | (t & 0xf)));
        put8(out, (uint8_t)(t >> 4));
        put8(out, (uint8_t)(t >> 12));
    }
    acpi_buf_put(out, body->data, body->len);
    if (body->err && !out->err)
        out->err = body->err;
}

static void put_integer(struct acpi_buf *b, uint32_t v)
{
    if (v <= 0xff) {
        put8(b, AML_BYTE_PREFIX);
        put8(b, (uint8_t)v);
    } else {
        put8(b, AML_DWORD_PREFIX);
        put32(b, v);
    }
}

static void build_crs(struct acpi_buf *b, const struct acpi_virtio_dev *d)
{
    uint8_t res[12 + 9 + 2];
    size_t n = 0;
    res[n++] = RES_MEMORY32_FIXED;
    res[n++] = 9; /* length, low byte */
    res[n++] = 0;
    res[n++] = 1; /* read-write */
    uint32_t base = (uint32_t)d->base, size = d->size;
    memcpy(res + n, &base, 4);
    n += 4;
    memcpy(res + n, &size, 4);
    n += 4;
    res[n++] = RES_EXT_INTERRUPT;
    res[n++] = 6;
    res[n++] = 0;
    res[n++] = INT_CONSUMER_EDGE_HIGH_EXCLUSIVE;
    res[n++] = 1; /* one interrupt */
    memcpy(res + n, &d->gsi, 4);
    n += 4;
    res[n++] = RES_END_TAG;
    res[n++] = 0; /* checksum 0: "treat as correct" */

    struct acpi_buf body = {0};
    put_integer(&body, (uint32_t)n);
    acpi_buf_put(&body, res, n);
    put8(b, AML_NAME_OP);
    acpi_buf_put(b, "_CRS", 4);
    put8(b, AML_BUFFER_OP);
    put_pkg(b, &body);
    acpi_buf_free(&body);
}

static void build_device(struct acpi_buf *b, const struct acpi_virtio_dev *d, unsigned idx)
{
    static const char hex[] = "0123456789ABCDEF";
    char seg[4] = {'V', 'R', hex[(idx >> 4) & 0xf], hex[idx & 0xf]};
    struct acpi_buf body = {0};
    acpi_buf_put(&body, seg, 4);
    put8(&body, AML_NAME_OP);
    acpi_buf_put(&body, "_HID", 4);
    put8(&body, AML_STRING_PREFIX);
    acpi_buf_put(&body, "LNRO0005", 9); /* with its NUL terminator */
    put8(&body, AML_NAME_OP);
    acpi_buf_put(&body, "_UID", 4);
    put_integer(&body, idx);
    build_crs(&body, d);
    put8(b, AML_EXT_OP);
    put8(b, AML_DEVICE_OP);
    put_pkg(b, &body);
    acpi_buf_free(&body);
}

int acpi_build_dsdt_aml(const struct acpi_virtio_dev *devs, unsigned ndevs, struct acpi_buf *out)
{
    if (ndevs > 256)
        return -EINVAL;
    struct acpi_buf scope = {0};
    acpi_buf_put(&scope, "\\_SB_", 5);
    for (unsigned i = 0; i < ndevs; i++) {
        if (devs[i].base > UINT32_MAX || devs[i].base + devs[i].size > (1ULL << 32)) {
            acpi_buf_free(&scope);
            return -EINVAL; /* Memory32Fixed cannot describe it */
        }
        build_device(&scope, &devs[i], i);
    }
    put8(out, AML_SCOPE_OP);
    put_pkg(out, &scope);
    acpi_buf_free(&scope);
    return out->err;
}
