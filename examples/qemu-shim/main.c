/*
 * main.c - qemu-shim command line.
 *
 *   qemu-shim dest   [--listen 127.0.0.1:0] [--port-file F] [OPTIONS]
 *   qemu-shim source --connect 127.0.0.1:PORT [OPTIONS]
 */
#include "shim.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "Usage: qemu-shim dest   [--listen ADDR:PORT] [--port-file FILE] [OPTIONS]\n"
    "       qemu-shim source --connect ADDR:PORT [OPTIONS]\n"
    "\n"
    "Plays QEMU's part of VFIO live migration for the vmsdemo device emulator\n"
    "(examples/vendor-driver), linked in-process.  Start the destination first;\n"
    "with port 0 (the default) it picks a free port, prints it and writes it to\n"
    "--port-file.  The shims exchange device descriptors and refuse an\n"
    "incompatible pair before any state moves.\n"
    "\n"
    "Device options (both sides):\n"
    "  --mem-size SIZE        device memory, a power of two (default 256M)\n"
    "  --seed N               initial contents (default: 1 source, 2 destination)\n"
    "  --device-version X.Y.Z interface version in the descriptor (default 1.2.0)\n"
    "  --mac-key FILE         MAC the stream / require its MAC (32 raw bytes)\n"
    "  --timeout SEC          network timeout (default 60)\n"
    "Source options:\n"
    "  --compress             zstd-compressed records\n"
    "  --sign KEY.pem         Ed25519-sign the stream\n"
    "  --workload-rate N      guest commands per second (default 2000)\n"
    "  --warmup-ms MS         run the workload this long first (default 500)\n"
    "  --threshold SIZE       stop-copy once dirty bytes <= SIZE (default 2M)\n"
    "  --max-passes N         at most N pre-copy passes (default 10)\n"
    "  --corrupt-at N         test: flip a bit of device stream byte N in transit\n"
    "  --pause-after N        test: hang after sending N device stream bytes\n"
    "  --break-invariant      test: the device writes a non-power-of-two ring size\n"
    "Destination options:\n"
    "  --verify-key PUB.pem   accept only streams signed by this key\n"
    "  --post-run-ms MS       run the guest this long after commit (default 200)\n"
    "\n"
    "Exit status: 0 migrated and digests equal, 1 migration failed (devices\n"
    "safe), 2 usage or I/O error, 3 refused by the pre-check, 4 digest mismatch.\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "qemu-shim: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'qemu-shim --help'.\n");
    return SHIM_EXIT_USAGE;
}

enum {
    OPT_LISTEN = 256, OPT_CONNECT, OPT_PORT_FILE, OPT_MEM, OPT_SEED, OPT_VERSION, OPT_MAC,
    OPT_TIMEOUT, OPT_COMPRESS, OPT_SIGN, OPT_RATE, OPT_WARMUP, OPT_THRESHOLD, OPT_PASSES,
    OPT_CORRUPT, OPT_PAUSE, OPT_BREAK, OPT_VERIFY, OPT_POST_RUN, OPT_HELP
};

