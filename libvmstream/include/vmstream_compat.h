/*
 * vmstream_compat.h - device compatibility descriptors (libvmstream)
 *
 * A descriptor says what a migratable device is (vendor id, device API,
 * device type, interface version, vendor fields) and, for a target device,
 * what it accepts (other device types) and refuses (known-bad source
 * versions).  vms_compat_check() decides from two descriptors alone whether
 * state from the source may be loaded into the target, and, when not, names
 * the first failing rule in a sentence.  doc/COMPAT.md describes the model
 * and the text format; doc/DESCRIPTOR-BINARY.md the canonical binary
 * encoding carried as the stream header's device-version blob.
 *
 * The conventions block at the top of vmstream.h applies here too.  In
 * particular:
 *  - A vms_descriptor is a caller-owned object.  Functions taking a
 *    `const vms_descriptor *` never modify it, so any number of threads may
 *    call them on the same descriptor at once as long as no thread calls a
 *    modifying function (vms_descriptor_set_*, _add_*, _free) on it.
 *  - Strings returned by getters are owned by the descriptor: they stay
 *    valid and unchanged until the descriptor is modified or freed.
 *  - Strings passed to setters are copied.  Setters validate their input
 *    (length, character set, uniqueness); on error the descriptor is
 *    unchanged.
 *  - A descriptor holds everything in one allocation made by
 *    vms_descriptor_new() (or a parse/decode/clone call): setters never
 *    allocate, so they never fail with VMS_E_NOMEM.
 *  - The library never prints; error detail goes to caller-owned structs
 *    (vms_descriptor_error, vms_compat_result).
 *  - Each function's comment ends with its errors and a thread-safety note
 *    ("Thread-safe", "Per object" or "Read-only") as defined in vmstream.h.
 */
#ifndef VMSTREAM_COMPAT_H
#define VMSTREAM_COMPAT_H

#include "vmstream.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* Limits                                                                    */
/* ------------------------------------------------------------------------ */

/** Maximum bytes of an identifier: device_api, type, one accepted type. */
#define VMS_DESC_MAX_IDENT 64u
/** Maximum bytes of a vendor field name. */
#define VMS_DESC_MAX_NAME 64u
/** Maximum bytes of a vendor field value. */
#define VMS_DESC_MAX_VALUE 255u
/** Maximum number of accepted types, denied versions and vendor fields. */
#define VMS_DESC_MAX_ACCEPT 32u
#define VMS_DESC_MAX_DENY 64u /* maximum number of denied versions */
#define VMS_DESC_MAX_FIELDS 32u /* maximum number of vendor fields */
/** Text form: maximum bytes of one line (without its line ending) and of
 * the whole input.  The longest line the formatter writes (a full
 * deny_versions list) is 2125 bytes. */
#define VMS_DESC_MAX_LINE 4096u
#define VMS_DESC_MAX_TEXT 65536u /* text form: maximum bytes of the whole input */
/** The largest buffer vms_descriptor_format_text() can need, terminating
 * NUL included (every list and string at its limit). */
#define VMS_DESC_MAX_FORMATTED 17612u
/** Binary form: the largest possible encoding (every list and string at its
 * maximum) is 13309 bytes; no valid encoding is larger than this. */
#define VMS_DESC_MAX_BINARY 16384u
/** Size of the message buffers below. */
#define VMS_DESC_MSG_MAX 256u
#define VMS_COMPAT_REASON_MAX 1024u /* size of vms_compat_result.reason */
#define VMS_COMPAT_WHY_MAX 256u /* size of the why buffer given to vendor callbacks */

/* ------------------------------------------------------------------------ */
/* Descriptor object                                                         */
/* ------------------------------------------------------------------------ */

/** A device compatibility descriptor: an opaque, caller-owned object
 * (vms_descriptor_new(), vms_descriptor_free()). */
typedef struct vms_descriptor vms_descriptor;

/** Interface version major.minor.bugfix.  A feature removal bumps major; a
 * backward-compatible addition bumps minor; bugfix changes nothing in the
 * state format (it only matters for deny lists). */
typedef struct vms_device_version {
    uint32_t major, minor, bugfix; /* the three numbers, each 0 .. UINT32_MAX */
} vms_device_version;

