#include "stdio_client.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>
#include <event2/buffer.h>
#include "client.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "reply.h"
#include "sse.h"
#include "utf8.h"

/* One message a desktop client sends may be this long. */
#define BRIDGE_MAX_LINE (16 * 1024 * 1024)

struct bridge_call;
TAILQ_HEAD(bridge_call_list, bridge_call);

/* A thread copying between a descriptor epoll refuses (a regular file,
 * /dev/null) and a pipe the event loop can watch. The thread closes `own`
 * (its end of the pipe) when it ends: on EOF or an error on either side; a
 * detached pump also frees itself then. */
struct pump {
    int from, to, own;
    bool detached;
    pthread_t thread;
};

struct stdio_bridge {
    struct worker *w;
    struct bufferevent *in;         /* stdin, or the pipe its pump fills */
    struct bufferevent *out;        /* stdout, or the pipe its pump drains */
    int in_pipe;                    /* our end of stdin's pump pipe, or -1; closed by us */
    int out_fd;                     /* the descriptor b->out writes to */
    struct pump *out_pump;          /* NULL when stdout is watched directly; joined at the end */
    char session[256];              /* Mcp-Session-Id from the initialize answer */
    char protocol_version[64];      /* from the initialize answer */
    struct bridge_call_list calls;
    struct bridge_call_list done;   /* finished calls, freed after their callbacks */
    struct event *reaper;
    bool stdin_closed;
    bool holding;                   /* an initialize is in flight: later lines wait for its session */
    bool stream_opened;
    bool deleting;
    bool stopped;
    void (*stop)(void *);
    void *stop_arg;
};

/* One message in flight: our end of an in-process HTTP connection. */
struct bridge_call {
    struct stdio_bridge *b;
    struct bufferevent *end;
    struct http_reader reader;
    struct sse_parser sse;
    bool is_sse;
    struct evbuffer *body;
    char *id_text;                  /* the request's id, to answer it when the HTTP answer is an error */
    size_t id_len;
    bool is_initialize;
    bool finished;
    TAILQ_ENTRY(bridge_call) link;
};

/* Writes one JSON-RPC message to stdout as one line. */
static void write_line(struct stdio_bridge *b, const char *json, size_t len)
{
    json_append_line(bufferevent_get_output(b->out), json, len);
}

/* Copies the start of s[0..len) into out (cap bytes at most) as UTF-8: a
 * server's bytes go into a JSON string, which must stay valid UTF-8, and a
 * cut never splits a character. Returns the length written. */
static size_t utf8_excerpt(const char *s, size_t len, char *out, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        size_t l = utf8_seq_len(p + i, len - i);
        const char *piece = l ? s + i : UTF8_REPLACEMENT;
        size_t plen = l ? l : 3;
        if (n + plen > cap)
            break;
        memcpy(out + n, piece, plen);
        n += plen;
        i += l ? l : 1;
    }
    return n;
}

static void write_error(struct stdio_bridge *b, const char *id, size_t id_len, int code, const char *message)
{
    struct evbuffer *buf = evbuffer_new();
    if (!buf)
        return;
    reply_format_rpc_error(buf, id, id_len, code, message);
    size_t len = evbuffer_get_length(buf);
    write_line(b, (const char *)evbuffer_pullup(buf, -1), len);
    evbuffer_free(buf);
}

static void maybe_finish(struct stdio_bridge *b);
static struct bridge_call *start_call(struct stdio_bridge *b, const char *method, const char *json, size_t len);

