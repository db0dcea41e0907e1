/* sockread.c: one read of a socket into an evbuffer, with no ioctl.
 * libevent's evbuffer_read (and so every bufferevent_socket) asks the kernel
 * how much is readable (ioctl FIONREAD) before each read: a second syscall
 * per request. Callers that read with their own EV_READ|EV_PERSIST event
 * use this instead. */
#ifndef WARDEN_SOCKREAD_H
#define WARDEN_SOCKREAD_H
#include <stddef.h>
#include <event2/util.h>

struct evbuffer;

enum {
    SOCKREAD_EOF = 0,           /* the peer closed its side */
    SOCKREAD_AGAIN = -1,        /* nothing to read now */
    SOCKREAD_ERROR = -2,        /* errno says why (kept across the return) */
};

/* Reads at most max bytes (max > 0; at most 16 KiB are taken) from fd into
 * the end of in, with one read. Returns the bytes read (> 0) or one of the
 * SOCKREAD_ values. in is a bufferevent_socket's input, whose end the
 * bufferevent keeps frozen: it is thawed for the append and frozen again. */
ptrdiff_t sockread(struct evbuffer *in, evutil_socket_t fd, size_t max);
#endif
