#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "auth.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include "glob.h"
#include "http.h"
#include "jsonrpc.h"
#include "pathnorm.h"
#include "luapolicy.h"
#include "sharedstore.h"
#include "ratelimit.h"
#include "riskclass.h"
#include "schema.h"
#include "utf8.h"

enum op { OP_EQ, OP_NEQ, OP_IN, OP_NOT_IN, OP_LT, OP_LTE, OP_GT, OP_GTE, OP_CONTAINS, OP_PREFIX, OP_MATCHES, OP_EXISTS,
          OP_REGEX, OP_PATH_UNDER, OP_PATH_MATCHES };
static const char *const op_names[] = {"eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte",
                                       "contains", "prefix", "matches", "exists",
                                       "regex", "path_under", "path_matches"};
#define NOPS (sizeof op_names / sizeof *op_names)

enum action { ACT_NONE, ACT_ALLOW, ACT_DENY, ACT_APPROVAL };

/* {"arg": "a.b.c", OP: VALUE} or {"principal": "labels.team", OP: VALUE},
 * compiled: the path split once at load. */
struct cond {
    char **path;
    size_t npath;
    bool principal;         /* the path is in the caller's principal, not the arguments */
    enum op op;
    cJSON *value;           /* owned; path_under: the roots, normalized */
    struct cond_regex *re;  /* regex: compiled at load (owned), else NULL */
    char text[200];         /* "alias in [\"champion\"]", for reasons */
    char where[200];        /* "/tools/NAME/deny_if/0" */
};

/* Who a rate limit counts: PER_DEFAULT is the principal when the caller
 * authenticated (not anonymous), else the session. */
enum per { PER_DEFAULT, PER_PRINCIPAL, PER_SESSION, PER_SERVER };

struct limit {
    unsigned max;
    double window;
    int per;                /* enum per (FIELD_ENUM stores an int) */
    char where[200];
};

struct rule {
    char *pattern;
    bool glob;
    int action;             /* enum action (FIELD_ENUM stores an int) */
    struct cond *deny_if, *require, *when;
    size_t ndeny_if, nrequire, nwhen;   /* the rule applies only when all of `when` hold */
    bool has_limit;
    struct limit limit;
    char *reason;
    struct approval_opts approval; /* "approval": how a require_approval call waits */
    char where[200];        /* "/tools/NAME" */
    const char *section;    /* "tools" or "classes": where the rule is, for reasons */
};

/* "classes_of": the operator's word on a tool's class. */
struct class_override {
    char *pattern;
    bool glob;
    enum risk_class cls;
};

/* A glob rule under its literal prefix (glob_prefix_len): only the globs whose
 * prefix begins a tool's name can match it, so a call tries a handful of the
 * policy's globs, not all of them. */
struct glob_entry {
    const char *pattern;    /* the rule's (not owned); its first prefix_len bytes are literal */
    size_t prefix_len;
    size_t rule;            /* index in rules: the lowest that matches wins */
};

struct policy {
    char *file;
    int default_deny;       /* index in {"allow", "deny"}: 1 denies */
    char **hide;
    size_t nhide;
    struct rule *rules;     /* exact names first (sorted), then globs (longest first) */
    size_t nrules, nexact;
    struct glob_entry *globs;   /* the nrules - nexact glob rules by (prefix, rule); owned */
    bool has_all_limit;
    struct limit all_limit;
    struct rule *class_rules[RISK_NCLASSES];   /* "classes": by enum risk_class, NULL when absent */
    struct class_override *overrides;          /* "classes_of": exact names first, then globs longest first */
    size_t noverrides, nexact_overrides;       /* the exact names are sorted by strcmp */
    struct lua_policy *lua;     /* a .lua file: the rest of this struct is empty */
    int mode;                   /* index in {"enforce", "shadow"} as the file says */
    bool shadow;                /* evaluated and audited, never enforced (the file or the loader says so) */
    bool list_denied;           /* under default deny, still list the tools it refuses */
    struct cond *when;          /* bound in the config: the policy applies only when all hold */
    size_t nwhen;
};

struct policy_set {
    struct policy *policies;
    size_t n;
    bool hides;                 /* an enforced policy hides tools */
    bool hides_denied;          /* an enforced default-deny policy keeps refused tools out of lists */
    bool has_shadow;            /* shadow policies are loaded */
    bool lua_lists;             /* a Lua policy is loaded: tools/list answers are read */
};

static bool hidden_by(const struct policy *p, const char *tool);
static const struct rule *find_rule(const struct policy *p, const char *tool, struct rpc_msg *call,
                                    const struct call_ctx *ctx);

/* ---- the regex and path operators ---- */

/* Bounds of one regex match: a pattern that backtracks without end over a
 * long argument fails (closed) instead of holding the worker. */
enum { REGEX_MAX = 1024, REGEX_MATCH_LIMIT = 100000, REGEX_DEPTH_LIMIT = 1000, REGEX_HEAP_KIB = 1024 };

/* A compiled `regex`: PCRE2, JIT-compiled when the platform allows, with
 * its own match data (a set is used by one thread at a time). */
struct cond_regex {
    pcre2_code *code;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
};

static void cond_regex_free(struct cond_regex *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_match_data_free(re->md);
    pcre2_code_free(re->code);
    free(re);
}

/* Compiles pattern once, at load; NULL with why ("at offset N: ...") when
 * it does not compile. Patterns are UTF-8, and so is what they see: bytes
 * that are not UTF-8 never match a character but do not fail the match. */
static struct cond_regex *cond_regex_compile(const char *pattern, char *why, size_t whylen)
{
    size_t len = strlen(pattern);
    if (len > REGEX_MAX) {
        snprintf(why, whylen, "a regex is at most %d bytes", REGEX_MAX);
        return NULL;
    }
    struct cond_regex *re = calloc(1, sizeof *re);
    int code;
    PCRE2_SIZE offset;
    if (!re || !(re->code = pcre2_compile((PCRE2_SPTR)pattern, len,
                                          PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | PCRE2_NEVER_BACKSLASH_C, &code,
                                          &offset, NULL))) {
        if (!re) {
            snprintf(why, whylen, "out of memory");
        } else {
            PCRE2_UCHAR msg[200];
            pcre2_get_error_message(code, msg, sizeof msg);
            snprintf(why, whylen, "the regex does not compile: %s at offset %zu: %.*s>>>%s", (const char *)msg,
                     (size_t)offset, (int)offset, pattern, pattern + offset);
        }
        cond_regex_free(re);
        return NULL;
    }
    /* Without JIT (a platform PCRE2 does not support) the interpreter runs under the same limits. */
    (void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
    re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->md || !re->mctx) {
        snprintf(why, whylen, "out of memory");
        cond_regex_free(re);
        return NULL;
    }
    pcre2_set_match_limit(re->mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, REGEX_HEAP_KIB);
    return re;
}

/* 1 when the regex matches anywhere in s (anchor it with ^...$ to match the
 * whole value), 0 when not, -1 when the match could not finish (a limit). */
static int cond_regex_match(const struct cond_regex *re, const char *s)
{
    int rc = pcre2_match(re->code, (PCRE2_SPTR)s, strlen(s), 0, 0, re->md, re->mctx);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

/* What is wrong with the value of path_under, or NULL: an absolute path, or
 * a non-empty array of them, each normalizable. */
static const char *path_roots_problem(const cJSON *v)
{
    static const char want[] = "needs an absolute path (\"/srv/data\") or an array of them, without \"..\" above /";
    if (cJSON_IsArray(v) && !v->child)
        return want;
    for (const cJSON *e = cJSON_IsArray(v) ? v->child : v; e; e = cJSON_IsArray(v) ? e->next : NULL) {
        char buf[4096];
        const char *why;
        if (!cJSON_IsString(e) || path_normalize(e->valuestring, strlen(e->valuestring), buf, sizeof buf, &why) < 0)
            return want;
    }
    return NULL;
}

/* The roots of path_under, normalized, as an array of strings (owned). */
static cJSON *path_roots(const cJSON *v)
{
    cJSON *out = cJSON_CreateArray();
    for (const cJSON *e = cJSON_IsArray(v) ? v->child : v; out && e; e = cJSON_IsArray(v) ? e->next : NULL) {
        char buf[4096];
        const char *why;
        cJSON *s = NULL;
        if (path_normalize(e->valuestring, strlen(e->valuestring), buf, sizeof buf, &why) < 0 ||
            !(s = cJSON_CreateString(buf)) || !cJSON_AddItemToArray(out, s)) {
            cJSON_Delete(s);
            cJSON_Delete(out);
            return NULL;
        }
    }
    return out;
}

/* path_under and path_matches: whether the argument, a string holding an
 * absolute path, normalizes and is under one of the roots (matches the
 * glob). A relative path, "..", above "/", NUL or backslash: it does not. */
static bool path_cond_holds(const struct cond *c, const cJSON *v)
{
    if (!cJSON_IsString(v))
        return false;
    size_t len = strlen(v->valuestring);
    char stack[1024];
    char *buf = len < sizeof stack ? stack : malloc(len + 1);
    const char *why;
    long n = buf ? path_normalize(v->valuestring, len, buf, len + 1, &why) : -1;
    bool holds = false;
    if (n >= 0 && c->op == OP_PATH_MATCHES) {
        holds = glob_match(c->value->valuestring, buf, (size_t)n);
    } else if (n >= 0) {
        for (const cJSON *r = c->value->child; r && !holds; r = r->next)
            holds = path_is_under(buf, (size_t)n, r->valuestring);
    }
    if (buf != stack)
        free(buf);
    return holds;
}

/* ---- loading: policy files are read through tables (schema.h) ---- */

static void cond_free(struct cond *c)
{
    cond_regex_free(c->re);
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
    for (size_t i = 0; i < r->nwhen; i++)
        cond_free(&r->when[i]);
    free(r->deny_if);
    free(r->require);
    free(r->when);
}

static void policy_free_classes(struct policy *p);

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
    policy_free_classes(p);
    for (size_t i = 0; i < p->nwhen; i++)
        cond_free(&p->when[i]);
    free(p->when);
    free(p->globs);
}

