#include "console.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <cjson/cJSON.h>

#include "approval.h"
#include "approval_http.h"
#include "catalog.h"
#include "config-t.h"
#include "console_assets.h"
#include "console_auth.h"
#include "console_data.h"
#include "decisions.h"
#include "history.h"
#include "log.h"
#include "metrics.h"

#define COOKIE "warden_session"
#define TICK_MS 250
/* Every so many ticks: a history sample (5 s) and a keep-alive comment (15 s). */
#define SAMPLE_TICKS 20
#define KEEPALIVE_TICKS 60
/* Decisions sent to one stream per tick, and in one /api/decisions answer. */
#define STREAM_BATCH 200
#define LIST_MAX 1000
/* Failed logins allowed per minute, all sources together: guessing is slow. */
#define LOGIN_FAILURES_PER_MINUTE 20

/* Bodies of the console's JSON POSTs (an approval's reason, a tried call). */
#define POST_MAX (64 * 1024)

/* A page of the console: one entry here and its script in src/console/.
 * html_only: the path is a JSON API too (approval_http.c), so the page
 * answers only a request that accepts text/html, as a browser's does. */
struct console_page {
    const char *path, *title, *script;
    bool html_only;
};
static const struct console_page console_pages[] = {
    {"/", "Servers and tools", "tools.js", false},
    {"/live", "Live decisions", "live.js", false},
    {"/approvals", "Approvals", "approvals.js", true},
    {"/policy", "Policies", "policies.js", false},
    {"/charts", "Charts", "charts.js", false},
};
#define NPAGES (sizeof console_pages / sizeof *console_pages)

/* Who a request comes from: a browser session or a bearer secret. */
struct who {
    const char *id;
    const struct console_session *session;   /* NULL for a bearer */
};

struct console;
typedef void (*route_fn)(struct console *c, struct evhttp_request *req, const struct who *w);

/* JSON of the console: GET routes behind a session or a bearer. */
struct console_route {
    const char *path;
    route_fn fn;
};

struct stream {
    TAILQ_ENTRY(stream) link;
    struct console *console;
    struct evhttp_request *req;
    bool gone;                    /* the browser closed it: libevent detached req, ours to end */
    uint64_t after;               /* the last decision sent */
};
TAILQ_HEAD(stream_list, stream);

struct console {
    struct console_sources src;
    struct console_auth *auth;
    bool tls;
    struct event *tick;
    unsigned long ticks;
    struct history history;
    struct stream_list streams;
    size_t nstreams;
    long long login_minute;
    unsigned login_failures;
};

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *header(struct evhttp_request *req, const char *name)
{
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

/* The headers every console answer carries. */
static void secure_headers(struct evhttp_request *req, const char *type)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", type);
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "Referrer-Policy", "same-origin");
}

static void reply(struct evhttp_request *req, int status, const char *reason, const char *type, struct evbuffer *body)
{
    secure_headers(req, type);
    evhttp_send_reply(req, status, reason, body);
}

/* A JSON error {"error": msg}; msg is warden's own text (no quotes or backslashes). */
static void send_error(struct evhttp_request *req, int status, const char *reason, const char *msg)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    evbuffer_add_printf(b, "{\"error\":\"%s\"}", msg);
    reply(req, status, reason, "application/json", b);
    evbuffer_free(b);
}

static void redirect(struct evhttp_request *req, const char *to)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Location", to);
    send_error(req, 303, "See Other", "see Location");
}

/* The page whose path is `path` (a login's way back), or NULL. */
static const struct console_page *page_named(const char *path)
{
    for (size_t i = 0; path && i < NPAGES; i++)
        if (strcmp(path, console_pages[i].path) == 0)
            return &console_pages[i];
    return NULL;
}

/* The path of the page in ?next=PATH when it is a console page's, else NULL. */
static const char *query_next(struct evhttp_request *req)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv;
    const struct console_page *p = NULL;
    if (q && evhttp_parse_query_str(q, &kv) == 0) {
        p = page_named(evhttp_find_header(&kv, "next"));
        evhttp_clear_headers(&kv);
    }
    return p ? p->path : NULL;
}

