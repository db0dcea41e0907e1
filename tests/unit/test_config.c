/* Unit tests of the configuration (src/config.c): flags, defaults, the
 * config file's errors with file and JSON path, and Origin/Host checks. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "config.h"

static char dir[] = "/tmp/warden-test-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

/* Parses a NULL-terminated argument list; returns config_from_args' result. */
static int parse(struct config *cfg, char *err, const char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    return config_from_args(argc, (char **)args, cfg, err, 1024);
}

static void test_flags(void)
{
    struct config cfg;
    char err[1024];
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://127.0.0.1:3001/mcp", NULL}) == 0);
    CHECK_STR(cfg.listen_host, "127.0.0.1");
    CHECK(cfg.listen_port == 8931 && cfg.nservers == 1);
    CHECK_STR(cfg.servers[0].path, "/mcp");
    CHECK_STR(cfg.servers[0].host_header, "127.0.0.1:3001");
    CHECK_STR(cfg.servers[0].upstream_path, "/mcp");
    CHECK(cfg.limits.max_body_bytes == 4u << 20 && cfg.limits.max_headers == 64);
    CHECK(!cfg.servers[0].pass_authorization);
    config_free(&cfg);

    CHECK(parse(&cfg, err, (const char *[]){"--listen", "[::1]:9000", "--policy", "a.json", "--policy", "b.lua",
                                            "--workers", "3", "--pass-authorization", "--", "my-server", "--flag", NULL}) == 0);
    CHECK_STR(cfg.listen_host, "[::1]");
    CHECK(cfg.listen_port == 9000 && cfg.workers == 3 && cfg.servers[0].npolicies == 2);
    CHECK_STR(cfg.servers[0].command[0], "my-server");
    CHECK_STR(cfg.servers[0].command[1], "--flag");
    CHECK(cfg.servers[0].pass_authorization);
    config_free(&cfg);

    const char *bad[][4] = {
        {"--upstream", NULL},
        {"--bogus", NULL},
        {NULL},
        {"--upstream", "https:///mcp", NULL},
        {"--upstream", "ftp://x", NULL},
        {"--upstream", "http://a:99999/", NULL},
        {"--upstream", "http://a/", "--listen", "nohost"},
        {"--upstream", "http://a/", "--workers", "0"},
    };
    const char *want[] = {"needs a value", "unknown option --bogus", "nothing to serve", "http[s]://HOST", "https:// URL",
                          "invalid port", "HOST:PORT", "--workers"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *args[5] = {bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL};
        CHECK(parse(&cfg, err, args) == -1);
        if (!strstr(err, want[i]))
            fprintf(stderr, "case %zu: %s\n", i, err);
        CHECK(strstr(err, want[i]) != NULL);
    }
    CHECK(parse(&cfg, err, (const char *[]){"--version", NULL}) == 1);
}

struct file_case {
    const char *text;
    const char *want;
};

static const struct file_case file_errors[] = {
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\"}},\"bogus\":1}", ":1:38 /bogus: unknown field \"bogus\" (known: listen, workers"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\",\"policy\":[]}}}", ":1:36 /servers/a/policy: unknown field \"policy\" (did you mean \"policies\"?)"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\"}},\"limits\":{\"max_body\":1}}", ":1:48 /limits/max_body: unknown field"},
    {"{\"servers\":{\"a\":{\"url\":\"ftp://x/\"}}}", ":1:24 /servers/a/url: must be an http:// or https:// URL"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\",\"ca\":\"/etc/hostname\"}}}", ":1:41 /servers/a/ca: only an https:// server"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\",\"command\":[\"y\"]}}}", ":1:17 /servers/a: needs exactly one of"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\",\"headers\":{\"X-T\":\"${WARDEN_TEST_UNSET_VAR}\"}}}}",
     "WARDEN_TEST_UNSET_VAR, which is not set"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\",\"headers\":{\"Host\":\"x\"}}}}", "/servers/a/headers/Host: is a header warden sets"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\"},\"a\":{\"url\":\"http://y/\"}}}", ":1:37 /servers/a: given twice"},
    {"{\"servers\":{}}", ":1:12 /servers: must be an object naming at least one server"},
    {"{\"servers\":{\"a\":{\"url\":\"http://x/\",\"connect_timeout_ms\":-1}}}", "/servers/a/connect_timeout_ms: must be a whole number"},
    {"{\"servers\":{\"a b\":{\"url\":\"http://x/\"}}}", "may use only letters"},
    {"{\n  \"servers\": {\n    \"a\": {\"url\": \"http://x/\"},\n  }\n}", ":4:"},
};

