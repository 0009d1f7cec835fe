/* common.c - helpers shared by the vmstream subcommands (see cli.h). */
#include "cli.h"
#include "progress.h"

#include <blake2.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- messages -------------------------------------------------------------- */

static char context[64] = "vmstream";

void cli_set_context(const char *subcommand)
{
    if (subcommand)
        snprintf(context, sizeof context, "vmstream: %s", subcommand);
    else
        snprintf(context, sizeof context, "vmstream");
}

static void verror(const char *fmt, va_list ap) CLI_PRINTF(1, 0);
static void verror(const char *fmt, va_list ap)
{
    progress_clear_active();
    fflush(stdout);
    fprintf(stderr, "%s: ", context);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
}

int cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    verror(fmt, ap);
    va_end(ap);
    /* context is "vmstream: SUB"; the hint names "vmstream SUB --help". */
    const char *sub = strncmp(context, "vmstream: ", 10) == 0 ? context + 10 : NULL;
    fprintf(stderr, "Try 'vmstream %s%s--help' for more information.\n", sub ? sub : "",
            sub ? " " : "");
    return EXIT_USAGE;
}

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: full re-initialisation */
    opterr = 0;
}

int cli_bad_option(int c, int argc, char **argv, const struct option *opts)
{
    const char *word = optind - 1 < argc && optind >= 1 ? argv[optind - 1] : "?";
    if (c == ':')
        return cli_usage_error("option '%s' needs an argument", word);
    if (strncmp(word, "--", 2) == 0) {
        const char *eq = strchr(word, '=');
        size_t n = eq ? (size_t)(eq - word - 2) : strlen(word + 2);
        for (const struct option *o = opts; eq && o->name; o++)
            if (o->has_arg == no_argument && strlen(o->name) == n &&
                strncmp(o->name, word + 2, n) == 0)
                return cli_usage_error("option '--%s' takes no value", o->name);
        return cli_usage_error("unknown or ambiguous option '%.*s'", (int)(n + 2), word);
    }
    if (optopt > 0 && optopt < 128)
        return cli_usage_error("unknown option '-%c'", optopt);
    return cli_usage_error("unknown option '%s'", word);
}

int cli_print_help(const char *text)
{
    fputs(text, stdout);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_USAGE;
}

/* ---- argument parsing -------------------------------------------------------- */

static int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses the leading number of s; *end receives the first byte after it.
 * -1 when there are no digits or it overflows. */
static int scan_u64(const char *s, uint64_t *out, const char **end)
{
    uint64_t v = 0;
    unsigned base = 10;
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    const char *digits = p;
    for (;; p++) {
        int d = base == 16 ? hex_digit((unsigned char)*p)
                           : (*p >= '0' && *p <= '9' ? *p - '0' : -1);
        if (d < 0)
            break;
        if (v > (UINT64_MAX - (uint64_t)d) / base)
            return -1;
        v = v * base + (uint64_t)d;
    }
    if (p == digits)
        return -1;
    *out = v;
    *end = p;
    return 0;
}

int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v;
    const char *end;
    if (scan_u64(s, &v, &end) != 0 || *end != '\0')
        return cli_usage_error("%s: '%s' is not a number (decimal or 0x-hex)", opt, s);
    if (v > max)
        return cli_usage_error("%s: %s is out of range (at most %llu)", opt, s,
                               (unsigned long long)max);
    *out = v;
    return 0;
}

int parse_size(const char *opt, const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v;
    const char *end;
    if (scan_u64(s, &v, &end) != 0)
        return cli_usage_error("%s: '%s' is not a size (a number, optionally with "
                               "K, M, G or T)", opt, s);
    unsigned shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10;
        break;
    case 'm':
    case 'M':
        shift = 20;
        break;
    case 'g':
    case 'G':
        shift = 30;
        break;
    case 't':
    case 'T':
        shift = 40;
        break;
    default:
        break;
    }
    if (shift) {
        end++;
        if (strcmp(end, "iB") == 0 || strcmp(end, "B") == 0)
            end += strlen(end);
    }
    if (*end != '\0')
        return cli_usage_error("%s: '%s' is not a size (a number, optionally with "
                               "K, M, G or T)", opt, s);
    if (shift && v > (UINT64_MAX >> shift))
        return cli_usage_error("%s: %s is out of range", opt, s);
    v <<= shift;
    if (v > max)
        return cli_usage_error("%s: %s is out of range (at most %llu bytes)", opt, s,
                               (unsigned long long)max);
    *out = v;
    return 0;
}

