#include "client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "deadline.h"
#include "http.h"
#include "log.h"
#include "exchange.h"
#include "metrics.h"
#include "reply.h"
#include "sockread.h"

/* Pipelined bytes waiting behind a request in progress stop being read past this. */
#define CLIENT_INPUT_HIGH (256 * 1024)
/* What one read of a client socket asks for at most. */
#define CLIENT_READ_CHUNK 16384

static void client_process_input(struct client_conn *c);

/* Sets the connection's one deadline for the state it is in. */
static void arm_timer(struct client_conn *c)
{
    const struct limits_conf *lim = &c->worker->cfg->limits;
    unsigned ms = 0;
    switch (c->state) {
    case CLIENT_IDLE: ms = lim->keepalive_timeout_ms; break;
    case CLIENT_HEAD: ms = lim->header_timeout_ms; break;
    case CLIENT_BODY: ms = lim->body_timeout_ms; break;
    case CLIENT_BUSY: break;   /* the exchange and its transport keep the deadlines */
    }
    if (c->state != CLIENT_BUSY)
        deadline_set(&c->timer, deadline_now(), ms);
    else
        deadline_clear(&c->timer);
}

static void set_state(struct client_conn *c, enum client_state s)
{
    c->state = s;
    arm_timer(c);
}

/* Refuses what the client sent; the stream cannot be trusted after it, so the
 * connection closes once the answer is out. */
static void refuse(struct client_conn *c, int status, const char *why)
{
    c->keep_alive = false;
    set_state(c, CLIENT_BUSY);
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s", http_reason(status), why);
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        client_close(c);
        return;
    }
    reply_format_rpc_error(body, NULL, 0, RPC_INVALID_REQUEST, msg);
    size_t len = evbuffer_get_length(body);
    const char *p = (const char *)evbuffer_pullup(body, -1);
    int rc =
        p ? reply_format_answer(bufferevent_get_output(c->bev), status, "application/json", NULL, p, len, true) : -1;
    evbuffer_free(body);
    if (rc < 0) {
        client_close(c);
        return;
    }
    client_close_when_flushed(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct client_conn *c = arg;
    if (!deadline_fired(&c->timer, deadline_now()))
        return;
    if (c->state == CLIENT_IDLE) {
        client_close(c);
        return;
    }
    refuse(c, 408, c->state == CLIENT_HEAD ? "the request head took too long" : "the request body took too long");
}

/* http_reader callbacks for requests. */
static int req_on_head(void *owner)
{
    struct client_conn *c = owner;
    const struct limits_conf *lim = &c->worker->cfg->limits;
    struct http_head *h = &c->reader.head;
    if (h->has_length && h->content_length > lim->max_body_bytes) {
        c->reader.status_on_error = 413;
        return -1;
    }
    if (!http_transfer_coding_supported(h)) {
        c->reader.status_on_error = 501;
        return -1;
    }
    c->body_len = 0;
    size_t want = h->has_length ? (size_t)h->content_length : 0;
    if (want > c->body_cap) {
        char *b = realloc(c->body, want);
        if (!b) {
            c->reader.status_on_error = 503;
            return -1;
        }
        c->body = b;
        c->body_cap = want;
    }
    size_t vlen;
    const char *expect = http_header_field(h, HF_EXPECT, &vlen);
    if (expect) {
        if (vlen != 12 || strncasecmp(expect, "100-continue", 12) != 0) {
            c->reader.status_on_error = 417;
            return -1;
        }
        evbuffer_add(bufferevent_get_output(c->bev), "HTTP/1.1 100 Continue\r\n\r\n", 25);
        client_flush(c);
    }
    return 0;
}

