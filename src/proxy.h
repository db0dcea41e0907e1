/* proxy.c: what happens to one client request: routing, the checks a server
 * must make (Host, Origin, content type), the strict JSON-RPC parse, the
 * policy decision, the re-framed request upstream, and the answer streamed
 * back (filtered where a policy must see it). */
#ifndef WARDEN_PROXY_H
#define WARDEN_PROXY_H
#include "proxy-t.h"

/* A complete request has been read on c (head in c->reader, body in c->body). */
void proxy_handle(struct client_conn *c);

/* The client went away while its request was in progress. */
void proxy_abort(struct exchange *ex);

/* Warden is stopping: end event streams now, let other requests finish. */
void proxy_stopping(struct client_conn *c);

/* The exchange waited too long for a free upstream connection. */
void proxy_wait_timeout(struct client_conn *c);

/* The client has taken our output: read the upstream again. */
void proxy_resume_upstream(struct client_conn *c);

/* Frees what the exchange holds and makes it ready for the next request. */
void proxy_exchange_reset(struct exchange *ex);

/* For answers warden streams itself (stdio servers): starts a text/event-stream
 * answer, sends one JSON-RPC message as an event (the response to the
 * exchange's request is filtered like any tools/list answer), and ends it. */
void proxy_stream_start(struct exchange *ex, const char *session_id);
void proxy_stream_message(struct exchange *ex, const char *json, size_t len);
void proxy_stream_end(struct exchange *ex);

/* The text of the JSON-RPC error warden gives for a failed server, naming it. */
void proxy_server_error_text(const struct server_rt *s, const char *what, char *out, size_t outlen);

/* Called by upstream.c as the response arrives. */
int proxy_upstream_head(struct exchange *ex, const struct http_head *head);
int proxy_upstream_body(struct exchange *ex, const char *at, size_t len);
void proxy_upstream_done(struct exchange *ex);
/* The upstream failed; `what` says how ("connection refused", "timed out"...). */
void proxy_upstream_failed(struct exchange *ex, const char *what);
#endif
