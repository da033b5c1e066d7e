/* Watching the guest's console output for a string (e.g. a shell prompt, or READY). */
#ifndef VMRUN_WATCH_H
#define VMRUN_WATCH_H

#include <stdbool.h>
#include <stdint.h>

struct watch;

/* Watch for pattern (1..255 bytes). */
int watch_create(const char *pattern, struct watch **out);
/* Free; NULL is allowed. */
void watch_destroy(struct watch *w);
/* Feed one output byte; true exactly when it completes an occurrence of the pattern. */
bool watch_feed(struct watch *w, uint8_t byte);

#endif
