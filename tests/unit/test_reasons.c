/* Refusal reasons cut to fit struct decision's reason[512] end at a
 * character boundary: the cut helpers themselves, a Lua warden.deny reason,
 * a JSON rule reason and an agent's tool name, each with a 4-byte character
 * straddling the cut. */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "luapolicy.h"
#include "policy.h"
#include "ratelimit.h"
#include "sharedstore.h"
#include "utf8.h"

#define GRIN "\xF0\x9F\x98\x80" /* U+1F600, 4 bytes */

/* True when s is well-formed UTF-8 throughout. */
static bool valid_utf8(const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len((const unsigned char *)s + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

static void test_helpers(void)
{
    /* Every place the cut can fall inside the character drops it whole. */
    for (size_t inside = 0; inside < 4; inside++) {
        char src[16];
        snprintf(src, sizeof src, "ab" GRIN "cd");
        size_t n = utf8_cut(src, 2 + inside);
        CHECK(n == 2);
        char dst[8];
        /* dst keeps size - 1 bytes: 2 + inside of them would end inside. */
        CHECK(utf8_copy(dst, 3 + inside, src, strlen(src)) == 2);
        CHECK_STR(dst, "ab");
        CHECK(utf8_snprintf(dst, 3 + inside, "%s", src) == 2);
        CHECK_STR(dst, "ab");
    }
    char dst[8];
    CHECK(utf8_copy(dst, 7, "ab" GRIN "cd", 8) == 6);
    CHECK_STR(dst, "ab" GRIN);
    CHECK(utf8_snprintf(dst, 8, "%s!", "ab" GRIN) == 7);
    CHECK_STR(dst, "ab" GRIN "!");
    /* Text that fits is untouched, invalid bytes included. */
    CHECK(utf8_copy(dst, 8, "a\xF0", 2) == 2);
    CHECK(utf8_cut("a\xF0", 2) == 1);
    CHECK(utf8_cut("a\x80\x80\x80\x80", 5) == 5);
    CHECK(utf8_cut("\xC3\xA9", 2) == 2);
    CHECK(utf8_cut("", 0) == 0);
}

/* A reason of 511 bytes whose last character starts `before` bytes ahead of the cut. */
static void straddling(char *buf, size_t prefix)
{
    memset(buf, 'a', prefix);
    strcpy(buf + prefix, GRIN GRIN);
}

static void test_lua(void)
{
    char path[] = "/tmp/warden-reasons-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    static const char src[] = "return { on_call = function(call)\n"
                              "  return warden.deny(('a'):rep(tonumber(call.tool)) .. '" GRIN GRIN "')\n"
                              "end }\n";
    CHECK(write(fd, src, sizeof src - 1) == (ssize_t)(sizeof src - 1));
    close(fd);
    char err[512];
    struct lua_policy *lp = lua_policy_load(path, NULL, NULL, "srv", err, sizeof err);
    CHECK(lp != NULL);
    for (size_t prefix = 506; lp && prefix <= 511; prefix++) {
        char tool[8];
        snprintf(tool, sizeof tool, "%zu", prefix);
        struct rpc_msg msg = {.kind = RPC_REQUEST, .method = "tools/call", .tool = tool, .id_text = "1", .id_len = 1};
        struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
        struct decision d;
        lua_policy_on_call(lp, &msg, &ctx, NULL, &d);
        CHECK(d.verdict == VERDICT_DENY);
        CHECK(valid_utf8(d.reason));
        /* All that fits is kept: only the character that straddles the cut goes. */
        CHECK(strlen(d.reason) > 511 - 4);
    }
    lua_policy_free(lp);
    unlink(path);
}

/* A JSON rule's reason and an agent's tool name, through policy_decide. */
static void test_json(void)
{
    char path[] = "/tmp/warden-reasons-XXXXXX.json";
    int fd = mkstemps(path, 5);
    CHECK(fd >= 0);
    if (fd < 0)
        return;
    char reason[600];
    straddling(reason, 509);
    char json[1024];
    int n = snprintf(json, sizeof json,
                     "{\"version\":\"1\",\"hide\":[\"hidden*\"],\"tools\":{\"rm\":{\"action\":\"deny\",\"reason\":\"%s\"}}}",
                     reason);
    CHECK(write(fd, json, (size_t)n) == n);
    close(fd);
    struct shared_store *shared = shared_store_new(NULL);
    struct rate_store *rates = rate_store_new();
    char err[1024];
    const char *files[] = {path};
    struct policy_set *ps = shared && rates ? policy_set_load(files, 1, shared, "srv", err, sizeof err) : NULL;
    CHECK(ps != NULL);
    if (ps) {
        struct rpc_msg msg = {.kind = RPC_REQUEST, .method = "tools/call", .tool = "rm", .id_text = "1", .id_len = 1};
        struct call_ctx ctx = {.server = "srv", .session = "s", .session_len = 1, .now = 1};
        struct decision d;
        policy_decide(ps, rates, &msg, &ctx, &d);
        CHECK(d.verdict == VERDICT_DENY);
        CHECK(valid_utf8(d.reason));
        CHECK(strlen(d.reason) > 511 - 4);
        /* "Unknown tool: " is 14 bytes: a name that puts a character across the cut. */
        char tool[600] = "hidden";
        straddling(tool + 6, 511 - 14 - 6 - 2);
        msg.tool = tool;
        policy_decide(ps, rates, &msg, &ctx, &d);
        CHECK(d.verdict == VERDICT_HIDDEN);
        CHECK(valid_utf8(d.reason));
        CHECK(strlen(d.reason) > 511 - 4);
    }
    policy_set_free(ps);
    rate_store_free(rates);
    shared_store_free(shared);
    unlink(path);
}

int main(void)
{
    test_helpers();
    test_lua();
    test_json();
    return check_report();
}
