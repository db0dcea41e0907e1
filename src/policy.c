#include "policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "glob.h"
#include "http.h"
#include "luapolicy.h"
#include "sharedstore.h"
#include "ratelimit.h"
#include "utf8.h"

enum op { OP_EQ, OP_NEQ, OP_IN, OP_NOT_IN, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_CONTAINS, OP_PREFIX, OP_MATCHES, OP_EXISTS };
static const char *const op_names[] = {"eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte",
                                       "contains", "prefix", "matches", "exists"};
#define NOPS (sizeof op_names / sizeof *op_names)

enum action { ACT_NONE, ACT_ALLOW, ACT_DENY, ACT_APPROVAL };

/* {"arg": "a.b.c", OP: VALUE}, compiled: the path split once at load. */
struct cond {
    char **path;
    size_t npath;
    enum op op;
    cJSON *value;           /* owned */
    char text[200];         /* "alias in [\"champion\"]", for reasons */
    char where[200];        /* "/tools/NAME/deny_if/0" */
};

struct limit {
    unsigned max;
    double window;
    char where[200];
};

struct rule {
    char *pattern;
    bool glob;
    enum action action;
    struct cond *deny_if, *require;
    size_t ndeny_if, nrequire;
    bool has_limit;
    struct limit limit;
    char *reason;
    char where[200];        /* "/tools/NAME" */
};

struct policy {
    char *file;
    bool default_deny;
    char **hide;
    size_t nhide;
    struct rule *rules;     /* exact names first (sorted), then globs (longest first) */
    size_t nrules, nexact;
    bool has_all_limit;
    struct limit all_limit;
    struct lua_policy *lua;     /* a .lua file: the rest of this struct is empty */
};

struct policy_set {
    struct policy *policies;
    size_t n;
    bool hides;
    bool lua_lists;             /* a Lua policy is loaded: tools/list answers are read */
};

/* ---- loading ---- */

/* Collects every problem of a file: "FILE: /json/pointer: what". */
struct loader {
    const char *file;
    char *err;
    size_t errlen, used;
    int problems;
};

