/* policy_tool_default: what the console shows as each tool's default
 * decision and the rule that decides. */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "policy.h"

static struct policy_set *load(const char *const *files, size_t n)
{
    char err[4096];
    struct policy_set *ps = policy_set_load(files, n, NULL, "registry", err, sizeof err);
    if (!ps)
        fprintf(stderr, "%s\n", err);
    return ps;
}

static void decide(const struct policy_set *ps, const char *tool, enum verdict want, const char *rule_has)
{
    struct tool_default d;
    policy_tool_default(ps, tool, &d);
    if (d.verdict != want || !strstr(d.rule, rule_has))
        fprintf(stderr, "%s: verdict %d rule %s\n", tool, (int)d.verdict, d.rule);
    CHECK(d.verdict == want);
    CHECK(strstr(d.rule, rule_has) != NULL);
}

int main(void)
{
    const char *files[] = {"policies/registry.json"};
    struct policy_set *ps = load(files, 1);
    CHECK(ps != NULL);
    if (!ps)
        return check_report();
    decide(ps, "delete_run", VERDICT_HIDDEN, "registry.json:/hide");
    decide(ps, "delete_registered_model", VERDICT_DENY, "/tools/delete_registered_model");
    decide(ps, "transition_model_version_stage", VERDICT_APPROVAL, "/tools/transition_model_version_stage");
    decide(ps, "query_runs", VERDICT_RATE_LIMITED, "/tools/query_runs/rate_limit");
    decide(ps, "search_experiments", VERDICT_RATE_LIMITED, "/all_tools/rate_limit");
    struct tool_default d;
    policy_tool_default(ps, "query_runs", &d);
    CHECK(d.limit_max == 10 && d.limit_window == 60);
    policy_tool_default(ps, "delete_model_alias", &d);
    CHECK(d.conditions == 1 && !d.lua);
    policy_tool_default(NULL, "x", &d);
    CHECK(d.verdict == VERDICT_ALLOW && d.rule[0] == '\0');

    policy_set_free(ps);

    const char *deny_all[] = {"tests/e2e/policies/deny-echo.json", "policies/protect-champion.lua"};
    ps = load(deny_all, 2);
    CHECK(ps != NULL);
    if (ps) {
        policy_tool_default(ps, "anything", &d);
        CHECK(d.lua);
        CHECK(!policy_set_filters_lists(ps) || policy_set_has_lua(ps));
        policy_set_free(ps);
    }
    return check_report();
}
