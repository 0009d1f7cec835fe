/* vmsbench.c - libvmstream throughput, scaling and memory benchmark (issue 10).
 *
 * One run measures, on the same in-memory buffers:
 *   limits   memcpy, a read pass, libb2 blake2b, OpenSSL BLAKE2b-512, the
 *            library's raw multi-record kernel (vms_b2_many, 8 messages per
 *            call) on every path the CPU has, raw zlib and zstd at the
 *            library's levels (and a few other levels, for the decision);
 *            and, in the paired group, the least the design can cost:
 *            raw zstd with the raw kernel over its frames, and the raw
 *            kernel followed by a copy (what a copying sink adds);
 *   library  encode and decode (verify + deliver to a no-op callback) of
 *            checksummed, zlib, zstd, MAC'd and Ed25519-signed streams over
 *            device-like state (50% random, 25% zero, 25% text 4 KiB pages,
 *            shuffled) and over all-random state;
 *   sweeps   record size (64K..4M) x threads (1, 2); write size and feed size
 *            (the batch depth the encoder and decoder actually get);
 *   memory   decoder peak memory for a 1 GiB and a 4 GiB stream, streamed
 *            from an encoder through an 8 MiB staging buffer into a decoder.
 * Every figure is the median of N repetitions (--reps, default 5) with its
 * min-max; GB/s = 1e9 bytes of raw state per second.  Every decode is
 * checked (VMS_END, delivered byte and record counts; one untimed decode per
 * stream kind also compares every delivered byte): a failure aborts the run
 * with exit status 1.
 *
 *   vmsbench [--size BYTES] [--reps N] [--json FILE] [--only LIST]
 *
 * BYTES takes K/M/G suffixes (powers of 1024), default 1G.  LIST is a comma
 * list of groups: limits,library,sweep,batch,levels,paired,memory (default all; the
 * library groups need the limits for their ratios, so they run them too). */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <blake2.h>
#include <zlib.h>
#ifdef BENCH_HAVE_ZSTD
#include <zstd.h>
#endif
#ifdef BENCH_HAVE_OPENSSL
#include <openssl/evp.h>
#endif

#include "b2many.h"

#ifndef BENCH_BUILDTYPE
#define BENCH_BUILDTYPE "unknown"
#endif
#ifndef BENCH_OPTIMIZATION
#define BENCH_OPTIMIZATION "?"
#endif

#define KIB ((size_t)1024)
#define MIB (KIB * KIB)
#define GIB (MIB * KIB)
#define FEED_PIECE (8 * MIB) /* decode input pieces, as a receiver reads them */
#define LANES 8              /* messages per vms_b2_many call in the kernel limit */
#define MAX_THREADS 2
/* Feed for 4 MiB records that gives the decoder 8 records per thread at 2
 * threads (plus one straddling record). */
#define BIG_FEED ((size_t)LANES * MAX_THREADS * 4 * MIB + 4 * MIB)

/* ---- failure ------------------------------------------------------------- */

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("vmsbench: FAILED: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

/* ---- time ---------------------------------------------------------------- */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ---- data ------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static void fill_random(uint8_t *p, size_t n, uint64_t *s)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t v = rng_next(s);
        memcpy(p + i, &v, 8);
    }
    for (; i < n; i++)
        p[i] = (uint8_t)rng_next(s);
}

/* A page of log-like text: a few templates, small changing numbers. */
static void fill_text(uint8_t *p, size_t n, uint64_t *s)
{
    size_t at = 0;
    char line[96];
    while (at < n) {
        uint64_t r = rng_next(s);
        unsigned a = (unsigned)(r >> 8) & 0xff, b = (unsigned)(r >> 16) & 0x3ff;
        int k;
        switch (r & 3) {
        case 0: k = snprintf(line, sizeof line, "ringdev: queue %u head %u tail %u status ok\n", a, b, a + b); break;
        case 1: k = snprintf(line, sizeof line, "ringdev: doorbell %u vector %u pending 0\n", a, b); break;
        case 2: k = snprintf(line, sizeof line, "ringdev: dma map iova 0x%x len %u dir to-device\n", a << 12, b); break;
        default: k = snprintf(line, sizeof line, "ringdev: completion %u for descriptor %u\n", b, a); break;
        }
        size_t len = (size_t)k < n - at ? (size_t)k : n - at;
        memcpy(p + at, line, len);
        at += len;
    }
}

/* 50% random, 25% zero, 25% text pages, shuffled (deterministic). */
static void fill_device_like(uint8_t *p, size_t n, uint64_t seed)
{
    size_t pages = n / VMS_PAGE;
    uint8_t *kind = xmalloc(pages);
    for (size_t i = 0; i < pages; i++)
        kind[i] = i < pages / 2 ? 0 : i < pages / 2 + pages / 4 ? 1 : 2;
    uint64_t s = seed;
    for (size_t i = pages; i > 1; i--) {
        size_t j = (size_t)(rng_next(&s) % i);
        uint8_t t = kind[i - 1];
        kind[i - 1] = kind[j];
        kind[j] = t;
    }
    for (size_t i = 0; i < pages; i++) {
        uint8_t *pg = p + i * VMS_PAGE;
        if (kind[i] == 0)
            fill_random(pg, VMS_PAGE, &s);
        else if (kind[i] == 1)
            memset(pg, 0, VMS_PAGE);
        else
            fill_text(pg, VMS_PAGE, &s);
    }
    free(kind);
}

/* ---- global state ------------------------------------------------------------ */

static size_t g_size = GIB;   /* bytes of each state buffer */
static int g_reps = 5;
static uint8_t *g_dev, *g_rnd; /* device-like and all-random state */
static uint8_t *g_out;         /* stream / copy destination, pre-touched */
static size_t g_out_cap;
static volatile uint64_t g_sink; /* defeats dead-code elimination */
static vms_b2_path g_best;
static uint8_t g_mac_key[32], g_mac_id[VMS_KEY_ID_BYTES];
static uint8_t g_ed_priv[32], g_ed_pub[32];
static int g_have_ed25519;

static const char *data_name(const uint8_t *p) { return p == g_dev ? "dev" : "rnd"; }

static const char *size_name(size_t n, char *buf, size_t cap)
{
    if (n % GIB == 0)
        snprintf(buf, cap, "%zuG", n / GIB);
    else if (n % MIB == 0)
        snprintf(buf, cap, "%zuM", n / MIB);
    else if (n % KIB == 0)
        snprintf(buf, cap, "%zuK", n / KIB);
    else
        snprintf(buf, cap, "%zu", n);
    return buf;
}
#define SZ(n) size_name((n), (char[24]){0}, 24)

/* ---- results --------------------------------------------------------------------- */

typedef struct row {
    char name[96];
    char group[12];  /* limit, library, sweep, batch, level */
    char op[24];     /* encode, decode, hash, compress, ... */
    char mode[24];   /* checksum, mac, ed25519, zlib, zstd, or the limit's kind */
    char data[8];    /* dev, rnd, or "" */
    int threads;
    size_t record;   /* record or message size */
    size_t piece;    /* write size (encode) or feed size (decode), 0 = n/a */
    double bytes;    /* raw bytes per repetition */
    int reps;
    double med, min, max; /* GB/s */
    double util;     /* median CPU seconds / wall seconds (1 = one busy core) */
    char limit[96];
    double ratio;
    char limit2[96];
    double ratio2;
    double csize;    /* stream (or compressed) bytes / raw bytes, 0 = n/a */
    uint64_t peak;   /* decoder peak buffer bytes, 0 = n/a */
    double copied;   /* state or body bytes the library copied / raw bytes
                      * (vms_encoder_get_stats, vms_decoder_get_stats); < 0 = n/a */
} row;

static row *g_rows;
static size_t g_nrows, g_caprows;

static row *new_row(void)
{
    if (g_nrows == g_caprows) {
        g_caprows = g_caprows ? 2 * g_caprows : 128;
        g_rows = realloc(g_rows, g_caprows * sizeof *g_rows);
        if (!g_rows)
            die("out of memory");
    }
    row *r = &g_rows[g_nrows++];
    memset(r, 0, sizeof *r);
    r->copied = -1;
    return r;
}

static const row *find_row(const char *name)
{
    for (size_t i = g_nrows; i-- > 0;) /* the latest measurement */
        if (strcmp(g_rows[i].name, name) == 0)
            return &g_rows[i];
    return NULL;
}

static void set_limit(row *r, const char *limit)
{
    const row *l = find_row(limit);
    if (!l || l->med <= 0)
        return;
    snprintf(r->limit, sizeof r->limit, "%s", limit);
    r->ratio = r->med / l->med;
}

static void set_limit2(row *r, const char *limit)
{
    const row *l = find_row(limit);
    if (!l || l->med <= 0)
        return;
    snprintf(r->limit2, sizeof r->limit2, "%s", limit);
    r->ratio2 = r->med / l->med;
}

static void print_row(const row *r)
{
    char rng[32], rat[24] = "", rat2[24] = "";
    snprintf(rng, sizeof rng, "(%.3g-%.3g)", r->min, r->max);
    if (r->limit[0])
        snprintf(rat, sizeof rat, "%.2f", r->ratio);
    if (r->limit2[0])
        snprintf(rat2, sizeof rat2, "%.2f", r->ratio2);
    printf("%-42s %7.3f %-15s %5.2f %6s %-26s %6s %s\n", r->name, r->med, rng, r->util,
           rat, r->limit, rat2, r->limit2);
    fflush(stdout);
}

static void print_header(const char *title)
{
    printf("\n== %s\n%-42s %7s %-15s %5s %6s %-26s %6s %s\n", title, "name", "GB/s",
           "(min-max)", "cpu", "ratio", "limit", "ratio2", "limit2");
}

/* Runs fn reps times over `bytes` raw bytes; fills the row's statistics. */
static void timeit(row *r, int reps, double bytes, void (*fn)(void *), void *ctx)
{
    double gbs[64] = {0}, util[64] = {0};
    if (reps > 64)
        reps = 64;
    for (int i = 0; i < reps; i++) {
        double c0 = cpu_now(), t0 = now();
        fn(ctx);
        double t = now() - t0, c = cpu_now() - c0;
        gbs[i] = bytes / t / 1e9;
        util[i] = c / t;
    }
    r->bytes = bytes;
    r->reps = reps;
    double lo = gbs[0], hi = gbs[0];
    for (int i = 1; i < reps; i++) {
        lo = gbs[i] < lo ? gbs[i] : lo;
        hi = gbs[i] > hi ? gbs[i] : hi;
    }
    r->min = lo;
    r->max = hi;
    r->med = median(gbs, reps);
    r->util = median(util, reps);
}

/* ---- what the rest of the machine did ---------------------------------------
 * /proc/stat gives the busy and steal time of all CPUs; minus this process's
 * own CPU time that is what other processes (and the hypervisor) took while a
 * section ran. */

typedef struct sect {
    char name[32];
    double wall, own, busy, steal; /* seconds */
    double t0, c0, b0, s0;
} sect;
static sect g_sect[16];
static size_t g_nsect;

static void proc_stat(double *busy, double *steal)
{
    FILE *f = fopen("/proc/stat", "r");
    unsigned long long v[10] = {0};
    *busy = *steal = 0;
    if (!f)
        return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]) >= 8) {
        const double hz = (double)sysconf(_SC_CLK_TCK);
        /* user nice system idle iowait irq softirq steal (guest is in user) */
        *busy = (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / hz;
        *steal = (double)v[7] / hz;
    }
    fclose(f);
}

static sect *sect_begin(const char *name)
{
    sect *x = &g_sect[g_nsect++];
    snprintf(x->name, sizeof x->name, "%s", name);
    x->t0 = now();
    x->c0 = cpu_now();
    proc_stat(&x->b0, &x->s0);
    return x;
}

static void sect_end(sect *x)
{
    double b, st;
    proc_stat(&b, &st);
    x->wall = now() - x->t0;
    x->own = cpu_now() - x->c0;
    x->busy = b - x->b0;
    x->steal = st - x->s0;
    const double ncpu = (double)sysconf(_SC_NPROCESSORS_ONLN);
    double others = (x->busy - x->own) / (ncpu * x->wall);
    printf("-- %s: %.0f s; this process %.2f CPUs; other processes and steal %.0f%% of the "
           "%.0f CPUs (steal %.0f%%)\n", x->name, x->wall, x->own / x->wall,
           100 * (others > 0 ? others : 0), ncpu, 100 * x->steal / (ncpu * x->wall));
    fflush(stdout);
}

