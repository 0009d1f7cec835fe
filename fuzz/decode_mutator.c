/* decode_mutator.c - the production decoder (no checksum bypass) fuzzed
 * through a structure-aware mutator.
 *
 * The input is a whole stream.  LLVMFuzzerCustomMutator parses it into the
 * header and a list of records, applies one to four record-level mutations
 * (fields, lengths, flags, types, phases, sequence numbers, sections and
 * offsets, compressed payloads re-compressed after mutation, page maps,
 * END and checkpoint fields, the device-version blob as a descriptor,
 * dropping / duplicating / swapping / inserting records, truncation,
 * trailing bytes), then writes it back and recomputes what a genuine
 * encoder would have: sequence numbers, totals, the header checksum (or
 * MAC), every record checksum (or MAC), the chain digests of checkpoints
 * and END, and the Ed25519 signatures (with the harness's fixed key).
 * Each fix-up is skipped now and then so that the check behind it is
 * fuzzed as well.  The production verifier therefore passes and the
 * decoder's decompression, sequencing, phase, page-map and END logic is
 * reached.
 *
 * The harness decodes every input twice, whole with one thread and in
 * random chunks with 1-4 threads (half the time with page-mapped records
 * in runs), checks the decoder contract (vf_decode) and that both runs
 * agree: records, their bytes, error code, record and offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef VMSFUZZ_HAVE_ZSTD
#include <zstd.h>
#endif

#include "fuzz.h"

/* ---- the harness ------------------------------------------------------------ */

static void compare(const vf_decode_result *a, const vf_decode_result *b)
{
    VF_CHECK(a->rc == b->rc && a->err_code == b->err_code && a->err_record == b->err_record &&
                 a->err_offset == b->err_offset && a->delivered == b->delivered &&
                 a->raw_bytes == b->raw_bytes && a->committed == b->committed &&
                 a->content == b->content,
             "the result depends on how the input is split: whole %d (%s) record %llu "
             "offset %llu, %llu records; split %d (%s) record %llu offset %llu, %llu records",
             a->rc, vms_strerror(a->rc), (unsigned long long)a->err_record,
             (unsigned long long)a->err_offset, (unsigned long long)a->delivered, b->rc,
             vms_strerror(b->rc), (unsigned long long)b->err_record,
             (unsigned long long)b->err_offset, (unsigned long long)b->delivered);
}

int vmsfuzz_decode_mutator(const uint8_t *data, size_t size)
{
    vf_decode_cfg cfg;
    vf_decode_cfg_default(&cfg);
    cfg.mac_key = true;
    cfg.ed_key = true;
    cfg.lim[VMS_LIMIT_BUFFERED] = 4u << 20;
    /* a stream declaring a descriptor is checked against a target */
    if (size >= VMS_H_FIXED && (vms_le32(data + VMS_H_FEAT_OPT) & VMS_FEAT_DESCRIPTOR))
        cfg.target = 1;
    vf_decode_result whole, split;
    vf_decode(data, size, &cfg, &whole);
    cfg.split_seed = vf_hash(data, size);
    cfg.split_max = 1u + (unsigned)(cfg.split_seed >> 40) % 2048u;
    cfg.threads = 1 + (unsigned)(cfg.split_seed >> 20) % 4;
    /* half the split runs take page-mapped records in runs: the same
     * bytes, errors and offsets as expanded (content compared) */
    cfg.page_runs = (cfg.split_seed >> 30) & 1;
    vf_decode(data, size, &cfg, &split);
    compare(&whole, &split);
    return 0;
}

/* ---- stream model ------------------------------------------------------------- */

#define MAX_RECORDS 2048
#define MAX_RAW (1u << 20) /* largest record the mutator rebuilds */

typedef struct mrec {
    uint8_t h[VMS_R_HDR];
    uint8_t *p; /* payload, n bytes, without padding */
    size_t n;
} mrec;

typedef struct fixes {
    bool seq, lens, totals, chain, csum, hcsum, sig;
} fixes;

typedef struct mstream {
    uint8_t *hdr;
    size_t hlen;
    mrec *r;
    size_t nr, cap;
    uint8_t *tail; /* bytes after the records (truncated record, trailing data) */
    size_t ntail;
    uint64_t rng;
    vf_byte_mutator bm;
    fixes fix;
} mstream;

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    VF_CHECK(p != NULL, "out of memory (%zu)", n);
    return p;
}

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
    uint8_t *q = xmalloc(n);
    if (n)
        memcpy(q, p, n);
    return q;
}

static void ms_free(mstream *m)
{
    for (size_t i = 0; i < m->nr; i++)
        free(m->r[i].p);
    free(m->r);
    free(m->hdr);
    free(m->tail);
    memset(m, 0, sizeof *m);
}

static mrec *ms_insert(mstream *m, size_t at)
{
    if (m->nr == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        mrec *r = realloc(m->r, nc * sizeof *r);
        VF_CHECK(r != NULL, "realloc");
        m->r = r;
        m->cap = nc;
    }
    memmove(m->r + at + 1, m->r + at, (m->nr - at) * sizeof *m->r);
    m->nr++;
    memset(&m->r[at], 0, sizeof m->r[at]);
    return &m->r[at];
}

static void ms_remove(mstream *m, size_t at)
{
    free(m->r[at].p);
    memmove(m->r + at, m->r + at + 1, (m->nr - at - 1) * sizeof *m->r);
    m->nr--;
}

static bool ms_parse(mstream *m, const uint8_t *d, size_t n)
{
    memset(m, 0, sizeof *m);
    if (n < VMS_HEADER_MIN || memcmp(d, VMS_MAGIC, VMS_MAGIC_LEN) != 0)
        return false;
    size_t hl = vms_le32(d + VMS_H_LENGTH);
    if (hl < VMS_HEADER_MIN || hl > n)
        return false;
    m->hdr = dup_bytes(d, hl);
    m->hlen = hl;
    size_t off = hl;
    while (off + VMS_R_HDR <= n && m->nr < MAX_RECORDS) {
        uint32_t wl = vms_le32(d + off + VMS_R_WIRE_LEN);
        if ((uint64_t)off + VMS_R_HDR + vms_pad8(wl) > n)
            break;
        mrec *r = ms_insert(m, m->nr);
        memcpy(r->h, d + off, VMS_R_HDR);
        r->p = dup_bytes(d + off + VMS_R_HDR, wl);
        r->n = wl;
        off += VMS_R_HDR + (size_t)vms_pad8(wl);
        if (vms_le16(r->h + VMS_R_TYPE) == VMS_REC_END)
            break;
    }
    m->tail = dup_bytes(d + off, n - off);
    m->ntail = n - off;
    return true;
}

static size_t ms_size(const mstream *m)
{
    size_t n = m->hlen + m->ntail;
    for (size_t i = 0; i < m->nr; i++)
        n += VMS_R_HDR + (size_t)vms_pad8(m->r[i].n);
    return n;
}

/* ---- header accessors ------------------------------------------------------- */

