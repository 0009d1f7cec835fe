/* test_compat.c - vms_compat_check(): every rule in both directions, the
 * accepted-type and deny lists, each vendor-field rule passing and failing,
 * the vendor callbacks, and reasons naming both values. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmstream.h"
#include "vmstream_compat.h"

/* ---- helpers -------------------------------------------------------------- */

#define DESC(vendor, api, type, version, extra)                              \
    "vendor_id=" vendor "\ndevice_api=" api "\ntype=" type "\nversion=" version \
    "\n" extra

/* A plain nvidia-11 device at 1.2.0 with no fields. */
#define NV(type, version, extra) DESC("pci:0x10de", "vfio-pci", type, version, extra)

static vms_descriptor *P(const char *text)
{
    vms_descriptor *d = NULL;
    vms_descriptor_error err;
    vms_status st = vms_descriptor_parse_text(&d, text, strlen(text), NULL, &err);
    cr_assert_eq(st, VMS_OK, "line %u: %s\n%s", (unsigned)err.line, err.message,
                 text);
    return d;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* Checks source text against target text with opt; expects rule (and
 * VMS_OK / VMS_E_INCOMPATIBLE accordingly) and every string of parts (NULL
 * terminated) in the reason.  Returns nothing; frees everything. */
static void expect_opt(const char *src, const char *tgt,
                       const vms_compat_options *opt, vms_compat_rule rule,
                       const char *const *parts)
{
    vms_descriptor *s = P(src), *t = P(tgt);
    vms_compat_result res;
    memset(&res, 0x55, sizeof res);
    vms_status st = vms_compat_check(s, t, opt, &res);
    cr_assert_eq(st, rule == VMS_COMPAT_OK ? VMS_OK : VMS_E_INCOMPATIBLE,
                 "status %d (%s), rule %s: %s", st, vms_strerror(st),
                 vms_compat_rule_name(res.rule), res.reason);
    cr_assert_eq(res.rule, rule, "rule %s, expected %s: %s",
                 vms_compat_rule_name(res.rule), vms_compat_rule_name(rule),
                 res.reason);
    cr_assert(printable(res.reason));
    cr_assert_lt(strlen(res.reason), sizeof res.reason);
    for (; parts && *parts; parts++)
        cr_assert(strstr(res.reason, *parts) != NULL, "reason \"%s\" lacks \"%s\"",
                  res.reason, *parts);
    /* deterministic: the same answer again, also without a result */
    vms_compat_result again;
    cr_assert_eq(vms_compat_check(s, t, opt, &again), st);
    cr_assert_eq(again.rule, res.rule);
    cr_assert_str_eq(again.reason, res.reason);
    cr_assert_str_eq(again.field, res.field);
    cr_assert_eq(vms_compat_check(s, t, opt, NULL), st);
    vms_descriptor_free(s);
    vms_descriptor_free(t);
}

#define EXPECT(src, tgt, rule, ...)                                          \
    do {                                                                     \
        const char *const parts_[] = {__VA_ARGS__, NULL};                    \
        expect_opt(src, tgt, NULL, rule, parts_);                            \
    } while (0)

#define OK(src, tgt) EXPECT(src, tgt, VMS_COMPAT_OK, "compatible")

/* ---- rules 1..6 --------------------------------------------------------------- */

Test(rules, identical_is_compatible)
{
    OK(NV("nvidia-11", "1.2.0", ""), NV("nvidia-11", "1.2.0", ""));
    EXPECT(NV("nvidia-11", "1.2.0", ""), NV("nvidia-11", "1.2.0", ""), VMS_COMPAT_OK,
           "compatible: source type \"nvidia-11\" version 1.2.0 can be loaded by "
           "target type \"nvidia-11\" version 1.2.0");
}

Test(rules, vendor_both_directions)
{
    const char *a = DESC("pci:0x10de", "vfio-pci", "t", "1.0.0", "");
    const char *b = DESC("pci:0x8086", "vfio-pci", "t", "1.0.0", "");
    const char *z = DESC("0x00000000", "vfio-pci", "t", "1.0.0", "");
    EXPECT(a, b, VMS_COMPAT_VENDOR,
           "vendor id pci:0x10de of the source is not the target's vendor id "
           "pci:0x8086");
    EXPECT(b, a, VMS_COMPAT_VENDOR, "pci:0x8086 of the source", "pci:0x10de");
    EXPECT(z, a, VMS_COMPAT_VENDOR, "vendor id 0x00000000 of the source",
           "pci:0x10de");
    EXPECT(a, z, VMS_COMPAT_VENDOR, "0x00000000");
    OK(z, z);
}

Test(rules, device_api_both_directions)
{
    const char *a = DESC("pci:0x1014", "vfio-ccw", "t", "1.0.0", "");
    const char *b = DESC("pci:0x1014", "vfio-ap", "t", "1.0.0", "");
    EXPECT(a, b, VMS_COMPAT_DEVICE_API,
           "device API \"vfio-ccw\" of the source is not the target's device API "
           "\"vfio-ap\"");
    EXPECT(b, a, VMS_COMPAT_DEVICE_API, "\"vfio-ap\" of the source",
           "\"vfio-ccw\"");
}

Test(rules, type_own_and_accepted)
{
    const char *t11 = NV("nvidia-11", "1.2.0", "accept_types=nvidia-21\n");
    const char *s12 = NV("nvidia-12", "1.2.0", "");
    const char *s21 = NV("nvidia-21", "1.2.0", "");
    /* the example of the issue */
    EXPECT(s12, t11, VMS_COMPAT_TYPE,
           "device type \"nvidia-12\" of the source is not \"nvidia-11\" nor in the "
           "target's accepted types (nvidia-21)");
    OK(s21, t11);
    OK(NV("nvidia-11", "1.2.0", ""), t11);
    /* accepting is one-way: nvidia-21 accepts nothing */
    EXPECT(NV("nvidia-11", "1.2.0", ""), s21, VMS_COMPAT_TYPE,
           "device type \"nvidia-11\" of the source is not \"nvidia-21\" and the "
           "target accepts no other types");
    /* the source's own accept list plays no part */
    EXPECT(NV("nvidia-12", "1.2.0", "accept_types=nvidia-11\n"),
           NV("nvidia-11", "1.2.0", ""), VMS_COMPAT_TYPE, "\"nvidia-12\"");
    /* several accepted types */
    const char *multi = NV("nvidia-11", "1.2.0", "accept_types=nvidia-21,nvidia-12\n");
    OK(s12, multi);
    OK(s21, multi);
    EXPECT(NV("nvidia-13", "1.2.0", ""), multi, VMS_COMPAT_TYPE,
           "accepted types (nvidia-12, nvidia-21)");
}

Test(rules, type_reason_with_long_list_is_bounded)
{
    char t[4096];
    strcpy(t, NV("t", "1.0.0", "accept_types="));
    for (int i = 0; i < 32; i++) {
        char x[80];
        snprintf(x, sizeof x, "%s%02d%s", i ? "," : "", i,
                 "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        strcat(t, x);
    }
    strcat(t, "\n");
    EXPECT(NV("u", "1.0.0", ""), t, VMS_COMPAT_TYPE, "00-aaa", "more)");
}

Test(rules, major_both_directions)
{
    const char *v1 = NV("t", "1.9.9", "");
    const char *v2 = NV("t", "2.0.0", "");
    EXPECT(v1, v2, VMS_COMPAT_MAJOR,
           "interface major version 1 of the source (1.9.9) is not the target's "
           "major version 2 (2.0.0)");
    EXPECT(v2, v1, VMS_COMPAT_MAJOR, "major version 2 of the source (2.0.0)",
           "major version 1 (1.9.9)");
    EXPECT(NV("t", "0.1.0", ""), NV("t", "1.1.0", ""), VMS_COMPAT_MAJOR, "0.1.0",
           "1.1.0");
}

Test(rules, minor_older_to_newer_only)
{
    const char *old = NV("t", "1.2.7", "");
    const char *new = NV("t", "1.3.0", "");
    OK(old, new);
    EXPECT(new, old, VMS_COMPAT_MINOR,
           "interface version 1.3.0 of the source is newer than the target's "
           "1.2.7 (minor 3 > 2)");
    /* bugfix plays no part in either direction */
    OK(NV("t", "1.2.0", ""), NV("t", "1.2.9", ""));
    OK(NV("t", "1.2.9", ""), NV("t", "1.2.0", ""));
    /* large numbers */
    OK(NV("t", "7.4294967294.0", ""), NV("t", "7.4294967295.0", ""));
    EXPECT(NV("t", "7.4294967295.0", ""), NV("t", "7.4294967294.0", ""),
           VMS_COMPAT_MINOR, "minor 4294967295 > 4294967294");
}

Test(rules, deny_list)
{
    const char *tgt = NV("nvidia-11", "1.3.0", "deny_versions=1.2.3,1.1.0\n");
    EXPECT(NV("nvidia-11", "1.2.3", ""), tgt, VMS_COMPAT_DENIED,
           "interface version 1.2.3 of the source is on the target's deny list "
           "(1.1.0, 1.2.3)");
    EXPECT(NV("nvidia-11", "1.1.0", ""), tgt, VMS_COMPAT_DENIED, "1.1.0 of the source");
    OK(NV("nvidia-11", "1.2.4", ""), tgt);
    OK(NV("nvidia-11", "1.2.2", ""), tgt);
    OK(NV("nvidia-11", "1.3.0", ""), tgt);
    /* the deny list also applies to accepted types */
    EXPECT(NV("nvidia-21", "1.2.3", ""),
           NV("nvidia-11", "1.3.0", "accept_types=nvidia-21\ndeny_versions=1.2.3\n"),
           VMS_COMPAT_DENIED, "1.2.3");
    /* only the target's deny list counts */
    OK(NV("nvidia-11", "1.2.3", "deny_versions=1.3.0\n"), NV("nvidia-11", "1.3.0", ""));
    /* a target may deny its own version (a broken producer it cannot load) */
    EXPECT(NV("t", "1.3.0", ""), NV("t", "1.3.0", "deny_versions=1.3.0\n"),
           VMS_COMPAT_DENIED, "(1.3.0)");
}

Test(rules, first_failing_rule_wins)
{
    /* everything differs: the vendor is reported */
    EXPECT(DESC("pci:0x10de", "vfio-pci", "a", "1.5.0", "field.x=1\n"),
           DESC("pci:0x8086", "vfio-ccw", "b", "2.0.0", ""), VMS_COMPAT_VENDOR,
           "vendor id");
    EXPECT(NV("a", "1.5.0", "field.x=1\n"),
           DESC("pci:0x10de", "vfio-ccw", "b", "2.0.0", ""), VMS_COMPAT_DEVICE_API,
           "device API");
    EXPECT(NV("a", "1.5.0", "field.x=1\n"), NV("b", "2.0.0", ""), VMS_COMPAT_TYPE,
           "device type");
    EXPECT(NV("a", "1.5.0", "field.x=1\n"), NV("a", "2.0.0", "deny_versions=1.5.0\n"),
           VMS_COMPAT_MAJOR, "major");
    EXPECT(NV("a", "1.5.0", "field.x=1\n"), NV("a", "1.4.0", "deny_versions=1.5.0\n"),
           VMS_COMPAT_MINOR, "minor");
    EXPECT(NV("a", "1.4.0", "field.x=1\n"), NV("a", "1.4.0", "deny_versions=1.4.0\n"),
           VMS_COMPAT_DENIED, "deny list");
    /* fields are checked in name order: "a" before "b" */
    EXPECT(NV("t", "1.0.0", "field.b=1\nfield.a=1\n"),
           NV("t", "1.0.0", "field.b=2\nfield.a=2\n"), VMS_COMPAT_FIELD_VALUE,
           "\"a\"");
    EXPECT(NV("t", "1.0.0", "field.b=1\nfield.a=1\n"),
           NV("t", "1.0.0", "field.b=2\n"), VMS_COMPAT_FIELD_MISSING, "\"a\"");
}

/* ---- rules 8..10: vendor fields ------------------------------------------------- */

Test(fields, missing_in_target)
{
    EXPECT(NV("t", "1.0.0", "field.pv_mode=none\nfield.pv_mode.rule=superset\n"),
           NV("t", "1.0.0", ""), VMS_COMPAT_FIELD_MISSING,
           "vendor field \"pv_mode\" of the source (\"none\", rule superset) does not "
           "exist in the target");
    /* fields only the target has are not checked */
    OK(NV("t", "1.0.0", ""), NV("t", "1.0.0", "field.pv_mode=none\n"));
    OK(NV("t", "1.0.0", "field.a=1\n"), NV("t", "1.0.0", "field.a=1\nfield.b=2\n"));
}

Test(fields, result_names_the_field)
{
    vms_descriptor *s = P(NV("t", "1.0.0", "field.gen=9\n"));
    vms_descriptor *t = P(NV("t", "1.0.0", "field.gen=10\n"));
    vms_compat_result res;
    cr_assert_eq(vms_compat_check(s, t, NULL, &res), VMS_E_INCOMPATIBLE);
    cr_assert_str_eq(res.field, "gen");
    cr_assert_str_eq(vms_compat_rule_name(res.rule), "field_value");
    vms_descriptor_free(t);
    t = P(NV("t", "1.0.0", "field.gen=9\n"));
    cr_assert_eq(vms_compat_check(s, t, NULL, &res), VMS_OK);
    cr_assert_str_eq(res.field, "");
    cr_assert_eq(res.rule, VMS_COMPAT_OK);
    vms_descriptor_free(s);
    vms_descriptor_free(t);
}

Test(fields, rule_mismatch_both_directions)
{
    const char *ge = NV("t", "1.0.0", "field.n=4\nfield.n.rule=ge\n");
    const char *eq = NV("t", "1.0.0", "field.n=4\n");
    EXPECT(ge, eq, VMS_COMPAT_FIELD_RULE,
           "vendor field \"n\" has rule ge in the source but rule equal in the "
           "target");
    EXPECT(eq, ge, VMS_COMPAT_FIELD_RULE, "rule equal in the source but rule ge");
}

Test(fields, equal)
{
    const char *a = NV("t", "1.0.0", "field.gen=9\n");
    const char *b = NV("t", "1.0.0", "field.gen=10\n");
    OK(a, a);
    EXPECT(a, b, VMS_COMPAT_FIELD_VALUE,
           "vendor field \"gen\" of the source is \"9\" but the target's is \"10\" "
           "(rule equal");
    EXPECT(b, a, VMS_COMPAT_FIELD_VALUE, "is \"10\" but the target's is \"9\"");
    /* equal compares strings exactly: 9 and 09 differ */
    EXPECT(a, NV("t", "1.0.0", "field.gen=09\n"), VMS_COMPAT_FIELD_VALUE, "\"09\"");
}

Test(fields, superset)
{
    const char *src = NV("t", "1.0.0", "field.pv_mode=none+ppgtt\n"
                                       "field.pv_mode.rule=superset\n");
    const char *big = NV("t", "1.0.0", "field.pv_mode=none+ppgtt+context\n"
                                       "field.pv_mode.rule=superset\n");
    const char *other = NV("t", "1.0.0", "field.pv_mode=none+context\n"
                                         "field.pv_mode.rule=superset\n");
    OK(src, big);
    OK(src, src);
    OK(big, big);
    /* the reverse direction: the target lacks "context" */
    EXPECT(big, src, VMS_COMPAT_FIELD_VALUE,
           "vendor field \"pv_mode\" of the target (\"none+ppgtt\") lacks "
           "\"context\" of the source's \"context+none+ppgtt\" (rule superset");
    /* feature removal (seed 004): none+ppgtt cannot move to none+context */
    EXPECT(src, other, VMS_COMPAT_FIELD_VALUE, "lacks \"ppgtt\"");
    EXPECT(other, src, VMS_COMPAT_FIELD_VALUE, "lacks \"context\"");
    OK(other, big);
    /* elements compare whole: "pp" is not "ppgtt" */
    EXPECT(NV("t", "1.0.0", "field.m=pp\nfield.m.rule=superset\n"),
           NV("t", "1.0.0", "field.m=ppgtt+q\nfield.m.rule=superset\n"),
           VMS_COMPAT_FIELD_VALUE, "lacks \"pp\"");
    EXPECT(NV("t", "1.0.0", "field.m=ppgtt\nfield.m.rule=superset\n"),
           NV("t", "1.0.0", "field.m=pp+q\nfield.m.rule=superset\n"),
           VMS_COMPAT_FIELD_VALUE, "lacks \"ppgtt\"");
    /* the last element missing, past the target's last */
    EXPECT(NV("t", "1.0.0", "field.m=a+z\nfield.m.rule=superset\n"),
           NV("t", "1.0.0", "field.m=a+b\nfield.m.rule=superset\n"),
           VMS_COMPAT_FIELD_VALUE, "lacks \"z\"");
    OK(NV("t", "1.0.0", "field.m=b+z\nfield.m.rule=superset\n"),
       NV("t", "1.0.0", "field.m=a+b+c+z\nfield.m.rule=superset\n"));
}

Test(fields, ge)
{
    const char *four = NV("t", "1.0.0", "field.aggregator=4\nfield.aggregator.rule=ge\n");
    const char *eight = NV("t", "1.0.0", "field.aggregator=8\nfield.aggregator.rule=ge\n");
    OK(four, eight);
    OK(four, four);
    EXPECT(eight, four, VMS_COMPAT_FIELD_VALUE,
           "vendor field \"aggregator\" of the target (4) is less than the "
           "source's (8) (rule ge");
    /* numeric, not string, comparison */
    const char *nine = NV("t", "1.0.0", "field.n=9\nfield.n.rule=ge\n");
    const char *ten = NV("t", "1.0.0", "field.n=10\nfield.n.rule=ge\n");
    OK(nine, ten);
    EXPECT(ten, nine, VMS_COMPAT_FIELD_VALUE, "(9) is less than the source's (10)");
    const char *max = NV("t", "1.0.0", "field.n=18446744073709551615\nfield.n.rule=ge\n");
    const char *max1 = NV("t", "1.0.0", "field.n=18446744073709551614\nfield.n.rule=ge\n");
    OK(max1, max);
    EXPECT(max, max1, VMS_COMPAT_FIELD_VALUE, "18446744073709551614");
    OK(NV("t", "1.0.0", "field.n=0\nfield.n.rule=ge\n"), nine);
}

/* ---- callbacks ---------------------------------------------------------------- */

typedef struct cb_log {
    int field_calls, final_calls;
    char seen[8][VMS_DESC_MAX_NAME + 1];
    bool target_null[8];
    vms_compat_verdict field_verdict, final_verdict;
    const char *only; /* the field the callback decides; others DEFAULT */
    const char *why;
} cb_log;

static vms_compat_verdict field_cb(void *ctx, const char *name,
                                   const char *source_value, vms_field_rule source_rule,
                                   const char *target_value, vms_field_rule target_rule,
                                   char *why, size_t why_cap)
{
    cb_log *l = ctx;
    (void)source_rule;
    (void)target_rule;
    cr_assert_not_null(source_value);
    cr_assert_eq(why_cap, VMS_COMPAT_WHY_MAX);
    cr_assert_eq(why[0], '\0');
    if (l->field_calls < 8) {
        snprintf(l->seen[l->field_calls], sizeof l->seen[0], "%s", name);
        l->target_null[l->field_calls] = target_value == NULL;
    }
    l->field_calls++;
    if (l->only && strcmp(name, l->only) != 0)
        return VMS_VERDICT_DEFAULT;
    if (l->why)
        snprintf(why, why_cap, "%s", l->why);
    return l->field_verdict;
}

static vms_compat_verdict final_cb(void *ctx, const vms_descriptor *s,
                                   const vms_descriptor *t, char *why, size_t why_cap)
{
    cb_log *l = ctx;
    cr_assert_not_null(s);
    cr_assert_not_null(t);
    l->final_calls++;
    if (l->why)
        snprintf(why, why_cap, "%s", l->why);
    return l->final_verdict;
}

static vms_status run(const char *src, const char *tgt, cb_log *l,
                      vms_compat_result *res)
{
    vms_compat_options opt = {field_cb, final_cb, l};
    vms_descriptor *s = P(src), *t = P(tgt);
    vms_status st = vms_compat_check(s, t, &opt, res);
    vms_descriptor_free(s);
    vms_descriptor_free(t);
    return st;
}

Test(callbacks, field_called_in_name_order_with_target_values)
{
    cb_log l = {0};
    vms_compat_result res;
    cr_assert_eq(run(NV("t", "1.0.0", "field.z=1\nfield.a=1\nfield.m=1\n"),
                     NV("t", "1.0.0", "field.z=1\nfield.a=1\n"), &l, &res),
                 VMS_E_INCOMPATIBLE);
    /* DEFAULT: the built-in rules apply, so "m" (missing) fails */
    cr_assert_eq(res.rule, VMS_COMPAT_FIELD_MISSING);
    cr_assert_eq(l.field_calls, 2, "a, m; stops at the first failure");
    cr_assert_str_eq(l.seen[0], "a");
    cr_assert_str_eq(l.seen[1], "m");
    cr_assert(!l.target_null[0]);
    cr_assert(l.target_null[1]);
    cr_assert_eq(l.final_calls, 0, "final runs only when everything passed");
}

Test(callbacks, field_accept_decides_a_vendor_only_field)
{
    cb_log l = {0};
    vms_compat_result res;
    l.only = "fw";
    l.field_verdict = VMS_VERDICT_ACCEPT;
    /* the vendor's table says firmware 7.1 state loads into 8.0 */
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=7.1\n"),
                     NV("t", "1.0.0", "field.fw=8.0\n"), &l, &res), VMS_OK);
    cr_assert_eq(res.rule, VMS_COMPAT_OK);
    /* ... and may accept a field the target lacks */
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=7.1\n"), NV("t", "1.0.0", ""), &l, &res),
                 VMS_OK);
    /* but only for the field it decides: others keep the built-in rule */
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=7.1\nfield.gen=1\n"),
                     NV("t", "1.0.0", "field.fw=8.0\nfield.gen=2\n"), &l, &res),
                 VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_FIELD_VALUE);
    cr_assert_str_eq(res.field, "gen");
    cr_assert_eq(l.final_calls, 2);
}

