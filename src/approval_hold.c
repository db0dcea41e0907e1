#include "approval_hold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/buffer.h>
#include "approval.h"
#include "approval_elicit.h"
#include "approval_redis.h"
#include "client.h"
#include "era.h"
#include "exchange.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "reply.h"
#include "state.h"

#define HOLD_TICK_SECONDS 10
#define RETRY_AFTER_SECONDS 30
/* The inputRequests key of warden's URL elicitation (2026-07-28). */
#define INPUT_KEY "warden/approval"

struct approval_hold {
    struct exchange *ex;
    struct approval_store *store;
    approval_resume_fn resume;
    struct approval_waiter waiter; /* waiter.wake: made active by whoever decides */
    struct event *tick;            /* every HOLD_TICK_SECONDS: a comment, and progress */
    struct event *deadline;        /* the end of the hold */
    char id[APPROVAL_ID_LEN + 1];
    double expires;       /* of the approval request, wall clock */
    char *progress_token; /* the request's _meta.progressToken as cJSON prints it (owned), or NULL */
    char tool[130];
    unsigned ticks;
    /* With the shared state (Redis): the lookup in flight, and its answer
     * kept for the decision made again once it is in. */
    struct state_req *ask;
    struct approval_answer answer;
    bool answered;
    bool recheck; /* a decision was heard while the lookup was in flight: look again once held */
};

