/* The host terminal side of the serial console: raw mode, escape keys, output. */
#ifndef VMRUN_CONSOLE_H
#define VMRUN_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct console;

/* What console_feed() found in the input. */
enum console_event {
    CONSOLE_NONE = 0,
    CONSOLE_QUIT, /* Ctrl-A x */
};

/* Take over in_fd/out_fd; puts a TTY into raw mode when raw is non-zero (restored on destroy). */
int console_create(int in_fd, int out_fd, int raw, struct console **out);
/* Restore the terminal and free; NULL is allowed. */
void console_destroy(struct console *c);
/* Input fd to poll, or -1 once input reached EOF. */
int console_input_fd(const struct console *c);
/* Read available input; bytes for the guest go to buf (*len in: capacity, out: count). */
int console_read(struct console *c, uint8_t *buf, size_t *len, enum console_event *ev);
/* Filter raw bytes for the escape sequence (Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A). */
size_t console_filter(struct console *c, uint8_t *buf, size_t len, enum console_event *ev);
/* Write one guest output byte to the terminal. */
void console_write(struct console *c, uint8_t byte);

#endif
