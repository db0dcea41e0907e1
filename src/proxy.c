#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/buffer.h>
#include "client.h"
#include "config.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "policy.h"
#include "audit.h"
#include "metrics.h"
#include "reload.h"
#include "reply.h"
#include "sse.h"
#include "stdio_server.h"
#include "upstream.h"

/* Past this much unsent output, warden stops reading the upstream. */
#define CLIENT_OUTPUT_HIGH (256 * 1024)

static bool span_eq(const char *p, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l && memcmp(p, lit, l) == 0;
}

static bool span_eq_nocase(const char *p, size_t len, const char *lit)
{
    size_t l = strlen(lit);
    return len == l && strncasecmp(p, lit, l) == 0;
}

/* A message's Connection header value (v may be NULL), looked up once per message. */
struct conn_tokens {
    const char *v;
    size_t len;
};

static struct conn_tokens connection_tokens(const struct http_head *h)
{
    struct conn_tokens t = {0};
    t.v = http_header_get(h, "connection", &t.len);
    return t;
}

/* True when the Connection header names `name` (such headers are hop-by-hop too). */
static bool connection_lists(struct conn_tokens t, const char *name, size_t len)
{
    const char *v = t.v;
    const char *end = v ? v + t.len : NULL;
    while (v && v < end) {
        while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
            v++;
        const char *tok = v;
        while (v < end && *v != ',' && *v != ' ' && *v != '\t')
            v++;
        if ((size_t)(v - tok) == len && strncasecmp(tok, name, len) == 0)
            return true;
    }
    return false;
}

/* Headers never taken from a client toward a server. */
static bool client_header_dropped(const struct exchange *ex, struct conn_tokens conn, const char *name, size_t len)
{
    const struct server_conf *sc = ex->server->conf;
    if (http_is_hop_by_hop(name, len) || connection_lists(conn, name, len))
        return true;
    /* Token passthrough is forbidden by the spec unless the operator says so. */
    if (!sc->pass_authorization && (span_eq_nocase(name, len, "authorization") || span_eq_nocase(name, len, "cookie")))
        return true;
    /* Warden checked Origin as the server the client talks to; it is not a browser toward the upstream. */
    if (span_eq_nocase(name, len, "origin"))
        return true;
    for (size_t i = 0; i < sc->nheaders; i++)
        if (span_eq_nocase(name, len, sc->headers[i].name))
            return true;
    return false;
}

/* Writes the request line, the client's end-to-end headers, the server's
 * configured headers and our own framing: nothing of the client's raw bytes. */
static void build_request(struct exchange *ex, const struct http_head *h, const char *query, size_t query_len,
                          const char *body, size_t body_len)
{
    const struct server_conf *sc = ex->server->conf;
    struct evbuffer *b = ex->request;
    evbuffer_add_printf(b, "%s %s", http_method_str((enum http_method)h->method), sc->upstream_path);
    if (query_len)
        evbuffer_add(b, query, query_len);
    evbuffer_add_printf(b, " HTTP/1.1\r\nHost: %s\r\n", sc->host_header);
    struct conn_tokens conn = connection_tokens(h);
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(h, i, &name, &nlen, &value, &vlen);
        if (client_header_dropped(ex, conn, name, nlen))
            continue;
        evbuffer_add(b, name, nlen);
        evbuffer_add(b, ": ", 2);
        evbuffer_add(b, value, vlen);
        evbuffer_add(b, "\r\n", 2);
    }
    for (size_t i = 0; i < sc->nheaders; i++)
        evbuffer_add_printf(b, "%s: %s\r\n", sc->headers[i].name, sc->headers[i].value);
    if (h->method == HTTP_POST || body_len)
        evbuffer_add_printf(b, "Content-Length: %zu\r\n", body_len);
    evbuffer_add(b, "\r\n", 2);
    if (body_len)
        evbuffer_add(b, body, body_len);
}

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Who is calling, for the policies: the session, or the address without one. */
static void fill_call_ctx(const struct exchange *ex, struct call_ctx *ctx)
{
    const struct client_conn *c = ex->client;
    ctx->server = ex->server->conf->name;
    if (ex->session[0]) {
        ctx->session = ex->session;
        ctx->session_len = strlen(ex->session);
    } else {
        /* Without a session, one client address is one agent (the port changes per connection). */
        const char *colon = strrchr(c->addr, ':');
        ctx->session = c->addr;
        ctx->session_len = colon ? (size_t)(colon - c->addr) : strlen(c->addr);
    }
    ctx->client_addr = c->addr;
    ctx->now = clock_seconds(CLOCK_MONOTONIC);
    ctx->wall = clock_seconds(CLOCK_REALTIME);
    ctx->head = &c->reader.head;
    ctx->tool_meta = NULL;
}