/** How a vendor field of the source is matched against the same field of
 * the target (doc/COMPAT.md, section 3.7).  Values are stable: they are the
 * rule byte of the binary encoding. */
typedef enum vms_field_rule {
    VMS_FIELD_EQUAL = 0,    /* "equal": identical strings */
    VMS_FIELD_SUPERSET = 1, /* "superset": '+'-joined sets, target contains source */
    VMS_FIELD_GE = 2        /* "ge": unsigned decimal, target >= source */
} vms_field_rule;

/** Detail of a parse or decode error.  Caller-owned; filled by
 * vms_descriptor_parse_text() and vms_descriptor_decode() (which clear it on
 * success: code VMS_OK, empty message). */
typedef struct vms_descriptor_error {
    int code;           /* a vms_status; VMS_OK when there was no error */
    uint32_t line;      /* text: 1-based line of the error; 0 when the error
                           concerns the whole input (size, a missing key) */
    uint64_t offset;    /* binary: byte offset of the offending field */
    char message[VMS_DESC_MSG_MAX]; /* a sentence, printable ASCII, never
                                       holding raw input bytes */
} vms_descriptor_error;

/** Creates an empty descriptor: vendor id 0, version 0.0.0, empty device_api
 * and type (which must be set before the descriptor is complete), no lists,
 * no fields.  mem may be NULL (malloc); it must outlive the descriptor.
 * *out is owned by the caller: free it with vms_descriptor_free().
 * Errors: VMS_E_INVALID_ARG (out NULL), VMS_E_NOMEM.  Thread-safe. */
VMS_API vms_status vms_descriptor_new(vms_descriptor **out,
                                      const vms_allocator *mem);
/** Frees a descriptor.  NULL does nothing.  Strings obtained from its
 * getters become invalid.  Per object. */
VMS_API void vms_descriptor_free(vms_descriptor *d);
/** Makes an independent copy of src with allocator mem (NULL = malloc).
 * *out is owned by the caller (vms_descriptor_free()).
 * Errors: VMS_E_INVALID_ARG, VMS_E_NOMEM.  Read-only (on src). */
VMS_API vms_status vms_descriptor_clone(vms_descriptor **out,
                                        const vms_descriptor *src,
                                        const vms_allocator *mem);

/** VMS_OK when d is complete (device_api and type set), VMS_E_BAD_DESCRIPTOR
 * otherwise.  Every other field is valid by construction.  Format, encode
 * and compat_check need complete descriptors.  Also VMS_E_INVALID_ARG (d
 * NULL).  Read-only. */
VMS_API vms_status vms_descriptor_validate(const vms_descriptor *d);

/** Vendor id (see vmstream.h): bit 31 set = PCI vendor id in bits 0..15
 * with bits 16..30 zero; bit 31 clear: only 0 ("unspecified") is valid.
 * Errors: VMS_E_INVALID_ARG (d NULL), VMS_E_BAD_VENDOR_ID (d unchanged).
 * Per object. */
VMS_API vms_status vms_descriptor_set_vendor_id(vms_descriptor *d, uint32_t id);
/** The descriptor's vendor id.  Cannot fail.  Read-only. */
VMS_API uint32_t vms_descriptor_get_vendor_id(const vms_descriptor *d);

/** Device API ("vfio-pci", "vfio-ccw", "vfio-ap", "vfio-platform", ...) and
 * device type ("nvidia-11", "i915-GVTg_V5_4", ...).  Identifiers: 1 to
 * VMS_DESC_MAX_IDENT bytes of [A-Za-z0-9._:-], the first one a letter or
 * digit.  Errors: VMS_E_INVALID_ARG (NULL, or not an identifier).
 * The getters return "" until set; never NULL.  The string (api, type) is
 * copied.  Per object. */
VMS_API vms_status vms_descriptor_set_device_api(vms_descriptor *d,
                                                 const char *api);
/** The device API, "" until set; never NULL.  Owned by the descriptor
 * (valid until it is modified or freed).  Read-only. */
