/*
 * vendor-driver.c - command-line front end of the vmsdemo device (the
 * "vendor driver" of examples/): its compatibility descriptor, key
 * generation, and a one-host save/load through a file, where the file is
 * exactly what the device writes into (or reads from) its data fd: a
 * vmstream the `vmstream` CLI can verify and inspect.
 *
 *   vendor-driver --descriptor [--mem-size SIZE] [--device-version X.Y.Z]
 *   vendor-driver keygen --ed25519 PRIV.pem PUB.pem | --mac KEYFILE
 *   vendor-driver save -o FILE [options]     run the device, migrate it out
 *   vendor-driver load FILE [options]        load a saved stream (RESUMING)
 */
#include "vdev.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_REJECTED 1
#define EXIT_USAGE 2

static const char usage_text[] =
    "Usage: vendor-driver --descriptor [--mem-size SIZE] [--device-version X.Y.Z]\n"
    "       vendor-driver keygen --ed25519 PRIV.pem PUB.pem\n"
    "       vendor-driver keygen --mac KEYFILE\n"
    "       vendor-driver save -o FILE [OPTIONS]\n"
    "       vendor-driver load [OPTIONS] FILE\n"
    "       vendor-driver check-arcs\n"
    "\n"
    "The vmsdemo device emulator's command-line front end.\n"
    "  --descriptor     print the device's compatibility descriptor (text form)\n"
    "  keygen           make an Ed25519 key pair (PEM) or a 32-byte MAC key\n"
    "  save             run the device with its workload, then migrate it out\n"
    "                   (PRE_COPY passes, STOP_COPY) into FILE; print its digest\n"
    "  load             load FILE into a fresh device (STOP -> RESUMING -> STOP);\n"
    "                   print the digest, or why the device refused it\n"
    "  check-arcs       try every device_state transition on a live device: only\n"
    "                   the VFIO arcs may succeed\n"
    "\n"
    "Options:\n"
    "  --mem-size SIZE        device memory, power of two (default 256M)\n"
    "  --seed N               initial contents and workload seed\n"
    "  --device-version V     interface version in the descriptor (default 1.2.0)\n"
    "  --run-ms MS            save: workload time before migrating (default 300)\n"
    "  --compress             save: zstd-compressed records\n"
    "  --mac-key FILE         MAC the stream (save) / require its MAC (load)\n"
    "  --sign KEY.pem         save: sign the stream with this Ed25519 key\n"
    "  --verify-key PUB.pem   load: require a signature by this key\n"
    "\n"
    "Exit status: 0 success, 1 stream refused by the device, 2 usage or I/O error.\n";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

typedef struct options {
    vdev_options dev;
    uint8_t mac_key[64], sign_key[32], verify_key[32];
    const char *output;
    unsigned run_ms;
    bool seed_set;
} options;

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vendor-driver: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'vendor-driver --help'.\n");
    return EXIT_USAGE;
}

enum { OPT_MEM = 256, OPT_SEED, OPT_VERSION, OPT_RUN, OPT_COMPRESS, OPT_MAC, OPT_SIGN,
       OPT_VERIFY, OPT_DESCRIPTOR, OPT_HELP };

