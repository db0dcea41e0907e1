/* Unit tests of the JSON policy engine (src/policy.c, src/glob.c,
 * src/ratelimit.c): precedence, every operator, types and missing
 * arguments, escapes, rate limits with a fake clock, list filtering and the
 * loader's messages. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "authoring.h"
#include "glob.h"
#include "jsonrpc.h"
#include "policy.h"
#include "ratelimit.h"

static char dir[] = "/tmp/warden-test-policy-XXXXXX";

/* Writes a policy file and returns its path (static buffer per slot). */
static const char *write_policy(int slot, const char *text)
{
    static char paths[8][128];
    snprintf(paths[slot], sizeof paths[slot], "%s/p%d.json", dir, slot);
    FILE *f = fopen(paths[slot], "w");
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

static struct policy_set *load(const char *text)
{
    const char *files[] = {write_policy(0, text)};
    char err[4096];
    struct policy_set *ps = policy_set_load(files, 1, NULL, "s", err, sizeof err);
    if (!ps)
        fprintf(stderr, "load failed: %s\n", err);
    return ps;
}

/* Decides a tools/call given as the text of a JSON-RPC message. */
static enum verdict decide_at(struct policy_set *ps, struct rate_store *rs, const char *session, double now,
                              const char *msg_text, struct decision *d)
{
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(msg_text, strlen(msg_text), NULL, &m, &e) < 0) {
        fprintf(stderr, "bad test message: %s\n", e.message);
        return VERDICT_ERROR;
    }
    struct call_ctx ctx = {.server = "s", .session = session, .session_len = strlen(session), .client_addr = "c",
                           .now = now};
    policy_decide(ps, rs, &m, &ctx, d);
    rpc_msg_clear(&m);
    return d->verdict;
}

static enum verdict decide(struct policy_set *ps, const char *tool, const char *args_json)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"%s%s}}",
             tool, args_json ? ",\"arguments\":" : "", args_json ? args_json : "");
    struct rate_store *rs = rate_store_new();
    struct decision d;
    enum verdict v = decide_at(ps, rs, "sess", 100, text, &d);
    rate_store_free(rs);
    return v;
}

static void test_glob(void)
{
    CHECK(glob_match("debug_*", "debug_x", 7));
    CHECK(!glob_match("debug_*", "xdebug_x", 8));
    CHECK(glob_match("*", "", 0));
    CHECK(glob_match("a?c", "abc", 3));
    CHECK(glob_match("[0-9]*", "42", 2));
    CHECK(!glob_match("[0-9]*", "x42", 3));
    CHECK(glob_match("[!a]b", "xb", 2));
    CHECK(!glob_match("[!a]b", "ab", 2));
    CHECK(glob_match("a\\*", "a*", 2));
    CHECK(!glob_match("a\\*", "ab", 2));
    CHECK(glob_match("*a*b*c*", "xxaxxbxxcxx", 11));
    CHECK(!glob_valid("[abc"));
    CHECK(!glob_valid("a\\"));
    CHECK(glob_valid("[]]"));
    /* no exponential backtracking: a long near-miss finishes at once */
    char s[20001];
    memset(s, 'a', 20000);
    s[20000] = '\0';
    CHECK(!glob_match("*a*a*a*a*a*a*a*a*b", s, 20000));
}

