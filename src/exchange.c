#include "exchange.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include "answer.h"
#include "answer_memo.h"
#include "approval_elicit.h"
#include "audit.h"
#include "era.h"
#include "client.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "pins.h"
#include "policy.h"
#include "reload.h"
#include "reply.h"
#include "toolmeta.h"
#include "catalog.h"
#include "sse.h"
#include "transport.h"
#include "utf8.h"

/* Past this much unsent output, warden stops reading the upstream. */
#define EXCHANGE_OUTPUT_HIGH (256 * 1024)

/* The metrics' kinds (metrics.c has these six): waiting for a free slot is
 * a timeout, a child's exit a reset, as they always were. */
static const char *const failure_names[] = {
    [UPSTREAM_CONNECT] = "connect", [UPSTREAM_TIMEOUT] = "timeout", [UPSTREAM_BUSY] = "timeout",
    [UPSTREAM_RESET] = "reset", [UPSTREAM_EXITED] = "reset", [UPSTREAM_MALFORMED] = "malformed",
    [UPSTREAM_OVERSIZE] = "oversize", [UPSTREAM_INTERNAL] = "other",
};

static double clock_seconds(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *server_label(const struct server_rt *s)
{
    return s->conf->name[0] ? s->conf->name : s->conf->path;
}

static struct evbuffer *output(const struct exchange *ex)
{
    return bufferevent_get_output(ex->client->bev);
}

const char *exchange_caller_key(const struct exchange *ex, size_t *len)
{
    const struct client_conn *c = ex->client;
    if (ex->session[0]) {
        *len = strlen(ex->session);
        return ex->session;
    }
    /* Without a session (every 2026-07-28 request), one client address is
     * one agent: the port changes per connection. */
    const char *colon = strrchr(c->addr, ':');
    *len = colon ? (size_t)(colon - c->addr) : strlen(c->addr);
    return c->addr;
}

void exchange_call_ctx(const struct exchange *ex, struct call_ctx *ctx)
{
    const struct client_conn *c = ex->client;
    ctx->server = ex->server->conf->name;
    ctx->session = exchange_caller_key(ex, &ctx->session_len);
    ctx->client_addr = c->addr;
    ctx->now = clock_seconds(CLOCK_MONOTONIC);
    ctx->wall = clock_seconds(CLOCK_REALTIME);
    ctx->head = &c->reader.head;
    ctx->tool_meta = NULL;
    ctx->tool_class = RISK_NONE;
    ctx->principal = ex->principal.doc ? &ex->principal : NULL;
    ctx->approval_id = NULL;
}

/* THE place that says who is calling, for approvals: the authenticated
 * principal's id; without one, the client's address without its port, so
 * that a retry from another connection or session is the same caller. */
void exchange_principal_id(const struct exchange *ex, char *out, size_t outlen)
{
    if (ex->principal.doc && ex->principal.id && ex->principal.kind != PRINCIPAL_ANONYMOUS) {
        snprintf(out, outlen, "%s", ex->principal.id);
        return;
    }
    const char *addr = ex->client->addr;
    const char *colon = strrchr(addr, ':');
    size_t len = colon ? (size_t)(colon - addr) : strlen(addr);
    snprintf(out, outlen, "%.*s", (int)len, addr);
}

/* The audit log of ex's worker, with the exchange's session id in session
 * (cut to fit); NULL, session untouched, when the worker audits nothing. */
static struct audit_log *audit_for(struct exchange *ex, char *session, size_t len)
{
    struct audit_log *a = ex->client->worker->audit;
    if (!a)
        return NULL;
    struct call_ctx ctx;
    exchange_call_ctx(ex, &ctx);
    snprintf(session, len, "%.*s", (int)ctx.session_len, ctx.session);
    return a;
}

void exchange_audit_call(struct exchange *ex, const char *tool, const cJSON *args, const char *decision,
                         const char *rule, const char *reason, double latency_ms)
{
    char session[300];
    struct audit_log *a = audit_for(ex, session, sizeof session);
    if (!a)
        return;
    struct audit_event ev = {
        .server = server_label(ex->server), .session = session, .client = ex->client->addr,
        .principal = ex->principal.id,
        .principal_kind = ex->principal.doc ? principal_kind_name(ex->principal.kind) : NULL,
        .method = "tools/call", .tool = tool, .tool_class = ex->tool_class ? risk_class_name(ex->tool_class) : NULL, .decision = decision, .rule = rule, .reason = reason,
        .shadow_decision = ex->shadow.present ? policy_verdict_name(ex->shadow.verdict) : NULL,
        .shadow_rule = ex->shadow.rule,
        .status = latency_ms >= 0 ? ex->status : -1, .is_error = latency_ms >= 0 ? ex->is_error : -1,
        .latency_ms = latency_ms, .args = args, .approval_id = ex->approval_id[0] ? ex->approval_id : NULL,
    };
    audit_write(a, &ev);
}

/* The text of the JSON-RPC error warden gives for a failed server, naming it. */
static void server_error_text(const struct server_rt *s, const char *what, char *out, size_t outlen)
{
    const struct server_conf *sc = s->conf;
    const char *where = sc->url ? sc->url : sc->command[0];
    if (sc->name[0])
        snprintf(out, outlen, "warden: upstream server '%s' (%s) %s", sc->name, where, what);
    else
        snprintf(out, outlen, "warden: upstream server %s %s", where, what);
}

/* --- backpressure: the one place it is decided --- */

/* Keeps a slow client from making warden buffer an endless answer. */
static void apply_backpressure(struct exchange *ex)
{
    if (!ex->paused && ex->server && evbuffer_get_length(output(ex)) > EXCHANGE_OUTPUT_HIGH) {
        ex->paused = true;
        ex->server->transport->pause(ex);
    }
}

void exchange_output_drained(struct exchange *ex)
{
    if (!ex->paused)
        return;
    ex->paused = false;
    if (ex->server)
        ex->server->transport->resume(ex);
}

/* Room for a chunk's size line ("%zx\r\n") and its closing CRLF. */
#define CHUNK_FRAME (2 * sizeof(size_t) + 4)

/* Writes a chunk's size line at w; returns its end. */
static char *chunk_head(char *w, size_t len)
{
    char hex[2 * sizeof(size_t)];
    size_t n = sizeof hex;
    do {
        hex[--n] = "0123456789abcdef"[len & 15];
        len >>= 4;
    } while (len);
    memcpy(w, hex + n, sizeof hex - n);
    w += sizeof hex - n;
    *w++ = '\r';
    *w++ = '\n';
    return w;
}

/* Room for `need` bytes at the end of the client's output, in one piece;
 * NULL (and the connection closed) when out of memory. */
static char *output_room(struct exchange *ex, size_t need, struct evbuffer_iovec *v)
{
    if (need > (size_t)EV_SSIZE_MAX || evbuffer_reserve_space(output(ex), (ev_ssize_t)need, v, 1) != 1) {
        client_close(ex->client);
        return NULL;
    }
    return v->iov_base;
}

/* Hands over what was written into the room from output_room, up to w. */
static void output_commit(struct exchange *ex, struct evbuffer_iovec *v, const char *w)
{
    v->iov_len = (size_t)(w - (const char *)v->iov_base);
    evbuffer_commit_space(output(ex), v, 1);
    apply_backpressure(ex);
}

/* Adds bytes of the answer's body: as one chunk when chunked. */
static void emit_bytes(struct exchange *ex, const char *data, size_t len)
{
    if (len == 0)
        return;
    if (ex->framing != FRAME_CHUNKED) {
        evbuffer_add(output(ex), data, len);
        apply_backpressure(ex);
        return;
    }
    struct evbuffer_iovec v;
    char *w = output_room(ex, len + CHUNK_FRAME, &v);
    if (!w)
        return;
    w = chunk_head(w, len);
    memcpy(w, data, len);
    w += len;
    *w++ = '\r';
    *w++ = '\n';
    output_commit(ex, &v, w);
}

/* Writes the verbatim events put aside while a read was parsed (on_sse_block). */
static void flush_run(struct exchange *ex)
{
    const char *run = ex->sse_run;
    size_t len = ex->sse_run_len;
    ex->sse_run = NULL;
    ex->sse_run_len = 0;
    if (run)
        emit_bytes(ex, run, len);
}

/* Adds bytes of the answer's body, after any events put aside, so that
 * everything leaves in order. */
static void emit(struct exchange *ex, const char *data, size_t len)
{
    flush_run(ex);
    emit_bytes(ex, data, len);
}

/* Emits one SSE event built by warden: an optional type and id (from the
 * upstream's event; the SSE parser already split on every line end, so they
 * hold no CR or LF) and one JSON message as its data. Raw CR and LF can only
 * stand between the tokens of a strict JSON message, where a space means the
 * same: they become spaces, so that no byte of the message frames a line.
 * Written straight into the output, in one piece with its chunk frame. */
static void emit_event(struct exchange *ex, const char *type, size_t type_len, const char *id, size_t id_len,
                       bool has_id, const char *json, size_t len)
{
    flush_run(ex);
    if (!type) {
        type = "message";
        type_len = 7;
    }
    size_t event_len = 7 + type_len + 1 + (has_id ? 4 + id_len + 1 : 0) + 6 + len + 2;
    struct evbuffer_iovec v;
    char *w = output_room(ex, event_len + CHUNK_FRAME, &v);
    if (!w)
        return;
    if (ex->framing == FRAME_CHUNKED)
        w = chunk_head(w, event_len);
    memcpy(w, "event: ", 7);
    memcpy(w + 7, type, type_len);
    w += 7 + type_len;
    *w++ = '\n';
    if (has_id) {
        memcpy(w, "id: ", 4);
        memcpy(w + 4, id, id_len);
        w += 4 + id_len;
        *w++ = '\n';
    }
    memcpy(w, "data: ", 6);
    w += 6;
    memcpy(w, json, len);
    for (char *c = w, *e = w + len; (c = memchr(c, '\n', (size_t)(e - c))); c++)
        *c = ' ';
    for (char *c = w, *e = w + len; (c = memchr(c, '\r', (size_t)(e - c))); c++)
        *c = ' ';
    w += len;
    memcpy(w, "\n\n", 2);
    w += 2;
    if (ex->framing == FRAME_CHUNKED) {
        *w++ = '\r';
        *w++ = '\n';
    }
    output_commit(ex, &v, w);
}

/* The JSON-RPC error for the exchange's request, as the stream's event. */
static void stream_error_event(struct exchange *ex, const char *what)
{
    char msg[512];
    server_error_text(ex->server, what, msg, sizeof msg);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        client_close(ex->client);
        return;
    }
    reply_format_rpc_error(b, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
    size_t blen = evbuffer_get_length(b);
    emit_event(ex, NULL, 0, NULL, 0, false, (const char *)evbuffer_pullup(b, -1), blen);
    evbuffer_free(b);
    ex->answered_id = true;
}

/* --- change notifications warden sends itself --- */

/* An event stream has started: a GET stream, or a subscriptions/listen
 * stream asking for tool list changes, is told of reloads from now on. */
static void listen_start(struct exchange *ex)
{
    if (ex->listening || !ex->server || (ex->method != HTTP_GET && !ex->era.listen_tools))
        return;
    ex->listening = true;
    LIST_INSERT_HEAD(&ex->server->listeners, ex, listen_link);
}

static void listen_end(struct exchange *ex)
{
    if (!ex->listening)
        return;
    LIST_REMOVE(ex, listen_link);
    ex->listening = false;
}

void exchange_notify_list_changed(struct server_rt *s)
{
    /* Writing may close a connection (and take its exchange off the list). */
    for (struct exchange *ex = LIST_FIRST(&s->listeners), *next; ex; ex = next) {
        next = LIST_NEXT(ex, listen_link);
        struct evbuffer *b = evbuffer_new();
        if (!b)
            continue;
        evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/tools/list_changed\"");
        if (ex->has_id) {
            /* the listen request's id is its subscription's id (2026-07-28) */
            evbuffer_add_printf(b, ",\"params\":{\"_meta\":{\"io.modelcontextprotocol/subscriptionId\":");
            evbuffer_add(b, ex->id_text, ex->id_len);
            evbuffer_add(b, "}}", 2);
        }
        evbuffer_add(b, "}", 1);
        size_t len = evbuffer_get_length(b);
        const char *p = (const char *)evbuffer_pullup(b, -1);
        if (p)
            emit_event(ex, NULL, 0, NULL, 0, false, p, len);
        evbuffer_free(b);
        exchange_flush(ex);
    }
}

