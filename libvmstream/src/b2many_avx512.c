/* b2many_avx512.c - BLAKE2b compression of 8 independent messages at once,
 * one message per 64-bit lane of a zmm register.
 *
 * Written from RFC 7693; the same scheme as b2many_avx2.c with twice the
 * lanes: register v_i holds state word i of all eight messages and the
 * message words are transposed in 8x8 blocks of 64-bit words.  AVX-512F
 * gives the 64-bit rotate (vprorq).  Functions here carry the AVX-512
 * target attribute and are called only after vms_b2_best_path() saw
 * AVX-512 F/VL/BW. */
#include "b2many.h"

#if VMS_B2_HAVE_X86
#include <immintrin.h>

#define B2_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw")))
#define B2_AVX512_INLINE                                                       \
    static inline                                                              \
        __attribute__((target("avx512f,avx512vl,avx512bw"), always_inline))

typedef __m512i vec;

B2_AVX512_INLINE vec vadd(vec a, vec b) { return _mm512_add_epi64(a, b); }
B2_AVX512_INLINE vec vxor(vec a, vec b) { return _mm512_xor_si512(a, b); }

B2_AVX512_INLINE vec loadu(const void *p) { return _mm512_loadu_si512(p); }
B2_AVX512_INLINE void storeu(void *p, vec x) { _mm512_storeu_si512(p, x); }
B2_AVX512_INLINE vec set1(uint64_t x) { return _mm512_set1_epi64((long long)x); }

/* out[k] = word k of rows r[0..7], i.e. (r0[k], r1[k], ..., r7[k]). */
B2_AVX512_INLINE void transpose8(vec out[8], const vec r[8])
{
    /* Pairs of rows: (ra[k], rb[k]) for even k, then odd k. */
    vec p0 = _mm512_unpacklo_epi64(r[0], r[1]); /* 00 10 02 12 04 14 06 16 */
    vec p1 = _mm512_unpackhi_epi64(r[0], r[1]); /* 01 11 03 13 05 15 07 17 */
    vec p2 = _mm512_unpacklo_epi64(r[2], r[3]);
    vec p3 = _mm512_unpackhi_epi64(r[2], r[3]);
    vec p4 = _mm512_unpacklo_epi64(r[4], r[5]);
    vec p5 = _mm512_unpackhi_epi64(r[4], r[5]);
    vec p6 = _mm512_unpacklo_epi64(r[6], r[7]);
    vec p7 = _mm512_unpackhi_epi64(r[6], r[7]);
    /* Quads of rows: words k and k+4 of rows 0-3 (or 4-7). */
    const vec lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const vec hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    vec q0 = _mm512_permutex2var_epi64(p0, lo, p2); /* w0 | w4, rows 0-3 */
    vec q1 = _mm512_permutex2var_epi64(p1, lo, p3); /* w1 | w5 */
    vec q2 = _mm512_permutex2var_epi64(p0, hi, p2); /* w2 | w6 */
    vec q3 = _mm512_permutex2var_epi64(p1, hi, p3); /* w3 | w7 */
    vec q4 = _mm512_permutex2var_epi64(p4, lo, p6); /* same, rows 4-7 */
    vec q5 = _mm512_permutex2var_epi64(p5, lo, p7);
    vec q6 = _mm512_permutex2var_epi64(p4, hi, p6);
    vec q7 = _mm512_permutex2var_epi64(p5, hi, p7);
    /* Join the 256-bit halves of rows 0-3 and rows 4-7. */
    out[0] = _mm512_shuffle_i64x2(q0, q4, _MM_SHUFFLE(1, 0, 1, 0));
    out[4] = _mm512_shuffle_i64x2(q0, q4, _MM_SHUFFLE(3, 2, 3, 2));
    out[1] = _mm512_shuffle_i64x2(q1, q5, _MM_SHUFFLE(1, 0, 1, 0));
    out[5] = _mm512_shuffle_i64x2(q1, q5, _MM_SHUFFLE(3, 2, 3, 2));
    out[2] = _mm512_shuffle_i64x2(q2, q6, _MM_SHUFFLE(1, 0, 1, 0));
    out[6] = _mm512_shuffle_i64x2(q2, q6, _MM_SHUFFLE(3, 2, 3, 2));
    out[3] = _mm512_shuffle_i64x2(q3, q7, _MM_SHUFFLE(1, 0, 1, 0));
    out[7] = _mm512_shuffle_i64x2(q3, q7, _MM_SHUFFLE(3, 2, 3, 2));
}

