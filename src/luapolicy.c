#include "luapolicy.h"
#include "paths.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "glob.h"
#include "jsonrpc.h"
#include "log.h"
#include "metrics.h"
#include "sharedstore.h"
#include "utf8.h"

enum {
    DEFAULT_MEM = 16 << 20,
    DEFAULT_INSTRUCTIONS = 1000000,
    DEFAULT_WALL_MS = 50,
    DEFAULT_MAX_STRING = 64 << 10,
    HOOK_STEP = 1000,           /* instructions between two budget checks */
    BIG_ALLOC = 64 << 10,       /* allocations that also check the wall clock */
    STRING_HEADER = 64,         /* more than Lua's TString header and NUL */
    NS_PER_STEP = 5,            /* a VM instruction, match attempt or comparison, roughly */
    MAX_JSON_DEPTH = 128,       /* beyond the JSON-RPC reader's own bound */
};

#define DECISION_MT "warden.decision"

/* The helper modules of paths_lua_dir()/warden/, exposed as warden.lib.<name>. */
static const char *const helper_names[] = {"glob", "path", "pointer"};

/* What warden.allow/deny/require_approval return: a userdata so that scripts
 * cannot forge one (its metatable is protected). Its reason and its rule
 * ("FILE:LINE") are its user values 1 and 2, Lua strings: copying them into
 * the userdata made every decision an 800-byte allocation, which the
 * collector then paid for on every denied call. */
struct lua_decision {
    enum verdict verdict;
    struct approval_opts approval;  /* require_approval's opts */
};

/* One policy file and its lua_State; everything here is owned by it except
 * `shared` and the per-call pointers, borrowed for one run. */
struct lua_policy {
    lua_State *L;
    struct lua_limits lim;
    size_t mem_used;            /* bytes the allocator has handed to L */
    struct shared_store *shared;    /* borrowed */
    struct metrics *metrics;    /* borrowed, may be NULL: where failed runs count */
    char *shared_buf;           /* owned: shared_store_max_bytes() bytes for get */
    char *path;                 /* owned */
    char *server;               /* owned */
    int on_call_ref;            /* registry references */
    int on_list_ref;            /* LUA_NOREF without on_list */
    bool shadow;                /* the table says mode = "shadow" */
    int call_mt_ref;
    int cur_call_ref;           /* slot holding the call table of the running on_call */
    int on_call_line;           /* where on_call and on_list are defined */
    int on_list_line;
    /* State of the run in progress (load, on_call or on_list). */
    bool running;
    unsigned long steps;
    unsigned hook_step;
    struct timespec deadline;
    bool exceeded;              /* a budget is spent: the hook raises on every instruction */
    const char *fatal;          /* sticky failure that the script's pcall cannot swallow */
    double now;                 /* monotonic seconds, for warden.shared TTLs */
    struct rpc_msg *msg;        /* the call being decided, for call's lazy fields (trees built on demand) */
    const struct lua_call_extra *extra;
    struct list_run *list;      /* the on_list run in progress, for tool tables' lazy fields */
    lua_Integer list_runs;      /* on_list runs so far: tells a tool table of an earlier run */
    char err_rule[256];         /* "FILE:LINE" where the last error was raised */
    char null_tag;              /* its address is warden.null */
    char mt_tag;                /* its address marks metatables sb_setmetatable made */
};

/* The policy a lua_State belongs to: the allocator's ud, so no global is needed. */
static struct lua_policy *policy_of(lua_State *L)
{
    void *ud;
    lua_getallocf(L, &ud);
    return ud;
}

/* The count hook (below); spend() installs it at every instruction. */
static void budget_hook(lua_State *L, lua_Debug *ar);

/* True once the running call has used up its wall-clock time. */
static bool deadline_passed(const struct lua_policy *lp)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec > lp->deadline.tv_sec ||
           (ts.tv_sec == lp->deadline.tv_sec && ts.tv_nsec > lp->deadline.tv_nsec);
}

/* Nanoseconds until the running call's deadline (negative once past). */
static double time_left_ns(const struct lua_policy *lp)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)(lp->deadline.tv_sec - ts.tv_sec) * 1e9 + (double)(lp->deadline.tv_nsec - ts.tv_nsec);
}

/* Marks a budget as spent: from now on the hook raises on every instruction. */
static void spend(struct lua_policy *lp, const char *why)
{
    lp->fatal = why;
    lp->exceeded = true;
    lua_sethook(lp->L, budget_hook, LUA_MASKCOUNT, 1);
}

/* Caps the whole state at lim.mem_bytes; Lua turns a NULL into a memory error
 * (after an emergency collection). Large blocks come from C functions
 * (string.rep, upper, table.concat...) that run long between two count hooks,
 * so they are refused once the wall clock has run out. */
static void *policy_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_policy *lp = ud;
    int tag = ptr ? LUA_TNONE : (int)(osize & 0x0F); /* a new object's type */
    if (!ptr)
        osize = 0;
    if (nsize == 0) {
        free(ptr);
        lp->mem_used -= osize;
        return NULL;
    }
    if (nsize > osize && nsize - osize > lp->lim.mem_bytes - lp->mem_used)
        return NULL;
    /* No string outgrows max_string: C functions that scan strings (pattern
     * matching, comparisons, utf8.len, tonumber, string.packsize...) run
     * between two count hooks, and their cost is bounded through the size of
     * what they scan. */
    if (tag == LUA_TSTRING && nsize > lp->lim.max_string + STRING_HEADER) {
        if (lp->running && !lp->fatal)
            lp->fatal = "string longer than max_string";
        return NULL;
    }
    if (nsize >= BIG_ALLOC && nsize > osize && lp->running && (lp->exceeded || deadline_passed(lp))) {
        if (!lp->exceeded)
            spend(lp, "time limit exceeded");
        return NULL;
    }
    void *p = realloc(ptr, nsize);
    if (!p)
        return NULL;
    lp->mem_used = lp->mem_used - osize + nsize;
    return p;
}

/* Lua aborts after this; it only happens if warden calls Lua unprotected. */
static int policy_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    log_error("lua policy %s: unprotected error: %s", policy_of(L)->path, msg ? msg : "?");
    return 0;
}

/* Copies s into buf[0..len) NUL-terminated, cut at a character boundary so
 * that a reason an agent sees stays valid UTF-8; returns the bytes copied.
 * (snprintf's parsing showed in profiles of the per-call path.) */
static size_t copy_str(char *buf, size_t len, const char *s, size_t slen)
{
    return utf8_copy(buf, len, s, slen);
}

