/* test_descriptor.c - the descriptor object, its text form (parse, format,
 * every rejection with its line number) and its canonical binary form
 * (round trips, truncation, bit flips, non-canonical encodings). */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmstream.h"
#include "vmstream_compat.h"

/* ---- helpers -------------------------------------------------------------- */

static const char sample_text[] =
    "# NVIDIA vGPU, M60, profile nvidia-11\n"
    "vendor_id = pci:0x10de\n"
    "device_api=vfio-pci\n"
    "\ttype=nvidia-11   \n"
    "\n"
    "version=1.2.0\n"
    "accept_types=nvidia-21, nvidia-12\n"
    "deny_versions=1.1.3,1.0.0\n"
    "   # vendor fields\n"
    "field.pv_mode=none+ppgtt+context\n"
    "field.pv_mode.rule=superset\n"
    "field.aggregator.rule=ge\n"
    "field.aggregator=4\n"
    "field.gen=9\n";

static const char sample_canonical[] =
    "vendor_id=pci:0x10de\n"
    "device_api=vfio-pci\n"
    "type=nvidia-11\n"
    "version=1.2.0\n"
    "accept_types=nvidia-12,nvidia-21\n"
    "deny_versions=1.0.0,1.1.3\n"
    "field.aggregator=4\n"
    "field.aggregator.rule=ge\n"
    "field.gen=9\n"
    "field.gen.rule=equal\n"
    "field.pv_mode=context+none+ppgtt\n"
    "field.pv_mode.rule=superset\n";

/* The binary encoding of the sample (doc/DESCRIPTOR-BINARY.md shows it). */
static const uint8_t sample_bin[] = {
    0x56, 0x4d, 0x53, 0x44, 0x01, 0x00, 0x8b, 0x00, /* VMSD v1 len 139 */
    0xde, 0x10, 0x00, 0x80,                         /* vendor 0x800010de */
    0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, /* 1.2 */
    0x00, 0x00, 0x00, 0x00,                         /* .0 */
    0x08, 'v', 'f', 'i', 'o', '-', 'p', 'c', 'i',
    0x09, 'n', 'v', 'i', 'd', 'i', 'a', '-', '1', '1',
    0x02,
    0x09, 'n', 'v', 'i', 'd', 'i', 'a', '-', '1', '2',
    0x09, 'n', 'v', 'i', 'd', 'i', 'a', '-', '2', '1',
    0x02,
    0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,          /* 1.0.0 */
    0x01, 0, 0, 0, 0x01, 0, 0, 0, 0x03, 0, 0, 0,    /* 1.1.3 */
    0x03,
    0x0a, 'a', 'g', 'g', 'r', 'e', 'g', 'a', 't', 'o', 'r', 0x02, 0x01, '4',
    0x03, 'g', 'e', 'n', 0x00, 0x01, '9',
    0x07, 'p', 'v', '_', 'm', 'o', 'd', 'e', 0x01,
    0x12, 'c', 'o', 'n', 't', 'e', 'x', 't', '+', 'n', 'o', 'n', 'e', '+',
    'p', 'p', 'g', 't', 't',
};

static vms_descriptor *parse_ok(const char *text)
{
    vms_descriptor *d = NULL;
    vms_descriptor_error err;
    vms_status st = vms_descriptor_parse_text(&d, text, strlen(text), NULL, &err);
    cr_assert_eq(st, VMS_OK, "parse failed: line %u: %s", (unsigned)err.line,
                 err.message);
    cr_assert_eq(err.code, VMS_OK);
    cr_assert_eq(err.message[0], '\0');
    cr_assert_not_null(d);
    return d;
}

static bool printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* Parsing len bytes must fail on `line` with a message containing `part`. */
static void parse_fails_n(const char *text, size_t len, uint32_t line,
                          const char *part)
{
    vms_descriptor *d = (vms_descriptor *)1;
    vms_descriptor_error err;
    vms_status st = vms_descriptor_parse_text(&d, text, len, NULL, &err);
    cr_assert_eq(st, VMS_E_BAD_DESCRIPTOR, "accepted: %.*s", (int)len, text);
    cr_assert_null(d);
    cr_assert_eq(err.code, VMS_E_BAD_DESCRIPTOR);
    cr_assert_eq(err.line, line, "line %u, expected %u: %s", (unsigned)err.line,
                 (unsigned)line, err.message);
    cr_assert(strstr(err.message, part) != NULL,
              "message \"%s\" lacks \"%s\"", err.message, part);
    cr_assert(printable(err.message), "message not printable: %s", err.message);
}

static void parse_fails(const char *text, uint32_t line, const char *part)
{
    parse_fails_n(text, strlen(text), line, part);
}

#define HEAD "vendor_id=pci:0x10de\ndevice_api=vfio-pci\ntype=nvidia-11\n"
#define BASE HEAD "version=1.2.0\n" /* lines 1..4 */

static char *format_alloc(const vms_descriptor *d)
{
    size_t need = 0;
    cr_assert_eq(vms_descriptor_format_text(d, NULL, 0, &need), VMS_E_INVALID_ARG);
    cr_assert_gt(need, 1);
    char *buf = malloc(need);
    size_t need2 = 0;
    cr_assert_eq(vms_descriptor_format_text(d, buf, need, &need2), VMS_OK);
    cr_assert_eq(need2, need);
    cr_assert_eq(strlen(buf) + 1, need);
    return buf;
}

static uint8_t *encode_alloc(const vms_descriptor *d, size_t *len)
{
    size_t need = 0;
    cr_assert_eq(vms_descriptor_encode(d, NULL, 0, &need), VMS_E_INVALID_ARG);
    cr_assert_gt(need, 0);
    cr_assert_leq(need, VMS_DESC_MAX_BINARY);
    uint8_t *buf = malloc(need);
    size_t need2 = 0;
    cr_assert_eq(vms_descriptor_encode(d, buf, need, &need2), VMS_OK);
    cr_assert_eq(need2, need);
    *len = need;
    return buf;
}

static vms_status decode(const uint8_t *buf, size_t len, vms_descriptor **out,
                         vms_descriptor_error *err)
{
    return vms_descriptor_decode(out, buf, len, NULL, err);
}

/* Decoding must fail with BAD_DESCRIPTOR at offset `off` (or any offset
 * when off is SIZE_MAX) with a message containing part. */
static void decode_fails(const uint8_t *buf, size_t len, size_t off,
                         const char *part)
{
    vms_descriptor *d = (vms_descriptor *)1;
    vms_descriptor_error err;
    vms_status st = decode(buf, len, &d, &err);
    cr_assert_eq(st, VMS_E_BAD_DESCRIPTOR, "accepted (expected: %s)", part);
    cr_assert_null(d);
    cr_assert_eq(err.code, VMS_E_BAD_DESCRIPTOR);
    cr_assert_eq(err.line, 0);
    if (off != SIZE_MAX)
        cr_assert_eq(err.offset, off, "offset %llu, expected %zu: %s",
                     (unsigned long long)err.offset, off, err.message);
    cr_assert(strstr(err.message, part) != NULL, "message \"%s\" lacks \"%s\"",
              err.message, part);
    cr_assert(printable(err.message));
}

/* Deterministic PRNG for the mutation tests. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    uint64_t x = rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return rng_state = x;
}

/* A descriptor with every list and string at its limit. */
static vms_descriptor *make_max(void)
{
    vms_descriptor *d;
    char s[300];
    cr_assert_eq(vms_descriptor_new(&d, NULL), VMS_OK);
    memset(s, 'a', VMS_DESC_MAX_IDENT);
    s[VMS_DESC_MAX_IDENT] = '\0';
    cr_assert_eq(vms_descriptor_set_device_api(d, s), VMS_OK);
    s[0] = 'b';
    cr_assert_eq(vms_descriptor_set_type(d, s), VMS_OK);
    cr_assert_eq(vms_descriptor_set_vendor_id(d, VMS_VENDOR_PCI(0xffff)), VMS_OK);
    cr_assert_eq(vms_descriptor_set_version(d, UINT32_MAX, UINT32_MAX, UINT32_MAX),
                 VMS_OK);
    for (unsigned i = 0; i < VMS_DESC_MAX_ACCEPT; i++) {
        snprintf(s, 3, "%02u", i);
        s[2] = 'x';
        cr_assert_eq(vms_descriptor_add_accept_type(d, s), VMS_OK);
    }
    for (unsigned i = 0; i < VMS_DESC_MAX_DENY; i++)
        cr_assert_eq(vms_descriptor_add_deny_version(d, UINT32_MAX - i, i, 7 * i),
                     VMS_OK);
    for (unsigned i = 0; i < VMS_DESC_MAX_FIELDS; i++) {
        char name[VMS_DESC_MAX_NAME + 1], value[VMS_DESC_MAX_VALUE + 1];
        memset(name, 'n', VMS_DESC_MAX_NAME);
        name[VMS_DESC_MAX_NAME] = '\0';
        snprintf(name, 3, "%02u", i);
        name[2] = 'n';
        memset(value, 'v', VMS_DESC_MAX_VALUE);
        value[VMS_DESC_MAX_VALUE] = '\0';
        cr_assert_eq(vms_descriptor_add_field(d, name, value, VMS_FIELD_EQUAL),
                     VMS_OK);
    }
    return d;
}