Test(callbacks, field_refuse_reason_included)
{
    cb_log l = {0};
    vms_compat_result res;
    l.field_verdict = VMS_VERDICT_REFUSE;
    l.why = "firmware 7.1 state cannot be loaded by firmware 6.0";
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=7.1\n"),
                     NV("t", "1.0.0", "field.fw=6.0\n"), &l, &res),
                 VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_FIELD_CALLBACK);
    cr_assert_str_eq(res.field, "fw");
    cr_assert(strstr(res.reason,
                     "the vendor callback refused vendor field \"fw\" (source "
                     "\"7.1\", target \"6.0\"): firmware 7.1 state cannot be "
                     "loaded by firmware 6.0"),
              "%s", res.reason);
    /* refusal even though the built-in rule would pass; target lacking it */
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=7.1\n"), NV("t", "1.0.0", ""), &l,
                     &res), VMS_E_INCOMPATIBLE);
    cr_assert(strstr(res.reason, "target without this field"), "%s", res.reason);
    /* no text and bytes that are not printable */
    l.why = NULL;
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=1\n"), NV("t", "1.0.0", "field.fw=1\n"),
                     &l, &res), VMS_E_INCOMPATIBLE);
    cr_assert(strstr(res.reason, ": no reason given"), "%s", res.reason);
    l.why = "bad\x1b[31m\xff";
    cr_assert_eq(run(NV("t", "1.0.0", "field.fw=1\n"), NV("t", "1.0.0", "field.fw=1\n"),
                     &l, &res), VMS_E_INCOMPATIBLE);
    cr_assert(strstr(res.reason, ": bad?[31m?"), "%s", res.reason);
    cr_assert(printable(res.reason));
}

