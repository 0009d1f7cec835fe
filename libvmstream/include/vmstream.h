/*
 * vmstream.h - libvmstream public API
 *
 * libvmstream frames device state for VFIO / mdev live migration into a
 * self-validating stream (see doc/FORMAT.md), and decodes such streams with a
 * hardened push decoder that delivers no byte of state to the caller before
 * the record holding it has been bounds-checked and its checksum (or MAC)
 * verified.
 *
 * CONVENTIONS (apply to every function below unless its comment says
 * otherwise)
 *
 *  - Every public name starts with vms_ (functions, types) or VMS_ (macros,
 *    enum constants).  Nothing else is exported from the shared library.
 *  - Pointers MUST NOT be NULL, except: a byte pointer paired with a length of
 *    0, an optional vms_allocator (NULL = malloc/free), and vms_*_free(NULL),
 *    which does nothing.
 *  - Functions return a vms_status: 0 (VMS_OK) on success, a positive value
 *    for a normal event, a negative value for an error.  Error values are
 *    stable: they are never renumbered and new ones only fill unused values.
 *    vms_strerror() names them; vms_error_category_of() groups them.
 *  - Objects are caller-owned contexts.  The library keeps no global mutable
 *    state.  Different objects may be used from different threads at the
 *    same time; one object MUST NOT be used by two threads at once.  The
 *    constant functions (vms_strerror, vms_version, ...) are thread-safe.
 *  - The library never prints, never calls exit() or abort(), and allocates
 *    only through the vms_allocator given at creation.
 *  - Pointers handed to a callback are valid only for the duration of that
 *    callback.
 *  - Thread safety.  Each function's comment ends with its errors and one
 *    of these notes: "Thread-safe" (any thread, any time: the function
 *    touches no object, or only constant data); "Per object" (calls on one
 *    object must not overlap; different objects may be used in parallel);
 *    "Read-only" (does not modify the object: may run in parallel with
 *    other read-only calls on the same object, never with one that
 *    modifies it).  Callbacks (the sink, the decoder callbacks) run on the
 *    thread that called the library function invoking them, never on a
 *    library worker thread.
 *  - Ownership.  What a function takes is copied unless its comment says
 *    otherwise; pointers it returns are owned by the object they came from
 *    and stay valid as its comment says.
 */
#ifndef VMSTREAM_H
#define VMSTREAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VMS_BUILDING_LIBRARY) && defined(__GNUC__)
#define VMS_API __attribute__((visibility("default")))
#else
#define VMS_API
#endif

/* ------------------------------------------------------------------------ */
/* Versions                                                                  */
/* ------------------------------------------------------------------------ */

#define VMS_VERSION_MAJOR 0 /* library version: major (ABI: soname libvmstream.so.0) */
#define VMS_VERSION_MINOR 1 /* library version: minor (new API, compatible) */
#define VMS_VERSION_PATCH 0 /* library version: patch (fixes only) */
#define VMS_VERSION_STRING "0.1.0" /* library version of these headers, as a string */
#define VMS_VERSION_NUMBER \
    (VMS_VERSION_MAJOR * 10000 + VMS_VERSION_MINOR * 100 + VMS_VERSION_PATCH) /* e.g. 100 for 0.1.0 */

/** Wire-format version written by this library (doc/FORMAT.md).  A decoder
 * accepts any minor of the same major. */
#define VMS_FORMAT_MAJOR 1
#define VMS_FORMAT_MINOR 0 /* wire-format minor version written (doc/FORMAT.md, section 11) */

/** The library's version string, e.g. "0.1.0".  Thread-safe, never NULL.
 * The string is static: do not free it.  Compare with VMS_VERSION_STRING to
 * detect a header/library mismatch. */
VMS_API const char *vms_version(void);
/** VMS_VERSION_NUMBER of the library actually linked.  Cannot fail.
 * Thread-safe. */
VMS_API unsigned vms_version_number(void);

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */

/** Result of every fallible function: 0 success, > 0 a normal event, < 0 an
 * error.  Values are stable (never renumbered) and grouped by range; the
 * ranges are the categories of vms_error_category_of(). */
typedef enum vms_status {
    VMS_OK = 0,              /* success */
    /* Positive: normal events. */
    VMS_END = 1,             /* the END record was verified: stream complete */

    /* -1 .. -19: usage and resources */
    VMS_E_INVALID_ARG = -1,  /* a NULL pointer or out-of-range argument */
    VMS_E_STATE = -2,        /* call not allowed in the object's state */
    VMS_E_NOMEM = -3,        /* the allocator returned NULL */
    VMS_E_IO = -4,           /* the sink callback or an fd reported failure */
    VMS_E_CALLBACK = -5,     /* a caller callback asked to stop */
    VMS_E_UNSUPPORTED = -6,  /* feature not built in (e.g. zstd, OpenSSL) */
    VMS_E_INTERNAL = -7,     /* a library bug; please report it */

    /* -100 .. -149: malformed stream */
    VMS_E_BAD_MAGIC = -100,          /* not a vmstream, or text-mode damage */
    VMS_E_UNSUPPORTED_VERSION = -101,/* format major not understood */
    VMS_E_BAD_HEADER = -102,         /* header length or a header field bad */
    VMS_E_UNKNOWN_FEATURE = -103,    /* unknown required feature flag */
    VMS_E_UNKNOWN_ALGORITHM = -104,  /* unknown checksum/codec/auth id */
    VMS_E_BAD_VENDOR_ID = -105,      /* vendor id in the reserved space */
    VMS_E_NONZERO_PADDING = -106,    /* a reserved or padding byte not zero */
    VMS_E_UNKNOWN_RECORD = -107,     /* unknown mandatory record type */
    VMS_E_BAD_RECORD_FLAGS = -108,   /* unknown or contradictory flags */
    VMS_E_BAD_LENGTH = -109,         /* a length field inconsistent */
    VMS_E_BAD_SEQUENCE = -110,       /* sequence number not previous + 1 */
    VMS_E_BAD_PHASE = -111,          /* phase went backwards */
    VMS_E_BAD_OFFSET = -112,         /* section offset + length overflows */
    VMS_E_BAD_COMPRESSION = -113,    /* compressed payload invalid or wrong size */
    VMS_E_BAD_END = -114,            /* END record totals do not match */
    VMS_E_TRAILING_DATA = -115,      /* bytes after the END record */
    VMS_E_TRUNCATED = -116,          /* input ended before the END record */
    VMS_E_BAD_DESCRIPTOR = -117,     /* device-version blob not a valid descriptor */

    /* -150 .. -169: integrity */
    VMS_E_HEADER_CHECKSUM = -150,    /* header checksum mismatch */
    VMS_E_RECORD_CHECKSUM = -151,    /* record checksum mismatch */
    VMS_E_CHAIN_MISMATCH = -152,     /* END chain digest mismatch */

    /* -170 .. -189: a configured limit was exceeded */
    VMS_E_LIMIT_RECORD = -170,       /* record larger than the record limit */
    VMS_E_LIMIT_TOTAL = -171,        /* stream larger than the total limit */
    VMS_E_LIMIT_RECORDS = -172,      /* more records than the record-count limit */
    VMS_E_LIMIT_BLOB = -173,         /* device-version blob larger than its limit */
    VMS_E_LIMIT_HEADER = -174,       /* header larger than its limit */
    VMS_E_LIMIT_BUFFERED = -175,     /* state awaiting a signature exceeds the
                                        buffer limit (checkpoints too sparse) */

    /* -190 .. -219: policy, compatibility and authenticity */
    VMS_E_INCOMPATIBLE = -190,       /* the stream's device is not acceptable */
    VMS_E_AUTH_REQUIRED = -191,      /* policy needs a stronger auth mode */
    VMS_E_MAC_MISMATCH = -192,       /* MAC verification failed */
    VMS_E_BAD_SIGNATURE = -193,      /* signature verification failed */
    VMS_E_UNKNOWN_KEY = -194,        /* key id not accepted by the caller */
    VMS_E_BAD_KEY = -195,            /* a key could not be loaded or used */
    VMS_E_POLICY = -196              /* another caller policy refused the stream */
} vms_status;

