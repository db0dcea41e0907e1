#include "upstream_http.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include "exchange.h"
#include "http.h"
#include "log.h"
#include "reply.h"
#include "sockread.h"

/* Upstream response heads are bounded like client heads, more generously. */
#define UPSTREAM_MAX_HEAD (64 * 1024)
#define UPSTREAM_MAX_HEADERS 200
/* What one read of an upstream socket asks for at most. */
#define UPSTREAM_READ_CHUNK 16384
/* Idle upstream connections close before a Node.js server's 5 s keep-alive
 * timeout would, so a request is never written into a closing connection. */
#define POOL_IDLE_MS 4000

static void upstream_close(struct upstream_conn *u);
static void on_read(struct bufferevent *bev, void *arg);
static void on_readable(evutil_socket_t fd, short what, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void upstream_read_response(struct upstream_conn *u, struct evbuffer *in);

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* True when p[0..len) is the literal lit, ignoring case. */
#define SPAN_IS(p, len, lit) ((len) == sizeof(lit) - 1 && strncasecmp((p), (lit), sizeof(lit) - 1) == 0)

/* Headers never taken from a client toward a server: the at-th of h, named name[0..len). */
static bool client_header_dropped(const struct server_conf *sc, const struct http_head *h, size_t at,
                                  const char *conn, size_t conn_len, const char *name, size_t len)
{
    if (http_header_hop_by_hop(h, at) || (conn && http_token_listed(conn, conn_len, name, len)))
        return true;
    /* Token passthrough is forbidden by the spec unless the operator says so. */
    if (!sc->pass_authorization && (SPAN_IS(name, len, "authorization") || SPAN_IS(name, len, "cookie")))
        return true;
    /* Warden checked Origin as the server the client talks to; it is not a browser toward the upstream. */
    if (SPAN_IS(name, len, "origin"))
        return true;
    for (size_t i = 0; i < sc->nheaders; i++)
        if (strlen(sc->headers[i].name) == len && strncasecmp(name, sc->headers[i].name, len) == 0)
            return true;
    return false;
}

/* The most bytes put_request writes. */
static size_t request_size(const struct server_conf *sc, const struct upstream_request *req)
{
    const struct http_head *h = req->head;
    size_t n = sizeof "  HTTP/1.1\r\nHost: \r\nContent-Length: \r\n\r\n" + REPLY_UINT_MAX +
               strlen(http_method_str((enum http_method)h->method)) + strlen(sc->upstream_path) + req->query_len +
               strlen(sc->host_header) + req->body_len;
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(h, i, &name, &nlen, &value, &vlen);
        n += nlen + vlen + 4;
    }
    for (size_t i = 0; i < sc->nheaders; i++)
        n += strlen(sc->headers[i].name) + strlen(sc->headers[i].value) + 4;
    return n;
}

/* Writes the request line, the client's end-to-end headers, the server's
 * configured headers, our own framing and the body at p (request_size bytes
 * of room): nothing of the client's raw bytes. Returns the end. */
static char *put_request(char *p, const struct server_conf *sc, const struct upstream_request *req)
{
    const struct http_head *h = req->head;
    const char *method = http_method_str((enum http_method)h->method);
    p = reply_put(p, method, strlen(method));
    *p++ = ' ';
    p = reply_put(p, sc->upstream_path, strlen(sc->upstream_path));
    p = reply_put(p, req->query, req->query_len);
    p = REPLY_PUT_LIT(p, " HTTP/1.1\r\nHost: ");
    p = reply_put(p, sc->host_header, strlen(sc->host_header));
    p = REPLY_PUT_LIT(p, "\r\n");
    size_t conn_len;
    const char *conn = http_header_field(h, HF_CONNECTION, &conn_len);
    if (conn && http_connection_only_hop_by_hop(conn, conn_len))
        conn = NULL;    /* it names nothing that is not dropped anyway */
    for (size_t i = 0; i < h->nheaders; i++) {
        const char *name, *value;
        size_t nlen, vlen;
        http_header_at(h, i, &name, &nlen, &value, &vlen);
        if (client_header_dropped(sc, h, i, conn, conn_len, name, nlen))
            continue;
        p = reply_put(p, name, nlen);
        p = REPLY_PUT_LIT(p, ": ");
        p = reply_put(p, value, vlen);
        p = REPLY_PUT_LIT(p, "\r\n");
    }
    for (size_t i = 0; i < sc->nheaders; i++) {
        p = reply_put(p, sc->headers[i].name, strlen(sc->headers[i].name));
        p = REPLY_PUT_LIT(p, ": ");
        p = reply_put(p, sc->headers[i].value, strlen(sc->headers[i].value));
        p = REPLY_PUT_LIT(p, "\r\n");
    }
    if (h->method == HTTP_POST || req->body_len) {
        p = REPLY_PUT_LIT(p, "Content-Length: ");
        p = reply_put_uint(p, req->body_len);
        p = REPLY_PUT_LIT(p, "\r\n");
    }
    p = REPLY_PUT_LIT(p, "\r\n");
    return reply_put(p, req->body, req->body_len);
}