int parse_int(const char *opt, const char *s, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX)
        return cli_usage_error("%s: '%s' is not an integer", opt, s);
    *out = (int)v;
    return 0;
}

int parse_hex_bytes(const char *opt, const char *s, uint8_t *out, size_t n)
{
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    if (strlen(p) != 2 * n)
        return cli_usage_error("%s: expected %zu hex digits, got '%s'", opt, 2 * n, s);
    for (size_t i = 0; i < n; i++) {
        int hi = hex_digit((unsigned char)p[2 * i]);
        int lo = hex_digit((unsigned char)p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return cli_usage_error("%s: '%s' is not hexadecimal", opt, s);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static const struct {
    const char *name;
    uint32_t id;
} section_names[] = {
    {"config", 1},
    {"registers", 2},
    {"memory", 3},
};

const char *section_name(uint32_t section)
{
    for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++)
        if (section_names[i].id == section)
            return section_names[i].name;
    return NULL;
}

int parse_section(const char *opt, const char *s, uint32_t *out)
{
    for (size_t i = 0; i < sizeof section_names / sizeof section_names[0]; i++) {
        if (strcmp(s, section_names[i].name) == 0) {
            *out = section_names[i].id;
            return 0;
        }
    }
    uint64_t v;
    const char *end;
    if (scan_u64(s, &v, &end) != 0 || *end != '\0' || v > UINT32_MAX)
        return cli_usage_error("%s: '%s' is not a section (a number up to 0xffffffff, "
                               "or config, registers, memory)", opt, s);
    *out = (uint32_t)v;
    return 0;
}

/* ---- files --------------------------------------------------------------------- */

int input_open(cli_input *in, const char *path)
{
    memset(in, 0, sizeof *in);
    if (strcmp(path, "-") == 0) {
        in->fd = STDIN_FILENO;
        in->name = "<stdin>";
    } else {
        in->fd = open(path, O_RDONLY | O_CLOEXEC);
        in->name = path;
        if (in->fd < 0) {
            cli_error("cannot open '%s': %s", path, strerror(errno));
            return EXIT_USAGE;
        }
    }
    struct stat st;
    if (fstat(in->fd, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            cli_error("'%s' is a directory", path);
            input_close(in);
            return EXIT_USAGE;
        }
        if (S_ISREG(st.st_mode)) {
            in->size = (uint64_t)st.st_size;
            in->size_known = true;
        }
    }
    return EXIT_OK;
}

void input_close(cli_input *in)
{
    if (in->fd > STDERR_FILENO)
        close(in->fd);
    in->fd = -1;
}

ssize_t read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Temp files the signal handler must remove: fixed buffers, so the handler
 * only reads memory that is never freed. */
#define TMP_SLOTS 2
static char tmp_slot_path[TMP_SLOTS][PATH_MAX];
static volatile sig_atomic_t tmp_slot_used[TMP_SLOTS];

static void on_fatal_signal(int sig)
{
    for (int i = 0; i < TMP_SLOTS; i++)
        if (tmp_slot_used[i])
            (void)unlink(tmp_slot_path[i]);
    signal(sig, SIG_DFL);
    raise(sig);
}

void cli_signals_init(void)
{
    static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESETHAND;
        (void)sigaction(sigs[i], &sa, NULL);
    }
}

static void slot_set(const char *path)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        if (!tmp_slot_used[i]) {
            snprintf(tmp_slot_path[i], PATH_MAX, "%s", path);
            tmp_slot_used[i] = 1;
            return;
        }
    }
}

