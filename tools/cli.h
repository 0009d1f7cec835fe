/* cli.h - declarations shared by the vmstream command-line tool's sources.
 *
 * The tool is a table of subcommands (vmstream.c); each one lives in its own
 * source file and uses the helpers of common.c (argument parsing, files,
 * keys, the decoder driver, error reporting), json.c and progress.c. */
#ifndef VMSTREAM_CLI_H
#define VMSTREAM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <vmstream.h>

/* Exit statuses, the same for every subcommand. */
#define EXIT_OK 0
#define EXIT_REJECTED 1 /* the stream was rejected (format, integrity, limit, policy) */
#define EXIT_USAGE 2    /* bad usage, or an I/O or resource error */

/* decode, verify and inspect read their input in pieces of this size. */
#define CLI_READ_CHUNK ((size_t)8 << 20)

#if defined(__GNUC__)
#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define CLI_PRINTF(f, a)
#endif

/* ---- subcommand table (vmstream.c) -------------------------------------- */

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv); /* argv[0] is "vmstream NAME" */
    const char *summary;               /* one line for `vmstream --help` */
    const char *help;                  /* full text for `vmstream NAME --help` */
} cli_command;

int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_compat(int argc, char **argv);
int cmd_descriptor(int argc, char **argv);

extern const char cli_help_encode[];
extern const char cli_help_decode[];
extern const char cli_help_verify[];
extern const char cli_help_inspect[];
extern const char cli_help_keygen[];
extern const char cli_help_compat[];
extern const char cli_help_descriptor[];

/* ---- messages (common.c) ------------------------------------------------- */

/* The name messages are prefixed with, e.g. "vmstream: decode". */
void cli_set_context(const char *subcommand);
/* "vmstream: SUB: <message>\n" on stderr (clears a progress line first). */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* cli_error() then a hint to run --help; returns EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* Reports getopt_long's '?' or ':' (parsed with opterr = 0 and an option
 * string starting with ':'); opts is the long option table.  Returns
 * EXIT_USAGE. */
struct option;
int cli_bad_option(int c, int argc, char **argv, const struct option *opts);
/* Resets getopt for a subcommand's argv (messages are printed by us). */
void cli_getopt_reset(void);
/* Prints text to stdout and returns EXIT_OK (for --help). */
int cli_print_help(const char *text);
/* The one operand left after the options (argv[optind]): EXIT_OK with
 * *arg set, or a usage error (EXIT_USAGE) when it is missing ("missing
 * WHAT (use '-' for stdin)") or followed by another. */
int cli_one_operand(int argc, char **argv, const char *what, const char **arg);

/* ---- argument parsing (common.c) ---------------------------------------- */

/* Each returns 0 on success; on failure prints a usage error naming opt and
 * returns EXIT_USAGE. */
/* Unsigned decimal or 0x-hex (no octal), in [0, max]. */
int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out);
/* Like parse_u64, plus an optional binary suffix K, M, G, T (KiB, MiB ...). */
int parse_size(const char *opt, const char *s, uint64_t max, uint64_t *out);
/* Signed decimal int. */
int parse_int(const char *opt, const char *s, int *out);
/* Exactly 2*n hex digits (an optional 0x prefix allowed). */
int parse_hex_bytes(const char *opt, const char *s, uint8_t *out, size_t n);
/* A section id: a number, or config (1), registers (2), memory (3). */
int parse_section(const char *opt, const char *s, uint32_t *out);
/* Name of a well-known section id, or NULL. */
const char *section_name(uint32_t section);

/* ---- files (common.c) ----------------------------------------------------- */

typedef struct cli_input {
    int fd;
    const char *name;  /* for messages: the path, or "<stdin>" */
    uint64_t size;     /* size when a regular file, else 0 */
    bool size_known;
} cli_input;

/* Opens path ("-" = stdin).  On failure prints a message, returns EXIT_USAGE. */
int input_open(cli_input *in, const char *path);
void input_close(cli_input *in);
/* Reads up to len bytes, retrying short reads and EINTR until len bytes or
 * end of file.  Returns the count, or -1 (errno set) on error. */
ssize_t read_full(int fd, void *buf, size_t len);
/* Writes all of buf, retrying short writes and EINTR.  0 or -1 (errno). */
int write_all(int fd, const void *buf, size_t len);

/* Temporary file created next to a final path, renamed over it on success.
 * While one exists, SIGINT/SIGTERM/SIGHUP/SIGPIPE unlink it before the tool
 * dies, so an interrupted run leaves nothing behind. */
typedef struct cli_tmpfile {
    int fd;                 /* -1 when none */
    char *path;             /* NULL when already unlinked / anonymous */
    bool special;           /* final path is a device, FIFO or socket: the
                               commit copies into it instead of renaming */
} cli_tmpfile;

/* Creates a temp file in the directory of final_path (mode 0600 until
 * commit).  When final_path exists and is not a regular file (/dev/null, a
 * FIFO), the temp file is anonymous instead and the commit copies it into
 * final_path: a device is never replaced, and still gets no byte before the
 * command succeeded.  Prints a message and returns EXIT_USAGE on failure. */
