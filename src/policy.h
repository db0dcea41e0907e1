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

/* policy_decide for a tool whose class warden learnt from the server's last
 * tools/list (riskclass_of_tool, kept by toolmeta); RISK_NONE when no list
 * was seen: the name alone is classed. A policy's "classes_of" overrides
 * both. out->tool_class says the class the decision used. policy_decide is
 * this with RISK_NONE. */
void policy_decide_classed(struct policy_set *ps, struct rate_store *rs, const struct rpc_msg *msg,
                           const struct call_ctx *ctx, enum risk_class observed, struct decision *out);

/* True when a decision of this set depends on the class of a tool beyond
 * its name: a "classes" rule, or a Lua policy (it reads call.tool_class). The
 * exchange then reads tools/list answers to learn each tool's class
 * (toolmeta_remember_tool) even when nothing filters lists. */
bool policy_set_uses_classes(const struct policy_set *ps);

/* The class of tool for this set: the first policy's "classes_of" entry that
 * names it (exact before glob, longer glob first), else observed, else the
 * class of the name alone (riskclass_of_name). For audit lines and metrics of
 * calls decided elsewhere; ps may be NULL. */
enum risk_class policy_tool_class(const struct policy_set *ps, const char *tool, enum risk_class observed);

/* Removes hidden tools (and those a Lua on_list drops) from a tools/list
 * result object's "tools" array, keeping every other field. Returns true
 * when anything was removed. */
bool policy_filter_list(struct policy_set *ps, cJSON *result, const struct call_ctx *ctx);

/* `warden check FILE...`: validates policies (Lua ones compiled and run in
 * the sandbox), prints each problem; returns the exit code. */
int policy_check_main(int argc, char **argv);
#endif
