#include "upstream_sse.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <event2/buffer.h>
#include "exchange.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "reply.h"
#include "sse.h"
#include "upstream_session.h"

#define SSE_MAX_HEAD (64 * 1024)
#define SSE_MAX_HEADERS 100

struct sse_post;
TAILQ_HEAD(sse_post_list, sse_post);

/* One legacy session with the server: its stream, the requests waiting on
 * it, the messages POSTed. Owned by its server runtime (upstream_session.h). */
struct sse_up {
    struct upstream_session sess; /* its requests (unsent until endpoint), the client's stream, the backlog */
    struct bufferevent *bev;      /* the server's event stream (GET); sess.in */
    struct http_reader reader;
    struct sse_parser sse;
    bool sse_ready;
    char *endpoint;               /* path and query messages are POSTed to (owned); NULL until the event */
    struct sse_post_list posts;
    struct event *timer;          /* until the endpoint: connect and first byte; then the idle end */
};

/* One message POSTed to the endpoint, on a connection of its own. */
struct sse_post {
    struct sse_up *up;
    struct exchange *ex;          /* the request it carries, while it waits; NULL otherwise */
    struct bufferevent *bev;
    struct http_reader reader;
    struct event *timer;
    TAILQ_ENTRY(sse_post) link;
};

static void end_session(struct upstream_session *us, enum upstream_failure kind, const char *what);
static const struct upsess_ops sse_session_ops;

static struct timeval tv_ms(unsigned ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

char *sse_endpoint_resolve(const char *data, size_t len, const char *host, unsigned port)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)data[i] <= 0x20 || (unsigned char)data[i] >= 0x7f)
            return NULL;
    const char *path = NULL;
    if (len >= 1 && data[0] == '/' && !(len >= 2 && data[1] == '/')) {
        path = data;
    } else if (len > 7 && strncasecmp(data, "http://", 7) == 0) {
        const char *auth = data + 7, *end = data + len;
        const char *slash = memchr(auth, '/', (size_t)(end - auth));
        const char *auth_end = slash ? slash : end;
        if (memchr(auth, '@', (size_t)(auth_end - auth)) || memchr(auth, '?', (size_t)(auth_end - auth)) ||
            memchr(auth, '#', (size_t)(auth_end - auth)))
            return NULL;
        const char *colon = NULL;
        for (const char *p = auth; p < auth_end; p++)
            if (*p == ':')
                colon = p;
        if (colon && memchr(colon, ']', (size_t)(auth_end - colon)))
            colon = NULL;   /* a colon inside an IPv6 literal */
        const char *host_end = colon ? colon : auth_end;
        unsigned got_port = 80;
        if (colon) {
            if (colon + 1 == auth_end || auth_end - colon > 6)
                return NULL;
            got_port = 0;
            for (const char *p = colon + 1; p < auth_end; p++) {
                if (*p < '0' || *p > '9')
                    return NULL;
                got_port = got_port * 10 + (unsigned)(*p - '0');
            }
        }
        size_t hl = strlen(host);
        if ((size_t)(host_end - auth) != hl || strncasecmp(auth, host, hl) != 0 || got_port != port)
            return NULL;
        path = slash ? slash : "/";
        len = slash ? (size_t)(end - slash) : 1;
    } else {
        return NULL;
    }
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, path, len);
        out[len] = '\0';
        /* A fragment is the client's, never sent. */
        char *hash = strchr(out, '#');
        if (hash)
            *hash = '\0';
    }
    return out;
}

/* --- exchanges on a session --- */

/* Before the endpoint the timer is the connect and first-byte deadline. */
static void arm_idle(struct sse_up *up)
{
    if (up->endpoint)
        upsess_idle_clock(&up->sess, up->timer, SSE_SESSION_IDLE_SECONDS);
}

/* The session's hook (upstream_session.h): a POST still under way no longer carries gone. */
static void on_changed(struct upstream_session *us, struct exchange *gone)
{
    struct sse_up *up = us->owner;
    struct sse_post *p;
    if (gone)
        TAILQ_FOREACH(p, &up->posts, link)
            if (p->ex == gone)
                p->ex = NULL;
    arm_idle(up);
}

