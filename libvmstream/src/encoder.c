/* encoder.c - writes a stream to a caller sink.
 *
 * Records are produced in batches: the state given to one
 * vms_encoder_write() call is cut into records, up to VMS_LANES per thread
 * at a time (up to VMS_ENC_DEPTH times that with workers and no codec);
 * each record is page-mapped and compressed (in parallel when there are
 * workers), then all of the batch's checksums are computed at once in SIMD
 * lanes (b2many.c), then the records are emitted in order.  With
 * workers and no codec there are two sets of slots, pipelined: while the
 * caller's thread emits one batch to the sink (which is serial), the
 * workers prepare and hash the next, and the caller's thread joins them
 * when its emit is done.  With a codec there is one set: compression
 * dominates, and a second set would double the compression buffers.
 * Every batch of a call is emitted before the call returns.  The output is
 * byte-identical whatever the number of threads.  A record stored raw is
 * hashed and emitted straight from the caller's buffer: no copy.  So are
 * the literal pages of a page-mapped record without a codec: the hash lane
 * is a list of pieces (the map in the slot, then each run of literal
 * pages where it lies; vms_b2_lane.segs) and the sink gets the runs one by
 * one.  With a codec they are gathered, since the compressor needs them
 * contiguous.
 *
 * With an output-buffer provider (vms_encoder_set_output_buffer), each batch
 * asks it for room for the batch's records before they are hashed; when it
 * lends some, the hash pass copies every payload there, block by block from
 * the registers it loads (vms_b2_lane.copy), the headers and padding are
 * filled in after, and the sink gets the whole batch in one call.  Then a
 * record's bytes cross the memory bus once, where a copying sink would read
 * them a second time.  A batch is asked for only after every earlier byte
 * has reached the sink, so such batches are not pipelined with the emit;
 * there is nothing left to overlap. */
#include "b2many.h"
#include "internal.h"
#include "vmstream_compat.h"
#include "wire.h"

#define VMS_LANES 8
#define VMS_MAX_THREADS 64
/* With workers and no codec, a set holds up to VMS_ENC_DEPTH SIMD groups
 * per thread, and at most VMS_ENC_SET_MAX records.  The hash phase's tasks
 * are whole groups, taken by whichever thread is free; the caller's thread
 * joins late (it emits the previous set first), so with one group per
 * thread a worker sits idle for about one group's time per set
 * (doc/PERFORMANCE.md, "Encoder set depth"). */
#ifndef VMS_ENC_DEPTH
#define VMS_ENC_DEPTH 3
#endif
#define VMS_ENC_SET_MAX 64

typedef struct enc_slot {
    uint32_t section, phase;
    uint64_t offset;
    const uint8_t *src; /* the caller's bytes for this record */
    size_t n;
    uint8_t *buf, *alt; /* scratch: [header][page map][literals with a codec];
                         * compressed output */
    vms_b2_seg *segs; /* without a codec: a page map's pieces (below) */
    size_t nsegs;     /* 0: the payload is contiguous at payload */
    uint8_t *map;     /* with nsegs: segs[0] in buf, VMS_R_HDR bytes free before it */
    uint16_t flags;
    const uint8_t *payload;
    size_t wire;
    uint8_t *dst; /* in a lent region: where this record's header goes */
    size_t elided; /* uniform pages the page map sends as a fill byte */
    size_t packed; /* literal bytes gathered for the compressor */
    int rc;
    uint8_t rh[VMS_R_HDR];
    uint8_t prefix[VMS_PREFIX_BYTES];
} enc_slot;

typedef struct batch_job {
    vms_encoder *e;
    enc_slot *slots;   /* this job's set */
    size_t count;
    size_t per;        /* lanes per phase-2 task (hash_task) */
    size_t next_prep;  /* next slot to prepare (atomic): phase 1 balances itself */
    uint64_t base_seq; /* sequence number of slots[0] */
    uint8_t *region;   /* lent by the output-buffer provider, or NULL */
    size_t region_max, region_used;
    bool region_overrun; /* the records would not fit (cannot happen) */
    vms_b2_lane lanes[VMS_LANES * VMS_MAX_THREADS]; /* >= VMS_ENC_SET_MAX */
} batch_job;

enum estate { ES_NEW = 0x4501, ES_STREAMING, ES_DONE, ES_FAILED };

struct vms_encoder {
    vms_mem mem;
    vms_sink_fn sink;
    void *sink_ctx;
    vms_outbuf_fn outbuf;  /* optional output-buffer provider */
    void *outbuf_ctx;
    vms_err err;
    enum estate state;

    vms_header_info h;
    uint8_t *blob;
    bool sid_set;
    size_t record_size;
    vms_codec codec;
    int level;
    unsigned threads;      /* threads that work on a batch, caller's included */
    vms_pool *pool;
    vms_codec_ctx **cctx;  /* one compressor per thread */
    enc_slot *slots;       /* nsets sets of nslots */
    size_t nslots;
    /* With workers and no codec, two sets: while the caller's thread emits
     * one batch (the sink is serial), the workers prepare and hash the next. */
    size_t nsets;
    size_t cur;            /* the set being filled */
    size_t pending;        /* the set prepared and hashed, not yet emitted */
    size_t pending_count;  /* its records (0: none) */
    struct batch_job *jobs; /* one per set */
    size_t map_max, fill_max; /* bitmap and fill sizes of a full record */
    uint8_t key[VMS_KEY_MAX];
    size_t keylen;
    bool sign;
    uint8_t sign_key[VMS_ED25519_KEY_BYTES];
    size_t ckpt_interval;
    uint64_t since_ckpt; /* state bytes since the last checkpoint */

    bool elide;            /* uniform-page maps (default on) */

