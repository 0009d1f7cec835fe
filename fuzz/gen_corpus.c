/* gen_corpus.c - writes the seed corpus of every harness from the encoder.
 *
 *   gen_corpus OUTDIR [STAMP]
 *
 * creates OUTDIR/<harness>/ and fills it with small inputs: streams of
 * every mode (plain, zlib, zstd, page-mapped, MAC, Ed25519-signed with the
 * harnesses' fixed key, multi-section/phase, descriptor blob, empty,
 * odd record sizes), control-block variants of them for the decode
 * harness, option blocks for the round trip, descriptors in text and
 * binary form, and PEM keys.  Deterministic: the same files every run. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static const char *outdir;
static unsigned long nfiles;

static void mkdir_p(const char *p)
{
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        perror(p);
        exit(1);
    }
}

static void put(const char *harness, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, harness);
    mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s", outdir, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    nfiles++;
}

typedef struct spec {
    const char *name;
    vms_codec codec;
    int elide;
    int auth; /* 0 none, 1 MAC, 2 Ed25519 */
    size_t record_size;
    size_t state;     /* bytes of state per write */
    int writes;       /* 0 = no record at all */
    int multi;        /* vary section and phase per write */
    int blob;         /* 1 opaque blob, 2 binary descriptor */
    size_t ckpt;      /* checkpoint interval (signed) */
} spec;

static const spec specs[] = {
    {"plain", VMS_CODEC_NONE, 0, 0, 1024, 3000, 1, 0, 0, 0},
    {"plain-odd", VMS_CODEC_NONE, 0, 0, 13, 100, 1, 0, 0, 0},
    {"one-byte", VMS_CODEC_NONE, 0, 0, 1, 1, 1, 0, 0, 0},
    {"empty", VMS_CODEC_NONE, 1, 0, 4096, 0, 0, 0, 0, 0},
    {"zlib", VMS_CODEC_ZLIB, 0, 0, 2048, 6000, 1, 0, 0, 0},
    {"zstd", VMS_CODEC_ZSTD, 0, 0, 2048, 6000, 1, 0, 0, 0},
    {"pagemap", VMS_CODEC_NONE, 1, 0, 16384, 20000, 1, 0, 0, 0},
    {"pagemap-zlib", VMS_CODEC_ZLIB, 1, 0, 16384, 20000, 1, 0, 0, 0},
    {"pagemap-zstd", VMS_CODEC_ZSTD, 1, 0, 12288, 20000, 1, 0, 0, 0},
    {"mac", VMS_CODEC_NONE, 0, 1, 512, 1500, 1, 0, 0, 0},
    {"mac-zlib-pagemap", VMS_CODEC_ZLIB, 1, 1, 8192, 12000, 2, 1, 0, 0},
    {"signed", VMS_CODEC_NONE, 0, 2, 512, 3000, 1, 0, 0, 1024},
    {"signed-zstd-pagemap", VMS_CODEC_ZSTD, 1, 2, 8192, 9000, 2, 1, 0, 4096},
    {"signed-empty", VMS_CODEC_NONE, 0, 2, 512, 0, 0, 0, 0, 1024},
    {"multi", VMS_CODEC_ZLIB, 1, 0, 3000, 5000, 5, 1, 0, 0},
    {"blob", VMS_CODEC_NONE, 0, 0, 256, 300, 1, 0, 1, 0},
    {"descriptor", VMS_CODEC_ZLIB, 1, 0, 4096, 5000, 2, 1, 2, 0},
};

static const char desc_text[] =
    "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=nvidia-11\nversion=1.2.0\n"
    "accept_types=nvidia-12,nvidia-21\ndeny_versions=1.1.3,1.2.7\n"
    "field.aggregator=1\nfield.aggregator.rule=ge\n"
    "field.pv_mode=none+ppgtt\nfield.pv_mode.rule=superset\n"
    "field.display=on\n";

