/* "state" in the config file: defaults, every key read, wrong values named
 * with their JSON path; and the addresses state_new accepts or refuses
 * (without connecting anywhere it can reach: nothing listens on port 1). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "state.h"

static char dir[] = "/tmp/warden-test-config-state-XXXXXX";

static int load(struct config *cfg, char *err, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/w.json", dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fputs(text, f);
    fclose(f);
    char *argv[] = {"--config", path, NULL};
    return config_from_args(2, argv, cfg, err, 1024);
}

static void test_config(void)
{
    struct config cfg;
    char err[1024];
    CHECK(load(&cfg, err, "{\"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}") == 0);
    CHECK(cfg.state.redis == NULL && cfg.state.timeout_ms == 50 && cfg.state.instances == 1 &&
          cfg.state.on_failure == STATE_FAIL_CLOSED);
    config_free(&cfg);
    CHECK(
        load(&cfg, err,
             "{\"state\": {\"redis\": \"redis://127.0.0.1:6379/2\", \"password_env\": \"PW\", \"key_prefix\": \"w1:\","
             " \"timeout_ms\": 20, \"on_failure\": \"local\", \"instances\": 3},"
             " \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}") == 0);
    CHECK_STR(cfg.state.redis, "redis://127.0.0.1:6379/2");
    CHECK_STR(cfg.state.password_env, "PW");
    CHECK_STR(cfg.state.key_prefix, "w1:");
    CHECK(cfg.state.timeout_ms == 20 && cfg.state.on_failure == STATE_FAIL_LOCAL && cfg.state.instances == 3);
    config_free(&cfg);
    const char *bad[] = {
        "{\"state\": {\"on_failure\": \"maybe\"}, \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}",
        "{\"state\": {\"timeout_ms\": 0}, \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}",
        "{\"state\": {\"redis\": \"\"}, \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}",
        "{\"state\": {\"instances\": 0}, \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}",
        "{\"state\": {\"bogus\": 1}, \"servers\": {\"a\": {\"url\": \"http://127.0.0.1:1/mcp\"}}}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CHECK(load(&cfg, err, bad[i]) != 0);
        CHECK(strstr(err, "/state/") != NULL);
    }
}

static void test_addresses(void)
{
    struct event_base *base = event_base_new();
    struct state_health *h = state_health_new();
    char err[256];
    const char *good[] = {"redis://127.0.0.1:1/0", "redis://127.0.0.1:1", "unix:/nonexistent/redis.sock"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        struct state_conf c = {.redis = (char *)good[i], .timeout_ms = 50, .instances = 1};
        struct state *st = state_new(base, &c, h, err, sizeof err);
        CHECK(st != NULL);
        /* nothing there: not ready, and commands fail at once instead of waiting */
        if (st) {
            CHECK(!state_ready(st));
            CHECK(state_get(st, "k", NULL, NULL) == NULL);
        }
        state_free(st);
    }
    const char *bad[] = {"http://127.0.0.1:1", "redis://", "redis://h:0", "redis://h:1/x", "unix:relative"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        struct state_conf c = {.redis = (char *)bad[i], .timeout_ms = 50, .instances = 1};
        err[0] = '\0';
        CHECK(state_new(base, &c, h, err, sizeof err) == NULL);
        CHECK(strncmp(err, "state.redis", 11) == 0);
    }
    struct state_conf c = {.redis = "redis://127.0.0.1:1/0", .password_env = "WARDEN_TEST_UNSET_PW", .timeout_ms = 50};
    unsetenv("WARDEN_TEST_UNSET_PW");
    CHECK(state_new(base, &c, h, err, sizeof err) == NULL && strstr(err, "WARDEN_TEST_UNSET_PW") != NULL);
    CHECK(!state_health_up(h));
    state_health_free(h);
    event_base_free(base);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    test_config();
    test_addresses();
    char path[256];
    snprintf(path, sizeof path, "%s/w.json", dir);
    unlink(path);
    rmdir(dir);
    return check_report();
}