Test(callbacks, field_default_and_errors)
{
    cb_log l = {0};
    vms_compat_result res;
    l.field_verdict = VMS_VERDICT_DEFAULT;
    cr_assert_eq(run(NV("t", "1.0.0", "field.n=2\nfield.n.rule=ge\n"),
                     NV("t", "1.0.0", "field.n=3\nfield.n.rule=ge\n"), &l, &res),
                 VMS_OK);
    cr_assert_eq(run(NV("t", "1.0.0", "field.n=4\nfield.n.rule=ge\n"),
                     NV("t", "1.0.0", "field.n=3\nfield.n.rule=ge\n"), &l, &res),
                 VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_FIELD_VALUE);
    l.field_verdict = VMS_VERDICT_ERROR;
    cr_assert_eq(run(NV("t", "1.0.0", "field.n=2\n"), NV("t", "1.0.0", "field.n=2\n"),
                     &l, &res), VMS_E_CALLBACK);
    cr_assert_eq(res.rule, VMS_COMPAT_FIELD_CALLBACK);
    cr_assert(strstr(res.reason, "failed on field \"n\""));
    l.field_verdict = (vms_compat_verdict)42;
    cr_assert_eq(run(NV("t", "1.0.0", "field.n=2\n"), NV("t", "1.0.0", "field.n=2\n"),
                     &l, &res), VMS_E_CALLBACK);
}

