/* compat.c - `vmstream compat` (the compatibility check of two device
 * descriptors), `vmstream descriptor` (check and convert descriptors), and
 * the loading of descriptor files shared with encode and decode. */
#include "cli.h"
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- loading -------------------------------------------------------------------- */

static const char *display_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "<stdin>" : path;
}

int descriptor_load(const char *path, vms_descriptor **out, vms_descriptor_error *err)
{
    vms_descriptor_error local;
    if (!err)
        err = &local;
    memset(err, 0, sizeof *err);
    *out = NULL;
    uint8_t *buf;
    size_t len;
    /* One byte more than the limit is read, so that the parser reports an
     * over-long file as such. */
    if (read_small_file(path, "descriptor file", VMS_DESC_MAX_TEXT, &buf, &len) != EXIT_OK)
        return EXIT_USAGE;
    int rc = vms_descriptor_parse_text(out, (const char *)buf, len, NULL, err);
    free(buf);
    if (rc == VMS_OK)
        return EXIT_OK;
    if (rc == VMS_E_BAD_DESCRIPTOR) {
        /* doc/COMPAT.md 5.7: tools print FILE:LINE: MESSAGE. */
        cli_error("%s:%lu: %s", display_name(path), (unsigned long)err->line,
                  err->message);
        return EXIT_REJECTED;
    }
    cli_error("cannot parse descriptor file '%s': %s", display_name(path), vms_strerror(rc));
    return EXIT_USAGE;
}

/* ---- compat ------------------------------------------------------------------------ */

const char cli_help_compat[] =
    "Usage: vmstream compat [OPTIONS] SOURCE TARGET\n"
    "\n"
    "Decide whether device state produced by the device that the descriptor\n"
    "SOURCE describes may be loaded into the device that TARGET describes\n"
    "(doc/COMPAT.md).  SOURCE and TARGET are text descriptor files; one of\n"
    "them may be '-' for stdin.\n"
    "\n"
    "Prints, on stdout, 'compatible: ...' or 'incompatible (RULE): REASON',\n"
    "where RULE is the first rule that failed (vendor, device_api, type,\n"
    "major, minor, denied, field_missing, field_rule, field_value) and REASON\n"
    "a sentence naming both values.  Programs should branch on the rule,\n"
    "never on the sentence.  A descriptor that does not parse is reported on\n"
    "stderr as FILE:LINE: MESSAGE.\n"
    "\n"
    "Options:\n"
    "      --json     print one JSON object instead:\n"
    "                 {\"compatible\": true|false, \"rule\": RULE, \"field\": NAME or\n"
    "                  null, \"reason\": REASON, \"source\": FILE, \"target\": FILE,\n"
    "                  \"error\": null}\n"
    "                 (after an error: compatible, rule, field and reason null,\n"
    "                 error {\"file\", \"line\", \"message\"})\n"
    "  -q, --quiet    print nothing; only the exit status tells\n"
    "  -h, --help     show this help\n"
    "\n"
    "Exit status: 0 compatible, 1 incompatible, 2 usage or I/O error, or a\n"
    "descriptor that does not parse.\n";

enum { OPT_JSON = 0x100, OPT_CHECK, OPT_BINARY, OPT_FROM_BINARY };

static const struct option compat_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static void compat_json_error(const char *src, const char *dst, const char *file,
                              const vms_descriptor_error *e)
{
    json_writer j;
    json_init(&j, stdout);
    json_object_begin(&j, NULL);
    json_null(&j, "compatible");
    json_null(&j, "rule");
    json_null(&j, "field");
    json_null(&j, "reason");
    json_string(&j, "source", display_name(src));
    json_string(&j, "target", display_name(dst));
    json_object_begin(&j, "error");
    json_string(&j, "file", file ? display_name(file) : "");
    if (e && e->code != VMS_OK) {
        json_u64(&j, "line", e->line);
        json_string(&j, "message", e->message);
    } else {
        json_null(&j, "line");
        json_string(&j, "message", "the descriptor could not be read");
    }
    json_object_end(&j);
    json_object_end(&j);
    json_finish(&j);
}

