/* stdio_server.c: MCP servers that speak newline-delimited JSON-RPC on
 * stdin/stdout, run by warden as child processes, one per client session,
 * and offered to clients as Streamable HTTP. */
#ifndef WARDEN_STDIO_SERVER_H
#define WARDEN_STDIO_SERVER_H
#include <stdbool.h>
#include "proxy-t.h"

/* Prepares a stdio server's runtime state in worker w. Returns 0 or -1. */
int stdio_server_init(struct server_rt *s, struct worker *w);

/* A POSTed message (already validated and allowed): `initialize` starts a
 * session and its child; other messages go to the session's child. */
void stdio_server_post(struct exchange *ex, enum rpc_kind kind, bool is_initialize);
/* GET opens the session's stream; DELETE ends the session. */
void stdio_server_get(struct exchange *ex);
void stdio_server_delete(struct exchange *ex);

/* The exchange ends early (client gone, warden stopping). */
void stdio_server_cancel(struct exchange *ex);

/* Collects children that exited (SIGCHLD). */
void stdio_server_reap(struct server_rt *s);

/* Ends every child and waits for them: no process is left behind. */
void stdio_server_stop(struct server_rt *s);
#endif