Test(callbacks, final_check)
{
    cb_log l = {0};
    vms_compat_result res;
    l.field_verdict = VMS_VERDICT_DEFAULT;
    l.final_verdict = VMS_VERDICT_REFUSE;
    l.why = "this board revision lacks the copy engine";
    cr_assert_eq(run(NV("nvidia-11", "1.2.0", ""), NV("nvidia-11", "1.3.0", ""), &l,
                     &res), VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_VENDOR_CALLBACK);
    cr_assert_str_eq(res.field, "");
    cr_assert(strstr(res.reason,
                     "the vendor callback refused source \"nvidia-11\" 1.2.0 for "
                     "target \"nvidia-11\" 1.3.0: this board revision lacks the "
                     "copy engine"),
              "%s", res.reason);
    l.final_verdict = VMS_VERDICT_ACCEPT;
    cr_assert_eq(run(NV("t", "1.2.0", ""), NV("t", "1.3.0", ""), &l, &res), VMS_OK);
    l.final_verdict = VMS_VERDICT_DEFAULT;
    cr_assert_eq(run(NV("t", "1.2.0", ""), NV("t", "1.3.0", ""), &l, &res), VMS_OK);
    /* accept cannot override a built-in rule */
    l.final_verdict = VMS_VERDICT_ACCEPT;
    l.final_calls = 0;
    cr_assert_eq(run(NV("t", "1.3.0", ""), NV("t", "1.2.0", ""), &l, &res),
                 VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_MINOR);
    cr_assert_eq(l.final_calls, 0);
    l.final_verdict = VMS_VERDICT_ERROR;
    cr_assert_eq(run(NV("t", "1.2.0", ""), NV("t", "1.3.0", ""), &l, &res),
                 VMS_E_CALLBACK);
    cr_assert_eq(res.rule, VMS_COMPAT_VENDOR_CALLBACK);
    l.final_verdict = (vms_compat_verdict)-7;
    cr_assert_eq(run(NV("t", "1.2.0", ""), NV("t", "1.3.0", ""), &l, &res),
                 VMS_E_CALLBACK);
}