static uint8_t h_auth(const mstream *m) { return m->hdr[VMS_H_AUTH]; }
static uint8_t h_codec(const mstream *m) { return m->hdr[VMS_H_CODEC]; }
static uint32_t h_max_record(const mstream *m) { return vms_le32(m->hdr + VMS_H_MAX_RECORD); }

static uint32_t h_blob_len(const mstream *m)
{
    uint32_t bl = vms_le32(m->hdr + VMS_H_BLOB_LEN);
    size_t room = m->hlen - VMS_HEADER_MIN;
    return bl <= room ? bl : (uint32_t)room;
}

/* Rebuilds the header from its fixed part, blob and extension length. */
static void set_header(mstream *m, const uint8_t fixed[VMS_H_FIXED], const uint8_t *blob,
                       size_t blob_len, size_t ext)
{
    size_t hl = VMS_H_FIXED + (size_t)vms_pad8(blob_len) + ext + VMS_DIGEST_BYTES;
    uint8_t *h = xmalloc(hl);
    memset(h, 0, hl);
    memcpy(h, fixed, VMS_H_FIXED);
    if (blob_len)
        memcpy(h + VMS_H_FIXED, blob, blob_len);
    vms_put32(h + VMS_H_BLOB_LEN, (uint32_t)blob_len);
    vms_put32(h + VMS_H_LENGTH, (uint32_t)hl);
    free(m->hdr);
    m->hdr = h;
    m->hlen = hl;
}

static size_t h_ext(const mstream *m)
{
    size_t used = VMS_H_FIXED + (size_t)vms_pad8(h_blob_len(m)) + VMS_DIGEST_BYTES;
    return m->hlen > used ? m->hlen - used : 0;
}

/* ---- codecs (used directly, not through the library) ------------------------- */

static uint8_t *c_compress(int codec, const uint8_t *in, size_t n, int level, size_t *out_n)
{
    if (codec == VMS_CODEC_ZLIB) {
        uLongf cap = compressBound((uLong)n);
        uint8_t *o = xmalloc(cap);
        if (compress2(o, &cap, in, (uLong)n, level < 1 || level > 9 ? 6 : level) != Z_OK) {
            free(o);
            return NULL;
        }
        *out_n = cap;
        return o;
    }
#ifdef VMSFUZZ_HAVE_ZSTD
    if (codec == VMS_CODEC_ZSTD) {
        size_t cap = ZSTD_compressBound(n);
        uint8_t *o = xmalloc(cap);
        size_t r = ZSTD_compress(o, cap, in, n, level < 1 || level > 19 ? 3 : level);
        if (ZSTD_isError(r)) {
            free(o);
            return NULL;
        }
        *out_n = r;
        return o;
    }
#endif
    return NULL;
}

/* Exact decompression to raw_n bytes, or NULL. */
static uint8_t *c_decompress(int codec, const uint8_t *in, size_t n, size_t raw_n)
{
    if (raw_n == 0 || raw_n > MAX_RAW)
        return NULL;
    uint8_t *o = xmalloc(raw_n);
    if (codec == VMS_CODEC_ZLIB) {
        uLongf dl = raw_n;
        if (uncompress(o, &dl, in, (uLong)n) == Z_OK && dl == raw_n)
            return o;
    }
#ifdef VMSFUZZ_HAVE_ZSTD
    if (codec == VMS_CODEC_ZSTD) {
        size_t r = ZSTD_decompress(o, raw_n, in, n);
        if (!ZSTD_isError(r) && r == raw_n)
            return o;
    }
#endif
    free(o);
    return NULL;
}

/* ---- page maps ------------------------------------------------------------------ */

static bool uniform(const uint8_t *p, size_t n)
{
    return n <= 1 || memcmp(p, p + 1, n - 1) == 0;
}

/* Page-maps raw (n bytes).  Returns the payload or NULL when no page is
 * uniform.  *compressed: in = try to compress the literals, out = did. */
static uint8_t *pm_encode(const uint8_t *raw, size_t n, int codec, int level, bool *compressed,
                          size_t *out_n)
{
    size_t pages = (n + VMS_PAGE - 1) / VMS_PAGE, mb = (size_t)vms_pad8((pages + 7) / 8);
    size_t count = 0, lit = 0;
    for (size_t i = 0; i < pages; i++) {
        size_t len = i + 1 < pages ? VMS_PAGE : n - i * VMS_PAGE;
        if (uniform(raw + i * VMS_PAGE, len))
            count++;
        else
            lit += len;
    }
    if (count == 0)
        return NULL;
    size_t fb = (size_t)vms_pad8(count);
    uint8_t *litbuf = xmalloc(lit);
    uint8_t *head = xmalloc(mb + fb);
    memset(head, 0, mb + fb);
    size_t f = 0, l = 0;
    for (size_t i = 0; i < pages; i++) {
        const uint8_t *pg = raw + i * VMS_PAGE;
        size_t len = i + 1 < pages ? VMS_PAGE : n - i * VMS_PAGE;
        if (uniform(pg, len)) {
            head[i / 8] |= (uint8_t)(1u << (i % 8));
            head[mb + f++] = pg[0];
        } else {
            memcpy(litbuf + l, pg, len);
            l += len;
        }
    }
    const uint8_t *body = litbuf;
    size_t blen = lit;
    uint8_t *cbuf = NULL;
    if (*compressed && lit >= 2) {
        size_t cn;
        cbuf = c_compress(codec, litbuf, lit, level, &cn);
        if (cbuf && cn < lit) {
            body = cbuf;
            blen = cn;
        } else {
            *compressed = false;
        }
    } else {
        *compressed = false;
    }
    uint8_t *out = xmalloc(mb + fb + blen);
    memcpy(out, head, mb + fb);
    if (blen)
        memcpy(out + mb + fb, body, blen);
    *out_n = mb + fb + blen;
    free(cbuf);
    free(head);
    free(litbuf);
    return out;
}

/* Expands a page-mapped payload to raw_n bytes, or NULL if inconsistent. */
static uint8_t *pm_decode(const uint8_t *p, size_t n, size_t raw_n, int codec, bool compressed)
{
    if (raw_n == 0 || raw_n > MAX_RAW)
        return NULL;
    size_t pages = (raw_n + VMS_PAGE - 1) / VMS_PAGE, mb = (size_t)vms_pad8((pages + 7) / 8);
    if (n < mb)
        return NULL;
    size_t count = 0, uni = 0;
    for (size_t i = 0; i < pages; i++)
        if ((p[i / 8] >> (i % 8)) & 1) {
            count++;
            uni += i + 1 < pages ? VMS_PAGE : raw_n - i * VMS_PAGE;
        }
    size_t fb = (size_t)vms_pad8(count);
    if (count == 0 || n - mb < fb)
        return NULL;
    size_t lit = raw_n - uni, rest = n - mb - fb;
    uint8_t *litbuf = NULL;
    const uint8_t *src = p + mb + fb;
    if (compressed) {
        if (lit == 0 || !(litbuf = c_decompress(codec, src, rest, lit)))
            return NULL;
        src = litbuf;
    } else if (rest != lit) {
        return NULL;
    }
    uint8_t *out = xmalloc(raw_n);
    size_t f = 0;
    for (size_t i = 0; i < pages; i++) {
        size_t len = i + 1 < pages ? VMS_PAGE : raw_n - i * VMS_PAGE;
        if ((p[i / 8] >> (i % 8)) & 1) {
            memset(out + i * VMS_PAGE, p[mb + f++], len);
        } else {
            memcpy(out + i * VMS_PAGE, src, len);
            src += len;
        }
    }
    free(litbuf);
    return out;
}

