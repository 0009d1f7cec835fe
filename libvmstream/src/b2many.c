/* b2many.c - BLAKE2b (RFC 7693): portable scalar code, the incremental
 * single-message API, and the lane scheduler that feeds the SIMD kernels in
 * b2many_avx2.c / b2many_avx512.c.
 *
 * Terms used below.  A lane's message is K || pre || msg where K is the key
 * padded with zeros to one 128-byte block (only when keyed).  Its length L
 * is 128 * keyed + pre_len + msg_len and it is cut into nb = max(1,
 * ceil(L / 128)) blocks.  Block i (0-based) is compressed with the byte
 * counter min(128 * (i + 1), L) and, for i = nb - 1 only, the final flag;
 * a short last block is zero padded, and the empty message is one zero
 * block.  Because K and pre are whole blocks, a block never straddles K,
 * pre and msg; it is copied only when it is the short last one or when it
 * straddles two of msg's pieces (vms_b2_lane.segs). */
#include "b2many.h"

#include <assert.h>

static const uint64_t b2_iv[8] = {
    UINT64_C(0x6a09e667f3bcc908), UINT64_C(0xbb67ae8584caa73b),
    UINT64_C(0x3c6ef372fe94f82b), UINT64_C(0xa54ff53a5f1d36f1),
    UINT64_C(0x510e527fade682d1), UINT64_C(0x9b05688c2b3e6c1f),
    UINT64_C(0x1f83d9abfb41bd6b), UINT64_C(0x5be0cd19137e2179),
};

/* An all-zero block fed to idle SIMD lanes. */
static const uint8_t b2_zero_block[VMS_B2_BLOCKBYTES];

static inline uint64_t b2_ror(uint64_t x, unsigned n)
{
    return (x >> n) | (x << (64 - n));
}

/* ---- scalar compression -------------------------------------------------- */
#define vadd(a, b) ((a) + (b))
#define vxor(a, b) ((a) ^ (b))
#define ROR32(x) b2_ror((x), 32)
#define ROR24(x) b2_ror((x), 24)
#define ROR16(x) b2_ror((x), 16)
#define ROR63(x) b2_ror((x), 63)
#include "b2many_rounds.h"

static void b2_compress(uint64_t h[8], const uint8_t block[VMS_B2_BLOCKBYTES],
                        uint64_t t0, uint64_t t1, uint64_t f0)
{
    /* Written out rather than looped, so that gcc's -fanalyzer (which
     * does not follow the 16 iterations) sees every word set. */
    const uint64_t m[16] = {
        vms_le64(block + 0),   vms_le64(block + 8),   vms_le64(block + 16),
        vms_le64(block + 24),  vms_le64(block + 32),  vms_le64(block + 40),
        vms_le64(block + 48),  vms_le64(block + 56),  vms_le64(block + 64),
        vms_le64(block + 72),  vms_le64(block + 80),  vms_le64(block + 88),
        vms_le64(block + 96),  vms_le64(block + 104), vms_le64(block + 112),
        vms_le64(block + 120)};

    uint64_t v0 = h[0], v1 = h[1], v2 = h[2], v3 = h[3];
    uint64_t v4 = h[4], v5 = h[5], v6 = h[6], v7 = h[7];
    uint64_t v8 = b2_iv[0], v9 = b2_iv[1], v10 = b2_iv[2], v11 = b2_iv[3];
    uint64_t v12 = b2_iv[4] ^ t0, v13 = b2_iv[5] ^ t1;
    uint64_t v14 = b2_iv[6] ^ f0, v15 = b2_iv[7];

    B2_ROUNDS();

    h[0] ^= v0 ^ v8;
    h[1] ^= v1 ^ v9;
    h[2] ^= v2 ^ v10;
    h[3] ^= v3 ^ v11;
    h[4] ^= v4 ^ v12;
    h[5] ^= v5 ^ v13;
    h[6] ^= v6 ^ v14;
    h[7] ^= v7 ^ v15;
}

#undef vadd
#undef vxor
#undef ROR32
#undef ROR24
#undef ROR16
#undef ROR63

/* Word 0 of the initial chaining value: IV[0] ^ parameter block word 0
 * (digest length, key length, fanout 1, depth 1). */
static uint64_t b2_param0(size_t outlen, size_t keylen)
{
    return b2_iv[0] ^ UINT64_C(0x01010000) ^ ((uint64_t)keylen << 8) ^
           (uint64_t)outlen;
}

