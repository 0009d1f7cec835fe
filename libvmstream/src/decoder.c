/* decoder.c - the hardened push decoder.
 *
 * States, named for what they await:
 *
 *   HEADER_FIXED --64 bytes--> HEADER_REST --header_length--> RECORD_HEAD
 *        |  (magic checked byte by byte;         (padding, checksum/MAC,
 *        |   fixed fields and limits checked,     policy, callbacks)
 *        |   buffers allocated)                         |
 *        v                                              v
 *   RECORD_HEAD --72 bytes--> RECORD_BODY --pad8(wire_len)--> RECORD_HEAD
 *     (every field checked          (padding, checksum/MAC, exact
 *      against the stream and        decompression, chain, delivery)
 *      the limits)                         | END record
 *                                          v
 *                                        DONE --any byte--> FAILED
 *   any error ------------------------------------------------> FAILED
 *
 * FAILED is sticky: every later call returns the first error.  No byte of a
 * record reaches on_record before that record's bounds, padding and
 * checksum (or MAC) have been verified and its payload decompressed to
 * exactly its declared length.  Memory is bounded by the limits: the buffers
 * are sized from the header's max_record (itself checked against the
 * limits) and every allocation, including the codec's, goes through a
 * counting allocator capped at VMS_LIMIT_BUFFERED.
 */
#include "b2many.h"
#include "internal.h"
#include "vmstream_compat.h"
#include "wire.h"

enum dstate {
    DS_HEADER_FIXED = 0x5601,
    DS_HEADER_REST,
    DS_RECORD_HEAD,
    DS_RECORD_BODY,
    DS_DONE,
    DS_FAILED
};

typedef struct cur_record {
    uint16_t type, flags;
    uint32_t section;
    uint64_t seq, offset;
    uint32_t phase, wire_len, raw_len;
    uint64_t start;  /* stream offset of the record header */
    size_t body_len; /* pad8(wire_len) */
} cur_record;

/* A record whose bounds and padding were checked, waiting in the batch for
 * its checksum: batches are hashed in SIMD lanes (and worker threads), then
 * verified and delivered in order.  body points into the caller's buffer
 * (inplace: valid until the feed call returns, so before it returns the
 * batch is hashed or such bodies are copied to wire slots, park()) or into
 * one of the wire slots. */
struct pend_meta;

typedef struct dec_slot {
    cur_record c;
    uint8_t rh[VMS_R_HDR];
    const uint8_t *body;
    bool inplace;
    struct pend_meta *node; /* signature mode: the hold node the hash pass
                             * copies this raw record's payload into, or
                             * that it is unpacked into */
    uint8_t prefix[VMS_PREFIX_BYTES];
    uint8_t digest[VMS_DIGEST_BYTES];
} dec_slot;

#define VMS_LANES 8
#define VMS_MAX_THREADS 64

/* Allocation accounting: each block carries its size in a 16-byte prefix. */
typedef struct counted_mem {
    vms_mem base;
    uint64_t used, cap, peak;
    bool over_budget; /* the last failure was the cap, not the allocator */
} counted_mem;

struct vms_decoder {
    vms_mem mem;       /* the caller's allocator */
    counted_mem cmem;  /* counting wrapper used for buffers and codecs */
    vms_mem bufmem;    /* vms_mem view of cmem */
    uint64_t lim[VMS_LIMIT_COUNT];
    vms_decoder_callbacks cb;
    enum dstate state;
    vms_err err;
    bool ended_cb; /* on_commit or on_abort fired */
    uint64_t off;  /* stream bytes consumed */

    /* policy */
    uint8_t require_auth;
    uint16_t min_minor;
    bool have_key;
    uint8_t key[VMS_KEY_MAX];
    size_t keylen;
    uint8_t key_id[VMS_KEY_ID_BYTES];
    uint8_t vkeys[VMS_MAX_VERIFY_KEYS][VMS_ED25519_KEY_BYTES];
    uint8_t vkey_ids[VMS_MAX_VERIFY_KEYS][VMS_KEY_ID_BYTES];
    size_t nvkeys;
    const uint8_t *vkey; /* the key the stream names, in signature mode */

    /* compatibility: the target this stream must suit, and the stream's own
     * descriptor once decoded */
    vms_descriptor *target;
    vms_compat_options compat_opt;
    bool have_compat_opt;
    vms_descriptor *source;

    /* header */
    uint8_t fixed[VMS_H_FIXED];
    size_t fill;
    uint8_t *hdr;
    vms_header_info h;
    bool have_header;
    size_t dkeylen; /* key length used for digests: keylen in MAC mode */

    /* records */
    uint8_t rh[VMS_R_HDR];
    cur_record cur;
    uint8_t *wire;       /* wire slot 0 */
    uint8_t *wire_more;  /* wire slots 1 .. nwire - 1, when the budget allows */
    size_t wire_cap;     /* bytes per wire slot */
    size_t nwire;        /* wire slots: a body spanning feeds is put together in
                          * one, and a batched body is parked in one */
    size_t wire_used;    /* slots 0 .. wire_used - 1 are taken: by batched
                          * bodies, or by the body being put together */
    uint8_t **slots;     /* the wire slots (batch_cap entries, nwire set) */
    bool wire_tried;     /* grow_wire() asked for slots 1 .. nwire - 1 */
    bool assembling;     /* a body is being put together in slots[asm_slot] */
    size_t asm_slot;
    uint8_t *raw;
    size_t raw_cap;
    bool page_runs;  /* vms_decoder_set_page_runs() */
    vms_run *runs;   /* when page-mapped records go out in runs: room for
                      * max_record / 4096 + 1 of them */
    vms_codec_ctx *codec;
    uint64_t next_seq;
    uint32_t last_phase;
    uint64_t raw_total;
    uint8_t chain[VMS_DIGEST_BYTES];
    vms_stream_summary sum;
    bool have_sum;

    /* batch of records awaiting their checksums */
    unsigned threads;
    vms_pool *pool;
    dec_slot *batch;
    vms_b2_lane *lanes;
    size_t nbatch, batch_cap;
    bool flushing;
    struct unpack_task *tasks; /* ntasks: 1, or threads when records unpack */
    size_t ntasks;

    /* signature mode: verified records held until a signature covers them */
    struct pend_meta *pend_head, *pend_tail;
    struct pend_meta *pend_free; /* released nodes kept for reuse */
    uint64_t held;

    vms_decoder_stats st; /* vms_decoder_get_stats(); the caller's thread only */
};

/* A held record: this header, then its data. */
typedef struct pend_meta {
    struct pend_meta *next;
    uint64_t index, offset, stream_offset;
    uint32_t section, phase, len, wire_len;
    uint32_t cap; /* data bytes this node can hold */
    uint16_t flags;
} pend_meta;

static void *counted_alloc(void *opaque, size_t size)
{
    counted_mem *c = opaque;
    c->over_budget = size > SIZE_MAX - 16 || size + 16 > c->cap - c->used;
    if (c->over_budget)
        return NULL;
    uint8_t *p = c->base.alloc(c->base.opaque, size + 16);
    if (!p)
        return NULL;
    memcpy(p, &size, sizeof size);
    c->used += size + 16;
    if (c->used > c->peak)
        c->peak = c->used;
    return p + 16;
}

static void counted_free(void *opaque, void *ptr)
{
    counted_mem *c = opaque;
    if (!ptr)
        return;
    uint8_t *p = (uint8_t *)ptr - 16;
    size_t size;
    memcpy(&size, p, sizeof size);
    c->used -= size + 16;
    c->base.free(c->base.opaque, p);
}

/* ---- errors ------------------------------------------------------------- */

/* An allocation through the counting allocator failed: the buffer limit
 * (a property of the stream) or the caller's allocator (a resource). */
static int nomem_code(const vms_decoder *d)
{
    return d->cmem.over_budget ? VMS_E_LIMIT_BUFFERED : VMS_E_NOMEM;
}

static void fire_abort(vms_decoder *d)
{
    if (d->ended_cb)
        return;
    d->ended_cb = true;
    if (d->cb.on_abort)
        (void)d->cb.on_abort(d->cb.ctx, &d->err.info);
}

/* Latches the error already recorded in d->err. */
static int fail(vms_decoder *d)
{
    d->state = DS_FAILED;
    fire_abort(d);
    return d->err.info.code;
}

static int flush(vms_decoder *d);

/* Records already in the batch come before the failing one: they are
 * verified (and delivered) first, so errors are reported in stream order
 * whatever the batching. */
static bool flush_failed(vms_decoder *d)
{
    return d->nbatch && !d->flushing && flush(d) != VMS_OK;
}

#define FAIL(d, code_, off_, rec_, ...)                                       \
    (flush_failed(d) ? (d)->err.info.code                                    \
                     : (vms_err_set(&(d)->err, (code_), (off_), (rec_), __VA_ARGS__), \
                        fail(d)))

static void drop_held(vms_decoder *d);
static void free_spares(vms_decoder *d);
static void free_tasks(vms_decoder *d);
static int setup_tasks(vms_decoder *d);

/* ---- creation ----------------------------------------------------------- */

vms_status vms_decoder_new(vms_decoder **out, const vms_limits *lim,
                           const vms_decoder_callbacks *cb, const vms_allocator *mem)
{
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = NULL;
    vms_mem m;
    vms_mem_init(&m, mem);
    vms_decoder *d = vms_calloc(&m, sizeof *d);
    if (!d)
        return VMS_E_NOMEM;
    d->mem = m;
    if (lim)
        memcpy(d->lim, lim->v, sizeof d->lim);
    else
        vms_limits_defaults(d->lim);
    if (cb)
        d->cb = *cb;
    d->cmem.base = m;
    d->cmem.cap = d->lim[VMS_LIMIT_BUFFERED];
    d->bufmem.alloc = counted_alloc;
    d->bufmem.free = counted_free;
    d->bufmem.opaque = &d->cmem;
    d->state = DS_HEADER_FIXED;
    d->threads = 1;
    vms_err_clear(&d->err);
    *out = d;
    return VMS_OK;
}

