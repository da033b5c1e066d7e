/* vmrun: the command-line entry point. The only place that exits. */
#include "vmrun/cli.h"
#include "vmrun/guest.h"
#include "vmrun/log.h"
#include "vmrun/vm.h"

#include <stdio.h>
#include <stdlib.h>

#define EXIT_VMM_ERROR 1
#define EXIT_USAGE 2

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

int main(int argc, char **argv)
{
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
    default:
        return EXIT_USAGE;
    }
}