/* Tools a server may list before its annotations stop being remembered. */
#define MAX_REMEMBERED_TOOLS 10000

/* Remembers the annotations of the tools in a tools/list result, for call.tool_meta. */
static void remember_tool_meta(struct server_rt *s, const cJSON *result)
{
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(result, "tools"), *t;
    if (!s->tool_meta && !(s->tool_meta = cJSON_CreateObject()))
        return;
    cJSON_ArrayForEach(t, tools) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        const cJSON *ann = cJSON_GetObjectItemCaseSensitive(t, "annotations");
        if (!cJSON_IsString(name) || !cJSON_IsObject(ann))
            continue;
        cJSON *copy = cJSON_Duplicate(ann, 1);
        if (!copy)
            continue;
        if (cJSON_GetObjectItemCaseSensitive(s->tool_meta, name->valuestring))
            cJSON_ReplaceItemInObjectCaseSensitive(s->tool_meta, name->valuestring, copy);
        else if (cJSON_GetArraySize(s->tool_meta) < MAX_REMEMBERED_TOOLS)
            cJSON_AddItemToObject(s->tool_meta, name->valuestring, copy);
        else
            cJSON_Delete(copy);
    }
}

/* Ends the exchange after an answer warden wrote itself. */
static void answered(struct client_conn *c)
{
    client_finish_exchange(c);
}

static void refuse_http(struct client_conn *c, int status, const char *message)
{
    if (status >= 400 && status != 404 && status != 405)
        c->keep_alive = c->keep_alive && status < 500;
    reply_rpc_error(c, status, NULL, 0, RPC_INVALID_REQUEST, message);
    answered(c);
}

/* Content-Type of a POST: JSON in UTF-8, nothing else (415). */
static const char *check_content_type(const struct http_head *h)
{
    size_t len;
    const char *ct = http_header_get(h, "content-type", &len);
    if (!ct)
        return "Content-Type must be application/json";
    if (!http_media_type_is(ct, len, "application/json"))
        return "Content-Type must be application/json";
    size_t cslen;
    const char *cs = http_media_charset(ct, len, &cslen);
    if (cs && !span_eq_nocase(cs, cslen, "utf-8") && !span_eq_nocase(cs, cslen, "utf8"))
        return "JSON must be sent in UTF-8 (charset=utf-8)";
    return NULL;
}

/* Mcp-Session-Id is visible ASCII (spec); anything else could smuggle bytes into logs and keys. */
static bool session_id_valid(const char *v, size_t len)
{
    if (len == 0 || len >= sizeof ((struct exchange *)0)->session)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e)
            return false;
    return true;
}

static const char *const decision_names[] = {
    [VERDICT_NONE] = "allow", [VERDICT_ALLOW] = "allow", [VERDICT_DENY] = "deny", [VERDICT_HIDDEN] = "hide",
    [VERDICT_RATE_LIMITED] = "rate_limit", [VERDICT_APPROVAL] = "require_approval", [VERDICT_ERROR] = "error",
};

/* Writes one audit line for a tool call of this exchange. */
static void audit_call(struct exchange *ex, const char *tool, const cJSON *args, const char *decision, const char *rule,
                       const char *reason, double latency_ms)
{
    struct audit_log *a = ex->client->worker->audit;
    if (!a)
        return;
    struct call_ctx ctx;
    fill_call_ctx(ex, &ctx);
    char session[300];
    snprintf(session, sizeof session, "%.*s", (int)ctx.session_len, ctx.session);
    struct audit_event ev = {
        .server = ex->server->conf->name[0] ? ex->server->conf->name : ex->server->conf->path,
        .session = session, .client = ex->client->addr, .method = "tools/call", .tool = tool,
        .decision = decision, .rule = rule, .reason = reason,
        .shadow_decision = ex->shadow.present ? policy_verdict_name(ex->shadow.verdict) : NULL, .shadow_rule = ex->shadow.rule,
        .status = latency_ms >= 0 ? ex->status : -1, .is_error = latency_ms >= 0 ? ex->is_error : -1,
        .latency_ms = latency_ms, .args = args,
    };
    audit_write(a, &ev);
}