static void post_free(struct sse_post *p)
{
    TAILQ_REMOVE(&p->up->posts, p, link);
    bufferevent_free(p->bev);
    event_free(p->timer);
    http_reader_free(&p->reader);
    free(p);
}

/* A POST failed: the request it carried fails with it. */
static void post_failed(struct sse_post *p, enum upstream_failure kind, const char *what)
{
    struct exchange *ex = p->ex;
    post_free(p);
    if (ex) {
        upsess_detach(ex);
        exchange_failed(ex, kind, what);
    }
}

static int post_on_head(void *owner)
{
    (void)owner;
    return 0;
}

static int post_on_body(void *owner, const char *at, size_t len)
{
    (void)owner, (void)at, (void)len;
    return 0;
}

static int post_on_complete(void *owner)
{
    (void)owner;
    return 0;
}

static const struct http_reader_ops post_ops = {post_on_head, post_on_body, post_on_complete};

/* The answer to a POST: 2xx and its body is ignored (the answer comes on the stream). */
static void post_check(struct sse_post *p)
{
    int status = p->reader.head.status;
    if (status >= 200 && status < 300) {
        p->ex = NULL;
        post_free(p);
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "answered HTTP %d to a POSTed message", status);
    post_failed(p, UPSTREAM_MALFORMED, what);
}

static void post_on_read(struct bufferevent *bev, void *arg)
{
    struct sse_post *p = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            return;
        size_t used = http_reader_feed(&p->reader, v.iov_base, v.iov_len);
        if (http_reader_failed(&p->reader, NULL, NULL)) {
            post_failed(p, UPSTREAM_MALFORMED, "sent a broken answer to a POSTed message");
            return;
        }
        evbuffer_drain(in, used);
        if (p->reader.in_body) {
            post_check(p);
            return;
        }
    }
}

static void post_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct sse_post *p = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
        return;
    http_reader_eof(&p->reader);
    if (p->reader.in_body)
        post_check(p);
    else
        post_failed(p, UPSTREAM_RESET, "closed the connection of a POSTed message");
}

static void post_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    post_failed(arg, UPSTREAM_TIMEOUT, "did not answer a POSTed message in time");
}

/* POSTs one message to the session's endpoint; ex is the request it carries, or NULL. */
static bool post_message(struct sse_up *up, struct exchange *ex, const char *body, size_t len)
{
    struct server_rt *s = up->sess.server;
    struct event_base *base = s->worker->base;
    const struct server_conf *sc = s->conf;
    struct sse_post *p = calloc(1, sizeof *p);
    if (!p)
        return false;
    p->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    p->timer = evtimer_new(base, post_on_timer, p);
    if (!p->bev || !p->timer) {
        if (p->bev)
            bufferevent_free(p->bev);
        if (p->timer)
            event_free(p->timer);
        free(p);
        return false;
    }
    p->up = up;
    p->ex = ex;
    http_reader_init(&p->reader, HTTP_RESPONSE, &post_ops, p, SSE_MAX_HEAD, SSE_MAX_HEADERS);
    TAILQ_INSERT_TAIL(&up->posts, p, link);
    struct evbuffer *out = bufferevent_get_output(p->bev);
    evbuffer_add_printf(out, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                             "Accept: application/json, text/event-stream\r\nContent-Length: %zu\r\n",
                        up->endpoint, sc->host_header, len);
    for (size_t i = 0; i < sc->nheaders; i++)
        evbuffer_add_printf(out, "%s: %s\r\n", sc->headers[i].name, sc->headers[i].value);
    evbuffer_add(out, "Connection: close\r\n\r\n", 21);
    evbuffer_add(out, body, len);
    bufferevent_setcb(p->bev, post_on_read, NULL, post_on_event, p);
    bufferevent_enable(p->bev, EV_READ | EV_WRITE);
    struct timeval tv = tv_ms(sc->connect_timeout_ms + sc->first_byte_timeout_ms);
    evtimer_add(p->timer, &tv);
    if (bufferevent_socket_connect(p->bev, (const struct sockaddr *)&s->addr, (int)s->addr_len) < 0) {
        p->ex = NULL;
        post_free(p);
        return false;
    }
    return true;
}

