/* make_nasty.c - writes the hand-made adversarial inputs of the regression
 * corpus (tests/regress/<harness>/nasty-*).  They are checked in; this
 * program documents how each was made and can re-create them:
 *
 *   build-fuzz/fuzz/make_nasty tests/regress
 *
 * Streams for decode_mutator carry valid checksums (production decoder);
 * the same streams go to decode (checksum bypass) behind an 8-byte control
 * block (fuzz/decode.c) selecting byte-at-a-time feeding, both keys and,
 * for some, tight limits. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#ifdef VMSFUZZ_HAVE_ZSTD
#include <zstd.h>
#endif

#include "fuzz.h"

static const char *root;

static void put(const char *harness, const char *name, const void *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, harness);
    if (mkdir(path, 0777) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/nasty-%s", root, harness, name);
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

/* ---- a stream builder with valid checksums ---------------------------------------- */

typedef struct sb {
    uint8_t *p;
    size_t n, cap;
    uint8_t hd[VMS_DIGEST_BYTES], chain[VMS_DIGEST_BYTES];
    uint8_t key_id[VMS_KEY_ID_BYTES];
    uint64_t seq, raw_total;
    uint8_t auth;
} sb;

static uint8_t *grow(sb *s, size_t n)
{
    if (s->n + n > s->cap) {
        size_t nc = s->cap ? s->cap : 4096;
        while (nc < s->n + n)
            nc *= 2;
        s->p = realloc(s->p, nc);
        if (!s->p)
            exit(1);
        s->cap = nc;
    }
    uint8_t *q = s->p + s->n;
    memset(q, 0, n);
    s->n += n;
    return q;
}

static const uint8_t *mkey(const sb *s) { return s->auth == VMS_AUTH_MAC ? vf_mac_key : NULL; }
static size_t mkeylen(const sb *s) { return s->auth == VMS_AUTH_MAC ? sizeof vf_mac_key : 0; }

static void sb_header(sb *s, uint8_t codec, uint32_t feat, uint32_t max_record, uint8_t auth,
                      const uint8_t *blob, uint32_t blob_len, uint16_t minor, size_t ext)
{
    memset(s, 0, sizeof *s);
    s->auth = auth;
    size_t hl = VMS_H_FIXED + (size_t)vms_pad8(blob_len) + ext + VMS_DIGEST_BYTES;
    uint8_t *h = grow(s, hl);
    memcpy(h, VMS_MAGIC, VMS_MAGIC_LEN);
    vms_put16(h + VMS_H_MAJOR, 1);
    vms_put16(h + VMS_H_MINOR, minor);
    vms_put32(h + VMS_H_LENGTH, (uint32_t)hl);
    vms_put32(h + VMS_H_FEAT_REQ, feat | (codec ? VMS_FEAT_COMPRESSION : 0));
    h[VMS_H_CSUM_ALG] = VMS_CSUM_BLAKE2B_256;
    h[VMS_H_AUTH] = auth;
    h[VMS_H_CODEC] = codec;
    vms_put32(h + VMS_H_VENDOR, VMS_VENDOR_PCI(0x10de));
    memcpy(h + VMS_H_STREAM_ID, vf_stream_id, VMS_STREAM_ID_BYTES);
    if (auth == VMS_AUTH_MAC) {
        vf_mac_key_id(h + VMS_H_KEY_ID);
    } else if (auth == VMS_AUTH_ED25519) {
        uint8_t pub[VMS_ED25519_KEY_BYTES];
        if (!vf_ed_pub(pub))
            exit(1);
        vms_key_id(pub, sizeof pub, h + VMS_H_KEY_ID);
    }
    memcpy(s->key_id, h + VMS_H_KEY_ID, VMS_KEY_ID_BYTES);
    vms_put32(h + VMS_H_MAX_RECORD, max_record);
    vms_put32(h + VMS_H_BLOB_LEN, blob_len);
    if (blob_len)
        memcpy(h + VMS_H_FIXED, blob, blob_len);
    vms_digest_header(h + hl - VMS_DIGEST_BYTES, h, hl - VMS_DIGEST_BYTES, mkey(s), mkeylen(s));
    memcpy(s->hd, h + hl - VMS_DIGEST_BYTES, VMS_DIGEST_BYTES);
    memcpy(s->chain, s->hd, VMS_DIGEST_BYTES);
}