VMS_API const char *vms_descriptor_get_device_api(const vms_descriptor *d);
/** Sets the device type (an identifier, copied).
 * Errors: VMS_E_INVALID_ARG (NULL, or not an identifier; d unchanged).
 * Per object. */
VMS_API vms_status vms_descriptor_set_type(vms_descriptor *d, const char *type);
/** The device type, "" until set; never NULL.  Owned by the descriptor
 * (valid until it is modified or freed).  Read-only. */
VMS_API const char *vms_descriptor_get_type(const vms_descriptor *d);

/** Interface version.  Any uint32 values.  Errors: VMS_E_INVALID_ARG (d
 * NULL).  Per object. */
VMS_API vms_status vms_descriptor_set_version(vms_descriptor *d, uint32_t major,
                                              uint32_t minor, uint32_t bugfix);
/** The interface version, by value.  Cannot fail.  Read-only. */
VMS_API vms_device_version vms_descriptor_get_version(const vms_descriptor *d);

/** Accepted source types (target side): other device types whose state this
 * device can load.  Kept sorted (byte order) and unique.  add: the type is
 * an identifier as above.  Errors: VMS_E_INVALID_ARG (bad identifier,
 * already listed, or VMS_DESC_MAX_ACCEPT reached).  get returns the index-th
 * type in sorted order, or NULL when index >= count.  The type is copied;
 * d is unchanged on error.  Per object. */
VMS_API vms_status vms_descriptor_add_accept_type(vms_descriptor *d,
                                                  const char *type);
/** Number of accepted source types.  Cannot fail.  Read-only. */
VMS_API size_t vms_descriptor_accept_type_count(const vms_descriptor *d);
/** The index-th accepted type in sorted order, or NULL when index >= count.
 * Owned by the descriptor (valid until it is modified or freed).
 * Read-only. */
VMS_API const char *vms_descriptor_get_accept_type(const vms_descriptor *d,
                                                   size_t index);

/** Denied source versions (target side): exact versions whose state this
 * device refuses (e.g. a producer with a known stream bug).  Kept sorted
 * (numerically by major, minor, bugfix) and unique.  Errors of add:
 * VMS_E_INVALID_ARG (already listed, or VMS_DESC_MAX_DENY reached).  get:
 * VMS_E_INVALID_ARG when index >= count (out unchanged).  d is unchanged
 * on error.  Per object. */
VMS_API vms_status vms_descriptor_add_deny_version(vms_descriptor *d,
                                                   uint32_t major,
                                                   uint32_t minor,
                                                   uint32_t bugfix);
/** Number of denied versions.  Cannot fail.  Read-only. */
VMS_API size_t vms_descriptor_deny_version_count(const vms_descriptor *d);
/** Copies the index-th denied version (sorted order) into *out.
 * Errors: VMS_E_INVALID_ARG when index >= count (out unchanged).
 * Read-only. */
VMS_API vms_status vms_descriptor_get_deny_version(const vms_descriptor *d,
                                                   size_t index,
                                                   vms_device_version *out);

/** Vendor fields, kept sorted by name (byte order), names unique.
 * name: 1 to VMS_DESC_MAX_NAME bytes of [A-Za-z0-9_-], the first a letter
 * or digit (no '.', so that the text key field.NAME.rule is unambiguous).
 * value: 1 to VMS_DESC_MAX_VALUE bytes, depending on rule:
 *   VMS_FIELD_EQUAL     [A-Za-z0-9] and - _ . : + , / @ % ~
 *   VMS_FIELD_SUPERSET  elements of [A-Za-z0-9._:-]+ joined by single '+';
 *                       no duplicate element.  The value is stored (and
 *                       returned, formatted, encoded) with its elements in
 *                       byte order: "none+ppgtt+context" is stored as
 *                       "context+none+ppgtt".
 *   VMS_FIELD_GE        an unsigned decimal integer <= UINT64_MAX without
 *                       leading zeros ("0", "7", "1024").
 * Errors of add: VMS_E_INVALID_ARG (bad name/value/rule, name already
 * present, or VMS_DESC_MAX_FIELDS reached).
 * get: the index-th field in name order; any of name/value/rule may be
 * NULL; VMS_E_INVALID_ARG when index >= count.
 * find: index of the field called name, or -1.
 * name and value are copied; d is unchanged on error.  Per object. */
