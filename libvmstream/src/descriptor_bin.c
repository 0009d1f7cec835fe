/* descriptor_bin.c - the canonical binary encoding of a descriptor, carried
 * as the stream header's device-version blob (doc/DESCRIPTOR-BINARY.md is
 * normative).  The decoder accepts exactly the encodings the encoder can
 * produce: decode(b) succeeds only if encode(decode(b)) == b. */
#include "descriptor_internal.h"

#include <assert.h>
#include <stdio.h>

#define VMSD_MAGIC "VMSD"
#define VMSD_VERSION 1

/* fixed part */
#define VMSD_O_MAGIC 0    /* 4 "VMSD" */
#define VMSD_O_VERSION 4  /* 1 encoding version (1) */
#define VMSD_O_RESERVED 5 /* 1 zero */
#define VMSD_O_LENGTH 6   /* 2 total length of the encoding */
#define VMSD_O_VENDOR 8   /* 4 vendor id */
#define VMSD_O_MAJOR 12   /* 4 */
#define VMSD_O_MINOR 16   /* 4 */
#define VMSD_O_BUGFIX 20  /* 4 */
#define VMSD_FIXED 24     /* variable part follows */

#define VMSD_DENY_ENTRY 12

/* The largest encoding: every string and list at its limit. */
#define VMSD_MAX                                                            \
    (VMSD_FIXED + 2 * (1 + VMS_DESC_MAX_IDENT) +                            \
     1 + VMS_DESC_MAX_ACCEPT * (1 + VMS_DESC_MAX_IDENT) +                   \
     1 + VMS_DESC_MAX_DENY * VMSD_DENY_ENTRY +                              \
     1 + VMS_DESC_MAX_FIELDS * (1 + VMS_DESC_MAX_NAME + 1 + 1 + VMS_DESC_MAX_VALUE))
/* The smallest: one-byte device_api and type, empty lists. */
#define VMSD_MIN (VMSD_FIXED + 2 + 2 + 1 + 1 + 1)
static_assert(VMSD_MIN == 31, "doc/DESCRIPTOR-BINARY.md states 31");
static_assert(VMSD_MAX == 13309, "doc/DESCRIPTOR-BINARY.md states 13309");
static_assert(VMSD_MAX <= VMS_DESC_MAX_BINARY, "fits the advertised maximum");
static_assert(VMS_DESC_MAX_BINARY <= 0xffff, "total length fits 16 bits");
static_assert(VMS_DESC_MAX_BINARY <= VMS_MAX_BLOB_BYTES, "fits a header blob");
static_assert(VMS_DESC_MAX_IDENT <= 255 && VMS_DESC_MAX_NAME <= 255 &&
                  VMS_DESC_MAX_VALUE <= 255,
              "string lengths fit one byte");
static_assert(VMS_DESC_MAX_ACCEPT <= 255 && VMS_DESC_MAX_DENY <= 255 &&
                  VMS_DESC_MAX_FIELDS <= 255,
              "counts fit one byte");

/* ---- encoder --------------------------------------------------------------- */

static size_t encoded_size(const vms_descriptor *d)
{
    size_t n = VMSD_FIXED;
    n += 1 + strlen(d->device_api);
    n += 1 + strlen(d->type);
    n += 1;
    for (uint32_t i = 0; i < d->n_accept; i++)
        n += 1 + strlen(d->accept[i]);
    n += 1 + (size_t)d->n_deny * VMSD_DENY_ENTRY;
    n += 1;
    for (uint32_t i = 0; i < d->n_fields; i++)
        n += 3u + d->fields[i].name_len + d->fields[i].value_len;
    return n;
}

static uint8_t *put_str(uint8_t *p, const char *s, size_t len)
{
    *p++ = (uint8_t)len;
    memcpy(p, s, len);
    return p + len;
}

