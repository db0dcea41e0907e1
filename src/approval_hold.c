#include "approval_hold.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/buffer.h>
#include "approval.h"
#include "approval_elicit.h"
#include "client.h"
#include "exchange.h"
#include "http.h"
#include "log.h"
#include "reply.h"

#define HOLD_TICK_SECONDS 10
#define RETRY_AFTER_SECONDS 30

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
};

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
    /* After unwait no other thread touches the wake event: it can go. */
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
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        client_close(ex->client);
        return;
    }
    evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    evbuffer_add(b, ex->id_text, ex->id_len);
    evbuffer_add_printf(b, ",\"result\":{\"content\":[{\"type\":\"text\",\"text\":");
    json_append_string(b, text, strlen(text));
    evbuffer_add_printf(b,
                        "}],\"isError\":true,\"_meta\":{\"warden/approval\":{\"status\":\"pending\",\"id\":\"%s\","
                        "\"expires_at\":\"%s\",\"retry_after\":%d}}}}",
                        id, when, retry);
    size_t len = evbuffer_get_length(b);
    exchange_answer(ex, 200, NULL, (const char *)evbuffer_pullup(b, -1), len);
    evbuffer_free(b);
}

/* MCP's error -32042 for a client that opens URLs (approval_elicit.h): the
 * approval page, where a person decides; the client retries afterwards. */
