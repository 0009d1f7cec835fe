/* test_core.c - encoder/decoder round trips and one test per rejection
 * class, asserting the exact error code. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "vmstream.h"
#include "wire.h"
#include "testutil.h"

/* ---- round trips ---------------------------------------------------------- */

static void roundtrip(size_t n, size_t chunk, vms_codec codec, size_t step)
{
    uint8_t *in = tu_state(n, 42 + n);
    tu_stream s = tu_encode(in, n, chunk, codec, NULL);
    tu_result r = tu_decode(s.data, s.len, step, NULL);
    cr_assert_eq(r.rc, VMS_END, "n=%zu chunk=%zu codec=%d step=%zu: %s (%s)", n, chunk,
                 codec, step, vms_strerror(r.rc), r.msg);
    cr_assert_eq(r.len, n, "decoded %zu of %zu bytes", r.len, n);
    cr_assert(n == 0 || memcmp(r.data, in, n) == 0, "content differs");
    cr_assert_eq(r.commits, 1);
    cr_assert_eq(r.aborts, 0);
    cr_assert_eq(r.records, n ? (n + chunk - 1) / chunk : 0);
    tu_result_free(&r);
    tu_stream_free(&s);
    free(in);
}

Test(roundtrip, sizes_one_piece)
{
    const size_t c = 4096;
    const size_t sizes[] = {0, 1, c - 1, c, c + 1, 7 * c + 13};
    for (int codec = 0; codec <= 2; codec++) {
        if (!vms_codec_available((vms_codec)codec))
            continue;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            roundtrip(sizes[i], c, (vms_codec)codec, SIZE_MAX);
    }
}

Test(roundtrip, sizes_byte_at_a_time)
{
    const size_t c = 512;
    const size_t sizes[] = {0, 1, c - 1, c, c + 1, 5 * c + 3};
    for (int codec = 0; codec <= 2; codec++) {
        if (!vms_codec_available((vms_codec)codec))
            continue;
        for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
            roundtrip(sizes[i], c, (vms_codec)codec, 1);
    }
}

Test(roundtrip, odd_split_sizes)
{
    for (size_t step = 2; step < 200; step += 7)
        roundtrip(3000, 1000, VMS_CODEC_ZLIB, step);
}

Test(roundtrip, deterministic_with_fixed_stream_id)
{
    uint8_t *in = tu_state(10000, 7);
    tu_stream a = tu_encode(in, 10000, 4096, VMS_CODEC_ZLIB, NULL);
    tu_stream b = tu_encode(in, 10000, 4096, VMS_CODEC_ZLIB, NULL);
    cr_assert_eq(a.len, b.len);
    cr_assert(memcmp(a.data, b.data, a.len) == 0);
    tu_stream_free(&a);
    tu_stream_free(&b);
    free(in);
}

Test(roundtrip, random_stream_ids_differ)
{
    vms_membuf m1 = {0}, m2 = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &m1, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &m2, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    cr_assert_eq(m1.len, m2.len);
    cr_assert(memcmp(m1.data + VMS_H_STREAM_ID, m2.data + VMS_H_STREAM_ID, 16) != 0);
    vms_membuf_release(&m1);
    vms_membuf_release(&m2);
}

Test(roundtrip, compression_stores_incompressible_raw)
{
    uint8_t *in = tu_random(8192, 3);
    tu_stream s = tu_encode(in, 8192, 4096, VMS_CODEC_ZLIB, NULL);
    /* Two records, both raw: flags 0 and wire_len == raw_len. */
    size_t off = tu_record_offset(&s, 0);
    cr_assert_eq(vms_le16(s.data + off + VMS_R_FLAGS), 0);
    cr_assert_eq(vms_le32(s.data + off + VMS_R_WIRE_LEN), 4096);
    tu_stream_free(&s);
    free(in);
}

Test(roundtrip, sections_offsets_phases_delivered)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    uint8_t a[100], b[50];
    memset(a, 0xaa, sizeof a);
    memset(b, 0xbb, sizeof b);
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 64), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 3, 1000, 0, a, sizeof a), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 7, 5, 1, b, sizeof b), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 3, 0, VMS_PHASE_STOP_COPY, b, 10), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 3, 0, 2, b, 10), VMS_E_BAD_PHASE);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    tu_result r = tu_decode(mb.data, mb.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.nlog, 4);
    cr_assert_eq(r.log[0].section, 3);
    cr_assert_eq(r.log[0].offset, 1000);
    cr_assert_eq(r.log[0].len, 64);
    cr_assert_eq(r.log[1].offset, 1064);
    cr_assert_eq(r.log[1].len, 36);
    cr_assert_eq(r.log[2].section, 7);
    cr_assert_eq(r.log[2].phase, 1);
    cr_assert_eq(r.log[3].phase, VMS_PHASE_STOP_COPY);
    cr_assert_eq(r.log[3].len, 10);
    tu_result_free(&r);
    vms_membuf_release(&mb);
}

/* ---- header rejections ---------------------------------------------------- */

static tu_stream small_stream(vms_codec codec)
{
    uint8_t *in = tu_state(300, 11);
    tu_stream s = tu_encode(in, 300, 100, codec, NULL);
    free(in);
    return s;
}

static void expect(tu_stream *s, int code)
{
    tu_result r = tu_decode(s->data, s->len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, code, "expected %s, got %s (%s)", vms_strerror(code),
                 vms_strerror(r.rc), r.msg);
    cr_assert_eq(r.commits, 0);
    cr_assert_eq(r.aborts, 1);
    cr_assert_eq(r.err_code, code);
    cr_assert(r.msg[0] != 0, "error without a message");
    tu_result_free(&r);
    /* Byte at a time must give the same code. */
    r = tu_decode(s->data, s->len, 1, NULL);
    cr_assert_eq(r.rc, code, "byte-wise: expected %s, got %s (%s)", vms_strerror(code),
                 vms_strerror(r.rc), r.msg);
    tu_result_free(&r);
}

Test(header, bad_magic)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[1] = 'X';
    expect(&s, VMS_E_BAD_MAGIC);
    tu_stream_free(&s);
}

Test(header, garbage_rejected_at_first_byte)
{
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
    size_t used = 99;
    cr_assert_eq(vms_decoder_feed(d, "G", 1, &used), VMS_E_BAD_MAGIC);
    cr_assert_eq(vms_decoder_error(d)->offset, 0);
    cr_assert_eq(used, 0);
    vms_decoder_free(d);
}

Test(header, text_mode_damage_named)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    /* CR LF -> LF translation: drop byte 4. */
    memmove(s.data + 4, s.data + 5, s.len - 5);
    s.len--;
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_MAGIC);
    cr_assert(strstr(r.msg, "CR LF") != NULL, "%s", r.msg);
    cr_assert_eq(r.offset, 4);
    tu_result_free(&r);
    tu_stream_free(&s);
}

Test(header, unsupported_major)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put16(s.data + VMS_H_MAJOR, 2);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_UNSUPPORTED_VERSION);
    tu_stream_free(&s);
}

Test(header, newer_minor_with_extension_accepted)
{
    /* A 1.1 stream whose header grew by 16 extension bytes still decodes. */
    tu_stream s = small_stream(VMS_CODEC_NONE);
    uint32_t hl = vms_le32(s.data + VMS_H_LENGTH);
    uint8_t *n = malloc(s.len + 16);
    memcpy(n, s.data, hl - 32);
    memset(n + hl - 32, 0x5a, 16);
    memcpy(n + hl - 16, s.data + hl - 32, s.len - (hl - 32));
    free(s.data);
    s.data = n;
    s.len += 16;
    vms_put16(s.data + VMS_H_MINOR, 1);
    vms_put32(s.data + VMS_H_LENGTH, hl + 16);
    size_t e = tu_record_offset(&s, 3);
    vms_put64(s.data + e + VMS_R_HDR + VMS_E_STREAM_BYTES, e);
    tu_restamp(&s, NULL, 0);
    tu_result r = tu_decode(s.data, s.len, 3, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    tu_result_free(&r);
    /* The same growth claimed by a 1.0 header is rejected. */
    vms_put16(s.data + VMS_H_MINOR, 0);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_HEADER);
    tu_stream_free(&s);
}

Test(header, unknown_required_feature)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + VMS_H_FEAT_REQ, 0x100);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_UNKNOWN_FEATURE);
    tu_stream_free(&s);
}

Test(header, unknown_optional_feature_ignored)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + VMS_H_FEAT_OPT, 0x80000000u);
    tu_restamp(&s, NULL, 0);
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    tu_result_free(&r);
    tu_stream_free(&s);
}

Test(header, unknown_algorithms)
{
    const size_t fields[] = {VMS_H_CSUM_ALG, VMS_H_AUTH, VMS_H_CODEC};
    for (int i = 0; i < 3; i++) {
        tu_stream s = small_stream(VMS_CODEC_NONE);
        s.data[fields[i]] = 9;
        tu_restamp(&s, NULL, 0);
        expect(&s, VMS_E_UNKNOWN_ALGORITHM);
        tu_stream_free(&s);
    }
}

Test(header, codec_contradicts_feature)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[VMS_H_CODEC] = VMS_CODEC_ZLIB; /* feature flag left clear */
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_HEADER);
    tu_stream_free(&s);
}

Test(header, reserved_vendor_space)
{
    const uint32_t bad[] = {0x00000001u, 0x7fffffffu, 0x80010000u, 0xffff10deu};
    for (int i = 0; i < 4; i++) {
        tu_stream s = small_stream(VMS_CODEC_NONE);
        vms_put32(s.data + VMS_H_VENDOR, bad[i]);
        tu_restamp(&s, NULL, 0);
        expect(&s, VMS_E_BAD_VENDOR_ID);
        tu_stream_free(&s);
    }
    cr_assert_eq(vms_vendor_id_check(VMS_VENDOR_PCI(0x10de)), VMS_OK);
    cr_assert_eq(vms_vendor_id_check(0), VMS_OK);
}

Test(header, nonzero_reserved_and_padding)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[VMS_H_RESERVED] = 1;
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_NONZERO_PADDING);
    tu_stream_free(&s);

    /* key id must be zero without auth */
    s = small_stream(VMS_CODEC_NONE);
    s.data[VMS_H_KEY_ID + 3] = 1;
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_NONZERO_PADDING);
    tu_stream_free(&s);

    /* blob padding */
    s = tu_encode_blob((const uint8_t *)"abc", 3);
    s.data[VMS_H_FIXED + 5] = 1;
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_NONZERO_PADDING);
    tu_stream_free(&s);
}

Test(header, header_checksum)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[VMS_H_STREAM_ID] ^= 1;
    expect(&s, VMS_E_HEADER_CHECKSUM);
    tu_stream_free(&s);
}

Test(header, bad_lengths)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + VMS_H_LENGTH, 100); /* not consistent, not 8-aligned */
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_HEADER);
    tu_stream_free(&s);

    s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + VMS_H_MAX_RECORD, 0);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_HEADER);
    tu_stream_free(&s);

    s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + VMS_H_BLOB_LEN, 0xffffffffu);
    expect(&s, VMS_E_BAD_HEADER);
    tu_stream_free(&s);
}

/* ---- limits ------------------------------------------------------------------ */

static void expect_limit(tu_stream *s, vms_limit which, uint64_t v, int code)
{
    vms_limits *l;
    cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
    cr_assert_eq(vms_limits_set(l, which, v), VMS_OK);
    tu_result r = tu_decode(s->data, s->len, SIZE_MAX, l);
    cr_assert_eq(r.rc, code, "limit %d=%llu: expected %s got %s (%s)", which,
                 (unsigned long long)v, vms_strerror(code), vms_strerror(r.rc), r.msg);
    tu_result_free(&r);
    vms_limits_free(l);
}

Test(limits, each_limit_enforced)
{
    tu_stream s = small_stream(VMS_CODEC_NONE); /* 3 records of 100 */
    expect_limit(&s, VMS_LIMIT_RECORD_RAW, 99, VMS_E_LIMIT_RECORD);
    expect_limit(&s, VMS_LIMIT_RECORD_PAYLOAD, 99, VMS_E_LIMIT_RECORD);
    expect_limit(&s, VMS_LIMIT_TOTAL_BYTES, 4096, VMS_OK == 0 && s.len > 4096 ? VMS_E_LIMIT_TOTAL : VMS_END);
    expect_limit(&s, VMS_LIMIT_RECORDS, 2, VMS_E_LIMIT_RECORDS);
    expect_limit(&s, VMS_LIMIT_RECORDS, 3, VMS_END);
    tu_stream_free(&s);

    uint8_t blob[300] = {0};
    s = tu_encode_blob(blob, sizeof blob);
    expect_limit(&s, VMS_LIMIT_BLOB, 299, VMS_E_LIMIT_BLOB);
    expect_limit(&s, VMS_LIMIT_BLOB, 300, VMS_END);
    tu_stream_free(&s);

    /* A stream declaring 4 MiB records against a 1 MiB buffer budget. */
    uint8_t *in = tu_state(10, 1);
    s = tu_encode(in, 10, 4u << 20, VMS_CODEC_NONE, NULL);
    expect_limit(&s, VMS_LIMIT_BUFFERED, 1u << 20, VMS_E_LIMIT_RECORD);
    tu_stream_free(&s);
    free(in);
}

Test(limits, total_bytes)
{
    uint8_t *in = tu_state(20000, 5);
    tu_stream s = tu_encode(in, 20000, 1000, VMS_CODEC_NONE, NULL);
    expect_limit(&s, VMS_LIMIT_TOTAL_BYTES, 8192, VMS_E_LIMIT_TOTAL);
    tu_stream_free(&s);
    free(in);
}

