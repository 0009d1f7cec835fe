/* testutil.h - helpers shared by the Criterion tests: state generators, an
 * encoder/decoder driver, stream surgery (restamping checksums after a
 * deliberate change so the check behind the checksum is reached) and a
 * failing allocator. */
#ifndef VMS_TESTUTIL_H
#define VMS_TESTUTIL_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <zlib.h>

#include "internal.h"
#include "vmstream.h"
#include "wire.h"

#define TU_UNUSED __attribute__((unused))

static const uint8_t tu_sid[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

static TU_UNUSED uint64_t tu_rng(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static TU_UNUSED uint8_t *tu_random(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)tu_rng(&seed);
    return p;
}

/* Device-like state: 4 KiB pages, half random, a quarter zero, a quarter
 * repetitive text. */
static TU_UNUSED uint8_t *tu_state(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    for (size_t pg = 0; pg < n; pg += 4096) {
        size_t end = pg + 4096 < n ? pg + 4096 : n;
        unsigned kind = (unsigned)(tu_rng(&seed) & 3);
        for (size_t i = pg; i < end; i++) {
            if (kind < 2)
                p[i] = (uint8_t)tu_rng(&seed);
            else if (kind == 2)
                p[i] = 0;
            else
                p[i] = (uint8_t)("device register state "[i % 23]);
        }
    }
    return p;
}

typedef struct tu_stream {
    uint8_t *data;
    size_t len;
} tu_stream;

typedef struct tu_mac {
    const uint8_t *key;
    size_t keylen;
    const uint8_t *kid;
} tu_mac;

static TU_UNUSED void tu_stream_free(tu_stream *s)
{
    free(s->data);
    s->data = NULL;
    s->len = 0;
}

static TU_UNUSED tu_stream tu_from_membuf(vms_membuf *mb)
{
    tu_stream s = {malloc(mb->len ? mb->len : 1), mb->len};
    memcpy(s.data, mb->data, mb->len);
    vms_membuf_release(mb);
    return s;
}

static TU_UNUSED tu_stream tu_encode_full(const uint8_t *in, size_t n, size_t chunk,
                                          vms_codec codec, const tu_mac *mac,
                                          const uint8_t *sid, const uint8_t *blob,
                                          size_t blob_len)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_vendor(e, VMS_VENDOR_PCI(0x1af4)), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, chunk), VMS_OK);
    cr_assert_eq(vms_encoder_set_compression(e, codec, 0), VMS_OK);
    if (blob_len)
        cr_assert_eq(vms_encoder_set_version_blob(e, blob, blob_len), VMS_OK);
    if (mac)
        cr_assert_eq(vms_encoder_set_mac_key(e, mac->key, mac->keylen, mac->kid), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 1, 0, 0, in, n), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    return tu_from_membuf(&mb);
}

/* One write of n bytes in records of chunk bytes, page elision on or off. */
static TU_UNUSED tu_stream tu_encode_opts(const uint8_t *in, size_t n, size_t chunk,
                                          vms_codec codec, int elide)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, chunk), VMS_OK);
    cr_assert_eq(vms_encoder_set_compression(e, codec, 0), VMS_OK);
    cr_assert_eq(vms_encoder_set_page_elision(e, elide), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 1, 0, 0, in, n), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    return tu_from_membuf(&mb);
}

static TU_UNUSED tu_stream tu_encode(const uint8_t *in, size_t n, size_t chunk,
                                     vms_codec codec, const tu_mac *mac)
{
    return tu_encode_full(in, n, chunk, codec, mac, tu_sid, NULL, 0);
}

static TU_UNUSED tu_stream tu_encode_sid(const uint8_t *in, size_t n, size_t chunk,
                                         const tu_mac *mac, const uint8_t *sid)
{
    return tu_encode_full(in, n, chunk, VMS_CODEC_NONE, mac, sid, NULL, 0);
}

static TU_UNUSED tu_stream tu_encode_blob(const uint8_t *blob, size_t blob_len)
{
    uint8_t state[64];
    memset(state, 0x42, sizeof state);
    return tu_encode_full(state, sizeof state, 64, VMS_CODEC_NONE, NULL, tu_sid, blob,
                          blob_len);
}

static TU_UNUSED tu_stream tu_copy(const tu_stream *s)
{
    tu_stream c = {malloc(s->len ? s->len : 1), s->len};
    memcpy(c.data, s->data, s->len);
    return c;
}

