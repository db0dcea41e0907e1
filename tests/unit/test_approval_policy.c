/* What the policies tell approvals: a JSON rule's "approval" options and a
 * Lua warden.require_approval(reason, opts) reach decision.approval; a call
 * a person approved (call_ctx.approval_id) passes require_approval rules, JSON
 * and Lua, while every other rule still decides; bad options are refused at
 * load (JSON) or as the script's error (Lua). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "jsonrpc.h"
#include "policy.h"
#include "ratelimit.h"

static char dir[] = "/tmp/warden-test-approval-policy-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char paths[4][160];
    static int slot;
    char *p = paths[slot++ % 4];
    snprintf(p, 160, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

static struct policy_set *load(const char *name, const char *text, char *err, size_t errlen)
{
    const char *files[] = {write_file(name, text)};
    return policy_set_load(files, 1, NULL, "s", err, errlen);
}

static enum verdict decide(struct policy_set *ps, const char *tool, const char *args, const char *approval_id,
                           struct decision *d)
{
    char text[1024];
    snprintf(text, sizeof text,
             "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
             "\"arguments\":%s}}",
             tool, args);
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(text, strlen(text), NULL, &m, &e) < 0)
        return VERDICT_ERROR;
    struct rate_store *rs = rate_store_new();
    struct call_ctx ctx = {
        .server = "s", .session = "x", .session_len = 1, .client_addr = "c", .now = 1, .approval_id = approval_id};
    policy_decide(ps, rs, &m, &ctx, d);
    rate_store_free(rs);
    rpc_msg_clear(&m);
    return d->verdict;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    char err[4096];
    struct decision d;

    struct policy_set *ps = load("a.json",
                                 "{\"version\":\"1\",\"tools\":{"
                                 "\"deploy\":{\"action\":\"require_approval\",\"approval\":{\"hold\":0,\"ttl\":60,"
                                 "\"grant_ttl\":30,\"scope\":\"tool\"},"
                                 "\"deny_if\":[{\"arg\":\"env\",\"in\":[\"prod\"]}],\"reason\":\"prod is frozen\"},"
                                 "\"drop\":{\"action\":\"require_approval\"}}}",
                                 err, sizeof err);
    CHECK(ps != NULL);
    CHECK(decide(ps, "deploy", "{\"env\":\"dev\"}", NULL, &d) == VERDICT_APPROVAL);
    CHECK(d.approval.hold == 0 && d.approval.ttl == 60 && d.approval.grant_ttl == 30);
    CHECK(d.approval.scope == APPROVAL_SCOPE_TOOL);
    CHECK(decide(ps, "drop", "{}", NULL, &d) == VERDICT_APPROVAL);
    CHECK(d.approval.hold == 45 && d.approval.ttl == 900 && d.approval.grant_ttl == 600);
    CHECK(d.approval.scope == APPROVAL_SCOPE_CALL);
    /* Approved: the approval rule passes, its deny_if still denies. */
    CHECK(decide(ps, "deploy", "{\"env\":\"dev\"}", "apr_x", &d) == VERDICT_ALLOW);
    CHECK(decide(ps, "deploy", "{\"env\":\"prod\"}", "apr_x", &d) == VERDICT_DENY);
    CHECK(strstr(d.reason, "prod is frozen") != NULL);
    policy_set_free(ps);

    CHECK(load("b.json",
               "{\"version\":\"1\",\"tools\":{\"x\":{\"action\":\"require_approval\","
               "\"approval\":{\"scope\":\"everything\"}}}}",
               err, sizeof err) == NULL);
    CHECK(strstr(err, "/tools/x/approval/scope") != NULL);
    CHECK(load("c.json",
               "{\"version\":\"1\",\"tools\":{\"x\":{\"action\":\"require_approval\","
               "\"approval\":{\"ttl\":0}}}}",
               err, sizeof err) == NULL);
    CHECK(strstr(err, "/tools/x/approval/ttl") != NULL);
    CHECK(load("d.json",
               "{\"version\":\"1\",\"tools\":{\"x\":{\"action\":\"require_approval\","
               "\"approval\":{\"holdd\":1}}}}",
               err, sizeof err) == NULL);

    /* Lua: opts reach the decision; an approved call passes require_approval, not deny. */
    ps = load(
        "e.lua",
        "return { on_call = function(call)\n"
        "  if call.tool == 'rm' then return warden.deny('never') end\n"
        "  if call.tool == 'bad' then return warden.require_approval('x', {scope = 'all'}) end\n"
        "  return warden.require_approval('a person decides', {hold = 5, ttl = 70, grant_ttl = 20, scope = 'tool'})\n"
        "end }\n",
        err, sizeof err);
    CHECK(ps != NULL);
    CHECK(decide(ps, "deploy", "{}", NULL, &d) == VERDICT_APPROVAL);
    CHECK(d.approval.hold == 5 && d.approval.ttl == 70 && d.approval.grant_ttl == 20);
    CHECK(d.approval.scope == APPROVAL_SCOPE_TOOL);
    CHECK(strstr(d.reason, "a person decides") != NULL);
    CHECK(decide(ps, "deploy", "{}", "apr_x", &d) == VERDICT_ALLOW);
    CHECK(decide(ps, "rm", "{}", "apr_x", &d) == VERDICT_DENY);
    CHECK(decide(ps, "bad", "{}", NULL, &d) == VERDICT_ERROR);
    policy_set_free(ps);

    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return check_report();
}
