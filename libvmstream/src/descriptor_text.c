/* descriptor_text.c - the key=value text form of a descriptor: a strict,
 * bounded parser and the canonical formatter (doc/COMPAT.md,
 * section 5). */
#include "descriptor_internal.h"

#include <assert.h>
#include <stdio.h>

/* Every line the formatter writes must be accepted by the parser. */
static_assert(sizeof "deny_versions=" - 1 +
                      VMS_DESC_MAX_DENY * (3 * 10 + 2 + 1) - 1 <=
                  VMS_DESC_MAX_LINE,
              "a full deny list fits one line");
static_assert(sizeof "accept_types=" - 1 +
                      VMS_DESC_MAX_ACCEPT * (VMS_DESC_MAX_IDENT + 1) - 1 <=
                  VMS_DESC_MAX_LINE,
              "a full accept list fits one line");
static_assert(sizeof "field..rule=superset" - 1 + VMS_DESC_MAX_NAME +
                      VMS_DESC_MAX_VALUE <= VMS_DESC_MAX_LINE,
              "a field line fits");

/* Longest input excerpt echoed in an error message. */
#define SHOW 40

enum fixed_key {
    K_VENDOR_ID,
    K_DEVICE_API,
    K_TYPE,
    K_VERSION,
    K_ACCEPT_TYPES,
    K_DENY_VERSIONS,
    K_COUNT
};

static const char *const key_names[K_COUNT] = {
    "vendor_id", "device_api", "type", "version", "accept_types",
    "deny_versions",
};

/* Parser state.  The vendor fields are collected in d->fields in order of
 * first appearance, unvalidated, and checked and sorted at the end (a rule
 * line may follow or precede its value line). */
typedef struct parser {
    vms_descriptor *d;
    vms_descriptor_error *err;
    uint32_t key_line[K_COUNT];            /* 0 = not seen yet */
    uint32_t value_line[VMS_DESC_MAX_FIELDS];
    uint32_t value_col[VMS_DESC_MAX_FIELDS];
    uint32_t rule_line[VMS_DESC_MAX_FIELDS];
} parser;