/* Writes "FILE:LINE" into buf (len >= 2), without snprintf for the same reason. */
static void format_rule(char *buf, size_t len, const char *file, int line)
{
    char digits[12];
    size_t nd = 0;
    unsigned u = line > 0 ? (unsigned)line : 0;
    do {
        digits[nd++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    size_t n = copy_str(buf, len, file, strlen(file));
    if (n + 1 + nd >= len)
        return;
    buf[n++] = ':';
    while (nd)
        buf[n++] = digits[--nd];
    buf[n] = '\0';
}

/* Writes "FILE:LINE" of the first Lua frame from `level` upward to buf;
 * leaves buf alone when there is none. */
static void where(lua_State *L, int level, char *buf, size_t len)
{
    lua_Debug ar;
    for (; lua_getstack(L, level, &ar); level++) {
        if (lua_getinfo(L, "Sl", &ar) && ar.currentline > 0) {
            const char *src = ar.source[0] == '@' ? ar.source + 1 : ar.short_src;
            format_rule(buf, len, src, ar.currentline);
            return;
        }
    }
}

/* CLOCK_MONOTONIC in seconds, as call_ctx.now: warden.shared's clock at load time. */
static double mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Enforces the instruction and wall-clock budgets. Once spent it raises on
 * every instruction, so a script's pcall that catches the error gets no
 * further than its next instruction. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lua_policy *lp = policy_of(L);
    if (!lp->exceeded) {
        lp->steps += lp->hook_step;
        if (lp->steps > lp->lim.instructions)
            spend(lp, "instruction budget exceeded");
        else if (deadline_passed(lp))
            spend(lp, "time limit exceeded");
        else
            return;
    }
    lua_pushstring(L, lp->fatal);
    lua_error(L);
}

/* Message handler of every run: notes where the error was raised. */
static int on_error(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    where(L, 1, lp->err_rule, sizeof lp->err_rule);
    return 1;
}

/* Runs fn(ud) protected, under fresh budgets, with `now` for warden.shared.
 * Returns the Lua status; on failure *msg is the error text (valid until the
 * next run) and lp->err_rule where it happened. */
static int run(struct lua_policy *lp, lua_CFunction fn, void *ud, double now, const char **msg)
{
    lua_State *L = lp->L;
    lua_settop(L, 0);
    lp->steps = 0;
    lp->exceeded = false;
    lp->fatal = NULL;
    lp->now = now;
    lp->err_rule[0] = '\0';
    clock_gettime(CLOCK_MONOTONIC, &lp->deadline);
    lp->deadline.tv_sec += lp->lim.wall_ms / 1000;
    lp->deadline.tv_nsec += (long)(lp->lim.wall_ms % 1000) * 1000000L;
    if (lp->deadline.tv_nsec >= 1000000000L) {
        lp->deadline.tv_sec++;
        lp->deadline.tv_nsec -= 1000000000L;
    }
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, (int)lp->hook_step);
    lua_pushcfunction(L, on_error);
    lua_pushcfunction(L, fn);
    lua_pushlightuserdata(L, ud);
    lp->running = true;
    int st = lua_pcall(L, 1, 0, 1);
    lp->running = false;
    lua_sethook(L, NULL, 0, 0);
    if (st == LUA_OK && lp->fatal)
        st = LUA_ERRRUN; /* the script got past a failure load() returns instead of raising */
    if (st == LUA_ERRMEM && !lp->fatal)
        lp->fatal = "out of memory";
    if (st != LUA_OK) {
        if (lp->fatal)
            *msg = lp->fatal;
        else if (!(*msg = lua_tostring(L, -1)))
            *msg = "error object is not a string";
    }
    if (st == LUA_ERRMEM) {
        lua_gc(L, LUA_GCCOLLECT, 0);
        /* What survives a full collection is the script's own state: every
         * call will fail (closed) until the policy is reloaded. */
        if (lp->mem_used > lp->lim.mem_bytes / 10 * 9)
            log_warn("lua policy %s: %zu of %zu bytes still in use after a collection",
                     lp->path, lp->mem_used, lp->lim.mem_bytes);
    }
    return st;
}

/* Charges count steps of C work (match attempts, comparisons, element
 * moves) to the instruction budget before it runs, since no hook can stop it
 * midway. Raises, stickily, when the budget or the time left cannot cover
 * it; `what` names the work in the logged message. */
static void charge(lua_State *L, double count, const char *what)
{
    struct lua_policy *lp = policy_of(L);
    if (count < 1)
        return;
    unsigned long left = lp->steps < lp->lim.instructions ? lp->lim.instructions - lp->steps : 0;
    const char *why = NULL;
    if (count > (double)left) {
        why = "instruction budget exceeded";
    } else if (count >= HOOK_STEP && count * NS_PER_STEP > time_left_ns(lp)) {
        why = "time limit exceeded";
    }
    if (why) {
        if (!lp->exceeded)
            spend(lp, why);
        luaL_error(L, "%s (%s)", lp->fatal, what);
    }
    lp->steps += (unsigned long)count;
}

/* ---- sandboxed replacements of base functions ---- */

/* Ends a pcall/xpcall: sticky failures go on up, past the script's handler. */
static int finish_pcall(lua_State *L, int status, int extra)
{
    struct lua_policy *lp = policy_of(L);
    if (status == LUA_ERRMEM && !lp->fatal)
        lp->fatal = "out of memory";
    if (lp->fatal)
        return luaL_error(L, "%s", lp->fatal);
    if (status != LUA_OK) {
        lua_pushboolean(L, 0);
        lua_pushvalue(L, -2);
        return 2;
    }
    return lua_gettop(L) - extra;
}

/* pcall that cannot swallow budget, memory or size failures. */
static int sb_pcall(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    return finish_pcall(L, lua_pcall(L, lua_gettop(L) - 2, LUA_MULTRET, 0), 0);
}

/* The message handler xpcall installs in place of the script's (upvalue 1).
 * A budget failure is raised from the count hook, and Lua runs the message
 * handler right there, inside the hook, where hooks are off: the script's
 * handler would run with no budget at all (a looping one held the worker
 * for good). So only warden's C code is ever a message handler, and it
 * hands a sticky failure on up untouched; the script's handler runs only
 * for the script's own errors, raised where hooks are on, under the
 * budget like any other code. */
static int xpcall_handler(lua_State *L)
{
    if (policy_of(L)->fatal)
        return 1;
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* xpcall, same rule as sb_pcall; the script's handler runs behind
 * xpcall_handler. */
static int sb_xpcall(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_checktype(L, 2, LUA_TFUNCTION);
    lua_pushvalue(L, 2);
    lua_pushcclosure(L, xpcall_handler, 1);
    lua_replace(L, 2);
    lua_pushboolean(L, 1);
    lua_pushvalue(L, 1);
    lua_rotate(L, 3, 2);
    return finish_pcall(L, lua_pcall(L, n - 2, LUA_MULTRET, 2), 2);
}

/* load(text [, chunkname]): text only, always into the sandbox's globals. */
static int sb_load(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    charge(L, (double)len / 16, "compiling a chunk");
    int st = luaL_loadbufferx(L, s, len, name, "t");
    if (st == LUA_ERRMEM)
        policy_of(L)->fatal = "out of memory";
    if (st != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

/* The fields of a script's metatable that setmetatable installs: every
 * metamethod but __gc and __mode, and what tostring and pairs read. */
static const char *const metafields[] = {
    "__index", "__newindex", "__call", "__tostring", "__name", "__pairs", "__len", "__eq", "__lt", "__le",
    "__concat", "__close", "__unm", "__add", "__sub", "__mul", "__div", "__mod", "__pow", "__idiv",
    "__band", "__bor", "__bxor", "__shl", "__shr", "__bnot",
};

/* setmetatable for the sandbox. Lua's collector runs scripts' code and
 * scripts' data structures where no hook fires: __gc finalizers run with
 * hooks off, and weak tables with weak keys (ephemerons) cost the atomic
 * phase time quadratic in their entries (40,000 chained entries, 4 MB,
 * took 11 s in one step). So neither may exist. A check at setmetatable is
 * not enough, since a metatable can be given __mode afterwards; so the
 * table gets a copy of the metatable's fields taken now, which the script
 * cannot reach (getmetatable still answers the script's own table), and
 * later changes to that table are not seen. */
static int sb_setmetatable(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    int t = lua_type(L, 2);
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    lua_settop(L, 2);
    if (lua_getmetatable(L, 1)) {
        /* A copy's __metatable is the script's table unless the script set one. */
        bool synthesized = lua_rawgetp(L, -1, &lp->mt_tag) != LUA_TNIL;
        lua_pushliteral(L, "__metatable");
        bool has = lua_rawget(L, -3) != LUA_TNIL;
        if (has && !synthesized)
            return luaL_error(L, "cannot change a protected metatable");
        lua_settop(L, 2);
    }
    if (t == LUA_TNIL) {
        lua_setmetatable(L, 1);
        return 1;
    }
    static const char *const refused[] = {"__gc", "__mode"};
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
        lua_pushstring(L, refused[i]);
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "%s metamethods are not allowed in policies", refused[i]);
        lua_pop(L, 1);
    }
    lua_createtable(L, 0, 4);
    for (size_t i = 0; i < sizeof metafields / sizeof *metafields; i++) {
        lua_pushstring(L, metafields[i]);
        lua_pushvalue(L, -1);
        if (lua_rawget(L, 2) == LUA_TNIL)
            lua_pop(L, 2);
        else
            lua_rawset(L, 3);
    }
    lua_pushliteral(L, "__metatable");
    if (lua_rawget(L, 2) == LUA_TNIL) {
        lua_pop(L, 1);
        lua_pushvalue(L, 2);
        lua_pushboolean(L, 1);
        lua_rawsetp(L, 3, &lp->mt_tag);
    }
    lua_setfield(L, 3, "__metatable");
    lua_setmetatable(L, 1);
    lua_settop(L, 1);
    return 1;
}

/* print goes to warden's log, one line per call. */
static int sb_print(lua_State *L)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
        if (i < n)
            luaL_addchar(&b, '\t');
    }
    luaL_pushresult(&b);
    log_info("lua policy %s: %s", policy_of(L)->path, lua_tostring(L, -1));
    return 0;
}