/** Category of a status (vms_error_category_of()): what kind of failure it
 * is, for callers that branch on the kind rather than the exact code. */
typedef enum vms_error_category {
    VMS_CAT_NONE = 0,      /* not an error */
    VMS_CAT_USAGE = 1,     /* caller error or resource failure */
    VMS_CAT_FORMAT = 2,    /* malformed or unsupported stream */
    VMS_CAT_INTEGRITY = 3, /* corrupted stream */
    VMS_CAT_LIMIT = 4,     /* stream exceeds the caller's limits */
    VMS_CAT_POLICY = 5     /* authenticity, compatibility or policy refusal */
} vms_error_category;

/** Optional parts this library was built with (vms_features()). */
#define VMS_FEATURE_ZSTD 0x1u    /**< the zstd codec */
#define VMS_FEATURE_ED25519 0x2u /**< Ed25519 signatures (OpenSSL 3) */
/** A mask of VMS_FEATURE_* bits.  Cannot fail.  Thread-safe. */
VMS_API unsigned vms_features(void);

/** Short constant name of a status, e.g. "VMS_E_BAD_MAGIC".  Never NULL:
 * an unknown value gives "VMS_E_UNKNOWN_STATUS".  The string is static.
 * Thread-safe. */
VMS_API const char *vms_strerror(int status);
/** Category of a status: VMS_CAT_NONE for status >= 0, otherwise by range
 * (-1..-99 usage, -100..-149 format, -150..-169 integrity, -170..-189 limit,
 * -190 and below policy).  Cannot fail.  Thread-safe. */
VMS_API vms_error_category vms_error_category_of(int status);
/** Non-zero when status is an error (< 0).  Thread-safe. */
VMS_API int vms_is_error(int status);

/* ------------------------------------------------------------------------ */
/* Allocator                                                                 */
/* ------------------------------------------------------------------------ */

/** alloc returns NULL on failure; free accepts NULL.  Both receive opaque.
 * The allocator must stay valid for the lifetime of every object made with
 * it.  Pass NULL wherever a const vms_allocator * is taken for malloc/free.
 * An encoder using more than one thread (vms_encoder_set_threads) may call
 * it from its worker threads, so it must then be thread-safe. */
typedef struct vms_allocator {
    void *(*alloc)(void *opaque, size_t size); /* returns size bytes, suitably aligned, or NULL */
    void (*free)(void *opaque, void *ptr);     /* releases what alloc returned; ptr may be NULL */
    void *opaque;                              /* passed unchanged to alloc and free */
} vms_allocator;

/* ------------------------------------------------------------------------ */
/* Identifiers                                                               */
/* ------------------------------------------------------------------------ */

/** Vendor id: bit 31 set means the low 16 bits are a PCI vendor id and bits
 * 16..30 are zero (as VFIO_REGION_TYPE_PCI_VENDOR_TYPE).  Bit 31 clear is
 * reserved for a future registry; this version only accepts 0 there
 * ("unspecified vendor"). */
#define VMS_VENDOR_PCI_FLAG 0x80000000u
#define VMS_VENDOR_PCI(pci_id) (VMS_VENDOR_PCI_FLAG | ((uint32_t)(pci_id) & 0xffffu)) /* vendor id of a PCI vendor, e.g. VMS_VENDOR_PCI(0x10de) */
/** VMS_OK when id is a valid vendor id, VMS_E_BAD_VENDOR_ID otherwise.
 * Thread-safe. */
VMS_API vms_status vms_vendor_id_check(uint32_t id);

/** Migration phase of a record: 0 .. VMS_PHASE_MAX_PRECOPY is a pre-copy pass
 * number; VMS_PHASE_STOP_COPY marks final (stop-and-copy) data.  Phases never
 * decrease along a stream. */
#define VMS_PHASE_STOP_COPY 0xffffffffu
#define VMS_PHASE_MAX_PRECOPY 0xfffffffeu /* highest pre-copy pass number */

/** Compression codecs (header field "codec"). */
typedef enum vms_codec {
    VMS_CODEC_NONE = 0, /* records are stored raw */
    VMS_CODEC_ZLIB = 1, /* zlib (RFC 1950), always built in */
    VMS_CODEC_ZSTD = 2  /* Zstandard (RFC 8878), when built with libzstd */
} vms_codec;

/** Authentication modes (header field "auth_mode"). */
typedef enum vms_auth_mode {
    VMS_AUTH_NONE = 0,     /* BLAKE2b checksums: integrity only */
    VMS_AUTH_MAC = 1,      /* keyed BLAKE2b on the header and every record */
    VMS_AUTH_ED25519 = 2   /* Ed25519 signatures over the record chain */
} vms_auth_mode;