Test(limits, setters_validate)
{
    vms_limits *l;
    uint64_t lo, hi;
    cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
    cr_assert_eq(vms_limit_bounds(VMS_LIMIT_RECORD_RAW, &lo, &hi), VMS_OK);
    cr_assert_eq(vms_limits_set(l, VMS_LIMIT_RECORD_RAW, hi + 1), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_limits_get(l, VMS_LIMIT_RECORD_RAW), vms_limit_default(VMS_LIMIT_RECORD_RAW));
    cr_assert_eq(vms_limits_set(l, VMS_LIMIT_RECORD_RAW, lo - 1), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_limits_set(l, (vms_limit)77, 5), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_limit_bounds((vms_limit)77, &lo, &hi), VMS_E_INVALID_ARG);
    vms_limits_free(l);
    vms_limits_free(NULL);
}

Test(limits, memory_independent_of_stream_length)
{
    uint64_t peak[2];
    for (int i = 0; i < 2; i++) {
        size_t n = (i ? 64u : 8u) << 20;
        uint8_t *in = tu_state(n, 9);
        tu_stream s = tu_encode(in, n, 1u << 20, VMS_CODEC_ZLIB, NULL);
        tu_result r = tu_decode_nocopy(s.data, s.len, 65536, &peak[i]);
        cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
        tu_result_free(&r);
        tu_stream_free(&s);
        free(in);
    }
    cr_assert_eq(peak[0], peak[1], "peak %llu vs %llu", (unsigned long long)peak[0],
                 (unsigned long long)peak[1]);
    cr_assert_lt(peak[1], 3u << 20, "peak %llu", (unsigned long long)peak[1]);
}

/* ---- record rejections ------------------------------------------------------ */

Test(record, checksum)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[tu_record_offset(&s, 1) + VMS_R_HDR + 5] ^= 0x10;
    expect(&s, VMS_E_RECORD_CHECKSUM);
    tu_stream_free(&s);
}

Test(record, no_byte_of_a_bad_record_delivered)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[tu_record_offset(&s, 1) + VMS_R_HDR + 99] ^= 0x01; /* last payload byte */
    tu_result r = tu_decode(s.data, s.len, 1, NULL);
    cr_assert_eq(r.rc, VMS_E_RECORD_CHECKSUM);
    cr_assert_eq(r.records, 1, "only record 0 may be delivered");
    cr_assert_eq(r.err_record, 1);
    tu_result_free(&r);
    tu_stream_free(&s);
}

Test(record, sequence_drop_duplicate_reorder)
{
    tu_stream base = small_stream(VMS_CODEC_NONE);
    size_t r0 = tu_record_offset(&base, 0), r1 = tu_record_offset(&base, 1),
           r2 = tu_record_offset(&base, 2);
    size_t rl = r1 - r0;
    /* drop record 1 */
    tu_stream s = tu_copy(&base);
    memmove(s.data + r1, s.data + r2, s.len - r2);
    s.len -= rl;
    expect(&s, VMS_E_BAD_SEQUENCE);
    tu_stream_free(&s);
    /* duplicate record 0 */
    s = tu_splice(&base, r1, base.data + r0, rl);
    expect(&s, VMS_E_BAD_SEQUENCE);
    tu_stream_free(&s);
    /* swap records 0 and 1 */
    s = tu_copy(&base);
    memcpy(s.data + r0, base.data + r1, rl);
    memcpy(s.data + r1, base.data + r0, rl);
    expect(&s, VMS_E_BAD_SEQUENCE);
    tu_stream_free(&s);
    /* a valid-looking renumbered drop still fails at END (chain/count) */
    s = tu_copy(&base);
    memmove(s.data + r1, s.data + r2, s.len - r2);
    s.len -= rl;
    vms_put64(s.data + r1 + VMS_R_SEQ, 1);
    tu_restamp_records_only(&s, NULL, 0);
    expect(&s, VMS_E_BAD_SEQUENCE); /* END seq is still 3 */
    tu_stream_free(&s);
    tu_stream_free(&base);
}

Test(record, unknown_mandatory_type)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put16(s.data + tu_record_offset(&s, 1) + VMS_R_TYPE, 0x4444);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_UNKNOWN_RECORD);
    tu_stream_free(&s);
}

Test(record, unknown_optional_type_skipped)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    size_t r1 = tu_record_offset(&s, 1);
    vms_put16(s.data + r1 + VMS_R_TYPE, 0x4444);
    vms_put16(s.data + r1 + VMS_R_FLAGS, VMS_RF_OPTIONAL);
    /* END counts only state bytes: 200 now */
    size_t e = tu_record_offset(&s, 3);
    vms_put64(s.data + e + VMS_R_HDR + VMS_E_RAW_BYTES, 200);
    tu_restamp(&s, NULL, 0);
    tu_result r = tu_decode(s.data, s.len, 7, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.records, 2);
    cr_assert_eq(r.log[1].offset, 200);
    tu_result_free(&r);
    /* ... but its checksum is still verified */
    s.data[r1 + VMS_R_HDR] ^= 1;
    expect(&s, VMS_E_RECORD_CHECKSUM);
    tu_stream_free(&s);
}

Test(record, unknown_flags)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put16(s.data + tu_record_offset(&s, 0) + VMS_R_FLAGS, 0x0100);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_RECORD_FLAGS);
    tu_stream_free(&s);
    /* compressed flag in a stream without codec */
    s = small_stream(VMS_CODEC_NONE);
    vms_put16(s.data + tu_record_offset(&s, 0) + VMS_R_FLAGS, VMS_RF_COMPRESSED);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_RECORD_FLAGS);
    tu_stream_free(&s);
}

Test(record, reserved_and_padding)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + tu_record_offset(&s, 0) + VMS_R_RESERVED, 1);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_NONZERO_PADDING);
    tu_stream_free(&s);
    /* 100-byte payload has 4 bytes of padding */
    s = small_stream(VMS_CODEC_NONE);
    s.data[tu_record_offset(&s, 0) + VMS_R_HDR + 101] = 7;
    expect(&s, VMS_E_NONZERO_PADDING);
    tu_stream_free(&s);
}

Test(record, lengths)
{
    /* uncompressed with raw_len != wire_len */
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + tu_record_offset(&s, 0) + VMS_R_RAW_LEN, 101);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_LENGTH);
    tu_stream_free(&s);
    /* wire_len beyond the stream's declared max record */
    s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + tu_record_offset(&s, 0) + VMS_R_WIRE_LEN, 101);
    vms_put32(s.data + tu_record_offset(&s, 0) + VMS_R_RAW_LEN, 101);
    expect(&s, VMS_E_BAD_LENGTH);
    tu_stream_free(&s);
    /* empty state record */
    s = small_stream(VMS_CODEC_NONE);
    size_t r0 = tu_record_offset(&s, 0);
    vms_put32(s.data + r0 + VMS_R_WIRE_LEN, 0);
    vms_put32(s.data + r0 + VMS_R_RAW_LEN, 0);
    expect(&s, VMS_E_BAD_LENGTH);
    tu_stream_free(&s);
}

Test(record, offset_overflow)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put64(s.data + tu_record_offset(&s, 2) + VMS_R_OFFSET, UINT64_MAX - 50);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_OFFSET);
    tu_stream_free(&s);
}

Test(record, phase_backwards)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    vms_put32(s.data + tu_record_offset(&s, 0) + VMS_R_PHASE, 5);
    vms_put32(s.data + tu_record_offset(&s, 1) + VMS_R_PHASE, 4);
    tu_restamp(&s, NULL, 0);
    expect(&s, VMS_E_BAD_PHASE);
    tu_stream_free(&s);
}

/* ---- compression --------------------------------------------------------------- */

/* Replaces record 0's payload with a zlib stream of `content` (clen bytes
 * declared raw_len), restamped. */
static tu_stream zlib_record(const uint8_t *content, size_t clen, uint32_t raw_len,
                             const uint8_t *extra, size_t extra_len)
{
    uint8_t comp[4096];
    size_t n = tu_zlib(content, clen, comp, sizeof comp);
    if (extra_len)
        memcpy(comp + n, extra, extra_len);
    n += extra_len;
    return tu_single_record(VMS_CODEC_ZLIB, VMS_RF_COMPRESSED, comp, n, raw_len, 4096);
}

Test(compression, exact_length_enforced)
{
    uint8_t z[1000];
    memset(z, 0, sizeof z);
    tu_stream s = zlib_record(z, 1000, 1000, NULL, 0);
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.len, 1000);
    tu_result_free(&r);
    tu_stream_free(&s);

    s = zlib_record(z, 1000, 999, NULL, 0); /* more than declared: bomb */
    expect(&s, VMS_E_BAD_COMPRESSION);
    tu_stream_free(&s);
    s = zlib_record(z, 1000, 1001, NULL, 0); /* less than declared */
    expect(&s, VMS_E_BAD_COMPRESSION);
    tu_stream_free(&s);
    s = zlib_record(z, 1000, 1000, (const uint8_t *)"xy", 2); /* trailing */
    expect(&s, VMS_E_BAD_COMPRESSION);
    tu_stream_free(&s);
}

Test(compression, bomb_is_bounded)
{
    /* 4 MiB of zeros compress to ~4 KiB; declared 4096 raw: the decoder
     * inflates at most 4096 bytes and rejects. */
    size_t big = 4u << 20;
    uint8_t *z = calloc(1, big);
    uint8_t *comp = malloc(big);
    size_t n = tu_zlib(z, big, comp, big);
    cr_assert_lt(n, 4096);
    tu_stream s = tu_single_record(VMS_CODEC_ZLIB, VMS_RF_COMPRESSED, comp, n, 4096, 4096);
    uint64_t peak;
    tu_result r = tu_decode_nocopy(s.data, s.len, SIZE_MAX, &peak);
    cr_assert_eq(r.rc, VMS_E_BAD_COMPRESSION, "%s", r.msg);
    cr_assert_lt(peak, 128u << 10);
    tu_result_free(&r);
    tu_stream_free(&s);
    free(z);
    free(comp);
}

Test(compression, invalid_data_and_noncanonical_lengths)
{
    uint8_t junk[50];
    memset(junk, 0x33, sizeof junk);
    tu_stream s = tu_single_record(VMS_CODEC_ZLIB, VMS_RF_COMPRESSED, junk, 50, 100, 4096);
    expect(&s, VMS_E_BAD_COMPRESSION);
    tu_stream_free(&s);
    /* compressed but not smaller */
    s = tu_single_record(VMS_CODEC_ZLIB, VMS_RF_COMPRESSED, junk, 50, 50, 4096);
    expect(&s, VMS_E_BAD_LENGTH);
    tu_stream_free(&s);
}

/* ---- END, truncation, trailing data ------------------------------------------ */

Test(end, counts_and_chain)
{
    const size_t fields[] = {VMS_E_RECORDS, VMS_E_RAW_BYTES, VMS_E_STREAM_BYTES};
    for (int i = 0; i < 3; i++) {
        tu_stream s = small_stream(VMS_CODEC_NONE);
        size_t e = tu_record_offset(&s, 3);
        s.data[e + VMS_R_HDR + fields[i]] ^= 1;
        tu_restamp(&s, NULL, 0);
        expect(&s, VMS_E_BAD_END);
        tu_stream_free(&s);
    }
    tu_stream s = small_stream(VMS_CODEC_NONE);
    size_t e = tu_record_offset(&s, 3);
    s.data[e + VMS_R_HDR + VMS_E_CHAIN] ^= 1;
    tu_restamp_records_only(&s, NULL, 0); /* END checksum fixed, chain wrong */
    expect(&s, VMS_E_CHAIN_MISMATCH);
    tu_stream_free(&s);
}

Test(end, every_truncation)
{
    tu_stream s = small_stream(VMS_CODEC_ZLIB);
    for (size_t cut = 0; cut < s.len; cut++) {
        tu_result r = tu_decode(s.data, cut, SIZE_MAX, NULL);
        cr_assert_eq(r.rc, VMS_E_TRUNCATED, "cut at %zu: %s", cut, vms_strerror(r.rc));
        cr_assert_eq(r.commits, 0);
        cr_assert_eq(r.aborts, 1);
        tu_result_free(&r);
    }
    tu_stream_free(&s);
}

Test(end, trailing_data)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    tu_stream t = tu_splice(&s, s.len, (const uint8_t *)"\0", 1);
    expect(&t, VMS_E_TRAILING_DATA);
    /* Fed after VMS_END in a separate call. */
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_feed(d, s.data, s.len, NULL), VMS_END);
    cr_assert_eq(vms_decoder_feed(d, "x", 1, NULL), VMS_E_TRAILING_DATA);
    cr_assert_eq(vms_decoder_finish(d), VMS_E_TRAILING_DATA);
    vms_decoder_free(d);
    /* Two streams spliced back to back. */
    tu_stream two = tu_splice(&s, s.len, s.data, s.len);
    expect(&two, VMS_E_TRAILING_DATA);
    tu_stream_free(&two);
    tu_stream_free(&t);
    tu_stream_free(&s);
}

Test(end, every_bit_flip_rejected)
{
    tu_stream s = small_stream(VMS_CODEC_ZLIB);
    for (size_t i = 0; i < s.len; i++) {
        for (int b = 0; b < 8; b++) {
            s.data[i] ^= (uint8_t)(1u << b);
            tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
            cr_assert(r.rc < 0, "flip of byte %zu bit %d accepted", i, b);
            cr_assert_eq(r.commits, 0);
            tu_result_free(&r);
            s.data[i] ^= (uint8_t)(1u << b);
        }
    }
    tu_stream_free(&s);
}

/* ---- API behaviour ------------------------------------------------------------- */

Test(api, error_is_sticky)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    s.data[tu_record_offset(&s, 0) + VMS_R_HDR] ^= 1;
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
    size_t used;
    cr_assert_eq(vms_decoder_feed(d, s.data, s.len, &used), VMS_E_RECORD_CHECKSUM);
    uint64_t off = vms_decoder_error(d)->offset;
    cr_assert_eq(vms_decoder_feed(d, s.data, 10, &used), VMS_E_RECORD_CHECKSUM);
    cr_assert_eq(used, 0);
    cr_assert_eq(vms_decoder_finish(d), VMS_E_RECORD_CHECKSUM);
    cr_assert_eq(vms_decoder_error(d)->offset, off);
    cr_assert_eq(vms_decoder_complete(d), 0);
    vms_decoder_free(d);
    tu_stream_free(&s);
}