/* Remembers an allowed call so that its audit line can carry the upstream's outcome. */
static void audit_later(struct exchange *ex, const struct rpc_msg *msg)
{
    if (!ex->client->worker->audit)
        return;
    ex->audit_tool = strdup(msg->tool);
    ex->audit_args = audit_keep_args(ex->client->worker->audit, msg->args);
}

/* Answers a tools/call the policies refused, the way the agent can read it. */
static void answer_refusal(struct client_conn *c, const struct rpc_msg *msg, const struct decision *d)
{
    if (d->verdict == VERDICT_HIDDEN) {
        char text[600];
        snprintf(text, sizeof text, "Unknown tool: %s", msg->tool);
        reply_rpc_error(c, 200, msg->id_text, msg->id_len, RPC_INVALID_PARAMS, text);
    } else {
        reply_tool_refusal(c, msg->id_text, msg->id_len, d->reason);
    }
    /* Refusals are the audit log's business; at debug level they also go to the operational log. */
    log_debug("refused %s on server '%s' for %s: %s (%s)", msg->tool, c->ex.server->conf->name, c->addr,
             d->reason, d->rule);
}

/* Decides a POST's message; returns true when warden answered it itself. */
static bool apply_policies(struct client_conn *c, const struct rpc_msg *msg)
{
    struct exchange *ex = &c->ex;
    if (msg->kind != RPC_REQUEST)
        return false;
    struct policy_set *ps = NULL;
    if (ex->server->gen) {
        ex->gen = ex->server->gen;
        ex->gen->refs++;
        ps = ex->gen->set;
    }
    if (msg->tool) {
        struct decision d = {.verdict = VERDICT_ALLOW};
        if (ps) {
            struct call_ctx ctx;
            fill_call_ctx(ex, &ctx);
            ctx.tool_meta = cJSON_GetObjectItemCaseSensitive(ex->server->tool_meta, msg->tool);
            double t0 = clock_seconds(CLOCK_MONOTONIC);
            policy_decide(ps, c->worker->rates, msg, &ctx, &d);
            metrics_policy_seconds(c->worker->metrics, clock_seconds(CLOCK_MONOTONIC) - t0);
        }
        const char *server = ex->server->conf->name[0] ? ex->server->conf->name : ex->server->conf->path;
        metrics_call(c->worker->metrics, server, msg->tool, decision_names[d.verdict]);
        if ((ex->shadow = d.shadow).present)
            metrics_shadow(c->worker->metrics, server, msg->tool, policy_verdict_name(d.shadow.verdict));
        if (d.verdict != VERDICT_NONE && d.verdict != VERDICT_ALLOW) {
            audit_call(ex, msg->tool, msg->args, decision_names[d.verdict], d.rule, d.reason, -1);
            answer_refusal(c, msg, &d);
            return true;
        }
        audit_later(ex, msg);
    } else if (ps && strcmp(msg->method, "tools/list") == 0 && policy_set_filters_lists(ps)) {
        ex->filter_list = true;
    }
    return false;
}

static void handle_post(struct client_conn *c, const struct http_head *h, const char *query, size_t qlen)
{
    struct exchange *ex = &c->ex;
    const char *bad = check_content_type(h);
    if (bad) {
        refuse_http(c, 415, bad);
        return;
    }
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(c->body, c->body_len, &c->worker->rpc_limits, &msg, &err) < 0) {
        reply_rpc_error(c, 400, NULL, 0, err.code, err.message);
        answered(c);
        return;
    }
    if (msg.id_text) {
        ex->id_text = malloc(msg.id_len);
        if (!ex->id_text) {
            rpc_msg_clear(&msg);
            refuse_http(c, 503, "out of memory");
            return;
        }
        memcpy(ex->id_text, msg.id_text, msg.id_len);
        ex->id_len = msg.id_len;
        ex->has_id = msg.kind == RPC_REQUEST;
    }
    bool done = apply_policies(c, &msg);
    enum rpc_kind kind = msg.kind;
    bool is_initialize = msg.method && strcmp(msg.method, "initialize") == 0;
    rpc_msg_clear(&msg);
    if (done) {
        answered(c);
        return;
    }
    if (ex->server->conf->command) {
        if (!(ex->body = malloc(c->body_len ? c->body_len : 1))) {
            refuse_http(c, 503, "out of memory");
            return;
        }
        memcpy(ex->body, c->body, c->body_len);
        ex->body_len = c->body_len;
        stdio_server_post(ex, kind, is_initialize);
        return;
    }
    build_request(ex, h, query, qlen, c->body, c->body_len);
    upstream_start(ex);
}

