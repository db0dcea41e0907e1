#include "metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "utf8.h"

static const double request_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double policy_buckets[] = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 0.01, 0.1};
#define NREQ (sizeof request_buckets / sizeof *request_buckets)
#define NPOL (sizeof policy_buckets / sizeof *policy_buckets)
#define MAX_BUCKETS 16

/* The last name of each list is where unknown names count. */
static const char *const decisions[] = {"allow", "deny", "hide", "rate_limit", "require_approval", "error"};
#define NDEC (sizeof decisions / sizeof *decisions)
#define DECISION_RATE_LIMIT 3
/* Tool classes (riskclass.h); the first, "", is a call whose class was not given. */
static const char *const classes[] = {"", "read", "write", "destructive", "unknown"};
#define NCLASS (sizeof classes / sizeof *classes)
static const char *const error_kinds[] = {"connect", "timeout", "reset", "malformed", "oversize", "other"};
#define NKIND (sizeof error_kinds / sizeof *error_kinds)
static const char *const lua_kinds[] = {"timeout", "memory", "error"};
#define NLUA (sizeof lua_kinds / sizeof *lua_kinds)

#define OTHER "_other"
/* Rows of the tool table: the named ones plus one "_other" per server. */
#define MAX_TOOL_ROWS (METRICS_MAX_TOOLS + METRICS_MAX_SERVERS + 1)
/* Open addressing at under a third full keeps probes short; a power of two. */
#define TOOL_SLOTS 4096

struct histogram {
    const double *bounds;
    size_t n;
    atomic_ullong counts[MAX_BUCKETS + 1];   /* per bucket, not cumulative; the last is +Inf */
    _Atomic double sum;
};

struct server_row {
    char *name;
    atomic_ullong by_kind[NKIND];
    atomic_ullong rate_limited;
    atomic_llong sessions;
};

struct tool_row {
    struct server_row *server;
    char *tool;
    uint64_t hash;
    atomic_ullong by_decision[NCLASS][NDEC];
    atomic_ullong shadow_by_decision[NDEC];     /* what shadow policies would have decided */
};

/* Rows are only ever added, never removed or moved, until metrics_free: a
 * pointer found under the read lock stays good after it is released, and
 * counters are atomics, so counting needs the write lock only for a new row. */
