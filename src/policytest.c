#include "policytest.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "jsonrpc.h"
#include "policy.h"
#include "ratelimit.h"
#include "sharedstore.h"

static const char *const verdict_names[] = {
    [VERDICT_NONE] = "allow", [VERDICT_ALLOW] = "allow", [VERDICT_DENY] = "deny", [VERDICT_HIDDEN] = "hide",
    [VERDICT_RATE_LIMITED] = "rate_limit", [VERDICT_APPROVAL] = "require_approval", [VERDICT_ERROR] = "error",
};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Runs one case: decides the call `repeat` times and checks the last decision. */
static bool run_case(struct policy_set *ps, struct rate_store *rs, const cJSON *c, int index, double *clock,
                     const char *file)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
    const cJSON *tool = cJSON_GetObjectItemCaseSensitive(c, "tool");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(c, "args");
    const cJSON *expect = cJSON_GetObjectItemCaseSensitive(c, "expect");
    const cJSON *reason = cJSON_GetObjectItemCaseSensitive(c, "reason");
    const cJSON *session = cJSON_GetObjectItemCaseSensitive(c, "session");
    const cJSON *repeat = cJSON_GetObjectItemCaseSensitive(c, "repeat");
    const cJSON *at = cJSON_GetObjectItemCaseSensitive(c, "at");
    char label[300];
    snprintf(label, sizeof label, "%s: case %d%s%s", file, index, cJSON_IsString(name) ? " " : "",
             cJSON_IsString(name) ? name->valuestring : "");
    if (!cJSON_IsString(tool) || !cJSON_IsString(expect) || (args && !cJSON_IsObject(args))) {
        printf("FAIL %s: a case needs \"tool\" and \"expect\" (and \"args\" as an object)\n", label);
        return false;
    }
    cJSON *msg = cJSON_CreateObject();
    cJSON_AddStringToObject(msg, "jsonrpc", "2.0");
    cJSON_AddNumberToObject(msg, "id", index);
    cJSON_AddStringToObject(msg, "method", "tools/call");
    cJSON *params = cJSON_AddObjectToObject(msg, "params");
    cJSON_AddStringToObject(params, "name", tool->valuestring);
    cJSON_AddItemToObject(params, "arguments", args ? cJSON_Duplicate(args, 1) : cJSON_CreateObject());
    char *text = cJSON_PrintUnformatted(msg);
    cJSON_Delete(msg);
    struct rpc_msg m;
    struct rpc_error e;
    if (!text || rpc_parse(text, strlen(text), NULL, &m, &e) < 0) {
        printf("FAIL %s: the call is not a valid message\n", label);
        free(text);
        return false;
    }
    const char *sess = cJSON_IsString(session) ? session->valuestring : "test-session";
    if (cJSON_IsNumber(at))
        *clock = at->valuedouble;
    struct call_ctx ctx = {.server = "test", .session = sess, .session_len = strlen(sess), .client_addr = "test"};
    struct decision d;
    int times = cJSON_IsNumber(repeat) && repeat->valuedouble >= 1 ? (int)repeat->valuedouble : 1;
    for (int i = 0; i < times; i++) {
        *clock += 0.001;
        ctx.now = *clock;
        ctx.wall = *clock;
        policy_decide(ps, rs, &m, &ctx, &d);
    }
    rpc_msg_clear(&m);
    free(text);
    const char *got = verdict_names[d.verdict];
    bool ok = strcmp(got, expect->valuestring) == 0;
    if (ok && cJSON_IsString(reason) && !strstr(d.reason, reason->valuestring))
        ok = false;
    if (!ok)
        printf("FAIL %s: want %s%s%s, got %s: %s\n", label, expect->valuestring,
               cJSON_IsString(reason) ? " mentioning " : "", cJSON_IsString(reason) ? reason->valuestring : "", got,
               d.reason[0] ? d.reason : "(no reason)");
    return ok;
}

/* Runs the cases of one test file; adds to the counts. */
static void run_file(const char *file, int *passed, int *failed)
{
    char *text = slurp(file);
    cJSON *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    const cJSON *pols = cJSON_GetObjectItemCaseSensitive(root, "policies");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases");
    if (!cJSON_IsArray(pols) || !cJSON_IsArray(cases)) {
        printf("FAIL %s: a test file is {\"policies\": [FILE...], \"cases\": [...]}\n", file);
        (*failed)++;
        cJSON_Delete(root);
        return;
    }
    char *copy = strdup(file);
    const char *dir = copy ? dirname(copy) : ".";
    size_t n = (size_t)cJSON_GetArraySize(pols);
    char **paths = calloc(n ? n : 1, sizeof *paths);
    size_t k = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, pols) {
        if (cJSON_IsString(p) && paths && asprintf(&paths[k], "%s/%s", p->valuestring[0] == '/' ? "" : dir,
                                                    p->valuestring) >= 0)
            k++;
    }
    struct shared_store *shared = shared_store_new(NULL);
    struct rate_store *rs = rate_store_new();
    char err[8192];
    struct policy_set *ps = paths && shared && rs ? policy_set_load((const char *const *)paths, k, shared, "test", err, sizeof err) : NULL;
    if (!ps) {
        printf("FAIL %s: the policies do not load:\n%s\n", file, paths && shared && rs ? err : "out of memory");
        (*failed)++;
    } else {
        double clock = 1000;
        int index = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, cases) {
            if (run_case(ps, rs, c, index++, &clock, file))
                (*passed)++;
            else
                (*failed)++;
        }
        policy_set_free(ps);
    }
    for (size_t i = 0; i < k; i++)
        free(paths[i]);
    free(paths);
    free(copy);
    rate_store_free(rs);
    shared_store_free(shared);
    cJSON_Delete(root);
}

int policy_test_main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: warden test FILE...   (each {\"policies\": [...], \"cases\": [...]})\n");
        return 2;
    }
    int passed = 0, failed = 0;
    for (int i = 1; i < argc; i++)
        run_file(argv[i], &passed, &failed);
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
