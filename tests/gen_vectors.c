/* gen_vectors.c - writes the golden vectors of tests/vectors.
 *
 *   gen_vectors OUTDIR        (normally: build/tests/gen_vectors tests/vectors)
 *
 * Good vectors are produced by the library's encoder through the public API
 * (fixed stream ids, a fixed PRNG for content), so they are deterministic for
 * a given zlib/zstd build.  Two forward-compatibility vectors and every bad
 * vector are derived from encoder output by a small serialiser written from
 * doc/FORMAT.md (it uses libb2 and zlib directly, never the library's
 * internals): each bad vector carries exactly one defect and is otherwise
 * consistent (header and record checksums and the END record recomputed
 * where the defect is not itself a checksum), so its error code does not
 * depend on the order in which a decoder applies its checks.
 *
 * Before writing anything the generator checks every vector against the
 * library's decoder (fed whole and one byte at a time): a good vector must
 * decode to its expected content, a bad one must fail with its expected
 * status.  It exits non-zero on any mismatch.
 *
 * Regenerating changes committed golden files: only do it together with a
 * format version change and the matching doc/FORMAT.md change (see
 * tests/vectors/README.md). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <blake2.h>
#include <zlib.h>

#include <vmstream.h>

/* ---- small utilities ------------------------------------------------------ */

static const char *outdir;
static int failures;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen_vectors: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

__attribute__((format(printf, 1, 2))) static void complain(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gen_vectors: MISMATCH: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    failures++;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory");
    return p;
}

static void *xmemdup(const void *src, size_t n)
{
    void *p = xmalloc(n);
    if (n)
        memcpy(p, src, n);
    return p;
}

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void buf_add(buf *b, const void *src, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < b->n + n + 1)
            c *= 2;
        uint8_t *q = realloc(b->p, c);
        if (!q)
            die("out of memory");
        b->p = q;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, src, n);
    b->n += n;
    b->p[b->n] = 0; /* keeps text buffers NUL-terminated */
}

__attribute__((format(printf, 2, 3))) static void buf_printf(buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp)
        die("line too long");
    buf_add(b, tmp, (size_t)k);
}

static void buf_free(buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static void hex(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = 0;
}

/* BLAKE2b-256, keyed when keylen > 0 (RFC 7693). */
static void b2(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b,
               size_t blen, const uint8_t *key, size_t keylen)
{
    blake2b_state s;
    int rc = keylen ? blake2b_init_key(&s, 32, key, keylen) : blake2b_init(&s, 32);
    if (rc == 0 && alen)
        rc = blake2b_update(&s, a, alen);
    if (rc == 0 && blen)
        rc = blake2b_update(&s, b, blen);
    if (rc == 0)
        rc = blake2b_final(&s, out, 32);
    if (rc != 0)
        die("libb2 failed");
}

static void write_file(const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", outdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0)
        die("cannot write %s: %s", path, strerror(errno));
}

/* ---- deterministic content ----------------------------------------------- */

static uint64_t prng_state;

static void prng_seed(uint64_t seed) { prng_state = seed; }

/* splitmix64 */
static uint64_t prng_next(void)
{
    uint64_t z = (prng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint8_t *random_bytes(size_t n)
{
    uint8_t *p = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(prng_next() >> 56);
    return p;
}

/* Compressible: a few distinct words repeated. */
static uint8_t *text_bytes(size_t n)
{
    static const char *const words[] = {"vfio ", "migration ", "state ", "device ",
                                        "register ", "ring ", "0000 "};
    uint8_t *p = xmalloc(n);
    size_t i = 0;
    while (i < n) {
        const char *w = words[prng_next() % 7];
        for (size_t k = 0; w[k] && i < n; k++)
            p[i++] = (uint8_t)w[k];
    }
    return p;
}

static void stream_id(uint8_t id[16], uint8_t first)
{
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(first + i);
}

/* ---- encoding through the library ----------------------------------------- */

typedef struct chunk {
    uint32_t section;
    uint64_t offset;
    uint32_t phase;
    const uint8_t *data;
    size_t len;
} chunk;

typedef struct enc_opts {
    uint8_t sid[16];
    uint32_t vendor;
    const char *blob; /* NUL-terminated, may be NULL */
    size_t record_size;
    vms_codec codec;
    const uint8_t *key;
    size_t keylen;
    const uint8_t *key_id;
    const uint8_t *sign_key; /* Ed25519 private key */
    size_t checkpoint;       /* checkpoint interval, 0 = default */
    bool no_elision;         /* turn uniform-page maps off */
} enc_opts;

/* Returns false when the codec is not built in (zstd). */
static bool encode(const enc_opts *o, const chunk *c, size_t n, buf *out)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    if (vms_encoder_new(&e, vms_sink_membuf, &mb, NULL) != VMS_OK)
        die("vms_encoder_new");
    int rc = vms_encoder_set_stream_id(e, o->sid);
    if (!rc && o->vendor)
        rc = vms_encoder_set_vendor(e, o->vendor);
    if (!rc && o->blob)
        rc = vms_encoder_set_version_blob(e, o->blob, strlen(o->blob));
    if (!rc && o->record_size)
        rc = vms_encoder_set_record_size(e, o->record_size);
    if (!rc && o->codec != VMS_CODEC_NONE) {
        rc = vms_encoder_set_compression(e, o->codec, 0);
        if (rc == VMS_E_UNSUPPORTED) {
            vms_encoder_free(e);
            vms_membuf_release(&mb);
            return false;
        }
    }
    if (!rc && o->key)
        rc = vms_encoder_set_mac_key(e, o->key, o->keylen, o->key_id);
    if (!rc && o->no_elision)
        rc = vms_encoder_set_page_elision(e, 0);
    if (!rc && o->sign_key) {
        rc = vms_encoder_set_ed25519_key(e, o->sign_key);
        if (rc == VMS_E_UNSUPPORTED) {
            vms_encoder_free(e);
            vms_membuf_release(&mb);
            return false;
        }
        if (!rc && o->checkpoint)
            rc = vms_encoder_set_checkpoint_interval(e, o->checkpoint);
    }
    for (size_t i = 0; !rc && i < n; i++)
        rc = vms_encoder_write(e, c[i].section, c[i].offset, c[i].phase, c[i].data,
                               c[i].len);
    if (!rc)
        rc = vms_encoder_finish(e);
    if (rc)
        die("encoder failed: %s: %s", vms_strerror(rc), vms_encoder_error(e)->message);
    vms_encoder_free(e);
    memset(out, 0, sizeof *out);
    buf_add(out, mb.data, mb.len);
    vms_membuf_release(&mb);
    return true;
}

/* ---- expected content ------------------------------------------------------ *
 * Text, one item per line (see tests/vectors/README.md):
 *   header MAJOR MINOR VENDOR CODEC AUTH BLOBHEX|-
 *   record SEQ SECTION OFFSET PHASE LENGTH BLAKE2B-256-HEX-OF-DATA
 *   end RECORDS RAW_BYTES STREAM_BYTES CHAIN-HEX                          */

static void expect_header(buf *t, unsigned major, unsigned minor, uint32_t vendor,
                          unsigned codec, unsigned auth, const uint8_t *blob,
                          size_t blen)
{
    buf_printf(t, "header %u %u 0x%08x %u %u ", major, minor, vendor, codec, auth);
    if (blen == 0) {
        buf_add(t, "-", 1);
    } else {
        char *h = xmalloc(2 * blen + 1);
        hex(h, blob, blen);
        buf_add(t, h, 2 * blen);
        free(h);
    }
    buf_add(t, "\n", 1);
}

static void expect_record(buf *t, uint64_t seq, uint32_t section, uint64_t offset,
                          uint32_t phase, const uint8_t *data, size_t len)
{
    uint8_t d[32];
    char h[65];
    b2(d, data, len, NULL, 0, NULL, 0);
    hex(h, d, 32);
    buf_printf(t, "record %llu %u %llu %u %zu %s\n", (unsigned long long)seq, section,
               (unsigned long long)offset, phase, len, h);
}

static void expect_end(buf *t, uint64_t records, uint64_t raw, uint64_t bytes,
                       const uint8_t chain[32])
{
    char h[65];
    hex(h, chain, 32);
    buf_printf(t, "end %llu %llu %llu %s\n", (unsigned long long)records,
               (unsigned long long)raw, (unsigned long long)bytes, h);
}

/* ---- decoding through the library ------------------------------------------ */

typedef struct dec_ctx {
    buf text; /* expected-format lines */
    buf data; /* concatenated record data */
} dec_ctx;

static int on_header(void *ctx, const vms_header_info *h)
{
    dec_ctx *c = ctx;
    expect_header(&c->text, h->format_major, h->format_minor, h->vendor_id, h->codec,
                  h->auth_mode, h->version_blob, h->version_blob_len);
    return 0;
}

static int on_record(void *ctx, const vms_record *r)
{
    dec_ctx *c = ctx;
    expect_record(&c->text, r->index, r->section, r->offset, r->phase, r->data, r->len);
    buf_add(&c->data, r->data, r->len);
    return 0;
}

typedef struct dkey {
    const uint8_t *key; /* MAC key */
    size_t keylen;
    const uint8_t *key_id;
    const uint8_t *pub; /* Ed25519 public key */
} dkey;

/* Decodes p with the library, fed whole (step 0) or in steps of `step` bytes.
 * Returns the final status (VMS_END on success); fills c. */
static int lib_decode(const uint8_t *p, size_t n, const dkey *k, size_t step,
                      dec_ctx *c, char *msg, size_t msglen)
{
    memset(c, 0, sizeof *c);
    vms_decoder_callbacks cb = {on_header, on_record, NULL, NULL, c};
    vms_decoder *d;
    if (vms_decoder_new(&d, NULL, &cb, NULL) != VMS_OK)
        die("vms_decoder_new");
    if (k && k->key && vms_decoder_set_mac_key(d, k->key, k->keylen, k->key_id) != VMS_OK)
        die("vms_decoder_set_mac_key");
    if (k && k->pub && vms_decoder_add_ed25519_key(d, k->pub) != VMS_OK)
        die("vms_decoder_add_ed25519_key");
    int rc = VMS_OK;
    size_t pos = 0;
    if (step == 0)
        step = n ? n : 1;
    while (pos < n && rc >= 0) {
        size_t take = n - pos < step ? n - pos : step;
        rc = vms_decoder_feed(d, p + pos, take, NULL);
        pos += take;
    }
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    if (rc == VMS_END) {
        const vms_stream_summary *s = vms_decoder_summary(d);
        expect_end(&c->text, s->records, s->raw_bytes, s->stream_bytes, s->chain_digest);
    }
    snprintf(msg, msglen, "%s", vms_decoder_error(d)->message);
    vms_decoder_free(d);
    return rc;
}

/* ---- a serialiser written from doc/FORMAT.md ------------------------------- */

#define H_FIXED 64
#define R_HDR 72

typedef struct prec {
    uint8_t rh[40];   /* record header bytes 0..39 (all but the checksum) */
    uint8_t *payload; /* bytes written after the header */
    size_t plen;
    uint8_t pad[8];   /* padding bytes written after the payload */
    size_t padlen;
    uint8_t csum[32];
    bool keep_csum; /* write csum as is instead of recomputing it */
} prec;

typedef struct pstream {
    buf hdr; /* header bytes without the trailing 32-byte checksum */
    uint8_t hsum[32];
    bool keep_hsum;
    prec *r; /* END is the last record */
    size_t n;
    const uint8_t *key;
    size_t keylen;
    unsigned end_auto; /* END payload fields recomputed by serialise() */
} pstream;

enum { E_COUNT = 1, E_RAW = 2, E_OFF = 4, E_CHAIN = 8, E_ALL = 15, E_CKPT = 16 };

static uint16_t rtype(const prec *r) { return le16(r->rh); }

static void parse(const buf *in, pstream *s, const uint8_t *key, size_t keylen)
{
    memset(s, 0, sizeof *s);
    s->key = key;
    s->keylen = keylen;
    s->end_auto = E_ALL | E_CKPT;
    if (in->n < H_FIXED + 32)
        die("parse: short stream");
    size_t hlen = le32(in->p + 12);
    buf_add(&s->hdr, in->p, hlen - 32);
    memcpy(s->hsum, in->p + hlen - 32, 32);
    size_t off = hlen;
    size_t cap = 0;
    for (;;) {
        if (off + R_HDR > in->n)
            die("parse: truncated record");
        if (s->n == cap) {
            cap = cap ? 2 * cap : 16;
            s->r = realloc(s->r, cap * sizeof *s->r);
            if (!s->r)
                die("out of memory");
        }
        prec *r = &s->r[s->n++];
        memset(r, 0, sizeof *r);
        memcpy(r->rh, in->p + off, 40);
        memcpy(r->csum, in->p + off + 40, 32);
        r->plen = le32(r->rh + 28);
        r->padlen = pad8(r->plen) - r->plen;
        r->payload = xmemdup(in->p + off + R_HDR, r->plen);
        memcpy(r->pad, in->p + off + R_HDR + r->plen, r->padlen);
        off += R_HDR + r->plen + r->padlen;
        if (rtype(r) == 2)
            break;
    }
    if (off != in->n)
        die("parse: bytes after END");
}

static void pstream_free(pstream *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->r[i].payload);
    free(s->r);
    buf_free(&s->hdr);
}

/* Sets a record's payload bytes, wire_len and (zero) padding. */
static void rec_set_payload(prec *r, const uint8_t *p, size_t n)
{
    uint8_t *old = r->payload;
    r->payload = xmemdup(p, n); /* p may point into the old payload */
    free(old);
    r->plen = n;
    r->padlen = pad8(n) - n;
    memset(r->pad, 0, sizeof r->pad);
    put32(r->rh + 28, (uint32_t)n);
}

static void rec_remove(pstream *s, size_t i)
{
    free(s->r[i].payload);
    memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof *s->r);
    s->n--;
}

