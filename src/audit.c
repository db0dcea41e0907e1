#include "audit.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
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

/* Bytes of complete lines: the queue and the batch. A line is appended
 * with one copy; the writer takes the whole queue by swapping it with its
 * empty batch, so that in the steady state nothing is allocated per line. */
struct bytes {
    char *p;
    size_t len, cap;
};

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
    struct bytes queue;          /* complete lines */
    size_t held;                 /* bytes in queue and batch */
    unsigned long unreported;    /* dropped lines not yet reported in the log */
    bool reopen, stopping;
    size_t reopen_mark;          /* bytes of the queue that were there when the reopen was asked */
    /* the writer thread's alone */
    struct bytes batch;          /* lines taken from the queue, not yet written */
    bool failing;                /* the last write failed; reported once */
    bool mid_line;               /* the file ends in the middle of a line */
};

/* A batch or queue that once held more than this is freed when it empties,
 * so that one burst does not keep its memory for good. */
#define AUDIT_KEEP_BYTES (1024 * 1024)

/* Appends n bytes; false when out of memory (nothing appended). */
static bool bytes_add(struct bytes *b, const char *s, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return false;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

/* Drops the first n bytes. */
static void bytes_drain(struct bytes *b, size_t n)
{
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    if (b->len == 0 && b->cap > AUDIT_KEEP_BYTES) {
        free(b->p);
        *b = (struct bytes){0};
    }
}

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

/* One line as it is formatted: in memory of its own (the stack's until it
 * outgrows it), with memcpy and no printf; it goes to the queue with one
 * append. A line that cannot grow (out of memory) is dropped, counted. */
struct line {
    char *p;
    size_t len, cap;
    bool failed;
    char first[2048];
};

static void line_init(struct line *l)
{
    l->p = l->first;
    l->len = 0;
    l->cap = sizeof l->first;
    l->failed = false;
}

static void line_free(struct line *l)
{
    if (l->p != l->first)
        free(l->p);
}

/* Room for `more` bytes at l->p + l->len; false when out of memory. */
static bool line_room(struct line *l, size_t more)
{
    if (l->len + more <= l->cap)
        return true;
    if (l->failed)
        return false;
    if (more > SIZE_MAX / 4 - l->len) {
        l->failed = true;
        return false;
    }
    size_t cap = l->cap * 2;
    while (cap < l->len + more)
        cap *= 2;
    char *p = l->p == l->first ? malloc(cap) : realloc(l->p, cap);
    if (!p) {
        l->failed = true;
        return false;
    }
    if (l->p == l->first)
        memcpy(p, l->first, l->len);
    l->p = p;
    l->cap = cap;
    return true;
}

static void put(struct line *l, const void *bytes, size_t n)
{
    if (n && line_room(l, n)) {
        memcpy(l->p + l->len, bytes, n);
        l->len += n;
    }
}
#define PUT_LIT(l, lit) put((l), (lit), sizeof(lit) - 1)

/* Writes v's last n decimal digits, zero-padded, at o; returns the end. */
static char *put_digits(char *o, unsigned long long v, int n)
{
    for (int i = n - 1; i >= 0; i--, v /= 10)
        o[i] = (char)('0' + v % 10);
    return o + n;
}

static void put_uint(struct line *l, unsigned long long v)
{
    int n = 1;
    for (unsigned long long t = v; t >= 10; t /= 10)
        n++;
    if (line_room(l, (size_t)n))
        l->len = (size_t)(put_digits(l->p + l->len, v, n) - l->p);
}

/* The civil date of a day counted from 1970-01-01 (proleptic Gregorian;
 * H. Hinnant's days-to-civil), with no time zone machinery. */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (long long)yoe + era * 400 + (*m <= 2);
}

