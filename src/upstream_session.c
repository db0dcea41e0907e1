#include "upstream_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "exchange.h"
#include "jsonrpc.h"
#include "randbytes.h"
#include "reply.h"

int upsess_make_id(char out[33])
{
    unsigned char rnd[16];
    if (randbytes(rnd, sizeof rnd) < 0)
        return -1;
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    return 0;
}

int upsess_init(struct upstream_session *us, struct server_rt *s, void *owner, const struct upsess_ops *ops,
                const char *id, struct bufferevent *in, size_t backlog_max)
{
    if (!(us->backlog = evbuffer_new()))
        return -1;
    us->server = s;
    us->owner = owner;
    us->ops = ops;
    snprintf(us->id, sizeof us->id, "%s", id);
    TAILQ_INIT(&us->pending);
    us->in = in;
    us->backlog_max = backlog_max;
    return 0;
}

void upsess_add(struct upstream_session *us)
{
    TAILQ_INSERT_TAIL(&us->server->sessions, us, link);
    us->server->nsessions++;
}

void upsess_clear(struct upstream_session *us)
{
    if (us->backlog)
        evbuffer_free(us->backlog);
    us->backlog = NULL;
}

struct upstream_session *upsess_find(struct server_rt *s, const char *id)
{
    struct upstream_session *us;
    TAILQ_FOREACH(us, &s->sessions, link)
        if (!us->anonymous && strcmp(us->id, id) == 0)
            return us;
    return NULL;
}

bool upsess_idle(const struct upstream_session *us)
{
    return TAILQ_EMPTY(&us->pending) && !us->stream;
}

void upsess_idle_clock(const struct upstream_session *us, struct event *timer, int seconds)
{
    if (us->ending)
        return;
    if (upsess_idle(us)) {
        struct timeval tv = {.tv_sec = seconds};
        evtimer_add(timer, &tv);
    } else {
        evtimer_del(timer);
    }
}

bool upsess_keep_body(struct exchange *ex, const struct upstream_request *req)
{
    if (!(ex->body = malloc(req->body_len ? req->body_len : 1))) {
        exchange_failed(ex, UPSTREAM_INTERNAL, "could not be reached: warden is out of memory");
        return false;
    }
    memcpy(ex->body, req->body, req->body_len);
    ex->body_len = req->body_len;
    return true;
}

struct exchange *upsess_waiting(const struct upstream_session *us, const char *id, size_t id_len)
{
    struct exchange *ex;
    TAILQ_FOREACH(ex, &us->pending, wait_link)
        if (ex->has_id && rpc_id_equal(id, id_len, ex->id_text, ex->id_len))
            return ex;
    return NULL;
}

bool upsess_id_free(struct upstream_session *us, struct exchange *ex)
{
    if (!upsess_waiting(us, ex->id_text, ex->id_len))
        return true;
    exchange_answer_for_id(ex, RPC_INVALID_REQUEST,
                           "warden: a request with this id is already in progress on this session");
    return false;
}

void upsess_wait(struct upstream_session *us, struct exchange *ex)
{
    ex->upsess = us;
    TAILQ_INSERT_TAIL(&us->pending, ex, wait_link);
    us->ops->changed(us, NULL);
    exchange_stream_start(ex, us->anonymous ? NULL : us->id);
    exchange_expect(ex, us->server->conf->first_byte_timeout_ms, "did not answer within");
    exchange_flush(ex);
}

void upsess_answer(struct exchange *ex, const char *json, size_t len)
{
    /* Off the session first: whatever the message makes of ex (a refusal, a
     * closed client) then finds nothing of the session to undo. */
    upsess_detach(ex);
    exchange_message(ex, json, len);
    exchange_stream_end(ex);
}