static void test_precedence(void)
{
    struct policy_set *ps = load("{\"version\":\"1\",\"default\":\"allow\",\"hide\":[\"get_env\",\"debug_*\"],"
                                 "\"tools\":{\"delete_*\":{\"action\":\"deny\"},\"delete_run\":{\"action\":\"allow\"},"
                                 "\"delete_model_*\":{\"action\":\"allow\"},\"get_env\":{\"action\":\"allow\"},"
                                 "\"transition_model_version_stage\":{\"action\":\"require_approval\"}}}");
    CHECK(ps != NULL);
    CHECK(decide(ps, "get_env", NULL) == VERDICT_HIDDEN);          /* hidden wins over allow */
    CHECK(decide(ps, "debug_dump", "{}") == VERDICT_HIDDEN);
    CHECK(decide(ps, "delete_experiment", NULL) == VERDICT_DENY);  /* glob */
    CHECK(decide(ps, "delete_run", NULL) == VERDICT_ALLOW);        /* exact beats glob */
    CHECK(decide(ps, "delete_model_alias", NULL) == VERDICT_ALLOW); /* longer glob beats shorter */
    CHECK(decide(ps, "transition_model_version_stage", NULL) == VERDICT_APPROVAL);
    CHECK(decide(ps, "query_runs", NULL) == VERDICT_ALLOW);
    CHECK(policy_set_filters_lists(ps));
    policy_set_free(ps);

    ps = load("{\"version\":\"1\",\"default\":\"deny\",\"tools\":{\"health\":{},\"get_*\":{}}}");
    CHECK(ps && decide(ps, "health", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, "get_run", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, "delete_run", NULL) == VERDICT_DENY);
    CHECK(policy_set_filters_lists(ps));    /* default deny keeps the tools it refuses out of lists */
    policy_set_free(ps);

    /* several policies: any refusal wins, and default deny of one denies what it does not name */
    const char *files[] = {write_policy(1, "{\"version\":\"1\",\"tools\":{\"a\":{\"action\":\"allow\"}}}"),
                           write_policy(2, "{\"version\":\"1\",\"default\":\"deny\",\"tools\":{\"b\":{}}}")};
    char err[1024];
    ps = policy_set_load(files, 2, NULL, "s", err, sizeof err);
    CHECK(ps && decide(ps, "a", NULL) == VERDICT_DENY && decide(ps, "b", NULL) == VERDICT_ALLOW);
    policy_set_free(ps);
}

struct op_case {
    const char *cond;   /* the condition object */
    const char *args;   /* the call's arguments */
    bool holds;
};

/* Each condition under "require": it holds exactly when the call is allowed. */
static const struct op_case op_cases[] = {
    {"{\"arg\":\"alias\",\"eq\":\"champion\"}", "{\"alias\":\"champion\"}", true},
    {"{\"arg\":\"alias\",\"eq\":\"champion\"}", "{\"alias\":\"Champion\"}", false},
    {"{\"arg\":\"alias\",\"eq\":\"champion\"}", "{}", false},
    {"{\"arg\":\"alias\",\"eq\":\"5\"}", "{\"alias\":5}", false},
    {"{\"arg\":\"n\",\"eq\":5}", "{\"n\":5.0}", true},
    {"{\"arg\":\"f\",\"eq\":true}", "{\"f\":true}", true},
    {"{\"arg\":\"f\",\"eq\":null}", "{\"f\":null}", true},
    {"{\"arg\":\"alias\",\"neq\":\"champion\"}", "{\"alias\":\"x\"}", true},
    {"{\"arg\":\"alias\",\"neq\":\"champion\"}", "{\"alias\":\"champion\"}", false},
    {"{\"arg\":\"alias\",\"neq\":\"champion\"}", "{}", true},
    {"{\"arg\":\"alias\",\"in\":[\"a\",\"b\"]}", "{\"alias\":\"b\"}", true},
    {"{\"arg\":\"alias\",\"in\":[\"a\",\"b\"]}", "{\"alias\":[\"b\"]}", false},
    {"{\"arg\":\"alias\",\"in\":[\"a\",\"b\"]}", "{}", false},
    {"{\"arg\":\"alias\",\"not_in\":[\"a\",\"b\"]}", "{\"alias\":\"c\"}", true},
    {"{\"arg\":\"alias\",\"not_in\":[\"a\",\"b\"]}", "{\"alias\":\"a\"}", false},
    {"{\"arg\":\"n\",\"lt\":10}", "{\"n\":9}", true},
    {"{\"arg\":\"n\",\"lt\":10}", "{\"n\":10}", false},
    {"{\"arg\":\"n\",\"lt\":10}", "{\"n\":\"9\"}", false},
    {"{\"arg\":\"n\",\"lte\":10}", "{\"n\":10}", true},
    {"{\"arg\":\"n\",\"gt\":10}", "{\"n\":10.5}", true},
    {"{\"arg\":\"n\",\"gt\":10}", "{}", false},
    {"{\"arg\":\"n\",\"gte\":10}", "{\"n\":10}", true},
    {"{\"arg\":\"q\",\"contains\":\"DROP\"}", "{\"q\":\"x; DROP TABLE\"}", true},
    {"{\"arg\":\"q\",\"contains\":\"DROP\"}", "{\"q\":\"select\"}", false},
    {"{\"arg\":\"tags\",\"contains\":\"prod\"}", "{\"tags\":[\"dev\",\"prod\"]}", true},
    {"{\"arg\":\"tags\",\"contains\":\"prod\"}", "{\"tags\":[\"dev\"]}", false},
    {"{\"arg\":\"path\",\"prefix\":\"/srv/reports/\"}", "{\"path\":\"/srv/reports/a.csv\"}", true},
    {"{\"arg\":\"path\",\"prefix\":\"/srv/reports/\"}", "{\"path\":\"/etc/passwd\"}", false},
    {"{\"arg\":\"version\",\"matches\":\"[0-9]*\"}", "{\"version\":\"3\"}", true},
    {"{\"arg\":\"version\",\"matches\":\"[0-9]*\"}", "{\"version\":\"latest\"}", false},
    {"{\"arg\":\"version\",\"matches\":\"[0-9]*\"}", "{\"version\":3}", false},
    {"{\"arg\":\"dry_run\",\"exists\":true}", "{\"dry_run\":false}", true},
    {"{\"arg\":\"dry_run\",\"exists\":true}", "{}", false},
    {"{\"arg\":\"force\",\"exists\":false}", "{}", true},
    {"{\"arg\":\"target.env\",\"eq\":\"dev\"}", "{\"target\":{\"env\":\"dev\"}}", true},
    {"{\"arg\":\"target.env\",\"eq\":\"dev\"}", "{\"target\":\"dev\"}", false},
    {"{\"arg\":\"items.1.id\",\"eq\":7}", "{\"items\":[{\"id\":1},{\"id\":7}]}", true},
    {"{\"arg\":\"items.5.id\",\"eq\":7}", "{\"items\":[{\"id\":1}]}", false},
    /* escapes are decoded before comparing */
    {"{\"arg\":\"alias\",\"eq\":\"champion\"}", "{\"alias\":\"ch\\u0061mpion\"}", true},
    {"{\"arg\":\"al\\u0069as\",\"eq\":\"champion\"}", "{\"alias\":\"champion\"}", true},
};