static int count_cb(void *ctx, const vms_stream_summary *sum)
{
    (void)sum;
    ++*(int *)ctx;
    return 0;
}

static int count_abort(void *ctx, const vms_error_info *e)
{
    (void)e;
    *(int *)ctx += 100;
    return 0;
}

Test(api, commit_only_at_finish_and_once)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    int n = 0;
    vms_decoder_callbacks cb = {.on_commit = count_cb, .on_abort = count_abort, .ctx = &n};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_feed(d, s.data, s.len, NULL), VMS_END);
    cr_assert_eq(n, 0, "commit must wait for finish");
    cr_assert_eq(vms_decoder_finish(d), VMS_END);
    cr_assert_eq(vms_decoder_finish(d), VMS_END);
    cr_assert_eq(n, 1);
    const vms_stream_summary *sum = vms_decoder_summary(d);
    cr_assert_not_null(sum);
    cr_assert_eq(sum->records, 3);
    cr_assert_eq(sum->raw_bytes, 300);
    cr_assert_eq(sum->stream_bytes, s.len);
    vms_decoder_free(d);
    cr_assert_eq(n, 1, "no abort after commit");
    tu_stream_free(&s);
}

Test(api, abort_on_free_when_incomplete)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    int n = 0;
    vms_decoder_callbacks cb = {.on_commit = count_cb, .on_abort = count_abort, .ctx = &n};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_feed(d, s.data, s.len - 1, NULL), VMS_OK);
    vms_decoder_free(d);
    cr_assert_eq(n, 100);
    tu_stream_free(&s);
}

static int refuse_record(void *ctx, const vms_record *r)
{
    (void)ctx;
    return r->index == 1;
}

Test(api, callback_refusal)
{
    tu_stream s = small_stream(VMS_CODEC_NONE);
    int n = 0;
    vms_decoder_callbacks cb = {.on_record = refuse_record, .on_commit = count_cb,
                                .on_abort = count_abort, .ctx = &n};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_feed(d, s.data, s.len, NULL), VMS_E_CALLBACK);
    cr_assert_eq(n, 100);
    cr_assert_eq(vms_decoder_error(d)->record, 1);
    vms_decoder_free(d);
    tu_stream_free(&s);
}

Test(api, invalid_arguments)
{
    cr_assert_eq(vms_decoder_new(NULL, NULL, NULL, NULL), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_new(NULL, vms_sink_membuf, NULL, NULL), VMS_E_INVALID_ARG);
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, NULL, NULL, NULL), VMS_E_INVALID_ARG);
    vms_membuf mb = {0};
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 0), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_set_record_size(e, VMS_MAX_RECORD_BYTES + 1), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_set_vendor(e, 0x12345678u), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_set_compression(e, (vms_codec)9, 0), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, NULL, 5), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_write(e, 0, UINT64_MAX, 0, "ab", 2), VMS_E_BAD_OFFSET);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 10), VMS_E_STATE);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, "ab", 2), VMS_E_STATE);
    cr_assert_eq(vms_encoder_finish(e), VMS_E_STATE);
    vms_encoder_free(e);
    vms_membuf_release(&mb);
    vms_encoder_free(NULL);
    vms_decoder_free(NULL);
}

static int failing_sink(void *ctx, const void *b, size_t n)
{
    (void)b;
    size_t *left = ctx;
    if (*left < n)
        return -1;
    *left -= n;
    return 0;
}

Test(api, sink_failure_is_sticky)
{
    size_t left = 100;
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, failing_sink, &left, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, "abc", 3), VMS_E_IO);
    cr_assert_eq(vms_encoder_finish(e), VMS_E_IO);
    cr_assert_eq(vms_encoder_error(e)->code, VMS_E_IO);
    vms_encoder_free(e);
}

Test(api, strerror_and_categories)
{
    cr_assert_str_eq(vms_strerror(VMS_E_BAD_MAGIC), "VMS_E_BAD_MAGIC");
    cr_assert_str_eq(vms_strerror(VMS_OK), "VMS_OK");
    cr_assert_str_eq(vms_strerror(-9999), "VMS_E_UNKNOWN_STATUS");
    cr_assert_eq(vms_error_category_of(VMS_E_NOMEM), VMS_CAT_USAGE);
    cr_assert_eq(vms_error_category_of(VMS_E_TRUNCATED), VMS_CAT_FORMAT);
    cr_assert_eq(vms_error_category_of(VMS_E_RECORD_CHECKSUM), VMS_CAT_INTEGRITY);
    cr_assert_eq(vms_error_category_of(VMS_E_LIMIT_TOTAL), VMS_CAT_LIMIT);
    cr_assert_eq(vms_error_category_of(VMS_E_MAC_MISMATCH), VMS_CAT_POLICY);
    cr_assert_eq(vms_error_category_of(VMS_END), VMS_CAT_NONE);
    cr_assert(vms_is_error(VMS_E_IO));
    cr_assert(!vms_is_error(VMS_END));
    cr_assert_str_eq(vms_version(), VMS_VERSION_STRING);
    cr_assert_eq((vms_features() & VMS_FEATURE_ZSTD) != 0,
                 vms_codec_available(VMS_CODEC_ZSTD));
    cr_assert_eq(vms_version_number(), VMS_VERSION_NUMBER);
}

/* Fail the i-th allocation for every i: no crash, a clean error, no leak
 * (ASan runs check leaks). */
Test(api, allocation_failure_sweep)
{
    uint8_t *in = tu_state(5000, 2);
    for (int codec = 0; codec <= 2; codec++) {
        if (!vms_codec_available((vms_codec)codec))
            continue;
        tu_stream good = tu_encode(in, 5000, 1024, (vms_codec)codec, NULL);
        for (int fail_at = 0; fail_at < 200; fail_at++) {
            tu_failmem fm = {.fail_at = fail_at};
            vms_allocator a = tu_failmem_allocator(&fm);
            /* encoder */
            vms_membuf mb = {0};
            vms_encoder *e = NULL;
            int rc = vms_encoder_new(&e, vms_sink_membuf, &mb, &a);
            if (rc == VMS_OK) {
                vms_encoder_set_stream_id(e, tu_sid);
                vms_encoder_set_record_size(e, 1024);
                vms_encoder_set_compression(e, (vms_codec)codec, 0);
                rc = vms_encoder_write(e, 0, 0, 0, in, 5000);
                if (rc == VMS_OK)
                    rc = vms_encoder_finish(e);
                cr_assert(rc == VMS_OK || rc == VMS_E_NOMEM || rc == VMS_E_IO,
                          "encoder: %s", vms_strerror(rc));
                vms_encoder_free(e);
            }
            vms_membuf_release(&mb);
            /* decoder */
            vms_decoder *d = NULL;
            rc = vms_decoder_new(&d, NULL, NULL, &a);
            if (rc == VMS_OK) {
                rc = vms_decoder_feed(d, good.data, good.len, NULL);
                cr_assert(rc == VMS_END || rc == VMS_E_NOMEM || rc == VMS_E_LIMIT_RECORD,
                          "decoder: %s", vms_strerror(rc));
                vms_decoder_free(d);
            }
            cr_assert_eq(fm.live, 0, "leak at fail_at=%d codec=%d", fail_at, codec);
        }
        tu_stream_free(&good);
    }
    free(in);
}

/* ---- MAC mode ---------------------------------------------------------------------- */

Test(mac, roundtrip_and_rejections)
{
    uint8_t key[32], other[32], kid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, kid2[8] = {9};
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)i;
        other[i] = (uint8_t)(i + 1);
    }
    uint8_t *in = tu_state(3000, 4);
    tu_mac mk = {key, 32, kid};
    tu_stream s = tu_encode(in, 3000, 1000, VMS_CODEC_NONE, &mk);
    cr_assert_eq(s.data[VMS_H_AUTH], VMS_AUTH_MAC);

    tu_result r = tu_decode_mac(s.data, s.len, &mk, VMS_AUTH_MAC);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert(memcmp(r.data, in, 3000) == 0);
    tu_result_free(&r);

    tu_mac wrong = {other, 32, kid};
    r = tu_decode_mac(s.data, s.len, &wrong, VMS_AUTH_NONE);
    cr_assert_eq(r.rc, VMS_E_MAC_MISMATCH, "%s", r.msg);
    tu_result_free(&r);

    tu_mac wrong_id = {key, 32, kid2};
    r = tu_decode_mac(s.data, s.len, &wrong_id, VMS_AUTH_NONE);
    cr_assert_eq(r.rc, VMS_E_UNKNOWN_KEY, "%s", r.msg);
    tu_result_free(&r);

    r = tu_decode_mac(s.data, s.len, NULL, VMS_AUTH_NONE);
    cr_assert_eq(r.rc, VMS_E_UNKNOWN_KEY, "%s", r.msg);
    tu_result_free(&r);

    /* modified payload byte, recomputing the plain checksum is not enough */
    tu_stream t = tu_copy(&s);
    t.data[tu_record_offset(&t, 1) + VMS_R_HDR + 3] ^= 4;
    r = tu_decode_mac(t.data, t.len, &mk, VMS_AUTH_MAC);
    cr_assert_eq(r.rc, VMS_E_MAC_MISMATCH, "%s", r.msg);
    tu_result_free(&r);
    tu_stream_free(&t);

    /* stripped: rewritten as an unauthenticated stream */
    t = tu_copy(&s);
    t.data[VMS_H_AUTH] = VMS_AUTH_NONE;
    memset(t.data + VMS_H_KEY_ID, 0, 8);
    tu_restamp(&t, NULL, 0);
    r = tu_decode_mac(t.data, t.len, &mk, VMS_AUTH_MAC);
    cr_assert_eq(r.rc, VMS_E_AUTH_REQUIRED, "%s", r.msg);
    tu_result_free(&r);
    tu_stream_free(&t);

    /* a record spliced from another stream MAC'd with the same key */
    uint8_t sid2[16] = {0xee};
    tu_stream o = tu_encode_sid(in, 3000, 1000, &mk, sid2);
    t = tu_copy(&s);
    size_t r1 = tu_record_offset(&t, 1), r2 = tu_record_offset(&t, 2);
    memcpy(t.data + r1, o.data + tu_record_offset(&o, 1), r2 - r1);
    r = tu_decode_mac(t.data, t.len, &mk, VMS_AUTH_MAC);
    cr_assert_eq(r.rc, VMS_E_MAC_MISMATCH, "%s", r.msg);
    cr_assert_eq(r.records, 1);
    tu_result_free(&r);
    tu_stream_free(&t);
    tu_stream_free(&o);
    tu_stream_free(&s);
    free(in);
}

Test(mac, libb2_keyed_known_answers)
{
    /* BLAKE2b-512 keyed KAT (key = 00..3f): empty input and input 00. */
    uint8_t key[64], out[64], in0 = 0;
    for (int i = 0; i < 64; i++)
        key[i] = (uint8_t)i;
    static const uint8_t kat0[8] = {0x10, 0xeb, 0xb6, 0x77, 0x00, 0xb1, 0x86, 0x8e};
    static const uint8_t kat1[8] = {0x96, 0x1f, 0x6d, 0xd1, 0xe4, 0xdd, 0x30, 0xf6};
    cr_assert_eq(vms_blake2b_keyed(out, 64, "", 0, key, 64), 0);
    cr_assert(memcmp(out, kat0, 8) == 0);
    cr_assert_eq(vms_blake2b_keyed(out, 64, &in0, 1, key, 64), 0);
    cr_assert(memcmp(out, kat1, 8) == 0);
}

/* ---- batching and threads ------------------------------------------------------ */

Test(batch, errors_reported_in_stream_order)
{
    /* 12 records fed whole: they sit in one batch.  Record 2's payload is
     * corrupt and record 5's sequence number is wrong: the decoder must
     * report record 2 (as a sequential decoder would) and deliver 0 and 1. */
    uint8_t *in = tu_state(1200, 21);
    tu_stream s = tu_encode(in, 1200, 100, VMS_CODEC_NONE, NULL);
    s.data[tu_record_offset(&s, 2) + VMS_R_HDR + 10] ^= 1;
    vms_put64(s.data + tu_record_offset(&s, 5) + VMS_R_SEQ, 9);
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_E_RECORD_CHECKSUM, "%s", r.msg);
    cr_assert_eq(r.err_record, 2);
    cr_assert_eq(r.records, 2);
    tu_result_free(&r);
    /* with record 2 intact, the sequence error of record 5 is reported
     * after records 0..4 were delivered */
    s.data[tu_record_offset(&s, 2) + VMS_R_HDR + 10] ^= 1;
    r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SEQUENCE, "%s", r.msg);
    cr_assert_eq(r.records, 5);
    tu_result_free(&r);
    tu_stream_free(&s);
    free(in);
}

static tu_stream encode_threads(const uint8_t *in, size_t n, vms_codec codec,
                                unsigned threads)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 65536), VMS_OK);
    cr_assert_eq(vms_encoder_set_compression(e, codec, 0), VMS_OK);
    cr_assert_eq(vms_encoder_set_threads(e, threads), VMS_OK);
    /* several writes of different sizes, batches filling and not */
    size_t done = 0, step = 3 * 65536 + 5;
    while (done < n) {
        size_t k = n - done < step ? n - done : step;
        cr_assert_eq(vms_encoder_write(e, 1, done, 0, in + done, k), VMS_OK);
        done += k;
        step *= 3;
    }
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    return tu_from_membuf(&mb);
}

