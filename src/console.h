/* console.c: the web console on the admin listener: a few pages (plain
 * HTML, CSS and JavaScript compiled into warden) and the JSON they read,
 * behind the config's approvers (console_auth.h).
 *
 *   GET  /login, POST /login (secret=...)      a session cookie; ?next= / next=: the console
 *                                              page to go back to (any other value: /)
 *   POST /logout (csrf=...)                    ends it
 *   GET  / /live /approvals /policy /charts    the pages (console_pages[]); /approvals
 *                                              only with Accept: text/html (a browser), its JSON
 *                                              is approval_http.c's (bearer clients, the CLI)
 *   GET  /console/FILE                         their scripts and style
 *   GET  /api/servers                          servers, tools, default decisions
 *   GET  /api/decisions?after=N                the ring, as a JSON array
 *   GET  /api/decisions/stream                 the same, live, as SSE
 *   GET  /api/policies                         /policies' JSON
 *   GET  /api/charts                           the last hour, per minute
 *   GET  /api/approvals                        every approval record, newest first
 *   POST /api/approvals/ID                     {"decision","reason"}: decided by the logged-in approver
 *   POST /api/try                              {"server","tool","arguments","principal"}: the
 *                                              policies' trace of that call (console_try_json)
 *
 * Pages and /api need a session cookie or "Authorization: Bearer SECRET";
 * a POST with a cookie needs the session's CSRF token (form field csrf or
 * header X-CSRF-Token), and every POST a same-origin Origin/Sec-Fetch-Site
 * when the browser sends them. Every answer carries a Content-Security-Policy
 * without inline script, X-Frame-Options DENY and nosniff.
 *
 * Adding a page: one entry in console_pages (console.c) and its script in
 * src/console/. Adding JSON: one entry in console_routes. */
#ifndef WARDEN_CONSOLE_H
#define WARDEN_CONSOLE_H
#include <stdbool.h>
#include <stddef.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include "admin-t.h"

struct console;
struct config;
struct metrics;
struct decisions;
struct catalog;
struct worker;
struct approval_http;

/* Everything the console reads; all borrowed, all must outlive it. */
struct console_sources {
    const struct config *cfg;           /* the approvers */
    struct metrics *metrics;            /* sampled for the charts */
    struct decisions *decisions;        /* the live view */
    struct catalog *catalog;            /* the tools listed; may be NULL */
    const struct worker *worker;        /* the admin's own worker (same thread): its policy generations */
    admin_describe_fn describe;         /* /policies' JSON */
    void *describe_arg;
    struct approval_http *approval_http; /* the Approvals page's records and decisions (approval_http.h); not NULL */
};

/* At most this many live streams at once; more are answered 503. */
#define CONSOLE_MAX_STREAMS 16
/* A stream whose unsent output passes this is closed: a stalled browser
 * must not make warden hold the ring twice. */
#define CONSOLE_STREAM_BACKLOG (1u << 20)

/* Starts the console's timer on base (the admin listener's loop). tls: the
 * listener speaks TLS (cookies get Secure, Origin must be https). Returns
 * NULL with a message in err. */
struct console *console_new(struct event_base *base, const struct console_sources *src, bool tls, char *err,
                            size_t errlen);

/* Answers req when its path is the console's and returns true; false
 * leaves it to the caller (admin.c's /metrics, /healthz, /policies). */
bool console_handle(struct console *c, struct evhttp_request *req);

/* Ends every live stream and frees the console; call before the evhttp
 * that carries its streams is freed. NULL is allowed. */
void console_free(struct console *c);
#endif
