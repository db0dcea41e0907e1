/* Policies per principal (src/policy.c, src/luapolicy.c): "principal"
 * conditions in deny_if, require and a rule's "when"; rate limits per
 * principal, session or server; policies bound to principals; Lua's
 * read-only call.principal. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "auth.h"
#include "check.h"
#include "jsonrpc.h"
#include "policy.h"
#include "ratelimit.h"
#include "sharedstore.h"

static char dir[] = "/tmp/warden-test-principal-XXXXXX";
static struct shared_store *shared;

static const char *write_file(int slot, const char *ext, const char *text)
{
    static char paths[8][128];
    snprintf(paths[slot], sizeof paths[slot], "%s/p%d.%s", dir, slot, ext);
    FILE *f = fopen(paths[slot], "w");
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

static char err[8192];

static struct policy_set *load_files(const char *const *files, size_t n)
{
    struct policy_set *ps = policy_set_load(files, n, shared, "s", err, sizeof err);
    if (!ps)
        fprintf(stderr, "load failed: %s\n", err);
    return ps;
}

static struct policy_set *load(const char *text)
{
    const char *files[] = {write_file(0, "json", text)};
    return load_files(files, 1);
}

/* A principal made from its JSON document. */
static struct principal make(const char *doc_json)
{
    struct principal p = {0};
    p.doc = cJSON_Parse(doc_json);
    p.id = cJSON_GetStringValue(cJSON_GetObjectItem(p.doc, "id"));
    const char *kind = cJSON_GetStringValue(cJSON_GetObjectItem(p.doc, "kind"));
    p.kind = strcmp(kind, "key") == 0 ? PRINCIPAL_KEY : strcmp(kind, "jwt") == 0 ? PRINCIPAL_JWT : PRINCIPAL_ANONYMOUS;
    return p;
}

static enum verdict decide_full(struct policy_set *ps, struct rate_store *rs, const struct principal *who,
                                const char *session, double now, const char *tool, const char *args,
                                struct decision *d)
{
    char text[2048];
    snprintf(text, sizeof text, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"%s\"%s%s}}",
             tool, args ? ",\"arguments\":" : "", args ? args : "");
    struct rpc_msg m;
    struct rpc_error e;
    if (rpc_parse(text, strlen(text), NULL, &m, &e) < 0)
        return VERDICT_ERROR;
    struct call_ctx ctx = {.server = "s", .session = session, .session_len = strlen(session), .client_addr = "c:1",
                           .now = now, .wall = 1e9, .principal = who};
    policy_decide(ps, rs, &m, &ctx, d);
    rpc_msg_clear(&m);
    return d->verdict;
}

static enum verdict decide(struct policy_set *ps, const struct principal *who, const char *tool, const char *args)
{
    struct rate_store *rs = rate_store_new();
    struct decision d;
    enum verdict v = decide_full(ps, rs, who, "sess", 100, tool, args, &d);
    rate_store_free(rs);
    return v;
}

static struct principal ml, ci, anon, tok;

static void test_conditions(void)
{
    struct policy_set *ps = load(
        "{\"version\": \"1\", \"tools\": {"
        " \"train\": {\"deny_if\": [{\"principal\": \"labels.team\", \"neq\": \"ml\"}]},"
        " \"deploy\": {\"require\": [{\"principal\": \"scopes\", \"contains\": \"deploy\"},"
        "                            {\"principal\": \"kind\", \"eq\": \"jwt\"}]},"
        " \"read\": {\"deny_if\": [{\"principal\": \"claims.groups\", \"contains\": \"contractors\"}]},"
        " \"whoami\": {\"require\": [{\"principal\": \"id\", \"in\": [\"ci-bot\", \"alice\"]}]}"
        "}}");
    CHECK(ps != NULL);
    CHECK(decide(ps, &ml, "train", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, &ci, "train", NULL) == VERDICT_DENY);
    CHECK(decide(ps, &anon, "train", NULL) == VERDICT_DENY);     /* no labels: not equal to "ml" */
    CHECK(decide(ps, NULL, "train", NULL) == VERDICT_DENY);      /* nobody known: the same */
    CHECK(decide(ps, &tok, "deploy", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, &ml, "deploy", NULL) == VERDICT_DENY);
    CHECK(decide(ps, &tok, "read", NULL) == VERDICT_DENY);
    CHECK(decide(ps, &ml, "read", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, &ci, "whoami", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, &ml, "whoami", NULL) == VERDICT_DENY);
    struct rate_store *rs = rate_store_new();
    struct decision d;
    decide_full(ps, rs, &ci, "s", 1, "train", NULL, &d);
    CHECK(strstr(d.reason, "principal.labels.team neq \"ml\"") != NULL);
    rate_store_free(rs);
    policy_set_free(ps);
}

