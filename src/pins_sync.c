#include "pins_sync.h"

#include <stdlib.h>
#include <string.h>
#include <event2/event.h>
#include "log.h"
#include "pins.h"
#include "pins_redis.h"
#include "state.h"

/* One pinned server of the worker, by name (a reload replaces runtimes). */
struct sync_server {
    struct pins_sync *ps;
    char *name;                   /* owned */
    struct state_req *req;        /* the read in flight, or NULL */
    bool again;                   /* told of a change while reading: read once more */
    bool failed;                  /* the last read got no answer: retry */
    bool warned;                  /* its failure is logged (once per outage) */
    unsigned long long told;      /* pins_approvals_changes when the clients were last told */
};

struct pins_sync {
    struct worker *w;
    void (*notify)(struct server_rt *s);
    struct event *timer;          /* the next refresh or retry */
    struct sync_server **servers; /* [0..n) */
    size_t n;
};

/* The worker's runtime of server `name` when it checks pins, or NULL. */
static struct server_rt *pinned_server(struct worker *w, const char *name, size_t len)
{
    for (size_t i = 0; i < w->nservers; i++) {
        struct server_rt *s = w->servers[i];
        if (s->gen && s->gen->pins && strlen(s->conf->name) == len && memcmp(s->conf->name, name, len) == 0)
            return s;
    }
    return NULL;
}

static void server_free(struct sync_server *e)
{
    state_cancel(e->req);
    free(e->name);
    free(e);
}

/* name's entry, made when missing; entries of servers the worker no longer
 * has are dropped then, so there are never more than its servers. */
static struct sync_server *entry_of(struct pins_sync *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->servers[i]->name, name) == 0)
            return ps->servers[i];
    size_t kept = 0;
    for (size_t i = 0; i < ps->n; i++) {
        struct sync_server *e = ps->servers[i];
        if (e->req || pinned_server(ps->w, e->name, strlen(e->name)))
            ps->servers[kept++] = e;
        else
            server_free(e);
    }
    ps->n = kept;
    struct sync_server **v = realloc(ps->servers, (ps->n + 1) * sizeof *v);
    struct sync_server *e = calloc(1, sizeof *e);
    if (v)
        ps->servers = v;
    if (!v || !e || !(e->name = strdup(name))) {
        free(e);
        return NULL;
    }
    e->ps = ps;
    ps->servers[ps->n++] = e;
    return e;
}

static void arm(struct pins_sync *ps, bool retry)
{
    struct timeval tv = retry ? (struct timeval){0, PINS_SYNC_RETRY_MS * 1000} : (struct timeval){PINS_SYNC_REFRESH_S, 0};
    /* a retry comes sooner than the refresh it replaces, never later */
    if (!retry && evtimer_pending(ps->timer, NULL))
        return;
    evtimer_add(ps->timer, &tv);
}

static void read_server(struct sync_server *e);

static void failed(struct sync_server *e, const char *why)
{
    e->failed = true;
    if (!e->warned)
        log_warn("pins of server %s: the shared state (Redis) did not answer (%s): the approvals read last stay "
                 "in force, new ones wait",
                 e->name, why);
    e->warned = true;
    arm(e->ps, true);
}

static void on_read(void *arg, const struct redisReply *r, const char *error)
{
    struct sync_server *e = arg;
    struct pins_sync *ps = e->ps;
    e->req = NULL;
    struct server_rt *s = pinned_server(ps->w, e->name, strlen(e->name));
    if (!r || error) {
        failed(e, error ? error : "no reply");
        return;
    }
    e->failed = e->warned = false;
    if (s) {
        struct pin_approval_set set;
        char err[200];
        if (pins_redis_parse(r, NULL, &set, err, sizeof err) < 0)
            log_error("pins of server %s in Redis are refused (%s): only its pins file is in force", e->name, err);
        if (pins_apply_approvals(s->gen->pins, &set) > 0)
            log_info("pins of server %s: approvals from Redis are in force", e->name);
        unsigned long long changes = pins_approvals_changes(s->gen->pins);
        if (changes != e->told) {
            e->told = changes;
            ps->notify(s);
        }
    }
    if (e->again) {
        e->again = false;
        read_server(e);
    }
}

static void read_server(struct sync_server *e)
{
    if (e->req) {
        e->again = true;
        return;
    }
    /* not connected: no command is tried (nor counted as failed) until the retry */
    if (!state_ready(e->ps->w->state) || !(e->req = pins_redis_read(e->ps->w->state, e->name, on_read, e)))
        failed(e, "not connected");
}

static void read_all(struct pins_sync *ps)
{
    for (size_t i = 0; i < ps->w->nservers; i++) {
        struct server_rt *s = ps->w->servers[i];
        struct sync_server *e = s->gen && s->gen->pins ? entry_of(ps, s->conf->name) : NULL;
        if (e)
            read_server(e);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct pins_sync *ps = arg;
    arm(ps, false);
    read_all(ps);
}

/* msg NULL: the subscription was made (again): every set is read. */
static void on_message(void *arg, const char *msg, size_t len)
{
    struct pins_sync *ps = arg;
    if (!msg) {
        read_all(ps);
        return;
    }
    struct server_rt *s = pinned_server(ps->w, msg, len);
    struct sync_server *e = s ? entry_of(ps, s->conf->name) : NULL;
    if (e)
        read_server(e);
}

struct pins_sync *pins_sync_new(struct worker *w, void (*notify)(struct server_rt *s))
{
    struct pins_sync *ps = calloc(1, sizeof *ps);
    char chan[300];
    if (!ps)
        return NULL;
    ps->w = w;
    ps->notify = notify;
    pins_redis_channel(w->state, chan, sizeof chan);
    if (!(ps->timer = evtimer_new(w->base, on_timer, ps)) || state_subscribe(w->state, chan, on_message, ps) < 0) {
        pins_sync_free(ps);
        return NULL;
    }
    arm(ps, false);
    return ps;
}

void pins_sync_free(struct pins_sync *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        server_free(ps->servers[i]);
    free(ps->servers);
    if (ps->timer)
        event_free(ps->timer);
    free(ps);
}