static void b2_put_digest(uint8_t *out, const uint64_t h[8], size_t outlen)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(out, h, outlen); /* the digest is h in little-endian order */
#else
    uint8_t full[VMS_B2_OUTBYTES];
    for (int i = 0; i < 8; i++)
        vms_put64(full + 8 * i, h[i]);
    memcpy(out, full, outlen);
#endif
}

/* ---- incremental single-message API -------------------------------------- */
static void b2_count(vms_b2_state *s, size_t n)
{
    s->t[0] += (uint64_t)n;
    if (s->t[0] < (uint64_t)n)
        s->t[1]++;
}

void vms_b2_init(vms_b2_state *s, size_t outlen, const uint8_t *key,
                 size_t keylen)
{
    assert(outlen >= 1 && outlen <= VMS_B2_OUTBYTES);
    assert(keylen <= VMS_B2_KEYBYTES && (keylen == 0 || key != NULL));
    memcpy(s->h, b2_iv, sizeof s->h);
    s->h[0] = b2_param0(outlen, keylen);
    s->t[0] = s->t[1] = 0;
    s->outlen = outlen;
    memset(s->buf, 0, sizeof s->buf);
    s->buflen = 0;
    if (keylen > 0) {
        memcpy(s->buf, key, keylen);
        s->buflen = VMS_B2_BLOCKBYTES;
    }
}

void vms_b2_update(vms_b2_state *s, const void *in, size_t len)
{
    const uint8_t *p = in;
    if (len == 0)
        return;
    /* The buffer is only compressed once more input follows it, so the
     * last block always stays behind for vms_b2_final. */
    size_t fill = VMS_B2_BLOCKBYTES - s->buflen;
    if (len > fill) {
        memcpy(s->buf + s->buflen, p, fill);
        b2_count(s, VMS_B2_BLOCKBYTES);
        b2_compress(s->h, s->buf, s->t[0], s->t[1], 0);
        s->buflen = 0;
        p += fill;
        len -= fill;
        while (len > VMS_B2_BLOCKBYTES) {
            b2_count(s, VMS_B2_BLOCKBYTES);
            b2_compress(s->h, p, s->t[0], s->t[1], 0);
            p += VMS_B2_BLOCKBYTES;
            len -= VMS_B2_BLOCKBYTES;
        }
    }
    memcpy(s->buf + s->buflen, p, len);
    s->buflen += len;
}

void vms_b2_final(vms_b2_state *s, uint8_t *out)
{
    b2_count(s, s->buflen);
    memset(s->buf + s->buflen, 0, VMS_B2_BLOCKBYTES - s->buflen);
    b2_compress(s->h, s->buf, s->t[0], s->t[1], ~UINT64_C(0));
    b2_put_digest(out, s->h, s->outlen);
    /* The buffer may have held the key. */
    memset(s->buf, 0, sizeof s->buf);
    s->buflen = 0;
}

/* ---- lanes -----------------------------------------------------------------
 * A job walks its lane's msg through a cursor over the pieces (one piece,
 * msg itself, when the lane has no segs).  Blocks are taken in order, so
 * the cursor only moves forward. */
typedef struct b2_job {
    const vms_b2_lane *lane;
    size_t total;   /* L: bytes hashed, key block included */
    size_t nblocks; /* nb */
    size_t next;    /* next block to compress */
    const vms_b2_seg *segs; /* the pieces of msg (&one without segs) */
    size_t nsegs;
    size_t k;      /* cursor: the piece that holds msg offset kstart.. */
    size_t kstart; /* msg offset where piece k starts */
    vms_b2_seg one;
} b2_job;

static void b2_job_start(b2_job *j, const vms_b2_lane *ln, bool keyed)
{
    assert(ln->pre_len % VMS_B2_BLOCKBYTES == 0);
    assert(ln->pre_len == 0 || ln->pre != NULL);
    j->lane = ln;
    j->total = (keyed ? VMS_B2_BLOCKBYTES : 0) + ln->pre_len + ln->msg_len;
    j->nblocks = j->total == 0 ? 1
                               : (j->total + VMS_B2_BLOCKBYTES - 1) /
                                     VMS_B2_BLOCKBYTES;
    j->next = 0;
    j->k = j->kstart = 0;
    if (ln->segs != NULL) {
        j->segs = ln->segs;
        j->nsegs = ln->nsegs;
#ifndef NDEBUG
        size_t sum = 0;
        for (size_t i = 0; i < ln->nsegs; i++) {
            assert(ln->segs[i].len == 0 || ln->segs[i].p != NULL);
            sum += ln->segs[i].len;
        }
        assert(sum == ln->msg_len);
#endif
    } else {
        assert(ln->msg_len == 0 || ln->msg != NULL);
        j->one = (vms_b2_seg){ln->msg, ln->msg_len};
        j->segs = &j->one;
        j->nsegs = 1;
    }
}