/* ---- who is asking ---- */

static bool authenticate(struct console *c, struct evhttp_request *req, struct who *w)
{
    memset(w, 0, sizeof *w);
    const char *auth = header(req, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        const char *secret = auth + 7;
        w->id = console_auth_check_secret(c->auth, secret, strlen(secret));
        return w->id != NULL;
    }
    char sid[CONSOLE_TOKEN_HEX];
    if (!console_cookie(header(req, "Cookie"), COOKIE, sid, sizeof sid))
        return false;
    w->session = console_auth_session(c->auth, sid, strlen(sid), now_mono());
    w->id = w->session ? w->session->who : NULL;
    return w->id != NULL;
}

/* A browser's navigation asks for HTML; fetch() and the CLI ask for JSON or anything. */
static bool wants_html(struct evhttp_request *req)
{
    const char *accept = header(req, "Accept");
    return accept && strstr(accept, "text/html");
}

static bool same_origin(struct console *c, struct evhttp_request *req)
{
    return console_same_origin(header(req, "Origin"), header(req, "Sec-Fetch-Site"), header(req, "Host"), c->tls);
}

/* The form body of a POST as key/values (caller clears); false when it is not one. */
static bool read_form(struct evhttp_request *req, struct evkeyvalq *kv)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    char *text = malloc(len + 1);
    if (!text)
        return false;
    evbuffer_copyout(in, text, len);
    text[len] = '\0';
    TAILQ_INIT(kv);
    bool ok = strlen(text) == len && evhttp_parse_query_str(text, kv) == 0;
    explicit_bzero(text, len);
    free(text);
    return ok;
}

/* ---- pages ---- */

static void html_head(struct evbuffer *b, const char *title)
{
    evbuffer_add_printf(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                           "<title>warden · ");
    console_html_escape(b, title);
    evbuffer_add_printf(b, "</title><link rel=\"stylesheet\" href=\"/console/console.css\">");
}

/* next: the page to go back to after logging in (a console page's path, else "/"). */
static void login_page(struct console *c, struct evhttp_request *req, int status, const char *reason,
                       const char *problem, const char *next)
{
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    html_head(b, "log in");
    evbuffer_add_printf(b, "</head><body class=\"login\"><main><h1>warden</h1>"
                           "<form method=\"post\" action=\"/login\"><input type=\"hidden\" name=\"next\" value=\"");
    const struct console_page *back = page_named(next);
    console_html_escape(b, back ? back->path : "/");
    evbuffer_add_printf(b, "\"><label for=\"secret\">Approver secret</label>"
                           "<input id=\"secret\" name=\"secret\" type=\"password\" autocomplete=\"current-password\" "
                           "autofocus required><button type=\"submit\">Log in</button></form>");
    if (problem) {
        evbuffer_add_printf(b, "<p class=\"problem\" role=\"alert\">");
        console_html_escape(b, problem);
        evbuffer_add_printf(b, "</p>");
    }
    if (c->src.cfg->napprovers == 0)
        evbuffer_add_printf(b, "<p class=\"problem\">No approvers are configured: add \"approvers\" to the "
                               "config file to use the console.</p>");
    evbuffer_add_printf(b, "</main></body></html>\n");
    reply(req, status, reason, "text/html; charset=utf-8", b);
    evbuffer_free(b);
}

