/* vmrun's command line. Each subcommand has its own getopt_long table; values are validated here
 * so the rest of the program only sees sane configurations. */
#include "vmrun/cli.h"

#include "cli_internal.h"

#include "vmrun/log.h"
#include "vmrun/mem.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_MEM (256ULL << 20)
#define MIN_MEM (16ULL << 20)
#define PAGE_SIZE_4K 4096ULL

static const char usage_text[] =
    "usage: vmrun <command> [options]\n"
    "\n"
    "commands:\n"
    "  boot                      boot a Linux kernel, or the built-in guest when --kernel is "
    "absent\n"
    "  restore DIR [--memory cow|eager|lazy] [--disk N=FILE] [--api-sock P]\n"
    "                            resume the VM saved in DIR (cow: map the image copy-on-write,\n"
    "                            clones share pages; eager: decompress first; lazy: on touch)\n"
    "  snapshot --api-sock P DIR [--diff]\n"
    "                            snapshot the VM serving P into DIR (--diff: only chunks\n"
    "                            changed since its previous snapshot)\n"
    "  pause|resume|status|stop --api-sock P\n"
    "                            control the VM serving P\n"
    "  inspect DIR [--verify] [--json]\n"
    "                            describe a snapshot; --verify rechecks every hash\n"
    "\n"
    "boot options:\n"
    "  -k, --kernel FILE     vmlinux (ELF64) or bzImage (LZ4 payload) to boot;\n"
    "                        default: the built-in guest\n"
    "  -i, --initrd FILE     initial ramdisk\n"
    "  -c, --cmdline STR     kernel command line; default with --kernel:\n"
    "                        \"" VM_DEFAULT_CMDLINE "\" (built-in guest: its options, e.g.\n"
    "                        \"workload=fill mb=512 seed=1 rounds=2\")\n"
    "  -m, --mem SIZE        guest RAM, with K/M/G suffix (bare number: MiB); default 256M\n"
    "  -p, --cpus N          number of vCPUs; default 1\n"
    "  -d, --disk FILE[,ro]  raw disk image as a virtio-blk device (repeatable, up to 8)\n"
    "      --host-cpuid      pass KVM's CPUID through unchanged (by default CMPXCHG16B,\n"
    "                        XSAVE/AVX and SMAP are hidden: this host cannot run them in\n"
    "                        guest ring 0)\n"
    "      --no-hugepages    do not advise transparent huge pages for guest RAM (default:\n"
    "                        advised, so first touches fault 2 MiB at a time)\n"
    "      --no-console-input  do not forward stdin to the serial console\n"
    "      --api-sock PATH   serve the control socket (JSON lines) at PATH\n"
    "      --snapshot-on STR snapshot when the console prints STR (e.g. READY, a prompt)\n"
    "      --snapshot-dir DIR  where --snapshot-on writes\n"
    "      --exit-after-snapshot  end the VM (exit 0) once that snapshot is written\n"
    "      --chunk-size SIZE snapshot memory chunk size, power of 2, 4K..64M; default 256K\n"
    "      --lz4hc           compress snapshots with lz4hc (smaller, slower)\n"
    "\n"
    "  -h, --help            show this help\n"
    "  -V, --version         show the version\n"
    "\n"
    "The serial console is on the terminal; Ctrl-A x quits. vmrun exits with the guest's exit\n"
    "code when the guest powers off, 1 on a VMM error and 2 on bad usage.\n";

const char *cli_usage(void)
{
    return usage_text;
}

int cli_parse_size(const char *s, unsigned shift_default, uint64_t *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno == ERANGE)
        return -ERANGE;
    unsigned shift = shift_default;
    if (*end) {
        switch (toupper((unsigned char)*end)) {
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        case 'T':
            shift = 40;
            break;
        default:
            return -EINVAL;
        }
        end++;
        if (*end == 'i' && end[1] == 'B')
            end += 2;
        else if (*end == 'B')
            end++;
        if (*end)
            return -EINVAL;
    }
    if (shift >= 64 || v > (UINT64_MAX >> shift))
        return -ERANGE;
    *out = (uint64_t)v << shift;
    return 0;
}