#define VMS_STREAM_ID_BYTES 16 /* size of the random per-stream id */
#define VMS_KEY_ID_BYTES 8 /* size of a key id (vms_key_id) */
#define VMS_DIGEST_BYTES 32 /* size of every digest: BLAKE2b-256 */
#define VMS_MAC_KEY_BYTES 32 /* recommended MAC key size; 16..64 accepted */
#define VMS_ED25519_KEY_BYTES 32 /* size of a raw Ed25519 private or public key */
#define VMS_MAX_VERIFY_KEYS 8 /* public keys one decoder accepts at most */

/** Key id of a key: the first 8 bytes of BLAKE2b-256("libvmstream key id v1"
 * || key).  For a MAC key pass the secret key; for Ed25519 the public key.
 * key_len is 1..64.  Writes id; cannot fail.  Thread-safe. */
VMS_API void vms_key_id(const uint8_t *key, size_t key_len,
                        uint8_t id[VMS_KEY_ID_BYTES]);

/* Ed25519 keys (OpenSSL 3).  Raw keys are 32 bytes.  Each returns
 * VMS_E_UNSUPPORTED when the library was built without OpenSSL, and
 * VMS_E_BAD_KEY for a key it cannot parse or use.  OpenSSL allocates through
 * its own allocator, not a vms_allocator.  Thread-safe. */
/** Draws a new private key from the OS CSPRNG and computes its public key.
 * Both are written to caller buffers; wipe priv when done with it.
 * Errors: VMS_E_INVALID_ARG, VMS_E_UNSUPPORTED, VMS_E_BAD_KEY (key
 * generation failed).  Thread-safe. */
VMS_API vms_status vms_ed25519_keygen(uint8_t priv[VMS_ED25519_KEY_BYTES],
                                      uint8_t pub[VMS_ED25519_KEY_BYTES]);
/** Computes the public key of a raw private key into pub.
 * Errors: VMS_E_INVALID_ARG, VMS_E_UNSUPPORTED, VMS_E_BAD_KEY.  Thread-safe. */
VMS_API vms_status vms_ed25519_public_key(const uint8_t priv[VMS_ED25519_KEY_BYTES],
                                          uint8_t pub[VMS_ED25519_KEY_BYTES]);
/** Parses an unencrypted PKCS#8 private key / SubjectPublicKeyInfo public key
 * in PEM (len bytes, at most 64 KiB; need not be NUL-terminated, and trailing
 * NULs counted in len are ignored).  Any other key type, an encrypted key, or
 * a byte other than printable ASCII, tab, CR and LF is VMS_E_BAD_KEY.  The raw key goes to priv (pub for the public
 * variant below).  Errors: VMS_E_INVALID_ARG, VMS_E_UNSUPPORTED,
 * VMS_E_BAD_KEY.  Thread-safe. */
VMS_API vms_status vms_ed25519_parse_private_pem(const char *pem, size_t len,
                                                 uint8_t priv[VMS_ED25519_KEY_BYTES]);
/** Parses an Ed25519 SubjectPublicKeyInfo public key in PEM (len bytes, at
 * most 64 KiB; need not be NUL-terminated) into pub.
 * Errors: VMS_E_INVALID_ARG, VMS_E_UNSUPPORTED, VMS_E_BAD_KEY.  Thread-safe. */
VMS_API vms_status vms_ed25519_parse_public_pem(const char *pem, size_t len,
                                                uint8_t pub[VMS_ED25519_KEY_BYTES]);
/** Writes a key as NUL-terminated PEM into buf (cap bytes).  *needed gets the
 * size required including the NUL (0 on other errors); VMS_E_INVALID_ARG if
 * cap is too small (buf NULL with cap 0 asks for the size).
 * This one writes the private key as unencrypted PKCS#8: store it with
 * restrictive permissions.  Errors: VMS_E_INVALID_ARG, VMS_E_UNSUPPORTED,
 * VMS_E_BAD_KEY.  Thread-safe. */
VMS_API vms_status vms_ed25519_private_pem(const uint8_t priv[VMS_ED25519_KEY_BYTES],
                                           char *buf, size_t cap, size_t *needed);
/** Writes a public key as NUL-terminated SubjectPublicKeyInfo PEM into buf
 * (cap bytes).  *needed gets the size required including the NUL.
 * Errors: VMS_E_INVALID_ARG (also when cap is too small), VMS_E_UNSUPPORTED,
 * VMS_E_BAD_KEY.  Thread-safe. */
VMS_API vms_status vms_ed25519_public_pem(const uint8_t pub[VMS_ED25519_KEY_BYTES],
                                          char *buf, size_t cap, size_t *needed);

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

/** The decoder limits a vms_limits set holds (doc/FORMAT.md, section 8.2). */
typedef enum vms_limit {
    VMS_LIMIT_RECORD_PAYLOAD = 0, /* max record payload bytes on the wire */
    VMS_LIMIT_RECORD_RAW = 1,     /* max uncompressed bytes of one record */
    VMS_LIMIT_TOTAL_BYTES = 2,    /* max stream bytes */
    VMS_LIMIT_RECORDS = 3,        /* max number of records (END excluded) */
    VMS_LIMIT_BLOB = 4,           /* max device-version blob bytes */
    VMS_LIMIT_BUFFERED = 5        /* max bytes of the decoder's stream-sized
                                     buffers: header, record, decompressor,
                                     held state, and, when first wanted
                                     and there is room left, up to 8 per
                                     thread less one more record buffers
                                     for whole SIMD batches, which are
                                     optional: refused, decoding goes on
                                     without them (outside it: a fixed
                                     < 8 KiB per thread of bookkeeping and
                                     per-thread unpack buffers, see
                                     vms_decoder_set_threads) */
} vms_limit;
#define VMS_LIMIT_COUNT 6 /* number of vms_limit values */

/** A set of decoder limits.  New sets hold safe defaults (see
 * vms_limit_default).  A decoder copies the values at creation: the set may
 * be freed or changed afterwards without effect on existing decoders. */
typedef struct vms_limits vms_limits;

/** Creates a limits set with defaults.  *out is owned by the caller: free it
 * with vms_limits_free().  mem may be NULL (malloc).
 * Errors: VMS_E_INVALID_ARG, VMS_E_NOMEM.  Thread-safe. */
VMS_API vms_status vms_limits_new(vms_limits **out, const vms_allocator *mem);
/** Frees a limits set; NULL does nothing.  Decoders made with it are not
 * affected.  Per object. */
