#include "approval_notify.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include "audit.h"
#include "log.h"

#define MAX_QUEUED 64
#define COMMAND_SECONDS 10
#define WEBHOOK_SECONDS 5

extern char **environ;

struct approval_notify {
    struct audit_log *audit;
    const struct approvals_conf *conf;
    char host[256], port[8], path[512]; /* the webhook, parsed */
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    char *queue[MAX_QUEUED]; /* owned JSON texts, oldest at head */
    size_t head, n;
    bool stopping;
};

/* http://HOST[:PORT][/PATH] */
static int parse_webhook(struct approval_notify *n, const char *url)
{
    if (strncmp(url, "http://", 7) != 0)
        return -1;
    const char *h = url + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t name_len = colon ? (size_t)(colon - h) : hl;
    if (name_len == 0 || name_len >= sizeof n->host)
        return -1;
    memcpy(n->host, h, name_len);
    n->host[name_len] = '\0';
    size_t pl = colon ? hl - name_len - 1 : 2;
    if (pl == 0 || pl >= sizeof n->port)
        return -1;
    snprintf(n->port, sizeof n->port, "%.*s", (int)pl, colon ? colon + 1 : "80");
    if (strspn(n->port, "0123456789") != strlen(n->port))
        return -1;
    snprintf(n->path, sizeof n->path, "%s", slash ? slash : "/");
    return strpbrk(n->path, " \r\n") ? -1 : 0;
}

static void run_command(const struct approval_notify *n, const char *json)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        log_warn("approval notify_command: cannot make a pipe: %s", strerror(errno));
        return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    int rc = posix_spawnp(&pid, n->conf->notify_command[0], &fa, NULL, n->conf->notify_command, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[0]);
    if (rc != 0) {
        close(fds[1]);
        log_warn("approval notify_command %s cannot start: %s", n->conf->notify_command[0], strerror(rc));
        return;
    }
    /* The child may not read its input: the write must not wait for it forever (SIGPIPE is ignored). */
    fcntl(fds[1], F_SETFL, O_NONBLOCK);
    size_t len = strlen(json), off = 0;
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    int status = 0;
    pid_t done = 0;
    for (;;) {
        if (off < len && fds[1] >= 0) {
            ssize_t w = write(fds[1], json + off, len - off);
            if (w > 0)
                off += (size_t)w;
            else if (w < 0 && errno != EAGAIN && errno != EINTR)
                off = len;
        }
        if (off >= len && fds[1] >= 0) {
            close(fds[1]);
            fds[1] = -1;
        }
        done = waitpid(pid, &status, WNOHANG);
        if (done != 0)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec - start.tv_sec >= COMMAND_SECONDS) {
            log_warn("approval notify_command %s ran past %d s: killed", n->conf->notify_command[0], COMMAND_SECONDS);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        nanosleep(&(struct timespec){.tv_nsec = 20 * 1000 * 1000}, NULL);
    }
    if (fds[1] >= 0)
        close(fds[1]);
    if (done > 0 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
        log_warn("approval notify_command %s failed (status %d)", n->conf->notify_command[0], status);
}

static void post_webhook(const struct approval_notify *n, const char *json)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(n->host, n->port, &hints, &res);
    if (rc != 0) {
        log_warn("approval webhook %s: %s", n->host, gai_strerror(rc));
        return;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = {.tv_sec = WEBHOOK_SECONDS};
    bool ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0 &&
              setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0 &&
              connect(fd, res->ai_addr, res->ai_addrlen) == 0;
    freeaddrinfo(res);
    char head[1024];
    size_t len = strlen(json);
    int hl = snprintf(head, sizeof head,
                      "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                      "Connection: close\r\nUser-Agent: warden\r\n\r\n",
                      n->path, n->host, n->port, len);
    ok = ok && hl > 0 && (size_t)hl < sizeof head && send(fd, head, (size_t)hl, MSG_NOSIGNAL) == hl &&
         send(fd, json, len, MSG_NOSIGNAL) == (ssize_t)len;
    char status[64] = "";
    ssize_t got = ok ? recv(fd, status, sizeof status - 1, 0) : -1;
    if (got > 0)
        status[got] = '\0';
    if (!ok || got < 12 || strncmp(status, "HTTP/1.", 7) != 0 || status[9] != '2')
        log_warn("approval webhook http://%s:%s%s did not take the notice%s", n->host, n->port, n->path,
                 ok ? " (no 2xx answer)" : "");
    if (fd >= 0)
        close(fd);
}

