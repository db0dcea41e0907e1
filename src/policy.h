/* policy.c: loads the policies of one server and decides each tools/call and
 * tools/list answer on the C fast path. */
#ifndef WARDEN_POLICY_H
#define WARDEN_POLICY_H
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "jsonrpc-t.h"
#include "policy-t.h"

/* All policies of one server, immutable once loaded (a "generation"). */
struct policy_set;
struct rate_store;   /* ratelimit.h */
struct metrics;      /* metrics.h */

struct shared_store; /* sharedstore.h */

/* Loads files[0..n) into one set: JSON policies, and Lua policies (files
 * ending in .lua) each in a sandbox of its own, whose warden.shared is
 * `shared` under the name `server`. On failure returns NULL and writes one
 * line per problem ("FILE:LINE:COL /json/pointer: what is wrong", "FILE:LINE: ...") to
 * errbuf. A set is used by one thread at a time (Lua states are). */
struct policy_set *policy_set_load(const char *const *files, size_t n, struct shared_store *shared,
                                   const char *server, char *errbuf, size_t errlen);
void policy_set_free(struct policy_set *ps);

/* True when some policy of the set may change tools/list answers (hide or
 * on_list), so the proxy buffers those answers only when it must. */
bool policy_set_filters_lists(const struct policy_set *ps);

/* Failed runs of the set's Lua policies count in m (warden_lua_errors_total);
 * m must outlive the set. */
void policy_set_count_errors(struct policy_set *ps, struct metrics *m);

/* True when a Lua policy is loaded (it may read call.tool_meta). */
bool policy_set_has_lua(const struct policy_set *ps);

/* Decides one tools/call request: hidden first, then the JSON rules, then
 * the Lua policies; any refusal wins; rate limits are counted last and only
 * for calls finally allowed. */
void policy_decide(struct policy_set *ps, struct rate_store *rs, const struct rpc_msg *msg,
                   const struct call_ctx *ctx, struct decision *out);

/* Removes hidden tools (and those a Lua on_list drops) from a tools/list
 * result object's "tools" array, keeping every other field. Returns true
 * when anything was removed. */
bool policy_filter_list(struct policy_set *ps, cJSON *result, const struct call_ctx *ctx);

/* Sees each tools/list result's "tools" array before it is filtered, on
 * the worker's thread: server is the call_ctx's. */
typedef void (*policy_list_observer)(void *arg, const char *server, const cJSON *tools);

/* Has fn see every tools/list result this set filters; a set with an
 * observer filters every list (policy_set_filters_lists is true). Call
 * before the set is used; arg must outlive it. */
void policy_set_observe_lists(struct policy_set *ps, policy_list_observer fn, void *arg);

/* What the policies decide for a call of `tool` by default: when no
 * deny_if fires and every require holds, before any rate limit is reached.
 * Read-only: counts no rate and runs no Lua, so any thread may ask while
 * the set is alive. */
struct tool_default {
    enum verdict verdict;   /* ALLOW, HIDDEN, DENY, APPROVAL, or RATE_LIMITED: allowed up to a limit */
    char rule[256];         /* "FILE:/json/path" of what decides; "" when nothing does */
    size_t conditions;      /* deny_if and require conditions that may still refuse a call */
    unsigned limit_max;     /* RATE_LIMITED: at most limit_max calls in limit_window seconds */
    double limit_window;
    bool lua;               /* Lua policies also decide, at call time */
};
void policy_tool_default(const struct policy_set *ps, const char *tool, struct tool_default *out);

/* `warden check FILE...`: validates policies (Lua ones compiled and run in
 * the sandbox), prints each problem; returns the exit code. */
int policy_check_main(int argc, char **argv);
#endif