static void problem(struct loader *ld, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void problem(struct loader *ld, const char *where, const char *fmt, ...)
{
    ld->problems++;
    if (ld->used + 1 >= ld->errlen)
        return;
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    int n = snprintf(ld->err + ld->used, ld->errlen - ld->used, "%s: %s: %s\n", ld->file, where[0] ? where : "/", what);
    if (n > 0)
        ld->used += (size_t)n < ld->errlen - ld->used ? (size_t)n : ld->errlen - ld->used - 1;
}

/* JSON pointer escaping of one segment (~ and /). */
static void pointer_join(char *out, size_t outlen, const char *base, const char *seg)
{
    size_t n = (size_t)snprintf(out, outlen, "%s/", base);
    for (const char *s = seg; *s && n + 3 < outlen; s++) {
        if (*s == '~')
            out[n++] = '~', out[n++] = '0';
        else if (*s == '/')
            out[n++] = '~', out[n++] = '1';
        else
            out[n++] = *s;
    }
    out[n < outlen ? n : outlen - 1] = '\0';
}

/* Refuses unknown and repeated members of an object. */
static void check_members(struct loader *ld, const cJSON *obj, const char *where, const char *const *known)
{
    for (const cJSON *m = obj->child; m; m = m->next) {
        bool ok = !known;
        for (const char *const *k = known; k && *k && !ok; k++)
            ok = strcmp(*k, m->string) == 0;
        char at[256];
        pointer_join(at, sizeof at, where, m->string);
        if (!ok)
            problem(ld, at, "unknown field \"%s\"", m->string);
        for (const cJSON *n = m->next; n; n = n->next)
            if (strcmp(n->string, m->string) == 0)
                problem(ld, at, "given twice (a server would read the last, warden refuses both)");
    }
}

static void cond_free(struct cond *c)
{
    for (size_t i = 0; i < c->npath; i++)
        free(c->path[i]);
    free(c->path);
    cJSON_Delete(c->value);
}

static void rule_free(struct rule *r)
{
    free(r->pattern);
    free(r->reason);
    for (size_t i = 0; i < r->ndeny_if; i++)
        cond_free(&r->deny_if[i]);
    for (size_t i = 0; i < r->nrequire; i++)
        cond_free(&r->require[i]);
    free(r->deny_if);
    free(r->require);
}

static void policy_free(struct policy *p)
{
    lua_policy_free(p->lua);
    free(p->file);
    for (size_t i = 0; i < p->nhide; i++)
        free(p->hide[i]);
    free(p->hide);
    for (size_t i = 0; i < p->nrules; i++)
        rule_free(&p->rules[i]);
    free(p->rules);
}

static void load_limit(struct loader *ld, const cJSON *v, const char *where, struct limit *out)
{
    static const char *const known[] = {"max", "window", NULL};
    if (!cJSON_IsObject(v)) {
        problem(ld, where, "must be {\"max\": N, \"window\": SECONDS}");
        return;
    }
    check_members(ld, v, where, known);
    const cJSON *max = cJSON_GetObjectItemCaseSensitive(v, "max");
    const cJSON *window = cJSON_GetObjectItemCaseSensitive(v, "window");
    char at[256];
    snprintf(at, sizeof at, "%s/max", where);
    if (!cJSON_IsNumber(max) || max->valuedouble < 1 || max->valuedouble > 1e6 ||
        max->valuedouble != (double)(unsigned)max->valuedouble)
        problem(ld, at, "must be a whole number from 1 to 1000000");
    else
        out->max = (unsigned)max->valuedouble;
    snprintf(at, sizeof at, "%s/window", where);
    if (!cJSON_IsNumber(window) || !(window->valuedouble > 0) || window->valuedouble > 86400 * 366)
        problem(ld, at, "must be a number of seconds, more than 0");
    else
        out->window = window->valuedouble;
    snprintf(out->where, sizeof out->where, "%s", where);
}

/* Describes a condition for the agent: `alias in ["champion"]`. */
static void describe_cond(struct cond *c, const char *arg)
{
    char *v = c->value ? cJSON_PrintUnformatted(c->value) : NULL;
    snprintf(c->text, sizeof c->text, "%s %s %s", arg, op_names[c->op], v ? v : "");
    free(v);
}

static bool load_cond(struct loader *ld, const cJSON *v, const char *where, struct cond *c)
{
    if (!cJSON_IsObject(v)) {
        problem(ld, where, "a condition is {\"arg\": \"a.b\", OP: VALUE}");
        return false;
    }
    snprintf(c->where, sizeof c->where, "%s", where);
    const cJSON *arg = NULL, *opv = NULL;
    int nops = 0;
    for (const cJSON *m = v->child; m; m = m->next) {
        char at[256];
        pointer_join(at, sizeof at, where, m->string);
        for (const cJSON *n = m->next; n; n = n->next)
            if (strcmp(n->string, m->string) == 0)
                problem(ld, at, "given twice");
        if (strcmp(m->string, "arg") == 0) {
            arg = m;
            continue;
        }
        size_t k = 0;
        while (k < NOPS && strcmp(op_names[k], m->string) != 0)
            k++;
        if (k == NOPS) {
            problem(ld, at, "unknown operator \"%s\" (eq, neq, in, not_in, lt, lte, gt, gte, contains, prefix, "
                            "matches, exists)", m->string);
            continue;
        }
        c->op = (enum op)k;
        opv = m;
        nops++;
    }
    char at[256];
    snprintf(at, sizeof at, "%s/arg", where);
    if (!cJSON_IsString(arg) || !arg->valuestring[0]) {
        problem(ld, at, "must name an argument (a dot path such as \"alias\" or \"target.path\")");
        return false;
    }
    if (nops != 1) {
        snprintf(at, sizeof at, "%s/op", where);
        problem(ld, at, nops ? "has several operators; use one per condition" : "needs an operator");
        return false;
    }
    pointer_join(at, sizeof at, where, opv->string);
    bool ok = true;
    switch (c->op) {
    case OP_EQ:
    case OP_NEQ:
        ok = cJSON_IsString(opv) || cJSON_IsNumber(opv) || cJSON_IsBool(opv) || cJSON_IsNull(opv);
        if (!ok)
            problem(ld, at, "compares with a string, number, boolean or null");
        break;
    case OP_IN:
    case OP_NOT_IN:
        ok = cJSON_IsArray(opv);
        if (!ok)
            problem(ld, at, "needs an array of values");
        break;
    case OP_LT:
    case OP_LTE:
    case OP_GT:
    case OP_GTE:
        ok = cJSON_IsNumber(opv);
        if (!ok)
            problem(ld, at, "compares with a number");
        break;
    case OP_CONTAINS:
        ok = cJSON_IsString(opv) || cJSON_IsNumber(opv) || cJSON_IsBool(opv);
        if (!ok)
            problem(ld, at, "needs a string (substring) or a value (array element)");
        break;
    case OP_PREFIX:
        ok = cJSON_IsString(opv);
        if (!ok)
            problem(ld, at, "needs a string");
        break;
    case OP_MATCHES:
        ok = cJSON_IsString(opv) && glob_valid(opv->valuestring);
        if (!ok)
            problem(ld, at, "needs a glob pattern (*, ?, [a-z]) with every [ closed");
        break;
    case OP_EXISTS:
        ok = cJSON_IsBool(opv);
        if (!ok)
            problem(ld, at, "needs true or false");
        break;
    }
    if (!ok)
        return false;
    c->value = cJSON_Duplicate(opv, 1);
    size_t n = 1;
    for (const char *s = arg->valuestring; *s; s++)
        n += *s == '.';
    c->path = calloc(n, sizeof *c->path);
    if (!c->value || !c->path) {
        problem(ld, where, "out of memory");
        return false;
    }
    const char *seg = arg->valuestring;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        if (len == 0) {
            problem(ld, at, "the argument path \"%s\" has an empty segment", arg->valuestring);
            return false;
        }
        if (!(c->path[c->npath++] = strndup(seg, len))) {
            problem(ld, where, "out of memory");
            return false;
        }
        seg = dot ? dot + 1 : seg + len;
    }
    describe_cond(c, arg->valuestring);
    return true;
}

