/* descriptor.c - the vms_descriptor object: construction, validated
 * setters, getters, equality, and the validators shared with the text and
 * binary codecs (issue 3, doc/COMPAT.md). */
#include "descriptor_internal.h"

/* ---- character classes ---------------------------------------------------
 * Explicit ASCII tests: <ctype.h> depends on the locale. */
static bool is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(unsigned char c) { return is_alpha(c) || is_digit(c); }

/* identifiers and set elements: [A-Za-z0-9._:-] */
static bool is_ident_char(unsigned char c)
{
    return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-';
}
/* field names: [A-Za-z0-9_-] */
static bool is_name_char(unsigned char c)
{
    return is_alnum(c) || c == '_' || c == '-';
}
/* "equal" values: [A-Za-z0-9] and - _ . : + , / @ % ~ */
static bool is_value_char(unsigned char c)
{
    if (is_alnum(c))
        return true;
    switch (c) {
    case '-': case '_': case '.': case ':': case '+': case ',':
    case '/': case '@': case '%': case '~':
        return true;
    default:
        return false;
    }
}

const char *vms_desc_check_ident(const char *s, size_t len, size_t *bad)
{
    *bad = len;
    if (len == 0)
        return "is empty";
    if (len > VMS_DESC_MAX_IDENT)
        return "is longer than 64 bytes";
    for (size_t i = 0; i < len; i++) {
        if (!is_ident_char((unsigned char)s[i])) {
            *bad = i;
            return "has a character outside [A-Za-z0-9._:-]";
        }
    }
    if (!is_alnum((unsigned char)s[0])) {
        *bad = 0;
        return "does not start with a letter or digit";
    }
    return NULL;
}

const char *vms_desc_check_name(const char *s, size_t len, size_t *bad)
{
    *bad = len;
    if (len == 0)
        return "is empty";
    if (len > VMS_DESC_MAX_NAME)
        return "is longer than 64 bytes";
    for (size_t i = 0; i < len; i++) {
        if (!is_name_char((unsigned char)s[i])) {
            *bad = i;
            return "has a character outside [A-Za-z0-9_-]";
        }
    }
    if (!is_alnum((unsigned char)s[0])) {
        *bad = 0;
        return "does not start with a letter or digit";
    }
    return NULL;
}

/* Compares two set elements as NUL-terminated strings would compare. */
static int elem_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c != 0)
        return c;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

static const char *check_set(const char *s, size_t len, bool canonical_only,
                             char *out, size_t *bad)
{
    /* at most (255 + 1) / 2 elements */
    struct { uint16_t off, len; } el[(VMS_DESC_MAX_VALUE + 1) / 2];
    size_t n = 0, start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '+') {
            if (!is_ident_char((unsigned char)s[i])) {
                *bad = i;
                return "has a set element character outside [A-Za-z0-9._:-]";
            }
            continue;
        }
        if (i == start) {
            *bad = i;
            return "has an empty set element (a leading, trailing or doubled '+')";
        }
        el[n].off = (uint16_t)start;
        el[n].len = (uint16_t)(i - start);
        n++;
        start = i + 1;
    }
    /* insertion sort (n <= 128); in canonical_only mode any move is an error */
    for (size_t i = 1; i < n; i++) {
        size_t j = i;
        while (j > 0) {
            int c = elem_cmp(s + el[j - 1].off, el[j - 1].len, s + el[j].off,
                             el[j].len);
            if (c == 0) {
                *bad = el[j].off;
                return "has a duplicate set element";
            }
            if (c < 0)
                break;
            if (canonical_only) {
                *bad = el[i].off;
                return "has set elements out of byte order (not canonical)";
            }
            uint16_t to = el[j - 1].off, tl = el[j - 1].len;
            el[j - 1] = el[j];
            el[j].off = to;
            el[j].len = tl;
            j--;
        }
    }
    if (out) {
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (i)
                out[o++] = '+';
            memcpy(out + o, s + el[i].off, el[i].len);
            o += el[i].len;
        }
        out[o] = '\0';
    }
    return NULL;
}

static const char *check_uint(const char *s, size_t len, size_t *bad)
{
    static const char max[] = "18446744073709551615";
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((unsigned char)s[i])) {
            *bad = i;
            return "is not an unsigned decimal integer";
        }
    }
    if (len > 1 && s[0] == '0') {
        *bad = 0;
        return "has a leading zero";
    }
    if (len > sizeof max - 1 ||
        (len == sizeof max - 1 && memcmp(s, max, len) > 0)) {
        *bad = len;
        return "is larger than 18446744073709551615";
    }
    return NULL;
}

