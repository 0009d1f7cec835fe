/* test_auth.c - MAC and Ed25519 modes: every attack of issue 4 rejected with
 * its own code, and large authenticated streams decoding exactly. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static uint8_t priv_a[32], pub_a[32], priv_b[32], pub_b[32];

static void keys(void)
{
    cr_assert_eq(vms_ed25519_keygen(priv_a, pub_a), VMS_OK);
    cr_assert_eq(vms_ed25519_keygen(priv_b, pub_b), VMS_OK);
}

static tu_stream signed_stream(const uint8_t *in, size_t n, size_t chunk, size_t ckpt,
                               const uint8_t *priv, const uint8_t *sid)
{
    vms_membuf mb = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_stream_id(e, sid), VMS_OK);
    cr_assert_eq(vms_encoder_set_record_size(e, chunk), VMS_OK);
    cr_assert_eq(vms_encoder_set_ed25519_key(e, priv), VMS_OK);
    cr_assert_eq(vms_encoder_set_checkpoint_interval(e, ckpt), VMS_OK);
    cr_assert_eq(vms_encoder_write(e, 2, 0, 0, in, n), VMS_OK);
    cr_assert_eq(vms_encoder_finish(e), VMS_OK);
    vms_encoder_free(e);
    return tu_from_membuf(&mb);
}

typedef struct sig_run {
    int rc;
    size_t delivered;
    int commits;
    uint8_t *out;
    size_t cap;
} sig_run;

static int sr_record(void *ctx, const vms_record *r)
{
    sig_run *s = ctx;
    s->delivered++;
    if (s->out && r->offset + r->len <= s->cap)
        memcpy(s->out + r->offset, r->data, r->len);
    return 0;
}

static int sr_commit(void *ctx, const vms_stream_summary *sum)
{
    (void)sum;
    ((sig_run *)ctx)->commits++;
    return 0;
}

static sig_run decode_signed(const tu_stream *s, size_t upto, const uint8_t *pub,
                             vms_auth_mode require, uint8_t *out, size_t cap,
                             const vms_limits *lim)
{
    sig_run r = {0};
    r.out = out;
    r.cap = cap;
    vms_decoder_callbacks cb = {.on_record = sr_record, .on_commit = sr_commit, .ctx = &r};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, lim, &cb, NULL), VMS_OK);
    if (pub)
        cr_assert_eq(vms_decoder_add_ed25519_key(d, pub), VMS_OK);
    cr_assert_eq(vms_decoder_require_auth(d, require), VMS_OK);
    r.rc = vms_decoder_feed(d, s->data, upto, NULL);
    if (r.rc >= 0 && upto == s->len)
        r.rc = vms_decoder_finish(d);
    vms_decoder_free(d);
    return r;
}

static size_t find_record(const tu_stream *s, uint16_t type, int nth)
{
    for (size_t i = 0;; i++) {
        size_t off = tu_record_offset(s, i);
        uint16_t t = vms_le16(s->data + off + VMS_R_TYPE);
        if (t == type && nth-- == 0)
            return off;
        cr_assert_neq(t, VMS_REC_END, "record type %u not found", type);
    }
}

Test(ed25519, keys_and_pem)
{
    keys();
    uint8_t pub[32], back[32];
    cr_assert_eq(vms_ed25519_public_key(priv_a, pub), VMS_OK);
    cr_assert(memcmp(pub, pub_a, 32) == 0);
    char pem[512];
    size_t need;
    cr_assert_eq(vms_ed25519_private_pem(priv_a, pem, sizeof pem, &need), VMS_OK);
    cr_assert(strstr(pem, "BEGIN PRIVATE KEY") != NULL);
    cr_assert_eq(need, strlen(pem) + 1);
    const size_t full = need;
    cr_assert_eq(vms_ed25519_parse_private_pem(pem, strlen(pem), back), VMS_OK);
    cr_assert(memcmp(back, priv_a, 32) == 0);
    /* Too small, and the size query (NULL, 0): the exact size, nothing written. */
    memset(pem, 'x', sizeof pem);
    cr_assert_eq(vms_ed25519_private_pem(priv_a, pem, full - 1, &need), VMS_E_INVALID_ARG);
    cr_assert_eq(need, full);
    cr_assert_eq(pem[0], 'x');
    need = 7;
    cr_assert_eq(vms_ed25519_private_pem(priv_a, NULL, 0, &need), VMS_E_INVALID_ARG);
    cr_assert_eq(need, full);
    cr_assert_eq(vms_ed25519_private_pem(priv_a, pem, full, &need), VMS_OK);
    cr_assert_eq(strlen(pem) + 1, full);
    cr_assert_eq(vms_ed25519_public_pem(pub_a, pem, sizeof pem, &need), VMS_OK);
    cr_assert_eq(vms_ed25519_parse_public_pem(pem, strlen(pem), back), VMS_OK);
    cr_assert(memcmp(back, pub_a, 32) == 0);
    /* a public key is not a private key, garbage is nothing */
    cr_assert_eq(vms_ed25519_parse_private_pem(pem, strlen(pem), back), VMS_E_BAD_KEY);
    cr_assert_eq(vms_ed25519_parse_public_pem("junk", 4, back), VMS_E_BAD_KEY);
    /* trailing NULs counted in len are a terminator, not key bytes */
    cr_assert_eq(vms_ed25519_public_pem(pub_a, pem, sizeof pem, &need), VMS_OK);
    cr_assert_eq(vms_ed25519_parse_public_pem(pem, strlen(pem) + 1, back), VMS_OK);
    cr_assert(memcmp(back, pub_a, 32) == 0);
    /* a NUL inside the BEGIN label (OpenSSL's reader would stop the label
     * there and accept it) or any other control byte is refused */
    cr_assert_eq(vms_ed25519_private_pem(priv_a, pem, sizeof pem, &need), VMS_OK);
    char bad[600];
    size_t n = strlen(pem);
    char *dash = strstr(pem, "KEY-----");
    cr_assert_not_null(dash);
    size_t at = (size_t)(dash - pem) + 3; /* just after "KEY" */
    memcpy(bad, pem, at);
    memset(bad + at, 0, 20);
    memcpy(bad + at + 20, pem + at, n - at);
    memset(back, 0xAA, sizeof back);
    cr_assert_eq(vms_ed25519_parse_private_pem(bad, n + 20, back), VMS_E_BAD_KEY);
    memcpy(bad, pem, n);
    bad[n / 2] = '\x01';
    cr_assert_eq(vms_ed25519_parse_private_pem(bad, n, back), VMS_E_BAD_KEY);
    cr_assert_eq(vms_ed25519_parse_private_pem("\0\0", 2, back), VMS_E_BAD_KEY);
    uint8_t id1[8], id2[8];
    vms_key_id(pub_a, 32, id1);
    vms_key_id(pub_b, 32, id2);
    cr_assert(memcmp(id1, id2, 8) != 0);
}

