/* replay.c - runs inputs through the harness functions without libFuzzer.
 *
 *   vmsfuzz-replay [--mutate N] HARNESS PATH...
 *
 * HARNESS is decode, decode_mutator, roundtrip, descriptor_text,
 * descriptor_binary or keys.  Each PATH is a file or a directory (its
 * regular files, non-recursive; README* and dotfiles skipped).  Every input
 * runs through the same function the fuzzer calls; an invariant violation
 * aborts.  For decode_mutator, every input that the production decoder
 * accepts must also come back byte-identical from the mutator's
 * parse/restamp/serialise path, and --mutate N additionally runs N
 * structure-aware mutations of each input through the harness (a self-test
 * of the custom mutator; deterministic).  Each input gets 60 s (SIGALRM)
 * and runs in a child process, so every failing input is listed ("FAIL:
 * ...") and the exit status is 1 if any failed; VMSFUZZ_NOFORK=1 runs them
 * in-process.  This is the regression test of the normal build (gcc or
 * clang). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fuzz.h"

typedef int (*harness_fn)(const uint8_t *, size_t);

static const struct {
    const char *name;
    harness_fn fn;
} harnesses[] = {
    {"decode", vmsfuzz_decode},
    {"decode_mutator", vmsfuzz_decode_mutator},
    {"roundtrip", vmsfuzz_roundtrip},
    {"descriptor_text", vmsfuzz_descriptor_text},
    {"descriptor_binary", vmsfuzz_descriptor_binary},
    {"keys", vmsfuzz_keys},
    {"b2many", vmsfuzz_b2many},
};

static const char *hname;
static harness_fn hfn;
static unsigned long mutate_n, ninputs, nmutants;
static bool nofork_counts; /* counters are kept in-process (no fork) */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 4096, n = 0;
    uint8_t *p = malloc(cap);
    for (;;) {
        if (!p) {
            fprintf(stderr, "out of memory reading %s\n", path);
            exit(1);
        }
        n += fread(p + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        p = realloc(p, cap);
    }
    if (ferror(f)) {
        perror(path);
        exit(1);
    }
    fclose(f);
    *len = n;
    return p;
}

static void restamp_identity(const char *path, const uint8_t *d, size_t n)
{
    vf_decode_cfg cfg;
    vf_decode_cfg_default(&cfg);
    cfg.mac_key = cfg.ed_key = true;
    cfg.lim[VMS_LIMIT_BUFFERED] = 4u << 20;
    vf_decode_result res;
    vf_decode(d, n, &cfg, &res);
    if (res.rc != VMS_END)
        return;
    uint8_t *c = malloc(n ? n : 1);
    VF_CHECK(c != NULL, "malloc");
    memcpy(c, d, n);
    size_t m = vmsfuzz_stream_restamp(c, n, n);
    VF_CHECK(m == n && memcmp(c, d, n) == 0,
             "%s: the mutator's restamp changes a genuine stream (%zu -> %zu bytes)", path, n,
             m);
    free(c);
}

static void run_in_process(const char *path);
static unsigned long nfailed;

/* Each input runs in a child process, so one failure does not hide the
 * next (VMSFUZZ_NOFORK=1 runs them in-process, for a debugger). */
static void run_one(const char *path)
{
    static int nofork = -1;
    if (nofork < 0)
        nofork = getenv("VMSFUZZ_NOFORK") != NULL;
    if (nofork) {
        run_in_process(path);
        return;
    }
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        exit(1);
    }
    if (pid == 0) {
        run_in_process(path);
        exit(0); /* atexit handlers: leak check, coverage profile */
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            perror("waitpid");
            exit(1);
        }
    }
    ninputs++;
    nmutants += mutate_n && hfn == vmsfuzz_decode_mutator ? mutate_n : 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        nfailed++;
        if (WIFSIGNALED(st))
            printf("FAIL: %s %s (signal %d)\n", hname, path, WTERMSIG(st));
        else
            printf("FAIL: %s %s (exit %d)\n", hname, path, WEXITSTATUS(st));
    }
}

static void run_in_process(const char *path)
{
    size_t n;
    uint8_t *d = read_file(path, &n);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    alarm(60);
    hfn(d, n);
    if (hfn == vmsfuzz_decode_mutator) {
        restamp_identity(path, d, n);
        size_t cap = n * 2 + 65536;
        uint8_t *m = malloc(cap);
        VF_CHECK(m != NULL, "malloc");
        for (unsigned long k = 0; k < mutate_n; k++) {
            memcpy(m, d, n);
            vf_simple_mutate_seed(k * 31 + n);
            size_t mn = vmsfuzz_stream_mutate(m, n, cap, (unsigned)(k + 1), vf_simple_mutate);
            VF_CHECK(mn <= cap, "mutator returned %zu > %zu", mn, cap);
            vmsfuzz_decode_mutator(m, mn);
            if (nofork_counts)
                nmutants++;
        }
        free(m);
    }
    alarm(0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (s > 5.0)
        printf("slow: %s %s took %.1f s\n", hname, path, s);
    free(d);
    if (nofork_counts)
        ninputs++;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode)) {
        run_one(path);
        return;
    }
    DIR *dir = opendir(path);
    if (!dir) {
        perror(path);
        exit(1);
    }
    char **names = NULL;
    size_t nn = 0, cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "README", 6) == 0)
            continue;
        if (nn == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof *names);
            if (!names)
                exit(1);
        }
        size_t len = strlen(path) + strlen(e->d_name) + 2;
        names[nn] = malloc(len);
        if (!names[nn])
            exit(1);
        snprintf(names[nn], len, "%s/%s", path, e->d_name);
        nn++;
    }
    closedir(dir);
    if (nn)
        qsort(names, nn, sizeof *names, cmp_str);
    for (size_t i = 0; i < nn; i++) {
        struct stat fs;
        if (stat(names[i], &fs) == 0 && S_ISREG(fs.st_mode))
            run_one(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    int a = 1;
    if (a + 1 < argc && strcmp(argv[a], "--mutate") == 0) {
        mutate_n = strtoul(argv[a + 1], NULL, 10);
        a += 2;
    }
    if (argc - a < 2) {
        fprintf(stderr, "usage: %s [--mutate N] HARNESS PATH...\n", argv[0]);
        return 2;
    }
    nofork_counts = getenv("VMSFUZZ_NOFORK") != NULL;
    hname = argv[a++];
    for (size_t i = 0; i < sizeof harnesses / sizeof harnesses[0]; i++)
        if (strcmp(harnesses[i].name, hname) == 0)
            hfn = harnesses[i].fn;
    if (!hfn) {
        fprintf(stderr, "unknown harness '%s'\n", hname);
        return 2;
    }
    for (; a < argc; a++)
        run_path(argv[a]);
    printf("%s: replayed %lu inputs", hname, ninputs);
    if (nmutants)
        printf(" and %lu mutants", nmutants);
    if (nfailed) {
        printf(", %lu FAILED\n", nfailed);
        return 1;
    }
    printf(", no invariant violated\n");
    return 0;
}
