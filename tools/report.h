/* report.h - text and JSON renderings of headers, summaries and errors,
 * shared by inspect and verify. */
#ifndef VMSTREAM_REPORT_H
#define VMSTREAM_REPORT_H

#include "cli.h"
#include "json.h"

/* Header lines, indented by two spaces.  verified false adds a warning that
 * the fields were read from the stream but not authenticated. */
void report_header_text(FILE *out, const vms_header_info *h, bool verified);
void report_header_json(json_writer *j, const char *key, const vms_header_info *h,
                        bool verified);
void report_summary_text(FILE *out, const vms_stream_summary *s);
void report_summary_json(json_writer *j, const char *key, const vms_stream_summary *s);
/* A decoder's work: {"batches": N, "hash_calls": N, "spread_batches": N,
 *  "bodies": N, "bodies_in_place": N, "assembled_bytes": N, "parked_bytes": N,
 *  "shared_copies": N, "held_bytes": N, "expanded_bytes": N}
 *  (vms_decoder_get_stats) */
void report_work_json(json_writer *j, const char *key, const vms_decoder_stats *st);
/* {"code": "VMS_E_...", "status": N, "category": ..., "offset": N,
 *  "record": N|null, "message": ...} */
void report_error_json(json_writer *j, const char *key, const vms_error_info *e);

/* A device descriptor: "descriptor:" then its canonical text form, each line
 * indented by two spaces; verified false marks it as read from an
 * unauthenticated header. */
void report_descriptor_text(FILE *out, const vms_descriptor *d, bool verified);
/* {"verified": B, "vendor_id": "pci:0x10de", "device_api": S, "type": S,
 *  "version": "1.2.0", "accept_types": [S...], "deny_versions": ["1.1.3"...],
 *  "fields": [{"name": S, "value": S, "rule": "equal"|"superset"|"ge"}...],
 *  "text": canonical text}.  verified < 0 leaves that member out. */
void report_descriptor_json(json_writer *j, const char *key, const vms_descriptor *d,
                            int verified);
/* The vendor id as in the descriptor text form: "pci:0xHHHH" or "0xHHHHHHHH". */
void descriptor_vendor_text(char *out, size_t outlen, uint32_t vendor);

#endif
