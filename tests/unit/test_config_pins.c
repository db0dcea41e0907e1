/* The configuration of tool classes and pins: servers.NAME.pins (relative to
 * the config file), pin_mode (block when pins is given alone; a checking mode
 * needs a pins file), trust_annotations, and their flags. */
#include <stdlib.h>
#include <string.h>
#include "check.h"
#include "config.h"
#include "pins.h"

static char dir[] = "/tmp/warden-test-config-pins-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static int parse(struct config *cfg, char *err, const char **args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    return config_from_args(argc, (char **)args, cfg, err, 2048);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    struct config cfg;
    char err[2048], want[300];

    /* the file: pins resolved against the file's directory; block by default with pins */
    const char *file = write_file("w.json", "{\"servers\":{"
        "\"a\":{\"command\":[\"x\"],\"pins\":\"a.pins.json\",\"trust_annotations\":true},"
        "\"b\":{\"url\":\"http://127.0.0.1:1/mcp\",\"pins\":\"/abs/b.pins.json\",\"pin_mode\":\"warn\"},"
        "\"c\":{\"command\":[\"x\"]}}}");
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, NULL}) == 0);
    if (cfg.nservers == 3) {
        snprintf(want, sizeof want, "%s/a.pins.json", dir);
        CHECK_STR(cfg.servers[0].pins, want);
        CHECK(cfg.servers[0].pin_mode == PIN_MODE_BLOCK);
        CHECK(cfg.servers[0].trust_annotations);
        CHECK_STR(cfg.servers[1].pins, "/abs/b.pins.json");
        CHECK(cfg.servers[1].pin_mode == PIN_MODE_WARN);
        CHECK(!cfg.servers[1].trust_annotations);
        CHECK(cfg.servers[2].pins == NULL && cfg.servers[2].pin_mode == PIN_MODE_OFF);
    }
    config_free(&cfg);

    const char *bad_files[][2] = {
        {"{\"servers\":{\"a\":{\"command\":[\"x\"],\"pin_mode\":\"block\"}}}", "needs a pins file"},
        {"{\"servers\":{\"a\":{\"command\":[\"x\"],\"pins\":\"p\",\"pin_mode\":\"loud\"}}}", "/servers/a/pin_mode"},
        {"{\"servers\":{\"a\":{\"command\":[\"x\"],\"pins\":\"\"}}}", "/servers/a/pins"},
        {"{\"servers\":{\"a\":{\"command\":[\"x\"],\"pins\":7}}}", "/servers/a/pins"},
        {"{\"servers\":{\"a\":{\"command\":[\"x\"],\"trust_annotations\":\"yes\"}}}", "/servers/a/trust_annotations"},
    };
    for (size_t i = 0; i < sizeof bad_files / sizeof *bad_files; i++) {
        const char *f = write_file("bad.json", bad_files[i][0]);
        CHECK(parse(&cfg, err, (const char *[]){"--config", f, NULL}) == -1);
        if (!strstr(err, bad_files[i][1]))
            fprintf(stderr, "case %zu: %s\n", i, err);
        CHECK(strstr(err, bad_files[i][1]) != NULL);
    }

    /* the flags, for the one server of the command line */
    CHECK(parse(&cfg, err, (const char *[]){"--pins", "p.json", "--trust-annotations", "--", "srv", NULL}) == 0);
    CHECK_STR(cfg.servers[0].pins, "p.json");
    CHECK(cfg.servers[0].pin_mode == PIN_MODE_BLOCK && cfg.servers[0].trust_annotations);
    config_free(&cfg);
    CHECK(parse(&cfg, err, (const char *[]){"--pins", "p.json", "--pin-mode", "off", "--upstream", "http://a/", NULL}) == 0);
    CHECK(cfg.servers[0].pin_mode == PIN_MODE_OFF);
    config_free(&cfg);
    CHECK(parse(&cfg, err, (const char *[]){"--upstream", "http://a/", NULL}) == 0);
    CHECK(cfg.servers[0].pins == NULL && cfg.servers[0].pin_mode == PIN_MODE_OFF && !cfg.servers[0].trust_annotations);
    config_free(&cfg);
    CHECK(parse(&cfg, err, (const char *[]){"--pin-mode", "block", "--upstream", "http://a/", NULL}) == -1);
    CHECK(strstr(err, "needs a pins file") != NULL);
    CHECK(parse(&cfg, err, (const char *[]){"--pins", "p.json", "--pin-mode", "loud", "--upstream", "http://a/", NULL}) == -1);
    CHECK(parse(&cfg, err, (const char *[]){"--config", file, "--pins", "p.json", NULL}) == -1);
    CHECK(strstr(err, "per server in the file") != NULL);

    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_report();
}