static void test_file(void)
{
    struct config cfg;
    char err[1024];
    setenv("WARDEN_TEST_TOKEN", "s3cret", 1);
    const char *file = write_file("good.json",
        "{\"listen\":\"127.0.0.1:9100\",\"workers\":2,\"limits\":{\"max_body_bytes\":1000},"
        "\"servers\":{\"registry\":{\"url\":\"http://127.0.0.1:3001/mcp\",\"policies\":[\"p.json\"],"
        "\"headers\":{\"Authorization\":\"Bearer ${WARDEN_TEST_TOKEN}\"},\"first_byte_timeout_ms\":500},"
        "\"fs\":{\"command\":[\"srv\",\"/data\"],\"env\":{\"HOME\":\"/tmp\"}}}}");
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, NULL}) == 0);
    CHECK(cfg.nservers == 2 && cfg.listen_port == 9100 && cfg.workers == 2 && cfg.limits.max_body_bytes == 1000);
    CHECK_STR(cfg.servers[0].path, "/mcp/registry");
    CHECK_STR(cfg.servers[0].headers[0].value, "Bearer s3cret");
    CHECK(cfg.servers[0].first_byte_timeout_ms == 500 && cfg.servers[0].connect_timeout_ms == 5000);
    CHECK(strstr(cfg.servers[0].policies[0], dir) && strstr(cfg.servers[0].policies[0], "/p.json"));
    CHECK_STR(cfg.servers[1].env[0], "HOME=/tmp");
    config_free(&cfg);
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, "--policy", "x.json", NULL}) == -1);
    for (size_t i = 0; i < sizeof file_errors / sizeof *file_errors; i++) {
        const char *path = write_file("bad.json", file_errors[i].text);
        CHECK(parse(&cfg, err, (const char *[]){"--config", path, NULL}) == -1);
        if (!strstr(err, file_errors[i].want) || strncmp(err, path, strlen(path)) != 0)
            fprintf(stderr, "case %zu: %s\n", i, err);
        CHECK(strstr(err, file_errors[i].want) != NULL);
        CHECK(strncmp(err, path, strlen(path)) == 0);   /* the message names the file */
    }
}

/* lua_path is a directory, checked at load; every problem of a file is told
 * at once, and the flags win over the file. */