/* ---- threads ------------------------------------------------------------------------ */

typedef void par_fn(void *ctx, int tid, int nt);
typedef struct par_arg {
    par_fn *fn;
    void *ctx;
    int tid, nt;
} par_arg;

static void *par_main(void *a)
{
    par_arg *p = a;
    p->fn(p->ctx, p->tid, p->nt);
    return NULL;
}

/* fn(ctx, t, nt) on nt threads (the caller is thread 0). */
static void par_run(int nt, par_fn *fn, void *ctx)
{
    pthread_t th[MAX_THREADS];
    par_arg a[MAX_THREADS];
    for (int t = 0; t < nt; t++)
        a[t] = (par_arg){fn, ctx, t, nt};
    for (int t = 1; t < nt; t++)
        if (pthread_create(&th[t], NULL, par_main, &a[t]) != 0)
            die("pthread_create failed");
    fn(ctx, 0, nt);
    for (int t = 1; t < nt; t++)
        pthread_join(th[t], NULL);
}

/* ---- limits ----------------------------------------------------------------------------- */

typedef struct lim_ctx {
    const uint8_t *src;
    size_t len, rec;
    int nt;
    vms_b2_path path;
    int level;
    uint8_t *dst;    /* copy / compressed-chunk destination (NULL = g_out) */
    size_t dst_cap;
    /* codecs: compressed chunks stored in dst at coff[i], csz[i] bytes */
    size_t *coff, *csz;
    size_t nchunks, ctotal;
    par_fn *fn;
} lim_ctx;

#define DST(c) ((c)->dst ? (c)->dst : g_out)
#define DST_CAP(c) ((c)->dst ? (c)->dst_cap : g_out_cap)

static void lim_run(void *vc)
{
    lim_ctx *c = vc;
    par_run(c->nt, c->fn, c);
}

static void chunk_range(size_t n, int tid, int nt, size_t *a, size_t *b)
{
    *a = n * (size_t)tid / (size_t)nt;
    *b = n * (size_t)(tid + 1) / (size_t)nt;
}

static void lim_memcpy(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t a, b;
    chunk_range(c->len / MIB, tid, nt, &a, &b);
    for (size_t i = a; i < b; i++)
        memcpy(DST(c) + i * MIB, c->src + i * MIB, MIB);
}

static void lim_read(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t a, b;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    chunk_range(c->len / MIB, tid, nt, &a, &b);
    for (size_t i = a; i < b; i++) {
        const uint64_t *p = (const uint64_t *)(const void *)(c->src + i * MIB);
        for (size_t k = 0; k < MIB / 8; k += 4) {
            s0 += p[k];
            s1 += p[k + 1];
            s2 += p[k + 2];
            s3 += p[k + 3];
        }
    }
    g_sink += s0 ^ s1 ^ s2 ^ s3;
}

static void lim_libb2(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t a, b;
    uint8_t out[32];
    chunk_range(c->len / c->rec, tid, nt, &a, &b);
    for (size_t i = a; i < b; i++) {
        blake2b(out, c->src + i * c->rec, NULL, sizeof out, c->rec, 0);
        g_sink += out[0];
    }
}

#ifdef BENCH_HAVE_OPENSSL
static void lim_openssl(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t a, b;
    unsigned char out[64];
    unsigned olen;
    EVP_MD *md = EVP_MD_fetch(NULL, "BLAKE2B-512", NULL);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!md || !ctx)
        die("OpenSSL has no BLAKE2B-512");
    chunk_range(c->len / c->rec, tid, nt, &a, &b);
    for (size_t i = a; i < b; i++) {
        if (!EVP_DigestInit_ex(ctx, md, NULL) ||
            !EVP_DigestUpdate(ctx, c->src + i * c->rec, c->rec) ||
            !EVP_DigestFinal_ex(ctx, out, &olen))
            die("EVP BLAKE2b-512 failed");
        g_sink += out[0];
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_free(md);
}
#endif

/* Group g of the raw kernel: records g * LANES .. (at most LANES, below
 * nrec) of c->src in one vms_b2_many call, 32-byte digests, no prefix, no
 * key.  Returns how many. */
static size_t kernel_group(const lim_ctx *c, size_t g, size_t nrec)
{
    uint8_t out[LANES][32];
    vms_b2_lane ln[LANES];
    size_t k = 0;
    for (size_t i = g * LANES; i < nrec && k < LANES; i++, k++)
        ln[k] = (vms_b2_lane){NULL, 0, c->src + i * c->rec, c->rec, out[k], NULL, NULL, 0};
    vms_b2_many(ln, k, 32, NULL, 0, c->path);
    g_sink += out[0][0];
    return k;
}

/* The library's raw multi-record kernel, LANES messages of c->rec bytes
 * per call. */
static void lim_kernel(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t nrec = c->len / c->rec, a, b;
    chunk_range((nrec + LANES - 1) / LANES, tid, nt, &a, &b);
    for (size_t g = a; g < b; g++)
        kernel_group(c, g, nrec);
}

/* The limit of a checksummed stream kept by a sink that copies it: the
 * raw kernel over LANES records, then each copied to c->dst, as the
 * encoder hashes a set before the sink may take its first record. */
static void lim_kernel_copy(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t nrec = c->len / c->rec, a, b;
    chunk_range((nrec + LANES - 1) / LANES, tid, nt, &a, &b);
    for (size_t g = a; g < b; g++) {
        const size_t k = kernel_group(c, g, nrec);
        for (size_t i = g * LANES; i < g * LANES + k; i++)
            memcpy(DST(c) + i * c->rec, c->src + i * c->rec, c->rec);
    }
}

static void lim_deflate(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    (void)tid;
    (void)nt;
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit(&z, c->level) != Z_OK)
        die("deflateInit failed");
    size_t pos = 0;
    for (size_t i = 0; i < c->nchunks; i++) {
        deflateReset(&z);
        z.next_in = (Bytef *)(uintptr_t)(c->src + i * c->rec);
        z.avail_in = (uInt)c->rec;
        z.next_out = DST(c) + pos;
        z.avail_out = (uInt)compressBound((uLong)c->rec);
        if (pos + z.avail_out > DST_CAP(c))
            die("output buffer too small for deflate");
        if (deflate(&z, Z_FINISH) != Z_STREAM_END)
            die("deflate failed");
        c->coff[i] = pos;
        c->csz[i] = compressBound((uLong)c->rec) - z.avail_out;
        pos += c->csz[i];
    }
    c->ctotal = pos;
    deflateEnd(&z);
}

static void lim_inflate(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    (void)tid;
    (void)nt;
    z_stream z;
    memset(&z, 0, sizeof z);
    uint8_t *dst = xmalloc(c->rec);
    if (inflateInit(&z) != Z_OK)
        die("inflateInit failed");
    for (size_t i = 0; i < c->nchunks; i++) {
        inflateReset(&z);
        z.next_in = DST(c) + c->coff[i];
        z.avail_in = (uInt)c->csz[i];
        z.next_out = dst;
        z.avail_out = (uInt)c->rec;
        if (inflate(&z, Z_FINISH) != Z_STREAM_END || z.avail_out != 0)
            die("inflate failed");
    }
    g_sink += c->nchunks ? dst[0] : 0;
    inflateEnd(&z);
    free(dst);
}

#ifdef BENCH_HAVE_ZSTD
/* One thread: stores the frames in g_out (for the decompression limit);
 * several: each thread compresses its chunks into a scratch buffer. */
static void lim_zstd_c(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t a, b, bound = ZSTD_compressBound(c->rec), pos = 0;
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    uint8_t *scratch = nt > 1 ? xmalloc(bound) : NULL;
    chunk_range(c->nchunks, tid, nt, &a, &b);
    for (size_t i = a; i < b; i++) {
        uint8_t *dst = scratch ? scratch : DST(c) + pos;
        if (!scratch && pos + bound > DST_CAP(c))
            die("output buffer too small for zstd");
        size_t r = ZSTD_compressCCtx(cc, dst, bound, c->src + i * c->rec, c->rec, c->level);
        if (ZSTD_isError(r))
            die("ZSTD_compressCCtx: %s", ZSTD_getErrorName(r));
        if (!scratch) {
            c->coff[i] = pos;
            c->csz[i] = r;
            pos += r;
        }
    }
    if (!scratch)
        c->ctotal = pos;
    free(scratch);
    ZSTD_freeCCtx(cc);
}

static void lim_zstd_d(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    size_t a, b;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    uint8_t *dst = xmalloc(c->rec);
    chunk_range(c->nchunks, tid, nt, &a, &b);
    for (size_t i = a; i < b; i++) {
        size_t r = ZSTD_decompressDCtx(dc, dst, c->rec, DST(c) + c->coff[i], c->csz[i]);
        if (ZSTD_isError(r) || r != c->rec)
            die("ZSTD_decompressDCtx failed");
    }
    g_sink += b > a ? dst[0] : 0;
    free(dst);
    ZSTD_freeDCtx(dc);
}

/* The limit of the library's design for a compressed stream, with no
 * framing at all: every compressed byte is hashed before it is
 * decompressed.  Raw zstd's own frames (stored by lim_zstd_c), LANES at a
 * time: one vms_b2_many call over the frames, then each decompressed. */
static void lim_zstd_dh(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    ZSTD_DCtx *dc = ZSTD_createDCtx();
    uint8_t *dst = xmalloc(c->rec);
    uint8_t out[LANES][32];
    vms_b2_lane ln[LANES];
    size_t a, b;
    chunk_range((c->nchunks + LANES - 1) / LANES, tid, nt, &a, &b);
    for (size_t g = a; g < b; g++) {
        size_t k = 0, first = g * LANES;
        for (size_t i = first; i < c->nchunks && k < LANES; i++, k++)
            ln[k] = (vms_b2_lane){NULL, 0, DST(c) + c->coff[i], c->csz[i], out[k], NULL, NULL, 0};
        vms_b2_many(ln, k, 32, NULL, 0, c->path);
        for (size_t i = first; i < first + k; i++) {
            size_t r = ZSTD_decompressDCtx(dc, dst, c->rec, DST(c) + c->coff[i], c->csz[i]);
            if (ZSTD_isError(r) || r != c->rec)
                die("ZSTD_decompressDCtx failed");
        }
        g_sink += out[0][0] + dst[0];
    }
    free(dst);
    ZSTD_freeDCtx(dc);
}

/* The same limit for encoding: LANES records compressed, one after
 * another into a scratch buffer, then their frames hashed in one call. */
static void lim_zstd_ch(void *vc, int tid, int nt)
{
    lim_ctx *c = vc;
    const size_t bound = ZSTD_compressBound(c->rec);
    ZSTD_CCtx *cc = ZSTD_createCCtx();
    uint8_t *scratch = xmalloc(bound * LANES);
    uint8_t out[LANES][32];
    vms_b2_lane ln[LANES];
    size_t a, b;
    chunk_range((c->nchunks + LANES - 1) / LANES, tid, nt, &a, &b);
    for (size_t g = a; g < b; g++) {
        size_t k = 0, pos = 0;
        for (size_t i = g * LANES; i < c->nchunks && k < LANES; i++, k++) {
            size_t r = ZSTD_compressCCtx(cc, scratch + pos, bound, c->src + i * c->rec, c->rec,
                                         c->level);
            if (ZSTD_isError(r))
                die("ZSTD_compressCCtx: %s", ZSTD_getErrorName(r));
            ln[k] = (vms_b2_lane){NULL, 0, scratch + pos, r, out[k], NULL, NULL, 0};
            pos += r;
        }
        vms_b2_many(ln, k, 32, NULL, 0, c->path);
        g_sink += out[0][0];
    }
    free(scratch);
    ZSTD_freeCCtx(cc);
}
#endif

static row *limit_row(const char *name, const char *mode, const char *data, int nt,
                      size_t rec, par_fn *fn, lim_ctx *c, double bytes, int reps)
{
    row *r = new_row();
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->group, sizeof r->group, "limit");
    snprintf(r->op, sizeof r->op, "limit");
    snprintf(r->mode, sizeof r->mode, "%s", mode);
    snprintf(r->data, sizeof r->data, "%s", data);
    r->threads = nt;
    r->record = rec;
    c->nt = nt;
    c->fn = fn;
    timeit(r, reps, bytes, lim_run, c);
    print_row(r);
    return r;
}

