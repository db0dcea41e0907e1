#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static const double request_buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const double policy_buckets[] = {1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 0.01, 0.1};
#define NREQ (sizeof request_buckets / sizeof *request_buckets)
#define NPOL (sizeof policy_buckets / sizeof *policy_buckets)

static const char *const decisions[] = {"allow", "deny", "hide", "rate_limit", "require_approval", "error"};
#define NDEC (sizeof decisions / sizeof *decisions)
static const char *const error_kinds[] = {"connect", "timeout", "reset", "malformed", "oversize", "other"};
#define NKIND (sizeof error_kinds / sizeof *error_kinds)

struct histogram {
    unsigned long long counts[16];   /* per bucket, not cumulative */
    unsigned long long total;
    double sum;
};

/* One (server, tool) pair and its counts per decision. */
struct tool_row {
    char *server, *tool;
    unsigned long long by_decision[NDEC];
};

struct server_row {
    char *server;
    unsigned long long by_kind[NKIND];
};

struct metrics {
    pthread_mutex_t lock;
    struct tool_row *tools;
    size_t ntools, tools_cap;
    struct server_row *servers;
    size_t nservers, servers_cap;
    struct histogram request, policy;
    atomic_long connections, streams;
    atomic_ullong reloads_ok, reloads_failed, generation, audit_dropped;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (m && pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->ntools; i++) {
        free(m->tools[i].server);
        free(m->tools[i].tool);
    }
    for (size_t i = 0; i < m->nservers; i++)
        free(m->servers[i].server);
    free(m->tools);
    free(m->servers);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static size_t index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return n - 1;
}

/* The row of (server, tool), created while there is room, else the overflow row. Lock held. */
static struct tool_row *tool_row(struct metrics *m, const char *server, const char *tool)
{
    for (size_t i = 0; i < m->ntools; i++)
        if (strcmp(m->tools[i].tool, tool) == 0 && strcmp(m->tools[i].server, server) == 0)
            return &m->tools[i];
    if (m->ntools >= METRICS_MAX_TOOLS) {
        if (strcmp(tool, "_other") == 0)
            return NULL;
        return tool_row(m, server, "_other");
    }
    if (m->ntools == m->tools_cap) {
        size_t cap = m->tools_cap ? m->tools_cap * 2 : 64;
        struct tool_row *t = realloc(m->tools, cap * sizeof *t);
        if (!t)
            return NULL;
        m->tools = t;
        m->tools_cap = cap;
    }
    struct tool_row *r = &m->tools[m->ntools];
    memset(r, 0, sizeof *r);
    r->server = strdup(server);
    r->tool = strdup(tool);
    if (!r->server || !r->tool) {
        free(r->server);
        free(r->tool);
        return NULL;
    }
    m->ntools++;
    return r;
}

void metrics_call(struct metrics *m, const char *server, const char *tool, const char *decision)
{
    pthread_mutex_lock(&m->lock);
    struct tool_row *r = tool_row(m, server, tool);
    if (r)
        r->by_decision[index_of(decisions, NDEC, decision)]++;
    pthread_mutex_unlock(&m->lock);
}

static void observe(struct metrics *m, struct histogram *h, const double *bounds, size_t n, double v)
{
    size_t b = 0;
    while (b < n && v > bounds[b])
        b++;
    pthread_mutex_lock(&m->lock);
    h->counts[b]++;
    h->total++;
    h->sum += v;
    pthread_mutex_unlock(&m->lock);
}

void metrics_request_seconds(struct metrics *m, double s)
{
    observe(m, &m->request, request_buckets, NREQ, s);
}

void metrics_policy_seconds(struct metrics *m, double s)
{
    observe(m, &m->policy, policy_buckets, NPOL, s);
}

void metrics_upstream_error(struct metrics *m, const char *server, const char *kind)
{
    pthread_mutex_lock(&m->lock);
    struct server_row *r = NULL;
    for (size_t i = 0; i < m->nservers && !r; i++)
        if (strcmp(m->servers[i].server, server) == 0)
            r = &m->servers[i];
    if (!r && m->nservers == m->servers_cap) {
        size_t cap = m->servers_cap ? m->servers_cap * 2 : 8;
        struct server_row *s = realloc(m->servers, cap * sizeof *s);
        if (s) {
            m->servers = s;
            m->servers_cap = cap;
        }
    }
    if (!r && m->nservers < m->servers_cap && (m->servers[m->nservers].server = strdup(server))) {
        r = &m->servers[m->nservers++];
        memset(r->by_kind, 0, sizeof r->by_kind);
    }
    if (r)
        r->by_kind[index_of(error_kinds, NKIND, kind)]++;
    pthread_mutex_unlock(&m->lock);
}

