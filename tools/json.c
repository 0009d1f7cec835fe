/* json.c - the streaming JSON writer (see json.h). */
#include "json.h"

#include <inttypes.h>
#include <string.h>

void json_init(json_writer *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
    for (int i = 0; i <= JSON_MAX_DEPTH; i++)
        j->first[i] = true;
}

static void indent(json_writer *j)
{
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++)
        fputs("  ", j->out);
}

static void put_escaped(json_writer *j, const char *s, size_t n);

/* Separator, newline/indent and "key": before a value. */
static void member(json_writer *j, const char *key)
{
    if (j->depth > 0) {
        if (!j->first[j->depth])
            fputc(',', j->out);
        j->first[j->depth] = false;
        indent(j);
    }
    if (key) {
        put_escaped(j, key, strlen(key));
        fputs(": ", j->out);
    }
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0; /* overlong, out of range, or a surrogate */
    return len;
}

static void put_escaped(json_writer *j, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    FILE *o = j->out;
    fputc('"', o);
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        switch (c) {
        case '"':
            fputs("\\\"", o);
            i++;
            continue;
        case '\\':
            fputs("\\\\", o);
            i++;
            continue;
        case '\n':
            fputs("\\n", o);
            i++;
            continue;
        case '\r':
            fputs("\\r", o);
            i++;
            continue;
        case '\t':
            fputs("\\t", o);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(o, "\\u%04x", c);
            i++;
            continue;
        }
        size_t len = utf8_seq(s + i, n - i);
        if (len == 0) {
            fputs("\\ufffd", o);
            i++;
            continue;
        }
        fwrite(s + i, 1, len, o);
        i += len;
    }
    fputc('"', o);
}

static void open_container(json_writer *j, const char *key, char c)
{
    member(j, key);
    fputc(c, j->out);
    if (j->depth < JSON_MAX_DEPTH)
        j->depth++;
    j->first[j->depth] = true;
}

static void close_container(json_writer *j, char c)
{
    bool empty = j->first[j->depth];
    if (j->depth > 0)
        j->depth--;
    if (!empty)
        indent(j);
    fputc(c, j->out);
}

void json_object_begin(json_writer *j, const char *key)
{
    open_container(j, key, '{');
}

void json_object_end(json_writer *j)
{
    close_container(j, '}');
}

void json_array_begin(json_writer *j, const char *key)
{
    open_container(j, key, '[');
}

void json_array_end(json_writer *j)
{
    close_container(j, ']');
}

void json_string_n(json_writer *j, const char *key, const char *s, size_t n)
{
    member(j, key);
    put_escaped(j, s, n);
}

void json_string(json_writer *j, const char *key, const char *s)
{
    if (!s) {
        json_null(j, key);
        return;
    }
    json_string_n(j, key, s, strlen(s));
}

void json_hex(json_writer *j, const char *key, const uint8_t *p, size_t n)
{
    member(j, key);
    fputc('"', j->out);
    for (size_t i = 0; i < n; i++)
        fprintf(j->out, "%02x", p[i]);
    fputc('"', j->out);
}

void json_u64(json_writer *j, const char *key, uint64_t v)
{
    member(j, key);
    fprintf(j->out, "%" PRIu64, v);
}

void json_i64(json_writer *j, const char *key, int64_t v)
{
    member(j, key);
    fprintf(j->out, "%" PRId64, v);
}

void json_bool(json_writer *j, const char *key, bool v)
{
    member(j, key);
    fputs(v ? "true" : "false", j->out);
}

void json_null(json_writer *j, const char *key)
{
    member(j, key);
    fputs("null", j->out);
}

void json_finish(json_writer *j)
{
    fputc('\n', j->out);
    fflush(j->out);
}
