/* b2many_rounds.h - the BLAKE2b G function and its twelve rounds (RFC 7693),
 * written once for the scalar code (b2many.c) and the lane-parallel
 * kernels (b2many_lanes.h).  Private: the including code defines vadd,
 * vxor, ROR32, ROR24, ROR16 and ROR63 for its word type (uint64_t, or a
 * vector of one word per lane), and names its state v0..v15 and its
 * message words m[0..16). */
#ifndef VMS_B2MANY_ROUNDS_H
#define VMS_B2MANY_ROUNDS_H

/* The G function.  The message word is added before b, which keeps it off
 * the critical path. */
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

/* The twelve rounds of BLAKE2b. */
#define B2_ROUNDS()                                                            \
    do {                                                                       \
        B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);        \
        B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);        \
        B2_ROUND(11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4);        \
        B2_ROUND(7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8);        \
        B2_ROUND(9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13);        \
        B2_ROUND(2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9);        \
        B2_ROUND(12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11);        \
        B2_ROUND(13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10);        \
        B2_ROUND(6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5);        \
        B2_ROUND(10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0);        \
        B2_ROUND(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);        \
        B2_ROUND(14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3);        \
    } while (0)

#endif
