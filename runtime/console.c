/* Host terminal for the serial console. A TTY is put in raw mode so every key reaches the guest;
 * Ctrl-A is the escape key (as in QEMU): Ctrl-A x quits, Ctrl-A Ctrl-A sends a literal Ctrl-A. */
#include "vmrun/console.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#define CTRL_A 0x01

struct console {
    int in_fd, out_fd;
    bool raw_active;
    bool escape; /* previous input byte was Ctrl-A */
    struct termios saved;
};

int console_create(int in_fd, int out_fd, int raw, struct console **out)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    if (raw && in_fd >= 0 && isatty(in_fd) && tcgetattr(in_fd, &c->saved) == 0) {
        struct termios t = c->saved;
        cfmakeraw(&t);
        /* Keep output post-processing so host-side messages still start at column 0. */
        t.c_oflag |= OPOST | ONLCR;
        if (tcsetattr(in_fd, TCSANOW, &t) == 0)
            c->raw_active = true;
    }
    *out = c;
    return 0;
}

void console_destroy(struct console *c)
{
    if (!c)
        return;
    if (c->raw_active)
        tcsetattr(c->in_fd, TCSANOW, &c->saved);
    free(c);
}

int console_input_fd(const struct console *c)
{
    return c->in_fd;
}

size_t console_filter(struct console *c, uint8_t *buf, size_t len, enum console_event *ev)
{
    size_t out = 0;
    *ev = CONSOLE_NONE;
    for (size_t i = 0; i < len; i++) {
        uint8_t b = buf[i];
        if (c->escape) {
            c->escape = false;
            if (b == 'x' || b == 'X') {
                *ev = CONSOLE_QUIT;
                return out;
            }
            if (b == CTRL_A)
                buf[out++] = CTRL_A;
            /* Any other key after Ctrl-A is swallowed, like an unknown escape command. */
            continue;
        }
        if (b == CTRL_A) {
            c->escape = true;
            continue;
        }
        buf[out++] = b;
    }
    return out;
}

int console_read(struct console *c, uint8_t *buf, size_t *len, enum console_event *ev)
{
    *ev = CONSOLE_NONE;
    if (c->in_fd < 0) {
        *len = 0;
        return 0;
    }
    ssize_t n = read(c->in_fd, buf, *len);
    if (n < 0) {
        *len = 0;
        return (errno == EAGAIN || errno == EINTR) ? 0 : -errno;
    }
    if (n == 0) {
        c->in_fd = -1; /* EOF: the guest keeps running without input */
        *len = 0;
        return 0;
    }
    *len = console_filter(c, buf, (size_t)n, ev);
    return 0;
}

void console_write(struct console *c, uint8_t byte)
{
    /* The guest is not slowed by a slow terminal beyond this write; a closed stdout drops output.
     */
    while (write(c->out_fd, &byte, 1) < 0 && errno == EINTR)
        ;
}
