/* upstream_http.c: the HTTP transport: keep-alive connections from one
 * worker to one MCP server (a pool per server runtime), connecting, writing
 * the re-framed request, reading the response with its timeouts, waiting for
 * a free connection no longer than a connect would take (the pool's own
 * timer), and returning the connection to the pool. The pool owns its
 * connections, closed ones included (its graveyard, emptied by its reaper). */
#ifndef WARDEN_UPSTREAM_HTTP_H
#define WARDEN_UPSTREAM_HTTP_H
#include "transport.h"

extern const struct transport upstream_http_transport;
#endif