/* New stream: s with n bytes inserted at offset at. */
static TU_UNUSED tu_stream tu_splice(const tu_stream *s, size_t at, const uint8_t *b,
                                     size_t n)
{
    tu_stream c = {malloc(s->len + n), s->len + n};
    memcpy(c.data, s->data, at);
    memcpy(c.data + at, b, n);
    memcpy(c.data + at + n, s->data + at, s->len - at);
    return c;
}

/* Stream offset of record i (END included), walking lengths. */
static TU_UNUSED size_t tu_record_offset(const tu_stream *s, size_t i)
{
    size_t off = vms_le32(s->data + VMS_H_LENGTH);
    for (size_t k = 0; k < i; k++) {
        cr_assert_leq(off + VMS_R_HDR, s->len, "record %zu out of range", k);
        off += VMS_R_HDR + (size_t)vms_pad8(vms_le32(s->data + off + VMS_R_WIRE_LEN));
    }
    return off;
}

/* Recomputes the header checksum, every record checksum and (if fix_chain)
 * the END chain digest, so a deliberate change reaches the check behind the
 * checksums. */
static TU_UNUSED void tu_restamp_ex(tu_stream *s, const uint8_t *key, size_t keylen,
                                    bool fix_chain)
{
    uint32_t hl = vms_le32(s->data + VMS_H_LENGTH);
    uint8_t hd[32], chain[32], prefix[128];
    vms_digest_header(hd, s->data, hl - 32, key, keylen);
    memcpy(s->data + hl - 32, hd, 32);
    memcpy(chain, hd, 32);
    size_t off = hl;
    while (off + VMS_R_HDR <= s->len) {
        uint8_t *r = s->data + off;
        uint32_t wl = vms_le32(r + VMS_R_WIRE_LEN);
        if (off + VMS_R_HDR + wl > s->len)
            break;
        bool end = vms_le16(r + VMS_R_TYPE) == VMS_REC_END;
        if (end && fix_chain && wl >= VMS_END_PAYLOAD)
            memcpy(r + VMS_R_HDR + VMS_E_CHAIN, chain, 32);
        if (vms_le16(r + VMS_R_TYPE) == VMS_REC_CHECKPOINT && fix_chain &&
            wl == VMS_CHECKPOINT_PAYLOAD)
            memcpy(r + VMS_R_HDR + VMS_C_CHAIN, chain, 32);
        vms_make_prefix(prefix, s->data + VMS_H_STREAM_ID, hd, r);
        vms_digest_record(r + VMS_R_CHECKSUM, prefix, r + VMS_R_HDR, wl, key, keylen);
        vms_chain_step(chain, r + VMS_R_CHECKSUM);
        off += VMS_R_HDR + (size_t)vms_pad8(wl);
        if (end)
            break;
    }
}

static TU_UNUSED void tu_restamp(tu_stream *s, const uint8_t *key, size_t keylen)
{
    tu_restamp_ex(s, key, keylen, true);
}

static TU_UNUSED void tu_restamp_records_only(tu_stream *s, const uint8_t *key,
                                              size_t keylen)
{
    tu_restamp_ex(s, key, keylen, false);
}

/* A stream with one hand-made record (payload as given) and a correct END. */
static TU_UNUSED tu_stream tu_single_record(vms_codec codec, uint16_t flags,
                                            const uint8_t *payload, size_t n,
                                            uint32_t raw_len, uint32_t max_record)
{
    vms_header_info h;
    memset(&h, 0, sizeof h);
    h.format_major = VMS_FORMAT_MAJOR;
    h.checksum_alg = VMS_CSUM_BLAKE2B_256;
    h.codec = (uint8_t)codec;
    h.features_required = codec ? VMS_FEAT_COMPRESSION : 0;
    h.max_record = max_record;
    memcpy(h.stream_id, tu_sid, 16);
    size_t hl = vms_header_size(0);
    size_t total = hl + VMS_R_HDR + (size_t)vms_pad8(n) + VMS_R_HDR + VMS_END_PAYLOAD;
    tu_stream s = {calloc(1, total), total};
    vms_header_write(s.data, &h, NULL, NULL, 0);
    uint8_t *r = s.data + hl;
    vms_put16(r + VMS_R_TYPE, VMS_REC_STATE);
    vms_put16(r + VMS_R_FLAGS, flags);
    vms_put32(r + VMS_R_WIRE_LEN, (uint32_t)n);
    vms_put32(r + VMS_R_RAW_LEN, raw_len);
    memcpy(r + VMS_R_HDR, payload, n);
    uint8_t *e = r + VMS_R_HDR + vms_pad8(n);
    vms_put16(e + VMS_R_TYPE, VMS_REC_END);
    vms_put64(e + VMS_R_SEQ, 1);
    vms_put32(e + VMS_R_WIRE_LEN, VMS_END_PAYLOAD);
    vms_put32(e + VMS_R_RAW_LEN, VMS_END_PAYLOAD);
    vms_put64(e + VMS_R_HDR + VMS_E_RECORDS, 1);
    vms_put64(e + VMS_R_HDR + VMS_E_RAW_BYTES, raw_len);
    vms_put64(e + VMS_R_HDR + VMS_E_STREAM_BYTES, (uint64_t)(e - s.data));
    tu_restamp(&s, NULL, 0);
    return s;
}

