/* classes_of with many exact names: found by halves among the sorted exact
 * names, each winning over a glob that also matches, in whatever order the
 * file lists them; names it does not list fall to the glob, then to the
 * class of the name. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "policy.h"
#include "policy_file.h"

int main(void)
{
    char dir[] = "/tmp/warden-test-classes-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    char text[8192];
    int n = snprintf(text, sizeof text, "{\"version\":\"1\",\"classes_of\":{\"frob_*\":\"destructive\"");
    for (int i = 40; i >= 0; i--)   /* listed backwards: the loader sorts */
        n += snprintf(text + n, sizeof text - (size_t)n, ",\"frob_%02d\":\"%s\"", i, i % 2 ? "read" : "write");
    snprintf(text + n, sizeof text - (size_t)n, "}}");
    struct policy_set *ps = policy_from_text(dir, "p.json", text);
    CHECK(ps != NULL);
    if (ps) {
        for (int i = 0; i <= 40; i++) {
            char name[32];
            snprintf(name, sizeof name, "frob_%02d", i);
            CHECK(policy_tool_class(ps, name, RISK_NONE) == (i % 2 ? RISK_READ : RISK_WRITE));
        }
        CHECK(policy_tool_class(ps, "frob_41", RISK_NONE) == RISK_DESTRUCTIVE);
        CHECK(policy_tool_class(ps, "frob_", RISK_READ) == RISK_DESTRUCTIVE);
        CHECK(policy_tool_class(ps, "frob", RISK_NONE) == RISK_UNKNOWN);
        CHECK(policy_tool_class(ps, "get_frob", RISK_NONE) == RISK_READ);
        CHECK(policy_tool_class(ps, "get_frob", RISK_WRITE) == RISK_WRITE);
        policy_set_free(ps);
    }
    rmdir(dir);
    return check_report();
}
