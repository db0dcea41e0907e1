/* Types of the strict JSON-RPC reader (jsonrpc.c). */
#ifndef WARDEN_JSONRPC_T_H
#define WARDEN_JSONRPC_T_H
#include <stddef.h>
#include <cjson/cJSON.h>

/* JSON-RPC 2.0 error codes as MCP uses them. */
enum {
    RPC_PARSE_ERROR = -32700,
    RPC_INVALID_REQUEST = -32600,
    RPC_METHOD_NOT_FOUND = -32601,
    RPC_INVALID_PARAMS = -32602,
    RPC_INTERNAL_ERROR = -32603,
};

enum rpc_kind { RPC_REQUEST, RPC_NOTIFICATION, RPC_RESPONSE };

/* Bounds on what a client may send; 0 means the built-in default. */
struct rpc_limits {
    size_t max_depth;   /* nesting of arrays and objects (default 64) */
    size_t max_string;  /* bytes of one decoded string (default 1 MiB) */
    size_t max_members; /* members of one object or elements of one array (default 10000) */
};

/* One client message, validated and classified. All pointers point into
 * `root` (decoded, escapes resolved) except id_text, which points into the
 * body the message was parsed from: the caller keeps that body alive for as
 * long as it uses the message. rpc_msg_clear() frees `root`. */
struct rpc_msg {
    enum rpc_kind kind;
    cJSON *root;
    const char *id_text;   /* the id's original bytes, byte-exact; NULL for notifications */
    size_t id_len;
    const char *method;    /* requests and notifications; NULL for responses */
    const cJSON *params;   /* NULL when absent */
    const char *tool;      /* tools/call only: params.name, decoded */
    const cJSON *args;     /* tools/call only: params.arguments (an object), NULL when absent */
};

/* Why a message was refused: a JSON-RPC error code and a message for the client. */
struct rpc_error {
    int code;
    char message[200];
};
#endif
