#include "upstream_stdio.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>
#include "exchange.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"
#include "upstream_session.h"

/* One message line from a child may be this long (a tools/list of many tools). */
#define CHILD_MAX_LINE (16 * 1024 * 1024)
/* Messages waiting for a child to read its stdin; past this, new ones are
 * refused (a child that does not read must not make warden hold everything). */
#define CHILD_MAX_UNREAD (8 * 1024 * 1024)
/* Server messages kept for a GET stream that is not open yet. */
#define CHILD_MAX_BACKLOG (4 * 1024 * 1024)
/* A session with no request in progress and no stream open ends after this
 * long: a 2025-era session outlives any one connection, so it is the silence
 * that ends it, not a closed connection. */
#define CHILD_IDLE_SECONDS 300
/* Sooner when its last exchange ended because the client went away. */
#define CHILD_ORPHAN_SECONDS 30
/* An ending child that ignores SIGTERM is killed after this long. */
#define CHILD_KILL_SECONDS 5
/* A child that dies sooner than this after starting counts as a crash. */
#define CHILD_YOUNG_SECONDS 10.0
#define CHILD_MAX_BACKOFF 30.0

/* One session of a stdio server: a child process of its own, so that
 * sessions cannot see each other's state. Owned by its server runtime
 * (upstream_session.h); freed once its process has been reaped. */
struct child_session {
    struct upstream_session sess;   /* its requests, the client's stream, the backlog; anonymous when modern */
    pid_t pid;                      /* also its process group */
    struct bufferevent *to_child;   /* its stdin */
    struct bufferevent *from_child; /* its stdout: one JSON-RPC message per line; sess.in */
    struct bufferevent *child_err;  /* its stderr, copied to warden's log */
    struct event *idle_timer;       /* armed while nothing is open on the session; once ending, the SIGKILL deadline */
    double started;                 /* CLOCK_MONOTONIC seconds */
    double last_used;               /* CLOCK_MONOTONIC seconds of the last exchange that ended */
};

static void end_session(struct upstream_session *us, enum upstream_failure kind, const char *why);
static const struct upsess_ops child_session_ops;

static double now_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A child for session-less 2026-07-28 requests with nothing in progress:
 * the revision keeps no state between requests, so any such child may serve
 * any client, one request at a time (ids of different clients never meet). */
