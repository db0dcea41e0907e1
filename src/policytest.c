#include "policytest.h"

#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "auth.h"
#include "authoring.h"
#include "jsonrpc.h"
#include "policy.h"
#include "ratelimit.h"
#include "schema.h"
#include "sharedstore.h"

enum format { FORMAT_TEXT, FORMAT_JSON, FORMAT_JUNIT };

/* How a run reports: text lines as it goes, or one JSON or JUnit document
 * at the end, built from the results gathered in `report`. */
struct run {
    bool verbose;           /* -v: a failing case's decision trace */
    enum format format;
    int passed, failed;
    cJSON *report;          /* FORMAT_JSON / FORMAT_JUNIT: {"files": [{"file", "error"?, "cases": [...]}]} */
    cJSON *file_cases;      /* the current file's "cases" array in report */
};

/* One case as the test file says it; strings owned, args borrowed from the document. */
struct test_case {
    char *name, *tool, *reason, *session;
    char *expect_shadow;    /* what the shadow policies must decide, or NULL */
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
    static const char *const kinds[] = {"anonymous", "key", "jwt", "proxy", "local"};
    const cJSON *id = cJSON_GetObjectItemCaseSensitive(v, "id");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(v, "kind");
    int k = kind ? -1 : 1;
    for (int i = 0; kind && i < 5; i++)
        if (cJSON_IsString(kind) && strcmp(kind->valuestring, kinds[i]) == 0)
            k = i;
    const char *bad = NULL;
    if (!cJSON_IsObject(v) || schema_duplicates(doc, v, ptr))
        bad = "must be {\"id\", \"kind\", \"labels\", \"claims\", \"scopes\"}";
    else if (!cJSON_IsString(id) || !id->valuestring[0])
        bad = "needs an \"id\" string";
    else if (k < 0)
        bad = "\"kind\" must be \"key\", \"jwt\", \"anonymous\", \"proxy\" or \"local\"";
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
    {.key = "expect_shadow", .kind = FIELD_STRING, .offset = CASE(expect_shadow), SCHEMA_NAMES(expect_names)},
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
    if (!v->child) {
        schema_problem(doc, v, ptr, "has no cases: a test file that tests nothing is a mistake");
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

/* Records one case's result for a JSON or JUnit report. */
static void note_case(struct run *run, const char *label, const char *name, bool ok, const char *want,
                      const char *got, const struct decision *d, const char *trace)
{
    if (!run->file_cases)
        return;
    cJSON *c = cJSON_CreateObject();
    if (!c)
        return;
    cJSON_AddStringToObject(c, "name", name ? name : label);
    cJSON_AddBoolToObject(c, "passed", ok);
    cJSON_AddStringToObject(c, "expect", want);
    cJSON_AddStringToObject(c, "got", got);
    cJSON_AddStringToObject(c, "rule", d ? d->rule : "");
    cJSON_AddStringToObject(c, "reason", d ? d->reason : "");
    if (d && d->shadow.present) {
        cJSON_AddStringToObject(c, "shadow", policy_verdict_name(d->shadow.verdict));
        cJSON_AddStringToObject(c, "shadow_rule", d->shadow.rule);
    }
    if (!ok && trace)
        cJSON_AddStringToObject(c, "trace", trace);
    cJSON_AddItemToArray(run->file_cases, c);
}

/* Runs one case: decides the call `repeat` times and checks the last decision. */
static bool run_case(struct run *run, struct policy_set *ps, struct rate_store *rs, const struct test_case *c,
                     int index, double *clock, const char *file)
{
    char label[300];
    snprintf(label, sizeof label, "%s: case %d%s%s", file, index, c->name ? " " : "", c->name ? c->name : "");
    char *text = authoring_call_text(c->tool, c->args, index);
    struct rpc_msg m;
    struct rpc_error e;
    if (!text || rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        if (run->format == FORMAT_TEXT)
            printf("FAIL %s: the call is not a valid message\n", label);
        note_case(run, label, c->name, false, expect_names[c->expect], "invalid", NULL, NULL);
        free(text);
        return false;
    }
    const char *sess = c->session ? c->session : "test-session";
    if (c->has_at)
        *clock = c->at;
    struct call_ctx ctx = {.server = "test", .session = sess, .session_len = strlen(sess), .client_addr = "test",
                           .principal = c->principal.doc ? &c->principal : NULL};
    struct decision d;
    memset(&d, 0, sizeof d);   /* repeat is at least 1, but a zero-run loop must not report garbage */
    static char trace_buf[32768];
    struct policy_trace trace = {.buf = trace_buf, .cap = sizeof trace_buf};
    bool tracing = run->verbose || run->format != FORMAT_TEXT;
    for (unsigned i = 0; i < c->repeat; i++) {
        *clock += 0.001;
        ctx.now = *clock;
        ctx.wall = *clock;
        /* the trace of the last decision, the one the case checks */
        bool last = i + 1 == c->repeat;
        trace.used = 0;
        trace_buf[0] = '\0';
        policy_decide_traced(ps, rs, &m, &ctx, &d, last && tracing ? &trace : NULL);
    }
    rpc_msg_clear(&m);
    free(text);
    const char *got = policy_verdict_name(d.verdict), *want = expect_names[c->expect];
    bool ok = strcmp(got, want) == 0 && (!c->reason || strstr(d.reason, c->reason));
    const char *shadow_got = d.shadow.present ? policy_verdict_name(d.shadow.verdict) : "none (no shadow policy)";
    bool shadow_ok = !c->expect_shadow || strcmp(shadow_got, c->expect_shadow) == 0;
    if (!ok && run->format == FORMAT_TEXT)
        printf("FAIL %s: want %s%s%s, got %s: %s\n", label, want, c->reason ? " mentioning " : "",
               c->reason ? c->reason : "", got, d.reason[0] ? d.reason : "(no reason)");
    if (ok && !shadow_ok && run->format == FORMAT_TEXT)
        printf("FAIL %s: want the shadow decision %s, got %s%s%s\n", label, c->expect_shadow, shadow_got,
               d.shadow.reason[0] ? ": " : "", d.shadow.reason);
    ok = ok && shadow_ok;
    if (!ok && run->format == FORMAT_TEXT) {
        if (run->verbose)
            for (const char *line = trace_buf, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                printf("    %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
                if (!nl)
                    break;
            }
    }
    note_case(run, label, c->name, ok, want, got, &d, trace_buf);
    return ok;
}

/* A file that could not run: its problems, for a JSON or JUnit report. */
static void note_file_error(struct run *run, const char *err)
{
    if (run->file_cases)
        cJSON_AddStringToObject(cJSON_GetArrayItem(run->report, cJSON_GetArraySize(run->report) - 1), "error", err);
}

/* Loads the policies of a test file (relative to it) and runs its cases. */
static void run_cases(struct run *run, const char *file, const struct test_file *t)
{
    char *copy = strdup(file);
    const char *dir = copy ? dirname(copy) : ".";
    size_t n = 0;
    while (t->policies && t->policies[n])
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
        if (run->format == FORMAT_TEXT)
            printf("FAIL %s: the policies do not load:\n%s\n", file, ready ? err : "out of memory");
        note_file_error(run, ready ? err : "out of memory");
        run->failed++;
    } else {
        double clock = 1000;
        for (size_t i = 0; i < t->ncases; i++) {
            if (run_case(run, ps, rs, &t->cases[i], (int)i, &clock, file))
                run->passed++;
            else
                run->failed++;
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
static void run_file(struct run *run, const char *file)
{
    if (run->report) {
        cJSON *f = cJSON_CreateObject();
        run->file_cases = NULL;
        if (f && cJSON_AddItemToArray(run->report, f)) {
            cJSON_AddStringToObject(f, "file", file);
            run->file_cases = cJSON_AddArrayToObject(f, "cases");
        }
    }
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
        for (char *line = err, *nl; run->format == FORMAT_TEXT && *line; line = nl + 1) {
            nl = strchr(line, '\n');
            printf("FAIL %.*s\n", nl ? (int)(nl - line) : (int)strlen(line), line);
            if (!nl)
                break;
        }
        note_file_error(run, err);
        run->failed++;
    } else {
        run_cases(run, file, &t);
    }
    test_file_free(&t);
    schema_doc_free(&doc);
}

static void usage(FILE *out)
{
    fputs("usage: warden test [-v] [--format text|json|junit] FILE...\n"
          "Runs the cases of each test file ({\"policies\": [FILE...], \"cases\": [...]}) without a server.\n"
          "  -v, --verbose    print the decision trace of each failing case (as warden explain does)\n"
          "  --format FORMAT  text (default: failures and \"N passed, N failed\"), json (one document with\n"
          "                   every case), or junit (JUnit XML for CI)\n"
          "Exit status: 0 when every case passed, 1 otherwise, 2 on usage errors.\n",
          out);
}

/* Writes s as XML character data or attribute value. */
static void xml_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t')
                fputc('?', out);   /* not allowed in XML 1.0 */
            else
                fputc(*s, out);
        }
    }
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* JUnit XML: a testsuite per file, a testcase per case; a file that cannot
 * run is one failing case. */
static void print_junit(const struct run *run)
{
    printf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"warden test\" tests=\"%d\" "
           "failures=\"%d\">\n", run->passed + run->failed, run->failed);
    for (const cJSON *f = run->report->child; f; f = f->next) {
        const cJSON *cases = cJSON_GetObjectItemCaseSensitive(f, "cases");
        const cJSON *error = cJSON_GetObjectItemCaseSensitive(f, "error");
        int n = cJSON_GetArraySize(cases), failures = error ? 1 : 0;
        for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next)
            failures += !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed"));
        fputs("  <testsuite name=\"", stdout);
        xml_text(stdout, str_of(f, "file"));
        printf("\" tests=\"%d\" failures=\"%d\">\n", n + (error ? 1 : 0), failures);
        if (error) {
            fputs("    <testcase name=\"load\"><failure message=\"the file does not run\">", stdout);
            xml_text(stdout, error->valuestring);
            fputs("</failure></testcase>\n", stdout);
        }
        for (const cJSON *c = cases ? cases->child : NULL; c; c = c->next) {
            fputs("    <testcase name=\"", stdout);
            xml_text(stdout, str_of(c, "name"));
            fputs("\" classname=\"", stdout);
            xml_text(stdout, str_of(f, "file"));
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(c, "passed"))) {
                fputs("\"/>\n", stdout);
                continue;
            }
            fputs("\"><failure message=\"want ", stdout);
            xml_text(stdout, str_of(c, "expect"));
            fputs(", got ", stdout);
            xml_text(stdout, str_of(c, "got"));
            fputs("\">", stdout);
            xml_text(stdout, str_of(c, "reason"));
            fputs("\n", stdout);
            xml_text(stdout, str_of(c, "trace"));
            fputs("</failure></testcase>\n", stdout);
        }
        fputs("  </testsuite>\n", stdout);
    }
    fputs("</testsuites>\n", stdout);
}

