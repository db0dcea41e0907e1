/* libFuzzer harness for the strict JSON-RPC reader (src/jsonrpc.c).
 * Differential: rpc_parse (one pass, no tree) must agree with the reader it
 * replaced (jsonrpc_reference.c: strict scan, then cJSON) on every input,
 * errors included (jsonrpc_diff.c). A first byte 0xF8..0xFF is not text but
 * small limits (depth, string length, members), so that their edges are
 * reached too. And whatever it accepts must be unambiguous: no object in the
 * tree has two members whose keys fold together (after escapes, under
 * Unicode simple folding as Go matches keys), no key at the top level or in
 * params is a case variant of one warden reads, the id it reports is the id
 * the text holds, and a notification's method is a notifications/ method. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "jsonrpc_diff.c"

/* Walks the tree cJSON built, checking that no object repeats a key, even folded. */
static void check_tree(const cJSON *node, int depth)
{
    if (depth > 200)
        abort();
    for (const cJSON *a = node ? node->child : NULL; a; a = a->next) {
        if (cJSON_IsObject(node))
            for (const cJSON *b = a->next; b; b = b->next)
                if (utf8_fold_cmp(a->string, strlen(a->string), b->string, strlen(b->string)) == 0)
                    abort();
        check_tree(a, depth + 1);
    }
}

static void check_accepted(const char *body, size_t size, struct rpc_msg *msg)
{
    cJSON *root = cJSON_ParseWithLength(body, size);
    const cJSON *params;
    if (!root || rpc_msg_params(msg, &params) < 0)
        abort();
    check_tree(root, 0);
    static const char *const top[] = {"jsonrpc", "id", "method", "params", "result", "error", NULL};
    static const char *const known[] = {"name", "arguments", "_meta", NULL};
    struct rpc_error kerr;
    for (const cJSON *m = root->child; m; m = m->next)
        if (json_known_key(m->string, strlen(m->string), top, &kerr) == -2)
            abort();
    cJSON_Delete(root);
    for (const cJSON *m = cJSON_IsObject(params) ? params->child : NULL; m; m = m->next)
        if (json_known_key(m->string, strlen(m->string), known, &kerr) == -2)
            abort();
    if (msg->kind == RPC_NOTIFICATION && strncmp(msg->method, "notifications/", 14) != 0)
        abort();
    if (msg->id_text) {
        if (msg->id_text < body || msg->id_text + msg->id_len > body + size)
            abort();
        const char *id;
        size_t id_len;
        if (!rpc_find_id(body, size, &id, &id_len) || id != msg->id_text || id_len != msg->id_len)
            abort();
        if (!rpc_id_equal(id, id_len, msg->id_text, msg->id_len))
            abort();
    }
    if (msg->kind != RPC_RESPONSE && !msg->method)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    struct rpc_limits lim = {0};
    if (size && data[0] >= 0xF8) {
        size_t k = (size_t)data[0] - 0xF8;
        lim = (struct rpc_limits){.max_depth = 1 + k, .max_string = 2 + 3 * k, .max_members = 1 + k};
        body++;
        size--;
    }
    const char *why = jsonrpc_diff(body, size, &lim);
    if (why) {
        fprintf(stderr, "jsonrpc_diff: %s\n", why);
        abort();
    }
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(body, size, &lim, &msg, &err) < 0) {
        if (err.code != RPC_PARSE_ERROR && err.code != RPC_INVALID_REQUEST && err.code != RPC_INVALID_PARAMS)
            abort();
        return 0;
    }
    check_accepted(body, size, &msg);
    rpc_msg_clear(&msg);
    return 0;
}