Test(batch, threads_give_identical_output)
{
    size_t n = 6u << 20;
    uint8_t *in = tu_state(n, 31);
    for (int codec = 0; codec <= 2; codec++) {
        if (!vms_codec_available((vms_codec)codec))
            continue;
        tu_stream one = encode_threads(in, n, (vms_codec)codec, 1);
        /* 2 and 4 threads: deeper sets without a codec (48, 64 slots) */
        for (unsigned t = 2; t <= 4; t += 2) {
            tu_stream other = encode_threads(in, n, (vms_codec)codec, t);
            cr_assert_eq(one.len, other.len, "codec %d, %u threads", codec, t);
            cr_assert(memcmp(one.data, other.data, one.len) == 0, "codec %d, %u threads differ",
                      codec, t);
            tu_stream_free(&other);
        }
        tu_stream three = encode_threads(in, n, (vms_codec)codec, 3);
        cr_assert_eq(one.len, three.len, "codec %d", codec);
        cr_assert(memcmp(one.data, three.data, one.len) == 0, "codec %d differs", codec);
        /* decode with 2 threads, in 1 MiB feeds */
        tu_result r;
        memset(&r, 0, sizeof r);
        vms_decoder_callbacks cb = {.on_record = tu_on_record, .on_commit = tu_on_commit,
                                    .ctx = &r};
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_set_threads(d, 2), VMS_OK);
        int rc = VMS_OK;
        for (size_t pos = 0; pos < one.len && rc >= 0; pos += 1u << 20)
            rc = vms_decoder_feed(d, one.data + pos,
                                  one.len - pos < (1u << 20) ? one.len - pos : 1u << 20, NULL);
        if (rc >= 0)
            rc = vms_decoder_finish(d);
        cr_assert_eq(rc, VMS_END, "%s", vms_decoder_error(d)->message);
        vms_decoder_free(d);
        cr_assert_eq(r.len, n);
        cr_assert(memcmp(r.data, in, n) == 0);
        cr_assert_eq(r.commits, 1);
        tu_result_free(&r);
        tu_stream_free(&one);
        tu_stream_free(&three);
    }
    free(in);
}

/* One write of state that changes kind: records without page maps, then
 * with them (their literal runs hashed from the caller's buffer), then
 * without again, so that sets hold records of both kinds.  Any thread
 * count gives the bytes of one thread. */
Test(batch, threads_identical_across_page_map_runs)
{
    const size_t part = 4u << 20, n = 3 * part;
    uint8_t *in = malloc(n);
    uint64_t seed = 99;
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)tu_rng(&seed);
    uint8_t *dev = tu_state(part, 5);
    memcpy(in + part, dev, part);
    free(dev);
    tu_stream ref = {0};
    for (unsigned t = 1; t <= 4; t++) {
        vms_membuf mb = {0};
        vms_encoder *e;
        cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
        cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
        cr_assert_eq(vms_encoder_set_record_size(e, 65536), VMS_OK);
        cr_assert_eq(vms_encoder_set_threads(e, t), VMS_OK);
        cr_assert_eq(vms_encoder_write(e, 1, 0, 0, in, n), VMS_OK);
        cr_assert_eq(vms_encoder_finish(e), VMS_OK);
        vms_encoder_free(e);
        tu_stream s = tu_from_membuf(&mb);
        if (t == 1) {
            /* the middle part was page-mapped: its zero pages were elided */
            cr_assert_lt(s.len, n - part / 8, "stream of %zu bytes for %zu", s.len, n);
            ref = s;
            continue;
        }
        cr_assert_eq(s.len, ref.len, "%u threads", t);
        cr_assert(memcmp(s.data, ref.data, ref.len) == 0, "%u threads differ", t);
        tu_stream_free(&s);
    }
    tu_result r = tu_decode(ref.data, ref.len, 1u << 20, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(r.len, n);
    cr_assert(memcmp(r.data, in, n) == 0);
    tu_result_free(&r);
    tu_stream_free(&ref);
    free(in);
}

/* ---- parallel unpacking: every outcome is that of one thread ---------------------- */

/* buffered: VMS_LIMIT_BUFFERED (0: the default) */
static tu_result decode_threads_lim(const tu_stream *s, unsigned threads, size_t step,
                                    uint64_t buffered)
{
    tu_result r;
    memset(&r, 0, sizeof r);
    vms_decoder_callbacks cb = {.on_record = tu_on_record, .on_commit = tu_on_commit,
                                .on_abort = tu_on_abort, .ctx = &r};
    vms_limits *l = NULL;
    if (buffered) {
        cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
        cr_assert_eq(vms_limits_set(l, VMS_LIMIT_BUFFERED, buffered), VMS_OK);
    }
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, l, &cb, NULL), VMS_OK);
    vms_limits_free(l);
    cr_assert_eq(vms_decoder_set_threads(d, threads), VMS_OK);
    int rc = VMS_OK;
    for (size_t pos = 0; pos < s->len && rc >= 0;) {
        size_t n = s->len - pos < step ? s->len - pos : step;
        rc = vms_decoder_feed(d, s->data + pos, n, NULL);
        pos += n;
    }
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    const vms_error_info *e = vms_decoder_error(d);
    r.rc = rc;
    r.offset = e->offset;
    r.err_record = e->record;
    snprintf(r.msg, sizeof r.msg, "%s", e->message);
    vms_decoder_free(d);
    return r;
}

static tu_result decode_threads(const tu_stream *s, unsigned threads, size_t step)
{
    return decode_threads_lim(s, threads, step, 0);
}

/* r failed exactly as ref did: code, place, message, and what it delivered. */
static void assert_same_failure(const tu_result *r, const tu_result *ref, const char *what)
{
    cr_assert_eq(r->rc, ref->rc, "%s: %s", what, r->msg);
    cr_assert_eq(r->err_record, ref->err_record, "%s", what);
    cr_assert_eq(r->offset, ref->offset, "%s", what);
    cr_assert_str_eq(r->msg, ref->msg, "%s", what);
    cr_assert_eq(r->records, ref->records, "%s", what);
    cr_assert_eq(r->len, ref->len, "%s", what);
    cr_assert(r->len == 0 || memcmp(r->data, ref->data, r->len) == 0, "%s", what);
    cr_assert_eq(r->commits, 0, "%s", what);
}

Test(batch, parallel_unpack_same_outcome_as_one_thread)
{
    const size_t n = 40u << 16; /* 40 records of 64 KiB */
    uint8_t *in = tu_state(n, 77);
    const size_t steps[] = {SIZE_MAX, 200000, 65536 + 72 + 13};
    for (int codec = VMS_CODEC_ZLIB; codec <= VMS_CODEC_ZSTD; codec++) {
        if (!vms_codec_available((vms_codec)codec))
            continue;
        /* zlib with page maps (compressed literal pages), zstd without */
        tu_stream s = tu_encode_opts(in, n, 65536, (vms_codec)codec, codec == VMS_CODEC_ZLIB);
        size_t comp[40], ncomp = 0, pagemapped = 0;
        for (size_t i = 0; i < 40; i++) {
            uint16_t fl = vms_le16(s.data + tu_record_offset(&s, i) + VMS_R_FLAGS);
            if (fl & VMS_RF_COMPRESSED)
                comp[ncomp++] = i;
            pagemapped += (fl & VMS_RF_PAGEMAP) != 0;
        }
        cr_assert_geq(ncomp, 20, "codec %d: only %zu compressed records", codec, ncomp);
        if (codec == VMS_CODEC_ZLIB)
            cr_assert_geq(pagemapped, 10, "only %zu page-mapped records", pagemapped);
        /* intact: the same state with every thread count and feed size */
        for (unsigned t = 1; t <= 4; t++)
            for (size_t k = 0; k < 3; k++) {
                tu_result r = decode_threads(&s, t, steps[k]);
                cr_assert_eq(r.rc, VMS_END, "codec %d, %u threads: %s", codec, t, r.msg);
                cr_assert_eq(r.len, n);
                cr_assert(memcmp(r.data, in, n) == 0, "codec %d, %u threads", codec, t);
                cr_assert_eq(r.commits, 1);
                tu_result_free(&r);
            }
        /* one corrupt compressed record (its checksum restamped, so that the
         * decompressor sees it): first, middle and last of them */
        const size_t pick[] = {comp[0], comp[ncomp / 2], comp[ncomp - 1], comp[1]};
        for (size_t p = 0; p < 4; p++) {
            size_t k = pick[p];
            tu_stream bad = tu_copy(&s);
            size_t ro = tu_record_offset(&bad, k);
            uint32_t wl = vms_le32(bad.data + ro + VMS_R_WIRE_LEN);
            uint16_t fl = vms_le16(bad.data + ro + VMS_R_FLAGS);
            /* zlib: the adler32 at the payload's end; zstd (no page map):
             * the frame magic at its start */
            size_t at = codec == VMS_CODEC_ZLIB ? ro + VMS_R_HDR + wl - 1 : ro + VMS_R_HDR;
            cr_assert(codec == VMS_CODEC_ZLIB || !(fl & VMS_RF_PAGEMAP));
            bad.data[at] ^= 0x5a;
            tu_restamp(&bad, NULL, 0);
            tu_result ref = decode_threads(&bad, 1, SIZE_MAX);
            cr_assert_eq(ref.rc, VMS_E_BAD_COMPRESSION, "codec %d record %zu: %s", codec, k,
                         ref.msg);
            cr_assert_eq(ref.err_record, k);
            cr_assert_eq(ref.records, k, "records before the bad one are delivered");
            cr_assert_eq(ref.commits, 0);
            for (unsigned t = 2; t <= 4; t++)
                for (size_t q = 0; q < 3; q++) {
                    tu_result r = decode_threads(&bad, t, steps[q]);
                    char what[64];
                    snprintf(what, sizeof what, "%u threads, step %zu", t, steps[q]);
                    assert_same_failure(&r, &ref, what);
                    tu_result_free(&r);
                }
            tu_result_free(&ref);
            tu_stream_free(&bad);
        }
        tu_stream_free(&s);
    }
    free(in);
}

/* A hand-built zlib stream: nrec compressed records of raw bytes each, the
 * one at index bad truncated (its deflate data stops short of the end). */
static tu_stream zlib_stream_truncated_at(size_t nrec, size_t raw, size_t bad)
{
    vms_header_info h;
    memset(&h, 0, sizeof h);
    h.format_major = VMS_FORMAT_MAJOR;
    h.checksum_alg = VMS_CSUM_BLAKE2B_256;
    h.codec = VMS_CODEC_ZLIB;
    h.features_required = VMS_FEAT_COMPRESSION;
    h.max_record = (uint32_t)raw;
    memcpy(h.stream_id, tu_sid, 16);
    const size_t hl = vms_header_size(0), cap = raw + raw / 2 + 64;
    tu_stream s = {calloc(1, hl + nrec * (VMS_R_HDR + cap) + VMS_R_HDR + VMS_END_PAYLOAD), 0};
    vms_header_write(s.data, &h, NULL, NULL, 0);
    size_t off = hl;
    for (size_t i = 0; i < nrec; i++) {
        uint8_t *state = tu_state(raw, 900 + i), *r = s.data + off;
        size_t clen = tu_zlib(state, raw, r + VMS_R_HDR, cap);
        cr_assert_lt(clen + 128, raw, "record %zu does not compress (%zu bytes)", i, clen);
        if (i == bad)
            clen -= 64; /* mid-stream: inflate writes output, then needs more input */
        vms_put16(r + VMS_R_TYPE, VMS_REC_STATE);
        vms_put16(r + VMS_R_FLAGS, VMS_RF_COMPRESSED);
        vms_put64(r + VMS_R_SEQ, i);
        vms_put64(r + VMS_R_OFFSET, (uint64_t)i * raw);
        vms_put32(r + VMS_R_WIRE_LEN, (uint32_t)clen);
        vms_put32(r + VMS_R_RAW_LEN, (uint32_t)raw);
        memset(r + VMS_R_HDR + clen, 0, (size_t)vms_pad8(clen) - clen);
        off += VMS_R_HDR + (size_t)vms_pad8(clen);
        free(state);
    }
    uint8_t *e = s.data + off;
    vms_put16(e + VMS_R_TYPE, VMS_REC_END);
    vms_put64(e + VMS_R_SEQ, nrec);
    vms_put32(e + VMS_R_WIRE_LEN, VMS_END_PAYLOAD);
    vms_put32(e + VMS_R_RAW_LEN, VMS_END_PAYLOAD);
    vms_put64(e + VMS_R_HDR + VMS_E_RECORDS, nrec);
    vms_put64(e + VMS_R_HDR + VMS_E_RAW_BYTES, (uint64_t)nrec * raw);
    vms_put64(e + VMS_R_HDR + VMS_E_STREAM_BYTES, off);
    s.len = off + VMS_R_HDR + VMS_END_PAYLOAD;
    tu_restamp(&s, NULL, 0);
    return s;
}

/* A record that fails on a worker is unpacked again on the decoder's own
 * buffer, codec and budget (task 0).  Where that matters: zlib allocates its
 * 32 KiB window only for data that stops short, and only the decoder's own
 * codec counts in VMS_LIMIT_BUFFERED.  Under a limit with no room for the
 * window, one thread fails the truncated record with VMS_E_LIMIT_BUFFERED;
 * a worker's codec would report VMS_E_BAD_COMPRESSION instead.  Every thread
 * count must give the one-thread outcome. */