/* The kernel must match libb2 on every path before it is timed. */
static void check_kernel(void)
{
    for (int p = 0; p <= (int)g_best; p++) {
        uint8_t out[LANES][32], ref[32];
        vms_b2_lane ln[LANES];
        for (int k = 0; k < LANES; k++) {
            size_t len = MIB - (size_t)k * 77; /* mixed lengths */
            ln[k] = (vms_b2_lane){NULL, 0, g_rnd + (size_t)k * MIB, len, out[k], NULL, NULL, 0};
        }
        vms_b2_many(ln, LANES, 32, NULL, 0, (vms_b2_path)p);
        for (int k = 0; k < LANES; k++) {
            blake2b(ref, ln[k].msg, NULL, 32, ln[k].msg_len, 0);
            if (memcmp(ref, out[k], 32) != 0)
                die("vms_b2_many path %s differs from libb2 on lane %d",
                    vms_b2_path_name((vms_b2_path)p), k);
        }
    }
}

static const size_t g_recs[] = {64 * KIB, 256 * KIB, MIB, 4 * MIB};
#define NRECS (sizeof g_recs / sizeof g_recs[0])

static size_t zlib_bytes(void) { return g_size / 4 / MIB * MIB > MIB ? g_size / 4 / MIB * MIB : MIB; }

static void kernel_name(char *buf, size_t cap, int nt, size_t rec)
{
    snprintf(buf, cap, "kernel-%s %dT %s", vms_b2_path_name(g_best), nt, SZ(rec));
}

static void codec_limits(const uint8_t *src, int do_recs, int do_levels)
{
    const char *dn = data_name(src);
    char name[80];
    lim_ctx c = {.src = src, .len = g_size, .rec = MIB};
    c.nchunks = g_size / MIB;
    const size_t maxchunks = g_size / g_recs[0]; /* the smallest record size */
    c.coff = xmalloc(maxchunks * sizeof *c.coff);
    c.csz = xmalloc(maxchunks * sizeof *c.csz);
    row *r;
    {
        /* zlib deflates at ~0.1 GB/s: a quarter of the buffer, fewer reps. */
        const int levels[] = {1, 6};
        for (int li = 0; li < (do_levels ? 2 : 1); li++) {
            c.level = levels[li];
            c.nchunks = (levels[li] == 1 ? zlib_bytes() : zlib_bytes() / 4) / MIB;
            if (c.nchunks == 0)
                c.nchunks = 1;
            double bytes = (double)(c.nchunks * MIB);
            int reps = g_reps < 3 ? g_reps : 3;
            snprintf(name, sizeof name, "zlib%d-deflate %s", levels[li], dn);
            r = limit_row(name, "zlib", dn, 1, MIB, lim_deflate, &c, bytes, reps);
            r->csize = (double)c.ctotal / bytes;
            if (li == 0) {
                snprintf(name, sizeof name, "zlib%d-inflate %s", levels[li], dn);
                r = limit_row(name, "zlib", dn, 1, MIB, lim_inflate, &c, bytes, g_reps);
                r->csize = (double)c.ctotal / bytes;
            }
        }
        c.nchunks = g_size / MIB;
    }
#ifdef BENCH_HAVE_ZSTD
    /* Record-size sweep of the library's level, then other levels at 1 MiB. */
    for (size_t ri = 0; ri < NRECS; ri++) {
        c.rec = g_recs[ri];
        c.nchunks = g_size / c.rec;
        c.level = 1;
        const double bytes = (double)(c.nchunks * c.rec);
        const int main_rec = c.rec == MIB;
        if (!main_rec && (src != g_dev || !do_recs))
            continue;
        snprintf(name, sizeof name, "zstd1-compress %s 1T%s%s", dn, main_rec ? "" : " ",
                 main_rec ? "" : SZ(c.rec));
        r = limit_row(name, "zstd", dn, 1, c.rec, lim_zstd_c, &c, bytes, g_reps);
        r->csize = (double)c.ctotal / bytes;
        snprintf(name, sizeof name, "zstd1-decompress %s 1T%s%s", dn, main_rec ? "" : " ",
                 main_rec ? "" : SZ(c.rec));
        r = limit_row(name, "zstd", dn, 1, c.rec, lim_zstd_d, &c, bytes, g_reps);
        r->csize = (double)c.ctotal / bytes;
        if (main_rec) {
            snprintf(name, sizeof name, "zstd1-compress %s 2T", dn);
            limit_row(name, "zstd", dn, 2, c.rec, lim_zstd_c, &c, bytes, g_reps);
            snprintf(name, sizeof name, "zstd1-decompress %s 2T", dn);
            limit_row(name, "zstd", dn, 2, c.rec, lim_zstd_d, &c, bytes, g_reps);
        }
    }
    c.rec = MIB;
    c.nchunks = g_size / MIB;
    if (do_levels) {
        const int levels[] = {-1, 3};
        for (int li = 0; li < 2; li++) {
            c.level = levels[li];
            snprintf(name, sizeof name, "zstd%d-compress %s 1T", levels[li], dn);
            r = limit_row(name, "zstd", dn, 1, MIB, lim_zstd_c, &c, (double)g_size, g_reps);
            r->csize = (double)c.ctotal / (double)g_size;
            snprintf(name, sizeof name, "zstd%d-decompress %s 1T", levels[li], dn);
            r = limit_row(name, "zstd", dn, 1, MIB, lim_zstd_d, &c, (double)g_size, g_reps);
            r->csize = (double)c.ctotal / (double)g_size;
        }
    }
#endif
    free(c.coff);
    free(c.csz);
}

static void run_limits(int levels, int recs)
{
    print_header("limits (1 MiB chunks unless named; 32-byte BLAKE2b digests)");
    lim_ctx c = {.src = g_dev, .len = g_size, .rec = MIB};
    char name[80];
    limit_row("memcpy", "memcpy", "", 1, MIB, lim_memcpy, &c, (double)g_size, g_reps);
    limit_row("read", "read", "", 1, MIB, lim_read, &c, (double)g_size, g_reps);
    limit_row("read 2T", "read", "", 2, MIB, lim_read, &c, (double)g_size, g_reps);
    limit_row("libb2", "libb2", "", 1, MIB, lim_libb2, &c, (double)g_size, g_reps);
    limit_row("libb2 2T", "libb2", "", 2, MIB, lim_libb2, &c, (double)g_size, g_reps);
#ifdef BENCH_HAVE_OPENSSL
    limit_row("openssl-blake2b512", "openssl", "", 1, MIB, lim_openssl, &c, (double)g_size,
              g_reps);
#endif
    check_kernel();
    for (int p = 0; p <= (int)g_best; p++) {
        c.path = (vms_b2_path)p;
        snprintf(name, sizeof name, "kernel-%s 1T 1M", vms_b2_path_name(c.path));
        if (p == (int)g_best)
            continue; /* the best path is timed in the sweep below */
        limit_row(name, "kernel", "", 1, MIB, lim_kernel, &c, (double)g_size, g_reps);
    }
    c.path = g_best;
    for (size_t ri = 0; ri < NRECS; ri++)
        for (int nt = 1; nt <= 2; nt++) {
            c.rec = g_recs[ri];
            kernel_name(name, sizeof name, nt, c.rec);
            limit_row(name, "kernel", "", nt, c.rec, lim_kernel, &c,
                      (double)(g_size / c.rec * c.rec), g_reps);
        }
    codec_limits(g_dev, recs, levels);
    codec_limits(g_rnd, 0, 0);
}

/* ---- library -------------------------------------------------------------------------- */

enum mode { M_SUM, M_MAC, M_SIGN, M_ZLIB, M_ZSTD };
static const char *const mode_names[] = {"checksum", "mac", "ed25519", "zlib", "zstd"};

typedef struct lib_cfg {
    const uint8_t *src;
    size_t len;       /* bytes of src to encode per copy */
    int copies;       /* the buffer is encoded this many times (offsets grow) */
    enum mode mode;
    int threads;
    size_t record;
    size_t wpiece;    /* bytes per vms_encoder_write (0 = all at once) */
    size_t feed;      /* bytes per vms_decoder_feed */
    int elide;
    size_t ckpt;      /* Ed25519 checkpoint interval, 0 = library default */
    int discard;      /* sink counts bytes only */
    int lend;         /* output-buffer mode: the stream buffer is lent to the encoder */
    int gather;       /* encoder: small writes gathered (vms_encoder_set_gather) */
    int runs;         /* decoder: page-mapped records in runs (vms_decoder_set_page_runs) */
    int verify;       /* decode compares every delivered byte with src */
    uint8_t *out;     /* stream buffer (NULL = g_out) */
    size_t out_cap;
} lib_cfg;

typedef struct mem_sink {
    uint8_t *buf;
    size_t cap, len;
    uint8_t *lent; /* lent to the encoder (output-buffer mode), not yet committed */
} mem_sink;

/* Output-buffer mode: lends the place right after the stream so far. */
static void *lend_mem(void *ctx, size_t max_len)
{
    mem_sink *s = ctx;
    if (max_len > s->cap - s->len)
        return NULL;
    s->lent = s->buf + s->len;
    return s->lent;
}

static int sink_mem(void *ctx, const void *buf, size_t len)
{
    mem_sink *s = ctx;
    if (s->lent) { /* the commit of a lent region: the bytes are in place */
        if (buf != s->lent)
            return -1;
        s->lent = NULL;
        s->len += len;
        return 0;
    }
    if (len > s->cap - s->len)
        return -1;
    memcpy(s->buf + s->len, buf, len);
    s->len += len;
    return 0;
}

static int sink_discard(void *ctx, const void *buf, size_t len)
{
    mem_sink *s = ctx;
    (void)buf;
    s->len += len;
    return 0;
}

static void check_enc(vms_encoder *e, int rc, const char *what)
{
    if (rc != VMS_OK) {
        const vms_error_info *ei = e ? vms_encoder_error(e) : NULL;
        die("%s: %s (%s)", what, vms_strerror(rc), ei && ei->message ? ei->message : "");
    }
}

static vms_encoder *make_encoder(const lib_cfg *c, vms_sink_fn sink, void *ctx)
{
    vms_encoder *e;
    static const uint8_t sid[VMS_STREAM_ID_BYTES] = {'v', 'm', 's', 'b', 'e', 'n', 'c', 'h'};
    check_enc(NULL, vms_encoder_new(&e, sink, ctx, NULL), "vms_encoder_new");
    check_enc(e, vms_encoder_set_stream_id(e, sid), "set_stream_id");
    check_enc(e, vms_encoder_set_record_size(e, c->record), "set_record_size");
    check_enc(e, vms_encoder_set_threads(e, (unsigned)c->threads), "set_threads");
    check_enc(e, vms_encoder_set_page_elision(e, c->elide), "set_page_elision");
    check_enc(e, vms_encoder_set_gather(e, c->gather), "set_gather");
    if (c->mode == M_ZLIB)
        check_enc(e, vms_encoder_set_compression(e, VMS_CODEC_ZLIB, 1), "set_compression zlib");
    if (c->mode == M_ZSTD)
        check_enc(e, vms_encoder_set_compression(e, VMS_CODEC_ZSTD, 1), "set_compression zstd");
    if (c->mode == M_MAC)
        check_enc(e, vms_encoder_set_mac_key(e, g_mac_key, sizeof g_mac_key, g_mac_id),
                  "set_mac_key");
    if (c->mode == M_SIGN) {
        check_enc(e, vms_encoder_set_ed25519_key(e, g_ed_priv), "set_ed25519_key");
        if (c->ckpt)
            check_enc(e, vms_encoder_set_checkpoint_interval(e, c->ckpt),
                      "set_checkpoint_interval");
    }
    return e;
}

static void encode_into(const lib_cfg *c, vms_encoder *e)
{
    for (int k = 0; k < c->copies; k++) {
        size_t piece = c->wpiece ? c->wpiece : c->len;
        for (size_t off = 0; off < c->len; off += piece) {
            size_t n = c->len - off < piece ? c->len - off : piece;
            check_enc(e, vms_encoder_write(e, 0, (uint64_t)k * c->len + off, 0, c->src + off, n),
                      "vms_encoder_write");
        }
    }
    check_enc(e, vms_encoder_finish(e), "vms_encoder_finish");
}

