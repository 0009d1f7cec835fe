/* test_stats.c - vms_encoder_get_stats() and vms_decoder_get_stats(): the
 * counts match what the stream and the input say, and the copies the
 * library makes of state are the ones its documentation allows: none
 * between the caller's buffer and the sink without a codec, gathering or
 * a lent buffer; a decoded body at most once. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#define REC (64u * 1024)
#define NREC 40u

/* Pages of one repeated byte in in[0, n), 4 KiB pages from 0. */
static size_t uniform_pages(const uint8_t *in, size_t n)
{
    size_t count = 0;
    for (size_t pg = 0; pg < n; pg += 4096) {
        size_t len = n - pg < 4096 ? n - pg : 4096;
        count += memcmp(in + pg, in + pg + 1, len - 1) == 0;
    }
    return count;
}

typedef struct enc_run {
    vms_membuf mb;
    vms_encoder_stats st;
} enc_run;

/* Options of an encode; the state goes in writes of piece bytes. */
typedef struct enc_opts {
    unsigned threads;
    int elide;
    vms_codec codec;
    int gather;
    bool lend;
    size_t piece;
} enc_opts;

/* Output-buffer provider over a membuf: lends the room after its bytes. */
static void *lend_membuf(void *ctx, size_t max_len)
{
    vms_membuf *mb = ctx;
    if (mb->cap - mb->len < max_len) {
        size_t cap = mb->len + max_len;
        uint8_t *p = realloc(mb->data, cap);
        if (!p)
            return NULL;
        mb->data = p;
        mb->cap = cap;
    }
    return mb->data + mb->len;
}

/* A sink for the provider: the commit of a lent region is in place. */
static int sink_lent(void *ctx, const void *buf, size_t len)
{
    vms_membuf *mb = ctx;
    if (buf == mb->data + mb->len && mb->cap - mb->len >= len) {
        mb->len += len;
        return 0;
    }
    return vms_sink_membuf(ctx, buf, len);
}

static enc_run encode(const uint8_t *in, size_t n, const enc_opts *o)
{
    enc_run r;
    memset(&r, 0, sizeof r);
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, o->lend ? sink_lent : vms_sink_membuf, &r.mb, NULL),
                 VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, REC), VMS_OK);
    cr_assert_eq(vms_encoder_set_threads(e, o->threads), VMS_OK);
    cr_assert_eq(vms_encoder_set_page_elision(e, o->elide), VMS_OK);
    cr_assert_eq(vms_encoder_set_compression(e, o->codec, 0), VMS_OK);
    cr_assert_eq(vms_encoder_set_gather(e, o->gather), VMS_OK);
    if (o->lend)
        cr_assert_eq(vms_encoder_set_output_buffer(e, lend_membuf, &r.mb), VMS_OK);
    const vms_encoder_stats *st = vms_encoder_get_stats(e);
    cr_assert_eq(st->records, 0);
    size_t piece = o->piece ? o->piece : n;
    for (size_t off = 0; off < n; off += piece) {
        size_t len = n - off < piece ? n - off : piece;
        cr_assert_eq(vms_encoder_write(e, 0, off, 0, in + off, len), VMS_OK);
    }
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    cr_assert_eq(vms_encoder_get_stats(e), st, "the pointer is the encoder's, stable");
    r.st = *st;
    vms_encoder_free(e);
    return r;
}

/* Payload bytes of the stream's records, from their headers. */
static uint64_t stream_payload(const tu_stream *s, size_t records)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < records; i++)
        sum += vms_le32(s->data + tu_record_offset(s, i) + VMS_R_WIRE_LEN);
    return sum;
}

/* The counts every encode must give: records, state, payload as the
 * stream says, and at least one hash call per set. */
static void check_counts(const enc_run *r, size_t n, size_t records, const char *what)
{
    const vms_encoder_stats *st = &r->st;
    tu_stream s = {r->mb.data, r->mb.len};
    cr_assert_eq(st->records, records, "%s", what);
    cr_assert_eq(st->state_bytes, n, "%s", what);
    cr_assert_eq(vms_le16(s.data + tu_record_offset(&s, st->records) + VMS_R_TYPE), VMS_REC_END,
                 "%s", what);
    cr_assert_eq(st->payload_bytes, stream_payload(&s, st->records), "%s", what);
    cr_assert_geq(st->sets, 1, "%s", what);
    cr_assert_geq(st->hash_calls, st->sets, "%s", what);
    cr_assert_leq(st->hash_calls, st->records, "%s", what);
}