vms_status vms_descriptor_encode(const vms_descriptor *d, uint8_t *buf,
                                 size_t cap, size_t *needed)
{
    if (needed)
        *needed = 0;
    if (!d || (!buf && cap > 0))
        return VMS_E_INVALID_ARG;
    vms_status st = vms_descriptor_validate(d);
    if (st != VMS_OK)
        return st;
    size_t n = encoded_size(d);
    if (needed)
        *needed = n;
    if (!buf || cap < n)
        return VMS_E_INVALID_ARG;

    uint8_t *p = buf;
    memcpy(p + VMSD_O_MAGIC, VMSD_MAGIC, 4);
    p[VMSD_O_VERSION] = VMSD_VERSION;
    p[VMSD_O_RESERVED] = 0;
    vms_put16(p + VMSD_O_LENGTH, (uint16_t)n);
    vms_put32(p + VMSD_O_VENDOR, d->vendor_id);
    vms_put32(p + VMSD_O_MAJOR, d->version.major);
    vms_put32(p + VMSD_O_MINOR, d->version.minor);
    vms_put32(p + VMSD_O_BUGFIX, d->version.bugfix);
    p += VMSD_FIXED;
    p = put_str(p, d->device_api, strlen(d->device_api));
    p = put_str(p, d->type, strlen(d->type));
    *p++ = (uint8_t)d->n_accept;
    for (uint32_t i = 0; i < d->n_accept; i++)
        p = put_str(p, d->accept[i], strlen(d->accept[i]));
    *p++ = (uint8_t)d->n_deny;
    for (uint32_t i = 0; i < d->n_deny; i++) {
        vms_put32(p, d->deny[i].major);
        vms_put32(p + 4, d->deny[i].minor);
        vms_put32(p + 8, d->deny[i].bugfix);
        p += VMSD_DENY_ENTRY;
    }
    *p++ = (uint8_t)d->n_fields;
    for (uint32_t i = 0; i < d->n_fields; i++) {
        const vms_desc_field *f = &d->fields[i];
        p = put_str(p, f->name, f->name_len);
        *p++ = (uint8_t)f->rule;
        p = put_str(p, f->value, f->value_len);
    }
    if ((size_t)(p - buf) != n)
        return VMS_E_INTERNAL;
    return VMS_OK;
}

/* ---- decoder --------------------------------------------------------------- */

/* A bounded read cursor: a failed read does not move it. */
typedef struct cursor {
    const uint8_t *p;
    size_t len, pos;
    vms_descriptor_error *err;
} cursor;