static void page(struct console *c, struct evhttp_request *req, const struct who *w, const struct console_page *p)
{
    (void)c;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    html_head(b, p->title);
    evbuffer_add_printf(b, "<meta name=\"csrf\" content=\"");
    console_html_escape(b, w->session ? w->session->csrf : "");
    evbuffer_add_printf(b, "\"></head><body><header><span class=\"brand\">warden</span><nav>");
    for (size_t i = 0; i < NPAGES; i++) {
        evbuffer_add_printf(b, "<a href=\"");
        console_html_escape(b, console_pages[i].path);
        evbuffer_add_printf(b, "\"%s>", &console_pages[i] == p ? " aria-current=\"page\"" : "");
        console_html_escape(b, console_pages[i].title);
        evbuffer_add_printf(b, "</a>");
    }
    evbuffer_add_printf(b, "</nav><span class=\"who\">");
    console_html_escape(b, w->id);
    evbuffer_add_printf(b, "</span>");
    if (w->session) {
        evbuffer_add_printf(b, "<form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"");
        console_html_escape(b, w->session->csrf);
        evbuffer_add_printf(b, "\"><button type=\"submit\">Log out</button></form>");
    }
    evbuffer_add_printf(b, "</header><main id=\"main\"><h1>");
    console_html_escape(b, p->title);
    evbuffer_add_printf(b, "</h1></main><script src=\"/console/app.js\"></script><script src=\"/console/");
    console_html_escape(b, p->script);
    evbuffer_add_printf(b, "\"></script></body></html>\n");
    reply(req, 200, "OK", "text/html; charset=utf-8", b);
    evbuffer_free(b);
}

static bool asset(struct evhttp_request *req, const char *name)
{
    for (const struct console_asset *a = console_assets; a->name; a++) {
        if (strcmp(a->name, name) != 0)
            continue;
        struct evbuffer *b = evbuffer_new();
        if (!b) {
            evhttp_send_error(req, 503, "out of memory");
            return true;
        }
        evbuffer_add_reference(b, a->data, a->len, NULL, NULL);
        reply(req, 200, "OK", a->type, b);
        evbuffer_free(b);
        return true;
    }
    return false;
}

/* ---- logging in and out ---- */

static void login(struct console *c, struct evhttp_request *req)
{
    if (!same_origin(c, req)) {
        send_error(req, 403, "Forbidden", "cross-origin request refused");
        return;
    }
    long long minute = (long long)(now_mono() / 60);
    if (minute != c->login_minute) {
        c->login_minute = minute;
        c->login_failures = 0;
    }
    if (c->login_failures >= LOGIN_FAILURES_PER_MINUTE) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "60");
        login_page(c, req, 429, "Too Many Requests", "Too many failed logins: try again in a minute.", NULL);
        return;
    }
    struct evkeyvalq kv;
    if (!read_form(req, &kv)) {
        login_page(c, req, 400, "Bad Request", "The form could not be read.", NULL);
        return;
    }
    const char *secret = evhttp_find_header(&kv, "secret");
    const char *who = secret ? console_auth_check_secret(c->auth, secret, strlen(secret)) : NULL;
    const struct console_page *back = page_named(evhttp_find_header(&kv, "next"));
    for (struct evkeyval *e = kv.tqh_first; e; e = e->next.tqe_next)
        explicit_bzero(e->value, strlen(e->value));
    evhttp_clear_headers(&kv);
    if (!who) {
        c->login_failures++;
        log_info("console: a login failed");
        login_page(c, req, 401, "Unauthorized", "That secret is not an approver's.", back ? back->path : NULL);
        return;
    }
    const struct console_session *s = console_auth_login(c->auth, who, now_mono());
    if (!s) {
        send_error(req, 503, "Service Unavailable", "no session could be made");
        return;
    }
    char cookie[200];
    snprintf(cookie, sizeof cookie, COOKIE "=%s; HttpOnly; SameSite=Strict; Path=/%s", s->id,
             c->tls ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    log_info("console: %s logged in", who);
    redirect(req, back ? back->path : "/");
}

/* The checks of every POST after login: same origin, an approver, and for
 * a browser session its CSRF token (header X-CSRF-Token, or when form is
 * true the form field csrf). False when req has been answered. */
static bool post_allowed(struct console *c, struct evhttp_request *req, struct who *w, bool form)
{
    if (!same_origin(c, req)) {
        send_error(req, 403, "Forbidden", "cross-origin request refused");
        return false;
    }
    if (!authenticate(c, req, w)) {
        send_error(req, 401, "Unauthorized", "log in first");
        return false;
    }
    if (!w->session)
        return true;
    struct evkeyvalq kv;
    const char *token = header(req, "X-CSRF-Token");
    bool parsed = !token && form && read_form(req, &kv);
    if (parsed)
        token = evhttp_find_header(&kv, "csrf");
    bool ok = console_csrf_ok(w->session, token, token ? strlen(token) : 0);
    if (parsed)
        evhttp_clear_headers(&kv);
    if (!ok)
        send_error(req, 403, "Forbidden", "missing or wrong CSRF token");
    return ok;
}

