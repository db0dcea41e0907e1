#include "console_data.h"

#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "policy.h"
#include "proxy-t.h"

const char *console_tool_class(const cJSON *annotations)
{
    if (!cJSON_IsObject(annotations))
        return "unknown";
    if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(annotations, "readOnlyHint")))
        return "read-only";
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(annotations, "destructiveHint")))
        return "additive";
    return "destructive";
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

static cJSON *tool_json(const char *name, const cJSON *seen, const struct policy_set *ps)
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
    cJSON_AddStringToObject(t, "class", console_tool_class(ann));
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

void console_servers_json(const struct worker *w, struct catalog *cat, struct evbuffer *out)
{
    cJSON *snap = cat ? catalog_snapshot(cat) : NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *servers = root ? cJSON_AddArrayToObject(root, "servers") : NULL;
    for (size_t i = 0; servers && i < w->nservers; i++) {
        const struct server_rt *s = &w->servers[i];
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
        cJSON *tools = cJSON_AddArrayToObject(o, "tools");
        const cJSON *seen = cJSON_GetObjectItemCaseSensitive(snap, sc->name);
        for (const cJSON *t = seen ? seen->child : NULL; t && tools; t = t->next) {
            cJSON *j = tool_json(t->string, t, ps);
            if (j)
                cJSON_AddItemToArray(tools, j);
        }
    }
    char *text = root ? cJSON_PrintUnformatted(root) : NULL;
    if (text)
        evbuffer_add(out, text, strlen(text));
    else
        evbuffer_add_printf(out, "{\"servers\":[],\"error\":\"out of memory\"}");
    free(text);
    cJSON_Delete(root);
    cJSON_Delete(snap);
}