void exchange_notify_elicitation_complete(void *worker, const char *session, size_t len, const char *elicitation_id)
{
    struct worker *w = worker;
    for (size_t i = 0; i < w->nservers; i++) {
        struct server_rt *s = w->servers[i];
        /* Writing may close a connection (and take its exchange off the list). */
        for (struct exchange *ex = LIST_FIRST(&s->listeners), *next; ex; ex = next) {
            next = LIST_NEXT(ex, listen_link);
            if (ex->method != HTTP_GET || strlen(ex->session) != len || memcmp(ex->session, session, len) != 0)
                continue;
            char msg[160];
            int n = snprintf(msg, sizeof msg,
                             "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/elicitation/complete\",\"params\":"
                             "{\"elicitationId\":\"%s\"}}",
                             elicitation_id);
            if (n > 0 && (size_t)n < sizeof msg) {
                emit_event(ex, NULL, 0, NULL, 0, false, msg, (size_t)n);
                exchange_flush(ex);
            }
        }
    }
}

/* --- judging each upstream message --- */

/* A listed tool whose definition is not pinned as approved: logged and
 * audited (rule pin_mismatch, both pins), shown in warn mode, dropped in block. */
static void note_pin_mismatch(struct exchange *ex, const struct list_item *it, enum pin_status st,
                              const struct pin_seen *seen, bool kept, const char *record_err)
{
    char name[256];
    utf8_copy(name, sizeof name, it->name, it->name_len);
    char reason[400];
    utf8_snprintf(reason, sizeof reason, "%s tool definition (seen %s, pinned %s): %s until warden pins approve",
                  st == PIN_NEW ? "a new" : "a changed", seen->seen[0] ? seen->seen : "none (not canonical JSON)",
                  seen->pinned[0] ? seen->pinned : "none", kept ? "passed (pin_mode warn)" : "withheld");
    log_warn("upstream server '%s' lists %s: %s%s%s", server_label(ex->server), name, reason,
             record_err[0] ? "; " : "", record_err);
    char session[300];
    struct audit_log *a = audit_for(ex, session, sizeof session);
    if (!a)
        return;
    struct audit_event ev = {
        .server = server_label(ex->server), .session = session, .client = ex->client->addr, .method = "tools/list",
        .tool = name, .decision = kept ? "allow" : "hide", .rule = "pin_mismatch", .reason = reason, .status = -1,
        .is_error = -1, .latency_ms = -1,
    };
    audit_write(a, &ev);
}

