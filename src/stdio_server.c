#include "stdio_server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>
#include "client.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "proxy.h"
#include "reply.h"

/* One message line from a child may be this long (a tools/list of many tools). */
#define CHILD_MAX_LINE (16 * 1024 * 1024)
/* Server messages kept for a GET stream that is not open yet. */
#define CHILD_MAX_BACKLOG (4 * 1024 * 1024)
/* A session nobody used for this long ends, and its child with it. */
#define CHILD_IDLE_SECONDS (30 * 60)
/* A child that dies sooner than this after starting counts as a crash. */
#define CHILD_YOUNG_SECONDS 10.0
#define CHILD_MAX_BACKOFF 30.0

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct child_session *find_session(struct server_rt *s, const char *id)
{
    struct child_session *cs;
    TAILQ_FOREACH(cs, &s->children, link)
        if (strcmp(cs->id, id) == 0)
            return cs;
    return NULL;
}

/* Finds the executable the way a shell would, in the child's PATH (or warden's). */
static int resolve_command(const struct server_conf *sc, char *out, size_t outlen)
{
    const char *cmd = sc->command[0];
    if (strchr(cmd, '/')) {
        snprintf(out, outlen, "%s", cmd);
        return access(out, X_OK);
    }
    const char *path = NULL;
    for (char **e = sc->env; e && *e; e++)
        if (strncmp(*e, "PATH=", 5) == 0)
            path = *e + 5;
    if (!path)
        path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(out, outlen, "%.*s/%s", (int)dlen, dlen ? path : ".", cmd);
        if (access(out, X_OK) == 0)
            return 0;
        if (!colon)
            break;
        path = colon + 1;
    }
    return -1;
}

/* Sends a message from the child toward the client: on the stream of a
 * request waiting for it (a response), else on the first waiting request's
 * stream or the GET stream (notifications and server requests), else kept. */
static void route_child_message(struct child_session *cs, const char *line, size_t len)
{
    const char *id;
    size_t id_len;
    bool is_response = rpc_find_id(line, len, &id, &id_len) && !memmem(line, len, "\"method\"", 8);
    if (is_response) {
        struct exchange *ex;
        TAILQ_FOREACH(ex, &cs->pending, wait_link) {
            if (ex->has_id && rpc_id_equal(id, id_len, ex->id_text, ex->id_len)) {
                TAILQ_REMOVE(&cs->pending, ex, wait_link);
                ex->child_pending = false;
                ex->child = NULL;
                proxy_stream_message(ex, line, len);
                proxy_stream_end(ex);
                return;
            }
        }
    }
    struct exchange *carrier = TAILQ_FIRST(&cs->pending);
    if (!carrier)
        carrier = cs->stream;
    if (carrier) {
        proxy_stream_message(carrier, line, len);
        return;
    }
    if (evbuffer_get_length(cs->backlog) + len + 1 > CHILD_MAX_BACKLOG) {
        log_warn("server '%s' session %s: no stream open; dropping a server message", cs->server->conf->name, cs->id);
        return;
    }
    evbuffer_add(cs->backlog, line, len);
    evbuffer_add(cs->backlog, "\n", 1);
}

static void end_session(struct child_session *cs, const char *why);

static void on_child_stdout(struct bufferevent *bev, void *arg)
{
    struct child_session *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
        if (!line) {
            if (evbuffer_get_length(in) > CHILD_MAX_LINE)
                end_session(cs, "sent a line longer than the limit");
            return;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len > 0)
            route_child_message(cs, line, len);
        free(line);
        if (cs->ending)
            return;
    }
}

static void on_child_stderr(struct bufferevent *bev, void *arg)
{
    struct child_session *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
        log_info("server '%s' [%d]: %s", cs->server->conf->name, (int)cs->pid, line);
        free(line);
    }
    if (evbuffer_get_length(in) > 64 * 1024)
        evbuffer_drain(in, evbuffer_get_length(in));
}

static void on_child_event(struct bufferevent *bev, short what, void *arg)
{
    struct child_session *cs = arg;
    if (bev == cs->child_err) {
        bufferevent_disable(bev, EV_READ);
        return;
    }
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        end_session(cs, "exited");
}

static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    end_session(arg, "ended after being idle");
}

static void touch(struct child_session *cs)
{
    struct timeval tv = {.tv_sec = CHILD_IDLE_SECONDS};
    evtimer_add(cs->idle_timer, &tv);
}

/* Starts the child with only the configured environment, in its own process
 * group (so that its own children end with it), killed if warden dies. */
