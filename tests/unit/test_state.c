/* The shared state store against a real redis-server started here on a free
 * loopback port: GET/SET with TTL, the compare-and-delete that consumes a
 * grant once, PUBLISH/SUBSCRIBE, the rate-limit script (all checks or none,
 * bounded, NOSCRIPT fallback), cancelled requests, and Redis going away and
 * coming back. Fails (never skips) when redis-server is missing. Waiting is
 * bounded by a safety deadline, never asserted on. */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../src/state.c"
#include "check.h"
#include "test_redis.h"
#include "state_rate.h"

static struct event_base *base;
static struct test_redis redis;

/* Runs the loop until *flag or a safety deadline (30 s: a hang, not a slow machine). */
static bool run_until(const bool *flag)
{
    double deadline = now_seconds() + 30;
    while (!*flag && now_seconds() < deadline) {
        struct timeval tick = {0, 10000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
    return *flag;
}

static bool ready_flag(struct state *st)
{
    static bool f;
    double deadline = now_seconds() + 30;
    while (!state_ready(st) && now_seconds() < deadline) {
        struct timeval tick = {0, 10000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
    f = state_ready(st);
    return f;
}

/* One reply, copied for the checks. */
struct got {
    bool done;
    int type;
    long long integer;
    char str[128];
    size_t elements;
    long long ints[3];
    char error[64];
};

static void on_got(void *arg, const redisReply *r, const char *error)
{
    struct got *g = arg;
    g->done = true;
    if (error) {
        snprintf(g->error, sizeof g->error, "%s", error);
        return;
    }
    g->type = r->type;
    g->integer = r->integer;
    if (r->str)
        snprintf(g->str, sizeof g->str, "%.*s", (int)r->len, r->str);
    g->elements = r->elements;
    for (size_t i = 0; i < r->elements && i < 3; i++)
        g->ints[i] = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : -1;
}

static void test_sha1(void)
{
    char hex[41];
    sha1_hex("abc", 3, hex);
    CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha1_hex(two, strlen(two), hex);
    CHECK_STR(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
    sha1_hex("", 0, hex);
    CHECK_STR(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

static void test_kv(struct state *st)
{
    struct got g = {0};
    CHECK(state_set(st, "t:k", "v1", 2, 60000, false, on_got, &g) != NULL);
    CHECK(run_until(&g.done) && g.type == REDIS_REPLY_STATUS);
    g = (struct got){0};
    CHECK(state_set(st, "t:k", "v2", 2, 60000, true, on_got, &g) != NULL);
    CHECK(run_until(&g.done) && g.type == REDIS_REPLY_NIL);
    g = (struct got){0};
    CHECK(state_get(st, "t:k", on_got, &g) != NULL);
    CHECK(run_until(&g.done));
    CHECK_STR(g.str, "v1");
    g = (struct got){0};
    const char *argv[] = {"PTTL", "t:k"};
    size_t argvlen[] = {4, 3};
    CHECK(state_command(st, on_got, &g, 2, argv, argvlen) != NULL);
    CHECK(run_until(&g.done) && g.integer > 0 && g.integer <= 60000);
    /* A grant is consumed once: the second take finds nothing. */
    g = (struct got){0};
    CHECK(state_take(st, "t:k", "other", 5, on_got, &g) != NULL);
    CHECK(run_until(&g.done) && g.type == REDIS_REPLY_INTEGER && g.integer == 0);
    g = (struct got){0};
    CHECK(state_take(st, "t:k", "v1", 2, on_got, &g) != NULL);
    CHECK(run_until(&g.done) && g.integer == 1);
    g = (struct got){0};
    CHECK(state_take(st, "t:k", "v1", 2, on_got, &g) != NULL);
    CHECK(run_until(&g.done) && g.integer == 0);
}

static void test_cancel(struct state *st)
{
    struct got cancelled = {0}, after = {0};
    struct state_req *r = state_get(st, "t:none", on_got, &cancelled);
    CHECK(r != NULL);
    state_cancel(r);
    /* Replies come in order: once the next one is in, the first was dropped. */
    CHECK(state_get(st, "t:none", on_got, &after) != NULL);
    CHECK(run_until(&after.done));
    CHECK(!cancelled.done);
}

struct heard {
    int resubscribed;
    int messages;
    char last[64];
};

static void on_heard(void *arg, const char *msg, size_t len)
{
    struct heard *h = arg;
    if (!msg) {
        h->resubscribed++;
        return;
    }
    h->messages++;
    snprintf(h->last, sizeof h->last, "%.*s", (int)len, msg);
}

static void test_pubsub(struct state *st, struct state *other)
{
    /* Two readers of one channel (approvals held and expiring on worker 0):
     * hiredis keeps one callback per channel, and both must hear. */
    static struct heard h, h2; /* the subscriptions outlive this function */
    CHECK(state_subscribe(st, "t:decided", on_heard, &h) == 0);
    CHECK(state_subscribe(st, "t:decided", on_heard, &h2) == 0);
    /* Subscribed once the subscriber link announces itself. */
    bool subscribed = false;
    for (int i = 0; i < 3000 && !subscribed; i++) {
        struct timeval tick = {0, 10000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
        subscribed = h.resubscribed > 0;
    }
    CHECK(subscribed);
    /* The SUBSCRIBE went out with the announcement; a PUBLISH answers with
     * its receivers: published again until it has one. */
    long long receivers = 0;
    for (int i = 0; i < 100 && receivers == 0; i++) {
        struct got g = {0};
        CHECK(state_publish(other, "t:decided", "grant-42", 8, on_got, &g) != NULL);
        run_until(&g.done);
        receivers = g.integer;
    }
    CHECK(receivers == 1);
    bool heard = false;
    for (int i = 0; i < 3000 && !heard; i++) {
        struct timeval tick = {0, 10000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
        heard = h.messages > 0 && h2.messages > 0;
    }
    CHECK(heard);
    CHECK_STR(h.last, "grant-42");
    CHECK_STR(h2.last, "grant-42");
    CHECK(h.messages == 1 && h2.messages == 1);
}

struct admitted {
    bool done;
    size_t n, refused;
    double retry;
    enum state_rate_outcome out;
};

static void on_admitted(void *arg, const redisReply *r, const char *error)
{
    struct admitted *a = arg;
    a->done = true;
    a->out = state_rate_outcome(r, error, a->n, &a->refused, &a->retry);
}

static enum state_rate_outcome admit_now(struct state *st, const struct rate_check *c, size_t n, size_t *refused,
                                         double *retry)
{
    struct admitted a = {.n = n};
    if (!state_rate_admit(st, c, n, on_admitted, &a) || !run_until(&a.done))
        return STATE_RATE_UNAVAILABLE;
    *refused = a.refused;
    *retry = a.retry;
    return a.out;
}

static long long zcard(struct state *st, const char *key)
{
    struct got g = {0};
    const char *argv[] = {"ZCARD", key};
    size_t argvlen[] = {5, strlen(key)};
    if (!state_command(st, on_got, &g, 2, argv, argvlen) || !run_until(&g.done))
        return -1;
    return g.integer;
}

static void test_rate(struct state *st)
{
    struct rate_check a = {"a", 1, 3, 60}, both[2] = {{"b", 1, 5, 60}, {"c", 1, 1, 60}};
    size_t refused = 99;
    double retry = 0;
    for (int i = 0; i < 3; i++)
        CHECK(admit_now(st, &a, 1, &refused, &retry) == STATE_RATE_ADMITTED);
    CHECK(admit_now(st, &a, 1, &refused, &retry) == STATE_RATE_REFUSED);
    CHECK(refused == 0 && retry > 0 && retry <= 60);
    CHECK(zcard(st, "t:rl:a") == 3);
    /* All or none: the second check is full, the first is not counted. */
    CHECK(admit_now(st, both, 2, &refused, &retry) == STATE_RATE_ADMITTED);
    CHECK(admit_now(st, both, 2, &refused, &retry) == STATE_RATE_REFUSED);
    CHECK(refused == 1);
    CHECK(zcard(st, "t:rl:b") == 1);
    /* A lowered max trims the key to it. */
    struct rate_check lower = {"a", 1, 2, 60};
    CHECK(admit_now(st, &lower, 1, &refused, &retry) == STATE_RATE_REFUSED);
    CHECK(zcard(st, "t:rl:a") == 2);
    /* Redis forgot the script: EVAL once, then EVALSHA again. */
    struct got g = {0};
    const char *argv[] = {"SCRIPT", "FLUSH"};
    size_t argvlen[] = {6, 5};
    CHECK(state_command(st, on_got, &g, 2, argv, argvlen) != NULL && run_until(&g.done));
    struct rate_check d = {"d", 1, 1, 60};
    CHECK(admit_now(st, &d, 1, &refused, &retry) == STATE_RATE_ADMITTED);
    CHECK(admit_now(st, &d, 1, &refused, &retry) == STATE_RATE_REFUSED);
    g = (struct got){0};
    /* scripts[0] is state_take's (test_kv), scripts[1] the rate limits' */
    CHECK(st->nscripts == 2);
    const char *ex[] = {"SCRIPT", "EXISTS", st->scripts[1].sha};
    size_t exlen[] = {6, 6, 40};
    CHECK(state_command(st, on_got, &g, 3, ex, exlen) != NULL && run_until(&g.done));
    CHECK(g.elements == 1 && g.ints[0] == 1);
}

static void test_outcome_and_local(void)
{
    size_t refused = 9;
    double retry = 0;
    CHECK(state_rate_outcome(NULL, "timeout", 1, &refused, &retry) == STATE_RATE_UNAVAILABLE);
    redisReply e0 = {.type = REDIS_REPLY_INTEGER, .integer = 0}, e1 = {.type = REDIS_REPLY_INTEGER, .integer = 2},
               e2 = {.type = REDIS_REPLY_INTEGER, .integer = 1500};
    redisReply *els[] = {&e0, &e1, &e2};
    redisReply arr = {.type = REDIS_REPLY_ARRAY, .elements = 3, .element = els};
    CHECK(state_rate_outcome(&arr, NULL, 2, &refused, &retry) == STATE_RATE_REFUSED);
    CHECK(refused == 1 && retry == 1.5);
    /* a check index the call does not have is a broken reply */
    CHECK(state_rate_outcome(&arr, NULL, 1, &refused, &retry) == STATE_RATE_UNAVAILABLE);
    struct rate_store *rs = rate_store_new();
    CHECK(rs != NULL);
    if (!rs)
        return;
    struct rate_check c = {"k", 1, 10, 60};
    int admitted = 0;
    for (int i = 0; i < 10; i++)
        admitted += state_rate_admit_local(rs, "1.2.3.4", 7, &c, 1, 3, 100, &refused, &retry);
    CHECK(admitted == 3); /* 10 / 3 instances */
    rate_store_free(rs);
}

static void test_down_and_back(struct state *st)
{
    test_redis_stop(&redis);
    for (int i = 0; i < 3000 && state_ready(st); i++) {
        struct timeval tick = {0, 10000};
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
    CHECK(!state_ready(st));
    struct got g = {0};
    CHECK(state_get(st, "t:k", on_got, &g) == NULL); /* fails at once, no wait */
    CHECK(test_redis_start(&redis));
    CHECK(ready_flag(st));
    CHECK(state_get(st, "t:k", on_got, &g) != NULL && run_until(&g.done));
    CHECK(g.type == REDIS_REPLY_NIL);
}

int main(void)
{
    test_sha1();
    test_outcome_and_local();
    if (!test_redis_available())
        return 1;
    redis.port = test_redis_free_port();
    CHECK(redis.port > 0 && test_redis_start(&redis));
    base = event_base_new();
    struct state_health *h = state_health_new();
    char url[64], err[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis.port);
    struct state_conf conf = {.redis = url, .key_prefix = "t:", .timeout_ms = 5000, .instances = 1};
    struct state *st = state_new(base, &conf, h, err, sizeof err);
    struct state *other = state_new(base, &conf, h, err, sizeof err);
    CHECK(st && other);
    if (st && other && ready_flag(st) && ready_flag(other)) {
        CHECK(state_health_up(h));
        test_kv(st);
        test_cancel(st);
        test_rate(st);
        test_pubsub(st, other);
        test_down_and_back(st);
        struct evbuffer *out = evbuffer_new();
        state_health_render(h, out);
        size_t len = evbuffer_get_length(out);
        char *text = (char *)evbuffer_pullup(out, -1);
        CHECK(len > 0 && memmem(text, len, "warden_state_errors_total{kind=\"timeout\"}", 41) != NULL);
        evbuffer_free(out);
    } else {
        CHECK(!"redis-server did not come up");
    }
    state_free(st);
    state_free(other);
    state_health_free(h);
    event_base_free(base);
    test_redis_stop(&redis);
    return check_report();
}
