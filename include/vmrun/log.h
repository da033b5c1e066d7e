/* Error and diagnostic output in the form "vmrun: <what>: <why>". */
#ifndef VMRUN_LOG_H
#define VMRUN_LOG_H

#include <stdint.h>

/* Print "vmrun: <formatted what>: <strerror(-err)>" to stderr; returns err for chaining. */
int vlog_err(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print "vmrun: <formatted message>" to stderr. */
void vlog_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A token bucket so a guest cannot flood stderr. */
struct vlog_ratelimit {
    uint64_t window_start_ns;
    uint32_t printed;
    uint32_t suppressed;
};
/* True when another message may be printed in the current one-second window (10 per window). */
int vlog_ratelimit_ok(struct vlog_ratelimit *rl);

#endif