/* A rule's "when": the rule exists only for the callers it names; for the
 * others the next matching rule (a glob), then the default, decides. */
static void test_rule_when(void)
{
    struct policy_set *ps = load(
        "{\"version\": \"1\", \"default\": \"deny\", \"tools\": {"
        " \"delete_*\": {\"when\": {\"principal\": \"labels.team\", \"eq\": \"ml\"}},"
        " \"delete_model\": {\"when\": [{\"principal\": \"labels.team\", \"eq\": \"ml\"}, {\"arg\": \"name\", \"prefix\": \"tmp-\"}]},"
        " \"list_*\": {}"
        "}}");
    CHECK(ps != NULL);
    CHECK(decide(ps, &ml, "delete_run", NULL) == VERDICT_ALLOW);
    CHECK(decide(ps, &ci, "delete_run", NULL) == VERDICT_DENY);
    CHECK(decide(ps, &ml, "delete_model", "{\"name\":\"tmp-1\"}") == VERDICT_ALLOW);
    /* the exact rule's when fails: the glob still lets ml in */
    CHECK(decide(ps, &ml, "delete_model", "{\"name\":\"prod\"}") == VERDICT_ALLOW);
    CHECK(decide(ps, &ci, "delete_model", "{\"name\":\"tmp-1\"}") == VERDICT_DENY);
    CHECK(decide(ps, &ci, "list_runs", NULL) == VERDICT_ALLOW);
    policy_set_free(ps);
}

static void test_load_problems(void)
{
    CHECK(load("{\"version\": \"1\", \"tools\": {\"t\": {\"deny_if\": [{\"principal\": \"password\", \"eq\": 1}]}}}") == NULL);
    CHECK(strstr(err, "/tools/t/deny_if/0/principal: must be a path into the principal") != NULL);
    CHECK(load("{\"version\": \"1\", \"tools\": {\"t\": {\"deny_if\": [{\"principal\": \"id\", \"arg\": \"x\", \"eq\": 1}]}}}") ==
          NULL);
    CHECK(strstr(err, "names one subject") != NULL);
    CHECK(load("{\"version\": \"1\", \"tools\": {\"t\": {\"deny_if\": [{\"eq\": 1}]}}}") == NULL);
    CHECK(strstr(err, "names one subject") != NULL);
    CHECK(load("{\"version\": \"1\", \"tools\": {\"t\": {\"when\": []}}}") == NULL);
    CHECK(strstr(err, "/tools/t/when: needs at least one condition") != NULL);
    CHECK(load("{\"version\": \"1\", \"tools\": {\"t\": {\"rate_limit\": {\"max\": 1, \"window\": 1, \"per\": \"agent\"}}}}") ==
          NULL);
    CHECK(strstr(err, "/tools/t/rate_limit/per") != NULL);
}

/* 3 calls a minute per principal: five sessions of one principal get 3 in
 * all; another principal has its own 3; per session and per server count
 * as they say; without authentication the default is per session. */
