/* test_b2many.c - the multi-message BLAKE2b engine (b2many.c and its SIMD
 * kernels) against libb2's blake2b() and published test vectors, on every
 * path the CPU supports. */
#include <criterion/criterion.h>

#include <blake2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b2many.h"

#define MIB (1024u * 1024u)

/* ---- helpers ----------------------------------------------------------- */
/* xorshift64*: deterministic test data without global state. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}
static size_t rng_below(uint64_t *s, size_t n) { return (size_t)(rng_next(s) % n); }
static void rng_fill(uint64_t *s, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(rng_next(s) >> 56);
}

static void unhex(uint8_t *out, const char *hex)
{
    size_t n = strlen(hex) / 2;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert(sscanf(hex + 2 * i, "%2x", &v) == 1);
        out[i] = (uint8_t)v;
    }
}

static void hexstr(char *out, const uint8_t *p, size_t n)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[p[i] >> 4];
        out[2 * i + 1] = d[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Reference: libb2 over pre || msg (copied together). */
static void ref_hash(uint8_t *out, size_t outlen, const vms_b2_lane *ln,
                     const uint8_t *key, size_t keylen)
{
    size_t len = ln->pre_len + ln->msg_len;
    uint8_t *buf = malloc(len ? len : 1);
    cr_assert_not_null(buf);
    if (ln->pre_len)
        memcpy(buf, ln->pre, ln->pre_len);
    if (ln->msg_len)
        memcpy(buf + ln->pre_len, ln->msg, ln->msg_len);
    /* libb2: blake2b(out, in, key, outlen, inlen, keylen) */
    cr_assert(blake2b(out, buf, key, outlen, len, keylen) == 0);
    free(buf);
}

static int n_paths(void) { return (int)vms_b2_best_path() + 1; }

#define GUARD 16
#define GUARD_BYTE 0xA5

/* Which lanes copy their message (vms_b2_lane.copy) in check_batch. */
enum copies { COPY_NONE, COPY_ALL, COPY_MIXED, COPY_KINDS };
static const char *const copy_names[] = {"no copies", "every lane copies",
                                         "lanes 0, 1, 2, 4, 5, 6, .. copy"};

/* How check_batch cuts each message into pieces (vms_b2_lane.segs). */
enum segmode { SEG_NONE, SEG_ONE, SEG_RANDOM, SEG_PAGES, SEG_KINDS };
static const char *const seg_names[] = {"msg", "one piece", "random pieces",
                                        "head + page runs"};

/* Cuts msg[0..len) into pieces as mode says, each piece a separate
 * allocation of exactly its length (so that reading past a piece, or from
 * msg itself, is caught by ASan or by a wrong digest).  Returns the count;
 * *segs and the pieces are freed by free_segs. */
static size_t make_segs(vms_b2_seg **segs, const uint8_t *msg, size_t len,
                        enum segmode mode, uint64_t seed)
{
    size_t cap = 16, n = 0, at = 0;
    vms_b2_seg *v = malloc(cap * sizeof *v);
    cr_assert_not_null(v);
    uint64_t rs = seed | 1;
    for (bool first = true; at < len || first; first = false) {
        size_t want = len - at;
        if (mode == SEG_RANDOM) {
            switch (rng_below(&rs, 4)) {
            case 0: want = rng_below(&rs, 8); break; /* tiny, 0 included */
            case 1: want = rng_below(&rs, 301); break;
            default: want = rng_below(&rs, 20001); break;
            }
        } else if (mode == SEG_PAGES) {
            /* [bitmap][fills], then runs of whole pages, now and then an
             * empty piece: what the encoder hands over for a page map */
            want = first ? 8 * (1 + rng_below(&rs, 40))
                   : rng_below(&rs, 8) == 0 ? 0
                                            : 4096 * (1 + rng_below(&rs, 6));
        }
        want = want < len - at ? want : len - at;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
            cr_assert_not_null(v);
        }
        uint8_t *piece = NULL;
        if (want > 0) {
            piece = malloc(want);
            cr_assert_not_null(piece);
            memcpy(piece, msg + at, want);
        }
        v[n++] = (vms_b2_seg){piece, want};
        at += want;
    }
    *segs = v;
    return n;
}

static void free_segs(vms_b2_seg *segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free((void *)segs[i].p);
    free(segs);
}