VMS_API vms_status vms_descriptor_add_field(vms_descriptor *d, const char *name,
                                            const char *value,
                                            vms_field_rule rule);
/** Number of vendor fields.  Cannot fail.  Read-only. */
VMS_API size_t vms_descriptor_field_count(const vms_descriptor *d);
/** The index-th vendor field in name order; any of name, value and rule may
 * be NULL.  The strings are owned by the descriptor (valid until it is
 * modified or freed).  Errors: VMS_E_INVALID_ARG when index >= count.
 * Read-only. */
VMS_API vms_status vms_descriptor_get_field(const vms_descriptor *d,
                                            size_t index, const char **name,
                                            const char **value,
                                            vms_field_rule *rule);
/** Index of the vendor field called name (for vms_descriptor_get_field()),
 * or -1 when there is none.  Read-only. */
VMS_API long vms_descriptor_find_field(const vms_descriptor *d,
                                       const char *name);

/** Name of a rule as used in the text form ("equal", "superset", "ge"), or
 * "?" for an unknown value.  Thread-safe, never NULL. */
VMS_API const char *vms_field_rule_name(vms_field_rule rule);

/** Non-zero when a and b describe the same thing (every member equal).
 * Because descriptors are kept canonical, equal descriptors have identical
 * text and binary forms.  Cannot fail.  Read-only (on both). */
VMS_API int vms_descriptor_equal(const vms_descriptor *a,
                                 const vms_descriptor *b);

/* ------------------------------------------------------------------------ */
/* Text form (doc/COMPAT.md, section 5)                                      */
/* ------------------------------------------------------------------------ */

/** Parses len bytes of descriptor text into a new descriptor (*out, free it
 * with vms_descriptor_free).  The text need not be NUL-terminated; a NUL
 * byte in it is an error.  Strict: unknown keys, duplicate keys, bytes
 * outside printable ASCII (tab allowed as blank), over-long lines or values
 * and missing required keys (vendor_id, device_api, type, version) are all
 * errors.  err may be NULL; otherwise it receives the detail (line number
 * and message) on error and is cleared on success.  *out is set to NULL on
 * error.
 * Errors: VMS_E_INVALID_ARG (out NULL, or text NULL with len > 0),
 * VMS_E_NOMEM, VMS_E_BAD_DESCRIPTOR (the text is not a valid descriptor).
 * Thread-safe (text and err are the caller's). */
VMS_API vms_status vms_descriptor_parse_text(vms_descriptor **out,
                                             const char *text, size_t len,
                                             const vms_allocator *mem,
                                             vms_descriptor_error *err);

/** Writes d in canonical text form (fixed keys first, then fields in name
 * order, each followed by its rule line; LF line endings) as a
 * NUL-terminated string into buf.  *needed (may be NULL) receives the size
 * required including the terminating NUL.  buf may be NULL when cap is 0
 * (size query).  Errors: VMS_E_INVALID_ARG (NULL d, or cap < *needed: buf is
 * then left untouched), VMS_E_BAD_DESCRIPTOR (d incomplete).  Read-only. */
VMS_API vms_status vms_descriptor_format_text(const vms_descriptor *d,
                                              char *buf, size_t cap,
                                              size_t *needed);

/* ------------------------------------------------------------------------ */
/* Binary form (doc/DESCRIPTOR-BINARY.md)                                    */
/* ------------------------------------------------------------------------ */

/** Writes the canonical binary encoding of d into buf.  *needed (may be
 * NULL) receives its exact size (at most VMS_DESC_MAX_BINARY).  buf may be
 * NULL when cap is 0 (size query).  Equal descriptors give identical
 * bytes.  Errors: VMS_E_INVALID_ARG (NULL d, or cap < *needed: buf is then
 * left untouched), VMS_E_BAD_DESCRIPTOR (d incomplete).  Read-only. */
VMS_API vms_status vms_descriptor_encode(const vms_descriptor *d, uint8_t *buf,
                                         size_t cap, size_t *needed);