static int req_on_body(void *owner, const char *at, size_t len)
{
    struct client_conn *c = owner;
    size_t max = c->worker->cfg->limits.max_body_bytes;
    if (c->body_len + len > max) {
        c->reader.status_on_error = 413;
        return -1;
    }
    if (c->body_len + len > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 4096;
        while (cap < c->body_len + len)
            cap *= 2;
        if (cap > max)
            cap = max;
        char *b = realloc(c->body, cap);
        if (!b) {
            c->reader.status_on_error = 503;
            return -1;
        }
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

static int req_on_complete(void *owner)
{
    (void)owner;
    return 0;
}

static const struct http_reader_ops request_ops = {req_on_head, req_on_body, req_on_complete};

/* True when the reader has what the caller waits for: the head (the body
 * may follow), or the whole request. */
static bool request_read(const struct http_reader *r, bool whole)
{
    return r->complete || (!whole && r->in_body);
}

/* Feeds what has arrived (the reader keeps a head that is not complete,
 * within the limits) until the head, or the whole request, is read;
 * returns false when there is nothing more to do now (waiting, or refused). */
static bool read_request(struct client_conn *c, struct evbuffer *in, bool whole)
{
    while (!request_read(&c->reader, whole) && evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        size_t used = http_reader_feed(&c->reader, v.iov_base, v.iov_len);
        int status;
        const char *why;
        if (http_reader_failed(&c->reader, &status, &why)) {
            refuse(c, status, why);
            return false;
        }
        evbuffer_drain(in, used);
    }
    return request_read(&c->reader, whole);
}

/* A connection waiting for its next request keeps no head or body buffer
 * (an agent's pool holds many such connections; nginx frees its buffers
 * the same way). The next request allocates them again, from malloc's
 * per-thread cache when the connection is busy. */
static void release_idle_buffers(struct client_conn *c)
{
    http_reader_free(&c->reader);
    free(c->body);
    c->body = NULL;
    c->body_len = c->body_cap = 0;
}

/* Reads and dispatches requests until one is in progress or input runs out.
 * Iterative, so that answers given at once to pipelined requests do not
 * recurse. */
static void client_process_input(struct client_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (!c->dead && c->state != CLIENT_BUSY && !c->close_when_flushed) {
        if (c->state == CLIENT_IDLE) {
            if (evbuffer_get_length(in) == 0) {
                release_idle_buffers(c);
                return;
            }
            set_state(c, CLIENT_HEAD);
        }
        if (c->state == CLIENT_HEAD) {
            if (!read_request(c, in, false))
                return;
            if (!c->reader.complete)
                set_state(c, CLIENT_BODY);
        }
        if (c->state == CLIENT_BODY && !read_request(c, in, true))
            return;
        c->keep_alive = c->reader.head.keep_alive;
        set_state(c, CLIENT_BUSY);
        c->worker->on_request(c);
    }
    if (c->read_paused && !c->dead && !c->close_when_flushed && evbuffer_get_length(in) < CLIENT_INPUT_HIGH) {
        c->read_paused = false;
        event_add(c->rev, NULL);
    }
}

static void on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    client_process_input(arg);
}

/* A socket's reads: one read each (sockread.h). libevent's
 * bufferevent asks the kernel with an ioctl(FIONREAD) before every read;
 * this costs one syscall per read instead of two. */
static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct client_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    size_t have = evbuffer_get_length(in);
    if (have >= CLIENT_INPUT_HIGH) {   /* resumed by client_process_input once drained */
        c->read_paused = true;
        event_del(c->rev);
        return;
    }
    size_t want = CLIENT_INPUT_HIGH - have < CLIENT_READ_CHUNK ? CLIENT_INPUT_HIGH - have : CLIENT_READ_CHUNK;
    ptrdiff_t n = sockread(in, fd, want);
    if (n == SOCKREAD_AGAIN)
        return;
    if (n <= 0) {   /* the client is gone (EOF), the socket failed, or no memory */
        client_close(c);
        return;
    }
    client_process_input(c);
}

/* The output went below the low watermark (or out): let the upstream send
 * more, and close if that was the last answer. */
static void output_drained(struct client_conn *c)
{
    exchange_output_drained(&c->ex);
    if (c->close_when_flushed && evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        client_close(c);
}

/* Plain sockets are written straight away (client_flush): those read
 * through rev (client_attach); a pair has no socket, and TLS must go through
 * OpenSSL. The socket, or -1. */
static evutil_socket_t direct_fd(const struct client_conn *c)
{
    return c->rev ? event_get_fd(c->rev) : -1;
}

static void on_write(struct bufferevent *bev, void *arg)
{
    struct client_conn *c = arg;
    /* Back to optimistic writes (client_flush) once the socket has taken everything. */
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0 && c->rev)
        bufferevent_disable(bev, EV_WRITE);
    output_drained(c);
}

