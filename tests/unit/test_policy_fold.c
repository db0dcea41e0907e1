/* Unit tests of the JSON policy's argument lookup against case-insensitive
 * servers (src/policy.c, lookup): a Go server binds "Alias", "ALIAS" or
 * "alia\u017F" to the field "alias" (a .NET one also "al\u0131as"), so the
 * condition on "alias" must see them; spellings that do not fold stay apart. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "jsonrpc.h"
#include "policy.h"
#include "policy_file.h"
#include "ratelimit.h"

static char dir[] = "/tmp/warden-test-policy-fold-XXXXXX";

/* The verdict for a tools/call of tool "t" with these arguments (JSON text). */
static enum verdict decide(struct policy_set *ps, const char *args_json)
{
    char text[1024];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"t\","
             "\"arguments\":%s}}", args_json);
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        fprintf(stderr, "bad test message %s: %s\n", text, e.message);
        return VERDICT_ERROR;
    }
    struct rate_store *rs = rate_store_new();
    struct call_ctx ctx = {.server = "s", .session = "x", .session_len = 1, .client_addr = "c", .now = 100};
    struct decision d;
    policy_decide(ps, rs, &m, &ctx, &d);
    rate_store_free(rs);
    rpc_msg_clear(&m);
    return d.verdict;
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    struct policy_set *ps = policy_from_text(dir, "p.json", "{\"version\":\"1\",\"tools\":{\"t\":{\"deny_if\":["
                                 "{\"arg\":\"alias\",\"eq\":\"champion\"},"
                                 "{\"arg\":\"target.kind\",\"eq\":\"prod\"},"
                                 "{\"arg\":\"list.0.mask\",\"eq\":\"all\"}]}}}");
    CHECK(ps != NULL);
    if (!ps)
        return check_report();
    CHECK(decide(ps, "{\"alias\":\"champion\"}") == VERDICT_DENY);
    CHECK(decide(ps, "{\"alias\":\"staging\"}") == VERDICT_ALLOW);
    /* spellings a Go server reads as alias / target.kind / list[0].mask */
    CHECK(decide(ps, "{\"Alias\":\"champion\"}") == VERDICT_DENY);
    CHECK(decide(ps, "{\"ALIAS\":\"champion\"}") == VERDICT_DENY);
    CHECK(decide(ps, "{\"\\u0041lia\\u017f\":\"champion\"}") == VERDICT_DENY); /* long s */
    CHECK(decide(ps, "{\"Target\":{\"KIND\":\"prod\"}}") == VERDICT_DENY);
    CHECK(decide(ps, "{\"target\":{\"\\u212aind\":\"prod\"}}") == VERDICT_DENY); /* Kelvin sign */
    CHECK(decide(ps, "{\"LIST\":[{\"Ma\\u017fK\":\"all\"}]}") == VERDICT_DENY);
    CHECK(decide(ps, "{\"al\\u0131as\":\"champion\"}") == VERDICT_DENY); /* dotless i: I to .NET */
    /* not folds: a different key is a different argument */
    CHECK(decide(ps, "{\"alia\":\"champion\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, "{\"al\\u00eeas\":\"champion\"}") == VERDICT_ALLOW); /* i with circumflex is not i */
    CHECK(decide(ps, "{\"target\":{\"kinds\":\"prod\"}}") == VERDICT_ALLOW);
    policy_set_free(ps);

    /* a non-ASCII argument name in the policy folds too */
    ps = policy_from_text(dir, "p.json", "{\"version\":\"1\",\"tools\":{\"t\":{\"deny_if\":[{\"arg\":\"\\u00e9tat\",\"eq\":\"x\"}]}}}");
    CHECK(ps != NULL);
    if (ps) {
        CHECK(decide(ps, "{\"\\u00c9TAT\":\"x\"}") == VERDICT_DENY);
        CHECK(decide(ps, "{\"etat\":\"x\"}") == VERDICT_ALLOW);
        policy_set_free(ps);
    }
    rmdir(dir);
    return check_report();
}