static void test_rate_limits(void)
{
    struct policy_set *ps = load(
        "{\"version\": \"1\", \"tools\": {"
        " \"q\": {\"rate_limit\": {\"max\": 3, \"window\": 60}},"
        " \"s\": {\"rate_limit\": {\"max\": 1, \"window\": 60, \"per\": \"session\"}},"
        " \"g\": {\"rate_limit\": {\"max\": 2, \"window\": 60, \"per\": \"server\"}},"
        " \"p\": {\"rate_limit\": {\"max\": 1, \"window\": 60, \"per\": \"principal\"}}"
        "}}");
    CHECK(ps != NULL);
    struct rate_store *rs = rate_store_new();
    struct decision d;
    int allowed = 0;
    for (int i = 0; i < 5; i++) {
        char sess[16];
        snprintf(sess, sizeof sess, "session-%d", i);
        allowed += decide_full(ps, rs, &ci, sess, 100 + i, "q", NULL, &d) == VERDICT_ALLOW;
    }
    CHECK(allowed == 3);
    CHECK(d.verdict == VERDICT_RATE_LIMITED && d.retry_after > 0);
    CHECK(decide_full(ps, rs, &ml, "session-0", 106, "q", NULL, &d) == VERDICT_ALLOW);
    /* a key "alice" and a token "alice" are two principals */
    struct principal key_alice = make("{\"id\":\"alice\",\"kind\":\"key\",\"labels\":{},\"claims\":{},\"scopes\":[]}");
    struct principal jwt_alice = make("{\"id\":\"alice\",\"kind\":\"jwt\",\"labels\":{},\"claims\":{},\"scopes\":[]}");
    CHECK(decide_full(ps, rs, &key_alice, "a", 107, "p", NULL, &d) == VERDICT_ALLOW);
    CHECK(decide_full(ps, rs, &jwt_alice, "b", 107, "p", NULL, &d) == VERDICT_ALLOW);
    CHECK(decide_full(ps, rs, &key_alice, "c", 107, "p", NULL, &d) == VERDICT_RATE_LIMITED);
    principal_clear(&key_alice);
    principal_clear(&jwt_alice);

    /* anonymous callers count per session by default */
    allowed = 0;
    for (int i = 0; i < 5; i++) {
        char sess[16];
        snprintf(sess, sizeof sess, "anon-%d", i);
        allowed += decide_full(ps, rs, &anon, sess, 110, "q", NULL, &d) == VERDICT_ALLOW;
    }
    CHECK(allowed == 5);
    /* per session: a principal's second session has its own count */
    CHECK(decide_full(ps, rs, &ci, "x1", 120, "s", NULL, &d) == VERDICT_ALLOW);
    CHECK(decide_full(ps, rs, &ci, "x1", 121, "s", NULL, &d) == VERDICT_RATE_LIMITED);
    CHECK(decide_full(ps, rs, &ci, "x2", 122, "s", NULL, &d) == VERDICT_ALLOW);
    /* per server: everyone together */
    CHECK(decide_full(ps, rs, &ci, "y1", 130, "g", NULL, &d) == VERDICT_ALLOW);
    CHECK(decide_full(ps, rs, &ml, "y2", 131, "g", NULL, &d) == VERDICT_ALLOW);
    CHECK(decide_full(ps, rs, &tok, "y3", 132, "g", NULL, &d) == VERDICT_RATE_LIMITED);
    rate_store_free(rs);
    policy_set_free(ps);
}

/* Two policies bound to two teams in the config: one call, two answers. */
static void test_bound_policies(void)
{
    const char *files[] = {
        write_file(1, "json", "{\"version\": \"1\", \"hide\": [\"secret_*\"], \"tools\": {\"deploy\": {\"action\": \"deny\", "
                              "\"reason\": \"CI does not deploy\"}}}"),
        write_file(2, "json", "{\"version\": \"1\", \"tools\": {\"deploy\": {\"rate_limit\": {\"max\": 1, \"window\": 60}}}}"),
        write_file(3, "json", "{\"version\": \"1\", \"tools\": {\"drop\": {\"action\": \"deny\"}}}"),
    };
    struct policy_set *ps = load_files(files, 3);
    CHECK(ps != NULL);
    CHECK(policy_set_bind(ps, 0, "{\"principal\": \"labels.team\", \"eq\": \"ci\"}", err, sizeof err) == 0);
    CHECK(policy_set_bind(ps, 1, "[{\"principal\": \"labels.team\", \"eq\": \"ml\"}]", err, sizeof err) == 0);
    struct rate_store *rs = rate_store_new();
    struct decision d;
    CHECK(decide_full(ps, rs, &ci, "a", 1, "deploy", NULL, &d) == VERDICT_DENY);
    CHECK(strstr(d.reason, "CI does not deploy") != NULL);
    CHECK(decide_full(ps, rs, &ml, "b", 1, "deploy", NULL, &d) == VERDICT_ALLOW);
    CHECK(decide_full(ps, rs, &ml, "b", 2, "deploy", NULL, &d) == VERDICT_RATE_LIMITED);
    CHECK(decide_full(ps, rs, &anon, "c", 3, "deploy", NULL, &d) == VERDICT_ALLOW);
    /* the unbound policy applies to everyone */
    CHECK(decide_full(ps, rs, &ml, "b", 4, "drop", NULL, &d) == VERDICT_DENY);
    CHECK(decide_full(ps, rs, &ci, "a", 4, "drop", NULL, &d) == VERDICT_DENY);
    /* hidden only for CI, in calls and in lists */
    CHECK(decide_full(ps, rs, &ci, "a", 5, "secret_x", NULL, &d) == VERDICT_HIDDEN);
    CHECK(decide_full(ps, rs, &ml, "b", 5, "secret_x", NULL, &d) == VERDICT_ALLOW);
    const char *list = "{\"tools\":[{\"name\":\"secret_x\"},{\"name\":\"deploy\"}]}";
    struct call_ctx ctx = {.server = "s", .session = "a", .session_len = 1, .principal = &ci};
    cJSON *r = cJSON_Parse(list);
    CHECK(policy_filter_list(ps, r, &ctx) && cJSON_GetArraySize(cJSON_GetObjectItem(r, "tools")) == 1);
    cJSON_Delete(r);
    ctx.principal = &ml;
    r = cJSON_Parse(list);
    CHECK(!policy_filter_list(ps, r, &ctx) && cJSON_GetArraySize(cJSON_GetObjectItem(r, "tools")) == 2);
    cJSON_Delete(r);
    rate_store_free(rs);

    CHECK(policy_set_bind(ps, 2, "{\"principal\": \"team\", \"eq\": \"ci\"}", err, sizeof err) == -1);
    CHECK(strstr(err, "(bound by the config)") && strstr(err, "/when/principal: must be a path into the principal"));
    CHECK(policy_set_bind(ps, 2, "{\"principal\": ", err, sizeof err) == -1);
    policy_set_free(ps);
}

