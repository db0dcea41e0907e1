/* approval_page.c: the approval page on the admin listener: /approvals
 * (for a browser: Accept names text/html), /approvals/approvals.js and
 * /approvals/approvals.css, plain files compiled in (no build step). The
 * page signs in with an approver token (a cookie, HttpOnly, SameSite=Strict),
 * lists pending requests with their arguments, and approves or denies with
 * the CSRF token from /approvals/session. It shows everything through
 * textContent, and its Content-Security-Policy allows no inline script. */
#ifndef WARDEN_APPROVAL_PAGE_H
#define WARDEN_APPROVAL_PAGE_H
#include <stdbool.h>

struct evhttp_request;

/* Answers a GET of one of the page's files (rest: the path after
 * "/approvals/", "" for /approvals itself, served only when html); returns
 * false when rest names none. */
bool approval_page_serve(struct evhttp_request *req, const char *rest, bool html);
#endif