void client_flush(struct client_conn *c)
{
    struct evbuffer *out = bufferevent_get_output(c->bev);
    if (c->dead || evbuffer_get_length(out) == 0 || (bufferevent_get_enabled(c->bev) & EV_WRITE))
        return;
    /* Write now, in this loop iteration: most answers fit the socket buffer,
     * and then no write event is ever registered for them. */
    evutil_socket_t fd = direct_fd(c);
    /* A failed write leaves the bytes in place; the bufferevent then meets the
     * error and reports it. The bufferevent keeps its output's front frozen
     * against other writers; we are the one it would have called. */
    if (fd >= 0) {
        evbuffer_unfreeze(out, 1);
        evbuffer_write(out, fd);
        evbuffer_freeze(out, 1);
    }
    if (evbuffer_get_length(out) > 0 || fd < 0)
        bufferevent_enable(c->bev, EV_WRITE);
    else
        output_drained(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct client_conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        client_close(c);
}

void client_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int socklen)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char ip[INET6_ADDRSTRLEN] = "?", addr[64];
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        port = ntohs(in6->sin6_port);
    }
    snprintf(addr, sizeof addr, "%s:%u", ip, port);
    /* With a certificate the handshake runs inside the bufferevent; the
     * header timeout that starts now bounds it too. */
    struct bufferevent *bev = w->tls ? tls_bev_accept(w->base, fd, w->tls, BEV_OPT_CLOSE_ON_FREE)
                                     : bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (!bev) {
        log_error("out of memory accepting a connection");
        evutil_closesocket(fd);
        return;
    }
    struct client_conn *c = client_attach(w, bev, addr, w->tls != NULL);
    if (!c) {
        log_error("out of memory accepting a connection");
        return;
    }
    if ((size_t)socklen <= sizeof c->peer)
        memcpy(&c->peer, sa, (size_t)socklen);
}

struct client_conn *client_attach(struct worker *w, struct bufferevent *bev, const char *addr, bool tls)
{
    struct client_conn *c = calloc(1, sizeof *c);
    if (!c || deadline_init(&c->timer, w->base, on_timer, c) < 0) {
        bufferevent_free(bev);
        free(c);
        return NULL;
    }
    /* Plain sockets are read directly (on_readable); TLS ones by OpenSSL's bufferevent. */
    evutil_socket_t fd = tls ? -1 : bufferevent_getfd(bev);
    struct event *rev = fd >= 0 ? event_new(w->base, fd, EV_READ | EV_PERSIST, on_readable, c) : NULL;
    if (fd >= 0 && !rev) {
        bufferevent_free(bev);
        deadline_free(&c->timer);
        free(c);
        return NULL;
    }
    c->worker = w;
    c->bev = bev;
    c->rev = rev;
    c->ex.client = c;
    c->tls = tls;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    const struct limits_conf *lim = &w->cfg->limits;
    http_reader_init(&c->reader, HTTP_REQUEST, &request_ops, c, lim->max_header_bytes + 2, lim->max_headers);
    bufferevent_setcb(bev, on_read, on_write, on_event, c);
    /* on_readable bounds its own input; the bufferevent's read watermark
     * would only add a callback to every append and drain. */
    if (!rev)
        bufferevent_setwatermark(bev, EV_READ, 0, CLIENT_INPUT_HIGH);
    bufferevent_setwatermark(bev, EV_WRITE, EXCHANGE_OUTPUT_LOW, 0);
    /* Sockets write optimistically (client_flush) and read through rev; a pair
     * has no fd to write to or read from, and TLS reads and writes go through
     * OpenSSL's bufferevent. */
    if (rev) {
        bufferevent_disable(bev, EV_READ | EV_WRITE);
        event_add(rev, NULL);
    } else {
        bufferevent_enable(bev, EV_READ | EV_WRITE);
    }
    TAILQ_INSERT_TAIL(&w->clients, c, link);
    w->nclients++;
    metrics_connections(w->metrics, 1);
    set_state(c, CLIENT_IDLE);
    return c;
}

void client_finish_exchange(struct client_conn *c)
{
    exchange_reset(&c->ex);
    client_flush(c);
    if (c->dead)
        return;
    if (!c->keep_alive || c->worker->stopping) {
        client_close_when_flushed(c);
        return;
    }
    http_reader_next(&c->reader);
    set_state(c, CLIENT_IDLE);
    client_process_input(c);
}

void client_close_when_flushed(struct client_conn *c)
{
    if (c->close_when_flushed)
        return;
    c->close_when_flushed = true;
    c->keep_alive = false;
    deadline_stop(&c->timer);
    bufferevent_disable(c->bev, EV_READ);
    if (c->rev)
        event_del(c->rev);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
        client_close(c);
    else
        client_flush(c);
}

void client_close(struct client_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->ex.active)
        exchange_abort(&c->ex);
    bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
    if (c->rev)
        event_del(c->rev);
    deadline_stop(&c->timer);
    /* Freed by the worker's reaper, after the current callback. */
    struct worker *w = c->worker;
    TAILQ_REMOVE(&w->clients, c, link);
    w->nclients--;
    TAILQ_INSERT_TAIL(&w->client_graveyard, c, link);
    event_active(w->reaper, 0, 0);
}

void client_free(struct client_conn *c)
{
    metrics_connections(c->worker->metrics, -1);
    exchange_free(&c->ex);
    if (c->rev)
        event_free(c->rev);   /* before the bufferevent closes the fd */
    bufferevent_free(c->bev);
    deadline_free(&c->timer);
    http_reader_free(&c->reader);
    free(c->body);
    free(c);
}
