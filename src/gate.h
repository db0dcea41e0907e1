/* gate.c: where a request meets auth (auth.h), in the terms of the
 * listener: which auth object guards a server, the protected-resource
 * metadata routes, and the complete 401/403 answer (status, the
 * WWW-Authenticate line, a JSON-RPC error body) for the transport to send.
 * It writes nothing itself, so either transport can use it. */
#ifndef WARDEN_GATE_H
#define WARDEN_GATE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "config-t.h"

struct http_head;
struct principal;
struct auth;

/* An answer warden gives instead of serving the request. */
struct gate_answer {
    int status;             /* 200 (metadata), 401, 403, 404, 405 or 503 */
    char headers[1200];     /* extra header lines, each ending in CRLF ("WWW-Authenticate: ...\r\n"), or "" */
    char *body;             /* owned JSON text */
    size_t len;
};

/* Frees the body; safe on a zeroed answer. */
void gate_answer_clear(struct gate_answer *a);

/* The auth guarding a server: its own "auth", else the top-level one; NULL
 * when the server is open. */
struct auth *gate_auth_for(const struct config *cfg, const struct server_conf *sc);

/* The URL clients reach warden at, without a path: the auth's public_url,
 * else "https://" (tls) or "http://" and the request's Host (which the
 * listener has already checked against allowed_hosts). False when the Host
 * is missing or not a plain host[:port]. */
bool gate_base_url(const struct auth *a, const struct http_head *head, bool tls, char *out, size_t outlen);

/* When path[0..len) is "/.well-known/oauth-protected-resource" followed by
 * a server's path ("/mcp/NAME", or "/mcp" with --upstream), fills *out with
 * the answer (200 and the RFC 9728 document for a server with auth, 404 for
 * an open one, 405 for a method other than GET) and returns true; false
 * when the path is not a metadata path. The caller sends *out and clears it. */
bool gate_metadata(const struct config *cfg, const char *path, size_t len, const struct http_head *head, bool tls,
                   struct gate_answer *out);

/* Authenticates a request for server sc. Returns true with *principal set
 * (the caller clears it when the request ends); false with *out the 401 or
 * 403 to send (WWW-Authenticate naming the server's metadata URL). An open
 * server lets everyone in as "anonymous". peer is the connection's address
 * (NULL for stdio). */
bool gate_check(const struct config *cfg, const struct server_conf *sc, const struct http_head *head,
                const struct sockaddr *peer, bool tls, struct principal *principal, struct gate_answer *out);
#endif
