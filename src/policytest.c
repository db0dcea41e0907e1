#include "policytest.h"

#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "auth.h"
#include "jsonrpc.h"
#include "policy.h"
#include "ratelimit.h"
#include "schema.h"
#include "sharedstore.h"

static const char *const verdict_names[] = {
    [VERDICT_NONE] = "allow", [VERDICT_ALLOW] = "allow", [VERDICT_DENY] = "deny", [VERDICT_HIDDEN] = "hide",
    [VERDICT_RATE_LIMITED] = "rate_limit", [VERDICT_APPROVAL] = "require_approval", [VERDICT_ERROR] = "error",
};

/* One case as the test file says it; strings owned, args borrowed from the document. */
struct test_case {
    char *name, *tool, *reason, *session;
    int expect;             /* index in expect_names */
    const cJSON *args;
    unsigned repeat;
    double at;
    bool has_at;
    struct principal principal;     /* owned; doc NULL when the case names none */
};

/* What a case may expect: the names verdict_names gives. */
static const char *const expect_names[] = {"allow", "deny", "hide", "rate_limit", "require_approval", "error"};

static void read_args(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    if (!cJSON_IsObject(v))
        schema_problem(doc, v, ptr, "must be an object of arguments");
    else
        *(const cJSON **)dst = v;
}

static void read_at(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct test_case *c = dst;
    if (!cJSON_IsNumber(v)) {
        schema_problem(doc, v, ptr, "must be a number of seconds on the test clock");
        return;
    }
    c->at = v->valuedouble;
    c->has_at = true;
}

/* "principal": {"id": ..., "kind": "key"|"jwt"|"anonymous"|"proxy",
 * "labels": {...}, "claims": {...}, "scopes": [...]}: who makes the call. */
static void read_principal(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    (void)f;
    struct principal *p = dst;
    static const char *const kinds[] = {"anonymous", "key", "jwt", "proxy"};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(v, "kind");
    int k = kind ? -1 : 1;
    for (int i = 0; kind && i < 4; i++)
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, kinds[i]) == 0)
            k = i;
    const char *bad = NULL;
    if (!cJSON_IsObject(v) || schema_duplicates(doc, v, ptr))
        bad = "must be {\"id\", \"kind\", \"labels\", \"claims\", \"scopes\"}";
    else if (!cJSON_IsString(id) || !id->valuestring[0])
        bad = "needs an \"id\" string";
    else if (k < 0)
        bad = "\"kind\" must be \"key\", \"jwt\", \"anonymous\" or \"proxy\"";
    for (const cJSON *m = v->child; !bad && m; m = m->next) {
        if (strcmp(m->string, "labels") == 0 || strcmp(m->string, "claims") == 0)
            bad = cJSON_IsObject(m) ? NULL : "\"labels\" and \"claims\" are objects";
        else if (strcmp(m->string, "scopes") == 0)
            bad = cJSON_IsArray(m) ? NULL : "\"scopes\" is an array of strings";
        else if (strcmp(m->string, "id") != 0 && strcmp(m->string, "kind") != 0)
            bad = "has a member other than id, kind, labels, claims and scopes";
    }
    if (bad) {
        schema_problem(doc, v, ptr, "%s", bad);
        return;
    }
    if (principal_make(p, (enum principal_kind)k, id->valuestring) < 0) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    static const char *const parts[] = {"labels", "claims", "scopes"};
    for (size_t i = 0; i < 3; i++) {
        const cJSON *part = cJSON_GetObjectItemCaseSensitive(v, parts[i]);
        if (part)
            cJSON_ReplaceItemInObjectCaseSensitive(p->doc, parts[i], cJSON_Duplicate(part, 1));
    }
}

#define CASE(m) offsetof(struct test_case, m)
static const struct field case_fields[] = {
    {.key = "name", .kind = FIELD_STRING, .offset = CASE(name)},
    {.key = "tool", .kind = FIELD_STRING, .offset = CASE(tool), .min = 1, .required = true},
    {.key = "args", .kind = FIELD_CUSTOM, .offset = CASE(args), .custom = read_args},
    {.key = "expect", .kind = FIELD_ENUM, .offset = CASE(expect), SCHEMA_NAMES(expect_names), .required = true},
    {.key = "reason", .kind = FIELD_STRING, .offset = CASE(reason)},
    {.key = "session", .kind = FIELD_STRING, .offset = CASE(session), .min = 1},
    {.key = "repeat", .kind = FIELD_UINT, .offset = CASE(repeat), .min = 1, .max = 1000000},
    {.key = "at", .kind = FIELD_CUSTOM, .custom = read_at},
    {.key = "principal", .kind = FIELD_CUSTOM, .offset = CASE(principal), .custom = read_principal},
    {0},
};

