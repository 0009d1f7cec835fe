/* descriptor_internal.h - private layout of vms_descriptor and the
 * validators shared by descriptor.c, descriptor_text.c, descriptor_bin.c
 * and compat.c (issue 3). */
#ifndef VMS_DESCRIPTOR_INTERNAL_H
#define VMS_DESCRIPTOR_INTERNAL_H

#include "internal.h"
#include "vmstream_compat.h"

/* One vendor field.  Strings are NUL-terminated; lengths are cached. */
typedef struct vms_desc_field {
    char name[VMS_DESC_MAX_NAME + 1];
    char value[VMS_DESC_MAX_VALUE + 1];
    uint8_t name_len;
    uint8_t value_len;
    vms_field_rule rule;
} vms_desc_field;

/* The whole descriptor lives in one allocation: every member is bounded by
 * the VMS_DESC_MAX_* limits, so setters never allocate.  Invariants (kept
 * by every setter, checked by the binary decoder):
 *  - vendor_id passes vms_desc_vendor_ok();
 *  - device_api/type are "" or identifiers;
 *  - accept[] strictly ascending (byte order), identifiers;
 *  - deny[] strictly ascending (major, minor, bugfix);
 *  - fields[] strictly ascending by name; each value canonical for its rule
 *    (superset elements ascending and unique, ge without leading zeros). */
struct vms_descriptor {
    vms_mem mem;
    uint32_t vendor_id;
    vms_device_version version;
    char device_api[VMS_DESC_MAX_IDENT + 1];
    char type[VMS_DESC_MAX_IDENT + 1];
    uint32_t n_accept;
    uint32_t n_deny;
    uint32_t n_fields;
    char accept[VMS_DESC_MAX_ACCEPT][VMS_DESC_MAX_IDENT + 1];
    vms_device_version deny[VMS_DESC_MAX_DENY];
    vms_desc_field fields[VMS_DESC_MAX_FIELDS];
};

/* ---- validators --------------------------------------------------------
 * Each checks len bytes at s (not necessarily NUL-terminated) and returns
 * NULL when valid, or a static English phrase describing the problem, with
 * *bad set to the index of the offending byte (or len for a length
 * problem). */
VMS_INTERNAL const char *vms_desc_check_ident(const char *s, size_t len,
                                              size_t *bad);
VMS_INTERNAL const char *vms_desc_check_name(const char *s, size_t len,
                                             size_t *bad);
/* Checks a field value for rule.  When out is non-NULL (capacity
 * VMS_DESC_MAX_VALUE + 1) it receives the canonical form, NUL-terminated
 * (for superset: elements sorted; otherwise a copy).  When canonical_only
 * is set, a valid but non-canonical value (unsorted set) is an error. */
VMS_INTERNAL const char *vms_desc_check_value(const char *s, size_t len,
                                              vms_field_rule rule,
                                              bool canonical_only, char *out,
                                              size_t *bad);
VMS_INTERNAL bool vms_desc_vendor_ok(uint32_t id);
VMS_INTERNAL bool vms_desc_rule_ok(uint32_t rule);
/* Three-way comparisons used for the canonical orders. */
VMS_INTERNAL int vms_desc_version_cmp(const vms_device_version *a,
                                      const vms_device_version *b);
VMS_INTERNAL int vms_desc_str_cmp(const char *a, const char *b);

/* ---- unchecked-order inserts ---------------------------------------------
 * Insert keeping the sorted order.  Return VMS_OK, or VMS_E_INVALID_ARG for
 * a duplicate or a full list (*why names which).  Inputs must already be
 * validated (and canonical, for field values). */
VMS_INTERNAL vms_status vms_desc_insert_accept(vms_descriptor *d,
                                               const char *type, size_t len,
                                               const char **why);
VMS_INTERNAL vms_status vms_desc_insert_deny(vms_descriptor *d,
                                             const vms_device_version *v,
                                             const char **why);
VMS_INTERNAL vms_status vms_desc_insert_field(vms_descriptor *d,
                                              const char *name, size_t name_len,
                                              const char *value,
                                              size_t value_len,
                                              vms_field_rule rule,
                                              const char **why);

/* Allocates an empty descriptor with m (already resolved). */
VMS_INTERNAL vms_descriptor *vms_desc_alloc(const vms_allocator *mem);

/* Writes s (len bytes) into out (cap bytes, NUL-terminated), truncated to
 * at most max_shown input bytes with "..." appended, every byte outside
 * printable ASCII shown as \xNN and '"' and '\\' escaped.  For echoing
 * untrusted input in messages. */
VMS_INTERNAL void vms_desc_quote(char *out, size_t cap, const char *s,
                                 size_t len, size_t max_shown);

#endif