static void logout(struct console *c, struct evhttp_request *req)
{
    struct who w;
    if (!post_allowed(c, req, &w, true))
        return;
    if (w.session) {
        char id[CONSOLE_TOKEN_HEX];
        snprintf(id, sizeof id, "%s", w.session->id);
        console_auth_logout(c->auth, id, strlen(id));
    }
    char cookie[200];
    snprintf(cookie, sizeof cookie, COOKIE "=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0%s", c->tls ? "; Secure" : "");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Set-Cookie", cookie);
    redirect(req, "/login");
}

/* A POST's JSON object body, or NULL (answered 400/413). */
static cJSON *json_body(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > POST_MAX) {
        send_error(req, 413, "Payload Too Large", "the body is too large");
        return NULL;
    }
    const char *p = len ? (const char *)evbuffer_pullup(in, -1) : NULL;
    cJSON *v = p ? cJSON_ParseWithLength(p, len) : NULL;
    if (!cJSON_IsObject(v)) {
        cJSON_Delete(v);
        send_error(req, 400, "Bad Request", "the body must be a JSON object");
        return NULL;
    }
    return v;
}

/* POST /api/approvals/ID: the logged-in approver decides; the store refuses the requester itself. */
static void decide_approval(struct console *c, struct evhttp_request *req, const char *id)
{
    struct who w;
    if (!post_allowed(c, req, &w, false))
        return;
    if (strncmp(id, "apr_", 4) != 0 || strlen(id) != APPROVAL_ID_LEN || strchr(id, '/')) {
        send_error(req, 404, "Not Found", "no approval request has that id");
        return;
    }
    approval_http_decide(c->src.approval_http, req, id, w.id);
}

/* POST /api/try: the "try a call" form of the Policies page. */
static void try_call(struct console *c, struct evhttp_request *req)
{
    struct who w;
    if (!post_allowed(c, req, &w, false))
        return;
    cJSON *body = json_body(req);
    if (!body)
        return;
    const cJSON *server = cJSON_GetObjectItemCaseSensitive(body, "server");
    const cJSON *tool = cJSON_GetObjectItemCaseSensitive(body, "tool");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(body, "arguments");
    const cJSON *principal = cJSON_GetObjectItemCaseSensitive(body, "principal");
    if (!cJSON_IsString(server) || !cJSON_IsString(tool) || (principal && cJSON_IsNull(principal))) {
        cJSON_Delete(body);
        send_error(req, 400, "Bad Request", "server and tool must be strings, arguments an object");
        return;
    }
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        cJSON_Delete(body);
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    int status = console_try_json(c->src.worker, server->valuestring, tool->valuestring, args, principal, b);
    cJSON_Delete(body);
    const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : status == 400 ? "Bad Request"
                                                                                              : "Service Unavailable";
    reply(req, status, reason, "application/json", b);
    evbuffer_free(b);
}

/* ---- JSON ---- */