Test(ed25519, roundtrip_with_checkpoints_and_bounded_holding)
{
    keys();
    size_t n = 50000;
    uint8_t *in = tu_state(n, 8);
    tu_stream s = signed_stream(in, n, 1000, 4096, priv_a, tu_sid);
    cr_assert_eq(s.data[VMS_H_AUTH], VMS_AUTH_ED25519);
    uint8_t *out = calloc(1, n);
    sig_run r = decode_signed(&s, s.len, pub_a, VMS_AUTH_ED25519, out, n, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", vms_strerror(r.rc));
    cr_assert_eq(r.commits, 1);
    cr_assert_eq(r.delivered, 50);
    cr_assert(memcmp(in, out, n) == 0);
    /* Nothing is delivered before the first checkpoint verifies. */
    size_t c0 = find_record(&s, VMS_REC_CHECKPOINT, 0);
    r = decode_signed(&s, c0 + VMS_R_HDR + VMS_CHECKPOINT_PAYLOAD - 1, pub_a,
                      VMS_AUTH_NONE, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_OK);
    cr_assert_eq(r.delivered, 0);
    r = decode_signed(&s, c0 + VMS_R_HDR + VMS_CHECKPOINT_PAYLOAD, pub_a, VMS_AUTH_NONE,
                      NULL, 0, NULL);
    cr_assert_eq(r.delivered, 4, "4 records of 1000 fit a 4096-byte interval");
    free(out);
    tu_stream_free(&s);
    free(in);
}

Test(ed25519, every_attack_rejected)
{
    keys();
    size_t n = 20000;
    uint8_t *in = tu_state(n, 3);
    tu_stream s = signed_stream(in, n, 1000, 4096, priv_a, tu_sid);
    sig_run r;
    tu_stream t;

    /* modified payload byte */
    t = tu_copy(&s);
    t.data[tu_record_offset(&t, 2) + VMS_R_HDR + 7] ^= 1;
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_RECORD_CHECKSUM);
    cr_assert_eq(r.delivered, 0);
    tu_restamp(&t, NULL, 0); /* attacker recomputes every checksum and chain */
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SIGNATURE);
    cr_assert_eq(r.delivered, 0);
    tu_stream_free(&t);

    /* modified header field (vendor), checksums recomputed */
    t = tu_copy(&s);
    vms_put32(t.data + VMS_H_VENDOR, VMS_VENDOR_PCI(0x8086));
    tu_restamp(&t, NULL, 0);
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SIGNATURE);
    tu_stream_free(&t);

    /* dropped, duplicated, reordered records */
    size_t r1 = tu_record_offset(&s, 1), r2 = tu_record_offset(&s, 2);
    t = tu_copy(&s);
    memmove(t.data + r1, t.data + r2, t.len - r2);
    t.len -= r2 - r1;
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SEQUENCE);
    tu_stream_free(&t);
    t = tu_splice(&s, r2, s.data + r1, r2 - r1);
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SEQUENCE);
    tu_stream_free(&t);
    t = tu_copy(&s);
    memcpy(t.data + r1, s.data + r2, r2 - r1);
    memcpy(t.data + r2, s.data + r1, r2 - r1);
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SEQUENCE);
    tu_stream_free(&t);

    /* a record spliced in from another stream signed with the same key */
    uint8_t sid2[16] = {0x77};
    tu_stream o = signed_stream(in, n, 1000, 4096, priv_a, sid2);
    t = tu_copy(&s);
    memcpy(t.data + r1, o.data + r1, r2 - r1);
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_RECORD_CHECKSUM);
    tu_stream_free(&t);
    /* ... and the same with the other stream's whole signed tail */
    size_t c0 = find_record(&s, VMS_REC_CHECKPOINT, 0);
    t = tu_copy(&s);
    memcpy(t.data + c0, o.data + c0, s.len - c0);
    r = decode_signed(&t, t.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert(r.rc == VMS_E_RECORD_CHECKSUM || r.rc == VMS_E_BAD_SIGNATURE);
    cr_assert_eq(r.commits, 0);
    tu_stream_free(&t);
    tu_stream_free(&o);

    /* cut before its end */
    size_t e = find_record(&s, VMS_REC_END, 0);
    r = decode_signed(&s, e, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_OK); /* feed fine so far... */
    {
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_add_ed25519_key(d, pub_a), VMS_OK);
        cr_assert_eq(vms_decoder_feed(d, s.data, e, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_finish(d), VMS_E_TRUNCATED);
        vms_decoder_free(d);
    }

    /* signature stripped: re-encoded as an unauthenticated stream */
    tu_stream plain = tu_encode(in, n, 1000, VMS_CODEC_NONE, NULL);
    r = decode_signed(&plain, plain.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_AUTH_REQUIRED);
    /* ... or downgraded to MAC when signatures are required */
    uint8_t mk[32] = {1}, kid[8];
    vms_key_id(mk, 32, kid);
    tu_mac mac = {mk, 32, kid};
    tu_stream macd = tu_encode(in, n, 1000, VMS_CODEC_NONE, &mac);
    r = decode_signed(&macd, macd.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_AUTH_REQUIRED);
    tu_stream_free(&macd);
    tu_stream_free(&plain);

    /* wrong key: the receiver trusts only key B */
    r = decode_signed(&s, s.len, pub_b, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_UNKNOWN_KEY);
    r = decode_signed(&s, s.len, NULL, VMS_AUTH_NONE, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_UNKNOWN_KEY);

    /* a signature by another key under the trusted key's id */
    tu_stream forged = signed_stream(in, n, 1000, 4096, priv_b, tu_sid);
    uint8_t ida[8];
    vms_key_id(pub_a, 32, ida);
    memcpy(forged.data + VMS_H_KEY_ID, ida, 8);
    tu_restamp(&forged, NULL, 0);
    r = decode_signed(&forged, forged.len, pub_a, VMS_AUTH_ED25519, NULL, 0, NULL);
    cr_assert_eq(r.rc, VMS_E_BAD_SIGNATURE);
    cr_assert_eq(r.delivered, 0);
    tu_stream_free(&forged);

    tu_stream_free(&s);
    free(in);
}

