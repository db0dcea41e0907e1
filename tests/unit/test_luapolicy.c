/* Unit tests of Lua policies (src/luapolicy.c) and their sandbox: the
 * champion rule, every escape ending in a refused call while the next call
 * still works, values as Lua sees them, warden.shared, on_list, load errors. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "jsonrpc.h"
#include "luapolicy.h"
#include "sharedstore.h"

static char dir[] = "/tmp/warden-test-lua-XXXXXX";
static struct shared_store *shared;

static const char *write_lua(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static struct lua_policy *load(const char *name, const char *text, char *err, size_t errlen)
{
    struct lua_limits lim = {.memory = 8u << 20, .instructions = 2000000, .wall_ms = 2000, .max_string = 65536};
    return lua_policy_load(write_lua(name, text), &lim, shared, "srv", err, errlen);
}

static enum verdict call(struct lua_policy *lp, const char *tool, const char *args, struct decision *d)
{
    static char text[80000];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\","
             "\"arguments\":%s,\"_meta\":{\"progressToken\":1}}}", tool, args);
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        fprintf(stderr, "bad message: %s\n", e.message);
        return VERDICT_ERROR;
    }
    struct call_ctx ctx = {.server = "srv", .session = "sess-1", .session_len = 6, .client_addr = "c", .now = 1, .wall = 2};
    lua_policy_on_call(lp, &m, &ctx, d);
    rpc_msg_clear(&m);
    return d->verdict;
}

static void test_champion(void)
{
    char err[512];
    struct lua_policy *lp = load("champion.lua",
        "return { on_call = function(call)\n"
        "  if call.tool == 'delete_model_alias' and call.args.alias == 'champion' then\n"
        "    return warden.deny('the champion alias is protected')\n"
        "  end\n"
        "end }\n", err, sizeof err);
    CHECK(lp != NULL);
    struct decision d;
    CHECK(call(lp, "delete_model_alias", "{\"name\":\"m\",\"alias\":\"champion\"}", &d) == VERDICT_DENY);
    CHECK(strstr(d.reason, "the champion alias is protected") != NULL);
    CHECK(strstr(d.rule, "champion.lua:3") != NULL);
    CHECK(call(lp, "delete_model_alias", "{\"name\":\"m\",\"alias\":\"challenger\"}", &d) == VERDICT_NONE);
    CHECK(call(lp, "get_run", "{}", &d) == VERDICT_NONE);
    CHECK(call(lp, "delete_model_alias", "{\"alias\":\"ch\\u0061mpion\"}", &d) == VERDICT_DENY);
    lua_policy_free(lp);
}

struct escape {
    const char *name;
    const char *body;   /* the body of on_call */
};

static const struct escape escapes[] = {
    {"endless loop", "while true do end"},
    {"loop inside pcall", "while true do pcall(function() while true do end end) end"},
    {"string.rep of a gigabyte", "local s = string.rep('x', 1 << 30) return warden.allow()"},
    {"method rep of a gigabyte", "local s = ('x'):rep(1 << 30) return warden.allow()"},
    {"doubling until out of memory", "local t = {} local s = 'x' for i = 1, 100 do s = s .. s t[i] = s end"},
    {"os.execute", "os.execute('touch /tmp/warden-pwned')"},
    {"io.open", "io.open('/etc/passwd')"},
    {"require", "require('os')"},
    {"dofile", "dofile('/etc/passwd')"},
    {"bytecode load", "local f = load('\\27Lua\\84\\0', 'x', 'b') return f()"},
    {"string.dump", "return load(string.dump(function() end))()"},
    {"__gc finalizer", "setmetatable({}, {__gc = function() while true do end end}) return nil"},
    {"string metatable tamper", "getmetatable('').__index = {} return nil"},
    {"string table tamper", "string.upper = nil return nil"},
    {"collectgarbage", "collectgarbage('stop')"},
    {"debug library", "debug.sethook()"},
    {"error", "error('boom')"},
    {"bad return", "return 'deny'"},
    {"pattern bomb", "local s = string.rep('a', 60000) return s:find(string.rep('a*', 10) .. 'b') and nil"},
};

static void test_escapes(void)
{
    for (size_t i = 0; i < sizeof escapes / sizeof *escapes; i++) {
        char text[1024], err[512];
        snprintf(text, sizeof text,
                 "return { on_call = function(call)\n"
                 "  if call.tool == 'attack' then %s end\n"
                 "  if call.tool == 'ok' then return warden.allow() end\n"
                 "end }\n", escapes[i].body);
        struct lua_policy *lp = load("escape.lua", text, err, sizeof err);
        if (!lp) {
            fprintf(stderr, "%s: load failed: %s\n", escapes[i].name, err);
            CHECK(lp != NULL);
            continue;
        }
        struct decision d;
        enum verdict v = call(lp, "attack", "{}", &d);
        if (v != VERDICT_ERROR && v != VERDICT_NONE)
            fprintf(stderr, "%s: verdict %d (%s)\n", escapes[i].name, v, d.reason);
        /* refused (fail closed), or harmless (nil); never allowed */
        CHECK(v == VERDICT_ERROR || (v == VERDICT_NONE && strstr(escapes[i].name, "tamper")) ||
              (v == VERDICT_NONE && strstr(escapes[i].name, "__gc")));
        if (strstr(escapes[i].name, "tamper") || strstr(escapes[i].name, "__gc"))
            CHECK(v == VERDICT_ERROR);
        /* the state still works for the next call */
        CHECK(call(lp, "ok", "{}", &d) == VERDICT_ALLOW);
        lua_policy_free(lp);
    }
    FILE *f = fopen("/tmp/warden-pwned", "r");
    CHECK(f == NULL);
    if (f)
        fclose(f);
}

