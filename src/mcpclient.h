/* mcpclient.c: a small blocking MCP client for warden's command-line tools
 * (warden scan), not for the gateway's event loops. It speaks to an HTTP
 * server (Streamable HTTP: each message POSTed, answers in JSON or as an
 * event stream; http:// only) or to a stdio server it spawns (newline-
 * delimited JSON on the child's stdin/stdout).
 *
 * Every peer is hostile: each request has a deadline (timeout_ms, for
 * connect, send and answer together); a message, an HTTP head and the bytes
 * read for one answer are bounded (max_message_bytes); every message is read
 * strictly (jcs.h: RFC 8259, UTF-8, no duplicate member names) before cJSON
 * sees it. Requests the server sends meanwhile get a -32601 error; its
 * notifications are skipped. */
#ifndef WARDEN_MCPCLIENT_H
#define WARDEN_MCPCLIENT_H
#include <stddef.h>
#include <cjson/cJSON.h>

struct mcp_client_opts {
    const char *url;                  /* http://HOST[:PORT][/PATH], or NULL for a command */
    char *const *command;             /* argv of a stdio server, NULL-terminated */
    const char *const *headers;       /* "Name: value" added to every HTTP request */
    size_t nheaders;
    unsigned timeout_ms;              /* per request; 0: 10000 */
    size_t max_message_bytes;         /* 0: 16 MiB */
};

struct mcp_client;

/* Connects (HTTP: checks the URL; stdio: spawns the command). Returns NULL
 * with the reason in err. The caller ends it with mcp_client_close. */
struct mcp_client *mcp_client_open(const struct mcp_client_opts *o, char *err, size_t errlen);

/* Sends a request (params may be NULL; it is taken) and waits for its
 * answer. Returns the "result" (the caller frees it), or NULL with the reason
 * in err: the server's JSON-RPC error, a timeout, a broken answer. */
cJSON *mcp_client_request(struct mcp_client *c, const char *method, cJSON *params, char *err, size_t errlen);

/* Sends a notification. Returns 0 or -1 with err. */
int mcp_client_notify(struct mcp_client *c, const char *method, char *err, size_t errlen);

/* After a successful initialize: the protocol version the server chose, sent
 * on later HTTP requests (MCP-Protocol-Version). The string is copied. */
void mcp_client_set_protocol(struct mcp_client *c, const char *version);

/* Ends the session (HTTP: DELETE when the server gave a session id; stdio:
 * closes the child's stdin, then SIGTERM and SIGKILL if it lingers) and
 * frees everything. NULL is allowed. */
void mcp_client_close(struct mcp_client *c);
#endif
