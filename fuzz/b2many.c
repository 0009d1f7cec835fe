/* b2many.c - differential harness: the multi-message SIMD BLAKE2b engine
 * (libvmstream/src/b2many.c) against libb2's blake2b() on random messages,
 * lengths, lane counts, keys and output lengths, on every path the CPU has.
 *
 * Input: byte 0 lane count (1..16, low 4 bits) and copies (bits 4-5:
 * none, every lane, odd lanes, even lanes copy their message while it is
 * hashed; vms_b2_lane.copy), byte 1 outlen (1..64), byte 2 key
 * length (0..64), byte 3 bit i = lane i has a 128-byte prefix block, then
 * 2 bytes per lane of length v, little-endian: v % 4096, or 4096 + (v &
 * 0x7fff) when bit 15 is set (up to 36863, past the 16 KiB per lane at
 * which a copying run is cut, B2_COPY_SPAN).  The rest is message material,
 * reused cyclically when short. */
#include <blake2.h>
#include <stdlib.h>
#include <string.h>

#include "b2many.h"
#include "fuzz.h"

#define MAX_LANES 16

int vmsfuzz_b2many(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const size_t lanes = 1 + data[0] % MAX_LANES;
    const size_t outlen = 1 + data[1] % 64;
    const size_t keylen = data[2] % 65;
    const unsigned pre_mask = data[3];
    const unsigned copy_mode = (data[0] >> 4) & 3;
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
    for (int p = VMS_B2_PATH_PORTABLE; p <= (int)best; p++) {
        vms_b2_lane l[MAX_LANES];
        memset(got, 0xee, sizeof got);
        for (size_t i = 0; i < lanes; i++) {
            if (copy[i])
                memset(copy[i], 0xee, len[i] + 8);
            l[i] = (vms_b2_lane){pre[i], pre_len[i], len[i] ? msg[i] : NULL, len[i], got[i],
                                 copy[i]};
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
                     "path %s lane %zu/%zu (pre %zu, len %zu, outlen %zu, keylen %zu) "
                     "differs from libb2",
                     vms_b2_path_name((vms_b2_path)p), i, lanes, pre_len[i], len[i], outlen,
                     keylen);
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