    /* Gathering small writes (vms_encoder_set_gather): the first held
     * slots of the current set are waiting for the next write, flush or
     * finish; slot k's bytes are copied to gbuf + k * record_size. */
    bool gather;
    bool gtried;           /* gbuf was asked for (once) */
    uint8_t *gbuf;         /* gather_cap record buffers, or NULL */
    size_t held;

    uint64_t off, seq, raw_total;
    uint32_t last_phase;
    uint8_t chain[VMS_DIGEST_BYTES];

    vms_encoder_stats st; /* vms_encoder_get_stats(); the caller's thread only */
};

#define DEFAULT_RECORD_SIZE (1u << 20)
#define DEFAULT_CHECKPOINT (16u << 20) /* 16 records of 1 MiB: full SIMD batches */

vms_status vms_encoder_new(vms_encoder **out, vms_sink_fn sink, void *sink_ctx,
                           const vms_allocator *mem)
{
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = NULL;
    if (!sink)
        return VMS_E_INVALID_ARG;
    vms_mem m;
    vms_mem_init(&m, mem);
    vms_encoder *e = vms_calloc(&m, sizeof *e);
    if (!e)
        return VMS_E_NOMEM;
    e->mem = m;
    e->sink = sink;
    e->sink_ctx = sink_ctx;
    e->state = ES_NEW;
    e->record_size = DEFAULT_RECORD_SIZE;
    e->ckpt_interval = DEFAULT_CHECKPOINT;
    e->elide = true;
    e->threads = 1;
    e->codec = VMS_CODEC_NONE;
    e->h.format_major = VMS_FORMAT_MAJOR;
    e->h.format_minor = VMS_FORMAT_MINOR;
    e->h.checksum_alg = VMS_CSUM_BLAKE2B_256;
    vms_err_clear(&e->err);
    *out = e;
    return VMS_OK;
}

void vms_encoder_free(vms_encoder *e)
{
    if (!e)
        return;
    vms_pool_free(e->pool);
    if (e->cctx)
        for (unsigned t = 0; t < e->threads; t++)
            vms_codec_free(e->cctx[t]);
    vms_free(&e->mem, e->cctx);
    vms_free(&e->mem, e->jobs);
    if (e->slots)
        for (size_t i = 0; i < e->nslots * e->nsets; i++) {
            vms_free(&e->mem, e->slots[i].buf);
            vms_free(&e->mem, e->slots[i].alt);
            vms_free(&e->mem, e->slots[i].segs);
        }
    vms_free(&e->mem, e->slots);
    vms_free(&e->mem, e->gbuf);
    vms_free(&e->mem, e->blob);
    memset(e->key, 0, sizeof e->key);
    memset(e->sign_key, 0, sizeof e->sign_key);
    vms_mem m = e->mem;
    vms_free(&m, e);
}

const vms_error_info *vms_encoder_error(const vms_encoder *e)
{
    return &e->err.info;
}

uint64_t vms_encoder_offset(const vms_encoder *e)
{
    return e ? e->off : 0;
}

/* ---- settings -------------------------------------------------------------- */

#define SETTING(e)                  \
    do {                            \
        if (!(e))                   \
            return VMS_E_INVALID_ARG; \
        if ((e)->state != ES_NEW)   \
            return VMS_E_STATE;     \
    } while (0)

vms_status vms_encoder_set_vendor(vms_encoder *e, uint32_t vendor_id)
{
    SETTING(e);
    if (vms_vendor_id_check(vendor_id) != VMS_OK)
        return VMS_E_INVALID_ARG;
    e->h.vendor_id = vendor_id;
    return VMS_OK;
}

vms_status vms_encoder_set_stream_id(vms_encoder *e, const uint8_t id[VMS_STREAM_ID_BYTES])
{
    SETTING(e);
    if (!id)
        return VMS_E_INVALID_ARG;
    memcpy(e->h.stream_id, id, VMS_STREAM_ID_BYTES);
    e->sid_set = true;
    return VMS_OK;
}

vms_status vms_encoder_set_version_blob(vms_encoder *e, const void *blob, size_t len)
{
    SETTING(e);
    e->h.features_optional &= ~VMS_FEAT_DESCRIPTOR; /* an opaque blob */
    if ((!blob && len) || len > VMS_MAX_BLOB_BYTES)
        return VMS_E_INVALID_ARG;
    uint8_t *copy = NULL;
    if (len) {
        copy = vms_malloc(&e->mem, len);
        if (!copy)
            return VMS_E_NOMEM;
        memcpy(copy, blob, len);
    }
    vms_free(&e->mem, e->blob);
    e->blob = copy;
    e->h.version_blob_len = (uint32_t)len;
    return VMS_OK;
}

vms_status vms_encoder_set_descriptor(vms_encoder *e, const vms_descriptor *desc)
{
    SETTING(e);
    if (!desc)
        return VMS_E_INVALID_ARG;
    uint8_t buf[VMS_DESC_MAX_BINARY];
    size_t n;
    vms_status rc = vms_descriptor_encode(desc, buf, sizeof buf, &n);
    if (rc)
        return rc;
    rc = vms_encoder_set_version_blob(e, buf, n);
    if (rc)
        return rc;
    e->h.vendor_id = vms_descriptor_get_vendor_id(desc);
    e->h.features_optional |= VMS_FEAT_DESCRIPTOR;
    return VMS_OK;
}

vms_status vms_encoder_set_record_size(vms_encoder *e, size_t bytes)
{
    SETTING(e);
    if (bytes == 0 || bytes > VMS_MAX_RECORD_BYTES)
        return VMS_E_INVALID_ARG;
    e->record_size = bytes;
    return VMS_OK;
}

