/* b2many_lanes.h - the lane-parallel BLAKE2b compression shared by
 * b2many_avx2.c and b2many_avx512.c (private; included once by each, never
 * by anything else).  Written from RFC 7693: register v_i holds state word i
 * of every lane, so the G function runs unchanged on vectors and no lane
 * ever talks to another.
 *
 * The including file defines, for its register width:
 *   B2_W            lanes per register (4 or 8)
 *   B2_INLINE       "static inline" with its target attribute, always_inline
 *   B2_TARGET       its target attribute, for the exported functions
 *   B2_KERNEL_NAME, B2_RUN_NAME, B2_RUNCOPY_NAME   the exported functions' names
 *   vec, vadd, vxor, set1, loadu, storeu, ROR32, ROR24, ROR16, ROR63
 *   b2_load_msg(m, blk, off)      the 16 message words of block (blk[j] +
 *                                 off) of every lane j, transposed: m[k] =
 *                                 word k of every lane
 *   b2_load_msg_copy(m, blk, off, dst)   the same, also storing lane j's
 *                                 block at dst[j] */
#ifndef VMS_B2MANY_LANES_H
#define VMS_B2MANY_LANES_H

#include "b2many_rounds.h"

/* Compresses the message words m (m[k] = word k of every lane's block)
 * into hv[0..8) (the chaining values, word k of every lane in hv[k]); tv
 * and fv are the counters and final flags. */
B2_INLINE void b2_compress_m(vec hv[8], const vec m[16], vec tv, vec fv)
{
    vec v0 = hv[0], v1 = hv[1], v2 = hv[2], v3 = hv[3];
    vec v4 = hv[4], v5 = hv[5], v6 = hv[6], v7 = hv[7];
    vec v8 = set1(UINT64_C(0x6a09e667f3bcc908));
    vec v9 = set1(UINT64_C(0xbb67ae8584caa73b));
    vec v10 = set1(UINT64_C(0x3c6ef372fe94f82b));
    vec v11 = set1(UINT64_C(0xa54ff53a5f1d36f1));
    vec v12 = vxor(set1(UINT64_C(0x510e527fade682d1)), tv);
    vec v13 = set1(UINT64_C(0x9b05688c2b3e6c1f)); /* counter high word: 0 */
    vec v14 = vxor(set1(UINT64_C(0x1f83d9abfb41bd6b)), fv);
    vec v15 = set1(UINT64_C(0x5be0cd19137e2179));

    B2_ROUNDS();

    hv[0] = vxor(hv[0], vxor(v0, v8));
    hv[1] = vxor(hv[1], vxor(v1, v9));
    hv[2] = vxor(hv[2], vxor(v2, v10));
    hv[3] = vxor(hv[3], vxor(v3, v11));
    hv[4] = vxor(hv[4], vxor(v4, v12));
    hv[5] = vxor(hv[5], vxor(v5, v13));
    hv[6] = vxor(hv[6], vxor(v6, v14));
    hv[7] = vxor(hv[7], vxor(v7, v15));
}

/* The same for block (blk[j] + off) of each lane. */
B2_INLINE void b2_compress_x(vec hv[8], const uint8_t *const blk[B2_W], size_t off,
                             vec tv, vec fv)
{
    vec m[16];
    b2_load_msg(m, blk, off);
    b2_compress_m(hv, m, tv, fv);
}

/* One block of every lane (b2many.h: h transposed, word k of lane j at
 * h[k * W + j]; t the counters, f the final flags). */
B2_TARGET void B2_KERNEL_NAME(uint64_t h[8 * B2_W], const uint8_t *const blk[B2_W],
                              const uint64_t t[B2_W], const uint64_t f[B2_W])
{
    vec hv[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        hv[k] = loadu(h + B2_W * k);
    b2_compress_x(hv, blk, 0, loadu(t), loadu(f));
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        storeu(h + B2_W * k, hv[k]);
}

/* nblk consecutive full blocks of every lane, none of them final: block i
 * of lane j is blk[j] + 128 * i, with counter t[j] + 128 * i.  The chaining
 * values stay in registers from one block to the next.  With copy, block i
 * of lane j is also stored at d[j] + step[j] * i (step 0 or 128).  copy is
 * a constant at each call, so each exported run gets its own loop. */
B2_INLINE void b2_run_x(uint64_t h[8 * B2_W], const uint8_t *const blk[B2_W],
                        size_t nblk, const uint64_t t[B2_W], const bool copy,
                        uint8_t *d[B2_W], const size_t step[B2_W])
{
    vec hv[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        hv[k] = loadu(h + B2_W * k);
    vec tv = loadu(t);
    const vec stepv = set1(VMS_B2_BLOCKBYTES), zero = set1(0);
    for (size_t i = 0; i < nblk; i++) {
        vec m[16];
        if (copy) {
            b2_load_msg_copy(m, blk, VMS_B2_BLOCKBYTES * i, d);
#pragma GCC unroll 8
            for (int j = 0; j < B2_W; j++)
                d[j] += step[j];
        } else {
            b2_load_msg(m, blk, VMS_B2_BLOCKBYTES * i);
        }
        b2_compress_m(hv, m, tv, zero);
        tv = vadd(tv, stepv);
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        storeu(h + B2_W * k, hv[k]);
}

B2_TARGET void B2_RUN_NAME(uint64_t h[8 * B2_W], const uint8_t *const blk[B2_W],
                           size_t nblk, const uint64_t t[B2_W])
{
    b2_run_x(h, blk, nblk, t, false, NULL, NULL);
}

/* The run, and block i of lane j is also stored at dst[j] + 128 * i when
 * dst[j] is not NULL.  The copy is made from the registers the hash loads,
 * so a block is read once, and its stores drain while the rounds run. */
B2_TARGET void B2_RUNCOPY_NAME(uint64_t h[8 * B2_W], const uint8_t *const blk[B2_W],
                               uint8_t *const dst[B2_W], size_t nblk,
                               const uint64_t t[B2_W])
{
    _Alignas(64) uint8_t sink[VMS_B2_BLOCKBYTES]; /* for lanes without a copy */
    uint8_t *d[B2_W];
    size_t step[B2_W];
    for (int j = 0; j < B2_W; j++) {
        d[j] = dst[j] != NULL ? dst[j] : sink;
        step[j] = dst[j] != NULL ? VMS_B2_BLOCKBYTES : 0;
    }
    b2_run_x(h, blk, nblk, t, true, d, step);
}

#endif
