/* decode.c - `vmstream decode` (verify and extract, all or nothing) and
 * `vmstream verify` (verify only). */
#include "cli.h"
#include "progress.h"
#include "report.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cli_help_decode[] =
    "Usage: vmstream decode [OPTIONS] -o OUT IN\n"
    "\n"
    "Verify the vmstream IN and write the device state of one section to OUT.\n"
    "Each record's data is written at its offset within the section; a later\n"
    "record overwrites an earlier one (pre-copy passes resend dirty ranges).\n"
    "\n"
    "All or nothing: records are staged in a temporary file next to OUT, which\n"
    "is renamed to OUT only when the whole stream verified, END record\n"
    "included.  On any rejection OUT is not created or changed and the\n"
    "temporary file is removed.  With -o - the state is written to stdout,\n"
    "again only after the whole stream verified (staged in $TMPDIR), and the\n"
    "same for an OUT that is a device or FIFO (written into, never replaced).\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT        write the state to OUT (required; '-' = stdout)\n"
    "      --section ID        extract this section: a number, or config (1),\n"
    "                          registers (2), memory (3); records of other\n"
    "                          sections are verified and skipped.  Default: the\n"
    "                          section of the first record; a stream holding\n"
    "                          several sections then needs --section\n"
    CLI_DECODER_HELP
    "  -q, --quiet             no progress line\n"
    "  -h, --help              show this help\n"
    "\n"
    "A stream header names its key by key id: the first 8 bytes of\n"
    "BLAKE2b-256(\"libvmstream key id v1\" || key), over the MAC key, or over\n"
    "the Ed25519 public key; a stream by a key not given is refused\n"
    "(VMS_E_UNKNOWN_KEY).  With --target, a refused stream is rejected at its\n"
    "header: nothing is written.\n"
    "\n"
    "IN may be '-' for stdin.  On rejection one line on stderr names the\n"
    "error, the byte offset and the record.\n"
    "\n"
    "Exit status: 0 verified and written, 1 stream rejected, 2 usage or I/O\n"
    "error (including a stream with several sections and no --section).\n";

const char cli_help_verify[] =
    "Usage: vmstream verify [OPTIONS] IN\n"
    "\n"
    "Fully verify the vmstream IN (header, every record, the END record, and\n"
    "that nothing follows it) without writing any state.\n"
    "\n"
    "Options:\n"
    "      --json              print a JSON result object on stdout:\n"
    "                          {input, result, header, descriptor, end, error,\n"
    "                          work}; work: the decoder's batches, hash calls\n"
    "                          and copies (vms_decoder_get_stats)\n"
    CLI_DECODER_HELP
    "  -q, --quiet             no progress line\n"
    "  -h, --help              show this help\n"
    "\n"
    "IN may be '-' for stdin.\n"
    "\n"
    "Exit status: 0 verified, 1 stream rejected, 2 usage or I/O error.\n";

enum { OPT_SECTION = 0x100, OPT_JSON };

static const struct option decode_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"section", required_argument, NULL, OPT_SECTION},
    CLI_DECODER_OPTIONS,
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const struct option verify_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    CLI_DECODER_OPTIONS,
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* ---- decode ------------------------------------------------------------------ */

typedef struct decode_ctx {
    cli_tmpfile tmp;
    bool to_stdout;
    const char *out;     /* the final path, or "-" */
    bool section_given;  /* --section: skip other sections */
    bool section_known;
    uint32_t section;
    uint64_t written;    /* records written */
    bool failed;         /* a callback failed and printed why */
} decode_ctx;

static int on_record(void *vctx, const vms_record *rec)
{
    decode_ctx *c = vctx;
    if (!c->section_known) {
        c->section = rec->section;
        c->section_known = true;
    }
    if (rec->section != c->section) {
        if (c->section_given)
            return 0;
        cli_error("the stream holds state of section %lu and section %lu (record "
                  "%llu); choose one with --section",
                  (unsigned long)c->section, (unsigned long)rec->section,
                  (unsigned long long)rec->index);
        c->failed = true;
        return 1;
    }
    if (rec->offset > (uint64_t)INT64_MAX - rec->len) {
        cli_error("record %llu: section offset %llu is too large for a file",
                  (unsigned long long)rec->index, (unsigned long long)rec->offset);
        c->failed = true;
        return 1;
    }
    const uint8_t *p = rec->data;
    size_t left = rec->len;
    off_t off = (off_t)rec->offset;
    while (left > 0) {
        ssize_t n = pwrite(c->tmp.fd, p, left, off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            cli_error("cannot write the staging file for '%s': %s", c->out,
                      n < 0 ? strerror(errno) : "no progress");
            c->failed = true;
            return 1;
        }
        p += n;
        left -= (size_t)n;
        off += n;
    }
    c->written++;
    return 0;
}