/* The raw state of a STATE record, or NULL if it cannot be recovered. */
static uint8_t *rec_raw(const mstream *m, const mrec *r, size_t *raw_n)
{
    uint16_t fl = vms_le16(r->h + VMS_R_FLAGS);
    size_t rl = vms_le32(r->h + VMS_R_RAW_LEN);
    *raw_n = rl;
    if (fl & VMS_RF_PAGEMAP)
        return pm_decode(r->p, r->n, rl, h_codec(m), (fl & VMS_RF_COMPRESSED) != 0);
    if (fl & VMS_RF_COMPRESSED)
        return c_decompress(h_codec(m), r->p, r->n, rl);
    *raw_n = r->n;
    return dup_bytes(r->p, r->n);
}

/* Stores raw (n bytes) into a STATE record as the encoder would, choosing
 * page map / compression by mode: 0 plain, 1 compressed, 2 page map, 3 page
 * map + compressed (each falls back to what fits). */
static void rec_store(mstream *m, mrec *r, const uint8_t *raw, size_t n, unsigned mode,
                      int level)
{
    uint16_t fl = vms_le16(r->h + VMS_R_FLAGS) & (uint16_t)~(VMS_RF_COMPRESSED | VMS_RF_PAGEMAP);
    uint8_t *p = NULL;
    size_t pn = 0;
    int codec = h_codec(m);
    if (mode >= 2) {
        bool comp = mode == 3 && codec != VMS_CODEC_NONE;
        p = pm_encode(raw, n, codec, level, &comp, &pn);
        if (p && pn < n) {
            fl |= VMS_RF_PAGEMAP | (comp ? VMS_RF_COMPRESSED : 0);
        } else {
            free(p);
            p = NULL;
            mode = 1;
        }
    }
    if (!p && mode == 1 && codec != VMS_CODEC_NONE && n >= 2) {
        p = c_compress(codec, raw, n, level, &pn);
        if (p && pn < n) {
            fl |= VMS_RF_COMPRESSED;
        } else {
            free(p);
            p = NULL;
        }
    }
    if (!p) {
        p = dup_bytes(raw, n);
        pn = n;
    }
    free(r->p);
    r->p = p;
    r->n = pn;
    vms_put16(r->h + VMS_R_FLAGS, fl);
    vms_put32(r->h + VMS_R_WIRE_LEN, (uint32_t)pn);
    vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)n);
}

/* ---- restamping ------------------------------------------------------------------- */

static void restamp(mstream *m)
{
    const fixes *fx = &m->fix;
    const bool mac = h_auth(m) == VMS_AUTH_MAC;
    const uint8_t *key = mac ? vf_mac_key : NULL;
    const size_t keylen = mac ? sizeof vf_mac_key : 0;
    uint8_t hd[VMS_DIGEST_BYTES], chain[VMS_DIGEST_BYTES], prefix[VMS_PREFIX_BYTES];
    if (fx->hcsum)
        vms_digest_header(m->hdr + m->hlen - VMS_DIGEST_BYTES, m->hdr,
                          m->hlen - VMS_DIGEST_BYTES, key, keylen);
    memcpy(hd, m->hdr + m->hlen - VMS_DIGEST_BYTES, sizeof hd);
    memcpy(chain, hd, sizeof chain);
    vms_header_info hi;
    memset(&hi, 0, sizeof hi);
    memcpy(hi.header_digest, hd, sizeof hd);
    memcpy(hi.key_id, m->hdr + VMS_H_KEY_ID, VMS_KEY_ID_BYTES);
    uint64_t off = m->hlen, raw_total = 0;
    for (size_t i = 0; i < m->nr; i++) {
        mrec *r = &m->r[i];
        const uint16_t type = vms_le16(r->h + VMS_R_TYPE);
        const uint16_t fl = vms_le16(r->h + VMS_R_FLAGS);
        if (fx->seq)
            vms_put64(r->h + VMS_R_SEQ, i);
        if (fx->lens) {
            vms_put32(r->h + VMS_R_WIRE_LEN, (uint32_t)r->n);
            if (!(fl & (VMS_RF_COMPRESSED | VMS_RF_PAGEMAP)))
                vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)r->n);
        }
        const uint64_t seq = vms_le64(r->h + VMS_R_SEQ);
        if (type == VMS_REC_END && r->n >= VMS_END_PAYLOAD) {
            if (fx->totals) {
                vms_put64(r->p + VMS_E_RECORDS, seq);
                vms_put64(r->p + VMS_E_RAW_BYTES, raw_total);
                vms_put64(r->p + VMS_E_STREAM_BYTES, off);
            }
            if (fx->chain)
                memcpy(r->p + VMS_E_CHAIN, chain, sizeof chain);
            if (fx->sig && r->n >= VMS_END_PAYLOAD_SIGNED) {
                uint8_t msg[VMS_SIG_MSG_BYTES];
                vms_sig_message(msg, VMS_SIG_KIND_END, &hi, seq, seq, raw_total, off, chain);
                (void)vms_ed25519_sign_raw(vf_ed_priv, msg, sizeof msg,
                                           r->p + VMS_E_SIGNATURE);
            }
        }
        if (type == VMS_REC_CHECKPOINT && r->n >= VMS_C_CHAIN + VMS_DIGEST_BYTES) {
            if (fx->totals) {
                vms_put64(r->p + VMS_C_RECORDS, seq);
                vms_put64(r->p + VMS_C_RAW_BYTES, raw_total);
            }
            if (fx->chain)
                memcpy(r->p + VMS_C_CHAIN, chain, sizeof chain);
            if (fx->sig && r->n >= VMS_CHECKPOINT_PAYLOAD) {
                uint8_t msg[VMS_SIG_MSG_BYTES];
                vms_sig_message(msg, VMS_SIG_KIND_CHECKPOINT, &hi, seq, seq, raw_total, off,
                                chain);
                (void)vms_ed25519_sign_raw(vf_ed_priv, msg, sizeof msg,
                                           r->p + VMS_C_SIGNATURE);
            }
        }
        if (fx->csum) {
            vms_make_prefix(prefix, m->hdr + VMS_H_STREAM_ID, hd, r->h);
            vms_digest_record(r->h + VMS_R_CHECKSUM, prefix, r->p, r->n, key, keylen);
        }
        if (type != VMS_REC_END)
            vms_chain_step(chain, r->h + VMS_R_CHECKSUM);
        if (type == VMS_REC_STATE)
            raw_total += vms_le32(r->h + VMS_R_RAW_LEN);
        off += VMS_R_HDR + vms_pad8(r->n);
    }
}