/* Runs vms_b2_many on lanes[0..n) (whose out and copy pointers are ignored)
 * with the given path cap and checks every digest against libb2, and that
 * nothing is written past outlen; without copies, with every lane copying
 * its message, with three lanes in four copying; each of those with the
 * messages whole and cut into pieces in three ways.  Each copy must equal
 * its message, with nothing written past its end. */
static void check_batch_copies(const vms_b2_lane *lanes_in, size_t n, size_t outlen,
                               const uint8_t *key, size_t keylen, vms_b2_path path,
                               const char *what, enum copies mode, enum segmode sm);
static void check_batch(const vms_b2_lane *lanes_in, size_t n, size_t outlen,
                        const uint8_t *key, size_t keylen, vms_b2_path path,
                        const char *what)
{
    for (int m = 0; m < COPY_KINDS; m++)
        for (int sm = 0; sm < SEG_KINDS; sm++)
            check_batch_copies(lanes_in, n, outlen, key, keylen, path, what,
                               (enum copies)m, (enum segmode)sm);
}

static void check_batch_copies(const vms_b2_lane *lanes_in, size_t n, size_t outlen,
                               const uint8_t *key, size_t keylen, vms_b2_path path,
                               const char *what, enum copies mode, enum segmode sm)
{
    size_t stride = 64 + GUARD;
    uint8_t *outs = malloc(n * stride + 1);
    vms_b2_lane *lanes = malloc((n ? n : 1) * sizeof *lanes);
    uint8_t **copies = calloc(n ? n : 1, sizeof *copies);
    cr_assert(outs != NULL && lanes != NULL && copies != NULL);
    memset(outs, GUARD_BYTE, n * stride + 1);
    for (size_t i = 0; i < n; i++) {
        lanes[i] = lanes_in[i];
        lanes[i].out = outs + i * stride;
        lanes[i].copy = NULL;
        if (mode == COPY_ALL || (mode == COPY_MIXED && i % 4 != 3)) {
            copies[i] = malloc(lanes[i].msg_len + GUARD);
            cr_assert_not_null(copies[i]);
            memset(copies[i], GUARD_BYTE, lanes[i].msg_len + GUARD);
            lanes[i].copy = copies[i];
        }
        if (sm != SEG_NONE) {
            vms_b2_seg *segs;
            lanes[i].nsegs = make_segs(&segs, lanes_in[i].msg, lanes_in[i].msg_len, sm,
                                       UINT64_C(0x5e65) * (i + 1) + lanes_in[i].msg_len);
            lanes[i].segs = segs;
            lanes[i].msg = NULL; /* must not be read */
        }
    }
    vms_b2_many(lanes, n, outlen, key, keylen, path);
    for (size_t i = 0; i < n; i++) {
        if (copies[i]) {
            const size_t len = lanes[i].msg_len;
            cr_assert(len == 0 || memcmp(copies[i], lanes_in[i].msg, len) == 0,
                      "%s, %s, %s: path %s, lane %zu of %zu (pre %zu, msg %zu): the "
                      "copy differs from the message",
                      what, copy_names[mode], seg_names[sm], vms_b2_path_name(path), i,
                      n, lanes[i].pre_len, len);
            for (size_t g = len; g < len + GUARD; g++)
                cr_assert(copies[i][g] == GUARD_BYTE,
                          "%s, %s, %s: path %s lane %zu wrote byte %zu past its "
                          "copy's %zu bytes",
                          what, copy_names[mode], seg_names[sm], vms_b2_path_name(path),
                          i, g, len);
            free(copies[i]);
        }
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t want[64];
        char hw[129], hg[129];
        ref_hash(want, outlen, &lanes_in[i], key, keylen);
        if (memcmp(want, lanes[i].out, outlen) != 0) {
            hexstr(hw, want, outlen);
            hexstr(hg, lanes[i].out, outlen);
            cr_assert_fail("%s, %s, %s: path %s, lane %zu of %zu (pre %zu, msg %zu, "
                           "%zu pieces, outlen %zu, keylen %zu):\n want %s\n got  %s",
                           what, copy_names[mode], seg_names[sm], vms_b2_path_name(path),
                           i, n, lanes[i].pre_len, lanes[i].msg_len, lanes[i].nsegs,
                           outlen, keylen, hw, hg);
        }
        for (size_t g = outlen; g < stride; g++)
            cr_assert(lanes[i].out[g] == GUARD_BYTE,
                      "%s: path %s lane %zu wrote byte %zu past outlen %zu",
                      what, vms_b2_path_name(path), i, g, outlen);
        if (lanes[i].segs)
            free_segs((vms_b2_seg *)lanes[i].segs, lanes[i].nsegs);
    }
    free(outs);
    free(lanes);
    free(copies);
}

