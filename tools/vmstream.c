/* vmstream.c - the vmstream command-line tool: entry point and the table of
 * subcommands.
 *
 * Adding a subcommand: write `int cmd_NAME(int argc, char **argv)` and its
 * help text in a new tools/NAME.c (argv[0] is "vmstream NAME"; parse with
 * cli_getopt_reset() and getopt_long, options string starting with ':';
 * report bad options with cli_bad_option; return EXIT_OK, EXIT_REJECTED or
 * EXIT_USAGE), declare both in cli.h, add a row to `commands` below and the
 * file to tools/meson.build. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static int cmd_help(int argc, char **argv);

static const char cli_help_help[] =
    "Usage: vmstream help [COMMAND]\n"
    "\n"
    "Show the list of commands, or the help of COMMAND.\n";

static const cli_command commands[] = {
    {"encode", cmd_encode, "frame raw device state into a stream", cli_help_encode},
    {"decode", cmd_decode, "verify a stream and extract its state (all or nothing)",
     cli_help_decode},
    {"verify", cmd_verify, "verify a stream completely, write nothing", cli_help_verify},
    {"inspect", cmd_inspect, "show a stream's header, descriptor and records",
     cli_help_inspect},
    {"keygen", cmd_keygen, "make an Ed25519 key pair or a MAC key", cli_help_keygen},
    {"compat", cmd_compat, "check whether a source device's state suits a target",
     cli_help_compat},
    {"descriptor", cmd_descriptor, "check a device descriptor, convert text <-> binary",
     cli_help_descriptor},
    {"help", cmd_help, "show help for a command", cli_help_help},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static void print_main_help(FILE *out)
{
    fprintf(out,
            "Usage: vmstream COMMAND [OPTIONS] ARGS\n"
            "       vmstream --help | --version\n"
            "\n"
            "Frame, verify and extract VFIO live-migration device state in a\n"
            "self-validating vmstream (libvmstream %s).\n"
            "\n"
            "Commands:\n",
            vms_version());
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n"
            "Run 'vmstream COMMAND --help' for the options of a command.\n"
            "'-' stands for stdin or stdout wherever a file is expected.\n"
            "\n"
            "Exit status: 0 success, 1 stream rejected (malformed, corrupt, over a\n"
            "limit, or refused by policy) or devices incompatible, 2 usage or I/O\n"
            "error.\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0))
        return cli_print_help(cli_help_help);
    if (argc > 2)
        return cli_usage_error("unexpected argument '%s'", argv[2]);
    if (argc == 2) {
        const cli_command *c = find_command(argv[1]);
        if (!c)
            return cli_usage_error("unknown command '%s'", argv[1]);
        return cli_print_help(c->help);
    }
    print_main_help(stdout);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

int main(int argc, char **argv)
{
    cli_signals_init();
    if (argc < 2) {
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0)
        return cmd_help(1, argv);
    if (strcmp(name, "--version") == 0 || strcmp(name, "-V") == 0) {
        printf("vmstream %s\n", vms_version());
        printf("features: zlib%s%s, MAC (BLAKE2b)\n", cli_have_zstd() ? ", zstd" : "",
               cli_have_ed25519() ? ", Ed25519 (OpenSSL)" : "");
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
    }
    const cli_command *c = find_command(name);
    if (!c) {
        if (name[0] == '-')
            fprintf(stderr, "vmstream: unknown option '%s'\n", name);
        else
            fprintf(stderr, "vmstream: unknown command '%s'\n", name);
        fprintf(stderr, "Try 'vmstream --help' for the list of commands.\n");
        return EXIT_USAGE;
    }
    cli_set_context(c->name);
    /* The subcommand sees argv[0] = "vmstream NAME". */
    char prog[64];
    snprintf(prog, sizeof prog, "vmstream %s", c->name);
    argv[1] = prog;
    int status = c->run(argc - 1, argv + 1);
    if (fflush(stdout) != 0 && status == EXIT_OK) {
        cli_error("cannot write to stdout");
        status = EXIT_USAGE;
    }
    return status;
}
