/* json.h - a tiny streaming JSON writer (output only, indented).
 *
 * Containers nest up to JSON_MAX_DEPTH.  Inside an object every value call
 * takes a key; inside an array (or at top level) the key must be NULL.
 * Strings are escaped; bytes that are not valid UTF-8 become U+FFFD, so the
 * output is always valid JSON. */
#ifndef VMSTREAM_JSON_H
#define VMSTREAM_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

typedef struct json_writer {
    FILE *out;
    int depth;
    bool first[JSON_MAX_DEPTH + 1]; /* no member written yet at this level */
} json_writer;

void json_init(json_writer *j, FILE *out);
void json_object_begin(json_writer *j, const char *key);
void json_object_end(json_writer *j);
void json_array_begin(json_writer *j, const char *key);
void json_array_end(json_writer *j);
void json_string(json_writer *j, const char *key, const char *s);
/* A string of n bytes (may contain NUL). */
void json_string_n(json_writer *j, const char *key, const char *s, size_t n);
/* Lower-case hex string of n bytes. */
void json_hex(json_writer *j, const char *key, const uint8_t *p, size_t n);
void json_u64(json_writer *j, const char *key, uint64_t v);
void json_i64(json_writer *j, const char *key, int64_t v);
void json_bool(json_writer *j, const char *key, bool v);
void json_null(json_writer *j, const char *key);
/* Ends the document with a newline (call at depth 0). */
void json_finish(json_writer *j);

#endif