vms_status vms_encoder_set_compression(vms_encoder *e, vms_codec codec, int level)
{
    SETTING(e);
    if ((unsigned)codec > VMS_CODEC_ZSTD)
        return VMS_E_INVALID_ARG;
    if (!vms_codec_available(codec))
        return VMS_E_UNSUPPORTED;
    e->codec = codec;
    e->level = level;
    return VMS_OK;
}

vms_status vms_encoder_set_mac_key(vms_encoder *e, const uint8_t *key, size_t key_len,
                                   const uint8_t key_id[VMS_KEY_ID_BYTES])
{
    SETTING(e);
    if (!key || !key_id || key_len < 16 || key_len > VMS_KEY_MAX)
        return VMS_E_INVALID_ARG;
    if (e->sign)
        return VMS_E_STATE; /* a signing key is set: one auth mode per stream */
    memcpy(e->key, key, key_len);
    e->keylen = key_len;
    memcpy(e->h.key_id, key_id, VMS_KEY_ID_BYTES);
    e->h.auth_mode = VMS_AUTH_MAC;
    e->sign = false;
    return VMS_OK;
}

vms_status vms_encoder_set_ed25519_key(vms_encoder *e,
                                       const uint8_t priv[VMS_ED25519_KEY_BYTES])
{
    SETTING(e);
    if (!priv)
        return VMS_E_INVALID_ARG;
    if (e->keylen)
        return VMS_E_STATE; /* a MAC key is set: one auth mode per stream */
    uint8_t pub[VMS_ED25519_KEY_BYTES];
    vms_status rc = vms_ed25519_public_key(priv, pub);
    if (rc)
        return rc;
    memcpy(e->sign_key, priv, sizeof e->sign_key);
    vms_key_id(pub, sizeof pub, e->h.key_id);
    e->h.auth_mode = VMS_AUTH_ED25519;
    e->sign = true;
    memset(e->key, 0, sizeof e->key);
    e->keylen = 0;
    return VMS_OK;
}

vms_status vms_encoder_set_page_elision(vms_encoder *e, int on)
{
    SETTING(e);
    e->elide = on != 0;
    return VMS_OK;
}

vms_status vms_encoder_set_threads(vms_encoder *e, unsigned threads)
{
    SETTING(e);
    if (threads < 1 || threads > VMS_MAX_THREADS)
        return VMS_E_INVALID_ARG;
    e->threads = threads;
    return VMS_OK;
}

vms_status vms_encoder_set_output_buffer(vms_encoder *e, vms_outbuf_fn get, void *ctx)
{
    SETTING(e);
    e->outbuf = get;
    e->outbuf_ctx = get ? ctx : NULL;
    return VMS_OK;
}

vms_status vms_encoder_set_gather(vms_encoder *e, int on)
{
    SETTING(e);
    e->gather = on != 0;
    return VMS_OK;
}

vms_status vms_encoder_set_checkpoint_interval(vms_encoder *e, size_t bytes)
{
    SETTING(e);
    if (bytes < 1024 || bytes > (1u << 30))
        return VMS_E_INVALID_ARG;
    e->ckpt_interval = bytes;
    return VMS_OK;
}

/* ---- output ---------------------------------------------------------------- */

static int efail(vms_encoder *e, int code)
{
    e->state = ES_FAILED;
    return code;
}

static int emit(vms_encoder *e, const void *buf, size_t len)
{
    if (len == 0)
        return VMS_OK;
    if (e->sink(e->sink_ctx, buf, len) != 0) {
        vms_err_set(&e->err, VMS_E_IO, e->off, UINT64_MAX,
                    "the sink failed to take %zu bytes at stream offset %llu", len,
                    (unsigned long long)e->off);
        return efail(e, VMS_E_IO);
    }
    e->off += len;
    return VMS_OK;
}

/* Slot sets and records per set for the current settings.  Two sets
 * (pipelined) only with workers and no codec.  With a codec the
 * emit of compressed bytes is short next to compression, and a second set
 * doubles the compression buffers: in paired runs one set gave zstd encode
 * on 2 threads 1-12% more in each of 5 alternations
 * (doc/PERFORMANCE-HISTORY.md, "Output-buffer mode on an AVX-512 host"),
 * with half the memory. */
static size_t set_count(const vms_encoder *e)
{
    return e->threads > 1 && e->codec == VMS_CODEC_NONE ? 2 : 1;
}
static size_t set_slots(const vms_encoder *e)
{
    /* Deeper sets only without a codec: with one, the compress phase
     * dominates and balances itself, and every extra slot holds a
     * compression buffer (measured: zstd 2T fell from 1.1 to 0.85 GB/s). */
    size_t depth = e->threads > 1 && e->codec == VMS_CODEC_NONE
                       ? VMS_ENC_SET_MAX / ((size_t)VMS_LANES * e->threads)
                       : 1;
    depth = depth < 1 ? 1 : depth > VMS_ENC_DEPTH ? VMS_ENC_DEPTH : depth;
    return (size_t)VMS_LANES * e->threads * depth;
}

size_t vms_encoder_write_hint(const vms_encoder *e)
{
    if (!e)
        return (size_t)VMS_LANES * DEFAULT_RECORD_SIZE;
    /* at most 2 x 512 slots of 64 MiB: saturates only where size_t is 32 bits */
    const size_t slots = set_count(e) * set_slots(e);
    return e->record_size > SIZE_MAX / slots ? SIZE_MAX : slots * e->record_size;
}

/* Allocates the batch: slots, their scratch buffers, one compressor per
 * thread, and the worker pool. */