/* ---- text: parse and format ------------------------------------------------ */

Test(text, parse_sample)
{
    vms_descriptor *d = parse_ok(sample_text);
    cr_assert_eq(vms_descriptor_get_vendor_id(d), 0x800010deu);
    cr_assert_str_eq(vms_descriptor_get_device_api(d), "vfio-pci");
    cr_assert_str_eq(vms_descriptor_get_type(d), "nvidia-11");
    vms_device_version v = vms_descriptor_get_version(d);
    cr_assert(v.major == 1 && v.minor == 2 && v.bugfix == 0);
    cr_assert_eq(vms_descriptor_accept_type_count(d), 2);
    cr_assert_str_eq(vms_descriptor_get_accept_type(d, 0), "nvidia-12");
    cr_assert_str_eq(vms_descriptor_get_accept_type(d, 1), "nvidia-21");
    cr_assert_null(vms_descriptor_get_accept_type(d, 2));
    cr_assert_eq(vms_descriptor_deny_version_count(d), 2);
    cr_assert_eq(vms_descriptor_get_deny_version(d, 0, &v), VMS_OK);
    cr_assert(v.major == 1 && v.minor == 0 && v.bugfix == 0);
    cr_assert_eq(vms_descriptor_get_deny_version(d, 1, &v), VMS_OK);
    cr_assert(v.major == 1 && v.minor == 1 && v.bugfix == 3);
    cr_assert_eq(vms_descriptor_get_deny_version(d, 2, &v), VMS_E_INVALID_ARG);

    cr_assert_eq(vms_descriptor_field_count(d), 3);
    const char *name, *value;
    vms_field_rule rule;
    cr_assert_eq(vms_descriptor_get_field(d, 0, &name, &value, &rule), VMS_OK);
    cr_assert_str_eq(name, "aggregator");
    cr_assert_str_eq(value, "4");
    cr_assert_eq(rule, VMS_FIELD_GE);
    cr_assert_eq(vms_descriptor_get_field(d, 1, &name, &value, &rule), VMS_OK);
    cr_assert_str_eq(name, "gen");
    cr_assert_str_eq(value, "9");
    cr_assert_eq(rule, VMS_FIELD_EQUAL, "a field without a rule line is equal");
    cr_assert_eq(vms_descriptor_get_field(d, 2, &name, &value, &rule), VMS_OK);
    cr_assert_str_eq(name, "pv_mode");
    cr_assert_str_eq(value, "context+none+ppgtt", "superset sets are sorted");
    cr_assert_eq(rule, VMS_FIELD_SUPERSET);
    cr_assert_eq(vms_descriptor_get_field(d, 3, NULL, NULL, NULL), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_find_field(d, "gen"), 1);
    cr_assert_eq(vms_descriptor_find_field(d, "pv_mode"), 2);
    cr_assert_eq(vms_descriptor_find_field(d, "aggregator"), 0);
    cr_assert_eq(vms_descriptor_find_field(d, "nope"), -1);
    cr_assert_eq(vms_descriptor_validate(d), VMS_OK);
    vms_descriptor_free(d);
}

Test(text, format_is_canonical)
{
    vms_descriptor *d = parse_ok(sample_text);
    char *t = format_alloc(d);
    cr_assert_str_eq(t, sample_canonical);
    free(t);
    vms_descriptor_free(d);
}

Test(text, format_then_parse_round_trip)
{
    const char *inputs[] = {
        sample_text,
        BASE,
        "vendor_id=0x00000000\ndevice_api=vfio-ccw\ntype=0\nversion=0.0.0\n",
        "vendor_id=pci:0x1\ndevice_api=vfio-ap\ntype=a.b:c_d-e\n"
        "version=4294967295.4294967295.4294967295\n"
        "deny_versions=4294967295.0.0, 0.0.4294967295\n"
        "field.z=18446744073709551615\nfield.z.rule=ge\n"
        "field.a=x-_.:+,/@%~\n"
        "field.m=b+a+c.d\nfield.m.rule=superset\n",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof *inputs; i++) {
        vms_descriptor *a = parse_ok(inputs[i]);
        char *t = format_alloc(a);
        vms_descriptor *b = parse_ok(t);
        cr_assert(vms_descriptor_equal(a, b), "input %zu:\n%s", i, t);
        char *t2 = format_alloc(b);
        cr_assert_str_eq(t, t2);
        free(t);
        free(t2);
        vms_descriptor_free(a);
        vms_descriptor_free(b);
    }
}

Test(text, format_then_parse_max)
{
    vms_descriptor *a = make_max();
    char *t = format_alloc(a);
    vms_descriptor *b = parse_ok(t);
    cr_assert(vms_descriptor_equal(a, b));
    free(t);
    vms_descriptor_free(a);
    vms_descriptor_free(b);
}

/* The largest text the formatter can write: every list and string at its
 * limit, the longest numbers, and the longest rule name. */