/* The list filter's decide(): which tools of a tools list the exchange's
 * policies keep. The pins first: in block mode a definition not pinned as
 * approved never reaches a policy or the client. Names are decided one by
 * one, then a Lua on_list sees the tools left (their fields converted only
 * when it reads them). Annotations and classes are remembered on the way
 * for the tools the pins let through, hidden tools included, so a call is
 * decided by the class of the definition the client could see. */
static int decide_list(void *arg, const struct list_item *items, size_t n, bool *keep)
{
    struct exchange *ex = arg;
    struct policy_set *ps = ex->gen->set;
    struct server_rt *s = ex->server;
    struct catalog *catalog = ex->client->worker->catalog;
    if (catalog)
        catalog_note_list(catalog, s->conf->name, items, n, clock_seconds(CLOCK_REALTIME));
    const struct server_conf *sc = s->conf;
    enum pin_mode mode = ex->gen->pins ? (enum pin_mode)sc->pin_mode : PIN_MODE_OFF;
    for (size_t i = 0; i < n; i++) {
        enum pin_status st;
        struct pin_seen seen;
        char err[300];
        keep[i] = pins_keep_listed(ex->gen->pins, mode, items[i].name, items[i].name_len, items[i].raw,
                                   items[i].raw_len, &st, &seen, err, sizeof err);
        if (st != PIN_OK)
            note_pin_mismatch(ex, &items[i], st, &seen, keep[i], err);
    }
    /* Without Lua or "classes" rules no decision reads a class learnt from a list. */
    bool classes = policy_set_has_lua(ps) || policy_set_uses_classes(ps);
    if (classes && !s->tool_meta)
        s->tool_meta = toolmeta_new(TOOLMETA_BYTES);
    struct call_ctx ctx;
    exchange_call_ctx(ex, &ctx);
    for (size_t i = 0; i < n; i++) {
        if (!keep[i])
            continue;
        ctx.tool_class = RISK_NONE;
        if (classes)
            toolmeta_remember_listed(s->tool_meta, &items[i], sc->trust_annotations, &ctx.tool_class);
        keep[i] = policy_tool_listed(ps, items[i].name, items[i].name_len, &ctx);
    }
    if (policy_set_has_on_list(ps)) {
        exchange_call_ctx(ex, &ctx);
        policy_run_on_list(ps, items, n, keep, &ctx);
    }
    return 0;
}

/* Where an initialize answer's result.instructions is: json_scan contexts. */
enum { AT_ROOT = 1, AT_RESULT, AT_INSTRUCTIONS };

struct instructions_at {
    const char *start, *end;
    int count;
};

static int instructions_member(void *arg, int parent, const char *key, size_t klen, struct rpc_error *err)
{
    (void)arg;
    static const char *const result[] = {"result", NULL}, *const instructions[] = {"instructions", NULL};
    if (!key || (parent != AT_ROOT && parent != AT_RESULT))
        return 0;
    /* a key a case-insensitive client reads as the one counts as it (-2) */
    int k = json_known_key(key, klen, parent == AT_ROOT ? result : instructions, err);
    if (k == -1)
        return 0;
    return parent == AT_ROOT ? AT_RESULT : AT_INSTRUCTIONS;
}

static int instructions_value(void *arg, int ctx, const char *start, const char *end, struct rpc_error *err)
{
    (void)err;
    struct instructions_at *at = arg;
    if (ctx == AT_INSTRUCTIONS) {
        at->start = start;
        at->end = end;
        at->count++;
    }
    return 0;
}

/* An initialize answer under pins: its instructions are compared with the
 * approved ones; in block mode changed (or new) instructions are replaced by
 * the approved text ("" when none were approved), byte-exact elsewhere, so
 * the id and every other member reach the client as the server sent them. */
static void check_instructions(struct exchange *ex, const char *json, size_t len, const struct rpc_limits *lim,
                               struct evbuffer *out, struct answer_result *res)
{
    struct pins *pins = ex->gen->pins;
    enum pin_mode mode = (enum pin_mode)ex->server->conf->pin_mode;
    struct instructions_at at = {0};
    const struct json_watch watch = {instructions_member, instructions_value, &at};
    struct rpc_error e;
    if (json_scan(json, len, lim, &watch, AT_ROOT, &e) < 0 || at.count > 1) {
        /* answer_check read it; two members a client could both take for instructions: not shown */
        res->verdict = ANSWER_FAIL;
        res->is_error = 1;
        res->why = "an initialize answer whose instructions warden cannot tell apart";
        return;
    }
    enum pin_status st;
    struct pin_seen seen;
    char err[300];
    bool keep = pins_keep_instructions(pins, mode, at.count ? at.start : NULL, at.count ? (size_t)(at.end - at.start) : 0,
                                       &st, &seen, err, sizeof err);
    if (st == PIN_OK)
        return;
    log_warn("upstream server '%s' sent %s instructions (seen %s, pinned %s): %s until warden pins approve%s%s",
             server_label(ex->server), st == PIN_NEW ? "new" : "changed", seen.seen[0] ? seen.seen : "none",
             seen.pinned[0] ? seen.pinned : "none", keep ? "passed (pin_mode warn)" : "the approved ones sent instead",
             err[0] ? "; " : "", err);
    if (keep || !at.count)
        return;
    size_t plen = 0;
    const char *pinned = pins_instructions(pins, &plen);
    if (!pinned || strcmp(pinned, "null") == 0)
        pinned = "\"\"", plen = 2;
    evbuffer_add(out, json, (size_t)(at.start - json));
    evbuffer_add(out, pinned, plen);
    evbuffer_add(out, at.end, (size_t)(json + len - at.end));
    res->verdict = ANSWER_REWRITE;
}

