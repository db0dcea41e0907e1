/* reply.c: the answers warden writes itself: HTTP errors with a JSON-RPC
 * error body, JSON-RPC errors for a request's id, policy refusals as tool
 * results, and the JSON string escaping they need. */
#ifndef WARDEN_REPLY_H
#define WARDEN_REPLY_H
#include <stddef.h>
#include <event2/buffer.h>
#include "proxy-t.h"

/* Writes a complete response with a body. Connection: close is added when
 * the connection ends after it. extra_headers is NULL or CRLF-terminated lines. */
void reply_send(struct client_conn *c, int status, const char *content_type, const char *extra_headers,
                const char *body, size_t len);

/* An HTTP refusal with a JSON-RPC error body for `id` (the original id text,
 * or NULL for null). */
void reply_rpc_error(struct client_conn *c, int status, const char *id, size_t id_len, int code,
                     const char *message);

/* A policy refusal: HTTP 200 and a tool result with isError true, which the
 * SDK hands to the model (a 4xx would become a transport error). */
void reply_tool_refusal(struct client_conn *c, const char *id, size_t id_len, const char *text);

/* Appends the JSON-RPC error message for `id` to buf (no HTTP framing). */
void reply_format_rpc_error(struct evbuffer *buf, const char *id, size_t id_len, int code, const char *message);

/* Appends one JSON-RPC message as one line of newline-delimited JSON (stdio
 * transports): strict JSON has raw CR and LF only between tokens, where a
 * space means the same. */
void json_append_line(struct evbuffer *out, const char *json, size_t len);

/* Appends s[0..len) as a JSON string literal, quotes included. */
void json_append_string(struct evbuffer *buf, const char *s, size_t len);
#endif
