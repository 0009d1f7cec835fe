/* fuzz.h - shared declarations of the libvmstream fuzz harnesses.
 *
 * Every harness lives in fuzz/<name>.c and exposes its whole logic as
 *     int vmsfuzz_<name>(const uint8_t *data, size_t size);
 * which returns 0 and aborts the process (vf_fail) when an invariant breaks.
 * The libFuzzer entry points (LLVMFuzzerTestOneInput and, for the
 * structure-aware harness, LLVMFuzzerCustomMutator/CustomCrossOver) are
 * compiled only when VMSFUZZ_ENTRY is defined, so the same sources also
 * build into the plain-main() drivers: fuzz/standalone.c (AFL++, manual
 * reproduction) and fuzz/replay.c (the regression replayer of the normal
 * test suite, built with gcc as well).  Nothing here needs libFuzzer. */
#ifndef VMSFUZZ_H
#define VMSFUZZ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"
#include "vmstream.h"
#include "vmstream_compat.h"
#include "wire.h"

/* ---- harness functions ---------------------------------------------------- */
int vmsfuzz_decode(const uint8_t *data, size_t size);
int vmsfuzz_decode_mutator(const uint8_t *data, size_t size);
int vmsfuzz_roundtrip(const uint8_t *data, size_t size);
int vmsfuzz_descriptor_text(const uint8_t *data, size_t size);
int vmsfuzz_descriptor_binary(const uint8_t *data, size_t size);
int vmsfuzz_keys(const uint8_t *data, size_t size);
int vmsfuzz_b2many(const uint8_t *data, size_t size);

/* The structure-aware mutator of decode_mutator.c, callable without
 * libFuzzer: byte_mutate is the byte-level fallback (LLVMFuzzerMutate under
 * libFuzzer, vf_simple_mutate elsewhere). */
typedef size_t (*vf_byte_mutator)(uint8_t *data, size_t size, size_t max_size);
size_t vmsfuzz_stream_mutate(uint8_t *data, size_t size, size_t max_size,
                             unsigned int seed, vf_byte_mutator byte_mutate);
/* Parses data as a stream and writes it back with every checksum, chain
 * digest and signature recomputed (no mutation).  Returns the new size or
 * 0 when data does not parse.  Used to check the mutator's serialiser: a
 * genuine encoder stream must come back byte-identical. */
size_t vmsfuzz_stream_restamp(uint8_t *data, size_t size, size_t max_size);
/* Record-level crossover of two streams (LLVMFuzzerCustomCrossOver). */
size_t vmsfuzz_stream_crossover(const uint8_t *d1, size_t s1, const uint8_t *d2, size_t s2,
                                uint8_t *out, size_t max_out, unsigned int seed);

