/* What the console reads beside the tools: the "try a call" dry run
 * (decision, rule and trace from fresh copies of a server's policy files,
 * nothing counted between tries; bad input answered 400/404) and the
 * session counts the servers page shows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>

#include "check.h"
#include "config-t.h"
#include "console_data.h"
#include "metrics.h"
#include "proxy-t.h"

static char policy_path[] = "/tmp/warden-console-try-XXXXXX";

static void write_policy(const char *text)
{
    FILE *f = fopen(policy_path, "w");
    CHECK(f != NULL);
    if (!f)
        exit(1);
    fputs(text, f);
    fclose(f);
}

/* Tries one call; returns the status and leaves the answer in *out (caller frees). */
static int try(const struct worker *w, const char *server, const char *tool, const char *args, const char *principal,
               cJSON **out)
{
    struct evbuffer *b = evbuffer_new();
    cJSON *a = cJSON_Parse(args);
    cJSON *p = principal ? cJSON_Parse(principal) : NULL;
    int status = console_try_json(w, server, tool, a, p, b);
    evbuffer_add(b, "", 1);
    *out = cJSON_Parse((const char *)evbuffer_pullup(b, -1));
    CHECK(*out != NULL);
    cJSON_Delete(a);
    cJSON_Delete(p);
    evbuffer_free(b);
    return status;
}

static const char *field(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void test_try(void)
{
    int fd = mkstemp(policy_path);
    CHECK(fd >= 0);
    close(fd);
    write_policy("{\"version\": \"1\", \"tools\": {"
                 "\"drop\": {\"action\": \"deny\", \"reason\": \"never\"},"
                 "\"read\": {\"rate_limit\": {\"max\": 1, \"window\": 3600}},"
                 "\"ask\": {\"action\": \"require_approval\", \"reason\": \"a person decides\"}}}");
    char *policies[] = {policy_path, NULL};
    char *none[] = {NULL};
    struct server_conf sc = {
        .name = "registry", .path = "/mcp/registry", .policies = policies, .npolicies = 1, .shadow_policies = none};
    struct server_rt rt = {.conf = &sc};
    struct server_rt *servers[] = {&rt};
    struct worker w = {.servers = servers, .nservers = 1};
    cJSON *o;

    CHECK(try(&w, "registry", "drop", "{\"name\": \"<b>x</b>\"}", NULL, &o) == 200);
    CHECK_STR(field(o, "decision"), "deny");
    CHECK(strstr(field(o, "rule"), "/tools/drop") != NULL);
    CHECK(strstr(field(o, "reason"), "never") != NULL);
    CHECK(strstr(field(o, "trace"), "decision: deny") != NULL);
    cJSON_Delete(o);

    /* One call an hour, tried three times: each try starts from empty counters. */
    for (int i = 0; i < 3; i++) {
        CHECK(try(&w, "registry", "read", "{}", "{\"id\": \"ci-bot\", \"labels\": {\"team\": \"ml\"}}", &o) == 200);
        CHECK_STR(field(o, "decision"), "allow");
        cJSON_Delete(o);
    }
    CHECK(try(&w, "registry", "ask", "{}", NULL, &o) == 200);
    CHECK_STR(field(o, "decision"), "require_approval");
    cJSON_Delete(o);

    CHECK(try(&w, "nope", "drop", "{}", NULL, &o) == 404);
    CHECK(strstr(field(o, "error"), "no server") != NULL);
    cJSON_Delete(o);
    CHECK(try(&w, "registry", "drop", "[1]", NULL, &o) == 400);
    cJSON_Delete(o);
    CHECK(try(&w, "registry", "", "{}", NULL, &o) == 400);
    cJSON_Delete(o);
    CHECK(try(&w, "registry", "drop", "{}", "{\"kind\": \"key\"}", &o) == 400);
    CHECK(strstr(field(o, "error"), "principal") != NULL);
    cJSON_Delete(o);

    /* A file that no longer loads: its error, not a decision. */
    write_policy("{\"version\": \"1\", \"tools\": {\"drop\": {\"action\": \"explode\"}}}");
    CHECK(try(&w, "registry", "drop", "{}", NULL, &o) == 400);
    CHECK(strlen(field(o, "error")) > 0);
    cJSON_Delete(o);
    unlink(policy_path);
}

static void test_sessions(void)
{
    struct metrics *m = metrics_new();
    CHECK(m != NULL);
    CHECK(metrics_sessions_open(m, "registry") == 0);
    metrics_sessions(m, "registry", +1);
    metrics_sessions(m, "registry", +1);
    metrics_sessions(m, "other", +1);
    metrics_sessions(m, "registry", -1);
    CHECK(metrics_sessions_open(m, "registry") == 1);
    CHECK(metrics_sessions_open(m, "other") == 1);
    struct evbuffer *b = evbuffer_new();
    metrics_render(m, b);
    evbuffer_add(b, "", 1);
    CHECK(strstr((const char *)evbuffer_pullup(b, -1), "\nwarden_open_sessions{server=\"registry\"} 1\n") != NULL);
    evbuffer_free(b);
    metrics_free(m);
}

int main(void)
{
    test_try();
    test_sessions();
    return check_report();
}
