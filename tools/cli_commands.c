/* The commands besides boot: restore, and the clients of a running vmrun's control socket
 * (snapshot, pause, resume, status, stop) plus inspect, which reads a snapshot directory. */
#include "cli_internal.h"

#include "vmrun/log.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

static const struct option restore_options[] = {
    {"disk", required_argument, NULL, 'd'},
    {"memory", required_argument, NULL, OPT_MEMORY},
    CLI_HOST_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* N=FILE: disk N of the snapshot comes from FILE instead of the recorded path. */
static int parse_disk_override(char *arg, struct vm_restore_opts *ro)
{
    char *eq = strchr(arg, '=');
    unsigned n;
    if (!eq || eq == arg || !eq[1])
        return vlog_err(-EINVAL, "--disk %s: expected N=FILE", arg);
    *eq = '\0';
    int err = cli_parse_uint(arg, 0, VM_MAX_DISKS - 1, &n);
    *eq = '=';
    if (err)
        return vlog_err(-EINVAL, "--disk %s: N must be 0..%d", arg, VM_MAX_DISKS - 1);
    ro->disk_override[n] = eq + 1;
    return 0;
}

int cli_parse_restore(int argc, char **argv, struct cli *out)
{
    struct vm_config *c = &out->vm;
    struct vm_restore_opts *ro = &out->restore;
    c->console_input = true;
    ro->memory = VM_MEMORY_COW;
    int opt;
    while ((opt = getopt_long(argc, argv, ":d:h", restore_options, NULL)) != -1) {
        int err = 0;
        if (parse_host_option(opt, optarg, c, &err)) {
            if (err)
                return err;
            continue;
        }
        switch (opt) {
        case 'd':
            err = parse_disk_override(optarg, ro);
            break;
        case OPT_MEMORY:
            if (!strcmp(optarg, "cow"))
                ro->memory = VM_MEMORY_COW;
            else if (!strcmp(optarg, "eager"))
                ro->memory = VM_MEMORY_EAGER;
            else if (!strcmp(optarg, "lazy"))
                ro->memory = VM_MEMORY_LAZY;
            else
                err = vlog_err(-EINVAL, "--memory %s: one of cow, eager, lazy", optarg);
            break;
        case 'h':
            out->cmd = CLI_HELP;
            return 0;
        default:
            return option_error("restore", opt, argv);
        }
        if (err)
            return err;
    }
    if (optind < argc)
        ro->dir = argv[optind++];
    if (optind < argc)
        return vlog_err(-EINVAL, "restore: unexpected argument %s", argv[optind]);
    if (!ro->dir || !*ro->dir)
        return vlog_err(-EINVAL, "restore: needs a snapshot directory");
    int err = check_host_options(c);
    if (err)
        return err;
    out->cmd = CLI_RESTORE;
    return 0;
}

static const struct option client_options[] = {
    {"api-sock", required_argument, NULL, OPT_API_SOCK},
    {"diff", no_argument, NULL, OPT_DIFF},
    {"verify", no_argument, NULL, OPT_VERIFY},
    {"json", no_argument, NULL, OPT_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* snapshot/pause/resume/status/stop talk to a running vmrun; inspect reads a directory. */
int cli_parse_client(const char *name, enum cli_command cmd, int argc, char **argv, struct cli *out)
{
    int opt;
    while ((opt = getopt_long(argc, argv, ":h", client_options, NULL)) != -1) {
        switch (opt) {
        case OPT_API_SOCK:
            out->api_sock = optarg;
            break;
        case OPT_DIFF:
            out->diff = true;
            break;
        case OPT_VERIFY:
            out->verify = true;
            break;
        case OPT_JSON:
            out->json = true;
            break;
        case 'h':
            out->cmd = CLI_HELP;
            return 0;
        default:
            return option_error(name, opt, argv);
        }
    }
    bool wants_dir = cmd == CLI_SNAPSHOT || cmd == CLI_INSPECT;
    if (wants_dir && optind < argc)
        out->dir = argv[optind++];
    if (optind < argc)
        return vlog_err(-EINVAL, "%s: unexpected argument %s", name, argv[optind]);
    if (wants_dir && (!out->dir || !*out->dir))
        return vlog_err(-EINVAL, "%s: needs a snapshot directory", name);
    if (cmd != CLI_INSPECT && !out->api_sock)
        return vlog_err(-EINVAL, "%s: needs --api-sock PATH of a running vmrun", name);
    if (cmd == CLI_INSPECT && out->api_sock)
        return vlog_err(-EINVAL, "inspect: reads a directory; --api-sock does not apply");
    if (out->diff && cmd != CLI_SNAPSHOT)
        return vlog_err(-EINVAL, "%s: --diff applies to snapshot only", name);
    if ((out->verify || out->json) && cmd != CLI_INSPECT)
        return vlog_err(-EINVAL, "%s: --verify/--json apply to inspect only", name);
    out->cmd = cmd;
    return 0;
}
