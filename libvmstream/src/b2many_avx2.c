/* b2many_avx2.c - BLAKE2b compression of 4 independent messages at once,
 * one message per 64-bit lane of a ymm register.
 *
 * Written from RFC 7693.  Register v_i holds state word i of all four
 * messages, so the G function runs unchanged on vectors and no lane ever
 * talks to another; only the message words need transposing (4x4 blocks of
 * 64-bit words).  Functions here carry target("avx2") and are called only
 * after vms_b2_best_path() saw AVX2. */
#include "b2many.h"

#if VMS_B2_HAVE_X86
#include <immintrin.h>

#define B2_AVX2 __attribute__((target("avx2")))
#define B2_AVX2_INLINE static inline __attribute__((target("avx2"), always_inline))

typedef __m256i vec;

B2_AVX2_INLINE vec vadd(vec a, vec b) { return _mm256_add_epi64(a, b); }
B2_AVX2_INLINE vec vxor(vec a, vec b) { return _mm256_xor_si256(a, b); }

B2_AVX2_INLINE vec ror32(vec x)
{
    return _mm256_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1));
}
B2_AVX2_INLINE vec ror24(vec x)
{
    /* Output byte i of each word is input byte (i + 3) mod 8. */
    const vec r = _mm256_setr_epi8(3, 4, 5, 6, 7, 0, 1, 2, 11, 12, 13, 14, 15,
                                  8, 9, 10, 3, 4, 5, 6, 7, 0, 1, 2, 11, 12,
                                  13, 14, 15, 8, 9, 10);
    return _mm256_shuffle_epi8(x, r);
}
B2_AVX2_INLINE vec ror16(vec x)
{
    const vec r = _mm256_setr_epi8(2, 3, 4, 5, 6, 7, 0, 1, 10, 11, 12, 13, 14,
                                  15, 8, 9, 2, 3, 4, 5, 6, 7, 0, 1, 10, 11,
                                  12, 13, 14, 15, 8, 9);
    return _mm256_shuffle_epi8(x, r);
}
B2_AVX2_INLINE vec ror63(vec x)
{
    return _mm256_or_si256(_mm256_srli_epi64(x, 63), _mm256_add_epi64(x, x));
}

/* Columns j of rows a..d: out[k] = (a[k], b[k], c[k], d[k]). */
B2_AVX2_INLINE void transpose4(vec out[4], vec a, vec b, vec c, vec d)
{
    vec ab_lo = _mm256_unpacklo_epi64(a, b); /* a0 b0 a2 b2 */
    vec ab_hi = _mm256_unpackhi_epi64(a, b); /* a1 b1 a3 b3 */
    vec cd_lo = _mm256_unpacklo_epi64(c, d); /* c0 d0 c2 d2 */
    vec cd_hi = _mm256_unpackhi_epi64(c, d); /* c1 d1 c3 d3 */
    out[0] = _mm256_permute2x128_si256(ab_lo, cd_lo, 0x20);
    out[1] = _mm256_permute2x128_si256(ab_hi, cd_hi, 0x20);
    out[2] = _mm256_permute2x128_si256(ab_lo, cd_lo, 0x31);
    out[3] = _mm256_permute2x128_si256(ab_hi, cd_hi, 0x31);
}

B2_AVX2_INLINE vec loadu(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}
B2_AVX2_INLINE void storeu(void *p, vec x)
{
    _mm256_storeu_si256((__m256i *)p, x);
}
B2_AVX2_INLINE vec set1(uint64_t x) { return _mm256_set1_epi64x((long long)x); }

#define ROR32(x) ror32(x)
#define ROR24(x) ror24(x)
#define ROR16(x) ror16(x)
#define ROR63(x) ror63(x)

/* m[k] = word k of block (blk[j] + off) of every lane j. */
B2_AVX2_INLINE void b2_load_msg(vec m[16], const uint8_t *const blk[4], size_t off)
{
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++)
        transpose4(&m[4 * q], loadu(blk[0] + off + 32 * q), loadu(blk[1] + off + 32 * q),
                   loadu(blk[2] + off + 32 * q), loadu(blk[3] + off + 32 * q));
}

/* The same, and the block of lane j is also stored at dst[j]: the copy
 * rides on the loads the hash makes anyway. */
B2_AVX2_INLINE void b2_load_msg_copy(vec m[16], const uint8_t *const blk[4], size_t off,
                                     uint8_t *const dst[4])
{
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        vec a = loadu(blk[0] + off + 32 * q), b = loadu(blk[1] + off + 32 * q);
        vec c = loadu(blk[2] + off + 32 * q), d = loadu(blk[3] + off + 32 * q);
        storeu(dst[0] + 32 * q, a);
        storeu(dst[1] + 32 * q, b);
        storeu(dst[2] + 32 * q, c);
        storeu(dst[3] + 32 * q, d);
        transpose4(&m[4 * q], a, b, c, d);
    }
}

#define B2_W 4
#define B2_INLINE B2_AVX2_INLINE
#define B2_TARGET B2_AVX2
#define B2_KERNEL_NAME vms_b2_kernel_avx2
#define B2_RUN_NAME vms_b2_run_avx2
#define B2_RUNCOPY_NAME vms_b2_run_copy_avx2
#include "b2many_lanes.h"

#else
/* Not x86-64: nothing to build (keeps the translation unit non-empty). */
typedef int vms_b2_avx2_unused;
#endif
