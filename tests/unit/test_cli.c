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
    assert_true(c.vm.hugepages);
    assert_int_equal(PARSE(&c, "boot", "--no-hugepages"), 0);
    assert_false(c.vm.hugepages);
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

static void test_restore(void **state)
{
    (void)state;
    struct cli c;
    assert_int_equal(PARSE(&c, "restore", "snap"), 0);
    assert_int_equal(c.cmd, CLI_RESTORE);
    assert_string_equal(c.restore.dir, "snap");
    assert_int_equal(c.restore.memory, VM_MEMORY_COW);
    assert_true(c.vm.console_input);
    char d0[] = "0=copy.img", d3[] = "3=other.img";
    assert_int_equal(PARSE(&c, "restore", "--memory", "lazy", "--disk", d0, "snap", "--disk", d3,
                           "--api-sock", "/tmp/s", "--no-console-input"),
                     0);
    assert_int_equal(c.restore.memory, VM_MEMORY_LAZY);
    assert_string_equal(c.restore.disk_override[0], "copy.img");
    assert_string_equal(c.restore.disk_override[3], "other.img");
    assert_null(c.restore.disk_override[1]);
    assert_string_equal(c.vm.api_sock, "/tmp/s");
    assert_false(c.vm.console_input);
    assert_int_equal(PARSE(&c, "restore", "snap", "--memory", "eager"), 0);
    assert_int_equal(c.restore.memory, VM_MEMORY_EAGER);

    char bad1[] = "x.img", bad2[] = "9=x.img", bad3[] = "0=", bad4[] = "a=x";
    assert_int_equal(PARSE(&c, "restore"), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--memory", "fast"), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--disk", bad1), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--disk", bad2), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--disk", bad3), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--disk", bad4), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "other"), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--snapshot-on", "READY"), -EINVAL);
    assert_int_equal(PARSE(&c, "restore", "snap", "--chunk-size", "3K", "--snapshot-on", "x",
                           "--snapshot-dir", "d"),
                     -EINVAL);
}

static void test_clients(void **state)
{
    (void)state;
    struct cli c;
    assert_int_equal(PARSE(&c, "snapshot", "--api-sock", "s", "dir", "--diff"), 0);
    assert_int_equal(c.cmd, CLI_SNAPSHOT);
    assert_true(c.diff);
    assert_string_equal(c.dir, "dir");
    assert_int_equal(PARSE(&c, "inspect", "dir", "--verify", "--json"), 0);
    assert_true(c.verify && c.json);
    assert_int_equal(PARSE(&c, "status", "--api-sock", "s"), 0);
    assert_int_equal(c.cmd, CLI_STATUS);
    assert_int_equal(PARSE(&c, "snapshot", "dir"), -EINVAL);             /* no socket */
    assert_int_equal(PARSE(&c, "snapshot", "--api-sock", "s"), -EINVAL); /* no dir */
    assert_int_equal(PARSE(&c, "pause", "--api-sock", "s", "--diff"), -EINVAL);
    assert_int_equal(PARSE(&c, "inspect", "dir", "--api-sock", "s"), -EINVAL);
    assert_int_equal(PARSE(&c, "status", "--api-sock", "s", "extra"), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_size_suffixes), cmocka_unit_test(test_size_rejects),
        cmocka_unit_test(test_uint),          cmocka_unit_test(test_boot_defaults),
        cmocka_unit_test(test_boot_options),  cmocka_unit_test(test_boot_rejects),
        cmocka_unit_test(test_help_version),  cmocka_unit_test(test_restore),
        cmocka_unit_test(test_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
