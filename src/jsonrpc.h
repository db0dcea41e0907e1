/* jsonrpc.c: reads a client's JSON-RPC message strictly (RFC 8259, UTF-8, no
 * duplicate keys, bounded) and classifies it, once, for the policies. */
#ifndef WARDEN_JSONRPC_H
#define WARDEN_JSONRPC_H
#include <stdbool.h>
#include "jsonrpc-t.h"

/* Validates body[0..len) and fills *out in one pass over the text, without
 * a tree: json_scan's rules, plus what warden reads of the message (method,
 * id, params.name, the text of params and of the arguments...). Returns 0,
 * or -1 with *err set (RPC_PARSE_ERROR for text that is not strict JSON,
 * RPC_INVALID_REQUEST for JSON that is not one JSON-RPC 2.0 message, batches
 * included, or that a lenient server would read otherwise: keys colliding
 * under case folding anywhere, a case variant of a key warden reads at the
 * top level or in params, a request method without an id, request and
 * response fields together; RPC_INVALID_PARAMS for a tools/call without its
 * name, or with arguments that are not an object; RPC_INTERNAL_ERROR when
 * out of memory). Allocates only where json_scan does and for the strings
 * it keeps when they outgrow the message (rpc_msg_clear frees them). On
 * error *out holds nothing to free. */
int rpc_parse(const char *body, size_t len, const struct rpc_limits *lim,
              struct rpc_msg *out, struct rpc_error *err);

/* The tree of msg's params (rpc_msg_params) or of a tools/call's arguments
 * (rpc_msg_args), built from their text on the first call and kept in msg
 * (rpc_msg_clear frees it): for the consumers that read more than the
 * fields. Returns 0 with *out (NULL when the message has none), or -1 when
 * out of memory (or when cJSON cannot nest as deep as the limits let the
 * text: refuse the message then). */
int rpc_msg_params(struct rpc_msg *msg, const cJSON **out);
int rpc_msg_args(struct rpc_msg *msg, const cJSON **out);

/* Parts of a document a caller wants to see while json_scan reads it. Every
 * value has a context: the root's is given to json_scan; a member or element
 * of a container whose context is not 0 gets the context `member` returns,
 * and a value whose context is not 0 is shown to `value` once read. Context
 * 0 is not watched, nor is anything inside it. */
struct json_watch {
    /* key: decoded (escapes resolved), klen bytes, not NUL-terminated; NULL
     * for an array element. Returns the value's context, or -1 (with *err
     * set) to refuse the document. */
    int (*member)(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err);
    /* The value's original text [start, end). Returns 0, or -1 (with *err set)
     * to refuse the document. May be NULL. */
    int (*value)(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err);
    void *arg;
};

/* The strict scanner under rpc_parse, for any JSON text (also the server's
 * messages): RFC 8259, well-formed UTF-8, no lone surrogate or NUL escape,
 * depth/size/width within *lim, and no object with two keys that fold
 * together (exact duplicates: RPC_PARSE_ERROR; keys that differ only in case
 * under Unicode simple folding, one key to Go's encoding/json:
 * RPC_INVALID_REQUEST). One pass, no tree, no recursion; allocates only for
 * texts with long escaped keys, deep key stacks or more than 32 containers
 * open at once. watch may be NULL. Returns 0, or -1 with *err. */
int json_scan(const char *text, size_t len, const struct rpc_limits *lim, const struct json_watch *watch, int root,
              struct rpc_error *err);

/* Which of known[] (NULL-terminated, ASCII keys) key[0..klen) is: its index
 * when byte-exact; -1 when none; -2, with *err set (RPC_INVALID_REQUEST),
 * when it is one of them only to a case-insensitive reader ("Params",
 * "\u017Fomething" for "something", "\u0131d" for "id": utf8_ascii_alike):
 * such a key must be refused at a level warden reads, as the server would
 * read it as the real one. */
int json_known_key(const char *key, size_t klen, const char *const *known, struct rpc_error *err);

/* Frees what rpc_parse and the trees allocated; safe on a zeroed or already cleared msg. */
void rpc_msg_clear(struct rpc_msg *msg);

/* Finds the top-level "id" of a JSON object in body[0..len) without building a
 * tree (for messages from the server). Returns true and the id's original bytes,
 * false when there is none or the text is not an object. */
bool rpc_find_id(const char *body, size_t len, const char **id, size_t *id_len);

/* True when two ids' original texts denote the same JSON-RPC id: strings equal
 * after escapes are decoded, numbers equal in value; a string never equals a
 * number ("1" is not 1). */
bool rpc_id_equal(const char *a, size_t alen, const char *b, size_t blen);
#endif