/* ---- dispatch ------------------------------------------------------------ */
Test(b2many, path_names)
{
    cr_assert_str_eq(vms_b2_path_name(VMS_B2_PATH_PORTABLE), "portable");
    cr_assert_str_eq(vms_b2_path_name(VMS_B2_PATH_AVX2), "avx2");
    cr_assert_str_eq(vms_b2_path_name(VMS_B2_PATH_AVX512), "avx512");
    vms_b2_path best = vms_b2_best_path();
    cr_assert(best == VMS_B2_PATH_PORTABLE || best == VMS_B2_PATH_AVX2 ||
              best == VMS_B2_PATH_AVX512);
    /* Deterministic: computed afresh each call, same answer. */
    cr_assert_eq(vms_b2_best_path(), best);
#if defined(__x86_64__)
    /* What the CPU has, capped by the measurement knob VMS_B2_CAP_PATH
     * (b2many.c) when a build sets it. */
#ifndef VMS_B2_CAP_PATH
#define VMS_B2_CAP_PATH 2
#endif
    vms_b2_path want = VMS_B2_PATH_PORTABLE;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw"))
        want = VMS_B2_PATH_AVX512;
    else if (__builtin_cpu_supports("avx2"))
        want = VMS_B2_PATH_AVX2;
    if ((unsigned)want > (unsigned)VMS_B2_CAP_PATH)
        want = (vms_b2_path)VMS_B2_CAP_PATH;
    cr_assert_eq(best, want);
#endif
    cr_log_info("best BLAKE2b path: %s", vms_b2_path_name(best));
}

Test(b2many, zero_lanes)
{
    for (int p = 0; p < n_paths(); p++)
        vms_b2_many(NULL, 0, 32, NULL, 0, (vms_b2_path)p);
}

/* Group sizes: 8 per thread, except a batch too short to give every
 * thread 8 goes out in groups of up to 4 over the threads; every group
 * size covers the batch in at most `threads` groups of at most 8. */
Test(b2many, group_size)
{
    const struct { size_t n, threads, per; } cases[] = {
        {1, 2, 8},  {4, 2, 8},  {5, 2, 3},  {7, 2, 4},  {8, 2, 4},  {9, 2, 8},
        {16, 2, 8}, {7, 1, 8},  {8, 1, 8},  {7, 3, 4},  {12, 3, 4}, {12, 4, 4},
        {17, 4, 5}, {24, 3, 8}, {30, 4, 8}, {33, 8, 5}, {3, 64, 8},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t per = vms_b2_group_size(cases[i].n, cases[i].threads);
        cr_assert_eq(per, cases[i].per, "n %zu, %zu threads: %zu", cases[i].n,
                     cases[i].threads, per);
    }
    for (size_t t = 1; t <= 8; t++)
        for (size_t n = 1; n <= 8 * t; n++) {
            size_t per = vms_b2_group_size(n, t);
            cr_assert(per >= 1 && per <= 8);
            cr_assert_leq((n + per - 1) / per, t, "n %zu, %zu threads: groups of %zu", n, t,
                          per);
        }
}

/* ---- known answers --------------------------------------------------------- */
/* RFC 7693 Appendix A: BLAKE2b-512("abc"). */
static const char abc512[] =
    "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
    "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923";
/* BLAKE2b-512 of the empty string (BLAKE2 repository, blake2b_kat[0]). */
static const char empty512[] =
    "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419"
    "d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce";
/* BLAKE2 repository testvectors/blake2-kat.h, blake2b_keyed_kat[i]:
 * key = 00 01 .. 3f, input = 00 01 .. (i-1), 64-byte digest. */
