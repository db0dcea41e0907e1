/* upstream_sse.c: the legacy HTTP+SSE transport (MCP 2024-11-05) toward an
 * old server ("transport": "sse"), offered to clients as Streamable HTTP.
 * One upstream session per client session, as the stdio transport does: an
 * `initialize` opens the server's SSE stream (GET on the configured URL) and
 * warden makes the Mcp-Session-Id. The server's `endpoint` event names where
 * messages are POSTed; it must be on the configured URL's origin (a path, or
 * http://SAME-HOST:SAME-PORT/...), else the session ends: warden never sends
 * a client's messages to a host the config does not name, and never relays
 * the event. Each request POSTed waits for its answer on the stream, routed
 * by id (first-byte deadline, then idle); messages without an answer to
 * route go to the client's GET stream, or wait in a bounded backlog
 * (SSE_BACKLOG bytes; past it the oldest are dropped and logged). A session
 * with nothing open ends after SSE_SESSION_IDLE_SECONDS. http:// only. */
#ifndef WARDEN_UPSTREAM_SSE_H
#define WARDEN_UPSTREAM_SSE_H
#include "transport.h"

#define SSE_BACKLOG (1024 * 1024)
#define SSE_SESSION_IDLE_SECONDS 600

extern const struct transport upstream_sse_transport;

/* The path and query an `endpoint` event's data names, when it is on the
 * origin http://host:port (a path starting with one '/', or an absolute
 * http URL with the same host, case-insensitive, and port); NULL otherwise,
 * or when it holds bytes that cannot go in a request line. Caller frees. */
char *sse_endpoint_resolve(const char *data, size_t len, const char *host, unsigned port);
#endif