/* Bytes of state an encoder copied (vms_encoder_get_stats). */
static uint64_t enc_copied(const vms_encoder *e)
{
    const vms_encoder_stats *st = vms_encoder_get_stats(e);
    return st->lent_bytes + st->gathered_bytes + st->packed_bytes;
}

/* Encodes into g_out (or a discarding sink); returns the stream length.
 * copied (may be NULL): the state bytes the encoder copied. */
static size_t do_encode_counted(const lib_cfg *c, uint64_t *copied)
{
    mem_sink s = {.buf = c->out ? c->out : g_out, .cap = c->out ? c->out_cap : g_out_cap};
    vms_encoder *e = make_encoder(c, c->discard ? sink_discard : sink_mem, &s);
    if (c->lend)
        check_enc(e, vms_encoder_set_output_buffer(e, lend_mem, &s), "set_output_buffer");
    encode_into(c, e);
    if (copied)
        *copied = enc_copied(e);
    vms_encoder_free(e);
    return s.len;
}

static size_t do_encode(const lib_cfg *c)
{
    return do_encode_counted(c, NULL);
}

typedef struct dec_stats {
    const lib_cfg *cfg;
    uint64_t records, bytes;
    uint64_t peak;
    uint64_t copied; /* body and state bytes the decoder copied (vms_decoder_get_stats) */
    int mismatch;
} dec_stats;

static int on_record(void *ctx, const vms_record *r)
{
    dec_stats *s = ctx;
    s->records++;
    s->bytes += r->len;
    if (s->cfg->verify) {
        uint64_t at = r->offset % s->cfg->len;
        if (r->section != 0 || at + r->len > s->cfg->len)
            s->mismatch = 1;
        else if (r->runs) {
            for (size_t i = 0; i < r->nruns; i++) {
                const vms_run *u = &r->runs[i];
                const uint8_t *want = s->cfg->src + at + u->offset;
                if (u->data ? memcmp(u->data, want, u->len) != 0
                            : (want[0] != u->fill || memcmp(want, want + 1, u->len - 1) != 0))
                    s->mismatch = 1;
            }
        } else if (memcmp(r->data, s->cfg->src + at, r->len) != 0)
            s->mismatch = 1;
    }
    return 0;
}

static void check_dec(vms_decoder *d, int rc, const char *what)
{
    if (rc < 0) {
        const vms_error_info *ei = vms_decoder_error(d);
        die("%s: %s at stream offset %" PRIu64 ", record %" PRIu64 ": %s", what,
            vms_strerror(rc), ei->offset, ei->record, ei->message ? ei->message : "");
    }
}

static vms_decoder *make_decoder(const lib_cfg *c, dec_stats *st)
{
    vms_limits *lim;
    vms_decoder *d;
    if (vms_limits_new(&lim, NULL) != VMS_OK ||
        vms_limits_set(lim, VMS_LIMIT_RECORDS, (uint64_t)1 << 40) != VMS_OK ||
        vms_limits_set(lim, VMS_LIMIT_TOTAL_BYTES, UINT64_MAX) != VMS_OK ||
        vms_limits_set(lim, VMS_LIMIT_BUFFERED, (uint64_t)1 << 30) != VMS_OK)
        die("vms_limits setup failed");
    vms_decoder_callbacks cb = {NULL, on_record, NULL, NULL, st};
    if (vms_decoder_new(&d, lim, &cb, NULL) != VMS_OK)
        die("vms_decoder_new failed");
    vms_limits_free(lim);
    if (vms_decoder_set_threads(d, (unsigned)c->threads) != VMS_OK)
        die("vms_decoder_set_threads failed");
    if (vms_decoder_set_page_runs(d, c->runs) != VMS_OK)
        die("vms_decoder_set_page_runs failed");
    if (c->mode == M_MAC && vms_decoder_set_mac_key(d, g_mac_key, sizeof g_mac_key, g_mac_id))
        die("vms_decoder_set_mac_key failed");
    if (c->mode == M_SIGN && vms_decoder_add_ed25519_key(d, g_ed_pub) != VMS_OK)
        die("vms_decoder_add_ed25519_key failed");
    return d;
}

static void finish_decode(vms_decoder *d, int last_rc, dec_stats *st, const lib_cfg *c)
{
    int rc = vms_decoder_finish(d);
    check_dec(d, rc, "vms_decoder_finish");
    if (last_rc != VMS_END || rc != VMS_END)
        die("decode did not end with VMS_END (last feed %s, finish %s)",
            vms_strerror(last_rc), vms_strerror(rc));
    const uint64_t want = (uint64_t)c->len * (uint64_t)c->copies;
    const uint64_t want_recs = (uint64_t)c->copies * ((c->len + c->record - 1) / c->record);
    if (st->bytes != want || st->records != want_recs)
        die("decode delivered %" PRIu64 " bytes in %" PRIu64 " records, expected %" PRIu64
            " in %" PRIu64, st->bytes, st->records, want, want_recs);
    if (st->mismatch)
        die("decode delivered bytes that differ from the encoded state");
    st->peak = vms_decoder_peak_memory(d);
    const vms_decoder_stats *ds = vms_decoder_get_stats(d);
    st->copied = ds->assembled_bytes + ds->parked_bytes + ds->held_bytes + ds->expanded_bytes;
    vms_decoder_free(d);
}

static void do_decode(const lib_cfg *c, const uint8_t *stream, size_t slen, dec_stats *st)
{
    memset(st, 0, sizeof *st);
    st->cfg = c;
    vms_decoder *d = make_decoder(c, st);
    int rc = VMS_OK;
    /* feed 0: each feed is vms_decoder_feed_hint() bytes, as a receiver
     * following the library's advice reads them */
    for (size_t off = 0, n; off < slen; off += n) {
        size_t f = c->feed ? c->feed : vms_decoder_feed_hint(d);
        n = slen - off < f ? slen - off : f;
        rc = vms_decoder_feed(d, stream + off, n, NULL);
        check_dec(d, rc, "vms_decoder_feed");
    }
    finish_decode(d, rc, st, c);
}

typedef struct lib_job {
    lib_cfg cfg;
    size_t slen;
    uint64_t enc_copied;
    dec_stats st;
} lib_job;

static void enc_job(void *v)
{
    lib_job *j = v;
    j->slen = do_encode_counted(&j->cfg, &j->enc_copied);
}

static void dec_job(void *v)
{
    lib_job *j = v;
    do_decode(&j->cfg, j->cfg.out ? j->cfg.out : g_out, j->slen, &j->st);
}

static void lib_name(char *buf, size_t cap, const char *op, enum mode m, const uint8_t *src,
                     int nt, size_t rec, const char *extra)
{
    char rs[24];
    snprintf(buf, cap, "%s %s %s %dT %s%s", op, mode_names[m], data_name(src), nt,
             size_name(rec, rs, sizeof rs), extra ? extra : "");
}

static row *lib_row(const char *group, const char *op, const lib_cfg *c, const char *extra)
{
    row *r = new_row();
    snprintf(r->group, sizeof r->group, "%s", group);
    snprintf(r->op, sizeof r->op, "%s", op);
    snprintf(r->mode, sizeof r->mode, "%s", mode_names[c->mode]);
    snprintf(r->data, sizeof r->data, "%s", data_name(c->src));
    r->threads = c->threads;
    r->record = c->record;
    r->piece = strcmp(op, "encode") == 0 ? c->wpiece : c->feed;
    lib_name(r->name, sizeof r->name, op, c->mode, c->src, c->threads, c->record, extra);
    return r;
}

/* Encode (timed), one untimed verifying decode, decode (timed).  The rows
 * are returned through *er and *dr (either may be skipped with NULL). */
static void lib_pair(const char *group, lib_cfg c, const char *extra, row **er, row **dr)
{
    lib_job j = {.cfg = c};
    const double bytes = (double)c.len * c.copies;
    row *r = lib_row(group, "encode", &c, extra);
    timeit(r, g_reps, bytes, enc_job, &j);
    r->csize = (double)j.slen / bytes;
    r->copied = (double)j.enc_copied / bytes;
    if (er)
        *er = r;
    if (c.discard || !dr) { /* nothing stored to decode, or not asked for */
        if (dr)
            *dr = NULL;
        return;
    }
    j.cfg.verify = 1; /* also warms the decoder's allocations up */
    do_decode(&j.cfg, g_out, j.slen, &j.st);
    j.cfg.verify = 0;
    row *d = lib_row(group, "decode", &c, extra);
    timeit(d, g_reps, bytes, dec_job, &j);
    d->csize = r->csize;
    d->peak = j.st.peak;
    d->copied = (double)j.st.copied / bytes;
    if (dr)
        *dr = d;
}

static void hash_limits(row *r, size_t rec, int nt)
{
    char k[64];
    kernel_name(k, sizeof k, nt, rec);
    set_limit(r, k);
}

/* A checksummed encode timed alone (1 MiB records, 1 thread), against the
 * kernel and libb2. */
static void encode_row(lib_cfg c, const char *extra)
{
    row *e;
    lib_pair("library", c, extra, &e, NULL);
    hash_limits(e, MIB, 1);
    set_limit2(e, "libb2");
    print_row(e);
}

static void run_library(void)
{
    print_header("library, 1 MiB records, encode whole buffer per write, decode fed in 8 MiB "
                 "pieces");
    const uint8_t *srcs[] = {g_dev, g_rnd};
    for (int si = 0; si < 2; si++) {
        const uint8_t *src = srcs[si];
        const char *dn = data_name(src);
        for (int m = M_SUM; m <= M_ZSTD; m++) {
            lib_cfg c = {.src = src, .len = g_size, .copies = 1, .mode = (enum mode)m,
                         .threads = 1, .record = MIB, .feed = FEED_PIECE, .elide = 1};
#ifndef BENCH_HAVE_ZSTD
            if (m == M_ZSTD)
                continue;
#endif
            if (m == M_SIGN && !g_have_ed25519)
                continue;
            if (m == M_ZLIB)
                c.len = zlib_bytes();
            row *e, *d;
            const char *extra = m == M_ZLIB && c.len != g_size ? " (1/4 buffer)" : NULL;
            lib_pair("library", c, extra, &e, &d);
            char ln[64];
            if (m == M_ZLIB || m == M_ZSTD) {
                snprintf(ln, sizeof ln, "%s1-%s %s%s", mode_names[m],
                         m == M_ZLIB ? "deflate" : "compress", dn, m == M_ZSTD ? " 1T" : "");
                set_limit(e, ln);
                snprintf(ln, sizeof ln, "%s1-%s %s%s", mode_names[m],
                         m == M_ZLIB ? "inflate" : "decompress", dn, m == M_ZSTD ? " 1T" : "");
                set_limit(d, ln);
            } else {
                hash_limits(e, MIB, 1);
                hash_limits(d, MIB, 1);
                set_limit2(e, "libb2");
                set_limit2(d, "libb2");
            }
            print_row(e);
            print_row(d);
            if (m == M_SUM) {
                /* Framing cost alone: the same encode into a sink that keeps
                 * nothing (no copy of the stream). */
                lib_cfg v = c;
                v.discard = 1;
                encode_row(v, " discard-sink");
                /* The same stream in output-buffer mode: the encoder copies
                 * each payload into g_out while it hashes it (the paired
                 * section checks that the bytes are the sink path's). */
                v.discard = 0;
                v.lend = 1;
                encode_row(v, " lent-buffer");
            }
            if (m == M_SUM && src == g_dev) {
                /* Without page elision: no page-map gather / expansion, all
                 * bytes hashed. */
                c.discard = 0;
                /* Page-mapped records delivered in runs, not expanded
                 * (the record callback touches no byte in either form). */
                c.runs = 1;
                row *dr;
                lib_pair("library", c, " page-runs", NULL, &dr);
                hash_limits(dr, MIB, 1);
                set_limit2(dr, "libb2");
                print_row(dr);
                c.runs = 0;
                c.elide = 0;
                lib_pair("library", c, " no-elision", &e, &d);
                hash_limits(e, MIB, 1);
                hash_limits(d, MIB, 1);
                set_limit2(e, "libb2");
                set_limit2(d, "libb2");
                print_row(e);
                print_row(d);
            }
            if (m == M_ZSTD && src == g_dev) {
                /* Compressed page-mapped records in runs: decompressed,
                 * not expanded (the callback touches no byte). */
                c.runs = 1;
                row *zr;
                lib_pair("library", c, " page-runs", NULL, &zr);
                set_limit(zr, "zstd1-decompress dev 1T");
                print_row(zr);
                c.runs = 0;
                /* Without page elision the codec sees the same bytes as the
                 * raw limit: the pure framing overhead of compression. */
                c.elide = 0;
                lib_pair("library", c, " no-elision", &e, &d);
                set_limit(e, "zstd1-compress dev 1T");
                set_limit(d, "zstd1-decompress dev 1T");
                print_row(e);
                print_row(d);
            }
        }
    }
    if (g_have_ed25519) {
        print_header("Ed25519 checkpoint interval (all-random state, 1 thread)");
        const size_t iv[] = {16 * MIB, 64 * MIB};
        for (size_t i = 0; i < 2; i++) {
            lib_cfg c = {.src = g_rnd, .len = g_size, .copies = 1, .mode = M_SIGN, .threads = 1,
                         .record = MIB, .feed = FEED_PIECE, .elide = 1, .ckpt = iv[i]};
            char extra[32];
            snprintf(extra, sizeof extra, " ckpt %s", SZ(iv[i]));
            row *e, *d;
            lib_pair("library", c, extra, &e, &d);
            hash_limits(e, MIB, 1);
            hash_limits(d, MIB, 1);
            set_limit2(e, "libb2");
            set_limit2(d, "libb2");
            print_row(e);
            print_row(d);
        }
    }
}