/* Sends a waiting request; false when it failed (and was answered). */
static bool send_request(struct sse_up *up, struct exchange *ex)
{
    if (post_message(up, ex, ex->body, ex->body_len))
        return true;
    upsess_detach(ex);
    exchange_failed(ex, UPSTREAM_CONNECT, "could not be reached for a POSTed message");
    return false;
}

/* --- the server's stream --- */

/* A message from the stream: an answer goes to the request with its id (an
 * answer no request waits for is dropped), the rest to the client's stream
 * or the backlog. */
static void route_message(struct sse_up *up, const char *json, size_t len)
{
    struct rpc_msg msg;
    struct rpc_error err;
    const struct server_rt *s = up->sess.server;
    if (rpc_parse(json, len, &s->worker->rpc_limits, &msg, &err) < 0) {
        log_warn("server '%s' session %s: dropped a message that is not JSON-RPC: %s", s->conf->name, up->sess.id,
                 err.message);
        return;
    }
    bool response = msg.kind == RPC_RESPONSE;
    struct exchange *ex = response ? upsess_waiting(&up->sess, msg.id_text, msg.id_len) : NULL;
    rpc_msg_clear(&msg);
    if (ex) {
        upsess_answer(ex, json, len);
        return;
    }
    if (response) {
        /* Answered already, never asked, or under another spelling of a
         * waiting id ("1" for 1): on the client's stream it would carry no
         * request's context, and a lenient client would take it for the
         * answer to its own request. Dropped, as the stdio transport does. */
        log_warn("server '%s' session %s: dropped a response to an id no request is waiting for", s->conf->name,
                 up->sess.id);
        return;
    }
    if (up->sess.stream) {
        exchange_message(up->sess.stream, json, len);
        exchange_flush(up->sess.stream);
        return;
    }
    if (!upsess_keep(&up->sess, json, len))
        log_warn("server '%s' session %s: no client stream and the backlog is full: a message dropped", s->conf->name,
                 up->sess.id);
}

static int on_event(void *arg, const struct sse_event *ev)
{
    struct sse_up *up = arg;
    bool endpoint = ev->event && ev->event_len == 8 && memcmp(ev->event, "endpoint", 8) == 0;
    bool message = !ev->event || (ev->event_len == 7 && memcmp(ev->event, "message", 7) == 0);
    if (endpoint) {
        if (up->endpoint)
            return 0;   /* the first one stands */
        const struct server_conf *sc = up->sess.server->conf;
        up->endpoint = sse_endpoint_resolve(ev->data ? ev->data : "", ev->data_len, sc->host, sc->port);
        if (!up->endpoint) {
            log_warn("server '%s' session %s: refused the endpoint event '%.*s': not on %s's origin", sc->name,
                     up->sess.id, (int)(ev->data_len < 200 ? ev->data_len : 200), ev->data ? ev->data : "", sc->url);
            end_session(&up->sess, UPSTREAM_MALFORMED, "named an endpoint on another origin than its URL (refused)");
            return -1;
        }
        evtimer_del(up->timer);
        /* The requests that waited for it go now, in order, up to the last of
         * them: one that fails at once is answered, and its client's next
         * request (on the same exchange, reused) joins the list and goes at
         * once; walking on to it would POST it twice. */
        struct exchange *ex = TAILQ_FIRST(&up->sess.pending), *last = TAILQ_LAST(&up->sess.pending, exchange_list);
        while (ex && !up->sess.ending) {
            struct exchange *next = ex == last ? NULL : TAILQ_NEXT(ex, wait_link);
            send_request(up, ex);
            ex = next;
        }
        arm_idle(up);
        return up->sess.ending ? -1 : 0;
    }
    if (message && ev->has_data && ev->data_len > 0)
        route_message(up, ev->data, ev->data_len);
    return up->sess.ending ? -1 : 0;
}

static int stream_on_head(void *owner)
{
    struct sse_up *up = owner;
    const struct http_head *h = &up->reader.head;
    size_t len;
    const char *ct = http_header_get(h, "content-type", &len);
    if (h->status != 200 || !ct || !http_media_type_is(ct, len, "text/event-stream")) {
        char what[96];
        snprintf(what, sizeof what, "answered its SSE stream with HTTP %d, not an event stream", h->status);
        end_session(&up->sess, UPSTREAM_MALFORMED, what);
        return -1;
    }
    sse_init(&up->sse, up->sess.server->worker->cfg->limits.max_sse_event_bytes, on_event, up);
    up->sse_ready = true;
    return 0;
}

