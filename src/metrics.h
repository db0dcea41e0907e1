/* metrics.c: counters and histograms of what warden did, shared by every
 * worker thread, rendered in the Prometheus text format (0.0.4) for /metrics.
 * Every function is safe from any thread. Once a label set has been seen,
 * counting it takes a read lock and an atomic add, and allocates nothing. */
#ifndef WARDEN_METRICS_H
#define WARDEN_METRICS_H
#include <event2/buffer.h>

struct metrics;

/* Past this many (server, tool) pairs, further tools of a server count under
 * tool="_other", and so do tool names longer than METRICS_MAX_NAME bytes (MCP
 * names are at most 128): an agent must not grow memory with made-up tools. */
#define METRICS_MAX_TOOLS 1000
#define METRICS_MAX_NAME 128
/* Past this many servers, further server names count under server="_other". */
#define METRICS_MAX_SERVERS 256

/* Returns NULL when out of memory; the caller frees it with metrics_free
 * once no thread uses it any more. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One decision on a tool call: decision is allow, deny, hide, rate_limit,
 * require_approval or error (anything else counts as error). rate_limit also
 * counts in warden_rate_limited_total{server}. */
void metrics_call(struct metrics *m, const char *server, const char *tool, const char *decision);
/* The same with the tool's risk class (read, write, destructive, unknown:
 * decision.tool_class), the label class of warden_tool_calls_total; NULL (as
 * metrics_call passes) leaves the label out (Prometheus reads an absent
 * label as ""). */
void metrics_tool_call(struct metrics *m, const char *server, const char *tool, const char *tool_class,
                       const char *decision);
/* What the server's shadow policies would have decided on a tool call
 * (names and bounds as metrics_call): warden_shadow_decisions_total. */
void metrics_shadow(struct metrics *m, const char *server, const char *tool, const char *decision);
/* How long a request took, from its last byte to the end of its answer. */
void metrics_request_seconds(struct metrics *m, double seconds);
/* How long the policies took to decide one tool call. */
void metrics_policy_seconds(struct metrics *m, double seconds);
/* An upstream failure: kind is connect, timeout, reset, malformed, oversize
 * (anything else counts as other). */
void metrics_upstream_error(struct metrics *m, const char *server, const char *kind);
/* A Lua policy failed: kind is error, timeout or memory (anything else counts as error). */
void metrics_lua_error(struct metrics *m, const char *kind);
/* Gauges, moved by +1 and -1. */
void metrics_connections(struct metrics *m, int delta);
void metrics_sse_streams(struct metrics *m, int delta);
/* A server's open upstream sessions (a stdio server's live children, every
 * worker's together), moved by +1 and -1; read from any thread by
 * metrics_sessions_open (0 for a server never counted). */
void metrics_sessions(struct metrics *m, const char *server, int delta);
long long metrics_sessions_open(struct metrics *m, const char *server);
/* A policy reload (ok: 1 or 0) and, when it worked, the generation now in force. */
void metrics_reload(struct metrics *m, int ok, unsigned long generation);
/* Audit lines lost: the queue was full or the file could not be written. */
void metrics_audit_dropped(struct metrics *m, unsigned long lines);

/* Totals so far, for the console's charts (history.c). */
#define METRICS_DECISIONS 6          /* allow, deny, hide, rate_limit, require_approval, error */
#define METRICS_LATENCY_BUCKETS 15   /* the request histogram's 14 bounds and +Inf */
struct metrics_sample {
    unsigned long long calls[METRICS_DECISIONS];            /* tool calls by decision, all servers */
    unsigned long long latency[METRICS_LATENCY_BUCKETS];    /* requests per bucket (not cumulative) */
};
void metrics_sample(struct metrics *m, struct metrics_sample *out);
/* The decision counted at index i, and the upper bound (seconds) of latency bucket i (+Inf last). */
const char *metrics_decision_name(size_t i);
double metrics_latency_bound(size_t i);

/* Appends every family, with # HELP and # TYPE, in the text exposition format 0.0.4. */
void metrics_render(struct metrics *m, struct evbuffer *out);
#endif