/* Describes a condition for the agent: `alias in ["champion"]`. */
static void describe_cond(struct cond *c, const char *arg)
{
    char *v = c->value ? cJSON_PrintUnformatted(c->value) : NULL;
    snprintf(c->text, sizeof c->text, "%s %s %s", arg, op_names[c->op], v ? v : "");
    free(v);
}

/* A condition while it is read: its subject and its one operator. */
struct cond_input {
    const cJSON *arg, *principal, *value;
    enum op op;
    int nops;
};

static void read_arg(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct cond_input *in = dst;
    if (!cJSON_IsString(v) || !v->valuestring[0])
        schema_problem(doc, v, ptr, "%s", f->expect);
    else
        in->arg = v;
}

/* A glob that reads like a regex: anchors, classes of escapes, `.*`,
 * quantifiers after a class, groups and alternatives. */
static bool looks_like_regex(const char *g)
{
    size_t n = strlen(g);
    if (n && (g[0] == '^' || (g[n - 1] == '$' && (n < 2 || g[n - 2] != '\\'))))
        return true;
    /* ".*" at the end is a glob's "any extension" */
    const char *dot_star = strstr(g, ".*");
    if (dot_star && dot_star[2])
        return true;
    static const char *const tells[] = {".+", "\\s", "\\d", "\\w", "\\b", "]*", "]+", "]{", "+", "(", "|"};
    for (size_t i = 0; i < sizeof tells / sizeof *tells; i++)
        if (strstr(g, tells[i]))
            return true;
    return false;
}

/* One operator member: its value must suit it. */
static void read_op(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct cond_input *in = dst;
    size_t k = 0;
    while (k + 1 < NOPS && strcmp(op_names[k], f->key) != 0)
        k++;
    in->op = (enum op)k;
    in->value = v;
    in->nops++;
    const char *bad = NULL;
    switch (in->op) {
    case OP_EQ:
    case OP_NEQ:
        if (!cJSON_IsString(v) && !cJSON_IsNumber(v) && !cJSON_IsBool(v) && !cJSON_IsNull(v))
            bad = "compares with a string, number, boolean or null";
        break;
    case OP_IN:
    case OP_NOT_IN:
        if (!cJSON_IsArray(v))
            bad = "needs an array of values";
        break;
    case OP_LT:
    case OP_LTE:
    case OP_GT:
    case OP_GTE:
        if (!cJSON_IsNumber(v))
            bad = "compares with a number";
        break;
    case OP_CONTAINS:
        if (!cJSON_IsString(v) && !cJSON_IsNumber(v) && !cJSON_IsBool(v))
            bad = "needs a string (substring) or a value (array element)";
        break;
    case OP_PREFIX:
        if (!cJSON_IsString(v))
            bad = "needs a string";
        break;
    case OP_MATCHES:
        if (!cJSON_IsString(v) || !glob_valid(v->valuestring))
            bad = "needs a glob pattern (*, ?, [a-z]) with every [ closed";
        else if (looks_like_regex(v->valuestring))
            schema_warning(doc, v, ptr, "\"%.100s\" looks like a regular expression, but matches takes a glob that "
                           "must match the whole value (\"[0-9]*\" is a digit then anything); use \"regex\"",
                           v->valuestring);
        break;
    case OP_EXISTS:
        if (!cJSON_IsBool(v))
            bad = "needs true or false";
        break;
    case OP_REGEX:
        if (!cJSON_IsString(v))
            bad = "needs a regular expression (PCRE2) in a string";
        break;
    case OP_PATH_UNDER:
        bad = path_roots_problem(v);
        break;
    case OP_PATH_MATCHES:
        if (!cJSON_IsString(v) || v->valuestring[0] != '/' || !glob_valid(v->valuestring))
            bad = "needs a glob of absolute paths (\"/srv/**/*.csv\") with every [ closed";
        break;
    }
    if (bad)
        schema_problem(doc, v, ptr, "%s", bad);
}

/* {"principal": PATH}: a path into the principal (auth.h) whose first
 * segment is one of its members. */
static void read_principal_subject(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr,
                                   void *dst)
{
    (void)f;
    static const char *const members[] = {"id", "kind", "labels", "claims", "scopes"};
    struct cond_input *in = dst;
    bool known = false;
    if (cJSON_IsString(v)) {
        size_t k = strcspn(v->valuestring, ".");
        for (size_t i = 0; i < sizeof members / sizeof *members; i++)
            known = known || (strlen(members[i]) == k && strncmp(members[i], v->valuestring, k) == 0);
    }
    if (!known)
        schema_problem(doc, v, ptr, "must be a path into the principal: id, kind, scopes, labels.NAME or claims.NAME");
    else
        in->principal = v;
}

#define OPERATOR(name) {.key = name, .kind = FIELD_CUSTOM, .custom = read_op}
static const struct field cond_fields[] = {
    {.key = "arg", .kind = FIELD_CUSTOM, .custom = read_arg,
     .expect = "must name an argument (a dot path such as \"alias\" or \"target.path\")"},
    {.key = "principal", .kind = FIELD_CUSTOM, .custom = read_principal_subject},
    OPERATOR("eq"), OPERATOR("neq"), OPERATOR("in"), OPERATOR("not_in"), OPERATOR("lt"), OPERATOR("lte"),
    OPERATOR("gt"), OPERATOR("gte"), OPERATOR("contains"), OPERATOR("prefix"), OPERATOR("matches"),
    OPERATOR("exists"), OPERATOR("regex"), OPERATOR("path_under"), OPERATOR("path_matches"),
    {0},
};

/* Reads and compiles one condition: {"arg": "a.b", OP: VALUE}, the path split once. */
static bool load_cond(struct schema_doc *doc, const cJSON *v, const char *where, struct cond *c)
{
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, where, "a condition is {\"arg\": \"a.b\", OP: VALUE}");
        return false;
    }
    int before = doc->problems;
    struct cond_input in = {0};
    schema_read(doc, v, where, cond_fields, &in);
    if (in.nops != 1)
        schema_problem(doc, v, where, in.nops ? "has several operators; use one per condition" : "needs an operator");
    if (!in.arg == !in.principal && doc->problems == before)
        schema_problem(doc, v, where, "a condition names one subject: \"arg\" or \"principal\"");
    if (doc->problems != before)
        return false;
    snprintf(c->where, sizeof c->where, "%s", where);
    c->principal = in.principal != NULL;
    if (c->principal)
        in.arg = in.principal;
    c->op = in.op;
    c->value = c->op == OP_PATH_UNDER ? path_roots(in.value) : cJSON_Duplicate(in.value, 1);
    if (c->op == OP_REGEX) {
        char at[256], why[300];
        snprintf(at, sizeof at, "%s/regex", where);
        if (!(c->re = cond_regex_compile(in.value->valuestring, why, sizeof why))) {
            schema_problem(doc, in.value, at, "%s", why);
            return false;
        }
    }
    size_t n = 1;
    for (const char *s = in.arg->valuestring; *s; s++)
        n += *s == '.';
    c->path = calloc(n, sizeof *c->path);
    if (!c->value || !c->path) {
        schema_problem(doc, v, where, "out of memory");
        return false;
    }
    char at[256];
    snprintf(at, sizeof at, "%s/%s", where, c->principal ? "principal" : "arg");
    const char *seg = in.arg->valuestring;
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(seg, '.');
        size_t len = dot ? (size_t)(dot - seg) : strlen(seg);
        if (len == 0) {
            schema_problem(doc, in.arg, at, "the argument path \"%s\" has an empty segment", in.arg->valuestring);
            return false;
        }
        if (!(c->path[c->npath++] = strndup(seg, len))) {
            schema_problem(doc, v, where, "out of memory");
            return false;
        }
        seg = dot ? dot + 1 : seg + len;
    }
    char subject[120];
    snprintf(subject, sizeof subject, "%s%s", c->principal ? "principal." : "", in.arg->valuestring);
    describe_cond(c, subject);
    return true;
}

/* Compiles v, one condition object or a non-empty array of them, into a
 * new array *out (owned by the caller, as each condition's own memory) of
 * *n conditions: those that load; the others are reported. */
