/* Log formatting and the rate limiter, observed through stderr. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "capture.h"
#include "vmrun/log.h"

static void test_err_format(void **state)
{
    (void)state;
    struct capture c;
    char out[512];
    capture_start(&c);
    int rc = vlog_err(-ENOENT, "open %s", "disk.img");
    int rc2 = vlog_err(EACCES, "kvm");
    capture_end(&c, out, sizeof(out));
    assert_int_equal(rc, -ENOENT);
    assert_int_equal(rc2, EACCES);
    assert_string_equal(out, "vmrun: open disk.img: No such file or directory\n"
                             "vmrun: kvm: Permission denied\n");
}

static void test_msg_format(void **state)
{
    (void)state;
    struct capture c;
    char out[512];
    capture_start(&c);
    vlog_msg("guest exited with code %d", 3);
    capture_end(&c, out, sizeof(out));
    assert_string_equal(out, "vmrun: guest exited with code 3\n");
}

static void test_long_message_truncated_with_newline(void **state)
{
    (void)state;
    struct capture c;
    static char big[4096];
    static char out[8192];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    capture_start(&c);
    vlog_err(-EIO, "%s", big);
    vlog_msg("after");
    size_t n = capture_end(&c, out, sizeof(out));
    char *nl = strchr(out, '\n');
    assert_non_null(nl);
    assert_true(nl - out < 4096);                     /* truncated, not 4 KiB long */
    assert_true(strncmp(out, "vmrun: xxx", 10) == 0); /* prefix kept */
    assert_string_equal(nl + 1, "vmrun: after\n");    /* next line starts cleanly */
    assert_int_equal(n, (size_t)(nl - out) + 1 + strlen("vmrun: after\n"));
}

static void test_unknown_errno(void **state)
{
    (void)state;
    struct capture c;
    char out[512];
    capture_start(&c);
    vlog_err(-99999, "odd");
    capture_end(&c, out, sizeof(out));
    assert_true(strncmp(out, "vmrun: odd: ", 12) == 0);
    assert_non_null(strstr(out, "99999"));
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void test_ratelimit_burst_then_refuse(void **state)
{
    (void)state;
    struct vlog_ratelimit rl = {0};
    for (int i = 0; i < 10; i++)
        assert_true(vlog_ratelimit_ok(&rl));
    for (int i = 0; i < 5; i++)
        assert_false(vlog_ratelimit_ok(&rl));
    assert_int_equal(rl.printed, 10);
    assert_int_equal(rl.suppressed, 5);
}

static void test_ratelimit_new_window_reports_suppressed(void **state)
{
    (void)state;
    struct vlog_ratelimit rl = {0};
    struct capture c;
    char out[512];
    for (int i = 0; i < 17; i++)
        vlog_ratelimit_ok(&rl);
    assert_int_equal(rl.suppressed, 7);

    /* Age the window instead of sleeping; the struct is public precisely so callers embed it. */
    uint64_t now = now_ns();
    assert_true(now > 2000000000ULL);
    rl.window_start_ns = now - 2000000000ULL;
    capture_start(&c);
    int ok1 = vlog_ratelimit_ok(&rl);
    int ok2 = vlog_ratelimit_ok(&rl);
    capture_end(&c, out, sizeof(out));
    assert_true(ok1 && ok2);
    assert_string_equal(out, "vmrun: 7 messages suppressed\n");
    assert_int_equal(rl.suppressed, 0);
    assert_int_equal(rl.printed, 2);

    /* A window that suppressed nothing rolls over silently. */
    rl.window_start_ns = now_ns() - 2000000000ULL;
    capture_start(&c);
    ok1 = vlog_ratelimit_ok(&rl);
    capture_end(&c, out, sizeof(out));
    assert_true(ok1);
    assert_string_equal(out, "");
}

static void test_ratelimit_window_boundary(void **state)
{
    (void)state;
    struct vlog_ratelimit rl = {0};
    for (int i = 0; i < 10; i++)
        assert_true(vlog_ratelimit_ok(&rl));
    /* Well inside the current window (0.5 s old) the limiter still refuses. */
    rl.window_start_ns = now_ns() - 500000000ULL;
    assert_false(vlog_ratelimit_ok(&rl));
    /* Just over one second old: a new window opens. */
    struct capture c;
    char out[512];
    rl.window_start_ns = now_ns() - 1000000001ULL;
    capture_start(&c);
    int ok = vlog_ratelimit_ok(&rl);
    capture_end(&c, out, sizeof(out));
    assert_true(ok);
    assert_string_equal(out, "vmrun: 1 messages suppressed\n");
}

static void test_ratelimit_null(void **state)
{
    (void)state;
    assert_true(vlog_ratelimit_ok(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_format),
        cmocka_unit_test(test_msg_format),
        cmocka_unit_test(test_long_message_truncated_with_newline),
        cmocka_unit_test(test_unknown_errno),
        cmocka_unit_test(test_ratelimit_burst_then_refuse),
        cmocka_unit_test(test_ratelimit_new_window_reports_suppressed),
        cmocka_unit_test(test_ratelimit_window_boundary),
        cmocka_unit_test(test_ratelimit_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
