/* standalone.c - a plain main() for one harness, for AFL++ and for
 * reproducing a crash without libFuzzer.
 *
 *   fuzz_<name>_standalone [FILE...]
 *
 * runs LLVMFuzzerTestOneInput on each FILE, or on standard input when no
 * FILE is given (AFL++ without @@).  Under afl-clang-fast it uses AFL++'s
 * persistent mode (__AFL_LOOP) and shared-memory test cases.  Link it with
 * one harness compiled with -DVMSFUZZ_ENTRY. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT (1u << 22)

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

static void run_stream(FILE *f)
{
    uint8_t *buf = malloc(MAX_INPUT);
    if (!buf) {
        perror("malloc");
        exit(1);
    }
    size_t n = fread(buf, 1, MAX_INPUT, f);
    LLVMFuzzerTestOneInput(buf, n);
    free(buf);
}

int main(int argc, char **argv)
{
#ifdef __AFL_FUZZ_TESTCASE_LEN
    if (argc < 2) {
        __AFL_INIT();
        unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
        while (__AFL_LOOP(10000)) {
            size_t len = (size_t)__AFL_FUZZ_TESTCASE_LEN;
            uint8_t *copy = malloc(len ? len : 1);
            if (!copy)
                abort();
            memcpy(copy, buf, len);
            LLVMFuzzerTestOneInput(copy, len);
            free(copy);
        }
        return 0;
    }
#endif
    if (argc < 2) {
        run_stream(stdin);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 1;
        }
        run_stream(f);
        fclose(f);
        printf("ok %s\n", argv[i]);
    }
    return 0;
}