/* Held on its stream (not only asking Redis). */
static bool held(const struct exchange *ex)
{
    return ex->hold && ex->hold->tick;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void iso_time(double t, char out[32])
{
    time_t secs = (time_t)t;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void hold_free(struct exchange *ex)
{
    struct approval_hold *h = ex->hold;
    ex->hold = NULL;
    ex->hold_end = NULL;
    ex->hold_stop = NULL;
    if (!h)
        return;
    if (h->ask)
        state_cancel(h->ask);
    /* After unwait no other thread touches the wake event: it can go. */
    if (h->store)
        approval_store_unwait(h->store, &h->waiter);
    if (h->waiter.wake)
        event_free(h->waiter.wake);
    if (h->tick)
        event_free(h->tick);
    if (h->deadline)
        event_free(h->deadline);
    free(h->progress_token);
    free(h);
}

/* True when the request's Accept names text/event-stream. */
static bool accepts_sse(const struct exchange *ex)
{
    size_t len;
    const char *v = http_header_get(&ex->client->reader.head, "accept", &len);
    static const char want[] = "text/event-stream";
    for (size_t i = 0; v && i + sizeof want - 1 <= len; i++)
        if (strncasecmp(v + i, want, sizeof want - 1) == 0)
            return true;
    return false;
}

/* A buffer for the answer to ex's request; NULL, the client closed, when
 * out of memory. answer_send sends and frees it. */
static struct evbuffer *answer_new(struct exchange *ex)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        client_close(ex->client);
    return b;
}

/* Sends the answer written in b (200) and frees b. */
static void answer_send(struct exchange *ex, struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    exchange_answer(ex, 200, NULL, (const char *)evbuffer_pullup(b, -1), len);
    evbuffer_free(b);
}

/* The tool result of a call that waits for a person: it has not run. */
static void answer_pending(struct exchange *ex, const char *tool, const char *id, double expires)
{
    char when[32], text[700];
    iso_time(expires, when);
    snprintf(text, sizeof text,
             "[warden] %s needs a person's approval (request %s, expires %s). It has NOT run. When the user says it "
             "is approved, call %s again with exactly the same arguments; changed arguments need a new approval.",
             tool, id, when, tool);
    double left = expires - wall_now();
    int retry = left < RETRY_AFTER_SECONDS ? (left > 1 ? (int)left : 1) : RETRY_AFTER_SECONDS;
    struct evbuffer *b = answer_new(ex);
    if (!b)
        return;
    evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    evbuffer_add(b, ex->id_text, ex->id_len);
    evbuffer_add_printf(b, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
    json_append_string(b, text, strlen(text));
    evbuffer_add_printf(b,
                        "}],\"isError\":true,%s\"_meta\":{\"warden/approval\":{\"status\":\"pending\",\"id\":\"%s\","
                        "\"expires_at\":\"%s\",\"retry_after\":%d}}}}",
                        ex->era.modern ? "\"resultType\":\"complete\"," : "", id, when, retry);
    answer_send(ex, b);
}

/* The approval page for request id, and what the person is asked. */
static void page_url(const char *admin, const char *tool, const char *server, const char *id, char url[400],
                     char message[400])
{
    snprintf(url, 400, "http://%s/approvals#%s", admin, id);
    snprintf(message, 400, "Approve %s on %s (request %s); the call has not run.", tool, server, id);
}

/* MCP's error -32042 for a client that opens URLs (approval_elicit.h): the
 * approval page, where a person decides; the client retries afterwards. */
static void answer_url_elicitation(struct exchange *ex, const char *tool, const char *server, const char *id,
                                   const char *admin)
{
    char url[400], message[400];
    page_url(admin, tool, server, id, url, message);
    struct evbuffer *b = answer_new(ex);
    if (!b)
        return;
    evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    evbuffer_add(b, ex->id_text, ex->id_len);
    evbuffer_add_printf(b, ",\"error\":{\"code\":-32042,\"message\":\"This call needs a person's approval.\","
                           "\"data\":{\"elicitations\":[{\"mode\":\"url\",\"elicitationId\":\"%s\",\"url\":",
                        id);
    json_append_string(b, url, strlen(url));
    evbuffer_add(b, ",\"message\":", 11);
    json_append_string(b, message, strlen(message));
    evbuffer_add(b, "}]}}}", 5);
    answer_send(ex, b);
}

/* 2026-07-28: an InputRequiredResult asking the client to open the approval
 * page, with a requestState bound to this call, valid as long as a grant of
 * this request could be. Without a key to sign with (the one shared in Redis
 * not read yet: the log says why) the call is only told it is pending. */
static void answer_input_required(struct exchange *ex, const char *tool, const char *server, const char *id,
                                  double expires, double state_expires, const unsigned char digest[SHA256_BYTES])
{
    const struct worker *w = ex->client->worker;
    char url[400], message[400], state[ELICIT_STATE_MAX];
    page_url(w->cfg->admin_listen, tool, server, id, url, message);
    if (elicit_state_sign(w->elicit, id, state_expires, digest, state) < 0) {
        answer_pending(ex, tool, id, expires);
        return;
    }
    struct evbuffer *b = answer_new(ex);
    if (!b)
        return;
    era_format_input_required(b, ex->id_text, ex->id_len, INPUT_KEY, message, url, state);
    answer_send(ex, b);
}

/* What a 2026-07-28 retry carries back: its requestState checked against the
 * call (before the call may attach to any approval), and whether the user
 * accepted warden's URL elicitation. */
struct modern_retry {
    bool url_client; /* the request declares URL elicitation, and warden has an approval page */
    unsigned char digest[SHA256_BYTES];
    enum elicit_state_check state; /* ELICIT_STATE_FOREIGN when there is none */
    bool accepted;                 /* inputResponses[INPUT_KEY].action is "accept" */
};

static void read_modern_retry(struct exchange *ex, const cJSON *params, const struct approval_call *call,
                              struct modern_retry *r)
{
    const struct worker *w = ex->client->worker;
    *r = (struct modern_retry){.state = ELICIT_STATE_FOREIGN};
    if (!ex->era.modern || !w->elicit || !w->cfg->admin_listen || !elicit_modern_wanted(params) ||
        elicit_call_digest(call->principal, call->server, call->tool, call->args, r->digest) < 0)
        return;
    r->url_client = true;
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(params, "requestState");
    if (cJSON_IsString(st)) {
        char id[APPROVAL_ID_LEN + 1];
        r->state = elicit_state_verify(w->elicit, st->valuestring, strlen(st->valuestring), r->digest, wall_now(), id);
    }
    const cJSON *responses = cJSON_GetObjectItemCaseSensitive(params, "inputResponses");
    const cJSON *mine = cJSON_IsObject(responses) ? cJSON_GetObjectItemCaseSensitive(responses, INPUT_KEY) : NULL;
    const cJSON *action = cJSON_IsObject(mine) ? cJSON_GetObjectItemCaseSensitive(mine, "action") : NULL;
    r->accepted = cJSON_IsString(action) && strcmp(action->valuestring, "accept") == 0;
}

/* Progress on the held stream: elapsed seconds, which only grow. */
static void send_progress(struct approval_hold *h)
{
    if (!h->progress_token)
        return;
    char msg[1024];
    int n = snprintf(msg, sizeof msg,
                     "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":%s,"
                     "\"progress\":%u,\"message\":\"warden: waiting for a person to approve %s (%s)\"}}",
                     h->progress_token, h->ticks * HOLD_TICK_SECONDS, h->tool, h->id);
    if (n > 0 && (size_t)n < sizeof msg)
        exchange_hold_message(h->ex, msg, (size_t)n);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct approval_hold *h = arg;
    h->ticks++;
    char text[100];
    snprintf(text, sizeof text, "warden: %s waiting for approval", h->id);
    exchange_hold_comment(h->ex, text);
    send_progress(h);
    exchange_flush(h->ex);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct approval_hold *h = arg;
    struct exchange *ex = h->ex;
    char id[APPROVAL_ID_LEN + 1], tool[sizeof h->tool];
    snprintf(id, sizeof id, "%s", h->id);
    snprintf(tool, sizeof tool, "%s", h->tool);
    double expires = h->expires;
    /* The answer ends the exchange, which frees h. */
    answer_pending(ex, tool, id, expires);
}

/* Warden is stopping: a call still waiting is told it is pending now (after
 * a grant, the upstream's answer is on its way and finishes as usual). */
static void hold_stop(struct exchange *ex)
{
    struct approval_hold *h = ex->hold;
    if (!h || !h->deadline || !evtimer_pending(h->deadline, NULL))
        return;
    on_deadline(-1, 0, h);
}

/* A person decided (or the request expired): the proxy decides the call again. */
static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct approval_hold *h = arg;
    h->resume(h->ex->client);
}

static struct approval_hold *hold_new(struct exchange *ex, approval_resume_fn resume)
{
    struct approval_hold *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    h->ex = ex;
    h->store = ex->client->worker->state ? NULL : ex->client->worker->approvals;
    h->resume = resume;
    ex->hold = h;
    ex->hold_end = hold_free;
    ex->hold_stop = hold_stop;
    return h;
}

/* Holds ex on an event stream until its deadline; -1 when out of memory. */
static int hold(struct exchange *ex, const char *tool, const cJSON *params, const struct approval_answer *a, double seconds,
                approval_resume_fn resume)
{
    struct approval_hold *h = ex->hold;
    struct event_base *base = ex->client->worker->base;
    if (!h && !(h = hold_new(ex, resume)))
        return -1;
    if (!h->tick) {
        snprintf(h->tool, sizeof h->tool, "%s", tool);
        const cJSON *meta = params ? cJSON_GetObjectItemCaseSensitive(params, "_meta") : NULL;
        const cJSON *token = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "progressToken") : NULL;
        bool ok = (!(cJSON_IsString(token) || cJSON_IsNumber(token)) ||
                   (h->progress_token = cJSON_PrintUnformatted(token))) &&
                  (h->waiter.wake = event_new(base, -1, 0, on_wake, h)) &&
                  (h->tick = event_new(base, -1, EV_PERSIST, on_tick, h)) &&
                  (h->deadline = evtimer_new(base, on_deadline, h));
        if (!ok)
            return -1;
        exchange_hold_start(ex);
        struct timeval tick = {.tv_sec = HOLD_TICK_SECONDS};
        struct timeval end = {.tv_sec = (time_t)seconds,
                              .tv_usec = (suseconds_t)((seconds - (double)(time_t)seconds) * 1e6)};
        evtimer_add(h->tick, &tick);
        evtimer_add(h->deadline, &end);
    }
    snprintf(h->id, sizeof h->id, "%s", a->id);
    h->expires = a->expires;
    char text[100];
    snprintf(text, sizeof text, "warden: %s waiting for approval", h->id);
    exchange_hold_comment(ex, text);
    send_progress(h);
    exchange_flush(ex);
    /* With Redis the worker's subscription wakes it (approval_hold_decided); a
     * decision published before the lookup's answer came in may be this one's. */
    if (h->store ? approval_store_wait(h->store, h->id, &h->waiter) < 0 : h->recheck)
        event_active(h->waiter.wake, EV_READ, 0); /* decided in between: look again */
    h->recheck = false;
    return 0;
}