/* A test file: {"policies": [FILE or {"file", "when"}...], "cases": [...]}. */
struct test_file {
    char **policies;
    char **whens;           /* one per policy: a binding's JSON text (as in a config), or NULL */
    struct test_case *cases;
    size_t ncases;
};

static void read_cases(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr, void *dst)
{
    struct test_file *t = dst;
    if (!cJSON_IsArray(v)) {
        schema_problem(doc, v, ptr, "%s", f->expect);
        return;
    }
    if (!(t->cases = calloc((size_t)cJSON_GetArraySize(v) + 1, sizeof *t->cases))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    int i = 0;
    for (const cJSON *c = v->child; c; c = c->next, i++) {
        char at[64];
        snprintf(at, sizeof at, "%s/%d", ptr, i);
        t->cases[t->ncases].repeat = 1;
        schema_read(doc, c, at, case_fields, &t->cases[t->ncases++]);
    }
}

/* The policies, as a server's "policies" in a config: a file name, or
 * {"file": NAME, "when": CONDITION} bound to the principals it names. */
static void read_policy_list(struct schema_doc *doc, const struct field *f, const cJSON *v, const char *ptr,
                             void *dst)
{
    (void)f;
    struct test_file *t = dst;
    size_t n = (size_t)cJSON_GetArraySize(v);
    if (!cJSON_IsArray(v) || n == 0) {
        schema_problem(doc, v, ptr, "must be an array of file names or {\"file\", \"when\"}");
        return;
    }
    if (!(t->policies = calloc(n + 1, sizeof *t->policies)) || !(t->whens = calloc(n, sizeof *t->whens))) {
        schema_problem(doc, v, ptr, "out of memory");
        return;
    }
    int i = 0;
    size_t k = 0;
    for (const cJSON *e = v->child; e; e = e->next, i++) {
        char at[64];
        snprintf(at, sizeof at, "%s/%d", ptr, i);
        const cJSON *file = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "file") : e;
        const cJSON *when = cJSON_IsObject(e) ? cJSON_GetObjectItemCaseSensitive(e, "when") : NULL;
        if (!cJSON_IsString(file) || !file->valuestring[0] || (cJSON_IsObject(e) && (!when || cJSON_GetArraySize(e) != 2))) {
            schema_problem(doc, e, at, "must be a file name or {\"file\": NAME, \"when\": CONDITION}");
            continue;
        }
        char wat[80];
        snprintf(wat, sizeof wat, "%s/when", at);
        if (when && !policy_when_check(doc, when, wat))
            continue;
        if (!(t->policies[k] = strdup(file->valuestring)) || (when && !(t->whens[k] = cJSON_PrintUnformatted(when))))
            schema_problem(doc, e, at, "out of memory");
        k++;
    }
}

static const struct field file_fields[] = {
    {.key = "policies", .kind = FIELD_CUSTOM, .custom = read_policy_list, .required = true},
    {.key = "cases", .kind = FIELD_CUSTOM, .custom = read_cases, .required = true,
     .expect = "must be an array of cases"},
    {.key = "description", .kind = FIELD_ANY},
    {0},
};

static void test_file_free(struct test_file *t)
{
    for (size_t i = 0; i < t->ncases; i++) {
        schema_free(case_fields, &t->cases[i]);
        principal_clear(&t->cases[i].principal);
    }
    free(t->cases);
    for (size_t i = 0; t->policies && t->policies[i]; i++) {
        free(t->policies[i]);
        free(t->whens ? t->whens[i] : NULL);
    }
    free(t->policies);
    free(t->whens);
    schema_free(file_fields, t);
}

