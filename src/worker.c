#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "client.h"
#include "exchange.h"
#include "log.h"
#include "toolmeta.h"
#include "proxy.h"
#include "state.h"
#include "reload.h"
#include "upstream_http.h"
#include "upstream_stdio.h"

/* Idle upstream connections close before a Node.js server's 5 s keep-alive
 * timeout would, so a request is never written into a closing connection. */
#define POOL_IDLE_MS 4000

static struct timeval tv_ms(unsigned ms)
{
    return (struct timeval){.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
}

/* Resolves host:port once at start; warden never resolves on the request path. */
static int resolve(const char *host, uint16_t port, struct sockaddr_storage *out, socklen_t *len, char *err,
                   size_t errlen, const char *what)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    const char *h = host;
    char unbracketed[256];
    size_t hl = strlen(host);
    if (hl > 2 && host[0] == '[' && host[hl - 1] == ']' && hl - 2 < sizeof unbracketed) {
        memcpy(unbracketed, host + 1, hl - 2);
        unbracketed[hl - 2] = '\0';
        h = unbracketed;
    }
    int rc = getaddrinfo(h, portstr, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "%s: cannot resolve %s: %s", what, host, gai_strerror(rc));
        return -1;
    }
    memcpy(out, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* Answers a connection over the limit at once, without letting it hold a slot. */
static void refuse_over_limit(evutil_socket_t fd)
{
    static const char answer[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                 "Content-Length: 94\r\nConnection: close\r\n\r\n"
                                 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32603,"
                                 "\"message\":\"warden: too many connections\"}}";
    ssize_t n = send(fd, answer, sizeof answer - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)n;
    evutil_closesocket(fd);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int socklen, void *arg)
{
    (void)l;
    struct worker *w = arg;
    if (w->stopping || w->nclients >= w->cfg->limits.max_connections) {
        refuse_over_limit(fd);
        return;
    }
    client_accept(w, fd, sa, socklen);
}

static void on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l, (void)arg;
    log_warn("accept failed: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* Frees what was closed during the last callbacks, in one place. */
static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    struct client_conn *c;
    while ((c = TAILQ_FIRST(&w->client_graveyard))) {
        TAILQ_REMOVE(&w->client_graveyard, c, link);
        client_free(c);
    }
    if (w->stopping && w->nclients == 0)
        event_base_loopexit(w->base, NULL);
}

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    for (size_t i = 0; i < w->nservers; i++)
        if (w->servers[i].transport->runs_children)
            w->servers[i].transport->reap(&w->servers[i]);
}

static void on_grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    log_warn("worker %d: %zu connection(s) still open after the shutdown grace period; closing them", w->index,
             w->nclients);
    struct client_conn *c, *next;
    TAILQ_FOREACH_SAFE(c, &w->clients, link, next)
        client_close(c);
    event_base_loopexit(w->base, NULL);
}

