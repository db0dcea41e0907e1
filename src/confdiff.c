#include "confdiff.h"

#include <stdio.h>
#include <string.h>

static bool str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* NULL-terminated lists; NULL and empty are alike. */
static bool list_eq(char *const *a, char *const *b)
{
    size_t i = 0;
    for (; a && b && a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return !(a && a[i]) && !(b && b[i]);
}

bool confdiff_server_equal(const struct server_conf *a, const struct server_conf *b)
{
    if (!str_eq(a->name, b->name) || !str_eq(a->path, b->path) || !str_eq(a->url, b->url) || a->tls != b->tls ||
        !str_eq(a->ca, b->ca) || !list_eq(a->command, b->command) || a->legacy_sse != b->legacy_sse || !list_eq(a->env, b->env) ||
        a->npolicies != b->npolicies || !list_eq(a->policies, b->policies) ||
        !list_eq(a->shadow_policies, b->shadow_policies) || !str_eq(a->auth_text, b->auth_text) ||
        a->nheaders != b->nheaders || a->pass_authorization != b->pass_authorization ||
        a->connect_timeout_ms != b->connect_timeout_ms || a->first_byte_timeout_ms != b->first_byte_timeout_ms ||
        a->sse_idle_timeout_ms != b->sse_idle_timeout_ms || a->max_connections != b->max_connections ||
        a->trust_annotations != b->trust_annotations || !str_eq(a->pins, b->pins) || a->pin_mode != b->pin_mode)
        return false;
    for (size_t i = 0; i < a->npolicies; i++)
        if (!str_eq(a->policy_when ? a->policy_when[i] : NULL, b->policy_when ? b->policy_when[i] : NULL))
            return false;
    for (size_t i = 0; i < a->nheaders; i++)
        if (!str_eq(a->headers[i].name, b->headers[i].name) || !str_eq(a->headers[i].value, b->headers[i].value))
            return false;
    return true;
}

const struct server_conf *confdiff_find(const struct config *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nservers; i++)
        if (strcmp(cfg->servers[i].name, name) == 0)
            return &cfg->servers[i];
    return NULL;
}

static bool limits_eq(const struct limits_conf *a, const struct limits_conf *b)
{
    return a->max_header_bytes == b->max_header_bytes && a->max_headers == b->max_headers &&
           a->max_body_bytes == b->max_body_bytes && a->max_json_depth == b->max_json_depth &&
           a->max_sse_event_bytes == b->max_sse_event_bytes && a->max_connections == b->max_connections &&
           a->header_timeout_ms == b->header_timeout_ms && a->body_timeout_ms == b->body_timeout_ms &&
           a->keepalive_timeout_ms == b->keepalive_timeout_ms && a->shutdown_grace_ms == b->shutdown_grace_ms &&
           a->max_list_ttl_ms == b->max_list_ttl_ms;
}

static bool state_eq(const struct state_conf *a, const struct state_conf *b)
{
    return str_eq(a->redis, b->redis) && str_eq(a->password_env, b->password_env) &&
           str_eq(a->key_prefix, b->key_prefix) && a->timeout_ms == b->timeout_ms && a->on_failure == b->on_failure &&
           a->instances == b->instances;
}

static bool approvers_eq(const struct config *a, const struct config *b)
{
    if (a->napprovers != b->napprovers)
        return false;
    for (size_t i = 0; i < a->napprovers; i++)
        if (!str_eq(a->approvers[i].id, b->approvers[i].id) ||
            memcmp(a->approvers[i].sha256, b->approvers[i].sha256, sizeof a->approvers[i].sha256) != 0)
            return false;
    return true;
}

int confdiff_check(const struct config *cur, const struct config *next, int nworkers, char *why, size_t whylen)
{
    const char *what = NULL;
    if (!str_eq(cur->listen_host, next->listen_host) || cur->listen_port != next->listen_port)
        what = "the listen address";
    else if (cur->workers != next->workers)
        what = "\"workers\"";
    else if (!str_eq(cur->tls.cert, next->tls.cert) || !str_eq(cur->tls.key, next->tls.key))
        what = "\"tls\" (a renewed certificate at the same path is re-read on SIGHUP)";
    else if (!str_eq(cur->admin_listen, next->admin_listen))
        what = "\"admin\"";
    else if (!state_eq(&cur->state, &next->state))
        what = "\"state\"";
    else if (!limits_eq(&cur->limits, &next->limits))
        what = "\"limits\"";
    else if (!str_eq(cur->auth_text, next->auth_text))
        what = "the top-level \"auth\"";
    else if (!list_eq(cur->allowed_origins, next->allowed_origins))
        what = "\"allowed_origins\"";
    else if (!list_eq(cur->allowed_hosts, next->allowed_hosts))
        what = "\"allowed_hosts\"";
    else if (!approvers_eq(cur, next))
        what = "\"approvers\"";
    else if (!str_eq(cur->approvals.state_key.env, next->approvals.state_key.env))
        what = "\"approvals\": \"request_state_key_env\" (the key is read at start)";
    else if (!str_eq(cur->audit_log, next->audit_log))
        what = "\"audit_log\"";
    else if (!str_eq(cur->log_level, next->log_level))
        what = "\"log_level\"";
    else if (!str_eq(cur->lua_path, next->lua_path))
        what = "\"lua_path\"";
    if (what) {
        snprintf(why, whylen, "%s cannot change while warden runs; restart warden to apply it", what);
        return -1;
    }
    for (size_t i = 0; i < next->nservers; i++) {
        const struct server_conf *sc = &next->servers[i];
        const struct server_conf *old = confdiff_find(cur, sc->name);
        if (sc->command && nworkers > 1 && !(old && old->command)) {
            snprintf(why, whylen,
                     "server %s: a stdio server needs a single worker and %d run; restart warden to add it", sc->name,
                     nworkers);
            return -1;
        }
        if (sc->legacy_sse && nworkers > 1 && !(old && old->legacy_sse)) {
            snprintf(why, whylen,
                     "server %s: an HTTP+SSE server needs a single worker and %d run; restart warden to add it",
                     sc->name, nworkers);
            return -1;
        }
    }
    return 0;
}

struct confdiff_count confdiff_count(const struct config *cur, const struct config *next)
{
    struct confdiff_count n = {0};
    for (size_t i = 0; i < next->nservers; i++) {
        const struct server_conf *old = confdiff_find(cur, next->servers[i].name);
        if (!old)
            n.added++;
        else if (confdiff_server_equal(old, &next->servers[i]))
            n.kept++;
        else
            n.changed++;
    }
    for (size_t i = 0; i < cur->nservers; i++)
        if (!confdiff_find(next, cur->servers[i].name))
            n.removed++;
    return n;
}