static TU_UNUSED size_t tu_zlib(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    uLongf ol = cap;
    cr_assert_eq(compress2(out, &ol, in, n, 6), Z_OK);
    return ol;
}

/* ---- decoding driver -------------------------------------------------------- */

typedef struct tu_log {
    uint32_t section, phase;
    uint64_t offset;
    size_t len;
} tu_log;

typedef struct tu_result {
    int rc;
    uint8_t *data; /* section contents assembled by offset */
    size_t len, cap;
    size_t records;
    uint64_t last_index;
    int commits, aborts;
    int err_code;
    uint64_t offset, err_record;
    char msg[VMS_MSG_MAX];
    tu_log log[64];
    size_t nlog;
    bool nocopy;
    size_t run_records; /* records delivered in runs (vms_decoder_set_page_runs) */
    vms_decoder_stats stats; /* the decoder's, at its end (tu_decode_all) */
} tu_result;

static TU_UNUSED void tu_result_free(tu_result *r)
{
    free(r->data);
    r->data = NULL;
}

static TU_UNUSED int tu_on_record(void *ctx, const vms_record *rec)
{
    tu_result *r = ctx;
    cr_assert(r->records == 0 || rec->index > r->last_index, "records out of order");
    r->last_index = rec->index;
    cr_assert(rec->len > 0);
    if (r->nlog < 64)
        r->log[r->nlog++] = (tu_log){rec->section, rec->phase, rec->offset, rec->len};
    r->records++;
    if (r->nocopy)
        return 0;
    size_t end = (size_t)rec->offset + rec->len;
    if (end > r->cap) {
        size_t nc = r->cap ? r->cap : 4096;
        while (nc < end)
            nc *= 2;
        r->data = realloc(r->data, nc);
        memset(r->data + r->cap, 0, nc - r->cap);
        r->cap = nc;
    }
    if (rec->runs) {
        /* In runs: in order, no gaps, covering [0, len); neighbours never
         * of one kind that could have been merged. */
        cr_assert_null(rec->data, "record %llu has both data and runs",
                       (unsigned long long)rec->index);
        cr_assert(rec->flags & VMS_RF_PAGEMAP);
        size_t at = 0;
        for (size_t i = 0; i < rec->nruns; i++) {
            const vms_run *u = &rec->runs[i];
            cr_assert_eq(u->offset, at, "run %zu at %zu, expected %zu", i, u->offset, at);
            cr_assert_gt(u->len, 0);
            cr_assert_leq(u->len, rec->len - at);
            if (i > 0) {
                const vms_run *v = &rec->runs[i - 1];
                cr_assert(!(v->data && u->data), "two literal runs in a row");
                cr_assert(v->data || u->data || v->fill != u->fill,
                          "two fill runs of one byte in a row");
            }
            if (u->data)
                memcpy(r->data + rec->offset + at, u->data, u->len);
            else
                memset(r->data + rec->offset + at, u->fill, u->len);
            at += u->len;
        }
        cr_assert_eq(at, rec->len, "runs cover %zu of %zu bytes", at, rec->len);
        r->run_records++;
    } else {
        cr_assert_not_null(rec->data);
        cr_assert_eq(rec->nruns, 0);
        memcpy(r->data + rec->offset, rec->data, rec->len);
    }
    if (end > r->len)
        r->len = end;
    return 0;
}

static TU_UNUSED int tu_on_commit(void *ctx, const vms_stream_summary *s)
{
    (void)s;
    ((tu_result *)ctx)->commits++;
    return 0;
}

static TU_UNUSED int tu_on_abort(void *ctx, const vms_error_info *e)
{
    tu_result *r = ctx;
    r->aborts++;
    r->err_code = e->code;
    return 0;
}