static void load_conds(struct schema_doc *doc, const cJSON *v, const char *ptr, struct cond **out, size_t *n)
{
    bool one = cJSON_IsObject(v);
    size_t count = one ? 1 : (size_t)cJSON_GetArraySize(v);
    if (!(*out = calloc(count, sizeof **out))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    int i = 0;
    for (const cJSON *c = one ? v : v->child; c; c = one ? NULL : c->next, i++) {
        char at[256];
        if (one)
            snprintf(at, sizeof at, "%s", ptr);
        else
            snprintf(at, sizeof at, "%s/%d", ptr, i);
        if (load_cond(doc, c, at, &(*out)[*n]))
            (*n)++;
        else
            cond_free(&(*out)[*n]), memset(&(*out)[*n], 0, sizeof **out);
    }
}

/* A list of conditions that must all hold: one condition object, or an
 * array of them (`when` of rules and of policies bound in the config). */
static void load_when(struct schema_doc *doc, const cJSON *v, const char *ptr, struct cond **out, size_t *n)
{
    if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
        schema_problem(doc, v, ptr, "must be a condition or an array of conditions");
    else if (cJSON_IsArray(v) && !v->child)
        schema_problem(doc, v, ptr, "needs at least one condition");
    else
        load_conds(doc, v, ptr, out, n);
}

static void read_rule_when(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct rule *r = dst;
    load_when(doc, v, ptr, &r->when, &r->nwhen);
}

/* deny_if and require: arrays of conditions of the rule. */
static void read_conds(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct rule *r = dst;
    bool deny = strcmp(f->key, "deny_if") == 0;
    struct cond **out = deny ? &r->deny_if : &r->require;
    size_t *n = deny ? &r->ndeny_if : &r->nrequire;
    if (!cJSON_IsArray(v))
        schema_problem(doc, v, ptr, "must be an array of conditions");
    else if (v->child)
        load_conds(doc, v, ptr, out, n);
}

static const char *const per_names[] = {[PER_DEFAULT] = NULL, [PER_PRINCIPAL] = "principal",
                                        [PER_SESSION] = "session", [PER_SERVER] = "server"};

static const struct field limit_fields[] = {
    {.key = "max", .kind = FIELD_UINT, .offset = offsetof(struct limit, max), .min = 1, .max = 1e6, .required = true},
    {.key = "window", .kind = FIELD_SECONDS, .offset = offsetof(struct limit, window), .min = 0, .max = 86400 * 366,
     .required = true},
    {.key = "per", .kind = FIELD_ENUM, .offset = offsetof(struct limit, per), SCHEMA_NAMES(per_names)},
    {0},
};

static void load_limit(struct schema_doc *doc, const cJSON *v, const char *ptr, struct limit *out)
{
    snprintf(out->where, sizeof out->where, "%s", ptr);
    if (!cJSON_IsObject(v))
        schema_problem(doc, v, ptr, "must be {\"max\": N, \"window\": SECONDS}");
    else
        schema_read(doc, v, ptr, limit_fields, out);
}

static void read_rule_limit(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct rule *r = dst;
    load_limit(doc, v, ptr, &r->limit);
    r->has_limit = true;
}

static void read_all_limit(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct policy *p = dst;
    load_limit(doc, v, ptr, &p->all_limit);
    p->has_all_limit = true;
}

/* "approval": {"hold": 45, "ttl": 900, "grant_ttl": 600, "scope": "call"|"tool"} beside require_approval. */
static const char *const scope_names[] = {[APPROVAL_SCOPE_CALL] = "call", [APPROVAL_SCOPE_TOOL] = "tool"};
static const struct field approval_fields[] = {
    {.key = "hold", .kind = FIELD_SECONDS, .offset = offsetof(struct approval_opts, hold), .min = -1, .max = 3600},
    {.key = "ttl", .kind = FIELD_SECONDS, .offset = offsetof(struct approval_opts, ttl), .min = 0, .max = 86400 * 30},
    {.key = "grant_ttl", .kind = FIELD_SECONDS, .offset = offsetof(struct approval_opts, grant_ttl), .min = 0,
     .max = 86400 * 30},
    {.key = "scope", .kind = FIELD_ENUM, .offset = offsetof(struct approval_opts, scope), SCHEMA_NAMES(scope_names)},
    {0},
};

static const char *const action_names[] = {[ACT_NONE] = NULL, [ACT_ALLOW] = "allow", [ACT_DENY] = "deny",
                                           [ACT_APPROVAL] = "require_approval"};

static const struct field rule_fields[] = {
    {.key = "action", .kind = FIELD_ENUM, .offset = offsetof(struct rule, action), SCHEMA_NAMES(action_names)},
    {.key = "deny_if", .kind = FIELD_CUSTOM, .custom = read_conds},
    {.key = "require", .kind = FIELD_CUSTOM, .custom = read_conds},
    {.key = "rate_limit", .kind = FIELD_CUSTOM, .custom = read_rule_limit},
    {.key = "when", .kind = FIELD_CUSTOM, .custom = read_rule_when},
    {.key = "reason", .kind = FIELD_STRING, .offset = offsetof(struct rule, reason)},
    {.key = "approval", .kind = FIELD_OBJECT, .offset = offsetof(struct rule, approval), .fields = approval_fields},
    {.key = "description", .kind = FIELD_NOTE},
    {0},
};

/* The order of rules and of classes_of entries: exact names sort by name
 * (binary search); globs after them, longest first (the longest that
 * matches wins), globs of one length by name. */
static int pattern_order(const char *x, bool xglob, const char *y, bool yglob)
{
    if (xglob != yglob)
        return xglob ? 1 : -1;
    if (!xglob)
        return strcmp(x, y);
    size_t lx = strlen(x), ly = strlen(y);
    return lx != ly ? (lx > ly ? -1 : 1) : strcmp(x, y);
}

static int rule_order(const void *a, const void *b)
{
    const struct rule *x = a, *y = b;
    return pattern_order(x->pattern, x->glob, y->pattern, y->glob);
}

static int prefix_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

static int glob_entry_order(const void *a, const void *b)
{
    const struct glob_entry *x = a, *y = b;
    int c = prefix_cmp(x->pattern, x->prefix_len, y->pattern, y->prefix_len);
    return c ? c : (x->rule > y->rule) - (x->rule < y->rule);
}

/* Builds globs from the sorted rules; false when out of memory. */
static bool index_globs(struct policy *p)
{
    size_t n = p->nrules - p->nexact;
    if (!n)
        return true;
    if (!(p->globs = calloc(n, sizeof *p->globs)))
        return false;
    for (size_t i = 0; i < n; i++) {
        const char *pat = p->rules[p->nexact + i].pattern;
        p->globs[i] = (struct glob_entry){pat, glob_prefix_len(pat, strlen(pat)), p->nexact + i};
    }
    qsort(p->globs, n, sizeof *p->globs, glob_entry_order);
    return true;
}

/* Writes the JSON pointer of member t of an object keyed by tool name or
 * glob (tools, classes_of) to at, and says whether the key is usable: given
 * once, and a name or a glob with every [ closed. Each problem is reported. */
static bool tool_key_ok(struct schema_doc *doc, const cJSON *t, const char *ptr, char *at, size_t atlen)
{
    schema_pointer(at, atlen, ptr, t->string);
    if (schema_is_repeat(t)) {
        schema_key_problem(doc, t, at, "given twice (a server would read the last, warden refuses both)");
        return false;
    }
    if (!t->string[0] || !glob_valid(t->string)) {
        schema_key_problem(doc, t, at, "a tool name or a glob with every [ closed");
        return false;
    }
    return true;
}

/* The entries of an object keyed by tool name or glob (tools, classes_of):
 * room for one of size bytes per member, zeroed, owned by the caller; NULL,
 * the problem reported, when v is not such an object (each member's value
 * is a `what`) or memory runs out. */
static void *tool_table_new(struct schema_doc *doc, const cJSON *v, const char *ptr, const char *what, size_t size)
{
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object of tool name (or glob): %s", what);
        return NULL;
    }
    size_t n = (size_t)cJSON_GetArraySize(v);
    void *entries = calloc(n ? n : 1, size);
    if (!entries)
        schema_problem(doc, v, ptr, "out of memory");
    return entries;
}

/* Hands each member of the object v (tools, classes_of) whose key is
 * usable (tool_key_ok) to read_entry, with the member's JSON pointer. */
static void each_tool_key(struct schema_doc *doc, const cJSON *v, const char *ptr,
                          void (*read_entry)(struct schema_doc *doc, const cJSON *t, const char *at, struct policy *p),
                          struct policy *p)
{
    for (const cJSON *t = v->child; t; t = t->next) {
        char at[256];
        if (tool_key_ok(doc, t, ptr, at, sizeof at))
            read_entry(doc, t, at, p);
    }
}

/* One member of tools: the rule of a tool name or glob, into the next of p->rules. */
static void read_tool_rule(struct schema_doc *doc, const cJSON *t, const char *at, struct policy *p)
{
    struct rule *r = &p->rules[p->nrules++];
    r->approval = APPROVAL_OPTS_DEFAULT;
    snprintf(r->where, sizeof r->where, "%s", at);
    r->section = "tools";
    r->glob = glob_has_wildcard(t->string);
    if (!(r->pattern = strdup(t->string)))
        schema_problem(doc, t, at, "out of memory");
    else if (!cJSON_IsObject(t))
        schema_problem(doc, t, at, "a tool rule is an object (use {} to allow under \"default\": \"deny\")");
    else
        schema_read(doc, t, at, rule_fields, r);
}

/* tools: {NAME or GLOB: rule}, sorted once for the lookups of every call. */
static void read_tools(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct policy *p = dst;
    if (!(p->rules = tool_table_new(doc, v, ptr, "rule", sizeof *p->rules)))
        return;
    each_tool_key(doc, v, ptr, read_tool_rule, p);
    if (doc->problems)
        return;   /* a rule without a pattern must not be sorted */
    qsort(p->rules, p->nrules, sizeof *p->rules, rule_order);
    while (p->nexact < p->nrules && !p->rules[p->nexact].glob)
        p->nexact++;
    if (!index_globs(p))
        schema_problem(doc, v, ptr, "out of memory");
}