static void load_conds(struct loader *ld, const cJSON *arr, const char *where, struct cond **out, size_t *n)
{
    if (!cJSON_IsArray(arr)) {
        problem(ld, where, "must be an array of conditions");
        return;
    }
    size_t count = (size_t)cJSON_GetArraySize(arr);
    if (count == 0)
        return;
    if (!(*out = calloc(count, sizeof **out))) {
        problem(ld, where, "out of memory");
        return;
    }
    int i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++) {
        char at[256];
        snprintf(at, sizeof at, "%s/%d", where, i);
        if (load_cond(ld, c, at, &(*out)[*n]))
            (*n)++;
        else
            cond_free(&(*out)[*n]), memset(&(*out)[*n], 0, sizeof **out);
    }
}

static void load_rule(struct loader *ld, const cJSON *v, const char *where, struct rule *r)
{
    static const char *const known[] = {"action", "deny_if", "require", "rate_limit", "reason", "description", NULL};
    snprintf(r->where, sizeof r->where, "%s", where);
    if (!cJSON_IsObject(v)) {
        problem(ld, where, "a tool rule is an object (use {} to allow under \"default\": \"deny\")");
        return;
    }
    check_members(ld, v, where, known);
    char at[256];
    const cJSON *action = cJSON_GetObjectItemCaseSensitive(v, "action");
    if (action) {
        snprintf(at, sizeof at, "%s/action", where);
        if (!cJSON_IsString(action))
            problem(ld, at, "must be \"allow\", \"deny\" or \"require_approval\"");
        else if (strcmp(action->valuestring, "allow") == 0)
            r->action = ACT_ALLOW;
        else if (strcmp(action->valuestring, "deny") == 0)
            r->action = ACT_DENY;
        else if (strcmp(action->valuestring, "require_approval") == 0)
            r->action = ACT_APPROVAL;
        else
            problem(ld, at, "must be \"allow\", \"deny\" or \"require_approval\", not \"%s\"", action->valuestring);
    }
    const cJSON *deny_if = cJSON_GetObjectItemCaseSensitive(v, "deny_if");
    if (deny_if) {
        snprintf(at, sizeof at, "%s/deny_if", where);
        load_conds(ld, deny_if, at, &r->deny_if, &r->ndeny_if);
    }
    const cJSON *require = cJSON_GetObjectItemCaseSensitive(v, "require");
    if (require) {
        snprintf(at, sizeof at, "%s/require", where);
        load_conds(ld, require, at, &r->require, &r->nrequire);
    }
    const cJSON *limit = cJSON_GetObjectItemCaseSensitive(v, "rate_limit");
    if (limit) {
        snprintf(at, sizeof at, "%s/rate_limit", where);
        load_limit(ld, limit, at, &r->limit);
        r->has_limit = true;
    }
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(v, "reason");
    if (reason) {
        snprintf(at, sizeof at, "%s/reason", where);
        if (!cJSON_IsString(reason))
            problem(ld, at, "must be a string");
        else if (!(r->reason = strdup(reason->valuestring)))
            problem(ld, at, "out of memory");
    }
    const cJSON *description = cJSON_GetObjectItemCaseSensitive(v, "description");
    if (description && !cJSON_IsString(description)) {
        snprintf(at, sizeof at, "%s/description", where);
        problem(ld, at, "must be a string");
    }
}

