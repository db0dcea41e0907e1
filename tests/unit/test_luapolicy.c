/* Lua policies: the API, the sandbox's escapes (each must end in
 * VERDICT_ERROR within budget and leave the policy usable), warden.shared and
 * the helper library. Fixtures are written to a temporary directory. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include <event2/buffer.h>

#include "jsonrpc.h"
#include "luapolicy.h"
#include "metrics.h"
#include "sharedstore.h"

/* Where fixtures go, and how many were written (for cleanup). */
static char tmpdir[] = "/tmp/warden-lua-XXXXXX";
static int nfixtures;

/* Writes src to a new fixture file and returns its path (static storage per call site use). */
static const char *fixture(const char *src, char *path, size_t len)
{
    snprintf(path, len, "%s/p%d.lua", tmpdir, nfixtures++);
    FILE *f = fopen(path, "w");
    if (!f || fputs(src, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
    return path;
}

/* Loads src; the caller frees the policy. */
static struct lua_policy *load_src(const char *src, const struct lua_limits *lim, struct shared_store *st,
                                   char *path, size_t len)
{
    char err[512];
    struct lua_policy *lp = lua_policy_load(fixture(src, path, len), lim, st, "srv", err, sizeof err);
    if (!lp)
        fprintf(stderr, "load failed: %s\n", err);
    return lp;
}

/* A tools/call message for tool with arguments parsed from args_json. */
struct call {
    char *text;   /* the message, which msg points into */
    struct rpc_msg msg;
    struct call_ctx ctx;
};

/* Fills *c as a tools/call of tool (a plain name), read by rpc_parse as
 * warden reads a client's; the caller frees it with call_clear. */
static void call_init(struct call *c, const char *tool, const char *args_json, double now)
{
    memset(c, 0, sizeof *c);
    /* The arguments' text as given: a tree printed again would round numbers. */
    size_t cap = strlen(tool) + (args_json ? strlen(args_json) : 0) + 128;
    c->text = malloc(cap);
    if (c->text)
        snprintf(c->text, cap, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"%s%s}}",
                 tool, args_json ? ",\"arguments\":" : "", args_json ? args_json : "");
    struct rpc_error e;
    CHECK(c->text && rpc_parse(c->text, strlen(c->text), NULL, &c->msg, &e) == 0);
    c->ctx.server = "srv";
    c->ctx.session = "sess";
    c->ctx.session_len = 4;
    c->ctx.now = now;
    c->ctx.wall = 1.7e9;
}

static void call_clear(struct call *c)
{
    rpc_msg_clear(&c->msg);
    free(c->text);
}

/* Runs on_call for tool(args) and returns the verdict, filling *d. */
static enum verdict decide(struct lua_policy *lp, const char *tool, const char *args, double now,
                           const struct lua_call_extra *extra, struct decision *d)
{
    struct call c;
    call_init(&c, tool, args, now);
    lua_policy_on_call(lp, &c.msg, &c.ctx, extra, d);
    call_clear(&c);
    return d->verdict;
}

/* Seconds since *t0 on the monotonic clock. */
static double elapsed_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The example policy: deny champion, allow challenger, nil otherwise. */
static void test_champion(void)
{
    char err[256];
    struct lua_policy *lp = lua_policy_load("policies/protect-champion.lua", NULL, NULL, "models", err, sizeof err);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct decision d;
    CHECK(decide(lp, "delete_model_alias", "{\"alias\":\"champion\"}", 1, NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "the champion alias is protected");
    CHECK_STR(d.rule, "policies/protect-champion.lua:7");
    CHECK(decide(lp, "delete_model_alias", "{\"alias\":\"challenger\"}", 1, NULL, &d) == VERDICT_ALLOW);
    CHECK(decide(lp, "list_models", NULL, 1, NULL, &d) == VERDICT_NONE);
    CHECK_STR(d.rule, "policies/protect-champion.lua:4");
    CHECK(!lua_policy_has_on_list(lp));
    lua_policy_free(lp);
}

/* Each entry of `evil` tries one escape; "ok" shows the policy still works. */
static const char escapes_src[] =
    "local stash\n"
    "local evil = {\n"
    "  loop = function() while true do end end,\n"
    "  pcall_loop = function() while true do pcall(function() while true do end end) end end,\n"
    "  xpcall_loop = function() while true do xpcall(function() while true do end end, function(e) return e end) end end,\n"
    "  rep = function() return string.rep('x', 1 << 30) end,\n"
    "  pcall_rep = function() pcall(string.rep, 'x', 1 << 30) return warden.allow() end,\n"
    "  grow = function() local t = {} for i = 1, 1e9 do t[i] = i end end,\n"
    "  os = function() return os.execute('true') end,\n"
    "  io = function() return io.open('/etc/passwd') end,\n"
    "  dump = function() return string.dump(function() end) end,\n"
    "  bytecode = function() local f = assert(load('\\27Lua\\84\\0', 'x', 'b')) return f() end,\n"
    "  gc = function() setmetatable({}, {__gc = function() while true do end end}) end,\n"
    "  strmeta = function() getmetatable('').__index = {} end,\n"
    "  strlib = function() string.upper = function() return 'x' end end,\n"
    "  wardenlib = function() warden.allow = function() end end,\n"
    "  require = function() return require('os') end,\n"
    "  dofile = function() return dofile('/etc/passwd') end,\n"
    "  loadfile = function() return loadfile('/etc/passwd') end,\n"
    "  collect = function() return collectgarbage('count') end,\n"
    "  debug = function() return debug.getinfo(1) end,\n"
    "  coroutine = function() return coroutine.create(print) end,\n"
    "  package = function() return package.loaded end,\n"
    "  recurse = function() local function f() return f() + 1 end return f() end,\n"
    "  move = function() table.move({}, 1, 1e12, 2) end,\n"
    "  insert = function() table.insert(setmetatable({}, {__len = function() return 1 << 62 end}), 1, 'x') end,\n"
    "  remove = function() table.remove(setmetatable({}, {__len = function() return 1 << 62 end}), 1) end,\n"
    "  concat = function() return table.concat({}, '', 1, 1 << 62) end,\n"
    "  plain_nul = function() return ('a'):rep(60000):find('\\0a-b') end,\n"
    "  gc_late = function() local mt = {} setmetatable({}, mt) mt.__gc = function() while true do end end error('x') end,\n"
    "  pattern = function() return ('a'):rep(70000):find('a-b') end,\n"
    "  pattern_cost = function() return ('a'):rep(60000):find('a-b') end,\n"
    "  pattern_trim = function() return ('x' .. (' '):rep(60000) .. 'x'):match('^%s*(.-)%s*$') end,\n"
    "  pattern_gsub = function() return ('a'):rep(60000):gsub('a*b', '') end,\n"
    "  pattern_method = function() return ('a'):rep(60000):gmatch('(a+)b')() end,\n"
    "  pattern_pcall = function() pcall(string.find, ('a'):rep(60000), 'a-b') return warden.allow() end,\n"
    "  plain_loop = function() local n = ('a'):rep(32000) .. 'b' local h = ('a'):rep(65000) while true do h:find(n, 1, true) end end,\n"
    "  pattern_set = function() return ('a'):rep(30000):find('[' .. ('b'):rep(30000) .. ']') end,\n"
    "  raise = function() error('boom') end,\n"
    "  raise_table = function() error({}) end,\n"
    "  ret_number = function() return 42 end,\n"
    "  ret_forged = function() return {verdict = 'allow'} end,\n"
    "  ret_string = function() return 'allow' end,\n"
    "  stash = function(call) stash = call return warden.allow() end,\n"
    "  stale = function() return stash.args end,\n"
    "  shared_bad = function() warden.shared.set('k', {}) end,\n"
    "  big_load = function() return load(('x = 1 '):rep(20000)) end,\n"
    "  c_work = function() local t = {} for i = 1, 2e5 do t[i] = i end while true do local u = {table.unpack(t)} end end,\n"
    "  long_string = function() return ('x'):rep(1 << 20) end,\n"
    "  sort = function() local t = {string.byte(('x'):rep(60000), 1, -1)} while true do table.sort(t) end end,\n"
    "  unpack = function() return table.unpack(setmetatable({}, {__len = function() return 1 << 40 end})) end,\n"
    "  load_loop = function() local src = ('-'):rep(2) .. ('x'):rep(60000) while true do load(src) end end,\n"
    "  long_concat = function() local s = ('x'):rep(40000) return s .. s end,\n"
    "}\n"
    "return {\n"
    "  on_call = function(call)\n"
    "    local f = evil[call.tool]\n"
    "    if f then return f(call) end\n"
    "    if call.tool == 'safe_load' then\n"
    "      local g, e = load('\\27Lua')\n"
    "      if g == nil and e:find('binary') then return warden.deny('bytecode refused') end\n"
    "      return warden.allow('bytecode loaded')\n"
    "    end\n"
    "    if call.tool == 'patterns' then\n"
    "      local big = ('a'):rep(60000) .. 'rm -rf /'\n"
    "      assert(big:find('rm -rf', 1, true) and big:find('rm %-rf'))\n"
    "      assert(('k=v'):rep(100):match('^(%w+)=(%w+)') == 'k')\n"
    "      assert(select(2, ('rm  -rf x'):rep(30):gsub('rm%s+%-rf', '')) == 30)\n"
    "      assert(string.format('%s', ('%d'):rep(2)) == '%d%d' and ('[x]'):find('[]x]') == 2)\n"
    "      print('patterns', 'ok')\n"
    "      local t = {1, 2, 3} table.insert(t, 4) table.insert(t, 1, 0) assert(table.remove(t) == 4)\n"
    "      local big = {} for i = 1, 3000 do table.insert(big, i) end for i = 1, 3000 do table.remove(big) end\n"
    "      local u = {3, 1, 2} table.sort(u) assert(table.concat(u) == '123' and select('#', table.unpack(u)) == 3)\n"
    "      assert(table.concat(table.move(t, 1, 3, 2, {}), ',', 2, 4) == '0,1,2')\n"
    "      return warden.allow('patterns ok')\n"
    "    end\n"
    "    if call.tool == 'views' then\n"
    "      if getmetatable('') ~= false then return warden.deny('string metatable visible') end\n"
    "      if string.dump ~= nil then return warden.deny('dump present') end\n"
    "      if ('x'):upper() ~= 'X' then return warden.deny('string methods broken') end\n"
    "      local n = 0 for _ in pairs(string) do n = n + 1 end\n"
    "      if n < 10 then return warden.deny('pairs(string) empty') end\n"
    "      return warden.allow('views ok')\n"
    "    end\n"
    "    return warden.allow('fine')\n"
    "  end,\n"
    "}\n";

/* The 1-based line of src on which needle starts. */
static int line_of(const char *src, const char *needle)
{
    const char *at = strstr(src, needle);
    int line = 1;
    for (const char *p = src; at && p < at; p++)
        line += *p == '\n';
    return line;
}

/* Every escape fails closed, within budget, and leaves the policy usable. */
static void test_escapes(void)
{
    static const char *const names[] = {
        "loop", "pcall_loop", "xpcall_loop", "rep", "pcall_rep", "grow", "os", "io", "dump", "bytecode",
        "gc", "strmeta", "strlib", "wardenlib", "require", "dofile", "loadfile", "collect", "debug",
        "coroutine", "package", "recurse", "move", "insert", "remove", "concat", "plain_nul", "gc_late", "pattern", "pattern_cost", "pattern_trim", "pattern_gsub", "pattern_set", "pattern_pcall", "plain_loop",
        "pattern_method", "raise", "raise_table", "ret_number",
        "ret_forged", "ret_string", "shared_bad", "big_load", "c_work", "long_string", "long_concat", "sort", "unpack", "load_loop",
    };
    char path[256];
    struct lua_limits lim = {.mem_bytes = 8 << 20, .instructions = 200000, .wall_ms = 500};
    struct lua_policy *lp = load_src(escapes_src, &lim, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct decision d;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        enum verdict v = decide(lp, names[i], NULL, 1, NULL, &d);
        if (v != VERDICT_ERROR)
            fprintf(stderr, "escape %s: verdict %d, reason %s\n", names[i], v, d.reason);
        CHECK(v == VERDICT_ERROR);
        CHECK(strstr(d.reason, path) != NULL);
        CHECK(elapsed_since(&t0) < 1.0);
        CHECK(decide(lp, "ok", NULL, 1, NULL, &d) == VERDICT_ALLOW);
        CHECK_STR(d.reason, "fine");
    }
    CHECK(decide(lp, "loop", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "instruction budget exceeded") != NULL);
    CHECK(strncmp(d.rule, path, strlen(path)) == 0 && d.rule[strlen(path)] == ':');
    CHECK(decide(lp, "rep", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "out of memory") != NULL);
    CHECK(decide(lp, "pcall_rep", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "out of memory") != NULL);
    CHECK(decide(lp, "long_concat", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "string longer than max_string") != NULL);
    CHECK(decide(lp, "raise", NULL, 1, NULL, &d) == VERDICT_ERROR);
    char want[300];
    snprintf(want, sizeof want, "%s:%d", path, line_of(escapes_src, "  raise = "));
    CHECK_STR(d.rule, want);
    CHECK(decide(lp, "stash", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    CHECK(decide(lp, "stale", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "safe_load", NULL, 1, NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "bytecode refused");
    CHECK(decide(lp, "patterns", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    CHECK_STR(d.reason, "patterns ok");
    CHECK(decide(lp, "views", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    CHECK_STR(d.reason, "views ok");
    lua_policy_free(lp);

    /* The wall clock stops what the instruction budget would let run for long. */
    struct lua_limits slow = {.instructions = 4000000000UL, .wall_ms = 20};
    lp = load_src(escapes_src, &slow, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(decide(lp, "pcall_loop", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "time limit exceeded") != NULL);
    CHECK(elapsed_since(&t0) < 0.5);
    CHECK(decide(lp, "ok", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    /* C functions run between hooks: big allocations, charged table
     * functions and pattern matching check the clock themselves. */
    static const char *const slow_c[] = {"c_work", "sort", "pattern_cost", "pattern_trim", "plain_loop"};
    for (size_t i = 0; i < sizeof slow_c / sizeof slow_c[0]; i++) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        CHECK(decide(lp, slow_c[i], NULL, 1, NULL, &d) == VERDICT_ERROR);
        CHECK(strstr(d.reason, "time limit exceeded") != NULL);
        double took = elapsed_since(&t0);
        if (took >= 0.5)
            fprintf(stderr, "%s took %.3f s\n", slow_c[i], took);
        CHECK(took < 0.5);
        CHECK(decide(lp, "ok", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    }
    lua_policy_free(lp);
}

/* Every place Lua code may run outside the plain VM loop: message handlers
 * (run by Lua inside the count hook when the budget error is raised there,
 * with hooks off), handlers that raise, nested protected calls, error
 * objects with metamethods, metamethods of every kind, callbacks from C
 * (gsub, sort, tostring, string.format, print), to-be-closed variables run
 * while an error unwinds. `L` is a function that loops for good. */
static const char handlers_src[] =
    "local function L() while true do end end\n"
    "local looper = setmetatable({}, {__tostring = L, __index = L, __newindex = L, __eq = L, __lt = L,\n"
    "  __le = L, __concat = L, __len = L, __call = L, __unm = L, __add = L, __close = L, __name = 'looper'})\n"
    "local looper2 = setmetatable({}, getmetatable(looper))\n"
    "local evil = {\n"
    "  xpcall_both = function() xpcall(L, L) end,\n"
    "  xpcall_both_retry = function() while true do xpcall(L, L) end end,\n"
    "  handler_errors = function() xpcall(L, function(e) error(e) end) end,\n"
    "  handler_errors_own = function() xpcall(function() error('x') end, function(e) error(e) end) L() end,\n"
    "  handler_on_own_error = function() xpcall(function() error('x') end, L) end,\n"
    "  handler_pcall_loop = function() xpcall(L, function() while true do pcall(L) end end) end,\n"
    "  handler_is_xpcall = function() xpcall(L, xpcall) end,\n"
    "  handler_is_pcall = function() xpcall(L, pcall, L) end,\n"
    "  handler_stack = function() local function r() return 1 + r() end xpcall(r, L) end,\n"
    "  handler_charged = function() xpcall(function() return table.concat({}, '', 1, 1 << 62) end, L) end,\n"
    "  handler_memory = function() xpcall(function() return ('x'):rep(1 << 30) end, L) L() end,\n"
    "  nested = function() xpcall(function() pcall(function() xpcall(L, L) end) end, L) end,\n"
    "  nested_deep = function() local function n(k) if k == 0 then return L() end\n"
    "    return xpcall(n, function() return n(k - 1) end, k - 1) end n(50) end,\n"
    "  error_object = function() error(looper) end,\n"
    "  error_object_handled = function() xpcall(function() error(looper) end, function(e) return tostring(e) .. e.x end) end,\n"
    "  error_object_pcall = function() local ok, e = pcall(error, looper) return tostring(e) end,\n"
    "  gsub_fn = function() return ('aaa'):gsub('a', L) end,\n"
    "  sort_cmp = function() table.sort({3, 2, 1}, L) end,\n"
    "  meta_eq = function() return looper == looper2 end,\n"
    "  meta_lt = function() return looper < looper2 end,\n"
    "  meta_le = function() return looper <= looper2 end,\n"
    "  meta_index = function() return looper.x end,\n"
    "  meta_newindex = function() looper.x = 1 end,\n"
    "  meta_concat = function() return looper .. 'x' end,\n"
    "  meta_len = function() return #looper end,\n"
    "  meta_call = function() return looper() end,\n"
    "  meta_arith = function() return -looper + 1 end,\n"
    "  meta_close = function() local x <close> = looper end,\n"
    "  close_on_error = function() local x <close> = looper error('x') end,\n"
    "  close_in_xpcall = function() xpcall(function() local x <close> = looper L() end, L) end,\n"
    "  tostring_meta = function() return tostring(looper) end,\n"
    "  format_meta = function() return string.format('%s', looper) end,\n"
    "  print_meta = function() print(looper) end,\n"
    "  coroutine = function() return coroutine.wrap(L)() end,\n"
    "  load_loop = function() return load('while true do end')() end,\n"
    "  rep_empty = function() local s = string.rep('', 1 << 62) assert(s == '') L() end,\n"
    "  rep_empty_sep = function() local s = ('').rep('', 1 << 62, '') assert(s == '') L() end,\n"
    "  rep_sep_only = function() return ('').rep('', 1 << 62, ',') end,\n"
    "}\n"
    "return {\n"
    "  on_call = function(call)\n"
    "    local f = evil[call.tool]\n"
    "    if f then f() return warden.allow('escaped') end\n"
    "    return warden.allow(tostring(setmetatable({}, {__name = 'named'})):match('^named: ') and 'fine' or 'bad')\n"
    "  end,\n"
    "  on_list = function(tools) xpcall(L, L) return tools end,\n"
    "}\n";

/* No script holds a worker: each case is refused with a budget failure (or
 * its own error, for the ones that end by raising) and the policy keeps
 * working. The instruction budget is what stops them here, so the test
 * needs no clock: on a build where one escapes it hangs. */
static void test_handlers(void)
{
    static const char *const names[] = {
        "xpcall_both", "xpcall_both_retry", "handler_errors", "handler_errors_own", "handler_on_own_error",
        "handler_pcall_loop", "handler_is_xpcall", "handler_is_pcall", "handler_stack", "handler_charged",
        "handler_memory", "nested", "nested_deep", "error_object", "error_object_handled",
        "error_object_pcall", "gsub_fn", "sort_cmp", "meta_eq", "meta_lt", "meta_le", "meta_index",
        "meta_newindex", "meta_concat", "meta_len", "meta_call", "meta_arith", "meta_close",
        "close_on_error", "close_in_xpcall", "tostring_meta", "format_meta", "print_meta", "coroutine",
        "load_loop", "rep_empty", "rep_empty_sep", "rep_sep_only",
    };
    /* Budget failures; the others end in the script's own error (or a memory bound). */
    static const char *const own_error[] = {"error_object", "coroutine", "handler_memory", "rep_sep_only"};
    char path[256];
    struct lua_limits lim = {.mem_bytes = 8 << 20, .instructions = 100000, .wall_ms = 60000};
    struct lua_policy *lp = load_src(handlers_src, &lim, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct decision d;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        enum verdict v = decide(lp, names[i], NULL, 1, NULL, &d);
        if (v != VERDICT_ERROR)
            fprintf(stderr, "handler case %s: verdict %d, reason %s\n", names[i], v, d.reason);
        CHECK(v == VERDICT_ERROR);
        bool budget = strstr(d.reason, "instruction budget exceeded") != NULL;
        bool expect_budget = true;
        for (size_t k = 0; k < sizeof own_error / sizeof own_error[0]; k++)
            expect_budget = expect_budget && strcmp(names[i], own_error[k]) != 0;
        if (budget != expect_budget)
            fprintf(stderr, "handler case %s: reason %s\n", names[i], d.reason);
        CHECK(budget == expect_budget);
        CHECK(decide(lp, "ok", NULL, 1, NULL, &d) == VERDICT_ALLOW);
        CHECK_STR(d.reason, "fine");
    }
    cJSON *tools = cJSON_Parse("[{\"name\":\"a\"}]");
    struct call_ctx ctx = {.server = "srv", .now = 1};
    CHECK(lua_policy_on_list(lp, tools, &ctx, &d) == -1);
    CHECK(strstr(d.reason, "instruction budget exceeded") != NULL);
    CHECK(cJSON_GetArraySize(tools) == 1);
    cJSON_Delete(tools);
    CHECK(decide(lp, "ok", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    lua_policy_free(lp);
}

/* The text /metrics would show for warden_lua_errors_total{kind}: the count, or -1. */
static long lua_errors(struct metrics *m, const char *kind)
{
    struct evbuffer *out = evbuffer_new();
    if (!out)
        return -1;
    metrics_render(m, out);
    size_t len = evbuffer_get_length(out);
    char *text = malloc(len + 1);
    long n = -1;
    if (text) {
        evbuffer_copyout(out, text, len);
        text[len] = '\0';
        char want[96];
        snprintf(want, sizeof want, "\nwarden_lua_errors_total{kind=\"%s\"} ", kind);
        const char *at = strstr(text, want);
        if (at)
            n = strtol(at + strlen(want), NULL, 10);
        free(text);
    }
    evbuffer_free(out);
    return n;
}

/* Every failed run counts once in warden_lua_errors_total, by kind. */
static void test_error_metrics(void)
{
    char path[256];
    struct lua_limits lim = {.mem_bytes = 8 << 20, .instructions = 200000, .wall_ms = 60000};
    struct lua_policy *lp = load_src(escapes_src, &lim, NULL, path, sizeof path);
    struct metrics *m = metrics_new();
    CHECK(lp && m);
    if (!lp || !m) {
        lua_policy_free(lp);
        metrics_free(m);
        return;
    }
    struct decision d;
    CHECK(decide(lp, "loop", NULL, 1, NULL, &d) == VERDICT_ERROR); /* not counted: no metrics yet */
    lua_policy_count_errors(lp, m);
    CHECK(lua_errors(m, "timeout") == 0 && lua_errors(m, "memory") == 0 && lua_errors(m, "error") == 0);
    CHECK(decide(lp, "loop", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "xpcall_loop", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "rep", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "long_concat", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "raise", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "ret_forged", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(decide(lp, "ok", NULL, 1, NULL, &d) == VERDICT_ALLOW);
    CHECK(lua_errors(m, "timeout") == 2);
    CHECK(lua_errors(m, "memory") == 2);
    CHECK(lua_errors(m, "error") == 2);
    lua_policy_free(lp);
    /* on_list failures count too. */
    lp = load_src(handlers_src, &lim, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (lp) {
        lua_policy_count_errors(lp, m);
        cJSON *tools = cJSON_Parse("[{\"name\":\"a\"}]");
        struct call_ctx ctx = {.server = "srv", .now = 1};
        CHECK(lua_policy_on_list(lp, tools, &ctx, &d) == -1);
        cJSON_Delete(tools);
        CHECK(lua_errors(m, "timeout") == 3);
    }
    lua_policy_free(lp);
    metrics_free(m);
}

/* What scripts see of a call: JSON types, lazy fields, headers, size bounds. */
static void test_values(void)
{
    static const char src[] =
        "return { on_call = function(call)\n"
        "  local a = call.args\n"
        "  assert(a.n == warden.null and a.n ~= nil)\n"
        "  assert(math.type(a.i) == 'integer' and a.i == 42)\n"
        "  assert(math.type(a.neg) == 'integer' and a.neg == -9007199254740992)\n"
        "  assert(math.type(a.f) == 'float' and a.f == 1.5)\n"
        "  assert(math.type(a.big) == 'float')\n"
        "  assert(a.nested.list[2].x == 'deep' and #a.nested.list == 3 and a.nested.list[3] == warden.null)\n"
        "  assert(a.t == true and a.fl == false)\n"
        "  assert(call.tool == 'types' and call.method == 'tools/call' and call.id == '\"abc\"')\n"
        "  assert(call.server == 'srv' and call.session == 'sess' and call.now == 1.7e9)\n"
        "  assert(call.headers['x-trace'] == 't1' and call.headers.authorization == nil and call.headers.cookie == nil)\n"
        "  assert(call.tool_meta.readOnlyHint == true)\n"
        "  assert(call.meta == nil and call.nothing == nil and call[1] == nil)\n"
        "  assert(rawequal(call.args, a))\n"
        "  assert(warden.lib.pointer.get(a, '/nested/list/1/x') == 'deep')\n"
        "  assert(warden.lib.pointer.get(a, '/nested/a~1b') == 1 and warden.lib.pointer.get(a, '/none/x') == nil)\n"
        "  return warden.require_approval('types ok')\n"
        "end }\n";
    char path[256];
    struct lua_policy *lp = load_src(src, NULL, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct lua_header headers[] = {
        {"X-Trace", "t1", 2}, {"Authorization", "Bearer secret", 13}, {"Cookie", "a=b", 3},
    };
    cJSON *meta = cJSON_Parse("{\"readOnlyHint\":true}");
    struct lua_call_extra extra = {.headers = headers, .nheaders = 3, .tool_meta = meta};
    struct decision d;
    CHECK(decide(lp, "types",
                 "{\"n\":null,\"i\":42,\"neg\":-9007199254740992,\"f\":1.5,\"big\":1e300,\"t\":true,\"fl\":false,"
                 "\"nested\":{\"a/b\":1,\"list\":[1,{\"x\":\"deep\"},null]}}",
                 1, &extra, &d) == VERDICT_APPROVAL);
    CHECK_STR(d.reason, "types ok");
    cJSON_Delete(meta);
    lua_policy_free(lp);

    /* Strings over max_string never reach Lua, whether or not the script reads them. */
    struct lua_limits lim = {.max_string = 100};
    lp = load_src("return { on_call = function(call) return warden.allow() end }", &lim, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    char args[300];
    snprintf(args, sizeof args, "{\"a\":{\"b\":[\"%0150d\"]}}", 0);
    CHECK(decide(lp, "t", args, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "argument too large for Lua policy") != NULL);
    CHECK(decide(lp, "t", "{\"a\":\"short\"}", 1, NULL, &d) == VERDICT_ALLOW);
    lua_policy_free(lp);
}

/* Load failures name the file and, where there is one, the line. */
static void test_load_errors(void)
{
    static const struct {
        const char *src;
        const char *want; /* after "PATH" */
    } cases[] = {
        {"return {\n on_call = function(call)\n  if then\n end }\n", ":3:"},
        {"return { on_list = function() end }\n", ": the returned table has no on_call function"},
        {"return 42\n", ": the policy must return a table, not number"},
        {"return { on_call = function() end, on_list = 1 }\n", ": on_list must be a function, not number"},
        {"local x = nil\nx.y = 1\nreturn {}\n", ":2:"},
        {"while true do end\n", ":1: instruction budget exceeded"},
        {"return { on_call = function() end }\n\27Lua", ":2:"},
        {"error({})\n", ":1: error object is not a string"},
        {"return { on_call = function() end }, warden.lib.glob.match(1)\n", ":1:"},
    };
    /* A wall clock far beyond the instruction budget: which budget stops the
     * endless load loop must not depend on how busy the machine is. */
    const struct lua_limits lim = {.wall_ms = 60000};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256], err[512], want[512];
        fixture(cases[i].src, path, sizeof path);
        struct lua_policy *lp = lua_policy_load(path, &lim, NULL, "srv", err, sizeof err);
        CHECK(lp == NULL);
        lua_policy_free(lp);
        snprintf(want, sizeof want, "%s%s", path, cases[i].want);
        if (strncmp(err, want, strlen(want)) != 0)
            fprintf(stderr, "load error %zu: got \"%s\", want prefix \"%s\"\n", i, err, want);
        CHECK(strncmp(err, want, strlen(want)) == 0);
    }
    char err[512];
    CHECK(lua_policy_load("/nonexistent/x.lua", NULL, NULL, "srv", err, sizeof err) == NULL);
    CHECK(strstr(err, "/nonexistent/x.lua") != NULL);
}

/* The store's C API: TTL, bounds, fixed-window incr, overflow. */
static void test_shared_store_c(void)
{
    CHECK(shared_store_new(&(struct shared_limits){.max_keys = 2, .max_value = 8, .max_total = 64}) == NULL);
    struct shared_store *st = shared_store_new(&(struct shared_limits){.max_keys = 2, .max_value = 8});
    CHECK(st != NULL);
    if (!st)
        return;
    char buf[8];
    const char *err = NULL;
    struct shared_value v = {.type = SHARED_STRING, .s = "hello", .len = 5}, got;
    CHECK(shared_store_set(st, "a", 1, &v, 10, 100, &err) == 0);
    shared_store_get(st, "a", 1, 105, &got, buf);
    CHECK(got.type == SHARED_STRING);
    CHECK_MEM(got.s, got.len, "hello");
    shared_store_get(st, "a", 1, 110, &got, buf);
    CHECK(got.type == SHARED_NIL);
    v.len = 9;
    v.s = "too long!";
    CHECK(shared_store_set(st, "a", 1, &v, 0, 100, &err) == -1);
    CHECK_STR(err, "warden.shared value too large");
    CHECK(shared_store_set(st, "123456789", 9, &v, 0, 100, &err) == -1);
    long long n = 0;
    CHECK(shared_store_incr(st, "c", 1, 5, 10, 100, &n, &err) == 0 && n == 5);
    CHECK(shared_store_incr(st, "c", 1, 2, 10, 105, &n, &err) == 0 && n == 7);
    CHECK(shared_store_incr(st, "c", 1, 1, 10, 111, &n, &err) == 0 && n == 1); /* window ended at 110 */
    struct shared_value b = {.type = SHARED_BOOL, .b = true};
    CHECK(shared_store_set(st, "d", 1, &b, 0, 111, &err) == 0);
    CHECK(shared_store_set(st, "e", 1, &b, 0, 111, &err) == -1);
    CHECK_STR(err, "warden.shared is full");
    CHECK(shared_store_incr(st, "d", 1, 1, 0, 111, &n, &err) == -1);
    CHECK_STR(err, "warden.shared value is not an integer");
    struct shared_value del = {.type = SHARED_NIL};
    CHECK(shared_store_set(st, "d", 1, &del, 0, 111, &err) == 0);
    CHECK(shared_store_set(st, "e", 1, &b, 0, 111, &err) == 0);
    /* Expired keys make room. */
    CHECK(shared_store_set(st, "f", 1, &b, 0, 200, &err) == 0);
    struct shared_value big = {.type = SHARED_INT, .i = 9223372036854775807LL};
    CHECK(shared_store_set(st, "e", 1, &big, 0, 200, &err) == 0);
    CHECK(shared_store_incr(st, "e", 1, 1, 0, 200, &n, &err) == -1);
    CHECK_STR(err, "warden.shared integer overflow");
    shared_store_get(st, "e", 1, 200, &got, buf);
    CHECK(got.type == SHARED_INT && got.i == 9223372036854775807LL);
    shared_store_free(st);
}

/* Adds 1 to "n" ten thousand times. */
static void *incr_many(void *arg)
{
    struct shared_store *st = arg;
    long long n;
    const char *err;
    for (int i = 0; i < 10000; i++) {
        if (shared_store_incr(st, "n", 1, 1, 0, 1, &n, &err) != 0)
            return NULL;
    }
    return st;
}

/* Concurrent incr loses no count. */
static void test_shared_threads(void)
{
    struct shared_store *st = shared_store_new(&(struct shared_limits){.max_keys = 4, .max_value = 16});
    CHECK(st != NULL);
    if (!st)
        return;
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, incr_many, st) == 0);
    for (int i = 0; i < 4; i++) {
        void *ret = NULL;
        CHECK(pthread_join(t[i], &ret) == 0 && ret == st);
    }
    char buf[16];
    struct shared_value got;
    shared_store_get(st, "n", 1, 1, &got, buf);
    CHECK(got.type == SHARED_INT && got.i == 40000);
    shared_store_free(st);
}

/* warden.shared across two policies and a reload. */
static void test_shared_lua(void)
{
    static const char src[] =
        "local s = warden.shared\n"
        "return { on_call = function(call)\n"
        "  if call.tool == 'count' then\n"
        "    local n = s.incr('calls:' .. call.session, 1, 60)\n"
        "    if n > 3 then return warden.deny('too many: ' .. n) end\n"
        "    return warden.allow(tostring(n))\n"
        "  elseif call.tool == 'put' then\n"
        "    s.set('str', 'v', 5) s.set('int', 7) s.set('flt', 0.5) s.set('bool', false)\n"
        "  elseif call.tool == 'get' then\n"
        "    return warden.allow(string.format('%s %s %s %s %s', s.get('str'), math.type(s.get('int')),\n"
        "      s.get('flt'), s.get('bool'), s.get('none')))\n"
        "  elseif call.tool == 'big' then\n"
        "    s.set('big', ('x'):rep(100))\n"
        "  end\n"
        "end }\n";
    struct shared_store *st = shared_store_new(&(struct shared_limits){.max_keys = 16, .max_value = 64});
    CHECK(st != NULL);
    if (!st)
        return;
    char p1[256], p2[256];
    struct lua_policy *a = load_src(src, NULL, st, p1, sizeof p1);
    struct lua_policy *b = load_src(src, NULL, st, p2, sizeof p2);
    CHECK(a && b);
    if (a && b) {
        struct decision d;
        CHECK(decide(a, "count", NULL, 1, NULL, &d) == VERDICT_ALLOW);
        CHECK_STR(d.reason, "1");
        CHECK(decide(b, "count", NULL, 2, NULL, &d) == VERDICT_ALLOW);
        CHECK_STR(d.reason, "2");
        /* A reload keeps the counts: they live in the store. */
        lua_policy_free(a);
        a = load_src(src, NULL, st, p1, sizeof p1);
        CHECK(a != NULL);
        if (a) {
            CHECK(decide(a, "count", NULL, 3, NULL, &d) == VERDICT_ALLOW);
            CHECK(decide(a, "count", NULL, 4, NULL, &d) == VERDICT_DENY);
            CHECK_STR(d.reason, "too many: 4");
            CHECK(decide(a, "count", NULL, 70, NULL, &d) == VERDICT_ALLOW); /* the window expired */
            CHECK_STR(d.reason, "1");
            CHECK(decide(a, "put", NULL, 100, NULL, &d) == VERDICT_NONE);
            CHECK(decide(b, "get", NULL, 101, NULL, &d) == VERDICT_ALLOW);
            CHECK_STR(d.reason, "v integer 0.5 false nil");
            CHECK(decide(b, "get", NULL, 106, NULL, &d) == VERDICT_ALLOW);
            CHECK_STR(d.reason, "nil integer 0.5 false nil");
            CHECK(decide(b, "big", NULL, 106, NULL, &d) == VERDICT_ERROR);
        }
    }
    lua_policy_free(a);
    lua_policy_free(b);
    shared_store_free(st);
}

/* on_list drops tools; bad returns fail without touching the array. */
static void test_on_list(void)
{
    static const char src[] =
        "local glob = warden.lib.glob\n"
        "return {\n"
        "  on_call = function() end,\n"
        "  on_list = function(tools, ctx)\n"
        "    if ctx.session == 'bad' then return 'nope' end\n"
        "    if ctx.session == 'forged' then return { { name = 'x' } } end\n"
        "    local keep = {}\n"
        "    for _, t in ipairs(tools) do\n"
        "      local hidden = glob.match('get-*', t.name) or (t.annotations and t.annotations.destructiveHint)\n"
        "      if not hidden then keep[#keep + 1] = t end\n"
        "    end\n"
        "    return keep\n"
        "  end,\n"
        "}\n";
    char path[256];
    struct lua_policy *lp = load_src(src, NULL, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    CHECK(lua_policy_has_on_list(lp));
    const char *json = "[{\"name\":\"echo\",\"description\":\"d\"},{\"name\":\"get-env\"},"
                       "{\"name\":\"rm\",\"annotations\":{\"destructiveHint\":true}},{\"name\":\"add\"}]";
    cJSON *tools = cJSON_Parse(json);
    struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
    struct decision d;
    CHECK(lua_policy_on_list(lp, tools, &ctx, &d) == 2);
    CHECK(cJSON_GetArraySize(tools) == 2);
    CHECK_STR(cJSON_GetArrayItem(tools, 0)->child->valuestring, "echo");
    CHECK_STR(cJSON_GetArrayItem(tools, 1)->child->valuestring, "add");
    cJSON_Delete(tools);
    static const char *const bad[] = {"bad", "forged"};
    for (size_t i = 0; i < 2; i++) {
        tools = cJSON_Parse(json);
        ctx.session = bad[i];
        ctx.session_len = strlen(bad[i]);
        CHECK(lua_policy_on_list(lp, tools, &ctx, &d) == -1);
        CHECK(d.verdict == VERDICT_ERROR);
        CHECK(cJSON_GetArraySize(tools) == 4);
        cJSON_Delete(tools);
    }
    lua_policy_free(lp);
}

/* The shipped hide-get-env policy, on calls and on lists. */
static void test_hide_get_env(void)
{
    char err[256];
    struct lua_policy *lp = lua_policy_load("policies/hide-get-env.lua", NULL, NULL, "everything", err, sizeof err);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct decision d;
    CHECK(decide(lp, "get-env", NULL, 1, NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.rule, "policies/hide-get-env.lua:9");
    CHECK(decide(lp, "echo", NULL, 1, NULL, &d) == VERDICT_NONE);
    cJSON *tools = cJSON_Parse("[{\"name\":\"echo\"},{\"name\":\"get-env\"},{\"name\":\"add\"}]");
    struct call_ctx ctx = {.server = "everything", .now = 1};
    CHECK(lua_policy_on_list(lp, tools, &ctx, &d) == 1);
    CHECK(cJSON_GetArraySize(tools) == 2);
    CHECK_STR(cJSON_GetArrayItem(tools, 1)->child->valuestring, "add");
    cJSON_Delete(tools);
    lua_policy_free(lp);
}

/* warden.lib helpers, and glob staying under the instruction budget. */
static void test_helpers(void)
{
    static const char src[] =
        "local g, p = warden.lib.glob, warden.lib.path\n"
        "assert(g.match('delete_*', 'delete_model') and not g.match('delete_*', 'drop'))\n"
        "assert(g.match('/data/*/x', '/data/a/x') and not g.match('/data/*/x', '/data/a/b/x'))\n"
        "assert(g.match('/data/**', '/data/a/b/x') and g.match('a?c', 'abc') and not g.match('a?c', 'a/c'))\n"
        "assert(g.match('a\\\\*', 'a*') and not g.match('a\\\\*', 'ab') and g.match('', '') and g.match('**', ''))\n"
        "assert(g.any({'x', 'y*'}, 'yes') and not g.any({}, 'x'))\n"
        "assert(g.match('[a-c]x', 'bx') and not g.match('[!a-c]x', 'bx') and not g.match('[!a]', '/'))\n"
        "assert(g.match('/srv/*', '/srv/x') and not g.match('/srv/*', '/srv/../etc/passwd'))\n"
        "assert(g.match('abc', 'abc') and not g.match('abc', 'abd') and not g.match('abc', 'ab'))\n"
        "assert(p.normalize('/a//b/./c/../d') == '/a/b/d' and p.normalize('a/..') == '.')\n"
        "assert(p.normalize('/..') == nil and p.normalize('a/../..') == nil and p.normalize('a\\\\b') == nil)\n"
        "assert(p.normalize('~/x') == nil and p.normalize('a\\0b') == nil and p.normalize('') == nil)\n"
        "assert(p.under('/srv/data', '/srv/data/x/y') and p.under('/srv/data', 'x/../y') and p.under('/srv/data/', '/srv/data'))\n"
        "assert(not p.under('/srv/data', '/srv/data2') and not p.under('/srv/data', '/srv/data/../etc'))\n"
        "assert(not p.under('/srv/data', '../etc') and not p.under('/srv/data', '~/x') and p.under('/', '/etc'))\n"
        "local long = ('a'):rep(60000)\n"
        "return { on_call = function(call)\n"
        "  for _ = 1, 3 do if g.match('*a*a*a*a*b', long) then return warden.allow() end end\n"
        "  return warden.deny('no match')\n"
        "end }\n";
    char path[256];
    struct lua_policy *lp = load_src(src, NULL, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    /* A glob over a long subject costs instructions, not an unstoppable C loop. */
    struct decision d;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CHECK(decide(lp, "x", NULL, 1, NULL, &d) == VERDICT_ERROR);
    CHECK(elapsed_since(&t0) < 1.0);
    lua_policy_free(lp);
}

/* Runs every group of checks in a fresh temporary directory. */
/* A Go server binds {"Alias": ...} (or a long-s or Kelvin-sign spelling) to
 * the field alias: call.args answers those spellings under the policy's own,
 * in nested objects too, while pairs() still shows the message's keys. */
static void test_folded_args(void)
{
    char path[256];
    struct lua_policy *lp = load_src(
        "return {on_call = function(call)\n"
        "  if call.args.alias == 'champion' then return warden.deny('champion') end\n"
        "  if call.args.opts and call.args.opts.force == true then return warden.deny('force') end\n"
        "  for k in pairs(call.args) do if k == 'alias' then return warden.allow('exact') end end\n"
        "  return nil end}\n",
        NULL, NULL, path, sizeof path);
    CHECK(lp != NULL);
    if (!lp)
        return;
    struct decision d;
    CHECK(decide(lp, "t", "{\"alias\":\"champion\"}", 1, NULL, &d) == VERDICT_DENY);
    CHECK(decide(lp, "t", "{\"Alias\":\"champion\"}", 1, NULL, &d) == VERDICT_DENY);
    CHECK(decide(lp, "t", "{\"ALIAS\":\"champion\"}", 1, NULL, &d) == VERDICT_DENY);
    CHECK(decide(lp, "t", "{\"al\u0131as\":\"champion\"}", 1, NULL, &d) == VERDICT_DENY);
    CHECK(decide(lp, "t", "{\"opts\":{\"FORCE\":true}}", 1, NULL, &d) == VERDICT_DENY);
    CHECK_STR(d.reason, "force");
    CHECK(decide(lp, "t", "{\"opts\":[{\"x\":1}],\"alias\":\"x\"}", 1, NULL, &d) == VERDICT_ALLOW);
    CHECK(decide(lp, "t", "{\"Alias\":\"challenger\"}", 1, NULL, &d) == VERDICT_NONE);
    lua_policy_free(lp);
}

int main(void)
{
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_champion();
    test_folded_args();
    test_escapes();
    test_handlers();
    test_error_metrics();
    test_values();
    test_load_errors();
    test_shared_store_c();
    test_shared_threads();
    test_shared_lua();
    test_on_list();
    test_hide_get_env();
    test_helpers();
    for (int i = 0; i < nfixtures; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/p%d.lua", tmpdir, i);
        unlink(path);
    }
    rmdir(tmpdir);
    return check_report();
}