VMS_API void vms_limits_free(vms_limits *lim);
/** Sets one limit.  VMS_E_INVALID_ARG when which is unknown or value is
 * outside vms_limit_bounds(); the set is then unchanged.  Per object. */
VMS_API vms_status vms_limits_set(vms_limits *lim, vms_limit which, uint64_t value);
/** Current value of one limit, or 0 when which is unknown.  Read-only. */
VMS_API uint64_t vms_limits_get(const vms_limits *lim, vms_limit which);
/** Default and accepted range of one limit.  VMS_E_INVALID_ARG if unknown.
 * Thread-safe. */
VMS_API vms_status vms_limit_bounds(vms_limit which, uint64_t *min, uint64_t *max);
/** Default value of one limit, or 0 when which is unknown.  Thread-safe. */
VMS_API uint64_t vms_limit_default(vms_limit which);

/* ------------------------------------------------------------------------ */
/* Error detail                                                              */
/* ------------------------------------------------------------------------ */

/** Detail of the first error an encoder or decoder met.  Owned by the object;
 * valid until the object is freed. */
typedef struct vms_error_info {
    int code;                 /* a vms_status, VMS_OK when no error */
    uint64_t offset;          /* byte offset in the stream of the bad field */
    uint64_t record;          /* index of the record concerned, or UINT64_MAX */
    const char *message;      /* a sentence naming the field and values seen */
} vms_error_info;

/* ------------------------------------------------------------------------ */
/* Stream header, as delivered to the decoder's header callback              */
/* ------------------------------------------------------------------------ */

/** A verified stream header (doc/FORMAT.md, section 3), as given to the
 * on_header callback and by vms_decoder_header().  Owned by the decoder. */
typedef struct vms_header_info {
    uint16_t format_major, format_minor;  /* format version of the stream */
    uint32_t header_length;               /* header bytes, checksum included */
    uint32_t features_required, features_optional; /* feature flags (FORMAT.md 3.4) */
    uint8_t checksum_alg;                 /* 1 = BLAKE2b-256 */
    uint8_t auth_mode;                    /* vms_auth_mode */
    uint8_t codec;                        /* vms_codec */
    uint32_t vendor_id;                   /* vendor id (VMS_VENDOR_PCI) */
    uint32_t max_record;                  /* encoder's declared record size */
    uint8_t stream_id[VMS_STREAM_ID_BYTES]; /* the stream's random id */
    uint8_t key_id[VMS_KEY_ID_BYTES];     /* key id, all zero without auth */
    const uint8_t *version_blob;          /* valid during the callback */
    uint32_t version_blob_len;            /* bytes at version_blob */
    uint8_t header_digest[VMS_DIGEST_BYTES]; /* the header checksum */
} vms_header_info;

/** One run of a record delivered in runs (vms_decoder_set_page_runs()):
 * len bytes at offset within the record, either verified bytes (data) or,
 * when data is NULL, the byte fill repeated len times. */
typedef struct vms_run {
    size_t offset;           /* from the record's first byte */
    size_t len;              /* >= 1 */
    const uint8_t *data;     /* verified bytes, or NULL: a fill */
    uint8_t fill;            /* the repeated byte when data is NULL */
} vms_run;

/** A verified record as delivered to the decoder's record callback. */
typedef struct vms_record {
    uint64_t index;          /* sequence number */
    uint32_t section;        /* state section id */
    uint64_t offset;         /* byte offset within the section */
    uint32_t phase;          /* pre-copy pass, or VMS_PHASE_STOP_COPY */
    const uint8_t *data;     /* verified, decompressed payload; NULL when
                              * the record comes in runs (below) */
    size_t len;              /* its length (>= 1) */
    uint64_t stream_offset;  /* offset of this record's header in the stream */
    uint32_t wire_len;       /* payload bytes on the wire (before expansion) */
    uint16_t flags;          /* record flags: 0x2 compressed, 0x4 page map */
    /* With vms_decoder_set_page_runs() on, a page-mapped record is
     * delivered unexpanded: nruns runs in order, covering [0, len)
     * without gaps, each literal run pointing into the verified stream
     * bytes (or, if the record is compressed, into its decompressed
     * literal pages), each fill run a byte to repeat.  Otherwise NULL,
     * 0. */
    const vms_run *runs;
    size_t nruns;
} vms_record;

/** Summary of a complete, verified stream. */
typedef struct vms_stream_summary {
    uint64_t records;        /* records before END */
    uint64_t raw_bytes;      /* sum of delivered (uncompressed) lengths */
    uint64_t stream_bytes;   /* total stream bytes including END */
    uint8_t chain_digest[VMS_DIGEST_BYTES]; /* digest chaining every record */
} vms_stream_summary;

/* ------------------------------------------------------------------------ */
/* Decoder                                                                   */
/* ------------------------------------------------------------------------ */

/** Callbacks of a decoder.  Any member may be NULL.  A callback returning
 * non-zero stops decoding with VMS_E_CALLBACK (sticky).
 *
 * on_header: the header was fully verified (checksum/MAC, version, limits,
 *   policy, compatibility).  Called once, before any record.
 * on_record: one record, fully verified.  The data pointer is valid only
 *   during the call.  Records arrive in sequence order.  This is state the
 *   caller should STAGE: the stream is not yet known complete.
 * on_commit: called by vms_decoder_finish() when the END record verified and
 *   no byte followed it: every staged record belongs to one complete,
 *   genuine stream.  Called at most once, never after an error.  Apply the
 *   staged state here (a VFIO driver does so on RESUMING -> STOP).  If it
 *   returns non-zero, finish fails with VMS_E_CALLBACK and on_abort fires.
 * on_abort: the stream was rejected (first error), or the decoder was freed
 *   before the END record verified.  Called at most once, never after
 *   on_commit.  Discard staged state here.  Its return value is ignored.
 *
 * Callbacks run on the thread that called vms_decoder_feed(),
 * vms_decoder_finish() or vms_decoder_free(), and must not call back into
 * the same decoder. */
typedef struct vms_decoder_callbacks {
    int (*on_header)(void *ctx, const vms_header_info *hdr);   /* header verified */
    int (*on_record)(void *ctx, const vms_record *rec);        /* a record verified: stage it */
    int (*on_commit)(void *ctx, const vms_stream_summary *sum); /* stream complete: apply */
    int (*on_abort)(void *ctx, const vms_error_info *err);     /* stream rejected: discard */
    void *ctx;                                                 /* passed to every callback */
} vms_decoder_callbacks;

/** A push decoder: an opaque, caller-owned object (vms_decoder_new(),
 * vms_decoder_free()). */
