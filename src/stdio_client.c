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
#include "http_bridge.h"
#include "jsonrpc.h"
#include "log.h"
#include "reply.h"
#include "utf8.h"

/* One message a desktop client sends may be this long, and one answer. */
#define STDIO_MAX_LINE (16 * 1024 * 1024)

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
    struct http_bridge *http;       /* the calls carrying the lines to the proxy (owned) */
    struct event *reaper;           /* frees the finished calls, after their callbacks */
    bool stdin_closed;
    bool holding; /* an initialize is in flight: later lines wait for its session */
    bool stopped;
    void (*stop)(void *);
    void *stop_arg;
};

/* Writes one JSON-RPC message to stdout as one line. */
static void write_line(void *arg, const char *json, size_t len)
{
    struct stdio_bridge *b = arg;
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

static void maybe_finish(struct stdio_bridge *b);

/* An HTTP error without a JSON-RPC answer: the request gets one that quotes
 * the start of the server's body. */
static void on_refused(void *arg, const char *id, size_t id_len, int status, const char *body, size_t len)
{
    struct stdio_bridge *b = arg;
    if (id) {
        char msg[512];
        int n = snprintf(msg, sizeof msg, "warden: the server answered HTTP %d: ", status);
        msg[(size_t)n + utf8_excerpt(body, len, msg + n, 300)] = '\0';
        http_bridge_error(b->http, id, id_len, RPC_INTERNAL_ERROR, msg);
    } else {
        log_warn("stdio: a message was refused with HTTP %d: %.*s", status, (int)(len < 300 ? len : 300),
                 body ? body : "");
    }
}

static void on_finished(void *arg, bool initialize)
{
    struct stdio_bridge *b = arg;
    if (initialize && b->holding) {
        /* The lines read meanwhile go on, now with the session. */
        b->holding = false;
        if (!b->stdin_closed)
            bufferevent_enable(b->in, EV_READ);
        bufferevent_trigger(b->in, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
    }
    event_active(b->reaper, 0, 0);
    maybe_finish(b);
}

static const struct http_bridge_ops stdio_bridge_ops = {write_line, on_refused, on_finished};

/* Stops warden once stdin has ended and nothing is in flight; a session the
 * server made is ended first (DELETE), as a network client would. */
static void maybe_finish(struct stdio_bridge *b)
{
    /* Lines still held behind an initialize are still to be sent. */
    if (!b->stdin_closed || b->stopped || b->holding || evbuffer_get_length(bufferevent_get_input(b->in)) > 0)
        return;
    if (http_bridge_awaited(b->http))
        return;
    /* Only the GET stream (and notifications) remain. */
    if (http_bridge_end_session(b->http, NULL))
        return;
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
        http_bridge_error(b->http, NULL, 0, err.code, err.message);
        return;
    }
    bool initialize = msg.method && strcmp(msg.method, "initialize") == 0;
    bool initialized = msg.method && strcmp(msg.method, "notifications/initialized") == 0;
    char *id = NULL;
    if (msg.kind == RPC_REQUEST && (id = malloc(msg.id_len)))
        memcpy(id, msg.id_text, msg.id_len);
    size_t id_len = msg.id_len;
    rpc_msg_clear(&msg);
    struct http_bridge_post post = {line, len, NULL, id, id_len, initialize};
    if (!http_bridge_post(b->http, &post)) {
        free(id);
        return;
    }
    if (initialize) {
        /* Every later message needs the session this answer brings (a client
         * waits for it; a file of requests does not). */
        b->holding = true;
        bufferevent_disable(b->in, EV_READ);
    }
    /* The server's own messages (notifications, requests) come on the GET stream. */
    if (initialized)
        http_bridge_open_stream(b->http, NULL);
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
    if (rest > STDIO_MAX_LINE) {
        http_bridge_error(b->http, NULL, 0, RPC_INVALID_REQUEST, "warden: message longer than the limit");
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
    http_bridge_reap(b->http);
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
    /* Path NULL: the first server's, as a reload leaves it. */
    struct http_bridge_conf hc = {
        .w = w, .host = "localhost", .addr = "stdio", .max_body = STDIO_MAX_LINE, .ops = &stdio_bridge_ops, .owner = b};
    b->http = http_bridge_new(&hc);
    if (!b->in || !b->out || !b->reaper || !b->http) {
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
    http_bridge_free(b->http);
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
