/* Types of the strict JSON-RPC reader (jsonrpc.c). */
#ifndef WARDEN_JSONRPC_T_H
#define WARDEN_JSONRPC_T_H
#include <stdbool.h>
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

/* One client message, validated and classified in one pass over its text,
 * without a tree. The strings are decoded (escapes resolved, NUL-terminated)
 * into the message's own storage; id_text, params_text and args_text point
 * into the body it was parsed from, which the caller keeps alive for as long
 * as it uses the message. The trees of params and of the arguments are
 * built only for the consumers that ask (rpc_msg_params, rpc_msg_args), from
 * that text. A message may point into itself: pass it by pointer, never copy
 * it. rpc_msg_clear() frees what it holds. */
struct rpc_msg {
    enum rpc_kind kind;
    const char *id_text;     /* the id's original bytes, byte-exact; NULL for notifications */
    size_t id_len;
    const char *method;      /* requests and notifications; NULL for responses */
    const char *tool;        /* tools/call only: params.name */
    const char *name;        /* params.name when it is a string, whatever the method; else NULL */
    const char *uri;         /* params.uri when it is a string; else NULL */
    const char *version;     /* params._meta["io.modelcontextprotocol/protocolVersion"] when a string */
    bool version_not_string; /* that member is there, and is not a string */
    bool task;               /* params.task is an object (a task-augmented request) */
    const char *params_text; /* params' original text; NULL when absent */
    size_t params_len;
    const char *args_text;   /* tools/call only: params.arguments' text (an object); NULL when absent */
    size_t args_len;
    size_t args_longest;     /* bytes of the longest decoded string (key or value) inside the arguments */
    size_t args_depth;       /* depth of their deepest value, the arguments being 0: 1 for {"a":1} */
    cJSON *params_tree;      /* built by rpc_msg_params; NULL until then */
    cJSON *args_tree;        /* built by rpc_msg_args; NULL until then */
    char *strings;           /* where the decoded strings are: `small`, or a block of the heap */
    char small[128];
};

/* Why a message was refused: a JSON-RPC error code and a message for the client. */
struct rpc_error {
    int code;
    char message[200];
};
#endif