typedef struct vms_decoder vms_decoder;

/** Creates a decoder.  lim may be NULL (defaults); mem may be NULL (malloc).
 * cb may be NULL (verify only).  lim and cb are copied; mem must outlive the
 * decoder.  *out is owned by the caller: free it with vms_decoder_free().
 * Errors: VMS_E_INVALID_ARG, VMS_E_NOMEM.  Thread-safe. */
VMS_API vms_status vms_decoder_new(vms_decoder **out, const vms_limits *lim,
                                   const vms_decoder_callbacks *cb,
                                   const vms_allocator *mem);
/** Frees a decoder; fires on_abort if neither commit nor abort fired yet.
 * NULL does nothing.  Per object. */
VMS_API void vms_decoder_free(vms_decoder *dec);

/** Feeds len bytes.  Input may be split anywhere.  Records are verified
 * and delivered (on_record) in SIMD batches: a short batch left at the end
 * of a feed may wait for the next feed's records, so a record's delivery,
 * or its error, may come on a later feed, in vms_decoder_flush(), or in
 * vms_decoder_finish() (never later than the END record).  Returns:
 *   VMS_OK   all bytes consumed, more input expected;
 *   VMS_END  all bytes consumed and the END record verified; any byte fed
 *            after it fails with VMS_E_TRAILING_DATA.  Call
 *            vms_decoder_finish() at end of input to commit;
 *   < 0      the stream is rejected; the error is sticky: every later call
 *            returns it again and consumes nothing; on_abort has fired.
 *            vms_decoder_error() gives the code, offset, record and message.
 * consumed (may be NULL) receives the number of bytes consumed.  buf is
 * only read during the call (the decoder copies what it must keep).
 * Per object. */
VMS_API int vms_decoder_feed(vms_decoder *dec, const void *buf, size_t len,
                             size_t *consumed);
/** Verifies and delivers now every record fed so far that waits in the
 * batch (like zlib's Z_SYNC_FLUSH; a feed-driven caller never needs it:
 * waiting records come with the next feed, or in finish).  Records of a
 * signed stream still wait for the checkpoint that covers them, and a
 * record whose bytes are not all fed is not a record yet.  Returns VMS_OK,
 * VMS_END (the END record verified), or the first record's error (sticky,
 * as for vms_decoder_feed).  Per object. */
VMS_API int vms_decoder_flush(vms_decoder *dec);
/** Declares end of input.  Returns VMS_END if the END record verified with
 * nothing after it (on_commit fires, once); VMS_E_TRUNCATED (sticky, fires
 * on_abort) if the stream stopped before its END record, after every
 * record fed whole was verified and delivered; a waiting record's own
 * error; or the earlier error.  May be called again: it returns the same
 * result.  Per object. */
VMS_API int vms_decoder_finish(vms_decoder *dec);
/** Non-zero iff the END record verified and no error occurred (so far).
 * Read-only. */
VMS_API int vms_decoder_complete(const vms_decoder *dec);
/** Detail of the sticky error (code VMS_OK when none).  Never NULL; owned
 * by the decoder, valid until it is freed.  Read-only. */
VMS_API const vms_error_info *vms_decoder_error(const vms_decoder *dec);
/** Number of stream bytes consumed so far.  Cannot fail.  Read-only. */
VMS_API uint64_t vms_decoder_offset(const vms_decoder *dec);
/** How many bytes the next vms_decoder_feed call should hold for full
 * speed (like zstd's ZSTD_DStreamInSize and ZSTD_nextSrcSizeToDecompress):
 * once the header is known, the rest of the record being read, then
 * enough records to fill every thread's SIMD batch (threads x 8 records,
 * less those already batched), each counted at its largest, 72 +
 * pad8(max_record) bytes; at least 1 MiB, but never more than 256 MiB nor
 * more than the decoder's VMS_LIMIT_BUFFERED (max_record is the stream's
 * word: the caller's limit bounds the buffer it asks for); before it,
 * 1 MiB.  Fed that many bytes each time, a stream of full-size records
 * is hashed where it lies, in full batches, whatever its header's length
 * (vms_decoder_get_stats() shows it); the hint changes after every feed.
 * Smaller feeds are always correct: a short batch of records left at the
 * end of a feed waits (copied, when the VMS_LIMIT_BUFFERED budget has room)
 * to be hashed with the next feed's records, and bodies that span feeds
 * are put together and batched as well, so even small feeds keep the SIMD
 * lanes busy; large feeds save those copies.  Cannot fail (NULL: 1 MiB).
 * Read-only. */
VMS_API size_t vms_decoder_feed_hint(const vms_decoder *dec);
/** The header once its checksum (or MAC) verified — also when the stream
 * was then refused for policy or compatibility — else NULL.  Owned by the
 * decoder, valid (version_blob included) until it is freed.  Read-only. */
VMS_API const vms_header_info *vms_decoder_header(const vms_decoder *dec);
/** Summary after VMS_END, else NULL.  Owned by the decoder, valid until it
 * is freed.  Read-only. */
VMS_API const vms_stream_summary *vms_decoder_summary(const vms_decoder *dec);

/** What a decoder has done with the bytes so far: its batches, and every
 * copy it made of a record body or of state.  For tuning feed sizes and
 * threads (a body the decoder copies costs a pass over memory), and for
 * checking that a body is copied at most once.  Counts only grow; a
 * figure may miss the records still waiting in the batch.  Members may be
 * added at the end in later versions (the struct is the decoder's: read
 * it through the pointer, do not copy it into an older struct's size). */
typedef struct vms_decoder_stats {
    uint64_t batches;          /* batches of records hashed (SIMD rounds) */
    uint64_t hash_calls;       /* multi-lane hash calls: groups of up to 8 records */
    uint64_t spread_batches;   /* short batches of large records spread over the
                                * threads in groups of up to 4 */
    uint64_t bodies;           /* record bodies hashed, control records excluded */
    uint64_t bodies_in_place;  /* of them, hashed in the caller's buffer, not copied */
    uint64_t assembled_bytes;  /* body bytes copied: the body spanned feeds */
    uint64_t parked_bytes;     /* body bytes copied: a short batch waited for the
                                * next feed (vms_decoder_feed_hint()) */
    uint64_t shared_copies;    /* copies of those two kinds shared out over the
                                * threads, each thread copying a byte range */
    uint64_t held_bytes;       /* state bytes copied to wait for a signature */
    uint64_t expanded_bytes;   /* state bytes written by expanding page maps
                                * (none with vms_decoder_set_page_runs()) */
} vms_decoder_stats;
/** The decoder's counts (above).  Never NULL; owned by the decoder, valid
 * until it is freed (NULL: all zero).  Read-only: not while another
 * thread feeds the same decoder. */