/* Appends the time stamp, RFC 3339 in UTC with microseconds, quoted. */
static void put_time(struct line *l, double wall)
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
    long long secs = (long long)ts.tv_sec, days = secs / 86400, rem = secs % 86400, y;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    unsigned m, d;
    civil_from_days(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        y = y < 0 ? 0 : 9999; /* RFC 3339 has four digits; no clock of this century says otherwise */
    if (!line_room(l, sizeof "\"YYYY-MM-DDTHH:MM:SS.uuuuuuZ\""))
        return;
    char *o = l->p + l->len;
    *o++ = '"';
    o = put_digits(o, (unsigned long long)y, 4);
    *o++ = '-';
    o = put_digits(o, m, 2);
    *o++ = '-';
    o = put_digits(o, d, 2);
    *o++ = 'T';
    o = put_digits(o, (unsigned long long)(rem / 3600), 2);
    *o++ = ':';
    o = put_digits(o, (unsigned long long)(rem / 60 % 60), 2);
    *o++ = ':';
    o = put_digits(o, (unsigned long long)(rem % 60), 2);
    *o++ = '.';
    o = put_digits(o, (unsigned long long)(ts.tv_nsec / 1000), 6);
    *o++ = 'Z';
    *o++ = '"';
    l->len = (size_t)(o - l->p);
}

/* Appends s as a JSON string: quotes, backslash and control characters
 * escaped, UTF-8 passed through, any other byte as U+FFFD so that every line
 * stays valid JSON for strict readers; cut after max bytes (marked "..."). */
static void put_string(struct line *l, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);
    bool cut = n > max;
    if (cut)
        n = max;
    /* a byte becomes at most 6 ("\ufffd", "\u001f") */
    if (n > (SIZE_MAX - 8) / 6 || !line_room(l, 6 * n + sizeof "\"...\""))
        return;
    char *o = l->p + l->len;
    *o++ = '"';
    while (n) {
        size_t run = 0;
        while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        memcpy(o, p, run);
        o += run;
        p += run;
        n -= run;
        if (!n)
            break;
        unsigned char c = *p;
        size_t len = c >= 0x80 ? utf8_seq_len(p, n) : 0;
        if (len) {
            memcpy(o, p, len);
            o += len;
            p += len;
            n -= len;
            continue;
        }
        *o++ = '\\';
        switch (c) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '\n': *o++ = 'n'; break;
        case '\r': *o++ = 'r'; break;
        case '\t': *o++ = 't'; break;
        default:
            if (c < 0x20) {
                memcpy(o, "u00", 3);
                o[3] = hex[c >> 4];
                o[4] = hex[c & 15];
            } else {
                memcpy(o, "ufffd", 5);
            }
            o += 5;
        }
        p++;
        n--;
    }
    if (cut) {
        memcpy(o, "...", 3);
        o += 3;
    }
    *o++ = '"';
    l->len = (size_t)(o - l->p);
}

/* Appends ,"name": and the value, a string or null. */
static void put_field(struct line *l, const char *name, size_t name_len, const char *value)
{
    if (!line_room(l, name_len + 4))
        return;
    char *o = l->p + l->len;
    *o++ = ',';
    *o++ = '"';
    memcpy(o, name, name_len);
    o += name_len;
    *o++ = '"';
    *o++ = ':';
    l->len = (size_t)(o - l->p);
    if (value && value[0])
        put_string(l, value, (size_t)-1);
    else
        PUT_LIT(l, "null");
}
#define PUT_FIELD(l, name, value) put_field((l), (name), sizeof(name) - 1, (value))

/* Appends what snprintf wrote into text (NUMBER_TEXT bytes), as it returned n. */
#define NUMBER_TEXT 64
static void put_formatted(struct line *l, const char *text, int n)
{
    if (n > 0 && n < NUMBER_TEXT)
        put(l, text, (size_t)n);
}