/* Appends a record; wire_len is the length field written (the payload is
 * n bytes), so a lying length can be made with a valid checksum. */
static void sb_rec(sb *s, uint16_t type, uint16_t flags, uint32_t section, uint64_t offset,
                   uint32_t phase, const uint8_t *pl, size_t n, uint32_t wire_len,
                   uint32_t raw_len)
{
    uint8_t *r = grow(s, VMS_R_HDR);
    size_t at = (size_t)(r - s->p);
    vms_put16(r + VMS_R_TYPE, type);
    vms_put16(r + VMS_R_FLAGS, flags);
    vms_put32(r + VMS_R_SECTION, section);
    vms_put64(r + VMS_R_SEQ, s->seq);
    vms_put64(r + VMS_R_OFFSET, offset);
    vms_put32(r + VMS_R_PHASE, phase);
    vms_put32(r + VMS_R_WIRE_LEN, wire_len);
    vms_put32(r + VMS_R_RAW_LEN, raw_len);
    uint8_t *b = grow(s, (size_t)vms_pad8(n));
    if (n)
        memcpy(b, pl, n);
    r = s->p + at;
    uint8_t prefix[VMS_PREFIX_BYTES];
    vms_make_prefix(prefix, vf_stream_id, s->hd, r);
    vms_digest_record(r + VMS_R_CHECKSUM, prefix, b, n, mkey(s), mkeylen(s));
    if (type != VMS_REC_END)
        vms_chain_step(s->chain, r + VMS_R_CHECKSUM);
    if (type == VMS_REC_STATE)
        s->raw_total += raw_len;
    s->seq++;
}

static void sb_state(sb *s, uint64_t offset, const uint8_t *pl, size_t n)
{
    sb_rec(s, VMS_REC_STATE, 0, 1, offset, 0, pl, n, (uint32_t)n, (uint32_t)n);
}

static void sb_end(sb *s)
{
    uint8_t body[VMS_END_PAYLOAD_SIGNED];
    memset(body, 0, sizeof body);
    size_t n = s->auth == VMS_AUTH_ED25519 ? VMS_END_PAYLOAD_SIGNED : VMS_END_PAYLOAD;
    vms_put64(body + VMS_E_RECORDS, s->seq);
    vms_put64(body + VMS_E_RAW_BYTES, s->raw_total);
    vms_put64(body + VMS_E_STREAM_BYTES, s->n);
    memcpy(body + VMS_E_CHAIN, s->chain, VMS_DIGEST_BYTES);
    if (s->auth == VMS_AUTH_ED25519) {
        vms_header_info hi;
        memset(&hi, 0, sizeof hi);
        memcpy(hi.header_digest, s->hd, VMS_DIGEST_BYTES);
        memcpy(hi.key_id, s->key_id, VMS_KEY_ID_BYTES);
        uint8_t msg[VMS_SIG_MSG_BYTES];
        vms_sig_message(msg, VMS_SIG_KIND_END, &hi, s->seq, s->seq, s->raw_total, s->n,
                        s->chain);
        if (vms_ed25519_sign_raw(vf_ed_priv, msg, sizeof msg, body + VMS_E_SIGNATURE))
            exit(1);
    }
    sb_rec(s, VMS_REC_END, 0, 0, 0, 0, body, n, (uint32_t)n, (uint32_t)n);
}

/* Writes the stream for decode_mutator and, behind control blocks, for
 * decode: ctrl0 selects keys and limits (see fuzz/decode.c). */
