#include "luapolicy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include "glob.h"
#include "http.h"
#include "log.h"
#include "sharedstore.h"

#define DEFAULT_MEMORY (32u * 1024 * 1024)
#define DEFAULT_INSTRUCTIONS 10000000ul
#define DEFAULT_WALL_MS 250u
#define DEFAULT_MAX_STRING (1024u * 1024)
#define HOOK_EVERY 1000
#define MAX_ARG_DEPTH 64

struct lua_policy {
    lua_State *L;
    char *path;
    char *server;
    struct lua_limits lim;
    struct shared_store *shared;
    size_t used;                 /* bytes allocated by the state */
    /* the budget of the call running now */
    unsigned long counted;
    struct timespec deadline;
    bool over_budget;            /* once spent, the hook raises on every count */
    int on_call_ref, on_list_ref;
};

/* Keys of the registry where the sandbox keeps its own values. */
static const char decision_mt_key = 'd';
static const char null_key = 'n';

/* The allocator: caps a state's memory; past the cap Lua raises "not enough memory". */
static void *sandbox_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    struct lua_policy *lp = ud;
    size_t old = ptr ? osize : 0;
    if (nsize == 0) {
        free(ptr);
        lp->used -= old;
        return NULL;
    }
    if (nsize > old && lp->used + (nsize - old) > lp->lim.memory)
        return NULL;
    void *p = realloc(ptr, nsize);
    if (p)
        lp->used = lp->used - old + nsize;
    return p;
}

static bool past_deadline(const struct lua_policy *lp)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > lp->deadline.tv_sec || (now.tv_sec == lp->deadline.tv_sec && now.tv_nsec >= lp->deadline.tv_nsec);
}

/* The count hook: once the budget is spent it raises on every count, so a
 * pcall inside the script cannot swallow it for long. */
static void budget_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    struct lua_policy *lp;
    lua_getallocf(L, (void **)&lp);
    lp->counted += HOOK_EVERY;
    if (!lp->over_budget && (lp->counted > lp->lim.instructions || past_deadline(lp)))
        lp->over_budget = true;
    if (lp->over_budget) {
        /* From now on every instruction raises, so the error also fires in
         * the frame that a pcall returns to, and leaves the script. */
        lua_sethook(L, budget_hook, LUA_MASKCOUNT, 1);
        char msg[128];
        snprintf(msg, sizeof msg, "policy exceeded its budget (%lu instructions or %u ms)", lp->lim.instructions,
                 lp->lim.wall_ms);
        luaL_error(L, "%s", msg);
    }
}

static void start_budget(struct lua_policy *lp, unsigned long instructions, unsigned ms)
{
    lua_sethook(lp->L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    lp->counted = 0;
    lp->over_budget = false;
    lp->lim.instructions = instructions;
    clock_gettime(CLOCK_MONOTONIC, &lp->deadline);
    lp->deadline.tv_sec += ms / 1000;
    lp->deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (lp->deadline.tv_nsec >= 1000000000L) {
        lp->deadline.tv_sec++;
        lp->deadline.tv_nsec -= 1000000000L;
    }
}

/* ---- the sandbox's library ---- */

static struct lua_policy *policy_of(lua_State *L)
{
    struct lua_policy *lp;
    lua_getallocf(L, (void **)&lp);
    return lp;
}

/* warden.deny(reason) and friends: a decision table whose metatable scripts cannot reach. */
static int make_decision(lua_State *L, const char *kind)
{
    const char *reason = luaL_optstring(L, 1, "");
    lua_createtable(L, 0, 3);
    lua_pushstring(L, kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, reason);
    lua_setfield(L, -2, "reason");
    lua_Debug ar;
    if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar)) {
        lua_pushinteger(L, ar.currentline);
        lua_setfield(L, -2, "line");
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &decision_mt_key);
    lua_setmetatable(L, -2);
    return 1;
}

static int w_allow(lua_State *L) { return make_decision(L, "allow"); }
static int w_deny(lua_State *L) { return make_decision(L, "deny"); }
static int w_approval(lua_State *L) { return make_decision(L, "require_approval"); }

/* warden.glob(pattern, s): the same globs as JSON policies. */
static int w_glob(lua_State *L)
{
    size_t len;
    const char *pattern = luaL_checkstring(L, 1);
    const char *s = luaL_checklstring(L, 2, &len);
    lua_pushboolean(L, glob_valid(pattern) && glob_match(pattern, s, len));
    return 1;
}