static struct child_session *spawn(struct server_rt *s, char *err, size_t errlen)
{
    const struct server_conf *sc = s->conf;
    char exe[4096];
    if (resolve_command(sc, exe, sizeof exe) < 0) {
        snprintf(err, errlen, "cannot run %s: not found or not executable", sc->command[0]);
        return NULL;
    }
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot create pipes: %s", strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (out[i] >= 0) close(out[i]);
            if (errp[i] >= 0) close(errp[i]);
        }
        return NULL;
    }
    static char *const empty_env[] = {NULL};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        /* Only async-signal-safe calls until execve. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        setpgid(0, 0);
        signal(SIGPIPE, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        dup2(in[0], 0);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        execve(exe, sc->command, sc->env ? sc->env : empty_env);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    close(errp[1]);
    if (pid < 0) {
        snprintf(err, errlen, "cannot start %s: %s", sc->command[0], strerror(errno));
        close(in[1]);
        close(out[0]);
        close(errp[0]);
        return NULL;
    }
    setpgid(pid, pid);
    struct worker *w = s->pool.worker;
    struct child_session *cs = calloc(1, sizeof *cs);
    if (cs) {
        cs->to_child = bufferevent_socket_new(w->base, in[1], BEV_OPT_CLOSE_ON_FREE);
        cs->from_child = bufferevent_socket_new(w->base, out[0], BEV_OPT_CLOSE_ON_FREE);
        cs->child_err = bufferevent_socket_new(w->base, errp[0], BEV_OPT_CLOSE_ON_FREE);
        cs->backlog = evbuffer_new();
        cs->idle_timer = evtimer_new(w->base, on_idle, cs);
    }
    if (!cs || !cs->to_child || !cs->from_child || !cs->child_err || !cs->backlog || !cs->idle_timer) {
        snprintf(err, errlen, "out of memory");
        kill(-pid, SIGKILL);
        if (cs) {
            if (cs->to_child) bufferevent_free(cs->to_child); else close(in[1]);
            if (cs->from_child) bufferevent_free(cs->from_child); else close(out[0]);
            if (cs->child_err) bufferevent_free(cs->child_err); else close(errp[0]);
            if (cs->backlog) evbuffer_free(cs->backlog);
            if (cs->idle_timer) event_free(cs->idle_timer);
            free(cs);
        } else {
            close(in[1]), close(out[0]), close(errp[0]);
        }
        waitpid(pid, NULL, 0);
        return NULL;
    }
    evutil_make_socket_nonblocking(in[1]);
    evutil_make_socket_nonblocking(out[0]);
    evutil_make_socket_nonblocking(errp[0]);
    cs->server = s;
    cs->pid = pid;
    cs->started = now_monotonic();
    TAILQ_INIT(&cs->pending);
    unsigned char rnd[16];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(rand() & 0xff);
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(cs->id + 2 * i, 3, "%02x", rnd[i]);
    bufferevent_setcb(cs->from_child, on_child_stdout, NULL, on_child_event, cs);
    bufferevent_setcb(cs->child_err, on_child_stderr, NULL, on_child_event, cs);
    bufferevent_setcb(cs->to_child, NULL, NULL, on_child_event, cs);
    bufferevent_enable(cs->from_child, EV_READ);
    bufferevent_enable(cs->child_err, EV_READ);
    bufferevent_enable(cs->to_child, EV_WRITE);
    TAILQ_INSERT_TAIL(&s->children, cs, link);
    touch(cs);
    log_info("server '%s': started %s [%d] for session %s", sc->name, sc->command[0], (int)pid, cs->id);
    return cs;
}

/* Writes one message to the child as one line. */
static void send_line(struct child_session *cs, const char *body, size_t len)
{
    json_append_line(bufferevent_get_output(cs->to_child), body, len);
    touch(cs);
}

/* Sends a request to its session's child and waits, on an event stream, for the answer. */
static void send_request(struct child_session *cs, struct exchange *ex)
{
    ex->child = cs;
    ex->child_pending = true;
    TAILQ_INSERT_TAIL(&cs->pending, ex, wait_link);
    proxy_stream_start(ex, cs->id);
    send_line(cs, ex->body, ex->body_len);
}