int cli_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    if (!s || !isdigit((unsigned char)s[0]))
        return -EINVAL;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno == ERANGE || *end)
        return -EINVAL;
    if (v < min || v > max)
        return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

static const struct option boot_options[] = {
    {"kernel", required_argument, NULL, 'k'},
    {"initrd", required_argument, NULL, 'i'},
    {"cmdline", required_argument, NULL, 'c'},
    {"mem", required_argument, NULL, 'm'},
    {"cpus", required_argument, NULL, 'p'},
    {"hugepages", no_argument, NULL, OPT_HUGEPAGES},
    {"no-hugepages", no_argument, NULL, OPT_NO_HUGEPAGES},
    {"disk", required_argument, NULL, 'd'},
    {"host-cpuid", no_argument, NULL, OPT_HOST_CPUID},
    CLI_HOST_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static int parse_mem(const char *arg, uint64_t *out)
{
    int err = cli_parse_size(arg, 20, out);
    if (err)
        return vlog_err(-EINVAL, "--mem %s: not a size (examples: 512M, 1G)", arg);
    if (*out < MIN_MEM || *out > GM_MAX_RAM)
        return vlog_err(-EINVAL, "--mem %s: must be between %lluM and %lluG", arg, MIN_MEM >> 20,
                        (unsigned long long)(GM_MAX_RAM >> 30));
    if (*out % PAGE_SIZE_4K)
        return vlog_err(-EINVAL, "--mem %s: must be a multiple of 4K", arg);
    return 0;
}

/* FILE or FILE,ro. The path is kept as given (it points into argv). */
static int parse_disk(char *arg, struct vm_config *c)
{
    if (c->ndisks >= VM_MAX_DISKS)
        return vlog_err(-EINVAL, "--disk %s: at most %d disks", arg, VM_MAX_DISKS);
    struct vm_disk *d = &c->disks[c->ndisks];
    char *comma = strrchr(arg, ',');
    d->ro = false;
    if (comma) {
        if (strcmp(comma + 1, "ro") != 0)
            return vlog_err(-EINVAL, "--disk %s: unknown flag '%s' (only ,ro)", arg, comma + 1);
        *comma = '\0';
        d->ro = true;
    }
    if (!*arg)
        return vlog_err(-EINVAL, "--disk: empty file name");
    d->path = arg;
    c->ndisks++;
    return 0;
}

/* getopt's ':' (a value missing) and anything else it rejects, reported in one style. */
int option_error(const char *cmd, int opt, char **argv)
{
    if (opt == ':')
        return vlog_err(-EINVAL, "%s: option %s needs a value", cmd, argv[optind - 1]);
    return vlog_err(-EINVAL, "%s: unknown option %s (see vmrun --help)", cmd, argv[optind - 1]);
}

int parse_chunk_size(const char *arg, uint32_t *out)
{
    uint64_t v;
    if (cli_parse_size(arg, 10, &v) || v < (4u << 10) || v > (64u << 20) || (v & (v - 1)))
        return vlog_err(-EINVAL, "--chunk-size %s: a power of 2 from 4K to 64M", arg);
    *out = (uint32_t)v;
    return 0;
}

/* Options boot and restore share: where the VM is driven from and how it snapshots itself.
 * Returns 1 when opt was one of them (err set on a bad value), 0 otherwise. */
int parse_host_option(int opt, const char *arg, struct vm_config *c, int *err)
{
    switch (opt) {
    case OPT_API_SOCK:
        c->api_sock = arg;
        return 1;
    case OPT_SNAPSHOT_ON:
        c->snapshot_on = arg;
        return 1;
    case OPT_SNAPSHOT_DIR:
        c->snapshot_dir = arg;
        return 1;
    case OPT_EXIT_AFTER:
        c->exit_after_snapshot = true;
        return 1;
    case OPT_CHUNK_SIZE:
        *err = parse_chunk_size(arg, &c->chunk_size);
        return 1;
    case OPT_LZ4HC:
        c->lz4hc = true;
        return 1;
    case OPT_NO_CONSOLE_INPUT:
        c->console_input = false;
        return 1;
    default:
        return 0;
    }
}

/* Checks that span several host options, shared by boot and restore. */
int check_host_options(const struct vm_config *c)
{
    if (c->snapshot_on && !c->snapshot_dir)
        return vlog_err(-EINVAL, "--snapshot-on: needs --snapshot-dir DIR");
    if ((c->snapshot_dir || c->exit_after_snapshot) && !c->snapshot_on)
        return vlog_err(-EINVAL, "--snapshot-dir/--exit-after-snapshot: need --snapshot-on STRING");
    if (c->snapshot_on && (!*c->snapshot_on || strlen(c->snapshot_on) > 255))
        return vlog_err(-EINVAL, "--snapshot-on: must be 1..255 bytes");
    return 0;
}

static int parse_boot(int argc, char **argv, struct cli *out)
{
    struct vm_config *c = &out->vm;
    c->mem_size = DEFAULT_MEM;
    c->ncpus = 1;
    c->console_input = true;
    /* Huge pages by default, as QEMU does: first touches then fault 2 MiB at a time (a 4 GiB
     * guest filling 2 GiB: 1.1 s instead of 5 s here). */
    c->hugepages = true;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:k:i:c:m:p:d:h", boot_options, NULL)) != -1) {
        int err = 0;
        if (parse_host_option(opt, optarg, c, &err)) {
            if (err)
                return err;
            continue;
        }
        switch (opt) {
        case 'k':
            c->kernel_path = optarg;
            break;
        case 'i':
            c->initrd_path = optarg;
            break;
        case 'c':
            c->cmdline = optarg;
            break;
        case 'm':
            err = parse_mem(optarg, &c->mem_size);
            break;
        case 'p':
            if (cli_parse_uint(optarg, 1, VM_MAX_VCPUS, &c->ncpus))
                err = vlog_err(-EINVAL, "--cpus %s: must be a number from 1 to %d", optarg,
                               VM_MAX_VCPUS);
            break;
        case 'd':
            err = parse_disk(optarg, c);
            break;
        case OPT_HOST_CPUID:
            c->cpuid_passthrough = true;
            break;
        case OPT_HUGEPAGES:
            c->hugepages = true;
            break;
        case OPT_NO_HUGEPAGES:
            c->hugepages = false;
            break;
        case 'h':
            out->cmd = CLI_HELP;
            return 0;
        default:
            return option_error("boot", opt, argv);
        }
        if (err)
            return err;
    }
    if (optind < argc)
        return vlog_err(-EINVAL, "boot: unexpected argument %s", argv[optind]);
    if (c->initrd_path && !c->kernel_path)
        return vlog_err(-EINVAL, "--initrd: needs --kernel (the built-in guest takes no initrd)");
    int err = check_host_options(c);
    if (err)
        return err;
    out->cmd = CLI_BOOT;
    return 0;
}