void vms_decoder_free(vms_decoder *d)
{
    if (!d)
        return;
    if (!d->ended_cb) {
        if (d->err.info.code == VMS_OK)
            vms_err_set(&d->err, VMS_E_TRUNCATED, d->off, UINT64_MAX,
                        "decoder freed after %llu bytes without a committed stream",
                        (unsigned long long)d->off);
        fire_abort(d);
    }
    vms_codec_free(d->codec);
    vms_free(&d->bufmem, d->hdr);
    vms_free(&d->bufmem, d->wire);
    vms_free(&d->bufmem, d->wire_more);
    vms_free(&d->bufmem, d->raw);
    vms_free(&d->mem, d->runs);
    drop_held(d);
    vms_pool_free(d->pool);
    free_tasks(d);
    vms_free(&d->mem, d->batch);
    vms_free(&d->mem, d->lanes);
    vms_free(&d->mem, d->slots);
    vms_descriptor_free(d->target);
    vms_descriptor_free(d->source);
    memset(d->key, 0, sizeof d->key);
    vms_mem m = d->mem;
    vms_free(&m, d);
}

static bool configurable(const vms_decoder *d)
{
    return d->state == DS_HEADER_FIXED && d->fill == 0 && d->off == 0;
}

vms_status vms_decoder_require_auth(vms_decoder *d, vms_auth_mode mode)
{
    if (!d || (unsigned)mode > VMS_AUTH_ED25519)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    d->require_auth = (uint8_t)mode;
    return VMS_OK;
}

vms_status vms_decoder_require_format(vms_decoder *d, uint16_t min_minor)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    d->min_minor = min_minor;
    return VMS_OK;
}

vms_status vms_decoder_set_mac_key(vms_decoder *d, const uint8_t *key, size_t key_len,
                                   const uint8_t key_id[VMS_KEY_ID_BYTES])
{
    if (!d || !key || !key_id || key_len < 16 || key_len > VMS_KEY_MAX)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    memcpy(d->key, key, key_len);
    d->keylen = key_len;
    memcpy(d->key_id, key_id, VMS_KEY_ID_BYTES);
    d->have_key = true;
    return VMS_OK;
}

vms_status vms_decoder_add_ed25519_key(vms_decoder *d,
                                       const uint8_t pub[VMS_ED25519_KEY_BYTES])
{
    if (!d || !pub)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    if (!vms_have_ed25519())
        return VMS_E_UNSUPPORTED;
    if (d->nvkeys == VMS_MAX_VERIFY_KEYS)
        return VMS_E_INVALID_ARG;
    memcpy(d->vkeys[d->nvkeys], pub, VMS_ED25519_KEY_BYTES);
    vms_key_id(pub, VMS_ED25519_KEY_BYTES, d->vkey_ids[d->nvkeys]);
    d->nvkeys++;
    return VMS_OK;
}

vms_status vms_decoder_set_threads(vms_decoder *d, unsigned threads)
{
    if (!d || threads < 1 || threads > VMS_MAX_THREADS)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    d->threads = threads;
    return VMS_OK;
}

vms_status vms_decoder_set_page_runs(vms_decoder *d, int on)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    d->page_runs = on != 0;
    return VMS_OK;
}

vms_status vms_decoder_set_target(vms_decoder *d, const vms_descriptor *target,
                                  const vms_compat_options *opt)
{
    if (!d || !target)
        return VMS_E_INVALID_ARG;
    if (!configurable(d))
        return VMS_E_STATE;
    vms_status rc = vms_descriptor_validate(target);
    if (rc)
        return rc;
    vms_allocator a = {d->mem.alloc, d->mem.free, d->mem.opaque};
    vms_descriptor *copy;
    rc = vms_descriptor_clone(&copy, target, &a);
    if (rc)
        return rc;
    vms_descriptor_free(d->target);
    d->target = copy;
    d->have_compat_opt = opt != NULL;
    if (opt)
        d->compat_opt = *opt;
    return VMS_OK;
}

const vms_descriptor *vms_decoder_descriptor(const vms_decoder *d)
{
    return d ? d->source : NULL;
}

/* ---- accessors ------------------------------------------------------------ */

int vms_decoder_complete(const vms_decoder *d)
{
    return d && d->state == DS_DONE;
}

const vms_error_info *vms_decoder_error(const vms_decoder *d)
{
    return &d->err.info;
}

uint64_t vms_decoder_offset(const vms_decoder *d)
{
    return d ? d->off : 0;
}

size_t vms_decoder_feed_hint(const vms_decoder *d)
{
    const uint64_t lo = (uint64_t)1 << 20, hi = (uint64_t)256 << 20;
    if (!d || !d->have_header)
        return (size_t)lo;
    /* max_record comes from the stream: the caller's buffer limit also caps
     * what the hint asks the caller to allocate. */
    const uint64_t cap = d->lim[VMS_LIMIT_BUFFERED] < hi ? d->lim[VMS_LIMIT_BUFFERED] : hi;
    const uint64_t full = VMS_R_HDR + vms_pad8(d->h.max_record);
    /* The rest of the record being read, then the records that fill the
     * batch, so that a feed of the hint ends where a batch of full-size
     * records does: their bodies are hashed in place, in full lanes, none
     * put together from two feeds nor parked. */
    uint64_t rest = 0;
    if (d->state == DS_RECORD_BODY)
        rest = d->cur.body_len - d->fill;
    else if (d->state == DS_RECORD_HEAD && d->fill > 0)
        rest = full - d->fill;
    const size_t used = d->nbatch + (rest > 0); /* at most batch_cap */
    const size_t more = used < d->batch_cap ? d->batch_cap - used : d->batch_cap;
    uint64_t want = rest + (uint64_t)more * full;
    return (size_t)(want > cap ? cap : want < lo ? lo : want);
}

const vms_header_info *vms_decoder_header(const vms_decoder *d)
{
    return d && d->have_header ? &d->h : NULL;
}

const vms_stream_summary *vms_decoder_summary(const vms_decoder *d)
{
    return d && d->have_sum ? &d->sum : NULL;
}

uint64_t vms_decoder_peak_memory(const vms_decoder *d)
{
    return d->cmem.peak;
}

/* ---- header ----------------------------------------------------------------- */

static int header_fixed_done(vms_decoder *d)
{
    vms_header_info *h = &d->h;
    int rc = vms_header_check_fixed(d->fixed, h, d->lim, &d->err);
    if (rc)
        return fail(d);
    const uint64_t R = UINT64_MAX;
    if (h->format_minor < d->min_minor)
        return FAIL(d, VMS_E_POLICY, VMS_H_MINOR, R,
                    "format version %u.%u is older than the %u.%u this receiver "
                    "requires", h->format_major, h->format_minor, VMS_FORMAT_MAJOR,
                    d->min_minor);
    if (h->auth_mode < d->require_auth) {
        static const char *const names[] = {"none", "MAC", "Ed25519 signature"};
        return FAIL(d, VMS_E_AUTH_REQUIRED, VMS_H_AUTH, R,
                    "stream authentication is '%s' but this receiver requires at "
                    "least '%s'", names[h->auth_mode], names[d->require_auth]);
    }
    if (h->auth_mode == VMS_AUTH_ED25519) {
        if (!vms_have_ed25519())
            return FAIL(d, VMS_E_UNSUPPORTED, VMS_H_AUTH, R,
                        "stream is signed (Ed25519) but this library was built "
                        "without OpenSSL");
        for (size_t i = 0; i < d->nvkeys && !d->vkey; i++)
            if (memcmp(d->vkey_ids[i], h->key_id, VMS_KEY_ID_BYTES) == 0)
                d->vkey = d->vkeys[i];
        if (!d->vkey)
            return FAIL(d, VMS_E_UNKNOWN_KEY, VMS_H_KEY_ID, R,
                        "stream is signed by key id %02x%02x%02x%02x%02x%02x%02x%02x, "
                        "which is not among the %zu accepted verification keys",
                        h->key_id[0], h->key_id[1], h->key_id[2], h->key_id[3],
                        h->key_id[4], h->key_id[5], h->key_id[6], h->key_id[7],
                        d->nvkeys);
    }
    if (h->auth_mode == VMS_AUTH_MAC) {
        if (!d->have_key)
            return FAIL(d, VMS_E_UNKNOWN_KEY, VMS_H_KEY_ID, R,
                        "stream is MAC-authenticated but no MAC key was given");
        if (!vms_digest_equal(h->key_id, d->key_id, VMS_KEY_ID_BYTES) ||
            memcmp(h->key_id, d->key_id, VMS_KEY_ID_BYTES) != 0)
            return FAIL(d, VMS_E_UNKNOWN_KEY, VMS_H_KEY_ID, R,
                        "stream MAC key id %02x%02x%02x%02x%02x%02x%02x%02x is not "
                        "the configured key's id",
                        h->key_id[0], h->key_id[1], h->key_id[2], h->key_id[3],
                        h->key_id[4], h->key_id[5], h->key_id[6], h->key_id[7]);
        d->dkeylen = d->keylen;
    }
    if (h->header_length > d->lim[VMS_LIMIT_TOTAL_BYTES])
        return FAIL(d, VMS_E_LIMIT_TOTAL, VMS_H_LENGTH, R,
                    "header of %u bytes exceeds the total stream limit of %llu",
                    h->header_length,
                    (unsigned long long)d->lim[VMS_LIMIT_TOTAL_BYTES]);
    if (h->codec != VMS_CODEC_NONE && !vms_codec_available((vms_codec)h->codec))
        return FAIL(d, VMS_E_UNSUPPORTED, VMS_H_CODEC, R,
                    "stream is compressed with codec %u, not built into this "
                    "library", h->codec);

    /* Buffers: sized by the header's max_record, already within limits. */
    /* Control records (END, CHECKPOINT) have fixed sizes of their own,
     * independent of max_record: the buffer holds the largest of them. */
    d->wire_cap = (size_t)vms_pad8(h->max_record > VMS_END_PAYLOAD_SIGNED
                                       ? h->max_record
                                       : VMS_END_PAYLOAD_SIGNED);
    d->raw_cap = h->codec != VMS_CODEC_NONE || (h->features_required & VMS_FEAT_PAGEMAP)
                     ? h->max_record
                     : 0;
    /* The budget covers what the stream decides; the per-thread bookkeeping
     * below (batch slots, the pool) is a fixed few KiB per thread taken
     * from the caller's allocator outside it, so that the outcome never
     * depends on the thread count. */
    d->batch_cap = (size_t)VMS_LANES * d->threads;
    uint64_t need = (uint64_t)h->header_length + d->wire_cap + d->raw_cap + 3 * 16;
    if (need > d->lim[VMS_LIMIT_BUFFERED])
        return FAIL(d, VMS_E_LIMIT_RECORD, VMS_H_MAX_RECORD, R,
                    "records of up to %u bytes need %llu bytes of buffers, above "
                    "this decoder's buffer limit of %llu",
                    h->max_record, (unsigned long long)need,
                    (unsigned long long)d->lim[VMS_LIMIT_BUFFERED]);
    d->hdr = vms_malloc(&d->bufmem, h->header_length);
    d->wire = vms_malloc(&d->bufmem, d->wire_cap);
    if (d->raw_cap)
        d->raw = vms_malloc(&d->bufmem, d->raw_cap);
    d->batch = vms_malloc(&d->mem, sizeof *d->batch * d->batch_cap);
    d->lanes = vms_malloc(&d->mem, sizeof *d->lanes * d->batch_cap);
    d->slots = vms_malloc(&d->mem, sizeof *d->slots * d->batch_cap);
    /* Runs only for records delivered at once: an Ed25519 stream holds
     * each record's bytes until a signature covers them. */
    const bool runs = d->page_runs && (h->features_required & VMS_FEAT_PAGEMAP) &&
                      h->auth_mode != VMS_AUTH_ED25519;
    if (runs) /* max_record is within the limits already */
        d->runs = vms_malloc(&d->mem, sizeof *d->runs *
                                          ((h->max_record + VMS_PAGE - 1) / VMS_PAGE + 1));
    if (!d->hdr || !d->wire || (d->raw_cap && !d->raw) || !d->batch || !d->lanes || !d->slots ||
        (runs && !d->runs))
        return FAIL(d, VMS_E_NOMEM, 0, R, "out of memory for decoder buffers");
    d->slots[0] = d->wire;
    d->nwire = 1; /* more when first wanted, grow_wire() */
    if (d->threads > 1 && vms_pool_new(&d->pool, &d->mem, d->threads - 1) != VMS_OK)
        return FAIL(d, VMS_E_NOMEM, 0, R, "cannot start %u decoder threads", d->threads);
    if (h->codec != VMS_CODEC_NONE) {
        rc = vms_codec_new(&d->codec, &d->bufmem, (vms_codec)h->codec, 0, false);
        if (rc == VMS_E_NOMEM && d->cmem.over_budget)
            return FAIL(d, VMS_E_LIMIT_RECORD, VMS_H_CODEC, R,
                        "cannot set up the decompressor within the buffer limit of "
                        "%llu bytes", (unsigned long long)d->lim[VMS_LIMIT_BUFFERED]);
        if (rc)
            return FAIL(d, rc, VMS_H_CODEC, R, "cannot set up the decompressor (%s)",
                        vms_strerror(rc));
    }
    memcpy(d->hdr, d->fixed, VMS_H_FIXED);
    d->fill = VMS_H_FIXED;
    d->state = DS_HEADER_REST;
    return VMS_OK;
}