/* Moves the cursor to the piece that holds msg offset off (< msg_len) and
 * returns how many bytes of that piece lie from off on. */
static size_t b2_job_seek(b2_job *j, size_t off)
{
    while (j->k < j->nsegs && off - j->kstart >= j->segs[j->k].len) {
        j->kstart += j->segs[j->k].len;
        j->k++;
    }
    assert(j->k < j->nsegs);
    return j->segs[j->k].len - (off - j->kstart);
}

/* Copies len bytes of msg from offset off (the cursor's piece holds off)
 * to dst, across pieces. */
static void b2_job_gather(const b2_job *j, size_t off, uint8_t *dst, size_t len)
{
    size_t k = j->k, at = off - j->kstart;
    while (len > 0) {
        assert(k < j->nsegs);
        size_t take = j->segs[k].len - at;
        take = take < len ? take : len;
        if (take > 0)
            memcpy(dst, j->segs[k].p + at, take);
        dst += take;
        len -= take;
        k++;
        at = 0;
    }
}

/* Pointer to block i of the job's message; a short (last) block, or one
 * that straddles two pieces, is copied into tmp (zero padded).  keyblk is
 * NULL when unkeyed. */
static const uint8_t *b2_job_block(b2_job *j, const uint8_t *keyblk,
                                   size_t i, uint8_t tmp[VMS_B2_BLOCKBYTES])
{
    const vms_b2_lane *ln = j->lane;
    if (keyblk != NULL) {
        if (i == 0)
            return keyblk;
        i--;
    }
    size_t off = i * VMS_B2_BLOCKBYTES;
    if (off < ln->pre_len)
        return ln->pre + off;
    off -= ln->pre_len;
    size_t rem = ln->msg_len - off; /* block i exists, so off <= msg_len */
    if (rem >= VMS_B2_BLOCKBYTES) {
        if (b2_job_seek(j, off) >= VMS_B2_BLOCKBYTES)
            return j->segs[j->k].p + (off - j->kstart);
        b2_job_gather(j, off, tmp, VMS_B2_BLOCKBYTES);
        return tmp;
    }
    /* A constant-size copy of zeros becomes a few vector stores, where a
     * memset of the variable tail would become a slow "rep stos". */
    memcpy(tmp, b2_zero_block, VMS_B2_BLOCKBYTES);
    if (rem > 0) {
        b2_job_seek(j, off);
        b2_job_gather(j, off, tmp, rem);
    }
    return tmp;
}

/* Counter and final flag for the job's block i. */
static uint64_t b2_job_counter(const b2_job *j, size_t i)
{
    return i + 1 == j->nblocks ? (uint64_t)j->total
                               : (uint64_t)(i + 1) * VMS_B2_BLOCKBYTES;
}
static uint64_t b2_job_flag(const b2_job *j, size_t i)
{
    return i + 1 == j->nblocks ? ~UINT64_C(0) : 0;
}

/* Where block i of the job's message goes in its lane's copy, or NULL if
 * that block is not copied (no copy, the key block, pre). */
static uint8_t *b2_job_copy_dst(const b2_job *j, bool keyed, size_t i)
{
    const vms_b2_lane *ln = j->lane;
    if (ln->copy == NULL || (keyed && i == 0))
        return NULL;
    size_t off = (i - (keyed ? 1 : 0)) * VMS_B2_BLOCKBYTES;
    if (off < ln->pre_len)
        return NULL;
    return ln->copy + (off - ln->pre_len);
}

/* The lane's copy (vms_b2_lane.copy) of block i's msg bytes, for the blocks
 * the SIMD runs do not take (the last one, one that straddles pieces, the
 * portable path).  Called right after the block was compressed
 * (b2_job_block has put the cursor on it), so it comes from the cache. */
