/* CLI and size parsing: every accepted form and every rejection path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vmrun/cli.h"
#include "vmrun/mem.h"

#include <errno.h>
#include <string.h>

static void test_size_suffixes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(cli_parse_size("4096", 0, &v), 0);
    assert_int_equal(v, 4096);
    assert_int_equal(cli_parse_size("256", 20, &v), 0);
    assert_int_equal(v, 256ULL << 20);
    assert_int_equal(cli_parse_size("64K", 0, &v), 0);
    assert_int_equal(v, 64ULL << 10);
    assert_int_equal(cli_parse_size("256M", 0, &v), 0);
    assert_int_equal(v, 256ULL << 20);
    assert_int_equal(cli_parse_size("1g", 0, &v), 0);
    assert_int_equal(v, 1ULL << 30);
    assert_int_equal(cli_parse_size("2T", 0, &v), 0);
    assert_int_equal(v, 2ULL << 40);
    assert_int_equal(cli_parse_size("512MiB", 0, &v), 0);
    assert_int_equal(v, 512ULL << 20);
    assert_int_equal(cli_parse_size("3GB", 0, &v), 0);
    assert_int_equal(v, 3ULL << 30);
}

static void test_size_rejects(void **state)
{
    (void)state;
    uint64_t v = 77;
    assert_int_equal(cli_parse_size("", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size(NULL, 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size("-1M", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size(" 1M", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size("1X", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size("1MM", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size("1Mi", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size("M", 0, &v), -EINVAL);
    assert_int_equal(cli_parse_size("99999999999999999999", 0, &v), -ERANGE);
    assert_int_equal(cli_parse_size("17179869184G", 0, &v), -ERANGE); /* 2^34 G = 2^64 */
    assert_int_equal(cli_parse_size("16777216T", 0, &v), -ERANGE);
    assert_int_equal(v, 77); /* untouched on failure */
}

static void test_uint(void **state)
{
    (void)state;
    unsigned v;
    assert_int_equal(cli_parse_uint("4", 1, 64, &v), 0);
    assert_int_equal(v, 4);
    assert_int_equal(cli_parse_uint("0", 1, 64, &v), -ERANGE);
    assert_int_equal(cli_parse_uint("65", 1, 64, &v), -ERANGE);
    assert_int_equal(cli_parse_uint("4x", 1, 64, &v), -EINVAL);
    assert_int_equal(cli_parse_uint("-4", 1, 64, &v), -EINVAL);
    assert_int_equal(cli_parse_uint("", 1, 64, &v), -EINVAL);
}

#define PARSE(cli, ...)                                                                            \
    ({                                                                                             \
        char *argv_[] = {"vmrun", __VA_ARGS__, NULL};                                              \
        cli_parse((int)(sizeof(argv_) / sizeof(argv_[0])) - 1, argv_, (cli));                      \
    })

static void test_boot_defaults(void **state)
{
    (void)state;
    struct cli c;
    assert_int_equal(PARSE(&c, "boot"), 0);
    assert_int_equal(c.cmd, CLI_BOOT);
    assert_int_equal(c.vm.mem_size, 256ULL << 20);
    assert_int_equal(c.vm.ncpus, 1);
    assert_null(c.vm.kernel_path);
    assert_null(c.vm.cmdline);
    assert_true(c.vm.console_input);
}

static void test_boot_options(void **state)
{
    (void)state;
    struct cli c;
    assert_int_equal(PARSE(&c, "boot", "--kernel", "vmlinux", "--initrd", "rd.img", "--cmdline",
                           "console=ttyS0 x", "--mem", "1G", "--cpus", "2", "--hugepages",
                           "--no-console-input"),
                     0);
    assert_string_equal(c.vm.kernel_path, "vmlinux");
    assert_string_equal(c.vm.initrd_path, "rd.img");
    assert_string_equal(c.vm.cmdline, "console=ttyS0 x");
    assert_int_equal(c.vm.mem_size, 1ULL << 30);
    assert_int_equal(c.vm.ncpus, 2);
    assert_true(c.vm.hugepages);
    assert_false(c.vm.console_input);
    /* Short options and a second parse in the same process (getopt state is reset). */
    assert_int_equal(PARSE(&c, "boot", "-m", "512", "-p", "1", "-c", "workload=fill"), 0);
    assert_int_equal(c.vm.mem_size, 512ULL << 20);
    assert_string_equal(c.vm.cmdline, "workload=fill");
}

static void test_boot_rejects(void **state)
{
    (void)state;
    struct cli c;
    assert_int_equal(PARSE(&c, "boot", "--mem", "1Q"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "--mem", "1M"), -EINVAL);     /* below the minimum */
    assert_int_equal(PARSE(&c, "boot", "--mem", "64G"), -EINVAL);    /* above GM_MAX_RAM */
    assert_int_equal(PARSE(&c, "boot", "--mem", "16385K"), -EINVAL); /* not 4K-aligned */
    assert_int_equal(PARSE(&c, "boot", "--cpus", "0"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "--cpus", "65"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "--cpus", "two"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "--bogus"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "--mem"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "stray"), -EINVAL);
    assert_int_equal(PARSE(&c, "boot", "--initrd", "rd.img"), -EINVAL);
    assert_int_equal(PARSE(&c, "frobnicate"), -EINVAL);
    char *argv[] = {"vmrun", NULL};
    assert_int_equal(cli_parse(1, argv, &c), -EINVAL);
}

static void test_help_version(void **state)
{
    (void)state;
    struct cli c;
    assert_int_equal(PARSE(&c, "--help"), 0);
    assert_int_equal(c.cmd, CLI_HELP);
    assert_int_equal(PARSE(&c, "-h"), 0);
    assert_int_equal(c.cmd, CLI_HELP);
    assert_int_equal(PARSE(&c, "--version"), 0);
    assert_int_equal(c.cmd, CLI_VERSION);
    assert_int_equal(PARSE(&c, "boot", "--help"), 0);
    assert_int_equal(c.cmd, CLI_HELP);
    assert_non_null(strstr(cli_usage(), "--mem SIZE"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_suffixes), cmocka_unit_test(test_size_rejects),
        cmocka_unit_test(test_uint),          cmocka_unit_test(test_boot_defaults),
        cmocka_unit_test(test_boot_options),  cmocka_unit_test(test_boot_rejects),
        cmocka_unit_test(test_help_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