static struct child_session *idle_modern_child(struct server_rt *s)
{
    struct upstream_session *us;
    TAILQ_FOREACH(us, &s->sessions, link)
        if (us->anonymous && TAILQ_EMPTY(&us->pending))
            return us->owner;
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

/* The session's hook (upstream_session.h): an exchange that leaves it is its
 * last use; the idle clock runs while nothing is open. */
static void on_changed(struct upstream_session *us, struct exchange *gone)
{
    struct child_session *cs = us->owner;
    if (gone)
        cs->last_used = now_monotonic();
    upsess_idle_clock(us, cs->idle_timer, CHILD_IDLE_SECONDS);
}

/* A progress token as cJSON prints it (so that "a" and "\u0061" compare
 * equal); NULL when there is none. The caller frees it. */
static char *token_text(const cJSON *params, bool in_meta)
{
    const cJSON *holder = in_meta ? cJSON_GetObjectItemCaseSensitive(params, "_meta") : params;
    const cJSON *token = cJSON_GetObjectItemCaseSensitive(holder, "progressToken");
    return cJSON_IsString(token) || cJSON_IsNumber(token) ? cJSON_PrintUnformatted(token) : NULL;
}

/* The waiting request a notifications/progress is about, or NULL. */
static struct exchange *progress_owner(struct child_session *cs, struct rpc_msg *msg)
{
    const cJSON *params;
    if (strcmp(msg->method, "notifications/progress") != 0 || rpc_msg_params(msg, &params) < 0)
        return NULL;
    char *token = token_text(params, false);
    struct exchange *ex = NULL;
    if (token)
        TAILQ_FOREACH(ex, &cs->sess.pending, wait_link)
            if (ex->progress_token && strcmp(ex->progress_token, token) == 0)
                break;
    free(token);
    return ex;
}

/* Sends a message from the child toward the client, read strictly first: a
 * response goes to the request of the session that sent its id (and ends
 * that request), progress to the request that asked for it, anything else on
 * the first waiting request's stream or the GET stream, or is kept for a
 * stream. Responses nobody is waiting for, and
 * unreadable lines that name no waiting request, are dropped. */
static void route_line(struct child_session *cs, const char *line, size_t len)
{
    const struct server_rt *s = cs->sess.server;
    const struct server_conf *sc = s->conf;
    struct rpc_limits lim = {.max_depth = s->worker->rpc_limits.max_depth, .max_string = CHILD_MAX_LINE,
                             .max_members = CHILD_MAX_LINE};
    struct rpc_msg msg;
    struct rpc_error err;
    bool strict = rpc_parse(line, len, &lim, &msg, &err) == 0;
    const char *id;
    size_t id_len;
    if (!strict && !rpc_find_id(line, len, &id, &id_len)) {
        log_warn("server '%s' session %s: dropped a line that is not one JSON-RPC message (%s)", sc->name, cs->sess.id,
                 err.message);
        return;
    }
    if (strict) {
        id = msg.id_text;
        id_len = msg.id_len;
    }
    /* An unreadable line that names a waiting request's id goes to it, whose
     * answer then fails at once (exchange.c judges it) instead of at its deadline. */
    if (!strict || msg.kind == RPC_RESPONSE) {
        struct exchange *ex = upsess_waiting(&cs->sess, id, id_len);
        rpc_msg_clear(&msg);
        if (!ex && !strict) {
            log_warn("server '%s' session %s: dropped a line that is not one JSON-RPC message (%s)", sc->name,
                     cs->sess.id, err.message);
            return;
        }
        if (!ex) {
            log_warn("server '%s' session %s: dropped a response to an id no request is waiting for", sc->name,
                     cs->sess.id);
            return;
        }
        upsess_answer(ex, line, len);
        return;
    }
    struct exchange *carrier = msg.kind == RPC_NOTIFICATION ? progress_owner(cs, &msg) : NULL;
    rpc_msg_clear(&msg);
    if (!carrier)
        carrier = TAILQ_FIRST(&cs->sess.pending);
    if (!carrier)
        carrier = cs->sess.stream;
    if (carrier) {
        /* The child is working on it: its deadline is now the stream's idle time. */
        exchange_expect(carrier, sc->sse_idle_timeout_ms, "sent nothing for");
        exchange_message(carrier, line, len);
        exchange_flush(carrier);
        return;
    }
    if (!upsess_keep(&cs->sess, line, len))
        log_warn("server '%s' session %s: no stream open; dropping a server message", sc->name, cs->sess.id);
}

static void on_child_stdout(struct bufferevent *bev, void *arg)
{
    struct child_session *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!cs->sess.ending && cs->sess.paused == 0) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
        if (!line) {
            if (evbuffer_get_length(in) > CHILD_MAX_LINE)
                end_session(&cs->sess, UPSTREAM_OVERSIZE, "sent a line longer than the limit");
            return;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len > 0)
            route_line(cs, line, len);
        free(line);
    }
}

static void on_child_stderr(struct bufferevent *bev, void *arg)
{
    struct child_session *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char *line;
    size_t len;
    while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF))) {
        log_info("server '%s' [%d]: %s", cs->sess.server->conf->name, (int)cs->pid, line);
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
        end_session(&cs->sess, UPSTREAM_EXITED, "exited");
}