/* Inserts a copy of *r before index i. */
static void rec_insert(pstream *s, size_t i, const prec *r)
{
    /* r may point into s->r: copy it before the array moves */
    prec copy = *r;
    copy.payload = xmemdup(r->payload, r->plen);
    prec *grown = realloc(s->r, (s->n + 1) * sizeof *s->r);
    if (!grown)
        die("out of memory");
    s->r = grown;
    memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof *s->r);
    s->r[i] = copy;
    s->n++;
}

/* Renumbers every record's sequence field 0, 1, 2, ... */
static void renumber(pstream *s)
{
    for (size_t i = 0; i < s->n; i++)
        put64(s->r[i].rh + 8, i);
}

/* Serialises s, recomputing the header checksum, every record checksum and
 * the END fields named by end_auto, except where told to keep them. */
static void serialise(pstream *s, buf *out)
{
    memset(out, 0, sizeof *out);
    uint8_t hd[32];
    if (s->keep_hsum)
        memcpy(hd, s->hsum, 32);
    else
        b2(hd, s->hdr.p, s->hdr.n, NULL, 0, s->key, s->keylen);
    buf_add(out, s->hdr.p, s->hdr.n);
    buf_add(out, hd, 32);
    uint8_t chain[32];
    memcpy(chain, hd, 32);
    uint64_t raw = 0;
    for (size_t i = 0; i < s->n; i++) {
        prec *r = &s->r[i];
        if (rtype(r) == 2) {
            if (r->plen < 56)
                die("serialise: short END");
            if (s->end_auto & E_COUNT)
                put64(r->payload, i);
            if (s->end_auto & E_RAW)
                put64(r->payload + 8, raw);
            if (s->end_auto & E_OFF)
                put64(r->payload + 16, out->n);
            if (s->end_auto & E_CHAIN)
                memcpy(r->payload + 24, chain, 32);
        }
        if (rtype(r) == 3 && (s->end_auto & E_CKPT) && r->plen >= 48) {
            /* checkpoint: records, state bytes, chain (the signature is
             * left as it is) */
            put64(r->payload, i);
            put64(r->payload + 8, raw);
            memcpy(r->payload + 16, chain, 32);
        }
        if (!r->keep_csum) {
            uint8_t prefix[128] = {0};
            memcpy(prefix, s->hdr.p + 32, 16);
            memcpy(prefix + 16, hd, 32);
            memcpy(prefix + 48, r->rh, 40);
            b2(r->csum, prefix, 128, r->payload, r->plen, s->key, s->keylen);
        }
        buf_add(out, r->rh, 40);
        buf_add(out, r->csum, 32);
        buf_add(out, r->payload, r->plen);
        buf_add(out, r->pad, r->padlen);
        if (rtype(r) != 2) {
            uint8_t cat[64];
            memcpy(cat, chain, 32);
            memcpy(cat + 32, r->csum, 32);
            b2(chain, cat, 64, NULL, 0, NULL, 0);
        }
        if (rtype(r) == 1)
            raw += le32(r->rh + 32);
    }
}