static void finish_call(struct bridge_call *call)
{
    if (call->finished)
        return;
    struct stdio_bridge *b = call->b;
    call->finished = true;
    if (call->is_initialize && b->holding) {
        /* The lines read meanwhile go on, now with the session. */
        b->holding = false;
        if (!b->stdin_closed)
            bufferevent_enable(b->in, EV_READ);
        bufferevent_trigger(b->in, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
    bufferevent_disable(call->end, EV_READ | EV_WRITE);
    bufferevent_setcb(call->end, NULL, NULL, NULL, NULL);
    TAILQ_REMOVE(&b->calls, call, link);
    TAILQ_INSERT_TAIL(&b->done, call, link);
    event_active(b->reaper, 0, 0);
    maybe_finish(b);
}

static int on_sse_event(void *arg, const struct sse_event *ev)
{
    struct bridge_call *call = arg;
    if (ev->has_data && ev->data_len > 0)
        write_line(call->b, ev->data, ev->data_len);
    return 0;
}

static int resp_on_head(void *owner)
{
    struct bridge_call *call = owner;
    const struct http_head *h = &call->reader.head;
    size_t len;
    const char *ct = http_header_get(h, "content-type", &len);
    if (ct && http_media_type_is(ct, len, "text/event-stream")) {
        call->is_sse = true;
        sse_init(&call->sse, call->b->w->cfg->limits.max_sse_event_bytes, on_sse_event, call);
    }
    const char *sid = http_header_get(h, "mcp-session-id", &len);
    if (call->is_initialize && h->status == 200 && sid && len < sizeof call->b->session) {
        memcpy(call->b->session, sid, len);
        call->b->session[len] = '\0';
    }
    return 0;
}

static int resp_on_body(void *owner, const char *at, size_t len)
{
    struct bridge_call *call = owner;
    if (call->is_sse)
        return sse_feed(&call->sse, at, len);
    if (evbuffer_get_length(call->body) + len > BRIDGE_MAX_LINE)
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
static void note_initialize_result(struct stdio_bridge *b, const char *json, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(json, len);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "result"),
                                                      "protocolVersion");
    if (cJSON_IsString(v) && strlen(v->valuestring) < sizeof b->protocol_version)
        snprintf(b->protocol_version, sizeof b->protocol_version, "%s", v->valuestring);
    cJSON_Delete(root);
}

/* The HTTP answer is complete: a JSON body becomes one line; an error status
 * without a JSON-RPC answer for our id becomes an error for it. */
static void deliver(struct bridge_call *call)
{
    struct stdio_bridge *b = call->b;
    int status = call->reader.head.status;
    size_t len = evbuffer_get_length(call->body);
    const char *body = len ? (const char *)evbuffer_pullup(call->body, -1) : NULL;
    const char *id;
    size_t id_len;
    bool answers_us = body && call->id_text && rpc_find_id(body, len, &id, &id_len) &&
                      rpc_id_equal(id, id_len, call->id_text, call->id_len);
    if (call->is_initialize && answers_us && status == 200)
        note_initialize_result(b, body, len);
    if (status >= 200 && status < 300 && body) {
        write_line(b, body, len);
    } else if (status >= 300 && call->id_text && !answers_us) {
        char msg[512];
        int n = snprintf(msg, sizeof msg, "warden: the server answered HTTP %d: ", status);
        msg[(size_t)n + utf8_excerpt(body, len, msg + n, 300)] = '\0';
        write_error(b, call->id_text, call->id_len, RPC_INTERNAL_ERROR, msg);
    } else if (body && answers_us) {
        write_line(b, body, len);
    } else if (status >= 300) {
        log_warn("stdio: a message was refused with HTTP %d: %.*s", status, (int)(len < 300 ? len : 300),
                 body ? body : "");
    }
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
                write_error(call->b, call->id_text, call->id_len, RPC_INTERNAL_ERROR,
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
        write_error(call->b, call->id_text, call->id_len, RPC_INTERNAL_ERROR, "warden: the answer was cut short");
    finish_call(call);
}

static void free_call(struct bridge_call *call)
{
    bufferevent_free(call->end);
    http_reader_free(&call->reader);
    if (call->is_sse)
        sse_free(&call->sse);
    evbuffer_free(call->body);
    free(call->id_text);
    free(call);
}

/* Sends one HTTP request over a new in-process connection to the proxy. */
static struct bridge_call *start_call(struct stdio_bridge *b, const char *method, const char *json, size_t len)
{
    struct worker *w = b->w;
    struct bufferevent *pair[2] = {NULL, NULL};
    struct bridge_call *call = calloc(1, sizeof *call);
    if (!call || bufferevent_pair_new(w->base, BEV_OPT_DEFER_CALLBACKS, pair) < 0 || !(call->body = evbuffer_new())) {
        if (pair[0]) {
            bufferevent_free(pair[0]);
            bufferevent_free(pair[1]);
        }
        free(call);
        return NULL;
    }
    if (!client_attach(w, pair[0], "stdio", false)) {
        bufferevent_free(pair[1]);
        evbuffer_free(call->body);
        free(call);
        return NULL;
    }
    call->b = b;
    call->end = pair[1];
    http_reader_init(&call->reader, HTTP_RESPONSE, &bridge_response_ops, call, 64 * 1024, 200);
    bufferevent_setcb(call->end, on_call_read, NULL, on_call_event, call);
    bufferevent_enable(call->end, EV_READ | EV_WRITE);
    TAILQ_INSERT_TAIL(&b->calls, call, link);
    const struct server_conf *sc = &w->cfg->servers[0];
    struct evbuffer *out = bufferevent_get_output(call->end);
    evbuffer_add_printf(out, "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json, text/event-stream\r\n",
                        method, sc->path);
    if (b->session[0])
        evbuffer_add_printf(out, "Mcp-Session-Id: %s\r\n", b->session);
    if (b->protocol_version[0])
        evbuffer_add_printf(out, "MCP-Protocol-Version: %s\r\n", b->protocol_version);
    if (json)
        evbuffer_add_printf(out, "Content-Type: application/json\r\nContent-Length: %zu\r\n", len);
    evbuffer_add(out, "Connection: close\r\n\r\n", 21);
    if (json)
        evbuffer_add(out, json, len);
    return call;
}

/* Stops warden once stdin has ended and nothing is in flight; a session the
 * server made is ended first (DELETE), as a network client would. */
static void maybe_finish(struct stdio_bridge *b)
{
    /* Lines still held behind an initialize are still to be sent. */
    if (!b->stdin_closed || b->stopped || b->holding || evbuffer_get_length(bufferevent_get_input(b->in)) > 0)
        return;
    struct bridge_call *call;
    TAILQ_FOREACH(call, &b->calls, link)
        if (call->id_text || call->is_initialize || b->deleting)
            return;
    /* Only the GET stream (and notifications) remain. */
    if (b->session[0] && !b->deleting) {
        b->deleting = true;
        if (start_call(b, "DELETE", NULL, 0))
            return;
    }
    b->stopped = true;
    b->stop(b->stop_arg);
}

/* One line from stdin: refused here if it is not one JSON-RPC message,
 * otherwise handed to the proxy, which applies the policies. */
static void handle_line(struct stdio_bridge *b, const char *line, size_t len)
{
    struct rpc_msg msg;
    struct rpc_error err;
    if (rpc_parse(line, len, &b->w->rpc_limits, &msg, &err) < 0) {
        write_error(b, NULL, 0, err.code, err.message);
        return;
    }
    bool initialize = msg.method && strcmp(msg.method, "initialize") == 0;
    bool initialized = msg.method && strcmp(msg.method, "notifications/initialized") == 0;
    char *id = NULL;
    if (msg.kind == RPC_REQUEST && (id = malloc(msg.id_len)))
        memcpy(id, msg.id_text, msg.id_len);
    size_t id_len = msg.id_len;
    rpc_msg_clear(&msg);
    struct bridge_call *call = start_call(b, "POST", line, len);
    if (!call) {
        if (id)
            write_error(b, id, id_len, RPC_INTERNAL_ERROR, "warden: out of memory");
        free(id);
        return;
    }
    call->id_text = id;
    call->id_len = id ? id_len : 0;
    call->is_initialize = initialize;
    if (initialize) {
        /* Every later message needs the session this answer brings (a client
         * waits for it; a file of requests does not). */
        b->holding = true;
        bufferevent_disable(b->in, EV_READ);
    }
    if (initialized && !b->stream_opened && b->session[0]) {
        /* The server's own messages (notifications, requests) come on the GET stream. */
        b->stream_opened = true;
        start_call(b, "GET", NULL, 0);
    }
}

/* One line of stdin, without its LF (and CR). */
static void take_line(struct stdio_bridge *b, char *line, size_t len)
{
    if (len && line[len - 1] == '\r')
        line[--len] = '\0';
    if (len)
        handle_line(b, line, len);
}

/* Handles the complete lines read, unless an initialize holds them; once
 * stdin has ended, what follows the last LF is a line too. */
static void drain_lines(struct stdio_bridge *b)
{
    struct evbuffer *in = bufferevent_get_input(b->in);
    char *line;
    size_t len;
    while (!b->holding && (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF))) {
        take_line(b, line, len);
        free(line);
    }
    if (b->holding)
        return;
    size_t rest = evbuffer_get_length(in);
    if (rest > BRIDGE_MAX_LINE) {
        write_error(b, NULL, 0, RPC_INVALID_REQUEST, "warden: message longer than the limit");
        evbuffer_drain(in, rest);
    } else if (rest && b->stdin_closed) {
        char *last = malloc(rest + 1);
        if (last && evbuffer_remove(in, last, rest) == (int)rest) {
            last[rest] = '\0';
            take_line(b, last, rest);
        }
        evbuffer_drain(in, evbuffer_get_length(in));
        free(last);
    }
}

static void on_stdin(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct stdio_bridge *b = arg;
    drain_lines(b);
    maybe_finish(b);
}

static void on_stdin_event(struct bufferevent *bev, short what, void *arg)
{
    struct stdio_bridge *b = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_disable(bev, EV_READ);
        b->stdin_closed = true;
        drain_lines(b);
        maybe_finish(b);
    }
}