static size_t ms_write(const mstream *m, uint8_t *out, size_t max)
{
    size_t n = ms_size(m);
    if (n > max)
        return 0;
    uint8_t *p = out;
    memcpy(p, m->hdr, m->hlen);
    p += m->hlen;
    for (size_t i = 0; i < m->nr; i++) {
        memcpy(p, m->r[i].h, VMS_R_HDR);
        p += VMS_R_HDR;
        if (m->r[i].n)
            memcpy(p, m->r[i].p, m->r[i].n);
        size_t pad = (size_t)vms_pad8(m->r[i].n) - m->r[i].n;
        memset(p + m->r[i].n, 0, pad);
        p += m->r[i].n + pad;
    }
    if (m->ntail)
        memcpy(p, m->tail, m->ntail);
    return n;
}

/* ---- mutations ------------------------------------------------------------------------ */

static uint64_t R(mstream *m) { return vf_rand(&m->rng); }
static uint64_t B(mstream *m, uint64_t n) { return vf_below(&m->rng, n); }
static bool chance(mstream *m, unsigned one_in) { return B(m, one_in) == 0; }

static uint64_t interesting64(mstream *m, uint64_t cur)
{
    static const uint64_t v[] = {0,          1,          2,           7,
                                 8,          56,         72,          112,
                                 120,        4095,       4096,        4097,
                                 65535,      65536,      0x7fffffff,  0x80000000,
                                 0xffffffff, 0x100000000ull, 16u << 20, (64u << 20) + 1,
                                 UINT64_MAX, UINT64_MAX - 1, UINT64_MAX - 4095,
                                 (uint64_t)INT64_MAX};
    switch (B(m, 4)) {
    case 0:
        return v[B(m, sizeof v / sizeof v[0])];
    case 1:
        return cur + 1;
    case 2:
        return cur - 1;
    default:
        return cur ^ (1ull << B(m, 64));
    }
}

/* A record index, preferring type want (0 = any). */
static size_t pick(mstream *m, uint16_t want)
{
    if (m->nr == 0)
        return 0;
    size_t start = (size_t)B(m, m->nr);
    if (want)
        for (size_t k = 0; k < m->nr; k++) {
            size_t i = (start + k) % m->nr;
            if (vms_le16(m->r[i].h + VMS_R_TYPE) == want)
                return i;
        }
    return start;
}

static size_t end_index(const mstream *m)
{
    for (size_t i = 0; i < m->nr; i++)
        if (vms_le16(m->r[i].h + VMS_R_TYPE) == VMS_REC_END)
            return i;
    return m->nr;
}

static void payload_bytes(mstream *m, mrec *r, size_t extra)
{
    size_t cap = r->n + extra + 16;
    uint8_t *p = xmalloc(cap);
    if (r->n)
        memcpy(p, r->p, r->n);
    size_t n = m->bm(p, r->n, cap);
    free(r->p);
    r->p = p;
    r->n = n;
}

static void mut_payload(mstream *m)
{
    if (!m->nr)
        return;
    mrec *r = &m->r[pick(m, VMS_REC_STATE)];
    payload_bytes(m, r, chance(m, 4) ? 4096 : 64);
}

static void mut_record_field(mstream *m)
{
    if (!m->nr)
        return;
    mrec *r = &m->r[pick(m, 0)];
    uint8_t *h = r->h;
    switch (B(m, 11)) {
    case 0: {
        static const uint16_t types[] = {0, VMS_REC_STATE, VMS_REC_END, VMS_REC_CHECKPOINT,
                                          4, 0x7fff, 0x8000, 0xffff};
        vms_put16(h + VMS_R_TYPE, types[B(m, 8)]);
        break;
    }
    case 1:
        vms_put16(h + VMS_R_FLAGS, (uint16_t)(chance(m, 4) ? R(m) : B(m, 8)));
        break;
    case 2:
        vms_put16(h + VMS_R_FLAGS, vms_le16(h + VMS_R_FLAGS) ^ (uint16_t)(1u << B(m, 16)));
        break;
    case 3:
        vms_put32(h + VMS_R_SECTION, (uint32_t)interesting64(m, vms_le32(h + VMS_R_SECTION)));
        break;
    case 4:
        vms_put64(h + VMS_R_OFFSET, interesting64(m, vms_le64(h + VMS_R_OFFSET)));
        break;
    case 5: {
        static const uint32_t ph[] = {0, 1, 2, VMS_PHASE_MAX_PRECOPY, VMS_PHASE_STOP_COPY};
        vms_put32(h + VMS_R_PHASE,
                  chance(m, 2) ? ph[B(m, 5)] : (uint32_t)interesting64(m, vms_le32(h + VMS_R_PHASE)));
        break;
    }
    case 6:
        m->fix.seq = false;
        vms_put64(h + VMS_R_SEQ, interesting64(m, vms_le64(h + VMS_R_SEQ)));
        break;
    case 7:
        m->fix.lens = false;
        vms_put32(h + VMS_R_WIRE_LEN, (uint32_t)interesting64(m, vms_le32(h + VMS_R_WIRE_LEN)));
        break;
    case 8:
        m->fix.lens = false;
        vms_put32(h + VMS_R_RAW_LEN, (uint32_t)interesting64(m, vms_le32(h + VMS_R_RAW_LEN)));
        break;
    case 9:
        vms_put32(h + VMS_R_RAW_LEN, (uint32_t)interesting64(m, vms_le32(h + VMS_R_RAW_LEN)));
        break;
    default:
        vms_put32(h + VMS_R_RESERVED, (uint32_t)(1u << B(m, 32)));
        break;
    }
}

static void set_auth(mstream *m, uint8_t auth)
{
    m->hdr[VMS_H_AUTH] = auth;
    memset(m->hdr + VMS_H_KEY_ID, 0, VMS_KEY_ID_BYTES);
    if (auth == VMS_AUTH_MAC) {
        vf_mac_key_id(m->hdr + VMS_H_KEY_ID);
    } else if (auth == VMS_AUTH_ED25519) {
        uint8_t pub[VMS_ED25519_KEY_BYTES];
        if (vf_ed_pub(pub))
            vms_key_id(pub, sizeof pub, m->hdr + VMS_H_KEY_ID);
    }
    /* END payload length follows the mode; checkpoints only exist signed */
    size_t want = auth == VMS_AUTH_ED25519 ? VMS_END_PAYLOAD_SIGNED : VMS_END_PAYLOAD;
    for (size_t i = 0; i < m->nr; i++) {
        mrec *r = &m->r[i];
        if (vms_le16(r->h + VMS_R_TYPE) == VMS_REC_END && r->n != want) {
            uint8_t *p = xmalloc(want);
            memset(p, 0, want);
            memcpy(p, r->p, r->n < want ? r->n : want);
            free(r->p);
            r->p = p;
            r->n = want;
            vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)want);
        }
    }
    if (auth != VMS_AUTH_ED25519 && chance(m, 2))
        for (size_t i = m->nr; i-- > 0;)
            if (vms_le16(m->r[i].h + VMS_R_TYPE) == VMS_REC_CHECKPOINT)
                ms_remove(m, i);
}