/* Sets the header length field to the current header size + 32. */
static void fix_header_length(pstream *s) { put32(s->hdr.p + 12, (uint32_t)(s->hdr.n + 32)); }

/* The END line of a stream: recomputed from the bytes, as a decoder would. */
static void expect_end_of(const buf *stream, buf *t)
{
    pstream s;
    parse(stream, &s, NULL, 0);
    const prec *e = &s.r[s.n - 1];
    expect_end(t, le64(e->payload), le64(e->payload + 8), stream->n, e->payload + 24);
    pstream_free(&s);
}

/* ---- good vectors ---------------------------------------------------------- */

static void check_good(const char *name, const buf *stream, const buf *expect,
                       const dkey *k, const buf *bin)
{
    for (int pass = 0; pass < 2; pass++) {
        dec_ctx c;
        char msg[400];
        int rc = lib_decode(stream->p, stream->n, k, pass ? 1 : 0, &c, msg, sizeof msg);
        if (rc != VMS_END)
            complain("%s: library decoder says %s: %s", name, vms_strerror(rc), msg);
        else if (c.text.n != expect->n || memcmp(c.text.p, expect->p, expect->n) != 0)
            complain("%s: library decoder output differs:\n--- expected\n%s--- got\n%s",
                     name, (const char *)expect->p, (const char *)c.text.p);
        else if (bin && (c.data.n != bin->n || memcmp(c.data.p, bin->p, bin->n) != 0))
            complain("%s: decoded data differs from the .bin file", name);
        buf_free(&c.text);
        buf_free(&c.data);
    }
}

static void emit_good(const char *base, const buf *stream, const buf *expect,
                      const dkey *k, const buf *bin)
{
    char name[256];
    snprintf(name, sizeof name, "%s.vms", base);
    check_good(name, stream, expect, k, bin);
    write_file(name, stream->p, stream->n);
    snprintf(name, sizeof name, "%s.expect", base);
    write_file(name, expect->p, expect->n);
    if (bin) {
        snprintf(name, sizeof name, "%s.bin", base);
        write_file(name, bin->p, bin->n);
    }
}

/* Encodes chunks, writes BASE.vms and BASE.expect (expected content from the
 * input, split at the record size, as a spec-following encoder does). */
static bool good_encoded(const char *base, const enc_opts *o, const chunk *c, size_t n,
                         bool write_bin, buf *stream_out)
{
    buf stream;
    if (!encode(o, c, n, &stream)) {
        fprintf(stderr, "gen_vectors: %s skipped: codec %d not built in\n", base, o->codec);
        return false;
    }
    buf t = {0}, bin = {0};
    size_t rs = o->record_size ? o->record_size : (1u << 20);
    /* Sequence numbers of the STATE records, in order (signed streams
     * interleave CHECKPOINT records, which take sequence numbers too). */
    pstream ps;
    parse(&stream, &ps, NULL, 0);
    size_t si = 0;
    expect_header(&t, 1, 0, o->vendor, o->codec, o->sign_key ? 2 : o->key ? 1 : 0,
                  (const uint8_t *)o->blob,
                  o->blob ? strlen(o->blob) : 0);
    for (size_t i = 0; i < n; i++)
        for (size_t at = 0; at < c[i].len; at += rs) {
            size_t len = c[i].len - at < rs ? c[i].len - at : rs;
            while (si < ps.n && rtype(&ps.r[si]) != 1)
                si++;
            if (si == ps.n)
                die("%s: fewer STATE records than expected", base);
            expect_record(&t, le64(ps.r[si++].rh + 8), c[i].section, c[i].offset + at,
                          c[i].phase, c[i].data + at, len);
            buf_add(&bin, c[i].data + at, len);
        }
    pstream_free(&ps);
    expect_end_of(&stream, &t);
    uint8_t pub[32];
    dkey k = {o->key, o->keylen, o->key_id, NULL};
    if (o->sign_key) {
        if (vms_ed25519_public_key(o->sign_key, pub) != VMS_OK)
            die("vms_ed25519_public_key");
        k.pub = pub;
    }
    emit_good(base, &stream, &t, &k, write_bin ? &bin : NULL);
    if (stream_out)
        *stream_out = stream;
    else
        buf_free(&stream);
    buf_free(&t);
    buf_free(&bin);
    return true;
}

/* Expected content of a hand-built stream with uncompressed records only. */
static void expect_parsed(const buf *stream, buf *t)
{
    pstream s;
    parse(stream, &s, NULL, 0);
    const uint8_t *h = s.hdr.p;
    expect_header(t, le16(h + 8), le16(h + 10), le32(h + 28), h[26], h[25], h + 64,
                  le32(h + 60));
    for (size_t i = 0; i + 1 < s.n; i++) {
        const prec *r = &s.r[i];
        if (rtype(r) != 1)
            continue;
        if (le16(r->rh + 2) & 6)
            die("expect_parsed: compressed or page-mapped record");
        expect_record(t, le64(r->rh + 8), le32(r->rh + 4), le64(r->rh + 16),
                      le32(r->rh + 24), r->payload, r->plen);
    }
    pstream_free(&s);
    expect_end_of(stream, t);
}

static const uint8_t mac_key[32] = {
    0x6b, 0x65, 0x79, 0x20, 0x66, 0x6f, 0x72, 0x20, 0x76, 0x6d, 0x73, 0x74, 0x72, 0x65, 0x61, 0x6d,
    0x20, 0x67, 0x6f, 0x6c, 0x64, 0x65, 0x6e, 0x20, 0x76, 0x65, 0x63, 0x74, 0x6f, 0x72, 0x73, 0x21};
static uint8_t mac_key_id[8]; /* vms_key_id(mac_key) */

/* Ed25519 private key of signed.vms (public key in signed.pub). */
static const uint8_t sign_key[32] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
static uint8_t sign_pub[32];

/* Base streams for the bad vectors. */
static buf base_plain, base_zlib, base_zstd, base_mac, base_pagemap, base_pagemap_zlib,
    base_signed;
static bool have_zstd, have_signed;

