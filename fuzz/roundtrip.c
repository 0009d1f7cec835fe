/* roundtrip.c - random state and random encoder options: encode, then decode
 * in random chunks; every record must come back exactly, in order, and the
 * stream must commit.  Encoding with 1 and with several threads must give
 * identical bytes (the stream id is fixed; signatures are deterministic).
 *
 * Input: a 12-byte option block, then a list of writes.
 *   byte 0     codec (% 3); bit 2: page elision off; bits 3-4: auth
 *              (0 none, 1 MAC, 2 Ed25519, 3 none); bit 5: the encoding
 *              with threads lays its records out in lent memory
 *              (vms_encoder_set_output_buffer), declining lend k when
 *              (k + byte 5) % 4 == 0; bit 6: it gathers small writes
 *              (vms_encoder_set_gather), each write made from a scratch
 *              copy that is overwritten when the write returns, with a
 *              vms_encoder_flush after write i when (i + byte 5) % 5 == 0
 *   bytes 1-3  record size: 1 + le24 % (byte 3 bit 7 ? 65536 : 9000)
 *   byte 4     compression level (% 10); the stream is encoded twice, with 1
 *              and with 1 + (byte 4 >> 4) % 4 threads: the bytes must match
 *   bytes 5-6  checkpoint interval: 1024 + le16 * 4
 *   byte 7     device-version blob length (% 64), blob bytes from the PRNG;
 *              bit 6: carry fixed descriptor 0 instead (vms_encoder_set_
 *              descriptor), bit 7: and decode against target descriptor 0
 *   bytes 8-11 PRNG seed (state bytes, chunk sizes)
 * Each write is 6 bytes: section (1), phase step (1), length (le16, up to
 * 16 KiB * the multiplier in bits 6-7 of the section byte), and a pattern
 * (1) and an offset step (1).  At most 64 writes and 256 KiB of state. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define OPT 12
#define MAX_WRITES 64
#define MAX_STATE (256u << 10)

typedef struct wr {
    uint32_t section, phase;
    uint64_t offset;
    const uint8_t *data;
    size_t len;
} wr;

typedef struct expect {
    const wr *w;
    size_t nw, wi, pos;
    size_t record_size;
    uint64_t records;
} expect;

static void check_record(void *ctx, const vms_record *r)
{
    expect *e = ctx;
    while (e->wi < e->nw && e->pos == e->w[e->wi].len) {
        e->wi++;
        e->pos = 0;
    }
    VF_CHECK(e->wi < e->nw, "record %llu delivered after all written state",
             (unsigned long long)r->index);
    const wr *w = &e->w[e->wi];
    size_t want = w->len - e->pos < e->record_size ? w->len - e->pos : e->record_size;
    VF_CHECK(r->section == w->section && r->phase == w->phase &&
                 r->offset == w->offset + e->pos && r->len == want,
             "record %llu is section %u phase %u offset %llu len %zu, expected %u %u %llu %zu",
             (unsigned long long)r->index, r->section, r->phase,
             (unsigned long long)r->offset, r->len, w->section, w->phase,
             (unsigned long long)(w->offset + e->pos), want);
    VF_CHECK(memcmp(r->data, w->data + e->pos, want) == 0,
             "record %llu data differs from what was written", (unsigned long long)r->index);
    e->pos += want;
    e->records++;
}

static void fill(uint8_t *p, size_t n, unsigned pattern, uint64_t *rng)
{
    switch (pattern % 6) {
    case 0: /* random */
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)vf_rand(rng);
        break;
    case 1: /* zero */
        memset(p, 0, n);
        break;
    case 2: /* one repeated byte */
        memset(p, (int)(pattern >> 3), n);
        break;
    case 3: /* pages alternating uniform / random */
        for (size_t i = 0; i < n; i++)
            p[i] = (i / VMS_PAGE) % 2 ? (uint8_t)(pattern >> 3) : (uint8_t)vf_rand(rng);
        break;
    case 4: /* compressible text */
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)("register file 0123 "[i % 19]);
        break;
    default: /* mostly uniform pages with one odd byte */
        memset(p, 0, n);
        for (size_t i = 0; i < n; i += VMS_PAGE + (pattern >> 3))
            p[i] = (uint8_t)vf_rand(rng);
        break;
    }
}

