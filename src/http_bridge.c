#include "http_bridge.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include "client.h"
#include "http.h"
#include "jsonrpc.h"
#include "reply.h"
#include "sse.h"

/* The head of an answer from warden's own proxy. */
#define BRIDGE_MAX_HEAD (64 * 1024)
#define BRIDGE_MAX_HEADERS 200

struct bridge_call;
TAILQ_HEAD(bridge_call_list, bridge_call);

struct http_bridge {
    struct http_bridge_conf conf;
    char session[256];         /* Mcp-Session-Id from the initialize answer */
    char protocol_version[64]; /* from the initialize answer */
    struct bridge_call_list calls;
    struct bridge_call_list done; /* finished calls, freed by http_bridge_reap */
    bool stream_opened;
    bool deleting;
};

/* One message in flight: our end of an in-process HTTP connection. */
struct bridge_call {
    struct http_bridge *b;
    struct bufferevent *end;
    struct http_reader reader;
    struct sse_parser sse;
    bool is_sse;
    struct evbuffer *body;
    char *id_text; /* the request's id, to answer it when the HTTP answer is an error */
    size_t id_len;
    bool is_initialize;
    bool finished;
    TAILQ_ENTRY(bridge_call) link;
};

struct http_bridge *http_bridge_new(const struct http_bridge_conf *conf)
{
    struct http_bridge *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->conf = *conf;
    TAILQ_INIT(&b->calls);
    TAILQ_INIT(&b->done);
    return b;
}

void http_bridge_error(struct http_bridge *b, const char *id, size_t id_len, int code, const char *message)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        return;
    reply_format_rpc_error(buf, id, id_len, code, message);
    size_t len = evbuffer_get_length(buf);
    b->conf.ops->message(b->conf.owner, (const char *)evbuffer_pullup(buf, -1), len);
    evbuffer_free(buf);
}

static void finish_call(struct bridge_call *call)
{
    if (call->finished)
        return;
    struct http_bridge *b = call->b;
    call->finished = true;
    bufferevent_disable(call->end, EV_READ | EV_WRITE);
    bufferevent_setcb(call->end, NULL, NULL, NULL, NULL);
    TAILQ_REMOVE(&b->calls, call, link);
    TAILQ_INSERT_TAIL(&b->done, call, link);
    b->conf.ops->finished(b->conf.owner, call->is_initialize);
}

static int on_sse_event(void *arg, const struct sse_event *ev)
{
    struct bridge_call *call = arg;
    if (ev->has_data && ev->data_len > 0)
        call->b->conf.ops->message(call->b->conf.owner, ev->data, ev->data_len);
    return 0;
}

static int resp_on_head(void *owner)
{
    struct bridge_call *call = owner;
    struct http_bridge *b = call->b;
    const struct http_head *h = &call->reader.head;
    size_t len;
    const char *ct = http_header_field(h, HF_CONTENT_TYPE, &len);
    if (ct && http_media_type_is(ct, len, "text/event-stream")) {
        call->is_sse = true;
        sse_init(&call->sse, b->conf.w->cfg->limits.max_sse_event_bytes, on_sse_event, call);
    }
    const char *sid = http_header_field(h, HF_MCP_SESSION_ID, &len);
    if (call->is_initialize && h->status == 200 && sid && len < sizeof b->session) {
        memcpy(b->session, sid, len);
        b->session[len] = '\0';
    }
    return 0;
}

static int resp_on_body(void *owner, const char *at, size_t len)
{
    struct bridge_call *call = owner;
    if (call->is_sse)
        return sse_feed(&call->sse, at, len);
    if (evbuffer_get_length(call->body) + len > call->b->conf.max_body)
        return -1;
    return evbuffer_add(call->body, at, len);
}

static int resp_on_complete(void *owner)
{
    (void)owner;
    return 0;
}

static const struct http_reader_ops bridge_response_ops = {resp_on_head, resp_on_body, resp_on_complete};