static void answer_url_elicitation(struct exchange *ex, const char *tool, const char *server, const char *id,
                                   const char *admin)
{
    char url[400], message[400];
    snprintf(url, sizeof url, "http://%s/approvals#%s", admin, id);
    snprintf(message, sizeof message, "Approve %s on %s (request %s); the call has not run.", tool, server, id);
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        client_close(ex->client);
        return;
    }
    evbuffer_add_printf(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    evbuffer_add(b, ex->id_text, ex->id_len);
    evbuffer_add_printf(b, ",\"error\":{\"code\":-32042,\"message\":\"This call needs a person's approval.\","
                           "\"data\":{\"elicitations\":[{\"mode\":\"url\",\"elicitationId\":\"%s\",\"url\":",
                        id);
    json_append_string(b, url, strlen(url));
    evbuffer_add(b, ",\"message\":", 11);
    json_append_string(b, message, strlen(message));
    evbuffer_add(b, "}]}}}", 5);
    size_t len = evbuffer_get_length(b);
    exchange_answer(ex, 200, NULL, (const char *)evbuffer_pullup(b, -1), len);
    evbuffer_free(b);
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
    if (!h || !evtimer_pending(h->deadline, NULL))
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

/* Holds ex on an event stream until its deadline; -1 when out of memory. */
static int hold(struct exchange *ex, const struct rpc_msg *msg, const struct approval_answer *a, double seconds,
                approval_resume_fn resume)
{
    struct approval_hold *h = ex->hold;
    struct event_base *base = ex->client->worker->base;
    if (!h) {
        if (!(h = calloc(1, sizeof *h)))
            return -1;
        h->ex = ex;
        h->store = ex->client->worker->approvals;
        h->resume = resume;
        snprintf(h->tool, sizeof h->tool, "%s", msg->tool);
        const cJSON *meta = msg->params ? cJSON_GetObjectItemCaseSensitive(msg->params, "_meta") : NULL;
        const cJSON *token = cJSON_IsObject(meta) ? cJSON_GetObjectItemCaseSensitive(meta, "progressToken") : NULL;
        bool ok = (!(cJSON_IsString(token) || cJSON_IsNumber(token)) ||
                   (h->progress_token = cJSON_PrintUnformatted(token))) &&
                  (h->waiter.wake = event_new(base, -1, 0, on_wake, h)) &&
                  (h->tick = event_new(base, -1, EV_PERSIST, on_tick, h)) &&
                  (h->deadline = evtimer_new(base, on_deadline, h));
        ex->hold = h;
        ex->hold_end = hold_free;
        ex->hold_stop = hold_stop;
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
    if (approval_store_wait(h->store, h->id, &h->waiter) < 0)
        event_active(h->waiter.wake, EV_READ, 0); /* decided in between: look again */
    return 0;
}

enum approval_begin approval_hold_begin(struct exchange *ex, const struct rpc_msg *msg, const struct decision *d,
                                        approval_resume_fn resume)
{
    struct approval_store *store = ex->client->worker->approvals;
    const struct server_conf *sc = ex->server->conf;
    char principal[128];
    exchange_principal_id(ex, principal, sizeof principal);
    struct approval_call call = {
        .principal = principal,
        .server = sc->name[0] ? sc->name : sc->path,
        .tool = msg->tool,
        .args = msg->args,
        .rule = d->rule,
        .reason = d->reason,
        .generation = ex->gen ? ex->gen->number : 0,
        .opts = d->approval,
    };
    struct approval_answer a = {.outcome = APPROVAL_FAILED};
    if (store)
        approval_store_call(store, &call, wall_now(), &a);
    char text[900];
    switch (a.outcome) {
    case APPROVAL_GRANTED:
        if (ex->hold) {
            /* From here the upstream's answer carries the stream: no more of warden's waiting. */
            evtimer_del(ex->hold->tick);
            evtimer_del(ex->hold->deadline);
        }
        snprintf(ex->approval_id, sizeof ex->approval_id, "%s", a.id);
        return APPROVAL_BEGIN_GRANTED;
    case APPROVAL_REFUSED:
        snprintf(text, sizeof text, "[warden] %s was refused by %s%s%s. It has not run.", msg->tool, a.decided_by,
                 a.decision_reason[0] ? ": " : "", a.decision_reason);
        snprintf(ex->approval_id, sizeof ex->approval_id, "%s", a.id);
        exchange_audit_call(ex, msg->tool, msg->args, "deny", d->rule, text, -1);
        exchange_answer_refusal(ex, text);
        return APPROVAL_BEGIN_ANSWERED;
    case APPROVAL_FULL:
    case APPROVAL_FAILED:
        snprintf(text, sizeof text,
                 "%s; warden cannot take %s approval request now (%s), so it is refused and has not run", d->reason,
                 store ? "another" : "an",
                 a.outcome == APPROVAL_FULL ? "too many are waiting"
                 : store                    ? "out of memory"
                                            : "approvals are not available");
        exchange_audit_call(ex, msg->tool, msg->args, "require_approval", d->rule, text, -1);
        exchange_answer_refusal(ex, text);
        return APPROVAL_BEGIN_ANSWERED;
    case APPROVAL_NEW:
    case APPROVAL_ATTACHED: break;
    }
    snprintf(ex->approval_id, sizeof ex->approval_id, "%s", a.id);
    if (!ex->hold)
        exchange_audit_call(ex, msg->tool, msg->args, "require_approval", d->rule, d->reason, -1);
    const struct worker *w = ex->client->worker;
    if (!ex->hold && w->elicit && w->cfg->admin_listen && elicit_sessions_has(w->elicit, ex->session, strlen(ex->session))) {
        answer_url_elicitation(ex, msg->tool, call.server, a.id, w->cfg->admin_listen);
        return APPROVAL_BEGIN_ANSWERED;
    }
    /* Held no longer than the request lives: an expired request would only open a new one. */
    double seconds = d->approval.hold < d->approval.ttl ? d->approval.hold : d->approval.ttl;
    if (ex->hold || (seconds > 0 && accepts_sse(ex))) {
        if (hold(ex, msg, &a, seconds, resume) < 0) {
            log_error("out of memory holding a call for approval; closing the connection of %s", ex->client->addr);
            client_close(ex->client);
        }
        return APPROVAL_BEGIN_ANSWERED;
    }
    answer_pending(ex, msg->tool, a.id, a.expires);
    return APPROVAL_BEGIN_ANSWERED;
}