/* Output-buffer mode: lends the membuf's free space (grown to max_len) and
 * checks the contract: the commit is the next sink call, with the lent
 * pointer and at most max_len bytes. */
typedef struct lender {
    vms_membuf *mb;
    uint8_t *lent;
    size_t lent_max, lends;
    unsigned decline;
} lender;

static void *lend(void *ctx, size_t max_len)
{
    lender *l = ctx;
    VF_CHECK(l->lent == NULL, "a second lend before the commit");
    if ((++l->lends + l->decline) % 4 == 0 || max_len > (64u << 20))
        return NULL;
    vms_membuf *mb = l->mb;
    if (mb->cap - mb->len < max_len) {
        uint8_t *p = realloc(mb->data, mb->len + max_len);
        if (!p)
            return NULL;
        mb->data = p;
        mb->cap = mb->len + max_len;
    }
    l->lent = mb->data + mb->len;
    l->lent_max = max_len;
    memset(l->lent, 0xCC, max_len);
    return l->lent;
}

static int lend_sink(void *ctx, const void *buf, size_t len)
{
    lender *l = ctx;
    if (!l->lent)
        return vms_sink_membuf(l->mb, buf, len);
    VF_CHECK(buf == l->lent && len <= l->lent_max,
             "the sink call after a lend of %zu bytes is not its commit (%zu bytes)",
             l->lent_max, len);
    l->lent = NULL;
    l->mb->len += len;
    return 0;
}