/* Record size x threads; zstd and signed streams at 2 threads. */
static void run_sweep(void)
{
    print_header("sweep: record size x threads (checksummed; decode fed in 8 MiB pieces)");
    const uint8_t *srcs[] = {g_rnd, g_dev};
    for (int si = 0; si < 2; si++)
        for (size_t ri = 0; ri < NRECS; ri++)
            for (int nt = 1; nt <= 2; nt++) {
                lib_cfg c = {.src = srcs[si], .len = g_size / g_recs[ri] * g_recs[ri],
                             .copies = 1, .mode = M_SUM, .threads = nt, .record = g_recs[ri],
                             .feed = FEED_PIECE, .elide = 1};
                row *e, *d;
                lib_pair("sweep", c, NULL, &e, &d);
                hash_limits(e, c.record, nt);
                hash_limits(d, c.record, nt);
                if (nt == 2) {
                    char one[80];
                    lib_name(one, sizeof one, "encode", M_SUM, c.src, 1, c.record, NULL);
                    set_limit2(e, one);
                    lib_name(one, sizeof one, "decode", M_SUM, c.src, 1, c.record, NULL);
                    set_limit2(d, one);
                } else {
                    set_limit2(e, "libb2");
                    set_limit2(d, "libb2");
                }
                print_row(e);
                print_row(d);
            }
    /* Decode with pieces large enough for 8 records per thread. */
    for (int nt = 1; nt <= 2; nt++) {
        lib_cfg c = {.src = g_rnd, .len = g_size, .copies = 1, .mode = M_SUM, .threads = nt,
                     .record = 4 * MIB, .feed = BIG_FEED, .elide = 1};
        lib_job j = {.cfg = c};
        j.slen = do_encode(&c);
        char extra[32];
        snprintf(extra, sizeof extra, " feed %s", SZ(c.feed));
        row *d = lib_row("sweep", "decode", &c, extra);
        timeit(d, g_reps, (double)c.len, dec_job, &j);
        d->peak = j.st.peak;
        hash_limits(d, c.record, nt);
        char one[80];
        lib_name(one, sizeof one, "decode", M_SUM, g_rnd, 1, c.record, extra);
        set_limit2(d, nt == 1 ? "libb2" : one);
        print_row(d);
    }
#ifdef BENCH_HAVE_ZSTD
    print_header("sweep: zstd (device-like state)");
    for (size_t ri = 0; ri < NRECS; ri++)
        for (int nt = 1; nt <= 2; nt++) {
            if (nt == 2 && g_recs[ri] != MIB)
                continue;
            lib_cfg c = {.src = g_dev, .len = g_size / g_recs[ri] * g_recs[ri], .copies = 1,
                         .mode = M_ZSTD, .threads = nt, .record = g_recs[ri],
                         .feed = FEED_PIECE, .elide = 1};
            if (nt == 1 && g_recs[ri] == MIB)
                continue; /* in the library table */
            row *e, *d;
            lib_pair("sweep", c, NULL, &e, &d);
            char ln[64];
            const char *rs = g_recs[ri] == MIB ? "" : SZ(g_recs[ri]);
            snprintf(ln, sizeof ln, "zstd1-compress dev %dT%s%s", nt, *rs ? " " : "", rs);
            set_limit(e, ln);
            snprintf(ln, sizeof ln, "zstd1-decompress dev %dT%s%s", nt, *rs ? " " : "", rs);
            set_limit(d, ln);
            if (nt == 2) {
                set_limit2(e, "encode zstd dev 1T 1M");
                set_limit2(d, "decode zstd dev 1T 1M");
            }
            print_row(e);
            print_row(d);
        }
#endif
    if (g_have_ed25519) {
        lib_cfg c = {.src = g_rnd, .len = g_size, .copies = 1, .mode = M_SIGN, .threads = 2,
                     .record = MIB, .feed = FEED_PIECE, .elide = 1};
        row *e, *d;
        lib_pair("sweep", c, NULL, &e, &d);
        hash_limits(e, MIB, 2);
        hash_limits(d, MIB, 2);
        set_limit2(e, "encode ed25519 rnd 1T 1M");
        set_limit2(d, "decode ed25519 rnd 1T 1M");
        print_row(e);
        print_row(d);
    }
}

/* Batch depth as the library sees it: records per vms_encoder_write call and
 * bytes per vms_decoder_feed call (all-random state, 1 MiB records). */
static void run_batch(void)
{
    print_header("batch depth: records per write (encode), bytes per feed (decode); 1/4 buffer");
    const size_t sub = zlib_bytes();
    /* writes of 1-16 records, then of 1, 2 and 4 with gathering on */
    const size_t wp[] = {1, 2, 4, 8, 16, 1, 2, 4};
    const size_t nwp = sizeof wp / sizeof wp[0];
    for (int nt = 1; nt <= 2; nt++)
        for (size_t i = 0; i < nwp; i++) {
            lib_cfg c = {.src = g_rnd, .len = sub, .copies = 1, .mode = M_SUM, .threads = nt,
                         .record = MIB, .wpiece = wp[i] * MIB, .feed = FEED_PIECE, .elide = 1,
                         .gather = i >= 5};
            lib_job j = {.cfg = c};
            char extra[40];
            snprintf(extra, sizeof extra, " write %s%s", SZ(c.wpiece), c.gather ? " gather" : "");
            row *e = lib_row("batch", "encode", &c, extra);
            timeit(e, g_reps, (double)sub, enc_job, &j);
            hash_limits(e, MIB, nt);
            set_limit2(e, "libb2");
            print_row(e);
        }
    const size_t fp[] = {64 * KIB, MIB, 2 * MIB, 4 * MIB, 8 * MIB, 16 * MIB, 32 * MIB};
    for (int nt = 1; nt <= 2; nt++) {
        lib_cfg c = {.src = g_rnd, .len = sub, .copies = 1, .mode = M_SUM, .threads = nt,
                     .record = MIB, .elide = 1};
        lib_job j = {.cfg = c};
        j.slen = do_encode(&c);
        for (size_t i = 0; i < sizeof fp / sizeof fp[0]; i++) {
            j.cfg.feed = c.feed = fp[i];
            char extra[32];
            snprintf(extra, sizeof extra, " feed %s", SZ(c.feed));
            row *d = lib_row("batch", "decode", &c, extra);
            timeit(d, g_reps, (double)sub, dec_job, &j);
            d->peak = j.st.peak;
            hash_limits(d, MIB, nt);
            set_limit2(d, "libb2");
            print_row(d);
        }
    }
}

/* ---- paired ratios ---------------------------------------------------------------------------
 * On a shared, noisy host a ratio between two figures measured minutes apart
 * says as much about the neighbours as about the library.  Here every
 * repetition ("round") times each item once, back to back, and each target
 * ratio is computed within a round; the median over rounds is reported.
 * Checksummed and zstd items run over the whole buffer, libb2 over 1/4 of it
 * and zlib over 1/16 (their GB/s do not depend on the size). */

typedef struct pitem {
    char name[64];
    void (*fn)(void *);
    void *ctx;
    double bytes;
    double gbs[64];
    double util[64];
} pitem;

typedef struct pratio {
    char what[128];
    int a, b; /* ratio = item a / item b */
    double goal;
    double med, min, max;
} pratio;

static pratio g_pr[48];
static size_t g_npr;

