/* test_pagemap.c - uniform-page elision: round trips, size, and every
 * malformed page map rejected. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void check_roundtrip(const uint8_t *in, size_t n, size_t chunk, vms_codec codec,
                            size_t step)
{
    tu_stream s = tu_encode_opts(in, n, chunk, codec, 1);
    tu_result r = tu_decode(s.data, s.len, step, NULL);
    cr_assert_eq(r.rc, VMS_END, "n=%zu codec=%d: %s", n, codec, r.msg);
    cr_assert_eq(r.len, n);
    cr_assert(memcmp(r.data, in, n) == 0, "content differs n=%zu codec=%d", n, codec);
    tu_result_free(&r);
    tu_stream_free(&s);
}

Test(pagemap, roundtrips)
{
    const size_t sizes[] = {1, 4095, 4096, 4097, 3 * 4096 + 100, 64 * 4096 + 1};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        size_t n = sizes[k];
        uint8_t *in = tu_state(n, 77 + k);
        /* force a uniform non-zero page and a uniform partial last page */
        if (n > 8192)
            memset(in + 4096, 0xa5, 4096);
        memset(in + (n - 1) / 4096 * 4096, 0x11, n - (n - 1) / 4096 * 4096);
        for (int codec = 0; codec <= 2; codec++) {
            if (!vms_codec_available((vms_codec)codec))
                continue;
            check_roundtrip(in, n, 16384, (vms_codec)codec, SIZE_MAX);
            check_roundtrip(in, n, 16384, (vms_codec)codec, 97);
        }
        free(in);
    }
}

Test(pagemap, uniform_pages_cost_no_bandwidth)
{
    size_t n = 4u << 20;
    uint8_t *z = calloc(1, n);
    tu_stream s = tu_encode_opts(z, n, 1u << 20, VMS_CODEC_NONE, 1);
    /* 4 records: header + 4 x (72 + 32-byte bitmap + 256 fill bytes) + END */
    cr_assert_lt(s.len, 2048, "stream of %zu bytes", s.len);
    size_t r0 = tu_record_offset(&s, 0);
    cr_assert_eq(vms_le16(s.data + r0 + VMS_R_FLAGS), VMS_RF_PAGEMAP);
    cr_assert_eq(vms_le32(s.data + r0 + VMS_R_WIRE_LEN), 32 + 256);
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert(memcmp(r.data, z, n) == 0);
    tu_result_free(&r);
    tu_stream_free(&s);
    /* Without elision the same state costs its full size. */
    s = tu_encode_opts(z, n, 1u << 20, VMS_CODEC_NONE, 0);
    cr_assert_gt(s.len, n);
    cr_assert_eq(vms_le32(s.data + VMS_H_FEAT_REQ) & VMS_FEAT_PAGEMAP, 0);
    tu_stream_free(&s);
    free(z);
}

/* One record of 3 pages: zero, literal, 0x77-filled. */
static tu_stream three_pages(vms_codec codec)
{
    uint8_t in[3 * 4096];
    memset(in, 0, 4096);
    for (int i = 0; i < 4096; i++)
        in[4096 + i] = (uint8_t)(i * 7 + (i >> 5));
    memset(in + 8192, 0x77, 4096);
    tu_stream s = tu_encode_opts(in, sizeof in, sizeof in, codec, 1);
    size_t r0 = tu_record_offset(&s, 0);
    cr_assert(vms_le16(s.data + r0 + VMS_R_FLAGS) & VMS_RF_PAGEMAP);
    return s;
}

/* Rejected with code, and alike (code, offset, record, message) when
 * page-mapped records go out in runs, on 1 and 2 threads. */
static void expect_code(tu_stream *s, int code)
{
    tu_result r = tu_decode(s->data, s->len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, code, "expected %s got %s (%s)", vms_strerror(code),
                 vms_strerror(r.rc), r.msg);
    cr_assert_eq(r.records, 0);
    for (unsigned t = 1; t <= 2; t++) {
        tu_result q = tu_decode_runs(s->data, s->len, SIZE_MAX, t);
        cr_assert_eq(q.rc, r.rc, "in runs, %u threads: %s (%s)", t, vms_strerror(q.rc), q.msg);
        cr_assert_eq(q.offset, r.offset);
        cr_assert_eq(q.err_record, r.err_record);
        cr_assert_str_eq(q.msg, r.msg);
        cr_assert_eq(q.records, 0);
        tu_result_free(&q);
    }
    tu_result_free(&r);
}