Test(batch, worker_failure_redone_on_the_decoders_own_codec)
{
    const size_t raw = 48u << 10, nrec = 8;
    for (size_t bad = 1; bad < 4; bad += 2) { /* the second record of a group of 2 or 4 */
        tu_stream s = zlib_stream_truncated_at(nrec, raw, bad);
        /* without a tight limit: a decompression error, where it is */
        tu_result loose = decode_threads(&s, 1, SIZE_MAX);
        cr_assert_eq(loose.rc, VMS_E_BAD_COMPRESSION, "%s", loose.msg);
        cr_assert_eq(loose.err_record, bad);
        cr_assert_eq(loose.records, bad);
        tu_result_free(&loose);
        /* the lowest limit at which one thread gets as far as the truncated
         * record, and fails it for want of memory */
        uint64_t lim = 0;
        tu_result ref;
        memset(&ref, 0, sizeof ref);
        for (uint64_t l = 64u << 10; l <= 256u << 10 && !lim; l += 256) {
            ref = decode_threads_lim(&s, 1, SIZE_MAX, l);
            if (ref.rc == VMS_E_LIMIT_BUFFERED && ref.err_record == bad)
                lim = l;
            else
                tu_result_free(&ref);
        }
        cr_assert_neq(lim, 0, "no limit between 64 and 256 KiB fails record %zu on its window",
                      bad);
        cr_assert_eq(ref.records, bad, "the records before it are delivered");
        cr_assert_eq(ref.commits, 0);
        for (unsigned t = 2; t <= 4; t++) {
            tu_result r = decode_threads_lim(&s, t, SIZE_MAX, lim);
            char what[80];
            snprintf(what, sizeof what, "record %zu, %u threads, limit %llu", bad, t,
                     (unsigned long long)lim);
            assert_same_failure(&r, &ref, what);
            tu_result_free(&r);
        }
        tu_result_free(&ref);
        tu_stream_free(&s);
    }
}

Test(batch, write_hint)
{
    cr_assert_eq(vms_encoder_write_hint(NULL), 8u << 20);
    const struct {
        size_t record;
        unsigned threads;
        vms_codec codec;
        size_t want;
    } cases[] = {
        {1u << 20, 1, VMS_CODEC_NONE, 8u << 20},       /* one set of 8 */
        {65536, 1, VMS_CODEC_ZLIB, 8 * 65536},
        {1u << 20, 2, VMS_CODEC_NONE, 2 * 48u << 20},  /* two sets of 3 x 8 x 2 */
        {1u << 20, 2, VMS_CODEC_ZLIB, 16u << 20},      /* a codec: one set, one group each */
        {1u << 20, 4, VMS_CODEC_ZLIB, 32u << 20},
        {1u << 20, 4, VMS_CODEC_NONE, 2 * 64u << 20},  /* at most 64 per set */
        {1u << 20, 16, VMS_CODEC_NONE, 2 * 128u << 20},
        {4096, 3, VMS_CODEC_NONE, 2 * 48 * 4096},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vms_membuf mb = {0};
        vms_encoder *e;
        cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
        cr_assert_eq(vms_encoder_set_record_size(e, cases[i].record), VMS_OK);
        cr_assert_eq(vms_encoder_set_threads(e, cases[i].threads), VMS_OK);
        cr_assert_eq(vms_encoder_set_compression(e, cases[i].codec, 0), VMS_OK);
        cr_assert_eq(vms_encoder_write_hint(e), cases[i].want, "case %zu: %zu", i,
                     vms_encoder_write_hint(e));
        vms_encoder_free(e);
        free(mb.data);
    }
}

Test(batch, feed_hint)
{
    cr_assert_eq(vms_decoder_feed_hint(NULL), 1u << 20);
    uint8_t *in = tu_state(4096, 5);
    const struct {
        size_t record;
        unsigned threads;
        size_t want;
    } cases[] = {
        {65536, 1, 1u << 20},                       /* 8 x 65608 is below 1 MiB */
        {65536, 2, 2 * 8 * (72 + 65536)},           /* 1,049,728 */
        {1u << 20, 1, 8 * (72 + (1u << 20))},
        {1000, 3, 1u << 20},
        {1u << 20, 64, 80u << 20},                  /* capped by the buffer limit */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tu_stream s = tu_encode(in, 4096, cases[i].record, VMS_CODEC_NONE, NULL);
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_set_threads(d, cases[i].threads), VMS_OK);
        cr_assert_eq(vms_decoder_feed_hint(d), 1u << 20, "before the header");
        uint32_t hl = vms_le32(s.data + VMS_H_LENGTH);
        cr_assert_eq(vms_decoder_feed(d, s.data, hl - 1, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_feed_hint(d), 1u << 20, "header incomplete");
        cr_assert_eq(vms_decoder_feed(d, s.data + hl - 1, 1, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_feed_hint(d), cases[i].want, "case %zu: %zu", i,
                     vms_decoder_feed_hint(d));
        /* inside the first record: less what of it is read, so that a
         * feed of the hint ends with the batch (below the cap and above
         * the floor) */
        cr_assert_eq(vms_decoder_feed(d, s.data + hl, 30, NULL), VMS_OK);
        const size_t full = 72 + (size_t)vms_pad8(cases[i].record);
        const size_t within = 8 * cases[i].threads * full - 30;
        const size_t clamped = within > (80u << 20)  ? 80u << 20
                               : within < (1u << 20) ? 1u << 20
                                                     : within;
        cr_assert_eq(vms_decoder_feed_hint(d), clamped, "case %zu: %zu", i,
                     vms_decoder_feed_hint(d));
        vms_decoder_free(d);
        tu_stream_free(&s);
    }
    /* the caller's buffer limit caps it, and so does 256 MiB */
    const struct {
        uint64_t buffered;
        size_t want;
    } caps[] = {{4u << 20, 4u << 20}, {(uint64_t)1 << 30, 256u << 20}};
    tu_stream s = tu_encode(in, 4096, 1u << 20, VMS_CODEC_NONE, NULL);
    for (size_t i = 0; i < 2; i++) {
        vms_limits *lim;
        cr_assert_eq(vms_limits_new(&lim, NULL), VMS_OK);
        cr_assert_eq(vms_limits_set(lim, VMS_LIMIT_BUFFERED, caps[i].buffered), VMS_OK);
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, lim, NULL, NULL), VMS_OK);
        vms_limits_free(lim);
        cr_assert_eq(vms_decoder_set_threads(d, 64), VMS_OK);
        cr_assert_eq(vms_decoder_feed(d, s.data, vms_le32(s.data + VMS_H_LENGTH), NULL), VMS_OK);
        cr_assert_eq(vms_decoder_feed_hint(d), caps[i].want, "buffered %llu: %zu",
                     (unsigned long long)caps[i].buffered, vms_decoder_feed_hint(d));
        vms_decoder_free(d);
    }
    tu_stream_free(&s);
    free(in);
}

/* ---- output-buffer mode (vms_encoder_set_output_buffer) ------------------------ */

/* A sink that keeps the stream in one contiguous buffer and lends the
 * encoder the place right after what it holds.  It checks the contract:
 * one region outstanding at most, no other sink call between a lend and
 * its commit, a commit with the lent pointer and at most max_len bytes. */
typedef struct lender {
    uint8_t *buf;
    size_t cap, len;
    uint8_t *lent;        /* outstanding region, or NULL */
    size_t lent_max;
    size_t lends, declines, commits, plain, committed_bytes;
    size_t asked[16];     /* max_len of the first lends */
    unsigned decline_mod; /* decline lends 1, 1 + mod, 1 + 2 mod, .. (0: never) */
    size_t fail_commit;   /* fail the commit with this number (1-based; 0: never) */
    int violation;
    char what[160];
} lender;

static void lender_init(lender *l, size_t cap)
{
    memset(l, 0, sizeof *l);
    l->buf = malloc(cap);
    cr_assert_not_null(l->buf);
    l->cap = cap;
}

static void *lender_get(void *ctx, size_t max_len)
{
    lender *l = ctx;
    if (l->lent && !l->violation) {
        l->violation = 1;
        snprintf(l->what, sizeof l->what, "lend %zu while lend %zu was not committed",
                 l->lends + 1, l->lends);
    }
    if (l->lends < sizeof l->asked / sizeof l->asked[0])
        l->asked[l->lends] = max_len;
    l->lends++;
    if ((l->decline_mod && (l->lends - 1) % l->decline_mod == 0) ||
        max_len > l->cap - l->len) {
        l->declines++;
        return NULL;
    }
    l->lent = l->buf + l->len;
    l->lent_max = max_len;
    memset(l->lent, 0xCC, max_len); /* every committed byte must be the encoder's */
    return l->lent;
}

static int lender_sink(void *ctx, const void *b, size_t n)
{
    lender *l = ctx;
    if (l->lent) {
        if ((b != l->lent || n > l->lent_max) && !l->violation) {
            l->violation = 1;
            snprintf(l->what, sizeof l->what,
                     "sink call of %zu bytes at %p while %zu bytes at %p were lent", n, b,
                     l->lent_max, (void *)l->lent);
        }
        l->lent = NULL;
        if (++l->commits == l->fail_commit)
            return -1;
        l->committed_bytes += n;
        l->len += n;
        return 0;
    }
    if (n > l->cap - l->len)
        return -1;
    memcpy(l->buf + l->len, b, n);
    l->len += n;
    l->plain++;
    return 0;
}

typedef struct outbuf_cfg {
    vms_codec codec;
    unsigned threads;
    int elide, mac, sign;
    size_t record;
} outbuf_cfg;

static const uint8_t ob_key[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
                                   31, 32};

/* An encoder with cfg's settings, writing through the lender l (in lent
 * memory) or, when l is NULL, to the membuf mb. */
static vms_encoder *outbuf_encoder(const outbuf_cfg *c, lender *l, vms_membuf *mb)
{
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, l ? lender_sink : vms_sink_membuf, l ? (void *)l : mb,
                                 NULL),
                 VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, c->record), VMS_OK);
    cr_assert_eq(vms_encoder_set_compression(e, c->codec, 0), VMS_OK);
    cr_assert_eq(vms_encoder_set_threads(e, c->threads), VMS_OK);
    cr_assert_eq(vms_encoder_set_page_elision(e, c->elide), VMS_OK);
    if (c->mac)
        cr_assert_eq(vms_encoder_set_mac_key(e, ob_key, sizeof ob_key, tu_sid), VMS_OK);
    if (c->sign) {
        cr_assert_eq(vms_encoder_set_ed25519_key(e, ob_key), VMS_OK);
        cr_assert_eq(vms_encoder_set_checkpoint_interval(e, 5 * c->record + 3), VMS_OK);
    }
    if (l)
        cr_assert_eq(vms_encoder_set_output_buffer(e, lender_get, l), VMS_OK);
    return e;
}

/* Encodes in with cfg, through the lender l (NULL: the plain membuf sink).
 * Returns VMS_OK or the first error; *out gets the stream. */
static int encode_outbuf(const uint8_t *in, size_t n, const outbuf_cfg *c, lender *l,
                         tu_stream *out)
{
    vms_membuf mb = {0};
    vms_encoder *e = outbuf_encoder(c, l, &mb);
    /* writes of growing, odd sizes: batches full and not, records short */
    int rc = VMS_OK;
    size_t done = 0, step = 3 * c->record + 5;
    while (done < n && rc == VMS_OK) {
        size_t k = n - done < step ? n - done : step;
        rc = vms_encoder_write(e, 1, done, 0, in + done, k);
        done += k;
        step = step * 2 + 77;
    }
    if (rc == VMS_OK)
        rc = vms_encoder_finish(e);
    if (rc != VMS_OK)
        cr_assert_eq(vms_encoder_error(e)->code, rc);
    vms_encoder_free(e);
    if (l) {
        out->data = malloc(l->len ? l->len : 1);
        memcpy(out->data, l->buf, l->len);
        out->len = l->len;
    } else {
        *out = tu_from_membuf(&mb);
    }
    return rc;
}

static void describe(char *buf, size_t cap, const outbuf_cfg *c)
{
    snprintf(buf, cap, "codec %d, %u threads, elision %d, mac %d, sign %d, record %zu",
             (int)c->codec, c->threads, c->elide, c->mac, c->sign, c->record);
}

/* The settings the encoder-output tests go through: every codec built in,
 * 1 .. max_threads threads, and for each 4 variants: plain, no elision,
 * MAC, signed with checkpoints (only with OpenSSL).  Records of rec bytes,
 * rec3 on 3 threads.  Writes at most 3 x 4 x 4 to out; returns how many. */
#define OUTBUF_CONFIGS_MAX 48
static size_t outbuf_configs(outbuf_cfg out[OUTBUF_CONFIGS_MAX], unsigned max_threads,
                             size_t rec, size_t rec3)
{
    uint8_t pub[VMS_ED25519_KEY_BYTES];
    const int have_sign = vms_ed25519_public_key(ob_key, pub) == VMS_OK;
    size_t k = 0;
    for (int codec = 0; codec <= 2; codec++) {
        if (!vms_codec_available((vms_codec)codec))
            continue;
        for (unsigned t = 1; t <= max_threads && t <= 4; t++)
            for (int v = 0; v < 4; v++)
                if (v != 3 || have_sign)
                    out[k++] = (outbuf_cfg){(vms_codec)codec, t, v != 1, v == 2, v == 3,
                                            t == 3 ? rec3 : rec};
    }
    return k;
}

Test(outbuf, same_bytes_as_through_the_sink, .timeout = 300)
{
    const size_t n = (5u << 20) + 4097;
    uint8_t *in = tu_state(n, 77);
    outbuf_cfg cfgs[OUTBUF_CONFIGS_MAX];
    const size_t ncfg = outbuf_configs(cfgs, 4, 65536, 40000);
    for (size_t i = 0; i < ncfg; i++) {
        const outbuf_cfg c = cfgs[i];
        char what[128];
        describe(what, sizeof what, &c);
        tu_stream want, got;
        cr_assert_eq(encode_outbuf(in, n, &c, NULL, &want), VMS_OK, "%s", what);
        lender l;
        lender_init(&l, want.len + (8u << 20));
        cr_assert_eq(encode_outbuf(in, n, &c, &l, &got), VMS_OK, "%s", what);
        cr_assert(!l.violation, "%s: %s", what, l.what);
        cr_assert_eq(got.len, want.len, "%s", what);
        cr_assert(memcmp(got.data, want.data, want.len) == 0, "%s: bytes differ", what);
        /* The records went through lent memory, the rest did not. */
        cr_assert_gt(l.commits, 0, "%s", what);
        cr_assert_eq(l.declines, 0, "%s", what);
        cr_assert_eq(l.commits, l.lends, "%s", what);
        cr_assert_gt(l.committed_bytes, n / 4, "%s", what);
        cr_assert_gt(l.plain, 0, "%s: the header and END come through the sink",
                     what);
        free(l.buf);
        tu_stream_free(&want);
        tu_stream_free(&got);
    }
    free(in);
}