static vms_status fail(parser *p, uint32_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static vms_status fail(parser *p, uint32_t line, const char *fmt, ...)
{
    if (p->err) {
        va_list ap;
        p->err->code = VMS_E_BAD_DESCRIPTOR;
        p->err->line = line;
        p->err->offset = 0;
        va_start(ap, fmt);
        vsnprintf(p->err->message, sizeof p->err->message, fmt, ap);
        va_end(ap);
    }
    return VMS_E_BAD_DESCRIPTOR;
}

static bool is_blank(char c) { return c == ' ' || c == '\t'; }

static void trim(const char **s, size_t *len)
{
    while (*len > 0 && is_blank(**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && is_blank((*s)[*len - 1]))
        (*len)--;
}

static bool span_is(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parses n hex digits (n >= 1); false on a non-hex byte. */
static bool parse_hex(const char *s, size_t n, uint32_t *out)
{
    uint32_t v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        int h = hexval(s[i]);
        if (h < 0)
            return false;
        v = v << 4 | (uint32_t)h;
    }
    *out = v;
    return true;
}

static vms_status parse_vendor(parser *p, uint32_t line, const char *s,
                               size_t len)
{
    char q[4 * SHOW + 8];
    uint32_t id;

    if (len > 6 && memcmp(s, "pci:0x", 6) == 0 && len <= 10 &&
        parse_hex(s + 6, len - 6, &id)) {
        id = VMS_VENDOR_PCI(id);
    } else if (len == 10 && memcmp(s, "0x", 2) == 0 && parse_hex(s + 2, 8, &id)) {
        if (!vms_desc_vendor_ok(id))
            return fail(p, line,
                        "vendor_id 0x%08x is reserved: with bit 31 clear only "
                        "0x00000000 is allowed, with bit 31 set bits 16..30 "
                        "must be zero",
                        (unsigned)id);
    } else {
        vms_desc_quote(q, sizeof q, s, len, SHOW);
        return fail(p, line,
                    "vendor_id \"%s\" is not pci:0xHHHH (a PCI vendor id, 1 to "
                    "4 hex digits) nor 0xHHHHHHHH (8 hex digits)",
                    q);
    }
    p->d->vendor_id = id;
    return VMS_OK;
}

/* A decimal uint32 without sign or leading zeros. */
static bool parse_u32(const char *s, size_t len, uint32_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 10 || (len > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* "M.m.b" */
static bool parse_version(const char *s, size_t len, vms_device_version *v)
{
    uint32_t part[3];
    size_t start = 0, n = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if (n == 3 || !parse_u32(s + start, i - start, &part[n]))
            return false;
        n++;
        start = i + 1;
    }
    if (n != 3)
        return false;
    v->major = part[0];
    v->minor = part[1];
    v->bugfix = part[2];
    return true;
}

static vms_status bad_version(parser *p, uint32_t line, const char *what,
                              const char *s, size_t len)
{
    char q[4 * SHOW + 8];
    vms_desc_quote(q, sizeof q, s, len, SHOW);
    return fail(p, line,
                "%s \"%s\" is not MAJOR.MINOR.BUGFIX (three decimal numbers "
                "0..4294967295 without leading zeros)",
                what, q);
}

static vms_status parse_ident_key(parser *p, uint32_t line, uint32_t col,
                                  enum fixed_key k, const char *s, size_t len)
{
    char q[4 * SHOW + 8];
    size_t bad;
    const char *why = vms_desc_check_ident(s, len, &bad);
    if (why) {
        vms_desc_quote(q, sizeof q, s, len, SHOW);
        return fail(p, line, "%s \"%s\" %s (column %zu)", key_names[k], q, why,
                    (size_t)col + bad);
    }
    char *dst = k == K_DEVICE_API ? p->d->device_api : p->d->type;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return VMS_OK;
}

/* Comma-separated list; each element trimmed of blanks; no empty element. */
static vms_status parse_list(parser *p, uint32_t line, uint32_t col,
                             enum fixed_key k, const char *s, size_t len)
{
    char q[4 * SHOW + 8];
    size_t start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != ',')
            continue;
        const char *e = s + start;
        size_t elen = i - start;
        size_t ecol = col + start;
        trim(&e, &elen);
        if (elen == 0)
            return fail(p, line,
                        "%s has an empty element (a leading, trailing or doubled "
                        "',') at column %zu",
                        key_names[k], ecol);
        ecol = col + (size_t)(e - s);
        const char *why = NULL;
        vms_status st;
        if (k == K_ACCEPT_TYPES) {
            size_t bad;
            why = vms_desc_check_ident(e, elen, &bad);
            if (why) {
                vms_desc_quote(q, sizeof q, e, elen, SHOW);
                return fail(p, line, "accepted type \"%s\" %s (column %zu)", q,
                            why, ecol + bad);
            }
            st = vms_desc_insert_accept(p->d, e, elen, &why);
        } else {
            vms_device_version v;
            if (!parse_version(e, elen, &v))
                return bad_version(p, line, "denied version", e, elen);
            st = vms_desc_insert_deny(p->d, &v, &why);
        }
        if (st != VMS_OK) {
            vms_desc_quote(q, sizeof q, e, elen, SHOW);
            return fail(p, line, "%s: \"%s\" %s (column %zu)", key_names[k], q,
                        why, ecol);
        }
        start = i + 1;
    }
    return VMS_OK;
}

static long find_pfield(const parser *p, const char *name, size_t len)
{
    for (uint32_t i = 0; i < p->d->n_fields; i++) {
        const vms_desc_field *f = &p->d->fields[i];
        if (f->name_len == len && memcmp(f->name, name, len) == 0)
            return (long)i;
    }
    return -1;
}

/* Handles field.NAME=VALUE (is_rule false) and field.NAME.rule=RULE. */
static vms_status parse_field_line(parser *p, uint32_t line, uint32_t kcol,
                                   uint32_t vcol, const char *key, size_t klen,
                                   const char *name, size_t nlen, bool is_rule,
                                   const char *val, size_t vlen)
{
    char q[4 * SHOW + 8];
    size_t bad;
    const char *why = vms_desc_check_name(name, nlen, &bad);
    if (why) {
        vms_desc_quote(q, sizeof q, key, klen, SHOW);
        return fail(p, line,
                    "key \"%s\": the field name %s (column %zu); a field name is "
                    "1 to 64 bytes of [A-Za-z0-9_-] starting with a letter or "
                    "digit",
                    q, why, (size_t)kcol + (size_t)(name - key) + bad);
    }
    long idx = find_pfield(p, name, nlen);
    vms_desc_field *f;
    if (idx < 0) {
        if (p->d->n_fields >= VMS_DESC_MAX_FIELDS)
            return fail(p, line, "more than 32 vendor fields");
        idx = (long)p->d->n_fields++;
        f = &p->d->fields[idx];
        memset(f, 0, sizeof *f);
        memcpy(f->name, name, nlen);
        f->name_len = (uint8_t)nlen;
        f->rule = VMS_FIELD_EQUAL; /* default when no rule line */
        p->value_line[idx] = 0;
        p->rule_line[idx] = 0;
    }
    f = &p->d->fields[idx];
    uint32_t *seen = is_rule ? &p->rule_line[idx] : &p->value_line[idx];
    if (*seen) {
        vms_desc_quote(q, sizeof q, key, klen, SHOW);
        return fail(p, line, "duplicate key \"%s\" (first given on line %u)", q,
                    (unsigned)*seen);
    }
    *seen = line;
    if (is_rule) {
        if (span_is(val, vlen, "equal")) {
            f->rule = VMS_FIELD_EQUAL;
        } else if (span_is(val, vlen, "superset")) {
            f->rule = VMS_FIELD_SUPERSET;
        } else if (span_is(val, vlen, "ge")) {
            f->rule = VMS_FIELD_GE;
        } else {
            vms_desc_quote(q, sizeof q, val, vlen, SHOW);
            return fail(p, line,
                        "rule \"%s\" of field \"%s\" is not equal, superset or ge",
                        q, f->name);
        }
        return VMS_OK;
    }
    if (vlen > VMS_DESC_MAX_VALUE)
        return fail(p, line,
                    "value of field \"%s\" is %zu bytes long; the limit is 255",
                    f->name, vlen);
    memcpy(f->value, val, vlen);
    f->value[vlen] = '\0';
    f->value_len = (uint8_t)vlen;
    p->value_col[idx] = vcol;
    return VMS_OK;
}

/* s: the line without its leading blanks, which were lead bytes. */
static vms_status parse_line(parser *p, uint32_t line, size_t lead,
                             const char *s, size_t len)
{
    char q[4 * SHOW + 8];
    const char *start = s;
    const char *eq = memchr(s, '=', len);

    if (!eq) {
        vms_desc_quote(q, sizeof q, s, len, SHOW);
        return fail(p, line,
                    "\"%s\" is not a key=value line, a comment (#) or blank", q);
    }
    const char *key = s;
    size_t klen = (size_t)(eq - s);
    const char *val = eq + 1;
    size_t vlen = len - klen - 1;
    trim(&key, &klen);
    trim(&val, &vlen);
    /* 1-based columns in the raw line (which is at most 1024 bytes) */
    uint32_t kcol = (uint32_t)(lead + (size_t)(key - start) + 1);
    uint32_t vcol = (uint32_t)(lead + (size_t)(val - start) + 1);

    if (klen == 0)
        return fail(p, line, "missing key before '='");
    vms_desc_quote(q, sizeof q, key, klen, SHOW);
    if (vlen == 0)
        return fail(p, line, "key \"%s\" has an empty value (omit the key instead)",
                    q);
    if (memchr(val, '#', vlen))
        return fail(p, line,
                    "'#' in the value of key \"%s\": comments must be on a line "
                    "of their own",
                    q);

    for (int k = 0; k < K_COUNT; k++) {
        if (!span_is(key, klen, key_names[k]))
            continue;
        if (p->key_line[k])
            return fail(p, line, "duplicate key \"%s\" (first given on line %u)",
                        key_names[k], (unsigned)p->key_line[k]);
        p->key_line[k] = line;
        switch ((enum fixed_key)k) {
        case K_VENDOR_ID:
            return parse_vendor(p, line, val, vlen);
        case K_DEVICE_API:
        case K_TYPE:
            return parse_ident_key(p, line, vcol, (enum fixed_key)k, val, vlen);
        case K_VERSION:
            if (!parse_version(val, vlen, &p->d->version))
                return bad_version(p, line, "version", val, vlen);
            return VMS_OK;
        case K_ACCEPT_TYPES:
        case K_DENY_VERSIONS:
            return parse_list(p, line, vcol, (enum fixed_key)k, val, vlen);
        case K_COUNT:
            break;
        }
        return VMS_E_INTERNAL;
    }

    if (klen > 6 && memcmp(key, "field.", 6) == 0) {
        const char *name = key + 6;
        size_t nlen = klen - 6;
        bool is_rule = false;
        if (nlen >= 5 && memcmp(name + nlen - 5, ".rule", 5) == 0) {
            is_rule = true;
            nlen -= 5;
        }
        return parse_field_line(p, line, kcol, vcol, key, klen, name, nlen,
                                is_rule, val, vlen);
    }
    return fail(p, line,
                "unknown key \"%s\" (unknown keys are refused, not ignored: a "
                "descriptor is a compatibility statement)",
                q);
}

/* Checks, canonicalises and sorts the collected vendor fields.  Reports the
 * error with the smallest line number. */
static vms_status finish_fields(parser *p)
{
    vms_descriptor *d = p->d;
    uint32_t best_line = UINT32_MAX;
    uint32_t best = 0;
    const char *best_why = NULL;
    size_t best_col = 0;
    char canon[VMS_DESC_MAX_VALUE + 1];

    for (uint32_t i = 0; i < d->n_fields; i++) {
        vms_desc_field *f = &d->fields[i];
        size_t bad;
        if (!p->value_line[i]) {
            if (p->rule_line[i] < best_line) {
                best_line = p->rule_line[i];
                best = i;
                best_why = NULL;
            }
            continue;
        }
        const char *why = vms_desc_check_value(f->value, f->value_len, f->rule,
                                               false, canon, &bad);
        if (why) {
            if (p->value_line[i] < best_line) {
                best_line = p->value_line[i];
                best = i;
                best_why = why;
                best_col = p->value_col[i] + bad;
            }
            continue;
        }
        memcpy(f->value, canon, f->value_len + 1u); /* same length */
    }
    if (best_line != UINT32_MAX) {
        vms_desc_field *f = &d->fields[best];
        if (!best_why)
            return fail(p, best_line,
                        "rule given for field \"%s\" but no field.%s=VALUE line",
                        f->name, f->name);
        char q[4 * SHOW + 8];
        vms_desc_quote(q, sizeof q, f->value, f->value_len, SHOW);
        return fail(p, best_line,
                    "value \"%s\" of field \"%s\" (rule %s%s) %s (column %zu)", q,
                    f->name, vms_field_rule_name(f->rule),
                    p->rule_line[best] ? "" : " by default", best_why, best_col);
    }
    /* insertion sort by name; names are unique */
    for (uint32_t i = 1; i < d->n_fields; i++) {
        vms_desc_field tmp = d->fields[i];
        uint32_t j = i;
        while (j > 0 && vms_desc_str_cmp(d->fields[j - 1].name, tmp.name) > 0) {
            d->fields[j] = d->fields[j - 1];
            j--;
        }
        d->fields[j] = tmp;
    }
    return VMS_OK;
}

static vms_status parse_all(parser *p, const char *text, size_t len)
{
    size_t pos = 0;
    uint32_t line = 0;
    vms_status st;

    if (len > VMS_DESC_MAX_TEXT)
        return fail(p, 0, "the text is %zu bytes long; the limit is %u", len,
                    VMS_DESC_MAX_TEXT);
    while (pos < len) {
        const char *s = text + pos;
        const char *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl ? 1 : 0);
        line++;
        if (nl && n > 0 && s[n - 1] == '\r')
            n--; /* CR LF line ending */
        if (n > VMS_DESC_MAX_LINE)
            return fail(p, line, "the line is %zu bytes long; the limit is %u",
                        n, VMS_DESC_MAX_LINE);
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '\t' || (c >= 0x20 && c < 0x7f))
                continue;
            if (c == 0)
                return fail(p, line, "NUL byte at column %zu", i + 1);
            if (c == '\r')
                return fail(p, line,
                            "carriage return not followed by a line feed at "
                            "column %zu",
                            i + 1);
            if (c >= 0x80)
                return fail(p, line,
                            "non-ASCII byte 0x%02x at column %zu (only printable "
                            "ASCII is allowed)",
                            c, i + 1);
            return fail(p, line, "control character 0x%02x at column %zu", c,
                        i + 1);
        }
        const char *raw = s;
        trim(&s, &n);
        if (n == 0 || s[0] == '#')
            continue;
        st = parse_line(p, line, (size_t)(s - raw), s, n);
        if (st != VMS_OK)
            return st;
    }
    st = finish_fields(p);
    if (st != VMS_OK)
        return st;
    for (int k = 0; k <= K_VERSION; k++)
        if (!p->key_line[k])
            return fail(p, 0, "missing required key \"%s\"", key_names[k]);
    return VMS_OK;
}