int tmpfile_create_beside(cli_tmpfile *t, const char *final_path);
/* Creates an anonymous (already unlinked) temp file in $TMPDIR or /tmp. */
int tmpfile_create_anonymous(cli_tmpfile *t);
/* fsync, give it the usual 0666 & ~umask mode, rename it to final_path. 0 or
 * prints a message and returns EXIT_USAGE (the temp file is then removed). */
int tmpfile_commit(cli_tmpfile *t, const char *final_path);
/* The same with an explicit mode (e.g. 0600 for a secret key). */
int tmpfile_commit_mode(cli_tmpfile *t, const char *final_path, mode_t mode);
/* Closes and unlinks (if not yet committed).  Safe to call repeatedly. */
void tmpfile_discard(cli_tmpfile *t);

/* Installs the signal handlers that remove temp files (once, at start). */
void cli_signals_init(void);

/* stdin can be read only once: a usage error (EXIT_USAGE) when more than
 * one of the n paths (NULL = not given) is "-"; names[i] names paths[i]
 * ("--target", "IN") in the message.  0 otherwise. */
int stdin_once(const char *const names[], const char *const paths[], size_t n);

/* Reads a whole small file (path "-" = stdin) into a new buffer of max + 1
 * bytes (free it with free(); zero it first if it held a secret).  *len may
 * be max + 1: the file is larger than max, which the caller reports.  what
 * names the file in messages ("MAC key file").  Prints a message and
 * returns EXIT_USAGE on failure. */
int read_small_file(const char *path, const char *what, size_t max, uint8_t **buf,
                    size_t *len);

/* ---- keys (common.c) ------------------------------------------------------ */

/* MAC keys are 16 to 64 raw bytes (the library's range); vmstream keygen
 * --mac writes VMS_MAC_KEY_BYTES (32). */
#define CLI_MAC_KEY_MIN 16
#define CLI_MAC_KEY_MAX 64
/* Reads a MAC key file: CLI_MAC_KEY_MIN to CLI_MAC_KEY_MAX raw bytes, into
 * key (*len bytes).  id receives its key id, vms_key_id(key): the first 8
 * bytes of BLAKE2b-256("libvmstream key id v1" || key).  Prints a message
 * and returns EXIT_USAGE on failure. */
int mac_key_load(const char *path, uint8_t key[CLI_MAC_KEY_MAX], size_t *len,
                 uint8_t id[VMS_KEY_ID_BYTES]);
/* Reads an Ed25519 private key (unencrypted PKCS#8 PEM); id receives the key
 * id of its public key.  Prints a message and returns EXIT_USAGE on failure
 * (EXIT_USAGE too when the library has no Ed25519). */
int ed25519_private_load(const char *path, uint8_t priv[VMS_ED25519_KEY_BYTES],
                         uint8_t id[VMS_KEY_ID_BYTES]);
/* Reads an Ed25519 public key: SubjectPublicKeyInfo PEM, or exactly 32 raw
 * bytes.  id receives its key id. */
int ed25519_public_load(const char *path, uint8_t pub[VMS_ED25519_KEY_BYTES],
                        uint8_t id[VMS_KEY_ID_BYTES]);
/* True when the library was built with Ed25519 (OpenSSL 3) / zstd. */
bool cli_have_ed25519(void);
bool cli_have_zstd(void);

/* ---- descriptors (compat.c) ------------------------------------------------- */

/* Parses the text descriptor file path ("-" = stdin) into *out.  Parse
 * errors are printed as "FILE:LINE: MESSAGE" (doc/COMPAT.md 5.7); err (may
 * be NULL) receives their detail.  Returns EXIT_OK, EXIT_REJECTED (the file
 * is not a valid descriptor) or EXIT_USAGE (it cannot be read). */
int descriptor_load(const char *path, vms_descriptor **out, vms_descriptor_error *err);

/* ---- formatting (common.c) ------------------------------------------------ */

/* Lower-case hex of n bytes into out (2n+1 bytes). */
void hex_format(char *out, const uint8_t *p, size_t n);
/* "pci:0x10de", "0x00000000 (unspecified)" or "0x%08x (reserved)". */
void vendor_format(char *out, size_t outlen, uint32_t vendor);
const char *codec_name(unsigned codec);
const char *auth_name(unsigned mode);
const char *category_name(vms_error_category c);
/* Exit status for a decoder result: 0 for VMS_OK/VMS_END, 1 for a
 * FORMAT/INTEGRITY/LIMIT/POLICY error or VMS_E_UNSUPPORTED (the stream needs
 * a codec or auth mode not built in), 2 otherwise. */
int exit_status_of(int status);
/* Prints "vmstream: SUB: rejected at byte N (record R): CODE: message". */
void report_rejection(const vms_error_info *err);

/* ---- the decoder driver (common.c) ----------------------------------------- */

struct cli_progress;

/* Decoder options shared by decode, verify and inspect: their long options
 * (CLI_DECODER_OPTIONS, in each option table), their help lines
 * (CLI_DECODER_HELP) and their parser (decode_opts_parse). */