Test(encoder_stats, no_copy_of_state_without_codec_gathering_or_lending)
{
    const size_t n = NREC * REC + 1000; /* a short last record */
    uint8_t *dev = tu_state(n, 51), *rnd = tu_random(n, 52);
    for (unsigned threads = 1; threads <= 2; threads++) {
        enc_opts o = {.threads = threads, .elide = 1};
        enc_run a = encode(dev, n, &o);
        check_counts(&a, n, NREC + 1, "device-like");
        cr_assert_eq(a.st.lent_bytes + a.st.gathered_bytes + a.st.packed_bytes, 0,
                     "%u threads: the encoder copied state", threads);
        /* every uniform page went out as a fill byte */
        cr_assert_eq(a.st.elided_pages, uniform_pages(dev, n), "%u threads", threads);
        cr_assert_gt(a.st.elided_pages, 0);
        cr_assert_lt(a.st.payload_bytes, n);

        enc_run b = encode(rnd, n, &o);
        check_counts(&b, n, NREC + 1, "random");
        cr_assert_eq(b.st.lent_bytes + b.st.gathered_bytes + b.st.packed_bytes, 0);
        cr_assert_eq(b.st.elided_pages, 0);
        cr_assert_eq(b.st.payload_bytes, n, "random state goes out whole");

        o.elide = 0;
        enc_run c = encode(dev, n, &o);
        check_counts(&c, n, NREC + 1, "no elision");
        cr_assert_eq(c.st.elided_pages, 0);
        cr_assert_eq(c.st.payload_bytes, n);
        vms_membuf_release(&a.mb);
        vms_membuf_release(&b.mb);
        vms_membuf_release(&c.mb);
    }
    free(dev);
    free(rnd);
}

Test(encoder_stats, lent_buffers_take_each_payload_once)
{
    const size_t n = NREC * REC;
    uint8_t *dev = tu_state(n, 53);
    for (unsigned threads = 1; threads <= 2; threads++) {
        enc_opts o = {.threads = threads, .elide = 1, .lend = true};
        enc_run r = encode(dev, n, &o);
        check_counts(&r, n, NREC, "lent");
        cr_assert_eq(r.st.lent_bytes, r.st.payload_bytes, "%u threads", threads);
        cr_assert_eq(r.st.gathered_bytes + r.st.packed_bytes, 0);
        enc_opts p = {.threads = threads, .elide = 1};
        enc_run s = encode(dev, n, &p);
        cr_assert_eq(r.mb.len, s.mb.len);
        cr_assert(memcmp(r.mb.data, s.mb.data, s.mb.len) == 0, "the same stream");
        vms_membuf_release(&r.mb);
        vms_membuf_release(&s.mb);
    }
    free(dev);
}

Test(encoder_stats, gathering_copies_a_record_at_most_once)
{
    const size_t n = NREC * REC;
    uint8_t *dev = tu_state(64 * REC, 54); /* the whole rounds below take 64 */
    for (unsigned threads = 1; threads <= 2; threads++) {
        /* writes of a quarter record: records are held, each copied once */
        enc_opts o = {.threads = threads, .elide = 1, .gather = 1, .piece = REC / 4};
        enc_run r = encode(dev, n, &o);
        check_counts(&r, n, 4 * NREC, "gathered"); /* records end with writes */
        /* a round takes 8 records per thread; each write adds one, and
         * every record but the one that fills the round is held, copied
         * once (4 x 40 records: whole rounds on 1 and 2 threads) */
        const size_t cap = 8 * threads, rounds = 4 * NREC / cap;
        cr_assert_eq(r.st.gathered_bytes, (uint64_t)rounds * (cap - 1) * (REC / 4),
                     "%u threads: %llu bytes gathered", threads,
                     (unsigned long long)r.st.gathered_bytes);
        cr_assert_eq(r.st.lent_bytes + r.st.packed_bytes, 0);
        /* writes of whole rounds leave nothing to hold */
        enc_opts w = {.threads = threads, .elide = 1, .gather = 1,
                      .piece = (size_t)8 * threads * REC};
        enc_run q = encode(dev, (size_t)32 * threads * REC, &w);
        cr_assert_eq(q.st.gathered_bytes, 0, "%u threads", threads);
        vms_membuf_release(&r.mb);
        vms_membuf_release(&q.mb);
    }
    free(dev);
}