Test(ed25519, sparse_checkpoints_hit_the_buffer_limit)
{
    keys();
    size_t n = 3u << 20;
    uint8_t *in = tu_state(n, 1);
    tu_stream s = signed_stream(in, n, 65536, 1u << 30, priv_a, tu_sid);
    vms_limits *l;
    cr_assert_eq(vms_limits_new(&l, NULL), VMS_OK);
    cr_assert_eq(vms_limits_set(l, VMS_LIMIT_BUFFERED, 1u << 20), VMS_OK);
    sig_run r = decode_signed(&s, s.len, pub_a, VMS_AUTH_ED25519, NULL, 0, l);
    cr_assert_eq(r.rc, VMS_E_LIMIT_BUFFERED);
    cr_assert_eq(r.delivered, 0);
    vms_limits_free(l);
    tu_stream_free(&s);
    free(in);
}

Test(ed25519, checkpoint_in_unsigned_stream_rejected)
{
    tu_stream s = tu_encode((const uint8_t *)"0123456789", 10, 5, VMS_CODEC_NONE, NULL);
    size_t r1 = tu_record_offset(&s, 1);
    vms_put16(s.data + r1 + VMS_R_TYPE, VMS_REC_CHECKPOINT);
    tu_restamp(&s, NULL, 0);
    tu_result r = tu_decode(s.data, s.len, SIZE_MAX, NULL);
    cr_assert_eq(r.rc, VMS_E_UNKNOWN_RECORD, "%s", r.msg);
    tu_result_free(&r);
    tu_stream_free(&s);
}

