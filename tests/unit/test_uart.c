/* 16550A behaviour Linux's 8250 driver relies on, and save -> restore -> compare. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/uart.h"

#include <errno.h>
#include <string.h>

struct sink {
    uint8_t out[256];
    size_t nout;
    int level;
    int edges;
};

static void tx(void *ctx, uint8_t b)
{
    struct sink *s = ctx;
    if (s->nout < sizeof(s->out))
        s->out[s->nout++] = b;
}

static void irq(void *ctx, int level)
{
    struct sink *s = ctx;
    s->level = level;
    s->edges++;
}

static struct uart *make(struct sink *s)
{
    memset(s, 0, sizeof(*s));
    struct uart_host h = {.tx = tx, .irq = irq, .ctx = s};
    struct uart *u;
    assert_int_equal(uart_create(&h, NULL, &u), 0);
    return u;
}

static uint8_t rd(struct uart *u, unsigned reg)
{
    uint8_t v = 0;
    uart_io(u, reg, &v, 1, false);
    return v;
}

static void wr(struct uart *u, unsigned reg, uint8_t v)
{
    uart_io(u, reg, &v, 1, true);
}

static void test_transmit(void **state)
{
    (void)state;
    struct sink s;
    struct uart *u = make(&s);
    assert_int_equal(rd(u, 5) & 0x60, 0x60); /* THRE | TEMT */
    wr(u, 0, 'h');
    wr(u, 0, 'i');
    assert_int_equal(s.nout, 2);
    assert_memory_equal(s.out, "hi", 2);
    assert_int_equal(s.level, 0); /* no interrupts enabled */
    uart_destroy(u);
}

static void test_divisor_latch(void **state)
{
    (void)state;
    struct sink s;
    struct uart *u = make(&s);
    wr(u, 3, 0x83); /* DLAB + 8N1 */
    wr(u, 0, 0x01);
    wr(u, 1, 0x02);
    assert_int_equal(rd(u, 0), 0x01);
    assert_int_equal(rd(u, 1), 0x02);
    assert_int_equal(s.nout, 0); /* divisor writes are not output */
    wr(u, 3, 0x03);
    assert_int_equal(rd(u, 1), 0); /* IER again */
    uart_destroy(u);
}

static void test_loopback_probe(void **state)
{
    (void)state;
    struct sink s;
    struct uart *u = make(&s);
    /* Linux autoconfig: MCR = LOOP | OUT2 | RTS must read back MSR = DCD | CTS. */
    wr(u, 4, 0x1a);
    assert_int_equal(rd(u, 6) & 0xf0, 0x90);
    wr(u, 4, 0x1f);
    assert_int_equal(rd(u, 6) & 0xf0, 0xf0);
    wr(u, 0, 'z'); /* looped back, not transmitted */
    assert_int_equal(s.nout, 0);
    assert_int_equal(rd(u, 5) & 1, 1);
    assert_int_equal(rd(u, 0), 'z');
    uart_destroy(u);
}

static void test_thr_interrupt(void **state)
{
    (void)state;
    struct sink s;
    struct uart *u = make(&s);
    wr(u, 1, 0x02); /* enable THRE interrupt: fires at once */
    assert_int_equal(s.level, 1);
    assert_int_equal(rd(u, 2) & 0x0f, 0x02);
    assert_int_equal(s.level, 0); /* IIR read acknowledged it */
    assert_int_equal(rd(u, 2) & 0x01, 0x01);
    wr(u, 0, 'a'); /* THR empties again: new interrupt */
    assert_int_equal(s.level, 1);
    uart_destroy(u);
}

static void test_receive_fifo(void **state)
{
    (void)state;
    struct sink s;
    struct uart *u = make(&s);
    wr(u, 2, 0x07); /* enable + clear FIFOs */
    wr(u, 1, 0x01); /* RX interrupt */
    uint8_t big[UART_FIFO_SIZE + 10];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (uint8_t)i;
    assert_int_equal(uart_receive(u, big, sizeof(big)), UART_FIFO_SIZE);
    assert_int_equal(s.level, 1);
    assert_int_equal(rd(u, 2), 0xc4); /* FIFO bits + RX data available */
    for (size_t i = 0; i < UART_FIFO_SIZE; i++)
        assert_int_equal(rd(u, 0), (uint8_t)i);
    assert_int_equal(rd(u, 5) & 1, 0);
    assert_int_equal(s.level, 0);
    assert_int_equal(uart_receive(u, big, 3), 3);
    wr(u, 2, 0x03); /* clear RX FIFO */
    assert_int_equal(rd(u, 5) & 1, 0);
    uart_destroy(u);
}

static void test_save_restore(void **state)
{
    (void)state;
    struct sink s1, s2;
    struct uart *a = make(&s1);
    wr(a, 3, 0x83);
    wr(a, 0, 0x03);
    wr(a, 3, 0x1b);
    wr(a, 7, 0x5a);
    wr(a, 4, 0x0b);
    wr(a, 1, 0x01);
    uart_receive(a, (const uint8_t *)"abc", 3);
    assert_int_equal(rd(a, 0), 'a');

    struct uart_state st, st2;
    uart_save(a, &st);
    struct uart_host h = {.tx = tx, .irq = irq, .ctx = &s2};
    memset(&s2, 0, sizeof(s2));
    struct uart *b;
    assert_int_equal(uart_create(&h, &st, &b), 0);
    assert_int_equal(s2.level, 1); /* pending RX interrupt is re-asserted on restore */
    uart_save(b, &st2);
    assert_memory_equal(&st, &st2, sizeof(st));
    assert_int_equal(rd(b, 0), 'b');
    assert_int_equal(rd(b, 0), 'c');
    assert_int_equal(rd(b, 7), 0x5a);

    st.rx_count = UART_FIFO_SIZE + 1;
    assert_int_equal(uart_restore(b, &st), -EINVAL);
    st.rx_count = 0;
    st.rx_head = UART_FIFO_SIZE;
    assert_int_equal(uart_restore(b, &st), -EINVAL);
    uart_destroy(a);
    uart_destroy(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transmit),       cmocka_unit_test(test_divisor_latch),
        cmocka_unit_test(test_loopback_probe), cmocka_unit_test(test_thr_interrupt),
        cmocka_unit_test(test_receive_fifo),   cmocka_unit_test(test_save_restore),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