int cli_parse(int argc, char **argv, struct cli *out)
{
    memset(out, 0, sizeof(*out));
    optind = 0; /* GNU: reinitialise getopt, so parsing can run more than once (tests) */
    opterr = 0;
    if (argc < 2)
        return vlog_err(-EINVAL, "no command given (see vmrun --help)");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        out->cmd = CLI_HELP;
        return 0;
    }
    if (!strcmp(cmd, "-V") || !strcmp(cmd, "--version")) {
        out->cmd = CLI_VERSION;
        return 0;
    }
    if (!strcmp(cmd, "boot"))
        return parse_boot(argc - 1, argv + 1, out);
    if (!strcmp(cmd, "restore"))
        return cli_parse_restore(argc - 1, argv + 1, out);
    static const struct {
        const char *name;
        enum cli_command cmd;
    } clients[] = {
        {"snapshot", CLI_SNAPSHOT}, {"pause", CLI_PAUSE}, {"resume", CLI_RESUME},
        {"status", CLI_STATUS},     {"stop", CLI_STOP},   {"inspect", CLI_INSPECT},
    };
    for (size_t i = 0; i < sizeof(clients) / sizeof(clients[0]); i++)
        if (!strcmp(cmd, clients[i].name))
            return cli_parse_client(cmd, clients[i].cmd, argc - 1, argv + 1, out);
    return vlog_err(-EINVAL, "unknown command '%s' (see vmrun --help)", cmd);
}
