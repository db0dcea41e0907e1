/* A call's arguments and params reach the policies as text (rpc_parse keeps
 * no tree): their trees are built only for the rules and scripts that read
 * them, and what those read is what the text holds. Lua's bounds on the
 * arguments hold whether or not the script reads them. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "jsonrpc.h"
#include "policy.h"
#include "policy_file.h"
#include "ratelimit.h"

static char dir[] = "/tmp/warden-test-lazy-XXXXXX";

struct outcome {
    enum verdict verdict;
    bool args_tree, params_tree; /* built while deciding */
    char reason[512];
};

/* Decides the message text under lim, and tells which trees were built. */
static struct outcome decide(struct policy_set *ps, const char *text, const struct rpc_limits *lim)
{
    struct outcome o = {.verdict = VERDICT_ERROR};
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(text, strlen(text), lim, &m, &e) < 0) {
        fprintf(stderr, "bad test message: %s\n", e.message);
        return o;
    }
    struct rate_store *rs = rate_store_new();
    struct call_ctx ctx = {.server = "s", .session = "sess", .session_len = 4, .client_addr = "c", .now = 100};
    struct decision d;
    policy_decide(ps, rs, &m, &ctx, &d);
    o.verdict = d.verdict == VERDICT_NONE ? VERDICT_ALLOW : d.verdict;
    o.args_tree = m.args_tree != NULL;
    o.params_tree = m.params_tree != NULL;
    snprintf(o.reason, sizeof o.reason, "%s", d.reason);
    rate_store_free(rs);
    rpc_msg_clear(&m);
    return o;
}

#define CALL(tool, rest) \
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"" tool "\"" rest "}}"

static void test_json_rules(void)
{
    struct policy_set *ps = policy_from_text(dir, "p.json", "{\"version\":\"1\",\"tools\":{\"delete_model_alias\":{\"deny_if\":"
                                           "[{\"arg\":\"alias\",\"eq\":\"champion\"}],\"reason\":\"protected\"}}}");
    CHECK(ps != NULL);
    if (!ps)
        return;
    /* No rule of this tool reads an argument: no tree. */
    struct outcome o = decide(ps, CALL("get_model_version_by_alias", ",\"arguments\":{\"alias\":\"champion\"}"), NULL);
    CHECK(o.verdict == VERDICT_ALLOW && !o.args_tree && !o.params_tree);
    o = decide(ps, CALL("delete_model_alias", ",\"arguments\":{\"alias\":\"challenger\"}"), NULL);
    CHECK(o.verdict == VERDICT_ALLOW && o.args_tree && !o.params_tree);
    /* The tree is of the decoded text. */
    o = decide(ps, CALL("delete_model_alias", ",\"arguments\":{\"alias\":\"ch\\u0061mpion\"}"), NULL);
    CHECK(o.verdict == VERDICT_DENY && strstr(o.reason, "protected"));
    o = decide(ps, CALL("delete_model_alias", ""), NULL);
    CHECK(o.verdict == VERDICT_ALLOW && !o.args_tree);
    policy_set_free(ps);
}

/* A call whose argument "a" is `depth` arrays, one in another: its
 * innermost value is `depth` levels below the arguments object. */
static const char *nested_call(char *buf, size_t cap, int depth)
{
    int n = snprintf(buf, cap, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                               "{\"name\":\"get_x\",\"arguments\":{\"a\":");
    for (int i = 0; i < 2 * depth && (size_t)n < cap; i++)
        buf[n++] = i < depth ? '[' : ']';
    snprintf(buf + n, cap - (size_t)n, "}}}");
    return buf;
}

static void test_lua(void)
{
    struct policy_set *ps = policy_from_text(dir, "p.lua", "return { on_call = function(call)\n"
                                          "  if call.tool == 'delete_model_alias' and call.args.alias == 'champion' then\n"
                                          "    return warden.deny('protected') end\n"
                                          "  if call.tool == 'meta' and call.meta.progressToken == 7 then\n"
                                          "    return warden.deny('token seven') end\n"
                                          "end }\n");
    CHECK(ps != NULL);
    if (!ps)
        return;
    struct outcome o = decide(ps, CALL("get_model_version_by_alias", ",\"arguments\":{\"alias\":\"champion\"}"), NULL);
    CHECK(o.verdict == VERDICT_ALLOW && !o.args_tree && !o.params_tree);
    o = decide(ps, CALL("delete_model_alias", ",\"arguments\":{\"alias\":\"champion\"}"), NULL);
    CHECK(o.verdict == VERDICT_DENY && o.args_tree && !o.params_tree);
    o = decide(ps, CALL("meta", ",\"_meta\":{\"progressToken\":7}"), NULL);
    CHECK(o.verdict == VERDICT_DENY && strstr(o.reason, "token seven") && o.params_tree && !o.args_tree);
    o = decide(ps, CALL("meta", ",\"_meta\":{\"progressToken\":\"7\"}"), NULL);
    CHECK(o.verdict == VERDICT_ALLOW);

    /* Deeper than Lua takes (a value 129 levels below the arguments),
     * refused before the script runs, which never reads them: measured by
     * rpc_parse, without a tree. At 128 it runs. */
    char deep[512];
    struct rpc_limits lim = {.max_depth = 200};
    o = decide(ps, nested_call(deep, sizeof deep, 129), &lim);
    CHECK(o.verdict == VERDICT_ERROR && strstr(o.reason, "argument too large") && !o.args_tree);
    o = decide(ps, nested_call(deep, sizeof deep, 128), &lim);
    CHECK(o.verdict == VERDICT_ALLOW && !o.args_tree);
    policy_set_free(ps);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    test_json_rules();
    test_lua();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
