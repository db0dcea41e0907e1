/* client.c: one accepted client connection: reads requests strictly, one at a
 * time and in order, enforces the read timeouts and sizes, and hands each
 * complete request to the worker's on_request (the proxy). */
#ifndef WARDEN_CLIENT_H
#define WARDEN_CLIENT_H
#include <sys/socket.h>
#include "proxy-t.h"

/* Takes an accepted socket; the worker owns the connection from here on
 * (over TLS when the worker has a certificate, w->tls). */
void client_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int socklen);

/* Serves HTTP on an already made bufferevent (one end of a pair for the
 * stdio bridge, or a socket's, TLS when tls says so: such a bufferevent is
 * never written around); `addr` names the peer in logs. Takes ownership of
 * bev; returns NULL when out of memory (bev is freed). */
struct client_conn *client_attach(struct worker *w, struct bufferevent *bev, const char *addr, bool tls);

/* The answer to the current request is fully in the output buffer: read the
 * next request (pipelined bytes first), or close if the request said so. */
void client_finish_exchange(struct client_conn *c);

/* Writes what the output holds now, registering for writability only when
 * the socket cannot take it all. Call after adding to the output. */
void client_flush(struct client_conn *c);

/* Ends the connection; it is freed later by the worker's reaper. */
void client_close(struct client_conn *c);

/* Frees a connection the reaper took from the graveyard. */
void client_free(struct client_conn *c);

/* Closes the connection once its output has been written (after an answer
 * that leaves the stream unusable, or when warden stops). */
void client_close_when_flushed(struct client_conn *c);
#endif
