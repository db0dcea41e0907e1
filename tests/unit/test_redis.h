/* A real redis-server for the unit tests that need one (test_state.c,
 * test_approval_redis.c, test_elicit_statekey.c): started on a free
 * loopback port, nothing saved. */
#ifndef WARDEN_TEST_REDIS_H
#define WARDEN_TEST_REDIS_H
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct test_redis {
    int port;
    pid_t pid;
};

/* False, saying why, when redis-server is not installed; ignores SIGPIPE
 * (a Redis that is stopped on purpose must not end the test). */
static inline bool test_redis_available(void)
{
    if (system("command -v redis-server >/dev/null 2>&1") != 0) {
        fprintf(stderr, "redis-server is not installed: apt-get install redis-server (tests/run installs it)\n");
        return false;
    }
    signal(SIGPIPE, SIG_IGN);
    return true;
}

/* A loopback port free a moment ago, or -1. */
static inline int test_redis_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0;
    close(fd);
    return ok ? ntohs(a.sin_port) : -1;
}

/* Starts redis-server on r->port; false when it cannot be forked. */
static inline bool test_redis_start(struct test_redis *r)
{
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    r->pid = fork();
    if (r->pid == 0) {
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly",
               "no", "--dir", "/tmp", (char *)NULL);
        _exit(127);
    }
    return r->pid > 0;
}

static inline void test_redis_stop(struct test_redis *r)
{
    int status;
    kill(r->pid, SIGTERM);
    waitpid(r->pid, &status, 0);
}
#endif