/* A quiet session ends; an ending child that is still there is killed. */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct child_session *cs = arg;
    if (cs->sess.ending) {
        kill(-cs->pid, SIGKILL);
        return;
    }
    end_session(&cs->sess, UPSTREAM_RESET, "ended after being idle");
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
    char id[33];
    if (upsess_make_id(id) < 0) {
        snprintf(err, errlen, "cannot make a session id: no random bytes from the kernel (%s)", strerror(errno));
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
    /* Found before fork: sysconf is not async-signal-safe. */
    long open_max = sysconf(_SC_OPEN_MAX);
    int fd_limit = open_max > 0 && open_max < 65536 ? (int)open_max : 65536;
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
        /* The child gets its three pipes and nothing else of warden's: a
         * descriptor without close-on-exec (a client connection, an upstream
         * socket) held by it would outlive warden's close of it, and a
         * client reusing that connection would wait for an answer forever. */
        if (close_range(3, ~0U, 0) < 0)
            for (int fd = 3; fd < fd_limit; fd++)
                close(fd);
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
    struct worker *w = s->worker;
    struct child_session *cs = calloc(1, sizeof *cs);
    if (cs) {
        cs->to_child = bufferevent_socket_new(w->base, in[1], BEV_OPT_CLOSE_ON_FREE);
        cs->from_child = bufferevent_socket_new(w->base, out[0], BEV_OPT_CLOSE_ON_FREE);
        cs->child_err = bufferevent_socket_new(w->base, errp[0], BEV_OPT_CLOSE_ON_FREE);
        cs->idle_timer = evtimer_new(w->base, on_idle, cs);
    }
    if (!cs || !cs->to_child || !cs->from_child || !cs->child_err || !cs->idle_timer ||
        upsess_init(&cs->sess, s, cs, &child_session_ops, id, cs->from_child, CHILD_MAX_BACKLOG) < 0) {
        snprintf(err, errlen, "out of memory");
        kill(-pid, SIGKILL);
        if (cs) {
            if (cs->to_child) bufferevent_free(cs->to_child); else close(in[1]);
            if (cs->from_child) bufferevent_free(cs->from_child); else close(out[0]);
            if (cs->child_err) bufferevent_free(cs->child_err); else close(errp[0]);
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
    cs->pid = pid;
    cs->started = cs->last_used = now_monotonic();
    bufferevent_setcb(cs->from_child, on_child_stdout, NULL, on_child_event, cs);
    bufferevent_setcb(cs->child_err, on_child_stderr, NULL, on_child_event, cs);
    bufferevent_setcb(cs->to_child, NULL, NULL, on_child_event, cs);
    bufferevent_enable(cs->from_child, EV_READ);
    bufferevent_enable(cs->child_err, EV_READ);
    bufferevent_enable(cs->to_child, EV_WRITE);
    upsess_add(&cs->sess);
    metrics_sessions(s->worker->metrics, sc->name, +1);
    log_info("server '%s': started %s [%d] for session %s", sc->name, sc->command[0], (int)pid, cs->sess.id);
    return cs;
}

/* Writes one message to the child as one line; false (and nothing written)
 * when the child has left too much unread. */
static bool send_line(struct child_session *cs, const char *body, size_t len)
{
    struct evbuffer *out = bufferevent_get_output(cs->to_child);
    if (evbuffer_get_length(out) + len + 1 > CHILD_MAX_UNREAD)
        return false;
    json_append_line(out, body, len);
    return true;
}

static void refuse_unread(struct exchange *ex)
{
    exchange_failed(ex, UPSTREAM_BUSY, "is not reading its input (8 MiB of messages wait for it)");
}

/* Sends a request to its session's child and waits, on an event stream, for
 * the answer: no longer than the first-byte timeout, and while the child
 * sends things for it, no longer than the idle timeout between them. */
static void send_request(struct child_session *cs, struct exchange *ex)
{
    if (!upsess_id_free(&cs->sess, ex))
        return;
    if (!send_line(cs, ex->body, ex->body_len)) {
        refuse_unread(ex);
        return;
    }
    struct rpc_msg msg;
    struct rpc_error err;
    const cJSON *params;
    if (rpc_parse(ex->body, ex->body_len, &cs->sess.server->worker->rpc_limits, &msg, &err) == 0) {
        if (rpc_msg_params(&msg, &params) == 0)
            ex->progress_token = token_text(params, true);
        rpc_msg_clear(&msg);
    }
    upsess_wait(&cs->sess, ex);
}

/* Ends the least recently used session with nothing open, to make room. */
static bool evict_idle(struct server_rt *s)
{
    struct child_session *lru = NULL;
    struct upstream_session *us;
    TAILQ_FOREACH(us, &s->sessions, link) {
        struct child_session *cs = us->owner;
        if (upsess_idle(us) && (!lru || cs->last_used < lru->last_used))
            lru = cs;
    }
    if (!lru)
        return false;
    end_session(&lru->sess, UPSTREAM_BUSY, "ended to make room for a new session (max_connections reached)");
    return true;
}

static void start_session(struct exchange *ex)
{
    struct server_rt *s = ex->server;
    if (s->nsessions >= s->conf->max_connections && !evict_idle(s)) {
        exchange_failed(ex, UPSTREAM_BUSY, "has no room for another session (max_connections reached)");
        return;
    }
    char err[256];
    struct child_session *cs = spawn(s, err, sizeof err);
    if (!cs) {
        log_error("server '%s': %s", s->conf->name, err);
        exchange_failed(ex, UPSTREAM_CONNECT, err);
        return;
    }
    cs->sess.anonymous = ex->era.modern && !ex->session[0];
    send_request(cs, ex);
}

static void on_spawn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct server_rt *s = arg;
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&s->spawn_waiting))) {
        TAILQ_REMOVE(&s->spawn_waiting, ex, wait_link);
        ex->spawn_wait = false;
        start_session(ex);
    }
}

