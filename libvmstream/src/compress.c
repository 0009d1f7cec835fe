/* compress.c - per-record codecs with exact, bounded decompression (the only
 * file that includes zlib and zstd). */
#include <limits.h>
#include <zlib.h>
#ifdef VMS_HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem */
#include <zstd.h>
#include <zstd_errors.h>
#endif

#include "internal.h"

struct vms_codec_ctx {
    vms_mem mem;
    vms_codec codec;
    int level;
    bool compress;
    bool z_ready;
    z_stream z;
#ifdef VMS_HAVE_ZSTD
    ZSTD_CCtx *zc;
    ZSTD_DCtx *zd;
#endif
};

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    const vms_mem *m = opaque;
    if (size && items > SIZE_MAX / size)
        return Z_NULL;
    return vms_malloc(m, (size_t)items * size);
}

static void z_free(voidpf opaque, voidpf p)
{
    vms_free(opaque, p);
}

#ifdef VMS_HAVE_ZSTD
static void *zs_alloc(void *opaque, size_t size)
{
    return vms_malloc(opaque, size);
}
static void zs_free(void *opaque, void *p)
{
    vms_free(opaque, p);
}
#endif

bool vms_codec_available(vms_codec codec)
{
    switch (codec) {
    case VMS_CODEC_NONE:
    case VMS_CODEC_ZLIB:
        return true;
    case VMS_CODEC_ZSTD:
#ifdef VMS_HAVE_ZSTD
        return true;
#else
        return false;
#endif
    }
    return false;
}

size_t vms_codec_bound(vms_codec codec, size_t len)
{
    switch (codec) {
    case VMS_CODEC_NONE:
        return len;
    case VMS_CODEC_ZLIB:
        return (size_t)compressBound((uLong)len);
    case VMS_CODEC_ZSTD:
#ifdef VMS_HAVE_ZSTD
        return ZSTD_compressBound(len);
#else
        return len;
#endif
    }
    return len;
}

int vms_codec_new(vms_codec_ctx **out, const vms_mem *mem, vms_codec codec,
                  int level, bool compress)
{
    *out = NULL;
    if (!vms_codec_available(codec))
        return VMS_E_UNSUPPORTED;
    vms_codec_ctx *c = vms_calloc(mem, sizeof *c);
    if (!c)
        return VMS_E_NOMEM;
    c->mem = *mem;
    c->codec = codec;
    c->compress = compress;
    int rc = VMS_OK;
    switch (codec) {
    case VMS_CODEC_NONE:
        break;
    case VMS_CODEC_ZLIB:
        c->level = level ? level : 1;
        if (c->level < 1 || c->level > 9) {
            rc = VMS_E_INVALID_ARG;
            break;
        }
        c->z.zalloc = z_alloc;
        c->z.zfree = z_free;
        c->z.opaque = &c->mem;
        if (compress)
            rc = deflateInit(&c->z, c->level) == Z_OK ? VMS_OK : VMS_E_NOMEM;
        else
            rc = inflateInit(&c->z) == Z_OK ? VMS_OK : VMS_E_NOMEM;
        c->z_ready = rc == VMS_OK;
        break;
    case VMS_CODEC_ZSTD:
#ifdef VMS_HAVE_ZSTD
    {
        ZSTD_customMem cm = {zs_alloc, zs_free, &c->mem};
        c->level = level ? level : 1;
        if (c->level < ZSTD_minCLevel() || c->level > ZSTD_maxCLevel()) {
            rc = VMS_E_INVALID_ARG;
            break;
        }
        if (compress) {
            c->zc = ZSTD_createCCtx_advanced(cm);
            if (!c->zc ||
                ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_compressionLevel, c->level)) ||
                ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_checksumFlag, 0)) ||
                ZSTD_isError(ZSTD_CCtx_setParameter(c->zc, ZSTD_c_contentSizeFlag, 1)))
                rc = VMS_E_NOMEM;
        } else {
            c->zd = ZSTD_createDCtx_advanced(cm);
            if (!c->zd)
                rc = VMS_E_NOMEM;
        }
    }
#endif
        break;
    }
    if (rc != VMS_OK) {
        vms_codec_free(c);
        return rc;
    }
    *out = c;
    return VMS_OK;
}

void vms_codec_free(vms_codec_ctx *c)
{
    if (!c)
        return;
    if (c->z_ready) {
        if (c->compress)
            deflateEnd(&c->z);
        else
            inflateEnd(&c->z);
    }
#ifdef VMS_HAVE_ZSTD
    ZSTD_freeCCtx(c->zc);
    ZSTD_freeDCtx(c->zd);
#endif
    vms_mem m = c->mem;
    vms_free(&m, c);
}