/* Exact names sort by name (binary search); globs after them, longest first. */
static int rule_order(const void *a, const void *b)
{
    const struct rule *x = a, *y = b;
    if (x->glob != y->glob)
        return x->glob ? 1 : -1;
    if (!x->glob)
        return strcmp(x->pattern, y->pattern);
    size_t lx = strlen(x->pattern), ly = strlen(y->pattern);
    return lx != ly ? (lx > ly ? -1 : 1) : strcmp(x->pattern, y->pattern);
}

static char *read_file(const char *path, size_t *len, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot read: %s", strerror(errno));
        return NULL;
    }
    char *buf = NULL;
    size_t cap = 0;
    *len = 0;
    for (;;) {
        if (*len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > 16 * 1024 * 1024) {
                snprintf(why, whylen, "larger than 16 MiB");
                free(buf);
                fclose(f);
                return NULL;
            }
            char *b = realloc(buf, cap + 1);
            if (!b) {
                snprintf(why, whylen, "out of memory");
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
    }
    fclose(f);
    buf[*len] = '\0';
    return buf;
}

/* Loads one JSON policy file into *p; problems go to ld. */
static void load_policy(struct loader *ld, const char *file, struct policy *p)
{
    char why[256];
    size_t len;
    p->file = strdup(file);
    char *text = read_file(file, &len, why, sizeof why);
    if (!text) {
        problem(ld, "", "%s", why);
        return;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len + 1, &end, 1);
    if (!root) {
        size_t off = end ? (size_t)(end - text) : 0, line = 1, col = 1;
        for (size_t i = 0; i < off && i < len; i++)
            text[i] == '\n' ? (line++, col = 1) : col++;
        char at[64];
        snprintf(at, sizeof at, "line %zu, column %zu", line, col);
        problem(ld, at, "not valid JSON");
        free(text);
        return;
    }
    free(text);
    static const char *const known[] = {"version", "description", "default", "hide", "tools", "all_tools", NULL};
    if (!cJSON_IsObject(root)) {
        problem(ld, "", "a policy is a JSON object");
        cJSON_Delete(root);
        return;
    }
    check_members(ld, root, "", known);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (!cJSON_IsString(version) || strcmp(version->valuestring, "1") != 0)
        problem(ld, "/version", "must be \"1\"");
    const cJSON *def = cJSON_GetObjectItemCaseSensitive(root, "default");
    if (def) {
        if (cJSON_IsString(def) && strcmp(def->valuestring, "deny") == 0)
            p->default_deny = true;
        else if (!cJSON_IsString(def) || strcmp(def->valuestring, "allow") != 0)
            problem(ld, "/default", "must be \"allow\" or \"deny\"");
    }
    const cJSON *hide = cJSON_GetObjectItemCaseSensitive(root, "hide");
    if (hide) {
        if (!cJSON_IsArray(hide)) {
            problem(ld, "/hide", "must be an array of tool names or globs");
        } else if ((p->hide = calloc((size_t)cJSON_GetArraySize(hide) + 1, sizeof *p->hide))) {
            int i = 0;
            for (const cJSON *h = hide->child; h; h = h->next, i++) {
                char at[64];
                snprintf(at, sizeof at, "/hide/%d", i);
                if (!cJSON_IsString(h) || !h->valuestring[0] || !glob_valid(h->valuestring))
                    problem(ld, at, "must be a tool name or a glob with every [ closed");
                else
                    p->hide[p->nhide++] = strdup(h->valuestring);
            }
        }
    }
    const cJSON *tools = cJSON_GetObjectItemCaseSensitive(root, "tools");
    if (tools) {
        if (!cJSON_IsObject(tools)) {
            problem(ld, "/tools", "must be an object of tool name (or glob): rule");
        } else {
            check_members(ld, tools, "/tools", NULL);
            size_t n = (size_t)cJSON_GetArraySize(tools);
            p->rules = calloc(n ? n : 1, sizeof *p->rules);
            for (const cJSON *t = tools->child; t && p->rules; t = t->next) {
                char at[256];
                pointer_join(at, sizeof at, "/tools", t->string);
                if (!t->string[0] || !glob_valid(t->string)) {
                    problem(ld, at, "a tool name or a glob with every [ closed");
                    continue;
                }
                struct rule *r = &p->rules[p->nrules++];
                r->pattern = strdup(t->string);
                r->glob = glob_has_wildcard(t->string);
                load_rule(ld, t, at, r);
            }
            qsort(p->rules, p->nrules, sizeof *p->rules, rule_order);
            while (p->nexact < p->nrules && !p->rules[p->nexact].glob)
                p->nexact++;
        }
    }
    const cJSON *all = cJSON_GetObjectItemCaseSensitive(root, "all_tools");
    if (all) {
        static const char *const all_known[] = {"rate_limit", "description", NULL};
        if (!cJSON_IsObject(all)) {
            problem(ld, "/all_tools", "must be {\"rate_limit\": {...}}");
        } else {
            check_members(ld, all, "/all_tools", all_known);
            const cJSON *limit = cJSON_GetObjectItemCaseSensitive(all, "rate_limit");
            if (limit) {
                load_limit(ld, limit, "/all_tools/rate_limit", &p->all_limit);
                p->has_all_limit = true;
            }
        }
    }
    cJSON_Delete(root);
}