/* Ends a session: its requests fail (kind says how, for the metrics), its
 * stream ends, its child is told to stop and killed if it does not. */
static void end_session(struct upstream_session *us, enum upstream_failure kind, const char *why)
{
    struct child_session *cs = us->owner;
    if (us->ending)
        return;
    struct server_rt *s = us->server;
    metrics_sessions(s->worker->metrics, s->conf->name, -1);
    double age = now_monotonic() - cs->started;
    bool crashed = kind == UPSTREAM_EXITED;
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
    log_info("server '%s' session %s: %s [%d]", s->conf->name, cs->sess.id, why, (int)cs->pid);
    kill(-cs->pid, SIGTERM);
    bufferevent_disable(cs->from_child, EV_READ);
    bufferevent_disable(cs->to_child, EV_WRITE);
    struct timeval kill_after = {.tv_sec = CHILD_KILL_SECONDS};
    evtimer_add(cs->idle_timer, &kill_after);
    char what[160];
    snprintf(what, sizeof what, "process %s", why);
    upsess_end(&cs->sess, kind, what);
}

static void free_session(struct child_session *cs)
{
    /* A read callback deferred by upsess_resume() must not run on a freed session. */
    bufferevent_setcb(cs->from_child, NULL, NULL, NULL, NULL);
    bufferevent_setcb(cs->child_err, NULL, NULL, NULL, NULL);
    bufferevent_setcb(cs->to_child, NULL, NULL, NULL, NULL);
    bufferevent_free(cs->to_child);
    bufferevent_free(cs->from_child);
    bufferevent_free(cs->child_err);
    upsess_clear(&cs->sess);
    event_free(cs->idle_timer);
    free(cs);
}

static int stdio_init(struct server_rt *s, struct worker *w)
{
    TAILQ_INIT(&s->sessions);
    TAILQ_INIT(&s->ended);
    s->nsessions = 0;
    TAILQ_INIT(&s->spawn_waiting);
    s->spawn_timer = evtimer_new(w->base, on_spawn_timer, s);
    return s->spawn_timer ? 0 : -1;
}

/* After notifications/cancelled the child owes no answer (SDK servers send
 * none): the cancelled request's stream ends now, without one, rather than
 * at its deadline; an answer the child sends anyway is dropped as stray. */
