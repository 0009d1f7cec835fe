/* keys.c - Ed25519 PEM key loading on arbitrary input (production flavour).
 *
 * The input is tried as a private and as a public key.  A key that loads
 * must write back as PEM that loads to the same key; a private key must
 * give a public key, sign and verify, and must come from an unencrypted
 * PKCS#8 block.  A key that does not load must leave
 * the output zeroed (no partial key material). */
#include <string.h>

#include "fuzz.h"

static bool has(const uint8_t *d, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        if (memcmp(d + i, needle, k) == 0)
            return true;
    return false;
}

static void check_zero(const uint8_t *k)
{
    for (size_t i = 0; i < VMS_ED25519_KEY_BYTES; i++)
        VF_CHECK(k[i] == 0, "a failed parse left key byte %zu = 0x%02x", i, k[i]);
}

int vmsfuzz_keys(const uint8_t *data, size_t size)
{
    const char *pem = (const char *)data;
    uint8_t priv[VMS_ED25519_KEY_BYTES], pub[VMS_ED25519_KEY_BYTES], k2[VMS_ED25519_KEY_BYTES];
    char buf[512];
    size_t need = 0;

    memset(priv, 0xa5, sizeof priv);
    int rc = vms_ed25519_parse_private_pem(pem, size, priv);
    if (rc == VMS_E_UNSUPPORTED)
        return 0;
    if (rc == VMS_OK) {
        /* only an unencrypted PKCS#8 key may load (vmstream.h): the input
         * must hold such a block (an ENCRYPTED PRIVATE KEY must not load,
         * not even with an empty passphrase) */
        VF_CHECK(has(data, size, "-----BEGIN PRIVATE KEY-----"),
                 "a private key loaded from input without an unencrypted PKCS#8 block");
        VF_CHECK(vms_ed25519_public_key(priv, pub) == VMS_OK, "public key of a parsed key");
        VF_CHECK(vms_ed25519_private_pem(priv, buf, sizeof buf, &need) == VMS_OK, "write pem");
        VF_CHECK(need == strlen(buf) + 1, "needed %zu for %zu", need, strlen(buf));
        VF_CHECK(vms_ed25519_parse_private_pem(buf, need - 1, k2) == VMS_OK &&
                     memcmp(k2, priv, sizeof k2) == 0,
                 "private PEM round trip");
        uint8_t msg[VMS_SIG_MSG_BYTES], sig[VMS_ED25519_SIG_BYTES];
        memset(msg, 0x3c, sizeof msg);
        VF_CHECK(vms_ed25519_sign_raw(priv, msg, sizeof msg, sig) == VMS_OK, "sign");
        VF_CHECK(vms_ed25519_verify_raw(pub, msg, sizeof msg, sig) == VMS_OK, "verify");
    } else {
        VF_CHECK(rc == VMS_E_BAD_KEY || (rc == VMS_E_INVALID_ARG &&
                                         (size == 0 || size > 64 * 1024)),
                 "private parse returned %d for %zu bytes", rc, size);
        if (rc == VMS_E_BAD_KEY)
            check_zero(priv);
    }

    memset(pub, 0x5a, sizeof pub);
    rc = vms_ed25519_parse_public_pem(pem, size, pub);
    if (rc == VMS_OK) {
        VF_CHECK(vms_ed25519_public_pem(pub, buf, sizeof buf, &need) == VMS_OK, "write pem");
        VF_CHECK(vms_ed25519_parse_public_pem(buf, need - 1, k2) == VMS_OK &&
                     memcmp(k2, pub, sizeof k2) == 0,
                 "public PEM round trip");
        uint8_t id[VMS_KEY_ID_BYTES];
        vms_key_id(pub, sizeof pub, id);
    } else {
        VF_CHECK(rc == VMS_E_BAD_KEY || (rc == VMS_E_INVALID_ARG &&
                                         (size == 0 || size > 64 * 1024)),
                 "public parse returned %d for %zu bytes", rc, size);
        if (rc == VMS_E_BAD_KEY)
            check_zero(pub);
    }
    return 0;
}

#ifdef VMSFUZZ_ENTRY
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return vmsfuzz_keys(data, size);
}
#endif