static void test_operators(void)
{
    for (size_t i = 0; i < sizeof op_cases / sizeof *op_cases; i++) {
        char text[1024];
        snprintf(text, sizeof text, "{\"version\":\"1\",\"tools\":{\"t\":{\"require\":[%s]}}}", op_cases[i].cond);
        struct policy_set *ps = load(text);
        CHECK(ps != NULL);
        if (!ps)
            continue;
        enum verdict v = decide(ps, "t", op_cases[i].args);
        if ((v == VERDICT_ALLOW) != op_cases[i].holds)
            fprintf(stderr, "case %zu: %s on %s: verdict %d\n", i, op_cases[i].cond, op_cases[i].args, v);
        CHECK((v == VERDICT_ALLOW) == op_cases[i].holds);
        policy_set_free(ps);
        /* the same condition under deny_if denies exactly when it holds */
        snprintf(text, sizeof text, "{\"version\":\"1\",\"tools\":{\"t\":{\"deny_if\":[%s]}}}", op_cases[i].cond);
        ps = load(text);
        CHECK(ps && (decide(ps, "t", op_cases[i].args) == VERDICT_DENY) == op_cases[i].holds);
        policy_set_free(ps);
    }
}

static void test_reasons(void)
{
    struct policy_set *ps = load("{\"version\":\"1\",\"tools\":{\"delete_model_alias\":{\"deny_if\":[{\"arg\":\"alias\","
                                 "\"in\":[\"champion\",\"production\"]}],\"reason\":\"protected alias\"}}}");
    struct rate_store *rs = rate_store_new();
    struct decision d;
    decide_at(ps, rs, "s", 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
              "\"delete_model_alias\",\"arguments\":{\"name\":\"m\",\"alias\":\"champion\"}}}", &d);
    CHECK(d.verdict == VERDICT_DENY);
    CHECK(strstr(d.reason, "protected alias") != NULL);
    CHECK(strstr(d.rule, "/tools/delete_model_alias/deny_if/0") != NULL);
    decide_at(ps, rs, "s", 1, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
              "\"delete_model_alias\",\"arguments\":{\"name\":\"m\",\"alias\":\"challenger\"}}}", &d);
    CHECK(d.verdict == VERDICT_ALLOW);
    rate_store_free(rs);
    policy_set_free(ps);
}