static int stream_on_body(void *owner, const char *at, size_t len)
{
    struct sse_up *up = owner;
    return up->sse_ready ? sse_feed(&up->sse, at, len) : -1;
}

static int stream_on_complete(void *owner)
{
    struct sse_up *up = owner;
    end_session(&up->sess, UPSTREAM_RESET, "ended its SSE stream");
    return 0;
}

static const struct http_reader_ops stream_ops = {stream_on_head, stream_on_body, stream_on_complete};

static void stream_on_read(struct bufferevent *bev, void *arg)
{
    struct sse_up *up = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!up->sess.ending && up->sess.paused == 0 && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            return;
        size_t used = http_reader_feed(&up->reader, v.iov_base, v.iov_len);
        if (up->sess.ending)
            return;
        if (http_reader_failed(&up->reader, NULL, NULL)) {
            end_session(&up->sess, UPSTREAM_MALFORMED, "sent a broken SSE stream");
            return;
        }
        evbuffer_drain(in, used);
    }
}

static void stream_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct sse_up *up = arg;
    if (what & BEV_EVENT_CONNECTED) {
        int one = 1;
        setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        end_session(&up->sess, up->reader.in_body ? UPSTREAM_RESET : UPSTREAM_CONNECT,
                    up->reader.in_body ? "closed its SSE stream" : "could not be reached for its SSE stream");
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct sse_up *up = arg;
    if (up->endpoint)
        end_session(&up->sess, UPSTREAM_TIMEOUT, "session ended: idle");
    else
        end_session(&up->sess, UPSTREAM_TIMEOUT, "sent no endpoint event in time");
}

/* Ends a session: its requests fail, the client's stream ends, the
 * connections close; freed later by the server's reaper. */
static void end_session(struct upstream_session *us, enum upstream_failure kind, const char *what)
{
    struct sse_up *up = us->owner;
    if (us->ending)
        return;
    struct server_rt *s = us->server;
    log_info("server '%s' legacy SSE session %s: %s", s->conf->name, up->sess.id, what);
    evtimer_del(up->timer);
    bufferevent_disable(up->bev, EV_READ | EV_WRITE);
    while (!TAILQ_EMPTY(&up->posts)) {
        struct sse_post *p = TAILQ_FIRST(&up->posts);
        p->ex = NULL;
        post_free(p);
    }
    upsess_end(&up->sess, kind, what);
    event_active(s->sse_reaper, 0, 0);
}

static void free_session(struct sse_up *up)
{
    bufferevent_free(up->bev);
    http_reader_free(&up->reader);
    if (up->sse_ready)
        sse_free(&up->sse);
    upsess_clear(&up->sess);
    event_free(up->timer);
    free(up->endpoint);
    free(up);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct server_rt *s = arg;
    struct upstream_session *us;
    while ((us = TAILQ_FIRST(&s->ended))) {
        TAILQ_REMOVE(&s->ended, us, link);
        free_session(us->owner);
    }
}

/* Opens a session: the server's stream, on which the endpoint event comes first. */
static struct sse_up *open_session(struct server_rt *s)
{
    struct event_base *base = s->worker->base;
    const struct server_conf *sc = s->conf;
    char id[33];
    struct sse_up *up = calloc(1, sizeof *up);
    if (!up || upsess_make_id(id) < 0) {
        free(up);
        return NULL;
    }
    up->bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    up->timer = evtimer_new(base, on_timer, up);
    if (!up->bev || !up->timer || upsess_init(&up->sess, s, up, &sse_session_ops, id, up->bev, SSE_BACKLOG) < 0) {
        if (up->bev)
            bufferevent_free(up->bev);
        if (up->timer)
            event_free(up->timer);
        free(up);
        return NULL;
    }
    TAILQ_INIT(&up->posts);
    http_reader_init(&up->reader, HTTP_RESPONSE, &stream_ops, up, SSE_MAX_HEAD, SSE_MAX_HEADERS);
    upsess_add(&up->sess);
    struct evbuffer *out = bufferevent_get_output(up->bev);
    evbuffer_add_printf(out, "GET %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n", sc->upstream_path,
                        sc->host_header);
    for (size_t i = 0; i < sc->nheaders; i++)
        evbuffer_add_printf(out, "%s: %s\r\n", sc->headers[i].name, sc->headers[i].value);
    evbuffer_add(out, "\r\n", 2);
    bufferevent_setcb(up->bev, stream_on_read, NULL, stream_on_event, up);
    bufferevent_enable(up->bev, EV_READ | EV_WRITE);
    struct timeval tv = tv_ms(sc->connect_timeout_ms + sc->first_byte_timeout_ms);
    evtimer_add(up->timer, &tv);
    if (bufferevent_socket_connect(up->bev, (const struct sockaddr *)&s->addr, (int)s->addr_len) < 0) {
        end_session(&up->sess, UPSTREAM_CONNECT, "could not be reached for its SSE stream");
        return NULL;
    }
    log_info("server '%s': legacy SSE session %s opened", sc->name, up->sess.id);
    return up;
}