static int alloc_batch(vms_encoder *e)
{
    const size_t pages = (e->record_size + VMS_PAGE - 1) / VMS_PAGE;
    e->map_max = (size_t)vms_pad8((pages + 7) / 8);
    e->fill_max = (size_t)vms_pad8(pages);
    e->nsets = set_count(e);
    e->nslots = set_slots(e);
    e->slots = vms_calloc(&e->mem, sizeof *e->slots * e->nslots * e->nsets);
    e->cctx = vms_calloc(&e->mem, sizeof *e->cctx * e->threads);
    e->jobs = vms_calloc(&e->mem, sizeof *e->jobs * e->nsets);
    if (!e->slots || !e->cctx || !e->jobs)
        return VMS_E_NOMEM;
    const size_t head = e->map_max + e->fill_max;
    /* Without a codec a page map's literal pages stay where they are (one
     * piece per run of them, at most one run per two pages); with one they
     * are gathered after the map for the compressor. */
    const bool gather = e->codec != VMS_CODEC_NONE;
    const size_t nseg = (pages + 1) / 2 + 1;
    for (size_t i = 0; i < e->nslots * e->nsets; i++) {
        if (e->elide &&
            !(e->slots[i].buf = vms_malloc(&e->mem, VMS_R_HDR + head +
                                                        (gather ? e->record_size : 0))))
            return VMS_E_NOMEM;
        if (e->elide && !gather &&
            !(e->slots[i].segs = vms_malloc(&e->mem, nseg * sizeof *e->slots[i].segs)))
            return VMS_E_NOMEM;
        if (e->codec != VMS_CODEC_NONE &&
            !(e->slots[i].alt =
                  vms_malloc(&e->mem, head + vms_codec_bound(e->codec, e->record_size))))
            return VMS_E_NOMEM;
    }
    if (e->codec != VMS_CODEC_NONE)
        for (unsigned t = 0; t < e->threads; t++) {
            int rc = vms_codec_new(&e->cctx[t], &e->mem, e->codec, e->level, true);
            if (rc)
                return rc;
        }
    if (e->threads > 1)
        return vms_pool_new(&e->pool, &e->mem, e->threads - 1);
    return VMS_OK;
}

static int begin(vms_encoder *e)
{
    if (e->state == ES_STREAMING)
        return VMS_OK;
    if (e->state != ES_NEW)
        return VMS_E_STATE;
    if (!e->sid_set && vms_random_bytes(e->h.stream_id, VMS_STREAM_ID_BYTES) != 0) {
        vms_err_set(&e->err, VMS_E_IO, 0, UINT64_MAX,
                    "could not draw a random stream id from the OS");
        return efail(e, VMS_E_IO);
    }
    e->h.codec = (uint8_t)e->codec;
    e->h.features_required = (e->codec != VMS_CODEC_NONE ? VMS_FEAT_COMPRESSION : 0) |
                             (e->elide ? VMS_FEAT_PAGEMAP : 0);
    e->h.max_record = (uint32_t)e->record_size;
    int rc = alloc_batch(e);
    if (rc) {
        vms_err_set(&e->err, rc, 0, UINT64_MAX,
                    rc == VMS_E_NOMEM ? "out of memory for %zu record buffers"
                                      : "cannot set up the compressor (%zu slots)",
                    e->nslots);
        return efail(e, rc);
    }
    size_t hlen = vms_header_size(e->h.version_blob_len);
    uint8_t *hdr = vms_malloc(&e->mem, hlen);
    if (!hdr) {
        vms_err_set(&e->err, VMS_E_NOMEM, 0, UINT64_MAX, "out of memory");
        return efail(e, VMS_E_NOMEM);
    }
    vms_header_write(hdr, &e->h, e->blob, e->key, e->keylen);
    memcpy(e->chain, e->h.header_digest, VMS_DIGEST_BYTES);
    e->state = ES_STREAMING;
    rc = emit(e, hdr, hlen);
    vms_free(&e->mem, hdr);
    return rc;
}

static const uint8_t zeros[8];

static int write_record2(vms_encoder *e, uint16_t type, uint16_t flags,
                         uint32_t section, uint64_t offset, uint32_t phase,
                         const uint8_t *a, uint32_t alen, const uint8_t *b,
                         uint32_t blen, uint32_t raw_len);
#define write_record(e, type, flags, section, offset, phase, payload, wire_len, raw_len) \
    write_record2(e, type, flags, section, offset, phase, payload, wire_len, NULL, 0, raw_len)

/* Signs the 128-byte message of a checkpoint or END record into sig. */
static int sign(vms_encoder *e, uint8_t kind, uint8_t sig[VMS_ED25519_SIG_BYTES])
{
    uint8_t msg[VMS_SIG_MSG_BYTES];
    vms_sig_message(msg, kind, &e->h, e->seq, e->seq, e->raw_total, e->off, e->chain);
    int rc = vms_ed25519_sign_raw(e->sign_key, msg, sizeof msg, sig);
    if (rc) {
        vms_err_set(&e->err, rc, e->off, e->seq, "Ed25519 signing failed");
        return efail(e, rc);
    }
    return VMS_OK;
}

static int checkpoint(vms_encoder *e)
{
    uint8_t body[VMS_CHECKPOINT_PAYLOAD];
    vms_put64(body + VMS_C_RECORDS, e->seq);
    vms_put64(body + VMS_C_RAW_BYTES, e->raw_total);
    memcpy(body + VMS_C_CHAIN, e->chain, VMS_DIGEST_BYTES);
    int rc = sign(e, VMS_SIG_KIND_CHECKPOINT, body + VMS_C_SIGNATURE);
    if (!rc)
        rc = write_record(e, VMS_REC_CHECKPOINT, 0, 0, 0, 0, body,
                          VMS_CHECKPOINT_PAYLOAD, VMS_CHECKPOINT_PAYLOAD);
    e->since_ckpt = 0;
    return rc;
}

