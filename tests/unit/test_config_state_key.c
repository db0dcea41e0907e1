/* approvals.request_state_key_env: the key every warden signs requestState
 * with, read from the environment at load. A good key is decoded; a missing
 * variable, a short, long or non-hex value is a config error naming the
 * variable and its JSON path, never the value; changing the variable's name
 * needs a restart (confdiff). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "confdiff.h"
#include "config.h"

static char dir[] = "/tmp/warden-test-config-state-key-XXXXXX";

static int load(struct config *cfg, char *err, const char *env_name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/w.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    if (env_name)
        fprintf(f, "{\"approvals\": {\"request_state_key_env\": \"%s\"},", env_name);
    else
        fputs("{", f);
    fputs(" \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}", f);
    fclose(f);
    char *argv[] = {"--config", path, NULL};
    return config_from_args(2, argv, cfg, err, 1024);
}

static void good(void)
{
    struct config cfg;
    char err[1024] = "";
    /* 32 bytes, upper and lower case hex. */
    static const char key[] = "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff";
    setenv("WARDEN_TEST_STATE_KEY", key, 1);
    CHECK(load(&cfg, err, "WARDEN_TEST_STATE_KEY") == 0);
    CHECK_STR(cfg.approvals.state_key.env, "WARDEN_TEST_STATE_KEY");
    CHECK(cfg.approvals.state_key.len == 32);
    CHECK(cfg.approvals.state_key.bytes[0] == 0x00 && cfg.approvals.state_key.bytes[1] == 0x11 &&
          cfg.approvals.state_key.bytes[10] == 0xaa && cfg.approvals.state_key.bytes[31] == 0xff);
    config_free(&cfg);
    /* 64 bytes: the longest. */
    char longest[129];
    memset(longest, 'a', 128);
    longest[128] = '\0';
    setenv("WARDEN_TEST_STATE_KEY", longest, 1);
    CHECK(load(&cfg, err, "WARDEN_TEST_STATE_KEY") == 0);
    CHECK(cfg.approvals.state_key.len == 64 && cfg.approvals.state_key.bytes[63] == 0xaa);
    config_free(&cfg);
    /* None given: none (the shared or per-process key applies). */
    CHECK(load(&cfg, err, NULL) == 0);
    CHECK(cfg.approvals.state_key.len == 0 && cfg.approvals.state_key.env == NULL);
    config_free(&cfg);
}

static void bad(void)
{
    struct config cfg;
    char err[1024];
    static const char secret_short[] = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75e"; /* 31 bytes */
    static const char secret_odd[] = "5ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e75ec7e"; /* 65 digits */
    static const char secret_b64[] = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXM="; /* base64 */
    char secret_long[132];
    memset(secret_long, 'b', 130); /* 65 bytes */
    secret_long[130] = '\0';
    const struct {
        const char *value; /* NULL: unset */
        const char *says;
    } cases[] = {
        {NULL, "WARDEN_TEST_STATE_KEY is not set"},
        {"", "holds 0 characters"},
        {secret_short, "holds 62 characters"},
        {secret_odd, "holds 65 characters"},
        {secret_long, "holds 130 characters"},
        {secret_b64, "not all hex digits"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        if (cases[i].value)
            setenv("WARDEN_TEST_STATE_KEY", cases[i].value, 1);
        else
            unsetenv("WARDEN_TEST_STATE_KEY");
        err[0] = '\0';
        CHECK(load(&cfg, err, "WARDEN_TEST_STATE_KEY") != 0);
        CHECK(strstr(err, "/approvals/request_state_key_env") != NULL);
        CHECK(strstr(err, cases[i].says) != NULL);
        CHECK(strstr(err, "openssl rand -hex 32") != NULL || !cases[i].value);
        /* The secret is never echoed. */
        CHECK(!cases[i].value || !cases[i].value[0] || strstr(err, cases[i].value) == NULL);
        if (!strstr(err, cases[i].says))
            fprintf(stderr, "case %zu: %s\n", i, err);
    }
    err[0] = '\0';
    CHECK(load(&cfg, err, "") != 0);
    CHECK(strstr(err, "must be the name of an environment variable") != NULL);
}

/* A reload cannot switch the variable: the key is read at start. */
static void reload(void)
{
    struct config a, b;
    char err[1024], why[300];
    static const char key[] = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    setenv("WARDEN_TEST_STATE_KEY", key, 1);
    setenv("WARDEN_TEST_STATE_KEY2", key, 1);
    CHECK(load(&a, err, "WARDEN_TEST_STATE_KEY") == 0);
    CHECK(load(&b, err, "WARDEN_TEST_STATE_KEY") == 0);
    CHECK(confdiff_check(&a, &b, 1, why, sizeof why) == 0);
    config_free(&b);
    CHECK(load(&b, err, "WARDEN_TEST_STATE_KEY2") == 0);
    CHECK(confdiff_check(&a, &b, 1, why, sizeof why) == -1);
    CHECK(strstr(why, "request_state_key_env") != NULL && strstr(why, "restart") != NULL);
    config_free(&b);
    CHECK(load(&b, err, NULL) == 0);
    CHECK(confdiff_check(&a, &b, 1, why, sizeof why) == -1);
    config_free(&b);
    config_free(&a);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    good();
    bad();
    reload();
    char path[256];
    snprintf(path, sizeof path, "%s/w.json", dir);
    unlink(path);
    rmdir(dir);
    return check_report();
}
