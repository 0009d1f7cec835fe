/* internal.h - private declarations shared by the library's sources. */
#ifndef VMS_INTERNAL_H
#define VMS_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vmstream.h"
#include "wire.h"

#define VMS_INTERNAL __attribute__((visibility("hidden")))

/* ---- allocation (alloc.c) --------------------------------------------- */
/* A resolved allocator: never has NULL members. */
typedef struct vms_mem {
    void *(*alloc)(void *opaque, size_t size);
    void (*free)(void *opaque, void *ptr);
    void *opaque;
} vms_mem;

VMS_INTERNAL void vms_mem_init(vms_mem *m, const vms_allocator *a);
VMS_INTERNAL void *vms_malloc(const vms_mem *m, size_t n);
VMS_INTERNAL void *vms_calloc(const vms_mem *m, size_t n);
VMS_INTERNAL void vms_free(const vms_mem *m, void *p);

/* ---- error detail (error.c) ------------------------------------------- */
#define VMS_MSG_MAX 1400 /* room for a full compatibility reason */
typedef struct vms_err {
    vms_error_info info;
    char msg[VMS_MSG_MAX];
} vms_err;

VMS_INTERNAL void vms_err_clear(vms_err *e);
/* Records the error (only the first one sticks) and returns code. */
VMS_INTERNAL int vms_err_set(vms_err *e, int code, uint64_t offset,
                             uint64_t record, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* ---- little-endian codec (header.c) ------------------------------------ */
static inline uint16_t vms_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (uint16_t)p[1] << 8);
}
static inline uint32_t vms_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}
static inline uint64_t vms_le64(const uint8_t *p)
{
    return (uint64_t)vms_le32(p) | (uint64_t)vms_le32(p + 4) << 32;
}
static inline void vms_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void vms_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void vms_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline bool vms_all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}
static inline uint64_t vms_pad8(uint64_t n) { return (n + 7u) & ~(uint64_t)7u; }

/* ---- random (random.c) ------------------------------------------------ */
VMS_INTERNAL int vms_random_bytes(uint8_t *out, size_t n);

/* ---- limits (limits.c) ------------------------------------------------ */
struct vms_limits {
    vms_mem mem;
    uint64_t v[VMS_LIMIT_COUNT];
};
VMS_INTERNAL void vms_limits_defaults(uint64_t v[VMS_LIMIT_COUNT]);

#endif

/* ---- checksums (checksum.c: the only file that includes libb2) --------- */
#define VMS_KEY_MAX 64
VMS_INTERNAL void vms_digest_header(uint8_t out[VMS_DIGEST_BYTES],
                                    const uint8_t *hdr, size_t len,
                                    const uint8_t *key, size_t keylen);
VMS_INTERNAL void vms_digest_record(uint8_t out[VMS_DIGEST_BYTES],
                                    const uint8_t prefix[128],
                                    const uint8_t *payload, size_t len,
                                    const uint8_t *key, size_t keylen);
/* Same, over the payload given as two consecutive parts a || b. */
VMS_INTERNAL void vms_digest_record2(uint8_t out[VMS_DIGEST_BYTES],
                                     const uint8_t prefix[128], const uint8_t *a,
                                     size_t alen, const uint8_t *b, size_t blen,
                                     const uint8_t *key, size_t keylen);
VMS_INTERNAL void vms_chain_step(uint8_t chain[VMS_DIGEST_BYTES],
                                 const uint8_t rec[VMS_DIGEST_BYTES]);
/* Constant-time comparison of two digests.  In a fuzzing build
 * (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION) it always succeeds, so fuzzers
 * reach past the checksums; that is the only checksum bypass. */
VMS_INTERNAL bool vms_digest_equal(const uint8_t *a, const uint8_t *b, size_t n);
VMS_INTERNAL void vms_make_prefix(uint8_t prefix[128],
                                  const uint8_t stream_id[VMS_STREAM_ID_BYTES],
                                  const uint8_t header_digest[VMS_DIGEST_BYTES],
                                  const uint8_t rechdr[40]);
/* Keyed BLAKE2b through libb2 (argument order wrapped once, here). */
VMS_INTERNAL int vms_blake2b_keyed(uint8_t *out, size_t outlen, const void *in,
                                   size_t inlen, const uint8_t *key, size_t keylen);

/* ---- compression (compress.c: the only file that includes zlib/zstd) --- */
typedef struct vms_codec_ctx vms_codec_ctx;
VMS_INTERNAL int vms_codec_new(vms_codec_ctx **out, const vms_mem *mem,
                               vms_codec codec, int level, bool compress);
