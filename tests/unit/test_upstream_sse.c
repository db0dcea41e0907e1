/* Unit tests of the legacy SSE upstream's pure parts: which `endpoint`
 * events are on the configured origin (src/upstream_sse.c), and the
 * "transport" key of a server (src/config.c). The sessions themselves are
 * tested end to end (tests/e2e/legacy-upstream.test.mjs). */
#include <stdlib.h>
#include <unistd.h>
#include "check.h"
#include "config.h"
#include "upstream_sse.h"

static char *resolve(const char *data)
{
    return sse_endpoint_resolve(data, strlen(data), "127.0.0.1", 3001);
}

static void expect(const char *data, const char *want)
{
    char *got = resolve(data);
    if (want)
        CHECK_STR(got, want);
    else
        CHECK(got == NULL);
    free(got);
}

static void test_endpoint(void)
{
    expect("/message?sessionId=abc", "/message?sessionId=abc");
    expect("/m#frag", "/m");
    expect("http://127.0.0.1:3001/message?x=1", "/message?x=1");
    expect("HTTP://127.0.0.1:3001", "/");
    /* another host, port, scheme or a trick */
    expect("http://localhost:3001/message", NULL);
    expect("http://127.0.0.1:3002/message", NULL);
    expect("http://127.0.0.1/message", NULL);            /* port 80 */
    expect("https://127.0.0.1:3001/message", NULL);
    expect("//evil.example/message", NULL);
    expect("http://127.0.0.1:3001@evil.example/m", NULL);
    expect("http://evil.example#@127.0.0.1:3001/m", NULL);
    expect("http://127.0.0.1:3001.evil.example/m", NULL);
    expect("http://127.0.0.1:30010/m", NULL);
    expect("http://127.0.0.1:/m", NULL);
    expect("message", NULL);                             /* relative: not served */
    expect("", NULL);
    /* bytes that would break the request line */
    expect("/m HTTP/1.1\r\nX: y", NULL);
    expect("/m\nX", NULL);
    expect("/m\x7f", NULL);
    expect("/caf\xc3\xa9", NULL);
    char *v6 = sse_endpoint_resolve("http://[::1]:8080/m", 19, "[::1]", 8080);
    CHECK_STR(v6, "/m");
    free(v6);
    CHECK(sse_endpoint_resolve("http://[::1]:8081/m", 19, "[::1]", 8080) == NULL);
}

static int parse_config(const char *json, struct config *cfg, char *err)
{
    char path[] = "/tmp/warden-test-sse-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -2;
    if (write(fd, json, strlen(json)) != (ssize_t)strlen(json)) {
        close(fd);
        return -2;
    }
    close(fd);
    const char *args[] = {"--config", path, NULL};
    memset(cfg, 0, sizeof *cfg);
    int rc = config_from_args(2, (char **)args, cfg, err, 1024);
    unlink(path);
    return rc;
}

static void test_config(void)
{
    struct config cfg;
    char err[1024] = "";
    CHECK(parse_config("{\"servers\":{\"old\":{\"url\":\"http://127.0.0.1:3001/sse\",\"transport\":\"sse\"},"
                       "\"new\":{\"url\":\"http://127.0.0.1:3002/mcp\",\"transport\":\"http\"}}}",
                       &cfg, err) == 0);
    CHECK(cfg.nservers == 2 && cfg.servers[0].legacy_sse && !cfg.servers[1].legacy_sse);
    config_free(&cfg);
    CHECK(parse_config("{\"servers\":{\"old\":{\"url\":\"http://127.0.0.1:3001/sse\",\"transport\":\"websocket\"}}}",
                       &cfg, err) != 0);
    CHECK(strstr(err, "transport") != NULL);
    config_free(&cfg);
    CHECK(parse_config("{\"servers\":{\"old\":{\"url\":\"https://127.0.0.1:3001/sse\",\"transport\":\"sse\"}}}",
                       &cfg, err) != 0);
    CHECK(strstr(err, "http://") != NULL);
    config_free(&cfg);
    CHECK(parse_config("{\"servers\":{\"old\":{\"command\":[\"true\"],\"transport\":\"sse\"}}}", &cfg, err) != 0);
    config_free(&cfg);
}

int main(void)
{
    test_endpoint();
    test_config();
    return check_report();
}