static size_t encode(const uint8_t *opt, const wr *w, size_t nw, size_t total,
                     const uint8_t *blob, size_t blob_len, unsigned threads, vms_membuf *mb,
                     bool lent, bool gather)
{
    vms_encoder *e = NULL;
    lender l = {mb, NULL, 0, 0, opt[5]};
    VF_CHECK(vms_encoder_new(&e, lent ? lend_sink : vms_sink_membuf, lent ? (void *)&l : mb,
                             NULL) == VMS_OK,
             "encoder_new");
    if (lent)
        VF_CHECK(vms_encoder_set_output_buffer(e, lend, &l) == VMS_OK, "output buffer");
    size_t rs = 1 + (size_t)((opt[1] | (uint32_t)opt[2] << 8 | (uint32_t)(opt[3] & 0x7f) << 16) %
                             (opt[3] & 0x80 ? 65536u : 9000u));
    if (total / rs > 2048) /* at most ~2048 records: keep each run fast */
        rs = total / 2048 + 1;
    VF_CHECK(vms_encoder_set_stream_id(e, vf_stream_id) == VMS_OK, "sid");
    VF_CHECK(vms_encoder_set_vendor(e, VMS_VENDOR_PCI(0x10de)) == VMS_OK, "vendor");
    VF_CHECK(vms_encoder_set_record_size(e, rs) == VMS_OK, "record size %zu", rs);
#ifdef VMSFUZZ_AVOID_SIGNED_SMALL_RECORDS
    /* see common.c: signed streams need records of at least 120 bytes */
    if (((opt[0] >> 3) & 3) == 2 && rs < VMS_END_PAYLOAD_SIGNED) {
        rs = VMS_END_PAYLOAD_SIGNED;
        VF_CHECK(vms_encoder_set_record_size(e, rs) == VMS_OK, "record size %zu", rs);
    }
#endif
    vms_codec codec = (vms_codec)(opt[0] % 3);
    int rc = vms_encoder_set_compression(e, codec, opt[4] % 10);
    VF_CHECK(rc == VMS_OK || (codec == VMS_CODEC_ZSTD && rc == VMS_E_UNSUPPORTED), "codec");
    VF_CHECK(vms_encoder_set_page_elision(e, !((opt[0] >> 2) & 1)) == VMS_OK, "elision");
    VF_CHECK(vms_encoder_set_threads(e, threads) == VMS_OK, "threads %u", threads);
    if (opt[7] & 0x40)
        VF_CHECK(vms_encoder_set_descriptor(e, vf_fixed_descriptor(0)) == VMS_OK, "descriptor");
    else if (blob_len)
        VF_CHECK(vms_encoder_set_version_blob(e, blob, blob_len) == VMS_OK, "blob");
    unsigned auth = (opt[0] >> 3) & 3;
    if (auth == 1) {
        uint8_t id[VMS_KEY_ID_BYTES];
        vf_mac_key_id(id);
        VF_CHECK(vms_encoder_set_mac_key(e, vf_mac_key, sizeof vf_mac_key, id) == VMS_OK, "mac");
    } else if (auth == 2) {
        rc = vms_encoder_set_ed25519_key(e, vf_ed_priv);
        VF_CHECK(rc == VMS_OK || rc == VMS_E_UNSUPPORTED, "ed25519 key: %d", rc);
        size_t iv = 1024 + 4 * (size_t)(opt[5] | opt[6] << 8);
        VF_CHECK(vms_encoder_set_checkpoint_interval(e, iv) == VMS_OK, "interval");
    }
    VF_CHECK(vms_encoder_set_gather(e, gather) == VMS_OK, "gather");
    uint8_t *scratch = gather ? malloc(total ? total : 1) : NULL;
    VF_CHECK(!gather || scratch, "malloc");
    for (size_t i = 0; i < nw; i++) {
        const uint8_t *src = w[i].data;
        if (gather) { /* a held record must have been copied */
            memcpy(scratch, w[i].data, w[i].len);
            src = scratch;
        }
        rc = vms_encoder_write(e, w[i].section, w[i].offset, w[i].phase, src, w[i].len);
        VF_CHECK(rc == VMS_OK, "write %zu failed: %d (%s)", i, rc, vms_encoder_error(e)->message);
        if (gather) {
            memset(scratch, 0x5A, w[i].len);
            if ((i + opt[5]) % 5 == 0) {
                rc = vms_encoder_flush(e);
                VF_CHECK(rc == VMS_OK, "flush after write %zu failed: %d", i, rc);
                VF_CHECK(vms_encoder_offset(e) == mb->len, "flush left bytes unsent");
            }
        }
    }
    free(scratch);
    rc = vms_encoder_finish(e);
    VF_CHECK(rc == VMS_OK, "finish failed: %d (%s)", rc, vms_encoder_error(e)->message);
    VF_CHECK(vms_encoder_offset(e) == mb->len, "encoder offset %llu, %zu bytes written",
             (unsigned long long)vms_encoder_offset(e), mb->len);
    VF_CHECK(vms_encoder_finish(e) == VMS_E_STATE, "second finish");
    /* vms_encoder_get_stats(): every written byte went out in a record,
     * and the encoder copied state only where its settings allow it */
    const vms_encoder_stats *st = vms_encoder_get_stats(e);
    VF_CHECK(st->state_bytes == total, "stats: %llu state bytes of %zu written",
             (unsigned long long)st->state_bytes, total);
    VF_CHECK(st->payload_bytes <= st->state_bytes && st->sets <= st->hash_calls &&
                 st->hash_calls <= st->records && st->spread_sets <= st->sets,
             "stats: %llu payload bytes, %llu records, %llu sets, %llu hash calls",
             (unsigned long long)st->payload_bytes, (unsigned long long)st->records,
             (unsigned long long)st->sets, (unsigned long long)st->hash_calls);
    VF_CHECK(st->lent_bytes <= (lent ? st->payload_bytes : 0) &&
                 st->gathered_bytes <= (gather ? st->state_bytes : 0) &&
                 st->packed_bytes <= (codec != VMS_CODEC_NONE ? st->state_bytes : 0),
             "stats: %llu lent, %llu gathered, %llu packed bytes",
             (unsigned long long)st->lent_bytes, (unsigned long long)st->gathered_bytes,
             (unsigned long long)st->packed_bytes);
    vms_encoder_free(e);
    return rs;
}