static void b2_job_copy(b2_job *j, bool keyed, size_t i)
{
    uint8_t *dst = b2_job_copy_dst(j, keyed, i);
    if (dst == NULL)
        return;
    size_t off = (size_t)(dst - j->lane->copy);
    size_t len = j->lane->msg_len - off; /* block i exists, so off <= msg_len */
    if (len == 0)
        return; /* the empty message (msg may be NULL) */
    if (len > VMS_B2_BLOCKBYTES)
        len = VMS_B2_BLOCKBYTES;
    b2_job_seek(j, off);
    b2_job_gather(j, off, dst, len);
}

/* Compress the job's remaining blocks with scalar code and write its digest. */
static void b2_job_finish_scalar(b2_job *j, uint64_t h[8],
                                 const uint8_t *keyblk, size_t outlen)
{
    uint8_t tmp[VMS_B2_BLOCKBYTES];
    for (size_t i = j->next; i < j->nblocks; i++) {
        b2_compress(h, b2_job_block(j, keyblk, i, tmp),
                    b2_job_counter(j, i), 0, b2_job_flag(j, i));
        b2_job_copy(j, keyblk != NULL, i);
    }
    j->next = j->nblocks;
    b2_put_digest(j->lane->out, h, outlen);
}

static void b2_many_portable(const vms_b2_lane *lanes, size_t n,
                             size_t outlen, const uint8_t *keyblk,
                             uint64_t p0)
{
    for (size_t i = 0; i < n; i++) {
        b2_job j;
        uint64_t h[8];
        b2_job_start(&j, &lanes[i], keyblk != NULL);
        memcpy(h, b2_iv, sizeof h);
        h[0] = p0;
        b2_job_finish_scalar(&j, h, keyblk, outlen);
    }
}

#if VMS_B2_HAVE_X86
/* ---- SIMD lane scheduler ----------------------------------------------------
 * Lanes are taken in chunks of up to B2_CHUNK, longest message first.  Each
 * of the kernel's W slots holds one message; every step compresses one
 * block in every slot, and a slot whose message is done takes the next
 * message at once, so lanes of different lengths keep the vector full.
 * Idle slots hash a zero block and their result is ignored.  When only one
 * message is left it is finished with scalar code, which is faster than a
 * mostly idle vector. */
#define B2_CHUNK 256
#define B2_MAXW 8
typedef void b2_kernel_fn(uint64_t *h, const uint8_t *const *blk,
                          const uint64_t *t, const uint64_t *f);
typedef void b2_run_fn(uint64_t *h, const uint8_t *const *blk, size_t nblk,
                       const uint64_t *t);
typedef void b2_run_copy_fn(uint64_t *h, const uint8_t *const *blk,
                            uint8_t *const *dst, size_t nblk, const uint64_t *t);

typedef struct b2_simd {
    unsigned width;
    b2_kernel_fn *kernel;
    b2_run_fn *run;
    b2_run_copy_fn *run_copy;
} b2_simd;

static const b2_simd b2_simd_avx2 = {4, vms_b2_kernel_avx2, vms_b2_run_avx2,
                                     vms_b2_run_copy_avx2};
static const b2_simd b2_simd_avx512 = {8, vms_b2_kernel_avx512, vms_b2_run_avx512,
                                       vms_b2_run_copy_avx512};

/* How many blocks from the job's next one on are full, not final, and in
 * one piece (the key block, pre, a piece of msg): a run the kernel may take
 * in one call.  0 when the next block is the key block, the last one, or
 * straddles two pieces. */
static size_t b2_job_run(b2_job *j, bool keyed)
{
    size_t i = j->next;
    if (i + 1 >= j->nblocks || (keyed && i == 0))
        return 0;
    size_t left = j->nblocks - 1 - i; /* blocks before the last one */
    size_t off = (i - (keyed ? 1 : 0)) * VMS_B2_BLOCKBYTES;
    const vms_b2_lane *ln = j->lane;
    if (off < ln->pre_len) {
        size_t in_pre = (ln->pre_len - off) / VMS_B2_BLOCKBYTES;
        return in_pre < left ? in_pre : left;
    }
    /* in msg, where every block before the last is full */
    size_t in_seg = b2_job_seek(j, off - ln->pre_len) / VMS_B2_BLOCKBYTES;
    return in_seg < left ? in_seg : left;
}

