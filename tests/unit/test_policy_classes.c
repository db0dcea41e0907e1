/* Risk classes in policies: "classes" rules and "classes_of" overrides,
 * precedence exact name > glob > class > all_tools > default, the class a
 * decision reports, Lua's call.tool_class, and the metric label. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "jsonrpc.h"
#include "metrics.h"
#include "policy.h"
#include "ratelimit.h"
#include "sharedstore.h"

static char dir[] = "/tmp/warden-test-classes-XXXXXX";

static const char *write_file(int slot, const char *ext, const char *text)
{
    static char paths[8][128];
    snprintf(paths[slot], sizeof paths[slot], "%s/p%d.%s", dir, slot, ext);
    FILE *f = fopen(paths[slot], "w");
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

static struct policy_set *load_files(const char *const *files, size_t n, char *err, size_t errlen)
{
    return policy_set_load(files, n, NULL, "s", err, errlen);
}

static struct policy_set *load(const char *text)
{
    const char *files[] = {write_file(0, "json", text)};
    char err[4096];
    struct policy_set *ps = load_files(files, 1, err, sizeof err);
    if (!ps)
        fprintf(stderr, "load failed: %s\n", err);
    return ps;
}

/* Decides a call of tool (no arguments) as a tool of class observed. */
static enum verdict decide(struct policy_set *ps, struct rate_store *rs, const char *tool, enum risk_class observed,
                           struct decision *d)
{
    char text[512];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"}}",
             tool);
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(text, strlen(text), NULL, &m, &e) < 0)
        return VERDICT_ERROR;
    struct call_ctx ctx = {.server = "s", .session = "sess", .session_len = 4, .client_addr = "c", .now = 100,
                           .tool_class = observed};
    policy_decide(ps, rs, &m, &ctx, d);
    rpc_msg_clear(&m);
    return d->verdict;
}

