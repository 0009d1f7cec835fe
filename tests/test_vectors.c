/* test_vectors.c - the golden vectors (tests/vectors, see its README) must
 * stay decodable: every good vector decodes to exactly its .expect lines,
 * fed whole and one byte at a time; every bad vector fails with exactly its
 * status. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b2many.h"
#include "testutil.h"

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    cr_assert_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

static void hex(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = 0;
}

typedef struct vec_ctx {
    char *out;
    size_t len, cap;
} vec_ctx;

static void add(vec_ctx *v, const char *line)
{
    size_t n = strlen(line);
    if (v->len + n + 2 > v->cap) {
        v->cap = (v->len + n + 2) * 2;
        v->out = realloc(v->out, v->cap);
    }
    memcpy(v->out + v->len, line, n);
    v->len += n;
    v->out[v->len++] = '\n';
    v->out[v->len] = 0;
}

static int v_header(void *ctx, const vms_header_info *h)
{
    char line[512], blob[2 * 200 + 1] = "-";
    if (h->version_blob_len && h->version_blob_len <= 200)
        hex(blob, h->version_blob, h->version_blob_len);
    snprintf(line, sizeof line, "header %u %u 0x%08x %u %u %s", h->format_major,
             h->format_minor, h->vendor_id, h->codec, h->auth_mode, blob);
    add(ctx, line);
    return 0;
}

static int v_record(void *ctx, const vms_record *r)
{
    uint8_t d[32];
    char dh[65], line[256];
    vms_b2_state s;
    vms_b2_init(&s, 32, NULL, 0);
    vms_b2_update(&s, r->data, r->len);
    vms_b2_final(&s, d);
    hex(dh, d, 32);
    snprintf(line, sizeof line, "record %llu %u %llu %u %zu %s",
             (unsigned long long)r->index, r->section, (unsigned long long)r->offset,
             r->phase, r->len, dh);
    add(ctx, line);
    return 0;
}

static int v_commit(void *ctx, const vms_stream_summary *s)
{
    char ch[65], line[256];
    hex(ch, s->chain_digest, 32);
    snprintf(line, sizeof line, "end %llu %llu %llu %s", (unsigned long long)s->records,
             (unsigned long long)s->raw_bytes, (unsigned long long)s->stream_bytes, ch);
    add(ctx, line);
    return 0;
}

/* Configures the key named by a vector ("mac.key" or "signed.pub"). */
static void set_key(vms_decoder *d, const char *dir, const char *keyfile)
{
    char path[1024];
    size_t n, idn;
    snprintf(path, sizeof path, "%s/%s", dir, keyfile);
    uint8_t *key = slurp(path, &n);
    if (strstr(keyfile, ".pub")) {
        cr_assert_eq(n, 32);
        cr_assert_eq(vms_decoder_add_ed25519_key(d, key), VMS_OK);
    } else {
        snprintf(path, sizeof path, "%s/%.*s.keyid", dir,
                 (int)(strlen(keyfile) - 4), keyfile);
        uint8_t *id = slurp(path, &idn);
        cr_assert_eq(idn, 8);
        cr_assert_eq(vms_decoder_set_mac_key(d, key, n, id), VMS_OK);
        free(id);
    }
    free(key);
}

static int run(const char *dir, const char *name, const char *keyfile, size_t step,
               char **text)
{
    char path[1024];
    size_t len;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    uint8_t *data = slurp(path, &len);
    vec_ctx v = {0};
    add(&v, "#");
    vms_decoder_callbacks cb = {v_header, v_record, v_commit, NULL, &v};
    vms_decoder *d;
    cr_assert_eq(vms_decoder_new(&d, NULL, &cb, NULL), VMS_OK);
    if (keyfile)
        set_key(d, dir, keyfile);
    int rc = VMS_OK;
    for (size_t pos = 0; pos < len && rc >= 0; pos += step)
        rc = vms_decoder_feed(d, data + pos, len - pos < step ? len - pos : step, NULL);
    if (rc >= 0)
        rc = vms_decoder_finish(d);
    vms_decoder_free(d);
    free(data);
    *text = v.out;
    return rc;
}

/* The .expect file without comments and blank lines. */
static char *expected(const char *path)
{
    size_t n;
    char *raw = (char *)slurp(path, &n);
    vec_ctx v = {0};
    add(&v, "#");
    for (char *line = strtok(raw, "\n"); line; line = strtok(NULL, "\n"))
        if (line[0] != '#' && line[0] != 0)
            add(&v, line);
    free(raw);
    return v.out;
}

Test(vectors, good_vectors_decode_exactly)
{
    const char *dir = VMS_TEST_VECTORS;
    DIR *dp = opendir(dir);
    cr_assert_not_null(dp);
    struct dirent *de;
    int seen = 0;
    while ((de = readdir(dp))) {
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 4, ".vms") != 0)
            continue;
        char exp_path[1024];
        snprintf(exp_path, sizeof exp_path, "%s/%.*s.expect", dir, (int)(nl - 4),
                 de->d_name);
        if (strncmp(de->d_name, "zstd", 4) == 0 && !vms_codec_available(VMS_CODEC_ZSTD))
            continue;
        const char *key = strncmp(de->d_name, "mac", 3) == 0      ? "mac.key"
                          : strncmp(de->d_name, "signed", 6) == 0 ? "signed.pub"
                                                                  : NULL;
        char *want = expected(exp_path);
        const size_t steps[] = {SIZE_MAX, 1, 61};
        for (int k = 0; k < 3; k++) {
            char *got;
            int rc = run(dir, de->d_name, key, steps[k], &got);
            cr_assert_eq(rc, VMS_END, "%s: %s", de->d_name, vms_strerror(rc));
            cr_assert_str_eq(got, want, "%s (step %zu) decodes differently", de->d_name,
                             steps[k]);
            free(got);
        }
        free(want);
        seen++;
    }
    closedir(dp);
    cr_assert_geq(seen, 10, "only %d good vectors found", seen);
}

Test(vectors, bad_vectors_fail_with_their_status)
{
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/bad", VMS_TEST_VECTORS);
    snprintf(path, sizeof path, "%s/EXPECTED", dir);
    size_t n;
    char *list = (char *)slurp(path, &n);
    int seen = 0;
    char *save = NULL;
    for (char *line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#' || line[0] == 0)
            continue;
        char file[256], status[64], keyarg[256] = "";
        int f = sscanf(line, "%255s %63s %255s", file, status, keyarg);
        cr_assert_geq(f, 2, "bad line: %s", line);
        if (strncmp(file, "zstd", 4) == 0 && !vms_codec_available(VMS_CODEC_ZSTD))
            continue;
        const char *key = strncmp(keyarg, "key=", 4) == 0 ? keyarg + 4 : NULL;
        for (int k = 0; k < 2; k++) {
            char *got;
            int rc = run(dir, file, key, k ? 7 : SIZE_MAX, &got);
            cr_assert_str_eq(vms_strerror(rc), status, "%s: got %s, expected %s", file,
                             vms_strerror(rc), status);
            cr_assert(strstr(got, "\nend ") == NULL, "%s committed", file);
            free(got);
        }
        seen++;
    }
    free(list);
    cr_assert_geq(seen, 50, "only %d bad vectors", seen);
}
