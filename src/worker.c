#include "worker.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include "answer_memo.h"
#include "client.h"
#include "confdiff.h"
#include "exchange.h"
#include "log.h"
#include "toolmeta.h"
#include "proxy.h"
#include "pins_sync.h"
#include "state.h"
#include "reload.h"
#include "upstream_http.h"
#include "upstream_sse.h"
#include "upstream_stdio.h"

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
        if (w->servers[i]->transport->runs_children)
            w->servers[i]->transport->reap(w->servers[i]);
    for (size_t i = 0; i < w->nretired; i++)
        if (w->retired[i]->transport->runs_children)
            w->retired[i]->transport->reap(w->retired[i]);
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
        w->servers[i]->transport->quiesce(w->servers[i]);
    for (size_t i = 0; i < w->nretired; i++)
        w->retired[i]->transport->quiesce(w->retired[i]);
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

/* Frees a server runtime and what it owns, ending its sessions. */
static void server_free(struct server_rt *s)
{
    if (s->transport)
        s->transport->shutdown(s);
    if (s->gen)
        policy_gen_release(s->gen);
    toolmeta_free(s->tool_meta);
    if (s->cgen)
        config_gen_release(s->cgen);
    free(s);
}

/* Builds the runtime of server sc for w, its transport started (without
 * policies); cgen, when not NULL, is the generation sc belongs to, and gains
 * a reference. Returns NULL with a message in err. */
static struct server_rt *server_start(struct worker *w, const struct server_conf *sc, struct config_gen *cgen,
                                      char *err, size_t errlen)
{
    struct server_rt *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->conf = sc;
    s->worker = w;
    if (cgen) {
        s->cgen = cgen;
        cgen->refs++;
    }
    /* The one place a server's transport is chosen. */
    /* The one place a server's transport is chosen. */
    const struct transport *t = sc->command      ? &upstream_stdio_transport
                                : sc->legacy_sse ? &upstream_sse_transport
                                                 : &upstream_http_transport;
    s->transport = t;
    if (t->init(s, w) < 0) {
        snprintf(err, errlen, "out of memory");
        server_free(s);
        return NULL;
    }
    if (t->runs_children && !w->sigchld) {
        w->sigchld = evsignal_new(w->base, SIGCHLD, on_sigchld, w);
        if (!w->sigchld || evsignal_add(w->sigchld, NULL) < 0) {
            snprintf(err, errlen, "cannot watch child processes");
            server_free(s);
            return NULL;
        }
    }
    if (sc->url && resolve(sc->host, sc->port, &s->addr, &s->addr_len, err, errlen, sc->url) < 0) {
        server_free(s);
        return NULL;
    }
    return s;
}

/* True when some client's exchange still points at s (exchange_reset clears
 * ex.server when an exchange ends). */
static bool server_in_use(const struct worker *w, const struct server_rt *s)
{
    const struct client_list *lists[] = {&w->clients, &w->client_graveyard};
    for (size_t i = 0; i < 2; i++)
        for (const struct client_conn *c = TAILQ_FIRST(lists[i]); c; c = TAILQ_NEXT(c, link))
            if (c->ex.server == s)
                return true;
    return false;
}

/* Frees the retired servers nothing uses any more. */
static void on_retire_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    size_t kept = 0;
    for (size_t i = 0; i < w->nretired; i++) {
        if (server_in_use(w, w->retired[i])) {
            w->retired[kept++] = w->retired[i];
            continue;
        }
        log_info("worker %d: server %s removed by a reload: its last exchange has ended", w->index,
                 w->retired[i]->conf->name);
        server_free(w->retired[i]);
    }
    w->nretired = kept;
    if (kept == 0)
        evtimer_del(w->retire_timer);
}