static int write_record2(vms_encoder *e, uint16_t type, uint16_t flags,
                         uint32_t section, uint64_t offset, uint32_t phase,
                         const uint8_t *a, uint32_t alen, const uint8_t *b,
                         uint32_t blen, uint32_t raw_len)
{
    const uint32_t wire_len = alen + blen;
    uint8_t rh[VMS_R_HDR], prefix[VMS_PREFIX_BYTES];
    memset(rh, 0, sizeof rh);
    vms_put16(rh + VMS_R_TYPE, type);
    vms_put16(rh + VMS_R_FLAGS, flags);
    vms_put32(rh + VMS_R_SECTION, section);
    vms_put64(rh + VMS_R_SEQ, e->seq);
    vms_put64(rh + VMS_R_OFFSET, offset);
    vms_put32(rh + VMS_R_PHASE, phase);
    vms_put32(rh + VMS_R_WIRE_LEN, wire_len);
    vms_put32(rh + VMS_R_RAW_LEN, raw_len);
    vms_make_prefix(prefix, e->h.stream_id, e->h.header_digest, rh);
    vms_digest_record2(rh + VMS_R_CHECKSUM, prefix, a, alen, b, blen, e->key, e->keylen);
    int rc = emit(e, rh, sizeof rh);
    if (!rc)
        rc = emit(e, a, alen);
    if (!rc)
        rc = emit(e, b, blen);
    if (!rc)
        rc = emit(e, zeros, (size_t)(vms_pad8(wire_len) - wire_len));
    if (rc)
        return rc;
    if (type != VMS_REC_END)
        vms_chain_step(e->chain, rh + VMS_R_CHECKSUM);
    e->seq++;
    return VMS_OK;
}

static bool uniform(const uint8_t *p, size_t n)
{
    return n <= 1 || memcmp(p, p + 1, n - 1) == 0;
}

/* Page-maps and compresses one record (any thread).  Sets flags, payload
 * and wire.  The payload is contiguous at payload, except for a page map
 * without a codec: then it is nsegs pieces, segs[0] the bitmap and fill
 * bytes in buf (VMS_R_HDR bytes after buf's start, so that the record
 * header can go right before them) and the others runs of literal pages in
 * the caller's buffer, hashed and emitted from there. */
static void prepare(vms_encoder *e, enc_slot *s, vms_codec_ctx *cc)
{
    s->flags = 0;
    s->payload = s->src;
    s->wire = s->n;
    s->nsegs = 0;
    s->elided = s->packed = 0;
    s->rc = 0;
    const size_t n = s->n, head = e->map_max + e->fill_max;
    size_t clen;
    if (e->elide) {
        /* With a codec, literal pages are gathered at base + head; the
         * bitmap and the fill bytes are then placed right before them, so
         * the payload [bitmap][fills][literals] is contiguous whatever the
         * fill count. */
        const bool gather = e->codec != VMS_CODEC_NONE;
        const size_t pages = (n + VMS_PAGE - 1) / VMS_PAGE;
        const size_t mb = (size_t)vms_pad8((pages + 7) / 8);
        uint8_t *base = s->buf + VMS_R_HDR;
        uint8_t *lit = base + head, *fills = base + e->map_max;
        uint8_t bits[VMS_MAX_RECORD_BYTES / VMS_PAGE / 8];
        size_t count = 0, nlit = 0, nseg = 1; /* segs[0]: the map */
        const uint8_t *run = NULL;
        size_t run_len = 0;
        memset(bits, 0, mb);
        /* Pass 1 finds the uniform pages (a literal page usually differs
         * within its first bytes, so this costs little) and, without a
         * codec, the runs of literal pages. */
        for (size_t i = 0; i < pages; i++) {
            const uint8_t *pg = s->src + i * VMS_PAGE;
            size_t len = i + 1 < pages ? VMS_PAGE : n - i * VMS_PAGE;
            if (uniform(pg, len)) {
                bits[i / 8] |= (uint8_t)(1u << (i % 8));
                fills[count++] = pg[0]; /* moved next to the literals below */
                if (run_len > 0 && !gather)
                    s->segs[nseg++] = (vms_b2_seg){run, run_len};
                run_len = 0;
            } else {
                nlit += len;
                if (run_len == 0)
                    run = pg;
                run_len += len;
            }
        }
        if (run_len > 0 && !gather)
            s->segs[nseg++] = (vms_b2_seg){run, run_len};
        const size_t fb = (size_t)vms_pad8(count);
        if (count > 0 && mb + fb + nlit < n && !gather) {
            /* The fills stay where pass 1 put them; the bitmap goes
             * before them.  No literal byte is copied. */
            uint8_t *start = fills - mb;
            memcpy(start, bits, mb);
            memset(start + mb + count, 0, fb - count);
            s->segs[0] = (vms_b2_seg){start, mb + fb};
            s->nsegs = nseg;
            s->map = start;
            s->elided = count;
            s->flags = VMS_RF_PAGEMAP;
            s->payload = start;
            s->wire = mb + fb + nlit;
            return;
        }
        if (count > 0 && mb + fb + nlit < n) {
            /* Pass 2 gathers the literal pages. */
            for (size_t i = 0, at = 0; i < pages; i++) {
                size_t len = i + 1 < pages ? VMS_PAGE : n - i * VMS_PAGE;
                if (!(bits[i / 8] & (1u << (i % 8)))) {
                    memcpy(lit + at, s->src + i * VMS_PAGE, len);
                    at += len;
                }
            }
            uint8_t *start = lit - fb - mb;
            memmove(start + mb, fills, count);
            memset(start + mb + count, 0, fb - count);
            memcpy(start, bits, mb);
            s->elided = count;
            s->packed = nlit;
            s->flags = VMS_RF_PAGEMAP;
            s->payload = start;
            s->wire = mb + fb + nlit;
            if (cc && nlit >= 2) {
                int c = vms_codec_compress(cc, lit, nlit, s->alt + head,
                                           vms_codec_bound(e->codec, e->record_size),
                                           &clen);
                if (c < 0) {
                    s->rc = c;
                    return;
                }
                if (c == 1) {
                    uint8_t *cstart = s->alt + head - fb - mb;
                    memcpy(cstart, start, mb + fb);
                    s->flags |= VMS_RF_COMPRESSED;
                    s->payload = cstart;
                    s->wire = mb + fb + clen;
                }
            }
            return;
        }
    }
    if (cc) {
        int c = vms_codec_compress(cc, s->src, n, s->alt,
                                   vms_codec_bound(e->codec, e->record_size), &clen);
        if (c < 0) {
            s->rc = c;
        } else if (c == 1) {
            s->flags = VMS_RF_COMPRESSED;
            s->payload = s->alt;
            s->wire = clen;
        }
    }
}

