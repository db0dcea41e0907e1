#include "randbytes.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

/* getrandom without flags waits for the pool once at boot, never after; a
 * signal may cut it short, and a read past 256 bytes may come in parts. */
int randbytes(void *buf, size_t len)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom(p + got, len - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}
