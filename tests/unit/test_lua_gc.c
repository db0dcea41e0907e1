/* What Lua's collector may run or walk for a policy script, where no hook
 * fires: no __gc finalizer and no weak table may exist, not even through a
 * metatable changed after setmetatable; and metatables still work as
 * scripts expect (identity, inheritance, metamethods, protection).
 * Includes luapolicy.c to drive the collector of a policy's state. */
#include "../../src/luapolicy.c"

#include <unistd.h>

#include "check.h"

static const char src[] =
    "local kept\n"
    "local Base = {} Base.__index = Base\n"
    "function Base.hello() return 'base' end\n"
    "local Derived = setmetatable({}, {__index = Base}) Derived.__index = Derived\n"
    "Derived.__tostring = function() return 'derived' end\n"
    "Derived.__eq = function() return true end\n"
    "return { on_call = function(call)\n"
    "  if call.tool == 'fill' then\n"
    "    local mt = {}\n"
    "    kept = setmetatable({}, mt)\n"
    "    mt.__mode = 'k'\n"
    "    for i = 1, 100 do kept[{}] = i end\n"
    "    return warden.allow('filled')\n"
    "  elseif call.tool == 'count' then\n"
    "    local n = 0 for _ in pairs(kept) do n = n + 1 end\n"
    "    return warden.allow(tostring(n))\n"
    "  elseif call.tool == 'weak' then\n"
    "    setmetatable({}, {__mode = 'k'})\n"
    "  elseif call.tool == 'gc' then\n"
    "    setmetatable({}, {__gc = function() end})\n"
    "  elseif call.tool == 'objects' then\n"
    "    local a, b = setmetatable({}, Derived), setmetatable({}, Derived)\n"
    "    assert(getmetatable(a) == Derived and a.hello() == 'base' and tostring(a) == 'derived' and a == b)\n"
    "    function Base.late() return 'late' end\n"
    "    assert(a.late() == 'late')\n"
    "    assert(setmetatable(a, nil) == a and getmetatable(a) == nil)\n"
    "    local p = setmetatable({}, {__metatable = 'locked'})\n"
    "    assert(getmetatable(p) == 'locked' and not pcall(setmetatable, p, {}))\n"
    "    local c = setmetatable({}, {__index = function(_, k) return k .. '!' end})\n"
    "    assert(c.x == 'x!' and setmetatable(c, Derived) == c and c.hello() == 'base')\n"
    "    local closed = false\n"
    "    do local x <close> = setmetatable({}, {__close = function() closed = true end}) end\n"
    "    assert(closed)\n"
    "    return warden.allow('objects ok')\n"
    "  end\n"
    "end }\n";

static enum verdict run_tool(struct lua_policy *lp, const char *tool, struct decision *d)
{
    struct rpc_msg msg = {.kind = RPC_REQUEST, .method = "tools/call", .tool = tool, .id_text = "1", .id_len = 1};
    struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
    lua_policy_on_call(lp, &msg, &ctx, NULL, d);
    return d->verdict;
}

int main(void)
{
    char path[] = "/tmp/warden-lua-gc-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, src, sizeof src - 1) != (ssize_t)(sizeof src - 1)) {
        perror(path);
        return 2;
    }
    close(fd);
    char err[512];
    struct lua_policy *lp = lua_policy_load(path, NULL, NULL, "srv", err, sizeof err);
    CHECK(lp != NULL);
    if (lp) {
        struct decision d;
        CHECK(run_tool(lp, "objects", &d) == VERDICT_ALLOW);
        CHECK_STR(d.reason, "objects ok");
        CHECK(run_tool(lp, "weak", &d) == VERDICT_ERROR);
        CHECK(run_tool(lp, "gc", &d) == VERDICT_ERROR);
        /* __mode set after setmetatable: the table stays strong through a
         * full collection, so the collector never treats it as weak. */
        CHECK(run_tool(lp, "fill", &d) == VERDICT_ALLOW);
        lua_gc(lp->L, LUA_GCCOLLECT, 0);
        CHECK(run_tool(lp, "count", &d) == VERDICT_ALLOW);
        CHECK_STR(d.reason, "100");
    }
    lua_policy_free(lp);
    unlink(path);
    return check_report();
}