static void test_lua(void)
{
    const char *files[] = {write_file(4, "lua",
        "return {\n"
        "  on_call = function(call)\n"
        "    local p = call.principal\n"
        "    if call.tool == 'who' then\n"
        "      return warden.deny(p.id .. '/' .. p.kind .. '/' .. tostring(p.labels.team) .. '/' .. #p.scopes .. '/' ..\n"
        "                         tostring(p.claims.groups and p.claims.groups[1]))\n"
        "    end\n"
        "    if call.tool == 'forge' then p.id = 'root' end\n"
        "    if call.tool == 'forge2' then p.labels.team = 'ml' end\n"
        "    if call.tool == 'forge3' then table.insert(p.scopes, 'admin') end\n"
        "  end,\n"
        "  on_list = function(tools, ctx)\n"
        "    if ctx.principal and ctx.principal.labels.team == 'ci' then return {} end\n"
        "    return tools\n"
        "  end,\n"
        "}\n")};
    struct policy_set *ps = load_files(files, 1);
    CHECK(ps != NULL);
    struct rate_store *rs = rate_store_new();
    struct decision d;
    CHECK(decide_full(ps, rs, &tok, "a", 1, "who", NULL, &d) == VERDICT_DENY);
    CHECK(strstr(d.reason, "bob@x.test/jwt/nil/2/ml") != NULL);
    CHECK(decide_full(ps, rs, &ci, "a", 1, "who", NULL, &d) == VERDICT_DENY);
    CHECK(strstr(d.reason, "ci-bot/key/ci/0/nil") != NULL);
    CHECK(decide_full(ps, rs, &ci, "a", 1, "forge", NULL, &d) == VERDICT_ERROR);
    CHECK(strstr(d.reason, "p4.lua:8") != NULL);   /* the write failed: without read-only tables it would pass */
    CHECK(decide_full(ps, rs, &ci, "a", 1, "forge2", NULL, &d) == VERDICT_ERROR);
    CHECK(decide_full(ps, rs, &tok, "a", 1, "forge3", NULL, &d) == VERDICT_ERROR);
    CHECK(strcmp(tok.id, "bob@x.test") == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(tok.doc, "scopes")) == 2);
    CHECK(decide_full(ps, rs, NULL, "a", 1, "other", NULL, &d) == VERDICT_ALLOW);
    struct call_ctx ctx = {.server = "s", .session = "a", .session_len = 1, .principal = &ci};
    cJSON *r = cJSON_Parse("{\"tools\":[{\"name\":\"x\"}]}");
    CHECK(policy_filter_list(ps, r, &ctx) && cJSON_GetArraySize(cJSON_GetObjectItem(r, "tools")) == 0);
    cJSON_Delete(r);
    rate_store_free(rs);
    policy_set_free(ps);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    shared = shared_store_new(NULL);
    ml = make("{\"id\":\"ml-agent\",\"kind\":\"key\",\"labels\":{\"team\":\"ml\"},\"claims\":{},\"scopes\":[]}");
    ci = make("{\"id\":\"ci-bot\",\"kind\":\"key\",\"labels\":{\"team\":\"ci\"},\"claims\":{},\"scopes\":[]}");
    anon = make("{\"id\":\"anonymous\",\"kind\":\"anonymous\",\"labels\":{},\"claims\":{},\"scopes\":[]}");
    tok = make("{\"id\":\"bob@x.test\",\"kind\":\"jwt\",\"labels\":{},\"claims\":{\"groups\":[\"ml\",\"contractors\"]},"
               "\"scopes\":[\"deploy\",\"read\"]}");
    test_conditions();
    test_rule_when();
    test_load_problems();
    test_rate_limits();
    test_bound_policies();
    test_lua();
    principal_clear(&ml);
    principal_clear(&ci);
    principal_clear(&anon);
    principal_clear(&tok);
    shared_store_free(shared);
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
