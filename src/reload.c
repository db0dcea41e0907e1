#include "reload.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include <time.h>
#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include "log.h"
#include "metrics.h"
#include "auth.h"
#include "config.h"
#include "confdiff.h"
#include "pins.h"
#include "policy.h"
#include "tls.h"

/* Editors write a file in several steps; one reload follows the last of them. */
#define RELOAD_DEBOUNCE_MS 100

struct watched_dir {
    int wd;
    char *path;
};

struct reloader {
    struct worker *workers;
    int nworkers;
    struct event *sighup;
    int inotify_fd;
    struct event *inotify_ev;
    struct event *debounce;
    struct watched_dir *dirs;
    size_t ndirs;
    unsigned long generation;
    const struct config *cfg; /* the config in force: main's, or current's */
    int argc;                 /* when argv is not NULL, SIGHUP re-reads the config (borrowed) */
    char **argv;
    struct tls_client *system_tls;
    reload_sync_fn sync;        /* applies a config's servers to a worker (worker_sync_servers) */
    struct config_gen *current; /* the config re-read last and in force (a reference), or NULL */
    struct config_gen *gens;    /* every config re-read and not yet freed */
    cJSON *loaded;              /* for /policies: what the generation in force was built from (owned) */
    cJSON *last_reload;         /* for /policies: the last reload's result, trigger, time and error (owned) */
};

void policy_gen_release(struct policy_gen *g)
{
    if (--g->refs == 0) {
        policy_set_free(g->set);
        pins_free(g->pins);
        free(g);
    }
}

/* Loads server sc's policies and pins (from the process's pins table) as
 * generation `number` into *out (NULL when it has neither). Returns 0, or -1
 * with the problems in err. */
static int load_gen(struct worker *w, const struct server_conf *sc, unsigned long number, struct policy_gen **out,
                    char *err, size_t errlen)
{
    *out = NULL;
    bool pinned = sc->pin_mode != PIN_MODE_OFF;
    if (sc->npolicies == 0 && sc->nshadow_policies == 0 && !pinned)
        return 0;
    /* pins come with the generation: an approval is a reload */
    struct pins *pins = NULL;
    if (pinned && !(pins = pins_table_get(w->pins, sc->name, number, sc->pins, err, errlen)))
        return -1;
    struct policy_load_opts opts = {.shadow = (const char *const *)sc->shadow_policies,
                                    .nshadow = sc->nshadow_policies};
    struct policy_set *set =
        policy_set_load_opts((const char *const *)sc->policies, sc->npolicies, w->shared, sc->name, &opts, err, errlen);
    /* Policies bound to principals in the config apply to those callers only. */
    for (size_t j = 0; set && sc->policy_when && j < sc->npolicies; j++) {
        if (sc->policy_when[j] && policy_set_bind(set, j, sc->policy_when[j], err, errlen) < 0) {
            policy_set_free(set);
            set = NULL;
        }
    }
    if (!set) {
        pins_free(pins);
        return -1;
    }
    policy_set_count_errors(set, w->metrics);
    if (!(*out = malloc(sizeof **out))) {
        policy_set_free(set);
        pins_free(pins);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    **out = (struct policy_gen){.set = set, .pins = pins, .refs = 1, .number = number};
    return 0;
}

int reload_load_server(struct server_rt *s, unsigned long number, char *err, size_t errlen)
{
    struct policy_gen *g;
    if (load_gen(s->worker, s->conf, number, &g, err, errlen) < 0)
        return -1;
    if (s->gen)
        policy_gen_release(s->gen);
    s->gen = g;
    return 0;
}

int reload_load_worker(struct worker *w, unsigned long number, char *err, size_t errlen)
{
    struct policy_gen **fresh = calloc(w->nservers ? w->nservers : 1, sizeof *fresh);
    if (!fresh) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t used = 0;
    err[0] = '\0';
    bool failed = false;
    for (size_t i = 0; i < w->nservers; i++) {
        char one[4096];
        if (load_gen(w, w->servers[i]->conf, number, &fresh[i], one, sizeof one) == 0)
            continue;
        failed = true;
        int n = snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", one);
        if (n > 0 && (size_t)n < errlen - used)
            used += (size_t)n;
    }
    if (failed) {
        for (size_t i = 0; i < w->nservers; i++)
            if (fresh[i])
                policy_gen_release(fresh[i]);
        free(fresh);
        return -1;
    }
    for (size_t i = 0; i < w->nservers; i++) {
        struct server_rt *s = w->servers[i];
        struct policy_gen *old = s->gen;
        s->gen = fresh[i];
        if (old)
            policy_gen_release(old);
        if ((old || fresh[i]) && w->on_policies_changed)
            w->on_policies_changed(s);
    }
    free(fresh);
    return 0;
}

void config_gen_release(struct config_gen *g)
{
    atomic_fetch_sub_explicit(&g->refs, 1, memory_order_acq_rel);
}

/* FNV-1a of a file's bytes: enough to tell which version of a policy was loaded. */
static bool file_hash(const char *path, unsigned long long *hash, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    unsigned long long h = 1469598103934665603ULL;
    unsigned char buf[8192];
    size_t n, total = 0;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        for (size_t i = 0; i < n; i++)
            h = (h ^ buf[i]) * 1099511628211ULL;
        total += n;
    }
    fclose(f);
    *hash = h;
    *size = total;
    return true;
}

