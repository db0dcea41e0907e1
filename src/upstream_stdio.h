/* upstream_stdio.c: the stdio transport: MCP servers that speak
 * newline-delimited JSON-RPC on stdin/stdout, run by warden as child
 * processes, one per client session, and offered to clients as Streamable
 * HTTP. Each line a child writes is read strictly and routed by id to the
 * exchange that sent that id; each call has a deadline; children are capped
 * per server (the server's max_connections) and end when their session has
 * been idle. The server runtime owns its sessions; a session is freed once
 * its process has been reaped. */
#ifndef WARDEN_UPSTREAM_STDIO_H
#define WARDEN_UPSTREAM_STDIO_H
#include "transport.h"

extern const struct transport upstream_stdio_transport;
#endif