/* The header's device descriptor: decoded and checked against the header
 * whenever the stream declares one, and against the target when one is
 * set.  Runs after the header checksum/MAC verified, before any record. */
static int check_descriptor(vms_decoder *d)
{
    const uint64_t R = UINT64_MAX;
    const vms_header_info *h = &d->h;
    if (h->features_optional & VMS_FEAT_DESCRIPTOR) {
        vms_allocator a = {d->bufmem.alloc, d->bufmem.free, d->bufmem.opaque};
        vms_descriptor_error de;
        int rc = vms_descriptor_decode(&d->source, h->version_blob, h->version_blob_len,
                                       &a, &de);
        if (rc == VMS_E_NOMEM)
            return FAIL(d, nomem_code(d), VMS_H_FIXED, R,
                        "no memory for the descriptor within the buffer limit of %llu",
                        (unsigned long long)d->lim[VMS_LIMIT_BUFFERED]);
        if (rc)
            return FAIL(d, VMS_E_BAD_DESCRIPTOR, VMS_H_FIXED + de.offset, R,
                        "the header's device descriptor is invalid at blob byte %llu: %s",
                        (unsigned long long)de.offset, de.message);
        uint32_t dv = vms_descriptor_get_vendor_id(d->source);
        if (dv != h->vendor_id)
            return FAIL(d, VMS_E_BAD_DESCRIPTOR, VMS_H_VENDOR, R,
                        "the descriptor's vendor id 0x%08x differs from the header's "
                        "0x%08x", dv, h->vendor_id);
    }
    if (!d->target)
        return VMS_OK;
    if (!d->source)
        return FAIL(d, VMS_E_INCOMPATIBLE, VMS_H_FEAT_OPT, R,
                    "the stream carries no device descriptor, so it cannot be checked "
                    "against the target device");
    vms_compat_result res;
    int rc = vms_compat_check(d->source, d->target,
                              d->have_compat_opt ? &d->compat_opt : NULL, &res);
    if (rc == VMS_E_INCOMPATIBLE)
        return FAIL(d, VMS_E_INCOMPATIBLE, VMS_H_FIXED, R, "incompatible device (%s): %s",
                    vms_compat_rule_name(res.rule), res.reason);
    if (rc)
        return FAIL(d, rc, VMS_H_FIXED, R, "the compatibility check failed: %s",
                    res.reason);
    return VMS_OK;
}

/* Wire slots beyond the first let every SIMD batch be whole whatever the
 * feed sizes: bodies that span feeds are put together each in its own slot,
 * and a short batch left at the end of a feed is parked rather than hashed
 * in mostly idle lanes (park()).  They are an optimisation: allocated the
 * first time one is wanted (so a caller feeding vms_decoder_feed_hint()
 * bytes seldom pays for them), up to one per batch entry, only from the
 * VMS_LIMIT_BUFFERED budget left then, and only in streams without a codec
 * or Ed25519 holding.  If the budget or the allocator refuses them, the
 * decoder goes on without them (asking once): they never decide whether a
 * stream is accepted, and without them decoding is only slower.  Returns
 * whether there are slots to add to now. */
static bool grow_wire(vms_decoder *d)
{
    if (d->nwire > 1 || d->wire_tried || d->h.codec != VMS_CODEC_NONE ||
        d->h.auth_mode == VMS_AUTH_ED25519)
        return false;
    d->wire_tried = true;
    const uint64_t cap = d->lim[VMS_LIMIT_BUFFERED], used = d->cmem.used + 16;
    uint64_t more = used < cap ? (cap - used) / d->wire_cap : 0;
    if (more > d->batch_cap - 1)
        more = d->batch_cap - 1;
    /* wire_cap comes from the stream's max_record: on a 32-bit size_t,
     * 63 slots of 64 MiB would not fit in the allocation's size */
    if (more > SIZE_MAX / d->wire_cap)
        more = SIZE_MAX / d->wire_cap;
    if (more == 0)
        return false;
    d->wire_more = vms_malloc(&d->bufmem, (size_t)more * d->wire_cap);
    if (!d->wire_more)
        return false;
    d->nwire = 1 + (size_t)more;
    for (size_t k = 1; k < d->nwire; k++)
        d->slots[k] = d->wire_more + (k - 1) * d->wire_cap;
    return true;
}

static int header_done(vms_decoder *d)
{
    if (vms_header_check_rest(d->hdr, &d->h, d->key, d->dkeylen, &d->err))
        return fail(d);
    d->have_header = true; /* its checksum/MAC verified: callers may read it */
    if (check_descriptor(d))
        return d->err.info.code;
    memcpy(d->chain, d->h.header_digest, VMS_DIGEST_BYTES);
    if (d->cb.on_header && d->cb.on_header(d->cb.ctx, &d->h) != 0)
        return FAIL(d, VMS_E_CALLBACK, d->off, UINT64_MAX,
                    "the header callback refused the stream");
    /* Only a verified, accepted header gets the per-thread buffers. */
    if (setup_tasks(d) != VMS_OK)
        return FAIL(d, VMS_E_NOMEM, d->off, UINT64_MAX,
                    "out of memory for the decompression buffers of %u decoder "
                    "threads", d->threads);
    d->state = DS_RECORD_HEAD;
    d->fill = 0;
    return VMS_OK;
}

/* ---- records ---------------------------------------------------------------- */