/** Decodes exactly len bytes (buf may hold nothing else: trailing bytes are
 * an error) into a new descriptor.  Accepts only canonical encodings, so
 * that decode followed by encode reproduces buf exactly.  err may be NULL;
 * on error it receives the byte offset of the offending field and a
 * message, and *out is set to NULL.
 * Errors: VMS_E_INVALID_ARG (out NULL, or buf NULL with len > 0),
 * VMS_E_NOMEM, VMS_E_BAD_DESCRIPTOR (not a valid canonical encoding).
 * *out is owned by the caller (vms_descriptor_free()).  Thread-safe. */
VMS_API vms_status vms_descriptor_decode(vms_descriptor **out,
                                         const uint8_t *buf, size_t len,
                                         const vms_allocator *mem,
                                         vms_descriptor_error *err);

/* ------------------------------------------------------------------------ */
/* Compatibility check (doc/COMPAT.md, sections 3 and 4)                     */
/* ------------------------------------------------------------------------ */

/** The rule that failed.  Values are stable (never renumbered).  Order of
 * evaluation: rules 1..6 in numeric order; then, for each vendor field of
 * the source in name order, rules 7, 8, 9, 10 for that field; then rule 11.
 * The first failure is reported. */
typedef enum vms_compat_rule {
    VMS_COMPAT_OK = 0,              /* compatible */
    VMS_COMPAT_VENDOR = 1,          /* vendor ids differ */
    VMS_COMPAT_DEVICE_API = 2,      /* device APIs differ */
    VMS_COMPAT_TYPE = 3,            /* type not the target's nor accepted */
    VMS_COMPAT_MAJOR = 4,           /* interface majors differ */
    VMS_COMPAT_MINOR = 5,           /* source minor > target minor */
    VMS_COMPAT_DENIED = 6,          /* source version on the deny list */
    VMS_COMPAT_FIELD_CALLBACK = 7,  /* vendor field callback refused a field */
    VMS_COMPAT_FIELD_MISSING = 8,   /* a source field is absent in the target */
    VMS_COMPAT_FIELD_RULE = 9,      /* a field has different rules */
    VMS_COMPAT_FIELD_VALUE = 10,    /* a field does not satisfy its rule */
    VMS_COMPAT_VENDOR_CALLBACK = 11 /* the final vendor check refused */
} vms_compat_rule;

/** Short stable name of a rule ("ok", "vendor", "device_api", "type",
 * "major", "minor", "denied", "field_callback", "field_missing",
 * "field_rule", "field_value", "vendor_callback"), for logs and JSON; "?"
 * when unknown.  Thread-safe, never NULL. */
VMS_API const char *vms_compat_rule_name(vms_compat_rule rule);

/** A vendor callback's answer. */
typedef enum vms_compat_verdict {
    VMS_VERDICT_ERROR = -1,  /* the callback failed: the check fails with
                                VMS_E_CALLBACK */
    VMS_VERDICT_DEFAULT = 0, /* no opinion: apply the built-in rule */
    VMS_VERDICT_ACCEPT = 1,  /* compatible (as far as this check goes) */
    VMS_VERDICT_REFUSE = 2   /* incompatible; why explains it */
} vms_compat_verdict;

/** Optional vendor hooks.  Every member may be NULL.  Callbacks must be
 * deterministic and must not modify the descriptors.  why points to a
 * zeroed buffer of why_cap (= VMS_COMPAT_WHY_MAX) bytes for a refusal
 * reason; it is included in the result's reason (non-printable bytes
 * replaced by '?').
 *
 * field: called for each vendor field of the source, in name order, before
 *   the built-in checks of that field.  target_value/target_rule describe
 *   the target's field of the same name; target_value is NULL (and
 *   target_rule meaningless) when the target has no such field.
 *   ACCEPT: the field passes, whatever the built-in rule says (this is how a
 *     vendor decides a field only it understands, e.g. from its own
 *     compatibility table, or a field the target lacks);
 *   REFUSE: the check fails with VMS_COMPAT_FIELD_CALLBACK;
 *   DEFAULT: the built-in checks apply (rules 8..10).
 * final: called last, only when every other rule passed.  DEFAULT and
 *   ACCEPT mean compatible; REFUSE fails with VMS_COMPAT_VENDOR_CALLBACK. */
