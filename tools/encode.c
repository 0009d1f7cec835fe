/* encode.c - `vmstream encode`: frame raw device state into a stream. */
#include "cli.h"
#include "progress.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char cli_help_encode[] =
    "Usage: vmstream encode [OPTIONS] -o OUT IN\n"
    "\n"
    "Frame the raw device state read from IN into a vmstream written to OUT.\n"
    "IN and OUT may be '-' for stdin and stdout.  A file OUT is written to a\n"
    "temporary file next to it and renamed into place only when complete; a\n"
    "device or FIFO OUT is written into (from a temporary file in $TMPDIR)\n"
    "only when complete, never replaced.\n"
    "\n"
    "Options:\n"
    "  -o, --output OUT        write the stream to OUT (required)\n"
    "      --vendor ID         32-bit vendor id, decimal or 0x-hex, or pci:0xHHHH;\n"
    "                          bit 31 set = PCI vendor id in the low 16 bits;\n"
    "                          with bit 31 clear only 0 (unspecified) is valid\n"
    "      --pci-vendor HEX    PCI vendor id (e.g. 10de), same as\n"
    "                          --vendor 0x8000HHHH\n"
    "      --version-blob FILE device-version blob (at most 64 KiB)\n"
    "      --section ID        section of the state: a number (default 0), or\n"
    "                          config (1), registers (2), memory (3)\n"
    "      --phase N|stop-copy migration phase: pre-copy pass N (default 0) or\n"
    "                          stop-copy (final data)\n"
    "      --offset N          offset of IN's first byte within the section\n"
    "                          (default 0)\n"
    "      --compress[=CODEC]  compress records: zlib or zstd; without CODEC,\n"
    "                          zstd when built into the library, else zlib\n"
    "      --level N           compression level (0 = the codec's default)\n"
    "      --chunk-size BYTES  record payload size, 1 byte to 64 MiB\n"
    "                          (default 1M)\n"
    "      --stream-id HEX32   fixed 16-byte stream id (32 hex digits); makes\n"
    "                          the output deterministic (default: random)\n"
    "      --descriptor FILE   text device descriptor of the source device\n"
    "                          (doc/COMPAT.md): stored in binary form as the\n"
    "                          version blob, and sets the vendor id; --vendor,\n"
    "                          --pci-vendor and --version-blob may be given too\n"
    "                          only when they say the same\n"
    "      --threads N         threads that page-map, compress and hash\n"
    "                          records (1 to 64, default 1); the output is the\n"
    "                          same for any number\n"
    "      --no-page-elision   send 4 KiB pages of one repeated byte as they\n"
    "                          are, instead of as one fill byte in a page map\n"
    "  -q, --quiet             no progress line\n"
    "  -h, --help              show this help\n"
    "\n"
    "Authentication (at most one; default: BLAKE2b checksums only):\n"
    "      --mac-key FILE      keyed BLAKE2b (MAC mode); FILE holds the key, 16\n"
    "                          to 64 raw bytes (vmstream keygen --mac: 32)\n"
    "      --sign KEY.pem      Ed25519 signatures; KEY.pem is an unencrypted\n"
    "                          PKCS#8 PEM private key (vmstream keygen\n"
    "                          --ed25519).  Needs OpenSSL 3 in the library\n"
    "      --checkpoint BYTES  with --sign: state bytes between signed\n"
    "                          checkpoints, 1K to 1G (default 16M).  A receiver\n"
    "                          holds this much (plus a record) before it can\n"
    "                          verify and deliver it: keep it below the\n"
    "                          receivers' buffered limit (80M by default)\n"
    "\n"
    "The header names the key by its key id: the first 8 bytes of\n"
    "BLAKE2b-256(\"libvmstream key id v1\" || key), over the MAC key, or over\n"
    "the Ed25519 public key.\n"
    "\n"
    "Sizes and offsets accept the binary suffixes K, M, G and T (KiB, MiB ...).\n"
    "A progress line is shown on stderr when it is a terminal.\n"
    "\n"
    "Exit status: 0 success, 2 usage or I/O error (including a descriptor\n"
    "that does not parse: FILE:LINE: MESSAGE).\n";

