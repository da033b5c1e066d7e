/* Private to tools/: what the command-line parsers share. */
#ifndef VMRUN_TOOLS_CLI_INTERNAL_H
#define VMRUN_TOOLS_CLI_INTERNAL_H

#include <getopt.h>
#include <stdint.h>

#include "vmrun/cli.h"

/* getopt_long values of options without a short form. */
enum {
    OPT_HUGEPAGES = 256,
    OPT_NO_CONSOLE_INPUT,
    OPT_HOST_CPUID,
    OPT_API_SOCK,
    OPT_SNAPSHOT_ON,
    OPT_SNAPSHOT_DIR,
    OPT_EXIT_AFTER,
    OPT_CHUNK_SIZE,
    OPT_LZ4HC,
    OPT_DIFF,
    OPT_VERIFY,
    OPT_JSON,
    OPT_MEMORY,
    OPT_NO_HUGEPAGES,
};

/* Report getopt's ':' (a value missing) or anything else it rejected, for command cmd. */
int option_error(const char *cmd, int opt, char **argv);
/* --chunk-size: a power of 2 from 4K to 64M. */
int parse_chunk_size(const char *arg, uint32_t *out);
/* The long options parse_host_option() handles, for the option tables of boot and restore. */
#define CLI_HOST_OPTIONS                                                                           \
    {"no-console-input", no_argument, NULL, OPT_NO_CONSOLE_INPUT},                                 \
        {"api-sock", required_argument, NULL, OPT_API_SOCK},                                       \
        {"snapshot-on", required_argument, NULL, OPT_SNAPSHOT_ON},                                 \
        {"snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR},                               \
        {"exit-after-snapshot", no_argument, NULL, OPT_EXIT_AFTER},                                \
        {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},                                   \
    {                                                                                              \
        "lz4hc", no_argument, NULL, OPT_LZ4HC                                                      \
    }

/* Options boot and restore share; 1 when opt was one of them (err set on a bad value). */
int parse_host_option(int opt, const char *arg, struct vm_config *c, int *err);
/* Checks spanning several of those options. */
int check_host_options(const struct vm_config *c);
/* `vmrun restore ...`: argv starts at "restore". */
int cli_parse_restore(int argc, char **argv, struct cli *out);
/* `vmrun snapshot|pause|resume|status|stop|inspect ...`: argv starts at the command. */
int cli_parse_client(const char *name, enum cli_command cmd, int argc, char **argv,
                     struct cli *out);

#endif