/* Appends the re-framed request to b in one piece; -1 when out of memory. */
static int build_request(struct evbuffer *b, const struct server_conf *sc, const struct upstream_request *req)
{
    struct evbuffer_iovec v;
    if (evbuffer_reserve_space(b, (ev_ssize_t)request_size(sc, req), &v, 1) != 1)
        return -1;
    char *end = put_request(v.iov_base, sc, req);
    v.iov_len = (size_t)(end - (char *)v.iov_base);
    return evbuffer_commit_space(b, &v, 1);
}

/* Arms the pool's wait timer for the first waiting exchange's deadline. */
static void arm_wait_timer(struct upstream_pool *pool)
{
    struct exchange *first = TAILQ_FIRST(&pool->waiting);
    if (!first) {
        evtimer_del(pool->wait_timer);
        return;
    }
    double left = first->wait_deadline - now_monotonic();
    if (left < 0)
        left = 0;
    struct timeval tv = {.tv_sec = (time_t)left, .tv_usec = (suseconds_t)((left - (double)(time_t)left) * 1e6)};
    evtimer_add(pool->wait_timer, &tv);
}

/* Takes ex out of the waiting list. */
static void stop_waiting(struct upstream_pool *pool, struct exchange *ex)
{
    bool was_first = TAILQ_FIRST(&pool->waiting) == ex;
    TAILQ_REMOVE(&pool->waiting, ex, wait_link);
    ex->waiting = false;
    if (was_first)
        arm_wait_timer(pool);
}

/* Exchanges that waited for a connection as long as a connect may take fail. */
static void on_wait_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct upstream_pool *pool = arg;
    double now = now_monotonic();
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&pool->waiting)) && ex->wait_deadline <= now + 0.001) {
        TAILQ_REMOVE(&pool->waiting, ex, wait_link);
        ex->waiting = false;
        exchange_failed(ex, UPSTREAM_BUSY, "had no free connection in time (max_connections reached)");
    }
    arm_wait_timer(pool);
}

/* Frees the pool's closed connections, after the callbacks that closed them. */
static void on_pool_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct upstream_pool *pool = arg;
    struct upstream_conn *u;
    while ((u = TAILQ_FIRST(&pool->graveyard))) {
        TAILQ_REMOVE(&pool->graveyard, u, link);
        if (u->rev)
            event_free(u->rev);   /* before the bufferevent closes the fd */
        bufferevent_free(u->bev);
        deadline_free(&u->timer);
        http_reader_free(&u->reader);
        free(u);
    }
}

/* Reads on or off: through rev once connected, through the bufferevent before. */
static void set_reading(struct upstream_conn *u, bool on)
{
    u->reading = on;
    if (u->rev) {
        if (on)
            event_add(u->rev, NULL);
        else
            event_del(u->rev);
    } else if (on) {
        bufferevent_enable(u->bev, EV_READ);
    } else {
        bufferevent_disable(u->bev, EV_READ);
    }
}

/* Sets the deadline for what the connection is waiting for now. */
static void arm_timer(struct upstream_conn *u)
{
    const struct server_conf *sc = u->pool->server->conf;
    unsigned ms;
    if (!u->ex)
        ms = POOL_IDLE_MS;
    else if (!u->connected)
        ms = sc->connect_timeout_ms;
    else if (!u->got_bytes)
        ms = sc->first_byte_timeout_ms;
    else
        ms = sc->sse_idle_timeout_ms;
    deadline_set(&u->timer, deadline_now(), ms);
}

/* Ends the exchange with an error and drops the connection, which is in an
 * unknown state. */
static void fail(struct upstream_conn *u, enum upstream_failure kind, const char *what)
{
    struct exchange *ex = u->ex;
    u->ex = NULL;
    if (ex) {
        ex->up = NULL;
        exchange_failed(ex, kind, what);
    }
    upstream_close(u);
}

static int resp_on_head(void *owner)
{
    struct upstream_conn *u = owner;
    const struct http_head *h = &u->reader.head;
    if (h->status < 200)
        return 0;   /* an interim answer; the real one follows */
    return exchange_head(u->ex, h);
}

