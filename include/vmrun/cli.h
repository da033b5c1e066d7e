/* Command-line parsing for the vmrun tool (kept out of main() so it can be unit-tested). */
#ifndef VMRUN_CLI_H
#define VMRUN_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "vmrun/vm.h"

enum cli_command {
    CLI_NONE = 0,
    CLI_HELP,
    CLI_VERSION,
    CLI_BOOT,
    CLI_SNAPSHOT, /* client: ask a running vmrun to snapshot */
    CLI_PAUSE,
    CLI_RESUME,
    CLI_STATUS,
    CLI_STOP,
    CLI_INSPECT,
    CLI_RESTORE,
};

struct cli {
    enum cli_command cmd;
    struct vm_config vm;            /* CLI_BOOT, CLI_RESTORE (host-side options) */
    struct vm_restore_opts restore; /* CLI_RESTORE */
    const char *api_sock;           /* client commands */
    const char *dir;                /* CLI_SNAPSHOT, CLI_INSPECT */
    bool diff;                      /* CLI_SNAPSHOT */
    bool verify, json;              /* CLI_INSPECT */
};

/* Parse "123", "64K", "256M", "1G", "2T" (shift_default applies to bare numbers) into bytes. */
int cli_parse_size(const char *s, unsigned shift_default, uint64_t *out);
/* Parse a decimal unsigned integer in [min, max]. */
int cli_parse_uint(const char *s, unsigned min, unsigned max, unsigned *out);
/* Parse argv; prints "vmrun: <what>: <why>" and returns -EINVAL on bad usage. */
int cli_parse(int argc, char **argv, struct cli *out);
/* The --help text. */
const char *cli_usage(void);

#endif