static void run_paired(void)
{
    /* Whole-buffer items: two-thread runs need ~100 ms or more before the
     * scheduler of a busy host spreads them over both CPUs. */
    const size_t sub = g_size, qsub = zlib_bytes();
    const size_t zsub = g_size / 16 > 4 * MIB ? g_size / 16 / MIB * MIB : 4 * MIB;
    const size_t R = sub + sub / 16 + 8 * MIB, zR = zsub + zsub / 16 + 8 * MIB;
    if (R > g_out_cap)
        die("paired: output buffer too small");
    /* Stream buffers (g_out for the checksummed stream), touched before use. */
    uint8_t *r1 = g_out, *r2 = xmalloc(R), *r3 = xmalloc(R), *r4 = xmalloc(zR), *r5 = xmalloc(zR);
    uint8_t *r6 = xmalloc(R); /* the checksummed stream of device-like state */
    memset(r6, 0, R);
    memset(r2, 0, R);
    memset(r3, 0, R);
    memset(r4, 0, zR);
    memset(r5, 0, zR);
    size_t *coff = xmalloc((sub / MIB + 1) * sizeof *coff), *csz = xmalloc((sub / MIB + 1) * sizeof *csz);
    size_t *zoff = xmalloc((zsub / MIB + 1) * sizeof *zoff), *zsz = xmalloc((zsub / MIB + 1) * sizeof *zsz);

    lim_ctx lb2 = {.src = g_rnd, .len = qsub, .rec = MIB, .nt = 1, .fn = lim_libb2};
    lim_ctx k1 = {.src = g_rnd, .len = sub, .rec = MIB, .nt = 1, .path = g_best, .fn = lim_kernel};
    lim_ctx k2 = k1;
    k2.nt = 2;
    /* Copies on 1 and 2 threads (to a buffer of their own): what the
     * memory gives a copying sink, or the decoder's copies, with threads. */
    uint8_t *r7 = xmalloc(sub);
    memset(r7, 0, sub);
    lim_ctx m1 = {.src = g_rnd, .len = sub, .rec = MIB, .nt = 1, .dst = r7, .fn = lim_memcpy};
    lim_ctx m2 = m1;
    m2.nt = 2;
    lim_ctx kc1 = {.src = g_rnd, .len = sub, .rec = MIB, .nt = 1, .path = g_best, .dst = r7,
                   .fn = lim_kernel_copy};
    lim_ctx kc2 = kc1;
    kc2.nt = 2;
    const lib_cfg base = {.src = g_rnd, .len = sub, .copies = 1, .mode = M_SUM, .threads = 1,
                          .record = MIB, .feed = FEED_PIECE, .elide = 1, .out = r1, .out_cap = R};
    lib_job e1 = {.cfg = base}, ed = {.cfg = base}, d1 = {.cfg = base}, e2 = {.cfg = base},
            d2 = {.cfg = base}, d1b = {.cfg = base}, d2b = {.cfg = base}, ed2 = {.cfg = base},
            d1h = {.cfg = base}, d2h = {.cfg = base}, el1 = {.cfg = base}, el2 = {.cfg = base},
            d1m = {.cfg = base}, d2m = {.cfg = base};
    ed.cfg.discard = ed2.cfg.discard = 1;
    el1.cfg.lend = el2.cfg.lend = 1;
    el2.cfg.threads = 2;
    e2.cfg.threads = d2.cfg.threads = d2b.cfg.threads = ed2.cfg.threads = d2h.cfg.threads = 2;
    d2m.cfg.threads = 2;
    d1m.cfg.feed = d2m.cfg.feed = MIB; /* QEMU reads data_fd 1 MiB at a time */
    d1b.cfg.feed = d2b.cfg.feed = 32 * MIB;
    d1h.cfg.feed = d2h.cfg.feed = 0; /* vms_decoder_feed_hint() */
    /* Device-like state: page-mapped records, their literal runs hashed and
     * sent from the state buffer (copied into lent memory as they are
     * hashed in output-buffer mode). */
    lib_job em1 = {.cfg = base}, em2 = {.cfg = base}, emd = {.cfg = base},
            eml1 = {.cfg = base}, eml2 = {.cfg = base};
    em1.cfg.src = em2.cfg.src = emd.cfg.src = eml1.cfg.src = eml2.cfg.src = g_dev;
    em1.cfg.out = em2.cfg.out = emd.cfg.out = eml1.cfg.out = eml2.cfg.out = r6;
    em2.cfg.threads = eml2.cfg.threads = 2;
    emd.cfg.discard = 1;
    eml1.cfg.lend = eml2.cfg.lend = 1;
#ifdef BENCH_HAVE_ZSTD
    lim_ctx zc = {.src = g_dev, .len = sub, .rec = MIB, .nt = 1, .level = 1, .dst = r3,
                  .dst_cap = R, .coff = coff, .csz = csz, .nchunks = sub / MIB, .fn = lim_zstd_c};
    lim_ctx zd = zc;
    zd.fn = lim_zstd_d;
    lim_ctx zc2 = zc, zd2l = zd; /* what two threads of raw zstd give on this host */
    zc2.nt = zd2l.nt = 2;
    /* The design's limits: raw zstd plus the raw kernel over its frames. */
    lim_ctx zdh = zd, zch = zc;
    zdh.fn = lim_zstd_dh;
    zch.fn = lim_zstd_ch;
    zdh.path = zch.path = g_best;
    lib_cfg zb = base;
    zb.src = g_dev;
    zb.mode = M_ZSTD;
    zb.out = r2;
    lib_job ze1 = {.cfg = zb}, zd1 = {.cfg = zb}, ze2 = {.cfg = zb}, zd2 = {.cfg = zb},
            zd2h = {.cfg = zb}, zd1h = {.cfg = zb}, zel1 = {.cfg = zb};
    zel1.cfg.lend = 1;
    ze2.cfg.threads = zd2.cfg.threads = zd2h.cfg.threads = 2;
    zd2h.cfg.feed = zd1h.cfg.feed = 0;
#endif
    lim_ctx lc = {.src = g_dev, .len = zsub, .rec = MIB, .nt = 1, .level = 1, .dst = r5,
                  .dst_cap = zR, .coff = zoff, .csz = zsz, .nchunks = zsub / MIB, .fn = lim_deflate};
    lim_ctx ld = lc;
    ld.fn = lim_inflate;
    lib_cfg lbase = base;
    lbase.src = g_dev;
    lbase.len = zsub;
    lbase.mode = M_ZLIB;
    lbase.out = r4;
    lbase.out_cap = zR;
    lib_job le1 = {.cfg = lbase}, ld1 = {.cfg = lbase};

    pitem it[48];
    int n = 0;
#define ITEM(nm, f, c, b) (snprintf(it[n].name, sizeof it[n].name, "%s", nm), it[n].fn = (f), \
                           it[n].ctx = (c), it[n].bytes = (double)(b), n++)
    const int I_LB2 = ITEM("libb2 (1/4 buffer)", lim_run, &lb2, qsub);
    const int I_K1 = ITEM("kernel 1T", lim_run, &k1, sub);
    const int I_K2 = ITEM("kernel 2T", lim_run, &k2, sub);
    const int I_M1 = ITEM("memcpy 1T", lim_run, &m1, sub);
    const int I_M2 = ITEM("memcpy 2T", lim_run, &m2, sub);
    const int I_KC1 = ITEM("kernel+memcpy 1T", lim_run, &kc1, sub);
    const int I_KC2 = ITEM("kernel+memcpy 2T", lim_run, &kc2, sub);
    const int I_E1 = ITEM("encode checksum rnd 1T", enc_job, &e1, sub);
    const int I_ED = ITEM("encode checksum rnd 1T discard-sink", enc_job, &ed, sub);
    const int I_EL1 = ITEM("encode checksum rnd 1T lent-buffer", enc_job, &el1, sub);
    const int I_D1 = ITEM("decode checksum rnd 1T", dec_job, &d1, sub);
    const int I_E2 = ITEM("encode checksum rnd 2T", enc_job, &e2, sub);
    const int I_ED2 = ITEM("encode checksum rnd 2T discard-sink", enc_job, &ed2, sub);
    const int I_EL2 = ITEM("encode checksum rnd 2T lent-buffer", enc_job, &el2, sub);
    const int I_D2 = ITEM("decode checksum rnd 2T", dec_job, &d2, sub);
    const int I_D1B = ITEM("decode checksum rnd 1T feed 32M", dec_job, &d1b, sub);
    const int I_D2B = ITEM("decode checksum rnd 2T feed 32M", dec_job, &d2b, sub);
    const int I_D1H = ITEM("decode checksum rnd 1T feed hint", dec_job, &d1h, sub);
    const int I_D2H = ITEM("decode checksum rnd 2T feed hint", dec_job, &d2h, sub);
    const int I_D1M = ITEM("decode checksum rnd 1T feed 1M", dec_job, &d1m, sub);
    const int I_D2M = ITEM("decode checksum rnd 2T feed 1M", dec_job, &d2m, sub);
    const int I_EM1 = ITEM("encode checksum dev 1T", enc_job, &em1, sub);
    const int I_EM2 = ITEM("encode checksum dev 2T", enc_job, &em2, sub);
    const int I_EMD = ITEM("encode checksum dev 1T discard-sink", enc_job, &emd, sub);
    const int I_EML1 = ITEM("encode checksum dev 1T lent-buffer", enc_job, &eml1, sub);
    const int I_EML2 = ITEM("encode checksum dev 2T lent-buffer", enc_job, &eml2, sub);
#ifdef BENCH_HAVE_ZSTD
    const int I_ZC = ITEM("zstd1-compress dev", lim_run, &zc, sub);
    const int I_ZD = ITEM("zstd1-decompress dev", lim_run, &zd, sub);
    const int I_ZC2 = ITEM("zstd1-compress dev 2T", lim_run, &zc2, sub);
    const int I_ZD2L = ITEM("zstd1-decompress dev 2T", lim_run, &zd2l, sub);
    const int I_ZCH = ITEM("zstd1-compress+kernel dev", lim_run, &zch, sub);
    const int I_ZDH = ITEM("zstd1-decompress+kernel dev", lim_run, &zdh, sub);
    const int I_ZE1 = ITEM("encode zstd dev 1T", enc_job, &ze1, sub);
    const int I_ZEL1 = ITEM("encode zstd dev 1T lent-buffer", enc_job, &zel1, sub);
    const int I_ZD1 = ITEM("decode zstd dev 1T", dec_job, &zd1, sub);
    const int I_ZE2 = ITEM("encode zstd dev 2T", enc_job, &ze2, sub);
    const int I_ZD2 = ITEM("decode zstd dev 2T", dec_job, &zd2, sub);
    const int I_ZD2H = ITEM("decode zstd dev 2T feed hint", dec_job, &zd2h, sub);
    const int I_ZD1H = ITEM("decode zstd dev 1T feed hint", dec_job, &zd1h, sub);
#endif
    const int I_LC = ITEM("zlib1-deflate dev", lim_run, &lc, zsub);
    const int I_LD = ITEM("zlib1-inflate dev", lim_run, &ld, zsub);
    const int I_LE1 = ITEM("encode zlib dev 1T", enc_job, &le1, zsub);
    const int I_LD1 = ITEM("decode zlib dev 1T", dec_job, &ld1, zsub);
#undef ITEM

    /* Streams for the decoders, each checked byte for byte once. */
    lib_job *streams[][6] = {{&e1, &d1, &d2, &d1b, &d1h, &d2h},
#ifdef BENCH_HAVE_ZSTD
                             {&ze1, &zd1, &zd2, &zd2h, &zd1h, NULL},
#endif
                             {&le1, &ld1, NULL, NULL, NULL, NULL}};
    for (size_t k = 0; k < sizeof streams / sizeof streams[0]; k++) {
        lib_job *ej = streams[k][0];
        ej->slen = do_encode(&ej->cfg);
        lib_cfg v = ej->cfg;
        v.verify = 1;
        do_decode(&v, v.out, ej->slen, &ej->st);
        for (int m = 1; m < 6; m++)
            if (streams[k][m])
                streams[k][m]->slen = ej->slen;
    }
    d2b.slen = d1m.slen = d2m.slen = e1.slen;
    /* Output-buffer mode must give the bytes of the sink path. */
    {
        em1.slen = do_encode(&em1.cfg);
        lib_job *lent[][2] = {{&e1, &el1}, {&e1, &el2}, {&em1, &eml1}, {&em1, &eml2},
#ifdef BENCH_HAVE_ZSTD
                              {&ze1, &zel1},
#endif
        };
        uint8_t *tmp = xmalloc(R);
        for (size_t k = 0; k < sizeof lent / sizeof lent[0]; k++) {
            lib_cfg v = lent[k][1]->cfg;
            v.out = tmp;
            size_t len = do_encode(&v);
            if (len != lent[k][0]->slen || memcmp(tmp, lent[k][0]->cfg.out, len) != 0)
                die("paired: output-buffer mode gave other bytes than the sink");
        }
        free(tmp);
    }

    const int rounds = g_reps < 3 ? 3 : g_reps;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++) {
            double c0 = cpu_now(), t0 = now();
            it[i].fn(it[i].ctx);
            double t = now() - t0;
            it[i].gbs[r] = it[i].bytes / t / 1e9;
            it[i].util[r] = (cpu_now() - c0) / t;
        }

    print_header("paired: every item timed once per round, back to back (libb2 1/4 buffer, zlib 1/16)");
    for (int i = 0; i < n; i++) {
        row *w = new_row();
        snprintf(w->name, sizeof w->name, "paired %.80s", it[i].name);
        snprintf(w->group, sizeof w->group, "paired");
        w->bytes = it[i].bytes;
        w->reps = rounds;
        double g[64], u[64];
        memcpy(g, it[i].gbs, sizeof g);
        memcpy(u, it[i].util, sizeof u);
        w->min = w->max = g[0];
        for (int r = 1; r < rounds; r++) {
            w->min = g[r] < w->min ? g[r] : w->min;
            w->max = g[r] > w->max ? g[r] : w->max;
        }
        w->med = median(g, rounds);
        w->util = median(u, rounds);
        if (it[i].fn == dec_job) /* the last round's copies */
            w->copied = (double)((const lib_job *)it[i].ctx)->st.copied / it[i].bytes;
        else if (it[i].fn == enc_job)
            w->copied = (double)((const lib_job *)it[i].ctx)->enc_copied / it[i].bytes;
        print_row(w);
    }

    const double hashgoal = g_best == VMS_B2_PATH_AVX512 ? 4.0 : 2.0;
    struct { const char *what; int a, b; double goal; } want_r[] = {
        {"checksummed encode 1T >= 4x libb2 (2x with AVX2 only)", I_E1, I_LB2, hashgoal},
        {"checksummed verify 1T >= 4x libb2 (2x with AVX2 only)", I_D1, I_LB2, hashgoal},
        {"checksummed encode 1T within 10% of the raw kernel", I_E1, I_K1, 0.9},
        {"checksummed encode 1T within 10% of the raw kernel, then memcpy", I_E1, I_KC1, 0.9},
        {"raw kernel, then memcpy, 1T / libb2 (a copying sink's limit)", I_KC1, I_LB2, hashgoal},
        {"checksummed encode 1T, discarding sink, within 10% of the raw kernel", I_ED, I_K1, 0.9},
        {"checksummed encode 1T, output-buffer mode, >= 4x libb2 (2x with AVX2 only)", I_EL1, I_LB2, hashgoal},
        {"checksummed encode 1T, output-buffer mode, within 10% of the raw kernel", I_EL1, I_K1, 0.9},
        {"checksummed verify 1T within 10% of the raw kernel", I_D1, I_K1, 0.9},
        {"threads: checksummed encode 2T / 1T", I_E2, I_E1, 1.8},
        {"threads: checksummed encode 2T / 1T, discarding sink", I_ED2, I_ED, 1.8},
        {"threads: checksummed encode 2T / 1T, output-buffer mode", I_EL2, I_EL1, 1.8},
        {"threads: checksummed encode 2T / 1T, device-like state (page maps)", I_EM2, I_EM1, 1.8},
        {"threads: checksummed encode 2T / 1T, device-like state, output-buffer mode", I_EML2, I_EML1, 1.8},
        {"device-like encode 1T, output-buffer mode, within 10% of the discarding sink", I_EML1, I_EMD, 0.9},
        {"threads: checksummed verify 2T / 1T (8 MiB feeds)", I_D2, I_D1, 1.8},
        {"threads: checksummed verify 2T / 1T (32 MiB feeds)", I_D2B, I_D1B, 1.8},
        {"threads: checksummed verify 2T / 1T (feeds of vms_decoder_feed_hint)", I_D2H, I_D1H, 1.8},
        {"threads: checksummed verify 2T / 1T (1 MiB feeds, as QEMU reads)", I_D2M, I_D1M, 1.8},
        {"threads: raw kernel 2T / 1T (what this host gives now)", I_K2, I_K1, 1.8},
        {"threads: memcpy 2T / 1T (what this host gives now)", I_M2, I_M1, 1.8},
        {"threads: raw kernel, then memcpy, 2T / 1T (what this host gives now)", I_KC2, I_KC1, 1.8},
#ifdef BENCH_HAVE_ZSTD
        {"zstd encode 1T >= 90% of raw zstd 1 compress", I_ZE1, I_ZC, 0.9},
        {"zstd encode 1T, output-buffer mode, >= 90% of raw zstd 1 compress", I_ZEL1, I_ZC, 0.9},
        {"zstd decode 1T >= 90% of raw zstd decompress", I_ZD1, I_ZD, 0.9},
        {"zstd encode 1T within 10% of raw zstd compress + kernel over its frames", I_ZE1, I_ZCH, 0.9},
        {"zstd decode 1T within 10% of raw kernel over zstd frames + decompress", I_ZD1, I_ZDH, 0.9},
        {"raw zstd compress + kernel / raw zstd compress (the hash's cost)", I_ZCH, I_ZC, 0.9},
        {"raw kernel + zstd decompress / raw zstd decompress (the hash's cost)", I_ZDH, I_ZD, 0.9},
        {"threads: zstd encode 2T / 1T", I_ZE2, I_ZE1, 1.8},
        {"threads: zstd decode 2T / 1T", I_ZD2, I_ZD1, 1.8},
        {"zstd decode 2T (feed hint) >= 90% of raw zstd decompress on 1 thread", I_ZD2H, I_ZD, 0.9},
        {"zstd decode 1T (feed hint) >= 90% of raw zstd decompress", I_ZD1H, I_ZD, 0.9},
        {"threads: zstd decode 2T (feed hint) / 1T", I_ZD2H, I_ZD1, 1.8},
        {"threads: raw zstd compress 2T / 1T (what this host gives now)", I_ZC2, I_ZC, 1.8},
        {"threads: raw zstd decompress 2T / 1T (what this host gives now)", I_ZD2L, I_ZD, 1.8},
#endif
        {"zlib encode 1T >= 90% of raw deflate 1", I_LE1, I_LC, 0.9},
        {"zlib decode 1T >= 90% of raw inflate", I_LD1, I_LD, 0.9},
    };
    printf("\n%-72s %7s %-15s\n", "paired ratio", "median", "(min-max)");
    for (size_t k = 0; k < sizeof want_r / sizeof want_r[0]; k++) {
        pratio *pr = &g_pr[g_npr++];
        double v[64];
        for (int r = 0; r < rounds; r++)
            v[r] = it[want_r[k].a].gbs[r] / it[want_r[k].b].gbs[r];
        snprintf(pr->what, sizeof pr->what, "%s", want_r[k].what);
        pr->a = want_r[k].a;
        pr->b = want_r[k].b;
        pr->goal = want_r[k].goal;
        pr->min = pr->max = v[0];
        for (int r = 1; r < rounds; r++) {
            pr->min = v[r] < pr->min ? v[r] : pr->min;
            pr->max = v[r] > pr->max ? v[r] : pr->max;
        }
        pr->med = median(v, rounds);
        printf("%-72s %7.2f (%.2f-%.2f)\n", pr->what, pr->med, pr->min, pr->max);
    }
    fflush(stdout);
    free(coff);
    free(csz);
    free(zoff);
    free(zsz);
    free(r2);
    free(r3);
    free(r6);
    free(r7);
    free(r4);
    free(r5);
}