static void test_rate_limits(void)
{
    struct policy_set *ps = load("{\"version\":\"1\",\"tools\":{\"query_runs\":{\"rate_limit\":{\"max\":3,\"window\":60}},"
                                 "\"blocked\":{\"action\":\"deny\"}},\"all_tools\":{\"rate_limit\":{\"max\":5,\"window\":10}}}");
    struct rate_store *rs = rate_store_new();
    struct decision d;
    const char *q = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"query_runs\"}}";
    const char *other = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"other\"}}";
    const char *blocked = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"blocked\"}}";
    CHECK(decide_at(ps, rs, "A", 100, q, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "A", 101, q, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "A", 102, q, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "A", 103, q, &d) == VERDICT_RATE_LIMITED);    /* the 4th in the window */
    CHECK(d.retry_after > 56.9 && d.retry_after < 57.1);                  /* 100 + 60 - 103 */
    CHECK(strstr(d.reason, "retry in") != NULL);
    CHECK(decide_at(ps, rs, "B", 103, q, &d) == VERDICT_ALLOW);           /* another session starts fresh */
    CHECK(decide_at(ps, rs, "A", 160.5, q, &d) == VERDICT_ALLOW);         /* the first has left the window */
    CHECK(decide_at(ps, rs, "A", 160.6, q, &d) == VERDICT_RATE_LIMITED);  /* 101 and 102 still in it */
    /* all_tools: 5 in 10 s across tools, refused calls not counted */
    CHECK(decide_at(ps, rs, "C", 0, other, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "C", 0, blocked, &d) == VERDICT_DENY);
    CHECK(decide_at(ps, rs, "C", 1, q, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "C", 2, other, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "C", 3, other, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "C", 4, other, &d) == VERDICT_ALLOW);
    CHECK(decide_at(ps, rs, "C", 5, other, &d) == VERDICT_RATE_LIMITED);
    CHECK(strstr(d.reason, "across tools") != NULL);
    CHECK(decide_at(ps, rs, "C", 10.5, other, &d) == VERDICT_ALLOW);
    rate_store_free(rs);
    policy_set_free(ps);
}

static void test_filter_list(void)
{
    struct policy_set *ps = load("{\"version\":\"1\",\"hide\":[\"get_env\",\"debug_*\"]}");
    cJSON *result = cJSON_Parse("{\"tools\":[{\"name\":\"a\"},{\"name\":\"get_env\"},{\"name\":\"b\"},"
                                "{\"name\":\"debug_x\"}],\"nextCursor\":\"page2\"}");
    struct call_ctx ctx = {0};
    CHECK(policy_filter_list(ps, result, &ctx));
    char *out = cJSON_PrintUnformatted(result);
    CHECK_STR(out, "{\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}],\"nextCursor\":\"page2\"}");
    free(out);
    CHECK(!policy_filter_list(ps, result, &ctx));
    cJSON_Delete(result);
    policy_set_free(ps);
}

struct load_error {
    const char *text;
    const char *want;   /* a substring of the message */
};

static const struct load_error load_errors[] = {
    {"{\"version\":\"2\"}", "/version: must be \"1\""},
    {"{\"version\":\"1\",\"hidden\":[]}", "/hidden: unknown field"},
    {"{\"version\":\"1\",\"default\":\"maybe\"}", "/default: must be"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"action\":\"deny\"},\"a\":{}}}", "/tools/a: given twice"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"acton\":\"deny\"}}}", "/tools/a/acton: unknown field"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"action\":\"block\"}}}", "/tools/a/action: must be"},
    {"{\"version\":\"1\",\"tools\":{\"delete_model_alias\":{\"deny_if\":[{\"arg\":\"alias\",\"is\":\"x\"}]}}}",
     ":1:73 /tools/delete_model_alias/deny_if/0/is: unknown field \"is\" (did you mean \"in\"?)"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"deny_if\":[{\"arg\":\"x\"}]}}}", ":1:41 /tools/a/deny_if/0: needs an operator"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"deny_if\":[{\"arg\":\"x\",\"in\":\"y\"}]}}}", "/tools/a/deny_if/0/in: needs an array"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"require\":[{\"arg\":\"x\",\"lt\":\"5\"}]}}}", "/tools/a/require/0/lt: compares with a number"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"require\":[{\"arg\":\"x\",\"matches\":\"[a\"}]}}}", "/tools/a/require/0/matches"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"rate_limit\":{\"max\":0,\"window\":60}}}}", "/tools/a/rate_limit/max"},
    {"{\"version\":\"1\",\"tools\":{\"a\":{\"rate_limit\":{\"max\":5}}}}", "/tools/a/rate_limit/window"},
    {"{\"version\":\"1\",\"hide\":[\"[x\"]}", "/hide/0"},
    {"{\"version\":\"1\",", "not valid JSON"},
};