int worker_sync_servers(struct worker *w, struct config_gen *g, unsigned long number, char *err, size_t errlen)
{
    const struct config *cfg = &g->cfg;
    struct server_rt **next = calloc(cfg->nservers ? cfg->nservers : 1, sizeof *next);
    bool *reused = calloc(w->nservers ? w->nservers : 1, sizeof *reused);
    struct server_rt **retired = realloc(w->retired, (w->nretired + w->nservers + 1) * sizeof *retired);
    if (retired)
        w->retired = retired;
    if (!next || !reused || !retired) {
        free(next);
        free(reused);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    bool *fresh = calloc(cfg->nservers ? cfg->nservers : 1, sizeof *fresh);
    int rc = fresh ? 0 : -1;
    if (!fresh)
        snprintf(err, errlen, "out of memory");
    for (size_t i = 0; rc == 0 && i < cfg->nservers; i++) {
        const struct server_conf *sc = &cfg->servers[i];
        for (size_t k = 0; k < w->nservers && !next[i]; k++) {
            if (!reused[k] && strcmp(w->servers[k]->conf->name, sc->name) == 0 &&
                confdiff_server_equal(w->servers[k]->conf, sc)) {
                reused[k] = true;
                next[i] = w->servers[k];
            }
        }
        if (next[i])
            continue;
        /* New, or changed: a runtime of its own, with its policies, before anything is swapped. */
        if (!(next[i] = server_start(w, sc, g, err, errlen))) {
            rc = -1;
            break;
        }
        fresh[i] = true;
        next[i]->tls = g->tls ? g->tls[i] : NULL;
        rc = reload_load_server(next[i], number, err, errlen);
    }
    if (rc < 0) {
        for (size_t i = 0; fresh && i < cfg->nservers; i++)
            if (fresh[i])
                server_free(next[i]);
        free(next);
        free(reused);
        free(fresh);
        return -1;
    }
    /* Servers gone or changed stop taking requests now; what is in flight on them finishes. */
    for (size_t k = 0; k < w->nservers; k++) {
        if (reused[k])
            continue;
        w->servers[k]->transport->quiesce(w->servers[k]);
        w->retired[w->nretired++] = w->servers[k];
    }
    free(w->servers);
    w->servers = next;
    w->nservers = cfg->nservers;
    free(reused);
    free(fresh);
    if (w->nretired) {
        struct timeval second = {.tv_sec = 1, .tv_usec = 0};
        event_add(w->retire_timer, &second);
        on_retire_check(-1, 0, w);
    }
    return 0;
}

/* reload_event: the reloader asks for generation w->reload_to, after
 * applying the servers of the config in servers_to, when there is one. */
static void on_reload(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    char err[8192];
    unsigned long number = w->reload_to;
    struct config_gen *g = atomic_exchange(&w->servers_to, NULL);
    if (g) {
        if (worker_sync_servers(w, g, number, err, sizeof err) < 0)
            log_error("worker %d: the servers of the re-read config failed to start; the previous ones stay: %s",
                      w->index, err);
        config_gen_release(g);
    }
    if (reload_load_worker(w, number, err, sizeof err) < 0)
        log_error("worker %d: policies of generation %lu failed to load; the previous ones stay in force:\n%s",
                  w->index, number, err);
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
    w->reload_event = event_new(w->base, -1, 0, on_reload, w);
    w->retire_timer = event_new(w->base, -1, EV_PERSIST, on_retire_check, w);
    if (!w->reaper || !w->stop_event || !w->grace_timer || !w->reload_event || !w->retire_timer) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->servers = calloc(cfg->nservers ? cfg->nservers : 1, sizeof *w->servers);
    if (!w->servers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->nservers; i++) {
        if (!(w->servers[i] = server_start(w, &cfg->servers[i], NULL, err, errlen)))
            return -1;
        w->nservers++;
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
    for (size_t i = 0; i < w->nservers; i++)
        server_free(w->servers[i]);
    for (size_t i = 0; i < w->nretired; i++)
        server_free(w->retired[i]);
    free(w->retired);
    struct config_gen *pending = atomic_exchange(&w->servers_to, NULL);
    if (pending)
        config_gen_release(pending);
    if (w->retire_timer)
        event_free(w->retire_timer);
    pins_sync_free(w->pins_sync);
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
    if (w->scratch)
        evbuffer_free(w->scratch);
    answer_memo_free(w->answer_memo);
    if (w->base)
        event_base_free(w->base);
    memset(w, 0, sizeof *w);
}