/* Runs one case: decides the call `repeat` times and checks the last decision. */
static bool run_case(struct policy_set *ps, struct rate_store *rs, const struct test_case *c, int index,
                     double *clock, const char *file)
{
    char label[300];
    snprintf(label, sizeof label, "%s: case %d%s%s", file, index, c->name ? " " : "", c->name ? c->name : "");
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(msg, "id", index);
    cJSON_AddStringToObject(msg, "method", "tools/call");
    cJSON *params = cJSON_AddObjectToObject(msg, "params");
    cJSON_AddStringToObject(params, "name", c->tool);
    cJSON_AddItemToObject(params, "arguments", c->args ? cJSON_Duplicate(c->args, 1) : cJSON_CreateObject());
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    struct rpc_msg m;
    struct rpc_error e;
    if (!text || rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        printf("FAIL %s: the call is not a valid message\n", label);
        free(text);
        return false;
    }
    const char *sess = c->session ? c->session : "test-session";
    if (c->has_at)
        *clock = c->at;
    struct call_ctx ctx = {.server = "test", .session = sess, .session_len = strlen(sess), .client_addr = "test",
                           .principal = c->principal.doc ? &c->principal : NULL};
    struct decision d;
    for (unsigned i = 0; i < c->repeat; i++) {
        *clock += 0.001;
        ctx.now = *clock;
        ctx.wall = *clock;
        policy_decide(ps, rs, &m, &ctx, &d);
    }
    rpc_msg_clear(&m);
    free(text);
    const char *got = verdict_names[d.verdict], *want = expect_names[c->expect];
    bool ok = strcmp(got, want) == 0 && (!c->reason || strstr(d.reason, c->reason));
    if (!ok)
        printf("FAIL %s: want %s%s%s, got %s: %s\n", label, want, c->reason ? " mentioning " : "",
               c->reason ? c->reason : "", got, d.reason[0] ? d.reason : "(no reason)");
    return ok;
}

/* Loads the policies of a test file (relative to it) and runs its cases. */
static void run_cases(const char *file, const struct test_file *t, int *passed, int *failed)
{
    char *copy = strdup(file);
    const char *dir = copy ? dirname(copy) : ".";
    size_t n = 0;
    while (t->policies[n])
        n++;
    char **paths = calloc(n ? n : 1, sizeof *paths);
    size_t k = 0;
    for (size_t i = 0; paths && i < n; i++)
        if (asprintf(&paths[k], "%s/%s", t->policies[i][0] == '/' ? "" : dir, t->policies[i]) >= 0)
            k++;
    struct shared_store *shared = shared_store_new(NULL);
    struct rate_store *rs = rate_store_new();
    char err[8192];
    bool ready = paths && k == n && shared && rs;
    struct policy_set *ps = ready ? policy_set_load((const char *const *)paths, k, shared, "test", err, sizeof err) : NULL;
    for (size_t i = 0; ps && i < k; i++) {
        if (t->whens[i] && policy_set_bind(ps, i, t->whens[i], err, sizeof err) < 0) {
            policy_set_free(ps);
            ps = NULL;
        }
    }
    if (!ps) {
        printf("FAIL %s: the policies do not load:\n%s\n", file, ready ? err : "out of memory");
        (*failed)++;
    } else {
        double clock = 1000;
        for (size_t i = 0; i < t->ncases; i++) {
            if (run_case(ps, rs, &t->cases[i], (int)i, &clock, file))
                (*passed)++;
            else
                (*failed)++;
        }
        policy_set_free(ps);
    }
    for (size_t i = 0; i < k; i++)
        free(paths[i]);
    free(paths);
    free(copy);
    rate_store_free(rs);
    shared_store_free(shared);
}

/* Runs the cases of one test file; adds to the counts. A file with problems
 * runs nothing and counts as one failure, each problem told with its place. */
static void run_file(const char *file, int *passed, int *failed)
{
    char err[8192];
    struct schema_doc doc;
    struct test_file t = {0};
    schema_doc_init(&doc, file, err, sizeof err);
    const cJSON *root = schema_parse_file(&doc);
    if (root && !cJSON_IsObject(root))
        schema_problem(&doc, root, "", "a test file is {\"policies\": [FILE...], \"cases\": [...]}");
    else if (root)
        schema_read(&doc, root, "", file_fields, &t);
    if (doc.problems) {
        for (char *line = err, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            printf("FAIL %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
            if (!nl)
                break;
        }
        (*failed)++;
    } else {
        run_cases(file, &t, passed, failed);
    }
    test_file_free(&t);
    schema_doc_free(&doc);
}

int policy_test_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: warden test FILE...   (each {\"policies\": [...], \"cases\": [...]})\n");
        return 2;
    }
    int passed = 0, failed = 0;
    for (int i = 1; i < argc; i++)
        run_file(argv[i], &passed, &failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