/* Phase 1, task t (one per thread): prepares the next unclaimed slot with
 * compressor t until none is left, so a thread that joins late (the
 * caller's, emitting the previous set) takes fewer.  A record's output does
 * not depend on which compressor made it: each compression starts afresh. */
static void prepare_task(void *ctx, size_t t)
{
    batch_job *j = ctx;
    for (;;) {
        size_t i = __atomic_fetch_add(&j->next_prep, 1, __ATOMIC_RELAXED);
        if (i >= j->count)
            return;
        prepare(j->e, &j->slots[i], j->e->cctx ? j->e->cctx[t] : NULL);
    }
}

/* Between the phases (once): the record headers and the hash lanes; in a
 * lent region, each record's place (its payload is copied there as it is
 * hashed). */
static void header_step(void *ctx)
{
    batch_job *j = ctx;
    const vms_encoder *e = j->e;
    size_t at = 0;
    for (size_t i = 0; i < j->count && j->region; i++) {
        enc_slot *s = &j->slots[i];
        /* prepare() keeps wire <= n, and region_max allows n for each */
        const size_t span = VMS_R_HDR + (size_t)vms_pad8(s->wire);
        if (span > j->region_max - at) {
            j->region_overrun = true;
            break;
        }
        s->dst = j->region + at;
        at += span;
    }
    j->region_used = at;
    for (size_t i = 0; i < j->count; i++) {
        enc_slot *s = &j->slots[i];
        uint8_t *rh = s->rh;
        memset(rh, 0, VMS_R_HDR);
        vms_put16(rh + VMS_R_TYPE, VMS_REC_STATE);
        vms_put16(rh + VMS_R_FLAGS, s->flags);
        vms_put32(rh + VMS_R_SECTION, s->section);
        vms_put64(rh + VMS_R_SEQ, j->base_seq + i);
        vms_put64(rh + VMS_R_OFFSET, s->offset);
        vms_put32(rh + VMS_R_PHASE, s->phase);
        vms_put32(rh + VMS_R_WIRE_LEN, (uint32_t)s->wire);
        vms_put32(rh + VMS_R_RAW_LEN, (uint32_t)s->n);
        vms_make_prefix(s->prefix, e->h.stream_id, e->h.header_digest, rh);
        uint8_t *copy = j->region && !j->region_overrun ? s->dst + VMS_R_HDR : NULL;
        j->lanes[i] = (vms_b2_lane){s->prefix, VMS_PREFIX_BYTES, s->payload, s->wire,
                                    rh + VMS_R_CHECKSUM, copy,
                                    s->nsegs ? s->segs : NULL, s->nsegs};
    }
}

/* Phase 2, task g: hashes lanes [g * per, ...) in one SIMD call. */
static void hash_task(void *ctx, size_t g)
{
    batch_job *j = ctx;
    size_t first = g * j->per;
    size_t n = j->count - first < j->per ? j->count - first : j->per;
    vms_b2_many(j->lanes + first, n, VMS_DIGEST_BYTES, j->e->keylen ? j->e->key : NULL,
                j->e->keylen, VMS_B2_PATH_AVX512);
}

/* Counts a record that reached the sink (or a lent region: lent). */
static void count_record(vms_encoder *e, const enc_slot *s, bool lent)
{
    e->st.records++;
    e->st.state_bytes += s->n;
    e->st.payload_bytes += s->wire;
    e->st.elided_pages += s->elided;
    e->st.packed_bytes += s->packed;
    if (lent)
        e->st.lent_bytes += s->wire;
}

/* Emits the pending set's records, in order. */
static int emit_pending(vms_encoder *e)
{
    enc_slot *set = e->slots + e->pending * e->nslots;
    const size_t count = e->pending_count;
    e->pending_count = 0;
    for (size_t i = 0; i < count; i++) {
        enc_slot *s = &set[i];
        int rc;
        if (s->nsegs) {
            /* The header goes right before the map (room was kept for it),
             * and they reach the sink in one call; then each run of literal
             * pages, from the caller's buffer. */
            uint8_t *hm = s->map - VMS_R_HDR;
            memcpy(hm, s->rh, VMS_R_HDR);
            rc = emit(e, hm, VMS_R_HDR + s->segs[0].len);
            for (size_t k = 1; k < s->nsegs && !rc; k++)
                rc = emit(e, s->segs[k].p, s->segs[k].len);
        } else {
            rc = emit(e, s->rh, VMS_R_HDR);
            if (!rc)
                rc = emit(e, s->payload, s->wire);
        }
        if (!rc)
            rc = emit(e, zeros, (size_t)(vms_pad8(s->wire) - s->wire));
        if (rc)
            return rc;
        vms_chain_step(e->chain, s->rh + VMS_R_CHECKSUM);
        e->seq++;
        e->raw_total += s->n;
        e->since_ckpt += s->n;
        count_record(e, s, false);
    }
    return VMS_OK;
}