static void fill_state(uint8_t *p, size_t n, uint64_t seed)
{
    for (size_t pg = 0; pg < n; pg += VMS_PAGE) {
        size_t end = pg + VMS_PAGE < n ? pg + VMS_PAGE : n;
        unsigned kind = (unsigned)((pg / VMS_PAGE + seed) % 4);
        for (size_t i = pg; i < end; i++)
            p[i] = kind == 0   ? (uint8_t)vf_rand(&seed)
                   : kind == 1 ? 0
                   : kind == 2 ? (uint8_t)("device register state "[i % 23])
                               : 0xff;
    }
}

static int make_stream(const spec *s, vms_membuf *mb)
{
    vms_encoder *e = NULL;
    if (vms_encoder_new(&e, vms_sink_membuf, mb, NULL) != VMS_OK)
        return -1;
    int rc = vms_encoder_set_stream_id(e, vf_stream_id);
    rc |= vms_encoder_set_vendor(e, VMS_VENDOR_PCI(0x10de));
    rc |= vms_encoder_set_record_size(e, s->record_size);
    rc |= vms_encoder_set_page_elision(e, s->elide);
    if (rc)
        goto fail;
    if (vms_encoder_set_compression(e, s->codec, 0) != VMS_OK)
        goto fail; /* zstd not built: skip */
    if (s->auth == 1) {
        uint8_t id[VMS_KEY_ID_BYTES];
        vf_mac_key_id(id);
        if (vms_encoder_set_mac_key(e, vf_mac_key, sizeof vf_mac_key, id) != VMS_OK)
            goto fail;
    } else if (s->auth == 2) {
        if (vms_encoder_set_ed25519_key(e, vf_ed_priv) != VMS_OK ||
            vms_encoder_set_checkpoint_interval(e, s->ckpt) != VMS_OK)
            goto fail;
    }
    if (s->blob == 1) {
        static const char b[] = "opaque device version 7.1";
        if (vms_encoder_set_version_blob(e, b, sizeof b - 1) != VMS_OK)
            goto fail;
    } else if (s->blob == 2) {
        vms_descriptor *d = NULL;
        uint8_t bin[VMS_DESC_MAX_BINARY];
        size_t n = 0;
        if (vms_descriptor_parse_text(&d, desc_text, sizeof desc_text - 1, NULL, NULL) !=
                VMS_OK ||
            vms_descriptor_encode(d, bin, sizeof bin, &n) != VMS_OK ||
            vms_encoder_set_descriptor(e, d) != VMS_OK) {
            vms_descriptor_free(d);
            goto fail;
        }
        vms_descriptor_free(d);
    }
    uint8_t *st = malloc(s->state ? s->state : 1);
    if (!st)
        goto fail;
    uint64_t off[3] = {0, 0, 0};
    uint32_t phase = 0;
    for (int w = 0; w < s->writes; w++) {
        uint32_t sec = s->multi ? (uint32_t)(w % 3) : 1;
        if (s->multi && w > 0)
            phase = w == s->writes - 1 ? VMS_PHASE_STOP_COPY : phase + (uint32_t)(w % 2);
        fill_state(st, s->state, (uint64_t)w * 7 + 1);
        if (vms_encoder_write(e, sec, off[sec], phase, st, s->state) != VMS_OK) {
            free(st);
            goto fail;
        }
        off[sec] += s->state;
    }
    free(st);
    if (vms_encoder_finish(e) != VMS_OK)
        goto fail;
    vms_encoder_free(e);
    return 0;
fail:
    vms_encoder_free(e);
    return -1;
}