Test(encoder_stats, page_maps_with_a_codec_pack_the_literal_pages)
{
    const size_t n = NREC * REC;
    uint8_t *dev = tu_state(n, 55);
    const vms_codec codecs[] = {VMS_CODEC_ZLIB, VMS_CODEC_ZSTD};
    for (size_t k = 0; k < 2; k++) {
        if (!vms_codec_available(codecs[k]))
            continue;
        enc_opts o = {.threads = 2, .elide = 1, .codec = codecs[k]};
        enc_run r = encode(dev, n, &o);
        check_counts(&r, n, NREC, "codec");
        const size_t uni = uniform_pages(dev, n);
        cr_assert_eq(r.st.elided_pages, uni);
        cr_assert_eq(r.st.packed_bytes, n - uni * 4096, "codec %zu", k);
        cr_assert_eq(r.st.lent_bytes + r.st.gathered_bytes, 0);
        o.elide = 0; /* the compressor reads the caller's buffer */
        enc_run q = encode(dev, n, &o);
        cr_assert_eq(q.st.packed_bytes + q.st.elided_pages, 0);
        vms_membuf_release(&r.mb);
        vms_membuf_release(&q.mb);
    }
    free(dev);
}

Test(encoder_stats, short_sets_of_large_records_are_spread)
{
    /* One write of 7 records of 256 KiB: on 2 threads a set too short to
     * give each thread a group of 8, of large records, is hashed in 2
     * calls (4 + 3); on one thread in one. */
    const size_t rec = 256u * 1024, n = 7 * rec;
    uint8_t *in = tu_random(n, 56);
    for (unsigned threads = 1; threads <= 2; threads++) {
        vms_membuf mb = {0};
        vms_encoder *e;
        cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
        cr_assert_eq(vms_encoder_set_record_size(e, rec), VMS_OK);
        cr_assert_eq(vms_encoder_set_threads(e, threads), VMS_OK);
        cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, n), VMS_OK);
        const vms_encoder_stats *st = vms_encoder_get_stats(e);
        cr_assert_eq(st->records, 7);
        cr_assert_eq(st->sets, 1);
        cr_assert_eq(st->hash_calls, threads, "%u threads", threads);
        cr_assert_eq(st->spread_sets, threads > 1, "%u threads", threads);
        cr_assert_eq(vms_encoder_finish(e), VMS_OK);
        vms_encoder_free(e);
        vms_membuf_release(&mb);
    }
    free(in);
}

Test(stats, null_objects_count_nothing)
{
    const vms_encoder_stats *e = vms_encoder_get_stats(NULL);
    const vms_decoder_stats *d = vms_decoder_get_stats(NULL);
    cr_assert_not_null(e);
    cr_assert_not_null(d);
    const vms_encoder_stats ez = {0};
    const vms_decoder_stats dz = {0};
    cr_assert(memcmp(e, &ez, sizeof ez) == 0, "a NULL encoder counts something");
    cr_assert(memcmp(d, &dz, sizeof dz) == 0, "a NULL decoder counts something");
}

/* Sum of the raw lengths of the stream's page-mapped records. */
static uint64_t mapped_state(const tu_stream *s, size_t records)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < records; i++) {
        const uint8_t *rh = s->data + tu_record_offset(s, i);
        if (vms_le16(rh + VMS_R_FLAGS) & VMS_RF_PAGEMAP)
            sum += vms_le32(rh + VMS_R_RAW_LEN);
    }
    return sum;
}

/* Sum of the padded body lengths of the stream's records before END. */
static uint64_t stream_bodies(const tu_stream *s, size_t records)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < records; i++)
        sum += vms_pad8(vms_le32(s->data + tu_record_offset(s, i) + VMS_R_WIRE_LEN));
    return sum;
}