static void make_good(void)
{
    /* empty: a header and an END record. */
    {
        enc_opts o = {.vendor = 0};
        stream_id(o.sid, 0x10);
        good_encoded("empty", &o, NULL, 0, false, NULL);
    }
    /* small: the worked example of doc/FORMAT.md. */
    {
        static const uint8_t data[16] = "hello, vmstream!";
        enc_opts o = {.vendor = VMS_VENDOR_PCI(0x1af4), .blob = "dev-v1", .record_size = 4096};
        stream_id(o.sid, 0x00);
        chunk c[] = {{0, 0, 0, data, 16}};
        good_encoded("small", &o, c, 1, true, NULL);
    }
    /* multi: 2 sections, pre-copy passes 0 and 1, then stop-copy; 64-byte
     * records so writes split. */
    {
        prng_seed(0x6d756c7469ull);
        uint8_t *cfg = random_bytes(100), *mem = random_bytes(200);
        uint8_t *dirty = random_bytes(40), *cfg2 = random_bytes(100), *tail = random_bytes(72);
        enc_opts o = {.vendor = VMS_VENDOR_PCI(0x10de), .blob = "multi", .record_size = 64};
        stream_id(o.sid, 0x20);
        chunk c[] = {
            {1, 0, 0, cfg, 100},
            {2, 0, 0, mem, 200},
            {2, 64, 1, dirty, 40},
            {1, 0, VMS_PHASE_STOP_COPY, cfg2, 100},
            {2, 128, VMS_PHASE_STOP_COPY, tail, 72},
        };
        good_encoded("multi", &o, c, 5, false, &base_plain);
        free(cfg), free(mem), free(dirty), free(cfg2), free(tail);
    }
    /* zlib and zstd: compressible records (compressed), random ones (stored
     * raw because compression does not shrink them) and a 1-byte record. */
    for (int z = 0; z < 2; z++) {
        prng_seed(0x7a6c6962ull + (uint64_t)z);
        uint8_t *t1 = text_bytes(600), *r1 = random_bytes(256), *t2 = text_bytes(300);
        uint8_t *zero = calloc(256, 1), one = 0x42;
        enc_opts o = {.vendor = VMS_VENDOR_PCI(0x8086), .blob = z ? "zstd" : "zlib",
                      .record_size = 256, .codec = z ? VMS_CODEC_ZSTD : VMS_CODEC_ZLIB};
        stream_id(o.sid, z ? 0x40 : 0x30);
        chunk c[] = {
            {0, 0, 0, t1, 600},
            {1, 0, 0, r1, 256},
            {1, 4096, 0, zero, 256},
            {2, 0, VMS_PHASE_STOP_COPY, &one, 1},
            {0, 600, VMS_PHASE_STOP_COPY, t2, 300},
        };
        bool ok = good_encoded(z ? "zstd" : "zlib", &o, c, 5, false,
                               z ? &base_zstd : &base_zlib);
        if (z)
            have_zstd = ok;
        free(t1), free(r1), free(t2), free(zero);
    }
    /* mac: keyed BLAKE2b, 32-byte key in mac.key, key id in mac.keyid. */
    {
        prng_seed(0x6d6163ull);
        uint8_t *a = random_bytes(80), *b = random_bytes(24);
        enc_opts o = {.vendor = VMS_VENDOR_PCI(0x15b3), .blob = "mac", .record_size = 64,
                      .key = mac_key, .keylen = sizeof mac_key, .key_id = mac_key_id};
        stream_id(o.sid, 0x50);
        chunk c[] = {{7, 0, 0, a, 80}, {7, 80, VMS_PHASE_STOP_COPY, b, 24}};
        good_encoded("mac", &o, c, 2, false, &base_mac);
        write_file("mac.key", mac_key, sizeof mac_key);
        write_file("mac.keyid", mac_key_id, sizeof mac_key_id);
        free(a), free(b);
    }
    /* pagemap: uniform-page maps.  Record size 5 pages + 100 bytes; pages of
     * zeros, 0xff, 0x5a and random ones, a uniform short tail, a record of
     * uniform pages only, and a random record that gets no map. */
    {
        const size_t P = 4096, RS = 5 * 4096 + 100;
        prng_seed(0x706167656d6170ull);
        uint8_t *a = calloc(RS, 1), *b = xmalloc(3 * P), *r = random_bytes(RS);
        uint8_t *r1 = random_bytes(P), *r3 = random_bytes(P);
        memcpy(a + P, r1, P);
        memset(a + 2 * P, 0xff, P);
        memcpy(a + 3 * P, r3, P);
        memset(a + 4 * P, 0x5a, P);
        memset(b, 0x11, P), memset(b + P, 0x00, P), memset(b + 2 * P, 0xee, P - 7);
        memset(b + 3 * P - 7, 0xee, 7);
        enc_opts o = {.vendor = VMS_VENDOR_PCI(0x1b36), .blob = "pagemap", .record_size = RS};
        stream_id(o.sid, 0x60);
        chunk c[] = {{3, 0, 0, a, RS}, {3, RS, 0, b, 3 * P}, {4, 0, VMS_PHASE_STOP_COPY, r, RS}};
        good_encoded("pagemap", &o, c, 3, false, &base_pagemap);
        /* the same with zlib: literal pages of text compress */
        uint8_t *t = text_bytes(2 * P);
        memcpy(a + P, t, P);
        memcpy(a + 3 * P, t + P, P);
        enc_opts oz = o;
        oz.codec = VMS_CODEC_ZLIB;
        oz.blob = "pagemap-zlib";
        stream_id(oz.sid, 0x70);
        chunk cz[] = {{3, 0, 0, a, RS}, {3, RS, 0, b, 3 * P}, {4, 0, 1, r, RS}};
        good_encoded("pagemap_zlib", &oz, cz, 3, false, &base_pagemap_zlib);
        free(a), free(b), free(r), free(r1), free(r3), free(t);
    }
    /* signed: Ed25519 (auth mode 2), checkpoints every 1 KiB of state. */
    {
        prng_seed(0x7369676eull);
        uint8_t *a = random_bytes(1500), *b = random_bytes(700), *z = calloc(600, 1);
        enc_opts o = {.vendor = VMS_VENDOR_PCI(0x1af4), .blob = "signed", .record_size = 512,
                      .sign_key = sign_key, .checkpoint = 1024};
        stream_id(o.sid, 0x80);
        chunk c[] = {{1, 0, 0, a, 1500}, {2, 0, 1, z, 600}, {1, 0, VMS_PHASE_STOP_COPY, b, 700}};
        have_signed = good_encoded("signed", &o, c, 3, false, &base_signed);
        if (have_signed)
            write_file("signed.pub", sign_pub, sizeof sign_pub);
        free(a), free(b), free(z);
    }
    /* future_minor: format 1.1 with a 24-byte header extension area and an
     * unknown optional feature bit; a 1.0 decoder must accept it. */
    {
        pstream s;
        parse(&base_plain, &s, NULL, 0);
        put16(s.hdr.p + 10, 1);
        put32(s.hdr.p + 20, 0x80000000u);
        static const uint8_t ext[24] = "extension area, minor 1";
        buf_add(&s.hdr, ext, sizeof ext);
        fix_header_length(&s);
        buf out, t = {0};
        serialise(&s, &out);
        expect_parsed(&out, &t);
        emit_good("future_minor", &out, &t, NULL, NULL);
        buf_free(&out), buf_free(&t);
        pstream_free(&s);
    }
    /* skip_optional: unknown optional record types (one with a payload, one
     * empty) between STATE records: verified, chained, not delivered. */
    {
        pstream s;
        parse(&base_plain, &s, NULL, 0);
        prec r = {0};
        put16(r.rh, 0x7f01);
        put16(r.rh + 2, 0x0001);
        put32(r.rh + 4, 99);
        put64(r.rh + 16, 12345);
        put32(r.rh + 24, 0); /* phase of an unknown record is not checked */
        static const uint8_t note[13] = "optional note";
        r.payload = (uint8_t *)note;
        r.plen = sizeof note;
        r.padlen = pad8(r.plen) - r.plen;
        put32(r.rh + 28, sizeof note);
        put32(r.rh + 32, sizeof note);
        rec_insert(&s, 3, &r);
        prec e = {0};
        put16(e.rh, 0xfffe);
        put16(e.rh + 2, 0x0001);
        rec_insert(&s, 0, &e);
        renumber(&s);
        buf out, t = {0};
        serialise(&s, &out);
        expect_parsed(&out, &t);
        emit_good("skip_optional", &out, &t, NULL, NULL);
        buf_free(&out), buf_free(&t);
        pstream_free(&s);
    }
}

/* ---- bad vectors ---------------------------------------------------------- */

static buf expected_list;

enum { K_NONE, K_MAC, K_SIGNED };

static void emit_bad(const char *name, const buf *stream, int code, int keys)
{
    const dkey mk = {mac_key, sizeof mac_key, mac_key_id, NULL};
    const dkey sk = {NULL, 0, NULL, sign_pub};
    const dkey *k = keys == K_MAC ? &mk : keys == K_SIGNED ? &sk : NULL;
    for (int pass = 0; pass < 2; pass++) {
        dec_ctx c;
        char msg[400];
        int rc = lib_decode(stream->p, stream->n, k, pass ? 1 : 0, &c, msg, sizeof msg);
        if (rc != code)
            complain("bad/%s: library decoder says %s (%s), expected %s", name,
                     vms_strerror(rc), msg, vms_strerror(code));
        buf_free(&c.text);
        buf_free(&c.data);
    }
    char path[256];
    snprintf(path, sizeof path, "bad/%s", name);
    write_file(path, stream->p, stream->n);
    buf_printf(&expected_list, "%-38s %s%s\n", name, vms_strerror(code),
               keys == K_MAC      ? " key=../mac.key"
               : keys == K_SIGNED ? " key=../signed.pub"
                                  : "");
}

/* Parses a base stream, lets f mutate it, serialises (resealing) and emits. */
typedef void (*mutator)(pstream *s);

static void bad(const char *name, const buf *base, mutator f, int code)
{
    pstream s;
    bool keyed = base == &base_mac;
    parse(base, &s, keyed ? mac_key : NULL, keyed ? sizeof mac_key : 0);
    f(&s);
    buf out;
    serialise(&s, &out);
    emit_bad(name, &out, code, keyed ? K_MAC : base == &base_signed ? K_SIGNED : K_NONE);
    buf_free(&out);
    pstream_free(&s);
}