/* What reaches the client of one message from upstream (a JSON answer, one
 * SSE event's data, one stdio line, a GET stream's events): the one place
 * where upstream JSON-RPC is judged, for every transport, by answer_check()
 * (answer.c). For ANSWER_REWRITE the new message is appended to out. */
static void judge(struct exchange *ex, const char *json, size_t len, struct evbuffer *out, struct answer_result *res)
{
    struct worker *w = ex->client->worker;
    size_t max = w->cfg->limits.max_sse_event_bytes;
    struct rpc_limits lim = {.max_depth = w->rpc_limits.max_depth, .max_string = max, .max_members = max};
    /* A notification like the last one read whole but for its numbers has its verdict (answer_memo.h). */
    if (answer_memo_matches(w->answer_memo, &lim, json, len)) {
        res->verdict = ANSWER_PASS;
        res->is_response = res->answers_request = false;
        res->is_error = 0;
        res->why = NULL;
        res->detail[0] = '\0';
        return;
    }
    const struct list_filter filter = {decide_list, ex};
    /* A list a Lua on_list decided may differ from caller to caller: no shared cache may keep it. */
    const struct answer_cache cache = {
        .private_scope = ex->filter_list && policy_set_has_on_list(ex->gen->set),
        .insert = ex->era.modern,
        .max_ttl_ms = w->cfg->limits.max_list_ttl_ms,
    };
    const struct answer_req req = {
        .id = ex->has_id ? ex->id_text : NULL,
        .id_len = ex->has_id ? ex->id_len : 0,
        .answered = ex->answered_id,
        .replay = ex->resumed,
        .filter = ex->filter_list ? &filter : NULL,
        .limits = &lim,
        .cache = ex->era.list ? &cache : NULL,
    };
    int rc = answer_check(&req, json, len, out, res);
    if (rc == 0 && ex->pin_instructions && res->verdict == ANSWER_PASS && res->answers_request && !res->is_error)
        check_instructions(ex, json, len, &lim, out, res);
    if (rc == 0 && res->verdict == ANSWER_PASS && !res->is_response && !res->answers_request &&
        answer_memo_keep(&w->answer_memo, &lim, json, len) < 0)
        log_warn("out of memory: the verdicts of notifications are not remembered");
    if (rc < 0) {
        res->verdict = ANSWER_FAIL;
        res->answers_request = ex->has_id && !ex->answered_id;
        res->is_error = 1;
        res->why = "a message warden could not read (out of memory)";
    }
}

/* Logs what the judgement refused. */
static void log_judgement(const struct exchange *ex, const struct answer_result *res)
{
    if (res->verdict == ANSWER_DROP || res->verdict == ANSWER_FAIL)
        log_warn("upstream server '%s' sent %s (request from %s): %s%s%s", server_label(ex->server), res->why,
                 ex->client->addr, res->verdict == ANSWER_DROP ? "dropped" : "the request fails",
                 res->detail[0] ? "; " : "", res->detail);
}

/* The text of a failed answer's error: what the upstream did. */
static const char *fail_text(const struct answer_result *res)
{
    return res->answers_request && res->why ? "answered with a message warden cannot pass on with certainty"
                                            : "answered with a message that is not the response to this request";
}

/* The buffer a rewritten message is built in: the worker's, empty between
 * uses; NULL when out of memory. */
static struct evbuffer *rewrite_buffer(struct exchange *ex)
{
    struct worker *w = ex->client->worker;
    return w->scratch ? w->scratch : (w->scratch = evbuffer_new());
}

/* A block with no message, as warden read it: only its id (a priming
 * event) is kept; comments and unknown fields are not. */
static void emit_id(struct exchange *ex, const char *id, size_t id_len)
{
    flush_run(ex);
    struct evbuffer_iovec v;
    char *w = output_room(ex, 4 + id_len + 2 + CHUNK_FRAME, &v);
    if (!w)
        return;
    if (ex->framing == FRAME_CHUNKED)
        w = chunk_head(w, 4 + id_len + 2);
    memcpy(w, "id: ", 4);
    memcpy(w + 4, id, id_len);
    w += 4 + id_len;
    memcpy(w, "\n\n", 2);
    w += 2;
    if (ex->framing == FRAME_CHUNKED) {
        *w++ = '\r';
        *w++ = '\n';
    }
    output_commit(ex, &v, w);
}

/* Passes an event on as the upstream wrote it. Events that follow one
 * another in the bytes being fed are put aside as one span, written as one
 * chunk when the bytes are fed (exchange_body) or before anything else is
 * written (emit); an event whose bytes do not last (a block that began in
 * an earlier read) is written at once. */
static void forward_verbatim(struct exchange *ex, const struct sse_event *ev)
{
    const char *raw = ev->raw + ev->lead;
    size_t len = ev->raw_len - ev->lead;
    if (ev->raw_in_input && ex->sse_run && ex->sse_run + ex->sse_run_len == raw) {
        ex->sse_run_len += len;
        return;
    }
    flush_run(ex);
    if (ev->raw_in_input) {
        ex->sse_run = raw;
        ex->sse_run_len = len;
    } else {
        emit_bytes(ex, raw, len);
    }
}

/* Judges one message of a stream, the data of SSE event ev (NULL: a bare
 * message, as a stdio server's), and sends on what the judgement leaves: ev
 * byte for byte when it passes and is verbatim, else an event written anew
 * with ev's type and id; -1 when there is no memory to judge it in. */
static int relay_judged(struct exchange *ex, const struct sse_event *ev, const char *data, size_t len)
{
    static const struct sse_event bare = {0};
    const struct sse_event *e = ev ? ev : &bare;
    struct evbuffer *rewritten = rewrite_buffer(ex);
    if (!rewritten)
        return -1;
    struct answer_result j;
    judge(ex, data, len, rewritten, &j);
    log_judgement(ex, &j);
    if (j.answers_request)
        ex->is_error = j.is_error;
    switch (j.verdict) {
    case ANSWER_PASS:
        if (e->verbatim)
            forward_verbatim(ex, e);
        else
            emit_event(ex, e->event, e->event_len, e->id, e->id_len, e->has_id, data, len);
        break;
    case ANSWER_REWRITE: {
        size_t rlen = evbuffer_get_length(rewritten);
        emit_event(ex, e->event, e->event_len, e->id, e->id_len, e->has_id,
                   (const char *)evbuffer_pullup(rewritten, -1), rlen);
        break;
    }
    case ANSWER_DROP:
        break;
    case ANSWER_FAIL:
        /* Only a request has an answer to fail; on a server's stream nothing goes out. */
        if (ex->has_id && !ex->answered_id)
            stream_error_event(ex, fail_text(&j));
        break;
    }
    if (j.answers_request)
        ex->answered_id = true;
    /* Only a rewrite, or a check that failed half way, leaves bytes in it. */
    if (j.verdict == ANSWER_REWRITE || j.verdict == ANSWER_FAIL)
        evbuffer_drain(rewritten, evbuffer_get_length(rewritten));
    return 0;
}