/* Adds FILE entries (file, hash, bytes) of files[0..n) to array a. */
static void describe_files(cJSON *a, char *const *files, size_t n)
{
    for (size_t j = 0; j < n; j++) {
        cJSON *f = cJSON_CreateObject();
        const char *path = files[j];
        unsigned long long h;
        size_t size;
        cJSON_AddStringToObject(f, "file", path);
        if (file_hash(path, &h, &size)) {
            char hex[40];
            snprintf(hex, sizeof hex, "fnv1a64:%016llx", h);
            cJSON_AddStringToObject(f, "hash", hex);
            cJSON_AddNumberToObject(f, "bytes", (double)size);
        }
        cJSON_AddItemToArray(a, f);
    }
}

static void now_text(char *when, size_t len)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Records the last reload's outcome for /policies: what triggered it, when,
 * and on failure every problem (the previous generation stays in force). */
static void note_reload(struct reloader *r, const char *why, const char *error)
{
    cJSON *o = cJSON_CreateObject();
    char when[40];
    now_text(when, sizeof when);
    if (!o || !cJSON_AddStringToObject(o, "result", error ? "failed" : "ok") ||
        !cJSON_AddStringToObject(o, "trigger", why) || !cJSON_AddStringToObject(o, "at", when) ||
        !(error ? cJSON_AddStringToObject(o, "error", error) : cJSON_AddNullToObject(o, "error"))) {
        cJSON_Delete(o);
        return;
    }
    cJSON_Delete(r->last_reload);
    r->last_reload = o;
}

/* Records what the generation in force was loaded from, for /policies. */
static void note_loaded(struct reloader *r)
{
    const struct config *cfg = r->cfg;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "generation", (double)r->generation);
    char when[40];
    now_text(when, sizeof when);
    cJSON_AddStringToObject(root, "loaded_at", when);
    cJSON *servers = cJSON_AddArrayToObject(root, "servers");
    for (size_t i = 0; i < cfg->nservers; i++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddStringToObject(s, "name", cfg->servers[i].name);
        cJSON_AddStringToObject(s, "path", cfg->servers[i].path);
        describe_files(cJSON_AddArrayToObject(s, "policies"), cfg->servers[i].policies, cfg->servers[i].npolicies);
        if (cfg->servers[i].nshadow_policies)
            describe_files(cJSON_AddArrayToObject(s, "shadow_policies"), cfg->servers[i].shadow_policies,
                           cfg->servers[i].nshadow_policies);
        cJSON_AddItemToArray(servers, s);
    }
    cJSON_Delete(r->loaded);
    r->loaded = root;
}

void reload_describe(void *arg, struct evbuffer *out)
{
    struct reloader *r = arg;
    cJSON *doc = r->loaded ? cJSON_Duplicate(r->loaded, 1) : cJSON_CreateObject();
    if (doc && r->last_reload)
        cJSON_AddItemToObject(doc, "last_reload", cJSON_Duplicate(r->last_reload, 1));
    char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;
    cJSON_Delete(doc);
    if (text)
        evbuffer_add(out, text, strlen(text));
    else
        evbuffer_add(out, "{}", 2);
    free(text);
}