/* Index just past the set "[...]" starting at p[i]; a malformed set ends at
 * plen (Lua reports it). */
static size_t skip_set(const char *p, size_t plen, size_t i)
{
    i++;
    if (i < plen && p[i] == '^')
        i++;
    do {
        if (i >= plen)
            return plen;
        if (p[i++] == '%' && i < plen)
            i++;
    } while (i < plen && p[i] != ']');
    return i < plen ? i + 1 : plen;
}

/* An upper bound on the work of Lua's backtracking matcher for pattern p over
 * a subject of n bytes, in item tests (a set counts its length): each
 * quantified item (* + -), %b and back-reference may retry everything after
 * it at up to n+1 positions, each ? twice, and an unanchored search starts at
 * n+1 places. */
static double pattern_cost(const char *p, size_t plen, size_t n, bool may_anchor)
{
    double positions = (double)n + 1, cost = 1, items = 0;
    size_t i = 0;
    if (may_anchor && plen > 0 && p[0] == '^')
        i = 1;
    else
        cost = positions;
    while (i < plen) {
        char c = p[i];
        if (c == '(' || c == ')') {
            i++;
            continue;
        }
        items++;
        if (c == '%' && i + 1 < plen && p[i + 1] == 'b') {
            cost *= positions;
            i += 4;
            continue;
        }
        if (c == '%' && i + 1 < plen && p[i + 1] == 'f') {
            size_t end = skip_set(p, plen, i + 2);
            items += (double)(end - i);
            i = end;
            continue;
        }
        if (c == '%' && i + 1 < plen && p[i + 1] >= '1' && p[i + 1] <= '9') {
            cost *= positions;
            i += 2;
            continue;
        }
        if (c == '[') { /* a set is scanned whole at each attempt */
            size_t end = skip_set(p, plen, i);
            items += (double)(end - i);
            i = end;
        } else {
            i += c == '%' ? 2 : 1;
        }
        if (i < plen && (p[i] == '*' || p[i] == '+' || p[i] == '-')) {
            cost *= positions;
            i++;
        } else if (i < plen && p[i] == '?') {
            cost *= 2;
            i++;
        }
    }
    return cost * (items > 0 ? items : 1);
}

/* True when p[0..plen) holds a pattern special (embedded NULs included, as
 * Lua's own test does), i.e. string.find will not search it as plain text. */
static bool has_specials(const char *p, size_t plen)
{
    for (size_t i = 0; i < plen; i++) {
        if (p[i] && strchr("^$*+?.([%-", p[i]))
            return true;
    }
    return false;
}

/* Raises the sticky time-limit failure, naming the work in the message. */
static int out_of_time(lua_State *L, const char *what)
{
    struct lua_policy *lp = policy_of(L);
    if (!lp->exceeded)
        spend(lp, "time limit exceeded");
    return luaL_error(L, "%s (%s)", lp->fatal, what);
}

/* Wraps string.find/match/gmatch/gsub (upvalue 1 the original, upvalue 2 which
 * one: 0 find, 2 gmatch). Matching runs in C where no hook fires and Lua's
 * matcher backtracks polynomially (n^2 for "a-b" over n bytes, more with
 * more quantifiers; n is at most max_string). A call whose worst case does
 * not fit in the time left is refused before it runs, and the clock is read
 * again after a costly one, so a loop of them stops at the deadline. The
 * worst case is not charged to the instruction budget: typical input costs
 * far less, and the clock bounds the rest. */
static int sb_pattern(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    size_t slen, plen;
    luaL_checklstring(L, 1, &slen);
    const char *p = luaL_checklstring(L, 2, &plen);
    lua_Integer which = lua_tointeger(L, lua_upvalueindex(2));
    bool plain = which == 0 && (lua_toboolean(L, 4) || !has_specials(p, plen));
    /* A plain search is memchr + memcmp: many bytes per step. */
    double cost = plain ? ((double)slen + 1) * (double)plen / 16 : pattern_cost(p, plen, slen, which != 2);
    static const char what[] = "pattern matching; plain find and warden.lib.glob suit long subjects";
    bool costly = cost >= HOOK_STEP;
    if (costly && cost * NS_PER_STEP > time_left_ns(lp))
        return out_of_time(L, what);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    if (costly && time_left_ns(lp) < 0)
        return out_of_time(L, what);
    return lua_gettop(L);
}

/* Wraps string.rep (upvalue 1 the original). Lua's rep loops n times in C
 * even when the result is empty: rep('', 2^62) spun for good with no hook
 * and no allocation to stop it. An empty result is answered here; any
 * other is bounded by max_string through its one allocation. */
static int sb_rep(lua_State *L)
{
    size_t l, lsep;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || (l == 0 && (lsep == 0 || n == 1))) {
        lua_pushliteral(L, "");
        return 1;
    }
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

/* Elements in [from, to], saturated at LUA_MAXINTEGER. */
static lua_Integer span(lua_Integer from, lua_Integer to)
{
    if (to < from)
        return 0;
    lua_Unsigned n = (lua_Unsigned)to - (lua_Unsigned)from;
    return n >= (lua_Unsigned)LUA_MAXINTEGER ? LUA_MAXINTEGER : (lua_Integer)n + 1;
}

/* Wraps table.insert/remove/move/concat/unpack/sort (upvalue 1 the
 * original, upvalue 2 which one). They loop in C over a range the script
 * controls (a __len metamethod can claim 2^62 elements; sorting one 64K-byte
 * string's bytes takes a million comparisons), so the work is charged to the
 * instruction budget before they run. */
static int sb_table(lua_State *L)
{
    lua_Integer which = lua_tointeger(L, lua_upvalueindex(2)), count;
    if (which == 2) { /* move(a1, f, e, t) */
        lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
        count = span(f, e);
    } else if (which == 3 || which == 4) { /* concat(t, sep, i, j), unpack(t, i, j) */
        int arg = which == 3 ? 3 : 2;
        lua_Integer i = luaL_optinteger(L, arg, 1);
        lua_Integer j = lua_isnoneornil(L, arg + 1) ? luaL_len(L, 1) : luaL_checkinteger(L, arg + 1);
        count = span(i, j);
    } else if (which == 5) { /* sort: n log n comparisons */
        lua_Integer n = luaL_len(L, 1), log2n = 0;
        while (log2n < 63 && ((lua_Integer)1 << log2n) < n)
            log2n++;
        count = n > 0 && n < LUA_MAXINTEGER / 64 ? n * log2n : (n > 0 ? LUA_MAXINTEGER : 0);
    } else { /* insert(t, [pos,] v), remove(t [, pos]): shift the elements from pos on */
        lua_Integer n = luaL_len(L, 1);
        if (which == 0)
            count = lua_gettop(L) == 3 ? span(luaL_checkinteger(L, 2), n) : 0;
        else
            count = span(luaL_optinteger(L, 2, n), n);
    }
    charge(L, (double)count, "table function over a long range");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

/* __newindex of read-only proxies. */
static int readonly_newindex(lua_State *L)
{
    return luaL_error(L, "attempt to modify a read-only table");
}

/* The iterator of readonly_pairs and tool_pairs: `next` over the table
 * they hand it (a proxy's hidden table, a tool's own). */
static int table_next(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    if (lua_next(L, 1))
        return 2;
    lua_pushnil(L);
    return 1;
}

/* __pairs of a read-only proxy: iterates the hidden table (upvalue 1). */
static int readonly_pairs(lua_State *L)
{
    lua_pushcfunction(L, table_next);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 3;
}

/* __len of a read-only proxy: the length of the hidden table (upvalue 1). */
static int readonly_len(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)lua_rawlen(L, lua_upvalueindex(1)));
    return 1;
}

