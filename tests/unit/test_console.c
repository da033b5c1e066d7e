/* Console escape handling: Ctrl-A x quits, Ctrl-A Ctrl-A is a literal Ctrl-A, split reads work. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/console.h"

#include <string.h>
#include <unistd.h>

static struct console *make(void)
{
    struct console *c;
    assert_int_equal(console_create(-1, -1, 0, &c), 0);
    return c;
}

static void test_plain_bytes_pass(void **state)
{
    (void)state;
    struct console *c = make();
    uint8_t b[] = "ls -l\r";
    enum console_event ev;
    assert_int_equal(console_filter(c, b, 6, &ev), 6);
    assert_int_equal(ev, CONSOLE_NONE);
    assert_memory_equal(b, "ls -l\r", 6);
    console_destroy(c);
}

static void test_quit(void **state)
{
    (void)state;
    struct console *c = make();
    uint8_t b[] = {'a', 0x01, 'x', 'b'};
    enum console_event ev;
    assert_int_equal(console_filter(c, b, sizeof(b), &ev), 1);
    assert_int_equal(ev, CONSOLE_QUIT);
    console_destroy(c);
}

static void test_literal_ctrl_a_and_split(void **state)
{
    (void)state;
    struct console *c = make();
    enum console_event ev;
    uint8_t b1[] = {'a', 0x01};
    assert_int_equal(console_filter(c, b1, sizeof(b1), &ev), 1); /* escape pending */
    uint8_t b2[] = {0x01, 'z'};
    assert_int_equal(console_filter(c, b2, sizeof(b2), &ev), 2);
    assert_int_equal(b2[0], 0x01);
    assert_int_equal(b2[1], 'z');
    uint8_t b3[] = {0x01};
    assert_int_equal(console_filter(c, b3, 1, &ev), 0);
    uint8_t b4[] = {'X'}; /* split across reads, upper case also quits */
    assert_int_equal(console_filter(c, b4, 1, &ev), 0);
    assert_int_equal(ev, CONSOLE_QUIT);
    console_destroy(c);
}

static void test_read_eof(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct console *c;
    assert_int_equal(console_create(p[0], -1, 1, &c), 0); /* raw ignored: not a TTY */
    assert_int_equal(write(p[1], "hi", 2), 2);
    close(p[1]);
    uint8_t buf[8];
    size_t len = sizeof(buf);
    enum console_event ev;
    assert_int_equal(console_read(c, buf, &len, &ev), 0);
    assert_int_equal(len, 2);
    len = sizeof(buf);
    assert_int_equal(console_read(c, buf, &len, &ev), 0);
    assert_int_equal(len, 0);
    assert_int_equal(console_input_fd(c), -1); /* EOF: stop polling */
    console_destroy(c);
    close(p[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_bytes_pass),
        cmocka_unit_test(test_quit),
        cmocka_unit_test(test_literal_ctrl_a_and_split),
        cmocka_unit_test(test_read_eof),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
