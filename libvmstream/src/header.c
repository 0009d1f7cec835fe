/* header.c - stream header: serialisation and validation. */
#include "internal.h"
#include "wire.h"

vms_status vms_vendor_id_check(uint32_t id)
{
    if (id & VMS_VENDOR_PCI_FLAG)
        return (id & 0x7fff0000u) == 0 ? VMS_OK : VMS_E_BAD_VENDOR_ID;
    return id == 0 ? VMS_OK : VMS_E_BAD_VENDOR_ID;
}

size_t vms_header_size(uint32_t blob_len)
{
    return VMS_H_FIXED + (size_t)vms_pad8(blob_len) + VMS_DIGEST_BYTES;
}

void vms_header_write(uint8_t *buf, vms_header_info *h, const uint8_t *blob,
                      const uint8_t *key, size_t keylen)
{
    size_t hlen = vms_header_size(h->version_blob_len);
    memset(buf, 0, hlen);
    memcpy(buf + VMS_H_MAGIC, VMS_MAGIC, VMS_MAGIC_LEN);
    vms_put16(buf + VMS_H_MAJOR, h->format_major);
    vms_put16(buf + VMS_H_MINOR, h->format_minor);
    vms_put32(buf + VMS_H_LENGTH, (uint32_t)hlen);
    vms_put32(buf + VMS_H_FEAT_REQ, h->features_required);
    vms_put32(buf + VMS_H_FEAT_OPT, h->features_optional);
    buf[VMS_H_CSUM_ALG] = h->checksum_alg;
    buf[VMS_H_AUTH] = h->auth_mode;
    buf[VMS_H_CODEC] = h->codec;
    vms_put32(buf + VMS_H_VENDOR, h->vendor_id);
    memcpy(buf + VMS_H_STREAM_ID, h->stream_id, VMS_STREAM_ID_BYTES);
    memcpy(buf + VMS_H_KEY_ID, h->key_id, VMS_KEY_ID_BYTES);
    vms_put32(buf + VMS_H_MAX_RECORD, h->max_record);
    vms_put32(buf + VMS_H_BLOB_LEN, h->version_blob_len);
    if (h->version_blob_len)
        memcpy(buf + VMS_H_FIXED, blob, h->version_blob_len);
    h->header_length = (uint32_t)hlen;
    vms_digest_header(h->header_digest, buf, hlen - VMS_DIGEST_BYTES, key, keylen);
    memcpy(buf + hlen - VMS_DIGEST_BYTES, h->header_digest, VMS_DIGEST_BYTES);
}

static int magic_error(const uint8_t *p, size_t n, vms_err *e)
{
    const uint8_t *m = (const uint8_t *)VMS_MAGIC;
    size_t i = 0;
    while (i < n && i < VMS_MAGIC_LEN && p[i] == m[i])
        i++;
    if (i == VMS_MAGIC_LEN || i >= n)
        return VMS_OK;
    const char *hint = "this is not a vmstream";
    if (i == 0 && p[0] == 'V')
        hint = "the high bit of the first byte was stripped (7-bit channel?)";
    else if (i == 4 && p[4] == '\n')
        hint = "CR LF was translated to LF (text-mode transfer?)";
    else if (i == 5 && p[5] == '\r')
        hint = "LF was translated to CR LF (text-mode transfer?)";
    else if (i >= 1)
        hint = "the magic is damaged";
    return vms_err_set(e, VMS_E_BAD_MAGIC, i, UINT64_MAX,
                       "bad magic at byte %zu (0x%02x, expected 0x%02x): %s", i,
                       p[i], m[i], hint);
}

int vms_header_check_magic(const uint8_t *p, size_t n, vms_err *e)
{
    return magic_error(p, n, e);
}

