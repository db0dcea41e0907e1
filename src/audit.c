#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <event2/buffer.h>
#include "log.h"
#include "metrics.h"
#include "utf8.h"

/* Past this much text queued or being written, new lines are dropped and
 * counted: a dead disk must not grow warden's memory without bound. */
#define AUDIT_MAX_QUEUED (16u * 1024 * 1024)
/* A failing file is retried this often, not once per new line. */
#define AUDIT_RETRY_SECONDS 1
/* Argument values nested deeper are written as "[too deep]"; longer strings are cut. */
#define AUDIT_MAX_DEPTH 64
#define AUDIT_MAX_STRING 4096

struct audit_log {
    char *path;                  /* NULL for standard output (owned) */
    int fd;                      /* the writer's alone once it runs */
    struct metrics *metrics;     /* borrowed; may be NULL */
    bool log_values;
    char **redact;               /* owned copies */
    size_t nredact;
    pthread_t writer;
    bool has_writer;             /* false: no file, the sink alone */
    audit_sink_fn sink;          /* may be NULL */
    void *sink_arg;
    pthread_mutex_t lock;
    pthread_cond_t wake;         /* CLOCK_MONOTONIC, for the retry wait */
    /* under lock */
    struct evbuffer *queue;      /* complete lines */
    size_t held;                 /* bytes in queue and batch */
    unsigned long unreported;    /* dropped lines not yet reported in the log */
    bool reopen, stopping;
    size_t reopen_mark;          /* bytes of the queue that were there when the reopen was asked */
    /* the writer thread's alone */
    struct evbuffer *batch;      /* lines taken from the queue, not yet written */
    bool failing;                /* the last write failed; reported once */
    bool mid_line;               /* the file ends in the middle of a line */
};

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

static const char *shown_path(const struct audit_log *a)
{
    return a->path ? a->path : "stdout";
}

/* Lines lost for good: counted now, reported in the log when it works again. Lock held. */
static void count_dropped(struct audit_log *a, unsigned long lines)
{
    a->unreported += lines;
    if (a->metrics)
        metrics_audit_dropped(a->metrics, lines);
}

/* Appends the time stamp, RFC 3339 in UTC with microseconds, quoted. */
static void put_time(struct evbuffer *b, double wall)
{
    struct timespec ts;
    if (wall > 0) {
        /* Rounded to the microsecond: a double holds today's time to about 0.2 us. */
        ts.tv_sec = (time_t)wall;
        long us = lround((wall - (double)ts.tv_sec) * 1e6);
        if (us >= 1000000) {
            ts.tv_sec++;
            us -= 1000000;
        }
        ts.tv_nsec = us * 1000;
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
    }
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    evbuffer_add_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\"", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                        tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

/* Appends s as a JSON string: quotes, backslash and control characters
 * escaped, UTF-8 passed through, any other byte as U+FFFD so that every line
 * stays valid JSON for strict readers; cut after max bytes (marked "..."). */
static void put_string(struct evbuffer *b, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    bool cut = n > max;
    if (cut)
        n = max;
    evbuffer_add(b, "\"", 1);
    while (n) {
        size_t run = 0, len;
        while (run < n && p[run] >= 0x20 && p[run] != '"' && p[run] != '\\' && (len = utf8_seq_len(p + run, n - run)))
            run += len;
        evbuffer_add(b, p, run);
        p += run;
        n -= run;
        if (!n)
            break;
        char esc[7] = {'\\', 0};
        size_t elen = 2;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            if (*p < 0x20) {
                memcpy(esc + 1, "u00", 3);
                esc[4] = hex[*p >> 4];
                esc[5] = hex[*p & 15];
                elen = 6;
            } else {
                memcpy(esc, "\\ufffd", 6);
                elen = 6;
            }
        }
        evbuffer_add(b, esc, elen);
        p++;
        n--;
    }
    evbuffer_add(b, cut ? "...\"" : "\"", cut ? 4 : 1);
}

static void put_field(struct evbuffer *b, const char *name, const char *value)
{
    evbuffer_add_printf(b, ",\"%s\":", name);
    if (value && value[0])
        put_string(b, value, (size_t)-1);
    else
        evbuffer_add(b, "null", 4);
}

static bool redacted(const struct audit_log *a, const char *key)
{
    for (size_t i = 0; key && i < a->nredact; i++)
        if (strcasecmp(a->redact[i], key) == 0)
            return true;
    return false;
}

/* Appends an argument value as JSON, redacting named keys at every depth.
 * Numbers are what cJSON parsed: doubles, so huge integers lose digits. */
