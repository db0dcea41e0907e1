/* jsonrpc.c: reads a client's JSON-RPC message strictly (RFC 8259, UTF-8, no
 * duplicate keys, bounded) and classifies it, once, for the policies. */
#ifndef WARDEN_JSONRPC_H
#define WARDEN_JSONRPC_H
#include <stdbool.h>
#include "jsonrpc-t.h"

/* Validates body[0..len) and fills *out. Returns 0, or -1 with *err set
 * (RPC_PARSE_ERROR for text that is not strict JSON, RPC_INVALID_REQUEST for
 * JSON that is not one JSON-RPC 2.0 message, batches included). On error *out
 * holds nothing to free. */
int rpc_parse(const char *body, size_t len, const struct rpc_limits *lim,
              struct rpc_msg *out, struct rpc_error *err);

/* Frees what rpc_parse allocated; safe on a zeroed or already cleared msg. */
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
