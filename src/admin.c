#include "admin.h"
#include "state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <event2/http.h>
#include "console.h"
#include "metrics.h"

struct admin {
    struct evhttp *http;                 /* owned */
    struct evhttp_bound_socket *sock;    /* owned by http */
    struct metrics *metrics;
    admin_describe_fn describe;
    void *arg;
    struct console *console;             /* borrowed; may be NULL */
    struct state_health *state;          /* borrowed; NULL without a shared state store */
    admin_route_fn route;                /* more routes (approval_http.c), tried first; NULL: none */
    admin_metrics_fn more_metrics;       /* more families for /metrics; NULL: none */
    void *route_arg;
};

void admin_set_state(struct admin *a, struct state_health *h)
{
    a->state = h;
}

void admin_set_console(struct admin *a, struct console *c)
{
    a->console = c;
}

void admin_set_bevcb(struct admin *a, admin_bev_fn make_bev, void *arg)
{
    evhttp_set_bevcb(a->http, make_bev, arg);
}

static void reply(struct evhttp_request *req, int status, const char *reason, const char *type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    evhttp_send_reply(req, status, reason, body);
}

/* Answers every request of the admin port. */
static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    if (a->console && console_handle(a->console, req))
        return;
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (a->route && path && a->route(a->route_arg, req, path)) {
        evbuffer_free(body);
        return;
    }
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evbuffer_add_printf(body, "{\"error\":\"method not allowed: use GET\"}");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        reply(req, 405, "Method Not Allowed", "application/json", body);
    } else if (path && strcmp(path, "/metrics") == 0) {
        metrics_render(a->metrics, body);
        if (a->state)
            state_health_render(a->state, body);
        if (a->more_metrics)
            a->more_metrics(a->route_arg, body);
        reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", body);
    } else if (path && strcmp(path, "/healthz") == 0) {
        if (a->state)
            evbuffer_add_printf(body, "{\"status\":\"ok\",\"state\":\"%s\"}",
                                state_health_up(a->state) ? "up" : "down");
        else
            evbuffer_add_printf(body, "{\"status\":\"ok\"}");
        reply(req, 200, "OK", "application/json", body);
    } else if (path && strcmp(path, "/policies") == 0) {
        a->describe(a->arg, body);
        reply(req, 200, "OK", "application/json", body);
    } else {
        evbuffer_add_printf(body, "{\"error\":\"not found\"}");
        reply(req, 404, "Not Found", "application/json", body);
    }
    evbuffer_free(body);
}

/* Splits "HOST:PORT" or "[V6]:PORT" into host and port; returns -1 when malformed. */
static int parse_listen(const char *listen, char *host, size_t hostlen, int *port)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1])
        return -1;
    const char *h = listen;
    size_t hl = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
    } else if (memchr(h, ':', hl)) {
        return -1;   /* an IPv6 address needs brackets */
    }
    if (hl >= hostlen)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end;
    errno = 0;
    long p = strtol(colon + 1, &end, 10);
    if (errno || *end || p < 0 || p > 65535 || colon[1] == '-' || colon[1] == '+')
        return -1;
    *port = (int)p;
    return 0;
}

struct admin *admin_start(struct event_base *base, const char *listen, struct metrics *m, admin_describe_fn describe,
                          void *arg, char *err, size_t errlen)
{
    char host[256];
    int port;
    if (parse_listen(listen, host, sizeof host, &port) < 0) {
        snprintf(err, errlen, "--admin %s: must be HOST:PORT (an IPv6 address in brackets)", listen);
        return NULL;
    }
    if (!describe) {
        snprintf(err, errlen, "--admin %s: no describe callback for /policies", listen);
        return NULL;
    }
    struct admin *a = calloc(1, sizeof *a);
    if (!a || !(a->http = evhttp_new(base))) {
        free(a);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->metrics = m;
    a->describe = describe;
    a->arg = arg;
    evhttp_set_gencb(a->http, on_request, a);
    /* Every method reaches on_request, which answers 405 itself; evhttp would say 501. */
    evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE |
                                            EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    /* evhttp has no limits by default: small ones, since nothing here takes a body but a login form. */
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 4096);
    evhttp_set_timeout(a->http, 10);
    if (!(a->sock = evhttp_bind_socket_with_handle(a->http, host, (unsigned short)port))) {
        snprintf(err, errlen, "--admin %s: cannot listen there: %s", listen, strerror(errno));
        admin_free(a);
        return NULL;
    }
    return a;
}

void admin_add_routes(struct admin *a, admin_route_fn route, admin_metrics_fn more_metrics, void *arg)
{
    a->route = route;
    a->more_metrics = more_metrics;
    a->route_arg = arg;
}

int admin_port(const struct admin *a)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);   /* a family getsockname left unset reads as none, not as garbage */
    socklen_t len = sizeof ss;
    if (getsockname(evhttp_bound_socket_get_fd(a->sock), (struct sockaddr *)&ss, &len) != 0)
        return 0;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return 0;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    evhttp_free(a->http);
    free(a);
}
