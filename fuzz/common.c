/* common.c - helpers shared by the fuzz harnesses: PRNG, fixed keys, a
 * counting allocator, and the decoding driver that checks the decoder's
 * contract on every input. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* ---- failures ----------------------------------------------------------------- */

void vf_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vmsfuzz: invariant violated at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* ---- PRNG ------------------------------------------------------------------------ */

uint64_t vf_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t vf_below(uint64_t *s, uint64_t n)
{
    return n ? vf_rand(s) % n : 0;
}

uint64_t vf_hash(const uint8_t *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* ---- keys ---------------------------------------------------------------------------- */

const uint8_t vf_stream_id[VMS_STREAM_ID_BYTES] = {
    0x66, 0x75, 0x7a, 0x7a, 0x2d, 0x73, 0x74, 0x72,
    0x65, 0x61, 0x6d, 0x2d, 0x69, 0x64, 0x2d, 0x31};

const uint8_t vf_mac_key[VMS_MAC_KEY_BYTES] = {
    0x6d, 0x61, 0x63, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x66, 0x6f, 0x72, 0x2d, 0x66, 0x75, 0x7a,
    0x7a, 0x69, 0x6e, 0x67, 0x2d, 0x6f, 0x6e, 0x6c, 0x79, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05,
    0x06, 0x07};

/* Not a secret: it signs fuzz inputs only. */
const uint8_t vf_ed_priv[VMS_ED25519_KEY_BYTES] = {
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c,
    0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae,
    0x7f, 0x60};

void vf_mac_key_id(uint8_t id[VMS_KEY_ID_BYTES])
{
    vms_key_id(vf_mac_key, sizeof vf_mac_key, id);
}

bool vf_ed_pub(uint8_t pub[VMS_ED25519_KEY_BYTES])
{
    static uint8_t cache[VMS_ED25519_KEY_BYTES];
    static int state; /* 0 unknown, 1 ok, -1 unavailable */
    if (state == 0)
        state = vms_ed25519_public_key(vf_ed_priv, cache) == VMS_OK ? 1 : -1;
    if (state < 0)
        return false;
    memcpy(pub, cache, sizeof cache);
    return true;
}

/* ---- counting allocator ------------------------------------------------------------------ */

#define VF_MEM_HDR 16

/* VMSFUZZ_MEMTRACE=1 prints every allocation of the counting allocator. */
static bool memtrace(void)
{
    static int on = -1;
    if (on < 0)
        on = getenv("VMSFUZZ_MEMTRACE") != NULL;
    return on;
}

static void *vf_alloc(void *opaque, size_t size)
{
    vf_mem *m = opaque;
    uint8_t *p = NULL;
    pthread_mutex_lock(&m->lock);
    m->count++;
    if (m->fail_at && m->count == m->fail_at) {
        m->failed = true;
    } else if (size <= SIZE_MAX - VF_MEM_HDR && (p = malloc(size + VF_MEM_HDR)) != NULL) {
        memcpy(p, &size, sizeof size);
        if (m->count == 1)
            m->first_size = size;
        m->cur += size;
        if (m->cur > m->peak)
            m->peak = m->cur;
        p += VF_MEM_HDR;
    }
    if (memtrace())
        fprintf(stderr, "vf_alloc #%lu: %zu bytes -> %p, now %zu\n", m->count, size,
                (void *)p, m->cur);
    pthread_mutex_unlock(&m->lock);
    return p;
}

static void vf_free(void *opaque, void *ptr)
{
    vf_mem *m = opaque;
    if (!ptr)
        return;
    uint8_t *p = (uint8_t *)ptr - VF_MEM_HDR;
    size_t size;
    memcpy(&size, p, sizeof size);
    pthread_mutex_lock(&m->lock);
    VF_CHECK(size <= m->cur, "freeing %zu bytes with %zu outstanding", size, m->cur);
    m->cur -= size;
    if (memtrace())
        fprintf(stderr, "vf_free %p: %zu bytes, now %zu\n", ptr, size, m->cur);
    pthread_mutex_unlock(&m->lock);
    free(p);
}

vms_allocator vf_mem_allocator(vf_mem *m)
{
    unsigned long fail_at = m->fail_at;
    memset(m, 0, sizeof *m);
    m->fail_at = fail_at;
    pthread_mutex_init(&m->lock, NULL);
    vms_allocator a = {vf_alloc, vf_free, m};
    return a;
}

void vf_mem_destroy(vf_mem *m)
{
    pthread_mutex_destroy(&m->lock);
}

/* ---- printable messages --------------------------------------------------------------------- */

void vf_check_printable(const char *msg, size_t cap, const char *what)
{
    VF_CHECK(msg != NULL, "%s message is NULL", what);
    size_t n = 0;
    while (n < cap && msg[n])
        n++;
    VF_CHECK(n < cap, "%s message is not NUL-terminated within %zu bytes", what, cap);
    for (size_t i = 0; i < n; i++)
        VF_CHECK(msg[i] >= 0x20 && msg[i] <= 0x7e,
                 "%s message byte %zu is 0x%02x (not printable ASCII): %s", what, i,
                 (unsigned)(uint8_t)msg[i], msg);
}

/* ---- descriptors ------------------------------------------------------------------------------ */

static bool denies_itself(const vms_descriptor *d)
{
    vms_device_version v = vms_descriptor_get_version(d), x;
    size_t n = vms_descriptor_deny_version_count(d);
    for (size_t i = 0; i < n; i++) {
        VF_CHECK(vms_descriptor_get_deny_version(d, i, &x) == VMS_OK, "deny %zu", i);
        if (x.major == v.major && x.minor == v.minor && x.bugfix == v.bugfix)
            return true;
    }
    return false;
}

void vf_descriptor_roundtrip(const vms_descriptor *d)
{
    VF_CHECK(vms_descriptor_validate(d) == VMS_OK, "a parsed descriptor is incomplete");

    /* text: format, re-parse, equal, re-format identical */
    size_t need = 0;
    VF_CHECK(vms_descriptor_format_text(d, NULL, 0, &need) == VMS_E_INVALID_ARG,
             "size query");
    VF_CHECK(need > 0 && need <= VMS_DESC_MAX_TEXT + 1, "text size %zu", need);
    char *text = malloc(need);
    VF_CHECK(text != NULL, "malloc");
    size_t need2 = 0;
    VF_CHECK(vms_descriptor_format_text(d, text, need, &need2) == VMS_OK, "format");
    VF_CHECK(need2 == need && strlen(text) == need - 1, "format size %zu/%zu/%zu", need,
             need2, strlen(text));
    vms_descriptor *t = NULL;
    vms_descriptor_error err;
    int rc = vms_descriptor_parse_text(&t, text, need - 1, NULL, &err);
    VF_CHECK(rc == VMS_OK, "formatted text does not parse (%d, line %u: %s):\n%s", rc,
             err.line, err.message, text);
    VF_CHECK(vms_descriptor_equal(d, t), "format/parse changed the descriptor:\n%s", text);
    char *text2 = malloc(need);
    VF_CHECK(text2 != NULL, "malloc");
    VF_CHECK(vms_descriptor_format_text(t, text2, need, NULL) == VMS_OK, "format 2");
    VF_CHECK(memcmp(text, text2, need) == 0, "format is not canonical:\n%s\n---\n%s", text,
             text2);
    free(text2);
    vms_descriptor_free(t);

    /* binary: encode, decode, equal, re-encode identical */
    size_t bn = 0;
    VF_CHECK(vms_descriptor_encode(d, NULL, 0, &bn) == VMS_E_INVALID_ARG, "size query");
    VF_CHECK(bn >= 31 && bn <= VMS_DESC_MAX_BINARY, "binary size %zu", bn);
    uint8_t *bin = malloc(bn), *bin2 = malloc(bn);
    VF_CHECK(bin && bin2, "malloc");
    VF_CHECK(vms_descriptor_encode(d, bin, bn, NULL) == VMS_OK, "encode");
    vms_descriptor *b = NULL;
    rc = vms_descriptor_decode(&b, bin, bn, NULL, &err);
    VF_CHECK(rc == VMS_OK, "encoding does not decode (%d at %llu: %s)", rc,
             (unsigned long long)err.offset, err.message);
    VF_CHECK(vms_descriptor_equal(d, b), "encode/decode changed the descriptor:\n%s", text);
    VF_CHECK(vms_descriptor_encode(b, bin2, bn, NULL) == VMS_OK, "encode 2");
    VF_CHECK(memcmp(bin, bin2, bn) == 0, "binary encoding is not canonical");
    free(bin);
    free(bin2);

    /* clone, and compatibility with itself */
    vms_descriptor *c = NULL;
    VF_CHECK(vms_descriptor_clone(&c, b, NULL) == VMS_OK, "clone");
    VF_CHECK(vms_descriptor_equal(c, d) && vms_descriptor_equal(d, c), "clone differs");
    vms_compat_result res;
    rc = vms_compat_check(d, c, NULL, &res);
    vf_check_printable(res.reason, sizeof res.reason, "compat reason");
    if (denies_itself(d))
        VF_CHECK(rc == VMS_E_INCOMPATIBLE && res.rule == VMS_COMPAT_DENIED,
                 "a descriptor denying its own version: rc %d rule %d", rc, (int)res.rule);
    else
        VF_CHECK(rc == VMS_OK && res.rule == VMS_COMPAT_OK,
                 "a descriptor is incompatible with itself: rc %d rule %d (%s):\n%s", rc,
                 (int)res.rule, res.reason, text);
    vms_descriptor_free(c);
    vms_descriptor_free(b);
    free(text);
}

/* ---- decoding driver ------------------------------------------------------------------------- */

static void check_stream_descriptor(const vms_decoder *d, const vf_decode_cfg *c,
                                    const vms_header_info *h);

typedef struct dstate {
    const vf_decode_cfg *cfg;
    vms_decoder *d;
    int headers, commits, commit_refusals, aborts;
    int abort_code;
    bool in_finish;
    bool finish_delivers; /* records parked by the feeds may come in finish */
    bool any;
    uint64_t last_index;
    uint32_t last_phase;
    uint64_t deliveries; /* on_record calls, refused one included */
    uint64_t delivered, raw_bytes;
    uint64_t content;    /* digest of the delivered bytes, in order */
    uint64_t fed_upto;   /* stream bytes handed to the decoder so far */
    uint32_t max_record, header_length;
    uint8_t auth_mode;
    uint64_t sink;       /* keeps the byte reads alive */
    const uint8_t *data; /* the whole input */
    size_t len;
    uint64_t sig_off;    /* a fully fed checkpoint/END found by check_wire */
    bool bypass;         /* the library ignores checksums (fuzzing build) */
} dstate;

/* Stream-level checks of a delivered record against the input bytes. */
static void check_wire(dstate *s, const vms_record *r)
{
    const uint8_t *d = s->data;
    const uint64_t so = r->stream_offset;
    const uint8_t *rh = d + so;
    const uint32_t wl = vms_le32(rh + VMS_R_WIRE_LEN);
    VF_CHECK(vms_le64(rh + VMS_R_SEQ) == r->index && vms_le16(rh + VMS_R_TYPE) == VMS_REC_STATE,
             "record %llu: the header at its stream offset says seq %llu type %u",
             (unsigned long long)r->index, (unsigned long long)vms_le64(rh + VMS_R_SEQ),
             vms_le16(rh + VMS_R_TYPE));
    VF_CHECK(r->wire_len == wl && r->flags == vms_le16(rh + VMS_R_FLAGS),
             "record %llu: wire_len %u flags 0x%x, the record header says %u 0x%x",
             (unsigned long long)r->index, r->wire_len, r->flags, wl,
             vms_le16(rh + VMS_R_FLAGS));
    VF_CHECK(so + VMS_R_HDR + vms_pad8(wl) <= s->fed_upto,
             "record %llu delivered before its payload was fed", (unsigned long long)r->index);
    if (vms_le16(rh + VMS_R_FLAGS) == 0)
        VF_CHECK(wl == r->len && memcmp(r->data, rh + VMS_R_HDR, wl) == 0,
                 "record %llu: delivered bytes differ from the raw payload",
                 (unsigned long long)r->index);
    if (!s->bypass) {
        /* production: the record's checksum/MAC really verifies */
        const bool mac = s->auth_mode == VMS_AUTH_MAC;
        uint8_t prefix[VMS_PREFIX_BYTES], dg[VMS_DIGEST_BYTES];
        vms_make_prefix(prefix, d + VMS_H_STREAM_ID, d + s->header_length - VMS_DIGEST_BYTES, rh);
        vms_digest_record(dg, prefix, rh + VMS_R_HDR, wl, mac ? vf_mac_key : NULL,
                          mac ? sizeof vf_mac_key : 0);
        VF_CHECK(memcmp(dg, rh + VMS_R_CHECKSUM, sizeof dg) == 0,
                 "record %llu delivered with a checksum that does not verify",
                 (unsigned long long)r->index);
    }
    if (s->auth_mode == VMS_AUTH_ED25519 && s->sig_off <= so) {
        /* signed: a checkpoint or END after it must already have been fed
         * (state is released only once a signature covers it); the one
         * found is remembered for the records before it */
        uint64_t off = so;
        for (;;) {
            off += VMS_R_HDR + vms_pad8(vms_le32(d + off + VMS_R_WIRE_LEN));
            VF_CHECK(off + VMS_R_HDR <= s->fed_upto,
                     "signed record %llu delivered before a signature covering it was fed",
                     (unsigned long long)r->index);
            uint16_t t = vms_le16(d + off + VMS_R_TYPE);
            if (t == VMS_REC_CHECKPOINT || t == VMS_REC_END) {
                VF_CHECK(off + VMS_R_HDR + vms_pad8(vms_le32(d + off + VMS_R_WIRE_LEN)) <=
                             s->fed_upto,
                         "signed record %llu delivered before its signature was complete",
                         (unsigned long long)r->index);
                s->sig_off = off;
                break;
            }
        }
    }
}

static int cb_header(void *ctx, const vms_header_info *h)
{
    dstate *s = ctx;
    const vf_decode_cfg *c = s->cfg;
    VF_CHECK(s->headers == 0 && s->deliveries == 0, "header callback twice or late");
    VF_CHECK(s->commits == 0 && s->aborts == 0, "header after the end");
    s->headers++;
    VF_CHECK(h->format_major == VMS_FORMAT_MAJOR, "major %u", h->format_major);
    VF_CHECK(h->format_minor >= c->min_minor, "minor %u < %u", h->format_minor, c->min_minor);
    VF_CHECK(h->checksum_alg == VMS_CSUM_BLAKE2B_256, "alg %u", h->checksum_alg);
    VF_CHECK(h->auth_mode <= VMS_AUTH_ED25519 && h->auth_mode >= c->require_auth,
             "auth %u (required %u)", h->auth_mode, c->require_auth);
    VF_CHECK(h->codec <= VMS_CODEC_ZSTD, "codec %u", h->codec);
    VF_CHECK(h->max_record >= 1 && h->max_record <= VMS_MAX_RECORD_BYTES &&
                 h->max_record <= c->lim[VMS_LIMIT_RECORD_RAW],
             "max_record %u", h->max_record);
    VF_CHECK(h->version_blob_len <= c->lim[VMS_LIMIT_BLOB], "blob %u", h->version_blob_len);
    VF_CHECK(h->header_length >= VMS_HEADER_MIN && h->header_length <= s->fed_upto,
             "header length %u, %llu bytes fed", h->header_length,
             (unsigned long long)s->fed_upto);
    VF_CHECK(vms_vendor_id_check(h->vendor_id) == VMS_OK, "vendor 0x%08x", h->vendor_id);
    VF_CHECK(vms_decoder_header(s->d) != NULL, "header accessor NULL in on_header");
    if (h->auth_mode == VMS_AUTH_MAC) {
        uint8_t id[VMS_KEY_ID_BYTES];
        vf_mac_key_id(id);
        VF_CHECK(c->mac_key && memcmp(id, h->key_id, sizeof id) == 0,
                 "MAC stream accepted without its key");
    }
    if (h->auth_mode == VMS_AUTH_ED25519)
        VF_CHECK(c->ed_key, "signed stream accepted without a verification key");
    check_stream_descriptor(s->d, c, h);
    if (h->version_blob_len) {
        VF_CHECK(h->version_blob != NULL, "blob pointer NULL");
        s->sink += vf_hash(h->version_blob, h->version_blob_len);
        if ((h->features_optional & VMS_FEAT_DESCRIPTOR) ||
            (h->version_blob_len >= 4 && memcmp(h->version_blob, "VMSD", 4) == 0)) {
            vms_descriptor *desc = NULL;
            vms_descriptor_error e;
            if (vms_descriptor_decode(&desc, h->version_blob, h->version_blob_len, NULL,
                                      &e) == VMS_OK)
                vf_descriptor_roundtrip(desc);
            else
                vf_check_printable(e.message, sizeof e.message, "descriptor error");
            vms_descriptor_free(desc);
        }
    }
#ifdef VMSFUZZ_AVOID_SIGNED_SMALL_RECORDS
    /* Known bug (tests/regress: signed-small-record-*): a signed stream whose
     * max_record is below 120 overflows the decoder's wire buffer with its
     * END record.  Refused here only so long local runs can look further. */
    if (h->auth_mode == VMS_AUTH_ED25519 && h->max_record < VMS_END_PAYLOAD_SIGNED)
        return 1;
#endif
    s->max_record = h->max_record;
    s->header_length = h->header_length;
    s->auth_mode = h->auth_mode;
    return c->refuse_header ? 1 : 0;
}

static int cb_record(void *ctx, const vms_record *r)
{
    dstate *s = ctx;
    const vf_decode_cfg *c = s->cfg;
    VF_CHECK(s->headers == 1, "record before the header");
    VF_CHECK(s->commits == 0 && s->aborts == 0 && (!s->in_finish || s->finish_delivers),
             "record %llu delivered after the end", (unsigned long long)r->index);
    VF_CHECK(!s->any || r->index > s->last_index, "record %llu after %llu",
             (unsigned long long)r->index, (unsigned long long)s->last_index);
    VF_CHECK(r->len >= 1 && r->len <= s->max_record && r->len <= c->lim[VMS_LIMIT_RECORD_RAW],
             "record %llu length %zu (max_record %u)", (unsigned long long)r->index, r->len,
             s->max_record);
    VF_CHECK(r->offset <= UINT64_MAX - r->len, "record %llu offset %llu + %zu overflows",
             (unsigned long long)r->index, (unsigned long long)r->offset, r->len);
    VF_CHECK(!s->any || r->phase >= s->last_phase, "phase %u after %u", r->phase,
             s->last_phase);
    VF_CHECK(r->index < c->lim[VMS_LIMIT_RECORDS], "record %llu beyond the count limit",
             (unsigned long long)r->index);
    VF_CHECK(r->stream_offset >= s->header_length &&
                 r->stream_offset + VMS_R_HDR <= s->fed_upto,
             "record %llu at stream offset %llu, %llu bytes fed", (unsigned long long)r->index,
             (unsigned long long)r->stream_offset, (unsigned long long)s->fed_upto);
    const uint8_t *bytes = r->data;
    uint8_t *tmp = NULL;
    if (r->runs) {
        /* In runs (vms_decoder_set_page_runs): only when asked for, only a
         * page map (compressed or not), in order and without gaps;
         * assembled here so that every check below sees the record's
         * bytes. */
        VF_CHECK(c->page_runs && r->data == NULL && (r->flags & VMS_RF_PAGEMAP) &&
                     s->auth_mode != VMS_AUTH_ED25519,
                 "record %llu in runs (flags 0x%x, data %p)", (unsigned long long)r->index,
                 r->flags, (const void *)r->data);
        VF_CHECK(r->nruns >= 1 && r->nruns <= (r->len + VMS_PAGE - 1) / VMS_PAGE,
                 "record %llu: %zu runs for %zu bytes", (unsigned long long)r->index,
                 r->nruns, r->len);
        tmp = malloc(r->len);
        VF_CHECK(tmp != NULL, "out of memory");
        size_t at = 0;
        for (size_t i = 0; i < r->nruns; i++) {
            const vms_run *u = &r->runs[i];
            VF_CHECK(u->offset == at && u->len >= 1 && u->len <= r->len - at,
                     "record %llu run %zu: offset %zu len %zu after %zu bytes",
                     (unsigned long long)r->index, i, u->offset, u->len, at);
            if (u->data)
                memcpy(tmp + at, u->data, u->len); /* readable (ASan) */
            else
                memset(tmp + at, u->fill, u->len);
            at += u->len;
        }
        VF_CHECK(at == r->len, "record %llu: runs cover %zu of %zu bytes",
                 (unsigned long long)r->index, at, r->len);
        bytes = tmp;
    } else {
        VF_CHECK(r->data != NULL && r->nruns == 0, "data NULL");
        VF_CHECK(!(c->page_runs && (r->flags & VMS_RF_PAGEMAP) &&
                   s->auth_mode != VMS_AUTH_ED25519),
                 "record %llu: a page map in data with runs on (flags 0x%x)",
                 (unsigned long long)r->index, r->flags);
    }
    vms_record whole = *r;
    whole.data = bytes;
    whole.runs = NULL;
    whole.nruns = 0;
    check_wire(s, &whole);
    const uint64_t hv = vf_hash(bytes, r->len); /* every byte must be readable (ASan) */
    s->sink += hv;
    s->content = (s->content ^ hv ^ r->index) * UINT64_C(0x100000001b3);
    if (c->check_record)
        c->check_record(c->check_ctx, &whole);
    free(tmp);
    uint64_t k = s->deliveries++;
    if (c->refuse_record >= 0 && k == (uint64_t)c->refuse_record)
        return 1;
    s->any = true;
    s->last_index = r->index;
    s->last_phase = r->phase;
    s->delivered++;
    s->raw_bytes += r->len;
    return 0;
}

static int cb_commit(void *ctx, const vms_stream_summary *sum)
{
    dstate *s = ctx;
    VF_CHECK(s->in_finish, "on_commit outside vms_decoder_finish");
    VF_CHECK(s->commits == 0 && s->aborts == 0 && s->commit_refusals == 0,
             "on_commit after commit/abort");
    VF_CHECK(vms_decoder_complete(s->d), "on_commit but not complete");
    VF_CHECK(sum->raw_bytes == s->raw_bytes, "summary %llu raw bytes, %llu delivered",
             (unsigned long long)sum->raw_bytes, (unsigned long long)s->raw_bytes);
    VF_CHECK(sum->records >= s->delivered && (!s->any || sum->records > s->last_index),
             "summary %llu records, %llu delivered", (unsigned long long)sum->records,
             (unsigned long long)s->delivered);
    VF_CHECK(sum->stream_bytes == vms_decoder_offset(s->d) && sum->stream_bytes == s->fed_upto,
             "summary %llu stream bytes, %llu consumed", (unsigned long long)sum->stream_bytes,
             (unsigned long long)vms_decoder_offset(s->d));
    if (s->cfg->refuse_commit) {
        s->commit_refusals++;
        return 1;
    }
    s->commits++;
    return 0;
}

static int cb_abort(void *ctx, const vms_error_info *e)
{
    dstate *s = ctx;
    VF_CHECK(s->aborts == 0, "on_abort twice");
    VF_CHECK(s->commits == 0, "on_abort after a commit");
    VF_CHECK(e->code < 0, "on_abort with code %d", e->code);
    s->aborts++;
    s->abort_code = e->code;
    return 0;
}

void vf_decode_cfg_default(vf_decode_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (int i = 0; i < VMS_LIMIT_COUNT; i++)
        cfg->lim[i] = vms_limit_default((vms_limit)i);
    cfg->refuse_record = -1;
}

static size_t next_chunk(const vf_decode_cfg *c, uint64_t *rng, size_t left)
{
    if (c->split_max == 0)
        return left;
    size_t n;
    uint64_t r = vf_rand(rng);
    switch (r & 7) {
    case 0:
        n = 0; /* an empty feed */
        break;
    case 1:
        n = 1;
        break;
    default:
        n = 1 + (size_t)((r >> 8) % c->split_max);
        break;
    }
    return n < left ? n : left;
}

static void check_error(dstate *s, int rc)
{
    const vms_error_info *e = vms_decoder_error(s->d);
    VF_CHECK(e->code == rc, "error code %d, returned %d", e->code, rc);
    VF_CHECK(vms_is_error(rc) && vms_error_category_of(rc) != VMS_CAT_NONE,
             "bad status %d", rc);
    VF_CHECK(strcmp(vms_strerror(rc), "?") != 0 && strncmp(vms_strerror(rc), "VMS_E_", 6) == 0,
             "unnamed status %d (%s)", rc, vms_strerror(rc));
    vf_check_printable(e->message, VMS_MSG_MAX, "decoder error");
    VF_CHECK(s->aborts == 1 && s->abort_code == rc, "error %d without on_abort (%d, %d)", rc,
             s->aborts, s->abort_code);
    VF_CHECK(s->commits == 0, "error %d after a commit", rc);
    VF_CHECK(!vms_decoder_complete(s->d), "complete after error %d", rc);
    VF_CHECK(e->offset <= s->fed_upto, "error offset %llu beyond the %llu bytes fed (%s: %s)",
             (unsigned long long)e->offset, (unsigned long long)s->fed_upto, vms_strerror(rc),
             e->message);
    /* The decoder never delivers a record and then reports that same record
     * (or an earlier one) bad.  Errors that concern no record (header,
     * trailing data, truncation before a header) say UINT64_MAX.  A callback
     * refusal names the refused record itself, so it is exempt. */
    if (rc != VMS_E_CALLBACK && s->any && e->record != UINT64_MAX)
        VF_CHECK(e->record > s->last_index,
                 "record %llu reported bad (%s: %s) after record %llu was delivered",
                 (unsigned long long)e->record, vms_strerror(rc), e->message,
                 (unsigned long long)s->last_index);
}

void vf_decode(const uint8_t *data, size_t len, const vf_decode_cfg *cfg,
               vf_decode_result *res)
{
    dstate s;
    memset(&s, 0, sizeof s);
    s.cfg = cfg;
    s.data = data;
    s.len = len;
    {
        static const uint8_t x = 0, y = 1;
        s.bypass = vms_digest_equal(&x, &y, 1);
    }
    memset(res, 0, sizeof *res);

    vms_limits *lim = NULL;
    VF_CHECK(vms_limits_new(&lim, NULL) == VMS_OK, "limits");
    for (int i = 0; i < VMS_LIMIT_COUNT; i++)
        VF_CHECK(vms_limits_set(lim, (vms_limit)i, cfg->lim[i]) == VMS_OK,
                 "limit %d = %llu rejected", i, (unsigned long long)cfg->lim[i]);

    vf_mem mem;
    memset(&mem, 0, sizeof mem);
    mem.fail_at = cfg->fail_alloc_at;
    vms_allocator alloc = vf_mem_allocator(&mem);
    vms_decoder_callbacks cb = {cb_header, cb_record, cb_commit, cb_abort, &s};
    vms_decoder *d = NULL;
    int rc = vms_decoder_new(&d, lim, &cb, &alloc);
    vms_limits_free(lim);
    if (rc != VMS_OK) {
        VF_CHECK(rc == VMS_E_NOMEM && mem.failed && d == NULL, "decoder_new: %d", rc);
        res->rc = rc;
        vf_mem_destroy(&mem);
        return;
    }
    s.d = d;
    VF_CHECK(vms_decoder_require_auth(d, (vms_auth_mode)cfg->require_auth) == VMS_OK, "auth");
    VF_CHECK(vms_decoder_require_format(d, cfg->min_minor) == VMS_OK, "format");
    if (cfg->mac_key) {
        uint8_t id[VMS_KEY_ID_BYTES];
        vf_mac_key_id(id);
        VF_CHECK(vms_decoder_set_mac_key(d, vf_mac_key, sizeof vf_mac_key, id) == VMS_OK,
                 "mac key");
    }
    uint8_t pub[VMS_ED25519_KEY_BYTES];
    if (cfg->ed_key && vf_ed_pub(pub))
        VF_CHECK(vms_decoder_add_ed25519_key(d, pub) == VMS_OK, "ed25519 key");
    if (cfg->threads > 1)
        VF_CHECK(vms_decoder_set_threads(d, cfg->threads) == VMS_OK, "threads %u", cfg->threads);
    if (cfg->page_runs)
        VF_CHECK(vms_decoder_set_page_runs(d, 1) == VMS_OK, "page runs");
    uint64_t opt_seed = cfg->split_seed;
    vms_compat_options opt = vf_probe_options(&opt_seed);
    if (cfg->target) {
        rc = vms_decoder_set_target(d, vf_fixed_descriptor(cfg->target - 1),
                                    cfg->target_callbacks ? &opt : NULL);
        VF_CHECK(rc == VMS_OK || (rc == VMS_E_NOMEM && mem.failed), "set_target: %d", rc);
    }
    /* what the decoder allocated while being configured (the object, the
     * target copy) is outside VMS_LIMIT_BUFFERED */
    const size_t config_bytes = mem.cur;

    uint64_t rng = cfg->split_seed;
    size_t pos = 0;
    rc = VMS_OK;
    bool ended = false;
    while (pos < len) {
        size_t n = next_chunk(cfg, &rng, len - pos), used = 12345;
        s.fed_upto = pos + n;
        rc = vms_decoder_feed(d, n ? data + pos : NULL, n, &used);
        VF_CHECK(used <= n, "consumed %zu of %zu", used, n);
        VF_CHECK(vms_decoder_offset(d) == pos + used || rc < 0,
                 "offset %llu after consuming %zu", (unsigned long long)vms_decoder_offset(d),
                 pos + used);
        if (rc < 0) {
            pos += used;
            break;
        }
        VF_CHECK(rc == VMS_OK || rc == VMS_END, "feed returned %d", rc);
        VF_CHECK(used == n, "feed returned %d after consuming %zu of %zu", rc, used, n);
        VF_CHECK((rc == VMS_END) == (vms_decoder_complete(d) != 0), "complete vs %d", rc);
        VF_CHECK(s.commits == 0 && s.aborts == 0, "commit/abort during a good feed");
        /* vmstream.h: the hint is within [1 MiB, 256 MiB], or the buffer
         * limit when that is lower, whatever the stream says */
        const size_t hint = vms_decoder_feed_hint(d);
        VF_CHECK(hint >= 1 && hint <= ((size_t)256 << 20), "feed hint %zu", hint);
        pos += n;
        if (rc == VMS_END) {
            ended = true;
            VF_CHECK(vms_decoder_summary(d) != NULL, "no summary after VMS_END");
        }
    }
    if (rc >= 0 && ended && cfg->feed_trailing) {
        size_t used = 99;
        static const uint8_t extra[1] = {0};
        s.fed_upto = pos + 1;
        rc = vms_decoder_feed(d, extra, 1, &used);
        VF_CHECK(rc == VMS_E_TRAILING_DATA && used == 0, "byte after END: %d, %zu", rc, used);
    }
    if (rc >= 0) {
        /* vmstream.h: a truncated stream's parked records are verified,
         * and delivered, before finish reports the truncation */
        s.in_finish = true;
        s.finish_delivers = !ended;
        rc = vms_decoder_finish(d);
        s.in_finish = false;
        s.finish_delivers = false;
        if (ended) {
            VF_CHECK(rc == VMS_END || (cfg->refuse_commit && rc == VMS_E_CALLBACK),
                     "finish after VMS_END returned %d", rc);
        } else {
            /* truncated, or a parked record's own error */
            VF_CHECK(rc < 0 && rc != VMS_E_TRAILING_DATA, "finish before END returned %d", rc);
            VF_CHECK(s.commit_refusals == 0 && s.commits == 0, "commit without END");
        }
        if (rc == VMS_END) {
            VF_CHECK(s.commits == 1 && s.aborts == 0, "VMS_END: %d commits %d aborts",
                     s.commits, s.aborts);
            VF_CHECK(vms_decoder_complete(d), "finish VMS_END but not complete");
            s.in_finish = true;
            VF_CHECK(vms_decoder_finish(d) == VMS_END, "second finish");
            s.in_finish = false;
            VF_CHECK(s.commits == 1, "second finish committed again");
            const vms_stream_summary *sum = vms_decoder_summary(d);
            VF_CHECK(sum != NULL && sum->raw_bytes == s.raw_bytes, "summary");
            res->committed = true;
        }
    }
    if (rc < 0) {
        check_error(&s, rc);
        /* sticky: more input is refused, consumes nothing, same code */
        size_t used = 77;
        VF_CHECK(vms_decoder_feed(d, data, len ? 1 : 0, &used) == rc && used == 0,
                 "error %d not sticky on feed", rc);
        VF_CHECK(vms_decoder_feed(d, NULL, 0, NULL) == rc, "error %d not sticky (empty)", rc);
        s.in_finish = true;
        VF_CHECK(vms_decoder_finish(d) == rc, "error %d not sticky on finish", rc);
        s.in_finish = false;
        VF_CHECK(s.aborts == 1 && s.commits == 0, "abort count %d", s.aborts);
#ifndef VMSFUZZ_AVOID_NOMEM_MISREPORT /* tests/regress/decode/nomem-without-* */
        if (rc == VMS_E_NOMEM)
            VF_CHECK(mem.failed, "VMS_E_NOMEM without an allocation failure: %s",
                     vms_decoder_error(d)->message);
#endif
        /* VMS_E_NOMEM means "the allocator returned NULL": when it did, the
         * decoder must say so, not blame the stream's limits -- unless the
         * refused buffer was an optional one (the decoder's extra wire
         * slots), which it goes on without: then the outcome must be that
         * of a decode where no allocation fails. */
#ifndef VMSFUZZ_AVOID_NOMEM_MISREPORT /* tests/regress/decode/alloc-fail-* (fixed) */
        if (mem.failed && rc != VMS_E_CALLBACK && rc != VMS_E_NOMEM) {
            vf_decode_cfg again = *cfg;
            again.fail_alloc_at = 0;
            vf_decode_result w;
            vf_decode(data, len, &again, &w);
            const vms_error_info *e = vms_decoder_error(d);
            VF_CHECK(w.rc == rc && w.err_offset == e->offset && w.err_record == e->record &&
                         w.delivered == s.delivered && strcmp(w.err_msg, e->message) == 0,
                     "the allocator failed but the decoder reports %s (%s), not what it "
                     "reports when nothing fails: %s (%s)",
                     vms_strerror(rc), e->message, vms_strerror(w.rc), w.err_msg);
        }
#endif
    }
    res->rc = rc;
    res->err_code = vms_decoder_error(d)->code;
    res->err_record = vms_decoder_error(d)->record;
    res->err_offset = vms_decoder_error(d)->offset;
    snprintf(res->err_msg, sizeof res->err_msg, "%s", vms_decoder_error(d)->message);
    static int verbose = -1;
    if (verbose < 0)
        verbose = getenv("VMSFUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "vf_decode: %zu bytes, chunks <= %u: %s, %llu records delivered%s%s\n",
                len, cfg->split_max, vms_strerror(rc), (unsigned long long)s.delivered,
                rc < 0 ? ": " : "", rc < 0 ? vms_decoder_error(d)->message : "");
    const vms_header_info *vh = vms_decoder_header(d);
    const size_t hdr_max_record = vh ? vh->max_record : 0;
    /* vms_decoder_get_stats(): a body is copied at most once, so the
     * copies never exceed the bytes fed; state is held only in signed
     * streams. */
    const vms_decoder_stats *st = vms_decoder_get_stats(d);
    VF_CHECK(st->bodies_in_place <= st->bodies && st->spread_batches <= st->batches &&
                 st->batches <= st->hash_calls && st->hash_calls <= st->bodies,
             "stats: %llu bodies (%llu in place), %llu batches (%llu spread), %llu hash calls",
             (unsigned long long)st->bodies, (unsigned long long)st->bodies_in_place,
             (unsigned long long)st->batches, (unsigned long long)st->spread_batches,
             (unsigned long long)st->hash_calls);
    VF_CHECK(st->assembled_bytes + st->parked_bytes <= vms_decoder_offset(d),
             "stats: %llu + %llu body bytes copied from %llu fed",
             (unsigned long long)st->assembled_bytes, (unsigned long long)st->parked_bytes,
             (unsigned long long)vms_decoder_offset(d));
    VF_CHECK(st->held_bytes == 0 || (vh && vh->auth_mode == VMS_AUTH_ED25519),
             "stats: %llu bytes held in a stream that is not signed",
             (unsigned long long)st->held_bytes);
    vms_decoder_free(d);
    VF_CHECK(s.commits + s.aborts == 1, "after free: %d commits, %d aborts", s.commits,
             s.aborts);
    VF_CHECK(mem.cur == 0, "%zu bytes still allocated after vms_decoder_free", mem.cur);
    /* vmstream.h: VMS_LIMIT_BUFFERED bounds the stream-sized buffers; the
     * per-thread bookkeeping (batch slots, the worker pool) is a fixed
     * < 8 KiB per thread outside it (tests/regress/decode/threads-pool-*,
     * bookkeeping-over-4KiB-one-thread),
     * and, once a header verified, each extra thread may hold one record
     * buffer (max_record bytes) and one decompressor of at most 128 KiB. */
    size_t slack = (size_t)cfg->threads * 8192;
    if (hdr_max_record)
        slack += (size_t)(cfg->threads - 1) * (hdr_max_record + 64 + (128u << 10));
    VF_CHECK(mem.peak <= cfg->lim[VMS_LIMIT_BUFFERED] + config_bytes + slack,
             "decoder peak %zu bytes > buffer limit %llu + %zu bytes of configuration "
             "(decoder object %zu)", mem.peak, (unsigned long long)cfg->lim[VMS_LIMIT_BUFFERED],
             config_bytes, mem.first_size);
    res->delivered = s.delivered;
    res->raw_bytes = s.raw_bytes;
    res->content = s.content;
    res->peak = mem.peak;
    vf_mem_destroy(&mem);
    if (s.sink == 1)
        fputs("", stderr); /* keep the reads */
}

/* ---- byte mutator without libFuzzer ----------------------------------------------------------- */

static uint64_t simple_rng = 0x1234;

void vf_simple_mutate_seed(uint64_t seed)
{
    simple_rng = seed;
}

size_t vf_simple_mutate(uint8_t *data, size_t size, size_t max_size)
{
    uint64_t r = vf_rand(&simple_rng);
    switch (r % 5) {
    case 0: /* flip a bit */
        if (size)
            data[(r >> 8) % size] ^= (uint8_t)(1u << ((r >> 40) & 7));
        break;
    case 1: /* random byte */
        if (size)
            data[(r >> 8) % size] = (uint8_t)(r >> 48);
        break;
    case 2: /* grow by one byte */
        if (size < max_size) {
            size_t at = size ? (r >> 8) % (size + 1) : 0;
            memmove(data + at + 1, data + at, size - at);
            data[at] = (uint8_t)(r >> 48);
            size++;
        }
        break;
    case 3: /* shrink */
        if (size > 1)
            size -= 1 + (r >> 8) % (size / 2 + 1 < size ? size / 2 + 1 : size - 1);
        break;
    default: /* interesting value */
        if (size) {
            static const uint8_t v[] = {0, 1, 0x7f, 0x80, 0xff};
            data[(r >> 8) % size] = v[(r >> 40) % sizeof v];
        }
        break;
    }
    return size;
}

/* ---- compatibility probe ------------------------------------------------------------------- */

static const char *const fixed_texts[] = {
    "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=nvidia-11\nversion=1.3.0\n"
    "accept_types=nvidia-21\ndeny_versions=1.1.3\nfield.aggregator=2\n"
    "field.aggregator.rule=ge\nfield.pv_mode=none+ppgtt+context\n"
    "field.pv_mode.rule=superset\nfield.display=on\n",
    "vendor_id=0x00000000\ndevice_api=vfio-ccw\ntype=t\nversion=0.0.0\n",
};


static vms_compat_verdict verdict_of(uint64_t h)
{
    switch (h % 8) {
    case 0:
        return VMS_VERDICT_ACCEPT;
    case 1:
        return VMS_VERDICT_REFUSE;
    case 2:
        return VMS_VERDICT_ERROR;
    case 3:
        return (vms_compat_verdict)7; /* unknown: must be an error */
    default:
        return VMS_VERDICT_DEFAULT;
    }
}

static vms_compat_verdict probe_field(void *ctx, const char *name, const char *sv,
                                      vms_field_rule sr, const char *tv, vms_field_rule tr,
                                      char *why, size_t why_cap)
{
    const uint64_t *seed = ctx;
    VF_CHECK(name && sv && why && why_cap == VMS_COMPAT_WHY_MAX, "field callback arguments");
    VF_CHECK(why[0] == 0, "why buffer not zeroed");
    (void)sr;
    (void)tr;
    (void)tv;
    uint64_t h = vf_hash((const uint8_t *)name, strlen(name)) ^ *seed;
    memset(why, 'w', why_cap); /* the library must cope with no NUL */
    why[h % why_cap] = (char)0x07;
    return verdict_of(h >> 8);
}

static vms_compat_verdict probe_final(void *ctx, const vms_descriptor *s,
                                      const vms_descriptor *t, char *why, size_t why_cap)
{
    const uint64_t *seed = ctx;
    VF_CHECK(s && t && why && why_cap == VMS_COMPAT_WHY_MAX, "final callback arguments");
    snprintf(why, why_cap, "final \x01\xff refusal");
    return verdict_of(*seed >> 16);
}

static void compat_once(const vms_descriptor *s, const vms_descriptor *t,
                        const vms_compat_options *opt)
{
    vms_compat_result r1, r2;
    int rc = vms_compat_check(s, t, opt, &r1);
    VF_CHECK(rc == VMS_OK || rc == VMS_E_INCOMPATIBLE || (opt && rc == VMS_E_CALLBACK),
             "compat_check returned %d", rc);
    VF_CHECK((unsigned)r1.rule <= VMS_COMPAT_VENDOR_CALLBACK, "rule %d", (int)r1.rule);
    if (rc == VMS_OK)
        VF_CHECK(r1.rule == VMS_COMPAT_OK, "OK with rule %d", (int)r1.rule);
    if (rc == VMS_E_INCOMPATIBLE)
        VF_CHECK(r1.rule != VMS_COMPAT_OK, "incompatible with rule ok");
    if (!opt)
        VF_CHECK(r1.rule != VMS_COMPAT_FIELD_CALLBACK && r1.rule != VMS_COMPAT_VENDOR_CALLBACK,
                 "callback rule without callbacks");
    vf_check_printable(r1.reason, sizeof r1.reason, "compat reason");
    vf_check_printable(r1.field, sizeof r1.field, "compat field");
    VF_CHECK(strcmp(vms_compat_rule_name(r1.rule), "?") != 0, "unnamed rule");
    int rc2 = vms_compat_check(s, t, opt, &r2);
    VF_CHECK(rc == rc2 && r1.rule == r2.rule && strcmp(r1.reason, r2.reason) == 0 &&
                 strcmp(r1.field, r2.field) == 0,
             "compat_check is not deterministic");
    VF_CHECK(vms_compat_check(s, t, opt, NULL) == rc, "result differs without res");
}

void vf_compat_probe(const vms_descriptor *d, uint64_t seed)
{
    for (int i = 0; i < VF_FIXED_DESCRIPTORS; i++) {
        const vms_descriptor *f = vf_fixed_descriptor(i);
        uint64_t sd = seed;
        vms_compat_options opt = vf_probe_options(&sd);
        compat_once(d, f, NULL);
        compat_once(f, d, NULL);
        compat_once(d, f, &opt);
        compat_once(f, d, &opt);
        compat_once(d, d, &opt);
    }
}

/* ---- descriptors in streams ------------------------------------------------------------------ */

const vms_descriptor *vf_fixed_descriptor(int i)
{
    static vms_descriptor *cache[VF_FIXED_DESCRIPTORS];
    VF_CHECK(i >= 0 && i < VF_FIXED_DESCRIPTORS, "fixed descriptor %d", i);
    if (!cache[i])
        VF_CHECK(vms_descriptor_parse_text(&cache[i], fixed_texts[i], strlen(fixed_texts[i]),
                                           NULL, NULL) == VMS_OK,
                 "fixed descriptor %d", i);
    return cache[i];
}

vms_compat_options vf_probe_options(uint64_t *seed)
{
    vms_compat_options o = {probe_field, probe_final, seed};
    return o;
}

/* In on_header: a declared descriptor was decoded and matches the blob and
 * the header's vendor; with a target, the stream's descriptor really is
 * compatible with it (the decoder refuses the header otherwise). */
static void check_stream_descriptor(const vms_decoder *d, const vf_decode_cfg *c,
                                    const vms_header_info *h)
{
    const vms_descriptor *src = vms_decoder_descriptor(d);
    if (!(h->features_optional & VMS_FEAT_DESCRIPTOR)) {
        VF_CHECK(src == NULL, "a descriptor without the DESCRIPTOR feature");
        VF_CHECK(!c->target, "a stream without a descriptor passed a target check");
        return;
    }
    VF_CHECK(src != NULL, "DESCRIPTOR feature but no decoded descriptor");
    vms_descriptor *mine = NULL;
    VF_CHECK(vms_descriptor_decode(&mine, h->version_blob, h->version_blob_len, NULL, NULL) ==
                 VMS_OK,
             "the decoder accepted a descriptor blob that does not decode");
    VF_CHECK(vms_descriptor_equal(mine, src), "decoder's descriptor differs from the blob");
    VF_CHECK(vms_descriptor_get_vendor_id(src) == h->vendor_id,
             "descriptor vendor 0x%08x, header 0x%08x", vms_descriptor_get_vendor_id(src),
             h->vendor_id);
    vms_descriptor_free(mine);
    if (c->target) {
        uint64_t seed = c->split_seed;
        vms_compat_options opt = vf_probe_options(&seed);
        vms_compat_result res;
        int rc = vms_compat_check(src, vf_fixed_descriptor(c->target - 1),
                                  c->target_callbacks ? &opt : NULL, &res);
        VF_CHECK(rc == VMS_OK, "header accepted but compat_check says %d (%s: %s)", rc,
                 vms_compat_rule_name(res.rule), res.reason);
    }
}