/* Replaces the table on top with a read-only proxy whose metatable is protected. */
static void make_readonly(lua_State *L)
{
    lua_newtable(L);
    lua_createtable(L, 0, 5);
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, readonly_len, 1);
    lua_setfield(L, -2, "__len");
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, readonly_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, -3);
    lua_pushcclosure(L, readonly_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

/* ---- the warden table ---- */

/* Builds a decision for the script's caller at file:line. */
static int make_decision(lua_State *L, enum verdict v, const char *fallback)
{
    struct lua_policy *lp = policy_of(L);
    luaL_optlstring(L, 1, fallback, NULL);
    bool given = !lua_isnoneornil(L, 1);
    char rule[sizeof ((struct decision *)0)->rule];
    copy_str(rule, sizeof rule, lp->path, strlen(lp->path));
    where(L, 1, rule, sizeof rule);
    struct lua_decision *d = lua_newuserdatauv(L, sizeof *d, 2);
    d->verdict = v;
    d->approval = APPROVAL_OPTS_DEFAULT;
    if (given)
        lua_pushvalue(L, 1);
    else
        lua_pushstring(L, fallback);
    lua_setiuservalue(L, -2, 1);
    lua_pushstring(L, rule);
    lua_setiuservalue(L, -2, 2);
    luaL_setmetatable(L, DECISION_MT);
    return 1;
}

/* warden.allow([reason]) */
static int w_allow(lua_State *L)
{
    return make_decision(L, VERDICT_ALLOW, "allowed by Lua policy");
}

/* warden.deny([reason]) */
static int w_deny(lua_State *L)
{
    return make_decision(L, VERDICT_DENY, "denied by Lua policy");
}

/* One number of require_approval's opts, in [lo, hi]; absent: keeps *out. */
static void approval_number(lua_State *L, const char *key, double lo, double hi, double *out)
{
    if (lua_getfield(L, 2, key) != LUA_TNIL) {
        if (!lua_isnumber(L, -1))
            luaL_error(L, "warden.require_approval: opts.%s must be a number of seconds", key);
        double v = lua_tonumber(L, -1);
        if (!(v >= lo && v <= hi))
            luaL_error(L, "warden.require_approval: opts.%s must be from %f to %f seconds", key, lo, hi);
        *out = v;
    }
    lua_pop(L, 1);
}

/* warden.require_approval([reason [, opts]]): opts as a JSON rule's
 * "approval": {hold = 45, ttl = 900, grant_ttl = 600, scope = "call"|"tool"}. */
static int w_require_approval(lua_State *L)
{
    struct approval_opts o = APPROVAL_OPTS_DEFAULT;
    if (!lua_isnoneornil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        approval_number(L, "hold", 0, 3600, &o.hold);
        approval_number(L, "ttl", 1, 86400 * 30, &o.ttl);
        approval_number(L, "grant_ttl", 1, 86400 * 30, &o.grant_ttl);
        if (lua_getfield(L, 2, "scope") != LUA_TNIL) {
            const char *sc = lua_tostring(L, -1);
            if (!sc || (strcmp(sc, "call") != 0 && strcmp(sc, "tool") != 0))
                return luaL_error(L, "warden.require_approval: opts.scope must be \"call\" or \"tool\"");
            o.scope = strcmp(sc, "tool") == 0 ? APPROVAL_SCOPE_TOOL : APPROVAL_SCOPE_CALL;
        }
        lua_pop(L, 1);
        lua_settop(L, 1);
    }
    make_decision(L, VERDICT_APPROVAL, "approval required by Lua policy");
    struct lua_decision *d = lua_touserdata(L, -1);
    d->approval = o;
    return 1;
}

/* The store behind warden.shared, or an error when the policy has none. */
static struct shared_store *shared_of(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    if (!lp->shared)
        luaL_error(L, "warden.shared is not available");
    return lp->shared;
}

/* warden.shared.get(key) -> value or nil */
static int w_shared_get(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    struct shared_value v;
    shared_store_get(shared_of(L), key, klen, lp->now, &v, lp->shared_buf);
    switch (v.type) {
    case SHARED_NIL: lua_pushnil(L); break;
    case SHARED_BOOL: lua_pushboolean(L, v.b); break;
    case SHARED_INT: lua_pushinteger(L, v.i); break;
    case SHARED_FLOAT: lua_pushnumber(L, v.d); break;
    case SHARED_STRING: lua_pushlstring(L, v.s, v.len); break;
    }
    return 1;
}

/* warden.shared.set(key, value [, ttl]): value nil deletes; returns true. */
static int w_shared_set(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    double ttl = luaL_optnumber(L, 3, 0);
    struct shared_value v = {.type = SHARED_NIL};
    switch (lua_type(L, 2)) {
    case LUA_TNONE:
    case LUA_TNIL: break;
    case LUA_TBOOLEAN: v.type = SHARED_BOOL; v.b = lua_toboolean(L, 2); break;
    case LUA_TNUMBER:
        if (lua_isinteger(L, 2)) {
            v.type = SHARED_INT;
            v.i = lua_tointeger(L, 2);
        } else {
            v.type = SHARED_FLOAT;
            v.d = lua_tonumber(L, 2);
        }
        break;
    case LUA_TSTRING: v.type = SHARED_STRING; v.s = lua_tolstring(L, 2, &v.len); break;
    default: return luaL_argerror(L, 2, "string, number, boolean or nil expected");
    }
    const char *err;
    if (shared_store_set(shared_of(L), key, klen, &v, ttl, lp->now, &err) != 0)
        return luaL_error(L, "%s", err);
    lua_pushboolean(L, 1);
    return 1;
}

/* warden.shared.incr(key [, delta [, ttl]]) -> new integer value */
static int w_shared_incr(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    lua_Integer delta = luaL_optinteger(L, 2, 1);
    double ttl = luaL_optnumber(L, 3, 0);
    long long result;
    const char *err;
    if (shared_store_incr(shared_of(L), key, klen, delta, ttl, lp->now, &result, &err) != 0)
        return luaL_error(L, "%s", err);
    lua_pushinteger(L, result);
    return 1;
}

/* ---- JSON to Lua ---- */

/* Raises the sticky "too large" failure: the call is refused even if the
 * script catches the error. */
static int too_large(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    lp->fatal = "argument too large for Lua policy";
    return luaL_error(L, "%s", lp->fatal);
}

/* A tree of the call that cannot be built: the run fails, whatever pcall the script wraps it in. */
static int no_memory(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    lp->fatal = "out of memory";
    return luaL_error(L, "%s", lp->fatal);
}

/* Pushes a string no longer than max_string. */
static void push_bounded(lua_State *L, const char *s, size_t len)
{
    if (len > policy_of(L)->lim.max_string)
        too_large(L);
    lua_pushlstring(L, s, len);
}

/* The byte that starts every key of a folded lookup table (below), so that
 * no argument key can pose as a metamethod name there ("__index", "__gc"...). */
#define FOLD_TAG '\1'

/* __index of argument objects: finds the member whose key folds like the
 * one asked for, since a Go server binds {"Alias": ...} to the field alias.
 * The object's metatable maps FOLD_TAG + folded key to the message's own
 * key (set_folded_lookup). rpc_parse refused objects whose keys fold
 * together, so at most one member matches. */
static int folded_index(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_type(L, 2) != LUA_TSTRING || !lua_getmetatable(L, 1))
        return 0;
    size_t len;
    const char *key = lua_tolstring(L, 2, &len);
    charge(L, (double)len / 16, "looking up an argument");
    char small[193];
    char *folded = len <= (sizeof small - 1) / 3 ? small : lua_newuserdatauv(L, 3 * len + 1, 0);
    folded[0] = FOLD_TAG;
    size_t flen = utf8_key_fold(key, len, folded + 1);
    lua_pushlstring(L, folded, flen + 1);
    if (lua_rawget(L, 3) != LUA_TSTRING)
        return 0;
    lua_rawget(L, 1);
    return 1;
}