static void *notifier(void *arg)
{
    struct approval_notify *n = arg;
    pthread_mutex_lock(&n->lock);
    for (;;) {
        while (!n->n && !n->stopping)
            pthread_cond_wait(&n->wake, &n->lock);
        if (!n->n)
            break;
        char *json = n->queue[n->head];
        n->head = (n->head + 1) % MAX_QUEUED;
        n->n--;
        pthread_mutex_unlock(&n->lock);
        if (n->conf->notify_command)
            run_command(n, json);
        if (n->conf->webhook)
            post_webhook(n, json);
        free(json);
        pthread_mutex_lock(&n->lock);
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

struct approval_notify *approval_notify_new(struct audit_log *audit, const struct approvals_conf *conf, char *err,
                                            size_t errlen)
{
    struct approval_notify *n = calloc(1, sizeof *n);
    if (!n || pthread_mutex_init(&n->lock, NULL) != 0) {
        free(n);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    pthread_cond_init(&n->wake, NULL);
    n->audit = audit;
    n->conf = conf;
    if (conf->webhook && parse_webhook(n, conf->webhook) < 0) {
        snprintf(err, errlen, "approvals.webhook %s: must be http://HOST[:PORT][/PATH]", conf->webhook);
        approval_notify_free(n);
        return NULL;
    }
    if ((conf->notify_command || conf->webhook) && pthread_create(&n->thread, NULL, notifier, n) != 0) {
        snprintf(err, errlen, "cannot start the approval notifier thread");
        approval_notify_free(n);
        return NULL;
    }
    n->started = conf->notify_command || conf->webhook;
    return n;
}

void approval_notify_free(struct approval_notify *n)
{
    if (!n)
        return;
    if (n->started) {
        pthread_mutex_lock(&n->lock);
        n->stopping = true;
        pthread_cond_signal(&n->wake);
        pthread_mutex_unlock(&n->lock);
        pthread_join(n->thread, NULL);
    }
    for (size_t i = 0; i < n->n; i++)
        free(n->queue[(n->head + i) % MAX_QUEUED]);
    pthread_cond_destroy(&n->wake);
    pthread_mutex_destroy(&n->lock);
    free(n);
}

static char *record_json(const struct approval_view *v)
{
    char when[32];
    time_t secs = (time_t)v->expires;
    struct tm tm;
    gmtime_r(&secs, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    cJSON *o = cJSON_CreateObject();
    cJSON *args = cJSON_Parse(v->args_json);
    if (!o || !args || !cJSON_AddItemToObject(o, "arguments", args)) {
        cJSON_Delete(args);
        cJSON_Delete(o);
        return NULL;
    }
    char *text = NULL;
    if (cJSON_AddStringToObject(o, "id", v->id) && cJSON_AddStringToObject(o, "status", v->status) &&
        cJSON_AddStringToObject(o, "principal", v->principal) && cJSON_AddStringToObject(o, "server", v->server) &&
        cJSON_AddStringToObject(o, "tool", v->tool) && cJSON_AddStringToObject(o, "rule", v->rule) &&
        cJSON_AddStringToObject(o, "reason", v->reason) && cJSON_AddStringToObject(o, "scope", v->scope) &&
        cJSON_AddStringToObject(o, "expires_at", when))
        text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

void approval_notify_event(void *arg, const char *event, const struct approval_view *v)
{
    struct approval_notify *n = arg;
    if (n->audit) {
        cJSON *args = cJSON_Parse(v->args_json);
        bool decided = strcmp(event, "approval_decided") == 0;
        struct audit_event ev = {
            .server = v->server,
            .client = v->principal,
            .method = "tools/call",
            .tool = v->tool,
            .decision = event,
            .rule = v->rule,
            .reason = decided ? v->decision_reason : v->reason,
            .status = -1,
            .is_error = -1,
            .latency_ms = -1,
            .args = args,
            .approval_id = v->id,
            .approver = decided ? v->decided_by : NULL,
        };
        audit_write(n->audit, &ev);
        cJSON_Delete(args);
    }
    if (!n->started || strcmp(event, "approval_requested") != 0)
        return;
    char *json = record_json(v);
    bool queued = false;
    pthread_mutex_lock(&n->lock);
    if (json && n->n < MAX_QUEUED) {
        n->queue[(n->head + n->n) % MAX_QUEUED] = json;
        n->n++;
        json = NULL;
        queued = true;
        pthread_cond_signal(&n->wake);
    }
    pthread_mutex_unlock(&n->lock);
    if (!queued)
        log_warn("approval %s: the notice could not be queued (%s); it is listed on the admin listener", v->id,
                 json ? "64 notices are waiting" : "out of memory");
    free(json);
}
