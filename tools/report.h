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
/* {"code": "VMS_E_...", "status": N, "category": ..., "offset": N,
 *  "record": N|null, "message": ...} */
void report_error_json(json_writer *j, const char *key, const vms_error_info *e);

#endif