/* Gives the object table on top of the stack a metatable that looks its
 * members up as case-insensitive readers do (folded_index). The metatable
 * is the map of keys itself: one table per object, no closure, no buffer
 * for the collector. */
static void set_folded_lookup(lua_State *L, const cJSON *obj)
{
    struct lua_policy *lp = policy_of(L);
    lua_createtable(L, 0, cJSON_GetArraySize(obj) + 1);
    const cJSON *e;
    cJSON_ArrayForEach(e, obj) {
        if (!e->string)
            continue;
        size_t len = strlen(e->string);
        char small[193];
        bool big = len > (sizeof small - 1) / 3;
        char *folded = big ? lua_newuserdatauv(L, 3 * len + 1, 0) : small;
        folded[0] = FOLD_TAG;
        size_t flen = utf8_key_fold(e->string, len, folded + 1);
        if (flen > lp->lim.max_string)
            too_large(L);
        lua_pushlstring(L, folded, flen + 1);
        if (big)
            lua_remove(L, -2);
        push_bounded(L, e->string, len);
        lua_rawset(L, -3);
    }
    lua_pushcfunction(L, folded_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

/* Pushes j as Lua values: null is warden.null, integral numbers up to 2^53
 * are integers (cJSON keeps no text, so 1.0 is 1 too), other numbers floats.
 * Objects of the arguments (fold) also answer case variants of their keys. */
static void push_json_as(lua_State *L, const cJSON *j, int depth, bool fold)
{
    struct lua_policy *lp = policy_of(L);
    if (depth > MAX_JSON_DEPTH)
        too_large(L);
    luaL_checkstack(L, 8, "JSON nested too deeply");
    if (cJSON_IsNull(j)) {
        lua_pushlightuserdata(L, &lp->null_tag);
    } else if (cJSON_IsBool(j)) {
        lua_pushboolean(L, cJSON_IsTrue(j));
    } else if (cJSON_IsNumber(j)) {
        double d = j->valuedouble;
        if (d == floor(d) && fabs(d) <= 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsString(j) && j->valuestring) {
        push_bounded(L, j->valuestring, strlen(j->valuestring));
    } else if (cJSON_IsArray(j)) {
        lua_createtable(L, cJSON_GetArraySize(j), 0);
        lua_Integer i = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, j) {
            push_json_as(L, e, depth + 1, fold);
            lua_rawseti(L, -2, ++i);
        }
    } else if (cJSON_IsObject(j)) {
        lua_createtable(L, 0, cJSON_GetArraySize(j));
        const cJSON *e;
        cJSON_ArrayForEach(e, j) {
            if (!e->string)
                continue;
            push_bounded(L, e->string, strlen(e->string));
            push_json_as(L, e, depth + 1, fold);
            lua_rawset(L, -3);
        }
        if (fold)
            set_folded_lookup(L, j);
    } else {
        lua_pushnil(L);
    }
}

static void push_json(lua_State *L, const cJSON *j, int depth)
{
    push_json_as(L, j, depth, false);
}

/* Pushes the allow-listed headers as {lowercased-name = value}; credentials
 * are dropped even if the caller passed them. */
static void push_headers(lua_State *L, const struct lua_call_extra *extra)
{
    static const char *const secret[] = {"authorization", "proxy-authorization", "cookie", "set-cookie"};
    size_t n = extra ? extra->nheaders : 0;
    lua_createtable(L, 0, (int)n);
    for (size_t i = 0; i < n; i++) {
        const struct lua_header *h = &extra->headers[i];
        size_t len = strlen(h->name);
        if (len > policy_of(L)->lim.max_string)
            too_large(L);
        luaL_Buffer b;
        char *p = luaL_buffinitsize(L, &b, len);
        for (size_t k = 0; k < len; k++)
            p[k] = (char)(h->name[k] >= 'A' && h->name[k] <= 'Z' ? h->name[k] + 32 : h->name[k]);
        luaL_pushresultsize(&b, len);
        const char *name = lua_tostring(L, -1);
        bool hide = false;
        for (size_t s = 0; s < sizeof secret / sizeof secret[0]; s++)
            hide = hide || strcmp(name, secret[s]) == 0;
        if (hide) {
            lua_pop(L, 1);
            continue;
        }
        push_bounded(L, h->value, h->value_len);
        lua_rawset(L, -3);
    }
}

/* Replaces the table on top, and every table within it, with read-only
 * proxies (push_json bounded the depth). */
static void freeze(lua_State *L)
{
    luaL_checkstack(L, 6, "JSON nested too deeply");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_istable(L, -1)) {
            freeze(L);
            lua_pushvalue(L, -2);
            lua_insert(L, -2);
            lua_rawset(L, -4);  /* replacing an existing field keeps lua_next valid */
        } else {
            lua_pop(L, 1);
        }
    }
    make_readonly(L);
}

/* Pushes the caller's principal ({id, kind, labels, claims, scopes}),
 * read-only at every level: a policy cannot make itself someone else. */
static void push_principal(lua_State *L, const cJSON *principal)
{
    if (!principal) {
        lua_pushnil(L);
        return;
    }
    push_json(L, principal, 0);
    freeze(L);
}

/* __index of call tables: converts args, meta, headers, tool_meta and
 * principal on first access and caches them, so a policy pays only for
 * what it reads. */
static int call_index(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->cur_call_ref);
    if (!lp->msg || !lua_rawequal(L, 1, -1))
        return luaL_error(L, "call table used after its call ended");
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    const char *key = lua_tostring(L, 2);
    struct rpc_msg *msg = lp->msg;
    if (strcmp(key, "args") == 0) {
        const cJSON *args;
        if (rpc_msg_args(msg, &args) < 0)
            return no_memory(L);
        if (args)
            push_json_as(L, args, 0, true);
        else
            lua_newtable(L);
    } else if (strcmp(key, "meta") == 0) {
        const cJSON *params;
        if (rpc_msg_params(msg, &params) < 0)
            return no_memory(L);
        const cJSON *meta = params ? cJSON_GetObjectItemCaseSensitive(params, "_meta") : NULL;
        if (!meta)
            return 0;
        push_json(L, meta, 0);
    } else if (strcmp(key, "headers") == 0) {
        push_headers(L, lp->extra);
    } else if (strcmp(key, "tool_meta") == 0) {
        if (!lp->extra || !lp->extra->tool_meta)
            return 0;
        push_json(L, lp->extra->tool_meta, 0);
    } else if (strcmp(key, "principal") == 0) {
        if (!lp->extra || !lp->extra->principal)
            return 0;
        push_principal(L, lp->extra->principal);
    } else {
        return 0;
    }
    lua_pushvalue(L, 2);
    lua_pushvalue(L, -2);
    lua_rawset(L, 1);
    return 1;
}

/* ---- loading ---- */

/* Builds the sandbox in the state's globals: trimmed base, and read-only
 * string (no dump, pattern functions bounded, metatable protected), table
 * (ranged functions charged to the budget), math and utf8; nothing that
 * reaches files, processes, bytecode, coroutines or the collector. */