static void end_cancelled(struct child_session *cs, const char *body, size_t len)
{
    struct rpc_msg msg;
    struct rpc_error err;
    const cJSON *params;
    if (rpc_parse(body, len, &cs->sess.server->worker->rpc_limits, &msg, &err) < 0)
        return;
    if (rpc_msg_params(&msg, &params) < 0) {
        rpc_msg_clear(&msg);
        return;
    }
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
    char *text = msg.method && strcmp(msg.method, "notifications/cancelled") == 0 && rid ? cJSON_PrintUnformatted(rid) : NULL;
    struct exchange *ex = text ? upsess_waiting(&cs->sess, text, strlen(text)) : NULL;
    free(text);
    rpc_msg_clear(&msg);
    if (!ex)
        return;
    upsess_detach(ex);
    ex->answered_id = true;
    exchange_stream_end(ex);
}

static void request_hook(struct upstream_session *us, struct exchange *ex)
{
    send_request(us->owner, ex);
}

/* A notification or response for the child; a notifications/cancelled also
 * ends the stream of the request it cancels. */
static bool message_hook(struct upstream_session *us, struct exchange *ex, enum rpc_kind kind)
{
    struct child_session *cs = us->owner;
    if (!send_line(cs, ex->body, ex->body_len)) {
        refuse_unread(ex);
        return false;
    }
    cs->last_used = now_monotonic();
    upsess_idle_clock(us, cs->idle_timer, CHILD_IDLE_SECONDS);
    if (kind == RPC_NOTIFICATION)
        end_cancelled(cs, ex->body, ex->body_len);
    return true;
}

static const struct upsess_ops child_session_ops = {request_hook, message_hook, end_session, on_changed};

/* A POST that needs no session yet: `initialize` starts a session and its
 * child, and so does a session-less 2026-07-28 request when no stateless
 * child is idle. False for a message to an existing session. */
static bool stdio_post_sessionless(struct exchange *ex, const struct upstream_request *req)
{
    struct server_rt *s = ex->server;
    /* A 2026-07-28 request without a session: any idle stateless child, or a new one. */
    bool modern = ex->era.modern && !ex->session[0];
    if (modern && req->kind != RPC_REQUEST) {
        /* 2026-07-28 defines no client notification over HTTP: nothing to deliver it to. */
        exchange_answer(ex, 202, NULL, "", 0);
        return true;
    }
    struct child_session *idle = modern ? idle_modern_child(s) : NULL;
    if (idle) {
        send_request(idle, ex);
        return true;
    }
    if (!(req->is_initialize || modern) || ex->session[0])
        return false;
    double wait = s->spawn_not_before - now_monotonic();
    if (wait > 0) {
        /* Back-off after crashes: the new session starts when it is over. */
        ex->spawn_wait = true;
        TAILQ_INSERT_TAIL(&s->spawn_waiting, ex, wait_link);
        struct timeval tv = {.tv_sec = (time_t)wait, .tv_usec = (suseconds_t)((wait - (double)(time_t)wait) * 1e6)};
        if (!evtimer_pending(s->spawn_timer, NULL))
            evtimer_add(s->spawn_timer, &tv);
        return true;
    }
    start_session(ex);
    return true;
}

/* GET opens the session's stream, with what the child said while none was
 * open, and counts its silence; DELETE ends the session. */
static void stdio_forward(struct exchange *ex, const struct upstream_request *req)
{
    if (req->head->method == HTTP_POST && (!upsess_keep_body(ex, req) || stdio_post_sessionless(ex, req)))
        return;
    upsess_forward(ex, req, ex->server->conf->sse_idle_timeout_ms, "ended by the client");
}

