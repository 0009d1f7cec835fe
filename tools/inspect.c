/* inspect.c - `vmstream inspect`: show a stream's header and records.
 *
 * The stream is verified as it is shown: it goes through the decoder, and a
 * record line is printed only once the decoder delivered that record.  A
 * record's wire length and compressed flag are not part of vms_record, so a
 * small "shadow" parser follows the framing alongside the decoder and keeps
 * the headers of records the decoder has not reached yet.  It also keeps
 * the raw fixed header, so the header can still be shown (marked as not
 * verified) when the decoder refuses it, e.g. for a MAC stream without its
 * key. */
#include "cli.h"
#include "report.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h" /* field offsets (doc/FORMAT.md) */

/* Little-endian field readers. */
static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint64_t pad8(uint64_t n)
{
    return (n + 7u) & ~(uint64_t)7u;
}

const char cli_help_inspect[] =
    "Usage: vmstream inspect [OPTIONS] IN\n"
    "\n"
    "Show the header of the vmstream IN (format version, header length,\n"
    "features, checksum algorithm, auth mode, codec, vendor id, stream id,\n"
    "key id, max record size, device-version blob), the device descriptor\n"
    "when the header carries one (in text form), one line per record\n"
    "(index, stream offset, section, offset, phase, wire and raw lengths,\n"
    "compressed or stored; for a signed stream also its checkpoints) and the\n"
    "END record summary.  The stream is verified as it is shown; a record is\n"
    "listed only after it verified (in a signed stream: after the checkpoint\n"
    "that covers it verified).  If the header cannot be verified (e.g. a MAC\n"
    "stream and no --mac-key), its fields are shown marked as not verified,\n"
    "followed by the error.\n"
    "\n"
    "Options:\n"
    "      --json              print one JSON object instead: {input, header,\n"
    "                          descriptor, records: [...], end, error, result};\n"
    "                          descriptor is null or {verified, vendor_id,\n"
    "                          device_api, type, version, accept_types,\n"
    "                          deny_versions, fields: [{name, value, rule}],\n"
    "                          text}\n"
    CLI_DECODER_HELP
    "  -h, --help              show this help\n"
    "\n"
    "IN may be '-' for stdin.\n"
    "\n"
    "Exit status: 0 verified, 1 stream rejected, 2 usage or I/O error.\n";

enum { OPT_JSON = 0x100 };