static void build_sandbox(lua_State *L)
{
    luaL_requiref(L, LUA_GNAME, luaopen_base, 0);
    lua_pop(L, 1);
    static const char *const removed[] = {"dofile", "loadfile", "collectgarbage", "warn", "require"};
    for (size_t i = 0; i < sizeof removed / sizeof removed[0]; i++) {
        lua_pushnil(L);
        lua_setglobal(L, removed[i]);
    }
    static const luaL_Reg replaced[] = {
        {"pcall", sb_pcall}, {"xpcall", sb_xpcall}, {"load", sb_load},
        {"setmetatable", sb_setmetatable}, {"print", sb_print}, {NULL, NULL},
    };
    lua_pushglobaltable(L);
    luaL_setfuncs(L, replaced, 0);
    lua_pop(L, 1);

    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    static const char *const patterns[] = {"find", "match", "gmatch", "gsub"};
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        lua_getfield(L, -1, patterns[i]);
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, sb_pattern, 2);
        lua_setfield(L, -2, patterns[i]);
    }
    lua_getfield(L, -1, "rep");
    lua_pushcclosure(L, sb_rep, 1);
    lua_setfield(L, -2, "rep");
    /* ("").x reaches the library through the string metatable: protect it. */
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    make_readonly(L);
    lua_setglobal(L, LUA_STRLIBNAME);

    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    static const char *const ranged[] = {"insert", "remove", "move", "concat", "unpack", "sort"};
    for (size_t i = 0; i < sizeof ranged / sizeof ranged[0]; i++) {
        lua_getfield(L, -1, ranged[i]);
        lua_pushinteger(L, (lua_Integer)i);
        lua_pushcclosure(L, sb_table, 2);
        lua_setfield(L, -2, ranged[i]);
    }
    make_readonly(L);
    lua_setglobal(L, LUA_TABLIBNAME);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    make_readonly(L);
    lua_setglobal(L, LUA_MATHLIBNAME);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    make_readonly(L);
    lua_setglobal(L, LUA_UTF8LIBNAME);
}

/* glob_match(glob, s): glob.c's matcher, so that JSON and Lua policies
 * share one dialect and one implementation. Its work, bounded by
 * glob_cost, is charged to the instruction budget before it runs. */
static int native_glob_match(lua_State *L)
{
    size_t plen, slen;
    const char *g = luaL_checklstring(L, 1, &plen);
    const char *s = luaL_checklstring(L, 2, &slen);
    if (plen > GLOB_MAX)
        return luaL_error(L, "glob longer than %d bytes", GLOB_MAX);
    charge(L, glob_cost(plen, slen), "glob matching");
    lua_pushboolean(L, glob_match_n(g, plen, s, slen));
    return 1;
}

/* Loads the helper modules into the table on top of the stack. Each chunk
 * gets, as its argument, the table of C functions helpers may build on. */
static void load_helpers(lua_State *L)
{
    static const luaL_Reg natives[] = {{"glob_match", native_glob_match}, {NULL, NULL}};
    for (size_t i = 0; i < sizeof helper_names / sizeof helper_names[0]; i++) {
        lua_pushfstring(L, "%s/warden/%s.lua", paths_lua_dir(), helper_names[i]);
        if (luaL_loadfilex(L, lua_tostring(L, -1), "t") != LUA_OK)
            lua_error(L);
        luaL_newlib(L, natives);
        lua_call(L, 1, 1);
        if (!lua_istable(L, -1))
            luaL_error(L, "%s: helper module did not return a table", lua_tostring(L, -2));
        make_readonly(L);
        lua_setfield(L, -3, helper_names[i]);
        lua_pop(L, 1);
    }
}

/* Builds the global `warden` table (read-only). */
static void build_warden(lua_State *L, struct lua_policy *lp)
{
    static const luaL_Reg fns[] = {
        {"allow", w_allow}, {"deny", w_deny}, {"require_approval", w_require_approval}, {NULL, NULL},
    };
    static const luaL_Reg shared_fns[] = {
        {"get", w_shared_get}, {"set", w_shared_set}, {"incr", w_shared_incr}, {NULL, NULL},
    };
    luaL_newmetatable(L, DECISION_MT);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 1);

    luaL_newlib(L, fns);
    lua_pushlightuserdata(L, &lp->null_tag);
    lua_setfield(L, -2, "null");
    luaL_newlib(L, shared_fns);
    make_readonly(L);
    lua_setfield(L, -2, "shared");
    lua_newtable(L);
    load_helpers(L);
    make_readonly(L);
    lua_setfield(L, -2, "lib");
    make_readonly(L);
    lua_setglobal(L, "warden");
}