Test(mac, header_field_modified)
{
    uint8_t key[32] = {5}, kid[8];
    vms_key_id(key, 32, kid);
    tu_mac mk = {key, 32, kid};
    uint8_t *in = tu_state(5000, 2);
    tu_stream s = tu_encode(in, 5000, 1000, VMS_CODEC_NONE, &mk);
    vms_put32(s.data + VMS_H_VENDOR, VMS_VENDOR_PCI(0x8086));
    tu_restamp(&s, NULL, 0); /* the plain checksum is recomputable; the MAC is not */
    tu_result r = tu_decode_mac(s.data, s.len, &mk, VMS_AUTH_MAC);
    cr_assert_eq(r.rc, VMS_E_MAC_MISMATCH, "%s", r.msg);
    cr_assert_eq(r.records, 0);
    tu_result_free(&r);
    tu_stream_free(&s);
    free(in);
}

/* 100 MiB signed and MAC'd streams decode to exactly their input. */
Test(large, hundred_mib_authenticated, .timeout = 300)
{
    keys();
    size_t n = 100u << 20;
    uint8_t *in = tu_random(n, 100);
    uint8_t *out = malloc(n);
    tu_stream s = signed_stream(in, n, 1u << 20, 4u << 20, priv_a, tu_sid);
    memset(out, 0, n);
    sig_run r = decode_signed(&s, s.len, pub_a, VMS_AUTH_ED25519, out, n, NULL);
    cr_assert_eq(r.rc, VMS_END, "%s", vms_strerror(r.rc));
    cr_assert(memcmp(in, out, n) == 0);
    tu_stream_free(&s);

    uint8_t key[32] = {9}, kid[8];
    vms_key_id(key, 32, kid);
    tu_mac mk = {key, 32, kid};
    s = tu_encode(in, n, 1u << 20, VMS_CODEC_NONE, &mk);
    tu_result t = tu_decode_mac(s.data, s.len, &mk, VMS_AUTH_MAC);
    cr_assert_eq(t.rc, VMS_END, "%s", t.msg);
    cr_assert_eq(t.len, n);
    cr_assert(memcmp(in, t.data, n) == 0);
    tu_result_free(&t);
    tu_stream_free(&s);
    free(out);
    free(in);
}

/* Records smaller than the signed END (120 bytes) and checkpoints (112):
 * the control records have their own sizes, and arrive split. */