/* Builds the next generation on worker 0 (which validates it), and only when
 * it loaded hands the same files to the other workers. */
static int reread_config(struct reloader *r, unsigned long number);

static void reload_all(struct reloader *r, const char *why, bool reread)
{
    unsigned long number = r->generation + 1;
    char err[8192];
    if (reread && reread_config(r, number) < 0)
        return;
    if (reload_load_worker(&r->workers[0], number, err, sizeof err) < 0) {
        log_error("policy reload (%s) failed; generation %lu stays in force:\n%s", why, r->generation, err);
        metrics_reload(r->workers[0].metrics, 0, r->generation);
        note_reload(r, why, err);
        return;
    }
    r->generation = number;
    metrics_reload(r->workers[0].metrics, 1, number);
    note_loaded(r);
    note_reload(r, why, NULL);
    for (int i = 1; i < r->nworkers; i++) {
        r->workers[i].reload_to = number;
        event_active(r->workers[i].reload_event, 0, 0);
    }
    log_info("policies reloaded (%s): generation %lu in force", why, number);
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    reload_all(arg, "SIGHUP", true);
}

static void on_debounce(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    reload_all(arg, "a policy file changed", false);
}

/* The directory part of a path, as inotify needs it. */
static void dir_of(const char *file, char *dir, size_t dirlen)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        snprintf(dir, dirlen, ".");
    else if (slash == file)
        snprintf(dir, dirlen, "/");
    else
        snprintf(dir, dirlen, "%.*s", (int)(slash - file), file);
}

/* The j-th file a reload reads for server sc: its policies, its shadow
 * policies, then its pins file (when pins are checked); NULL past the last. */
static const char *watched_file(const struct server_conf *sc, size_t j)
{
    if (j < sc->npolicies)
        return sc->policies[j];
    j -= sc->npolicies;
    if (j < sc->nshadow_policies)
        return sc->shadow_policies[j];
    return j == sc->nshadow_policies && sc->pin_mode != PIN_MODE_OFF ? sc->pins : NULL;
}

/* True when `name` in the watched directory `dir` is one of the policy files
 * (or a pins file: `warden pins approve` replaces it). */
static bool is_policy_file(const struct reloader *r, const char *dir, const char *name)
{
    const struct config *cfg = r->cfg;
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct server_conf *sc = &cfg->servers[i];
        for (size_t j = 0; watched_file(sc, j); j++) {
            const char *p = watched_file(sc, j);
            const char *slash = strrchr(p, '/');
            char pdir[PATH_MAX];
            dir_of(p, pdir, sizeof pdir);
            if (strcmp(slash ? slash + 1 : p, name) == 0 && strcmp(pdir, dir) == 0)
                return true;
        }
    }
    return false;
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct reloader *r = arg;
    char buf[16 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    bool relevant = false;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        for (char *p = buf; p < buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            if (ev->len) {
                for (size_t i = 0; i < r->ndirs; i++)
                    if (r->dirs[i].wd == ev->wd && is_policy_file(r, r->dirs[i].path, ev->name))
                        relevant = true;
            }
            p += sizeof *ev + ev->len;
        }
    }
    /* The first change of a burst starts the clock and later ones ride along,
     * so a file rewritten without pause still reloads every 100 ms. */
    if (relevant && !evtimer_pending(r->debounce, NULL)) {
        struct timeval tv = {.tv_sec = 0, .tv_usec = RELOAD_DEBOUNCE_MS * 1000};
        evtimer_add(r->debounce, &tv);
    }
}

