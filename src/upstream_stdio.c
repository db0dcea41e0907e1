#include "upstream_stdio.h"

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
#include "exchange.h"
#include "http.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "reply.h"

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

static void end_session(struct child_session *cs, const char *why, enum upstream_failure kind);

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
    if (!cs->modern && strcmp(cs->id, id) == 0)
        return cs;
    return NULL;
}

/* A child for session-less 2026-07-28 requests with nothing in progress:
 * the revision keeps no state between requests, so any such child may serve
 * any client, one request at a time (ids of different clients never meet). */
static struct child_session *idle_modern_child(struct server_rt *s)
{
    struct child_session *cs;
    TAILQ_FOREACH(cs, &s->children, link)
    if (cs->modern && !cs->ending && TAILQ_EMPTY(&cs->pending))
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

/* Starts the session's idle clock when nothing is open on it any more, and
 * stops it while something is. */
static void update_idle(struct child_session *cs, int seconds)
{
    if (cs->ending)
        return;
    if (TAILQ_EMPTY(&cs->pending) && !cs->stream) {
        struct timeval tv = {.tv_sec = seconds};
        evtimer_add(cs->idle_timer, &tv);
    } else {
        evtimer_del(cs->idle_timer);
    }
}

/* Lets the child's stdout be read again once no client of the session is slow. */
static void unpause(struct exchange *ex)
{
    struct child_session *cs = ex->child;
    if (!ex->child_paused)
        return;
    ex->child_paused = false;
    if (--cs->paused > 0 || cs->ending)
        return;
    bufferevent_enable(cs->from_child, EV_READ);
    /* Lines already read wait in the input: have them handled, outside this call. */
    if (evbuffer_get_length(bufferevent_get_input(cs->from_child)) > 0)
        bufferevent_trigger(cs->from_child, EV_READ, BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* Takes ex off its session (pending request or stream). */
static void detach(struct exchange *ex, int idle_seconds)
{
    struct child_session *cs = ex->child;
    if (!cs)
        return;
    unpause(ex);
    if (ex->child_pending)
        TAILQ_REMOVE(&cs->pending, ex, wait_link);
    else if (cs->stream == ex)
        cs->stream = NULL;
    ex->child_pending = false;
    ex->child = NULL;
    cs->last_used = now_monotonic();
    update_idle(cs, idle_seconds);
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
        TAILQ_FOREACH(ex, &cs->pending, wait_link)
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
    const struct server_conf *sc = cs->server->conf;
    struct rpc_limits lim = {.max_depth = cs->server->worker->rpc_limits.max_depth, .max_string = CHILD_MAX_LINE,
                             .max_members = CHILD_MAX_LINE};
    struct rpc_msg msg;
    struct rpc_error err;
    bool strict = rpc_parse(line, len, &lim, &msg, &err) == 0;
    const char *id;
    size_t id_len;
    if (!strict && !rpc_find_id(line, len, &id, &id_len)) {
        log_warn("server '%s' session %s: dropped a line that is not one JSON-RPC message (%s)", sc->name, cs->id,
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
        struct exchange *ex;
        TAILQ_FOREACH(ex, &cs->pending, wait_link)
            if (ex->has_id && rpc_id_equal(id, id_len, ex->id_text, ex->id_len))
                break;
        rpc_msg_clear(&msg);
        if (!ex && !strict) {
            log_warn("server '%s' session %s: dropped a line that is not one JSON-RPC message (%s)", sc->name, cs->id,
                     err.message);
            return;
        }
        if (!ex) {
            log_warn("server '%s' session %s: dropped a response to an id no request is waiting for", sc->name,
                     cs->id);
            return;
        }
        detach(ex, CHILD_IDLE_SECONDS);
        exchange_message(ex, line, len);
        exchange_stream_end(ex);
        return;
    }
    struct exchange *carrier = msg.kind == RPC_NOTIFICATION ? progress_owner(cs, &msg) : NULL;
    rpc_msg_clear(&msg);
    if (!carrier)
        carrier = TAILQ_FIRST(&cs->pending);
    if (!carrier)
        carrier = cs->stream;
    if (carrier) {
        /* The child is working on it: its deadline is now the stream's idle time. */
        exchange_expect(carrier, sc->sse_idle_timeout_ms, "sent nothing for");
        exchange_message(carrier, line, len);
        exchange_flush(carrier);
        return;
    }
    if (evbuffer_get_length(cs->backlog) + len + 1 > CHILD_MAX_BACKLOG) {
        log_warn("server '%s' session %s: no stream open; dropping a server message", sc->name, cs->id);
        return;
    }
    json_append_line(cs->backlog, line, len);
}

static void on_child_stdout(struct bufferevent *bev, void *arg)
{
    struct child_session *cs = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    while (!cs->ending && cs->paused == 0) {
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
        if (!line) {
            if (evbuffer_get_length(in) > CHILD_MAX_LINE)
                end_session(cs, "sent a line longer than the limit", UPSTREAM_OVERSIZE);
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
        end_session(cs, "exited", UPSTREAM_EXITED);
}

/* A quiet session ends; an ending child that is still there is killed. */
static void on_idle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct child_session *cs = arg;
    if (cs->ending) {
        kill(-cs->pid, SIGKILL);
        return;
    }
    end_session(cs, "ended after being idle", UPSTREAM_RESET);
}

/* A session id of 128 random bits in hex: it is the session's only
 * credential, so without random bytes there is no session (no guessable id). */
static int make_session_id(char out[33])
{
    unsigned char rnd[16];
    size_t got = 0;
    while (got < sizeof rnd) {
        /* Without flags it waits for the pool once at boot, never after; a signal may cut it short. */
        ssize_t n = getrandom(rnd + got, sizeof rnd - got, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    for (size_t i = 0; i < sizeof rnd; i++)
        snprintf(out + 2 * i, 3, "%02x", rnd[i]);
    return 0;
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
    if (make_session_id(id) < 0) {
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
    cs->started = cs->last_used = now_monotonic();
    TAILQ_INIT(&cs->pending);
    memcpy(cs->id, id, sizeof id);
    bufferevent_setcb(cs->from_child, on_child_stdout, NULL, on_child_event, cs);
    bufferevent_setcb(cs->child_err, on_child_stderr, NULL, on_child_event, cs);
    bufferevent_setcb(cs->to_child, NULL, NULL, on_child_event, cs);
    bufferevent_enable(cs->from_child, EV_READ);
    bufferevent_enable(cs->child_err, EV_READ);
    bufferevent_enable(cs->to_child, EV_WRITE);
    TAILQ_INSERT_TAIL(&s->children, cs, link);
    s->nchildren++;
    metrics_sessions(s->worker->metrics, sc->name, +1);
    log_info("server '%s': started %s [%d] for session %s", sc->name, sc->command[0], (int)pid, cs->id);
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
    struct exchange *other;
    TAILQ_FOREACH(other, &cs->pending, wait_link) {
        if (other->has_id && rpc_id_equal(other->id_text, other->id_len, ex->id_text, ex->id_len)) {
            /* Its answer could not be told from the other's. */
            exchange_answer_for_id(ex, RPC_INVALID_REQUEST,
                                   "warden: a request with this id is already in progress on this session");
            return;
        }
    }
    if (!send_line(cs, ex->body, ex->body_len)) {
        refuse_unread(ex);
        return;
    }
    struct rpc_msg msg;
    struct rpc_error err;
    const cJSON *params;
    if (rpc_parse(ex->body, ex->body_len, &cs->server->worker->rpc_limits, &msg, &err) == 0) {
        if (rpc_msg_params(&msg, &params) == 0)
            ex->progress_token = token_text(params, true);
        rpc_msg_clear(&msg);
    }
    ex->child = cs;
    ex->child_pending = true;
    TAILQ_INSERT_TAIL(&cs->pending, ex, wait_link);
    update_idle(cs, CHILD_IDLE_SECONDS);
    exchange_stream_start(ex, cs->modern ? NULL : cs->id);
    exchange_expect(ex, cs->server->conf->first_byte_timeout_ms, "did not answer within");
    exchange_flush(ex);
}

/* Ends the least recently used session with nothing open, to make room. */
static bool evict_idle(struct server_rt *s)
{
    struct child_session *cs, *lru = NULL;
    TAILQ_FOREACH(cs, &s->children, link)
        if (TAILQ_EMPTY(&cs->pending) && !cs->stream && (!lru || cs->last_used < lru->last_used))
            lru = cs;
    if (!lru)
        return false;
    end_session(lru, "ended to make room for a new session (max_connections reached)", UPSTREAM_BUSY);
    return true;
}

static void start_session(struct exchange *ex)
{
    struct server_rt *s = ex->server;
    if (s->nchildren >= s->conf->max_connections && !evict_idle(s)) {
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
    cs->modern = ex->era.modern && !ex->session[0];
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

/* Ends a session: its requests fail (kind says how, for the metrics), its
 * stream ends, its child is told to stop and killed if it does not. */
static void end_session(struct child_session *cs, const char *why, enum upstream_failure kind)
{
    if (cs->ending)
        return;
    struct server_rt *s = cs->server;
    cs->ending = true;
    TAILQ_REMOVE(&s->children, cs, link);
    TAILQ_INSERT_TAIL(&s->ending, cs, link);
    s->nchildren--;
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
    log_info("server '%s' session %s: %s [%d]", s->conf->name, cs->id, why, (int)cs->pid);
    kill(-cs->pid, SIGTERM);
    bufferevent_disable(cs->from_child, EV_READ);
    bufferevent_disable(cs->to_child, EV_WRITE);
    struct timeval kill_after = {.tv_sec = CHILD_KILL_SECONDS};
    evtimer_add(cs->idle_timer, &kill_after);
    char what[160];
    snprintf(what, sizeof what, "process %s", why);
    struct exchange *ex;
    while ((ex = TAILQ_FIRST(&cs->pending))) {
        detach(ex, 0);
        exchange_failed(ex, kind, what);
    }
    if (cs->stream) {
        struct exchange *stream = cs->stream;
        detach(stream, 0);
        exchange_stream_end(stream);
    }
}

static void free_session(struct child_session *cs)
{
    /* A read callback deferred by unpause() must not run on a freed session. */
    bufferevent_setcb(cs->from_child, NULL, NULL, NULL, NULL);
    bufferevent_setcb(cs->child_err, NULL, NULL, NULL, NULL);
    bufferevent_setcb(cs->to_child, NULL, NULL, NULL, NULL);
    bufferevent_free(cs->to_child);
    bufferevent_free(cs->from_child);
    bufferevent_free(cs->child_err);
    evbuffer_free(cs->backlog);
    event_free(cs->idle_timer);
    free(cs);
}

static int stdio_init(struct server_rt *s, struct worker *w)
{
    TAILQ_INIT(&s->children);
    TAILQ_INIT(&s->ending);
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
    if (rpc_parse(body, len, &cs->server->worker->rpc_limits, &msg, &err) < 0)
        return;
    if (rpc_msg_params(&msg, &params) < 0) {
        rpc_msg_clear(&msg);
        return;
    }
    const cJSON *rid = cJSON_GetObjectItemCaseSensitive(params, "requestId");
    char *text = msg.method && strcmp(msg.method, "notifications/cancelled") == 0 && rid ? cJSON_PrintUnformatted(rid) : NULL;
    struct exchange *ex = NULL;
    if (text)
        TAILQ_FOREACH(ex, &cs->pending, wait_link)
            if (ex->has_id && rpc_id_equal(text, strlen(text), ex->id_text, ex->id_len))
                break;
    free(text);
    rpc_msg_clear(&msg);
    if (!ex)
        return;
    detach(ex, CHILD_IDLE_SECONDS);
    ex->answered_id = true;
    exchange_stream_end(ex);
}

/* A POSTed message: `initialize` starts a session and its child; other
 * messages go to the session's child. */
static void stdio_post(struct exchange *ex, const struct upstream_request *req)
{
    struct server_rt *s = ex->server;
    if (!(ex->body = malloc(req->body_len ? req->body_len : 1))) {
        exchange_failed(ex, UPSTREAM_INTERNAL, "could not be reached: warden is out of memory");
        return;
    }
    memcpy(ex->body, req->body, req->body_len);
    ex->body_len = req->body_len;
    /* A 2026-07-28 request without a session: any idle stateless child, or a new one. */
    bool modern = ex->era.modern && !ex->session[0];
    if (modern && req->kind != RPC_REQUEST) {
        /* 2026-07-28 defines no client notification over HTTP: nothing to deliver it to. */
        exchange_answer(ex, 202, NULL, "", 0);
        return;
    }
    struct child_session *idle = modern ? idle_modern_child(s) : NULL;
    if (idle) {
        send_request(idle, ex);
        return;
    }
    if ((req->is_initialize || modern) && !ex->session[0]) {
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
        exchange_answer_error(ex, 400, RPC_INVALID_REQUEST, "Bad Request: Mcp-Session-Id header is required");
        return;
    }
    struct child_session *cs = find_session(s, ex->session);
    if (!cs) {
        exchange_answer_error(ex, 404, RPC_INVALID_REQUEST, "Session not found");
        return;
    }
    if (req->kind == RPC_REQUEST) {
        send_request(cs, ex);
        return;
    }
    if (!send_line(cs, ex->body, ex->body_len)) {
        refuse_unread(ex);
        return;
    }
    cs->last_used = now_monotonic();
    update_idle(cs, CHILD_IDLE_SECONDS);
    if (req->kind == RPC_NOTIFICATION)
        end_cancelled(cs, ex->body, ex->body_len);
    exchange_answer(ex, 202, NULL, "", 0);
}

/* GET opens the session's stream, with what the child said while none was open. */
static void stdio_get(struct exchange *ex)
{
    struct child_session *cs = ex->session[0] ? find_session(ex->server, ex->session) : NULL;
    if (!cs) {
        exchange_answer_error(ex, ex->session[0] ? 404 : 400, RPC_INVALID_REQUEST,
                              ex->session[0] ? "Session not found" : "Bad Request: Mcp-Session-Id header is required");
        return;
    }
    if (cs->stream) {
        exchange_answer_error(ex, 409, RPC_INVALID_REQUEST, "Conflict: only one stream is allowed per session");
        return;
    }
    cs->stream = ex;
    ex->child = cs;
    update_idle(cs, CHILD_IDLE_SECONDS);
    exchange_stream_start(ex, cs->id);
    exchange_expect(ex, cs->server->conf->sse_idle_timeout_ms, "sent nothing for");
    size_t len;
    char *line;
    while (ex->child == cs && (line = evbuffer_readln(cs->backlog, &len, EVBUFFER_EOL_LF))) {
        exchange_message(ex, line, len);
        free(line);
    }
    exchange_flush(ex);
}

/* DELETE ends the session. */
static void stdio_delete(struct exchange *ex)
{
    struct child_session *cs = ex->session[0] ? find_session(ex->server, ex->session) : NULL;
    if (!cs) {
        exchange_answer_error(ex, 404, RPC_INVALID_REQUEST, "Session not found");
        return;
    }
    end_session(cs, "ended by the client", UPSTREAM_RESET);
    exchange_answer(ex, 200, NULL, "", 0);
}

static void stdio_forward(struct exchange *ex, const struct upstream_request *req)
{
    switch (req->head->method) {
    case HTTP_POST:
        stdio_post(ex, req);
        return;
    case HTTP_GET:
        stdio_get(ex);
        return;
    default:
        stdio_delete(ex);
        return;
    }
}

static void stdio_cancel(struct exchange *ex)
{
    if (ex->spawn_wait) {
        TAILQ_REMOVE(&ex->server->spawn_waiting, ex, wait_link);
        ex->child_pending = ex->spawn_wait = false;
        return;
    }
    /* A client that went away mid-exchange may not come back: its session's silence counts from now, and is shorter. */
    detach(ex, ex->client->dead ? CHILD_ORPHAN_SECONDS : CHILD_IDLE_SECONDS);
}

static void stdio_pause(struct exchange *ex)
{
    struct child_session *cs = ex->child;
    if (!cs || ex->child_paused)
        return;
    ex->child_paused = true;
    if (cs->paused++ == 0)
        bufferevent_disable(cs->from_child, EV_READ);
}

static void stdio_resume(struct exchange *ex)
{
    if (ex->child)
        unpause(ex);
}

/* Nothing to close early: sessions end with the worker (shutdown). */
static void stdio_quiesce(struct server_rt *s)
{
    (void)s;
}

/* Collects children that exited (SIGCHLD). */
static void stdio_reap(struct server_rt *s)
{
    struct child_session *cs, *next;
    TAILQ_FOREACH_SAFE(cs, &s->children, link, next) {
        int status;
        if (waitpid(cs->pid, &status, WNOHANG) == cs->pid) {
            kill(-cs->pid, SIGKILL);   /* whatever it started goes with it */
            end_session(cs, "exited", UPSTREAM_EXITED);
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

/* Ends every child and waits for them: no process is left behind. */
static void stdio_shutdown(struct server_rt *s)
{
    struct child_session *cs, *next;
    TAILQ_FOREACH_SAFE(cs, &s->children, link, next)
        end_session(cs, "ended: warden is stopping", UPSTREAM_INTERNAL);
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
    .pause = stdio_pause,
    .resume = stdio_resume,
    .quiesce = stdio_quiesce,
    .reap = stdio_reap,
    .shutdown = stdio_shutdown,
};