/* --- the transport --- */

static int sse_transport_init(struct server_rt *s, struct worker *w)
{
    TAILQ_INIT(&s->sessions);
    TAILQ_INIT(&s->ended);
    s->nsessions = 0;
    s->sse_reaper = event_new(w->base, -1, 0, on_reap, s);
    return s->sse_reaper ? 0 : -1;
}

/* A request waits on the session (sent now, or once the endpoint is known). */
static void wait_on(struct upstream_session *us, struct exchange *ex)
{
    struct sse_up *up = us->owner;
    if (!upsess_id_free(us, ex))
        return;
    upsess_wait(us, ex);
    if (up->endpoint)
        send_request(up, ex);
}

static bool post_other(struct upstream_session *us, struct exchange *ex, enum rpc_kind kind)
{
    (void)kind;
    struct sse_up *up = us->owner;
    if (!up->endpoint || !post_message(up, NULL, ex->body, ex->body_len)) {
        exchange_answer_error(ex, 503, RPC_INTERNAL_ERROR, "the server's session cannot take messages now");
        return false;
    }
    return true;
}

static const struct upsess_ops sse_session_ops = {wait_on, post_other, end_session, on_changed};

static void sse_forward(struct exchange *ex, const struct upstream_request *req)
{
    struct server_rt *s = ex->server;
    bool post = req->head->method == HTTP_POST;
    if (post && !upsess_keep_body(ex, req))
        return;
    if (!post || !req->is_initialize || ex->session[0]) {
        /* The client's stream has the deadline between messages a stdio or HTTP server's has:
         * a client that stops reading pauses the session only until it passes. */
        upsess_forward(ex, req, s->conf->sse_idle_timeout_ms, "ended by the client (DELETE)");
        return;
    }
    if (s->nsessions >= s->conf->max_connections) {
        exchange_failed(ex, UPSTREAM_BUSY, "has no room for another session (max_connections reached)");
        return;
    }
    struct sse_up *up = open_session(s);
    if (!up) {
        exchange_failed(ex, UPSTREAM_CONNECT, "could not be reached for its SSE stream");
        return;
    }
    wait_on(&up->sess, ex);
}

static void sse_quiesce(struct server_rt *s)
{
    /* Sessions with nothing open end now; the others when their requests do. */
    struct upstream_session *us, *next;
    TAILQ_FOREACH_SAFE(us, &s->sessions, link, next)
        if (upsess_idle(us))
            end_session(us, UPSTREAM_INTERNAL, "ended: warden is stopping");
}

static void sse_reap(struct server_rt *s)
{
    (void)s;
}

static void sse_shutdown(struct server_rt *s)
{
    struct upstream_session *us;
    while ((us = TAILQ_FIRST(&s->sessions)))
        end_session(us, UPSTREAM_INTERNAL, "ended: warden stopped");
    on_reap(-1, 0, s);
    if (s->sse_reaper)
        event_free(s->sse_reaper);
    s->sse_reaper = NULL;
}

const struct transport upstream_sse_transport = {
    .name = "sse",
    .runs_children = false,
    .init = sse_transport_init,
    .forward = sse_forward,
    .cancel = upsess_detach,
    .pause = upsess_pause,
    .resume = upsess_resume,
    .quiesce = sse_quiesce,
    .reap = sse_reap,
    .shutdown = sse_shutdown,
};