VMS_INTERNAL void vms_codec_free(vms_codec_ctx *c);
VMS_INTERNAL bool vms_codec_available(vms_codec codec);
VMS_INTERNAL size_t vms_codec_bound(vms_codec codec, size_t len);
/* Compresses in into out (cap bytes).  Returns 1 and sets *outlen when the
 * result is shorter than len, 0 when it would not shrink (store raw), <0 on
 * error. */
VMS_INTERNAL int vms_codec_compress(vms_codec_ctx *c, const uint8_t *in, size_t len,
                                    uint8_t *out, size_t cap, size_t *outlen);
/* Decompresses exactly: in must decode to exactly outlen bytes with no
 * trailing input.  Returns 0, VMS_E_NOMEM, or -1 on any violation (with a
 * short reason in *why). */
VMS_INTERNAL int vms_codec_decompress(vms_codec_ctx *c, const uint8_t *in, size_t inlen,
                                      uint8_t *out, size_t outlen, const char **why);

/* ---- header (header.c) ------------------------------------------------- */
#define VMS_HEADER_EXT_MAX 4096 /* extension area allowed for minor > 0 */
VMS_INTERNAL size_t vms_header_size(uint32_t blob_len);
/* Serialises a header (blob copied in) into buf (vms_header_size bytes) and
 * stores its digest in h->header_digest. */
VMS_INTERNAL void vms_header_write(uint8_t *buf, vms_header_info *h,
                                   const uint8_t *blob, const uint8_t *key,
                                   size_t keylen);
/* Validates the 64-byte fixed part against lim; fills h (no blob yet). */
VMS_INTERNAL int vms_header_check_fixed(const uint8_t *p, vms_header_info *h,
                                        const uint64_t lim[VMS_LIMIT_COUNT],
                                        vms_err *e);
/* Validates the whole header (hlen bytes) after its fixed part: padding,
 * extension, checksum/MAC.  Sets h->version_blob and h->header_digest. */
VMS_INTERNAL int vms_header_check_rest(const uint8_t *hdr, vms_header_info *h,
                                       const uint8_t *key, size_t keylen,
                                       vms_err *e);
/* Checks the first n (<= 8) bytes against the magic. */
VMS_INTERNAL int vms_header_check_magic(const uint8_t *p, size_t n, vms_err *e);

/* ---- decoder internals exposed to tests and the benchmark --------------- */
/* Peak bytes held by a decoder's buffers and codec state. */
VMS_INTERNAL uint64_t vms_decoder_peak_memory(const vms_decoder *d);

/* ---- authentication (auth.c: the only file that includes OpenSSL) ------- */
#define VMS_ED25519_SIG_BYTES 64
VMS_INTERNAL bool vms_have_ed25519(void);
VMS_INTERNAL void vms_sig_message(uint8_t msg[VMS_SIG_MSG_BYTES], uint8_t kind,
                                  const vms_header_info *h, uint64_t seq,
                                  uint64_t records, uint64_t raw_bytes,
                                  uint64_t stream_bytes,
                                  const uint8_t chain[VMS_DIGEST_BYTES]);
VMS_INTERNAL int vms_ed25519_sign_raw(const uint8_t priv[32], const uint8_t *msg,
                                      size_t len, uint8_t sig[VMS_ED25519_SIG_BYTES]);
/* VMS_OK only when OpenSSL's verify returned exactly 1. */
VMS_INTERNAL int vms_ed25519_verify_raw(const uint8_t pub[32], const uint8_t *msg,
                                        size_t len,
                                        const uint8_t sig[VMS_ED25519_SIG_BYTES]);

/* ---- worker pool (pool.c) ------------------------------------------------ */
typedef struct vms_pool vms_pool;
/* A pool with `workers` extra threads (the caller's thread also works). */
VMS_INTERNAL int vms_pool_new(vms_pool **out, const vms_mem *mem, unsigned workers);
VMS_INTERNAL void vms_pool_free(vms_pool *p);
/* Runs fn(ctx, i) for every i in [0, n) and returns when all are done.  A
 * NULL pool runs them on the calling thread. */
VMS_INTERNAL void vms_pool_run(vms_pool *p, void (*fn)(void *ctx, size_t i),
                               void *ctx, size_t n);
/* Starts a job and returns at once: fn(ctx, i) for i in [0, n) on the
 * workers, then mid(ctx) once (if not NULL; on whichever thread ended the
 * first phase, under the pool's lock, so it must be short), then fn2(ctx, i)
 * for i in [0, n2).  The caller may do other work, then must call
 * vms_pool_wait (which also runs tasks) before the next start or run.  A
 * NULL pool runs the whole job inside vms_pool_start. */
VMS_INTERNAL void vms_pool_start(vms_pool *p, void (*fn)(void *ctx, size_t i), void *ctx,
                                 size_t n, void (*mid)(void *ctx),
                                 void (*fn2)(void *ctx, size_t i), size_t n2);
VMS_INTERNAL void vms_pool_wait(vms_pool *p);