enum {
    OPT_VENDOR = 0x100,
    OPT_PCI_VENDOR,
    OPT_VERSION_BLOB,
    OPT_SECTION,
    OPT_PHASE,
    OPT_OFFSET,
    OPT_COMPRESS,
    OPT_LEVEL,
    OPT_CHUNK_SIZE,
    OPT_STREAM_ID,
    OPT_MAC_KEY,
    OPT_SIGN,
    OPT_CHECKPOINT,
    OPT_DESCRIPTOR,
    OPT_THREADS,
    OPT_NO_PAGE_ELISION
};

static const struct option encode_options[] = {
    {"output", required_argument, NULL, 'o'},
    {"vendor", required_argument, NULL, OPT_VENDOR},
    {"pci-vendor", required_argument, NULL, OPT_PCI_VENDOR},
    {"version-blob", required_argument, NULL, OPT_VERSION_BLOB},
    {"section", required_argument, NULL, OPT_SECTION},
    {"phase", required_argument, NULL, OPT_PHASE},
    {"offset", required_argument, NULL, OPT_OFFSET},
    {"compress", optional_argument, NULL, OPT_COMPRESS},
    {"level", required_argument, NULL, OPT_LEVEL},
    {"chunk-size", required_argument, NULL, OPT_CHUNK_SIZE},
    {"stream-id", required_argument, NULL, OPT_STREAM_ID},
    {"mac-key", required_argument, NULL, OPT_MAC_KEY},
    {"sign", required_argument, NULL, OPT_SIGN},
    {"checkpoint", required_argument, NULL, OPT_CHECKPOINT},
    {"descriptor", required_argument, NULL, OPT_DESCRIPTOR},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"no-page-elision", no_argument, NULL, OPT_NO_PAGE_ELISION},
    {"quiet", no_argument, NULL, 'q'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

#define DEFAULT_CHUNK ((size_t)1 << 20)
/* Input is read in buffers of at least this size, and at least 8 records
 * per thread: the encoder batches the records of one write call, up to 8
 * per thread, so large writes keep every thread busy. */
#define MIN_READ_BUFFER ((size_t)16 << 20)
#define MAX_READ_BUFFER ((size_t)1 << 30)
#define MAX_THREADS 64

typedef struct encode_opts {
    const char *out, *in;
    bool have_vendor;
    uint32_t vendor;
    const char *blob_path;
    uint32_t section;
    uint32_t phase;
    uint64_t offset;
    bool compress;
    const char *codec_name; /* NULL: automatic */
    int level;
    size_t chunk;
    bool have_stream_id;
    uint8_t stream_id[VMS_STREAM_ID_BYTES];
    const char *mac_key_path;
    const char *sign_key_path;
    bool have_checkpoint;
    uint64_t checkpoint;
    const char *descriptor_path;
    unsigned threads;
    bool no_page_elision;
    bool quiet;
} encode_opts;

static int parse_vendor(const char *s, uint32_t *out)
{
    uint64_t v;
    if (strncmp(s, "pci:", 4) == 0) {
        if (parse_u64("--vendor", s + 4, 0xffff, &v) != 0)
            return EXIT_USAGE;
        *out = VMS_VENDOR_PCI(v);
        return 0;
    }
    if (parse_u64("--vendor", s, UINT32_MAX, &v) != 0)
        return EXIT_USAGE;
    if (vms_vendor_id_check((uint32_t)v) != VMS_OK)
        return cli_usage_error("--vendor: 0x%08llx is not a valid vendor id (bit 31 set "
                               "with bits 16..30 zero for a PCI vendor, or 0)",
                               (unsigned long long)v);
    *out = (uint32_t)v;
    return 0;
}

static int parse_pci_vendor(const char *s, uint32_t *out)
{
    const char *p = s;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        p += 2;
    char buf[16];
    if (strlen(p) == 0 || strlen(p) > 4)
        return cli_usage_error("--pci-vendor: '%s' is not a 16-bit hex PCI vendor id", s);
    snprintf(buf, sizeof buf, "0x%s", p);
    uint64_t v;
    if (parse_u64("--pci-vendor", buf, 0xffff, &v) != 0)
        return EXIT_USAGE;
    *out = VMS_VENDOR_PCI(v);
    return 0;
}

static int parse_phase(const char *s, uint32_t *out)
{
    if (strcmp(s, "stop-copy") == 0) {
        *out = VMS_PHASE_STOP_COPY;
        return 0;
    }
    uint64_t v;
    if (parse_u64("--phase", s, VMS_PHASE_MAX_PRECOPY, &v) != 0)
        return EXIT_USAGE;
    *out = (uint32_t)v;
    return 0;
}

static int parse_encode_args(int argc, char **argv, encode_opts *o)
{
    memset(o, 0, sizeof *o);
    o->chunk = DEFAULT_CHUNK;
    o->threads = 1;
    bool pci_given = false, vendor_given = false;
    uint64_t v;
    int c;
    cli_getopt_reset();
    while ((c = getopt_long(argc, argv, ":o:qh", encode_options, NULL)) != -1) {
        switch (c) {
        case 'o':
            o->out = optarg;
            break;
        case OPT_VENDOR:
            if (parse_vendor(optarg, &o->vendor) != 0)
                return EXIT_USAGE;
            vendor_given = true;
            break;
        case OPT_PCI_VENDOR:
            if (parse_pci_vendor(optarg, &o->vendor) != 0)
                return EXIT_USAGE;
            pci_given = true;
            break;
        case OPT_VERSION_BLOB:
            o->blob_path = optarg;
            break;
        case OPT_SECTION:
            if (parse_section("--section", optarg, &o->section) != 0)
                return EXIT_USAGE;
            break;
        case OPT_PHASE:
            if (parse_phase(optarg, &o->phase) != 0)
                return EXIT_USAGE;
            break;
        case OPT_OFFSET:
            if (parse_size("--offset", optarg, UINT64_MAX, &o->offset) != 0)
                return EXIT_USAGE;
            break;
        case OPT_COMPRESS:
            o->compress = true;
            o->codec_name = optarg;
            if (optarg && strcmp(optarg, "zlib") != 0 && strcmp(optarg, "zstd") != 0)
                return cli_usage_error("--compress: unknown codec '%s' (zlib or zstd)",
                                       optarg);
            break;
        case OPT_LEVEL:
            if (parse_int("--level", optarg, &o->level) != 0)
                return EXIT_USAGE;
            break;
        case OPT_CHUNK_SIZE:
            if (parse_size("--chunk-size", optarg, VMS_MAX_RECORD_BYTES, &v) != 0)
                return EXIT_USAGE;
            if (v == 0)
                return cli_usage_error("--chunk-size: must be at least 1 byte");
            o->chunk = (size_t)v;
            break;
        case OPT_STREAM_ID:
            if (parse_hex_bytes("--stream-id", optarg, o->stream_id,
                                VMS_STREAM_ID_BYTES) != 0)
                return EXIT_USAGE;
            o->have_stream_id = true;
            break;
        case OPT_MAC_KEY:
            o->mac_key_path = optarg;
            break;
        case OPT_SIGN:
            o->sign_key_path = optarg;
            break;
        case OPT_CHECKPOINT:
            if (parse_size("--checkpoint", optarg, (uint64_t)1 << 30, &o->checkpoint) != 0)
                return EXIT_USAGE;
            if (o->checkpoint < 1024)
                return cli_usage_error("--checkpoint: must be at least 1K");
            o->have_checkpoint = true;
            break;
        case OPT_DESCRIPTOR:
            o->descriptor_path = optarg;
            break;
        case OPT_THREADS:
            if (parse_u64("--threads", optarg, MAX_THREADS, &v) != 0)
                return EXIT_USAGE;
            if (v == 0)
                return cli_usage_error("--threads: must be at least 1");
            o->threads = (unsigned)v;
            break;
        case OPT_NO_PAGE_ELISION:
            o->no_page_elision = true;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            return -1;
        default:
            return cli_bad_option(c, argc, argv, encode_options);
        }
    }
    if (pci_given && vendor_given)
        return cli_usage_error("--vendor and --pci-vendor exclude each other");
    o->have_vendor = pci_given || vendor_given;
    if (o->mac_key_path && o->sign_key_path)
        return cli_usage_error("--mac-key and --sign exclude each other");
    if (o->have_checkpoint && !o->sign_key_path)
        return cli_usage_error("--checkpoint needs --sign");
    if (o->level != 0 && !o->compress)
        return cli_usage_error("--level needs --compress");
    if (!o->out)
        return cli_usage_error("missing -o OUT");
    int r = cli_one_operand(argc, argv, "input file IN", &o->in);
    if (r != EXIT_OK)
        return r;
    const char *const names[] = {"IN", "--descriptor", "--version-blob", "--mac-key",
                                 "--sign"};
    const char *const paths[] = {o->in, o->descriptor_path, o->blob_path, o->mac_key_path,
                                 o->sign_key_path};
    return stdin_once(names, paths, sizeof paths / sizeof paths[0]);
}

/* Sink context: writes to an fd and remembers the first errno. */
typedef struct fd_sink {
    int fd;
    int err;
} fd_sink;

static int sink_write(void *ctx, const void *buf, size_t len)
{
    fd_sink *s = ctx;
    if (write_all(s->fd, buf, len) != 0) {
        s->err = errno;
        return -1;
    }
    return 0;
}

static int load_blob(const char *path, uint8_t **blob, size_t *len)
{
    cli_input in;
    if (input_open(&in, path) != EXIT_OK)
        return EXIT_USAGE;
    uint8_t *buf = malloc(VMS_MAX_BLOB_BYTES + 1);
    if (!buf) {
        input_close(&in);
        cli_error("out of memory");
        return EXIT_USAGE;
    }
    ssize_t n = read_full(in.fd, buf, VMS_MAX_BLOB_BYTES + 1);
    int err = errno;
    input_close(&in);
    if (n < 0) {
        free(buf);
        cli_error("cannot read version blob '%s': %s", path, strerror(err));
        return EXIT_USAGE;
    }
    if ((size_t)n > VMS_MAX_BLOB_BYTES) {
        free(buf);
        cli_error("version blob '%s' is larger than %u bytes", path, VMS_MAX_BLOB_BYTES);
        return EXIT_USAGE;
    }
    *blob = buf;
    *len = (size_t)n;
    return EXIT_OK;
}

/* Checks that --vendor/--pci-vendor and --version-blob agree with the
 * descriptor, which sets both.  Prints a message on a conflict. */
static int check_descriptor_consistency(const encode_opts *o, const vms_descriptor *desc,
                                        const uint8_t *blob, size_t blob_len)
{
    uint32_t dv = vms_descriptor_get_vendor_id(desc);
    if (o->have_vendor && o->vendor != dv) {
        char a[40], b[40];
        vendor_format(a, sizeof a, o->vendor);
        vendor_format(b, sizeof b, dv);
        return cli_usage_error("the vendor id given (%s) differs from the descriptor's (%s); "
                               "the descriptor sets the vendor id, so --vendor and "
                               "--pci-vendor are not needed", a, b);
    }
    if (o->blob_path) {
        uint8_t bin[VMS_DESC_MAX_BINARY];
        size_t n = 0;
        if (vms_descriptor_encode(desc, bin, sizeof bin, &n) != VMS_OK || n != blob_len ||
            memcmp(bin, blob, n) != 0)
            return cli_usage_error("--version-blob '%s' is not the binary form of the "
                                   "descriptor '%s'; with --descriptor the version blob "
                                   "is the descriptor, so leave --version-blob out",
                                   o->blob_path, o->descriptor_path);
    }
    return EXIT_OK;
}

/* Applies the settings of o to enc.  Prints a message on failure. */
static int configure(vms_encoder *enc, const encode_opts *o, const uint8_t *blob,
                     size_t blob_len, const vms_descriptor *desc)
{
    int rc = VMS_OK;
    if (desc && (rc = vms_encoder_set_descriptor(enc, desc)) != VMS_OK) {
        cli_error("cannot store the descriptor: %s", vms_strerror(rc));
        return EXIT_USAGE;
    }
    /* With a descriptor, a vendor id and a blob were checked to be the
     * descriptor's own: setting them again would mark the blob opaque. */
    if (!desc && o->have_vendor && (rc = vms_encoder_set_vendor(enc, o->vendor)) != VMS_OK) {
        cli_error("cannot set vendor id 0x%08x: %s", o->vendor, vms_strerror(rc));
        return EXIT_USAGE;
    }
    if (o->have_stream_id &&
        (rc = vms_encoder_set_stream_id(enc, o->stream_id)) != VMS_OK) {
        cli_error("cannot set the stream id: %s", vms_strerror(rc));
        return EXIT_USAGE;
    }
    if (!desc && blob_len &&
        (rc = vms_encoder_set_version_blob(enc, blob, blob_len)) != VMS_OK) {
        cli_error("cannot set the version blob: %s", vms_strerror(rc));
        return EXIT_USAGE;
    }
    if ((rc = vms_encoder_set_record_size(enc, o->chunk)) != VMS_OK) {
        cli_error("cannot set the chunk size to %zu: %s", o->chunk, vms_strerror(rc));
        return EXIT_USAGE;
    }
    if ((rc = vms_encoder_set_threads(enc, o->threads)) != VMS_OK) {
        cli_error("cannot use %u threads: %s", o->threads, vms_strerror(rc));
        return EXIT_USAGE;
    }
    if (o->no_page_elision && (rc = vms_encoder_set_page_elision(enc, 0)) != VMS_OK) {
        cli_error("cannot turn page elision off: %s", vms_strerror(rc));
        return EXIT_USAGE;
    }
    if (o->compress) {
        vms_codec codec = VMS_CODEC_ZSTD;
        if (o->codec_name && strcmp(o->codec_name, "zlib") == 0)
            codec = VMS_CODEC_ZLIB;
        rc = vms_encoder_set_compression(enc, codec, o->level);
        if (rc == VMS_E_UNSUPPORTED && !o->codec_name) {
            codec = VMS_CODEC_ZLIB; /* automatic choice: fall back to zlib */
            rc = vms_encoder_set_compression(enc, codec, o->level);
        }
        if (rc == VMS_E_UNSUPPORTED) {
            cli_error("codec %s is not built into this library", codec_name(codec));
            return EXIT_USAGE;
        }
        if (rc != VMS_OK) {
            cli_error("cannot use codec %s at level %d: %s", codec_name(codec), o->level,
                      vms_strerror(rc));
            return EXIT_USAGE;
        }
    }
    if (o->mac_key_path) {
        uint8_t key[CLI_MAC_KEY_MAX], id[VMS_KEY_ID_BYTES];
        size_t key_len;
        if (mac_key_load(o->mac_key_path, key, &key_len, id) != EXIT_OK)
            return EXIT_USAGE;
        rc = vms_encoder_set_mac_key(enc, key, key_len, id);
        explicit_bzero(key, sizeof key);
        if (rc != VMS_OK) {
            cli_error("cannot set the MAC key: %s", vms_strerror(rc));
            return EXIT_USAGE;
        }
    }
    if (o->sign_key_path) {
        uint8_t priv[VMS_ED25519_KEY_BYTES], id[VMS_KEY_ID_BYTES];
        if (ed25519_private_load(o->sign_key_path, priv, id) != EXIT_OK)
            return EXIT_USAGE;
        rc = vms_encoder_set_ed25519_key(enc, priv);
        explicit_bzero(priv, sizeof priv);
        if (rc != VMS_OK) {
            cli_error("cannot use the signing key '%s': %s", o->sign_key_path,
                      vms_strerror(rc));
            return EXIT_USAGE;
        }
        if (o->have_checkpoint &&
            (rc = vms_encoder_set_checkpoint_interval(enc, (size_t)o->checkpoint)) != VMS_OK) {
            cli_error("cannot set the checkpoint interval to %llu: %s",
                      (unsigned long long)o->checkpoint, vms_strerror(rc));
            return EXIT_USAGE;
        }
    }
    return EXIT_OK;
}

/* Streams a receiver with default limits would refuse are allowed (the
 * receiver may raise its limits) but deserve a warning. */
static void warn_limits(const encode_opts *o, size_t blob_len)
{
    uint64_t rec = vms_limit_default(VMS_LIMIT_RECORD_PAYLOAD);
    uint64_t blob = vms_limit_default(VMS_LIMIT_BLOB);
    if (o->chunk > rec)
        cli_error("warning: --chunk-size %zu is above the %llu-byte record limit of a "
                  "decoder with default limits (including vmstream decode)",
                  o->chunk, (unsigned long long)rec);
    if (blob_len > blob)
        cli_error("warning: the %zu-byte version blob is above the %llu-byte blob limit "
                  "of a decoder with default limits (including vmstream decode)",
                  blob_len, (unsigned long long)blob);
    /* A signed stream's receiver holds up to a checkpoint interval plus a
     * record, and needs its record buffers besides. */
    uint64_t buffered = vms_limit_default(VMS_LIMIT_BUFFERED);
    if (o->sign_key_path && o->have_checkpoint &&
        o->checkpoint + 3 * (uint64_t)o->chunk > buffered)
        cli_error("warning: --checkpoint %llu with %zu-byte records is above what a "
                  "decoder with default limits buffers (%llu bytes, including vmstream "
                  "decode): receivers need --limit buffered=...",
                  (unsigned long long)o->checkpoint, o->chunk,
                  (unsigned long long)buffered);
}

/* Reports an encoder failure: the sink's errno when it was the output. */
static void report_encoder_error(const vms_encoder *enc, const fd_sink *sink,
                                 const char *out_name)
{
    const vms_error_info *e = vms_encoder_error(enc);
    if (e->code == VMS_E_IO && sink->err)
        cli_error("cannot write '%s': %s", out_name, strerror(sink->err));
    else
        cli_error("%s: %s", vms_strerror(e->code),
                  e->message && *e->message ? e->message : "(no detail)");
}

/* Reads IN in buffers of whole chunks and hands them to the encoder. */
static int pump(vms_encoder *enc, const encode_opts *o, cli_input *in,
                const fd_sink *sink, const char *out_name)
{
    /* Whole records only, so every record but the last is full: at least
     * the encoder's write hint (all its batch slots) and MIN_READ_BUFFER
     * bytes, within MAX_READ_BUFFER; fewer records if memory is short. */
    size_t records = vms_encoder_write_hint(enc) / o->chunk;
    if (records < MIN_READ_BUFFER / o->chunk)
        records = MIN_READ_BUFFER / o->chunk;
    if (records > MAX_READ_BUFFER / o->chunk)
        records = MAX_READ_BUFFER / o->chunk;
    if (records == 0)
        records = 1;
    uint8_t *buf = NULL;
    size_t bufsize = 0;
    for (;;) {
        bufsize = records * o->chunk;
        buf = malloc(bufsize);
        if (buf || records == 1)
            break;
        records /= 2;
    }
    if (!buf) {
        cli_error("out of memory for a %zu-byte buffer", bufsize);
        return EXIT_USAGE;
    }
    cli_progress prog;
    progress_begin(&prog, "encode", in->size_known ? in->size : 0, o->quiet);
    /* Emit the header now: settings errors show before any input is read. */
    int rc = vms_encoder_write(enc, o->section, o->offset, o->phase, NULL, 0);
    uint64_t done = 0;
    int status = EXIT_OK;
    while (rc == VMS_OK) {
        /* Full buffers keep every record but the last exactly chunk bytes. */
        ssize_t n = read_full(in->fd, buf, bufsize);
        if (n < 0) {
            cli_error("cannot read '%s': %s", in->name, strerror(errno));
            status = EXIT_USAGE;
            break;
        }
        if (n == 0)
            break;
        if (o->offset > UINT64_MAX - done) {
            cli_error("--offset %llu plus %llu bytes of input overflows 64 bits",
                      (unsigned long long)o->offset, (unsigned long long)done);
            status = EXIT_USAGE;
            break;
        }
        rc = vms_encoder_write(enc, o->section, o->offset + done, o->phase, buf, (size_t)n);
        done += (uint64_t)n;
        progress_update(&prog, done);
        if ((size_t)n < bufsize)
            break;
    }
    if (rc == VMS_OK && status == EXIT_OK)
        rc = vms_encoder_finish(enc);
    progress_end(&prog);
    free(buf);
    if (status == EXIT_OK && rc != VMS_OK) {
        report_encoder_error(enc, sink, out_name);
        status = EXIT_USAGE;
    }
    return status;
}

int cmd_encode(int argc, char **argv)
{
    encode_opts o;
    int rc = parse_encode_args(argc, argv, &o);
    if (rc < 0)
        return cli_print_help(cli_help_encode);
    if (rc != 0)
        return EXIT_USAGE;

    bool to_stdout = strcmp(o.out, "-") == 0;
    if (to_stdout && isatty(STDOUT_FILENO) == 1) {
        cli_error("refusing to write a binary stream to a terminal; use -o FILE or "
                  "redirect stdout");
        return EXIT_USAGE;
    }
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    if (o.blob_path && load_blob(o.blob_path, &blob, &blob_len) != EXIT_OK)
        return EXIT_USAGE;
    vms_descriptor *desc = NULL;
    if (o.descriptor_path) {
        if (descriptor_load(o.descriptor_path, &desc, NULL) != EXIT_OK ||
            check_descriptor_consistency(&o, desc, blob, blob_len) != EXIT_OK) {
            vms_descriptor_free(desc);
            free(blob);
            return EXIT_USAGE;
        }
        size_t n = 0;
        (void)vms_descriptor_encode(desc, NULL, 0, &n);
        blob_len = n; /* for warn_limits */
    }

    cli_input in;
    if (input_open(&in, o.in) != EXIT_OK) {
        vms_descriptor_free(desc);
        free(blob);
        return EXIT_USAGE;
    }
    cli_tmpfile tmp = {-1, NULL, false};
    fd_sink sink = {STDOUT_FILENO, 0};
    vms_encoder *enc = NULL;
    int status = EXIT_OK;
    if (!to_stdout) {
        status = tmpfile_create_beside(&tmp, o.out);
        sink.fd = tmp.fd;
    }
    if (status == EXIT_OK) {
        rc = vms_encoder_new(&enc, sink_write, &sink, NULL);
        if (rc != VMS_OK) {
            cli_error("cannot create the encoder: %s", vms_strerror(rc));
            status = EXIT_USAGE;
        }
    }
    if (status == EXIT_OK)
        status = configure(enc, &o, blob, blob_len, desc);
    if (status == EXIT_OK)
        warn_limits(&o, blob_len);
    free(blob);
    vms_descriptor_free(desc);
    if (status == EXIT_OK)
        status = pump(enc, &o, &in, &sink, to_stdout ? "<stdout>" : o.out);
    vms_encoder_free(enc);
    input_close(&in);
    if (!to_stdout) {
        if (status == EXIT_OK)
            status = tmpfile_commit(&tmp, o.out);
        else
            tmpfile_discard(&tmp);
    }
    return status;
}
