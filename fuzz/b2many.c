/* b2many.c - differential harness: the multi-message SIMD BLAKE2b engine
 * (libvmstream/src/b2many.c) against libb2's blake2b() on random messages,
 * lengths, lane counts, keys and output lengths, on every path the CPU has.
 *
 * Input: byte 0 lane count (1..16, low 4 bits), copies (bits 4-5:
 * none, every lane, odd lanes, even lanes copy their message while it is
 * hashed; vms_b2_lane.copy) and pieces (bits 6-7: each message whole, or
 * cut into pieces, vms_b2_lane.segs: of random lengths, as a head of 8 to
 * 320 bytes and runs of whole pages, or first into up to 64 tiny pieces of
 * 0 to 8 bytes; the cuts are drawn from the message material, and every
 * piece is its own allocation), byte 1 outlen (1..64), byte 2 key
 * length (0..64), byte 3 bit i = lane i has a 128-byte prefix block, then
 * 2 bytes per lane of length v, little-endian: v % 4096, or 4096 + (v &
 * 0x7fff) when bit 15 is set (up to 36863: long runs of whole blocks,
 * which the SIMD kernels copy as they hash them).  The rest is message material,
 * reused cyclically when short. */
#include <blake2.h>
#include <stdlib.h>
#include <string.h>

#include "b2many.h"
#include "fuzz.h"

#define MAX_LANES 16