/* Copies the staged state to stdout. */
static int copy_to_stdout(decode_ctx *c)
{
    if (lseek(c->tmp.fd, 0, SEEK_SET) != 0) {
        cli_error("cannot rewind the staging file: %s", strerror(errno));
        return -1;
    }
    uint8_t *buf = malloc(CLI_READ_CHUNK);
    if (!buf) {
        cli_error("out of memory");
        return -1;
    }
    int rc = 0;
    for (;;) {
        ssize_t n = read_full(c->tmp.fd, buf, CLI_READ_CHUNK);
        if (n < 0) {
            cli_error("cannot read the staging file: %s", strerror(errno));
            rc = -1;
            break;
        }
        if (n == 0)
            break;
        if (write_all(STDOUT_FILENO, buf, (size_t)n) != 0) {
            cli_error("cannot write to stdout: %s", strerror(errno));
            rc = -1;
            break;
        }
    }
    free(buf);
    return rc;
}

static int on_commit(void *vctx, const vms_stream_summary *sum)
{
    decode_ctx *c = vctx;
    (void)sum;
    int rc;
    if (c->to_stdout) {
        rc = copy_to_stdout(c);
        tmpfile_discard(&c->tmp);
    } else {
        rc = tmpfile_commit(&c->tmp, c->out) == EXIT_OK ? 0 : -1;
    }
    if (rc != 0)
        c->failed = true;
    return rc != 0;
}

static int on_abort(void *vctx, const vms_error_info *err)
{
    decode_ctx *c = vctx;
    (void)err;
    tmpfile_discard(&c->tmp);
    return 0;
}

/* Maps the result of decoder_run to an exit status, reporting rejections. */
static int finish_status(int rc, const vms_decoder *dec, bool callback_failed,
                         const cli_decode_opts *opts)
{
    if (rc == VMS_END)
        return EXIT_OK;
    if (rc == CLI_READ_FAILED)
        return EXIT_USAGE;
    if (rc == VMS_E_CALLBACK && callback_failed)
        return EXIT_USAGE; /* our callback printed why */
    report_decoder_rejection(dec, opts);
    return exit_status_of(rc);
}

int cmd_decode(int argc, char **argv)
{
    decode_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.tmp.fd = -1;
    cli_decode_opts opts;
    decode_opts_init(&opts);
    bool quiet = false;
    int c, r;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":o:qh", decode_options, NULL)) != -1) {
        if ((r = decode_opts_parse(&opts, c, optarg)) >= 0) {
            if (r != 0)
                return r;
            continue;
        }
        switch (c) {
        case 'o':
            ctx.out = optarg;
            break;
        case OPT_SECTION:
            if (parse_section("--section", optarg, &ctx.section) != 0)
                return EXIT_USAGE;
            ctx.section_given = ctx.section_known = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            return cli_print_help(cli_help_decode);
        default:
            return cli_bad_option(c, argc, argv, decode_options);
        }
    }
    if (!ctx.out)
        return cli_usage_error("missing -o OUT");
    const char *in_path;
    if ((r = cli_one_operand(argc, argv, "input stream IN", &in_path)) != EXIT_OK)
        return r;
    if (decode_opts_check_stdin(&opts, in_path) != 0)
        return EXIT_USAGE;
    ctx.to_stdout = strcmp(ctx.out, "-") == 0;
    if (ctx.to_stdout && isatty(STDOUT_FILENO) == 1) {
        cli_error("refusing to write binary state to a terminal; use -o FILE or "
                  "redirect stdout");
        return EXIT_USAGE;
    }

    cli_input in;
    if (input_open(&in, in_path) != EXIT_OK)
        return EXIT_USAGE;
    vms_decoder_callbacks cb = {NULL, on_record, on_commit, on_abort, &ctx};
    vms_decoder *dec = NULL;
    int status = decoder_setup(&dec, &cb, &opts);
    if (status == EXIT_OK)
        status = ctx.to_stdout ? tmpfile_create_anonymous(&ctx.tmp)
                               : tmpfile_create_beside(&ctx.tmp, ctx.out);
    if (status == EXIT_OK) {
        cli_progress prog;
        progress_begin(&prog, "decode", in.size_known ? in.size : 0, quiet);
        int rc = decoder_run(dec, &in, &prog, 0, NULL, NULL, NULL);
        progress_end(&prog);
        status = finish_status(rc, dec, ctx.failed, &opts);
        if (status == EXIT_OK && ctx.section_given && ctx.written == 0)
            cli_error("warning: the stream holds no record of section %lu; the output "
                      "is empty", (unsigned long)ctx.section);
    }
    vms_decoder_free(dec); /* fires on_abort unless committed */
    tmpfile_discard(&ctx.tmp);
    input_close(&in);
    decode_opts_free(&opts);
    return status;
}