Test(pagemap, malformed_maps_rejected)
{
    tu_stream s = three_pages(VMS_CODEC_NONE);
    size_t p = tu_record_offset(&s, 0) + VMS_R_HDR;
    cr_assert_eq(s.data[p], 0x05, "bitmap of pages 0 and 2");
    cr_assert_eq(s.data[p + 8], 0x00);
    cr_assert_eq(s.data[p + 9], 0x77);

    tu_stream t = tu_copy(&s);
    t.data[p] |= 0x08; /* page 3 does not exist */
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_NONZERO_PADDING);
    tu_stream_free(&t);

    t = tu_copy(&s);
    t.data[p + 1] = 1; /* bitmap padding byte */
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_NONZERO_PADDING);
    tu_stream_free(&t);

    t = tu_copy(&s);
    t.data[p + 8 + 5] = 1; /* fill padding */
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_NONZERO_PADDING);
    tu_stream_free(&t);

    t = tu_copy(&s);
    t.data[p] = 0x07; /* 3 uniform pages claimed, one literal page present */
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_LENGTH);
    tu_stream_free(&t);

    t = tu_copy(&s);
    t.data[p] = 0x01; /* one uniform page: the second fill byte is now padding */
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_NONZERO_PADDING);
    tu_stream_free(&t);

    t = tu_copy(&s);
    t.data[p] = 0x04; /* only page 2 uniform: too few literal bytes */
    t.data[p + 8] = 0x77;
    t.data[p + 9] = 0x00;
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_LENGTH);
    tu_stream_free(&t);

    t = tu_copy(&s);
    t.data[p] = 0x00; /* no uniform page at all */
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_LENGTH);
    tu_stream_free(&t);

    t = tu_copy(&s); /* page maps not declared in the header */
    vms_put32(t.data + VMS_H_FEAT_REQ, 0);
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_RECORD_FLAGS);
    tu_stream_free(&t);

    t = tu_copy(&s); /* compressed page map without a codec */
    size_t r0 = tu_record_offset(&t, 0);
    vms_put16(t.data + r0 + VMS_R_FLAGS, VMS_RF_PAGEMAP | VMS_RF_COMPRESSED);
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_RECORD_FLAGS);
    tu_stream_free(&t);
    tu_stream_free(&s);
}

static int flags_seen;
static int note_flags(void *ctx, const vms_record *r)
{
    (void)ctx;
    flags_seen |= r->flags;
    cr_assert_lt(r->wire_len, r->len, "page-mapped records are smaller on the wire");
    return 0;
}

Test(pagemap, record_reports_wire_form)
{
    tu_stream s = three_pages(VMS_CODEC_ZLIB);
    vms_decoder_callbacks cb = {.on_record = note_flags};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    flags_seen = 0;
    cr_assert_eq(vms_decoder_feed(d, s.data, s.len, NULL), VMS_END);
    cr_assert_eq(flags_seen, VMS_RF_PAGEMAP | VMS_RF_COMPRESSED);
    vms_decoder_free(d);
    tu_stream_free(&s);
}

Test(pagemap, compressed_literals_exact)
{
    tu_stream s = three_pages(VMS_CODEC_ZLIB);
    size_t r0 = tu_record_offset(&s, 0);
    cr_assert_eq(vms_le16(s.data + r0 + VMS_R_FLAGS), VMS_RF_PAGEMAP | VMS_RF_COMPRESSED);
    tu_result r = tu_decode(s.data, s.len, 5, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.data[8192], 0x77);
    cr_assert_eq(r.data[4097], 7);
    tu_result_free(&r);
    /* Declaring one more uniform page makes the literal part too long for
     * its compressed size's declared expansion. */
    tu_stream t = tu_copy(&s);
    t.data[r0 + VMS_R_HDR] = 0x07;
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_LENGTH);
    tu_stream_free(&t);
    /* Corrupt deflate data behind a valid map. */
    t = tu_copy(&s);
    t.data[r0 + VMS_R_HDR + 16 + 3] ^= 0xff;
    tu_restamp(&t, NULL, 0);
    expect_code(&t, VMS_E_BAD_COMPRESSION);
    tu_stream_free(&t);
    tu_stream_free(&s);
}

/* Every single-bit flip of s is rejected.  With runs, the flipped stream is
 * also decoded with page-mapped records in runs: same code, offset,
 * message and records staged before the error. */
