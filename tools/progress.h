/* progress.h - a progress line on stderr for long-running subcommands.
 *
 * Shown only when stderr is a terminal and not disabled (--quiet): bytes
 * done, rate, and the percentage and ETA when the total is known.  Redrawn
 * at most four times a second and erased by progress_end(). */
#ifndef VMSTREAM_PROGRESS_H
#define VMSTREAM_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

typedef struct cli_progress {
    bool enabled;
    bool drawn;        /* a line is currently on the terminal */
    const char *label; /* e.g. "decode" */
    uint64_t total;    /* 0 = unknown */
    uint64_t done;
    double start;      /* monotonic seconds */
    double last;       /* time of the last redraw */
    int width;         /* characters of the last line drawn */
} cli_progress;

/* quiet disables it; total 0 means unknown. */
void progress_begin(cli_progress *p, const char *label, uint64_t total, bool quiet);
/* Records done bytes and redraws if ~250 ms passed since the last redraw. */
void progress_update(cli_progress *p, uint64_t done);
/* Erases the line (if drawn) and disables further updates. */
void progress_end(cli_progress *p);
/* Erases the line of the active progress meter, if any (before messages). */
void progress_clear_active(void);

#endif
