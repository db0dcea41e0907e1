#include "proxy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/buffer.h>
#include "approval_elicit.h"
#include "approval_hold.h"
#include "audit.h"
#include "config.h"
#include "era.h"
#include "exchange.h"
#include "gate.h"
#include "http.h"
#include "jsonrpc.h"
#include "legacy_sse.h"
#include "log.h"
#include "metrics.h"
#include "pins.h"
#include "policy.h"
#include "reply.h"
#include "state_rate.h"
#include "reload.h"
#include "toolmeta.h"
#include "transport.h"
#include "utf8.h"

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

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void refuse_http(struct exchange *ex, int status, const char *message)
{
    struct client_conn *c = ex->client;
    if (status >= 400 && status != 404 && status != 405)
        c->keep_alive = c->keep_alive && status < 500;
    exchange_answer_error(ex, status, RPC_INVALID_REQUEST, message);
}

/* Content-Type of a POST: JSON in UTF-8, nothing else (415). */
static const char *check_content_type(const struct http_head *h)
{
    size_t len;
    const char *ct = http_header_field(h, HF_CONTENT_TYPE, &len);
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

/* Remembers an allowed call so that its audit line can carry the upstream's outcome. */
static void audit_later(struct exchange *ex, const char *tool, const cJSON *args)
{
    if (!ex->client->worker->audit)
        return;
    ex->audit_tool = strdup(tool);
    ex->audit_args = audit_keep_args(ex->client->worker->audit, args);
}

/* Answers a tools/call the policies refused, the way the agent can read it. */
static void answer_refusal(struct exchange *ex, const char *tool, const struct decision *d)
{
    /* Refusals are the audit log's business; at debug level they also go to the operational log. */
    log_debug("refused %s on server '%s' for %s: %s (%s)", tool, ex->server->conf->name, ex->client->addr, d->reason,
              d->rule);
    if (d->verdict == VERDICT_HIDDEN) {
        char text[600];
        snprintf(text, sizeof text, "Unknown tool: %s", tool);
        exchange_answer_for_id(ex, RPC_INVALID_PARAMS, text);
    } else {
        exchange_answer_refusal(ex, d->reason);
    }
}

/* Takes a reference on the policies in force for the exchange; NULL when none. */
static struct policy_set *use_policies(struct exchange *ex)
{
    /* A held call decided again takes the policies in force now. */
    if (ex->gen)
        policy_gen_release(ex->gen);
    ex->gen = NULL;
    if (!ex->server->gen)
        return NULL;
    ex->gen = ex->server->gen;
    ex->gen->refs++;
    return ex->gen->set;
}

/* Whether the exchange reads the tools lists the server sends: a policy
 * filters them or decides by each tool's class, the server's tools are
 * pinned, or the console keeps a catalog. */
static bool reads_lists(const struct exchange *ex, const struct policy_set *ps)
{
    return ps && (policy_set_filters_lists(ps) || policy_set_uses_classes(ps) || ex->gen->pins ||
                  ex->client->worker->catalog);
}

/* In block mode, a tool whose definition is not pinned as approved (new, or
 * seen changed in any session) is answered as a tool that does not exist. */
static bool pins_refuse(const struct exchange *ex, const char *tool, size_t len, struct decision *d)
{
    struct pins *pins = ex->gen ? ex->gen->pins : NULL;
    if (!pins || ex->server->conf->pin_mode != PIN_MODE_BLOCK || !pins_refuses_call(pins, tool, len))
        return false;
    d->verdict = VERDICT_HIDDEN;
    utf8_snprintf(d->reason, sizeof d->reason,
                  "the definition of %s is not pinned as approved (new, or changed): warden pins diff, warden pins approve",
                  tool);
    utf8_snprintf(d->rule, sizeof d->rule, "pins:%s", pins_path(pins));
    return true;
}

/* Hands the allowed request to the server's transport. */
static void forward(struct exchange *ex, const struct upstream_request *req)
{
    ex->server->transport->forward(ex, req);
}

/* Counts, audits and, when it refuses, answers a decided tools/call;
 * returns true when warden answered it. */
static bool conclude(struct exchange *ex, struct rpc_msg *msg, const struct decision *d)
{
    struct worker *w = ex->client->worker;
    const char *server = ex->server->conf->name[0] ? ex->server->conf->name : ex->server->conf->path;
    const char *tool = msg->tool;
    /* The arguments' tree is built for the audit log alone (a line without them when out of memory). */
    const cJSON *args = NULL;
    if (w->audit && rpc_msg_args(msg, &args) < 0)
        log_warn("out of memory: the audit line of a call of %s carries no arguments", tool);
    ex->tool_class = d->tool_class;
    metrics_tool_call(w->metrics, server, tool, risk_class_name(d->tool_class), decision_names[d->verdict]);
    if ((ex->shadow = d->shadow).present)
        metrics_shadow(w->metrics, server, tool, policy_verdict_name(d->shadow.verdict));
    if (d->verdict != VERDICT_NONE && d->verdict != VERDICT_ALLOW) {
        exchange_audit_call(ex, tool, args, decision_names[d->verdict], d->rule, d->reason, -1);
        answer_refusal(ex, tool, d);
        return true;
    }
    audit_later(ex, tool, args);
    return false;
}

/* ---- rate limits in the shared state (state_rate.c) ----
 * An allowed call whose limits live in Redis waits for the script's answer:
 * the exchange is parked (the client connection reads no further request
 * while it is busy), bounded by the state's timeout_ms, and the reply (or
 * its failure) resumes it. Calls without a limit never wait. */

/* A parked tools/call: what concluding and forwarding it needs. The call
 * itself is read again from the body when the state answers. */
struct rate_park {
    struct state_req *req;      /* owned by the state; cancelled when the exchange ends first */
    struct upstream_request up; /* points into the client's head and body, kept while it is busy */
    struct decision d;          /* the policies' allow (and shadow verdict) */
    struct rate_pending pending;
};

static void park_free(struct rate_park *pk)
{
    free(pk);
}

/* Forgets a parked call whose exchange ends first (exchange_reset): its reply will find nothing. */
static void unpark(struct exchange *ex)
{
    struct rate_park *pk = ex->park;
    if (!pk)
        return;
    ex->park = NULL;
    ex->unpark = NULL;
    state_cancel(pk->req);
    park_free(pk);
}

/* What on_failure says when the shared state cannot answer: d is refused
 * (closed), decided by this instance's own windows (local), or left allowed. */
static void state_failed(struct exchange *ex, const struct rate_pending *pd, struct decision *d)
{
    struct worker *w = ex->client->worker;
    const struct state_conf *sc = state_conf(w->state);
    if (sc->on_failure == STATE_FAIL_OPEN)
        return;
    if (sc->on_failure == STATE_FAIL_LOCAL) {
        struct call_ctx ctx;
        exchange_call_ctx(ex, &ctx);
        const char *colon = strrchr(ex->client->addr, ':');
        size_t addr_len = colon ? (size_t)(colon - ex->client->addr) : strlen(ex->client->addr);
        size_t refused;
        double retry;
        if (!state_rate_admit_local(w->rates, ex->client->addr, addr_len, pd->checks, pd->n, sc->instances, ctx.now,
                                    &refused, &retry))
            policy_rate_refusal(pd, refused, retry, d);
        return;
    }
    d->verdict = VERDICT_ERROR;
    d->retry_after = 1;
    snprintf(d->reason, sizeof d->reason,
             "rate-limit state unavailable: warden cannot reach its shared state "
             "store, so calls with a rate limit are refused; retry later");
    snprintf(d->rule, sizeof d->rule, "state");
}

static void on_admitted(void *arg, const struct redisReply *r, const char *error)
{
    struct exchange *ex = arg;
    struct rate_park *pk = ex->park;
    ex->park = NULL;
    ex->unpark = NULL;
    pk->req = NULL; /* the state frees it after this callback */
    if (!ex->active || ex->client->dead) {
        /* The client left; its connection is freed by the reaper. */
        park_free(pk);
        return;
    }
    size_t refused = 0;
    double retry = 0;
    switch (state_rate_outcome(r, error, pk->pending.n, &refused, &retry)) {
    case STATE_RATE_ADMITTED: break;
    case STATE_RATE_REFUSED: policy_rate_refusal(&pk->pending, refused, retry, &pk->d); break;
    case STATE_RATE_UNAVAILABLE:
        log_debug("rate-limit state: %s", error ? error : "an unexpected reply");
        state_failed(ex, &pk->pending, &pk->d);
        break;
    }
    /* The body is the client's until the exchange ends, as it was read: the same call. */
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(pk->up.body, pk->up.body_len, &ex->client->worker->rpc_limits, &msg, &err) < 0)
        exchange_answer_for_id(ex, err.code, err.message);
    else if (!conclude(ex, &msg, &pk->d))
        forward(ex, &pk->up);
    rpc_msg_clear(&msg);
    park_free(pk);
}