static void slot_clear(const char *path)
{
    for (int i = 0; i < TMP_SLOTS; i++) {
        if (tmp_slot_used[i] && strcmp(tmp_slot_path[i], path) == 0) {
            tmp_slot_used[i] = 0;
            return;
        }
    }
}

static mode_t current_umask(void)
{
    mode_t m = umask(0);
    umask(m);
    return m;
}

int tmpfile_create_beside(cli_tmpfile *t, const char *final_path)
{
    t->fd = -1;
    t->path = NULL;
    const char *slash = strrchr(final_path, '/');
    const char *base = slash ? slash + 1 : final_path;
    int dirlen = slash ? (int)(slash - final_path) : 1;
    const char *dir = slash ? final_path : ".";
    if (slash == final_path)
        dirlen = 1; /* "/name": the root directory */
    if (*base == '\0') {
        cli_error("output '%s' names a directory, not a file", final_path);
        return EXIT_USAGE;
    }
    char buf[PATH_MAX];
    /* .NAME.vmstream-XXXXXX, with NAME shortened to keep under NAME_MAX. */
    int n = snprintf(buf, sizeof buf, "%.*s/.%.100s.vmstream-XXXXXX", dirlen, dir, base);
    if (n < 0 || (size_t)n >= sizeof buf) {
        cli_error("output path '%s' is too long", final_path);
        return EXIT_USAGE;
    }
    t->fd = mkstemp(buf);
    if (t->fd < 0) {
        cli_error("cannot create a temporary file next to '%s': %s", final_path,
                  strerror(errno));
        return EXIT_USAGE;
    }
    t->path = strdup(buf);
    if (!t->path) {
        unlink(buf);
        close(t->fd);
        t->fd = -1;
        cli_error("out of memory");
        return EXIT_USAGE;
    }
    slot_set(t->path);
    return EXIT_OK;
}

int tmpfile_create_anonymous(cli_tmpfile *t)
{
    t->fd = -1;
    t->path = NULL;
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir)
        dir = "/tmp";
    char buf[PATH_MAX];
    int n = snprintf(buf, sizeof buf, "%s/vmstream-XXXXXX", dir);
    if (n < 0 || (size_t)n >= sizeof buf) {
        cli_error("TMPDIR '%s' is too long", dir);
        return EXIT_USAGE;
    }
    t->fd = mkstemp(buf);
    if (t->fd < 0) {
        cli_error("cannot create a temporary file in '%s': %s", dir, strerror(errno));
        return EXIT_USAGE;
    }
    /* Unlinked at once: nothing can be left behind, whatever happens. */
    unlink(buf);
    return EXIT_OK;
}

