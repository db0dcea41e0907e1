#include "sockread.h"

#include <errno.h>
#include <sys/uio.h>
#include <event2/buffer.h>

ptrdiff_t sockread(struct evbuffer *in, evutil_socket_t fd, size_t max)
{
    /* A bufferevent keeps its input's end frozen against other writers; the
     * caller is the reader it would have been. */
    evbuffer_unfreeze(in, 0);
    struct evbuffer_iovec v[2];
    int nv = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2);
    ptrdiff_t result;
    if (nv < 1) {
        errno = ENOMEM;
        result = SOCKREAD_ERROR;
    } else {
        struct iovec iov[2];
        size_t room = 0;
        for (int i = 0; i < nv; i++) {
            size_t take = v[i].iov_len < max - room ? v[i].iov_len : max - room;
            iov[i] = (struct iovec){v[i].iov_base, take};
            room += take;
        }
        ssize_t n = readv(fd, iov, nv);
        int err = errno;
        size_t left = n > 0 ? (size_t)n : 0;
        int used = 0;
        for (; used < nv && left; used++) {
            v[used].iov_len = iov[used].iov_len < left ? iov[used].iov_len : left;
            left -= v[used].iov_len;
        }
        if (used && evbuffer_commit_space(in, v, used) < 0) {
            err = ENOMEM;
            n = -1;
        }
        if (n > 0)
            result = n;
        else if (n == 0)
            result = SOCKREAD_EOF;
        else
            result = err == EAGAIN || err == EWOULDBLOCK || err == EINTR ? SOCKREAD_AGAIN : SOCKREAD_ERROR;
        errno = err;
    }
    int err = errno;
    evbuffer_freeze(in, 0);
    errno = err;
    return result;
}
