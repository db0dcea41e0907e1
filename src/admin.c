#include "admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/http.h>
#include "metrics.h"

struct admin {
    struct evhttp *http;
    struct metrics *metrics;
    admin_describe_fn describe;
    void *arg;
};

static void reply(struct evhttp_request *req, int status, const char *reason, const char *type, struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_send_reply(req, status, reason, body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    struct evbuffer *body = evbuffer_new();
    if (!body) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evbuffer_add_printf(body, "{\"error\":\"use GET\"}");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        reply(req, 405, "Method Not Allowed", "application/json", body);
    } else if (path && strcmp(path, "/metrics") == 0) {
        metrics_render(a->metrics, body);
        reply(req, 200, "OK", "text/plain; version=0.0.4", body);
    } else if (path && strcmp(path, "/healthz") == 0) {
        evbuffer_add_printf(body, "{\"status\":\"ok\",\"version\":\"%s\"}", WARDEN_VERSION);
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

struct admin *admin_start(struct event_base *base, const char *listen, struct metrics *m, admin_describe_fn describe,
                          void *arg, char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    char host[256];
    if (!colon || colon == listen || (size_t)(colon - listen) >= sizeof host || !colon[1]) {
        snprintf(err, errlen, "--admin %s: must be HOST:PORT", listen);
        return NULL;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    char *h = host;
    size_t hl = strlen(h);
    if (hl > 2 && h[0] == '[' && h[hl - 1] == ']') {
        h[hl - 1] = '\0';
        h++;
    }
    int port = atoi(colon + 1);
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
    evhttp_set_max_headers_size(a->http, 8192);
    evhttp_set_max_body_size(a->http, 0);
    evhttp_set_timeout(a->http, 10);
    if (port < 1 || port > 65535 || evhttp_bind_socket(a->http, h, (unsigned short)port) != 0) {
        snprintf(err, errlen, "--admin %s: cannot listen there", listen);
        admin_free(a);
        return NULL;
    }
    return a;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    evhttp_free(a->http);
    free(a);
}