static void emit(const char *name, sb *s, uint8_t ctrl0)
{
    put("decode_mutator", name, s->p, s->n);
    uint8_t *in = malloc(8 + s->n);
    if (!in)
        exit(1);
    const uint8_t c[8] = {ctrl0, 0x01, 0, 0, 0x42, 0, 0, 0}; /* byte at a time */
    memcpy(in, c, 8);
    memcpy(in + 8, s->p, s->n);
    put("decode", name, in, 8 + s->n);
    free(in);
    free(s->p);
    s->p = NULL;
}

static uint8_t *zdeflate(const uint8_t *in, size_t n, size_t *out_n, int level)
{
    uLongf cap = compressBound((uLong)n);
    uint8_t *o = malloc(cap);
    if (!o || compress2(o, &cap, in, (uLong)n, level) != Z_OK)
        exit(1);
    *out_n = cap;
    return o;
}

static void streams(void)
{
    sb s;
    uint8_t buf[256];
    memset(buf, 0x41, sizeof buf);
    const uint8_t ctrl_keys = 0x03, ctrl_tight = 0x43;

    /* decompression bomb: 1 MiB of zeros declared as 4 KiB (zlib) */
    {
        size_t big = 1u << 20, cn;
        uint8_t *z = calloc(1, big);
        uint8_t *c = zdeflate(z, big, &cn, 9);
        sb_header(&s, VMS_CODEC_ZLIB, 0, 4096, 0, NULL, 0, 0, 0);
        sb_rec(&s, VMS_REC_STATE, VMS_RF_COMPRESSED, 1, 0, 0, c, cn, (uint32_t)cn, 4096);
        sb_end(&s);
        emit("bomb-zlib-1MiB-declared-4KiB", &s, ctrl_keys);
        /* the same bomb declared at the stream's full max_record */
        sb_header(&s, VMS_CODEC_ZLIB, 0, 1u << 20, 0, NULL, 0, 0, 0);
        sb_rec(&s, VMS_REC_STATE, VMS_RF_COMPRESSED, 1, 0, 0, c, cn, (uint32_t)cn, 1u << 20);
        sb_end(&s);
        emit("bomb-zlib-1MiB-declared-1MiB", &s, ctrl_keys);
        free(c);
        free(z);
    }
#ifdef VMSFUZZ_HAVE_ZSTD
    {
        size_t big = 1u << 20;
        uint8_t *z = calloc(1, big);
        size_t cap = ZSTD_compressBound(big);
        uint8_t *c = malloc(cap);
        size_t cn = ZSTD_compress(c, cap, z, big, 19);
        sb_header(&s, VMS_CODEC_ZSTD, 0, 4096, 0, NULL, 0, 0, 0);
        sb_rec(&s, VMS_REC_STATE, VMS_RF_COMPRESSED, 1, 0, 0, c, cn, (uint32_t)cn, 4096);
        sb_end(&s);
        emit("bomb-zstd-1MiB-declared-4KiB", &s, ctrl_keys);
        free(c);
        free(z);
    }
#endif
    /* zlib data that asks for a preset dictionary */
    {
        uint8_t zd[] = {0x78, 0xbb, 0x00, 0x00, 0x00, 0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
        sb_header(&s, VMS_CODEC_ZLIB, 0, 4096, 0, NULL, 0, 0, 0);
        sb_rec(&s, VMS_REC_STATE, VMS_RF_COMPRESSED, 1, 0, 0, zd, sizeof zd, sizeof zd, 64);
        sb_end(&s);
        emit("zlib-preset-dictionary", &s, ctrl_keys);
    }
    /* length fields at their maximum (checksums valid) */
    sb_header(&s, 0, 0, VMS_MAX_RECORD_BYTES, 0, NULL, 0, 0, 0);
    sb_rec(&s, VMS_REC_STATE, 0, 1, 0, 0, buf, 16, 0xffffffffu, 0xffffffffu);
    emit("max-wire-len", &s, ctrl_keys);
    sb_header(&s, 0, 0, 0xffffffffu, 0, NULL, 0, 0, 0);
    sb_state(&s, 0, buf, 16);
    sb_end(&s);
    emit("max-record-u32-max", &s, ctrl_keys);
    sb_header(&s, VMS_CODEC_ZLIB, 0, 4096, 0, NULL, 0, 0, 0);
    sb_rec(&s, VMS_REC_STATE, VMS_RF_COMPRESSED, 1, 0, 0, buf, 16, 16, 0xffffffffu);
    sb_end(&s);
    emit("max-raw-len", &s, ctrl_keys);
    /* offset + length overflow, and exactly at the top */
    sb_header(&s, 0, 0, 4096, 0, NULL, 0, 0, 0);
    sb_state(&s, UINT64_MAX - 15, buf, 32);
    sb_end(&s);
    emit("offset-overflow", &s, ctrl_keys);
    sb_header(&s, 0, 0, 4096, 0, NULL, 0, 0, 0);
    sb_state(&s, UINT64_MAX - 32, buf, 32);
    sb_end(&s);
    emit("offset-at-top", &s, ctrl_keys);
    /* many tiny records: valid under defaults, over the count limit when tight */
    sb_header(&s, 0, 0, 1, 0, NULL, 0, 0, 0);
    for (int i = 0; i < 1024; i++)
        sb_state(&s, (uint64_t)i, buf, 1);
    sb_end(&s);
    emit("tiny-records-1024", &s, ctrl_tight);
    /* blob at the format maximum, and header extension at / over its max */
    {
        uint8_t *blob = calloc(1, VMS_MAX_BLOB_BYTES);
        sb_header(&s, 0, 0, 64, 0, blob, VMS_MAX_BLOB_BYTES, 0, 0);
        sb_state(&s, 0, buf, 8);
        sb_end(&s);
        emit("blob-64KiB", &s, ctrl_keys);
        free(blob);
    }
    sb_header(&s, 0, 0, 64, 0, NULL, 0, 1, VMS_HEADER_EXT_MAX);
    sb_state(&s, 0, buf, 8);
    sb_end(&s);
    emit("header-ext-max", &s, ctrl_keys);
    sb_header(&s, 0, 0, 64, 0, NULL, 0, 1, VMS_HEADER_EXT_MAX + 8);
    sb_state(&s, 0, buf, 8);
    sb_end(&s);
    emit("header-ext-over", &s, ctrl_keys);
    /* page map: bit beyond the pages; all pages uniform; odd last page */
    {
        uint8_t pm[16];
        memset(pm, 0, sizeof pm);
        pm[0] = 0x03; /* 2 bits, 1 page */
        pm[8] = 0x11;
        pm[9] = 0x22;
        sb_header(&s, 0, VMS_FEAT_PAGEMAP, 8192, 0, NULL, 0, 0, 0);
        sb_rec(&s, VMS_REC_STATE, VMS_RF_PAGEMAP, 1, 0, 0, pm, 16, 16, 4096);
        sb_end(&s);
        emit("pagemap-bit-beyond-pages", &s, ctrl_keys);
        memset(pm, 0, sizeof pm);
        pm[0] = 0x03;
        pm[8] = 0x11;
        pm[9] = 0x22;
        sb_header(&s, 0, VMS_FEAT_PAGEMAP, 8192, 0, NULL, 0, 0, 0);
        sb_rec(&s, VMS_REC_STATE, VMS_RF_PAGEMAP, 1, 0, 0, pm, 16, 16, 4097);
        sb_end(&s);
        emit("pagemap-uniform-1-byte-last-page", &s, ctrl_keys);
    }
    /* END then trailing bytes; clean cut at a record boundary */
    sb_header(&s, 0, 0, 64, 0, NULL, 0, 0, 0);
    sb_state(&s, 0, buf, 8);
    sb_end(&s);
    memset(grow(&s, 8), 0, 8);
    emit("trailing-after-end", &s, ctrl_keys);
    sb_header(&s, 0, 0, 64, 0, NULL, 0, 0, 0);
    sb_state(&s, 0, buf, 8);
    emit("cut-at-record-boundary", &s, ctrl_keys);
    /* signed stream without checkpoints: 60 KiB of state held for the END
     * signature, over the tight 64 KiB buffer limit (VMS_E_LIMIT_BUFFERED) */
    {
        vms_membuf mb = {0};
        vms_encoder *e = NULL;
        uint8_t *st = malloc(60u << 10);
        for (size_t i = 0; i < (60u << 10); i++)
            st[i] = (uint8_t)(i * 131 + (i >> 9));
        if (vms_encoder_new(&e, vms_sink_membuf, &mb, NULL) == VMS_OK &&
            vms_encoder_set_stream_id(e, vf_stream_id) == VMS_OK &&
            vms_encoder_set_record_size(e, 4096) == VMS_OK &&
            vms_encoder_set_page_elision(e, 0) == VMS_OK &&
            vms_encoder_set_ed25519_key(e, vf_ed_priv) == VMS_OK &&
            vms_encoder_set_checkpoint_interval(e, 1u << 30) == VMS_OK &&
            vms_encoder_write(e, 1, 0, 0, st, 60u << 10) == VMS_OK &&
            vms_encoder_finish(e) == VMS_OK) {
            s.p = mb.data; /* emit() frees s.p: hand the buffer over */
            s.n = mb.len;
            mb.data = NULL;
            mb.len = 0;
            emit("signed-no-checkpoints-60KiB", &s, ctrl_tight);
        }
        vms_encoder_free(e);
        vms_membuf_release(&mb);
        free(st);
    }
    /* Finding 1: signed stream whose records are below 120 bytes. */
    if (vf_ed_pub(buf + 128)) {
        sb_header(&s, 0, 0, 8, VMS_AUTH_ED25519, NULL, 0, 0, 0);
        sb_state(&s, 0, buf, 8);
        sb_state(&s, 8, buf, 8);
        sb_end(&s);
        emit("signed-small-record-end-overflow", &s, ctrl_keys);
    }
}

/* ---- descriptors ---------------------------------------------------------------------- */

static void text(const char *name, const char *t, size_t n)
{
    put("descriptor_text", name, t, n);
}

static void descriptors(void)
{
    static const char base[] = "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\n";
    char *big = malloc(VMS_DESC_MAX_TEXT + 64);
    /* whole text one byte over the limit (a comment pads it) */
    size_t n = strlen(base);
    memcpy(big, base, n);
    big[n++] = '#';
    while (n < VMS_DESC_MAX_TEXT + 1) {
        big[n] = (n % 4000) ? 'x' : '\n';
        n++;
    }
    text("text-64KiB-plus-1", big, n);
    /* one line of 4097 bytes */
    n = strlen(base);
    memcpy(big, base, n);
    big[n++] = '#';
    for (int i = 0; i < 4096; i++)
        big[n++] = 'y';
    big[n++] = '\n';
    text("line-4097", big, n);
    text("nul-in-text", "vendor_id=pci:0x10de\ndevice_api=vfio\0pci\ntype=t\nversion=1.0.0\n", 63);
    text("ge-overflow",
         "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\n"
         "field.n=18446744073709551616\nfield.n.rule=ge\n",
         strlen("vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\n"
                "field.n=18446744073709551616\nfield.n.rule=ge\n"));
    text("version-overflow", "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=4294967296.0.0\n",
         strlen("vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=4294967296.0.0\n"));
    text("cr-only", "vendor_id=pci:0x10de\rdevice_api=vfio-pci\rtype=t\rversion=1.0.0\r", 62);
    /* 65 denied versions, 33 fields: one over each list limit */
    n = strlen(base);
    memcpy(big, base, n);
    n += (size_t)sprintf(big + n, "deny_versions=");
    for (int i = 0; i < 65; i++)
        n += (size_t)sprintf(big + n, "%s1.0.%d", i ? "," : "", i + 1);
    big[n++] = '\n';
    text("deny-65", big, n);
    n = strlen(base);
    memcpy(big, base, n);
    for (int i = 0; i < 33; i++)
        n += (size_t)sprintf(big + n, "field.f%02d=v\n", i);
    text("fields-33", big, n);
    text("superset-duplicate",
         "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\n"
         "field.s=a+b+a\nfield.s.rule=superset\n",
         strlen("vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\n"
                "field.s=a+b+a\nfield.s.rule=superset\n"));
    text("rule-without-field",
         "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\nfield.s.rule=ge\n",
         strlen("vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\nfield.s.rule=ge\n"));
    text("high-bytes", "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=\xc3\xa9\nversion=1.0.0\n",
         strlen("vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=\xc3\xa9\nversion=1.0.0\n"));

    /* binary: the largest valid encoding (every list and string full) */
    vms_descriptor *d = NULL;
    if (vms_descriptor_new(&d, NULL) != VMS_OK)
        exit(1);
    char id[VMS_DESC_MAX_IDENT + 1], val[VMS_DESC_MAX_VALUE + 1];
    memset(id, 'a', VMS_DESC_MAX_IDENT);
    id[VMS_DESC_MAX_IDENT] = 0;
    (void)vms_descriptor_set_vendor_id(d, VMS_VENDOR_PCI(0xffff));
    (void)vms_descriptor_set_device_api(d, id);
    (void)vms_descriptor_set_type(d, id);
    (void)vms_descriptor_set_version(d, UINT32_MAX, UINT32_MAX, UINT32_MAX);
    for (unsigned i = 0; i < VMS_DESC_MAX_ACCEPT; i++) {
        snprintf(id + VMS_DESC_MAX_IDENT - 3, 4, "%03u", i);
        (void)vms_descriptor_add_accept_type(d, id);
    }
    for (unsigned i = 0; i < VMS_DESC_MAX_DENY; i++)
        (void)vms_descriptor_add_deny_version(d, UINT32_MAX - i, i, UINT32_MAX);
    memset(val, 'v', VMS_DESC_MAX_VALUE);
    val[VMS_DESC_MAX_VALUE] = 0;
    for (unsigned i = 0; i < VMS_DESC_MAX_FIELDS; i++) {
        char name[VMS_DESC_MAX_NAME + 1];
        memset(name, 'n', VMS_DESC_MAX_NAME);
        snprintf(name + VMS_DESC_MAX_NAME - 3, 4, "%03u", i);
        (void)vms_descriptor_add_field(d, name, val, VMS_FIELD_EQUAL);
    }
    uint8_t bin[VMS_DESC_MAX_BINARY];
    size_t bn = 0;
    if (vms_descriptor_encode(d, bin, sizeof bin, &bn) != VMS_OK)
        exit(1);
    put("descriptor_binary", "largest", bin, bn);
    char *txt = malloc(VMS_DESC_MAX_TEXT);
    size_t tn = 0;
    if (vms_descriptor_format_text(d, txt, VMS_DESC_MAX_TEXT, &tn) == VMS_OK)
        text("largest", txt, tn - 1);
    free(txt);
    /* the same with the total length field claiming one byte more / less */
    vms_put16(bin + 6, (uint16_t)(bn + 1));
    put("descriptor_binary", "length-plus-1", bin, bn);
    vms_put16(bin + 6, (uint16_t)(bn - 1));
    put("descriptor_binary", "length-minus-1", bin, bn);
    vms_descriptor_free(d);
    /* a small one with every count byte at 255 */
    static const uint8_t counts[] = {'V', 'M', 'S', 'D', 1, 0, 34, 0, 0xde, 0x10, 0, 0x80,
                                     1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                     1, 'a', 1, 'b', 0xff, 0xff, 0xff, 0xff};
    put("descriptor_binary", "counts-255", counts, sizeof counts);
    free(big);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_nasty REGRESS_DIR\n");
        return 2;
    }
    root = argv[1];
    streams();
    descriptors();
    printf("make_nasty: written under %s\n", root);
    return 0;
}