static void read_hide(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct policy *p = dst;
    if (!cJSON_IsArray(v)) {
        schema_problem(doc, v, ptr, "must be an array of tool names or globs");
        return;
    }
    if (!(p->hide = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *p->hide))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    int i = 0;
    for (const cJSON *h = v->child; h; h = h->next, i++) {
        char at[256];
        snprintf(at, sizeof at, "%s/%d", ptr, i);
        if (!cJSON_IsString(h) || !h->valuestring[0] || !glob_valid(h->valuestring))
            schema_problem(doc, h, at, "must be a tool name or a glob with every [ closed");
        else if (!(p->hide[p->nhide] = strdup(h->valuestring)))
            schema_problem(doc, h, at, "out of memory");
        else
            p->nhide++;
    }
}

static const struct field all_tools_fields[] = {
    {.key = "rate_limit", .kind = FIELD_CUSTOM, .custom = read_all_limit},
    {.key = "description", .kind = FIELD_ANY},
    {0},
};

static void read_classes(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst);
static void read_classes_of(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst);

static const char *const versions[] = {"1"};
static const char *const defaults[] = {"allow", "deny"};
static const char *const modes[] = {"enforce", "shadow"};

static const struct field policy_fields[] = {
    {.key = "version", .kind = FIELD_NOTE, SCHEMA_NAMES(versions), .required = true},
    {.key = "description", .kind = FIELD_ANY},
    {.key = "default", .kind = FIELD_ENUM, .offset = offsetof(struct policy, default_deny), SCHEMA_NAMES(defaults)},
    {.key = "hide", .kind = FIELD_CUSTOM, .custom = read_hide},
    {.key = "tools", .kind = FIELD_CUSTOM, .custom = read_tools},
    {.key = "all_tools", .kind = FIELD_OBJECT, .fields = all_tools_fields,
     .expect = "must be {\"rate_limit\": {...}}"},
    {.key = "classes", .kind = FIELD_CUSTOM, .custom = read_classes},
    {.key = "classes_of", .kind = FIELD_CUSTOM, .custom = read_classes_of},
    {.key = "mode", .kind = FIELD_ENUM, .offset = offsetof(struct policy, mode), SCHEMA_NAMES(modes)},
    {.key = "list_denied", .kind = FIELD_BOOL, .offset = offsetof(struct policy, list_denied)},
    {0},
};

/* Loads one JSON policy file into *p; problems go to doc. */
static void load_policy(struct schema_doc *doc, struct policy *p)
{
    const cJSON *root = schema_parse_file(doc);
    if (root && !cJSON_IsObject(root))
        schema_problem(doc, root, "", "a policy is a JSON object");
    else if (root)
        schema_read(doc, root, "", policy_fields, p);
}

static bool is_lua(const char *file)
{
    size_t len = strlen(file);
    return len > 4 && strcmp(file + len - 4, ".lua") == 0;
}

/* ---- lint: rules that can never apply (warden check) ---- */

/* The member of object o named key, or NULL. */
static const cJSON *member(const cJSON *o, const char *key)
{
    return cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
}

/* An exact rule replaces, for its tool, every glob that matches the name;
 * a hidden tool's rule never runs. */
static void lint_shadowed(struct schema_doc *doc, const struct policy *p, const cJSON *tools)
{
    for (size_t i = 0; i < p->nexact; i++) {
        const struct rule *e = &p->rules[i];
        const cJSON *node = member(tools, e->pattern);
        for (size_t k = p->nexact; k < p->nrules; k++)
            if (glob_match(p->rules[k].pattern, e->pattern, strlen(e->pattern)))
                schema_warning(doc, node, e->where,
                               "replaces the glob rule \"%s\" for the tool %s: that rule's action, conditions and "
                               "limits never apply to it (repeat them here if they should)",
                               p->rules[k].pattern, e->pattern);
        if (hidden_by(p, e->pattern))
            schema_warning(doc, node, e->where, "the tool %s is hidden by /hide, so this rule never runs", e->pattern);
    }
}

/* The conditions of a rule on arguments a tool's inputSchema does not have. */
static void lint_args(struct schema_doc *doc, const struct rule *r, const cJSON *rule_node, const char *tool,
                      const cJSON *schema)
{
    const cJSON *props = member(schema, "properties");
    if (!cJSON_IsObject(props))
        return;     /* a schema without properties says nothing of names */
    for (int list = 0; list < 2; list++) {
        const struct cond *conds = list ? r->require : r->deny_if;
        size_t n = list ? r->nrequire : r->ndeny_if;
        const cJSON *arr = member(rule_node, list ? "require" : "deny_if");
        for (size_t i = 0; i < n; i++) {
            if (member(props, conds[i].path[0]))
                continue;
            const cJSON *node = cJSON_IsArray(arr) ? cJSON_GetArrayItem(arr, (int)i) : NULL;
            schema_warning(doc, node ? member(node, "arg") : NULL, conds[i].where,
                           "the tool %s has no argument \"%s\" in its inputSchema: %s", tool, conds[i].path[0],
                           list ? "this requirement always fails" : "this condition never sees a value");
        }
    }
}

/* Rules against the tools a server lists ({name, inputSchema} objects). */
static void lint_listed(struct schema_doc *doc, const struct policy *p, const cJSON *tools_node, const cJSON *listed)
{
    for (size_t i = 0; i < p->nrules; i++) {
        const struct rule *r = &p->rules[i];
        const cJSON *node = member(tools_node, r->pattern);
        bool any = false, args_told = false;
        for (const cJSON *t = listed->child; t; t = t->next) {
            const cJSON *name = member(t, "name");
            if (!cJSON_IsString(name) || !glob_match(r->pattern, name->valuestring, strlen(name->valuestring)))
                continue;
            any = true;
            /* the conditions matter only where this rule is the one that applies */
            if (!args_told && find_rule(p, name->valuestring, NULL, NULL) == r) {
                int before = doc->warnings;
                lint_args(doc, r, node, name->valuestring, member(t, "inputSchema"));
                args_told = doc->warnings != before;
            }
        }
        if (!any)
            schema_warning(doc, node, r->where, "%s no tool the server lists", r->glob ? "matches" : "names");
    }
}

static void lint_policy(struct schema_doc *doc, const struct policy *p, const cJSON *listed)
{
    const cJSON *tools_node = member(doc->root, "tools");
    lint_shadowed(doc, p, tools_node);
    if (cJSON_IsArray(listed))
        lint_listed(doc, p, tools_node, listed);
}

/* ---- the set ---- */

/* Loads one Lua file; a file that returns mode = "shadow", or one loaded as
 * shadow, gets warden.shared of its own, so that a shadow policy's counters
 * never spend the enforced ones'. */
static struct lua_policy *load_lua(struct policy *p, struct shared_store *shared, const char *server, char *err,
                                   size_t room)
{
    char shadow_ns[300];
    snprintf(shadow_ns, sizeof shadow_ns, "%s (shadow)", server ? server : "");
    struct lua_policy *lp = lua_policy_load(p->file, NULL, shared, p->shadow ? shadow_ns : server, err, room);
    if (lp && !p->shadow && lua_policy_is_shadow(lp)) {
        lua_policy_free(lp);
        p->shadow = true;
        lp = lua_policy_load(p->file, NULL, shared, shadow_ns, err, room);
    }
    return lp;
}

struct policy_set *policy_set_load_opts(const char *const *files, size_t n, struct shared_store *shared,
                                        const char *server, struct policy_load_opts *opts, char *errbuf, size_t errlen)
{
    size_t nshadow = opts ? opts->nshadow : 0, total = n + nshadow;
    struct policy_set *ps = calloc(1, sizeof *ps);
    struct policy *policies = calloc(total ? total : 1, sizeof *policies);
    if (!ps || !policies) {
        free(ps);
        free(policies);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    ps->policies = policies;
    ps->n = total;
    errbuf[0] = '\0';
    if (opts && opts->warnings && opts->warnlen)
        opts->warnings[0] = '\0';
    int problems = 0;
    size_t used = 0, wused = 0;
    for (size_t i = 0; i < total; i++) {
        const char *file = i < n ? files[i] : opts->shadow[i - n];
        char *err = errbuf + used;
        size_t room = errlen - used;
        policies[i].shadow = i >= n;
        if (!(policies[i].file = strdup(file))) {
            snprintf(err, room, "%s: out of memory\n", file);
            problems++;
        } else if (is_lua(file)) {
            policies[i].lua = load_lua(&policies[i], shared, server, err, room);
            if (!policies[i].lua) {
                problems++;
                size_t len = strlen(err);
                if (len + 1 < room)
                    err[len++] = '\n', err[len] = '\0';
            } else {
                /* Lua policies see call.tool_meta, learnt from tools/list answers: read them all. */
                ps->lua_lists = true;
            }
        } else {
            struct schema_doc doc;
            schema_doc_init(&doc, file, err, room);
            if (opts && opts->warnings && wused + 1 < opts->warnlen) {
                doc.warn = opts->warnings + wused;
                doc.warnlen = opts->warnlen - wused;
            }
            load_policy(&doc, &policies[i]);
            problems += doc.problems;
            if (policies[i].mode == 1)
                policies[i].shadow = true;
            if (opts && !doc.problems && doc.warn)
                lint_policy(&doc, &policies[i], opts->tools);
            if (opts) {
                opts->nwarnings += doc.warnings;
                wused += doc.warnused;
            }
            schema_doc_free(&doc);
        }
        used += strlen(err);
        if (policies[i].shadow)
            ps->has_shadow = true;
        else if (policies[i].nhide)
            ps->hides = true;
        if (!policies[i].shadow && !policies[i].lua && policies[i].default_deny && !policies[i].list_denied)
            ps->hides_denied = true;
    }
    if (problems) {
        if (used && errbuf[used - 1] == '\n')
            errbuf[used - 1] = '\0';
        policy_set_free(ps);
        return NULL;
    }
    return ps;
}

struct policy_set *policy_set_load(const char *const *files, size_t n, struct shared_store *shared,
                                   const char *server, char *errbuf, size_t errlen)
{
    return policy_set_load_opts(files, n, shared, server, NULL, errbuf, errlen);
}

bool policy_set_has_shadow(const struct policy_set *ps)
{
    return ps && ps->has_shadow;
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

bool policy_when_check(struct schema_doc *doc, const cJSON *v, const char *ptr)
{
    struct cond *conds = NULL;
    size_t n = 0;
    int before = doc->problems;
    load_when(doc, v, ptr, &conds, &n);
    for (size_t i = 0; i < n; i++)
        cond_free(&conds[i]);
    free(conds);
    return doc->problems == before;
}

int policy_set_bind(struct policy_set *ps, size_t i, const char *when, char *err, size_t errlen)
{
    struct policy *p = &ps->policies[i];
    struct schema_doc doc;
    char where[300];
    snprintf(where, sizeof where, "%s (bound by the config)", p->file);
    schema_doc_init(&doc, where, err, errlen);
    const cJSON *v = schema_parse_text(&doc, when, strlen(when));
    if (v)
        load_when(&doc, v, "/when", &p->when, &p->nwhen);
    int problems = doc.problems;
    schema_doc_free(&doc);
    return problems || !v ? -1 : 0;
}

void policy_set_count_errors(struct policy_set *ps, struct metrics *m)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->policies[i].lua)
            lua_policy_count_errors(ps->policies[i].lua, m);
}