static const char *const keyed_kat[] = {
    "10ebb67700b1868efb4417987acf4690ae9d972fb7a590c2f02871799aaa4786"
    "b5e996e8f0f4eb981fc214b005f42d2ff4233499391653df7aefcbc13fc51568",
    "961f6dd1e4dd30f63901690c512e78e4b45e4742ed197c3c5e45c549fd25f2e4"
    "187b0bc9fe30492b16b0d0bc4ef9b0f34c7003fac09a5ef1532e69430234cebd",
    "da2cfbe2d8409a0f38026113884f84b50156371ae304c4430173d08a99d9fb1b"
    "983164a3770706d537f49e0c916d9f32b95cc37a95b99d857436f0232c88a965",
    "33d0825dddf7ada99b0e7e307104ad07ca9cfd9692214f1561356315e784f3e5"
    "a17e364ae9dbb14cb2036df932b77f4b292761365fb328de7afdc6d8998f5fc1",
    "beaa5a3d08f3807143cf621d95cd690514d0b49efff9c91d24b59241ec0eefa5"
    "f60196d407048bba8d2146828ebcb0488d8842fd56bb4f6df8e19c4b4daab8ac",
};

/* Hash one message with every path, in a batch of `copies` identical lanes
 * (so the SIMD kernels really run), and with the incremental API. */
static void check_kat(const uint8_t *msg, size_t len, const uint8_t *key,
                      size_t keylen, const char *hex, const char *what)
{
    uint8_t want[64], got[9][64];
    char hg[129];
    unhex(want, hex);
    for (int p = 0; p < n_paths(); p++) {
        for (size_t copies = 1; copies <= 9; copies += 8) {
            vms_b2_lane lanes[9];
            memset(got, 0, sizeof got);
            for (size_t i = 0; i < copies; i++)
                lanes[i] = (vms_b2_lane){NULL, 0, msg, len, got[i], NULL, NULL, 0};
            vms_b2_many(lanes, copies, 64, key, keylen, (vms_b2_path)p);
            for (size_t i = 0; i < copies; i++) {
                hexstr(hg, got[i], 64);
                cr_assert(memcmp(got[i], want, 64) == 0,
                          "%s, path %s, lane %zu/%zu: got %s", what,
                          vms_b2_path_name((vms_b2_path)p), i, copies, hg);
            }
        }
    }
    vms_b2_state st;
    vms_b2_init(&st, 64, key, keylen);
    vms_b2_update(&st, msg, len);
    vms_b2_final(&st, got[0]);
    hexstr(hg, got[0], 64);
    cr_assert(memcmp(got[0], want, 64) == 0, "%s, incremental: got %s", what,
              hg);
}

Test(b2many, rfc7693_abc)
{
    check_kat((const uint8_t *)"abc", 3, NULL, 0, abc512, "RFC 7693 abc");
    check_kat(NULL, 0, NULL, 0, empty512, "empty");
}

Test(b2many, keyed_kat)
{
    uint8_t key[64], in[8];
    for (int i = 0; i < 64; i++)
        key[i] = (uint8_t)i;
    for (int i = 0; i < 8; i++)
        in[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof keyed_kat / sizeof keyed_kat[0]; i++) {
        char what[64];
        snprintf(what, sizeof what, "keyed KAT %zu", i);
        check_kat(i ? in : NULL, i, key, 64, keyed_kat[i], what);
    }
}

/* A KAT must be able to fail: a one-bit change of input changes the digest. */
Test(b2many, kat_detects_change)
{
    uint8_t want[64], got[64];
    unhex(want, abc512);
    for (int p = 0; p < n_paths(); p++) {
        vms_b2_lane l[2] = {{NULL, 0, (const uint8_t *)"abd", 3, got, NULL, NULL, 0},
                            {NULL, 0, (const uint8_t *)"abc", 3, NULL, NULL, NULL, 0}};
        uint8_t other[64];
        l[1].out = other;
        vms_b2_many(l, 2, 64, NULL, 0, (vms_b2_path)p);
        cr_assert(memcmp(got, want, 64) != 0);
        cr_assert(memcmp(other, want, 64) == 0);
    }
}