void proxy_handle(struct client_conn *c)
{
    struct worker *w = c->worker;
    struct exchange *ex = &c->ex;
    const struct http_head *h = &c->reader.head;
    ex->active = true;
    ex->method = h->method;
    ex->started = clock_seconds(CLOCK_MONOTONIC);
    ex->is_error = -1;
    if (!ex->request && !(ex->request = evbuffer_new())) {
        refuse_http(c, 503, "out of memory");
        return;
    }
    const char *url = h->buf + h->url_off;
    size_t url_len = h->url_len;
    const char *q = memchr(url, '?', url_len);
    size_t path_len = q ? (size_t)(q - url) : url_len;
    size_t qlen = q ? url_len - path_len : 0;

    size_t vlen;
    const char *host = http_header_get(h, "host", &vlen);
    if (!host && (h->http_major > 1 || h->http_minor >= 1)) {
        refuse_http(c, 400, "a Host header is required");
        return;
    }
    if (host && !config_host_allowed(w->cfg, host, vlen)) {
        refuse_http(c, 403, "Host not allowed (DNS rebinding protection)");
        return;
    }
    const char *origin = http_header_get(h, "origin", &vlen);
    if (origin && !config_origin_allowed(w->cfg, origin, vlen)) {
        refuse_http(c, 403, "Origin not allowed");
        return;
    }
    if (span_eq(url, path_len, "/healthz")) {
        if (h->method != HTTP_GET) {
            refuse_http(c, 405, "use GET");
            return;
        }
        char body[128];
        int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"version\":\"%s\",\"servers\":%zu}", WARDEN_VERSION,
                         w->nservers);
        reply_send(c, 200, "application/json", NULL, body, (size_t)n);
        answered(c);
        return;
    }
    for (size_t i = 0; i < w->nservers && !ex->server; i++)
        if (span_eq(url, path_len, w->servers[i].conf->path))
            ex->server = &w->servers[i];
    if (!ex->server) {
        refuse_http(c, 404, "no MCP server at this path");
        return;
    }
    const char *sid = http_header_get(h, "mcp-session-id", &vlen);
    if (sid) {
        if (!session_id_valid(sid, vlen)) {
            refuse_http(c, 400, "Mcp-Session-Id must be 1 to 255 visible ASCII characters");
            return;
        }
        memcpy(ex->session, sid, vlen);
        ex->session[vlen] = '\0';
    }
    switch (h->method) {
    case HTTP_POST:
        handle_post(c, h, q, qlen);
        return;
    case HTTP_GET:
    case HTTP_DELETE:
        if (ex->server->conf->command) {
            if (h->method == HTTP_GET)
                stdio_server_get(ex);
            else
                stdio_server_delete(ex);
            return;
        }
        build_request(ex, h, q, qlen, NULL, 0);
        upstream_start(ex);
        return;
    default:
        reply_send(c, 405, "application/json", "Allow: GET, POST, DELETE\r\n",
                   "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"use GET, POST or DELETE\"}}",
                   87);
        answered(c);
        return;
    }
}

/* Starts a streamed answer's chunk, or the raw bytes for other framings. */
static void emit(struct exchange *ex, const char *data, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(ex->client->bev);
    if (len == 0)
        return;
    if (ex->framing == FRAME_CHUNKED) {
        evbuffer_add_printf(out, "%zx\r\n", len);
        evbuffer_add(out, data, len);
        evbuffer_add(out, "\r\n", 2);
    } else {
        evbuffer_add(out, data, len);
    }
}