/* ---- memory -------------------------------------------------------------------------------- */

typedef struct mem_row {
    char name[64];
    int threads;
    double gib;            /* stream state in GiB */
    uint64_t peak;         /* vms_decoder_peak_memory */
    long long rss_delta;   /* VmHWM after - VmRSS before, bytes; -1 = n/a */
    double seconds;
    uint64_t stream_bytes;
} mem_row;

static mem_row g_mem[16];
static size_t g_nmem;

/* Encoder sink that stages stream bytes and feeds a decoder every 8 MiB. */
typedef struct pipe_ctx {
    uint8_t *stage;
    size_t fill, cap;
    vms_decoder *dec;
    int last_rc;
    uint64_t total;
} pipe_ctx;

static int pipe_flush(pipe_ctx *p)
{
    if (p->fill == 0)
        return 0;
    p->last_rc = vms_decoder_feed(p->dec, p->stage, p->fill, NULL);
    p->total += p->fill;
    p->fill = 0;
    return p->last_rc < 0 ? -1 : 0;
}

static int sink_pipe(void *ctx, const void *buf, size_t len)
{
    pipe_ctx *p = ctx;
    const uint8_t *b = buf;
    while (len > 0) {
        size_t n = p->cap - p->fill < len ? p->cap - p->fill : len;
        memcpy(p->stage + p->fill, b, n);
        p->fill += n;
        b += n;
        len -= n;
        if (p->fill == p->cap && pipe_flush(p) != 0)
            return -1;
    }
    return 0;
}

static long long proc_status_kib(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long v = -1;
    if (!f)
        return -1;
    size_t kl = strlen(key);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            v = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return v;
}

static int reset_hwm(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (!f)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static void memory_one(enum mode m, int nt, int copies, uint8_t *stage)
{
    lib_cfg c = {.src = g_dev, .len = g_size, .copies = copies, .mode = m, .threads = nt,
                 .record = MIB, .feed = FEED_PIECE, .elide = 1};
    dec_stats st = {.cfg = &c};
    pipe_ctx p = {.stage = stage, .cap = FEED_PIECE, .last_rc = VMS_OK};
    int hwm_ok = reset_hwm() == 0;
    long long rss0 = proc_status_kib("VmRSS");
    double t0 = now();
    p.dec = make_decoder(&c, &st);
    vms_encoder *e = make_encoder(&c, sink_pipe, &p);
    for (int k = 0; k < copies; k++) {
        int rc = vms_encoder_write(e, 0, (uint64_t)k * g_size, 0, g_dev, g_size);
        if (rc != VMS_OK) {
            check_dec(p.dec, p.last_rc, "vms_decoder_feed (streamed)");
            check_enc(e, rc, "vms_encoder_write (streamed)");
        }
    }
    int rc = vms_encoder_finish(e);
    if (rc == VMS_OK && pipe_flush(&p) != 0)
        rc = VMS_E_IO;
    check_dec(p.dec, p.last_rc, "vms_decoder_feed (streamed)");
    check_enc(e, rc, "vms_encoder_finish (streamed)");
    vms_encoder_free(e);
    finish_decode(p.dec, p.last_rc, &st, &c);
    double t = now() - t0;
    long long hwm = proc_status_kib("VmHWM");
    mem_row *r = &g_mem[g_nmem++];
    snprintf(r->name, sizeof r->name, "%s %s %dT %dx%s", mode_names[m], "dev", nt, copies,
             SZ(g_size));
    r->threads = nt;
    r->gib = (double)g_size * copies / (double)GIB;
    r->peak = st.peak;
    r->rss_delta = hwm_ok && rss0 >= 0 && hwm >= 0 ? (hwm - rss0) * 1024 : -1;
    r->seconds = t;
    r->stream_bytes = p.total;
    printf("%-34s %8.3f GiB %12" PRIu64 " B %12lld B %7.2f s %7.3f GB/s\n", r->name, r->gib,
           r->peak, r->rss_delta, t, (double)g_size * copies / t / 1e9);
    fflush(stdout);
}

static void run_memory(void)
{
    printf("\n== decoder peak memory: encoder -> 8 MiB staging -> decoder, 1 MiB records, "
           "device-like state\n%-34s %12s %14s %14s %9s %12s\n", "stream", "state",
           "decoder peak", "RSS delta", "time", "enc+dec");
    uint8_t *stage = xmalloc(FEED_PIECE);
    memset(stage, 0, FEED_PIECE);
    const enum mode modes[] = {M_SUM, M_SUM, M_ZSTD, M_SIGN};
    const int threads[] = {1, 2, 1, 1};
    for (size_t i = 0; i < 4; i++) {
#ifndef BENCH_HAVE_ZSTD
        if (modes[i] == M_ZSTD)
            continue;
#endif
        if (modes[i] == M_SIGN && !g_have_ed25519)
            continue;
        memory_one(modes[i], threads[i], 1, stage);
        memory_one(modes[i], threads[i], 4, stage);
    }
    free(stage);
}

/* ---- targets ------------------------------------------------------------------------------- */

typedef struct target {
    char what[160];
    double value, goal, lo, hi; /* lo-hi: range over paired rounds (0 = n/a) */
    int met;
} target;
static target g_tg[48];
static size_t g_ntg;

static void target_ratio(const char *what, const char *rowname, int which, double goal)
{
    const row *r = find_row(rowname);
    if (!r)
        return;
    double v = which == 1 ? r->ratio : r->ratio2;
    const char *lim = which == 1 ? r->limit : r->limit2;
    if (!lim[0])
        return;
    target *t = &g_tg[g_ntg++];
    snprintf(t->what, sizeof t->what, "%s: %s / %s", what, rowname, lim);
    t->value = v;
    t->goal = goal;
    t->met = v >= goal;
}

static void target_mem(const char *mode_t)
{
    const mem_row *one = NULL, *four = NULL;
    char a[64], b[64];
    snprintf(a, sizeof a, "%s 1x%s", mode_t, SZ(g_size));
    snprintf(b, sizeof b, "%s 4x%s", mode_t, SZ(g_size));
    for (size_t i = 0; i < g_nmem; i++) {
        if (strcmp(g_mem[i].name, a) == 0)
            one = &g_mem[i];
        if (strcmp(g_mem[i].name, b) == 0)
            four = &g_mem[i];
    }
    if (!one || !four || one->peak == 0)
        return;
    target *t = &g_tg[g_ntg++];
    snprintf(t->what, sizeof t->what, "decode peak memory %s: 4x / 1x stream", mode_t);
    t->value = (double)four->peak / (double)one->peak;
    t->goal = 1.05;
    t->met = t->value <= t->goal;
}

static void targets_from_rows(void);

static void run_targets(void)
{
    for (size_t i = 0; i < g_npr; i++) {
        target *t = &g_tg[g_ntg++];
        snprintf(t->what, sizeof t->what, "%.140s [paired]", g_pr[i].what);
        t->value = g_pr[i].med;
        t->lo = g_pr[i].min;
        t->hi = g_pr[i].max;
        t->goal = g_pr[i].goal;
        t->met = t->value >= t->goal;
    }
    if (!g_npr)
        targets_from_rows();
    target_mem("checksum dev 1T");
    target_mem("checksum dev 2T");
    target_mem("zstd dev 1T");
    target_mem("ed25519 dev 1T");
    if (!g_ntg)
        return;
    printf("\n== issue 10 targets (paired ratios: median (min-max) over rounds)\n");
    for (size_t i = 0; i < g_ntg; i++) {
        char range[40] = "";
        if (g_tg[i].hi > 0)
            snprintf(range, sizeof range, " (%.2f-%.2f)", g_tg[i].lo, g_tg[i].hi);
        printf("%-5s %6.2f%-13s goal %s %.2f  %s\n", g_tg[i].met ? "MET" : "MISS", g_tg[i].value,
               range, strstr(g_tg[i].what, "memory") ? "<=" : ">=", g_tg[i].goal, g_tg[i].what);
    }
}

/* Without the paired section: ratios of rows measured at different times. */
static void targets_from_rows(void)
{
    const double hashgoal = g_best == VMS_B2_PATH_AVX512 ? 4.0 : 2.0;
    target_ratio("encode >= 4x libb2 (2x AVX2-only)", "encode checksum rnd 1T 1M", 2, hashgoal);
    target_ratio("verify >= 4x libb2 (2x AVX2-only)", "decode checksum rnd 1T 1M", 2, hashgoal);
    target_ratio("encode within 10% of kernel", "encode checksum rnd 1T 1M", 1, 0.9);
    target_ratio("encode (no sink copy) within 10% of kernel",
                 "encode checksum rnd 1T 1M discard-sink", 1, 0.9);
    target_ratio("verify within 10% of kernel", "decode checksum rnd 1T 1M", 1, 0.9);
    target_ratio("zstd encode >= 90% raw", "encode zstd dev 1T 1M", 1, 0.9);
    target_ratio("zstd decode >= 90% raw", "decode zstd dev 1T 1M", 1, 0.9);
    const char *zx = zlib_bytes() != g_size ? " (1/4 buffer)" : NULL;
    char zn[80];
    lib_name(zn, sizeof zn, "encode", M_ZLIB, g_dev, 1, MIB, zx);
    target_ratio("zlib encode >= 90% raw", zn, 1, 0.9);
    lib_name(zn, sizeof zn, "decode", M_ZLIB, g_dev, 1, MIB, zx);
    target_ratio("zlib decode >= 90% raw", zn, 1, 0.9);
    target_ratio("threads: encode 2T/1T >= 1.8", "encode checksum rnd 2T 1M", 2, 1.8);
    target_ratio("threads: decode 2T/1T >= 1.8", "decode checksum rnd 2T 1M", 2, 1.8);
    target_ratio("threads: zstd encode 2T/1T >= 1.8", "encode zstd dev 2T 1M", 2, 1.8);
    target_ratio("threads: zstd decode 2T/1T >= 1.8", "decode zstd dev 2T 1M", 2, 1.8);
    lib_name(zn, sizeof zn, "decode", M_SUM, g_rnd, 2, 4 * MIB, " feed 68M");
    target_ratio("threads: decode 2T/1T >= 1.8 (feed 8 records/thread)", zn, 2, 1.8);
    {
        /* the kernel's own scaling on this host right now */
        char n1[64], n2[64];
        kernel_name(n1, sizeof n1, 1, MIB);
        kernel_name(n2, sizeof n2, 2, MIB);
        const row *k1 = find_row(n1), *k2 = find_row(n2);
        if (k1 && k2) {
            target *t = &g_tg[g_ntg++];
            snprintf(t->what, sizeof t->what, "reference: raw kernel 2T/1T on this host now");
            t->value = k2->med / k1->med;
            t->goal = 1.8;
            t->met = t->value >= t->goal;
        }
    }
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void cpu_model(char *buf, size_t cap)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    snprintf(buf, cap, "unknown");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0) {
            char *p = strchr(line, ':');
            if (p) {
                p += 2;
                p[strcspn(p, "\n")] = 0;
                snprintf(buf, cap, "%s", p);
            }
            break;
        }
    fclose(f);
}

