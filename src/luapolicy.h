/* luapolicy.c: Lua 5.4 policies in a sandbox. A policy file returns a table
 * with on_call(call) (and optionally on_list(tools, ctx)); each loaded file
 * has a lua_State of its own, used by one thread at a time, with a memory
 * cap, an instruction budget and a wall-clock cap per call. Any error,
 * timeout or out-of-memory refuses the call (fail closed). */
#ifndef WARDEN_LUAPOLICY_H
#define WARDEN_LUAPOLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "jsonrpc-t.h"
#include "policy-t.h"

struct lua_policy;
struct shared_store;

/* What one policy state may use; zeros mean the defaults. */
struct lua_limits {
    size_t memory;              /* bytes per state (default 32 MiB) */
    unsigned long instructions; /* per call (default 10 million) */
    unsigned wall_ms;           /* per call (default 250 ms) */
    size_t max_string;          /* longest string handed to Lua or built by string.rep (default 1 MiB) */
};

/* Loads and runs a policy file in a new sandbox. Returns NULL with
 * "FILE:LINE: message" in err on failure. `shared` and `server` back
 * warden.shared (the store outlives the policy). */
struct lua_policy *lua_policy_load(const char *path, const struct lua_limits *limits, struct shared_store *shared,
                                   const char *server, char *err, size_t errlen);
void lua_policy_free(struct lua_policy *lp);

/* Decides one tools/call: VERDICT_NONE (no opinion), ALLOW, DENY, APPROVAL,
 * or ERROR (the script failed: refused, and logged). */
void lua_policy_on_call(struct lua_policy *lp, const struct rpc_msg *msg, const struct call_ctx *ctx,
                        struct decision *out);

bool lua_policy_has_on_list(const struct lua_policy *lp);
/* Lets on_list drop tools from a tools/list result's "tools" array. Returns
 * true when it removed any. On a script failure every tool is kept and the
 * error is logged (listing is not a security boundary: calls still are). */
bool lua_policy_on_list(struct lua_policy *lp, cJSON *tools, const struct call_ctx *ctx);
#endif