/* header mutations */
static void m_major2(pstream *s) { put16(s->hdr.p + 8, 2); }
static void m_req_feature(pstream *s) { put32(s->hdr.p + 16, le32(s->hdr.p + 16) | 0x80000000u); }
static void m_csum_alg(pstream *s) { s->hdr.p[24] = 2; }
static void m_auth3(pstream *s) { s->hdr.p[25] = 3; }
static void m_codec3(pstream *s) { s->hdr.p[26] = 3; }
static void m_codec_no_feature(pstream *s) { s->hdr.p[26] = 1; } /* feature bit 0 clear */
static void m_feature_no_codec(pstream *s) { s->hdr.p[26] = 0; }
static void m_hdr_reserved(pstream *s) { s->hdr.p[27] = 1; }
static void m_vendor_reserved(pstream *s) { put32(s->hdr.p + 28, 0x00001af4); }
static void m_vendor_pci_high(pstream *s) { put32(s->hdr.p + 28, 0x80011af4); }
static void m_key_id(pstream *s) { s->hdr.p[48] = 1; }
static void m_max_record_0(pstream *s) { put32(s->hdr.p + 56, 0); }
static void m_max_record_big(pstream *s) { put32(s->hdr.p + 56, (64u << 20) + 1); }
static void m_max_record_limit(pstream *s) { put32(s->hdr.p + 56, (16u << 20) + 8); }
static void set_blob(pstream *s, size_t n, uint8_t fill)
{
    uint8_t fixed[H_FIXED];
    memcpy(fixed, s->hdr.p, H_FIXED);
    put32(fixed + 60, (uint32_t)n);
    s->hdr.n = 0;
    buf_add(&s->hdr, fixed, H_FIXED);
    uint8_t *b = xmalloc(pad8(n));
    memset(b, fill, n);
    memset(b + n, 0, pad8(n) - n);
    buf_add(&s->hdr, b, pad8(n));
    free(b);
    fix_header_length(s);
}
static void m_blob_over_format(pstream *s) { set_blob(s, (64u << 10) + 1, 'b'); }
static void m_blob_over_limit(pstream *s) { set_blob(s, (16u << 10) + 1, 'b'); }
static void m_hdr_pad(pstream *s)
{
    set_blob(s, 5, 'p');
    s->hdr.p[H_FIXED + 6] = 0x20;
}
static void m_ext_in_1_0(pstream *s)
{
    static const uint8_t z[8];
    buf_add(&s->hdr, z, 8);
    fix_header_length(s);
}
static void m_hlen_not8(pstream *s)
{
    static const uint8_t z[4];
    put16(s->hdr.p + 10, 1);
    buf_add(&s->hdr, z, 4);
    fix_header_length(s);
}
static void m_hlen_short(pstream *s) { put32(s->hdr.p + 12, le32(s->hdr.p + 12) - 8); }
static void m_ext_too_big(pstream *s)
{
    uint8_t *z = calloc(4096 + 8, 1);
    put16(s->hdr.p + 10, 1);
    buf_add(&s->hdr, z, 4096 + 8);
    free(z);
    fix_header_length(s);
}

/* record mutations (index 1 unless said otherwise) */
static void m_drop1(pstream *s) { rec_remove(s, 1); }
static void m_dup1(pstream *s) { rec_insert(s, 1, &s->r[1]); }
static void m_swap12(pstream *s)
{
    prec t = s->r[1];
    s->r[1] = s->r[2];
    s->r[2] = t;
}
static void m_seq_start1(pstream *s)
{
    for (size_t i = 0; i < s->n; i++)
        put64(s->r[i].rh + 8, i + 1);
}
static void m_rec_flag(pstream *s) { put16(s->r[1].rh + 2, 0x8000); }
static void m_rec_reserved(pstream *s) { put32(s->r[1].rh + 36, 1); }
static void m_unknown_mandatory(pstream *s) { put16(s->r[1].rh, 0x0003); }
static void m_type0(pstream *s) { put16(s->r[1].rh, 0x0000); }
static void m_wire_over_max(pstream *s)
{
    uint8_t p[65];
    memset(p, 0x55, sizeof p);
    rec_set_payload(&s->r[1], p, sizeof p);
    put32(s->r[1].rh + 32, sizeof p);
}
static void m_compressed_no_codec(pstream *s) { put16(s->r[1].rh + 2, 0x0002); }
static void m_raw_ne_wire(pstream *s) { put32(s->r[1].rh + 32, le32(s->r[1].rh + 32) - 1); }
static void m_empty_state(pstream *s)
{
    rec_set_payload(&s->r[1], NULL, 0);
    put32(s->r[1].rh + 32, 0);
}
static void m_offset_overflow(pstream *s) { put64(s->r[1].rh + 16, UINT64_MAX - 10); }
static void m_phase_back(pstream *s) { put32(s->r[0].rh + 24, 5); }
static void m_phase_back_stop(pstream *s)
{
    /* multi.vms: record 7 is the first stop-copy record; record 8 goes back
     * to pre-copy pass 1 */
    if (le32(s->r[7].rh + 24) != VMS_PHASE_STOP_COPY || le32(s->r[6].rh + 24) != 1)
        die("multi.vms layout changed");
    put32(s->r[8].rh + 24, 1);
}
static void m_rec_pad(pstream *s)
{
    /* the first record whose payload is not a multiple of 8 */
    for (size_t i = 0; i < s->n; i++)
        if (s->r[i].padlen) {
            s->r[i].pad[0] = 0x01;
            return;
        }
    die("no padded record");
}
static void m_end_count(pstream *s)
{
    s->end_auto = E_ALL & ~E_COUNT;
    put64(s->r[s->n - 1].payload, s->n);
}
static void m_end_raw(pstream *s)
{
    s->end_auto = E_ALL & ~E_RAW;
    put64(s->r[s->n - 1].payload + 8, le64(s->r[s->n - 1].payload + 8) + 1);
}
static void m_end_off(pstream *s)
{
    s->end_auto = E_ALL & ~E_OFF;
    put64(s->r[s->n - 1].payload + 16, le64(s->r[s->n - 1].payload + 16) - 8);
}
static void m_end_chain(pstream *s)
{
    s->end_auto = E_ALL & ~E_CHAIN;
    s->r[s->n - 1].payload[24] ^= 0x01;
}
static void m_end_section(pstream *s) { put32(s->r[s->n - 1].rh + 4, 1); }
static void m_end_phase(pstream *s) { put32(s->r[s->n - 1].rh + 24, VMS_PHASE_STOP_COPY); }
static void m_end_flags(pstream *s) { put16(s->r[s->n - 1].rh + 2, 0x0001); }
static void m_end_len(pstream *s)
{
    prec *e = &s->r[s->n - 1];
    uint8_t p[64] = {0};
    memcpy(p, e->payload, 56);
    rec_set_payload(e, p, 64);
    put32(e->rh + 32, 64);
}
static void m_drop_last_keep_chain(pstream *s)
{
    /* drop the last state record; END counts fixed, chain left as it was */
    rec_remove(s, s->n - 2);
    renumber(s);
    s->end_auto = E_ALL & ~E_CHAIN;
}
static void m_splice(pstream *s)
{
    /* record 1 of another stream (same layout, other stream id) */
    pstream o;
    buf other;
    parse(&base_plain, &o, NULL, 0);
    o.hdr.p[32] ^= 0xff;
    serialise(&o, &other);
    pstream_free(&o);
    parse(&other, &o, NULL, 0);
    free(s->r[1].payload);
    s->r[1] = o.r[1];
    s->r[1].payload = xmemdup(o.r[1].payload, o.r[1].plen);
    s->r[1].keep_csum = true;
    pstream_free(&o);
    buf_free(&other);
}

/* compression mutations (on the zlib/zstd base: record 0 is compressed) */
static size_t first_compressed(const pstream *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (le16(s->r[i].rh + 2) & 2)
            return i;
    die("no compressed record");
}
static void m_trailing_byte(pstream *s)
{
    prec *r = &s->r[first_compressed(s)];
    uint8_t *p = xmalloc(r->plen + 1);
    memcpy(p, r->payload, r->plen);
    p[r->plen] = 0;
    rec_set_payload(r, p, r->plen + 1);
    free(p);
}
static void m_compressed_not_smaller(pstream *s)
{
    prec *r = &s->r[first_compressed(s)];
    put32(r->rh + 32, (uint32_t)r->plen);
}
static void m_raw_over_max(pstream *s)
{
    prec *r = &s->r[first_compressed(s)];
    put32(r->rh + 32, le32(s->hdr.p + 56) + 1);
}
/* A compressed record whose raw_len is at most half of max_record, so
 * lengths can grow without breaking the max_record rule. */