/* Admits the call's limits in the shared state: parks the exchange, or
 * concludes at once when the state cannot be asked. Returns true when the
 * call is answered or parked (not to be forwarded now). */
static bool admit_shared(struct exchange *ex, struct rpc_msg *msg, struct decision *d,
                         const struct rate_pending *pd, const struct upstream_request *req)
{
    struct rate_park *pk = calloc(1, sizeof *pk);
    if (!pk) {
        refuse_http(ex, 503, "out of memory");
        return true;
    }
    pk->up = *req;
    pk->d = *d;
    pk->pending = *pd;
    for (size_t i = 0; i < pd->n; i++)
        pk->pending.checks[i].key = pk->pending.keys[i];
    if ((pk->req = state_rate_admit(ex->client->worker->state, pk->pending.checks, pk->pending.n, on_admitted, ex))) {
        ex->park = pk;
        ex->unpark = unpark;
        return true;
    }
    state_failed(ex, pd, d);
    park_free(pk);
    return conclude(ex, msg, d);
}

static void resume_held(struct client_conn *c);

/* Decides a POST's message; returns true when warden answered it itself
 * (or will: a call parked for the shared rate-limit state). */
static bool apply_policies(struct client_conn *c, struct rpc_msg *msg, const struct upstream_request *req)
{
    struct exchange *ex = &c->ex;
    if (msg->kind != RPC_REQUEST)
        return false;
    struct policy_set *ps = use_policies(ex);
    if (msg->tool) {
        struct decision d = {.verdict = VERDICT_ALLOW};
        struct rate_pending pending; /* 9 KB: only its count is set unless the state needs it */
        pending.n = 0;
        size_t tool_len = strlen(msg->tool);
        /* the class of the definition last listed (and allowed by the pins), else of the name */
        enum risk_class seen = toolmeta_class(ex->server->tool_meta, msg->tool, tool_len);
        if (pins_refuse(ex, msg->tool, tool_len, &d)) {
            /* decided: the policies never see a tool whose definition nobody approved */
        } else if (ps) {
            struct call_ctx ctx;
            exchange_call_ctx(ex, &ctx);
            ctx.tool_meta = toolmeta_lookup(ex->server->tool_meta, msg->tool, tool_len);
            ctx.tool_class = seen;
            double t0 = now_monotonic();
            if (c->worker->state)
                policy_decide_deferred(ps, c->worker->rates, msg, &ctx, &d, &pending);
            else
                policy_decide(ps, c->worker->rates, msg, &ctx, &d);
            /* Sent to approval: held, answered, or approved by a person, then
             * decided again with the grant (a rule that now denies still wins). */
            if (d.verdict == VERDICT_APPROVAL) {
                /* Counted first: an answer ends the exchange (ex is reset) before approval_hold_begin returns. */
                const struct server_conf *sc = ex->server->conf;
                metrics_call(c->worker->metrics, sc->name[0] ? sc->name : sc->path, msg->tool, "require_approval");
                if (approval_hold_begin(ex, msg, &d, resume_held) == APPROVAL_BEGIN_ANSWERED) {
                    metrics_policy_seconds(c->worker->metrics, now_monotonic() - t0);
                    return true;
                }
                ctx.approval_id = ex->approval_id;
                d = (struct decision){.verdict = VERDICT_ALLOW};
                pending.n = 0;
                if (c->worker->state)
                    policy_decide_deferred(ps, c->worker->rates, msg, &ctx, &d, &pending);
                else
                    policy_decide(ps, c->worker->rates, msg, &ctx, &d);
            }
            metrics_policy_seconds(c->worker->metrics, now_monotonic() - t0);
        }
        if (d.tool_class == RISK_NONE)
            d.tool_class = policy_tool_class(ps, msg->tool, seen);
        if (pending.n > 0 && (d.verdict == VERDICT_NONE || d.verdict == VERDICT_ALLOW))
            return admit_shared(ex, msg, &d, &pending, req);
        return conclude(ex, msg, &d);
    } else if (strcmp(msg->method, "tools/list") == 0 && reads_lists(ex, ps)) {
        ex->filter_list = true;
    } else if (strcmp(msg->method, "initialize") == 0 && ex->gen && ex->gen->pins) {
        ex->pin_instructions = true;
    }
    return false;
}

