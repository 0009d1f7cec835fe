/* b2many.h - multi-message BLAKE2b (RFC 7693) for record checksums.
 *
 * vms_b2_many() hashes several independent messages at once, one message
 * per SIMD lane (4 per ymm register with AVX2, 8 per zmm register with
 * AVX-512), and produces digests byte-identical to plain BLAKE2b.  Each
 * message is the concatenation pre || msg, so a record's 128-byte prefix
 * block and its payload need not be copied together; msg itself may be a
 * list of segments (vms_b2_seg), so that a page-mapped record's literal
 * pages are hashed where they lie instead of being gathered first.
 *
 * vms_b2_init/update/final is a plain incremental scalar BLAKE2b for the
 * chain digest and other small or streamed inputs.
 *
 * Nothing here keeps global mutable state: the SIMD path is chosen on every
 * call from what the CPU reports. */
#ifndef VMS_B2MANY_H
#define VMS_B2MANY_H

#include "internal.h"

#define VMS_B2_BLOCKBYTES 128
#define VMS_B2_OUTBYTES 64
#define VMS_B2_KEYBYTES 64

/* One piece of a message: len bytes at p (p may be NULL if len is 0). */
typedef struct vms_b2_seg {
    const uint8_t *p;
    size_t len;
} vms_b2_seg;

typedef struct vms_b2_lane {
    const uint8_t *pre;  size_t pre_len;  /* first segment; pre_len is 0 or a multiple of 128 */
    const uint8_t *msg;  size_t msg_len;  /* second segment, any length (msg may be NULL if 0) */
    uint8_t *out;                          /* outlen bytes written here */
    uint8_t *copy; /* NULL, or msg_len bytes: msg is also copied here, in
                    * the SIMD paths from the registers the hash loads */
    /* NULL, or nsegs pieces whose concatenation is msg: then msg is
     * ignored, msg_len must be the pieces' total, and pieces of any length
     * (0 included) and alignment may follow each other.  A block that
     * straddles pieces is put together in a 128-byte buffer; the others are
     * hashed in place, in runs as long as their piece. */
    const vms_b2_seg *segs;
    size_t nsegs;
} vms_b2_lane;

typedef enum {
    VMS_B2_PATH_PORTABLE = 0,
    VMS_B2_PATH_AVX2 = 1,
    VMS_B2_PATH_AVX512 = 2
} vms_b2_path;

/* Hash n independent messages (each = pre || msg) with BLAKE2b, outlen 1..64,
 * optional key (keylen 0..64, NULL if 0). Any n >= 0, any mixture of lengths.
 * Uses the best path the CPU supports, capped at max_path.
 * An out or copy buffer must not overlap any lane's input, out or copy.
 * Copying costs little next to a separate memcpy of the messages: the SIMD
 * kernels store each block they load, so a message is read once and the
 * stores drain while the rounds run. */
VMS_INTERNAL void vms_b2_many(const vms_b2_lane *lanes, size_t n, size_t outlen,
                              const uint8_t *key, size_t keylen,
                              vms_b2_path max_path);
/* Messages per vms_b2_many call when n large messages are hashed on
 * threads threads, one call per thread at a time: 8, except that a batch
 * too short to give every thread 8 goes out in groups of up to 4 (which
 * vms_b2_many hashes in the faster-per-step AVX2 lanes), spread over the
 * threads.  For messages worth waking a thread for (callers decide). */
VMS_INTERNAL size_t vms_b2_group_size(size_t n, size_t threads);
/* What the CPU (and OS) supports. */
VMS_INTERNAL vms_b2_path vms_b2_best_path(void);
/* "portable", "avx2", "avx512" ("unknown" for anything else). */
VMS_INTERNAL const char *vms_b2_path_name(vms_b2_path p);

/* A single-message incremental scalar BLAKE2b (for chain digests and small
 * inputs).  outlen 1..64, keylen 0..64 (key NULL if 0). */
typedef struct vms_b2_state {
    uint64_t h[8], t[2];
    uint8_t buf[128];
    size_t buflen;
    size_t outlen;
} vms_b2_state;

VMS_INTERNAL void vms_b2_init(vms_b2_state *s, size_t outlen,
                              const uint8_t *key, size_t keylen);
VMS_INTERNAL void vms_b2_update(vms_b2_state *s, const void *in, size_t len);
VMS_INTERNAL void vms_b2_final(vms_b2_state *s, uint8_t *out);

/* ---- private to b2many*.c ---------------------------------------------- */
/* The SIMD kernels compress one block for each of W lanes (W = 4 for AVX2,
 * 8 for AVX-512).  h holds the chaining values transposed: word k of lane j
 * is h[k * W + j].  blk[j] points at lane j's 128-byte block (any
 * alignment), t[j] is its byte counter after this block, f[j] is 0 or
 * ~0 (last block).  Call them only when the CPU supports the extension. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define VMS_B2_HAVE_X86 1
VMS_INTERNAL void vms_b2_kernel_avx2(uint64_t h[8 * 4],
                                     const uint8_t *const blk[4],
                                     const uint64_t t[4], const uint64_t f[4]);
VMS_INTERNAL void vms_b2_kernel_avx512(uint64_t h[8 * 8],
                                       const uint8_t *const blk[8],
                                       const uint64_t t[8], const uint64_t f[8]);
/* The runs: nblk consecutive full, non-final blocks of every lane at once,
 * blk[j] + 128 * i with counter t[j] + 128 * i; the chaining values stay in
 * registers between blocks. */
VMS_INTERNAL void vms_b2_run_avx2(uint64_t h[8 * 4], const uint8_t *const blk[4],
                                  size_t nblk, const uint64_t t[4]);
VMS_INTERNAL void vms_b2_run_avx512(uint64_t h[8 * 8], const uint8_t *const blk[8],
                                    size_t nblk, const uint64_t t[8]);
/* The runs, and block i of lane j is also stored at dst[j] + 128 * i
 * (nothing stored for a lane whose dst[j] is NULL). */
VMS_INTERNAL void vms_b2_run_copy_avx2(uint64_t h[8 * 4], const uint8_t *const blk[4],
                                       uint8_t *const dst[4], size_t nblk,
                                       const uint64_t t[4]);
VMS_INTERNAL void vms_b2_run_copy_avx512(uint64_t h[8 * 8], const uint8_t *const blk[8],
                                         uint8_t *const dst[8], size_t nblk,
                                         const uint64_t t[8]);
#else
#define VMS_B2_HAVE_X86 0
#endif

#endif