/* The driver; threads and page_runs: vms_decoder_set_threads and
 * vms_decoder_set_page_runs. */
static TU_UNUSED tu_result tu_decode_all(const uint8_t *data, size_t len, size_t step,
                                         const vms_limits *lim, const tu_mac *mac,
                                         vms_auth_mode require, bool nocopy,
                                         uint64_t *peak, unsigned threads, bool page_runs)
{
    tu_result r;
    memset(&r, 0, sizeof r);
    r.nocopy = nocopy;
    vms_decoder_callbacks cb = {.on_record = tu_on_record, .on_commit = tu_on_commit,
                                .on_abort = tu_on_abort, .ctx = &r};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, lim, &cb, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_require_auth(d, require), VMS_OK);
    cr_assert_eq(vms_decoder_set_threads(d, threads), VMS_OK);
    cr_assert_eq(vms_decoder_set_page_runs(d, page_runs), VMS_OK);
    if (mac)
        cr_assert_eq(vms_decoder_set_mac_key(d, mac->key, mac->keylen, mac->kid), VMS_OK);
    int rc = VMS_OK;
    size_t pos = 0;
    if (step == 0)
        step = 1;
    while (pos < len && rc >= 0) {
        size_t n = len - pos < step ? len - pos : step;
        size_t used = 0;
        rc = vms_decoder_feed(d, data + pos, n, &used);
        if (rc >= 0)
            cr_assert_eq(used, n, "feed consumed %zu of %zu", used, n);
        pos += used;
    }
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    r.rc = rc;
    const vms_error_info *e = vms_decoder_error(d);
    if (rc < 0) {
        cr_assert_eq(e->code, rc);
        cr_assert_eq(vms_decoder_complete(d), 0);
    }
    r.offset = e->offset;
    r.err_record = e->record;
    snprintf(r.msg, sizeof r.msg, "%s", e->message);
    if (peak)
        *peak = vms_decoder_peak_memory(d);
    r.stats = *vms_decoder_get_stats(d);
    vms_decoder_free(d);
    return r;
}

static TU_UNUSED tu_result tu_decode_ex(const uint8_t *data, size_t len, size_t step,
                                        const vms_limits *lim, const tu_mac *mac,
                                        vms_auth_mode require, bool nocopy,
                                        uint64_t *peak)
{
    return tu_decode_all(data, len, step, lim, mac, require, nocopy, peak, 1, false);
}

/* Page-mapped records in runs (vms_decoder_set_page_runs), on threads. */
static TU_UNUSED tu_result tu_decode_runs(const uint8_t *data, size_t len, size_t step,
                                          unsigned threads)
{
    return tu_decode_all(data, len, step, NULL, NULL, VMS_AUTH_NONE, false, NULL, threads,
                         true);
}

static TU_UNUSED tu_result tu_decode(const uint8_t *data, size_t len, size_t step,
                                     const vms_limits *lim)
{
    return tu_decode_ex(data, len, step, lim, NULL, VMS_AUTH_NONE, false, NULL);
}

static TU_UNUSED tu_result tu_decode_nocopy(const uint8_t *data, size_t len, size_t step,
                                            uint64_t *peak)
{
    return tu_decode_ex(data, len, step, NULL, NULL, VMS_AUTH_NONE, true, peak);
}

static TU_UNUSED tu_result tu_decode_mac(const uint8_t *data, size_t len,
                                         const tu_mac *mac, vms_auth_mode require)
{
    return tu_decode_ex(data, len, SIZE_MAX, NULL, mac, require, false, NULL);
}

/* ---- failing allocator -------------------------------------------------------- */

typedef struct tu_failmem {
    int fail_at; /* index of the allocation that fails; later ones succeed */
    int count;
    long live;
} tu_failmem;

static TU_UNUSED void *tu_fm_alloc(void *opaque, size_t n)
{
    tu_failmem *f = opaque;
    if (f->count++ == f->fail_at)
        return NULL;
    void *p = malloc(n);
    if (p)
        f->live++;
    return p;
}

static TU_UNUSED void tu_fm_free(void *opaque, void *p)
{
    tu_failmem *f = opaque;
    if (p) {
        f->live--;
        free(p);
    }
}

static TU_UNUSED vms_allocator tu_failmem_allocator(tu_failmem *f)
{
    vms_allocator a = {tu_fm_alloc, tu_fm_free, f};
    return a;
}

#endif