VMS_API const vms_decoder_stats *vms_decoder_get_stats(const vms_decoder *dec);

/** Policy: refuse streams whose auth mode is weaker than mode (VMS_AUTH_NONE
 * = accept everything; VMS_AUTH_MAC = MAC or signature; VMS_AUTH_ED25519 =
 * signature only).  Must be called before the first feed.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE (after the first feed).  Per object. */
VMS_API vms_status vms_decoder_require_auth(vms_decoder *dec, vms_auth_mode mode);
/** Adds an accepted Ed25519 public key (copied; up to VMS_MAX_VERIFY_KEYS).
 * A signed stream is accepted only if its header's key id is that of one of
 * these keys, and every checkpoint and the END record carry a valid
 * signature by it.  State of a signed stream is held (bounded by
 * VMS_LIMIT_BUFFERED) until the checkpoint that covers it verifies, then
 * delivered.  Errors: VMS_E_INVALID_ARG, VMS_E_STATE, VMS_E_UNSUPPORTED
 * (built without OpenSSL), VMS_E_BAD_KEY (not a valid public key).
 * Per object. */
VMS_API vms_status vms_decoder_add_ed25519_key(vms_decoder *dec,
                                               const uint8_t pub[VMS_ED25519_KEY_BYTES]);
/** Number of threads (1..64, default 1) that verify record checksums and
 * unpack (decompress, page-map expand) records; the calling thread is one
 * of them.  The decoder hashes up to 8 records per thread at once in SIMD
 * lanes, then unpacks up to one record per thread at once; records are
 * delivered in order, on the calling thread, and every outcome (records
 * delivered, error code, offset, message) is exactly that of one thread.
 * Feed large buffers for speed: vms_decoder_feed_hint() tells how large.
 * Memory: besides VMS_LIMIT_BUFFERED, each thread takes a fixed < 8 KiB of
 * bookkeeping, and, in a compressed or page-mapped stream, each thread but
 * the first one record buffer of the header's max_record bytes and one
 * decompressor (at most 128 KiB), allocated once the header has verified.
 * These come from the caller's allocator, which must then be thread-safe
 * (worker threads may call it).  Before the first feed.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_decoder_set_threads(vms_decoder *dec, unsigned threads);
/** Page-mapped records in runs (default off).  With on != 0, a verified
 * page-mapped record reaches on_record without being expanded:
 * vms_record.data is NULL and vms_record.runs lists its literal runs
 * (pointers to the verified bytes, or, in a compressed record, to its
 * literal pages as decompressed, one after another; valid during the
 * call, as data is) and its runs of uniform pages (a fill byte).  A caller
 * that copies the state into its own memory anyway (a device's, a file's)
 * then saves the decoder's copy and its memset: the literal bytes are read
 * once after they were verified (or decompressed).  Records not
 * page-mapped, or in Ed25519 streams (held until a signature covers them),
 * still come in data.  Memory: one array of max_record / 4096 + 1 runs (24 or 32 bytes
 * each), from the caller's allocator, outside VMS_LIMIT_BUFFERED.  Before
 * the first feed.  Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_decoder_set_page_runs(vms_decoder *dec, int on);
/** Policy: refuse streams whose format minor is below min_minor.
 * Before the first feed.  Errors: VMS_E_INVALID_ARG, VMS_E_STATE.
 * Per object. */
VMS_API vms_status vms_decoder_require_format(vms_decoder *dec, uint16_t min_minor);
/** Sets the key for MAC-mode streams (copied).  key_id identifies it; a
 * stream whose header names another key id is refused (VMS_E_UNKNOWN_KEY).
 * Must be called before the first feed.  A key alone does not refuse
 * unauthenticated streams: also call vms_decoder_require_auth().
 * Errors: VMS_E_INVALID_ARG (key_len outside 16..64), VMS_E_STATE.
 * Per object. */
VMS_API vms_status vms_decoder_set_mac_key(vms_decoder *dec, const uint8_t *key,
                                           size_t key_len,
                                           const uint8_t key_id[VMS_KEY_ID_BYTES]);

/* ------------------------------------------------------------------------ */
/* Encoder                                                                   */
/* ------------------------------------------------------------------------ */

/** Sink: receives stream bytes in order.  Returns 0 on success, non-zero on
 * failure (the encoder then fails with VMS_E_IO, sticky).  buf is valid only
 * during the call.  Called on the thread that called the encoder. */
typedef int (*vms_sink_fn)(void *ctx, const void *buf, size_t len);

/** An encoder: an opaque, caller-owned object (vms_encoder_new(),
 * vms_encoder_free()). */
typedef struct vms_encoder vms_encoder;

/** Creates an encoder writing to sink.  Settings are made with the
 * vms_encoder_set_* calls before the first write; the header is emitted on
 * the first vms_encoder_write or vms_encoder_finish.  sink_ctx and mem must
 * outlive the encoder.  *out is owned by the caller: free it with
 * vms_encoder_free().  Errors: VMS_E_INVALID_ARG, VMS_E_NOMEM.  Thread-safe. */
VMS_API vms_status vms_encoder_new(vms_encoder **out, vms_sink_fn sink,
                                   void *sink_ctx, const vms_allocator *mem);
/** Frees an encoder and wipes its keys; NULL does nothing.  Writes nothing:
 * a stream freed before vms_encoder_finish() has no END record, and every
 * decoder rejects it (VMS_E_TRUNCATED).  Per object. */
VMS_API void vms_encoder_free(vms_encoder *enc);

/* Settings (each returns VMS_E_STATE after the header was emitted, and
 * VMS_E_INVALID_ARG for a bad value).  All are Per object. */
/** Vendor id of the stream (default 0, unspecified).
 * Errors: VMS_E_INVALID_ARG (not a valid vendor id), VMS_E_STATE.
 * Per object. */
VMS_API vms_status vms_encoder_set_vendor(vms_encoder *enc, uint32_t vendor_id);
/** A fixed stream id makes the output deterministic (golden vectors);
 * by default a random one is drawn from the OS (getrandom).  An id must
 * never serve two real streams: a caller that sets one (for instance an id
 * the management layer drew for this migration, which the destination then
 * checks in on_header to detect replays) draws it fresh from a CSPRNG.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE.
 * Per object. */