/* The request's era, and the headers that mirror its body checked before
 * any policy sees it: a server routing on a header must not run something
 * else than what warden decided on. Returns -1 when warden answered (400). */
static int check_era(struct exchange *ex, const struct http_head *h, struct rpc_msg *msg)
{
    struct era_error err;
    if (era_read(h, msg, &ex->era, &err) == 0)
        return 0;
    log_debug("refused a request from %s on server '%s': %s", ex->client->addr, ex->server->conf->name, err.message);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        refuse_http(ex, 503, "out of memory");
        return -1;
    }
    reply_format_rpc_error(b, ex->has_id ? ex->id_text : NULL, ex->id_len, err.code, err.message);
    size_t len = evbuffer_get_length(b);
    const char *p = (const char *)evbuffer_pullup(b, -1);
    exchange_answer(ex, err.status, NULL, p ? p : "", p ? len : 0);
    evbuffer_free(b);
    return -1;
}

static void handle_post(struct client_conn *c, const struct http_head *h, const char *query, size_t qlen)
{
    struct exchange *ex = &c->ex;
    const char *bad = check_content_type(h);
    if (bad) {
        refuse_http(ex, 415, bad);
        return;
    }
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(c->body, c->body_len, &c->worker->rpc_limits, &msg, &err) < 0) {
        exchange_answer_error(ex, 400, err.code, err.message);
        return;
    }
    if (msg.id_text) {
        ex->id_text = msg.id_len <= sizeof ex->id_inline ? ex->id_inline : malloc(msg.id_len);
        if (!ex->id_text) {
            rpc_msg_clear(&msg);
            refuse_http(ex, 503, "out of memory");
            return;
        }
        memcpy(ex->id_text, msg.id_text, msg.id_len);
        ex->id_len = msg.id_len;
        ex->has_id = msg.kind == RPC_REQUEST;
    }
    if (check_era(ex, h, &msg) < 0) {
        rpc_msg_clear(&msg);
        return;
    }
    struct upstream_request req = {
        .head = h, .query = query, .query_len = qlen, .body = c->body, .body_len = c->body_len,
        .kind = msg.kind, .is_initialize = msg.method && strcmp(msg.method, "initialize") == 0,
    };
    /* The session its answer names may be sent to the approval page (approval_elicit.h). */
    if (req.is_initialize && c->worker->elicit) {
        const cJSON *params;
        if (rpc_msg_params(&msg, &params) < 0) {
            rpc_msg_clear(&msg);
            refuse_http(ex, 503, "out of memory");
            return;
        }
        ex->elicit_url = elicit_wanted(params);
    }
    bool done = apply_policies(c, &msg, &req);
    rpc_msg_clear(&msg);
    if (!done)
        forward(ex, &req);
}