/* Answers a request whose server failed, on its stream when one was started. */
static void fail_request(struct exchange *ex, const char *what)
{
    char msg[512];
    proxy_server_error_text(ex->server, what, msg, sizeof msg);
    if (ex->head_sent) {
        struct evbuffer *b = evbuffer_new();
        if (b) {
            reply_format_rpc_error(b, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
            size_t blen = evbuffer_get_length(b);
            proxy_stream_message(ex, (const char *)evbuffer_pullup(b, -1), blen);
            evbuffer_free(b);
        }
        proxy_stream_end(ex);
        return;
    }
    reply_rpc_error(ex->client, 200, ex->id_text, ex->id_len, RPC_INTERNAL_ERROR, msg);
    client_finish_exchange(ex->client);
}

static void start_session(struct exchange *ex)
{
    struct server_rt *s = ex->server;
    char err[256];
    struct child_session *cs = spawn(s, err, sizeof err);
    if (!cs) {
        log_error("server '%s': %s", s->conf->name, err);
        fail_request(ex, err);
        return;
    }
    send_request(cs, ex);
}

static void on_spawn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct server_rt *s = arg;
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&s->spawn_waiting))) {
        TAILQ_REMOVE(&s->spawn_waiting, ex, wait_link);
        ex->child_pending = ex->spawn_wait = false;
        start_session(ex);
    }
}

/* Ends a session: its requests get an error, its stream ends, its child is
 * told to stop and is killed if it does not. */
static void end_session(struct child_session *cs, const char *why)
{
    if (cs->ending)
        return;
    struct server_rt *s = cs->server;
    cs->ending = true;
    TAILQ_REMOVE(&s->children, cs, link);
    TAILQ_INSERT_TAIL(&s->ending, cs, link);
    double age = now_monotonic() - cs->started;
    bool crashed = strcmp(why, "exited") == 0;
    if (crashed && age < CHILD_YOUNG_SECONDS) {
        s->crashes++;
        double backoff = 0.5;
        for (unsigned i = 1; i < s->crashes && backoff < CHILD_MAX_BACKOFF; i++)
            backoff *= 2;
        if (backoff > CHILD_MAX_BACKOFF)
            backoff = CHILD_MAX_BACKOFF;
        s->spawn_not_before = now_monotonic() + backoff;
    } else if (crashed) {
        s->crashes = 0;
    }
    log_info("server '%s' session %s: %s [%d]", s->conf->name, cs->id, why, (int)cs->pid);
    kill(-cs->pid, SIGTERM);
    bufferevent_disable(cs->from_child, EV_READ);
    bufferevent_disable(cs->to_child, EV_WRITE);
    evtimer_del(cs->idle_timer);
    char what[128];
    snprintf(what, sizeof what, "process %s", why);
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&cs->pending))) {
        TAILQ_REMOVE(&cs->pending, ex, wait_link);
        ex->child_pending = false;
        ex->child = NULL;
        fail_request(ex, what);
    }
    if (cs->stream) {
        struct exchange *stream = cs->stream;
        cs->stream = NULL;
        stream->child = NULL;
        proxy_stream_end(stream);
    }
}

static void free_session(struct child_session *cs)
{
    bufferevent_free(cs->to_child);
    bufferevent_free(cs->from_child);
    bufferevent_free(cs->child_err);
    evbuffer_free(cs->backlog);
    event_free(cs->idle_timer);
    free(cs);
}

int stdio_server_init(struct server_rt *s, struct worker *w)
{
    TAILQ_INIT(&s->children);
    TAILQ_INIT(&s->ending);
    TAILQ_INIT(&s->spawn_waiting);
    s->spawn_timer = evtimer_new(w->base, on_spawn_timer, s);
    return s->spawn_timer ? 0 : -1;
}