int vmsfuzz_roundtrip(const uint8_t *data, size_t size)
{
    if (size < OPT)
        return 0;
    const uint8_t *opt = data;
    uint64_t rng = vms_le32(opt + 8);
    uint8_t blob[64];
    size_t blob_len = opt[7] % 64;
    for (size_t i = 0; i < blob_len; i++)
        blob[i] = (uint8_t)vf_rand(&rng);

    /* writes */
    wr w[MAX_WRITES];
    size_t nw = 0, total = 0;
    uint8_t *state = malloc(MAX_STATE);
    VF_CHECK(state != NULL, "malloc");
    uint32_t phase = 0;
    uint64_t next_off[4] = {0, 0, 0, 0};
    for (size_t p = OPT; p + 6 <= size && nw < MAX_WRITES; p += 6) {
        const uint8_t *op = data + p;
        size_t len = (size_t)(op[2] | op[3] << 8) % 16384u * (1u + (op[0] >> 6));
        if (len > MAX_STATE - total)
            len = MAX_STATE - total;
        uint32_t step = op[1];
        if (step >= 0xf0)
            phase = VMS_PHASE_STOP_COPY;
        else if (phase != VMS_PHASE_STOP_COPY)
            phase += step % 3 == 0 ? 1u : 0u;
        unsigned sec = op[0] & 3;
        uint64_t off;
        switch (op[5] % 4) {
        case 0: /* contiguous */
            off = next_off[sec];
            break;
        case 1: /* gap */
            off = next_off[sec] + op[5];
            break;
        case 2: /* rewrite from 0 */
            off = 0;
            break;
        default: /* near the top of the offset space */
            off = UINT64_MAX - len - op[5];
            break;
        }
        if (off > UINT64_MAX - len) /* offset + length must not overflow */
            off = UINT64_MAX - len;
        fill(state + total, len, op[4], &rng);
        w[nw] = (wr){sec == 3 ? 0xfffffffeu : sec, phase, off, state + total, len};
        next_off[sec] = off + len;
        total += len;
        nw++;
    }

    vms_membuf mb = {0}, mb2 = {0};
    unsigned threads = 1 + (opt[4] >> 4) % 4;
    const bool lent = (opt[0] >> 5) & 1;
    const bool gather = (opt[0] >> 6) & 1;
    size_t rs = encode(opt, w, nw, total, blob, blob_len, 1, &mb, false, false);
    size_t rs2 = encode(opt, w, nw, total, blob, blob_len, threads, &mb2, lent, gather);
    VF_CHECK(rs == rs2 && mb.len == mb2.len && memcmp(mb.data, mb2.data, mb.len) == 0,
             "encoding with 1 and %u threads%s%s differs (%zu vs %zu bytes)", threads,
             lent ? " in lent memory" : "", gather ? ", gathering" : "", mb.len, mb2.len);
    vms_membuf_release(&mb2);

    expect ex = {w, nw, 0, 0, rs, 0};
    vf_decode_cfg cfg;
    vf_decode_cfg_default(&cfg);
    unsigned auth = (opt[0] >> 3) & 3;
    cfg.mac_key = true;
    cfg.ed_key = true;
    cfg.require_auth = auth == 3 ? 0 : (uint8_t)auth;
    cfg.lim[VMS_LIMIT_BUFFERED] = 16u << 20;
    cfg.split_seed = vf_rand(&rng);
    cfg.split_max = 1u << (vf_below(&rng, 16));
    cfg.page_runs = (cfg.split_seed >> 63) & 1; /* check_record sees them assembled */
    cfg.check_record = check_record;
    cfg.target = (opt[7] & 0xc0) == 0xc0 ? 1 : 0;
    cfg.check_ctx = &ex;
    vf_decode_result res;
    vf_decode(mb.data, mb.len, &cfg, &res);
    uint8_t pub[VMS_ED25519_KEY_BYTES];
    if (auth == 2 && !vf_ed_pub(pub)) { /* built without OpenSSL */
        vms_membuf_release(&mb);
        free(state);
        return 0;
    }
    VF_CHECK(res.rc == VMS_END && res.committed, "a genuine stream was rejected: %d (%s: %s)",
             res.rc, vms_strerror(res.rc), res.err_msg);
    while (ex.wi < ex.nw && ex.pos == ex.w[ex.wi].len) {
        ex.wi++;
        ex.pos = 0;
    }
    VF_CHECK(ex.wi == ex.nw, "state of write %zu/%zu was not delivered", ex.wi, ex.nw);
    VF_CHECK(res.raw_bytes == total, "%llu bytes delivered, %zu written",
             (unsigned long long)res.raw_bytes, total);
    vms_membuf_release(&mb);
    free(state);
    return 0;
}

#ifdef VMSFUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_roundtrip(data, size);
}
#endif