/* Keeps a slow client from making warden buffer an endless stream. */
static void apply_backpressure(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    if (!c->upstream_paused && evbuffer_get_length(bufferevent_get_output(c->bev)) > CLIENT_OUTPUT_HIGH) {
        c->upstream_paused = true;
        upstream_pause(ex);
    }
}

/* Filters a tools/list response (the text of one JSON-RPC message) when it
 * answers this exchange's request. Returns the new text (caller frees) or
 * NULL when the message passes unchanged. */
static char *filter_list_response(struct exchange *ex, const char *json, size_t len)
{
    const char *id;
    size_t id_len;
    if (!rpc_find_id(json, len, &id, &id_len) || !rpc_id_equal(id, id_len, ex->id_text, ex->id_len))
        return NULL;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root)
        return NULL;
    cJSON *result = cJSON_GetObjectItemCaseSensitive(root, "result");
    char *out = NULL;
    struct call_ctx ctx;
    fill_call_ctx(ex, &ctx);
    /* Only Lua policies read annotations: JSON-only servers skip the bookkeeping. */
    if (cJSON_IsObject(result) && policy_set_has_lua(ex->gen->set))
        remember_tool_meta(ex->server, result);
    if (cJSON_IsObject(result) && policy_filter_list(ex->gen->set, result, &ctx))
        out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* Whether an answer reports failure: a tool result with isError true, or a JSON-RPC error. */