/* A why text filling the whole buffer without a NUL is cut, not overrun. */
static vms_compat_verdict fill_cb(void *ctx, const vms_descriptor *s,
                                  const vms_descriptor *t, char *why, size_t why_cap)
{
    (void)ctx;
    (void)s;
    (void)t;
    memset(why, 'w', why_cap);
    return VMS_VERDICT_REFUSE;
}

Test(callbacks, unterminated_why)
{
    vms_compat_options opt = {NULL, fill_cb, NULL};
    vms_descriptor *s = P(NV("t", "1.0.0", "")), *t = P(NV("t", "1.0.0", ""));
    vms_compat_result res;
    cr_assert_eq(vms_compat_check(s, t, &opt, &res), VMS_E_INCOMPATIBLE);
    cr_assert(strstr(res.reason, "wwww"));
    cr_assert_lt(strlen(res.reason), sizeof res.reason);
    vms_descriptor_free(s);
    vms_descriptor_free(t);
}

/* ---- arguments, names, vectors ------------------------------------------------- */

Test(api, arguments)
{
    vms_descriptor *s = P(NV("t", "1.0.0", "")), *e;
    vms_compat_result res;
    cr_assert_eq(vms_compat_check(NULL, s, NULL, &res), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_compat_check(s, NULL, NULL, &res), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_new(&e, NULL), VMS_OK);
    cr_assert_eq(vms_compat_check(s, e, NULL, &res), VMS_E_INVALID_ARG);
    cr_assert(strstr(res.reason, "incomplete"));
    cr_assert_eq(vms_compat_check(e, s, NULL, NULL), VMS_E_INVALID_ARG);
    vms_compat_options none = {NULL, NULL, NULL};
    cr_assert_eq(vms_compat_check(s, s, &none, &res), VMS_OK);
    vms_descriptor_free(s);
    vms_descriptor_free(e);
}