int vms_header_check_fixed(const uint8_t *p, vms_header_info *h,
                           const uint64_t lim[VMS_LIMIT_COUNT], vms_err *e)
{
    const uint64_t R = UINT64_MAX;
    int rc = magic_error(p, VMS_MAGIC_LEN, e);
    if (rc)
        return rc;
    memset(h, 0, sizeof *h);
    h->format_major = vms_le16(p + VMS_H_MAJOR);
    h->format_minor = vms_le16(p + VMS_H_MINOR);
    h->header_length = vms_le32(p + VMS_H_LENGTH);
    h->features_required = vms_le32(p + VMS_H_FEAT_REQ);
    h->features_optional = vms_le32(p + VMS_H_FEAT_OPT);
    h->checksum_alg = p[VMS_H_CSUM_ALG];
    h->auth_mode = p[VMS_H_AUTH];
    h->codec = p[VMS_H_CODEC];
    h->vendor_id = vms_le32(p + VMS_H_VENDOR);
    memcpy(h->stream_id, p + VMS_H_STREAM_ID, VMS_STREAM_ID_BYTES);
    memcpy(h->key_id, p + VMS_H_KEY_ID, VMS_KEY_ID_BYTES);
    h->max_record = vms_le32(p + VMS_H_MAX_RECORD);
    h->version_blob_len = vms_le32(p + VMS_H_BLOB_LEN);

    if (h->format_major != VMS_FORMAT_MAJOR)
        return vms_err_set(e, VMS_E_UNSUPPORTED_VERSION, VMS_H_MAJOR, R,
                           "format version %u.%u is not supported: this decoder "
                           "reads major version %u only",
                           h->format_major, h->format_minor, VMS_FORMAT_MAJOR);
    if (h->features_required & ~VMS_FEAT_REQ_KNOWN)
        return vms_err_set(e, VMS_E_UNKNOWN_FEATURE, VMS_H_FEAT_REQ, R,
                           "required feature flags 0x%08x include unknown bits "
                           "0x%08x: the stream needs a newer decoder",
                           h->features_required,
                           h->features_required & ~VMS_FEAT_REQ_KNOWN);
    if (h->checksum_alg != VMS_CSUM_BLAKE2B_256)
        return vms_err_set(e, VMS_E_UNKNOWN_ALGORITHM, VMS_H_CSUM_ALG, R,
                           "checksum algorithm %u is unknown (expected 1, BLAKE2b-256)",
                           h->checksum_alg);
    if (h->auth_mode > VMS_AUTH_ED25519)
        return vms_err_set(e, VMS_E_UNKNOWN_ALGORITHM, VMS_H_AUTH, R,
                           "auth mode %u is unknown (expected 0, 1 or 2)",
                           h->auth_mode);
    if (h->codec > VMS_CODEC_ZSTD)
        return vms_err_set(e, VMS_E_UNKNOWN_ALGORITHM, VMS_H_CODEC, R,
                           "compression codec %u is unknown (expected 0, 1 or 2)",
                           h->codec);
    if ((h->codec != VMS_CODEC_NONE) !=
        ((h->features_required & VMS_FEAT_COMPRESSION) != 0))
        return vms_err_set(e, VMS_E_BAD_HEADER, VMS_H_CODEC, R,
                           "codec %u contradicts the compression feature flag (%s)",
                           h->codec,
                           (h->features_required & VMS_FEAT_COMPRESSION) ? "set" : "clear");
    if (p[VMS_H_RESERVED] != 0)
        return vms_err_set(e, VMS_E_NONZERO_PADDING, VMS_H_RESERVED, R,
                           "reserved header byte is 0x%02x, must be 0",
                           p[VMS_H_RESERVED]);
    if (vms_vendor_id_check(h->vendor_id) != VMS_OK)
        return vms_err_set(e, VMS_E_BAD_VENDOR_ID, VMS_H_VENDOR, R,
                           "vendor id 0x%08x is in the reserved space (bit 31 set "
                           "needs bits 16-30 clear; bit 31 clear needs 0)",
                           h->vendor_id);
    if (h->auth_mode == VMS_AUTH_NONE && !vms_all_zero(h->key_id, VMS_KEY_ID_BYTES))
        return vms_err_set(e, VMS_E_NONZERO_PADDING, VMS_H_KEY_ID, R,
                           "key id must be zero in a stream without authentication");
    if (h->max_record == 0 || h->max_record > VMS_MAX_RECORD_BYTES)
        return vms_err_set(e, VMS_E_BAD_HEADER, VMS_H_MAX_RECORD, R,
                           "max record size %u is outside 1..%u", h->max_record,
                           VMS_MAX_RECORD_BYTES);
    if (h->max_record > lim[VMS_LIMIT_RECORD_RAW])
        return vms_err_set(e, VMS_E_LIMIT_RECORD, VMS_H_MAX_RECORD, R,
                           "stream records may hold %u bytes, above this decoder's "
                           "record limit of %llu bytes",
                           h->max_record,
                           (unsigned long long)lim[VMS_LIMIT_RECORD_RAW]);
    if (h->version_blob_len > VMS_MAX_BLOB_BYTES)
        return vms_err_set(e, VMS_E_BAD_HEADER, VMS_H_BLOB_LEN, R,
                           "device-version blob length %u exceeds the format's "
                           "maximum of %u", h->version_blob_len, VMS_MAX_BLOB_BYTES);
    if (h->version_blob_len > lim[VMS_LIMIT_BLOB])
        return vms_err_set(e, VMS_E_LIMIT_BLOB, VMS_H_BLOB_LEN, R,
                           "device-version blob length %u exceeds this decoder's "
                           "limit of %llu", h->version_blob_len,
                           (unsigned long long)lim[VMS_LIMIT_BLOB]);
    size_t need = vms_header_size(h->version_blob_len);
    if (h->header_length % 8 != 0 || h->header_length < need ||
        (h->format_minor == 0 && h->header_length != need))
        return vms_err_set(e, VMS_E_BAD_HEADER, VMS_H_LENGTH, R,
                           "header length %u is inconsistent with a %u-byte blob "
                           "(expected %zu for format %u.%u)",
                           h->header_length, h->version_blob_len, need,
                           h->format_major, h->format_minor);
    if (h->header_length - need > VMS_HEADER_EXT_MAX)
        return vms_err_set(e, VMS_E_LIMIT_HEADER, VMS_H_LENGTH, R,
                           "header extension of %zu bytes exceeds the maximum of %u",
                           (size_t)(h->header_length - need), VMS_HEADER_EXT_MAX);
    return VMS_OK;
}

