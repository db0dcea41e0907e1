/* policy.c: loads the policies of one server and decides each tools/call and
 * tools/list answer on the C fast path. */
#ifndef WARDEN_POLICY_H
#define WARDEN_POLICY_H
#include <stdbool.h>
#include <cjson/cJSON.h>
#include "jsonrpc-t.h"
#include "listitem-t.h"
#include "policy-t.h"
#include "ratelimit.h"

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

/* What policy_set_load_opts may do beyond policy_set_load. */
struct policy_load_opts {
    const char *const *shadow;  /* files loaded in shadow mode, whatever they say (--shadow-policy) */
    size_t nshadow;
    char *warnings;             /* NULL, or a buffer for lint warnings ("FILE:LINE:COL /ptr: warning: ...") */
    size_t warnlen;
    int nwarnings;              /* out: how many warnings there were (some may not fit the buffer) */
    const cJSON *tools;         /* with warnings: the tools the server lists (an array of tool objects
                                 * with name and inputSchema), to find rules that match none, or NULL */
};

/* policy_set_load, with shadow files appended after files[0..n) and lint
 * warnings when asked. A JSON file whose top level says "mode": "shadow", or
 * a Lua file returning mode = "shadow", is a shadow policy too: evaluated on
 * every call, its verdict put in decision.shadow, never enforced; it hides
 * nothing, and its rate limits (and a Lua one's warden.shared) count apart. */
struct policy_set *policy_set_load_opts(const char *const *files, size_t n, struct shared_store *shared,
                                        const char *server, struct policy_load_opts *opts, char *errbuf,
                                        size_t errlen);

/* True when the set holds shadow policies (decisions carry a shadow verdict). */
bool policy_set_has_shadow(const struct policy_set *ps);

/* allow, deny, hide, rate_limit, require_approval, error: the names of the
 * audit log, the metrics and test files (VERDICT_NONE is allow). */
const char *policy_verdict_name(enum verdict v);

/* True when some policy of the set may change tools/list answers (hide,
 * default deny without list_denied, or on_list), so the proxy buffers those
 * answers only when it must. */
bool policy_set_filters_lists(const struct policy_set *ps);

/* Failed runs of the set's Lua policies count in m (warden_lua_errors_total);
 * m must outlive the set. */
void policy_set_count_errors(struct policy_set *ps, struct metrics *m);

/* True when a Lua policy is loaded (it may read call.tool_meta). */
bool policy_set_has_lua(const struct policy_set *ps);

/* Decides one tools/call request: hidden first, then the JSON rules, then
 * the Lua policies; any refusal wins; rate limits are counted last and only
 * for calls finally allowed. Then the shadow policies, the same way, into
 * out->shadow (present only when the set has some). The tool's class is
 * policy_tool_class(ps, tool, ctx->tool_class), reported in out->tool_class;
 * a rule for the exact name, then a glob, then a "classes" rule for the
 * class decide, before "default". The tree of msg's arguments is built
 * (rpc_msg_args) only when a condition or a Lua policy reads them; when it
 * cannot be (out of memory) the condition cannot be told, which refuses. */
void policy_decide(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg,
                   const struct call_ctx *ctx, struct decision *out);

/* The enforced rate limits of an allowed call, not yet admitted: the caller
 * admits them all or none elsewhere (state_rate.c, in a shared store). The
 * limits and owners point into the policy set: valid while the caller holds
 * the set (its generation). */
#define POLICY_MAX_LIMITS 16
struct limit;
struct policy;
struct rate_pending {
    size_t n;                                  /* 0: no limit applies, nothing to admit */
    struct rate_check checks[POLICY_MAX_LIMITS]; /* keys point into keys[] */
    char keys[POLICY_MAX_LIMITS][512];
    const struct limit *limits[POLICY_MAX_LIMITS];
    const struct policy *owners[POLICY_MAX_LIMITS];
};

/* policy_decide, except that the enforced rate limits of a call it allows
 * are not admitted in rs but listed in *pending (shadow policies still count
 * theirs in rs). */
void policy_decide_deferred(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg,
                            const struct call_ctx *ctx, struct decision *out, struct rate_pending *pending);
/* The refusal policy_decide would have given when check `refused` of
 * pending is full for `retry` more seconds (refused >= pending->n: the
 * store could not hold the keys). */
void policy_rate_refusal(const struct rate_pending *pending, size_t refused, double retry, struct decision *out);

/* Where policy_decide_traced writes one line per rule consulted, in order,
 * with what it decided and why, then the decision (and the shadow ones). */
struct policy_trace {
    char *buf;                  /* borrowed; kept NUL-terminated; what does not fit in cap is cut */
    size_t cap, used;
};

/* policy_decide, recording its trace in t; t NULL costs nothing. */
void policy_decide_traced(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg,
                          const struct call_ctx *ctx, struct decision *out, struct policy_trace *t);

/* Whether tools/list shows the tool name[0..len) (of class ctx->tool_class,
 * as toolmeta learnt it; RISK_NONE: from the name): not when an enforced
 * policy hides it, nor when an enforced "default": "deny" policy refuses it
 * whatever its arguments (no rule names it, nor a "classes" rule its class,
 * or the rule denies) unless that policy says "list_denied": true; policies
 * bound to principals count only for the caller in ctx. Lua's on_list is not
 * consulted: it sees the tools listed (policy_run_on_list). */
bool policy_tool_listed(const struct policy_set *ps, const char *name, size_t len, const struct call_ctx *ctx);

/* True when a Lua policy (not a shadow one) defines on_list: the list must
 * then be shown to it (policy_run_on_list), not only decided name by name. */
bool policy_set_has_on_list(const struct policy_set *ps);

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

/* Removes the tools policy_tool_listed refuses (and those a Lua on_list
 * drops) from a tools/list result object's "tools" array, keeping every
 * other field. Returns true when anything was removed. */
bool policy_filter_list(struct policy_set *ps, cJSON *result, const struct call_ctx *ctx);

/* Runs every enforced Lua on_list that applies to ctx, in order, over the
 * tools of items[0..n) whose keep[i] is set (what policy_tool_listed and
 * the pins let through), clearing keep[i] for each tool one does not keep.
 * A failed on_list cannot say what is safe to show: every keep[i] is then
 * false (fail closed). */
void policy_run_on_list(struct policy_set *ps, const struct list_item *items, size_t n, bool *keep,
                        const struct call_ctx *ctx);

/* What the policies decide for a call of `tool` by default: when no
 * deny_if fires and every require holds, before any rate limit is reached.
 * Read-only: counts no rate and runs no Lua, so any thread may ask while
 * the set is alive. For a caller with no principal: policies bound to
 * principals, and rules whose when names one, do not count. */
struct tool_default {
    enum verdict verdict;   /* ALLOW, HIDDEN, DENY, APPROVAL, or RATE_LIMITED: allowed up to a limit */
    char rule[256];         /* "FILE:/json/path" of what decides; "" when nothing does */
    size_t conditions;      /* deny_if and require conditions that may still refuse a call */
    unsigned limit_max;     /* RATE_LIMITED: at most limit_max calls in limit_window seconds */
    double limit_window;
    bool lua;               /* Lua policies also decide, at call time */
};
void policy_tool_default(const struct policy_set *ps, const char *tool, struct tool_default *out);
#endif