bool policy_set_has_lua(const struct policy_set *ps)
{
    return ps && ps->lua_lists;
}

bool policy_set_filters_lists(const struct policy_set *ps)
{
    return ps && (ps->hides || ps->hides_denied || ps->lua_lists);
}

/* ---- deciding ---- */

static int cond_holds(const struct cond *c, struct rpc_msg *call, const struct call_ctx *ctx);

/* True when every condition holds (an empty list holds). */
static bool all_hold(const struct cond *conds, size_t n, struct rpc_msg *call, const struct call_ctx *ctx)
{
    for (size_t i = 0; i < n; i++)
        if (cond_holds(&conds[i], call, ctx) != 1)   /* a regex past its limits does not hold */
            return false;
    return true;
}

/* A policy bound to principals in the config applies to their calls only. */
static bool policy_applies(const struct policy *p, const struct call_ctx *ctx)
{
    return all_hold(p->when, p->nwhen, NULL, ctx);
}

static bool hidden_by(const struct policy *p, const char *tool)
{
    size_t len = strlen(tool);
    for (size_t i = 0; i < p->nhide; i++)
        if (glob_match(p->hide[i], tool, len))
            return true;
    return false;
}

/* Hidden by an enforced policy that applies to this caller (shadow ones hide nothing). */
static bool is_hidden(const struct policy_set *ps, const char *tool, const struct call_ctx *ctx)
{
    for (size_t i = 0; i < ps->n; i++)
        if (!ps->policies[i].shadow && hidden_by(&ps->policies[i], tool) && policy_applies(&ps->policies[i], ctx))
            return true;
    return false;
}

/* The rule for a tool: its exact name, else the longest glob; a rule whose
 * `when` does not hold for this call is passed over as if absent. */
static const struct rule *find_rule(const struct policy *p, const char *tool, struct rpc_msg *call,
                                    const struct call_ctx *ctx)
{
    size_t lo = 0, hi = p->nexact;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(tool, p->rules[mid].pattern);
        if (c == 0) {
            if (all_hold(p->rules[mid].when, p->rules[mid].nwhen, call, ctx))
                return &p->rules[mid];
            break;
        }
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    /* A walk down the sorted globs as down a trie: [lo, hi) holds the globs
     * whose prefix begins with tool[0..l), those whose prefix is exactly that
     * first (lowest rule first), then the longer ones by their byte l. */
    size_t len = strlen(tool), best = p->nrules;
    lo = 0, hi = p->nrules - p->nexact;
    for (size_t l = 0; lo < hi; l++) {
        size_t a = lo, b = hi;
        if (p->globs[lo].prefix_len > l)
            b = lo;   /* none of length l: most steps of a long shared prefix */
        while (a < b) {   /* the end of the prefixes of length l */
            size_t mid = (a + b) / 2;
            if (p->globs[mid].prefix_len == l)
                a = mid + 1;
            else
                b = mid;
        }
        for (size_t i = lo; i < a && p->globs[i].rule < best; i++)
            if (glob_match(p->globs[i].pattern, tool, len) &&
                all_hold(p->rules[p->globs[i].rule].when, p->rules[p->globs[i].rule].nwhen, call, ctx)) {
                best = p->globs[i].rule;
                break;
            }
        if (l == len)
            break;
        unsigned char c = (unsigned char)tool[l];
        lo = a;
        if (lo < hi && (unsigned char)p->globs[lo].pattern[l] == c && (unsigned char)p->globs[hi - 1].pattern[l] == c)
            continue;   /* all of them go on with c */
        for (b = hi; lo < b;) {   /* the first whose byte l is not below c */
            size_t mid = (lo + b) / 2;
            if ((unsigned char)p->globs[mid].pattern[l] < c)
                lo = mid + 1;
            else
                b = mid;
        }
        for (a = lo; a < hi;) {   /* the first whose byte l is above c */
            size_t mid = (a + hi) / 2;
            if ((unsigned char)p->globs[mid].pattern[l] <= c)
                a = mid + 1;
            else
                hi = mid;
        }
    }
    return best < p->nrules ? &p->rules[best] : NULL;
}

/* ---- risk classes: "classes" rules and "classes_of" overrides ---- */

static void policy_free_classes(struct policy *p)
{
    for (int c = 0; c < RISK_NCLASSES; c++) {
        if (p->class_rules[c])
            rule_free(p->class_rules[c]);
        free(p->class_rules[c]);
    }
    for (size_t i = 0; i < p->noverrides; i++)
        free(p->overrides[i].pattern);
    free(p->overrides);
}

/* classes: {"read"|"write"|"destructive"|"unknown": rule}, each rule shaped as a tool rule. */
static void read_classes(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct policy *p = dst;
    if (!cJSON_IsObject(v)) {
        schema_problem(doc, v, ptr, "must be an object of class (read, write, destructive, unknown): rule");
        return;
    }
    for (const cJSON *t = v->child; t; t = t->next) {
        char at[256];
        schema_pointer(at, sizeof at, ptr, t->string);
        enum risk_class c = risk_class_parse(t->string);
        if (schema_is_repeat(t)) {
            schema_key_problem(doc, t, at, "given twice (a server would read the last, warden refuses both)");
            continue;
        }
        if (c == RISK_NONE) {
            schema_key_problem(doc, t, at, "a class is read, write, destructive or unknown");
            continue;
        }
        if (!cJSON_IsObject(t)) {
            schema_problem(doc, t, at, "a class rule is an object, shaped as a tool rule");
            continue;
        }
        struct rule *r = calloc(1, sizeof *r);
        if (!r || !(r->pattern = strdup(t->string))) {
            free(r);
            schema_problem(doc, t, at, "out of memory");
            continue;
        }
        snprintf(r->where, sizeof r->where, "%s", at);
        r->section = "classes";
        p->class_rules[c] = r;
        schema_read(doc, t, at, rule_fields, r);
    }
}

static int override_order(const void *a, const void *b)
{
    const struct class_override *x = a, *y = b;
    return pattern_order(x->pattern, x->glob, y->pattern, y->glob);
}

/* One member of classes_of: the class of a tool name or glob, into the next of p->overrides. */
static void read_class_override(struct schema_doc *doc, const cJSON *t, const char *at, struct policy *p)
{
    enum risk_class c = cJSON_IsString(t) ? risk_class_parse(t->valuestring) : RISK_NONE;
    if (c == RISK_NONE) {
        schema_problem(doc, t, at, "a class is \"read\", \"write\", \"destructive\" or \"unknown\"");
        return;
    }
    struct class_override *o = &p->overrides[p->noverrides];
    if (!(o->pattern = strdup(t->string))) {
        schema_problem(doc, t, at, "out of memory");
        return;
    }
    o->glob = glob_has_wildcard(t->string);
    o->cls = c;
    p->noverrides++;
}

/* classes_of: {NAME or GLOB: "read"|"write"|"destructive"|"unknown"}. */
static void read_classes_of(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct policy *p = dst;
    if (!(p->overrides = tool_table_new(doc, v, ptr, "class", sizeof *p->overrides)))
        return;
    each_tool_key(doc, v, ptr, read_class_override, p);
    qsort(p->overrides, p->noverrides, sizeof *p->overrides, override_order);
    while (p->nexact_overrides < p->noverrides && !p->overrides[p->nexact_overrides].glob)
        p->nexact_overrides++;
}

bool policy_set_uses_classes(const struct policy_set *ps)
{
    for (size_t i = 0; ps && i < ps->n; i++) {
        const struct policy *p = &ps->policies[i];
        if (p->lua)
            return true;
        for (int c = 0; c < RISK_NCLASSES; c++)
            if (p->class_rules[c])
                return true;
    }
    return false;
}

/* The class classes_of gives the tool in p: its exact name's (found by
 * halves: a call is classed on every call), else the longest glob's. */