struct metrics {
    pthread_rwlock_t lock;
    uint64_t seed;                                  /* tool names come from agents: no chosen collisions */
    struct server_row *servers[METRICS_MAX_SERVERS + 1];
    size_t nservers;
    struct tool_row *slots[TOOL_SLOTS];
    struct tool_row *tools[MAX_TOOL_ROWS];          /* in creation order, for rendering */
    size_t ntools;
    size_t nnamed;                                  /* rows whose tool is not "_other" */
    struct histogram request, policy;
    atomic_llong connections, streams;
    atomic_ullong reloads_ok, reloads_failed, generation, audit_dropped;
    atomic_ullong lua[NLUA];
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_rwlock_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    if (getrandom(&m->seed, sizeof m->seed, GRND_NONBLOCK) != (ssize_t)sizeof m->seed) {
        /* No entropy yet (early boot): a per-process value still defeats precomputed collisions. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        m->seed = (uint64_t)(uintptr_t)m ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    }
    m->request.bounds = request_buckets;
    m->request.n = NREQ;
    m->policy.bounds = policy_buckets;
    m->policy.n = NPOL;
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntools; i++) {
        free(m->tools[i]->tool);
        free(m->tools[i]);
    }
    for (size_t i = 0; i <= METRICS_MAX_SERVERS; i++) {
        if (m->servers[i]) {
            free(m->servers[i]->name);
            free(m->servers[i]);
        }
    }
    pthread_rwlock_destroy(&m->lock);
    free(m);
}

/* The position of name in a list whose last entry takes every unknown name. */
static size_t index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i + 1 < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return n - 1;
}

/* The server's row if it exists; read or write lock held. */
static struct server_row *find_server(struct metrics *m, const char *name)
{
    for (size_t i = 0; i < m->nservers; i++)
        if (strcmp(m->servers[i]->name, name) == 0)
            return m->servers[i];
    struct server_row *other = m->servers[METRICS_MAX_SERVERS];
    return other && strcmp(name, OTHER) == 0 ? other : NULL;
}

/* A new server row in *slot; write lock held. NULL when out of memory. */
static struct server_row *add_server(struct server_row **slot, const char *name)
{
    struct server_row *r = calloc(1, sizeof *r);
    if (!r || !(r->name = strdup(name))) {
        free(r);
        return NULL;
    }
    *slot = r;
    return r;
}

/* The row of a server, created on first use; past the cap, the "_other" row.
 * NULL only when out of memory. */
static struct server_row *server_row(struct metrics *m, const char *name)
{
    pthread_rwlock_rdlock(&m->lock);
    struct server_row *r = find_server(m, name);
    pthread_rwlock_unlock(&m->lock);
    if (r)
        return r;
    pthread_rwlock_wrlock(&m->lock);
    if (!(r = find_server(m, name))) {
        if (m->nservers < METRICS_MAX_SERVERS) {
            if ((r = add_server(&m->servers[m->nservers], name)))
                m->nservers++;
        } else {
            r = m->servers[METRICS_MAX_SERVERS];
            if (!r)
                r = add_server(&m->servers[METRICS_MAX_SERVERS], OTHER);
        }
    }
    pthread_rwlock_unlock(&m->lock);
    return r;
}

/* FNV-1a over the tool name, started from the seed and the server's row. */
static uint64_t tool_hash(const struct metrics *m, const struct server_row *s, const char *tool)
{
    uint64_t h = m->seed ^ ((uint64_t)(uintptr_t)s * 0x9E3779B97F4A7C15ull);
    for (const unsigned char *p = (const unsigned char *)tool; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

/* The slot holding (s, tool), or the empty slot where it would go; lock held.
 * The table never fills: it has more than three times MAX_TOOL_ROWS slots. */
static struct tool_row **probe(struct metrics *m, const struct server_row *s, const char *tool, uint64_t h)
{
    for (size_t i = (size_t)h & (TOOL_SLOTS - 1);; i = (i + 1) & (TOOL_SLOTS - 1)) {
        struct tool_row *r = m->slots[i];
        if (!r || (r->hash == h && r->server == s && strcmp(r->tool, tool) == 0))
            return &m->slots[i];
    }
}

/* The row of (s, tool), created on first use while under the cap, else the
 * server's "_other" row. NULL only when out of memory. */
static struct tool_row *tool_row(struct metrics *m, struct server_row *s, const char *tool)
{
    if (strlen(tool) > METRICS_MAX_NAME)
        tool = OTHER;
    uint64_t h = tool_hash(m, s, tool);
    pthread_rwlock_rdlock(&m->lock);
    struct tool_row *r = *probe(m, s, tool, h);
    pthread_rwlock_unlock(&m->lock);
    if (r)
        return r;
    pthread_rwlock_wrlock(&m->lock);
    struct tool_row **slot = probe(m, s, tool, h);
    bool other = strcmp(tool, OTHER) == 0;
    if (!*slot && !other && m->nnamed >= METRICS_MAX_TOOLS) {
        tool = OTHER;
        other = true;
        h = tool_hash(m, s, tool);
        slot = probe(m, s, tool, h);
    }
    if (!*slot && m->ntools < MAX_TOOL_ROWS && (r = calloc(1, sizeof *r))) {
        if ((r->tool = strdup(tool))) {
            r->server = s;
            r->hash = h;
            *slot = r;
            m->tools[m->ntools++] = r;
            if (!other)
                m->nnamed++;
        } else {
            free(r);
        }
    }
    r = *slot;
    pthread_rwlock_unlock(&m->lock);
    return r;
}

void metrics_call(struct metrics *m, const char *server, const char *tool, const char *decision)
{
    metrics_tool_call(m, server, tool, NULL, decision);
}

/* The rows of (server, tool) when both exist, found under one read lock (the
 * common case: every call after the first of its tool); else created. */
static struct tool_row *rows(struct metrics *m, const char *server, const char *tool, struct server_row **s)
{
    const char *key = strlen(tool) > METRICS_MAX_NAME ? OTHER : tool;
    struct tool_row *r = NULL;
    pthread_rwlock_rdlock(&m->lock);
    if ((*s = find_server(m, server)))
        r = *probe(m, *s, key, tool_hash(m, *s, key));
    pthread_rwlock_unlock(&m->lock);
    if (r)
        return r;
    *s = server_row(m, server);
    return *s ? tool_row(m, *s, tool) : NULL;
}

void metrics_tool_call(struct metrics *m, const char *server, const char *tool, const char *tool_class,
                       const char *decision)
{
    struct server_row *s;
    struct tool_row *r = rows(m, server, tool, &s);
    size_t d = index_of(decisions, NDEC, decision);
    size_t c = 0;
    while (tool_class && c < NCLASS && strcmp(classes[c], tool_class) != 0)
        c++;
    if (c == NCLASS)
        c = NCLASS - 1;   /* a class this list does not know counts as unknown */
    if (r)
        atomic_fetch_add_explicit(&r->by_decision[c][d], 1, memory_order_relaxed);
    if (s && d == DECISION_RATE_LIMIT)
        atomic_fetch_add_explicit(&s->rate_limited, 1, memory_order_relaxed);
}

void metrics_shadow(struct metrics *m, const char *server, const char *tool, const char *decision)
{
    struct server_row *s;
    struct tool_row *r = rows(m, server, tool, &s);
    if (r)
        atomic_fetch_add_explicit(&r->shadow_by_decision[index_of(decisions, NDEC, decision)], 1,
                                  memory_order_relaxed);
}

/* Counts one observation in its bucket (the first whose bound is >= v). */
static void observe(struct histogram *h, double v)
{
    if (isnan(v))
        return;
    if (v < 0)
        v = 0;   /* a clock stepping back must not make a negative duration */
    size_t b = 0;
    while (b < h->n && v > h->bounds[b])
        b++;
    atomic_fetch_add_explicit(&h->counts[b], 1, memory_order_relaxed);
    double old = atomic_load_explicit(&h->sum, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(&h->sum, &old, old + v, memory_order_relaxed, memory_order_relaxed))
        ;
}

_Static_assert(NDEC == METRICS_DECISIONS, "metrics.h names every decision");
_Static_assert(NREQ + 1 == METRICS_LATENCY_BUCKETS, "metrics.h counts every request bucket");

void metrics_sample(struct metrics *m, struct metrics_sample *out)
{
    memset(out, 0, sizeof *out);
    pthread_rwlock_rdlock(&m->lock);
    for (size_t i = 0; i < m->ntools; i++)
        for (size_t c = 0; c < NCLASS; c++)
            for (size_t d = 0; d < NDEC; d++)
                out->calls[d] += atomic_load_explicit(&m->tools[i]->by_decision[c][d], memory_order_relaxed);
    pthread_rwlock_unlock(&m->lock);
    for (size_t b = 0; b <= NREQ; b++)
        out->latency[b] = atomic_load_explicit(&m->request.counts[b], memory_order_relaxed);
}

const char *metrics_decision_name(size_t i)
{
    return i < NDEC ? decisions[i] : NULL;
}

double metrics_latency_bound(size_t i)
{
    return i < NREQ ? request_buckets[i] : INFINITY;
}

void metrics_request_seconds(struct metrics *m, double seconds)
{
    observe(&m->request, seconds);
}

void metrics_policy_seconds(struct metrics *m, double seconds)
{
    observe(&m->policy, seconds);
}

void metrics_upstream_error(struct metrics *m, const char *server, const char *kind)
{
    struct server_row *s = server_row(m, server);
    if (s)
        atomic_fetch_add_explicit(&s->by_kind[index_of(error_kinds, NKIND, kind)], 1, memory_order_relaxed);
}

void metrics_lua_error(struct metrics *m, const char *kind)
{
    atomic_fetch_add_explicit(&m->lua[index_of(lua_kinds, NLUA, kind)], 1, memory_order_relaxed);
}

void metrics_connections(struct metrics *m, int delta)
{
    atomic_fetch_add(&m->connections, delta);
}

void metrics_sessions(struct metrics *m, const char *server, int delta)
{
    struct server_row *s = server_row(m, server);
    if (s)
        atomic_fetch_add(&s->sessions, delta);
}

long long metrics_sessions_open(struct metrics *m, const char *server)
{
    pthread_rwlock_rdlock(&m->lock);
    const struct server_row *r = find_server(m, server);
    long long n = r ? atomic_load(&r->sessions) : 0;
    pthread_rwlock_unlock(&m->lock);
    return n;
}

void metrics_sse_streams(struct metrics *m, int delta)
{
    atomic_fetch_add(&m->streams, delta);
}

void metrics_reload(struct metrics *m, int ok, unsigned long generation)
{
    atomic_fetch_add(ok ? &m->reloads_ok : &m->reloads_failed, 1);
    if (ok)
        atomic_store(&m->generation, generation);
}

void metrics_audit_dropped(struct metrics *m, unsigned long lines)
{
    atomic_fetch_add(&m->audit_dropped, lines);
}

/* A label value with backslash, quote and newline escaped, as the format asks;
 * bytes that are not UTF-8 become U+FFFD, since one invalid label would make
 * Prometheus reject the whole scrape. */
static void label(struct evbuffer *out, const char *v)
{
    const unsigned char *p = (const unsigned char *)v;
    size_t n = strlen(v);
    while (n) {
        size_t run = 0, len;
        while (run < n && p[run] != '\\' && p[run] != '"' && p[run] != '\n' && (len = utf8_seq_len(p + run, n - run)))
            run += len;
        evbuffer_add(out, p, run);
        p += run;
        n -= run;
        if (!n)
            break;
        if (*p == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*p == '"')
            evbuffer_add(out, "\\\"", 2);
        else if (*p == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, UTF8_REPLACEMENT, 3);
        p++;
        n--;
    }
}

static void family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram: cumulative buckets, +Inf, _sum and _count (always equal to +Inf). */
static void render_histogram(struct evbuffer *out, const char *name, const char *help, struct histogram *h)
{
    family(out, name, "histogram", help);
    unsigned long long cumulative = 0;
    for (size_t b = 0; b < h->n; b++) {
        cumulative += atomic_load_explicit(&h->counts[b], memory_order_relaxed);
        evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[b], cumulative);
    }
    cumulative += atomic_load_explicit(&h->counts[h->n], memory_order_relaxed);
    evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.17g\n%s_count %llu\n", name, cumulative, name,
                        atomic_load_explicit(&h->sum, memory_order_relaxed), name, cumulative);
}

void metrics_render(struct metrics *m, struct evbuffer *out)
{
    pthread_rwlock_rdlock(&m->lock);
    family(out, "warden_tool_calls_total", "counter", "Tool calls by server, tool, class and decision.");
    for (size_t i = 0; i < m->ntools; i++) {
        const struct tool_row *r = m->tools[i];
        for (size_t c = 0; c < NCLASS; c++) {
            for (size_t d = 0; d < NDEC; d++) {
                unsigned long long v = atomic_load_explicit(&r->by_decision[c][d], memory_order_relaxed);
                if (!v)
                    continue;
                evbuffer_add(out, "warden_tool_calls_total{server=\"", 32);
                label(out, r->server->name);
                evbuffer_add(out, "\",tool=\"", 8);
                label(out, r->tool);
                if (c)
                    evbuffer_add_printf(out, "\",class=\"%s", classes[c]);
                evbuffer_add_printf(out, "\",decision=\"%s\"} %llu\n", decisions[d], v);
            }
        }
    }
    family(out, "warden_shadow_decisions_total", "counter",
           "What shadow policies would have decided (never enforced), by server, tool and decision.");
    for (size_t i = 0; i < m->ntools; i++) {
        const struct tool_row *r = m->tools[i];
        for (size_t d = 0; d < NDEC; d++) {
            unsigned long long v = atomic_load_explicit(&r->shadow_by_decision[d], memory_order_relaxed);
            if (!v)
                continue;
            evbuffer_add(out, "warden_shadow_decisions_total{server=\"", 38);
            label(out, r->server->name);
            evbuffer_add(out, "\",tool=\"", 8);
            label(out, r->tool);
            evbuffer_add_printf(out, "\",decision=\"%s\"} %llu\n", decisions[d], v);
        }
    }
    family(out, "warden_upstream_errors_total", "counter", "Upstream failures by server and kind.");
    for (size_t i = 0; i <= METRICS_MAX_SERVERS; i++) {
        const struct server_row *s = m->servers[i];
        for (size_t k = 0; s && k < NKIND; k++) {
            unsigned long long v = atomic_load_explicit(&s->by_kind[k], memory_order_relaxed);
            if (!v)
                continue;
            evbuffer_add(out, "warden_upstream_errors_total{server=\"", 37);
            label(out, s->name);
            evbuffer_add_printf(out, "\",kind=\"%s\"} %llu\n", error_kinds[k], v);
        }
    }
    family(out, "warden_rate_limited_total", "counter", "Tool calls refused by a rate limit, by server.");
    for (size_t i = 0; i <= METRICS_MAX_SERVERS; i++) {
        const struct server_row *s = m->servers[i];
        unsigned long long v = s ? atomic_load_explicit(&s->rate_limited, memory_order_relaxed) : 0;
        if (!v)
            continue;
        evbuffer_add(out, "warden_rate_limited_total{server=\"", 34);
        label(out, s->name);
        evbuffer_add_printf(out, "\"} %llu\n", v);
    }
    family(out, "warden_open_sessions", "gauge", "Upstream sessions open now (a stdio server's children), by server.");
    for (size_t i = 0; i <= METRICS_MAX_SERVERS; i++) {
        const struct server_row *s = m->servers[i];
        if (!s)
            continue;
        evbuffer_add_printf(out, "warden_open_sessions{server=\"");
        label(out, s->name);
        evbuffer_add_printf(out, "\"} %lld\n", atomic_load(&s->sessions));
    }
    pthread_rwlock_unlock(&m->lock);
    render_histogram(out, "warden_request_duration_seconds", "Time from a request's last byte to the end of its answer.",
                     &m->request);
    render_histogram(out, "warden_policy_eval_seconds", "Time the policies took to decide a tool call.", &m->policy);
    family(out, "warden_lua_errors_total", "counter", "Lua policies that failed, by kind.");
    for (size_t k = 0; k < NLUA; k++)
        evbuffer_add_printf(out, "warden_lua_errors_total{kind=\"%s\"} %llu\n", lua_kinds[k], atomic_load(&m->lua[k]));
    family(out, "warden_open_connections", "gauge", "Client connections open now.");
    evbuffer_add_printf(out, "warden_open_connections %lld\n", atomic_load(&m->connections));
    family(out, "warden_open_sse_streams", "gauge", "Event streams being relayed now.");
    evbuffer_add_printf(out, "warden_open_sse_streams %lld\n", atomic_load(&m->streams));
    family(out, "warden_policy_reloads_total", "counter", "Policy reloads by result.");
    evbuffer_add_printf(out, "warden_policy_reloads_total{result=\"ok\"} %llu\nwarden_policy_reloads_total{result=\"failed\"} %llu\n",
                        atomic_load(&m->reloads_ok), atomic_load(&m->reloads_failed));
    family(out, "warden_policy_generation", "gauge", "The policy generation in force.");
    evbuffer_add_printf(out, "warden_policy_generation %llu\n", atomic_load(&m->generation));
    family(out, "warden_audit_dropped_total", "counter", "Audit lines lost: the writer fell behind or the file could not be written.");
    evbuffer_add_printf(out, "warden_audit_dropped_total %llu\n", atomic_load(&m->audit_dropped));
}