static void on_stdout_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    struct stdio_bridge *b = arg;
    if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && !b->stopped) {
        log_warn("stdout closed: stopping");
        b->stdin_closed = true;
        b->stopped = true;
        b->stop(b->stop_arg);
    }
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct stdio_bridge *b = arg;
    struct bridge_call *call;
    while ((call = TAILQ_FIRST(&b->done))) {
        TAILQ_REMOVE(&b->done, call, link);
        free_call(call);
    }
}

static void *pump_run(void *arg)
{
    struct pump *p = arg;
    char buf[65536];
    for (;;) {
        ssize_t n = read(p->from, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        ssize_t off = 0;
        while (off < n) {
            ssize_t m = write(p->to, buf + off, (size_t)(n - off));
            if (m < 0 && errno == EINTR)
                continue;
            if (m <= 0)
                break;
            off += m;
        }
        if (off < n)
            break;
    }
    close(p->own);
    if (p->detached)
        free(p);
    return NULL;
}

/* 1 when epoll can watch fd (pipes, sockets, terminals), 0 when it refuses
 * it (regular files, /dev/null), -1 when that cannot be told. */
static int fd_pollable(int fd, uint32_t events)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0)
        return -1;
    struct epoll_event ev = {.events = events};
    int r = epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == 0 ? 1 : errno == EPERM ? 0 : -1;
    close(ep);
    return r;
}