static void streams(void)
{
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        const spec *s = &specs[i];
        vms_membuf mb = {0};
        if (make_stream(s, &mb) != 0) {
            fprintf(stderr, "gen_corpus: skipping %s (not supported by this build)\n",
                    s->name);
            vms_membuf_release(&mb);
            continue;
        }
        put("decode_mutator", s->name, mb.data, mb.len);
        /* decode: control blocks (see fuzz/decode.c) */
        static const uint8_t ctrl[][8] = {
            {0x03, 0x00, 0, 0, 1, 0, 0, 0}, /* both keys, whole */
            {0x03, 0x01, 0, 0, 2, 0, 0, 0}, /* byte at a time */
            {0x03, 0x09, 0, 0, 3, 0, 0, 0}, /* chunks up to 512 */
            {0x43, 0x05, 0, 0, 4, 0, 0, 0}, /* tight limits */
            {0x83, 0x07, 0, 0, 5, 0, 0, 0}, /* random limits */
            {0x23, 0x0c, 0x0b, 0, 6, 0, 0, 0}, /* trailing byte; refuse record 2 */
            {0x03, 0x03, 0, 0x20, 7, 0, 0, 0}, /* target descriptor */
            {0x03, 0x03, 0, 0x60, 8, 0, 0, 0}, /* target + vendor callbacks */
        };
        size_t nctrl = s->auth ? 3 : sizeof ctrl / sizeof ctrl[0];
        for (size_t k = 0; k < nctrl; k++) {
            uint8_t *in = malloc(8 + mb.len);
            if (!in)
                exit(1);
            memcpy(in, ctrl[k], 8);
            memcpy(in + 8, mb.data, mb.len);
            char name[128];
            snprintf(name, sizeof name, "%s-%zu", s->name, k);
            put("decode", name, in, 8 + mb.len);
            free(in);
        }
        vms_membuf_release(&mb);
    }
}

static void roundtrip(void)
{
    /* option block (12 bytes) + writes (6 bytes each); see fuzz/roundtrip.c */
    static const uint8_t seeds[][12 + 4 * 6] = {
        {0x00, 0xff, 0x03, 0x00, 0, 0, 0, 0, 1, 0, 0, 0,
         0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x01, 0x00, 0x10, 0x00, 0x01, 0x00},
        {0x01, 0xff, 0x1f, 0x00, 6, 0, 0, 5, 2, 0, 0, 0,
         0x41, 0x03, 0x00, 0x30, 0x03, 0x00, 0x02, 0x00, 0x20, 0x00, 0x0b, 0x01,
         0x03, 0xf0, 0x10, 0x00, 0x04, 0x02},
        {0x02, 0x00, 0x20, 0x00, 3, 0, 0, 0, 3, 0, 0, 0,
         0x00, 0x00, 0x00, 0x50, 0x05, 0x00, 0x01, 0x03, 0x00, 0x10, 0x00, 0x03},
        {0x08, 0x00, 0x02, 0x00, 0, 0, 0, 9, 4, 0, 0, 0,
         0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x01, 0x00, 0x00, 0x10, 0x03, 0x00},
        {0x11, 0x00, 0x10, 0x00, 0, 0x10, 0, 0, 5, 0, 0, 0,
         0x00, 0x00, 0x00, 0x20, 0x03, 0x00, 0x01, 0x03, 0x00, 0x20, 0x00, 0x00,
         0x02, 0xf1, 0x00, 0x08, 0x01, 0x00},
        {0x12, 0x40, 0x06, 0x80, 1, 0x00, 0x01, 1, 6, 0, 0, 0,
         0x80, 0x00, 0x00, 0x40, 0x05, 0x00},
        {0x04, 0x07, 0x00, 0x00, 0, 0, 0, 0, 7, 0, 0, 0,
         0x00, 0x00, 0x77, 0x00, 0x00, 0x00},
        /* gathering on 2 threads: writes of 1 and 3 records of 1025
         * bytes, one of 58 records, a stub; flushes after writes 0 and 5 */
        {0x40, 0x00, 0x04, 0x00, 0x10, 0, 0, 0, 8, 0, 0, 0,
         0x00, 0x00, 0x01, 0x04, 0x00, 0x00, 0x01, 0x00, 0x03, 0x0c, 0x03, 0x00,
         0x00, 0x01, 0x60, 0xea, 0x00, 0x00, 0x02, 0x00, 0xf4, 0x01, 0x04, 0x00},
        /* the same with zlib, in lent memory, on 3 threads, page elision off */
        {0x65, 0x00, 0x04, 0x00, 0x21, 1, 0, 0, 9, 0, 0, 0,
         0x00, 0x00, 0x01, 0x04, 0x04, 0x00, 0x01, 0x00, 0x01, 0x04, 0x03, 0x00,
         0x40, 0x01, 0x60, 0x6a, 0x00, 0x00, 0x02, 0x00, 0xf4, 0x01, 0x04, 0x00},
    };
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "rt-%zu", i);
        put("roundtrip", name, seeds[i], sizeof seeds[i]);
    }
}

