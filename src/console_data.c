#include "console_data.h"

#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "authoring.h"
#include "catalog.h"
#include "jsonrpc.h"
#include "metrics.h"
#include "policy.h"
#include "proxy-t.h"
#include "ratelimit.h"
#include "riskclass.h"
#include "sharedstore.h"

/* The trace a try shows: enough for many rules; what does not fit is cut. */
#define TRY_TRACE_BYTES 32768

const char *console_tool_class(const struct policy_set *ps, const char *name, const cJSON *seen,
                               bool trust_annotations)
{
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(seen, "description");
    enum risk_class observed = riskclass_of(name, strlen(name), cJSON_IsString(desc) ? desc->valuestring : NULL,
                                            cJSON_GetObjectItemCaseSensitive(seen, "annotations"), trust_annotations,
                                            NULL, 0);
    return risk_class_name(policy_tool_class(ps, name, observed));
}

static const char *decision_name(enum verdict v)
{
    switch (v) {
    case VERDICT_HIDDEN: return "hide";
    case VERDICT_DENY: return "deny";
    case VERDICT_APPROVAL: return "require_approval";
    case VERDICT_RATE_LIMITED: return "rate_limit";
    case VERDICT_ERROR: return "error";
    default: return "allow";
    }
}

static cJSON *tool_json(const char *name, const cJSON *seen, const struct policy_set *ps, bool trust_annotations)
{
    cJSON *t = cJSON_CreateObject();
    if (!t)
        return NULL;
    const cJSON *ann = cJSON_GetObjectItemCaseSensitive(seen, "annotations");
    const cJSON *desc = cJSON_GetObjectItemCaseSensitive(seen, "description");
    const cJSON *listed = cJSON_GetObjectItemCaseSensitive(seen, "listed");
    struct tool_default d;
    policy_tool_default(ps, name, &d);
    cJSON_AddStringToObject(t, "name", name);
    if (cJSON_IsString(desc))
        cJSON_AddStringToObject(t, "description", desc->valuestring);
    else
        cJSON_AddNullToObject(t, "description");
    cJSON_AddItemToObject(t, "annotations", cJSON_IsObject(ann) ? cJSON_Duplicate(ann, true) : cJSON_CreateNull());
    cJSON_AddStringToObject(t, "class", console_tool_class(ps, name, seen, trust_annotations));
    cJSON_AddStringToObject(t, "decision", decision_name(d.verdict));
    cJSON_AddStringToObject(t, "rule", d.rule);
    if (d.verdict == VERDICT_RATE_LIMITED) {
        cJSON *l = cJSON_AddObjectToObject(t, "limit");
        cJSON_AddNumberToObject(l, "max", d.limit_max);
        cJSON_AddNumberToObject(l, "window", d.limit_window);
    } else {
        cJSON_AddNullToObject(t, "limit");
    }
    cJSON_AddNumberToObject(t, "conditions", (double)d.conditions);
    cJSON_AddBoolToObject(t, "lua", d.lua);
    cJSON_AddNumberToObject(t, "listed", cJSON_IsNumber(listed) ? listed->valuedouble : 0);
    return t;
}

/* Writes o (freed here), printed, to out; fallback instead when out of
 * memory, and false. */
static bool put_json(struct evbuffer *out, cJSON *o, const char *fallback)
{
    char *text = o ? cJSON_PrintUnformatted(o) : NULL;
    bool ok = text != NULL;
    const char *put = ok ? text : fallback;
    evbuffer_add(out, put, strlen(put));
    free(text);
    cJSON_Delete(o);
    return ok;
}

void console_servers_json(const struct worker *w, struct catalog *cat, struct evbuffer *out)
{
    cJSON *snap = cat ? catalog_snapshot(cat) : NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *servers = root ? cJSON_AddArrayToObject(root, "servers") : NULL;
    for (size_t i = 0; servers && i < w->nservers; i++) {
        const struct server_rt *s = w->servers[i];
        const struct server_conf *sc = s->conf;
        const struct policy_set *ps = s->gen ? s->gen->set : NULL;
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddItemToArray(servers, o);
        cJSON_AddStringToObject(o, "name", sc->name);
        cJSON_AddStringToObject(o, "path", sc->path);
        cJSON_AddStringToObject(o, "transport", sc->command ? "stdio" : "http");
        cJSON_AddStringToObject(o, "target", sc->command ? sc->command[0] : sc->url);
        if (s->gen)
            cJSON_AddNumberToObject(o, "generation", (double)s->gen->number);
        else
            cJSON_AddNullToObject(o, "generation");
        cJSON_AddNumberToObject(o, "policies", (double)sc->npolicies);
        /* A stdio server's sessions are warden's children; an HTTP upstream keeps its own, unseen. */
        if (sc->command)
            cJSON_AddNumberToObject(o, "sessions", (double)metrics_sessions_open(w->metrics, sc->name));
        else
            cJSON_AddNullToObject(o, "sessions");
        cJSON *tools = cJSON_AddArrayToObject(o, "tools");
        const cJSON *seen = cJSON_GetObjectItemCaseSensitive(snap, sc->name);
        for (const cJSON *t = seen ? seen->child : NULL; t && tools; t = t->next) {
            cJSON *j = tool_json(t->string, t, ps, sc->trust_annotations);
            if (j)
                cJSON_AddItemToArray(tools, j);
        }
    }
    put_json(out, root, "{\"servers\":[],\"error\":\"out of memory\"}");
    cJSON_Delete(snap);
}

static int try_answer(struct evbuffer *out, int status, cJSON *o)
{
    return put_json(out, o, "{\"error\":\"out of memory\"}") ? status : 503;
}