/* splitmix64, seeded from the input */
static uint64_t cut_next(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Cuts msg[0..len) into separately allocated pieces (mode 1..3, above). */
static size_t cut_pieces(vms_b2_seg *segs, size_t cap, const uint8_t *msg, size_t len,
                         unsigned mode, uint64_t seed)
{
    size_t n = 0, at = 0;
    for (bool first = true; (at < len || first) && n < cap; first = false) {
        size_t want = len - at;
        const uint64_t r = cut_next(&seed);
        if (mode == 1)
            want = r & 1 ? (r >> 8) % 301 : (r >> 8) % 5001;
        else if (mode == 2)
            want = first ? 8 * (1 + (r >> 8) % 40) : r % 8 == 0 ? 0 : 4096 * (1 + (r >> 8) % 6);
        else if (mode == 3 && n < 64)
            want = (r >> 8) % 9;
        if (n + 1 == cap || want > len - at)
            want = len - at; /* the last piece takes the rest */
        uint8_t *piece = want ? malloc(want) : NULL;
        if (want)
            memcpy(piece, msg + at, want);
        segs[n++] = (vms_b2_seg){piece, want};
        at += want;
    }
    return n;
}

int vmsfuzz_b2many(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const size_t lanes = 1 + data[0] % MAX_LANES;
    const size_t outlen = 1 + data[1] % 64;
    const size_t keylen = data[2] % 65;
    const unsigned pre_mask = data[3];
    const unsigned copy_mode = (data[0] >> 4) & 3;
    const unsigned seg_mode = data[0] >> 6;
    size_t pos = 4;
    if (size < pos + 2 * lanes)
        return 0;
    size_t len[MAX_LANES];
    for (size_t i = 0; i < lanes; i++, pos += 2) {
        const size_t v = (size_t)data[pos] | (size_t)data[pos + 1] << 8;
        len[i] = v & 0x8000 ? 4096 + (v & 0x7fff) : v % 4096;
    }
    const uint8_t *material = data + pos;
    size_t mlen = size - pos;
    uint8_t key[64];
    for (size_t i = 0; i < keylen; i++)
        key[i] = mlen ? material[i % mlen] ^ (uint8_t)i : (uint8_t)i;

    /* Each lane: an optional prefix block and a message, both drawn from
     * the material (cyclically), stored separately and contiguously. */
    uint8_t *pre[MAX_LANES], *msg[MAX_LANES], *whole[MAX_LANES];
    size_t pre_len[MAX_LANES];
    for (size_t i = 0; i < lanes; i++) {
        pre_len[i] = (pre_mask >> (i % 8)) & 1 ? 128 : 0;
        pre[i] = malloc(pre_len[i] + 1);
        msg[i] = malloc(len[i] + 1);
        whole[i] = malloc(pre_len[i] + len[i] + 1);
        for (size_t k = 0; k < pre_len[i] + len[i]; k++)
            whole[i][k] = mlen ? material[(k + 131 * i) % mlen] : (uint8_t)(k * 7 + i);
        memcpy(pre[i], whole[i], pre_len[i]);
        memcpy(msg[i], whole[i] + pre_len[i], len[i]);
    }
    uint8_t want[MAX_LANES][64], got[MAX_LANES][64 + 8];
    for (size_t i = 0; i < lanes; i++)
        VF_CHECK(blake2b(want[i], whole[i], keylen ? key : NULL, outlen,
                         pre_len[i] + len[i], keylen) == 0,
                 "libb2 failed");
    const vms_b2_path best = vms_b2_best_path();
    uint8_t *copy[MAX_LANES];
    for (size_t i = 0; i < lanes; i++) {
        const bool on = copy_mode == 1 || (copy_mode == 2 && i % 2) ||
                        (copy_mode == 3 && i % 2 == 0);
        copy[i] = on ? malloc(len[i] + 8) : NULL;
    }
    /* 36863 bytes in pieces of at least 1 byte (mode 1 after 0-length
     * draws: the cap makes the last piece take the rest), or 64 tiny ones
     * and the rest, or a head and page runs with empty pieces between. */
    enum { MAX_PIECES = 512 };
    vms_b2_seg *segs[MAX_LANES];
    size_t nsegs[MAX_LANES];
    for (size_t i = 0; i < lanes; i++) {
        segs[i] = NULL;
        nsegs[i] = 0;
        if (seg_mode) {
            uint64_t seed = (uint64_t)i << 32 | len[i];
            for (size_t k = 0; k < 8 && k < mlen; k++)
                seed = seed << 8 ^ material[k];
            segs[i] = malloc(MAX_PIECES * sizeof *segs[i]);
            nsegs[i] = cut_pieces(segs[i], MAX_PIECES, msg[i], len[i], seg_mode, seed);
        }
    }
    for (int p = VMS_B2_PATH_PORTABLE; p <= (int)best; p++) {
        vms_b2_lane l[MAX_LANES];
        memset(got, 0xee, sizeof got);
        for (size_t i = 0; i < lanes; i++) {
            if (copy[i])
                memset(copy[i], 0xee, len[i] + 8);
            l[i] = (vms_b2_lane){pre[i], pre_len[i], len[i] && !segs[i] ? msg[i] : NULL,
                                 len[i], got[i], copy[i], segs[i], nsegs[i]};
        }
        vms_b2_many(l, lanes, outlen, keylen ? key : NULL, keylen, (vms_b2_path)p);
        for (size_t i = 0; i < lanes; i++) {
            if (copy[i]) {
                VF_CHECK(len[i] == 0 || memcmp(copy[i], msg[i], len[i]) == 0,
                         "path %s lane %zu/%zu (len %zu): the copy differs from the message",
                         vms_b2_path_name((vms_b2_path)p), i, lanes, len[i]);
                for (size_t k = len[i]; k < len[i] + 8; k++)
                    VF_CHECK(copy[i][k] == 0xee, "path %s wrote past the copy's end",
                             vms_b2_path_name((vms_b2_path)p));
            }
            VF_CHECK(memcmp(got[i], want[i], outlen) == 0,
                     "path %s lane %zu/%zu (pre %zu, len %zu in %zu pieces, outlen %zu, "
                     "keylen %zu) differs from libb2",
                     vms_b2_path_name((vms_b2_path)p), i, lanes, pre_len[i], len[i],
                     nsegs[i], outlen, keylen);
            for (size_t k = outlen; k < outlen + 8; k++)
                VF_CHECK(got[i][k] == 0xee, "path %s wrote past outlen",
                         vms_b2_path_name((vms_b2_path)p));
        }
    }
    /* The incremental scalar API, in two pieces. */
    for (size_t i = 0; i < lanes; i++) {
        vms_b2_state st;
        uint8_t out[64];
        size_t total = pre_len[i] + len[i], cut = total ? data[0] % (total + 1) : 0;
        vms_b2_init(&st, outlen, keylen ? key : NULL, keylen);
        vms_b2_update(&st, whole[i], cut);
        vms_b2_update(&st, whole[i] + cut, total - cut);
        vms_b2_final(&st, out);
        VF_CHECK(memcmp(out, want[i], outlen) == 0, "incremental lane %zu differs", i);
    }
    for (size_t i = 0; i < lanes; i++) {
        for (size_t k = 0; k < nsegs[i]; k++)
            free((void *)segs[i][k].p);
        free(segs[i]);
        free(copy[i]);
        free(pre[i]);
        free(msg[i]);
        free(whole[i]);
    }
    return 0;
}

#ifdef VMSFUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_b2many(data, size);
}
#endif