/* Remembers the negotiated protocol version, which every later request carries. */
static void note_initialize_result(struct http_bridge *b, const char *json, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "result"), "protocolVersion");
    if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof b->protocol_version)
        snprintf(b->protocol_version, sizeof b->protocol_version, "%s", v->valuestring);
    cJSON_Delete(root);
}

/* The HTTP answer is complete: a JSON body becomes one message; an error
 * status without a JSON-RPC answer for our id goes to ops.refused. */
static void deliver(struct bridge_call *call)
{
    struct http_bridge *b = call->b;
    int status = call->reader.head.status;
    size_t len = evbuffer_get_length(call->body);
    const char *body = len ? (const char *)evbuffer_pullup(call->body, -1) : NULL;
    const char *id;
    size_t id_len;
    bool answers_us = body && call->id_text && rpc_find_id(body, len, &id, &id_len) &&
                      rpc_id_equal(id, id_len, call->id_text, call->id_len);
    if (call->is_initialize && answers_us && status == 200)
        note_initialize_result(b, body, len);
    if ((status >= 200 && status < 300 && body) || answers_us)
        b->conf.ops->message(b->conf.owner, body, len);
    else if (status >= 300)
        b->conf.ops->refused(b->conf.owner, call->id_text, call->id_len, status, body, len);
}

static void on_call_read(struct bufferevent *bev, void *arg)
{
    struct bridge_call *call = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!call->finished && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t used = http_reader_feed(&call->reader, v.iov_base, v.iov_len);
        if (http_reader_failed(&call->reader, NULL, NULL)) {
            if (call->id_text)
                http_bridge_error(call->b, call->id_text, call->id_len, RPC_INTERNAL_ERROR,
                                  "warden: the answer could not be read");
            finish_call(call);
            return;
        }
        evbuffer_drain(in, used);
        if (call->reader.complete) {
            deliver(call);
            finish_call(call);
            return;
        }
    }
}

static void on_call_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct bridge_call *call = arg;
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    http_reader_eof(&call->reader);
    if (call->reader.complete)
        deliver(call);
    else if (call->id_text)
        http_bridge_error(call->b, call->id_text, call->id_len, RPC_INTERNAL_ERROR, "warden: the answer was cut short");
    finish_call(call);
}

static void free_call(struct bridge_call *call)
{
    /* Freeing one end of a pair tells the other nothing. */
    bufferevent_flush(call->end, EV_WRITE, BEV_FINISHED);
    bufferevent_free(call->end);
    http_reader_free(&call->reader);
    if (call->is_sse)
        sse_free(&call->sse);
    evbuffer_free(call->body);
    free(call->id_text);
    free(call);
}

/* Our end of a new call on `end`, reading its answer. */
static struct bridge_call *call_new(struct http_bridge *b, struct bufferevent *end)
{
    struct bridge_call *call = calloc(1, sizeof *call);
    if (!call || !(call->body = evbuffer_new())) {
        free(call);
        return NULL;
    }
    call->b = b;
    call->end = end;
    http_reader_init(&call->reader, HTTP_RESPONSE, &bridge_response_ops, call, BRIDGE_MAX_HEAD, BRIDGE_MAX_HEADERS);
    bufferevent_setcb(end, on_call_read, NULL, on_call_event, call);
    bufferevent_enable(end, EV_READ | EV_WRITE);
    TAILQ_INSERT_TAIL(&b->calls, call, link);
    return call;
}