static void mut_header_field(mstream *m)
{
    uint8_t *h = m->hdr;
    switch (B(m, 14)) {
    case 0:
        vms_put16(h + VMS_H_MAJOR, (uint16_t)(chance(m, 2) ? B(m, 3) : R(m)));
        break;
    case 1: { /* minor > 0 with an extension area */
        uint8_t fixed[VMS_H_FIXED];
        memcpy(fixed, h, VMS_H_FIXED);
        vms_put16(fixed + VMS_H_MINOR, (uint16_t)(chance(m, 2) ? 1 : R(m)));
        size_t ext = chance(m, 4) ? (size_t)B(m, 4200) : 8 * (size_t)B(m, 4);
        size_t bl = h_blob_len(m);
        uint8_t *blob = dup_bytes(h + VMS_H_FIXED, bl);
        set_header(m, fixed, blob, bl, ext);
        free(blob);
        if (ext && chance(m, 2))
            m->hdr[m->hlen - VMS_DIGEST_BYTES - 1 - B(m, ext)] = (uint8_t)R(m);
        break;
    }
    case 2:
        vms_put32(h + VMS_H_FEAT_REQ, vms_le32(h + VMS_H_FEAT_REQ) ^ (1u << B(m, chance(m, 2) ? 2 : 32)));
        break;
    case 3:
        vms_put32(h + VMS_H_FEAT_OPT, vms_le32(h + VMS_H_FEAT_OPT) ^ (1u << B(m, chance(m, 2) ? 1 : 32)));
        break;
    case 4:
        h[VMS_H_CSUM_ALG] = (uint8_t)B(m, 3);
        break;
    case 5:
        set_auth(m, (uint8_t)B(m, chance(m, 8) ? 256 : 3));
        break;
    case 6: { /* codec, with the matching feature flag most of the time */
        uint8_t codec = (uint8_t)B(m, chance(m, 8) ? 256 : 3);
        h[VMS_H_CODEC] = codec;
        uint32_t fr = vms_le32(h + VMS_H_FEAT_REQ) & ~VMS_FEAT_COMPRESSION;
        if (codec && !chance(m, 8))
            fr |= VMS_FEAT_COMPRESSION;
        vms_put32(h + VMS_H_FEAT_REQ, fr);
        break;
    }
    case 7:
        h[VMS_H_RESERVED] = (uint8_t)(1 + B(m, 255));
        break;
    case 8: {
        static const uint32_t v[] = {0, 1, 0x80000000u, 0x80001af4u, 0x8000ffffu, 0x80010000u,
                                     0xffffffffu, 0x7fffffffu};
        vms_put32(h + VMS_H_VENDOR, v[B(m, 8)]);
        break;
    }
    case 9:
        h[VMS_H_KEY_ID + B(m, VMS_KEY_ID_BYTES)] ^= (uint8_t)(1u << B(m, 8));
        break;
    case 10:
        vms_put32(h + VMS_H_MAX_RECORD, (uint32_t)interesting64(m, h_max_record(m)));
        break;
    case 11:
        vms_put32(h + VMS_H_BLOB_LEN, (uint32_t)interesting64(m, vms_le32(h + VMS_H_BLOB_LEN)));
        break;
    case 12:
        vms_put32(h + VMS_H_LENGTH, (uint32_t)interesting64(m, vms_le32(h + VMS_H_LENGTH)));
        break;
    default: /* padding after the blob */
        if (h_blob_len(m) % 8)
            h[VMS_H_FIXED + h_blob_len(m) + B(m, 8 - h_blob_len(m) % 8)] = (uint8_t)(1 + B(m, 255));
        break;
    }
}

static void mut_blob(mstream *m)
{
    size_t bl = h_blob_len(m), ext = h_ext(m);
    uint8_t fixed[VMS_H_FIXED];
    memcpy(fixed, m->hdr, VMS_H_FIXED);
    vms_descriptor *d = NULL;
    uint8_t *nb = NULL;
    size_t nn = 0;
    if (bl && vms_descriptor_decode(&d, m->hdr + VMS_H_FIXED, bl, NULL, NULL) == VMS_OK &&
        !chance(m, 4)) {
        char buf[32];
        switch (B(m, 6)) {
        case 0:
            (void)vms_descriptor_set_version(d, (uint32_t)B(m, 4), (uint32_t)B(m, 4),
                                             (uint32_t)R(m));
            break;
        case 1:
            (void)vms_descriptor_add_deny_version(d, (uint32_t)B(m, 4), (uint32_t)B(m, 4),
                                                  (uint32_t)B(m, 4));
            break;
        case 2:
            snprintf(buf, sizeof buf, "f%u", (unsigned)B(m, 40));
            (void)vms_descriptor_add_field(d, buf, chance(m, 2) ? "7" : "a+b",
                                           (vms_field_rule)B(m, 3));
            break;
        case 3:
            snprintf(buf, sizeof buf, "t-%u", (unsigned)B(m, 40));
            (void)vms_descriptor_add_accept_type(d, buf);
            break;
        case 4:
            (void)vms_descriptor_set_vendor_id(d, chance(m, 2) ? 0 : VMS_VENDOR_PCI(R(m)));
            break;
        default:
            snprintf(buf, sizeof buf, "type-%u", (unsigned)B(m, 9));
            (void)vms_descriptor_set_type(d, buf);
            break;
        }
        nb = xmalloc(VMS_DESC_MAX_BINARY);
        if (vms_descriptor_encode(d, nb, VMS_DESC_MAX_BINARY, &nn) != VMS_OK)
            nn = 0;
        vms_put32(fixed + VMS_H_FEAT_OPT, vms_le32(fixed + VMS_H_FEAT_OPT) | VMS_FEAT_DESCRIPTOR);
    } else {
        size_t cap = bl + 256;
        nb = xmalloc(cap);
        if (bl)
            memcpy(nb, m->hdr + VMS_H_FIXED, bl);
        nn = m->bm(nb, bl, cap);
    }
    vms_descriptor_free(d);
    set_header(m, fixed, nb, nn, ext);
    free(nb);
}