static void write_json(const char *path, double load0[3], double load1[3], double secs)
{
    FILE *f = fopen(path, "w");
    char cpu[256];
    if (!f)
        die("cannot write %s: %s", path, strerror(errno));
    cpu_model(cpu, sizeof cpu);
    fprintf(f, "{\n  \"meta\": {\"size\": %zu, \"reps\": %d, \"statistic\": \"median\", ", g_size,
            g_reps);
    fprintf(f, "\"hash_path\": ");
    json_str(f, vms_b2_path_name(g_best));
    fprintf(f, ", \"cpu\": ");
    json_str(f, cpu);
    fprintf(f, ", \"online_cpus\": %ld, \"buildtype\": ", sysconf(_SC_NPROCESSORS_ONLN));
    json_str(f, BENCH_BUILDTYPE);
    fprintf(f, ", \"optimization\": ");
    json_str(f, BENCH_OPTIMIZATION);
    fprintf(f, ", \"library_version\": ");
    json_str(f, vms_version());
    fprintf(f, ",\n    \"loadavg_start\": [%.2f, %.2f, %.2f], \"loadavg_end\": [%.2f, %.2f, %.2f], "
               "\"seconds\": %.1f, \"zlib_bytes\": %zu, \"feed\": %zu},\n",
            load0[0], load0[1], load0[2], load1[0], load1[1], load1[2], secs, zlib_bytes(),
            FEED_PIECE);
    fprintf(f, "  \"rows\": [\n");
    for (size_t i = 0; i < g_nrows; i++) {
        const row *r = &g_rows[i];
        fprintf(f, "    {\"name\": ");
        json_str(f, r->name);
        fprintf(f, ", \"group\": ");
        json_str(f, r->group);
        fprintf(f, ", \"op\": ");
        json_str(f, r->op);
        fprintf(f, ", \"mode\": ");
        json_str(f, r->mode);
        fprintf(f, ", \"data\": ");
        json_str(f, r->data);
        fprintf(f, ", \"threads\": %d, \"record\": %zu, \"piece\": %zu, \"bytes\": %.0f, "
                   "\"reps\": %d, \"gbs_median\": %.4f, \"gbs_min\": %.4f, \"gbs_max\": %.4f, "
                   "\"cpu_per_wall\": %.3f, \"limit\": ",
                r->threads, r->record, r->piece, r->bytes, r->reps, r->med, r->min, r->max,
                r->util);
        json_str(f, r->limit);
        fprintf(f, ", \"ratio\": %.4f, \"limit2\": ", r->ratio);
        json_str(f, r->limit2);
        fprintf(f, ", \"ratio2\": %.4f, \"stream_per_raw\": %.5f, \"decoder_peak\": %" PRIu64,
                r->ratio2, r->csize, r->peak);
        if (r->copied >= 0)
            fprintf(f, ", \"copied_per_raw\": %.4f", r->copied);
        else
            fprintf(f, ", \"copied_per_raw\": null");
        fprintf(f, "}%s\n", i + 1 < g_nrows ? "," : "");
    }
    fprintf(f, "  ],\n  \"sections\": [\n");
    for (size_t i = 0; i < g_nsect; i++) {
        const sect *x = &g_sect[i];
        fprintf(f, "    {\"name\": ");
        json_str(f, x->name);
        fprintf(f, ", \"wall_s\": %.2f, \"own_cpu_s\": %.2f, \"all_busy_cpu_s\": %.2f, "
                   "\"steal_cpu_s\": %.2f}%s\n", x->wall, x->own, x->busy, x->steal,
                i + 1 < g_nsect ? "," : "");
    }
    fprintf(f, "  ],\n  \"memory\": [\n");
    for (size_t i = 0; i < g_nmem; i++) {
        const mem_row *m = &g_mem[i];
        fprintf(f, "    {\"name\": ");
        json_str(f, m->name);
        fprintf(f, ", \"threads\": %d, \"state_gib\": %.3f, \"decoder_peak\": %" PRIu64
                   ", \"rss_delta\": %lld, \"seconds\": %.3f, \"stream_bytes\": %" PRIu64 "}%s\n",
                m->threads, m->gib, m->peak, m->rss_delta, m->seconds, m->stream_bytes,
                i + 1 < g_nmem ? "," : "");
    }
    fprintf(f, "  ],\n  \"targets\": [\n");
    for (size_t i = 0; i < g_ntg; i++) {
        fprintf(f, "    {\"what\": ");
        json_str(f, g_tg[i].what);
        fprintf(f, ", \"value\": %.4f, \"min\": %.4f, \"max\": %.4f, \"goal\": %.2f, "
                   "\"met\": %s}%s\n", g_tg[i].value, g_tg[i].lo, g_tg[i].hi, g_tg[i].goal,
                g_tg[i].met ? "true" : "false", i + 1 < g_ntg ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0)
        die("cannot write %s", path);
}

/* ---- main ------------------------------------------------------------------------------------ */

static size_t parse_size(const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        die("bad size '%s'", s);
    switch (*end) {
    case 'k': case 'K': v <<= 10; end++; break;
    case 'm': case 'M': v <<= 20; end++; break;
    case 'g': case 'G': v <<= 30; end++; break;
    default: break;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end)
        die("bad size '%s'", s);
    return (size_t)v;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: vmsbench [--size BYTES] [--reps N] [--json FILE] [--only LIST]\n"
               "  --size BYTES  state per buffer (K/M/G suffixes; default 1G; min 32M)\n"
               "  --reps N      repetitions per figure, median reported (default 5)\n"
               "  --json FILE   also write every figure as JSON\n"
               "  --only LIST   comma list of limits,library,sweep,batch,levels,paired,memory\n");
}

static int want(const char *only, const char *g)
{
    if (!only)
        return 1;
    size_t n = strlen(g);
    for (const char *p = only; (p = strstr(p, g)) != NULL; p += n)
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ','))
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    const char *json = NULL, *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--size") == 0 && i + 1 < argc)
            g_size = parse_size(argv[++i]);
        else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
            g_reps = atoi(argv[++i]);
        else if (strcmp(argv[i], "--json") == 0 && i + 1 < argc)
            json = argv[++i];
        else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
            only = argv[++i];
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    g_size = g_size / (4 * MIB) * (4 * MIB);
    if (g_size < 32 * MIB)
        die("--size must be at least 32M");
    if (g_reps < 1 || g_reps > 64)
        die("--reps must be 1..64");

    double load0[3] = {0}, load1[3] = {0};
    getloadavg(load0, 3);
    const double t_start = now();
    g_best = vms_b2_best_path();
    char cpu[256];
    cpu_model(cpu, sizeof cpu);
    printf("vmsbench: libvmstream %s, %s build (-O%s), %s, %ld CPUs online\n", vms_version(),
           BENCH_BUILDTYPE, BENCH_OPTIMIZATION, cpu, sysconf(_SC_NPROCESSORS_ONLN));
    printf("hash path: %s (vms_b2_path_name(vms_b2_best_path())); state %s per buffer; "
           "median of %d reps (min-max); GB/s = 1e9 B/s of raw state; cpu = CPU s per wall s\n",
           vms_b2_path_name(g_best), SZ(g_size), g_reps);
    printf("load average at start: %.2f %.2f %.2f\n", load0[0], load0[1], load0[2]);

    /* Buffers, all touched before any timing. */
    g_dev = xmalloc(g_size);
    g_rnd = xmalloc(g_size);
    g_out_cap = g_size + g_size / 32 + 64 * MIB;
    g_out = xmalloc(g_out_cap);
    memset(g_out, 0, g_out_cap);
    fill_device_like(g_dev, g_size, 1);
    uint64_t s = 2;
    fill_random(g_rnd, g_size, &s);
    if (vms_random_bytes(g_mac_key, sizeof g_mac_key) != 0)
        die("no random bytes for the MAC key");
    vms_key_id(g_mac_key, sizeof g_mac_key, g_mac_id);
#ifdef BENCH_HAVE_OPENSSL
    g_have_ed25519 = vms_ed25519_keygen(g_ed_priv, g_ed_pub) == VMS_OK;
#endif

    const int lib = want(only, "library") || want(only, "sweep") || want(only, "batch");
    sect *x;
#define SECTION(name, call) (x = sect_begin(name), call, sect_end(x))
    if (want(only, "limits") || lib || want(only, "levels"))
        SECTION("limits", run_limits(want(only, "levels"), want(only, "sweep")));
    if (want(only, "library"))
        SECTION("library", run_library());
    if (want(only, "sweep"))
        SECTION("sweep", run_sweep());
    if (want(only, "batch"))
        SECTION("batch", run_batch());
    if (want(only, "paired"))
        SECTION("paired", run_paired());
    if (want(only, "memory"))
        SECTION("memory", run_memory());
#undef SECTION
    run_targets();

    getloadavg(load1, 3);
    const double secs = now() - t_start;
    printf("\nload average at end: %.2f %.2f %.2f; %.0f s\n", load1[0], load1[1], load1[2], secs);
    if (json) {
        write_json(json, load0, load1, secs);
        printf("wrote %s\n", json);
    }
    free(g_dev);
    free(g_rnd);
    free(g_out);
    free(g_rows);
    return 0;
}
