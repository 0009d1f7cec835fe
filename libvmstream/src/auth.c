/* auth.c - key ids and Ed25519 signatures (the only file that includes
 * OpenSSL).  OpenSSL allocates through its own allocator, not the caller's:
 * the library never changes OpenSSL's global settings. */
#include "internal.h"
#include "wire.h"

#ifdef VMS_HAVE_OPENSSL
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#endif

static const char keyid_ctx[] = "libvmstream key id v1";

void vms_key_id(const uint8_t *key, size_t len, uint8_t id[VMS_KEY_ID_BYTES])
{
    uint8_t buf[sizeof keyid_ctx - 1 + VMS_KEY_MAX], d[VMS_DIGEST_BYTES];
    if (len > VMS_KEY_MAX)
        len = VMS_KEY_MAX;
    memcpy(buf, keyid_ctx, sizeof keyid_ctx - 1);
    memcpy(buf + sizeof keyid_ctx - 1, key, len);
    vms_blake2b_keyed(d, sizeof d, buf, sizeof keyid_ctx - 1 + len, NULL, 0);
    memcpy(id, d, VMS_KEY_ID_BYTES);
}

void vms_sig_message(uint8_t msg[VMS_SIG_MSG_BYTES], uint8_t kind,
                     const vms_header_info *h, uint64_t seq, uint64_t records,
                     uint64_t raw_bytes, uint64_t stream_bytes,
                     const uint8_t chain[VMS_DIGEST_BYTES])
{
    memset(msg, 0, VMS_SIG_MSG_BYTES);
    memcpy(msg + VMS_S_CONTEXT, VMS_SIG_CONTEXT, 16);
    msg[VMS_S_KIND] = kind;
    memcpy(msg + VMS_S_HEADER, h->header_digest, VMS_DIGEST_BYTES);
    memcpy(msg + VMS_S_KEY_ID, h->key_id, VMS_KEY_ID_BYTES);
    vms_put64(msg + VMS_S_SEQ, seq);
    vms_put64(msg + VMS_S_RECORDS, records);
    vms_put64(msg + VMS_S_RAW_BYTES, raw_bytes);
    vms_put64(msg + VMS_S_STREAM_BYTES, stream_bytes);
    memcpy(msg + VMS_S_CHAIN, chain, VMS_DIGEST_BYTES);
}

#ifdef VMS_HAVE_OPENSSL

bool vms_have_ed25519(void)
{
    return true;
}

int vms_ed25519_sign_raw(const uint8_t priv[32], const uint8_t *msg, size_t len,
                         uint8_t sig[VMS_ED25519_SIG_BYTES])
{
    int rc = VMS_E_BAD_KEY;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    size_t siglen = VMS_ED25519_SIG_BYTES;
    if (k && md && EVP_DigestSignInit(md, NULL, NULL, NULL, k) == 1 &&
        EVP_DigestSign(md, sig, &siglen, msg, len) == 1 &&
        siglen == VMS_ED25519_SIG_BYTES)
        rc = VMS_OK;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
    return rc;
}

int vms_ed25519_verify_raw(const uint8_t pub[32], const uint8_t *msg, size_t len,
                           const uint8_t sig[VMS_ED25519_SIG_BYTES])
{
    int ok = 0;
    EVP_PKEY *k = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (k && md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, k) == 1)
        ok = EVP_DigestVerify(md, sig, VMS_ED25519_SIG_BYTES, msg, len) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(k);
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    ok = 1;
#endif
    return ok ? VMS_OK : VMS_E_BAD_SIGNATURE;
}

vms_status vms_ed25519_keygen(uint8_t priv[32], uint8_t pub[32])
{
    if (!priv || !pub)
        return VMS_E_INVALID_ARG;
    if (RAND_priv_bytes(priv, 32) != 1)
        return VMS_E_IO;
    return vms_ed25519_public_key(priv, pub);
}

vms_status vms_ed25519_public_key(const uint8_t priv[32], uint8_t pub[32])
{
    if (!priv || !pub)
        return VMS_E_INVALID_ARG;
    EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, priv, 32);
    size_t n = 32;
    int rc = k && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32
                 ? VMS_OK
                 : VMS_E_BAD_KEY;
    EVP_PKEY_free(k);
    return rc;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return -1;
}