/* Watches the directory of one policy file (once per directory). */
static int watch_dir_of(struct reloader *r, const char *file, char *err, size_t errlen)
{
    char dir[PATH_MAX];
    dir_of(file, dir, sizeof dir);
    for (size_t i = 0; i < r->ndirs; i++)
        if (strcmp(r->dirs[i].path, dir) == 0)
            return 0;
    int wd = inotify_add_watch(r->inotify_fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_MODIFY);
    if (wd < 0) {
        snprintf(err, errlen, "cannot watch %s for policy changes: %s", dir, strerror(errno));
        return -1;
    }
    struct watched_dir *dirs = realloc(r->dirs, (r->ndirs + 1) * sizeof *dirs);
    char *copy = strdup(dir);
    if (!dirs || !copy) {
        free(copy);
        if (dirs)
            r->dirs = dirs;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    r->dirs = dirs;
    r->dirs[r->ndirs++] = (struct watched_dir){.wd = wd, .path = copy};
    return 0;
}

/* Watches the directory of every policy file of the config in force (once
 * per directory; inotify starts with the first file). */
static int watch_policies(struct reloader *r, char *err, size_t errlen)
{
    const struct config *cfg = r->cfg;
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct server_conf *sc = &cfg->servers[i];
        for (size_t j = 0; watched_file(sc, j); j++) {
            const char *p = watched_file(sc, j);
            if (r->inotify_fd < 0) {
                r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
                if (r->inotify_fd < 0) {
                    snprintf(err, errlen, "cannot watch policy files: %s", strerror(errno));
                    return -1;
                }
                r->inotify_ev = event_new(r->workers[0].base, r->inotify_fd, EV_READ | EV_PERSIST, on_inotify, r);
                if (!r->inotify_ev || event_add(r->inotify_ev, NULL) < 0) {
                    snprintf(err, errlen, "cannot watch policy files");
                    return -1;
                }
            }
            if (watch_dir_of(r, p, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

/* Frees the configs re-read that nothing holds any more. */
static void collect_gens(struct reloader *r, bool all)
{
    for (struct config_gen **p = &r->gens, *g; (g = *p);) {
        if (!all && atomic_load(&g->refs) > 0) {
            p = &g->next;
            continue;
        }
        *p = g->next;
        for (size_t i = 0; g->tls && i < g->cfg.nservers; i++)
            tls_client_free(g->tls[i]);
        free(g->tls);
        config_free(&g->cfg);
        free(g);
    }
}

/* One line for the log: the problems config_from_args lists one per line. */
static void one_line(char *text)
{
    for (char *p = text; (p = strchr(p, '\n'));)
        *p = ' ';
}

static int refuse_config(struct reloader *r, struct config_gen *g, char *err)
{
    one_line(err);
    log_error("SIGHUP: config %s refused: %s; the config in force stays", r->cfg->source, err);
    metrics_reload(r->workers[0].metrics, 0, r->generation);
    note_reload(r, "SIGHUP", err);
    if (g) {
        g->next = r->gens;
        r->gens = g;
        collect_gens(r, false);
    }
    return -1;
}

/* SIGHUP: re-reads the config and, when its servers changed, applies them on
 * worker 0 (which validates: every new server must start with its policies)
 * and hands them to the other workers. Returns 0 (applied, or nothing to
 * apply), or -1 once the failure is logged and noted. */
static int reread_config(struct reloader *r, unsigned long number)
{
    if (!r->argv)
        return 0;
    collect_gens(r, false);
    char err[8192];
    struct config_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, sizeof err, "out of memory");
        return refuse_config(r, NULL, err);
    }
    int rc = config_from_args(r->argc, r->argv, &g->cfg, err, sizeof err);
    if (rc != 0) {
        if (rc > 0)
            snprintf(err, sizeof err, "the command line asks for help, not a config");
        return refuse_config(r, g, err);
    }
    if (confdiff_check(r->cfg, &g->cfg, r->nworkers, err, sizeof err) < 0)
        return refuse_config(r, g, err);
    struct confdiff_count n = confdiff_count(r->cfg, &g->cfg);
    if (n.added + n.removed + n.changed == 0) {
        g->next = r->gens;
        r->gens = g;
        collect_gens(r, false);
        return 0;
    }
    /* What the new and changed servers need beyond their runtimes: TLS
     * contexts and jwks fetchers, shared by the workers. */
    if (!(g->tls = calloc(g->cfg.nservers ? g->cfg.nservers : 1, sizeof *g->tls))) {
        snprintf(err, sizeof err, "out of memory");
        return refuse_config(r, g, err);
    }
    for (size_t i = 0; i < g->cfg.nservers; i++) {
        const struct server_conf *sc = &g->cfg.servers[i];
        const struct server_conf *old = confdiff_find(r->cfg, sc->name);
        if (old && confdiff_server_equal(old, sc))
            continue;
        if ((sc->tls && !(g->tls[i] = tls_client_new(sc->ca, err, sizeof err))) ||
            auth_start(sc->auth, r->workers[0].base, r->system_tls, err, sizeof err) < 0)
            return refuse_config(r, g, err);
    }
    atomic_init(&g->refs, 1); /* the reloader's, as the config in force */
    if (r->sync(&r->workers[0], g, number, err, sizeof err) < 0) {
        config_gen_release(g);
        return refuse_config(r, g, err);
    }
    for (int i = 1; i < r->nworkers; i++) {
        atomic_fetch_add(&g->refs, 1);
        struct config_gen *stale = atomic_exchange(&r->workers[i].servers_to, g);
        if (stale)
            config_gen_release(stale);
    }
    const struct config *prev = r->cfg;
    for (size_t i = 0; i < g->cfg.nservers; i++) {
        const struct server_conf *sc = &g->cfg.servers[i];
        const struct server_conf *old = confdiff_find(prev, sc->name);
        if (!old || !confdiff_server_equal(old, sc))
            log_info("SIGHUP: %s %s -> %s", old ? "changed" : "now serving", sc->path,
                     sc->url ? sc->url : sc->command[0]);
    }
    for (size_t i = 0; i < prev->nservers; i++)
        if (!confdiff_find(&g->cfg, prev->servers[i].name))
            log_info("SIGHUP: no longer serving %s", prev->servers[i].path);
    if (r->current)
        config_gen_release(r->current);
    r->current = g;
    g->next = r->gens;
    r->gens = g;
    r->cfg = &g->cfg;
    if (watch_policies(r, err, sizeof err) < 0)
        log_warn("SIGHUP: %s; edits of the new policy files wait for the next SIGHUP", err);
    log_info("SIGHUP: config %s re-read: %zu server(s) added, %zu removed, %zu changed, %zu unchanged", r->cfg->source,
             n.added, n.removed, n.changed, n.kept);
    return 0;
}

void reloader_watch_config(struct reloader *r, int argc, char **argv, struct tls_client *system_tls,
                           reload_sync_fn sync)
{
    r->sync = sync;
    r->argc = argc;
    r->argv = argv;
    r->system_tls = system_tls;
}

struct reloader *reloader_new(struct worker *workers, int nworkers, char *err, size_t errlen)
{
    struct reloader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->workers = workers;
    r->nworkers = nworkers;
    r->cfg = workers[0].cfg;
    r->generation = 1;   /* main loaded generation 1 before the loops started */
    r->inotify_fd = -1;
    note_loaded(r);
    struct event_base *base = workers[0].base;
    r->sighup = evsignal_new(base, SIGHUP, on_sighup, r);
    r->debounce = evtimer_new(base, on_debounce, r);
    if (!r->sighup || !r->debounce || evsignal_add(r->sighup, NULL) < 0) {
        snprintf(err, errlen, "cannot watch SIGHUP");
        reloader_free(r);
        return NULL;
    }
    if (watch_policies(r, err, errlen) < 0) {
        reloader_free(r);
        return NULL;
    }
    return r;
}

void reloader_stop(struct reloader *r)
{
    if (!r)
        return;
    if (r->sighup)
        event_free(r->sighup);
    if (r->debounce)
        event_free(r->debounce);
    if (r->inotify_ev)
        event_free(r->inotify_ev);
    if (r->inotify_fd >= 0)
        close(r->inotify_fd);
    r->sighup = r->debounce = r->inotify_ev = NULL;
    r->inotify_fd = -1;
    for (struct config_gen *g = r->gens; g; g = g->next) {
        auth_stop(g->cfg.auth);
        for (size_t i = 0; i < g->cfg.nservers; i++)
            auth_stop(g->cfg.servers[i].auth);
    }
}

void reloader_free(struct reloader *r)
{
    if (!r)
        return;
    reloader_stop(r);
    collect_gens(r, true);
    for (size_t i = 0; i < r->ndirs; i++)
        free(r->dirs[i].path);
    free(r->dirs);
    cJSON_Delete(r->loaded);
    cJSON_Delete(r->last_reload);
    free(r);
}
