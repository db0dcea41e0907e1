/* upstream.c: keep-alive connections from one worker to one MCP server:
 * connecting, writing a re-framed request, reading the response with its
 * timeouts, and returning the connection to the pool. */
#ifndef WARDEN_UPSTREAM_H
#define WARDEN_UPSTREAM_H
#include "proxy-t.h"

void upstream_pool_init(struct upstream_pool *pool, struct worker *w, struct server_rt *server);
/* Closes the pool's idle connections (warden is stopping). */
void upstream_pool_close_idle(struct upstream_pool *pool);

/* Sends ex->request on a pooled or new connection, or queues the exchange
 * until one is free. The proxy hears back through proxy_upstream_*(). */
void upstream_start(struct exchange *ex);

/* Detaches an exchange that ends early (client gone, warden stopping): a
 * connection in the middle of a response cannot be reused and is closed. */
void upstream_cancel(struct exchange *ex);

/* Backpressure: stop or resume reading the exchange's response. */
void upstream_pause(struct exchange *ex);
void upstream_resume(struct exchange *ex);

/* Frees a connection the reaper took from the graveyard. */
void upstream_free(struct upstream_conn *u);
#endif