/* GET: ex becomes us's stream and first gets the backlog; 409 when a stream is open already. */
static void upsess_open_stream(struct upstream_session *us, struct exchange *ex, unsigned idle_ms)
{
    if (us->stream) {
        exchange_answer_error(ex, 409, RPC_INVALID_REQUEST, "Conflict: only one stream is allowed per session");
        return;
    }
    us->stream = ex;
    ex->upsess = us;
    us->ops->changed(us, NULL);
    exchange_stream_start(ex, us->id);
    if (idle_ms)
        exchange_expect(ex, idle_ms, "sent nothing for");
    size_t len;
    char *line;
    /* A message may end the client (and so detach ex): the rest stays for the next stream. */
    while (ex->upsess == us && (line = evbuffer_readln(us->backlog, &len, EVBUFFER_EOL_LF))) {
        exchange_message(ex, line, len);
        free(line);
    }
    exchange_flush(ex);
}

void upsess_forward(struct exchange *ex, const struct upstream_request *req, unsigned idle_ms, const char *delete_why)
{
    unsigned method = req->head->method;
    struct upstream_session *us = ex->session[0] ? upsess_find(ex->server, ex->session) : NULL;
    if (!us) {
        if (!ex->session[0] && (method == HTTP_POST || method == HTTP_GET))
            exchange_answer_error(ex, 400, RPC_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
        else
            exchange_answer_error(ex, 404, RPC_INVALID_REQUEST, "Session not found");
        return;
    }
    switch (method) {
    case HTTP_POST:
        if (req->kind == RPC_REQUEST)
            us->ops->request(us, ex);
        else if (us->ops->message(us, ex, req->kind))
            exchange_answer(ex, 202, NULL, "", 0);
        return;
    case HTTP_GET:
        upsess_open_stream(us, ex, idle_ms);
        return;
    default:
        us->ops->end(us, UPSTREAM_RESET, delete_why);
        exchange_answer(ex, 200, NULL, "", 0);
        return;
    }
}

bool upsess_keep(struct upstream_session *us, const char *json, size_t len)
{
    if (evbuffer_get_length(us->backlog) + len + 1 > us->backlog_max)
        return false;
    json_append_line(us->backlog, json, len);
    return true;
}

/* Lets the server's messages be read again once no client on the session is slow. */
static void upsess_unpause(struct exchange *ex)
{
    struct upstream_session *us = ex->upsess;
    if (!ex->upsess_paused)
        return;
    ex->upsess_paused = false;
    if (--us->paused > 0 || us->ending)
        return;
    bufferevent_enable(us->in, EV_READ);
    /* Messages already read wait in the input: have them handled, outside this call. */
    if (evbuffer_get_length(bufferevent_get_input(us->in)) > 0)
        bufferevent_trigger(us->in, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void upsess_detach(struct exchange *ex)
{
    struct upstream_session *us = ex->upsess;
    if (!us)
        return;
    upsess_unpause(ex);
    if (us->stream == ex)
        us->stream = NULL;
    else
        TAILQ_REMOVE(&us->pending, ex, wait_link);
    ex->upsess = NULL;
    us->ops->changed(us, ex);
}

void upsess_pause(struct exchange *ex)
{
    struct upstream_session *us = ex->upsess;
    if (!us || ex->upsess_paused)
        return;
    ex->upsess_paused = true;
    if (us->paused++ == 0)
        bufferevent_disable(us->in, EV_READ);
}

void upsess_resume(struct exchange *ex)
{
    if (ex->upsess)
        upsess_unpause(ex);
}

void upsess_end(struct upstream_session *us, enum upstream_failure kind, const char *what)
{
    if (us->ending)
        return;
    struct server_rt *s = us->server;
    us->ending = true;
    TAILQ_REMOVE(&s->sessions, us, link);
    TAILQ_INSERT_TAIL(&s->ended, us, link);
    s->nsessions--;
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&us->pending))) {
        upsess_detach(ex);
        exchange_failed(ex, kind, what);
    }
    if (us->stream) {
        struct exchange *stream = us->stream;
        upsess_detach(stream);
        exchange_stream_end(stream);
    }
}