Test(api, rule_names)
{
    const char *names[] = {"ok", "vendor", "device_api", "type", "major", "minor",
                           "denied", "field_callback", "field_missing", "field_rule",
                           "field_value", "vendor_callback"};
    for (int i = 0; i < 12; i++)
        cr_assert_str_eq(vms_compat_rule_name((vms_compat_rule)i), names[i]);
    cr_assert_str_eq(vms_compat_rule_name((vms_compat_rule)12), "?");
    cr_assert_str_eq(vms_compat_rule_name((vms_compat_rule)-1), "?");
    /* stable values */
    cr_assert_eq(VMS_COMPAT_VENDOR, 1);
    cr_assert_eq(VMS_COMPAT_DENIED, 6);
    cr_assert_eq(VMS_COMPAT_VENDOR_CALLBACK, 11);
}

/* Binary round trip does not change the answer. */
Test(api, answer_survives_binary_encoding)
{
    vms_descriptor *s = P(NV("nvidia-12", "1.2.0", "field.p=a+b\nfield.p.rule=superset\n"));
    vms_descriptor *t = P(NV("nvidia-11", "1.4.0", "accept_types=nvidia-12\n"
                                                   "field.p=a+b+c\nfield.p.rule=superset\n"));
    uint8_t a[VMS_DESC_MAX_BINARY], b[VMS_DESC_MAX_BINARY];
    size_t na, nb;
    cr_assert_eq(vms_descriptor_encode(s, a, sizeof a, &na), VMS_OK);
    cr_assert_eq(vms_descriptor_encode(t, b, sizeof b, &nb), VMS_OK);
    vms_descriptor *s2, *t2;
    cr_assert_eq(vms_descriptor_decode(&s2, a, na, NULL, NULL), VMS_OK);
    cr_assert_eq(vms_descriptor_decode(&t2, b, nb, NULL, NULL), VMS_OK);
    cr_assert_eq(vms_compat_check(s2, t2, NULL, NULL), VMS_OK);
    cr_assert_eq(vms_compat_check(t2, s2, NULL, NULL), VMS_E_INCOMPATIBLE);
    vms_descriptor_free(s);
    vms_descriptor_free(t);
    vms_descriptor_free(s2);
    vms_descriptor_free(t2);
}