int policy_test_main(int argc, char **argv)
{
    struct run run = {0};
    int first = argc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0) {
            run.verbose = true;
        } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
            const char *f = argv[++i];
            if (strcmp(f, "text") == 0)
                run.format = FORMAT_TEXT;
            else if (strcmp(f, "json") == 0)
                run.format = FORMAT_JSON;
            else if (strcmp(f, "junit") == 0)
                run.format = FORMAT_JUNIT;
            else {
                fprintf(stderr, "warden test: --format is text, json or junit, not %s\n", f);
                return 2;
            }
        } else if (strcmp(argv[i], "--") == 0) {
            first = i + 1;
            break;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            fprintf(stderr, "warden test: unknown option %s\n", argv[i]);
            usage(stderr);
            return 2;
        } else {
            first = i;
            break;
        }
    }
    if (first >= argc) {
        usage(stderr);
        return 2;
    }
    if (run.format != FORMAT_TEXT && !(run.report = cJSON_CreateArray())) {
        fprintf(stderr, "warden test: out of memory\n");
        return 2;
    }
    for (int i = first; i < argc; i++)
        run_file(&run, argv[i]);
    if (run.format == FORMAT_TEXT) {
        printf("%d passed, %d failed\n", run.passed, run.failed);
    } else if (run.format == FORMAT_JUNIT) {
        print_junit(&run);
    } else {
        cJSON *doc = cJSON_CreateObject();
        char *text = NULL;
        if (doc && cJSON_AddNumberToObject(doc, "passed", run.passed) &&
            cJSON_AddNumberToObject(doc, "failed", run.failed)) {
            cJSON_AddItemToObject(doc, "files", run.report);
            run.report = NULL;
            text = cJSON_Print(doc);
        }
        printf("%s\n", text ? text : "{\"error\": \"out of memory\"}");
        free(text);
        cJSON_Delete(doc);
    }
    cJSON_Delete(run.report);
    return run.failed ? 1 : 0;
}
