#include "legacy_sse.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "client.h"
#include "exchange.h"
#include "http.h"
#include "http_bridge.h"
#include "jsonrpc.h"
#include "log.h"
#include "randbytes.h"

/* A message POSTed to a stream, waiting for its owner to send it. */
struct legacy_item {
    struct legacy_item *next;
    char *body;
    size_t len;
    char *authorization;          /* the POST's Authorization value, or NULL: the proxy checks it again */
    bool is_initialize;
    bool is_initialized;
    char *id_text;
    size_t id_len;
};

struct legacy_stream {
    struct legacy_hub *hub;
    struct worker *w;
    char *path;                   /* the server's path, where its requests go (owned) */
    char id[33];                  /* the sessionId, hex */
    LIST_ENTRY(legacy_stream) link; /* in hub->streams, under hub->lock */
    /* under hub->lock */
    struct legacy_item *inbox, **inbox_tail;
    size_t queued;                /* bytes in inbox and ready */
    bool listed;
    /* the owner's */
    struct legacy_item *ready, **ready_tail;
    struct client_conn *client;   /* the GET carrying the stream; NULL once it ended */
    char *host;                   /* the GET's Host, for the virtual requests (owned) */
    char *authorization;          /* the GET's Authorization, for the server-stream GET (owned, or NULL) */
    char *principal;              /* who opened the stream ("kind:id", owned, or NULL): only they may POST to it */
    struct sockaddr_storage peer;
    char addr[64];
    struct http_bridge *bridge;   /* the calls carrying the messages to the proxy (owned) */
    struct event *wake;           /* the inbox has items (activated from any worker) */
    struct event *reaper;         /* frees finished calls, and the stream once ended */
    struct event *idle;
    struct event *keepalive;      /* a comment every LEGACY_KEEPALIVE_SECONDS, so clients and proxies keep the stream */
    bool holding;                 /* an initialize is in flight: later messages wait for its session */
};

struct legacy_hub {
    pthread_mutex_t lock;
    LIST_HEAD(, legacy_stream) streams;
    size_t nstreams;
};

struct legacy_hub *legacy_hub_new(void)
{
    struct legacy_hub *hub = calloc(1, sizeof *hub);
    if (!hub)
        return NULL;
    if (pthread_mutex_init(&hub->lock, NULL) != 0) {
        free(hub);
        return NULL;
    }
    LIST_INIT(&hub->streams);
    return hub;
}

void legacy_hub_free(struct legacy_hub *hub)
{
    if (!hub)
        return;
    pthread_mutex_destroy(&hub->lock);
    free(hub);
}

static bool span_is(const char *p, size_t len, const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    return len == la + lb && memcmp(p, a, la) == 0 && memcmp(p + la, b, lb) == 0;
}

enum legacy_route legacy_route(const struct worker *w, const char *path, size_t len, size_t *server)
{
    for (size_t i = 0; i < w->nservers; i++) {
        const char *p = w->servers[i]->conf->path;
        bool bare = w->nservers == 1 && !w->servers[i]->conf->name[0];
        *server = i;
        if (span_is(path, len, p, "/sse") || (bare && span_is(path, len, "", "/sse")))
            return LEGACY_STREAM;
        if (span_is(path, len, p, "/message") || (bare && span_is(path, len, "", "/message")))
            return LEGACY_MESSAGE;
    }
    return LEGACY_NONE;
}

static void item_free(struct legacy_item *it)
{
    free(it->body);
    free(it->authorization);
    free(it->id_text);
    free(it);
}

static void items_free(struct legacy_item *it)
{
    while (it) {
        struct legacy_item *next = it->next;
        item_free(it);
        it = next;
    }
}

/* --- the stream toward the old client --- */

static void stream_end(struct legacy_stream *s);

/* Writes one event on the client's stream (chunked when HTTP/1.1); a client
 * that leaves more than LEGACY_MAX_OUTPUT unread loses its stream. */