static void on_asked(void *arg, const struct redisReply *r, const char *error)
{
    struct approval_hold *h = arg;
    h->ask = NULL;
    approval_redis_call_result(r, error, &h->answer);
    if (h->answer.outcome == APPROVAL_FAILED && held(h->ex)) {
        /* Fail closed: a held call stays held until its hold ends, and looks again when woken. */
        log_warn("approval %s: the shared state did not answer (%s); the call stays held", h->id,
                 error ? error : "unexpected reply");
        return;
    }
    h->answered = true;
    h->resume(h->ex->client);
}

/* Asks Redis what becomes of the call; the proxy decides it again once the
 * answer is in (on_asked). Returns false when Redis cannot be asked now. */
static bool ask_shared(struct exchange *ex, const struct approval_call *call, approval_resume_fn resume)
{
    struct approval_hold *h = ex->hold;
    if (!h && !(h = hold_new(ex, resume)))
        return false;
    if (h->ask)
        return true; /* one lookup at a time: its answer decides */
    const struct config *cfg = ex->client->worker->cfg;
    h->ask = approval_redis_call(ex->client->worker->state, call, wall_now(), cfg->approvals.max_requests, on_asked, h);
    return h->ask != NULL;
}

void approval_hold_decided(void *arg, const char *id, size_t len)
{
    struct worker *w = arg;
    if (id && w->elicit)
        elicit_sessions_decided(w->elicit, w->index, id, len);
    struct client_conn *c;
    TAILQ_FOREACH(c, &w->clients, link)
    {
        struct approval_hold *h = c->ex.hold;
        /* id NULL: the link came back and messages may have been missed: every held call looks again. */
        if (h && h->ask)
            h->recheck = true; /* its id is not known yet */
        else if (h && h->tick && (!id || (strlen(h->id) == len && memcmp(h->id, id, len) == 0)))
            event_active(h->waiter.wake, EV_READ, 0);
    }
}