const char *vms_desc_check_value(const char *s, size_t len, vms_field_rule rule,
                                 bool canonical_only, char *out, size_t *bad)
{
    const char *why = NULL;

    *bad = len;
    if (len == 0)
        return "is empty";
    if (len > VMS_DESC_MAX_VALUE)
        return "is longer than 255 bytes";
    switch (rule) {
    case VMS_FIELD_EQUAL:
        for (size_t i = 0; i < len; i++) {
            if (!is_value_char((unsigned char)s[i])) {
                *bad = i;
                return "has a character outside [A-Za-z0-9] and -_.:+,/@%~";
            }
        }
        break;
    case VMS_FIELD_SUPERSET:
        return check_set(s, len, canonical_only, out, bad);
    case VMS_FIELD_GE:
        why = check_uint(s, len, bad);
        break;
    default:
        return "has an unknown rule";
    }
    if (!why && out) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return why;
}

bool vms_desc_vendor_ok(uint32_t id)
{
    if (id & VMS_VENDOR_PCI_FLAG)
        return (id & 0x7fff0000u) == 0;
    return id == 0;
}

bool vms_desc_rule_ok(uint32_t rule)
{
    return rule <= (uint32_t)VMS_FIELD_GE;
}

int vms_desc_version_cmp(const vms_device_version *a, const vms_device_version *b)
{
    if (a->major != b->major)
        return a->major < b->major ? -1 : 1;
    if (a->minor != b->minor)
        return a->minor < b->minor ? -1 : 1;
    if (a->bugfix != b->bugfix)
        return a->bugfix < b->bugfix ? -1 : 1;
    return 0;
}

int vms_desc_str_cmp(const char *a, const char *b)
{
    /* strcmp compares as unsigned char: byte order */
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

void vms_desc_quote(char *out, size_t cap, const char *s, size_t len,
                    size_t max_shown)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    bool cut = len > max_shown;

    if (cap == 0)
        return;
    if (cut)
        len = max_shown;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[4];
        size_t n;
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            n = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[0] = (char)c;
            n = 1;
        } else {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[c >> 4];
            tmp[3] = hex[c & 15];
            n = 4;
        }
        if (o + n + 4 > cap) { /* keep room for "..." and NUL */
            cut = true;
            break;
        }
        memcpy(out + o, tmp, n);
        o += n;
    }
    if (cut && o + 4 <= cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

/* ---- sorted inserts ------------------------------------------------------ */

vms_status vms_desc_insert_accept(vms_descriptor *d, const char *type,
                                  size_t len, const char **why)
{
    char tmp[VMS_DESC_MAX_IDENT + 1];
    uint32_t pos = 0;

    memcpy(tmp, type, len);
    tmp[len] = '\0';
    while (pos < d->n_accept) {
        int c = vms_desc_str_cmp(d->accept[pos], tmp);
        if (c == 0) {
            *why = "is already in the accepted types";
            return VMS_E_INVALID_ARG;
        }
        if (c > 0)
            break;
        pos++;
    }
    if (d->n_accept >= VMS_DESC_MAX_ACCEPT) {
        *why = "exceeds the limit of 32 accepted types";
        return VMS_E_INVALID_ARG;
    }
    memmove(d->accept[pos + 1], d->accept[pos],
            (d->n_accept - pos) * sizeof d->accept[0]);
    memcpy(d->accept[pos], tmp, len + 1);
    d->n_accept++;
    return VMS_OK;
}

vms_status vms_desc_insert_deny(vms_descriptor *d, const vms_device_version *v,
                                const char **why)
{
    uint32_t pos = 0;

    while (pos < d->n_deny) {
        int c = vms_desc_version_cmp(&d->deny[pos], v);
        if (c == 0) {
            *why = "is already in the denied versions";
            return VMS_E_INVALID_ARG;
        }
        if (c > 0)
            break;
        pos++;
    }
    if (d->n_deny >= VMS_DESC_MAX_DENY) {
        *why = "exceeds the limit of 64 denied versions";
        return VMS_E_INVALID_ARG;
    }
    memmove(&d->deny[pos + 1], &d->deny[pos],
            (d->n_deny - pos) * sizeof d->deny[0]);
    d->deny[pos] = *v;
    d->n_deny++;
    return VMS_OK;
}

vms_status vms_desc_insert_field(vms_descriptor *d, const char *name,
                                 size_t name_len, const char *value,
                                 size_t value_len, vms_field_rule rule,
                                 const char **why)
{
    char tmp[VMS_DESC_MAX_NAME + 1];
    uint32_t pos = 0;

    memcpy(tmp, name, name_len);
    tmp[name_len] = '\0';
    while (pos < d->n_fields) {
        int c = vms_desc_str_cmp(d->fields[pos].name, tmp);
        if (c == 0) {
            *why = "is already a field of the descriptor";
            return VMS_E_INVALID_ARG;
        }
        if (c > 0)
            break;
        pos++;
    }
    if (d->n_fields >= VMS_DESC_MAX_FIELDS) {
        *why = "exceeds the limit of 32 vendor fields";
        return VMS_E_INVALID_ARG;
    }
    memmove(&d->fields[pos + 1], &d->fields[pos],
            (d->n_fields - pos) * sizeof d->fields[0]);
    vms_desc_field *f = &d->fields[pos];
    memset(f, 0, sizeof *f);
    memcpy(f->name, tmp, name_len + 1);
    memcpy(f->value, value, value_len);
    f->value[value_len] = '\0';
    f->name_len = (uint8_t)name_len;
    f->value_len = (uint8_t)value_len;
    f->rule = rule;
    d->n_fields++;
    return VMS_OK;
}

/* ---- object ---------------------------------------------------------------- */

/* strlen that stops after max bytes (returns max + 1 then): the caller's
 * string need not be terminated within our limits. */
static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

vms_descriptor *vms_desc_alloc(const vms_allocator *mem)
{
    vms_mem m;
    vms_mem_init(&m, mem);
    vms_descriptor *d = vms_calloc(&m, sizeof *d);
    if (d)
        d->mem = m;
    return d;
}

vms_status vms_descriptor_new(vms_descriptor **out, const vms_allocator *mem)
{
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = vms_desc_alloc(mem);
    return *out ? VMS_OK : VMS_E_NOMEM;
}

void vms_descriptor_free(vms_descriptor *d)
{
    if (!d)
        return;
    vms_mem m = d->mem;
    vms_free(&m, d);
}

vms_status vms_descriptor_clone(vms_descriptor **out, const vms_descriptor *src,
                                const vms_allocator *mem)
{
    if (!out)
        return VMS_E_INVALID_ARG;
    *out = NULL;
    if (!src)
        return VMS_E_INVALID_ARG;
    vms_descriptor *d = vms_desc_alloc(mem);
    if (!d)
        return VMS_E_NOMEM;
    vms_mem m = d->mem;
    memcpy(d, src, sizeof *d);
    d->mem = m;
    *out = d;
    return VMS_OK;
}

vms_status vms_descriptor_validate(const vms_descriptor *d)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    if (d->device_api[0] == '\0' || d->type[0] == '\0')
        return VMS_E_BAD_DESCRIPTOR;
    return VMS_OK;
}