/* One block of an SSE answer: judged when it has data, and sent on at once.
 *
 * What the client reads must be what warden judged. An event whose bytes
 * every SSE reader splits and reads alike (ev->verbatim: exact field names,
 * LF or CRLF line ends throughout; see sse-t.h) goes on byte for byte: the
 * client reads the same lines, the same data, id and type. Any other event
 * (a lone CR, which a reader splitting on LF would not end a line at; a
 * field name a lenient reader could fold into "data"; a BOM; a CR at the
 * end of a read whose LF is still to come) is written anew from what warden
 * read: its type, its id and the judged data on one line. Rewritten
 * messages (a filtered tools list, corrected cache fields) are written
 * anew too. */
static int on_sse_block(void *arg, const struct sse_event *ev)
{
    struct exchange *ex = arg;
    if (!ev->has_data || ev->data_len == 0) {
        if (ev->verbatim)
            forward_verbatim(ex, ev);
        else if (ev->has_id)
            emit_id(ex, ev->id, ev->id_len);
        return 0;
    }
    if (ev->event_len == 8 && memcmp(ev->event, "endpoint", 8) == 0) {
        /* The deprecated HTTP+SSE transport names where to POST: relayed, it
         * could point the client past warden. */
        log_warn("upstream server '%s' sent an endpoint event (the deprecated HTTP+SSE transport, request from %s): "
                 "dropped, never relayed",
                 server_label(ex->server), ex->client->addr);
        return 0;
    }
    return relay_judged(ex, ev, ev->data, ev->data_len);
}

/* --- HTTP answers --- */

/* The most bytes finish_head writes. */
#define HEAD_TAIL_MAX (sizeof "Content-Length: \r\nConnection: close\r\n\r\n" + REPLY_UINT_MAX)
/* A buffered answer's body up to this size is copied next to its head, so
 * that the answer goes out as one piece; a larger one is handed over by reference. */
#define COPY_BODY_MAX 2048
/* Room first made for a buffered body: its Content-Length up to
 * BUFFERED_FIRST_MAX (a length alone must not make warden set memory
 * aside), else BUFFERED_FIRST; it doubles from there as bytes arrive. Small
 * answers so take one allocation malloc serves from its per-thread cache. */
#define BUFFERED_FIRST 512
#define BUFFERED_FIRST_MAX (64 * 1024)

/* The most bytes write_head writes for head. */
static size_t head_size(const struct http_head *head)
{
    size_t n = sizeof "HTTP/1.1  \r\n" + REPLY_UINT_MAX + strlen(http_reason(head->status));
    for (size_t i = 0; i < head->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(head, i, &name, &nlen, &value, &vlen);
        n += nlen + vlen + 4;
    }
    return n;
}

/* Writes the status line and the upstream's end-to-end headers at p (room
 * for head_size bytes); returns the end. */
static char *write_head(char *p, const struct http_head *head)
{
    size_t conn_len;
    const char *conn = http_header_field(head, HF_CONNECTION, &conn_len);
    bool listed = conn && !http_connection_only_hop_by_hop(conn, conn_len);
    const char *reason = http_reason(head->status);
    p = REPLY_PUT_LIT(p, "HTTP/1.1 ");
    p = reply_put_uint(p, head->status > 0 ? (unsigned)head->status : 0);
    *p++ = ' ';
    p = reply_put(p, reason, strlen(reason));
    p = REPLY_PUT_LIT(p, "\r\n");
    for (size_t i = 0; i < head->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(head, i, &name, &nlen, &value, &vlen);
        if (http_header_hop_by_hop(head, i) || (listed && http_token_listed(conn, conn_len, name, nlen)))
            continue;
        p = reply_put(p, name, nlen);
        p = REPLY_PUT_LIT(p, ": ");
        p = reply_put(p, value, vlen);
        p = REPLY_PUT_LIT(p, "\r\n");
    }
    return p;
}

/* Ends the header block at p with our framing and the connection's fate
 * (HEAD_TAIL_MAX bytes of room); returns the end. */
static char *finish_head(struct exchange *ex, char *p, size_t length)
{
    struct client_conn *c = ex->client;
    if (ex->framing == FRAME_LENGTH) {
        p = REPLY_PUT_LIT(p, "Content-Length: ");
        p = reply_put_uint(p, length);
        p = REPLY_PUT_LIT(p, "\r\n");
    } else if (ex->framing == FRAME_CHUNKED) {
        p = REPLY_PUT_LIT(p, "Transfer-Encoding: chunked\r\n");
    }
    if (ex->framing == FRAME_CLOSE || !c->keep_alive || c->worker->stopping) {
        c->keep_alive = false;
        p = REPLY_PUT_LIT(p, "Connection: close\r\n");
    }
    return REPLY_PUT_LIT(p, "\r\n");
}

/* Makes ex->buffered with room for head_room bytes of head and a body of
 * `length` bytes (when the head gives it). False when out of memory. */
static bool buffered_start(struct exchange *ex, size_t head_room, const struct http_head *head)
{
    size_t cap = head_room + (!head->has_length                           ? BUFFERED_FIRST
                              : head->content_length < BUFFERED_FIRST_MAX ? (size_t)head->content_length
                                                                          : BUFFERED_FIRST_MAX);
    if (cap == 0)
        cap = 1;
    if (!(ex->buffered = malloc(cap)))
        return false;
    ex->buffered_cap = cap;
    return true;
}

/* Frees a buffered body handed to the output by reference, once it is sent. */
static void free_buffered(const void *data, size_t len, void *arg)
{
    (void)data, (void)len;
    free(arg);
}

/* Room for `need` bytes in one piece at the end of out; NULL when out of memory. */
static char *reserve(struct evbuffer *out, size_t need, struct evbuffer_iovec *v)
{
    return evbuffer_reserve_space(out, (ev_ssize_t)need, v, 1) == 1 ? v->iov_base : NULL;
}

/* Adds what was written into reserve's room, up to end. */
static void commit(struct evbuffer *out, struct evbuffer_iovec *v, const char *end)
{
    v->iov_len = (size_t)(end - (const char *)v->iov_base);
    evbuffer_commit_space(out, v, 1);
}

/* Writes the head of an event stream warden makes itself (a stdio server's,
 * or a call held for approval): `lines` after the status line, then the
 * session's Mcp-Session-Id when there is one. Out of memory, the stream
 * goes without it and the connection closes after it: the transport or
 * the hold calling this still holds the exchange, so it is not ended here. */