/* Completes a batch hashed into a lent region: the record headers and the
 * padding go in around the payloads the hash pass copied, and the sink
 * takes the whole batch in one call. */
static int commit_region(vms_encoder *e, batch_job *j)
{
    for (size_t i = 0; i < j->count; i++) {
        enc_slot *s = &j->slots[i];
        memcpy(s->dst, s->rh, VMS_R_HDR);
        memset(s->dst + VMS_R_HDR + s->wire, 0, (size_t)(vms_pad8(s->wire) - s->wire));
    }
    int rc = emit(e, j->region, j->region_used);
    if (rc)
        return rc;
    for (size_t i = 0; i < j->count; i++) {
        enc_slot *s = &j->slots[i];
        vms_chain_step(e->chain, s->rh + VMS_R_CHECKSUM);
        e->seq++;
        e->raw_total += s->n;
        e->since_ckpt += s->n;
        count_record(e, s, true);
    }
    return VMS_OK;
}

/* Asks the output-buffer provider for room for the current set's first
 * count records: at most a header and the padded raw size each (prepare()
 * never makes a payload longer than its record).  Every earlier byte is
 * emitted first, so that the provider can lend the place right after it. */
static int lend_region(vms_encoder *e, batch_job *j, size_t count)
{
    j->region = NULL;
    j->region_max = j->region_used = 0;
    j->region_overrun = false;
    if (!e->outbuf)
        return VMS_OK;
    int rc = e->pending_count ? emit_pending(e) : VMS_OK;
    if (rc)
        return rc;
    size_t max = 0;
    for (size_t i = 0; i < count; i++) {
        const size_t span = VMS_R_HDR + (size_t)vms_pad8(j->slots[i].n);
        if (span > SIZE_MAX - max)
            return VMS_OK; /* cannot be described: no region */
        max += span;
    }
    j->region = e->outbuf(e->outbuf_ctx, max);
    j->region_max = max;
    return VMS_OK;
}

/* Build knob for measurement: a short set is spread over the threads
 * (hash_group_size) when its records hold at least this many bytes. */
#ifndef VMS_ENC_SPREAD_MIN
#define VMS_ENC_SPREAD_MIN (256u * 1024)
#endif

/* Lanes per hash task: SIMD groups of 8, taken by whichever thread is
 * free; a set too short to give every thread a group, of large records,
 * is spread over the threads in groups of up to 4 (vms_b2_group_size; the
 * decoder does the same, flush()). */
static size_t hash_group_size(const vms_encoder *e, const batch_job *j, size_t count)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < count && bytes < VMS_ENC_SPREAD_MIN; i++)
        bytes += j->slots[i].n;
    return bytes >= VMS_ENC_SPREAD_MIN ? vms_b2_group_size(count, e->threads) : VMS_LANES;
}

/* Prepares and hashes the current set's first count slots, emitting the
 * pending set meanwhile; the current set becomes pending.  With one set
 * (one thread) it is emitted at once; a set hashed into a lent region is
 * committed at once. */
static int submit(vms_encoder *e, size_t count)
{
    batch_job *j = &e->jobs[e->cur];
    j->e = e;
    j->slots = e->slots + e->cur * e->nslots;
    j->count = count;
    j->next_prep = 0;
    int rc = lend_region(e, j, count);
    if (rc)
        return rc;
    j->base_seq = e->seq + e->pending_count;
    j->per = hash_group_size(e, j, count);
    e->st.sets++;
    e->st.hash_calls += (count + j->per - 1) / j->per;
    e->st.spread_sets += j->per < VMS_LANES;
    vms_pool_start(e->pool, prepare_task, j, e->threads < count ? e->threads : count,
                   header_step, hash_task, (count + j->per - 1) / j->per);
    rc = e->pending_count ? emit_pending(e) : VMS_OK;
    vms_pool_wait(e->pool);
    if (rc)
        return rc;
    for (size_t i = 0; i < count; i++)
        if (j->slots[i].rc) {
            vms_err_set(&e->err, j->slots[i].rc, e->off, j->base_seq + i,
                        "compression failed (%s)", vms_strerror(j->slots[i].rc));
            return efail(e, j->slots[i].rc);
        }
    if (j->region) {
        if (j->region_overrun) {
            vms_err_set(&e->err, VMS_E_INTERNAL, e->off, j->base_seq,
                        "a batch of %zu records outgrew the %zu bytes asked of the "
                        "output-buffer provider",
                        count, j->region_max);
            return efail(e, VMS_E_INTERNAL);
        }
        return commit_region(e, j);
    }
    e->pending = e->cur;
    e->pending_count = count;
    if (e->nsets == 1)
        return emit_pending(e);
    e->cur = (e->cur + 1) % e->nsets;
    return VMS_OK;
}

/* ---- gathering small writes ----------------------------------------------- */

/* Records a SIMD round takes: one group of 8 per thread. */
static size_t gather_cap(const vms_encoder *e)
{
    return (size_t)VMS_LANES * e->threads;
}

/* Build knob for measurement, as the decoder's VMS_DEC_PARK_K: the
 * records of a write are held for the next one when copying them costs
 * less than the SIMD lanes they would leave idle.  A lane's step costs the
 * same however few lanes are busy, and a copy of a record is about a
 * third of its share of an 8-lane hash on one thread, so: held iff new
 * copies x threads <= K x idle lanes of the round. */
#ifndef VMS_ENC_GATHER_K
#define VMS_ENC_GATHER_K 2
#endif

/* Whether the first count records of the current set, the last of which
 * point into the caller's buffer, should wait in the gather buffers
 * rather than be hashed now in a short round (gathering on, and the
 * buffers to be had). */