static enum risk_class override_of(const struct policy *p, const char *tool, size_t len)
{
    size_t lo = 0, hi = p->nexact_overrides;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(tool, p->overrides[mid].pattern);
        if (c == 0)
            return p->overrides[mid].cls;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    for (size_t k = p->nexact_overrides; k < p->noverrides; k++)
        if (glob_match(p->overrides[k].pattern, tool, len))
            return p->overrides[k].cls;
    return RISK_NONE;
}

enum risk_class policy_tool_class(const struct policy_set *ps, const char *tool, enum risk_class observed)
{
    size_t len = strlen(tool);
    for (size_t i = 0; ps && i < ps->n; i++) {
        /* shadow policies are on trial: they do not change what a tool is */
        enum risk_class c = ps->policies[i].shadow ? RISK_NONE : override_of(&ps->policies[i], tool, len);
        if (c != RISK_NONE)
            return c;
    }
    return observed != RISK_NONE ? observed : riskclass_of_name(tool, len, NULL, 0);
}

/* The rule for a tool of class cls: its name's, else a glob's, else its
 * class's (an unknown tool without an "unknown" rule takes the destructive
 * one), else none. */
static const struct rule *find_rule_classed(const struct policy *p, const char *tool, enum risk_class cls,
                                            struct rpc_msg *call, const struct call_ctx *ctx)
{
    const struct rule *r = find_rule(p, tool, call, ctx);
    if (r || cls == RISK_NONE)
        return r;
    if (cls == RISK_UNKNOWN && !p->class_rules[RISK_UNKNOWN])
        cls = RISK_DESTRUCTIVE;
    r = p->class_rules[cls];
    /* a class rule's `when` is read as a tool rule's */
    return r && all_hold(r->when, r->nwhen, call, ctx) ? r : NULL;
}

/* The member a case-insensitive server binds to key, the last match
 * winning: Go's encoding/json folds keys under Unicode simple case folding
 * ("Alias" and "alia\u017F" are alias), .NET and Java case-insensitive
 * readers also take U+0131 and U+0130 for i (utf8_ascii_alike). rpc_parse
 * refuses objects with two keys that fold together, so with Go's folding
 * this is also the one member every other reader sees. */
static const cJSON *member_folded(const cJSON *obj, const char *key)
{
    const cJSON *found = NULL;
    size_t klen = strlen(key);
    for (const cJSON *m = obj->child; m; m = m->next) {
        size_t mlen = m->string ? strlen(m->string) : 0;
        if (m->string && (utf8_fold_cmp(m->string, mlen, key, klen) == 0 || utf8_ascii_alike(m->string, mlen, key)))
            found = m;
    }
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

/* What a condition reads: the principal's document, or the call's
 * arguments (their tree built on the first condition that reads them);
 * -1 when that tree cannot be built (out of memory). */
static int subject_of(const struct cond *c, struct rpc_msg *call, const struct call_ctx *ctx, const cJSON **subject)
{
    *subject = NULL;
    if (c->principal) {
        *subject = ctx && ctx->principal ? ctx->principal->doc : NULL;
        return 0;
    }
    return call ? rpc_msg_args(call, subject) : 0;
}

/* Whether a condition holds: 1, 0, or -1 when it could not be told (a
 * regex past its limits, the arguments' tree out of memory), which every
 * caller treats as a refusal. A missing or wrongly typed argument satisfies
 * no positive operator (eq, in, lt..., contains, prefix, matches, regex,
 * path_*) and satisfies the negations neq and not_in: it is not equal to
 * the value. */
static int cond_holds(const struct cond *c, struct rpc_msg *call, const struct call_ctx *ctx)
{
    const cJSON *subject;
    if (subject_of(c, call, ctx, &subject) < 0)
        return -1;
    const cJSON *v = lookup(subject, c);
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
    case OP_REGEX: return cJSON_IsString(v) ? cond_regex_match(c->re, v->valuestring) : 0;
    case OP_PATH_UNDER:
    case OP_PATH_MATCHES: return path_cond_holds(c, v);
    }
    return 0;
}

/* ---- the trace of a decision (warden explain, warden test -v) ---- */