/* Protected body of lua_policy_load: sandbox, helpers, then the policy file. */
static int load_main(lua_State *L)
{
    struct lua_policy *lp = lua_touserdata(L, 1);
    build_sandbox(L);
    build_warden(L, lp);

    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, call_index);
    lua_setfield(L, -2, "__index");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lp->call_mt_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushboolean(L, 0);
    lp->cur_call_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    if (luaL_loadfilex(L, lp->path, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "%s: the policy must return a table, not %s", lp->path, luaL_typename(L, -1));
    if (lua_getfield(L, -1, "on_call") != LUA_TFUNCTION)
        return luaL_error(L, "%s: the returned table has no on_call function", lp->path);
    lua_Debug ar;
    lua_pushvalue(L, -1);
    lua_getinfo(L, ">S", &ar);
    lp->on_call_line = ar.linedefined;
    lp->on_call_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    int tbl = lua_gettop(L);
    int t = lua_getfield(L, -1, "on_list");
    if (t == LUA_TFUNCTION) {
        lua_pushvalue(L, -1);
        lua_getinfo(L, ">S", &ar);
        lp->on_list_line = ar.linedefined;
        lp->on_list_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    else if (t != LUA_TNIL)
        return luaL_error(L, "%s: on_list must be a function, not %s", lp->path, luaL_typename(L, -1));
    t = lua_getfield(L, tbl, "mode");
    const char *mode = t == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (t != LUA_TNIL && (!mode || (strcmp(mode, "enforce") != 0 && strcmp(mode, "shadow") != 0)))
        return luaL_error(L, "%s: mode must be \"enforce\" or \"shadow\"", lp->path);
    lp->shadow = mode && strcmp(mode, "shadow") == 0;
    return 0;
}

/* See luapolicy.h; every failure frees what was built and reports in err. */
struct lua_policy *lua_policy_load(const char *path, const struct lua_limits *lim,
                                   struct shared_store *shared, const char *server,
                                   char *err, size_t errlen)
{
    struct lua_policy *lp = calloc(1, sizeof *lp);
    if (!lp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    if (lim)
        lp->lim = *lim;
    if (!lp->lim.mem_bytes)
        lp->lim.mem_bytes = DEFAULT_MEM;
    if (!lp->lim.instructions)
        lp->lim.instructions = DEFAULT_INSTRUCTIONS;
    if (!lp->lim.wall_ms)
        lp->lim.wall_ms = DEFAULT_WALL_MS;
    if (!lp->lim.max_string)
        lp->lim.max_string = DEFAULT_MAX_STRING;
    lp->hook_step = lp->lim.instructions < HOOK_STEP ? (unsigned)lp->lim.instructions : HOOK_STEP;
    lp->on_call_ref = lp->on_list_ref = lp->call_mt_ref = lp->cur_call_ref = LUA_NOREF;
    lp->shared = shared;
    lp->path = strdup(path);
    lp->server = strdup(server ? server : "");
    if (shared)
        lp->shared_buf = malloc(shared_store_max_bytes(shared));
    if (lp->path && lp->server && (!shared || lp->shared_buf))
        lp->L = lua_newstate(policy_alloc, lp);
    if (!lp->L) {
        snprintf(err, errlen, "%s: out of memory", path);
        lua_policy_free(lp);
        return NULL;
    }
    lua_atpanic(lp->L, policy_panic);
    const char *msg;
    if (run(lp, load_main, lp, mono_now(), &msg) != LUA_OK) {
        /* Lua's messages carry the position already; the others get one. */
        if (strncmp(msg, path, strlen(path)) == 0)
            snprintf(err, errlen, "%s", msg);
        else if (lp->err_rule[0])
            snprintf(err, errlen, "%s: %s", lp->err_rule, msg);
        else
            snprintf(err, errlen, "%s: %s", path, msg);
        lua_policy_free(lp);
        return NULL;
    }
    lua_settop(lp->L, 0);
    return lp;
}

/* Closes the state (no finalizers can run: scripts cannot set __gc). */
void lua_policy_free(struct lua_policy *lp)
{
    if (!lp)
        return;
    if (lp->L)
        lua_close(lp->L);
    free(lp->shared_buf);
    free(lp->path);
    free(lp->server);
    free(lp);
}

/* See luapolicy.h. */
bool lua_policy_is_shadow(const struct lua_policy *lp)
{
    return lp->shadow;
}

bool lua_policy_has_on_list(const struct lua_policy *lp)
{
    return lp->on_list_ref != LUA_NOREF;
}

/* See luapolicy.h. */
void lua_policy_count_errors(struct lua_policy *lp, struct metrics *m)
{
    lp->metrics = m;
}

/* The kind warden_lua_errors_total counts a failed run under: a spent
 * budget is a timeout, a memory or size bound is memory, the rest (the
 * script's own errors, bad return values) is error. */
static const char *error_kind(const struct lua_policy *lp)
{
    static const char *const timeouts[] = {"instruction budget exceeded", "time limit exceeded"};
    static const char *const memory[] = {"out of memory", "string longer than max_string",
                                         "argument too large for Lua policy"};
    for (size_t i = 0; lp->fatal && i < sizeof timeouts / sizeof *timeouts; i++)
        if (strcmp(lp->fatal, timeouts[i]) == 0)
            return "timeout";
    for (size_t i = 0; lp->fatal && i < sizeof memory / sizeof *memory; i++)
        if (strcmp(lp->fatal, memory[i]) == 0)
            return "memory";
    return "error";
}

/* Fills *out as a VERDICT_ERROR for a failed run, counts it and logs the
 * details; line is the entry point's definition, for errors raised without
 * a position. */
static void fail(struct lua_policy *lp, const char *msg, int line, struct decision *out)
{
    if (lp->metrics)
        metrics_lua_error(lp->metrics, error_kind(lp));
    out->verdict = VERDICT_ERROR;
    out->retry_after = 0;
    if (lp->err_rule[0])
        utf8_snprintf(out->rule, sizeof out->rule, "%s", lp->err_rule);
    else
        utf8_snprintf(out->rule, sizeof out->rule, "%s:%d", lp->path, line);
    /* The agent learns which policy failed and how, not the script's error text. */
    utf8_snprintf(out->reason, sizeof out->reason, "Lua policy %s failed: %s", lp->path,
                  lp->fatal ? lp->fatal : "script error");
    /* Lua's own messages already start with the position. */
    if (lp->err_rule[0] && strncmp(msg, lp->err_rule, strlen(lp->err_rule)) == 0)
        log_warn("lua policy %s", msg);
    else
        log_warn("lua policy %s: %s", out->rule, msg);
}

/* What call_main needs, passed through lua_pcall as a light userdata. */
struct call_run {
    struct lua_policy *lp;
    struct rpc_msg *msg;
    const struct call_ctx *ctx;
    struct decision *out;
};

/* Pushes a string field of a table under construction, when s is not NULL. */
static void set_str(lua_State *L, const char *field, const char *s, size_t len)
{
    if (!s)
        return;
    push_bounded(L, s, len);
    lua_setfield(L, -2, field);
}

/* Protected body of lua_policy_on_call. */
static int call_main(lua_State *L)
{
    struct call_run *r = lua_touserdata(L, 1);
    struct lua_policy *lp = r->lp;
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->on_call_ref);
    lua_createtable(L, 0, 10);
    set_str(L, "tool", r->msg->tool, r->msg->tool ? strlen(r->msg->tool) : 0);
    const char *server = r->ctx->server ? r->ctx->server : lp->server;
    set_str(L, "server", server, strlen(server));
    set_str(L, "session", r->ctx->session, r->ctx->session_len);
    set_str(L, "method", r->msg->method, r->msg->method ? strlen(r->msg->method) : 0);
    set_str(L, "id", r->msg->id_text, r->msg->id_len);
    if (lp->extra && lp->extra->tool_class)
        set_str(L, "tool_class", lp->extra->tool_class, strlen(lp->extra->tool_class));
    lua_pushnumber(L, r->ctx->wall);
    lua_setfield(L, -2, "now");
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->call_mt_ref);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawseti(L, LUA_REGISTRYINDEX, lp->cur_call_ref);
    lua_call(L, 1, 1);

    struct decision *out = r->out;
    if (lua_isnil(L, -1)) {
        out->verdict = VERDICT_NONE;
        format_rule(out->rule, sizeof out->rule, lp->path, lp->on_call_line);
        return 0;
    }
    const struct lua_decision *d = luaL_testudata(L, -1, DECISION_MT);
    if (!d)
        return luaL_error(L, "%s: on_call returned a %s, not nil or a warden decision", lp->path,
                          luaL_typename(L, -1));
    out->verdict = d->verdict;
    size_t len;
    lua_getiuservalue(L, -1, 1);
    const char *text = lua_tolstring(L, -1, &len);
    copy_str(out->reason, sizeof out->reason, text, len);
    lua_getiuservalue(L, -2, 2);
    text = lua_tolstring(L, -1, &len);
    copy_str(out->rule, sizeof out->rule, text, len);
    out->approval = d->approval;
    return 0;
}

/* See luapolicy.h; lp->msg is set only for the run so stale call tables fail. */
void lua_policy_on_call(struct lua_policy *lp, struct rpc_msg *msg, const struct call_ctx *ctx,
                        const struct lua_call_extra *extra, struct decision *out)
{
    memset(out, 0, sizeof *out);
    /* Refused before Lua runs so the outcome never depends on what the
     * script reads: rpc_parse measured the arguments, no tree is needed. */
    if (msg->args_text && (msg->args_longest > lp->lim.max_string || msg->args_depth > MAX_JSON_DEPTH)) {
        lp->err_rule[0] = '\0';
        lp->fatal = "argument too large for Lua policy";
        fail(lp, lp->fatal, lp->on_call_line, out);
        return;
    }
    struct call_run r = {.lp = lp, .msg = msg, .ctx = ctx, .out = out};
    lp->msg = msg;
    lp->extra = extra;
    const char *err;
    if (run(lp, call_main, &r, ctx->now, &err) != LUA_OK)
        fail(lp, err, lp->on_call_line, out);
    lp->msg = NULL;
    lp->extra = NULL;
    lua_settop(lp->L, 0);
}

/* What list_main needs, passed through lua_pcall as a light userdata, and
 * lp->list while it runs. */
struct list_run {
    struct lua_policy *lp;
    const struct list_item *items;
    size_t n;
    const struct call_ctx *ctx;
    bool *keep;     /* in: the tools shown; out: the ones the script kept */
    bool *filled;   /* the tool table has its description and annotations */
    cJSON *tmp;     /* a field being converted: freed after the run even if converting raised */
};

/* Pushes one tool field from its JSON text as push_json would: a string
 * without escapes straight from the bytes (the answer's reader checked
 * them), anything else through cJSON. */
static void push_field(lua_State *L, struct list_run *r, const char *text, size_t len)
{
    if (*text == '"' && !memchr(text, '\\', len)) {
        push_bounded(L, text + 1, len - 2);
        return;
    }
    cJSON_Delete(r->tmp);
    if (!(r->tmp = cJSON_ParseWithLength(text, len)))
        luaL_error(L, "%s: a tool field warden could not convert (out of memory)", r->lp->path);
    push_json(L, r->tmp, 1);
    cJSON_Delete(r->tmp);
    r->tmp = NULL;
}

/* Gives the tool table at t (tool i) its description and annotations. */
static void fill_tool(lua_State *L, struct list_run *r, size_t i, int t)
{
    static const char *const fields[] = {"description", "annotations"};
    const struct list_item *it = &r->items[i];
    const char *text[] = {it->description, it->annotations};
    size_t len[] = {it->description_len, it->annotations_len};
    r->filled[i] = true;
    for (size_t f = 0; f < 2; f++) {
        if (!text[f])
            continue;
        lua_pushstring(L, fields[f]);
        push_field(L, r, text[f], len[f]);
        lua_rawset(L, t);
    }
}