/* ---- edge lengths ------------------------------------------------------------ */
Test(b2many, edge_lengths, .timeout = 300)
{
    static const size_t lens[] = {0, 1, 127, 128, 129, 255, 256, 257, MIB};
    static const size_t prelens[] = {0, 128, 256};
    static const size_t outlens[] = {32, 64};
    const size_t nl = sizeof lens / sizeof lens[0];
    uint64_t rs = 0x1234567;
    uint8_t *data = malloc(MIB + 300);
    uint8_t pre[256], key[64];
    cr_assert_not_null(data);
    rng_fill(&rs, data, MIB + 300);
    rng_fill(&rs, pre, sizeof pre);
    rng_fill(&rs, key, sizeof key);

    for (int p = 0; p < n_paths(); p++)
        for (size_t k = 0; k < 2; k++)
            for (size_t o = 0; o < 2; o++)
                for (size_t q = 0; q < 3; q++) {
                    vms_b2_lane lanes[2 * 9 + 8];
                    size_t n = 0;
                    const size_t keylen = k ? 32 : 0;
                    /* Every edge length alone, then all of them mixed in one
                     * batch (misaligned starts), then 8 equal lanes. */
                    for (size_t i = 0; i < nl; i++) {
                        vms_b2_lane one = {pre, prelens[q], data + i, lens[i],
                                           NULL, NULL, NULL, 0};
                        check_batch(&one, 1, outlens[o], k ? key : NULL,
                                    keylen, (vms_b2_path)p, "edge single");
                        lanes[n++] = one;
                        lanes[n++] = (vms_b2_lane){pre, prelens[q],
                                                   data + 3 * i + 1,
                                                   lens[nl - 1 - i], NULL, NULL, NULL, 0};
                    }
                    check_batch(lanes, n, outlens[o], k ? key : NULL, keylen,
                                (vms_b2_path)p, "edge mixed");
                    for (size_t i = 0; i + 1 < nl; i++) {
                        for (size_t j = 0; j < 8; j++)
                            lanes[j] = (vms_b2_lane){pre, prelens[q],
                                                     data + j * 7, lens[i],
                                                     NULL, NULL, NULL, 0};
                        check_batch(lanes, 8, outlens[o], k ? key : NULL,
                                    keylen, (vms_b2_path)p, "edge equal");
                    }
                }
    /* 8 lanes of 1 MiB each, and one 1 MiB lane among short ones (the long
     * one ends up alone and is finished by scalar code). */
    for (int p = 0; p < n_paths(); p++) {
        vms_b2_lane lanes[11];
        for (size_t j = 0; j < 8; j++)
            lanes[j] = (vms_b2_lane){pre, 128, data + j, MIB, NULL, NULL, NULL, 0};
        check_batch(lanes, 8, 32, key, 32, (vms_b2_path)p, "8 x 1 MiB");
        for (size_t j = 0; j < 11; j++)
            lanes[j] = (vms_b2_lane){NULL, 0, data + j, j == 5 ? MIB : 200 + j,
                                     NULL, NULL, NULL, 0};
        check_batch(lanes, 11, 64, NULL, 0, (vms_b2_path)p, "1 MiB + short");
    }
    free(data);
}

/* ---- random batches ------------------------------------------------------------ */
Test(b2many, random_batches, .timeout = 300)
{
    const size_t maxlen = 5000;
    uint64_t rs = UINT64_C(0x9E3779B97F4A7C15);
    uint8_t *data = malloc(maxlen + 64);
    uint8_t pre[256], key[64];
    cr_assert_not_null(data);
    rng_fill(&rs, data, maxlen + 64);
    rng_fill(&rs, pre, sizeof pre);
    rng_fill(&rs, key, sizeof key);

    for (int iter = 0; iter < 1500; iter++) {
        vms_b2_lane lanes[19];
        size_t n = rng_below(&rs, 20);
        size_t outlen = (iter % 3 == 2) ? 1 + rng_below(&rs, 64)
                                        : (iter & 1 ? 64 : 32);
        size_t keylen = 0;
        switch (rng_below(&rs, 4)) {
        case 0:
            keylen = 32;
            break;
        case 1:
            keylen = 1 + rng_below(&rs, 64);
            break;
        default:
            break;
        }
        /* Sometimes all lanes of one length class, to exercise both
         * lockstep and ragged batches. */
        bool similar = rng_below(&rs, 3) == 0;
        size_t base = rng_below(&rs, maxlen + 1);
        for (size_t i = 0; i < n; i++) {
            size_t len = similar ? base - base % 128 + rng_below(&rs, 128)
                                 : rng_below(&rs, maxlen + 1);
            if (len > maxlen)
                len = maxlen;
            size_t pl = 128 * rng_below(&rs, 3);
            size_t off = rng_below(&rs, 64);
            lanes[i] = (vms_b2_lane){pre, pl, len ? data + off : NULL, len,
                                     NULL, NULL, NULL, 0};
        }
        for (int p = 0; p < n_paths(); p++)
            check_batch(lanes, n, outlen, keylen ? key : NULL, keylen,
                        (vms_b2_path)p, "random");
    }
    free(data);
}