static void trace_add(struct policy_trace *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace_add(struct policy_trace *t, const char *fmt, ...)
{
    if (!t || !t->buf || t->used + 1 >= t->cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    t->used += utf8_vsnprintf(t->buf + t->used, t->cap - t->used - 1, fmt, ap);
    va_end(ap);
    t->buf[t->used++] = '\n';
    t->buf[t->used] = '\0';
}

/* The argument a condition looked at, for the trace: `alias is "champion"`. */
static void describe_seen(const struct cond *c, struct rpc_msg *call, const struct call_ctx *ctx, char *out,
                          size_t len)
{
    const cJSON *subject;
    if (subject_of(c, call, ctx, &subject) < 0) {
        snprintf(out, len, "out of memory");
        return;
    }
    const cJSON *v = lookup(subject, c);
    const char *what = c->principal ? "the principal's value" : "the argument";
    char *text = v ? cJSON_PrintUnformatted(v) : NULL;
    if (!v)
        snprintf(out, len, "%s is missing", what);
    else
        utf8_snprintf(out, len, "%s is %.120s%s", what, text ? text : "?", text && strlen(text) > 120 ? "..." : "");
    free(text);
}

static void refuse(struct decision *out, enum verdict v, const struct policy *p, const char *where,
                   const char *custom, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void refuse(struct decision *out, enum verdict v, const struct policy *p, const char *where,
                   const char *custom, const char *fmt, ...)
{
    out->verdict = v;
    /* Reasons carry tool names and argument text: cut at a character
     * boundary so the agent always gets valid UTF-8. */
    utf8_snprintf(out->rule, sizeof out->rule, "%s:%s", p->file, where);
    char auto_text[400];
    va_list ap;
    va_start(ap, fmt);
    utf8_vsnprintf(auto_text, sizeof auto_text, fmt, ap);
    va_end(ap);
    if (custom)
        utf8_snprintf(out->reason, sizeof out->reason, "%s (%s)", custom, auto_text);
    else
        utf8_snprintf(out->reason, sizeof out->reason, "%s", auto_text);
}

/* Tells what condition i of rule r's deny_if (require when `require`) did,
 * h being what cond_holds said: traced, and when it refuses the call (a
 * deny_if condition that holds, a requirement that does not, either that
 * cannot be told) worded into out; true then. */
static bool cond_told(const struct policy *p, const struct rule *r, size_t i, bool require, int h,
                      struct rpc_msg *call, const struct call_ctx *ctx, struct decision *out, struct policy_trace *t)
{
    const struct cond *c = require ? &r->require[i] : &r->deny_if[i];
    char seen[200];
    if (t)
        describe_seen(c, call, ctx, seen, sizeof seen);
    if (h == (require ? 1 : 0)) {
        trace_add(t, "%s %s: %s: %s (%s)", p->file, c->where, c->text, require ? "holds" : "does not hold", seen);
        return false;
    }
    refuse(out, VERDICT_DENY, p, c->where, r->reason, "denied by policy %s: %s.%s[%zu]%s: %s%s", p->file, r->pattern,
           require ? "require" : "deny_if", i, require ? " does not hold" : "", c->text,
           h < 0 ? " (the regex could not finish within its limits)" : "");
    trace_add(t, "%s %s: %s: %s (%s): deny", p->file, c->where, c->text,
              h < 0 ? "cannot tell, the regex hit its limits" : require ? "does not hold" : "holds", seen);
    return true;
}

/* Whether the deny_if conditions of rule r (require when `require`) refuse
 * the call. The loop every call with conditions runs, inlined: a condition
 * that lets the call through, untraced, costs nothing more than its test. */
static inline __attribute__((always_inline)) bool conds_refuse(const struct policy *p, const struct rule *r,
                                                              bool require, struct rpc_msg *call,
                                                              const struct call_ctx *ctx, struct decision *out,
                                                              struct policy_trace *t)
{
    const struct cond *conds = require ? r->require : r->deny_if;
    size_t n = require ? r->nrequire : r->ndeny_if;
    for (size_t i = 0; i < n; i++) {
        int h = cond_holds(&conds[i], call, ctx);
        if ((t || h != (require ? 1 : 0)) && cond_told(p, r, i, require, h, call, ctx, out, t))
            return true;
    }
    return false;
}

/* One policy's verdict on a call, before rate limits: a refusal or nothing. */
static bool policy_refuses(const struct policy *p, const char *tool, enum risk_class cls, struct rpc_msg *call,
                           const struct call_ctx *ctx, struct decision *out, struct policy_trace *t)
{
    const struct rule *r = find_rule_classed(p, tool, cls, call, ctx);
    if (!r) {
        if (p->default_deny) {
            refuse(out, VERDICT_DENY, p, "/default", NULL,
                   "denied by policy %s: tool %s is not allowed (default: deny)", p->file, tool);
            trace_add(t, "%s /default: no rule names %s nor its class (%s), and the default is deny: deny", p->file,
                      tool, risk_class_name(cls));
            return true;
        }
        trace_add(t, "%s /default: no rule names %s nor its class (%s), and the default is allow: no refusal",
                  p->file, tool, risk_class_name(cls));
        return false;
    }
    if (strcmp(r->section, "classes") == 0)
        trace_add(t, "%s %s: applies to %s (its class is %s; no rule names the tool)", p->file, r->where, tool,
                  risk_class_name(cls));
    else
        trace_add(t, "%s %s: applies to %s%s", p->file, r->where, tool,
                  r->glob ? " (a glob; no exact rule names the tool)" : " (exact name)");
    if (r->action == ACT_DENY) {
        refuse(out, VERDICT_DENY, p, r->where, r->reason, "denied by policy %s: %s.%s", p->file, r->section,
               r->pattern);
        trace_add(t, "%s %s/action: deny", p->file, r->where);
        return true;
    }
    if (r->action == ACT_APPROVAL && ctx->approval_id) {
        trace_add(t, "%s %s/action: require_approval: a person approved this call (%s)", p->file, r->where,
                  ctx->approval_id);
    } else if (r->action == ACT_APPROVAL) {
        refuse(out, VERDICT_APPROVAL, p, r->where, r->reason, "tool %s needs a person's approval (policy %s: %s.%s)",
               tool, p->file, r->section, r->pattern);
        out->approval = r->approval;
        trace_add(t, "%s %s/action: require_approval", p->file, r->where);
        return true;
    }
    if (conds_refuse(p, r, false, call, ctx, out, t) || conds_refuse(p, r, true, call, ctx, out, t))
        return true;
    trace_add(t, "%s %s: no refusal", p->file, r->where);
    return false;
}

/* The key of one rate limit: the limit's identity, then who it counts: a
 * principal (kind and id: a key "alice" is not a token's "alice"), a
 * session, or everyone on the server. Without a principal, per principal
 * counts the session. Shadow policies count under keys of their own: never
 * the real budget. */
static size_t limit_key(char *buf, size_t cap, const char *server, const struct policy *p, const struct limit *l,
                        const struct call_ctx *ctx, const char *tool)
{
    const struct principal *who = ctx->principal;
    const char *mode = p->shadow ? "shadow\x1f" : "";
    int per = l->per;
    if (per == PER_DEFAULT)
        per = who && who->kind != PRINCIPAL_ANONYMOUS ? PER_PRINCIPAL : PER_SESSION;
    if (per == PER_PRINCIPAL && !who)
        per = PER_SESSION;
    int n;
    if (per == PER_PRINCIPAL)
        n = snprintf(buf, cap, "%s%s\x1f%s\x1f%s\x1fp:%s:%s\x1f%s", mode, server, p->file, l->where,
                     principal_kind_name(who->kind), who->id, tool ? tool : "");
    else if (per == PER_SERVER)
        n = snprintf(buf, cap, "%s%s\x1f%s\x1f%s\x1f*\x1f%s", mode, server, p->file, l->where, tool ? tool : "");
    else
        n = snprintf(buf, cap, "%s%s\x1f%s\x1f%s\x1fs:%.*s\x1f%s", mode, server, p->file, l->where,
                     (int)ctx->session_len, ctx->session, tool ? tool : "");
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

/* Request headers a Lua policy may see; never Authorization, cookies or
 * anything else that carries credentials. */
static const char *const visible_headers[] = {"user-agent", "mcp-protocol-version", "x-request-id", "traceparent",
                                              "x-forwarded-for", "x-agent-name"};
/* The same, as the reader classes them: looked up without comparing names. */
static const enum http_field visible_fields[] = {HF_USER_AGENT, HF_MCP_PROTOCOL_VERSION, HF_X_REQUEST_ID,
                                                 HF_TRACEPARENT, HF_X_FORWARDED_FOR, HF_X_AGENT_NAME};

/* Fills out[] with the allow-listed headers the request has; returns how many. */
static size_t visible_request_headers(const struct http_head *head, struct lua_header *out)
{
    size_t n = 0;
    for (size_t i = 0; head && i < sizeof visible_headers / sizeof *visible_headers; i++) {
        size_t len;
        const char *value = http_header_field(head, visible_fields[i], &len);
        if (value)
            out[n++] = (struct lua_header){visible_headers[i], value, len};
    }
    return n;
}

static const char *const verdict_names[] = {
    [VERDICT_NONE] = "allow", [VERDICT_ALLOW] = "allow", [VERDICT_DENY] = "deny", [VERDICT_HIDDEN] = "hide",
    [VERDICT_RATE_LIMITED] = "rate_limit", [VERDICT_APPROVAL] = "require_approval", [VERDICT_ERROR] = "error",
};

const char *policy_verdict_name(enum verdict v)
{
    return (size_t)v < sizeof verdict_names / sizeof *verdict_names ? verdict_names[v] : "error";
}

/* Hidden by a policy of this mode: the first hide entry that matches. */
static bool hidden_in_mode(const struct policy_set *ps, bool shadow, const char *tool, const struct call_ctx *ctx,
                           struct decision *out, struct policy_trace *t)
{
    size_t len = strlen(tool);
    for (size_t i = 0; i < ps->n; i++) {
        const struct policy *p = &ps->policies[i];
        if (p->shadow != shadow || !policy_applies(p, ctx))
            continue;
        for (size_t k = 0; k < p->nhide; k++) {
            if (glob_match(p->hide[k], tool, len)) {
                out->verdict = VERDICT_HIDDEN;
                utf8_snprintf(out->reason, sizeof out->reason, "Unknown tool: %s", tool);
                if (shadow)
                    utf8_snprintf(out->rule, sizeof out->rule, "%s:/hide/%zu", p->file, k);
                else
                    snprintf(out->rule, sizeof out->rule, "hide");
                trace_add(t, "%s /hide/%zu: \"%s\" hides %s: hide", p->file, k, p->hide[k], tool);
                return true;
            }
        }
        if (p->nhide)
            trace_add(t, "%s /hide: does not hide %s", p->file, tool);
    }
    return false;
}

/* A call refused because the table of rate windows cannot hold its keys. */
static void rate_table_full(struct decision *out)
{
    out->verdict = VERDICT_RATE_LIMITED;
    out->retry_after = 1;
    snprintf(out->reason, sizeof out->reason,
             "rate limited: warden's rate-limit table cannot hold this limit; retry in 1 s");
    snprintf(out->rule, sizeof out->rule, "rate_store");
}

/* A call refused by limit l of policy p, whose window has room in `retry` seconds. */
static void rate_refusal(struct decision *out, const struct policy *p, const struct limit *l, double retry)
{
    out->retry_after = retry > 0 ? retry : 0;
    refuse(out, VERDICT_RATE_LIMITED, p, l->where, NULL,
           "rate limited by policy %s (%s: at most %u calls in %g s%s); retry in %.1f s", p->file, l->where, l->max,
           l->window, strncmp(l->where, "/all_tools", 10) == 0 ? " across tools" : "", out->retry_after);
}

void policy_rate_refusal(const struct rate_pending *pd, size_t refused, double retry, struct decision *out)
{
    if (refused >= pd->n)
        rate_table_full(out);
    else
        rate_refusal(out, pd->owners[refused], pd->limits[refused], retry);
}

/* Decides a call with the policies of one mode (enforced, or shadow):
 * hidden first, then the JSON rules, then Lua, rate limits last. */
static void decide_mode(struct policy_set *ps, bool shadow, struct rate_store *rs, struct rpc_msg *msg,
                        const struct call_ctx *ctx, struct decision *out, struct policy_trace *t,
                        struct rate_pending *defer)
{
    memset(out, 0, sizeof *out);
    out->verdict = VERDICT_ALLOW;
    const char *tool = msg->tool;
    enum risk_class cls = out->tool_class = policy_tool_class(ps, tool, ctx->tool_class);
    if (hidden_in_mode(ps, shadow, tool, ctx, out, t))
        return;
    for (size_t i = 0; i < ps->n; i++)
        if (!ps->policies[i].lua && ps->policies[i].shadow == shadow && policy_applies(&ps->policies[i], ctx) &&
            policy_refuses(&ps->policies[i], tool, cls, msg, ctx, out, t))
            return;
    /* Lua after the C fast path: what no plain list can say. */
    struct lua_header headers[sizeof visible_headers / sizeof *visible_headers];
    struct lua_call_extra extra = {.headers = headers, .tool_meta = ctx->tool_meta, .tool_class = risk_class_name(cls),
                                   .principal = ctx->principal ? ctx->principal->doc : NULL};
    if (ps->lua_lists)
        extra.nheaders = visible_request_headers(ctx->head, headers);
    for (size_t i = 0; i < ps->n; i++) {
        if (!ps->policies[i].lua || ps->policies[i].shadow != shadow || !policy_applies(&ps->policies[i], ctx))
            continue;
        struct decision d;
        lua_policy_on_call(ps->policies[i].lua, msg, ctx, &extra, &d);
        trace_add(t, "%s: on_call: %s%s%s", d.rule[0] ? d.rule : ps->policies[i].file,
                  d.verdict == VERDICT_NONE ? "no opinion" : policy_verdict_name(d.verdict), d.reason[0] ? ": " : "",
                  d.reason);
        /* A person approved this very call: Lua's require_approval is passed, its deny still wins. */
        if (d.verdict == VERDICT_APPROVAL && ctx->approval_id)
            continue;
        if (d.verdict == VERDICT_DENY || d.verdict == VERDICT_APPROVAL || d.verdict == VERDICT_ERROR) {
            *out = d;
            out->tool_class = cls;
            /* the agent, like the log, learns which rule refused: FILE:LINE */
            if (d.rule[0] && !strstr(out->reason, d.rule)) {
                size_t len = strlen(out->reason);
                utf8_snprintf(out->reason + len, sizeof out->reason - len, "%s(policy %s)", len ? " " : "", d.rule);
            }
            return;
        }
    }
    /* Rate limits last, counted only for a call every policy allows. */
    enum { MAX_LIMITS = POLICY_MAX_LIMITS };
    struct rate_check checks[MAX_LIMITS];
    const struct limit *limits[MAX_LIMITS];
    const struct policy *owners[MAX_LIMITS];
    char keys[MAX_LIMITS][512];
    size_t n = 0;
    for (size_t i = 0; i < ps->n && n < MAX_LIMITS; i++) {
        const struct policy *p = &ps->policies[i];
        if (p->shadow != shadow || !policy_applies(p, ctx))
            continue;
        const struct rule *r = find_rule_classed(p, tool, cls, msg, ctx);
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
    if (n == 0) {
        trace_add(t, "no rate limit applies");
        return;
    }
    if (defer && !shadow) {
        /* The caller admits them elsewhere (state_rate.c) and words a
         * refusal with policy_rate_refusal. */
        defer->n = n;
        for (size_t i = 0; i < n; i++) {
            memcpy(defer->keys[i], keys[i], checks[i].key_len + 1);
            defer->checks[i] = checks[i];
            defer->checks[i].key = defer->keys[i];
            defer->limits[i] = limits[i];
            defer->owners[i] = owners[i];
        }
        trace_add(t, "%zu rate limit(s) left to the shared state", n);
        return;
    }
    size_t refused;
    double retry;
    /* Keys are counted against the client's address (not its port): one
     * address flooding made-up session ids evicts its own keys first. */
    const char *addr = ctx->client_addr ? ctx->client_addr : "";
    const char *colon = strrchr(addr, ':');
    size_t addr_len = colon ? (size_t)(colon - addr) : strlen(addr);
    if (rate_admit(rs, addr, addr_len, checks, n, ctx->now, &refused, &retry)) {
        for (size_t i = 0; i < n; i++)
            trace_add(t, "%s %s: at most %u calls in %g s: counted, within the limit", owners[i]->file,
                      limits[i]->where, limits[i]->max, limits[i]->window);
        return;
    }
    if (refused == n) {
        rate_table_full(out);
        trace_add(t, "the rate-limit table cannot hold these limits: rate_limit");
        return;
    }
    rate_refusal(out, owners[refused], limits[refused], retry);
    trace_add(t, "%s %s: at most %u calls in %g s: spent, retry in %.1f s: rate_limit", owners[refused]->file,
              limits[refused]->where, limits[refused]->max, limits[refused]->window, out->retry_after);
}

/* policy_decide_traced, leaving the enforced rate limits to defer when it is not NULL. */
static void decide(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg, const struct call_ctx *ctx,
                   struct decision *out, struct policy_trace *t, struct rate_pending *defer)
{
    if (defer)
        defer->n = 0;
    decide_mode(ps, false, rs, msg, ctx, out, t, defer);
    trace_add(t, "decision: %s%s%s%s%s", policy_verdict_name(out->verdict), out->rule[0] ? " by " : "", out->rule,
              out->reason[0] ? ": " : "", out->reason);
    if (!ps->has_shadow)
        return;
    /* Shadow policies see every call, whatever the enforced ones decided,
     * and change nothing but the shadow fields and their own rate keys. */
    trace_add(t, "shadow policies (evaluated, never enforced):");
    struct decision d;
    decide_mode(ps, true, rs, msg, ctx, &d, t, NULL);
    out->shadow.present = true;
    out->shadow.verdict = d.verdict == VERDICT_NONE ? VERDICT_ALLOW : d.verdict;
    utf8_snprintf(out->shadow.rule, sizeof out->shadow.rule, "%s", d.rule);
    utf8_snprintf(out->shadow.reason, sizeof out->shadow.reason, "%s", d.reason);
    trace_add(t, "shadow decision: %s%s%s%s%s", policy_verdict_name(d.verdict), d.rule[0] ? " by " : "", d.rule,
              d.reason[0] ? ": " : "", d.reason);
}

void policy_decide_traced(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg,
                          const struct call_ctx *ctx, struct decision *out, struct policy_trace *t)
{
    decide(ps, rs, msg, ctx, out, t, NULL);
}

void policy_decide(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg,
                   const struct call_ctx *ctx, struct decision *out)
{
    decide(ps, rs, msg, ctx, out, NULL, NULL);
}

void policy_decide_deferred(struct policy_set *ps, struct rate_store *rs, struct rpc_msg *msg,
                            const struct call_ctx *ctx, struct decision *out, struct rate_pending *pending)
{
    decide(ps, rs, msg, ctx, out, NULL, pending);
}

/* ---- tools/list ---- */

/* Whether an enforced policy refuses the tool whatever its arguments, and
 * wants such tools kept out of lists: default deny without list_denied, and
 * no rule names the tool or its class, or that rule denies outright. */
static bool never_callable(const struct policy_set *ps, const struct policy *p, const char *tool,
                           enum risk_class *cls, const struct call_ctx *ctx)
{
    if (p->lua || p->shadow || !p->default_deny || p->list_denied || !policy_applies(p, ctx))
        return false;
    /* Classed on first need: classing a name costs more than the rest of
     * listing it, and most lists meet no default-deny policy. */
    if (*cls == RISK_NONE)
        *cls = policy_tool_class(ps, tool, ctx ? ctx->tool_class : RISK_NONE);
    const struct rule *r = find_rule_classed(p, tool, *cls, NULL, ctx);
    return !r || r->action == ACT_DENY;
}

bool policy_tool_listed(const struct policy_set *ps, const char *name, size_t len, const struct call_ctx *ctx)
{
    char stack[256];
    char *tool = len < sizeof stack ? stack : malloc(len + 1);
    if (!tool)
        return false;   /* cannot tell: keep it out (closed) */
    memcpy(tool, name, len);
    tool[len] = '\0';
    bool listed = !memchr(name, '\0', len) && !is_hidden(ps, tool, ctx);
    enum risk_class cls = RISK_NONE;
    for (size_t i = 0; listed && i < ps->n; i++)
        if (never_callable(ps, &ps->policies[i], tool, &cls, ctx))
            listed = false;
    if (tool != stack)
        free(tool);
    return listed;
}

bool policy_set_has_on_list(const struct policy_set *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->policies[i].lua && !ps->policies[i].shadow && lua_policy_has_on_list(ps->policies[i].lua))
            return true;
    return false;
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
        if (cJSON_IsString(name) && !policy_tool_listed(ps, name->valuestring, strlen(name->valuestring), ctx)) {
            cJSON_Delete(cJSON_DetachItemViaPointer(tools, t));
            removed = true;
        }
        t = next;
    }
    for (size_t i = 0; i < ps->n; i++) {
        if (!ps->policies[i].lua || ps->policies[i].shadow || !lua_policy_has_on_list(ps->policies[i].lua) ||
            !policy_applies(&ps->policies[i], ctx))
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

void policy_run_on_list(struct policy_set *ps, const struct list_item *items, size_t n, bool *keep,
                        const struct call_ctx *ctx)
{
    for (size_t i = 0; i < ps->n; i++) {
        const struct policy *p = &ps->policies[i];
        if (!p->lua || p->shadow || !lua_policy_has_on_list(p->lua) || !policy_applies(p, ctx))
            continue;
        struct decision err;
        if (lua_policy_on_list_items(p->lua, items, n, keep, ctx, &err) < 0)
            return;
    }
}

/* See policy.h: the C fast path of policy_decide for a call whose
 * conditions do not fire, read-only (no rate counted, no Lua run). */
void policy_tool_default(const struct policy_set *ps, const char *tool, struct tool_default *out)
{
    memset(out, 0, sizeof *out);
    out->verdict = VERDICT_ALLOW;
    if (!ps)
        return;
    for (size_t i = 0; i < ps->n; i++)
        if (ps->policies[i].lua)
            out->lua = true;
    /* Without a caller: policies bound to principals, and rules whose when
     * names one, do not count. */
    if (is_hidden(ps, tool, NULL)) {
        out->verdict = VERDICT_HIDDEN;
        snprintf(out->rule, sizeof out->rule, "hide");
        for (size_t i = 0; i < ps->n; i++)
            if (!ps->policies[i].shadow && policy_applies(&ps->policies[i], NULL) && hidden_by(&ps->policies[i], tool))
                utf8_snprintf(out->rule, sizeof out->rule, "%s:/hide", ps->policies[i].file);
        return;
    }
    const struct limit *limit = NULL;
    const struct policy *limit_owner = NULL;
    for (size_t i = 0; i < ps->n; i++) {
        const struct policy *p = &ps->policies[i];
        if (p->lua || !policy_applies(p, NULL))
            continue;
        const struct rule *r = find_rule_classed(p, tool, policy_tool_class(ps, tool, RISK_NONE), NULL, NULL);
        if (!r && p->default_deny) {
            out->verdict = VERDICT_DENY;
            utf8_snprintf(out->rule, sizeof out->rule, "%s:/default", p->file);
            return;
        }
        if (r && (r->action == ACT_DENY || r->action == ACT_APPROVAL)) {
            out->verdict = r->action == ACT_DENY ? VERDICT_DENY : VERDICT_APPROVAL;
            utf8_snprintf(out->rule, sizeof out->rule, "%s:%s", p->file, r->where);
            return;
        }
        if (r) {
            out->conditions += r->ndeny_if + r->nrequire;
            if (!out->rule[0])
                utf8_snprintf(out->rule, sizeof out->rule, "%s:%s", p->file, r->where);
        }
        const struct limit *l = r && r->has_limit ? &r->limit : p->has_all_limit ? &p->all_limit : NULL;
        if (l && !limit) {
            limit = l;
            limit_owner = p;
        }
    }
    if (limit) {
        out->verdict = VERDICT_RATE_LIMITED;
        out->limit_max = limit->max;
        out->limit_window = limit->window;
        utf8_snprintf(out->rule, sizeof out->rule, "%s:%s", limit_owner->file, limit->where);
    }
}