/* The audit line, notice and metrics of a request kept in Redis, from this warden. */
static void tell_shared(struct approval_store *store, const struct approval_call *c, const struct approval_answer *a,
                        const char *event)
{
    char *args = c->args ? cJSON_PrintUnformatted(c->args) : NULL;
    bool requested = strcmp(event, "approval_requested") == 0;
    struct approval_view v = {
        .id = a->id,
        .principal = c->principal,
        .server = c->server,
        .tool = c->tool,
        .args_json = args ? args : "{}",
        .rule = c->rule ? c->rule : "",
        .reason = c->reason ? c->reason : "",
        .status = requested ? "pending" : "consumed",
        .decided_by = requested ? NULL : a->decided_by,
        .decision_reason = requested ? NULL : a->decision_reason,
        .scope = c->opts.scope == APPROVAL_SCOPE_TOOL ? "tool" : "call",
        .generation = c->generation,
        .created = wall_now(),
        .expires = a->expires,
    };
    approval_store_tell(store, event, &v);
    if (requested)
        approval_store_track(store, a->id, a->expires); /* for its expiry line and the pending gauge */
    free(args);
}

enum approval_begin approval_hold_begin(struct exchange *ex, struct rpc_msg *msg, const struct decision *d,
                                        approval_resume_fn resume)
{
    const cJSON *params, *args;
    if (rpc_msg_params(msg, &params) < 0 || rpc_msg_args(msg, &args) < 0) {
        exchange_answer_for_id(ex, RPC_INTERNAL_ERROR, "Internal error: out of memory");
        return APPROVAL_BEGIN_ANSWERED;
    }
    struct approval_store *store = ex->client->worker->approvals;
    const struct server_conf *sc = ex->server->conf;
    char principal[128];
    exchange_principal_id(ex, principal, sizeof principal);
    struct approval_call call = {
        .principal = principal,
        .server = sc->name[0] ? sc->name : sc->path,
        .tool = msg->tool,
        .args = args,
        .rule = d->rule,
        .reason = d->reason,
        .generation = ex->gen ? ex->gen->number : 0,
        .opts = d->approval,
    };
    struct modern_retry retry;
    read_modern_retry(ex, params, &call, &retry);
    if (retry.state == ELICIT_STATE_NO_KEY) {
        /* Fail closed: the state cannot be told from a forged one yet. */
        static const char why[] = "warden cannot check requestState now: the key shared through Redis has not been "
                                  "read (see warden's log); call again later";
        exchange_audit_call(ex, msg->tool, args, "deny", d->rule, why, -1);
        exchange_answer_for_id(ex, RPC_INTERNAL_ERROR, why);
        return APPROVAL_BEGIN_ANSWERED;
    }
    if (retry.state == ELICIT_STATE_FORGED || retry.state == ELICIT_STATE_EXPIRED) {
        /* Refused before it can touch any approval: the spec's answer to state that fails verification. */
        const char *why = retry.state == ELICIT_STATE_FORGED
                              ? "Invalid params: requestState is not one warden issued for this call"
                              : "Invalid params: requestState has expired; call again without it";
        exchange_audit_call(ex, msg->tool, args, "deny", d->rule, why, -1);
        exchange_answer_for_id(ex, RPC_INVALID_PARAMS, why);
        return APPROVAL_BEGIN_ANSWERED;
    }
    struct approval_answer a = {.outcome = APPROVAL_FAILED};
    bool shared = ex->client->worker->state != NULL;
    if (shared && ex->hold && ex->hold->answered) {
        a = ex->hold->answer;
        ex->hold->answered = false;
        if (store &&
            (a.outcome == APPROVAL_NEW || (a.outcome == APPROVAL_GRANTED && call.opts.scope == APPROVAL_SCOPE_CALL)))
            tell_shared(store, &call, &a, a.outcome == APPROVAL_NEW ? "approval_requested" : "approval_consumed");
    } else if (shared) {
        if (ask_shared(ex, &call, resume))
            return APPROVAL_BEGIN_ANSWERED; /* decided again when Redis answers */
        if (held(ex))
            return APPROVAL_BEGIN_ANSWERED; /* fail closed: still held; the next wake or the deadline ends it */
    } else if (store) {
        approval_store_call(store, &call, wall_now(), &a);
    }
    char text[900];
    switch (a.outcome) {
    case APPROVAL_GRANTED:
        if (held(ex)) {
            /* From here the upstream's answer carries the stream: no more of warden's waiting. */
            evtimer_del(ex->hold->tick);
            evtimer_del(ex->hold->deadline);
        }
        snprintf(ex->approval_id, sizeof ex->approval_id, "%s", a.id);
        if (retry.state == ELICIT_STATE_VALID &&
            elicit_strip_retry(ex->client->body, ex->client->body_len, &ex->client->worker->rpc_limits) < 0)
            log_debug("a retry with %s kept warden's requestState: params has too many members", a.id);
        return APPROVAL_BEGIN_GRANTED;
    case APPROVAL_REFUSED:
        snprintf(text, sizeof text, "[warden] %s was refused by %s%s%s. It has not run.", msg->tool, a.decided_by,
                 a.decision_reason[0] ? ": " : "", a.decision_reason);
        snprintf(ex->approval_id, sizeof ex->approval_id, "%s", a.id);
        exchange_audit_call(ex, msg->tool, args, "deny", d->rule, text, -1);
        exchange_answer_refusal(ex, text);
        return APPROVAL_BEGIN_ANSWERED;
    case APPROVAL_FULL:
    case APPROVAL_FAILED:
        snprintf(text, sizeof text,
                 "%s; warden cannot take %s approval request now (%s), so it is refused and has not run", d->reason,
                 store || shared ? "another" : "an",
                 a.outcome == APPROVAL_FULL ? "too many are waiting"
                 : shared                   ? "the shared state (Redis) cannot be reached"
                 : store                    ? "out of memory"
                                            : "approvals are not available");
        exchange_audit_call(ex, msg->tool, args, "require_approval", d->rule, text, -1);
        exchange_answer_refusal(ex, text);
        return APPROVAL_BEGIN_ANSWERED;
    case APPROVAL_NEW:
    case APPROVAL_ATTACHED: break;
    }
    snprintf(ex->approval_id, sizeof ex->approval_id, "%s", a.id);
    if (!held(ex))
        exchange_audit_call(ex, msg->tool, args, "require_approval", d->rule, d->reason, -1);
    struct worker *w = ex->client->worker;
    /* Held no longer than the request lives: an expired request would only open a new one. */
    double seconds = d->approval.hold < d->approval.ttl ? d->approval.hold : d->approval.ttl;
    if (!held(ex) && retry.url_client) {
        /* A retry whose user went to the page waits for the person like any
         * held call; one who declined is told the call is pending; anyone
         * else is sent to the page. */
        if (retry.state == ELICIT_STATE_VALID && !retry.accepted) {
            answer_pending(ex, msg->tool, a.id, a.expires);
            return APPROVAL_BEGIN_ANSWERED;
        }
        if (retry.state != ELICIT_STATE_VALID || seconds <= 0 || !accepts_sse(ex)) {
            answer_input_required(ex, msg->tool, call.server, a.id, a.expires, a.expires + d->approval.grant_ttl,
                                  retry.digest);
            return APPROVAL_BEGIN_ANSWERED;
        }
    } else if (!held(ex) && !ex->era.modern && w->elicit && w->cfg->admin_listen &&
               elicit_sessions_has(w->elicit, ex->session, strlen(ex->session))) {
        /* Its GET streams hear when a person decides (watched first: the answer ends the exchange). */
        elicit_sessions_watch(w->elicit, w->index, shared ? NULL : store, ex->session, strlen(ex->session), a.id);
        answer_url_elicitation(ex, msg->tool, call.server, a.id, w->cfg->admin_listen);
        return APPROVAL_BEGIN_ANSWERED;
    }
    if (held(ex) || (seconds > 0 && accepts_sse(ex))) {
        if (hold(ex, msg->tool, params, &a, seconds, resume) < 0) {
            log_error("out of memory holding a call for approval; closing the connection of %s", ex->client->addr);
            client_close(ex->client);
        }
        return APPROVAL_BEGIN_ANSWERED;
    }
    answer_pending(ex, msg->tool, a.id, a.expires);
    return APPROVAL_BEGIN_ANSWERED;
}