vms_status vms_descriptor_set_vendor_id(vms_descriptor *d, uint32_t id)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    if (!vms_desc_vendor_ok(id))
        return VMS_E_BAD_VENDOR_ID;
    d->vendor_id = id;
    return VMS_OK;
}

uint32_t vms_descriptor_get_vendor_id(const vms_descriptor *d)
{
    return d ? d->vendor_id : 0;
}

static vms_status set_ident(char *dst, const char *s)
{
    size_t bad;
    if (!s)
        return VMS_E_INVALID_ARG;
    size_t len = bounded_len(s, VMS_DESC_MAX_IDENT + 1);
    if (vms_desc_check_ident(s, len, &bad))
        return VMS_E_INVALID_ARG;
    memcpy(dst, s, len + 1);
    return VMS_OK;
}

vms_status vms_descriptor_set_device_api(vms_descriptor *d, const char *api)
{
    return d ? set_ident(d->device_api, api) : VMS_E_INVALID_ARG;
}

const char *vms_descriptor_get_device_api(const vms_descriptor *d)
{
    return d ? d->device_api : "";
}

vms_status vms_descriptor_set_type(vms_descriptor *d, const char *type)
{
    return d ? set_ident(d->type, type) : VMS_E_INVALID_ARG;
}

const char *vms_descriptor_get_type(const vms_descriptor *d)
{
    return d ? d->type : "";
}

vms_status vms_descriptor_set_version(vms_descriptor *d, uint32_t major,
                                      uint32_t minor, uint32_t bugfix)
{
    if (!d)
        return VMS_E_INVALID_ARG;
    d->version.major = major;
    d->version.minor = minor;
    d->version.bugfix = bugfix;
    return VMS_OK;
}

vms_device_version vms_descriptor_get_version(const vms_descriptor *d)
{
    vms_device_version v = {0, 0, 0};
    return d ? d->version : v;
}

