/* The requestState key several wardens share (approval_elicit.c): the
 * operator's key makes a state of one warden good on another; without one,
 * the key shared in a real redis-server started here (SET NX, read by each)
 * does, and until it is read no state is made or checked (fail closed); a
 * Redis that lost the key gets the wardens' one back; a key replaced in
 * Redis is adopted, and states made before are forged; Redis unreachable
 * from the start: still no key, and the log is told. Fails (never skips)
 * when redis-server is missing. Waiting is bounded by a safety deadline,
 * never asserted on. */
#include "../../src/approval_elicit.c"

#include <signal.h>
#include <stdio.h>
#include <time.h>
#include "check.h"
#include "test_redis.h"

static struct event_base *base;

static double wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void spin(void)
{
    struct timeval tick = {0, 10000};
    event_base_loopexit(base, &tick);
    event_base_dispatch(base);
}

static size_t key_len(struct elicit_sessions *s)
{
    pthread_mutex_lock(&s->lock);
    size_t n = s->mac_len;
    pthread_mutex_unlock(&s->lock);
    return n;
}

/* Runs the loop until both know a key (30 s: a hang, not a slow machine). */
static bool known(struct elicit_sessions *a, struct elicit_sessions *b)
{
    double deadline = wall() + 30;
    while ((!key_len(a) || !key_len(b)) && wall() < deadline)
        spin();
    return key_len(a) && key_len(b);
}

static const char *apr = "apr_abcdefghijklmnopqrstuvwxyz";

static void digest_of(const char *principal, unsigned char d[SHA256_BYTES])
{
    cJSON *args = cJSON_Parse("{\"path\":\"/etc\"}");
    CHECK(elicit_call_digest(principal, "registry", "delete", args, d) == 0);
    cJSON_Delete(args);
}

static enum elicit_state_check check_on(struct elicit_sessions *s, const char *st, const unsigned char d[SHA256_BYTES])
{
    char id[APPROVAL_ID_LEN + 1];
    return elicit_state_verify(s, st, strlen(st), d, 1000, id);
}

static void operator_key(void)
{
    unsigned char key[ELICIT_KEY_MIN], d[SHA256_BYTES];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 7 + 1);
    digest_of("alice", d);
    struct elicit_sessions *a = elicit_sessions_new(1), *b = elicit_sessions_new(1), *c = elicit_sessions_new(1);
    CHECK(a && b && c);
    char st[ELICIT_STATE_MAX];
    CHECK(elicit_state_sign(a, apr, 2000, d, st) == 0);
    CHECK(check_on(b, st, d) == ELICIT_STATE_FORGED); /* each process's own key */
    elicit_state_key_set(a, key, sizeof key);
    elicit_state_key_set(b, key, sizeof key);
    elicit_state_key_set(c, key, sizeof key - 1); /* too short: ignored, c keeps its own */
    CHECK(elicit_state_sign(a, apr, 2000, d, st) == 0);
    CHECK(check_on(a, st, d) == ELICIT_STATE_VALID);
    CHECK(check_on(b, st, d) == ELICIT_STATE_VALID);
    CHECK(check_on(c, st, d) == ELICIT_STATE_FORGED);
    elicit_sessions_free(a);
    elicit_sessions_free(b);
    elicit_sessions_free(c);
}

struct got {
    bool done;
    char text[200];
};

static void on_reply(void *arg, const redisReply *r, const char *error)
{
    struct got *g = arg;
    g->done = true;
    snprintf(g->text, sizeof g->text, "%s", !error && r && r->type == REDIS_REPLY_STRING ? r->str : "");
}

/* A command on st, run to its reply. */
static void command(struct state *st, struct got *g, int argc, const char **argv)
{
    size_t lens[4];
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    *g = (struct got){0};
    CHECK(state_command(st, on_reply, g, argc, argv, lens) != NULL);
    double deadline = wall() + 30;
    while (!g->done && wall() < deadline)
        spin();
    CHECK(g->done);
}

/* The next read of the shared key, now, run to its reply. */
static void read_again(struct elicit_sessions *s)
{
    CHECK(s->share->req == NULL);
    event_active(s->share->timer, EV_TIMEOUT, 0);
    double deadline = wall() + 30;
    spin();
    while (s->share->req && wall() < deadline)
        spin();
    CHECK(s->share->req == NULL);
}