static size_t short_compressed(const pstream *s)
{
    for (size_t i = 0; i < s->n; i++)
        if ((le16(s->r[i].rh + 2) & 2) && 2 * le32(s->r[i].rh + 32) <= le32(s->hdr.p + 56))
            return i;
    die("no short compressed record");
}
static void m_decomp_short(pstream *s)
{
    prec *r = &s->r[short_compressed(s)];
    put32(r->rh + 32, le32(r->rh + 32) + 1);
}
static void m_decomp_long(pstream *s)
{
    prec *r = &s->r[first_compressed(s)];
    put32(r->rh + 32, le32(r->rh + 32) - 1);
}
static void zlib_payload(prec *r, const uint8_t *dict, size_t dlen, bool corrupt)
{
    /* Recompress the record's content with or without a preset dictionary. */
    uLongf rawlen = le32(r->rh + 32);
    uint8_t *raw = xmalloc(rawlen);
    if (uncompress(raw, &rawlen, r->payload, r->plen) != Z_OK)
        die("uncompress");
    z_stream z = {0};
    uint8_t out[4096];
    if (deflateInit(&z, 9) != Z_OK)
        die("deflateInit");
    if (dict && deflateSetDictionary(&z, dict, (uInt)dlen) != Z_OK)
        die("deflateSetDictionary");
    z.next_in = raw;
    z.avail_in = (uInt)rawlen;
    z.next_out = out;
    z.avail_out = sizeof out;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END)
        die("deflate");
    size_t n = sizeof out - z.avail_out;
    deflateEnd(&z);
    if (corrupt)
        out[n - 1] ^= 0xff; /* Adler-32 */
    if (n >= rawlen)
        die("recompressed record does not shrink");
    rec_set_payload(r, out, n);
    free(raw);
}
static void m_zlib_dict(pstream *s)
{
    static const uint8_t dict[] = "vfio migration state device register ring 0000 ";
    zlib_payload(&s->r[first_compressed(s)], dict, sizeof dict - 1, false);
}
static void m_zlib_adler(pstream *s)
{
    zlib_payload(&s->r[first_compressed(s)], NULL, 0, true);
}
static void m_zlib_garbage(pstream *s)
{
    prec *r = &s->r[first_compressed(s)];
    r->payload[0] = 0x00; /* CMF: compression method 0 is not deflate */
}
static void m_zstd_two_frames(pstream *s)
{
    /* the frame followed by a copy of itself; raw_len doubled so the lengths
     * stay plausible and the record stays within max_record */
    prec *r = &s->r[short_compressed(s)];
    uint32_t raw = le32(r->rh + 32);
    if (2 * raw > le32(s->hdr.p + 56) || 2 * r->plen >= 2 * raw)
        die("zstd frame too big to double");
    uint8_t *p = xmalloc(2 * r->plen);
    memcpy(p, r->payload, r->plen);
    memcpy(p + r->plen, r->payload, r->plen);
    size_t n = r->plen;
    rec_set_payload(r, p, 2 * n);
    put32(r->rh + 32, 2 * raw);
    free(p);
}

/* MAC mutations */
static void m_mac_other_key(pstream *s)
{
    static const uint8_t other[32] = "another key, same key id........";
    s->key = other;
}
static void m_mac_key_id(pstream *s) { s->hdr.p[48] ^= 0x01; }

static void flip_bad(const char *name, const buf *base, size_t at, uint8_t mask, int code)
{
    buf b = {0};
    buf_add(&b, base->p, base->n);
    b.p[at] ^= mask;
    emit_bad(name, &b, code, base == &base_mac ? K_MAC : base == &base_signed ? K_SIGNED : K_NONE);
    buf_free(&b);
}

/* page maps (on the pagemap / pagemap_zlib bases) */
static size_t find_flags(const pstream *s, uint16_t want)
{
    for (size_t i = 0; i < s->n; i++)
        if ((le16(s->r[i].rh + 2) & 6) == want)
            return i;
    die("no record with flags 0x%x", want);
}
static prec *pm(pstream *s) { return &s->r[find_flags(s, 4)]; }
static void m_pm_no_feature(pstream *s) { put32(s->hdr.p + 16, le32(s->hdr.p + 16) & ~2u); }
static void m_pm_optional(pstream *s)
{
    prec *r = pm(s);
    put16(r->rh, 0x7f02);
    put16(r->rh + 2, 0x0005); /* OPTIONAL | PAGEMAP */
}
static void m_pm_compressed_no_codec(pstream *s) { put16(pm(s)->rh + 2, 0x0006); }
static void m_pm_not_smaller(pstream *s)
{
    prec *r = pm(s);
    put32(r->rh + 32, (uint32_t)r->plen);
}
static void m_pm_bit_beyond(pstream *s)
{
    prec *r = pm(s);
    uint32_t pages = (le32(r->rh + 32) + 4095) / 4096;
    if (pages % 64 == 0)
        die("no spare bitmap bit");
    r->payload[pages / 8] |= (uint8_t)(1u << (pages % 8));
}
static void m_pm_no_uniform(pstream *s)
{
    prec *r = pm(s);
    uint32_t pages = (le32(r->rh + 32) + 4095) / 4096;
    memset(r->payload, 0, pad8((pages + 7) / 8));
}
static void m_pm_fill_pad(pstream *s)
{
    prec *r = pm(s);
    size_t mb = pad8(((le32(r->rh + 32) + 4095) / 4096 + 7) / 8), count = 0;
    for (size_t i = 0; i < mb; i++)
        for (int b = 0; b < 8; b++)
            count += (r->payload[i] >> b) & 1;
    if (count % 8 == 0)
        die("no fill padding");
    r->payload[mb + count] = 0x01;
}
static void m_pm_literal_short(pstream *s)
{
    prec *r = pm(s);
    rec_set_payload(r, r->payload, r->plen - 1);
}
static void m_pm_bitmap_cut(pstream *s)
{
    prec *r = pm(s);
    rec_set_payload(r, r->payload, 4);
}
static void m_pm_fills_cut(pstream *s)
{
    prec *r = pm(s);
    size_t mb = pad8(((le32(r->rh + 32) + 4095) / 4096 + 7) / 8);
    rec_set_payload(r, r->payload, mb + 2);
}
static prec *pmz(pstream *s) { return &s->r[find_flags(s, 6)]; }
static void m_pmz_adler(pstream *s)
{
    prec *r = pmz(s);
    r->payload[r->plen - 1] ^= 0xff;
}
static void m_pmz_not_smaller(pstream *s)
{
    /* replace the compressed literals by their raw bytes, flag kept */
    prec *r = pmz(s);
    uint32_t raw = le32(r->rh + 32), pages = (raw + 4095) / 4096;
    size_t mb = pad8((pages + 7) / 8), count = 0, uni = 0;
    for (uint32_t i = 0; i < pages; i++)
        if ((r->payload[i / 8] >> (i % 8)) & 1) {
            count++;
            uni += i + 1 < pages ? 4096 : raw - i * 4096;
        }
    size_t head = mb + pad8(count);
    uLongf lit = raw - uni;
    uint8_t *p = xmalloc(head + lit);
    memcpy(p, r->payload, head);
    if (uncompress(p + head, &lit, r->payload + head, r->plen - head) != Z_OK ||
        lit != raw - uni)
        die("uncompress literals");
    rec_set_payload(r, p, head + lit);
    free(p);
}

/* signatures (on the signed base) */
static size_t find_type(const pstream *s, uint16_t type)
{
    for (size_t i = 0; i < s->n; i++)
        if (rtype(&s->r[i]) == type)
            return i;
    die("no record of type %u", type);
}
static void m_sig_end(pstream *s) { s->r[s->n - 1].payload[60] ^= 0x01; }
static void m_sig_ckpt(pstream *s) { s->r[find_type(s, 3)].payload[50] ^= 0x01; }
static void m_sig_state(pstream *s)
{
    /* an attacker who recomputes checksums, chain, checkpoint and END fields
     * but cannot sign */
    s->r[0].payload[0] ^= 0x01;
}
static void m_ckpt_count(pstream *s)
{
    s->end_auto &= ~(unsigned)E_CKPT;
    put64(s->r[find_type(s, 3)].payload, 0);
}
static void m_ckpt_chain(pstream *s)
{
    s->end_auto &= ~(unsigned)E_CKPT;
    s->r[find_type(s, 3)].payload[16] ^= 0x01;
}
static void m_ckpt_section(pstream *s) { put32(s->r[find_type(s, 3)].rh + 4, 1); }
static void m_ckpt_length(pstream *s)
{
    prec *r = &s->r[find_type(s, 3)];
    uint8_t p[120] = {0};
    memcpy(p, r->payload, 112);
    rec_set_payload(r, p, 120);
    put32(r->rh + 32, 120);
}
static void m_end_unsigned_len(pstream *s)
{
    prec *e = &s->r[s->n - 1];
    rec_set_payload(e, e->payload, 56);
    put32(e->rh + 32, 56);
}
static void m_sig_key_id(pstream *s) { s->hdr.p[48] ^= 0x01; }
static void m_ckpt_in_unsigned(pstream *s)
{
    prec r = {0};
    uint8_t p[112] = {0};
    put16(r.rh, 3);
    put16(r.rh + 2, 0x0001); /* OPTIONAL does not help: type 3 is known */
    r.payload = p;
    r.plen = 112;
    put32(r.rh + 28, 112);
    put32(r.rh + 32, 112);
    rec_insert(s, 1, &r);
    renumber(s);
}