/* --- hold: a tools/call held for approval is decided again once a person
 * has decided (approval_hold.c calls this on the exchange's loop). The
 * request's head and body are still the connection's: it reads no other
 * request while this one is answered. --- */
static void resume_held(struct client_conn *c)
{
    struct exchange *ex = &c->ex;
    const struct http_head *h = &c->reader.head;
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(c->body, c->body_len, &c->worker->rpc_limits, &msg, &err) < 0) {
        exchange_answer_for_id(ex, err.code, err.message);
        return;
    }
    const char *url = h->buf + h->url_off;
    const char *q = memchr(url, '?', h->url_len);
    struct upstream_request req = {
        .head = h, .query = q, .query_len = q ? h->url_len - (size_t)(q - url) : 0, .body = c->body,
        .body_len = c->body_len, .kind = msg.kind,
    };
    bool done = apply_policies(c, &msg, &req);
    rpc_msg_clear(&msg);
    if (!done)
        forward(ex, &req);
}

void proxy_handle(struct client_conn *c)
{
    struct worker *w = c->worker;
    struct exchange *ex = &c->ex;
    const struct http_head *h = &c->reader.head;
    exchange_begin(ex);
    const char *url = h->buf + h->url_off;
    size_t url_len = h->url_len;
    const char *q = memchr(url, '?', url_len);
    size_t path_len = q ? (size_t)(q - url) : url_len;
    size_t qlen = q ? url_len - path_len : 0;

    size_t vlen;
    const char *host = http_header_field(h, HF_HOST, &vlen);
    if (!host && (h->http_major > 1 || h->http_minor >= 1)) {
        refuse_http(ex, 400, "a Host header is required");
        return;
    }
    if (host && !config_host_allowed(w->cfg, host, vlen)) {
        refuse_http(ex, 403, "Host not allowed (DNS rebinding protection)");
        return;
    }
    const char *origin = http_header_field(h, HF_ORIGIN, &vlen);
    if (origin && !config_origin_allowed(w->cfg, origin, vlen)) {
        refuse_http(ex, 403, "Origin not allowed");
        return;
    }
    /* RFC 9728: where an MCP client learns how to log in; open like /healthz. */
    struct gate_answer ga;
    if (gate_metadata(w->cfg, url, path_len, h, c->tls, &ga)) {
        exchange_answer(ex, ga.status, ga.headers[0] ? ga.headers : NULL, ga.body ? ga.body : "", ga.len);
        gate_answer_clear(&ga);
        return;
    }
    if (span_eq(url, path_len, "/healthz")) {
        if (h->method != HTTP_GET) {
            refuse_http(ex, 405, "use GET");
            return;
        }
        char body[160];
        int n = snprintf(body, sizeof body, "{\"status\":\"ok\",\"version\":\"%s\",\"servers\":%zu%s%s}",
                         WARDEN_VERSION, w->nservers, w->state ? ",\"state\":" : "",
                         w->state ? (state_ready(w->state) ? "\"up\"" : "\"down\"") : "");
        exchange_answer(ex, 200, NULL, body, (size_t)n);
        return;
    }
    for (size_t i = 0; i < w->nservers && !ex->server; i++)
        if (span_eq(url, path_len, w->servers[i]->conf->path))
            ex->server = w->servers[i];
    size_t legacy_server;
    enum legacy_route legacy = ex->server ? LEGACY_NONE : legacy_route(w, url, path_len, &legacy_server);
    if (legacy != LEGACY_NONE)
        ex->server = w->servers[legacy_server];
    if (!ex->server) {
        refuse_http(ex, 404, "no MCP server at this path");
        return;
    }
    /* Who is calling, by the server's own auth (or the top-level one);
     * the credential itself never goes upstream (upstream_http.c drops
     * Authorization, and config refuses pass_authorization with auth). */
    const struct sockaddr *peer = c->peer.ss_family ? (const struct sockaddr *)&c->peer : NULL;
    if (w->cfg->stdio && !c->peer.ss_family) {
        /* --stdio: the desktop user who launched warden (main named them). */
        if (principal_make(&ex->principal, PRINCIPAL_LOCAL, w->cfg->principal) < 0) {
            refuse_http(ex, 503, "out of memory");
            return;
        }
    } else if (!gate_check(w->cfg, ex->server->conf, h, peer, c->tls, &ex->principal, &ga)) {
        exchange_answer(ex, ga.status, ga.headers[0] ? ga.headers : NULL, ga.body ? ga.body : "", ga.len);
        gate_answer_clear(&ga);
        return;
    }
    const char *sid = http_header_field(h, HF_MCP_SESSION_ID, &vlen);
    if (sid) {
        if (!session_id_valid(sid, vlen)) {
            refuse_http(ex, 400, "Mcp-Session-Id must be 1 to 255 visible ASCII characters");
            return;
        }
        memcpy(ex->session, sid, vlen);
        ex->session[vlen] = '\0';
    }
    if (legacy != LEGACY_NONE) {
        legacy_handle(c, legacy, q, qlen);
        return;
    }
    switch (h->method) {
    case HTTP_POST:
        handle_post(c, h, q, qlen);
        return;
    case HTTP_GET: {
        /* A server's stream (and its Last-Event-ID replay) may carry tools lists too. */
        struct policy_set *ps = use_policies(ex);
        ex->filter_list = reads_lists(ex, ps);
        ex->resumed = http_header_field(h, HF_LAST_EVENT_ID, &vlen) != NULL;
        forward(ex, &(struct upstream_request){.head = h, .query = q, .query_len = qlen});
        return;
    }
    case HTTP_DELETE:
        forward(ex, &(struct upstream_request){.head = h, .query = q, .query_len = qlen});
        return;
    default:
        exchange_answer(ex, 405, "Allow: GET, POST, DELETE\r\n",
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"use GET, POST or DELETE\"}}",
                        87);
        return;
    }
}