static int record_head_done(vms_decoder *d)
{
    const uint8_t *p = d->rh;
    cur_record *c = &d->cur;
    const uint64_t s = d->off - VMS_R_HDR; /* record start */
    c->start = s;
    c->type = vms_le16(p + VMS_R_TYPE);
    c->flags = vms_le16(p + VMS_R_FLAGS);
    c->section = vms_le32(p + VMS_R_SECTION);
    c->seq = vms_le64(p + VMS_R_SEQ);
    c->offset = vms_le64(p + VMS_R_OFFSET);
    c->phase = vms_le32(p + VMS_R_PHASE);
    c->wire_len = vms_le32(p + VMS_R_WIRE_LEN);
    c->raw_len = vms_le32(p + VMS_R_RAW_LEN);
    const uint64_t n = d->next_seq;
    const uint32_t maxr = d->h.max_record;

    if (c->seq != n)
        return FAIL(d, VMS_E_BAD_SEQUENCE, s + VMS_R_SEQ, n,
                    "record at offset %llu has sequence number %llu, expected %llu "
                    "(a record was dropped, duplicated or reordered)",
                    (unsigned long long)s, (unsigned long long)c->seq,
                    (unsigned long long)n);
    if (c->flags & ~VMS_RF_KNOWN)
        return FAIL(d, VMS_E_BAD_RECORD_FLAGS, s + VMS_R_FLAGS, n,
                    "record %llu has unknown flag bits 0x%04x",
                    (unsigned long long)n, c->flags & ~VMS_RF_KNOWN);
    if (vms_le32(p + VMS_R_RESERVED) != 0)
        return FAIL(d, VMS_E_NONZERO_PADDING, s + VMS_R_RESERVED, n,
                    "record %llu reserved field is 0x%08x, must be 0",
                    (unsigned long long)n, vms_le32(p + VMS_R_RESERVED));
    const bool control = c->type == VMS_REC_END ||
                         (c->type == VMS_REC_CHECKPOINT &&
                          d->h.auth_mode == VMS_AUTH_ED25519);
    if (c->wire_len > maxr && !control)
        return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_WIRE_LEN, n,
                    "record %llu payload of %u bytes exceeds the stream's declared "
                    "max record size %u", (unsigned long long)n, c->wire_len, maxr);
    if (c->wire_len > d->lim[VMS_LIMIT_RECORD_PAYLOAD] && !control)
        return FAIL(d, VMS_E_LIMIT_RECORD, s + VMS_R_WIRE_LEN, n,
                    "record %llu payload of %u bytes exceeds the record payload "
                    "limit of %llu", (unsigned long long)n, c->wire_len,
                    (unsigned long long)d->lim[VMS_LIMIT_RECORD_PAYLOAD]);
    c->body_len = (size_t)vms_pad8(c->wire_len);
    uint64_t rec_end = s + VMS_R_HDR + c->body_len;
    if (rec_end > d->lim[VMS_LIMIT_TOTAL_BYTES])
        return FAIL(d, VMS_E_LIMIT_TOTAL, s + VMS_R_WIRE_LEN, n,
                    "record %llu would end the stream at byte %llu, beyond the total "
                    "limit of %llu", (unsigned long long)n, (unsigned long long)rec_end,
                    (unsigned long long)d->lim[VMS_LIMIT_TOTAL_BYTES]);

    const bool signed_mode = d->h.auth_mode == VMS_AUTH_ED25519;
    if (c->type == VMS_REC_END || (c->type == VMS_REC_CHECKPOINT && signed_mode)) {
        const bool end = c->type == VMS_REC_END;
        uint32_t want = !end ? VMS_CHECKPOINT_PAYLOAD
                        : signed_mode ? VMS_END_PAYLOAD_SIGNED : VMS_END_PAYLOAD;
        if (c->flags || c->section || c->offset || c->phase)
            return FAIL(d, end ? VMS_E_BAD_END : VMS_E_BAD_RECORD_FLAGS, s, n,
                        "%s record %llu has non-zero flags, section, offset or phase",
                        end ? "END" : "checkpoint", (unsigned long long)n);
        if (c->wire_len != want || c->raw_len != want)
            return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_WIRE_LEN, n,
                        "%s record lengths %u/%u, expected %u/%u",
                        end ? "END" : "checkpoint", c->wire_len, c->raw_len, want, want);
        if (!end && n >= d->lim[VMS_LIMIT_RECORDS])
            return FAIL(d, VMS_E_LIMIT_RECORDS, s, n,
                        "record %llu exceeds the record-count limit of %llu",
                        (unsigned long long)n,
                        (unsigned long long)d->lim[VMS_LIMIT_RECORDS]);
    } else {
        if (n >= d->lim[VMS_LIMIT_RECORDS])
            return FAIL(d, VMS_E_LIMIT_RECORDS, s, n,
                        "record %llu exceeds the record-count limit of %llu",
                        (unsigned long long)n,
                        (unsigned long long)d->lim[VMS_LIMIT_RECORDS]);
        if (c->type == VMS_REC_CHECKPOINT)
            return FAIL(d, VMS_E_UNKNOWN_RECORD, s + VMS_R_TYPE, n,
                        "record %llu is a signed checkpoint in a stream that is "
                        "not signed", (unsigned long long)n);
        if (c->type != VMS_REC_STATE && !(c->flags & VMS_RF_OPTIONAL))
            return FAIL(d, VMS_E_UNKNOWN_RECORD, s + VMS_R_TYPE, n,
                        "record %llu has unknown mandatory type 0x%04x",
                        (unsigned long long)n, c->type);
        if (c->raw_len > maxr)
            return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_RAW_LEN, n,
                        "record %llu uncompressed length %u exceeds the stream's "
                        "declared max record size %u", (unsigned long long)n,
                        c->raw_len, maxr);
        if ((c->flags & VMS_RF_PAGEMAP) &&
            (c->type != VMS_REC_STATE || !(d->h.features_required & VMS_FEAT_PAGEMAP)))
            return FAIL(d, VMS_E_BAD_RECORD_FLAGS, s + VMS_R_FLAGS, n,
                        "record %llu has a page map but %s", (unsigned long long)n,
                        c->type != VMS_REC_STATE ? "is not a state record"
                                                 : "the stream does not declare page maps");
        if (c->flags & VMS_RF_PAGEMAP) {
            if (c->flags & VMS_RF_COMPRESSED && d->h.codec == VMS_CODEC_NONE)
                return FAIL(d, VMS_E_BAD_RECORD_FLAGS, s + VMS_R_FLAGS, n,
                            "record %llu is flagged compressed but the stream "
                            "declares no codec", (unsigned long long)n);
            if (c->wire_len >= c->raw_len)
                return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_WIRE_LEN, n,
                            "page-mapped record %llu has %u wire bytes for %u bytes "
                            "of state (must be fewer)", (unsigned long long)n,
                            c->wire_len, c->raw_len);
        } else if (c->flags & VMS_RF_COMPRESSED) {
            if (d->h.codec == VMS_CODEC_NONE)
                return FAIL(d, VMS_E_BAD_RECORD_FLAGS, s + VMS_R_FLAGS, n,
                            "record %llu is flagged compressed but the stream "
                            "declares no codec", (unsigned long long)n);
            if (c->wire_len == 0 || c->wire_len >= c->raw_len)
                return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_WIRE_LEN, n,
                            "compressed record %llu has %u wire bytes for %u "
                            "uncompressed (must be 1..%u)", (unsigned long long)n,
                            c->wire_len, c->raw_len, c->raw_len ? c->raw_len - 1 : 0);
        } else if (c->wire_len != c->raw_len) {
            return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_RAW_LEN, n,
                        "uncompressed record %llu has wire length %u but length %u",
                        (unsigned long long)n, c->wire_len, c->raw_len);
        }
        if (c->type == VMS_REC_STATE) {
            if (c->raw_len == 0)
                return FAIL(d, VMS_E_BAD_LENGTH, s + VMS_R_RAW_LEN, n,
                            "state record %llu is empty", (unsigned long long)n);
            if (c->offset > UINT64_MAX - c->raw_len)
                return FAIL(d, VMS_E_BAD_OFFSET, s + VMS_R_OFFSET, n,
                            "record %llu offset %llu + length %u overflows",
                            (unsigned long long)n, (unsigned long long)c->offset,
                            c->raw_len);
            if (c->phase < d->last_phase)
                return FAIL(d, VMS_E_BAD_PHASE, s + VMS_R_PHASE, n,
                            "record %llu is in phase %u after phase %u: phases "
                            "never go back", (unsigned long long)n, c->phase,
                            d->last_phase);
        }
    }
    d->state = DS_RECORD_BODY;
    d->fill = 0;
    return VMS_OK;
}

/* Verifies a checkpoint's or the END record's signature over the state
 * received so far. */
static int check_signature(vms_decoder *d, uint8_t kind, const uint8_t *sig)
{
    const cur_record *c = &d->cur;
    uint8_t msg[VMS_SIG_MSG_BYTES];
    vms_sig_message(msg, kind, &d->h, c->seq, c->seq, d->raw_total, c->start, d->chain);
    if (vms_ed25519_verify_raw(d->vkey, msg, sizeof msg, sig) != VMS_OK)
        return FAIL(d, VMS_E_BAD_SIGNATURE, c->start + VMS_R_HDR, c->seq,
                    "%s record %llu at offset %llu: Ed25519 signature does not "
                    "verify (modified stream or a signature by another key)",
                    kind == VMS_SIG_KIND_END ? "END" : "checkpoint",
                    (unsigned long long)c->seq, (unsigned long long)c->start);
    return VMS_OK;
}

static int deliver(vms_decoder *d, const vms_record *r)
{
    if (d->cb.on_record && d->cb.on_record(d->cb.ctx, r) != 0)
        return FAIL(d, VMS_E_CALLBACK, r->stream_offset, r->index,
                    "the record callback refused record %llu",
                    (unsigned long long)r->index);
    return VMS_OK;
}

/* A hold node for len bytes of data, or NULL if refused.  A released node
 * is reused when it is big enough (records are mostly of one size): a
 * malloc/free per record costs half the speed of signed decoding.
 * Otherwise the spare nodes are freed first, so that they never count
 * against the budget a new node needs.  The node's cap is set. */
/* len is a record's raw_len: at most the header's max_record, which
 * record_head_done() and the limits keep within VMS_MAX_RECORD_BYTES, so
 * the allocation's size cannot wrap. */
_Static_assert(VMS_MAX_RECORD_BYTES < SIZE_MAX / 2, "a hold node's size cannot wrap");
static pend_meta *take_node(vms_decoder *d, uint32_t len)
{
    pend_meta *m = d->pend_free;
    if (m && m->cap >= len) {
        d->pend_free = m->next;
        return m;
    }
    free_spares(d);
    m = vms_malloc(&d->bufmem, sizeof(pend_meta) + len);
    if (m)
        m->cap = len;
    return m;
}