static size_t record_start(const buf *stream, size_t idx)
{
    size_t off = le32(stream->p + 12);
    for (size_t i = 0; i < idx; i++)
        off += R_HDR + pad8(le32(stream->p + off + 28));
    return off;
}

static void make_bad(void)
{
    const buf *P = &base_plain, *Z = &base_zlib;
    size_t hlen = le32(P->p + 12);
    size_t r1 = record_start(P, 1);

    /* magic and transport damage (no resealing needed) */
    flip_bad("bad_magic.vms", P, 1, 'V' ^ 'X', VMS_E_BAD_MAGIC);
    flip_bad("bad_magic_7bit.vms", P, 0, 0x80, VMS_E_BAD_MAGIC);
    {
        buf b = {0};
        buf_add(&b, P->p, 4);
        buf_add(&b, P->p + 5, P->n - 5); /* CR LF -> LF */
        emit_bad("bad_magic_crlf_to_lf.vms", &b, VMS_E_BAD_MAGIC, K_NONE);
        buf_free(&b);
        buf_add(&b, P->p, 7);
        buf_add(&b, "\r", 1); /* final LF -> CR LF */
        buf_add(&b, P->p + 7, P->n - 7);
        emit_bad("bad_magic_lf_to_crlf.vms", &b, VMS_E_BAD_MAGIC, K_NONE);
        buf_free(&b);
        buf_add(&b, "hello\n", 6);
        emit_bad("bad_magic_text.vms", &b, VMS_E_BAD_MAGIC, K_NONE);
        buf_free(&b);
    }

    /* header fields (resealed: the field is the only defect) */
    bad("bad_version_major2.vms", P, m_major2, VMS_E_UNSUPPORTED_VERSION);
    bad("unknown_required_feature.vms", P, m_req_feature, VMS_E_UNKNOWN_FEATURE);
    bad("unknown_checksum_alg.vms", P, m_csum_alg, VMS_E_UNKNOWN_ALGORITHM);
    bad("unknown_auth_mode.vms", P, m_auth3, VMS_E_UNKNOWN_ALGORITHM);
    bad("unknown_codec.vms", Z, m_codec3, VMS_E_UNKNOWN_ALGORITHM);
    bad("codec_without_feature.vms", P, m_codec_no_feature, VMS_E_BAD_HEADER);
    bad("feature_without_codec.vms", Z, m_feature_no_codec, VMS_E_BAD_HEADER);
    bad("header_reserved_nonzero.vms", P, m_hdr_reserved, VMS_E_NONZERO_PADDING);
    bad("vendor_reserved_space.vms", P, m_vendor_reserved, VMS_E_BAD_VENDOR_ID);
    bad("vendor_pci_high_bits.vms", P, m_vendor_pci_high, VMS_E_BAD_VENDOR_ID);
    bad("key_id_without_auth.vms", P, m_key_id, VMS_E_NONZERO_PADDING);
    bad("max_record_zero.vms", P, m_max_record_0, VMS_E_BAD_HEADER);
    bad("max_record_over_format.vms", P, m_max_record_big, VMS_E_BAD_HEADER);
    bad("limit_max_record.vms", P, m_max_record_limit, VMS_E_LIMIT_RECORD);
    bad("blob_over_format.vms", P, m_blob_over_format, VMS_E_BAD_HEADER);
    bad("limit_blob.vms", P, m_blob_over_limit, VMS_E_LIMIT_BLOB);
    bad("header_padding_nonzero.vms", P, m_hdr_pad, VMS_E_NONZERO_PADDING);
    bad("header_extension_in_1_0.vms", P, m_ext_in_1_0, VMS_E_BAD_HEADER);
    bad("header_length_not_8.vms", P, m_hlen_not8, VMS_E_BAD_HEADER);
    bad("header_length_short.vms", P, m_hlen_short, VMS_E_BAD_HEADER);
    bad("limit_header_extension.vms", P, m_ext_too_big, VMS_E_LIMIT_HEADER);
    flip_bad("flipped_header_blob.vms", P, 64, 0x01, VMS_E_HEADER_CHECKSUM);
    flip_bad("flipped_header_checksum.vms", P, hlen - 1, 0x80, VMS_E_HEADER_CHECKSUM);

    /* records */
    bad("seq_gap.vms", P, m_drop1, VMS_E_BAD_SEQUENCE);
    bad("seq_duplicate.vms", P, m_dup1, VMS_E_BAD_SEQUENCE);
    bad("seq_reordered.vms", P, m_swap12, VMS_E_BAD_SEQUENCE);
    bad("seq_starts_at_1.vms", P, m_seq_start1, VMS_E_BAD_SEQUENCE);
    bad("record_unknown_flag.vms", P, m_rec_flag, VMS_E_BAD_RECORD_FLAGS);
    bad("record_reserved_nonzero.vms", P, m_rec_reserved, VMS_E_NONZERO_PADDING);
    bad("unknown_mandatory_record.vms", P, m_unknown_mandatory, VMS_E_UNKNOWN_RECORD);
    bad("record_type_0.vms", P, m_type0, VMS_E_UNKNOWN_RECORD);
    bad("wire_len_over_max_record.vms", P, m_wire_over_max, VMS_E_BAD_LENGTH);
    bad("compressed_without_codec.vms", P, m_compressed_no_codec, VMS_E_BAD_RECORD_FLAGS);
    bad("raw_len_ne_wire_len.vms", P, m_raw_ne_wire, VMS_E_BAD_LENGTH);
    bad("empty_state_record.vms", P, m_empty_state, VMS_E_BAD_LENGTH);
    bad("offset_overflow.vms", P, m_offset_overflow, VMS_E_BAD_OFFSET);
    bad("phase_backwards.vms", P, m_phase_back, VMS_E_BAD_PHASE);
    bad("phase_after_stop_copy.vms", P, m_phase_back_stop, VMS_E_BAD_PHASE);
    bad("record_padding_nonzero.vms", P, m_rec_pad, VMS_E_NONZERO_PADDING);
    flip_bad("flipped_payload.vms", P, r1 + R_HDR + 3, 0x10, VMS_E_RECORD_CHECKSUM);
    flip_bad("flipped_record_checksum.vms", P, r1 + 40, 0x01, VMS_E_RECORD_CHECKSUM);
    flip_bad("flipped_section.vms", P, r1 + 4, 0x04, VMS_E_RECORD_CHECKSUM);
    bad("spliced_record.vms", P, m_splice, VMS_E_RECORD_CHECKSUM);

    /* compression */
    bad("compressed_not_smaller.vms", Z, m_compressed_not_smaller, VMS_E_BAD_LENGTH);
    bad("compressed_raw_over_max.vms", Z, m_raw_over_max, VMS_E_BAD_LENGTH);
    bad("zlib_trailing_bytes.vms", Z, m_trailing_byte, VMS_E_BAD_COMPRESSION);
    bad("zlib_decompresses_short.vms", Z, m_decomp_short, VMS_E_BAD_COMPRESSION);
    bad("zlib_decompresses_long.vms", Z, m_decomp_long, VMS_E_BAD_COMPRESSION);
    bad("zlib_preset_dictionary.vms", Z, m_zlib_dict, VMS_E_BAD_COMPRESSION);
    bad("zlib_bad_adler32.vms", Z, m_zlib_adler, VMS_E_BAD_COMPRESSION);
    bad("zlib_invalid_header.vms", Z, m_zlib_garbage, VMS_E_BAD_COMPRESSION);
    if (have_zstd) {
        const buf *S = &base_zstd;
        bad("zstd_trailing_bytes.vms", S, m_trailing_byte, VMS_E_BAD_COMPRESSION);
        bad("zstd_two_frames.vms", S, m_zstd_two_frames, VMS_E_BAD_COMPRESSION);
        bad("zstd_decompresses_short.vms", S, m_decomp_short, VMS_E_BAD_COMPRESSION);
        bad("zstd_decompresses_long.vms", S, m_decomp_long, VMS_E_BAD_COMPRESSION);
    }

    /* page maps */
    {
        const buf *G = &base_pagemap, *GZ = &base_pagemap_zlib;
        bad("pagemap_without_feature.vms", G, m_pm_no_feature, VMS_E_BAD_RECORD_FLAGS);
        bad("pagemap_on_optional_record.vms", G, m_pm_optional, VMS_E_BAD_RECORD_FLAGS);
        bad("pagemap_compressed_without_codec.vms", G, m_pm_compressed_no_codec,
            VMS_E_BAD_RECORD_FLAGS);
        bad("pagemap_not_smaller.vms", G, m_pm_not_smaller, VMS_E_BAD_LENGTH);
        bad("pagemap_bitmap_cut.vms", G, m_pm_bitmap_cut, VMS_E_BAD_LENGTH);
        bad("pagemap_bit_beyond_pages.vms", G, m_pm_bit_beyond, VMS_E_NONZERO_PADDING);
        bad("pagemap_no_uniform_page.vms", G, m_pm_no_uniform, VMS_E_BAD_LENGTH);
        bad("pagemap_fills_cut.vms", G, m_pm_fills_cut, VMS_E_BAD_LENGTH);
        bad("pagemap_fill_padding_nonzero.vms", G, m_pm_fill_pad, VMS_E_NONZERO_PADDING);
        bad("pagemap_literal_short.vms", G, m_pm_literal_short, VMS_E_BAD_LENGTH);
        bad("pagemap_zlib_bad_adler32.vms", GZ, m_pmz_adler, VMS_E_BAD_COMPRESSION);
        bad("pagemap_zlib_not_smaller.vms", GZ, m_pmz_not_smaller, VMS_E_BAD_LENGTH);
    }

    /* Ed25519 signatures (decoded with ../signed.pub) */
    if (have_signed) {
        const buf *S = &base_signed;
        bad("signed_bad_end_signature.vms", S, m_sig_end, VMS_E_BAD_SIGNATURE);
        bad("signed_bad_checkpoint_signature.vms", S, m_sig_ckpt, VMS_E_BAD_SIGNATURE);
        bad("signed_state_modified_resealed.vms", S, m_sig_state, VMS_E_BAD_SIGNATURE);
        bad("signed_checkpoint_bad_count.vms", S, m_ckpt_count, VMS_E_BAD_END);
        bad("signed_checkpoint_bad_chain.vms", S, m_ckpt_chain, VMS_E_CHAIN_MISMATCH);
        bad("signed_checkpoint_nonzero_section.vms", S, m_ckpt_section,
            VMS_E_BAD_RECORD_FLAGS);
        bad("signed_checkpoint_bad_length.vms", S, m_ckpt_length, VMS_E_BAD_LENGTH);
        bad("signed_end_without_signature.vms", S, m_end_unsigned_len, VMS_E_BAD_LENGTH);
        bad("signed_other_key_id.vms", S, m_sig_key_id, VMS_E_UNKNOWN_KEY);
        buf b = {0};
        buf_add(&b, S->p, S->n);
        emit_bad("signed_no_key.vms", &b, VMS_E_UNKNOWN_KEY, K_NONE);
        buf_free(&b);
    }
    bad("checkpoint_in_unsigned_stream.vms", &base_pagemap, m_ckpt_in_unsigned,
        VMS_E_UNKNOWN_RECORD);

    /* END record and stream end */
    bad("end_bad_record_count.vms", P, m_end_count, VMS_E_BAD_END);
    bad("end_bad_raw_bytes.vms", P, m_end_raw, VMS_E_BAD_END);
    bad("end_bad_stream_offset.vms", P, m_end_off, VMS_E_BAD_END);
    bad("end_nonzero_section.vms", P, m_end_section, VMS_E_BAD_END);
    bad("end_nonzero_phase.vms", P, m_end_phase, VMS_E_BAD_END);
    bad("end_with_flags.vms", P, m_end_flags, VMS_E_BAD_END);
    bad("end_bad_length.vms", P, m_end_len, VMS_E_BAD_LENGTH);
    bad("chain_mismatch.vms", P, m_end_chain, VMS_E_CHAIN_MISMATCH);
    bad("chain_dropped_last_record.vms", P, m_drop_last_keep_chain, VMS_E_CHAIN_MISMATCH);
    {
        buf b = {0};
        buf_add(&b, P->p, P->n);
        buf_add(&b, "", 1);
        emit_bad("trailing_zero_byte.vms", &b, VMS_E_TRAILING_DATA, K_NONE);
        buf_add(&b, P->p, P->n); /* a second stream after the first */
        emit_bad("trailing_data.vms", &b, VMS_E_TRAILING_DATA, K_NONE);
        buf_free(&b);
        size_t end_at = record_start(P, (size_t)le64(P->p + P->n - 56) /* END count */);
        struct { const char *name; size_t len; } cut[] = {
            {"truncated_empty_file.vms", 0},
            {"truncated_in_magic.vms", 5},
            {"truncated_in_header.vms", hlen - 1},
            {"truncated_after_header.vms", hlen},
            {"truncated_in_record_header.vms", r1 + 10},
            {"truncated_in_payload.vms", r1 + R_HDR + 1},
            {"truncated_end.vms", end_at},
            {"truncated_in_end.vms", P->n - 1},
        };
        for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
            buf t = {0};
            buf_add(&t, P->p, cut[i].len);
            emit_bad(cut[i].name, &t, VMS_E_TRUNCATED, K_NONE);
            buf_free(&t);
        }
    }

    /* MAC mode (decoded with ../mac.key, key id from ../mac.keyid) */
    const buf *M = &base_mac;
    flip_bad("mac_flipped_payload.vms", M, record_start(M, 1) + R_HDR, 0x01,
             VMS_E_MAC_MISMATCH);
    flip_bad("mac_flipped_header.vms", M, 64, 0x01, VMS_E_MAC_MISMATCH);
    bad("mac_wrong_key.vms", M, m_mac_other_key, VMS_E_MAC_MISMATCH);
    bad("mac_other_key_id.vms", M, m_mac_key_id, VMS_E_UNKNOWN_KEY);
    {
        /* A MAC stream given to a decoder that has no key. */
        buf b = {0};
        buf_add(&b, M->p, M->n);
        emit_bad("mac_no_key.vms", &b, VMS_E_UNKNOWN_KEY, K_NONE);
        buf_free(&b);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gen_vectors OUTDIR   (e.g. tests/vectors)\n");
        return 2;
    }
    outdir = argv[1];
    vms_key_id(mac_key, sizeof mac_key, mac_key_id);
    if (vms_ed25519_public_key(sign_key, sign_pub) != VMS_OK)
        memset(sign_pub, 0, sizeof sign_pub); /* built without OpenSSL */
    char bad_dir[4096];
    snprintf(bad_dir, sizeof bad_dir, "%s/bad", outdir);
    if (mkdir(bad_dir, 0777) != 0 && errno != EEXIST)
        die("mkdir %s: %s", bad_dir, strerror(errno));

    /* The serialiser must reproduce the encoder's bytes exactly. */
    make_good();
    const buf *bases[] = {&base_plain,   &base_zlib,         &base_zstd,  &base_mac,
                          &base_pagemap, &base_pagemap_zlib, &base_signed};
    const size_t nbases = sizeof bases / sizeof bases[0];
    for (size_t i = 0; i < nbases; i++) {
        if (!bases[i]->n)
            continue;
        pstream s;
        bool keyed = bases[i] == &base_mac;
        parse(bases[i], &s, keyed ? mac_key : NULL, keyed ? 32 : 0);
        buf out;
        serialise(&s, &out);
        if (out.n != bases[i]->n || memcmp(out.p, bases[i]->p, out.n) != 0)
            complain("serialiser does not reproduce base stream %zu", i);
        buf_free(&out);
        pstream_free(&s);
    }

    buf_printf(&expected_list,
               "# bad vector -> the vms_status a decoder must fail with (default limits).\n"
               "# key=FILE: decode with that MAC key (its key id is in FILE's .keyid).\n"
               "# Generated by tests/gen_vectors.c; see README.md.\n");
    make_bad();
    write_file("bad/EXPECTED", expected_list.p, expected_list.n);

    for (size_t i = 0; i < nbases; i++)
        buf_free((buf *)bases[i]);
    buf_free(&expected_list);
    if (failures) {
        fprintf(stderr, "gen_vectors: %d mismatch(es)\n", failures);
        return 1;
    }
    return 0;
}