/* warden.path_under(path, root): true when path, normalized, stays inside root. */
static int w_path_under(lua_State *L)
{
    size_t plen, rlen;
    const char *path = luaL_checklstring(L, 1, &plen);
    const char *root = luaL_checklstring(L, 2, &rlen);
    if (plen == 0 || path[0] != '/' || rlen == 0 || root[0] != '/' || memchr(path, '\0', plen)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    /* Normalize path segments: drop "." and "", resolve "..", without touching the filesystem. */
    char out[4096];
    size_t n = 0;
    for (size_t i = 0; i < plen;) {
        while (i < plen && path[i] == '/')
            i++;
        size_t start = i;
        while (i < plen && path[i] != '/')
            i++;
        size_t seg = i - start;
        if (seg == 0 || (seg == 1 && path[start] == '.'))
            continue;
        if (seg == 2 && path[start] == '.' && path[start + 1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
            continue;
        }
        if (n + seg + 2 > sizeof out)
            return luaL_error(L, "path too long");
        out[n++] = '/';
        memcpy(out + n, path + start, seg);
        n += seg;
    }
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    bool under = rlen == 1 || (n >= rlen && memcmp(out, root, rlen) == 0 && (n == rlen || out[rlen] == '/'));
    lua_pushboolean(L, under);
    return 1;
}

/* Builds "SERVER\x1fKEY" so that servers never see each other's values. */
static size_t shared_key(lua_State *L, char *buf, size_t cap)
{
    size_t klen;
    const char *key = luaL_checklstring(L, 1, &klen);
    const struct lua_policy *lp = policy_of(L);
    int n = snprintf(buf, cap, "%s\x1f", lp->server);
    if (n < 0 || (size_t)n + klen > SHARED_MAX_KEY || (size_t)n + klen >= cap)
        luaL_error(L, "warden.shared: key too long (at most %d bytes)", SHARED_MAX_KEY);
    memcpy(buf + n, key, klen);
    return (size_t)n + klen;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int s_get(lua_State *L)
{
    char key[SHARED_MAX_KEY + 64];
    size_t klen = shared_key(L, key, sizeof key);
    struct shared_value v;
    if (!shared_get(policy_of(L)->shared, key, klen, wall_now(), &v)) {
        lua_pushnil(L);
        return 1;
    }
    if (v.is_string) {
        lua_pushlstring(L, v.string, v.len);
        free(v.string);
    } else if (v.is_bool) {
        lua_pushboolean(L, v.number != 0);
    } else if (v.number == (double)(lua_Integer)v.number) {
        lua_pushinteger(L, (lua_Integer)v.number);
    } else {
        lua_pushnumber(L, v.number);
    }
    return 1;
}

static int s_set(lua_State *L)
{
    char key[SHARED_MAX_KEY + 64];
    size_t klen = shared_key(L, key, sizeof key);
    struct shared_value v = {0};
    switch (lua_type(L, 2)) {
    case LUA_TSTRING:
        v.is_string = true;
        v.string = (char *)lua_tolstring(L, 2, &v.len);
        break;
    case LUA_TNUMBER:
        v.number = lua_tonumber(L, 2);
        break;
    case LUA_TBOOLEAN:
        v.is_bool = true;
        v.number = lua_toboolean(L, 2);
        break;
    default:
        return luaL_error(L, "warden.shared.set: values are strings, numbers or booleans");
    }
    double ttl = luaL_optnumber(L, 3, 0);
    if (shared_set(policy_of(L)->shared, key, klen, &v, ttl, wall_now()) < 0)
        return luaL_error(L, "warden.shared.set: store full or value too large (at most %d bytes)", SHARED_MAX_VALUE);
    return 0;
}

static int s_incr(lua_State *L)
{
    char key[SHARED_MAX_KEY + 64];
    size_t klen = shared_key(L, key, sizeof key);
    double delta = luaL_optnumber(L, 2, 1), ttl = luaL_optnumber(L, 3, 0), result;
    if (shared_incr(policy_of(L)->shared, key, klen, delta, ttl, wall_now(), &result) < 0)
        return luaL_error(L, "warden.shared.incr: store full, or the value is not a number");
    if (result == (double)(lua_Integer)result)
        lua_pushinteger(L, (lua_Integer)result);
    else
        lua_pushnumber(L, result);
    return 1;
}

/* print() goes to warden's log, one line, attributed to the policy. */
static int w_print(lua_State *L)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int n = lua_gettop(L);
    for (int i = 1; i <= n; i++) {
        if (i > 1)
            luaL_addchar(&b, '\t');
        luaL_addvalue(&b);
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_info("lua policy %s: %s", policy_of(L)->path, lua_tostring(L, -1));
    return 0;
}

/* setmetatable without __gc: finalizers run with hooks off, so a looping one would hang warden. */
static int w_setmetatable(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TTABLE) {
        lua_getfield(L, 2, "__gc");
        if (!lua_isnil(L, -1))
            return luaL_error(L, "__gc metamethods are not allowed in policies");
        lua_pop(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, 2, 1);
    return 1;
}

/* load() for text chunks only, in the policy's own environment. */
static int w_load(lua_State *L)
{
    size_t len;
    const char *chunk = luaL_checklstring(L, 1, &len);
    const char *name = luaL_optstring(L, 2, "=(load)");
    if (luaL_loadbufferx(L, chunk, len, name, "t") != LUA_OK) {
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

/* Lua's matcher backtracks in C, where no hook fires: with q variable-length
 * items a subject of n bytes costs up to about n^(q+1) steps. Patterns are
 * refused when that bound is out of reach of the instruction budget. */
static bool pattern_affordable(const char *pat, size_t plen, size_t subject_len, unsigned long budget)
{
    unsigned quantifiers = 0;
    bool in_set = false;
    for (size_t i = 0; i < plen; i++) {
        if (pat[i] == '%') {
            i++;
        } else if (in_set) {
            in_set = pat[i] != ']';
        } else if (pat[i] == '[') {
            in_set = true;
            if (i + 1 < plen && pat[i + 1] == ']')
                i++;
        } else if ((pat[i] == '*' || pat[i] == '+' || pat[i] == '-') && i > 0) {
            quantifiers++;
        }
    }
    double cost = 1;
    for (unsigned q = 0; q <= quantifiers && cost <= (double)budget * 10; q++)
        cost *= (double)(subject_len + 1);
    return cost <= (double)budget * 10;
}

/* string functions that run in C, where no hook fires: their inputs are bounded. */
static int guarded_string_fn(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    size_t len = 0;
    if (lua_type(L, 1) == LUA_TSTRING)
        lua_tolstring(L, 1, &len);
    if (len > lp->lim.max_string)
        return luaL_error(L, "string too long for a pattern function (%d bytes)", (int)len);
    size_t plen = 0;
    const char *pat = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &plen) : NULL;
    if (plen > 4096)
        return luaL_error(L, "pattern too long");
    if (pat && !pattern_affordable(pat, plen, len, lp->lim.instructions))
        return luaL_error(L, "pattern too costly for a string of %d bytes (too many repetitions)", (int)len);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
    return lua_gettop(L);
}

static int guarded_rep(lua_State *L)
{
    struct lua_policy *lp = policy_of(L);
    size_t len;
    luaL_checklstring(L, 1, &len);
    lua_Integer n = luaL_checkinteger(L, 2);
    size_t sep = 0;
    if (lua_type(L, 3) == LUA_TSTRING)
        lua_tolstring(L, 3, &sep);
    if (n > 0 && (len + sep) > 0 && (size_t)n > lp->lim.max_string / (len + sep))
        return luaL_error(L, "string.rep result too large");
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, lua_gettop(L) - 1, 1);
    return 1;
}

static int refuse_write(lua_State *L)
{
    return luaL_error(L, "this table is read-only in policies");
}

/* Replaces the table on top of the stack with a read-only view of it. */
static void freeze(lua_State *L)
{
    lua_newtable(L);                 /* view */
    lua_createtable(L, 0, 3);        /* its metatable */
    lua_pushvalue(L, -3);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, refuse_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_remove(L, -2);
}

/* Opens the allowed libraries and trims them; the globals are the sandbox.
 * Run under pcall: running out of memory here is an error, not a panic. */
static int build_sandbox(lua_State *L)
{
    luaL_requiref(L, "_G", luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    lua_pop(L, 5);
    static const char *const removed[] = {"dofile", "loadfile", "require", "collectgarbage", "rawset", NULL};
    for (const char *const *name = removed; *name; name++) {
        lua_pushnil(L);
        lua_setglobal(L, *name);
    }
    lua_getglobal(L, "setmetatable");   /* the original, reachable only as the wrapper's upvalue */
    lua_pushcclosure(L, w_setmetatable, 1);
    lua_setglobal(L, "setmetatable");
    lua_register(L, "load", w_load);
    lua_register(L, "print", w_print);

    /* string: no dump; C-side work bounded; its metatable hidden so it cannot be tampered with */
    lua_getglobal(L, LUA_STRLIBNAME);
    lua_pushnil(L);
    lua_setfield(L, -2, "dump");
    static const char *const pattern_fns[] = {"find", "match", "gmatch", "gsub", NULL};
    for (const char *const *fn = pattern_fns; *fn; fn++) {
        lua_getfield(L, -1, *fn);
        lua_pushcclosure(L, guarded_string_fn, 1);
        lua_setfield(L, -2, *fn);
    }
    lua_getfield(L, -1, "rep");
    lua_pushcclosure(L, guarded_rep, 1);
    lua_setfield(L, -2, "rep");
    lua_pop(L, 1);
    lua_pushliteral(L, "");
    lua_getmetatable(L, -1);
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_pop(L, 2);
    /* scripts see string through a read-only view: the table strings use stays as built */
    lua_getglobal(L, LUA_STRLIBNAME);
    freeze(L);
    lua_setglobal(L, LUA_STRLIBNAME);

    /* decisions' metatable, hidden from scripts */
    lua_newtable(L);
    lua_pushliteral(L, "warden decision");
    lua_setfield(L, -2, "__metatable");
    lua_rawsetp(L, LUA_REGISTRYINDEX, &decision_mt_key);

    /* the warden table */
    lua_newtable(L);
    static const luaL_Reg fns[] = {{"allow", w_allow}, {"deny", w_deny}, {"require_approval", w_approval},
                                   {"glob", w_glob}, {"path_under", w_path_under}, {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
    lua_pushlightuserdata(L, (void *)&null_key);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &null_key);
    lua_setfield(L, -2, "null");
    lua_newtable(L);
    static const luaL_Reg shared_fns[] = {{"get", s_get}, {"set", s_set}, {"incr", s_incr}, {NULL, NULL}};
    luaL_setfuncs(L, shared_fns, 0);
    freeze(L);
    lua_setfield(L, -2, "shared");
    freeze(L);
    lua_setglobal(L, "warden");
    return 0;
}

/* ---- loading ---- */

static char *read_all(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 8192;
    char *buf = malloc(cap);
    *len = 0;
    while (buf) {
        size_t n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
        if (n == 0)
            break;
        if (*len == cap) {
            char *b = cap < 16u * 1024 * 1024 ? realloc(buf, cap * 2) : NULL;
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        snprintf(err, errlen, "%s: too large or out of memory", path);
    return buf;
}

void lua_policy_free(struct lua_policy *lp)
{
    if (!lp)
        return;
    if (lp->L)
        lua_close(lp->L);
    free(lp->path);
    free(lp->server);
    free(lp);
}

struct lua_policy *lua_policy_load(const char *path, const struct lua_limits *limits, struct shared_store *shared,
                                   const char *server, char *err, size_t errlen)
{
    struct lua_policy *lp = calloc(1, sizeof *lp);
    if (!lp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    lp->lim = limits ? *limits : (struct lua_limits){0};
    if (!lp->lim.memory)
        lp->lim.memory = DEFAULT_MEMORY;
    if (!lp->lim.instructions)
        lp->lim.instructions = DEFAULT_INSTRUCTIONS;
    if (!lp->lim.wall_ms)
        lp->lim.wall_ms = DEFAULT_WALL_MS;
    if (!lp->lim.max_string)
        lp->lim.max_string = DEFAULT_MAX_STRING;
    lp->shared = shared;
    lp->path = strdup(path);
    lp->server = strdup(server ? server : "");
    lp->on_call_ref = lp->on_list_ref = LUA_NOREF;
    size_t len;
    char *text = lp->path && lp->server ? read_all(path, &len, err, errlen) : NULL;
    if (!text) {
        if (!lp->path || !lp->server)
            snprintf(err, errlen, "%s: out of memory", path);
        lua_policy_free(lp);
        return NULL;
    }
    lp->L = lua_newstate(sandbox_alloc, lp);
    if (!lp->L) {
        free(text);
        snprintf(err, errlen, "%s: cannot create a Lua state", path);
        lua_policy_free(lp);
        return NULL;
    }
    lua_State *L = lp->L;
    unsigned long instructions = lp->lim.instructions;
    start_budget(lp, instructions, lp->lim.wall_ms * 4);
    char chunkname[512];
    snprintf(chunkname, sizeof chunkname, "@%s", path);
    int rc = LUA_OK;
    if (len > 0 && text[0] == LUA_SIGNATURE[0]) {
        snprintf(err, errlen, "%s: precompiled Lua is not accepted; give the source", path);
        rc = -1;
    } else {
        lua_pushcfunction(L, build_sandbox);
        rc = lua_pcall(L, 0, 0, 0);
        if (rc == LUA_OK)
            rc = luaL_loadbufferx(L, text, len, chunkname, "t");
        if (rc == LUA_OK)
            rc = lua_pcall(L, 0, 1, 0);
        if (rc != LUA_OK)
            snprintf(err, errlen, "%s", lua_tostring(L, -1) ? lua_tostring(L, -1) : "error");
    }
    free(text);
    lp->lim.instructions = instructions;
    if (rc == LUA_OK) {
        if (!lua_istable(L, -1)) {
            snprintf(err, errlen, "%s: a policy returns a table with on_call (it returned %s)", path, luaL_typename(L, -1));
            rc = -1;
        } else {
            lua_getfield(L, -1, "on_call");
            if (!lua_isfunction(L, -1)) {
                snprintf(err, errlen, "%s: the table a policy returns needs an on_call function", path);
                rc = -1;
            } else {
                lp->on_call_ref = luaL_ref(L, LUA_REGISTRYINDEX);
                lua_getfield(L, -1, "on_list");
                if (lua_isfunction(L, -1))
                    lp->on_list_ref = luaL_ref(L, LUA_REGISTRYINDEX);
                else if (!lua_isnil(L, -1)) {
                    snprintf(err, errlen, "%s: on_list must be a function", path);
                    rc = -1;
                } else {
                    lua_pop(L, 1);
                }
            }
        }
    }
    if (rc != LUA_OK) {
        lua_policy_free(lp);
        return NULL;
    }
    lua_settop(L, 0);
    return lp;
}

/* ---- calls ---- */

/* Pushes a JSON value as Lua: null is warden.null, integers up to 2^53 integers. */
static int push_json(lua_State *L, const cJSON *v, int depth, size_t max_string)
{
    if (depth > MAX_ARG_DEPTH)
        return luaL_error(L, "arguments nested too deeply for a Lua policy");
    luaL_checkstack(L, 4, "arguments");
    if (cJSON_IsString(v)) {
        size_t len = strlen(v->valuestring);
        if (len > max_string)
            return luaL_error(L, "argument too large for a Lua policy (%zu bytes)", len);
        lua_pushlstring(L, v->valuestring, len);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(lua_Integer)d && d >= -9007199254740992.0 && d <= 9007199254740992.0)
            lua_pushinteger(L, (lua_Integer)d);
        else
            lua_pushnumber(L, d);
    } else if (cJSON_IsBool(v)) {
        lua_pushboolean(L, cJSON_IsTrue(v));
    } else if (cJSON_IsNull(v)) {
        lua_rawgetp(L, LUA_REGISTRYINDEX, &null_key);
    } else if (cJSON_IsArray(v)) {
        lua_createtable(L, cJSON_GetArraySize(v), 0);
        lua_Integer i = 1;
        for (const cJSON *e = v->child; e; e = e->next) {
            push_json(L, e, depth + 1, max_string);
            lua_rawseti(L, -2, i++);
        }
    } else {
        lua_createtable(L, 0, 4);
        for (const cJSON *e = v->child; e; e = e->next) {
            push_json(L, e, depth + 1, max_string);
            lua_setfield(L, -2, e->string);
        }
    }
    return 1;
}

/* Request headers a policy may see; never Authorization, cookies or anything
 * else that carries credentials. Names are lower-case. */
static const char *const visible_headers[] = {"user-agent", "mcp-protocol-version", "x-request-id", "traceparent",
                                              "x-forwarded-for", "x-agent-name", NULL};

static void push_headers(lua_State *L, const struct http_head *head)
{
    lua_newtable(L);
    if (!head)
        return;
    for (const char *const *name = visible_headers; *name; name++) {
        size_t len;
        const char *value = http_header_get(head, *name, &len);
        if (value) {
            lua_pushlstring(L, value, len);
            lua_setfield(L, -2, *name);
        }
    }
}

/* Builds the call table (run under pcall: conversion errors are policy errors). */
static int build_call(lua_State *L)
{
    const struct rpc_msg *msg = lua_touserdata(L, 1);
    const struct call_ctx *ctx = lua_touserdata(L, 2);
    struct lua_policy *lp = policy_of(L);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->on_call_ref);
    lua_createtable(L, 0, 10);
    lua_pushstring(L, msg->tool ? msg->tool : "");
    lua_setfield(L, -2, "tool");
    if (msg->args)
        push_json(L, msg->args, 0, lp->lim.max_string);
    else
        lua_newtable(L);
    lua_setfield(L, -2, "args");
    lua_pushstring(L, ctx->server);
    lua_setfield(L, -2, "server");
    lua_pushlstring(L, ctx->session, ctx->session_len);
    lua_setfield(L, -2, "session");
    lua_pushstring(L, msg->method ? msg->method : "");
    lua_setfield(L, -2, "method");
    if (msg->id_text)
        lua_pushlstring(L, msg->id_text, msg->id_len);
    else
        lua_pushnil(L);
    lua_setfield(L, -2, "id");
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(msg->params, "_meta");
    if (meta) {
        push_json(L, meta, 0, lp->lim.max_string);
        lua_setfield(L, -2, "meta");
    }
    push_headers(L, ctx->head);
    lua_setfield(L, -2, "headers");
    if (ctx->tool_meta) {
        push_json(L, ctx->tool_meta, 0, lp->lim.max_string);
        lua_setfield(L, -2, "tool_meta");
    }
    lua_pushnumber(L, ctx->wall);
    lua_setfield(L, -2, "now");
    lua_call(L, 1, 1);
    return 1;
}

/* Reads what on_call returned into a decision. */
static void read_decision(lua_State *L, struct lua_policy *lp, struct decision *out)
{
    if (lua_isnil(L, -1)) {
        out->verdict = VERDICT_NONE;
        return;
    }
    lua_rawgetp(L, LUA_REGISTRYINDEX, &decision_mt_key);
    bool ours = lua_istable(L, -2) && lua_getmetatable(L, -2) && lua_rawequal(L, -1, -2);
    lua_settop(L, lua_gettop(L) - (ours ? 2 : 1));
    if (!ours) {
        out->verdict = VERDICT_ERROR;
        snprintf(out->reason, sizeof out->reason, "policy %s failed: on_call returned %s, not nil or a warden decision",
                 lp->path, luaL_typename(L, -1));
        snprintf(out->rule, sizeof out->rule, "%s", lp->path);
        return;
    }
    lua_getfield(L, -1, "kind");
    lua_getfield(L, -2, "reason");
    lua_getfield(L, -3, "line");
    const char *kind = lua_tostring(L, -3), *reason = lua_tostring(L, -2);
    snprintf(out->rule, sizeof out->rule, "%s:%lld", lp->path, (long long)lua_tointeger(L, -1));
    if (!strcmp(kind, "allow")) {
        out->verdict = VERDICT_ALLOW;
    } else {
        out->verdict = !strcmp(kind, "deny") ? VERDICT_DENY : VERDICT_APPROVAL;
        snprintf(out->reason, sizeof out->reason, "%s%s(policy %s)", reason && reason[0] ? reason : "",
                 reason && reason[0] ? " " : "", out->rule);
        if (out->verdict == VERDICT_APPROVAL && (!reason || !reason[0]))
            snprintf(out->reason, sizeof out->reason, "approval is required (policy %s); approvals are not available, so it is refused", out->rule);
    }
    lua_pop(L, 3);
}

/* Runs f under the call budget; on failure fills out as a refusal. */
static bool run_guarded(struct lua_policy *lp, lua_CFunction f, void *a, void *b, int nresults, struct decision *out)
{
    lua_State *L = lp->L;
    start_budget(lp, lp->lim.instructions, lp->lim.wall_ms);
    lua_settop(L, 0);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, a);
    lua_pushlightuserdata(L, b);
    int rc = lua_pcall(L, 2, nresults, 0);
    lp->over_budget = false;
    lua_sethook(L, budget_hook, LUA_MASKCOUNT, HOOK_EVERY);
    if (rc == LUA_OK)
        return true;
    const char *msg = lua_tostring(L, -1);
    const char *kind = rc == LUA_ERRMEM ? "out of memory" : "error";
    log_warn("lua policy %s failed (%s): %s", lp->path, kind, msg ? msg : "?");
    out->verdict = VERDICT_ERROR;
    snprintf(out->reason, sizeof out->reason, "refused: policy %s failed (%s): %s", lp->path, kind, msg ? msg : "?");
    snprintf(out->rule, sizeof out->rule, "%s", lp->path);
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT);
    return false;
}

void lua_policy_on_call(struct lua_policy *lp, const struct rpc_msg *msg, const struct call_ctx *ctx,
                        struct decision *out)
{
    memset(out, 0, sizeof *out);
    if (run_guarded(lp, build_call, (void *)msg, (void *)ctx, 1, out))
        read_decision(lp->L, lp, out);
    lua_settop(lp->L, 0);
}

bool lua_policy_has_on_list(const struct lua_policy *lp)
{
    return lp->on_list_ref != LUA_NOREF;
}

/* Calls on_list(tools, ctx) and leaves the set of names to keep on the stack. */
static int run_on_list(lua_State *L)
{
    const cJSON *tools = lua_touserdata(L, 1);
    const struct call_ctx *ctx = lua_touserdata(L, 2);
    struct lua_policy *lp = policy_of(L);
    lua_settop(L, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, lp->on_list_ref);
    lua_createtable(L, cJSON_GetArraySize(tools), 0);
    lua_Integer i = 1;
    for (const cJSON *t = tools->child; t; t = t->next) {
        lua_createtable(L, 0, 3);
        static const char *const fields[] = {"name", "description", "annotations"};
        for (size_t k = 0; k < 3; k++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, fields[k]);
            if (v) {
                push_json(L, v, 0, lp->lim.max_string);
                lua_setfield(L, -2, fields[k]);
            }
        }
        lua_rawseti(L, -2, i++);
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, ctx->server);
    lua_setfield(L, -2, "server");
    lua_pushlstring(L, ctx->session, ctx->session_len);
    lua_setfield(L, -2, "session");
    lua_pushnumber(L, ctx->wall);
    lua_setfield(L, -2, "now");
    lua_call(L, 2, 1);
    if (!lua_istable(L, -1))
        return luaL_error(L, "on_list must return the array of tools to keep");
    /* the names kept */
    lua_newtable(L);
    lua_Integer n = (lua_Integer)lua_rawlen(L, -2);
    for (lua_Integer k = 1; k <= n; k++) {
        lua_rawgeti(L, -2, k);
        if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "name");
            if (lua_type(L, -1) == LUA_TSTRING) {
                lua_pushboolean(L, 1);
                lua_rawset(L, -4);
            } else {
                lua_pop(L, 1);
            }
        }
        lua_pop(L, 1);
    }
    return 1;
}

bool lua_policy_on_list(struct lua_policy *lp, cJSON *tools, const struct call_ctx *ctx)
{
    if (!lua_policy_has_on_list(lp) || !cJSON_IsArray(tools))
        return false;
    struct decision err;
    if (!run_guarded(lp, run_on_list, tools, (void *)ctx, 1, &err))
        return false;
    lua_State *L = lp->L;
    bool removed = false;
    cJSON *t = tools->child;
    while (t) {
        cJSON *next = t->next;
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(t, "name");
        bool keep = false;
        if (cJSON_IsString(name)) {
            lua_getfield(L, -1, name->valuestring);
            keep = lua_toboolean(L, -1);
            lua_pop(L, 1);
        }
        if (!keep) {
            cJSON_Delete(cJSON_DetachItemViaPointer(tools, t));
            removed = true;
        }
        t = next;
    }
    lua_settop(L, 0);
    return removed;
}