/* Re-encodes a STATE record's state after changing it. */
static void mut_state(mstream *m)
{
    if (!m->nr)
        return;
    mrec *r = &m->r[pick(m, VMS_REC_STATE)];
    if (vms_le16(r->h + VMS_R_TYPE) != VMS_REC_STATE)
        return;
    size_t n;
    uint8_t *raw = rec_raw(m, r, &n);
    if (!raw) { /* not decodable: mutate the wire bytes instead */
        payload_bytes(m, r, 64);
        return;
    }
    size_t maxr = h_max_record(m);
    if (maxr > MAX_RAW)
        maxr = MAX_RAW;
    size_t cap = n + 8192 < maxr ? n + 8192 : maxr;
    if (cap < n)
        cap = n;
    uint8_t *buf = xmalloc(cap ? cap : 1);
    if (n)
        memcpy(buf, raw, n);
    free(raw);
    switch (B(m, 5)) {
    case 0: /* a page turned uniform */
        if (n) {
            size_t pg = (size_t)B(m, (n + VMS_PAGE - 1) / VMS_PAGE) * VMS_PAGE;
            size_t len = n - pg < VMS_PAGE ? n - pg : VMS_PAGE;
            memset(buf + pg, (int)B(m, 256), len);
        }
        break;
    case 1: /* grow to a page multiple with a uniform tail */
        if (cap > n) {
            size_t nn = n + 1 + (size_t)B(m, cap - n);
            memset(buf + n, chance(m, 2) ? 0 : (int)B(m, 256), nn - n);
            n = nn;
        }
        break;
    default:
        n = m->bm(buf, n, cap);
        break;
    }
    if (n == 0) {
        buf[0] = (uint8_t)R(m);
        n = 1;
    }
    rec_store(m, r, buf, n, (unsigned)B(m, 4), (int)B(m, 10));
    free(buf);
}

/* Damages a compressed payload while keeping it near-valid. */
static void mut_compressed(mstream *m)
{
    if (!m->nr)
        return;
    mrec *r = &m->r[pick(m, VMS_REC_STATE)];
    int codec = h_codec(m);
    size_t rl = vms_le32(r->h + VMS_R_RAW_LEN);
    uint16_t fl = vms_le16(r->h + VMS_R_FLAGS);
    switch (B(m, 6)) {
    case 0: { /* decompression bomb: a big run of zeros declared small */
        size_t big = (size_t)(chance(m, 2) ? h_max_record(m) : rl) + 1 + (size_t)B(m, 65536);
        if (big > MAX_RAW)
            big = MAX_RAW;
        uint8_t *z = xmalloc(big);
        memset(z, 0, big);
        size_t cn;
        uint8_t *c = c_compress(codec ? codec : VMS_CODEC_ZLIB, z, big, 9, &cn);
        free(z);
        if (!c)
            return;
        free(r->p);
        r->p = c;
        r->n = cn;
        vms_put16(r->h + VMS_R_FLAGS, (uint16_t)((fl & ~VMS_RF_PAGEMAP) | VMS_RF_COMPRESSED));
        if (rl <= cn)
            rl = cn + 1 + (size_t)B(m, 64);
        vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)rl);
        break;
    }
    case 1: /* the other codec's data */
    {
        size_t n;
        uint8_t *raw = rec_raw(m, r, &n);
        if (!raw)
            return;
        size_t cn;
        uint8_t *c = c_compress(codec == VMS_CODEC_ZLIB ? VMS_CODEC_ZSTD : VMS_CODEC_ZLIB, raw,
                                n, 1, &cn);
        free(raw);
        if (!c)
            return;
        free(r->p);
        r->p = c;
        r->n = cn;
        vms_put16(r->h + VMS_R_FLAGS, (uint16_t)((fl & ~VMS_RF_PAGEMAP) | VMS_RF_COMPRESSED));
        vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)n);
        break;
    }
    case 2: /* trailing garbage after the compressed data */
        if (fl & VMS_RF_COMPRESSED) {
            uint8_t *p = xmalloc(r->n + 8);
            memcpy(p, r->p, r->n);
            size_t k = 1 + (size_t)B(m, 8);
            for (size_t i = 0; i < k; i++)
                p[r->n + i] = (uint8_t)R(m);
            free(r->p);
            r->p = p;
            r->n += k;
        }
        break;
    case 3: /* truncated compressed data */
        if ((fl & VMS_RF_COMPRESSED) && r->n > 1)
            r->n -= 1 + (size_t)B(m, r->n - 1);
        break;
    case 4: /* declared length off by a little */
        m->fix.lens = chance(m, 2);
        vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)(rl + (chance(m, 2) ? 1 : (uint64_t)-1)));
        break;
    default: /* flip a byte inside the compressed data */
        if (r->n)
            r->p[B(m, r->n)] ^= (uint8_t)(1 + B(m, 255));
        break;
    }
}

/* Damages a page map in place (bitmap bits, fills, padding). */
static void mut_pagemap(mstream *m)
{
    if (!m->nr)
        return;
    mrec *r = &m->r[pick(m, VMS_REC_STATE)];
    uint16_t fl = vms_le16(r->h + VMS_R_FLAGS);
    if (!(fl & VMS_RF_PAGEMAP)) {
        /* make one: a page-mapped copy of its state */
        size_t n;
        uint8_t *raw = rec_raw(m, r, &n);
        if (raw && n) {
            memset(raw, 0, n < VMS_PAGE ? n : VMS_PAGE);
            vms_put32(m->hdr + VMS_H_FEAT_REQ, vms_le32(m->hdr + VMS_H_FEAT_REQ) | VMS_FEAT_PAGEMAP);
            rec_store(m, r, raw, n, 2 + (unsigned)B(m, 2), 1);
        }
        free(raw);
        return;
    }
    size_t rl = vms_le32(r->h + VMS_R_RAW_LEN);
    size_t pages = (rl + VMS_PAGE - 1) / VMS_PAGE, mb = (size_t)vms_pad8((pages + 7) / 8);
    if (r->n < mb || mb == 0)
        return;
    switch (B(m, 5)) {
    case 0: /* a bitmap bit (maybe beyond the pages) */
        r->p[B(m, mb)] ^= (uint8_t)(1u << B(m, 8));
        break;
    case 1: /* a fill byte or fill padding */
        if (r->n > mb)
            r->p[mb + B(m, r->n - mb < 16 ? r->n - mb : 16)] ^= (uint8_t)(1 + B(m, 255));
        break;
    case 2: /* all pages uniform / none */
        memset(r->p, chance(m, 2) ? 0xff : 0, mb);
        break;
    case 3: /* raw_len changed so the page count shifts */
        vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)(chance(m, 2) ? rl + VMS_PAGE : rl - 1));
        break;
    default: /* last page length change */
        vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)(rl + B(m, 16) - 8));
        break;
    }
}