/* The request's head and body, as the proxy reads them from any client. */
static void write_request(const struct http_bridge *b, struct evbuffer *out, const char *method, const char *json,
                          size_t len, const char *authorization)
{
    const char *path = b->conf.path ? b->conf.path : b->conf.w->cfg->servers[0].path;
    evbuffer_add_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\nAccept: application/json, text/event-stream\r\n", method,
                        path, b->conf.host);
    if (b->session[0])
        evbuffer_add_printf(out, "Mcp-Session-Id: %s\r\n", b->session);
    if (b->protocol_version[0])
        evbuffer_add_printf(out, "MCP-Protocol-Version: %s\r\n", b->protocol_version);
    if (authorization)
        evbuffer_add_printf(out, "Authorization: %s\r\n", authorization);
    if (json)
        evbuffer_add_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n", len);
    evbuffer_add(out, "Connection: close\r\n\r\n", 21);
    if (json)
        evbuffer_add(out, json, len);
}

/* Sends one HTTP request over a new in-process connection to the proxy,
 * which checks it (auth included, with `authorization`) like any other. */
static struct bridge_call *start_call(struct http_bridge *b, const char *method, const char *json, size_t len,
                                      const char *authorization)
{
    struct worker *w = b->conf.w;
    struct bufferevent *pair[2] = {NULL, NULL};
    if (bufferevent_pair_new(w->base, BEV_OPT_DEFER_CALLBACKS, pair) < 0)
        return NULL;
    struct bridge_call *call = call_new(b, pair[1]);
    if (!call) {
        bufferevent_free(pair[0]);
        bufferevent_free(pair[1]);
        return NULL;
    }
    struct client_conn *vc = client_attach(w, pair[0], b->conf.addr, false);
    if (!vc) {
        /* client_attach freed pair[0]. */
        TAILQ_REMOVE(&b->calls, call, link);
        free_call(call);
        return NULL;
    }
    if (b->conf.peer)
        vc->peer = *b->conf.peer;
    write_request(b, bufferevent_get_output(call->end), method, json, len, authorization);
    return call;
}

bool http_bridge_post(struct http_bridge *b, const struct http_bridge_post *msg)
{
    struct bridge_call *call = start_call(b, "POST", msg->json, msg->len, msg->authorization);
    if (!call) {
        if (msg->id_text)
            http_bridge_error(b, msg->id_text, msg->id_len, RPC_INTERNAL_ERROR, "warden: out of memory");
        return false;
    }
    call->id_text = msg->id_text;
    call->id_len = msg->id_text ? msg->id_len : 0;
    call->is_initialize = msg->initialize;
    return true;
}

void http_bridge_open_stream(struct http_bridge *b, const char *authorization)
{
    if (b->stream_opened || !b->session[0])
        return;
    b->stream_opened = true;
    start_call(b, "GET", NULL, 0, authorization);
}

bool http_bridge_end_session(struct http_bridge *b, const char *authorization)
{
    if (!b->session[0] || b->deleting)
        return false;
    b->deleting = true;
    return start_call(b, "DELETE", NULL, 0, authorization) != NULL;
}

void http_bridge_drop(struct http_bridge *b)
{
    struct bridge_call *call;
    while ((call = TAILQ_FIRST(&b->calls)))
        finish_call(call);
}

void http_bridge_reap(struct http_bridge *b)
{
    struct bridge_call *call;
    while ((call = TAILQ_FIRST(&b->done))) {
        TAILQ_REMOVE(&b->done, call, link);
        free_call(call);
    }
}

bool http_bridge_in_flight(const struct http_bridge *b)
{
    return !TAILQ_EMPTY(&b->calls);
}

bool http_bridge_awaited(const struct http_bridge *b)
{
    for (const struct bridge_call *call = TAILQ_FIRST(&b->calls); call; call = TAILQ_NEXT(call, link))
        if (call->id_text || call->is_initialize || b->deleting)
            return true;
    return false;
}

void http_bridge_free(struct http_bridge *b)
{
    if (!b)
        return;
    struct bridge_call *call;
    while ((call = TAILQ_FIRST(&b->calls))) {
        TAILQ_REMOVE(&b->calls, call, link);
        free_call(call);
    }
    http_bridge_reap(b);
    free(b);
}