static int answer_is_error(const char *json, size_t len)
{
    const char *end = json + len;
    for (const char *p = json; (p = memmem(p, (size_t)(end - p), "\"isError\"", 9)); p += 9) {
        const char *q = p + 9;
        while (q < end && (*q == ' ' || *q == ':' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (end - q >= 4 && memcmp(q, "true", 4) == 0)
            return 1;
    }
    return memmem(json, len, "\"error\"", 7) && !memmem(json, len, "\"result\"", 8) ? 1 : 0;
}

/* One block of an SSE answer: noted when it answers our request, filtered
 * when it is a tools/list answer, and sent on at once. */
static int on_sse_block(void *arg, const struct sse_event *ev)
{
    struct exchange *ex = arg;
    if (ev->has_data && ex->has_id && !ex->answered_id && ev->data_len > 0) {
        const char *id;
        size_t id_len;
        if (rpc_find_id(ev->data, ev->data_len, &id, &id_len) && rpc_id_equal(id, id_len, ex->id_text, ex->id_len)) {
            ex->is_error = answer_is_error(ev->data, ev->data_len);
            char *filtered = ex->filter_list ? filter_list_response(ex, ev->data, ev->data_len) : NULL;
            if (filtered) {
                struct evbuffer *b = evbuffer_new();
                if (!b) {
                    free(filtered);
                    return -1;
                }
                if (ev->event)
                    evbuffer_add_printf(b, "event: %.*s\n", (int)ev->event_len, ev->event);
                if (ev->has_id)
                    evbuffer_add_printf(b, "id: %.*s\n", (int)ev->id_len, ev->id);
                evbuffer_add_printf(b, "data: %s\n\n", filtered);
                free(filtered);
                size_t blen = evbuffer_get_length(b);
                emit(ex, (const char *)evbuffer_pullup(b, -1), blen);
                evbuffer_free(b);
                ex->answered_id = true;
                return 0;
            }
            ex->answered_id = true;
        }
    }
    emit(ex, ev->raw, ev->raw_len);
    return 0;
}

/* Ends an event stream's silence about our request: its JSON-RPC error, as an event. */
static void stream_error_event(struct exchange *ex, const char *what)
{
    char msg[512];
    proxy_server_error_text(ex->server, what, msg, sizeof msg);
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return;
    evbuffer_add(b, "event: message\ndata: ", 21);
    reply_format_rpc_error(b, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
    evbuffer_add(b, "\n\n", 2);
    size_t blen = evbuffer_get_length(b);
    emit(ex, (const char *)evbuffer_pullup(b, -1), blen);
    evbuffer_free(b);
    ex->answered_id = true;
}

/* Writes the status line and the upstream's end-to-end headers into out. */
static void write_head(struct evbuffer *out, const struct http_head *head)
{
    struct conn_tokens conn = connection_tokens(head);
    evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n", head->status, http_reason(head->status));
    for (size_t i = 0; i < head->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(head, i, &name, &nlen, &value, &vlen);
        if (http_is_hop_by_hop(name, nlen) || connection_lists(conn, name, nlen))
            continue;
        evbuffer_add(out, name, nlen);
        evbuffer_add(out, ": ", 2);
        evbuffer_add(out, value, vlen);
        evbuffer_add(out, "\r\n", 2);
    }
}

/* Ends the header block with our framing and the connection's fate. */
static void finish_head(struct exchange *ex, struct evbuffer *out, size_t length)
{
    struct client_conn *c = ex->client;
    if (ex->framing == FRAME_LENGTH)
        evbuffer_add_printf(out, "Content-Length: %zu\r\n", length);
    else if (ex->framing == FRAME_CHUNKED)
        evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
    if (ex->framing == FRAME_CLOSE || !c->keep_alive || c->worker->stopping) {
        c->keep_alive = false;
        evbuffer_add(out, "Connection: close\r\n", 19);
    }
    evbuffer_add(out, "\r\n", 2);
}

int proxy_upstream_head(struct exchange *ex, const struct http_head *head)
{
    struct client_conn *c = ex->client;
    size_t ctlen;
    const char *ct = http_header_get(head, "content-type", &ctlen);
    bool client_11 = c->reader.head.http_major == 1 && c->reader.head.http_minor >= 1;
    ex->status = head->status;
    bool has_body = head->status != 204 && head->status != 304;
    if (ct && http_media_type_is(ct, ctlen, "text/event-stream")) {
        ex->body_kind = BODY_SSE;
        ex->streaming = true;
        metrics_sse_streams(c->worker->metrics, 1);
        sse_init(&ex->sse, c->worker->cfg->limits.max_sse_event_bytes, on_sse_block, ex);
        ex->sse_ready = true;
    } else if ((ex->filter_list || ex->has_id) && head->status == 200 && ct &&
               http_media_type_is(ct, ctlen, "application/json")) {
        /* An answer to a request is checked (it must answer our id) and maybe filtered: held whole. */
        ex->body_kind = BODY_BUFFERED;
    } else {
        ex->body_kind = BODY_RAW;
    }
    if (ex->body_kind == BODY_BUFFERED || !has_body || (head->has_length && !head->chunked && ex->body_kind == BODY_RAW))
        ex->framing = FRAME_LENGTH;
    else
        ex->framing = client_11 ? FRAME_CHUNKED : FRAME_CLOSE;
    if (ex->body_kind == BODY_BUFFERED) {
        ex->buffered = evbuffer_new();
        ex->held_head = evbuffer_new();
        if (!ex->buffered || !ex->held_head)
            return -1;
        write_head(ex->held_head, head);
        return 0;
    }
    struct evbuffer *out = bufferevent_get_output(c->bev);
    write_head(out, head);
    finish_head(ex, out, has_body ? (size_t)head->content_length : 0);
    ex->head_sent = true;
    return 0;
}

int proxy_upstream_body(struct exchange *ex, const char *at, size_t len)
{
    switch (ex->body_kind) {
    case BODY_RAW:
        emit(ex, at, len);
        break;
    case BODY_SSE:
        if (sse_feed(&ex->sse, at, len) < 0) {
            ex->refusal = "sent an event larger than max_sse_event_bytes";
            return -1;
        }
        break;
    case BODY_BUFFERED:
        if (evbuffer_get_length(ex->buffered) + len > ex->client->worker->cfg->limits.max_sse_event_bytes) {
            ex->refusal = "sent an answer larger than max_sse_event_bytes";
            return -1;
        }
        evbuffer_add(ex->buffered, at, len);
        break;
    }
    apply_backpressure(ex);
    return 0;
}

/* Sends a buffered JSON answer, filtered when it answers our tools/list. */
static void send_buffered(struct exchange *ex)
{
    struct evbuffer *out = bufferevent_get_output(ex->client->bev);
    size_t len = evbuffer_get_length(ex->buffered);
    const char *body = (const char *)evbuffer_pullup(ex->buffered, -1);
    const char *id;
    size_t id_len;
    bool ours = body && rpc_find_id(body, len, &id, &id_len) && rpc_id_equal(id, id_len, ex->id_text, ex->id_len);
    ex->is_error = ours ? answer_is_error(body, len) : 1;
    char *filtered = ours && ex->filter_list ? filter_list_response(ex, body, len) : NULL;
    evbuffer_add_buffer(out, ex->held_head);
    if (!ours) {
        /* What came back answers another request (or none): the client hears that its own failed. */
        char msg[512];
        proxy_server_error_text(ex->server, "answered with a message that is not the response to this request",
                                msg, sizeof msg);
        log_warn("%s (request from %s)", msg, ex->client->addr);
        struct evbuffer *err = evbuffer_new();
        if (err)
            reply_format_rpc_error(err, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
        finish_head(ex, out, err ? evbuffer_get_length(err) : 0);
        if (err) {
            evbuffer_add_buffer(out, err);
            evbuffer_free(err);
        }
    } else if (filtered) {
        size_t flen = strlen(filtered);
        finish_head(ex, out, flen);
        evbuffer_add(out, filtered, flen);
        free(filtered);
    } else {
        finish_head(ex, out, len);
        evbuffer_add_buffer(out, ex->buffered);
    }
    ex->head_sent = true;
}

void proxy_upstream_done(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    if (ex->body_kind == BODY_SSE && ex->has_id && !ex->answered_id && ex->status == 200)
        stream_error_event(ex, "ended the stream without answering this request");
    if (ex->body_kind == BODY_BUFFERED)
        send_buffered(ex);
    else if (ex->framing == FRAME_CHUNKED)
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    if (ex->framing == FRAME_CLOSE)
        c->keep_alive = false;
    client_finish_exchange(c);
}

/* The kind of an upstream failure, for the metrics, from how proxy_upstream_failed was told it. */
static const char *error_kind(const char *what)
{
    if (strstr(what, "refused") || strstr(what, "cannot connect") || strstr(what, "accept the connection"))
        return "connect";
    if (strstr(what, "within") || strstr(what, "sent nothing") || strstr(what, "in time"))
        return "timeout";
    if (strstr(what, "closed") || strstr(what, "connection failed") || strstr(what, "exited"))
        return "reset";
    if (strstr(what, "malformed"))
        return "malformed";
    if (strstr(what, "larger than"))
        return "oversize";
    return "other";
}

void proxy_server_error_text(const struct server_rt *s, const char *what, char *out, size_t outlen)
{
    const struct server_conf *sc = s->conf;
    const char *where = sc->url ? sc->url : sc->command[0];
    if (sc->name[0])
        snprintf(out, outlen, "warden: upstream server '%s' (%s) %s", sc->name, where, what);
    else
        snprintf(out, outlen, "warden: upstream server %s %s", where, what);
}

void proxy_stream_start(struct exchange *ex, const char *session_id)
{
    struct client_conn *c = ex->client;
    if (ex->head_sent)
        return;
    bool client_11 = c->reader.head.http_major == 1 && c->reader.head.http_minor >= 1;
    ex->framing = client_11 ? FRAME_CHUNKED : FRAME_CLOSE;
    ex->body_kind = BODY_SSE;
    ex->streaming = true;
    metrics_sse_streams(c->worker->metrics, 1);
    struct evbuffer *out = bufferevent_get_output(c->bev);
    evbuffer_add_printf(out, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                             "Mcp-Session-Id: %s\r\n", session_id);
    finish_head(ex, out, 0);
    ex->head_sent = true;
}

void proxy_stream_message(struct exchange *ex, const char *json, size_t len)
{
    char *filtered = NULL;
    if (ex->has_id && !ex->answered_id) {
        const char *id;
        size_t id_len;
        if (rpc_find_id(json, len, &id, &id_len) && rpc_id_equal(id, id_len, ex->id_text, ex->id_len)) {
            ex->answered_id = true;
            ex->is_error = answer_is_error(json, len);
            if (ex->filter_list && (filtered = filter_list_response(ex, json, len))) {
                json = filtered;
                len = strlen(filtered);
            }
        }
    }
    struct evbuffer *out = bufferevent_get_output(ex->client->bev);
    size_t event_len = len + 23;   /* "event: message\ndata: " + "\n\n" */
    if (ex->framing == FRAME_CHUNKED)
        evbuffer_add_printf(out, "%zx\r\n", event_len);
    evbuffer_add(out, "event: message\ndata: ", 21);
    evbuffer_add(out, json, len);
    evbuffer_add(out, "\n\n", 2);
    if (ex->framing == FRAME_CHUNKED)
        evbuffer_add(out, "\r\n", 2);
    free(filtered);
    client_flush(ex->client);
}

void proxy_stream_end(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    if (ex->framing == FRAME_CHUNKED)
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    else
        c->keep_alive = false;
    client_finish_exchange(c);
}

void proxy_upstream_failed(struct exchange *ex, const char *what)
{
    struct client_conn *c = ex->client;
    char msg[512];
    proxy_server_error_text(ex->server, what, msg, sizeof msg);
    log_warn("%s (request from %s)", msg, c->addr);
    metrics_upstream_error(c->worker->metrics, ex->server->conf->name[0] ? ex->server->conf->name : ex->server->conf->path,
                           error_kind(what));
    if (ex->audit_tool) {
        ex->is_error = 1;
        audit_call(ex, ex->audit_tool, ex->audit_args, "error", NULL, msg,
                   (clock_seconds(CLOCK_MONOTONIC) - ex->started) * 1000);
        free(ex->audit_tool);
        ex->audit_tool = NULL;
    }
    if (!ex->head_sent) {
        /* A JSON-RPC error for the request's own id reaches the model; any
         * non-2xx would become a transport error in the SDK client. */
        if (ex->has_id)
            reply_rpc_error(c, 200, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
        else
            reply_rpc_error(c, 502, NULL, 0, RPC_INTERNAL_ERROR, msg);
        client_finish_exchange(c);
        return;
    }
    if (ex->body_kind == BODY_SSE && ex->framing == FRAME_CHUNKED) {
        /* The stream's headers are gone: the error travels as the stream's last event. */
        if (ex->has_id && !ex->answered_id)
            stream_error_event(ex, what);
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
        c->keep_alive = false;
        client_finish_exchange(c);
        return;
    }
    /* A body cut short can only be signalled by closing the connection. */
    client_close(c);
}

void proxy_abort(struct exchange *ex)
{
    if (ex->server && ex->server->conf->command)
        stdio_server_cancel(ex);
    else
        upstream_cancel(ex);
    ex->active = false;
}

void proxy_stopping(struct client_conn *c)
{
    struct exchange *ex = &c->ex;
    c->keep_alive = false;
    if (ex->method == HTTP_GET && ex->head_sent && ex->framing == FRAME_CHUNKED) {
        /* A server's event stream has no end of its own; the client will reconnect elsewhere. */
        proxy_abort(ex);
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
        client_finish_exchange(c);
    }
}

void proxy_wait_timeout(struct client_conn *c)
{
    struct exchange *ex = &c->ex;
    if (!ex->waiting)
        return;
    upstream_cancel(ex);
    proxy_upstream_failed(ex, "had no free connection in time (max_connections reached)");
}

void proxy_resume_upstream(struct client_conn *c)
{
    upstream_resume(&c->ex);
}

void proxy_exchange_reset(struct exchange *ex)
{
    struct metrics *metrics = ex->client->worker->metrics;
    if (ex->active) {
        double seconds = clock_seconds(CLOCK_MONOTONIC) - ex->started;
        metrics_request_seconds(metrics, seconds);
        if (ex->audit_tool)
            audit_call(ex, ex->audit_tool, ex->audit_args, "allow", NULL, NULL, seconds * 1000);
    }
    if (ex->streaming)
        metrics_sse_streams(metrics, -1);
    free(ex->audit_tool);
    cJSON_Delete(ex->audit_args);
    if (ex->up || ex->waiting)
        upstream_cancel(ex);
    if (ex->child || ex->child_pending)
        stdio_server_cancel(ex);
    if (ex->gen)
        policy_gen_release(ex->gen);
    free(ex->id_text);
    free(ex->body);
    if (ex->sse_ready)
        sse_free(&ex->sse);
    if (ex->buffered)
        evbuffer_free(ex->buffered);
    if (ex->held_head)
        evbuffer_free(ex->held_head);
    struct evbuffer *request = ex->request;
    if (request)
        evbuffer_drain(request, evbuffer_get_length(request));
    struct client_conn *c = ex->client;
    memset(ex, 0, sizeof *ex);
    ex->client = c;
    ex->request = request;
}