static void own_stream_head(struct exchange *ex, const char *lines, size_t lines_len, const char *session_id)
{
    static const char status[] = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
    size_t sid_len = session_id ? strlen(session_id) : 0;
    struct evbuffer *out = output(ex);
    struct evbuffer_iovec v;
    char *p = reserve(out, sizeof status + lines_len + sizeof "Mcp-Session-Id: \r\n" + sid_len + HEAD_TAIL_MAX, &v);
    if (!p) {
        log_error("out of memory writing an event stream's head; closing the connection of %s after it",
                  ex->client->addr);
        ex->client->keep_alive = false;
        return;
    }
    p = REPLY_PUT_LIT(p, status);
    p = reply_put(p, lines, lines_len);
    if (session_id) {
        p = REPLY_PUT_LIT(p, "Mcp-Session-Id: ");
        p = reply_put(p, session_id, sid_len);
        p = REPLY_PUT_LIT(p, "\r\n");
    }
    commit(out, &v, finish_head(ex, p, 0));
}

static bool client_is_11(const struct client_conn *c)
{
    return c->reader.head.http_major == 1 && c->reader.head.http_minor >= 1;
}

/* The answer is an event stream from here on. */
static int start_sse(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    ex->body_kind = BODY_SSE;
    ex->streaming = true;
    metrics_sse_streams(c->worker->metrics, 1);
    sse_init(&ex->sse, c->worker->cfg->limits.max_sse_event_bytes, on_sse_block, ex);
    ex->sse_ready = true;
    if (ex->status == 200)
        listen_start(ex);
    return 0;
}

static int held_head(struct exchange *ex, const struct http_head *head);

