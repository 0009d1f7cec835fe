/* decode.c - the stream decoder on arbitrary bytes, built against the
 * checksum-bypass flavour of the library (FUZZING_BUILD_MODE_UNSAFE_FOR_
 * PRODUCTION: digests, MACs, chain digests and signatures always compare
 * equal), so that a blind byte mutator gets past the integrity checks.
 *
 * Input: an 8-byte control block, then the stream.
 *   byte 0  bit 0: MAC key set; bit 1: Ed25519 key added;
 *           bits 2-3: required auth mode (3 = none); bit 4: require format
 *           minor >= 1; bit 5: feed one byte after VMS_END;
 *           bits 6-7: limits (0 default, 1 tight, 2 random, 3 medium)
 *   byte 1  chunking: 0 = whole stream in one feed, else chunks of
 *           1 .. 2^(byte1 % 16) bytes (and empty feeds); decoder threads
 *           1 + (byte1 >> 4) % 4 (the comparison run uses one thread);
 *           bit 6: page-mapped records in runs (vms_decoder_set_page_runs;
 *           the comparison run expands them: same bytes delivered)
 *   byte 2  bits 0-1: 1 refuse the header, 2 refuse the commit, 3 refuse
 *           record number byte2 >> 2
 *   byte 3  < 32: allocation number byte3 fails (0 = none); otherwise
 *           bit 5: set a target descriptor (bit 7 picks which), bit 6: with
 *           vendor callbacks
 *   4..7    PRNG seed (chunk sizes, random limits)
 * The stream is decoded as configured and, unless a fault is injected,
 * also in one piece with one thread: both runs must agree. */
#include <string.h>

#include "fuzz.h"

#define CTRL 8

static uint64_t log_uniform(uint64_t *rng, uint64_t lo, uint64_t hi)
{
    /* a value in [lo, hi], biased to small magnitudes */
    unsigned bits = 1 + (unsigned)vf_below(rng, 40);
    uint64_t v = lo + (vf_rand(rng) & ((1ull << bits) - 1));
    return v > hi ? hi : v;
}

static void set_limits(vf_decode_cfg *cfg, unsigned preset, uint64_t *rng)
{
    uint64_t *l = cfg->lim;
    switch (preset) {
    case 1: /* tight */
        l[VMS_LIMIT_RECORD_PAYLOAD] = 4096;
        l[VMS_LIMIT_RECORD_RAW] = 8192;
        l[VMS_LIMIT_TOTAL_BYTES] = 65536;
        l[VMS_LIMIT_RECORDS] = 16;
        l[VMS_LIMIT_BLOB] = 256;
        l[VMS_LIMIT_BUFFERED] = 64u << 10;
        break;
    case 2: /* random within the accepted bounds */
        for (int i = 0; i < VMS_LIMIT_COUNT; i++) {
            uint64_t lo, hi;
            if (vms_limit_bounds((vms_limit)i, &lo, &hi) == VMS_OK) {
                if (hi > (1ull << 32))
                    hi = 1ull << 32;
                l[i] = log_uniform(rng, lo, hi);
            }
        }
        break;
    case 3: /* medium */
        l[VMS_LIMIT_RECORD_PAYLOAD] = 1u << 20;
        l[VMS_LIMIT_RECORD_RAW] = 1u << 20;
        l[VMS_LIMIT_TOTAL_BYTES] = 1u << 24;
        l[VMS_LIMIT_RECORDS] = 4096;
        l[VMS_LIMIT_BUFFERED] = 3u << 20;
        break;
    default:
        break;
    }
}

int vmsfuzz_decode(const uint8_t *data, size_t size)
{
    if (size < CTRL)
        return 0;
    const uint8_t *c = data;
    vf_decode_cfg cfg;
    vf_decode_cfg_default(&cfg);
    cfg.mac_key = c[0] & 1;
    cfg.ed_key = (c[0] >> 1) & 1;
    cfg.require_auth = (uint8_t)((c[0] >> 2) & 3) == 3 ? 0 : (uint8_t)((c[0] >> 2) & 3);
    cfg.min_minor = (c[0] >> 4) & 1;
    cfg.feed_trailing = (c[0] >> 5) & 1;
    uint64_t seed = vms_le32(c + 4);
    uint64_t rng = seed;
    set_limits(&cfg, c[0] >> 6, &rng);
    cfg.split_seed = seed;
    cfg.split_max = c[1] ? 1u << (c[1] % 16) : 0;
    cfg.threads = 1 + (c[1] >> 4) % 4;
    cfg.page_runs = (c[1] >> 6) & 1;
    switch (c[2] & 3) {
    case 1:
        cfg.refuse_header = true;
        break;
    case 2:
        cfg.refuse_commit = true;
        break;
    case 3:
        cfg.refuse_record = c[2] >> 2;
        break;
    default:
        break;
    }
    cfg.fail_alloc_at = c[3] < 32 ? c[3] : 0;
    if (c[3] >= 32 && (c[3] & 0x20)) {
        cfg.target = 1 + (c[3] >> 7);
        cfg.target_callbacks = (c[3] >> 6) & 1;
    }

    vf_decode_result a, b;
    vf_decode(data + CTRL, size - CTRL, &cfg, &a);
    if ((cfg.split_max || cfg.threads > 1 || cfg.page_runs) && !cfg.fail_alloc_at) {
        cfg.split_max = 0;
        cfg.threads = 1;
        cfg.page_runs = false;
        vf_decode(data + CTRL, size - CTRL, &cfg, &b);
        VF_CHECK(a.rc == b.rc && a.err_code == b.err_code && a.err_record == b.err_record &&
                     a.err_offset == b.err_offset && a.delivered == b.delivered &&
                     a.raw_bytes == b.raw_bytes && a.committed == b.committed &&
                     a.content == b.content,
                 "the result depends on how the input is split: split %d (%s) record %llu "
                 "offset %llu, %llu records; whole %d (%s) record %llu offset %llu, %llu "
                 "records",
                 a.rc, vms_strerror(a.rc), (unsigned long long)a.err_record,
                 (unsigned long long)a.err_offset, (unsigned long long)a.delivered, b.rc,
                 vms_strerror(b.rc), (unsigned long long)b.err_record,
                 (unsigned long long)b.err_offset, (unsigned long long)b.delivered);
    }
    return 0;
}

#ifdef VMSFUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_decode(data, size);
}
#endif