static void test_lua_path_and_several(void)
{
    struct config cfg;
    char err[2048];
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", NULL}) == 0);
    CHECK(cfg.lua_path == NULL);
    config_free(&cfg);
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", "--lua-path", dir, NULL}) == 0);
    CHECK_STR(cfg.lua_path, dir);
    config_free(&cfg);
    const char *notdir = write_file("plain.txt", "x");
    char flagged[300];
    snprintf(flagged, sizeof flagged, "%s", notdir);
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", "--lua-path", flagged, NULL}) == -1);
    CHECK(strstr(err, "--lua-path ") == err && strstr(err, "is not a directory"));
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", "--lua-path", "/nonexistent-warden", NULL}) == -1);
    CHECK_STR(err, "--lua-path /nonexistent-warden: No such file or directory");
    /* in a file, relative to the file's directory */
    const char *file = write_file("lua.json", "{\"lua_path\": \".\", \"servers\": {\"a\": {\"url\": \"http://x/\"}}}");
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, NULL}) == 0);
    CHECK(cfg.lua_path && strncmp(cfg.lua_path, dir, strlen(dir)) == 0);
    config_free(&cfg);
    file = write_file("lua.json", "{\"lua_path\": \"plain.txt\", \"servers\": {\"a\": {\"url\": \"http://x/\"}}}");
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, NULL}) == -1);
    CHECK(strstr(err, ":1:14 /lua_path: ") && strstr(err, "plain.txt is not a directory"));

    /* several problems, each on its line, then the flags' own */
    file = write_file("several.json", "{\n"
                                      "  \"workers\": 0,\n"
                                      "  \"log_level\": \"loud\",\n"
                                      "  \"limits\": {\"max_headers\": \"many\", \"max_body\": 1},\n"
                                      "  \"servers\": {\"a\": {\"url\": \"http://x/\", \"env\": {}}, \"b\": {}}\n"
                                      "}\n");
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, "--workers", "65", NULL}) == -1);
    char want[2048];
    snprintf(want, sizeof want,
             "%s:2:14 /workers: must be a whole number from 1 to 64\n"
             "%s:3:16 /log_level: must be \"debug\", \"info\", \"warn\" or \"error\", not \"loud\"\n"
             "%s:4:29 /limits/max_headers: must be a whole number from 1 to 1000\n"
             "%s:4:37 /limits/max_body: unknown field \"max_body\" (known: max_header_bytes, max_headers, "
             "max_body_bytes, max_json_depth, max_sse_event_bytes, max_connections, header_timeout_ms, "
             "body_timeout_ms, keepalive_timeout_ms, shutdown_grace_ms, max_list_ttl_ms)\n"
             "%s:5:48 /servers/a/env: only a stdio server (\"command\") has an environment\n"
             "%s:5:58 /servers/b: needs exactly one of \"url\" and \"command\"\n"
             "--workers 65: must be a whole number from 1 to 64",
             file, file, file, file, file, file);
    CHECK_STR(err, want);

    /* the flags win over the file; "description" is free text */
    file = write_file("flags.json", "{\"description\": {\"any\": 1}, \"workers\": 2, \"log_level\": \"warn\","
                                    " \"allowed_hosts\": [\"a.example\"], \"servers\": {\"a\": {\"url\": \"http://x/\"}}}");
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, "--workers", "3", "--log-level", "debug",
                                            "--allow-host", "b.example", "--allow-host", "c.example", NULL}) == 0);
    CHECK(cfg.workers == 3);
    CHECK_STR(cfg.log_level, "debug");
    CHECK_STR(cfg.allowed_hosts[0], "b.example");
    CHECK_STR(cfg.allowed_hosts[1], "c.example");
    CHECK(cfg.allowed_hosts[2] == NULL);
    config_free(&cfg);
}

static void test_origin_host(void)
{
    struct config cfg;
    char err[1024];
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", NULL}) == 0);
    const char *ok_origins[] = {"http://localhost", "http://localhost:6274", "http://127.0.0.1:3000", "HTTP://LOCALHOST:1", "http://[::1]:8080"};
    for (size_t i = 0; i < 5; i++)
        CHECK(config_origin_allowed(&cfg, ok_origins[i], strlen(ok_origins[i])));
    const char *bad_origins[] = {"http://evil.example", "null", "http://localhost.evil.example", "http://127.0.0.2", "file://"};
    for (size_t i = 0; i < 5; i++)
        CHECK(!config_origin_allowed(&cfg, bad_origins[i], strlen(bad_origins[i])));
    const char *ok_hosts[] = {"localhost", "localhost:8931", "127.0.0.1:8931", "[::1]:8931", "LOCALHOST"};
    for (size_t i = 0; i < 5; i++)
        CHECK(config_host_allowed(&cfg, ok_hosts[i], strlen(ok_hosts[i])));
    const char *bad_hosts[] = {"evil.example", "evil.example:8931", "127.0.0.2", "localhost.evil"};
    for (size_t i = 0; i < 4; i++)
        CHECK(!config_host_allowed(&cfg, bad_hosts[i], strlen(bad_hosts[i])));
    config_free(&cfg);
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", "--allow-origin", "https://app.example:443",
                                            "--allow-host", "gw.example", NULL}) == 0);
    CHECK(config_origin_allowed(&cfg, "https://app.example:443", 23));
    CHECK(!config_origin_allowed(&cfg, "https://app.example:444", 23));
    CHECK(!config_origin_allowed(&cfg, "http://localhost", 16));   /* the flags replace the defaults */
    CHECK(config_host_allowed(&cfg, "gw.example:8931", 15));
    CHECK(!config_host_allowed(&cfg, "localhost", 9));
    config_free(&cfg);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 2;
    test_flags();
    test_file();
    test_lua_path_and_several();
    test_origin_host();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_report();
}
