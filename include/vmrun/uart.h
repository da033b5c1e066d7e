/* 16550A UART: the serial console. */
#ifndef VMRUN_UART_H
#define VMRUN_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uart;

#define UART_FIFO_SIZE 64

/* Saved registers and receive FIFO: plain data, no pointers, stable layout for snapshots. */
struct uart_state {
    uint8_t ier, iir_pending, lcr, mcr, lsr, msr, scr, dll, dlm, fcr;
    uint8_t thr_ipending; /* THR-empty interrupt latched until IIR read or THR write */
    uint8_t rx_count, rx_head;
    uint8_t rx_fifo[UART_FIFO_SIZE];
};

/* Where the UART's output and interrupt go; lets tests run the UART without a VM. */
struct uart_host {
    void (*tx)(void *ctx, uint8_t byte); /* a byte the guest transmitted */
    void (*irq)(void *ctx, int level);   /* drive the interrupt line */
    void *ctx;
};

/* Create a UART; st NULL means power-on reset state, otherwise restore from st. */
int uart_create(const struct uart_host *host, const struct uart_state *st, struct uart **out);
/* Free the UART; NULL is allowed. */
void uart_destroy(struct uart *u);
/* Bus handler for the 8 registers (off 0..7). */
void uart_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write);
/* Queue input bytes for the guest; returns how many fit in the FIFO. */
size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len);
/* Copy the device state out (thread-safe). */
void uart_save(struct uart *u, struct uart_state *st);
/* Validate st (-EINVAL naming nothing; fields out of range) and load it. */
int uart_restore(struct uart *u, const struct uart_state *st);

#endif
