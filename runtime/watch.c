/* Knuth-Morris-Pratt over the console byte stream: one byte at a time, constant work per byte,
 * no buffering, and a match split across any number of writes is still found. */
#include "vmrun/watch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WATCH_MAX 255

struct watch {
    size_t len, state;
    uint8_t pat[WATCH_MAX];
    size_t fail[WATCH_MAX]; /* length of the longest proper border of pat[0..i] */
};

int watch_create(const char *pattern, struct watch **out)
{
    size_t len = pattern ? strlen(pattern) : 0;
    if (len == 0 || len > WATCH_MAX)
        return -EINVAL;
    struct watch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->len = len;
    memcpy(w->pat, pattern, len);
    for (size_t i = 1, k = 0; i < len; i++) {
        while (k && w->pat[i] != w->pat[k])
            k = w->fail[k - 1];
        if (w->pat[i] == w->pat[k])
            k++;
        w->fail[i] = k;
    }
    *out = w;
    return 0;
}

void watch_destroy(struct watch *w)
{
    free(w);
}

bool watch_feed(struct watch *w, uint8_t b)
{
    while (w->state && w->pat[w->state] != b)
        w->state = w->fail[w->state - 1];
    if (w->pat[w->state] == b)
        w->state++;
    if (w->state == w->len) {
        w->state = w->fail[w->len - 1];
        return true;
    }
    return false;
}
