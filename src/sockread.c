#include "sockread.h"

#include <errno.h>
#include <unistd.h>
#include <event2/buffer.h>

/* The most one read takes. */
#define SOCKREAD_MAX 16384

ptrdiff_t sockread(struct evbuffer *in, evutil_socket_t fd, size_t max)
{
    /* Read into the stack, then appended: reading into the evbuffer's own
     * space would make it allocate a chain of max bytes for every read into
     * an empty input (one per request and one per answer), where a message
     * of a few hundred bytes takes one small chain. */
    char buf[SOCKREAD_MAX];
    ssize_t n = read(fd, buf, max < sizeof buf ? max : sizeof buf);
    if (n == 0)
        return SOCKREAD_EOF;
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? SOCKREAD_AGAIN : SOCKREAD_ERROR;
    /* A bufferevent keeps its input's end frozen against other writers; the
     * caller is the reader it would have been. */
    evbuffer_unfreeze(in, 0);
    int rc = evbuffer_add(in, buf, (size_t)n);
    evbuffer_freeze(in, 0);
    if (rc < 0) {
        errno = ENOMEM;
        return SOCKREAD_ERROR;
    }
    return n;
}