/* More lanes than one scheduling chunk (256), lengths spread widely. */
Test(b2many, many_lanes, .timeout = 300)
{
    enum { N = 600 };
    uint64_t rs = 42;
    uint8_t *data = malloc(3000);
    vms_b2_lane *lanes = malloc(N * sizeof *lanes);
    uint8_t key[64];
    cr_assert(data != NULL && lanes != NULL);
    rng_fill(&rs, data, 3000);
    rng_fill(&rs, key, sizeof key);
    for (size_t i = 0; i < N; i++) {
        size_t len = rng_below(&rs, 2) ? rng_below(&rs, 300)
                                        : rng_below(&rs, 2900);
        lanes[i] = (vms_b2_lane){data, 128 * rng_below(&rs, 2),
                                 data + rng_below(&rs, 100), len, NULL, NULL, NULL, 0};
    }
    for (int p = 0; p < n_paths(); p++) {
        check_batch(lanes, N, 32, key, 32, (vms_b2_path)p, "many lanes keyed");
        check_batch(lanes, N, 64, NULL, 0, (vms_b2_path)p, "many lanes");
    }
    free(lanes);
    free(data);
}

/* Lanes may share one input buffer; identical lanes (13 of them: more
 * than one vector, with refills) must give identical digests. */
Test(b2many, identical_lanes_agree)
{
    uint8_t msg[1000], outs[13][32];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7);
    for (int p = 0; p < n_paths(); p++) {
        vms_b2_lane lanes[13];
        for (size_t i = 0; i < 13; i++)
            lanes[i] = (vms_b2_lane){NULL, 0, msg, sizeof msg, outs[i], NULL, NULL, 0};
        vms_b2_many(lanes, 13, 32, NULL, 0, (vms_b2_path)p);
        for (size_t i = 1; i < 13; i++)
            cr_assert(memcmp(outs[0], outs[i], 32) == 0);
    }
}

/* ---- incremental API ------------------------------------------------------------ */
Test(b2many, incremental_random_splits)
{
    uint64_t rs = 7;
    uint8_t *data = malloc(5000);
    uint8_t key[64];
    cr_assert_not_null(data);
    rng_fill(&rs, data, 5000);
    rng_fill(&rs, key, sizeof key);
    for (int iter = 0; iter < 500; iter++) {
        size_t len = iter < 300 ? (size_t)iter : rng_below(&rs, 5001);
        size_t outlen = 1 + rng_below(&rs, 64);
        size_t keylen = rng_below(&rs, 2) ? rng_below(&rs, 65) : 0;
        uint8_t want[64], got[64];
        cr_assert(blake2b(want, data, keylen ? key : NULL, outlen, len,
                          keylen) == 0);
        vms_b2_state st;
        vms_b2_init(&st, outlen, keylen ? key : NULL, keylen);
        size_t pos = 0;
        while (pos < len) {
            size_t step = rng_below(&rs, 4) == 0 ? rng_below(&rs, 400)
                                                 : rng_below(&rs, 130);
            if (step > len - pos)
                step = len - pos;
            vms_b2_update(&st, data + pos, step);
            pos += step;
        }
        vms_b2_update(&st, NULL, 0);
        vms_b2_final(&st, got);
        cr_assert(memcmp(want, got, outlen) == 0,
                  "incremental len %zu outlen %zu keylen %zu", len, outlen,
                  keylen);
    }
    free(data);
}

/* The chain digest use: BLAKE2b-256(chain || checksum), 64 bytes in. */
Test(b2many, incremental_chain_shape)
{
    uint8_t chain[32], sum[32], want[32], got[32], both[64];
    for (int i = 0; i < 32; i++) {
        chain[i] = (uint8_t)i;
        sum[i] = (uint8_t)(0xff - i);
    }
    memcpy(both, chain, 32);
    memcpy(both + 32, sum, 32);
    cr_assert(blake2b(want, both, NULL, 32, 64, 0) == 0);
    vms_b2_state st;
    vms_b2_init(&st, 32, NULL, 0);
    vms_b2_update(&st, chain, 32);
    vms_b2_update(&st, sum, 32);
    vms_b2_final(&st, got);
    cr_assert(memcmp(want, got, 32) == 0);
}
