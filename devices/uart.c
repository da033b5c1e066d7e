/* 16550A UART. Transmission is instantaneous (THR is always empty again right after a write),
 * which is what a serial console wants; the receive side has a real 64-byte FIFO. */
#include "vmrun/uart.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum {
    REG_RBR_THR = 0,
    REG_IER = 1,
    REG_IIR_FCR = 2,
    REG_LCR = 3,
    REG_MCR = 4,
    REG_LSR = 5,
    REG_MSR = 6,
    REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IER_MSI 0x08
#define IIR_NO_INT 0x01
#define IIR_MSI 0x00
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO_BITS 0xc0
#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define LCR_DLAB 0x80
#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MSR_DELTA_MASK 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80

struct uart {
    pthread_mutex_t lock;
    struct uart_host host;
    struct uart_state st;
    int irq_level; /* last level driven, so edges are only sent on change */
};

static void reset_state(struct uart_state *st)
{
    memset(st, 0, sizeof(*st));
    st->iir_pending = IIR_NO_INT;
    st->lsr = LSR_THRE | LSR_TEMT;
    /* A console with nothing attached to the modem lines still looks connected. */
    st->msr = MSR_DCD | MSR_DSR | MSR_CTS;
    st->dll = 0x0c; /* 9600 baud, the conventional power-on divisor */
}

/* Highest-priority pending source, as the IIR reports it. */
static uint8_t pending_source(const struct uart_state *st)
{
    if ((st->ier & IER_RDI) && st->rx_count)
        return IIR_RDI;
    if ((st->ier & IER_THRI) && st->thr_ipending)
        return IIR_THRI;
    if ((st->ier & IER_MSI) && (st->msr & MSR_DELTA_MASK))
        return IIR_MSI;
    return IIR_NO_INT;
}

static void update_irq(struct uart *u)
{
    u->st.iir_pending = pending_source(&u->st);
    int level = u->st.iir_pending != IIR_NO_INT;
    if (level != u->irq_level) {
        u->irq_level = level;
        if (u->host.irq)
            u->host.irq(u->host.ctx, level);
    }
}

static void rx_push(struct uart_state *st, uint8_t byte)
{
    if (st->rx_count >= UART_FIFO_SIZE)
        return; /* overrun: the byte is lost, as on hardware */
    st->rx_fifo[(st->rx_head + st->rx_count) % UART_FIFO_SIZE] = byte;
    st->rx_count++;
    st->lsr |= LSR_DR;
}

static uint8_t rx_pop(struct uart_state *st)
{
    if (!st->rx_count)
        return 0;
    uint8_t byte = st->rx_fifo[st->rx_head];
    st->rx_head = (st->rx_head + 1) % UART_FIFO_SIZE;
    if (--st->rx_count == 0)
        st->lsr &= ~LSR_DR;
    return byte;
}

/* In loopback the modem inputs mirror the modem outputs (Linux probes this). */
static uint8_t read_msr(const struct uart_state *st)
{
    if (!(st->mcr & MCR_LOOP))
        return st->msr;
    uint8_t m = st->msr & MSR_DELTA_MASK;
    if (st->mcr & MCR_RTS)
        m |= MSR_CTS;
    if (st->mcr & MCR_DTR)
        m |= MSR_DSR;
    if (st->mcr & MCR_OUT1)
        m |= MSR_RI;
    if (st->mcr & MCR_OUT2)
        m |= MSR_DCD;
    return m;
}