static void descriptors(void)
{
    static const char *const texts[] = {
        desc_text,
        "vendor_id=0x00000000\ndevice_api=vfio-ccw\ntype=t\nversion=0.0.0\n",
        "# comment\r\nvendor_id = 0x80001af4\r\n\tdevice_api=vfio-pci \r\n"
        "type=virtio-net:1\r\nversion=4294967295.0.1\r\nfield.queues=18446744073709551615\r\n"
        "field.queues.rule=ge\r\nfield.mac=52-54-00-ab/cd@e%f~g,h.i:j+k\r\n",
        "vendor_id=pci:0x8086\ndevice_api=vfio-pci\ntype=i915-GVTg_V5_4\nversion=2.0.0\n"
        "deny_versions=2.0.0\nfield.caps=a+b+c\nfield.caps.rule=superset\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "text-%zu", i);
        put("descriptor_text", name, texts[i], strlen(texts[i]));
        vms_descriptor *d = NULL;
        uint8_t bin[VMS_DESC_MAX_BINARY];
        size_t n = 0;
        if (vms_descriptor_parse_text(&d, texts[i], strlen(texts[i]), NULL, NULL) == VMS_OK &&
            vms_descriptor_encode(d, bin, sizeof bin, &n) == VMS_OK) {
            snprintf(name, sizeof name, "bin-%zu", i);
            put("descriptor_binary", name, bin, n);
            char txt[VMS_DESC_MAX_TEXT];
            if (vms_descriptor_format_text(d, txt, sizeof txt, &n) == VMS_OK) {
                snprintf(name, sizeof name, "formatted-%zu", i);
                put("descriptor_text", name, txt, n - 1);
            }
        } else {
            fprintf(stderr, "gen_corpus: descriptor %zu did not parse\n", i);
            exit(1);
        }
        vms_descriptor_free(d);
    }
}

static void keys(void)
{
    char buf[1024];
    size_t n = 0;
    uint8_t pub[VMS_ED25519_KEY_BYTES];
    if (vms_ed25519_private_pem(vf_ed_priv, buf, sizeof buf, &n) != VMS_OK || !vf_ed_pub(pub)) {
        fprintf(stderr, "gen_corpus: no Ed25519 support, keys corpus left empty\n");
        return;
    }
    put("keys", "private.pem", buf, n - 1);
    if (vms_ed25519_public_pem(pub, buf, sizeof buf, &n) == VMS_OK)
        put("keys", "public.pem", buf, n - 1);
    /* both in one file, and one with CRLF line ends */
    char both[2048];
    size_t m = 0;
    if (vms_ed25519_private_pem(vf_ed_priv, both, sizeof both, &n) == VMS_OK) {
        m = n - 1;
        if (vms_ed25519_public_pem(pub, both + m, sizeof both - m, &n) == VMS_OK)
            put("keys", "both.pem", both, m + n - 1);
    }
    char crlf[2048];
    size_t k = 0;
    for (size_t i = 0; i < m && k + 2 < sizeof crlf; i++) {
        if (both[i] == '\n')
            crlf[k++] = '\r';
        crlf[k++] = both[i];
    }
    put("keys", "crlf.pem", crlf, k);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3) {
        fprintf(stderr, "usage: gen_corpus OUTDIR [STAMP]\n");
        return 2;
    }
    outdir = argv[1];
    mkdir_p(outdir);
    streams();
    roundtrip();
    descriptors();
    keys();
    if (argc == 3) {
        FILE *f = fopen(argv[2], "w");
        if (!f || fprintf(f, "%lu\n", nfiles) < 0 || fclose(f) != 0) {
            perror(argv[2]);
            return 1;
        }
    }
    printf("gen_corpus: wrote %lu files under %s\n", nfiles, outdir);
    return 0;
}
