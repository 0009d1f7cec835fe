/* random.c - stream ids from the operating system's CSPRNG. */
#include <errno.h>
#include <sys/random.h>

#include "internal.h"

int vms_random_bytes(uint8_t *out, size_t n)
{
    while (n > 0) {
        ssize_t r = getrandom(out, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        out += r;
        n -= (size_t)r;
    }
    return 0;
}
