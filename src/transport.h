/* transport.h: how an exchange reaches its upstream server. Each server
 * runtime has one transport, chosen once when the worker starts: HTTP
 * (upstream_http.c, keep-alive pools), stdio (upstream_stdio.c, one child
 * process per session) or legacy HTTP+SSE (upstream_sse.c, one server stream
 * per session). A transport sends the request and hands what comes
 * back to the exchange through exchange.h, and nothing else: it never writes
 * to a client itself. */
#ifndef WARDEN_TRANSPORT_H
#define WARDEN_TRANSPORT_H
#include <stdbool.h>
#include <stddef.h>
#include "proxy-t.h"

/* What the client asked for, checked and allowed, for the transport to send.
 * Pointers are borrowed for the duration of forward(). */
struct upstream_request {
    const struct http_head *head;   /* the client's request head; head->method is POST, GET or DELETE */
    const char *query;              /* "?..." or NULL */
    size_t query_len;
    const char *body;               /* POST: the JSON-RPC message */
    size_t body_len;
    enum rpc_kind kind;             /* POST: what the message is */
    bool is_initialize;             /* POST: an initialize request (a stdio session starts with it) */
};

struct transport {
    const char *name;
    bool runs_children;             /* the worker must watch SIGCHLD for it */
    /* Prepares s (in worker w) for this transport. Returns 0, or -1 when out of memory. */
    int (*init)(struct server_rt *s, struct worker *w);
    /* Sends the request; the answer comes back through exchange.h, possibly
     * before forward() returns. */
    void (*forward)(struct exchange *ex, const struct upstream_request *req);
    /* Detaches an exchange that ends early (client gone, timeout, stopping);
     * safe to call on an exchange that is not attached. */
    void (*cancel)(struct exchange *ex);
    /* Backpressure: stop or resume reading what answers ex. */
    void (*pause)(struct exchange *ex);
    void (*resume)(struct exchange *ex);
    /* Warden is stopping: close what is idle. */
    void (*quiesce)(struct server_rt *s);
    /* Children exited (SIGCHLD); only called when runs_children. */
    void (*reap)(struct server_rt *s);
    /* Ends and frees everything s holds for this transport (no process is left
     * behind); no exchange is attached any more. */
    void (*shutdown)(struct server_rt *s);
};
#endif