/* Puts an unused node back for reuse. */
static void put_node(vms_decoder *d, pend_meta *m)
{
    m->next = d->pend_free;
    d->pend_free = m;
}

/* Signature mode: holds a verified record until a signature covers it.
 * Each held record is one allocation from the counted allocator, so the
 * held bytes are bounded by VMS_LIMIT_BUFFERED exactly.  pre: a node
 * taken for this record before it was hashed, its data already copied
 * there by the hash pass (flush()), or NULL. */
static int hold(vms_decoder *d, const vms_record *r, pend_meta *pre)
{
    pend_meta *m = pre ? pre : take_node(d, (uint32_t)r->len); /* a raw_len */
    if (!m && !d->cmem.over_budget)
        return FAIL(d, VMS_E_NOMEM, r->stream_offset, r->index,
                    "out of memory holding record %llu until its signature",
                    (unsigned long long)r->index);
    if (!m)
        return FAIL(d, VMS_E_LIMIT_BUFFERED, r->stream_offset, r->index,
                    "%llu bytes of state await a signature: above this decoder's "
                    "buffer limit of %llu (the stream's checkpoints are too "
                    "sparse)", (unsigned long long)(d->held + r->len),
                    (unsigned long long)d->lim[VMS_LIMIT_BUFFERED]);
    *m = (pend_meta){NULL,     r->index,         r->offset,   r->stream_offset, r->section,
                     r->phase, (uint32_t)r->len, r->wire_len, m->cap,          r->flags};
    if (!pre)
        memcpy(m + 1, r->data, r->len);
    /* A copy made here, or by the hash pass (a raw record's node taken
     * before it); a packed record unpacked into its node was not copied. */
    if (!pre || !(r->flags & (VMS_RF_PAGEMAP | VMS_RF_COMPRESSED)))
        d->st.held_bytes += r->len;
    if (d->pend_tail)
        d->pend_tail->next = m;
    else
        d->pend_head = m;
    d->pend_tail = m;
    d->held += r->len;
    return VMS_OK;
}

static void free_spares(vms_decoder *d)
{
    while (d->pend_free) {
        pend_meta *next = d->pend_free->next;
        vms_free(&d->bufmem, d->pend_free);
        d->pend_free = next;
    }
}

static void drop_held(vms_decoder *d)
{
    free_spares(d);
    pend_meta *m = d->pend_head;
    while (m) {
        pend_meta *next = m->next;
        vms_free(&d->bufmem, m);
        m = next;
    }
    d->pend_head = d->pend_tail = NULL;
    d->held = 0;
}

/* Delivers every held record, in order, and frees it. */
static int release(vms_decoder *d)
{
    while (d->pend_head) {
        pend_meta *m = d->pend_head;
        vms_record r = {m->index,         m->section,  m->offset, m->phase,
                        (const uint8_t *)(m + 1), m->len, m->stream_offset,
                        m->wire_len,      m->flags,    NULL,      0};
        int rc = deliver(d, &r);
        if (rc)
            return rc;
        d->pend_head = m->next;
        if (!d->pend_head)
            d->pend_tail = NULL;
        d->held -= m->len;
        put_node(d, m);
    }
    return VMS_OK;
}

static int checkpoint_record(vms_decoder *d, const uint8_t *body)
{
    const cur_record *c = &d->cur;
    const uint64_t po = c->start + VMS_R_HDR, n = c->seq;
    if (vms_le64(body + VMS_C_RECORDS) != n ||
        vms_le64(body + VMS_C_RAW_BYTES) != d->raw_total)
        return FAIL(d, VMS_E_BAD_END, po, n,
                    "checkpoint %llu counts %llu records / %llu bytes, %llu / %llu "
                    "were received", (unsigned long long)n,
                    (unsigned long long)vms_le64(body + VMS_C_RECORDS),
                    (unsigned long long)vms_le64(body + VMS_C_RAW_BYTES),
                    (unsigned long long)n, (unsigned long long)d->raw_total);
    if (!vms_digest_equal(body + VMS_C_CHAIN, d->chain, VMS_DIGEST_BYTES))
        return FAIL(d, VMS_E_CHAIN_MISMATCH, po + VMS_C_CHAIN, n,
                    "checkpoint %llu chain digest does not match the records "
                    "received", (unsigned long long)n);
    int rc = check_signature(d, VMS_SIG_KIND_CHECKPOINT, body + VMS_C_SIGNATURE);
    return rc ? rc : release(d);
}

static int end_record(vms_decoder *d, const uint8_t *body)
{
    const cur_record *c = &d->cur;
    const uint64_t s = c->start, n = c->seq;
    uint64_t recs = vms_le64(body + VMS_E_RECORDS);
    uint64_t raw = vms_le64(body + VMS_E_RAW_BYTES);
    uint64_t sb = vms_le64(body + VMS_E_STREAM_BYTES);
    const uint64_t po = s + VMS_R_HDR;
    if (recs != n)
        return FAIL(d, VMS_E_BAD_END, po + VMS_E_RECORDS, n,
                    "END record counts %llu records, %llu were received",
                    (unsigned long long)recs, (unsigned long long)n);
    if (raw != d->raw_total)
        return FAIL(d, VMS_E_BAD_END, po + VMS_E_RAW_BYTES, n,
                    "END record counts %llu state bytes, %llu were received",
                    (unsigned long long)raw, (unsigned long long)d->raw_total);
    if (sb != s)
        return FAIL(d, VMS_E_BAD_END, po + VMS_E_STREAM_BYTES, n,
                    "END record says it starts at byte %llu, it starts at %llu",
                    (unsigned long long)sb, (unsigned long long)s);
    if (!vms_digest_equal(body + VMS_E_CHAIN, d->chain, VMS_DIGEST_BYTES))
        return FAIL(d, VMS_E_CHAIN_MISMATCH, po + VMS_E_CHAIN, n,
                    "END chain digest does not match the records received");
    if (d->h.auth_mode == VMS_AUTH_ED25519) {
        int rc = check_signature(d, VMS_SIG_KIND_END, body + VMS_E_SIGNATURE);
        if (!rc)
            rc = release(d);
        if (rc)
            return rc;
    }
    d->sum.records = n;
    d->sum.raw_bytes = d->raw_total;
    d->sum.stream_bytes = s + VMS_R_HDR + c->body_len;
    memcpy(d->sum.chain_digest, d->chain, VMS_DIGEST_BYTES);
    d->have_sum = true;
    d->state = DS_DONE; /* on_commit fires in vms_decoder_finish() */
    return VMS_OK;
}

/* Where a record is unpacked (decompressed or page-map expanded): a record
 * buffer of max_record bytes and a decompressor.  Task 0 is the decoder's
 * own d->raw and d->codec (counted in VMS_LIMIT_BUFFERED); with threads > 1
 * tasks 1.. have their own, from the caller's allocator, so that the records
 * of a batch unpack in parallel. */
typedef struct unpack_task {
    uint8_t *raw;
    vms_codec_ctx *codec;
    bool counted; /* task 0: its allocations count in VMS_LIMIT_BUFFERED */
    /* the current job */
    const dec_slot *slot;
    int rc;
    vms_err err;
} unpack_task;

/* A page map's layout, once checked: mb bitmap bytes, count fill bytes
 * padded to fb, then rest wire bytes for lit literal bytes. */
typedef struct pagemap {
    size_t pages, mb, count, fb, lit, rest;
} pagemap;

/* Checks a page-mapped payload's bitmap, fill padding and (uncompressed)
 * literal length.  Reads only its arguments: safe on a worker thread. */
static int check_pagemap(const cur_record *c, const uint8_t *body, pagemap *pm, vms_err *e)
{
    const uint64_t s = c->start, n = c->seq, po = s + VMS_R_HDR;
    const size_t raw = c->raw_len, wire = c->wire_len;
    const size_t pages = (raw + VMS_PAGE - 1) / VMS_PAGE;
    const size_t mb = (size_t)vms_pad8((pages + 7) / 8);
    if (wire < mb)
        return vms_err_set(e, VMS_E_BAD_LENGTH, po, n,
                           "record %llu: %zu payload bytes cannot hold a %zu-byte page bitmap",
                           (unsigned long long)n, wire, mb);
    size_t count = 0, uni_bytes = 0;
    for (size_t i = 0; i < mb * 8; i++) {
        bool bit = (body[i / 8] >> (i % 8)) & 1;
        if (bit && i >= pages)
            return vms_err_set(e, VMS_E_NONZERO_PADDING, po + i / 8, n,
                               "record %llu: page bitmap bit %zu set beyond its %zu pages",
                               (unsigned long long)n, i, pages);
        if (bit) {
            count++;
            uni_bytes += i + 1 < pages ? VMS_PAGE : raw - i * VMS_PAGE;
        }
    }
    const size_t fb = (size_t)vms_pad8(count);
    if (count == 0)
        return vms_err_set(e, VMS_E_BAD_LENGTH, po, n,
                           "record %llu: page map marks no uniform page", (unsigned long long)n);
    if (wire - mb < fb)
        return vms_err_set(e, VMS_E_BAD_LENGTH, po + mb, n,
                           "record %llu: %zu payload bytes cannot hold %zu fill bytes",
                           (unsigned long long)n, wire, count);
    for (size_t i = count; i < fb; i++)
        if (body[mb + i] != 0)
            return vms_err_set(e, VMS_E_NONZERO_PADDING, po + mb + i, n,
                               "record %llu: fill padding byte is 0x%02x, must be 0",
                               (unsigned long long)n, body[mb + i]);
    const size_t lit = raw - uni_bytes, rest = wire - mb - fb;
    *pm = (pagemap){pages, mb, count, fb, lit, rest};
    if (c->flags & VMS_RF_COMPRESSED) {
        if (rest == 0 || rest >= lit)
            return vms_err_set(e, VMS_E_BAD_LENGTH, po + mb + fb, n,
                               "record %llu: %zu compressed bytes for %zu literal bytes (must "
                               "be 1..%zu)", (unsigned long long)n, rest, lit,
                               lit ? lit - 1 : 0);
    } else if (rest != lit) {
        return vms_err_set(e, VMS_E_BAD_LENGTH, po + mb + fb, n,
                           "record %llu: %zu literal bytes on the wire, the page map needs %zu",
                           (unsigned long long)n, rest, lit);
    }
    return VMS_OK;
}