vms_status vms_descriptor_parse_text(vms_descriptor **out, const char *text,
                                     size_t len, const vms_allocator *mem,
                                     vms_descriptor_error *err)
{
    parser p;

    if (err) {
        memset(err, 0, sizeof *err);
    }
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = NULL;
    if (!text && len > 0) {
        if (err)
            err->code = VMS_E_INVALID_ARG;
        return VMS_E_INVALID_ARG;
    }
    memset(&p, 0, sizeof p);
    p.err = err;
    p.d = vms_desc_alloc(mem);
    if (!p.d) {
        if (err) {
            err->code = VMS_E_NOMEM;
            snprintf(err->message, sizeof err->message, "out of memory");
        }
        return VMS_E_NOMEM;
    }
    vms_status st = parse_all(&p, text, len);
    if (st != VMS_OK) {
        vms_descriptor_free(p.d);
        if (err && err->code == VMS_OK)
            err->code = st;
        return st;
    }
    *out = p.d;
    return VMS_OK;
}

/* ---- formatter ------------------------------------------------------------ */

typedef struct emitter {
    char *buf; /* NULL: count only */
    size_t len;
} emitter;

static void emit(emitter *e, const char *s)
{
    size_t n = strlen(s);
    if (e->buf)
        memcpy(e->buf + e->len, s, n);
    e->len += n;
}