static bool is_lua(const char *file)
{
    size_t len = strlen(file);
    return len > 4 && strcmp(file + len - 4, ".lua") == 0;
}

struct policy_set *policy_set_load(const char *const *files, size_t n, struct shared_store *shared,
                                   const char *server, char *errbuf, size_t errlen)
{
    struct policy_set *ps = calloc(1, sizeof *ps);
    struct policy *policies = calloc(n ? n : 1, sizeof *policies);
    if (!ps || !policies) {
        free(ps);
        free(policies);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    ps->policies = policies;
    ps->n = n;
    errbuf[0] = '\0';
    int problems = 0;
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        struct loader ld = {.file = files[i], .err = errbuf + used, .errlen = errlen - used};
        if (is_lua(files[i])) {
            policies[i].file = strdup(files[i]);
            policies[i].lua = lua_policy_load(files[i], NULL, shared, server, ld.err, ld.errlen);
            if (!policies[i].lua) {
                ld.problems++;
                ld.used = strlen(ld.err);
                if (ld.used + 1 < ld.errlen)
                    ld.err[ld.used++] = '\n', ld.err[ld.used] = '\0';
            } else {
                /* Lua policies see call.tool_meta, learnt from tools/list answers: read them all. */
                ps->lua_lists = true;
            }
        } else {
            load_policy(&ld, files[i], &policies[i]);
        }
        problems += ld.problems;
        used += ld.used;
        if (policies[i].nhide)
            ps->hides = true;
    }
    if (problems) {
        if (used && errbuf[used - 1] == '\n')
            errbuf[used - 1] = '\0';
        policy_set_free(ps);
        return NULL;
    }
    return ps;
}

void policy_set_free(struct policy_set *ps)
{
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        policy_free(&ps->policies[i]);
    free(ps->policies);
    free(ps);
}

bool policy_set_has_lua(const struct policy_set *ps)
{
    return ps && ps->lua_lists;
}

bool policy_set_filters_lists(const struct policy_set *ps)
{
    return ps && (ps->hides || ps->lua_lists);
}

/* ---- deciding ---- */

static bool hidden_by(const struct policy *p, const char *tool)
{
    size_t len = strlen(tool);
    for (size_t i = 0; i < p->nhide; i++)
        if (glob_match(p->hide[i], tool, len))
            return true;
    return false;
}

static bool is_hidden(const struct policy_set *ps, const char *tool)
{
    for (size_t i = 0; i < ps->n; i++)
        if (hidden_by(&ps->policies[i], tool))
            return true;
    return false;
}