Test(ed25519, tiny_records_split_feeds)
{
    keys();
    uint8_t in[3000];
    for (size_t i = 0; i < sizeof in; i++)
        in[i] = (uint8_t)(i * 31 + 7);
    tu_stream s = signed_stream(in, sizeof in, 50, 1024, priv_a, tu_sid);
    for (size_t step = 1; step <= 130; step += 43) {
        sig_run r = {0};
        uint8_t out[3000] = {0};
        r.out = out;
        r.cap = sizeof out;
        vms_decoder_callbacks cb = {.on_record = sr_record, .on_commit = sr_commit,
                                    .ctx = &r};
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_add_ed25519_key(d, pub_a), VMS_OK);
        int rc = VMS_OK;
        for (size_t pos = 0; pos < s.len && rc >= 0; pos += step)
            rc = vms_decoder_feed(d, s.data + pos, s.len - pos < step ? s.len - pos : step,
                                  NULL);
        if (rc >= 0)
            rc = vms_decoder_finish(d);
        cr_assert_eq(rc, VMS_END, "step %zu: %s", step, vms_decoder_error(d)->message);
        cr_assert(memcmp(in, out, sizeof in) == 0);
        vms_decoder_free(d);
    }
    tu_stream_free(&s);
}

Test(api, one_auth_mode_per_stream)
{
    keys();
    uint8_t key[32] = {1}, kid[8] = {2};
    vms_membuf mb = {0};
    vms_encoder *e;
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_ed25519_key(e, priv_a), VMS_OK);
    cr_assert_eq(vms_encoder_set_mac_key(e, key, 32, kid), VMS_E_STATE);
    vms_encoder_free(e);
    cr_assert_eq(vms_encoder_new(&e, vms_sink_membuf, &mb, NULL), VMS_OK);
    cr_assert_eq(vms_encoder_set_mac_key(e, key, 32, kid), VMS_OK);
    cr_assert_eq(vms_encoder_set_ed25519_key(e, priv_a), VMS_E_STATE);
    vms_encoder_free(e);
    vms_membuf_release(&mb);
}

/* A signed stream's raw records are copied into their hold nodes by the
 * hash pass, so the nodes of a whole batch are taken before it is checked.
 * When a record in the middle of the batch is bad, the records after it
 * are never held: their nodes must come back, and the decoder must give
 * every byte back to the allocator when it is freed (and the records
 * before the bad one must not be delivered: no signature covers them). */
Test(ed25519, bad_record_mid_batch_returns_every_hold_node)
{
    keys();
    const size_t chunk = 4096, n = 40 * chunk;
    uint8_t *in = tu_random(n, 12); /* random pages: raw records, no page maps */
    tu_stream s = signed_stream(in, n, chunk, 64 * chunk, priv_a, tu_sid);
    for (int bad = 0; bad < 12; bad += 3) {
        tu_stream t = tu_copy(&s);
        t.data[tu_record_offset(&t, (size_t)bad + 1) + VMS_R_HDR + 100] ^= 0x40;
        tu_failmem fm = {.fail_at = -1};
        vms_allocator a = tu_failmem_allocator(&fm);
        sig_run r = {0};
        vms_decoder_callbacks cb = {.on_record = sr_record, .on_commit = sr_commit, .ctx = &r};
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, &cb, &a), VMS_OK);
        cr_assert_eq(vms_decoder_add_ed25519_key(d, pub_a), VMS_OK);
        /* one feed: the bad record sits inside a batch of 8 */
        int rc = vms_decoder_feed(d, t.data, t.len, NULL);
        cr_assert_eq(rc, VMS_E_RECORD_CHECKSUM, "bad record %d: %d", bad + 1, rc);
        cr_assert_eq(r.delivered, 0);
        vms_decoder_free(d);
        cr_assert_eq(fm.live, 0, "bad record %d: %ld allocations not freed", bad + 1, fm.live);
        tu_stream_free(&t);
    }
    tu_stream_free(&s);
    free(in);
}

/* Every allocation of a signed decode refused in turn.  Hold nodes are
 * taken before their batch is hashed, and a refused one is asked for again
 * after verification; the first refusal must end the early taking, or
 * later records take the budget its retry needs and the limit is hit at
 * another record.  So, with the buffer limit at the exact peak, the
 * outcome is the whole stream or VMS_E_NOMEM; with a limit half a record
 * short, VMS_E_NOMEM or exactly the outcome with nothing refused
 * (VMS_E_LIMIT_BUFFERED at the same record and offset).  No leak. */