typedef struct vms_compat_options {
    vms_compat_verdict (*field)(void *ctx, const char *name,
                                const char *source_value,
                                vms_field_rule source_rule,
                                const char *target_value,
                                vms_field_rule target_rule,
                                char *why, size_t why_cap); /* per-field hook, or NULL */
    vms_compat_verdict (*final)(void *ctx, const vms_descriptor *source,
                                const vms_descriptor *target,
                                char *why, size_t why_cap); /* final hook, or NULL */
    void *ctx; /* passed to both hooks */
} vms_compat_options;

/** Outcome of a check.  Caller-owned. */
typedef struct vms_compat_result {
    vms_compat_rule rule;          /* first failing rule, VMS_COMPAT_OK */
    char field[VMS_DESC_MAX_NAME + 1]; /* field concerned by rules 7..10,
                                          else "" */
    char reason[VMS_COMPAT_REASON_MAX]; /* one sentence naming the rule and
                                           both values (printable ASCII) */
} vms_compat_result;

/** Decides whether state produced by a device described by source may be
 * loaded into a device described by target.  The rules are evaluated in
 * vms_compat_rule order and the first failing one is reported; the answer
 * depends only on the two descriptors and the callbacks (deterministic).
 * opt may be NULL (no vendor hooks).  res (may be NULL) receives the rule
 * and the reason; it is always filled when non-NULL, also on success
 * ("compatible: ...").
 * Returns VMS_OK when compatible, VMS_E_INCOMPATIBLE when not.
 * Errors: VMS_E_INVALID_ARG (NULL descriptor, or one incomplete),
 * VMS_E_CALLBACK (a callback returned VMS_VERDICT_ERROR or an unknown
 * value; res->rule names the callback's rule).  Read-only (on both
 * descriptors; the callbacks run on the calling thread). */
VMS_API vms_status vms_compat_check(const vms_descriptor *source,
                                    const vms_descriptor *target,
                                    const vms_compat_options *opt,
                                    vms_compat_result *res);

/* ------------------------------------------------------------------------ */
/* Descriptors in the stream                                                 */
/* ------------------------------------------------------------------------ */

/** Carries desc, in its canonical binary form, as the stream header's
 * device-version blob (optional feature DESCRIPTOR), and sets the header's
 * vendor id to the descriptor's.  The descriptor is copied.  Before the
 * first write only.  Errors: VMS_E_INVALID_ARG (incomplete descriptor),
 * VMS_E_STATE, VMS_E_NOMEM.  Per object (on enc; desc is only read). */
VMS_API vms_status vms_encoder_set_descriptor(vms_encoder *enc,
                                              const vms_descriptor *desc);

/** Makes the decoder check the stream's descriptor against target (copied)
 * with vms_compat_check() before any record is delivered.  A stream with no
 * descriptor, or an incompatible one, is refused at its header with
 * VMS_E_INCOMPATIBLE; the error message carries the rule name and the same
 * reason vms_compat_check() gives.  opt (copied; its ctx must outlive the
 * decoder) may be NULL.  Whether or not a target is set, a stream that
 * declares a descriptor has it decoded and its vendor id checked against
 * the header's (VMS_E_BAD_DESCRIPTOR).  Before the first feed only.
 * Errors: VMS_E_INVALID_ARG, VMS_E_STATE, VMS_E_NOMEM.  Per object (on dec;
 * target is only read). */
VMS_API vms_status vms_decoder_set_target(vms_decoder *dec,
                                          const vms_descriptor *target,
                                          const vms_compat_options *opt);
/** The stream's descriptor once the header's checksum (or MAC) verified and
 * the descriptor decoded — also after the stream was refused with
 * VMS_E_INCOMPATIBLE, so a caller can re-run vms_compat_check() for the
 * full result — else NULL (also when the stream carries none).  Owned by
 * the decoder: valid until it is freed; do not modify or free it.
 * Read-only. */
VMS_API const vms_descriptor *vms_decoder_descriptor(const vms_decoder *dec);

#ifdef __cplusplus
}
#endif

#endif /* VMSTREAM_COMPAT_H */