static int resp_on_body(void *owner, const char *at, size_t len)
{
    struct upstream_conn *u = owner;
    return exchange_body(u->ex, at, len);
}

static int resp_on_complete(void *owner)
{
    (void)owner;
    return 0;
}

static const struct http_reader_ops response_ops = {resp_on_head, resp_on_body, resp_on_complete};

/* Puts the connection to use for ex: writes the request and waits for the answer. */
static void attach(struct upstream_conn *u, struct exchange *ex)
{
    u->ex = ex;
    ex->up = u;
    u->got_bytes = false;
    http_reader_next(&u->reader);
    struct evbuffer *out = bufferevent_get_output(u->bev);
    /* A request that waited for the connection; one forwarded to an idle connection is in out already. */
    if (ex->request && evbuffer_get_length(ex->request))
        evbuffer_add_buffer(out, ex->request);
    if (u->connected && !u->pool->server->tls) {
        /* On an open connection the request is written at once, with no write event unless the socket is full
         * (not over TLS: those bytes go through OpenSSL). */
        if (bufferevent_get_enabled(u->bev) & EV_WRITE)
            bufferevent_disable(u->bev, EV_WRITE);
        evbuffer_unfreeze(out, 1);   /* see client_flush */
        evbuffer_write(out, u->rev ? event_get_fd(u->rev) : bufferevent_getfd(u->bev));
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out))
        bufferevent_enable(u->bev, EV_WRITE);
    if (!u->reading)
        set_reading(u, true);
    arm_timer(u);
}

/* Opens a new connection for ex. */
static void open_for(struct upstream_pool *pool, struct exchange *ex)
{
    struct worker *w = pool->worker;
    struct upstream_conn *u = calloc(1, sizeof *u);
    const struct server_rt *s = pool->server;
    char why[256] = "", name[256];
    /* The name the certificate must carry: the URL's host, an IPv6 literal without its brackets. */
    const char *host = s->conf->host ? s->conf->host : "";
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']')
        snprintf(name, sizeof name, "%.*s", (int)(hl - 2), host + 1);
    else
        snprintf(name, sizeof name, "%s", host);
    /* https: the handshake runs once the socket connects; BEV_EVENT_CONNECTED
     * comes only after the certificate and its name were verified. */
    struct bufferevent *bev = !u ? NULL
                              : s->tls ? tls_bev_connect(w->base, -1, s->tls, name, BEV_OPT_CLOSE_ON_FREE, why,
                                                         sizeof why)
                                       : bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    int timer = u ? deadline_init(&u->timer, w->base, on_timer, u) : -1;
    if (why[0])
        log_error("%s: %s", s->conf->url, why);
    if (!u || !bev || timer < 0) {
        if (bev)
            bufferevent_free(bev);
        if (u)
            deadline_free(&u->timer);
        free(u);
        exchange_failed(ex, UPSTREAM_INTERNAL, "could not be reached: warden is out of memory");
        return;
    }
    u->bev = bev;
    u->pool = pool;
    pool->open++;
    http_reader_init(&u->reader, HTTP_RESPONSE, &response_ops, u, UPSTREAM_MAX_HEAD, UPSTREAM_MAX_HEADERS);
    bufferevent_setcb(bev, on_read, on_write, on_event, u);
    attach(u, ex);
    if (bufferevent_socket_connect(bev, (const struct sockaddr *)&s->addr, (int)s->addr_len) < 0) {
        fail(u, UPSTREAM_CONNECT, "cannot connect");
        return;
    }
    int one = 1;
    setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Hands the connection to the next waiting exchange, or parks it as idle. */
static void release(struct upstream_conn *u, bool reusable)
{
    struct upstream_pool *pool = u->pool;
    if (!reusable || pool->worker->stopping) {
        upstream_close(u);
        return;
    }
    struct exchange *next = TAILQ_FIRST(&pool->waiting);
    if (next) {
        stop_waiting(pool, next);
        attach(u, next);
        return;
    }
    TAILQ_INSERT_TAIL(&pool->idle, u, link);
    u->in_idle = true;
    if (!u->reading)
        set_reading(u, true);
    arm_timer(u);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct upstream_conn *u = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    if (!u->ex) {
        /* An idle connection must say nothing; if it does, it is unusable. */
        upstream_close(u);
        return;
    }
    u->got_bytes = true;
    arm_timer(u);
    struct exchange *ex = u->ex;
    upstream_read_response(u, in);
    /* Whatever this read produced goes to the client in one write. The
     * exchange lives in its client connection, which outlives this callback
     * even when the exchange ended in it. */
    exchange_flush(ex);
}

