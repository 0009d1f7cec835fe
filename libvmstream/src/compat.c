/* compat.c - vms_compat_check(): may state from a source device be loaded
 * into a target device?  The rules, their order and their messages are
 * specified in doc/COMPAT.md (section 3); keep the two in step. */
#include "descriptor_internal.h"

#include <stdio.h>

static void set_res(vms_compat_result *res, vms_compat_rule rule,
                    const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void set_res(vms_compat_result *res, vms_compat_rule rule,
                    const char *field, const char *fmt, ...)
{
    va_list ap;
    if (!res)
        return;
    res->rule = rule;
    snprintf(res->field, sizeof res->field, "%s", field ? field : "");
    va_start(ap, fmt);
    vsnprintf(res->reason, sizeof res->reason, fmt, ap);
    va_end(ap);
}

static void vendor_str(char *buf, size_t cap, uint32_t id)
{
    if (id & VMS_VENDOR_PCI_FLAG)
        snprintf(buf, cap, "pci:0x%04x", (unsigned)(id & 0xffffu));
    else
        snprintf(buf, cap, "0x%08x", (unsigned)id);
}

static void version_str(char *buf, size_t cap, const vms_device_version *v)
{
    snprintf(buf, cap, "%u.%u.%u", (unsigned)v->major, (unsigned)v->minor,
             (unsigned)v->bugfix);
}

/* Joins items into buf (cap bytes).  When they do not all fit, ends with
 * ", ... (N more)". */
typedef const char *(*item_fn)(const vms_descriptor *d, uint32_t i, char *tmp,
                               size_t tmp_cap);

static void join_list(char *buf, size_t cap, const vms_descriptor *d,
                      uint32_t count, item_fn item)
{
    char tmp[VMS_DESC_MAX_IDENT + 1];
    size_t o = 0;
    const size_t reserve = 24; /* ", ... (NN more)" + NUL */

    buf[0] = '\0';
    for (uint32_t i = 0; i < count; i++) {
        const char *s = item(d, i, tmp, sizeof tmp);
        size_t n = strlen(s) + (i ? 2 : 0);
        if (o + n + reserve > cap) {
            snprintf(buf + o, cap - o, ", ... (%u more)", (unsigned)(count - i));
            return;
        }
        snprintf(buf + o, cap - o, "%s%s", i ? ", " : "", s);
        o += n;
    }
}

static const char *accept_item(const vms_descriptor *d, uint32_t i, char *tmp,
                               size_t cap)
{
    (void)tmp;
    (void)cap;
    return d->accept[i];
}

static const char *deny_item(const vms_descriptor *d, uint32_t i, char *tmp,
                             size_t cap)
{
    version_str(tmp, cap, &d->deny[i]);
    return tmp;
}

/* ---- vendor fields ----------------------------------------------------------- */

/* Is every element of the canonical set src present in the canonical set
 * tgt?  Both are sorted, so one merge walk suffices.  On failure *miss and
 * *miss_len give the first missing element of src. */
static bool set_contains(const char *tgt, const char *src, const char **miss,
                         size_t *miss_len)
{
    const char *t = tgt;
    const char *s = src;
    while (*s) {
        size_t sl = strcspn(s, "+");
        int c = 1;
        while (*t) {
            size_t tl = strcspn(t, "+");
            size_t m = sl < tl ? sl : tl;
            c = memcmp(t, s, m);
            if (c == 0)
                c = tl < sl ? -1 : tl > sl ? 1 : 0;
            if (c >= 0)
                break;
            t += tl + (t[tl] == '+');
        }
        if (c != 0) {
            *miss = s;
            *miss_len = sl;
            return false;
        }
        s += sl + (s[sl] == '+');
    }
    return true;
}

/* Compares canonical decimal strings (no leading zeros). */
static int dec_cmp(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return la < lb ? -1 : 1;
    int c = memcmp(a, b, la);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
}

/* Makes a callback's text printable and terminated. */
static void clean_why(char *why, size_t cap)
{
    why[cap - 1] = '\0';
    for (char *p = why; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
            *p = '?';
    if (why[0] == '\0')
        snprintf(why, cap, "no reason given");
}

static bool verdict_ok(vms_compat_verdict v)
{
    switch (v) {
    case VMS_VERDICT_ERROR:
    case VMS_VERDICT_DEFAULT:
    case VMS_VERDICT_ACCEPT:
    case VMS_VERDICT_REFUSE:
        return true;
    }
    return false;
}

/* Rules 7..10 for one source field.  Returns VMS_OK when it passes. */
static vms_status check_field(const vms_desc_field *sf, const vms_descriptor *tgt,
                              const vms_compat_options *opt,
                              vms_compat_result *res)
{
    long ti = vms_descriptor_find_field(tgt, sf->name);
    const vms_desc_field *tf = ti >= 0 ? &tgt->fields[ti] : NULL;

    /* rule 7: the vendor's own decision */
    if (opt && opt->field) {
        char why[VMS_COMPAT_WHY_MAX];
        memset(why, 0, sizeof why);
        vms_compat_verdict v =
            opt->field(opt->ctx, sf->name, sf->value, sf->rule,
                       tf ? tf->value : NULL, tf ? tf->rule : VMS_FIELD_EQUAL,
                       why, sizeof why);
        if (!verdict_ok(v) || v == VMS_VERDICT_ERROR) {
            set_res(res, VMS_COMPAT_FIELD_CALLBACK, sf->name,
                    "the vendor field callback failed on field \"%s\"", sf->name);
            return VMS_E_CALLBACK;
        }
        if (v == VMS_VERDICT_ACCEPT)
            return VMS_OK;
        if (v == VMS_VERDICT_REFUSE) {
            clean_why(why, sizeof why);
            set_res(res, VMS_COMPAT_FIELD_CALLBACK, sf->name,
                    "the vendor callback refused vendor field \"%s\" (source "
                    "\"%s\", target %s%s%s): %s",
                    sf->name, sf->value, tf ? "\"" : "",
                    tf ? tf->value : "without this field", tf ? "\"" : "", why);
            return VMS_E_INCOMPATIBLE;
        }
    }
    /* rule 8: present in the target */
    if (!tf) {
        set_res(res, VMS_COMPAT_FIELD_MISSING, sf->name,
                "vendor field \"%s\" of the source (\"%s\", rule %s) does not "
                "exist in the target",
                sf->name, sf->value, vms_field_rule_name(sf->rule));
        return VMS_E_INCOMPATIBLE;
    }
    /* rule 9: same rule on both sides */
    if (tf->rule != sf->rule) {
        set_res(res, VMS_COMPAT_FIELD_RULE, sf->name,
                "vendor field \"%s\" has rule %s in the source but rule %s in "
                "the target",
                sf->name, vms_field_rule_name(sf->rule),
                vms_field_rule_name(tf->rule));
        return VMS_E_INCOMPATIBLE;
    }
    /* rule 10: the rule holds */
    switch (sf->rule) {
    case VMS_FIELD_EQUAL:
        if (strcmp(sf->value, tf->value) != 0) {
            set_res(res, VMS_COMPAT_FIELD_VALUE, sf->name,
                    "vendor field \"%s\" of the source is \"%s\" but the "
                    "target's is \"%s\" (rule equal: the values must be "
                    "identical)",
                    sf->name, sf->value, tf->value);
            return VMS_E_INCOMPATIBLE;
        }
        break;
    case VMS_FIELD_SUPERSET: {
        const char *miss;
        size_t miss_len;
        if (!set_contains(tf->value, sf->value, &miss, &miss_len)) {
            set_res(res, VMS_COMPAT_FIELD_VALUE, sf->name,
                    "vendor field \"%s\" of the target (\"%s\") lacks \"%.*s\" "
                    "of the source's \"%s\" (rule superset: the target's set "
                    "must contain the source's)",
                    sf->name, tf->value, (int)miss_len, miss, sf->value);
            return VMS_E_INCOMPATIBLE;
        }
        break;
    }
    case VMS_FIELD_GE:
        if (dec_cmp(tf->value, sf->value) < 0) {
            set_res(res, VMS_COMPAT_FIELD_VALUE, sf->name,
                    "vendor field \"%s\" of the target (%s) is less than the "
                    "source's (%s) (rule ge: the target's value must be greater "
                    "than or equal to the source's)",
                    sf->name, tf->value, sf->value);
            return VMS_E_INCOMPATIBLE;
        }
        break;
    }
    return VMS_OK;
}

/* ---- the check ------------------------------------------------------------------ */

const char *vms_compat_rule_name(vms_compat_rule rule)
{
    switch (rule) {
    case VMS_COMPAT_OK:
        return "ok";
    case VMS_COMPAT_VENDOR:
        return "vendor";
    case VMS_COMPAT_DEVICE_API:
        return "device_api";
    case VMS_COMPAT_TYPE:
        return "type";
    case VMS_COMPAT_MAJOR:
        return "major";
    case VMS_COMPAT_MINOR:
        return "minor";
    case VMS_COMPAT_DENIED:
        return "denied";
    case VMS_COMPAT_FIELD_CALLBACK:
        return "field_callback";
    case VMS_COMPAT_FIELD_MISSING:
        return "field_missing";
    case VMS_COMPAT_FIELD_RULE:
        return "field_rule";
    case VMS_COMPAT_FIELD_VALUE:
        return "field_value";
    case VMS_COMPAT_VENDOR_CALLBACK:
        return "vendor_callback";
    }
    return "?";
}

vms_status vms_compat_check(const vms_descriptor *src, const vms_descriptor *tgt,
                            const vms_compat_options *opt,
                            vms_compat_result *res)
{
    char a[48], b[48];
    char list[640];

    if (res) {
        memset(res, 0, sizeof *res);
        res->rule = VMS_COMPAT_OK;
    }
    if (!src || !tgt)
        return VMS_E_INVALID_ARG;
    if (vms_descriptor_validate(src) != VMS_OK ||
        vms_descriptor_validate(tgt) != VMS_OK) {
        if (res)
            snprintf(res->reason, sizeof res->reason,
                     "a descriptor is incomplete (device_api or type unset)");
        return VMS_E_INVALID_ARG;
    }

    /* rule 1: vendor */
    if (src->vendor_id != tgt->vendor_id) {
        vendor_str(a, sizeof a, src->vendor_id);
        vendor_str(b, sizeof b, tgt->vendor_id);
        set_res(res, VMS_COMPAT_VENDOR, NULL,
                "vendor id %s of the source is not the target's vendor id %s", a,
                b);
        return VMS_E_INCOMPATIBLE;
    }
    /* rule 2: device API */
    if (strcmp(src->device_api, tgt->device_api) != 0) {
        set_res(res, VMS_COMPAT_DEVICE_API, NULL,
                "device API \"%s\" of the source is not the target's device API "
                "\"%s\"",
                src->device_api, tgt->device_api);
        return VMS_E_INCOMPATIBLE;
    }
    /* rule 3: type, own or accepted */
    if (strcmp(src->type, tgt->type) != 0) {
        bool accepted = false;
        for (uint32_t i = 0; i < tgt->n_accept && !accepted; i++)
            accepted = strcmp(tgt->accept[i], src->type) == 0;
        if (!accepted) {
            if (tgt->n_accept == 0) {
                set_res(res, VMS_COMPAT_TYPE, NULL,
                        "device type \"%s\" of the source is not \"%s\" and the "
                        "target accepts no other types",
                        src->type, tgt->type);
            } else {
                join_list(list, sizeof list, tgt, tgt->n_accept, accept_item);
                set_res(res, VMS_COMPAT_TYPE, NULL,
                        "device type \"%s\" of the source is not \"%s\" nor in "
                        "the target's accepted types (%s)",
                        src->type, tgt->type, list);
            }
            return VMS_E_INCOMPATIBLE;
        }
    }
    version_str(a, sizeof a, &src->version);
    version_str(b, sizeof b, &tgt->version);
    /* rule 4: same major */
    if (src->version.major != tgt->version.major) {
        set_res(res, VMS_COMPAT_MAJOR, NULL,
                "interface major version %u of the source (%s) is not the "
                "target's major version %u (%s)",
                (unsigned)src->version.major, a, (unsigned)tgt->version.major, b);
        return VMS_E_INCOMPATIBLE;
    }
    /* rule 5: source minor <= target minor */
    if (src->version.minor > tgt->version.minor) {
        set_res(res, VMS_COMPAT_MINOR, NULL,
                "interface version %s of the source is newer than the target's "
                "%s (minor %u > %u): state may only move to the same or a newer "
                "minor version",
                a, b, (unsigned)src->version.minor, (unsigned)tgt->version.minor);
        return VMS_E_INCOMPATIBLE;
    }
    /* rule 6: not denied */
    for (uint32_t i = 0; i < tgt->n_deny; i++) {
        if (vms_desc_version_cmp(&tgt->deny[i], &src->version) == 0) {
            join_list(list, sizeof list, tgt, tgt->n_deny, deny_item);
            set_res(res, VMS_COMPAT_DENIED, NULL,
                    "interface version %s of the source is on the target's deny "
                    "list (%s)",
                    a, list);
            return VMS_E_INCOMPATIBLE;
        }
    }
    /* rules 7..10: every vendor field of the source, in name order */
    for (uint32_t i = 0; i < src->n_fields; i++) {
        vms_status st = check_field(&src->fields[i], tgt, opt, res);
        if (st != VMS_OK)
            return st;
    }
    /* rule 11: the vendor's final word */
    if (opt && opt->final) {
        char why[VMS_COMPAT_WHY_MAX];
        memset(why, 0, sizeof why);
        vms_compat_verdict v = opt->final(opt->ctx, src, tgt, why, sizeof why);
        if (!verdict_ok(v) || v == VMS_VERDICT_ERROR) {
            set_res(res, VMS_COMPAT_VENDOR_CALLBACK, NULL,
                    "the vendor compatibility callback failed");
            return VMS_E_CALLBACK;
        }
        if (v == VMS_VERDICT_REFUSE) {
            clean_why(why, sizeof why);
            set_res(res, VMS_COMPAT_VENDOR_CALLBACK, NULL,
                    "the vendor callback refused source \"%s\" %s for target "
                    "\"%s\" %s: %s",
                    src->type, a, tgt->type, b, why);
            return VMS_E_INCOMPATIBLE;
        }
    }
    set_res(res, VMS_COMPAT_OK, NULL,
            "compatible: source type \"%s\" version %s can be loaded by target "
            "type \"%s\" version %s",
            src->type, a, tgt->type, b);
    return VMS_OK;
}
