/* The console watcher: matches across feeds, overlapping prefixes, repeated occurrences. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/watch.h"

#include <errno.h>
#include <string.h>

static int count(struct watch *w, const char *s)
{
    int n = 0;
    for (size_t i = 0; s[i]; i++)
        n += watch_feed(w, (uint8_t)s[i]);
    return n;
}

static void test_basic(void **state)
{
    (void)state;
    struct watch *w;
    assert_int_equal(watch_create("READY", &w), 0);
    assert_int_equal(count(w, "vmrun guest: up\nREA"), 0);
    assert_int_equal(count(w, "DY\n"), 1); /* split across two writes */
    assert_int_equal(count(w, "READ READY READY"), 2);
    watch_destroy(w);
}

static void test_overlapping_prefix(void **state)
{
    (void)state;
    struct watch *w;
    assert_int_equal(watch_create("aab", &w), 0);
    assert_int_equal(count(w, "aaab"), 1); /* naive restart would miss this */
    watch_destroy(w);
    assert_int_equal(watch_create("abab", &w), 0);
    assert_int_equal(count(w, "ababab"), 2);
    watch_destroy(w);
    assert_int_equal(watch_create("# ", &w), 0);
    assert_int_equal(count(w, "\n~ # "), 1);
    watch_destroy(w);
}

static void test_rejects(void **state)
{
    (void)state;
    struct watch *w;
    char big[300];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(watch_create("", &w), -EINVAL);
    assert_int_equal(watch_create(NULL, &w), -EINVAL);
    assert_int_equal(watch_create(big, &w), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_overlapping_prefix),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