/* Feeds the response bytes that have arrived to the reader, and ends the
 * exchange when the response is complete. */
static void upstream_read_response(struct upstream_conn *u, struct evbuffer *in)
{
    while (u->ex && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t used = http_reader_feed(&u->reader, v.iov_base, v.iov_len);
        if (u->dead)
            return;
        if (!u->ex) {   /* the proxy gave up on the exchange inside a callback */
            upstream_close(u);
            return;
        }
        int status;
        const char *why;
        if (http_reader_failed(&u->reader, &status, &why)) {
            enum upstream_failure kind;
            const char *refusal = exchange_refusal(u->ex, &kind);
            fail(u, refusal ? kind : UPSTREAM_MALFORMED, refusal ? refusal : "sent a malformed HTTP response");
            return;
        }
        evbuffer_drain(in, used);
        if (!u->reader.complete)
            continue;
        if (u->reader.head.status < 200) {
            http_reader_next(&u->reader);
            continue;
        }
        struct exchange *ex = u->ex;
        bool reusable = u->reader.head.keep_alive && evbuffer_get_length(in) == 0;
        u->ex = NULL;
        ex->up = NULL;
        deadline_clear(&u->timer);
        release(u, reusable);
        exchange_done(ex);
        return;
    }
}

/* The request is out: stop watching for writability until the next one. */
static void on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_disable(bev, EV_WRITE);
}

/* A connected socket's reads, through rev: what the bufferevent did, with
 * one read and no ioctl. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct upstream_conn *u = arg;
    ptrdiff_t n = sockread(bufferevent_get_input(u->bev), fd, UPSTREAM_READ_CHUNK);
    if (n == SOCKREAD_AGAIN)
        return;
    if (n > 0)
        on_read(u->bev, u);
    else   /* every path of on_event but CONNECTED closes the connection */
        on_event(u->bev, (short)(BEV_EVENT_READING | (n == SOCKREAD_EOF ? BEV_EVENT_EOF : BEV_EVENT_ERROR)), u);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct upstream_conn *u = arg;
    if (what & BEV_EVENT_CONNECTED) {
        u->connected = true;
        /* From now on plain sockets are read through rev: one read each, no
         * ioctl (sockread.h); TLS ones stay with OpenSSL's bufferevent, and so
         * does a socket when there is no memory for rev. */
        if (!u->pool->server->tls)
            u->rev = event_new(u->pool->worker->base, bufferevent_getfd(u->bev), EV_READ | EV_PERSIST, on_readable,
                               u);
        if (u->rev) {
            bufferevent_disable(u->bev, EV_READ);
            if (u->reading)
                event_add(u->rev, NULL);
        }
        if (u->ex)
            arm_timer(u);
        return;
    }
    if (!u->ex) {
        upstream_close(u);
        return;
    }
    if (what & BEV_EVENT_EOF) {
        if (u->reader.in_body) {
            /* A body without length ends with the connection. */
            http_reader_eof(&u->reader);
            if (u->reader.complete && u->ex) {
                struct exchange *ex = u->ex;
                u->ex = NULL;
                ex->up = NULL;
                upstream_close(u);
                exchange_done(ex);
                return;
            }
            fail(u, UPSTREAM_RESET, "closed the connection in the middle of its answer");
            return;
        }
        fail(u, UPSTREAM_RESET, u->got_bytes ? "closed the connection in the middle of its answer"
                                             : "closed the connection without answering");
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (!u->connected && u->pool->server->tls && bufferevent_get_openssl_error(bev)) {
        /* The socket connected, the handshake did not: a certificate refused, or no TLS at all. */
        char tls_why[300], msg[400];
        tls_error_string(bev, tls_why, sizeof tls_why);
        snprintf(msg, sizeof msg, "failed the TLS handshake (%s)", tls_why);
        fail(u, UPSTREAM_CONNECT, msg);
    } else if (!u->connected) {
        char msg[160];
        snprintf(msg, sizeof msg, "refused the connection (%s)", evutil_socket_error_to_string(err));
        fail(u, UPSTREAM_CONNECT, msg);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "connection failed (%s)", evutil_socket_error_to_string(err));
        fail(u, UPSTREAM_RESET, msg);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct upstream_conn *u = arg;
    if (!deadline_fired(&u->timer, deadline_now()))
        return;
    if (!u->ex) {
        upstream_close(u);
        return;
    }
    const struct server_conf *sc = u->pool->server->conf;
    char msg[128];
    if (!u->connected)
        snprintf(msg, sizeof msg, "did not accept the connection within %u ms", sc->connect_timeout_ms);
    else if (!u->got_bytes)
        snprintf(msg, sizeof msg, "did not answer within %u ms", sc->first_byte_timeout_ms);
    else
        snprintf(msg, sizeof msg, "sent nothing for %u ms", sc->sse_idle_timeout_ms);
    fail(u, UPSTREAM_TIMEOUT, msg);
}

