/* approval_hold.c: what happens to a tools/call a policy sends to approval,
 * on the agent's side. The call is looked up in the approval store
 * (approval.h) by what it is: a grant a person gave lets it through; a
 * denial refuses it with the approver's reason; otherwise it waits. A client
 * that accepts an event stream is held on one: an SSE comment every 10 s,
 * and a notifications/progress naming the approval when the request has a
 * progress token; when a person decides within the hold, the proxy decides
 * the call again (the resume callback). When the hold runs out, or at once
 * for a client without SSE or a hold of 0, the call ends as a tool result
 * with isError true saying the tool has NOT run and that the same call will
 * pass once approved, with _meta["warden/approval"] = {status, id,
 * expires_at, retry_after}: never anything that approves. A client that
 * goes away cancels its call, never the approval request. */
#ifndef WARDEN_APPROVAL_HOLD_H
#define WARDEN_APPROVAL_HOLD_H
#include "proxy-t.h"

/* Decides the held call again, on its worker's loop, once a person has
 * decided (or its request expired). */
typedef void (*approval_resume_fn)(struct client_conn *c);

enum approval_begin {
    APPROVAL_BEGIN_ANSWERED, /* answered, or held: the exchange is taken care of */
    APPROVAL_BEGIN_GRANTED,  /* a person approved this call: ex->approval_id names the approval;
                                * the caller decides again with call_ctx.approval_id set */
};

/* For a call whose decision d is VERDICT_APPROVAL. Writes the call's
 * require_approval (or deny) audit line itself. Builds msg's trees (its
 * params and arguments: rpc_msg_params, rpc_msg_args). */
/* With the shared state (Redis), each worker subscribes this to
 * approval_redis_channel with arg the worker: a decision made on any warden
 * wakes the calls this worker holds on that id (id NULL: all of them, after
 * the subscription was made again), and tells the sessions this worker sent
 * to that approval page (elicit_sessions_decided). */
void approval_hold_decided(void *arg, const char *id, size_t len);

enum approval_begin approval_hold_begin(struct exchange *ex, struct rpc_msg *msg, const struct decision *d,
                                        approval_resume_fn resume);
#endif