static void flip_every_bit(tu_stream *s, bool runs)
{
    for (size_t i = 0; i < s->len; i++)
        for (int b = 0; b < 8; b++) {
            s->data[i] ^= (uint8_t)(1u << b);
            tu_result r = tu_decode(s->data, s->len, SIZE_MAX, NULL);
            cr_assert(r.rc < 0, "flip %zu/%d accepted", i, b);
            if (runs) {
                tu_result q = tu_decode_runs(s->data, s->len, SIZE_MAX, 1);
                cr_assert_eq(q.rc, r.rc, "flip %zu/%d", i, b);
                cr_assert_eq(q.offset, r.offset);
                cr_assert_str_eq(q.msg, r.msg);
                cr_assert_eq(q.records, r.records, "flip %zu/%d", i, b);
                tu_result_free(&q);
            }
            tu_result_free(&r);
            s->data[i] ^= (uint8_t)(1u << b);
        }
}

Test(pagemap, every_bit_flip_rejected)
{
    tu_stream s = three_pages(VMS_CODEC_ZLIB);
    flip_every_bit(&s, true); /* compressed page maps come in runs too */
    tu_stream_free(&s);
}

/* Without a codec, a page map's literal pages are neither gathered nor
 * copied: each run of them reaches the sink straight from the caller's
 * buffer, right after one call with the record header and the map. */
typedef struct call_log {
    vms_membuf mb;
    size_t n;
    const uint8_t *p[64];
    size_t len[64];
} call_log;

static int log_sink(void *ctx, const void *buf, size_t len)
{
    call_log *c = ctx;
    if (c->n < 64) {
        c->p[c->n] = buf;
        c->len[c->n] = len;
    }
    c->n++;
    return vms_sink_membuf(&c->mb, buf, len);
}

Test(pagemap, literal_runs_sent_from_callers_buffer)
{
    /* pages: L Z L L Z Z L U L L and a literal tail of 100 bytes */
    const size_t n = 10 * 4096 + 100;
    const char kinds[] = "LZLLZZLULLL";
    const size_t run_at[] = {0, 2, 6, 8}, run_len[] = {4096, 8192, 4096, 8192 + 100};
    uint8_t *in = malloc(n);
    uint64_t seed = 4242;
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)tu_rng(&seed);
    for (size_t i = 0; i < 11; i++)
        if (kinds[i] == 'Z')
            memset(in + i * 4096, 0, 4096);
        else if (kinds[i] == 'U')
            memset(in + i * 4096, 0x33, 4096);
    tu_stream ref = tu_encode_opts(in, n, n, VMS_CODEC_NONE, 1);
    for (unsigned threads = 1; threads <= 2; threads++) {
        call_log c = {0};
        vms_encoder *e;
        cr_assert_eq(vms_encoder_new(&e, log_sink, &c, NULL), VMS_OK);
        cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
        cr_assert_eq(vms_encoder_set_record_size(e, n), VMS_OK);
        cr_assert_eq(vms_encoder_set_threads(e, threads), VMS_OK);
        cr_assert_eq(vms_encoder_write(e, 1, 0, 0, in, n), VMS_OK);
        cr_assert_eq(vms_encoder_finish(e), VMS_OK);
        vms_encoder_free(e);
        cr_assert_leq(c.n, 64);
        /* the stream is the one the plain encoder makes */
        cr_assert_eq(c.mb.len, ref.len);
        cr_assert(memcmp(c.mb.data, ref.data, ref.len) == 0, "%u threads", threads);
        size_t first = 0;
        while (first < c.n && c.p[first] != in)
            first++;
        cr_assert_lt(first, c.n, "%u threads: no sink call from the caller's page 0",
                     threads);
        /* 72-byte header, 8-byte bitmap, 8 bytes for 4 fills, in one call */
        cr_assert_geq(first, 1);
        cr_assert_eq(c.len[first - 1], 72 + 8 + 8, "%u threads", threads);
        for (size_t k = 0; k < 4; k++) {
            cr_assert_lt(first + k, c.n);
            cr_assert_eq(c.p[first + k], in + run_at[k] * 4096,
                         "%u threads: run %zu sent from elsewhere", threads, k);
            cr_assert_eq(c.len[first + k], run_len[k], "%u threads: run %zu: %zu bytes", threads, k, c.len[first + k]);
        }
        /* then the padding (wire length 16 + 6 x 4096 + 100) */
        cr_assert_eq(c.len[first + 4], 4, "%u threads", threads);
        tu_result r = tu_decode(c.mb.data, c.mb.len, 333, NULL);
        cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
        cr_assert_eq(r.len, n);
        cr_assert(memcmp(r.data, in, n) == 0);
        tu_result_free(&r);
        vms_membuf_release(&c.mb);
    }
    tu_stream_free(&ref);
    free(in);
}