/* The tool index of the tool table at 1 in the running on_list, from the
 * table -> index map (upvalue 1) of the run numbered upvalue 2. */
static size_t tool_of(lua_State *L, struct list_run **run)
{
    struct lua_policy *lp = policy_of(L);
    struct list_run *r = lp->list;
    if (!r || lua_tointeger(L, lua_upvalueindex(2)) != lp->list_runs)
        luaL_error(L, "tool table used after its on_list ended");
    lua_pushvalue(L, 1);
    if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNUMBER)
        luaL_error(L, "not a tool table of this on_list");
    size_t i = (size_t)lua_tointeger(L, -1);
    lua_pop(L, 1);
    *run = r;
    return i;
}

/* The tool tables' metamethods: description and annotations are converted
 * when the script first reads, writes or walks a tool (most scripts read
 * names only), so a table behaves as if it held them from the start. */
static int tool_index(lua_State *L)
{
    struct list_run *r;
    size_t i = tool_of(L, &r);
    lua_settop(L, 2);
    if (!r->filled[i]) {
        fill_tool(L, r, i, 1);
        lua_rawget(L, 1);
        return 1;
    }
    return 0;
}

static int tool_newindex(lua_State *L)
{
    struct list_run *r;
    size_t i = tool_of(L, &r);
    lua_settop(L, 3);
    if (!r->filled[i])
        fill_tool(L, r, i, 1);
    lua_rawset(L, 1);
    return 0;
}

static int tool_pairs(lua_State *L)
{
    struct list_run *r;
    size_t i = tool_of(L, &r);
    if (!r->filled[i])
        fill_tool(L, r, i, 1);
    lua_pushcfunction(L, table_next);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

/* Protected body of lua_policy_on_list_items. */
static int list_main(lua_State *L)
{
    struct list_run *r = lua_touserdata(L, 1);
    struct lua_policy *lp = r->lp;
    size_t shown = 0;
    for (size_t i = 0; i < r->n; i++)
        shown += r->keep[i];
    lua_createtable(L, 0, (int)shown);      /* 2: tool table -> index */
    lua_createtable(L, 0, 4);               /* 3: the tool tables' metatable */
    static const struct {
        const char *name;
        lua_CFunction fn;
    } methods[] = {{"__index", tool_index}, {"__newindex", tool_newindex}, {"__pairs", tool_pairs}};
    for (size_t m = 0; m < sizeof methods / sizeof *methods; m++) {
        lua_pushvalue(L, 2);
        lua_pushinteger(L, lp->list_runs);
        lua_pushcclosure(L, methods[m].fn, 2);
        lua_setfield(L, 3, methods[m].name);
    }
    lua_pushboolean(L, 0);
    lua_setfield(L, 3, "__metatable");
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->on_list_ref);
    lua_createtable(L, (int)shown, 0);      /* tools, the script may reorder it */
    lua_Integer k = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->keep[i])
            continue;
        r->keep[i] = false;
        lua_createtable(L, 0, 1);
        if (r->items[i].name) {
            push_bounded(L, r->items[i].name, r->items[i].name_len);
            lua_setfield(L, -2, "name");
        }
        lua_pushvalue(L, 3);
        lua_setmetatable(L, -2);
        lua_pushvalue(L, -1);
        lua_pushinteger(L, (lua_Integer)i);
        lua_rawset(L, 2);
        lua_rawseti(L, -2, ++k);
    }
    lua_createtable(L, 0, 4);
    const char *server = r->ctx->server ? r->ctx->server : lp->server;
    set_str(L, "server", server, strlen(server));
    set_str(L, "session", r->ctx->session, r->ctx->session_len);
    lua_pushnumber(L, r->ctx->wall);
    lua_setfield(L, -2, "now");
    if (r->ctx->principal) {
        push_principal(L, r->ctx->principal->doc);
        lua_setfield(L, -2, "principal");
    }
    lua_call(L, 2, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "%s: on_list returned a %s, not an array of tools", lp->path,
                          luaL_typename(L, -1));
    lua_Integer len = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer j = 1; j <= len; j++) {
        lua_rawgeti(L, -1, j);
        if (lua_rawget(L, 2) != LUA_TNUMBER)
            return luaL_error(L, "%s: on_list must return tool tables it was given", lp->path);
        r->keep[lua_tointeger(L, -1)] = true;
        lua_pop(L, 1);
    }
    return 0;
}

/* See luapolicy.h. */
int lua_policy_on_list_items(struct lua_policy *lp, const struct list_item *items, size_t n, bool *keep,
                             const struct call_ctx *ctx, struct decision *err_out)
{
    memset(err_out, 0, sizeof *err_out);
    if (!lua_policy_has_on_list(lp))
        return 0;
    bool *filled = calloc(n + 1, sizeof *filled);
    if (!filled) {
        memset(keep, 0, n * sizeof *keep);
        lp->err_rule[0] = '\0';
        lp->fatal = "out of memory";
        fail(lp, lp->fatal, lp->on_list_line, err_out);
        return -1;
    }
    struct list_run r = {.lp = lp, .items = items, .n = n, .ctx = ctx, .keep = keep, .filled = filled};
    lp->list = &r;
    lp->list_runs++;
    const char *err;
    int rc = 0;
    if (run(lp, list_main, &r, ctx->now, &err) != LUA_OK) {
        fail(lp, err, lp->on_list_line, err_out);
        memset(keep, 0, n * sizeof *keep);
        rc = -1;
    }
    lp->list = NULL;
    cJSON_Delete(r.tmp);
    lua_settop(lp->L, 0);
    free(filled);
    return rc;
}

/* See luapolicy.h: the tools' fields are shown to the script as their JSON
 * text, as a tools/list answer has them; the array is edited only after the
 * script succeeded. */
int lua_policy_on_list(struct lua_policy *lp, cJSON *tools_array, const struct call_ctx *ctx,
                       struct decision *err_out)
{
    memset(err_out, 0, sizeof *err_out);
    if (!lua_policy_has_on_list(lp))
        return 0;
    if (!cJSON_IsArray(tools_array)) {
        lp->err_rule[0] = '\0';
        lp->fatal = "tools is not an array";
        fail(lp, lp->fatal, lp->on_list_line, err_out);
        return -1;
    }
    size_t n = (size_t)cJSON_GetArraySize(tools_array);
    struct list_item *items = calloc(n + 1, sizeof *items);
    char **texts = calloc(2 * n + 1, sizeof *texts);
    bool *keep = calloc(n + 1, sizeof *keep);
    bool ok = items && texts && keep;
    size_t i = 0;
    for (const cJSON *t = tools_array->child; ok && t; t = t->next, i++) {
        keep[i] = true;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        if (cJSON_IsString(name)) {
            items[i].name = name->valuestring;
            items[i].name_len = strlen(name->valuestring);
        }
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(t, "description");
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(t, "annotations");
        if (d && (ok = (texts[2 * i] = cJSON_PrintUnformatted(d)) != NULL)) {
            items[i].description = texts[2 * i];
            items[i].description_len = strlen(texts[2 * i]);
        }
        if (ok && a && (ok = (texts[2 * i + 1] = cJSON_PrintUnformatted(a)) != NULL)) {
            items[i].annotations = texts[2 * i + 1];
            items[i].annotations_len = strlen(texts[2 * i + 1]);
        }
    }
    int dropped = -1;
    if (!ok) {
        lp->err_rule[0] = '\0';
        lp->fatal = "out of memory";
        fail(lp, lp->fatal, lp->on_list_line, err_out);
    } else if (lua_policy_on_list_items(lp, items, n, keep, ctx, err_out) == 0) {
        dropped = 0;
        cJSON *t = tools_array->child;
        for (i = 0; t; i++) {
            cJSON *next = t->next;
            if (!keep[i]) {
                cJSON_Delete(cJSON_DetachItemViaPointer(tools_array, t));
                dropped++;
            }
            t = next;
        }
    }
    for (i = 0; texts && i < 2 * n; i++)
        free(texts[i]);
    free(texts);
    free(items);
    free(keep);
    return dropped;
}