typedef struct refusal_run {
    int rc;
    vms_error_info err;
    size_t delivered;
    long live;
    int allocations;
} refusal_run;

static refusal_run decode_refusing(const tu_stream *s, const vms_limits *lim, int fail_at,
                                   uint8_t *out, size_t cap)
{
    tu_failmem fm = {.fail_at = fail_at};
    vms_allocator a = tu_failmem_allocator(&fm);
    sig_run r = {0};
    r.out = out;
    r.cap = cap;
    vms_decoder_callbacks cb = {.on_record = sr_record, .ctx = &r};
    vms_decoder *d;
    refusal_run o = {0};
    o.rc = vms_decoder_new(&d, lim, &cb, &a);
    if (o.rc == VMS_OK) {
        o.rc = vms_decoder_add_ed25519_key(d, pub_a);
        if (o.rc == VMS_OK)
            o.rc = vms_decoder_feed(d, s->data, s->len, NULL);
        o.err = *vms_decoder_error(d);
        o.err.message = NULL; /* freed with the decoder */
        vms_decoder_free(d);
    }
    o.delivered = r.delivered;
    o.live = fm.live;
    o.allocations = fm.count;
    return o;
}

Test(ed25519, refused_allocations_keep_the_outcome)
{
    keys();
    const size_t chunk = 16384, n = 30 * chunk; /* peak above the 64 KiB minimum */
    uint8_t *in = tu_random(n, 21);
    uint8_t *out = malloc(n);
    tu_stream s = signed_stream(in, n, chunk, 10 * chunk, priv_a, tu_sid);
    uint64_t peak = 0;
    {
        vms_decoder *d;
        cr_assert_eq(vms_decoder_new(&d, NULL, NULL, NULL), VMS_OK);
        cr_assert_eq(vms_decoder_add_ed25519_key(d, pub_a), VMS_OK);
        cr_assert_eq(vms_decoder_feed(d, s.data, s.len, NULL), VMS_END);
        peak = vms_decoder_peak_memory(d);
        vms_decoder_free(d);
    }
    for (int tight = 0; tight <= 1; tight++) {
        vms_limits *lim;
        cr_assert_eq(vms_limits_new(&lim, NULL), VMS_OK);
        cr_assert_eq(vms_limits_set(lim, VMS_LIMIT_BUFFERED, peak - (tight ? chunk / 2 : 0)),
                     VMS_OK);
        memset(out, 0, n);
        const refusal_run ref = decode_refusing(&s, lim, -1, out, n);
        cr_assert_eq(ref.rc, tight ? VMS_E_LIMIT_BUFFERED : VMS_END, "tight %d: %s", tight,
                     vms_strerror(ref.rc));
        if (!tight)
            cr_assert(ref.delivered == 30 && memcmp(out, in, n) == 0);
        int same = 0;
        for (int fail_at = 0; fail_at < ref.allocations; fail_at++) {
            memset(out, 0, n);
            refusal_run o = decode_refusing(&s, lim, fail_at, out, n);
            cr_assert_eq(o.live, 0, "tight %d: leak with allocation %d refused", tight, fail_at);
            if (o.rc == VMS_E_NOMEM)
                continue;
            same++;
            cr_assert_eq(o.rc, ref.rc, "tight %d, allocation %d refused: %s", tight, fail_at,
                         vms_strerror(o.rc));
            cr_assert_eq(o.err.offset, ref.err.offset, "tight %d, allocation %d refused",
                         tight, fail_at);
            cr_assert_eq(o.err.record, ref.err.record, "tight %d, allocation %d refused",
                         tight, fail_at);
            cr_assert_eq(o.delivered, ref.delivered, "tight %d, allocation %d refused", tight,
                         fail_at);
            if (!tight)
                cr_assert(memcmp(out, in, n) == 0, "allocation %d refused", fail_at);
        }
        cr_assert_gt(same, 0, "tight %d: the hold nodes taken early absorb their refusal",
                     tight);
        vms_limits_free(lim);
    }
    tu_stream_free(&s);
    free(out);
    free(in);
}
