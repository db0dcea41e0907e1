/* luapolicy.c: runs an operator's Lua policy file on each tools/call (and
 * optionally on tools/list answers) in a sandbox bounded in memory,
 * instructions and wall-clock time; any failure of the script (error,
 * budget, out of memory, bad return value) is a VERDICT_ERROR, fail closed,
 * never a hang or a crash of the gateway.
 *
 * A policy file returns a table:
 *   on_call(call)     required; returns nil (no opinion), warden.allow([reason]),
 *                     warden.deny([reason]) or warden.require_approval([reason]).
 *     call.tool, .method, .server, .session, .id (the id's original text),
 *     .now (wall clock, seconds), and converted on first access: .args (a table,
 *     {} when absent), .meta (params._meta), .headers (lowercased names, no
 *     credentials), .tool_meta (untrusted annotations, may be nil),
 *     .tool_class ("read", "write", "destructive" or "unknown"). JSON null
 *     is warden.null; integral numbers up to 2^53 are integers. A call table
 *     is valid only during its own on_call.
 *   mode              optional: "enforce" (the default) or "shadow".
 *   on_list(tools, ctx)  optional; tools is an array of {name, description,
 *     annotations}, ctx is {server, session, now}; returns the array of the
 *     tool tables it keeps (the same tables; order does not matter). A tool
 *     field over max_string fails the run. description and annotations are
 *     converted when the script first reads, assigns or walks (pairs) the
 *     tool's fields: rawget and next see them only after that; the tool
 *     tables' metatable is protected, and they are valid during their run.
 * Globals: trimmed base (load is text-only, print logs, pcall cannot
 * swallow budget errors and xpcall's handler runs under the budget;
 * setmetatable refuses __gc and __mode and installs a copy of the
 * metatable's fields taken then, so no finalizer and no weak table ever
 * exists: the collector runs both where no hook fires; getmetatable still
 * answers the script's table), read-only string (no dump, rep bounded),
 * table, math, utf8; warden.shared (get/set/incr, see sharedstore.h) and
 * warden.lib.glob/path/pointer (lua/warden/).
 * C code runs without the count hook, so: no string in the state exceeds
 * max_string (arguments holding a longer one are refused before Lua runs, a
 * script building one fails); a pattern call whose worst-case backtracking
 * over its subject would not fit in the time left is refused (plain find and
 * warden.lib.glob suit long agent input); table.insert/remove/move/concat/
 * unpack/sort and load charge their work to the instruction budget; large
 * allocations check the wall clock. Budget failures are sticky: a script's
 * pcall cannot turn them into a verdict. */
#ifndef WARDEN_LUAPOLICY_H
#define WARDEN_LUAPOLICY_H
#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "jsonrpc-t.h"
#include "listitem-t.h"
#include "luapolicy-t.h"
#include "policy-t.h"

/* One loaded policy file with its own lua_State. Used by one thread at a time;
 * the caller frees it with lua_policy_free. */
struct lua_policy;
struct shared_store;
struct metrics;

/* Loads path (text only) with lim (NULL: defaults) and the helper library of
 * paths_lua_dir()/warden/ as warden.lib. shared backs warden.shared and must
 * outlive the policy; server names the server in call.server when the call's
 * ctx has none. Returns NULL with "FILE:LINE: message" (or "FILE: message")
 * in err on failure. */
struct lua_policy *lua_policy_load(const char *path, const struct lua_limits *lim,
                                   struct shared_store *shared, const char *server,
                                   char *err, size_t errlen);
void lua_policy_free(struct lua_policy *lp);

/* From now on every failed run of lp (on_call or on_list: script error,
 * budget, memory) counts once in m's warden_lua_errors_total by kind
 * (timeout, memory or error). m must outlive lp; NULL stops counting. */
void lua_policy_count_errors(struct lua_policy *lp, struct metrics *m);

/* Decides one tools/call message. extra may be NULL. out->rule is
 * "FILE:LINE" of the warden.* call that decided, of the error, or of on_call's
 * definition when it had no opinion. msg's trees (rpc_msg_args,
 * rpc_msg_params) are built when the script reads call.args or call.meta. */
void lua_policy_on_call(struct lua_policy *lp, struct rpc_msg *msg, const struct call_ctx *ctx,
                        const struct lua_call_extra *extra, struct decision *out);

/* True when the returned table says mode = "shadow" (evaluated, never enforced). */
bool lua_policy_is_shadow(const struct lua_policy *lp);

/* True when the policy defines on_list. */
bool lua_policy_has_on_list(const struct lua_policy *lp);

/* Runs on_list over the tools of items[0..n) whose keep[i] is set, and
 * clears keep[i] for those the script did not keep; only names are
 * converted up front. Returns 0, or -1 with err_out a VERDICT_ERROR when the
 * script failed: every keep[i] is then false. */
int lua_policy_on_list_items(struct lua_policy *lp, const struct list_item *items, size_t n, bool *keep,
                             const struct call_ctx *ctx, struct decision *err_out);

/* The same over a tools/list "tools" array, deleting from it the tools
 * the script did not keep. Returns the number deleted, or -1 with err_out a
 * VERDICT_ERROR when the script failed: the array is then untouched and the
 * caller must not forward it as is. */
int lua_policy_on_list(struct lua_policy *lp, cJSON *tools_array, const struct call_ctx *ctx,
                       struct decision *err_out);
#endif