int vms_codec_compress(vms_codec_ctx *c, const uint8_t *in, size_t len,
                       uint8_t *out, size_t cap, size_t *outlen)
{
    *outlen = 0;
    if (len < 2 || len > UINT_MAX || cap > UINT_MAX)
        return 0;
    /* Only an output shorter than the input is useful: cap it at len - 1 so
     * the codec stops early on incompressible data. */
    size_t lim = cap < len - 1 ? cap : len - 1;
    switch (c->codec) {
    case VMS_CODEC_NONE:
        return 0;
    case VMS_CODEC_ZLIB: {
        if (deflateReset(&c->z) != Z_OK)
            return VMS_E_INTERNAL;
        c->z.next_in = (Bytef *)(uintptr_t)in;
        c->z.avail_in = (uInt)len;
        c->z.next_out = out;
        c->z.avail_out = (uInt)lim;
        int zr = deflate(&c->z, Z_FINISH);
        if (zr == Z_STREAM_END) {
            *outlen = lim - c->z.avail_out;
            return 1;
        }
        if (zr == Z_OK || zr == Z_BUF_ERROR)
            return 0; /* did not fit in len - 1 bytes: store raw */
        return VMS_E_INTERNAL;
    }
    case VMS_CODEC_ZSTD:
#ifdef VMS_HAVE_ZSTD
    {
        size_t r = ZSTD_compress2(c->zc, out, lim, in, len);
        if (ZSTD_isError(r)) {
            if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
                return 0;
            if (ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation)
                return VMS_E_NOMEM;
            return VMS_E_INTERNAL;
        }
        *outlen = r;
        return 1;
    }
#else
        return VMS_E_UNSUPPORTED;
#endif
    }
    return VMS_E_INTERNAL;
}

int vms_codec_decompress(vms_codec_ctx *c, const uint8_t *in, size_t inlen,
                         uint8_t *out, size_t outlen, const char **why)
{
    *why = "";
    if (inlen > UINT_MAX || outlen > UINT_MAX) {
        *why = "length beyond codec range";
        return -1;
    }
    switch (c->codec) {
    case VMS_CODEC_NONE:
        *why = "stream declares no codec";
        return -1;
    case VMS_CODEC_ZLIB: {
        if (inflateReset(&c->z) != Z_OK) {
            *why = "inflate reset failed";
            return -1;
        }
        c->z.next_in = (Bytef *)(uintptr_t)in;
        c->z.avail_in = (uInt)inlen;
        c->z.next_out = out;
        c->z.avail_out = (uInt)outlen;
        /* The output buffer is exactly the declared size: inflate can never
         * write past it, whatever the input claims. */
        int zr = inflate(&c->z, Z_FINISH);
        if (zr == Z_MEM_ERROR) {
            *why = "out of memory";
            return VMS_E_NOMEM;
        }
        if (zr == Z_NEED_DICT) {
            *why = "zlib data asks for a preset dictionary";
            return -1;
        }
        if (zr == Z_DATA_ERROR) {
            *why = "invalid zlib data";
            return -1;
        }
        if (zr != Z_STREAM_END) {
            *why = c->z.avail_out == 0 ? "data decompresses to more than the declared length"
                                       : "zlib data ends early";
            return -1;
        }
        if (c->z.avail_out != 0) {
            *why = "data decompresses to less than the declared length";
            return -1;
        }
        if (c->z.avail_in != 0) {
            *why = "bytes follow the end of the zlib data";
            return -1;
        }
        return 0;
    }
    case VMS_CODEC_ZSTD:
#ifdef VMS_HAVE_ZSTD
    {
        /* Exactly one frame, covering the whole payload. */
        size_t fsz = ZSTD_findFrameCompressedSize(in, inlen);
        if (ZSTD_isError(fsz)) {
            *why = "invalid zstd frame";
            return -1;
        }
        if (fsz != inlen) {
            *why = "bytes follow the end of the zstd frame";
            return -1;
        }
        unsigned long long cs = ZSTD_getFrameContentSize(in, inlen);
        if (cs != (unsigned long long)outlen) {
            *why = "zstd frame content size differs from the declared length";
            return -1;
        }
        /* Single-shot into the exact buffer: zstd uses it as its window and
         * fails with dstSize_tooSmall rather than write past it. */
        size_t r = ZSTD_decompressDCtx(c->zd, out, outlen, in, inlen);
        if (ZSTD_isError(r) && ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation) {
            *why = "out of memory";
            return VMS_E_NOMEM;
        }
        if (ZSTD_isError(r)) {
            *why = "invalid zstd data";
            return -1;
        }
        if (r != outlen) {
            *why = "data decompresses to less than the declared length";
            return -1;
        }
        return 0;
    }
#else
        *why = "zstd support not built";
        return -1;
#endif
    }
    *why = "unknown codec";
    return -1;
}
