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

struct schema_doc;   /* schema.h */

/* Binds policy i of the set (in the order of the files) to the callers for
 * whom `when` holds: a JSON condition or array of conditions (as in a
 * rule's "when"; {"principal": "labels.team", "eq": "ci"}), so that for
 * every other caller the policy is as if not loaded (its hide list, rules,
 * Lua and limits). Returns 0, or -1 with the problems in err. */
int policy_set_bind(struct policy_set *ps, size_t i, const char *when, char *err, size_t errlen);

/* Checks a `when` value where a config file binds a policy (problems go
 * to doc); true when it is valid. */
bool policy_when_check(struct schema_doc *doc, const cJSON *v, const char *ptr);

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

/* `warden check FILE...`: validates policies (Lua ones compiled and run in
 * the sandbox), prints each problem; returns the exit code. */
int policy_check_main(int argc, char **argv);
#endif