/* Decompresses a compressed page-mapped payload's literal pages (pm->lit
 * bytes, one after another) to dst.  Reads d, writes only dst, codec and
 * *e: safe on a worker thread. */
static int pagemap_literals(const vms_decoder *d, const cur_record *c, const uint8_t *body,
                            const pagemap *pm, uint8_t *dst, vms_codec_ctx *codec,
                            bool counted, vms_err *e)
{
    const uint64_t n = c->seq, at = c->start + VMS_R_HDR + pm->mb + pm->fb;
    const char *why;
    int zr = vms_codec_decompress(codec, body + pm->mb + pm->fb, pm->rest, dst, pm->lit, &why);
    if (zr == VMS_E_NOMEM)
        return vms_err_set(e, counted ? nomem_code(d) : VMS_E_NOMEM, at, n,
                           "record %llu: no memory to decompress within the buffer limit "
                           "of %llu", (unsigned long long)n,
                           (unsigned long long)d->lim[VMS_LIMIT_BUFFERED]);
    if (zr != 0)
        return vms_err_set(e, VMS_E_BAD_COMPRESSION, at, n,
                           "record %llu: %s (declared %zu literal bytes from %zu)",
                           (unsigned long long)n, why, pm->lit, pm->rest);
    return VMS_OK;
}

/* Expands a page-mapped payload (body, wire_len bytes) into raw.  Reads d,
 * writes only raw, codec and *e: safe on a worker thread. */
static int expand_pagemap(const vms_decoder *d, const cur_record *c, const uint8_t *body,
                          uint8_t *rawbuf, vms_codec_ctx *codec, bool counted, vms_err *e)
{
    const size_t raw = c->raw_len;
    pagemap pm = {0};
    int rc = check_pagemap(c, body, &pm, e);
    if (rc)
        return rc;
    const size_t pages = pm.pages, lit = pm.lit;
    const uint8_t *fills = body + pm.mb, *src = body + pm.mb + pm.fb;
    if (c->flags & VMS_RF_COMPRESSED) {
        /* Decompress into the tail of the raw buffer, then expand forward:
         * a literal page never moves backwards, so nothing unread is
         * overwritten. */
        rc = pagemap_literals(d, c, body, &pm, rawbuf + raw - lit, codec, counted, e);
        if (rc)
            return rc;
        src = rawbuf + raw - lit;
    }
    size_t f = 0;
    for (size_t i = 0; i < pages; i++) {
        uint8_t *dst = rawbuf + i * VMS_PAGE;
        size_t len = i + 1 < pages ? VMS_PAGE : raw - i * VMS_PAGE;
        if ((body[i / 8] >> (i % 8)) & 1) {
            memset(dst, fills[f++], len);
        } else {
            memmove(dst, src, len);
            src += len;
        }
    }
    return VMS_OK;
}

/* Lists a verified page-mapped payload as runs (at most one per page):
 * literal runs point into lits (the decompressed literal pages) or, when
 * lits is NULL, into body; runs of uniform pages with one fill byte are
 * merged.  Returns the count, or 0 with *e set when the map is malformed
 * (the same error expand_pagemap gives). */
static size_t pagemap_runs(const cur_record *c, const uint8_t *body, const uint8_t *lits,
                           vms_run *runs, vms_err *e)
{
    pagemap pm = {0};
    if (check_pagemap(c, body, &pm, e))
        return 0;
    const size_t raw = c->raw_len;
    const uint8_t *fills = body + pm.mb, *src = lits ? lits : body + pm.mb + pm.fb;
    size_t nr = 0, f = 0;
    for (size_t i = 0; i < pm.pages; i++) {
        const size_t off = i * VMS_PAGE, len = i + 1 < pm.pages ? VMS_PAGE : raw - off;
        vms_run *last = nr ? &runs[nr - 1] : NULL;
        if ((body[i / 8] >> (i % 8)) & 1) {
            const uint8_t fill = fills[f++];
            if (last && !last->data && last->fill == fill)
                last->len += len;
            else
                runs[nr++] = (vms_run){off, len, NULL, fill};
        } else {
            if (last && last->data)
                last->len += len; /* literal pages lie one after another */
            else
                runs[nr++] = (vms_run){off, len, src, 0};
            src += len;
        }
    }
    return nr;
}

/* Whether a record goes out in runs instead of being expanded (a
 * compressed one after its literal pages were decompressed). */
static bool in_runs(const vms_decoder *d, const dec_slot *sl)
{
    return d->runs != NULL && sl->c.type == VMS_REC_STATE && (sl->c.flags & VMS_RF_PAGEMAP);
}

/* Whether a record is decompressed or expanded (unpack()) before delivery. */
static bool needs_unpack(const vms_decoder *d, const dec_slot *sl)
{
    if (sl->c.type != VMS_REC_STATE)
        return false;
    return in_runs(d, sl) ? (sl->c.flags & VMS_RF_COMPRESSED) != 0
                          : (sl->c.flags & (VMS_RF_PAGEMAP | VMS_RF_COMPRESSED)) != 0;
}

/* Decompresses or expands a verified STATE record into t->raw; on failure
 * fills t->err.  Reads d, writes only the task: safe on a worker thread. */
/* Where a record is unpacked: its hold node (signature mode, taken in
 * flush()), else the task's buffer. */
static uint8_t *unpack_dst(const unpack_task *t, const dec_slot *sl)
{
    return sl->node ? (uint8_t *)(sl->node + 1) : t->raw;
}

static int unpack(const vms_decoder *d, unpack_task *t, const dec_slot *sl)
{
    const cur_record *c = &sl->c;
    /* Only task 0 allocates from the counted allocator, so only it may read
     * the allocator's flag (no other thread touches it meanwhile).  A
     * failure on another task is redone on task 0: its code never reaches
     * the caller. */
    if (in_runs(d, sl)) {
        /* compressed, in runs: only the literal pages, to t->raw */
        pagemap pm;
        int rc = check_pagemap(c, sl->body, &pm, &t->err);
        return rc ? rc
                  : pagemap_literals(d, c, sl->body, &pm, t->raw, t->codec, t->counted,
                                     &t->err);
    }
    uint8_t *dst = unpack_dst(t, sl);
    if (c->flags & VMS_RF_PAGEMAP)
        return expand_pagemap(d, c, sl->body, dst, t->codec, t->counted, &t->err);
    const uint64_t s = c->start, n = c->seq;
    const char *why;
    int zr = vms_codec_decompress(t->codec, sl->body, c->wire_len, dst, c->raw_len, &why);
    if (zr == VMS_E_NOMEM)
        return vms_err_set(&t->err, t->counted ? nomem_code(d) : VMS_E_NOMEM, s + VMS_R_HDR, n,
                           "record %llu: no memory to decompress within the buffer limit "
                           "of %llu", (unsigned long long)n,
                           (unsigned long long)d->lim[VMS_LIMIT_BUFFERED]);
    if (zr != 0)
        return vms_err_set(&t->err, VMS_E_BAD_COMPRESSION, s + VMS_R_HDR, n,
                           "record %llu: %s (declared %u bytes from %u)", (unsigned long long)n,
                           why, c->raw_len, c->wire_len);
    return VMS_OK;
}

static void unpack_job(void *ctx, size_t j)
{
    vms_decoder *d = ctx;
    unpack_task *t = &d->tasks[j];
    vms_err_clear(&t->err);
    t->rc = unpack(d, t, t->slot);
}

/* Task 0 always; tasks 1..threads-1 when records may need unpacking. */
static int setup_tasks(vms_decoder *d)
{
    const bool par = d->threads > 1 && d->raw_cap > 0;
    d->ntasks = par ? d->threads : 1;
    d->tasks = vms_calloc(&d->mem, sizeof *d->tasks * d->ntasks);
    if (!d->tasks) {
        d->ntasks = 0;
        return VMS_E_NOMEM;
    }
    d->tasks[0] = (unpack_task){.raw = d->raw, .codec = d->codec, .counted = true};
    for (size_t j = 1; j < d->ntasks; j++) {
        unpack_task *t = &d->tasks[j];
        t->raw = vms_malloc(&d->mem, d->raw_cap);
        if (!t->raw)
            return VMS_E_NOMEM;
        if (d->h.codec != VMS_CODEC_NONE &&
            vms_codec_new(&t->codec, &d->mem, (vms_codec)d->h.codec, 0, false) != VMS_OK)
            return VMS_E_NOMEM;
    }
    return VMS_OK;
}

static void free_tasks(vms_decoder *d)
{
    if (!d->tasks)
        return;
    for (size_t j = 1; j < d->ntasks; j++) {
        vms_free(&d->mem, d->tasks[j].raw);
        vms_codec_free(d->tasks[j].codec);
    }
    vms_free(&d->mem, d->tasks);
    d->tasks = NULL;
}

/* Delivers (or, in signature mode, holds) a verified STATE record whose
 * state is data (raw_len bytes); pre as for hold(). */
static int state_record(vms_decoder *d, const cur_record *c, const uint8_t *data,
                        pend_meta *pre)
{
    d->raw_total += c->raw_len;
    vms_record r = {c->seq,   c->section,  c->offset, c->phase, data, c->raw_len,
                    c->start, c->wire_len, c->flags,  NULL,     0};
    return d->h.auth_mode == VMS_AUTH_ED25519 ? hold(d, &r, pre) : deliver(d, &r);
}

/* Delivers a verified page-mapped record in runs; lits: its decompressed
 * literal pages, or NULL when it is not compressed. */