enum {
    CLI_OPT_MAC_KEY = 0x200,
    CLI_OPT_VERIFY_KEY,
    CLI_OPT_REQUIRE_AUTH,
    CLI_OPT_TARGET,
    CLI_OPT_LIMIT,
    CLI_OPT_DEC_THREADS,
};
#define CLI_DECODER_OPTIONS                                           \
    {"mac-key", required_argument, NULL, CLI_OPT_MAC_KEY},            \
    {"verify-key", required_argument, NULL, CLI_OPT_VERIFY_KEY},      \
    {"require-auth", optional_argument, NULL, CLI_OPT_REQUIRE_AUTH},  \
    {"target", required_argument, NULL, CLI_OPT_TARGET},              \
    {"limit", required_argument, NULL, CLI_OPT_LIMIT},                \
    {"threads", required_argument, NULL, CLI_OPT_DEC_THREADS}

#define CLI_DECODER_HELP                                                          \
    "      --mac-key FILE      key of MAC-authenticated streams: a file of 16\n"   \
    "                          to 64 raw bytes (vmstream keygen --mac)\n"          \
    "      --verify-key PUB    accept Ed25519-signed streams by this public key\n" \
    "                          (PEM, or 32 raw bytes); repeat for up to 8 keys\n"  \
    "      --require-auth[=mac|signature]\n"                                      \
    "                          refuse streams without a MAC or a signature\n"      \
    "                          (=mac, the default), or without a signature\n"      \
    "                          (=signature), with VMS_E_AUTH_REQUIRED\n"           \
    "      --target FILE       text descriptor of the target device: refuse a\n"   \
    "                          stream whose descriptor it does not accept (or\n"   \
    "                          that has none) at its header, with the reason\n"    \
    "                          'vmstream compat' gives (VMS_E_INCOMPATIBLE)\n"     \
    "      --limit NAME=VALUE  a decoder limit; NAME is record (payload and raw\n" \
    "                          size of one record; record-payload and\n"           \
    "                          record-raw set one of them), total (stream\n"       \
    "                          bytes), records (count), blob (version blob\n"      \
    "                          bytes) or buffered (decoder memory, including\n"    \
    "                          state held for a signature); VALUE takes K, M,\n"   \
    "                          G, T suffixes; repeatable\n"                        \
    "      --threads N         threads that verify and decompress records\n"      \
    "                          (1 to 64, default 1); the result is the same\n"    \
    "                          with any number\n"

typedef struct cli_decode_opts {
    const char *mac_key_path;                        /* NULL: none */
    const char *verify_key_path[VMS_MAX_VERIFY_KEYS];
    size_t n_verify_keys;
    vms_auth_mode require_auth;                      /* VMS_AUTH_NONE: no policy */
    const char *target_path;                         /* NULL: no target */
    bool limit_set[VMS_LIMIT_COUNT];
    uint64_t limit[VMS_LIMIT_COUNT];
    vms_descriptor *target;                          /* loaded by decoder_setup */
    unsigned threads;                                /* 1 unless --threads */
} cli_decode_opts;

void decode_opts_init(cli_decode_opts *o);
/* Frees what decoder_setup loaded into o. */
void decode_opts_free(cli_decode_opts *o);
/* Handles getopt result opt (with optarg arg) when it is one of
 * CLI_DECODER_OPTIONS: returns 0, or EXIT_USAGE after a message.  Returns
 * -1 when opt is not one of them. */
int decode_opts_parse(cli_decode_opts *o, int opt, const char *arg);
/* stdin_once() over the files of o and the input in. */
int decode_opts_check_stdin(const cli_decode_opts *o, const char *in);

/* Creates a decoder with opts' limits, keys, policy and target (loading the
 * files).  Prints a message and returns EXIT_USAGE on failure. */
int decoder_setup(vms_decoder **dec, const vms_decoder_callbacks *cb,
                  cli_decode_opts *opts);
/* report_rejection() of the decoder's error; for VMS_E_INCOMPATIBLE also
 * the check's whole reason when the error message had to shorten it. */
void report_decoder_rejection(const vms_decoder *dec, const cli_decode_opts *opts);

/* Called after each piece was fed (may be NULL); a non-zero return stops. */
typedef int (*cli_fed_fn)(void *ctx, const uint8_t *buf, size_t len);

/* Reads in until end of input and feeds every byte to dec, then calls
 * vms_decoder_finish.  before (may be NULL) sees each piece before the
 * decoder does, after each piece was fed.  Reads fill a buffer of
 * CLI_READ_CHUNK bytes, grown to vms_decoder_feed_hint() after the header;
 * piece is the feed size (0 = the whole buffer).  Returns VMS_END, a negative decoder status, or
 * CLI_READ_FAILED (a read error, already reported). */
#define CLI_READ_FAILED 0x7fff
int decoder_run(vms_decoder *dec, cli_input *in, struct cli_progress *prog,
                size_t piece, cli_fed_fn before, cli_fed_fn after, void *ctx);

#endif