void metrics_connections(struct metrics *m, int delta)
{
    atomic_fetch_add(&m->connections, delta);
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

void metrics_audit_dropped(struct metrics *m)
{
    atomic_fetch_add(&m->audit_dropped, 1);
}

/* A label value with backslash, quote and newline escaped, as the format asks. */
static void label(struct evbuffer *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            evbuffer_add_printf(out, "\\%c", *v);
        else if (*v == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, v, 1);
    }
}

static void render_histogram(struct evbuffer *out, const char *name, const char *help, const struct histogram *h,
                             const double *bounds, size_t n)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long cumulative = 0;
    for (size_t b = 0; b < n; b++) {
        cumulative += h->counts[b];
        evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name, bounds[b], cumulative);
    }
    evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9g\n%s_count %llu\n", name, h->total, name, h->sum,
                        name, h->total);
}

void metrics_render(struct metrics *m, struct evbuffer *out)
{
    pthread_mutex_lock(&m->lock);
    evbuffer_add_printf(out, "# HELP warden_tool_calls_total Tool calls by server, tool and decision.\n"
                             "# TYPE warden_tool_calls_total counter\n");
    unsigned long long limited = 0, lua_errors = 0;
    for (size_t i = 0; i < m->ntools; i++) {
        for (size_t d = 0; d < NDEC; d++) {
            if (!m->tools[i].by_decision[d])
                continue;
            evbuffer_add(out, "warden_tool_calls_total{server=\"", 32);
            label(out, m->tools[i].server);
            evbuffer_add(out, "\",tool=\"", 8);
            label(out, m->tools[i].tool);
            evbuffer_add_printf(out, "\",decision=\"%s\"} %llu\n", decisions[d], m->tools[i].by_decision[d]);
        }
        limited += m->tools[i].by_decision[3];
        lua_errors += m->tools[i].by_decision[5];
    }
    evbuffer_add_printf(out, "# HELP warden_rate_limited_total Calls refused by a rate limit.\n"
                             "# TYPE warden_rate_limited_total counter\nwarden_rate_limited_total %llu\n", limited);
    evbuffer_add_printf(out, "# HELP warden_policy_errors_total Calls refused because a policy failed (Lua error, timeout, memory).\n"
                             "# TYPE warden_policy_errors_total counter\nwarden_policy_errors_total %llu\n", lua_errors);
    evbuffer_add_printf(out, "# HELP warden_upstream_errors_total Upstream failures by server and kind.\n"
                             "# TYPE warden_upstream_errors_total counter\n");
    for (size_t i = 0; i < m->nservers; i++) {
        for (size_t k = 0; k < NKIND; k++) {
            if (!m->servers[i].by_kind[k])
                continue;
            evbuffer_add(out, "warden_upstream_errors_total{server=\"", 37);
            label(out, m->servers[i].server);
            evbuffer_add_printf(out, "\",kind=\"%s\"} %llu\n", error_kinds[k], m->servers[i].by_kind[k]);
        }
    }
    render_histogram(out, "warden_request_duration_seconds", "Time from a request's last byte to the end of its answer.",
                     &m->request, request_buckets, NREQ);
    render_histogram(out, "warden_policy_eval_seconds", "Time the policies took to decide a tool call.", &m->policy,
                     policy_buckets, NPOL);
    pthread_mutex_unlock(&m->lock);
    evbuffer_add_printf(out,
                        "# HELP warden_open_connections Client connections open now.\n# TYPE warden_open_connections gauge\n"
                        "warden_open_connections %ld\n"
                        "# HELP warden_open_sse_streams Event streams being relayed now.\n# TYPE warden_open_sse_streams gauge\n"
                        "warden_open_sse_streams %ld\n"
                        "# HELP warden_policy_reloads_total Policy reloads by result.\n# TYPE warden_policy_reloads_total counter\n"
                        "warden_policy_reloads_total{result=\"ok\"} %llu\nwarden_policy_reloads_total{result=\"failed\"} %llu\n"
                        "# HELP warden_policy_generation The policy generation in force.\n# TYPE warden_policy_generation gauge\n"
                        "warden_policy_generation %llu\n"
                        "# HELP warden_audit_dropped_total Audit lines dropped because the writer fell behind.\n"
                        "# TYPE warden_audit_dropped_total counter\nwarden_audit_dropped_total %llu\n",
                        atomic_load(&m->connections), atomic_load(&m->streams), atomic_load(&m->reloads_ok),
                        atomic_load(&m->reloads_failed), atomic_load(&m->generation), atomic_load(&m->audit_dropped));
}