static void test_precedence(void)
{
    struct policy_set *ps = load("{\"version\":\"1\",\"default\":\"allow\","
        "\"tools\":{\"delete_keep\":{},\"delete_glob_*\":{\"action\":\"allow\"},\"get_secret\":{\"action\":\"deny\"}},"
        "\"classes\":{\"destructive\":{\"action\":\"deny\",\"reason\":\"no destruction\"},"
        "\"write\":{\"rate_limit\":{\"max\":1,\"window\":60}}},"
        "\"all_tools\":{\"rate_limit\":{\"max\":100,\"window\":60}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    struct rate_store *rs = rate_store_new();
    struct decision d;
    /* class from the name alone (no list seen) */
    CHECK(decide(ps, rs, "delete_model_alias", RISK_NONE, &d) == VERDICT_DENY);
    CHECK(d.tool_class == RISK_DESTRUCTIVE);
    CHECK(strstr(d.reason, "no destruction") != NULL);
    CHECK(strstr(d.reason, "classes.destructive") != NULL);
    CHECK(strstr(d.rule, "/classes/destructive") != NULL);
    CHECK(decide(ps, rs, "get_registered_model", RISK_NONE, &d) == VERDICT_ALLOW);
    CHECK(d.tool_class == RISK_READ);
    /* exact name and glob win over the class */
    CHECK(decide(ps, rs, "delete_keep", RISK_NONE, &d) == VERDICT_ALLOW);
    CHECK(d.tool_class == RISK_DESTRUCTIVE);
    CHECK(decide(ps, rs, "delete_glob_x", RISK_NONE, &d) == VERDICT_ALLOW);
    /* the class over the default, and an exact deny over a read class */
    CHECK(decide(ps, rs, "get_secret", RISK_READ, &d) == VERDICT_DENY);
    /* the class warden learnt from the list decides, not the name */
    CHECK(decide(ps, rs, "get_thing", RISK_DESTRUCTIVE, &d) == VERDICT_DENY);
    CHECK(decide(ps, rs, "delete_thing", RISK_READ, &d) == VERDICT_ALLOW);
    /* unknown without an "unknown" rule takes the destructive one */
    CHECK(decide(ps, rs, "frobnicate", RISK_NONE, &d) == VERDICT_DENY);
    CHECK(d.tool_class == RISK_UNKNOWN);
    /* a class rule's rate limit counts per tool */
    CHECK(decide(ps, rs, "set_a", RISK_NONE, &d) == VERDICT_ALLOW);
    CHECK(decide(ps, rs, "set_a", RISK_NONE, &d) == VERDICT_RATE_LIMITED);
    CHECK(strstr(d.reason, "/classes/write/rate_limit") != NULL);
    CHECK(d.tool_class == RISK_WRITE);
    CHECK(decide(ps, rs, "set_b", RISK_NONE, &d) == VERDICT_ALLOW);
    rate_store_free(rs);
    policy_set_free(ps);

    /* default deny: a class rule allows what no tool rule names; no class rule leaves the default */
    ps = load("{\"version\":\"1\",\"default\":\"deny\",\"classes\":{\"read\":{},\"unknown\":{\"action\":\"require_approval\"}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    rs = rate_store_new();
    CHECK(decide(ps, rs, "list_x", RISK_NONE, &d) == VERDICT_ALLOW);
    CHECK(decide(ps, rs, "set_x", RISK_NONE, &d) == VERDICT_DENY);
    CHECK(decide(ps, rs, "frob", RISK_NONE, &d) == VERDICT_APPROVAL);
    CHECK(strstr(d.reason, "classes.unknown") != NULL);
    CHECK(policy_set_uses_classes(ps));
    rate_store_free(rs);
    policy_set_free(ps);
    ps = load("{\"version\":\"1\",\"classes_of\":{\"x\":\"read\"},\"tools\":{\"x\":{}}}");
    CHECK(ps && !policy_set_uses_classes(ps));
    policy_set_free(ps);
    CHECK(!policy_set_uses_classes(NULL));
}

static void test_overrides(void)
{
    struct policy_set *ps = load("{\"version\":\"1\",\"classes_of\":{\"transition_*\":\"destructive\","
        "\"transition_model_*\":\"write\",\"transition_model_version_stage\":\"destructive\",\"health\":\"read\","
        "\"frob\":\"write\"},\"classes\":{\"destructive\":{\"action\":\"require_approval\"}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    CHECK(policy_tool_class(ps, "transition_model_version_stage", RISK_READ) == RISK_DESTRUCTIVE);
    CHECK(policy_tool_class(ps, "transition_model_x", RISK_READ) == RISK_WRITE);      /* the longer glob */
    CHECK(policy_tool_class(ps, "transition_x", RISK_NONE) == RISK_DESTRUCTIVE);
    CHECK(policy_tool_class(ps, "frob", RISK_UNKNOWN) == RISK_WRITE);
    CHECK(policy_tool_class(ps, "get_x", RISK_DESTRUCTIVE) == RISK_DESTRUCTIVE);       /* no override: observed */
    CHECK(policy_tool_class(ps, "get_x", RISK_NONE) == RISK_READ);                     /* nothing: the name */
    CHECK(policy_tool_class(NULL, "delete_x", RISK_NONE) == RISK_DESTRUCTIVE);
    struct rate_store *rs = rate_store_new();
    struct decision d;
    CHECK(decide(ps, rs, "transition_model_version_stage", RISK_WRITE, &d) == VERDICT_APPROVAL);
    CHECK(decide(ps, rs, "frob", RISK_NONE, &d) == VERDICT_ALLOW);
    rate_store_free(rs);
    policy_set_free(ps);
}

static void test_load_errors(void)
{
    const char *bad[] = {
        "{\"version\":\"1\",\"classes\":{\"dangerous\":{}}}",
        "{\"version\":\"1\",\"classes\":{\"read\":{\"action\":\"maybe\"}}}",
        "{\"version\":\"1\",\"classes\":{\"read\":[]}}",
        "{\"version\":\"1\",\"classes\":{\"read\":{},\"read\":{}}}",
        "{\"version\":\"1\",\"classes\":[]}",
        "{\"version\":\"1\",\"classes_of\":{\"x\":\"harmless\"}}",
        "{\"version\":\"1\",\"classes_of\":{\"x\":1}}",
        "{\"version\":\"1\",\"classes_of\":{\"[x\":\"read\"}}",
        "{\"version\":\"1\",\"classes_of\":{\"x\":\"read\",\"x\":\"write\"}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *files[] = {write_file(1, "json", bad[i])};
        char err[4096] = "";
        struct policy_set *ps = load_files(files, 1, err, sizeof err);
        CHECK(ps == NULL);
        CHECK(strstr(err, "/classes") != NULL);
        policy_set_free(ps);
    }
}

/* Lua reads call.tool_class: the class the JSON policies' overrides give. */
static void test_lua(void)
{
    const char *files[] = {
        write_file(2, "json", "{\"version\":\"1\",\"classes_of\":{\"odd_tool\":\"destructive\"}}"),
        write_file(3, "lua", "return {on_call = function(call)\n"
                             "  if call.tool_class == 'destructive' then return warden.deny('class ' .. call.tool_class) end\n"
                             "end}\n"),
    };
    char err[4096];
    struct shared_store *shared = shared_store_new(NULL);
    struct policy_set *ps = policy_set_load(files, 2, shared, "s", err, sizeof err);
    CHECK(ps != NULL);
    if (ps) {
        struct rate_store *rs = rate_store_new();
        struct decision d;
        CHECK(decide(ps, rs, "odd_tool", RISK_READ, &d) == VERDICT_DENY);
        CHECK(strstr(d.reason, "class destructive") != NULL);
        CHECK(d.tool_class == RISK_DESTRUCTIVE);
        CHECK(decide(ps, rs, "get_x", RISK_NONE, &d) == VERDICT_ALLOW);
        CHECK(d.tool_class == RISK_READ);
        CHECK(policy_set_uses_classes(ps));
        rate_store_free(rs);
        policy_set_free(ps);
    }
    shared_store_free(shared);
}

static void test_metric_label(void)
{
    struct metrics *m = metrics_new();
    metrics_tool_call(m, "srv", "delete_x", "destructive", "deny");
    metrics_tool_call(m, "srv", "delete_x", "nonsense", "deny");
    metrics_call(m, "srv", "get_x", "allow");
    struct evbuffer *b = evbuffer_new();
    metrics_render(m, b);
    size_t len = evbuffer_get_length(b);
    char *text = calloc(1, len + 1);
    evbuffer_copyout(b, text, len);
    CHECK(strstr(text, "\nwarden_tool_calls_total{server=\"srv\",tool=\"delete_x\",class=\"destructive\",decision=\"deny\"} 1\n") != NULL);
    CHECK(strstr(text, "\nwarden_tool_calls_total{server=\"srv\",tool=\"delete_x\",class=\"unknown\",decision=\"deny\"} 1\n") != NULL);
    CHECK(strstr(text, "\nwarden_tool_calls_total{server=\"srv\",tool=\"get_x\",decision=\"allow\"} 1\n") != NULL);
    free(text);
    evbuffer_free(b);
    metrics_free(m);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_precedence();
    test_overrides();
    test_load_errors();
    test_lua();
    test_metric_label();
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
