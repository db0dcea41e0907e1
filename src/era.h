/* era.c: which MCP revision one client request speaks, the request metadata
 * headers of 2026-07-28 (MCP-Protocol-Version, Mcp-Method, Mcp-Name,
 * Mcp-Param-*) checked against its body, and the shape of the answers warden
 * gives itself for that era and that kind of request. Pure: no I/O. */
#ifndef WARDEN_ERA_H
#define WARDEN_ERA_H
#include <stddef.h>
#include <event2/buffer.h>
#include "era-t.h"
#include "http-t.h"
#include "jsonrpc-t.h"

/* Why a request's headers were refused: the HTTP status (400), a JSON-RPC
 * code (MCP_HEADER_MISMATCH, or RPC_INVALID_PARAMS for a 2026-07-28 request
 * without its _meta protocolVersion, as such a server answers) and a message. */
struct era_error {
    int status;
    int code;
    char message[300];
};

/* Reads the era of a parsed client message and checks the headers that
 * mirror its body: MCP-Protocol-Version against params._meta
 * ["io.modelcontextprotocol/protocolVersion"] (they must agree; either one
 * naming 2026-07-28 or later makes the request modern, and a modern request
 * must carry both; a version warden does not know is the upstream's to
 * refuse), Mcp-Method against method and Mcp-Name (plain or
 * "=?base64?...?=") against params.name or params.uri, wherever they are
 * present, and required on a modern request. Mcp-Param-* headers are refused:
 * warden does not keep the tools' x-mcp-header fields, so it cannot check
 * them, and a server that trusted them would act on values warden never saw.
 * Returns 0 with *out filled, or -1 with *err (status 503 when out of
 * memory: subscriptions/listen builds msg's params tree). */
int era_read(const struct http_head *h, struct rpc_msg *msg, struct era_req *out, struct era_error *err);

/* What kind of answer warden gives itself to a request. */
enum era_answer {
    ERA_REFUSED,      /* a policy refused the call (deny, rate limit, approval): `text` is the reason */
    ERA_UNKNOWN_TOOL, /* a hidden tool: the error an unknown tool gets (`text` is the message) */
    ERA_ERROR,        /* a JSON-RPC error with `code` (upstream failures) */
};

/* Appends warden's own answer to request `id` (original text) in the shape
 * the request's era and kind expect: a refused tools/call is a tool result
 * with isError true (with resultType "complete" on a modern request), and a
 * JSON-RPC error (-32600, the reason as its message) for a task-augmented
 * call, whose client expects a task and not a result; the others are
 * JSON-RPC errors. `e` may be NULL (era unknown: the 2025 shapes). */
void era_format_answer(struct evbuffer *b, const struct era_req *e, const char *id, size_t id_len, enum era_answer kind,
                       int code, const char *text);

/* A 2026-07-28 InputRequiredResult for request `id` asking for one URL
 * elicitation (inputRequests[key]: elicitation/create, mode url, message,
 * url) and carrying requestState `state`. */
void era_format_input_required(struct evbuffer *b, const char *id, size_t id_len, const char *key,
                               const char *message, const char *url, const char *state);
#endif