static void test_load_errors(void)
{
    for (size_t i = 0; i < sizeof load_errors / sizeof *load_errors; i++) {
        const char *files[] = {write_policy(3, load_errors[i].text)};
        char err[4096];
        struct policy_set *ps = policy_set_load(files, 1, NULL, "s", err, sizeof err);
        CHECK(ps == NULL);
        if (!strstr(err, load_errors[i].want))
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, err, load_errors[i].want);
        CHECK(strstr(err, load_errors[i].want) != NULL);
        CHECK(strncmp(err, files[0], strlen(files[0])) == 0);   /* the message names the file */
        policy_set_free(ps);
    }
    /* every problem of a file is reported, not only the first */
    const char *files[] = {write_policy(3, "{\"version\":\"3\",\"bogus\":1,\"default\":\"x\"}")};
    char err[4096];
    CHECK(policy_set_load(files, 1, NULL, "s", err, sizeof err) == NULL);
    CHECK(strstr(err, "/version") && strstr(err, "/bogus") && strstr(err, "/default"));
    /* each problem at its line and column, tool names escaped in the pointer (~0, ~1) */
    files[0] = write_policy(3, "{\n"
                               "  \"version\": \"1\",\n"
                               "  \"tools\": {\n"
                               "    \"a/b~c\": {\"deny_if\": [{\"arg\": \"x\", \"lt\": \"5\"}, {\"arg\": \"x..y\", \"eq\": 1}]},\n"
                               "    \"d\": {\"action\": \"allow\", \"rate_limit\": {\"max\": 5, \"window\": -1, \"burst\": 2}},\n"
                               "    \"e\": [],\n"
                               "    \"[x\": {}\n"
                               "  },\n"
                               "  \"all_tools\": {\"rate_limit\": {\"max\": 5}}\n"
                               "}\n");
    CHECK(policy_set_load(files, 1, NULL, "s", err, sizeof err) == NULL);
    char want[2048];
    snprintf(want, sizeof want,
             "%s:4:46 /tools/a~1b~0c/deny_if/0/lt: compares with a number\n"
             "%s:4:60 /tools/a~1b~0c/deny_if/1/arg: the argument path \"x..y\" has an empty segment\n"
             "%s:5:65 /tools/d/rate_limit/window: must be a number of seconds, more than 0 and at most 31622400\n"
             "%s:5:69 /tools/d/rate_limit/burst: unknown field \"burst\" (known: max, window, per)\n"
             "%s:6:10 /tools/e: a tool rule is an object (use {} to allow under \"default\": \"deny\")\n"
             "%s:7:5 /tools/[x: a tool name or a glob with every [ closed\n"
             "%s:9:31 /all_tools/rate_limit/window: is missing; it must be a number of seconds, more than 0 and at "
             "most 31622400",
             files[0], files[0], files[0], files[0], files[0], files[0], files[0]);
    CHECK_STR(err, want);
    /* warden check: 0 when all are good, 1 otherwise */
    char *good = strdup(write_policy(4, "{\"version\":\"1\"}"));
    char *bad = strdup(write_policy(5, "{\"version\":\"1\",\"x\":1}"));
    char *argv_good[] = {"check", good, NULL};
    char *argv_bad[] = {"check", good, bad, NULL};
    CHECK(authoring_check_main(2, argv_good) == 0);
    CHECK(authoring_check_main(3, argv_bad) == 1);
    free(good);
    free(bad);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    test_glob();
    test_precedence();
    test_operators();
    test_reasons();
    test_rate_limits();
    test_filter_list();
    test_load_errors();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
