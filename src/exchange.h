/* exchange.c: the answer half of one client request: the upstream's head,
 * body and SSE events (or a stdio child's messages) examined, filtered where
 * a policy must see them, and written to the client; upstream failures turned
 * into JSON-RPC errors, audited and counted; backpressure; the answers warden
 * writes itself. This header is all a transport may call; the client
 * connection and the proxy use the part marked for them. */
#ifndef WARDEN_EXCHANGE_H
#define WARDEN_EXCHANGE_H
#include <stddef.h>
#include "proxy-t.h"

struct call_ctx;

/* Below this much unsent output a paused upstream is read again (the client
 * connection's write watermark). */
#define EXCHANGE_OUTPUT_LOW (64 * 1024)

/* --- for transports --- */

/* An HTTP answer: head (status >= 200), de-chunked body bytes, end. head and
 * body return 0, or -1 to stop reading (the exchange has recorded why: the
 * transport then calls exchange_failed with UPSTREAM_OVERSIZE or MALFORMED). */
int exchange_head(struct exchange *ex, const struct http_head *head);
int exchange_body(struct exchange *ex, const char *at, size_t len);
void exchange_done(struct exchange *ex);
/* Why exchange_head/body refused, for the transport's error (and its kind in
 * *kind); NULL if they did not. */
const char *exchange_refusal(const struct exchange *ex, enum upstream_failure *kind);

/* A message transport (stdio): starts an SSE answer naming the session
 * (session_id NULL: a session-less 2026-07-28 request, no Mcp-Session-Id),
 * carries each message (one strict JSON-RPC message, already read by the
 * transport) as one event, and ends it. */
void exchange_stream_start(struct exchange *ex, const char *session_id);
void exchange_message(struct exchange *ex, const char *json, size_t len);
void exchange_stream_end(struct exchange *ex);

/* The upstream failed; `what` completes "warden: upstream server 'NAME' (WHERE) ...".
 * Ends the exchange: a JSON-RPC error for its id (or an error event on its
 * stream), audited as "error" and counted. The transport has detached. */
void exchange_failed(struct exchange *ex, enum upstream_failure kind, const char *what);

/* Answers warden gives itself (202 to a notification, refusals, session
 * errors; a JSON-RPC error with a null id); each ends the exchange. */
void exchange_answer(struct exchange *ex, int status, const char *extra_headers, const char *body, size_t len);
void exchange_answer_error(struct exchange *ex, int status, int code, const char *message);

/* Arms the exchange's own deadline, ms from now; `what` (static text) says
 * what passing it means and is followed by " N ms" in the error ("did not
 * answer within"). When it passes, the transport's cancel runs and the
 * exchange fails with UPSTREAM_TIMEOUT. Re-arming replaces it; the
 * exchange's end disarms it. */
void exchange_expect(struct exchange *ex, unsigned ms, const char *what);

/* Writes what the answer produced so far to the client now. */
void exchange_flush(struct exchange *ex);

/* --- for the client connection and the proxy --- */

/* The request is complete: the exchange starts (its clock, its id). */
void exchange_begin(struct exchange *ex);
/* The key limits, call.session and the audit's session use for the caller,
 * first found of: the authenticated principal (once authentication names
 * one), the Mcp-Session-Id, the client's address without its port (a
 * 2026-07-28 client has no session: without a principal its limits are per
 * address). Borrowed from ex; *len bytes, not NUL-terminated. */
const char *exchange_caller_key(const struct exchange *ex, size_t *len);
/* Who is calling, for the policies and the audit log. */
void exchange_call_ctx(const struct exchange *ex, struct call_ctx *ctx);
/* Who is calling, for approvals (the requester's id): for now the client's
 * address without its port; identity replaces it with the principal's id. */
void exchange_principal_id(const struct exchange *ex, char *out, size_t outlen);
/* Writes one audit line for a tool call (latency_ms < 0: decided by warden, no upstream outcome). */
void exchange_audit_call(struct exchange *ex, const char *tool, const cJSON *args, const char *decision,
                         const char *rule, const char *reason, double latency_ms);
/* Policy refusals of a tools/call: a tool result with isError true, or for a
 * hidden tool the error an unknown tool gets. End the exchange. */
void exchange_answer_refusal(struct exchange *ex, const char *text);
void exchange_answer_for_id(struct exchange *ex, int code, const char *message);

/* The server's policies changed (a reload): every open GET stream and
 * subscriptions/listen stream that asked for tool list changes gets
 * notifications/tools/list_changed, so that clients list again. */
void exchange_notify_list_changed(struct server_rt *s);
/* A person decided the approval a session was sent to by URL elicitation
 * (approval_elicit.h's elicit_deliver_fn; worker: this loop's struct worker):
 * the session's GET streams on this worker get
 * notifications/elicitation/complete. */
void exchange_notify_elicitation_complete(void *worker, const char *session, size_t len, const char *elicitation_id);
/* A tools/call held for a person's approval (approval_hold.c): warden
 * answers with an event stream of its own at once; comments and messages
 * (progress) go on it; from then on every answer, warden's (exchange_answer
 * and the refusals) or the upstream's once the call is forwarded, is the
 * stream's final event. */
void exchange_hold_start(struct exchange *ex);
void exchange_hold_comment(struct exchange *ex, const char *text);
void exchange_hold_message(struct exchange *ex, const char *json, size_t len);

/* The client went away while its request was in progress. */
void exchange_abort(struct exchange *ex);
/* Warden is stopping: end event streams now, let other requests finish. */
void exchange_stopping(struct exchange *ex);
/* The client has taken our output below EXCHANGE_OUTPUT_LOW: read the upstream again. */
void exchange_output_drained(struct exchange *ex);
/* Frees what the exchange holds and makes it ready for the next request. */
void exchange_reset(struct exchange *ex);
/* Frees the exchange for good (its connection is being freed). */
void exchange_free(struct exchange *ex);
#endif