int cmd_compat(int argc, char **argv)
{
    bool json = false, quiet = false;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":qh", compat_options, NULL)) != -1) {
        switch (c) {
        case OPT_JSON:
            json = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            return cli_print_help(cli_help_compat);
        default:
            return cli_bad_option(c, argc, argv, compat_options);
        }
    }
    if (argc - optind < 2)
        return cli_usage_error("expected two descriptor files, SOURCE and TARGET");
    if (argc - optind > 2)
        return cli_usage_error("unexpected argument '%s'", argv[optind + 2]);
    const char *src_path = argv[optind], *dst_path = argv[optind + 1];
    if (strcmp(src_path, "-") == 0 && strcmp(dst_path, "-") == 0)
        return cli_usage_error("only one of SOURCE and TARGET can be '-' (stdin)");

    vms_descriptor *src = NULL, *dst = NULL;
    vms_descriptor_error err;
    int st = descriptor_load(src_path, &src, &err);
    const char *bad = src_path;
    if (st == EXIT_OK) {
        st = descriptor_load(dst_path, &dst, &err);
        bad = dst_path;
    }
    if (st != EXIT_OK) {
        if (json && !quiet)
            compat_json_error(src_path, dst_path, bad, st == EXIT_REJECTED ? &err : NULL);
        vms_descriptor_free(src);
        return EXIT_USAGE; /* an invalid descriptor is not an answer */
    }

    vms_compat_result res;
    int rc = vms_compat_check(src, dst, NULL, &res);
    vms_descriptor_free(src);
    vms_descriptor_free(dst);
    if (rc != VMS_OK && rc != VMS_E_INCOMPATIBLE) {
        cli_error("the compatibility check failed: %s: %s", vms_strerror(rc), res.reason);
        return EXIT_USAGE;
    }
    bool ok = rc == VMS_OK;
    if (quiet)
        return ok ? EXIT_OK : EXIT_REJECTED;
    if (json) {
        json_writer j;
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_bool(&j, "compatible", ok);
        json_string(&j, "rule", vms_compat_rule_name(res.rule));
        if (res.field[0])
            json_string(&j, "field", res.field);
        else
            json_null(&j, "field");
        json_string(&j, "reason", res.reason);
        json_string(&j, "source", display_name(src_path));
        json_string(&j, "target", display_name(dst_path));
        json_null(&j, "error");
        json_object_end(&j);
        json_finish(&j);
    } else if (ok) {
        printf("%s\n", res.reason); /* "compatible: ..." */
    } else {
        printf("incompatible (%s): %s\n", vms_compat_rule_name(res.rule), res.reason);
    }
    if (fflush(stdout) != 0) {
        cli_error("cannot write to stdout");
        return EXIT_USAGE;
    }
    return ok ? EXIT_OK : EXIT_REJECTED;
}

/* ---- descriptor ----------------------------------------------------------------------- */

const char cli_help_descriptor[] =
    "Usage: vmstream descriptor [--check] [--json] [-o OUT] FILE\n"
    "       vmstream descriptor --binary -o OUT FILE\n"
    "       vmstream descriptor --from-binary [--json] [-o OUT] FILE\n"
    "\n"
    "Check a device descriptor (doc/COMPAT.md) and convert it between its text\n"
    "form and its canonical binary form (doc/DESCRIPTOR-BINARY.md, the form\n"
    "carried in a stream header).  FILE may be '-' for stdin.\n"
    "\n"
    "Modes:\n"
    "      --check        (the default) parse the text descriptor FILE and\n"
    "                     print its canonical text form; a parse error is\n"
    "                     printed as FILE:LINE: MESSAGE\n"
    "      --binary       write the canonical binary form of the text\n"
    "                     descriptor FILE to OUT\n"
    "      --from-binary  decode the binary descriptor FILE and print its\n"
    "                     canonical text form\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT   write to OUT instead of stdout ('-' = stdout)\n"
    "      --json         print the descriptor as a JSON object: {vendor_id,\n"
    "                     device_api, type, version, accept_types,\n"
    "                     deny_versions, fields: [{name, value, rule}], text}\n"
    "  -h, --help         show this help\n"
    "\n"
    "Exit status: 0 valid, 1 not a valid descriptor, 2 usage or I/O error.\n";