static bool hold(vms_encoder *e, size_t count)
{
    const size_t cap = gather_cap(e);
    if (!e->gather || count >= cap ||
        (count - e->held) * e->threads > (size_t)VMS_ENC_GATHER_K * (cap - count))
        return false;
    if (!e->gbuf && !e->gtried) {
        /* Optional, like the decoder's wire slots: without them the
         * records are hashed at once, only slower. */
        e->gtried = true;
        if (e->record_size <= SIZE_MAX / cap)
            e->gbuf = vms_malloc(&e->mem, cap * e->record_size);
    }
    return e->gbuf != NULL;
}

/* Holds the current set's first count records: every earlier record is
 * emitted first (a pending set may still use the gather buffers), then
 * the ones still in the caller's buffer are copied. */
static int keep(vms_encoder *e, size_t count)
{
    int rc = e->pending_count ? emit_pending(e) : VMS_OK;
    if (rc)
        return rc;
    enc_slot *set = e->slots + e->cur * e->nslots;
    for (size_t k = e->held; k < count; k++) {
        uint8_t *g = e->gbuf + k * e->record_size;
        memcpy(g, set[k].src, set[k].n);
        set[k].src = g;
        e->st.gathered_bytes += set[k].n;
    }
    e->held = count;
    return VMS_OK;
}

/* Hashes and emits the held records, and any pending set. */
static int submit_held(vms_encoder *e)
{
    int rc = VMS_OK;
    if (e->held) {
        rc = submit(e, e->held);
        e->held = 0;
    }
    if (rc == VMS_OK && e->pending_count)
        rc = emit_pending(e);
    return rc;
}

/* What every streaming call answers before it does anything: a sticky
 * error, or VMS_E_STATE after finish. */
static int usable(const vms_encoder *e)
{
    if (e->state == ES_FAILED)
        return e->err.info.code;
    return e->state == ES_DONE ? VMS_E_STATE : VMS_OK;
}

vms_status vms_encoder_write(vms_encoder *e, uint32_t section, uint64_t offset,
                             uint32_t phase, const void *data, size_t len)
{
    if (!e || (!data && len))
        return VMS_E_INVALID_ARG;
    int rc = usable(e);
    if (rc)
        return rc;
    rc = begin(e);
    if (rc)
        return rc;
    if (len == 0)
        return VMS_OK;
    /* Argument errors: refused without changing the encoder (not sticky). */
    if (phase < e->last_phase)
        return VMS_E_BAD_PHASE;
    if (offset > UINT64_MAX - len)
        return VMS_E_BAD_OFFSET;
    e->last_phase = phase;
    const uint8_t *p = data;
    /* The set goes on from the records held by earlier writes. */
    size_t count = e->held;
    uint64_t planned = e->since_ckpt;
    for (size_t k = 0; k < count; k++)
        planned += e->slots[e->cur * e->nslots + k].n;
    while (len > 0) {
        size_t n = len < e->record_size ? len : e->record_size;
        if (e->sign && planned > 0 && planned + n > e->ckpt_interval) {
            if (count && (rc = submit(e, count)) != VMS_OK)
                return rc;
            count = e->held = 0;
            if (e->pending_count && (rc = emit_pending(e)) != VMS_OK)
                return rc;
            if ((rc = checkpoint(e)) != VMS_OK)
                return rc;
            planned = 0;
        }
        enc_slot *s = &e->slots[e->cur * e->nslots + count++];
        s->section = section;
        s->offset = offset;
        s->phase = phase;
        s->src = p;
        s->n = n;
        planned += n;
        p += n;
        offset += n;
        len -= n;
        if (count == e->nslots) {
            if ((rc = submit(e, count)) != VMS_OK)
                return rc;
            count = e->held = 0;
        }
    }
    if (count && hold(e, count))
        return keep(e, count);
    /* Every record points into the caller's buffer: all are emitted
     * before the call returns. */
    if (count && (rc = submit(e, count)) != VMS_OK)
        return rc;
    e->held = 0;
    return e->pending_count ? emit_pending(e) : VMS_OK;
}

const vms_encoder_stats *vms_encoder_get_stats(const vms_encoder *e)
{
    static const vms_encoder_stats none;
    return e ? &e->st : &none;
}

vms_status vms_encoder_flush(vms_encoder *e)
{
    if (!e)
        return VMS_E_INVALID_ARG;
    int rc = usable(e);
    if (rc || e->state == ES_NEW) /* nothing written yet: the header waits too */
        return rc;
    return submit_held(e);
}

vms_status vms_encoder_finish(vms_encoder *e)
{
    if (!e)
        return VMS_E_INVALID_ARG;
    int rc = usable(e);
    if (rc)
        return rc;
    rc = begin(e);
    if (rc)
        return rc;
    if ((rc = submit_held(e)) != VMS_OK)
        return rc;
    uint8_t body[VMS_END_PAYLOAD_SIGNED];
    uint32_t blen = e->sign ? VMS_END_PAYLOAD_SIGNED : VMS_END_PAYLOAD;
    vms_put64(body + VMS_E_RECORDS, e->seq);
    vms_put64(body + VMS_E_RAW_BYTES, e->raw_total);
    vms_put64(body + VMS_E_STREAM_BYTES, e->off);
    memcpy(body + VMS_E_CHAIN, e->chain, VMS_DIGEST_BYTES);
    if (e->sign) {
        rc = sign(e, VMS_SIG_KIND_END, body + VMS_E_SIGNATURE);
        if (rc)
            return rc;
    }
    rc = write_record(e, VMS_REC_END, 0, 0, 0, 0, body, blen, blen);
    if (rc)
        return rc;
    e->state = ES_DONE;
    return VMS_OK;
}
