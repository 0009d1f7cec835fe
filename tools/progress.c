/* progress.c - the stderr progress line (see progress.h). */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define REDRAW_INTERVAL 0.25 /* seconds */

/* The meter currently drawing, so error messages can erase its line. */
static cli_progress *active;

static double now_seconds(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return 0.0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "123.4 MiB" style, into out. */
static void human_bytes(char *out, size_t outlen, uint64_t n)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, outlen, "%llu B", (unsigned long long)n);
    else
        snprintf(out, outlen, "%.1f %s", v, units[u]);
}

static void erase(cli_progress *p)
{
    if (!p->drawn)
        return;
    /* Carriage return, blanks over the old text, carriage return. */
    fprintf(stderr, "\r%*s\r", p->width, "");
    fflush(stderr);
    p->drawn = false;
    p->width = 0;
}

static void draw(cli_progress *p, double t)
{
    char done[32], total[32], line[160];
    double elapsed = t - p->start;
    double rate = elapsed > 0.0 ? (double)p->done / elapsed : 0.0;
    human_bytes(done, sizeof done, p->done);
    int n;
    if (p->total > 0) {
        human_bytes(total, sizeof total, p->total);
        double pct = 100.0 * (double)p->done / (double)p->total;
        if (pct > 100.0)
            pct = 100.0;
        char eta[32] = "--:--";
        if (rate > 0.0 && p->done <= p->total) {
            unsigned long s = (unsigned long)((double)(p->total - p->done) / rate + 0.5);
            if (s >= 3600)
                snprintf(eta, sizeof eta, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
            else
                snprintf(eta, sizeof eta, "%lu:%02lu", s / 60, s % 60);
        }
        n = snprintf(line, sizeof line, "%s: %s / %s (%.0f%%), %.1f MB/s, ETA %s",
                     p->label, done, total, pct, rate / 1e6, eta);
    } else {
        n = snprintf(line, sizeof line, "%s: %s, %.1f MB/s", p->label, done, rate / 1e6);
    }
    if (n < 0)
        return;
    if (n >= (int)sizeof line)
        n = (int)sizeof line - 1;
    /* Pad over a longer previous line. */
    int pad = p->width > n ? p->width - n : 0;
    fprintf(stderr, "\r%s%*s", line, pad, "");
    fflush(stderr);
    p->drawn = true;
    p->width = n + pad;
}

void progress_begin(cli_progress *p, const char *label, uint64_t total, bool quiet)
{
    memset(p, 0, sizeof *p);
    p->label = label;
    p->total = total;
    p->enabled = !quiet && isatty(STDERR_FILENO) == 1;
    if (p->enabled) {
        p->start = now_seconds();
        p->last = p->start;
        active = p;
    }
}

void progress_update(cli_progress *p, uint64_t done)
{
    if (!p || !p->enabled)
        return;
    p->done = done;
    double t = now_seconds();
    if (t - p->last < REDRAW_INTERVAL)
        return;
    p->last = t;
    draw(p, t);
}

void progress_end(cli_progress *p)
{
    if (!p)
        return;
    erase(p);
    p->enabled = false;
    if (active == p)
        active = NULL;
}

void progress_clear_active(void)
{
    if (active)
        erase(active);
}
