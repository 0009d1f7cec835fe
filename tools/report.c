/* report.c - renderings of headers, summaries and errors (see report.h). */
#include "report.h"

#include <stdlib.h>
#include <string.h>

#include "wire.h" /* feature flag and checksum ids (doc/FORMAT.md) */

/* Bytes of the version blob shown by the text rendering. */
#define BLOB_PREVIEW 32
static_assert(BLOB_PREVIEW <= VMS_DIGEST_BYTES, "the preview fits the hex buffer");

static const char *checksum_name(unsigned alg)
{
    return alg == VMS_CSUM_BLAKE2B_256 ? "BLAKE2b-256" : "unknown";
}

typedef struct feature_name {
    uint32_t bit;
    const char *name;
} feature_name;

static const feature_name required_names[] = {
    {VMS_FEAT_COMPRESSION, "compression"},
#ifdef VMS_FEAT_PAGEMAP
    {VMS_FEAT_PAGEMAP, "page maps"},
#endif
    {0, NULL},
};

static const feature_name optional_names[] = {
    {VMS_FEAT_DESCRIPTOR, "descriptor"},
    {0, NULL},
};

/* " (name, name, unknown bits)" or "" into out. */
static void features_text(char *out, size_t outlen, uint32_t bits,
                          const feature_name *names)
{
    size_t n = 0;
    uint32_t named = 0;
    out[0] = '\0';
    for (const feature_name *f = names; f->name; f++) {
        if (!(bits & f->bit))
            continue;
        named |= f->bit;
        int w = snprintf(out + n, outlen - n, "%s%s", n ? ", " : " (", f->name);
        if (w < 0 || (size_t)w >= outlen - n)
            return;
        n += (size_t)w;
    }
    if (bits & ~named) {
        int w = snprintf(out + n, outlen - n, "%sunknown bits", n ? ", " : " (");
        if (w < 0 || (size_t)w >= outlen - n)
            return;
        n += (size_t)w;
    }
    if (n)
        snprintf(out + n, outlen - n, ")");
}

static bool key_id_empty(const vms_header_info *h)
{
    for (size_t i = 0; i < VMS_KEY_ID_BYTES; i++)
        if (h->key_id[i])
            return false;
    return h->auth_mode == VMS_AUTH_NONE;
}

void report_header_text(FILE *out, const vms_header_info *h, bool verified)
{
    char buf[2 * VMS_DIGEST_BYTES + 1]; /* fits BLOB_PREVIEW bytes in hex too */
    char req[96], opt[96];
    if (verified)
        fprintf(out, "header:\n");
    else
        fprintf(out, "header (NOT verified: read from the stream, not authenticated):\n");
    fprintf(out, "  format version:  %u.%u\n", h->format_major, h->format_minor);
    fprintf(out, "  header length:   %u bytes\n", h->header_length);
    features_text(req, sizeof req, h->features_required, required_names);
    features_text(opt, sizeof opt, h->features_optional, optional_names);
    fprintf(out, "  features:        required 0x%08x%s, optional 0x%08x%s\n",
            h->features_required, req, h->features_optional, opt);
    fprintf(out, "  checksum:        %s (%u)\n", checksum_name(h->checksum_alg),
            h->checksum_alg);
    fprintf(out, "  auth mode:       %s (%u)\n", auth_name(h->auth_mode), h->auth_mode);
    fprintf(out, "  codec:           %s (%u)\n", codec_name(h->codec), h->codec);
    vendor_format(buf, sizeof buf, h->vendor_id);
    fprintf(out, "  vendor id:       %s\n", buf);
    hex_format(buf, h->stream_id, VMS_STREAM_ID_BYTES);
    fprintf(out, "  stream id:       %s\n", buf);
    if (key_id_empty(h)) {
        fprintf(out, "  key id:          -\n");
    } else {
        hex_format(buf, h->key_id, VMS_KEY_ID_BYTES);
        fprintf(out, "  key id:          %s\n", buf);
    }
    fprintf(out, "  max record:      %u bytes\n", h->max_record);
    size_t shown = h->version_blob && h->version_blob_len ? h->version_blob_len : 0;
    if (shown > BLOB_PREVIEW)
        shown = BLOB_PREVIEW;
    hex_format(buf, h->version_blob, shown);
    fprintf(out, "  version blob:    %u bytes%s%s%s\n", h->version_blob_len,
            shown ? ": " : "", buf, h->version_blob_len > shown && shown ? "..." : "");
    if (verified) {
        hex_format(buf, h->header_digest, VMS_DIGEST_BYTES);
        fprintf(out, "  header digest:   %s\n", buf);
    }
}