VMS_API vms_status vms_encoder_set_stream_id(vms_encoder *enc,
                                             const uint8_t id[VMS_STREAM_ID_BYTES]);
/** Opaque device-version blob (copied), at most VMS_MAX_BLOB_BYTES.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE, VMS_E_NOMEM.  Per object. */
VMS_API vms_status vms_encoder_set_version_blob(vms_encoder *enc,
                                                const void *blob, size_t len);
/** Record payload size, 1 .. VMS_MAX_RECORD_BYTES (default 1 MiB).
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_record_size(vms_encoder *enc, size_t bytes);
/** Compression codec and level (level 0 = codec default).  The encoder stores
 * a record raw whenever compression does not shrink it.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE, VMS_E_UNSUPPORTED (codec not
 * built in).  Per object. */
VMS_API vms_status vms_encoder_set_compression(vms_encoder *enc, vms_codec codec,
                                               int level);
/** MAC mode with this key (copied) and key id.  key_len is 16..64
 * (VMS_MAC_KEY_BYTES recommended); vms_key_id() of the key is the
 * recommended id.  Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_mac_key(vms_encoder *enc, const uint8_t *key,
                                           size_t key_len,
                                           const uint8_t key_id[VMS_KEY_ID_BYTES]);

/** Number of threads (1..64, default 1) that page-map, compress and hash
 * records in parallel; the calling thread is one of them.  The output is
 * byte-identical for any number.  Records are batched per
 * vms_encoder_write() call, up to 8 per thread (with 2-8 threads and no
 * codec, up to 64 in all): large writes go fastest.  Memory: with more
 * than one thread and no codec, two sets of such batches (one set with a
 * codec).  With a codec, each record slot has a record-sized scratch
 * buffer for page maps (when page elision is on: the literal pages are
 * gathered for the compressor) and one for compressed output; without
 * one, only the map itself (1/32768 + 1/4096 of the record size) and a
 * list of the record's runs of literal pages.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_threads(vms_encoder *enc, unsigned threads);
/** Uniform-page elision (default on): 4 KiB pages of one repeated byte are
 * sent as one fill byte in a page map (doc/FORMAT.md), costing neither
 * bandwidth nor hashing.  Without a codec the other (literal) pages are not
 * copied: they are hashed where they lie and the sink gets one call for
 * the record header and the map, then one per run of consecutive literal
 * pages, straight from the buffer given to vms_encoder_write() (in
 * output-buffer mode they are copied once, into the lent memory).  on = 0
 * turns elision off.  Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per
 * object. */
VMS_API vms_status vms_encoder_set_page_elision(vms_encoder *enc, int on);
/** Signature mode: Ed25519 with this private key (copied); the header's key
 * id is vms_key_id() of its public key.  The encoder writes a signed
 * checkpoint whenever the state since the previous one would exceed the
 * checkpoint interval, and signs the END record.  VMS_E_UNSUPPORTED without
 * OpenSSL; VMS_E_BAD_KEY for an unusable key.  Also VMS_E_INVALID_ARG,
 * VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_ed25519_key(vms_encoder *enc,
                                               const uint8_t priv[VMS_ED25519_KEY_BYTES]);
/** State bytes between signed checkpoints, 1 KiB .. 1 GiB (default 16 MiB).
 * A decoder buffers up to this much (plus one record) before it can verify
 * and deliver it, so keep it within the receivers' VMS_LIMIT_BUFFERED.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_checkpoint_interval(vms_encoder *enc, size_t bytes);

/** Gathering of small writes (default off).  Records are hashed in SIMD
 * lanes, 8 per thread at a time, and a write of fewer records leaves
 * lanes idle: one 1 MiB record per write hashes at about a third of the
 * speed of 8.  With gathering on, the records of such a write are copied
 * into the encoder's gather buffers and wait for the next write,
 * vms_encoder_flush() or vms_encoder_finish() to fill the round; they
 * wait only when the copies cost less than the idle lanes they save (from
 * an empty round: a write of up to 5 records on one thread, up to 8 on
 * two).  Costs: one
 * copy of those records' payload, and 8 x threads record-sized buffers
 * (8 MiB on one thread with 1 MiB records), taken from the allocator the
 * first time they are wanted; if it refuses them, writes go on without
 * gathering.  What changes for the caller: a record, and an error from
 * the sink or the compressor about it, may come on a later call, and
 * vms_encoder_offset() counts only bytes that reached the sink.  The
 * stream bytes are the same as without gathering.  For callers that
 * produce state piece by piece (a record at a time); a caller that can
 * write vms_encoder_write_hint() bytes at once gains nothing from it.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_gather(vms_encoder *enc, int on);

/** Output-buffer provider (vms_encoder_set_output_buffer()): returns
 * writable memory for max_len bytes of stream, or NULL.  Called on the
 * thread that called the encoder, only from vms_encoder_write,
 * vms_encoder_flush and vms_encoder_finish. */
typedef void *(*vms_outbuf_fn)(void *ctx, size_t max_len);
/** Lets the encoder lay its records out in memory the caller lends, like
 * zstd's ZSTD_outBuffer, instead of handing the sink pointers into its own
 * and the caller's buffers: for a sink that would otherwise copy the stream
 * into memory of its own (a buffer the destination reads, a ring, a
 * mapping).  For each batch of records (see vms_encoder_write_hint()) the
 * encoder first passes every earlier stream byte to the sink, then calls
 * get(ctx, max_len), max_len being the most those records can take (a
 * record header and the padded record size each).
 *  - NULL: the batch goes to the sink as without a provider.
 *  - Otherwise max_len writable bytes, not overlapping the state being
 *    written.  The encoder writes the records there, copying each payload
 *    block as the hash loads it, so that the state is read from memory
 *    once (a sink that copies reads it a second time).
 *    The workers write there too.  Then, before any other call of get or
 *    sink, it calls the sink once with buf == the lent pointer and len <=
 *    max_len: those bytes are already in place and the sink only takes
 *    them (counts them, sends them on).  If the encoder fails in between,
 *    the region's contents are undefined and it is not passed to the sink.
 * The stream header, checkpoints, the END record and batches the provider
 * declined still reach the sink in the encoder's own buffers.  The bytes
 * are the same as without a provider; only who holds them changes.  A
 * batch in lent memory is not pipelined with the emit of the one before
 * (with threads): there is no copy left to overlap.  get NULL turns it off
 * (the default).  Errors: VMS_E_INVALID_ARG, VMS_E_STATE.  Per object. */
