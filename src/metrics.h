/* metrics.c: counters and histograms of what warden did, shared by every
 * worker thread, rendered in the Prometheus text format for /metrics. */
#ifndef WARDEN_METRICS_H
#define WARDEN_METRICS_H
#include <event2/buffer.h>

struct metrics;

/* Past this many (server, tool) pairs, tools count under tool="_other": an
 * agent must not grow memory by calling made-up tools. */
#define METRICS_MAX_TOOLS 1000

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* One decision on a tool call: decision is allow, deny, hide, rate_limit, require_approval or error. */
void metrics_call(struct metrics *m, const char *server, const char *tool, const char *decision);
/* How long a request took, from its last byte to the end of its answer; how long the policies took. */
void metrics_request_seconds(struct metrics *m, double seconds);
void metrics_policy_seconds(struct metrics *m, double seconds);
/* An upstream failure: kind is connect, timeout, reset, malformed, oversize or other. */
void metrics_upstream_error(struct metrics *m, const char *server, const char *kind);
/* Gauges, moved by +1 and -1. */
void metrics_connections(struct metrics *m, int delta);
void metrics_sse_streams(struct metrics *m, int delta);
/* A policy reload and the generation in force. */
void metrics_reload(struct metrics *m, int ok, unsigned long generation);
void metrics_audit_dropped(struct metrics *m);

/* Appends the text exposition format (0.0.4). */
void metrics_render(struct metrics *m, struct evbuffer *out);
#endif