static void put_value(const struct audit_log *a, struct evbuffer *b, const cJSON *v, int depth)
{
    if (depth > AUDIT_MAX_DEPTH) {
        evbuffer_add(b, "\"[too deep]\"", 12);
    } else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool object = cJSON_IsObject(v);
        evbuffer_add(b, object ? "{" : "[", 1);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                evbuffer_add(b, ",", 1);
            if (object) {
                put_string(b, c->string ? c->string : "", (size_t)-1);
                evbuffer_add(b, ":", 1);
                if (redacted(a, c->string)) {
                    evbuffer_add(b, "\"[redacted]\"", 12);
                    continue;
                }
            }
            put_value(a, b, c, depth + 1);
        }
        evbuffer_add(b, object ? "}" : "]", 1);
    } else if (cJSON_IsString(v) && v->valuestring) {
        put_string(b, v->valuestring, AUDIT_MAX_STRING);
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        double d = v->valuedouble;
        if (d == trunc(d) && fabs(d) < 1e15)
            evbuffer_add_printf(b, "%.0f", d);
        else
            evbuffer_add_printf(b, "%.17g", d);
    } else if (cJSON_IsBool(v)) {
        evbuffer_add_printf(b, "%s", cJSON_IsTrue(v) ? "true" : "false");
    } else {
        evbuffer_add(b, "null", 4);
    }
}

