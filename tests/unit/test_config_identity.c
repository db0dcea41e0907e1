/* The config file's identity parts (src/config.c with src/auth.c and
 * src/policy.c): a top-level and a per-server "auth", and policies bound to
 * principals ({"file", "when"}) beside plain file names. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "config.h"

static char dir[] = "/tmp/warden-test-config-id-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int parse_file(struct config *cfg, char *err, const char *text)
{
    const char *file = write_file("warden.json", text);
    char *args[] = {"--config", (char *)file, NULL};
    return config_from_args(2, args, cfg, err, 4096);
}

static void test_good(void)
{
    struct config cfg;
    char err[4096];
    int rc = parse_file(&cfg, err,
        "{\"auth\": {\"api_keys\": [{\"id\": \"ci-bot\", \"sha256\": \"" 
        "619b710c0b946dadc545fe55e9c65d0d6a2edff1dfc7cd3a54088381197a5c07\", \"labels\": {\"team\": \"ci\"}}]},\n"
        " \"servers\": {\n"
        "  \"registry\": {\"url\": \"http://127.0.0.1:3001/mcp\",\n"
        "    \"policies\": [\"all.json\", {\"file\": \"ci.json\", \"when\": {\"principal\": \"labels.team\", \"eq\": \"ci\"}}]},\n"
        "  \"open\": {\"url\": \"http://127.0.0.1:3002/mcp\", \"auth\": {\"anonymous\": true}, \"policies\": [\"all.json\"]}\n"
        " }}");
    CHECK(rc == 0);
    if (rc != 0) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    CHECK(cfg.auth != NULL);
    const struct server_conf *r = &cfg.servers[0], *o = &cfg.servers[1];
    CHECK(r->npolicies == 2 && strstr(r->policies[0], "/all.json") && strstr(r->policies[1], "/ci.json"));
    CHECK(r->policy_when && r->policy_when[0] == NULL);
    CHECK_STR(r->policy_when[1], "{\"principal\":\"labels.team\",\"eq\":\"ci\"}");
    CHECK(r->auth == NULL && o->auth != NULL);
    CHECK(o->npolicies == 1 && o->policy_when && o->policy_when[0] == NULL);
    config_free(&cfg);
}

static void test_problems(void)
{
    struct config cfg;
    char err[4096];
    CHECK(parse_file(&cfg, err,
        "{\"auth\": {\"api_keys\": [{\"id\": \"x\", \"sha256\": \"zz\"}]},\n"
        " \"servers\": {\"s\": {\"url\": \"http://127.0.0.1:3001/mcp\", \"policies\": [\n"
        "   {\"file\": \"a.json\"},\n"
        "   {\"file\": \"b.json\", \"when\": {\"principal\": \"team\", \"eq\": \"ci\"}},\n"
        "   {\"file\": \"c.json\", \"when\": {\"principal\": \"id\", \"eq\": \"x\"}, \"extra\": 1},\n"
        "   {\"when\": {\"principal\": \"id\", \"eq\": \"x\"}},\n"
        "   7]}}}") < 0);
    CHECK(strstr(err, "/auth/api_keys/0/sha256: must be 64 hex digits") != NULL);
    CHECK(strstr(err, "/servers/s/policies/0: needs \"when\"") != NULL);
    CHECK(strstr(err, "/servers/s/policies/1/when/principal: must be a path into the principal") != NULL);
    CHECK(strstr(err, "/servers/s/policies/2/extra: unknown field") != NULL);
    CHECK(strstr(err, "/servers/s/policies/3: needs \"file\"") != NULL);
    CHECK(strstr(err, "/servers/s/policies/4: must be a file name") != NULL);
    CHECK(parse_file(&cfg, err,
        "{\"servers\": {\"s\": {\"url\": \"http://127.0.0.1:3001/mcp\", \"auth\": {}}}}") < 0);
    CHECK(strstr(err, "/servers/s/auth: accepts no one") != NULL);
    CHECK(parse_file(&cfg, err,
        "{\"auth\": {\"anonymous\": true}, \"servers\": {\"s\": {\"url\": \"http://127.0.0.1:3001/mcp\", \"pass_authorization\": true}}}") < 0);
    CHECK(strstr(err, "s: pass_authorization would send the credentials") != NULL);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_good();
    test_problems();
    char cmd[100];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