static const struct option descriptor_options[] = {
    {"check", no_argument, NULL, OPT_CHECK},
    {"binary", no_argument, NULL, OPT_BINARY},
    {"from-binary", no_argument, NULL, OPT_FROM_BINARY},
    {"json", no_argument, NULL, OPT_JSON},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* Writes len bytes to out ("-" or NULL = stdout; a file through a temporary
 * file renamed into place). */
static int write_output(const char *out, const void *buf, size_t len, bool binary)
{
    if (!out || strcmp(out, "-") == 0) {
        if (binary && isatty(STDOUT_FILENO) == 1) {
            cli_error("refusing to write a binary descriptor to a terminal; use -o FILE "
                      "or redirect stdout");
            return EXIT_USAGE;
        }
        fflush(stdout);
        if (write_all(STDOUT_FILENO, buf, len) != 0) {
            cli_error("cannot write to stdout: %s", strerror(errno));
            return EXIT_USAGE;
        }
        return EXIT_OK;
    }
    cli_tmpfile t;
    if (tmpfile_create_beside(&t, out) != EXIT_OK)
        return EXIT_USAGE;
    if (write_all(t.fd, buf, len) != 0) {
        cli_error("cannot write '%s': %s", out, strerror(errno));
        tmpfile_discard(&t);
        return EXIT_USAGE;
    }
    return tmpfile_commit(&t, out);
}

/* The JSON rendering of d into a memory buffer, then to out. */
static int write_json(const char *out, const vms_descriptor *d)
{
    char *mem = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&mem, &len);
    if (!f) {
        cli_error("out of memory");
        return EXIT_USAGE;
    }
    json_writer j;
    json_init(&j, f);
    report_descriptor_json(&j, NULL, d, -1);
    json_finish(&j);
    int st = EXIT_USAGE;
    if (fclose(f) == 0)
        st = write_output(out, mem, len, false);
    else
        cli_error("out of memory");
    free(mem);
    return st;
}

int cmd_descriptor(int argc, char **argv)
{
    int mode = OPT_CHECK, modes = 0;
    bool json = false;
    const char *out = NULL;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":o:h", descriptor_options, NULL)) != -1) {
        switch (c) {
        case OPT_CHECK:
        case OPT_BINARY:
        case OPT_FROM_BINARY:
            if (modes++ && mode != c)
                return cli_usage_error("--check, --binary and --from-binary exclude "
                                       "each other");
            mode = c;
            break;
        case OPT_JSON:
            json = true;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            return cli_print_help(cli_help_descriptor);
        default:
            return cli_bad_option(c, argc, argv, descriptor_options);
        }
    }
    const char *path;
    int r = cli_one_operand(argc, argv, "descriptor file FILE", &path);
    if (r != EXIT_OK)
        return r;
    if (mode == OPT_BINARY && json)
        return cli_usage_error("--json does not go with --binary");
    if (mode == OPT_BINARY && !out)
        return cli_usage_error("--binary needs -o OUT");

    vms_descriptor *d = NULL;
    int st;
    if (mode == OPT_FROM_BINARY) {
        uint8_t *buf;
        size_t len;
        if (read_small_file(path, "binary descriptor", VMS_DESC_MAX_BINARY, &buf, &len) !=
            EXIT_OK)
            return EXIT_USAGE;
        vms_descriptor_error err;
        int rc = len > VMS_DESC_MAX_BINARY
                     ? VMS_E_BAD_DESCRIPTOR
                     : vms_descriptor_decode(&d, buf, len, NULL, &err);
        free(buf);
        if (len > VMS_DESC_MAX_BINARY) {
            cli_error("%s: larger than %u bytes: not a binary descriptor",
                      display_name(path), VMS_DESC_MAX_BINARY);
            return EXIT_REJECTED;
        }
        if (rc == VMS_E_BAD_DESCRIPTOR) {
            cli_error("%s: byte %llu: %s", display_name(path),
                      (unsigned long long)err.offset, err.message);
            return EXIT_REJECTED;
        }
        if (rc != VMS_OK) {
            cli_error("cannot decode '%s': %s", display_name(path), vms_strerror(rc));
            return EXIT_USAGE;
        }
    } else {
        st = descriptor_load(path, &d, NULL);
        if (st != EXIT_OK)
            return st;
    }

    if (json) {
        st = write_json(out, d);
    } else if (mode == OPT_BINARY) {
        uint8_t bin[VMS_DESC_MAX_BINARY];
        size_t n = 0;
        int rc = vms_descriptor_encode(d, bin, sizeof bin, &n);
        if (rc != VMS_OK) {
            cli_error("cannot encode the descriptor: %s", vms_strerror(rc));
            st = EXIT_USAGE;
        } else {
            st = write_output(out, bin, n, true);
        }
    } else {
        char text[VMS_DESC_MAX_FORMATTED];
        size_t n = 0;
        int rc = vms_descriptor_format_text(d, text, sizeof text, &n);
        if (rc != VMS_OK) {
            cli_error("cannot format the descriptor: %s", vms_strerror(rc));
            st = EXIT_USAGE;
        } else {
            st = write_output(out, text, n - 1, false);
        }
    }
    vms_descriptor_free(d);
    return st;
}