static vms_descriptor *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/descriptors/%s", VMS_TEST_VECTORS, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    static char text[VMS_DESC_MAX_TEXT + 1];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    vms_descriptor *d;
    vms_descriptor_error err;
    cr_assert_eq(vms_descriptor_parse_text(&d, text, n, NULL, &err), VMS_OK,
                 "%s:%u: %s", name, (unsigned)err.line, err.message);
    return d;
}

/* The outcomes the sample files document in their comments (the CLI tests
 * rely on them). */
Test(api, vector_files)
{
    vms_descriptor *s11 = load("source-nvidia-11.txt");
    vms_descriptor *s12 = load("source-nvidia-12.txt");
    vms_descriptor *t11 = load("target-nvidia-11.txt");
    vms_descriptor *tr = load("target-refuses.txt");
    vms_compat_result res;
    cr_assert_eq(vms_compat_check(s11, t11, NULL, &res), VMS_OK, "%s", res.reason);
    cr_assert_eq(vms_compat_check(s12, t11, NULL, &res), VMS_E_INCOMPATIBLE);
    cr_assert_str_eq(res.reason,
                     "device type \"nvidia-12\" of the source is not \"nvidia-11\" "
                     "nor in the target's accepted types (nvidia-21)");
    cr_assert_eq(vms_compat_check(s11, tr, NULL, &res), VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_DENIED);
    cr_assert_str_eq(res.reason, "interface version 1.2.0 of the source is on the "
                                 "target's deny list (1.1.3, 1.2.0)");
    /* and the other way round: 1.3.0 state does not go back to 1.2.0 */
    cr_assert_eq(vms_compat_check(t11, s11, NULL, &res), VMS_E_INCOMPATIBLE);
    cr_assert_eq(res.rule, VMS_COMPAT_MINOR);
    vms_descriptor_free(s11);
    vms_descriptor_free(s12);
    vms_descriptor_free(t11);
    vms_descriptor_free(tr);
}