static void test_values(void)
{
    char err[512];
    struct lua_policy *lp = load("values.lua",
        "return { on_call = function(call)\n"
        "  local a = call.args\n"
        "  assert(a.n == 9007199254740992 and math.type(a.n) == 'integer')\n"
        "  assert(math.type(a.f) == 'float' and a.f == 1.5)\n"
        "  assert(a.z == warden.null and a.z ~= nil)\n"
        "  assert(a.list[2] == 'b' and #a.list == 2)\n"
        "  assert(a.obj.deep.x == true)\n"
        "  assert(call.session == 'sess-1' and call.server == 'srv' and call.method == 'tools/call')\n"
        "  assert(call.id == '7' and call.meta.progressToken == 1 and call.now == 2)\n"
        "  return warden.allow()\n"
        "end }\n", err, sizeof err);
    CHECK(lp != NULL);
    struct decision d;
    CHECK(call(lp, "t", "{\"n\":9007199254740992,\"f\":1.5,\"z\":null,\"list\":[\"a\",\"b\"],\"obj\":{\"deep\":{\"x\":true}}}", &d) ==
          VERDICT_ALLOW);
    if (d.verdict != VERDICT_ALLOW)
        fprintf(stderr, "values: %s\n", d.reason);
    char big[70000 + 64];
    memset(big, 'x', sizeof big);
    memcpy(big, "{\"s\":\"", 6);
    memcpy(big + 70000, "\"}", 3);
    CHECK(call(lp, "t", big, &d) == VERDICT_ERROR);   /* a string over max_string never reaches Lua */
    lua_policy_free(lp);
}

static void test_shared_and_list(void)
{
    char err[512];
    struct lua_policy *lp = load("budget.lua",
        "return {\n"
        "  on_call = function(call)\n"
        "    if call.tool ~= 'move' then return nil end\n"
        "    local total = warden.shared.incr('moved:' .. call.session, call.args.amount, 3600)\n"
        "    if total > 100 then return warden.deny('hourly budget spent: ' .. total) end\n"
        "    warden.shared.set('last', call.args.amount)\n"
        "  end,\n"
        "  on_list = function(tools, ctx)\n"
        "    local keep = {}\n"
        "    for _, t in ipairs(tools) do\n"
        "      if not (t.annotations and t.annotations.destructiveHint) then keep[#keep + 1] = t end\n"
        "    end\n"
        "    return keep\n"
        "  end,\n"
        "}\n", err, sizeof err);
    CHECK(lp != NULL);
    struct decision d;
    CHECK(call(lp, "move", "{\"amount\":60}", &d) == VERDICT_NONE);
    CHECK(call(lp, "move", "{\"amount\":30}", &d) == VERDICT_NONE);
    CHECK(call(lp, "move", "{\"amount\":20}", &d) == VERDICT_DENY && strstr(d.reason, "110"));
    struct shared_value v;
    CHECK(shared_get(shared, "srv\x1flast", 8, 0, &v) && v.number == 30);
    /* a second policy (a reload) sees the same store */
    struct lua_policy *again = load("budget2.lua",
        "return { on_call = function(call) if warden.shared.get('last') == 30 then return warden.allow() end end }\n",
        err, sizeof err);
    CHECK(again && call(again, "x", "{}", &d) == VERDICT_ALLOW);
    lua_policy_free(again);

    CHECK(lua_policy_has_on_list(lp));
    cJSON *tools = cJSON_Parse("[{\"name\":\"get_run\",\"annotations\":{\"readOnlyHint\":true}},"
                               "{\"name\":\"delete_run\",\"annotations\":{\"destructiveHint\":true}},{\"name\":\"health\"}]");
    struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1};
    CHECK(lua_policy_on_list(lp, tools, &ctx));
    char *out = cJSON_PrintUnformatted(tools);
    CHECK_STR(out, "[{\"name\":\"get_run\",\"annotations\":{\"readOnlyHint\":true}},{\"name\":\"health\"}]");
    free(out);
    cJSON_Delete(tools);
    lua_policy_free(lp);
}

static void test_load_errors(void)
{
    char err[512];
    CHECK(load("syntax.lua", "return {\n on_call = function(call)\n return (\n end }\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "syntax.lua:4:") != NULL);
    CHECK(load("nocall.lua", "return { on_list = function() end }\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "on_call") != NULL);
    CHECK(load("number.lua", "return 42\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "returns a table") != NULL);
    CHECK(load("loop.lua", "while true do end\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "budget") != NULL);
    CHECK(load("bytecode.lua", "\x1bLua\x54", err, sizeof err) == NULL);
    CHECK(strstr(err, "precompiled") != NULL);
    CHECK(load("raise.lua", "error('at load')\n", err, sizeof err) == NULL);
    CHECK(strstr(err, "raise.lua:1: at load") != NULL);
}

int main(void)
{
    if (!mkdtemp(dir) || !(shared = shared_store_new()))
        return 2;
    test_champion();
    test_escapes();
    test_values();
    test_shared_and_list();
    test_load_errors();
    shared_store_free(shared);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