static int http_init(struct server_rt *s, struct worker *w)
{
    struct upstream_pool *pool = &s->pool;
    pool->worker = w;
    pool->server = s;
    TAILQ_INIT(&pool->idle);
    TAILQ_INIT(&pool->waiting);
    TAILQ_INIT(&pool->graveyard);
    pool->open = 0;
    pool->wait_timer = evtimer_new(w->base, on_wait_timer, pool);
    pool->reaper = event_new(w->base, -1, 0, on_pool_reap, pool);
    return pool->wait_timer && pool->reaper ? 0 : -1;
}

static void http_quiesce(struct server_rt *s)
{
    struct upstream_conn *u;
    while ((u = TAILQ_FIRST(&s->pool.idle)))
        upstream_close(u);
}

static void http_shutdown(struct server_rt *s)
{
    struct upstream_pool *pool = &s->pool;
    http_quiesce(s);
    on_pool_reap(-1, 0, pool);
    if (pool->wait_timer)
        event_free(pool->wait_timer);
    if (pool->reaper)
        event_free(pool->reaper);
    pool->wait_timer = pool->reaper = NULL;
}

static void http_forward(struct exchange *ex, const struct upstream_request *req)
{
    struct upstream_pool *pool = &ex->server->pool;
    struct upstream_conn *u = TAILQ_FIRST(&pool->idle);
    /* To an idle connection the request goes straight into its output;
     * otherwise it waits in ex->request for a connection. */
    struct evbuffer *b = u             ? bufferevent_get_output(u->bev)
                         : ex->request ? ex->request
                                       : (ex->request = evbuffer_new());
    if (!b || build_request(b, ex->server->conf, req) < 0) {
        exchange_failed(ex, UPSTREAM_INTERNAL, "could not be reached: warden is out of memory");
        return;
    }
    if (u) {
        TAILQ_REMOVE(&pool->idle, u, link);
        u->in_idle = false;
        attach(u, ex);
        return;
    }
    if (pool->open < ex->server->conf->max_connections) {
        open_for(pool, ex);
        return;
    }
    /* Every connection is busy: wait for one, but no longer than a connect would take. */
    ex->waiting = true;
    ex->wait_deadline = now_monotonic() + ex->server->conf->connect_timeout_ms / 1000.0;
    TAILQ_INSERT_TAIL(&pool->waiting, ex, wait_link);
    if (TAILQ_FIRST(&pool->waiting) == ex)
        arm_wait_timer(pool);
}

/* Closes a connection: taken out of the pool, freed by the pool's reaper. A
 * waiting exchange gets a new connection in its place. */
static void upstream_close(struct upstream_conn *u)
{
    if (u->dead)
        return;
    struct upstream_pool *pool = u->pool;
    if (u->in_idle) {
        TAILQ_REMOVE(&pool->idle, u, link);
        u->in_idle = false;
    } else if (u->ex) {
        u->ex->up = NULL;
        u->ex = NULL;
    }
    u->dead = true;
    pool->open--;
    set_reading(u, false);
    bufferevent_disable(u->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
    deadline_stop(&u->timer);
    TAILQ_INSERT_TAIL(&pool->graveyard, u, link);
    event_active(pool->reaper, 0, 0);
    struct exchange *next = TAILQ_FIRST(&pool->waiting);
    if (next && !pool->worker->stopping && pool->open < pool->server->conf->max_connections) {
        stop_waiting(pool, next);
        open_for(pool, next);
    }
}

static void http_cancel(struct exchange *ex)
{
    if (ex->waiting)
        stop_waiting(&ex->server->pool, ex);
    if (ex->up)
        upstream_close(ex->up);
}

static void http_pause(struct exchange *ex)
{
    if (ex->up)
        set_reading(ex->up, false);
}

static void http_resume(struct exchange *ex)
{
    if (ex->up)
        set_reading(ex->up, true);
}

/* Children are a stdio matter. */
static void http_reap(struct server_rt *s)
{
    (void)s;
}

const struct transport upstream_http_transport = {
    .name = "http",
    .runs_children = false,
    .init = http_init,
    .forward = http_forward,
    .cancel = http_cancel,
    .pause = http_pause,
    .resume = http_resume,
    .quiesce = http_quiesce,
    .reap = http_reap,
    .shutdown = http_shutdown,
};