Test(text, maximum_formatted_size)
{
    static const char first[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef";
    vms_descriptor *d;
    char s[VMS_DESC_MAX_VALUE + 1];
    cr_assert_eq(vms_descriptor_new(&d, NULL), VMS_OK);
    memset(s, 'a', VMS_DESC_MAX_IDENT);
    s[VMS_DESC_MAX_IDENT] = '\0';
    cr_assert_eq(vms_descriptor_set_device_api(d, s), VMS_OK);
    cr_assert_eq(vms_descriptor_set_type(d, s), VMS_OK);
    cr_assert_eq(vms_descriptor_set_version(d, UINT32_MAX, UINT32_MAX, UINT32_MAX),
                 VMS_OK);
    for (unsigned i = 0; i < VMS_DESC_MAX_ACCEPT; i++) {
        s[0] = first[i];
        cr_assert_eq(vms_descriptor_add_accept_type(d, s), VMS_OK);
    }
    for (unsigned i = 0; i < VMS_DESC_MAX_DENY; i++)
        cr_assert_eq(vms_descriptor_add_deny_version(d, UINT32_MAX - i, UINT32_MAX,
                                                     UINT32_MAX), VMS_OK);
    for (unsigned i = 0; i < VMS_DESC_MAX_FIELDS; i++) {
        char name[VMS_DESC_MAX_NAME + 1];
        memset(name, 'n', VMS_DESC_MAX_NAME);
        name[VMS_DESC_MAX_NAME] = '\0';
        name[0] = first[i];
        memset(s, '1', VMS_DESC_MAX_VALUE);
        s[VMS_DESC_MAX_VALUE] = '\0';
        cr_assert_eq(vms_descriptor_add_field(d, name, s, VMS_FIELD_SUPERSET), VMS_OK);
    }
    char *t = format_alloc(d);
    cr_assert_eq(strlen(t) + 1, VMS_DESC_MAX_FORMATTED);
    size_t longest = 0;
    for (const char *p = t; *p;) {
        const char *nl = strchr(p, '\n');
        if ((size_t)(nl - p) > longest)
            longest = (size_t)(nl - p);
        p = nl + 1;
    }
    cr_assert_eq(longest, 2125);
    vms_descriptor *e = parse_ok(t);
    cr_assert(vms_descriptor_equal(d, e));
    free(t);
    vms_descriptor_free(d);
    vms_descriptor_free(e);
}

Test(text, format_buffer_sizes)
{
    vms_descriptor *d = parse_ok(sample_text);
    size_t need = 0;
    char buf[512];
    memset(buf, 'X', sizeof buf);
    cr_assert_eq(vms_descriptor_format_text(d, buf, strlen(sample_canonical), &need),
                 VMS_E_INVALID_ARG, "no room for the NUL");
    cr_assert_eq(need, strlen(sample_canonical) + 1);
    cr_assert_eq(buf[0], 'X', "buffer untouched when too small");
    cr_assert_eq(vms_descriptor_format_text(d, buf, need, NULL), VMS_OK);
    cr_assert_str_eq(buf, sample_canonical);
    cr_assert_eq(vms_descriptor_format_text(d, NULL, 5, &need), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_format_text(NULL, buf, sizeof buf, &need),
                 VMS_E_INVALID_ARG);
    vms_descriptor_free(d);
}

Test(text, vendor_id_forms)
{
    struct { const char *v; uint32_t id; const char *canon; } c[] = {
        {"pci:0x10de", 0x800010deu, "pci:0x10de"},
        {"pci:0x10DE", 0x800010deu, "pci:0x10de"},
        {"pci:0x1", 0x80000001u, "pci:0x0001"},
        {"pci:0x0000", 0x80000000u, "pci:0x0000"},
        {"0x00000000", 0, "0x00000000"},
        {"0x8000ABCD", 0x8000abcdu, "pci:0xabcd"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++) {
        char text[200], want[64];
        snprintf(text, sizeof text,
                 "vendor_id=%s\ndevice_api=vfio-pci\ntype=t\nversion=1.0.0\n",
                 c[i].v);
        vms_descriptor *d = parse_ok(text);
        cr_assert_eq(vms_descriptor_get_vendor_id(d), c[i].id, "%s", c[i].v);
        char *t = format_alloc(d);
        snprintf(want, sizeof want, "vendor_id=%s\n", c[i].canon);
        cr_assert(strncmp(t, want, strlen(want)) == 0, "%s", t);
        free(t);
        vms_descriptor_free(d);
    }
}

Test(text, blanks_comments_line_endings)
{
    /* CR LF endings, tabs and spaces around keys and values, indented
     * comments, no final newline */
    const char *t = "\r\n  # comment\r\n\t vendor_id\t=\tpci:0x10de \r\n"
                    "device_api= vfio-pci\r\n#\r\ntype =nvidia-11\r\n"
                    "version=1.2.0";
    vms_descriptor *a = parse_ok(t);
    vms_descriptor *b = parse_ok(BASE);
    cr_assert(vms_descriptor_equal(a, b));
    vms_descriptor_free(a);
    vms_descriptor_free(b);
    /* comments may hold any printable ASCII, '=' and '#' included */
    a = parse_ok("# a=b # c \"quoted\" \\ ~\n" BASE);
    vms_descriptor_free(a);
}

Test(text, field_rule_before_value_and_default)
{
    vms_descriptor *a = parse_ok(BASE "field.x.rule=ge\nfield.x=10\n");
    vms_descriptor *b = parse_ok(BASE "field.x=10\nfield.x.rule=ge\n");
    cr_assert(vms_descriptor_equal(a, b));
    vms_descriptor_free(a);
    vms_descriptor_free(b);
    a = parse_ok(BASE "field.x=10\n");
    b = parse_ok(BASE "field.x=10\nfield.x.rule=equal\n");
    cr_assert(vms_descriptor_equal(a, b), "the default rule is equal");
    vms_descriptor_free(a);
    vms_descriptor_free(b);
    /* a field may be called "rule" */
    a = parse_ok(BASE "field.rule=1\nfield.rule.rule=ge\n");
    cr_assert_eq(vms_descriptor_find_field(a, "rule"), 0);
    vms_descriptor_free(a);
}

Test(text, arguments)
{
    vms_descriptor *d = NULL;
    vms_descriptor_error err;
    cr_assert_eq(vms_descriptor_parse_text(NULL, "x", 1, NULL, &err),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_parse_text(&d, NULL, 1, NULL, &err),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(err.code, VMS_E_INVALID_ARG);
    /* empty input: valid call, but the required keys are missing */
    cr_assert_eq(vms_descriptor_parse_text(&d, NULL, 0, NULL, &err),
                 VMS_E_BAD_DESCRIPTOR);
    cr_assert_eq(err.line, 0);
    cr_assert(strstr(err.message, "missing required key \"vendor_id\""));
    /* err may be NULL */
    cr_assert_eq(vms_descriptor_parse_text(&d, "x", 1, NULL, NULL),
                 VMS_E_BAD_DESCRIPTOR);
    cr_assert_null(d);
    cr_assert_eq(vms_descriptor_parse_text(&d, BASE, strlen(BASE), NULL, NULL),
                 VMS_OK);
    vms_descriptor_free(d);
}

/* ---- text: rejections, each with its line ----------------------------------- */

Test(text_reject, unknown_keys)
{
    parse_fails(BASE "foo=bar\n", 5, "unknown key \"foo\"");
    parse_fails(HEAD "Version=1.2.0\n", 4, "unknown key \"Version\"");
    parse_fails(BASE "field.=x\n", 5, "unknown key \"field.\"");
    parse_fails(BASE "fields.x=1\n", 5, "unknown key");
    parse_fails(BASE "type x=1\n", 5, "unknown key \"type x\"");
    parse_fails(BASE "vendor-id=pci:0x10de\n", 5, "unknown key");
}

Test(text_reject, duplicate_keys)
{
    parse_fails(BASE "type=nvidia-12\n", 5,
                "duplicate key \"type\" (first given on line 3)");
    parse_fails("version=1.0.0\n" BASE, 5,
                "duplicate key \"version\" (first given on line 1)");
    parse_fails(BASE "accept_types=a\naccept_types=b\n", 6,
                "duplicate key \"accept_types\" (first given on line 5)");
    parse_fails(BASE "deny_versions=1.0.0\ndeny_versions=1.0.1\n", 6,
                "duplicate key \"deny_versions\"");
    parse_fails(BASE "field.x=1\nfield.x=1\n", 6,
                "duplicate key \"field.x\" (first given on line 5)");
    parse_fails(BASE "field.x.rule=ge\nfield.x=1\nfield.x.rule=ge\n", 7,
                "duplicate key \"field.x.rule\" (first given on line 5)");
}

Test(text_reject, line_syntax)
{
    parse_fails(BASE "garbage\n", 5, "not a key=value line");
    parse_fails(BASE "=x\n", 5, "missing key");
    parse_fails(BASE " = x\n", 5, "missing key");
    parse_fails(HEAD "version=\n", 4, "key \"version\" has an empty value");
    parse_fails(HEAD "version=  \t\n", 4, "empty value");
    parse_fails(BASE "field.x=   \n", 5, "empty value");
    parse_fails(HEAD "version=1.2.0 # the version\n", 4,
                "comments must be on a line of their own");
}

Test(text_reject, bytes)
{
    static const char nul[] = BASE "field.x=a\0b\n";
    parse_fails_n(nul, sizeof nul - 1, 5, "NUL byte at column 10");
    parse_fails(BASE "field.x=a\x01" "b\n", 5, "control character 0x01 at column 10");
    parse_fails(BASE "field.x=a\x7f" "b\n", 5, "control character 0x7f");
    parse_fails(BASE "field.x=a\rb\n", 5, "carriage return not followed");
    parse_fails(BASE "field.x=ab\r", 5, "carriage return not followed");
    parse_fails(BASE "field.x=ab\r\r\n", 5, "carriage return");
    parse_fails(BASE "# caf\xc3\xa9\n", 5, "non-ASCII byte 0xc3 at column 6");
    parse_fails("\xef\xbb\xbf" BASE, 1, "non-ASCII byte 0xef at column 1");
    parse_fails(BASE "\f\n", 5, "control character 0x0c");
    parse_fails(BASE "type\v=x\n", 5, "control character 0x0b");
}

Test(text_reject, limits)
{
    /* line length: 4096 is fine, 4097 is not (comment lines count too) */
    char *t = malloc(VMS_DESC_MAX_TEXT + 100);
    strcpy(t, BASE);
    size_t n = strlen(t);
    t[n] = '#';
    memset(t + n + 1, 'c', VMS_DESC_MAX_LINE - 1);
    t[n + VMS_DESC_MAX_LINE] = '\n';
    t[n + VMS_DESC_MAX_LINE + 1] = '\0';
    vms_descriptor *d = parse_ok(t);
    vms_descriptor_free(d);
    t[n + VMS_DESC_MAX_LINE] = 'c';
    t[n + VMS_DESC_MAX_LINE + 1] = '\n';
    t[n + VMS_DESC_MAX_LINE + 2] = '\0';
    parse_fails(t, 5, "the line is 4097 bytes long; the limit is 4096");

    /* total size: exactly 64 KiB of valid text is fine, one byte more not */
    strcpy(t, BASE);
    n = strlen(t);
    while (n < VMS_DESC_MAX_TEXT) {
        size_t k = VMS_DESC_MAX_TEXT - n;
        if (k > 100)
            k = 100;
        memset(t + n, '#', k - 1);
        t[n + k - 1] = '\n';
        n += k;
    }
    t[n] = '\0';
    cr_assert_eq(strlen(t), VMS_DESC_MAX_TEXT);
    d = parse_ok(t);
    vms_descriptor_free(d);
    t[n] = '\n';
    t[n + 1] = '\0';
    parse_fails(t, 0, "the text is 65537 bytes long; the limit is 65536");
    free(t);
}

Test(text_reject, missing_required)
{
    parse_fails("device_api=vfio-pci\ntype=t\nversion=1.0.0\n", 0,
                "missing required key \"vendor_id\"");
    parse_fails("vendor_id=pci:0x10de\ntype=t\nversion=1.0.0\n", 0,
                "missing required key \"device_api\"");
    parse_fails("vendor_id=pci:0x10de\ndevice_api=vfio-pci\nversion=1.0.0\n", 0,
                "missing required key \"type\"");
    parse_fails(HEAD, 0, "missing required key \"version\"");
    parse_fails("# only a comment\n\n", 0, "missing required key");
}

Test(text_reject, vendor_id)
{
    const char *bad[] = {"10de", "pci:10de", "pci:0x", "pci:0x12345",
                         "pci:0xzz", "PCI:0x10de", "0x10de", "0x0000000g",
                         "0x000000000", "pci:0x10de0", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char t[200];
        snprintf(t, sizeof t, "device_api=vfio-pci\nvendor_id=%s\n", bad[i]);
        parse_fails(t, 2, "is not pci:0xHHHH");
    }
    parse_fails("vendor_id=0x12345678\n", 1,
                "vendor_id 0x12345678 is reserved");
    parse_fails("\n\nvendor_id=0x80010000\n", 3, "vendor_id 0x80010000 is reserved");
    parse_fails("vendor_id=0x00000001\n", 1, "reserved");
}

Test(text_reject, identifiers)
{
    parse_fails("vendor_id=pci:0x10de\ndevice_api=vfio pci\n", 2,
                "device_api \"vfio pci\" has a character outside [A-Za-z0-9._:-] "
                "(column 16)");
    parse_fails("type=-abc\n", 1, "does not start with a letter or digit");
    parse_fails("type=.x\n", 1, "does not start with a letter or digit");
    parse_fails("type=a/b\n", 1, "type \"a/b\" has a character outside");
    parse_fails("type=a,b\n", 1, "has a character outside");
    char t[200];
    memset(t, 0, sizeof t);
    strcpy(t, "type=");
    memset(t + 5, 'x', 65);
    strcat(t, "\n");
    parse_fails(t, 1, "is longer than 64 bytes");
    t[5 + 64] = '\n';
    t[5 + 65] = '\0';
    vms_descriptor *d = NULL;
    char full[300];
    snprintf(full, sizeof full, "vendor_id=0x00000000\ndevice_api=x\n%sversion=0.0.0\n",
             t);
    d = parse_ok(full);
    cr_assert_eq(strlen(vms_descriptor_get_type(d)), 64);
    vms_descriptor_free(d);
}

Test(text_reject, versions)
{
    const char *bad[] = {"1.2", "1", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03",
                         "1.2.x", "4294967296.0.0", "-1.0.0", "+1.0.0",
                         "1..3", ".1.2", "1.2.", "1 .2.3", "1.2.3a",
                         "99999999999.0.0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char t[200];
        snprintf(t, sizeof t, HEAD "version=%s\n", bad[i]);
        parse_fails(t, 4, "is not MAJOR.MINOR.BUGFIX");
    }
    vms_descriptor *d = parse_ok(HEAD "version=4294967295.0.10\n");
    vms_device_version v = vms_descriptor_get_version(d);
    cr_assert(v.major == UINT32_MAX && v.minor == 0 && v.bugfix == 10);
    vms_descriptor_free(d);
}

Test(text_reject, accept_types)
{
    parse_fails(BASE "accept_types=a,,b\n", 5, "empty element");
    parse_fails(BASE "accept_types=a,\n", 5, "empty element");
    parse_fails(BASE "accept_types=,a\n", 5, "empty element");
    parse_fails(BASE "accept_types=a, ,b\n", 5, "empty element");
    parse_fails(BASE "accept_types=a,b,a\n", 5,
                "accept_types: \"a\" is already in the accepted types");
    parse_fails(BASE "accept_types=a,b c\n", 5,
                "accepted type \"b c\" has a character outside");
    parse_fails(BASE "accept_types=a,_b\n", 5, "does not start with a letter");
    char t[1024];
    strcpy(t, BASE "accept_types=t0");
    for (int i = 1; i <= 32; i++)
        sprintf(t + strlen(t), ",t%d", i);
    strcat(t, "\n");
    parse_fails(t, 5, "exceeds the limit of 32 accepted types");
}

Test(text_reject, deny_versions)
{
    parse_fails(BASE "deny_versions=1.0\n", 5, "denied version \"1.0\" is not MAJOR");
    parse_fails(BASE "deny_versions=1.0.0,,1.0.1\n", 5, "empty element");
    parse_fails(BASE "deny_versions=1.0.0,1.0.0\n", 5,
                "\"1.0.0\" is already in the denied versions");
    parse_fails(BASE "deny_versions=1.0.0+1.0.1\n", 5, "is not MAJOR");
    char t[1400];
    strcpy(t, BASE "deny_versions=0.0.0");
    for (int i = 1; i <= 64; i++)
        sprintf(t + strlen(t), ",0.0.%d", i);
    strcat(t, "\n");
    parse_fails(t, 5, "exceeds the limit of 64 denied versions");
}

Test(text_reject, field_names_and_rules)
{
    parse_fails(BASE "field.a.b=1\n", 5, "the field name has a character outside");
    parse_fails(BASE "field..rule=ge\n", 5, "the field name is empty");
    parse_fails(BASE "field._x=1\n", 5, "does not start with a letter or digit");
    parse_fails(BASE "field.x.rule=lt\n", 5,
                "rule \"lt\" of field \"x\" is not equal, superset or ge");
    parse_fails(BASE "field.x.rule=GE\n", 5, "is not equal, superset or ge");
    parse_fails(BASE "field.x=1\n\nfield.y.rule=ge\n", 7,
                "rule given for field \"y\" but no field.y=VALUE line");
    char t[300];
    strcpy(t, BASE "field.");
    memset(t + strlen(t), 'n', 65);
    strcpy(t + strlen(BASE) + 6 + 65, "=1\n");
    parse_fails(t, 5, "is longer than 64 bytes");
    char big[3000];
    strcpy(big, BASE);
    for (int i = 0; i <= 32; i++)
        sprintf(big + strlen(big), "field.f%d=1\n", i);
    parse_fails(big, 5 + 32, "more than 32 vendor fields");
}

Test(text_reject, field_values)
{
    parse_fails(BASE "field.x=a b\n", 5,
                "value \"a b\" of field \"x\" (rule equal by default) has a "
                "character outside");
    parse_fails(BASE "field.x=a\"b\n", 5, "value \"a\\\"b\" of field");
    parse_fails(BASE "field.x=abc\nfield.x.rule=ge\n", 5,
                "value \"abc\" of field \"x\" (rule ge) is not an unsigned decimal "
                "integer (column 9)");
    parse_fails(BASE "field.x.rule=ge\nfield.x=007\n", 6, "has a leading zero");
    parse_fails(BASE "field.x.rule=ge\nfield.x=-1\n", 6, "not an unsigned decimal");
    parse_fails(BASE "field.x.rule=ge\nfield.x=18446744073709551616\n", 6,
                "is larger than 18446744073709551615");
    parse_fails(BASE "field.x.rule=superset\nfield.x=a++b\n", 6, "empty set element");
    parse_fails(BASE "field.x.rule=superset\nfield.x=+a\n", 6, "empty set element");
    parse_fails(BASE "field.x.rule=superset\nfield.x=a+\n", 6, "empty set element");
    parse_fails(BASE "field.x.rule=superset\nfield.x=b+a+b\n", 6,
                "has a duplicate set element");
    parse_fails(BASE "field.x.rule=superset\nfield.x=a+b,c\n", 6,
                "set element character outside");
    /* the error with the smallest line wins among the vendor fields */
    parse_fails(BASE "field.y.rule=ge\nfield.x=a b\nfield.y=z\n", 6, "\"x\"");
    parse_fails(BASE "field.y.rule=ge\nfield.x=ab\nfield.y=z\n", 7, "\"y\"");
    char t[600];
    strcpy(t, BASE "field.x=");
    memset(t + strlen(t), 'v', 256);
    strcpy(t + strlen(BASE) + 8 + 256, "\n");
    parse_fails(t, 5, "value of field \"x\" is 256 bytes long; the limit is 255");
}

Test(text_reject, fixed_key_errors_come_before_missing_keys)
{
    parse_fails("type=x y\n", 1, "type");
    parse_fails("field.x.rule=ge\n", 1, "no field.x=VALUE line");
}

/* ---- object API ------------------------------------------------------------- */

Test(object, setters_validate)
{
    vms_descriptor *d;
    cr_assert_eq(vms_descriptor_new(NULL, NULL), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_new(&d, NULL), VMS_OK);
    cr_assert_str_eq(vms_descriptor_get_device_api(d), "");
    cr_assert_str_eq(vms_descriptor_get_type(d), "");
    cr_assert_eq(vms_descriptor_get_vendor_id(d), 0);
    cr_assert_eq(vms_descriptor_validate(d), VMS_E_BAD_DESCRIPTOR);
    size_t need = 123;
    cr_assert_eq(vms_descriptor_encode(d, NULL, 0, &need), VMS_E_BAD_DESCRIPTOR);
    cr_assert_eq(need, 0);
    cr_assert_eq(vms_descriptor_format_text(d, NULL, 0, &need), VMS_E_BAD_DESCRIPTOR);

    cr_assert_eq(vms_descriptor_set_vendor_id(d, 0x12345678), VMS_E_BAD_VENDOR_ID);
    cr_assert_eq(vms_descriptor_set_vendor_id(d, 0x80010000), VMS_E_BAD_VENDOR_ID);
    cr_assert_eq(vms_descriptor_set_vendor_id(d, 1), VMS_E_BAD_VENDOR_ID);
    cr_assert_eq(vms_descriptor_get_vendor_id(d), 0, "unchanged on error");
    cr_assert_eq(vms_descriptor_set_vendor_id(d, VMS_VENDOR_PCI(0x8086)), VMS_OK);
    cr_assert_eq(vms_descriptor_get_vendor_id(d), 0x80008086u);

    cr_assert_eq(vms_descriptor_set_type(d, ""), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_set_type(d, "a b"), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_set_type(d, "-a"), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_set_type(d, NULL), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_set_type(d, "caf\xc3\xa9"), VMS_E_INVALID_ARG);
    char longs[80];
    memset(longs, 'x', 65);
    longs[65] = '\0';
    cr_assert_eq(vms_descriptor_set_type(d, longs), VMS_E_INVALID_ARG);
    cr_assert_str_eq(vms_descriptor_get_type(d), "");
    longs[64] = '\0';
    cr_assert_eq(vms_descriptor_set_type(d, longs), VMS_OK);
    cr_assert_eq(vms_descriptor_set_type(d, "i915-GVTg_V5_4"), VMS_OK);
    cr_assert_str_eq(vms_descriptor_get_type(d), "i915-GVTg_V5_4");
    cr_assert_eq(vms_descriptor_set_device_api(d, "vfio-pci"), VMS_OK);
    cr_assert_eq(vms_descriptor_validate(d), VMS_OK);

    cr_assert_eq(vms_descriptor_add_accept_type(d, "b"), VMS_OK);
    cr_assert_eq(vms_descriptor_add_accept_type(d, "a"), VMS_OK);
    cr_assert_eq(vms_descriptor_add_accept_type(d, "c"), VMS_OK);
    cr_assert_eq(vms_descriptor_add_accept_type(d, "b"), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_accept_type(d, "b,c"), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_accept_type_count(d), 3);
    cr_assert_str_eq(vms_descriptor_get_accept_type(d, 0), "a");
    cr_assert_str_eq(vms_descriptor_get_accept_type(d, 2), "c");

    cr_assert_eq(vms_descriptor_add_deny_version(d, 1, 10, 0), VMS_OK);
    cr_assert_eq(vms_descriptor_add_deny_version(d, 1, 9, 5), VMS_OK);
    cr_assert_eq(vms_descriptor_add_deny_version(d, 1, 10, 0), VMS_E_INVALID_ARG);
    vms_device_version v;
    cr_assert_eq(vms_descriptor_get_deny_version(d, 0, &v), VMS_OK);
    cr_assert(v.major == 1 && v.minor == 9 && v.bugfix == 5, "numeric order");

    cr_assert_eq(vms_descriptor_add_field(d, "pv_mode", "none+ppgtt+context",
                                          VMS_FIELD_SUPERSET), VMS_OK);
    const char *val;
    cr_assert_eq(vms_descriptor_get_field(d, 0, NULL, &val, NULL), VMS_OK);
    cr_assert_str_eq(val, "context+none+ppgtt");
    cr_assert_eq(vms_descriptor_add_field(d, "pv_mode", "x", VMS_FIELD_EQUAL),
                 VMS_E_INVALID_ARG, "duplicate name");
    cr_assert_eq(vms_descriptor_add_field(d, "a.b", "x", VMS_FIELD_EQUAL),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_field(d, "n", "", VMS_FIELD_EQUAL),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_field(d, "n", "01", VMS_FIELD_GE),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_field(d, "n", "a+a", VMS_FIELD_SUPERSET),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_field(d, "n", "1", (vms_field_rule)3),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_field(d, "aggregator", "1", VMS_FIELD_GE), VMS_OK);
    cr_assert_eq(vms_descriptor_field_count(d), 2);
    const char *name;
    cr_assert_eq(vms_descriptor_get_field(d, 0, &name, NULL, NULL), VMS_OK);
    cr_assert_str_eq(name, "aggregator", "sorted by name");
    cr_assert_eq(vms_descriptor_find_field(d, "pv_mode"), 1);

    cr_assert_str_eq(vms_field_rule_name(VMS_FIELD_EQUAL), "equal");
    cr_assert_str_eq(vms_field_rule_name(VMS_FIELD_SUPERSET), "superset");
    cr_assert_str_eq(vms_field_rule_name(VMS_FIELD_GE), "ge");
    cr_assert_str_eq(vms_field_rule_name((vms_field_rule)9), "?");
    vms_descriptor_free(d);
    vms_descriptor_free(NULL);
}

Test(object, limits_of_lists)
{
    vms_descriptor *d = make_max();
    cr_assert_eq(vms_descriptor_add_accept_type(d, "zz"), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_deny_version(d, 0, 0, 0), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_add_field(d, "zz", "1", VMS_FIELD_EQUAL),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_accept_type_count(d), VMS_DESC_MAX_ACCEPT);
    cr_assert_eq(vms_descriptor_deny_version_count(d), VMS_DESC_MAX_DENY);
    cr_assert_eq(vms_descriptor_field_count(d), VMS_DESC_MAX_FIELDS);
    vms_descriptor_free(d);
}

Test(object, clone_and_equal)
{
    vms_descriptor *a = parse_ok(sample_text), *b;
    cr_assert_eq(vms_descriptor_clone(&b, a, NULL), VMS_OK);
    cr_assert(vms_descriptor_equal(a, b));
    cr_assert(vms_descriptor_equal(a, a));
    cr_assert(!vms_descriptor_equal(a, NULL));
    cr_assert(vms_descriptor_equal(NULL, NULL));
    cr_assert_eq(vms_descriptor_set_version(b, 1, 2, 1), VMS_OK);
    cr_assert(!vms_descriptor_equal(a, b));
    cr_assert_eq(vms_descriptor_set_version(b, 1, 2, 0), VMS_OK);
    cr_assert(vms_descriptor_equal(a, b));
    cr_assert_eq(vms_descriptor_add_accept_type(b, "x"), VMS_OK);
    cr_assert(!vms_descriptor_equal(a, b));
    vms_descriptor_free(b);

    const char *variants[] = {
        "vendor_id=pci:0x10df\n", "device_api=vfio-ccw\n", "type=nvidia-12\n",
        "version=1.2.1\n", "accept_types=nvidia-12\n", "deny_versions=1.1.3\n",
        "field.gen=10\n", "field.gen.rule=ge\n",
    };
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++) {
        /* replace one line of the canonical sample */
        char t[1024] = "";
        const char *p = sample_canonical;
        const char *key_end = strchr(variants[i], '=');
        while (*p) {
            const char *nl = strchr(p, '\n');
            if (strncmp(p, variants[i], (size_t)(key_end - variants[i]) + 1) == 0)
                strcat(t, variants[i]);
            else
                strncat(t, p, (size_t)(nl - p) + 1);
            p = nl + 1;
        }
        b = parse_ok(t);
        cr_assert(!vms_descriptor_equal(a, b), "%s", variants[i]);
        vms_descriptor_free(b);
    }
    cr_assert_eq(vms_descriptor_clone(NULL, a, NULL), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_clone(&b, NULL, NULL), VMS_E_INVALID_ARG);
    cr_assert_null(b);
    vms_descriptor_free(a);
}

/* An allocator that fails after `budget` allocations and counts frees. */
typedef struct counting {
    int allocs, frees, budget;
} counting;
static void *c_alloc(void *o, size_t n)
{
    counting *c = o;
    if (c->budget-- <= 0)
        return NULL;
    c->allocs++;
    return malloc(n);
}
static void c_free(void *o, void *p)
{
    counting *c = o;
    if (p)
        c->frees++;
    free(p);
}

Test(object, allocator_used_and_failures_reported)
{
    counting c = {0, 0, 100};
    vms_allocator mem = {c_alloc, c_free, &c};
    vms_descriptor *d, *e, *f;
    vms_descriptor_error err;
    cr_assert_eq(vms_descriptor_parse_text(&d, sample_text, strlen(sample_text),
                                           &mem, &err), VMS_OK);
    cr_assert_eq(vms_descriptor_clone(&e, d, &mem), VMS_OK);
    size_t n;
    uint8_t *bin = encode_alloc(d, &n);
    cr_assert_eq(vms_descriptor_decode(&f, bin, n, &mem, &err), VMS_OK);
    cr_assert_eq(c.allocs, 3, "one allocation per descriptor");
    vms_descriptor_free(d);
    vms_descriptor_free(e);
    vms_descriptor_free(f);
    cr_assert_eq(c.frees, 3);

    c.budget = 0;
    d = (vms_descriptor *)1;
    cr_assert_eq(vms_descriptor_new(&d, &mem), VMS_E_NOMEM);
    cr_assert_null(d);
    cr_assert_eq(vms_descriptor_parse_text(&d, sample_text, strlen(sample_text),
                                           &mem, &err), VMS_E_NOMEM);
    cr_assert_eq(err.code, VMS_E_NOMEM);
    cr_assert_eq(vms_descriptor_decode(&d, bin, n, &mem, &err), VMS_E_NOMEM);
    cr_assert_eq(err.code, VMS_E_NOMEM);
    e = parse_ok(sample_text);
    cr_assert_eq(vms_descriptor_clone(&d, e, &mem), VMS_E_NOMEM);
    vms_descriptor_free(e);
    cr_assert_eq(c.allocs, 3);
    free(bin);
}

/* ---- binary -------------------------------------------------------------------- */

Test(binary, sample_golden)
{
    vms_descriptor *d = parse_ok(sample_text);
    size_t n;
    uint8_t *b = encode_alloc(d, &n);
    cr_assert_eq(n, sizeof sample_bin);
    cr_assert(memcmp(b, sample_bin, n) == 0);
    vms_descriptor *e;
    vms_descriptor_error err;
    cr_assert_eq(decode(sample_bin, sizeof sample_bin, &e, &err), VMS_OK,
                 "%s", err.message);
    cr_assert_eq(err.code, VMS_OK);
    cr_assert(vms_descriptor_equal(d, e));
    free(b);
    vms_descriptor_free(d);
    vms_descriptor_free(e);
}

static void bin_round_trip(const vms_descriptor *d)
{
    size_t n;
    uint8_t *b = encode_alloc(d, &n);
    vms_descriptor *e;
    vms_descriptor_error err;
    cr_assert_eq(decode(b, n, &e, &err), VMS_OK, "%s", err.message);
    cr_assert(vms_descriptor_equal(d, e));
    size_t m;
    uint8_t *b2 = encode_alloc(e, &m);
    cr_assert_eq(n, m);
    cr_assert(memcmp(b, b2, n) == 0);
    /* text and binary agree */
    char *t1 = format_alloc(d), *t2 = format_alloc(e);
    cr_assert_str_eq(t1, t2);
    free(t1);
    free(t2);
    free(b);
    free(b2);
    vms_descriptor_free(e);
}

Test(binary, round_trips)
{
    const char *texts[] = {
        sample_text,
        BASE,
        "vendor_id=0x00000000\ndevice_api=x\ntype=y\nversion=0.0.0\n",
        "vendor_id=pci:0xffff\ndevice_api=vfio-platform\ntype=t\n"
        "version=4294967295.1.2\nfield.a=0\nfield.a.rule=ge\n",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        vms_descriptor *d = parse_ok(texts[i]);
        bin_round_trip(d);
        vms_descriptor_free(d);
    }
}

Test(binary, maximum_size)
{
    vms_descriptor *d = make_max();
    size_t n;
    uint8_t *b = encode_alloc(d, &n);
    cr_assert_eq(n, 13309, "doc/DESCRIPTOR-BINARY.md states 13309");
    free(b);
    bin_round_trip(d);
    vms_descriptor_free(d);
}

Test(binary, encode_buffer_sizes)
{
    vms_descriptor *d = parse_ok(sample_text);
    uint8_t buf[sizeof sample_bin];
    size_t need = 0;
    memset(buf, 0xee, sizeof buf);
    cr_assert_eq(vms_descriptor_encode(d, buf, sizeof buf - 1, &need),
                 VMS_E_INVALID_ARG);
    cr_assert_eq(need, sizeof sample_bin);
    cr_assert_eq(buf[0], 0xee, "untouched");
    cr_assert_eq(vms_descriptor_encode(d, buf, sizeof buf, NULL), VMS_OK);
    cr_assert(memcmp(buf, sample_bin, sizeof buf) == 0);
    cr_assert_eq(vms_descriptor_encode(d, NULL, 4, &need), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_encode(NULL, buf, sizeof buf, &need),
                 VMS_E_INVALID_ARG);
    vms_descriptor_free(d);
}

Test(binary, arguments)
{
    vms_descriptor *d;
    vms_descriptor_error err;
    cr_assert_eq(vms_descriptor_decode(NULL, sample_bin, sizeof sample_bin, NULL,
                                       &err), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_decode(&d, NULL, 5, NULL, &err), VMS_E_INVALID_ARG);
    cr_assert_eq(vms_descriptor_decode(&d, NULL, 0, NULL, &err),
                 VMS_E_BAD_DESCRIPTOR);
    cr_assert_eq(vms_descriptor_decode(&d, sample_bin, sizeof sample_bin, NULL,
                                       NULL), VMS_OK);
    vms_descriptor_free(d);
}

Test(binary, truncation_at_every_byte)
{
    for (size_t n = 0; n < sizeof sample_bin; n++) {
        /* a fresh heap copy of exactly n bytes, so that reading past it is
         * caught by AddressSanitizer builds */
        uint8_t *buf = malloc(n ? n : 1);
        memcpy(buf, sample_bin, n);
        vms_descriptor *d = (vms_descriptor *)1;
        vms_descriptor_error err;
        cr_assert_eq(decode(buf, n, &d, &err), VMS_E_BAD_DESCRIPTOR, "n=%zu", n);
        cr_assert_null(d);
        cr_assert(strstr(err.message, "truncated"), "n=%zu: %s", n, err.message);
        free(buf);
    }
    /* also with the total length patched to match the cut (for cuts past the
     * fixed part): the missing data itself must be noticed */
    uint8_t cut[sizeof sample_bin];
    for (size_t n = 24; n < sizeof sample_bin; n++) {
        memcpy(cut, sample_bin, n);
        cut[6] = (uint8_t)n;
        cut[7] = (uint8_t)(n >> 8);
        vms_descriptor *d;
        vms_descriptor_error err;
        vms_status st = decode(cut, n, &d, &err);
        cr_assert_eq(st, VMS_E_BAD_DESCRIPTOR, "n=%zu", n);
    }
}

Test(binary, trailing_bytes)
{
    uint8_t buf[sizeof sample_bin + 1];
    memcpy(buf, sample_bin, sizeof sample_bin);
    buf[sizeof sample_bin] = 0;
    decode_fails(buf, sizeof buf, sizeof sample_bin, "1 trailing bytes");
    /* trailing bytes covered by the total length */
    buf[6] = (uint8_t)(sizeof buf);
    decode_fails(buf, sizeof buf, sizeof sample_bin, "trailing bytes after the last field");
}

/* Every single-bit flip is rejected, or decodes to another valid descriptor
 * whose encoding is exactly the flipped bytes (canonicality). */
Test(binary, every_single_bit_flip)
{
    vms_descriptor *orig;
    cr_assert_eq(decode(sample_bin, sizeof sample_bin, &orig, NULL), VMS_OK);
    uint8_t buf[sizeof sample_bin];
    int accepted = 0, rejected = 0;
    for (size_t i = 0; i < sizeof sample_bin; i++) {
        for (int bit = 0; bit < 8; bit++) {
            memcpy(buf, sample_bin, sizeof buf);
            buf[i] ^= (uint8_t)(1u << bit);
            vms_descriptor *d;
            vms_descriptor_error err;
            vms_status st = decode(buf, sizeof buf, &d, &err);
            if (st != VMS_OK) {
                cr_assert_eq(st, VMS_E_BAD_DESCRIPTOR);
                cr_assert(printable(err.message));
                rejected++;
                continue;
            }
            accepted++;
            cr_assert(!vms_descriptor_equal(d, orig), "byte %zu bit %d", i, bit);
            uint8_t re[sizeof sample_bin];
            size_t n;
            cr_assert_eq(vms_descriptor_encode(d, re, sizeof re, &n), VMS_OK);
            cr_assert_eq(n, sizeof buf);
            cr_assert(memcmp(re, buf, n) == 0, "byte %zu bit %d not canonical", i,
                      bit);
            vms_descriptor_free(d);
        }
    }
    cr_assert_gt(accepted, 0);
    cr_assert_gt(rejected, 0);
    vms_descriptor_free(orig);
}

/* Random multi-byte mutations: same property, over many encodings. */
Test(binary, random_mutations_are_rejected_or_canonical)
{
    vms_descriptor *max = make_max();
    size_t mn;
    uint8_t *maxbin = encode_alloc(max, &mn);
    vms_descriptor_free(max);
    const uint8_t *seeds[] = {sample_bin, maxbin};
    const size_t lens[] = {sizeof sample_bin, mn};
    uint8_t *buf = malloc(mn + 8), *re = malloc(VMS_DESC_MAX_BINARY);
    for (int iter = 0; iter < 20000; iter++) {
        size_t s = (size_t)(rng() % 2);
        size_t n = lens[s];
        memcpy(buf, seeds[s], n);
        int muts = 1 + (int)(rng() % 4);
        for (int m = 0; m < muts; m++) {
            size_t at = (size_t)(rng() % n);
            switch (rng() % 3) {
            case 0:
                buf[at] = (uint8_t)rng();
                break;
            case 1:
                buf[at] ^= (uint8_t)(1u << (rng() % 8));
                break;
            default:
                buf[at] = (const uint8_t[]){'+', ',', '.', '-', '_', ' ', '0', '9',
                                            'a', 'A', 'z', 'Z', 0x00, 0xff,
                                            0x80}[rng() % 15];
                break;
            }
        }
        vms_descriptor *d;
        if (decode(buf, n, &d, NULL) != VMS_OK)
            continue;
        size_t k;
        cr_assert_eq(vms_descriptor_encode(d, re, VMS_DESC_MAX_BINARY, &k), VMS_OK);
        cr_assert_eq(k, n);
        cr_assert(memcmp(re, buf, n) == 0, "iteration %d not canonical", iter);
        vms_descriptor_free(d);
    }
    free(buf);
    free(re);
    free(maxbin);
}

/* Builds the sample's bytes with one region replaced. */
static size_t patched(uint8_t *out, size_t at, size_t old_len, const void *new_bytes,
                      size_t new_len, bool fix_length)
{
    memcpy(out, sample_bin, at);
    memcpy(out + at, new_bytes, new_len);
    memcpy(out + at + new_len, sample_bin + at + old_len,
           sizeof sample_bin - at - old_len);
    size_t n = sizeof sample_bin - old_len + new_len;
    if (fix_length) {
        out[6] = (uint8_t)n;
        out[7] = (uint8_t)(n >> 8);
    }
    return n;
}

/* offsets in sample_bin */
#define O_API 24
#define O_TYPE 33
#define O_ACCEPT 43
#define O_DENY 64
#define O_FIELDS 89
#define O_F_AGG 90
#define O_F_GEN 104
#define O_F_PV 111

Test(binary, layout_offsets)
{
    cr_assert_eq(sample_bin[O_API], 8);
    cr_assert_eq(sample_bin[O_TYPE], 9);
    cr_assert_eq(sample_bin[O_ACCEPT], 2);
    cr_assert_eq(sample_bin[O_DENY], 2);
    cr_assert_eq(sample_bin[O_FIELDS], 3);
    cr_assert_eq(sample_bin[O_F_AGG], 10);
    cr_assert_eq(sample_bin[O_F_GEN], 3);
    cr_assert_eq(sample_bin[O_F_PV], 7);
    cr_assert_eq(sizeof sample_bin, 139);
}

Test(binary, header_rejections)
{
    uint8_t b[sizeof sample_bin + 300];
    size_t n;

    memcpy(b, sample_bin, sizeof sample_bin);
    b[0] = 'v';
    decode_fails(b, sizeof sample_bin, 0, "bad magic");
    decode_fails((const uint8_t *)"VMX", 3, 0, "bad magic");
    decode_fails((const uint8_t *)"VMS", 3, 0, "truncated");
    memcpy(b, sample_bin, sizeof sample_bin);
    b[4] = 2;
    decode_fails(b, sizeof sample_bin, 4, "encoding version 2 is not supported");
    b[4] = 0;
    decode_fails(b, sizeof sample_bin, 4, "encoding version 0");
    memcpy(b, sample_bin, sizeof sample_bin);
    b[5] = 0x80;
    decode_fails(b, sizeof sample_bin, 5, "reserved byte is 0x80");
    memcpy(b, sample_bin, sizeof sample_bin);
    b[6]++;
    decode_fails(b, sizeof sample_bin, 6, "truncated: total length is 140");
    memcpy(b, sample_bin, sizeof sample_bin);
    b[6] = 30;
    decode_fails(b, sizeof sample_bin, 6, "total length 30 is outside 31..13309");
    b[6] = 0xfe;
    b[7] = 0x33;
    decode_fails(b, sizeof sample_bin, 6, "outside");
    memcpy(b, sample_bin, sizeof sample_bin);
    b[10] = 1; /* vendor 0x800110de */
    decode_fails(b, sizeof sample_bin, 8, "vendor id 0x800110de is reserved");
    memset(b + 8, 0, 4);
    b[8] = 1;
    decode_fails(b, sizeof sample_bin, 8, "vendor id 0x00000001 is reserved");
    /* 24 bytes: fixed part only */
    memcpy(b, sample_bin, 24);
    b[6] = 24;
    b[7] = 0;
    decode_fails(b, 24, 6, "outside");
    (void)n;
}

Test(binary, string_rejections)
{
    uint8_t b[sizeof sample_bin + 300];
    size_t n;

    n = patched(b, O_API, 1, "\x00", 1, false);
    decode_fails(b, n, O_API, "length 0 of device_api is outside 1..64");
    n = patched(b, O_API, 9, "\x08vfio pci", 9, false);
    decode_fails(b, n, O_API + 5, "device_api \"vfio pci\" has a character outside");
    n = patched(b, O_API, 9, "\x08vfio\x00pci", 9, false);
    decode_fails(b, n, O_API + 5, "device_api \"vfio\\x00pci\"");
    n = patched(b, O_API, 9, "\x08-fio-pci", 9, false);
    decode_fails(b, n, O_API + 1, "does not start with a letter or digit");
    n = patched(b, O_TYPE, 10, "\x09nvidia\xc3\xa9" "1", 10, false);
    decode_fails(b, n, O_TYPE + 7, "type \"nvidia\\xc3\\xa91\"");
    /* a 65-byte type */
    uint8_t t[66];
    t[0] = 65;
    memset(t + 1, 'x', 65);
    n = patched(b, O_TYPE, 10, t, 66, true);
    decode_fails(b, n, O_TYPE, "length 65 of type is outside 1..64");
    /* string length running past the end */
    memcpy(b, sample_bin, sizeof sample_bin);
    b[O_TYPE] = 64;
    b[6] = 40; /* total length matching a 40-byte buffer */
    b[7] = 0;
    decode_fails(b, 40, O_TYPE, "truncated: type needs 64 bytes at offset 34 but 6 "
                                "remain");
}

Test(binary, list_rejections)
{
    uint8_t b[sizeof sample_bin + 3000];
    size_t n;

    /* accepted types out of order / duplicate */
    n = patched(b, O_ACCEPT + 1, 20, "\x09nvidia-21\x09nvidia-12", 20, false);
    decode_fails(b, n, O_ACCEPT + 11, "accepted type \"nvidia-12\" is not after "
                                      "\"nvidia-21\" in byte order (not canonical)");
    n = patched(b, O_ACCEPT + 1, 20, "\x09nvidia-12\x09nvidia-12", 20, false);
    decode_fails(b, n, O_ACCEPT + 11, "not canonical");
    n = patched(b, O_ACCEPT + 1, 20, "\x09nvidia-12\x09nvidia_21", 20, false);
    vms_descriptor *ok;
    cr_assert_eq(decode(b, n, &ok, NULL), VMS_OK, "'_' sorts after '-'");
    vms_descriptor_free(ok);
    /* too many accepted types */
    uint8_t many[1 + 33 * 3];
    many[0] = 33;
    for (int i = 0; i < 33; i++) {
        many[1 + 3 * i] = 2;
        many[2 + 3 * i] = (uint8_t)('a' + i / 10);
        many[3 + 3 * i] = (uint8_t)('0' + i % 10);
    }
    n = patched(b, O_ACCEPT, 21, many, sizeof many, true);
    decode_fails(b, n, O_ACCEPT, "33 accepted types; the limit is 32");
    /* denied versions out of order / duplicate */
    static const uint8_t swapped[] = {2, 1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,
                                      1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    n = patched(b, O_DENY, 25, swapped, 25, false);
    decode_fails(b, n, O_DENY + 13, "denied version 1.0.0 is not after 1.1.3 (not "
                                    "canonical)");
    static const uint8_t dup[] = {2, 1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0,
                                  1, 0, 0, 0, 1, 0, 0, 0, 3, 0, 0, 0};
    n = patched(b, O_DENY, 25, dup, 25, false);
    decode_fails(b, n, O_DENY + 13, "not canonical");
    /* numeric, not byte, order: 1.0.256 after 1.0.1 */
    static const uint8_t numeric[] = {2, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
                                      1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0};
    n = patched(b, O_DENY, 25, numeric, 25, false);
    vms_descriptor *d;
    cr_assert_eq(decode(b, n, &d, NULL), VMS_OK);
    vms_descriptor_free(d);
    uint8_t many_deny[1 + 65 * 12];
    memset(many_deny, 0, sizeof many_deny);
    many_deny[0] = 65;
    for (int i = 0; i < 65; i++)
        many_deny[1 + 12 * i + 8] = (uint8_t)i;
    n = patched(b, O_DENY, 25, many_deny, sizeof many_deny, true);
    decode_fails(b, n, O_DENY, "65 denied versions; the limit is 64");
}

Test(binary, field_rejections)
{
    uint8_t b[sizeof sample_bin + 300];
    size_t n;

    /* fields out of order: gen before aggregator */
    static const uint8_t gen_first[] =
        "\x03gen\x00\x01" "9" "\x0a" "aggregator\x02\x01" "4";
    n = patched(b, O_F_AGG, 21, gen_first, 21, false);
    decode_fails(b, n, O_F_AGG + 7, "field \"aggregator\" is not after \"gen\"");
    /* duplicate name */
    static const uint8_t dupf[] = "\x03gen\x00\x01" "9" "\x03gen\x00\x01" "8";
    n = patched(b, O_F_AGG, 21, dupf, 14, true);
    decode_fails(b, n, O_F_AGG + 7, "not canonical");
    /* bad name */
    n = patched(b, O_F_GEN, 4, "\x03g.n", 4, false);
    decode_fails(b, n, O_F_GEN + 2, "field name \"g.n\" has a character outside");
    /* unknown rule */
    memcpy(b, sample_bin, sizeof sample_bin);
    b[O_F_GEN + 4] = 3;
    decode_fails(b, sizeof sample_bin, O_F_GEN + 4, "rule 3 of field \"gen\" is unknown");
    b[O_F_GEN + 4] = 0xff;
    decode_fails(b, sizeof sample_bin, O_F_GEN + 4, "rule 255");
    /* ge with a leading zero / not a number */
    n = patched(b, O_F_AGG + 12, 2, "\x02" "04", 3, true);
    decode_fails(b, n, O_F_AGG + 13, "value \"04\" of field \"aggregator\" (rule "
                                     "ge) has a leading zero");
    n = patched(b, O_F_AGG + 12, 2, "\x01x", 2, false);
    decode_fails(b, n, O_F_AGG + 13, "is not an unsigned decimal integer");
    /* superset not sorted, duplicated, empty element */
    n = patched(b, O_F_PV + 9, 19, "\x12none+context+ppgtt", 19, false);
    decode_fails(b, n, O_F_PV + 15, "out of byte order (not canonical)");
    n = patched(b, O_F_PV + 9, 19, "\x12" "aaaaaa+bbbbb+bbbbb", 19, false);
    decode_fails(b, n, SIZE_MAX, "duplicate set element");
    n = patched(b, O_F_PV + 9, 19, "\x12" "context++one+ppgtt", 19, false);
    decode_fails(b, n, SIZE_MAX, "empty set element");
    /* equal value with a bad character */
    n = patched(b, O_F_GEN + 5, 2, "\x01#", 2, false);
    decode_fails(b, n, O_F_GEN + 6, "has a character outside");
    /* zero-length value */
    n = patched(b, O_F_GEN + 5, 2, "\x00", 1, true);
    decode_fails(b, n, O_F_GEN + 5, "length 0 of a field value");
    /* too many fields */
    memcpy(b, sample_bin, sizeof sample_bin);
    b[O_FIELDS] = 33;
    decode_fails(b, sizeof sample_bin, O_FIELDS, "33 vendor fields; the limit is 32");
    /* fewer fields than encoded: trailing bytes */
    b[O_FIELDS] = 2;
    decode_fails(b, sizeof sample_bin, O_F_PV, "trailing bytes after the last field");
    /* more fields than encoded */
    b[O_FIELDS] = 4;
    decode_fails(b, sizeof sample_bin, sizeof sample_bin, "truncated");
}

/* ---- text mutations ------------------------------------------------------------ */

/* Random edits of the canonical text: the parser never crashes, messages
 * stay printable, and whatever it accepts formats back to text that parses
 * to an equal descriptor. */
Test(text, random_mutations)
{
    char buf[sizeof sample_canonical + 16];
    for (int iter = 0; iter < 20000; iter++) {
        size_t n = sizeof sample_canonical - 1;
        memcpy(buf, sample_canonical, n);
        int muts = 1 + (int)(rng() % 3);
        for (int m = 0; m < muts; m++) {
            size_t at = (size_t)(rng() % n);
            buf[at] = (char)(const unsigned char[]){
                '=', '.', ',', '+', '#', '\n', '\r', '\t', ' ', '0', 'a', 'Z',
                '-', '_', 0x00, 0x80, 0xff}[rng() % 17];
        }
        vms_descriptor *d;
        vms_descriptor_error err;
        vms_status st = vms_descriptor_parse_text(&d, buf, n, NULL, &err);
        if (st != VMS_OK) {
            cr_assert_eq(st, VMS_E_BAD_DESCRIPTOR);
            cr_assert(printable(err.message), "%s", err.message);
            continue;
        }
        char out[2048];
        cr_assert_eq(vms_descriptor_format_text(d, out, sizeof out, NULL), VMS_OK);
        vms_descriptor *e = parse_ok(out);
        cr_assert(vms_descriptor_equal(d, e));
        vms_descriptor_free(d);
        vms_descriptor_free(e);
    }
}

/* The sample vector files for the CLI tests parse. */
Test(text, vector_files_parse)
{
    const char *names[] = {"source-nvidia-11.txt", "source-nvidia-12.txt",
                           "target-nvidia-11.txt", "target-refuses.txt"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/descriptors/%s", VMS_TEST_VECTORS, names[i]);
        FILE *f = fopen(path, "rb");
        cr_assert_not_null(f, "%s", path);
        char text[8192];
        size_t n = fread(text, 1, sizeof text, f);
        fclose(f);
        vms_descriptor *d;
        vms_descriptor_error err;
        cr_assert_eq(vms_descriptor_parse_text(&d, text, n, NULL, &err), VMS_OK,
                     "%s:%u: %s", names[i], (unsigned)err.line, err.message);
        vms_descriptor_free(d);
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/descriptors/bad-unknown-key.txt", VMS_TEST_VECTORS);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    vms_descriptor *d;
    vms_descriptor_error err;
    cr_assert_eq(vms_descriptor_parse_text(&d, text, n, NULL, &err),
                 VMS_E_BAD_DESCRIPTOR);
    cr_assert_eq(err.line, 6, "%s", err.message);
}
