/* test_target.c - the stream header's descriptor: checked against the
 * header and against the receiver's target before any record. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static vms_descriptor *load(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/descriptors/%s", VMS_TEST_VECTORS, name);
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    vms_descriptor *d;
    vms_descriptor_error err;
    cr_assert_eq(vms_descriptor_parse_text(&d, buf, n, NULL, &err), VMS_OK, "%s: %s", name,
                 err.message);
    return d;
}

static tu_stream with_descriptor(const vms_descriptor *src)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    uint8_t state[5000];
    memset(state, 0x3c, sizeof state);
    state[77] = 1;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, tu_sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, 1000), VMS_OK);
    cr_assert_eq(vms_encoder_set_descriptor(e, src), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 1, 0, 0, state, sizeof state), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    return tu_from_membuf(&mb);
}

typedef struct tctx {
    int records, commits;
} tctx;

static int t_rec(void *c, const vms_record *r)
{
    (void)r;
    ((tctx *)c)->records++;
    return 0;
}

static int t_commit(void *c, const vms_stream_summary *s)
{
    (void)s;
    ((tctx *)c)->commits++;
    return 0;
}

static int decode_target(const tu_stream *s, const vms_descriptor *target, tctx *t,
                         char *msg, size_t cap)
{
    vms_decoder_callbacks cb = {.on_record = t_rec, .on_commit = t_commit, .ctx = t};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    if (target)
        cr_assert_eq(vms_decoder_set_target(d, target, NULL), VMS_OK);
    int rc = vms_decoder_feed(d, s->data, s->len, NULL);
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    if (rc == VMS_END && target) {
        const vms_descriptor *got = vms_decoder_descriptor(d);
        cr_assert_not_null(got);
        cr_assert_str_eq(vms_descriptor_get_type(got), "nvidia-11");
    }
    snprintf(msg, cap, "%s", vms_decoder_error(d)->message);
    vms_decoder_free(d);
    return rc;
}

Test(target, compatible_stream_decodes)
{
    vms_descriptor *src = load("source-nvidia-11.txt");
    vms_descriptor *tgt = load("target-nvidia-11.txt");
    tu_stream s = with_descriptor(src);
    cr_assert(vms_le32(s.data + VMS_H_FEAT_OPT) & VMS_FEAT_DESCRIPTOR);
    cr_assert_eq(vms_le32(s.data + VMS_H_VENDOR), VMS_VENDOR_PCI(0x10de));
    tctx t = {0};
    char msg[512];
    cr_assert_eq(decode_target(&s, tgt, &t, msg, sizeof msg), VMS_END, "%s", msg);
    cr_assert_eq(t.records, 5);
    cr_assert_eq(t.commits, 1);
    tu_stream_free(&s);
    vms_descriptor_free(src);
    vms_descriptor_free(tgt);
}

Test(target, incompatible_refused_before_any_record_with_compat_reason)
{
    vms_descriptor *src = load("source-nvidia-11.txt");
    vms_descriptor *tgt = load("target-refuses.txt");
    vms_compat_result res;
    cr_assert_eq(vms_compat_check(src, tgt, NULL, &res), VMS_E_INCOMPATIBLE);
    tu_stream s = with_descriptor(src);
    tctx t = {0};
    char msg[512];
    cr_assert_eq(decode_target(&s, tgt, &t, msg, sizeof msg), VMS_E_INCOMPATIBLE);
    cr_assert_eq(t.records, 0);
    cr_assert_eq(t.commits, 0);
    cr_assert(strstr(msg, res.reason) != NULL, "'%s' lacks '%s'", msg, res.reason);
    cr_assert(strstr(msg, vms_compat_rule_name(res.rule)) != NULL, "%s", msg);
    tu_stream_free(&s);
    vms_descriptor_free(src);
    vms_descriptor_free(tgt);
}

Test(target, stream_without_descriptor_refused_when_target_set)
{
    vms_descriptor *tgt = load("target-nvidia-11.txt");
    tu_stream s = tu_encode((const uint8_t *)"abcdef", 6, 100, VMS_CODEC_NONE, NULL);
    tctx t = {0};
    char msg[512];
    cr_assert_eq(decode_target(&s, tgt, &t, msg, sizeof msg), VMS_E_INCOMPATIBLE);
    cr_assert_eq(t.records, 0);
    /* without a target the same stream is fine */
    cr_assert_eq(decode_target(&s, NULL, &t, msg, sizeof msg), VMS_END, "%s", msg);
    tu_stream_free(&s);
    vms_descriptor_free(tgt);
}

Test(target, descriptor_checked_even_without_target)
{
    vms_descriptor *src = load("source-nvidia-11.txt");
    tu_stream s = with_descriptor(src);
    /* vendor id in the header differs from the descriptor's */
    tu_stream t1 = tu_copy(&s);
    vms_put32(t1.data + VMS_H_VENDOR, VMS_VENDOR_PCI(0x8086));
    tu_restamp(&t1, NULL, 0);
    tctx t = {0};
    char msg[512];
    cr_assert_eq(decode_target(&t1, NULL, &t, msg, sizeof msg), VMS_E_BAD_DESCRIPTOR, "%s",
                 msg);
    tu_stream_free(&t1);
    /* a damaged descriptor behind a valid checksum */
    t1 = tu_copy(&s);
    t1.data[VMS_H_FIXED + 1] ^= 0x20; /* the "VMSD" magic */
    tu_restamp(&t1, NULL, 0);
    cr_assert_eq(decode_target(&t1, NULL, &t, msg, sizeof msg), VMS_E_BAD_DESCRIPTOR, "%s",
                 msg);
    cr_assert_eq(t.records, 0);
    tu_stream_free(&t1);
    tu_stream_free(&s);
    vms_descriptor_free(src);
}