/* Writes as much of buf as the file takes; returns 0, or errno once a write fails. */
static int write_some(int fd, const char *buf, size_t len, size_t *done)
{
    *done = 0;
    while (*done < len) {
        ssize_t n = write(fd, buf + *done, len - *done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        *done += (size_t)n;
    }
    return 0;
}

/* The number of complete lines in b. */
static unsigned long count_lines(struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    const char *p = len ? (const char *)evbuffer_pullup(b, -1) : NULL;
    unsigned long n = 0;
    for (size_t i = 0; p && i < len; i++)
        n += p[i] == '\n';
    return n;
}

/* Writes the batch; remembers a failure, logging it once, and a recovery. */
static void write_batch(struct audit_log *a)
{
    size_t len = evbuffer_get_length(a->batch);
    if (!len)
        return;
    const char *p = (const char *)evbuffer_pullup(a->batch, -1);
    size_t done;
    int e = p ? write_some(a->fd, p, len, &done) : ENOMEM;
    if (p && done) {
        a->mid_line = p[done - 1] != '\n';
        evbuffer_drain(a->batch, done);
    }
    if (e) {
        if (!a->failing)
            log_error("audit log %s: write failed (%s); retrying every %d s, dropping new lines once %u bytes wait",
                      shown_path(a), strerror(e), AUDIT_RETRY_SECONDS, AUDIT_MAX_QUEUED);
        a->failing = true;
    } else if (a->failing) {
        log_info("audit log %s: writing again", shown_path(a));
        a->failing = false;
    }
}

/* Rotation: the old file gets every line taken so far, the new one what
 * follows. A line half written to a failing old file is dropped rather than
 * finished in the new one. */
static void reopen_file(struct audit_log *a)
{
    if (a->mid_line) {
        struct evbuffer_ptr nl = evbuffer_search(a->batch, "\n", 1, NULL);
        evbuffer_drain(a->batch, nl.pos < 0 ? evbuffer_get_length(a->batch) : (size_t)nl.pos + 1);
        a->mid_line = false;
        pthread_mutex_lock(&a->lock);
        count_dropped(a, 1);
        pthread_mutex_unlock(&a->lock);
    }
    int fd = open_path(a->path);
    if (fd < 0) {
        log_error("audit log %s: cannot reopen: %s; still writing to the old file", a->path, strerror(errno));
        return;
    }
    close(a->fd);
    a->fd = fd;
    a->failing = false;   /* a new file: try it at once */
    log_info("audit log %s reopened", a->path);
}

/* The writer thread: takes what is queued and writes it, reopening between
 * lines when asked; while the file fails it retries at intervals. */
static void *writer_main(void *arg)
{
    struct audit_log *a = arg;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        if (a->failing) {
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += AUDIT_RETRY_SECONDS;
            while (!a->stopping && !a->reopen && pthread_cond_timedwait(&a->wake, &a->lock, &until) != ETIMEDOUT)
                ;
        } else {
            while (!a->stopping && !a->reopen && !a->unreported && evbuffer_get_length(a->queue) == 0 &&
                   evbuffer_get_length(a->batch) == 0)
                pthread_cond_wait(&a->wake, &a->lock);
        }
        /* Lines queued after a reopen was asked belong in the new file. */
        if (a->reopen)
            evbuffer_remove_buffer(a->queue, a->batch, a->reopen_mark);
        else
            evbuffer_add_buffer(a->batch, a->queue);
        unsigned long dropped = a->failing ? 0 : a->unreported;
        a->unreported -= dropped;
        bool reopen = a->reopen, stopping = a->stopping;
        a->reopen = false;
        pthread_mutex_unlock(&a->lock);

        if (dropped) {
            evbuffer_add(a->batch, "{\"time\":", 8);
            put_time(a->batch, 0);
            evbuffer_add_printf(a->batch, ",\"event\":\"audit_dropped\",\"dropped\":%lu}\n", dropped);
        }
        write_batch(a);
        if (reopen && a->path)
            reopen_file(a);

        pthread_mutex_lock(&a->lock);
        a->held = evbuffer_get_length(a->queue) + evbuffer_get_length(a->batch);
        if (stopping && a->failing) {
            /* That was the last try: what is left is lost, and said so. */
            evbuffer_add_buffer(a->batch, a->queue);
            unsigned long lost = count_lines(a->batch);
            if (lost) {
                count_dropped(a, lost);
                log_error("audit log %s: %lu lines lost at exit", shown_path(a), lost);
            }
            break;
        }
        if (stopping && a->held == 0 && a->unreported == 0)
            break;
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* Frees what audit_open made, whichever parts exist. */
static void free_log(struct audit_log *a)
{
    if (a->fd >= 0)
        close(a->fd);
    if (a->queue)
        evbuffer_free(a->queue);
    if (a->batch)
        evbuffer_free(a->batch);
    for (size_t i = 0; i < a->nredact; i++)
        free(a->redact[i]);
    free(a->redact);
    free(a->path);
    free(a);
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
    if (!path) {
        if (pthread_mutex_init(&a->lock, NULL) == 0)
            return a;
        snprintf(err, errlen, "out of memory");
        free_log(a);
        return NULL;
    }
    bool std_out = strcmp(path, "-") == 0;
    if (!std_out && !(a->path = strdup(path))) {
        snprintf(err, errlen, "out of memory");
        free_log(a);
        return NULL;
    }
    a->fd = std_out ? fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 0) : open_path(path);
    if (a->fd < 0) {
        snprintf(err, errlen, "audit log %s: cannot open: %s", path, strerror(errno));
        free_log(a);
        return NULL;
    }
    a->queue = evbuffer_new();
    a->batch = evbuffer_new();
    pthread_condattr_t ca;
    bool cond_ok = false;
    if (a->queue && a->batch && pthread_condattr_init(&ca) == 0) {
        cond_ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&a->wake, &ca) == 0;
        pthread_condattr_destroy(&ca);
    }
    if (!cond_ok) {
        snprintf(err, errlen, "audit log %s: out of memory", path);
        free_log(a);
        return NULL;
    }
    if (pthread_mutex_init(&a->lock, NULL) != 0) {
        snprintf(err, errlen, "audit log %s: out of memory", path);
        pthread_cond_destroy(&a->wake);
        free_log(a);
        return NULL;
    }
    /* The writer starts with every signal blocked, so that signals reach the
     * event loops (libevent's handlers) and never interrupt its writes. */
    sigset_t all, old;
    sigfillset(&all);
    int started = pthread_sigmask(SIG_SETMASK, &all, &old);
    if (started == 0) {
        started = pthread_create(&a->writer, NULL, writer_main, a);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    if (started != 0) {
        snprintf(err, errlen, "audit log %s: cannot start its writer thread", path);
        pthread_mutex_destroy(&a->lock);
        pthread_cond_destroy(&a->wake);
        free_log(a);
        return NULL;
    }
    a->has_writer = true;
    return a;
}

void audit_set_sink(struct audit_log *a, audit_sink_fn sink, void *arg)
{
    a->sink = sink;
    a->sink_arg = arg;
}

int audit_log_values(struct audit_log *a, const char *const *redact_keys, size_t nredact)
{
    char **keys = nredact ? calloc(nredact, sizeof *keys) : NULL;
    if (nredact && !keys)
        return -1;
    for (size_t i = 0; i < nredact; i++) {
        if (!(keys[i] = strdup(redact_keys[i]))) {
            while (i)
                free(keys[--i]);
            free(keys);
            return -1;
        }
    }
    for (size_t i = 0; i < a->nredact; i++)
        free(a->redact[i]);
    free(a->redact);
    a->redact = keys;
    a->nredact = nredact;
    a->log_values = true;
    return 0;
}

/* Replaces the value of every redacted key in v, at any depth; returns -1 when out of memory. */
static int redact_tree(const struct audit_log *a, cJSON *v)
{
    for (cJSON *c = v->child, *next; c; c = next) {
        next = c->next;
        if (cJSON_IsObject(v) && redacted(a, c->string)) {
            cJSON *r = cJSON_CreateString("[redacted]");
            if (!r)
                return -1;
            /* The key moves to the new item: replacing via pointer does not copy it. */
            r->string = c->string;
            r->type |= c->type & cJSON_StringIsConst;
            c->string = NULL;
            if (!cJSON_ReplaceItemViaPointer(v, c, r)) {
                c->string = r->string;
                r->string = NULL;
                cJSON_Delete(r);
                return -1;
            }
        } else if ((cJSON_IsObject(c) || cJSON_IsArray(c)) && redact_tree(a, c) < 0) {
            return -1;
        }
    }
    return 0;
}

cJSON *audit_keep_args(const struct audit_log *a, const cJSON *args)
{
    if (!args)
        return NULL;
    if (a->log_values) {
        cJSON *copy = cJSON_Duplicate(args, 1);
        if (copy && redact_tree(a, copy) < 0) {
            cJSON_Delete(copy);
            return NULL;
        }
        return copy;
    }
    cJSON *keys = cJSON_CreateObject();
    for (const cJSON *k = cJSON_IsObject(args) ? args->child : NULL; k && keys; k = k->next) {
        cJSON *n = cJSON_CreateNull();
        if (!n || !k->string) {
            cJSON_Delete(n);
            continue;
        }
        cJSON_AddItemToObject(keys, k->string, n);
    }
    return keys;
}

void audit_write(struct audit_log *a, const struct audit_event *ev)
{
    struct evbuffer *line = evbuffer_new();
    if (!line) {
        pthread_mutex_lock(&a->lock);
        count_dropped(a, 1);
        pthread_mutex_unlock(&a->lock);
        return;
    }
    evbuffer_add(line, "{\"time\":", 8);
    put_time(line, ev->wall);
    put_field(line, "server", ev->server);
    put_field(line, "session", ev->session);
    put_field(line, "client", ev->client);
    put_field(line, "principal", ev->principal);
    put_field(line, "principal_kind", ev->principal_kind);
    put_field(line, "method", ev->method);
    put_field(line, "tool", ev->tool);
    put_field(line, "tool_class", ev->tool_class);
    put_field(line, "decision", ev->decision);
    put_field(line, "rule", ev->rule);
    put_field(line, "reason", ev->reason);
    if (ev->shadow_decision) {
        put_field(line, "shadow_decision", ev->shadow_decision);
        put_field(line, "shadow_rule", ev->shadow_rule);
    }
    if (ev->approval_id)
        put_field(line, "approval_id", ev->approval_id);
    if (ev->approver)
        put_field(line, "approver", ev->approver);
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
    bool object = cJSON_IsObject(ev->args);
    for (const cJSON *k = object ? ev->args->child : NULL; k; k = k->next) {
        if (k != ev->args->child)
            evbuffer_add(line, ",", 1);
        put_string(line, k->string ? k->string : "", (size_t)-1);
    }
    evbuffer_add(line, "]", 1);
    if (a->log_values) {
        evbuffer_add(line, ",\"args\":", 8);
        put_value(a, line, ev->args, 0);
    }
    evbuffer_add(line, "}\n", 2);
    size_t len = evbuffer_get_length(line);
    if (a->sink) {
        const char *text = (const char *)evbuffer_pullup(line, -1);
        if (text)
            a->sink(a->sink_arg, text, len - 1);
    }
    if (!a->has_writer) {
        evbuffer_free(line);
        return;
    }
    pthread_mutex_lock(&a->lock);
    if (a->held + len > AUDIT_MAX_QUEUED) {
        count_dropped(a, 1);
    } else {
        evbuffer_add_buffer(a->queue, line);
        a->held += len;
        pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
    evbuffer_free(line);
}

void audit_reopen(struct audit_log *a)
{
    if (!a->has_writer)
        return;
    pthread_mutex_lock(&a->lock);
    a->reopen = true;
    a->reopen_mark = evbuffer_get_length(a->queue);
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
}

void audit_close(struct audit_log *a)
{
    if (!a)
        return;
    if (!a->has_writer) {
        pthread_mutex_destroy(&a->lock);
        free_log(a);
        return;
    }
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->wake);
    pthread_mutex_unlock(&a->lock);
    pthread_join(a->writer, NULL);
    pthread_mutex_destroy(&a->lock);
    pthread_cond_destroy(&a->wake);
    free_log(a);
}