Test(decoder_stats, bodies_copied_only_when_feeds_split_them)
{
    const size_t n = NREC * REC + 1000;
    uint8_t *dev = tu_state(n, 57);
    tu_stream s = tu_encode_opts(dev, n, REC, VMS_CODEC_NONE, 1);
    const size_t records = NREC + 1;
    const uint64_t bodies = stream_bodies(&s, records);
    uint8_t *rnd = tu_random(NREC * REC, 61);
    tu_stream rs = tu_encode_opts(rnd, NREC * REC, REC, VMS_CODEC_NONE, 0);
    for (unsigned threads = 1; threads <= 2; threads++) {
        /* one feed: every body hashed where it lies */
        tu_result w = tu_decode_all(s.data, s.len, SIZE_MAX, NULL, NULL, VMS_AUTH_NONE, false,
                                    NULL, threads, false);
        cr_assert_eq(w.rc, VMS_END, "%s", w.msg);
        cr_assert_arr_eq(w.data, dev, n);
        cr_assert_eq(w.stats.bodies, records, "%u threads", threads);
        cr_assert_eq(w.stats.bodies_in_place, records);
        cr_assert_eq(w.stats.assembled_bytes + w.stats.parked_bytes + w.stats.held_bytes, 0);
        cr_assert_geq(w.stats.hash_calls, w.stats.batches);
        cr_assert_geq(w.stats.batches, (records + 8 * threads - 1) / (8 * threads));
        /* every page-mapped record was expanded for delivery */
        cr_assert_eq(w.stats.expanded_bytes, mapped_state(&s, records), "%u threads", threads);
        cr_assert_gt(w.stats.expanded_bytes, n / 2);
        /* feeds of 1000 bytes: no body lies whole in one, each is put
         * together once */
        tu_result p = tu_decode_all(s.data, s.len, 1000, NULL, NULL, VMS_AUTH_NONE, false,
                                    NULL, threads, false);
        cr_assert_eq(p.rc, VMS_END, "%s", p.msg);
        cr_assert_arr_eq(p.data, dev, n);
        cr_assert_eq(p.stats.bodies, records);
        cr_assert_eq(p.stats.bodies_in_place, 0);
        cr_assert_eq(p.stats.assembled_bytes, bodies, "%u threads", threads);
        cr_assert_eq(p.stats.parked_bytes, 0);
        cr_assert_eq(p.stats.shared_copies, 0, "pieces of 1000 bytes are not shared");
        /* feeds of 5 records of random state (every body REC bytes): each
         * body is exactly one of hashed in place, parked, or put together,
         * so the three add up to the bodies, and parking happened */
        const size_t step = 5 * (VMS_R_HDR + REC);
        tu_result f = tu_decode_all(rs.data, rs.len, step, NULL, NULL, VMS_AUTH_NONE, false,
                                    NULL, threads, false);
        cr_assert_eq(f.rc, VMS_END, "%s", f.msg);
        cr_assert_arr_eq(f.data, rnd, NREC * REC);
        cr_assert_eq(f.stats.bodies, NREC);
        cr_assert_eq(f.stats.bodies_in_place * REC + f.stats.parked_bytes +
                         f.stats.assembled_bytes,
                     (uint64_t)NREC * REC, "%u threads: %llu in place, %llu + %llu bytes copied",
                     threads, (unsigned long long)f.stats.bodies_in_place,
                     (unsigned long long)f.stats.parked_bytes,
                     (unsigned long long)f.stats.assembled_bytes);
        cr_assert_gt(f.stats.parked_bytes, 0, "%u threads", threads);
        cr_assert_gt(f.stats.assembled_bytes, 0, "%u threads", threads);
        tu_result_free(&w);
        tu_result_free(&p);
        tu_result_free(&f);
    }
    tu_stream_free(&rs);
    free(rnd);
    tu_stream_free(&s);
    free(dev);
}

Test(decoder_stats, page_runs_expand_nothing)
{
    const size_t n = NREC * REC;
    uint8_t *dev = tu_state(n, 58);
    tu_stream s = tu_encode_opts(dev, n, REC, VMS_CODEC_NONE, 1);
    for (unsigned threads = 1; threads <= 2; threads++) {
        tu_result r = tu_decode_runs(s.data, s.len, SIZE_MAX, threads);
        cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
        cr_assert_arr_eq(r.data, dev, n);
        cr_assert_eq(r.run_records, NREC);
        cr_assert_eq(r.stats.expanded_bytes, 0, "%u threads", threads);
        tu_result_free(&r);
    }
    tu_stream_free(&s);
    free(dev);
}