/* ---- verify ------------------------------------------------------------------- */

int cmd_verify(int argc, char **argv)
{
    cli_decode_opts opts;
    decode_opts_init(&opts);
    bool quiet = false, json = false;
    int c, r;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":qh", verify_options, NULL)) != -1) {
        if ((r = decode_opts_parse(&opts, c, optarg)) >= 0) {
            if (r != 0)
                return r;
            continue;
        }
        switch (c) {
        case OPT_JSON:
            json = true;
            break;
        case 'q':
            quiet = true;
            break;
        case 'h':
            return cli_print_help(cli_help_verify);
        default:
            return cli_bad_option(c, argc, argv, verify_options);
        }
    }
    const char *in_path;
    if ((r = cli_one_operand(argc, argv, "input stream IN", &in_path)) != EXIT_OK)
        return r;
    if (decode_opts_check_stdin(&opts, in_path) != 0)
        return EXIT_USAGE;

    cli_input in;
    if (input_open(&in, in_path) != EXIT_OK)
        return EXIT_USAGE;
    vms_decoder *dec = NULL;
    int status = decoder_setup(&dec, NULL, &opts);
    if (status != EXIT_OK) {
        input_close(&in);
        decode_opts_free(&opts);
        return status;
    }
    cli_progress prog;
    progress_begin(&prog, "verify", in.size_known ? in.size : 0, quiet || json);
    int rc = decoder_run(dec, &in, &prog, 0, NULL, NULL, NULL);
    progress_end(&prog);
    status = finish_status(rc, dec, false, &opts);

    if (json) {
        json_writer j;
        json_init(&j, stdout);
        json_object_begin(&j, NULL);
        json_string(&j, "input", in.name);
        json_string(&j, "result", status == EXIT_OK         ? "ok"
                                  : status == EXIT_REJECTED ? "rejected"
                                                            : "error");
        const vms_header_info *h = vms_decoder_header(dec);
        if (h)
            report_header_json(&j, "header", h, true);
        else
            json_null(&j, "header");
        const vms_descriptor *d = h ? vms_decoder_descriptor(dec) : NULL;
        if (d)
            report_descriptor_json(&j, "descriptor", d, true);
        else
            json_null(&j, "descriptor");
        const vms_stream_summary *s = vms_decoder_summary(dec);
        if (s && status == EXIT_OK)
            report_summary_json(&j, "end", s);
        else
            json_null(&j, "end");
        const vms_error_info *e = vms_decoder_error(dec);
        if (rc == CLI_READ_FAILED) {
            vms_error_info io = {VMS_E_IO, vms_decoder_offset(dec), UINT64_MAX,
                                 "reading the input failed"};
            report_error_json(&j, "error", &io);
        } else if (e->code != VMS_OK) {
            report_error_json(&j, "error", e);
        } else {
            json_null(&j, "error");
        }
        report_work_json(&j, "work", vms_decoder_get_stats(dec));
        json_object_end(&j);
        json_finish(&j);
        if (ferror(stdout) && status == EXIT_OK) {
            cli_error("cannot write to stdout");
            status = EXIT_USAGE;
        }
    }
    vms_decoder_free(dec);
    input_close(&in);
    decode_opts_free(&opts);
    return status;
}
