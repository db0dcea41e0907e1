/* stdio_client.c: warden on its own stdin/stdout, for desktop agents that
 * launch MCP servers as commands. Each message read from stdin becomes an
 * HTTP request on an in-process connection (a bufferevent pair) served by the
 * same proxy as network clients, so the same policies apply; the answers
 * (JSON or event streams) go to stdout one message per line. */
#ifndef WARDEN_STDIO_CLIENT_H
#define WARDEN_STDIO_CLIENT_H
#include "proxy-t.h"

struct stdio_bridge;

/* Starts reading stdin on worker w (which serves no socket). When stdin
 * ends and the calls in flight are answered, it asks `stop(stop_arg)`.
 * Returns NULL with a message in err on failure. */
struct stdio_bridge *stdio_bridge_new(struct worker *w, void (*stop)(void *), void *stop_arg, char *err,
                                      size_t errlen);
void stdio_bridge_free(struct stdio_bridge *b);
#endif