static int try_error(struct evbuffer *out, int status, const char *msg)
{
    cJSON *o = cJSON_CreateObject();
    if (o)
        cJSON_AddStringToObject(o, "error", msg);
    return try_answer(out, status, o);
}

/* A fresh set for sc, bound as reload.c binds it; NULL with err. */
static struct policy_set *try_load(const struct server_conf *sc, struct shared_store *shared, char *err, size_t errlen)
{
    struct policy_load_opts opts = {.shadow = (const char *const *)sc->shadow_policies,
                                    .nshadow = sc->nshadow_policies};
    struct policy_set *set =
        policy_set_load_opts((const char *const *)sc->policies, sc->npolicies, shared, sc->name, &opts, err, errlen);
    for (size_t j = 0; set && sc->policy_when && j < sc->npolicies; j++) {
        if (sc->policy_when[j] && policy_set_bind(set, j, sc->policy_when[j], err, errlen) < 0) {
            policy_set_free(set);
            set = NULL;
        }
    }
    return set;
}

static const char *const kinds[] = {"anonymous", "key", "jwt", "proxy", "local"};

/* p from the form's JSON; false when it is not a principal. p->doc is owned. */
static bool try_principal(const cJSON *j, struct principal *p)
{
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(j, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(j, "kind");
    if (!cJSON_IsObject(j) || !cJSON_IsString(id) || (kind && !cJSON_IsString(kind)))
        return false;
    memset(p, 0, sizeof *p);
    p->kind = PRINCIPAL_KEY;
    for (size_t i = 0; kind && i < sizeof kinds / sizeof *kinds; i++)
        if (strcmp(kind->valuestring, kinds[i]) == 0)
            p->kind = (enum principal_kind)i;
    /* The shape auth.h gives every principal; parts of the wrong type are empty. */
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(j, "labels");
    const cJSON *claims = cJSON_GetObjectItemCaseSensitive(j, "claims");
    const cJSON *scopes = cJSON_GetObjectItemCaseSensitive(j, "scopes");
    cJSON *doc = cJSON_CreateObject();
    cJSON *idj = doc ? cJSON_AddStringToObject(doc, "id", id->valuestring) : NULL;
    if (!idj || !cJSON_AddStringToObject(doc, "kind", kinds[p->kind]) ||
        !cJSON_AddItemToObject(doc, "labels",
                               cJSON_IsObject(labels) ? cJSON_Duplicate(labels, true) : cJSON_CreateObject()) ||
        !cJSON_AddItemToObject(doc, "claims",
                               cJSON_IsObject(claims) ? cJSON_Duplicate(claims, true) : cJSON_CreateObject()) ||
        !cJSON_AddItemToObject(doc, "scopes",
                               cJSON_IsArray(scopes) ? cJSON_Duplicate(scopes, true) : cJSON_CreateArray())) {
        cJSON_Delete(doc);
        return false;
    }
    p->doc = doc;
    p->id = idj->valuestring;
    return true;
}

int console_try_json(const struct worker *w, const char *server, const char *tool, const cJSON *args,
                     const cJSON *principal, struct evbuffer *out)
{
    const struct server_conf *sc = NULL;
    for (size_t i = 0; i < w->nservers && !sc; i++)
        if (strcmp(w->servers[i]->conf->name, server) == 0)
            sc = w->servers[i]->conf;
    if (!sc)
        return try_error(out, 404, "no server has that name");
    if (!*tool || !cJSON_IsObject(args))
        return try_error(out, 400, "a tool name and the arguments as a JSON object are needed");
    struct principal who = {0};
    if (principal && !try_principal(principal, &who))
        return try_error(out, 400, "the principal must be a JSON object with a string \"id\"");
    int status = 503;
    char *text = authoring_call_text(tool, args, 1);
    struct rpc_msg m;
    struct rpc_error e;
    bool parsed = text && rpc_parse(text, strlen(text), NULL, &m, &e) == 0;
    struct shared_store *shared = parsed ? shared_store_new(NULL) : NULL;
    struct rate_store *rs = shared ? rate_store_new() : NULL;
    char err[4096] = "out of memory";
    char *trace = rs ? calloc(1, TRY_TRACE_BYTES) : NULL;
    struct policy_set *ps = trace ? try_load(sc, shared, err, sizeof err) : NULL;
    if (text && !parsed) {
        status = try_error(out, 400, e.message);
    } else if (!ps) {
        status = try_error(out, trace ? 400 : 503, err);
    } else {
        /* The session is the console's own: no live key a rule counts under. */
        struct call_ctx ctx = {.server = sc->name,
                               .session = "console-try",
                               .session_len = 11,
                               .client_addr = "console",
                               .now = 1000,
                               .wall = 1000,
                               .principal = principal ? &who : NULL};
        struct policy_trace t = {.buf = trace, .cap = TRY_TRACE_BYTES};
        struct decision d;
        policy_decide_traced(ps, rs, &m, &ctx, &d, &t);
        cJSON *o = cJSON_CreateObject();
        if (o) {
            cJSON_AddStringToObject(o, "decision", decision_name(d.verdict));
            cJSON_AddStringToObject(o, "rule", d.rule);
            cJSON_AddStringToObject(o, "reason", d.reason);
            cJSON_AddStringToObject(o, "trace", trace);
        }
        status = try_answer(out, 200, o);
    }
    policy_set_free(ps);
    free(trace);
    rate_store_free(rs);
    shared_store_free(shared);
    if (parsed)
        rpc_msg_clear(&m);
    free(text);
    cJSON_Delete(who.doc);
    return status;
}
