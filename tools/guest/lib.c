/* Ring-3 helpers: console, formatting, memory, command line. */
#include <stdarg.h>
#include "lib.h"

#define LSR_THRE 0x20

void putc_serial(char c)
{
    /* The VMM's UART is always ready; the bound only keeps a broken one from hanging us. */
    for (int i = 0; i < 100000 && !(inb(ABI_COM1_PORT + 5) & LSR_THRE); i++)
        cpu_relax();
    outb(ABI_COM1_PORT, (uint8_t)c);
}

void puts_serial(const char *s)
{
    while (*s)
        putc_serial(*s++);
}

void put_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        putc_serial(s[i]);
}

/* Formatted output goes to a sink: the serial port (buf == NULL) or a bounded buffer. */
struct sink {
    char *buf;
    size_t cap, len; /* buffer mode: capacity (incl. the NUL) and characters stored */
};

static void sink_putc(struct sink *k, char c)
{
    if (!k->buf)
        putc_serial(c);
    else if (k->len + 1 < k->cap)
        k->buf[k->len++] = c;
}

static void sink_puts(struct sink *k, const char *s)
{
    while (*s)
        sink_putc(k, *s++);
}

static void put_num(struct sink *k, uint64_t v, unsigned base, int width, char pad, bool neg)
{
    char buf[24];
    int n = 0;
    do {
        buf[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (neg)
        buf[n++] = '-';
    for (int i = n; i < width; i++)
        sink_putc(k, pad);
    while (n)
        sink_putc(k, buf[--n]);
}

static void vformat(struct sink *k, const char *fmt, va_list ap)
{
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            sink_putc(k, *fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, lng = 0;
        if (*fmt == '0') {
            pad = '0';
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            lng = 1;
            fmt++;
        }
        switch (*fmt) {
        case 'd': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_num(k, v < 0 ? -(uint64_t)v : (uint64_t)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_num(k, v, *fmt == 'u' ? 10 : 16, width, pad, false);
            break;
        }
        case 's': {
            const char *s = va_arg(ap, const char *);
            sink_puts(k, s ? s : "(null)");
            break;
        }
        case 'c':
            sink_putc(k, (char)va_arg(ap, int));
            break;
        case '%':
            sink_putc(k, '%');
            break;
        default:
            return;
        }
    }
}

static void vgprintf(const char *fmt, va_list ap)
{
    struct sink k = {NULL, 0, 0};
    vformat(&k, fmt, ap);
}

void vgsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
    struct sink k = {buf, cap, 0};
    if (!cap)
        return;
    vformat(&k, fmt, ap);
    buf[k.len] = '\0';
}

void gsnprintf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vgsnprintf(buf, cap, fmt, ap);
    va_end(ap);
}

void gprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vgprintf(fmt, ap);
    va_end(ap);
}

void guest_exit(uint32_t code)
{
    outl(ABI_EXIT_PORT, code); /* vmrun stops here */
    if (guest_pvh_boot)
        outl(QEMU_EXIT_PORT, code); /* QEMU's isa-debug-exit (sys.h) */
    for (;;)
        cpu_relax();
}

void fail(uint32_t code, const char *fmt, ...)
{
    va_list ap;
    puts_serial("vmrun guest: ");
    va_start(ap, fmt);
    vgprintf(fmt, ap);
    va_end(ap);
    putc_serial('\n');
    guest_exit(code);
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

void *memset(void *d, int c, size_t n)
{
    void *ret = d;
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
    return ret;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *ret = d;
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return ret;
}

void *memmove(void *d, const void *s, size_t n)
{
    unsigned char *dp = d;
    const unsigned char *sp = s;
    if (dp <= sp || dp >= sp + n)
        return memcpy(d, s, n);
    while (n--)
        dp[n] = sp[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (size_t i = 0; i < n; i++)
        if (x[i] != y[i])
            return x[i] - y[i];
    return 0;
}

bool str_eq(const char *a, size_t alen, const char *b)
{
    return strlen(b) == alen && memcmp(a, b, alen) == 0;
}

bool parse_u64(const char *s, size_t len, uint64_t *out)
{
    unsigned base = 10;
    uint64_t v = 0;
    if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s += 2;
        len -= 2;
    }
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (base == 16 && c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (base == 16 && c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            return false;
        if (__builtin_mul_overflow(v, base, &v) || __builtin_add_overflow(v, d, &v))
            return false;
    }
    *out = v;
    return true;
}

static const char *g_cmdline = "";

void cmdline_set(const char *cmdline)
{
    g_cmdline = cmdline;
}

const char *cmdline_get(void)
{
    return g_cmdline;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

const char *cmdline_next(const char **cursor, size_t *len)
{
    const char *p = *cursor;
    while (is_blank(*p))
        p++;
    const char *tok = p;
    while (*p && !is_blank(*p))
        p++;
    *cursor = p;
    *len = (size_t)(p - tok);
    return *len ? tok : NULL;
}

/* Find the last token "key=..."; returns the token start and its length. */
static const char *find_token(const char *key, size_t *toklen)
{
    size_t klen = strlen(key), len;
    const char *found = NULL, *tok;
    const char *p = g_cmdline;
    *toklen = 0;
    while ((tok = cmdline_next(&p, &len))) {
        if (len > klen && tok[klen] == '=' && memcmp(tok, key, klen) == 0) {
            found = tok;
            *toklen = len;
        }
    }
    return found;
}

const char *opt_str(const char *key, size_t *len)
{
    size_t toklen;
    const char *tok = find_token(key, &toklen);
    size_t klen = strlen(key) + 1;
    if (!tok) {
        *len = 0;
        return NULL;
    }
    *len = toklen - klen;
    return tok + klen;
}

uint64_t opt_u64(const char *key, uint64_t def, uint64_t min, uint64_t max)
{
    size_t toklen, klen = strlen(key) + 1;
    const char *tok = find_token(key, &toklen);
    uint64_t v;
    if (!tok)
        return def;
    if (!parse_u64(tok + klen, toklen - klen, &v) || v < min || v > max) {
        puts_serial("vmrun guest: bad option ");
        put_n(tok, toklen);
        putc_serial('\n');
        guest_exit(EXIT_USAGE);
    }
    return v;
}