static void api_servers(struct console *c, struct evhttp_request *req, const struct who *w)
{
    (void)w;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    console_servers_json(c->src.worker, c->src.catalog, b);
    reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

static void api_policies(struct console *c, struct evhttp_request *req, const struct who *w)
{
    (void)w;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    c->src.describe(c->src.describe_arg, b);
    reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

static void api_charts(struct console *c, struct evhttp_request *req, const struct who *w)
{
    (void)w;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    /* Sampled now as well, so a chart is current to the second. */
    struct metrics_sample s;
    metrics_sample(c->src.metrics, &s);
    double wall = now_wall();
    history_add(&c->history, &s, wall);
    history_render(&c->history, wall, b);
    reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

/* ?after=N (a decision number); 0 when absent or malformed. */
static uint64_t query_after(struct evhttp_request *req)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    struct evkeyvalq kv;
    uint64_t after = 0;
    if (q && evhttp_parse_query_str(q, &kv) == 0) {
        const char *v = evhttp_find_header(&kv, "after");
        char *end;
        if (v && *v >= '0' && *v <= '9') {
            unsigned long long n = strtoull(v, &end, 10);
            after = *end ? 0 : n;
        }
        evhttp_clear_headers(&kv);
    }
    return after;
}

static void api_decisions(struct console *c, struct evhttp_request *req, const struct who *w)
{
    (void)w;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    evbuffer_add(b, "[", 1);
    decisions_since(c->src.decisions, query_after(req), LIST_MAX, ",", b);
    evbuffer_add(b, "]", 1);
    reply(req, 200, "OK", "application/json", b);
    evbuffer_free(b);
}

/* The browser has gone: libevent has detached the request from its
 * connection and leaves it to us; the next tick ends it (which frees it)
 * and the stream, outside this callback. */
static void stream_closed(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct stream *s = arg;
    s->gone = true;
}

/* Sends what the stream has not had yet; false when it must end. */
static bool stream_push(struct console *c, struct stream *s, bool keepalive)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(s->req);
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    if (bev && evbuffer_get_length(bufferevent_get_output(bev)) > CONSOLE_STREAM_BACKLOG)
        return false;
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return false;
    if (decisions_last(c->src.decisions) > s->after) {
        evbuffer_add(b, "data: ", 6);
        s->after = decisions_since(c->src.decisions, s->after, STREAM_BATCH, "\n\ndata: ", b);
        evbuffer_add(b, "\n\n", 2);
    } else if (keepalive) {
        evbuffer_add(b, ": keepalive\n\n", 13);
    }
    if (evbuffer_get_length(b))
        evhttp_send_reply_chunk(s->req, b);
    evbuffer_free(b);
    return true;
}

/* Ends a stream: from our side (the last chunk is sent), or one the
 * browser closed (evhttp_send_reply_end frees a detached request). */
static void stream_end(struct console *c, struct stream *s)
{
    struct evhttp_connection *evcon = s->gone ? NULL : evhttp_request_get_connection(s->req);
    if (evcon)
        evhttp_connection_set_closecb(evcon, NULL, NULL);
    evhttp_send_reply_end(s->req);
    TAILQ_REMOVE(&c->streams, s, link);
    c->nstreams--;
    free(s);
}

static void api_stream(struct console *c, struct evhttp_request *req, const struct who *w)
{
    (void)w;
    if (c->nstreams >= CONSOLE_MAX_STREAMS) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        send_error(req, 503, "Service Unavailable", "too many live streams open");
        return;
    }
    struct stream *s = calloc(1, sizeof *s);
    if (!s) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    s->console = c;
    s->req = req;
    /* ?after=N: the page has read the ring up to N already. Events carry no
     * id: a reconnecting page reads from its first N again and drops by seq. */
    s->after = query_after(req);
    TAILQ_INSERT_TAIL(&c->streams, s, link);
    c->nstreams++;
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    evhttp_connection_set_closecb(evcon, stream_closed, s);
    /* Keep-alive comments write every 15 s: the listener's 10 s timeout is for requests, not streams. */
    evhttp_connection_set_timeout(evcon, 120);
    secure_headers(req, "text/event-stream");
    evhttp_send_reply_start(req, 200, "OK");
    struct evbuffer *b = evbuffer_new();
    if (b) {
        evbuffer_add_printf(b, "retry: 2000\n\n");
        evhttp_send_reply_chunk(req, b);
        evbuffer_free(b);
    }
    stream_push(c, s, false);
}

static void api_approvals(struct console *c, struct evhttp_request *req, const struct who *w)
{
    (void)w;
    approval_http_list(c->src.approval_http, req);
}

static const struct console_route console_routes[] = {
    {"/api/approvals", api_approvals},
    {"/api/servers", api_servers},
    {"/api/decisions", api_decisions},
    {"/api/decisions/stream", api_stream},
    {"/api/policies", api_policies},
    {"/api/charts", api_charts},
};

