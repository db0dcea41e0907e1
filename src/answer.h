/* answer.c: reads what an upstream server sends toward a client (one JSON
 * body, one SSE event's data, or one stdio line) as the most lenient client
 * would, and decides what reaches the client. It is the only place where
 * upstream JSON-RPC is interpreted: the exchange asks it about every message
 * of every stream (POST answers, GET streams and their Last-Event-ID
 * replays, stdio lines). Fail closed: an answer to a request that is not
 * exactly one well-formed response for exactly that id becomes a JSON-RPC
 * error for the client; a tools list warden cannot filter with certainty is
 * never forwarded. Pure: no I/O, no libevent loop, no globals. */
#ifndef WARDEN_ANSWER_H
#define WARDEN_ANSWER_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include "jsonrpc-t.h"
#include "listitem-t.h"

/* Decides which tools of one list stay. Sets keep[i] for items[0..n);
 * returns 0, or -1 when the policy failed (the list is then refused). */
struct list_filter {
    int (*decide)(void *arg, const struct list_item *items, size_t n, bool *keep);
    void *arg;
};

/* How the result of a list request (2026-07-28 ttlMs and cacheScope) is
 * kept truthful: everything else stays byte-exact. */
struct answer_cache {
    bool private_scope;   /* the list was filtered for this caller: cacheScope becomes "private" */
    bool insert;          /* add cacheScope when the result has none (a modern request) */
    long long max_ttl_ms; /* ttlMs above it is lowered to it; < 0: no cap */
};

/* What warden knows of the request a stream answers. */
struct answer_req {
    const char *id;                   /* the request id's original bytes; NULL: no request (GET stream) */
    size_t id_len;
    bool answered;                    /* its response already went to the client */
    bool replay;                      /* no request: a stream resumed with Last-Event-ID, whose replay may hold
                                       * responses to earlier requests; any other carries none (dropped) */
    const struct list_filter *filter; /* NULL: no policy filters tools lists */
    const struct rpc_limits *limits;  /* depth/size bounds, as for client messages */
    const struct answer_cache *cache; /* NULL: not a list request, cache fields left alone */
};

enum answer_verdict {
    ANSWER_PASS,    /* forward the original bytes unchanged */
    ANSWER_REWRITE, /* forward `out` instead (a filtered tools list or corrected cache fields, original bytes otherwise) */
    ANSWER_DROP,    /* forward nothing (a duplicate response, an unreadable message with no request waiting;
                       * also: a response to another id on a request's stream, empty data) */
    ANSWER_FAIL,    /* the request's answer cannot be trusted: send the client a JSON-RPC error for its id instead */
};

struct answer_result {
    enum answer_verdict verdict;
    bool is_response;     /* a response (result or error) */
    bool answers_request; /* the response to req->id (PASS/REWRITE) or the message that failed it (FAIL) */
    int is_error;         /* for answers_request: 1 for a JSON-RPC error or a result with isError true, else 0 */
    const char *why;      /* static text for logs, for DROP and FAIL */
    char detail[200];     /* added: for a message the strict scanner refused, what and at which byte; else "" */
};

/* Examines json[0..len). For ANSWER_REWRITE the new message is appended to
 * out (the caller's buffer); otherwise out is untouched. Returns 0, or -1
 * when out of memory (treat as ANSWER_FAIL).
 * The message is read with json_scan under req->limits (NULL: the defaults
 * for client messages: depth 64, strings of 1 MiB, 10000 members), so pass
 * limits fit for server answers. Ids: a response answers the request when its
 * id is the same string (after escapes) or the same number text; one that a
 * client applying Number() to ids would match ("5", 5.0, 5e0, " 5") fails the
 * request. Allocates only for tools lists (the items) and for tool names
 * with escapes; no tree is built. */
int answer_check(const struct answer_req *req, const char *json, size_t len, struct evbuffer *out,
                 struct answer_result *res);
#endif
