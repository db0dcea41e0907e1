/* warden: a policy gateway for the Model Context Protocol. main() reads the
 * configuration, loads the policies, and runs one worker per thread until
 * SIGTERM or SIGINT. */
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/thread.h>
#include "admin.h"
#include "approval.h"
#include "approval_cli.h"
#include "approval_elicit.h"
#include "approval_expiry.h"
#include "approval_hold.h"
#include "approval_http.h"
#include "approval_notify.h"
#include "approval_redis.h"
#include "audit.h"
#include "auth.h"
#include "authoring.h"
#include "config.h"
#include "catalog.h"
#include "console.h"
#include "decisions.h"
#include "exchange.h"
#include "metrics.h"
#include "pins.h"
#include "pins_sync.h"
#include "legacy_sse.h"
#include "log.h"
#include "paths.h"
#include "policy.h"
#include "pinscli.h"
#include "policytest.h"
#include "ratelimit.h"
#include "scan.h"
#include "sharedstore.h"
#include "reload.h"
#include "stdio_client.h"
#include "tls.h"
#include "state.h"
#include "state_shared.h"
#include "worker.h"

/* Everything main starts, so that it can be stopped and freed in one place. */
struct app {
    struct config cfg;
    struct rate_store *rates;
    struct shared_store *shared;
    struct legacy_hub *legacy;
    struct reloader *reloader;
    struct stdio_bridge *bridge;    /* --stdio: the client on our stdin/stdout */
    struct metrics *metrics;
    struct audit_log *audit;
    struct pins_table *pins;
    struct admin *admin;
    struct console *console;
    struct decisions *decisions;    /* the console's live view, fed by the audit log's sink */
    struct catalog *catalog;        /* the tools listed, for the console */
    struct state_health *state_health; /* the Redis of "state", when configured */
    struct state_shared *shared_repl;  /* warden.shared replicated through it (on worker 0's loop) */
    struct approval_store *approvals;   /* shared by every worker and the admin listener */
    struct approval_notify *approval_notify;
    struct approval_http *approval_http;
    struct elicit_sessions *elicit;     /* with an admin listener: sessions sent to the approval page */
    struct event *approval_sweep;       /* on worker 0: expires approval requests */
    struct approval_expiry *approval_expiry; /* on worker 0, with "state": the same for requests in Redis */
    struct worker *workers;
    int nworkers;
    pthread_t *threads;
    struct tls_server *tls;             /* the listener's certificate, or NULL */
    struct tls_client **upstream_tls;   /* one per server: how an https one is verified, NULL for others */
    struct tls_client *system_tls;      /* the system's CAs, for https jwks_url fetches */
    struct event *sighup;               /* re-reads the certificate */
};

static void *worker_thread(void *arg)
{
    worker_run(arg);
    return NULL;
}

/* Stops every worker: from a signal, or when the stdio client has gone. */
static void stop_all(void *arg)
{
    struct app *app = arg;
    for (int i = 0; i < app->nworkers; i++)
        worker_request_stop(&app->workers[i]);
}

/* SIGUSR1: log rotation. */
static void on_reopen_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct app *app = arg;
    if (app->audit)
        audit_reopen(app->audit);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    struct app *app = arg;
    log_info("received %s: finishing requests in flight, then stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
    stop_all(app);
}

/* SIGHUP: a renewed certificate for the next connections (the reloader
 * re-reads the policies on the same signal). */
static void on_cert_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig, (void)what;
    struct app *app = arg;
    char err[600];
    if (tls_server_reload(app->tls, err, sizeof err) == 0)
        log_info("SIGHUP: certificate %s re-read; new connections use it", app->cfg.tls.cert);
    else
        log_error("SIGHUP: %s; the certificate in force stays", err);
}

/* The TLS contexts the configuration asks for: the listener's, and one per
 * https server (its own CA file, or the system's CAs). */
static int make_tls(struct app *app, char *err, size_t errlen)
{
    if (app->cfg.tls.cert && !(app->tls = tls_server_new(app->cfg.tls.cert, app->cfg.tls.key, err, errlen)))
        return -1;
    if (!(app->upstream_tls = calloc(app->cfg.nservers ? app->cfg.nservers : 1, sizeof *app->upstream_tls)) ||
        !(app->system_tls = tls_client_new(NULL, err, errlen)))
        return -1;
    for (size_t i = 0; i < app->cfg.nservers; i++) {
        const struct server_conf *sc = &app->cfg.servers[i];
        if (sc->tls && !(app->upstream_tls[i] = tls_client_new(sc->ca, err, errlen)))
            return -1;
    }
    return 0;
}