/* Sorts idx[0..n) by key[idx[i]], largest first (Shell sort, gaps 3k+1). */
static void b2_sort_longest_first(uint16_t *idx, size_t n, const size_t *key)
{
    size_t gap = 1;
    while (gap < n / 3)
        gap = 3 * gap + 1;
    for (; gap > 0; gap /= 3) {
        for (size_t i = gap; i < n; i++) {
            uint16_t v = idx[i];
            size_t k = i;
            while (k >= gap && key[idx[k - gap]] < key[v]) {
                idx[k] = idx[k - gap];
                k -= gap;
            }
            idx[k] = v;
        }
    }
}

static void b2_many_simd(const b2_simd *simd, const vms_b2_lane *lanes,
                         size_t n, size_t outlen, const uint8_t *keyblk,
                         uint64_t p0)
{
    const unsigned w = simd->width;
    _Alignas(64) uint64_t h[8 * B2_MAXW];
    _Alignas(64) uint8_t tmp[B2_MAXW][VMS_B2_BLOCKBYTES];
    const uint8_t *blk[B2_MAXW];
    uint64_t t[B2_MAXW], f[B2_MAXW];
    b2_job job[B2_MAXW];
    bool busy[B2_MAXW];
    uint16_t order[B2_CHUNK];
    size_t len[B2_CHUNK];

    for (size_t base = 0; base < n; base += B2_CHUNK) {
        const vms_b2_lane *chunk = lanes + base;
        size_t cnt = n - base < B2_CHUNK ? n - base : B2_CHUNK;
        /* Longest first, so that short messages fill the gaps at the end;
         * not worth it when all lengths are within a block or two. */
        size_t lo = SIZE_MAX, hi = 0;
        for (size_t i = 0; i < cnt; i++) {
            order[i] = (uint16_t)i;
            len[i] = chunk[i].pre_len + chunk[i].msg_len;
            lo = len[i] < lo ? len[i] : lo;
            hi = len[i] > hi ? len[i] : hi;
        }
        if (cnt > w && hi - lo > 2 * VMS_B2_BLOCKBYTES)
            b2_sort_longest_first(order, cnt, len);

        size_t queued = 0;
        for (unsigned s = 0; s < w; s++)
            busy[s] = false;
        for (;;) {
            unsigned active = 0, last = 0;
            for (unsigned s = 0; s < w; s++) {
                if (!busy[s] && queued < cnt) {
                    b2_job_start(&job[s], &chunk[order[queued++]],
                                 keyblk != NULL);
                    h[s] = p0;
                    for (unsigned k = 1; k < 8; k++)
                        h[k * w + s] = b2_iv[k];
                    busy[s] = true;
                }
                if (busy[s]) {
                    active++;
                    last = s;
                }
            }
            if (active == 0)
                break;
            if (active == 1 && queued == cnt) {
                uint64_t hs[8];
                for (unsigned k = 0; k < 8; k++)
                    hs[k] = h[k * w + last];
                b2_job_finish_scalar(&job[last], hs, keyblk, outlen);
                break;
            }
            if (active == w) {
                /* Every slot busy: the longest run they all have is taken in
                 * one call, the chaining values kept in registers. */
                size_t run = SIZE_MAX;
                for (unsigned s = 0; s < w && run > 1; s++) {
                    size_t r = b2_job_run(&job[s], keyblk != NULL);
                    run = r < run ? r : run;
                }
                if (run > 1) {
                    /* A run's blocks lie in one piece of msg, so their
                     * copies are consecutive too; the kernel stores them. */
                    uint8_t *dst[B2_MAXW];
                    bool copying = false;
                    for (unsigned s = 0; s < w; s++) {
                        blk[s] = b2_job_block(&job[s], keyblk, job[s].next, tmp[s]);
                        t[s] = b2_job_counter(&job[s], job[s].next);
                        dst[s] = b2_job_copy_dst(&job[s], keyblk != NULL, job[s].next);
                        copying = copying || dst[s] != NULL;
                    }
                    if (copying)
                        simd->run_copy(h, blk, dst, run, t);
                    else
                        simd->run(h, blk, run, t);
                    for (unsigned s = 0; s < w; s++)
                        job[s].next += run;
                    continue;
                }
            }
            for (unsigned s = 0; s < w; s++) {
                if (busy[s]) {
                    size_t i = job[s].next;
                    blk[s] = b2_job_block(&job[s], keyblk, i, tmp[s]);
                    t[s] = b2_job_counter(&job[s], i);
                    f[s] = b2_job_flag(&job[s], i);
                } else {
                    blk[s] = b2_zero_block;
                    t[s] = 0;
                    f[s] = 0;
                }
            }
            simd->kernel(h, blk, t, f);
            for (unsigned s = 0; s < w; s++) {
                if (busy[s])
                    b2_job_copy(&job[s], keyblk != NULL, job[s].next);
                if (busy[s] && ++job[s].next == job[s].nblocks) {
                    uint64_t hs[8];
                    for (unsigned k = 0; k < 8; k++)
                        hs[k] = h[k * w + s];
                    b2_put_digest(job[s].lane->out, hs, outlen);
                    busy[s] = false;
                }
            }
        }
    }
}
#endif /* VMS_B2_HAVE_X86 */