int vms_header_check_rest(const uint8_t *hdr, vms_header_info *h,
                          const uint8_t *key, size_t keylen, vms_err *e)
{
    const uint64_t R = UINT64_MAX;
    size_t blob_end = VMS_H_FIXED + h->version_blob_len;
    size_t pad_end = VMS_H_FIXED + (size_t)vms_pad8(h->version_blob_len);
    size_t hlen = h->header_length;
    h->version_blob = hdr + VMS_H_FIXED;
    for (size_t i = blob_end; i < pad_end; i++)
        if (hdr[i] != 0)
            return vms_err_set(e, VMS_E_NONZERO_PADDING, i, R,
                               "header padding byte at offset %zu is 0x%02x, must be 0",
                               i, hdr[i]);
    uint8_t d[VMS_DIGEST_BYTES];
    vms_digest_header(d, hdr, hlen - VMS_DIGEST_BYTES, key, keylen);
    if (!vms_digest_equal(d, hdr + hlen - VMS_DIGEST_BYTES, VMS_DIGEST_BYTES)) {
        if (keylen)
            return vms_err_set(e, VMS_E_MAC_MISMATCH, hlen - VMS_DIGEST_BYTES, R,
                               "header MAC does not verify: the header was modified "
                               "or the key is wrong");
        return vms_err_set(e, VMS_E_HEADER_CHECKSUM, hlen - VMS_DIGEST_BYTES, R,
                           "header checksum mismatch: the header (bytes 0-%zu) is "
                           "corrupt", hlen - VMS_DIGEST_BYTES - 1);
    }
    memcpy(h->header_digest, hdr + hlen - VMS_DIGEST_BYTES, VMS_DIGEST_BYTES);
    return VMS_OK;
}