static void fsync_parent_dir(const char *path)
{
    char buf[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(buf, sizeof buf, ".");
    else if (slash == path)
        snprintf(buf, sizeof buf, "/");
    else
        snprintf(buf, sizeof buf, "%.*s", (int)(slash - path), path);
    int fd = open(buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some file systems refuse */
        close(fd);
    }
}

int tmpfile_commit(cli_tmpfile *t, const char *final_path)
{
    if (t->fd < 0 || !t->path) {
        cli_error("internal error: no temporary file to commit");
        return EXIT_USAGE;
    }
    const char *what = "sync";
    const char *which = t->path;
    int rc = fsync(t->fd);
    if (rc == 0) {
        what = "set the mode of";
        rc = fchmod(t->fd, 0666 & ~current_umask());
    }
    if (rc == 0) {
        what = "close";
        rc = close(t->fd);
        t->fd = -1;
    }
    if (rc == 0) {
        what = "rename the temporary file to";
        which = final_path;
        rc = rename(t->path, final_path);
    }
    if (rc != 0) {
        cli_error("cannot %s '%s': %s", what, which, strerror(errno));
        tmpfile_discard(t);
        return EXIT_USAGE;
    }
    slot_clear(t->path);
    free(t->path);
    t->path = NULL;
    fsync_parent_dir(final_path);
    return EXIT_OK;
}

void tmpfile_discard(cli_tmpfile *t)
{
    if (t->fd >= 0) {
        close(t->fd);
        t->fd = -1;
    }
    if (t->path) {
        unlink(t->path);
        slot_clear(t->path);
        free(t->path);
        t->path = NULL;
    }
}

/* ---- keys -------------------------------------------------------------------- */

int mac_key_id(const uint8_t key[VMS_MAC_KEY_BYTES], uint8_t id[VMS_KEY_ID_BYTES])
{
    uint8_t digest[VMS_DIGEST_BYTES];
    /* Debian's libb2: blake2b(out, in, key, outlen, inlen, keylen); unkeyed. */
    if (blake2b(digest, key, NULL, sizeof digest, VMS_MAC_KEY_BYTES, 0) != 0)
        return -1;
    memcpy(id, digest, VMS_KEY_ID_BYTES);
    return 0;
}

int mac_key_load(const char *path, uint8_t key[VMS_MAC_KEY_BYTES],
                 uint8_t id[VMS_KEY_ID_BYTES])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open MAC key file '%s': %s", path, strerror(errno));
        return EXIT_USAGE;
    }
    uint8_t buf[VMS_MAC_KEY_BYTES + 1];
    ssize_t n = read_full(fd, buf, sizeof buf);
    int err = errno;
    close(fd);
    if (n < 0) {
        cli_error("cannot read MAC key file '%s': %s", path, strerror(err));
        return EXIT_USAGE;
    }
    if ((size_t)n != VMS_MAC_KEY_BYTES) {
        explicit_bzero(buf, sizeof buf);
        cli_error("MAC key file '%s' must hold exactly %d raw bytes, it holds %s%zd",
                  path, VMS_MAC_KEY_BYTES, (size_t)n > VMS_MAC_KEY_BYTES ? "more than " : "",
                  (size_t)n > VMS_MAC_KEY_BYTES ? (ssize_t)VMS_MAC_KEY_BYTES : n);
        return EXIT_USAGE;
    }
    memcpy(key, buf, VMS_MAC_KEY_BYTES);
    explicit_bzero(buf, sizeof buf);
    if (mac_key_id(key, id) != 0) {
        cli_error("cannot derive the key id of '%s'", path);
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

/* ---- formatting ---------------------------------------------------------------- */

void hex_format(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

void vendor_format(char *out, size_t outlen, uint32_t vendor)
{
    if (vendor & VMS_VENDOR_PCI_FLAG) {
        if ((vendor & 0x7fff0000u) == 0)
            snprintf(out, outlen, "pci:0x%04x", vendor & 0xffffu);
        else
            snprintf(out, outlen, "0x%08x (invalid)", vendor);
    } else if (vendor == 0) {
        snprintf(out, outlen, "0x00000000 (unspecified)");
    } else {
        snprintf(out, outlen, "0x%08x (reserved)", vendor);
    }
}

const char *codec_name(unsigned codec)
{
    switch (codec) {
    case VMS_CODEC_NONE:
        return "none";
    case VMS_CODEC_ZLIB:
        return "zlib";
    case VMS_CODEC_ZSTD:
        return "zstd";
    default:
        return "unknown";
    }
}

const char *auth_name(unsigned mode)
{
    switch (mode) {
    case VMS_AUTH_NONE:
        return "none";
    case VMS_AUTH_MAC:
        return "mac";
    case VMS_AUTH_ED25519:
        return "ed25519";
    default:
        return "unknown";
    }
}

const char *category_name(vms_error_category c)
{
    switch (c) {
    case VMS_CAT_NONE:
        return "none";
    case VMS_CAT_USAGE:
        return "usage";
    case VMS_CAT_FORMAT:
        return "format";
    case VMS_CAT_INTEGRITY:
        return "integrity";
    case VMS_CAT_LIMIT:
        return "limit";
    case VMS_CAT_POLICY:
        return "policy";
    }
    return "unknown";
}

int exit_status_of(int status)
{
    if (status >= 0)
        return EXIT_OK;
    /* The decoder reports a stream that needs a codec or an authentication
     * mode not built into the library as VMS_E_UNSUPPORTED: the stream is
     * refused, not misused, so it counts as a rejection too. */
    if (status == VMS_E_UNSUPPORTED)
        return EXIT_REJECTED;
    switch (vms_error_category_of(status)) {
    case VMS_CAT_FORMAT:
    case VMS_CAT_INTEGRITY:
    case VMS_CAT_LIMIT:
    case VMS_CAT_POLICY:
        return EXIT_REJECTED;
    case VMS_CAT_NONE:
    case VMS_CAT_USAGE:
        break;
    }
    return EXIT_USAGE;
}

void report_rejection(const vms_error_info *err)
{
    const char *msg = err->message && *err->message ? err->message : "(no detail)";
    if (err->record != UINT64_MAX)
        cli_error("rejected at byte %llu (record %llu): %s: %s",
                  (unsigned long long)err->offset, (unsigned long long)err->record,
                  vms_strerror(err->code), msg);
    else
        cli_error("rejected at byte %llu: %s: %s", (unsigned long long)err->offset,
                  vms_strerror(err->code), msg);
}

/* ---- decoder driver -------------------------------------------------------------- */

int decoder_setup(vms_decoder **dec, const vms_decoder_callbacks *cb,
                  const cli_decode_opts *opts)
{
    *dec = NULL;
    uint8_t key[VMS_MAC_KEY_BYTES], id[VMS_KEY_ID_BYTES];
    if (opts->mac_key_path && mac_key_load(opts->mac_key_path, key, id) != EXIT_OK)
        return EXIT_USAGE;
    int rc = vms_decoder_new(dec, NULL, cb, NULL);
    const char *what = "create the decoder";
    if (rc == VMS_OK && opts->mac_key_path) {
        what = "set the MAC key";
        rc = vms_decoder_set_mac_key(*dec, key, sizeof key, id);
    }
    explicit_bzero(key, sizeof key);
    if (rc == VMS_OK && opts->require_auth) {
        what = "set the authentication policy";
        rc = vms_decoder_require_auth(*dec, VMS_AUTH_MAC);
    }
    if (rc != VMS_OK) {
        cli_error("cannot %s: %s", what, vms_strerror(rc));
        if (*dec) {
            vms_decoder_free(*dec); /* fires on_abort: callers tolerate it */
            *dec = NULL;
        }
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int decoder_run(vms_decoder *dec, cli_input *in, cli_progress *prog, size_t piece,
                cli_fed_fn before, cli_fed_fn after, void *ctx)
{
    uint8_t *buf = malloc(CLI_READ_CHUNK);
    if (!buf) {
        cli_error("out of memory");
        return CLI_READ_FAILED;
    }
    if (piece == 0 || piece > CLI_READ_CHUNK)
        piece = CLI_READ_CHUNK;
    uint64_t total = 0;
    int rc = VMS_OK;
    for (;;) {
        ssize_t n = read(in->fd, buf, CLI_READ_CHUNK);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            cli_error("cannot read '%s': %s", in->name, strerror(errno));
            rc = CLI_READ_FAILED;
            break;
        }
        if (n == 0) {
            rc = vms_decoder_finish(dec);
            break;
        }
        bool stop = false;
        for (size_t pos = 0; pos < (size_t)n && !stop;) {
            size_t len = (size_t)n - pos < piece ? (size_t)n - pos : piece;
            if (before && before(ctx, buf + pos, len) != 0) {
                rc = CLI_READ_FAILED;
                break;
            }
            rc = vms_decoder_feed(dec, buf + pos, len, NULL);
            stop = rc < 0;
            if (after && after(ctx, buf + pos, len) != 0 && !stop) {
                rc = CLI_READ_FAILED;
                stop = true;
            }
            pos += len;
        }
        total += (uint64_t)n;
        progress_update(prog, total);
        if (rc < 0 || rc == CLI_READ_FAILED)
            break;
    }
    free(buf);
    return rc;
}
