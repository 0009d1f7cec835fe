/* common.c - helpers shared by the vmstream subcommands (see cli.h). */
#include "cli.h"
#include "progress.h"

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

int cli_one_operand(int argc, char **argv, const char *what, const char **arg)
{
    if (optind >= argc)
        return cli_usage_error("missing %s (use '-' for stdin)", what);
    if (argc - optind > 1)
        return cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
    *arg = argv[optind];
    return EXIT_OK;
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
    t->special = false;
    struct stat st;
    if (stat(final_path, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISDIR(st.st_mode)) {
            cli_error("output '%s' names a directory, not a file", final_path);
            return EXIT_USAGE;
        }
        /* A device or FIFO: renaming over it would replace it. */
        int rc = tmpfile_create_anonymous(t);
        t->special = rc == EXIT_OK;
        return rc;
    }
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
    t->special = false;
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
    return tmpfile_commit_mode(t, final_path, 0666 & ~current_umask());
}

/* Copies the finished temp file into a device or FIFO. */
static int commit_special(cli_tmpfile *t, const char *final_path)
{
    int out = open(final_path, O_WRONLY | O_CLOEXEC);
    if (out < 0) {
        cli_error("cannot open '%s': %s", final_path, strerror(errno));
        tmpfile_discard(t);
        return EXIT_USAGE;
    }
    enum { COPY_CHUNK = 1 << 20 };
    uint8_t *buf = malloc(COPY_CHUNK);
    int rc = buf && lseek(t->fd, 0, SEEK_SET) == 0 ? 0 : -1;
    const char *what = buf ? "read back the temporary file for" : "allocate a buffer for";
    while (rc == 0) {
        ssize_t n = read_full(t->fd, buf, COPY_CHUNK);
        if (n <= 0) {
            rc = (int)n;
            break;
        }
        if (write_all(out, buf, (size_t)n) != 0) {
            what = "write";
            rc = -1;
        }
    }
    int err = errno;
    free(buf);
    if (close(out) != 0 && rc == 0) {
        err = errno;
        what = "close";
        rc = -1;
    }
    tmpfile_discard(t);
    if (rc != 0) {
        cli_error("cannot %s '%s': %s", what, final_path, strerror(err));
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

int tmpfile_commit_mode(cli_tmpfile *t, const char *final_path, mode_t mode)
{
    if (t->special && t->fd >= 0)
        return commit_special(t, final_path);
    if (t->fd < 0 || !t->path) {
        cli_error("internal error: no temporary file to commit");
        return EXIT_USAGE;
    }
    const char *what = "sync";
    const char *which = t->path;
    int rc = fsync(t->fd);
    if (rc == 0) {
        what = "set the mode of";
        rc = fchmod(t->fd, mode);
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

int stdin_once(const char *const names[], const char *const paths[], size_t n)
{
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
        if (!paths[i] || strcmp(paths[i], "-") != 0)
            continue;
        if (first)
            return cli_usage_error("%s and %s cannot both be '-': stdin can be read "
                                   "only once", first, names[i]);
        first = names[i];
    }
    return 0;
}

int read_small_file(const char *path, const char *what, size_t max, uint8_t **buf,
                    size_t *len)
{
    *buf = NULL;
    *len = 0;
    bool is_stdin = strcmp(path, "-") == 0;
    const char *name = is_stdin ? "<stdin>" : path;
    int fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cli_error("cannot open %s '%s': %s", what, path, strerror(errno));
        return EXIT_USAGE;
    }
    uint8_t *b = malloc(max + 1);
    ssize_t n = b ? read_full(fd, b, max + 1) : -1;
    int err = b ? errno : ENOMEM;
    if (!is_stdin)
        close(fd);
    if (n < 0) {
        free(b);
        cli_error("cannot read %s '%s': %s", what, name, strerror(err));
        return EXIT_USAGE;
    }
    *buf = b;
    *len = (size_t)n;
    return EXIT_OK;
}

/* ---- keys -------------------------------------------------------------------- */

/* Key files are small: PEM keys are a few hundred bytes. */
#define KEY_FILE_MAX ((size_t)64 << 10)

int mac_key_load(const char *path, uint8_t key[CLI_MAC_KEY_MAX], size_t *len,
                 uint8_t id[VMS_KEY_ID_BYTES])
{
    uint8_t *buf;
    size_t n;
    *len = 0;
    if (read_small_file(path, "MAC key file", CLI_MAC_KEY_MAX, &buf, &n) != EXIT_OK)
        return EXIT_USAGE;
    if (n < CLI_MAC_KEY_MIN || n > CLI_MAC_KEY_MAX) {
        explicit_bzero(buf, CLI_MAC_KEY_MAX + 1);
        free(buf);
        cli_error("MAC key file '%s' must hold %d to %d raw bytes (vmstream keygen --mac "
                  "writes %d), it holds %s%zu",
                  path, CLI_MAC_KEY_MIN, CLI_MAC_KEY_MAX, VMS_MAC_KEY_BYTES,
                  n > CLI_MAC_KEY_MAX ? "more than " : "",
                  n > CLI_MAC_KEY_MAX ? (size_t)CLI_MAC_KEY_MAX : n);
        return EXIT_USAGE;
    }
    memcpy(key, buf, n);
    explicit_bzero(buf, CLI_MAC_KEY_MAX + 1);
    free(buf);
    *len = n;
    vms_key_id(key, n, id);
    return EXIT_OK;
}

static bool contains(const uint8_t *buf, size_t len, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= len; i++)
        if (memcmp(buf + i, needle, k) == 0)
            return true;
    return false;
}

static void no_ed25519(void)
{
    cli_error("Ed25519 signatures are not built into this libvmstream (it was built "
              "without OpenSSL 3)");
}

int ed25519_private_load(const char *path, uint8_t priv[VMS_ED25519_KEY_BYTES],
                         uint8_t id[VMS_KEY_ID_BYTES])
{
    uint8_t *buf, pub[VMS_ED25519_KEY_BYTES];
    size_t n;
    if (read_small_file(path, "private key file", KEY_FILE_MAX, &buf, &n) != EXIT_OK)
        return EXIT_USAGE;
    int rc = n > KEY_FILE_MAX ? VMS_E_BAD_KEY
                              : vms_ed25519_parse_private_pem((const char *)buf, n, priv);
    if (rc == VMS_OK)
        rc = vms_ed25519_public_key(priv, pub);
    bool is_public = rc != VMS_OK && contains(buf, n, "PUBLIC KEY-----");
    bool encrypted = rc != VMS_OK && contains(buf, n, "ENCRYPTED");
    explicit_bzero(buf, n);
    free(buf);
    if (rc == VMS_E_UNSUPPORTED) {
        no_ed25519();
        return EXIT_USAGE;
    }
    if (rc != VMS_OK) {
        explicit_bzero(priv, VMS_ED25519_KEY_BYTES);
        if (is_public)
            cli_error("'%s' is a public key; signing needs the private key (NAME.pem "
                      "of vmstream keygen --ed25519)", path);
        else if (encrypted)
            cli_error("'%s' is an encrypted private key; only unencrypted PKCS#8 PEM "
                      "keys can be used", path);
        else
            cli_error("'%s' is not an Ed25519 private key in PKCS#8 PEM form (%s)", path,
                      vms_strerror(rc));
        return EXIT_USAGE;
    }
    vms_key_id(pub, sizeof pub, id);
    return EXIT_OK;
}

int ed25519_public_load(const char *path, uint8_t pub[VMS_ED25519_KEY_BYTES],
                        uint8_t id[VMS_KEY_ID_BYTES])
{
    uint8_t *buf;
    size_t n;
    if (read_small_file(path, "public key file", KEY_FILE_MAX, &buf, &n) != EXIT_OK)
        return EXIT_USAGE;
    int rc;
    if (n == VMS_ED25519_KEY_BYTES && !contains(buf, n, "-----")) {
        memcpy(pub, buf, VMS_ED25519_KEY_BYTES); /* a raw public key */
        rc = VMS_OK;
    } else {
        rc = n > KEY_FILE_MAX ? VMS_E_BAD_KEY
                              : vms_ed25519_parse_public_pem((const char *)buf, n, pub);
    }
    bool is_private = rc != VMS_OK && contains(buf, n, "PRIVATE KEY-----");
    explicit_bzero(buf, n);
    free(buf);
    if (rc == VMS_E_UNSUPPORTED) {
        no_ed25519();
        return EXIT_USAGE;
    }
    if (rc != VMS_OK) {
        if (is_private)
            cli_error("'%s' is a private key; verifying needs the public key "
                      "(NAME.pub.pem of vmstream keygen --ed25519)", path);
        else
            cli_error("'%s' is not an Ed25519 public key (SubjectPublicKeyInfo PEM, or "
                      "32 raw bytes) (%s)", path, vms_strerror(rc));
        return EXIT_USAGE;
    }
    vms_key_id(pub, VMS_ED25519_KEY_BYTES, id);
    return EXIT_OK;
}

bool cli_have_ed25519(void)
{
    return (vms_features() & VMS_FEATURE_ED25519) != 0;
}

bool cli_have_zstd(void)
{
    return (vms_features() & VMS_FEATURE_ZSTD) != 0;
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

void decode_opts_init(cli_decode_opts *o)
{
    memset(o, 0, sizeof *o);
    o->require_auth = VMS_AUTH_NONE;
    o->threads = 1;
}

void decode_opts_free(cli_decode_opts *o)
{
    vms_descriptor_free(o->target);
    o->target = NULL;
}

static const struct {
    const char *name;
    vms_limit which[2]; /* the second is VMS_LIMIT_COUNT when unused */
} limit_names[] = {
    {"record", {VMS_LIMIT_RECORD_PAYLOAD, VMS_LIMIT_RECORD_RAW}},
    {"record-payload", {VMS_LIMIT_RECORD_PAYLOAD, VMS_LIMIT_COUNT}},
    {"record-raw", {VMS_LIMIT_RECORD_RAW, VMS_LIMIT_COUNT}},
    {"total", {VMS_LIMIT_TOTAL_BYTES, VMS_LIMIT_COUNT}},
    {"records", {VMS_LIMIT_RECORDS, VMS_LIMIT_COUNT}},
    {"blob", {VMS_LIMIT_BLOB, VMS_LIMIT_COUNT}},
    {"buffered", {VMS_LIMIT_BUFFERED, VMS_LIMIT_COUNT}},
};

static int parse_limit(cli_decode_opts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        return cli_usage_error("--limit: '%s' is not NAME=VALUE (NAME: record, total, "
                               "records, blob, buffered)", arg);
    size_t n = (size_t)(eq - arg);
    for (size_t i = 0; i < sizeof limit_names / sizeof limit_names[0]; i++) {
        if (strlen(limit_names[i].name) != n || strncmp(limit_names[i].name, arg, n) != 0)
            continue;
        char opt[48];
        snprintf(opt, sizeof opt, "--limit %s", limit_names[i].name);
        uint64_t v;
        if (parse_size(opt, eq + 1, UINT64_MAX, &v) != 0)
            return EXIT_USAGE;
        for (int k = 0; k < 2; k++) {
            vms_limit w = limit_names[i].which[k];
            uint64_t lo, hi;
            if (w == VMS_LIMIT_COUNT || vms_limit_bounds(w, &lo, &hi) != VMS_OK)
                continue;
            if (v < lo || v > hi)
                return cli_usage_error("%s: %llu is out of range (%llu .. %llu)", opt,
                                       (unsigned long long)v, (unsigned long long)lo,
                                       (unsigned long long)hi);
            o->limit[w] = v;
            o->limit_set[w] = true;
        }
        return 0;
    }
    return cli_usage_error("--limit: unknown limit '%.*s' (record, record-payload, "
                           "record-raw, total, records, blob, buffered)", (int)n, arg);
}

int decode_opts_parse(cli_decode_opts *o, int opt, const char *arg)
{
    switch (opt) {
    case CLI_OPT_MAC_KEY:
        if (o->mac_key_path)
            return cli_usage_error("--mac-key given twice");
        o->mac_key_path = arg;
        return 0;
    case CLI_OPT_VERIFY_KEY:
        if (o->n_verify_keys == VMS_MAX_VERIFY_KEYS)
            return cli_usage_error("--verify-key: at most %d keys", VMS_MAX_VERIFY_KEYS);
        o->verify_key_path[o->n_verify_keys++] = arg;
        return 0;
    case CLI_OPT_REQUIRE_AUTH:
        if (!arg || strcmp(arg, "mac") == 0)
            o->require_auth = VMS_AUTH_MAC;
        else if (strcmp(arg, "signature") == 0 || strcmp(arg, "ed25519") == 0)
            o->require_auth = VMS_AUTH_ED25519;
        else
            return cli_usage_error("--require-auth: '%s' is not mac or signature", arg);
        return 0;
    case CLI_OPT_TARGET:
        if (o->target_path)
            return cli_usage_error("--target given twice");
        o->target_path = arg;
        return 0;
    case CLI_OPT_LIMIT:
        return parse_limit(o, arg);
    case CLI_OPT_DEC_THREADS: {
        uint64_t v = 0;
        if (parse_u64("--threads", arg, 64, &v) != 0)
            return EXIT_USAGE;
        if (v < 1)
            return cli_usage_error("--threads: must be at least 1");
        o->threads = (unsigned)v;
        return 0;
    }
    default:
        return -1;
    }
}

int decode_opts_check_stdin(const cli_decode_opts *o, const char *in)
{
    const char *names[3 + VMS_MAX_VERIFY_KEYS] = {"IN", "--target", "--mac-key"};
    const char *paths[3 + VMS_MAX_VERIFY_KEYS] = {in, o->target_path, o->mac_key_path};
    for (size_t i = 0; i < o->n_verify_keys; i++) {
        names[3 + i] = "--verify-key";
        paths[3 + i] = o->verify_key_path[i];
    }
    return stdin_once(names, paths, 3 + o->n_verify_keys);
}

int decoder_setup(vms_decoder **dec, const vms_decoder_callbacks *cb,
                  cli_decode_opts *opts)
{
    *dec = NULL;
    uint8_t key[CLI_MAC_KEY_MAX], id[VMS_KEY_ID_BYTES];
    size_t key_len = 0;
    uint8_t pub[VMS_MAX_VERIFY_KEYS][VMS_ED25519_KEY_BYTES];
    if (opts->target_path && !opts->target) {
        vms_descriptor_error derr;
        if (descriptor_load(opts->target_path, &opts->target, &derr) != EXIT_OK)
            return EXIT_USAGE; /* a bad --target is a usage error */
    }
    for (size_t i = 0; i < opts->n_verify_keys; i++)
        if (ed25519_public_load(opts->verify_key_path[i], pub[i], id) != EXIT_OK)
            return EXIT_USAGE;
    if (opts->mac_key_path && mac_key_load(opts->mac_key_path, key, &key_len, id) != EXIT_OK)
        return EXIT_USAGE;
    vms_limits *lim = NULL;
    const char *what = "create the decoder limits";
    int rc = vms_limits_new(&lim, NULL);
    for (int i = 0; rc == VMS_OK && i < VMS_LIMIT_COUNT; i++)
        if (opts->limit_set[i])
            rc = vms_limits_set(lim, (vms_limit)i, opts->limit[i]);
    if (rc == VMS_OK) {
        what = "create the decoder";
        rc = vms_decoder_new(dec, lim, cb, NULL);
    }
    vms_limits_free(lim);
    if (rc == VMS_OK && opts->mac_key_path) {
        what = "set the MAC key";
        rc = vms_decoder_set_mac_key(*dec, key, key_len, id);
    }
    explicit_bzero(key, sizeof key);
    for (size_t i = 0; rc == VMS_OK && i < opts->n_verify_keys; i++) {
        rc = vms_decoder_add_ed25519_key(*dec, pub[i]);
        if (rc == VMS_E_UNSUPPORTED) {
            no_ed25519();
            what = NULL;
        } else if (rc == VMS_E_BAD_KEY) {
            cli_error("'%s' is not a valid Ed25519 public key", opts->verify_key_path[i]);
            what = NULL;
        } else {
            what = "add a verification key";
        }
    }
    if (rc == VMS_OK && opts->threads > 1) {
        what = "set the decoder threads";
        rc = vms_decoder_set_threads(*dec, opts->threads);
    }
    if (rc == VMS_OK && opts->require_auth != VMS_AUTH_NONE) {
        what = "set the authentication policy";
        rc = vms_decoder_require_auth(*dec, opts->require_auth);
    }
    if (rc == VMS_OK && opts->target) {
        what = "set the target descriptor";
        rc = vms_decoder_set_target(*dec, opts->target, NULL);
    }
    if (rc != VMS_OK) {
        if (what)
            cli_error("cannot %s: %s", what, vms_strerror(rc));
        if (*dec) {
            vms_decoder_free(*dec); /* fires on_abort: callers tolerate it */
            *dec = NULL;
        }
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

void report_decoder_rejection(const vms_decoder *dec, const cli_decode_opts *opts)
{
    const vms_error_info *e = vms_decoder_error(dec);
    report_rejection(e);
    /* The decoder's message holds the check's reason, but it is bounded:
     * repeat the whole sentence when it was shortened. */
    const vms_descriptor *src = vms_decoder_descriptor(dec);
    if (e->code != VMS_E_INCOMPATIBLE || !opts || !opts->target || !src)
        return;
    vms_compat_result res;
    if (vms_compat_check(src, opts->target, NULL, &res) == VMS_E_INCOMPATIBLE &&
        (!e->message || !strstr(e->message, res.reason)))
        cli_error("incompatible device (%s): %s", vms_compat_rule_name(res.rule),
                  res.reason);
}

int decoder_run(vms_decoder *dec, cli_input *in, cli_progress *prog, size_t piece,
                cli_fed_fn before, cli_fed_fn after, void *ctx)
{
    /* Each read fills the buffer up to the decoder's feed hint (a pipe
     * gives 64 KiB at a time), and the buffer grows to the hint, so that
     * every feed ends where a SIMD batch of whole records does. */
    size_t cap = CLI_READ_CHUNK;
    uint8_t *buf = malloc(cap);
    if (!buf) {
        cli_error("out of memory");
        return CLI_READ_FAILED;
    }
    uint64_t total = 0;
    int rc = VMS_OK;
    for (;;) {
        size_t want = vms_decoder_feed_hint(dec);
        if (want > cap) {
            uint8_t *bigger = realloc(buf, want);
            if (bigger) { /* else keep going with the smaller buffer */
                buf = bigger;
                cap = want;
            }
        }
        size_t ask = want < cap ? want : cap;
        ssize_t n = read_full(in->fd, buf, ask);
        if (n < 0) {
            cli_error("cannot read '%s': %s", in->name, strerror(errno));
            rc = CLI_READ_FAILED;
            break;
        }
        if (n == 0) {
            rc = vms_decoder_finish(dec);
            break;
        }
        size_t step = piece == 0 || piece > (size_t)n ? (size_t)n : piece;
        bool stop = false;
        for (size_t pos = 0; pos < (size_t)n && !stop;) {
            size_t len = (size_t)n - pos < step ? (size_t)n - pos : step;
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
