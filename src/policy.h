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

/* Loads files[0..n) (JSON policies) into one set. On failure returns NULL and
 * writes one line per problem ("FILE: /json/path: what is wrong") to errbuf. */
struct policy_set *policy_set_load(const char *const *files, size_t n, char *errbuf, size_t errlen);
void policy_set_free(struct policy_set *ps);

/* True when some policy of the set may change tools/list answers (hide or
 * on_list), so the proxy buffers those answers only when it must. */
bool policy_set_filters_lists(const struct policy_set *ps);

/* Decides one tools/call request. Every policy is evaluated and any refusal
 * wins; rate limits are counted last and only for calls finally allowed. */
void policy_decide(const struct policy_set *ps, struct rate_store *rs, const struct rpc_msg *msg,
                   const struct call_ctx *ctx, struct decision *out);

/* Removes hidden tools from a tools/list result object (its "tools" array),
 * keeping every other field. Returns true when anything was removed. */
bool policy_filter_list(const struct policy_set *ps, cJSON *result, const struct call_ctx *ctx);

/* `warden check FILE...`: validates policies, prints each problem; returns the exit code. */
int policy_check_main(int argc, char **argv);
#endif
