/* proxy.c: the request half of one client request: routing, the checks a
 * server must make (Host, Origin, content type, session id), the strict
 * JSON-RPC parse, the policy decision, and the hand-over to the server's
 * transport (transport.h). The answer half is exchange.c. */
#ifndef WARDEN_PROXY_H
#define WARDEN_PROXY_H
#include "proxy-t.h"

/* A complete request has been read on c (head in c->reader, body in c->body). */
void proxy_handle(struct client_conn *c);
#endif