/* ---- the timer ---- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct console *c = arg;
    c->ticks++;
    if (c->ticks % SAMPLE_TICKS == 1) {
        struct metrics_sample s;
        metrics_sample(c->src.metrics, &s);
        history_add(&c->history, &s, now_wall());
    }
    bool keepalive = c->ticks % KEEPALIVE_TICKS == 0;
    struct stream *s, *next;
    for (s = TAILQ_FIRST(&c->streams); s; s = next) {
        next = TAILQ_NEXT(s, link);
        if (s->gone || !stream_push(c, s, keepalive))
            stream_end(c, s);
    }
}

/* ---- dispatch ---- */

bool console_handle(struct console *c, struct evhttp_request *req)
{
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (!path)
        return false;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD;
    if (strncmp(path, "/console/", 9) == 0) {
        if (!get)
            send_error(req, 405, "Method Not Allowed", "method not allowed: use GET");
        else if (!asset(req, path + 9))
            send_error(req, 404, "Not Found", "not found");
        return true;
    }
    if (strcmp(path, "/login") == 0) {
        if (cmd == EVHTTP_REQ_POST)
            login(c, req);
        else if (get)
            login_page(c, req, 200, "OK", NULL, query_next(req));
        else
            send_error(req, 405, "Method Not Allowed", "method not allowed: use GET or POST");
        return true;
    }
    if (strncmp(path, "/api/approvals/", 15) == 0 || strcmp(path, "/api/try") == 0) {
        if (cmd != EVHTTP_REQ_POST) {
            evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "POST");
            send_error(req, 405, "Method Not Allowed", "method not allowed: use POST");
        } else if (path[5] == 'a') {
            decide_approval(c, req, path + 15);
        } else {
            try_call(c, req);
        }
        return true;
    }
    if (strcmp(path, "/logout") == 0) {
        if (cmd == EVHTTP_REQ_POST)
            logout(c, req);
        else
            send_error(req, 405, "Method Not Allowed", "method not allowed: use POST");
        return true;
    }
    const struct console_page *p = NULL;
    for (size_t i = 0; i < NPAGES && !p; i++)
        if (strcmp(path, console_pages[i].path) == 0 && (!console_pages[i].html_only || wants_html(req)))
            p = &console_pages[i];
    route_fn fn = NULL;
    for (size_t i = 0; i < sizeof console_routes / sizeof *console_routes && !fn; i++)
        if (strcmp(path, console_routes[i].path) == 0)
            fn = console_routes[i].fn;
    if (!p && !fn)
        return false;
    if (!get) {
        send_error(req, 405, "Method Not Allowed", "method not allowed: use GET");
        return true;
    }
    struct who w;
    if (!authenticate(c, req, &w)) {
        if (p) {
            /* A page's own path, from our table: no escaping is needed and nothing else can be named. */
            char to[64];
            snprintf(to, sizeof to, "/login?next=%s", p->path);
            redirect(req, to);
        } else {
            send_error(req, 401, "Unauthorized", "log in, or send Authorization: Bearer SECRET");
        }
        return true;
    }
    if (p)
        page(c, req, &w, p);
    else
        fn(c, req, &w);
    return true;
}

struct console *console_new(struct event_base *base, const struct console_sources *src, bool tls, char *err,
                            size_t errlen)
{
    struct console *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "console: out of memory");
        return NULL;
    }
    c->src = *src;
    c->tls = tls;
    TAILQ_INIT(&c->streams);
    history_init(&c->history);
    struct timeval tv = {0, TICK_MS * 1000};
    if (!(c->auth = console_auth_new(src->cfg->approvers, src->cfg->napprovers, CONSOLE_SESSIONS_BYTES)) ||
        !(c->tick = event_new(base, -1, EV_PERSIST, on_tick, c)) || event_add(c->tick, &tv) < 0) {
        snprintf(err, errlen, "console: out of memory or no random bytes");
        console_free(c);
        return NULL;
    }
    return c;
}

void console_free(struct console *c)
{
    if (!c)
        return;
    while (!TAILQ_EMPTY(&c->streams))
        stream_end(c, TAILQ_FIRST(&c->streams));
    if (c->tick)
        event_free(c->tick);
    console_auth_free(c->auth);
    free(c);
}