int exchange_head(struct exchange *ex, const struct http_head *head)
{
    if (ex->held_stream)
        return held_head(ex, head);
    struct client_conn *c = ex->client;
    size_t ctlen;
    const char *ct = http_header_field(head, HF_CONTENT_TYPE, &ctlen);
    if (ex->elicit_url && head->status == 200) {
        size_t sidlen;
        const char *sid = http_header_field(head, HF_MCP_SESSION_ID, &sidlen);
        if (sid)
            elicit_sessions_note(c->worker->elicit, sid, sidlen);
    }
    ex->status = head->status;
    bool has_body = head->status != 204 && head->status != 304;
    if (ct && http_media_type_is(ct, ctlen, "text/event-stream")) {
        start_sse(ex);
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
        ex->framing = client_is_11(c) ? FRAME_CHUNKED : FRAME_CLOSE;
    size_t need = head_size(head);
    if (ex->body_kind == BODY_BUFFERED) {
        /* The head waits at the front of the body's buffer; send_buffered ends it. */
        if (!buffered_start(ex, need, head))
            goto out_of_memory;
        ex->held_len = ex->buffered_len = (size_t)(write_head(ex->buffered, head) - ex->buffered);
        return 0;
    }
    struct evbuffer_iovec v;
    struct evbuffer *out = output(ex);
    char *p = reserve(out, need + HEAD_TAIL_MAX, &v);
    if (!p)
        goto out_of_memory;
    commit(out, &v, finish_head(ex, write_head(p, head), has_body ? (size_t)head->content_length : 0));
    ex->head_sent = true;
    return 0;
out_of_memory:
    ex->refusal = "could not be read: out of memory";
    ex->refusal_kind = UPSTREAM_INTERNAL;
    return -1;
}

int exchange_body(struct exchange *ex, const char *at, size_t len)
{
    switch (ex->body_kind) {
    case BODY_RAW:
        emit(ex, at, len);
        break;
    case BODY_SSE: {
        int rc = sse_feed(&ex->sse, at, len);
        /* The verbatim events of these bytes leave together, before the bytes go. */
        flush_run(ex);
        if (rc < 0) {
            ex->refusal = "sent an event larger than max_sse_event_bytes";
            ex->refusal_kind = UPSTREAM_OVERSIZE;
            return -1;
        }
        break;
    }
    case BODY_BUFFERED: {
        size_t max = ex->held_len + ex->client->worker->cfg->limits.max_sse_event_bytes;
        if (ex->buffered_len + len > max) {
            ex->refusal = "sent an answer larger than max_sse_event_bytes";
            ex->refusal_kind = UPSTREAM_OVERSIZE;
            return -1;
        }
        if (ex->buffered_len + len > ex->buffered_cap) {
            size_t cap = ex->buffered_cap;
            while (cap < ex->buffered_len + len)
                cap = cap < max / 2 ? cap * 2 : max;
            char *b = realloc(ex->buffered, cap);
            if (!b) {
                ex->refusal = "could not be read: out of memory";
                ex->refusal_kind = UPSTREAM_INTERNAL;
                return -1;
            }
            ex->buffered = b;
            ex->buffered_cap = cap;
        }
        memcpy(ex->buffered + ex->buffered_len, at, len);
        ex->buffered_len += len;
        break;
    }
    }
    return 0;
}

const char *exchange_refusal(const struct exchange *ex, enum upstream_failure *kind)
{
    *kind = ex->refusal_kind;
    return ex->refusal;
}

/* Sends a buffered JSON answer: judged, and filtered when it answers our
 * tools/list. Its head (held at the front of ex->buffered), framing and a
 * small body go out as one piece of the output. */
static void send_buffered(struct exchange *ex)
{
    struct worker *w = ex->client->worker;
    struct evbuffer *out = output(ex);
    char *held = ex->buffered;
    size_t head_len = ex->held_len, len = ex->buffered_len - head_len;
    /* What warden writes in place of the body, when it does: the worker's
     * buffer, made once, emptied again before this returns. */
    struct evbuffer *rewritten = w->scratch ? w->scratch : (w->scratch = evbuffer_new());
    if (!rewritten) {
        log_error("out of memory sending an answer; closing the connection of %s", ex->client->addr);
        client_close(ex->client);
        return;
    }
    const char *body = held + head_len;
    struct answer_result j;
    judge(ex, body, len, rewritten, &j);
    if (j.verdict == ANSWER_DROP || !j.answers_request) {
        /* What came back answers another request (or none): the client hears that its own failed. */
        j.verdict = ANSWER_FAIL;
        j.answers_request = false;
        if (!j.why)
            j.why = "a message that is not the response to this request";
    }
    log_judgement(ex, &j);
    ex->is_error = j.verdict == ANSWER_FAIL ? 1 : j.is_error;
    if (j.verdict == ANSWER_FAIL) {
        char msg[512];
        server_error_text(ex->server, fail_text(&j), msg, sizeof msg);
        evbuffer_drain(rewritten, evbuffer_get_length(rewritten)); /* a rewrite of a message that fails */
        reply_format_rpc_error(rewritten, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
    }
    /* What follows the head: warden's own body (rewritten), or the upstream's. */
    bool own = j.verdict != ANSWER_PASS, copy = !own && len <= COPY_BODY_MAX;
    struct evbuffer_iovec v;
    char *p = reserve(out, head_len + HEAD_TAIL_MAX + (copy ? len : 0), &v);
    if (p) {
        p = reply_put(p, held, head_len);
        p = finish_head(ex, p, own ? evbuffer_get_length(rewritten) : len);
        if (copy)
            p = reply_put(p, body, len);
        commit(out, &v, p);
    }
    if (p && own) {
        evbuffer_add_buffer(out, rewritten);
    } else if (p && !copy) {
        /* the output frees the buffer once it is written */
        if (evbuffer_add_reference(out, body, len, free_buffered, held) == 0)
            ex->buffered = NULL;
        else
            p = NULL;
    }
    evbuffer_drain(rewritten, evbuffer_get_length(rewritten));
    if (!p) {
        log_error("out of memory sending an answer; closing the connection of %s", ex->client->addr);
        client_close(ex->client);
        return;
    }
    ex->answered_id = true;
    ex->head_sent = true;
}

/* Ends a streamed answer (chunked: its last chunk; otherwise with the connection). */
static void end_stream(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    if (ex->framing == FRAME_CHUNKED)
        evbuffer_add(output(ex), "0\r\n\r\n", 5);
    else if (ex->framing == FRAME_CLOSE)
        c->keep_alive = false;
    client_finish_exchange(c);
}

static void held_send_buffered(struct exchange *ex);

void exchange_done(struct exchange *ex)
{
    if (ex->held_stream && ex->body_kind == BODY_BUFFERED) {
        held_send_buffered(ex);
        end_stream(ex);
        return;
    }
    if (ex->body_kind == BODY_SSE && ex->has_id && !ex->answered_id && ex->status == 200)
        stream_error_event(ex, "ended the stream without answering this request");
    if (ex->body_kind == BODY_BUFFERED) {
        send_buffered(ex);
        client_finish_exchange(ex->client);
        return;
    }
    end_stream(ex);
}

/* --- message transports --- */

void exchange_stream_start(struct exchange *ex, const char *session_id)
{
    struct client_conn *c = ex->client;
    if (ex->head_sent)
        return;
    if (ex->elicit_url)
        elicit_sessions_note(c->worker->elicit, session_id, strlen(session_id));
    ex->framing = client_is_11(c) ? FRAME_CHUNKED : FRAME_CLOSE;
    ex->status = 200;
    ex->body_kind = BODY_SSE;
    ex->streaming = true;
    metrics_sse_streams(c->worker->metrics, 1);
    own_stream_head(ex, "", 0, session_id);
    ex->head_sent = true;
    listen_start(ex);
}

void exchange_message(struct exchange *ex, const char *json, size_t len)
{
    if (relay_judged(ex, NULL, json, len) < 0)
        client_close(ex->client);
}

void exchange_stream_end(struct exchange *ex)
{
    if (ex->has_id && !ex->answered_id)
        stream_error_event(ex, "ended the stream without answering this request");
    end_stream(ex);
}

/* --- failures and deadlines --- */

void exchange_failed(struct exchange *ex, enum upstream_failure kind, const char *what)
{
    struct client_conn *c = ex->client;
    char msg[512];
    server_error_text(ex->server, what, msg, sizeof msg);
    log_warn("%s (request from %s)", msg, c->addr);
    metrics_upstream_error(c->worker->metrics, server_label(ex->server), failure_names[kind]);
    if (ex->audit_tool) {
        ex->is_error = 1;
        exchange_audit_call(ex, ex->audit_tool, ex->audit_args, "error", NULL, msg,
                            (clock_seconds(CLOCK_MONOTONIC) - ex->started) * 1000);
        free(ex->audit_tool);
        ex->audit_tool = NULL;
    }
    if (!ex->head_sent) {
        /* A JSON-RPC error for the request's own id reaches the model; any
         * non-2xx would become a transport error in the SDK client. */
        if (ex->has_id)
            exchange_answer_for_id(ex, RPC_INTERNAL_ERROR, msg);
        else
            exchange_answer_error(ex, 502, RPC_INTERNAL_ERROR, msg);
        return;
    }
    if (ex->body_kind == BODY_SSE) {
        /* The stream's headers are gone: the error travels as the stream's last event. */
        if (ex->has_id && !ex->answered_id)
            stream_error_event(ex, what);
        c->keep_alive = false;
        end_stream(ex);
        return;
    }
    /* A body cut short can only be signalled by closing the connection. */
    client_close(c);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct exchange *ex = arg;
    char text[160];
    snprintf(text, sizeof text, "%s %u ms", ex->expect_what, ex->expect_ms);
    ex->server->transport->cancel(ex);
    exchange_failed(ex, UPSTREAM_TIMEOUT, text);
}

void exchange_expect(struct exchange *ex, unsigned ms, const char *what)
{
    if (!ex->timer && !(ex->timer = evtimer_new(ex->client->worker->base, on_deadline, ex))) {
        log_error("out of memory arming a deadline; closing the connection of %s", ex->client->addr);
        client_close(ex->client);
        return;
    }
    ex->expect_ms = ms;
    ex->expect_what = what;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(ex->timer, &tv);
}

void exchange_flush(struct exchange *ex)
{
    client_flush(ex->client);
}

/* --- answers warden writes itself --- */

void exchange_answer(struct exchange *ex, int status, const char *extra_headers, const char *body, size_t len)
{
    struct client_conn *c = ex->client;
    if (ex->held_stream) {
        /* The event stream's head is gone: warden's answer is its final event. */
        emit_event(ex, NULL, 0, NULL, 0, false, body, len);
        ex->answered_id = true;
        end_stream(ex);
        return;
    }
    bool closing = !c->keep_alive || c->worker->stopping;
    if (reply_format_answer(output(ex), status, "application/json", extra_headers, body, len, closing) < 0) {
        client_close(c);
        return;
    }
    if (closing)
        c->keep_alive = false;
    client_finish_exchange(c);
}

/* Sends a body built by one of reply.c's formatters; b may be NULL (out of memory). */
static void answer_buffer(struct exchange *ex, int status, struct evbuffer *b)
{
    if (!b) {
        client_close(ex->client);
        return;
    }
    size_t len = evbuffer_get_length(b);
    const char *p = (const char *)evbuffer_pullup(b, -1);
    exchange_answer(ex, status, NULL, p ? p : "", len);
    evbuffer_free(b);
}

void exchange_answer_error(struct exchange *ex, int status, int code, const char *message)
{
    struct evbuffer *b = evbuffer_new();
    if (b)
        reply_format_rpc_error(b, NULL, 0, code, message);
    answer_buffer(ex, status, b);
}

void exchange_answer_for_id(struct exchange *ex, int code, const char *message)
{
    struct evbuffer *b = evbuffer_new();
    if (b)
        era_format_answer(b, &ex->era, ex->id_text, ex->id_len,
                          code == RPC_INVALID_PARAMS ? ERA_UNKNOWN_TOOL : ERA_ERROR, code, message);
    answer_buffer(ex, 200, b);
}

void exchange_answer_refusal(struct exchange *ex, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    if (b)
        era_format_answer(b, &ex->era, ex->id_text, ex->id_len, ERA_REFUSED, 0, text);
    answer_buffer(ex, 200, b);
}

/* --- a tools/call held for a person's approval (approval_hold.c) --- */

void exchange_hold_start(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    ex->framing = client_is_11(c) ? FRAME_CHUNKED : FRAME_CLOSE;
    ex->status = 200;
    ex->body_kind = BODY_SSE;
    ex->streaming = true;
    ex->held_stream = true;
    metrics_sse_streams(c->worker->metrics, 1);
    static const char lines[] = "X-Accel-Buffering: no\r\n";
    own_stream_head(ex, lines, sizeof lines - 1, NULL);
    ex->head_sent = true;
}

void exchange_hold_comment(struct exchange *ex, const char *text)
{
    char line[300];
    int n = snprintf(line, sizeof line, ": %s\n\n", text);
    emit(ex, line, n > 0 && (size_t)n < sizeof line ? (size_t)n : 0);
}

void exchange_hold_message(struct exchange *ex, const char *json, size_t len)
{
    emit_event(ex, NULL, 0, NULL, 0, false, json, len);
}

/* The upstream's answer to a held call that was approved: its events (or its
 * JSON answer, as one event) continue warden's stream. */
static int held_head(struct exchange *ex, const struct http_head *head)
{
    size_t ctlen;
    const char *ct = http_header_field(head, HF_CONTENT_TYPE, &ctlen);
    ex->status = head->status;
    if (head->status == 200 && ct && http_media_type_is(ct, ctlen, "text/event-stream")) {
        sse_init(&ex->sse, ex->client->worker->cfg->limits.max_sse_event_bytes, on_sse_block, ex);
        ex->sse_ready = true;
        return 0;
    }
    if (head->status == 200 && ct && http_media_type_is(ct, ctlen, "application/json")) {
        ex->body_kind = BODY_BUFFERED;
        if (buffered_start(ex, 0, head))
            return 0;
        ex->refusal = "could not be read: out of memory";
        ex->refusal_kind = UPSTREAM_INTERNAL;
        return -1;
    }
    ex->refusal = "answered a tools/call with neither JSON nor an event stream in 200 OK";
    ex->refusal_kind = UPSTREAM_MALFORMED;
    return -1;
}

static void held_send_buffered(struct exchange *ex)
{
    size_t len = ex->buffered_len;
    const char *body = ex->buffered;
    struct evbuffer *rewritten = evbuffer_new();
    struct answer_result j = {.verdict = ANSWER_FAIL, .answers_request = true, .why = "a message warden could not read (out of memory)"};
    if (rewritten)
        judge(ex, body, len, rewritten, &j);
    log_judgement(ex, &j);
    ex->is_error = j.verdict == ANSWER_PASS || j.verdict == ANSWER_REWRITE ? j.is_error : 1;
    if (j.verdict == ANSWER_PASS && j.answers_request)
        emit_event(ex, NULL, 0, NULL, 0, false, body, len);
    else if (j.verdict == ANSWER_REWRITE && j.answers_request)
        emit_event(ex, NULL, 0, NULL, 0, false, (const char *)evbuffer_pullup(rewritten, -1),
                   evbuffer_get_length(rewritten));
    else
        stream_error_event(ex, fail_text(&j));
    if (rewritten)
        evbuffer_free(rewritten);
    ex->answered_id = true;
}

/* --- life cycle --- */

void exchange_begin(struct exchange *ex)
{
    ex->active = true;
    ex->method = ex->client->reader.head.method;
    ex->started = clock_seconds(CLOCK_MONOTONIC);
    ex->is_error = -1;
}

void exchange_abort(struct exchange *ex)
{
    /* A held call is cancelled; its approval request stays for the retry. */
    if (ex->hold_end)
        ex->hold_end(ex);
    if (ex->server)
        ex->server->transport->cancel(ex);
    /* Its client is gone: no deadline may fail it (and count a timeout) before the connection is freed. */
    if (ex->timer)
        evtimer_del(ex->timer);
    ex->active = false;
}

void exchange_stopping(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    c->keep_alive = false;
    if (ex->hold_stop) {
        /* A call held for approval ends now, as pending: the agent retries elsewhere. */
        ex->hold_stop(ex);
        return;
    }
    if (ex->method == HTTP_GET && ex->head_sent && ex->framing == FRAME_CHUNKED) {
        /* A server's event stream has no end of its own; the client will reconnect elsewhere. */
        exchange_abort(ex);
        evbuffer_add(output(ex), "0\r\n\r\n", 5);
        client_finish_exchange(c);
    }
}

void exchange_reset(struct exchange *ex)
{
    struct metrics *metrics = ex->client->worker->metrics;
    if (ex->on_reset)
        ex->on_reset(ex->on_reset_arg);
    if (ex->active) {
        double seconds = clock_seconds(CLOCK_MONOTONIC) - ex->started;
        metrics_request_seconds(metrics, seconds);
        if (ex->audit_tool)
            exchange_audit_call(ex, ex->audit_tool, ex->audit_args, "allow", NULL, NULL, seconds * 1000);
    }
    if (ex->streaming)
        metrics_sse_streams(metrics, -1);
    listen_end(ex);
    if (ex->server)
        ex->server->transport->cancel(ex);
    if (ex->unpark)
        ex->unpark(ex);
    if (ex->hold_end)
        ex->hold_end(ex);
    if (ex->timer)
        evtimer_del(ex->timer);
    free(ex->audit_tool);
    cJSON_Delete(ex->audit_args);
    principal_clear(&ex->principal);
    if (ex->gen)
        policy_gen_release(ex->gen);
    if (ex->id_text != ex->id_inline)
        free(ex->id_text);
    free(ex->body);
    free(ex->progress_token);
    if (ex->sse_ready)
        sse_free(&ex->sse);
    free(ex->buffered);
    struct evbuffer *request = ex->request;
    if (request)
        evbuffer_drain(request, evbuffer_get_length(request));
    struct event *timer = ex->timer;
    struct client_conn *c = ex->client;
    memset(ex, 0, sizeof *ex);
    ex->client = c;
    ex->request = request;
    ex->timer = timer;
}

void exchange_free(struct exchange *ex)
{
    exchange_reset(ex);
    if (ex->request)
        evbuffer_free(ex->request);
    if (ex->timer)
        event_free(ex->timer);
    ex->request = NULL;
    ex->timer = NULL;
}