static void shared(struct state *sa, struct state *sb)
{
    unsigned char d[SHA256_BYTES], other[SHA256_BYTES];
    digest_of("alice", d);
    digest_of("mallory", other);
    struct elicit_sessions *a = elicit_sessions_new(1), *b = elicit_sessions_new(1);
    CHECK(a && b);
    CHECK(elicit_state_key_share(a, sa, base) == 0);
    CHECK(elicit_state_key_share(a, sa, base) == -1); /* once */
    CHECK(elicit_state_key_share(b, sb, base) == 0);
    /* Not read yet: nothing is made, a state of warden's form is not checked. */
    char st[ELICIT_STATE_MAX] = "untouched";
    CHECK(elicit_state_sign(a, apr, 2000, d, st) == -1);
    CHECK_STR(st, "untouched");
    CHECK(check_on(a, "wd1.apr_abcdefghijklmnopqrstuvwxyz.2000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", d) ==
          ELICIT_STATE_NO_KEY);
    CHECK(known(a, b));
    CHECK(key_len(a) == ELICIT_KEY_MIN && key_len(b) == ELICIT_KEY_MIN);
    CHECK(memcmp(a->mac_key, b->mac_key, ELICIT_KEY_MIN) == 0);
    CHECK(elicit_state_sign(a, apr, 2000, d, st) == 0);
    CHECK(check_on(b, st, d) == ELICIT_STATE_VALID);
    CHECK(check_on(b, st, other) == ELICIT_STATE_FORGED);

    /* Redis lost it (restarted empty): the next read writes the wardens' key back. */
    struct got g;
    const char *del[] = {"DEL", "t:apr:statekey"};
    command(sa, &g, 2, del);
    read_again(b);
    const char *get[] = {"GET", "t:apr:statekey"};
    command(sa, &g, 2, get);
    CHECK(strlen(g.text) == 2 * ELICIT_KEY_MIN);
    unsigned char in_redis[ELICIT_KEY_MIN];
    for (size_t i = 0; i < ELICIT_KEY_MIN; i++) {
        char pair[3] = {g.text[2 * i], g.text[2 * i + 1], '\0'};
        in_redis[i] = (unsigned char)strtoul(pair, NULL, 16);
    }
    CHECK(memcmp(in_redis, a->mac_key, ELICIT_KEY_MIN) == 0);
    read_again(a);
    CHECK(check_on(a, st, d) == ELICIT_STATE_VALID);

    /* Junk put there: the key read before stays. */
    const char *junk[] = {"SET", "t:apr:statekey", "not-a-key"};
    command(sa, &g, 3, junk);
    read_again(a);
    CHECK(check_on(a, st, d) == ELICIT_STATE_VALID);

    /* Replaced by an operator (a new 48-byte key): adopted by each on its next
     * read; a state made under the old key is forged from then on. */
    char fresh[2 * 48 + 1];
    for (size_t i = 0; i < 2 * 48; i++)
        fresh[i] = "0123456789abcdef"[(i * 5 + 3) % 16];
    fresh[2 * 48] = '\0';
    const char *set[] = {"SET", "t:apr:statekey", fresh};
    command(sa, &g, 3, set);
    read_again(a);
    read_again(b);
    CHECK(key_len(a) == 48 && key_len(b) == 48);
    CHECK(check_on(a, st, d) == ELICIT_STATE_FORGED);
    char st2[ELICIT_STATE_MAX];
    CHECK(elicit_state_sign(b, apr, 2000, d, st2) == 0);
    CHECK(check_on(a, st2, d) == ELICIT_STATE_VALID);
    elicit_sessions_free(a);
    elicit_sessions_free(b);
}

/* Nothing listens: no key, ever; the log is told (warned) after a few reads. */
static void unreachable(struct state_health *h)
{
    char err[256];
    struct state_conf conf = {.redis = "redis://127.0.0.1:1/0", .key_prefix = "t:", .timeout_ms = 200, .instances = 1};
    struct state *st = state_new(base, &conf, h, err, sizeof err);
    struct elicit_sessions *s = elicit_sessions_new(1);
    CHECK(st && s);
    CHECK(elicit_state_key_share(s, st, base) == 0);
    double deadline = wall() + 30;
    while (!s->share->warned && wall() < deadline)
        spin();
    CHECK(s->share->warned);
    CHECK(key_len(s) == 0);
    unsigned char d[SHA256_BYTES];
    digest_of("alice", d);
    char out[ELICIT_STATE_MAX];
    CHECK(elicit_state_sign(s, apr, 2000, d, out) == -1);
    elicit_sessions_free(s); /* before its state */
    state_free(st);
}

int main(void)
{
    if (!test_redis_available())
        return 1;
    operator_key();
    struct test_redis redis = {.port = test_redis_free_port()};
    CHECK(redis.port > 0 && test_redis_start(&redis));
    base = event_base_new();
    struct state_health *h = state_health_new();
    char url[64], err[256];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", redis.port);
    struct state_conf conf = {.redis = url, .key_prefix = "t:", .timeout_ms = 5000, .instances = 1};
    struct state *a = state_new(base, &conf, h, err, sizeof err);
    struct state *b = state_new(base, &conf, h, err, sizeof err);
    CHECK(a && b);
    if (a && b)
        shared(a, b);
    unreachable(h);
    state_free(a);
    state_free(b);
    state_health_free(h);
    event_base_free(base);
    test_redis_stop(&redis);
    return check_report();
}