static const struct option long_opts[] = {
    {"listen", required_argument, NULL, OPT_LISTEN},
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"port-file", required_argument, NULL, OPT_PORT_FILE},
    {"mem-size", required_argument, NULL, OPT_MEM},
    {"seed", required_argument, NULL, OPT_SEED},
    {"device-version", required_argument, NULL, OPT_VERSION},
    {"mac-key", required_argument, NULL, OPT_MAC},
    {"timeout", required_argument, NULL, OPT_TIMEOUT},
    {"compress", no_argument, NULL, OPT_COMPRESS},
    {"sign", required_argument, NULL, OPT_SIGN},
    {"workload-rate", required_argument, NULL, OPT_RATE},
    {"warmup-ms", required_argument, NULL, OPT_WARMUP},
    {"threshold", required_argument, NULL, OPT_THRESHOLD},
    {"max-passes", required_argument, NULL, OPT_PASSES},
    {"corrupt-at", required_argument, NULL, OPT_CORRUPT},
    {"pause-after", required_argument, NULL, OPT_PAUSE},
    {"break-invariant", no_argument, NULL, OPT_BREAK},
    {"verify-key", required_argument, NULL, OPT_VERIFY},
    {"post-run-ms", required_argument, NULL, OPT_POST_RUN},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int c)
{
    for (const struct option *p = long_opts; p->name; p++)
        if (p->val == c)
            return p->name;
    return "?";
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_uint(const char *s, unsigned *out, unsigned max)
{
    uint64_t v;
    if (parse_u64(s, &v) || v > max)
        return -1;
    *out = (unsigned)v;
    return 0;
}

/* Options that only make sense on one side. */
static bool source_only(int c)
{
    return c == OPT_CONNECT || c == OPT_COMPRESS || c == OPT_SIGN || c == OPT_RATE ||
           c == OPT_WARMUP || c == OPT_THRESHOLD || c == OPT_PASSES || c == OPT_CORRUPT ||
           c == OPT_PAUSE || c == OPT_BREAK;
}

static bool dest_only(int c)
{
    return c == OPT_LISTEN || c == OPT_PORT_FILE || c == OPT_VERIFY || c == OPT_POST_RUN;
}

int main(int argc, char **argv)
{
    static shim_opts o;
    char err[512];
    uint64_t u;
    signal(SIGPIPE, SIG_IGN); /* data fd and socket writes report EPIPE */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(usage_text, stdout);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "source") != 0 && strcmp(argv[1], "dest") != 0))
        return usage_error("first argument must be 'source' or 'dest'");
    o.source = strcmp(argv[1], "source") == 0;
    o.addr = o.source ? NULL : "127.0.0.1:0";
    o.threshold = 2u << 20;
    o.max_passes = 10;
    o.warmup_ms = 500;
    o.corrupt_at = o.pause_after = -1;
    o.post_run_ms = 200;
    o.timeout_s = 60;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, ":", long_opts, NULL)) != -1) {
        if ((o.source && dest_only(c)) || (!o.source && source_only(c)))
            return usage_error("option '--%s' is not for the %s side", opt_name(c),
                               o.source ? "source" : "destination");
        switch (c) {
        case OPT_LISTEN:
        case OPT_CONNECT:
            o.addr = optarg;
            break;
        case OPT_PORT_FILE:
            o.port_file = optarg;
            break;
        case OPT_MEM:
            if (vdev_parse_size(optarg, &o.dev.mem_size))
                return usage_error("bad size '%s'", optarg);
            break;
        case OPT_SEED:
            if (parse_u64(optarg, &o.dev.seed))
                return usage_error("bad seed '%s'", optarg);
            o.seed_set = true;
            break;
        case OPT_VERSION:
            if (vdev_parse_version(optarg, &o.dev.version_major, &o.dev.version_minor,
                                   &o.dev.version_bugfix))
                return usage_error("bad version '%s' (want X.Y.Z)", optarg);
            break;
        case OPT_MAC:
            if (vdev_load_mac_key(optarg, o.mac_key, &o.dev.mac_key_len, err, sizeof err))
                return usage_error("%s", err);
            o.dev.mac_key = o.mac_key;
            break;
        case OPT_TIMEOUT:
            if (parse_uint(optarg, &o.timeout_s, 3600) || o.timeout_s == 0)
                return usage_error("bad timeout '%s'", optarg);
            break;
        case OPT_COMPRESS:
            o.dev.compress = true;
            break;
        case OPT_SIGN:
            if (vdev_load_ed25519_private(optarg, o.sign_key, err, sizeof err))
                return usage_error("%s", err);
            o.dev.sign_key = o.sign_key;
            break;
        case OPT_RATE:
            if (parse_uint(optarg, &o.dev.workload_rate, 1000000) || o.dev.workload_rate == 0)
                return usage_error("bad rate '%s'", optarg);
            break;
        case OPT_WARMUP:
            if (parse_uint(optarg, &o.warmup_ms, 600000))
                return usage_error("bad time '%s'", optarg);
            break;
        case OPT_THRESHOLD:
            if (vdev_parse_size(optarg, &o.threshold))
                return usage_error("bad size '%s'", optarg);
            break;
        case OPT_PASSES:
            if (parse_uint(optarg, &o.max_passes, 100000) || o.max_passes == 0)
                return usage_error("bad pass count '%s'", optarg);
            break;
        case OPT_CORRUPT:
            if (parse_u64(optarg, &u) || u > INT64_MAX)
                return usage_error("bad offset '%s'", optarg);
            o.corrupt_at = (int64_t)u;
            break;
        case OPT_PAUSE:
            if (parse_u64(optarg, &u) || u > INT64_MAX)
                return usage_error("bad byte count '%s'", optarg);
            o.pause_after = (int64_t)u;
            break;
        case OPT_BREAK:
            o.dev.fault_bad_ring_size = true;
            break;
        case OPT_VERIFY:
            if (vdev_load_ed25519_public(optarg, o.verify_key, err, sizeof err))
                return usage_error("%s", err);
            o.dev.verify_key = o.verify_key;
            break;
        case OPT_POST_RUN:
            if (parse_uint(optarg, &o.post_run_ms, 600000))
                return usage_error("bad time '%s'", optarg);
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            return 0;
        case ':':
            return usage_error("option '%s' needs a value", argv[optind]);
        default:
            return usage_error("unknown option '%s'", argv[optind]);
        }
    }
    if (optind + 1 != argc)
        return usage_error("unexpected argument '%s'", argv[optind + 1]);
    if (o.source && !o.addr)
        return usage_error("the source needs --connect ADDR:PORT");
    int status = o.source ? shim_run_source(&o) : shim_run_dest(&o);
    explicit_bzero(&o, sizeof o); /* key material */
    return status;
}
