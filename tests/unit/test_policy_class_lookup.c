/* classes_of with many exact names: found by halves among the sorted exact
 * names, each winning over a glob that also matches, in whatever order the
 * file lists them; names it does not list fall to the glob, then to the
 * class of the name. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "policy.h"

int main(void)
{
    char dir[] = "/tmp/warden-test-classes-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 2;
    }
    char path[128], text[8192];
    snprintf(path, sizeof path, "%s/p.json", dir);
    int n = snprintf(text, sizeof text, "{\"version\":\"1\",\"classes_of\":{\"frob_*\":\"destructive\"");
    for (int i = 40; i >= 0; i--)   /* listed backwards: the loader sorts */
        n += snprintf(text + n, sizeof text - (size_t)n, ",\"frob_%02d\":\"%s\"", i, i % 2 ? "read" : "write");
    snprintf(text + n, sizeof text - (size_t)n, "}}");
    FILE *f = fopen(path, "w");
    CHECK(f && fputs(text, f) >= 0 && fclose(f) == 0);
    const char *files[] = {path};
    char err[4096];
    struct policy_set *ps = policy_set_load(files, 1, NULL, "s", err, sizeof err);
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
    } else {
        fprintf(stderr, "load failed: %s\n", err);
    }
    unlink(path);
    rmdir(dir);
    return check_report();
}