static void emit_version(emitter *e, const vms_device_version *v)
{
    char tmp[40];
    snprintf(tmp, sizeof tmp, "%u.%u.%u", (unsigned)v->major,
             (unsigned)v->minor, (unsigned)v->bugfix);
    emit(e, tmp);
}

static void format_all(const vms_descriptor *d, emitter *e)
{
    char tmp[32];

    emit(e, "vendor_id=");
    if (d->vendor_id & VMS_VENDOR_PCI_FLAG)
        snprintf(tmp, sizeof tmp, "pci:0x%04x", (unsigned)(d->vendor_id & 0xffffu));
    else
        snprintf(tmp, sizeof tmp, "0x%08x", (unsigned)d->vendor_id);
    emit(e, tmp);
    emit(e, "\ndevice_api=");
    emit(e, d->device_api);
    emit(e, "\ntype=");
    emit(e, d->type);
    emit(e, "\nversion=");
    emit_version(e, &d->version);
    emit(e, "\n");
    if (d->n_accept) {
        emit(e, "accept_types=");
        for (uint32_t i = 0; i < d->n_accept; i++) {
            if (i)
                emit(e, ",");
            emit(e, d->accept[i]);
        }
        emit(e, "\n");
    }
    if (d->n_deny) {
        emit(e, "deny_versions=");
        for (uint32_t i = 0; i < d->n_deny; i++) {
            if (i)
                emit(e, ",");
            emit_version(e, &d->deny[i]);
        }
        emit(e, "\n");
    }
    for (uint32_t i = 0; i < d->n_fields; i++) {
        const vms_desc_field *f = &d->fields[i];
        emit(e, "field.");
        emit(e, f->name);
        emit(e, "=");
        emit(e, f->value);
        emit(e, "\nfield.");
        emit(e, f->name);
        emit(e, ".rule=");
        emit(e, vms_field_rule_name(f->rule));
        emit(e, "\n");
    }
}

vms_status vms_descriptor_format_text(const vms_descriptor *d, char *buf,
                                      size_t cap, size_t *needed)
{
    emitter e = {NULL, 0};

    if (needed)
        *needed = 0;
    if (!d || (!buf && cap > 0))
        return VMS_E_INVALID_ARG;
    vms_status st = vms_descriptor_validate(d);
    if (st != VMS_OK)
        return st;
    format_all(d, &e);
    if (needed)
        *needed = e.len + 1;
    if (!buf || cap < e.len + 1)
        return VMS_E_INVALID_ARG;
    e.buf = buf;
    e.len = 0;
    format_all(d, &e);
    buf[e.len] = '\0';
    return VMS_OK;
}
