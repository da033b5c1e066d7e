/* vmrun: the command-line entry point. The only place that exits. */
#include "vmrun/api.h"
#include "vmrun/cli.h"
#include "vmrun/guest.h"
#include "vmrun/inspect.h"
#include "vmrun/log.h"
#include "vmrun/vm.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define EXIT_VMM_ERROR 1
#define EXIT_USAGE 2
#define CLIENT_TIMEOUT_MS 120000 /* a big snapshot to a slow disk takes a while */

static int cmd_boot(struct vm_config *cfg)
{
    if (!cfg->kernel_path) {
        cfg->builtin_image = vmrun_guest_image;
        cfg->builtin_size = vmrun_guest_image_size;
    }
    struct vm *vm;
    if (vm_create(cfg, &vm) != 0)
        return EXIT_VMM_ERROR;
    int code = 0;
    int err = vm_run(vm, &code);
    vm_destroy(vm);
    return err ? EXIT_VMM_ERROR : code;
}

#define EXIT_BAD_SNAPSHOT 2

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* t0: when main() started, so the figure is what a user launching vmrun waits. */
static int cmd_restore(struct cli *c, double t0)
{
    struct vm *vm;
    int err = vm_restore(&c->restore, &c->vm, &vm);
    if (err)
        return c->restore.bad_snapshot ? EXIT_BAD_SNAPSHOT : EXIT_VMM_ERROR;
    /* Reported while the vCPUs are parked (waking them takes microseconds): printed after,
     * it would land in the middle of the guest's first console line. */
    err = vm_prepare(vm);
    if (!err)
        vlog_msg("guest running %.2f ms after vmrun started (restore itself %.2f ms)",
                 now_ms() - t0, c->restore.restore_ms);
    int code = 0;
    if (!err)
        err = vm_run(vm, &code);
    vm_destroy(vm);
    return err ? EXIT_VMM_ERROR : code;
}

/* Send one request, print the reply (JSON) on stdout; exit 0 only when the VM said ok. */
static int cmd_client(const struct cli *c, const char *name)
{
    struct json_object *args = json_object_new_object();
    if (c->cmd == CLI_SNAPSHOT) {
        json_object_object_add(args, "dir", json_object_new_string(c->dir));
        json_object_object_add(args, "diff", json_object_new_boolean(c->diff));
    }
    struct json_object *reply = NULL;
    int err = api_client_call(c->api_sock, name, args, CLIENT_TIMEOUT_MS, &reply);
    json_object_put(args);
    if (err)
        return EXIT_VMM_ERROR;
    struct json_object *ok = NULL, *msg = NULL;
    bool good = json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok);
    if (!good && json_object_object_get_ex(reply, "error", &msg))
        vlog_msg("%s: %s", name, json_object_get_string(msg));
    printf("%s\n", json_object_to_json_string_ext(reply, JSON_C_TO_STRING_PLAIN));
    json_object_put(reply);
    return good ? 0 : EXIT_VMM_ERROR;
}

int main(int argc, char **argv)
{
    double t0 = now_ms();
    struct cli cli;
    if (cli_parse(argc, argv, &cli) != 0)
        return EXIT_USAGE;
    switch (cli.cmd) {
    case CLI_HELP:
        fputs(cli_usage(), stdout);
        return 0;
    case CLI_VERSION:
        printf("vmrun %s\n", VMRUN_VERSION);
        return 0;
    case CLI_BOOT:
        return cmd_boot(&cli.vm);
    case CLI_RESTORE:
        return cmd_restore(&cli, t0);
    case CLI_SNAPSHOT:
        return cmd_client(&cli, "snapshot");
    case CLI_PAUSE:
        return cmd_client(&cli, "pause");
    case CLI_RESUME:
        return cmd_client(&cli, "resume");
    case CLI_STATUS:
        return cmd_client(&cli, "status");
    case CLI_STOP:
        return cmd_client(&cli, "stop");
    case CLI_INSPECT:
        return snapshot_inspect(cli.dir, cli.verify, cli.json, stdout) ? EXIT_VMM_ERROR : 0;
    default:
        return EXIT_USAGE;
    }
}