/* ---- dispatch ---------------------------------------------------------------- */
/* Build knob for measurement: -DVMS_B2_CAP_PATH=1 caps the path at AVX2
 * (0: portable), so that one host can time the narrower paths
 * (doc/PERFORMANCE-HISTORY.md).  Not a meson option: releases never set it. */
#ifndef VMS_B2_CAP_PATH
#define VMS_B2_CAP_PATH 2
#endif

static vms_b2_path b2_cpu_path(void)
{
#if VMS_B2_HAVE_X86
    /* Reads libgcc's CPU model (which also checks that the OS saves the
     * ymm / zmm state); computed on every call, nothing is cached here. */
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") &&
        __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512bw"))
        return VMS_B2_PATH_AVX512;
    if (__builtin_cpu_supports("avx2"))
        return VMS_B2_PATH_AVX2;
#endif
    return VMS_B2_PATH_PORTABLE;
}

vms_b2_path vms_b2_best_path(void)
{
    vms_b2_path p = b2_cpu_path();
    return (unsigned)p > (unsigned)VMS_B2_CAP_PATH ? (vms_b2_path)VMS_B2_CAP_PATH : p;
}

const char *vms_b2_path_name(vms_b2_path p)
{
    switch (p) {
    case VMS_B2_PATH_PORTABLE:
        return "portable";
    case VMS_B2_PATH_AVX2:
        return "avx2";
    case VMS_B2_PATH_AVX512:
        return "avx512";
    }
    return "unknown";
}

size_t vms_b2_group_size(size_t n, size_t threads)
{
    if (n <= 4 || (n + 7) / 8 >= threads)
        return 8;
    size_t groups = (n + 3) / 4;
    if (groups > threads)
        groups = threads;
    return (n + groups - 1) / groups;
}

void vms_b2_many(const vms_b2_lane *lanes, size_t n, size_t outlen,
                 const uint8_t *key, size_t keylen, vms_b2_path max_path)
{
    assert(outlen >= 1 && outlen <= VMS_B2_OUTBYTES);
    assert(keylen <= VMS_B2_KEYBYTES && (keylen == 0 || key != NULL));
    if (n == 0)
        return;

    uint8_t keyblk[VMS_B2_BLOCKBYTES];
    const uint8_t *kb = NULL;
    if (keylen > 0) {
        memset(keyblk, 0, sizeof keyblk);
        memcpy(keyblk, key, keylen);
        kb = keyblk;
    }
    const uint64_t p0 = b2_param0(outlen, keylen);

    vms_b2_path path = vms_b2_best_path();
    if ((unsigned)max_path < (unsigned)path)
        path = max_path;
    /* One message gains nothing from lanes.  A kernel's time per block
     * step is the same however few of its lanes are busy, so up to four
     * messages go faster in the 4 lanes of AVX2 than in the 8 of AVX-512
     * (1 MiB messages, GB/s: two 1.2 against 0.86 in AVX-512 lanes and 0.87
     * portable; three 1.85 against 1.35; four 2.7 against 1.76;
     * doc/PERFORMANCE-HISTORY.md, "Narrow batches"). */
    if (n == 1)
        path = VMS_B2_PATH_PORTABLE;
    else if (n <= 4 && path == VMS_B2_PATH_AVX512)
        path = VMS_B2_PATH_AVX2;

#if VMS_B2_HAVE_X86
    if (path == VMS_B2_PATH_AVX512)
        b2_many_simd(&b2_simd_avx512, lanes, n, outlen, kb, p0);
    else if (path == VMS_B2_PATH_AVX2)
        b2_many_simd(&b2_simd_avx2, lanes, n, outlen, kb, p0);
    else
#endif
        b2_many_portable(lanes, n, outlen, kb, p0);

    if (kb != NULL)
        memset(keyblk, 0, sizeof keyblk);
}