static const struct rule *find_rule(const struct policy *p, const char *tool)
{
    size_t lo = 0, hi = p->nexact;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(tool, p->rules[mid].pattern);
        if (c == 0)
            return &p->rules[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    size_t len = strlen(tool);
    for (size_t i = p->nexact; i < p->nrules; i++)
        if (glob_match(p->rules[i].pattern, tool, len))
            return &p->rules[i];
    return NULL;
}

/* The member a Go server binds to key: encoding/json matches keys to fields
 * under Unicode simple case folding and the last match wins ("Alias" is
 * alias). rpc_parse refuses objects with two keys that fold together, so
 * this is also the one member every other reader sees. */
static const cJSON *member_folded(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL;
    size_t klen = strlen(key);
    for (const cJSON *m = obj->child; m; m = m->next)
        if (m->string && utf8_fold_cmp(m->string, strlen(m->string), key, klen) == 0)
            found = m;
    return found;
}

/* The argument at a dot path; a numeric segment indexes an array. */
static const cJSON *lookup(const cJSON *args, const struct cond *c)
{
    const cJSON *v = args;
    for (size_t i = 0; i < c->npath && v; i++) {
        if (cJSON_IsObject(v)) {
            v = member_folded(v, c->path[i]);
        } else if (cJSON_IsArray(v)) {
            char *end;
            long idx = strtol(c->path[i], &end, 10);
            v = *end || idx < 0 ? NULL : cJSON_GetArrayItem(v, (int)idx);
        } else {
            v = NULL;
        }
    }
    return v;
}

/* Equality of scalars of the same JSON type; "5" never equals 5. */
static bool same(const cJSON *a, const cJSON *b)
{
    if (cJSON_IsString(a) && cJSON_IsString(b))
        return strcmp(a->valuestring, b->valuestring) == 0;
    if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
        return a->valuedouble == b->valuedouble;
    if (cJSON_IsBool(a) && cJSON_IsBool(b))
        return cJSON_IsTrue(a) == cJSON_IsTrue(b);
    return cJSON_IsNull(a) && cJSON_IsNull(b);
}

static bool in_list(const cJSON *v, const cJSON *list)
{
    for (const cJSON *e = list->child; e; e = e->next)
        if (same(v, e))
            return true;
    return false;
}

/* Whether a condition holds. A missing or wrongly typed argument satisfies
 * no positive operator (eq, in, lt..., contains, prefix, matches) and
 * satisfies the negations neq and not_in: it is not equal to the value. */
static bool cond_holds(const struct cond *c, const cJSON *args)
{
    const cJSON *v = lookup(args, c);
    double x = cJSON_IsNumber(v) ? v->valuedouble : 0, y = cJSON_IsNumber(c->value) ? c->value->valuedouble : 0;
    switch (c->op) {
    case OP_EQ: return v && same(v, c->value);
    case OP_NEQ: return !v || !same(v, c->value);
    case OP_IN: return v && in_list(v, c->value);
    case OP_NOT_IN: return !v || !in_list(v, c->value);
    case OP_LT: return cJSON_IsNumber(v) && x < y;
    case OP_LTE: return cJSON_IsNumber(v) && x <= y;
    case OP_GT: return cJSON_IsNumber(v) && x > y;
    case OP_GTE: return cJSON_IsNumber(v) && x >= y;
    case OP_CONTAINS:
        if (cJSON_IsString(v) && cJSON_IsString(c->value))
            return strstr(v->valuestring, c->value->valuestring) != NULL;
        return cJSON_IsArray(v) && in_list(c->value, v);
    case OP_PREFIX:
        return cJSON_IsString(v) && strncmp(v->valuestring, c->value->valuestring, strlen(c->value->valuestring)) == 0;
    case OP_MATCHES:
        return cJSON_IsString(v) && glob_match(c->value->valuestring, v->valuestring, strlen(v->valuestring));
    case OP_EXISTS: return (v != NULL) == cJSON_IsTrue(c->value);
    }
    return false;
}

static void refuse(struct decision *out, enum verdict v, const struct policy *p, const char *where,
                   const char *custom, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void refuse(struct decision *out, enum verdict v, const struct policy *p, const char *where,
                   const char *custom, const char *fmt, ...)
{
    out->verdict = v;
    snprintf(out->rule, sizeof out->rule, "%s:%s", p->file, where);
    char auto_text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(auto_text, sizeof auto_text, fmt, ap);
    va_end(ap);
    if (custom)
        snprintf(out->reason, sizeof out->reason, "%s (%s)", custom, auto_text);
    else
        snprintf(out->reason, sizeof out->reason, "%s", auto_text);
}

/* One policy's verdict on a call, before rate limits: a refusal or nothing. */
static bool policy_refuses(const struct policy *p, const char *tool, const cJSON *args, struct decision *out)
{
    const struct rule *r = find_rule(p, tool);
    if (!r) {
        if (p->default_deny) {
            refuse(out, VERDICT_DENY, p, "/default", NULL,
                   "denied by policy %s: tool %s is not allowed (default: deny)", p->file, tool);
            return true;
        }
        return false;
    }
    if (r->action == ACT_DENY) {
        refuse(out, VERDICT_DENY, p, r->where, r->reason, "denied by policy %s: tools.%s", p->file, r->pattern);
        return true;
    }
    if (r->action == ACT_APPROVAL) {
        refuse(out, VERDICT_APPROVAL, p, r->where, r->reason,
               "tool %s requires approval (policy %s: tools.%s); approvals are not available, so it is refused",
               tool, p->file, r->pattern);
        return true;
    }
    for (size_t i = 0; i < r->ndeny_if; i++) {
        if (cond_holds(&r->deny_if[i], args)) {
            refuse(out, VERDICT_DENY, p, r->deny_if[i].where, r->reason, "denied by policy %s: %s.deny_if[%zu]: %s",
                   p->file, r->pattern, i, r->deny_if[i].text);
            return true;
        }
    }
    for (size_t i = 0; i < r->nrequire; i++) {
        if (!cond_holds(&r->require[i], args)) {
            refuse(out, VERDICT_DENY, p, r->require[i].where, r->reason,
                   "denied by policy %s: %s.require[%zu] does not hold: %s", p->file, r->pattern, i,
                   r->require[i].text);
            return true;
        }
    }
    return false;
}

/* The key of one rate limit: the limit's identity, then who it counts. */
static size_t limit_key(char *buf, size_t cap, const char *server, const struct policy *p, const struct limit *l,
                        const struct call_ctx *ctx, const char *tool)
{
    int n = snprintf(buf, cap, "%s\x1f%s\x1f%s\x1f%.*s\x1f%s", server, p->file, l->where, (int)ctx->session_len,
                     ctx->session, tool ? tool : "");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Request headers a Lua policy may see; never Authorization, cookies or
 * anything else that carries credentials. */
static const char *const visible_headers[] = {"user-agent", "mcp-protocol-version", "x-request-id", "traceparent",
                                              "x-forwarded-for", "x-agent-name"};

/* Fills out[] with the allow-listed headers the request has; returns how many. */
static size_t visible_request_headers(const struct http_head *head, struct lua_header *out)
{
    size_t n = 0;
    for (size_t i = 0; head && i < sizeof visible_headers / sizeof *visible_headers; i++) {
        size_t len;
        const char *value = http_header_get(head, visible_headers[i], &len);
        if (value)
            out[n++] = (struct lua_header){visible_headers[i], value, len};
    }
    return n;
}

void policy_decide(struct policy_set *ps, struct rate_store *rs, const struct rpc_msg *msg,
                   const struct call_ctx *ctx, struct decision *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = VERDICT_ALLOW;
    const char *tool = msg->tool;
    if (is_hidden(ps, tool)) {
        out->verdict = VERDICT_HIDDEN;
        snprintf(out->reason, sizeof out->reason, "Unknown tool: %s", tool);
        snprintf(out->rule, sizeof out->rule, "hide");
        return;
    }
    for (size_t i = 0; i < ps->n; i++)
        if (!ps->policies[i].lua && policy_refuses(&ps->policies[i], tool, msg->args, out))
            return;
    /* Lua after the C fast path: what no plain list can say. */
    struct lua_header headers[sizeof visible_headers / sizeof *visible_headers];
    struct lua_call_extra extra = {.headers = headers, .tool_meta = ctx->tool_meta};
    if (ps->lua_lists)
        extra.nheaders = visible_request_headers(ctx->head, headers);
    for (size_t i = 0; i < ps->n; i++) {
        if (!ps->policies[i].lua)
            continue;
        struct decision d;
        lua_policy_on_call(ps->policies[i].lua, msg, ctx, &extra, &d);
        if (d.verdict == VERDICT_DENY || d.verdict == VERDICT_APPROVAL || d.verdict == VERDICT_ERROR) {
            *out = d;
            /* the agent, like the log, learns which rule refused: FILE:LINE */
            if (d.rule[0] && !strstr(out->reason, d.rule)) {
                size_t len = strlen(out->reason);
                snprintf(out->reason + len, sizeof out->reason - len, "%s(policy %s)", len ? " " : "", d.rule);
            }
            return;
        }
    }
    /* Rate limits last, counted only for a call every policy allows. */
    enum { MAX_LIMITS = 16 };
    struct rate_check checks[MAX_LIMITS];
    const struct limit *limits[MAX_LIMITS];
    const struct policy *owners[MAX_LIMITS];
    char keys[MAX_LIMITS][512];
    size_t n = 0;
    for (size_t i = 0; i < ps->n && n < MAX_LIMITS; i++) {
        const struct policy *p = &ps->policies[i];
        const struct rule *r = find_rule(p, tool);
        const struct limit *both[2] = {r && r->has_limit ? &r->limit : NULL, p->has_all_limit ? &p->all_limit : NULL};
        for (int k = 0; k < 2 && n < MAX_LIMITS; k++) {
            if (!both[k])
                continue;
            size_t len = limit_key(keys[n], sizeof keys[n], ctx->server, p, both[k], ctx, k == 0 ? tool : NULL);
            checks[n] = (struct rate_check){keys[n], len, both[k]->max, both[k]->window};
            limits[n] = both[k];
            owners[n] = p;
            n++;
        }
    }
    if (n == 0)
        return;
    size_t refused;
    double retry;
    if (rate_admit(rs, checks, n, ctx->now, &refused, &retry))
        return;
    if (refused == n) {
        out->verdict = VERDICT_RATE_LIMITED;
        out->retry_after = 1;
        snprintf(out->reason, sizeof out->reason, "rate limited: warden's rate-limit table is full; retry in 1 s");
        snprintf(out->rule, sizeof out->rule, "rate_store");
        return;
    }
    const struct limit *l = limits[refused];
    out->retry_after = retry > 0 ? retry : 0;
    refuse(out, VERDICT_RATE_LIMITED, owners[refused], l->where, NULL,
           "rate limited by policy %s (%s: at most %u calls in %g s%s); retry in %.1f s", owners[refused]->file,
           l->where, l->max, l->window, strncmp(l->where, "/all_tools", 10) == 0 ? " across tools" : "",
           out->retry_after);
}

bool policy_filter_list(struct policy_set *ps, cJSON *result, const struct call_ctx *ctx)
{
    cJSON *tools = cJSON_GetObjectItemCaseSensitive(result, "tools");
    if (!cJSON_IsArray(tools))
        return false;
    bool removed = false;
    cJSON *t = tools->child;
    while (t) {
        cJSON *next = t->next;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsString(name) && is_hidden(ps, name->valuestring)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(tools, t));
            removed = true;
        }
        t = next;
    }
    for (size_t i = 0; i < ps->n; i++) {
        if (!ps->policies[i].lua || !lua_policy_has_on_list(ps->policies[i].lua))
            continue;
        struct decision err;
        int dropped = lua_policy_on_list(ps->policies[i].lua, tools, ctx, &err);
        if (dropped < 0) {
            /* A failed on_list cannot say what is safe to show: show nothing (fail closed). */
            while (tools->child)
                cJSON_Delete(cJSON_DetachItemViaPointer(tools, tools->child));
            return true;
        }
        if (dropped > 0)
            removed = true;
    }
    return removed;
}

int policy_check_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: warden check FILE...\n");
        return 2;
    }
    int bad = 0;
    struct shared_store *shared = shared_store_new(SHARED_STORE_KEYS, SHARED_STORE_BYTES);
    if (!shared)
        return 2;
    for (int i = 1; i < argc; i++) {
        char err[16384];
        const char *one[] = {argv[i]};
        struct policy_set *ps = policy_set_load(one, 1, shared, "check", err, sizeof err);
        if (ps) {
            printf("%s: ok\n", argv[i]);
            policy_set_free(ps);
        } else {
            printf("%s\n", err);
            bad = 1;
        }
    }
    shared_store_free(shared);
    return bad;
}