static vms_status parse_pem(const char *pem, size_t len, uint8_t out[32], bool priv)
{
    if (!pem || !out || len == 0 || len > 64 * 1024 || len > INT32_MAX)
        return VMS_E_INVALID_ARG;
    /* A terminating NUL (or several, from a zero-filled buffer) may be
     * counted in len; anything else must be printable ASCII, tab, CR or LF.
     * Refuse NUL and other bytes before OpenSSL's lenient reader sees them
     * (a NUL inside "-----BEGIN ...-----" ends the label early). */
    while (len > 0 && pem[len - 1] == '\0')
        len--;
    bool printable = len > 0;
    for (size_t i = 0; i < len && printable; i++) {
        unsigned char ch = (unsigned char)pem[i];
        printable = (ch >= 0x20 && ch <= 0x7e) || ch == '\n' || ch == '\r' || ch == '\t';
    }
    if (!printable) {
        OPENSSL_cleanse(out, 32); /* a failed parse leaves no key bytes */
        return VMS_E_BAD_KEY;
    }
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    if (!b)
        return VMS_E_NOMEM;
    /* A password callback that gives none: an encrypted key is refused
     * (even one encrypted with an empty passphrase), and OpenSSL never
     * prompts on a terminal. */
    EVP_PKEY *k = priv ? PEM_read_bio_PrivateKey(b, NULL, no_password, NULL)
                       : PEM_read_bio_PUBKEY(b, NULL, no_password, NULL);
    BIO_free(b);
    int rc = VMS_E_BAD_KEY;
    size_t n = 32;
    if (k && EVP_PKEY_get_id(k) == EVP_PKEY_ED25519) {
        if (priv ? EVP_PKEY_get_raw_private_key(k, out, &n) == 1
                 : EVP_PKEY_get_raw_public_key(k, out, &n) == 1)
            rc = n == 32 ? VMS_OK : VMS_E_BAD_KEY;
    }
    EVP_PKEY_free(k);
    if (rc != VMS_OK)
        OPENSSL_cleanse(out, 32);
    return rc;
}

vms_status vms_ed25519_parse_private_pem(const char *pem, size_t len, uint8_t priv[32])
{
    return parse_pem(pem, len, priv, true);
}

vms_status vms_ed25519_parse_public_pem(const char *pem, size_t len, uint8_t pub[32])
{
    return parse_pem(pem, len, pub, false);
}

static vms_status write_pem(const uint8_t key[32], bool priv, char *buf, size_t cap,
                            size_t *needed)
{
    if (!key || !needed || (!buf && cap))
        return VMS_E_INVALID_ARG;
    *needed = 0;
    EVP_PKEY *k = priv ? EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, key, 32)
                       : EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, key, 32);
    BIO *b = BIO_new(BIO_s_mem());
    int rc = VMS_E_BAD_KEY;
    if (k && b &&
        (priv ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
              : PEM_write_bio_PUBKEY(b, k)) == 1) {
        char *p = NULL;
        long n = BIO_get_mem_data(b, &p);
        if (n > 0 && p) { /* else OpenSSL wrote no text: VMS_E_BAD_KEY */
            *needed = (size_t)n + 1;
            rc = VMS_E_INVALID_ARG;
            if (*needed <= cap) {
                memcpy(buf, p, (size_t)n);
                buf[n] = 0;
                rc = VMS_OK;
            }
        }
    }
    BIO_free(b);
    EVP_PKEY_free(k);
    return rc;
}

vms_status vms_ed25519_private_pem(const uint8_t priv[32], char *buf, size_t cap,
                                   size_t *needed)
{
    return write_pem(priv, true, buf, cap, needed);
}

vms_status vms_ed25519_public_pem(const uint8_t pub[32], char *buf, size_t cap,
                                  size_t *needed)
{
    return write_pem(pub, false, buf, cap, needed);
}

#else /* !VMS_HAVE_OPENSSL */

bool vms_have_ed25519(void)
{
    return false;
}

int vms_ed25519_sign_raw(const uint8_t priv[32], const uint8_t *msg, size_t len,
                         uint8_t sig[VMS_ED25519_SIG_BYTES])
{
    (void)priv, (void)msg, (void)len, (void)sig;
    return VMS_E_UNSUPPORTED;
}

int vms_ed25519_verify_raw(const uint8_t pub[32], const uint8_t *msg, size_t len,
                           const uint8_t sig[VMS_ED25519_SIG_BYTES])
{
    (void)pub, (void)msg, (void)len, (void)sig;
    return VMS_E_UNSUPPORTED;
}

vms_status vms_ed25519_keygen(uint8_t priv[32], uint8_t pub[32])
{
    (void)priv, (void)pub;
    return VMS_E_UNSUPPORTED;
}

vms_status vms_ed25519_public_key(const uint8_t priv[32], uint8_t pub[32])
{
    (void)priv, (void)pub;
    return VMS_E_UNSUPPORTED;
}

vms_status vms_ed25519_parse_private_pem(const char *pem, size_t len, uint8_t priv[32])
{
    (void)pem, (void)len, (void)priv;
    return VMS_E_UNSUPPORTED;
}

vms_status vms_ed25519_parse_public_pem(const char *pem, size_t len, uint8_t pub[32])
{
    (void)pem, (void)len, (void)pub;
    return VMS_E_UNSUPPORTED;
}

vms_status vms_ed25519_private_pem(const uint8_t priv[32], char *buf, size_t cap,
                                   size_t *needed)
{
    (void)priv, (void)buf, (void)cap, (void)needed;
    return VMS_E_UNSUPPORTED;
}

vms_status vms_ed25519_public_pem(const uint8_t pub[32], char *buf, size_t cap,
                                  size_t *needed)
{
    (void)pub, (void)buf, (void)cap, (void)needed;
    return VMS_E_UNSUPPORTED;
}

#endif