void stdio_server_post(struct exchange *ex, enum rpc_kind kind, bool is_initialize)
{
    struct server_rt *s = ex->server;
    struct client_conn *c = ex->client;
    if (is_initialize && !ex->session[0]) {
        double wait = s->spawn_not_before - now_monotonic();
        if (wait > 0) {
            /* Back-off after crashes: the new session starts when it is over. */
            ex->child_pending = ex->spawn_wait = true;
            TAILQ_INSERT_TAIL(&s->spawn_waiting, ex, wait_link);
            struct timeval tv = {.tv_sec = (time_t)wait, .tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
            if (!evtimer_pending(s->spawn_timer, NULL))
                evtimer_add(s->spawn_timer, &tv);
            return;
        }
        start_session(ex);
        return;
    }
    if (!ex->session[0]) {
        reply_rpc_error(c, 400, NULL, 0, RPC_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
        client_finish_exchange(c);
        return;
    }
    struct child_session *cs = find_session(s, ex->session);
    if (!cs) {
        reply_rpc_error(c, 404, NULL, 0, RPC_INVALID_REQUEST, "Session not found");
        client_finish_exchange(c);
        return;
    }
    if (kind == RPC_REQUEST) {
        send_request(cs, ex);
        return;
    }
    send_line(cs, ex->body, ex->body_len);
    reply_send(c, 202, "application/json", NULL, "", 0);
    client_finish_exchange(c);
}

void stdio_server_get(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    struct child_session *cs = ex->session[0] ? find_session(ex->server, ex->session) : NULL;
    if (!cs) {
        reply_rpc_error(c, ex->session[0] ? 404 : 400, NULL, 0, RPC_INVALID_REQUEST,
                        ex->session[0] ? "Session not found" : "Bad Request: Mcp-Session-Id header is required");
        client_finish_exchange(c);
        return;
    }
    if (cs->stream) {
        reply_rpc_error(c, 409, NULL, 0, RPC_INVALID_REQUEST, "Conflict: only one stream is allowed per session");
        client_finish_exchange(c);
        return;
    }
    cs->stream = ex;
    ex->child = cs;
    touch(cs);
    proxy_stream_start(ex, cs->id);
    size_t len;
    char *line;
    while ((line = evbuffer_readln(cs->backlog, &len, EVBUFFER_EOL_LF))) {
        proxy_stream_message(ex, line, len);
        free(line);
    }
}

void stdio_server_delete(struct exchange *ex)
{
    struct client_conn *c = ex->client;
    struct child_session *cs = ex->session[0] ? find_session(ex->server, ex->session) : NULL;
    if (!cs) {
        reply_rpc_error(c, 404, NULL, 0, RPC_INVALID_REQUEST, "Session not found");
        client_finish_exchange(c);
        return;
    }
    end_session(cs, "ended by the client");
    reply_send(c, 200, "application/json", NULL, "", 0);
    client_finish_exchange(c);
}

void stdio_server_cancel(struct exchange *ex)
{
    if (ex->spawn_wait) {
        TAILQ_REMOVE(&ex->server->spawn_waiting, ex, wait_link);
    } else if (ex->child_pending && ex->child) {
        TAILQ_REMOVE(&ex->child->pending, ex, wait_link);
    } else if (ex->child && ex->child->stream == ex) {
        ex->child->stream = NULL;
    }
    ex->child_pending = ex->spawn_wait = false;
    ex->child = NULL;
}

void stdio_server_reap(struct server_rt *s)
{
    struct child_session *cs, *next;
    TAILQ_FOREACH_SAFE(cs, &s->children, link, next) {
        int status;
        if (waitpid(cs->pid, &status, WNOHANG) == cs->pid) {
            kill(-cs->pid, SIGKILL);   /* whatever it started goes with it */
            end_session(cs, "exited");
            TAILQ_REMOVE(&s->ending, cs, link);
            free_session(cs);
        }
    }
    TAILQ_FOREACH_SAFE(cs, &s->ending, link, next) {
        int status;
        if (waitpid(cs->pid, &status, WNOHANG) == cs->pid) {
            kill(-cs->pid, SIGKILL);
            TAILQ_REMOVE(&s->ending, cs, link);
            free_session(cs);
        }
    }
}

void stdio_server_stop(struct server_rt *s)
{
    struct child_session *cs, *next;
    TAILQ_FOREACH_SAFE(cs, &s->children, link, next)
        end_session(cs, "ended: warden is stopping");
    /* Give children a moment to exit on SIGTERM, then kill what is left. */
    for (int tries = 0; tries < 40 && !TAILQ_EMPTY(&s->ending); tries++) {
        TAILQ_FOREACH_SAFE(cs, &s->ending, link, next) {
            if (waitpid(cs->pid, NULL, WNOHANG) == cs->pid) {
                kill(-cs->pid, SIGKILL);
                TAILQ_REMOVE(&s->ending, cs, link);
                free_session(cs);
            }
        }
        if (!TAILQ_EMPTY(&s->ending))
            usleep(50 * 1000);
    }
    while ((cs = TAILQ_FIRST(&s->ending))) {
        kill(-cs->pid, SIGKILL);
        waitpid(cs->pid, NULL, 0);
        TAILQ_REMOVE(&s->ending, cs, link);
        free_session(cs);
    }
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&s->spawn_waiting))) {
        TAILQ_REMOVE(&s->spawn_waiting, ex, wait_link);
        ex->child_pending = ex->spawn_wait = false;
        fail_request(ex, "was not started: warden is stopping");
    }
    if (s->spawn_timer) {
        event_free(s->spawn_timer);
        s->spawn_timer = NULL;
    }
}