static void write_event(struct legacy_stream *s, const char *type, const char *data, size_t len)
{
    struct client_conn *c = s->client;
    if (!c)
        return;
    struct evbuffer *ev = evbuffer_new();
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (!ev) {
        stream_end(s);
        return;
    }
    evbuffer_add_printf(ev, "event: %s\ndata: ", type);
    /* Strict JSON has CR and LF only between tokens, where a space means the same. */
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (data[i] == '\n' || data[i] == '\r') {
            evbuffer_add(ev, data + start, i - start);
            evbuffer_add(ev, " ", 1);
            start = i + 1;
        }
    }
    evbuffer_add(ev, data + start, len - start);
    evbuffer_add(ev, "\n\n", 2);
    size_t n = evbuffer_get_length(ev);
    if (c->ex.framing == FRAME_CHUNKED)
        evbuffer_add_printf(out, "%zx\r\n", n);
    evbuffer_add_buffer(out, ev);
    if (c->ex.framing == FRAME_CHUNKED)
        evbuffer_add(out, "\r\n", 2);
    evbuffer_free(ev);
    client_flush(c);
    if (evbuffer_get_length(out) > LEGACY_MAX_OUTPUT) {
        log_warn("legacy SSE stream %s: the client %s reads too slowly, ending it", s->id, s->addr);
        stream_end(s);
    }
}

/* --- the bridge's callbacks: one message on one in-process connection to the proxy --- */

static void on_bridge_message(void *arg, const char *json, size_t len)
{
    write_event(arg, "message", json, len);
}

static void on_bridge_refused(void *arg, const char *id, size_t id_len, int status, const char *body, size_t len)
{
    struct legacy_stream *s = arg;
    if (id) {
        char msg[160];
        snprintf(msg, sizeof msg, "warden: the request was refused with HTTP %d", status);
        http_bridge_error(s->bridge, id, id_len, RPC_INTERNAL_ERROR, msg);
    } else {
        log_warn("legacy SSE stream %s: a message was refused with HTTP %d: %.*s", s->id, status,
                 (int)(len < 300 ? len : 300), body ? body : "");
    }
}

static void on_bridge_finished(void *arg, bool initialize)
{
    struct legacy_stream *s = arg;
    if (initialize && s->holding) {
        s->holding = false;
        event_active(s->wake, 0, 0);
    }
    event_active(s->reaper, 0, 0);
}

static const struct http_bridge_ops legacy_bridge_ops = {on_bridge_message, on_bridge_refused, on_bridge_finished};

/* Sends the messages that are ready, in order; after an initialize the
 * rest wait for the session its answer brings. */