static const struct option long_opts[] = {
    {"mem-size", required_argument, NULL, OPT_MEM},
    {"seed", required_argument, NULL, OPT_SEED},
    {"device-version", required_argument, NULL, OPT_VERSION},
    {"run-ms", required_argument, NULL, OPT_RUN},
    {"compress", no_argument, NULL, OPT_COMPRESS},
    {"mac-key", required_argument, NULL, OPT_MAC},
    {"sign", required_argument, NULL, OPT_SIGN},
    {"verify-key", required_argument, NULL, OPT_VERIFY},
    {"descriptor", no_argument, NULL, OPT_DESCRIPTOR},
    {"output", required_argument, NULL, 'o'},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

/* Parses options from argv[optind].  *descriptor set by --descriptor. */
static int parse_options(int argc, char **argv, options *o, bool *descriptor)
{
    char err[256];
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:", long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_MEM:
            if (vdev_parse_size(optarg, &o->dev.mem_size))
                return usage_error("bad size '%s'", optarg);
            break;
        case OPT_SEED: {
            char *end;
            errno = 0;
            o->dev.seed = strtoull(optarg, &end, 0);
            if (errno || *end || end == optarg)
                return usage_error("bad seed '%s'", optarg);
            o->seed_set = true;
            break;
        }
        case OPT_VERSION:
            if (vdev_parse_version(optarg, &o->dev.version_major, &o->dev.version_minor,
                                   &o->dev.version_bugfix))
                return usage_error("bad version '%s' (want X.Y.Z)", optarg);
            break;
        case OPT_RUN:
            o->run_ms = (unsigned)strtoul(optarg, NULL, 10);
            break;
        case OPT_COMPRESS:
            o->dev.compress = true;
            break;
        case OPT_MAC:
            if (vdev_load_mac_key(optarg, o->mac_key, &o->dev.mac_key_len, err, sizeof err))
                return usage_error("%s", err);
            o->dev.mac_key = o->mac_key;
            break;
        case OPT_SIGN:
            if (vdev_load_ed25519_private(optarg, o->sign_key, err, sizeof err))
                return usage_error("%s", err);
            o->dev.sign_key = o->sign_key;
            break;
        case OPT_VERIFY:
            if (vdev_load_ed25519_public(optarg, o->verify_key, err, sizeof err))
                return usage_error("%s", err);
            o->dev.verify_key = o->verify_key;
            break;
        case OPT_DESCRIPTOR:
            *descriptor = true;
            break;
        case 'o':
            o->output = optarg;
            break;
        case OPT_HELP:
            fputs(usage_text, stdout);
            exit(0);
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    return 0;
}

static int cmd_descriptor(const options *o)
{
    vms_descriptor *d;
    char err[256];
    if (vdev_descriptor_new(&o->dev, &d, err, sizeof err)) {
        fprintf(stderr, "vendor-driver: %s\n", err);
        return EXIT_USAGE;
    }
    size_t need = 0;
    (void)vms_descriptor_format_text(d, NULL, 0, &need);
    char *text = malloc(need ? need : 1);
    int rc = text ? vms_descriptor_format_text(d, text, need, NULL) : VMS_E_NOMEM;
    if (rc == VMS_OK)
        fputs(text, stdout);
    else
        fprintf(stderr, "vendor-driver: cannot format the descriptor: %s\n", vms_strerror(rc));
    free(text);
    vms_descriptor_free(d);
    return rc == VMS_OK ? 0 : EXIT_USAGE;
}

static int cmd_keygen(int argc, char **argv)
{
    char err[256];
    if (argc == 4 && strcmp(argv[1], "--ed25519") == 0) {
        if (vdev_keygen_ed25519(argv[2], argv[3], err, sizeof err)) {
            fprintf(stderr, "vendor-driver: %s\n", err);
            return EXIT_USAGE;
        }
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--mac") == 0) {
        if (vdev_keygen_mac(argv[2], err, sizeof err)) {
            fprintf(stderr, "vendor-driver: %s\n", err);
            return EXIT_USAGE;
        }
        return 0;
    }
    return usage_error("%s", "keygen needs --ed25519 PRIV.pem PUB.pem or --mac KEYFILE");
}

static void print_digest(const char *what, vdev *dev)
{
    uint8_t d[VDEV_DIGEST_BYTES];
    char hex[2 * VDEV_DIGEST_BYTES + 1];
    vdev_state_digest(dev, d);
    vdev_hex(d, sizeof d, hex);
    printf("%s: %s\n", what, hex);
}

/* Reads the data fd into out until EOF (stop-copy) or, in pre-copy, until
 * the device has converged (nothing left to read, under 1 MiB dirty). */
static int copy_out(vdev *dev, int fd, int out, bool precopy, uint8_t *buf, uint64_t *total)
{
    for (;;) {
        ssize_t n = read(fd, buf, 1u << 20);
        if (n > 0) {
            if (write_all(out, buf, (size_t)n))
                return -1;
            *total += (uint64_t)n;
            continue;
        }
        if (n == 0)
            return precopy ? -1 : 0;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return -1;
        if (precopy) {
            vdev_precopy_info info;
            if (vdev_get_precopy_info(dev, &info))
                return -1;
            if (info.initial_bytes == 0 && (info.dirty_bytes <= (1u << 20) || info.passes >= 10))
                return 0;
        }
        struct pollfd pf = {fd, POLLIN, 0};
        (void)poll(&pf, 1, 5);
    }
}

static int cmd_save(options *o)
{
    char err[512];
    vdev *dev;
    if (!o->output)
        return usage_error("%s", "save needs -o FILE");
    if (!o->seed_set)
        o->dev.seed = 1;
    if (vdev_create(&dev, &o->dev, err, sizeof err)) {
        fprintf(stderr, "vendor-driver: %s\n", err);
        return EXIT_USAGE;
    }
    int out = open(o->output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    uint8_t *buf = malloc(1u << 20);
    int status = EXIT_USAGE, fd = -1;
    uint64_t total = 0;
    if (out < 0 || !buf) {
        fprintf(stderr, "vendor-driver: cannot create %s: %s\n", o->output, strerror(errno));
        goto done;
    }
    vdev_guest_set_running(dev, true);
    sleep_ms(o->run_ms);
    double t0 = now_s();
    if (vdev_set_state(dev, VDEV_STATE_PRE_COPY, &fd) ||
        fcntl(fd, F_SETFL, O_NONBLOCK) != 0 ||
        copy_out(dev, fd, out, true, buf, &total) ||
        vdev_set_state(dev, VDEV_STATE_STOP_COPY, NULL) ||
        fcntl(fd, F_SETFL, 0) != 0 ||
        copy_out(dev, fd, out, false, buf, &total) ||
        vdev_set_state(dev, VDEV_STATE_STOP, NULL)) {
        vdev_last_error(dev, err, sizeof err);
        fprintf(stderr, "vendor-driver: save failed: %s\n", err[0] ? err : strerror(errno));
        goto done;
    }
    vdev_stats st;
    vdev_get_stats(dev, &st);
    if (st.save_status != VMS_OK) {
        vdev_last_error(dev, err, sizeof err);
        fprintf(stderr, "vendor-driver: save failed: %s\n", err);
        goto done;
    }
    if (close(out) != 0) {
        out = -1;
        fprintf(stderr, "vendor-driver: cannot write %s\n", o->output);
        goto done;
    }
    out = -1;
    printf("saved: %" PRIu64 " stream bytes, %u pre-copy passes, %.3f s\n", total,
           st.passes, now_s() - t0);
    print_digest("digest", dev);
    status = 0;
done:
    if (fd >= 0)
        close(fd);
    if (out >= 0)
        close(out);
    free(buf);
    vdev_destroy(dev);
    return status;
}

static int cmd_load(options *o, const char *path)
{
    char err[512];
    vdev *dev;
    if (!o->seed_set)
        o->dev.seed = 2;
    if (vdev_create(&dev, &o->dev, err, sizeof err)) {
        fprintf(stderr, "vendor-driver: %s\n", err);
        return EXIT_USAGE;
    }
    int in = open(path, O_RDONLY | O_CLOEXEC);
    uint8_t *buf = malloc(1u << 20);
    int status = EXIT_USAGE, fd = -1;
    if (in < 0 || !buf) {
        fprintf(stderr, "vendor-driver: cannot open %s: %s\n", path, strerror(errno));
        goto done;
    }
    print_digest("digest before", dev);
    if (vdev_set_state(dev, VDEV_STATE_STOP, NULL) ||
        vdev_set_state(dev, VDEV_STATE_RESUMING, &fd)) {
        vdev_last_error(dev, err, sizeof err);
        fprintf(stderr, "vendor-driver: %s\n", err);
        goto done;
    }
    for (;;) {
        ssize_t n = read(in, buf, 1u << 20);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            fprintf(stderr, "vendor-driver: cannot read %s: %s\n", path, strerror(errno));
            goto done;
        }
        if (n == 0)
            break;
        if (write_all(fd, buf, (size_t)n))
            break; /* EPIPE: the device refused the stream; STOP says why */
    }
    close(fd);
    fd = -1;
    if (vdev_set_state(dev, VDEV_STATE_STOP, NULL)) {
        vdev_last_error(dev, err, sizeof err);
        printf("refused: %s\n", err);
        printf("device state: %s -> reset\n", vdev_state_name(vdev_get_state(dev)));
        vdev_reset(dev);
        print_digest("digest after", dev);
        status = EXIT_REJECTED;
        goto done;
    }
    printf("loaded: committed\n");
    print_digest("digest", dev);
    status = 0;
done:
    if (fd >= 0)
        close(fd);
    if (in >= 0)
        close(in);
    free(buf);
    vdev_destroy(dev);
    return status;
}

/* A complete stream of dev's own state (STOP -> STOP_COPY, read to EOF). */
static uint8_t *own_stream(vdev *dev, size_t *len)
{
    int fd = -1;
    size_t cap = 1u << 20, n = 0;
    uint8_t *buf = malloc(cap);
    vdev_reset(dev);
    if (!buf || vdev_set_state(dev, VDEV_STATE_STOP, NULL) ||
        vdev_set_state(dev, VDEV_STATE_STOP_COPY, &fd))
        goto fail;
    for (;;) {
        if (n == cap) {
            uint8_t *nb = realloc(buf, cap * 2);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    vdev_reset(dev);
    *len = n;
    return buf;
fail:
    if (fd >= 0)
        close(fd);
    free(buf);
    vdev_reset(dev);
    return NULL;
}

/* Brings the device (reset: RUNNING) to state s along legal arcs.  In
 * RESUMING it has received a complete valid stream.  Data fds opened on
 * the way are collected in fds. */
static int reach(vdev *dev, vdev_state s, const uint8_t *stream, size_t len, int fds[4],
                 int *nfd)
{
    int fd = -1;
    vdev_reset(dev);
    switch (s) {
    case VDEV_STATE_RUNNING:
        return 0;
    case VDEV_STATE_STOP:
        return vdev_set_state(dev, VDEV_STATE_STOP, NULL);
    case VDEV_STATE_PRE_COPY:
        if (vdev_set_state(dev, VDEV_STATE_PRE_COPY, &fd))
            return -1;
        fds[(*nfd)++] = fd;
        return 0;
    case VDEV_STATE_STOP_COPY:
        if (vdev_set_state(dev, VDEV_STATE_STOP, NULL) ||
            vdev_set_state(dev, VDEV_STATE_STOP_COPY, &fd))
            return -1;
        fds[(*nfd)++] = fd;
        return 0;
    case VDEV_STATE_RESUMING:
        if (vdev_set_state(dev, VDEV_STATE_STOP, NULL) ||
            vdev_set_state(dev, VDEV_STATE_RESUMING, &fd))
            return -1;
        fds[(*nfd)++] = fd;
        return write_all(fd, stream, len);
    case VDEV_STATE_ERROR:
        /* An empty stream: RESUMING -> STOP fails, the device is in ERROR. */
        if (vdev_set_state(dev, VDEV_STATE_STOP, NULL) ||
            vdev_set_state(dev, VDEV_STATE_RESUMING, &fd))
            return -1;
        close(fd);
        return vdev_set_state(dev, VDEV_STATE_STOP, NULL) == 0 ? -1 : 0;
    }
    return -1;
}

/* Tries every (from, to) pair of states on a live device: exactly the
 * kernel's arcs succeed, every other request fails with -EINVAL and leaves
 * the state unchanged.  Prints TAP-like lines. */
static int cmd_check_arcs(options *o)
{
    static const vdev_state all[] = {VDEV_STATE_ERROR, VDEV_STATE_STOP, VDEV_STATE_RUNNING,
                                     VDEV_STATE_STOP_COPY, VDEV_STATE_RESUMING,
                                     VDEV_STATE_PRE_COPY};
    const size_t n = sizeof all / sizeof all[0];
    char err[512];
    vdev *dev;
    if (!o->dev.mem_size)
        o->dev.mem_size = VDEV_MIN_MEM_SIZE;
    if (vdev_create(&dev, &o->dev, err, sizeof err)) {
        fprintf(stderr, "vendor-driver: %s\n", err);
        return EXIT_USAGE;
    }
    int failures = 0, legal = 0;
    size_t slen = 0;
    uint8_t *stream = own_stream(dev, &slen);
    if (!stream) {
        printf("not ok - cannot save the device's own state\n");
        vdev_destroy(dev);
        return EXIT_REJECTED;
    }
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            vdev_state from = all[i], to = all[j];
            int fds[4], nfd = 0, fd = -1;
            if (from == to)
                continue;
            if (reach(dev, from, stream, slen, fds, &nfd) || vdev_get_state(dev) != from) {
                printf("not ok - cannot reach %s\n", vdev_state_name(from));
                failures++;
                continue;
            }
            bool want = vdev_arc_legal(from, to);
            int rc = vdev_set_state(dev, to, &fd);
            vdev_state now = vdev_get_state(dev);
            bool good = want ? (rc == 0 && now == to) : (rc == -EINVAL && now == from);
            legal += want;
            printf("%s - %s -> %s %s%s\n", good ? "ok" : "not ok", vdev_state_name(from),
                   vdev_state_name(to), want ? "allowed" : "refused",
                   good ? "" : " (unexpected result)");
            failures += !good;
            if (fd >= 0)
                close(fd);
            for (int k = 0; k < nfd; k++)
                close(fds[k]);
            vdev_reset(dev);
        }
    }
    /* A legal arc can still fail: RESUMING -> STOP with an empty stream
     * goes to ERROR (reach() relies on it); only reset leaves ERROR. */
    {
        int fds[4], nfd = 0;
        bool good = reach(dev, VDEV_STATE_ERROR, stream, slen, fds, &nfd) == 0 &&
                    vdev_get_state(dev) == VDEV_STATE_ERROR;
        vdev_reset(dev);
        good = good && vdev_get_state(dev) == VDEV_STATE_RUNNING;
        printf("%s - RESUMING -> STOP on an empty stream fails into ERROR; reset -> RUNNING\n",
               good ? "ok" : "not ok");
        failures += !good;
    }
    printf("%d legal arcs, %d failures\n", legal, failures);
    free(stream);
    vdev_destroy(dev);
    return failures ? EXIT_REJECTED : 0;
}

int main(int argc, char **argv)
{
    options o;
    bool descriptor = false;
    memset(&o, 0, sizeof o);
    o.run_ms = 300;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 2) {
        fputs(usage_text, stderr);
        return EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    int first = (cmd[0] == '-') ? 0 : 1;
    int rc = parse_options(argc - first, argv + first, &o, &descriptor);
    if (rc)
        return rc;
    int rest = optind + first;
    if (descriptor || strcmp(cmd, "descriptor") == 0) {
        if (rest != argc)
            return usage_error("unexpected argument '%s'", argv[rest]);
        return cmd_descriptor(&o);
    }
    if (strcmp(cmd, "save") == 0) {
        if (rest != argc)
            return usage_error("unexpected argument '%s'", argv[rest]);
        return cmd_save(&o);
    }
    if (strcmp(cmd, "check-arcs") == 0) {
        if (rest != argc)
            return usage_error("unexpected argument '%s'", argv[rest]);
        return cmd_check_arcs(&o);
    }
    if (strcmp(cmd, "load") == 0) {
        if (rest + 1 != argc)
            return usage_error("%s", "load needs exactly one FILE");
        return cmd_load(&o, argv[rest]);
    }
    return usage_error("unknown command '%s'", cmd);
}