static void stdio_cancel(struct exchange *ex)
{
    if (ex->spawn_wait) {
        TAILQ_REMOVE(&ex->server->spawn_waiting, ex, wait_link);
        ex->spawn_wait = false;
        return;
    }
    struct upstream_session *us = ex->upsess;
    upsess_detach(ex);
    if (!us)
        return;
    if (us->anonymous) {
        /* A request left a stateless child before its answer (its client
         * went, its deadline passed): the child is still working on it, and
         * idle_modern_child would hand it the next request of any client,
         * whose id (every SDK client counts from 0) the late answer, or its
         * progress, would then match. It serves no one else. */
        end_session(us, UPSTREAM_RESET, "ended: a request left it before its answer");
        return;
    }
    /* A client that went away mid-exchange may not come back: its session's silence counts from now, and is shorter. */
    if (ex->client->dead)
        upsess_idle_clock(us, ((struct child_session *)us->owner)->idle_timer, CHILD_ORPHAN_SECONDS);
}

/* Nothing to close early: sessions end with the worker (shutdown). */
static void stdio_quiesce(struct server_rt *s)
{
    (void)s;
}

/* Frees an ended session once its child has been waited for. */
static void free_ended(struct child_session *cs)
{
    TAILQ_REMOVE(&cs->sess.server->ended, &cs->sess, link);
    free_session(cs);
}

/* Collects children that exited (SIGCHLD). */
static void stdio_reap(struct server_rt *s)
{
    struct upstream_session *us, *next;
    TAILQ_FOREACH_SAFE(us, &s->sessions, link, next) {
        struct child_session *cs = us->owner;
        int status;
        if (waitpid(cs->pid, &status, WNOHANG) == cs->pid) {
            kill(-cs->pid, SIGKILL);   /* whatever it started goes with it */
            end_session(&cs->sess, UPSTREAM_EXITED, "exited");
            free_ended(cs);
        }
    }
    TAILQ_FOREACH_SAFE(us, &s->ended, link, next) {
        struct child_session *cs = us->owner;
        int status;
        if (waitpid(cs->pid, &status, WNOHANG) == cs->pid) {
            kill(-cs->pid, SIGKILL);
            free_ended(cs);
        }
    }
}

/* Ends every child and waits for them: no process is left behind. */
static void stdio_shutdown(struct server_rt *s)
{
    struct upstream_session *us, *next;
    TAILQ_FOREACH_SAFE(us, &s->sessions, link, next)
        end_session(us, UPSTREAM_INTERNAL, "ended: warden is stopping");
    /* Give children a moment to exit on SIGTERM, then kill what is left. */
    for (int tries = 0; tries < 40 && !TAILQ_EMPTY(&s->ended); tries++) {
        TAILQ_FOREACH_SAFE(us, &s->ended, link, next) {
            struct child_session *cs = us->owner;
            if (waitpid(cs->pid, NULL, WNOHANG) == cs->pid) {
                kill(-cs->pid, SIGKILL);
                free_ended(cs);
            }
        }
        if (!TAILQ_EMPTY(&s->ended))
            usleep(50 * 1000);
    }
    while ((us = TAILQ_FIRST(&s->ended))) {
        struct child_session *cs = us->owner;
        kill(-cs->pid, SIGKILL);
        waitpid(cs->pid, NULL, 0);
        free_ended(cs);
    }
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&s->spawn_waiting))) {
        TAILQ_REMOVE(&s->spawn_waiting, ex, wait_link);
        ex->spawn_wait = false;
        exchange_failed(ex, UPSTREAM_INTERNAL, "was not started: warden is stopping");
    }
    if (s->spawn_timer) {
        event_free(s->spawn_timer);
        s->spawn_timer = NULL;
    }
}

const struct transport upstream_stdio_transport = {
    .name = "stdio",
    .runs_children = true,
    .init = stdio_init,
    .forward = stdio_forward,
    .cancel = stdio_cancel,
    .pause = upsess_pause,
    .resume = upsess_resume,
    .quiesce = stdio_quiesce,
    .reap = stdio_reap,
    .shutdown = stdio_shutdown,
};