vms_status vms_descriptor_add_accept_type(vms_descriptor *d, const char *type)
{
    const char *why;
    size_t bad;
    if (!d || !type)
        return VMS_E_INVALID_ARG;
    size_t len = bounded_len(type, VMS_DESC_MAX_IDENT + 1);
    if (vms_desc_check_ident(type, len, &bad))
        return VMS_E_INVALID_ARG;
    return vms_desc_insert_accept(d, type, len, &why);
}

size_t vms_descriptor_accept_type_count(const vms_descriptor *d)
{
    return d ? d->n_accept : 0;
}

const char *vms_descriptor_get_accept_type(const vms_descriptor *d, size_t index)
{
    if (!d || index >= d->n_accept)
        return NULL;
    return d->accept[index];
}

vms_status vms_descriptor_add_deny_version(vms_descriptor *d, uint32_t major,
                                           uint32_t minor, uint32_t bugfix)
{
    const char *why;
    vms_device_version v = {major, minor, bugfix};
    if (!d)
        return VMS_E_INVALID_ARG;
    return vms_desc_insert_deny(d, &v, &why);
}

size_t vms_descriptor_deny_version_count(const vms_descriptor *d)
{
    return d ? d->n_deny : 0;
}

vms_status vms_descriptor_get_deny_version(const vms_descriptor *d, size_t index,
                                           vms_device_version *out)
{
    if (!d || !out || index >= d->n_deny)
        return VMS_E_INVALID_ARG;
    *out = d->deny[index];
    return VMS_OK;
}

vms_status vms_descriptor_add_field(vms_descriptor *d, const char *name,
                                    const char *value, vms_field_rule rule)
{
    char canon[VMS_DESC_MAX_VALUE + 1];
    const char *why;
    size_t bad;

    if (!d || !name || !value || !vms_desc_rule_ok((uint32_t)rule))
        return VMS_E_INVALID_ARG;
    size_t nlen = bounded_len(name, VMS_DESC_MAX_NAME + 1);
    size_t vlen = bounded_len(value, VMS_DESC_MAX_VALUE + 1);
    if (vms_desc_check_name(name, nlen, &bad) ||
        vms_desc_check_value(value, vlen, rule, false, canon, &bad))
        return VMS_E_INVALID_ARG;
    return vms_desc_insert_field(d, name, nlen, canon, strlen(canon), rule, &why);
}

size_t vms_descriptor_field_count(const vms_descriptor *d)
{
    return d ? d->n_fields : 0;
}

vms_status vms_descriptor_get_field(const vms_descriptor *d, size_t index,
                                    const char **name, const char **value,
                                    vms_field_rule *rule)
{
    if (!d || index >= d->n_fields)
        return VMS_E_INVALID_ARG;
    const vms_desc_field *f = &d->fields[index];
    if (name)
        *name = f->name;
    if (value)
        *value = f->value;
    if (rule)
        *rule = f->rule;
    return VMS_OK;
}

long vms_descriptor_find_field(const vms_descriptor *d, const char *name)
{
    if (!d || !name)
        return -1;
    /* binary search: fields are sorted by name */
    size_t lo = 0, hi = d->n_fields;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = vms_desc_str_cmp(d->fields[mid].name, name);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *vms_field_rule_name(vms_field_rule rule)
{
    switch (rule) {
    case VMS_FIELD_EQUAL:
        return "equal";
    case VMS_FIELD_SUPERSET:
        return "superset";
    case VMS_FIELD_GE:
        return "ge";
    }
    return "?";
}

int vms_descriptor_equal(const vms_descriptor *a, const vms_descriptor *b)
{
    if (!a || !b)
        return a == b;
    if (a->vendor_id != b->vendor_id ||
        vms_desc_version_cmp(&a->version, &b->version) != 0 ||
        strcmp(a->device_api, b->device_api) != 0 ||
        strcmp(a->type, b->type) != 0 || a->n_accept != b->n_accept ||
        a->n_deny != b->n_deny || a->n_fields != b->n_fields)
        return 0;
    for (uint32_t i = 0; i < a->n_accept; i++)
        if (strcmp(a->accept[i], b->accept[i]) != 0)
            return 0;
    for (uint32_t i = 0; i < a->n_deny; i++)
        if (vms_desc_version_cmp(&a->deny[i], &b->deny[i]) != 0)
            return 0;
    for (uint32_t i = 0; i < a->n_fields; i++) {
        const vms_desc_field *x = &a->fields[i], *y = &b->fields[i];
        if (x->rule != y->rule || strcmp(x->name, y->name) != 0 ||
            strcmp(x->value, y->value) != 0)
            return 0;
    }
    return 1;
}
