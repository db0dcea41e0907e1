/* Lua policies: what a decision carries (reason and "FILE:LINE" rule, held
 * as Lua strings by the decision) and the case-folding lookup of argument
 * objects, whose metatable is the map of folded keys: keys that look like
 * metamethod names stay plain members. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "jsonrpc.h"
#include "luapolicy.h"

static char tmpdir[] = "/tmp/warden-luadec-XXXXXX";
static int nfixtures;
static char paths[8][256];

static struct lua_policy *load_src(const char *src)
{
    char *path = paths[nfixtures];
    snprintf(path, sizeof paths[0], "%s/p%d.lua", tmpdir, nfixtures);
    nfixtures++;
    FILE *f = fopen(path, "w");
    if (!f || fputs(src, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    char err[512];
    struct lua_policy *lp = lua_policy_load(path, NULL, NULL, "srv", err, sizeof err);
    if (!lp)
        fprintf(stderr, "load failed: %s\n", err);
    return lp;
}

/* Runs on_call for a tools/call of tool with arguments args_json. */
static enum verdict decide(struct lua_policy *lp, const char *tool, const char *args_json, struct decision *d)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"%s%s}}",
             tool, args_json ? ",\"arguments\":" : "", args_json ? args_json : "");
    struct rpc_msg msg;
    struct rpc_error e;
    memset(&msg, 0, sizeof msg);
    CHECK(rpc_parse(text, strlen(text), NULL, &msg, &e) == 0);
    struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1, .wall = 1.7e9};
    lua_policy_on_call(lp, &msg, &ctx, NULL, d);
    rpc_msg_clear(&msg);
    return d->verdict;
}

static void test_reasons_and_rules(void)
{
    struct lua_policy *lp = load_src(
        "local kept\n"
        "return {on_call = function(call)\n"
        "  if call.tool == 'plain' then return warden.allow() end\n"
        "  if call.tool == 'deny' then return warden.deny() end\n"
        "  if call.tool == 'ask' then return warden.require_approval(nil, {hold = 5}) end\n"
        "  if call.tool == 'num' then return warden.deny(42) end\n"
        "  if call.tool == 'keep' then kept = warden.deny('kept ' .. string.rep('x', 600)) return nil end\n"
        "  if call.tool == 'churn' then local t = {} for i = 1, 20000 do t[i] = {i} end return nil end\n"
        "  if call.tool == 'kept' then return kept end\n"
        "  return warden.deny('because')\n"
        "end}\n");
    CHECK(lp != NULL);
    if (!lp)
        return;
    char want[300];
    struct decision d;
    CHECK(decide(lp, "plain", NULL, &d) == VERDICT_ALLOW);
    CHECK_STR(d.reason, "allowed by Lua policy");
    snprintf(want, sizeof want, "%s:3", paths[0]);
    CHECK_STR(d.rule, want);
    CHECK(decide(lp, "deny", NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "denied by Lua policy");
    CHECK(decide(lp, "ask", NULL, &d) == VERDICT_APPROVAL);
    CHECK_STR(d.reason, "approval required by Lua policy");
    CHECK(d.approval.hold == 5 && d.approval.ttl == 900);
    CHECK(decide(lp, "num", NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "42");
    CHECK(decide(lp, "other", NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "because");
    snprintf(want, sizeof want, "%s:10", paths[0]);
    CHECK_STR(d.rule, want);
    /* A decision kept across calls and collections keeps its texts; the
     * reason is cut to what struct decision holds. */
    CHECK(decide(lp, "keep", NULL, &d) == VERDICT_NONE);
    CHECK(decide(lp, "churn", NULL, &d) == VERDICT_NONE);
    CHECK(decide(lp, "kept", NULL, &d) == VERDICT_DENY);
    CHECK(strncmp(d.reason, "kept xxx", 8) == 0 && strlen(d.reason) == sizeof d.reason - 1);
    snprintf(want, sizeof want, "%s:7", paths[0]);
    CHECK_STR(d.rule, want);
    lua_policy_free(lp);
}

static void test_folded_keys(void)
{
    struct lua_policy *lp = load_src(
        "return {on_call = function(call)\n"
        "  local a = call.args\n"
        "  if call.tool == 'meta' then\n"
        "    if a.__INDEX == 1 and a.__index == 1 and a.__Gc == 2 and a.__mode == nil and a.MODE == 'k' then\n"
        "      return warden.deny('members') end\n"
        "    return warden.allow(tostring(a.__INDEX) .. tostring(a.__Gc) .. tostring(a.MODE))\n"
        "  end\n"
        "  if call.tool == 'long' then\n"
        "    if a[string.rep('K', 70)] == 'v' and a[string.rep('k', 71)] == nil then return warden.deny('long') end\n"
        "    return warden.allow('long?')\n"
        "  end\n"
        "  if call.tool == 'added' then\n"
        "    a.extra = 1\n"
        "    if a.EXTRA == nil and a.NAME == 'n' then return warden.deny('added') end\n"
        "    return warden.allow('added?')\n"
        "  end\n"
        "  if a[1] ~= nil or a[true] ~= nil then return warden.allow('odd') end\n"
        "  return nil\n"
        "end}\n");
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct decision d;
    CHECK(decide(lp, "meta", "{\"__index\":1,\"__gc\":2,\"mode\":\"k\"}", &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "members");
    char args[200];
    snprintf(args, sizeof args, "{\"%s\":\"v\"}", "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk");
    CHECK(decide(lp, "long", args, &d) == VERDICT_DENY);
    CHECK(decide(lp, "added", "{\"name\":\"n\"}", &d) == VERDICT_DENY);
    CHECK(decide(lp, "x", "{\"name\":\"n\"}", &d) == VERDICT_NONE);
    lua_policy_free(lp);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_reasons_and_rules();
    test_folded_keys();
    for (int i = 0; i < nfixtures; i++)
        unlink(paths[i]);
    rmdir(tmpdir);
    return check_report();
}