static void fail_msg(cursor *c, size_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_msg(cursor *c, size_t offset, const char *fmt, ...)
{
    if (c->err) {
        va_list ap;
        c->err->code = VMS_E_BAD_DESCRIPTOR;
        c->err->line = 0;
        c->err->offset = offset;
        va_start(ap, fmt);
        vsnprintf(c->err->message, sizeof c->err->message, fmt, ap);
        va_end(ap);
    }
}

/* Records the error and yields its code.  A macro, so that the code is
 * visible where the error is returned (a static analyser does not follow
 * a variadic call to see that it never returns VMS_OK). */
#define fail(...) (fail_msg(__VA_ARGS__), VMS_E_BAD_DESCRIPTOR)

static vms_status need(cursor *c, size_t n, const char *what)
{
    if (c->len - c->pos < n)
        return fail(c, c->pos,
                    "truncated: %s needs %zu bytes at offset %zu but %zu remain",
                    what, n, c->pos, c->len - c->pos);
    return VMS_OK;
}

static vms_status get_u8(cursor *c, const char *what, uint8_t *out)
{
    vms_status st = need(c, 1, what);
    if (st == VMS_OK)
        *out = c->p[c->pos++];
    return st;
}

static vms_status get_u32(cursor *c, const char *what, uint32_t *out)
{
    vms_status st = need(c, 4, what);
    if (st == VMS_OK) {
        *out = vms_le32(c->p + c->pos);
        c->pos += 4;
    }
    return st;
}

/* A length byte in [1, max] then that many bytes; *s points into the input. */
static vms_status get_str(cursor *c, const char *what, size_t max,
                          const char **s, size_t *len)
{
    size_t at = c->pos;
    uint8_t n;
    vms_status st = get_u8(c, what, &n);
    if (st != VMS_OK)
        return st;
    if (n == 0 || n > max) {
        c->pos = at;
        return fail(c, at, "length %u of %s is outside 1..%zu", (unsigned)n, what,
                    max);
    }
    if (c->len - c->pos < n) {
        c->pos = at;
        return fail(c, at,
                    "truncated: %s needs %u bytes at offset %zu but %zu remain",
                    what, (unsigned)n, at + 1, c->len - at - 1);
    }
    *s = (const char *)(c->p + c->pos);
    *len = n;
    c->pos += n;
    return VMS_OK;
}

static vms_status decode_all(cursor *c, vms_descriptor *d)
{
    char q[180];
    const char *s, *why;
    size_t n, bad, at;
    uint8_t u8;
    vms_status st;

    /* header */
    n = c->len < 4 ? c->len : 4;
    if (memcmp(c->p, VMSD_MAGIC, n) != 0)
        return fail(c, 0, "bad magic: a binary descriptor starts with \"VMSD\"");
    if ((st = need(c, VMSD_FIXED, "the fixed part")) != VMS_OK)
        return st;
    if (c->p[VMSD_O_VERSION] != VMSD_VERSION)
        return fail(c, VMSD_O_VERSION, "encoding version %u is not supported (1)",
                    (unsigned)c->p[VMSD_O_VERSION]);
    if (c->p[VMSD_O_RESERVED] != 0)
        return fail(c, VMSD_O_RESERVED, "reserved byte is 0x%02x, not zero",
                    (unsigned)c->p[VMSD_O_RESERVED]);
    size_t total = vms_le16(c->p + VMSD_O_LENGTH);
    if (total < VMSD_MIN || total > VMSD_MAX)
        return fail(c, VMSD_O_LENGTH, "total length %zu is outside %u..%u", total,
                    (unsigned)VMSD_MIN, (unsigned)VMSD_MAX);
    if (total > c->len)
        return fail(c, VMSD_O_LENGTH,
                    "truncated: total length is %zu but only %zu bytes are given",
                    total, c->len);
    if (total < c->len)
        return fail(c, total, "%zu trailing bytes after the descriptor (total "
                              "length %zu)",
                    c->len - total, total);
    d->vendor_id = vms_le32(c->p + VMSD_O_VENDOR);
    if (!vms_desc_vendor_ok(d->vendor_id))
        return fail(c, VMSD_O_VENDOR, "vendor id 0x%08x is reserved",
                    (unsigned)d->vendor_id);
    d->version.major = vms_le32(c->p + VMSD_O_MAJOR);
    d->version.minor = vms_le32(c->p + VMSD_O_MINOR);
    d->version.bugfix = vms_le32(c->p + VMSD_O_BUGFIX);
    c->pos = VMSD_FIXED;

    /* device_api, type */
    for (int k = 0; k < 2; k++) {
        const char *what = k == 0 ? "device_api" : "type";
        at = c->pos;
        if ((st = get_str(c, what, VMS_DESC_MAX_IDENT, &s, &n)) != VMS_OK)
            return st;
        if ((why = vms_desc_check_ident(s, n, &bad)) != NULL) {
            vms_desc_quote(q, sizeof q, s, n, 40);
            return fail(c, at + 1 + bad, "%s \"%s\" %s", what, q, why);
        }
        char *dst = k == 0 ? d->device_api : d->type;
        memcpy(dst, s, n);
        dst[n] = '\0';
    }

    /* accepted types */
    at = c->pos;
    if ((st = get_u8(c, "the accepted type count", &u8)) != VMS_OK)
        return st;
    if (u8 > VMS_DESC_MAX_ACCEPT)
        return fail(c, at, "%u accepted types; the limit is %u", (unsigned)u8,
                    VMS_DESC_MAX_ACCEPT);
    for (uint32_t i = 0; i < u8; i++) {
        at = c->pos;
        if ((st = get_str(c, "an accepted type", VMS_DESC_MAX_IDENT, &s, &n)) !=
            VMS_OK)
            return st;
        if ((why = vms_desc_check_ident(s, n, &bad)) != NULL) {
            vms_desc_quote(q, sizeof q, s, n, 40);
            return fail(c, at + 1 + bad, "accepted type \"%s\" %s", q, why);
        }
        memcpy(d->accept[i], s, n);
        d->accept[i][n] = '\0';
        if (i > 0 && vms_desc_str_cmp(d->accept[i - 1], d->accept[i]) >= 0)
            return fail(c, at,
                        "accepted type \"%s\" is not after \"%s\" in byte order "
                        "(not canonical)",
                        d->accept[i], d->accept[i - 1]);
        d->n_accept = i + 1;
    }

    /* denied versions */
    at = c->pos;
    if ((st = get_u8(c, "the denied version count", &u8)) != VMS_OK)
        return st;
    if (u8 > VMS_DESC_MAX_DENY)
        return fail(c, at, "%u denied versions; the limit is %u", (unsigned)u8,
                    VMS_DESC_MAX_DENY);
    for (uint32_t i = 0; i < u8; i++) {
        vms_device_version *v = &d->deny[i];
        at = c->pos;
        if ((st = need(c, VMSD_DENY_ENTRY, "a denied version")) != VMS_OK)
            return st;
        (void)get_u32(c, "", &v->major);
        (void)get_u32(c, "", &v->minor);
        (void)get_u32(c, "", &v->bugfix);
        if (i > 0 && vms_desc_version_cmp(&d->deny[i - 1], v) >= 0)
            return fail(c, at,
                        "denied version %u.%u.%u is not after %u.%u.%u (not "
                        "canonical)",
                        (unsigned)v->major, (unsigned)v->minor,
                        (unsigned)v->bugfix, (unsigned)d->deny[i - 1].major,
                        (unsigned)d->deny[i - 1].minor,
                        (unsigned)d->deny[i - 1].bugfix);
        d->n_deny = i + 1;
    }

    /* vendor fields */
    at = c->pos;
    if ((st = get_u8(c, "the field count", &u8)) != VMS_OK)
        return st;
    if (u8 > VMS_DESC_MAX_FIELDS)
        return fail(c, at, "%u vendor fields; the limit is %u", (unsigned)u8,
                    VMS_DESC_MAX_FIELDS);
    for (uint32_t i = 0; i < u8; i++) {
        vms_desc_field *f = &d->fields[i];
        at = c->pos;
        if ((st = get_str(c, "a field name", VMS_DESC_MAX_NAME, &s, &n)) != VMS_OK)
            return st;
        if ((why = vms_desc_check_name(s, n, &bad)) != NULL) {
            vms_desc_quote(q, sizeof q, s, n, 40);
            return fail(c, at + 1 + bad, "field name \"%s\" %s", q, why);
        }
        memcpy(f->name, s, n);
        f->name[n] = '\0';
        f->name_len = (uint8_t)n;
        if (i > 0 && vms_desc_str_cmp(d->fields[i - 1].name, f->name) >= 0)
            return fail(c, at,
                        "field \"%s\" is not after \"%s\" in byte order (not "
                        "canonical)",
                        f->name, d->fields[i - 1].name);
        uint8_t rule;
        at = c->pos;
        if ((st = get_u8(c, "a field rule", &rule)) != VMS_OK)
            return st;
        if (!vms_desc_rule_ok(rule))
            return fail(c, at, "rule %u of field \"%s\" is unknown (0 equal, 1 "
                               "superset, 2 ge)",
                        (unsigned)rule, f->name);
        f->rule = (vms_field_rule)rule;
        at = c->pos;
        if ((st = get_str(c, "a field value", VMS_DESC_MAX_VALUE, &s, &n)) !=
            VMS_OK)
            return st;
        if ((why = vms_desc_check_value(s, n, f->rule, true, NULL, &bad)) !=
            NULL) {
            vms_desc_quote(q, sizeof q, s, n, 40);
            return fail(c, at + 1 + (bad < n ? bad : 0),
                        "value \"%s\" of field \"%s\" (rule %s) %s", q, f->name,
                        vms_field_rule_name(f->rule), why);
        }
        memcpy(f->value, s, n);
        f->value[n] = '\0';
        f->value_len = (uint8_t)n;
        d->n_fields = i + 1;
    }
    if (c->pos != c->len)
        return fail(c, c->pos, "%zu trailing bytes after the last field",
                    c->len - c->pos);
    return VMS_OK;
}

vms_status vms_descriptor_decode(vms_descriptor **out, const uint8_t *buf,
                                 size_t len, const vms_allocator *mem,
                                 vms_descriptor_error *err)
{
    static const uint8_t empty[1] = {0};
    cursor c;

    if (err)
        memset(err, 0, sizeof *err);
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = NULL;
    if (!buf && len > 0) {
        if (err)
            err->code = VMS_E_INVALID_ARG;
        return VMS_E_INVALID_ARG;
    }
    vms_descriptor *d = vms_desc_alloc(mem);
    if (!d) {
        if (err) {
            err->code = VMS_E_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory");
        }
        return VMS_E_NOMEM;
    }
    c.p = buf ? buf : empty;
    c.len = len;
    c.pos = 0;
    c.err = err;
    vms_status st = decode_all(&c, d);
    if (st != VMS_OK) {
        vms_descriptor_free(d);
        return st;
    }
    *out = d;
    return VMS_OK;
}