static int runs_record(vms_decoder *d, const cur_record *c, const uint8_t *body,
                       const uint8_t *lits)
{
    const size_t nr = pagemap_runs(c, body, lits, d->runs, &d->err);
    if (nr == 0)
        return fail(d);
    d->raw_total += c->raw_len;
    vms_record r = {c->seq,   c->section,  c->offset, c->phase, NULL, c->raw_len,
                    c->start, c->wire_len, c->flags,  d->runs,  nr};
    return deliver(d, &r);
}

/* Latches a task's error as the decoder's. */
static int task_fail(vms_decoder *d, const unpack_task *t)
{
    vms_err_set(&d->err, t->err.info.code, t->err.info.offset, t->err.info.record, "%s",
                t->err.msg);
    return fail(d);
}

/* Unpacks and delivers batch records [0, ok), all verified.  Up to
 * d->ntasks of them are unpacked at once (on the pool when more than one),
 * then delivered in order; on the first failure the rest are dropped.  A
 * record that failed on a task other than 0 is unpacked again on task 0
 * (the decoder's own buffer, codec and budget), so that the outcome is the
 * one a single thread gives, whatever the thread count. */
static int deliver_verified(vms_decoder *d, size_t ok)
{
    for (size_t i = 0; i < ok;) {
        size_t g = 0, end = i;
        for (; end < ok; end++) {
            if (!needs_unpack(d, &d->batch[end]))
                continue;
            if (g == d->ntasks)
                break;
            d->tasks[g++].slot = &d->batch[end];
        }
        if (g > 1)
            vms_pool_run(d->pool, unpack_job, d, g);
        else if (g == 1)
            unpack_job(d, 0);
        for (size_t k = 0; i < end; i++) {
            const dec_slot *sl = &d->batch[i];
            if (sl->c.type != VMS_REC_STATE)
                continue;
            const uint8_t *data = sl->body;
            if (needs_unpack(d, sl)) {
                unpack_task *t = &d->tasks[k++];
                if (t->rc && t != &d->tasks[0]) {
                    t = &d->tasks[0];
                    vms_err_clear(&t->err);
                    t->rc = unpack(d, t, sl);
                }
                if (t->rc)
                    return task_fail(d, t);
                data = unpack_dst(t, sl);
                if ((sl->c.flags & VMS_RF_PAGEMAP) && !in_runs(d, sl))
                    d->st.expanded_bytes += sl->c.raw_len;
            }
            pend_meta *pre = sl->node;
            d->batch[i].node = NULL; /* held now, or freed with the rest */
            int rc = !in_runs(d, sl) ? state_record(d, &sl->c, data, pre)
                     : runs_record(d, &sl->c, sl->body,
                                   (sl->c.flags & VMS_RF_COMPRESSED) ? data : NULL);
            if (rc)
                return rc;
        }
    }
    return VMS_OK;
}

static int checksum_error(vms_decoder *d, const cur_record *c)
{
    const uint64_t s = c->start, n = c->seq;
    if (d->dkeylen)
        return FAIL(d, VMS_E_MAC_MISMATCH, s + VMS_R_CHECKSUM, n,
                    "record %llu at offset %llu: MAC does not verify (modified, "
                    "spliced from another stream, or wrong key)",
                    (unsigned long long)n, (unsigned long long)s);
    return FAIL(d, VMS_E_RECORD_CHECKSUM, s + VMS_R_CHECKSUM, n,
                "record %llu at offset %llu: checksum mismatch, the record is "
                "corrupt", (unsigned long long)n, (unsigned long long)s);
}

typedef struct hash_job {
    vms_decoder *d;
    size_t n;
    size_t per; /* records per group */
} hash_job;

static void hash_group(void *ctx, size_t g)
{
    hash_job *j = ctx;
    size_t first = g * j->per;
    size_t n = j->n - first < j->per ? j->n - first : j->per;
    vms_b2_many(j->d->lanes + first, n, VMS_DIGEST_BYTES,
                j->d->dkeylen ? j->d->key : NULL, j->d->dkeylen, VMS_B2_PATH_AVX512);
}

/* Build knob for measurement: a short batch is spread over the threads
 * (flush()) when its records hold at least this many bytes on the wire. */
#ifndef VMS_DEC_SPREAD_MIN
#define VMS_DEC_SPREAD_MIN (256u * 1024)
#endif

static bool batch_bytes_at_least(const vms_decoder *d, size_t n, uint64_t min)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n && sum < min; i++)
        sum += d->batch[i].c.wire_len;
    return sum >= min;
}

/* Hashes the batch, then verifies, chains and delivers its records in
 * order.  On the first bad record the rest of the batch is dropped. */
static int flush(vms_decoder *d)
{
    const size_t n = d->nbatch;
    /* No batched body is left in a wire slot after this, only the body
     * being put together, if any: its slot becomes slot 0.  (A control
     * record's body may be in a slot too: it is read before the next body
     * is put together.) */
    d->wire_used = 0;
    if (d->assembling) {
        uint8_t *t = d->slots[0];
        d->slots[0] = d->slots[d->asm_slot];
        d->slots[d->asm_slot] = t;
        d->asm_slot = 0;
        d->wire_used = 1;
    }
    if (n == 0)
        return VMS_OK;
    d->flushing = true;
    /* In signature mode a raw STATE record is copied into its hold node by
     * the hash pass itself, which reads the payload anyway, and a packed
     * one is unpacked straight into it.  The nodes are taken now, in record
     * order as hold() would take them.  The first one refused ends the
     * taking: hold() asks for it again after verification, with the budget
     * as it would be without this, so the outcome is the same. */
    bool pre_hold = d->h.auth_mode == VMS_AUTH_ED25519;
    for (size_t i = 0; i < n; i++) {
        dec_slot *sl = &d->batch[i];
        vms_make_prefix(sl->prefix, d->h.stream_id, d->h.header_digest, sl->rh);
        sl->node = NULL;
        if (pre_hold && sl->c.type == VMS_REC_STATE && sl->c.raw_len > 0)
            pre_hold = (sl->node = take_node(d, sl->c.raw_len)) != NULL;
        uint8_t *copy = sl->node && !needs_unpack(d, sl) ? (uint8_t *)(sl->node + 1) : NULL;
        d->lanes[i] = (vms_b2_lane){sl->prefix, VMS_PREFIX_BYTES, sl->body,
                                    sl->c.wire_len, sl->digest, copy, NULL, 0};
    }
    /* Groups of up to 8 records, one per thread.  A short batch of large
     * records is spread over the threads in groups of up to 4: a kernel's
     * step costs the same however few lanes are busy, and 4 go to the
     * faster-per-step AVX2 kernel (b2many.c), so 7 records hash as 4 + 3
     * in about 3/4 of the time of 7 in one 8-lane group.  Small records
     * are not worth waking a thread for. */
    const size_t per = batch_bytes_at_least(d, n, VMS_DEC_SPREAD_MIN)
                           ? vms_b2_group_size(n, d->threads)
                           : VMS_LANES;
    hash_job job = {d, n, per};
    vms_pool_run(d->pool, hash_group, &job, (n + per - 1) / per);
    d->st.batches++;
    d->st.hash_calls += (n + per - 1) / per;
    d->st.spread_batches += per < VMS_LANES;
    d->st.bodies += n;
    for (size_t i = 0; i < n; i++)
        d->st.bodies_in_place += d->batch[i].inplace;
    /* The verified prefix of the batch, chained in order; then its state
     * is unpacked and delivered; then the first bad record, if any, fails. */
    size_t ok = 0;
    while (ok < n && vms_digest_equal(d->batch[ok].digest, d->batch[ok].rh + VMS_R_CHECKSUM,
                                      VMS_DIGEST_BYTES)) {
        vms_chain_step(d->chain, d->batch[ok].rh + VMS_R_CHECKSUM);
        ok++;
    }
    int rc = deliver_verified(d, ok);
    if (rc == VMS_OK && ok < n)
        rc = checksum_error(d, &d->batch[ok].c);
    for (size_t i = 0; i < n; i++) /* the nodes of records not held */
        if (d->batch[i].node) {
            put_node(d, d->batch[i].node);
            d->batch[i].node = NULL;
        }
    d->nbatch = 0;
    d->flushing = false;
    return rc;
}

/* body holds body_len bytes: payload then padding; it is in the caller's
 * buffer (inplace) or in a wire slot already taken. */
static int record_body_done(vms_decoder *d, const uint8_t *body, bool inplace)
{
    cur_record *c = &d->cur;
    const uint64_t s = c->start, n = c->seq;
    for (size_t i = c->wire_len; i < c->body_len; i++)
        if (body[i] != 0)
            return FAIL(d, VMS_E_NONZERO_PADDING, s + VMS_R_HDR + i, n,
                        "record %llu padding byte at offset %llu is 0x%02x, must be 0",
                        (unsigned long long)n,
                        (unsigned long long)(s + VMS_R_HDR + i), body[i]);
    if (c->type == VMS_REC_END || c->type == VMS_REC_CHECKPOINT) {
        /* Control records need every record before them verified. */
        int rc = flush(d);
        if (rc)
            return rc;
        uint8_t prefix[VMS_PREFIX_BYTES], dg[VMS_DIGEST_BYTES];
        vms_make_prefix(prefix, d->h.stream_id, d->h.header_digest, d->rh);
        vms_digest_record(dg, prefix, body, c->wire_len, d->key, d->dkeylen);
        if (!vms_digest_equal(dg, d->rh + VMS_R_CHECKSUM, VMS_DIGEST_BYTES))
            return checksum_error(d, c);
        if (c->type == VMS_REC_END)
            return end_record(d, body);
        rc = checkpoint_record(d, body);
        if (rc)
            return rc;
        vms_chain_step(d->chain, d->rh + VMS_R_CHECKSUM);
    } else {
        dec_slot *sl = &d->batch[d->nbatch++];
        sl->c = *c;
        memcpy(sl->rh, d->rh, VMS_R_HDR);
        sl->body = body;
        sl->inplace = inplace && c->body_len > 0;
        if (c->type == VMS_REC_STATE)
            d->last_phase = c->phase;
    }
    d->next_seq++;
    d->state = DS_RECORD_HEAD;
    d->fill = 0;
    if (d->nbatch == d->batch_cap)
        return flush(d);
    return VMS_OK;
}

