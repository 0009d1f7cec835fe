/* checksum.c - BLAKE2b digests, MACs and the chain (only user of libb2). */
#include <blake2.h>

#include "internal.h"
#include "wire.h"

int vms_blake2b_keyed(uint8_t *out, size_t outlen, const void *in, size_t inlen,
                      const uint8_t *key, size_t keylen)
{
    /* libb2 0.98.1: blake2b(out, in, key, outlen, inlen, keylen). */
    return blake2b(out, in, key, outlen, inlen, keylen);
}

static void b2_init(blake2b_state *s, const uint8_t *key, size_t keylen)
{
    if (keylen)
        blake2b_init_key(s, VMS_DIGEST_BYTES, key, keylen);
    else
        blake2b_init(s, VMS_DIGEST_BYTES);
}

void vms_digest_header(uint8_t out[VMS_DIGEST_BYTES], const uint8_t *hdr,
                       size_t len, const uint8_t *key, size_t keylen)
{
    blake2b_state s;
    b2_init(&s, key, keylen);
    blake2b_update(&s, hdr, len);
    blake2b_final(&s, out, VMS_DIGEST_BYTES);
}

void vms_digest_record(uint8_t out[VMS_DIGEST_BYTES], const uint8_t prefix[128],
                       const uint8_t *payload, size_t len, const uint8_t *key,
                       size_t keylen)
{
    blake2b_state s;
    b2_init(&s, key, keylen);
    blake2b_update(&s, prefix, VMS_PREFIX_BYTES);
    if (len)
        blake2b_update(&s, payload, len);
    blake2b_final(&s, out, VMS_DIGEST_BYTES);
}

void vms_digest_record2(uint8_t out[VMS_DIGEST_BYTES], const uint8_t prefix[128],
                        const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                        const uint8_t *key, size_t keylen)
{
    blake2b_state s;
    b2_init(&s, key, keylen);
    blake2b_update(&s, prefix, VMS_PREFIX_BYTES);
    if (alen)
        blake2b_update(&s, a, alen);
    if (blen)
        blake2b_update(&s, b, blen);
    blake2b_final(&s, out, VMS_DIGEST_BYTES);
}

void vms_chain_step(uint8_t chain[VMS_DIGEST_BYTES],
                    const uint8_t rec[VMS_DIGEST_BYTES])
{
    uint8_t in[2 * VMS_DIGEST_BYTES];
    memcpy(in, chain, VMS_DIGEST_BYTES);
    memcpy(in + VMS_DIGEST_BYTES, rec, VMS_DIGEST_BYTES);
    blake2b(chain, in, NULL, VMS_DIGEST_BYTES, sizeof in, 0);
}

bool vms_digest_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= (uint8_t)(a[i] ^ b[i]);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    (void)acc;
    return true;
#else
    return acc == 0;
#endif
}

void vms_make_prefix(uint8_t prefix[128], const uint8_t stream_id[VMS_STREAM_ID_BYTES],
                     const uint8_t header_digest[VMS_DIGEST_BYTES],
                     const uint8_t rechdr[40])
{
    memcpy(prefix, stream_id, VMS_STREAM_ID_BYTES);
    memcpy(prefix + 16, header_digest, VMS_DIGEST_BYTES);
    memcpy(prefix + 48, rechdr, VMS_R_CHECKSUM);
    memset(prefix + 88, 0, VMS_PREFIX_BYTES - 88);
}