static int count_record(void *ctx, const vms_record *r)
{
    *(uint64_t *)ctx += r->len;
    return 0;
}

Test(decoder_stats, signed_state_is_held_once)
{
    uint8_t priv[32], pub[32];
    cr_assert_eq(vms_ed25519_keygen(priv, pub), VMS_OK);
    const size_t n = NREC * REC;
    uint8_t *rnd = tu_random(n, 59);
    vms_membuf mb = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, REC), VMS_OK);
    cr_assert_eq(vms_encoder_set_ed25519_key(e, priv), VMS_OK);
    cr_assert_eq(vms_encoder_set_checkpoint_interval(e, 8 * REC), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, rnd, n), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    for (unsigned threads = 1; threads <= 2; threads++) {
        uint64_t got = 0;
        vms_decoder_callbacks cb = {.on_record = count_record, .ctx = &got};
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_add_ed25519_key(d, pub), VMS_OK);
        cr_assert_eq(vms_decoder_set_threads(d, threads), VMS_OK);
        cr_assert_eq(vms_decoder_feed(d, mb.data, mb.len, NULL), VMS_END);
        cr_assert_eq(vms_decoder_finish(d), VMS_END);
        cr_assert_eq(got, n);
        const vms_decoder_stats *st = vms_decoder_get_stats(d);
        cr_assert_eq(st->held_bytes, n, "%u threads", threads);
        cr_assert_eq(st->assembled_bytes + st->parked_bytes, 0);
        vms_decoder_free(d);
    }
    vms_membuf_release(&mb);
    free(rnd);
}

/* Feeds of vms_decoder_feed_hint() bytes end where batches of full-size
 * records do, whatever the header's length.  The first feed (1 MiB, asked
 * before the header is known) splits one body and leaves the whole ones
 * before it parked; after it, no body is split or parked: every one is
 * hashed where it lies, in full batches. */
Test(decoder_stats, feeds_of_the_hint_split_no_body_after_the_first)
{
    const size_t rec = 256 * 1024, nrec = 70;
    uint8_t *in = tu_random(nrec * rec, 60);
    tu_stream s = tu_encode_opts(in, nrec * rec, rec, VMS_CODEC_NONE, 0);
    for (unsigned threads = 1; threads <= 3; threads++) {
        tu_result r;
        memset(&r, 0, sizeof r);
        vms_decoder_callbacks cb = {.on_record = tu_on_record, .ctx = &r};
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_set_threads(d, threads), VMS_OK);
        int rc = VMS_OK;
        size_t feeds = 0;
        vms_decoder_stats first;
        for (size_t pos = 0, n; pos < s.len && rc == VMS_OK; pos += n, feeds++) {
            size_t hint = vms_decoder_feed_hint(d);
            n = s.len - pos < hint ? s.len - pos : hint;
            rc = vms_decoder_feed(d, s.data + pos, n, NULL);
            if (feeds == 0)
                first = *vms_decoder_get_stats(d);
        }
        cr_assert_eq(rc, VMS_END, "%u threads: %s", threads, vms_decoder_error(d)->message);
        cr_assert_eq(vms_decoder_finish(d), VMS_END);
        cr_assert_arr_eq(r.data, in, nrec * rec);
        const vms_decoder_stats *st = vms_decoder_get_stats(d);
        cr_assert_eq(st->bodies, nrec);
        /* one body split, by the first feed (its two pieces put together) */
        cr_assert_eq(st->assembled_bytes, rec, "%u threads: %llu bytes put together", threads,
                     (unsigned long long)st->assembled_bytes);
        cr_assert_gt(first.assembled_bytes, 0);
        cr_assert_eq(st->parked_bytes, first.parked_bytes, "%u threads: parked after the first",
                     threads);
        cr_assert_eq(st->bodies_in_place, nrec - 1 - first.parked_bytes / rec);
        /* full batches but the last: the first takes the rest of record 0 */
        const size_t cap = 8 * threads;
        cr_assert_eq(st->batches, (nrec + cap - 1) / cap, "%u threads: %llu batches", threads,
                     (unsigned long long)st->batches);
        cr_assert_geq(feeds, 2);
        vms_decoder_free(d);
        tu_result_free(&r);
    }
    tu_stream_free(&s);
    free(in);
}
