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

/* m[k] = word k of block (blk[j] + off) of every lane j.  Fully unrolled:
 * gcc peels these loops only at -O3, and the kernel loses a third of its
 * speed at -O2 without it (doc/PERFORMANCE.md). */
B2_AVX512_INLINE void b2_load_msg(vec m[16], const uint8_t *const blk[8], size_t off)
{
    vec r[8];
#pragma GCC unroll 2
    for (int half = 0; half < 2; half++) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++)
            r[j] = loadu(blk[j] + off + 64 * half);
        transpose8(&m[8 * half], r);
    }
}

/* The same, and the block of lane j is also stored at dst[j]: the copy
 * rides on the loads the hash makes anyway. */
B2_AVX512_INLINE void b2_load_msg_copy(vec m[16], const uint8_t *const blk[8], size_t off,
                                       uint8_t *const dst[8])
{
    vec r[8];
#pragma GCC unroll 2
    for (int half = 0; half < 2; half++) {
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            r[j] = loadu(blk[j] + off + 64 * half);
            storeu(dst[j] + 64 * half, r[j]);
        }
        transpose8(&m[8 * half], r);
    }
}

#define B2_W 8
#define B2_INLINE B2_AVX512_INLINE
#define B2_TARGET B2_AVX512
#define B2_KERNEL_NAME vms_b2_kernel_avx512
#define B2_RUN_NAME vms_b2_run_avx512
#define B2_RUNCOPY_NAME vms_b2_run_copy_avx512
#include "b2many_lanes.h"

#else
/* Not x86-64: nothing to build (keeps the translation unit non-empty). */
typedef int vms_b2_avx512_unused;
#endif