Test(outbuf, declined_batches_go_through_the_sink)
{
    const size_t n = 3u << 20;
    uint8_t *in = tu_random(n, 5);
    for (unsigned t = 1; t <= 2; t++) {
        outbuf_cfg c = {VMS_CODEC_NONE, t, 1, 0, 0, 65536};
        tu_stream want, got;
        cr_assert_eq(encode_outbuf(in, n, &c, NULL, &want), VMS_OK);
        for (unsigned mod = 1; mod <= 3; mod++) {
            lender l;
            lender_init(&l, want.len + (8u << 20));
            l.decline_mod = mod; /* 1: every lend declined */
            cr_assert_eq(encode_outbuf(in, n, &c, &l, &got), VMS_OK);
            cr_assert(!l.violation, "%u threads, mod %u: %s", t, mod, l.what);
            cr_assert_eq(got.len, want.len);
            cr_assert(memcmp(got.data, want.data, want.len) == 0, "%u threads, mod %u", t,
                      mod);
            cr_assert_gt(l.declines, 0);
            if (mod == 1)
                cr_assert_eq(l.commits, 0);
            else
                cr_assert_gt(l.commits, 0, "%u threads, mod %u", t, mod);
            free(l.buf);
            tu_stream_free(&got);
        }
        /* Random records are stored raw, so max_len is exact: a buffer of
         * the stream's size takes every batch. */
        lender l;
        lender_init(&l, want.len);
        cr_assert_eq(encode_outbuf(in, n, &c, &l, &got), VMS_OK);
        cr_assert(!l.violation, "%s", l.what);
        cr_assert(got.len == want.len && memcmp(got.data, want.data, want.len) == 0);
        cr_assert_eq(l.declines, 0);
        cr_assert_gt(l.commits, 1);
        free(l.buf);
        tu_stream_free(&got);
        tu_stream_free(&want);
    }
    free(in);
}

Test(outbuf, failed_commit_is_sticky)
{
    const size_t n = 2u << 20;
    uint8_t *in = tu_random(n, 9);
    outbuf_cfg c = {VMS_CODEC_NONE, 1, 1, 0, 0, 65536};
    lender l;
    lender_init(&l, 16u << 20);
    l.fail_commit = 2;
    tu_stream got;
    cr_assert_eq(encode_outbuf(in, n, &c, &l, &got), VMS_E_IO);
    cr_assert(!l.violation, "%s", l.what);
    cr_assert_eq(l.commits, 2);
    tu_stream_free(&got);
    /* the error names the offset where the failed batch began */
    vms_encoder *e;
    lender l2;
    lender_init(&l2, 16u << 20);
    l2.fail_commit = 2;
    cr_assert_eq(vms_encoder_new(&e, lender_sink, &l2, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 65536), VMS_OK);
    cr_assert_eq(vms_encoder_set_output_buffer(e, lender_get, &l2), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, 8 * 65536), VMS_OK);
    const uint64_t at = vms_encoder_offset(e);
    cr_assert_eq(at, l2.len);
    cr_assert_eq(vms_encoder_write(e, 0, 8 * 65536, 0, in, 8 * 65536), VMS_E_IO);
    cr_assert_eq(vms_encoder_error(e)->code, VMS_E_IO);
    cr_assert_eq(vms_encoder_error(e)->offset, at);
    cr_assert_eq(vms_encoder_write(e, 0, 16 * 65536, 0, in, 10), VMS_E_IO);
    cr_assert_eq(vms_encoder_finish(e), VMS_E_IO);
    cr_assert_eq(l2.lends, 2, "nothing is lent after the failure");
    vms_encoder_free(e);
    free(l.buf);
    free(l2.buf);
    free(in);
}

/* Page-mapped records in lent memory: their literal runs are copied there
 * by the hash pass, piece by piece, after the header and the map.  The
 * lends show each batch's size: the full set (3 SIMD groups per thread,
 * 48 records with 2 threads) whether or not the records are page-mapped.
 * The stream is that of one thread without a lender. */
Test(outbuf, page_maps_in_full_lent_batches)
{
    const size_t rec = 65536, span = 72 + rec; /* record header + padded record */
    const size_t n = 144 * rec;
    uint8_t *in = malloc(n);
    uint64_t seed = 7;
    for (size_t i = 0; i < n; i++)
        in[i] = (uint8_t)tu_rng(&seed);
    for (size_t r = 48; r < 96; r++) /* records 48..95: every other page zero */
        for (size_t pg = 0; pg < rec; pg += 2 * 4096)
            memset(in + r * rec + pg, 0, 4096);
    lender l;
    lender_init(&l, 16u << 20);
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, lender_sink, &l, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, rec), VMS_OK);
    cr_assert_eq(vms_encoder_set_threads(e, 2), VMS_OK);
    cr_assert_eq(vms_encoder_set_output_buffer(e, lender_get, &l), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 1, 0, 0, in, n), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    cr_assert_eq(l.violation, 0, "%s", l.what);
    /* 48 raw, 48 page-mapped, 48 raw */
    static const size_t want[] = {48, 48, 48};
    cr_assert_eq(l.lends, 3);
    cr_assert_eq(l.declines, 0);
    for (size_t i = 0; i < 3; i++)
        cr_assert_eq(l.asked[i], want[i] * span, "lend %zu: %zu bytes, want %zu records", i,
                     l.asked[i], want[i]);
    tu_stream one = tu_encode_opts(in, n, rec, VMS_CODEC_NONE, 1); /* 1 thread, no lender */
    cr_assert_eq(l.len, one.len);
    cr_assert(memcmp(l.buf, one.data, one.len) == 0);
    cr_assert_lt(one.len, n - 23 * rec, "records 48..95 were page-mapped (24 records of zero pages elided)");
    tu_stream_free(&one);
    free(l.buf);
    free(in);
}

Test(outbuf, settings)
{
    lender l;
    lender_init(&l, 1u << 20);
    vms_encoder *e;
    cr_assert_eq(vms_encoder_set_output_buffer(NULL, lender_get, &l), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_new(&e, lender_sink, &l, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_output_buffer(e, lender_get, &l), VMS_OK);
    cr_assert_eq(vms_encoder_set_output_buffer(e, NULL, NULL), VMS_OK); /* off again */
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, "state", 5), VMS_OK);
    cr_assert_eq(vms_encoder_set_output_buffer(e, lender_get, &l), VMS_E_STATE);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    cr_assert_eq(l.lends, 0);
    cr_assert_eq(l.commits, 0);
    /* on: a lend asks for a header and the padded record size per record */
    free(l.buf);
    lender_init(&l, 1u << 20);
    cr_assert_eq(vms_encoder_new(&e, lender_sink, &l, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 1000), VMS_OK);
    cr_assert_eq(vms_encoder_set_output_buffer(e, lender_get, &l), VMS_OK);
    uint8_t buf[2500];
    memset(buf, 7, sizeof buf);
    buf[1] = 1; /* not uniform */
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, buf, sizeof buf), VMS_OK);
    cr_assert_eq(l.lends, 1);
    cr_assert_eq(l.lent_max, 3 * VMS_R_HDR + 1000 + 1000 + 504);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    cr_assert(!l.violation, "%s", l.what);
    free(l.buf);
}

/* ---- whole batches across feeds (wire slots, parking) ------------------------- */

/* Feeds s in pieces of step bytes; returns the result of each feed in
 * rcs[] (up to cap of them) and the records delivered when each returned. */
typedef struct park_trace {
    int rcs[64];
    size_t delivered[64];
    size_t nfeeds;
} park_trace;

/* A decoder on threads threads that collects into *r (cleared). */
static vms_decoder *collecting_decoder(tu_result *r, unsigned threads)
{
    memset(r, 0, sizeof *r);
    vms_decoder_callbacks cb = {.on_record = tu_on_record, .on_commit = tu_on_commit,
                                .on_abort = tu_on_abort, .ctx = r};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    cr_assert_eq(vms_decoder_set_threads(d, threads), VMS_OK);
    return d;
}

static tu_result feed_traced(const tu_stream *s, const size_t *cuts, size_t ncuts,
                             park_trace *t)
{
    tu_result r;
    memset(t, 0, sizeof *t);
    vms_decoder *d = collecting_decoder(&r, 1);
    size_t pos = 0;
    int rc = VMS_OK;
    for (size_t i = 0; i <= ncuts && rc >= 0; i++) {
        size_t end = i < ncuts ? cuts[i] : s->len;
        rc = vms_decoder_feed(d, s->data + pos, end - pos, NULL);
        t->rcs[t->nfeeds] = rc;
        t->delivered[t->nfeeds++] = r.records;
        pos = end;
    }
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    r.rc = rc;
    r.offset = vms_decoder_error(d)->offset;
    r.err_record = vms_decoder_error(d)->record;
    snprintf(r.msg, sizeof r.msg, "%s", vms_decoder_error(d)->message);
    vms_decoder_free(d);
    return r;
}

Test(batch, short_batch_waits_for_the_next_feed)
{
    /* 12 records of 100 bytes.  A feed that ends after 3 whole records
     * leaves 5 of the 8 SIMD lanes idle: the decoder keeps the batch
     * (copied: cheaper than the idle lanes) and hashes it with the next
     * feed's records, so nothing is delivered yet; the next feed delivers
     * all. */
    uint8_t *in = tu_state(1200, 31);
    tu_stream s = tu_encode_opts(in, 1200, 100, VMS_CODEC_NONE, 0);
    size_t cut = tu_record_offset(&s, 3);
    park_trace t;
    tu_result r = feed_traced(&s, &cut, 1, &t);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(t.nfeeds, 2);
    cr_assert_eq(t.rcs[0], VMS_OK);
    cr_assert_eq(t.delivered[0], 0, "the short batch was hashed at once");
    cr_assert_eq(t.delivered[1], 12);
    cr_assert_eq(r.len, 1200);
    cr_assert_arr_eq(r.data, in, 1200);
    tu_result_free(&r);

    /* A feed that ends after 7 whole records leaves one lane idle: copying
     * 7 bodies would cost more than that lane, so they are hashed at once. */
    size_t cut7 = tu_record_offset(&s, 7);
    r = feed_traced(&s, &cut7, 1, &t);
    cr_assert_eq(r.rc, VMS_END, "%s", r.msg);
    cr_assert_eq(t.delivered[0], 7, "a nearly full batch was parked (copied)");
    cr_assert_arr_eq(r.data, in, 1200);
    tu_result_free(&r);

    /* record 1 corrupt: the feed holding it succeeds, the next one reports
     * it with the offset and message of a whole-stream decode, after
     * delivering record 0 only */
    s.data[tu_record_offset(&s, 1) + VMS_R_HDR + 7] ^= 0x20;
    tu_result whole = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(whole.rc, VMS_E_RECORD_CHECKSUM);
    r = feed_traced(&s, &cut, 1, &t);
    cr_assert_eq(t.rcs[0], VMS_OK);
    cr_assert_eq(r.rc, VMS_E_RECORD_CHECKSUM, "%s", r.msg);
    cr_assert_eq(r.offset, whole.offset);
    cr_assert_eq(r.err_record, 1);
    cr_assert_str_eq(r.msg, whole.msg);
    cr_assert_eq(r.records, 1);
    cr_assert_eq(r.aborts, 1);
    tu_result_free(&r);
    tu_result_free(&whole);

    /* truncated after record 3: finish verifies and delivers the waiting
     * records, then reports the truncation */
    s.data[tu_record_offset(&s, 1) + VMS_R_HDR + 7] ^= 0x20;
    size_t cuts[1] = {tu_record_offset(&s, 3)};
    tu_stream cutoff = {s.data, tu_record_offset(&s, 4)};
    r = feed_traced(&cutoff, cuts, 1, &t);
    cr_assert_eq(r.rc, VMS_E_TRUNCATED, "%s", r.msg);
    cr_assert_eq(t.delivered[t.nfeeds - 1], 0, "records left for finish");
    cr_assert_eq(r.records, 4, "finish delivered %zu", r.records);
    cr_assert_eq(r.commits, 0);
    cr_assert_eq(r.aborts, 1);
    cr_assert_arr_eq(r.data, in, 400);
    tu_result_free(&r);
    tu_stream_free(&s);
    free(in);
}