static void pump(struct legacy_stream *s)
{
    while (!s->holding && s->ready && s->client) {
        struct legacy_item *it = s->ready;
        s->ready = it->next;
        if (!s->ready)
            s->ready_tail = &s->ready;
        pthread_mutex_lock(&s->hub->lock);
        s->queued -= it->len;
        pthread_mutex_unlock(&s->hub->lock);
        struct http_bridge_post post = {it->body,    it->len,    it->authorization,
                                        it->id_text, it->id_len, it->is_initialize};
        if (http_bridge_post(s->bridge, &post)) {
            it->id_text = NULL;
            s->holding = it->is_initialize;
            /* The server's own messages come on its GET stream. */
            if (it->is_initialized)
                http_bridge_open_stream(s->bridge, s->authorization);
        }
        item_free(it);
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct legacy_stream *s = arg;
    pthread_mutex_lock(&s->hub->lock);
    struct legacy_item *got = s->inbox;
    s->inbox = NULL;
    s->inbox_tail = &s->inbox;
    pthread_mutex_unlock(&s->hub->lock);
    if (got) {
        *s->ready_tail = got;
        while (got->next)
            got = got->next;
        s->ready_tail = &got->next;
        struct timeval tv = {LEGACY_IDLE_SECONDS, 0};
        evtimer_add(s->idle, &tv);
    }
    pump(s);
}

static void stream_free(struct legacy_stream *s)
{
    http_bridge_free(s->bridge);
    items_free(s->ready);
    items_free(s->inbox);
    if (s->wake)
        event_free(s->wake);
    if (s->reaper)
        event_free(s->reaper);
    if (s->idle)
        event_free(s->idle);
    if (s->keepalive)
        event_free(s->keepalive);
    free(s->path);
    free(s->host);
    free(s->authorization);
    free(s->principal);
    free(s);
}

/* Frees finished calls; once the client has gone and nothing is in flight
 * (the session's DELETE included), the stream itself. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct legacy_stream *s = arg;
    http_bridge_reap(s->bridge);
    if (!s->client && !http_bridge_in_flight(s->bridge))
        stream_free(s);
}

/* The GET has ended (client gone, warden stopping, or stream_end): the
 * stream leaves the hub, its calls are dropped and the server's session is
 * ended with a DELETE, as a client would. Runs inside exchange_reset, maybe
 * from a call's own callback (write_event ending a slow client's stream). */
static void on_client_gone(void *arg)
{
    struct legacy_stream *s = arg;
    s->client = NULL;
    pthread_mutex_lock(&s->hub->lock);
    if (s->listed) {
        LIST_REMOVE(s, link);
        s->listed = false;
        s->hub->nstreams--;
    }
    struct legacy_item *inbox = s->inbox;
    s->inbox = NULL;
    s->inbox_tail = &s->inbox;
    pthread_mutex_unlock(&s->hub->lock);
    items_free(inbox);
    items_free(s->ready);
    s->ready = NULL;
    s->ready_tail = &s->ready;
    evtimer_del(s->idle);
    event_del(s->keepalive);
    event_del(s->wake);
    s->holding = false;
    /* One of the calls may be running the callback that ended the stream:
     * the reaper frees them. */
    http_bridge_drop(s->bridge);
    if (!s->w->stopping)
        http_bridge_end_session(s->bridge, s->authorization);
    event_active(s->reaper, 0, 0);
}

/* Ends the client's stream from warden's side. */
static void stream_end(struct legacy_stream *s)
{
    struct client_conn *c = s->client;
    if (!c)
        return;
    c->keep_alive = false;
    if (c->ex.framing == FRAME_CHUNKED)
        evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
    /* exchange_reset calls on_client_gone. */
    client_finish_exchange(c);
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct legacy_stream *s = arg;
    log_info("legacy SSE stream %s: no message for %d s, ending it", s->id, LEGACY_IDLE_SECONDS);
    stream_end(s);
}

/* Python's SDK client gives up on a stream silent for 5 minutes. */
static void on_keepalive(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct legacy_stream *s = arg;
    struct client_conn *c = s->client;
    if (!c)
        return;
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (c->ex.framing == FRAME_CHUNKED)
        evbuffer_add(out, "d\r\n: keepalive\n\n\r\n", 18);
    else
        evbuffer_add(out, ": keepalive\n\n", 13);
    client_flush(c);
}

/* --- the two endpoints --- */

/* "kind:id" of the caller, or NULL when no one is named (or out of memory:
 * then a named caller's POST fails to match, never the other way round). */
static char *principal_key(const struct principal *p, bool *failed)
{
    char *key = NULL;
    *failed = false;
    if (p->id && asprintf(&key, "%s:%s", principal_kind_name(p->kind), p->id) < 0) {
        *failed = true;
        key = NULL;
    }
    return key;
}

/* Compares two 32-digit session ids in constant time. */
static bool same_id(const char *a, const char *b)
{
    unsigned char diff = 0;
    for (size_t i = 0; i < 32; i++)
        diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

static bool same_principal(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* A copy of the field's value, NULL when absent (*failed: out of memory). */
static char *header_copy(const struct http_head *h, enum http_field f, bool *failed)
{
    *failed = false;
    size_t len;
    const char *v = http_header_field(h, f, &len);
    if (!v)
        return NULL;
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, v, len);
        copy[len] = '\0';
    }
    *failed = !copy;
    return copy;
}

static size_t streams_of(const struct legacy_hub *hub, const char *path)
{
    size_t n = 0;
    const struct legacy_stream *s;
    LIST_FOREACH(s, &hub->streams, link)
        n += strcmp(s->path, path) == 0;
    return n;
}

static void open_stream(struct client_conn *c)
{
    struct exchange *ex = &c->ex;
    struct worker *w = c->worker;
    struct legacy_hub *hub = w->legacy;
    const struct http_head *h = &c->reader.head;
    unsigned char rnd[16];
    bool failed = false, no_auth = false;
    struct legacy_stream *s = calloc(1, sizeof *s);
    if (!s || randbytes(rnd, sizeof rnd) < 0 || !(s->path = strdup(ex->server->conf->path)) ||
        (!(s->host = header_copy(h, HF_HOST, &failed)) && (failed || !(s->host = strdup("localhost")))) ||
        !(s->wake = event_new(w->base, -1, 0, on_wake, s)) || !(s->reaper = event_new(w->base, -1, 0, on_reap, s)) ||
        !(s->idle = evtimer_new(w->base, on_idle, s)) ||
        !(s->keepalive = event_new(w->base, -1, EV_PERSIST, on_keepalive, s))) {
        if (s)
            stream_free(s);
        exchange_answer_error(ex, 503, RPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    struct http_bridge_conf bc = {.w = w,
                                  .path = s->path,
                                  .host = s->host,
                                  .addr = s->addr,
                                  .peer = &s->peer,
                                  .max_body = LEGACY_MAX_OUTPUT,
                                  .ops = &legacy_bridge_ops,
                                  .owner = s};
    s->bridge = http_bridge_new(&bc);
    s->principal = principal_key(&ex->principal, &failed);
    if (!failed)
        s->authorization = header_copy(h, HF_AUTHORIZATION, &no_auth);
    if (!s->bridge || failed || no_auth) {
        stream_free(s);
        exchange_answer_error(ex, 503, RPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(s->id + 2 * i, 3, "%02x", rnd[i]);
    s->hub = hub;
    s->w = w;
    s->inbox_tail = &s->inbox;
    s->ready_tail = &s->ready;
    s->peer = c->peer;
    snprintf(s->addr, sizeof s->addr, "%s", c->addr);
    pthread_mutex_lock(&hub->lock);
    bool full = hub->nstreams >= LEGACY_MAX_STREAMS || streams_of(hub, s->path) >= LEGACY_MAX_STREAMS_PER_SERVER;
    if (!full) {
        LIST_INSERT_HEAD(&hub->streams, s, link);
        s->listed = true;
        hub->nstreams++;
    }
    pthread_mutex_unlock(&hub->lock);
    if (full) {
        stream_free(s);
        c->keep_alive = false;
        exchange_answer_error(ex, 503, RPC_INTERNAL_ERROR, "too many legacy SSE streams open");
        return;
    }
    s->client = c;
    /* The stream is warden's own: no transport serves it, the requests it
     * carries are exchanges of their own on the in-process connections. */
    ex->server = NULL;
    ex->on_reset = on_client_gone;
    ex->on_reset_arg = s;
    exchange_stream_start(ex, NULL);
    struct timeval tv = {LEGACY_IDLE_SECONDS, 0}, every = {LEGACY_KEEPALIVE_SECONDS, 0};
    evtimer_add(s->idle, &tv);
    event_add(s->keepalive, &every);
    /* The POST URL is warden's, on the path the client used. */
    const char *url = h->buf + h->url_off;
    size_t plen = h->url_len - 4; /* without "/sse" (legacy_route matched it) */
    const char *q = memchr(url, '?', h->url_len);
    if (q)
        plen = (size_t)(q - url) - 4;
    char endpoint[512];
    int n = snprintf(endpoint, sizeof endpoint, "%.*s/message?sessionId=%s", (int)plen, url, s->id);
    log_info("legacy SSE stream %s opened by %s on %s", s->id, c->addr, s->path);
    write_event(s, "endpoint", endpoint, (size_t)n < sizeof endpoint ? (size_t)n : sizeof endpoint - 1);
}

/* The sessionId of a query ("?a=b&sessionId=..."), 32 hex digits; false when absent or malformed. */
static bool query_session(const char *query, size_t qlen, char out[33])
{
    const char *key = "sessionId=";
    size_t klen = strlen(key);
    size_t i = query && qlen ? 1 : 0;
    while (i < qlen) {
        size_t end = i;
        while (end < qlen && query[end] != '&')
            end++;
        if (end - i == klen + 32 && memcmp(query + i, key, klen) == 0) {
            for (size_t k = 0; k < 32; k++) {
                char ch = query[i + klen + k];
                if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
                    return false;
                out[k] = ch;
            }
            out[32] = '\0';
            return true;
        }
        i = end + 1;
    }
    return false;
}

static void post_message(struct client_conn *c, const char *query, size_t qlen)
{
    struct exchange *ex = &c->ex;
    const struct http_head *h = &c->reader.head;
    char sid[33];
    if (!query_session(query, qlen, sid)) {
        exchange_answer_error(ex, 400, RPC_INVALID_REQUEST, "sessionId must be the one the endpoint event named");
        return;
    }
    size_t len;
    const char *ct = http_header_field(h, HF_CONTENT_TYPE, &len);
    if (!ct || !http_media_type_is(ct, len, "application/json")) {
        exchange_answer_error(ex, 415, RPC_INVALID_REQUEST, "Content-Type must be application/json");
        return;
    }
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(c->body, c->body_len, &c->worker->rpc_limits, &msg, &err) < 0) {
        exchange_answer_error(ex, 400, err.code, err.message);
        return;
    }
    struct legacy_item *it = calloc(1, sizeof *it);
    bool ok = it && (it->body = malloc(c->body_len ? c->body_len : 1));
    if (ok && msg.kind == RPC_REQUEST) {
        ok = (it->id_text = malloc(msg.id_len)) != NULL;
        if (ok) {
            memcpy(it->id_text, msg.id_text, msg.id_len);
            it->id_len = msg.id_len;
        }
    }
    bool failed = false;
    if (ok)
        it->authorization = header_copy(h, HF_AUTHORIZATION, &failed);
    ok = ok && !failed;
    if (ok) {
        memcpy(it->body, c->body, c->body_len);
        it->len = c->body_len;
        it->is_initialize = msg.method && strcmp(msg.method, "initialize") == 0;
        it->is_initialized = msg.method && strcmp(msg.method, "notifications/initialized") == 0;
    }
    rpc_msg_clear(&msg);
    if (!ok) {
        if (it)
            item_free(it);
        exchange_answer_error(ex, 503, RPC_INTERNAL_ERROR, "out of memory");
        return;
    }
    struct legacy_hub *hub = c->worker->legacy;
    const char *path = ex->server->conf->path;
    char *who = principal_key(&ex->principal, &failed);
    int status = failed ? 503 : 404;
    pthread_mutex_lock(&hub->lock);
    struct legacy_stream *s = NULL;
    if (!failed)
        LIST_FOREACH(s, &hub->streams, link)
            if (same_id(s->id, sid) && strcmp(s->path, path) == 0 && same_principal(s->principal, who))
                break;
    if (s && s->queued + it->len > LEGACY_MAX_QUEUED) {
        status = 503;
    } else if (s) {
        status = 202;
        s->queued += it->len;
        *s->inbox_tail = it;
        s->inbox_tail = &it->next;
        event_active(s->wake, 0, 0);
    }
    pthread_mutex_unlock(&hub->lock);
    free(who);
    if (status == 202) {
        exchange_answer(ex, 202, NULL, "", 0);
        return;
    }
    item_free(it);
    if (status == 404)
        exchange_answer_error(ex, 404, RPC_INVALID_REQUEST, "no legacy SSE session with this sessionId (unknown or ended)");
    else
        exchange_answer_error(ex, 503, RPC_INTERNAL_ERROR, "the session's queue of messages is full");
}

void legacy_handle(struct client_conn *c, enum legacy_route route, const char *query, size_t qlen)
{
    struct exchange *ex = &c->ex;
    unsigned method = c->reader.head.method;
    if (route == LEGACY_STREAM && method != HTTP_GET) {
        exchange_answer(ex, 405, "Allow: GET\r\n",
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"use GET\"}}", 69);
        return;
    }
    if (route == LEGACY_MESSAGE && method != HTTP_POST) {
        exchange_answer(ex, 405, "Allow: POST\r\n",
                        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"use POST\"}}", 70);
        return;
    }
    if (!c->worker->legacy) {
        exchange_answer_error(ex, 404, RPC_INVALID_REQUEST, "the legacy HTTP+SSE transport is not served here");
        return;
    }
    if (route == LEGACY_STREAM)
        open_stream(c);
    else
        post_message(c, query, qlen);
}