void report_header_json(json_writer *j, const char *key, const vms_header_info *h,
                        bool verified)
{
    char buf[64];
    json_object_begin(j, key);
    json_bool(j, "verified", verified);
    snprintf(buf, sizeof buf, "%u.%u", h->format_major, h->format_minor);
    json_string(j, "format_version", buf);
    json_u64(j, "format_major", h->format_major);
    json_u64(j, "format_minor", h->format_minor);
    json_u64(j, "header_length", h->header_length);
    json_u64(j, "features_required", h->features_required);
    json_u64(j, "features_optional", h->features_optional);
    json_u64(j, "checksum_alg", h->checksum_alg);
    json_string(j, "checksum", checksum_name(h->checksum_alg));
    json_u64(j, "auth_mode_id", h->auth_mode);
    json_string(j, "auth_mode", auth_name(h->auth_mode));
    json_u64(j, "codec_id", h->codec);
    json_string(j, "codec", codec_name(h->codec));
    json_u64(j, "vendor_id", h->vendor_id);
    vendor_format(buf, sizeof buf, h->vendor_id);
    json_string(j, "vendor", buf);
    json_hex(j, "stream_id", h->stream_id, VMS_STREAM_ID_BYTES);
    if (key_id_empty(h))
        json_null(j, "key_id");
    else
        json_hex(j, "key_id", h->key_id, VMS_KEY_ID_BYTES);
    json_u64(j, "max_record", h->max_record);
    json_u64(j, "version_blob_length", h->version_blob_len);
    json_hex(j, "version_blob", h->version_blob,
             h->version_blob ? h->version_blob_len : 0);
    if (verified)
        json_hex(j, "header_digest", h->header_digest, VMS_DIGEST_BYTES);
    else
        json_null(j, "header_digest");
    json_object_end(j);
}

void report_summary_text(FILE *out, const vms_stream_summary *s)
{
    char buf[2 * VMS_DIGEST_BYTES + 1];
    hex_format(buf, s->chain_digest, VMS_DIGEST_BYTES);
    fprintf(out, "end:\n");
    fprintf(out, "  records:         %llu\n", (unsigned long long)s->records);
    fprintf(out, "  raw bytes:       %llu\n", (unsigned long long)s->raw_bytes);
    fprintf(out, "  stream bytes:    %llu\n", (unsigned long long)s->stream_bytes);
    fprintf(out, "  chain digest:    %s\n", buf);
}

void report_summary_json(json_writer *j, const char *key, const vms_stream_summary *s)
{
    json_object_begin(j, key);
    json_u64(j, "records", s->records);
    json_u64(j, "raw_bytes", s->raw_bytes);
    json_u64(j, "stream_bytes", s->stream_bytes);
    json_hex(j, "chain_digest", s->chain_digest, VMS_DIGEST_BYTES);
    json_object_end(j);
}

void report_work_json(json_writer *j, const char *key, const vms_decoder_stats *st)
{
    json_object_begin(j, key);
    json_u64(j, "batches", st->batches);
    json_u64(j, "hash_calls", st->hash_calls);
    json_u64(j, "spread_batches", st->spread_batches);
    json_u64(j, "bodies", st->bodies);
    json_u64(j, "bodies_in_place", st->bodies_in_place);
    json_u64(j, "assembled_bytes", st->assembled_bytes);
    json_u64(j, "parked_bytes", st->parked_bytes);
    json_u64(j, "shared_copies", st->shared_copies);
    json_u64(j, "held_bytes", st->held_bytes);
    json_u64(j, "expanded_bytes", st->expanded_bytes);
    json_object_end(j);
}

