/* Lua on_list over the list filter's items (lua_policy_on_list_items): the
 * tool tables behave as if they held description and annotations from the
 * start (read, assigned, walked with pairs), only shown tools are seen, a
 * failed run keeps nothing, and a tool table kept past its run fails. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "luapolicy.h"

static char tmpdir[] = "/tmp/warden-lualist-XXXXXX";

static struct lua_policy *load(const char *src, int n)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/p%d.lua", tmpdir, n);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(src, f);
    fclose(f);
    struct lua_policy *lp = lua_policy_load(path, NULL, NULL, "srv", err, sizeof err);
    if (!lp)
        fprintf(stderr, "load failed: %s\n", err);
    unlink(path);
    return lp;
}

/* Four tools as the answer's reader gives them (spans into one text). */
static const char text[] = "{\"name\":\"a\",\"description\":\"plain\",\"annotations\":{\"readOnlyHint\":true}}"
                           "{\"name\":\"b\",\"description\":\"esc\\u00e9\\\"\"}"
                           "{\"name\":\"c\",\"description\":7}"
                           "{\"name\":\"d\"}";

static void items_of(struct list_item *it)
{
    memset(it, 0, 4 * sizeof *it);
    static const char *const names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        it[i].name = names[i];
        it[i].name_len = 1;
        it[i].raw = text;
        it[i].raw_len = sizeof text - 1;
    }
    it[0].description = strstr(text, "\"plain\"");
    it[0].description_len = 7;
    it[0].annotations = strstr(text, "{\"readOnlyHint");
    it[0].annotations_len = strlen("{\"readOnlyHint\":true}");
    it[1].description = strstr(text, "\"esc");
    it[1].description_len = strlen("\"esc\\u00e9\\\"\"");
    it[2].description = strstr(text, "7}");
    it[2].description_len = 1;
}

/* Runs src's on_list over the tools whose bit is set in shown; returns the
 * kept ones as bits, or -1 when the run failed. */
static int run_list(const char *src, unsigned shown)
{
    static int n;
    struct lua_policy *lp = load(src, n++);
    CHECK(lp != NULL);
    if (!lp)
        return -2;
    struct list_item it[4];
    items_of(it);
    bool keep[4];
    for (int i = 0; i < 4; i++)
        keep[i] = shown >> i & 1;
    struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
    struct decision d;
    int rc = lua_policy_on_list_items(lp, it, 4, keep, &ctx, &d);
    int bits = 0;
    for (int i = 0; i < 4; i++)
        bits |= keep[i] << i;
    if (rc < 0) {
        CHECK(d.verdict == VERDICT_ERROR);
        CHECK(bits == 0);
        bits = -1;
    }
    lua_policy_free(lp);
    return bits;
}

#define ON_LIST(body) "return { on_call = function(call) end, on_list = function(tools, ctx) " body " end }\n"

int main(void)
{
    if (!mkdtemp(tmpdir))
        return 1;
    /* fields read lazily are what a JSON reader sees */
    CHECK(run_list(ON_LIST("local k = {} for _, t in ipairs(tools) do "
                           "if (t.name == 'a' and t.description == 'plain' and t.annotations.readOnlyHint == true) or "
                           "(t.name == 'b' and t.description == 'esc\\u{e9}\"' and t.annotations == nil) or "
                           "(t.name == 'c' and t.description == 7) or (t.name == 'd' and t.description == nil) "
                           "then k[#k + 1] = t end end return k"),
                   0xF) == 0xF);
    /* only the tools shown, in order */
    CHECK(run_list(ON_LIST("local s = '' for _, t in ipairs(tools) do s = s .. t.name end "
                           "if s ~= 'bd' then error(s) end return tools"),
                   0xA) == 0xA);
    /* pairs walks every field, converted first */
    CHECK(run_list(ON_LIST("local k = {} for _, t in ipairs(tools) do local n = 0 "
                           "for key in pairs(t) do n = n + 1 end if n == 3 then k[#k + 1] = t end end return k"),
                   0xF) == 0x1);
    /* a field assigned before it was read stays assigned; the other converts */
    CHECK(run_list(ON_LIST("local t = tools[1] t.description = 'mine' "
                           "if t.description ~= 'mine' or not t.annotations.readOnlyHint then error('x') end "
                           "t.annotations = nil if t.annotations ~= nil then error('y') end return { t }"),
                   0xF) == 0x1);
    /* rawget sees a field once converted */
    CHECK(run_list(ON_LIST("local t = tools[1] local before = rawget(t, 'description') local _ = t.annotations "
                           "if before ~= nil or rawget(t, 'description') ~= 'plain' then error('z') end return { t }"),
                   0x1) == 0x1);
    /* the metatable is protected */
    CHECK(run_list(ON_LIST("setmetatable(tools[1], {}) return tools"), 0xF) == -1);
    CHECK(run_list(ON_LIST("if getmetatable(tools[1]) ~= false then error('mt') end return {}"), 0xF) == 0);
    /* a table not given, or a failure: nothing kept */
    CHECK(run_list(ON_LIST("return { { name = 'a' } }"), 0xF) == -1);
    CHECK(run_list(ON_LIST("error('boom')"), 0xF) == -1);
    /* a tool table kept past its run fails the next run that reads it */
    struct lua_policy *lp = load("local old\nreturn { on_call = function(call) end, on_list = function(tools)\n"
                                 "if old then local _ = old.description end old = tools[1] return tools end }\n",
                                 99);
    CHECK(lp != NULL);
    if (lp) {
        struct list_item it[4];
        items_of(it);
        bool keep[4] = {true, true, true, true};
        struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
        struct decision d;
        CHECK(lua_policy_on_list_items(lp, it, 4, keep, &ctx, &d) == 0);
        CHECK(keep[0] && keep[3]);
        CHECK(lua_policy_on_list_items(lp, it, 4, keep, &ctx, &d) == -1);
        CHECK(!keep[0] && !keep[3]);
        lua_policy_free(lp);
    }
    rmdir(tmpdir);
    return check_report();
}