/* ---- feeding ------------------------------------------------------------------ */

/* Build knob for measurement (doc/PERFORMANCE-HISTORY.md, "Decoding whole
 * batches"): a batch left at the end of a feed is parked when copying its
 * in-place bodies costs less than its idle lanes.  Hashing a batch takes
 * about as long with any number of busy lanes, so hashing n of the
 * batch_cap lanes now wastes (batch_cap - n) / batch_cap of it; a copy
 * (one thread) of a body is about a third of an 8-lane thread's hash time
 * per record.  Parked iff inplace x threads <= K x idle lanes; not a meson
 * option. */
#ifndef VMS_DEC_PARK_K
#define VMS_DEC_PARK_K 2
#endif

/* Build knob for measurement: park()'s copies are shared out over the
 * threads from this many bytes on. */
#ifndef VMS_DEC_PARK_SPLIT
#define VMS_DEC_PARK_SPLIT (1u << 20)
#endif

/* Copies shared out over the threads: body k from l[k].msg to l[k].copy
 * (msg_len bytes), task t taking bytes [t * total / tasks,
 * (t + 1) * total / tasks) of their concatenation. */
typedef struct park_job {
    const vms_b2_lane *l;
    size_t n, total;
    size_t tasks;
} park_job;

static void park_copy(void *ctx, size_t t)
{
    const park_job *j = ctx;
    const vms_b2_lane *l = j->l;
    size_t from = (size_t)((uint64_t)j->total * t / j->tasks);
    size_t to = (size_t)((uint64_t)j->total * (t + 1) / j->tasks);
    for (size_t k = 0, at = 0; k < j->n && at < to; at += l[k].msg_len, k++) {
        size_t lo = from > at ? from - at : 0;
        size_t hi = to - at < l[k].msg_len ? to - at : l[k].msg_len;
        if (lo < hi)
            memcpy(l[k].copy + lo, l[k].msg + lo, hi - lo);
    }
}

/* Makes the n copies of l (total bytes), on every thread when there are
 * threads and at least min bytes: the workers would otherwise wait while
 * the caller's thread copies. */
static void share_copies(vms_decoder *d, const vms_b2_lane *l, size_t n, size_t total,
                         size_t min)
{
    park_job job = {l, n, total, d->threads > 1 && total >= min ? d->threads : 1};
    vms_pool_run(d->pool, park_copy, &job, job.tasks);
    d->st.shared_copies += job.tasks > 1;
}

/* The feed is about to return with records batched.  A short batch waits
 * for the next feed, to be hashed in full SIMD lanes: the bodies still in
 * the caller's buffer are copied to free wire slots, when that costs less
 * than the idle lanes (above).  Otherwise, or without the slots, the batch
 * is hashed now. */
static int park(vms_decoder *d)
{
    size_t inplace = 0;
    for (size_t i = 0; i < d->nbatch; i++)
        inplace += d->batch[i].inplace;
    if (inplace == 0)
        return VMS_OK; /* every body is in a wire slot already */
    const size_t idle = d->batch_cap - d->nbatch;
    if (inplace * d->threads > (size_t)VMS_DEC_PARK_K * idle)
        return flush(d);
    if (d->wire_used + inplace > d->nwire &&
        (!grow_wire(d) || d->wire_used + inplace > d->nwire))
        return flush(d);
    size_t n = 0, total = 0; /* the lanes array is free between batches */
    for (size_t i = 0; i < d->nbatch; i++) {
        dec_slot *sl = &d->batch[i];
        if (!sl->inplace)
            continue;
        d->lanes[n++] = (vms_b2_lane){.msg = sl->body, .msg_len = sl->c.body_len,
                                      .copy = d->slots[d->wire_used++]};
        total += sl->c.body_len;
    }
    /* 1 MiB is about 0.1 ms of copying, worth a wake-up. */
    share_copies(d, d->lanes, n, total, VMS_DEC_PARK_SPLIT);
    d->st.parked_bytes += total;
    for (size_t i = 0, k = 0; i < d->nbatch; i++) {
        dec_slot *sl = &d->batch[i];
        if (!sl->inplace)
            continue;
        sl->body = d->lanes[k++].copy;
        sl->inplace = false;
    }
    return VMS_OK;
}

/* Build knob for measurement: a piece of a body that spans feeds is
 * copied into its wire slot by every thread from this many bytes on. */
#ifndef VMS_DEC_ASM_SPLIT
#define VMS_DEC_ASM_SPLIT (256u * 1024)
#endif

/* Copies n bytes of the body being put together; a large piece on every
 * thread (with feeds of about a record, that copy is a third of the work
 * of a batch). */
static void assemble(vms_decoder *d, const uint8_t *src, size_t n)
{
    const vms_b2_lane piece = {.msg = src, .msg_len = n,
                               .copy = d->slots[d->asm_slot] + d->fill};
    share_copies(d, &piece, 1, n, VMS_DEC_ASM_SPLIT);
    d->st.assembled_bytes += n;
}

int vms_decoder_feed(vms_decoder *d, const void *buf, size_t len, size_t *consumed)
{
    size_t pos = 0;
    int rc = VMS_OK;
    if (consumed)
        *consumed = 0;
    if (!d || (!buf && len))
        return VMS_E_INVALID_ARG;
    if (d->state == DS_FAILED)
        return d->err.info.code;
    const uint8_t *in = buf;
    while (pos < len && rc == VMS_OK) {
        size_t avail = len - pos, want, take;
        switch (d->state) {
        case DS_HEADER_FIXED:
            want = VMS_H_FIXED - d->fill;
            take = avail < want ? avail : want;
            memcpy(d->fixed + d->fill, in + pos, take);
            if (d->fill < VMS_MAGIC_LEN &&
                vms_header_check_magic(d->fixed, d->fill + take, &d->err)) {
                rc = fail(d);
                break;
            }
            d->fill += take;
            pos += take;
            d->off += take;
            if (d->fill == VMS_H_FIXED)
                rc = header_fixed_done(d);
            break;
        case DS_HEADER_REST:
            want = d->h.header_length - d->fill;
            take = avail < want ? avail : want;
            memcpy(d->hdr + d->fill, in + pos, take);
            d->fill += take;
            pos += take;
            d->off += take;
            if (d->fill == d->h.header_length)
                rc = header_done(d);
            break;
        case DS_RECORD_HEAD:
            want = VMS_R_HDR - d->fill;
            take = avail < want ? avail : want;
            memcpy(d->rh + d->fill, in + pos, take);
            d->fill += take;
            pos += take;
            d->off += take;
            if (d->fill == VMS_R_HDR) {
                rc = record_head_done(d);
                if (rc == VMS_OK && d->cur.body_len == 0)
                    rc = record_body_done(d, d->wire, false);
            }
            break;
        case DS_RECORD_BODY:
            want = d->cur.body_len - d->fill;
            if (d->fill == 0 && avail >= want) {
                /* Whole body in the caller's buffer: verify it in place. */
                pos += want;
                d->off += want;
                rc = record_body_done(d, in + pos - want, true);
                break;
            }
            /* The body spans feed calls: it is put together in the next
             * free wire slot; when none is left, the batch is hashed. */
            if (d->fill == 0) {
                if (d->wire_used == d->nwire && !(d->nbatch && grow_wire(d)) &&
                    (rc = flush(d)) != VMS_OK)
                    break;
                d->asm_slot = d->wire_used++;
                d->assembling = true;
            }
            take = avail < want ? avail : want;
            assemble(d, in + pos, take);
            d->fill += take;
            pos += take;
            d->off += take;
            if (d->fill == d->cur.body_len) {
                d->assembling = false;
                rc = record_body_done(d, d->slots[d->asm_slot], false);
            }
            break;
        case DS_DONE:
            rc = FAIL(d, VMS_E_TRAILING_DATA, d->off, UINT64_MAX,
                      "%zu bytes follow the END record at offset %llu", avail,
                      (unsigned long long)d->off);
            break;
        case DS_FAILED:
            rc = d->err.info.code;
            break;
        }
    }
    /* Batched bodies may point into buf: verify or park them before
     * returning. */
    if (rc == VMS_OK && d->nbatch)
        rc = park(d);
    if (consumed)
        *consumed = pos;
    if (rc == VMS_OK && d->state == DS_DONE)
        rc = VMS_END;
    return rc;
}

const vms_decoder_stats *vms_decoder_get_stats(const vms_decoder *d)
{
    static const vms_decoder_stats none;
    return d ? &d->st : &none;
}

int vms_decoder_flush(vms_decoder *d)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    if (d->state == DS_FAILED)
        return d->err.info.code;
    if (d->nbatch && !d->flushing) {
        const int rc = flush(d);
        if (rc != VMS_OK)
            return rc;
    }
    return d->state == DS_DONE ? VMS_END : VMS_OK;
}

int vms_decoder_finish(vms_decoder *d)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    if (d->state == DS_DONE) {
        if (!d->ended_cb) {
            d->ended_cb = true;
            if (d->cb.on_commit && d->cb.on_commit(d->cb.ctx, &d->sum) != 0) {
                d->ended_cb = false; /* the caller refused: abort fires */
                return FAIL(d, VMS_E_CALLBACK, d->off, d->sum.records,
                            "the commit callback refused the stream");
            }
        }
        return VMS_END;
    }
    if (d->state == DS_FAILED)
        return d->err.info.code;
    const char *where = d->state == DS_HEADER_FIXED || d->state == DS_HEADER_REST
                            ? "inside the stream header"
                        : d->state == DS_RECORD_HEAD && d->fill == 0
                            ? "at a record boundary, before the END record"
                            : "inside a record";
    return FAIL(d, VMS_E_TRUNCATED, d->off, d->have_header ? d->next_seq : UINT64_MAX,
                "stream truncated after %llu bytes, %s",
                (unsigned long long)d->off, where);
}
