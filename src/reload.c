#include "reload.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
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
#include "pins.h"
#include "policy.h"

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
        const struct server_conf *sc = w->servers[i].conf;
        bool pinned = sc->pin_mode != PIN_MODE_OFF;
        if (sc->npolicies == 0 && sc->nshadow_policies == 0 && !pinned)
            continue;
        char one[4096];
        /* pins come with the generation: an approval is a reload */
        struct pins *pins = NULL;
        if (pinned && !(pins = pins_table_get(w->pins, i, number, sc->pins, one, sizeof one))) {
            failed = true;
            int n = snprintf(err + used, errlen - used, "%s%s", used ? "\n" : "", one);
            if (n > 0 && (size_t)n < errlen - used)
                used += (size_t)n;
            continue;
        }
        struct policy_load_opts opts = {.shadow = (const char *const *)sc->shadow_policies,
                                        .nshadow = sc->nshadow_policies};
        struct policy_set *set = policy_set_load_opts((const char *const *)sc->policies, sc->npolicies, w->shared,
                                                      sc->name, &opts, one, sizeof one);
        /* Policies bound to principals in the config apply to those callers only. */
        for (size_t j = 0; set && sc->policy_when && j < sc->npolicies; j++) {
            if (sc->policy_when[j] && policy_set_bind(set, j, sc->policy_when[j], one, sizeof one) < 0) {
                policy_set_free(set);
                set = NULL;
            }
        }
        if (set)
            policy_set_count_errors(set, w->metrics);
        if (set && (fresh[i] = malloc(sizeof *fresh[i]))) {
            *fresh[i] = (struct policy_gen){.set = set, .pins = pins, .refs = 1, .number = number};
            continue;
        }
        pins_free(pins);
        if (set) {
            policy_set_free(set);
            snprintf(one, sizeof one, "out of memory");
        }
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
        struct policy_gen *old = w->servers[i].gen;
        w->servers[i].gen = fresh[i];
        if (old)
            policy_gen_release(old);
        if ((old || fresh[i]) && w->on_policies_changed)
            w->on_policies_changed(&w->servers[i]);
    }
    free(fresh);
    return 0;
}

void reload_on_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct worker *w = arg;
    char err[8192];
    unsigned long number = w->reload_to;
    if (reload_load_worker(w, number, err, sizeof err) < 0)
        log_error("worker %d: policies of generation %lu failed to load; the previous ones stay in force:\n%s",
                  w->index, number, err);
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
    const struct config *cfg = r->workers[0].cfg;
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
static void reload_all(struct reloader *r, const char *why)
{
    unsigned long number = r->generation + 1;
    char err[8192];
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
    reload_all(arg, "SIGHUP");
}

static void on_debounce(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    reload_all(arg, "a policy file changed");
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
    const struct config *cfg = r->workers[0].cfg;
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

struct reloader *reloader_new(struct worker *workers, int nworkers, char *err, size_t errlen)
{
    struct reloader *r = calloc(1, sizeof *r);
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    r->workers = workers;
    r->nworkers = nworkers;
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
    const struct config *cfg = workers[0].cfg;
    size_t nfiles = 0;
    for (size_t i = 0; i < cfg->nservers; i++)
        for (size_t j = 0; watched_file(&cfg->servers[i], j); j++)
            nfiles++;
    if (nfiles == 0)
        return r;
    r->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->inotify_fd < 0) {
        snprintf(err, errlen, "cannot watch policy files: %s", strerror(errno));
        reloader_free(r);
        return NULL;
    }
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct server_conf *sc = &cfg->servers[i];
        for (size_t j = 0; watched_file(sc, j); j++) {
            if (watch_dir_of(r, watched_file(sc, j), err, errlen) < 0) {
                reloader_free(r);
                return NULL;
            }
        }
    }
    r->inotify_ev = event_new(base, r->inotify_fd, EV_READ | EV_PERSIST, on_inotify, r);
    if (!r->inotify_ev || event_add(r->inotify_ev, NULL) < 0) {
        snprintf(err, errlen, "cannot watch policy files");
        reloader_free(r);
        return NULL;
    }
    return r;
}

void reloader_free(struct reloader *r)
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
    for (size_t i = 0; i < r->ndirs; i++)
        free(r->dirs[i].path);
    free(r->dirs);
    cJSON_Delete(r->loaded);
    cJSON_Delete(r->last_reload);
    free(r);
}