/* The admin listener's connections speak TLS with the listener's certificate. */
static struct bufferevent *admin_tls_bev(struct event_base *base, void *arg)
{
    return tls_bev_accept(base, -1, arg, BEV_OPT_CLOSE_ON_FREE);
}

/* Fetches of jwks_url run on the first worker's loop. */
static int start_auth(struct app *app, char *err, size_t errlen)
{
    struct event_base *base = app->workers[0].base;
    if (auth_start(app->cfg.auth, base, app->system_tls, err, errlen) < 0)
        return -1;
    for (size_t i = 0; i < app->cfg.nservers; i++)
        if (auth_start(app->cfg.servers[i].auth, base, app->system_tls, err, errlen) < 0)
            return -1;
    return 0;
}

/* Expires approval requests that are due, so that their audit line and the
 * pending gauge do not wait for someone to look. */
static void on_approval_sweep(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    approval_store_sweep(arg, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

static void app_free(struct app *app)
{
    /* The fetchers' events belong to the first worker's loop: gone before it is. */
    auth_stop(app->cfg.auth);
    for (size_t i = 0; i < app->cfg.nservers; i++)
        auth_stop(app->cfg.servers[i].auth);
    if (app->sighup)
        event_free(app->sighup);
    console_free(app->console);
    admin_free(app->admin);
    approval_http_free(app->approval_http);
    if (app->approval_sweep)
        event_free(app->approval_sweep);
    reloader_stop(app->reloader);
    stdio_bridge_free(app->bridge);
    state_shared_free(app->shared_repl);
    approval_expiry_free(app->approval_expiry);
    /* Its events are on the workers' loops: gone before they are. */
    elicit_sessions_free(app->elicit);
    for (int i = 0; i < app->nworkers; i++)
        worker_free(&app->workers[i]);
    legacy_hub_free(app->legacy);
    free(app->workers);
    free(app->threads);
    reloader_free(app->reloader);
    for (size_t i = 0; app->upstream_tls && i < app->cfg.nservers; i++)
        tls_client_free(app->upstream_tls[i]);
    free(app->upstream_tls);
    tls_client_free(app->system_tls);
    tls_server_free(app->tls);
    if (app->rates)
        rate_store_free(app->rates);
    shared_store_free(app->shared);
    approval_store_free(app->approvals);
    approval_notify_free(app->approval_notify);
    audit_close(app->audit);
    pins_table_free(app->pins);
    decisions_free(app->decisions);
    catalog_free(app->catalog);
    metrics_free(app->metrics);
    state_health_free(app->state_health);
    config_free(&app->cfg);
}

/* Prints where each server is served, so the operator knows the URL to give agents. */
static void announce(const struct config *cfg)
{
    for (size_t i = 0; i < cfg->nservers; i++) {
        const struct server_conf *sc = &cfg->servers[i];
        log_info("serving http%s://%s:%u%s -> %s (%zu polic%s)", cfg->tls.cert ? "s" : "", cfg->listen_host,
                 cfg->listen_port, sc->path,
                 sc->url ? sc->url : sc->command[0], sc->npolicies, sc->npolicies == 1 ? "y" : "ies");
    }
}

/* True when an audit log path names our stdout: "-", or a path to the same
 * file (/dev/stdout, /proc/self/fd/1, the file stdout is redirected to). */
static bool writes_to_stdout(const char *path)
{
    if (strcmp(path, "-") == 0)
        return true;
    struct stat a, b;
    return stat(path, &a) == 0 && fstat(STDOUT_FILENO, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* glibc maps each block over 128 KiB on its own and unmaps it when freed,
 * and gives back a heap's free top past a similar size: a worker holding a
 * 300 KB tools/list answer then faulted fresh zeroed pages in for every
 * answer, a tenth of its CPU. Blocks up to the largest message warden holds
 * come from the heap, and a worker's heap keeps twice that free for the next
 * answer (at most 64 MiB: the ceiling glibc allows the first is 32 MiB). */
static void tune_malloc(const struct limits_conf *lim)
{
    size_t largest = lim->max_body_bytes > lim->max_sse_event_bytes ? lim->max_body_bytes : lim->max_sse_event_bytes;
    size_t mmap_at = largest + 64 * 1024;
    if (mmap_at > 32u * 1024 * 1024)
        mmap_at = 32u * 1024 * 1024;
    /* A sanitizer's allocator takes no such advice (mallopt returns 0): nothing is wrong then. */
    if (mallopt(M_MMAP_THRESHOLD, (int)mmap_at) != 1 || mallopt(M_TRIM_THRESHOLD, (int)(2 * mmap_at)) != 1)
        log_debug("malloc thresholds not set: large answers fault in fresh pages each time");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "check") == 0)
        return authoring_check_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "explain") == 0)
        return authoring_explain_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "help") == 0) {
        char *help[] = {"--help"};
        struct config cfg = {0};
        char err[256];
        int rc = config_from_args(1, help, &cfg, err, sizeof err);
        config_free(&cfg);
        return rc == 1 ? 0 : 2;
    }
    if (argc > 1 && strcmp(argv[1], "test") == 0)
        return policy_test_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "scan") == 0)
        return scan_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "pins") == 0)
        return pins_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "key") == 0)
        return auth_key_main(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "approvals") == 0)
        return approval_cli_main(argc - 1, argv + 1);

    struct app app = {0};
    char err[8192];
    int rc = config_from_args(argc - 1, argv + 1, &app.cfg, err, sizeof err);
    if (rc == 1) {
        config_free(&app.cfg);
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "warden: %s\n", err);
        return 2;
    }
    if (app.cfg.stdio && app.cfg.audit_log && writes_to_stdout(app.cfg.audit_log)) {
        fprintf(stderr, "warden: --audit-log %s writes to stdout, which carries the MCP messages in --stdio mode; "
                        "give the audit log a file of its own\n", app.cfg.audit_log);
        config_free(&app.cfg);
        return 2;
    }
    if (app.cfg.stdio) {
        /* The desktop user is the caller: named once, before any request. */
        char *id = auth_local_id(app.cfg.principal, err, sizeof err);
        if (!id) {
            fprintf(stderr, "warden: %s\n", err);
            config_free(&app.cfg);
            return 2;
        }
        free(app.cfg.principal);
        app.cfg.principal = id;
    }
    if (paths_set_lua_dir(app.cfg.lua_path, err, sizeof err) < 0) {
        fprintf(stderr, "warden: %s\n", err);
        config_free(&app.cfg);
        return 2;
    }
    if (app.cfg.log_level && log_set_level(app.cfg.log_level) < 0) {
        fprintf(stderr, "warden: unknown log level %s\n", app.cfg.log_level);
        config_free(&app.cfg);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    tune_malloc(&app.cfg.limits);
    if (evthread_use_pthreads() < 0 || !(app.rates = rate_store_new()) ||
        !(app.shared = shared_store_new(NULL)) || !(app.metrics = metrics_new()) ||
        !(app.pins = pins_table_new()) ||
        !(app.legacy = legacy_hub_new())) {
        app_free(&app);
        return 2;
    }
    app.nworkers = app.cfg.workers > 0 ? app.cfg.workers : 1;
    if (app.cfg.stdio)
        app.nworkers = 1;   /* one client, one loop */
    for (size_t i = 0; i < app.cfg.nservers; i++) {
        if ((app.cfg.servers[i].command || app.cfg.servers[i].legacy_sse) && app.nworkers > 1) {
            /* A stdio session lives in one child owned by one event loop, a
             * legacy SSE session in one upstream stream owned by one loop. */
            log_info("a stdio or legacy SSE server is configured: running one worker");
            app.nworkers = 1;
        }
    }
    app.workers = calloc((size_t)app.nworkers, sizeof *app.workers);
    app.threads = calloc((size_t)app.nworkers, sizeof *app.threads);
    if (!app.workers || !app.threads) {
        app_free(&app);
        return 2;
    }
    if (make_tls(&app, err, sizeof err) < 0) {
        fprintf(stderr, "warden: %s\n", err);
        app_free(&app);
        return 2;
    }
    /* The console shows the audit log's lines: with an admin listener an
     * audit log exists, one without a file when none is configured. */
    if ((app.cfg.audit_log || app.cfg.admin_listen) &&
        !(app.audit = audit_open(app.cfg.audit_log, app.metrics, err, sizeof err))) {
        fprintf(stderr, "warden: %s\n", err);
        app_free(&app);
        return 2;
    }
    if (app.cfg.admin_listen) {
        if (!(app.decisions = decisions_new(DECISIONS_COUNT, DECISIONS_BYTES)) ||
            !(app.catalog = catalog_new(CATALOG_BYTES))) {
            fprintf(stderr, "warden: out of memory\n");
            app_free(&app);
            return 2;
        }
        audit_set_sink(app.audit, decisions_sink, app.decisions);
    }
    struct approval_limits alim = {.max_records = app.cfg.approvals.max_requests};
    if (!(app.approval_notify = approval_notify_new(app.audit, &app.cfg.approvals, err, sizeof err)) ||
        !(app.approvals = approval_store_new(&alim, approval_notify_event, app.approval_notify))) {
        fprintf(stderr, "warden: %s\n", app.approval_notify ? "cannot make the approval store (no random bytes?)" : err);
        app_free(&app);
        return 2;
    }
    if (app.cfg.admin_listen && !(app.elicit = elicit_sessions_new(app.nworkers))) {
        fprintf(stderr, "warden: cannot make the URL elicitation table (no random bytes?)\n");
        app_free(&app);
        return 2;
    }
    evutil_socket_t listen_fd = -1;
    if (!app.cfg.stdio && (listen_fd = worker_listen_socket(&app.cfg, err, sizeof err)) < 0) {
        fprintf(stderr, "warden: %s\n", err);
        app_free(&app);
        return 2;
    }
    for (int i = 0; i < app.nworkers; i++) {
        int ok = worker_init(&app.workers[i], i, &app.cfg, listen_fd, app.rates, app.shared, err, sizeof err) == 0;
        app.workers[i].metrics = app.metrics;
        app.workers[i].audit = app.audit;
        app.workers[i].pins = app.pins;
        app.workers[i].tls = app.tls;
        for (size_t k = 0; ok && k < app.workers[i].nservers; k++)
            app.workers[i].servers[k]->tls = app.upstream_tls[k];
        app.workers[i].catalog = app.catalog;
        app.workers[i].approvals = app.approvals;
        app.workers[i].elicit = app.elicit;
        ok = ok && (!app.elicit || elicit_sessions_attach(app.elicit, i, app.workers[i].base,
                                                          exchange_notify_elicitation_complete, &app.workers[i]) == 0);
        app.workers[i].legacy = app.cfg.stdio ? NULL : app.legacy;
        ok = ok && reload_load_worker(&app.workers[i], 1, err, sizeof err) == 0;
        if (ok && app.cfg.state.redis)
            ok = (app.state_health || (app.state_health = state_health_new())) &&
                 (app.workers[i].state =
                      state_new(app.workers[i].base, &app.cfg.state, app.state_health, err, sizeof err));
        if (ok && app.workers[i].state) {
            /* Approvals in Redis: a decision on any warden wakes this worker's held calls. */
            char chan[300];
            approval_redis_channel(app.workers[i].state, chan, sizeof chan);
            if (state_subscribe(app.workers[i].state, chan, approval_hold_decided, &app.workers[i]) < 0) {
                snprintf(err, sizeof err, "out of memory subscribing to %s", chan);
                ok = false;
            }
            /* Pins approved on any warden: read from Redis, told to this worker's clients. */
            if (ok && !(app.workers[i].pins_sync = pins_sync_new(&app.workers[i], exchange_notify_list_changed))) {
                snprintf(err, sizeof err, "out of memory subscribing to the pins channel");
                ok = false;
            }
        }
        if (!ok) {
            fprintf(stderr, "warden: %s\n", err);
            app.nworkers = i + 1;
            if (listen_fd >= 0)
                evutil_closesocket(listen_fd);
            app_free(&app);
            return 2;
        }
    }
    /* requestState's key: the operator's, else one shared in Redis, else this process's (approval_elicit.h). */
    if (app.elicit && app.cfg.approvals.state_key.len)
        elicit_state_key_set(app.elicit, app.cfg.approvals.state_key.bytes, app.cfg.approvals.state_key.len);
    else if (app.elicit && app.workers[0].state &&
             elicit_state_key_share(app.elicit, app.workers[0].state, app.workers[0].base) < 0) {
        fprintf(stderr, "warden: out of memory\n");
        if (listen_fd >= 0)
            evutil_closesocket(listen_fd);
        app_free(&app);
        return 2;
    }
    if (app.cfg.state.redis &&
        (!(app.shared_repl = state_shared_new(app.workers[0].base, app.workers[0].state, app.shared)) ||
         !(app.approval_expiry = approval_expiry_new(app.workers[0].base, app.workers[0].state, app.approvals)))) {
        fprintf(stderr, "warden: out of memory\n");
        if (listen_fd >= 0)
            evutil_closesocket(listen_fd);
        app_free(&app);
        return 2;
    }
    /* Each worker holds its own descriptor of the socket now. */
    if (listen_fd >= 0)
        evutil_closesocket(listen_fd);
    if (!(app.reloader = reloader_new(app.workers, app.nworkers, err, sizeof err)) ||
        start_auth(&app, err, sizeof err) < 0) {
        fprintf(stderr, "warden: %s\n", err);
        app_free(&app);
        return 2;
    }
    if (strcmp(app.cfg.source, "command line") != 0 && !app.cfg.stdio)
        reloader_watch_config(app.reloader, argc - 1, argv + 1, app.system_tls, worker_sync_servers);
    if (app.tls && (!(app.sighup = evsignal_new(app.workers[0].base, SIGHUP, on_cert_signal, &app)) ||
                    evsignal_add(app.sighup, NULL) < 0)) {
        fprintf(stderr, "warden: cannot watch SIGHUP\n");
        app_free(&app);
        return 2;
    }
    if (app.cfg.admin_listen && !(app.admin = admin_start(app.workers[0].base, app.cfg.admin_listen, app.metrics,
                                                          reload_describe, app.reloader, err, sizeof err))) {
        fprintf(stderr, "warden: %s\n", err);
        app_free(&app);
        return 2;
    }
    if (app.admin && app.tls)
        admin_set_bevcb(app.admin, admin_tls_bev, app.tls);
    if (app.admin && app.state_health)
        admin_set_state(app.admin, app.state_health);
    if (app.admin) {
        if (!(app.approval_http = approval_http_new(&app.cfg, app.approvals, app.workers[0].state))) {
            fprintf(stderr, "warden: out of memory\n");
            app_free(&app);
            return 2;
        }
        admin_add_routes(app.admin, approval_http_route, approval_http_metrics, app.approval_http);
    }
    if (app.admin) {
        struct console_sources src = {.cfg = &app.cfg, .metrics = app.metrics, .decisions = app.decisions,
                                      .catalog = app.catalog, .worker = &app.workers[0],
                                      .describe = reload_describe, .describe_arg = app.reloader,
                                      .approval_http = app.approval_http};
        if (!(app.console = console_new(app.workers[0].base, &src, false, err, sizeof err))) {
            fprintf(stderr, "warden: %s\n", err);
            app_free(&app);
            return 2;
        }
        admin_set_console(app.admin, app.console);
    }
    app.approval_sweep = event_new(app.workers[0].base, -1, EV_PERSIST, on_approval_sweep, app.approvals);
    if (!app.approval_sweep || event_add(app.approval_sweep, &(struct timeval){.tv_sec = 1}) < 0) {
        fprintf(stderr, "warden: out of memory\n");
        app_free(&app);
        return 2;
    }
    struct event *sigusr1 = evsignal_new(app.workers[0].base, SIGUSR1, on_reopen_signal, &app);
    if (!sigusr1 || evsignal_add(sigusr1, NULL) < 0) {
        fprintf(stderr, "warden: cannot install signal handlers\n");
        app_free(&app);
        return 2;
    }
    struct event *sigterm = evsignal_new(app.workers[0].base, SIGTERM, on_stop_signal, &app);
    struct event *sigint = evsignal_new(app.workers[0].base, SIGINT, on_stop_signal, &app);
    if (!sigterm || !sigint || evsignal_add(sigterm, NULL) < 0 || evsignal_add(sigint, NULL) < 0) {
        fprintf(stderr, "warden: cannot install signal handlers\n");
        app_free(&app);
        return 2;
    }
    if (app.cfg.stdio && !(app.bridge = stdio_bridge_new(&app.workers[0], stop_all, &app, err, sizeof err))) {
        fprintf(stderr, "warden: %s\n", err);
        app_free(&app);
        return 2;
    }
    if (!app.cfg.stdio)
        announce(&app.cfg);
    int started = 1;
    for (int i = 1; i < app.nworkers; i++, started++) {
        if (pthread_create(&app.threads[i], NULL, worker_thread, &app.workers[i]) != 0) {
            log_error("cannot start worker thread %d", i);
            break;
        }
    }
    if (started < app.nworkers)
        stop_all(&app);
    worker_run(&app.workers[0]);
    for (int i = 1; i < started; i++)
        pthread_join(app.threads[i], NULL);
    event_free(sigterm);
    event_free(sigint);
    event_free(sigusr1);
    app_free(&app);
    log_info("stopped");
    return 0;
}
