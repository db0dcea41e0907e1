/* Unit tests of admin.c: real HTTP requests over loopback to the admin
 * listener, whose event loop runs on the main thread while a client thread asks. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/thread.h>
#include "admin.h"
#include "check.h"
#include "metrics.h"

/* One answer: status, headers and body as received. */
struct answer {
    int status;
    char head[2048];
    char body[65536];
};

/* Sends one raw request on a new connection and reads the answer to EOF; returns -1 on a socket failure. */
static int fetch(int port, const char *request, struct answer *ans)
{
    memset(ans, 0, sizeof *ans);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 10};   /* a safety net against a hang, not a timing check */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static char buf[sizeof ans->head + sizeof ans->body];
    size_t len = 0;
    ssize_t n;
    if (connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0 || write(fd, request, strlen(request)) != (ssize_t)strlen(request)) {
        close(fd);
        return -1;
    }
    while (len < sizeof buf - 1 && (n = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
        len += (size_t)n;
    close(fd);
    buf[len] = '\0';
    char *end = strstr(buf, "\r\n\r\n");
    if (!end || sscanf(buf, "HTTP/1.%*d %d", &ans->status) != 1)
        return -1;
    snprintf(ans->head, sizeof ans->head, "%.*s", (int)(end - buf), buf);
    snprintf(ans->body, sizeof ans->body, "%s", end + 4);
    return 0;
}

struct client_run {
    struct event_base *base;
    int port;
};

static void describe(void *arg, struct evbuffer *out)
{
    evbuffer_add_printf(out, "{\"servers\":[{\"name\":\"%s\",\"generation\":3}]}", (const char *)arg);
}

/* The client thread: every check against the running listener, then stops the loop. */
static void *client_main(void *arg)
{
    struct client_run *run = arg;
    static struct answer a;
    CHECK(fetch(run->port, "GET /metrics HTTP/1.0\r\n\r\n", &a) == 0);
    CHECK(a.status == 200);
    CHECK(strstr(a.head, "Content-Type: text/plain; version=0.0.4") != NULL);
    CHECK(strstr(a.body, "# TYPE warden_tool_calls_total counter\n") != NULL);
    CHECK(strstr(a.body, "\nwarden_tool_calls_total{server=\"fs\",tool=\"rm\",decision=\"deny\"} 1\n") != NULL);

    CHECK(fetch(run->port, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &a) == 0);
    CHECK(a.status == 200);
    CHECK(strstr(a.head, "Content-Type: application/json") != NULL);
    CHECK_STR(a.body, "{\"status\":\"ok\"}");

    CHECK(fetch(run->port, "GET /policies?x=1 HTTP/1.0\r\n\r\n", &a) == 0);
    CHECK(a.status == 200);
    CHECK_STR(a.body, "{\"servers\":[{\"name\":\"fs\",\"generation\":3}]}");

    CHECK(fetch(run->port, "GET /nope HTTP/1.0\r\n\r\n", &a) == 0);
    CHECK(a.status == 404);
    cJSON *j = cJSON_Parse(a.body);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    cJSON_Delete(j);

    CHECK(fetch(run->port, "POST /metrics HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}", &a) == 0);
    CHECK(a.status == 405);
    CHECK(strstr(a.head, "Allow: GET") != NULL);
    CHECK(fetch(run->port, "DELETE /healthz HTTP/1.0\r\n\r\n", &a) == 0);
    CHECK(a.status == 405);
    j = cJSON_Parse(a.body);
    CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(j, "error")));
    cJSON_Delete(j);
    event_base_loopexit(run->base, NULL);
    return NULL;
}

static void test_serves(void)
{
    struct event_base *base = event_base_new();
    struct metrics *m = metrics_new();
    metrics_call(m, "fs", "rm", "deny");
    char err[256];
    struct admin *ad = admin_start(base, "127.0.0.1:0", m, describe, "fs", err, sizeof err);
    CHECK(ad != NULL);
    if (!ad) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    struct client_run run = {.base = base, .port = admin_port(ad)};
    CHECK(run.port > 0);

    /* The port is taken now: a second listener there must fail. */
    char taken[64];
    snprintf(taken, sizeof taken, "127.0.0.1:%d", run.port);
    CHECK(admin_start(base, taken, m, describe, "fs", err, sizeof err) == NULL);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, client_main, &run) == 0);
    CHECK(event_base_dispatch(base) == 0);
    pthread_join(t, NULL);
    admin_free(ad);
    metrics_free(m);
    event_base_free(base);
}

static void test_bad_listen(void)
{
    struct event_base *base = event_base_new();
    struct metrics *m = metrics_new();
    char err[256];
    static const char *const bad[] = {"127.0.0.1", "127.0.0.1:", ":8080", "127.0.0.1:70000", "127.0.0.1:80x",
                                      "127.0.0.1:-1", "::1:8080", "[::1:8080"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        CHECK(admin_start(base, bad[i], m, describe, NULL, err, sizeof err) == NULL);
        CHECK(strstr(err, "HOST:PORT") != NULL);
    }
    CHECK(admin_start(base, "127.0.0.1:0", m, NULL, NULL, err, sizeof err) == NULL);
    /* [::1] binds exactly when the host has IPv6 on loopback. */
    int probe = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    bool has_v6 = probe >= 0 && bind(probe, (struct sockaddr *)&sin6, sizeof sin6) == 0;
    if (probe >= 0)
        close(probe);
    struct admin *v6 = admin_start(base, "[::1]:0", m, describe, NULL, err, sizeof err);
    CHECK((v6 != NULL) == has_v6);
    CHECK(!v6 || admin_port(v6) > 0);
    admin_free(v6);
    metrics_free(m);
    event_base_free(base);
}

int main(void)
{
    if (evthread_use_pthreads() != 0) {
        fprintf(stderr, "evthread_use_pthreads failed\n");
        return 1;
    }
    test_serves();
    test_bad_listen();
    return check_report();
}
