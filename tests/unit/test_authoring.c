/* Unit tests of the policy author's features (issue 16): the regex and path
 * operators, shadow policies, the decision trace, tools/list under default
 * deny, lint warnings, and warden check / explain exit codes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "audit.h"
#include "authoring.h"
#include "check.h"
#include "config.h"
#include "jsonrpc.h"
#include "metrics.h"
#include "pathnorm.h"
#include "policy.h"
#include "ratelimit.h"
#include "sharedstore.h"
#include <event2/buffer.h>

static char dir[] = "/tmp/warden-test-authoring-XXXXXX";

/* Writes a file in the test directory and returns its path (static buffer per slot). */
static const char *write_file(int slot, const char *ext, const char *text)
{
    static char paths[16][128];
    snprintf(paths[slot], sizeof paths[slot], "%s/f%d.%s", dir, slot, ext);
    FILE *f = fopen(paths[slot], "w");
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

static struct policy_set *load_opts(const char *const *files, size_t n, struct policy_load_opts *opts, char *err,
                                    size_t errlen)
{
    struct policy_set *ps = policy_set_load_opts(files, n, NULL, "s", opts, err, errlen);
    if (!ps)
        fprintf(stderr, "load failed: %s\n", err);
    return ps;
}

static struct policy_set *load1(const char *text)
{
    const char *files[] = {write_file(0, "json", text)};
    char err[4096];
    return load_opts(files, 1, NULL, err, sizeof err);
}

/* Decides tool(args) in session "sess" at time now; trace may be NULL. */
static enum verdict decide_t(struct policy_set *ps, struct rate_store *rs, const char *tool, const char *args,
                             double now, struct decision *d, struct policy_trace *t)
{
    cJSON *a = cJSON_Parse(args ? args : "{}");
    char *text = authoring_call_text(tool, a, 1);
    cJSON_Delete(a);
    struct rpc_msg m;
    struct rpc_error e;
    if (!text || rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        free(text);
        return VERDICT_ERROR;
    }
    struct call_ctx ctx = {.server = "s", .session = "sess", .session_len = 4, .client_addr = "c", .now = now};
    policy_decide_traced(ps, rs, &m, &ctx, d, t);
    rpc_msg_clear(&m);
    free(text);
    return d->verdict;
}

static enum verdict decide(struct policy_set *ps, const char *tool, const char *args)
{
    struct rate_store *rs = rate_store_new();
    struct decision d;
    enum verdict v = decide_t(ps, rs, tool, args, 100, &d, NULL);
    rate_store_free(rs);
    return v;
}

static void test_regex(void)
{
    struct policy_set *ps = load1("{\"version\":\"1\",\"tools\":{"
                                  "\"run\":{\"deny_if\":[{\"arg\":\"cmd\",\"regex\":\"rm\\\\s+-rf\"}]},"
                                  "\"set\":{\"require\":[{\"arg\":\"v\",\"regex\":\"^[0-9]+$\"}]},"
                                  "\"slow\":{\"deny_if\":[{\"arg\":\"s\",\"regex\":\"^(a+)+$\"}]}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    CHECK(decide(ps, "run", "{\"cmd\":\"sudo rm   -rf /\"}") == VERDICT_DENY);   /* anywhere, unanchored */
    CHECK(decide(ps, "run", "{\"cmd\":\"ls -l\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "run", "{\"cmd\":5}") == VERDICT_ALLOW);                    /* not a string: does not hold */
    CHECK(decide(ps, "set", "{\"v\":\"42\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "set", "{\"v\":\"2; drop\"}") == VERDICT_DENY);             /* anchored: the whole value */
    CHECK(decide(ps, "set", "{}") == VERDICT_DENY);
    CHECK(decide(ps, "run", "{\"cmd\":\"caf\\u00e9 rm -rf\"}") == VERDICT_DENY);
    /* catastrophic backtracking stops at the match limit, and fails closed (denied) */
    char args[200] = "{\"s\":\"";
    memset(args + 6, 'a', 60);
    strcpy(args + 66, "b\"}");
    struct rate_store *rs = rate_store_new();
    struct decision d;
    CHECK(decide_t(ps, rs, "slow", args, 100, &d, NULL) == VERDICT_DENY);
    CHECK(strstr(d.reason, "could not finish") != NULL);
    rate_store_free(rs);
    policy_set_free(ps);

    /* a compile error names the file, line, column, pointer and offset */
    const char *files[] = {write_file(1, "json", "{\"version\":\"1\",\"tools\":{\"a\":{\"deny_if\":[\n"
                                                 "  {\"arg\":\"x\",\"regex\":\"ab(c\"}]}}}")};
    char err[1024];
    CHECK(policy_set_load(files, 1, NULL, "s", err, sizeof err) == NULL);
    char want[256];
    snprintf(want, sizeof want, "%s:2:22 /tools/a/deny_if/0/regex: the regex does not compile: ", files[0]);
    CHECK(strncmp(err, want, strlen(want)) == 0);
    CHECK(strstr(err, "at offset 4") != NULL);
}

static void test_paths(void)
{
    char out[64];
    const char *why;
    CHECK(path_normalize("/a//b/./c/../d", 14, out, sizeof out, &why) == 6 && strcmp(out, "/a/b/d") == 0);
    CHECK(path_normalize("/", 1, out, sizeof out, &why) == 1 && strcmp(out, "/") == 0);
    CHECK(path_normalize("/a/..", 5, out, sizeof out, &why) == 1 && strcmp(out, "/") == 0);
    CHECK(path_normalize("/..", 3, out, sizeof out, &why) < 0);
    CHECK(path_normalize("a/b", 3, out, sizeof out, &why) < 0 && strcmp(why, "relative path") == 0);
    CHECK(path_normalize("/a\0b", 4, out, sizeof out, &why) < 0);
    CHECK(path_normalize("/a\\b", 4, out, sizeof out, &why) < 0);
    CHECK(path_is_under("/srv/data/x", 11, "/srv/data"));
    CHECK(!path_is_under("/srv/data2", 10, "/srv/data"));
    CHECK(path_is_under("/etc", 4, "/"));

    struct policy_set *ps = load1("{\"version\":\"1\",\"tools\":{"
                                  "\"read\":{\"require\":[{\"arg\":\"path\",\"path_under\":[\"/srv/data/\",\"/tmp\"]}]},"
                                  "\"csv\":{\"require\":[{\"arg\":\"path\",\"path_matches\":\"/srv/**/*.csv\"}]},"
                                  "\"rm\":{\"deny_if\":[{\"arg\":\"path\",\"path_under\":\"/etc\"}]}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    CHECK(decide(ps, "read", "{\"path\":\"/srv/data/a.txt\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "read", "{\"path\":\"/srv/data\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "read", "{\"path\":\"/srv/data/../../etc/passwd\"}") == VERDICT_DENY);
    CHECK(decide(ps, "read", "{\"path\":\"/srv/data2/x\"}") == VERDICT_DENY);
    CHECK(decide(ps, "read", "{\"path\":\"data/a.txt\"}") == VERDICT_DENY);        /* relative: under nothing */
    CHECK(decide(ps, "read", "{\"path\":\"/tmp//x\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "csv", "{\"path\":\"/srv/a/b.csv\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "csv", "{\"path\":\"/srv/a/../../b.csv\"}") == VERDICT_DENY);
    CHECK(decide(ps, "rm", "{\"path\":\"/tmp/../etc/shadow\"}") == VERDICT_DENY);
    CHECK(decide(ps, "rm", "{\"path\":\"/tmp/x\"}") == VERDICT_ALLOW);
    policy_set_free(ps);

    const char *files[] = {write_file(1, "json", "{\"version\":\"1\",\"tools\":{\"a\":{\"require\":["
                                                 "{\"arg\":\"p\",\"path_under\":\"srv\"},"
                                                 "{\"arg\":\"p\",\"path_matches\":\"*.csv\"}]}}}")};
    char err[1024];
    CHECK(policy_set_load(files, 1, NULL, "s", err, sizeof err) == NULL);
    CHECK(strstr(err, "/tools/a/require/0/path_under: needs an absolute path") != NULL);
    CHECK(strstr(err, "/tools/a/require/1/path_matches: needs a glob of absolute paths") != NULL);
}

static void test_shadow(void)
{
    const char *enforced = write_file(2, "json", "{\"version\":\"1\",\"tools\":{\"q\":{\"rate_limit\":{\"max\":2,\"window\":60}}}}");
    const char *shadow = write_file(3, "json", "{\"version\":\"1\",\"mode\":\"shadow\",\"hide\":[\"secret\"],\"tools\":{"
                                               "\"delete_model_alias\":{\"action\":\"deny\"},"
                                               "\"q\":{\"rate_limit\":{\"max\":1,\"window\":60}}}}");
    const char *files[] = {enforced, shadow};
    char err[2048];
    struct policy_set *ps = load_opts(files, 2, NULL, err, sizeof err);
    CHECK(ps && policy_set_has_shadow(ps));
    if (!ps)
        return;
    struct rate_store *rs = rate_store_new();
    struct decision d;
    CHECK(decide_t(ps, rs, "delete_model_alias", "{\"alias\":\"champion\"}", 100, &d, NULL) == VERDICT_ALLOW);
    CHECK(d.shadow.present && d.shadow.verdict == VERDICT_DENY);
    CHECK(strstr(d.shadow.rule, "/tools/delete_model_alias") != NULL);
    /* a shadow hide refuses nothing and lists everything */
    CHECK(decide_t(ps, rs, "secret", NULL, 100, &d, NULL) == VERDICT_ALLOW && d.shadow.verdict == VERDICT_HIDDEN);
    CHECK(policy_tool_listed(ps, "secret", 6, NULL));
    CHECK(!policy_set_filters_lists(ps));
    /* the shadow limit (1) counts apart from the enforced one (2) */
    CHECK(decide_t(ps, rs, "q", NULL, 100, &d, NULL) == VERDICT_ALLOW && d.shadow.verdict == VERDICT_ALLOW);
    CHECK(decide_t(ps, rs, "q", NULL, 101, &d, NULL) == VERDICT_ALLOW && d.shadow.verdict == VERDICT_RATE_LIMITED);
    CHECK(decide_t(ps, rs, "q", NULL, 102, &d, NULL) == VERDICT_RATE_LIMITED);
    rate_store_free(rs);
    policy_set_free(ps);

    /* --shadow-policy: a file is shadow because the loader says so; a Lua one too */
    const char *lua = write_file(4, "lua", "return { on_call = function(call)\n"
                                           "  if call.tool == 'drop' then return warden.deny('no') end\n"
                                           "end }\n");
    const char *lua_self = write_file(5, "lua", "return { mode = 'shadow', on_call = function(call)\n"
                                                "  return warden.deny('shadow says no')\n"
                                                "end }\n");
    const char *plain[] = {enforced};
    const char *shadows[] = {lua};
    struct policy_load_opts opts = {.shadow = shadows, .nshadow = 1};
    ps = load_opts(plain, 1, &opts, err, sizeof err);
    CHECK(ps != NULL);
    if (ps) {
        rs = rate_store_new();
        CHECK(decide_t(ps, rs, "drop", NULL, 100, &d, NULL) == VERDICT_ALLOW && d.shadow.verdict == VERDICT_DENY);
        CHECK(strstr(d.shadow.rule, ":2") != NULL);
        CHECK(decide_t(ps, rs, "keep", NULL, 100, &d, NULL) == VERDICT_ALLOW && d.shadow.verdict == VERDICT_ALLOW);
        rate_store_free(rs);
        policy_set_free(ps);
    }
    const char *both[] = {enforced, lua_self};
    ps = load_opts(both, 2, NULL, err, sizeof err);
    CHECK(ps && policy_set_has_shadow(ps));
    if (ps) {
        rs = rate_store_new();
        CHECK(decide_t(ps, rs, "x", NULL, 100, &d, NULL) == VERDICT_ALLOW && d.shadow.verdict == VERDICT_DENY);
        rate_store_free(rs);
        policy_set_free(ps);
    }
    /* without shadow policies, decisions carry none */
    ps = load_opts(plain, 1, NULL, err, sizeof err);
    rs = rate_store_new();
    CHECK(ps && decide_t(ps, rs, "x", NULL, 100, &d, NULL) == VERDICT_ALLOW && !d.shadow.present);
    rate_store_free(rs);
    policy_set_free(ps);
    const char *bad_mode = write_file(6, "json", "{\"version\":\"1\",\"mode\":\"dry-run\"}");
    CHECK(policy_set_load(&bad_mode, 1, NULL, "s", err, sizeof err) == NULL && strstr(err, "/mode") != NULL);
}

/* The audit line and the metrics of a shadow decision. */
static void test_shadow_outputs(void)
{
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/audit.log", dir);
    struct audit_log *a = audit_open(path, NULL, err, sizeof err);
    CHECK(a != NULL);
    if (!a)
        return;
    struct audit_event ev = {.server = "s", .tool = "t", .decision = "allow", .status = -1, .is_error = -1,
                             .latency_ms = -1, .shadow_decision = "deny", .shadow_rule = "p.json:/tools/t"};
    audit_write(a, &ev);
    ev.shadow_decision = NULL;
    audit_write(a, &ev);
    audit_close(a);
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    char *second = strchr(buf, '\n');
    CHECK(second != NULL);
    if (second)
        *second++ = '\0';
    CHECK(strstr(buf, "\"reason\":null,\"shadow_decision\":\"deny\",\"shadow_rule\":\"p.json:/tools/t\",\"status\"") != NULL);
    CHECK(second && !strstr(second, "shadow"));

    struct metrics *m = metrics_new();
    metrics_shadow(m, "srv", "delete_model_alias", "deny");
    metrics_shadow(m, "srv", "delete_model_alias", "deny");
    struct evbuffer *out = evbuffer_new();
    metrics_render(m, out);
    evbuffer_add(out, "", 1);
    const char *text = (const char *)evbuffer_pullup(out, -1);
    CHECK(strstr(text, "warden_shadow_decisions_total{server=\"srv\",tool=\"delete_model_alias\",decision=\"deny\"} 2\n") != NULL);
    CHECK(!strstr(text, "warden_tool_calls_total{"));    /* a shadow decision is not a call's decision */
    evbuffer_free(out);
    metrics_free(m);
}

static void test_trace(void)
{
    struct policy_set *ps = load1("{\"version\":\"1\",\"hide\":[\"debug_*\"],\"tools\":{"
                                  "\"delete_model_alias\":{\"deny_if\":[{\"arg\":\"alias\",\"in\":[\"prod\"]}]},"
                                  "\"delete_*\":{\"action\":\"deny\"}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    char buf[4096];
    struct policy_trace t = {.buf = buf, .cap = sizeof buf};
    struct rate_store *rs = rate_store_new();
    struct decision d;
    CHECK(decide_t(ps, rs, "delete_model_alias", "{\"alias\":\"prod\"}", 100, &d, &t) == VERDICT_DENY);
    CHECK(strstr(buf, "/hide: does not hide delete_model_alias\n") != NULL);
    CHECK(strstr(buf, "/tools/delete_model_alias: applies to delete_model_alias (exact name)\n") != NULL);
    CHECK(strstr(buf, "/tools/delete_model_alias/deny_if/0: alias in [\"prod\"]: holds (the argument is \"prod\"): deny\n") != NULL);
    CHECK(strstr(buf, "decision: deny by ") != NULL);
    t.used = 0;
    CHECK(decide_t(ps, rs, "delete_run", NULL, 100, &d, &t) == VERDICT_DENY);
    CHECK(strstr(buf, "applies to delete_run (a glob; no exact rule names the tool)") != NULL);
    t.used = 0;
    CHECK(decide_t(ps, rs, "debug_x", NULL, 100, &d, &t) == VERDICT_HIDDEN);
    CHECK(strstr(buf, "/hide/0: \"debug_*\" hides debug_x: hide\n") != NULL);
    /* a small buffer is cut, never overrun */
    char tiny[40];
    struct policy_trace small = {.buf = tiny, .cap = sizeof tiny};
    decide_t(ps, rs, "delete_model_alias", "{\"alias\":\"x\"}", 100, &d, &small);
    CHECK(small.used < sizeof tiny && strlen(tiny) == small.used);
    rate_store_free(rs);
    policy_set_free(ps);
}

static void test_list(void)
{
    struct policy_set *ps = load1("{\"version\":\"1\",\"default\":\"deny\",\"tools\":{"
                                  "\"get_*\":{},\"drop\":{\"action\":\"deny\"},\"set\":{\"require\":[{\"arg\":\"v\",\"eq\":1}]}}}");
    CHECK(ps && policy_set_filters_lists(ps));
    if (!ps)
        return;
    CHECK(policy_tool_listed(ps, "get_run", 7, NULL));
    CHECK(policy_tool_listed(ps, "set", 3, NULL));      /* callable with the right arguments */
    CHECK(!policy_tool_listed(ps, "drop", 4, NULL));    /* denied whatever its arguments */
    CHECK(!policy_tool_listed(ps, "other", 5, NULL));   /* no rule under default deny */
    CHECK(!policy_tool_listed(ps, "get_run\0x", 9, NULL));
    cJSON *result = cJSON_Parse("{\"tools\":[{\"name\":\"get_run\"},{\"name\":\"drop\"},{\"name\":\"other\"},"
                                "{\"name\":\"set\"}],\"nextCursor\":\"c\"}");
    struct call_ctx ctx = {.server = "s"};
    CHECK(policy_filter_list(ps, result, &ctx));
    char *text = cJSON_PrintUnformatted(result);
    CHECK_STR(text, "{\"tools\":[{\"name\":\"get_run\"},{\"name\":\"set\"}],\"nextCursor\":\"c\"}");
    free(text);
    cJSON_Delete(result);
    policy_set_free(ps);

    ps = load1("{\"version\":\"1\",\"default\":\"deny\",\"list_denied\":true,\"tools\":{\"a\":{}}}");
    CHECK(ps && !policy_set_filters_lists(ps) && policy_tool_listed(ps, "b", 1, NULL));
    policy_set_free(ps);
    ps = load1("{\"version\":\"1\",\"tools\":{\"drop\":{\"action\":\"deny\"}}}");
    CHECK(ps && !policy_set_filters_lists(ps) && policy_tool_listed(ps, "drop", 4, NULL));   /* default allow lists all */
    policy_set_free(ps);
}

static void test_lint(void)
{
    const char *file = write_file(7, "json", "{\"version\":\"1\",\"hide\":[\"secret\"],\"tools\":{\n"
                                             "\"delete_*\":{\"action\":\"deny\"},\n"
                                             "\"delete_draft\":{},\n"
                                             "\"secret\":{},\n"
                                             "\"run\":{\"deny_if\":[{\"arg\":\"cmd\",\"matches\":\"^rm\\\\s+-rf.*$\"},\n"
                                             "                    {\"arg\":\"nope\",\"eq\":1}]},\n"
                                             "\"gone_*\":{},\n"
                                             "\"ok\":{\"deny_if\":[{\"arg\":\"name\",\"matches\":\"*.txt\"}]}}}");
    cJSON *tools = cJSON_Parse("[{\"name\":\"delete_draft\"},{\"name\":\"delete_x\"},{\"name\":\"secret\"},"
                               "{\"name\":\"ok\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"name\":{}}}},"
                               "{\"name\":\"run\",\"inputSchema\":{\"type\":\"object\",\"properties\":{\"cmd\":{}}}}]");
    char warnings[4096], err[1024];
    struct policy_load_opts opts = {.warnings = warnings, .warnlen = sizeof warnings, .tools = tools};
    struct policy_set *ps = load_opts(&file, 1, &opts, err, sizeof err);
    CHECK(ps != NULL);
    policy_set_free(ps);
    char want[4096];
    snprintf(want, sizeof want,
             "%s:5:42 /tools/run/deny_if/0/matches: warning: \"^rm\\s+-rf.*$\" looks like a regular expression, but "
             "matches takes a glob that must match the whole value (\"[0-9]*\" is a digit then anything); use \"regex\"\n"
             "%s:3:16 /tools/delete_draft: warning: replaces the glob rule \"delete_*\" for the tool delete_draft: "
             "that rule's action, conditions and limits never apply to it (repeat them here if they should)\n"
             "%s:4:10 /tools/secret: warning: the tool secret is hidden by /hide, so this rule never runs\n",
             file, file, file);
    CHECK(strncmp(warnings, want, strlen(want)) == 0);
    CHECK(strstr(warnings, "/tools/run/deny_if/1: warning: the tool run has no argument \"nope\" in its inputSchema") != NULL);
    CHECK(strstr(warnings, "/tools/gone_*: warning: matches no tool the server lists") != NULL);
    CHECK(!strstr(warnings, "/tools/ok"));      /* "*.txt" is a glob, and name is in the schema */
    CHECK(opts.nwarnings == 5);
    cJSON_Delete(tools);

    /* warden check: warnings pass, --strict fails them; --tools reads a tools/list answer */
    const char *tools_file = write_file(8, "json", "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"tools\":[{\"name\":\"x\"}]}}");
    char *argv1[] = {"check", (char *)file, NULL};
    char *argv2[] = {"check", "--strict", (char *)file, NULL};
    char *argv3[] = {"check", "--tools", (char *)tools_file, "--strict", (char *)file, NULL};
    char *argv4[] = {"check", "--bogus", (char *)file, NULL};
    char *argv5[] = {"check", "--tools", (char *)file, (char *)file, NULL};
    CHECK(authoring_check_main(2, argv1) == 0);
    CHECK(authoring_check_main(3, argv2) == 1);
    CHECK(authoring_check_main(5, argv3) == 1);
    CHECK(authoring_check_main(3, argv4) == 2);
    CHECK(authoring_check_main(4, argv5) == 2);   /* a policy is not a tools file */
    const char *clean = write_file(9, "json", "{\"version\":\"1\",\"tools\":{\"a\":{\"require\":[{\"arg\":\"v\",\"regex\":\"^[0-9]+$\"}]}}}");
    char *argv6[] = {"check", "--strict", (char *)clean, NULL};
    CHECK(authoring_check_main(3, argv6) == 0);
}

/* warden check --config: the config and every policy of every server. */
static void test_check_config(void)
{
    const char *pol = write_file(10, "json", "{\"version\":\"1\",\"tools\":{\"a\":{\"action\":\"deny\"}}}");
    const char *badpol = write_file(11, "json", "{\"version\":\"1\",\"tools\":{\"a\":{\"action\":\"nope\"}}}");
    char text[1024];
    snprintf(text, sizeof text, "{\"servers\":{\"one\":{\"url\":\"http://127.0.0.1:9\",\"policies\":[\"%s\"],"
                                "\"shadow_policies\":[\"%s\"]}}}", pol, pol);
    const char *good = write_file(12, "json", text);
    snprintf(text, sizeof text, "{\"servers\":{\"one\":{\"url\":\"http://127.0.0.1:9\",\"policies\":[\"%s\"]}}}", badpol);
    const char *bad = write_file(13, "json", text);
    const char *broken = write_file(14, "json", "{\"servers\":{\"one\":{\"url\":\"ftp://x\"}}}");
    char *a1[] = {"check", "--config", (char *)good, NULL};
    char *a2[] = {"check", "--config", (char *)bad, NULL};
    char *a3[] = {"check", "--config", (char *)broken, NULL};
    char *a4[] = {"check", (char *)good, NULL};
    CHECK(authoring_check_main(3, a1) == 0);
    CHECK(authoring_check_main(3, a2) == 1);
    CHECK(authoring_check_main(3, a3) == 1);
    CHECK(authoring_check_main(2, a4) == 1);   /* a config is not a policy */
}

/* --shadow-policy and shadow_policies reach the server's config. */
static void test_config_shadow(void)
{
    struct config cfg = {0};
    char err[1024];
    char *argv[] = {"--upstream", "http://127.0.0.1:9", "--policy", "a.json", "--shadow-policy", "b.json",
                    "--shadow-policy", "c.lua"};
    CHECK(config_from_args(8, argv, &cfg, err, sizeof err) == 0);
    CHECK(cfg.nservers == 1 && cfg.servers[0].npolicies == 1 && cfg.servers[0].nshadow_policies == 2);
    CHECK(cfg.nservers == 1 && strcmp(cfg.servers[0].shadow_policies[1], "c.lua") == 0);
    config_free(&cfg);
    const char *file = write_file(12, "json", "{\"servers\":{\"one\":{\"url\":\"http://127.0.0.1:9\","
                                              "\"shadow_policies\":[\"next.json\"]}}}");
    char *argv2[] = {"--config", (char *)file};
    memset(&cfg, 0, sizeof cfg);
    CHECK(config_from_args(2, argv2, &cfg, err, sizeof err) == 0);
    char want[256];
    snprintf(want, sizeof want, "%s/next.json", dir);
    CHECK(cfg.nservers == 1 && cfg.servers[0].nshadow_policies == 1 && cfg.servers[0].npolicies == 0);
    CHECK(cfg.nservers == 1 && cfg.servers[0].shadow_policies[0] && strcmp(cfg.servers[0].shadow_policies[0], want) == 0);
    config_free(&cfg);
    char *argv3[] = {"--config", (char *)file, "--shadow-policy", "x.json"};
    memset(&cfg, 0, sizeof cfg);
    CHECK(config_from_args(4, argv3, &cfg, err, sizeof err) < 0 && strstr(err, "--shadow-policy") != NULL);
    config_free(&cfg);
}

static void test_explain(void)
{
    const char *pol = write_file(15, "json", "{\"version\":\"1\",\"tools\":{\"a\":{\"action\":\"deny\"}}}");
    char *a1[] = {"explain", "--policy", (char *)pol, "--tool", "a", NULL};
    char *a2[] = {"explain", "--policy", (char *)pol, "--tool", "b", "--args", "{\"x\":1}", NULL};
    char *a3[] = {"explain", "--policy", (char *)pol, "--tool", "b", "--args", "[1]", NULL};
    char *a4[] = {"explain", "--tool", "b", NULL};
    char *a5[] = {"explain", "--shadow-policy", (char *)pol, "--tool", "a", NULL};
    CHECK(authoring_explain_main(5, a1) == 1);
    CHECK(authoring_explain_main(7, a2) == 0);
    CHECK(authoring_explain_main(7, a3) == 2);
    CHECK(authoring_explain_main(3, a4) == 2);
    CHECK(authoring_explain_main(5, a5) == 0);   /* shadow policies never refuse */
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    test_regex();
    test_paths();
    test_shadow();
    test_shadow_outputs();
    test_trace();
    test_list();
    test_lint();
    test_check_config();
    test_config_shadow();
    test_explain();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
