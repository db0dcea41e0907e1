/* legacy_sse.c: the deprecated HTTP+SSE transport (MCP 2024-11-05) served to
 * old clients. `GET <path>/sse` opens a stream whose first event, `endpoint`,
 * names warden's own `<path>/message?sessionId=ID` (128 random bits); each
 * message POSTed there is checked, answered 202 and queued to the worker
 * that owns the stream, which hands it to the stream's http_bridge: an HTTP
 * request on an in-process connection to the same proxy as every network
 * client (http_bridge.h). The answers (and the server's own messages, from
 * the bridge's GET stream) come back on the stream as `event: message`.
 *
 * A POST may land on any worker: the hub (one per process, shared) finds the
 * stream under its lock, appends to the stream's inbox and wakes the owner
 * (event_active is thread-safe: main enables libevent's pthreads support).
 *
 * Bounds: LEGACY_MAX_STREAMS_PER_SERVER streams per server and
 * LEGACY_MAX_STREAMS in all (more: 503); LEGACY_MAX_QUEUED bytes of
 * messages waiting per stream (more: 503 to the POST); LEGACY_MAX_OUTPUT
 * bytes unsent to a slow client (more: the stream ends); a stream with no
 * POST for LEGACY_IDLE_SECONDS ends; a comment every LEGACY_KEEPALIVE_SECONDS
 * keeps a quiet one open. An unknown or ended session id is 404. */
#ifndef WARDEN_LEGACY_SSE_H
#define WARDEN_LEGACY_SSE_H
#include <stddef.h>
#include "proxy-t.h"

#define LEGACY_MAX_STREAMS_PER_SERVER 128
#define LEGACY_MAX_STREAMS 1024
#define LEGACY_MAX_QUEUED (4 * 1024 * 1024)
#define LEGACY_MAX_OUTPUT (8 * 1024 * 1024)
#define LEGACY_IDLE_SECONDS 1800
#define LEGACY_KEEPALIVE_SECONDS 15

struct legacy_hub;

/* The process's table of legacy streams; freed by the caller after every
 * worker has been freed (their streams leave it as they end). */
struct legacy_hub *legacy_hub_new(void);
void legacy_hub_free(struct legacy_hub *hub);

enum legacy_route {
    LEGACY_NONE,
    LEGACY_STREAM,    /* GET <path>/sse */
    LEGACY_MESSAGE,   /* POST <path>/message?sessionId=ID */
};

/* Which legacy endpoint the request path names, and for which server
 * (*server: its index in w->servers). `/sse` and `/message` also name the
 * only server when it is unnamed (--upstream). */
enum legacy_route legacy_route(const struct worker *w, const char *path, size_t len, size_t *server);

/* Serves a legacy request on c, once the proxy has checked Host, Origin and
 * auth (c->ex.server is set, c->ex.principal known). Ends the exchange, or
 * (GET) keeps it as the stream until the client leaves. */
void legacy_handle(struct client_conn *c, enum legacy_route route, const char *query, size_t qlen);
#endif
