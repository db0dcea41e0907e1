/* approval_http.c: the approvers' side of approvals, on the admin listener
 * (admin.h), behind approver tokens (config "approvers": the SHA-256 of each
 * token, compared in constant time; a token is never logged):
 *   GET  /approvals[?status=S]   {"approvals":[...]} newest first (JSON unless the client asks for HTML)
 *   GET  /approvals/ID           one record: arguments, rule, reason, principal, status, times
 *   POST /approvals/ID           {"decision": "approve"|"deny", "reason": "..."}
 *                                200 the record; 403 the requester itself; 404; 409 not pending (decided, expired)
 * A request authenticates with "Authorization: Bearer T" (the CLI, scripts).
 * People use the console's Approvals page: GET /approvals with Accept:
 * text/html is that page (console.c answers it before these routes), and
 * it decides through POST /api/approvals/ID with the console's session and
 * CSRF token, which calls approval_http_decide. Failures are JSON errors:
 * 401 (no or a wrong token), 403, 404, 405, 409, 400. */
#ifndef WARDEN_APPROVAL_HTTP_H
#define WARDEN_APPROVAL_HTTP_H
#include <stdbool.h>
#include <event2/buffer.h>
#include "config-t.h"

struct approval_store;
struct approval_http;
struct evhttp_request;

struct state;

/* cfg, store and state are borrowed and must outlive it. state (on the
 * admin listener's loop) set: requests are listed, shown and decided in
 * Redis (approval_redis.h), where every warden sees them; Redis unreachable
 * answers 503 and decides nothing. NULL when out of memory. */
struct approval_http *approval_http_new(const struct config *cfg, struct approval_store *store, struct state *state);
void approval_http_free(struct approval_http *h);

/* admin_route_fn and admin_metrics_fn (admin.h), with arg the approval_http. */
bool approval_http_route(void *arg, struct evhttp_request *req, const char *path);
void approval_http_metrics(void *arg, struct evbuffer *out);

/* Decides approval id as approver who from req's JSON body {"decision":
 * "approve"|"deny", "reason": up to 400 bytes} and answers req: 200 the
 * record, 400, 403 (who is the requester), 404, 409 (not pending). The
 * caller has authenticated who (and checked CSRF for a browser session). */
void approval_http_decide(struct approval_http *h, struct evhttp_request *req, const char *id, const char *who);

/* Answers req with the records (?status= filters them), from the shared
 * state when there is one: 200 a JSON array, 400 a bad status, 503 when the
 * shared state cannot be reached. The caller has authenticated the request. */
void approval_http_list(struct approval_http *h, struct evhttp_request *req);
#endif
