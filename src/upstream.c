#include "upstream.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "http.h"
#include "log.h"
#include "client.h"
#include "proxy.h"
#include "worker.h"

/* Upstream response heads are bounded like client heads, more generously. */
#define UPSTREAM_MAX_HEAD (64 * 1024)
#define UPSTREAM_MAX_HEADERS 200

static void upstream_close(struct upstream_conn *u);
static void on_read(struct bufferevent *bev, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short what, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void upstream_read_response(struct upstream_conn *u, struct evbuffer *in);

static struct timeval tv_ms(unsigned ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* Arms the timer for what the connection is waiting for now. */
static void arm_timer(struct upstream_conn *u)
{
    const struct server_conf *sc = u->pool->server->conf;
    struct timeval tv;
    if (!u->ex) {
        evtimer_add(u->timer, u->pool->worker->tv_pool_idle);
        return;
    }
    if (!u->connected)
        tv = tv_ms(sc->connect_timeout_ms);
    else if (!u->got_bytes)
        tv = tv_ms(sc->first_byte_timeout_ms);
    else
        tv = tv_ms(sc->sse_idle_timeout_ms);
    evtimer_add(u->timer, &tv);
}

/* Ends the exchange with an error and drops the connection, which is in an
 * unknown state. */
static void fail(struct upstream_conn *u, const char *what)
{
    struct exchange *ex = u->ex;
    u->ex = NULL;
    if (ex) {
        ex->up = NULL;
        proxy_upstream_failed(ex, what);
    }
    upstream_close(u);
}

static int resp_on_head(void *owner)
{
    struct upstream_conn *u = owner;
    const struct http_head *h = &u->reader.head;
    if (h->status < 200)
        return 0;   /* an interim answer; the real one follows */
    return proxy_upstream_head(u->ex, h);
}

static int resp_on_body(void *owner, const char *at, size_t len)
{
    struct upstream_conn *u = owner;
    return proxy_upstream_body(u->ex, at, len);
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
    if (ex->waiting)
        evtimer_del(ex->client->timer);
    u->ex = ex;
    ex->up = u;
    ex->waiting = false;
    u->got_bytes = false;
    http_reader_next(&u->reader);
    struct evbuffer *out = bufferevent_get_output(u->bev);
    if (u->connected) {
        /* On an open connection the request is written at once, with no write event unless the socket is full. */
        bufferevent_disable(u->bev, EV_WRITE);
        evbuffer_add_buffer(out, ex->request);
        evbuffer_unfreeze(out, 1);   /* see client_flush */
        evbuffer_write(out, bufferevent_getfd(u->bev));
        evbuffer_freeze(out, 1);
    } else {
        evbuffer_add_buffer(out, ex->request);
    }
    bufferevent_enable(u->bev, evbuffer_get_length(out) ? EV_READ | EV_WRITE : EV_READ);
    arm_timer(u);
}

/* Opens a new connection for ex. */
static void open_for(struct upstream_pool *pool, struct exchange *ex)
{
    struct worker *w = pool->worker;
    struct upstream_conn *u = calloc(1, sizeof *u);
    struct bufferevent *bev = u ? bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE) : NULL;
    struct event *timer = u ? evtimer_new(w->base, on_timer, u) : NULL;
    if (!u || !bev || !timer) {
        if (bev)
            bufferevent_free(bev);
        if (timer)
            event_free(timer);
        free(u);
        proxy_upstream_failed(ex, "out of memory");
        return;
    }
    u->bev = bev;
    u->timer = timer;
    u->pool = pool;
    pool->open++;
    http_reader_init(&u->reader, HTTP_RESPONSE, &response_ops, u, UPSTREAM_MAX_HEAD, UPSTREAM_MAX_HEADERS);
    bufferevent_setcb(bev, on_read, on_write, on_event, u);
    attach(u, ex);
    const struct server_rt *s = pool->server;
    if (bufferevent_socket_connect(bev, (const struct sockaddr *)&s->addr, (int)s->addr_len) < 0) {
        fail(u, "cannot connect");
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
        TAILQ_REMOVE(&pool->waiting, next, wait_link);
        attach(u, next);
        return;
    }
    TAILQ_INSERT_TAIL(&pool->idle, u, link);
    u->in_idle = true;
    bufferevent_enable(u->bev, EV_READ);
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
    struct client_conn *client = u->ex->client;
    upstream_read_response(u, in);
    /* Whatever this read produced goes to the client in one write. */
    client_flush(client);
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
            fail(u, u->ex->refusal ? u->ex->refusal : "sent a malformed HTTP response");
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
        evtimer_del(u->timer);
        release(u, reusable);
        proxy_upstream_done(ex);
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

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct upstream_conn *u = arg;
    if (what & BEV_EVENT_CONNECTED) {
        u->connected = true;
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
                proxy_upstream_done(ex);
                return;
            }
            fail(u, "closed the connection in the middle of its answer");
            return;
        }
        fail(u, u->got_bytes ? "closed the connection in the middle of its answer"
                             : "closed the connection without answering");
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    if (!u->connected) {
        char msg[160];
        snprintf(msg, sizeof msg, "refused the connection (%s)", evutil_socket_error_to_string(err));
        fail(u, msg);
    } else {
        char msg[160];
        snprintf(msg, sizeof msg, "connection failed (%s)", evutil_socket_error_to_string(err));
        fail(u, msg);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct upstream_conn *u = arg;
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
    fail(u, msg);
}

void upstream_pool_init(struct upstream_pool *pool, struct worker *w, struct server_rt *server)
{
    pool->worker = w;
    pool->server = server;
    TAILQ_INIT(&pool->idle);
    TAILQ_INIT(&pool->waiting);
    pool->open = 0;
}

void upstream_pool_close_idle(struct upstream_pool *pool)
{
    struct upstream_conn *u;
    while ((u = TAILQ_FIRST(&pool->idle)))
        upstream_close(u);
}

void upstream_start(struct exchange *ex)
{
    struct upstream_pool *pool = &ex->server->pool;
    struct upstream_conn *u = TAILQ_FIRST(&pool->idle);
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
    TAILQ_INSERT_TAIL(&pool->waiting, ex, wait_link);
    struct timeval tv = tv_ms(ex->server->conf->connect_timeout_ms);
    evtimer_add(ex->client->timer, &tv);
}

/* Closes a connection: taken out of the pool, freed by the reaper. A waiting
 * exchange gets a new connection in its place. */
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
    bufferevent_disable(u->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(u->bev, NULL, NULL, NULL, NULL);
    evtimer_del(u->timer);
    worker_bury_upstream(pool->worker, u);
    struct exchange *next = TAILQ_FIRST(&pool->waiting);
    if (next && !pool->worker->stopping && pool->open < pool->server->conf->max_connections) {
        TAILQ_REMOVE(&pool->waiting, next, wait_link);
        evtimer_del(next->client->timer);
        next->waiting = false;
        open_for(pool, next);
    }
}

void upstream_cancel(struct exchange *ex)
{
    if (ex->waiting) {
        TAILQ_REMOVE(&ex->server->pool.waiting, ex, wait_link);
        ex->waiting = false;
    }
    if (ex->up)
        upstream_close(ex->up);
}

void upstream_pause(struct exchange *ex)
{
    if (ex->up)
        bufferevent_disable(ex->up->bev, EV_READ);
}

void upstream_resume(struct exchange *ex)
{
    if (ex->up)
        bufferevent_enable(ex->up->bev, EV_READ);
}

void upstream_free(struct upstream_conn *u)
{
    bufferevent_free(u->bev);
    event_free(u->timer);
    http_reader_free(&u->reader);
    free(u);
}