/* Puts a pump between `fd` (stdin when reading, stdout when writing) and a
 * new pipe; returns the pipe end the event loop uses, or -1. The pump of
 * stdin is detached (it ends when stdin ends or the loop's end closes); the
 * pump of stdout goes to *joinable, to be joined once its pipe is closed. */
static int start_pump(int fd, bool reading, struct pump **joinable)
{
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0)
        return -1;
    struct pump *p = malloc(sizeof *p);
    if (!p) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    *p = reading ? (struct pump){.from = fd, .to = pipefd[1], .own = pipefd[1], .detached = true}
                 : (struct pump){.from = pipefd[0], .to = fd, .own = pipefd[0]};
    int loop_end = reading ? pipefd[0] : pipefd[1];
    /* The stdin pump frees itself: nothing waits for it. */
    if (reading) {
        pthread_attr_t attr;
        bool ok = pthread_attr_init(&attr) == 0;
        ok = ok && pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) == 0 &&
             pthread_create(&p->thread, &attr, pump_run, p) == 0;
        pthread_attr_destroy(&attr);
        if (!ok) {
            free(p);
            close(pipefd[0]);
            close(pipefd[1]);
            return -1;
        }
        return loop_end;
    }
    if (pthread_create(&p->thread, NULL, pump_run, p) != 0) {
        free(p);
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    *joinable = p;
    return loop_end;
}