VMS_API vms_status vms_encoder_set_output_buffer(vms_encoder *enc, vms_outbuf_fn get,
                                                 void *ctx);

/** Appends len bytes of state for section, starting at offset, in the given
 * phase, split into records of the configured size.  Phases must not
 * decrease.  Errors that leave the encoder usable (nothing was written):
 * VMS_E_INVALID_ARG, VMS_E_BAD_PHASE (phase lower than an earlier one),
 * VMS_E_BAD_OFFSET (offset + len overflows).  Sticky errors (the stream is
 * broken; only vms_encoder_free remains): VMS_E_IO, VMS_E_NOMEM,
 * VMS_E_INTERNAL; later calls return them again.  VMS_E_STATE after
 * vms_encoder_finish.  data is only read during the call.  Every record
 * of the call has reached the sink when it returns, except with gathering
 * (vms_encoder_set_gather()), where the last ones may wait, copied, for a
 * later call.  Per object. */
VMS_API vms_status vms_encoder_write(vms_encoder *enc, uint32_t section,
                                     uint64_t offset, uint32_t phase,
                                     const void *data, size_t len);
/** How many bytes each vms_encoder_write call should hold for full speed
 * (like zstd's ZSTD_CStreamInSize): every slot of the encoder's batches,
 * slot sets x records per set x record size, for the current record size,
 * threads and codec.  1 thread, or a codec: 8 records per thread; more
 * threads and no codec: two sets (one emitted while the other is hashed)
 * of 8 records per thread, up to 3 times that with 2-8 threads but at most
 * 64 records a set (2 threads, 1 MiB records, no codec: 96 MiB; with zstd:
 * 16 MiB).  Smaller writes are always correct, only slower: records are
 * batched within one write, never across writes, unless gathering is on
 * (vms_encoder_set_gather()).  Call it after the settings.  Cannot fail
 * (NULL: 8 MiB).  Read-only. */
VMS_API size_t vms_encoder_write_hint(const vms_encoder *enc);
/** Hashes and emits the records gathering holds (vms_encoder_set_gather()),
 * so that every byte written so far reaches the sink now; without
 * gathering there is never anything to do.  Before the first write it
 * does nothing (the header waits for the first write or finish).  Errors:
 * the sticky errors of vms_encoder_write, VMS_E_STATE after
 * vms_encoder_finish.  Per object. */
VMS_API vms_status vms_encoder_flush(vms_encoder *enc);
/** Emits any records gathering holds, then writes the END record.  After it
 * only vms_encoder_free is allowed.
 * Errors: the sticky errors of vms_encoder_write, VMS_E_STATE when called
 * twice.  Per object. */
VMS_API vms_status vms_encoder_finish(vms_encoder *enc);
/** Detail of the encoder's sticky error (code VMS_OK when none).  Never
 * NULL; owned by the encoder, valid until it is freed.  Read-only. */
VMS_API const vms_error_info *vms_encoder_error(const vms_encoder *enc);
/** Bytes emitted so far.  Cannot fail.  Read-only. */
VMS_API uint64_t vms_encoder_offset(const vms_encoder *enc);

/** What an encoder has done so far: its records, its hash rounds, and
 * every copy it made of the caller's state.  Without a codec, gathering
 * or an output-buffer provider, the encoder copies no state at all
 * (lent, gathered and packed bytes stay 0): payloads are hashed and
 * handed to the sink from the caller's buffer.  Counts only grow, and
 * cover the records that reached the sink (or were committed to a lent
 * region).  Members may be added at the end in later versions (read it
 * through the pointer). */
typedef struct vms_encoder_stats {
    uint64_t records;          /* STATE records emitted */
    uint64_t state_bytes;      /* their state bytes (before page maps, compression) */
    uint64_t payload_bytes;    /* their payload bytes on the wire */
    uint64_t elided_pages;     /* uniform pages sent as one fill byte in a page map */
    uint64_t sets;             /* sets of records hashed (SIMD rounds) */
    uint64_t hash_calls;       /* multi-lane hash calls: groups of up to 8 records */
    uint64_t spread_sets;      /* short sets of large records spread over the
                                * threads in groups of up to 4 */
    uint64_t lent_bytes;       /* payload bytes copied into lent output buffers by
                                * the hash pass (vms_encoder_set_output_buffer()) */
    uint64_t gathered_bytes;   /* state bytes copied to wait for the next write
                                * (vms_encoder_set_gather()) */
    uint64_t packed_bytes;     /* literal page bytes put together for the
                                * compressor (page maps with a codec) */
} vms_encoder_stats;
/** The encoder's counts (above).  Never NULL; owned by the encoder, valid
 * until it is freed (NULL: all zero).  Read-only. */
VMS_API const vms_encoder_stats *vms_encoder_get_stats(const vms_encoder *enc);

#define VMS_MAX_RECORD_BYTES (64u * 1024u * 1024u) /* largest record payload the format allows */
#define VMS_MAX_BLOB_BYTES (64u * 1024u) /* largest device-version blob the format allows */

/* Convenience sinks (vmstream I/O helpers, not used by the core). */
/** ctx is a pointer to an int file descriptor; retries short writes/EINTR.
 * Returns 0, or -1 on a write error (errno set; a non-blocking fd that
 * would block counts as an error, so give it a blocking one).  Thread-safe
 * as far as the fd is. */
VMS_API int vms_sink_fd(void *ctx, const void *buf, size_t len);

/** Growable memory buffer sink.  Initialise with {0}; free data with
 * vms_membuf_release (it uses the allocator given, NULL = malloc). */
typedef struct vms_membuf {
    uint8_t *data;            /* the bytes written so far (owned by the buffer) */
    size_t len, cap;          /* len: bytes used; cap: bytes allocated */
    const vms_allocator *mem; /* allocator for data; NULL = malloc */
} vms_membuf;
/** Sink appending to the vms_membuf ctx.  Returns 0, or -1 when memory
 * cannot be allocated (the buffer keeps what it had).  Per object. */
VMS_API int vms_sink_membuf(void *ctx, const void *buf, size_t len);
/** Frees a vms_membuf's data and resets it to empty; NULL does nothing.
 * Per object. */
VMS_API void vms_membuf_release(vms_membuf *mb);

#ifdef __cplusplus
}
#endif

/* Device compatibility descriptors and checks. */
#include "vmstream_compat.h"

#endif /* VMSTREAM_H */
