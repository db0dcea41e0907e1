/* Unit tests of what a config reload may change (src/confdiff.c): servers
 * added, removed, changed and kept; what cannot change live is refused and
 * named. Configs are read from files like warden reads them. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "confdiff.h"
#include "config.h"

static char dir[] = "/tmp/warden-test-confdiff-XXXXXX";

/* Reads the config text as `warden --config FILE` would; 0 or -1. */
static int load(struct config *cfg, const char *text)
{
    char path[256], err[2048];
    snprintf(path, sizeof path, "%s/warden.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    char *args[] = {"--config", path};
    int rc = config_from_args(2, args, cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    return rc;
}

#define A "\"a\": {\"url\": \"http://127.0.0.1:3001/mcp\"}"
#define B "\"b\": {\"url\": \"http://127.0.0.1:3002/mcp\"}"
#define B2 "\"b\": {\"url\": \"http://127.0.0.1:3002/mcp\", \"headers\": {\"X-Team\": \"blue\"}}"
#define B_AUTH "\"b\": {\"url\": \"http://127.0.0.1:3002/mcp\", \"auth\": {\"anonymous\": true}}"

static void test_servers(void)
{
    struct config one, two, changed, authed;
    CHECK(load(&one, "{\"servers\": {" A "}}") == 0);
    CHECK(load(&two, "{\"servers\": {" A ", " B "}}") == 0);
    CHECK(load(&changed, "{\"servers\": {" A ", " B2 "}}") == 0);
    CHECK(load(&authed, "{\"servers\": {" A ", " B_AUTH "}}") == 0);
    char why[256];
    CHECK(confdiff_check(&one, &two, 4, why, sizeof why) == 0);
    struct confdiff_count n = confdiff_count(&one, &two);
    CHECK(n.added == 1 && n.removed == 0 && n.changed == 0 && n.kept == 1);
    n = confdiff_count(&two, &one);
    CHECK(n.added == 0 && n.removed == 1 && n.changed == 0 && n.kept == 1);
    n = confdiff_count(&two, &changed);
    CHECK(n.added == 0 && n.removed == 0 && n.changed == 1 && n.kept == 1);
    n = confdiff_count(&two, &authed);
    CHECK(n.changed == 1 && n.kept == 1);
    n = confdiff_count(&two, &two);
    CHECK(n.added + n.removed + n.changed == 0 && n.kept == 2);
    CHECK(confdiff_server_equal(confdiff_find(&one, "a"), confdiff_find(&changed, "a")));
    CHECK(!confdiff_server_equal(confdiff_find(&two, "b"), confdiff_find(&changed, "b")));
    CHECK(confdiff_find(&one, "b") == NULL);
    config_free(&one);
    config_free(&two);
    config_free(&changed);
    config_free(&authed);
}

static void test_refused(void)
{
    static const struct {
        const char *next, *named;
    } cases[] = {
        {"{\"listen\": \"127.0.0.1:9999\", \"servers\": {" A "}}", "listen address"},
        {"{\"workers\": 3, \"servers\": {" A "}}", "\"workers\""},
        {"{\"admin\": \"127.0.0.1:9998\", \"servers\": {" A "}}", "\"admin\""},
        {"{\"limits\": {\"max_body_bytes\": 1000}, \"servers\": {" A "}}", "\"limits\""},
        {"{\"auth\": {\"anonymous\": true}, \"servers\": {" A "}}", "top-level \"auth\""},
        {"{\"state\": {\"redis\": \"redis://127.0.0.1:6379/0\"}, \"servers\": {" A "}}", "\"state\""},
        {"{\"servers\": {" A ", \"s\": {\"command\": [\"cat\"]}}}", "stdio server needs a single worker"},
        {"{\"servers\": {" A ", \"s\": {\"url\": \"http://127.0.0.1:1/sse\", \"transport\": \"sse\"}}}",
         "HTTP+SSE server needs a single worker"},
    };
    struct config cur;
    CHECK(load(&cur, "{\"workers\": 2, \"servers\": {" A "}}") == 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct config next;
        char text[512];
        /* Every case keeps "workers": 2 unless it is the one changing it. */
        if (strstr(cases[i].next, "\"workers\""))
            snprintf(text, sizeof text, "%s", cases[i].next);
        else
            snprintf(text, sizeof text, "{\"workers\": 2, %s", cases[i].next + 1);
        CHECK(load(&next, text) == 0);
        char why[256] = "";
        CHECK(confdiff_check(&cur, &next, 2, why, sizeof why) < 0);
        if (!strstr(why, cases[i].named))
            fprintf(stderr, "case %zu: %s\n", i, why);
        CHECK(strstr(why, cases[i].named) != NULL);
        config_free(&next);
    }
    /* The same stdio server is fine with one worker. */
    struct config next;
    CHECK(load(&next, "{\"workers\": 2, \"servers\": {" A ", \"s\": {\"command\": [\"cat\"]}}}") == 0);
    char why[256];
    CHECK(confdiff_check(&cur, &next, 1, why, sizeof why) == 0);
    config_free(&next);
    config_free(&cur);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    test_servers();
    test_refused();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