/* The descriptor the loop watches for stdin (reading) or stdout: the stream
 * itself when epoll takes it, else a pipe with a pump. *piped tells which. */
static int loop_fd(int fd, bool reading, struct pump **joinable, bool *piped)
{
    int r = fd_pollable(fd, reading ? EPOLLIN : EPOLLOUT);
    *piped = r == 0;
    if (r < 0)
        return -1;
    return r ? fd : start_pump(fd, reading, joinable);
}

struct stdio_bridge *stdio_bridge_new(struct worker *w, void (*stop)(void *), void *stop_arg, char *err,
                                      size_t errlen)
{
    struct stdio_bridge *b = calloc(1, sizeof *b);
    if (!b) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    b->w = w;
    b->stop = stop;
    b->stop_arg = stop_arg;
    b->out_fd = b->in_pipe = -1;
    TAILQ_INIT(&b->calls);
    TAILQ_INIT(&b->done);
    bool in_piped, out_piped;
    int in_fd = loop_fd(STDIN_FILENO, true, NULL, &in_piped);
    b->out_fd = in_fd < 0 ? -1 : loop_fd(STDOUT_FILENO, false, &b->out_pump, &out_piped);
    if (in_fd < 0 || b->out_fd < 0) {
        snprintf(err, errlen, "cannot use stdin and stdout: %s", strerror(errno));
        if (in_fd >= 0 && in_piped)
            close(in_fd);
        free(b);
        return NULL;
    }
    if (in_piped)
        b->in_pipe = in_fd;
    evutil_make_socket_nonblocking(in_fd);
    evutil_make_socket_nonblocking(b->out_fd);
    /* Pipe ends are closed by stdio_bridge_free, not with their bufferevent:
     * libevent closes those only when the loop is freed, and the stdout pump
     * must see its EOF before that. */
    b->in = bufferevent_socket_new(w->base, in_fd, 0);
    b->out = bufferevent_socket_new(w->base, b->out_fd, 0);
    b->reaper = event_new(w->base, -1, 0, on_reap, b);
    if (!b->in || !b->out || !b->reaper) {
        snprintf(err, errlen, "cannot use stdin and stdout");
        stdio_bridge_free(b);
        return NULL;
    }
    bufferevent_setcb(b->in, on_stdin, NULL, on_stdin_event, b);
    bufferevent_setcb(b->out, NULL, NULL, on_stdout_event, b);
    bufferevent_enable(b->in, EV_READ);
    bufferevent_enable(b->out, EV_WRITE);
    return b;
}

void stdio_bridge_free(struct stdio_bridge *b)
{
    if (!b)
        return;
    struct bridge_call *call;
    while ((call = TAILQ_FIRST(&b->calls))) {
        TAILQ_REMOVE(&b->calls, call, link);
        free_call(call);
    }
    if (b->reaper)
        on_reap(-1, 0, b);
    if (b->in)
        bufferevent_free(b->in);
    if (b->in_pipe >= 0)
        close(b->in_pipe);   /* a stdin pump still copying gets EPIPE and ends */
    if (b->out) {
        /* What is still buffered for stdout is written before warden exits. */
        struct evbuffer *out = bufferevent_get_output(b->out);
        int flags = fcntl(b->out_fd, F_GETFL);
        if (flags >= 0)
            fcntl(b->out_fd, F_SETFL, flags & ~O_NONBLOCK);
        /* A bufferevent freezes the start of its output; only it may drain it, unless thawed. */
        evbuffer_unfreeze(out, 1);
        while (evbuffer_get_length(out) > 0 && evbuffer_write(out, b->out_fd) > 0)
            ;
        bufferevent_free(b->out);
    }
    if (b->out_pump) {
        close(b->out_fd);
        /* Its pipe is closed: the pump writes what is left and ends. */
        pthread_join(b->out_pump->thread, NULL);
        free(b->out_pump);
    }
    if (b->reaper)
        event_free(b->reaper);
    free(b);
}