#define ROR32(x) _mm512_ror_epi64((x), 32)
#define ROR24(x) _mm512_ror_epi64((x), 24)
#define ROR16(x) _mm512_ror_epi64((x), 16)
#define ROR63(x) _mm512_ror_epi64((x), 63)

/* The G function on eight lanes at once.  The message word is added
 * before b, which keeps it off the critical path. */
#define B2_G(a, b, c, d, x, y)                                                 \
    do {                                                                       \
        a = vadd(vadd(a, x), b);                                               \
        d = ROR32(vxor(d, a));                                                 \
        c = vadd(c, d);                                                        \
        b = ROR24(vxor(b, c));                                                 \
        a = vadd(vadd(a, y), b);                                               \
        d = ROR16(vxor(d, a));                                                 \
        c = vadd(c, d);                                                        \
        b = ROR63(vxor(b, c));                                                 \
    } while (0)

/* One round; the sixteen arguments are the round's message permutation. */
#define B2_ROUND(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13,   \
                 s14, s15)                                                     \
    do {                                                                       \
        B2_G(v0, v4, v8, v12, m[s0], m[s1]);                                   \
        B2_G(v1, v5, v9, v13, m[s2], m[s3]);                                   \
        B2_G(v2, v6, v10, v14, m[s4], m[s5]);                                  \
        B2_G(v3, v7, v11, v15, m[s6], m[s7]);                                  \
        B2_G(v0, v5, v10, v15, m[s8], m[s9]);                                  \
        B2_G(v1, v6, v11, v12, m[s10], m[s11]);                                \
        B2_G(v2, v7, v8, v13, m[s12], m[s13]);                                 \
        B2_G(v3, v4, v9, v14, m[s14], m[s15]);                                 \
    } while (0)

/* Compresses block (blk[j] + off) of each lane into hv[0..8) (the chaining
 * values, word k of every lane in hv[k]); tv and fv are the counters and
 * final flags. */
B2_AVX512_INLINE void b2_compress_x(vec hv[8], const uint8_t *const blk[8], size_t off,
                                vec tv, vec fv)
{
    vec m[16], r[8];
    /* Fully unrolled: gcc peels these loops only at -O3, and the kernel
     * loses a third of its speed at -O2 without it (doc/PERFORMANCE.md). */
#pragma GCC unroll 2
    for (int half = 0; half < 2; half++) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            r[j] = loadu(blk[j] + off + 64 * half);
        transpose8(&m[8 * half], r);
    }

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

    B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);
    B2_ROUND(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);
    B2_ROUND(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);
    B2_ROUND(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);
    B2_ROUND(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);
    B2_ROUND(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);
    B2_ROUND(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);
    B2_ROUND(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);
    B2_ROUND(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);
    B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);

    hv[0] = vxor(hv[0], vxor(v0, v8));
    hv[1] = vxor(hv[1], vxor(v1, v9));
    hv[2] = vxor(hv[2], vxor(v2, v10));
    hv[3] = vxor(hv[3], vxor(v3, v11));
    hv[4] = vxor(hv[4], vxor(v4, v12));
    hv[5] = vxor(hv[5], vxor(v5, v13));
    hv[6] = vxor(hv[6], vxor(v6, v14));
    hv[7] = vxor(hv[7], vxor(v7, v15));
}

B2_AVX512 void vms_b2_kernel_avx512(uint64_t h[8 * 8], const uint8_t *const blk[8],
                                const uint64_t t[8], const uint64_t f[8])
{
    vec hv[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        hv[k] = loadu(h + 8 * k);
    b2_compress_x(hv, blk, 0, loadu(t), loadu(f));
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        storeu(h + 8 * k, hv[k]);
}

/* nblk consecutive full blocks of every lane, none of them final: block i
 * of lane j is blk[j] + 128 * i, with counter t[j] + 128 * i.  The chaining
 * values stay in registers from one block to the next. */
B2_AVX512 void vms_b2_run_avx512(uint64_t h[8 * 8], const uint8_t *const blk[8],
                             size_t nblk, const uint64_t t[8])
{
    vec hv[8];
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        hv[k] = loadu(h + 8 * k);
    vec tv = loadu(t);
    const vec step = set1(VMS_B2_BLOCKBYTES), zero = set1(0);
    for (size_t i = 0; i < nblk; i++) {
        b2_compress_x(hv, blk, VMS_B2_BLOCKBYTES * i, tv, zero);
        tv = vadd(tv, step);
    }
#pragma GCC unroll 8
    for (int k = 0; k < 8; k++)
        storeu(h + 8 * k, hv[k]);
}

#else
/* Not x86-64: nothing to build (keeps the translation unit non-empty). */
typedef int vms_b2_avx512_unused;
#endif
