#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>
#include "log.h"
#include "metrics.h"
#include "reply.h"

/* Past this much queued text, new lines are dropped and counted, not queued. */
#define AUDIT_MAX_QUEUED (16u * 1024 * 1024)

struct audit_log {
    char *path;                  /* NULL for standard output */
    int fd;
    struct metrics *metrics;
    pthread_t writer;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    struct evbuffer *queue;      /* complete lines, appended under lock */
    bool reopen, stopping;
    bool failing;                /* the last write failed: report the next success */
};

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

/* Writes all of buf to fd; returns -1 with errno on failure. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* The writer thread: takes what is queued and writes it, reopening between batches when asked. */
static void *writer_main(void *arg)
{
    struct audit_log *a = arg;
    struct evbuffer *batch = evbuffer_new();
    if (!batch)
        return NULL;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->stopping && !a->reopen && evbuffer_get_length(a->queue) == 0)
            pthread_cond_wait(&a->wake, &a->lock);
        evbuffer_add_buffer(batch, a->queue);
        bool reopen = a->reopen, stopping = a->stopping;
        a->reopen = false;
        pthread_mutex_unlock(&a->lock);
        size_t len = evbuffer_get_length(batch);
        if (len) {
            const char *p = (const char *)evbuffer_pullup(batch, -1);
            if (write_all(a->fd, p, len) < 0) {
                if (!a->failing)
                    log_error("audit log %s: write failed (%s); lines are lost until it works again",
                              a->path ? a->path : "stdout", strerror(errno));
                a->failing = true;
            } else if (a->failing) {
                log_info("audit log %s: writing again", a->path ? a->path : "stdout");
                a->failing = false;
            }
            evbuffer_drain(batch, len);
        }
        /* Rotation: lines queued before the signal went to the old file, later ones to the new. */
        if (reopen && a->path) {
            int fd = open_path(a->path);
            if (fd < 0) {
                log_error("audit log %s: cannot reopen: %s; still writing to the old file", a->path, strerror(errno));
            } else {
                close(a->fd);
                a->fd = fd;
                log_info("audit log %s reopened", a->path);
            }
        }
        pthread_mutex_lock(&a->lock);
        if (stopping && evbuffer_get_length(a->queue) == 0)
            break;
    }
    pthread_mutex_unlock(&a->lock);
    evbuffer_free(batch);
    return NULL;
}

struct audit_log *audit_open(const char *path, struct metrics *m, char *err, size_t errlen)
{
    struct audit_log *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->metrics = m;
    a->fd = -1;
    if (strcmp(path, "-") == 0) {
        a->fd = dup(STDOUT_FILENO);
    } else if ((a->path = strdup(path))) {
        a->fd = open_path(path);
    }
    a->queue = evbuffer_new();
    if (a->fd < 0 || !a->queue || pthread_mutex_init(&a->lock, NULL) != 0) {
        snprintf(err, errlen, "audit log %s: cannot open: %s", path, a->fd < 0 ? strerror(errno) : "out of memory");
        if (a->fd >= 0)
            close(a->fd);
        if (a->queue)
            evbuffer_free(a->queue);
        free(a->path);
        free(a);
        return NULL;
    }
    pthread_cond_init(&a->wake, NULL);
    if (pthread_create(&a->writer, NULL, writer_main, a) != 0) {
        snprintf(err, errlen, "audit log %s: cannot start its writer", path);
        pthread_cond_destroy(&a->wake);
        pthread_mutex_destroy(&a->lock);
        close(a->fd);
        evbuffer_free(a->queue);
        free(a->path);
        free(a);
        return NULL;
    }
    return a;
}

static void add_field(struct evbuffer *b, const char *name, const char *value)
{
    evbuffer_add_printf(b, ",\"%s\":", name);
    if (value)
        json_append_string(b, value, strlen(value));
    else
        evbuffer_add(b, "null", 4);
}

void audit_write(struct audit_log *a, const struct audit_event *ev)
{
    struct evbuffer *line = evbuffer_new();
    if (!line)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    evbuffer_add_printf(line, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
    add_field(line, "server", ev->server);
    add_field(line, "session", ev->session);
    add_field(line, "client", ev->client);
    add_field(line, "method", ev->method);
    add_field(line, "tool", ev->tool);
    add_field(line, "decision", ev->decision);
    add_field(line, "rule", ev->rule && ev->rule[0] ? ev->rule : NULL);
    add_field(line, "reason", ev->reason && ev->reason[0] ? ev->reason : NULL);
    if (ev->status >= 0)
        evbuffer_add_printf(line, ",\"status\":%d", ev->status);
    else
        evbuffer_add(line, ",\"status\":null", 14);
    evbuffer_add_printf(line, ",\"is_error\":%s", ev->is_error < 0 ? "null" : ev->is_error ? "true" : "false");
    if (ev->latency_ms >= 0)
        evbuffer_add_printf(line, ",\"latency_ms\":%.3f", ev->latency_ms);
    else
        evbuffer_add(line, ",\"latency_ms\":null", 18);
    evbuffer_add(line, ",\"arg_keys\":[", 13);
    int i = 0;
    for (const cJSON *k = ev->args ? ev->args->child : NULL; k; k = k->next, i++) {
        if (i)
            evbuffer_add(line, ",", 1);
        json_append_string(line, k->string, strlen(k->string));
    }
    evbuffer_add(line, "]}\n", 3);
    pthread_mutex_lock(&a->lock);
    bool dropped = evbuffer_get_length(a->queue) + evbuffer_get_length(line) > AUDIT_MAX_QUEUED;
    if (!dropped) {
        evbuffer_add_buffer(a->queue, line);
        pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
    if (dropped && a->metrics)
        metrics_audit_dropped(a->metrics);
    evbuffer_free(line);
}

void audit_reopen(struct audit_log *a)
{
    pthread_mutex_lock(&a->lock);
    a->reopen = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
}

void audit_close(struct audit_log *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->writer, NULL);
    close(a->fd);
    evbuffer_free(a->queue);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a->path);
    free(a);
}