/* Stops accepting, closes idle connections, ends event streams, and lets
 * requests in flight finish within the grace period. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    if (w->stopping)
        return;
    w->stopping = true;
    if (w->listener) {
        evconnlistener_free(w->listener);
        w->listener = NULL;
    }
    struct client_conn *c, *next;
    TAILQ_FOREACH_SAFE(c, &w->clients, link, next) {
        if (c->state == CLIENT_BUSY)
            exchange_stopping(&c->ex);
        else
            client_close(c);
    }
    for (size_t i = 0; i < w->nservers; i++)
        w->servers[i].transport->quiesce(&w->servers[i]);
    struct timeval grace = tv_ms(w->cfg->limits.shutdown_grace_ms);
    evtimer_add(w->grace_timer, &grace);
    event_active(w->reaper, 0, 0);
}

evutil_socket_t worker_listen_socket(const struct config *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (resolve(cfg->listen_host, cfg->listen_port, &ss, &sslen, err, errlen, "listen") < 0)
        return -1;
    evutil_socket_t fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    /* SO_REUSEADDR only lets a restart bind over connections in TIME_WAIT; it
     * never admits a second listener. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        snprintf(err, errlen, "cannot create a socket: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
        if (fd >= 0)
            evutil_closesocket(fd);
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) < 0 || listen(fd, 4096) < 0) {
        int e = EVUTIL_SOCKET_ERROR();
        if (e == EADDRINUSE)
            snprintf(err, errlen,
                     "cannot listen on %s:%u: the port is already in use by another process (another warden?); "
                     "warden does not share its port: stop the other process or choose another port",
                     cfg->listen_host, cfg->listen_port);
        else
            snprintf(err, errlen, "cannot listen on %s:%u: %s", cfg->listen_host, cfg->listen_port,
                     evutil_socket_error_to_string(e));
        evutil_closesocket(fd);
        return -1;
    }
    return fd;
}

int worker_init(struct worker *w, int index, const struct config *cfg, evutil_socket_t listen_fd,
                struct rate_store *rates, struct shared_store *shared, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->index = index;
    w->cfg = cfg;
    w->rates = rates;
    w->shared = shared;
    TAILQ_INIT(&w->clients);
    TAILQ_INIT(&w->client_graveyard);
    w->rpc_limits.max_depth = cfg->limits.max_json_depth;
    w->on_request = proxy_handle;
    w->on_policies_changed = exchange_notify_list_changed;
    /* The changelist folds an event added and removed in one loop iteration into no syscall. */
    struct event_config *ec = event_config_new();
    if (ec)
        event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    w->base = ec ? event_base_new_with_config(ec) : NULL;
    if (ec)
        event_config_free(ec);
    if (!w->base) {
        snprintf(err, errlen, "cannot create an event loop");
        return -1;
    }
    w->reaper = event_new(w->base, -1, 0, on_reap, w);
    w->stop_event = event_new(w->base, -1, 0, on_stop, w);
    w->grace_timer = evtimer_new(w->base, on_grace_over, w);
    w->reload_event = event_new(w->base, -1, 0, reload_on_event, w);
    if (!w->reaper || !w->stop_event || !w->grace_timer || !w->reload_event) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct timeval t;
    t = tv_ms(cfg->limits.header_timeout_ms);
    w->tv_header = event_base_init_common_timeout(w->base, &t);
    t = tv_ms(cfg->limits.body_timeout_ms);
    w->tv_body = event_base_init_common_timeout(w->base, &t);
    t = tv_ms(cfg->limits.keepalive_timeout_ms);
    w->tv_keepalive = event_base_init_common_timeout(w->base, &t);
    t = tv_ms(POOL_IDLE_MS);
    w->tv_pool_idle = event_base_init_common_timeout(w->base, &t);

    w->servers = calloc(cfg->nservers, sizeof *w->servers);
    if (!w->servers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->nservers = cfg->nservers;
    for (size_t i = 0; i < cfg->nservers; i++) {
        struct server_rt *s = &w->servers[i];
        s->conf = &cfg->servers[i];
        s->worker = w;
        /* The one place a server's transport is chosen. */
        s->transport = s->conf->command ? &upstream_stdio_transport : &upstream_http_transport;
        if (s->transport->init(s, w) < 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (s->transport->runs_children) {
            if (!w->sigchld) {
                w->sigchld = evsignal_new(w->base, SIGCHLD, on_sigchld, w);
                if (!w->sigchld || evsignal_add(w->sigchld, NULL) < 0) {
                    snprintf(err, errlen, "cannot watch child processes");
                    return -1;
                }
            }
        }
        if (s->conf->url && resolve(s->conf->host, s->conf->port, &s->addr, &s->addr_len, err, errlen,
                                    s->conf->url) < 0)
            return -1;
    }

    if (listen_fd >= 0) {
        /* Each loop watches its own descriptor of the one shared socket.
         * Accepted connections are close-on-exec: a stdio child holding a
         * copy would keep a connection warden closed open to its client. */
        evutil_socket_t fd = fcntl(listen_fd, F_DUPFD_CLOEXEC, 0);
        if (fd < 0 || !(w->listener = evconnlistener_new(w->base, on_accept, w,
                                                         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd))) {
            if (fd >= 0)
                evutil_closesocket(fd);
            snprintf(err, errlen, "cannot watch the listening socket: %s",
                     evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
            return -1;
        }
        evconnlistener_set_error_cb(w->listener, on_accept_error);
    }
    return 0;
}

void worker_run(struct worker *w)
{
    event_base_dispatch(w->base);
}

void worker_request_stop(struct worker *w)
{
    event_active(w->stop_event, 0, 0);
}

void worker_free(struct worker *w)
{
    struct client_conn *c, *next;
    TAILQ_FOREACH_SAFE(c, &w->clients, link, next)
        client_close(c);
    on_reap(-1, 0, w);
    for (size_t i = 0; i < w->nservers; i++) {
        if (w->servers[i].transport)
            w->servers[i].transport->shutdown(&w->servers[i]);
        if (w->servers[i].gen)
            policy_gen_release(w->servers[i].gen);
        toolmeta_free(w->servers[i].tool_meta);
    }
    state_free(w->state);
    if (w->reload_event)
        event_free(w->reload_event);
    if (w->sigchld)
        event_free(w->sigchld);
    if (w->listener)
        evconnlistener_free(w->listener);
    free(w->servers);
    if (w->reaper)
        event_free(w->reaper);
    if (w->stop_event)
        event_free(w->stop_event);
    if (w->grace_timer)
        event_free(w->grace_timer);
    if (w->base)
        event_base_free(w->base);
    memset(w, 0, sizeof *w);
}