Test(batch, flush_delivers_the_waiting_records_now)
{
    /* vms_decoder_flush: the records fed whole are verified and delivered
     * at once; a record fed in part is not a record yet; a waiting bad
     * record fails there, sticky; after END it reports VMS_END. */
    uint8_t *in = tu_state(1200, 34);
    tu_stream s = tu_encode_opts(in, 1200, 100, VMS_CODEC_NONE, 0);
    cr_assert_eq(vms_decoder_flush(NULL), VMS_E_INVALID_ARG);
    for (int bad = 0; bad <= 1; bad++) {
        const size_t at = tu_record_offset(&s, 1) + VMS_R_HDR + 7;
        if (bad)
            s.data[at] ^= 0x01;
        tu_result r;
        vms_decoder *d = collecting_decoder(&r, 1);
        cr_assert_eq(vms_decoder_flush(d), VMS_OK, "nothing fed");
        const size_t part = tu_record_offset(&s, 3) + 40; /* 3 records and a bit */
        cr_assert_eq(vms_decoder_feed(d, s.data, part, NULL), VMS_OK);
        cr_assert_eq(r.records, 0, "a short batch waits");
        if (!bad) {
            cr_assert_eq(vms_decoder_flush(d), VMS_OK);
            cr_assert_eq(r.records, 3);
            cr_assert_arr_eq(r.data, in, 300);
            cr_assert_eq(vms_decoder_flush(d), VMS_OK, "again: nothing waits");
            cr_assert_eq(r.records, 3);
            cr_assert_eq(vms_decoder_feed(d, s.data + part, s.len - part, NULL), VMS_END);
            cr_assert_eq(r.records, 12);
            cr_assert_eq(vms_decoder_flush(d), VMS_END);
            cr_assert_eq(vms_decoder_finish(d), VMS_END);
            cr_assert_eq(r.commits, 1);
            cr_assert_arr_eq(r.data, in, 1200);
        } else {
            cr_assert_eq(vms_decoder_flush(d), VMS_E_RECORD_CHECKSUM);
            cr_assert_eq(r.records, 1, "record 0 comes before the bad one");
            cr_assert_eq(r.aborts, 1);
            cr_assert_eq(vms_decoder_error(d)->record, 1);
            tu_result whole = tu_decode(s.data, s.len, SIZE_MAX, NULL);
            cr_assert_eq(vms_decoder_error(d)->offset, whole.offset);
            cr_assert_str_eq(vms_decoder_error(d)->message, whole.msg);
            tu_result_free(&whole);
            cr_assert_eq(vms_decoder_flush(d), VMS_E_RECORD_CHECKSUM, "sticky");
            cr_assert_eq(vms_decoder_feed(d, s.data + part, 8, NULL), VMS_E_RECORD_CHECKSUM);
            s.data[at] ^= 0x01;
        }
        vms_decoder_free(d);
        tu_result_free(&r);
    }
    tu_stream_free(&s);
    free(in);
}

Test(batch, full_batch_hashed_while_a_body_is_put_together)
{
    /* Feeds of 6.5 (1 thread) and 11.5 (2 threads) records: each ends with
     * a batch long enough to be hashed at once and a body half put together
     * in a wire slot, which must survive the batch's release and its slots'
     * reuse by the next records. */
    const size_t rec = 1000, n = 60 * rec;
    uint8_t *in = tu_random(n, 32);
    tu_stream s = tu_encode_opts(in, n, rec, VMS_CODEC_NONE, 0);
    const size_t wire = tu_record_offset(&s, 1) - tu_record_offset(&s, 0);
    for (unsigned threads = 1; threads <= 2; threads++) {
        const size_t steps[] = {6 * wire + wire / 2, 11 * wire + wire / 2, 2 * wire + 3,
                                wire / 3, 8 * wire + 1};
        for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
            tu_result r = tu_decode_all(s.data, s.len, steps[k], NULL, NULL, VMS_AUTH_NONE,
                                        false, NULL, threads, false);
            cr_assert_eq(r.rc, VMS_END, "%u threads, step %zu: %s", threads, steps[k], r.msg);
            cr_assert_eq(r.records, 60);
            cr_assert_eq(r.len, n);
            cr_assert_arr_eq(r.data, in, n, "%u threads, step %zu: state differs", threads,
                             steps[k]);
            tu_result_free(&r);
        }
    }
    tu_stream_free(&s);
    free(in);
}

Test(batch, short_batch_of_large_records_spread_over_threads)
{
    /* With no room for extra wire slots, feeds of 7 records of 64 KiB end
     * every batch short; on 2 and 3 threads such a batch is hashed in
     * groups of up to 4 on several threads.  Every record, and the first
     * bad one wherever it falls in the groups, comes out as on one
     * thread. */
    const size_t rec = 64 * 1024, n = 30 * rec;
    uint8_t *in = tu_random(n, 36);
    tu_stream s = tu_encode_opts(in, n, rec, VMS_CODEC_NONE, 0);
    const size_t wire = tu_record_offset(&s, 1) - tu_record_offset(&s, 0);
    vms_limits *l;
    cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
    cr_assert_eq(vms_limits_set(l, VMS_LIMIT_BUFFERED, 2 * wire), VMS_OK);
    for (int bad = -1; bad < 8; bad++) {
        if (bad >= 0) /* record 7 + bad: group 0 or 1 of the second batch */
            s.data[tu_record_offset(&s, 7 + (size_t)bad) + VMS_R_HDR + 100] ^= 0x04;
        tu_result one = tu_decode_all(s.data, s.len, 7 * wire, l, NULL, VMS_AUTH_NONE, false,
                                      NULL, 1, false);
        cr_assert_eq(one.rc, bad < 0 ? VMS_END : VMS_E_RECORD_CHECKSUM, "%s", one.msg);
        cr_assert_eq(one.stats.spread_batches, 0, "one thread spreads nothing");
        for (unsigned threads = 2; threads <= 3; threads++) {
            tu_result r = tu_decode_all(s.data, s.len, 7 * wire, l, NULL, VMS_AUTH_NONE,
                                        false, NULL, threads, false);
            cr_assert_eq(r.rc, one.rc, "bad %d, %u threads: %s", bad, threads, r.msg);
            cr_assert_eq(r.records, one.records);
            cr_assert_eq(r.offset, one.offset);
            cr_assert_eq(r.err_record, one.err_record);
            cr_assert_str_eq(r.msg, one.msg);
            if (bad < 0) {
                cr_assert_arr_eq(r.data, in, n);
                /* some short batch went out in several hash calls */
                cr_assert_gt(r.stats.spread_batches, 0, "%u threads", threads);
                cr_assert_gt(r.stats.hash_calls, r.stats.batches, "%u threads", threads);
            }
            tu_result_free(&r);
        }
        tu_result_free(&one);
        if (bad >= 0)
            s.data[tu_record_offset(&s, 7 + (size_t)bad) + VMS_R_HDR + 100] ^= 0x04;
    }
    vms_limits_free(l);
    tu_stream_free(&s);
    free(in);
}

Test(batch, wire_slots_are_optional)
{
    /* Refusing any one allocation of a decode fed in small pieces either
     * fails it with VMS_E_NOMEM (a buffer every stream needs) or leaves the
     * outcome unchanged (the wire slots: the decoder goes on without them),
     * and at least the slots' refusal is of the second kind. */
    const size_t rec = 1000, n = 24 * rec;
    uint8_t *in = tu_state(n, 35);
    tu_stream s = tu_encode_opts(in, n, rec, VMS_CODEC_NONE, 0);
    int total = -1, unchanged = 0;
    for (int fail_at = -1; total < 0 || fail_at < total; fail_at++) {
        tu_failmem fm = {.fail_at = fail_at};
        vms_allocator a = tu_failmem_allocator(&fm);
        tu_result r;
        memset(&r, 0, sizeof r);
        vms_decoder_callbacks cb = {.on_record = tu_on_record, .on_commit = tu_on_commit,
                                    .on_abort = tu_on_abort, .ctx = &r};
        vms_decoder *d = NULL;
        int rc = vms_decoder_new(&d, NULL, &cb, &a);
        for (size_t pos = 0; rc == VMS_OK && pos < s.len; pos += 700)
            rc = vms_decoder_feed(d, s.data + pos, s.len - pos < 700 ? s.len - pos : 700, NULL);
        if (rc == VMS_END)
            rc = vms_decoder_finish(d);
        vms_decoder_free(d);
        if (fail_at < 0) {
            cr_assert_eq(rc, VMS_END, "no allocation refused: %s", vms_strerror(rc));
            total = fm.count;
        } else if (rc == VMS_END) {
            cr_assert_eq(r.records, 24);
            cr_assert_eq(r.commits, 1);
            cr_assert_arr_eq(r.data, in, n);
            unchanged++;
        } else {
            cr_assert_eq(rc, VMS_E_NOMEM, "allocation %d refused: %s", fail_at,
                         vms_strerror(rc));
            cr_assert_eq(r.commits, 0);
        }
        cr_assert_eq(fm.live, 0, "leak with allocation %d refused", fail_at);
        tu_result_free(&r);
    }
    cr_assert_geq(unchanged, 1, "every one of %d allocations was required", total);
    tu_stream_free(&s);
    free(in);
}

Test(batch, wire_slots_stay_within_the_buffer_limit)
{
    /* The extra wire slots come only from the budget left after the
     * stream's own buffers: at the smallest buffer limit that accepts the
     * stream there is room for none, and decoding is the same; with the
     * default limit they are there (a higher peak) and still within it. */
    const size_t rec = 256 * 1024, n = 24 * rec;
    uint8_t *in = tu_state(n, 33);
    tu_stream s = tu_encode(in, n, rec, VMS_CODEC_NONE, NULL);
    uint64_t lo = 64 * 1024, hi = 4 * rec; /* rejected, accepted */
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        vms_limits *l;
        cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
        cr_assert_eq(vms_limits_set(l, VMS_LIMIT_BUFFERED, mid), VMS_OK);
        tu_result r = tu_decode(s.data, s.len, 4096, l);
        if (r.rc == VMS_END)
            hi = mid;
        else
            lo = mid;
        cr_assert(r.rc == VMS_END || r.rc == VMS_E_LIMIT_RECORD, "%s", r.msg);
        tu_result_free(&r);
        vms_limits_free(l);
    }
    uint64_t peaks[3];
    const uint64_t limits[3] = {hi, hi + rec + 64, 80u << 20};
    for (int i = 0; i < 3; i++) {
        vms_limits *l;
        cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
        cr_assert_eq(vms_limits_set(l, VMS_LIMIT_BUFFERED, limits[i]), VMS_OK);
        for (unsigned threads = 1; threads <= 2; threads++) {
            uint64_t peak = 0;
            tu_result r = tu_decode_all(s.data, s.len, 5000 + 3 * threads, l, NULL,
                                        VMS_AUTH_NONE, false, &peak, threads, false);
            cr_assert_eq(r.rc, VMS_END, "limit %llu: %s", (unsigned long long)limits[i],
                         r.msg);
            cr_assert_arr_eq(r.data, in, n);
            cr_assert_leq(peak, limits[i]);
            if (threads == 1)
                peaks[i] = peak;
            tu_result_free(&r);
        }
        vms_limits_free(l);
    }
    /* one more slot fits in the second limit, seven in the default one
     * (one per lane of a thread's batch, and no more however large the
     * budget) */
    cr_assert_geq(peaks[1], peaks[0] + rec, "%llu vs %llu", (unsigned long long)peaks[1],
                  (unsigned long long)peaks[0]);
    cr_assert_geq(peaks[2], peaks[0] + 7 * rec);
    cr_assert_lt(peaks[2], peaks[0] + 8 * rec, "%llu vs %llu", (unsigned long long)peaks[2],
                 (unsigned long long)peaks[0]);
    tu_stream_free(&s);
    free(in);
}

/* ---- gathering small writes (vms_encoder_set_gather) ----------------------- */

/* Piece sizes for writes of the gather tests, in records of size rec and
 * odd bytes: single records, short runs, a stub, and writes that fill a
 * set of 48 (2-3 threads, no codec) after held records and leave a few to
 * hold while that set is pending. */
static size_t gather_piece(size_t i, size_t rec)
{
    static const size_t mul[] = {1, 1, 2, 1, 0, 3, 1, 1, 9, 1, 5, 1, 1, 1, 70, 1, 1, 47, 1, 50};
    static const size_t add[] = {0, 3, 0, 0, 300, 5, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0};
    return mul[i % 20] * rec + add[i % 20];
}

typedef struct gather_cfg {
    outbuf_cfg c;
    int gather, lend;
} gather_cfg;

/* Encodes in with g, in the writes of gather_piece.  Each write is made
 * from a scratch copy that is overwritten as soon as the write returns,
 * so a record that was not copied before then comes out wrong. */
static int encode_gather(const uint8_t *in, size_t n, const gather_cfg *g, tu_stream *out)
{
    const outbuf_cfg *c = &g->c;
    vms_membuf mb = {0};
    lender l;
    if (g->lend)
        lender_init(&l, 2 * n + (8u << 20));
    vms_encoder *e = outbuf_encoder(c, g->lend ? &l : NULL, &mb);
    cr_assert_eq(vms_encoder_set_gather(e, g->gather), VMS_OK);
    uint8_t *scratch = malloc(n);
    int rc = VMS_OK;
    for (size_t done = 0, i = 0, k; done < n && rc == VMS_OK; done += k, i++) {
        k = gather_piece(i, c->record);
        k = n - done < k ? n - done : k;
        memcpy(scratch, in + done, k);
        /* two phases, to keep phase order across held records */
        rc = vms_encoder_write(e, 1 + (uint32_t)(i % 3), done, done >= n / 2, scratch, k);
        memset(scratch, 0xA5, k);
    }
    free(scratch);
    if (rc == VMS_OK)
        rc = vms_encoder_finish(e);
    vms_encoder_free(e);
    if (g->lend) {
        cr_assert(!l.violation, "%s", l.what);
        out->data = malloc(l.len ? l.len : 1);
        memcpy(out->data, l.buf, l.len);
        out->len = l.len;
        free(l.buf);
    } else {
        *out = tu_from_membuf(&mb);
    }
    return rc;
}

/* Gathering changes when records reach the sink, never the bytes: every
 * codec, 1-3 threads, with and without page maps, MAC, signed with
 * checkpoints inside held records, through the sink and in lent memory. */
