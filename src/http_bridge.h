/* http_bridge.c: carries the MCP messages of one client that speaks another
 * transport (an old HTTP+SSE client: legacy_sse.c; warden's own stdin and
 * stdout: stdio_client.c) to warden's own HTTP side. Each message becomes one
 * HTTP request on a new in-process connection (a bufferevent pair) served by
 * the same proxy as every network client: the same auth, era checks,
 * policies and answer filtering, no second path. The answer (one JSON body,
 * or an event stream whose events are messages) goes back to the owner one
 * message at a time.
 *
 * A bridge speaks for one client: it keeps the Mcp-Session-Id and the
 * protocol version its initialize answer brought and sends them on every
 * later request; it opens the server's GET stream at most once and ends the
 * session with a DELETE at most once.
 *
 * Bounds: a JSON answer longer than conf.max_body, an event longer than the
 * worker's limits.max_sse_event_bytes, or a head past 64 KiB or 200 fields
 * fails its call; a request then gets a JSON-RPC error (-32603). The calls
 * keep no timer of their own: each is an exchange of the proxy, under its
 * timers, and a call whose connection the proxy closes ends; a call freed
 * (dropped, or with the bridge) tells the proxy's side its client left, so
 * that a GET stream or a call still upstream ends with it.
 *
 * Ownership: the owner makes the bridge (http_bridge_new) and frees it
 * (http_bridge_free), never from inside one of its callbacks. The bridge owns
 * its calls: a finished call (answered, failed or dropped) is kept until the
 * owner calls http_bridge_reap, from its own event, after ops.finished told
 * it (callbacks may run inside a call's own bufferevent callback). */
#ifndef WARDEN_HTTP_BRIDGE_H
#define WARDEN_HTTP_BRIDGE_H
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include "proxy-t.h"

struct http_bridge;

/* What a bridge tells its owner; each gets conf.owner first. */
struct http_bridge_ops {
    /* One message for the client: an answer, a server's own message from an
     * event stream, or an error warden made (json[0..len) is the bridge's). */
    void (*message)(void *owner, const char *json, size_t len);
    /* An answer with status >= 300 that is no JSON-RPC answer for the call's
     * request: id[0..id_len) is that request's id (NULL for a notification,
     * a response, the GET stream or the DELETE); body is NULL when empty. */
    void (*refused)(void *owner, const char *id, size_t id_len, int status, const char *body, size_t len);
    /* A call has finished; initialize: it carried the initialize request. */
    void (*finished)(void *owner, bool initialize);
};

struct http_bridge_conf {
    struct worker *w;                    /* its proxy serves the requests, on its loop */
    const char *path;                    /* the server's path (borrowed); NULL: the worker's first
                                          * server, read per request since a reload may change it */
    const char *host;                    /* the Host of every request (borrowed) */
    const char *addr;                    /* the client's address for the proxy's logs (borrowed) */
    const struct sockaddr_storage *peer; /* limits keyed by address count this one (borrowed), or NULL */
    size_t max_body;                     /* bytes of one JSON answer at most */
    const struct http_bridge_ops *ops;
    void *owner;
};

/* One message to POST. */
struct http_bridge_post {
    const char *json;
    size_t len;
    const char *authorization; /* the client's Authorization value, or NULL */
    char *id_text;             /* a request's id (malloc'd), or NULL */
    size_t id_len;
    bool initialize; /* the initialize request: its answer brings the session */
};

/* A bridge whose conf is copied (what it points to is borrowed); NULL when
 * out of memory. */
struct http_bridge *http_bridge_new(const struct http_bridge_conf *conf);
/* Frees every call, in flight or finished, without a callback. */
void http_bridge_free(struct http_bridge *b);

/* POSTs msg. True: the call is under way, and the bridge owns msg->id_text
 * (the caller forgets it). False (out of memory): a request has had its
 * -32603 error through ops.message, and the caller keeps msg->id_text. */
bool http_bridge_post(struct http_bridge *b, const struct http_bridge_post *msg);
/* Once the server has given a session, and only once: opens its GET
 * stream, on which the server's own messages come. */
void http_bridge_open_stream(struct http_bridge *b, const char *authorization);
/* Once, when the server has given a session: ends it with a DELETE, as a
 * client would. True while that DELETE is under way. */
bool http_bridge_end_session(struct http_bridge *b, const char *authorization);
/* Hands a JSON-RPC error for id (NULL: a null id) to ops.message. */
void http_bridge_error(struct http_bridge *b, const char *id, size_t id_len, int code, const char *message);

/* Finishes every call in flight: their answers are dropped. */
void http_bridge_drop(struct http_bridge *b);
/* Frees the finished calls. */
void http_bridge_reap(struct http_bridge *b);
/* True while any call is in flight. */
bool http_bridge_in_flight(const struct http_bridge *b);
/* True while a call in flight carries what the client waits for: a
 * request's answer, the initialize's, or anything once the DELETE is sent. */
bool http_bridge_awaited(const struct http_bridge *b);
#endif