/* vms_decoder_set_page_runs: the state assembled from the runs is the
 * state encoded, for every size, codec, feed size and thread count; only
 * uncompressed page-mapped records come in runs (tu_on_record checks the
 * runs' order, coverage and merging). */
Test(pagemap, runs_deliver_the_state)
{
    const size_t sizes[] = {4095, 4096, 3 * 4096 + 100, 64 * 4096 + 1, 3u << 20};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const size_t n = sizes[k];
        uint8_t *in = tu_state(n, 300 + k);
        if (n > 5 * 4096) { /* two uniform pages of one byte: one fill run */
            memset(in + 4096, 0x5a, 2 * 4096);
            memset(in + 3 * 4096, 0, 4096);
        }
        memset(in + (n - 1) / 4096 * 4096, 0x11, n - (n - 1) / 4096 * 4096);
        for (int codec = 0; codec <= 2; codec++) {
            if (!vms_codec_available((vms_codec)codec))
                continue;
            tu_stream st = tu_encode_opts(in, n, 1u << 20, (vms_codec)codec, 1);
            size_t mapped = 0, compressed_mapped = 0;
            for (size_t i = 0; tu_record_offset(&st, i) < st.len; i++) {
                const size_t ro = tu_record_offset(&st, i);
                if (vms_le16(st.data + ro + VMS_R_TYPE) != VMS_REC_STATE)
                    break;
                const uint16_t fl = vms_le16(st.data + ro + VMS_R_FLAGS);
                mapped += (fl & VMS_RF_PAGEMAP) != 0;
                compressed_mapped += fl == (VMS_RF_PAGEMAP | VMS_RF_COMPRESSED);
            }
            cr_assert_gt(mapped, 0, "n=%zu codec=%d: no page map to test", n, codec);
            for (unsigned t = 1; t <= 2; t++)
                for (size_t step = 97; step != 0; step = step == 97 ? SIZE_MAX : 0) {
                    tu_result r = tu_decode_runs(st.data, st.len, step, t);
                    cr_assert_eq(r.rc, VMS_END, "n=%zu codec=%d: %s", n, codec, r.msg);
                    cr_assert_eq(r.commits, 1);
                    cr_assert_eq(r.len, n);
                    cr_assert(memcmp(r.data, in, n) == 0,
                              "n=%zu codec=%d threads=%u step=%zu: state differs", n, codec,
                              t, step);
                    /* compressed ones too, from their decompressed pages */
                    cr_assert_eq(r.run_records, mapped,
                                 "n=%zu codec=%d: %zu records in runs, %zu page maps", n,
                                 codec, r.run_records, mapped);
                    tu_result_free(&r);
                }
            if (codec != VMS_CODEC_NONE && n > 5 * 4096)
                cr_assert_gt(compressed_mapped, 0, "n=%zu codec=%d: no compressed page map",
                             n, codec);
            tu_stream_free(&st);
        }
        free(in);
    }
}

/* Off by default: the same stream comes expanded, in data. */
Test(pagemap, runs_off_by_default)
{
    tu_stream s = three_pages(VMS_CODEC_NONE);
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.run_records, 0);
    tu_result_free(&r);
    r = tu_decode_runs(s.data, s.len, SIZE_MAX, 1);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.run_records, 1);
    cr_assert_eq(r.data[0], 0);
    cr_assert_eq(r.data[8192], 0x77);
    tu_result_free(&r);
    /* a setting: before the first feed only */
    vms_decoder *d;
    cr_assert_eq(vms_decoder_set_page_runs(NULL, 1), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_set_page_runs(d, 1), VMS_OK);
    cr_assert_eq(vms_decoder_feed(d, s.data, 10, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_set_page_runs(d, 0), VMS_E_STATE);
    vms_decoder_free(d);
    tu_stream_free(&s);
}

/* Every single-bit flip of an uncompressed page-mapped stream is rejected
 * in runs as it is when expanded. */
Test(pagemap, runs_every_bit_flip_rejected_alike)
{
    tu_stream s = three_pages(VMS_CODEC_NONE);
    flip_every_bit(&s, true);
    tu_stream_free(&s);
}
