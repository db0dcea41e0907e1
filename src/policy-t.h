/* Types shared by the policy engines (policy.c for JSON, luapolicy.c for Lua)
 * and the proxy that asks them. */
#ifndef WARDEN_POLICY_T_H
#define WARDEN_POLICY_T_H
#include <stdbool.h>
#include <stddef.h>
#include "riskclass.h"

enum verdict {
    VERDICT_NONE = 0,       /* no opinion: the next policy decides */
    VERDICT_ALLOW,
    VERDICT_DENY,
    VERDICT_HIDDEN,         /* answered as if the tool did not exist */
    VERDICT_RATE_LIMITED,
    VERDICT_APPROVAL,       /* require_approval: held for a person (approval.h) */
    VERDICT_ERROR,          /* a policy failed: fail closed, refused */
};

/* What the shadow policies would have decided: audited and counted, never enforced. */
struct shadow_verdict {
    bool present;           /* the server has shadow policies: the fields below are set */
    enum verdict verdict;   /* never VERDICT_NONE */
    char rule[256];         /* as decision.rule; "" when they allowed without a rule */
    char reason[256];
};

/* How a call sent to approval waits (a rule's "approval" object, or the
 * opts of Lua's warden.require_approval); approval.h has the store. */
enum approval_scope { APPROVAL_SCOPE_CALL, APPROVAL_SCOPE_TOOL };
struct approval_opts {
    double hold;            /* seconds the call is held on its stream; default 45 */
    double ttl;             /* seconds the request waits for a person; default 900 */
    double grant_ttl;       /* seconds an approval waits for the retry; default 600 */
    int scope;              /* enum approval_scope: one call (default), or the tool for grant_ttl */
};
#define APPROVAL_OPTS_DEFAULT ((struct approval_opts){.hold = 45, .ttl = 900, .grant_ttl = 600})

/* What decided a call and what the agent is told. */
struct decision {
    enum verdict verdict;
    char reason[512];       /* the text the agent sees */
    char rule[256];         /* "FILE:/json/path" or "FILE:LINE": what decided */
    double retry_after;     /* seconds, for VERDICT_RATE_LIMITED */
    enum risk_class tool_class;   /* the class the policies saw (policy_tool_class), for audit and metrics */
    struct approval_opts approval; /* for VERDICT_APPROVAL */
    struct shadow_verdict shadow;
};

struct http_head;   /* http-t.h */
struct cJSON;       /* cjson/cJSON.h */
struct principal;   /* auth.h */

/* Who is calling. Everything is borrowed for the duration of one decision. */
struct call_ctx {
    const char *server;     /* the server's name in the config ("" for --upstream) */
    const char *session;    /* Mcp-Session-Id, or the client's address without one */
    size_t session_len;
    const char *client_addr;
    double now;             /* seconds, CLOCK_MONOTONIC: for windows and budgets */
    double wall;            /* seconds since the epoch: what scripts see as call.now */
    const struct http_head *head;        /* the request's headers (Lua sees an allow-listed few), or NULL */
    const struct cJSON *tool_meta;       /* the tool's annotations as last listed (untrusted hints), or NULL */
    enum risk_class tool_class;          /* the class learnt from the last tools/list (toolmeta_class);
                                          * RISK_NONE: none seen, the name is classed */
    const struct principal *principal;   /* who is calling (auth.h), or NULL when unknown */
    const char *approval_id;             /* a person approved this very call (approval.h): require_approval
                                          * rules pass it, every other rule still decides; NULL otherwise */
};
#endif