void report_error_json(json_writer *j, const char *key, const vms_error_info *e)
{
    json_object_begin(j, key);
    json_string(j, "code", vms_strerror(e->code));
    json_i64(j, "status", e->code);
    json_string(j, "category", category_name(vms_error_category_of(e->code)));
    json_u64(j, "offset", e->offset);
    if (e->record != UINT64_MAX)
        json_u64(j, "record", e->record);
    else
        json_null(j, "record");
    json_string(j, "message", e->message ? e->message : "");
    json_object_end(j);
}

/* ---- descriptors ------------------------------------------------------------- */

void descriptor_vendor_text(char *out, size_t outlen, uint32_t vendor)
{
    if ((vendor & VMS_VENDOR_PCI_FLAG) && (vendor & 0x7fff0000u) == 0)
        snprintf(out, outlen, "pci:0x%04x", vendor & 0xffffu);
    else
        snprintf(out, outlen, "0x%08x", vendor);
}

/* The canonical text of d in a new buffer, or NULL. */
static char *descriptor_text(const vms_descriptor *d)
{
    size_t need = 0;
    if (vms_descriptor_format_text(d, NULL, 0, &need) != VMS_E_INVALID_ARG || need == 0)
        return NULL;
    char *buf = malloc(need);
    if (buf && vms_descriptor_format_text(d, buf, need, &need) != VMS_OK) {
        free(buf);
        buf = NULL;
    }
    return buf;
}

void report_descriptor_text(FILE *out, const vms_descriptor *d, bool verified)
{
    char *text = descriptor_text(d);
    if (verified)
        fprintf(out, "descriptor:\n");
    else
        fprintf(out, "descriptor (NOT verified: read from the stream, not authenticated):\n");
    if (!text) {
        fprintf(out, "  (cannot be formatted)\n");
        return;
    }
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        fprintf(out, "  %.*s\n", (int)n, line);
        line += n + (nl ? 1 : 0);
    }
    free(text);
}

static void version_text(char *out, size_t outlen, vms_device_version v)
{
    snprintf(out, outlen, "%lu.%lu.%lu", (unsigned long)v.major, (unsigned long)v.minor,
             (unsigned long)v.bugfix);
}

void report_descriptor_json(json_writer *j, const char *key, const vms_descriptor *d,
                            int verified)
{
    char buf[48];
    json_object_begin(j, key);
    if (verified >= 0)
        json_bool(j, "verified", verified != 0);
    descriptor_vendor_text(buf, sizeof buf, vms_descriptor_get_vendor_id(d));
    json_string(j, "vendor_id", buf);
    json_string(j, "device_api", vms_descriptor_get_device_api(d));
    json_string(j, "type", vms_descriptor_get_type(d));
    version_text(buf, sizeof buf, vms_descriptor_get_version(d));
    json_string(j, "version", buf);
    json_array_begin(j, "accept_types");
    for (size_t i = 0; i < vms_descriptor_accept_type_count(d); i++)
        json_string(j, NULL, vms_descriptor_get_accept_type(d, i));
    json_array_end(j);
    json_array_begin(j, "deny_versions");
    for (size_t i = 0; i < vms_descriptor_deny_version_count(d); i++) {
        vms_device_version v;
        if (vms_descriptor_get_deny_version(d, i, &v) != VMS_OK)
            break;
        version_text(buf, sizeof buf, v);
        json_string(j, NULL, buf);
    }
    json_array_end(j);
    json_array_begin(j, "fields");
    for (size_t i = 0; i < vms_descriptor_field_count(d); i++) {
        const char *name, *value;
        vms_field_rule rule;
        if (vms_descriptor_get_field(d, i, &name, &value, &rule) != VMS_OK)
            break;
        json_object_begin(j, NULL);
        json_string(j, "name", name);
        json_string(j, "value", value);
        json_string(j, "rule", vms_field_rule_name(rule));
        json_object_end(j);
    }
    json_array_end(j);
    char *text = descriptor_text(d);
    if (text)
        json_string(j, "text", text);
    else
        json_null(j, "text");
    free(text);
    json_object_end(j);
}