Test(gather, same_bytes_as_without, .timeout = 300)
{
    const size_t rec = 40000, n = 160 * rec + 999;
    uint8_t *in = tu_state(n, 91);
    outbuf_cfg cfgs[OUTBUF_CONFIGS_MAX];
    const size_t ncfg = outbuf_configs(cfgs, 3, rec, rec);
    for (size_t i = 0; i < ncfg; i++) {
        /* every other one in lent memory */
        gather_cfg g = {cfgs[i], 0, (int)((i + cfgs[i].threads) % 2)};
        char what[160];
        describe(what, sizeof what, &g.c);
        tu_stream want, got;
        cr_assert_eq(encode_gather(in, n, &g, &want), VMS_OK, "%s", what);
        g.gather = 1;
        cr_assert_eq(encode_gather(in, n, &g, &got), VMS_OK, "%s", what);
        cr_assert_eq(got.len, want.len, "%s, lend %d", what, g.lend);
        cr_assert(memcmp(got.data, want.data, want.len) == 0,
                  "%s, lend %d: bytes differ", what, g.lend);
        const tu_mac mac = {ob_key, sizeof ob_key, tu_sid};
        tu_result r = tu_decode_all(got.data, got.len, 100000, NULL,
                                    g.c.mac ? &mac : NULL,
                                    g.c.mac ? VMS_AUTH_MAC : VMS_AUTH_NONE, false,
                                    NULL, 1, false);
        if (!g.c.sign) { /* (signed streams: the same bytes as checked above) */
            cr_assert_eq(r.rc, VMS_END, "%s: %s", what, r.msg);
            cr_assert_eq(r.len, n, "%s", what);
            cr_assert(memcmp(r.data, in, n) == 0, "%s", what);
        }
        tu_result_free(&r);
        tu_stream_free(&want);
        tu_stream_free(&got);
    }
    free(in);
}

/* The gather tests' sink is failing_sink (above) with SIZE_MAX bytes to
 * take: what it took so far is SIZE_MAX - left. */
#define SENT(left) (SIZE_MAX - (left))

static vms_encoder *gather_encoder(size_t *left, unsigned threads, size_t rec,
                                   const vms_allocator *mem)
{
    vms_encoder *e;
    *left = SIZE_MAX;
    cr_assert_eq(vms_encoder_new(&e, failing_sink, left, mem), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, rec), VMS_OK);
    cr_assert_eq(vms_encoder_set_page_elision(e, 0), VMS_OK);
    cr_assert_eq(vms_encoder_set_threads(e, threads), VMS_OK);
    cr_assert_eq(vms_encoder_set_gather(e, 1), VMS_OK);
    return e;
}

/* Which writes wait: from an empty round of 8 lanes a thread, a write of
 * up to 5 records on one thread (8 on two) waits, a longer one goes out
 * at once; held records go out when a write fills the round, and on
 * flush and finish. */
Test(gather, short_writes_wait_until_the_round_fills)
{
    const size_t rec = 4096 * 4;
    uint8_t *in = tu_random(64 * rec, 3);
    const size_t span = VMS_R_HDR + rec;
    for (unsigned t = 1; t <= 2; t++) {
        const size_t most = t == 1 ? 5 : 8;
        size_t cs;
        vms_encoder *e = gather_encoder(&cs, t, rec, NULL);
        cr_assert_eq(vms_encoder_flush(e), VMS_OK); /* nothing written: no header yet */
        cr_assert_eq(SENT(cs), 0);
        cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, most * rec), VMS_OK);
        const size_t head = SENT(cs); /* the header only */
        cr_assert_gt(head, 0);
        cr_assert_eq(vms_encoder_offset(e), head, "%u threads: %zu records held", t, most);
        cr_assert_eq(vms_encoder_flush(e), VMS_OK);
        cr_assert_eq(SENT(cs), head + most * span, "%u threads", t);
        /* one more than that goes out at once */
        cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, (most + 1) * rec), VMS_OK);
        cr_assert_eq(SENT(cs), head + (2 * most + 1) * span, "%u threads", t);
        /* single records wait until the 8 x threads of a round are there */
        size_t before = SENT(cs);
        for (size_t i = 0; i + 1 < 8 * t; i++) {
            cr_assert_eq(vms_encoder_write(e, 0, i * rec, 0, in + i * rec, rec), VMS_OK);
            cr_assert_eq(SENT(cs), before, "%u threads, record %zu went out early", t, i);
        }
        cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, rec), VMS_OK);
        cr_assert_eq(SENT(cs), before + 8 * t * span, "%u threads", t);
        /* and finish sends what is held before the END record */
        cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, 2 * rec), VMS_OK);
        cr_assert_eq(SENT(cs), before + 8 * t * span);
        cr_assert_eq(vms_encoder_finish(e), VMS_OK);
        cr_assert_gt(SENT(cs), before + (8 * t + 2) * span);
        cr_assert_eq(vms_encoder_flush(e), VMS_E_STATE);
        vms_encoder_free(e);
    }
    free(in);
}

/* Only the gather buffers are that large: refuse them. */
typedef struct refuse_big {
    size_t limit;
    int refused;
} refuse_big;

static void *rb_alloc(void *opaque, size_t n)
{
    refuse_big *r = opaque;
    if (n >= r->limit) {
        r->refused++;
        return NULL;
    }
    return malloc(n);
}

static void rb_free(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

/* The gather buffers are optional: refused, every write goes out at once,
 * and the stream is the same. */
Test(gather, buffers_are_optional)
{
    const size_t rec = 4096 * 4;
    uint8_t *in = tu_random(16 * rec, 4);
    refuse_big rb = {8 * rec, 0};
    vms_allocator a = {rb_alloc, rb_free, &rb};
    size_t cs, ref;
    vms_encoder *e = gather_encoder(&cs, 1, rec, &a);
    vms_encoder *plain = gather_encoder(&ref, 1, rec, NULL);
    cr_assert_eq(vms_encoder_set_gather(plain, 0), VMS_OK);
    for (size_t i = 0; i < 16; i++) {
        cr_assert_eq(vms_encoder_write(e, 0, i * rec, 0, in + i * rec, rec), VMS_OK);
        cr_assert_eq(vms_encoder_write(plain, 0, i * rec, 0, in + i * rec, rec), VMS_OK);
        cr_assert_eq(SENT(cs), SENT(ref), "record %zu was held without buffers", i);
    }
    cr_assert_eq(rb.refused, 1, "asked once, not again");
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    cr_assert_eq(vms_encoder_finish(plain), VMS_OK);
    cr_assert_eq(SENT(cs), SENT(ref));
    vms_encoder_free(e);
    vms_encoder_free(plain);
    free(in);
}

/* A held record's sink error comes on the call that sends it, and sticks. */
Test(gather, sink_error_on_a_later_call)
{
    const size_t rec = 4096 * 4;
    uint8_t *in = tu_random(2 * rec, 6);
    size_t cs;
    vms_encoder *e = gather_encoder(&cs, 1, rec, NULL);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, rec), VMS_OK, "held: nothing sent");
    cs = 0; /* the header went out with that write; every later sink call fails */
    cr_assert_eq(vms_encoder_write(e, 0, rec, 0, in + rec, rec), VMS_OK);
    cr_assert_eq(vms_encoder_flush(e), VMS_E_IO);
    cr_assert_eq(vms_encoder_error(e)->code, VMS_E_IO);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, in, rec), VMS_E_IO);
    cr_assert_eq(vms_encoder_finish(e), VMS_E_IO);
    cr_assert_eq(vms_encoder_flush(e), VMS_E_IO);
    vms_encoder_free(e);
    free(in);
}

Test(gather, settings)
{
    cr_assert_eq(vms_encoder_set_gather(NULL, 1), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_flush(NULL), VMS_E_INVALID_ARG);
    size_t cs, ref;
    vms_encoder *e = gather_encoder(&cs, 1, 4096, NULL);
    vms_encoder *plain = gather_encoder(&ref, 1, 4096, NULL);
    cr_assert_eq(vms_encoder_set_gather(plain, 0), VMS_OK);
    uint8_t b[100] = {0};
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, b, sizeof b), VMS_OK);
    cr_assert_eq(vms_encoder_write(plain, 0, 0, 0, b, sizeof b), VMS_OK);
    cr_assert_lt(SENT(cs), SENT(ref), "the record is held");
    cr_assert_eq(vms_encoder_set_gather(e, 0), VMS_E_STATE);
    /* argument errors do not touch the held record: it still goes out,
     * and the stream is the one without gathering */
    cr_assert_eq(vms_encoder_write(e, 0, UINT64_MAX, 0, b, sizeof b), VMS_E_BAD_OFFSET);
    cr_assert_eq(vms_encoder_write(e, 0, 0, 0, NULL, 1), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    cr_assert_eq(vms_encoder_finish(plain), VMS_OK);
    cr_assert_eq(SENT(cs), SENT(ref));
    vms_encoder_free(e);
    vms_encoder_free(plain);
}

/* A body byte to flip: record rec, offset off in its body. */
typedef struct body_byte {
    size_t rec, off;
} body_byte;

/* Feeds s to d in pieces of the test's choosing; returns the last feed's
 * return code. */
typedef int (*piece_feeder)(vms_decoder *d, const tu_stream *s, const tu_result *r,
                            bool bad, unsigned threads);

/* Encodes nrec random records of rec bytes, then decodes the stream, clean
 * and with each byte of bad[] flipped in turn, on 2 and 3 threads, fed by
 * feed.  Each decode must end as the whole-stream decode does: the same
 * code and offset, and when clean every byte delivered. */
static void pieces_end_as_whole(size_t rec, size_t nrec, unsigned seed, const body_byte *bad,
                                size_t nbad, piece_feeder feed)
{
    const size_t n = nrec * rec;
    uint8_t *in = tu_random(n, seed);
    tu_stream good = tu_encode_opts(in, n, rec, VMS_CODEC_NONE, 0);
    for (size_t b = 0; b <= nbad; b++) {
        tu_stream s = tu_copy(&good);
        if (b)
            s.data[tu_record_offset(&s, bad[b - 1].rec) + VMS_R_HDR + bad[b - 1].off] ^= 0x40;
        tu_result whole = tu_decode(s.data, s.len, SIZE_MAX, NULL);
        cr_assert_eq(whole.rc, b ? VMS_E_RECORD_CHECKSUM : VMS_END);
        /* one feed: every body hashed where it lies, none copied */
        cr_assert_eq(whole.stats.assembled_bytes + whole.stats.parked_bytes, 0);
        cr_assert_eq(whole.stats.bodies_in_place, whole.stats.bodies);
        for (unsigned threads = 2; threads <= 3; threads++) {
            tu_result r;
            vms_decoder *d = collecting_decoder(&r, threads);
            int rc = feed(d, &s, &r, b > 0, threads);
            if (rc >= 0)
                rc = vms_decoder_finish(d);
            cr_assert_eq(rc, whole.rc, "%u threads: %s", threads, vms_decoder_error(d)->message);
            cr_assert_eq(vms_decoder_error(d)->offset, whole.offset, "%u threads", threads);
            if (!b) {
                cr_assert_eq(r.len, n);
                cr_assert(memcmp(r.data, in, n) == 0, "%u threads", threads);
                /* the copies were shared out, and no body was copied twice
                 * (rec is a multiple of 8: a body is rec bytes) */
                const vms_decoder_stats *st = vms_decoder_get_stats(d);
                cr_assert_gt(st->shared_copies, 0, "%u threads: no copy was shared", threads);
                cr_assert_eq(st->bodies, nrec);
                cr_assert_leq(st->assembled_bytes + st->parked_bytes,
                              (st->bodies - st->bodies_in_place) * rec, "%u threads", threads);
                cr_assert_gt(st->assembled_bytes + st->parked_bytes, 0);
            }
            vms_decoder_free(d);
            tu_result_free(&r);
        }
        tu_result_free(&whole);
        tu_stream_free(&s);
    }
    tu_stream_free(&good);
    free(in);
}

/* Feeds of 5 whole records (of 20); the first batch must be parked. */
static int feed_five_records(vms_decoder *d, const tu_stream *s, const tu_result *r, bool bad,
                             unsigned threads)
{
    size_t pos = 0;
    int rc = VMS_OK;
    for (size_t k = 5; k <= 20 && rc >= 0; k += 5) {
        size_t end = k < 20 ? tu_record_offset(s, k) : s->len;
        rc = vms_decoder_feed(d, s->data + pos, end - pos, NULL);
        if (k == 5 && !bad) {
            cr_assert_eq(rc, VMS_OK);
            cr_assert_eq(r->records, 0, "%u threads: the first batch was not parked", threads);
        }
        pos = end;
    }
    return rc;
}

/* With threads, park() shares the copies of a parked batch's bodies out
 * over every thread in equal byte ranges (1 MiB or more in all), so the
 * ranges end inside bodies.  Feeds of 5 whole records of 256 KiB + 24
 * bytes park each batch on 2 and 3 threads: nothing is delivered until the
 * next feed, the records come out exactly, and a bad record in a parked
 * batch is reported as a whole-stream decode reports it. */
Test(batch, parked_bodies_copied_on_every_thread)
{
    const size_t rec = 256 * 1024 + 24;
    const body_byte bad[] = {{3, rec / 2}};
    pieces_end_as_whole(rec, 20, 17, bad, 1, feed_five_records);
}

/* Feeds of 5 sizes in turn, multiples of nothing in the stream. */
static int feed_odd_sizes(vms_decoder *d, const tu_stream *s, const tu_result *r, bool bad,
                          unsigned threads)
{
    (void)r, (void)bad, (void)threads;
    const size_t feeds[] = {300007, 1048576, 555555, 262144 + 3, 2000001};
    size_t pos = 0;
    int rc = VMS_OK;
    for (size_t k = 0; pos < s->len && rc == VMS_OK; k++) {
        size_t take = feeds[k % 5] < s->len - pos ? feeds[k % 5] : s->len - pos;
        rc = vms_decoder_feed(d, s->data + pos, take, NULL);
        pos += take;
    }
    return rc;
}

/* A body that spans feeds is put together in a wire slot; with threads, a
 * piece of it of 256 KiB or more is copied by every thread in equal byte
 * ranges (assemble()).  Feeds of odd sizes start and end pieces at every
 * kind of place inside bodies of 768 KiB + 40 bytes.  On 2 and 3 threads
 * the records come out exactly, and a bad byte near a body's start or
 * near its end is reported as a whole-stream decode reports it. */
Test(batch, spanning_bodies_copied_on_every_thread)
{
    const size_t rec = 768 * 1024 + 40;
    const body_byte bad[] = {{4, 7}, {4, rec - 9}};
    pieces_end_as_whole(rec, 12, 23, bad, 2, feed_odd_sizes);
}