static void write_reg(struct uart *u, unsigned reg, uint8_t val)
{
    struct uart_state *st = &u->st;
    bool dlab = st->lcr & LCR_DLAB;

    switch (reg) {
    case REG_RBR_THR:
        if (dlab) {
            st->dll = val;
            break;
        }
        if (st->mcr & MCR_LOOP)
            rx_push(st, val);
        else if (u->host.tx)
            u->host.tx(u->host.ctx, val);
        st->thr_ipending = 1; /* sent at once, so THR is empty again */
        break;
    case REG_IER:
        if (dlab) {
            st->dlm = val;
            break;
        }
        /* Enabling the THR interrupt while THR is empty raises it immediately. */
        if (!(st->ier & IER_THRI) && (val & IER_THRI))
            st->thr_ipending = 1;
        st->ier = val & 0x0f;
        break;
    case REG_IIR_FCR:
        st->fcr = val & 0xc9;
        if (val & FCR_CLEAR_RX) {
            st->rx_count = 0;
            st->rx_head = 0;
            st->lsr &= ~LSR_DR;
        }
        break;
    case REG_LCR:
        st->lcr = val;
        break;
    case REG_MCR:
        st->mcr = val & 0x1f;
        break;
    case REG_SCR:
        st->scr = val;
        break;
    default: /* LSR and MSR are read-only */
        break;
    }
    update_irq(u);
}

static uint8_t read_reg(struct uart *u, unsigned reg)
{
    struct uart_state *st = &u->st;
    bool dlab = st->lcr & LCR_DLAB;
    uint8_t val = 0;

    switch (reg) {
    case REG_RBR_THR:
        val = dlab ? st->dll : rx_pop(st);
        break;
    case REG_IER:
        val = dlab ? st->dlm : st->ier;
        break;
    case REG_IIR_FCR:
        val = st->iir_pending;
        if (val == IIR_THRI)
            st->thr_ipending = 0; /* reading IIR acknowledges THR-empty */
        if (st->fcr & FCR_ENABLE)
            val |= IIR_FIFO_BITS;
        break;
    case REG_LCR:
        val = st->lcr;
        break;
    case REG_MCR:
        val = st->mcr;
        break;
    case REG_LSR:
        val = st->lsr;
        break;
    case REG_MSR:
        val = read_msr(st);
        st->msr &= ~MSR_DELTA_MASK;
        break;
    case REG_SCR:
        val = st->scr;
        break;
    }
    update_irq(u);
    return val;
}

void uart_io(void *opaque, uint64_t off, uint8_t *data, uint32_t len, bool is_write)
{
    struct uart *u = opaque;
    if (off > REG_SCR)
        return;
    pthread_mutex_lock(&u->lock);
    /* Wider accesses touch only the addressed register, like the ISA bus does for 8-bit parts. */
    if (is_write) {
        write_reg(u, (unsigned)off, data[0]);
    } else {
        data[0] = read_reg(u, (unsigned)off);
        for (uint32_t i = 1; i < len; i++)
            data[i] = 0xff;
    }
    pthread_mutex_unlock(&u->lock);
}

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    while (n < len && u->st.rx_count < UART_FIFO_SIZE)
        rx_push(&u->st, buf[n++]);
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

void uart_save(struct uart *u, struct uart_state *st)
{
    pthread_mutex_lock(&u->lock);
    *st = u->st;
    pthread_mutex_unlock(&u->lock);
}

int uart_restore(struct uart *u, const struct uart_state *st)
{
    if (st->rx_count > UART_FIFO_SIZE || st->rx_head >= UART_FIFO_SIZE || st->ier > 0x0f ||
        st->mcr > 0x1f || st->thr_ipending > 1)
        return -EINVAL;
    pthread_mutex_lock(&u->lock);
    u->st = *st;
    u->irq_level = -1; /* force the line to be driven to the restored level */
    update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return 0;
}

int uart_create(const struct uart_host *host, const struct uart_state *st, struct uart **out)
{
    struct uart *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    pthread_mutex_init(&u->lock, NULL);
    u->host = *host;
    reset_state(&u->st);
    if (st) {
        int err = uart_restore(u, st);
        if (err) {
            uart_destroy(u);
            return err;
        }
    }
    *out = u;
    return 0;
}

void uart_destroy(struct uart *u)
{
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}