static void mut_end(mstream *m)
{
    size_t e = end_index(m);
    if (e == m->nr) {
        /* no END: append one */
        mrec *r = ms_insert(m, m->nr);
        size_t n = h_auth(m) == VMS_AUTH_ED25519 ? VMS_END_PAYLOAD_SIGNED : VMS_END_PAYLOAD;
        vms_put16(r->h + VMS_R_TYPE, VMS_REC_END);
        vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)n);
        r->p = xmalloc(n);
        memset(r->p, 0, n);
        r->n = n;
        return;
    }
    mrec *r = &m->r[e];
    switch (B(m, 6)) {
    case 0:
    case 1:
    case 2:
        if (r->n >= VMS_END_PAYLOAD) {
            m->fix.totals = false;
            uint8_t *f = r->p + 8 * B(m, 3);
            vms_put64(f, interesting64(m, vms_le64(f)));
        }
        break;
    case 3:
        if (r->n >= VMS_END_PAYLOAD) {
            m->fix.chain = false;
            r->p[VMS_E_CHAIN + B(m, 32)] ^= 1;
        }
        break;
    case 4: /* END moved earlier: records after it become trailing data */
        if (e > 0) {
            mrec tmp = m->r[e];
            size_t to = (size_t)B(m, e);
            memmove(m->r + to + 1, m->r + to, (e - to) * sizeof *m->r);
            m->r[to] = tmp;
        }
        break;
    default: /* END flags, section, offset or phase */
        if (chance(m, 2))
            vms_put16(r->h + VMS_R_FLAGS, (uint16_t)(1 + B(m, 7)));
        else
            vms_put32(r->h + VMS_R_PHASE, (uint32_t)(1 + B(m, 3)));
        break;
    }
}

static void mut_checkpoint(mstream *m)
{
    size_t i = pick(m, VMS_REC_CHECKPOINT);
    if (i < m->nr && vms_le16(m->r[i].h + VMS_R_TYPE) == VMS_REC_CHECKPOINT && chance(m, 2)) {
        mrec *r = &m->r[i];
        if (r->n >= VMS_CHECKPOINT_PAYLOAD) {
            switch (B(m, 3)) {
            case 0:
                m->fix.totals = false;
                vms_put64(r->p + 8 * B(m, 2), interesting64(m, vms_le64(r->p)));
                break;
            case 1:
                m->fix.chain = false;
                r->p[VMS_C_CHAIN + B(m, 32)] ^= 1;
                break;
            default:
                m->fix.sig = false;
                r->p[VMS_C_SIGNATURE + B(m, 64)] ^= 1;
                break;
            }
        }
        return;
    }
    /* insert a checkpoint somewhere before END */
    size_t at = (size_t)B(m, end_index(m) + 1);
    mrec *r = ms_insert(m, at);
    vms_put16(r->h + VMS_R_TYPE, VMS_REC_CHECKPOINT);
    vms_put32(r->h + VMS_R_RAW_LEN, VMS_CHECKPOINT_PAYLOAD);
    r->p = xmalloc(VMS_CHECKPOINT_PAYLOAD);
    memset(r->p, 0, VMS_CHECKPOINT_PAYLOAD);
    r->n = VMS_CHECKPOINT_PAYLOAD;
}

static void mut_structure(mstream *m)
{
    switch (B(m, 8)) {
    case 0: /* drop */
        if (m->nr)
            ms_remove(m, pick(m, 0));
        break;
    case 1: /* duplicate */
        if (m->nr && m->nr < MAX_RECORDS) {
            size_t i = pick(m, 0);
            mrec copy = m->r[i];
            copy.p = dup_bytes(copy.p, copy.n);
            *ms_insert(m, i + 1 - (size_t)B(m, 2)) = copy;
        }
        break;
    case 2: /* swap */
        if (m->nr >= 2) {
            size_t i = pick(m, 0), j = pick(m, 0);
            mrec t = m->r[i];
            m->r[i] = m->r[j];
            m->r[j] = t;
        }
        break;
    case 3: { /* insert a new state record, or an unknown (optional) one */
        if (m->nr >= MAX_RECORDS)
            break;
        size_t at = (size_t)B(m, end_index(m) + 1);
        mrec *r = ms_insert(m, at);
        size_t n = 1 + (size_t)B(m, chance(m, 2) ? 64 : 9000);
        uint8_t *raw = xmalloc(n);
        for (size_t k = 0; k < n; k++)
            raw[k] = (uint8_t)(chance(m, 2) ? 0 : R(m));
        if (chance(m, 3)) {
            vms_put16(r->h + VMS_R_TYPE, (uint16_t)(4 + B(m, 100)));
            vms_put16(r->h + VMS_R_FLAGS, chance(m, 4) ? 0 : VMS_RF_OPTIONAL);
            r->p = raw;
            r->n = n;
            vms_put32(r->h + VMS_R_WIRE_LEN, (uint32_t)n);
            vms_put32(r->h + VMS_R_RAW_LEN, (uint32_t)n);
        } else {
            vms_put16(r->h + VMS_R_TYPE, VMS_REC_STATE);
            vms_put32(r->h + VMS_R_SECTION, (uint32_t)B(m, 4));
            vms_put64(r->h + VMS_R_OFFSET, chance(m, 8) ? UINT64_MAX - B(m, 2 * n) : B(m, 1u << 20));
            if (at > 0)
                memcpy(r->h + VMS_R_PHASE, m->r[at - 1].h + VMS_R_PHASE, 4);
            r->p = NULL;
            r->n = 0;
            rec_store(m, r, raw, n, (unsigned)B(m, 4), 1);
            free(raw);
        }
        break;
    }
    case 4: /* truncate: cut the stream at a record, or inside one */
        if (m->nr) {
            size_t keep = (size_t)B(m, m->nr);
            while (m->nr > keep)
                ms_remove(m, m->nr - 1);
            free(m->tail);
            m->ntail = chance(m, 2) ? (size_t)B(m, VMS_R_HDR + 16) : 0;
            m->tail = xmalloc(m->ntail);
            for (size_t k = 0; k < m->ntail; k++)
                m->tail[k] = (uint8_t)R(m);
        }
        break;
    case 5: { /* trailing bytes after END */
        size_t k = 1 + (size_t)B(m, 80);
        uint8_t *t = xmalloc(m->ntail + k);
        if (m->ntail)
            memcpy(t, m->tail, m->ntail);
        for (size_t i = 0; i < k; i++)
            t[m->ntail + i] = (uint8_t)R(m);
        free(m->tail);
        m->tail = t;
        m->ntail += k;
        break;
    }
    case 6: /* phase regression / stop-copy ordering */
        if (m->nr >= 2) {
            size_t i = pick(m, VMS_REC_STATE);
            vms_put32(m->r[i].h + VMS_R_PHASE,
                      chance(m, 2) ? VMS_PHASE_STOP_COPY : (uint32_t)B(m, 3));
        }
        break;
    default: /* sequence gap */
        if (m->nr) {
            m->fix.seq = false;
            for (size_t i = 0; i < m->nr; i++)
                vms_put64(m->r[i].h + VMS_R_SEQ, i);
            mrec *r = &m->r[pick(m, 0)];
            vms_put64(r->h + VMS_R_SEQ, vms_le64(r->h + VMS_R_SEQ) + (chance(m, 2) ? 1 : (uint64_t)-1));
        }
        break;
    }
}

static void mutate_once(mstream *m)
{
    switch (B(m, 12)) {
    case 0:
        mut_payload(m);
        break;
    case 1:
        mut_record_field(m);
        break;
    case 2:
        mut_header_field(m);
        break;
    case 3:
        mut_blob(m);
        break;
    case 4:
    case 5:
        mut_state(m);
        break;
    case 6:
        mut_compressed(m);
        break;
    case 7:
        mut_pagemap(m);
        break;
    case 8:
        mut_end(m);
        break;
    case 9:
        mut_checkpoint(m);
        break;
    default:
        mut_structure(m);
        break;
    }
}