/* ---- failures --------------------------------------------------------------- */
/* Prints "vmsfuzz: invariant violated at file:line: ..." and aborts. */
_Noreturn void vf_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define VF_CHECK(cond, ...)                                    \
    do {                                                       \
        if (!(cond))                                           \
            vf_fail(__FILE__, __LINE__, "(" #cond ") " __VA_ARGS__); \
    } while (0)

/* ---- deterministic PRNG (splitmix64) -------------------------------------- */
uint64_t vf_rand(uint64_t *state);
/* Uniform-ish value in [0, n); 0 when n == 0. */
uint64_t vf_below(uint64_t *state, uint64_t n);
/* Small non-cryptographic hash of a buffer (FNV-1a 64). */
uint64_t vf_hash(const uint8_t *p, size_t n);

/* ---- fixed keys and ids ------------------------------------------------------ */
extern const uint8_t vf_stream_id[VMS_STREAM_ID_BYTES];
extern const uint8_t vf_mac_key[VMS_MAC_KEY_BYTES];
extern const uint8_t vf_ed_priv[VMS_ED25519_KEY_BYTES];
void vf_mac_key_id(uint8_t id[VMS_KEY_ID_BYTES]);
/* Public key of vf_ed_priv (false when built without OpenSSL). */
bool vf_ed_pub(uint8_t pub[VMS_ED25519_KEY_BYTES]);

/* ---- counting allocator ------------------------------------------------------ */
typedef struct vf_mem {
    pthread_mutex_t lock; /* decoders/encoders with threads may allocate from workers */
    size_t cur, peak;   /* bytes handed out now / at most */
    size_t first_size;  /* size of the first allocation (the object) */
    unsigned long count;/* allocations attempted */
    unsigned long fail_at; /* 1-based allocation that fails; 0 = none */
    bool failed;        /* an injected failure happened */
} vf_mem;
/* Initialises m (zeroed, with fail_at) and returns its allocator. */
vms_allocator vf_mem_allocator(vf_mem *m);
void vf_mem_destroy(vf_mem *m);

/* ---- decoding driver with invariants ------------------------------------------ */
typedef struct vf_decode_cfg {
    uint64_t lim[VMS_LIMIT_COUNT]; /* decoder limits (already valid) */
    bool mac_key;         /* configure vf_mac_key */
    bool ed_key;          /* add the public key of vf_ed_priv */
    uint8_t require_auth; /* vms_auth_mode */
    uint16_t min_minor;
    uint64_t split_seed;  /* chunk sizes; split_max 0 = feed all at once */
    uint32_t split_max;
    long refuse_record;   /* on_record returns 1 for this delivery (0-based), -1 none */
    bool refuse_header, refuse_commit;
    unsigned long fail_alloc_at; /* see vf_mem */
    bool feed_trailing;   /* after VMS_END, feed one more byte */
    unsigned threads;     /* vms_decoder_set_threads when > 1 */
    bool page_runs;       /* vms_decoder_set_page_runs */
    int target;           /* vms_decoder_set_target with vf_fixed_descriptor(target - 1); 0 none */
    bool target_callbacks;/* ... and vendor callbacks (verdicts from split_seed) */
    /* Optional extra record check (roundtrip); aborts on a mismatch. */
    void (*check_record)(void *ctx, const vms_record *rec);
    void *check_ctx;
} vf_decode_cfg;

typedef struct vf_decode_result {
    int rc;               /* final result (finish, or the error) */
    uint64_t delivered;   /* records delivered */
    uint64_t raw_bytes;   /* their total length */
    bool committed;       /* on_commit fired and accepted */
    uint64_t peak;        /* allocator peak */
    int err_code;
    uint64_t err_record, err_offset;
    char err_msg[VMS_MSG_MAX];
    uint64_t content;     /* digest of every delivered record's bytes, in order */
} vf_decode_result;

void vf_decode_cfg_default(vf_decode_cfg *cfg);
/* Decodes data under cfg and checks the decoder's contract (see
 * fuzz/README.md, "Invariants").  Aborts on a violation. */
void vf_decode(const uint8_t *data, size_t len, const vf_decode_cfg *cfg,
               vf_decode_result *res);

/* Checks the descriptor parsers' round trips on one descriptor (parse,
 * format, re-parse, encode, decode, compat with itself). */
void vf_descriptor_roundtrip(const vms_descriptor *d);
/* Compatibility checks of d against fixed descriptors, both ways, with and
 * without vendor callbacks (seed picks their verdicts). */
void vf_compat_probe(const vms_descriptor *d, uint64_t seed);
/* Fixed, complete descriptors (parsed once): 0 an NVIDIA-like target that
 * the corpus's descriptor stream suits, 1 a minimal one. */
#define VF_FIXED_DESCRIPTORS 2
const vms_descriptor *vf_fixed_descriptor(int i);
/* Vendor callbacks whose verdicts depend on *seed (for vms_compat_options). */
vms_compat_options vf_probe_options(uint64_t *seed);
/* Message must be printable ASCII, NUL-terminated within cap. */
void vf_check_printable(const char *msg, size_t cap, const char *what);

/* ---- a tiny byte mutator for builds without libFuzzer ------------------------- */
size_t vf_simple_mutate(uint8_t *data, size_t size, size_t max_size);
void vf_simple_mutate_seed(uint64_t seed);

#endif