/* Appends a latency in milliseconds with three decimals (as %.3f). */
static void put_millis(struct line *l, double ms)
{
    /* Whole microseconds in an integer: exact for any latency warden waits for. */
    double us = nearbyint(ms * 1000);
    if (!(us >= 0 && us < 1e15)) {
        char text[NUMBER_TEXT];
        put_formatted(l, text, snprintf(text, sizeof text, "%.3f", ms));
        return;
    }
    unsigned long long v = (unsigned long long)us;
    put_uint(l, v / 1000);
    if (line_room(l, 4)) {
        l->p[l->len++] = '.';
        l->len = (size_t)(put_digits(l->p + l->len, v % 1000, 3) - l->p);
    }
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
static void put_value(const struct audit_log *a, struct line *l, const cJSON *v, int depth)
{
    if (depth > AUDIT_MAX_DEPTH) {
        PUT_LIT(l, "\"[too deep]\"");
    } else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
        bool object = cJSON_IsObject(v);
        put(l, object ? "{" : "[", 1);
        for (const cJSON *c = v->child; c; c = c->next) {
            if (c != v->child)
                PUT_LIT(l, ",");
            if (object) {
                put_string(l, c->string ? c->string : "", (size_t)-1);
                PUT_LIT(l, ":");
                if (redacted(a, c->string)) {
                    PUT_LIT(l, "\"[redacted]\"");
                    continue;
                }
            }
            put_value(a, l, c, depth + 1);
        }
        put(l, object ? "}" : "]", 1);
    } else if (cJSON_IsString(v) && v->valuestring) {
        put_string(l, v->valuestring, AUDIT_MAX_STRING);
    } else if (cJSON_IsNumber(v) && isfinite(v->valuedouble)) {
        double d = v->valuedouble;
        char text[NUMBER_TEXT];
        if (d == trunc(d) && fabs(d) < 1e15)
            put_formatted(l, text, snprintf(text, sizeof text, "%.0f", d));
        else
            put_formatted(l, text, snprintf(text, sizeof text, "%.17g", d));
    } else if (cJSON_IsBool(v)) {
        if (cJSON_IsTrue(v))
            PUT_LIT(l, "true");
        else
            PUT_LIT(l, "false");
    } else {
        PUT_LIT(l, "null");
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
static unsigned long count_lines(const struct bytes *b)
{
    unsigned long n = 0;
    for (size_t i = 0; i < b->len; i++)
        n += b->p[i] == '\n';
    return n;
}

/* Writes the batch; remembers a failure, logging it once, and a recovery. */
static void write_batch(struct audit_log *a)
{
    if (!a->batch.len)
        return;
    size_t done;
    int e = write_some(a->fd, a->batch.p, a->batch.len, &done);
    if (done) {
        a->mid_line = a->batch.p[done - 1] != '\n';
        bytes_drain(&a->batch, done);
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
        const char *nl = a->batch.len ? memchr(a->batch.p, '\n', a->batch.len) : NULL;
        bytes_drain(&a->batch, nl ? (size_t)(nl - a->batch.p) + 1 : a->batch.len);
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
            while (!a->stopping && !a->reopen && !a->unreported && a->queue.len == 0 && a->batch.len == 0)
                pthread_cond_wait(&a->wake, &a->lock);
        }
        /* Lines queued after a reopen was asked belong in the new file.
         * Out of memory, lines stay queued for the next round. */
        size_t take = a->reopen ? a->reopen_mark : a->queue.len;
        if (take == a->queue.len && a->batch.len == 0) {
            struct bytes empty = a->batch;
            a->batch = a->queue;
            a->queue = empty;
        } else if (take && bytes_add(&a->batch, a->queue.p, take)) {
            bytes_drain(&a->queue, take);
        }
        unsigned long dropped = a->failing ? 0 : a->unreported;
        a->unreported -= dropped;
        bool reopen = a->reopen, stopping = a->stopping;
        a->reopen = false;
        pthread_mutex_unlock(&a->lock);

        if (dropped) {
            struct line l;
            line_init(&l);
            PUT_LIT(&l, "{\"time\":");
            put_time(&l, 0);
            PUT_LIT(&l, ",\"event\":\"audit_dropped\",\"dropped\":");
            put_uint(&l, dropped);
            PUT_LIT(&l, "}\n");
            if (!l.failed)
                bytes_add(&a->batch, l.p, l.len);
            line_free(&l);
        }
        write_batch(a);
        if (reopen && a->path)
            reopen_file(a);

        pthread_mutex_lock(&a->lock);
        a->held = a->queue.len + a->batch.len;
        if (stopping && a->failing) {
            /* That was the last try: what is left is lost, and said so. */
            unsigned long lost = count_lines(&a->batch) + count_lines(&a->queue);
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
    free(a->queue.p);
    free(a->batch.p);
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
    pthread_condattr_t ca;
    bool cond_ok = false;
    if (pthread_condattr_init(&ca) == 0) {
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
    struct line l;
    line_init(&l);
    PUT_LIT(&l, "{\"time\":");
    put_time(&l, ev->wall);
    PUT_FIELD(&l, "server", ev->server);
    PUT_FIELD(&l, "session", ev->session);
    PUT_FIELD(&l, "client", ev->client);
    PUT_FIELD(&l, "principal", ev->principal);
    PUT_FIELD(&l, "principal_kind", ev->principal_kind);
    PUT_FIELD(&l, "method", ev->method);
    PUT_FIELD(&l, "tool", ev->tool);
    PUT_FIELD(&l, "tool_class", ev->tool_class);
    PUT_FIELD(&l, "decision", ev->decision);
    PUT_FIELD(&l, "rule", ev->rule);
    PUT_FIELD(&l, "reason", ev->reason);
    if (ev->shadow_decision) {
        PUT_FIELD(&l, "shadow_decision", ev->shadow_decision);
        PUT_FIELD(&l, "shadow_rule", ev->shadow_rule);
    }
    if (ev->approval_id)
        PUT_FIELD(&l, "approval_id", ev->approval_id);
    if (ev->approver)
        PUT_FIELD(&l, "approver", ev->approver);
    PUT_LIT(&l, ",\"status\":");
    if (ev->status >= 0)
        put_uint(&l, (unsigned)ev->status);
    else
        PUT_LIT(&l, "null");
    if (ev->is_error < 0)
        PUT_LIT(&l, ",\"is_error\":null");
    else if (ev->is_error)
        PUT_LIT(&l, ",\"is_error\":true");
    else
        PUT_LIT(&l, ",\"is_error\":false");
    PUT_LIT(&l, ",\"latency_ms\":");
    if (ev->latency_ms >= 0)
        put_millis(&l, ev->latency_ms);
    else
        PUT_LIT(&l, "null");
    PUT_LIT(&l, ",\"arg_keys\":[");
    bool object = cJSON_IsObject(ev->args);
    for (const cJSON *k = object ? ev->args->child : NULL; k; k = k->next) {
        if (k != ev->args->child)
            PUT_LIT(&l, ",");
        put_string(&l, k->string ? k->string : "", (size_t)-1);
    }
    PUT_LIT(&l, "]");
    if (a->log_values) {
        PUT_LIT(&l, ",\"args\":");
        put_value(a, &l, ev->args, 0);
    }
    PUT_LIT(&l, "}\n");
    if (l.failed) {
        pthread_mutex_lock(&a->lock);
        count_dropped(a, 1);
        pthread_mutex_unlock(&a->lock);
        line_free(&l);
        return;
    }
    if (a->sink)
        a->sink(a->sink_arg, l.p, l.len - 1);
    if (!a->has_writer) {
        line_free(&l);
        return;
    }
    pthread_mutex_lock(&a->lock);
    /* The writer waits only for an empty queue to fill: one signal then,
     * none for lines joining a queue it has yet to take. */
    bool was_empty = a->queue.len == 0;
    if (a->held + l.len > AUDIT_MAX_QUEUED || !bytes_add(&a->queue, l.p, l.len)) {
        count_dropped(a, 1);
    } else {
        a->held += l.len;
        if (was_empty)
            pthread_cond_signal(&a->wake);
    }
    pthread_mutex_unlock(&a->lock);
    line_free(&l);
}

void audit_reopen(struct audit_log *a)
{
    if (!a->has_writer)
        return;
    pthread_mutex_lock(&a->lock);
    a->reopen = true;
    a->reopen_mark = a->queue.len;
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
