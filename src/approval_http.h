/* approval_http.c: the approvers' side of approvals, on the admin listener
 * (admin.h), behind approver tokens (config "approvers": the SHA-256 of each
 * token, compared in constant time; a token is never logged):
 *   GET  /approvals[?status=S]   {"approvals":[...]} newest first (JSON unless the client asks for HTML)
 *   GET  /approvals/ID           one record: arguments, rule, reason, principal, status, times
 *   POST /approvals/ID           {"decision": "approve"|"deny", "reason": "..."}
 *                                200 the record; 403 the requester itself; 404; 409 not pending (decided, expired)
 *   GET  /approvals  (Accept: text/html)   the approval page, approvals.js and approvals.css beside it
 *   POST /approvals/login        {"token": T}: sets the approver cookie (HttpOnly, SameSite=Strict)
 *   GET  /approvals/session      {"approver": ID, "csrf": C}: the page's CSRF token
 * A request authenticates with "Authorization: Bearer T", or with the
 * cookie, and then a POST must carry X-CSRF-Token: C. Failures are JSON
 * errors: 401 (no or a wrong token), 403, 404, 405, 409, 400. */
#ifndef WARDEN_APPROVAL_HTTP_H
#define WARDEN_APPROVAL_HTTP_H
#include <stdbool.h>
#include <event2/buffer.h>
#include "config-t.h"

struct approval_store;
struct approval_http;
struct evhttp_request;

/* cfg and store are borrowed and must outlive it. NULL when out of memory. */
struct approval_http *approval_http_new(const struct config *cfg, struct approval_store *store);
void approval_http_free(struct approval_http *h);

/* admin_route_fn and admin_metrics_fn (admin.h), with arg the approval_http. */
bool approval_http_route(void *arg, struct evhttp_request *req, const char *path);
void approval_http_metrics(void *arg, struct evbuffer *out);
#endif