static const struct option inspect_options[] = {
    {"json", no_argument, NULL, OPT_JSON},
    CLI_DECODER_OPTIONS,
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* The decoder is fed in pieces of this size, which bounds the number of
 * record headers the shadow parser holds ahead of the decoder. */
#define INSPECT_PIECE ((size_t)64 << 10)

/* ---- shadow parser ------------------------------------------------------------- */

typedef struct rec_meta {
    uint64_t start; /* stream offset of the record header */
    uint64_t seq;
    uint16_t type, flags;
    uint32_t section, phase, wire_len, raw_len;
    uint64_t offset;
    bool has_cp;              /* a checkpoint whose payload was read */
    uint64_t cp_records, cp_raw; /* what it covers */
} rec_meta;

typedef struct shadow {
    uint64_t pos;                 /* stream bytes seen */
    uint8_t fixed[VMS_H_FIXED];   /* raw fixed header */
    uint8_t *blob;                /* raw version blob (up to VMS_MAX_BLOB_BYTES) */
    uint32_t blob_len;            /* bytes of it to capture */
    bool framing;                 /* record positions known */
    uint64_t next;                /* offset of the next record header */
    uint8_t rh[VMS_R_HDR];
    size_t rh_fill;
    rec_meta *q;                  /* FIFO of parsed record headers */
    size_t head, len, cap;
    bool oom;
    bool cp_active;               /* reading a checkpoint's payload */
    rec_meta cp_meta;             /* its header, queued once read */
    uint8_t cp[VMS_CHECKPOINT_PAYLOAD];
    size_t cp_fill;
} shadow;

static uint64_t rec_end(const rec_meta *m)
{
    return m->start + VMS_R_HDR + pad8(m->wire_len);
}

static void shadow_push(shadow *s, const rec_meta *m)
{
    if (s->head + s->len == s->cap) {
        if (s->head > 0) {
            memmove(s->q, s->q + s->head, s->len * sizeof *s->q);
            s->head = 0;
        } else {
            size_t cap = s->cap ? 2 * s->cap : 256;
            rec_meta *q = realloc(s->q, cap * sizeof *q);
            if (!q) {
                s->oom = true;
                return;
            }
            s->q = q;
            s->cap = cap;
        }
    }
    s->q[s->head + s->len++] = *m;
}

static const rec_meta *shadow_front(const shadow *s)
{
    return s->len ? &s->q[s->head] : NULL;
}

static void shadow_pop(shadow *s)
{
    s->head++;
    if (--s->len == 0)
        s->head = 0;
}

/* Copies the part of [buf_start, buf_start + n) that falls in
 * [dst_start, dst_start + dst_len) into dst. */
static void copy_overlap(uint8_t *dst, uint64_t dst_start, size_t dst_len,
                         const uint8_t *buf, uint64_t buf_start, size_t n)
{
    uint64_t lo = dst_start > buf_start ? dst_start : buf_start;
    uint64_t hi_dst = dst_start + dst_len, hi_buf = buf_start + n;
    uint64_t hi = hi_dst < hi_buf ? hi_dst : hi_buf;
    if (lo < hi)
        memcpy(dst + (lo - dst_start), buf + (lo - buf_start), (size_t)(hi - lo));
}

/* Sees the next n stream bytes. */
static void shadow_feed(shadow *s, const uint8_t *buf, size_t n)
{
    const uint64_t start = s->pos, end = start + n;
    if (start < VMS_H_FIXED) {
        copy_overlap(s->fixed, 0, VMS_H_FIXED, buf, start, n);
        if (end >= VMS_H_FIXED) {
            uint32_t hlen = le32(s->fixed + VMS_H_LENGTH);
            uint32_t blen = le32(s->fixed + VMS_H_BLOB_LEN);
            s->blob_len = blen < VMS_MAX_BLOB_BYTES ? blen : VMS_MAX_BLOB_BYTES;
            if (s->blob_len) {
                s->blob = calloc(1, s->blob_len);
                if (!s->blob)
                    s->blob_len = 0;
            }
            if (hlen >= VMS_HEADER_MIN) {
                s->framing = true;
                s->next = hlen;
            }
        }
    }
    if (s->blob && end > VMS_H_FIXED)
        copy_overlap(s->blob, VMS_H_FIXED, s->blob_len, buf, start, n);
    while (s->framing && !s->oom) {
        if (s->cp_active) {
            /* The covered counts of a checkpoint, shown once it verified. */
            uint64_t cwant = s->cp_meta.start + VMS_R_HDR + s->cp_fill;
            if (cwant < start || cwant >= end)
                break;
            size_t coff = (size_t)(cwant - start);
            size_t ctake = VMS_CHECKPOINT_PAYLOAD - s->cp_fill;
            if (ctake > n - coff)
                ctake = n - coff;
            memcpy(s->cp + s->cp_fill, buf + coff, ctake);
            s->cp_fill += ctake;
            if (s->cp_fill < VMS_CHECKPOINT_PAYLOAD)
                break;
            s->cp_meta.has_cp = true;
            s->cp_meta.cp_records = le64(s->cp + VMS_C_RECORDS);
            s->cp_meta.cp_raw = le64(s->cp + VMS_C_RAW_BYTES);
            shadow_push(s, &s->cp_meta);
            s->cp_active = false;
            continue;
        }
        uint64_t want = s->next + s->rh_fill; /* next byte of the record header */
        if (want < start || want >= end)
            break;
        size_t off = (size_t)(want - start);
        size_t take = VMS_R_HDR - s->rh_fill;
        if (take > n - off)
            take = n - off;
        memcpy(s->rh + s->rh_fill, buf + off, take);
        s->rh_fill += take;
        if (s->rh_fill < VMS_R_HDR)
            break;
        rec_meta m = {
            .start = s->next,
            .seq = le64(s->rh + VMS_R_SEQ),
            .type = le16(s->rh + VMS_R_TYPE),
            .flags = le16(s->rh + VMS_R_FLAGS),
            .section = le32(s->rh + VMS_R_SECTION),
            .phase = le32(s->rh + VMS_R_PHASE),
            .wire_len = le32(s->rh + VMS_R_WIRE_LEN),
            .raw_len = le32(s->rh + VMS_R_RAW_LEN),
            .offset = le64(s->rh + VMS_R_OFFSET),
        };
        s->next = rec_end(&m);
        s->rh_fill = 0;
        if (m.type == VMS_REC_CHECKPOINT && m.wire_len == VMS_CHECKPOINT_PAYLOAD &&
            m.raw_len == VMS_CHECKPOINT_PAYLOAD) {
            s->cp_meta = m;
            s->cp_active = true;
            s->cp_fill = 0;
            continue;
        }
        shadow_push(s, &m);
    }
    s->pos = end;
}

/* The header fields as read from the stream, not verified. */
static bool shadow_header(const shadow *s, vms_header_info *h)
{
    if (s->pos < VMS_H_FIXED || memcmp(s->fixed, VMS_MAGIC, VMS_MAGIC_LEN) != 0)
        return false; /* too short, or not a vmstream at all */
    const uint8_t *p = s->fixed;
    memset(h, 0, sizeof *h);
    h->format_major = le16(p + VMS_H_MAJOR);
    h->format_minor = le16(p + VMS_H_MINOR);
    h->header_length = le32(p + VMS_H_LENGTH);
    h->features_required = le32(p + VMS_H_FEAT_REQ);
    h->features_optional = le32(p + VMS_H_FEAT_OPT);
    h->checksum_alg = p[VMS_H_CSUM_ALG];
    h->auth_mode = p[VMS_H_AUTH];
    h->codec = p[VMS_H_CODEC];
    h->vendor_id = le32(p + VMS_H_VENDOR);
    memcpy(h->stream_id, p + VMS_H_STREAM_ID, VMS_STREAM_ID_BYTES);
    memcpy(h->key_id, p + VMS_H_KEY_ID, VMS_KEY_ID_BYTES);
    h->max_record = le32(p + VMS_H_MAX_RECORD);
    h->version_blob_len = le32(p + VMS_H_BLOB_LEN);
    /* Only the bytes actually seen are shown. */
    uint64_t seen = s->pos - VMS_H_FIXED;
    uint32_t have = seen < s->blob_len ? (uint32_t)seen : s->blob_len;
    h->version_blob = s->blob;
    if (have < h->version_blob_len)
        h->version_blob_len = have; /* truncated view */
    return true;
}

/* ---- output ------------------------------------------------------------------ */

typedef struct inspect_ctx {
    shadow sh;
    vms_decoder *dec;
    bool json;
    json_writer j;
    bool header_done;  /* header printed */
    bool descriptor_done; /* descriptor printed (or null in JSON) */
    bool records_open; /* records list begun */
    uint64_t shown;    /* records printed */
} inspect_ctx;

static void begin_records(inspect_ctx *c)
{
    if (c->records_open)
        return;
    c->records_open = true;
    if (c->json)
        json_array_begin(&c->j, "records");
    else
        printf("records:\n");
}

static void end_records(inspect_ctx *c)
{
    begin_records(c);
    if (c->json)
        json_array_end(&c->j);
    else if (c->shown == 0)
        printf("  (none)\n");
}

static void print_header(inspect_ctx *c, const vms_header_info *h, bool verified)
{
    c->header_done = true;
    if (c->json)
        report_header_json(&c->j, "header", h, verified);
    else
        report_header_text(stdout, h, verified);
}

/* A record that carries no state: a signed checkpoint, or an optional record
 * of an unknown type that the decoder skipped. */
static void print_other(inspect_ctx *c, const rec_meta *m)
{
    bool checkpoint = m->type == VMS_REC_CHECKPOINT;
    begin_records(c);
    c->shown++;
    if (c->json) {
        json_object_begin(&c->j, NULL);
        json_u64(&c->j, "index", m->seq);
        json_u64(&c->j, "stream_offset", m->start);
        json_u64(&c->j, "type", m->type);
        json_string(&c->j, "kind", checkpoint ? "checkpoint" : "skipped");
        json_u64(&c->j, "wire_length", m->wire_len);
        if (checkpoint && m->has_cp) {
            json_u64(&c->j, "covers_records", m->cp_records);
            json_u64(&c->j, "covers_bytes", m->cp_raw);
            json_bool(&c->j, "signature_verified", true);
        }
        json_object_end(&c->j);
    } else if (!checkpoint) {
        printf("  record %llu at %llu: optional record of unknown type 0x%04x, "
               "wire %lu, skipped\n",
               (unsigned long long)m->seq, (unsigned long long)m->start, m->type,
               (unsigned long)m->wire_len);
    } else if (m->has_cp) {
        printf("  record %llu at %llu: checkpoint, wire %lu, covers %llu records and "
               "%llu state bytes, signature verified\n",
               (unsigned long long)m->seq, (unsigned long long)m->start,
               (unsigned long)m->wire_len, (unsigned long long)m->cp_records,
               (unsigned long long)m->cp_raw);
    } else {
        printf("  record %llu at %llu: checkpoint, wire %lu\n", (unsigned long long)m->seq,
               (unsigned long long)m->start, (unsigned long)m->wire_len);
    }
}

/* Pops and shows the records ahead of the queue that carry no state, while
 * they lie wholly before offset `before'. */
static void flush_other(inspect_ctx *c, uint64_t before)
{
    const rec_meta *m;
    while ((m = shadow_front(&c->sh)) && m->type != VMS_REC_STATE && rec_end(m) <= before) {
        if (m->type != VMS_REC_END)
            print_other(c, m);
        shadow_pop(&c->sh);
    }
}

static void print_record(inspect_ctx *c, const vms_record *r, const rec_meta *m)
{
    begin_records(c);
    c->shown++;
    const char *name = section_name(r->section);
    bool stop = r->phase == VMS_PHASE_STOP_COPY;
    bool compressed = m && (m->flags & VMS_RF_COMPRESSED);
#ifdef VMS_RF_PAGEMAP
    bool page_map = m && (m->flags & VMS_RF_PAGEMAP);
#else
    bool page_map = false;
#endif
    if (c->json) {
        json_object_begin(&c->j, NULL);
        json_u64(&c->j, "index", r->index);
        json_u64(&c->j, "stream_offset", r->stream_offset);
        json_u64(&c->j, "section", r->section);
        json_string(&c->j, "section_name", name);
        json_u64(&c->j, "offset", r->offset);
        json_u64(&c->j, "phase", r->phase);
        json_bool(&c->j, "stop_copy", stop);
        if (m)
            json_u64(&c->j, "wire_length", m->wire_len);
        else
            json_null(&c->j, "wire_length");
        json_u64(&c->j, "raw_length", r->len);
        json_bool(&c->j, "compressed", compressed);
        json_bool(&c->j, "page_map", page_map);
        json_object_end(&c->j);
        return;
    }
    char sect[48], phase[24], wire[24];
    if (name)
        snprintf(sect, sizeof sect, "%lu (%s)", (unsigned long)r->section, name);
    else
        snprintf(sect, sizeof sect, "%lu", (unsigned long)r->section);
    if (stop)
        snprintf(phase, sizeof phase, "stop-copy");
    else
        snprintf(phase, sizeof phase, "%lu", (unsigned long)r->phase);
    if (m)
        snprintf(wire, sizeof wire, "%lu", (unsigned long)m->wire_len);
    else
        snprintf(wire, sizeof wire, "?");
    printf("  record %llu at %llu: section %s, offset %llu, phase %s, wire %s, "
           "raw %zu, %s%s\n",
           (unsigned long long)r->index, (unsigned long long)r->stream_offset, sect,
           (unsigned long long)r->offset, phase, wire, r->len,
           page_map ? "page map, " : "", compressed ? "compressed" : "stored");
}

static void print_descriptor(inspect_ctx *c, const vms_descriptor *d, bool verified)
{
    c->descriptor_done = true;
    if (!d) {
        if (c->json)
            json_null(&c->j, "descriptor");
        return;
    }
    if (c->json)
        report_descriptor_json(&c->j, "descriptor", d, verified);
    else
        report_descriptor_text(stdout, d, verified);
}

static int on_header(void *vctx, const vms_header_info *h)
{
    inspect_ctx *c = vctx;
    print_header(c, h, true);
    /* The decoder decoded and checked the descriptor before this call. */
    print_descriptor(c, vms_decoder_descriptor(c->dec), true);
    return 0;
}

/* The descriptor of a header the decoder did not verify, decoded from the
 * raw blob when the header declares one and all of it was seen. */
static void print_unverified_descriptor(inspect_ctx *c, const vms_header_info *h)
{
    vms_descriptor *d = NULL;
    uint32_t declared = le32(c->sh.fixed + VMS_H_BLOB_LEN);
    if ((h->features_optional & VMS_FEAT_DESCRIPTOR) && h->version_blob &&
        h->version_blob_len == declared && declared > 0) {
        if (vms_descriptor_decode(&d, h->version_blob, declared, NULL, NULL) != VMS_OK)
            d = NULL;
    }
    print_descriptor(c, d, false);
    vms_descriptor_free(d);
}

static int on_record(void *vctx, const vms_record *r)
{
    inspect_ctx *c = vctx;
    shadow *s = &c->sh;
    flush_other(c, r->stream_offset);
    const rec_meta *m = shadow_front(s);
    if (m && m->start == r->stream_offset) {
        rec_meta copy = *m;
        shadow_pop(s);
        print_record(c, r, &copy);
    } else {
        print_record(c, r, NULL); /* framing lost: should not happen */
    }
    return 0;
}

/* Piece hooks for decoder_run. */
static int before_feed(void *vctx, const uint8_t *buf, size_t len)
{
    inspect_ctx *c = vctx;
    shadow_feed(&c->sh, buf, len);
    return 0;
}

static int after_feed(void *vctx, const uint8_t *buf, size_t len)
{
    inspect_ctx *c = vctx;
    (void)buf;
    (void)len;
    /* Stateless records the decoder has wholly consumed: show them now. */
    if (vms_decoder_error(c->dec)->code == VMS_OK)
        flush_other(c, vms_decoder_offset(c->dec));
    return 0;
}

int cmd_inspect(int argc, char **argv)
{
    cli_decode_opts opts;
    decode_opts_init(&opts);
    bool json = false;
    int opt, r;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":h", inspect_options, NULL)) != -1) {
        if ((r = decode_opts_parse(&opts, opt, optarg)) >= 0) {
            if (r != 0)
                return r;
            continue;
        }
        switch (opt) {
        case OPT_JSON:
            json = true;
            break;
        case 'h':
            return cli_print_help(cli_help_inspect);
        default:
            return cli_bad_option(opt, argc, argv, inspect_options);
        }
    }
    const char *in_path;
    if ((r = cli_one_operand(argc, argv, "input stream IN", &in_path)) != EXIT_OK)
        return r;
    if (decode_opts_check_stdin(&opts, in_path) != 0)
        return EXIT_USAGE;

    cli_input in;
    if (input_open(&in, in_path) != EXIT_OK)
        return EXIT_USAGE;
    inspect_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        input_close(&in);
        cli_error("out of memory");
        return EXIT_USAGE;
    }
    c->json = json;
    vms_decoder_callbacks cb = {on_header, on_record, NULL, NULL, c};
    int status = decoder_setup(&c->dec, &cb, &opts);
    if (status != EXIT_OK) {
        free(c);
        input_close(&in);
        decode_opts_free(&opts);
        return status;
    }
    if (json) {
        json_init(&c->j, stdout);
        json_object_begin(&c->j, NULL);
        json_string(&c->j, "input", in.name);
    } else {
        printf("input: %s\n", in.name);
    }

    int rc = decoder_run(c->dec, &in, NULL, INSPECT_PIECE, before_feed, after_feed, c);
    if (c->sh.oom && rc >= 0) {
        cli_error("out of memory");
        rc = CLI_READ_FAILED;
    }
    const vms_error_info *err = vms_decoder_error(c->dec);
    vms_error_info io = {VMS_E_IO, vms_decoder_offset(c->dec), UINT64_MAX,
                         "reading the input failed"};
    if (rc == CLI_READ_FAILED)
        err = &io;

    if (!c->header_done) {
        vms_header_info h;
        if (shadow_header(&c->sh, &h)) {
            print_header(c, &h, false);
            print_unverified_descriptor(c, &h);
        } else if (json) {
            json_null(&c->j, "header");
        } else if (c->sh.pos < VMS_H_FIXED) {
            printf("header: (incomplete: %llu bytes)\n", (unsigned long long)c->sh.pos);
        } else {
            printf("header: (not a vmstream: bad magic)\n");
        }
    }
    if (!c->descriptor_done)
        print_descriptor(c, NULL, false);
    /* Records without state that verified before the error. */
    if (rc != VMS_END && rc != CLI_READ_FAILED && err->code != VMS_OK)
        flush_other(c, err->offset);
    end_records(c);
    const vms_stream_summary *sum = rc == VMS_END ? vms_decoder_summary(c->dec) : NULL;
    status = rc == VMS_END ? EXIT_OK : rc == CLI_READ_FAILED ? EXIT_USAGE
                                                             : exit_status_of(rc);
    const char *result = status == EXIT_OK ? "ok" : status == EXIT_REJECTED ? "rejected"
                                                                            : "error";
    if (json) {
        if (sum)
            report_summary_json(&c->j, "end", sum);
        else
            json_null(&c->j, "end");
        if (err->code != VMS_OK)
            report_error_json(&c->j, "error", err);
        else
            json_null(&c->j, "error");
        json_string(&c->j, "result", result);
        json_object_end(&c->j);
        json_finish(&c->j);
    } else {
        if (sum)
            report_summary_text(stdout, sum);
        else
            printf("end: (not reached)\n");
        if (err->code != VMS_OK) {
            char rec[40] = "";
            if (err->record != UINT64_MAX)
                snprintf(rec, sizeof rec, " (record %llu)", (unsigned long long)err->record);
            printf("error: %s at byte %llu%s: %s\n", vms_strerror(err->code),
                   (unsigned long long)err->offset, rec,
                   err->message && *err->message ? err->message : "(no detail)");
        }
        printf("result: %s\n", result);
    }
    fflush(stdout);
    if (rc != VMS_END && rc != CLI_READ_FAILED)
        report_decoder_rejection(c->dec, &opts);
    if (ferror(stdout) && status == EXIT_OK) {
        cli_error("cannot write to stdout");
        status = EXIT_USAGE;
    }
    vms_decoder_free(c->dec);
    free(c->sh.q);
    free(c->sh.blob);
    free(c);
    input_close(&in);
    decode_opts_free(&opts);
    return status;
}
