/* Diagnostics on stderr as "vmrun: <what>: <why>", plus a rate limiter for guest-triggered logs. */
#include "vmrun/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define VLOG_LINE_MAX 1024
#define VLOG_RATE_BURST 10
#define VLOG_RATE_WINDOW_NS 1000000000ULL

/*
 * Build the whole line on the stack and emit it with one fwrite: stderr is unbuffered, so that is
 * one write(2) and lines from concurrent vCPU threads never interleave mid-line. Long messages
 * are truncated but always keep their newline.
 */
static void vlog_emit(const char *fmt, va_list ap, const char *why)
    __attribute__((format(printf, 1, 0)));
static void vlog_emit(const char *fmt, va_list ap, const char *why)
{
    char line[VLOG_LINE_MAX];
    const size_t room = sizeof(line) - 1; /* the last byte is reserved for '\n' */
    size_t n = 0;
    int r;

    r = snprintf(line, room + 1, "vmrun: ");
    n = r < 0 ? 0 : (size_t)r;
    if (n < room) {
        r = vsnprintf(line + n, room + 1 - n, fmt, ap);
        if (r > 0)
            n += (size_t)r;
    }
    if (why && n < room) {
        r = snprintf(line + n, room + 1 - n, ": %s", why);
        if (r > 0)
            n += (size_t)r;
    }
    if (n > room)
        n = room;
    line[n++] = '\n';
    fwrite(line, 1, n, stderr);
}

int vlog_err(int err, const char *fmt, ...)
{
    char buf[128];
    va_list ap;
    /* GNU strerror_r: no shared static buffer, unlike strerror for unknown values. */
    const char *why = strerror_r(err < 0 ? -err : err, buf, sizeof(buf));

    va_start(ap, fmt);
    vlog_emit(fmt, ap, why);
    va_end(ap);
    return err;
}

void vlog_msg(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog_emit(fmt, ap, NULL);
    va_end(ap);
}

/* Not thread safe by itself: callers sharing one limiter across threads serialise around it. */
int vlog_ratelimit_ok(struct vlog_ratelimit *rl)
{
    struct timespec ts;
    if (!rl)
        return 1;
    /* Without a clock we cannot limit; printing beats silently dropping diagnostics. */
    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0)
        return 1;
    uint64_t now = (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;

    /* window_start_ns == 0 marks a zero-initialised limiter that has never opened a window. */
    if (rl->window_start_ns == 0 || now - rl->window_start_ns >= VLOG_RATE_WINDOW_NS) {
        if (rl->suppressed)
            vlog_msg("%u messages suppressed", (unsigned)rl->suppressed);
        rl->window_start_ns = now;
        rl->printed = 0;
        rl->suppressed = 0;
    }
    if (rl->printed < VLOG_RATE_BURST) {
        rl->printed++;
        return 1;
    }
    if (rl->suppressed < UINT32_MAX)
        rl->suppressed++;
    return 0;
}