/* A fresh small stream from the encoder, for inputs that do not parse. */
static size_t fresh_stream(uint64_t seed, uint8_t *out, size_t max)
{
    uint64_t rng = seed;
    vms_membuf mb = {0};
    vms_encoder *e = NULL;
    if (vms_encoder_new(&e, vms_sink_membuf, &mb, NULL) != VMS_OK)
        return 0;
    (void)vms_encoder_set_stream_id(e, vf_stream_id);
    (void)vms_encoder_set_record_size(e, 1 + (size_t)vf_below(&rng, 9000));
    (void)vms_encoder_set_compression(e, (vms_codec)vf_below(&rng, 3), 0);
    (void)vms_encoder_set_page_elision(e, (int)vf_below(&rng, 2));
    switch (vf_below(&rng, 3)) {
    case 1: {
        uint8_t id[VMS_KEY_ID_BYTES];
        vf_mac_key_id(id);
        (void)vms_encoder_set_mac_key(e, vf_mac_key, sizeof vf_mac_key, id);
        break;
    }
    case 2:
        (void)vms_encoder_set_ed25519_key(e, vf_ed_priv);
        (void)vms_encoder_set_checkpoint_interval(e, 1024 + (size_t)vf_below(&rng, 8192));
        break;
    default:
        break;
    }
    size_t n = (size_t)vf_below(&rng, 20000);
    uint8_t *st = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        st[i] = (i / 4096) % 2 ? 0 : (uint8_t)vf_rand(&rng);
    (void)vms_encoder_write(e, (uint32_t)vf_below(&rng, 3), 0, 0, st, n / 2);
    (void)vms_encoder_write(e, 1, 0, VMS_PHASE_STOP_COPY, st + n / 2, n - n / 2);
    free(st);
    size_t len = 0;
    if (vms_encoder_finish(e) == VMS_OK && mb.len <= max) {
        memcpy(out, mb.data, mb.len);
        len = mb.len;
    }
    vms_encoder_free(e);
    vms_membuf_release(&mb);
    return len;
}

static void all_fixes(fixes *f)
{
    f->seq = f->lens = f->totals = f->chain = f->csum = f->hcsum = f->sig = true;
}

size_t vmsfuzz_stream_mutate(uint8_t *data, size_t size, size_t max_size, unsigned int seed,
                             vf_byte_mutator bm)
{
    mstream m;
    uint64_t rng = seed * 0x9e3779b97f4a7c15ull + size;
    if (!ms_parse(&m, data, size)) {
        ms_free(&m);
        if (vf_below(&rng, 4) == 0) {
            size_t n = fresh_stream(rng, data, max_size);
            if (n)
                return n;
        }
        return bm(data, size, max_size);
    }
    m.rng = rng;
    m.bm = bm;
    all_fixes(&m.fix);
    if (chance(&m, 16)) {
        /* plain byte mutation, then (usually) restamped */
        ms_free(&m);
        size = bm(data, size, max_size);
        if (vf_below(&rng, 2) == 0 || !ms_parse(&m, data, size)) {
            ms_free(&m);
            return size;
        }
        m.rng = rng;
        m.bm = bm;
        all_fixes(&m.fix);
    } else {
        unsigned k = 1 + (unsigned)B(&m, 4);
        for (unsigned i = 0; i < k; i++)
            mutate_once(&m);
    }
    /* every fix-up is sometimes left out, so its check is fuzzed too */
    if (chance(&m, 32))
        m.fix.seq = false;
    if (chance(&m, 32))
        m.fix.lens = false;
    if (chance(&m, 32))
        m.fix.totals = false;
    if (chance(&m, 32))
        m.fix.chain = false;
    if (chance(&m, 64))
        m.fix.csum = false;
    if (chance(&m, 64))
        m.fix.hcsum = false;
    if (chance(&m, 32))
        m.fix.sig = false;
    restamp(&m);
    if (chance(&m, 64) && m.nr) /* a corrupted checksum after restamping */
        m.r[pick(&m, 0)].h[VMS_R_CHECKSUM + B(&m, 32)] ^= 0x10;
    size_t n = ms_write(&m, data, max_size);
    if (n == 0) {
        /* too big for max_size: keep a prefix of the records */
        while (m.nr && ms_size(&m) > max_size)
            ms_remove(&m, m.nr - 1);
        n = ms_write(&m, data, max_size);
        if (n == 0)
            n = size < max_size ? size : max_size;
    }
    ms_free(&m);
    return n;
}

size_t vmsfuzz_stream_restamp(uint8_t *data, size_t size, size_t max_size)
{
    mstream m;
    if (!ms_parse(&m, data, size)) {
        ms_free(&m);
        return 0;
    }
    all_fixes(&m.fix);
    restamp(&m);
    size_t n = ms_write(&m, data, max_size);
    ms_free(&m);
    return n;
}

size_t vmsfuzz_stream_crossover(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                        uint8_t *out, size_t max_out, unsigned int seed)
{
    mstream a, b;
    bool ok1 = ms_parse(&a, d1, s1), ok2 = ms_parse(&b, d2, s2);
    size_t n = 0;
    if (ok1 && ok2) {
        a.rng = seed;
        all_fixes(&a.fix);
        /* a's header and first records, then b's records from some point */
        size_t cut = (size_t)B(&a, a.nr + 1), from = (size_t)B(&a, b.nr + 1);
        while (a.nr > cut)
            ms_remove(&a, a.nr - 1);
        for (size_t i = from; i < b.nr && a.nr < MAX_RECORDS; i++) {
            mrec *r = ms_insert(&a, a.nr);
            memcpy(r->h, b.r[i].h, VMS_R_HDR);
            r->p = dup_bytes(b.r[i].p, b.r[i].n);
            r->n = b.r[i].n;
        }
        free(a.tail);
        a.tail = dup_bytes(b.tail, b.ntail);
        a.ntail = b.ntail;
        restamp(&a);
        n = ms_write(&a, out, max_out);
    }
    ms_free(&a);
    ms_free(&b);
    if (n == 0) {
        n = s1 < max_out ? s1 : max_out;
        memcpy(out, d1, n);
    }
    return n;
}

/* ---- libFuzzer entry points --------------------------------------------------------- */

#ifdef VMSFUZZ_ENTRY
/* Weak: provided by libFuzzer; absent from the standalone (AFL++) driver,
 * where the custom mutator is not used anyway. */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size) __attribute__((weak));
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);
size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return vmsfuzz_stream_mutate(data, size, max_size, seed,
                                 LLVMFuzzerMutate ? LLVMFuzzerMutate : vf_simple_mutate);
}

size_t LLVMFuzzerCustomCrossOver(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                 uint8_t *out, size_t max_out, unsigned int seed)
{
    return vmsfuzz_stream_crossover(d1, s1, d2, s2, out, max_out, seed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_decode_mutator(data, size);
}
#endif
